//! The whole pipeline under load, as an operator runs it: `statushawk
//! bench pipeline` seeds N HTTP monitors on local targets into private
//! databases, runs the services (one process, or one per service), switches
//! a share of the targets down and up, and accounts for every (monitor,
//! slot) of the measured window in ClickHouse. The fault suite
//! (`tests/faults.rs`) uses the same parts ([`scratch`], [`targets`],
//! [`fleet`], [`ledger`]) and kills processes in between.

pub mod fleet;
pub mod ledger;
pub mod scratch;
pub mod targets;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use statushawk_schemas::{UnixMs, now_ms};

use crate::fleet::{Fleet, Layout};
use crate::ledger::{Accounting, Detection, LagProbe, Spread};
use crate::scratch::{Scratch, Servers};
use crate::targets::{Receiver, Targets};

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// HTTP monitors.
    pub monitors: usize,
    /// Their interval (whole seconds, at least 10).
    pub interval: Duration,
    /// The measured window.
    pub duration: Duration,
    /// Monitors whose targets go down for the middle third of the window.
    pub failing: usize,
    /// One process per service instead of `statushawk all`.
    pub processes: bool,
    /// The `statushawk` binary to run.
    pub exe: PathBuf,
    /// Where the processes' logs go.
    pub logs: PathBuf,
}

/// What a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Monitors.
    pub monitors: usize,
    /// Their interval, s.
    pub interval_s: u64,
    /// The measured window, s.
    pub duration_s: u64,
    /// `one` (`statushawk all`) or `processes`.
    pub layout: &'static str,
    /// Checks due per second.
    pub offered_per_s: f64,
    /// First attempts stored per second of the window.
    pub stored_per_s: f64,
    /// Exact accounting of the window's (monitor, slot) pairs.
    pub accounting: Accounting,
    /// Slot → row in ClickHouse, ms (polled every 200 ms: ± 100 ms).
    pub lag_ms: Spread,
    /// The flipped monitors' incidents and notifications.
    pub detection: Detection,
    /// CPU per stored check (µs) and resident memory (MiB) of each process:
    /// ours, NATS, Postgres (with its backends), ClickHouse, and this one
    /// (targets, webhook receiver, probes of ClickHouse).
    pub processes: BTreeMap<String, ProcessCost>,
    /// All of them together, µs per stored check.
    pub cpu_us_per_check: f64,
    /// The machine's busy share over the window (all cores).
    pub machine_busy: f64,
    /// Where the processes' logs are.
    pub logs: PathBuf,
}

/// One process's cost over the window.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessCost {
    /// CPU µs per stored check.
    pub cpu_us_per_check: f64,
    /// Share of one core over the window.
    pub cores: f64,
    /// Resident memory at the end, MiB.
    pub rss_mib: f64,
}

/// The port of a `scheme://host:port/…` URL.
fn port(url: &str) -> Option<u16> {
    url::Url::parse(url).ok()?.port_or_known_default()
}

/// Runs the benchmark on `servers`, in private databases dropped afterwards.
pub async fn run(servers: Servers, settings: Settings) -> anyhow::Result<Report> {
    let interval = settings.interval;
    anyhow::ensure!(settings.monitors > 0, "--monitors must be positive");
    anyhow::ensure!(
        (10..=86_400).contains(&interval.as_secs()) && interval.subsec_nanos() == 0,
        "--interval must be whole seconds from 10 s to 24 h"
    );
    anyhow::ensure!(settings.failing <= settings.monitors, "--failing must not exceed --monitors");
    anyhow::ensure!(
        settings.failing == 0 || settings.duration >= interval * 3,
        "--duration must be at least three intervals when monitors fail (they are down for its middle third)"
    );
    let scratch = Scratch::new(servers)?;
    let result = tokio::select! {
        report = measure(&scratch, &settings) => report,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    if let Err(err) = scratch.drop_all().await {
        tracing::warn!(error = format!("{err:#}"), "Dropping the benchmark's databases and streams failed.");
    }
    result
}

/// Sleeps until `at`, failing early if a service exits.
pub async fn until(fleet: &mut Fleet, at: UnixMs) -> anyhow::Result<()> {
    loop {
        fleet.check_alive()?;
        let left = at - now_ms();
        if left <= 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(left.clamp(1, 500) as u64)).await;
    }
}

