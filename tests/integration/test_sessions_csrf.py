"""Browser sessions, CSRF and CORS (API.md, Credentials and CORS): the cookie login's cookie
attributes and CSRF token; unsafe requests of a cookie session need the session's own CSRF token
and an allowed Origin (or Referer); at most one kind of credentials and one session cookie; the
preflight and CORS headers for the auth routes, never `*`, and `Vary: Origin` on every answer.

The stack serves on http://127.0.0.1:PORT, so the request's own origin is that; the test profile
lists https://app.aspida.test in cors_origins.
"""

import urllib.parse

import pytest

from aspida_util import assert_error, assert_security_headers, conf_list, stack_env
from auth_helpers import (LOGIN, LOGOUT, ME, PASSWORD, PRICE, REFRESH, REGISTER,
                          assert_no_secret_in_logs, auth_headers, cookie_login, login,
                          login_raw, new_user, source_for, strong_password)
from conftest import http

UA = "aspida-tests/1.0 (browser)"
CORS_ALLOW_HEADERS = "Authorization, Content-Type, X-API-Key, X-CSRF-Token, Idempotency-Key"
CORS_EXPOSE_HEADERS = ("RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, "
                       "X-Request-Id")


def own_origin():
    u = urllib.parse.urlsplit(stack_env()["ASPIDA_URL"])
    return f"{u.scheme}://{u.netloc}"


def listed_origin():
    origins = conf_list("cors_origins")
    assert origins, "the test profile lists an origin in cors_origins"
    return origins[0]


@pytest.fixture
def browser(request):
    """A user with a cookie session from this test's address: (user, src, cookie, csrf)."""
    src = source_for("browser", request.node.name)
    user = new_user("csrf-" + request.node.name, src)
    cookie, csrf = cookie_login(user, src, ua=UA)
    return {"user": user, "src": src, "cookie": cookie, "csrf": csrf}


def with_cookie(b, extra=None, cookie=None):
    h = {"Cookie": "aspida_session=" + (cookie or b["cookie"]), "User-Agent": UA}
    h.update(extra or {})
    return h


def post(b, path, extra=None, body=b"", cookie=None):
    return http("POST", path, with_cookie(b, extra, cookie), body=body, source=b["src"])


def session_alive(b, cookie=None):
    r = http("GET", ME, with_cookie(b, cookie=cookie), source=b["src"])
    return r.status == 200


# --- the cookie login -----------------------------------------------------------------------------

def test_cookie_login_sets_a_hardened_cookie_and_returns_a_csrf_token(http):
    src = source_for("cookie-login")
    user = new_user("cookie-login", src)
    r = login_raw(user["email"], user["password"], src, ua=UA, cookie=True)
    assert r.status == 200, r
    assert_security_headers(r)
    body = r.json()
    assert set(body) == {"csrf_token", "expires_in"}, body
    assert len(body["csrf_token"]) >= 32 and body["expires_in"] == 900
    cookies = r.header_all("Set-Cookie")
    assert len(cookies) == 1, cookies
    name_value, *attrs = [a.strip() for a in cookies[0].split(";")]
    name, _, value = name_value.partition("=")
    assert name == "aspida_session" and value, cookies
    attrs_l = {a.lower() for a in attrs}
    assert "httponly" in attrs_l and "secure" in attrs_l, attrs
    assert "samesite=strict" in attrs_l and "path=/" in attrs_l, attrs
    assert not any(a.startswith("domain=") for a in attrs_l), attrs
    # No bearer tokens in a cookie login's body, and the CSRF token is not the cookie.
    assert "access_token" not in r.text and "refresh_token" not in r.text
    assert body["csrf_token"] not in value


def test_the_cookie_authenticates_safe_requests(browser):
    r = http("GET", ME, with_cookie(browser), source=browser["src"])
    assert r.status == 200, r
    assert r.json()["email"] == browser["user"]["email"]
    # A safe method needs no CSRF token, even from a foreign origin.
    r = http("GET", ME, with_cookie(browser, {"Origin": "https://evil.test"}),
             source=browser["src"])
    assert r.status == 200, r
    # The cookie is bound to the browser's User-Agent like any access token.
    r = http("GET", ME, dict(with_cookie(browser), **{"User-Agent": "other"}),
             source=browser["src"])
    assert_error(r, 401, "unauthorized")


# --- CSRF -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [LOGOUT, PASSWORD])
def test_unsafe_request_without_csrf_token_is_refused(browser, path):
    body = b"" if path == LOGOUT else {"current_password": browser["user"]["password"],
                                        "new_password": strong_password("csrf-new", path)}
    for extra in ({}, {"Origin": own_origin()}, {"X-CSRF-Token": ""}):
        r = post(browser, path, extra, body=body)
        assert_error(r, 403, "csrf_failed")
    assert session_alive(browser)
    r = login_raw(browser["user"]["email"], browser["user"]["password"], browser["src"])
    assert r.status == 200, r


