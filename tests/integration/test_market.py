"""Market data routes against the real stack (API.md, "Market data"): the asset list, the latest
price, and the keyset-paginated history in JSON and CSV, checked against the rows PostgreSQL holds.

The demo data (sql/demo_data.sql) has one point every 5 minutes for 14 days per asset, and NOPTS, a
listed asset with no points at all.
"""

import datetime
import re
import urllib.parse

import pytest

from aspida_util import (CANONICAL_PRICE, CSV_TYPE, RFC3339_Z, assert_error,
                         assert_security_headers, get_ok)

ASSET = "BTC"


def ts_text(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)


def db_points(psql, asset, where="", limit=None):
    """(ts, price) rows of an asset from PostgreSQL, newest first, formatted as API.md says."""
    sql = (
        "SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " trim_scale(price)::text FROM prices"
        f" WHERE asset_id = '{asset}' {where} ORDER BY ts DESC"
        + (f" LIMIT {int(limit)}" if limit else ""))
    out = psql(sql)
    return [tuple(line.split("|")) for line in out.splitlines() if line]


def points(body):
    return [(p["ts"], p["price"]) for p in body["points"]]


def prices(http, query, asset=ASSET, **kw):
    return http("GET", f"/api/v1/prices/{asset}" + (f"?{query}" if query else ""), **kw)


@pytest.fixture(scope="module")
def latest(env):
    """The newest BTC point's timestamp, from the API."""
    from conftest import http
    r = http("GET", f"/api/v1/price/{ASSET}")
    assert r.status == 200, r
    return parse_ts(r.json()["ts"])


# --- GET /assets ----------------------------------------------------------------------------------

@pytest.mark.smoke
def test_assets_shape_matches_the_table(http, psql):
    r = get_ok("/api/v1/assets")
    assert_security_headers(r)
    body = r.json()
    assert set(body) == {"assets"}, body
    assert isinstance(body["assets"], list) and body["assets"], body
    for a in body["assets"]:
        assert set(a) == {"id", "name", "currency"}, a
        assert re.fullmatch(r"[A-Z0-9]{1,10}", a["id"]), a
        assert all(isinstance(a[k], str) and a[k] for k in a), a
    db = [tuple(line.split("|")) for line in psql(
        "SELECT id, name, currency FROM assets ORDER BY id").splitlines()]
    assert [(a["id"], a["name"], a["currency"]) for a in body["assets"]] == db
    ids = {a["id"] for a in body["assets"]}
    assert {"BTC", "ETH", "NOPTS"} <= ids


# --- GET /price/{id} ------------------------------------------------------------------------------

@pytest.mark.smoke
def test_latest_price_is_canonical_and_matches_the_newest_row(http, psql):
    r = get_ok(f"/api/v1/price/{ASSET}")
    assert_security_headers(r)
    body = r.json()
    assert set(body) == {"asset_id", "price", "currency", "ts"}, body
    assert body["asset_id"] == ASSET and body["currency"] == "USD", body
    assert isinstance(body["price"], str) and CANONICAL_PRICE.match(body["price"]), body
    assert isinstance(body["ts"], str) and RFC3339_Z.match(body["ts"]), body
    assert db_points(psql, ASSET, limit=1) == [(body["ts"], body["price"])]


def test_latest_price_of_every_demo_asset_is_canonical(http, psql):
    ids = [line for line in psql(
        "SELECT DISTINCT asset_id FROM prices ORDER BY 1").splitlines() if line]
    assert len(ids) >= 5, ids
    for asset in ids:
        body = get_ok(f"/api/v1/price/{asset}").json()
        assert CANONICAL_PRICE.match(body["price"]) and RFC3339_Z.match(body["ts"]), body
        # No float formatting anywhere: the text equals the database's canonical text.
        assert db_points(psql, asset, limit=1) == [(body["ts"], body["price"])], asset


def test_unlisted_asset_is_unknown_asset(http):
    assert_error(http("GET", "/api/v1/price/NOSUCH1"), 404, "unknown_asset")


def test_listed_asset_without_points_is_not_found(http, psql):
    assert psql("SELECT count(*) FROM assets WHERE id = 'NOPTS'") == "1"
    assert psql("SELECT count(*) FROM prices WHERE asset_id = 'NOPTS'") == "0"
    assert_error(http("GET", "/api/v1/price/NOPTS"), 404, "not_found")


def test_price_route_offers_no_csv(http):
    r = http("GET", f"/api/v1/price/{ASSET}", {"Accept": "text/csv"})
    assert r.status == 200, r
    assert_security_headers(r)
    assert set(r.json()) == {"asset_id", "price", "currency", "ts"}


# --- GET /prices/{id}: limits, ranges ----------------------------------------------------------------

