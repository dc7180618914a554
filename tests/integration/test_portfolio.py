"""The portfolio (API.md, Portfolio): buy and sell at the latest price, holdings valued at the
latest prices and rounded half-even to 8 decimals, every quantity a strict canonical decimal
string (never a float, never rewritten), no trading on a price older than max_trade_price_age,
selling more than held refused even under concurrency, the Idempotency-Key (a retry replays, a
different body conflicts, concurrent duplicates wait, errors are not stored, scoped to the user and
the route), each user seeing only their own holdings and trades, keyset-paginated trades, and the
credentials rules (read/write scopes of API keys, anonymous, CSRF on cookie sessions).

Each test trades assets of its own, made for this run (P<RUN><tag>, kept afterwards like the other
modules' test assets), so the prices it inserts are the latest of that asset and no other test
(nor the demo data) changes them. Users and client addresses come from auth_helpers (fresh per run
and per test).
"""

import hashlib
import re
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from aspida_util import RFC3339_Z, assert_error, assert_security_headers
from auth_helpers import (RUN, auth_headers, concurrently, cookie_login, login, new_user,
                          remember, source_for)
from conftest import http, stack_env

API = "/api/v1"
PORTFOLIO = API + "/portfolio"
BUY = PORTFOLIO + "/buy"
SELL = PORTFOLIO + "/sell"
TRADES = PORTFOLIO + "/trades"
TRADE_KEYS = {"trade_id", "asset_id", "side", "quantity", "price", "ts"}
HOLDING_KEYS = {"asset_id", "quantity", "cost_basis", "market_value"}
# API.md: canonical decimal strings (no sign, no exponent, trailing zeros trimmed); "0" allowed
# for computed values.
CANONICAL = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$")
UA = "aspida-tests/1.0 (portfolio)"


# --- helpers -------------------------------------------------------------------------------------

def asset_id(tag):
    """This run's asset for tag (one character): P + the run tag + tag, 10 characters."""
    a = f"P{RUN.upper()}{tag}"
    assert re.fullmatch(r"[A-Z0-9]{10}", a), a
    return a


def make_asset(psql, tag, price=None, age_seconds=0):
    """Lists this run's asset for tag; with price, inserts a point age_seconds old."""
    a = asset_id(tag)
    psql(f"INSERT INTO assets (id, name, currency) VALUES ('{a}', 'Portfolio test {tag}', 'USD')"
         " ON CONFLICT DO NOTHING")
    if price is not None:
        set_price(psql, a, price, age_seconds)
    return a


def set_price(psql, a, price, age_seconds=0):
    psql("INSERT INTO prices (asset_id, ts, price, source) VALUES"
         f" ('{a}', now() - make_interval(secs => {int(age_seconds)}), '{price}', 'test')")


@pytest.fixture
def user(request):
    """A fresh user, logged in (bearer), from this test's own address."""
    src = source_for("portfolio", request.node.name)
    u = new_user("pf-" + request.node.name, src)
    u["src"] = src
    u["token"] = login(u, src)["access_token"]
    return u


def other_user(request, tag):
    src = source_for("portfolio", request.node.name, tag)
    u = new_user(f"pf-{tag}-" + request.node.name, src)
    u["src"] = src
    u["token"] = login(u, src)["access_token"]
    return u


def trade(u, side, asset, quantity, key=None, headers=None, raw=None):
    h = auth_headers(u["token"])
    if key is not None:
        h["Idempotency-Key"] = key
    h.update(headers or {})
    body = raw if raw is not None else {"asset_id": asset, "quantity": quantity}
    if raw is not None:
        h.setdefault("Content-Type", "application/json")
    return http("POST", BUY if side == "buy" else SELL, h, body=body, source=u["src"])


def trade_ok(u, side, asset, quantity, key=None):
    r = trade(u, side, asset, quantity, key)
    assert r.status == 200, (side, asset, quantity, key, r)
    assert_security_headers(r)
    return r.json()


