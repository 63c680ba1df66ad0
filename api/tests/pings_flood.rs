//! Floods of ping tokens: forged tokens cost no Postgres query, old-form
//! tokens still ping but unknown ones are limited per client address, and
//! however many lookups a flood asks for, other requests still get a
//! connection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use statushawk_api::Deps;
use statushawk_api::pings::{PG_LOOKUPS, UNKNOWN_LOOKUPS};
use support::App;
use tower::ServiceExt;

/// A heartbeat monitor of the owner's team: its id and ping token.
async fn heartbeat(app: &App, owner: &str, name: &str) -> (String, String) {
    let spec = json!({"kind": "heartbeat", "period_ms": 60_000, "grace_ms": 60_000});
    let (status, monitor) =
        app.call("POST", "/api/v1/monitors", Some(owner), Some(json!({"name": name, "spec": spec}))).await;
    assert_eq!(status, StatusCode::CREATED, "{monitor}");
    (monitor["id"].as_str().unwrap().to_owned(), monitor["ping_token"].as_str().unwrap().to_owned())
}

/// A router over `pg` instead of the app's pool.
fn router_on(app: &App, pg: sqlx::PgPool) -> Router {
    statushawk_api::router(Deps { pg, ..app.deps.clone() })
}

/// `GET /ping/<token>` from `peer`: the status and `Retry-After`.
async fn ping(router: &Router, token: &str, peer: &str) -> (StatusCode, Option<String>) {
    let mut request = Request::get(format!("/ping/{token}")).body(Body::empty()).unwrap();
    let peer: IpAddr = peer.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(SocketAddr::new(peer, 40_000)));
    let response = router.clone().oneshot(request).await.unwrap();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (response.status(), retry_after)
}

/// A random token of the old form: 40 hex digits.
fn old_form() -> String {
    hex::encode(rand::random::<[u8; 20]>())
}

#[tokio::test]
async fn forged_tokens_are_refused_without_a_postgres_query() {
    let app = App::new().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let (_, token) = heartbeat(&app, &owner, "Nightly backup").await;
    // A pool of one connection, which the test holds: any query a ping
    // made would wait for it, and give up with 503.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(2))
        .connect(&app.env.database_url)
        .await
        .unwrap();
    let router = router_on(&app, pool.clone());
    assert_eq!(ping(&router, &token, "192.0.2.1").await.0, StatusCode::OK, "a genuine token pings");
    let held = pool.acquire().await.unwrap();

    // Tokens of the right form whose tag does not verify, and a genuine
    // token with one digit of its tag changed.
    let mut forged: Vec<String> = (0..200).map(|_| format!("hb_{}", hex::encode(rand::random::<[u8; 30]>()))).collect();
    let last = token.chars().last().unwrap();
    forged.push(format!("{}{}", &token[..token.len() - 1], if last == '0' { '1' } else { '0' }));
    // And shapes no token ever had.
    forged.extend(["0123456789abcdef", "hb_", "hb_zz", &"a".repeat(41), &format!("{token}0")].map(String::from));
    let answers = futures::future::join_all(forged.iter().map(|t| ping(&router, t, "203.0.113.9"))).await;
    for (token, (status, _)) in forged.iter().zip(&answers) {
        assert_eq!(*status, StatusCode::NOT_FOUND, "{token}");
    }
    assert_eq!(ping(&router, &token, "192.0.2.1").await.0, StatusCode::OK, "the genuine token still pings");
    drop(held);
    assert!(token.starts_with("hb_") && token.len() == 63, "new tokens carry their tag: {token}");
}

#[tokio::test]
async fn old_tokens_still_ping_and_unknown_ones_are_limited_per_address() {
    let app = App::new().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let (id, _) = heartbeat(&app, &owner, "Nightly backup").await;
    // A token minted before tokens carried a tag, in a user's crontab.
    let old = old_form();
    sqlx::query("UPDATE monitors SET ping_token_hash = $1 WHERE id = $2::uuid")
        .bind(statushawk_api::auth::token_hash(&old))
        .bind(&id)
        .execute(&app.pg)
        .await
        .unwrap();
    let router = router_on(&app, app.pg.clone());
    assert_eq!(ping(&router, &old, "192.0.2.10").await.0, StatusCode::OK, "an old token still pings");

    let flooder = "198.51.100.66";
    for i in 0..UNKNOWN_LOOKUPS {
        assert_eq!(ping(&router, &old_form(), flooder).await.0, StatusCode::NOT_FOUND, "lookup {i}");
    }
    let (status, retry_after) = ping(&router, &old_form(), flooder).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "unknown tokens are limited per address");
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().unwrap() >= 1), "with Retry-After");
    assert_eq!(ping(&router, &old_form(), "198.51.100.67").await.0, StatusCode::NOT_FOUND, "others are not limited");
    assert_eq!(ping(&router, &old, flooder).await.0, StatusCode::OK, "a known token is not refused");

    // IPv6 flooders are counted by /64, so new addresses do not help.
    for i in 0..UNKNOWN_LOOKUPS {
        let peer = format!("2001:db8:5:6::{:x}", i + 1);
        assert_eq!(ping(&router, &old_form(), &peer).await.0, StatusCode::NOT_FOUND, "lookup {i}");
    }
    assert_eq!(ping(&router, &old_form(), "2001:db8:5:6::ffff").await.0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_flood_of_lookups_leaves_connections_for_other_requests() {
    let app = App::new().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    heartbeat(&app, &owner, "Nightly backup").await;
    // The API's own pool, as small as the test harness's.
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&app.env.database_url)
        .await
        .unwrap();
    let router = router_on(&app, pool.clone());
    // Token lookups wait behind a lock the test holds, as they would behind
    // a slow database.
    let mut lock = app.pg.begin().await.unwrap();
    sqlx::query("LOCK TABLE monitors IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap();
    // Old-form tokens from as many addresses: the per-address limit does
    // not stop them.
    let flood = tokio::spawn({
        let router = router.clone();
        async move {
            let pings = (0..40).map(|i| {
                let router = router.clone();
                async move { ping(&router, &old_form(), &format!("198.51.100.{i}")).await.0 }
            });
            futures::future::join_all(pings).await
        }
    });
    // Until the lookups are waiting on the lock.
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&app.pg)
        .await
        .unwrap();
        if waiting >= PG_LOOKUPS as i64 {
            break;
        }
        tokio::task::yield_now().await;
    }
    // Meanwhile an authenticated request gets its connections.
    let mut request = Request::get("/api/v1/tokens").header("authorization", format!("Bearer {owner}"));
    request = request.header("host", "api");
    let response = router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "other requests keep working during the flood");
    lock.rollback().await.unwrap();
    let answers = flood.await.unwrap();
    assert!(
        answers.iter().all(|s| *s == StatusCode::NOT_FOUND || *s == StatusCode::SERVICE_UNAVAILABLE),
        "{answers:?}"
    );
    assert_eq!(ping(&router, &old_form(), "192.0.2.200").await.0, StatusCode::NOT_FOUND, "the flood is over");
}
