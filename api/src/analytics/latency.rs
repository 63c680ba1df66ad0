//! Latency percentiles and check counts per bucket, from the roll-ups.

use axum::Json;
use axum::extract::State as Shared;
use serde::{Deserialize, Serialize};
use statushawk_schemas::{MonitorId, UnixMs};

use super::{CheckCounts, DAY_MS, HOUR_MS, MINUTE_MS, ceil_div, clickhouse_error, own_monitor, range, region_filter};
use crate::State;
use crate::auth::Caller;
use crate::error::{ApiError, Id, Params};

/// A latency bucket size.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// One minute (from the per-minute roll-up).
    Minute,
    /// One hour (from the per-hour roll-up).
    #[default]
    Hour,
    /// One UTC day (hours merged).
    Day,
}

impl Bucket {
    fn ms(self) -> i64 {
        match self {
            Self::Minute => MINUTE_MS,
            Self::Hour => HOUR_MS,
            Self::Day => DAY_MS,
        }
    }
}

/// At most this many buckets per latency request.
pub const MAX_BUCKETS: i64 = 1_500;

/// `GET /api/v1/monitors/{id}/latency` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LatencyQuery {
    /// `minute`, `hour` (default) or `day`.
    #[serde(default)]
    pub bucket: Bucket,
    /// From (Unix ms, rounded down to its bucket); default: 60 buckets
    /// before `to_ms`.
    pub from_ms: Option<UnixMs>,
    /// To (Unix ms, exclusive); default now.
    pub to_ms: Option<UnixMs>,
    /// Only this region's results.
    pub region: Option<String>,
}

/// One latency bucket.
#[derive(Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct LatencyPoint {
    /// The bucket's start (Unix ms).
    pub at_ms: UnixMs,
    /// Results counted.
    pub checks: CheckCounts,
    /// Mean response time of up and degraded results (ms).
    pub avg_ms: Option<f64>,
    /// Median.
    pub p50_ms: Option<u32>,
    /// 95th percentile.
    pub p95_ms: Option<u32>,
    /// 99th percentile.
    pub p99_ms: Option<u32>,
}

/// `GET /api/v1/monitors/{id}/latency`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Latency {
    /// The bucket size.
    pub bucket: Bucket,
    /// Buckets with results, oldest first.
    pub points: Vec<LatencyPoint>,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct LatencyRow {
    at: u32,
    checks: u64,
    up: u64,
    degraded: u64,
    avg: f64,
    quantiles: Vec<u32>,
}

/// Latency percentiles and counts per bucket.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/latency", tag = "analytics", params(("id" = uuid::Uuid, Path, description = "Monitor id"), LatencyQuery), responses((status = 200, body = Latency)))]
pub async fn latency(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<MonitorId>,
    Params(query): Params<LatencyQuery>,
) -> Result<Json<Latency>, ApiError> {
    own_monitor(&state, &caller, id).await?;
    let size = query.bucket.ms();
    let (from, to) = range(query.from_ms, query.to_ms, 60 * size, size)?;
    if ceil_div(to - from, size) > MAX_BUCKETS {
        return Err(ApiError::invalid("from_ms", format!("at most {MAX_BUCKETS} buckets per request")));
    }
    let region = region_filter(query.region.as_deref())?;
    let table = match query.bucket {
        Bucket::Minute => "check_results_1m",
        Bucket::Hour | Bucket::Day => "check_results_1h",
    };
    let rows = state
        .clickhouse
        .query(
            "SELECT toUInt32(if(?, toStartOfDay(bucket, 'UTC'), bucket)) AS at, countIfMerge(checks) AS checks, \
                    countIfMerge(up) AS up, countIfMerge(degraded) AS degraded, avgIfMerge(latency_avg) AS avg, \
                    quantilesIfMerge(0.5, 0.95, 0.99)(latency_quantiles) AS quantiles \
             FROM ? WHERE monitor_id = toUUID(?) \
               AND bucket >= toDateTime(?) AND bucket < toDateTime(?) AND (? = '' OR region = ?) \
             GROUP BY at ORDER BY at",
        )
        .bind(u8::from(query.bucket == Bucket::Day))
        .bind(clickhouse::sql::Identifier(table))
        .bind(id.0.to_string())
        .bind(from / 1000)
        .bind(ceil_div(to, 1000))
        .bind(&region)
        .bind(&region)
        .fetch_all::<LatencyRow>()
        .await
        .map_err(clickhouse_error)?;
    let points = rows
        .into_iter()
        .filter(|row| row.checks > 0)
        .map(|row| {
            let measured = row.up + row.degraded > 0;
            let quantile = |i: usize| if measured { row.quantiles.get(i).copied() } else { None };
            LatencyPoint {
                at_ms: i64::from(row.at) * 1000,
                avg_ms: (measured && row.avg.is_finite()).then_some(row.avg),
                p50_ms: quantile(0),
                p95_ms: quantile(1),
                p99_ms: quantile(2),
                checks: CheckCounts {
                    total: row.checks,
                    up: row.up,
                    degraded: row.degraded,
                    down: row.checks.saturating_sub(row.up + row.degraded),
                    availability: Some(100.0 * (row.up + row.degraded) as f64 / row.checks as f64),
                },
            }
        })
        .collect();
    Ok(Json(Latency { bucket: query.bucket, points }))
}