async fn measure(scratch: &Scratch, settings: &Settings) -> anyhow::Result<Report> {
    let interval_ms = u32::try_from(settings.interval.as_millis())?;
    let targets = Targets::start(8, targets::Behaviour { failing: settings.failing, slow_every: 0 }).await?;
    let receiver = Receiver::start().await?;
    let mut fleet = Fleet::new(&settings.exe, scratch.env(), &settings.logs)?;
    fleet.once(&["migrate"]).context("migrating the benchmark's databases")?;
    fleet.once(&["topology"]).context("creating the benchmark's streams")?;
    let monitors =
        scratch.seed(settings.monitors, interval_ms, settings.failing, |i| targets.url(i), &receiver.url).await?;
    let layout = match settings.processes {
        true => Layout::Processes { schedulers: 1, probers: 1, evaluators: 1 },
        false => Layout::One,
    };
    fleet.start(layout)?;
    fleet.ready(Duration::from_secs(60)).await?;

    // One interval to warm up: every monitor has been checked once.
    let duration_ms = i64::try_from(settings.duration.as_millis())?;
    let start = (now_ms() + i64::from(interval_ms)).div_euclid(1000) * 1000 + 1000;
    let window = start..start + duration_ms;
    let clickhouse = scratch.clickhouse();
    let probe = LagProbe::start(clickhouse.clone(), window.clone(), Duration::from_millis(200));
    let ours = |fleet: &Fleet| {
        let mut pids = fleet.pids();
        let servers = [
            ("nats", &scratch.servers.nats_url),
            ("postgres", &scratch.servers.postgres_url),
            ("clickhouse", &scratch.servers.clickhouse_url),
        ];
        for (name, url) in servers {
            if let Some(pid) = port(url).and_then(fleet::listener) {
                pids.push((name.to_owned(), pid));
            }
        }
        pids.push(("bench".to_owned(), i32::try_from(std::process::id()).unwrap_or(0)));
        pids
    };
    until(&mut fleet, window.start).await?;
    let pids = ours(&fleet);
    let sample = |pids: &[(String, i32)]| -> Vec<(String, fleet::Usage)> {
        pids.iter().map(|(name, pid)| (name.clone(), fleet::usage(*pid, name == "postgres"))).collect()
    };
    let before = sample(&pids);
    let machine_before = fleet::machine();
    let (mut down_at, mut up_at) = (window.end, window.end);
    if settings.failing > 0 {
        until(&mut fleet, window.start + duration_ms / 3).await?;
        down_at = targets.set_down(true);
        until(&mut fleet, window.start + 2 * duration_ms / 3).await?;
        up_at = targets.set_down(false);
    }
    until(&mut fleet, window.end).await?;
    let after = sample(&pids);
    let machine_after = fleet::machine();

    // The window's last checks are due by its end plus an interval (their
    // deadline); then wait for the count to stop growing.
    until(&mut fleet, window.end + i64::from(interval_ms) + 2_000).await?;
    let mut last = ledger::stored(&clickhouse, &window).await?;
    let settle_by = now_ms() + 30_000;
    while now_ms() < settle_by {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = ledger::stored(&clickhouse, &window).await?;
        let flips_done = settings.failing == 0
            || receiver.received().iter().filter(|r| r.event_type == "incident.resolved").count() >= settings.failing;
        if now == last && flips_done {
            break;
        }
        last = now;
    }
    let lag_ms = probe.finish();
    let accounting = ledger::account(&clickhouse, &monitors, &window, &[]).await?;
    let pg = scratch.pg().await?;
    let incidents = ledger::incidents(&pg).await?;
    pg.close().await;
    let detection = ledger::detection(&monitors, down_at, up_at, &incidents, &receiver.received());
    fleet.stop();

    let checks = accounting.stored.max(1) as f64;
    let seconds = duration_ms as f64 / 1000.0;
    let mut processes = BTreeMap::new();
    let mut total = 0.0;
    for ((name, start), (_, end)) in before.iter().zip(&after) {
        let cpu = (end.cpu_secs - start.cpu_secs).max(0.0);
        total += cpu;
        let cost = ProcessCost {
            cpu_us_per_check: cpu * 1e6 / checks,
            cores: cpu / seconds,
            rss_mib: end.rss_bytes as f64 / (1024.0 * 1024.0),
        };
        processes.insert(name.clone(), cost);
    }
    let busy = (machine_after.0 - machine_before.0) / (machine_after.1 - machine_before.1).max(1e-9);
    Ok(Report {
        monitors: settings.monitors,
        interval_s: settings.interval.as_secs(),
        duration_s: settings.duration.as_secs(),
        layout: if settings.processes { "processes" } else { "one" },
        offered_per_s: settings.monitors as f64 / settings.interval.as_secs_f64(),
        stored_per_s: accounting.stored as f64 / seconds,
        accounting,
        lag_ms,
        detection,
        processes,
        cpu_us_per_check: total * 1e6 / checks,
        machine_busy: busy,
        logs: settings.logs.clone(),
    })
}
