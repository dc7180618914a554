"""API keys (API.md, API keys and Credentials): created by a user with a token, shown once, stored
only as their SHA-256; usable only on the market-data, forecast and portfolio routes, within their
scopes (`write` includes `read`); expiry, revocation, unknown and malformed keys, the address allow
list, the cap of 10 live keys (also under concurrent creation: the database function's advisory
lock), another user's key id (no BOLA), the buffered use counter, and the incident tools of
aspidactl (`key list`, `key revoke`, `revoke-sessions`).

Every test has a fresh user (emails carry the run's tag) and its own client address in
127.0.0.30-127.0.0.51, away from the addresses other modules use.
"""

import base64
import hashlib
import re
import secrets
import time

import pytest

from aspida_util import RFC3339_Z, assert_error, assert_security_headers, wait_for
from auth_helpers import auth_headers, concurrently, login, new_user, remember
from conftest import http

API = "/api/v1"
KEYS = API + "/keys"
PRICE = API + "/price/BTC"
KEY_RE = re.compile(r"^ak_[A-Za-z0-9_-]{43}$")
CREATE_KEYS = {"id", "name", "key", "prefix", "scopes", "allowed_ips", "expires_at"}
LIST_KEYS = {"id", "name", "prefix", "scopes", "allowed_ips", "created_at", "expires_at",
             "last_used_at", "use_count"}