def portfolio(u):
    r = http("GET", PORTFOLIO, auth_headers(u["token"]), source=u["src"])
    assert r.status == 200, r
    assert_security_headers(r)
    body = r.json()
    assert set(body) == {"holdings", "total_value"}, body
    for h in body["holdings"]:
        assert set(h) == HOLDING_KEYS, h
        for name in ("quantity", "cost_basis", "market_value"):
            assert isinstance(h[name], str) and CANONICAL.match(h[name]), (name, h)
    assert isinstance(body["total_value"], str) and CANONICAL.match(body["total_value"]), body
    return body


def holding(u, asset):
    """The holding of asset in GET /portfolio, or None."""
    found = [h for h in portfolio(u)["holdings"] if h["asset_id"] == asset]
    assert len(found) <= 1, found
    return found[0] if found else None


def db_quantity(psql, u, asset):
    """The holding's quantity in the table ('' when there is no row)."""
    return psql(f"SELECT trim_scale(quantity)::text FROM holdings WHERE user_id = {int(u['id'])}"
                f" AND asset_id = '{asset}'")


def db_trades(psql, u, where="true"):
    return int(psql(f"SELECT count(*) FROM trades WHERE user_id = {int(u['id'])} AND ({where})"))


def trades_page(u, query="", source=None, headers=None):
    h = auth_headers(u["token"])
    h.update(headers or {})
    return http("GET", TRADES + query, h, source=source or u["src"])


def half_even(v):
    """API.md's rounding of computed values, as canonical text."""
    d = Decimal(v).quantize(Decimal("0.00000001"), rounding=ROUND_HALF_EVEN).normalize()
    return "0" if d == 0 else format(d, "f")


def without_ts(trades):
    """The trades with ts dropped: GET /portfolio/trades rounds ts where the trade's answer
    truncates it (see test_listed_ts_is_the_trades_ts), so whole lists compare without it."""
    for t in trades:
        assert isinstance(t.get("ts"), str) and RFC3339_Z.match(t["ts"]), t
    return [{k: v for k, v in t.items() if k != "ts"} for t in trades]


def assert_trade(t, side, asset, quantity, price):
    assert set(t) == TRADE_KEYS, t
    assert isinstance(t["trade_id"], int) and not isinstance(t["trade_id"], bool), t
    assert t["trade_id"] > 0, t
    assert (t["asset_id"], t["side"], t["quantity"], t["price"]) == (asset, side, quantity,
                                                                      price), t
    assert isinstance(t["ts"], str) and RFC3339_Z.match(t["ts"]), t


# --- buying, selling and valuing -----------------------------------------------------------------

def test_buy_then_sell_shapes_and_values(user, psql):
    # Stored as 1234.50000 (numeric keeps the scale): the answer must be canonical, "1234.5".
    a = make_asset(psql, "A", "1234.50000")
    t = trade_ok(user, "buy", a, "2.5")
    assert_trade(t, "buy", a, "2.5", "1234.5")
    row = psql(f"SELECT user_id, asset_id, side, trim_scale(quantity)::text,"
               f" trim_scale(price)::text, idempotency_key IS NULL,"
               f" to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
               f" FROM trades WHERE id = {t['trade_id']}")
    assert row.split("|") == [str(user["id"]), a, "buy", "2.5", "1234.5", "t", t["ts"]], row

    p = portfolio(user)
    # 2.5 x 1234.5 = 3086.25
    assert p["holdings"] == [{"asset_id": a, "quantity": "2.5", "cost_basis": "3086.25",
                              "market_value": "3086.25"}], p
    assert p["total_value"] == "3086.25", p

    # A new latest price revalues the holding; the cost basis stays what was paid.
    set_price(psql, a, "2000")
    assert holding(user, a) == {"asset_id": a, "quantity": "2.5", "cost_basis": "3086.25",
                                "market_value": "5000"}
    t2 = trade_ok(user, "sell", a, "1")
    assert_trade(t2, "sell", a, "1", "2000")
    assert t2["trade_id"] > t["trade_id"]
    # Average cost: what remains keeps 1.5/2.5 of the basis, 1851.75.
    p = portfolio(user)
    assert p["holdings"] == [{"asset_id": a, "quantity": "1.5", "cost_basis": "1851.75",
                              "market_value": "3000"}], p
    assert p["total_value"] == "3000", p

    # Selling more than held: 409 insufficient_holdings, nothing changes.
    for q in ("1.50000001", "2", "1000000000"):
        assert_error(trade(user, "sell", a, q), 409, "insufficient_holdings")
    assert db_quantity(psql, user, a) == "1.5"
    assert holding(user, a)["quantity"] == "1.5"
    assert db_trades(psql, user) == 2

    # Selling exactly what is held empties it; then nothing is left to sell.
    assert_trade(trade_ok(user, "sell", a, "1.5"), "sell", a, "1.5", "2000")
    assert db_quantity(psql, user, a) in ("0", "")
    assert_error(trade(user, "sell", a, "0.00000001"), 409, "insufficient_holdings")
    assert db_trades(psql, user) == 3
    for h in portfolio(user)["holdings"]:
        assert h["asset_id"] != a or h["quantity"] == "0", h