@pytest.mark.smoke
def test_history_default_page_is_the_newest_100(http, psql):
    r = prices(http, "")
    assert r.status == 200, r
    assert_security_headers(r)
    body = r.json()
    assert set(body) == {"asset_id", "points", "next_cursor"}, body
    assert body["asset_id"] == ASSET
    pts = points(body)
    assert len(pts) == 100
    assert pts == db_points(psql, ASSET, limit=100)
    for ts, price in pts:
        assert RFC3339_Z.match(ts) and CANONICAL_PRICE.match(price), (ts, price)
    stamps = [parse_ts(ts) for ts, _ in pts]
    assert stamps == sorted(stamps, reverse=True) and len(set(stamps)) == len(stamps)
    assert isinstance(body["next_cursor"], str) and body["next_cursor"]


@pytest.mark.parametrize("limit", [1, 7, 100])
def test_history_limit_in_range(http, psql, limit):
    body = prices(http, f"limit={limit}").json()
    assert points(body) == db_points(psql, ASSET, limit=limit)


@pytest.mark.parametrize("value", ["0", "1001", "-1", "abc", "1e3", "01", "", "1.5", "+5", "%2B5",
                                   "5%20", "0x10", "99999999999999999999", "1;DROP TABLE prices"])
def test_history_bad_limit_is_invalid_input(http, value):
    assert_error(prices(http, "limit=" + urllib.parse.quote(value, safe="%+")), 400, "invalid_input")


def test_history_anonymous_limit_over_100_needs_credentials(http):
    assert_error(prices(http, "limit=101"), 401, "unauthorized")
    assert_error(prices(http, "limit=1000"), 401, "unauthorized")
    # The range check comes first (API.md: checked first): 1001 is 400, not 401.
    assert_error(prices(http, "limit=1001"), 400, "invalid_input")


def test_history_from_inclusive_to_exclusive(http, psql, latest):
    lo = latest - datetime.timedelta(minutes=60)
    hi = latest - datetime.timedelta(minutes=20)
    # Both bounds are timestamps of real rows, so the boundary rows decide the test.
    rows_at = db_points(psql, ASSET, f"AND ts IN ('{ts_text(lo)}', '{ts_text(hi)}')")
    assert {ts for ts, _ in rows_at} == {ts_text(lo), ts_text(hi)}, rows_at
    body = prices(http, f"from={ts_text(lo)}&to={ts_text(hi)}").json()
    got = points(body)
    assert got == db_points(psql, ASSET, f"AND ts >= '{ts_text(lo)}' AND ts < '{ts_text(hi)}'")
    stamps = [ts for ts, _ in got]
    assert stamps[-1] == ts_text(lo), "from is inclusive"
    assert ts_text(hi) not in stamps, "to is exclusive"
    assert len(got) == 8 and body["next_cursor"] is None
    # Moving each bound by one second flips exactly its boundary row.
    body = prices(http, f"from={ts_text(lo + datetime.timedelta(seconds=1))}"
                        f"&to={ts_text(hi + datetime.timedelta(seconds=1))}").json()
    stamps = [ts for ts, _ in points(body)]
    assert ts_text(lo) not in stamps and stamps[0] == ts_text(hi)


def test_history_only_from_or_only_to(http, psql, latest):
    lo = latest - datetime.timedelta(minutes=30)
    got = points(prices(http, f"from={ts_text(lo)}").json())
    assert got == db_points(psql, ASSET, f"AND ts >= '{ts_text(lo)}'") and len(got) == 7
    got = points(prices(http, f"to={ts_text(lo)}&limit=3").json())
    assert got == db_points(psql, ASSET, f"AND ts < '{ts_text(lo)}'", limit=3)


def test_history_empty_range_is_an_empty_page(http):
    body = prices(http, "from=1999-01-01T00:00:00Z&to=1999-01-02T00:00:00Z").json()
    assert body == {"asset_id": ASSET, "points": [], "next_cursor": None}


@pytest.mark.parametrize("query", [
    "from=2026-01-02T00:00:00Z&to=2026-01-02T00:00:00Z",
    "from=2026-01-02T00:00:01Z&to=2026-01-02T00:00:00Z",
])
def test_history_from_not_before_to_is_invalid(http, query):
    assert_error(prices(http, query), 400, "invalid_input")


