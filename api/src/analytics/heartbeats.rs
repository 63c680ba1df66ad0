//! A heartbeat monitor's pings and its run durations per day.

use axum::Json;
use axum::extract::State as Shared;
use serde::{Deserialize, Serialize};
use statushawk_schemas::{MonitorId, UnixMs};
use time::OffsetDateTime;

use super::{DAY_MS, clickhouse_error, own_monitor, unix_ms};
use crate::State;
use crate::auth::Caller;
use crate::error::{ApiError, Id, Params};

/// `GET /api/v1/monitors/{id}/pings` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PingsQuery {
    /// At most this many (default 50, at most 1000), newest first.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// One ping a heartbeat monitor received.
#[derive(Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct StoredPing {
    /// When it arrived (Unix ms).
    pub at_ms: UnixMs,
    /// `success`, `start` or `fail`.
    pub kind: String,
    /// The exit code it reported.
    pub exit_code: Option<u8>,
    /// For a finish after a `start`: the run's duration.
    pub duration_ms: Option<u32>,
    /// Its run id (empty without one).
    pub run_id: String,
    /// Where it came from.
    pub source_ip: String,
    /// The first 10 KiB of its body.
    pub body: String,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct PingRow {
    received_at_ms: i64,
    kind: String,
    exit_code: Option<u8>,
    duration_ms: Option<u32>,
    run_id: String,
    source_ip: String,
    body: String,
}

/// A heartbeat monitor's latest pings, newest first.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/pings", tag = "analytics", params(("id" = uuid::Uuid, Path, description = "Monitor id"), PingsQuery), responses((status = 200, body = Vec<StoredPing>)))]
pub async fn pings(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<MonitorId>,
    Params(query): Params<PingsQuery>,
) -> Result<Json<Vec<StoredPing>>, ApiError> {
    own_monitor(&state, &caller, id).await?;
    let limit = crate::error::count("limit", query.limit, 50, 1000)?;
    // A redelivered ping may be stored twice until parts merge.
    let rows = state
        .clickhouse
        .query(
            "SELECT received_at_ms, toString(kind) AS kind, exit_code, duration_ms, run_id, source_ip, body \
             FROM heartbeat_pings WHERE monitor_id = toUUID(?) \
             ORDER BY received_at_ms DESC LIMIT 1 BY ping_id LIMIT ?",
        )
        .bind(id.0.to_string())
        .bind(limit)
        .fetch_all::<PingRow>()
        .await
        .map_err(clickhouse_error)?;
    Ok(Json(
        rows.into_iter()
            .map(|r| StoredPing {
                at_ms: r.received_at_ms,
                kind: r.kind,
                exit_code: r.exit_code,
                duration_ms: r.duration_ms,
                run_id: r.run_id,
                source_ip: r.source_ip,
                body: r.body,
            })
            .collect(),
    ))
}

/// `GET /api/v1/monitors/{id}/runs` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// The last this many UTC days, today included (default 30, at most 400).
    #[param(minimum = 1, maximum = 400)]
    pub days: Option<u32>,
}

/// A day's timed runs of a heartbeat monitor.
#[derive(Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RunDay {
    /// The day's start (Unix ms, UTC).
    pub day_ms: UnixMs,
    /// Runs timed (a `start` then a finish).
    pub runs: u64,
    /// Median duration.
    pub p50_ms: u32,
    /// 95th percentile.
    pub p95_ms: u32,
    /// The longest.
    pub max_ms: u32,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct RunRow {
    day: u32,
    runs: u64,
    quantiles: Vec<u32>,
    max: u32,
}

/// A heartbeat monitor's run durations per UTC day (days with timed runs),
/// oldest first; percentiles as in `/latency`.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/runs", tag = "analytics", params(("id" = uuid::Uuid, Path, description = "Monitor id"), RunsQuery), responses((status = 200, body = Vec<RunDay>)))]
pub async fn runs(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<MonitorId>,
    Params(query): Params<RunsQuery>,
) -> Result<Json<Vec<RunDay>>, ApiError> {
    own_monitor(&state, &caller, id).await?;
    let days = crate::error::count("days", query.days, 30, 400)?;
    let today = unix_ms(OffsetDateTime::now_utc()).div_euclid(DAY_MS) * DAY_MS;
    let from_s = (today - DAY_MS * (i64::from(days) - 1)) / 1000;
    let rows = state
        .clickhouse
        .query(
            "SELECT toUInt32(toStartOfDay(at, 'UTC')) AS day, count() AS runs, \
                    quantiles(0.5, 0.95)(d) AS quantiles, max(d) AS max \
             FROM (SELECT any(ts) AS at, any(assumeNotNull(duration_ms)) AS d FROM heartbeat_pings \
                   WHERE monitor_id = toUUID(?) AND ts >= toDateTime(?) AND isNotNull(duration_ms) \
                   GROUP BY ping_id) \
             GROUP BY day ORDER BY day",
        )
        .bind(id.0.to_string())
        .bind(from_s)
        .fetch_all::<RunRow>()
        .await
        .map_err(clickhouse_error)?;
    Ok(Json(
        rows.into_iter()
            .map(|r| RunDay {
                day_ms: i64::from(r.day) * 1000,
                runs: r.runs,
                p50_ms: r.quantiles.first().copied().unwrap_or(0),
                p95_ms: r.quantiles.get(1).copied().unwrap_or(0),
                max_ms: r.max,
            })
            .collect(),
    ))
}