def test_values_are_rounded_half_even(user, psql):
    # Every asset at 0.5: quantity x 0.5 lands exactly on a half at the 9th decimal.
    h1 = make_asset(psql, "H", "0.5")
    h2 = make_asset(psql, "J", "0.5")
    h3 = make_asset(psql, "K", "0.5")
    trade_ok(user, "buy", h1, "0.00000005")  # 0.000000025: half-even 0.00000002, half-up ...3
    trade_ok(user, "buy", h2, "0.00000007")  # 0.000000035: half-even 0.00000004, truncated ...3
    trade_ok(user, "buy", h3, "0.00000001")  # 0.000000005: half-even 0, half-up 0.00000001
    assert half_even("0.000000025") == "0.00000002" and half_even("0.000000035") == "0.00000004"
    assert half_even("0.000000005") == "0"
    p = portfolio(user)
    got = {h["asset_id"]: h for h in p["holdings"]}
    assert got == {
        h1: {"asset_id": h1, "quantity": "0.00000005", "cost_basis": "0.00000002",
             "market_value": "0.00000002"},
        h2: {"asset_id": h2, "quantity": "0.00000007", "cost_basis": "0.00000004",
             "market_value": "0.00000004"},
        h3: {"asset_id": h3, "quantity": "0.00000001", "cost_basis": "0",
             "market_value": "0"},
    }, p
    # The exact sum 0.000000065 rounds half-even to 0.00000006 (half-up: ...7). The sum of the
    # rounded values is 0.00000006 too, so either reading of "computed values" agrees here.
    assert p["total_value"] == half_even("0.000000065") == "0.00000006", p
    # The holdings keep every digit: rounding is only for the answer.
    assert db_quantity(psql, user, h1) == "0.00000005"
    assert psql(f"SELECT trim_scale(cost_basis)::text FROM holdings WHERE user_id = {user['id']}"
                f" AND asset_id = '{h1}'") == "0.000000025"


def test_empty_portfolio(user):
    assert portfolio(user) == {"holdings": [], "total_value": "0"}
    r = trades_page(user)
    assert r.status == 200, r
    assert r.json() == {"trades": [], "next_cursor": None}


def test_stale_or_missing_price_is_a_conflict(user, psql):
    # The newest point is 10 minutes old (max_trade_price_age is 300 s): no trading on it.
    a = make_asset(psql, "S", "100", age_seconds=600)
    for side in ("buy", "sell"):
        err = assert_error(trade(user, side, a, "1"), 409, "conflict")
        assert "price" in err["message"].lower(), err
    assert db_trades(psql, user) == 0 and db_quantity(psql, user, a) == ""
    # A listed asset without any point cannot be traded either.
    n = make_asset(psql, "N")
    assert_error(trade(user, "buy", n, "1"), 409, "conflict")
    # A fresh point (the newest one counts) makes the same trade pass.
    set_price(psql, a, "101")
    assert_trade(trade_ok(user, "buy", a, "1"), "buy", a, "1", "101")
    # A point older than the newest does not make it stale again.
    set_price(psql, a, "99", age_seconds=3600)
    assert_trade(trade_ok(user, "sell", a, "1"), "sell", a, "1", "101")
    assert db_trades(psql, user) == 2


