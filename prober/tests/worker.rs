//! The region worker against real NATS and real local targets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use futures::StreamExt;
use statushawk_nats::async_nats::{self, jetstream};
use statushawk_nats::{CHECK_RESULTS, CHECKS_DUE, Publisher, Topology, prober_consumer};
use statushawk_prober::worker::{self, Deps, Settings, now_ms};
use statushawk_schemas::{
    CheckResult, CheckSpec, CheckStatus, DueCheck, ErrorKind, HttpSpec, MonitorId, Region, SCHEMA_VERSION, TeamId,
    msg_id, partition_of, subject,
};
use statushawk_testkit::{TcpProxy, TestEnv};
use tokio_util::sync::CancellationToken;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn target() -> SocketAddr {
    let app = Router::new().route("/ok", get(|| async { "ok" })).route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            "slow but ok"
        }),
    );
    let listener = tokio::net::TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn topology(env: &TestEnv, js: &jetstream::Context) -> Topology {
    let mut topology = Topology::new(&env.nats_prefix).unwrap();
    topology.regions = vec![region()];
    topology.partitions = 4;
    topology.check_ack_wait = Duration::from_secs(3);
    topology.ensure(js).await.unwrap();
    topology
}

fn region() -> Region {
    Region::new("local").unwrap()
}

fn start(
    js: jetstream::Context,
    topology: &Topology,
    name: &str,
    concurrency: usize,
) -> (CancellationToken, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let checks = support::loopback_ctx(Duration::from_secs(10));
    let settings = Settings { region: region(), prober_id: name.into(), concurrency };
    let stop = CancellationToken::new();
    let task = tokio::spawn(worker::run(settings, Deps { js, topology: topology.clone(), checks }, stop.clone()));
    (stop, task)
}

fn due(url: String, attempt: u32, deadline_ms: i64) -> DueCheck {
    let slot_ms = now_ms() / 1000 * 1000;
    DueCheck {
        schema_version: SCHEMA_VERSION,
        monitor_id: MonitorId::new(),
        team_id: TeamId::new(),
        region: region(),
        slot_ms,
        attempt,
        deadline_ms,
        timeout_ms: 5_000,
        spec: CheckSpec::Http(HttpSpec::get(url)),
    }
}

/// Results as they arrive on the stream: (subject, message id, result).
async fn results(
    js: &jetstream::Context,
    topology: &Topology,
) -> impl futures::Stream<Item = (String, String, CheckResult)> {
    let stream = js.get_stream(topology.stream(CHECK_RESULTS)).await.unwrap();
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: topology.subject(subject::CHECK_RESULTS_ALL),
            ..Default::default()
        })
        .await
        .unwrap();
    consumer.messages().await.unwrap().map(|message| {
        let message = message.unwrap();
        let id = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).map(|v| v.to_string()).unwrap_or_default();
        (message.subject.to_string(), id, serde_json::from_slice(&message.payload).unwrap())
    })
}

