//! `statushawk bench pipeline` at tiny scale, its services as separate
//! processes of this build: the accounting adds up (counts, not speed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

use std::time::Duration;

use statushawk_bench::scratch::Servers;

#[tokio::test]
async fn the_pipeline_benchmark_accounts_for_every_slot_flip_and_process() {
    let services = statushawk_testkit::services().await;
    let servers = Servers {
        nats_url: services.nats_url.clone(),
        postgres_url: services.postgres_url.clone(),
        clickhouse_url: services.clickhouse_url.clone(),
        clickhouse_user: "default".into(),
        clickhouse_password: String::new(),
    };
    let logs = tempfile::tempdir().unwrap();
    let settings = statushawk_bench::Settings {
        monitors: 40,
        interval: Duration::from_secs(10),
        duration: Duration::from_secs(30),
        failing: 4,
        processes: true,
        exe: env!("CARGO_BIN_EXE_statushawk").into(),
        logs: logs.path().to_owned(),
    };
    let report = statushawk_bench::run(servers, settings).await.unwrap();
    println!("{}", serde_json::to_string_pretty(&report).unwrap());

    let a = &report.accounting;
    assert_eq!(a.expected, 40 * 3, "three slots of each monitor in 30 s");
    assert_eq!((a.stored, a.lost, a.doubled, a.off_slot), (a.expected, 0, 0, 0), "{a:?}");
    assert!(a.rechecks >= 4, "each failing monitor's first failure is re-checked: {a:?}");
    assert_eq!(report.lag_ms.count, a.stored, "the probe saw every row arrive");
    let d = &report.detection;
    assert_eq!((d.flipped, d.incidents, d.resolved, d.false_incidents), (4, 4, 4, 0), "{d:?}");
    assert_eq!((d.opened_notified, d.resolved_notified, d.notified_twice), (4, 4, 0), "{d:?}");
    assert_eq!(d.to_incident.count, 4);
    let names: Vec<&str> = report.processes.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["api", "bench", "clickhouse", "evaluator-1", "nats", "notifier", "postgres", "prober-1", "scheduler-1"]
    );
    assert!(report.processes["prober-1"].cpu_us_per_check > 0.0, "{:?}", report.processes);
    // Each process counted once: together they used no more than the machine did.
    let cores = std::thread::available_parallelism().unwrap().get() as f64;
    let used: f64 = report.processes.values().map(|p| p.cores).sum();
    assert!(
        used <= report.machine_busy * cores + 0.05,
        "{used} cores of {}: {:?}",
        report.machine_busy,
        report.processes
    );
}
