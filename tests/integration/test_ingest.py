"""Signed price ingestion: POST /api/v1/ingest/prices and `aspidactl import-prices` (API.md,
"Ingestion").

Every stack has the demo feed `source demo { allowed_ips = 127.0.0.1/32, ::1/128 }`, whose name
and key the env file carries (ASPIDA_SOURCE_NAME, ASPIDA_SOURCE_SECRET). Each test works on listed
assets of its own (made here through the owner role), so the demo assets other tests read are never
touched. Times are relative to now: ingestion refuses points older than ingest_max_age (7 days) or
more than ingest_future_skew (5 minutes) ahead.
"""

import concurrent.futures
import datetime
import hashlib
import hmac
import json
import os
import time
import uuid

import pytest

from aspida_util import assert_error, assert_security_headers, log_events, stack_dir, wait_for
from conftest import http

PATH = "/api/v1/ingest/prices"
OTHER_SECRET = "0123456789abcdef" * 4


def iso(t):
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(points, **extra):
    return json.dumps({"points": points, **extra}, separators=(",", ":")).encode()


def point(asset, t, price):
    return {"asset_id": asset, "ts": iso(t), "price": price}


def post(env, body, source=None, signature=None, client="127.0.0.1", secret=None):
    """POST a body as the demo feed; source/signature False leave the header out."""
    headers = {"Content-Type": "application/json"}
    name = env["ASPIDA_SOURCE_NAME"] if source is None else source
    if name is not False:
        headers["X-Source"] = name
    if signature is None:
        signature = sign(secret or env["ASPIDA_SOURCE_SECRET"], body)
    if signature is not False:
        headers["X-Signature"] = signature
    return http("POST", PATH, headers, body=body, source=client)


def ingest(env, points):
    """A signed batch that must be answered 200; returns the answer."""
    r = post(env, encode(points))
    assert r.status == 200, r
    assert_security_headers(r)
    body = r.json()
    assert set(body) == {"accepted", "rejected"}, body
    return body


def reasons(body):
    return [(x["index"], x["reason"]) for x in body["rejected"]]


@pytest.fixture
def new_asset(psql):
    """Makes listed assets of the test's own."""
    def make():
        aid = "T" + uuid.uuid4().hex[:9].upper()
        psql(f"INSERT INTO assets (id, name) VALUES ('{aid}', 'ingestion test')")
        return aid
    return make


def calm(asset, start, n=20, base=100):
    """n points a minute apart from start, within 0.4 % of base: a quiet market."""
    return [point(asset, start + 60 * i, f"{base + (i % 5) / 10:g}") for i in range(n)]


def stored(psql, asset):
    out = psql(f"SELECT extract(epoch FROM ts)::bigint, trim_scale(price)::text, source FROM prices"
               f" WHERE asset_id = '{asset}' ORDER BY ts")
    return [tuple(line.split("|")) for line in out.splitlines() if line]


def latest(asset):
    r = http("GET", f"/api/v1/price/{asset}")
    assert r.status == 200, r
    return r.json()


def events(aspida_log, kind, predicate=lambda e: True, n=1, timeout=5):
    """Waits for at least n log events of a kind (matching predicate); returns them."""
    def found():
        got = [e for e in log_events(aspida_log.since())
               if e.get("event") == kind and predicate(e)]
        return got if len(got) >= n else None
    return wait_for(found, timeout, what=f"{n} {kind} event(s)")


# --- the signature, the source and the address ----------------------------------------------------