def test_unknown_and_malformed_assets(user, psql):
    for a in ("ZZZZZZZZZ9", "Q" + RUN.upper()):
        assert_error(trade(user, "buy", a, "1"), 404, "unknown_asset")
        assert_error(trade(user, "sell", a, "1"), 404, "unknown_asset")
    for a in ("eth", "ETH ", "../ETH", "ETH'--", "<b>X</b>", "ABCDEFGHIJK", "", "ＥＴＨ", "E-TH"):
        assert_error(trade(user, "buy", a, "1"), 400, "invalid_asset")
    for raw in (b'{"asset_id":1,"quantity":"1"}', b'{"asset_id":null,"quantity":"1"}',
                b'{"asset_id":["ETH"],"quantity":"1"}'):
        assert_error(trade(user, "buy", None, None, raw=raw), 400, ("invalid_asset",
                                                                      "invalid_input"))
    assert db_trades(psql, user) == 0


HOSTILE_QUANTITIES = [
    "0", "0.0", "0.00000000", "-1", "+1", "1e3", "1E3", "1e-3", "NaN", "nan", "Infinity",
    "-Infinity", " 1", "1 ", "1\t", "01", "00.5", "1.", ".5", "1.000000001", "0.000000001",
    "1000000000.00000001", "1000000001", "99999999999999999999", "0x10", "１", "١", "1,5", "1_000",
    "1.50", "2.0", "", "1" * 33, "1.5.0", "--1", "½",
]


@pytest.mark.parametrize("quantity", HOSTILE_QUANTITIES, ids=[repr(q) for q in HOSTILE_QUANTITIES])
def test_hostile_quantities_are_invalid_input(user, psql, quantity):
    # Strict canonical input is the documented choice: "1.50" and "2.0" are refused, never
    # rewritten (API.md: canonical, trailing zeros trimmed).
    a = make_asset(psql, "Q", "10")
    for side in ("buy", "sell"):
        assert_error(trade(user, side, a, quantity), 400, "invalid_input")
    assert db_trades(psql, user) == 0 and db_quantity(psql, user, a) == ""


def test_quantity_must_be_a_json_string(user, psql):
    a = make_asset(psql, "Q", "10")
    for raw in ('{"asset_id":"%s","quantity":1}', '{"asset_id":"%s","quantity":1.5}',
                '{"asset_id":"%s","quantity":null}', '{"asset_id":"%s","quantity":true}',
                '{"asset_id":"%s","quantity":["1"]}', '{"asset_id":"%s","quantity":{"v":"1"}}',
                '{"asset_id":"%s"}', '{"asset_id":"%s","quantity":"1","price":"0.01"}',
                '{"asset_id":"%s","quantity":"1","user_id":1}',
                '{"asset_id":"%s","quantity":"1","side":"sell"}'):
        r = trade(user, "buy", None, None, raw=(raw % a).encode())
        assert_error(r, 400, "invalid_input")
    # A NUL inside the string: refused while the JSON is read (invalid_json) or validated.
    raw = '{"asset_id":"%s","quantity":"1\\u0000"}' % a
    r = trade(user, "buy", None, None, raw=raw.encode())
    assert_error(r, 400, ("invalid_json", "invalid_input"))
    assert_error(trade(user, "buy", None, None, raw=b'{"quantity":"1"}'), 400,
                 ("invalid_input", "invalid_asset"))
    assert db_trades(psql, user) == 0


def test_quantity_bounds_that_are_allowed(user, psql):
    # The edges of the range pass: the smallest step and exactly 1e9, 8 decimals, no more.
    a = make_asset(psql, "B", "0.000001")
    assert_trade(trade_ok(user, "buy", a, "0.00000001"), "buy", a, "0.00000001", "0.000001")
    assert_trade(trade_ok(user, "buy", a, "1000000000"), "buy", a, "1000000000", "0.000001")
    assert_trade(trade_ok(user, "buy", a, "0.12345678"), "buy", a, "0.12345678", "0.000001")
    assert db_quantity(psql, user, a) == "1000000000.12345679"
    h = holding(user, a)
    assert h["quantity"] == "1000000000.12345679", h
    # 1000000000.12345679 x 0.000001 = 1000.00000012345679 -> 1000.00000012
    assert h["market_value"] == half_even("1000.00000012345679") == "1000.00000012", h


