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
use statushawk_prober::checks::{self, Check, Context};
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

#[test]
fn invalid_specs_name_the_field() {
    let mut bad = spec("ftp://example.com/".into());
    assert_eq!(bad.validate().unwrap_err().field, "url");
    bad.url = "https://user:pw@example.com/".into();
    assert_eq!(bad.validate().unwrap_err().field, "url");
    bad.url = "https://example.com/".into();
    bad.follow_redirects = 4;
    assert_eq!(bad.validate().unwrap_err().field, "follow_redirects");
    bad.follow_redirects = 3;
    bad.assertions = vec![Assertion::JsonPointerEquals { pointer: "status".into(), value: serde_json::json!(1) }];
    assert_eq!(bad.validate().unwrap_err().field, "assertions[0].pointer");
    bad.assertions.clear();
    bad.expected_status = vec![statushawk_schemas::StatusRange { min: 300, max: 200 }];
    assert_eq!(bad.validate().unwrap_err().field, "expected_status[0]");
}