SIGNATURE_CASES = {
    # name: (headers for post(), status, error code, the event's reason)
    "good": (lambda env, body: {}, 200, None, None),
    "wrong_secret": (lambda env, body: {"secret": OTHER_SECRET}, 401, "unauthorized",
                     "bad_signature"),
    "altered_body": (lambda env, body: {"signature": sign(env["ASPIDA_SOURCE_SECRET"],
                                                          body.replace(b'"100"', b'"101"'))},
                     401, "unauthorized", "bad_signature"),
    "unknown_source": (lambda env, body: {"source": "nosuchfeed"}, 401, "unauthorized",
                       "unknown_source"),
    "wrong_address": (lambda env, body: {"client": "127.0.0.77"}, 403, "ip_not_allowed",
                      "address_not_allowed"),
    "uppercase_hex": (lambda env, body: {"signature": sign(env["ASPIDA_SOURCE_SECRET"],
                                                           body).upper().replace("SHA256=",
                                                                                 "sha256=")},
                      401, "unauthorized", "malformed_signature"),
    "no_prefix": (lambda env, body: {"signature": sign(env["ASPIDA_SOURCE_SECRET"], body)[7:]},
                  401, "unauthorized", "malformed_signature"),
    "uppercase_prefix": (lambda env, body: {"signature": "SHA256=" + sign(
        env["ASPIDA_SOURCE_SECRET"], body)[7:]}, 401, "unauthorized", "malformed_signature"),
    "truncated": (lambda env, body: {"signature": sign(env["ASPIDA_SOURCE_SECRET"], body)[:-1]},
                  401, "unauthorized", "malformed_signature"),
    "no_signature": (lambda env, body: {"signature": False}, 401, "unauthorized",
                     "no_signature"),
    "no_source": (lambda env, body: {"source": False}, 401, "unauthorized", "no_source"),
}


@pytest.mark.smoke
@pytest.mark.parametrize("case", sorted(SIGNATURE_CASES))
def test_signature_matrix(env, psql, new_asset, aspida_log, case):
    make, status, code, why = SIGNATURE_CASES[case]
    asset = new_asset()
    body = encode([point(asset, time.time() - 60, "100")])
    kw = make(env, body)
    r = post(env, body, **kw)
    if status == 200:
        assert r.status == 200, r
        assert r.json() == {"accepted": 1, "rejected": []}
        assert [p[1:] for p in stored(psql, asset)] == [("100", env["ASPIDA_SOURCE_NAME"])]
        return
    assert_error(r, status, code)
    assert stored(psql, asset) == [], "a refused batch stored something"
    ev = events(aspida_log, "ingest_refused", lambda e: e["details"].get("reason") == why)[0]
    assert ev["severity"] == "warning", ev
    if case != "no_source":
        want = "nosuchfeed" if case == "unknown_source" else env["ASPIDA_SOURCE_NAME"]
        assert ev["details"]["source"] == want, ev
    # Neither the key nor anything of the signature is ever logged.
    text = "\n".join(aspida_log.since())
    assert env["ASPIDA_SOURCE_SECRET"] not in text
    assert sign(env["ASPIDA_SOURCE_SECRET"], body)[7:][:16] not in text
    assert OTHER_SECRET not in text


def test_unsigned_body_is_never_parsed(env, new_asset):
    """Credentials first: garbage from an unknown feed or with a bad signature is a 401, not a
    400, and a signed garbage body is judged as JSON only once the signature holds."""
    garbage = b'{"points": [ not json'
    assert_error(post(env, garbage, source="nosuchfeed"), 401, "unauthorized")
    assert_error(post(env, garbage, secret=OTHER_SECRET), 401, "unauthorized")
    assert_error(post(env, garbage), 400, "invalid_json")
    # The address is judged before the body too.
    assert_error(post(env, garbage, client="127.0.0.77"), 403, "ip_not_allowed")


def test_a_feed_sends_no_user_credentials(env, new_asset, psql):
    """The route takes no user credentials: a bogus Bearer token changes nothing either way."""
    asset = new_asset()
    body = encode([point(asset, time.time() - 60, "100")])
    headers = {"Content-Type": "application/json", "X-Source": env["ASPIDA_SOURCE_NAME"],
               "X-Signature": sign(env["ASPIDA_SOURCE_SECRET"], body),
               "Authorization": "Bearer not.a.token"}
    r = http("POST", PATH, headers, body=body)
    assert r.status == 200, r
    headers["X-Signature"] = sign(OTHER_SECRET, body)
    assert_error(http("POST", PATH, headers, body=body), 401, "unauthorized")


