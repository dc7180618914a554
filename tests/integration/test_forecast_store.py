"""Forecasts are stored and scored (API.md, Forecasts: "Every forecast is stored and later scored
against the price that arrives at its horizon"; sql/001 forecasts; aspidactl tick).

POST /predict/{asset_id} with credentials stores one row with exactly the answered predicted
price, interval, confidence, model and counts, for the caller (an API key's owner), its target
horizon_hours from now and unscored. `aspidactl tick` scores a forecast whose target has passed
against the first price at or after its target: actual, error = |actual - predicted| / actual and
scored_at; a forecast whose target has not come, or with no price at or after its target yet,
stays unscored; a scored forecast is never scored again.

To score without waiting an hour, a stored forecast is moved into the past with psql as the owner
(created_at one hour before the new target_ts, as the table's CHECK (target_ts > created_at)
wants). The scoring uses an asset of this run (F<RUN>A, kept afterwards like the other test
assets) with 60 points, one a minute, the newest BASE_AGE ago, so every price after the last
point is one this module inserts.
"""

import re
import shlex
import subprocess
import time
from decimal import Decimal

import pytest

from aspida_util import assert_error
from auth_helpers import RUN, auth_headers, login, new_user, remember, source_for
from conftest import http, stack_env

API = "/api/v1"
ASSET = f"F{RUN.upper()}A"
POINTS = 60
BASE_AGE = 600  # seconds: the newest point of ASSET is this old
SCORED = re.compile(r"^tick: ([0-9]+) forecasts? scored$")


