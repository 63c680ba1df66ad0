-- StatusHawk: initial Postgres schema (configuration and the incident record).
-- Applied by sqlx's migrator in a single transaction; requires Postgres >= 15
-- (gen_random_uuid() built in, ON DELETE SET NULL (column list)).
--
-- Conventions: uuid primary keys, timestamptz with default now(), text with
-- length checks, enum types for closed sets. Tables that belong to a team and
-- are referenced by other team-owned rows expose UNIQUE (team_id, id); children
-- carry team_id and use composite foreign keys, so a link between two rows of
-- different teams cannot exist.

-- ---------------------------------------------------------------------------
-- Enum types
-- ---------------------------------------------------------------------------

CREATE TYPE team_role AS ENUM ('owner', 'admin', 'member', 'viewer');

CREATE TYPE monitor_kind AS ENUM ('http', 'tcp', 'icmp', 'dns', 'tls', 'heartbeat');

CREATE TYPE channel_kind AS ENUM (
    'email', 'webhook', 'slack', 'discord', 'teams', 'telegram', 'pagerduty', 'ntfy'
);

CREATE TYPE maintenance_kind AS ENUM ('one_off', 'weekly');

CREATE TYPE incident_status AS ENUM ('investigating', 'identified', 'monitoring', 'resolved');

CREATE TYPE incident_update_source AS ENUM ('system', 'user');

CREATE TYPE delivery_status AS ENUM ('pending', 'sending', 'delivered', 'failed', 'suppressed');

-- ---------------------------------------------------------------------------
-- Helper functions (immutable, so they can be used in CHECK constraints)
-- ---------------------------------------------------------------------------

