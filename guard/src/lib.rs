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
//!
//! Besides those ranges a guard refuses, whatever else it allows, the
//! networks of its [`Policy`]: the operator's deny-list, the [`CLOUD_PRESET`]
//! (metadata and platform addresses of the major clouds) and the addresses
//! of this host's own interfaces.
//!
//! A refusal never tells a tenant which address a *name* resolved to: only
//! the kind of range ("a private (RFC 1918) address"). For an IP literal the
//! tenant typed, the message names it.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
pub use ipnet::IpNet;

/// Why a target may not be checked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// The target is, or only resolves to, a forbidden address.
    #[error("{}", BlockedText { host, ip: *ip, range })]
    Blocked {
        /// The host as given.
        host: String,
        /// The forbidden address when `host` is an IP literal (the tenant's
        /// own input); `None` when `host` is a name, so that what a name
        /// resolves to is never shown.
        ip: Option<IpAddr>,
        /// The kind of forbidden range, e.g. `private (RFC 1918)`.
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

/// The text of [`GuardError::Blocked`]: the range's kind, and the address
/// only for a literal.
struct BlockedText<'a> {
    host: &'a str,
    ip: Option<IpAddr>,
    range: &'a str,
}

impl fmt::Display for BlockedText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.range {
            OWN_ADDRESS => "an address of StatusHawk's own host".to_owned(),
            range if range.starts_with(['a', 'e', 'i', 'o', 'A', 'E', 'I', 'O']) || range.starts_with("unsp") => {
                format!("an {range} address")
            }
            range => format!("a {range} address"),
        };
        match self.ip {
            Some(ip) if ip.to_string() != self.host => write!(f, "{} ({ip}) is {what}: not allowed", self.host),
            Some(_) => write!(f, "{} is {what}: not allowed", self.host),
            None => write!(f, "{} resolves to {what}: not allowed", self.host),
        }
    }
}

/// A guard could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The resolver configuration could not be read or built.
    #[error("resolver set-up: {0}")]
    Resolver(String),
    /// This host's interface addresses could not be read
    /// (`guard.deny_own_addresses`).
    #[error("reading this host's interface addresses (guard.deny_own_addresses): {0}")]
    Interfaces(String),
}

/// Addresses a target may be connected to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Allowed addresses, in the resolver's order (never empty).
    pub addrs: Vec<IpAddr>,
    /// Time spent resolving (ms); `None` for an IP literal.
    pub dns_ms: Option<u32>,
}

/// What a guard refuses beyond the built-in ranges of [`classify`]. These
/// refusals hold even when private targets are allowed and whatever the
/// guard's exceptions are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Extra networks to refuse (the operator's `guard.deny_networks`).
    pub deny_networks: Vec<IpNet>,
    /// Refuse the [`CLOUD_PRESET`] addresses.
    pub cloud_preset: bool,
    /// Refuse the addresses of this host's own interfaces (read once, when
    /// the guard is built; loopback ones are the built-in loopback range).
    pub deny_own_addresses: bool,
}

impl Default for Policy {
    /// The cloud preset and this host's own addresses, no extra networks.
    fn default() -> Self {
        Self { deny_networks: Vec::new(), cloud_preset: true, deny_own_addresses: true }
    }
}

/// The range label of a network on the operator's deny-list.
pub const OPERATOR_DENIED: &str = "operator-denied";

/// The range label of this host's own interface addresses (the prober's,
/// the notifier's or the API's, whichever built the guard).
pub const OWN_ADDRESS: &str = "own host";

/// Metadata services of cloud instances.
const METADATA: &str = "cloud metadata";

/// Other services a cloud provides to its instances only (DNS, time,
/// agents, credentials).
const PLATFORM: &str = "cloud platform service";

const fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

#[allow(clippy::too_many_arguments)]
const fn v6(a: u16, b: u16, c: u16, d: u16, e: u16, f: u16, g: u16, h: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h))
}

