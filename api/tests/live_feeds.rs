//! The live feeds end when their client leaves, even when nothing flows,
//! and shortly after their caller's access is revoked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use statushawk_api::live;
use support::App;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

const WAIT: Duration = Duration::from_secs(20);

/// Short periods, so that the tests see in well under a second what takes
/// seconds in production.
fn quick() -> live::Settings {
    live::Settings { keep_alive: Duration::from_millis(200), reauthorize: Duration::from_millis(300) }
}

/// Polls `check` every 50 ms until it holds; panics with `what` after [`WAIT`].
async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A NATS client connection seen from the wire: a proxy between the client
/// and the server that reads the client's protocol and keeps the
/// subscriptions it holds at the server (`SUB` until `UNSUB`).
struct NatsSpy {
    addr: SocketAddr,
    /// sid → subject.
    subscriptions: Arc<Mutex<HashMap<String, String>>>,
}

impl NatsSpy {
    async fn start(server: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let subscriptions: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let (server, subs) = (server.trim_start_matches("nats://").to_owned(), subscriptions.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = TcpStream::connect(&server).await.unwrap();
                let (client_read, mut client_write) = client.into_split();
                let (mut upstream_read, mut upstream_write) = upstream.into_split();
                tokio::spawn(async move { tokio::io::copy(&mut upstream_read, &mut client_write).await });
                let subs = subs.clone();
                tokio::spawn(async move {
                    let mut reader = BufReader::new(client_read);
                    let mut line = Vec::new();
                    loop {
                        line.clear();
                        if reader.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        upstream_write.write_all(&line).await.unwrap();
                        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                        let words: Vec<&str> = text.split(' ').collect();
                        match words[0].to_ascii_uppercase().as_str() {
                            // A payload follows: pass it through unread.
                            "PUB" | "HPUB" => {
                                let size: usize = words.last().unwrap().parse().unwrap();
                                let mut payload = vec![0; size + 2];
                                reader.read_exact(&mut payload).await.unwrap();
                                upstream_write.write_all(&payload).await.unwrap();
                            }
                            "SUB" => {
                                let sid = words.last().unwrap().to_string();
                                subs.lock().unwrap().insert(sid, words[1].to_owned());
                            }
                            "UNSUB" => {
                                subs.lock().unwrap().remove(words[1]);
                            }
                            _ => {}
                        }
                    }
                });
            }
        });
        Self { addr, subscriptions }
    }

    fn subscribed_to(&self, needle: &str) -> bool {
        self.subscriptions.lock().unwrap().values().any(|subject| subject.contains(needle))
    }
}

/// Serves `router` on a free port, as `statushawk_api::run` does.
async fn serve(router: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    addr
}

async fn create_monitor(app: &App, token: &str, paused: bool) -> String {
    let body = json!({"name": "Checkout", "spec": {"kind": "http", "url": "https://shop.example/"}, "paused": paused});
    let (status, monitor) = app.call("POST", "/api/v1/monitors", Some(token), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{monitor}");
    monitor["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_monitor_feed_unsubscribes_when_its_client_leaves_though_nothing_flows() {
    let mut app = App::new().await;
    let owner = app.sign_up("owner@shop.example", "Shop").await;
    // Paused: no result will ever come to tell the feed its client is gone.
    let monitor = create_monitor(&app, &owner, true).await;
    let spy = NatsSpy::start(&app.env.services.nats_url).await;
    app.deps.nats = statushawk_nats::async_nats::connect(spy.addr.to_string()).await.unwrap();
    app.deps.live = quick();
    let addr = serve(statushawk_api::router(app.deps.clone())).await;

    for round in 0..3 {
        let mut client = TcpStream::connect(addr).await.unwrap();
        let request =
            format!("GET /api/v1/monitors/{monitor}/live HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {owner}\r\n\r\n");
        client.write_all(request.as_bytes()).await.unwrap();
        let mut head = [0u8; 12];
        client.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200", "round {round}");
        eventually("the feed's subscription at the server", || async { spy.subscribed_to(&monitor) }).await;

        // The client goes away; nothing is ever published on the subject.
        drop(client);
        let left = tokio::time::Instant::now();
        eventually("the subscription gone", || async { !spy.subscribed_to(&monitor) }).await;
        println!("round {round}: unsubscribed {:?} after the client left", left.elapsed());
    }
}

/// Opens `path` with `token` in-process; the feed's body.
async fn open(app: &App, router: &axum::Router, path: &str, token: &str) -> Body {
    let _ = app;
    let request = Request::get(path).header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.into_body()
}

/// Reads `body` until it ends (true) or [`WAIT`] passes (false).
async fn ends(body: &mut Body) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(_))) => continue,
            Ok(None | Some(Err(_))) => return true,
            Err(_) => return false,
        }
    }
}

/// Reads `body` until `needle` shows (true), it ends or [`WAIT`] passes.
async fn shows(body: &mut Body, needle: &str) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = String::new();
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await {
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
            if seen.contains(needle) {
                return true;
            }
        }
    }
    false
}