# --- concurrency ---------------------------------------------------------------------------------

def test_concurrent_sells_never_overspend(user, psql):
    # The race a missing row lock lets through is narrow (two sells reading the last unit before
    # either writes), so the round is played several times: one round alone caught a missing
    # FOR UPDATE about half the time, four rounds nearly always.
    a = make_asset(psql, "C", "7")
    for rnd in range(1, 5):
        trade_ok(user, "buy", a, "10")
        results = concurrently(lambda: trade(user, "sell", a, "1"), [()] * 20)
        statuses = sorted(r.status if hasattr(r, "status") else r for r in results)
        assert statuses == [200] * 10 + [409] * 10, (rnd, statuses)
        for r in results:
            if r.status == 409:
                assert_error(r, 409, "insufficient_holdings")
            else:
                assert_trade(r.json(), "sell", a, "1", "7")
        assert len({r.json()["trade_id"] for r in results if r.status == 200}) == 10
        assert db_quantity(psql, user, a) in ("0", ""), rnd
        assert psql("SELECT count(*) FROM holdings WHERE quantity < 0") == "0"
        assert db_trades(psql, user, "side = 'sell'") == 10 * rnd
        assert psql(f"SELECT trim_scale(sum(quantity))::text FROM trades WHERE user_id ="
                    f" {user['id']} AND side = 'sell'") == str(10 * rnd)


# --- Idempotency-Key -----------------------------------------------------------------------------

def key_for(request, tag=""):
    """An Idempotency-Key of this run and test (the stored keys outlive the run by 24 hours)."""
    h = hashlib.sha256(f"{request.node.name}|{tag}".encode()).hexdigest()[:16]
    return f"pf-{RUN}-{h}"


def test_idempotent_retry_replays_the_first_result(user, psql, request):
    a = make_asset(psql, "I", "50")
    key = key_for(request)
    first = trade(user, "buy", a, "2", key=key)
    assert first.status == 200, first
    # The price moves before the retry: the replay is the first answer, not a second trade.
    set_price(psql, a, "60")
    again = trade(user, "buy", a, "2", key=key)
    assert again.status == 200, again
    assert_security_headers(again)
    assert again.json() == first.json(), (first, again)
    assert first.json()["price"] == "50"
    assert db_trades(psql, user) == 1
    assert db_trades(psql, user, f"idempotency_key = '{key}'") == 1
    assert db_quantity(psql, user, a) == "2"
    # The same key with another body: 409 conflict, nothing traded.
    for q, asset in (("3", a), ("2.5", a), ("2", make_asset(psql, "L", "1"))):
        assert_error(trade(user, "buy", asset, q, key=key), 409, "conflict")
    assert db_trades(psql, user) == 1 and db_quantity(psql, user, a) == "2"
    # Without a key, the same body is a new trade each time.
    assert trade_ok(user, "buy", a, "2")["trade_id"] != first.json()["trade_id"]
    assert db_trades(psql, user) == 2


def test_keys_are_kept_24_hours(user, psql, request):
    a = make_asset(psql, "Y", "11")
    key = key_for(request)
    first = trade_ok(user, "buy", a, "1", key=key)
    claim = (f"principal = 'user:{int(user['id'])}' AND route = 'POST /portfolio/buy'"
             f" AND key = '{key}'")
    assert psql(f"SELECT count(*) FROM idempotency_keys WHERE {claim}") == "1"
    # 23 hours old: still a replay.
    psql(f"UPDATE idempotency_keys SET created_at = now() - interval '23 hours' WHERE {claim}")
    assert trade_ok(user, "buy", a, "1", key=key) == first
    # Older than 24 hours: forgotten, so the same key and body are a new trade.
    psql(f"UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 minute'"
         f" WHERE {claim}")
    again = trade_ok(user, "buy", a, "1", key=key)
    assert again["trade_id"] != first["trade_id"], (first, again)
    assert db_trades(psql, user) == 2 and db_quantity(psql, user, a) == "2"
    # ... and that one is replayed in turn.
    assert trade_ok(user, "buy", a, "1", key=key) == again


