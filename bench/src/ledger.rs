//! Exact accounting: which (monitor, slot) pairs were due in a window, which
//! have a row in ClickHouse (and how many), how long rows took from their
//! slot to ClickHouse, and the incidents and notifications of the monitors
//! that flipped.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use statushawk_schemas::{MonitorId, UnixMs, now_ms};
use uuid::Uuid;

use crate::scratch::Monitor;
use crate::targets::Received;

/// The slots of a monitor in `[from, to)`.
pub fn slots(monitor: &Monitor, window: &Range<UnixMs>) -> impl Iterator<Item = UnixMs> {
    let first = statushawk_scheduler::slot::next_slot(MonitorId(monitor.id), monitor.interval_ms, window.start);
    let end = window.end;
    (0..).map(move |k| first + k * i64::from(monitor.interval_ms)).take_while(move |slot| *slot < end)
}

/// What a window's due checks came to.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Accounting {
    /// (monitor, slot) pairs due in the window, outside the gaps.
    pub expected: u64,
    /// Of those, pairs with a row (first attempts; re-checks are not counted).
    pub stored: u64,
    /// Of those, rows that say `skipped` (the deadline passed first).
    pub skipped: u64,
    /// Expected pairs without a row.
    pub lost: u64,
    /// Rows beyond the first of a pair, gaps included.
    pub doubled: u64,
    /// Pairs due inside a gap (allowed to have no row).
    pub in_gaps: u64,
    /// Of those, pairs without a row.
    pub lost_in_gaps: u64,
    /// Rows of the window at a time no monitor is due (none should be).
    pub off_slot: u64,
    /// Confirmation re-checks stored (attempt above 0).
    pub rechecks: u64,
    /// A few lost pairs, to look up.
    pub lost_examples: Vec<(Uuid, UnixMs)>,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct PairRow {
    monitor: String,
    slot_ms: i64,
    attempt: u8,
    rows: u64,
    skipped: u64,
}

/// Accounts for every monitor's slots in `window`; slots in `gaps` may
/// have no row.
pub async fn account(
    clickhouse: &clickhouse::Client,
    monitors: &[Monitor],
    window: &Range<UnixMs>,
    gaps: &[Range<UnixMs>],
) -> anyhow::Result<Accounting> {
    let rows: Vec<PairRow> = clickhouse
        .query(
            "SELECT toString(monitor_id) AS monitor, slot_ms, attempt, toUInt64(count()) AS rows, \
             toUInt64(countIf(status = 'skipped')) AS skipped \
             FROM check_results WHERE slot_ms >= ? AND slot_ms < ? GROUP BY monitor, slot_ms, attempt",
        )
        .bind(window.start)
        .bind(window.end)
        .fetch_all()
        .await?;
    let mut stored: HashMap<(Uuid, UnixMs), (u64, u64)> = HashMap::new();
    let mut accounting = Accounting::default();
    for row in rows {
        if row.attempt > 0 {
            accounting.rechecks += row.rows;
            continue;
        }
        let monitor: Uuid = row.monitor.parse()?;
        let entry = stored.entry((monitor, row.slot_ms)).or_default();
        entry.0 += row.rows;
        entry.1 += row.skipped;
    }
    for monitor in monitors {
        for slot in slots(monitor, window) {
            let in_gap = gaps.iter().any(|gap| gap.contains(&slot));
            match (stored.remove(&(monitor.id, slot)), in_gap) {
                (Some((rows, skipped)), gap) => {
                    accounting.doubled += rows - 1;
                    if gap {
                        accounting.in_gaps += 1;
                    } else {
                        accounting.expected += 1;
                        accounting.stored += 1;
                        accounting.skipped += u64::from(skipped > 0);
                    }
                }
                (None, true) => {
                    accounting.in_gaps += 1;
                    accounting.lost_in_gaps += 1;
                }
                (None, false) => {
                    accounting.expected += 1;
                    accounting.lost += 1;
                    if accounting.lost_examples.len() < 10 {
                        accounting.lost_examples.push((monitor.id, slot));
                    }
                }
            }
        }
    }
    accounting.off_slot = stored.values().map(|(rows, _)| rows).sum();
    Ok(accounting)
}

