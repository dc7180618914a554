"""Helpers shared by the integration tests (not a test module itself).

Checks of API.md's response rules (error shape, security headers, no internals), the stack's
settings (stack.vars, aspida.conf), the worker processes of this stack, commands run as the
stack's run user, polling with a deadline, and a small concurrent load generator.
"""

import http.client as httpclient
import json
import os
import re
import shlex
import threading
import time
import urllib.parse

from conftest import SECURITY_HEADERS, http, stack_env

REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
CANONICAL_PRICE = re.compile(r"^[0-9]+(\.[0-9]*[1-9])?$")
RFC3339_Z = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
JSON_TYPE = "application/json; charset=utf-8"
CSV_TYPE = "text/csv; charset=utf-8"

# Words that would betray internals in an error message (API.md: messages are our own sentences;
# no SQL, no stack, no library text, no paths).
INTERNAL_WORDS = (
    "postgres", "sql", "select ", "insert ", "relation", "syntax error", "libpq", "pq_",
    "hiredis", "redis", "json-c", "json_tokener", "errno", "fcgi", "fastcgi", "segmentation",
    "traceback", "stack trace", "error:", "/tmp/", "/etc/", "/usr/", "/var/", "/home/", "/root/",
    ".c:", ".conf",
)


def assert_no_internals(text):
    low = text.lower()
    for word in INTERNAL_WORDS:
        assert word not in low, f"internals ({word!r}) in {text!r}"


def assert_security_headers(r, content_type=JSON_TYPE):
    """API.md's headers on every response of aspida's, over plain http (so no HSTS)."""
    for name, value in SECURITY_HEADERS.items():
        assert r.header(name) == value, (name, r.header(name), r)
    vary = [v.strip().lower() for h in r.header_all("Vary") for v in h.split(",")]
    assert "origin" in vary, ("Vary", r.header_all("Vary"), r)
    rid = r.header_all("X-Request-Id")
    assert len(rid) == 1 and REQUEST_ID.match(rid[0]), ("X-Request-Id", rid, r)
    assert r.header("Strict-Transport-Security") is None, ("HSTS over plain http", r)
    if r.status == 204 and stack_env().get("ASPIDA_MODE") == "apache":
        # Apache's HTTP filter drops the Content-Type of every 204 (there is no content to type):
        # whatever aspida sent, none arrives.
        content_type = None
        assert r.header("Content-Type") is None, ("Content-Type on a 204", r.headers)
    if content_type is not None:
        assert r.header("Content-Type") == content_type, ("Content-Type", r.header("Content-Type"), r)


def assert_error(r, status, code=None):
    """One of aspida's errors: the status, the one error shape (nothing else in the body), a
    request id equal to X-Request-Id, the security headers and a message without internals.
    code: one code or a collection of acceptable codes. Returns the error object."""
    assert r.status == status, (status, r)
    assert_security_headers(r)
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"code", "message", "request_id"}, err
    if code is not None:
        codes = {code} if isinstance(code, str) else set(code)
        assert err["code"] in codes, (codes, err)
    assert re.match(r"^[a-z]+(_[a-z]+)*$", err["code"]), err
    assert isinstance(err["message"], str) and err["message"].strip(), err
    assert err["request_id"] == r.header("X-Request-Id"), (err, r.header("X-Request-Id"))
    assert REQUEST_ID.match(err["request_id"]), err
    assert_no_internals(err["message"])
    if status == 405:
        assert r.header("Allow"), ("405 without Allow", r)
    return err


def retry_after(r):
    """Retry-After as an integer of seconds (API.md), asserted present and >= 1."""
    value = r.header("Retry-After")
    assert value is not None and re.fullmatch(r"[0-9]+", value), ("Retry-After", value, r)
    assert int(value) >= 1, ("Retry-After", value)
    return int(value)


def wait_for(predicate, timeout, interval=0.05, what="condition"):
    """Polls predicate() until it returns something true, at most timeout seconds; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.1f}s")
        time.sleep(interval)


# --- the stack's settings -------------------------------------------------------------------------

def stack_dir():
    return stack_env()["ASPIDA_STACK"]


def stack_vars():
    """DIR/stack.vars (KEY=VALUE lines written with printf %q) as a dict."""
    out = {}
    with open(os.path.join(stack_dir(), "stack.vars"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            words = shlex.split(line)
            if words:
                key, _, value = words[0].partition("=")
                out[key] = value
    return out


def read_conf(path=None):
    """aspida.conf's top-level key = value lines as a dict of strings (blocks are skipped)."""
    out = {}
    depth = 0
    with open(path or stack_env()["ASPIDA_CONF"], encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            depth += line.count("{") - line.count("}")
            if depth == 0 and "=" in line and "{" not in line and "}" not in line:
                key, _, value = line.partition("=")
                out[key.strip()] = value.strip()
    return out


def conf_int(key, default):
    value = read_conf().get(key)
    return int(value) if value not in (None, "") else default


def conf_list(key):
    value = read_conf().get(key, "")
    return [v.strip() for v in value.split(",") if v.strip()]


def run_user():
    return stack_env()["ASPIDA_RUN_USER"]


def as_run_user_argv(program_name):
    """The argv prefix that runs a program of the stack's bin/ as the run user, with the stack's
    clean environment (sanitizer report paths included), exactly as ASPIDA_CTL runs aspidactl;
    returns (prefix, path of the program)."""
    words = shlex.split(stack_env()["ASPIDA_CTL"])
    for i, w in enumerate(words):
        if w.endswith("/aspidactl"):
            return words[:i], os.path.join(os.path.dirname(w), program_name)
    raise AssertionError(f"ASPIDA_CTL names no aspidactl: {words}")


def stack_env_vars():
    """The KEY=VALUE environment the stack gives aspida (from ASPIDA_CTL's env -i list)."""
    prefix, _ = as_run_user_argv("aspida")
    return [w for w in prefix if re.match(r"^[A-Z_]+=", w)]


# --- processes -------------------------------------------------------------------------------------

def _proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            data = f.read()
    except OSError:
        return None, None
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[1])  # state, ppid


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def pid_alive(pid):
    state, _ = _proc_state(pid)
    return state is not None and state != "Z"


