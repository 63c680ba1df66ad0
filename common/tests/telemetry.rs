//! The `/metrics` endpoint serves what the `metrics` macros record.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

use std::net::SocketAddr;

use statushawk_common::telemetry::{MetricsServer, install_metrics};
use tokio_util::sync::CancellationToken;

async fn get(addr: SocketAddr, path: &str) -> String {
    statushawk_testkit::http_get(&addr.to_string(), path).await
}

#[tokio::test]
async fn metrics_are_served_in_prometheus_text_format() {
    let handle = install_metrics().unwrap();
    metrics::counter!("statushawk_test_things_total", "kind" => "demo").increment(3);
    let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap(), handle).await.unwrap();
    let addr = server.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(server.serve(shutdown.clone()));

    let response = get(addr, "/metrics").await;
    assert!(response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("statushawk_test_things_total{kind=\"demo\"} 3"), "{response}");
    assert!(get(addr, "/healthz").await.ends_with("ok"));

    shutdown.cancel();
    serving.await.unwrap().unwrap();
}
