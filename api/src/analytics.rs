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

use std::collections::HashMap;

use axum::Json;
use axum::extract::State as Shared;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};
use statushawk_schemas::{MonitorId, UnixMs};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::State;
use crate::auth::Caller;
use crate::error::{ApiError, Id, Params};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// `[start, end)` in Unix ms.
type Span = (i64, i64);

/// One UTC day's time-based uptime.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DayUptime {
    /// The day (`YYYY-MM-DD`, UTC).
    #[serde(serialize_with = "day_string")]
    #[schema(value_type = String, format = Date)]
    pub date: time::Date,
    /// Percent (0–100); `None` if nothing was measured that day (before the
    /// monitor existed, or all of it in maintenance).
    pub uptime: Option<f64>,
    /// Seconds of confirmed downtime outside maintenance.
    pub downtime_s: i64,
}

fn day_string<S: serde::Serializer>(date: &time::Date, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(date)
}

/// What each monitor's uptime is computed from.
struct Timeline {
    created_ms: i64,
    incidents: Vec<Span>,
    maintenance: Vec<Span>,
}

/// A status page's figures for one monitor.
#[derive(Clone, Debug, Default)]
pub struct PageUptime {
    /// Time-based uptime of each of the last `days` UTC days (today
    /// included, oldest first).
    pub days: Vec<DayUptime>,
    /// Over `[now - days, now]`; `None` if nothing was measured.
    pub overall: Option<f64>,
}

/// Daily and overall uptime of the last `days` per monitor of `team` among
/// `monitors`, from one read of their timelines.
pub async fn page_uptime(
    pg: &PgPool,
    team: Uuid,
    monitors: &[Uuid],
    days: u32,
    now: OffsetDateTime,
) -> Result<HashMap<Uuid, PageUptime>, ApiError> {
    let now_ms = unix_ms(now);
    let today = now_ms.div_euclid(DAY_MS) * DAY_MS;
    let first = today - DAY_MS * i64::from(days.saturating_sub(1));
    let overall = (now_ms - DAY_MS * i64::from(days), now_ms);
    // The overall window starts before the first day's midnight: it covers both.
    let timelines = timelines(pg, team, monitors, (overall.0.min(first), now_ms)).await?;
    let mut out = HashMap::new();
    for (monitor, timeline) in timelines {
        let mut bars = Vec::with_capacity(days as usize);
        let mut day = first;
        while day <= today {
            let (uptime, downtime_ms) = timeline.uptime((day, (day + DAY_MS).min(now_ms)));
            bars.push(DayUptime { date: date_of(day)?, uptime, downtime_s: downtime_ms / 1000 });
            day += DAY_MS;
        }
        out.insert(monitor, PageUptime { days: bars, overall: timeline.uptime(overall).0 });
    }
    Ok(out)
}

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

