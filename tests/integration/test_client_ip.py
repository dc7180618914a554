"""The client's address (API.md, "The client's address"): REMOTE_ADDR, unless it is a trusted proxy;
the test stacks trust none, so X-Forwarded-For must change nothing.

The address aspida works with is read back from its log: a credential it cannot verify is a
security event, one JSON line with the request id and the client_ip (the per-request debug line
needs log_verbose, which the stacks leave off).
"""

import pytest

from aspida_util import assert_error, conf_list, log_events

SPOOFS = [
    "203.0.113.9",
    "198.51.100.1, 203.0.113.9",
    "127.0.0.1",
    "10.0.0.1, 127.0.0.1",
    "::1",
    "unknown",
    "203.0.113.9, 198.51.100.7, 192.0.2.1",
]


def event_for(aspida_log, request_id):
    events = [e for e in log_events(aspida_log.since()) if e.get("request_id") == request_id]
    assert len(events) == 1, (request_id, aspida_log.since()[-5:])
    return events[0]


def failing_credential(http, source, xff=None):
    headers = {"Authorization": "Bearer not-a-token"}
    if xff is not None:
        headers["X-Forwarded-For"] = xff
    r = http("GET", "/api/v1/price/BTC", headers, source=source)
    assert_error(r, 401, "unauthorized")
    return r.header("X-Request-Id")


def test_stack_trusts_no_proxy():
    # The premise of this file: with a trusted proxy configured, X-Forwarded-For would count.
    assert conf_list("trusted_proxies") == []


@pytest.mark.parametrize("xff", SPOOFS)
def test_spoofed_forwarded_for_changes_nothing(http, aspida_log, xff):
    rid = failing_credential(http, "127.0.0.5", xff)
    ev = event_for(aspida_log, rid)
    assert ev["event"] == "auth_failure", ev
    assert ev["client_ip"] == "127.0.0.5", (xff, ev)


def test_forwarded_and_x_real_ip_change_nothing(http, aspida_log):
    headers = {"Authorization": "Bearer x", "Forwarded": "for=203.0.113.9",
               "X-Real-IP": "203.0.113.9", "Client-IP": "203.0.113.9", "True-Client-IP": "203.0.113.9"}
    r = http("GET", "/api/v1/price/BTC", headers, source="127.0.0.5")
    assert_error(r, 401, "unauthorized")
    assert event_for(aspida_log, r.header("X-Request-Id"))["client_ip"] == "127.0.0.5"


def test_spoofed_forwarded_for_is_served_as_usual(http):
    r = http("GET", "/api/v1/price/BTC", {"X-Forwarded-For": "203.0.113.9"}, source="127.0.0.5")
    assert r.status == 200, r


@pytest.mark.parametrize("source", ["127.0.0.2", "127.0.0.3", "127.0.0.1"])
def test_loopback_sources_appear_as_themselves(http, aspida_log, source):
    rid = failing_credential(http, source)
    assert event_for(aspida_log, rid)["client_ip"] == source


def test_distinct_sources_are_distinct_clients(http, aspida_log):
    rids = {src: failing_credential(http, src) for src in ("127.0.0.2", "127.0.0.3")}
    seen = {src: event_for(aspida_log, rid)["client_ip"] for src, rid in rids.items()}
    assert seen == {"127.0.0.2": "127.0.0.2", "127.0.0.3": "127.0.0.3"}
