-- demo_data.sql - demo assets and a SYNTHETIC price history for the quick start.
--
-- THESE PRICES ARE NOT MARKET DATA.  The asset symbols are real; every price
-- row below is made up by a formula, and carries source = 'demo-synthetic' so
-- that it can always be told apart (and removed:
--   DELETE FROM prices WHERE source = 'demo-synthetic';).
--
-- Run as the owner after the migrations:
--   psql -v ON_ERROR_STOP=1 -d aspida -f sql/demo_data.sql
-- Idempotent: a second run inserts nothing that exists (ON CONFLICT DO
-- NOTHING) and only adds the points for 5-minute slots that have passed since.
--
-- The series: for each asset one point every 5 minutes for the last 14 days,
-- ending at now() truncated to the 5 minutes (4 033 points per asset).  Each
-- price is a function of the asset and the absolute 5-minute slot number k
-- (not of the run time), so a later run continues the same curve rather than
-- starting a different one: a sum of slow and fast waves with per-asset phases
-- (a drifting, random-walk-like shape) plus a deterministic pseudo-noise from
-- hashtext() — no random(), so every database gets the same numbers.  The
-- price is base * exp(...), hence always positive, rounded to 8 decimals.

SET search_path = public;

INSERT INTO assets (id, name, currency) VALUES
	('BTC',   'Bitcoin',                        'USD'),
	('ETH',   'Ethereum',                       'USD'),
	('SOL',   'Solana',                         'USD'),
	('XRP',   'XRP',                            'USD'),
	('ADA',   'Cardano',                        'USD'),
	('DOGE',  'Dogecoin',                       'USD'),
	('DOT',   'Polkadot',                       'USD'),
	('LINK',  'Chainlink',                      'USD'),
	('EUR',   'Euro',                           'USD'),
	('AAPL',  'Apple Inc.',                     'USD'),
	-- Listed on purpose with no price points at all (API.md: a listed asset
	-- with no points -> 404 not_found).
	('NOPTS', 'Demo asset without prices',      'USD')
ON CONFLICT (id) DO NOTHING;

INSERT INTO sources (name) VALUES ('demo-synthetic')
ON CONFLICT (name) DO NOTHING;

WITH base (asset_id, base, vol) AS (VALUES
	-- vol scales the waves: a currency moves less than a memecoin.
	('BTC',  64000.0, 1.0),
	('ETH',   3200.0, 1.2),
	('SOL',    145.0, 1.6),
	('XRP',      0.52, 1.4),
	('ADA',      0.45, 1.4),
	('DOGE',     0.16, 2.0),
	('DOT',      7.10, 1.5),
	('LINK',    14.20, 1.5),
	('EUR',      1.08, 0.1),
	('AAPL',   190.0, 0.4)
), phase AS (
	-- Per-asset phases in [0, 2*pi), from the symbol, so the assets do not
	-- move in lockstep.
	SELECT asset_id, base, vol,
	    2 * pi() * ((hashtext(asset_id || ':a') & 65535) / 65536.0) AS p1,
	    2 * pi() * ((hashtext(asset_id || ':b') & 65535) / 65536.0) AS p2,
	    2 * pi() * ((hashtext(asset_id || ':c') & 65535) / 65536.0) AS p3,
	    2 * pi() * ((hashtext(asset_id || ':d') & 65535) / 65536.0) AS p4
	FROM base
), slots AS (
	-- The last slot is now() truncated to 5 minutes; k numbers slots from
	-- the epoch so a slot always gets the same price.
	SELECT ts, (extract(epoch FROM ts) / 300)::bigint AS k
	FROM generate_series(
	    date_bin('5 minutes', now(), timestamptz '2000-01-01 00:00:00+00')
	        - interval '14 days',
	    date_bin('5 minutes', now(), timestamptz '2000-01-01 00:00:00+00'),
	    interval '5 minutes') AS g(ts)
)
INSERT INTO prices (asset_id, ts, price, source)
SELECT p.asset_id, s.ts,
    round((p.base * exp(p.vol * (
          0.060 * sin(s.k / 1531.0 + p1)	-- weeks
        + 0.030 * sin(s.k /  433.0 + p2)	-- days
        + 0.012 * cos(s.k /   67.0 + p3)	-- hours
        + 0.004 * sin(s.k /    9.0 + p4)	-- minutes
        -- pseudo-noise in [-1, 1], fixed by asset and slot
        + 0.0015 * (hashtext(p.asset_id || ':' || s.k) / 2147483648.0)
    )))::numeric, 8),
    'demo-synthetic'
FROM phase p CROSS JOIN slots s
ON CONFLICT (asset_id, ts) DO NOTHING;

ANALYZE assets;
ANALYZE prices;
