//! `GET /api/v1/overview`: what the dashboard's overview shows of every
//! monitor of the team, in one answer: the latest result, the share of good
//! checks and the mean latency per hour over the last 24 hours. Two
//! ClickHouse queries for the whole team, whatever its size.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State as Shared;
use serde::{Deserialize, Serialize};
use statushawk_schemas::{MonitorId, UnixMs, now_ms};

use crate::State;
use crate::auth::Caller;
use crate::error::ApiError;

/// Hours the overview looks back.
pub const HOURS: usize = 24;
const HOUR_MS: i64 = 3_600_000;

/// The overview of a team's monitors.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Overview {
    /// The start of the 24 hours covered (Unix ms, a full hour).
    pub from_ms: UnixMs,
    /// One entry per monitor that has results in those hours; a monitor
    /// without any has no entry (no data yet).
    pub monitors: Vec<MonitorOverview>,
}

/// One monitor's last 24 hours.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MonitorOverview {
    /// The monitor.
    pub monitor_id: MonitorId,
    /// Its latest result.
    pub last: LastResult,
    /// Checks in the 24 hours (skipped ones left out).
    pub checks: u64,
    /// Percentage of those that were up or degraded.
    pub availability: Option<f64>,
    /// Mean response time of the good checks per hour, oldest first
    /// (24 entries; `null` for an hour without any).
    pub latency_ms: Vec<Option<f64>>,
}

/// A monitor's latest result.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LastResult {
    /// When the check started (Unix ms, to the second).
    pub at_ms: UnixMs,
    /// `up`, `down`, `degraded` or `skipped`.
    pub status: String,
    /// Its response time.
    pub total_ms: u32,
    /// The region it was checked from.
    pub region: String,
    /// What went wrong, if anything.
    pub message: String,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct LastRow {
    monitor: String,
    last_ts: u32,
    last_status: String,
    last_total_ms: u32,
    last_region: String,
    last_message: String,
    checks: u64,
    good: u64,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct HourRow {
    monitor: String,
    hour: u32,
    avg: f64,
    good: u64,
}

/// Every monitor of the team with results in the last 24 hours.
#[utoipa::path(get, path = "/api/v1/overview", tag = "analytics", responses((status = 200, body = Overview)))]
pub async fn overview(Shared(state): Shared<State>, caller: Caller) -> Result<Json<Overview>, ApiError> {
    let from_ms = (now_ms() / HOUR_MS - (HOURS as i64 - 1)) * HOUR_MS;
    // Everything inlined is a number or a UUID.
    let scope = format!(
        "FROM check_results WHERE team_id = toUUID('{team}') AND ts >= toDateTime({from_s})",
        team = caller.team.0,
        from_s = from_ms / 1000
    );
    let last_sql = format!(
        "SELECT toString(monitor_id) AS monitor, toUInt32(max(ts)) AS last_ts, \
                toString(argMax(status, ts)) AS last_status, argMax(total_ms, ts) AS last_total_ms, \
                argMax(region, ts) AS last_region, argMax(message, ts) AS last_message, \
                toUInt64(countIf(status != 'skipped')) AS checks, \
                toUInt64(countIf(status IN ('up', 'degraded'))) AS good \
         {scope} GROUP BY monitor_id"
    );
    let hours_sql = format!(
        "SELECT toString(monitor_id) AS monitor, toUInt32(toStartOfHour(ts)) AS hour, \
                avgIf(total_ms, status IN ('up', 'degraded')) AS avg, \
                toUInt64(countIf(status IN ('up', 'degraded'))) AS good \
         {scope} GROUP BY monitor_id, hour"
    );
    let (last, hours) = tokio::try_join!(
        state.clickhouse.query(&last_sql).fetch_all::<LastRow>(),
        state.clickhouse.query(&hours_sql).fetch_all::<HourRow>(),
    )
    .map_err(crate::analytics::clickhouse_error)?;
    let mut latency: HashMap<String, Vec<Option<f64>>> = HashMap::new();
    for row in hours {
        let index = (i64::from(row.hour) * 1000 - from_ms) / HOUR_MS;
        let Ok(index) = usize::try_from(index) else { continue };
        if index < HOURS && row.good > 0 && row.avg.is_finite() {
            latency.entry(row.monitor).or_insert_with(|| vec![None; HOURS])[index] = Some(row.avg);
        }
    }
    let monitors = last
        .into_iter()
        .map(|row| {
            let monitor_id = row.monitor.parse().map(MonitorId).map_err(ApiError::internal)?;
            Ok(MonitorOverview {
                monitor_id,
                availability: (row.checks > 0).then(|| 100.0 * row.good as f64 / row.checks as f64),
                checks: row.checks,
                latency_ms: latency.remove(&row.monitor).unwrap_or_else(|| vec![None; HOURS]),
                last: LastResult {
                    at_ms: i64::from(row.last_ts) * 1000,
                    status: row.last_status,
                    total_ms: row.last_total_ms,
                    region: row.last_region,
                    message: row.last_message,
                },
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(Overview { from_ms, monitors }))
}
