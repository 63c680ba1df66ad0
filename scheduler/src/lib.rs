//! The scheduler: one leader, elected through the `scheduler` lease, turns
//! every active monitor into a due check per region at each of its slots.
//!
//! The leader keeps an in-memory [`index::Index`] of monitors, filled from
//! Postgres and kept current from the `CONFIG` stream, reconciled against
//! Postgres periodically. Its loop sleeps until the next slot, builds the due
//! checks, and hands them to the [`publish`] task; it never waits on NATS.
//! When the lease is lost the loop and the publisher stop at once: the lease
//! fires before its TTL ends, so no two leaders publish together, and slots
//! are deterministic, so the next leader's ids match ([`slot`]).

pub mod bench;
pub mod index;
pub mod metrics;
pub mod publish;
pub mod slot;
pub mod source;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::value::RawValue;
use sqlx::PgPool;
use statushawk_nats::async_nats::jetstream;
use statushawk_nats::{Lease, Leases, Publisher, Topology};
use statushawk_schemas::{DueCheckRaw, Region, SCHEMA_VERSION, UnixMs, msg_id, subject};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::index::{Index, Monitor};
use crate::publish::{LagLog, Outgoing, Queue};
use crate::source::Update;

/// The lease key of the scheduler's leadership.
pub const LEASE_KEY: &str = "scheduler";

/// Scheduler settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// This instance's id in the lease (host name and process id, say).
    pub instance: String,
    /// How often the index is reconciled against Postgres.
    pub reconcile_every: Duration,
    /// Due checks the publisher may be behind before new ones are dropped.
    pub max_backlog: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            instance: format!("scheduler-{}", std::process::id()),
            reconcile_every: Duration::from_secs(60),
            max_backlog: 200_000,
        }
    }
}

/// What the scheduler works with.
#[derive(Clone)]
pub struct Deps {
    /// JetStream.
    pub js: jetstream::Context,
    /// The deployment's layout.
    pub topology: Topology,
    /// Postgres, the source of monitors.
    pub pg: PgPool,
    /// Opens monitors' sealed credentials (`None`: monitors with
    /// credentials are not scheduled, and counted as invalid).
    pub secrets: Option<statushawk_common::secrets::SecretBox>,
}

pub use statushawk_schemas::now_ms;

