"""The web server in front (lighttpd or Apache with mod_fcgid), the smoke subset that runs in every
worker mode: every route of aspida reached once through it, the credentials headers (Authorization,
X-Api-Key, the feed's X-Source and X-Signature) passed through untouched, the client's own address
(no mod_extforward, no mod_remoteip), only the four path groups routed to aspida, a body over the
web server's limit refused by the web server itself and one between aspida's limit and the web
server's refused by aspida, and the operations paths.

Whether an answer is aspida's is told by X-Request-Id: aspida puts one on every response, the web
servers never do. Addresses: 127.0.0.1 for the admin calls (admin_allow_ips) and the metrics; the
module's own address from source_for() for the rest; 127.0.0.23 for the refused /metrics.
"""

import hashlib
import hmac
import json
import shlex
import subprocess
import time

import pytest

from aspida_util import REQUEST_ID, assert_error
from auth_helpers import (auth_headers, email_for, login, new_user, remember, source_for,
                          strong_password)
from conftest import SECURITY_HEADERS, http

pytestmark = pytest.mark.smoke

API = "/api/v1"
SRC = source_for("webserver-smoke")
ADMIN_SRC = "127.0.0.1"
# TEST-NET-2: an address no client of the stack ever uses, for the block list route.
BLOCK_CIDR = "198.51.100.77/32"
# Twice the larger of max_body_bytes (64 KiB) and ingest_max_body_bytes (256 KiB): the web server's
# limit in lighttpd/aspida.conf, apache/aspida.conf and the stack's configurations.
WEB_SERVER_LIMIT = 512 * 1024


def aspidas(r, *statuses):
    """An answer of aspida's (a request id of its own) with one of the statuses; returns r."""
    assert r.status in statuses, (statuses, r)
    rid = r.header_all("X-Request-Id")
    assert len(rid) == 1 and REQUEST_ID.match(rid[0]), ("not aspida's answer", r, r.headers)
    for name, value in SECURITY_HEADERS.items():
        assert r.header_all(name) == [value], (name, r.headers)
    return r


def web_servers(r, status):
    """An answer the web server made itself: aspida never saw the request."""
    assert r.status == status, r
    assert r.header("X-Request-Id") is None, ("aspida answered", r, r.headers)
    return r


@pytest.fixture(scope="module")
def user():
    u = new_user("webserver-smoke", SRC)
    u["token"] = login(u, SRC)["access_token"]
    return u


