"""The Redis failure policy (DESIGN.md, Failure policy; API.md, Operations).

redis_failure = closed (the default), Redis down: every request that carries credentials (whose
revocation cannot be checked) and the auth routes answer 503 unavailable with Retry-After;
anonymous public reads and the ops routes serve, under per-worker local limits; /readyz answers
503 naming redis, /healthz 200; a critical line about Redis is logged; once Redis is back
everything recovers without a restart of aspida.
redis_failure = open: everything serves under per-worker limits and /readyz says degraded (200).
The local limits: with the prices class lowered, one worker's own GCRA answers 429.

Each test sets the keys it needs (restored afterwards) and stops Redis itself; the stack fixture
starts it again whatever happens. Addresses: 127.0.0.90-127.0.0.99.
"""

import json

import pytest

from aspida_util import (assert_error, assert_security_headers, expected_workers, retry_after,
                         wait_for, worker_pids)
from auth_helpers import (auth_headers, conf, email_for, login, login_raw, new_user,  # noqa: F401
                          register, remember, strong_password)
from conftest import http

API = "/api/v1"
PRICE = API + "/price/BTC"
ME = API + "/auth/me"


def ratelimit_headers(r):
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        v = r.header(name)
        assert v is not None and v.isdigit(), (name, v, r)


def ops(path):
    r = http("GET", path)
    return r.status, json.loads(r.body)


@pytest.fixture
def closed(conf):
    """redis_failure = closed, set in a fixture so that a failure to set it is an error of the
    test, never mistaken for the expected failure of an xfail test."""
    conf(redis_failure="closed")


@pytest.fixture
def open_mode(conf):
    conf(redis_failure="open")


def new_session(tag, src):
    user = new_user(tag, src)
    user["token"] = login(user, src)["access_token"]
    r = http("POST", API + "/keys", auth_headers(user["token"]),
             body={"name": "policy", "scopes": ["read"]}, source=src)
    assert r.status == 201, r
    user["key"] = r.json()["key"]
    remember(user["key"])
    return user


def test_closed_redis_down_and_recovery(closed, stack, aspida_log):
    src = "127.0.0.90"
    user = new_session("policy-closed", src)
    other_email, other_pw = email_for("policy-closed-new"), strong_password("policy-closed-new")
    pids = set(worker_pids())
    stack.redis_stop()

    # Anonymous public reads serve, under local limits (their headers are still there).
    for path in (PRICE, API + "/assets", API + "/prices/BTC?limit=3"):
        r = http("GET", path, source=src)
        assert r.status == 200, (path, r)
        assert_security_headers(r)
        ratelimit_headers(r)
    # Credentials: their revocation cannot be checked.
    for path in (PRICE, ME):
        r = http("GET", path, auth_headers(user["token"]), source=src)
        assert_error(r, 503, "unavailable")
        retry_after(r)
    # The auth routes (locks and the hashing gate live in Redis).
    r = login_raw(user["email"], user["password"], src)
    assert_error(r, 503, "unavailable")
    retry_after(r)
    r = register(other_email, other_pw, source=src)
    assert_error(r, 503, "unavailable")
    retry_after(r)
    # Ops routes.
    r = http("GET", "/readyz")
    assert r.status == 503 and json.loads(r.body) == {"status": "unavailable",
                                                      "failing": ["redis"]}, r
    retry_after(r)
    assert ops("/healthz") == (200, {"status": "ok"})
    lines = [x for x in aspida_log.since() if "aspida[" in x and "redis unavailable" in x]
    assert lines, "no critical line about Redis in aspida's log"

    # Back: every worker reconnects on its own (backoff at most 5 s), none restarted.
    stack.redis_start()

    def recovered():
        return all(http("GET", PRICE, auth_headers(user["token"]), source=src).status == 200
                   for _ in range(2 * expected_workers())) and ops("/readyz") == \
            (200, {"status": "ok"})
    wait_for(recovered, 15, interval=0.2, what="recovery after Redis came back")
    r = login_raw(user["email"], user["password"], src)
    assert r.status == 200, r
    assert register(other_email, other_pw, source=src).status == 201
    assert http("GET", PRICE, {"X-API-Key": user["key"]}, source=src).status == 200
    assert set(worker_pids()) == pids, "workers were restarted"
    assert any("redis available again" in x for x in aspida_log.since())


