//! What to check: the specification of each check kind the probers run.
//!
//! These are data only. Whether a spec is acceptable (a URL that parses, a
//! host that is not a forbidden address, a sane timeout) is decided by the
//! prober's `validate`, which the API calls before storing a monitor.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The kind of a probed check (heartbeat monitors have no probe).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// HTTP(S) request.
    Http,
    /// TCP connect, optionally send/expect.
    Tcp,
    /// ICMP echo.
    Icmp,
    /// DNS query.
    Dns,
    /// TLS handshake and certificate.
    Tls,
}

/// The full specification of one probed check, tagged by `kind`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CheckSpec {
    /// HTTP(S) request.
    Http(HttpSpec),
    /// TCP connect.
    Tcp(TcpSpec),
    /// ICMP echo.
    Icmp(IcmpSpec),
    /// DNS query.
    Dns(DnsSpec),
    /// TLS handshake and certificate expiry.
    Tls(TlsSpec),
}

impl CheckSpec {
    /// The kind of this spec.
    pub fn kind(&self) -> CheckKind {
        match self {
            Self::Http(_) => CheckKind::Http,
            Self::Tcp(_) => CheckKind::Tcp,
            Self::Icmp(_) => CheckKind::Icmp,
            Self::Dns(_) => CheckKind::Dns,
            Self::Tls(_) => CheckKind::Tls,
        }
    }
}

/// HTTP request method.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET (the default).
    #[default]
    Get,
    /// HEAD.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// OPTIONS.
    Options,
}

/// One request header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Header {
    /// Header name.
    pub name: String,
    /// Header value.
    pub value: String,
}

/// An inclusive range of accepted HTTP status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatusRange {
    /// Lowest accepted status.
    pub min: u16,
    /// Highest accepted status.
    pub max: u16,
}

/// An HTTP(S) check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HttpSpec {
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    /// Request method.
    #[serde(default, skip_serializing_if = "is_default")]
    pub method: HttpMethod,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<Header>,
    /// Request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Redirects to follow, 0 to 3; each hop passes the SSRF guard again.
    #[serde(default = "default_redirects", skip_serializing_if = "is_default_redirects")]
    pub follow_redirects: u8,
    /// Verify the server certificate (on by default).
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub verify_tls: bool,
    /// Accepted status codes; empty means 200–399.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_status: Vec<StatusRange>,
    /// Assertions on the response, each reported with its actual value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assertions: Vec<Assertion>,
    /// Fail when the certificate expires within this many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expiry_days: Option<u32>,
    /// Read at most this many body bytes (default: the prober's setting, 10 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<u32>,
}

impl HttpSpec {
    /// A GET of `url` with every other setting at its default.
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            method: HttpMethod::Get,
            headers: Vec::new(),
            body: None,
            follow_redirects: default_redirects(),
            verify_tls: true,
            expected_status: Vec::new(),
            assertions: Vec::new(),
            cert_expiry_days: None,
            max_body_bytes: None,
        }
    }
}

/// A condition on an HTTP response. Conditions are data: the prober evaluates
/// each one and reports it with its actual value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Assertion {
    /// The body (as read) contains `value`.
    BodyContains {
        /// Text to look for.
        value: String,
    },
    /// The body (as read) does not contain `value`.
    BodyNotContains {
        /// Text that must be absent.
        value: String,
    },
    /// The JSON value at `pointer` (RFC 6901) in the body equals `value`.
    JsonPointerEquals {
        /// JSON pointer, e.g. `/status`.
        pointer: String,
        /// Expected JSON value.
        value: serde_json::Value,
    },
    /// Response header `name` equals `value`.
    HeaderEquals {
        /// Header name (case-insensitive).
        name: String,
        /// Expected value.
        value: String,
    },
    /// Response header `name` contains `value`.
    HeaderContains {
        /// Header name (case-insensitive).
        name: String,
        /// Text to look for.
        value: String,
    },
    /// Total response time at most `max_ms`; when this is the only failing
    /// assertion the result is `degraded`, not `down`.
    ResponseTimeBelow {
        /// Threshold in milliseconds.
        max_ms: u32,
    },
}

/// A TCP connect check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TcpSpec {
    /// Host name or IP address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Bytes (UTF-8 text) to send after connecting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
    /// Text that must appear in what the server sends back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
}

/// An ICMP echo check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IcmpSpec {
    /// Host name or IP address.
    pub host: String,
    /// Echo requests to send.
    #[serde(default = "default_icmp_count", skip_serializing_if = "is_default_icmp_count")]
    pub count: u8,
    /// Fail when more than this percentage of echoes is lost.
    #[serde(default, skip_serializing_if = "is_default")]
    pub max_loss_percent: u8,
}

/// DNS record type to query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum DnsRecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Canonical name.
    Cname,
    /// Mail exchanger.
    Mx,
    /// Text.
    Txt,
    /// Name server.
    Ns,
    /// Start of authority.
    Soa,
    /// Service locator.
    Srv,
}

/// DNS response code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum DnsResponseCode {
    /// No error.
    NoError,
    /// Name does not exist.
    NxDomain,
    /// Server failure.
    ServFail,
    /// Query refused.
    Refused,
}

/// A DNS check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DnsSpec {
    /// Name to resolve.
    pub name: String,
    /// Record type.
    pub record_type: DnsRecordType,
    /// Resolver to ask (`ip` or `ip:port`); the system resolver when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<String>,
    /// Answers that must all be present (textual form).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected: Vec<String>,
    /// Expected response code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_rcode: Option<DnsResponseCode>,
}

/// A TLS certificate check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TlsSpec {
    /// Host name (also the SNI name) or IP address.
    pub host: String,
    /// Port.
    #[serde(default = "default_tls_port", skip_serializing_if = "is_default_tls_port")]
    pub port: u16,
    /// Fail when the certificate expires within this many days.
    #[serde(default = "default_expiry_days", skip_serializing_if = "is_default_expiry_days")]
    pub expiry_days: u32,
    /// Verify that the certificate matches the host name.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub verify_hostname: bool,
}

// Settings at their default are left out of the JSON: every reader applies
// the same defaults, and the scheduler keeps a million specs in memory.
fn default_true() -> bool {
    true
}
fn is_true(value: &bool) -> bool {
    *value
}
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}
fn is_default_redirects(value: &u8) -> bool {
    *value == default_redirects()
}
fn is_default_icmp_count(value: &u8) -> bool {
    *value == default_icmp_count()
}
fn is_default_tls_port(value: &u16) -> bool {
    *value == default_tls_port()
}
fn is_default_expiry_days(value: &u32) -> bool {
    *value == default_expiry_days()
}
fn default_redirects() -> u8 {
    3
}
fn default_icmp_count() -> u8 {
    3
}
fn default_tls_port() -> u16 {
    443
}
fn default_expiry_days() -> u32 {
    14
}
