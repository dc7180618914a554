-- 001_roles_and_schema.sql - aspida's whole first schema and its two roles.
--
-- Run by `aspidactl migrate` as the owner role, inside the migrator's own
-- transaction (so no BEGIN/COMMIT here); the migrator records the version in
-- schema_migrations and never runs a version twice.  Whoever runs this file
-- owns every table.  The runtime role, aspida_app, is created here if absent
-- and receives only the DML the workers need: no DDL, no TRUNCATE, and only
-- INSERT and SELECT on the audit tables (security_events, alerts, trades), so
-- that not even a compromised worker can rewrite the trail.
--
-- Requirements on the owner: it owns the database (for the database-level
-- REVOKE below) and has CREATEROLE (to create aspida_app and set its
-- per-role timeouts), or a superuser runs this file.
--
-- Constraints repeat, as a last line of defence, rules the validators already
-- enforce (API.md); a row that breaks one is a bug that must fail loudly, not
-- be stored.  Hashes are raw SHA-256 bytes (bytea, 32 octets), never hex.

SET LOCAL search_path = public;

-- Roles ---------------------------------------------------------------------

-- Created only if absent: a role is cluster-wide, and a second aspida
-- database in the same cluster (or a DBA who made the role first) must not
-- make this migration fail.  No password is set here: the deployment chooses
-- peer authentication on the unix socket or sets a scram secret itself.
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aspida_app') THEN
		CREATE ROLE aspida_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
		    NOREPLICATION NOBYPASSRLS INHERIT;
	END IF;
END
$$;

-- A runtime role that already existed might have been made too powerful;
-- every grant below would then be meaningless.  Refuse rather than pretend.
DO $$
DECLARE
	r pg_roles%ROWTYPE;
BEGIN
	SELECT * INTO r FROM pg_roles WHERE rolname = 'aspida_app';
	IF r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication
	    OR r.rolbypassrls THEN
		RAISE EXCEPTION 'role aspida_app has administrative attributes'
		    USING HINT = 'aspida_app must be a plain LOGIN role; fix it with ALTER ROLE and migrate again';
	END IF;
	IF NOT r.rolcanlogin THEN
		RAISE EXCEPTION 'role aspida_app cannot log in'
		    USING HINT = 'ALTER ROLE aspida_app LOGIN';
	END IF;
	IF pg_has_role('aspida_app', current_user, 'USAGE') THEN
		RAISE EXCEPTION 'role aspida_app is a member of the owner role %',
		    current_user
		    USING HINT = 'the runtime role must not inherit the owner''s privileges';
	END IF;
END
$$;

-- The server-side half of the query deadline (DESIGN.md): a worker's own
-- client-side deadline cancels first; this stops a query the client could not
-- cancel (a lost connection) and a transaction left open by a dying worker.
-- No idle_session_timeout: workers keep their one connection idle on purpose.
ALTER ROLE aspida_app SET statement_timeout = '5s';
ALTER ROLE aspida_app SET idle_in_transaction_session_timeout = '15s';
-- A worker that gave up on a query (its own deadline) drops the connection;
-- this makes the backend notice and stop instead of finishing for no one.
ALTER ROLE aspida_app SET client_connection_check_interval = '1s';

-- No DDL for anyone but the owner: PostgreSQL 15 already denies CREATE on
-- public to PUBLIC, but a database upgraded from an older cluster may not.
-- Temporary tables are DDL too.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO aspida_app;
DO $$
BEGIN
	EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC',
	    current_database());
	EXECUTE format('GRANT CONNECT ON DATABASE %I TO aspida_app',
	    current_database());
END
$$;

-- Bookkeeping ---------------------------------------------------------------