def test_source_is_recorded(env, psql, new_asset):
    asset = new_asset()
    ingest(env, [point(asset, time.time() - 60, "5")])
    assert stored(psql, asset)[0][2] == env["ASPIDA_SOURCE_NAME"]
    assert psql("SELECT last_seen_at > now() - interval '1 minute' FROM sources"
                f" WHERE name = '{env['ASPIDA_SOURCE_NAME']}'") == "t"


# --- the body -------------------------------------------------------------------------------------

def test_body_shape(env, new_asset, psql):
    asset = new_asset()
    now = time.time()
    good = point(asset, now - 60, "1")
    cases = [
        encode([]),                                        # 1..1000 points
        encode([good] * 1001),
        b'{"points":{}}',
        b'{"points":"x"}',
        b'{"points":[1]}',                                 # points are objects
        b'{"points":[null]}',
        b"{}",                                             # points is required
        encode([good], source="demo"),                     # no other member
        encode([dict(good, volume="1")]),                  # a point has 3 members at most
        encode([good, dict(good, Price="1")]),
    ]
    for body in cases:
        assert_error(post(env, body), 400, "invalid_input")
    assert stored(psql, asset) == [], "an invalid body stored something"
    # Exactly 1000 points are fine.
    body = ingest(env, [point(asset, now - 60 * (i + 1), "1") for i in range(1000)])
    assert body == {"accepted": 1000, "rejected": []}
    assert len(stored(psql, asset)) == 1000


def test_body_size_limit_is_ingest_max_body_bytes(env, new_asset):
    """ingest_max_body_bytes (256 KiB), not max_body_bytes (64 KiB), bounds a feed's body; one
    byte more is a 413 before the body is read."""
    asset = new_asset()
    limit = 262144
    body = encode([point(asset, time.time() - 60, "1")])
    exact = body + b" " * (limit - len(body))   # whitespace after the value is strict JSON
    assert len(exact) == limit
    r = post(env, exact)
    assert r.status == 200 and r.json()["accepted"] == 1, r
    over = body + b" " * (limit + 1 - len(body))
    assert_error(post(env, over), 413, "payload_too_large")


# --- each point's reason --------------------------------------------------------------------------

