//! The client's address as the rate limits see it.
//!
//! Behind a reverse proxy the TCP peer is the proxy, and every client would
//! share its limit; so when the peer is one of `api.trusted_proxies`, the
//! client is read from `X-Forwarded-For`. Each proxy appends the address it
//! received the request from, so the header is read from the right: the
//! first address that is not itself a trusted proxy is the client (what lies
//! further left was written by the client and proves nothing). From any
//! other peer the header is ignored.
//!
//! An IPv6 client usually holds a whole /64, so limits count IPv6 clients
//! by their /64 ([`limit_key`]).

use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

/// The client's address as the rate limits see it: the TCP peer, or, when
/// the peer is one of `api.trusted_proxies`, the right-most address of
/// `X-Forwarded-For` that is not itself a trusted proxy.
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<crate::State> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &crate::State) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        Ok(Self(peer.map(|peer| client_ip(&parts.headers, peer, &state.trusted_proxies))))
    }
}

/// The key a limiter counts a client by: an IPv4 address as it is, an
/// IPv6 address by its /64 network.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !((1u128 << 64) - 1))),
    }
}

/// The client of a request from `peer` with `headers`, given the trusted
/// proxies (see [`ClientIp`]). IPv4-mapped IPv6 addresses are taken as the
/// IPv4 address they carry.
///
/// When every address in the header is a trusted proxy, the left-most one
/// is the client (a proxy's own request). An entry that is not an address
/// (or a header line that is not text) ends the reading, and the last
/// trusted proxy read is the client: a
/// proxy of ours wrote it, so the client behind cannot be known, and
/// counting the proxy is the safe side.
pub fn client_ip(headers: &HeaderMap, peer: IpAddr, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    // Several header lines are one list, in order.
    for line in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(line) = line.to_str() else { return client };
        for entry in line.rsplit(',') {
            let Some(hop) = parse_hop(entry) else { return client };
            client = hop;
            if !is_trusted(&hop) {
                return hop;
            }
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`192.0.2.7:4711`, `[2001:db8::1]:4711`) as some proxies write it.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|addr| addr.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    fn trusted() -> Vec<IpNet> {
        ["10.0.0.0/8", "fd00::/8"].iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_address_and_only_behind_a_trusted_peer() {
        let cases: &[(&str, &[&str], &str, &str)] = &[
            // An untrusted peer is the client, whatever it sends.
            ("203.0.113.5", &["198.51.100.7"], "203.0.113.5", "spoofed from an untrusted peer"),
            ("203.0.113.5", &[], "203.0.113.5", "no header"),
            // Behind a trusted proxy.
            ("10.0.0.2", &["198.51.100.7"], "198.51.100.7", "one proxy"),
            ("10.0.0.2", &["1.2.3.4, 198.51.100.7"], "198.51.100.7", "the client's own entries are ignored"),
            ("10.0.0.2", &["198.51.100.7, 10.0.0.9"], "198.51.100.7", "a chain of proxies"),
            ("10.0.0.2", &["1.2.3.4", "198.51.100.7, 10.0.0.9"], "198.51.100.7", "several header lines"),
            ("10.0.0.2", &["10.0.0.7, 10.0.0.9"], "10.0.0.7", "all trusted: the left-most"),
            ("10.0.0.2", &[], "10.0.0.2", "a proxy's own request"),
            ("10.0.0.2", &["198.51.100.7:4711"], "198.51.100.7", "with a port"),
            ("10.0.0.2", &["[2001:db8::1]:4711"], "2001:db8::1", "IPv6 with a port"),
            ("10.0.0.2", &[" 2001:db8::1 "], "2001:db8::1", "spaces"),
            // Garbage: the proxy that wrote it is the client.
            ("10.0.0.2", &["198.51.100.7, garbage"], "10.0.0.2", "garbage from the proxy"),
            ("10.0.0.2", &["garbage, 10.0.0.9"], "10.0.0.9", "garbage behind a second proxy"),
            ("10.0.0.2", &["198.51.100.7,"], "10.0.0.2", "an empty entry"),
            ("10.0.0.2", &["unknown"], "10.0.0.2", "unknown"),
            // IPv4-mapped IPv6 peers and entries are their IPv4 address.
            ("::ffff:10.0.0.2", &["198.51.100.7"], "198.51.100.7", "a mapped trusted peer"),
            ("::ffff:203.0.113.5", &["198.51.100.7"], "203.0.113.5", "a mapped untrusted peer"),
            ("10.0.0.2", &["::ffff:198.51.100.7"], "198.51.100.7", "a mapped entry"),
            ("10.0.0.2", &["::ffff:10.0.0.9"], "10.0.0.9", "a mapped trusted entry"),
            ("fd00::1", &["2001:db8::7"], "2001:db8::7", "an IPv6 proxy"),
        ];
        for (peer, lines, expected, why) in cases {
            assert_eq!(client_ip(&headers(lines), ip(peer), &trusted()), ip(expected), "{why}");
        }
    }

    #[test]
    fn a_line_that_is_not_text_ends_the_reading() {
        let mut headers = headers(&["198.51.100.7"]);
        headers.append("x-forwarded-for", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        assert_eq!(client_ip(&headers, ip("10.0.0.2"), &trusted()), ip("10.0.0.2"));
    }

    #[test]
    fn with_no_trusted_proxies_the_header_is_never_read() {
        assert_eq!(client_ip(&headers(&["198.51.100.7"]), ip("10.0.0.2"), &[]), ip("10.0.0.2"));
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("2001:db8:1:2::")), ip("2001:db8:1:2::"));
        assert_ne!(limit_key(ip("2001:db8:1:3::1")), limit_key(ip("2001:db8:1:2::1")));
        assert_eq!(limit_key(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(limit_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"), "mapped IPv4 is IPv4");
    }

    fn any_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![any::<[u8; 4]>().prop_map(IpAddr::from), any::<[u8; 16]>().prop_map(IpAddr::from)]
    }

    proptest! {
        #[test]
        fn an_untrusted_peer_is_the_client_whatever_it_sends(
            peer in any::<[u8; 4]>().prop_filter("not trusted", |p| p[0] != 10).prop_map(IpAddr::from),
            header in "[ -~]{0,80}",
        ) {
            let headers = headers(&[&header]);
            prop_assert_eq!(client_ip(&headers, peer, &trusted()), peer);
        }

        #[test]
        fn the_client_behind_trusted_proxies_is_what_the_first_proxy_appended(
            spoofed in proptest::collection::vec(any_ip(), 0..4),
            client in any::<[u8; 4]>().prop_filter("not trusted", |p| p[0] != 10).prop_map(IpAddr::from),
            proxies in proptest::collection::vec(any::<[u8; 3]>().prop_map(|b| IpAddr::from([10, b[0], b[1], b[2]])), 0..3),
        ) {
            // What the client sent, then each proxy's append.
            let entries: Vec<String> =
                spoofed.iter().chain([&client]).chain(&proxies).map(ToString::to_string).collect();
            let headers = headers(&[&entries.join(", ")]);
            prop_assert_eq!(client_ip(&headers, ip("10.0.0.1"), &trusted()), client);
        }

        #[test]
        fn addresses_of_one_64_share_a_key_and_others_do_not(a in any::<u128>(), b in any::<u128>()) {
            let (a6, b6) = (IpAddr::V6(Ipv6Addr::from_bits(a)), IpAddr::V6(Ipv6Addr::from_bits(b)));
            let same_64 = a >> 64 == b >> 64;
            let mapped = |x: u128| Ipv6Addr::from_bits(x).to_ipv4_mapped().is_some();
            prop_assume!(!mapped(a) && !mapped(b));
            prop_assert_eq!(limit_key(a6) == limit_key(b6), same_64);
        }
    }
}
