"""Hostile input against the real stack (API.md, "Input rules" and "Credentials"): injection and
traversal in the path and the query, malformed asset ids, duplicate and unknown parameters, bad
escapes, long URIs, wrong methods, unknown paths, credentials that cannot be verified, bodies.

Who answers what: lighttpd refuses some requests itself, before aspida sees them, with its own
text/html page: a NUL (%00) in the path (400), a GET or HEAD with a body (400), a POST without
Content-Length (411), a request line or headers over its limit (431) and a body over its
server.max-request-size (512 KiB in the stacks: 413). Everything else under /api/ is aspida's, in the
one JSON error shape. There is no POST route yet, so a body sent to a route answers 405 from aspida's
router, which runs before any body is read (pipeline order: parse, route, auth, body): its 413 and
415 are unreachable through lighttpd until a route takes a body.
"""

import json
import shlex
import socket
import subprocess
import urllib.parse

import pytest

from conftest import stack_env
from aspida_util import assert_error, assert_no_internals, assert_security_headers

MARKET_ROUTES = ["/api/v1/assets", "/api/v1/price/BTC", "/api/v1/prices/BTC"]


def raw_request(data, timeout=10):
    """Sends bytes as they are on a new connection and returns (status, headers text, body)."""
    url = urllib.parse.urlsplit(stack_env()["ASPIDA_URL"])
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
    reply = b"".join(chunks)
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    return int(status_line.split()[1]), head.decode("latin-1"), body


def raw_get(path_bytes):
    return raw_request(b"GET " + path_bytes + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       b"Connection: close\r\n\r\n")


@pytest.fixture(scope="module")
def price_rows(env):
    """The number of price rows before any hostile request of this module."""
    out = subprocess.run(shlex.split(env["ASPIDA_PSQL"]) + ["SELECT count(*) FROM prices"],
                         capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    return int(out)


# --- injection ---------------------------------------------------------------------------------------

SQL_IN_PATH = [
    "BTC'%20OR%20'1'='1",
    "BTC%27%20OR%20%271%27%3D%271",
    "BTC;DROP%20TABLE%20prices",
    "BTC%3BDROP%20TABLE%20prices",
    "BTC%27%3B%20DROP%20TABLE%20prices%3B--",
    "BTC'--",
    "1%20UNION%20SELECT%20*%20FROM%20users",
    "BTC%22%20OR%20%221%22%3D%221",
    "BTC)%20OR%20(1=1",
    "%27",
]


@pytest.mark.parametrize("segment", SQL_IN_PATH)
@pytest.mark.parametrize("route", ["price", "prices"])
def test_sql_in_asset_id_is_invalid_asset(http, route, segment):
    assert_error(http("GET", f"/api/v1/{route}/{segment}"), 400, "invalid_asset")


def test_prices_table_survives_injection_attempts(http, psql, price_rows):
    for segment in SQL_IN_PATH:
        http("GET", f"/api/v1/price/{segment}")
    assert int(psql("SELECT count(*) FROM prices")) == price_rows > 0
    assert psql("SELECT count(*) FROM assets WHERE id = 'BTC'") == "1"


@pytest.mark.parametrize("query", [
    "limit=1%20OR%201%3D1",
    "limit=1;DROP%20TABLE%20prices",
    "limit=1%27%3B%20DROP%20TABLE%20prices%3B--",
    "from=2026-01-01T00:00:00Z%27%20OR%20%271%27%3D%271",
    "to=%27%3B%20DELETE%20FROM%20prices%3B--",
    "cursor=%27%20OR%201%3D1--",
    "cursor=1%3BDROP%20TABLE%20prices",
])
def test_sql_in_query_values_is_invalid_input(http, psql, price_rows, query):
    assert_error(http("GET", f"/api/v1/prices/BTC?{query}"), 400, "invalid_input")
    assert int(psql("SELECT count(*) FROM prices")) == price_rows


# --- traversal --------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    b"/api/v1/price/../../etc/passwd",
    b"/api/v1/price/../../../etc/passwd",
    b"/api/v1/prices/../../../../../../etc/passwd",
    b"/api/v1/price/..%2F..%2Fetc%2Fpasswd",
    b"/api/v1/price/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    b"/api/v1/price/%2e%2e%2f",
    b"/api/v1/price/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    b"/api/v1/price/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
    b"/api/v1/price/..%5C..%5Cetc%5Cpasswd",
    b"/api/v1/price/%252e%252e%252f",
    b"/api/v1/price/..",
    b"/api/v1/price/.",
    b"/api/v1/./price/BTC/../../../conf/aspida.conf",
    b"/api/v1/price/%c0%ae%c0%ae%c0%af",
])
def test_traversal_is_never_served(path):
    # A raw socket, so nothing on our side normalises the path first.
    status, head, body = raw_get(path)
    assert status in (400, 404), (path, status, body[:200])
    assert b"root:" not in body and b"db_conninfo" not in body and b"secret" not in body
    if "application/json" in head:
        # aspida's answer: one of its codes, no internals.
        err = json.loads(body)["error"]
        assert err["code"] in ("invalid_asset", "not_found", "invalid_input"), (path, err)
        assert_no_internals(err["message"])


