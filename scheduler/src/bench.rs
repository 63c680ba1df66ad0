//! `statushawk bench scheduler`: the scheduling loop and publisher at scale,
//! against a real NATS server, with an in-memory index (no Postgres).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use statushawk_nats::async_nats::jetstream;
use statushawk_nats::{Publisher, Topology};
use statushawk_schemas::{CheckSpec, HttpSpec, MonitorId, Region, TeamId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::index::{Index, Monitor};
use crate::publish::LagLog;
use crate::{AbortOnDrop, now_ms, schedule};

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchSettings {
    /// Monitors in the index.
    pub monitors: usize,
    /// Their interval.
    pub interval: Duration,
    /// How long to publish (default: one interval, so each monitor fires once).
    pub duration: Option<Duration>,
    /// Regions per monitor.
    pub regions: usize,
    /// The due-check stream's duplicate window (`nats.due_duplicate_window_secs`).
    pub due_duplicate_window: Duration,
}

/// The result, printed as one JSON object.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// Monitors in the index.
    pub monitors: usize,
    /// Their interval in ms.
    pub interval_ms: u64,
    /// Regions per monitor.
    pub regions: usize,
    /// The due-check stream's duplicate window, s.
    pub due_duplicate_window_s: f64,
    /// Seconds spent publishing.
    pub duration_s: f64,
    /// Due checks acknowledged by the server (slots after the index was built).
    pub published: usize,
    /// Acknowledged due checks per second.
    pub publishes_per_sec: f64,
    /// Median lag from slot to server ack, ms.
    pub lag_p50_ms: u32,
    /// 99th percentile lag, ms.
    pub lag_p99_ms: u32,
    /// Largest lag, ms.
    pub lag_max_ms: u32,
    /// Peak resident memory of the process while publishing, MiB.
    pub rss_mib: f64,
    /// Resident memory with the index built, before publishing, MiB.
    pub index_rss_mib: f64,
    /// Seconds to build the index.
    pub index_build_s: f64,
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Runs the benchmark against the NATS server of `client`, in streams of
/// its own (prefix `bench<pid>`), removed afterwards.
pub async fn run(client: statushawk_nats::async_nats::Client, settings: BenchSettings) -> anyhow::Result<BenchReport> {
    let js = jetstream::new(client);
    let mut topology = Topology::new(&format!("bench{}", std::process::id()))?;
    topology.partitions = 1;
    topology.due_duplicate_window = settings.due_duplicate_window;
    topology.regions =
        (0..settings.regions.max(1)).map(|i| Region::new(format!("region-{i}"))).collect::<Result<_, _>>()?;
    topology.ensure(&js).await?;
    let result = measure(&js, &topology, &settings).await;
    topology.remove(&js).await;
    result
}

async fn measure(
    js: &jetstream::Context,
    topology: &Topology,
    settings: &BenchSettings,
) -> anyhow::Result<BenchReport> {
    let interval_ms = u32::try_from(settings.interval.as_millis())?;
    let built = Instant::now();
    let mut index = Index::new();
    let now = now_ms();
    let team = TeamId::new();
    for i in 0..settings.monitors {
        let spec =
            CheckSpec::Http(HttpSpec::get(format!("https://service-{i}.customer-{}.example.com/health", i % 997)));
        index.upsert(
            Monitor {
                id: MonitorId::new(),
                team_id: team,
                interval_ms,
                timeout_ms: 10_000,
                regions: topology.regions.clone(),
                spec: serde_json::value::to_raw_value(&spec)?,
                version_ms: now,
            },
            now,
        )?;
    }
    let index_build_s = built.elapsed().as_secs_f64();
    let index_rss_mib = rss_mib();

    // Slots that passed while the index was being built are not the loop's lag.
    let lags = Arc::new(LagLog::since(now_ms()));
    let stop = CancellationToken::new();
    let (_keep_open, updates) = mpsc::channel(1);
    let publisher = Publisher::new(js.clone(), topology.clone());
    let started = Instant::now();
    let run = tokio::spawn(schedule(
        index,
        updates,
        None::<(fn() -> AbortOnDrop<()>, Duration)>,
        publisher,
        stop.clone(),
        crate::Loop { max_backlog: usize::MAX, lags: Some(lags.clone()), resume: None },
    ));
    let duration = settings.duration.unwrap_or(settings.interval);
    let mut peak = rss_mib();
    while started.elapsed() < duration {
        tokio::time::sleep(Duration::from_millis(250)).await;
        peak = peak.max(rss_mib());
    }
    // Let the last acks arrive, then stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    run.await??;
    let duration_s = started.elapsed().as_secs_f64() - 0.5;
    let mut lags = lags.take();
    lags.sort_unstable();
    Ok(BenchReport {
        monitors: settings.monitors,
        interval_ms: u64::from(interval_ms),
        regions: topology.regions.len(),
        due_duplicate_window_s: topology.due_duplicate_window.as_secs_f64(),
        duration_s,
        published: lags.len(),
        publishes_per_sec: lags.len() as f64 / duration_s,
        lag_p50_ms: percentile(&lags, 50.0),
        lag_p99_ms: percentile(&lags, 99.0),
        lag_max_ms: lags.last().copied().unwrap_or(0),
        rss_mib: peak,
        index_rss_mib,
        index_build_s,
    })
}
