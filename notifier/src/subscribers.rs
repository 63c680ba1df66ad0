//! Status page subscribers: who of them hears of an incident event or of
//! maintenance, and their deliveries, which go through the same delivery
//! log as channels' (one row per (event, subscriber), retries,
//! `Retry-After`, the team's fair share).
//!
//! Subscribers hear an incident opened, a person's update posted with
//! `notify`, the resolution, maintenance scheduled and a one-off window
//! starting; never the evaluator's own updates (regions coming and going),
//! acknowledgements or reminders. Only confirmed subscribers of public
//! pages that show the monitor (in the sections they chose) hear anything,
//! and only what the page shows: the monitor by its name there.

use serde_json::Value;
use sqlx::{PgPool, Row};
use statushawk_nats::TraceContext;
use statushawk_schemas::{
    IncidentEvent, IncidentEventKind, IncidentId, MonitorId, NoticeIncident, NoticeMaintenance, NoticePage, NoticeType,
    PageNotice, SCHEMA_VERSION, TeamId, UnixMs,
};
use tracing::{debug, info};
use uuid::Uuid;

use crate::store::{self, Claim, Plan, Recipient};
use crate::system_mail::Letter;
use crate::{Outgoing, Prepared, Shared};

/// What subscribers are told of `event`, if anything.
fn notice_type(event: &IncidentEvent) -> Option<NoticeType> {
    match (event.kind, &event.update) {
        (IncidentEventKind::Opened, _) => Some(NoticeType::IncidentOpened),
        (IncidentEventKind::Resolved, _) => Some(NoticeType::IncidentResolved),
        (IncidentEventKind::Updated, Some(update)) if update.notify => Some(NoticeType::IncidentUpdated),
        _ => None,
    }
}

/// A subscriber who hears of something, with the page they subscribed to
/// and the names there of what it is about.
struct Audience {
    subscriber: Uuid,
    slug: String,
    title: String,
    names: Vec<String>,
}

fn page(public_url: &str, a: &Audience) -> NoticePage {
    NoticePage {
        slug: a.slug.clone(),
        title: a.title.clone(),
        url: format!("{}/status/{}", public_url.trim_end_matches('/'), a.slug),
    }
}

/// Claims a delivery of `event` for every subscriber who hears of it.
pub(crate) async fn plan_incident(
    shared: &Shared,
    event: &IncidentEvent,
    event_id: &str,
    window: Option<&str>,
    hop: &TraceContext,
) -> sqlx::Result<()> {
    let Some(kind) = notice_type(event) else { return Ok(()) };
    let pg = &shared.deps.pg;
    let audience = audience(pg, event.team_id, Some(event.monitor_id), None).await?;
    for a in &audience {
        let recipient = Recipient::Subscriber(a.subscriber);
        let plan = match window {
            Some(title) => Plan::Suppress(format!("maintenance window: {title}")),
            None if kind != NoticeType::IncidentOpened
                && store::opening_suppressed_for(pg, event.incident_id, recipient).await? =>
            {
                Plan::Suppress("the incident's opening was suppressed".to_owned())
            }
            None => Plan::Send,
        };
        let update = event.update.as_ref();
        let notice = PageNotice {
            schema_version: SCHEMA_VERSION,
            notice_type: kind,
            event_id: event_id.to_owned(),
            page: page(&shared.deps.public_url, a),
            incident: Some(NoticeIncident {
                id: event.incident_id,
                monitor: a.names.first().cloned().unwrap_or_else(|| event.monitor_name.clone()),
                started_at_ms: event.started_at_ms,
                resolved_at_ms: event.resolved_at_ms,
                status: update.map(|u| u.status),
                message: update.and(event.message.clone()),
            }),
            maintenance: None,
            unsubscribe_url: String::new(),
        };
        let claim = Claim {
            event_id,
            incident: Some(event.incident_id),
            team: event.team_id,
            recipient,
            payload: to_value(&notice)?,
        };
        if store::claim_for(pg, &claim, &plan, Some(hop)).await? {
            debug!(event_id, subscriber_id = %a.subscriber, "Subscriber notice planned.");
        }
    }
    Ok(())
}

