"""Admin routes (API.md, Admin): hidden (404, the plain not_found of any unknown path) from an
address outside admin_allow_ips, even with a valid admin token; 401 without credentials and 403
forbidden for a non-admin or any API key (an admin's too) from an allowed address; loopback with an
X-Forwarded-For while trusted_proxies is empty does not count as loopback (API.md, The client's
address). The block list through the routes and through `aspidactl ip` (a block reaches every
worker within about a second), unlock and revoke-sessions.

The module sets admin_allow_ips = 127.0.0.1/32 and an empty trusted_proxies (restored
afterwards); admins are made with `aspidactl user add --admin`. Addresses: 127.0.0.1 (the allowed
one for admin calls), 127.0.0.56-127.0.0.65.
"""

import time

import pytest

from aspida_util import assert_error, wait_for
from auth_helpers import (auth_headers, email_for, login, login_raw, module_conf, new_user,
                          remember, same_error, strong_password)
from conftest import http

API = "/api/v1"
BLOCKS = API + "/admin/ip-blocks"
PRICE = API + "/price/BTC"
ALLOWED = "127.0.0.1"
OUTSIDE = "127.0.0.60"
MINE = "127.0.0.56/29"      # every address this module may block: 127.0.0.56-127.0.0.63

# trusted_proxies empty (the default, made explicit): the X-Forwarded-For test depends on it.
_admin_conf = module_conf(admin_allow_ips="127.0.0.1/32", trusted_proxies="")


def admin_routes(uid=1, block_id=1):
    return [
        ("GET", BLOCKS, None),
        ("POST", BLOCKS, {"cidr": "127.0.0.59/32", "reason": "hidden"}),
        ("DELETE", f"{BLOCKS}/{block_id}", None),
        ("POST", f"{API}/admin/users/{uid}/unlock", b""),
        ("POST", f"{API}/admin/users/{uid}/revoke-sessions", b""),
    ]


@pytest.fixture
def admin(ctl, request):
    """A fresh admin made with aspidactl, logged in; {"email", "password", "id", "token"}."""
    email = email_for("admin-" + request.node.name)
    password = strong_password("admin-" + request.node.name)
    p = ctl("user", "add", email, "--admin", input=password + "\n")
    assert p.returncode == 0, p
    uid = int(p.stdout.rsplit("(id ", 1)[1].rstrip(")\n"))
    user = {"email": email, "password": password, "id": uid}
    user["token"] = login(user, ALLOWED)["access_token"]
    return user


@pytest.fixture
def blocks(psql, redis):
    """Ends every block of this module's addresses afterwards, whatever the test did."""
    yield
    psql("UPDATE ip_blocks SET expires_at = greatest(now(), created_at + interval '1 microsecond') "
         f"WHERE cidr <<= '{MINE}'::cidr AND (expires_at IS NULL OR expires_at > now())")
    redis("INCR", "aspida:blocks:ver")


def served_everywhere(src, status, n=8):
    """n requests in a row from src all answer status (every worker has the change)."""
    return all(http("GET", PRICE, source=src).status == status for _ in range(n))


def wait_all(src, status, timeout=5):
    wait_for(lambda: served_everywhere(src, status), timeout, interval=0.1,
             what=f"{src} answered {status} by every worker")


# --- who may call them ---------------------------------------------------------------------------

def test_hidden_outside_admin_allow_ips(admin, psql):
    h = auth_headers(admin["token"])
    # The control: the same token from the allowed address is served.
    assert http("GET", BLOCKS, h, source=ALLOWED).status == 200
    plain = http("GET", API + "/no-such-route", source=OUTSIDE)
    assert_error(plain, 404, "not_found")
    for method, path, body in admin_routes(uid=admin["id"]):
        for headers in (h, None):
            r = http(method, path, headers, body=body, source=OUTSIDE)
            assert_error(r, 404, "not_found")
            assert same_error(r, plain), (method, path, r)
    assert psql("SELECT count(*) FROM ip_blocks WHERE cidr = '127.0.0.59/32'") == "0"


def test_no_credentials_is_unauthorized(admin):
    for method, path, body in admin_routes(uid=admin["id"]):
        assert_error(http(method, path, body=body, source=ALLOWED), 401, "unauthorized")