def test_concurrent_duplicates_make_one_trade(user, psql, request):
    # Several rounds, each with its own key: a check-then-insert claim (instead of one claimed
    # in the trade's transaction) let two trades through in only some single rounds.
    a = make_asset(psql, "D", "3")
    trade_ids = set()
    for rnd in range(1, 5):
        key = key_for(request, rnd)
        results = concurrently(lambda: trade(user, "buy", a, "1", key=key), [()] * 10)
        statuses = [r.status if hasattr(r, "status") else r for r in results]
        assert statuses == [200] * 10, (rnd, results)
        ids = {r.json()["trade_id"] for r in results}
        assert len(ids) == 1, (rnd, ids)
        assert len({r.body for r in results}) == 1, results
        trade_ids |= ids
        assert db_trades(psql, user) == rnd
        assert db_trades(psql, user, f"idempotency_key = '{key}'") == 1
        assert db_quantity(psql, user, a) == str(rnd)
    assert len(trade_ids) == 4


def test_errors_are_not_stored(user, psql, request):
    a = make_asset(psql, "E", "5")
    key = key_for(request)
    assert_error(trade(user, "sell", a, "1", key=key), 409, "insufficient_holdings")
    assert_error(trade(user, "sell", a, "1", key=key), 409, "insufficient_holdings")
    trade_ok(user, "buy", a, "1")
    t = trade_ok(user, "sell", a, "1", key=key)
    assert_trade(t, "sell", a, "1", "5")
    assert db_trades(psql, user, f"idempotency_key = '{key}'") == 1
    # A stale price and an unknown asset are not stored either.
    stale = make_asset(psql, "F", "5", age_seconds=900)
    key2 = key_for(request, "stale")
    assert_error(trade(user, "buy", stale, "1", key=key2), 409, "conflict")
    set_price(psql, stale, "6")
    assert_trade(trade_ok(user, "buy", stale, "1", key=key2), "buy", stale, "1", "6")
    key3 = key_for(request, "unknown")
    assert_error(trade(user, "buy", "ZZZZZZZZZ8", "1", key=key3), 404, "unknown_asset")
    assert_trade(trade_ok(user, "buy", a, "1", key=key3), "buy", a, "1", "5")
    # Nor is a refused body: a 400 leaves the key free.
    key4 = key_for(request, "invalid")
    assert_error(trade(user, "buy", a, "1.0", key=key4), 400, "invalid_input")
    assert_trade(trade_ok(user, "buy", a, "3", key=key4), "buy", a, "3", "5")


def test_keys_are_scoped_per_user_and_route(user, psql, request):
    a = make_asset(psql, "G", "8")
    other = other_user(request, "b")
    key = key_for(request)
    ta = trade_ok(user, "buy", a, "4", key=key)
    # Another user's identical request with the same key is that user's own new trade.
    tb = trade_ok(other, "buy", a, "4", key=key)
    assert tb["trade_id"] != ta["trade_id"]
    assert db_trades(psql, other) == 1 and db_quantity(psql, other, a) == "4"
    # The same key on the sell route is a new request there, not a replay of the buy nor a
    # conflict with it.
    ts = trade_ok(user, "sell", a, "4", key=key)
    assert_trade(ts, "sell", a, "4", "8")
    assert ts["trade_id"] not in (ta["trade_id"], tb["trade_id"])
    assert db_quantity(psql, user, a) in ("0", "")
    # And each route replays its own.
    assert trade_ok(user, "buy", a, "4", key=key) == ta
    assert trade_ok(user, "sell", a, "4", key=key) == ts
    assert db_trades(psql, user) == 2


def test_invalid_idempotency_keys(user, psql):
    a = make_asset(psql, "V", "2")
    # (Control characters other than TAB never reach aspida: lighttpd refuses the request.)
    bad = ["k" * 65, "k" * 200, "a b", "a\tb", "a.b", "a/b", "a+b", "a:b", "key=1", "a,b",
           "ключ".encode("utf-8"), "é".encode("utf-8"), b"\xff\xfe", "Ｋ".encode("utf-8")]
    for key in bad:
        r = trade(user, "buy", a, "1", key=key)
        assert_error(r, 400, "invalid_input")
    assert db_trades(psql, user) == 0
    # The edges that are allowed: 64 characters, every class.
    for key in ("k" * 64, "A", "Az09_-"):
        assert trade(user, "buy", a, "1", key=key).status == 200
    assert db_trades(psql, user) == 3