/// Runs until `shutdown`: waits for leadership, leads until the lease is
/// lost, and waits again.
pub async fn run(settings: Settings, deps: Deps, shutdown: CancellationToken) -> anyhow::Result<()> {
    let leases = Leases::open(&deps.js, &deps.topology).await?;
    ::metrics::gauge!(crate::metrics::LEADER).set(0.0);
    loop {
        let Some(lease) = leases.acquire(LEASE_KEY, &settings.instance, &shutdown).await else {
            return Ok(());
        };
        info!(instance = %settings.instance, "Leading: scheduling monitors.");
        ::metrics::gauge!(crate::metrics::LEADER).set(1.0);
        let outcome = lead(&settings, &deps, &lease, &shutdown).await;
        ::metrics::gauge!(crate::metrics::LEADER).set(0.0);
        ::metrics::gauge!(crate::metrics::MONITORS).set(0.0);
        let lost = !lease.is_held();
        if let Err(err) = lease.release().await {
            warn!(error = %err, "Releasing the scheduler lease failed; it will expire.");
        }
        if shutdown.is_cancelled() {
            return Ok(());
        }
        match outcome {
            Ok(()) if lost => warn!("Scheduler lease lost; stopped publishing and waiting to lead again."),
            Ok(()) => {}
            Err(err) => {
                warn!(error = %err, "Scheduling failed; gave up leadership, retrying shortly.");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// Leads until the lease is lost or `shutdown` fires.
async fn lead(settings: &Settings, deps: &Deps, lease: &Lease, shutdown: &CancellationToken) -> anyhow::Result<()> {
    // Follow changes first, then read Postgres: a change committed while
    // the rows stream in is not missed (versions settle which one wins).
    let (updates_tx, updates) = mpsc::channel(16_384);
    let (js, topology, tx) = (deps.js.clone(), deps.topology.clone(), updates_tx.clone());
    let secrets = deps.secrets.clone();
    let _watcher = AbortOnDrop(tokio::spawn(async move {
        // The reconcile heals whatever a broken subscription misses.
        while let Err(err) = source::watch_config(js.clone(), topology.clone(), secrets.clone(), tx.clone()).await {
            warn!(error = %err, "Following configuration changes failed; retrying.");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }));
    let pg = deps.pg.clone();
    let secrets = deps.secrets.clone();
    let reconcile =
        move || AbortOnDrop(tokio::spawn(source::reconcile(pg.clone(), secrets.clone(), updates_tx.clone())));
    let stop = CancellationToken::new();
    let _stop_on_exit = stop.clone().drop_guard();
    let lost = lease.lost();
    let stop_when_lost = stop.clone();
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = lost.cancelled() => stop_when_lost.cancel(),
            () = shutdown.cancelled() => stop_when_lost.cancel(),
            () = stop_when_lost.cancelled() => {}
        }
    });
    let publisher = Publisher::new(deps.js.clone(), deps.topology.clone());
    let resume = Resume { from_ms: now_ms() - catch_up(&deps.topology) };
    schedule(
        Index::new(),
        updates,
        Some((reconcile, settings.reconcile_every)),
        publisher,
        stop,
        Loop { max_backlog: settings.max_backlog, lags: None, resume: Some(resume) },
    )
    .await
}

/// How far back a new leader publishes slots the one before may have
/// missed: half the due-check stream's duplicate window, so that a slot the
/// old leader did publish is re-published inside the window and dropped by
/// the stream as a duplicate (ids are the same, see [`slot`]).
pub fn catch_up(topology: &Topology) -> i64 {
    i64::try_from(topology.due_duplicate_window.as_millis() / 2).unwrap_or(i64::MAX)
}

/// Where a new leader starts: monitors of its first reconcile pass are armed
/// at their first slot after `from_ms` whose deadline has not passed, never
/// before the configuration they run with (`version_ms`). A take-over or a
/// NATS restart shorter than that loses no check.
#[derive(Clone, Copy, Debug)]
struct Resume {
    from_ms: UnixMs,
}

impl Resume {
    /// When `monitor`'s first slot may be.
    fn arm_from(self, monitor: &Monitor, now: UnixMs) -> UnixMs {
        let within_deadline = now - i64::from(monitor.interval_ms) + 1;
        self.from_ms.max(within_deadline).max(monitor.version_ms).min(now)
    }
}

/// How the scheduling loop publishes and starts.
struct Loop {
    /// Due checks waiting for the publisher at most.
    max_backlog: usize,
    /// Where the benchmark records publish lags.
    lags: Option<Arc<LagLog>>,
    /// Where a new leader starts ([`Resume`]); `None`: at the next slots.
    resume: Option<Resume>,
}

/// The scheduling loop: fires due monitors, applies updates, starts
/// reconcile passes, until `stop` fires or the updates end.
async fn schedule<R: FnMut() -> AbortOnDrop<()>>(
    mut index: Index,
    mut updates: mpsc::Receiver<Update>,
    reconcile: Option<(R, Duration)>,
    publisher: Publisher,
    stop: CancellationToken,
    options: Loop,
) -> anyhow::Result<()> {
    let Loop { max_backlog, lags, mut resume } = options;
    let (queue, publishing) = publish::start(publisher, stop.clone(), max_backlog, lags);
    let (mut start_reconcile, reconcile_every) = match reconcile {
        Some((start, every)) => (Some(start), every),
        None => (None, Duration::from_secs(3600)),
    };
    let mut reconciling = start_reconcile.as_mut().map(|start| start());
    let mut reconcile_timer = tokio::time::interval(reconcile_every);
    reconcile_timer.tick().await; // the first tick is now: the pass above

    let mut epoch = None;
    let mut subjects = Subjects::default();
    let mut result = Ok(());
    loop {
        fire(&mut index, &queue, &mut subjects);
        let sleep = match index.next_due() {
            Some(due) => Duration::from_millis(u64::try_from(due - now_ms()).unwrap_or(0)),
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            () = tokio::time::sleep(sleep) => {}
            update = updates.recv() => {
                let Some(update) = update else { break };
                // Apply a run of updates, firing due monitors in between, so
                // a large reconcile never delays a slot.
                let mut next = Some(update);
                let mut applied = 0;
                while let Some(update) = next.take() {
                    match apply(&mut index, update, &mut epoch, resume) {
                        Ok(Some(removed)) => {
                            info!(removed, monitors = index.len(), "Reconciled with Postgres.");
                            reconciling = None;
                            resume = None;
                        }
                        Ok(None) => {}
                        Err(err) => result = Err(err),
                    }
                    applied += 1;
                    if applied % 1024 == 0 {
                        fire(&mut index, &queue, &mut subjects);
                    }
                    if applied < 65_536 {
                        next = updates.try_recv().ok();
                    }
                }
                ::metrics::gauge!(crate::metrics::MONITORS).set(index.len() as f64);
                if result.is_err() {
                    break;
                }
            }
            _ = reconcile_timer.tick() => {
                if let Some(start) = start_reconcile.as_mut()
                    && reconciling.as_ref().is_none_or(|task| task.0.is_finished())
                {
                    reconciling = Some(start());
                }
            }
        }
    }
    stop.cancel();
    let _ = publishing.await;
    result
}

/// Applies one update; returns `Some(removed)` when a reconcile pass ends.
fn apply(
    index: &mut Index,
    update: Update,
    epoch: &mut Option<u32>,
    resume: Option<Resume>,
) -> anyhow::Result<Option<usize>> {
    let now = now_ms();
    match update {
        Update::ReconcileStart => *epoch = Some(index.begin_reconcile()),
        Update::Row(monitor) | Update::Upsert(monitor) => {
            let from = resume.map_or(now, |resume| resume.arm_from(&monitor, now));
            index.upsert(monitor, from)?;
        }
        Update::Remove { id, version_ms } => {
            index.remove(id, version_ms);
        }
        Update::ReconcileDone => {
            if let Some(epoch) = epoch.take() {
                return Ok(Some(index.sweep(epoch)));
            }
        }
        Update::ReconcileFailed => {
            *epoch = None;
            return Ok(Some(0));
        }
    }
    Ok(None)
}

/// Subjects per region, built once.
#[derive(Default)]
struct Subjects(std::collections::HashMap<Region, Arc<str>>);

impl Subjects {
    fn due(&mut self, region: &Region) -> Arc<str> {
        self.0.entry(region.clone()).or_insert_with(|| Arc::from(subject::checks_due(region))).clone()
    }
}

/// Hands every due check up to now to the publisher.
fn fire(index: &mut Index, queue: &Queue, subjects: &mut Subjects) {
    let now = now_ms();
    let mut batch = Vec::new();
    index.fire_due(now, 100_000, |index, entry, slot_ms| {
        let deadline_ms = slot_ms + i64::from(entry.interval_ms);
        let Ok(spec) = serde_json::from_str::<&RawValue>(index.spec_of(entry)) else { return };
        for region in index.regions_of(entry) {
            let message = DueCheckRaw {
                schema_version: SCHEMA_VERSION,
                monitor_id: entry.id,
                team_id: index.team_of(entry),
                region,
                slot_ms,
                attempt: 0,
                deadline_ms,
                timeout_ms: entry.timeout_ms,
                spec,
            };
            let Ok(payload) = serde_json::to_vec(&message) else { continue };
            batch.push(Outgoing {
                subject: subjects.due(region),
                msg_id: msg_id::due(entry.id, region, slot_ms, 0),
                payload: Bytes::from(payload),
                slot_ms,
                deadline_ms,
                trace: statushawk_nats::TraceContext::start(),
            });
        }
    });
    queue.push(batch);
}

/// A task that is aborted when its handle is dropped.
pub struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
