//! Incidents (opened and resolved by the evaluator): lists, detail with the
//! regions' outages and the timeline, and what people do with them: post
//! updates and acknowledge them.
//!
//! What a person does is an incident event too (`events.incident.updated`
//! or `.acknowledged`), so channels and status-page subscribers hear it.
//! It is written to `event_outbox` in the transaction that records it,
//! published after the commit and then deleted; if the publish fails, the
//! owner of the monitor's evaluator partition publishes what is left in
//! the outbox at its next reconcile. Its id comes from the timeline entry,
//! never from the evaluator's sequence of the incident (`PersonUpdate`).

use axum::Json;
use axum::extract::State as Shared;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use statushawk_schemas::{
    IncidentEvent, IncidentEventKind, IncidentId, IncidentStatus, MonitorId, PersonUpdate, UnixMs, partition_of,
    subject,
};
use uuid::Uuid;

use crate::State;
use crate::auth::Caller;
use crate::error::{ApiError, Body, Id, Params};

/// An incident as listed.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Incident {
    /// Its id.
    pub id: IncidentId,
    /// The monitor.
    pub monitor_id: MonitorId,
    /// The monitor's name.
    pub monitor_name: String,
    /// Started (Unix ms).
    pub started_at_ms: UnixMs,
    /// Resolved (Unix ms); absent while open.
    pub resolved_at_ms: Option<UnixMs>,
    /// Cause, from the confirming results.
    pub cause: String,
    /// Regions confirmed down.
    pub affected_regions: Vec<String>,
    /// When a person acknowledged it (Unix ms); absent until then.
    pub acknowledged_at_ms: Option<UnixMs>,
    /// Who acknowledged it (their e-mail address), while they exist.
    pub acknowledged_by: Option<String>,
}

/// A region's outage during an incident: the evidence.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegionOutage {
    /// The region.
    pub region: String,
    /// Started (Unix ms).
    pub started_at_ms: UnixMs,
    /// Resolved (Unix ms).
    pub resolved_at_ms: Option<UnixMs>,
    /// Failing results counted.
    pub failing_strikes: i32,
    /// The last error seen.
    pub last_error: Option<String>,
}

/// One entry of an incident's timeline.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Update {
    /// Its id.
    pub id: Uuid,
    /// `update` (a status and a text) or `acknowledged` (a person took the
    /// incident on).
    pub kind: String,
    /// When (Unix ms).
    pub at_ms: UnixMs,
    /// `investigating`, `identified`, `monitoring` or `resolved`.
    pub status: String,
    /// `system` (the evaluator) or `user`.
    pub source: String,
    /// The text.
    pub message: String,
    /// Who wrote it (user updates).
    pub author_user_id: Option<Uuid>,
    /// Whether channels and subscribers were told (`false`: status pages
    /// only).
    pub notify: bool,
}

/// An incident with its evidence and timeline.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IncidentDetail {
    /// The incident.
    #[serde(flatten)]
    pub incident: Incident,
    /// Each region's outage that overlapped it.
    pub regions: Vec<RegionOutage>,
    /// Its timeline, oldest first.
    pub updates: Vec<Update>,
    /// Every channel notified of it, newest first: delivered, failed (with
    /// the provider's message), pending or suppressed (and why).
    pub notifications: Vec<crate::deliveries::Delivery>,
}

/// `GET /api/v1/incidents` filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Only open (`true`) or only resolved (`false`) ones.
    pub open: Option<bool>,
    /// Only this monitor's.
    pub monitor_id: Option<Uuid>,
    /// At most this many (default 100, at most 1000), newest first.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

const SELECT: &str = "SELECT i.id, i.monitor_id, m.name, i.cause, i.affected_regions, \
        (extract(epoch FROM i.started_at) * 1000)::bigint AS started_ms, \
        (extract(epoch FROM i.resolved_at) * 1000)::bigint AS resolved_ms, \
        (extract(epoch FROM i.acknowledged_at) * 1000)::bigint AS acknowledged_ms, \
        (SELECT u.email FROM users u WHERE u.id = i.acknowledged_by) AS acknowledged_by \
     FROM incidents i JOIN monitors m ON m.id = i.monitor_id";