/// Creation, incidents and maintenance of `monitors` (those of `team`)
/// within `window`.
async fn timelines(
    pg: &PgPool,
    team: Uuid,
    monitors: &[Uuid],
    window: Span,
) -> Result<HashMap<Uuid, Timeline>, ApiError> {
    let (from, to) = (at(window.0)?, at(window.1)?);
    let rows = sqlx::query(
        "SELECT id, (extract(epoch FROM created_at) * 1000)::bigint AS created_ms \
         FROM monitors WHERE team_id = $1 AND id = ANY($2)",
    )
    .bind(team)
    .bind(monitors)
    .fetch_all(pg)
    .await?;
    let mut out = HashMap::new();
    for row in &rows {
        let timeline = Timeline { created_ms: row.try_get("created_ms")?, incidents: vec![], maintenance: vec![] };
        out.insert(row.try_get::<Uuid, _>("id")?, timeline);
    }
    let ids: Vec<Uuid> = out.keys().copied().collect();
    let incidents = sqlx::query(
        "SELECT monitor_id, (extract(epoch FROM started_at) * 1000)::bigint AS start_ms, \
                (extract(epoch FROM coalesce(resolved_at, $3)) * 1000)::bigint AS end_ms \
         FROM incidents WHERE monitor_id = ANY($1) AND started_at < $3 \
           AND (resolved_at IS NULL OR resolved_at > $2)",
    )
    .bind(&ids)
    .bind(from)
    .bind(to)
    .fetch_all(pg)
    .await?;
    for row in &incidents {
        if let Some(timeline) = out.get_mut(&row.try_get::<Uuid, _>("monitor_id")?) {
            timeline.incidents.push((row.try_get("start_ms")?, row.try_get("end_ms")?));
        }
    }
    // Every occurrence of the windows that cover these monitors (or the
    // whole team), weekly ones in their own time zone: Postgres's
    // `maintenance_occurrences`, which the notifier asks too.
    let windows = sqlx::query(
        "SELECT o.monitor_id, (extract(epoch FROM o.starts_at) * 1000)::bigint AS start_ms, \
                (extract(epoch FROM o.ends_at) * 1000)::bigint AS end_ms \
         FROM maintenance_occurrences($1, $3, $4) o \
         WHERE o.monitor_id IS NULL OR o.monitor_id = ANY($2)",
    )
    .bind(team)
    .bind(&ids)
    .bind(from)
    .bind(to)
    .fetch_all(pg)
    .await?;
    for row in &windows {
        let span: Span = (row.try_get("start_ms")?, row.try_get("end_ms")?);
        if span.1 <= window.0 || span.0 >= window.1 {
            continue;
        }
        match row.try_get::<Option<Uuid>, _>("monitor_id")? {
            Some(monitor) => out.get_mut(&monitor).into_iter().for_each(|t| t.maintenance.push(span)),
            None => out.values_mut().for_each(|t| t.maintenance.push(span)),
        }
    }
    for timeline in out.values_mut() {
        timeline.incidents = merge(std::mem::take(&mut timeline.incidents));
        timeline.maintenance = merge(std::mem::take(&mut timeline.maintenance));
    }
    Ok(out)
}

impl Timeline {
    /// Uptime percent over `window` (`None` if nothing was measured) and
    /// the downtime in ms.
    fn uptime(&self, window: Span) -> (Option<f64>, i64) {
        let range = (window.0.max(self.created_ms), window.1);
        if range.0 >= range.1 {
            return (None, 0);
        }
        let measured = range.1 - range.0 - covered(&self.maintenance, range);
        let downtime: i64 = self
            .incidents
            .iter()
            .map(|&(s, e)| (s.max(range.0), e.min(range.1)))
            .filter(|(s, e)| s < e)
            .map(|span| span.1 - span.0 - covered(&self.maintenance, span))
            .sum();
        if measured <= 0 {
            return (None, 0);
        }
        (Some(100.0 * (measured - downtime) as f64 / measured as f64), downtime)
    }
}

/// Sorted, disjoint spans covering what `spans` cover.
fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.retain(|(s, e)| s < e);
    spans.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// How much of `range` the merged `spans` cover.
fn covered(spans: &[Span], range: Span) -> i64 {
    spans.iter().map(|&(s, e)| (e.min(range.1) - s.max(range.0)).max(0)).sum()
}

// ---------------------------------------------------------------------------
// Endpoints

/// A window's uptime, both ways.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WindowUptime {
    /// `24h`, `7d`, `30d` or `90d`.
    pub window: String,
    /// Its start (Unix ms); it ends now.
    pub from_ms: UnixMs,
    /// Time-based uptime percent (the SLA figure); `null` if nothing was
    /// measured.
    pub uptime: Option<f64>,
    /// Confirmed downtime outside maintenance, in seconds.
    pub downtime_s: i64,
    /// Check-based counts.
    pub checks: CheckCounts,
}

/// Check results counted.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct CheckCounts {
    /// Results that measured something (not skipped).
    pub total: u64,
    /// Up.
    pub up: u64,
    /// Degraded (counted as available).
    pub degraded: u64,
    /// Down.
    pub down: u64,
    /// `(up + degraded) / total` in percent; `null` without results.
    pub availability: Option<f64>,
}

