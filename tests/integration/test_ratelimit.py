"""Rate limits (API.md, Rate limits; RATELIMIT.md): GCRA per class with burst B and rate L per
minute, keyed by the user or else the client address; the RateLimit-* headers on 2xx and 4xx of
limited routes; 429 rate_limited with Retry-After; the bound B + L*t/60; the per-address
pre-authentication limit also on unknown paths; /healthz, /readyz and preflights unlimited; the
auth class per address and per account; X-Forwarded-For believed only from trusted_proxies, and
IPv6 counted by its /64.

The test profile's limits are very high; this module lowers the prices class to 60/min, burst 5
for all its tests, and single tests lower other classes or set trusted_proxies (conf fixture).
Every key is put back afterwards.
"""

import time

import auth_helpers
from aspida_util import assert_error, retry_after
from auth_helpers import (API, PRICE, REFRESH, assert_no_secret_in_logs, auth_headers, digest,
                          email_for, login, login_raw, module_conf, new_user, register, source_for,
                          strong_password)
from conftest import http

L, B = 60, 5
limits = module_conf(rate_prices_per_minute=L, rate_prices_burst=B)
conf = auth_helpers.conf        # the fixture


def price(src, headers=None, path=PRICE):
    return http("GET", path, headers, source=src)


def rl(r):
    """The three RateLimit headers as integers (asserted present and integral)."""
    out = []
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        v = r.header(name)
        assert v is not None and v.isdigit(), (name, v, r)
        out.append(int(v))
    return tuple(out)


def spend(src, n, headers=None):
    """n requests that must all pass; returns the last."""
    for i in range(n):
        r = price(src, headers)
        assert r.status == 200, (i, r)
    return r


def assert_limited(r):
    assert_error(r, 429, "rate_limited")
    assert retry_after(r) >= 1
    limit, remaining, reset = rl(r)
    assert remaining == 0, r.headers
    return limit


# --- the headers and the 429 ----------------------------------------------------------------------

def test_headers_on_2xx_and_4xx_of_a_limited_route():
    src = source_for("rl-headers")
    answers = [
        (price(src), 200, None),
        (price(src, path=API + "/price/ZZZNOPE9"), 404, "unknown_asset"),
        (price(src, path=API + "/price/bad-asset"), 400, "invalid_asset"),
        (price(src, path=PRICE + "?nope=1"), 400, "invalid_input"),
    ]
    remaining = []
    for r, status, code in answers:
        if code:
            assert_error(r, status, code)
        else:
            assert r.status == status, r
        limit, rem, reset = rl(r)
        assert limit == L, r.headers
        assert 0 <= rem <= B and reset >= 1, r.headers
        remaining.append(rem)
    # Each answer, 2xx or 4xx, was charged: remaining counts down from B - 1.
    assert remaining == sorted(remaining, reverse=True) and remaining[0] == B - 1, remaining
    assert remaining[-1] <= B - 3, remaining


def test_429_after_the_burst():
    src = source_for("rl-burst")
    last = spend(src, B)
    assert rl(last)[1] == 0, last.headers
    r = price(src)
    assert assert_limited(r) == L
    assert retry_after(r) <= 2
    # Another address is not affected.
    assert price(source_for("rl-burst", "other")).status == 200


def test_gcra_bound_over_three_seconds():
    # In any span of t seconds at most B + L*t/60 requests pass (1 of tolerance for the edges);
    # and the limiter is not stricter than that either.
    src = source_for("rl-gcra")
    allowed = 0
    t0 = time.monotonic()
    first_ok = last_ok = None
    while time.monotonic() - t0 < 3.0:
        r = price(src)
        now = time.monotonic()
        if r.status == 200:
            allowed += 1
            first_ok = first_ok or now
            last_ok = now
        else:
            assert_error(r, 429, "rate_limited")
        time.sleep(0.02)
    span = last_ok - first_ok
    assert allowed <= B + L * span / 60 + 1, (allowed, span)
    assert allowed >= B + int(L * span / 60) - 1, (allowed, span)


