//! One owned partition: its results, in stream order, batch by batch.
//!
//! A batch goes through these steps, each retried with back-off until it
//! succeeds or the lease is lost. Screening: each result is held against
//! the subject it came on (the only thing a prober's NATS account vouches
//! for) and, once monitors first met (or changed, or not known to be checked
//! from the result's region) are loaded from Postgres with their remembered
//! state, against its monitor's team and regions; a forged result is
//! terminated, counted and logged, and goes no further. Then the rest: rows
//! into ClickHouse and, at the same time, the state machine's changes
//! committed to Postgres with their events in the outbox, re-checks and
//! events published (so an outage is paged without waiting for ClickHouse).
//! Only when both are done is the batch acked. While a step waits for a store, the batch's messages get
//! progress acks, so they are not redelivered behind our back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use statushawk_common::db::Failure;
use statushawk_nats::async_nats::jetstream::consumer::PullConsumer;
use statushawk_nats::{Delivery, TraceContext, evaluator_consumer};
use statushawk_schemas::{CheckResult, Forgery, IncidentEventKind, MonitorId, UnixMs, now_ms, partition_of, subject};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::Shared;
use crate::sink::ResultRow;
use crate::state::{self, Applied, Changes, Event, Monitor, MonitorState};
use crate::steps::{Abandoned, Outgoing, Poison, fetch, publish_all, retry, sleep_or};
use crate::store::{self, Pending};

/// A monitor this partition has met.
struct Entry {
    /// Its configuration; `None` after a change, until reloaded.
    monitor: Option<Monitor>,
    /// The version [`Entry::monitor`] was loaded at ([`store::Loaded::version`]).
    version: i64,
    state: MonitorState,
}

/// Works on `partition` until `stop` (finish the batch in hand, then return)
/// or `lost` (return at once).
pub(crate) async fn run(partition: u16, shared: Arc<Shared>, stop: CancellationToken, lost: CancellationToken) {
    let (changed_tx, mut changed) = mpsc::unbounded_channel();
    let (beats_tx, mut beats_changed) = mpsc::unbounded_channel();
    shared.config_changes.lock().unwrap_or_else(|e| e.into_inner()).insert(partition, vec![changed_tx, beats_tx]);
    let _deregister = Deregister { shared: shared.clone(), partition };
    // Results, and the heartbeat janitor (which publishes results of its own).
    let (results, beats) = tokio::join!(
        work(partition, &shared, &mut changed, &stop, &lost),
        crate::heartbeats::run(partition, &shared, &mut beats_changed, &stop, &lost),
    );
    if results.is_err() || beats.is_err() {
        // Either half losing the lease loses it for both.
        lost.cancel();
        debug!(partition, "Partition work abandoned.");
    }
}

struct Deregister {
    shared: Arc<Shared>,
    partition: u16,
}

impl Drop for Deregister {
    fn drop(&mut self) {
        self.shared.config_changes.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.partition);
    }
}

