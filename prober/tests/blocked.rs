//! What a blocked check tells the tenant, for every kind that connects:
//! that the target is not allowed and the kind of range, never the address
//! a name resolved to. And what the guard refuses beyond the built-in
//! ranges: the operator's networks and this host's own addresses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;
use statushawk_prober::checks::{Context, Outcome};
use statushawk_prober::guard::{Guard, Policy};
use statushawk_schemas::{CheckSpec, ErrorKind, HttpSpec, IcmpSpec, TcpSpec, TlsSpec};
use support::dns::{INTRANET, INTRANET_IP, TestServer, dns_server};
use support::{local_ctx, message, run};
use tokio::net::TcpListener;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A production-like context (only 127.0.0.1, the test's own servers,
/// allowed) whose guard resolves names with the test zone's server.
fn ctx(zone: &TestServer) -> Context {
    let mut ctx = support::loopback_ctx(Duration::from_secs(5));
    ctx.guard = ctx.guard.with_name_servers(&[zone.addr]).unwrap();
    ctx
}

/// What the tenant may learn about `intranet.example.test`: not allowed,
/// private, nothing more.
fn assert_blocked_without_the_address(kind: &str, outcome: &Outcome) {
    assert_eq!(outcome.error, Some(ErrorKind::Blocked), "{kind}: {outcome:?}");
    assert_eq!(
        message(outcome),
        "intranet.example.test resolves to a private (RFC 1918) address: not allowed",
        "{kind}"
    );
    assert_eq!(outcome.ip, None, "{kind}: {outcome:?}");
    assert!(!format!("{outcome:?}").contains(&INTRANET_IP.to_string()), "{kind}: {outcome:?}");
}

#[tokio::test]
async fn a_name_resolving_to_a_private_address_is_blocked_without_naming_it_for_every_kind() {
    let zone = dns_server().await;
    let ctx = ctx(&zone);
    let specs = [
        ("http", CheckSpec::Http(HttpSpec::get(format!("http://{INTRANET}:8080/admin")))),
        ("tcp", CheckSpec::Tcp(TcpSpec { host: INTRANET.into(), port: 6379, send: None, expect: None })),
        ("tls", CheckSpec::Tls(TlsSpec { host: INTRANET.into(), port: 443, verify_hostname: true, expiry_days: 14 })),
        ("icmp", CheckSpec::Icmp(IcmpSpec { host: INTRANET.into(), count: 1, max_loss_percent: 0 })),
    ];
    for (kind, spec) in specs {
        let outcome = run(spec, &ctx).await;
        assert_blocked_without_the_address(kind, &outcome);
    }
}

#[tokio::test]
async fn a_redirect_to_a_private_name_is_blocked_without_naming_the_address() {
    let zone = dns_server().await;
    let app = Router::new().route(
        "/go",
        get(|| async { (StatusCode::FOUND, [(header::LOCATION, format!("http://{INTRANET}/secrets"))]) }),
    );
    let listener = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let outcome = run(CheckSpec::Http(HttpSpec::get(format!("http://{addr}/go"))), &ctx(&zone)).await;
    assert_blocked_without_the_address("redirect", &outcome);
}

/// A TCP listener on `ip` that counts the connections it accepts.
async fn counting_listener(ip: IpAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (addr, accepted)
}

fn tcp(addr: SocketAddr) -> CheckSpec {
    CheckSpec::Tcp(TcpSpec { host: addr.ip().to_string(), port: addr.port(), send: None, expect: None })
}

#[tokio::test]
async fn a_check_of_the_probers_own_interface_address_is_blocked_even_with_private_targets_allowed() {
    // A service of the prober's host listening on all interfaces (its
    // metrics, a sidecar) is reachable through the host's own address.
    let own = statushawk_prober::guard::own_addresses()
        .unwrap()
        .into_iter()
        .find(|ip| ip.is_ipv4() || !matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local()))
        .expect("this test needs a network interface besides loopback");
    let (addr, accepted) = counting_listener(own).await;
    let outcome = run(tcp(addr), &local_ctx()).await;
    assert_eq!(outcome.error, Some(ErrorKind::Blocked), "{outcome:?}");
    assert!(message(&outcome).ends_with("is an address of StatusHawk's own host: not allowed"), "{outcome:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "the check connected");

    // Loopback stays what private targets allow (tests and demos).
    let (loopback, _) = counting_listener(LOOPBACK).await;
    assert_eq!(run(tcp(loopback), &local_ctx()).await.error, None);
}

#[tokio::test]
async fn the_operators_deny_list_holds_even_with_private_targets_allowed() {
    let (addr, accepted) = counting_listener(LOOPBACK).await;
    let policy = Policy { deny_networks: vec!["127.0.0.0/8".parse().unwrap()], ..Policy::default() };
    let mut ctx = local_ctx();
    ctx.guard = Guard::with_policy(true, &policy).unwrap();
    let outcome = run(tcp(addr), &ctx).await;
    assert_eq!(outcome.error, Some(ErrorKind::Blocked), "{outcome:?}");
    assert_eq!(message(&outcome), "127.0.0.1 is an operator-denied address: not allowed");
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "the check connected");
}

#[tokio::test]
async fn the_cloud_preset_blocks_azure_wireserver_a_public_address() {
    // 168.63.129.16 is outside every private range; the preset refuses it.
    let outcome =
        run(CheckSpec::Http(HttpSpec::get("http://168.63.129.16/machine?comp=goalstate")), &local_ctx()).await;
    assert_eq!(outcome.error, Some(ErrorKind::Blocked), "{outcome:?}");
    assert_eq!(outcome.timings.connect_ms, None, "{outcome:?}");
}
