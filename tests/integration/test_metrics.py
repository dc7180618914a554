"""/metrics (Prometheus text): only for metrics_allow_ips (else the route does not exist: 404), and
counters shared by every worker of the host (a scrape sees the host's totals, whichever worker
answers it)."""

import re

from aspida_util import assert_error, expected_workers


def scrape(http, source="127.0.0.1", headers=None):
    return http("GET", "/metrics", headers=headers or {}, source=source)


def value(text, name, labels=""):
    m = re.search(r"^" + re.escape(name + labels) + r" (\d+(?:\.\d+)?)$", text, re.M)
    assert m, f"{name}{labels} missing from /metrics"
    return float(m.group(1))


def test_metrics_only_for_allowed_addresses(http):
    r = scrape(http)
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4")
    assert "# TYPE aspida_requests_total counter" in r.text
    # The test profile allows loopback 127.0.0.1 only: another address gets the plain 404.
    assert_error(scrape(http, source="127.0.0.9"), 404, "not_found")


def test_forwarded_loopback_is_not_trusted_for_metrics(http):
    # API.md: X-Forwarded-For from loopback while trusted_proxies is empty makes loopback satisfy
    # no allow list for that request.
    assert_error(scrape(http, headers={"X-Forwarded-For": "203.0.113.9"}), 404, "not_found")


def test_counters_are_shared_across_workers(http):
    labels = '{class="prices",status="2xx"}'
    before = value(scrape(http).text, "aspida_requests_total", labels)
    n = 8 * expected_workers()
    for _ in range(n):
        assert http("GET", "/api/v1/assets").status == 200
    # Several scrapes land on different workers: each must see every worker's requests.
    for _ in range(expected_workers()):
        after = value(scrape(http).text, "aspida_requests_total", labels)
        assert after >= before + n, (before, after, n)


def test_security_counters_move(http):
    before = value(scrape(http).text, "aspida_auth_failures_total")
    r = http("GET", "/api/v1/auth/me", {"Authorization": "Bearer not.a.token"}, source="127.0.0.61")
    assert_error(r, 401, "unauthorized")
    assert value(scrape(http).text, "aspida_auth_failures_total") >= before + 1
    text = scrape(http).text
    assert value(text, "aspida_request_duration_seconds_count") > 0
    assert 'aspida_request_duration_seconds_bucket{le="+Inf"}' in text