@pytest.mark.parametrize("value", [
    "2026-01-02T00:00:00+00:00", "2026-01-02T00:00:00%2B00:00", "2026-01-02T01:00:00+01:00",
    "2026-01-02T00:00:00-00:00", "2026-01-02T00:00:00.5Z", "2026-01-02T00:00:00.000Z",
    "2026-01-02t00:00:00Z", "2026-01-02T00:00:00z", "2026-01-02 00:00:00Z", "2026-01-02%2000:00:00Z",
    "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-02T24:00:00Z",
    "2026-01-02T00:60:00Z", "2026-01-02T00:00:60Z", "2026-1-2T00:00:00Z", "2026-01-02", "1767312000",
    "now", "", "2026-01-02T00:00:00", "2026-01-02T00:00Z", "+2026-01-02T00:00:00Z",
    "2026-01-02T00:00:00Z'%20OR%20'1'='1",
])
def test_history_malformed_timestamps(http, value):
    v = value.replace(" ", "%20")
    assert_error(prices(http, f"from={v}"), 400, "invalid_input")
    assert_error(prices(http, f"to={v}"), 400, "invalid_input")


def test_history_leap_day_is_a_real_date(http):
    r = prices(http, "from=2024-02-29T00:00:00Z&to=2024-03-01T00:00:00Z")
    assert r.status == 200 and r.json()["points"] == [], r


# --- pagination -------------------------------------------------------------------------------------

