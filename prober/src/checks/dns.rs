//! DNS check: query one record type of a name, from the monitor's own
//! resolver or the prober's public ones, and compare the response code and
//! answers.
//!
//! A check never asks the prober host's own resolver (kube-dns, Docker's
//! 127.0.0.11, a cloud's private zones): without a `resolver` in the spec it
//! asks the operator's `prober.dns_resolvers` (public resolvers by default).
//! Either way each resolver is a connection target like any other: its
//! address passes the SSRF guard first. Each run builds its own resolver, so
//! nothing is answered from a cache or from `/etc/hosts`.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use statushawk_schemas::{DnsRecordType, DnsResponseCode, DnsSpec, ErrorKind};

use super::{Check, Context, Outcome, millis};

/// Longest answer list put into a message.
const MESSAGE_CHARS: usize = 500;

/// The resolvers a DNS check without its own asks, unless the operator sets
/// `prober.dns_resolvers` (keep the two lists alike): Cloudflare, Google and
/// Quad9, over IPv4 and IPv6.
pub const DEFAULT_RESOLVERS: &[&str] =
    &["1.1.1.1", "8.8.8.8", "9.9.9.9", "2606:4700:4700::1111", "2001:4860:4860::8888", "2620:fe::fe"];

pub use statushawk_schemas::parse_resolver;

fn record_type(kind: DnsRecordType) -> RecordType {
    match kind {
        DnsRecordType::A => RecordType::A,
        DnsRecordType::Aaaa => RecordType::AAAA,
        DnsRecordType::Cname => RecordType::CNAME,
        DnsRecordType::Mx => RecordType::MX,
        DnsRecordType::Txt => RecordType::TXT,
        DnsRecordType::Ns => RecordType::NS,
        DnsRecordType::Soa => RecordType::SOA,
        DnsRecordType::Srv => RecordType::SRV,
    }
}

fn response_code(code: DnsResponseCode) -> ResponseCode {
    match code {
        DnsResponseCode::NoError => ResponseCode::NoError,
        DnsResponseCode::NxDomain => ResponseCode::NXDomain,
        DnsResponseCode::ServFail => ResponseCode::ServFail,
        DnsResponseCode::Refused => ResponseCode::Refused,
    }
}

/// The conventional upper-case mnemonic (`NXDOMAIN`), or the number.
fn rcode_label(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        other => format!("rcode {}", u16::from(other)),
    }
}

/// A name as text, always with its trailing dot.
fn fqdn(name: &Name) -> String {
    let text = name.to_ascii();
    if text.ends_with('.') { text } else { format!("{text}.") }
}

/// One answer as text: A/AAAA address, CNAME/NS target with trailing dot,
/// MX `pref exchange`, TXT strings joined, SOA `mname rname serial`, SRV
/// `prio weight port target`. `None` for other record types.
fn render(data: &RData) -> Option<String> {
    Some(match data {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(aaaa) => aaaa.0.to_string(),
        RData::CNAME(cname) => fqdn(&cname.0),
        RData::NS(ns) => fqdn(&ns.0),
        RData::MX(mx) => format!("{} {}", mx.preference, fqdn(&mx.exchange)),
        RData::TXT(txt) => txt.txt_data.iter().map(|part| String::from_utf8_lossy(part)).collect(),
        RData::SOA(soa) => format!("{} {} {}", fqdn(&soa.mname), fqdn(&soa.rname), soa.serial),
        RData::SRV(srv) => format!("{} {} {} {}", srv.priority, srv.weight, srv.port, fqdn(&srv.target)),
        _ => return None,
    })
}

