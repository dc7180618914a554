-- 004_ingest.sql - what price ingestion keeps between batches, and the one
-- statement that stores a batch.
--
-- ingest_state holds, per listed asset, what the outlier filter needs besides
-- the prices themselves (API.md, src/ingest.c): anchor_ts, where the asset's
-- current level starts (the window of recent points reaches back no
-- further), and candidates, the pending run of outliers that may, across
-- requests, become a new level.  They live here rather than in Redis because
-- they decide which prices are stored: a Redis loss must not forget a
-- re-anchor (the old level's points would come back into the window and
-- reject the new level once more) nor restart a run half-way, and they must
-- change in the same transaction as the prices they are about.
--
-- A worker loads the state with the asset's recent points in one query,
-- judges the batch, then calls ingest_commit() once: one statement, so one
-- transaction, and no transaction is ever open between round trips (a worker
-- that dies mid-batch holds no lock).  Batches are serialised per asset
-- optimistically: every write bumps the asset's version; ingest_commit()
-- locks the state rows of the assets it writes, in id order (two batches
-- over the same assets queue, they cannot deadlock), and when any version
-- moved since the load it writes nothing and answers 'conflict', so the
-- worker loads and judges again.  Two batches for one asset thus behave as
-- if one had run after the other.  Runs with the caller's rights.

CREATE TABLE ingest_state (
	asset_id		varchar(10)	PRIMARY KEY
	    REFERENCES assets (id),
	version			bigint		NOT NULL DEFAULT 0
	    CHECK (version >= 0),
	anchor_ts		timestamptz,
	-- [{"ts","received","price","request_id","source"}], oldest first.
	candidates		jsonb		NOT NULL DEFAULT '[]'
	    CHECK (jsonb_typeof(candidates) = 'array'
	        AND jsonb_array_length(candidates) <= 4096),
	updated_at		timestamptz	NOT NULL DEFAULT now()
);

-- p_assets: [{"id","version","anchor","candidates"}], the assets the batch
-- changes, each with the version it was judged at and its new state (anchor
-- in epoch seconds, 0 for none).  p_points: [{"a","t","p","s"}], the rows to
-- insert (asset, epoch seconds, canonical decimal text, source).  Returns
-- ('ok', rows inserted) or ('conflict', 0) with nothing written.  A row
-- that is there already but was not when the batch was judged (only the
-- owner writes prices outside this function) is a conflict too: the retry
-- then judges that point a duplicate, so the answer's counts stay exact.
CREATE FUNCTION ingest_commit(p_source text, p_assets jsonb, p_points jsonb)
RETURNS TABLE (status text, inserted bigint)
LANGUAGE plpgsql SECURITY INVOKER SET search_path = public
AS $$
DECLARE
	v_want	bigint := jsonb_array_length(p_points);
	v_n	bigint;
BEGIN
	INSERT INTO ingest_state (asset_id)
	    SELECT a.id FROM jsonb_to_recordset(p_assets) AS a(id text)
	    ORDER BY a.id ON CONFLICT DO NOTHING;
	PERFORM 1 FROM ingest_state s WHERE s.asset_id IN
	    (SELECT a.id FROM jsonb_to_recordset(p_assets) AS a(id text))
	    ORDER BY s.asset_id FOR UPDATE;
	IF EXISTS (SELECT 1 FROM jsonb_to_recordset(p_assets)
	    AS a(id text, version bigint) JOIN ingest_state s
	    ON s.asset_id = a.id WHERE s.version <> a.version) THEN
		status := 'conflict';
		inserted := 0;
		RETURN NEXT;
		RETURN;
	END IF;
	BEGIN
		INSERT INTO prices (asset_id, ts, price, source)
		    SELECT p.a, to_timestamp(p.t), p.p::numeric, p.s
		    FROM jsonb_to_recordset(p_points)
		    AS p(a text, t bigint, p text, s text)
		    ON CONFLICT DO NOTHING;
		GET DIAGNOSTICS v_n = ROW_COUNT;
		IF v_n <> v_want THEN
			RAISE EXCEPTION 'a point of the batch is stored already'
			    USING ERRCODE = 'AS001';
		END IF;
		UPDATE ingest_state s SET version = s.version + 1,
		    anchor_ts = CASE WHEN a.anchor > 0
		        THEN to_timestamp(a.anchor) END,
		    candidates = a.candidates, updated_at = now()
		    FROM jsonb_to_recordset(p_assets)
		    AS a(id text, anchor bigint, candidates jsonb)
		    WHERE s.asset_id = a.id;
	EXCEPTION WHEN SQLSTATE 'AS001' THEN
		status := 'conflict';
		inserted := 0;
		RETURN NEXT;
		RETURN;
	END;
	-- The feed was seen (sources: registered and touched on ingestion).
	INSERT INTO sources (name, last_seen_at) VALUES (p_source, now())
	    ON CONFLICT (name) DO UPDATE
	    SET last_seen_at = excluded.last_seen_at;
	status := 'ok';
	inserted := v_n;
	RETURN NEXT;
END
$$;

-- No DELETE: candidates are emptied by an update, and rows stay with their
-- asset.
GRANT SELECT, INSERT, UPDATE ON ingest_state TO aspida_app;
REVOKE ALL ON FUNCTION ingest_commit(text, jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest_commit(text, jsonb, jsonb) TO aspida_app;
