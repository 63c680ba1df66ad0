//! HTTP(S) checks against real local servers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use statushawk_prober::checks::{self, Context};
use statushawk_schemas::{Assertion, CheckSpec, CheckStatus, ErrorKind, HttpMethod, HttpSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A context that may reach 127.0.0.1 (our servers) and nothing else private.
fn context(timeout: Duration) -> Context {
    support::loopback_ctx(timeout)
}

fn spec(url: String) -> HttpSpec {
    HttpSpec::get(url)
}

async fn run(spec: HttpSpec, ctx: &Context) -> checks::Outcome {
    spec.validate().unwrap();
    checks::run(&CheckSpec::Http(spec), ctx).await
}

async fn hops(Path(n): Path<u32>) -> Response {
    if n == 0 {
        return "arrived".into_response();
    }
    (StatusCode::FOUND, [(header::LOCATION, format!("/hops/{}", n - 1))]).into_response()
}

async fn echo(method: axum::http::Method, headers: HeaderMap, body: String) -> String {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    format!("{method} {} connection={} {body}", header("x-token"), header("connection"))
}

/// The target server: one route per case.
async fn server() -> SocketAddr {
    let app = Router::new()
        .route(
            "/ok",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::HeaderName::from_static("x-build"), "2026.11-r3"),
                    ],
                    r#"{"status":"green","version":3,"checks":{"db":"ok"}}"#,
                )
            }),
        )
        .route("/fail", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route("/hops/{n}", get(hops))
        .route(
            "/to-metadata",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "http://169.254.169.254/latest/meta-data/")]) }),
        )
        .route(
            "/lazy",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                "green, eventually"
            }),
        )
        .route("/big", get(|| async { vec![b'x'; 1 << 20] }))
        .route("/echo", any(echo));
    let listener = tokio::net::TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn a_200_is_up_with_phase_timings_and_the_address_used() {
    let addr = server().await;
    let ctx = context(Duration::from_secs(5));
    let outcome = run(spec(format!("http://{addr}/ok")), &ctx).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.http_status, Some(200));
    assert_eq!(outcome.ip, Some(LOOPBACK));
    assert!(outcome.timings.connect_ms.is_some() && outcome.timings.ttfb_ms.is_some());
    assert_eq!(outcome.timings.dns_ms, None, "an IP literal needs no lookup");
    assert_eq!(outcome.timings.tls_ms, None);
    assert!(outcome.body_bytes.unwrap() > 10);
}

#[tokio::test]
async fn a_500_is_down_with_the_status() {
    let addr = server().await;
    let outcome = run(spec(format!("http://{addr}/fail")), &context(Duration::from_secs(5))).await;
    assert_eq!((outcome.status, outcome.error), (CheckStatus::Down, Some(ErrorKind::HttpStatus)));
    assert_eq!(outcome.http_status, Some(500));
    // ... unless 500 is what the monitor expects.
    let mut expecting = spec(format!("http://{addr}/fail"));
    expecting.expected_status = vec![statushawk_schemas::StatusRange { min: 500, max: 500 }];
    assert_eq!(run(expecting, &context(Duration::from_secs(5))).await.status, CheckStatus::Up);
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let addr = server().await;
    let outcome = run(spec(format!("http://{addr}/slow")), &context(Duration::from_millis(500))).await;
    assert_eq!((outcome.status, outcome.error), (CheckStatus::Down, Some(ErrorKind::Timeout)));
    assert!(outcome.timings.total_ms >= 500 && outcome.timings.total_ms < 3000, "{outcome:?}");
}

#[tokio::test]
async fn three_redirects_are_followed_and_a_fourth_fails() {
    let addr = server().await;
    let ctx = context(Duration::from_secs(5));
    let three = run(spec(format!("http://{addr}/hops/3")), &ctx).await;
    assert_eq!(three.status, CheckStatus::Up, "{three:?}");
    assert_eq!(three.http_status, Some(200));
    let four = run(spec(format!("http://{addr}/hops/4")), &ctx).await;
    assert_eq!((four.status, four.error), (CheckStatus::Down, Some(ErrorKind::HttpStatus)));
    assert!(four.message.as_deref().unwrap().contains("more than 3 redirects"), "{four:?}");
    // Not following: the redirect itself is the (accepted, 3xx) answer.
    let mut stay = spec(format!("http://{addr}/hops/1"));
    stay.follow_redirects = 0;
    assert_eq!(run(stay, &ctx).await.http_status, Some(302));
}