fn incident_of(row: &sqlx::postgres::PgRow) -> Result<Incident, ApiError> {
    Ok(Incident {
        id: IncidentId(row.try_get("id")?),
        monitor_id: MonitorId(row.try_get("monitor_id")?),
        monitor_name: row.try_get("name")?,
        started_at_ms: row.try_get("started_ms")?,
        resolved_at_ms: row.try_get("resolved_ms")?,
        cause: row.try_get("cause")?,
        affected_regions: row.try_get("affected_regions")?,
        acknowledged_at_ms: row.try_get("acknowledged_ms")?,
        acknowledged_by: row.try_get("acknowledged_by")?,
    })
}

/// The team's incidents, newest first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(Filter), responses((status = 200, body = Vec<Incident>)))]
pub async fn list(
    Shared(state): Shared<State>,
    caller: Caller,
    Params(filter): Params<Filter>,
) -> Result<Json<Vec<Incident>>, ApiError> {
    let limit = i64::from(crate::error::count("limit", filter.limit, 100, 1000)?);
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE i.team_id = $1 AND ($2::boolean IS NULL OR (i.resolved_at IS NULL) = $2) \
           AND ($3::uuid IS NULL OR i.monitor_id = $3) ORDER BY i.started_at DESC LIMIT $4"
    )))
    .bind(caller.team.0)
    .bind(filter.open)
    .bind(filter.monitor_id)
    .bind(limit)
    .fetch_all(&state.pg)
    .await?;
    Ok(Json(rows.iter().map(incident_of).collect::<Result<_, _>>()?))
}

/// One incident with its evidence and timeline.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents", params(("id" = uuid::Uuid, Path, description = "Incident id")), responses((status = 200, body = IncidentDetail)))]
pub async fn get(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<IncidentId>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE i.id = $1 AND i.team_id = $2")))
        .bind(id.0)
        .bind(caller.team.0)
        .fetch_optional(&state.pg)
        .await?
        .ok_or_else(|| ApiError::not_found("incident"))?;
    let incident = incident_of(&row)?;
    let regions = sqlx::query(
        "SELECT o.region, o.failing_strikes, o.last_error, \
                (extract(epoch FROM o.started_at) * 1000)::bigint AS started_ms, \
                (extract(epoch FROM o.resolved_at) * 1000)::bigint AS resolved_ms \
         FROM region_outages o JOIN incidents i ON i.monitor_id = o.monitor_id \
         WHERE i.id = $1 AND o.started_at <= coalesce(i.resolved_at, now()) \
           AND coalesce(o.resolved_at, now()) >= i.started_at \
         ORDER BY o.started_at, o.region",
    )
    .bind(id.0)
    .fetch_all(&state.pg)
    .await?
    .iter()
    .map(|row| {
        Ok(RegionOutage {
            region: row.try_get("region")?,
            started_at_ms: row.try_get("started_ms")?,
            resolved_at_ms: row.try_get("resolved_ms")?,
            failing_strikes: row.try_get("failing_strikes")?,
            last_error: row.try_get("last_error")?,
        })
    })
    .collect::<Result<_, ApiError>>()?;
    let updates = updates_of(&state, id).await?;
    let notifications = crate::deliveries::of_incident(&state, caller.team, id).await?;
    Ok(Json(IncidentDetail { incident, regions, updates, notifications }))
}

async fn updates_of(state: &State, id: IncidentId) -> Result<Vec<Update>, ApiError> {
    sqlx::query(
        "SELECT id, kind, (extract(epoch FROM at) * 1000)::bigint AS at_ms, status::text AS status, \
                source::text AS source, message, author_user_id, notify \
         FROM incident_updates WHERE incident_id = $1 ORDER BY at, id",
    )
    .bind(id.0)
    .fetch_all(&state.pg)
    .await?
    .iter()
    .map(|row| {
        Ok(Update {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            at_ms: row.try_get("at_ms")?,
            status: row.try_get("status")?,
            source: row.try_get("source")?,
            message: row.try_get("message")?,
            author_user_id: row.try_get("author_user_id")?,
            notify: row.try_get("notify")?,
        })
    })
    .collect()
}

/// `POST /api/v1/incidents/{id}/updates`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUpdate {
    /// `investigating`, `identified`, `monitoring` or `resolved`.
    #[schema(pattern = "^(investigating|identified|monitoring|resolved)$")]
    pub status: String,
    /// What to tell, 1 to 10000 characters.
    pub message: String,
    /// Tell the monitor's channels and its status pages' subscribers
    /// (default); `false` shows it on status pages only.
    #[serde(default = "notify_by_default")]
    #[schema(default = true, required = false)]
    pub notify: bool,
}