@pytest.mark.parametrize("path", [
    "/api/v1/price/..%2F..%2Fetc%2Fpasswd",
    "/api/v1/price/%2e%2e%2f",
    "/api/v1/prices/..%2F..%2Fetc%2Fpasswd",
    "/api/v1/prices/%2E%2E%2F%2E%2E%2F",
])
def test_encoded_traversal_is_invalid_asset(http, path):
    # Encoded slashes stay inside the one segment aspida sees (REQUEST_URI is the raw URI), which
    # is then no asset id. (Deeper ones that lighttpd's normalised path takes out of /api/ never
    # reach aspida: test_traversal_is_never_served.)
    assert_error(http("GET", path), 400, "invalid_asset")


# --- malformed asset ids ---------------------------------------------------------------------------

@pytest.mark.parametrize("asset", [
    "btc", "Btc", "BTc", "ABCDEFGHIJK", "A" * 64, "%3Cscript%3E", "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "%C3%A9", "%E2%82%BF", "BT%C3%87", "%F0%9F%92%B0", "BTC%20", "%20BTC", "BTC-USD", "BTC_USD",
    "BTC.USD", "%2B", "BTC%2C", "%22BTC%22", "%7BBTC%7D",
])
@pytest.mark.parametrize("route", ["price", "prices"])
def test_malformed_asset_id_is_invalid_asset(http, route, asset):
    assert_error(http("GET", f"/api/v1/{route}/{asset}"), 400, "invalid_asset")


@pytest.mark.parametrize("asset", ["B%0AC", "B%0D%0AX-Injected:%201", "B%09C", "B%7FC", "%FF", "%C0%80",
                                   "%C0%AE", "B%00C"])
def test_control_or_invalid_utf8_asset_id_is_refused(http, asset):
    # lighttpd refuses control characters and invalid UTF-8 in the path itself (400, its own
    # page); whatever reaches aspida is invalid_asset. Never a match, never a 5xx.
    r = http("GET", f"/api/v1/price/{asset}")
    assert r.status == 400, r
    if r.header("Content-Type") == "application/json; charset=utf-8":
        assert_error(r, 400, "invalid_asset")
    assert r.header("X-Injected") is None


@pytest.mark.parametrize("asset", ["ABCDEFGHIJ", "Z", "0", "9999999999"])
def test_well_formed_unlisted_asset_is_unknown(http, asset):
    assert_error(http("GET", f"/api/v1/price/{asset}"), 404, "unknown_asset")


def test_raw_utf8_asset_id_is_invalid_asset():
    status, head, body = raw_get("/api/v1/price/BTÇ".encode("utf-8"))
    assert status == 400, (status, body)
    assert json.loads(body)["error"]["code"] == "invalid_asset"


