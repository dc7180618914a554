"""Helpers for the authentication, token, lockout, rate-limit and block-list tests (not a test
module itself).

Every run gets a random tag (RUN): emails and client addresses are derived from it and from the
test's own name, so a second run on the same stack meets none of the first run's lockouts,
rate-limit keys or failure counters, and two tests never share a budget by accident. Client
addresses are 127.A.B.C with A != 0 (the whole of 127/8 is loopback), away from the 127.0.0.x
addresses the other test files use.

Every password and token these helpers see is remembered in SECRETS, so that the last test of
each module can check that none of them reached aspida's log.

The `conf` fixture changes aspida.conf keys (stack_conf_set + workers_restart) and puts every
key back as it was afterwards: the stack fixture's heal restarts what is down but does not
restore configuration.
"""

import base64
import hashlib
import hmac
import json
import os
import random
import re
import secrets
import signal
import threading
import time

import pytest

from aspida_util import expected_workers, read_conf, stack_dir, wait_for, worker_pids
from conftest import Stack, http, stack_env

RUN = secrets.token_hex(4)
SECRETS = set()

API = "/api/v1"
LOGIN = API + "/auth/login"
REGISTER = API + "/auth/register"
REFRESH = API + "/auth/refresh"
LOGOUT = API + "/auth/logout"
ME = API + "/auth/me"
PASSWORD = API + "/auth/password"
PRICE = API + "/price/BTC"

TOKEN_KEYS = {"access_token", "refresh_token", "token_type", "expires_in"}
USER_KEYS = {"id", "email", "full_name", "role", "created_at"}


def remember(*values):
    """Adds passwords and tokens to SECRETS (the log must never hold them). The first call marks
    where the logs end, before any secret of this run is sent."""
    if not _LOG_START:
        mark_logs()
    for v in values:
        # Low-entropy junk (forged "rt.AAAA...") is no secret, and other tests send such strings.
        if isinstance(v, str) and len(v) >= 8 and len(set(v)) >= 6:
            SECRETS.add(v)


def digest(*parts):
    return hashlib.sha256("\0".join((RUN,) + tuple(map(str, parts))).encode()).digest()


def source_for(*parts):
    """A loopback client address of this run for these parts (e.g. the test's name and a tag):
    127.A.B.C with A in 1..254 and C in 1..254."""
    d = digest("source", *parts)
    return f"127.{1 + d[0] % 254}.{d[1]}.{1 + d[2] % 254}"


def email_for(*parts):
    """A fresh email address of this run."""
    tag = re.sub(r"[^a-z0-9]+", "-", "-".join(map(str, parts)).lower()).strip("-")[:32]
    return f"{tag}-{digest('email', *parts).hex()[:6]}-{RUN}@example.com"


def strong_password(*parts, length=20, alphabet=None):
    """A password of `length` characters that passes the strength rules: random characters from
    several classes, no two neighbours alike or one code point apart (in either case), which
    cracklib would count as "too simplistic/systematic"."""
    rng = random.Random(digest("password", *parts, length))
    alphabet = alphabet or ("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"
                            "!#%+-.:=?@^_~")
    out = []
    while len(out) < length:
        c = rng.choice(alphabet)
        if out and any(abs(ord(x) - ord(y)) <= 1 for x in (out[-1], out[-1].lower())
                       for y in (c, c.lower())):
            continue
        out.append(c)
    pw = "".join(out)
    remember(pw)
    return pw


def body_has_no_hash(r):
    text = r.body.decode("utf-8", "replace")
    assert "password_hash" not in text and "$2b$" not in text and "$2a$" not in text \
        and "$2y$" not in text, text


def register(email, password, full_name="Test User", source="127.0.0.1", **extra):
    remember(password)
    body = {"email": email, "password": password, "full_name": full_name}
    body.update(extra)
    return http("POST", REGISTER, body=body, source=source)


def new_user(tag, source, password=None):
    """Registers a fresh user; returns {"email", "password", "id"}."""
    email = email_for(tag)
    password = password or strong_password(tag)
    r = register(email, password, source=source)
    assert r.status == 201, r
    return {"email": email, "password": password, "id": r.json()["id"]}