fn notify_by_default() -> bool {
    true
}

/// Adds a person's update to an incident's timeline (members and up) and
/// publishes it as `events.incident.updated`.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/updates", tag = "incidents", params(("id" = uuid::Uuid, Path, description = "Incident id")), request_body = NewUpdate, responses((status = 201, description = "The timeline with the new update", body = Vec<Update>)))]
pub async fn add_update(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<IncidentId>,
    Body(input): Body<NewUpdate>,
) -> Result<(StatusCode, Json<Vec<Update>>), ApiError> {
    caller.may_edit()?;
    let Some(status) = IncidentStatus::parse(&input.status) else {
        return Err(ApiError::invalid("status", "one of investigating, identified, monitoring, resolved"));
    };
    let message = input.message.trim();
    if message.is_empty() || message.chars().count() > 10_000 {
        return Err(ApiError::invalid("message", "1 to 10000 characters"));
    }
    let mut tx = state.pg.begin().await?;
    let entry = sqlx::query(
        "INSERT INTO incident_updates (incident_id, status, source, message, author_user_id, notify) \
         SELECT i.id, $3::incident_status, 'user', $4, $5, $6 FROM incidents i WHERE i.id = $1 AND i.team_id = $2 \
         RETURNING id, (extract(epoch FROM at) * 1000)::bigint AS at_ms",
    )
    .bind(id.0)
    .bind(caller.team.0)
    .bind(status.as_str())
    .bind(message)
    .bind(caller.user)
    .bind(input.notify)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::not_found("incident"))?;
    let said = Said {
        kind: IncidentEventKind::Updated,
        update_id: entry.try_get("id")?,
        at_ms: entry.try_get("at_ms")?,
        status,
        message: Some(message.to_owned()),
        notify: input.notify,
    };
    let outbox = record_event(&mut tx, &state, &caller, id, said).await?;
    tx.commit().await?;
    publish(&state, outbox).await;
    Ok((StatusCode::CREATED, Json(updates_of(&state, id).await?)))
}

/// Acknowledges an open incident (members and up): who and when go on the
/// incident and into its timeline, reminders stop, and
/// `events.incident.acknowledged` tells its channels (PagerDuty gets
/// `acknowledge`). Acknowledging it again changes nothing.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/ack", tag = "incidents", params(("id" = uuid::Uuid, Path, description = "Incident id")), responses((status = 200, description = "The incident, acknowledged", body = IncidentDetail), (status = 409, description = "It is resolved already")))]
pub async fn ack(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<IncidentId>,
) -> Result<Json<IncidentDetail>, ApiError> {
    caller.may_edit()?;
    let mut tx = state.pg.begin().await?;
    let found = sqlx::query(
        "SELECT resolved_at IS NOT NULL AS resolved, acknowledged_at IS NOT NULL AS acknowledged \
         FROM incidents WHERE id = $1 AND team_id = $2 FOR UPDATE",
    )
    .bind(id.0)
    .bind(caller.team.0)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::not_found("incident"))?;
    if found.try_get::<bool, _>("acknowledged")? {
        drop(tx);
        return get(Shared(state), caller, Id(id)).await;
    }
    if found.try_get::<bool, _>("resolved")? {
        return Err(ApiError::conflict("the incident is resolved; there is nothing to acknowledge"));
    }
    let who = match caller.user {
        Some(user) => sqlx::query_scalar::<_, String>("SELECT email FROM users WHERE id = $1")
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or_else(|| "a former member".to_owned()),
        None => "an API token".to_owned(),
    };
    sqlx::query("UPDATE incidents SET acknowledged_at = now(), acknowledged_by = $2 WHERE id = $1")
        .bind(id.0)
        .bind(caller.user)
        .execute(&mut *tx)
        .await?;
    let entry = sqlx::query(
        "INSERT INTO incident_updates (incident_id, kind, status, source, message, author_user_id) \
         VALUES ($1, 'acknowledged', 'investigating', 'user', $2, $3) \
         RETURNING id, (extract(epoch FROM at) * 1000)::bigint AS at_ms",
    )
    .bind(id.0)
    .bind(format!("Acknowledged by {who}."))
    .bind(caller.user)
    .fetch_one(&mut *tx)
    .await?;
    let said = Said {
        kind: IncidentEventKind::Acknowledged,
        update_id: entry.try_get("id")?,
        at_ms: entry.try_get("at_ms")?,
        status: IncidentStatus::Investigating,
        message: None,
        notify: true,
    };
    let outbox = record_event(&mut tx, &state, &caller, id, said).await?;
    tx.commit().await?;
    publish(&state, outbox).await;
    get(Shared(state), caller, Id(id)).await
}