fn to_value(notice: &PageNotice) -> sqlx::Result<Value> {
    serde_json::to_value(notice).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

/// Confirmed subscribers of the team's public pages that show `monitor`
/// (`None`: any monitor of the page), in the sections they chose, who
/// confirmed by `confirmed_by` (if given); with the names there of the
/// monitors concerned.
async fn audience(
    pg: impl sqlx::PgExecutor<'_>,
    team: TeamId,
    monitor: Option<MonitorId>,
    confirmed_by: Option<time::OffsetDateTime>,
) -> sqlx::Result<Vec<Audience>> {
    let rows = sqlx::query(
        "SELECT s.id, p.slug, p.title, array_agg(DISTINCT coalesce(e.display_name, m.name)) AS names \
         FROM status_page_subscribers s \
         JOIN status_pages p ON p.id = s.page_id AND p.public \
         JOIN status_page_monitors e ON e.page_id = p.id \
              AND (s.section_ids IS NULL OR e.section_id = ANY (s.section_ids)) \
         JOIN monitors m ON m.id = e.monitor_id \
         WHERE s.team_id = $1 AND s.confirmed_at IS NOT NULL \
           AND ($2::uuid IS NULL OR e.monitor_id = $2) AND ($3::timestamptz IS NULL OR s.confirmed_at <= $3) \
         GROUP BY s.id, p.slug, p.title ORDER BY s.id",
    )
    .bind(team.0)
    .bind(monitor.map(|m| m.0))
    .bind(confirmed_by)
    .fetch_all(pg)
    .await?;
    rows.iter()
        .map(|row| {
            let mut names: Vec<String> = row.try_get("names")?;
            names.sort();
            Ok(Audience {
                subscriber: row.try_get("id")?,
                slug: row.try_get("slug")?,
                title: row.try_get("title")?,
                names,
            })
        })
        .collect()
}

/// Claims the maintenance notices due now: `maintenance.scheduled` for
/// windows made in the last day (to subscribers confirmed before), and
/// `maintenance.started` for one-off windows that began in the last hour
/// and were made before they began. Each notice (one id per window, and
/// start) is planned once, marked in `maintenance_notices` with its
/// deliveries, so this may run every tick on any number of notifiers and
/// reads only windows with a notice still to plan. Returns how many
/// deliveries were made.
pub async fn plan_maintenance(pg: &PgPool, public_url: &str) -> sqlx::Result<usize> {
    let windows = sqlx::query(
        "SELECT w.id, w.team_id, w.monitor_id, w.title, w.kind::text AS kind, w.created_at, \
                (extract(epoch FROM o.starts_at) * 1000)::bigint AS start_ms, \
                (extract(epoch FROM o.ends_at) * 1000)::bigint AS end_ms, \
                w.created_at > now() - interval '1 day' AS new, \
                (w.kind = 'one_off' AND o.starts_at <= now() AND o.starts_at > now() - interval '1 hour' \
                 AND w.created_at < o.starts_at) AS starting \
         FROM maintenance_windows w \
         CROSS JOIN LATERAL ( \
             SELECT x.starts_at, x.ends_at FROM maintenance_occurrences(w.team_id, now(), now() + interval '60 days') x \
             WHERE x.window_id = w.id ORDER BY x.starts_at LIMIT 1) o \
         WHERE (w.created_at > now() - interval '1 day' \
                AND NOT EXISTS (SELECT 1 FROM maintenance_notices n \
                                WHERE n.event_id = 'maintenance:' || w.id || ':scheduled')) \
            OR (w.kind = 'one_off' AND w.starts_at <= now() AND w.starts_at > now() - interval '1 hour' \
                AND w.created_at < w.starts_at AND NOT EXISTS (SELECT 1 FROM maintenance_notices n \
                                WHERE n.event_id = 'maintenance:' || w.id || ':' \
                                      || ((extract(epoch FROM w.starts_at) * 1000)::bigint) || ':started'))",
    )
    .fetch_all(pg)
    .await?;
    let mut made = 0;
    for w in &windows {
        let window: Uuid = w.try_get("id")?;
        let team = TeamId(w.try_get("team_id")?);
        let monitor = w.try_get::<Option<Uuid>, _>("monitor_id")?.map(MonitorId);
        let start_ms: UnixMs = w.try_get("start_ms")?;
        let created: time::OffsetDateTime = w.try_get("created_at")?;
        let mut due = Vec::new();
        if w.try_get::<bool, _>("new")? {
            due.push((NoticeType::MaintenanceScheduled, format!("maintenance:{window}:scheduled"), created));
        }
        if w.try_get::<bool, _>("starting")? {
            let start = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(start_ms) * 1_000_000)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            due.push((NoticeType::MaintenanceStarted, format!("maintenance:{window}:{start_ms}:started"), start));
        }
        for (kind, event_id, confirmed_by) in due {
            // Each notice is planned once: its mark and its deliveries in
            // one transaction, so a crash leaves neither or both.
            let mut tx = pg.begin().await?;
            let marked = sqlx::query(
                "INSERT INTO maintenance_notices (event_id, window_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(&event_id)
            .bind(window)
            .execute(&mut *tx)
            .await?;
            if marked.rows_affected() == 0 {
                continue;
            }
            for a in audience(&mut *tx, team, monitor, Some(confirmed_by)).await? {
                let notice = PageNotice {
                    schema_version: SCHEMA_VERSION,
                    notice_type: kind,
                    event_id: event_id.clone(),
                    page: page(public_url, &a),
                    incident: None,
                    maintenance: Some(NoticeMaintenance {
                        id: window,
                        title: w.try_get("title")?,
                        starts_at_ms: start_ms,
                        ends_at_ms: w.try_get("end_ms")?,
                        weekly: w.try_get::<String, _>("kind")? == "weekly",
                        monitors: a.names.clone(),
                    }),
                    unsubscribe_url: String::new(),
                };
                let claim = Claim {
                    event_id: &event_id,
                    incident: None::<IncidentId>,
                    team,
                    recipient: Recipient::Subscriber(a.subscriber),
                    payload: to_value(&notice)?,
                };
                if store::claim_for(&mut *tx, &claim, &Plan::Send, None).await? {
                    debug!(event_id, subscriber_id = %a.subscriber, "Maintenance notice planned.");
                    made += 1;
                }
            }
            tx.commit().await?;
        }
    }
    Ok(made)
}

/// How long an e-mail subscription waits for its confirmation before it
/// is forgotten (its link works for 48 hours).
pub const UNCONFIRMED_KEPT_DAYS: i32 = 7;

/// Forgets e-mail subscriptions never confirmed within
/// [`UNCONFIRMED_KEPT_DAYS`]; returns how many.
pub async fn forget_unconfirmed(pg: &PgPool) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "DELETE FROM status_page_subscribers WHERE confirmed_at IS NULL AND created_at < now() - make_interval(days => $1)",
    )
    .bind(UNCONFIRMED_KEPT_DAYS)
    .execute(pg)
    .await?;
    Ok(done.rows_affected())
}