@pytest.mark.parametrize("path", [LOGOUT, PASSWORD])
def test_wrong_csrf_token_is_refused(browser, path):
    body = b"" if path == LOGOUT else {"current_password": browser["user"]["password"],
                                        "new_password": strong_password("csrf-new", path)}
    good = browser["csrf"]
    flipped = good[:-1] + ("0" if good[-1] != "0" else "1")
    for token in (flipped, good.upper() if good.upper() != good else good + "0", good[:-1],
                  good + good, "0" * len(good), browser["cookie"]):
        r = post(browser, path, {"X-CSRF-Token": token, "Origin": own_origin()}, body=body)
        assert_error(r, 403, "csrf_failed")
    assert session_alive(browser)


def test_csrf_token_of_another_session_is_refused(browser):
    other_cookie, other_csrf = cookie_login(browser["user"], browser["src"], ua=UA)
    assert other_csrf != browser["csrf"]
    r = post(browser, LOGOUT, {"X-CSRF-Token": other_csrf, "Origin": own_origin()})
    assert_error(r, 403, "csrf_failed")
    assert session_alive(browser) and session_alive(browser, other_cookie)


@pytest.mark.parametrize("origin", [
    "https://evil.test", "null", "http://127.0.0.1", "https://127.0.0.1:{port}",
    "http://127.0.0.1:{port}.evil.test", "http://localhost:{port}",
    "https://app.aspida.test.evil.test", "http://app.aspida.test",
])
def test_right_token_from_a_foreign_origin_is_refused(browser, origin):
    origin = origin.format(port=urllib.parse.urlsplit(stack_env()["ASPIDA_URL"]).port)
    assert origin != own_origin() and origin not in conf_list("cors_origins")
    r = post(browser, LOGOUT, {"X-CSRF-Token": browser["csrf"], "Origin": origin})
    assert_error(r, 403, "csrf_failed")
    # Nor does a Referer of an allowed origin rescue a foreign Origin.
    r = post(browser, LOGOUT, {"X-CSRF-Token": browser["csrf"], "Origin": origin,
                               "Referer": own_origin() + "/app"})
    assert_error(r, 403, "csrf_failed")
    assert session_alive(browser)


def test_right_token_without_origin_or_referer_is_refused(browser):
    r = post(browser, LOGOUT, {"X-CSRF-Token": browser["csrf"]})
    assert_error(r, 403, "csrf_failed")
    for referer in ("https://evil.test/" + own_origin(), "not a url", own_origin().split("//")[1]):
        r = post(browser, LOGOUT, {"X-CSRF-Token": browser["csrf"], "Referer": referer})
        assert_error(r, 403, "csrf_failed")
    assert session_alive(browser)


@pytest.mark.parametrize("how", ["own-origin", "listed-origin", "referer-own", "referer-listed"])
def test_right_token_and_allowed_origin_pass(browser, how):
    extra = {"X-CSRF-Token": browser["csrf"]}
    if how == "own-origin":
        extra["Origin"] = own_origin()
    elif how == "listed-origin":
        extra["Origin"] = listed_origin()
    elif how == "referer-own":
        extra["Referer"] = own_origin() + "/app/settings?tab=1"
    else:
        extra["Referer"] = listed_origin() + "/"
    r = post(browser, LOGOUT, extra)
    assert r.status == 204, r
    # The logout took: the cookie is cleared and the session revoked.
    cleared = [c for c in r.header_all("Set-Cookie") if c.startswith("aspida_session=")]
    assert cleared and ("max-age=0" in cleared[0].lower() or "expires=" in cleared[0].lower())
    r = http("GET", ME, with_cookie(browser), source=browser["src"])
    assert_error(r, 401, "token_revoked")


def test_password_change_through_a_cookie_session(browser):
    new_pw = strong_password("csrf-password-change")
    r = post(browser, PASSWORD, {"X-CSRF-Token": browser["csrf"], "Origin": own_origin()},
             body={"current_password": browser["user"]["password"], "new_password": new_pw})
    assert r.status == 204, r
    assert_error(http("GET", ME, with_cookie(browser), source=browser["src"]), 401,
                 "token_revoked")
    login(dict(browser["user"], password=new_pw), browser["src"])


def test_bearer_requests_need_no_csrf_token():
    src = source_for("bearer-no-csrf")
    user = new_user("bearer-no-csrf", src)
    tokens = login(user, src)
    r = http("POST", LOGOUT, dict(auth_headers(tokens["access_token"]), Origin="https://evil.test"),
             body=b"", source=src)
    assert r.status == 204, r


# --- one kind of credentials, one cookie ----------------------------------------------------------