/// `GET /api/v1/monitors/{id}/uptime`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Uptime {
    /// The monitor.
    pub monitor_id: MonitorId,
    /// When it was computed (Unix ms).
    pub now_ms: UnixMs,
    /// 24 h, 7 d, 30 d and 90 d.
    pub windows: Vec<WindowUptime>,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct CountsRow {
    checks: u64,
    up: u64,
    degraded: u64,
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

/// The SQL condition of an optional region filter (validated, so safe to
/// inline).
fn region_filter(region: Option<&str>) -> Result<String, ApiError> {
    let Some(region) = region else { return Ok(String::new()) };
    let region = statushawk_schemas::Region::new(region).map_err(|err| ApiError::invalid("region", err.to_string()))?;
    Ok(format!("AND region = '{region}'"))
}

/// Counts of the monitor's results in roll-up buckets at or after `from_s`.
async fn counts(state: &State, monitor: Uuid, table: &str, from_s: i64) -> Result<CheckCounts, ApiError> {
    // Uuids render as hex and dashes only; the table is one of ours.
    let sql = format!(
        "SELECT countIfMerge(checks) AS checks, countIfMerge(up) AS up, countIfMerge(degraded) AS degraded \
         FROM {table} WHERE monitor_id = toUUID('{monitor}') AND bucket >= toDateTime({from_s})"
    );
    let row = state.clickhouse.query(&sql).fetch_one::<CountsRow>().await.map_err(clickhouse_error)?;
    let down = row.checks.saturating_sub(row.up + row.degraded);
    let availability = (row.checks > 0).then(|| 100.0 * (row.up + row.degraded) as f64 / row.checks as f64);
    Ok(CheckCounts { total: row.checks, up: row.up, degraded: row.degraded, down, availability })
}

/// Uptime over 24 h, 7 d, 30 d and 90 d: time-based (from incidents,
/// without maintenance) and check-based (from the roll-ups).
#[utoipa::path(get, path = "/api/v1/monitors/{id}/uptime", tag = "analytics", params(("id" = uuid::Uuid, Path, description = "Monitor id")), responses((status = 200, body = Uptime)))]
pub async fn uptime(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<MonitorId>,
) -> Result<Json<Uptime>, ApiError> {
    own_monitor(&state, &caller, id).await?;
    let now = OffsetDateTime::now_utc();
    let now_ms = unix_ms(now);
    let window = (now_ms - 90 * DAY_MS, now_ms);
    let timelines = timelines(&state.pg, caller.team.0, &[id.0], window).await?;
    let timeline = timelines.get(&id.0).ok_or_else(|| ApiError::not_found("monitor"))?;
    let mut windows = Vec::new();
    for (name, length) in [("24h", DAY_MS), ("7d", 7 * DAY_MS), ("30d", 30 * DAY_MS), ("90d", 90 * DAY_MS)] {
        let from_ms = now_ms - length;
        let (uptime, downtime_ms) = timeline.uptime((from_ms, now_ms));
        let checks = if length == DAY_MS {
            counts(&state, id.0, "check_results_1m", (from_ms / MINUTE_MS) * 60).await?
        } else {
            counts(&state, id.0, "check_results_1h", (from_ms / HOUR_MS) * 3600).await?
        };
        windows.push(WindowUptime { window: name.to_owned(), from_ms, uptime, downtime_s: downtime_ms / 1000, checks });
    }
    Ok(Json(Uptime { monitor_id: id, now_ms, windows }))
}

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
    let (table, at) = match query.bucket {
        Bucket::Minute => ("check_results_1m", "bucket"),
        Bucket::Hour => ("check_results_1h", "bucket"),
        Bucket::Day => ("check_results_1h", "toStartOfDay(bucket, 'UTC')"),
    };
    // Everything inlined is a number, a UUID or a validated region name.
    let sql = format!(
        "SELECT toUInt32({at}) AS at, countIfMerge(checks) AS checks, countIfMerge(up) AS up, \
                countIfMerge(degraded) AS degraded, avgIfMerge(latency_avg) AS avg, \
                quantilesIfMerge(0.5, 0.95, 0.99)(latency_quantiles) AS quantiles \
         FROM {table} WHERE monitor_id = toUUID('{monitor}') \
           AND bucket >= toDateTime({from_s}) AND bucket < toDateTime({to_s}) {region} \
         GROUP BY at ORDER BY at",
        monitor = id.0,
        from_s = from / 1000,
        to_s = ceil_div(to, 1000),
    );
    let rows = state.clickhouse.query(&sql).fetch_all::<LatencyRow>().await.map_err(clickhouse_error)?;
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

/// `GET /api/v1/monitors/{id}/results` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ResultsQuery {
    /// From (Unix ms, inclusive); default: 24 hours before `to_ms`.
    pub from_ms: Option<UnixMs>,
    /// To (Unix ms, exclusive); default now.
    pub to_ms: Option<UnixMs>,
    /// Only this region's results.
    pub region: Option<String>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One stored check result.
#[derive(Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct StoredResult {
    /// When the check started (Unix ms, to the second).
    pub at_ms: UnixMs,
    /// The region.
    pub region: String,
    /// The schedule slot (Unix ms).
    pub slot_ms: UnixMs,
    /// 0 for the scheduled check, 1.. for confirmation re-checks.
    pub attempt: u8,
    /// `up`, `down`, `degraded` or `skipped`.
    pub status: String,
    /// The kind of failure (empty when up).
    pub error_kind: String,
    /// What went wrong, or what was checked.
    pub message: String,
    /// DNS lookup (ms).
    pub dns_ms: Option<u32>,
    /// TCP connect (ms).
    pub connect_ms: Option<u32>,
    /// TLS handshake (ms).
    pub tls_ms: Option<u32>,
    /// Time to first byte (ms).
    pub ttfb_ms: Option<u32>,
    /// The whole check (ms).
    pub total_ms: u32,
    /// HTTP status (0 if none).
    pub http_status: u16,
    /// Body bytes read.
    pub body_bytes: u32,
    /// The certificate's expiry (Unix ms).
    pub cert_expires_at_ms: Option<UnixMs>,
}

