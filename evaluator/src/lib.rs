//! The evaluator: where a probe becomes a fact.
//!
//! Results are partitioned by monitor (`partition_of`); an evaluator owns
//! partitions through `evaluator.<p>` leases and works each one it owns in
//! stream order ([`partition`]), so all results of a monitor are handled in
//! order by one owner. Instances share the partitions: each registers as a
//! member (an `evaluator-member.<instance>` lease) and holds at most
//! `ceil(partitions / members)`, taking free partitions up to that share and
//! handing extras back; a dead instance's leases expire within the lease TTL
//! and the others take its partitions.
//!
//! Per batch: forged results refused (a payload that disagrees with its
//! subject or its monitor: terminated and counted, see [`partition`]), rows
//! into ClickHouse ([`sink`]), the state machine ([`state`]), its changes
//! into Postgres with the events in an outbox ([`store`]), re-checks and
//! events to NATS, then the acks. Next to it, the
//! partition's heartbeat janitor ([`heartbeats`]) turns pings and missed
//! deadlines into results of their own.

mod beat;
pub mod heartbeats;
pub mod metrics;
pub mod partition;
pub mod sink;
pub mod state;
mod steps;
pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use sqlx::PgPool;
use statushawk_nats::async_nats::jetstream;
use statushawk_nats::{Lease, Leases, Publisher, Topology, TraceContext};
use statushawk_schemas::{ConfigOp, MonitorId, fnv1a64, partition_of, subject};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use sink::SinkSettings;

/// The lease key of partition `p`.
pub fn partition_lease(partition: u16) -> String {
    format!("evaluator.{partition}")
}

/// Prefix of the membership leases.
pub const MEMBER_PREFIX: &str = "evaluator-member.";

/// Evaluator settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// This instance's id in its leases.
    pub instance: String,
    /// Results fetched per batch per partition.
    pub batch_max: usize,
    /// How long a fetch waits for results when there are none (it returns
    /// with what there is, never waiting for a batch to fill).
    pub batch_wait: Duration,
    /// ClickHouse batching.
    pub sink: SinkSettings,
    /// How long a partition handed over (or shut down) may take to finish
    /// its batch before it is abandoned for redelivery.
    pub handoff_timeout: Duration,
    /// How often a partition compares the monitors it holds with Postgres
    /// (one query), reloading those changed or deleted since it loaded
    /// them: a configuration change whose `CONFIG` message was lost takes
    /// effect within this period.
    pub reconcile: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            instance: format!("evaluator-{}", std::process::id()),
            batch_max: 1_000,
            batch_wait: Duration::from_millis(500),
            sink: SinkSettings::default(),
            handoff_timeout: Duration::from_secs(10),
            reconcile: Duration::from_secs(60),
        }
    }
}

/// What the evaluator works with.
#[derive(Clone)]
pub struct Deps {
    /// JetStream.
    pub js: jetstream::Context,
    /// The deployment's layout.
    pub topology: Topology,
    /// Postgres: monitors, incidents.
    pub pg: PgPool,
    /// ClickHouse: results.
    pub clickhouse: clickhouse::Client,
    /// Opens monitors' sealed credentials for re-checks (`None`: monitors
    /// with credentials get no re-checks).
    pub secrets: Option<statushawk_common::secrets::SecretBox>,
}

/// What every partition task shares.
pub(crate) struct Shared {
    settings: Settings,
    js: jetstream::Context,
    topology: Topology,
    pg: PgPool,
    sink: sink::Sink,
    /// ClickHouse, for heartbeat pings.
    clickhouse: clickhouse::Client,
    publisher: Publisher,
    /// Opens monitors' sealed credentials.
    secrets: Option<statushawk_common::secrets::SecretBox>,
    /// Where to tell each running partition (its results and its heartbeat
    /// janitor) that a monitor's configuration changed.
    config_changes: Mutex<HashMap<u16, Vec<mpsc::UnboundedSender<MonitorId>>>>,
}

impl Shared {
    /// Tells `partition`'s tasks (its results and its heartbeat janitor)
    /// that `monitor`'s configuration changed.
    fn changed(&self, partition: u16, monitor: MonitorId) {
        if let Some(senders) = self.config_changes.lock().unwrap_or_else(|e| e.into_inner()).get(&partition) {
            for tx in senders {
                let _ = tx.send(monitor);
            }
        }
    }
}

struct Owned {
    lease: Lease,
    stop: CancellationToken,
    abandon: CancellationToken,
    task: JoinHandle<()>,
}