# --- keys: the user, else the address -------------------------------------------------------------

def test_two_users_from_one_address_have_separate_budgets():
    users = [new_user(f"rl-user-{i}", source_for("rl-users-setup", i)) for i in range(2)]
    tokens = [login(u, source_for("rl-users-setup", i)) for i, u in enumerate(users)]
    src = source_for("rl-users")
    spend(src, B, auth_headers(tokens[0]["access_token"]))
    assert_limited(price(src, auth_headers(tokens[0]["access_token"])))
    # The second user from the same address has a whole budget of its own ...
    r = price(src, auth_headers(tokens[1]["access_token"]))
    assert r.status == 200 and rl(r)[1] == B - 1, r.headers
    # ... and so has the address itself, anonymously.
    r = price(src)
    assert r.status == 200 and rl(r)[1] == B - 1, r.headers


def test_one_user_from_two_addresses_shares_one_budget():
    user = new_user("rl-shared", source_for("rl-shared-setup"))
    token = login(user, source_for("rl-shared-setup"))["access_token"]
    a, b = source_for("rl-shared", "a"), source_for("rl-shared", "b")
    spend(a, 3, auth_headers(token))
    spend(b, B - 3, auth_headers(token))
    assert_limited(price(a, auth_headers(token)))
    assert_limited(price(b, auth_headers(token)))
    # The addresses themselves still have their anonymous budgets.
    assert price(a).status == 200 and price(b).status == 200


# --- what is not limited, and what is limited before routing --------------------------------------

def test_health_readiness_and_preflights_are_not_limited(conf):
    conf(rate_preauth_per_minute=60, rate_preauth_burst=3)
    src = source_for("rl-unlimited")
    for i in range(15):
        for path in ("/healthz", "/readyz"):
            r = http("GET", path, source=src)
            assert r.status == 200, (i, path, r)
            assert r.header("RateLimit-Limit") is None, r.headers
        r = http("OPTIONS", PRICE, {"Origin": "https://evil.test",
                                    "Access-Control-Request-Method": "GET"}, source=src)
        assert r.status == 204, (i, r)
        assert r.header("RateLimit-Limit") is None and r.header("Retry-After") is None, r.headers
    # None of that was charged to the address: its pre-authentication budget is whole.
    r = price(src)
    assert r.status == 200, r
    assert rl(r)[1] == 3 - 1, r.headers


def test_unknown_paths_run_out_the_preauth_limit(conf):
    conf(rate_preauth_per_minute=60, rate_preauth_burst=3)
    src = source_for("rl-unknown-paths")
    for path in (API + "/nope", API + "/admin/nothing", API + "/auth/nope"):
        assert_error(http("GET", path, source=src), 404, "not_found")
    for path in (API + "/nope", PRICE, API + "/auth/login"):
        r = http("GET", path, source=src)
        assert_limited(r)
    # Bad credentials are limited the same way.
    r = http("GET", PRICE, {"Authorization": "Bearer junk"}, source=src)
    assert_limited(r)
    assert price(source_for("rl-unknown-paths", "other")).status == 200


# --- the auth class: per address, and per account -------------------------------------------------

def test_auth_class_is_per_address(conf):
    conf(rate_auth_per_minute=60, rate_auth_burst=3)
    src = source_for("rl-auth")
    for i in range(3):
        r = login_raw(email_for("rl-auth-nobody", i), strong_password("rl-auth", i), src)
        assert_error(r, 401, "invalid_credentials")
    r = login_raw(email_for("rl-auth-nobody", 9), strong_password("rl-auth", 9), src)
    assert_limited(r)
    # Every auth route of that address shares the budget ...
    assert_limited(register(email_for("rl-auth-reg"), strong_password("rl-auth-reg"), source=src))
    assert_limited(http("POST", REFRESH, body={"refresh_token": "rt.x"}, source=src))
    # ... while another address has its own.
    other = source_for("rl-auth", "other")
    r = login_raw(email_for("rl-auth-nobody", 10), strong_password("rl-auth", 10), other)
    assert_error(r, 401, "invalid_credentials")
    # Other classes of the limited address are untouched.
    assert price(src).status == 200


