//! The SSRF guard: a check or an outgoing notification may only ever
//! connect to a public address.
//!
//! Every kind that opens a connection resolves its target through
//! [`Guard::resolve`] once, and connects only to an address it returned
//! (the Host header and TLS SNI keep the name). An IP literal in any
//! spelling the C library would accept (`2130706433`, `0x7f.1`, `0177.0.0.1`,
//! `127.1`) is parsed and checked as the address it is, never looked up as a
//! name. Forbidden ranges are listed in [`classify`]; IPv6 forms that embed an
//! IPv4 address (mapped, compatible, 6to4, NAT64) are judged by that address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use hickory_resolver::TokioResolver;

/// Why a target may not be checked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// The target is, or only resolves to, a forbidden address.
    #[error("{host} resolves to {ip}, a {range} address: not allowed")]
    Blocked {
        /// The host as given.
        host: String,
        /// The first forbidden address.
        ip: IpAddr,
        /// The forbidden range it is in.
        range: &'static str,
    },
    /// The name did not resolve.
    #[error("resolving {host}: {message}")]
    Dns {
        /// The host as given.
        host: String,
        /// The resolver's error.
        message: String,
    },
}

/// Addresses a target may be connected to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Allowed addresses, in the resolver's order (never empty).
    pub addrs: Vec<IpAddr>,
    /// Time spent resolving (ms); `None` for an IP literal.
    pub dns_ms: Option<u32>,
}

/// Resolves targets and refuses forbidden addresses.
#[derive(Clone)]
pub struct Guard {
    allow_private_targets: bool,
    exceptions: Arc<[IpAddr]>,
    resolver: Arc<TokioResolver>,
}

impl Guard {
    /// A guard with the system's resolver configuration.
    /// `allow_private_targets` is for tests and local demos only: it lets
    /// checks reach loopback and private addresses.
    pub fn new(allow_private_targets: bool) -> Result<Self, GuardError> {
        let dns_error = |e: &dyn std::fmt::Display| GuardError::Dns { host: String::new(), message: e.to_string() };
        let resolver = TokioResolver::builder_tokio().map_err(|e| dns_error(&e))?.build().map_err(|e| dns_error(&e))?;
        Ok(Self { allow_private_targets, exceptions: Arc::from([]), resolver: Arc::new(resolver) })
    }

    /// This guard, also allowing exactly these addresses (a test's own
    /// servers on 127.0.0.1, say), while every other forbidden address
    /// stays forbidden.
    pub fn with_exceptions(mut self, addresses: &[IpAddr]) -> Self {
        self.exceptions = Arc::from(addresses);
        self
    }

    /// Whether private targets are allowed (tests and demos).
    pub fn allows_private_targets(&self) -> bool {
        self.allow_private_targets
    }

    /// Refuses a forbidden address (unless private targets are allowed).
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), GuardError> {
        match classify(ip) {
            Some(range) if !self.allow_private_targets && !self.exceptions.contains(&ip) => {
                Err(GuardError::Blocked { host: host.to_owned(), ip, range })
            }
            _ => Ok(()),
        }
    }

    /// Resolves `host` (a name, or an IP literal in any spelling, with or
    /// without IPv6 brackets) once, and returns the addresses that may be
    /// connected to. A name whose addresses are all forbidden is blocked;
    /// forbidden ones among allowed ones are dropped, so a rebinding answer
    /// cannot smuggle one in.
    pub async fn resolve(&self, host: &str) -> Result<Resolved, GuardError> {
        if let Some(ip) = parse_ip_literal(host) {
            self.check_ip(host, ip)?;
            return Ok(Resolved { addrs: vec![ip], dns_ms: None });
        }
        let started = Instant::now();
        // A trailing dot keeps the system's search domains out of it.
        let name = if host.ends_with('.') { host.to_owned() } else { format!("{host}.") };
        let lookup = self
            .resolver
            .lookup_ip(name.as_str())
            .await
            .map_err(|e| GuardError::Dns { host: host.to_owned(), message: e.to_string() })?;
        let dns_ms = Some(u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX));
        let mut first_blocked = None;
        let mut addrs = Vec::new();
        for ip in lookup.iter() {
            match self.check_ip(host, ip) {
                Ok(()) => addrs.push(ip),
                Err(err) => {
                    first_blocked.get_or_insert(err);
                }
            }
        }
        match (addrs.is_empty(), first_blocked) {
            (false, _) => Ok(Resolved { addrs, dns_ms }),
            (true, Some(blocked)) => Err(blocked),
            (true, None) => Err(GuardError::Dns { host: host.to_owned(), message: "no addresses".into() }),
        }
    }
}

