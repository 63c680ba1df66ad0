//! The pipeline end to end on real NATS, Postgres and ClickHouse, with real
//! probers checking local HTTP targets: confirmation by re-check, incidents
//! opened and resolved once, and the whole chain from the scheduler on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

#[path = "../evaluator/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use statushawk_prober::worker;
use statushawk_schemas::Region;
use support::*;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(40);

/// A local HTTP target: `/flaky` fails its first request only; `/switch`
/// fails while `down` is set. Every request is counted.
struct Target {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
}

impl Target {
    async fn start() -> Self {
        let down = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (d, r1, r2) = (down.clone(), requests.clone(), requests.clone());
        let flaky_seen = Arc::new(AtomicUsize::new(0));
        let app = Router::new()
            .route(
                "/flaky",
                get(move || {
                    r1.fetch_add(1, Ordering::SeqCst);
                    let first = flaky_seen.fetch_add(1, Ordering::SeqCst) == 0;
                    async move { if first { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK } }
                }),
            )
            .route(
                "/switch",
                get(move || {
                    r2.fetch_add(1, Ordering::SeqCst);
                    let down = d.load(Ordering::SeqCst);
                    async move { if down { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK } }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, down, requests }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A real prober for `region`, allowed to reach loopback targets.
fn prober(stack: &Stack, region: &str) -> (CancellationToken, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let deps = worker::Deps {
        js: stack.js.clone(),
        topology: stack.topology.clone(),
        checks: statushawk_prober::context(true, 10 * 1024).unwrap(),
    };
    let settings = worker::Settings {
        region: Region::new(region).unwrap(),
        prober_id: format!("prober-{region}"),
        concurrency: 64,
    };
    let stop = CancellationToken::new();
    (stop.clone(), tokio::spawn(worker::run(settings, deps, stop)))
}

#[tokio::test]
async fn a_target_failing_once_is_rechecked_and_opens_nothing() {
    let stack = Stack::new(&["local"], 2).await;
    let target = Target::start().await;
    let m = stack.monitor(&target.url("/flaky"), &["local"], 1).await;
    let (stop_prober, prober) = prober(&stack, "local");
    let evaluator = stack.evaluator("only");

    stack.due(m, &["local"], slot(1)).await;
    eventually(WAIT, "the failure and its re-check stored", || async { stack.stored(Some(m)).await == 2 }).await;
    let rows = stack.stored_rows(m).await;
    assert_eq!(rows, [("local".into(), 0, "down".into()), ("local".into(), 1, "up".into())]);
    assert_eq!(target.requests.load(Ordering::SeqCst), 2);
    // Give a wrongly opened incident the time to show.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(stack.incidents(m).await.is_empty());
    assert!(stack.open_outages(m).await.is_empty());
    assert!(stack.incident_events(m).await.is_empty());

    evaluator.stop().await;
    stop_prober.cancel();
    prober.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_target_hard_down_opens_once_and_resolves_once() {
    let stack = Stack::new(&["local"], 2).await;
    let target = Target::start().await;
    let m = stack.monitor(&target.url("/switch"), &["local"], 1).await;
    let (stop_prober, prober) = prober(&stack, "local");
    let evaluator = stack.evaluator("only");
    let mut expected = 0;
    let mut round = |k: i64, rows: u64| {
        expected += rows;
        let (stack, expected) = (&stack, expected);
        async move {
            stack.due(m, &["local"], slot(k)).await;
            eventually(WAIT, &format!("round {k} stored"), || async { stack.stored(Some(m)).await == expected }).await;
        }
    };

    round(1, 1).await;
    target.down.store(true, Ordering::SeqCst);
    round(2, 2).await; // the failure and its confirming re-check
    eventually(WAIT, "the incident", || async { stack.incidents(m).await.len() == 1 }).await;
    round(3, 1).await; // down already: no re-check
    target.down.store(false, Ordering::SeqCst);
    round(4, 1).await;
    eventually(WAIT, "resolution", || async { stack.incidents(m).await.iter().all(|(_, r)| *r) }).await;
    round(5, 1).await;

    assert_eq!(stack.incidents(m).await.len(), 1);
    assert_eq!(stack.incident_events(m).await, ["opened", "resolved"]);
    assert_eq!(stack.stored(Some(m)).await, stack.published_results().await, "every result in ClickHouse");
    let (cause, regions): (String, Vec<String>) =
        sqlx::query_as("SELECT cause, affected_regions FROM incidents WHERE monitor_id = $1")
            .bind(m.0)
            .fetch_one(&stack.pg)
            .await
            .unwrap();
    assert!(cause.contains("503"), "{cause}");
    assert_eq!(regions, ["local"]);
    let timeline: Vec<String> =
        sqlx::query_scalar("SELECT status::text FROM incident_updates u JOIN incidents i ON i.id = u.incident_id WHERE i.monitor_id = $1 ORDER BY at")
            .bind(m.0)
            .fetch_all(&stack.pg)
            .await
            .unwrap();
    assert_eq!(timeline, ["investigating", "resolved"]);

    evaluator.stop().await;
    stop_prober.cancel();
    prober.await.unwrap().unwrap();
}

/// Scheduler, prober and evaluator together on a target that goes down:
/// the incident opens within two check rounds plus the re-check.
#[tokio::test]
async fn scheduler_prober_and_evaluator_open_an_incident_within_two_rounds() {
    const INTERVAL: Duration = Duration::from_secs(10);
    let stack = Stack::new(&["local"], 2).await;
    let target = Target::start().await;
    let m = stack.monitor(&target.url("/switch"), &["local"], 1).await;
    let (stop_prober, prober) = prober(&stack, "local");
    let evaluator = stack.evaluator("only");
    let scheduler_stop = CancellationToken::new();
    let scheduler = tokio::spawn(statushawk_scheduler::run(
        statushawk_scheduler::Settings { instance: "scheduler".into(), ..Default::default() },
        statushawk_scheduler::Deps {
            js: stack.js.clone(),
            topology: stack.topology.clone(),
            pg: stack.pg.clone(),
            secrets: None,
        },
        scheduler_stop.clone(),
    ));

    eventually(WAIT, "a first healthy result", || async { stack.stored(Some(m)).await >= 1 }).await;
    let down_at = Instant::now();
    target.down.store(true, Ordering::SeqCst);
    eventually(INTERVAL * 3, "the incident", || async { stack.incidents(m).await.len() == 1 }).await;
    let took = down_at.elapsed();
    println!("incident opened {took:?} after the target went down (interval {INTERVAL:?})");
    assert!(took <= INTERVAL * 2 + Duration::from_secs(5), "took {took:?}");
    assert_eq!(stack.incident_events(m).await, ["opened"]);

    scheduler_stop.cancel();
    scheduler.await.unwrap().unwrap();
    evaluator.stop().await;
    stop_prober.cancel();
    prober.await.unwrap().unwrap();
}
