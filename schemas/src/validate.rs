//! What the API refuses before it stores a spec or a setting, next to the
//! types it checks: pure functions, no I/O, one error type for all of them.
//!
//! The prober runs what passes here; it re-checks only what a stored spec
//! from before a rule could still carry (headers that frame a request,
//! [`validate_headers`]).

use std::net::{IpAddr, SocketAddr};

use crate::check::{Assertion, CheckSpec, DnsSpec, Header, HttpSpec, IcmpSpec, TcpSpec, TlsSpec};

/// A value that is not acceptable, naming the field it is in: the one
/// validation error of StatusHawk (check specs, heartbeat schedules,
/// channel settings, the configuration). The API answers it as 422 with
/// `error.field`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field, e.g. `url`, `assertions[2].pointer` or `cluster.regions`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// The same error with its field inside `parent` (`settings` makes
    /// `url` into `settings.url`).
    #[must_use]
    pub fn within(self, parent: &str) -> Self {
        Self { field: format!("{parent}.{}", self.field), message: self.message }
    }
}

/// Largest body an HTTP check may ask to read.
pub const MAX_BODY_LIMIT: u32 = 1 << 20;

/// Largest text a TCP check may send or expect.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// Request headers a monitor may not set (compared case-insensitively),
/// with the reason: the prober frames each request itself, and a second
/// `Host` or a framing header would let a monitor smuggle a request past a
/// proxy in front of its target; upgrades (WebSocket, `h2c`) would turn
/// the check into a tunnel.
pub const REFUSED_HEADERS: &[(&str, &str)] = &[
    ("host", "is taken from the URL"),
    ("content-length", "is set by the prober from the body"),
    ("transfer-encoding", "is set by the prober"),
    ("te", "is a hop-by-hop header the prober does not use"),
    ("trailer", "is a hop-by-hop header the prober does not use"),
    ("upgrade", "would switch the connection to another protocol"),
    ("http2-settings", "belongs to an h2c upgrade"),
    ("proxy-connection", "is a hop-by-hop header the prober does not use"),
    ("keep-alive", "is a hop-by-hop header: the prober opens one connection per check"),
];

/// The `Connection` values a monitor may send: anything else names other
/// headers as hop-by-hop (so a proxy strips them) or asks for an upgrade.
const CONNECTION_VALUES: &[&str] = &["close", "keep-alive"];

impl CheckSpec {
    /// Checks the spec without running it: everything the API must refuse.
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            Self::Http(spec) => spec.validate(),
            Self::Tcp(spec) => spec.validate(),
            Self::Icmp(spec) => spec.validate(),
            Self::Dns(spec) => spec.validate(),
            Self::Tls(spec) => spec.validate(),
        }
    }
}

/// Refuses a header list the prober would not send, naming the entry.
pub fn validate_headers(headers: &[Header]) -> Result<(), FieldError> {
    for (i, header) in headers.iter().enumerate() {
        let name = header.name.trim();
        http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| FieldError::new(format!("headers[{i}].name"), "not a valid header name"))?;
        if let Some((_, why)) = REFUSED_HEADERS.iter().find(|(refused, _)| refused.eq_ignore_ascii_case(name)) {
            return Err(FieldError::new(format!("headers[{i}].name"), format!("{name} may not be set: it {why}")));
        }
        let value = header.value();
        http::HeaderValue::from_str(value)
            .map_err(|_| FieldError::new(format!("headers[{i}].value"), "not a valid header value"))?;
        if name.eq_ignore_ascii_case("connection")
            && !CONNECTION_VALUES.iter().any(|allowed| allowed.eq_ignore_ascii_case(value.trim()))
        {
            return Err(FieldError::new(format!("headers[{i}].value"), "Connection may only be close or keep-alive"));
        }
    }
    Ok(())
}