def walk(http, query, asset=ASSET, max_pages=100):
    """Follows next_cursor from the first page to the last; returns (pages, rows in order)."""
    pages, rows, cursor = 0, [], None
    while True:
        q = query + (f"&cursor={cursor}" if cursor else "")
        r = prices(http, q, asset=asset)
        assert r.status == 200, (q, r)
        body = r.json()
        assert set(body) == {"asset_id", "points", "next_cursor"}
        pages += 1
        rows += points(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return pages, rows
        assert isinstance(cursor, str) and re.fullmatch(r"[A-Za-z0-9_-]+", cursor), cursor
        assert pages < max_pages, "pagination does not end"


@pytest.mark.parametrize("limit", [1, 5, 12, 13])
def test_pagination_visits_every_row_once_in_order(http, psql, latest, limit):
    lo = latest - datetime.timedelta(hours=1, minutes=5)
    hi = latest
    query = f"from={ts_text(lo)}&to={ts_text(hi)}&limit={limit}"
    pages, rows = walk(http, query)
    expected = db_points(psql, ASSET, f"AND ts >= '{ts_text(lo)}' AND ts < '{ts_text(hi)}'")
    assert len(expected) == 13
    assert rows == expected
    # A page holding exactly the last rows is the last page (its cursor is null).
    assert pages == -(-len(expected) // limit)


def test_pagination_without_range_reaches_the_oldest_row(http, psql):
    # The whole history of an asset, 1000 a page would need credentials: 100 a page, 5 pages deep.
    cursor, rows = None, []
    for _ in range(5):
        body = prices(http, "limit=100" + (f"&cursor={cursor}" if cursor else ""), asset="ETH").json()
        rows += points(body)
        cursor = body["next_cursor"]
        assert cursor
    assert rows == db_points(psql, "ETH", limit=500)


def test_last_page_has_null_cursor(http, psql):
    n = int(psql(f"SELECT count(*) FROM prices WHERE asset_id = '{ASSET}'"))
    oldest = db_points(psql, ASSET, "AND ts <= (SELECT min(ts) FROM prices WHERE asset_id = 'BTC')"
                                    " + interval '10 minutes'")
    assert n > 100 and len(oldest) == 3
    body = prices(http, f"to={ts_text(parse_ts(oldest[0][0]) + datetime.timedelta(seconds=1))}").json()
    assert points(body) == oldest and body["next_cursor"] is None
    # Exactly a page's worth left: the page is full and still the last.
    body = prices(http, f"to={ts_text(parse_ts(oldest[0][0]) + datetime.timedelta(seconds=1))}"
                        "&limit=3").json()
    assert points(body) == oldest and body["next_cursor"] is None


@pytest.fixture
def first_page(http, latest):
    lo = ts_text(latest - datetime.timedelta(hours=2))
    hi = ts_text(latest)
    query = f"from={lo}&to={hi}&limit=5"
    body = prices(http, query).json()
    assert body["next_cursor"]
    return query, body


def flip(s, i):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    c = alphabet[(alphabet.index(s[i]) + 1) % len(alphabet)]
    return s[:i] + c + s[i + 1:]


def test_cursor_is_accepted_with_its_own_query(http, first_page):
    query, body = first_page
    r = prices(http, query + "&cursor=" + body["next_cursor"])
    assert r.status == 200 and r.json()["points"], r


@pytest.mark.parametrize("where", ["first", "payload", "mac", "last"])
def test_tampered_cursor_is_refused(http, first_page, where):
    query, body = first_page
    cursor = body["next_cursor"]
    i = {"first": 0, "payload": 8, "mac": len(cursor) // 2 + 5, "last": len(cursor) - 1}[where]
    assert_error(prices(http, query + "&cursor=" + flip(cursor, i)), 400, "invalid_input")


def test_cursor_from_another_asset_is_refused(http, first_page):
    query, body = first_page
    assert_error(prices(http, query + "&cursor=" + body["next_cursor"], asset="ETH"),
                 400, "invalid_input")


def test_cursor_from_another_range_is_refused(http, first_page, latest):
    query, body = first_page
    cursor = body["next_cursor"]
    other_to = ts_text(latest - datetime.timedelta(minutes=5))
    other = re.sub(r"to=[^&]+", "to=" + other_to, query)
    assert other != query
    assert_error(prices(http, other + "&cursor=" + cursor), 400, "invalid_input")
    no_range = "limit=5"
    assert_error(prices(http, no_range + "&cursor=" + cursor), 400, "invalid_input")


@pytest.mark.parametrize("cursor", [
    "garbage", "AAAA", "A", "%21%21%21%21", "AQAAAABrC3toAAAAAAAAAAA", "null", "-_-_-_-_",
    "A" * 129, "A" * 600, "QUFB" * 40, "%27%20OR%20%271%27%3D%271",
])
def test_garbage_or_overlong_cursor_is_refused(http, first_page, cursor):
    query, _ = first_page
    assert_error(prices(http, query + "&cursor=" + cursor), 400, "invalid_input")


def test_empty_cursor_is_refused(http, first_page):
    query, _ = first_page
    assert_error(prices(http, query + "&cursor="), 400, "invalid_input")


# --- CSV ------------------------------------------------------------------------------------------

def csv_rows(r):
    lines = r.text.splitlines()
    assert lines and lines[0] == "ts,price", lines[:2]
    return [tuple(line.split(",")) for line in lines[1:]]


def next_link(r):
    links = r.header_all("Link")
    if not links:
        return None
    assert len(links) == 1, links
    m = re.fullmatch(r'<([^>]+)>; rel="next"', links[0])
    assert m, links[0]
    return m.group(1)


@pytest.mark.smoke
def test_csv_rows_match_json_and_link_is_followed(http, latest):
    lo = ts_text(latest - datetime.timedelta(hours=1))
    hi = ts_text(latest)
    query = f"from={lo}&to={hi}&limit=5"
    json_rows = walk(http, query)[1]
    assert len(json_rows) == 12
    csv_all, path, pages = [], f"/api/v1/prices/{ASSET}?{query}", 0
    while path is not None:
        r = http("GET", path, {"Accept": "text/csv"})
        assert r.status == 200, (path, r)
        assert_security_headers(r, content_type=CSV_TYPE)
        csv_all += csv_rows(r)
        pages += 1
        path = next_link(r)
        if path is not None:
            assert path.startswith(f"/api/v1/prices/{ASSET}?"), path
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
            assert q["from"] == [lo] and q["to"] == [hi] and q["limit"] == ["5"], q
        assert pages < 10
    assert pages == 3
    assert csv_all == json_rows


def test_csv_body_is_crlf_rows_without_link_on_last_page(http, psql):
    r = prices(http, "limit=2&from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z",
               headers={"Accept": "text/csv"})
    assert r.header("Content-Type") == CSV_TYPE
    assert r.text.startswith("ts,price\r\n") and r.text.endswith("\r\n"), r.text
    assert csv_rows(r) == db_points(psql, ASSET, limit=2)
    assert next_link(r) is not None
    r = prices(http, "from=1999-01-01T00:00:00Z&to=1999-01-02T00:00:00Z",
               headers={"Accept": "text/csv"})
    assert r.status == 200 and r.text == "ts,price\r\n" and next_link(r) is None, r


@pytest.mark.parametrize("accept", ["text/csv", "TEXT/CSV", "text/csv; charset=utf-8"])
def test_csv_when_any_range_is_text_csv(http, accept):
    r = prices(http, "limit=1", headers={"Accept": accept})
    assert r.header("Content-Type") == CSV_TYPE, (accept, r)


@pytest.mark.parametrize("accept", ["text/html", "*/*", "application/xml", "text/*",
                                    "text/csvx", "application/json", "text/plain", "image/png"])
def test_other_accept_gets_json(http, accept):
    r = prices(http, "limit=1", headers={"Accept": accept})
    assert r.status == 200, (accept, r)
    assert_security_headers(r)
    assert set(r.json()) == {"asset_id", "points", "next_cursor"}
    assert r.header("Link") is None


def test_errors_are_json_even_when_csv_is_asked(http):
    assert_error(prices(http, "limit=0", headers={"Accept": "text/csv"}), 400, "invalid_input")
    assert_error(prices(http, "", asset="NOSUCH1", headers={"Accept": "text/csv"}),
                 404, "unknown_asset")


def test_history_of_unlisted_asset_is_unknown_asset(http):
    assert_error(prices(http, "", asset="NOSUCH1"), 404, "unknown_asset")
    assert_error(prices(http, "limit=5", asset="ZZZ"), 404, "unknown_asset")