def test_every_reason_in_api_order(env, psql, new_asset, aspida_log):
    asset = new_asset()
    now = int(time.time())
    seed = calm(asset, now - 3600)
    assert ingest(env, seed)["accepted"] == len(seed)
    old = now - 8 * 86400
    taken = now - 3600          # the first seed point's time
    fresh = now - 600
    batch = [
        # 0..: one reason each
        point("NOSUCH1", now - 60, "100"),                        # invalid_asset: unlisted
        point("bad id", now - 60, "100"),                         # invalid_asset: malformed
        point(asset, now - 61, "-1"),                             # out_of_range: not positive
        point(asset, now - 62, "100.50"),                         # out_of_range: not canonical
        {"asset_id": asset, "ts": iso(now - 63), "price": 100},   # out_of_range: a JSON number
        point(asset, now - 64, "1000000000001"),                  # out_of_range: > max_price
        point(asset, now - 65, "0.0000000000001"),                # out_of_range: 13 decimals
        point(asset, old, "100"),                                 # stale: too old
        point(asset, now + 900, "100"),                           # stale: too far ahead
        {"asset_id": asset, "ts": "2026-11-28 12:00:00", "price": "100"},  # stale: not RFC 3339
        {"asset_id": asset, "price": "100"},                      # stale: no time
        point(asset, taken, "100"),                               # duplicate: stored
        point(asset, fresh, "100.1"),                             # accepted
        point(asset, fresh, "100.1"),                             # duplicate: earlier in the batch
        point(asset, now - 540, "10000"),                         # outlier
        # the first reason wins
        point("NOSUCH1", old, "-1"),                              # invalid_asset, not out_of_range
        {"price": "100", "ts": iso(now - 70)},                    # invalid_asset: no asset
        {"asset_id": 7, "ts": iso(now - 71), "price": "100"},     # invalid_asset: not a string
        point(asset, old, "abc"),                                 # out_of_range, not stale
        point(asset, old, "10000"),                               # stale, not outlier
        point(asset, taken, "10000"),                             # duplicate, not outlier
        point(asset, fresh, "-5"),                                # out_of_range, not duplicate
    ]
    want = [
        (0, "invalid_asset"), (1, "invalid_asset"), (2, "out_of_range"), (3, "out_of_range"),
        (4, "out_of_range"), (5, "out_of_range"), (6, "out_of_range"), (7, "stale"),
        (8, "stale"), (9, "stale"), (10, "stale"), (11, "duplicate"), (13, "duplicate"),
        (14, "outlier"), (15, "invalid_asset"), (16, "invalid_asset"), (17, "invalid_asset"),
        (18, "out_of_range"), (19, "stale"), (20, "duplicate"), (21, "out_of_range"),
    ]
    body = ingest(env, batch)
    assert body["accepted"] == 1, body
    assert reasons(body) == want
    rows = stored(psql, asset)
    assert len(rows) == len(seed) + 1 and (str(fresh), "100.1", "demo") in rows, rows
    # One price_rejected event per rejection, with its index, reason and asset.
    got = events(aspida_log, "price_rejected", n=len(want))
    assert sorted((e["details"]["index"], e["details"]["reason"]) for e in got) == want
    for e in got:
        assert e["principal"] == f"source:{env['ASPIDA_SOURCE_NAME']}", e
        assert e["details"]["source"] == env["ASPIDA_SOURCE_NAME"], e
    by_index = {e["details"]["index"]: e for e in got}
    assert by_index[14]["details"]["asset"] == asset
    assert by_index[1]["details"]["asset"] is None      # input is logged only when well-formed
    assert by_index[14]["severity"] == "warning" and by_index[14]["details"]["z"] > 6


def test_duplicates_against_stored_rows_and_retries(env, psql, new_asset):
    asset = new_asset()
    now = int(time.time())
    batch = calm(asset, now - 1200, n=10)
    assert ingest(env, batch) == {"accepted": 10, "rejected": []}
    # A retried batch stores nothing twice: first write wins, even at another price.
    again = ingest(env, batch)
    assert again["accepted"] == 0
    assert reasons(again) == [(i, "duplicate") for i in range(10)]
    other = ingest(env, [point(asset, now - 1200, "100.2")])
    assert reasons(other) == [(0, "duplicate")]
    assert stored(psql, asset)[0][1] == "100"


def test_a_price_times_100_is_an_outlier(env, psql, new_asset, aspida_log):
    asset = new_asset()
    now = int(time.time())
    ingest(env, calm(asset, now - 3600))
    before = latest(asset)
    body = ingest(env, [point(asset, now - 60, "10020")])
    assert body == {"accepted": 0, "rejected": [{"index": 0, "reason": "outlier"}]}
    assert latest(asset) == before
    ev = events(aspida_log, "price_rejected",
                lambda e: e["details"].get("asset") == asset)[0]
    assert ev["details"]["reason"] == "outlier" and ev["details"]["z"] > 6, ev
    assert ev["details"]["jump"] > 0.5, ev
    # The market goes on: a calm point after it is accepted as usual.
    assert ingest(env, [point(asset, now - 30, "100.2")])["accepted"] == 1
    assert latest(asset)["price"] == "100.2"