async fn work(
    partition: u16,
    shared: &Shared,
    changed: &mut mpsc::UnboundedReceiver<MonitorId>,
    stop: &CancellationToken,
    lost: &CancellationToken,
) -> Result<(), Abandoned> {
    // Events a previous owner committed but did not get to publish.
    let pg = &shared.pg;
    let pending = retry(lost, "reading the event outbox", move || store::outbox(pg, partition)).await?;
    if !pending.is_empty() {
        info!(partition, events = pending.len(), "Publishing events left in the outbox.");
        publish_events(shared, &pending, lost).await?;
    }
    let consumer: PullConsumer = retry(lost, "opening the partition's consumer", move || async move {
        let stream = shared.js.get_stream_no_info(shared.topology.stream(statushawk_nats::CHECK_RESULTS)).await?;
        stream.get_consumer(&evaluator_consumer(partition)).await
    })
    .await?;
    let mut monitors: HashMap<MonitorId, Entry> = HashMap::new();
    let label = partition.to_string();
    let mut reconciled = tokio::time::Instant::now();
    while !stop.is_cancelled() {
        if reconciled.elapsed() >= shared.settings.reconcile {
            publish_left(partition, shared, lost).await?;
            reconcile(partition, shared, &monitors, lost).await?;
            reconciled = tokio::time::Instant::now();
        }
        while let Ok(id) = changed.try_recv() {
            if let Some(entry) = monitors.get_mut(&id) {
                entry.monitor = None;
            }
        }
        let batch = tokio::select! {
            () = lost.cancelled() => return Err(Abandoned),
            () = stop.cancelled() => return Ok(()),
            batch = fetch::<CheckResult>(&consumer, shared.settings.batch_max, shared.settings.batch_wait) => batch,
        };
        let deliveries = match batch {
            Ok(deliveries) => deliveries,
            Err(err) => {
                warn!(partition, error = %err, "Fetching results failed; retrying.");
                sleep_or(lost, Duration::from_secs(1)).await?;
                continue;
            }
        };
        let Some(last) = deliveries.last() else { continue };
        metrics::gauge!(crate::metrics::PENDING, "partition" => label.clone()).set(last.pending() as f64);
        metrics::histogram!(crate::metrics::BATCH_RESULTS).record(deliveries.len() as f64);
        let every = shared.topology.result_ack_wait / 3;
        let verdicts =
            match keep_alive(&deliveries, every, screen(partition, shared, &mut monitors, &deliveries, lost)).await {
                Ok(verdicts) => verdicts,
                Err(Abandoned) => {
                    futures::future::join_all(deliveries.into_iter().map(|d| d.nak(Duration::ZERO))).await;
                    return Err(Abandoned);
                }
            };
        let (deliveries, forged): (Vec<_>, Vec<_>) =
            deliveries.into_iter().zip(verdicts).partition(|(_, verdict)| verdict.is_none());
        let deliveries: Vec<Delivery<CheckResult>> = deliveries.into_iter().map(|(d, _)| d).collect();
        refuse(forged).await;
        if deliveries.is_empty() {
            continue;
        }
        let span = tracing::info_span!("batch", partition, results = deliveries.len());
        let work = process(partition, shared, &mut monitors, &deliveries, lost);
        let outcome = keep_alive(&deliveries, every, tracing::Instrument::instrument(work, span)).await;
        match outcome {
            Ok(poisoned) => {
                let deliveries = set_aside(shared, deliveries, &poisoned).await;
                let acks = futures::future::join_all(deliveries.into_iter().map(Delivery::ack)).await;
                if let Some(Err(err)) = acks.into_iter().find(Result::is_err) {
                    // Redelivered later; the state machine and the sink skip what they have seen.
                    warn!(partition, error = %err, "Acking results failed.");
                }
            }
            Err(Abandoned) => {
                // Hand the batch straight to the next owner instead of waiting for the ack wait.
                futures::future::join_all(deliveries.into_iter().map(|d| d.nak(Duration::ZERO))).await;
                return Err(Abandoned);
            }
        }
    }
    Ok(())
}

/// How long a reconcile waits for Postgres before it gives up until the
/// next period.
const RECONCILE_WAIT: Duration = Duration::from_secs(2);

/// Outbox rows older than this are taken for left behind by whoever wrote
/// them (the API, whose own publish failed) and published by the
/// partition's owner.
const OUTBOX_LEFT_AFTER: Duration = Duration::from_secs(10);

/// Publishes what others left in the partition's outbox: events of what
/// people did, which the API writes there and publishes itself, unless it
/// failed to. One brief try per period, like the reconcile.
async fn publish_left(partition: u16, shared: &Shared, lost: &CancellationToken) -> Result<(), Abandoned> {
    let left = tokio::select! {
        () = lost.cancelled() => return Err(Abandoned),
        tried = tokio::time::timeout(RECONCILE_WAIT, store::outbox_left(&shared.pg, partition, OUTBOX_LEFT_AFTER)) => {
            match tried {
                Ok(Ok(left)) => left,
                Ok(Err(err)) => {
                    warn!(partition, error = %err, "Reading the event outbox failed; trying again next period.");
                    return Ok(());
                }
                Err(_) => return Ok(()),
            }
        }
    };
    if !left.is_empty() {
        info!(partition, events = left.len(), "Publishing events left in the outbox.");
        publish_events(shared, &left, lost).await?;
    }
    Ok(())
}

