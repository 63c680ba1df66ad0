//! `statushawk bench prober`: HTTP checks through the whole prober path
//! (due check from JetStream, fresh connection, result published and acked)
//! against a local target, measuring sustained checks per second.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use statushawk_nats::async_nats::{self, jetstream};
use statushawk_nats::{CHECK_RESULTS, Publisher, Topology};
use statushawk_schemas::{
    CheckResult, CheckSpec, CheckStatus, DueCheck, HttpSpec, MonitorId, Region, SCHEMA_VERSION, TeamId, subject,
};
use tokio_util::sync::CancellationToken;

use crate::worker::{self, Deps, Settings, now_ms};

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchSettings {
    /// Due checks to run.
    pub checks: usize,
    /// Checks in flight at most.
    pub concurrency: usize,
    /// An existing target URL; by default a local server is started.
    pub target: Option<String>,
}

/// The result, printed as one JSON object.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// Checks run (results received).
    pub checks: usize,
    /// Results that were not `up`.
    pub errors: usize,
    /// Checks per second, from the worker's start to the last result stored.
    pub checks_per_sec: f64,
    /// Median check duration (the result's `total_ms`).
    pub p50_ms: u32,
    /// 99th percentile check duration.
    pub p99_ms: u32,
    /// CPU time this process (prober and, by default, the target) spent
    /// per check while the clock ran, in µs: steadier than `checks_per_sec`
    /// on a shared machine. NATS's share is not in it.
    pub cpu_us_per_check: f64,
    /// CPU time the whole machine (this process, NATS, anything else)
    /// spent per check while the clock ran, in µs.
    pub machine_cpu_us_per_check: f64,
    /// The machine's CPUs busy while the clock ran, as a share of all of
    /// them (1.0 = every core busy throughout).
    pub machine_busy: f64,
    /// Concurrency used.
    pub concurrency: usize,
    /// The targets probed (space separated).
    pub target: String,
}

/// Serves `ok` over HTTP/1.1 on `listen` until the process ends: the target
/// of both this benchmark and the blackbox_exporter comparison.
///
/// Deliberately minimal (read a request head, write a fixed response, close)
/// so that the machine's CPU goes to the probers being measured rather than
/// to their target: a full HTTP server here took a quarter of both cores.
pub async fn serve_target(listen: SocketAddr) -> anyhow::Result<SocketAddr> {
    // A deep accept queue: at thousands of fresh connections per second a
    // short one overflows, and the clients' SYNs wait a second to retry.
    let socket = if listen.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(listen)?;
    let listener = socket.listen(4096)?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(answer(stream));
                }
                // Out of descriptors, say: wait rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    });
    Ok(addr)
}