def login_raw(email, password, source, ua=None, cookie=False, headers=None):
    remember(password)
    h = dict(headers or {})
    if ua is not None:
        h["User-Agent"] = ua
    path = LOGIN + ("?session=cookie" if cookie else "")
    r = http("POST", path, h, body={"email": email, "password": password}, source=source)
    if r.status == 200:
        remember(*[v for v in r.json().values() if isinstance(v, str)])
        for c in r.header_all("Set-Cookie"):
            remember(c.split(";", 1)[0].partition("=")[2])
    return r


def login(user, source, ua=None):
    """A bearer login that must succeed; returns the token pair."""
    r = login_raw(user["email"], user["password"], source, ua=ua)
    assert r.status == 200, r
    return r.json()


def cookie_login(user, source, ua=None):
    """A cookie login that must succeed; returns (session cookie value, csrf token)."""
    r = login_raw(user["email"], user["password"], source, ua=ua, cookie=True)
    assert r.status == 200, r
    cookies = [c for c in r.header_all("Set-Cookie") if c.startswith("aspida_session=")]
    assert len(cookies) == 1, r.header_all("Set-Cookie")
    return cookies[0].split(";", 1)[0].partition("=")[2], r.json()["csrf_token"]


def auth_headers(token, ua=None):
    h = {"Authorization": "Bearer " + token}
    if ua is not None:
        h["User-Agent"] = ua
    return h


def me(token, source, ua=None):
    return http("GET", ME, auth_headers(token, ua), source=source)


def refresh(refresh_token, source, ua=None):
    remember(refresh_token)
    h = {"User-Agent": ua} if ua is not None else {}
    r = http("POST", REFRESH, h, body={"refresh_token": refresh_token}, source=source)
    if r.status == 200:
        remember(*[v for v in r.json().values() if isinstance(v, str)])
    return r


def error_code(r):
    try:
        return r.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def same_error(a, b):
    """The two error bodies are equal but for their request ids."""
    ea, eb = a.json()["error"], b.json()["error"]
    ea = dict(ea, request_id=None)
    eb = dict(eb, request_id=None)
    return ea == eb


# --- JWTs, made with the standard library only -------------------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_decode(token):
    """(header, claims) of a JWT, unverified."""
    h, p, _ = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p))


def jwt_make(header, claims, key, raw_payload=None):
    """An HS256-style JWT over header and claims (dicts, or raw JSON text via raw_payload)."""
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    p = b64url((raw_payload if raw_payload is not None else
                json.dumps(claims, separators=(",", ":"))).encode())
    sig = hmac.new(key, f"{h}.{p}".encode(), hashlib.sha256).digest()
    token = f"{h}.{p}.{b64url(sig)}"
    remember(token)
    return token


def jwt_key():
    """The stack's JWT key: the secret file's bytes, one trailing newline dropped (as aspida
    reads it). Root can read the run user's 0600 file."""
    with open(os.path.join(stack_dir(), "secrets", "jwt_key"), "rb") as f:
        key = f.read()
    if key.endswith(b"\n"):
        key = key[:-1]
    assert len(key) >= 32, "the stack's jwt_key is too short"
    return key


def ua_fingerprint(ua):
    return hashlib.sha256((ua or "").encode()).hexdigest()


# --- configuration changes ---------------------------------------------------------------------

class ConfChanger:
    """Sets aspida.conf keys and restarts the workers; restore() puts back what it changed."""

    def __init__(self, stack):
        self.stack = stack
        self.saved = {}

    def __call__(self, **kv):
        current = read_conf()
        for key, value in kv.items():
            if key not in self.saved:
                self.saved[key] = current.get(key)
            self.stack.stack_conf_set(key, str(value))
        self.restart()

    def restart(self):
        self.stack.workers_restart()
        self.stack.stack_wait_ready(30)
        wait_workers_settled()

    def restore(self):
        if not self.saved:
            return
        for key, value in self.saved.items():
            self.stack.stack_conf_set(key, "" if value is None else value)
        self.saved = {}
        self.restart()


def _catches_term(pid):
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    except OSError:
        pass
    return False


def wait_workers_settled(timeout=30):
    """Waits until every worker runs aspida (exec done) and has its stop handler in place.

    A restart that comes while multiwatch is still forking its children can lose the USR1 it
    forwards (a child between fork and exec still has multiwatch's handler), and such a worker
    never stops: workers_restart then waits 20 s, kills multiwatch and leaves the worker behind.
    Waiting for settled workers after each restart keeps the next restart out of that window."""
    n = expected_workers()

    def settled():
        pids = worker_pids()
        return len(pids) == n and all(_catches_term(p) for p in pids)
    wait_for(settled, timeout, interval=0.05, what=f"{n} workers settled")


