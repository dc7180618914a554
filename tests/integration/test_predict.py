"""Forecasts (API.md, Forecasts): POST /predict/{asset_id} with credentials; the response's shape
(decimal strings, interval level "0.95", confidence in [0,1]); horizon_hours 1..168 as a JSON
integer, the body optional (24); unknown assets, assets without enough points; every forecast
stored; and the Redis gate: at most predict_max_inflight forecasts at once across all workers (more
answer 503 busy), whose slots expire after gate_slot_ttl, so a worker killed holding one does not
leak it.

The module sets predict_max_inflight = 2, gate_slot_ttl = 2 s and predict_window_points = 100000
(restored afterwards), and adds two assets of its own (kept for later runs): TSTSLOW with 100 000
points, so a forecast of it takes a few hundred milliseconds and concurrent ones overlap, and
TSTFEW with 10 points (fewer than predict_min_points, 30). Addresses: 127.0.0.80-127.0.0.89.
"""

import http.client as httpclient
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time

import pytest

from aspida_util import (assert_error, assert_security_headers, expected_workers, pid_alive,
                         retry_after, wait_for, wait_workers, worker_pids)
from auth_helpers import auth_headers, concurrently, login, module_conf, new_user
from conftest import http, stack_env

API = "/api/v1"
GATE = "aspida:gate:predict"
MAX_INFLIGHT = 2
SLOT_TTL = 2
SLOW, FEW = "TSTSLOW", "TSTFEW"
SLOW_POINTS = 100000
KEYS = {"asset_id", "horizon_hours", "predicted_price", "interval", "confidence", "model",
        "points_used", "outliers_excluded"}
# API.md: canonical decimal strings, computed values rounded to 8 decimals.
DECIMAL8 = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]{0,7}[1-9])?$")

_predict_conf = module_conf(predict_max_inflight=MAX_INFLIGHT, gate_slot_ttl=SLOT_TTL,
                            predict_window_points=SLOW_POINTS)