def test_non_admin_is_forbidden(admin, psql):
    user = new_user("admin-nonadmin", "127.0.0.61")
    token = login(user, "127.0.0.61")["access_token"]
    assert http("GET", API + "/auth/me", auth_headers(token), source=ALLOWED).status == 200
    for method, path, body in admin_routes(uid=user["id"]):
        r = http(method, path, auth_headers(token), body=body, source=ALLOWED)
        assert_error(r, 403, "forbidden")
    assert psql("SELECT count(*) FROM ip_blocks WHERE cidr = '127.0.0.59/32'") == "0"


def test_admin_api_key_is_forbidden(admin, psql):
    r = http("POST", API + "/keys", auth_headers(admin["token"]),
             body={"name": "admin key", "scopes": ["read", "write"]}, source=ALLOWED)
    assert r.status == 201, r
    key = r.json()["key"]
    remember(key)
    assert http("GET", PRICE, {"X-API-Key": key}, source=ALLOWED).status == 200
    for method, path, body in admin_routes(uid=admin["id"]):
        r = http(method, path, {"X-API-Key": key}, body=body, source=ALLOWED)
        assert_error(r, 403, "forbidden")
    assert psql("SELECT count(*) FROM ip_blocks WHERE cidr = '127.0.0.59/32'") == "0"


def test_forwarded_loopback_is_not_allowed(admin):
    # trusted_proxies is empty in the test stack: an X-Forwarded-For from loopback means a proxy
    # on this host that nobody declared, so loopback stops counting for admin_allow_ips.
    h = auth_headers(admin["token"])
    assert http("GET", BLOCKS, h, source=ALLOWED).status == 200
    for xff in ("127.0.0.1", "203.0.113.9", "127.0.0.1, 127.0.0.1"):
        r = http("GET", BLOCKS, dict(h, **{"X-Forwarded-For": xff}), source=ALLOWED)
        assert_error(r, 404, "not_found")


# --- the block list ------------------------------------------------------------------------------

def test_ip_block_routes(admin, blocks):
    h = auth_headers(admin["token"])
    target, bystander = "127.0.0.62", "127.0.0.63"
    assert served_everywhere(target, 200, n=2)
    r = http("POST", BLOCKS, h, body={"cidr": target + "/32", "reason": "ci block",
                                      "expires_in_minutes": 10}, source=ALLOWED)
    assert r.status == 201, r
    created = r.json()
    assert isinstance(created.get("id"), int), created
    assert created == {"id": created["id"], "cidr": target + "/32", "reason": "ci block"}, created
    t0 = time.monotonic()
    wait_all(target, 403)
    assert time.monotonic() - t0 < 4
    assert_error(http("GET", PRICE, source=target), 403, "forbidden")
    assert http("GET", PRICE, source=bystander).status == 200

    listed = http("GET", BLOCKS, h, source=ALLOWED)
    assert listed.status == 200, listed
    mine = [b for b in listed.json()["ip_blocks"] if b["cidr"] == target + "/32"]
    assert len(mine) == 1, listed.json()
    b = mine[0]
    assert b["id"] == created["id"], (b, created)
    assert set(b) == {"id", "cidr", "reason", "created_by", "automatic", "created_at",
                      "expires_at"}, b
    assert b["reason"] == "ci block" and b["automatic"] is False, b
    assert b["created_by"] == f"admin:{admin['id']}", b
    assert b["expires_at"] is not None and b["expires_at"] > b["created_at"], b

    r = http("DELETE", f"{BLOCKS}/{b['id']}", h, source=ALLOWED)
    assert r.status == 204 and r.body == b"", r
    wait_all(target, 200)
    ids = [x["id"] for x in http("GET", BLOCKS, h, source=ALLOWED).json()["ip_blocks"]]
    assert b["id"] not in ids
    assert_error(http("DELETE", f"{BLOCKS}/{b['id']}", h, source=ALLOWED), 404, "not_found")