/// A page of results.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResultsPage {
    /// Newest first.
    pub results: Vec<StoredResult>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct ResultRow {
    ts: u32,
    region: String,
    slot_ms: i64,
    attempt: u8,
    status: String,
    error_kind: String,
    message: String,
    dns_ms: Option<u32>,
    connect_ms: Option<u32>,
    tls_ms: Option<u32>,
    ttfb_ms: Option<u32>,
    total_ms: u32,
    http_status: u16,
    body_bytes: u32,
    cert_expires_at: Option<u32>,
}

/// Where a page ends: the last result's (ts, slot, attempt, region).
#[derive(Debug, PartialEq)]
struct Cursor {
    ts: u32,
    slot_ms: i64,
    attempt: u8,
    region: statushawk_schemas::Region,
}

impl Cursor {
    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(4, ':');
        Some(Self {
            ts: parts.next()?.parse().ok()?,
            slot_ms: parts.next()?.parse().ok()?,
            attempt: parts.next()?.parse().ok()?,
            region: statushawk_schemas::Region::new(parts.next()?).ok()?,
        })
    }

    fn text(&self) -> String {
        format!("{}:{}:{}:{}", self.ts, self.slot_ms, self.attempt, self.region)
    }

    /// Rows after this one in the page order (all keys descending).
    fn condition(&self) -> String {
        let Self { ts, slot_ms, attempt, region } = self;
        format!(
            "AND (ts < {ts} OR (ts = {ts} AND (slot_ms < {slot_ms} OR (slot_ms = {slot_ms} AND \
             (attempt < {attempt} OR (attempt = {attempt} AND region < '{region}'))))))"
        )
    }
}