#[tokio::test]
async fn due_checks_in_results_out_urgent_first_late_ones_skipped_garbage_survived() {
    let env = TestEnv::new().await;
    let js = jetstream::new(env.nats().await);
    let topology = topology(&env, &js).await;
    let publisher = Publisher::new(js.clone(), topology.clone());
    let addr = target().await;
    let region = region();

    // Garbage first: the worker must carry on past it.
    js.publish(topology.subject(&subject::checks_due(&region)), "not json".into()).await.unwrap().await.unwrap();
    let scheduled = due(format!("http://{addr}/ok"), 0, now_ms() + 60_000);
    let urgent = due(format!("http://{addr}/ok"), 1, now_ms() + 60_000);
    let late = due(format!("http://{addr}/ok"), 0, now_ms() - 1);
    let blocked = due("http://169.254.169.254/latest/meta-data/".into(), 0, now_ms() + 60_000);
    for (check, subject) in [
        (&scheduled, subject::checks_due(&region)),
        (&late, subject::checks_due(&region)),
        (&blocked, subject::checks_due(&region)),
        (&urgent, subject::checks_urgent(&region)),
    ] {
        publisher.publish(&subject, &check.msg_id(), check).await.unwrap();
    }

    let mut results = Box::pin(results(&js, &topology).await);
    // One check at a time, so the order of the results is the order taken.
    let (stop, worker) = start(js.clone(), &topology, "prober-1", 1);
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let next = tokio::time::timeout(Duration::from_secs(10), results.next()).await.expect("results within 10 s");
        seen.push(next.unwrap());
    }
    let find = |monitor: MonitorId| seen.iter().find(|(_, _, r)| r.monitor_id == monitor).unwrap();

    // The urgent re-check was taken before the scheduled ones.
    assert_eq!(seen[0].2.monitor_id, urgent.monitor_id, "urgent first");
    for check in [&scheduled, &urgent, &late, &blocked] {
        let (subject, id, result) = find(check.monitor_id);
        let partition = partition_of(check.monitor_id, 4);
        assert_eq!(*subject, topology.subject(&format!("checks.result.{partition}.local.{}", check.monitor_id)));
        assert_eq!(*id, msg_id::result(check.monitor_id, &region, check.slot_ms, check.attempt));
        assert_eq!((result.slot_ms, result.attempt, result.team_id), (check.slot_ms, check.attempt, check.team_id));
        assert_eq!(result.prober_id, "prober-1");
    }
    let ok = &find(scheduled.monitor_id).2;
    assert_eq!((ok.status, ok.http_status, ok.ip), (CheckStatus::Up, Some(200), Some(LOOPBACK)));
    let skipped = &find(late.monitor_id).2;
    assert_eq!((skipped.status, skipped.error), (CheckStatus::Skipped, Some(ErrorKind::Deadline)));
    let refused = &find(blocked.monitor_id).2;
    assert_eq!((refused.status, refused.error), (CheckStatus::Down, Some(ErrorKind::Blocked)));

    // Every due check was acked (and the garbage terminated): nothing left.
    let mut stream = js.get_stream(topology.stream(CHECKS_DUE)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stream.info().await.unwrap().state.messages, 0);
    stop.cancel();
    worker.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_check_interrupted_by_a_crashed_prober_is_redelivered_and_yields_a_result() {
    let env = TestEnv::new().await;
    let js = jetstream::new(env.nats().await);
    let topology = topology(&env, &js).await;
    let addr = target().await;
    let check = due(format!("http://{addr}/slow"), 0, now_ms() + 60_000);
    Publisher::new(js.clone(), topology.clone())
        .publish(&subject::checks_due(&region()), &check.msg_id(), &check)
        .await
        .unwrap();

    // Prober A takes the check, then dies mid-check (network gone, process gone).
    let proxy = TcpProxy::start(env.services.nats_url.trim_start_matches("nats://")).await;
    let a_client = async_nats::ConnectOptions::new()
        .ignore_discovered_servers()
        .connect(format!("nats://{}", proxy.addr()))
        .await
        .unwrap();
    let (_a_stop, a) = start(jetstream::new(a_client), &topology, "prober-a", 16);
    let stream = js.get_stream(topology.stream(CHECKS_DUE)).await.unwrap();
    let mut consumer: jetstream::consumer::PullConsumer =
        stream.get_consumer(&prober_consumer(&region())).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while consumer.info().await.unwrap().num_ack_pending == 0 {
        assert!(tokio::time::Instant::now() < deadline, "prober A never took the check");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.cut();
    a.abort();

    // Prober B gets it again after the ack wait, and reports it.
    let mut results = Box::pin(results(&js, &topology).await);
    let (stop, b) = start(js.clone(), &topology, "prober-b", 16);
    let (_, _, result) = tokio::time::timeout(Duration::from_secs(15), results.next())
        .await
        .expect("a result after redelivery")
        .unwrap();
    assert_eq!(result.monitor_id, check.monitor_id);
    assert_eq!(result.prober_id, "prober-b");
    assert_eq!(result.status, CheckStatus::Up);
    stop.cancel();
    b.await.unwrap().unwrap();
}

/// `statushawk bench prober` end to end, small: every due check comes back
/// as an `up` result from the benchmark's own target.
#[tokio::test]
async fn the_benchmark_runs_every_check_against_its_target() {
    let env = TestEnv::new().await;
    let settings = statushawk_prober::bench::BenchSettings { checks: 300, concurrency: 32, target: None };
    let report = statushawk_prober::bench::run(env.nats().await, settings).await.unwrap();
    assert_eq!((report.checks, report.errors), (300, 0), "{report:?}");
    assert!(report.checks_per_sec > 0.0 && report.p99_ms >= report.p50_ms, "{report:?}");
    assert_eq!(report.target.split(' ').count(), 8, "{report:?}");
}