/// Heals a lost `CONFIG` message: compares the version of every monitor
/// held with Postgres, in one query, and has each one changed or deleted
/// since it was loaded reloaded, as a `CONFIG` change would (the heartbeat
/// janitor hears of it too).
async fn reconcile(
    partition: u16,
    shared: &Shared,
    monitors: &HashMap<MonitorId, Entry>,
    lost: &CancellationToken,
) -> Result<(), Abandoned> {
    let held: Vec<MonitorId> = monitors.iter().filter(|(_, e)| e.monitor.is_some()).map(|(id, _)| *id).collect();
    if held.is_empty() {
        return Ok(());
    }
    // One try, briefly: the results go on without Postgres (their rows into
    // ClickHouse), so the reconcile must not hold them up; it comes again
    // next period.
    let versions = tokio::select! {
        () = lost.cancelled() => return Err(Abandoned),
        tried = tokio::time::timeout(RECONCILE_WAIT, store::versions(&shared.pg, &held)) => match tried {
            Ok(Ok(versions)) => versions,
            Ok(Err(err)) => {
                warn!(partition, error = %err, "Reconciling monitors failed; trying again next period.");
                return Ok(());
            }
            Err(_) => {
                warn!(partition, "Reconciling monitors timed out; trying again next period.");
                return Ok(());
            }
        },
    };
    let stale: Vec<MonitorId> = held.into_iter().filter(|id| versions.get(id) != Some(&monitors[id].version)).collect();
    if !stale.is_empty() {
        info!(partition, monitors = stale.len(), "Reconcile: reloading monitors changed without a CONFIG message.");
        metrics::counter!(crate::metrics::RECONCILED_MONITORS_TOTAL).increment(stale.len() as u64);
    }
    for id in stale {
        shared.changed(partition, id);
    }
    Ok(())
}

/// Holds each result against the subject it came on and against its
/// monitor (loading the monitors it needs): `Some(why)` for a forged one.
///
/// Monitors are loaded here, before anything is written, because the team
/// check needs them; a result's row therefore waits for its monitor's first
/// read, and the rows still reach ClickHouse before the state changes they
/// cause are committed, and both before the ack.
async fn screen(
    partition: u16,
    shared: &Shared,
    monitors: &mut HashMap<MonitorId, Entry>,
    deliveries: &[Delivery<CheckResult>],
    lost: &CancellationToken,
) -> Result<Vec<Option<Forgery>>, Abandoned> {
    let partitions = shared.topology.partitions;
    let mut verdicts: Vec<Option<Forgery>> = deliveries
        .iter()
        .map(|d| {
            let r = d.payload();
            let subject = shared.topology.unprefixed(d.subject()).ok_or(Forgery::Subject)?;
            r.matches_subject(subject, partitions)?;
            // The consumer's filter already ensures it; kept so that no
            // result is ever evaluated by another partition's owner.
            if partition_of(r.monitor_id, partitions) != partition {
                return Err(Forgery::Partition);
            }
            Ok(())
        })
        .map(Result::err)
        .collect();

    // Monitors met for the first time, changed since, or not (yet) known to
    // be checked from a result's region (a region added a moment ago).
    let mut missing: Vec<MonitorId> = deliveries
        .iter()
        .zip(&verdicts)
        .filter(|(_, verdict)| verdict.is_none())
        .map(|(d, _)| d.payload())
        .filter(|r| {
            monitors
                .get(&r.monitor_id)
                .and_then(|e| e.monitor.as_ref())
                .is_none_or(|monitor| !monitor.regions.contains(&r.region))
        })
        .map(|r| r.monitor_id)
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if !missing.is_empty() {
        let (pg, ids) = (&shared.pg, &missing);
        let mut loaded =
            retry(lost, "loading monitors", move || store::load(pg, shared.secrets.as_ref(), ids, true)).await?;
        for id in missing {
            match (loaded.remove(&id), monitors.get_mut(&id)) {
                (Some(fresh), Some(entry)) => (entry.monitor, entry.version) = (Some(fresh.monitor), fresh.version),
                (Some(fresh), None) => {
                    let entry = Entry { monitor: Some(fresh.monitor), version: fresh.version, state: fresh.state };
                    monitors.insert(id, entry);
                }
                // Deleted (or unknown): nothing to hold it against; its
                // results are stored, not evaluated.
                (None, _) => {
                    monitors.remove(&id);
                }
            }
        }
    }

    for (d, verdict) in deliveries.iter().zip(verdicts.iter_mut()) {
        let r = d.payload();
        if verdict.is_none()
            && let Some(Entry { monitor: Some(monitor), .. }) = monitors.get(&r.monitor_id)
        {
            *verdict = r.matches_monitor(monitor.team_id, &monitor.regions).err();
        }
    }
    Ok(verdicts)
}