/// Runs until `shutdown`: joins the evaluators, owns a fair share of the
/// partitions, works them, and hands them back on the way out.
pub async fn run(settings: Settings, deps: Deps, shutdown: CancellationToken) -> anyhow::Result<()> {
    let leases = Leases::open(&deps.js, &deps.topology).await?;
    let (sink, sink_task) = sink::Sink::start(deps.clickhouse.clone(), settings.sink.clone());
    let shared = Arc::new(Shared {
        settings: settings.clone(),
        js: deps.js.clone(),
        topology: deps.topology.clone(),
        pg: deps.pg.clone(),
        sink,
        clickhouse: deps.clickhouse.clone(),
        publisher: Publisher::new(deps.js.clone(), deps.topology.clone()),
        secrets: deps.secrets.clone(),
        config_changes: Mutex::new(HashMap::new()),
    });
    let watcher = tokio::spawn(watch_config(shared.clone()));
    let partitions = deps.topology.partitions.max(1);
    // Each instance starts looking at its own place, so instances starting
    // together do not all contend for partition 0.
    let start = u16::try_from(fnv1a64(settings.instance.as_bytes()) % u64::from(partitions)).unwrap_or(0);
    let tick = (leases.ttl() / 5).clamp(Duration::from_millis(100), Duration::from_secs(1));
    let member_key = format!("{MEMBER_PREFIX}{}", settings.instance);
    let mut member: Option<Lease> = None;
    let mut owned: HashMap<u16, Owned> = HashMap::new();
    ::metrics::gauge!(crate::metrics::PARTITIONS_OWNED).set(0.0);

    while !shutdown.is_cancelled() {
        if member.as_ref().is_none_or(|m| !m.is_held()) {
            member = match leases.try_acquire(&member_key, &settings.instance).await {
                Ok(lease) => lease,
                Err(err) => {
                    warn!(error = %err, "Registering as an evaluator failed; retrying.");
                    None
                }
            };
        }
        // Partitions whose lease was lost (or whose task ended) are given up.
        let ended: Vec<u16> =
            owned.iter().filter(|(_, o)| !o.lease.is_held() || o.task.is_finished()).map(|(p, _)| *p).collect();
        for p in ended {
            if let Some(o) = owned.remove(&p) {
                warn!(partition = p, "Partition lost.");
                give_up(o, &settings).await;
            }
        }
        if member.is_some() {
            rebalance(&leases, &shared, &settings, partitions, start, &mut owned).await;
        }
        ::metrics::gauge!(crate::metrics::PARTITIONS_OWNED).set(owned.len() as f64);
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(tick) => {}
        }
    }

    info!(partitions = owned.len(), "Evaluator stopping; handing partitions back.");
    let handbacks = owned.into_values().map(|o| give_up(o, &settings));
    futures::future::join_all(handbacks).await;
    if let Some(member) = member {
        let _ = member.release().await;
    }
    watcher.abort();
    drop(shared);
    let _ = sink_task.await;
    ::metrics::gauge!(crate::metrics::PARTITIONS_OWNED).set(0.0);
    Ok(())
}

/// Takes free partitions up to this instance's share, or hands extras back.
async fn rebalance(
    leases: &Leases,
    shared: &Arc<Shared>,
    settings: &Settings,
    partitions: u16,
    start: u16,
    owned: &mut HashMap<u16, Owned>,
) {
    let members = match leases.held_keys(MEMBER_PREFIX).await {
        Ok(keys) => keys.len().max(1),
        Err(err) => {
            warn!(error = %err, "Listing evaluators failed.");
            return;
        }
    };
    let share = usize::from(partitions).div_ceil(members);
    if owned.len() > share {
        let mut mine: Vec<u16> = owned.keys().copied().collect();
        mine.sort_unstable();
        for p in mine.into_iter().skip(share) {
            if let Some(o) = owned.remove(&p) {
                info!(partition = p, members, "Handing a partition to another evaluator.");
                give_up(o, settings).await;
            }
        }
        return;
    }
    for i in 0..partitions {
        if owned.len() >= share {
            break;
        }
        let p = (start + i) % partitions;
        if owned.contains_key(&p) {
            continue;
        }
        match leases.try_acquire(&partition_lease(p), &settings.instance).await {
            Ok(Some(lease)) => {
                let stop = CancellationToken::new();
                let abandon = CancellationToken::new();
                // Losing the lease abandons the work at once.
                let lost = lease.lost();
                let abandon_on_loss = abandon.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = lost.cancelled() => abandon_on_loss.cancel(),
                        () = abandon_on_loss.cancelled() => {}
                    }
                });
                let work = partition::run(p, shared.clone(), stop.clone(), abandon.clone());
                let task = tokio::spawn(tracing::Instrument::instrument(
                    work,
                    tracing::info_span!("partition", partition = p),
                ));
                info!(partition = p, "Partition taken.");
                owned.insert(p, Owned { lease, stop, abandon, task });
            }
            Ok(None) => {}
            Err(err) => {
                warn!(partition = p, error = %err, "Taking a partition lease failed.");
                break;
            }
        }
    }
}

/// Stops a partition's work (letting its batch finish, within the hand-off
/// timeout) and releases its lease.
async fn give_up(mut o: Owned, settings: &Settings) {
    o.stop.cancel();
    if tokio::time::timeout(settings.handoff_timeout, &mut o.task).await.is_err() {
        o.abandon.cancel();
        let _ = o.task.await;
    }
    o.abandon.cancel();
    if let Err(err) = o.lease.release().await {
        warn!(error = %err, "Releasing a partition lease failed; it will expire.");
    }
}

/// Follows monitor changes on the `CONFIG` stream and tells the partition
/// that owns the monitor to reload it.
async fn watch_config(shared: Arc<Shared>) {
    loop {
        if let Err(err) = follow_config(&shared).await {
            warn!(error = %err, "Following configuration changes failed; retrying.");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn follow_config(shared: &Shared) -> anyhow::Result<()> {
    let mut changes =
        statushawk_nats::config_changes(&shared.js, &shared.topology, subject::CONFIG_MONITORS_ALL, "evaluator")
            .await?;
    while let Some(change) = changes.next().await {
        let (change, trace) = change?;
        let id = match change.op {
            ConfigOp::MonitorUpserted { monitor } => monitor.id,
            ConfigOp::MonitorDeleted { monitor_id, .. } => monitor_id,
            ConfigOp::ChannelChanged { .. } | ConfigOp::ChannelDeleted { .. } => continue,
        };
        // In the trace of the API request that made the change.
        let span = statushawk_nats::hop_span!("config_change", Some(TraceContext::continue_from(trace)));
        span.in_scope(|| tracing::debug!(monitor_id = %id, "Monitor changed; its partition reloads it."));
        shared.changed(partition_of(id, shared.topology.partitions), id);
    }
    Ok(())
}