/// The monitor's raw results in a time range, newest first, paged.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/results", tag = "analytics", params(("id" = uuid::Uuid, Path, description = "Monitor id"), ResultsQuery), responses((status = 200, body = ResultsPage)))]
pub async fn results(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<MonitorId>,
    Params(query): Params<ResultsQuery>,
) -> Result<Json<ResultsPage>, ApiError> {
    own_monitor(&state, &caller, id).await?;
    let (from, to) = range(query.from_ms, query.to_ms, DAY_MS, 1)?;
    let limit = crate::error::count("limit", query.limit, 100, 1000)?;
    let region = region_filter(query.region.as_deref())?;
    let after = match &query.cursor {
        Some(text) => {
            Cursor::parse(text).ok_or_else(|| ApiError::invalid("cursor", "not a cursor this API gave"))?.condition()
        }
        None => String::new(),
    };
    // Everything inlined is a number, a UUID or a validated region name.
    let sql = format!(
        "SELECT toUInt32(ts) AS ts, region, slot_ms, attempt, toString(status) AS status, error_kind, message, \
                dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, http_status, body_bytes, cert_expires_at \
         FROM check_results WHERE monitor_id = toUUID('{monitor}') \
           AND ts >= toDateTime({from_s}) AND ts < toDateTime({to_s}) {region} {after} \
         ORDER BY ts DESC, slot_ms DESC, attempt DESC, region DESC LIMIT {fetch}",
        monitor = id.0,
        from_s = from.div_euclid(1000),
        to_s = ceil_div(to, 1000),
        fetch = limit + 1,
    );
    let mut rows = state.clickhouse.query(&sql).fetch_all::<ResultRow>().await.map_err(clickhouse_error)?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = match rows.last() {
        Some(last) if more => Some(
            Cursor {
                ts: last.ts,
                slot_ms: last.slot_ms,
                attempt: last.attempt,
                region: statushawk_schemas::Region::new(last.region.clone()).map_err(ApiError::internal)?,
            }
            .text(),
        ),
        _ => None,
    };
    let results = rows
        .into_iter()
        .map(|row| StoredResult {
            at_ms: i64::from(row.ts) * 1000,
            region: row.region,
            slot_ms: row.slot_ms,
            attempt: row.attempt,
            status: row.status,
            error_kind: row.error_kind,
            message: row.message,
            dns_ms: row.dns_ms,
            connect_ms: row.connect_ms,
            tls_ms: row.tls_ms,
            ttfb_ms: row.ttfb_ms,
            total_ms: row.total_ms,
            http_status: row.http_status,
            body_bytes: row.body_bytes,
            cert_expires_at_ms: row.cert_expires_at.map(|s| i64::from(s) * 1000),
        })
        .collect();
    Ok(Json(ResultsPage { results, next_cursor }))
}

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
    let sql = format!(
        "SELECT received_at_ms, toString(kind) AS kind, exit_code, duration_ms, run_id, source_ip, body \
         FROM heartbeat_pings WHERE monitor_id = toUUID('{monitor}') \
         ORDER BY received_at_ms DESC LIMIT 1 BY ping_id LIMIT {limit}",
        monitor = id.0,
    );
    let rows = state.clickhouse.query(&sql).fetch_all::<PingRow>().await.map_err(clickhouse_error)?;
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
    let sql = format!(
        "SELECT toUInt32(toStartOfDay(at, 'UTC')) AS day, count() AS runs, \
                quantiles(0.5, 0.95)(d) AS quantiles, max(d) AS max \
         FROM (SELECT any(ts) AS at, any(assumeNotNull(duration_ms)) AS d FROM heartbeat_pings \
               WHERE monitor_id = toUUID('{monitor}') AND ts >= toDateTime({from_s}) AND isNotNull(duration_ms) \
               GROUP BY ping_id) \
         GROUP BY day ORDER BY day",
        monitor = id.0,
    );
    let rows = state.clickhouse.query(&sql).fetch_all::<RunRow>().await.map_err(clickhouse_error)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor =
            Cursor { ts: 1_795_824_000, slot_ms: 1_795_823_990_000, attempt: 1, region: "eu-west".parse().unwrap() };
        assert_eq!(Cursor::parse(&cursor.text()), Some(cursor));
        for bad in ["", "1:2:3", "x:2:3:eu", "1:2:3:eu'west", "1:2:300:eu"] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn merging_spans() {
        assert_eq!(merge(vec![(5, 9), (1, 3), (2, 4), (9, 10), (12, 12)]), vec![(1, 4), (5, 10)]);
        assert_eq!(covered(&[(1, 4), (5, 10)], (3, 6)), 2);
    }

    #[test]
    fn uptime_leaves_out_maintenance_and_time_before_creation() {
        let timeline = Timeline { created_ms: 100, incidents: vec![(150, 250)], maintenance: vec![(200, 300)] };
        // Measured: [100, 200) and [300, 1100) = 900; down outside maintenance: [150, 200) = 50.
        let (uptime, down) = timeline.uptime((0, 1100));
        assert_eq!(down, 50);
        assert!((uptime.unwrap() - 100.0 * 850.0 / 900.0).abs() < 1e-12);
        // Nothing measured: before creation, or all in maintenance.
        assert_eq!(timeline.uptime((0, 100)), (None, 0));
        assert_eq!(timeline.uptime((200, 300)), (None, 0));
    }
}