def test_two_session_cookies_are_refused(browser):
    other_cookie, _ = cookie_login(browser["user"], browser["src"], ua=UA)
    for cookie in (f"aspida_session={browser['cookie']}; aspida_session={other_cookie}",
                   f"aspida_session={browser['cookie']}; aspida_session={browser['cookie']}",
                   f"aspida_session={browser['cookie']}; other=1; aspida_session=junk"):
        for method, path in (("GET", ME), ("GET", PRICE)):
            r = http(method, path, {"Cookie": cookie, "User-Agent": UA}, source=browser["src"])
            assert_error(r, 400, "invalid_input")
    # Two Cookie headers are two cookies too.
    r = http("GET", ME, [("Cookie", "aspida_session=" + browser["cookie"]),
                         ("Cookie", "aspida_session=" + other_cookie), ("User-Agent", UA)],
             source=browser["src"])
    assert_error(r, 400, "invalid_input")


def test_bearer_and_cookie_together_are_refused(browser):
    tokens = login(browser["user"], browser["src"], ua=UA)
    h = with_cookie(browser, auth_headers(tokens["access_token"]))
    for method, path, body in (("GET", ME, None), ("GET", PRICE, None),
                               ("POST", LOGOUT, b"")):
        r = http(method, path, dict(h, **{"X-CSRF-Token": browser["csrf"], "Origin": own_origin()}),
                 body=body, source=browser["src"])
        assert_error(r, 400, "invalid_input")
    assert session_alive(browser)


def test_other_cookies_are_ignored(browser):
    r = http("GET", ME, {"Cookie": f"theme=dark; aspida_session={browser['cookie']}; x=y",
                         "User-Agent": UA}, source=browser["src"])
    assert r.status == 200, r


# --- CORS on the auth routes ----------------------------------------------------------------------

AUTH_PATHS = [LOGIN, REGISTER, REFRESH, LOGOUT, ME, PASSWORD]


@pytest.mark.parametrize("path", AUTH_PATHS)
def test_preflight_of_a_listed_origin(path):
    origin = listed_origin()
    r = http("OPTIONS", path, {"Origin": origin, "Access-Control-Request-Method": "POST",
                               "Access-Control-Request-Headers": "content-type, x-csrf-token"},
             source=source_for("preflight"))
    assert r.status == 204 and r.body == b"", r
    assert_security_headers(r)
    assert r.header_all("Access-Control-Allow-Origin") == [origin]
    assert r.header("Access-Control-Allow-Credentials") == "true"
    assert r.header("Access-Control-Allow-Headers") == CORS_ALLOW_HEADERS
    assert r.header("Access-Control-Expose-Headers") == CORS_EXPOSE_HEADERS
    assert r.header("Access-Control-Max-Age") == "600"
    methods = [m.strip() for m in r.header("Access-Control-Allow-Methods").split(",")]
    assert "POST" in methods and "*" not in methods, methods
    assert r.header("RateLimit-Limit") is None      # preflights are not rate-limited


@pytest.mark.parametrize("origin", ["https://evil.test", "null", "http://127.0.0.1:1"])
@pytest.mark.parametrize("path", [LOGIN, ME, LOGOUT])
def test_preflight_of_an_unlisted_origin_gets_no_cors(path, origin):
    r = http("OPTIONS", path, {"Origin": origin, "Access-Control-Request-Method": "POST"},
             source=source_for("preflight"))
    assert r.status == 204, r
    assert_security_headers(r)
    for name in ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
                 "Access-Control-Allow-Headers", "Access-Control-Allow-Methods"):
        assert r.header(name) is None, (name, r.headers)


def test_listed_origin_gets_cors_on_auth_answers_and_never_a_wildcard():
    src = source_for("cors-answers")
    user = new_user("cors-answers", src)
    origin = listed_origin()
    for o in (origin, "https://evil.test"):
        r = login_raw(user["email"], user["password"], src, ua=UA, headers={"Origin": o})
        assert r.status == 200, r
        assert "*" not in r.header_all("Access-Control-Allow-Origin")
        if o == origin:
            assert r.header_all("Access-Control-Allow-Origin") == [o]
            assert r.header("Access-Control-Allow-Credentials") == "true"
            assert r.header("Access-Control-Expose-Headers") == CORS_EXPOSE_HEADERS
        else:
            assert r.header("Access-Control-Allow-Origin") is None
            assert r.header("Access-Control-Allow-Credentials") is None
        # Errors too.
        r = login_raw(user["email"], "wrong-" + user["password"], src, headers={"Origin": o})
        assert_error(r, 401, "invalid_credentials")
        assert ("Access-Control-Allow-Origin" in r.headers) == (o == origin)


def test_vary_origin_on_every_answer(browser):
    # assert_security_headers checks Vary: Origin; here on each kind of auth answer.
    answers = [
        http("GET", ME, with_cookie(browser), source=browser["src"]),                  # 200
        post(browser, LOGOUT),                                                          # 403
        http("GET", ME, source=browser["src"]),                                         # 401
        http("OPTIONS", ME, {"Origin": "https://evil.test"}, source=browser["src"]),    # 204
        http("POST", LOGIN, body={"email": "x"}, source=browser["src"]),                # 400
    ]
    for r in answers:
        assert_security_headers(r)


def test_no_secret_reaches_the_logs():
    assert_no_secret_in_logs(min_secrets=20)
