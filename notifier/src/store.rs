//! The delivery log in Postgres: which channels hear of a monitor, which
//! maintenance window covers it, and one row per (notification, channel)
//! with a row per try under it.
//!
//! A delivery is claimed (`INSERT ... ON CONFLICT DO NOTHING` on the
//! unique (event_id, channel_id)) before anything is sent, so a redelivered
//! event never sends twice. Workers take due deliveries with
//! `FOR UPDATE SKIP LOCKED`, mark them `sending`, and record each try; a
//! delivery left `sending` by a crashed worker is taken again once its
//! lease has passed.

use std::time::Duration;

use serde_json::Value;
use sqlx::{PgPool, Row};
use statushawk_channels::notification::Notification;
use statushawk_channels::{ChannelKind, ChannelSettings};
use statushawk_common::secrets::{Sealed, SecretBox};
use statushawk_nats::TraceContext;
use statushawk_schemas::{ChannelId, IncidentId, MonitorId, TeamId, UnixMs};
use uuid::Uuid;

use crate::send::{Attempt, Verdict};

/// A channel linked to a monitor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The channel.
    pub channel_id: ChannelId,
    /// Whether it is enabled.
    pub enabled: bool,
}

/// The channels linked to `monitor`.
pub async fn links(pg: &PgPool, monitor: MonitorId) -> sqlx::Result<Vec<Link>> {
    let rows = sqlx::query(
        "SELECT c.id, c.enabled FROM monitor_channels mc JOIN channels c ON c.id = mc.channel_id \
         WHERE mc.monitor_id = $1 ORDER BY c.id",
    )
    .bind(monitor.0)
    .fetch_all(pg)
    .await?;
    rows.iter()
        .map(|row| Ok(Link { channel_id: ChannelId(row.try_get("id")?), enabled: row.try_get("enabled")? }))
        .collect()
}

/// The title of a maintenance window covering `monitor` (or its whole
/// team) at `at_ms`, if any: an occurrence from Postgres's
/// `maintenance_occurrences` (weekly windows read in their own time zone),
/// as the API's uptime reads them.
pub async fn maintenance(pg: &PgPool, team: TeamId, monitor: MonitorId, at_ms: UnixMs) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "WITH t AS (SELECT to_timestamp($3::double precision / 1000) AS at) \
         SELECT o.title FROM t, maintenance_occurrences($1, t.at, t.at + interval '1 millisecond') o \
         WHERE (o.monitor_id IS NULL OR o.monitor_id = $2) AND o.starts_at <= t.at AND t.at < o.ends_at \
         ORDER BY o.created_at LIMIT 1",
    )
    .bind(team.0)
    .bind(monitor.0)
    .bind(at_ms)
    .fetch_optional(pg)
    .await
}

/// Whether this incident's opening was suppressed for `channel` (so its
/// later events are too: nobody should hear "resolved" for an incident they
/// were never told about).
pub async fn opening_suppressed(pg: &PgPool, incident: IncidentId, channel: ChannelId) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM notification_deliveries \
         WHERE incident_id = $1 AND channel_id = $2 AND status = 'suppressed' \
           AND payload -> 'event' ->> 'kind' = 'opened')",
    )
    .bind(incident.0)
    .bind(channel.0)
    .fetch_one(pg)
    .await
}

/// Whether this incident's opening was suppressed for `recipient`.
pub async fn opening_suppressed_for(pg: &PgPool, incident: IncidentId, recipient: Recipient) -> sqlx::Result<bool> {
    match recipient {
        Recipient::Channel(channel) => opening_suppressed(pg, incident, channel).await,
        Recipient::Subscriber(subscriber) => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM notification_deliveries \
                 WHERE incident_id = $1 AND subscriber_id = $2 AND status = 'suppressed' \
                   AND payload ->> 'type' = 'incident.opened')",
            )
            .bind(incident.0)
            .bind(subscriber)
            .fetch_one(pg)
            .await
        }
    }
}

/// What to do with a notification for one channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Send it.
    Send,
    /// Record it as suppressed, for this reason.
    Suppress(String),
}

/// Who a delivery goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// A channel of the team.
    Channel(ChannelId),
    /// A subscriber of one of the team's status pages.
    Subscriber(Uuid),
}

/// Records the delivery of `notification` to `channel` unless it exists:
/// `pending` (due now) or `suppressed`. Returns whether a row was made.
pub async fn claim(
    pg: &PgPool,
    notification: &Notification,
    channel: ChannelId,
    plan: &Plan,
    trace: Option<&TraceContext>,
) -> sqlx::Result<bool> {
    let payload = serde_json::to_value(notification).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let claim = Claim {
        event_id: &notification.event_id,
        incident: Some(notification.event.incident_id),
        team: notification.event.team_id,
        recipient: Recipient::Channel(channel),
        payload,
    };
    claim_for(pg, &claim, plan, trace).await
}