-- Written by `aspidactl migrate`, one row per applied file (the version is
-- the file name's leading number).
CREATE TABLE schema_migrations (
	version		text		PRIMARY KEY
	    CHECK (version ~ '^[0-9]{3,}$'),
	applied_at	timestamptz	NOT NULL DEFAULT now()
);

-- Accounts and credentials ---------------------------------------------------

-- email is canonical (trimmed, ASCII-lower-cased; API.md): the CHECK compares
-- under the C collation so that exactly ASCII A-Z is refused, as the
-- canonicalizer leaves other letters alone.  254 octets is the SMTP limit.
-- token_generation goes up on a password change or revoke-sessions; access
-- tokens carry it as `gen`, and it is here, not only in Redis, because it
-- must survive a Redis loss.
CREATE TABLE users (
	id			bigint		GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	email			text		NOT NULL UNIQUE
	    CHECK (email = lower(email COLLATE "C"))
	    CHECK (octet_length(email) <= 254)
	    CHECK (email ~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:]]+$'),
	password_hash		text		NOT NULL
	    CHECK (password_hash <> ''),
	full_name		text		NOT NULL
	    CHECK (char_length(full_name) <= 256),
	role			text		NOT NULL DEFAULT 'user'
	    CHECK (role IN ('user', 'admin')),
	token_generation	integer		NOT NULL DEFAULT 0
	    CHECK (token_generation >= 0),
	created_at		timestamptz	NOT NULL DEFAULT now()
);

-- One row per login: the refresh tokens of one login form a family that
-- lives 7 days from the login whatever the refreshes (expires_at is fixed at
-- insert).  A refresh token is the family id and a counter sealed with a
-- server MAC, so nothing secret is stored: `rotated` is the current counter,
-- and a genuine token with a lower counter is proof of reuse.  fingerprint is the SHA-256 the family was issued to (API.md:
-- User-Agent, and the client's /24 or /64 when bind_ip = yes).
CREATE TABLE refresh_families (
	id			bigint		GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id			bigint		NOT NULL
	    REFERENCES users (id) ON DELETE CASCADE,
	fingerprint		bytea		NOT NULL
	    CHECK (octet_length(fingerprint) = 32),
	created_at		timestamptz	NOT NULL DEFAULT now(),
	expires_at		timestamptz	NOT NULL,
	revoked_at		timestamptz,
	revoked_reason		text
	    CHECK (char_length(revoked_reason) <= 64),
	rotated			integer		NOT NULL DEFAULT 0
	    CHECK (rotated >= 0),
	CHECK (expires_at > created_at)
);
-- Logout everywhere, password change and revoke-sessions find a user's live
-- families.
CREATE INDEX refresh_families_user_live_idx ON refresh_families (user_id)
    WHERE revoked_at IS NULL;
-- The periodic purge of dead families.
CREATE INDEX refresh_families_expires_idx ON refresh_families (expires_at);

-- The key itself is shown once and never stored: only its SHA-256, which is
-- what a request's X-API-Key is looked up by.  prefix is `ak_` and the first
-- 6 characters after it, for people to tell keys apart.  An empty
-- allowed_ips means any address.  last_used_at and use_count are flushed
-- from Redis by `aspidactl tick` and may lag by a minute.
CREATE TABLE api_keys (
	id			bigint		GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id			bigint		NOT NULL
	    REFERENCES users (id) ON DELETE CASCADE,
	name			text		NOT NULL
	    CHECK (char_length(name) BETWEEN 1 AND 256),
	key_hash		bytea		NOT NULL UNIQUE
	    CHECK (octet_length(key_hash) = 32),
	prefix			text		NOT NULL
	    CHECK (prefix ~ '^ak_[A-Za-z0-9_-]{6}$'),
	scopes			text[]		NOT NULL
	    CHECK (cardinality(scopes) >= 1
	        AND array_position(scopes, NULL) IS NULL
	        AND scopes <@ ARRAY['read', 'write']::text[]),
	allowed_ips		cidr[]		NOT NULL DEFAULT '{}'
	    CHECK (array_position(allowed_ips, NULL) IS NULL),
	created_at		timestamptz	NOT NULL DEFAULT now(),
	expires_at		timestamptz	NOT NULL,
	revoked_at		timestamptz,
	last_used_at		timestamptz,
	use_count		bigint		NOT NULL DEFAULT 0
	    CHECK (use_count >= 0),
	CHECK (expires_at > created_at)
);
-- "At most 10 live keys per user" and GET /keys.
CREATE INDEX api_keys_user_idx ON api_keys (user_id)
    WHERE revoked_at IS NULL;

-- Market data ---------------------------------------------------------------

CREATE TABLE assets (
	id			varchar(10)	PRIMARY KEY
	    CHECK (id ~ '^[A-Z0-9]{1,10}$'),
	name			text		NOT NULL
	    CHECK (char_length(name) BETWEEN 1 AND 256),
	currency		text		NOT NULL DEFAULT 'USD'
	    CHECK (currency ~ '^[A-Z]{3}$')
);

-- The feeds that sign POST /ingest/prices (their secrets live in files named
-- by aspida.conf, never here), and anything else that writes prices.
CREATE TABLE sources (
	name			text		PRIMARY KEY
	    CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
	created_at		timestamptz	NOT NULL DEFAULT now(),
	last_seen_at		timestamptz
);

-- The primary key (asset_id, ts) is also the index every price read needs:
-- a B-tree scans backwards as cheaply as forwards, so "latest point" and the
-- newest-first pages are index scans on it and a separate (asset_id, ts DESC)
-- index would only double the write cost of ingestion.  It also makes a
-- second point at the same time impossible (the `duplicate` rejection).
-- Prices carry at most 12 decimals (API.md).  source is the feed's name as
-- written, deliberately not a foreign key: history outlives a feed's removal.
CREATE TABLE prices (
	asset_id		varchar(10)	NOT NULL
	    REFERENCES assets (id),
	ts			timestamptz	NOT NULL,
	price			numeric		NOT NULL
	    CHECK (price > 0 AND scale(price) <= 12),
	source			text		NOT NULL
	    CHECK (char_length(source) BETWEEN 1 AND 64),
	received_at		timestamptz	NOT NULL DEFAULT now(),
	PRIMARY KEY (asset_id, ts)
);

-- Portfolio ------------------------------------------------------------------

-- Quantities carry at most 8 decimals; a holding sold to zero may stay as a
-- zero row or be deleted, both are valid.
CREATE TABLE holdings (
	user_id			bigint		NOT NULL
	    REFERENCES users (id) ON DELETE CASCADE,
	asset_id		varchar(10)	NOT NULL
	    REFERENCES assets (id),
	quantity		numeric		NOT NULL
	    CHECK (quantity >= 0 AND scale(quantity) <= 8),
	cost_basis		numeric		NOT NULL DEFAULT 0
	    CHECK (cost_basis >= 0),
	updated_at		timestamptz	NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, asset_id)
);

