//! Uptime: time-based (from incidents, over the time that was measured:
//! checked, not paused, not in maintenance), and check-based (from the
//! roll-ups).

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

/// What a span of time was, for uptime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// Some of it was measured: checked, not paused, not in maintenance.
    Measured,
    /// Nothing was measured, and the monitor was paused for some of it.
    Paused,
    /// Nothing was measured, and maintenance covered some of it.
    Maintenance,
    /// Nothing was measured: before the monitor existed, or no check ran.
    #[default]
    NoData,
}

impl Coverage {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Measured => "measured",
            Self::Paused => "paused",
            Self::Maintenance => "maintenance",
            Self::NoData => "no_data",
        }
    }
}

/// One UTC day's time-based uptime.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DayUptime {
    /// The day (`YYYY-MM-DD`, UTC).
    #[serde(serialize_with = "day_string")]
    #[schema(value_type = String, format = Date)]
    pub date: time::Date,
    /// Percent (0–100) of the measured time; `None` if nothing was measured
    /// that day ([`DayUptime::coverage`] says why).
    pub uptime: Option<f64>,
    /// Seconds of confirmed downtime within the measured time.
    pub downtime_s: i64,
    /// Seconds measured: checked, not paused, not in maintenance.
    pub measured_s: i64,
    /// Whether the day was measured, and if not, why.
    pub coverage: Coverage,
}

fn day_string<S: serde::Serializer>(date: &time::Date, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(date)
}

/// What each monitor's uptime is computed from (spans merged).
struct Timeline {
    created_ms: i64,
    incidents: Vec<Span>,
    maintenance: Vec<Span>,
    paused: Vec<Span>,
    /// Where checks ran: each hour with a result, for an hour or the
    /// monitor's interval if longer.
    checked: Vec<Span>,
    /// Mean response time of the up and degraded results of the window's
    /// last 24 hours (by the hour), in ms.
    latency_24h_ms: Option<u32>,
}

/// A window's time-based figures.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Figures {
    /// Percent of the measured time up; `None` if nothing was measured.
    uptime: Option<f64>,
    downtime_ms: i64,
    measured_ms: i64,
    coverage: Coverage,
}

/// A status page's figures for one monitor.
#[derive(Clone, Debug, Default)]
pub struct PageUptime {
    /// Time-based uptime of each of the last `days` UTC days (today
    /// included, oldest first).
    pub days: Vec<DayUptime>,
    /// Over `[now - days, now]`; `None` if nothing was measured.
    pub overall: Option<f64>,
    /// The seconds of that window that were measured.
    pub measured_s: i64,
    /// Whether that window was measured, and if not, why.
    pub coverage: Coverage,
    /// Over the last 24 hours, 7 days and 30 days; `None` if nothing was
    /// measured.
    pub windows: [Option<f64>; 3],
    /// Mean response time of the last 24 hours' up and degraded results.
    pub latency_24h_ms: Option<u32>,
}

/// Daily and overall uptime of the last `days` per monitor of `team` among
/// `monitors`, from one read of their timelines.
pub async fn page_uptime(
    pg: &PgPool,
    clickhouse: &clickhouse::Client,
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
    let timelines = timelines(pg, clickhouse, team, monitors, (overall.0.min(first), now_ms)).await?;
    let mut out = HashMap::new();
    for (monitor, timeline) in timelines {
        let mut figures = Vec::with_capacity(days as usize);
        let mut day = first;
        while day <= today {
            figures.push((day, timeline.uptime((day, (day + DAY_MS).min(now_ms)))));
            day += DAY_MS;
        }
        let downtime_s = whole_seconds(figures.iter().map(|(_, f)| f.downtime_ms));
        let measured_s = whole_seconds(figures.iter().map(|(_, f)| f.measured_ms));
        let mut bars = Vec::with_capacity(figures.len());
        for (((day, f), downtime_s), measured_s) in figures.into_iter().zip(downtime_s).zip(measured_s) {
            bars.push(DayUptime {
                date: date_of(day)?,
                uptime: f.uptime,
                downtime_s,
                measured_s,
                coverage: f.coverage,
            });
        }
        let whole = timeline.uptime(overall);
        let windows = [DAY_MS, 7 * DAY_MS, 30 * DAY_MS].map(|length| timeline.uptime((now_ms - length, now_ms)).uptime);
        out.insert(
            monitor,
            PageUptime {
                days: bars,
                overall: whole.uptime,
                measured_s: whole.measured_ms / 1000,
                coverage: whole.coverage,
                windows,
                latency_24h_ms: timeline.latency_24h_ms,
            },
        );
    }
    Ok(out)
}