/// Terminates forged results: counted, logged with their subject, and never
/// redelivered.
async fn refuse(forged: Vec<(Delivery<CheckResult>, Option<Forgery>)>) {
    let terms = forged.into_iter().filter_map(|(delivery, why)| {
        let why = why?;
        metrics::counter!(crate::metrics::FORGED_RESULTS_TOTAL, "reason" => why.as_str()).increment(1);
        Some(async move {
            let reason = format!("forged result: {why}");
            if let Err(err) = delivery.term(&reason).await {
                // Redelivered after the ack wait, and refused again.
                warn!(error = %err, "Terminating a forged result failed.");
            }
        })
    });
    futures::future::join_all(terms).await;
}

/// Sets the results of monitors whose changes Postgres refuses for good
/// aside on `deadletter.evaluator` (each then terminated), and gives back
/// the rest.
async fn set_aside(
    shared: &Shared,
    deliveries: Vec<Delivery<CheckResult>>,
    poisoned: &HashMap<MonitorId, Poison>,
) -> Vec<Delivery<CheckResult>> {
    let (bad, good): (Vec<_>, Vec<_>) =
        deliveries.into_iter().partition(|d| poisoned.contains_key(&d.payload().monitor_id));
    let letters = bad.into_iter().map(|delivery| async move {
        let poison = &poisoned[&delivery.payload().monitor_id];
        metrics::counter!(crate::metrics::DEAD_LETTERS_TOTAL, "reason" => poison.reason.clone()).increment(1);
        let msg_id = delivery.payload().msg_id();
        if let Err(err) =
            delivery.dead_letter(&shared.publisher, poison.set_aside("committing to Postgres"), &msg_id).await
        {
            // Unsettled: redelivered after the ack wait, and set aside then.
            warn!(error = %err, "Setting a result aside failed.");
        }
    });
    futures::future::join_all(letters).await;
    good
}

/// A result this long after its slot may have been written before without
/// the message saying so: a nats-server killed and started again can lose
/// its last acks (the result comes again as a first delivery) and its last
/// duplicate ids (a check run twice publishes its result twice). Such
/// results are looked up in ClickHouse before they are written
/// (`faults::no_check_is_lost_or_doubled_…`, NATS restart: 21 rows doubled
/// without this).
const MAYBE_SEEN_AFTER_MS: i64 = 10_000;

