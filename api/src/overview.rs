//! `GET /api/v1/overview`: what the dashboard's overview shows of every
//! monitor of the team, in one answer: its name, kind, target, regions and
//! status (Postgres), and from ClickHouse its latest result, the share of
//! good checks and the mean latency per hour over the last 24 hours. One
//! Postgres and two ClickHouse queries for the whole team, whatever its
//! size, all read by team (`team_latest`, `team_results_1h`) so that one
//! team's overview never scans another team's results.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State as Shared;
use serde::{Deserialize, Serialize};
use sqlx::Row as _;
use statushawk_schemas::{MonitorId, MonitorSpec, UnixMs, now_ms};

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
    /// Every monitor of the team, by name.
    pub monitors: Vec<MonitorOverview>,
}

/// What a monitor watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MonitorKind {
    /// HTTP(S) request.
    Http,
    /// TCP connect.
    Tcp,
    /// ICMP echo.
    Icmp,
    /// DNS query.
    Dns,
    /// TLS certificate.
    Tls,
    /// Pings from the job itself.
    Heartbeat,
}

impl MonitorKind {
    fn of(spec: &MonitorSpec) -> Self {
        match spec {
            MonitorSpec::Http(_) => Self::Http,
            MonitorSpec::Tcp(_) => Self::Tcp,
            MonitorSpec::Icmp(_) => Self::Icmp,
            MonitorSpec::Dns(_) => Self::Dns,
            MonitorSpec::Tls(_) => Self::Tls,
            MonitorSpec::Heartbeat(_) => Self::Heartbeat,
        }
    }
}

/// One monitor and its last 24 hours.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MonitorOverview {
    /// The monitor.
    pub monitor_id: MonitorId,
    /// Its name.
    pub name: String,
    /// What it watches.
    pub kind: MonitorKind,
    /// Its target, in a line (as `Monitor.target`).
    pub target: String,
    /// The regions it is checked from.
    pub regions: Vec<String>,
    /// Paused: not checked.
    pub paused: bool,
    /// The status the evaluator confirmed (`up`, `degraded`, `down`), once
    /// it has confirmed one.
    pub status: Option<String>,
    /// Its latest result in the 24 hours; `null` when it has none (no data
    /// yet, or paused for longer).
    pub last: Option<LastResult>,
    /// Checks in the 24 hours (skipped ones left out).
    pub checks: u64,
    /// Percentage of those that were up or degraded.
    pub availability: Option<f64>,
    /// Mean response time of the good checks per hour, oldest first, in
    /// whole ms (24 entries; `null` for an hour without any).
    pub latency_ms: Vec<Option<u32>>,
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
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct HoursRow {
    monitor: String,
    /// Hours since `from` with results (one may repeat until parts merge),
    hours: Vec<u8>,
    /// and in each the checks,
    hour_checks: Vec<u32>,
    /// the good ones among them,
    hour_good: Vec<u32>,
    /// and the sum of their latencies.
    hour_good_ms: Vec<u64>,
}

/// What ClickHouse knows of one monitor's 24 hours.
#[derive(Default)]
struct Measured {
    last: Option<LastResult>,
    /// Per hour: checks, good checks, the sum of the good ones' latencies.
    hours: [(u64, u64, u64); HOURS],
}

