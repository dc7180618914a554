"""The circuit breaker (src/breaker.c; API.md: 503 unavailable "circuit open"): once PostgreSQL has
failed breaker_errors times within breaker_window seconds, heavy requests (history pages above 100
points, forecasts) answer 503 unavailable for breaker_cooldown seconds even when PostgreSQL is back,
while light ones (GET /price) are served; after the cool-down a heavy request probes and, on
success, closes the circuit.

The breaker is per worker, on purpose (it must work when Redis is what failed). So the test drives
every worker's breaker open: it sends bursts of concurrent requests while PostgreSQL is down until
each current worker has logged "circuit breaker open". A heavy request then meets an open breaker
whichever worker takes it.

Timing: the breaker counts whole seconds (time(NULL)), so a cool-down of 3 s may end 2 s after a
breaker opened. Every breaker opened after the moment the test started driving failures, so a check
that ends less than cooldown - 1 seconds after that moment is sure to meet open breakers only; a
slower round (a loaded machine) proves nothing and is tried again, never counted as a pass or a
failure.

The module sets breaker_errors = 2, breaker_window = 10, breaker_cooldown = 3 and db_retry_max_ms =
100 (workers retry PostgreSQL within 0.1 s once it is back, so the light request needs no long
wait), restored afterwards. Addresses: 127.0.0.100-127.0.0.109.
"""

import time

import pytest

from aspida_util import assert_error, retry_after, wait_for, wait_workers, worker_pids
from auth_helpers import auth_headers, concurrently, login, module_conf, new_user
from conftest import http

API = "/api/v1"
COOLDOWN = 3
HEAVY = API + "/prices/BTC?limit=500"
# Light, but it needs PostgreSQL (the latest price would come from the Redis cache).
LIGHT = API + "/prices/BTC?limit=1"

_breaker_conf = module_conf(breaker_errors=2, breaker_window=10, breaker_cooldown=COOLDOWN,
                            db_retry_max_ms=100)


def opened_pids(log_lines):
    out = set()
    for line in log_lines:
        if "circuit breaker open" in line and "aspida[" in line:
            out.add(int(line.split("aspida[", 1)[1].split("]", 1)[0]))
    return out


def test_breaker_holds_heavy_requests_while_open(stack, aspida_log):
    src = "127.0.0.100"
    user = new_user("breaker", src)
    token = login(user, src)["access_token"]
    h = auth_headers(token)

    def heavy():
        return http("GET", HEAVY, h, source=src)

    def light():
        return http("GET", LIGHT, source=src)

    # The control: served while the database is up (and the user's token generation is now in
    # Redis's cache, so authentication needs no query later).
    r = heavy()
    assert r.status == 200 and len(r.json()["points"]) == 500, r
    nworkers = len(wait_workers())

    for attempt in range(3):
        aspida_log.mark()
        stack.pg_stop()
        t_drive = time.monotonic()
        down = light()
        assert_error(down, 503, "unavailable")
        retry_after(down)

        def all_open():
            concurrently(lambda: http("GET", LIGHT, source=src), [()] * (2 * nworkers))
            return set(worker_pids()) <= opened_pids(aspida_log.since())
        wait_for(all_open, 10, interval=0.0, what="every worker's breaker open")
        stack.pg_start()
        ok = wait_for(lambda: (lambda r: r if r.status == 200 else None)(light()), 5,
                      interval=0.02, what="a light request served again")
        assert ok.json()["asset_id"] == "BTC"
        # Heavy requests: refused by the open breaker although PostgreSQL answers again.
        refused = [heavy() for _ in range(2 * nworkers)]
        conclusive = time.monotonic() - t_drive < COOLDOWN - 1
        if conclusive:
            break
        # Too slow to be sure every breaker was still open: wait for them to close, try again.
        wait_for(lambda: all(heavy().status == 200 for _ in range(2 * nworkers)), COOLDOWN + 5,
                 interval=0.1, what="breakers closed before another round")
    else:
        pytest.fail("three rounds were too slow to check the breaker inside its cool-down")
    for r in refused:
        assert_error(r, 503, "unavailable")
        retry_after(r)
    # Light requests are served while the breakers are open.
    for _ in range(nworkers):
        assert light().status == 200

    # After the cool-down each worker's next heavy request probes, succeeds and closes its breaker.
    time.sleep(max(0.0, t_drive + COOLDOWN + 1 - time.monotonic()))
    wait_for(lambda: all(heavy().status == 200 for _ in range(2 * nworkers)), 3, interval=0.1,
             what="heavy requests served after the cool-down")
    r = heavy()
    assert r.status == 200 and len(r.json()["points"]) == 500, r
    assert any("circuit breaker closed" in x for x in aspida_log.since())