/// The form answers are compared in: lower case, each word without a
/// trailing dot, addresses in canonical form.
fn normalize(answer: &str) -> String {
    answer
        .split_whitespace()
        .map(|word| {
            let word = word.strip_suffix('.').unwrap_or(word).to_ascii_lowercase();
            word.parse::<IpAddr>().map_or(word, |ip| ip.to_string())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Answers joined for a message, cut at [`MESSAGE_CHARS`].
fn answers_text(answers: &[String]) -> String {
    if answers.is_empty() {
        return "no answers".into();
    }
    let joined = answers.join(", ");
    if joined.chars().count() <= MESSAGE_CHARS {
        return joined;
    }
    let mut cut: String = joined.chars().take(MESSAGE_CHARS).collect();
    cut.push('…');
    cut
}

/// A fresh resolver for exactly `servers` (each over UDP, then TCP for
/// truncated answers), never the system's name servers: no cache carried
/// over, no hosts file, at most two attempts that fit in `timeout`.
fn build_resolver(servers: &[SocketAddr], timeout: Duration) -> Result<TokioResolver, NetError> {
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
    let options = builder.options_mut();
    options.attempts = 2;
    options.timeout = timeout / 2;
    options.use_hosts_file = ResolveHosts::Never;
    builder.build()
}

/// What the server said: its response code and the answers of the queried
/// type, as text.
struct Response {
    rcode: ResponseCode,
    answers: Vec<String>,
}

/// Queries `name` for `kind`. hickory reports NXDOMAIN, SERVFAIL, REFUSED and
/// empty answers as errors; those become a [`Response`] with that code. Other
/// failures (timeouts, unreachable server) are the outcome to report.
async fn query(resolver: &TokioResolver, name: Name, kind: RecordType) -> Result<Response, Outcome> {
    match resolver.lookup(name, kind).await {
        Ok(lookup) => {
            let answers =
                lookup.answers().iter().filter(|record| record.record_type() == kind).filter_map(|r| render(&r.data));
            Ok(Response { rcode: ResponseCode::NoError, answers: answers.collect() })
        }
        Err(NetError::Dns(DnsError::NoRecordsFound(no_records))) => {
            Ok(Response { rcode: no_records.response_code, answers: Vec::new() })
        }
        Err(NetError::Dns(DnsError::ResponseCode(rcode))) => Ok(Response { rcode, answers: Vec::new() }),
        Err(NetError::Timeout) => Err(Outcome::down(ErrorKind::Timeout, "the resolver did not answer in time")),
        Err(err) => Err(Outcome::down(ErrorKind::Dns, format!("query failed: {err}"))),
    }
}

impl Check for DnsSpec {
    async fn run(&self, ctx: &Context) -> Outcome {
        // The monitor's own resolver, or the operator's; each through the guard.
        let (servers, own): (Vec<SocketAddr>, Option<IpAddr>) =
            match self.resolver.as_deref().map(|text| (text, parse_resolver(text))) {
                Some((text, None)) => {
                    return Outcome::down(ErrorKind::Internal, format!("bad resolver address {text:?}"));
                }
                Some((text, Some(server))) => match ctx.guard.check_ip(text, server.ip()) {
                    Ok(()) => (vec![server], Some(server.ip())),
                    Err(err) => return err.into(),
                },
                None => {
                    let allowed: Vec<SocketAddr> = ctx
                        .dns_resolvers
                        .iter()
                        .copied()
                        .filter(|server| ctx.guard.check_ip(&server.to_string(), server.ip()).is_ok())
                        .collect();
                    if allowed.is_empty() {
                        return Outcome::down(
                            ErrorKind::Blocked,
                            "no public resolver to ask: the prober's resolvers (prober.dns_resolvers) are not allowed",
                        );
                    }
                    (allowed, None)
                }
            };
        // A trailing dot keeps the system's search domains out of it.
        let name = match Name::from_utf8(self.name.trim()) {
            Ok(mut name) => {
                name.set_fqdn(true);
                name
            }
            Err(err) => return Outcome::down(ErrorKind::Internal, format!("bad name {:?}: {err}", self.name)),
        };
        let resolver = match build_resolver(&servers, ctx.timeout - ctx.timeout / 10) {
            Ok(resolver) => resolver,
            Err(err) => return Outcome::down(ErrorKind::Internal, format!("resolver setup: {err}")),
        };
        let kind = record_type(self.record_type);

        let started = Instant::now();
        let queried = query(&resolver, name.clone(), kind).await;
        let with_timings = |mut outcome: Outcome| {
            outcome.timings.dns_ms = Some(millis(started.elapsed()));
            outcome.ip = own;
            outcome
        };
        let Response { rcode, answers } = match queried {
            Ok(response) => response,
            Err(failed) => return with_timings(failed),
        };
        let mut outcome = with_timings(Outcome::up());
        let asked = format!("{} {kind}", fqdn(&name));
        let seen = format!("{} ({})", rcode_label(rcode), answers_text(&answers));

        match self.expected_rcode.map(response_code) {
            Some(want) if want != rcode => {
                let message = format!("{asked}: expected {}, got {seen}", rcode_label(want));
                return outcome.fail(ErrorKind::Dns, message);
            }
            Some(_) => {}
            None if rcode != ResponseCode::NoError => return outcome.fail(ErrorKind::Dns, format!("{asked}: {seen}")),
            None if answers.is_empty() => return outcome.fail(ErrorKind::Dns, format!("{asked}: no records")),
            None => {}
        }

        let actual: Vec<String> = answers.iter().map(|answer| normalize(answer)).collect();
        let missing: Vec<&str> =
            self.expected.iter().filter(|want| !actual.contains(&normalize(want))).map(String::as_str).collect();
        if !missing.is_empty() {
            let message = format!("{asked}: expected {missing:?} among the answers, got {}", answers_text(&answers));
            return outcome.fail(ErrorKind::Assertion, message);
        }
        outcome.message = Some(seen);
        outcome
    }
}