@pytest.fixture(scope="module")
def admin(env):
    email = email_for("webserver-smoke-admin")
    password = strong_password("webserver-smoke-admin")
    remember(password)
    p = subprocess.run(shlex.split(env["ASPIDA_CTL"]) + ["user", "add", email, "--admin"],
                       input=password + "\n", capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p
    u = {"email": email, "password": password, "id": int(p.stdout.rsplit("(id ", 1)[1].rstrip(")\n"))}
    u["token"] = login(u, ADMIN_SRC)["access_token"]
    return u


def test_authorization_header_reaches_aspida(user):
    h = auth_headers(user["token"])
    body = aspidas(http("GET", API + "/auth/me", h, source=SRC), 200).json()
    assert body["email"] == user["email"], body
    # Without the header, or with a damaged one, aspida refuses: the header is what it judged.
    assert_error(http("GET", API + "/auth/me", source=SRC), 401)
    assert_error(http("GET", API + "/auth/me", auth_headers(user["token"][:-2] + "xx"), source=SRC), 401)


def test_auth_routes(user):
    pair = login(user, SRC)
    r = aspidas(http("POST", API + "/auth/refresh", body={"refresh_token": pair["refresh_token"]},
                     source=SRC), 200)
    pair = r.json()
    remember(pair["access_token"], pair["refresh_token"])
    aspidas(http("POST", API + "/auth/logout", auth_headers(pair["access_token"]), b"", source=SRC), 204)
    # The password route judges its body before anything else: a 400 proves it ran.
    assert_error(http("POST", API + "/auth/password", auth_headers(user["token"]), body={},
                      source=SRC), 400)


def test_api_key_routes_and_x_api_key(user):
    h = auth_headers(user["token"])
    r = aspidas(http("POST", API + "/keys", h, body={"name": "smoke", "scopes": ["read"]}, source=SRC), 201)
    key = r.json()
    remember(key["key"])
    listed = aspidas(http("GET", API + "/keys", h, source=SRC), 200).json()["keys"]
    assert key["id"] in [k["id"] for k in listed], listed
    aspidas(http("GET", API + "/price/BTC", {"X-Api-Key": key["key"]}, source=SRC), 200)
    assert_error(http("GET", API + "/price/BTC", {"X-Api-Key": key["key"][:-2] + "xx"}, source=SRC), 401)
    aspidas(http("DELETE", f"{API}/keys/{key['id']}", h, source=SRC), 204)
    assert_error(http("GET", API + "/price/BTC", {"X-Api-Key": key["key"]}, source=SRC), 401)


def test_market_and_forecast_routes(user):
    h = auth_headers(user["token"])
    aspidas(http("GET", API + "/assets", source=SRC), 200)
    aspidas(http("GET", API + "/price/BTC", source=SRC), 200)
    r = aspidas(http("GET", API + "/prices/BTC?limit=2", source=SRC), 200)
    assert len(r.json()["points"]) == 2, r
    # 409 when the asset has too few points, 503 when every forecast slot is taken: still aspida's.
    aspidas(http("POST", API + "/predict/BTC", h, body={"horizon_hours": 24}, source=SRC), 200, 409, 503)


def test_portfolio_routes(user):
    h = auth_headers(user["token"])
    aspidas(http("GET", API + "/portfolio", h, source=SRC), 200)
    # 409 when the demo data's latest price is older than max_trade_price_age.
    buy = aspidas(http("POST", API + "/portfolio/buy", h, body={"asset_id": "BTC", "quantity": "0.001"},
                       source=SRC), 200, 409)
    sell = aspidas(http("POST", API + "/portfolio/sell", h, body={"asset_id": "BTC", "quantity": "0.001"},
                        source=SRC), 200, 409)
    assert (buy.status == 200) == (sell.status == 200), (buy, sell)
    aspidas(http("GET", API + "/portfolio/trades", h, source=SRC), 200)


def test_ingest_signature_headers_reach_aspida(env):
    body = json.dumps({"points": [{"asset_id": "BTC", "price": "1",
                                   "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                       time.gmtime(time.time() - 30 * 86400))}]}).encode()
    key = env["ASPIDA_SOURCE_SECRET"].encode()
    sig = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    h = {"Content-Type": "application/json", "X-Source": env["ASPIDA_SOURCE_NAME"], "X-Signature": sig}
    # Signed: judged point by point (a month old: stale, so nothing is stored).
    r = aspidas(http("POST", API + "/ingest/prices", h, body), 200)
    assert r.json() == {"accepted": 0, "rejected": [{"index": 0, "reason": "stale"}]}, r
    h["X-Signature"] = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    assert_error(http("POST", API + "/ingest/prices", h, body), 401)


def test_admin_routes(admin, user):
    h = auth_headers(admin["token"])
    r = aspidas(http("POST", API + "/admin/ip-blocks", h, source=ADMIN_SRC,
                     body={"cidr": BLOCK_CIDR, "reason": "webserver smoke", "expires_in_minutes": 1}),
                200, 201)
    listed = aspidas(http("GET", API + "/admin/ip-blocks", h, source=ADMIN_SRC), 200).json()
    mine = [b for b in listed["ip_blocks"]
            if b["cidr"] == BLOCK_CIDR and b["created_by"] == f"admin:{admin['id']}"]
    assert len(mine) == 1, (r, listed)
    aspidas(http("DELETE", f"{API}/admin/ip-blocks/{mine[0]['id']}", h, source=ADMIN_SRC), 204)
    aspidas(http("POST", f"{API}/admin/users/{user['id']}/unlock", h, b"", source=ADMIN_SRC), 200, 204)
    other = new_user("webserver-smoke-revoked", SRC)
    aspidas(http("POST", f"{API}/admin/users/{other['id']}/revoke-sessions", h, b"", source=ADMIN_SRC),
            200, 204)


def test_ops_paths():
    r = aspidas(http("GET", "/healthz"), 200)
    assert r.json() == {"status": "ok"}
    r = aspidas(http("GET", "/readyz"), 200)
    assert r.json() == {"status": "ok"}
    r = aspidas(http("GET", "/metrics"), 200)
    assert r.header("Content-Type").startswith("text/plain"), r.headers
    assert b"aspida_" in r.body, r.body[:200]


def test_client_address_is_the_peers_own():
    # metrics_allow_ips is loopback's 127.0.0.1 only: another loopback address is refused, and a
    # forwarding header naming 127.0.0.1 changes nothing (no mod_extforward, no mod_remoteip).
    assert_error(http("GET", "/metrics", source="127.0.0.23"), 404)
    for name in ("X-Forwarded-For", "X-Real-IP", "Forwarded", "Client-IP"):
        value = "for=127.0.0.1" if name == "Forwarded" else "127.0.0.1"
        assert_error(http("GET", "/metrics", {name: value}, source="127.0.0.23"), 404)


@pytest.mark.parametrize("path", ["/", "/index.html", "/aspida.fcgi", "/api", "/apix/v1/assets",
                                  "/healthz/x", "/metricsx", "/.aspida-error/404.json"])
def test_only_the_four_path_groups_reach_aspida(path):
    r = http("GET", path)
    assert r.header("X-Request-Id") is None, (path, r, r.headers)
    assert r.status in (403, 404), (path, r)
    for name, value in SECURITY_HEADERS.items():
        assert r.header(name) == value, (path, name, r.headers)


def test_oversized_bodies(env, user):
    h = {"Content-Type": "application/json"}
    # Over aspida's max_body_bytes, under the web server's limit: aspida's own JSON 413, decided from
    # Content-Length.
    assert_error(http("POST", API + "/auth/login", h, b"{" + b" " * 69998 + b"}", source=SRC), 413,
                 "payload_too_large")
    # Over the web server's limit: its own 413, and aspida never sees the request.
    for path in (API + "/auth/login", API + "/portfolio/buy", "/no-such-page"):
        r = web_servers(http("POST", path, h, b"x" * (WEB_SERVER_LIMIT + 1), source=SRC), 413)
        if env.get("ASPIDA_MODE") == "apache":
            # Apache's error replies carry API.md's headers; lighttpd's own refusals do not (the
            # strict xfail in test_headers.py).
            for name, value in SECURITY_HEADERS.items():
                assert r.header(name) == value, (path, name, r.headers)
    # Exactly at the limit is the web server's to pass on: aspida answers (its own 413).
    assert_error(http("POST", API + "/auth/login", h, b"x" * WEB_SERVER_LIMIT, source=SRC), 413,
                 "payload_too_large")
