"""Response headers against the real stack (API.md, "Headers on every response" and "CORS"):
security headers, Vary: Origin, aspida's own request ids, no HSTS over plain http, CORS preflight
and the origin allow list (cors_origins of the stack's aspida.conf, read through ASPIDA_CONF).
"""

import pytest

from aspida_util import (CSV_TYPE, REQUEST_ID, assert_error, assert_security_headers,
                         conf_list)

UNLISTED_ORIGINS = [
    "https://evil.test", "null", "http://127.0.0.1:1", "*",
]

# Every kind of answer aspida gives without a dependency failing: 200, 204, 400, 401, 404, 405,
# and the operations routes. (503 is checked in test_dependencies.)
RESPONSES = [
    ("GET", "/api/v1/assets", None, 200),
    ("GET", "/api/v1/price/BTC", None, 200),
    ("GET", "/api/v1/prices/BTC?limit=2", None, 200),
    ("GET", "/api/v1/price/btc", None, 400),
    ("GET", "/api/v1/prices/BTC?limit=0", None, 400),
    ("GET", "/api/v1/price/BTC", {"Authorization": "Bearer x"}, 401),
    ("GET", "/api/v1/price/NOSUCH", None, 404),
    ("GET", "/api/v1/price/NOPTS", None, 404),
    ("GET", "/api/v1/nope", None, 404),
    ("DELETE", "/api/v1/price/BTC", None, 405),
    ("GET", "/healthz", None, 200),
    ("GET", "/readyz", None, 200),
    ("POST", "/healthz", None, 405),
    ("OPTIONS", "/api/v1/price/BTC", {"Origin": "https://evil.test"}, 204),
]


@pytest.mark.parametrize("method,path,headers,status", RESPONSES)
def test_security_headers_on_every_response(http, method, path, headers, status):
    r = http(method, path, headers, b"" if method in ("POST", "DELETE") else None)
    assert r.status == status, r
    assert_security_headers(r)
    if status >= 400:
        assert_error(r, status)


@pytest.mark.smoke
def test_security_headers_smoke(http):
    for method, path, status in (("GET", "/api/v1/price/BTC", 200), ("GET", "/api/v1/price/btc", 400),
                                 ("GET", "/healthz", 200), ("GET", "/readyz", 200)):
        r = http(method, path)
        assert r.status == status, r
        assert_security_headers(r)


def test_security_headers_on_csv(http):
    r = http("GET", "/api/v1/prices/BTC?limit=2", {"Accept": "text/csv"})
    assert r.status == 200, r
    assert_security_headers(r, content_type=CSV_TYPE)


def test_request_ids_are_fresh_and_never_the_clients(http):
    ids = set()
    sent = "0123456789abcdef0123456789abcdef"
    for i in range(20):
        path = "/api/v1/price/BTC" if i % 2 else "/api/v1/price/btc"
        r = http("GET", path, {"X-Request-Id": sent, "X-Correlation-Id": sent})
        rid = r.header("X-Request-Id")
        assert REQUEST_ID.match(rid), rid
        assert rid != sent
        assert r.header_all("X-Request-Id") == [rid]
        if r.status >= 400:
            assert r.json()["error"]["request_id"] == rid
        ids.add(rid)
    assert len(ids) == 20


def test_request_id_header_injection_is_ignored(http):
    r = http("GET", "/api/v1/price/btc", {"X-Request-Id": "<script>alert(1)</script>"})
    err = assert_error(r, 400, "invalid_asset")
    assert "script" not in r.body.decode() and "script" not in err["request_id"]


def test_no_hsts_over_plain_http_even_when_told_https(http):
    # The scheme is the web server's (HTTPS from lighttpd), never a client's header.
    for headers in ({}, {"X-Forwarded-Proto": "https"}, {"X-Forwarded-Ssl": "on"},
                    {"Forwarded": "proto=https"}, {"Https": "on"}, {"X-Https": "on"}):
        r = http("GET", "/api/v1/price/BTC", headers)
        assert r.status == 200, r
        assert r.header("Strict-Transport-Security") is None, (headers, r.headers)


# --- CORS ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("origin", UNLISTED_ORIGINS + ["https://app.aspida.test.evil.test"])
@pytest.mark.parametrize("path", ["/api/v1/price/BTC", "/api/v1/prices/BTC", "/api/v1/nope"])
def test_preflight_is_204_for_any_origin(http, path, origin):
    if origin in conf_list("cors_origins"):
        pytest.skip("listed in this stack's cors_origins")
    r = http("OPTIONS", path, {"Origin": origin, "Access-Control-Request-Method": "GET",
                               "Access-Control-Request-Headers": "Authorization"})
    assert r.status == 204, r
    assert r.body == b""
    assert_security_headers(r)
    for name in ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
                 "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"):
        assert r.header(name) is None, (name, r.headers)