/// Side effects of genuine results; their monitors are loaded ([`screen`]).
/// Returns the monitors whose changes Postgres refuses for good: their
/// results are to be set aside, the rest of the batch went through.
async fn process(
    partition: u16,
    shared: &Shared,
    monitors: &mut HashMap<MonitorId, Entry>,
    deliveries: &[Delivery<CheckResult>],
    lost: &CancellationToken,
) -> Result<HashMap<MonitorId, Poison>, Abandoned> {
    let results: Vec<&CheckResult> = deliveries.iter().map(Delivery::payload).collect();
    let now = now_ms();
    for r in &results {
        metrics::counter!(crate::metrics::RESULTS_TOTAL, "status" => r.status.as_str()).increment(1);
        metrics::histogram!(crate::metrics::LAG_SECONDS).record((now - r.started_at_ms).max(0) as f64 / 1000.0);
    }

    // 1. Every genuine result into ClickHouse, while the state machines
    // decide: paging does not wait for the analytics store (nor for its
    // batching), and the batch is acked only when both are done.
    let rows: Vec<ResultRow> = results.iter().map(|r| ResultRow::from(*r)).collect();
    let maybe_stored = deliveries.iter().any(|d| d.delivered() > 1 || now - d.payload().slot_ms > MAYBE_SEEN_AFTER_MS);
    let write = async {
        tokio::select! {
            () = lost.cancelled() => Err(Abandoned),
            written = shared.sink.write(rows, maybe_stored) => written.map_err(|_| Abandoned),
        }
    };
    let (written, decided) = tokio::join!(write, decide(partition, shared, monitors, deliveries, now, lost));
    written?;
    decided
}

/// Steps 2 and 3 of a batch: the state machines, their changes committed,
/// re-checks and events published.
async fn decide(
    partition: u16,
    shared: &Shared,
    monitors: &mut HashMap<MonitorId, Entry>,
    deliveries: &[Delivery<CheckResult>],
    now: UnixMs,
    lost: &CancellationToken,
) -> Result<HashMap<MonitorId, Poison>, Abandoned> {
    // 2. The state machines.
    let mut changes = Changes::default();
    let mut traces = Traces::new();
    for delivery in deliveries {
        let r = delivery.payload();
        let Some(Entry { monitor: Some(monitor), state, .. }) = monitors.get_mut(&r.monitor_id) else { continue };
        if apply(monitor, state, delivery, now, &mut changes, &mut traces) == Applied::Stale {
            metrics::counter!(crate::metrics::STALE_RESULTS_TOTAL).increment(1);
        }
    }
    if changes.is_empty() {
        return Ok(HashMap::new());
    }
    let (pending, poisoned) = match commit(partition, shared, &mut changes, &traces, monitors, lost).await? {
        Ok(pending) => (pending, HashMap::new()),
        Err(poison) => {
            let isolated = isolate(partition, shared, monitors, deliveries, now, poison, lost).await?;
            (changes, traces) = (isolated.changes, isolated.traces);
            (isolated.pending, isolated.poisoned)
        }
    };

    // 3. Re-checks and events out.
    if !changes.rechecks.is_empty() {
        let rechecks: Vec<Outgoing> = changes
            .rechecks
            .iter()
            .map(|r| {
                let trace = traces.get(&r.msg_id).copied();
                in_hop(r.monitor_id, trace.as_ref(), || debug!(region = %r.region, "Re-check requested."));
                Outgoing {
                    subject: subject::checks_urgent(&r.region),
                    msg_id: r.msg_id.clone(),
                    payload: r.payload.clone(),
                    trace,
                }
            })
            .collect();
        publish_all(shared, "publishing re-checks", &rechecks, lost).await?;
        metrics::counter!(crate::metrics::RECHECKS_TOTAL).increment(changes.rechecks.len() as u64);
    }
    publish_events(shared, &pending, lost).await?;
    for event in &changes.events {
        in_hop(event.monitor_id(), traces.get(&event.msg_id()), || log_event(event));
    }
    Ok(poisoned)
}

/// The evaluator's hop of the trace of each result that caused something,
/// by the message id of what it caused (re-checks, events): they carry it
/// on (`traceparent`), through the outbox for events.
type Traces = HashMap<String, TraceContext>;

