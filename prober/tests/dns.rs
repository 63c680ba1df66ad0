//! DNS check against a real authoritative server (hickory-server, in-memory
//! zone `example.test.`, see `support::dns`) on 127.0.0.1, over UDP and TCP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::{IpAddr, Ipv4Addr};

use statushawk_prober::checks::Context;
use statushawk_schemas::{CheckSpec, CheckStatus, DnsRecordType, DnsResponseCode, DnsSpec, ErrorKind};
use support::dns::{TestServer, dns_server};
use support::{guarded_ctx, local_ctx, message, run};

fn spec(server: &TestServer, name: &str, record_type: DnsRecordType, expected: &[&str]) -> DnsSpec {
    DnsSpec {
        name: name.into(),
        record_type,
        resolver: Some(server.addr.to_string()),
        expected: expected.iter().map(|e| e.to_string()).collect(),
        expected_rcode: None,
    }
}

#[tokio::test]
async fn an_expected_a_answer_is_up_with_all_answers_in_the_message() {
    let server = dns_server().await;
    let outcome =
        run(CheckSpec::Dns(spec(&server, "www.example.test", DnsRecordType::A, &["192.0.2.10"])), &local_ctx()).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    let message = message(&outcome);
    assert!(message.starts_with("NOERROR"), "{message}");
    assert!(message.contains("192.0.2.10") && message.contains("192.0.2.11"), "{message}");
    assert!(outcome.timings.dns_ms.is_some());
    assert_eq!(outcome.ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
}

#[tokio::test]
async fn a_missing_expected_answer_is_an_assertion_failure_listing_the_actual_ones() {
    let server = dns_server().await;
    let check = spec(&server, "www.example.test", DnsRecordType::A, &["192.0.2.10", "192.0.2.99"]);
    let outcome = run(CheckSpec::Dns(check), &local_ctx()).await;
    assert_eq!(outcome.error, Some(ErrorKind::Assertion), "{outcome:?}");
    let message = message(&outcome);
    assert!(message.contains("192.0.2.99"), "{message}");
    assert!(
        message.contains("got 192.0.2.10, 192.0.2.11") || message.contains("got 192.0.2.11, 192.0.2.10"),
        "{message}"
    );
}

#[tokio::test]
async fn every_record_type_is_rendered_and_compared_normalized() {
    let server = dns_server().await;
    let cases = [
        ("www.example.test", DnsRecordType::Aaaa, "2001:0DB8:0:0::10"),
        ("example.test", DnsRecordType::Mx, "10 MAIL.example.test"),
        ("example.test.", DnsRecordType::Txt, "v=spf1 -all"),
        ("alias.example.test", DnsRecordType::Cname, "www.example.test."),
        ("example.test", DnsRecordType::Ns, "ns1.example.test"),
        ("example.test", DnsRecordType::Soa, "ns1.example.test. hostmaster.example.test. 2024010101"),
        ("_sip._tcp.example.test", DnsRecordType::Srv, "10 5 5060 sip.example.test"),
    ];
    let ctx = local_ctx();
    for (name, record_type, expected) in cases {
        let outcome = run(CheckSpec::Dns(spec(&server, name, record_type, &[expected])), &ctx).await;
        assert_eq!(outcome.status, CheckStatus::Up, "{name} {record_type:?}: {outcome:?}");
    }
}

#[tokio::test]
async fn nxdomain_is_a_dns_error_unless_expected() {
    let server = dns_server().await;
    let mut check = spec(&server, "nope.example.test", DnsRecordType::A, &[]);
    let outcome = run(CheckSpec::Dns(check.clone()), &local_ctx()).await;
    assert_eq!(outcome.error, Some(ErrorKind::Dns), "{outcome:?}");
    assert!(message(&outcome).contains("NXDOMAIN"), "{outcome:?}");

    check.expected_rcode = Some(DnsResponseCode::NxDomain);
    let outcome = run(CheckSpec::Dns(check), &local_ctx()).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert!(message(&outcome).starts_with("NXDOMAIN"), "{outcome:?}");
}

#[tokio::test]
async fn an_unexpected_rcode_or_an_empty_answer_is_a_dns_error() {
    let server = dns_server().await;
    let mut check = spec(&server, "www.example.test", DnsRecordType::A, &[]);
    check.expected_rcode = Some(DnsResponseCode::NxDomain);
    let outcome = run(CheckSpec::Dns(check), &local_ctx()).await;
    assert_eq!(outcome.error, Some(ErrorKind::Dns), "{outcome:?}");
    assert!(message(&outcome).contains("expected NXDOMAIN, got NOERROR"), "{outcome:?}");

    // The name exists, but has no MX records.
    let outcome = run(CheckSpec::Dns(spec(&server, "www.example.test", DnsRecordType::Mx, &[])), &local_ctx()).await;
    assert_eq!(outcome.error, Some(ErrorKind::Dns), "{outcome:?}");
    assert!(message(&outcome).contains("no records"), "{outcome:?}");
}

#[tokio::test]
async fn a_query_outside_the_served_zone_is_refused() {
    let server = dns_server().await;
    let mut check = spec(&server, "example.org", DnsRecordType::A, &[]);
    let outcome = run(CheckSpec::Dns(check.clone()), &local_ctx()).await;
    assert_eq!(outcome.error, Some(ErrorKind::Dns), "{outcome:?}");
    assert!(message(&outcome).contains("REFUSED"), "{outcome:?}");

    check.expected_rcode = Some(DnsResponseCode::Refused);
    let outcome = run(CheckSpec::Dns(check), &local_ctx()).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
}

#[tokio::test]
async fn a_loopback_resolver_is_blocked_by_the_guard() {
    let server = dns_server().await;
    let outcome = run(CheckSpec::Dns(spec(&server, "www.example.test", DnsRecordType::A, &[])), &guarded_ctx()).await;
    assert_eq!(outcome.error, Some(ErrorKind::Blocked), "{outcome:?}");
    assert_eq!(outcome.timings.dns_ms, None, "nothing was asked");
}

/// `ctx` whose own resolvers (`prober.dns_resolvers`) are `servers`.
fn with_resolvers(mut ctx: Context, servers: &[&TestServer]) -> Context {
    ctx.dns_resolvers = servers.iter().map(|server| server.addr).collect::<Vec<_>>().into();
    ctx
}

#[tokio::test]
async fn a_check_without_resolver_asks_the_probers_resolvers_never_the_systems() {
    // The zone exists only on the test server: the system's resolver knows
    // nothing of example.test, so an answer proves who was asked.
    let server = dns_server().await;
    let mut check = spec(&server, "www.example.test", DnsRecordType::A, &["192.0.2.10"]);
    check.resolver = None;
    let outcome = run(CheckSpec::Dns(check), &with_resolvers(local_ctx(), &[&server])).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert!(message(&outcome).contains("192.0.2.11"), "{outcome:?}");
}

#[tokio::test]
async fn without_resolvers_of_its_own_the_prober_asks_nobody() {
    let server = dns_server().await;
    let mut check = spec(&server, "www.example.test", DnsRecordType::A, &[]);
    check.resolver = None;
    let outcome = run(CheckSpec::Dns(check), &local_ctx()).await;
    assert_eq!(outcome.error, Some(ErrorKind::Blocked), "{outcome:?}");
    assert_eq!(outcome.timings.dns_ms, None, "nothing was asked");
}

#[tokio::test]
async fn the_probers_resolvers_pass_the_guard_too() {
    // A private resolver (the host's, a VPC's) is exactly what must not answer.
    let server = dns_server().await;
    let mut check = spec(&server, "www.example.test", DnsRecordType::A, &[]);
    check.resolver = None;
    let outcome = run(CheckSpec::Dns(check), &with_resolvers(guarded_ctx(), &[&server])).await;
    assert_eq!(outcome.error, Some(ErrorKind::Blocked), "{outcome:?}");
    assert_eq!(outcome.timings.dns_ms, None, "nothing was asked");
    assert!(message(&outcome).contains("prober.dns_resolvers"), "{outcome:?}");
}

#[test]
fn a_prober_refuses_to_start_with_a_private_resolver() {
    let guard = statushawk_prober::guard::Guard::new(false).unwrap();
    let private = vec!["10.0.0.2:53".parse().unwrap()];
    let err = statushawk_prober::context_with(guard.clone(), 1024, private).err().unwrap().to_string();
    assert!(err.contains("prober.dns_resolvers") && err.contains("private (RFC 1918)"), "{err}");
    let public = vec!["9.9.9.9:53".parse().unwrap()];
    let ctx = statushawk_prober::context_with(guard, 1024, public).unwrap();
    assert_eq!(&*ctx.dns_resolvers, ["9.9.9.9:53".parse().unwrap()]);
}