/// The forbidden range `ip` is in, or `None` for a public address.
pub fn classify(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

/// Forbidden IPv4 ranges, most specific first where they overlap.
const V4_RANGES: &[([u8; 4], u32, &str)] = &[
    ([169, 254, 169, 254], 32, "cloud metadata"),
    ([0, 0, 0, 0], 8, "unspecified (this network)"),
    ([10, 0, 0, 0], 8, "private (RFC 1918)"),
    ([100, 64, 0, 0], 10, "carrier-grade NAT"),
    ([127, 0, 0, 0], 8, "loopback"),
    ([169, 254, 0, 0], 16, "link-local"),
    ([172, 16, 0, 0], 12, "private (RFC 1918)"),
    ([192, 0, 0, 0], 24, "IETF protocol assignments"),
    ([192, 0, 2, 0], 24, "documentation (TEST-NET-1)"),
    ([192, 88, 99, 0], 24, "6to4 relay anycast"),
    ([192, 168, 0, 0], 16, "private (RFC 1918)"),
    ([198, 18, 0, 0], 15, "benchmarking"),
    ([198, 51, 100, 0], 24, "documentation (TEST-NET-2)"),
    ([203, 0, 113, 0], 24, "documentation (TEST-NET-3)"),
    ([224, 0, 0, 0], 4, "multicast"),
    ([255, 255, 255, 255], 32, "broadcast"),
    ([240, 0, 0, 0], 4, "reserved"),
];

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    V4_RANGES.iter().find(|(net, prefix, _)| in_v4(ip, *net, *prefix)).map(|(_, _, name)| *name)
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

/// Forbidden IPv6 ranges that embed no IPv4 address.
const V6_RANGES: &[([u16; 8], u32, &str)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified"),
    ([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback"),
    ([0x0064, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "local-use NAT64"),
    ([0x0100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only"),
    ([0x2001, 0x0db8, 0, 0, 0, 0, 0, 0], 32, "documentation"),
    ([0x2001, 0x0002, 0, 0, 0, 0, 0, 0], 48, "benchmarking"),
    ([0x2001, 0x0010, 0, 0, 0, 0, 0, 0], 28, "ORCHID"),
    ([0x2001, 0x0020, 0, 0, 0, 0, 0, 0], 28, "ORCHIDv2"),
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "Teredo"),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local (ULA)"),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local"),
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site-local"),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"),
];

fn classify_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(range) = V6_RANGES.iter().find(|(net, prefix, _)| in_v6(ip, *net, *prefix)) {
        return Some(range.2);
    }
    // Forms that carry an IPv4 address: judged by it.
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    None
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:AABB:CCDD::`)
/// address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96)
        || in_v6(ip, [0; 8], 96)
        || in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96)
    {
        return Some(low32);
    }
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        return Some(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    None
}

/// Parses `host` as an IP address in any spelling a resolver or the C
/// library might accept: IPv6 with or without brackets (and a zone), dotted
/// IPv4 with 1 to 4 parts, each decimal, octal (leading `0`) or hex (`0x`),
/// the last part filling the remaining bytes (`127.1`, `2130706433`,
/// `0x7f.0.0.1`, `0177.0.0.01`), with an optional trailing dot.
pub fn parse_ip_literal(host: &str) -> Option<IpAddr> {
    let host = host.trim();
    let unbracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let without_zone = unbracketed.split('%').next().unwrap_or(unbracketed);
    if let Ok(v6) = without_zone.parse::<Ipv6Addr>() {
        return Some(IpAddr::V6(v6));
    }
    parse_inet_aton(host.strip_suffix('.').unwrap_or(host)).map(IpAddr::V4)
}

fn parse_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let lower = part.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).ok();
    }
    if lower.len() > 1 && lower.starts_with('0') {
        return u64::from_str_radix(&lower[1..], 8).ok();
    }
    lower.parse::<u64>().ok()
}

fn parse_inet_aton(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let numbers: Vec<u64> = parts.iter().map(|p| parse_number(p)).collect::<Option<_>>()?;
    let (head, last) = numbers.split_at(numbers.len() - 1);
    if head.iter().any(|n| *n > 255) {
        return None;
    }
    let last = last[0];
    let last_bits = 8 * (4 - head.len() as u32);
    if last_bits < 64 && last >= 1u64 << last_bits {
        return None;
    }
    let mut value: u64 = 0;
    for (i, n) in head.iter().enumerate() {
        value |= n << (24 - 8 * i as u32);
    }
    value |= last;
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse().unwrap())
    }

    #[test]
    fn every_forbidden_ipv4_range_is_refused_at_both_ends() {
        let cases = [
            ("0.0.0.0", "0.255.255.255"),
            ("10.0.0.0", "10.255.255.255"),
            ("100.64.0.0", "100.127.255.255"),
            ("127.0.0.0", "127.255.255.255"),
            ("169.254.0.0", "169.254.255.255"),
            ("172.16.0.0", "172.31.255.255"),
            ("192.0.0.0", "192.0.0.255"),
            ("192.0.2.0", "192.0.2.255"),
            ("192.88.99.0", "192.88.99.255"),
            ("192.168.0.0", "192.168.255.255"),
            ("198.18.0.0", "198.19.255.255"),
            ("198.51.100.0", "198.51.100.255"),
            ("203.0.113.0", "203.0.113.255"),
            ("224.0.0.0", "239.255.255.255"),
            ("240.0.0.0", "255.255.255.255"),
        ];
        for (first, last) in cases {
            assert!(classify(v4(first)).is_some(), "{first}");
            assert!(classify(v4(last)).is_some(), "{last}");
        }
        assert_eq!(classify(v4("169.254.169.254")), Some("cloud metadata"));
        assert_eq!(classify(v4("255.255.255.255")), Some("broadcast"));
    }

    #[test]
    fn public_ipv4_next_to_forbidden_ranges_is_allowed() {
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "203.0.112.255",
            "223.255.255.255",
        ] {
            assert_eq!(classify(v4(public)), None, "{public}");
        }
    }

    #[test]
    fn every_forbidden_ipv6_range_is_refused() {
        for forbidden in [
            "::",
            "::1",
            "fc00::1",
            "fdff:ffff::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "feff::1",
            "ff02::1",
            "ff0e::1",
            "2001:db8::1",
            "2001:2::1",
            "2001::1",
            "2001:10::1",
            "2001:20::1",
            "100::1",
            "64:ff9b:1::1",
            // IPv4-mapped, -compatible, NAT64 and 6to4 forms of forbidden IPv4 addresses:
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:192.168.1.1",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "2002:a9fe:a9fe::",
        ] {
            assert!(classify(v6(forbidden)).is_some(), "{forbidden}");
        }
    }

    #[test]
    fn public_ipv6_is_allowed() {
        for public in
            ["2606:4700:4700::1111", "2a00:1450:4001::200e", "::ffff:1.1.1.1", "64:ff9b::808:808", "2002:808:808::1"]
        {
            assert_eq!(classify(v6(public)), None, "{public}");
        }
    }

    #[test]
    fn literals_in_every_spelling_are_parsed() {
        let loopback = v4("127.0.0.1");
        for spelling in [
            "127.0.0.1",
            "2130706433",
            "0x7f000001",
            "0X7F000001",
            "017700000001",
            "0x7f.0.0.1",
            "0177.0.0.1",
            "0177.0.0.01",
            "127.1",
            "127.0.1",
            "0x7f.1",
            "127.0.0.1.",
            "0x7f.0x0.0x0.0x1",
        ] {
            assert_eq!(parse_ip_literal(spelling), Some(loopback), "{spelling}");
        }
        assert_eq!(parse_ip_literal("[::1]"), Some(v6("::1")));
        assert_eq!(parse_ip_literal("fe80::1%eth0"), Some(v6("fe80::1")));
        assert_eq!(parse_ip_literal("[::ffff:7f00:1]"), Some(v6("::ffff:127.0.0.1")));
        assert_eq!(parse_ip_literal("3232235777"), Some(v4("192.168.1.1")));
        assert_eq!(parse_ip_literal("0xa9.0xfe.0xa9.0xfe"), Some(v4("169.254.169.254")));
        for name in [
            "example.com",
            "127.0.0.1.example.com",
            "1.2.3.4.5",
            "256.0.0.1",
            "08.0.0.1",
            "0x",
            "",
            "1.2.3.256",
            "4294967296",
        ] {
            assert_eq!(parse_ip_literal(name), None, "{name}");
        }
    }

    #[tokio::test]
    async fn literals_are_checked_without_a_lookup() {
        let guard = Guard::new(false).unwrap();
        for host in ["2130706433", "0x7f.1", "[::1]", "::ffff:10.0.0.1", "0251.0376.0251.0376", "169.254.169.254"] {
            let err = guard.resolve(host).await.unwrap_err();
            assert!(matches!(err, GuardError::Blocked { .. }), "{host}: {err}");
        }
        let public = guard.resolve("1.1.1.1").await.unwrap();
        assert_eq!(public.addrs, [v4("1.1.1.1")]);
        assert_eq!(public.dns_ms, None);
        let demo = Guard::new(true).unwrap();
        assert_eq!(demo.resolve("127.0.0.1").await.unwrap().addrs, [v4("127.0.0.1")]);
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_blocked() {
        // "localhost" comes from /etc/hosts or the resolver: either way loopback.
        let guard = Guard::new(false).unwrap();
        match guard.resolve("localhost").await {
            Err(GuardError::Blocked { range, .. }) => assert_eq!(range, "loopback"),
            Err(GuardError::Dns { .. }) => {} // no hosts entry and no DNS here: nothing connects either
            Ok(resolved) => panic!("localhost allowed: {resolved:?}"),
        }
    }

    proptest! {
        #[test]
        fn every_ipv4_in_a_forbidden_range_is_refused(net in 0usize..V4_RANGES.len(), host in any::<u32>()) {
            let (base, prefix, _) = V4_RANGES[net];
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
            let ip = Ipv4Addr::from((u32::from(Ipv4Addr::from(base)) & mask) | (host & !mask));
            prop_assert!(classify(IpAddr::V4(ip)).is_some());
            // ... and in every IPv6 form that embeds it.
            let mapped = ip.to_ipv6_mapped();
            let compatible = Ipv6Addr::from(u128::from(u32::from(ip)));
            let nat64 = Ipv6Addr::from((0x64_ff9b_u128 << 96) | u128::from(u32::from(ip)));
            let six_to_four = Ipv6Addr::from((0x2002_u128 << 112) | (u128::from(u32::from(ip)) << 80));
            for form in [mapped, compatible, nat64, six_to_four] {
                prop_assert!(classify(IpAddr::V6(form)).is_some(), "{}", form);
            }
        }

        #[test]
        fn classification_of_embedded_forms_matches_the_ipv4_address(raw in any::<u32>()) {
            let ip = Ipv4Addr::from(raw);
            let expected = classify(IpAddr::V4(ip)).is_some();
            prop_assert_eq!(classify(IpAddr::V6(ip.to_ipv6_mapped())).is_some(), expected);
            let six_to_four = Ipv6Addr::from((0x2002_u128 << 112) | (u128::from(raw) << 80));
            prop_assert_eq!(classify(IpAddr::V6(six_to_four)).is_some(), expected);
        }

        #[test]
        fn decimal_hex_and_octal_spellings_agree(raw in any::<u32>()) {
            let ip = IpAddr::V4(Ipv4Addr::from(raw));
            prop_assert_eq!(parse_ip_literal(&raw.to_string()), Some(ip));
            prop_assert_eq!(parse_ip_literal(&format!("{raw:#x}")), Some(ip));
            prop_assert_eq!(parse_ip_literal(&format!("0{raw:o}")), Some(ip));
            let [a, b, c, d] = raw.to_be_bytes();
            prop_assert_eq!(parse_ip_literal(&format!("0{a:o}.{b:#x}.{c}.0{d:o}")), Some(ip));
            prop_assert_eq!(parse_ip_literal(&format!("{a}.{}", u32::from_be_bytes([0, b, c, d]))), Some(ip));
        }
    }
}