def test_a_jump_from_the_last_price_is_an_outlier(env, psql, new_asset):
    """A jump beyond max_jump (50 %) from the last accepted price is an outlier even where the
    series' spread keeps the z-score low."""
    asset = new_asset()
    now = int(time.time())
    # A wild series, written by the owner: 50, 100, 150, ... so median 100 and MAD 50; the
    # newest point is 150.
    values = ",".join(f"('{asset}', to_timestamp({now - 3600 + 60 * i}), {50 * (1 + i % 3)},"
                      " 'owner')" for i in range(21))
    psql(f"INSERT INTO prices (asset_id, ts, price, source) VALUES {values}")
    assert latest(asset)["price"] == "150"
    # 60: |60 - 100| / (1.4826 * 50) = 0.54 sigma, but 60 % below the last price.
    assert reasons(ingest(env, [point(asset, now - 60, "60")])) == [(0, "outlier")]
    # 100: 33 % below it, and at the median.
    assert ingest(env, [point(asset, now - 50, "100")])["accepted"] == 1


def test_accepted_points_are_served_at_once(env, new_asset):
    """There is no latest-price cache yet: GET /price and /prices read what was just stored."""
    asset = new_asset()
    now = int(time.time())
    batch = calm(asset, now - 1800, n=15)
    ingest(env, batch)
    newest = batch[-1]
    assert latest(asset) == {"asset_id": asset, "price": newest["price"], "currency": "USD",
                             "ts": newest["ts"]}
    r = http("GET", f"/api/v1/prices/{asset}?limit=100")
    assert r.status == 200, r
    assert [(p["ts"], p["price"]) for p in r.json()["points"]] == \
        [(p["ts"], p["price"]) for p in reversed(batch)]


# --- re-anchoring ---------------------------------------------------------------------------------

def test_one_batch_never_moves_the_level(env, psql, new_asset):
    """Five agreeing points spanning well over reanchor_span, in one signed batch: all outliers,
    and the level stays."""
    asset = new_asset()
    now = int(time.time())
    ingest(env, calm(asset, now - 7200))
    before = latest(asset)
    run = [point(asset, now - 1800 + 240 * i, f"{200 + i % 2}") for i in range(8)]
    body = ingest(env, run)
    assert body["accepted"] == 0 and reasons(body) == [(i, "outlier") for i in range(8)]
    assert latest(asset) == before
    assert all(float(p) < 150 for _, p, _ in stored(psql, asset))


@pytest.fixture
def short_reanchor_span(stack):
    stack.stack_conf_set("reanchor_span", "2")
    stack.workers_restart()
    wait_for(lambda: http("GET", "/readyz").status == 200, 30, what="workers back")
    yield 2
    stack.stack_conf_set("reanchor_span", "")
    stack.workers_restart()
    wait_for(lambda: http("GET", "/readyz").status == 200, 30, what="workers back")


def test_a_real_move_is_accepted_across_requests(env, psql, new_asset, aspida_log,
                                                  short_reanchor_span):
    asset = new_asset()
    now = int(time.time())
    ingest(env, calm(asset, now - 7200))
    # The market doubles: three points now ...
    first = [point(asset, now - 1500 + 60 * i, p) for i, p in enumerate(["200", "201", "199.5"])]
    body = ingest(env, first)
    assert reasons(body) == [(0, "outlier"), (1, "outlier"), (2, "outlier")]
    assert float(latest(asset)["price"]) < 150
    # ... and two more, in another request, arriving more than reanchor_span later.
    time.sleep(short_reanchor_span + 1.2)
    second = [point(asset, now - 1320, "200.5"), point(asset, now - 1260, "200")]
    body = ingest(env, second)
    assert body == {"accepted": 2, "rejected": []}, body
    assert latest(asset) == {"asset_id": asset, "price": "200", "currency": "USD",
                             "ts": iso(now - 1260)}
    rows = stored(psql, asset)
    new_level = [(t, p) for t, p, _ in rows if float(p) > 150]
    assert sorted(new_level) == sorted((str(now - 1500 + 60 * i), p) for i, p in
                                       enumerate(["200", "201", "199.5", "200.5", "200"])), rows
    ev = events(aspida_log, "price_reanchored", lambda e: e["details"].get("asset") == asset)[0]
    assert ev["severity"] == "warning", ev
    assert ev["details"]["points_of_earlier_batches"] == 3, ev
    assert ev["details"]["points_of_this_batch"] == 2, ev
    assert ev["details"]["level_from"] == iso(now - 1500), ev
    # The new level holds; the old one is now the outlier.
    assert ingest(env, [point(asset, now - 1200, "200.2")])["accepted"] == 1
    assert reasons(ingest(env, [point(asset, now - 1140, "100")])) == [(0, "outlier")]