def test_preflight_without_origin_is_204(http):
    r = http("OPTIONS", "/api/v1/assets")
    assert r.status == 204 and r.header("Access-Control-Allow-Origin") is None, r


def listed_origin():
    origins = conf_list("cors_origins")
    if not origins:
        pytest.skip("this stack lists no cors_origins")
    return origins[0]


def near_misses(origin):
    """Origins that differ from a listed one only a little: each must be refused."""
    scheme, _, host = origin.partition("://")
    other_scheme = "http" if scheme == "https" else "https"
    return [origin + ".evil.test", origin + "/", origin.upper(), f"{other_scheme}://{host}",
            origin + ":443", scheme + "://evil." + host, origin[:-1], origin + "%00"]


def test_listed_origin_preflight_is_reflected_with_credentials(http):
    origin = listed_origin()
    r = http("OPTIONS", "/api/v1/price/BTC", {"Origin": origin, "Access-Control-Request-Method": "GET"})
    assert r.status == 204, r
    assert r.header_all("Access-Control-Allow-Origin") == [origin]
    assert r.header("Access-Control-Allow-Credentials") == "true"
    methods = {m.strip() for m in r.header("Access-Control-Allow-Methods").split(",")}
    assert "GET" in methods and "*" not in methods, methods
    allow = {h.strip().lower() for h in r.header("Access-Control-Allow-Headers").split(",")}
    assert allow == {"authorization", "content-type", "x-api-key", "x-csrf-token", "idempotency-key"}
    expose = {h.strip().lower() for h in r.header("Access-Control-Expose-Headers").split(",")}
    assert expose == {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after",
                      "x-request-id"}
    assert r.header("Access-Control-Max-Age") == "600"
    assert_security_headers(r)


@pytest.mark.smoke
def test_listed_origin_gets_cors_on_get_and_unlisted_does_not(http):
    origin = listed_origin()
    r = http("GET", "/api/v1/price/BTC", {"Origin": origin})
    assert r.status == 200, r
    assert r.header_all("Access-Control-Allow-Origin") == [origin]
    assert r.header("Access-Control-Allow-Credentials") == "true"
    assert_security_headers(r)
    r = http("GET", "/api/v1/price/BTC", {"Origin": "https://evil.test"})
    assert r.status == 200, r
    assert r.header("Access-Control-Allow-Origin") is None
    assert r.header("Access-Control-Allow-Credentials") is None


def test_near_misses_of_a_listed_origin_get_no_cors(http):
    origin = listed_origin()
    for o in near_misses(origin):
        if o in conf_list("cors_origins"):
            continue
        for method in ("OPTIONS", "GET"):
            r = http(method, "/api/v1/price/BTC", {"Origin": o})
            assert r.status in (200, 204), (o, r)
            assert r.header("Access-Control-Allow-Origin") is None, (o, r.headers)


def test_allow_origin_is_never_a_wildcard(http):
    for origin in conf_list("cors_origins") + UNLISTED_ORIGINS:
        for method in ("OPTIONS", "GET"):
            r = http(method, "/api/v1/assets", {"Origin": origin})
            assert "*" not in r.header_all("Access-Control-Allow-Origin"), (origin, r.headers)


def test_cors_on_errors_of_a_listed_origin(http):
    # An error answered to a listed origin carries CORS too, so the browser can read the error.
    origin = listed_origin()
    r = http("GET", "/api/v1/price/btc", {"Origin": origin})
    assert_error(r, 400, "invalid_asset")
    assert r.header("Access-Control-Allow-Origin") == origin


# --- the web server's own replies ---------------------------------------------------------------------

@pytest.mark.xfail(strict=True, reason=(
    "not src/: lighttpd 1.4.69 answers requests it refuses while parsing (NUL or control "
    "characters in the path, a GET with a body, an oversized body or header) with its own "
    "text/html page and applies no setenv.set-response-header to them, so API.md's headers are "
    "missing there; no lighttpd setting reaches those replies"))
def test_web_server_refusals_carry_security_headers(http):
    r = http("GET", "/api/v1/price/BTC%00")
    assert r.status == 400
    for name in ("X-Content-Type-Options", "Content-Security-Policy", "Cache-Control"):
        assert r.header(name), (name, r.headers)


def test_web_server_refusals_do_not_reflect_input(http):
    # The page lighttpd writes for what it refuses is static: nothing of the request comes back
    # in it, so no header it lacks turns it into reflected markup.
    for method, path, headers, body in (
            ("GET", "/api/v1/price/%3Cscript%3E%00", None, None),
            ("GET", "/api/v1/price/%3Cscript%3E", {"Content-Type": "text/html"}, b"<script>"),
            ("POST", "/api/v1/price/%3Cscript%3E", {"Content-Type": "text/html"}, b"<" * 600000)):
        r = http(method, path, headers, body)
        assert 400 <= r.status < 500, r
        assert b"script" not in r.body.lower(), r.body[:300]