-- An audit table: the runtime role may only insert and read.  Deleting a user
-- who has traded is refused (ON DELETE RESTRICT): the trail outlives the
-- account.
CREATE TABLE trades (
	id			bigint		GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id			bigint		NOT NULL
	    REFERENCES users (id) ON DELETE RESTRICT,
	asset_id		varchar(10)	NOT NULL
	    REFERENCES assets (id),
	side			text		NOT NULL
	    CHECK (side IN ('buy', 'sell')),
	quantity		numeric		NOT NULL
	    CHECK (quantity > 0 AND quantity <= 1e9 AND scale(quantity) <= 8),
	price			numeric		NOT NULL
	    CHECK (price > 0),
	ts			timestamptz	NOT NULL DEFAULT now(),
	idempotency_key		text
	    CHECK (idempotency_key ~ '^[A-Za-z0-9_-]{1,64}$')
);
-- GET /portfolio/trades: the caller's trades, newest first, keyset-paginated
-- on (ts, id).
CREATE INDEX trades_user_ts_idx ON trades (user_id, ts, id);

-- Idempotency-Key, scoped to the principal (a user or an API key, as the
-- handler names it) and the route, kept 24 hours.  A row is inserted first
-- with response and status NULL (the claim that makes concurrent duplicates
-- wait), then completed; an error deletes it, since errors are not stored.
CREATE TABLE idempotency_keys (
	principal		text		NOT NULL
	    CHECK (char_length(principal) BETWEEN 1 AND 128),
	route			text		NOT NULL
	    CHECK (char_length(route) BETWEEN 1 AND 128),
	key			text		NOT NULL
	    CHECK (key ~ '^[A-Za-z0-9_-]{1,64}$'),
	request_hash		bytea		NOT NULL
	    CHECK (octet_length(request_hash) = 32),
	response		jsonb,
	status			integer
	    CHECK (status BETWEEN 100 AND 599),
	created_at		timestamptz	NOT NULL DEFAULT now(),
	PRIMARY KEY (principal, route, key),
	CHECK ((response IS NULL) = (status IS NULL))
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Forecasts -------------------------------------------------------------------

-- Every forecast is stored and later scored (actual, error, scored_at) by
-- `aspidactl tick` against the price that arrives at target_ts.  error is the
-- relative error |predicted - actual| / actual.  Anonymous forecasts do not
-- exist (credentials are required), but a deleted user's forecasts keep
-- their value for model scoring, hence SET NULL.
CREATE TABLE forecasts (
	id			bigint		GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id			bigint
	    REFERENCES users (id) ON DELETE SET NULL,
	asset_id		varchar(10)	NOT NULL
	    REFERENCES assets (id),
	created_at		timestamptz	NOT NULL DEFAULT now(),
	horizon_hours		integer		NOT NULL
	    CHECK (horizon_hours BETWEEN 1 AND 168),
	target_ts		timestamptz	NOT NULL,
	predicted		numeric		NOT NULL
	    CHECK (predicted >= 0),
	low			numeric		NOT NULL
	    CHECK (low >= 0),
	high			numeric		NOT NULL,
	confidence		numeric		NOT NULL
	    CHECK (confidence BETWEEN 0 AND 1),
	model			text		NOT NULL
	    CHECK (char_length(model) BETWEEN 1 AND 64),
	points_used		integer		NOT NULL
	    CHECK (points_used >= 0),
	outliers_excluded	integer		NOT NULL DEFAULT 0
	    CHECK (outliers_excluded >= 0),
	actual			numeric
	    CHECK (actual > 0),
	error			numeric
	    CHECK (error >= 0),
	scored_at		timestamptz,
	CHECK (low <= predicted AND predicted <= high),
	CHECK (target_ts > created_at),
	CHECK (actual IS NULL OR scored_at IS NOT NULL)
);
-- The scorer's work list: unscored forecasts whose time has come.
CREATE INDEX forecasts_unscored_idx ON forecasts (target_ts)
    WHERE scored_at IS NULL;
CREATE INDEX forecasts_asset_created_idx ON forecasts (asset_id, created_at);

-- Security --------------------------------------------------------------------

-- Blocked client addresses, manual (POST /admin/ip-blocks, aspidactl) or
-- automatic (abuse controls).  expires_at NULL means until removed.
-- created_by names the actor ("user:42", "aspidactl", "autoblock").  The
-- durable copy of what workers cache locally, so a Redis loss keeps blocks.
CREATE TABLE ip_blocks (
	id			bigint		GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	cidr			cidr		NOT NULL,
	reason			text		NOT NULL
	    CHECK (char_length(reason) BETWEEN 1 AND 512),
	created_at		timestamptz	NOT NULL DEFAULT now(),
	expires_at		timestamptz,
	created_by		text		NOT NULL
	    CHECK (char_length(created_by) BETWEEN 1 AND 128),
	automatic		boolean		NOT NULL DEFAULT false,
	CHECK (expires_at IS NULL OR expires_at > created_at)
);
CREATE INDEX ip_blocks_expires_idx ON ip_blocks (expires_at);

-- An audit table: the runtime role may only insert and read.  Single events
-- leave `minute` NULL.  Floods are counted in Redis and written as one row per
-- kind, key and minute once the minute has passed, with `minute` set to that
-- minute and `count` the total; the partial unique index makes that flush
-- idempotent: two workers noticing the same past minute, or a retried flush,
-- insert with ON CONFLICT DO NOTHING (which needs INSERT only) and the second
-- row is dropped instead of doubling the count.
CREATE TABLE security_events (
	id			bigint		GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ts			timestamptz	NOT NULL DEFAULT now(),
	minute			timestamptz
	    CHECK (minute = date_trunc('minute', minute)),
	kind			text		NOT NULL
	    CHECK (char_length(kind) BETWEEN 1 AND 64),
	severity		text		NOT NULL
	    CHECK (severity IN ('info', 'warning', 'critical')),
	request_id		text
	    CHECK (request_id ~ '^[0-9a-f]{32}$'),
	client_ip		inet,
	principal		text
	    CHECK (char_length(principal) <= 128),
	route			text
	    CHECK (char_length(route) <= 256),
	count			integer		NOT NULL DEFAULT 1
	    CHECK (count >= 1),
	details			jsonb
);
CREATE INDEX security_events_ts_idx ON security_events (ts);
CREATE INDEX security_events_kind_ts_idx ON security_events (kind, ts);
CREATE UNIQUE INDEX security_events_flood_idx ON security_events
    (kind, minute, principal, client_ip, route) NULLS NOT DISTINCT
    WHERE minute IS NOT NULL;

-- An audit table: the runtime role may only insert and read.  subject is what
-- the alert is about (an address, an account, "postgresql"); value crossed
-- threshold over window_seconds.  Acknowledging is an operator's act done
-- with the owner's rights (aspidactl), not a worker's.
CREATE TABLE alerts (
	id			bigint		GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ts			timestamptz	NOT NULL DEFAULT now(),
	kind			text		NOT NULL
	    CHECK (char_length(kind) BETWEEN 1 AND 64),
	severity		text		NOT NULL
	    CHECK (severity IN ('info', 'warning', 'critical')),
	subject			text
	    CHECK (char_length(subject) <= 256),
	value			numeric,
	threshold		numeric,
	window_seconds		integer
	    CHECK (window_seconds > 0),
	details			jsonb,
	acknowledged_at		timestamptz
);
CREATE INDEX alerts_ts_idx ON alerts (ts);
CREATE INDEX alerts_kind_ts_idx ON alerts (kind, ts);

-- alert_command runs from `aspidactl tick` on every host; a host claims an
-- alert by inserting its row here (ON CONFLICT DO NOTHING RETURNING), so the
-- command runs once per alert across the deployment while alerts stays
-- insert-only.
CREATE TABLE alert_notifications (
	alert_id		bigint		PRIMARY KEY
	    REFERENCES alerts (id) ON DELETE CASCADE,
	claimed_at		timestamptz	NOT NULL DEFAULT now(),
	claimed_by		text		NOT NULL
	    CHECK (char_length(claimed_by) BETWEEN 1 AND 256)
);

-- Privileges of the runtime role ---------------------------------------------
--
-- Listed table by table, so that reading this block tells exactly what a
-- compromised worker could do.  No table is granted TRUNCATE, REFERENCES or
-- TRIGGER, and later migrations grant their own tables explicitly (no
-- ALTER DEFAULT PRIVILEGES: a new table is closed until someone opens it).

-- Read-only: reference data maintained by the operator, and the schema
-- version /readyz or `aspidactl check` may compare.
GRANT SELECT ON schema_migrations, assets TO aspida_app;

-- users: a worker registers users and changes passwords and generations,
-- but cannot choose a role or delete anyone: a compromised worker cannot
-- mint an admin.  Admins are made with the owner's rights (aspidactl).
GRANT SELECT ON users TO aspida_app;
GRANT INSERT (email, password_hash, full_name) ON users TO aspida_app;
GRANT UPDATE (password_hash, full_name, token_generation) ON users
    TO aspida_app;

-- Operational state: full DML.
GRANT SELECT, INSERT, UPDATE, DELETE ON
    refresh_families, api_keys, holdings, idempotency_keys, forecasts,
    ip_blocks
    TO aspida_app;

-- sources: registered and touched (last_seen_at) on ingestion; never deleted.
GRANT SELECT, INSERT, UPDATE ON sources TO aspida_app;

-- prices: ingestion appends; history is never rewritten by a worker (price
-- manipulation).  Corrections and retention are the owner's.
GRANT SELECT, INSERT ON prices TO aspida_app;

-- The audit trail: append and read only.
GRANT SELECT, INSERT ON security_events, alerts, trades, alert_notifications
    TO aspida_app;

-- Identity columns draw from their sequences without a grant on them; USAGE
-- is granted anyway so that an explicit nextval() in a later statement works.
-- It never allows setval(), which needs UPDATE.
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO aspida_app;