/// Reads one request head and answers it with `ok`, then closes.
async fn answer(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const OK: &[u8] =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
    let mut head = [0u8; 4096];
    let mut len = 0;
    loop {
        match stream.read(&mut head[len..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => len += n,
        }
        if head[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if len == head.len() {
            return;
        }
    }
    let _ = stream.write_all(OK).await;
}

/// Runs the benchmark against the NATS server of `client`, in streams of its
/// own (prefix `benchp<pid>`), removed afterwards.
pub async fn run(client: async_nats::Client, settings: BenchSettings) -> anyhow::Result<BenchReport> {
    let js = jetstream::new(client);
    let mut topology = Topology::new(&format!("benchp{}", std::process::id()))?;
    topology.partitions = 16;
    topology.regions = vec![Region::new("bench")?];
    topology.ensure(&js).await?;
    let result = measure(&js, &topology, &settings).await;
    topology.remove(&js).await;
    result
}

/// Loopback addresses the local target listens on: a prober talks to many
/// hosts, and one (source, destination) address pair would run out of
/// ports at these rates (every check is a fresh connection).
const TARGET_HOSTS: u8 = 8;

async fn measure(
    js: &jetstream::Context,
    topology: &Topology,
    settings: &BenchSettings,
) -> anyhow::Result<BenchReport> {
    let targets: Vec<String> = match &settings.target {
        Some(url) => vec![url.clone()],
        None => {
            let first = serve_target(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
            let mut urls = vec![format!("http://{first}/")];
            for host in 2..=TARGET_HOSTS {
                let addr = serve_target(SocketAddr::from((Ipv4Addr::new(127, 0, 0, host), first.port()))).await?;
                urls.push(format!("http://{addr}/"));
            }
            urls
        }
    };
    let target = targets.join(" ");
    let region = Region::new("bench")?;
    let publisher = Publisher::new(js.clone(), topology.clone());
    let team = TeamId::new();
    let slot_ms = now_ms();
    let mut acks = Vec::with_capacity(1000);
    for i in 0..settings.checks {
        let due = DueCheck {
            schema_version: SCHEMA_VERSION,
            monitor_id: MonitorId::new(),
            team_id: team,
            region: region.clone(),
            slot_ms,
            attempt: 0,
            deadline_ms: slot_ms + 3_600_000,
            timeout_ms: 10_000,
            spec: CheckSpec::Http(HttpSpec {
                follow_redirects: 0,
                ..HttpSpec::get(targets[i % targets.len()].clone())
            }),
        };
        acks.push(publisher.send(&subject::checks_due(&region), &due.msg_id(), &due).await?);
        // The client holds a permit per unawaited ack: settle them in rounds.
        if acks.len() == 1000 {
            for ack in acks.drain(..) {
                ack.await?;
            }
        }
    }
    for ack in acks {
        ack.await?;
    }

    // The targets are on this machine: allow exactly their addresses.
    let mut checks = crate::context(false, 10 * 1024)?;
    let hosts: Vec<IpAddr> = (1..=TARGET_HOSTS).map(|host| IpAddr::V4(Ipv4Addr::new(127, 0, 0, host))).collect();
    checks.guard = checks.guard.with_exceptions(&hosts);
    let stop = CancellationToken::new();
    let started = Instant::now();
    let cpu_started = cpu_seconds();
    let machine_started = machine_cpu_seconds();
    let worker = tokio::spawn(worker::run(
        Settings { region, prober_id: "bench".into(), concurrency: settings.concurrency },
        Deps { js: js.clone(), topology: topology.clone(), checks },
        stop.clone(),
    ));
    // Count the stored results from the stream's state while the clock
    // runs (reading each one back here would take CPU from the prober), and
    // read them for their durations once it has stopped.
    let mut results_stream = js.get_stream(topology.stream(CHECK_RESULTS)).await?;
    let (mut stored, mut last_change) = (0, Instant::now());
    while stored < settings.checks as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now_stored = results_stream.info().await?.state.messages;
        if now_stored != stored {
            (stored, last_change) = (now_stored, Instant::now());
        } else if last_change.elapsed() > Duration::from_secs(30) {
            anyhow::bail!("no result for 30 s after {stored} of {}", settings.checks);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_started;
    let (machine_busy, machine_total) = {
        let (busy, total) = machine_cpu_seconds();
        (busy - machine_started.0, total - machine_started.1)
    };
    stop.cancel();
    worker.await??;

    let results = results_stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: topology.subject(subject::CHECK_RESULTS_ALL),
            ..Default::default()
        })
        .await?;
    let mut results = results.messages().await?.take(settings.checks);
    let mut durations = Vec::with_capacity(settings.checks);
    let mut errors = 0;
    while let Some(message) = results.next().await {
        let result: CheckResult = serde_json::from_slice(&message?.payload)?;
        if result.status != CheckStatus::Up {
            errors += 1;
        }
        durations.push(result.timings.total_ms);
    }
    if durations.is_empty() {
        anyhow::bail!("no result could be read back");
    }
    durations.sort_unstable();
    let percentile = |p: f64| durations[((p / 100.0) * (durations.len() - 1) as f64).round() as usize];
    Ok(BenchReport {
        checks: durations.len(),
        errors,
        checks_per_sec: durations.len() as f64 / elapsed,
        p50_ms: percentile(50.0),
        p99_ms: percentile(99.0),
        cpu_us_per_check: cpu * 1e6 / settings.checks as f64,
        machine_cpu_us_per_check: machine_busy * 1e6 / settings.checks as f64,
        machine_busy: if machine_total > 0.0 { machine_busy / machine_total } else { 0.0 },
        concurrency: settings.concurrency,
        target,
    })
}

/// User and system CPU time of this process so far, in seconds (0 where
/// `/proc` is not there).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here, in
    // clock ticks of 1/100 s on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// The machine's busy and total CPU time so far, in seconds, summed over
/// its CPUs, from `/proc/stat` (zeros where it is not there). Busy is user,
/// nice, system, interrupts and steal; idle and I/O wait are not.
fn machine_cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|line| line.starts_with("cpu ")) else { return (0.0, 0.0) };
    let ticks: Vec<f64> = line.split_whitespace().skip(1).map(|v| v.parse().unwrap_or(0.0)).collect();
    let field = |i: usize| ticks.get(i).copied().unwrap_or(0.0);
    // user nice system idle iowait irq softirq steal
    let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
    let total = busy + field(3) + field(4);
    (busy / 100.0, total / 100.0)
}
