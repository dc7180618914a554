-- 005_alerts.sql - one alert per kind, subject and window, whatever the
-- latch in Redis could say.
--
-- An alert fires once per window: a SET NX latch in Redis decides which
-- worker of which host writes it (src/alerts.c).  When Redis is the thing
-- that failed, every worker that notices writes the PostgreSQL/Redis
-- failure alert straight to this table; the unique index below then keeps
-- exactly one row per window, and the runtime role still needs nothing but
-- INSERT (ON CONFLICT DO NOTHING).  The window's start travels in details
-- rather than in a new column, so a binary newer than the schema still
-- prepares its statements.

CREATE UNIQUE INDEX alerts_window_idx ON alerts
    (kind, coalesce(subject, ''), (details ->> 'window_start'))
    WHERE details ? 'window_start';