# --- each user's own ------------------------------------------------------------------------------

def test_users_never_see_each_others_holdings_or_trades(user, psql, request):
    a = make_asset(psql, "U", "10")
    b = make_asset(psql, "W", "20")
    other = other_user(request, "b")
    ta = trade_ok(user, "buy", a, "1")
    tb = trade_ok(other, "buy", b, "2")
    assert portfolio(user)["holdings"] == [{"asset_id": a, "quantity": "1", "cost_basis": "10",
                                            "market_value": "10"}]
    assert portfolio(other)["holdings"] == [{"asset_id": b, "quantity": "2", "cost_basis": "40",
                                             "market_value": "40"}]
    ra, rb = trades_page(user), trades_page(other)
    assert ra.status == 200 and rb.status == 200, (ra, rb)
    assert ra.json()["next_cursor"] is None and rb.json()["next_cursor"] is None, (ra, rb)
    assert without_ts(ra.json()["trades"]) == without_ts([ta]), ra
    assert without_ts(rb.json()["trades"]) == without_ts([tb]), rb
    # Nor can one sell what the other holds.
    assert_error(trade(other, "sell", a, "1"), 409, "insufficient_holdings")
    assert db_quantity(psql, user, a) == "1"


def test_trades_pagination(user, psql, request):
    a = make_asset(psql, "T", "4")
    made = []
    for i, (side, q) in enumerate([("buy", "3"), ("sell", "1"), ("buy", "0.5"), ("buy", "2"),
                                   ("sell", "0.25"), ("buy", "1"), ("sell", "5.25")]):
        made.append(trade_ok(user, side, a, q))
    # Made one after another: newest first is the reverse order of making (ids grow too).
    newest_first = without_ts(made[::-1])
    assert [t["trade_id"] for t in newest_first] == sorted((t["trade_id"] for t in made),
                                                           reverse=True)

    r = trades_page(user)
    assert r.status == 200, r
    assert_security_headers(r)
    assert set(r.json()) == {"trades", "next_cursor"}
    assert without_ts(r.json()["trades"]) == newest_first and r.json()["next_cursor"] is None, r

    seen, cursor, pages = [], None, 0
    while True:
        q = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        r = trades_page(user, q)
        assert r.status == 200, r
        body = r.json()
        assert set(body) == {"trades", "next_cursor"}, body
        assert 1 <= len(body["trades"]) <= 3, body
        seen.extend(without_ts(body["trades"]))
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and re.fullmatch(r"[A-Za-z0-9_-]+", cursor), cursor
        assert pages < 10
    assert pages == 3 and seen == newest_first, seen
    assert len({t["trade_id"] for t in seen}) == 7

    # limit=1 walks it one by one too.
    r = trades_page(user, "?limit=1")
    assert r.status == 200 and without_ts(r.json()["trades"]) == newest_first[:1], r
    assert r.json()["next_cursor"], r
    assert without_ts(trades_page(user, "?limit=100").json()["trades"]) == newest_first
    # (A %00 or other control character in the query never reaches aspida: lighttpd refuses.)
    for bad in ("?limit=0", "?limit=101", "?limit=-1", "?limit=abc", "?limit=1.5", "?limit=",
                "?limit=1&limit=2", "?offset=1", "?cursor=", "?cursor=" + "A" * 600,
                "?cursor=not.a.cursor", "?limit=10000000000000"):
        assert_error(trades_page(user, bad), 400, "invalid_input")

    # A cursor is bound to its user: another user's, or an altered one, is refused.
    first = trades_page(user, "?limit=2").json()
    cursor = first["next_cursor"]
    assert cursor
    other = other_user(request, "b")
    assert_error(trades_page(other, f"?limit=2&cursor={cursor}"), 400, "invalid_input")
    flipped = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    assert_error(trades_page(user, f"?limit=2&cursor={flipped}"), 400, "invalid_input")
    r = trades_page(user, f"?limit=2&cursor={cursor}")
    assert r.status == 200 and without_ts(r.json()["trades"]) == newest_first[2:4], r