def owner_psql(sql):
    proc = subprocess.run(shlex.split(stack_env()["ASPIDA_PSQL"]) + [sql], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture(scope="module", autouse=True)
def assets():
    """TSTSLOW (100 000 points, one a minute up to now) and TSTFEW (10 points), made once."""
    owner_psql(f"INSERT INTO assets (id, name, currency) VALUES ('{SLOW}', 'Test slow forecast',"
               f" 'USD'), ('{FEW}', 'Test few points', 'USD') ON CONFLICT DO NOTHING")
    if int(owner_psql(f"SELECT count(*) FROM prices WHERE asset_id = '{SLOW}'")) < SLOW_POINTS:
        owner_psql(f"DELETE FROM prices WHERE asset_id = '{SLOW}'")
        owner_psql(
            "INSERT INTO prices (asset_id, ts, price, source) SELECT"
            f" '{SLOW}', date_trunc('minute', now()) - make_interval(mins => g),"
            " round((100 + 10 * sin(g / 500.0) + (g % 7) * 0.01)::numeric, 8), 'test'"
            f" FROM generate_series(0, {SLOW_POINTS - 1}) g")
    owner_psql(
        "INSERT INTO prices (asset_id, ts, price, source) SELECT"
        f" '{FEW}', date_trunc('minute', now()) - make_interval(mins => g), 10 + g, 'test'"
        f" FROM generate_series(0, 9) g WHERE NOT EXISTS"
        f" (SELECT 1 FROM prices WHERE asset_id = '{FEW}')")


@pytest.fixture
def user(request):
    src = request.param if hasattr(request, "param") else "127.0.0.80"
    u = new_user("predict-" + request.node.name, src)
    u["src"] = src
    u["token"] = login(u, src)["access_token"]
    return u


def with_source(src):
    return pytest.mark.parametrize("user", [src], indirect=True, ids=[src])


def predict(user, asset="BTC", body=b"", headers=None):
    h = auth_headers(user["token"])
    h.update(headers or {})
    return http("POST", f"{API}/predict/{asset}", h, body=body, source=user["src"])


def stored(psql, uid):
    return int(psql(f"SELECT count(*) FROM forecasts WHERE user_id = {int(uid)}"))


class RedisConn:
    """A bare RESP connection for fast sampling (redis-cli costs a process per sample)."""

    def __init__(self):
        self.sock = socket.create_connection(("127.0.0.1", int(stack_env()["ASPIDA_REDIS_PORT"])),
                                             timeout=5)
        self.file = self.sock.makefile("rb")

    def integer(self, *args):
        parts = [str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) +
                          b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        line = self.file.readline()
        assert line[:1] == b":", line
        return int(line[1:])

    def close(self):
        self.file.close()
        self.sock.close()


class GateSampler:
    """Samples ZCARD of the gate in a thread; max_seen is the most slots seen held at once."""

    def __init__(self):
        self.conn = RedisConn()
        self.max_seen = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            n = self.conn.integer("ZCARD", GATE)
            self.max_seen = max(self.max_seen, n)
            self.samples += 1
            time.sleep(0.001)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self.conn.close()


# --- the response --------------------------------------------------------------------------------

@with_source("127.0.0.81")
def test_forecast_shape_and_storage(user, psql):
    before = stored(psql, user["id"])
    t0 = time.time()
    r = predict(user, body={"horizon_hours": 12})
    assert r.status == 200, r
    assert_security_headers(r)
    f = r.json()
    assert set(f) == KEYS, f
    assert f["asset_id"] == "BTC" and f["horizon_hours"] == 12, f
    assert isinstance(f["predicted_price"], str) and DECIMAL8.match(f["predicted_price"]), f
    iv = f["interval"]
    assert set(iv) == {"low", "high", "level"} and iv["level"] == "0.95", iv
    for v in (iv["low"], iv["high"]):
        assert isinstance(v, str) and DECIMAL8.match(v), iv
    assert float(iv["low"]) <= float(f["predicted_price"]) <= float(iv["high"]), f
    assert isinstance(f["confidence"], str) and DECIMAL8.match(f["confidence"]), f
    assert 0 <= float(f["confidence"]) <= 1, f
    assert isinstance(f["model"], str) and f["model"], f
    for name in ("points_used", "outliers_excluded"):
        assert isinstance(f[name], int) and not isinstance(f[name], bool) and f[name] >= 0, f
    # The window (100 000) holds every BTC point: all were used or excluded as outliers.
    n = int(psql("SELECT count(*) FROM prices WHERE asset_id = 'BTC'"))
    assert f["points_used"] + f["outliers_excluded"] == n, (f, n)
    assert f["points_used"] >= 30

    assert stored(psql, user["id"]) == before + 1
    row = psql("SELECT asset_id, horizon_hours, trim_scale(predicted)::text, trim_scale(low)::text,"
               " trim_scale(high)::text, trim_scale(confidence)::text, model, points_used,"
               " outliers_excluded, extract(epoch FROM target_ts)::bigint FROM forecasts"
               f" WHERE user_id = {user['id']} ORDER BY id DESC LIMIT 1").split("|")
    assert row[:9] == ["BTC", "12", f["predicted_price"], iv["low"], iv["high"], f["confidence"],
                       f["model"], str(f["points_used"]), str(f["outliers_excluded"])], (row, f)
    assert abs(int(row[9]) - (t0 + 12 * 3600)) < 120, row


@with_source("127.0.0.82")
def test_body_is_optional_and_horizon_bounds(user, psql):
    for body in (b"", {}):
        r = predict(user, body=body)
        assert r.status == 200, (body, r)
        assert r.json()["horizon_hours"] == 24
    for hours in (1, 168):
        r = predict(user, body={"horizon_hours": hours})
        assert r.status == 200 and r.json()["horizon_hours"] == hours, r
    assert psql(f"SELECT string_agg(horizon_hours::text, ',' ORDER BY id) FROM forecasts"
                f" WHERE user_id = {user['id']}") == "24,24,1,168"
    for raw in (b'{"horizon_hours":0}', b'{"horizon_hours":169}', b'{"horizon_hours":"24"}',
                b'{"horizon_hours":24.5}', b'{"horizon_hours":-1}', b'{"horizon_hours":null}',
                b'{"horizon_hours":true}', b'{"horizon_hours":1e2}', b'{"horizon_hours":[24]}',
                b'{"horizon_hours":24,"model":"x"}'):
        r = predict(user, body=raw, headers={"Content-Type": "application/json"})
        assert_error(r, 400, "invalid_input")
    assert stored(psql, user["id"]) == 4


@with_source("127.0.0.83")
def test_needs_credentials(user, psql):
    before = int(psql("SELECT count(*) FROM forecasts"))
    r = http("POST", f"{API}/predict/BTC", body=b"", source=user["src"])
    assert_error(r, 401, "unauthorized")
    r = http("POST", f"{API}/predict/BTC", body={"horizon_hours": 24}, source=user["src"])
    assert_error(r, 401, "unauthorized")
    r = predict(user, headers={"Authorization": "Bearer not-a-token"})
    assert_error(r, 401, "unauthorized")
    assert int(psql("SELECT count(*) FROM forecasts")) == before


@with_source("127.0.0.84")
def test_unknown_assets_and_too_few_points(user, psql):
    assert_error(predict(user, "ZZZZ9"), 404, "unknown_asset")
    assert_error(predict(user, "btc"), 400, "invalid_asset")
    # NOPTS has no point at all, TSTFEW ten: fewer than predict_min_points (30).
    assert psql(f"SELECT count(*) FROM prices WHERE asset_id = '{FEW}'") == "10"
    for asset in ("NOPTS", FEW):
        assert_error(predict(user, asset), 409, "conflict")
    assert stored(psql, user["id"]) == 0


# --- the gate ------------------------------------------------------------------------------------

@with_source("127.0.0.85")
def test_gate_bounds_forecasts_in_flight(user, psql, redis):
    # More workers than slots, or the gate could never be exceeded and the test would prove nothing.
    assert expected_workers() > MAX_INFLIGHT
    redis("DEL", GATE)
    before = stored(psql, user["id"])
    n = 50
    with GateSampler() as sampler:
        results = concurrently(lambda: predict(user, SLOW), [()] * n, timeout=120)
    statuses = [r.status if hasattr(r, "status") else r for r in results]
    ok = [r for r in results if getattr(r, "status", None) == 200]
    busy = [r for r in results if getattr(r, "status", None) == 503]
    assert len(ok) + len(busy) == n, sorted(map(str, statuses))
    for r in busy:
        assert_error(r, 503, "busy")
        retry_after(r)
    assert ok and busy, statuses
    assert all(r.json()["points_used"] + r.json()["outliers_excluded"] == SLOW_POINTS for r in ok)
    assert sampler.samples > 20, sampler.samples
    # Never more than the limit; and the limit was reached, so the forecasts did overlap.
    assert sampler.max_seen == MAX_INFLIGHT, sampler.max_seen
    assert stored(psql, user["id"]) == before + len(ok)
    assert int(redis("ZCARD", GATE)) == 0


# The worker holding the slot is found without any help from aspida: an idle worker sits in
# accept(); while one forecast runs, exactly one worker is elsewhere (waiting on PostgreSQL or
# computing), and /proc/PID/syscall (readable by root) tells which.
def busy_workers(idle_syscall):
    """The workers not waiting in accept() (what every idle worker's /proc/PID/syscall shows)."""
    busy = []
    for pid in worker_pids():
        try:
            with open(f"/proc/{pid}/syscall", encoding="ascii") as f:
                nr = f.read().split()[0]
        except (OSError, IndexError):
            continue
        if nr != idle_syscall:
            busy.append(pid)
    return busy


def slot_holder(idle_syscall, redis):
    """The pid of the one worker out of accept() while the gate holds exactly one slot, or None."""
    busy = busy_workers(idle_syscall)
    if len(busy) == 1 and int(redis("ZCARD", GATE)) == 1:
        return busy[0]
    return None


def idle_syscall_number():
    """The system call idle workers sit in (accept), taken as the one all workers share now."""
    def common():
        nrs = set()
        for pid in worker_pids():
            with open(f"/proc/{pid}/syscall", encoding="ascii") as f:
                nrs.add(f.read().split()[0])
        return nrs.pop() if len(nrs) == 1 else None
    return wait_for(common, 5, interval=0.05, what="every worker idle")


@with_source("127.0.0.86")
def test_killed_holder_does_not_leak_its_slot(user, redis):
    wait_workers()
    redis("DEL", GATE)
    idle = idle_syscall_number()

    def one_forecast(outcome):
        try:
            outcome["r"] = predict(user, SLOW)
        except (OSError, httpclient.HTTPException) as e:  # dropped when its worker dies
            outcome["r"] = e

    for attempt in range(5):
        outcome = {}
        t = threading.Thread(target=one_forecast, args=(outcome,), daemon=True)
        t.start()
        holder = wait_for(lambda: slot_holder(idle, redis), 5, interval=0.005,
                          what="a worker holding the slot")
        token = redis("ZRANGE", GATE, 0, -1)
        os.kill(holder, signal.SIGKILL)
        t.join(30)
        wait_for(lambda: not pid_alive(holder), 5, what="the killed worker gone")
        killed_at = time.monotonic()
        r = outcome["r"]
        # Killed mid-forecast, the worker never gave its slot back: it is still held. (When the
        # kill came just after the worker gave the slot back, the round proves nothing: again.)
        if token and redis("ZRANGE", GATE, 0, -1) == token:
            assert not hasattr(r, "status") or r.status >= 500, r
            break
        wait_workers(exclude=[holder])
        redis("DEL", GATE)
        idle = idle_syscall_number()
    else:
        pytest.fail("could not kill a worker while it held its slot")
    wait_workers(exclude=[holder])

    # After gate_slot_ttl the dead worker's slot no longer counts: predict_max_inflight forecasts
    # run at once again (seen overlapping by the sampler), none refused as busy.
    time.sleep(max(0.0, SLOT_TTL + 0.3 - (time.monotonic() - killed_at)))
    with GateSampler() as sampler:
        results = concurrently(lambda: predict(user, SLOW), [()] * MAX_INFLIGHT, timeout=60)
    assert [getattr(r, "status", r) for r in results] == [200] * MAX_INFLIGHT, results
    assert sampler.max_seen == MAX_INFLIGHT, sampler.max_seen
    assert redis("ZSCORE", GATE, token) == ""