/// The hours of `team`'s monitors with a result that measured something
/// (not skipped) within `window`, from the team's hourly roll-up.
#[derive(Debug, Deserialize, clickhouse::Row)]
struct CheckedRow {
    monitor: String,
    hours: Vec<u32>,
    /// Up and degraded results of the last 24 hours of the window,
    good_24h: u64,
    /// and the sum of their response times.
    good_ms_24h: u64,
}

/// Creation, incidents, maintenance, pauses and checked hours of
/// `monitors` (those of `team`) within `window`.
async fn timelines(
    pg: &PgPool,
    clickhouse: &clickhouse::Client,
    team: Uuid,
    monitors: &[Uuid],
    window: Span,
) -> Result<HashMap<Uuid, Timeline>, ApiError> {
    let (from, to) = (at(window.0)?, at(window.1)?);
    let checked = clickhouse
        .query(
            "SELECT toString(monitor_id) AS monitor, groupUniqArray(toUInt32(bucket)) AS hours, \
                    sumIf(good, bucket >= toDateTime(?)) AS good_24h, \
                    sumIf(good_ms, bucket >= toDateTime(?)) AS good_ms_24h \
             FROM team_results_1h WHERE team_id = toUUID(?) AND bucket >= toDateTime(?) \
               AND bucket < toDateTime(?) AND checks > 0 \
             GROUP BY monitor_id",
        )
        .bind((window.1 - DAY_MS).div_euclid(HOUR_MS) * 3600)
        .bind((window.1 - DAY_MS).div_euclid(HOUR_MS) * 3600)
        .bind(team.to_string())
        .bind(window.0.div_euclid(HOUR_MS) * 3600)
        .bind(window.1.div_euclid(1000) + 1)
        .fetch_all::<CheckedRow>();
    let rows = sqlx::query(
        "SELECT id, (extract(epoch FROM created_at) * 1000)::bigint AS created_ms, interval_ms \
         FROM monitors WHERE team_id = $1 AND id = ANY($2)",
    )
    .bind(team)
    .bind(monitors)
    .fetch_all(pg);
    let (checked, rows) = tokio::try_join!(async { checked.await.map_err(super::clickhouse_error) }, async {
        rows.await.map_err(ApiError::from)
    })?;
    let mut out = HashMap::new();
    let mut intervals = HashMap::new();
    for row in &rows {
        let timeline = Timeline {
            created_ms: row.try_get("created_ms")?,
            incidents: vec![],
            maintenance: vec![],
            paused: vec![],
            checked: vec![],
            latency_24h_ms: None,
        };
        let id = row.try_get::<Uuid, _>("id")?;
        intervals.insert(id, i64::from(row.try_get::<i32, _>("interval_ms")?));
        out.insert(id, timeline);
    }
    for row in checked {
        let Ok(id) = row.monitor.parse::<Uuid>() else { continue };
        let (Some(timeline), Some(interval)) = (out.get_mut(&id), intervals.get(&id)) else { continue };
        // A check stands for its interval: a monitor checked every 6 hours
        // is measured between its checks too.
        let length = HOUR_MS.max(*interval);
        timeline.latency_24h_ms =
            (row.good_24h > 0).then(|| u32::try_from(row.good_ms_24h / row.good_24h).unwrap_or(u32::MAX));
        timeline
            .checked
            .extend(row.hours.iter().map(|&hour| (i64::from(hour) * 1000, i64::from(hour) * 1000 + length)));
    }
    let ids: Vec<Uuid> = out.keys().copied().collect();
    let pauses = sqlx::query(
        "SELECT monitor_id, (extract(epoch FROM paused_at) * 1000)::bigint AS start_ms, \
                (extract(epoch FROM coalesce(resumed_at, $3)) * 1000)::bigint AS end_ms \
         FROM monitor_pauses WHERE monitor_id = ANY($1) AND paused_at < $3 \
           AND (resumed_at IS NULL OR resumed_at > $2)",
    )
    .bind(&ids)
    .bind(from)
    .bind(to)
    .fetch_all(pg)
    .await?;
    for row in &pauses {
        if let Some(timeline) = out.get_mut(&row.try_get::<Uuid, _>("monitor_id")?) {
            timeline.paused.push((row.try_get("start_ms")?, row.try_get("end_ms")?));
        }
    }
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
        timeline.paused = merge(std::mem::take(&mut timeline.paused));
        timeline.checked = merge(std::mem::take(&mut timeline.checked));
    }
    Ok(out)
}