/// A delivery to record: what (`payload`, as the recipient's renderer
/// reads it), of which event, to whom.
#[derive(Debug)]
pub struct Claim<'a> {
    /// The event's id (with the recipient, the delivery's key).
    pub event_id: &'a str,
    /// The incident it is about, if any.
    pub incident: Option<IncidentId>,
    /// The team it belongs to (its fair share).
    pub team: TeamId,
    /// Who it goes to.
    pub recipient: Recipient,
    /// What is sent.
    pub payload: Value,
}

/// Records a delivery unless one of the same event to the same recipient
/// exists: `pending` (due now) or `suppressed`. Returns whether a row was
/// made.
pub async fn claim_for(
    pg: impl sqlx::PgExecutor<'_>,
    claim: &Claim<'_>,
    plan: &Plan,
    trace: Option<&TraceContext>,
) -> sqlx::Result<bool> {
    let (status, reason) = match plan {
        Plan::Send => ("pending", None),
        Plan::Suppress(reason) => ("suppressed", Some(reason.as_str())),
    };
    let (channel, subscriber, conflict) = match claim.recipient {
        Recipient::Channel(id) => (Some(id.0), None, "(event_id, channel_id)"),
        Recipient::Subscriber(id) => (None, Some(id), "(event_id, subscriber_id)"),
    };
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO notification_deliveries \
             (event_id, incident_id, channel_id, subscriber_id, team_id, status, reason, payload, traceparent) \
         SELECT $1, i.id, $3, $4, $5, $6::delivery_status, $7, $8, $9 \
         FROM (SELECT $2::uuid AS wanted) w LEFT JOIN incidents i ON i.id = w.wanted \
         ON CONFLICT {conflict} DO NOTHING"
    )))
    .bind(claim.event_id)
    .bind(claim.incident.map(|i| i.0))
    .bind(channel)
    .bind(subscriber)
    .bind(claim.team.0)
    .bind(status)
    .bind(reason)
    .bind(&claim.payload)
    .bind(trace.map(TraceContext::header))
    .execute(pg)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// A delivery taken by a worker.
#[derive(Debug)]
pub struct Due {
    /// The delivery.
    pub id: Uuid,
    /// Who it goes to.
    pub recipient: Recipient,
    /// The channel's team.
    pub team_id: TeamId,
    /// Tries made so far.
    pub attempts: u32,
    /// The stored notification.
    pub payload: Value,
    /// The notifier's hop of the trace of the event it announces, if any.
    pub trace: Option<TraceContext>,
}

/// Which deliveries a worker may take: at most `limit` in all, and per
/// team at most `per_team` minus what the team already `held` in this
/// process's slots (a team missing from `held` holds none).
#[derive(Clone, Copy, Debug)]
pub struct Room<'a> {
    /// Free delivery slots.
    pub limit: usize,
    /// Slots one team may hold at once.
    pub per_team: usize,
    /// Slots each team holds now.
    pub held: &'a [(TeamId, usize)],
}

