"""The password-hashing gate (API.md, 503 busy; DESIGN.md): at most login_max_inflight bcrypt runs
at once on a host, so a login flood answers 503 busy with Retry-After instead of taking every
worker, and the market-data routes keep answering meanwhile.

This test sets login_max_inflight 1 and bcrypt_cost 12 (about a quarter second a hash) and puts
both back afterwards (conf fixture). It takes a few seconds.
"""

import time

import auth_helpers
from aspida_util import Load, assert_error, retry_after
from auth_helpers import (PRICE, assert_no_secret_in_logs, concurrently, email_for, login,
                          login_raw, new_user, source_for, strong_password)

conf = auth_helpers.conf        # the fixture

FLOOD = 20


def test_login_flood_meets_the_gate_and_prices_keep_answering(conf):
    conf(login_max_inflight=1, bcrypt_cost=12)
    src = source_for("gate")
    user = new_user("gate", src)           # hashed at cost 12 now
    prices = Load(PRICE, total=100000, threads=2, source=source_for("gate", "prices")).start()
    try:
        time.sleep(0.2)
        before = prices.done()
        t0 = time.monotonic()
        results = concurrently(
            lambda i: login_raw(email_for("gate-flood", i), strong_password("gate-flood", i),
                                source_for("gate-flood", i % 5)),
            [(i,) for i in range(FLOOD)])
        flood_seconds = time.monotonic() - t0
        during = prices.done() - before
    finally:
        prices.stop()
        prices.join()
    statuses = [getattr(r, "status", r) for r in results]
    assert all(isinstance(s, int) for s in statuses), statuses
    assert not [s for s in statuses if s >= 500 and s != 503], statuses
    busy = [r for r in results if r.status == 503]
    assert busy, ("no login met the gate", statuses)
    for r in busy:
        assert_error(r, 503, "busy")
        assert retry_after(r) >= 1
    for r in results:
        if r.status != 503:
            assert_error(r, 401, "invalid_credentials")
    # The market data kept answering through the flood, and quickly.
    outcomes = prices.results
    ok = sum(1 for x in outcomes if x == 200)
    assert ok >= 0.95 * len(outcomes), (ok, len(outcomes), set(map(str, outcomes)))
    assert during >= 5, (during, flood_seconds)
    # The gate is free again: a login goes through.
    time.sleep(0.5)
    login(user, src)


def test_no_secret_reaches_the_logs():
    assert_no_secret_in_logs(min_secrets=1)