impl HttpSpec {
    /// Checks the spec without running it.
    pub fn validate(&self) -> Result<(), FieldError> {
        let url = url::Url::parse(&self.url).map_err(|e| FieldError::new("url", e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FieldError::new("url", "must be an http:// or https:// URL"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(FieldError::new("url", "has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FieldError::new("url", "credentials belong in a header, not in the URL"));
        }
        if self.follow_redirects > 3 {
            return Err(FieldError::new("follow_redirects", "at most 3"));
        }
        validate_headers(&self.headers)?;
        for (i, range) in self.expected_status.iter().enumerate() {
            if !(100..=599).contains(&range.min) || !(100..=599).contains(&range.max) || range.min > range.max {
                return Err(FieldError::new(format!("expected_status[{i}]"), "a range within 100-599, min <= max"));
            }
        }
        for (i, assertion) in self.assertions.iter().enumerate() {
            let field = |name: &str| format!("assertions[{i}].{name}");
            match assertion {
                Assertion::BodyContains { value } | Assertion::BodyNotContains { value } if value.is_empty() => {
                    return Err(FieldError::new(field("value"), "must not be empty"));
                }
                Assertion::JsonPointerEquals { pointer, .. } if !pointer.is_empty() && !pointer.starts_with('/') => {
                    return Err(FieldError::new(field("pointer"), "a JSON pointer starts with '/'"));
                }
                Assertion::HeaderEquals { name, .. } | Assertion::HeaderContains { name, .. }
                    if http::HeaderName::from_bytes(name.as_bytes()).is_err() =>
                {
                    return Err(FieldError::new(field("name"), "not a valid header name"));
                }
                Assertion::ResponseTimeBelow { max_ms } if *max_ms == 0 => {
                    return Err(FieldError::new(field("max_ms"), "must be positive"));
                }
                _ => {}
            }
        }
        if self.max_body_bytes.is_some_and(|n| n > MAX_BODY_LIMIT) {
            return Err(FieldError::new("max_body_bytes", format!("at most {MAX_BODY_LIMIT}")));
        }
        if self.cert_expiry_days.is_some_and(|days| days > 365) {
            return Err(FieldError::new("cert_expiry_days", "at most 365"));
        }
        Ok(())
    }
}

impl TcpSpec {
    /// Checks the spec without running it.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_host("host", &self.host)?;
        if self.port == 0 {
            return Err(FieldError::new("port", "must be 1 to 65535"));
        }
        validate_payload("send", self.send.as_ref())?;
        validate_payload("expect", self.expect.as_ref())
    }
}

fn validate_payload(field: &str, value: Option<&String>) -> Result<(), FieldError> {
    match value {
        Some(text) if text.is_empty() => Err(FieldError::new(field, "must not be empty when given")),
        Some(text) if text.len() > MAX_PAYLOAD_BYTES => {
            Err(FieldError::new(field, format!("at most {MAX_PAYLOAD_BYTES} bytes")))
        }
        _ => Ok(()),
    }
}

impl IcmpSpec {
    /// Checks the spec without running it.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_host("host", &self.host)?;
        if !(1..=10).contains(&self.count) {
            return Err(FieldError::new("count", "must be 1 to 10"));
        }
        if self.max_loss_percent > 100 {
            return Err(FieldError::new("max_loss_percent", "must be 0 to 100"));
        }
        Ok(())
    }
}

impl DnsSpec {
    /// Checks the spec without running it.
    pub fn validate(&self) -> Result<(), FieldError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        if !is_domain_name(name) {
            return Err(FieldError::new("name", "not a valid domain name"));
        }
        if let Some(resolver) = &self.resolver
            && parse_resolver(resolver).is_none()
        {
            return Err(FieldError::new("resolver", "must be an IP address, optionally with :port"));
        }
        if let Some(i) = self.expected.iter().position(|value| value.trim().is_empty()) {
            return Err(FieldError::new(format!("expected[{i}]"), "must not be empty"));
        }
        Ok(())
    }
}

/// A name a resolver can be asked for: its IDNA (punycode) form at most
/// 253 bytes (a trailing dot included), each label 1 to 63. Underscores (`_dmarc`, `_sip._tcp`) and a
/// trailing dot are fine.
fn is_domain_name(name: &str) -> bool {
    let Ok(ascii) = idna::domain_to_ascii(name) else { return false };
    let labels = ascii.strip_suffix('.').unwrap_or(&ascii);
    ascii.len() <= 253 && labels.split('.').all(|label| (1..=63).contains(&label.len()))
}

/// A resolver as a DNS check names it: `ip`, `ip:port`, `[v6]` or
/// `[v6]:port` (port 53 when none is given).
pub fn parse_resolver(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let unbracketed = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
    unbracketed.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
}

impl TlsSpec {
    /// Checks the spec without running it.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_host("host", &self.host)?;
        let host = self.host.trim();
        let unbracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        if unbracketed.parse::<IpAddr>().is_err()
            && rustls_pki_types::ServerName::try_from(host.trim_end_matches('.')).is_err()
        {
            return Err(FieldError::new("host", format!("{host:?} is not a valid TLS server name")));
        }
        if self.port == 0 {
            return Err(FieldError::new("port", "must be 1 to 65535"));
        }
        if self.expiry_days > 3650 {
            return Err(FieldError::new("expiry_days", "at most 3650"));
        }
        Ok(())
    }
}