def pidfile_pid(name):
    """The live pid in DIR/run/NAME.pid, or None."""
    try:
        with open(os.path.join(stack_dir(), "run", name + ".pid"), encoding="utf-8") as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def master_pid():
    """aspida's own master (mode master): the pid its pid file names, checked to be our binary."""
    pid = pidfile_pid("workers")
    worker = stack_vars()["STACK_WORKER"].encode()
    if pid is None or not _cmdline(pid) or _cmdline(pid)[0] != worker:
        return None
    return pid


def worker_pids():
    """The worker processes of this stack: live processes whose argv[0] is this stack's worker
    binary (so no other stack's, nor a short-lived `aspida -n`, which runs bin/aspida only when
    STACK_WORKER is something else), less aspida's own master in master mode."""
    v = stack_vars()
    worker = v["STACK_WORKER"].encode()
    master = master_pid() if v["STACK_MODE"] == "master" else None
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == master:
            continue
        argv = _cmdline(pid)
        if not argv or argv[0] != worker or "-n" in [a.decode("utf-8", "replace") for a in argv]:
            continue
        state, ppid = _proc_state(pid)
        if state is None or state == "Z":
            continue
        if master is not None and ppid != master:
            continue
        pids.append(pid)
    return sorted(pids)


def sanitizer_build():
    """True when the stack runs the AddressSanitizer build (quickstart's build-asan)."""
    with open(stack_vars()["STACK_WORKER"], "rb") as f:
        return b"__asan_init" in f.read()


def sanitizer_reports():
    """The report files in the stack's sanitizer directory (ASPIDA_SAN_DIR) as a set of (name,
    size, mtime): a report written to a file of a reused pid's name changes its entry too."""
    d = stack_env().get("ASPIDA_SAN_DIR") or os.path.join(stack_dir(), "san")
    out = set()
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return out
    for name in names:
        try:
            st = os.stat(os.path.join(d, name))
        except FileNotFoundError:
            continue
        out.add((name, st.st_size, st.st_mtime_ns))
    return out


def expected_workers():
    return int(stack_vars()["STACK_WORKERS"])


def wait_workers(timeout=15, exclude=()):
    """Waits until exactly STACK_WORKERS workers run (none of them in exclude); returns them.
    Under Apache, mod_fcgid starts workers on demand (a request starts the first one), so there it
    waits for at least one."""
    n = expected_workers()
    on_demand = stack_vars()["STACK_MODE"] == "apache"

    def ready():
        pids = worker_pids()
        if set(pids) & set(exclude):
            return None
        if len(pids) == n or (on_demand and pids):
            return pids
        if on_demand:
            http("GET", "/healthz")
        return None
    return wait_for(ready, timeout, interval=0.05,
                    what="a worker running" if on_demand else f"{n} workers running")


# --- aspida's log -----------------------------------------------------------------------------------

def log_events(lines):
    """The JSON security-event lines among aspida log lines ("STAMP aspida[PID]: {...}")."""
    events = []
    for line in lines:
        i = line.find("]: {")
        if i < 0:
            continue
        try:
            events.append(json.loads(line[i + 3:]))
        except ValueError:
            continue
    return events


# --- load ------------------------------------------------------------------------------------------

class Load:
    """Sends `total` GET requests for `path` from `threads` threads, each over its own keep-alive
    connection (reopened after any failure), and records every outcome: an HTTP status, or the
    exception's name when no response came. done() says how many have finished so far."""

    def __init__(self, path, total, threads=4, timeout=20, source="127.0.0.1"):
        self.path = path
        self.total = total
        self.nthreads = threads
        self.timeout = timeout
        self.source = source
        self.results = []
        self._lock = threading.Lock()
        self._next = 0
        self._threads = []

    def _take(self):
        with self._lock:
            if self._next >= self.total:
                return False
            self._next += 1
            return True

    def _run(self):
        url = urllib.parse.urlsplit(stack_env()["ASPIDA_URL"])
        conn = None
        while self._take():
            try:
                if conn is None:
                    conn = httpclient.HTTPConnection(url.hostname, url.port, timeout=self.timeout,
                                                     source_address=(self.source, 0))
                conn.request("GET", self.path)
                resp = conn.getresponse()
                resp.read()
                outcome = resp.status
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, httpclient.HTTPException) as e:
                outcome = type(e).__name__
                if conn is not None:
                    conn.close()
                conn = None
            with self._lock:
                self.results.append(outcome)
        if conn is not None:
            conn.close()

    def start(self):
        for _ in range(self.nthreads):
            t = threading.Thread(target=self._run, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def done(self):
        with self._lock:
            return len(self.results)

    def stop(self):
        """Sends no further request (those in flight finish)."""
        with self._lock:
            self.total = self._next

    def join(self, timeout=120):
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self._threads), "load threads still running"
        return self.results

    def failures(self):
        return [x for x in self.results if not (isinstance(x, int) and 200 <= x < 300)]


def get_ok(path, **kw):
    """GET that must answer 200; returns the response."""
    r = http("GET", path, **kw)
    assert r.status == 200, (path, r)
    return r
