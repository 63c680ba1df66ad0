//! Analytics against real Postgres and ClickHouse: seeded incidents,
//! maintenance windows and check results, with expectations computed by hand.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::App;
use time::OffsetDateTime;

const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// A team with one HTTP monitor created 40 days ago; returns (token, monitor id, team id).
async fn monitor_created_40_days_ago(app: &App, now: i64) -> (String, String, uuid::Uuid) {
    let owner = app.sign_up("owner@shop.example", "Shop").await;
    let (status, monitor) = app
        .call(
            "POST",
            "/api/v1/monitors",
            Some(&owner),
            Some(json!({"name": "Checkout", "spec": {"kind": "http", "url": "https://shop.example/health"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{monitor}");
    let id = monitor["id"].as_str().unwrap().to_owned();
    let team: uuid::Uuid =
        sqlx::query_scalar("UPDATE monitors SET created_at = to_timestamp($1) WHERE id = $2::uuid RETURNING team_id")
            .bind((now - 40 * DAY) as f64)
            .bind(&id)
            .fetch_one(&app.pg)
            .await
            .unwrap();
    (owner, id, team)
}

async fn incident(app: &App, team: uuid::Uuid, monitor: &str, start: i64, end: i64) {
    sqlx::query(
        "INSERT INTO incidents (team_id, monitor_id, started_at, resolved_at) \
         VALUES ($1, $2::uuid, to_timestamp($3), to_timestamp($4))",
    )
    .bind(team)
    .bind(monitor)
    .bind(start as f64)
    .bind(end as f64)
    .execute(&app.pg)
    .await
    .unwrap();
}

fn close(actual: &Value, expected: f64) {
    let actual = actual.as_f64().unwrap_or_else(|| panic!("{actual} is not a number"));
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}

#[tokio::test]
async fn uptime_is_time_based_without_maintenance_and_check_based_from_the_rollups() {
    let app = App::new().await;
    // Whole minutes: weekly windows start at HH:MM.
    let now = OffsetDateTime::now_utc().unix_timestamp() / MIN * MIN;
    let (owner, id, team) = monitor_created_40_days_ago(&app, now).await;
    // Another monitor of the team, with a window of its own over incident A:
    // it must not count for ours.
    let (_, other) = app
        .call(
            "POST",
            "/api/v1/monitors",
            Some(&owner),
            Some(json!({"name": "Other", "spec": {"kind": "http", "url": "https://shop.example/other"}})),
        )
        .await;

    // A: 30 min, two hours ago.
    incident(&app, team, &id, now - 2 * HOUR, now - 2 * HOUR + 30 * MIN).await;
    // B: 2 h, three days ago; a one-off window covers its second hour.
    incident(&app, team, &id, now - 3 * DAY, now - 3 * DAY + 2 * HOUR).await;
    // C: 6 h, twenty days ago; a weekly window (in Asia/Kolkata, UTC+5:30)
    // covers its first hour, and every 7 days from it.
    let c = now - 20 * DAY;
    incident(&app, team, &id, c, c + 6 * HOUR).await;
    let kolkata = OffsetDateTime::from_unix_timestamp(c + 5 * HOUR + 30 * MIN).unwrap();
    let (app_ref, owner_ref) = (&app, &owner);
    let window = |body: Value| async move {
        let (status, body) = app_ref.call("POST", "/api/v1/maintenance", Some(owner_ref), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    };
    window(json!({"title": "DB upgrade", "monitor_id": id, "schedule": {
        "kind": "one_off", "starts_at_ms": (now - 3 * DAY + HOUR) * 1000, "ends_at_ms": (now - 3 * DAY + 2 * HOUR) * 1000}}))
    .await;
    window(json!({"title": "Backups", "monitor_id": id, "schedule": {
        "kind": "weekly", "weekdays": [kolkata.weekday().number_from_monday()],
        "start_time": format!("{:02}:{:02}", kolkata.hour(), kolkata.minute()),
        "duration_minutes": 60, "timezone": "Asia/Kolkata"}}))
    .await;
    window(json!({"title": "Not ours", "monitor_id": other["id"], "schedule": {
        "kind": "one_off", "starts_at_ms": (now - 3 * HOUR) * 1000, "ends_at_ms": (now - HOUR) * 1000}}))
    .await;

    // Checked every hour since it was created: all of its time measured.
    let checked: Vec<String> =
        (0..=40 * 24).map(|h| row(&id, team, now - 40 * DAY + h * HOUR, "eu-west", "up", 20)).collect();
    app.insert_results(&checked).await;

    let (status, uptime) = app.call("GET", &format!("/api/v1/monitors/{id}/uptime"), Some(&owner), None).await;
    assert_eq!(status, StatusCode::OK, "{uptime}");
    let windows = uptime["windows"].as_array().unwrap();
    assert_eq!(windows[0]["coverage"], "measured");
    assert_eq!(windows[0]["measured_s"], 24 * HOUR);
    assert_eq!(windows.iter().map(|w| w["window"].as_str().unwrap()).collect::<Vec<_>>(), ["24h", "7d", "30d", "90d"]);
    // Weekly occurrences: C-7d·k for k = 0..=5 while after creation (40 d
    // ago): 20, 13, 6 days ago (and 27, 34 days ago).
    // 24 h: measured 24 h, down A's 0.5 h.
    close(&windows[0]["uptime"], 100.0 * (24.0 - 0.5) / 24.0);
    assert_eq!(windows[0]["downtime_s"], 1800);
    // 7 d: maintenance B's 1 h + the weekly one 6 days ago; down 0.5 + 1.
    close(&windows[1]["uptime"], 100.0 * (166.0 - 1.5) / 166.0);
    assert_eq!(windows[1]["downtime_s"], 5400);
    // 30 d: maintenance 1 h + four weekly hours (6, 13, 20, 27 days ago);
    // down 0.5 + 1 + C's 6 h less its first hour.
    close(&windows[2]["uptime"], 100.0 * (715.0 - 6.5) / 715.0);
    assert_eq!(windows[2]["downtime_s"], 23_400);
    // 90 d: measured from creation (now_ms of the answer may be a moment
    // after ours), maintenance 1 h + five weekly hours (34 days ago too).
    let measured = (uptime["now_ms"].as_i64().unwrap() as f64 / 1000.0 - (now - 40 * DAY) as f64) / 3600.0 - 6.0;
    close(&windows[3]["uptime"], 100.0 * (measured - 6.5) / measured);
    assert_eq!(windows[3]["downtime_s"], 23_400);

    // Another team's monitor is not found.
    let stranger = app.sign_up("eve@elsewhere.example", "Elsewhere").await;
    for what in ["uptime", "latency", "results"] {
        let (status, _) = app.call("GET", &format!("/api/v1/monitors/{id}/{what}"), Some(&stranger), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{what}");
    }
}

/// One row of `check_results`, without a message.
fn row(monitor: &str, team: uuid::Uuid, ts: i64, region: &str, status: &str, total_ms: u32) -> String {
    support::result_row(monitor, team, ts, region, status, total_ms, "")
}

#[tokio::test]
async fn latency_percentiles_counts_and_raw_results_from_clickhouse() {
    let app = App::new().await;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let (owner, id, team) = monitor_created_40_days_ago(&app, now).await;
    // Minute m1, three hours ago: up results 10..100 ms from two regions, one
    // degraded at 200 ms, two down and one skipped (not measured).
    let h1 = (now - 3 * HOUR) / HOUR * HOUR;
    let m1 = h1 + 5 * MIN;
    let mut rows = Vec::new();
    for (i, ms) in (10..=100).step_by(10).enumerate() {
        let region = if i % 2 == 0 { "eu-west" } else { "us-east" };
        rows.push(row(&id, team, m1 + i as i64, region, "up", ms));
    }
    rows.push(row(&id, team, m1 + 10, "eu-west", "degraded", 200));
    rows.push(row(&id, team, m1 + 11, "eu-west", "down", 5000));
    rows.push(row(&id, team, m1 + 12, "us-east", "down", 5000));
    rows.push(row(&id, team, m1 + 13, "us-east", "skipped", 0));
    // Hour h2, three days ago: 13 up results, 3..87 ms.
    let h2 = (now - 3 * DAY) / HOUR * HOUR;
    for k in 0..13 {
        rows.push(row(&id, team, h2 + 60 * k, "eu-west", "up", 3 + 7 * k as u32));
    }
    // 100 days ago: outside every window.
    rows.push(row(&id, team, now - 100 * DAY, "eu-west", "down", 1));
    app.insert_results(&rows).await;

    // Check-based counts: 24 h has minute m1; 7 d and beyond add hour h2.
    let (_, uptime) = app.call("GET", &format!("/api/v1/monitors/{id}/uptime"), Some(&owner), None).await;
    let checks: Vec<&Value> = uptime["windows"].as_array().unwrap().iter().map(|w| &w["checks"]).collect();
    assert_eq!(
        (&checks[0]["total"], &checks[0]["up"], &checks[0]["degraded"], &checks[0]["down"]),
        (&json!(13), &json!(10), &json!(1), &json!(2))
    );
    close(&checks[0]["availability"], 100.0 * 11.0 / 13.0);
    for later in &checks[1..] {
        assert_eq!((&later["total"], &later["up"], &later["down"]), (&json!(26), &json!(23), &json!(2)));
        close(&later["availability"], 100.0 * 24.0 / 26.0);
    }
    // No incidents: time-based uptime is 100 %.
    close(&uptime["windows"][3]["uptime"], 100.0);

    let latency = |query: String| {
        let app = &app;
        let owner = &owner;
        let id = &id;
        async move {
            let (status, body) =
                app.call("GET", &format!("/api/v1/monitors/{id}/latency?{query}"), Some(owner), None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["points"].as_array().unwrap().clone()
        }
    };
    // Minute m1: 11 samples 10..100 and 200; linear interpolation between
    // the sorted samples at (n-1)·q, truncated: p50 = s[5] = 60,
    // p95 = s[9.5] = 100 + 0.5·100 = 150, p99 = s[9.9] = 100 + 0.9·100 = 190.
    let points = latency(format!("bucket=minute&from_ms={}&to_ms={}", h1 * 1000, (h1 + HOUR) * 1000)).await;
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(points[0]["at_ms"], m1 * 1000);
    assert_eq!(
        (&points[0]["p50_ms"], &points[0]["p95_ms"], &points[0]["p99_ms"]),
        (&json!(60), &json!(150), &json!(190))
    );
    close(&points[0]["avg_ms"], 750.0 / 11.0);
    assert_eq!(points[0]["checks"]["total"], 13);
    // One region: 20, 40, 60, 80, 100: p50 = 60, p95 = s[3.8] = 96, p99 = s[3.96] = 99.2 → 99.
    let points =
        latency(format!("bucket=minute&region=us-east&from_ms={}&to_ms={}", h1 * 1000, (h1 + HOUR) * 1000)).await;
    assert_eq!(
        (&points[0]["p50_ms"], &points[0]["p95_ms"], &points[0]["p99_ms"]),
        (&json!(60), &json!(96), &json!(99))
    );
    close(&points[0]["avg_ms"], 60.0);
    // Hours, then days: hour h2's 13 samples 3 + 7k: p50 = s[6] = 45,
    // p95 = s[11.4] = 82.8 → 82, p99 = s[11.88] = 86.16 → 86.
    for bucket in ["hour", "day"] {
        let points = latency(format!("bucket={bucket}&from_ms={}&to_ms={}", (now - 4 * DAY) * 1000, now * 1000)).await;
        assert_eq!(points.len(), 2, "{bucket}: {points:?}");
        let size = if bucket == "hour" { HOUR } else { DAY };
        assert_eq!(points[0]["at_ms"], h2 / size * size * 1000);
        assert_eq!(points[1]["at_ms"], h1 / size * size * 1000);
        assert_eq!(
            (&points[0]["p50_ms"], &points[0]["p95_ms"], &points[0]["p99_ms"]),
            (&json!(45), &json!(82), &json!(86))
        );
        assert_eq!(
            (&points[1]["p50_ms"], &points[1]["p95_ms"], &points[1]["p99_ms"]),
            (&json!(60), &json!(150), &json!(190))
        );
    }
    let (status, body) = app
        .call(
            "GET",
            &format!("/api/v1/monitors/{id}/latency?bucket=minute&from_ms=0&to_ms={}", now * 1000),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!((status, &body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("from_ms")));

    // Raw results of the last 24 hours, newest first, five a page: the 14
    // rows of minute m1, each once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/monitors/{id}/results?limit=5");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let (status, page) = app.call("GET", &path, Some(&owner), None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(page["results"].as_array().unwrap().iter().map(|r| r["at_ms"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, (0..14).rev().map(|i| (m1 + i) * 1000).collect::<Vec<_>>());
    let (_, page) =
        app.call("GET", &format!("/api/v1/monitors/{id}/results?region=us-east&limit=1000"), Some(&owner), None).await;
    let results = page["results"].as_array().unwrap();
    assert_eq!(results.len(), 7);
    assert_eq!(results[0]["status"], "skipped");
    assert_eq!(
        (&results[1]["status"], &results[1]["total_ms"], &results[1]["ttfb_ms"]),
        (&json!("down"), &json!(5000), &json!(7))
    );
    let (status, body) =
        app.call("GET", &format!("/api/v1/monitors/{id}/results?cursor=nope"), Some(&owner), None).await;
    assert_eq!((status, &body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("cursor")));
}

#[tokio::test]
async fn heartbeat_pings_and_run_durations_per_day() {
    let app = App::new().await;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let owner = app.sign_up("owner@shop.example", "Shop").await;
    let (_, monitor) = app
        .call(
            "POST",
            "/api/v1/monitors",
            Some(&owner),
            Some(json!({"name": "Backup", "spec": {"kind": "heartbeat", "period_ms": 86_400_000, "grace_ms": 3_600_000}})),
        )
        .await;
    let id = monitor["id"].as_str().unwrap();
    let team = monitor["team_id"].as_str().unwrap();
    // Yesterday: runs of 100, 200, 300, 400 ms (one stored twice, as a
    // redelivery would); today: one of 1000 ms and a failure without a start.
    let today = now / DAY * DAY;
    let row = |n: u32, at: i64, kind: &str, exit: &str, duration: &str| {
        format!(
            "(toDateTime({s}), {at}, toUUID('00000000-0000-4000-8000-{n:012}'), toUUID('{id}'), toUUID('{team}'), \
             '{kind}', {exit}, {duration}, '', '10.0.0.{n}', 'log {n}')",
            s = at / 1000
        )
    };
    let y = (today - DAY + HOUR) * 1000;
    let rows = [
        row(1, y, "success", "NULL", "100"),
        row(2, y + 1000, "success", "NULL", "200"),
        row(3, y + 2000, "success", "NULL", "300"),
        row(3, y + 2000, "success", "NULL", "300"),
        row(4, y + 3000, "success", "0", "400"),
        row(5, (today + 60) * 1000, "success", "NULL", "1000"),
        row(6, (today + 120) * 1000, "fail", "2", "NULL"),
    ];
    app.env
        .clickhouse()
        .query(&format!("INSERT INTO heartbeat_pings VALUES {}", rows.join(", ")))
        .execute()
        .await
        .unwrap();

    let (status, pings) = app.call("GET", &format!("/api/v1/monitors/{id}/pings?limit=3"), Some(&owner), None).await;
    assert_eq!(status, StatusCode::OK, "{pings}");
    let pings = pings.as_array().unwrap();
    assert_eq!(pings.len(), 3);
    assert_eq!(
        (&pings[0]["kind"], &pings[0]["exit_code"], &pings[0]["body"]),
        (&json!("fail"), &json!(2), &json!("log 6"))
    );
    assert_eq!((&pings[1]["duration_ms"], &pings[2]["duration_ms"]), (&json!(1000), &json!(400)));

    // Yesterday's four runs (the copy counted once): p50 = s[1.5] = 250,
    // p95 = s[2.85] = 385; today's one run.
    let (_, days) = app.call("GET", &format!("/api/v1/monitors/{id}/runs?days=2"), Some(&owner), None).await;
    assert_eq!(
        days,
        json!([
            {"day_ms": (today - DAY) * 1000, "runs": 4, "p50_ms": 250, "p95_ms": 385, "max_ms": 400},
            {"day_ms": today * 1000, "runs": 1, "p50_ms": 1000, "p95_ms": 1000, "max_ms": 1000},
        ])
    );
    let (_, days) = app.call("GET", &format!("/api/v1/monitors/{id}/runs?days=1"), Some(&owner), None).await;
    assert_eq!(days.as_array().unwrap().len(), 1);
}
