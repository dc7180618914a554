"""PostgreSQL and Redis failing under a running stack (DESIGN.md, "Failure policy"): fast 503s with
Retry-After instead of hangs, /readyz naming what fails, /healthz still alive, recovery without
restarting aspida, and the critical log line of the outage.

Deadlines come from the stack's aspida.conf (db_query_timeout_ms, db_connect_timeout_ms,
db_retry_max_ms); MARGIN covers scheduling and a sanitizer build's slower workers. Every request has
a client timeout, so a hang fails the test instead of stalling the suite. The `stack` fixture heals
whatever a test broke; each test also waits until every worker is healthy again before it ends,
so the next test starts from a healthy stack.
"""

import os
import re
import signal
import time

import pytest

from aspida_util import (assert_error, conf_int, expected_workers, read_conf, retry_after,
                         wait_for, wait_workers)

MARGIN = 2.5          # seconds on top of a configured deadline
CLIENT_TIMEOUT = 20   # a request that takes this long has hung


def db_deadline():
    """The longest a request may wait for PostgreSQL: one connect or one query deadline."""
    return max(conf_int("db_query_timeout_ms", 3000), conf_int("db_connect_timeout_ms", 2000)) / 1000


def timed(http, path, timeout=CLIENT_TIMEOUT):
    t0 = time.monotonic()
    r = http("GET", path, timeout=timeout)
    return r, time.monotonic() - t0


def consecutive(http, path, status, n, timeout, what):
    """Polls until n answers in a row have `status` (n > workers, so that every worker is in it)."""
    state = {"run": 0}

    def check():
        r = http("GET", path, timeout=CLIENT_TIMEOUT)
        state["run"] = state["run"] + 1 if r.status == status else 0
        return state["run"] >= n
    wait_for(check, timeout, interval=0.05, what=what)


def all_healthy(http, stack, timeout=30):
    stack.stack_heal()
    n = 2 * expected_workers() + 2
    consecutive(http, "/readyz", 200, n, timeout, "every worker ready again")
    consecutive(http, "/api/v1/prices/BTC?limit=1", 200, n, timeout, "every worker serving again")


def assert_unavailable(r, elapsed, budget):
    assert_error(r, 503, "unavailable")
    retry_after(r)
    assert elapsed < budget, f"503 took {elapsed:.2f}s, over {budget:.2f}s"


def test_postgresql_stopped_then_back(http, stack, aspida_log):
    budget = db_deadline() + MARGIN
    stack.pg_stop()
    try:
        for _ in range(2 * expected_workers() + 2):
            r, dt = timed(http, "/api/v1/prices/BTC?limit=1")
            assert_unavailable(r, dt, budget)
        r, dt = timed(http, "/api/v1/prices/BTC?limit=5")
        assert_unavailable(r, dt, budget)
        r, dt = timed(http, "/readyz")
        assert r.status == 503 and dt < budget, (r, dt)
        assert r.json() == {"status": "unavailable", "failing": ["postgresql"]}
        retry_after(r)
        r = http("GET", "/healthz", timeout=CLIENT_TIMEOUT)
        assert r.status == 200 and r.json() == {"status": "ok"}, r
        # Input is still judged without the database.
        assert_error(http("GET", "/api/v1/price/btc", timeout=CLIENT_TIMEOUT), 400, "invalid_asset")
        lines = aspida_log.since()
        assert any("postgresql unavailable" in line for line in lines), lines[-10:]
    finally:
        stack.pg_start()
    # Back without restarting aspida, within the reconnect backoff's cap.
    retry_max = conf_int("db_retry_max_ms", 5000) / 1000
    consecutive(http, "/api/v1/prices/BTC?limit=1", 200, 2 * expected_workers() + 2, retry_max + 5 + MARGIN,
                "PostgreSQL answered again")
    assert any("postgresql available again" in line for line in aspida_log.since())
    all_healthy(http, stack)


def test_postgresql_frozen_then_thawed(http, stack):
    # SIGSTOP: connections are accepted by the kernel and never answered, as with a hung server.
    budget = db_deadline() + MARGIN
    stack.pg_freeze()
    try:
        for _ in range(expected_workers()):
            r, dt = timed(http, "/api/v1/prices/BTC?limit=1")
            assert_unavailable(r, dt, budget)
        r, dt = timed(http, "/readyz")
        assert r.status == 503 and dt < budget, (r, dt)
        assert r.json()["failing"] == ["postgresql"]
        r, dt = timed(http, "/healthz")
        assert r.status == 200 and dt < MARGIN, (r, dt)
    finally:
        stack.pg_thaw()
    retry_max = conf_int("db_retry_max_ms", 5000) / 1000
    consecutive(http, "/api/v1/prices/BTC?limit=1", 200, 2 * expected_workers() + 2,
                retry_max + db_deadline() + 5 + MARGIN, "PostgreSQL answered again after the thaw")
    all_healthy(http, stack)


def test_redis_stopped_readyz_fails_closed(http, stack):
    if read_conf().get("redis_failure", "closed") == "open":
        pytest.skip("this stack runs redis_failure = open")
    stack.redis_stop()
    try:
        for _ in range(expected_workers() + 2):
            r, dt = timed(http, "/readyz")
            assert r.status == 503, r
            assert r.json() == {"status": "unavailable", "failing": ["redis"]}
            retry_after(r)
            assert dt < conf_int("redis_timeout_ms", 250) / 1000 + MARGIN, dt
        assert http("GET", "/healthz", timeout=CLIENT_TIMEOUT).status == 200
        # DESIGN.md: with Redis down, anonymous public reads still serve.
        r, dt = timed(http, "/api/v1/prices/BTC?limit=1")
        assert r.status == 200 and dt < MARGIN, (r, dt)
    finally:
        stack.redis_start()
    all_healthy(http, stack)


def kill_workers():
    """Kills every worker: the ones the spawner starts next connect for the first time."""
    old = wait_workers()
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    return old


def test_worker_started_while_postgresql_is_down_serves_503(http, stack):
    budget = db_deadline() + MARGIN
    stack.pg_stop()
    try:
        new = wait_workers(timeout=8, exclude=kill_workers())
        for _ in range(2 * expected_workers() + 2):
            # (Without a live worker, the request would wait in the socket's queue: a client
            # timeout just past the budget fails it fast.)
            r, dt = timed(http, "/api/v1/prices/BTC?limit=1", timeout=budget + 1)
            assert_unavailable(r, dt, budget)
        time.sleep(0.3)
        assert wait_workers(timeout=2) == new, "a worker died"
    finally:
        stack.pg_start()
    all_healthy(http, stack)


def test_first_connect_failure_logs_its_reason(http, stack, aspida_log):
    stack.pg_stop()
    try:
        old = kill_workers()
        # Each new worker connects at start-up and logs its first failure once.
        def logged():
            try:
                http("GET", "/healthz", timeout=1)
            except OSError:
                pass
            lines = [line for line in aspida_log.since() if "postgresql unavailable: " in line
                     and not any(f"aspida[{pid}]" in line for pid in old)]
            return lines if len(lines) >= expected_workers() else None
        lines = wait_for(logged, 5, interval=0.1, what="a line from every new worker")
        for line in lines:
            reason = line.split("postgresql unavailable: ", 1)[1]
            assert re.match(r"^(connection to server|could not connect|connection lost|"
                            r"connect timed out)", reason), reason
    finally:
        stack.pg_start()
    all_healthy(http, stack)
