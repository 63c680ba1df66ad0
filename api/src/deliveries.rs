//! The notifier's delivery log, read back: which channels an incident
//! reached (and why not), and what a channel was sent lately.

use axum::Json;
use axum::extract::State as Shared;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use statushawk_schemas::{ChannelId, IncidentId, MonitorId, TeamId, UnixMs};
use uuid::Uuid;

use crate::State;
use crate::auth::Caller;
use crate::error::{ApiError, Id, Params};

/// One notification of one channel: the event it announced and how its
/// delivery went.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// Its id.
    pub id: Uuid,
    /// The channel.
    pub channel_id: ChannelId,
    /// The channel's name.
    pub channel_name: String,
    /// The channel's kind.
    pub channel_kind: String,
    /// The incident it announced.
    pub incident_id: Option<IncidentId>,
    /// The incident's monitor.
    pub monitor_id: Option<MonitorId>,
    /// The monitor's name (as of the event when the monitor is gone).
    pub monitor_name: Option<String>,
    /// `opened`, `updated`, `resolved` or `reminder`.
    pub event: Option<String>,
    /// `pending`, `sending`, `delivered`, `failed` or `suppressed`.
    pub status: String,
    /// Tries so far.
    pub attempts: i32,
    /// The last try's error, with the provider's own message.
    pub last_error: Option<String>,
    /// Why it was not sent (a maintenance window, a disabled channel).
    pub reason: Option<String>,
    /// Claimed (Unix ms).
    pub created_at_ms: UnixMs,
    /// Delivered (Unix ms).
    pub delivered_at_ms: Option<UnixMs>,
}

const SELECT: &str = "SELECT d.id, d.channel_id, c.name AS channel_name, c.kind::text AS channel_kind, d.incident_id, \
        i.monitor_id, coalesce(m.name, d.payload -> 'event' ->> 'monitor_name') AS monitor_name, \
        CASE WHEN (d.payload ->> 'reminder')::boolean THEN 'reminder' ELSE d.payload -> 'event' ->> 'kind' END AS event, \
        d.status::text AS status, d.attempts, d.last_error, d.reason, \
        (extract(epoch FROM d.created_at) * 1000)::bigint AS created_ms, \
        (extract(epoch FROM d.delivered_at) * 1000)::bigint AS delivered_ms \
     FROM notification_deliveries d JOIN channels c ON c.id = d.channel_id \
     LEFT JOIN incidents i ON i.id = d.incident_id LEFT JOIN monitors m ON m.id = i.monitor_id";

fn delivery_of(row: &sqlx::postgres::PgRow) -> Result<Delivery, ApiError> {
    Ok(Delivery {
        id: row.try_get("id")?,
        channel_id: ChannelId(row.try_get("channel_id")?),
        channel_name: row.try_get("channel_name")?,
        channel_kind: row.try_get("channel_kind")?,
        incident_id: row.try_get::<Option<Uuid>, _>("incident_id")?.map(IncidentId),
        monitor_id: row.try_get::<Option<Uuid>, _>("monitor_id")?.map(MonitorId),
        monitor_name: row.try_get("monitor_name")?,
        event: row.try_get("event")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        reason: row.try_get("reason")?,
        created_at_ms: row.try_get("created_ms")?,
        delivered_at_ms: row.try_get("delivered_ms")?,
    })
}

/// Every notification of an incident (of `team`), newest first.
pub async fn of_incident(state: &State, team: TeamId, incident: IncidentId) -> Result<Vec<Delivery>, ApiError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE d.incident_id = $1 AND c.team_id = $2 ORDER BY d.created_at DESC, d.id"
    )))
    .bind(incident.0)
    .bind(team.0)
    .fetch_all(&state.pg)
    .await?;
    rows.iter().map(delivery_of).collect()
}

/// `GET /api/v1/channels/{id}/deliveries` options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Recent {
    /// At most this many (default 50, at most 200), newest first.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// A channel's notifications, newest first: what it was sent and what the
/// provider said (any role may read them).
#[utoipa::path(get, path = "/api/v1/channels/{id}/deliveries", tag = "channels", params(("id" = uuid::Uuid, Path, description = "Channel id"), Recent), responses((status = 200, body = Vec<Delivery>)))]
pub async fn of_channel(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<ChannelId>,
    Params(recent): Params<Recent>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    let limit = i64::from(crate::error::count("limit", recent.limit, 50, 200)?);
    let known: Option<bool> = sqlx::query_scalar("SELECT true FROM channels WHERE id = $1 AND team_id = $2")
        .bind(id.0)
        .bind(caller.team.0)
        .fetch_optional(&state.pg)
        .await?;
    if known.is_none() {
        return Err(ApiError::not_found("channel"));
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE d.channel_id = $1 AND c.team_id = $2 ORDER BY d.created_at DESC, d.id LIMIT $3"
    )))
    .bind(id.0)
    .bind(caller.team.0)
    .bind(limit)
    .fetch_all(&state.pg)
    .await?;
    Ok(Json(rows.iter().map(delivery_of).collect::<Result<_, _>>()?))
}