# --- query strings ------------------------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "limit=1&limit=1", "limit=1&limit=2", "from=2026-01-01T00:00:00Z&from=2026-01-01T00:00:00Z",
    "cursor=a&cursor=b", "limit=1&%6Cimit=2",
])
def test_duplicate_query_parameter_is_invalid_input(http, query):
    assert_error(http("GET", f"/api/v1/prices/BTC?{query}"), 400, "invalid_input")


@pytest.mark.parametrize("path", [
    "/api/v1/prices/BTC?foo=1", "/api/v1/prices/BTC?limit=1&debug=1", "/api/v1/prices/BTC?LIMIT=1",
    "/api/v1/prices/BTC?limit[]=1", "/api/v1/price/BTC?limit=1", "/api/v1/assets?x=1",
    "/api/v1/assets?callback=alert", "/api/v1/price/BTC?asset_id=ETH",
])
def test_unknown_query_parameter_is_invalid_input(http, path):
    assert_error(http("GET", path), 400, "invalid_input")


@pytest.mark.parametrize("query", [
    "limit=1%ZZ", "limit=1%", "limit=1%2", "limit=1%G0", "limit=1&&limit=2", "&limit=1", "limit=1&",
    "=1", "from=%C3%28",
])
def test_bad_escapes_and_empty_pieces_in_query_are_invalid_input(http, query):
    assert_error(http("GET", f"/api/v1/prices/BTC?{query}"), 400, "invalid_input")


@pytest.mark.parametrize("query", ["limit=%00", "limit=1%001", "cursor=%00", "%00=1", "limit=1%0A",
                                   "limit=1%C0%80"])
def test_nul_control_or_overlong_utf8_in_query_is_400(http, query):
    # lighttpd refuses some of these itself (400, its own page); aspida refuses the rest.
    r = http("GET", f"/api/v1/prices/BTC?{query}")
    assert r.status == 400, r
    if r.header("Content-Type") == "application/json; charset=utf-8":
        assert_error(r, 400, "invalid_input")


def test_bad_escape_in_path_is_400(http):
    assert_error(http("GET", "/api/v1/price/B%ZZ"), 400)


def test_bad_escape_in_path_is_refused_without_5xx(http):
    # Every malformed form is refused in the error shape, never matched.
    for path in ("/api/v1/price/B%ZZ", "/api/v1/price/BTC%", "/api/v1/price/BTC%4", "/api/v1/pr%ice/BTC"):
        r = http("GET", path)
        assert_error(r, r.status, ("invalid_input", "invalid_asset", "not_found"))
        assert r.status in (400, 404), (path, r)


def test_nul_in_path_is_refused_by_the_web_server(http):
    # lighttpd refuses %00 in the path itself (400, its own page): aspida never sees it.
    r = http("GET", "/api/v1/price/BTC%00")
    assert r.status == 400, r
    assert b"BTC" not in r.body, "the refusal reflects the input"


def test_long_uri_is_4xx(http):
    # Over aspida's 4096-byte URI bound but within lighttpd's header limit: aspida's 400.
    r = http("GET", "/api/v1/prices/BTC?cursor=" + "A" * 4200)
    assert_error(r, 400, "invalid_input")
    # Over lighttpd's own limit: its 431, no 5xx.
    r = http("GET", "/api/v1/price/" + "A" * 20000)
    assert 400 <= r.status < 500, r
    r = http("GET", "/api/v1/prices/BTC?" + "&".join(f"p{i}=1" for i in range(40)))
    assert_error(r, 400, "invalid_input")


# --- methods and paths ----------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", MARKET_ROUTES + ["/healthz", "/readyz"])
def test_wrong_method_is_405_with_allow(http, method, path):
    r = http(method, path, body=b"")
    err = assert_error(r, 405, "method_not_allowed")
    assert r.header("Allow") == "GET", (r.header("Allow"), err)