impl Timeline {
    /// The figures of `window`: the time measured in it (checked, after
    /// creation, not paused, not in maintenance), the confirmed downtime
    /// within that, and the uptime as a share of it.
    fn uptime(&self, window: Span) -> Figures {
        let range = (window.0.max(self.created_ms), window.1);
        let none = |coverage| Figures { uptime: None, downtime_ms: 0, measured_ms: 0, coverage };
        if range.0 >= range.1 {
            return none(Coverage::NoData);
        }
        let left_out = merge(self.paused.iter().chain(&self.maintenance).copied().collect());
        let measured_spans = subtract(&self.checked, &left_out);
        let measured = covered(&measured_spans, range);
        if measured <= 0 {
            return none(if covered(&self.paused, range) > 0 {
                Coverage::Paused
            } else if covered(&self.maintenance, range) > 0 {
                Coverage::Maintenance
            } else {
                Coverage::NoData
            });
        }
        let downtime: i64 = self
            .incidents
            .iter()
            .map(|&(s, e)| (s.max(range.0), e.min(range.1)))
            .filter(|(s, e)| s < e)
            .map(|span| covered(&measured_spans, span))
            .sum();
        Figures {
            uptime: Some(100.0 * (measured - downtime) as f64 / measured as f64),
            downtime_ms: downtime,
            measured_ms: measured,
            coverage: Coverage::Measured,
        }
    }
}

/// The parts of the merged spans `spans` that the merged `minus` do not cover.
fn subtract(spans: &[Span], minus: &[Span]) -> Vec<Span> {
    let mut out = Vec::with_capacity(spans.len());
    for &(mut start, end) in spans {
        for &(s, e) in minus {
            if e <= start || s >= end {
                continue;
            }
            if s > start {
                out.push((start, s));
            }
            start = start.max(e);
        }
        if start < end {
            out.push((start, end));
        }
    }
    out
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
    /// Time-based uptime percent (the SLA figure) of the measured time;
    /// `null` if nothing was measured.
    pub uptime: Option<f64>,
    /// Confirmed downtime within the measured time, in seconds.
    pub downtime_s: i64,
    /// Seconds measured: checked, not paused, not in maintenance.
    pub measured_s: i64,
    /// Whether the window was measured, and if not, why.
    pub coverage: Coverage,
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
    let timelines = timelines(&state.pg, &state.clickhouse, caller.team.0, &[id.0], window).await?;
    let timeline = timelines.get(&id.0).ok_or_else(|| ApiError::not_found("monitor"))?;
    let mut windows = Vec::new();
    for (name, length) in [("24h", DAY_MS), ("7d", 7 * DAY_MS), ("30d", 30 * DAY_MS), ("90d", 90 * DAY_MS)] {
        let from_ms = now_ms - length;
        let figures = timeline.uptime((from_ms, now_ms));
        let checks = if length == DAY_MS {
            counts(&state, id.0, "check_results_1m", (from_ms / MINUTE_MS) * 60).await?
        } else {
            counts(&state, id.0, "check_results_1h", (from_ms / HOUR_MS) * 3600).await?
        };
        windows.push(WindowUptime {
            window: name.to_owned(),
            from_ms,
            uptime: figures.uptime,
            downtime_s: figures.downtime_ms / 1000,
            measured_s: figures.measured_ms / 1000,
            coverage: figures.coverage,
            checks,
        });
    }
    Ok(Json(Uptime { monitor_id: id, now_ms, windows }))
}

