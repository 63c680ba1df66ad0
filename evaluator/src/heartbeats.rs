//! Heartbeat monitors of one owned partition: pings become results, and so
//! does silence.
//!
//! Heartbeat monitors have no prober. The API publishes each ping on
//! `heartbeats.<p>.<monitor>`; this janitor keeps every heartbeat monitor
//! of the partition with its deadline in one ordered set, and turns pings
//! and missed deadlines into [`CheckResult`]s of the region `heartbeat`,
//! published on the partition's result subject. The results path then does
//! what it does for every probe: ClickHouse, the state machine (heartbeat
//! monitors confirm on the first failure: confirmations, recoveries and
//! quorum are 1), incidents and events.
//!
//! - A success ping is `up`, with the run's duration as `total_ms` when a
//!   `start` came before it; the deadline moves to the next expected ping
//!   plus the grace.
//! - A `fail` ping or a non-zero exit code is `down` at once (`job_failed`).
//! - A `start` must be followed by a finish within the grace, or the run is
//!   `down` (`timeout`).
//! - No ping by the deadline is `down` (`missed`), once; the next success
//!   recovers. A monitor that never pinged, or is paused, expects nothing.
//!
//! The deadline, the open runs and the last slot are written to
//! `heartbeat_state` before the pings are acked, so a restart or a takeover
//! fires a deadline that passed meanwhile. Every result gets a slot after
//! the previous one, so a ping that arrives just after its monitor's miss
//! was reported still recovers it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use statushawk_nats::async_nats::jetstream::consumer::PullConsumer;
use statushawk_nats::{Delivery, TraceContext, evaluator_heartbeats_consumer};
use statushawk_schemas::{CheckResult, HeartbeatPing, MonitorId, UnixMs, now_ms, partition_of, subject};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::Shared;
use crate::beat::{Beat, PingRow};
use crate::steps::{Abandoned, Outgoing, Poison, fetch, publish_all, retry, retry_or_poison, sleep_or};
use crate::store;

/// The heartbeat monitors of one partition and their due times.
#[derive(Default)]
struct Janitor {
    beats: HashMap<MonitorId, Beat>,
    /// (due, monitor); an entry whose monitor has another due time by now
    /// is stale and skipped.
    timers: BTreeSet<(UnixMs, MonitorId)>,
    /// Monitors whose pings arrive but that are not (or no longer) heartbeat
    /// monitors: not looked up again until their configuration changes.
    strangers: HashSet<MonitorId>,
}

impl Janitor {
    /// Keeps `beat` (a reloaded monitor, or a first met one); a monitor
    /// resumed from pause waits for its next ping.
    fn keep(&mut self, id: MonitorId, mut beat: Beat) {
        if self.beats.get(&id).is_some_and(|old| old.paused) && !beat.paused {
            beat.deadline_ms = None;
            beat.runs.clear();
        }
        self.schedule(id, &beat);
        self.strangers.remove(&id);
        self.beats.insert(id, beat);
    }

    /// Reads `ids` from Postgres again: heartbeat monitors are kept; the
    /// rest (deleted, or no longer heartbeats) become strangers, whose
    /// pings are ignored without another read until their configuration
    /// changes.
    async fn refresh(
        &mut self,
        pg: &sqlx::PgPool,
        mut ids: Vec<MonitorId>,
        lost: &CancellationToken,
    ) -> Result<(), Abandoned> {
        if ids.is_empty() {
            return Ok(());
        }
        ids.sort_unstable();
        ids.dedup();
        let wanted = &ids;
        let mut fresh = retry(lost, "loading heartbeat monitors", move || store::heartbeats(pg, Some(wanted))).await?;
        for id in ids {
            match fresh.remove(&id) {
                Some(beat) => self.keep(id, beat),
                None => {
                    self.beats.remove(&id);
                    self.strangers.insert(id);
                }
            }
        }
        Ok(())
    }

    fn schedule(&mut self, id: MonitorId, beat: &Beat) {
        if let Some(due) = beat.due() {
            self.timers.insert((due, id));
        }
    }

    /// The next due time.
    fn next_due(&self) -> Option<UnixMs> {
        self.timers.first().map(|(due, _)| *due)
    }

    /// What has fallen due by `now`: results, and the monitors changed.
    fn expire(&mut self, now: UnixMs) -> (Vec<CheckResult>, BTreeSet<MonitorId>) {
        let (mut results, mut touched) = (Vec::new(), BTreeSet::new());
        while let Some(&(due, id)) = self.timers.first() {
            if due > now {
                break;
            }
            self.timers.pop_first();
            let Some(beat) = self.beats.get_mut(&id) else { continue };
            if beat.due() != Some(due) {
                continue;
            }
            for outcome in beat.expire(now) {
                results.push(beat.result(id, outcome));
            }
            touched.insert(id);
            if let Some(next) = beat.due() {
                self.timers.insert((next, id));
            }
        }
        (results, touched)
    }

