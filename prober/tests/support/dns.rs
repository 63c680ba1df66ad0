//! A real authoritative DNS server (hickory-server) for the in-memory zone
//! `example.test.` on 127.0.0.1, over UDP and TCP on one port.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SOA, SRV, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

/// The test zone's server; it stops when dropped.
pub struct TestServer {
    /// Where it answers, UDP and TCP.
    pub addr: SocketAddr,
    _server: Server<Catalog>,
}

fn name(text: &str) -> Name {
    Name::from_str(text).unwrap()
}

/// `intranet.example.test`: a name in public DNS that points into a
/// private network (as split-horizon zones and rebinding attacks do).
pub const INTRANET: &str = "intranet.example.test";

/// The private address [`INTRANET`] resolves to.
pub const INTRANET_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 3);

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
        (name("intranet.example.test."), RData::A(A(INTRANET_IP))),
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
pub async fn dns_server() -> TestServer {
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
