//! Who the API takes a client to be: the public rate limit counts the client
//! behind a trusted proxy (and only a trusted one), IPv6 clients by their
//! /64; and `/metrics` on the API listener opens only with its token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use statushawk_api::Deps;
use statushawk_api::middleware::PUBLIC_REQUESTS;
use support::App;
use tower::ServiceExt;

/// A public route: unknown slugs are 404 until the limit, then 429.
const PUBLIC: &str = "/api/v1/public/status/nobody-here";

/// The app's router with changed dependencies.
fn router_with(app: &App, change: impl FnOnce(&mut Deps)) -> Router {
    let mut deps = app.deps.clone();
    change(&mut deps);
    statushawk_api::router(deps)
}

/// `GET path` from the TCP peer `peer` with `headers`: status and body.
async fn get(router: &Router, path: &str, peer: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(Body::empty()).unwrap();
    let peer: IpAddr = peer.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(SocketAddr::new(peer, 40_000)));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Uses up the public limit of whoever `peer` and `headers` make the client.
async fn use_up(router: &Router, peer: &str, headers: &[(&str, &str)]) {
    for i in 0..PUBLIC_REQUESTS {
        let (status, body) = get(router, PUBLIC, peer, headers).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "request {i}: {body}");
    }
}

#[tokio::test]
async fn clients_behind_a_trusted_proxy_are_limited_each_by_its_own_address() {
    let app = App::new().await;
    let router = router_with(&app, |deps| deps.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()]);
    let proxy = "10.1.2.3";
    use_up(&router, proxy, &[("x-forwarded-for", "198.51.100.7")]).await;
    let (status, body) = get(&router, PUBLIC, proxy, &[("x-forwarded-for", "198.51.100.7")]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the first client is limited: {body}");
    // Another client behind the same proxy has its own count, whatever the
    // first one wrote into the header before the proxy appended its address.
    let (status, body) = get(&router, PUBLIC, proxy, &[("x-forwarded-for", "198.51.100.8")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another client behind the proxy is not limited: {body}");
    let (status, _) = get(&router, PUBLIC, proxy, &[("x-forwarded-for", "198.51.100.8, 198.51.100.7")]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the right-most address is the client");
    // Two proxies in a row: the client is the first address that is not one.
    let (status, _) = get(&router, PUBLIC, proxy, &[("x-forwarded-for", "198.51.100.7, 10.9.9.9")]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "a chain of trusted proxies is seen through");
}

#[tokio::test]
async fn an_untrusted_peer_gains_nothing_by_sending_x_forwarded_for() {
    let app = App::new().await;
    let router = router_with(&app, |deps| deps.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()]);
    let attacker = "203.0.113.5";
    for i in 0..PUBLIC_REQUESTS {
        let forged = format!("192.0.2.{}, 10.0.0.1", i % 250);
        let (status, _) = get(&router, PUBLIC, attacker, &[("x-forwarded-for", &forged)]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "request {i}");
    }
    let (status, _) = get(&router, PUBLIC, attacker, &[("x-forwarded-for", "192.0.2.251")]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "a new forged address each time does not help");
    // Nor did the attacker use up the addresses it named.
    let (status, _) = get(&router, PUBLIC, "10.1.2.3", &[("x-forwarded-for", "192.0.2.1")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the named client is not charged");
}

#[tokio::test]
async fn ipv6_clients_are_counted_by_their_64() {
    let app = App::new().await;
    let router = router_with(&app, |_| {});
    use_up(&router, "2001:db8:1:2::1", &[]).await;
    let (status, _) = get(&router, PUBLIC, "2001:db8:1:2:ffff:ffff:ffff:9", &[]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "another address of the same /64 shares the count");
    let (status, _) = get(&router, PUBLIC, "2001:db8:1:3::1", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the next /64 is another client");
    // An IPv4 client reaching a dual-stack listener is its IPv4 address.
    use_up(&router, "::ffff:192.0.2.9", &[]).await;
    let (status, _) = get(&router, PUBLIC, "192.0.2.9", &[]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "an IPv4-mapped peer is its IPv4 address");
}

#[tokio::test]
async fn metrics_on_the_api_listener_open_only_with_the_metrics_token() {
    let app = App::new().await;
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder().handle();
    let token = "metrics-0123456789abcdef";
    let router = router_with(&app, |deps| {
        deps.metrics = Some(handle.clone());
        deps.metrics_token = Some(token.into());
    });
    let peer = "192.0.2.1";
    let (status, body) = get(&router, "/metrics", peer, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = get(&router, "/metrics", peer, &[("authorization", "Bearer metrics-0123456789abcdeF")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a wrong token");
    let (status, _) = get(&router, "/metrics", peer, &[("authorization", &format!("Bearer {token}x"))]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a longer token");
    let (status, _) = get(&router, "/metrics", peer, &[("authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(status, StatusCode::OK, "the right token");

    // Without a token configured, the API listener does not serve them and
    // says where they are.
    let router = router_with(&app, |deps| deps.metrics = Some(handle.clone()));
    let (status, body) = get(&router, "/metrics", peer, &[("authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("metrics.listen"), "{body}");
}