def epoch(ts):
    return time.mktime(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone


def key_headers(key):
    return {"X-API-Key": key}


def create(token, source, **body):
    body.setdefault("name", "ci key")
    body.setdefault("scopes", ["read"])
    r = http("POST", KEYS, auth_headers(token), body=body, source=source)
    if r.status == 201:
        remember(r.json()["key"])
    return r


def create_ok(token, source, **body):
    r = create(token, source, **body)
    assert r.status == 201, r
    return r.json()


def listed(token, source):
    r = http("GET", KEYS, auth_headers(token), source=source)
    assert r.status == 200, r
    return r


def live_keys(psql, uid):
    return int(psql(f"SELECT count(*) FROM api_keys WHERE user_id = {int(uid)} AND revoked_at IS "
                    "NULL AND expires_at > now()"))


@pytest.fixture
def owner(request):
    """A fresh user, logged in, with this test's own address."""
    src = request.param if hasattr(request, "param") else "127.0.0.30"
    user = new_user("keys-" + request.node.name, src)
    user["src"] = src
    user["token"] = login(user, src)["access_token"]
    return user


def with_source(src):
    return pytest.mark.parametrize("owner", [src], indirect=True, ids=[src])


# --- creation ------------------------------------------------------------------------------------

@with_source("127.0.0.31")
def test_create_shape_and_key_shown_once(owner):
    r = create(owner["token"], owner["src"], name="reporting", scopes=["read", "write"],
               expires_in_days=1)
    assert r.status == 201, r
    assert_security_headers(r)
    k = r.json()
    assert set(k) == CREATE_KEYS, k
    assert KEY_RE.match(k["key"]), k["key"]
    assert len(k["key"]) == 3 + 43
    # 43 base64url characters without padding are 32 random bytes.
    assert len(base64.urlsafe_b64decode(k["key"][3:] + "=")) == 32
    assert k["prefix"] == k["key"][:9] and re.fullmatch(r"ak_[A-Za-z0-9_-]{6}", k["prefix"]), k
    assert k["name"] == "reporting" and k["scopes"] == ["read", "write"], k
    assert k["allowed_ips"] == [], k
    assert isinstance(k["id"], int) and k["id"] > 0, k
    assert RFC3339_Z.match(k["expires_at"]), k
    assert abs(epoch(k["expires_at"]) - (time.time() + 86400)) < 120, k

    # Default expiry: 30 days.
    d = create_ok(owner["token"], owner["src"])
    assert abs(epoch(d["expires_at"]) - (time.time() + 30 * 86400)) < 120, d

    r = listed(owner["token"], owner["src"])
    assert k["key"] not in r.text and k["key"][9:] not in r.text, "GET /keys shows the key"
    entries = {e["id"]: e for e in r.json()["keys"]}
    assert set(r.json()) == {"keys"}
    e = entries[k["id"]]
    assert set(e) == LIST_KEYS, e
    assert e["prefix"] == k["prefix"] and e["name"] == "reporting", e
    assert e["scopes"] == ["read", "write"] and e["allowed_ips"] == [], e
    assert e["expires_at"] == k["expires_at"] and RFC3339_Z.match(e["created_at"]), e
    assert e["last_used_at"] is None and e["use_count"] == 0, e
    # The key works: it was real, not just a string of the right shape.
    assert http("GET", PRICE, key_headers(k["key"]), source=owner["src"]).status == 200


@with_source("127.0.0.32")
@pytest.mark.parametrize("body", [
    {"name": "x", "scopes": ["admin"]},
    {"name": "x", "scopes": []},
    {"name": "x", "scopes": ["read", "read"]},
    {"name": "x", "scopes": ["read"], "expires_in_days": 0},
    {"name": "x", "scopes": ["read"], "expires_in_days": 91},
    {"name": "x", "scopes": ["read"], "allowed_ips": ["not-an-address"]},
    {"name": "x", "scopes": ["read"], "key": "ak_" + "A" * 43},
    {"name": "x", "scopes": ["read"], "user_id": 1},
    {"scopes": ["read"]},
    {"name": "x"},
], ids=lambda b: ",".join(f"{k}={v}" for k, v in b.items()))
def test_create_rejects_bad_input(owner, psql, body):
    r = http("POST", KEYS, auth_headers(owner["token"]), body=body, source=owner["src"])
    assert_error(r, 400, "invalid_input")
    assert live_keys(psql, owner["id"]) == 0


@with_source("127.0.0.33")
def test_plaintext_key_is_never_stored(owner, psql):
    k = create_ok(owner["token"], owner["src"])
    raw = base64.urlsafe_b64decode(k["key"][3:] + "=")
    row = psql(f"SELECT row_to_json(k)::text FROM api_keys k WHERE id = {k['id']}")
    assert row, "no row for the key"
    # Neither the key, its random part, a long piece of it, nor its bytes in hex.
    for needle in (k["key"], k["key"][3:], k["key"][9:30], raw.hex(), raw.hex()[:24]):
        assert needle not in row, f"the key ({needle[:8]}...) is stored: {row}"
    stored = psql(f"SELECT encode(key_hash, 'hex'), prefix FROM api_keys WHERE id = {k['id']}")
    assert stored == hashlib.sha256(k["key"].encode()).hexdigest() + "|" + k["prefix"], stored


# --- use -----------------------------------------------------------------------------------------

@with_source("127.0.0.34")
def test_key_serves_market_and_forecast_routes(owner):
    k = create_ok(owner["token"], owner["src"])
    h = key_headers(k["key"])
    for path in (PRICE, API + "/prices/BTC?limit=5", API + "/assets"):
        r = http("GET", path, h, source=owner["src"])
        assert r.status == 200, (path, r)
    r = http("POST", API + "/predict/BTC", h, body=b"", source=owner["src"])
    assert r.status == 200, r


@with_source("127.0.0.35")
def test_key_is_refused_outside_its_routes(owner, psql):
    k = create_ok(owner["token"], owner["src"])
    other = create_ok(owner["token"], owner["src"], name="other")
    h = key_headers(k["key"])
    assert_error(http("GET", API + "/auth/me", h, source=owner["src"]), 403, "forbidden")
    # A key cannot manage keys: not list, not create, not delete (not even itself).
    assert_error(http("GET", KEYS, h, source=owner["src"]), 403, "forbidden")
    r = http("POST", KEYS, h, body={"name": "from a key", "scopes": ["read"]}, source=owner["src"])
    assert_error(r, 403, "forbidden")
    for victim in (other["id"], k["id"]):
        assert_error(http("DELETE", f"{KEYS}/{victim}", h, source=owner["src"]), 403, "forbidden")
    assert live_keys(psql, owner["id"]) == 2
    assert http("GET", PRICE, key_headers(other["key"]), source=owner["src"]).status == 200
    assert http("GET", PRICE, h, source=owner["src"]).status == 200


@with_source("127.0.0.36")
def test_write_scope_includes_read(owner):
    # POST /predict needs `read`; a key with only `write` may call it (API.md: write includes
    # read). The other half, a `read` key on a `write` route, is the next test.
    k = create_ok(owner["token"], owner["src"], scopes=["write"])
    assert k["scopes"] == ["write"]
    r = http("POST", API + "/predict/BTC", key_headers(k["key"]), body=b"", source=owner["src"])
    assert r.status == 200, r
    r = http("GET", PRICE, key_headers(k["key"]), source=owner["src"])
    assert r.status == 200, r


@with_source("127.0.0.37")
def test_read_key_on_a_write_route_is_insufficient_scope(owner):
    # The only routes that need `write` are the portfolio trades, which are not written yet: until
    # they are, this test skips; it checks itself once POST /portfolio/buy exists.
    k = create_ok(owner["token"], owner["src"], scopes=["read"])
    body = {"asset_id": "BTC", "quantity": "1"}
    r = http("POST", API + "/portfolio/buy", key_headers(k["key"]), body=body, source=owner["src"])
    if r.status == 404 and r.json()["error"]["code"] == "not_found":
        pytest.skip("no route needs `write` yet (the portfolio routes are pending)")
    assert_error(r, 403, "insufficient_scope")


@with_source("127.0.0.38")
def test_expired_key_is_token_expired(owner, psql):
    k = create_ok(owner["token"], owner["src"])
    assert http("GET", PRICE, key_headers(k["key"]), source=owner["src"]).status == 200
    # The table insists on expires_at > created_at, so both move into the past.
    psql(f"UPDATE api_keys SET created_at = now() - interval '2 days', "
         f"expires_at = now() - interval '1 second' WHERE id = {k['id']}")
    for path in (PRICE, API + "/assets"):
        assert_error(http("GET", path, key_headers(k["key"]), source=owner["src"]), 401,
                     "token_expired")


@with_source("127.0.0.39")
def test_revoked_key_is_unauthorized(owner, psql):
    k = create_ok(owner["token"], owner["src"])
    keep = create_ok(owner["token"], owner["src"], name="kept")
    assert http("GET", PRICE, key_headers(k["key"]), source=owner["src"]).status == 200
    r = http("DELETE", f"{KEYS}/{k['id']}", auth_headers(owner["token"]), source=owner["src"])
    assert r.status == 204 and r.body == b"", r
    assert_error(http("GET", PRICE, key_headers(k["key"]), source=owner["src"]), 401,
                 "unauthorized")
    assert psql(f"SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = {k['id']}") == "t"
    ids = [e["id"] for e in listed(owner["token"], owner["src"]).json()["keys"]]
    assert ids == [keep["id"]], ids
    # Revoking twice: nothing live there any more.
    r = http("DELETE", f"{KEYS}/{k['id']}", auth_headers(owner["token"]), source=owner["src"])
    assert_error(r, 404, "not_found")
    assert http("GET", PRICE, key_headers(keep["key"]), source=owner["src"]).status == 200


@with_source("127.0.0.40")
def test_unknown_and_malformed_keys_are_unauthorized(owner):
    k = create_ok(owner["token"], owner["src"])
    good = k["key"]
    flipped = good[:-1] + ("A" if good[-1] != "A" else "B")
    unknown = "ak_" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    malformed = ["ak_short", "ak_" + "A" * 42, "ak_" + "A" * 44, "ak_" + "!" * 43,
                 "bk_" + good[3:], "AK_" + good[3:], good + "x", "x" + good[1:],
                 "ak_" + good[3:-1] + "=", "ak_" + good[3:-1] + "+"]
    for key in [flipped, unknown] + malformed:
        for path in (PRICE, API + "/assets"):
            r = http("GET", path, key_headers(key), source=owner["src"])
            assert_error(r, 401, "unauthorized")
    assert http("GET", PRICE, key_headers(good), source=owner["src"]).status == 200


@with_source("127.0.0.41")
def test_key_outside_its_allowed_ips_is_refused(owner):
    k = create_ok(owner["token"], owner["src"], allowed_ips=["127.0.0.50/32"])
    assert k["allowed_ips"] == ["127.0.0.50/32"], k
    h = key_headers(k["key"])
    for src in ("127.0.0.51", owner["src"]):
        assert_error(http("GET", PRICE, h, source=src), 403, "ip_not_allowed")
    r = http("GET", PRICE, h, source="127.0.0.50")
    assert r.status == 200, r
    # A spoofed X-Forwarded-For from an untrusted peer changes nothing (trusted_proxies empty).
    r = http("GET", PRICE, dict(h, **{"X-Forwarded-For": "127.0.0.50"}), source="127.0.0.51")
    assert_error(r, 403, "ip_not_allowed")


# --- the cap of 10 live keys ---------------------------------------------------------------------

@with_source("127.0.0.42")
def test_at_most_ten_live_keys(owner, psql):
    made = [create_ok(owner["token"], owner["src"], name=f"k{i}") for i in range(10)]
    assert_error(create(owner["token"], owner["src"], name="eleventh"), 409, "conflict")
    assert live_keys(psql, owner["id"]) == 10
    # A revoked key and an expired key no longer count.
    r = http("DELETE", f"{KEYS}/{made[0]['id']}", auth_headers(owner["token"]), source=owner["src"])
    assert r.status == 204, r
    create_ok(owner["token"], owner["src"], name="after revoke")
    assert_error(create(owner["token"], owner["src"], name="twelfth"), 409, "conflict")
    psql(f"UPDATE api_keys SET created_at = now() - interval '2 days', "
         f"expires_at = now() - interval '1 second' WHERE id = {made[1]['id']}")
    create_ok(owner["token"], owner["src"], name="after expiry")
    assert_error(create(owner["token"], owner["src"], name="thirteenth"), 409, "conflict")
    assert live_keys(psql, owner["id"]) == 10


@with_source("127.0.0.43")
def test_concurrent_creations_never_exceed_ten(owner, psql):
    for i in range(5):
        create_ok(owner["token"], owner["src"], name=f"first{i}")
    results = concurrently(lambda i: create(owner["token"], owner["src"], name=f"race{i}"),
                           [(i,) for i in range(10)])
    statuses = sorted(r.status if hasattr(r, "status") else r for r in results)
    assert statuses == [201] * 5 + [409] * 5, statuses
    for r in results:
        if r.status == 409:
            assert_error(r, 409, "conflict")
    assert live_keys(psql, owner["id"]) == 10
    assert len(listed(owner["token"], owner["src"]).json()["keys"]) == 10


@with_source("127.0.0.44")
def test_another_users_key_id_is_not_found(owner, psql):
    k = create_ok(owner["token"], owner["src"])
    src_b = "127.0.0.45"
    b = new_user("keys-bola-b", src_b)
    tb = login(b, src_b)["access_token"]
    r = http("DELETE", f"{KEYS}/{k['id']}", auth_headers(tb), source=src_b)
    assert_error(r, 404, "not_found")
    # Same answer as for an id that does not exist at all: no oracle.
    r2 = http("DELETE", f"{KEYS}/999999999", auth_headers(tb), source=src_b)
    assert_error(r2, 404, "not_found")
    assert r.json()["error"]["message"] == r2.json()["error"]["message"]
    assert psql(f"SELECT revoked_at IS NULL FROM api_keys WHERE id = {k['id']}") == "t"
    assert http("GET", PRICE, key_headers(k["key"]), source=owner["src"]).status == 200
    assert listed(tb, src_b).json()["keys"] == []


# --- use counting --------------------------------------------------------------------------------

@with_source("127.0.0.46")
def test_use_is_counted(owner, psql, redis):
    # Uses are counted in the Redis hashes aspida:keyuse / aspida:keylast and written to api_keys
    # by each worker at most once a minute (API.md: last_used_at and use_count may lag by up to
    # 60 s). That lag allows the DB row to trail for up to a minute, never to lose or double a
    # use: a flush renames the hash away before writing it out. So at every moment the uses in
    # Redis plus those in the row add up to what was made; the test holds that sum to N rather
    # than waiting a minute for a flush.
    k = create_ok(owner["token"], owner["src"])
    n = 7
    start = time.time()
    for _ in range(n):
        assert http("GET", PRICE, key_headers(k["key"]), source=owner["src"]).status == 200

    def counted():
        pending = redis("HGET", "aspida:keyuse", k["id"]) or "0"
        row = psql(f"SELECT use_count, coalesce(extract(epoch FROM last_used_at)::bigint, 0) "
                   f"FROM api_keys WHERE id = {k['id']}")
        db_count, db_last = map(int, row.split("|"))
        return (int(pending), db_count, db_last) if int(pending) + db_count == n else None
    pending, db_count, db_last = wait_for(counted, 5, interval=0.1, what=f"{n} uses counted")
    if db_count:
        # Flushed (a fresh worker flushes on its first request): the row carries the time.
        assert start - 2 <= db_last <= time.time() + 2, db_last
    if pending:
        last = int(redis("HGET", "aspida:keylast", k["id"]))
        assert start - 2 <= last <= time.time() + 2, last
    e = [e for e in listed(owner["token"], owner["src"]).json()["keys"] if e["id"] == k["id"]][0]
    assert e["use_count"] == db_count, (e, db_count)
    assert (e["last_used_at"] is None) == (db_count == 0), e


# --- aspidactl -----------------------------------------------------------------------------------

@with_source("127.0.0.47")
def test_aspidactl_key_list_and_revoke(owner, ctl):
    k = create_ok(owner["token"], owner["src"], name="ctl listed")
    assert http("GET", PRICE, key_headers(k["key"]), source=owner["src"]).status == 200
    p = ctl("key", "list", owner["email"])
    assert p.returncode == 0, p
    assert k["key"] not in p.stdout and k["key"][9:] not in p.stdout
    rows = [line.split("\t") for line in p.stdout.splitlines()[1:]]
    row = [x for x in rows if x[0] == str(k["id"])]
    assert len(row) == 1, p.stdout
    assert row[0][1] == owner["email"] and row[0][3] == k["prefix"] and row[0][5] == "live", row

    p = ctl("key", "revoke", k["id"])
    assert p.returncode == 0, p
    assert_error(http("GET", PRICE, key_headers(k["key"]), source=owner["src"]), 401,
                 "unauthorized")
    p = ctl("key", "list", owner["email"])
    assert [x for x in p.stdout.splitlines() if x.startswith(f"{k['id']}\t")][0].split("\t")[5] \
        == "revoked", p.stdout
    assert ctl("key", "revoke", k["id"]).returncode != 0


@with_source("127.0.0.48")
def test_aspidactl_revoke_sessions_kills_tokens_and_keys(owner, ctl, psql):
    k = create_ok(owner["token"], owner["src"])
    assert http("GET", API + "/auth/me", auth_headers(owner["token"]), source=owner["src"]).status \
        == 200
    assert http("GET", PRICE, key_headers(k["key"]), source=owner["src"]).status == 200
    p = ctl("revoke-sessions", owner["email"])
    assert p.returncode == 0, p
    assert_error(http("GET", API + "/auth/me", auth_headers(owner["token"]), source=owner["src"]),
                 401, "token_revoked")
    assert_error(http("GET", PRICE, key_headers(k["key"]), source=owner["src"]), 401,
                 "unauthorized")
    assert live_keys(psql, owner["id"]) == 0