def test_a_pending_point_stored_meanwhile_leaves_the_run(env, psql, new_asset,
                                                       short_reanchor_span):
    """A candidate whose time got a price from elsewhere (the owner's SQL) can never be stored:
    it leaves the run instead of blocking the asset's batches."""
    asset = new_asset()
    now = int(time.time())
    ingest(env, calm(asset, now - 7200))
    times = [now - 1500 + 60 * i for i in range(6)]
    assert reasons(ingest(env, [point(asset, t, "200") for t in times[:3]])) == \
        [(0, "outlier"), (1, "outlier"), (2, "outlier")]
    psql(f"INSERT INTO prices (asset_id, ts, price, source)"
         f" VALUES ('{asset}', to_timestamp({times[0]}), 200, 'owner')")
    time.sleep(short_reanchor_span + 1.2)
    # Without the first point the run is 4 long: no new level yet, and no error.
    body = ingest(env, [point(asset, t, "200") for t in times[3:5]])
    assert reasons(body) == [(0, "outlier"), (1, "outlier")], body
    body = ingest(env, [point(asset, times[5], "200")])
    assert body == {"accepted": 1, "rejected": []}, body
    assert sorted(int(t) for t, p, _ in stored(psql, asset) if float(p) > 150) == times


def test_points_that_disagree_do_not_reanchor(env, psql, new_asset, short_reanchor_span):
    """A run must agree within max_jump: outliers all over the place never form a level."""
    asset = new_asset()
    now = int(time.time())
    ingest(env, calm(asset, now - 7200))
    before = latest(asset)
    ingest(env, [point(asset, now - 1500, "200"), point(asset, now - 1440, "1000")])
    time.sleep(short_reanchor_span + 1.2)
    body = ingest(env, [point(asset, now - 1380, "5000"), point(asset, now - 1320, "210"),
                        point(asset, now - 1260, "30")])
    assert body["accepted"] == 0, body
    assert latest(asset) == before


# --- concurrency ----------------------------------------------------------------------------------

def test_concurrent_batches_for_one_asset(env, psql, new_asset):
    """Batches for one asset are serialised: the same point sent by many at once is stored once,
    and distinct points all arrive."""
    asset = new_asset()
    now = int(time.time())
    ingest(env, calm(asset, now - 7200, n=10))
    same = encode([point(asset, now - 600, "100.1")])
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(env, same), range(8)))
    assert all(r.status == 200 for r in answers), answers
    assert sum(r.json()["accepted"] for r in answers) == 1, [r.json() for r in answers]

    bodies = [encode([point(asset, now - 3000 + 60 * k + i, "100.2") for i in range(5)])
              for k in range(8)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda b: post(env, b), bodies))
    assert all(r.status == 200 for r in answers), answers
    assert sum(r.json()["accepted"] for r in answers) == 40
    assert len(stored(psql, asset)) == 10 + 1 + 40

    # Outliers sent at once all join the asset's pending run: no batch's state is lost to
    # another's write.
    bodies = [encode([point(asset, now - 300 + k, "200")]) for k in range(8)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda b: post(env, b), bodies))
    assert all(r.status == 200 and reasons(r.json()) == [(0, "outlier")] for r in answers), \
        answers
    assert psql("SELECT jsonb_array_length(candidates) FROM ingest_state"
                f" WHERE asset_id = '{asset}'") == "8"


# --- aspidactl import-prices ----------------------------------------------------------------------

