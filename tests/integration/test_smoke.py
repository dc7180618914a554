"""Smoke tests: the stack answers through its web server. Marked smoke, so ./quickstart test runs
them in every way of spawning the workers (spawn-fcgi + multiwatch, aspida's own master, bin-path,
Apache's mod_fcgid)."""

import pytest

from conftest import SECURITY_HEADERS


@pytest.mark.smoke
def test_healthz_answers_ok(http):
    r = http("GET", "/healthz")
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("application/json"), r.headers
    assert r.json() == {"status": "ok"}


@pytest.mark.smoke
def test_healthz_answers_other_loopback_clients(http):
    # Tests model distinct clients by binding to other 127.0.0.x addresses.
    r = http("GET", "/healthz", source="127.0.0.23")
    assert r.status == 200, r
    assert r.json() == {"status": "ok"}


@pytest.mark.smoke
def test_web_server_own_reply_has_security_headers(env, http):
    # A path outside aspida's routes: the web server answers itself, and must add API.md's headers.
    r = http("GET", "/no-such-page")
    assert r.status == 404, r
    for name, value in SECURITY_HEADERS.items():
        assert r.header(name) == value, (name, r.headers)
    # lighttpd's server.tag = "" sends no Server header at all; Apache always sends one, and
    # ServerTokens Prod cuts it down to the bare product name: never a version or a module list.
    server = "Apache" if env.get("ASPIDA_MODE") == "apache" else None
    assert r.header("Server") == server, r.headers
