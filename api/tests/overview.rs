//! The overview: every monitor of the team in one answer, from the results
//! in ClickHouse, and nothing of another team's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::{App, result_row as row};

const HOUR: i64 = 3600;

async fn monitor(app: &App, token: &str, name: &str) -> String {
    let (status, monitor) = app
        .call(
            "POST",
            "/api/v1/monitors",
            Some(token),
            Some(json!({"name": name, "spec": {"kind": "http", "url": format!("https://{name}.example/")}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{monitor}");
    monitor["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_overview_answers_every_monitor_of_the_team_in_one_request() {
    let app = App::new().await;
    let owner = app.session("owner@shop.example", "Shop").await;
    let token = owner["token"].as_str().unwrap();
    let team = owner["team_id"].as_str().unwrap();
    let shop = monitor(&app, token, "shop").await;
    let api = monitor(&app, token, "api").await;
    let quiet = monitor(&app, token, "quiet").await;
    let other = app.session("owner@other.example", "Other").await;
    let foreign = monitor(&app, other["token"].as_str().unwrap(), "foreign").await;

    let now = statushawk_schemas::now_ms() / 1000;
    let this_hour = now - now % HOUR;
    let rows = [
        // shop: good an hour ago (100 ms) and now (20, 40 ms), then down.
        row(&shop, team, this_hour - HOUR + 5, "eu-west", "up", 100, ""),
        row(&shop, team, this_hour + 1, "eu-west", "up", 20, ""),
        row(&shop, team, this_hour + 2, "us-east", "degraded", 41, ""),
        row(&shop, team, this_hour + 3, "us-east", "down", 9000, "timed out"),
        // api: older than the 24 hours, and once within them.
        row(&api, team, this_hour - 30 * HOUR, "eu-west", "down", 1, "old"),
        row(&api, team, this_hour - 22 * HOUR + 1, "eu-west", "up", 70, ""),
        row(&api, team, this_hour - 22 * HOUR + 2, "eu-west", "skipped", 0, ""),
        // Another team's monitor.
        row(&foreign, other["team_id"].as_str().unwrap(), this_hour + 1, "eu-west", "up", 5, ""),
    ];
    // Two inserts: shop's current hour comes in two rows until ClickHouse
    // merges them, and the answer adds them up.
    app.insert_results(&rows[..2]).await;
    app.insert_results(&rows[2..]).await;

    let (status, overview) = app.call("GET", "/api/v1/overview", Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    let entries = overview["monitors"].as_array().unwrap();
    let entry = |id: &str| entries.iter().find(|e| e["monitor_id"] == id).cloned();
    let names: Vec<&str> = entries.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["api", "quiet", "shop"], "every monitor of this team, by name: {overview}");
    assert!(entry(&foreign).is_none());

    let quiet = entry(&quiet).unwrap();
    assert_eq!(
        quiet,
        json!({
            "monitor_id": quiet["monitor_id"], "name": "quiet", "kind": "http", "target": "https://quiet.example/",
            "regions": quiet["regions"], "paused": false, "status": null,
            "last": null, "checks": 0, "availability": null, "latency_ms": vec![Value::Null; 24],
        }),
        "a monitor without results: no data yet"
    );
    assert!(!quiet["regions"].as_array().unwrap().is_empty());

    let shop = entry(&shop).unwrap();
    assert_eq!(shop["last"]["status"], "down");
    assert_eq!(shop["last"]["message"], "timed out");
    assert_eq!(
        (shop["last"]["region"].as_str(), shop["last"]["at_ms"].as_i64()),
        (Some("us-east"), Some((this_hour + 3) * 1000))
    );
    assert_eq!(shop["checks"], 4);
    assert_eq!(shop["availability"], 75.0);
    // Hours are placed from the answer's own start, so an hour that turns
    // during the test moves both alike.
    let from_ms = overview["from_ms"].as_i64().unwrap();
    assert!([this_hour - 23 * HOUR, this_hour - 22 * HOUR].contains(&(from_ms / 1000)), "{from_ms}");
    let hour_of = |ts: i64| usize::try_from((ts * 1000 - from_ms) / (HOUR * 1000)).unwrap();
    let latency: Vec<Value> = shop["latency_ms"].as_array().unwrap().clone();
    assert_eq!(latency.len(), 24);
    let (before, now_hour) = (hour_of(this_hour - HOUR + 5), hour_of(this_hour + 1));
    assert_eq!(
        (latency[before].as_u64(), latency[now_hour].as_u64()),
        (Some(100), Some(31)),
        "hourly means, in whole ms"
    );
    assert_eq!(latency.iter().filter(|v| !v.is_null()).count(), 2, "{latency:?}");

    let api = entry(&api).unwrap();
    assert_eq!(api["last"]["status"], "skipped", "the latest result, whatever it is");
    assert_eq!(
        (api["checks"].as_u64(), api["availability"].as_f64()),
        (Some(1), Some(100.0)),
        "skipped ones do not count"
    );
    assert_eq!(api["latency_ms"][hour_of(this_hour - 22 * HOUR + 1)], 70, "oldest hour first");

    let viewer = app.token(token, "viewer").await;
    assert_eq!(app.call("GET", "/api/v1/overview", Some(&viewer), None).await.0, StatusCode::OK, "a read");
    assert_eq!(app.call("GET", "/api/v1/overview", None, None).await.0, StatusCode::UNAUTHORIZED);
}
