//! DNS check against a real authoritative server (hickory-server, in-memory
//! zone `example.test.`) on 127.0.0.1, over UDP and TCP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SOA, SRV, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use statushawk_prober::checks::Check;
use statushawk_schemas::{CheckSpec, CheckStatus, DnsRecordType, DnsResponseCode, DnsSpec, ErrorKind};
use support::{guarded_ctx, local_ctx, message, run};
use tokio::net::{TcpListener, UdpSocket};

/// The test zone's server; it stops when dropped.
struct TestServer {
    addr: SocketAddr,
    _server: Server<Catalog>,
}

fn name(text: &str) -> Name {
    Name::from_str(text).unwrap()
}

fn zone() -> InMemoryZoneHandler {
    let origin = name("example.test.");
    let mut zone = InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
    let soa = SOA::new(name("ns1.example.test."), name("hostmaster.example.test."), 2024010101, 3600, 600, 86400, 60);
    let records = [
        (origin.clone(), RData::SOA(soa)),
        (origin.clone(), RData::NS(NS(name("ns1.example.test.")))),
        (name("www.example.test."), RData::A(A(Ipv4Addr::new(192, 0, 2, 10)))),
        (name("www.example.test."), RData::A(A(Ipv4Addr::new(192, 0, 2, 11)))),
        (name("www.example.test."), RData::AAAA(AAAA(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10)))),
        (origin.clone(), RData::MX(MX::new(10, name("mail.example.test.")))),
        (origin.clone(), RData::TXT(TXT::new(vec!["v=spf1 ".into(), "-all".into()]))),
        (name("alias.example.test."), RData::CNAME(CNAME(name("www.example.test.")))),
        (name("_sip._tcp.example.test."), RData::SRV(SRV::new(10, 5, 5060, name("sip.example.test.")))),
    ];
    for (owner, data) in records {
        assert!(zone.upsert_mut(Record::from_rdata(owner, 300, data), 2024010101));
    }
    zone
}

/// Serves the test zone on 127.0.0.1, UDP and TCP on the same port.
async fn dns_server() -> TestServer {
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::from(name("example.test.")), vec![Arc::new(zone())]);
    let mut server = Server::new(catalog);
    // The UDP port's TCP twin may be taken: try a few.
    for _ in 0..10 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = udp.local_addr().unwrap();
        if let Ok(tcp) = TcpListener::bind(addr).await {
            server.register_socket(udp);
            server.register_listener(tcp, Duration::from_secs(5), 4096);
            return TestServer { addr, _server: server };
        }
    }
    panic!("no free UDP+TCP port pair");
}

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

#[test]
fn invalid_specs_are_refused() {
    let dns = |name: &str, resolver: Option<&str>, expected: &[&str]| DnsSpec {
        name: name.into(),
        record_type: DnsRecordType::A,
        resolver: resolver.map(Into::into),
        expected: expected.iter().map(|e| e.to_string()).collect(),
        expected_rcode: None,
    };
    for resolver in ["1.1.1.1", "1.1.1.1:5353", "2606:4700:4700::1111", "[2606:4700:4700::1111]:53"] {
        assert!(dns("example.com", Some(resolver), &["x"]).validate().is_ok(), "{resolver}");
    }
    assert_eq!(dns("", None, &[]).validate().unwrap_err().field, "name");
    assert_eq!(dns(&"a.".repeat(127), None, &[]).validate().unwrap_err().field, "name");
    assert_eq!(dns("example.com", Some("dns.google"), &[]).validate().unwrap_err().field, "resolver");
    assert_eq!(dns("example.com", Some("1.1.1.1:99999"), &[]).validate().unwrap_err().field, "resolver");
    assert_eq!(dns("example.com", None, &["ok", " "]).validate().unwrap_err().field, "expected[1]");
}
