-- 002_api_keys.sql - creating an API key under the per-user cap, atomically.
--
-- API.md: at most 10 live keys per user.  A count then an insert in two
-- statements lets two concurrent requests both see 9; this function takes a
-- per-user advisory lock first, so the count and the insert are one step.  It
-- runs with the caller's rights (SECURITY INVOKER): aspida_app's own INSERT.
-- Returns no row when the cap is reached.

CREATE FUNCTION api_key_create(p_user bigint, p_name text, p_hash bytea,
    p_prefix text, p_scopes text[], p_ips cidr[], p_days integer,
    p_max integer)
RETURNS TABLE (key_id bigint, key_expires_at timestamptz)
LANGUAGE plpgsql SECURITY INVOKER SET search_path = public
AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(hashtextextended('aspida-api-key:' ||
	    p_user::text, 0));
	IF (SELECT count(*) FROM api_keys k WHERE k.user_id = p_user AND
	    k.revoked_at IS NULL AND k.expires_at > now()) >= p_max THEN
		RETURN;
	END IF;
	RETURN QUERY INSERT INTO api_keys (user_id, name, key_hash, prefix,
	    scopes, allowed_ips, expires_at)
	    VALUES (p_user, p_name, p_hash, p_prefix, p_scopes, p_ips,
	    now() + make_interval(days => p_days))
	    RETURNING api_keys.id, api_keys.expires_at;
END
$$;

REVOKE ALL ON FUNCTION api_key_create(bigint, text, bytea, text, text[],
    cidr[], integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_key_create(bigint, text, bytea, text, text[],
    cidr[], integer, integer) TO aspida_app;