/// Every monitor of the team, with its last 24 hours.
#[utoipa::path(get, path = "/api/v1/overview", tag = "analytics", responses((status = 200, body = Overview)))]
pub async fn overview(Shared(state): Shared<State>, caller: Caller) -> Result<Json<Overview>, ApiError> {
    let from_ms = (now_ms() / HOUR_MS - (HOURS as i64 - 1)) * HOUR_MS;
    let (team, from_s) = (caller.team.0, from_ms / 1000);
    // Everything inlined is a number or a UUID.
    let last_sql = format!(
        "SELECT toString(monitor_id) AS monitor, toUInt32(maxMerge(last_ts)) AS last_ts, \
                argMaxMerge(last_status) AS last_status, argMaxMerge(last_total_ms) AS last_total_ms, \
                argMaxMerge(last_region) AS last_region, argMaxMerge(last_message) AS last_message \
         FROM team_latest WHERE team_id = toUUID('{team}') \
         GROUP BY monitor_id HAVING last_ts >= {from_s}"
    );
    // One row per monitor, its hours as arrays: as many rows to decode as
    // monitors. Rows of one hour not yet merged come as repeated hours,
    // added up below.
    let hours_sql = format!(
        "SELECT toString(monitor_id) AS monitor, \
                groupArray(toUInt8(intDiv(toUInt32(bucket) - {from_s}, 3600))) AS hours, \
                groupArray(toUInt32(checks)) AS hour_checks, groupArray(toUInt32(good)) AS hour_good, \
                groupArray(good_ms) AS hour_good_ms \
         FROM team_results_1h WHERE team_id = toUUID('{team}') AND bucket >= toDateTime({from_s}) \
               AND bucket < toDateTime({to_s}) \
         GROUP BY monitor_id",
        to_s = from_s + HOURS as i64 * 3600
    );
    let monitors = sqlx::query(
        "SELECT m.id, m.name, m.kind::text AS kind, m.spec, m.regions, m.paused, s.status::text AS status \
         FROM monitors m LEFT JOIN monitor_status s ON s.monitor_id = m.id \
         WHERE m.team_id = $1 ORDER BY m.name, m.id",
    )
    .bind(team)
    .fetch_all(&state.pg);
    let measured = async {
        tokio::try_join!(
            state.clickhouse.query(&last_sql).fetch_all::<LastRow>(),
            state.clickhouse.query(&hours_sql).fetch_all::<HoursRow>(),
        )
        .map_err(crate::analytics::clickhouse_error)
    };
    let (monitors, (last, hours)) = tokio::try_join!(async { monitors.await.map_err(ApiError::from) }, measured)?;

    let mut measured: HashMap<String, Measured> = HashMap::new();
    for row in last {
        measured.entry(row.monitor).or_default().last = Some(LastResult {
            at_ms: i64::from(row.last_ts) * 1000,
            status: row.last_status,
            total_ms: row.last_total_ms,
            region: row.last_region,
            message: row.last_message,
        });
    }
    for row in hours {
        let entry = measured.entry(row.monitor).or_default();
        let each = row.hour_checks.into_iter().zip(row.hour_good).zip(row.hour_good_ms);
        for (hour, ((checks, good), good_ms)) in row.hours.into_iter().zip(each) {
            if let Some(sums) = entry.hours.get_mut(usize::from(hour)) {
                sums.0 += u64::from(checks);
                sums.1 += u64::from(good);
                sums.2 += good_ms;
            }
        }
    }
    let monitors = monitors
        .iter()
        .map(|row| {
            let id: uuid::Uuid = row.try_get("id")?;
            let spec = crate::monitors::spec_of(row)?;
            let Measured { last, hours } = measured.remove(&id.to_string()).unwrap_or_default();
            let (checks, good) = hours.iter().fold((0, 0), |(c, g), hour| (c + hour.0, g + hour.1));
            let latency_ms = hours
                .iter()
                .map(|&(_, good, good_ms)| {
                    (good > 0).then(|| u32::try_from(mean_ms(good_ms, good)).unwrap_or(u32::MAX))
                })
                .collect();
            Ok(MonitorOverview {
                monitor_id: MonitorId(id),
                name: row.try_get("name")?,
                kind: MonitorKind::of(&spec),
                target: spec.target(),
                regions: row.try_get("regions")?,
                paused: row.try_get("paused")?,
                status: row.try_get("status")?,
                last,
                checks,
                availability: (checks > 0).then(|| 100.0 * good as f64 / checks as f64),
                latency_ms,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(Overview { from_ms, monitors }))
}

/// `sum / count`, rounded half up to a whole ms.
fn mean_ms(sum: u64, count: u64) -> u64 {
    (sum + count / 2) / count
}
