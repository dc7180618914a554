"""Daily download quotas (API.md, Market data): each principal's response bytes on the price-history
route (/prices, what scraping takes; the one-point /price and /assets are not charged) are counted
per UTC day in Redis (aspida:quota:<day>:ip:<address> for anonymous callers,
aspida:quota:<day>:user:<id> for a user, whose API keys count as the user); a request that finds
the quota spent answers 429 quota_exceeded with Retry-After = the seconds to UTC midnight.

The module lowers quota_anonymous_daily_bytes to 2000 and quota_daily_bytes to 1500 (restored
afterwards). Each test deletes its own counters first, so a second run on the same day starts from
zero. Addresses: 127.0.0.70-127.0.0.79.
"""

import time

from aspida_util import assert_error, retry_after
from auth_helpers import auth_headers, login, module_conf, new_user, remember
from conftest import http

API = "/api/v1"
PRICE = API + "/prices/BTC?limit=1"
ANON_QUOTA = 2000
USER_QUOTA = 1500

_quota_conf = module_conf(quota_anonymous_daily_bytes=ANON_QUOTA, quota_daily_bytes=USER_QUOTA)


def day():
    return int(time.time()) // 86400


def ip_key(addr):
    return f"aspida:quota:{day()}:ip:{addr}"


def user_key(uid):
    return f"aspida:quota:{day()}:user:{uid}"


def to_midnight():
    return 86400 - int(time.time()) % 86400


def spend(path, headers, source, limit=200):
    """Requests path until the first non-200; returns (bodies of the 200s, the last response)."""
    bodies = []
    for _ in range(limit):
        r = http("GET", path, headers, source=source)
        if r.status != 200:
            return bodies, r
        bodies.append(r.body)
    raise AssertionError(f"{limit} requests of {path} never met the quota")


def assert_quota_exceeded(r):
    assert_error(r, 429, "quota_exceeded")
    assert abs(retry_after(r) - to_midnight()) <= 5, (r.header("Retry-After"), to_midnight())


def assert_spent_exactly(sizes, quota):
    """Every request was served while less than the quota had been used, and no other."""
    assert sum(sizes[:-1]) < quota <= sum(sizes), (sizes, quota)


def test_anonymous_quota_per_address(redis):
    src, other = "127.0.0.70", "127.0.0.71"
    for a in (src, other):
        redis("DEL", ip_key(a))
    bodies, last = spend(PRICE, None, src)
    sizes = [len(b) for b in bodies]
    assert len(bodies) >= 2, sizes
    assert_spent_exactly(sizes, ANON_QUOTA)
    assert_quota_exceeded(last)
    # The counter holds exactly the body bytes served, nothing for the refusal.
    assert int(redis("GET", ip_key(src))) == sum(sizes)
    ttl = int(redis("TTL", ip_key(src)))
    assert to_midnight() <= ttl <= to_midnight() + 3600 + 5, ttl
    # Still refused for history; the refusals cost nothing; the latest price and the asset list
    # are not charged and still served.
    for path in (PRICE, API + "/prices/BTC?limit=2"):
        assert_quota_exceeded(http("GET", path, source=src))
    for path in (API + "/price/BTC", API + "/assets"):
        assert http("GET", path, source=src).status == 200
    assert int(redis("GET", ip_key(src))) == sum(sizes)
    # Another address has its own quota.
    r = http("GET", PRICE, source=other)
    assert r.status == 200, r
    assert int(redis("GET", ip_key(other))) == len(r.body)


def test_history_pages_are_charged(redis):
    src = "127.0.0.72"
    redis("DEL", ip_key(src))
    r = http("GET", API + "/prices/BTC?limit=10", source=src)
    assert r.status == 200, r
    r2 = http("GET", API + "/prices/BTC?limit=3", {"Accept": "text/csv"}, source=src)
    assert r2.status == 200 and r2.header("Content-Type").startswith("text/csv"), r2
    assert int(redis("GET", ip_key(src))) == len(r.body) + len(r2.body)
    # A refused request (400) is not charged.
    assert http("GET", API + "/prices/BTC?limit=0", source=src).status == 400
    assert int(redis("GET", ip_key(src))) == len(r.body) + len(r2.body)


def test_user_quota_is_shared_by_token_and_key(redis):
    src_token, src_key, src_anon = "127.0.0.73", "127.0.0.74", "127.0.0.75"
    user = new_user("quota-shared", src_token)
    token = login(user, src_token)["access_token"]
    r = http("POST", API + "/keys", auth_headers(token), body={"name": "q", "scopes": ["read"]},
             source=src_token)
    assert r.status == 201, r
    key = r.json()["key"]
    remember(key)
    for k in (user_key(user["id"]), ip_key(src_token), ip_key(src_key), ip_key(src_anon)):
        redis("DEL", k)

    sizes = []
    for _ in range(3):
        r = http("GET", PRICE, auth_headers(token), source=src_token)
        assert r.status == 200, r
        sizes.append(len(r.body))
    assert sum(sizes) < USER_QUOTA
    # The key draws on the same quota as its owner's token.
    bodies, last = spend(PRICE, {"X-API-Key": key}, src_key)
    sizes += [len(b) for b in bodies]
    assert_spent_exactly(sizes, USER_QUOTA)
    assert_quota_exceeded(last)
    assert int(redis("GET", user_key(user["id"]))) == sum(sizes)
    # Spent for the token too, whichever address it comes from.
    assert_quota_exceeded(http("GET", PRICE, auth_headers(token), source=src_token))
    assert_quota_exceeded(http("GET", PRICE, auth_headers(token), source=src_anon))
    # Nothing was charged to the addresses, and anonymous use from them is still served.
    assert redis("GET", ip_key(src_key)) == "" and redis("GET", ip_key(src_token)) == ""
    assert http("GET", PRICE, source=src_key).status == 200
    # The user quota is the user's: below the anonymous quota of 2000, it was what applied.
    assert sum(sizes) < ANON_QUOTA