/// Renders a subscriber's delivery; `None` when it was settled without a
/// send (the subscriber gone, the page no longer public, nothing to send
/// it with).
pub(crate) async fn prepare(shared: &Shared, due: &store::Due, subscriber: Uuid) -> sqlx::Result<Option<Prepared>> {
    let pg = &shared.deps.pg;
    let Some(row) = sqlx::query(
        "SELECT s.kind, s.address, s.token, p.slug, p.public FROM status_page_subscribers s \
         JOIN status_pages p ON p.id = s.page_id WHERE s.id = $1",
    )
    .bind(subscriber)
    .fetch_optional(pg)
    .await?
    else {
        return Ok(None); // Unsubscribed: its deliveries went with it.
    };
    if !row.try_get::<bool, _>("public")? {
        store::suppress(pg, due.id, "the status page is no longer public").await?;
        return Ok(None);
    }
    let mut notice: PageNotice = match serde_json::from_value(due.payload.clone()) {
        Ok(notice) => notice,
        Err(err) => {
            store::fail_untried(pg, due.id, &format!("stored notice unreadable: {err}")).await?;
            return Ok(None);
        }
    };
    let slug: String = row.try_get("slug")?;
    let token: String = row.try_get("token")?;
    notice.unsubscribe_url =
        format!("{}/status/{slug}/unsubscribe/{token}", shared.deps.public_url.trim_end_matches('/'));
    let address: String = row.try_get("address")?;
    let kind: String = row.try_get("kind")?;
    let event_id = notice.event_id.clone();
    if kind == "email" {
        // Without an [email] server the send fails, saying so.
        let mail = statushawk_channels::subscribers::email(&notice);
        let letter = Letter {
            to: address,
            subject: mail.subject,
            text: mail.text,
            html: Some(mail.html),
            headers: mail.headers,
        };
        return Ok(Some(Prepared { kind: "subscriber_email", event_id, send: Outgoing::SystemMail(letter) }));
    }
    let Some(secrets) = shared.deps.secrets.as_ref() else {
        store::fail_untried(pg, due.id, "webhook subscriptions need secrets.key to be signed").await?;
        return Ok(None);
    };
    let secret = secrets.subscriber_signing_secret(subscriber.as_bytes());
    let request = statushawk_channels::subscribers::webhook(&notice, &address, secret.into());
    info!(delivery_id = %due.id, event_id, "Sending a subscriber's webhook.");
    Ok(Some(Prepared {
        kind: "subscriber_webhook",
        event_id,
        send: Outgoing::Tenant(statushawk_channels::Outgoing::Http(request)),
    }))
}