/// Applies one result to its monitor's state machine, and records the hop
/// of its trace for the re-checks and events it causes.
fn apply(
    monitor: &Monitor,
    state: &mut MonitorState,
    delivery: &Delivery<CheckResult>,
    now: statushawk_schemas::UnixMs,
    changes: &mut Changes,
    traces: &mut Traces,
) -> Applied {
    let (events, rechecks) = (changes.events.len(), changes.rechecks.len());
    let applied = state::apply(monitor, state, delivery.payload(), now, changes);
    if changes.events.len() > events || changes.rechecks.len() > rechecks {
        let hop = TraceContext::continue_from(delivery.trace());
        for event in &changes.events[events..] {
            traces.insert(event.msg_id(), hop);
        }
        for recheck in &changes.rechecks[rechecks..] {
            traces.insert(recheck.msg_id.clone(), hop);
        }
    }
    applied
}

/// Runs `log` in a span of the result's hop of its trace (`trace_id`,
/// `span_id`, `parent_id`), so the lines of what the result caused join the
/// lines of the check that produced it.
fn in_hop(monitor_id: MonitorId, trace: Option<&TraceContext>, log: impl FnOnce()) {
    statushawk_nats::hop_span!("result", trace, %monitor_id).in_scope(log);
}

/// What [`isolate`] committed, and what it could not.
struct Isolated {
    /// The outbox rows of what was committed.
    pending: Vec<Pending>,
    /// The changes committed (their re-checks and events go out).
    changes: Changes,
    /// The hops of the traces of what they caused.
    traces: Traces,
    /// The monitors whose changes Postgres refuses, with why.
    poisoned: HashMap<MonitorId, Poison>,
}

/// A batch's commit failed for good: finds the monitors at fault by
/// evaluating and committing each monitor's results on its own, from the
/// state Postgres has (what the failed transaction changed in memory is
/// dropped). A monitor whose changes are refused again is poisoned; it is
/// reloaded when its next result comes.
async fn isolate(
    partition: u16,
    shared: &Shared,
    monitors: &mut HashMap<MonitorId, Entry>,
    deliveries: &[Delivery<CheckResult>],
    now: statushawk_schemas::UnixMs,
    poison: Poison,
    lost: &CancellationToken,
) -> Result<Isolated, Abandoned> {
    warn!(partition, reason = %poison.reason, error = %poison.error, "A batch's changes are refused; isolating the monitors at fault.");
    let mut ids: Vec<MonitorId> =
        deliveries.iter().map(|d| d.payload().monitor_id).filter(|id| monitors.contains_key(id)).collect();
    ids.sort_unstable();
    ids.dedup();
    let (pg, wanted) = (&shared.pg, &ids);
    let mut fresh =
        retry(lost, "loading monitors", move || store::load(pg, shared.secrets.as_ref(), wanted, true)).await?;
    let mut out =
        Isolated { pending: Vec::new(), changes: Changes::default(), traces: Traces::new(), poisoned: HashMap::new() };
    for id in ids {
        monitors.remove(&id);
        let Some(loaded) = fresh.remove(&id) else { continue };
        let mut entry = Entry { monitor: Some(loaded.monitor), version: loaded.version, state: loaded.state };
        let mut changes = Changes::default();
        let mut traces = Traces::new();
        if let Some(monitor) = &entry.monitor {
            for delivery in deliveries.iter().filter(|d| d.payload().monitor_id == id) {
                apply(monitor, &mut entry.state, delivery, now, &mut changes, &mut traces);
            }
        }
        match commit(partition, shared, &mut changes, &traces, monitors, lost).await? {
            Ok(pending) => {
                out.pending.extend(pending);
                out.changes.events.extend(changes.events);
                out.changes.rechecks.extend(changes.rechecks);
                out.traces.extend(traces);
                monitors.insert(id, entry);
            }
            // Left out of `monitors`: loaded again, from Postgres, when it is next met.
            Err(poison) => {
                out.poisoned.insert(id, poison);
            }
        }
    }
    Ok(out)
}