/// Publishes a genuine result of `monitor` (of `team`) now and then until
/// the returned guard is dropped.
fn results_keep_coming(app: &App, monitor: &str, team: &str) -> tokio::task::JoinHandle<()> {
    let monitor: statushawk_schemas::MonitorId = monitor.parse().unwrap();
    let team = statushawk_schemas::TeamId(team.parse().unwrap());
    let region = statushawk_schemas::Region::new("eu-west").unwrap();
    let subject =
        app.topology.subject(&statushawk_schemas::subject::check_result(monitor, &region, app.topology.partitions));
    let services = app.env.services.clone();
    tokio::spawn(async move {
        let nats = statushawk_nats::async_nats::connect(&services.nats_url).await.unwrap();
        loop {
            let now = statushawk_schemas::now_ms();
            let result = json!({
                "schema_version": 1, "monitor_id": monitor, "team_id": team, "region": region, "slot_ms": now,
                "attempt": 0, "prober_id": "still-here", "started_at_ms": now, "status": "up",
                "timings": {"total_ms": 3}
            });
            nats.publish(subject.clone(), result.to_string().into()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

async fn new_token(app: &App, owner: &str, name: &str) -> (String, String) {
    let (status, body) =
        app.call("POST", "/api/v1/tokens", Some(owner), Some(json!({"name": name, "role": "viewer"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (body["token"].as_str().unwrap().to_owned(), body["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn feeds_end_when_their_token_is_revoked_or_expires() {
    let mut app = App::new().await;
    let session = app.session("owner@shop.example", "Shop").await;
    let owner = session["token"].as_str().unwrap().to_owned();
    let monitor = create_monitor(&app, &owner, false).await;
    app.deps.live = quick();
    let router = statushawk_api::router(app.deps.clone());
    let (revoked, revoked_id) = new_token(&app, &owner, "dashboard").await;
    let (expiring, _) = new_token(&app, &owner, "wallboard").await;
    let (kept, _) = new_token(&app, &owner, "kept").await;

    let mut kept_feed = open(&app, &router, &format!("/api/v1/monitors/{monitor}/live"), &kept).await;
    let mut kept_team_feed = open(&app, &router, "/api/v1/live", &kept).await;
    let mut feeds = Vec::new();
    for token in [&revoked, &expiring] {
        feeds.push(open(&app, &router, &format!("/api/v1/monitors/{monitor}/live"), token).await);
        feeds.push(open(&app, &router, "/api/v1/live", token).await);
    }
    let publishing = results_keep_coming(&app, &monitor, session["team_id"].as_str().unwrap());
    for feed in &mut feeds {
        assert!(shows(feed, "still-here").await, "a feed shows results while its token is good");
    }

    let (status, _) = app.call("DELETE", &format!("/api/v1/tokens/{revoked_id}"), Some(&owner), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    sqlx::query("UPDATE api_tokens SET expires_at = now() WHERE name = 'wallboard'").execute(&app.pg).await.unwrap();
    for (i, feed) in feeds.iter_mut().enumerate() {
        assert!(ends(feed).await, "feed {i} ends once its token is no longer valid");
    }
    // Those ends took a re-check; the feeds of a good token are still open.
    assert!(shows(&mut kept_feed, "still-here").await);
    assert!(shows(&mut kept_team_feed, "still-here").await);
    publishing.abort();
}

#[tokio::test]
async fn feeds_end_when_their_member_is_removed() {
    let mut app = App::new().await;
    let owner_session = app.session("owner@shop.example", "Shop").await;
    let owner = owner_session["token"].as_str().unwrap().to_owned();
    let team = owner_session["team_id"].as_str().unwrap().to_owned();
    let monitor = create_monitor(&app, &owner, false).await;
    // A colleague: a user of their own, made a member of the team, signed in to it.
    let colleague = app.session("colleague@shop.example", "Colleague's own").await;
    let colleague_id = colleague["user_id"].as_str().unwrap().to_owned();
    sqlx::query("INSERT INTO memberships (team_id, user_id, role) VALUES ($1::uuid, $2::uuid, 'member')")
        .bind(&team)
        .bind(&colleague_id)
        .execute(&app.pg)
        .await
        .unwrap();
    let slug: String =
        sqlx::query_scalar("SELECT slug FROM teams WHERE id = $1::uuid").bind(&team).fetch_one(&app.pg).await.unwrap();
    let (status, signed_in) = app
        .call(
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"email": "colleague@shop.example", "password": "correct horse battery", "team": slug})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{signed_in}");
    assert_eq!(signed_in["team_id"], Value::String(team.clone()));
    let colleague_token = signed_in["token"].as_str().unwrap().to_owned();

    app.deps.live = quick();
    let router = statushawk_api::router(app.deps.clone());
    let mut kept_feed = open(&app, &router, "/api/v1/live", &owner).await;
    let mut feeds = vec![
        open(&app, &router, &format!("/api/v1/monitors/{monitor}/live"), &colleague_token).await,
        open(&app, &router, "/api/v1/live", &colleague_token).await,
    ];
    let publishing = results_keep_coming(&app, &monitor, &team);
    for feed in &mut feeds {
        assert!(shows(feed, "still-here").await, "a member's feed shows results");
    }

    let (status, body) = app.call("DELETE", &format!("/api/v1/members/{colleague_id}"), Some(&owner), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for (i, feed) in feeds.iter_mut().enumerate() {
        assert!(ends(feed).await, "feed {i} ends once its member is removed");
    }
    assert!(shows(&mut kept_feed, "still-here").await, "the owner's feed is still open");
    publishing.abort();
}
