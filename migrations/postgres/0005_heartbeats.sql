-- StatusHawk: heartbeat monitors.
--
-- * monitors.ping_token_hash: SHA-256 of a heartbeat monitor's secret ping
--   token (the token itself is shown once, at creation and rotation).
-- * heartbeat_state: what the evaluator's janitor must not forget across a
--   restart or a partition takeover: when a missing ping becomes a failure,
--   and the runs that started and have not finished.

ALTER TABLE monitors ADD COLUMN ping_token_hash bytea UNIQUE
    CHECK (ping_token_hash IS NULL OR octet_length(ping_token_hash) = 32);

COMMENT ON COLUMN monitors.ping_token_hash IS
    'Heartbeat monitors: SHA-256 of the secret token in their ping URL (/ping/<token>).';

CREATE TABLE heartbeat_state (
    monitor_id    uuid   PRIMARY KEY REFERENCES monitors (id) ON DELETE CASCADE,
    -- Unix ms after which silence is a failure; NULL: nothing is expected
    -- (never pinged, or the miss was already reported).
    deadline_ms   bigint,
    -- Unix ms of the last ping.
    last_ping_ms  bigint,
    -- The newest result slot published, so later results always order after it.
    last_slot_ms  bigint NOT NULL DEFAULT 0,
    -- Runs started and not finished: run id ("" without one) to start (Unix ms).
    runs          jsonb  NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(runs) = 'object')
);

COMMENT ON TABLE heartbeat_state IS
    'Deadlines and open runs of heartbeat monitors, kept by the evaluator that owns their partition.';