def test_ip_block_rejects_bad_cidr(admin, psql):
    h = auth_headers(admin["token"])
    for cidr in ("127.0.0.256/32", "127.0.0.1/33", "not an address", "127.0.0.1/8x"):
        r = http("POST", BLOCKS, h, body={"cidr": cidr, "reason": "bad"}, source=ALLOWED)
        assert_error(r, 400, "invalid_input")
    r = http("POST", BLOCKS, h, body={"cidr": "127.0.0.58/32", "reason": "x", "extra": 1},
             source=ALLOWED)
    assert_error(r, 400, "invalid_input")
    assert psql("SELECT count(*) FROM ip_blocks WHERE reason = 'bad'") == "0"


def test_aspidactl_ip_block_list_unblock(admin, ctl, blocks):
    h = auth_headers(admin["token"])
    target = "127.0.0.61"
    assert served_everywhere(target, 200, n=2)
    p = ctl("ip", "block", target + "/32", "--minutes", "10", "--reason", "ci ctl block")
    assert p.returncode == 0, p
    wait_all(target, 403)
    assert http("GET", PRICE, source="127.0.0.63").status == 200

    p = ctl("ip", "list")
    assert p.returncode == 0, p
    rows = [line.split("\t") for line in p.stdout.splitlines()[1:]]
    mine = [x for x in rows if x[1] == target + "/32"]
    assert len(mine) == 1, p.stdout
    block_id = mine[0][0]
    assert mine[0][2] == "ci ctl block" and mine[0][3] == "aspidactl" and mine[0][4] == "manual"
    # The routes see the same list.
    ids = [str(x["id"]) for x in http("GET", BLOCKS, h, source=ALLOWED).json()["ip_blocks"]]
    assert block_id in ids

    p = ctl("ip", "unblock", block_id)
    assert p.returncode == 0, p
    wait_all(target, 200)
    p = ctl("ip", "list")
    assert target + "/32" not in p.stdout, p.stdout
    assert ctl("ip", "unblock", block_id).returncode != 0


# --- incident tools for accounts -----------------------------------------------------------------

def test_unlock_lifts_a_lock(admin):
    src = "127.0.0.64"
    user = new_user("admin-locked", src)
    wrong = strong_password("admin-locked-wrong")
    codes = [login_raw(user["email"], wrong, src).status for _ in range(5)]
    assert codes == [401] * 5, codes
    r = login_raw(user["email"], user["password"], src)
    assert_error(r, 423, "account_locked")

    r = http("POST", f"{API}/admin/users/{user['id']}/unlock", auth_headers(admin["token"]),
             body=b"", source=ALLOWED)
    assert r.status == 204 and r.body == b"", r
    r = login_raw(user["email"], user["password"], src)
    assert r.status == 200, r
    r = http("POST", f"{API}/admin/users/999999999/unlock", auth_headers(admin["token"]),
             body=b"", source=ALLOWED)
    assert_error(r, 404, "not_found")


def test_revoke_sessions_kills_tokens_and_keys(admin, psql):
    src = "127.0.0.65"
    user = new_user("admin-revoked", src)
    token = login(user, src)["access_token"]
    r = http("POST", API + "/keys", auth_headers(token), body={"name": "k", "scopes": ["read"]},
             source=src)
    assert r.status == 201, r
    key = r.json()["key"]
    remember(key)
    assert http("GET", API + "/auth/me", auth_headers(token), source=src).status == 200
    assert http("GET", PRICE, {"X-API-Key": key}, source=src).status == 200

    r = http("POST", f"{API}/admin/users/{user['id']}/revoke-sessions",
             auth_headers(admin["token"]), body=b"", source=ALLOWED)
    assert r.status == 204 and r.body == b"", r
    assert_error(http("GET", API + "/auth/me", auth_headers(token), source=src), 401,
                 "token_revoked")
    assert_error(http("GET", PRICE, {"X-API-Key": key}, source=src), 401, "unauthorized")
    assert psql(f"SELECT count(*) FROM api_keys WHERE user_id = {user['id']} AND revoked_at IS "
                "NULL") == "0"
    # The admin's own session is untouched, and a new login of the user works.
    assert http("GET", BLOCKS, auth_headers(admin["token"]), source=ALLOWED).status == 200
    assert http("GET", API + "/auth/me", auth_headers(login(user, src)["access_token"]),
                source=src).status == 200
    r = http("POST", f"{API}/admin/users/999999999/revoke-sessions", auth_headers(admin["token"]),
             body=b"", source=ALLOWED)
    assert_error(r, 404, "not_found")