def _csv(lines):
    """A CSV file in the stack's tmp/, which the run user (aspidactl) can read."""
    path = os.path.join(stack_dir(), "tmp", f"import-{uuid.uuid4().hex[:8]}.csv")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
    os.chmod(path, 0o644)
    return path


def test_import_prices(ctl, psql, new_asset):
    asset = new_asset()
    now = int(time.time())
    # 1000 quiet points (the first chunk), then lines of every kind in the second chunk.
    lines = ["asset_id,ts,price"]
    lines += [f"{asset},{iso(now - 86400 + 60 * i)},{100 + (i % 7) / 10:g}" for i in range(1000)]
    lines += [
        f"{asset},{iso(now - 60)},100.3",             # 1002: accepted
        f"NOSUCH1,{iso(now - 60)},100",               # 1003: invalid_asset
        f"{asset},{iso(now - 59)},1e3",               # 1004: out_of_range
        f"{asset},{iso(now - 9 * 86400)},100",        # 1005: stale
        f"{asset},{iso(now - 86400)},100",            # 1006: duplicate of line 2
        f"{asset},{iso(now - 58)},10000",             # 1007: outlier
        f"{asset},{iso(now - 57)}",                   # 1008: malformed
        "",                                           # 1009: blank, skipped
        f"{asset},{iso(now - 56)},100.4\r",           # 1010: accepted (CRLF)
    ]
    path = _csv(lines)
    try:
        r = ctl("import-prices", path, "--source", "csv-test")
        assert r.returncode == 3, (r.stdout, r.stderr)
        out = r.stdout.splitlines()
        assert out == ["line 1003: invalid_asset", "line 1004: out_of_range", "line 1005: stale",
                       "line 1006: duplicate", "line 1007: outlier",
                       "line 1008: malformed (asset_id,ts,price expected)",
                       "accepted 1002, rejected 6"], r.stdout
        rows = stored(psql, asset)
        assert len(rows) == 1002 and {s for _, _, s in rows} == {"csv-test"}
        # Loading it again stores nothing twice.
        r = ctl("import-prices", path, "--source", "csv-test")
        assert r.returncode == 3 and r.stdout.splitlines()[-1] == "accepted 0, rejected 1008", \
            (r.stdout, r.stderr)
    finally:
        os.unlink(path)


def test_import_prices_all_accepted(ctl, psql, new_asset):
    asset = new_asset()
    now = int(time.time())
    path = _csv(["asset_id,ts,price", f"{asset},{iso(now - 120)},7.25",
                 f"{asset},{iso(now - 60)},7.26"])
    try:
        r = ctl("import-prices", "--source", "csv-test", path)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert r.stdout == "accepted 2, rejected 0\n"
        assert latest(asset)["price"] == "7.26"
    finally:
        os.unlink(path)


def test_import_prices_refuses_bad_input(ctl, new_asset, psql):
    asset = new_asset()
    good = _csv(["asset_id,ts,price", f"{asset},{iso(time.time() - 60)},1"])
    bad_header = _csv(["asset,ts,price", f"{asset},{iso(time.time() - 60)},1"])
    try:
        r = ctl("import-prices", bad_header, "--source", "csv-test")
        assert r.returncode == 1 and "asset_id,ts,price" in r.stderr, (r.stdout, r.stderr)
        for name in ("Bad", "-x", "a" * 33, "a.b", ""):
            r = ctl("import-prices", good, "--source", name)
            assert r.returncode in (1, 2) and r.stdout == "", (name, r.stdout, r.stderr)
        r = ctl("import-prices", good)
        assert r.returncode == 2, (r.stdout, r.stderr)
        r = ctl("import-prices", good, "--source", "csv-test", "--force")
        assert r.returncode == 2, (r.stdout, r.stderr)
        r = ctl("import-prices", good + ".missing", "--source", "csv-test")
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert stored(psql, asset) == []
    finally:
        os.unlink(good)
        os.unlink(bad_header)
