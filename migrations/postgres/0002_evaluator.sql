-- StatusHawk: what the evaluator needs beyond the initial schema.
--
-- * monitors.degraded_is_failure: a monitor may ask that `degraded` results
--   (reachable, but over a soft limit) count as failures and open incidents.
-- * monitor_status: each monitor's current overall status and the sequence
--   number of its status events, so that a restarted or new evaluator goes on
--   with the next number (event message ids stay unique) and status pages read
--   the current status without ClickHouse.
-- * region_outages.last_slot_ms / last_attempt: the newest result counted in
--   an open outage, so a redelivered result is not counted twice.
-- * incidents.event_seq: the sequence number of the incident's latest event.
-- * event_outbox: events committed with the state change that caused them and
--   deleted once NATS has them, so a crash between the commit and the publish
--   loses no event.

ALTER TABLE monitors ADD COLUMN degraded_is_failure boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN monitors.degraded_is_failure IS
    'Degraded results count as failures: they are confirmed, open region outages and incidents.';

CREATE TYPE monitor_status_kind AS ENUM ('up', 'degraded', 'down');

CREATE TABLE monitor_status (
    monitor_id  uuid                PRIMARY KEY REFERENCES monitors (id) ON DELETE CASCADE,
    status      monitor_status_kind NOT NULL,
    seq         bigint              NOT NULL CHECK (seq >= 0),
    changed_at  timestamptz         NOT NULL,
    -- Latest evidence of every region, as in the status event (RegionEvidence[]).
    regions     jsonb               NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(regions) = 'array')
);

COMMENT ON TABLE monitor_status IS
    'Current overall status of each monitor that has had a status change, written by the evaluator.';
COMMENT ON COLUMN monitor_status.seq IS 'Sequence number of the latest events.status.<monitor> event.';

ALTER TABLE region_outages
    ADD COLUMN last_slot_ms bigint  NOT NULL DEFAULT 0,
    ADD COLUMN last_attempt integer NOT NULL DEFAULT 0 CHECK (last_attempt >= 0);

COMMENT ON COLUMN region_outages.last_slot_ms IS 'Slot of the newest result counted in this outage.';
COMMENT ON COLUMN region_outages.last_attempt IS 'Attempt of the newest result counted in this outage.';

ALTER TABLE incidents ADD COLUMN event_seq integer NOT NULL DEFAULT 0 CHECK (event_seq >= 0);

COMMENT ON COLUMN incidents.event_seq IS 'Sequence number of the latest events.incident.* event of this incident.';

CREATE TABLE event_outbox (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Evaluator partition of the monitor: the partition's owner publishes its rows.
    partition   smallint    NOT NULL CHECK (partition >= 0),
    subject     text        NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 512),
    msg_id      text        NOT NULL CHECK (char_length(msg_id) BETWEEN 1 AND 512),
    payload     jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX event_outbox_partition_idx ON event_outbox (partition, id);

COMMENT ON TABLE event_outbox IS
    'Events written with the state change that caused them; published to EVENTS (Nats-Msg-Id = msg_id), then deleted.';