@pytest.fixture
def conf(stack):
    """conf(key=value, ...): changes aspida.conf and restarts the workers; every changed key is
    restored (and the workers restarted) after the test, pass or fail."""
    changer = ConfChanger(stack)
    try:
        yield changer
    finally:
        changer.restore()


def module_conf(**kv):
    """A module-scoped, autouse fixture that applies kv for the whole module and restores it
    after (assign it to a name in the test module)."""
    @pytest.fixture(scope="module", autouse=True)
    def fixture():
        stack = Stack(stack_env())
        changer = ConfChanger(stack)
        try:
            changer(**kv)
            yield changer
        finally:
            try:
                changer.restore()
            finally:
                stack.call("stack_heal")
    return fixture


# --- concurrency -------------------------------------------------------------------------------

def concurrently(fn, args_list, timeout=60):
    """Runs fn(*args) for each args at once (threads released together by a barrier); returns
    the results in order (an exception's name where one was raised)."""
    barrier = threading.Barrier(len(args_list))
    results = [None] * len(args_list)

    def run(i, args):
        try:
            barrier.wait(timeout)
            results[i] = fn(*args)
        except Exception as e:  # noqa: BLE001 - recorded for the assertion
            results[i] = type(e).__name__

    threads = [threading.Thread(target=run, args=(i, a), daemon=True)
               for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "requests still running"
    return results


# --- the log -----------------------------------------------------------------------------------

def _log_paths():
    logdir = os.path.join(stack_dir(), "log")
    paths = {stack_env()["ASPIDA_LOG"]}
    if os.path.isdir(logdir):
        paths |= {os.path.join(logdir, n) for n in os.listdir(logdir)}
    return sorted(p for p in paths if os.path.isfile(p))


_LOG_START = {}


def mark_logs():
    """Remembers where each log ends now; log_texts(since_mark=True) reads from there. The run's
    secrets are fresh, so nothing before the first mark can hold them."""
    for p in _log_paths():
        _LOG_START.setdefault(p, os.path.getsize(p))


def log_texts(since_mark=False):
    """The text of every log file of the stack (aspida's, the workers', lighttpd's, ...)."""
    texts = {}
    for p in _log_paths():
        with open(p, "rb") as f:
            if since_mark:
                f.seek(min(_LOG_START.get(p, 0), os.path.getsize(p)))
            texts[p] = f.read().decode("utf-8", "replace")
    return texts


def stack_secrets():
    """The stack's own secrets (JWT key, CSRF secret, pepper): never in a log either."""
    out = []
    for name in ("jwt_key", "csrf_secret", "password_pepper", "cursor_secret"):
        path = os.path.join(stack_dir(), "secrets", name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                out.append(f.read().strip().decode("ascii", "replace"))
    return [s for s in out if len(s) >= 16]


def assert_no_secret_in_logs(min_secrets=1):
    """No password, token, refresh token or CSRF token used so far (nor a stack secret) appears
    in any log of the stack."""
    assert len(SECRETS) >= min_secrets, f"only {len(SECRETS)} secrets recorded: a vacuous check"
    texts = log_texts()
    for secret in stack_secrets():
        for path, text in texts.items():
            assert secret not in text, f"a stack secret ({secret[:4]}...) appears in {path}"
    texts = log_texts(since_mark=True)
    aspida_log = texts.get(stack_env()["ASPIDA_LOG"], "")
    assert aspida_log.strip(), "aspida wrote nothing to its log during these tests: nothing checked"
    for secret in SECRETS:
        # A JWT's signature alone, or a refresh token's body, would be as bad as the whole.
        pieces = {secret}
        if secret.count(".") == 2:
            pieces.add(secret.rsplit(".", 1)[1])
        if secret.startswith("rt."):
            pieces.add(secret[3:])
        pieces = {p for p in pieces if len(p) >= 8 and len(set(p)) >= 6}
        for path, text in texts.items():
            for piece in pieces:
                assert piece not in text, f"a secret ({piece[:6]}...) appears in {path}"