/// First attempts stored so far for slots in `window`.
pub async fn stored(clickhouse: &clickhouse::Client, window: &Range<UnixMs>) -> anyhow::Result<u64> {
    Ok(clickhouse
        .query("SELECT toUInt64(count()) FROM check_results WHERE attempt = 0 AND slot_ms >= ? AND slot_ms < ?")
        .bind(window.start)
        .bind(window.end)
        .fetch_one::<u64>()
        .await?)
}

/// p50, p99 and max of a distribution, in ms.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct Spread {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// How many values.
    pub count: u64,
}

impl Spread {
    /// The spread of `(value, weight)` pairs.
    pub fn of(mut values: Vec<(f64, u64)>) -> Self {
        values.sort_by(|a, b| a.0.total_cmp(&b.0));
        let count: u64 = values.iter().map(|v| v.1).sum();
        let at = |q: f64| {
            let rank = ((count as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            values.iter().find(|v| {
                seen += v.1;
                seen >= rank
            })
        };
        let value = |q| at(q).map_or(f64::NAN, |v| v.0);
        Self { p50: value(0.5), p99: value(0.99), max: values.last().map_or(f64::NAN, |v| v.0), count }
    }
}

/// Watches ClickHouse while a window's rows arrive: every poll counts the
/// first attempts per 100 ms of slot time, and rows new since the last poll
/// arrived between the two (taken as the middle, so ± half a poll).
pub struct LagProbe {
    state: Arc<Mutex<LagState>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct LagState {
    seen: HashMap<i64, u64>,
    lags: Vec<(f64, u64)>,
    errors: u64,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct BucketRow {
    bucket: i64,
    rows: u64,
}

impl LagProbe {
    /// Starts polling every `every`.
    pub fn start(clickhouse: clickhouse::Client, window: Range<UnixMs>, every: Duration) -> Self {
        let state = Arc::new(Mutex::new(LagState::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            let mut previous = now_ms();
            loop {
                tokio::time::sleep(every).await;
                let at = now_ms();
                let counts = clickhouse
                    .query(
                        "SELECT intDiv(slot_ms, 100) AS bucket, toUInt64(count()) AS rows FROM check_results \
                         WHERE attempt = 0 AND slot_ms >= ? AND slot_ms < ? GROUP BY bucket",
                    )
                    .bind(window.start)
                    .bind(window.end)
                    .fetch_all::<BucketRow>()
                    .await;
                let mut state = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let Ok(counts) = counts else {
                    state.errors += 1;
                    continue;
                };
                let arrived = (previous + at) as f64 / 2.0;
                for row in counts {
                    let seen = state.seen.entry(row.bucket).or_default();
                    if row.rows > *seen {
                        let new = row.rows - *seen;
                        *seen = row.rows;
                        let slot = (row.bucket * 100 + 50) as f64;
                        state.lags.push((arrived - slot, new));
                    }
                }
                previous = at;
            }
        });
        Self { state, task }
    }

    /// Stops it: the spread of lags seen (ms).
    pub fn finish(self) -> Spread {
        self.task.abort();
        let state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Spread::of(state.lags.clone())
    }
}

/// An incident of a flipped monitor, from Postgres.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Incident {
    /// Its monitor.
    pub monitor_id: Uuid,
    /// When its row was written (ms).
    pub created_ms: i64,
    /// Whether it is resolved.
    pub resolved: bool,
}

/// Every incident of the run.
pub async fn incidents(pg: &sqlx::PgPool) -> anyhow::Result<Vec<Incident>> {
    Ok(sqlx::query_as(
        "SELECT monitor_id, (extract(epoch FROM created_at) * 1000)::int8 AS created_ms, \
         resolved_at IS NOT NULL AS resolved FROM incidents ORDER BY created_at",
    )
    .fetch_all(pg)
    .await?)
}

/// How the flips were seen: per flip of each flipped monitor, one
/// incident opened and resolved, one notification of each.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Detection {
    /// Flipped monitors.
    pub flipped: u64,
    /// Incidents opened (expected: `flipped` × flips).
    pub incidents: u64,
    /// Of those, resolved.
    pub resolved: u64,
    /// Monitors that did not flip but got an incident (expected: 0).
    pub false_incidents: u64,
    /// Distinct notifications of opening received (by event id).
    pub opened_notified: u64,
    /// Distinct notifications of resolution received.
    pub resolved_notified: u64,
    /// Notifications received more than once (same event id).
    pub notified_twice: u64,
    /// First failing slot → incident row, ms.
    pub to_incident: Spread,
    /// First failing slot → opening notification at the webhook, ms.
    pub to_notification: Spread,
    /// First healthy slot → resolution notification at the webhook, ms.
    pub to_resolution_notification: Spread,
}

/// Detection of one flip (down at `down_at`, up at `up_at`) of `monitors`.
pub fn detection(
    monitors: &[Monitor],
    down_at: UnixMs,
    up_at: UnixMs,
    incidents: &[Incident],
    received: &[Received],
) -> Detection {
    let flipped: HashMap<Uuid, &Monitor> = monitors.iter().filter(|m| m.flips).map(|m| (m.id, m)).collect();
    let first_slot = |m: &Monitor, at| statushawk_scheduler::slot::next_slot(MonitorId(m.id), m.interval_ms, at);
    let mut detection = Detection { flipped: flipped.len() as u64, ..Detection::default() };
    let (mut to_incident, mut to_notification, mut to_resolution) = (Vec::new(), Vec::new(), Vec::new());
    for incident in incidents {
        let Some(monitor) = flipped.get(&incident.monitor_id) else {
            detection.false_incidents += 1;
            continue;
        };
        detection.incidents += 1;
        detection.resolved += u64::from(incident.resolved);
        to_incident.push(((incident.created_ms - first_slot(monitor, down_at)) as f64, 1));
    }
    let mut ids: HashMap<&str, u64> = HashMap::new();
    for note in received {
        let Some(monitor) = flipped.get(&note.monitor_id) else { continue };
        let seen = ids.entry(&note.event_id).or_default();
        *seen += 1;
        if *seen > 1 {
            detection.notified_twice += 1;
            continue;
        }
        match note.event_type {
            "incident.opened" => {
                detection.opened_notified += 1;
                to_notification.push(((note.at_ms - first_slot(monitor, down_at)) as f64, 1));
            }
            "incident.resolved" => {
                detection.resolved_notified += 1;
                to_resolution.push(((note.at_ms - first_slot(monitor, up_at)) as f64, 1));
            }
            _ => {}
        }
    }
    detection.to_incident = Spread::of(to_incident);
    detection.to_notification = Spread::of(to_notification);
    detection.to_resolution_notification = Spread::of(to_resolution);
    detection
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_weigh_their_values() {
        let spread = Spread::of(vec![(3.0, 1), (1.0, 98), (2.0, 1)]);
        assert_eq!(spread, Spread { p50: 1.0, p99: 2.0, max: 3.0, count: 100 });
        assert!(Spread::of(Vec::new()).p50.is_nan());
    }

    #[test]
    fn a_window_holds_each_slot_of_a_monitor_once() {
        let monitor = Monitor { id: Uuid::now_v7(), interval_ms: 10_000, flips: false };
        let window = 1_700_000_000_000..1_700_000_060_000;
        let slots: Vec<i64> = slots(&monitor, &window).collect();
        assert_eq!(slots.len(), 6);
        assert!(slots.iter().all(|s| window.contains(s)));
        assert!(slots.windows(2).all(|w| w[1] - w[0] == 10_000));
    }
}