/// What a person did, to be told as an event.
struct Said {
    kind: IncidentEventKind,
    update_id: Uuid,
    at_ms: UnixMs,
    status: IncidentStatus,
    message: Option<String>,
    notify: bool,
}

/// An event in the outbox, to publish once committed.
struct Outboxed {
    row: i64,
    subject: String,
    event: IncidentEvent,
}

/// Writes the event of what a person did into `event_outbox`, in the
/// caller's transaction.
async fn record_event(
    tx: &mut sqlx::PgConnection,
    state: &State,
    caller: &Caller,
    id: IncidentId,
    said: Said,
) -> Result<Outboxed, ApiError> {
    let row = sqlx::query(
        "SELECT i.monitor_id, m.name, i.cause, i.affected_regions, i.event_seq, \
                (extract(epoch FROM i.started_at) * 1000)::bigint AS started_ms, \
                (extract(epoch FROM i.resolved_at) * 1000)::bigint AS resolved_ms, \
                (SELECT u.email FROM users u WHERE u.id = $2) AS author \
         FROM incidents i JOIN monitors m ON m.id = i.monitor_id WHERE i.id = $1",
    )
    .bind(id.0)
    .bind(caller.user)
    .fetch_one(&mut *tx)
    .await?;
    let monitor_id = MonitorId(row.try_get("monitor_id")?);
    let regions: Vec<String> = row.try_get("affected_regions")?;
    let event = IncidentEvent {
        schema_version: statushawk_schemas::SCHEMA_VERSION,
        kind: said.kind,
        incident_id: id,
        monitor_id,
        monitor_name: row.try_get("name")?,
        team_id: caller.team,
        seq: u64::try_from(row.try_get::<i32, _>("event_seq")?).unwrap_or(0),
        at_ms: said.at_ms,
        started_at_ms: row.try_get("started_ms")?,
        resolved_at_ms: row.try_get("resolved_ms")?,
        cause: row.try_get("cause")?,
        affected_regions: regions.into_iter().filter_map(|r| statushawk_schemas::Region::new(r).ok()).collect(),
        regions: Vec::new(),
        message: said.message,
        update: Some(PersonUpdate {
            update_id: said.update_id,
            status: said.status,
            author: row.try_get("author")?,
            notify: said.notify,
        }),
    };
    let subject = subject::events_incident(event.kind, monitor_id);
    let payload = serde_json::to_value(&event).map_err(ApiError::internal)?;
    let partition = partition_of(monitor_id, state.topology.partitions);
    let trace = statushawk_nats::trace::current();
    let outbox: i64 = sqlx::query_scalar(
        "INSERT INTO event_outbox (partition, subject, msg_id, payload, traceparent) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(i16::try_from(partition).unwrap_or(i16::MAX))
    .bind(&subject)
    .bind(event.msg_id())
    .bind(payload)
    .bind(trace.as_ref().map(statushawk_nats::TraceContext::header))
    .fetch_one(&mut *tx)
    .await?;
    Ok(Outboxed { row: outbox, subject, event })
}

/// Publishes a committed event and takes it out of the outbox. A failure
/// is logged: the partition's evaluator publishes what is left there at
/// its next reconcile, under the same id.
async fn publish(state: &State, outboxed: Outboxed) {
    let trace = statushawk_nats::trace::current();
    let msg_id = outboxed.event.msg_id();
    match state.publisher.publish_traced(&outboxed.subject, &msg_id, &outboxed.event, trace.as_ref()).await {
        Ok(_) => {
            if let Err(err) =
                sqlx::query("DELETE FROM event_outbox WHERE id = $1").bind(outboxed.row).execute(&state.pg).await
            {
                tracing::warn!(error = %err, msg_id, "Clearing a published event from the outbox failed (harmless).");
            }
        }
        Err(err) => tracing::warn!(
            error = %err, msg_id, "Publishing an incident event failed; the evaluator publishes it from the outbox."
        ),
    }
}