#[tokio::test]
async fn a_redirect_to_a_private_address_is_blocked() {
    let addr = server().await;
    let outcome = run(spec(format!("http://{addr}/to-metadata")), &context(Duration::from_secs(5))).await;
    assert_eq!((outcome.status, outcome.error), (CheckStatus::Down, Some(ErrorKind::Blocked)), "{outcome:?}");
    assert!(outcome.message.as_deref().unwrap().contains("169.254.169.254"));
    // And so is a private target itself, in any spelling.
    for url in
        ["http://127.0.0.2/", "http://2130706434/", "http://0x7f.0.0.2/", "http://[::ffff:10.0.0.1]/", "http://[::1]/"]
    {
        let outcome = run(spec(url.into()), &context(Duration::from_secs(5))).await;
        assert_eq!(outcome.error, Some(ErrorKind::Blocked), "{url}: {outcome:?}");
    }
}

#[tokio::test]
async fn only_the_body_limit_is_read() {
    let addr = server().await;
    let outcome = run(spec(format!("http://{addr}/big")), &context(Duration::from_secs(5))).await;
    assert_eq!(outcome.status, CheckStatus::Up);
    assert_eq!(outcome.body_bytes, Some(10 * 1024));
    let mut smaller = spec(format!("http://{addr}/big"));
    smaller.max_body_bytes = Some(100);
    assert_eq!(run(smaller, &context(Duration::from_secs(5))).await.body_bytes, Some(100));
}

#[tokio::test]
async fn a_monitor_asking_for_more_than_the_operators_cap_reads_at_most_the_cap() {
    let addr = server().await;
    let mut greedy = spec(format!("http://{addr}/big"));
    greedy.max_body_bytes = Some(statushawk_schemas::MAX_BODY_LIMIT);
    let outcome = run(greedy, &context(Duration::from_secs(5))).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.body_bytes, Some(10 * 1024), "the context's cap is 10 KiB");
}

#[tokio::test]
async fn assertions_are_reported_one_by_one_with_actual_values() {
    let addr = server().await;
    let ctx = context(Duration::from_secs(5));
    let mut passing = spec(format!("http://{addr}/ok"));
    passing.assertions = vec![
        Assertion::BodyContains { value: "green".into() },
        Assertion::BodyNotContains { value: "error".into() },
        Assertion::JsonPointerEquals { pointer: "/checks/db".into(), value: serde_json::json!("ok") },
        Assertion::HeaderEquals { name: "content-type".into(), value: "application/json".into() },
        Assertion::HeaderContains { name: "X-Build".into(), value: "2026.11".into() },
        Assertion::ResponseTimeBelow { max_ms: 5_000 },
    ];
    let outcome = run(passing, &ctx).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert!(outcome.assertions.iter().all(|a| a.passed));
    assert_eq!(outcome.assertions[2].actual.as_deref(), Some("\"ok\""));

    let mut failing = spec(format!("http://{addr}/ok"));
    failing.assertions = vec![
        Assertion::BodyContains { value: "red".into() },
        Assertion::JsonPointerEquals { pointer: "/version".into(), value: serde_json::json!(4) },
        Assertion::HeaderEquals { name: "x-missing".into(), value: "1".into() },
    ];
    let outcome = run(failing, &ctx).await;
    assert_eq!((outcome.status, outcome.error), (CheckStatus::Down, Some(ErrorKind::Assertion)));
    let passed: Vec<bool> = outcome.assertions.iter().map(|a| a.passed).collect();
    assert_eq!(passed, [false, false, false]);
    assert_eq!(outcome.assertions[1].actual.as_deref(), Some("3"));
    assert_eq!(outcome.assertions[2].actual.as_deref(), Some("(absent)"));
    assert!(outcome.message.as_deref().unwrap().contains("/version == 4 failed (actual: 3)"), "{outcome:?}");
}