/// Takes deliveries that are due: pending ones whose time has come, and
/// ones left `sending` longer than `lease` (a crashed worker's). Within one
/// channel and incident they go in order, one at a time, so a pager never
/// gets `resolve` before `trigger`.
///
/// Fair share: each team with due rows gets at most its remaining share of
/// [`Room`] (its own oldest rows first), and the earliest due of those are
/// taken. Rows of a team over its share stay pending for a later round
/// while other teams' rows are taken, so one team's slow servers never
/// hold more than `per_team` of the slots.
pub async fn take_due(pg: &PgPool, room: Room<'_>, lease: Duration) -> sqlx::Result<Vec<Due>> {
    let (held_teams, held): (Vec<Uuid>, Vec<i64>) =
        room.held.iter().map(|(team, n)| (team.0, i64::try_from(*n).unwrap_or(i64::MAX))).unzip();
    let rows = sqlx::query(
        "WITH held AS (SELECT * FROM unnest($4::uuid[], $5::bigint[]) AS h (team_id, n)), \
         teams AS ( \
             SELECT DISTINCT d.team_id FROM notification_deliveries d \
             WHERE (d.status = 'pending' AND d.next_attempt_at <= now()) \
                OR (d.status = 'sending' AND d.updated_at < now() - $2 * interval '1 millisecond')), \
         picked AS ( \
             SELECT x.id, x.next_attempt_at, t.team_id FROM teams t \
             LEFT JOIN held h ON h.team_id = t.team_id \
             CROSS JOIN LATERAL ( \
                 SELECT d.id, d.next_attempt_at FROM notification_deliveries d \
                 WHERE d.team_id = t.team_id \
                   AND ((d.status = 'pending' AND d.next_attempt_at <= now()) \
                     OR (d.status = 'sending' AND d.updated_at < now() - $2 * interval '1 millisecond')) \
                   AND NOT EXISTS ( \
                     SELECT 1 FROM notification_deliveries e \
                     WHERE (e.channel_id = d.channel_id OR e.subscriber_id = d.subscriber_id) \
                       AND e.incident_id = d.incident_id \
                       AND e.status IN ('pending', 'sending') AND (e.created_at, e.id) < (d.created_at, d.id)) \
                 ORDER BY d.next_attempt_at, d.id \
                 LIMIT greatest(0, $3 - coalesce(h.n, 0)) \
                 FOR UPDATE OF d SKIP LOCKED) x), \
         due AS (SELECT id, team_id FROM picked ORDER BY next_attempt_at, id LIMIT $1) \
         UPDATE notification_deliveries d SET status = 'sending' FROM due WHERE d.id = due.id \
         RETURNING d.id, d.channel_id, d.subscriber_id, due.team_id, d.attempts, d.payload, d.traceparent",
    )
    .bind(i64::try_from(room.limit).unwrap_or(i64::MAX))
    .bind(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
    .bind(i64::try_from(room.per_team).unwrap_or(i64::MAX))
    .bind(held_teams)
    .bind(held)
    .fetch_all(pg)
    .await?;
    rows.iter()
        .map(|row| {
            let recipient = match row.try_get::<Option<Uuid>, _>("channel_id")? {
                Some(channel) => Recipient::Channel(ChannelId(channel)),
                None => Recipient::Subscriber(row.try_get("subscriber_id")?),
            };
            Ok(Due {
                id: row.try_get("id")?,
                recipient,
                team_id: TeamId(row.try_get("team_id")?),
                attempts: u32::try_from(row.try_get::<i32, _>("attempts")?).unwrap_or(0),
                payload: row.try_get("payload")?,
                trace: row.try_get::<Option<String>, _>("traceparent")?.as_deref().and_then(TraceContext::parse),
            })
        })
        .collect()
}

/// A channel as a worker needs it.
#[derive(Debug)]
pub struct LoadedChannel {
    /// Its team.
    pub team_id: TeamId,
    /// Its kind.
    pub kind: ChannelKind,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Its settings, or why they cannot be used.
    pub settings: Result<ChannelSettings, String>,
}

/// Loads a channel and opens its secret; `None` if it was deleted.
pub async fn load_channel(
    pg: &PgPool,
    secrets: Option<&SecretBox>,
    id: ChannelId,
) -> sqlx::Result<Option<LoadedChannel>> {
    let Some(row) = sqlx::query(
        "SELECT team_id, kind::text AS kind, config, secret_ciphertext, secret_nonce, enabled FROM channels WHERE id = $1",
    )
    .bind(id.0)
    .fetch_optional(pg)
    .await?
    else {
        return Ok(None);
    };
    let kind: String = row.try_get("kind")?;
    let kind: ChannelKind = kind.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let config: Value = row.try_get("config")?;
    let ciphertext: Option<Vec<u8>> = row.try_get("secret_ciphertext")?;
    let nonce: Option<Vec<u8>> = row.try_get("secret_nonce")?;
    let secret = match (ciphertext, nonce) {
        (Some(ciphertext), Some(nonce)) => match secrets {
            None => Err("the channel has secrets but secrets.key is not set".to_owned()),
            Some(secrets) => {
                secrets.open_channel_secret(id, &Sealed { ciphertext, nonce }).map(Some).map_err(|e| e.to_string())
            }
        },
        _ => Ok(None),
    };
    let settings = secret.and_then(|secret| {
        ChannelSettings::parse(kind, &config, secret.as_ref()).map_err(|e| format!("invalid settings: {e}"))
    });
    Ok(Some(LoadedChannel {
        team_id: TeamId(row.try_get("team_id")?),
        kind,
        enabled: row.try_get("enabled")?,
        settings,
    }))
}

/// What became of a delivery after a try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Done.
    Delivered,
    /// Try again after this long.
    RetryAfter(Duration),
    /// Given up.
    Failed,
}