@pytest.mark.smoke
def test_wrong_method_smoke(http):
    r = http("DELETE", "/api/v1/price/BTC", body=b"")
    assert_error(r, 405, "method_not_allowed")
    assert r.header("Allow") == "GET"


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "LINK"])
def test_odd_methods_are_405(http, method):
    # Methods aspida has no route for, known to the web server: aspida's 405.
    r = http(method, "/api/v1/price/BTC", body=b"" if method != "CONNECT" else None)
    assert_error(r, 405, "method_not_allowed")
    assert r.header("Allow") == "GET"


def test_unknown_method_token_is_the_web_servers_501(http):
    # A method lighttpd does not know is answered by lighttpd itself: 501 Not Implemented, which
    # RFC 9110 prescribes for an unrecognised method. The one 5xx of the stack, and not aspida's.
    r = http("FOO", "/api/v1/price/BTC", body=b"")
    assert r.status == 501 and r.header("X-Request-Id") is None, r


@pytest.mark.parametrize("path", [
    "/api/v1/nope", "/api/v2/assets", "/api/v1/assets/extra", "/api/v1/price", "/api/v1/price/",
    "/api/v1/price/BTC/", "/api/v1//assets", "/api/v1/PRICE/BTC", "/api/v1/Assets", "/api/",
    "/api/v1", "/api/v1/", "/api/v1/price/BTC/history", "/api/v1/prices/BTC/ETH",
])
def test_unknown_path_is_404_in_the_error_shape(http, path):
    assert_error(http("GET", path), 404, "not_found")


# --- credentials ------------------------------------------------------------------------------------------

CREDENTIALS = [
    {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo"},
    {"Authorization": "Bearer x"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"X-API-Key": "ak_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    {"X-API-Key": "garbage"},
    {"Cookie": "aspida_session=abc"},
    {"Cookie": "theme=dark; aspida_session=abc"},
]


@pytest.mark.parametrize("headers", CREDENTIALS, ids=lambda h: "-".join(h))
@pytest.mark.parametrize("path", MARKET_ROUTES)
def test_failing_credentials_are_401_not_anonymous(http, path, headers):
    # Every one of these routes answers anonymous callers 200: a credential that fails must not
    # fall back to that.
    assert http("GET", path).status == 200
    assert_error(http("GET", path, headers), 401, "unauthorized")


def test_unrelated_cookie_is_no_credential(http):
    r = http("GET", "/api/v1/price/BTC", {"Cookie": "theme=dark; other_session=1"})
    assert r.status == 200, r


@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer x", "X-API-Key": "ak_x"},
    {"Authorization": "Bearer x", "Cookie": "aspida_session=abc"},
    {"X-API-Key": "ak_x", "Cookie": "aspida_session=abc"},
    {"Authorization": "Bearer x", "X-API-Key": "ak_x", "Cookie": "aspida_session=abc"},
], ids=lambda h: "+".join(h))
def test_two_kinds_of_credentials_is_400(http, headers):
    assert_error(http("GET", "/api/v1/price/BTC", headers), 400, "invalid_input")


@pytest.mark.parametrize("cookie", [
    "aspida_session=a; aspida_session=b", "aspida_session=a;aspida_session=a",
    "x=1; aspida_session=a; y=2; aspida_session=b",
])
def test_two_session_cookies_is_400(http, cookie):
    assert_error(http("GET", "/api/v1/price/BTC", {"Cookie": cookie}), 400, "invalid_input")


def test_two_cookie_headers_with_sessions_is_400(http):
    r = http("GET", "/api/v1/price/BTC", [("Cookie", "aspida_session=a"), ("Cookie", "aspida_session=b")])
    assert_error(r, 400, "invalid_input")


# --- bodies --------------------------------------------------------------------------------------------------

@pytest.mark.smoke
def test_oversized_body_is_refused(http):
    # 70 000 bytes (over max_body_bytes, 64 KiB) to a route: aspida's router answers 405 before
    # reading a byte of it (no POST route exists yet; with one, stage_body's 413 would answer).
    r = http("POST", "/api/v1/price/BTC", {"Content-Type": "application/json"}, b"{" + b" " * 69998 + b"}")
    assert_error(r, 405, "method_not_allowed")
    # Over the web server's limit (512 KiB, twice the larger of aspida's limits): lighttpd's 413,
    # decided from Content-Length before the body is read.
    r = http("POST", "/api/v1/price/BTC", {"Content-Type": "application/json"}, b"x" * 600000)
    assert r.status == 413, r