def owner_psql(sql):
    proc = subprocess.run(shlex.split(stack_env()["ASPIDA_PSQL"]) + [sql], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def base():
    """Makes ASSET with POINTS points, one a minute, the newest at the returned epoch second."""
    assert re.fullmatch(r"[A-Z0-9]{10}", ASSET), ASSET
    owner_psql(f"INSERT INTO assets (id, name, currency) VALUES ('{ASSET}',"
               " 'Forecast scoring test', 'USD') ON CONFLICT DO NOTHING")
    b = int(owner_psql(f"SELECT extract(epoch FROM date_trunc('second', now()))::bigint"
                       f" - {BASE_AGE}"))
    owner_psql("INSERT INTO prices (asset_id, ts, price, source) SELECT"
               f" '{ASSET}', to_timestamp({b}) - make_interval(mins => g),"
               " 100 + (g % 5) * 0.25, 'test'"
               f" FROM generate_series(0, {POINTS - 1}) g")
    return b


@pytest.fixture
def user(request):
    src = source_for("forecast-store", request.node.name)
    u = new_user("fs-" + request.node.name, src)
    u["src"] = src
    u["token"] = login(u, src)["access_token"]
    return u


def predict(user, asset, body, headers=None):
    h = headers if headers is not None else auth_headers(user["token"])
    return http("POST", f"{API}/predict/{asset}", h, body=body, source=user["src"])


def row(fid):
    """(asset, user, horizon, predicted, low, high, confidence, model, used, excluded, target
    epoch, created epoch, actual, error, scored_at epoch) of forecast fid; NULLs as ''."""
    return owner_psql(
        "SELECT asset_id, coalesce(user_id::text, ''), horizon_hours, trim_scale(predicted)::text,"
        " trim_scale(low)::text, trim_scale(high)::text, trim_scale(confidence)::text, model,"
        " points_used, outliers_excluded, extract(epoch FROM target_ts)::bigint,"
        " extract(epoch FROM created_at)::bigint, coalesce(trim_scale(actual)::text, ''),"
        " coalesce(error::text, ''), coalesce(extract(epoch FROM scored_at)::bigint::text, '')"
        f" FROM forecasts WHERE id = {int(fid)}").split("|")


def forecasts_of(uid):
    out = owner_psql(f"SELECT id FROM forecasts WHERE user_id = {int(uid)} ORDER BY id")
    return [int(x) for x in out.split()] if out else []


def move_target(fid, epoch):
    """Moves forecast fid's target to epoch (and created_at an hour before it)."""
    owner_psql(f"UPDATE forecasts SET target_ts = to_timestamp({epoch}),"
               f" created_at = to_timestamp({epoch}) - interval '1 hour' WHERE id = {int(fid)}")


def add_price(epoch, price):
    owner_psql("INSERT INTO prices (asset_id, ts, price, source) VALUES"
               f" ('{ASSET}', to_timestamp({epoch}), '{price}', 'test')")


def tick(ctl):
    p = ctl("tick")
    assert p.returncode == 0, (p.stdout, p.stderr)
    m = SCORED.match(p.stdout.strip())
    assert m, p.stdout
    return int(m.group(1))


def assert_stored(fid, f, uid, t0, t1):
    r = row(fid)
    assert r[:10] == [f["asset_id"], str(uid), str(f["horizon_hours"]), f["predicted_price"],
                      f["interval"]["low"], f["interval"]["high"], f["confidence"], f["model"],
                      str(f["points_used"]), str(f["outliers_excluded"])], (r, f)
    # The target is horizon_hours from when it was asked; created then too.
    assert t0 - 2 <= int(r[10]) - 3600 * f["horizon_hours"] <= t1 + 2, (r, t0, t1)
    assert t0 - 2 <= int(r[11]) <= t1 + 2, (r, t0, t1)
    assert r[12:] == ["", "", ""], r  # not scored


# --- storing -------------------------------------------------------------------------------------

def test_a_forecast_is_stored_as_answered(user):
    assert forecasts_of(user["id"]) == []
    t0 = time.time()
    r = predict(user, "BTC", {"horizon_hours": 1})
    t1 = time.time()
    assert r.status == 200, r
    f = r.json()
    assert f["asset_id"] == "BTC" and f["horizon_hours"] == 1, f
    ids = forecasts_of(user["id"])
    assert len(ids) == 1, ids
    assert_stored(ids[0], f, user["id"], t0, t1)

    # The default horizon (24) is stored as such.
    t0 = time.time()
    r = predict(user, "BTC", b"")
    t1 = time.time()
    assert r.status == 200 and r.json()["horizon_hours"] == 24, r
    ids = forecasts_of(user["id"])
    assert len(ids) == 2, ids
    assert_stored(ids[1], r.json(), user["id"], t0, t1)


def test_an_api_key_forecast_is_stored_for_its_owner(user):
    r = http("POST", API + "/keys", auth_headers(user["token"]),
             body={"name": "forecast store", "scopes": ["read"]}, source=user["src"])
    assert r.status == 201, r
    key = r.json()["key"]
    remember(key)
    t0 = time.time()
    r = predict(user, "BTC", {"horizon_hours": 3}, headers={"X-API-Key": key})
    t1 = time.time()
    assert r.status == 200, r
    ids = forecasts_of(user["id"])
    assert len(ids) == 1, ids
    assert_stored(ids[0], r.json(), user["id"], t0, t1)


def test_refused_forecasts_are_not_stored(user):
    before = int(owner_psql("SELECT count(*) FROM forecasts"))
    assert_error(http("POST", f"{API}/predict/BTC", body={"horizon_hours": 1},
                      source=user["src"]), 401, "unauthorized")
    assert_error(predict(user, "BTC", {"horizon_hours": 0}), 400, "invalid_input")
    assert_error(predict(user, "ZZZZZZZZZ7", {"horizon_hours": 1}), 404, "unknown_asset")
    assert forecasts_of(user["id"]) == []
    assert int(owner_psql("SELECT count(*) FROM forecasts")) == before


# --- scoring -------------------------------------------------------------------------------------

def test_tick_scores_forecasts_whose_target_passed(user, ctl, base):
    made = []
    for _ in range(4):
        r = predict(user, ASSET, {"horizon_hours": 1})
        assert r.status == 200, r
        made.append(r.json())
    ids = forecasts_of(user["id"])
    assert len(ids) == 4, ids
    exact, between, none_after, future = ids
    predicted = {fid: Decimal(f["predicted_price"]) for fid, f in zip(ids, made)}

    # Targets after the newest point (base): nothing at or after them yet.
    move_target(exact, base + 30)
    move_target(between, base + 40)
    move_target(none_after, base + 120)
    tick(ctl)
    for fid in ids:
        assert row(fid)[12:] == ["", "", ""], (fid, row(fid))

    # Prices arrive: one exactly at the first target, one after the second, one later still.
    add_price(base + 30, "120.5")
    add_price(base + 45, "130")
    add_price(base + 90, "140.25")
    t0 = time.time()
    n = tick(ctl)
    t1 = time.time()
    assert n >= 2, n
    expect = {exact: Decimal("120.5"), between: Decimal("130")}
    scored_at = {}
    for fid, actual in expect.items():
        r = row(fid)
        assert r[12] == str(actual), (fid, r)  # the first price at or after the target
        want = abs(actual - predicted[fid]) / actual
        assert abs(Decimal(r[13]) - want) <= Decimal("1e-15") * max(want, 1), (fid, r, want)
        assert t0 - 2 <= int(r[14]) <= t1 + 2, (fid, r, t0, t1)
        scored_at[fid] = r[14]
    # No price at or after its target, or a target still to come: not scored.
    assert row(none_after)[12:] == ["", "", ""], row(none_after)
    assert row(future)[12:] == ["", "", ""], row(future)

    # A scored forecast is scored once: a later tick, after another price right at the target's
    # side, leaves it as it was.
    add_price(base + 31, "99")
    time.sleep(1.1)
    tick(ctl)
    for fid, actual in expect.items():
        r = row(fid)
        assert r[12] == str(actual) and r[14] == scored_at[fid], (fid, r)
    assert row(none_after)[12:] == ["", "", ""], row(none_after)

    # Its price arrives: now it is scored, against that price (not the newest, not an older one).
    add_price(base + 150, "150")
    add_price(base + 180, "160")
    tick(ctl)
    r = row(none_after)
    assert r[12] == "150" and r[14], r
    want = abs(Decimal("150") - predicted[none_after]) / Decimal("150")
    assert abs(Decimal(r[13]) - want) <= Decimal("1e-15") * max(want, 1), (r, want)
    assert row(future)[12:] == ["", "", ""], row(future)

    # Even a price after its target (only the owner could write one in the future) does not
    # score a forecast whose time has not come: tick waits for the target, not for a price.
    future_target = int(row(future)[10])
    assert future_target > time.time() + 3000, row(future)
    add_price(future_target + 60, "170")
    tick(ctl)
    assert row(future)[12:] == ["", "", ""], row(future)