# The xfail tests prepare everything in fixtures, so that only their final assertions can
# fail: a broken preparation is an error, never taken for the expected failure.
SOURCES = {
    "test_closed_api_key_request_is_unavailable": "127.0.0.91",
    "test_open_redis_down_serves_login_and_register": "127.0.0.93",
    "test_open_redis_down_serves_forecasts": "127.0.0.96",
}


@pytest.fixture
def session_redis_down(request, stack):
    """A fresh user with a token and a working key; then Redis is stopped."""
    src = SOURCES[request.node.originalname]
    user = new_session("policy-" + request.node.originalname, src)
    user["src"] = src
    assert http("GET", PRICE, {"X-API-Key": user["key"]}, source=src).status == 200
    stack.redis_stop()
    return user


def test_closed_api_key_request_is_unavailable(closed, session_redis_down):
    user = session_redis_down
    r = http("GET", PRICE, {"X-API-Key": user["key"]}, source=user["src"])
    assert_error(r, 503, "unavailable")
    retry_after(r)


def test_open_redis_down_serves_credentials(open_mode, stack):
    src = "127.0.0.92"
    user = new_session("policy-open", src)
    stack.redis_stop()
    for path in (ME, PRICE):
        r = http("GET", path, auth_headers(user["token"]), source=src)
        assert r.status == 200, (path, r)
    assert http("GET", ME, auth_headers(user["token"]), source=src).json()["id"] == user["id"]
    assert http("GET", PRICE, {"X-API-Key": user["key"]}, source=src).status == 200
    r = http("GET", PRICE, source=src)
    assert r.status == 200, r
    ratelimit_headers(r)
    assert ops("/readyz") == (200, {"status": "degraded", "failing": ["redis"]})
    assert ops("/healthz") == (200, {"status": "ok"})
    # A bad token is still refused, never treated as anonymous.
    assert_error(http("GET", PRICE, auth_headers("x.y.z"), source=src), 401, "unauthorized")

    stack.redis_start()
    wait_for(lambda: ops("/readyz") == (200, {"status": "ok"}), 15, interval=0.2,
             what="/readyz ok again")


def test_open_redis_down_serves_login_and_register(open_mode, session_redis_down):
    user, src = session_redis_down, session_redis_down["src"]
    got = {
        "login": login_raw(user["email"], user["password"], src).status,
        "register": register(email_for("policy-open-new"), strong_password("policy-open-new"),
                             source=src).status,
    }
    assert got == {"login": 200, "register": 201}, got


def test_open_redis_down_serves_forecasts(open_mode, session_redis_down):
    user, src = session_redis_down, session_redis_down["src"]
    r = http("POST", API + "/predict/BTC", auth_headers(user["token"]), body=b"", source=src)
    assert r.status == 200, r


BURST = 2


@pytest.fixture(params=["closed", "open"])
def low_prices_limit(conf, request):
    conf(redis_failure=request.param, rate_prices_per_minute=6, rate_prices_burst=BURST)
    return request.param


def test_local_limits_while_redis_is_down(low_prices_limit, stack):
    mode, burst = low_prices_limit, BURST
    src = "127.0.0.94" if mode == "closed" else "127.0.0.95"
    stack.redis_stop()
    statuses = []
    limited = None
    for _ in range(60):
        r = http("GET", PRICE, source=src)
        statuses.append(r.status)
        if r.status == 429:
            limited = r
            break
        assert r.status == 200, r
    assert limited is not None, f"no local limit met in {len(statuses)} requests"
    assert_error(limited, 429, "rate_limited")
    retry_after(limited)
    ratelimit_headers(limited)
    assert limited.header("RateLimit-Limit") == "6"
    # Per worker: each lets its own burst through, so the first 429 comes after at most
    # workers * burst requests (plus one refill, a request every 10 s at 6 a minute).
    served = statuses.count(200)
    assert burst <= served <= expected_workers() * burst + 1, statuses