def test_auth_class_is_per_account_too(conf):
    # Guesses for one account spread over many addresses still meet one limit.
    user = new_user("rl-account", source_for("rl-account-setup"))
    conf(rate_auth_per_minute=60, rate_auth_burst=3)
    for i in range(3):
        r = login_raw(user["email"], strong_password("rl-account", i), source_for("rl-account", i))
        assert_error(r, 401, "invalid_credentials")
    r = login_raw(user["email"], user["password"], source_for("rl-account", 3))
    assert_limited(r)
    # Another account from a fresh address is not limited.
    r = login_raw(email_for("rl-account-other"), user["password"], source_for("rl-account", 4))
    assert_error(r, 401, "invalid_credentials")


# --- X-Forwarded-For ------------------------------------------------------------------------------

def xff_v4(*parts):
    d = digest("xff", *parts)
    return f"10.{d[0]}.{d[1]}.{1 + d[2] % 250}"


def xff_v6_net(*parts):
    d = digest("xff6", *parts).hex()
    return f"2001:db8:{d[0:4]}:{d[4:8]}"


def test_spoofed_forwarded_for_shares_the_budget():
    # trusted_proxies is empty in the test profile: X-Forwarded-For changes nothing.
    src = source_for("rl-xff-spoof")
    for i in range(B):
        r = price(src, {"X-Forwarded-For": xff_v4("spoof", i)})
        assert r.status == 200, (i, r)
    for value in (xff_v4("spoof", "x"), "2001:db8::1", "127.0.0.1",
                  src + ", " + xff_v4("spoof", "y")):
        assert_limited(price(src, {"X-Forwarded-For": value}))


def test_forwarded_for_from_a_trusted_proxy_is_the_key(conf):
    proxy = source_for("rl-xff-proxy")
    conf(trusted_proxies=proxy + "/32")
    a, b, c = xff_v4("trusted", "a"), xff_v4("trusted", "b"), xff_v4("trusted", "c")
    spend(proxy, B, {"X-Forwarded-For": a})
    assert_limited(price(proxy, {"X-Forwarded-For": a}))
    # The right-most untrusted hop is the client: "a, proxy" is a.
    assert_limited(price(proxy, {"X-Forwarded-For": f"{a}, {proxy}"}))
    # Other clients behind the proxy have their own budgets.
    assert price(proxy, {"X-Forwarded-For": b}).status == 200
    assert price(proxy, {"X-Forwarded-For": f"{a}, {c}"}).status == 200
    # The proxy's own budget (no X-Forwarded-For) is untouched.
    assert price(proxy).status == 200
    # From anyone but the proxy, X-Forwarded-For still changes nothing.
    other = source_for("rl-xff-proxy", "untrusted")
    spend(other, B, {"X-Forwarded-For": b})
    assert_limited(price(other, {"X-Forwarded-For": xff_v4("trusted", "d")}))
    assert price(proxy, {"X-Forwarded-For": b}).status == 200


def test_ipv6_clients_count_by_their_64(conf):
    proxy = source_for("rl-xff6-proxy")
    conf(trusted_proxies=proxy + "/32")
    net = xff_v6_net("v6")
    same = [f"{net}::1", f"{net}:ffff:ffff:ffff:fffe", f"{net}:1:2:3:4", f"{net}::abcd"]
    for i in range(B):
        r = price(proxy, {"X-Forwarded-For": same[i % 2]})
        assert r.status == 200, (i, r)
    for addr in same:
        assert_limited(price(proxy, {"X-Forwarded-For": addr}))
    # The next /64 is another client.
    head, last = net.rsplit(":", 1)
    other_net = f"{head}:{(int(last, 16) + 1) % 65536:x}"
    assert price(proxy, {"X-Forwarded-For": f"{other_net}::1"}).status == 200


def test_no_secret_reaches_the_logs():
    assert_no_secret_in_logs(min_secrets=5)
