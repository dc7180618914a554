"""The worker processes (DESIGN.md, "Process model"): a worker killed mid-load costs at most its one
request and is respawned; max_requests_per_worker recycles workers without failing a request; and
the security events of repeated invalid requests reach the log and, once their minute has passed,
the security_events table as one aggregated row.

Worker pids are this stack's processes whose argv[0] is its own copy of the worker binary
(STACK/bin/aspida), less aspida's master in master mode: never another stack's.
"""

import datetime
import os
import signal

import pytest

from aspida_util import (Load, assert_error, conf_int, expected_workers, log_events, stack_vars,
                         wait_for, wait_workers, worker_pids)


def test_killed_worker_is_respawned_and_costs_at_most_its_request(http):
    wait_workers()
    load = Load("/api/v1/prices/BTC?limit=100", 300, threads=1).start()
    wait_for(lambda: load.done() >= 50, 30, interval=0.002, what="load under way")
    # A worker may retire by itself (max_requests_per_worker) between listing and killing.
    victim = None
    for pid in worker_pids():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        victim = pid
        break
    assert victim is not None, "no worker to kill"
    assert load.done() < 300, "the load ended before the kill"
    results = load.join()
    after = wait_workers(timeout=15, exclude=[victim])
    assert victim not in after and len(after) == expected_workers()
    assert len(results) == 300
    failures = load.failures()
    # The killed worker's request may fail: a reset, or lighttpd's own answer to a backend that
    # died with the request in hand (lighttpd 1.4.69 says 500, "unexpected end-of-file"; others
    # say 502 or 503). Nothing else may.
    assert len(failures) <= 1, failures
    for f in failures:
        assert f in (500, 502, 503) or isinstance(f, str), failures
    # Everyone serves again.
    again = Load("/api/v1/price/BTC", 4 * expected_workers(), threads=2).start()
    again.join()
    assert again.failures() == []


def test_max_requests_per_worker_recycles_without_failures(http):
    limit = conf_int("max_requests_per_worker", 0)
    if limit <= 0:
        pytest.skip("this stack sets no max_requests_per_worker (bin-path mode does not recycle)")
    n = expected_workers()
    before = set(wait_workers())
    # More than N x limit requests: even if every worker had served none yet, at least one of the
    # original workers must have reached its limit and been replaced.
    total = n * limit + 50
    load = Load("/healthz", total, threads=8).start()
    results = load.join(timeout=150)
    assert len(results) == total
    assert load.failures() == [], load.failures()[:10]
    after = set(wait_workers(timeout=15))
    assert before - after, f"no worker was recycled after {total} requests: {sorted(before)}"
    assert len(after) == n


def recent_rows(psql, source, since):
    out = psql(
        "SELECT kind, count FROM security_events"
        f" WHERE client_ip = '{source}' AND kind = 'auth_failure'"
        f" AND minute >= '{since}' ORDER BY minute")
    return [(k, int(c)) for k, c in (line.split("|") for line in out.splitlines() if line)]


def test_security_events_of_repeated_invalid_requests(http, psql, aspida_log):
    source = "127.0.0.7"
    count = 12
    start = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    rids = []
    for _ in range(count):
        r = http("GET", "/api/v1/price/BTC", {"Authorization": "Bearer forged"}, source=source)
        assert_error(r, 401, "unauthorized")
        rids.append(r.header("X-Request-Id"))
    # The log has one event line per request, each with its request id and the real address.
    events = {e["request_id"]: e for e in log_events(aspida_log.since())
              if e.get("client_ip") == source}
    assert set(rids) <= set(events), "a request left no event line"
    for rid in rids:
        assert events[rid]["event"] == "auth_failure" and events[rid]["severity"] == "warning"
        assert events[rid]["route"] == "GET /api/v1/price/{asset_id}"

    # The table gets one row per kind, address and minute, once the minute has passed, from the
    # first worker that flushes (at most every event_flush_seconds). With the default of 60 s the
    # wait could pass two minutes: then only the log lines above are checked.
    flush = conf_int("event_flush_seconds", 60)
    if flush > 5:
        pytest.skip(f"event_flush_seconds = {flush}: rows would take up to {60 + flush} s; "
                    "the event lines were checked")
    since = start.strftime("%Y-%m-%d %H:%M:%S+00")
    # Nothing is written per request: the rows wait for the minute to end.
    assert sum(c for _, c in recent_rows(psql, source, since)) < count

    def flushed():
        # Traffic lets the workers notice that the minute has passed.
        http("GET", "/healthz")
        rows = recent_rows(psql, source, since)
        return rows if sum(c for _, c in rows) >= count else None
    left = 60 - datetime.datetime.now(datetime.timezone.utc).second
    rows = wait_for(flushed, left + flush + 10, interval=0.25, what="security_events rows")
    assert sum(c for _, c in rows) == count, rows
    # Aggregated: one row per minute (two if the requests straddled a minute's end).
    assert 1 <= len(rows) <= 2, rows


def test_worker_pids_belong_to_this_stack():
    # The pids the tests above kill are this stack's workers, and only those.
    v = stack_vars()
    pids = wait_workers()
    for pid in pids:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0")[0].decode()
        assert argv0 == v["STACK_WORKER"] and argv0.startswith(v["STACK_DIR"] + "/")
    assert len(pids) == expected_workers()