/// Whole seconds of each of `parts` (milliseconds), rounded once over
/// their running sum, so the days add up to the rounded total: an outage
/// split at midnight (or a millisecond short of its length) loses no
/// second to rounding each day on its own.
fn whole_seconds(parts: impl Iterator<Item = i64>) -> Vec<i64> {
    let round = |ms: i64| (ms + 500).div_euclid(1000);
    let mut sum = 0;
    parts
        .map(|ms| {
            let before = round(sum);
            sum += ms;
            round(sum) - before
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_add_up_to_the_rounded_total() {
        // An hour split at midnight, and one a millisecond short.
        assert_eq!(super::whole_seconds([1_799_500, 1_800_500].into_iter()), [1_800, 1_800]);
        assert_eq!(super::whole_seconds([3_599_999, 0, 1_800_000].into_iter()), [3_600, 0, 1_800]);
        let parts = [400, 400, 400, 400, 400];
        let seconds = super::whole_seconds(parts.into_iter());
        assert_eq!(seconds.iter().sum::<i64>(), 2, "{seconds:?}");
        assert!(seconds.iter().all(|s| (0..=1).contains(s)));
    }

    use super::*;

    #[test]
    fn merging_spans() {
        assert_eq!(merge(vec![(5, 9), (1, 3), (2, 4), (9, 10), (12, 12)]), vec![(1, 4), (5, 10)]);
        assert_eq!(covered(&[(1, 4), (5, 10)], (3, 6)), 2);
    }

    fn timeline_of(checked: Vec<Span>, paused: Vec<Span>) -> Timeline {
        Timeline {
            created_ms: 100,
            incidents: vec![(150, 250)],
            maintenance: vec![(200, 300)],
            paused,
            checked,
            latency_24h_ms: None,
        }
    }

    #[test]
    fn uptime_leaves_out_maintenance_and_time_before_creation() {
        let timeline = timeline_of(vec![(0, 2000)], vec![]);
        // Measured: [100, 200) and [300, 1100) = 900; down outside maintenance: [150, 200) = 50.
        let figures = timeline.uptime((0, 1100));
        assert_eq!((figures.downtime_ms, figures.measured_ms, figures.coverage), (50, 900, Coverage::Measured));
        assert!((figures.uptime.unwrap() - 100.0 * 850.0 / 900.0).abs() < 1e-12);
        // Nothing measured: before creation, or all in maintenance.
        assert_eq!(timeline.uptime((0, 100)).coverage, Coverage::NoData);
        assert_eq!(timeline.uptime((0, 100)).uptime, None);
        assert_eq!(timeline.uptime((200, 300)).coverage, Coverage::Maintenance);
    }

    #[test]
    fn unchecked_and_paused_time_is_not_uptime() {
        // Checked [100, 400) and [600, 700); paused [400, 600).
        let timeline = timeline_of(vec![(100, 400), (600, 700)], vec![(400, 600)]);
        let figures = timeline.uptime((0, 1100));
        // Measured: [100, 200) + [300, 400) + [600, 700) = 300; down [150, 200).
        assert_eq!((figures.measured_ms, figures.downtime_ms), (300, 50));
        assert!((figures.uptime.unwrap() - 100.0 * 250.0 / 300.0).abs() < 1e-12);
        // Paused, or never checked: no uptime at all, and said why.
        assert_eq!(timeline.uptime((400, 600)).coverage, Coverage::Paused);
        assert_eq!(timeline.uptime((400, 600)).uptime, None);
        assert_eq!(timeline.uptime((700, 1100)).coverage, Coverage::NoData);
        assert_eq!(timeline_of(vec![], vec![]).uptime((0, 1100)).uptime, None);
    }

    #[test]
    fn subtracting_spans() {
        assert_eq!(
            subtract(&[(0, 10), (20, 30)], &[(2, 4), (8, 22), (25, 26)]),
            vec![(0, 2), (4, 8), (22, 25), (26, 30)]
        );
        assert_eq!(subtract(&[(0, 10)], &[]), vec![(0, 10)]);
        assert_eq!(subtract(&[(0, 10)], &[(0, 10)]), vec![]);
    }
}
