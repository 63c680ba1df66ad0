//! The live feeds refuse what a compromised prober publishes within its NATS
//! account (`checks.result.*.<its region>.>`) but whose payload lies about
//! the region, the monitor, the partition or the team: neither the monitor's
//! feed nor any team's feed shows it, and it is counted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use statushawk_schemas::{CheckResult, CheckStatus, MonitorId, Region, SCHEMA_VERSION, TeamId, Timings, partition_of};
use support::App;
use tower::ServiceExt;

fn metrics() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).unwrap();
        handle
    })
}

/// `statushawk_api_live_forged_total{reason}` (0 when never counted).
fn forged(reason: &str) -> u64 {
    let needle = format!("statushawk_api_live_forged_total{{reason=\"{reason}\"}} ");
    metrics().render().lines().find_map(|l| l.strip_prefix(needle.as_str())?.trim().parse().ok()).unwrap_or(0)
}

fn result(monitor: MonitorId, team: TeamId, region: &str, prober: &str) -> CheckResult {
    CheckResult {
        schema_version: SCHEMA_VERSION,
        monitor_id: monitor,
        team_id: team,
        region: Region::new(region).unwrap(),
        slot_ms: statushawk_schemas::now_ms(),
        attempt: 0,
        prober_id: prober.into(),
        started_at_ms: statushawk_schemas::now_ms(),
        status: CheckStatus::Up,
        error: None,
        message: None,
        timings: Timings { total_ms: 12, ..Timings::default() },
        ip: None,
        http_status: Some(200),
        body_bytes: Some(2),
        cert_expires_at_ms: None,
        cert_issuer: None,
        assertions: Vec::new(),
    }
}

/// A feed's body, read as it comes.
struct Feed {
    body: Body,
    seen: String,
}

impl Feed {
    async fn open(app: &App, path: &str, token: &str) -> Self {
        let request =
            Request::get(path).header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap();
        let response = app.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        Self { body: response.into_body(), seen: String::new() }
    }

    /// Reads until `needle` shows (true) or `limit` passes (false).
    async fn until(&mut self, needle: &str, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.seen.contains(needle) {
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.seen.push_str(&String::from_utf8_lossy(&data));
                    }
                }
                _ => return false,
            }
        }
        true
    }
}

#[tokio::test]
async fn live_feeds_never_show_forged_results() {
    metrics();
    let app = App::new().await;
    let ours = app.session("owner@shop.example", "Shop").await;
    let theirs = app.session("owner@other.example", "Other").await;
    let (us, them): (TeamId, TeamId) = (
        serde_json::from_value(ours["team_id"].clone()).unwrap(),
        serde_json::from_value(theirs["team_id"].clone()).unwrap(),
    );
    let (our_token, their_token) = (ours["token"].as_str().unwrap(), theirs["token"].as_str().unwrap());
    let create = |token: &str, regions: serde_json::Value| {
        let body =
            json!({"name": "Checkout", "spec": {"kind": "http", "url": "https://shop.example/"}, "regions": regions});
        let (app, token) = (&app, token.to_owned());
        async move {
            let (status, monitor) = app.call("POST", "/api/v1/monitors", Some(&token), Some(body)).await;
            assert_eq!(status, StatusCode::CREATED, "{monitor}");
            serde_json::from_value::<MonitorId>(monitor["id"].clone()).unwrap()
        }
    };
    let m = create(our_token, json!(["eu-west", "us-east"])).await;
    let their_m = create(their_token, json!(["eu-west"])).await;
    let mut monitor_feed = Feed::open(&app, &format!("/api/v1/monitors/{m}/live"), our_token).await;
    let mut team_feed = Feed::open(&app, "/api/v1/live", our_token).await;
    let mut their_feed = Feed::open(&app, "/api/v1/live", their_token).await;

    let nats = app.env.nats().await;
    let partitions = app.topology.partitions;
    let on = |monitor: MonitorId, region: &str| {
        app.topology.subject(&statushawk_schemas::subject::check_result(
            monitor,
            &Region::new(region).unwrap(),
            partitions,
        ))
    };
    let publish = |subject: String, result: CheckResult| {
        let nats = nats.clone();
        async move { nats.publish(subject, serde_json::to_vec(&result).unwrap().into()).await.unwrap() }
    };

    // Genuine results until every feed shows one (the subscriptions may need
    // a moment to reach the server).
    let mut warm = false;
    for _ in 0..100 {
        publish(on(m, "eu-west"), result(m, us, "eu-west", "warm-up")).await;
        publish(on(their_m, "eu-west"), result(their_m, them, "eu-west", "warm-up")).await;
        nats.flush().await.unwrap();
        let short = Duration::from_millis(100);
        if monitor_feed.until("warm-up", short).await
            && team_feed.until("warm-up", short).await
            && their_feed.until("warm-up", short).await
        {
            warm = true;
            break;
        }
    }
    assert!(warm, "every feed shows genuine results");

    // The forger, on eu-west's (and, last, ap-south's) subjects.
    // Our monitor, "from us-east".
    publish(on(m, "eu-west"), result(m, us, "us-east", "forger")).await;
    // Our monitor, on their monitor's subject.
    publish(on(their_m, "eu-west"), result(m, us, "eu-west", "forger")).await;
    // Our monitor, on another partition than its own.
    let other = (partition_of(m, partitions) + 1) % partitions;
    publish(app.topology.subject(&format!("checks.result.{other}.eu-west.{m}")), result(m, us, "eu-west", "forger"))
        .await;
    // Not a result subject at all.
    publish(format!("{}.x", on(m, "eu-west")), result(m, us, "eu-west", "forger")).await;
    // Their monitor, claimed for our team; ours, claimed for theirs.
    publish(on(their_m, "eu-west"), result(their_m, us, "eu-west", "forger")).await;
    publish(on(m, "eu-west"), result(m, them, "eu-west", "forger")).await;
    // Our monitor from a region it is not checked from.
    publish(on(m, "ap-south"), result(m, us, "ap-south", "forger")).await;
    // Then genuine ones again: once they show, the forged ones before them
    // would have shown.
    publish(on(m, "us-east"), result(m, us, "us-east", "final")).await;
    publish(on(their_m, "eu-west"), result(their_m, them, "eu-west", "final")).await;

    for (name, feed) in
        [("our monitor's", &mut monitor_feed), ("our team's", &mut team_feed), ("their team's", &mut their_feed)]
    {
        assert!(feed.until("final", Duration::from_secs(10)).await, "{name} feed shows the genuine result");
        assert!(!feed.seen.contains("forger"), "{name} feed showed a forged result: {}", feed.seen);
    }
    assert!(!their_feed.seen.contains(&m.to_string()), "their feed showed our monitor");
    assert!(!team_feed.seen.contains(&their_m.to_string()), "our feed showed their monitor");

    // Each feed counts what it refused: the monitor's feed sees the three on
    // its own subjects, the team feeds' shared subscription all seven.
    let counted: Vec<(&str, u64)> =
        ["region", "monitor", "partition", "subject", "team", "unconfigured_region"].map(|r| (r, forged(r))).to_vec();
    assert_eq!(
        counted,
        [("region", 2), ("monitor", 1), ("partition", 1), ("subject", 1), ("team", 3), ("unconfigured_region", 2)]
    );
}