#[tokio::test]
async fn a_response_time_threshold_alone_degrades() {
    let addr = server().await;
    let mut slowish = spec(format!("http://{addr}/lazy"));
    slowish.assertions =
        vec![Assertion::ResponseTimeBelow { max_ms: 50 }, Assertion::BodyContains { value: "green".into() }];
    let outcome = run(slowish, &context(Duration::from_secs(5))).await;
    assert_eq!((outcome.status, outcome.error), (CheckStatus::Degraded, Some(ErrorKind::Assertion)), "{outcome:?}");
    assert!(outcome.assertions[0].actual.as_deref().unwrap().ends_with(" ms"));
    assert!(outcome.assertions[1].passed);
}

#[tokio::test]
async fn method_headers_and_body_are_sent() {
    let addr = server().await;
    let mut post = spec(format!("http://{addr}/echo"));
    post.method = HttpMethod::Post;
    post.headers = vec![statushawk_schemas::Header::new("X-Token", "s3cret")];
    post.body = Some("payload".into());
    // The connection is not reused, and the server is told so: it closes
    // first, so TIME_WAIT stays on its side, not on the prober's ports.
    post.assertions = vec![Assertion::BodyContains { value: "POST s3cret connection=close payload".into() }];
    let outcome = run(post.clone(), &context(Duration::from_secs(5))).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");

    // A Connection header the monitor sets is sent as it is.
    post.headers.push(statushawk_schemas::Header::new("Connection", "keep-alive"));
    post.assertions = vec![Assertion::BodyContains { value: "POST s3cret connection=keep-alive payload".into() }];
    let outcome = run(post, &context(Duration::from_secs(5))).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
}

/// What a recording server received: method, headers and body per request.
type Received = Arc<std::sync::Mutex<Vec<(String, HeaderMap, String)>>>;

/// Serves on `listener`: `/start` answers a 307 to `start_to` (when given),
/// every other request is recorded and answered 200 "recorded".
fn serve_recorder(listener: tokio::net::TcpListener, start_to: Option<String>) -> Received {
    let received: Received = Arc::default();
    let log = received.clone();
    let mut app = Router::new().fallback(any(move |method: axum::http::Method, headers: HeaderMap, body: String| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push((method.to_string(), headers, body));
            "recorded"
        }
    }));
    if let Some(location) = start_to {
        app = app.route(
            "/start",
            any(move || {
                let location = location.clone();
                async move { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location)]) }
            }),
        );
    }
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    received
}

async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// A server that records what it receives.
async fn recorder() -> (SocketAddr, Received) {
    let (listener, addr) = listener().await;
    (addr, serve_recorder(listener, None))
}

/// A server that answers every request with a 307 to `location`.
async fn redirector(location: String) -> SocketAddr {
    let (listener, addr) = listener().await;
    let app = Router::new().fallback(any(move || {
        let location = location.clone();
        async move { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location)]) }
    }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn header(name: &str, value: &str) -> statushawk_schemas::Header {
    statushawk_schemas::Header::new(name, value)
}

/// A POST with credentials, a cookie, an API key and content negotiation.
fn post_with_secrets(url: String) -> HttpSpec {
    let mut post = spec(url);
    post.method = HttpMethod::Post;
    post.body = Some("secret-body".into());
    post.headers = vec![
        header("Authorization", "Bearer s3cret"),
        header("Proxy-Authorization", "Basic cHJveHk6cHc="),
        header("Cookie", "session=abc"),
        header("X-Api-Key", "k3y"),
        header("Accept", "application/json"),
        header("Accept-Language", "de"),
        header("User-Agent", "tenant-agent/1"),
    ];
    post
}

#[tokio::test]
async fn credentials_cookies_and_the_body_do_not_follow_a_redirect_to_another_origin() {
    // Same host, another port: another origin.
    let (landing, received) = recorder().await;
    let start = redirector(format!("http://{landing}/landed")).await;
    let outcome = run(post_with_secrets(format!("http://{start}/start")), &context(Duration::from_secs(5))).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    let received = received.lock().unwrap();
    let [(method, headers, body)] = received.as_slice() else { panic!("{received:?}") };
    assert_eq!(method, "POST", "a 307 keeps the method");
    assert_eq!(body, "", "the body stays with the monitor's origin");
    for secret in ["authorization", "proxy-authorization", "cookie", "x-api-key"] {
        assert!(headers.get(secret).is_none(), "{secret} was sent to another origin: {headers:?}");
    }
    assert_eq!(headers.get("accept").unwrap(), "application/json");
    assert_eq!(headers.get("accept-language").unwrap(), "de");
    assert_eq!(headers.get_all("user-agent").iter().collect::<Vec<_>>(), ["tenant-agent/1"]);
}