def test_listed_ts_is_the_trades_ts(user, psql):
    a = make_asset(psql, "Z", "3")
    t = trade_ok(user, "buy", a, "1")
    # Pin the fraction at .7 within the same second: the answer's whole-second ts stays right.
    psql(f"UPDATE trades SET ts = date_trunc('second', ts) + interval '0.7 second'"
         f" WHERE id = {t['trade_id']}")
    assert psql(f"SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
                f" FROM trades WHERE id = {t['trade_id']}") == t["ts"]
    r = trades_page(user)
    assert r.status == 200, r
    listed = r.json()["trades"]
    assert [x["trade_id"] for x in listed] == [t["trade_id"]], listed
    assert listed[0]["ts"] == t["ts"], (listed[0], t)


# --- credentials ---------------------------------------------------------------------------------

def create_key(u, scopes):
    r = http("POST", API + "/keys", auth_headers(u["token"]),
             body={"name": "portfolio test", "scopes": scopes}, source=u["src"])
    assert r.status == 201, r
    remember(r.json()["key"])
    return r.json()["key"]


def test_api_key_scopes(user, psql):
    a = make_asset(psql, "R", "9")
    read_key = {"X-API-Key": create_key(user, ["read"])}
    write_key = {"X-API-Key": create_key(user, ["write"])}
    body = {"asset_id": a, "quantity": "1"}
    for path in (PORTFOLIO, TRADES):
        r = http("GET", path, read_key, source=user["src"])
        assert r.status == 200, (path, r)
    for path in (BUY, SELL):
        r = http("POST", path, read_key, body=body, source=user["src"])
        assert_error(r, 403, "insufficient_scope")
    assert db_trades(psql, user) == 0
    # A write key trades for its owner, and reads (write includes read).
    r = http("POST", BUY, write_key, body=body, source=user["src"])
    assert r.status == 200, r
    assert_trade(r.json(), "buy", a, "1", "9")
    r = http("GET", PORTFOLIO, write_key, source=user["src"])
    assert r.status == 200 and [h["asset_id"] for h in r.json()["holdings"]] == [a], r
    assert portfolio(user)["holdings"][0]["quantity"] == "1"
    assert db_trades(psql, user) == 1


def test_anonymous_is_unauthorized(user, psql):
    a = make_asset(psql, "O", "9")
    for method, path, body in (("GET", PORTFOLIO, None), ("GET", TRADES, None),
                               ("POST", BUY, {"asset_id": a, "quantity": "1"}),
                               ("POST", SELL, {"asset_id": a, "quantity": "1"})):
        assert_error(http(method, path, body=body, source=user["src"]), 401, "unauthorized")
        assert_error(http(method, path, {"Authorization": "Bearer x.y.z"}, body=body,
                          source=user["src"]), 401, "unauthorized")
    assert psql(f"SELECT count(*) FROM trades WHERE asset_id = '{a}'") == "0"


def test_cookie_session_needs_the_csrf_token(user, psql):
    a = make_asset(psql, "X", "9")
    cookie, csrf = cookie_login(user, user["src"], ua=UA)
    url = stack_env()["ASPIDA_URL"].rstrip("/")
    base = {"Cookie": "aspida_session=" + cookie, "User-Agent": UA}
    body = {"asset_id": a, "quantity": "1"}
    for extra in ({"Origin": url}, {"Origin": url, "X-CSRF-Token": ""},
                  {"Origin": url, "X-CSRF-Token": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")}):
        for path in (BUY, SELL):
            r = http("POST", path, dict(base, **extra), body=body, source=user["src"])
            assert_error(r, 403, "csrf_failed")
    assert db_trades(psql, user) == 0
    # Safe reads need no token; the right token and origin trade.
    r = http("GET", PORTFOLIO, base, source=user["src"])
    assert r.status == 200, r
    r = http("POST", BUY, dict(base, **{"Origin": url, "X-CSRF-Token": csrf}), body=body,
             source=user["src"])
    assert r.status == 200, r
    assert db_trades(psql, user) == 1