/// Records a try and its consequence in one transaction.
pub async fn record(pg: &PgPool, delivery: Uuid, attempt: &Attempt, next: Next) -> sqlx::Result<()> {
    let wait_ms = match next {
        Next::RetryAfter(wait) => Some(i32::try_from(wait.as_millis()).unwrap_or(i32::MAX)),
        Next::Delivered | Next::Failed => None,
    };
    let status = match next {
        Next::Delivered => "delivered",
        Next::RetryAfter(_) => "pending",
        Next::Failed => "failed",
    };
    let http_status = attempt.http_status.map(|s| i16::try_from(s).unwrap_or(599));
    let mut tx = pg.begin().await?;
    sqlx::query(
        "INSERT INTO notification_attempts (delivery_id, http_status, smtp_reply, error, wait_ms) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(delivery)
    .bind(http_status)
    .bind(&attempt.smtp_reply)
    .bind(&attempt.error)
    .bind(wait_ms)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE notification_deliveries SET attempts = attempts + 1, status = $2::delivery_status, \
             last_error = CASE WHEN $2 = 'delivered' THEN NULL ELSE $3 END, \
             next_attempt_at = now() + coalesce($4, 0) * interval '1 millisecond', \
             delivered_at = CASE WHEN $2 = 'delivered' THEN now() END \
         WHERE id = $1",
    )
    .bind(delivery)
    .bind(status)
    .bind(&attempt.error)
    .bind(wait_ms)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Marks a taken delivery as suppressed (the channel was disabled, or does
/// not take this kind of notification).
pub async fn suppress(pg: &PgPool, delivery: Uuid, reason: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE notification_deliveries SET status = 'suppressed', reason = $2 WHERE id = $1")
        .bind(delivery)
        .bind(reason)
        .execute(pg)
        .await
        .map(drop)
}

/// Marks a taken delivery as failed without a try (its settings or its
/// stored notification cannot be used).
pub async fn fail_untried(pg: &PgPool, delivery: Uuid, error: &str) -> sqlx::Result<()> {
    record(
        pg,
        delivery,
        &Attempt {
            verdict: Verdict::Failed,
            http_status: None,
            smtp_reply: None,
            error: Some(error.to_owned()),
            retry_after: None,
        },
        Next::Failed,
    )
    .await
}

/// An open incident whose channel wants a reminder now.
#[derive(Debug)]
pub struct ReminderDue {
    /// The channel.
    pub channel_id: ChannelId,
    /// The n-th reminder (n periods since the incident started).
    pub n: i64,
    /// The incident, as a notification to send.
    pub notification: Notification,
}

/// Open incidents nobody acknowledged × linked channels with reminders,
/// where at least one period has passed; `n` counts whole periods since the start, so each
/// period gives one reminder id whoever computes it.
pub async fn reminders_due(pg: &PgPool) -> sqlx::Result<Vec<ReminderDue>> {
    let rows = sqlx::query(
        "SELECT i.id, i.team_id, i.monitor_id, m.name, i.cause, i.affected_regions, i.event_seq, \
                (extract(epoch FROM i.started_at) * 1000)::bigint AS started_ms, \
                (extract(epoch FROM now()) * 1000)::bigint AS now_ms, \
                c.id AS channel_id, \
                floor(extract(epoch FROM now() - i.started_at) / (c.remind_every_minutes * 60))::bigint AS n \
         FROM incidents i \
         JOIN monitors m ON m.id = i.monitor_id \
         JOIN monitor_channels mc ON mc.monitor_id = i.monitor_id \
         JOIN channels c ON c.id = mc.channel_id \
         WHERE i.resolved_at IS NULL AND i.acknowledged_at IS NULL \
           AND c.enabled AND c.remind_every_minutes IS NOT NULL \
           AND c.kind <> 'pagerduty' \
           AND now() - i.started_at >= c.remind_every_minutes * interval '1 minute'",
    )
    .fetch_all(pg)
    .await?;
    let mut due = Vec::new();
    for row in rows {
        let incident = IncidentId(row.try_get("id")?);
        let n: i64 = row.try_get("n")?;
        let regions: Vec<String> = row.try_get("affected_regions")?;
        let event = statushawk_schemas::IncidentEvent {
            schema_version: statushawk_schemas::SCHEMA_VERSION,
            kind: statushawk_schemas::IncidentEventKind::Updated,
            incident_id: incident,
            monitor_id: MonitorId(row.try_get("monitor_id")?),
            monitor_name: row.try_get("name")?,
            team_id: TeamId(row.try_get("team_id")?),
            seq: u64::try_from(row.try_get::<i32, _>("event_seq")?).unwrap_or(0),
            at_ms: row.try_get("now_ms")?,
            started_at_ms: row.try_get("started_ms")?,
            resolved_at_ms: None,
            cause: row.try_get("cause")?,
            affected_regions: regions.into_iter().filter_map(|r| statushawk_schemas::Region::new(r).ok()).collect(),
            regions: Vec::new(),
            message: None,
            update: None,
        };
        due.push(ReminderDue {
            channel_id: ChannelId(row.try_get("channel_id")?),
            n,
            notification: Notification { event_id: format!("reminder:{incident}:{n}"), event, reminder: true },
        });
    }
    Ok(due)
}