def test_get_with_body_is_refused(http):
    # lighttpd refuses a GET with a body itself (400), whatever its size or type.
    for ctype, body in (("application/json", b"x" * 70000), ("text/plain", b"hello"),
                        ("application/json", b'{"a":1}')):
        r = http("GET", "/api/v1/price/BTC", {"Content-Type": ctype}, body)
        assert r.status == 400, (ctype, r)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", "application/xml"])
def test_non_json_body_gets_405_from_routing(http, ctype):
    # API.md would answer 415 to a body that is not JSON, but no route takes a body yet: the router
    # answers 405 first (stage_route runs before stage_body).
    r = http("POST", "/api/v1/assets", {"Content-Type": ctype}, b"a=1")
    assert_error(r, 405, "method_not_allowed")
    r = http("PUT", "/api/v1/price/BTC", {"Content-Type": ctype}, b"a=1")
    assert_error(r, 405, "method_not_allowed")


# --- no 5xx, no internals, anywhere -------------------------------------------------------------------------

HOSTILE = [
    ("GET", "/api/v1/price/BTC'%20OR%201=1--", None, None),
    ("GET", "/api/v1/prices/BTC?limit=%27", None, None),
    ("GET", "/api/v1/prices/BTC?from=%FF%FE", None, None),
    ("GET", "/api/v1/prices/BTC?cursor=" + "A" * 64 + "%3D%3D", None, None),
    ("GET", "/api/v1/prices/%00", None, None),
    ("GET", "/api/v1/prices/BTC?limit=1&limit=1", None, None),
    ("GET", "/api/v1/price/BTC", {"Authorization": "Bearer ' OR 1=1 --"}, None),
    ("GET", "/api/v1/price/BTC", {"X-API-Key": "ak_'; DROP TABLE api_keys; --"}, None),
    ("GET", "/api/v1/price/BTC", {"Cookie": "aspida_session=" + "A" * 4000}, None),
    ("GET", "/api/v1/price/BTC", {"Accept": "text/csv" * 500}, None),
    ("GET", "/api/v1/price/BTC", {"Origin": "https://evil.test\r\nX-Injected: 1".replace("\r\n", "")}, None),
    ("GET", "/api/v1/price/BTC", {"X-Forwarded-For": "'; DROP TABLE prices; --"}, None),
    ("GET", "/api/v1/price/BTC", {"X-Forwarded-For": ", , ,1.2.3.4.5, ::ffff:zz"}, None),
    ("GET", "/api/v1/price/BTC", {"Host": "evil.test:99999"}, None),
    ("GET", "/api/v1/price/BTC", {"Content-Length": "0"}, None),
    ("POST", "/api/v1/price/BTC", {"Content-Type": "application/json"}, b'{"a":'),
    ("POST", "/api/v1/price/BTC", {"Content-Type": "application/json"}, b"[" * 5000),
    ("DELETE", "/api/v1/assets", None, b""),
    ("OPTIONS", "/api/v1/price/%27", {"Origin": "null"}, None),
    ("GET", "/api/v1/" + "a/" * 200, None, None),
    ("GET", "/api/v1/price/" + "%41" * 10, None, None),
]


@pytest.mark.parametrize("method,path,headers,body", HOSTILE)
def test_no_5xx_and_no_internals(http, method, path, headers, body):
    r = http(method, path, headers, body)
    assert r.status < 500, r
    if r.header("Content-Type") == "application/json; charset=utf-8" and r.status >= 400:
        assert_error(r, r.status)
    elif r.status < 400:
        assert_security_headers(r, content_type=None)
    assert_no_internals(r.body.decode("utf-8", "replace").replace("\\/", "/"))