/// The cloud preset (`guard.cloud_preset`): addresses that clouds serve
/// to their own instances only, with the kind of service. Most lie in
/// ranges [`classify`] refuses already (link-local, ULA, carrier-grade NAT,
/// IETF protocol assignments); they are listed anyway, so that the preset
/// is complete on its own and holds when private targets are allowed.
pub const CLOUD_PRESET: &[(IpAddr, &str)] = &[
    // The instance metadata service of AWS EC2, Google Cloud, Azure, Oracle
    // Cloud (OCI), DigitalOcean, Hetzner Cloud, OpenStack (and so Huawei
    // Cloud, OVHcloud), IBM Cloud VPC, Akamai/Linode, Vultr, Exoscale,
    // Yandex Cloud:
    // https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html
    // https://cloud.google.com/compute/docs/metadata/querying-metadata
    // https://learn.microsoft.com/azure/virtual-machines/instance-metadata-service
    // https://docs.oracle.com/en-us/iaas/Content/Compute/Tasks/gettingmetadata.htm
    // https://docs.digitalocean.com/reference/api/metadata/
    // https://docs.hetzner.cloud/reference/cloud#server-metadata
    // https://docs.openstack.org/nova/latest/user/metadata.html
    (v4(169, 254, 169, 254), METADATA),
    // AWS: IMDS over IPv6 (Nitro instances), same page as above.
    (v6(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254), METADATA),
    // AWS: the Amazon DNS server (Route 53 Resolver) at its link-local
    // addresses: https://docs.aws.amazon.com/vpc/latest/userguide/AmazonDNS-concepts.html
    (v4(169, 254, 169, 253), PLATFORM),
    (v6(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x253), PLATFORM),
    // AWS: Amazon Time Sync Service:
    // https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configure-ec2-ntp.html
    (v4(169, 254, 169, 123), PLATFORM),
    (v6(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x123), PLATFORM),
    // AWS: ECS task metadata and task IAM role credentials:
    // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html
    (v4(169, 254, 170, 2), METADATA),
    // AWS: EKS Pod Identity Agent (credentials):
    // https://docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html
    (v4(169, 254, 170, 23), METADATA),
    (v6(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23), METADATA),
    // Google Cloud: the metadata server's IPv6 address (IPv6-only and
    // dual-stack VMs): https://cloud.google.com/compute/docs/metadata/querying-metadata
    (v6(0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254), METADATA),
    // Google Kubernetes Engine: the GKE metadata server (Workload Identity)
    // listens on 169.254.169.252:
    // https://cloud.google.com/kubernetes-engine/docs/concepts/workload-identity
    (v4(169, 254, 169, 252), METADATA),
    // Azure: WireServer, a *public* address that serves DNS, DHCP, health
    // probes and the VM agent's configuration to every VM:
    // https://learn.microsoft.com/azure/virtual-network/what-is-ip-address-168-63-129-16
    (v4(168, 63, 129, 16), PLATFORM),
    // Oracle Cloud Infrastructure Compute Classic metadata:
    // https://docs.oracle.com/en/cloud/iaas-classic/compute-iaas-cloud/stcsg/retrieving-instance-metadata.html
    (v4(192, 0, 0, 192), METADATA),
    // Alibaba Cloud ECS metadata:
    // https://www.alibabacloud.com/help/en/ecs/user-guide/view-instance-metadata
    (v4(100, 100, 100, 200), METADATA),
    // Tencent Cloud CVM metadata (metadata.tencentyun.com):
    // https://www.tencentcloud.com/document/product/213/4934
    (v4(169, 254, 0, 23), METADATA),
    // Scaleway instance metadata, both families:
    // https://www.scaleway.com/en/developers/api/instance/user-data
    (v4(169, 254, 42, 42), METADATA),
    (v6(0xfd00, 0x42, 0, 0, 0, 0, 0, 0x42), METADATA),
    // Akamai (Linode) metadata service over IPv6:
    // https://techdocs.akamai.com/cloud-computing/docs/overview-of-the-metadata-service
    (v6(0xfd00, 0xa9fe, 0xa9fe, 0, 0, 0, 0, 1), METADATA),
    // OpenStack metadata over IPv6 (fe80::a9fe:a9fe):
    // https://specs.openstack.org/openstack/neutron-specs/specs/ussuri/metadata-add-ipv6-support.html
    (v6(0xfe80, 0, 0, 0, 0, 0, 0xa9fe, 0xa9fe), METADATA),
];

/// The addresses of this host's interfaces, loopback ones left out (they
/// are the built-in loopback range, which private targets and a guard's
/// exceptions may lift in tests and demos).
pub fn own_addresses() -> Result<Vec<IpAddr>, SetupError> {
    let interfaces = if_addrs::get_if_addrs().map_err(|e| SetupError::Interfaces(e.to_string()))?;
    let mut addrs: Vec<IpAddr> =
        interfaces.iter().map(if_addrs::Interface::ip).filter(|ip| !ip.is_loopback()).collect();
    addrs.sort();
    addrs.dedup();
    Ok(addrs)
}