/// Checks a host name or IP literal used as a check target.
pub fn validate_host(field: &str, host: &str) -> Result<(), FieldError> {
    let host = host.trim();
    if host.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if host.len() > 253 || host.chars().any(|c| c.is_whitespace() || c == '/' || c == '@') {
        return Err(FieldError::new(field, "not a host name or IP address"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{DnsRecordType, StatusRange};

    fn dns(name: &str, resolver: Option<&str>, expected: &[&str]) -> DnsSpec {
        DnsSpec {
            name: name.into(),
            record_type: DnsRecordType::A,
            resolver: resolver.map(Into::into),
            expected: expected.iter().map(|s| (*s).to_owned()).collect(),
            expected_rcode: None,
        }
    }

    #[track_caller]
    fn field(result: Result<(), FieldError>) -> String {
        result.unwrap_err().field
    }

    #[test]
    fn invalid_http_specs_name_the_field() {
        let mut bad = HttpSpec::get("ftp://example.com/");
        assert_eq!(field(bad.validate()), "url");
        bad.url = "https://user:pw@example.com/".into();
        assert_eq!(field(bad.validate()), "url");
        bad.url = "https://example.com/".into();
        bad.follow_redirects = 4;
        assert_eq!(field(bad.validate()), "follow_redirects");
        bad.follow_redirects = 3;
        bad.assertions = vec![Assertion::JsonPointerEquals { pointer: "status".into(), value: serde_json::json!(1) }];
        assert_eq!(field(bad.validate()), "assertions[0].pointer");
        bad.assertions.clear();
        bad.expected_status = vec![StatusRange { min: 300, max: 200 }];
        assert_eq!(field(bad.validate()), "expected_status[0]");
        bad.expected_status.clear();
        assert_eq!(bad.validate(), Ok(()));
    }

    #[test]
    fn headers_that_frame_or_reroute_a_request_are_refused() {
        for name in ["Host", "host", "Content-Length", "TRANSFER-ENCODING", "Upgrade", "TE", "Trailer", "Keep-Alive"] {
            let err = validate_headers(&[Header::new("X-Fine", "1"), Header::new(name, "x")]).unwrap_err();
            assert_eq!(err.field, "headers[1].name", "{name}");
            assert!(err.message.contains(name), "{name}: {err}");
        }
        for value in ["upgrade", "close, x-forwarded-for", "Upgrade, HTTP2-Settings"] {
            assert_eq!(field(validate_headers(&[Header::new("Connection", value)])), "headers[0].value", "{value}");
        }
        for value in ["close", "keep-alive", "Keep-Alive"] {
            assert_eq!(validate_headers(&[Header::new("Connection", value)]), Ok(()), "{value}");
        }
        assert_eq!(field(validate_headers(&[Header::new("bad name", "x")])), "headers[0].name");
        assert_eq!(field(validate_headers(&[Header::new("X-Ok", "a\nb")])), "headers[0].value");
        assert_eq!(validate_headers(&[Header::new("Connection", "close"), Header::new("Accept", "*/*")]), Ok(()));
    }

    #[test]
    fn invalid_tcp_and_icmp_specs_name_the_field() {
        let tcp = |host: &str, port: u16, send: Option<String>, expect: Option<String>| TcpSpec {
            host: host.into(),
            port,
            send,
            expect,
        };
        assert_eq!(tcp("example.com", 443, None, Some("x".into())).validate(), Ok(()));
        assert_eq!(field(tcp("example.com", 0, None, None).validate()), "port");
        assert_eq!(field(tcp(" ", 80, None, None).validate()), "host");
        assert_eq!(field(tcp("example.com", 80, Some("x".repeat(4097)), None).validate()), "send");
        assert_eq!(field(tcp("example.com", 80, None, Some(String::new())).validate()), "expect");

        let icmp = |count: u8, max_loss_percent: u8| IcmpSpec { host: "example.com".into(), count, max_loss_percent };
        assert_eq!(icmp(1, 0).validate(), Ok(()));
        assert_eq!(icmp(10, 100).validate(), Ok(()));
        assert_eq!(field(icmp(0, 0).validate()), "count");
        assert_eq!(field(icmp(11, 0).validate()), "count");
        assert_eq!(field(icmp(3, 101).validate()), "max_loss_percent");
        assert_eq!(field(IcmpSpec { host: String::new(), count: 3, max_loss_percent: 0 }.validate()), "host");
    }

    #[test]
    fn invalid_dns_specs_name_the_field() {
        for resolver in ["1.1.1.1", "1.1.1.1:5353", "[2606:4700::1111]", "[2606:4700::1111]:53", "::1"] {
            assert_eq!(dns("example.com", Some(resolver), &["x"]).validate(), Ok(()), "{resolver}");
        }
        for name in ["_dmarc.example.com", "example.com.", "bücher.example", "_sip._tcp.example.com"] {
            assert_eq!(dns(name, None, &[]).validate(), Ok(()), "{name}");
        }
        assert_eq!(field(dns("", None, &[]).validate()), "name");
        assert_eq!(field(dns(&"a.".repeat(127), None, &[]).validate()), "name");
        assert_eq!(field(dns(&format!("{}.example", "a".repeat(64)), None, &[]).validate()), "name");
        assert_eq!(field(dns("a..example", None, &[]).validate()), "name");
        assert_eq!(field(dns("example.com", Some("dns.google"), &[]).validate()), "resolver");
        assert_eq!(field(dns("example.com", Some("1.1.1.1:99999"), &[]).validate()), "resolver");
        assert_eq!(field(dns("example.com", None, &["ok", " "]).validate()), "expected[1]");
    }

    #[test]
    fn invalid_tls_specs_name_the_field() {
        let tls = |host: &str, port: u16| TlsSpec { host: host.into(), port, expiry_days: 14, verify_hostname: true };
        assert_eq!(tls("example.com", 443).validate(), Ok(()));
        assert_eq!(tls("example.com.", 443).validate(), Ok(()));
        assert_eq!(tls("192.0.2.1", 443).validate(), Ok(()));
        assert_eq!(tls("[2001:db8::1]", 443).validate(), Ok(()));
        assert_eq!(field(tls("example.com", 0).validate()), "port");
        assert_eq!(field(tls("", 443).validate()), "host");
        assert_eq!(field(tls("bad_name!", 443).validate()), "host");
        let mut long = tls("example.com", 443);
        long.expiry_days = 3651;
        assert_eq!(field(long.validate()), "expiry_days");
    }

    #[test]
    fn a_field_error_can_be_placed_inside_its_parent() {
        let err = FieldError::new("url", "has no host").within("settings");
        assert_eq!((err.field.as_str(), err.to_string().as_str()), ("settings.url", "settings.url: has no host"));
    }
}
