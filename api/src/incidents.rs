//! Incidents (opened and resolved by the evaluator): lists, detail with the
//! regions' outages and the timeline, and updates written by people.

use axum::Json;
use axum::extract::State as Shared;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use statushawk_schemas::{IncidentId, MonitorId, UnixMs};
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
        (extract(epoch FROM i.resolved_at) * 1000)::bigint AS resolved_ms \
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
        "SELECT (extract(epoch FROM at) * 1000)::bigint AS at_ms, status::text AS status, source::text AS source, \
                message, author_user_id FROM incident_updates WHERE incident_id = $1 ORDER BY at, id",
    )
    .bind(id.0)
    .fetch_all(&state.pg)
    .await?
    .iter()
    .map(|row| {
        Ok(Update {
            at_ms: row.try_get("at_ms")?,
            status: row.try_get("status")?,
            source: row.try_get("source")?,
            message: row.try_get("message")?,
            author_user_id: row.try_get("author_user_id")?,
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
}

/// Adds a person's update to an incident's timeline (members and up).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/updates", tag = "incidents", params(("id" = uuid::Uuid, Path, description = "Incident id")), request_body = NewUpdate, responses((status = 201, description = "The timeline with the new update", body = Vec<Update>)))]
pub async fn add_update(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<IncidentId>,
    Body(input): Body<NewUpdate>,
) -> Result<(StatusCode, Json<Vec<Update>>), ApiError> {
    caller.may_edit()?;
    if !matches!(input.status.as_str(), "investigating" | "identified" | "monitoring" | "resolved") {
        return Err(ApiError::invalid("status", "one of investigating, identified, monitoring, resolved"));
    }
    let message = input.message.trim();
    if message.is_empty() || message.chars().count() > 10_000 {
        return Err(ApiError::invalid("message", "1 to 10000 characters"));
    }
    let inserted = sqlx::query(
        "INSERT INTO incident_updates (incident_id, status, source, message, author_user_id) \
         SELECT i.id, $3::incident_status, 'user', $4, $5 FROM incidents i WHERE i.id = $1 AND i.team_id = $2",
    )
    .bind(id.0)
    .bind(caller.team.0)
    .bind(&input.status)
    .bind(message)
    .bind(caller.user)
    .execute(&state.pg)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(ApiError::not_found("incident"));
    }
    Ok((StatusCode::CREATED, Json(updates_of(&state, id).await?)))
}
