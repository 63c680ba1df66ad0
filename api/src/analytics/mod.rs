//! Analytics: uptime (the SLA figure, from incidents; and check-based, from
//! the ClickHouse roll-ups), latency percentiles per bucket, and the raw
//! results paged by time.
//!
//! **Time-based uptime** over a window is the share of the *measured* time
//! that no incident covered. Measured time starts when the monitor was
//! created (or at the window's start, whichever is later) and leaves out
//! every maintenance window that covers the monitor (its own and the
//! team-wide ones, weekly ones read in their time zone). An open incident
//! counts until now. A window with no measured time has no uptime (`null`),
//! rather than a made-up 100 %.
//!
//! **Check-based availability** is `(up + degraded) / checks` over every
//! result of every region, confirmation re-checks included, skipped checks
//! excluded; it counts whole roll-up buckets: minutes for the 24-hour
//! window, hours beyond it.
//!
//! **Latency** is over the `total_ms` of up and degraded results (failures
//! are mostly timeouts and would distort it). Percentiles interpolate
//! linearly between samples and are truncated to whole milliseconds; they
//! are exact up to 8,192 samples per bucket and a uniform sample beyond
//! (ClickHouse's `quantiles`).
//!
//! One module per concern: [`uptime`] (time-based uptime from Postgres's
//! incidents and maintenance windows, and check counts), [`latency`],
//! [`results`] (raw results, paged) and [`heartbeats`] (pings and run
//! durations). Every ClickHouse query binds its values (`?`); none is
//! spliced into the SQL text.

pub mod heartbeats;
pub mod latency;
pub mod results;
pub mod uptime;

use statushawk_schemas::{MonitorId, UnixMs};
use time::OffsetDateTime;

use crate::State;
use crate::auth::Caller;
use crate::error::ApiError;

pub use heartbeats::{PingsQuery, RunDay, RunsQuery, StoredPing, pings, runs};
pub use latency::{Bucket, Latency, LatencyPoint, LatencyQuery, MAX_BUCKETS, latency};
pub use results::{ResultsPage, ResultsQuery, StoredResult, results};
pub use uptime::{CheckCounts, Coverage, DayUptime, PageUptime, Uptime, WindowUptime, page_uptime, uptime};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// `[start, end)` in Unix ms.
type Span = (i64, i64);

/// `a / b` rounded up (`b` > 0).
fn ceil_div(a: i64, b: i64) -> i64 {
    -((-a).div_euclid(b))
}

fn unix_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn date_of(ms: i64) -> Result<time::Date, ApiError> {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).map(|t| t.date()).map_err(ApiError::internal)
}

fn at(ms: i64) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_err(ApiError::internal)
}

/// Checks the monitor is the caller's team's.
async fn own_monitor(state: &State, caller: &Caller, id: MonitorId) -> Result<(), ApiError> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM monitors WHERE id = $1 AND team_id = $2")
        .bind(id.0)
        .bind(caller.team.0)
        .fetch_optional(&state.pg)
        .await?;
    found.map(|_| ()).ok_or_else(|| ApiError::not_found("monitor"))
}

pub(crate) fn clickhouse_error(err: clickhouse::error::Error) -> ApiError {
    match err {
        clickhouse::error::Error::Network(_) | clickhouse::error::Error::TimedOut => {
            ApiError::unavailable("the analytics store is unavailable")
        }
        err => ApiError::internal(err),
    }
}

/// The `[from, to)` of a query in Unix ms: `to` defaults to now, `from` to
/// `span` before it, and `from` is aligned down to `align`.
fn range(from_ms: Option<UnixMs>, to_ms: Option<UnixMs>, span: i64, align: i64) -> Result<Span, ApiError> {
    let to = to_ms.unwrap_or_else(|| unix_ms(OffsetDateTime::now_utc()));
    let from = from_ms.unwrap_or(to - span).div_euclid(align) * align;
    if to <= from || from < 0 {
        return Err(ApiError::invalid("from_ms", "must be before to_ms, and not before 1970"));
    }
    Ok((from, to))
}

/// The region of an optional region filter, validated; `""` for every
/// region. Queries bind it twice: `AND (? = '' OR region = ?)`.
fn region_filter(region: Option<&str>) -> Result<String, ApiError> {
    let Some(region) = region else { return Ok(String::new()) };
    let region = statushawk_schemas::Region::new(region).map_err(|err| ApiError::invalid("region", err.to_string()))?;
    Ok(region.to_string())
}
