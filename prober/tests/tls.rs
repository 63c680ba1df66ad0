//! TLS check against a real local TLS listener with rcgen certificates.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use statushawk_prober::checks::tls::{cert_info, expiry_problem, server_name};
use statushawk_schemas::{CheckSpec, CheckStatus, ErrorKind, TlsSpec};
use support::{ctx, guarded_ctx, local_ctx, message, run, system_roots};
use time::{Duration, OffsetDateTime};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const ISSUER: &str = "CN=StatusHawk Test";
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// A self-signed certificate for `names` valid until `not_after` (whole
/// seconds, as X.509 stores it), with its key.
struct TestCert {
    der: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    not_after_ms: i64,
}

fn self_signed(names: &[&str], not_after: OffsetDateTime) -> TestCert {
    let not_after = not_after.replace_nanosecond(0).unwrap();
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "StatusHawk Test");
    params.not_before = OffsetDateTime::now_utc() - Duration::days(120);
    params.not_after = not_after;
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    TestCert {
        der: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        not_after_ms: not_after.unix_timestamp() * 1000,
    }
}

/// A certificate for localhost and 127.0.0.1 expiring in 10 days.
fn ten_day_cert() -> TestCert {
    self_signed(&["localhost", "127.0.0.1"], OffsetDateTime::now_utc() + Duration::days(10))
}

/// Roots trusting exactly `cert`.
fn trusting(cert: &TestCert) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    roots
}

/// A TLS server on 127.0.0.1 presenting `cert`; handshakes and closes.
async fn tls_server(cert: &TestCert) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der.clone()], PrivateKeyDer::Pkcs8(cert.key.clone_key()))
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            // A failed handshake (client refused the certificate) is expected.
            tokio::spawn(async move { acceptor.accept(stream).await });
        }
    });
    addr
}

fn spec(host: &str, port: u16, expiry_days: u32, verify_hostname: bool) -> CheckSpec {
    CheckSpec::Tls(TlsSpec { host: host.into(), port, expiry_days, verify_hostname })
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error_but_its_expiry_is_reported() {
    let cert = ten_day_cert();
    let addr = tls_server(&cert).await;
    let outcome = run(spec("127.0.0.1", addr.port(), 5, true), &ctx(true, system_roots())).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(outcome.error, Some(ErrorKind::Tls), "{outcome:?}");
    assert!(message(&outcome).contains("UnknownIssuer"), "{outcome:?}");
    assert_eq!(outcome.cert_expires_at_ms, Some(cert.not_after_ms));
    assert_eq!(outcome.cert_issuer.as_deref(), Some(ISSUER));
    assert!(outcome.timings.tls_ms.is_some());
}

#[tokio::test]
async fn a_trusted_certificate_is_up_with_exact_expiry_and_issuer() {
    let cert = ten_day_cert();
    let addr = tls_server(&cert).await;
    let outcome = run(spec("127.0.0.1", addr.port(), 5, true), &ctx(true, trusting(&cert))).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.cert_expires_at_ms, Some(cert.not_after_ms));
    assert_eq!(outcome.cert_issuer.as_deref(), Some(ISSUER));
    assert_eq!(outcome.ip, Some(LOCALHOST));
    assert!(outcome.timings.connect_ms.is_some() && outcome.timings.tls_ms.is_some());
    assert!(message(&outcome).contains("9 days left"), "{outcome:?}");
}

#[tokio::test]
async fn a_certificate_expiring_within_the_limit_is_cert_expiry() {
    let cert = ten_day_cert();
    let addr = tls_server(&cert).await;
    let outcome = run(spec("127.0.0.1", addr.port(), 30, true), &ctx(true, trusting(&cert))).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(outcome.error, Some(ErrorKind::CertExpiry), "{outcome:?}");
    assert!(message(&outcome).contains("9 days left (limit: 30 days)"), "{outcome:?}");
    assert_eq!(outcome.cert_expires_at_ms, Some(cert.not_after_ms));
}

#[tokio::test]
async fn an_expired_certificate_is_cert_expiry_even_though_the_handshake_fails() {
    let cert = self_signed(&["127.0.0.1"], OffsetDateTime::now_utc() - Duration::days(3));
    let addr = tls_server(&cert).await;
    let outcome = run(spec("127.0.0.1", addr.port(), 0, true), &ctx(true, trusting(&cert))).await;
    assert_eq!(outcome.error, Some(ErrorKind::CertExpiry), "{outcome:?}");
    assert!(message(&outcome).contains("expired on"), "{outcome:?}");
    assert_eq!(outcome.cert_expires_at_ms, Some(cert.not_after_ms));
}

#[tokio::test]
async fn a_name_mismatch_fails_only_when_the_hostname_is_verified() {
    let cert = self_signed(&["other.test"], OffsetDateTime::now_utc() + Duration::days(100));
    let addr = tls_server(&cert).await;
    let ctx = ctx(true, trusting(&cert));

    let verified = run(spec("127.0.0.1", addr.port(), 14, true), &ctx).await;
    assert_eq!(verified.error, Some(ErrorKind::Tls), "{verified:?}");
    assert!(message(&verified).contains("not valid for name"), "{verified:?}");

    let chain_only = run(spec("127.0.0.1", addr.port(), 14, false), &ctx).await;
    assert_eq!(chain_only.status, CheckStatus::Up, "{chain_only:?}");
    assert_eq!(chain_only.cert_expires_at_ms, Some(cert.not_after_ms));
}

#[tokio::test]
async fn without_hostname_verification_the_chain_is_still_verified() {
    let cert = ten_day_cert();
    let addr = tls_server(&cert).await;
    let outcome = run(spec("127.0.0.1", addr.port(), 5, false), &local_ctx()).await;
    assert_eq!(outcome.error, Some(ErrorKind::Tls), "{outcome:?}");
    assert_eq!(outcome.cert_expires_at_ms, Some(cert.not_after_ms), "reported all the same");
}

#[tokio::test]
async fn a_loopback_target_is_blocked_by_the_guard() {
    let cert = ten_day_cert();
    let addr = tls_server(&cert).await;
    let outcome = run(spec("127.0.0.1", addr.port(), 5, true), &guarded_ctx()).await;
    assert_eq!(outcome.error, Some(ErrorKind::Blocked), "{outcome:?}");
    assert_eq!(outcome.cert_expires_at_ms, None);
}

#[test]
fn helpers_for_the_http_check() {
    let cert = ten_day_cert();
    let info = cert_info(&cert.der).unwrap();
    assert_eq!(info.expires_at_ms, cert.not_after_ms);
    assert_eq!(info.issuer, ISSUER);
    assert!(cert_info(b"not a certificate").is_err());

    let now = cert.not_after_ms - 10 * DAY_MS;
    assert_eq!(expiry_problem(cert.not_after_ms, 10, now), None, "exactly 10 days left");
    assert!(expiry_problem(cert.not_after_ms, 11, now).unwrap().contains("10 days left"));
    assert!(expiry_problem(cert.not_after_ms, 0, cert.not_after_ms + 2 * DAY_MS).unwrap().contains("2 days ago"));

    assert!(matches!(server_name("127.1").unwrap(), rustls::pki_types::ServerName::IpAddress(_)));
    assert!(matches!(server_name("[::1]").unwrap(), rustls::pki_types::ServerName::IpAddress(_)));
    assert!(matches!(server_name("example.com.").unwrap(), rustls::pki_types::ServerName::DnsName(_)));
    assert!(server_name("bad_name!").is_err());
}
