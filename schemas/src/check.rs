//! What to check: the specification of each check kind the probers run.
//!
//! These are data only. Whether a spec is acceptable (a URL that parses, a
//! host that is not a forbidden address, a sane timeout) is decided by the
//! prober's `validate`, which the API calls before storing a monitor.
//!
//! Some parts of a spec are credentials a tenant gives us: HTTP header
//! values, the HTTP request body and the TCP `send` payload (API keys,
//! basic auth). [`SpecSecrets`] takes them out of a spec and puts them back:
//! at rest and on `CONFIG` they travel sealed, API answers leave them out,
//! and only the due check a prober runs carries them.

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

impl CheckKind {
    /// Every kind.
    pub const ALL: [Self; 5] = [Self::Http, Self::Tcp, Self::Icmp, Self::Dns, Self::Tls];

    /// The name on the wire (`http`, `tcp`, ...), for labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Tcp => "tcp",
            Self::Icmp => "icmp",
            Self::Dns => "dns",
            Self::Tls => "tls",
        }
    }
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
    /// Takes the secret parts out of the spec ([`SpecSecrets`]).
    pub fn take_secrets(&mut self) -> SpecSecrets {
        match self {
            Self::Http(spec) => spec.take_secrets(),
            Self::Tcp(spec) => spec.take_secrets(),
            Self::Icmp(_) | Self::Dns(_) | Self::Tls(_) => SpecSecrets::default(),
        }
    }

    /// Puts secret parts back where the spec has none.
    pub fn restore_secrets(&mut self, secrets: SpecSecrets) {
        match self {
            Self::Http(spec) => spec.restore_secrets(secrets),
            Self::Tcp(spec) => spec.restore_secrets(secrets),
            Self::Icmp(_) | Self::Dns(_) | Self::Tls(_) => {}
        }
    }

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
    /// Header value: a secret. Due checks always carry it; the API never
    /// returns it, and on `PUT` a header sent without a value keeps its
    /// stored one (unless the target changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Header {
    /// A header with its value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self { name: name.into(), value: Some(value.into()) }
    }

    /// Its value, empty when it has none (a spec whose secrets were taken
    /// out).
    pub fn value(&self) -> &str {
        self.value.as_deref().unwrap_or_default()
    }
}

/// The secret parts of a check spec, taken out of it: the values of its
/// HTTP headers (by position), its HTTP request body and its TCP payload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SpecSecrets {
    /// Header values, by the header's position in the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<Option<String>>,
    /// The HTTP request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The TCP `send` payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
}

impl SpecSecrets {
    /// Whether there is nothing secret.
    pub fn is_empty(&self) -> bool {
        self.headers.iter().all(Option::is_none) && self.body.is_none() && self.send.is_none()
    }
}

impl HttpSpec {
    /// Takes the header values and the body out.
    pub fn take_secrets(&mut self) -> SpecSecrets {
        SpecSecrets {
            headers: self.headers.iter_mut().map(|h| h.value.take()).collect(),
            body: self.body.take(),
            send: None,
        }
    }

    /// Puts secrets back where the spec has none.
    pub fn restore_secrets(&mut self, secrets: SpecSecrets) {
        for (header, value) in self.headers.iter_mut().zip(secrets.headers) {
            if header.value.is_none() {
                header.value = value;
            }
        }
        if self.body.is_none() {
            self.body = secrets.body;
        }
    }

    /// The fields that hold a secret, as API field paths under `spec`.
    pub fn secrets_set(&self) -> Vec<String> {
        let headers = self.headers.iter().enumerate().filter(|(_, h)| h.value.is_some());
        let mut set: Vec<String> = headers.map(|(i, _)| format!("spec.headers[{i}].value")).collect();
        if self.body.is_some() {
            set.push("spec.body".to_owned());
        }
        set
    }
}

impl TcpSpec {
    /// Takes the payload out.
    pub fn take_secrets(&mut self) -> SpecSecrets {
        SpecSecrets { send: self.send.take(), ..SpecSecrets::default() }
    }

    /// Puts the payload back where the spec has none.
    pub fn restore_secrets(&mut self, secrets: SpecSecrets) {
        if self.send.is_none() {
            self.send = secrets.send;
        }
    }

    /// The fields that hold a secret, as API field paths under `spec`.
    pub fn secrets_set(&self) -> Vec<String> {
        self.send.iter().map(|_| "spec.send".to_owned()).collect()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_out_of_a_spec_and_go_back_in() {
        let mut http = HttpSpec::get("https://api.example/health");
        http.headers = vec![Header::new("Authorization", "Bearer k"), Header::new("Accept", "text/plain")];
        http.body = Some("{\"key\":\"s\"}".into());
        let whole = CheckSpec::Http(http);
        let mut spec = whole.clone();
        let secrets = spec.take_secrets();
        let text = serde_json::to_string(&spec).unwrap();
        assert!(!text.contains("Bearer k") && !text.contains("text/plain") && !text.contains("key"), "{text}");
        assert!(text.contains("Authorization") && text.contains("Accept"), "names stay: {text}");
        assert_eq!(secrets.headers, [Some("Bearer k".to_owned()), Some("text/plain".to_owned())]);
        spec.restore_secrets(secrets);
        assert_eq!(spec, whole);

        let mut tcp =
            CheckSpec::Tcp(TcpSpec { host: "db".into(), port: 6379, send: Some("AUTH pw\r\n".into()), expect: None });
        let secrets = tcp.take_secrets();
        assert_eq!(secrets.send.as_deref(), Some("AUTH pw\r\n"));
        assert!(!secrets.is_empty());
        let mut dns = CheckSpec::Dns(DnsSpec {
            name: "example.com".into(),
            record_type: DnsRecordType::A,
            resolver: None,
            expected: Vec::new(),
            expected_rcode: None,
        });
        assert!(dns.take_secrets().is_empty());
    }

    #[test]
    fn a_value_given_again_wins_over_the_stored_one() {
        let mut stored = HttpSpec::get("https://api.example/");
        stored.headers = vec![Header::new("Authorization", "old")];
        let secrets = stored.take_secrets();
        let mut sent = HttpSpec::get("https://api.example/");
        sent.headers = vec![Header::new("Authorization", "new")];
        sent.restore_secrets(secrets);
        assert_eq!(sent.headers[0].value(), "new");
        assert_eq!(sent.secrets_set(), ["spec.headers[0].value"]);
    }
}