    /// Takes a ping: the row to store (none for a stranger), and the result
    /// it amounts to.
    fn ping(&mut self, ping: &HeartbeatPing) -> (Option<PingRow>, Option<CheckResult>) {
        let id = ping.monitor_id;
        let Some(beat) = self.beats.get_mut(&id) else { return (None, None) };
        if beat.paused {
            // Kept, not judged.
            return (Some(PingRow::new(ping, None)), None);
        }
        let outcome = beat.ping(ping);
        let row = PingRow::new(ping, outcome.as_ref().and_then(|o| o.duration_ms));
        let result = outcome.map(|outcome| beat.result(id, outcome));
        if let Some(due) = beat.due() {
            self.timers.insert((due, id));
        }
        (Some(row), result)
    }
}

/// The janitor of `partition`'s heartbeat monitors, until `stop` or `lost`.
pub(crate) async fn run(
    partition: u16,
    shared: &Shared,
    changed: &mut mpsc::UnboundedReceiver<MonitorId>,
    stop: &CancellationToken,
    lost: &CancellationToken,
) -> Result<(), Abandoned> {
    let partitions = shared.topology.partitions;
    let ours = move |id: &MonitorId| partition_of(*id, partitions) == partition;
    let consumer: PullConsumer = retry(lost, "opening the heartbeat consumer", move || async move {
        let stream = shared.js.get_stream_no_info(shared.topology.stream(statushawk_nats::HEARTBEATS)).await?;
        stream.get_consumer(&evaluator_heartbeats_consumer(partition)).await
    })
    .await?;
    let pg = &shared.pg;
    let mut janitor = Janitor::default();
    let loaded = retry(lost, "loading heartbeat monitors", move || store::heartbeats(pg, None)).await?;
    for (id, beat) in loaded.into_iter().filter(|(id, _)| ours(id)) {
        janitor.keep(id, beat);
    }

    while !stop.is_cancelled() {
        // Configuration changes: reload.
        let reload: Vec<MonitorId> = std::iter::from_fn(|| changed.try_recv().ok()).filter(ours).collect();
        janitor.refresh(pg, reload, lost).await?;

        // Deadlines that have passed.
        let (results, touched) = janitor.expire(now_ms());
        let refused = settle(shared, &janitor.beats, &results, &touched, lost).await?;
        janitor.refresh(pg, refused.into_keys().collect(), lost).await?;

        // Pings, waiting at most until the next deadline.
        let wait = janitor.next_due().map_or(Duration::from_secs(1), |due| {
            Duration::from_millis(u64::try_from(due - now_ms()).unwrap_or(0))
                .clamp(Duration::from_millis(50), Duration::from_secs(1))
        });
        let batch = tokio::select! {
            () = lost.cancelled() => return Err(Abandoned),
            () = stop.cancelled() => return Ok(()),
            batch = fetch::<HeartbeatPing>(&consumer, 1_000, wait) => batch,
        };
        let deliveries = match batch {
            Ok(deliveries) => deliveries,
            Err(err) => {
                warn!(partition, error = %err, "Fetching heartbeat pings failed; retrying.");
                sleep_or(lost, Duration::from_secs(1)).await?;
                continue;
            }
        };
        if deliveries.is_empty() {
            continue;
        }
        // Monitors first met: load them once (a ping for a monitor of another
        // partition cannot arrive on this partition's subject).
        let unknown: Vec<MonitorId> = deliveries
            .iter()
            .map(|d| d.payload().monitor_id)
            .filter(|id| !janitor.beats.contains_key(id) && !janitor.strangers.contains(id))
            .collect();
        janitor.refresh(pg, unknown, lost).await?;
        let (mut results, mut rows, mut touched) = (Vec::new(), Vec::new(), BTreeSet::new());
        for delivery in &deliveries {
            let ping = delivery.payload();
            metrics::counter!(crate::metrics::HEARTBEAT_PINGS_TOTAL, "kind" => ping.kind.as_str()).increment(1);
            let (row, result) = janitor.ping(ping);
            if row.is_some() {
                touched.insert(ping.monitor_id);
            }
            rows.extend(row);
            results.extend(result);
        }
        if !rows.is_empty() {
            let rows = &rows;
            retry(lost, "storing heartbeat pings", move || async move {
                let mut insert = shared.clickhouse.insert::<PingRow>("heartbeat_pings").await?;
                for row in rows {
                    insert.write(row).await?;
                }
                insert.end().await
            })
            .await?;
        }
        let refused = settle(shared, &janitor.beats, &results, &touched, lost).await?;
        // Their state in memory is what Postgres refused: back to what it has.
        janitor.refresh(pg, refused.keys().copied().collect(), lost).await?;
        let (deliveries, poisoned): (Vec<_>, Vec<_>) =
            deliveries.into_iter().partition(|d| !refused.contains_key(&d.payload().monitor_id));
        for delivery in poisoned {
            let poison = &refused[&delivery.payload().monitor_id];
            set_aside(shared, delivery, poison).await;
        }
        let acks = futures::future::join_all(deliveries.into_iter().map(Delivery::ack)).await;
        if let Some(Err(err)) = acks.into_iter().find(Result::is_err) {
            // Redelivered later: the results repeat under the same ids or order after.
            warn!(partition, error = %err, "Acking heartbeat pings failed.");
        }
    }
    Ok(())
}

