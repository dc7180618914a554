"""Fixtures for aspida's integration tests.

The tests run against a live stack (PostgreSQL, Redis, aspida workers, lighttpd) that
tests/stack/stack.sh started; `./quickstart test` does that and names the stack's env file in
ASPIDA_TEST_ENV. Without a stack the tests fail rather than skip: a missing service is a failure.

What a test gets:
  env       the env file as a dict (ASPIDA_URL, ASPIDA_PSQL, ASPIDA_CTL, ASPIDA_LOG, ...)
  http      http(method, path, headers=None, body=None, source='127.0.0.1') -> Response; `source`
            binds the client socket to that loopback address, so 127.0.0.2, 127.0.0.3, ... are
            distinct clients to aspida's limits and blocks
  psql      psql(sql) -> stdout, as the owner role in the app database
  ctl       ctl(*args) -> CompletedProcess of `aspidactl -f CONF args`
  redis     redis(*args) -> stdout of redis-cli against the stack's Redis
  stack     stack.pg_stop(), stack.pg_freeze(), stack.redis_stop(), stack.workers_restart(), ...:
            any function of stack.sh, run in a bash that sourced it; a test that used it gets the
            stack healed (everything thawed and started) afterwards
  aspida_log  aspida_log.mark() then aspida_log.since() -> the log lines written in between
The module-level functions (http, read_env_file, SECURITY_HEADERS) can be imported by tests too.
"""

import http.client as httpclient
import json
import os
import shlex
import subprocess
import urllib.parse

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STACK_SH = os.path.join(REPO, "tests", "stack", "stack.sh")

# API.md: on every response, aspida's own and the web server's.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-XSS-Protection": "0",
}


def read_env_file(path):
    """Reads KEY=VALUE lines (values shell-quoted where needed) into a dict."""
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = shlex.split(line)[0].partition("=")
            if sep:
                env[key] = value
    return env


_stack_env = None


def stack_env():
    """The env file named by ASPIDA_TEST_ENV, read once."""
    global _stack_env
    if _stack_env is None:
        path = os.environ.get("ASPIDA_TEST_ENV")
        if not path or not os.path.isfile(path):
            pytest.fail(
                "ASPIDA_TEST_ENV does not name a stack's env file: run ./quickstart test, or start a "
                "stack (tests/stack/stack.sh) and set ASPIDA_TEST_ENV=STACK/env",
                pytrace=False,
            )
        _stack_env = read_env_file(path)
    return _stack_env


class Response:
    """One HTTP response, read whole."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage: case-insensitive, get_all() for repeats
        self.body = body

    def header(self, name):
        return self.headers.get(name)

    def header_all(self, name):
        return self.headers.get_all(name) or []

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.body[:200]!r}>"


def http(method, path, headers=None, body=None, source="127.0.0.1", timeout=30):
    """Sends one request to the stack through lighttpd, from the loopback address `source`.

    headers: a dict, or a list of (name, value) pairs when a header must repeat. body: bytes or
    str as they are; anything else is sent as JSON with Content-Type application/json unless the
    headers set one. A new connection each time, so requests never share state by accident.
    """
    url = urllib.parse.urlsplit(stack_env()["ASPIDA_URL"])
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {name.lower() for name, _ in pairs}
    if body is not None and not isinstance(body, (bytes, bytearray, str)):
        body = json.dumps(body).encode("utf-8")
        if "content-type" not in names:
            pairs.append(("Content-Type", "application/json"))
    elif isinstance(body, str):
        body = body.encode("utf-8")
    if body is not None and "content-length" not in names:
        pairs.append(("Content-Length", str(len(body))))
    conn = httpclient.HTTPConnection(url.hostname, url.port, timeout=timeout,
                                     source_address=(source, 0))
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in pairs:
            conn.putheader(name, value)
        conn.endheaders(body)
        r = conn.getresponse()
        return Response(r.status, r.reason, r.headers, r.read())
    finally:
        conn.close()


def _command(name):
    return shlex.split(stack_env()[name])


class Stack:
    """Calls the functions of tests/stack/stack.sh on the running stack."""

    def __init__(self, env):
        self.env = env
        self.used = False

    def call(self, function, *args, timeout=300):
        self.used = True
        environ = dict(os.environ, ASPIDA_STACK=self.env["ASPIDA_STACK"])
        # `bash stack.sh FUNCTION ARGS` runs the function once; sourcing it under `bash -c` with
        # $0 set to the file would trip its run-as-a-script branch and run it twice.
        proc = subprocess.run(
            ["bash", STACK_SH, function, *map(str, args)],
            cwd=REPO, env=environ, capture_output=True, text=True, timeout=timeout,
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"stack.sh {function} {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                f"{proc.stdout}{proc.stderr}")
        return proc.stdout

    def __getattr__(self, function):
        if function.startswith("_"):
            raise AttributeError(function)
        return lambda *args, **kw: self.call(function, *args, **kw)


class LogWatch:
    """Reads what aspida appended to its log_file after a mark."""

    def __init__(self, path):
        self.path = path
        self.offset = 0

    def mark(self):
        self.offset = os.path.getsize(self.path) if os.path.exists(self.path) else 0

    def since(self):
        if not os.path.exists(self.path):
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            return f.read().decode("utf-8", "replace").splitlines()


@pytest.fixture(scope="session")
def env():
    return stack_env()


@pytest.fixture(name="http")
def http_fixture(env):
    return http


@pytest.fixture
def psql(env):
    def run(sql):
        proc = subprocess.run(_command("ASPIDA_PSQL") + [sql], capture_output=True, text=True,
                              timeout=60)
        if proc.returncode != 0:
            raise AssertionError(f"psql {sql!r} failed: {proc.stderr}")
        return proc.stdout.strip()
    return run


@pytest.fixture
def ctl(env):
    def run(*args, check=False, input=None):
        return subprocess.run(_command("ASPIDA_CTL") + list(map(str, args)), capture_output=True,
                              text=True, timeout=120, check=check, input=input)
    return run


@pytest.fixture
def redis(env):
    def run(*args):
        proc = subprocess.run(_command("ASPIDA_REDIS_CLI") + list(map(str, args)),
                              capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise AssertionError(f"redis-cli {args} failed: {proc.stderr}")
        return proc.stdout.strip()
    return run


@pytest.fixture
def stack(env):
    s = Stack(env)
    yield s
    if s.used:
        s.call("stack_heal")


@pytest.fixture
def aspida_log(env):
    watch = LogWatch(env["ASPIDA_LOG"])
    watch.mark()
    return watch
