-- StatusHawk: telling people about incidents (issue 19).
--
-- * incidents.acknowledged_at / acknowledged_by: a person took the incident
--   on; reminders stop.
-- * incident_updates.kind: a person's update or an acknowledgement;
--   .notify: whether channels and subscribers are told (false: the status
--   page only). Each such entry is published as an incident event (made
--   from its id) through event_outbox, written in the same transaction.
-- * status_page_subscribers: visitors (double opt-in for e-mail) and
--   subscribers added by admins, per page, optionally to some sections.
-- * maintenance_notices: which maintenance notices (scheduled, started)
--   were planned for subscribers, so each is planned once, not every tick.
-- * notification_deliveries: a delivery goes to a channel or a subscriber;
--   team_id is kept on the row, so the fair share needs no join.

ALTER TABLE incidents
    ADD COLUMN acknowledged_at timestamptz,
    ADD COLUMN acknowledged_by uuid REFERENCES users (id) ON DELETE SET NULL;

COMMENT ON COLUMN incidents.acknowledged_at IS 'When a person acknowledged it (reminders stop); NULL = not yet.';

ALTER TABLE incident_updates
    ADD COLUMN kind   text    NOT NULL DEFAULT 'update' CHECK (kind IN ('update', 'acknowledged')),
    ADD COLUMN notify boolean NOT NULL DEFAULT true;

COMMENT ON COLUMN incident_updates.kind IS 'update (a status and a text) or acknowledged (a person took it on).';
COMMENT ON COLUMN incident_updates.notify IS 'Channels and subscribers are told; false = shown on status pages only.';

CREATE TABLE status_page_subscribers (
    id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id            uuid        NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    page_id            uuid        NOT NULL,
    kind               text        NOT NULL CHECK (kind IN ('email', 'webhook')),
    -- The e-mail address (lower-cased) or the webhook URL.
    address            text        NOT NULL CHECK (char_length(address) BETWEEN 3 AND 2048),
    -- NULL = every monitor of the page; else only those of these sections.
    section_ids        uuid[]      CHECK (cardinality(section_ids) BETWEEN 1 AND 100),
    -- Random, in every message's unsubscribe link.
    token              text        NOT NULL UNIQUE CHECK (char_length(token) BETWEEN 32 AND 128),
    -- SHA-256 of the one-time confirmation token (e-mail from visitors).
    confirm_sha256     bytea       UNIQUE,
    confirmed_at       timestamptz,
    added_by           text        NOT NULL CHECK (added_by IN ('visitor', 'admin')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT status_page_subscribers_page_fkey FOREIGN KEY (team_id, page_id)
        REFERENCES status_pages (team_id, id) ON DELETE CASCADE,
    CONSTRAINT status_page_subscribers_page_address_key UNIQUE (page_id, kind, address),
    CONSTRAINT status_page_subscribers_confirmation CHECK (confirmed_at IS NOT NULL OR confirm_sha256 IS NOT NULL)
);

CREATE INDEX status_page_subscribers_page_idx ON status_page_subscribers (page_id) WHERE confirmed_at IS NOT NULL;

COMMENT ON TABLE status_page_subscribers IS
    'Who is told of a status page''s incidents and maintenance: confirmed ones only.';

ALTER TABLE notification_deliveries
    ADD COLUMN team_id       uuid REFERENCES teams (id) ON DELETE CASCADE,
    ADD COLUMN subscriber_id uuid REFERENCES status_page_subscribers (id) ON DELETE CASCADE,
    ALTER COLUMN channel_id DROP NOT NULL;

UPDATE notification_deliveries d SET team_id = c.team_id FROM channels c WHERE c.id = d.channel_id;

ALTER TABLE notification_deliveries
    ALTER COLUMN team_id SET NOT NULL,
    ADD CONSTRAINT notification_deliveries_one_recipient CHECK (num_nonnulls(channel_id, subscriber_id) = 1),
    ADD CONSTRAINT notification_deliveries_event_subscriber_key UNIQUE (event_id, subscriber_id);

CREATE INDEX notification_deliveries_subscriber_idx
    ON notification_deliveries (subscriber_id, created_at DESC) WHERE subscriber_id IS NOT NULL;

COMMENT ON COLUMN notification_deliveries.subscriber_id IS 'The status page subscriber it goes to (else channel_id).';

CREATE TABLE maintenance_notices (
    -- maintenance:<window>:scheduled or maintenance:<window>:<start ms>:started
    event_id    text        PRIMARY KEY CHECK (char_length(event_id) BETWEEN 1 AND 512),
    window_id   uuid        NOT NULL REFERENCES maintenance_windows (id) ON DELETE CASCADE,
    planned_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE maintenance_notices IS
    'Maintenance notices whose subscriber deliveries were claimed (in the same transaction).';
