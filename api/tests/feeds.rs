//! A public status page's Atom and RSS feeds, read back with a real feed
//! parser (Python's feedparser, installed by `scripts/services install`):
//! they parse cleanly and list the incident with its updates and the
//! scheduled maintenance, and nothing private.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::App;

/// What feedparser makes of `xml`: its version, whether it complained
/// (`bozo`), the feed's title and each entry's title, id and text.
fn parse(xml: &str) -> Value {
    let dir = std::env::temp_dir().join(format!("statushawk-feed-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("feed.xml");
    std::fs::write(&file, xml).unwrap();
    let script = r#"
import json, sys, feedparser
d = feedparser.parse(sys.argv[1])
print(json.dumps({
    "bozo": bool(d.bozo), "error": str(d.get("bozo_exception", "")), "version": d.version,
    "title": d.feed.get("title"), "link": d.feed.get("link"),
    "entries": [{"title": e.get("title"), "id": e.get("id"),
                 "text": (e.get("content") or [{}])[0].get("value") or e.get("summary", ""),
                 "updated": e.get("updated_parsed") is not None} for e in d.entries],
}))
"#;
    let out = std::process::Command::new("python3").arg("-c").arg(script).arg(&file).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "feedparser failed (scripts/services install brings it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn feeds_parse_and_list_incidents_with_their_updates_and_maintenance() {
    let app = App::new().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let monitor_id = app.monitor(&owner, "checkout-internal", "https://shop.example/").await;
    let page = json!({"slug": "shop", "title": "Shop & Co", "public": true,
        "monitors": [{"monitor_id": monitor_id, "display_name": "Checkout"}]});
    let (status, page) = app.call("POST", "/api/v1/status-pages", Some(&owner), Some(page)).await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    let incident: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO incidents (team_id, monitor_id, started_at, cause) \
         SELECT team_id, id, now() - interval '30 minutes', 'HTTP 503 from 10.0.0.7' FROM monitors RETURNING id",
    )
    .fetch_one(&app.pg)
    .await
    .unwrap();
    let path = format!("/api/v1/incidents/{incident}/updates");
    for said in [
        json!({"status": "identified", "message": "A bad deploy <script>; rolling back."}),
        json!({"status": "monitoring", "message": "Rolled back; watching.", "notify": false}),
    ] {
        let (status, _) = app.call("POST", &path, Some(&owner), Some(said)).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, _) = app.call("POST", &format!("/api/v1/incidents/{incident}/ack"), Some(&owner), None).await;
    assert_eq!(status, StatusCode::OK);
    let soon = statushawk_schemas::now_ms() + 86_400_000;
    let window = json!({"title": "Payment provider upgrade", "monitor_id": monitor_id, "schedule": {
        "kind": "one_off", "starts_at_ms": soon, "ends_at_ms": soon + 3_600_000}});
    let (status, _) = app.call("POST", "/api/v1/maintenance", Some(&owner), Some(window)).await;
    assert_eq!(status, StatusCode::CREATED);

    for (path, content_type, version) in [
        ("/status/shop/feed.atom", "application/atom+xml; charset=utf-8", "atom10"),
        ("/status/shop/feed.rss", "application/rss+xml; charset=utf-8", "rss20"),
    ] {
        let (status, got_type, xml) = app.raw("GET", path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{xml}");
        assert_eq!(got_type, content_type);
        let feed = parse(&xml);
        assert_eq!((feed["bozo"].as_bool(), feed["version"].as_str()), (Some(false), Some(version)), "{feed}");
        assert_eq!(feed["title"], "Shop & Co status");
        assert_eq!(feed["link"], "https://status.example/status/shop");
        let entries = feed["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "{feed}");
        let incident_entry =
            entries.iter().find(|e| e["title"] == "Checkout: monitoring").unwrap_or_else(|| panic!("{feed}"));
        let text = incident_entry["text"].as_str().unwrap();
        assert!(
            text.contains("A bad deploy &lt;script&gt;; rolling back.") && text.contains("Rolled back; watching."),
            "{text}"
        );
        assert!(incident_entry["updated"].as_bool().unwrap());
        let maintenance = entries.iter().find(|e| e["title"] == "Scheduled maintenance: Payment provider upgrade");
        assert!(maintenance.is_some_and(|m| m["text"].as_str().unwrap().contains("Affects: Checkout.")), "{feed}");
        for private in ["checkout-internal", "10.0.0.7", "ops@shop.example", "Acknowledged"] {
            assert!(!xml.contains(private), "{private} in {xml}");
        }
    }

    // Not public: no feeds.
    let body = json!({"slug": "shop", "title": "Shop & Co", "public": false});
    let (status, _) = app
        .call("PUT", &format!("/api/v1/status-pages/{}", page["id"].as_str().unwrap()), Some(&owner), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK);
    for path in ["/status/shop/feed.atom", "/status/shop/feed.rss"] {
        let (status, _, _) = app.raw("GET", path, None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