/// What a guard refuses beyond [`classify`]: networks with their range
/// label (the operator's, then the preset's) and this host's addresses.
#[derive(Debug, Default)]
struct Denied {
    networks: Vec<(IpNet, &'static str)>,
    own: HashSet<IpAddr>,
}

impl Denied {
    fn range(&self, ip: IpAddr) -> Option<&'static str> {
        if let Some((_, range)) = self.networks.iter().find(|(net, _)| net.contains(&ip)) {
            return Some(range);
        }
        self.own.contains(&ip).then_some(OWN_ADDRESS)
    }
}

/// Resolves targets and refuses forbidden addresses.
#[derive(Clone)]
pub struct Guard {
    allow_private_targets: bool,
    exceptions: Arc<[IpAddr]>,
    denied: Arc<Denied>,
    resolver: Arc<TokioResolver>,
}

impl Guard {
    /// A guard with the default [`Policy`] (cloud preset and this host's
    /// own addresses refused) and the system's resolver configuration.
    /// `allow_private_targets` is for tests and local demos only: it lets
    /// checks reach loopback and private addresses.
    pub fn new(allow_private_targets: bool) -> Result<Self, SetupError> {
        Self::with_policy(allow_private_targets, &Policy::default())
    }

    /// A guard that also refuses what `policy` names, whatever
    /// `allow_private_targets` says.
    pub fn with_policy(allow_private_targets: bool, policy: &Policy) -> Result<Self, SetupError> {
        let setup = |e: &dyn fmt::Display| SetupError::Resolver(e.to_string());
        let resolver = TokioResolver::builder_tokio().map_err(|e| setup(&e))?.build().map_err(|e| setup(&e))?;
        let mut networks: Vec<(IpNet, &'static str)> =
            policy.deny_networks.iter().map(|net| (net.trunc(), OPERATOR_DENIED)).collect();
        if policy.cloud_preset {
            networks.extend(CLOUD_PRESET.iter().map(|(ip, range)| (IpNet::from(*ip), *range)));
        }
        let own = if policy.deny_own_addresses { own_addresses()?.into_iter().collect() } else { HashSet::new() };
        Ok(Self {
            allow_private_targets,
            exceptions: Arc::from([]),
            denied: Arc::new(Denied { networks, own }),
            resolver: Arc::new(resolver),
        })
    }

    /// This guard, also allowing exactly these addresses (a test's own
    /// servers on 127.0.0.1, say), while every other forbidden address
    /// stays forbidden. Exceptions lift the built-in ranges of [`classify`]
    /// only, never the [`Policy`]'s deny-list, preset or own addresses.
    pub fn with_exceptions(mut self, addresses: &[IpAddr]) -> Self {
        self.exceptions = Arc::from(addresses);
        self
    }

    /// This guard, resolving names with exactly these name servers (UDP,
    /// then TCP) instead of the system's, without a hosts file. For tests,
    /// which serve their own zones.
    pub fn with_name_servers(mut self, servers: &[SocketAddr]) -> Result<Self, SetupError> {
        let name_servers = servers
            .iter()
            .map(|server| {
                let mut udp = ConnectionConfig::udp();
                udp.port = server.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = server.port();
                NameServerConfig::new(server.ip(), true, vec![udp, tcp])
            })
            .collect();
        let config = ResolverConfig::from_name_servers(name_servers);
        let mut builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        builder.options_mut().use_hosts_file = ResolveHosts::Never;
        self.resolver = Arc::new(builder.build().map_err(|e| SetupError::Resolver(e.to_string()))?);
        Ok(self)
    }

    /// Whether private targets are allowed (tests and demos).
    pub fn allows_private_targets(&self) -> bool {
        self.allow_private_targets
    }

    /// The forbidden range `ip` is in for this guard, or `None` when it may
    /// be connected to. The policy's networks and own addresses are judged
    /// first and always; the built-in ranges unless private targets are
    /// allowed or `ip` is an exception. An IPv6 form that embeds an IPv4
    /// address is judged by both.
    pub fn forbidden_range(&self, ip: IpAddr) -> Option<&'static str> {
        let embedded = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        if let Some(range) = std::iter::once(ip).chain(embedded).find_map(|candidate| self.denied.range(candidate)) {
            return Some(range);
        }
        match classify(ip) {
            Some(range) if !self.allow_private_targets && !self.exceptions.contains(&ip) => Some(range),
            _ => None,
        }
    }