/// Commits the batch's changes; when a monitor was deleted meanwhile, its
/// changes are dropped and the rest committed. A transient failure is
/// retried; a permanent one (bad data, a constraint) is returned.
async fn commit(
    partition: u16,
    shared: &Shared,
    changes: &mut Changes,
    traces: &Traces,
    monitors: &mut HashMap<MonitorId, Entry>,
    lost: &CancellationToken,
) -> Result<Result<Vec<Pending>, Poison>, Abandoned> {
    let mut backoff = Duration::from_millis(200);
    loop {
        match store::commit(&shared.pg, partition, &changes.writes, &changes.events, traces).await {
            Ok(pending) => return Ok(Ok(pending)),
            Err(err) if store::is_monitor_gone(&err) => {
                let mut ids: Vec<MonitorId> = changes.writes.iter().filter_map(state::Write::monitor_id).collect();
                ids.sort_unstable();
                ids.dedup();
                let (pg, ids) = (&shared.pg, &ids);
                let exist =
                    retry(lost, "loading monitors", move || store::load(pg, shared.secrets.as_ref(), ids, false))
                        .await?;
                let gone = |id: MonitorId| !exist.contains_key(&id);
                changes.writes.retain(|w| w.monitor_id().is_none_or(|id| !gone(id)));
                changes.events.retain(|e| !gone(e.monitor_id()));
                changes.rechecks.retain(|r| !gone(r.monitor_id));
                monitors.retain(|id, _| !gone(*id));
                continue;
            }
            Err(err) => match store::failure(&err) {
                Failure::Permanent(reason) => return Ok(Err(Poison { reason, error: err.to_string() })),
                Failure::Transient => {
                    metrics::counter!(crate::metrics::STEP_RETRIES_TOTAL, "step" => "committing to Postgres")
                        .increment(1);
                    warn!(partition, error = %err, retry_in = ?backoff, "Committing to Postgres failed; retrying.");
                }
            },
        }
        sleep_or(lost, backoff).await?;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn publish_events(shared: &Shared, pending: &[Pending], lost: &CancellationToken) -> Result<(), Abandoned> {
    if pending.is_empty() {
        return Ok(());
    }
    let events: Vec<Outgoing> = pending
        .iter()
        .map(|e| Outgoing {
            subject: e.subject.clone(),
            msg_id: e.msg_id.clone(),
            payload: bytes::Bytes::from(e.payload.clone().into_bytes()),
            trace: e.trace,
        })
        .collect();
    publish_all(shared, "publishing events", &events, lost).await?;
    let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
    // A failure here only means the events are published again later, under
    // the same message ids.
    if let Err(err) = store::published(&shared.pg, &ids).await {
        warn!(error = %err, "Clearing published events from the outbox failed.");
    }
    Ok(())
}

fn log_event(event: &Event) {
    match event {
        Event::Incident(e) => {
            let kind = e.kind.as_str();
            metrics::counter!(crate::metrics::INCIDENTS_TOTAL, "event" => kind).increment(1);
            match e.kind {
                IncidentEventKind::Opened => info!(
                    monitor_id = %e.monitor_id, name = %e.monitor_name, incident_id = %e.incident_id,
                    regions = ?e.affected_regions, cause = %e.cause, "Incident opened."
                ),
                IncidentEventKind::Updated => info!(
                    monitor_id = %e.monitor_id, incident_id = %e.incident_id, regions = ?e.affected_regions, "Incident updated."
                ),
                IncidentEventKind::Resolved => info!(
                    monitor_id = %e.monitor_id, name = %e.monitor_name, incident_id = %e.incident_id, "Incident resolved."
                ),
                // People's events are the API's, never the state machine's.
                IncidentEventKind::Acknowledged => {}
            }
        }
        Event::Status(e) => {
            info!(monitor_id = %e.monitor_id, status = ?e.status, previous = ?e.previous, "Status changed.");
        }
    }
}

/// Runs `work`, sending progress acks for `deliveries` every `every` until it ends.
async fn keep_alive<T>(deliveries: &[Delivery<CheckResult>], every: Duration, work: impl Future<Output = T>) -> T {
    tokio::pin!(work);
    let every = every.max(Duration::from_millis(100));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => {
                for delivery in deliveries {
                    let _ = delivery.in_progress().await;
                }
            }
        }
    }
}
