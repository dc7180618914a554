-- 003_portfolio.sql - trading in one step, and half-even rounding.
--
-- A trade is one call of portfolio_trade(): the holding row is locked (FOR
-- UPDATE) before it is read, so concurrent sells queue on it and each sees
-- the quantity the previous one left: 20 concurrent sells of 1 against a
-- holding of 10 make exactly 10 trades, and the CHECK (quantity >= 0) on
-- holdings is only the last line of defence.  The Idempotency-Key claim is
-- inserted in the same transaction: a concurrent duplicate blocks on the
-- primary key until the first commits, then replays its stored answer; a
-- failure deletes the claim (errors are not stored), and a key reused with
-- another body is a conflict.  Runs with the caller's rights.

-- API.md: computed values are rounded half-even to 8 decimals; PostgreSQL's
-- round() rounds half away from zero.
CREATE FUNCTION round_half_even(v numeric, d integer)
RETURNS numeric LANGUAGE sql IMMUTABLE STRICT
AS $$
	SELECT CASE
	    WHEN abs(v * power(10::numeric, d) - trunc(v * power(10::numeric, d)))
	        = 0.5
	    THEN (trunc(v * power(10::numeric, d)) +
	        CASE WHEN mod(trunc(v * power(10::numeric, d)), 2) = 0 THEN 0
	        ELSE sign(v) END) / power(10::numeric, d)
	    ELSE round(v, d)
	END
$$;

CREATE FUNCTION portfolio_trade(p_user bigint, p_principal text,
    p_route text, p_asset text, p_side text, p_qty numeric,
    p_max_age integer, p_key text, p_hash bytea)
RETURNS TABLE (status text, trade_id bigint, price numeric,
    ts timestamptz, response jsonb)
LANGUAGE plpgsql SECURITY INVOKER SET search_path = public
AS $$
DECLARE
	v_price	numeric;
	v_ts	timestamptz;
	v_held	numeric;
	v_hash	bytea;
	v_resp	jsonb;
BEGIN
	IF p_key IS NOT NULL THEN
		DELETE FROM idempotency_keys k WHERE k.principal = p_principal
		    AND k.route = p_route AND k.key = p_key
		    AND k.created_at <= now() - interval '24 hours';
		INSERT INTO idempotency_keys (principal, route, key, request_hash)
		    VALUES (p_principal, p_route, p_key, p_hash)
		    ON CONFLICT DO NOTHING;
		IF NOT FOUND THEN
			SELECT k.request_hash, k.response INTO v_hash, v_resp
			    FROM idempotency_keys k WHERE k.principal = p_principal
			    AND k.route = p_route AND k.key = p_key;
			IF v_hash IS DISTINCT FROM p_hash OR v_resp IS NULL THEN
				status := 'key_conflict';
			ELSE
				status := 'replay';
				response := v_resp;
			END IF;
			RETURN NEXT;
			RETURN;
		END IF;
	END IF;

	IF NOT EXISTS (SELECT 1 FROM assets a WHERE a.id = p_asset) THEN
		status := 'unknown_asset';
	ELSE
		SELECT p.price, p.ts INTO v_price, v_ts FROM prices p
		    WHERE p.asset_id = p_asset ORDER BY p.ts DESC LIMIT 1;
		IF v_price IS NULL OR
		    v_ts < now() - make_interval(secs => p_max_age) THEN
			status := 'stale';
		END IF;
	END IF;
	IF status IS NULL THEN
		IF p_side = 'buy' THEN
			INSERT INTO holdings (user_id, asset_id, quantity)
			    VALUES (p_user, p_asset, 0) ON CONFLICT DO NOTHING;
		END IF;
		SELECT h.quantity INTO v_held FROM holdings h
		    WHERE h.user_id = p_user AND h.asset_id = p_asset FOR UPDATE;
		IF p_side = 'sell' AND (v_held IS NULL OR v_held < p_qty) THEN
			status := 'insufficient';
		END IF;
	END IF;
	IF status IS NOT NULL THEN
		IF p_key IS NOT NULL THEN
			DELETE FROM idempotency_keys k WHERE k.principal = p_principal
			    AND k.route = p_route AND k.key = p_key;
		END IF;
		RETURN NEXT;
		RETURN;
	END IF;

	IF p_side = 'buy' THEN
		UPDATE holdings h SET quantity = h.quantity + p_qty,
		    cost_basis = h.cost_basis + p_qty * v_price, updated_at = now()
		    WHERE h.user_id = p_user AND h.asset_id = p_asset;
	ELSE
		-- The cost basis of what remains, in proportion (average cost).
		UPDATE holdings h SET cost_basis = CASE WHEN h.quantity = p_qty
		    THEN 0 ELSE round(h.cost_basis * (h.quantity - p_qty) /
		    h.quantity, 20) END,
		    quantity = h.quantity - p_qty, updated_at = now()
		    WHERE h.user_id = p_user AND h.asset_id = p_asset;
	END IF;
	INSERT INTO trades (user_id, asset_id, side, quantity, price,
	    idempotency_key) VALUES (p_user, p_asset, p_side, p_qty, v_price,
	    p_key) RETURNING trades.id, trades.ts INTO trade_id, ts;
	price := v_price;
	status := 'ok';
	response := jsonb_build_object('trade_id', trade_id, 'asset_id',
	    p_asset, 'side', p_side, 'quantity', trim_scale(p_qty)::text,
	    'price', trim_scale(v_price)::text, 'ts',
	    to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
	IF p_key IS NOT NULL THEN
		UPDATE idempotency_keys k SET response = portfolio_trade.response,
		    status = 200 WHERE k.principal = p_principal
		    AND k.route = p_route AND k.key = p_key;
	END IF;
	RETURN NEXT;
END
$$;

REVOKE ALL ON FUNCTION portfolio_trade(bigint, text, text, text, text,
    numeric, integer, text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION portfolio_trade(bigint, text, text, text, text,
    numeric, integer, text, bytea) TO aspida_app;
GRANT EXECUTE ON FUNCTION round_half_even(numeric, integer) TO aspida_app;
