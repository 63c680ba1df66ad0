//! Uptime: time-based (from incidents, leaving out maintenance and time
//! before creation), and check-based (from the roll-ups).

use std::collections::HashMap;

use axum::Json;
use axum::extract::State as Shared;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};
use statushawk_schemas::{MonitorId, UnixMs};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{DAY_MS, HOUR_MS, MINUTE_MS, Span, at, clickhouse_error, date_of, own_monitor, unix_ms};
use crate::State;
use crate::auth::Caller;
use crate::error::{ApiError, Id};

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

/// Counts of the monitor's results in roll-up buckets at or after `from_s`.
async fn counts(state: &State, monitor: Uuid, table: &str, from_s: i64) -> Result<CheckCounts, ApiError> {
    let row = state
        .clickhouse
        .query(
            "SELECT countIfMerge(checks) AS checks, countIfMerge(up) AS up, countIfMerge(degraded) AS degraded \
             FROM ? WHERE monitor_id = toUUID(?) AND bucket >= toDateTime(?)",
        )
        .bind(clickhouse::sql::Identifier(table))
        .bind(monitor.to_string())
        .bind(from_s)
        .fetch_one::<CountsRow>()
        .await
        .map_err(clickhouse_error)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