    /// Refuses a forbidden address given as the IP literal `host` (the
    /// refusal names it, since the tenant typed it).
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), GuardError> {
        match self.forbidden_range(ip) {
            Some(range) => Err(GuardError::Blocked { host: host.to_owned(), ip: Some(ip), range }),
            None => Ok(()),
        }
    }

    /// Resolves `host` (a name, or an IP literal in any spelling, with or
    /// without IPv6 brackets) once, and returns the addresses that may be
    /// connected to. A name whose addresses are all forbidden is blocked
    /// (naming the kind of range of the first, never the address);
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
            match self.forbidden_range(ip) {
                None => addrs.push(ip),
                Some(range) => {
                    first_blocked.get_or_insert(range);
                }
            }
        }
        match (addrs.is_empty(), first_blocked) {
            (false, _) => Ok(Resolved { addrs, dns_ms }),
            (true, Some(range)) => Err(GuardError::Blocked { host: host.to_owned(), ip: None, range }),
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
            Err(err @ GuardError::Blocked { range, .. }) => {
                assert_eq!(range, "loopback");
                // The tenant learns the kind of range, never the address a name resolved to.
                let text = err.to_string();
                assert_eq!(text, "localhost resolves to a loopback address: not allowed");
                assert!(matches!(err, GuardError::Blocked { ip: None, .. }), "{err:?}");
            }
            Err(GuardError::Dns { .. }) => {} // no hosts entry and no DNS here: nothing connects either
            Ok(resolved) => panic!("localhost allowed: {resolved:?}"),
        }
    }

    #[test]
    fn a_refused_literal_is_named_with_the_kind_of_range() {
        let guard = Guard::new(false).unwrap();
        let err = guard.check_ip("2130706433", v4("127.0.0.1")).unwrap_err();
        assert_eq!(err.to_string(), "2130706433 (127.0.0.1) is a loopback address: not allowed");
        let err = guard.check_ip("10.1.2.3", v4("10.1.2.3")).unwrap_err();
        assert_eq!(err.to_string(), "10.1.2.3 is a private (RFC 1918) address: not allowed");
        let err = guard.check_ip("::", v6("::")).unwrap_err();
        assert_eq!(err.to_string(), ":: is an unspecified address: not allowed");
    }

    /// Metadata and platform addresses of the clouds, written out here
    /// rather than read from [`CLOUD_PRESET`], so the test says what the
    /// preset must hold.
    const CLOUD_ADDRESSES: &[&str] = &[
        "169.254.169.254", // AWS, GCP, Azure, OCI, DigitalOcean, Hetzner, OpenStack, ...
        "fd00:ec2::254",   // AWS IMDS over IPv6
        "169.254.169.253", // AWS DNS
        "fd00:ec2::253",
        "169.254.169.123", // AWS time
        "fd00:ec2::123",
        "169.254.170.2",  // AWS ECS credentials
        "169.254.170.23", // AWS EKS Pod Identity
        "fd00:ec2::23",
        "fd20:ce::254",    // GCP metadata over IPv6
        "169.254.169.252", // GKE metadata server
        "168.63.129.16",   // Azure WireServer (a public address)
        "192.0.0.192",     // Oracle Cloud Classic
        "100.100.100.200", // Alibaba Cloud
        "169.254.0.23",    // Tencent Cloud
        "169.254.42.42",   // Scaleway
        "fd00:42::42",
        "fd00:a9fe:a9fe::1", // Akamai / Linode
        "fe80::a9fe:a9fe",   // OpenStack over IPv6
    ];

    #[test]
    fn the_cloud_preset_is_refused_even_where_private_targets_are_allowed() {
        let guard = Guard::new(true).unwrap();
        for text in CLOUD_ADDRESSES {
            let ip: IpAddr = text.parse().unwrap();
            assert!(guard.check_ip(text, ip).is_err(), "{text} allowed");
            if let IpAddr::V4(v4) = ip {
                let mapped = IpAddr::V6(v4.to_ipv6_mapped());
                let nat64 = IpAddr::V6(Ipv6Addr::from((0x64_ff9b_u128 << 96) | u128::from(u32::from(v4))));
                for form in [mapped, nat64] {
                    assert!(guard.check_ip(&form.to_string(), form).is_err(), "{form} ({text}) allowed");
                }
            }
        }
        let err = Guard::new(false).unwrap().check_ip("168.63.129.16", v4("168.63.129.16")).unwrap_err();
        assert_eq!(err.to_string(), "168.63.129.16 is a cloud platform service address: not allowed");
    }

    #[test]
    fn the_preset_holds_every_cloud_address_and_can_be_turned_off() {
        let listed: Vec<IpAddr> = CLOUD_PRESET.iter().map(|(ip, _)| *ip).collect();
        for text in CLOUD_ADDRESSES {
            assert!(listed.contains(&text.parse().unwrap()), "{text} missing from CLOUD_PRESET");
        }
        let without = Policy { cloud_preset: false, deny_own_addresses: false, ..Policy::default() };
        let guard = Guard::with_policy(false, &without).unwrap();
        assert_eq!(guard.check_ip("168.63.129.16", v4("168.63.129.16")), Ok(()));
        // The built-in ranges stay whatever the policy says.
        assert!(guard.check_ip("169.254.169.254", v4("169.254.169.254")).is_err());
    }

    #[test]
    fn operator_networks_are_refused_in_every_form_and_over_private_targets() {
        let policy = Policy {
            deny_networks: vec!["1.2.3.0/24".parse().unwrap(), "2a00:1450::/32".parse().unwrap()],
            ..Policy::default()
        };
        for allow_private_targets in [false, true] {
            let guard = Guard::with_policy(allow_private_targets, &policy).unwrap();
            for denied in
                ["1.2.3.0", "1.2.3.255", "::ffff:1.2.3.4", "64:ff9b::102:304", "2002:102:304::1", "2a00:1450::1"]
            {
                let ip: IpAddr = denied.parse().unwrap();
                let err = guard.check_ip(denied, ip).unwrap_err();
                assert!(err.to_string().contains("an operator-denied address"), "{denied}: {err}");
            }
            for allowed in ["1.2.4.0", "1.2.2.255", "2a01::1"] {
                assert_eq!(guard.check_ip(allowed, allowed.parse().unwrap()), Ok(()), "{allowed}");
            }
        }
    }

    #[test]
    fn exceptions_lift_the_built_in_ranges_but_not_the_deny_list() {
        let policy = Policy { deny_networks: vec!["127.0.0.2/32".parse().unwrap()], ..Policy::default() };
        let exceptions = [v4("127.0.0.1"), v4("127.0.0.2"), v4("169.254.169.254")];
        let guard = Guard::with_policy(false, &policy).unwrap().with_exceptions(&exceptions);
        assert_eq!(guard.check_ip("127.0.0.1", v4("127.0.0.1")), Ok(()));
        assert!(guard.check_ip("127.0.0.2", v4("127.0.0.2")).is_err());
        assert!(guard.check_ip("169.254.169.254", v4("169.254.169.254")).is_err());
        assert!(guard.check_ip("127.0.0.3", v4("127.0.0.3")).is_err());
    }

    /// This host's first non-loopback interface address; every machine that
    /// runs the tests has one (a container's eth0, a laptop's Wi-Fi).
    fn an_own_address() -> IpAddr {
        let interfaces = if_addrs::get_if_addrs().unwrap();
        let own = interfaces.iter().map(if_addrs::Interface::ip).find(|ip| !ip.is_loopback());
        own.expect("this test needs a network interface besides loopback")
    }

    #[test]
    fn this_hosts_own_addresses_are_refused_even_where_private_targets_are_allowed() {
        let own = an_own_address();
        let guard = Guard::new(true).unwrap();
        let err = guard.check_ip(&own.to_string(), own).unwrap_err();
        assert_eq!(err.to_string(), format!("{own} is an address of StatusHawk's own host: not allowed"));
        // Loopback is the built-in range, which private targets lift.
        assert_eq!(guard.check_ip("127.0.0.1", v4("127.0.0.1")), Ok(()));
        // ... unless the operator turns it off.
        let policy = Policy { deny_own_addresses: false, ..Policy::default() };
        assert_eq!(Guard::with_policy(true, &policy).unwrap().check_ip(&own.to_string(), own), Ok(()));
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