#[tokio::test]
async fn a_redirect_back_to_the_monitors_origin_gets_no_credentials_either() {
    // The monitor's origin redirects away and the other origin sends the
    // check back: the chain has been elsewhere, so nothing comes back with it.
    let (home, home_addr) = listener().await;
    let away = redirector(format!("http://{home_addr}/back")).await;
    let received = serve_recorder(home, Some(format!("http://{away}/")));
    let outcome = run(post_with_secrets(format!("http://{home_addr}/start")), &context(Duration::from_secs(5))).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    let received = received.lock().unwrap();
    let [(_, headers, body)] = received.as_slice() else { panic!("{received:?}") };
    assert!(headers.get("authorization").is_none() && headers.get("cookie").is_none(), "{headers:?}");
    assert_eq!(body, "");
}

#[tokio::test]
async fn a_same_origin_redirect_keeps_the_monitors_headers_and_body() {
    let (home, home_addr) = listener().await;
    let received = serve_recorder(home, Some("/landed".into()));
    let outcome = run(post_with_secrets(format!("http://{home_addr}/start")), &context(Duration::from_secs(5))).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    let received = received.lock().unwrap();
    let [(method, headers, body)] = received.as_slice() else { panic!("{received:?}") };
    assert_eq!(method, "POST");
    assert_eq!(headers.get("authorization").unwrap(), "Bearer s3cret");
    assert_eq!(headers.get("cookie").unwrap(), "session=abc");
    assert_eq!(body, "secret-body");
}

#[tokio::test]
async fn a_stored_monitor_with_a_second_host_header_is_not_sent() {
    // Monitors stored before the rule existed reach the prober unvalidated.
    let (addr, received) = recorder().await;
    let mut check = spec(format!("http://{addr}/"));
    check.headers = vec![header("Host", "internal.admin")];
    let outcome = run_unvalidated(check, &context(Duration::from_secs(5))).await;
    assert_eq!(outcome.error, Some(ErrorKind::Blocked), "{outcome:?}");
    assert!(outcome.message.as_deref().unwrap().contains("headers[0].name"), "{outcome:?}");
    assert!(received.lock().unwrap().is_empty(), "the request was sent");
}

/// A TLS listener with a self-signed certificate for `localhost`, expiring
/// at `not_after`; answers every request with 200 "secure".
async fn tls_server(not_after: time::OffsetDateTime) -> (SocketAddr, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.not_after = not_after;
    params.distinguished_name.push(rcgen::DnType::CommonName, "StatusHawk Test CA");
    let cert = params.self_signed(&key).unwrap();
    let der = cert.der().to_vec();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nsecure").await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, der)
}

#[tokio::test]
async fn https_reports_the_certificate_and_verification_failure() {
    let not_after = rcgen::date_time_ymd(2031, 6, 15);
    let (addr, _) = tls_server(not_after).await;
    let url = format!("https://localhost:{}/", addr.port());
    // "localhost" must resolve to 127.0.0.1 here; the context allows only that.
    let ctx = context(Duration::from_secs(5));

    let verified = run(spec(url.clone()), &ctx).await;
    assert_eq!((verified.status, verified.error), (CheckStatus::Down, Some(ErrorKind::Tls)), "{verified:?}");

    let mut unverified = spec(url);
    unverified.verify_tls = false;
    let outcome = run(unverified.clone(), &ctx).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.cert_expires_at_ms, Some(not_after.unix_timestamp() * 1000));
    assert!(outcome.cert_issuer.as_deref().unwrap().contains("StatusHawk Test CA"), "{outcome:?}");
    assert!(outcome.timings.tls_ms.is_some());

    // Expiring within the threshold fails.
    unverified.cert_expiry_days = Some(365 * 10);
    let outcome = run_unvalidated(unverified, &ctx).await;
    assert_eq!((outcome.status, outcome.error), (CheckStatus::Down, Some(ErrorKind::CertExpiry)), "{outcome:?}");
}

async fn run_unvalidated(spec: HttpSpec, ctx: &Context) -> checks::Outcome {
    checks::run(&CheckSpec::Http(spec), ctx).await
}
