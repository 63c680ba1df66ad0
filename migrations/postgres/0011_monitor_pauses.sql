-- StatusHawk: when each monitor was paused, so uptime leaves paused time out
-- and status pages show it as paused (not up, not "no data").
--
-- A trigger keeps it, whoever changes `monitors.paused`: a span opens when a
-- monitor is created paused or paused, and closes when it is resumed. A
-- monitor paused before this migration gets a span from its last change.

CREATE TABLE monitor_pauses (
    monitor_id uuid        NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    paused_at  timestamptz NOT NULL,
    resumed_at timestamptz,
    CHECK (resumed_at IS NULL OR resumed_at >= paused_at)
);

CREATE INDEX monitor_pauses_monitor_idx ON monitor_pauses (monitor_id, paused_at);
-- At most one open span per monitor.
CREATE UNIQUE INDEX monitor_pauses_open_idx ON monitor_pauses (monitor_id) WHERE resumed_at IS NULL;

COMMENT ON TABLE monitor_pauses IS 'Spans a monitor was paused (resumed_at NULL: still paused); kept by a trigger on monitors.paused.';

CREATE FUNCTION monitor_pauses_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.paused AND (TG_OP = 'INSERT' OR NOT OLD.paused) THEN
        INSERT INTO monitor_pauses (monitor_id, paused_at) VALUES (NEW.id, now())
        ON CONFLICT DO NOTHING;
    ELSIF TG_OP = 'UPDATE' AND OLD.paused AND NOT NEW.paused THEN
        UPDATE monitor_pauses SET resumed_at = greatest(now(), paused_at)
        WHERE monitor_id = NEW.id AND resumed_at IS NULL;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER monitor_pauses_on_insert AFTER INSERT ON monitors
    FOR EACH ROW WHEN (NEW.paused) EXECUTE FUNCTION monitor_pauses_track();
CREATE TRIGGER monitor_pauses_on_update AFTER UPDATE OF paused ON monitors
    FOR EACH ROW WHEN (OLD.paused IS DISTINCT FROM NEW.paused) EXECUTE FUNCTION monitor_pauses_track();

INSERT INTO monitor_pauses (monitor_id, paused_at)
SELECT id, updated_at FROM monitors WHERE paused;