-- A region name: lower-case letters, digits and '-', 1..32 chars, not starting with '-'.
CREATE FUNCTION is_valid_region(region text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT region ~ '^[a-z0-9][a-z0-9-]{0,31}$' $$;

COMMENT ON FUNCTION is_valid_region(text) IS
    'True when the text is a valid region name (^[a-z0-9][a-z0-9-]{0,31}$).';

-- A list of regions: one-dimensional, no NULLs, no duplicates, every element valid.
-- The empty array is valid here; callers that need at least one region check cardinality.
-- (The regex is repeated rather than calling is_valid_region(), so the function does not
-- depend on search_path, e.g. while pg_restore checks constraints with an empty search_path.)
CREATE FUNCTION is_valid_region_list(regions text[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT cardinality(regions) = 0
            OR (    array_ndims(regions) = 1
                AND array_position(regions, NULL) IS NULL
                AND NOT EXISTS (SELECT 1 FROM unnest(regions) AS r
                                WHERE r !~ '^[a-z0-9][a-z0-9-]{0,31}$')
                AND (SELECT count(DISTINCT r) FROM unnest(regions) AS r) = cardinality(regions))
    $$;

COMMENT ON FUNCTION is_valid_region_list(text[]) IS
    'True when the array is one-dimensional, has no NULLs or duplicates and every element is a valid region.';

-- ISO weekdays (1 = Monday .. 7 = Sunday): non-empty, one-dimensional, no NULLs, no duplicates.
CREATE FUNCTION is_valid_iso_weekdays(days smallint[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT cardinality(days) BETWEEN 1 AND 7
           AND array_ndims(days) = 1
           AND array_position(days, NULL) IS NULL
           AND NOT EXISTS (SELECT 1 FROM unnest(days) AS d WHERE d NOT BETWEEN 1 AND 7)
           AND (SELECT count(DISTINCT d) FROM unnest(days) AS d) = cardinality(days)
    $$;

COMMENT ON FUNCTION is_valid_iso_weekdays(smallint[]) IS
    'True when the array is a non-empty set of ISO weekdays (1 = Monday .. 7 = Sunday).';

-- Keeps updated_at current: BEFORE UPDATE trigger on every table with updated_at.
CREATE FUNCTION set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        NEW.updated_at := now();
        RETURN NEW;
    END;
    $$;

COMMENT ON FUNCTION set_updated_at() IS
    'BEFORE UPDATE trigger: sets NEW.updated_at to now().';

-- ---------------------------------------------------------------------------
-- Teams, users, memberships, API tokens
-- ---------------------------------------------------------------------------

CREATE TABLE teams (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text        NOT NULL CHECK (char_length(btrim(name)) BETWEEN 1 AND 100),
    slug        text        NOT NULL UNIQUE
                            CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE teams IS 'Tenant. Every monitor, channel, status page and token belongs to exactly one team.';

CREATE TABLE users (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text        NOT NULL
                              CHECK (char_length(email) <= 254
                                     AND email ~ '^[^@[:space:]]+@[^@[:space:].]+(\.[^@[:space:].]+)*$'),
    name          text        NOT NULL DEFAULT '' CHECK (char_length(name) <= 200),
    password_hash text        CHECK (password_hash ~ '^\$argon2(id|i|d)\$'),
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- E-mail addresses are unique regardless of case; look users up with lower(email) = lower($1).
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

COMMENT ON TABLE users IS 'A person. Belongs to teams through memberships.';
COMMENT ON COLUMN users.password_hash IS 'argon2 PHC string ($argon2id$...); NULL = no password login.';

CREATE TABLE memberships (
    team_id     uuid        NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        team_role   NOT NULL DEFAULT 'member',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id)
);

-- "Which teams is this user in?"
CREATE INDEX memberships_user_id_idx ON memberships (user_id);

COMMENT ON TABLE memberships IS 'A user''s role in a team.';

CREATE TABLE api_tokens (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id       uuid        NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    created_by    uuid        REFERENCES users (id) ON DELETE SET NULL,
    name          text        NOT NULL CHECK (char_length(btrim(name)) BETWEEN 1 AND 100),
    role          team_role   NOT NULL,
    token_hash    bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    token_prefix  text        NOT NULL CHECK (char_length(token_prefix) BETWEEN 1 AND 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    expires_at    timestamptz,
    revoked_at    timestamptz,
    CONSTRAINT api_tokens_expires_after_created CHECK (expires_at > created_at)
);

CREATE INDEX api_tokens_team_id_idx ON api_tokens (team_id);
CREATE INDEX api_tokens_created_by_idx ON api_tokens (created_by) WHERE created_by IS NOT NULL;

COMMENT ON TABLE api_tokens IS
    'Bearer tokens. Only the SHA-256 of the token is stored; authenticate by looking up token_hash.';
COMMENT ON COLUMN api_tokens.token_hash IS 'SHA-256 of the full token (32 bytes).';
COMMENT ON COLUMN api_tokens.token_prefix IS 'First characters of the token, shown to the user to recognise it.';
COMMENT ON COLUMN api_tokens.role IS 'Role the token acts with inside team_id.';

-- ---------------------------------------------------------------------------
-- Monitors and channels
-- ---------------------------------------------------------------------------

CREATE TABLE monitors (
    id             uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id        uuid         NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name           text         NOT NULL CHECK (char_length(btrim(name)) BETWEEN 1 AND 200),
    kind           monitor_kind NOT NULL,
    spec           jsonb        NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(spec) = 'object'),
    interval_ms    integer      NOT NULL CHECK (interval_ms BETWEEN 10000 AND 86400000),
    timeout_ms     integer      NOT NULL DEFAULT 10000 CHECK (timeout_ms BETWEEN 1 AND 60000),
    regions        text[]       NOT NULL
                                CHECK (cardinality(regions) >= 1 AND is_valid_region_list(regions)),
    confirmations  smallint     NOT NULL DEFAULT 2 CHECK (confirmations BETWEEN 1 AND 10),
    recoveries     smallint     NOT NULL DEFAULT 1 CHECK (recoveries BETWEEN 1 AND 10),
    -- NULL on INSERT is replaced by a majority of the regions (trigger below).
    quorum         smallint     NOT NULL,
    paused         boolean      NOT NULL DEFAULT false,
    created_at     timestamptz  NOT NULL DEFAULT now(),
    updated_at     timestamptz  NOT NULL DEFAULT now(),
    -- A check may take the whole interval (10 s default timeout at the 10 s minimum interval), not more.
    CONSTRAINT monitors_timeout_within_interval CHECK (timeout_ms <= interval_ms),
    CONSTRAINT monitors_quorum_check CHECK (quorum >= 1 AND quorum <= cardinality(regions)),
    -- Target of the composite foreign keys of team-owned children; also serves team_id lookups.
    CONSTRAINT monitors_team_id_id_key UNIQUE (team_id, id)
);

COMMENT ON TABLE monitors IS 'A thing to check, from one or more regions, every interval_ms.';
COMMENT ON COLUMN monitors.spec IS 'Kind-specific settings (URL, method, assertions, host, port, record, heartbeat grace...).';
COMMENT ON COLUMN monitors.confirmations IS 'Consecutive failures before a region is down.';
COMMENT ON COLUMN monitors.recoveries IS 'Consecutive successes before a down region is up again.';
COMMENT ON COLUMN monitors.quorum IS 'Down regions needed to open an incident; defaults to a majority of regions.';

-- Default quorum: a majority of the monitor's regions (1 for one region).
CREATE FUNCTION monitors_default_quorum() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF NEW.quorum IS NULL THEN
            NEW.quorum := cardinality(NEW.regions) / 2 + 1;
        END IF;
        RETURN NEW;
    END;
    $$;

CREATE TRIGGER monitors_default_quorum
    BEFORE INSERT ON monitors
    FOR EACH ROW EXECUTE FUNCTION monitors_default_quorum();

CREATE TRIGGER monitors_set_updated_at
    BEFORE UPDATE ON monitors
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE channels (
    id                 uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id            uuid         NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name               text         NOT NULL CHECK (char_length(btrim(name)) BETWEEN 1 AND 200),
    kind               channel_kind NOT NULL,
    config             jsonb        NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
    secret_ciphertext  bytea,
    secret_nonce       bytea,
    enabled            boolean      NOT NULL DEFAULT true,
    created_at         timestamptz  NOT NULL DEFAULT now(),
    updated_at         timestamptz  NOT NULL DEFAULT now(),
    -- Secrets are either absent or a complete AEAD ciphertext (incl. 16-byte tag) with its nonce.
    CONSTRAINT channels_secret_complete CHECK (
        (secret_ciphertext IS NULL AND secret_nonce IS NULL)
        OR (    secret_ciphertext IS NOT NULL AND octet_length(secret_ciphertext) >= 16
            AND secret_nonce IS NOT NULL AND octet_length(secret_nonce) BETWEEN 12 AND 24)),
    CONSTRAINT channels_team_id_id_key UNIQUE (team_id, id)
);

COMMENT ON TABLE channels IS 'A notification destination (e-mail, webhook, chat, pager).';
COMMENT ON COLUMN channels.config IS 'Non-secret settings only (addresses, channel names, options).';
COMMENT ON COLUMN channels.secret_ciphertext IS
    'AEAD-encrypted JSON of the secret settings (webhook URL/HMAC key, bot token, routing key...).';
COMMENT ON COLUMN channels.secret_nonce IS 'Nonce used to encrypt secret_ciphertext.';

CREATE TRIGGER channels_set_updated_at
    BEFORE UPDATE ON channels
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE monitor_channels (
    team_id     uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    monitor_id  uuid NOT NULL,
    channel_id  uuid NOT NULL,
    PRIMARY KEY (monitor_id, channel_id),
    -- Both ends must belong to team_id: a link can never cross teams.
    CONSTRAINT monitor_channels_monitor_fkey FOREIGN KEY (team_id, monitor_id)
        REFERENCES monitors (team_id, id) ON DELETE CASCADE,
    CONSTRAINT monitor_channels_channel_fkey FOREIGN KEY (team_id, channel_id)
        REFERENCES channels (team_id, id) ON DELETE CASCADE
);

-- "Which monitors notify this channel?" and the cascade from channels.
CREATE INDEX monitor_channels_channel_idx ON monitor_channels (team_id, channel_id);

COMMENT ON TABLE monitor_channels IS 'Which channels are notified about which monitor (same team only).';

-- ---------------------------------------------------------------------------
-- Maintenance windows
-- ---------------------------------------------------------------------------

CREATE TABLE maintenance_windows (
    id          uuid             PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id     uuid             NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    -- NULL = the window covers every monitor of the team.
    monitor_id  uuid,
    title       text             NOT NULL CHECK (char_length(btrim(title)) BETWEEN 1 AND 200),
    kind        maintenance_kind NOT NULL,
    -- one_off
    starts_at   timestamptz,
    ends_at     timestamptz,
    -- weekly: on each of weekdays (ISO, 1 = Monday), from start_time local time in timezone, for duration
    weekdays    smallint[],
    start_time  time,
    duration    interval,
    timezone    text,
    created_at  timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT maintenance_windows_monitor_fkey FOREIGN KEY (team_id, monitor_id)
        REFERENCES monitors (team_id, id) ON DELETE CASCADE,
    CONSTRAINT maintenance_windows_shape CHECK (
        CASE kind
            WHEN 'one_off' THEN
                    starts_at IS NOT NULL AND ends_at IS NOT NULL AND ends_at > starts_at
                AND weekdays IS NULL AND start_time IS NULL AND duration IS NULL AND timezone IS NULL
            WHEN 'weekly' THEN
                    starts_at IS NULL AND ends_at IS NULL
                AND weekdays IS NOT NULL AND is_valid_iso_weekdays(weekdays)
                AND start_time IS NOT NULL
                AND duration IS NOT NULL AND duration > interval '0' AND duration <= interval '7 days'
                AND timezone IS NOT NULL AND char_length(btrim(timezone)) BETWEEN 1 AND 64
            ELSE false
        END)
);

-- Team-wide windows and per-monitor windows of a team; also the cascade from monitors.
CREATE INDEX maintenance_windows_team_monitor_idx ON maintenance_windows (team_id, monitor_id);

COMMENT ON TABLE maintenance_windows IS
    'Periods during which notifications for a monitor (or the whole team when monitor_id is NULL) are suppressed.';
COMMENT ON COLUMN maintenance_windows.timezone IS 'IANA time zone name in which weekly start_time is read.';

-- ---------------------------------------------------------------------------
-- Status pages
-- ---------------------------------------------------------------------------

CREATE TABLE status_pages (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id      uuid        NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    slug         text        NOT NULL UNIQUE
                             CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$'),
    title        text        NOT NULL CHECK (char_length(btrim(title)) BETWEEN 1 AND 200),
    description  text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 5000),
    public       boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT status_pages_team_id_id_key UNIQUE (team_id, id)
);

COMMENT ON TABLE status_pages IS 'Status page served at /status/<slug>; slug is unique across all teams.';
COMMENT ON COLUMN status_pages.public IS 'Only public pages are served without authentication.';

CREATE TRIGGER status_pages_set_updated_at
    BEFORE UPDATE ON status_pages
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE status_page_sections (
    id        uuid    PRIMARY KEY DEFAULT gen_random_uuid(),
    page_id   uuid    NOT NULL REFERENCES status_pages (id) ON DELETE CASCADE,
    title     text    NOT NULL CHECK (char_length(btrim(title)) BETWEEN 1 AND 200),
    position  integer NOT NULL CHECK (position >= 0),
    -- Deferred so sections can be reordered (positions swapped) inside one transaction.
    CONSTRAINT status_page_sections_page_position_key UNIQUE (page_id, position)
        DEFERRABLE INITIALLY DEFERRED,
    -- Target of status_page_monitors' foreign key: a section of the same page.
    CONSTRAINT status_page_sections_page_id_id_key UNIQUE (page_id, id)
);

COMMENT ON TABLE status_page_sections IS 'Ordered groups of monitors on a status page.';

CREATE TABLE status_page_monitors (
    page_id       uuid    NOT NULL,
    team_id       uuid    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    -- NULL = not in a section (shown at the top level).
    section_id    uuid,
    monitor_id    uuid    NOT NULL,
    position      integer NOT NULL DEFAULT 0 CHECK (position >= 0),
    display_name  text    CHECK (char_length(btrim(display_name)) BETWEEN 1 AND 200),
    PRIMARY KEY (page_id, monitor_id),
    -- Page and monitor belong to the same team.
    CONSTRAINT status_page_monitors_page_fkey FOREIGN KEY (team_id, page_id)
        REFERENCES status_pages (team_id, id) ON DELETE CASCADE,
    CONSTRAINT status_page_monitors_monitor_fkey FOREIGN KEY (team_id, monitor_id)
        REFERENCES monitors (team_id, id) ON DELETE CASCADE,
    -- The section belongs to the same page; deleting a section moves its monitors to the top level.
    CONSTRAINT status_page_monitors_section_fkey FOREIGN KEY (page_id, section_id)
        REFERENCES status_page_sections (page_id, id) ON DELETE SET NULL (section_id)
);

-- Reading a page in display order.
CREATE INDEX status_page_monitors_order_idx ON status_page_monitors (page_id, section_id, position);
-- "Which pages show this monitor?" and the cascade from monitors.
CREATE INDEX status_page_monitors_monitor_idx ON status_page_monitors (team_id, monitor_id);

COMMENT ON TABLE status_page_monitors IS 'Monitors shown on a status page (monitor and page of the same team).';
COMMENT ON COLUMN status_page_monitors.display_name IS 'Public name; NULL = use the monitor''s name.';

-- ---------------------------------------------------------------------------
-- Incidents and region outages (written by the evaluator)
-- ---------------------------------------------------------------------------

CREATE TABLE incidents (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id           uuid        NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    monitor_id        uuid        NOT NULL,
    started_at        timestamptz NOT NULL,
    resolved_at       timestamptz,
    cause             text        NOT NULL DEFAULT '' CHECK (char_length(cause) <= 10000),
    affected_regions  text[]      NOT NULL DEFAULT '{}' CHECK (is_valid_region_list(affected_regions)),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT incidents_resolved_after_start CHECK (resolved_at >= started_at),
    CONSTRAINT incidents_monitor_fkey FOREIGN KEY (team_id, monitor_id)
        REFERENCES monitors (team_id, id) ON DELETE CASCADE
);

-- At most one open incident per monitor: opening is idempotent under redelivery / a second evaluator.
CREATE UNIQUE INDEX incidents_one_open_per_monitor ON incidents (monitor_id) WHERE resolved_at IS NULL;
-- History per monitor (also serves the cascade from monitors) and per team.
CREATE INDEX incidents_monitor_started_idx ON incidents (monitor_id, started_at DESC);
CREATE INDEX incidents_team_started_idx ON incidents (team_id, started_at DESC);

COMMENT ON TABLE incidents IS
    'A confirmed outage of a monitor: opened when at least quorum regions are down, resolved when fewer are.';
COMMENT ON COLUMN incidents.resolved_at IS 'NULL while the incident is open.';

CREATE TABLE incident_updates (
    id              uuid                   PRIMARY KEY DEFAULT gen_random_uuid(),
    incident_id     uuid                   NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at              timestamptz            NOT NULL DEFAULT now(),
    status          incident_status        NOT NULL,
    source          incident_update_source NOT NULL,
    message         text                   NOT NULL CHECK (char_length(message) <= 10000),
    author_user_id  uuid                   REFERENCES users (id) ON DELETE SET NULL,
    -- System updates have no author; user updates lose theirs if the user is deleted.
    CONSTRAINT incident_updates_author_only_for_user CHECK (source = 'user' OR author_user_id IS NULL)
);

CREATE INDEX incident_updates_incident_at_idx ON incident_updates (incident_id, at);
CREATE INDEX incident_updates_author_idx ON incident_updates (author_user_id) WHERE author_user_id IS NOT NULL;

COMMENT ON TABLE incident_updates IS 'Timeline of an incident: system transitions and messages written by users.';

CREATE TABLE region_outages (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    monitor_id       uuid        NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    region           text        NOT NULL CHECK (is_valid_region(region)),
    started_at       timestamptz NOT NULL,
    resolved_at      timestamptz,
    failing_strikes  integer     NOT NULL DEFAULT 0 CHECK (failing_strikes >= 0),
    passing_strikes  integer     NOT NULL DEFAULT 0 CHECK (passing_strikes >= 0),
    last_error       text,
    CONSTRAINT region_outages_resolved_after_start CHECK (resolved_at >= started_at)
);

-- At most one open outage per monitor and region.
CREATE UNIQUE INDEX region_outages_one_open_per_region
    ON region_outages (monitor_id, region) WHERE resolved_at IS NULL;
-- History per monitor; also serves the cascade from monitors.
CREATE INDEX region_outages_monitor_started_idx ON region_outages (monitor_id, started_at DESC);

COMMENT ON TABLE region_outages IS 'A confirmed outage of one monitor in one region (per-region state machine).';
COMMENT ON COLUMN region_outages.failing_strikes IS 'Consecutive failing results counted for this outage.';
COMMENT ON COLUMN region_outages.passing_strikes IS 'Consecutive passing results counted towards recovery.';

-- ---------------------------------------------------------------------------
-- Notification log (written by the notifier)
-- ---------------------------------------------------------------------------

CREATE TABLE notification_deliveries (
    id            uuid            PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id      text            NOT NULL CHECK (char_length(event_id) BETWEEN 1 AND 512),
    incident_id   uuid            REFERENCES incidents (id) ON DELETE CASCADE,
    channel_id    uuid            NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    status        delivery_status NOT NULL DEFAULT 'pending',
    attempts      integer         NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error    text,
    created_at    timestamptz     NOT NULL DEFAULT now(),
    updated_at    timestamptz     NOT NULL DEFAULT now(),
    delivered_at  timestamptz,
    -- Claimed (INSERT ... ON CONFLICT DO NOTHING) before the first send: a redelivered event is never sent twice.
    CONSTRAINT notification_deliveries_event_channel_key UNIQUE (event_id, channel_id),
    CONSTRAINT notification_deliveries_delivered_at CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);

-- Resuming work left behind by a crashed notifier:
--   WHERE status = 'sending' AND updated_at < now() - <lease>  (and likewise for 'pending').
CREATE INDEX notification_deliveries_unfinished_idx
    ON notification_deliveries (updated_at) WHERE status IN ('pending', 'sending');
CREATE INDEX notification_deliveries_channel_idx ON notification_deliveries (channel_id, created_at DESC);
CREATE INDEX notification_deliveries_incident_idx
    ON notification_deliveries (incident_id) WHERE incident_id IS NOT NULL;

COMMENT ON TABLE notification_deliveries IS 'One row per (event, channel): the delivery of one event to one channel.';
COMMENT ON COLUMN notification_deliveries.event_id IS 'NATS message id (Nats-Msg-Id) of the event.';

CREATE TRIGGER notification_deliveries_set_updated_at
    BEFORE UPDATE ON notification_deliveries
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE notification_attempts (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id   uuid        NOT NULL REFERENCES notification_deliveries (id) ON DELETE CASCADE,
    attempted_at  timestamptz NOT NULL DEFAULT now(),
    http_status   smallint    CHECK (http_status BETWEEN 100 AND 599),
    smtp_reply    text,
    error         text,
    wait_ms       integer     CHECK (wait_ms >= 0)
);

CREATE INDEX notification_attempts_delivery_idx ON notification_attempts (delivery_id, attempted_at);

COMMENT ON TABLE notification_attempts IS 'One row per try of a delivery.';
COMMENT ON COLUMN notification_attempts.smtp_reply IS 'SMTP server reply (e-mail channels).';
COMMENT ON COLUMN notification_attempts.wait_ms IS 'Wait before the next try (back-off or Retry-After); NULL = no further try.';