/// Sets a ping whose monitor's state Postgres refuses for good aside on
/// `deadletter.evaluator`, then terminates it.
async fn set_aside(shared: &Shared, delivery: Delivery<HeartbeatPing>, poison: &Poison) {
    metrics::counter!(crate::metrics::DEAD_LETTERS_TOTAL, "reason" => poison.reason.clone()).increment(1);
    let msg_id = delivery.payload().msg_id();
    if let Err(err) = delivery.dead_letter(&shared.publisher, poison.set_aside("saving heartbeat state"), &msg_id).await
    {
        warn!(error = %err, "Setting a heartbeat ping aside failed.");
    }
}

/// Publishes `results` and writes the state of the `touched` monitors.
/// Returns the monitors whose state Postgres refuses for good (each saved
/// alone to find them), with why.
async fn settle(
    shared: &Shared,
    beats: &HashMap<MonitorId, Beat>,
    results: &[CheckResult],
    touched: &BTreeSet<MonitorId>,
    lost: &CancellationToken,
) -> Result<HashMap<MonitorId, Poison>, Abandoned> {
    let partitions = shared.topology.partitions;
    let messages: Vec<Outgoing> = results
        .iter()
        .filter_map(|r| {
            let payload = serde_json::to_vec(r).ok()?;
            Some(Outgoing {
                subject: subject::check_result(r.monitor_id, &r.region, partitions),
                msg_id: r.msg_id(),
                payload: payload.into(),
                // A heartbeat's result starts its trace, as a due check does.
                trace: Some(TraceContext::start()),
            })
        })
        .collect();
    publish_all(shared, "publishing heartbeat results", &messages, lost).await?;
    if !touched.is_empty() {
        let states: Vec<(MonitorId, &Beat)> = touched.iter().filter_map(|id| Some((*id, beats.get(id)?))).collect();
        let pg = &shared.pg;
        let all = &states;
        if retry_or_poison(lost, "saving heartbeat state", move || store::save_heartbeats(pg, all)).await?.is_err() {
            let mut refused = HashMap::new();
            for state in &states {
                let one = std::slice::from_ref(state);
                let saved = retry_or_poison(lost, "saving heartbeat state", move || store::save_heartbeats(pg, one));
                if let Err(poison) = saved.await? {
                    refused.insert(state.0, poison);
                }
            }
            return Ok(refused);
        }
    }
    Ok(HashMap::new())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use statushawk_schemas::{CheckStatus, ErrorKind, HeartbeatSchedule, PingKind, SCHEMA_VERSION, TeamId};

    use super::*;

    fn beat(period_ms: u64, grace_ms: u64) -> Beat {
        Beat {
            team_id: TeamId::new(),
            schedule: HeartbeatSchedule { period_ms: Some(period_ms), cron: None, timezone: None, grace_ms },
            paused: false,
            deadline_ms: None,
            last_ping_ms: None,
            last_slot_ms: 0,
            runs: BTreeMap::new(),
        }
    }

    fn ping(at: UnixMs, kind: PingKind, exit_code: Option<u8>, run_id: Option<&str>) -> HeartbeatPing {
        HeartbeatPing {
            schema_version: SCHEMA_VERSION,
            ping_id: uuid::Uuid::now_v7(),
            monitor_id: MonitorId::new(),
            team_id: TeamId::new(),
            received_at_ms: at,
            kind,
            exit_code,
            run_id: run_id.map(str::to_owned),
            source_ip: None,
            body: None,
        }
    }

    #[test]
    fn a_monitor_that_never_pinged_expects_nothing_and_a_ping_sets_the_deadline() {
        let mut b = beat(2_000, 1_000);
        assert_eq!(b.due(), None);
        assert!(b.expire(1_000_000).is_empty());
        let up = b.ping(&ping(10_000, PingKind::Success, None, None)).unwrap();
        assert_eq!((up.status, up.duration_ms), (CheckStatus::Up, None));
        assert_eq!(b.due(), Some(13_000));
        assert!(b.expire(12_999).is_empty());
        let missed = b.expire(13_000);
        assert_eq!(missed.len(), 1);
        assert_eq!(
            (missed[0].status, missed[0].error, missed[0].at_ms),
            (CheckStatus::Down, Some(ErrorKind::Missed), 13_000)
        );
        // Reported once.
        assert_eq!(b.due(), None);
        assert!(b.expire(60_000).is_empty());
    }

    #[test]
    fn fail_pings_and_exit_codes_fail_at_once_and_exit_zero_succeeds() {
        let mut b = beat(60_000, 1_000);
        let fail = b.ping(&ping(1_000, PingKind::Fail, None, None)).unwrap();
        assert_eq!((fail.status, fail.error), (CheckStatus::Down, Some(ErrorKind::JobFailed)));
        let code = b.ping(&ping(2_000, PingKind::Success, Some(3), None)).unwrap();
        assert_eq!((code.status, code.message.as_str()), (CheckStatus::Down, "the job exited with code 3"));
        let zero = b.ping(&ping(3_000, PingKind::Success, Some(0), None)).unwrap();
        assert_eq!(zero.status, CheckStatus::Up);
    }

    #[test]
    fn runs_are_timed_paired_by_run_id_and_fail_past_the_grace() {
        let mut b = beat(60_000, 5_000);
        assert_eq!(b.ping(&ping(1_000, PingKind::Start, None, Some("a"))), None);
        assert_eq!(b.ping(&ping(2_000, PingKind::Start, None, Some("b"))), None);
        assert_eq!(b.due(), Some(6_000), "run a must end within the grace");
        let b_done = b.ping(&ping(2_500, PingKind::Success, None, Some("b"))).unwrap();
        assert_eq!(b_done.duration_ms, Some(500));
        let late = b.expire(6_000);
        assert_eq!((late.len(), late[0].error), (1, Some(ErrorKind::Timeout)));
        assert!(late[0].message.contains("run a"), "{}", late[0].message);
        // Without run ids, a finish closes the latest start.
        assert_eq!(b.ping(&ping(10_000, PingKind::Start, None, None)), None);
        assert_eq!(b.ping(&ping(12_345, PingKind::Success, None, None)).unwrap().duration_ms, Some(2_345));
    }

    #[test]
    fn results_always_order_after_the_previous_one() {
        let mut b = beat(2_000, 1_000);
        let monitor = MonitorId::new();
        b.ping(&ping(10_000, PingKind::Success, None, None));
        let missed = b.expire(13_000).remove(0);
        assert_eq!(b.result(monitor, missed).slot_ms, 13_000);
        // A ping received before the deadline but handled after it.
        let late = b.ping(&ping(12_900, PingKind::Success, None, None)).unwrap();
        let result = b.result(monitor, late);
        assert_eq!((result.slot_ms, result.started_at_ms, result.region.as_str()), (13_001, 12_900, "heartbeat"));
    }

    #[test]
    fn the_janitor_fires_each_due_monitor_once_and_skips_stale_timers() {
        let mut janitor = Janitor::default();
        let (a, b) = (MonitorId::new(), MonitorId::new());
        janitor.keep(a, beat(2_000, 1_000));
        janitor.keep(b, beat(2_000, 1_000));
        for (id, at) in [(a, 10_000), (b, 10_000), (a, 11_000)] {
            let (row, result) =
                janitor.ping(&HeartbeatPing { monitor_id: id, ..ping(at, PingKind::Success, None, None) });
            assert!(row.is_some() && result.is_some());
        }
        // a's first deadline (13 s) is stale: its second ping moved it to 14 s.
        assert_eq!(janitor.next_due(), Some(13_000));
        let (results, touched) = janitor.expire(13_500);
        assert_eq!(results.iter().map(|r| r.monitor_id).collect::<Vec<_>>(), [b]);
        assert_eq!(touched.into_iter().collect::<Vec<_>>(), [b]);
        let (results, _) = janitor.expire(14_000);
        assert_eq!(results.iter().map(|r| (r.monitor_id, r.slot_ms)).collect::<Vec<_>>(), [(a, 14_000)]);
        assert!(janitor.expire(100_000).0.is_empty(), "each miss is reported once");
        // Pings of a monitor it does not keep are nothing.
        assert_eq!(janitor.ping(&ping(1, PingKind::Success, None, None)), (None, None));
    }

    #[test]
    fn paused_monitors_expect_nothing() {
        let mut b = beat(2_000, 1_000);
        b.ping(&ping(10_000, PingKind::Success, None, None));
        b.paused = true;
        assert_eq!(b.due(), None);
        assert!(b.expire(100_000).is_empty());
    }
}
