//! The outcome of one probe.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Assertion, MonitorId, Region, TeamId, UnixMs, msg_id};

/// Outcome of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Everything passed.
    Up,
    /// The check failed.
    Down,
    /// Reachable but outside a soft limit (e.g. too slow).
    Degraded,
    /// Not run: the prober saw it after its deadline.
    Skipped,
}

/// Why a check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Name resolution failed.
    Dns,
    /// The connection could not be made.
    Connect,
    /// The TLS handshake or certificate verification failed.
    Tls,
    /// The check exceeded its timeout.
    Timeout,
    /// The HTTP status was not an expected one.
    HttpStatus,
    /// An assertion on the response failed.
    Assertion,
    /// The target resolved to a forbidden address (SSRF guard).
    Blocked,
    /// Too many ICMP echoes were lost.
    IcmpLoss,
    /// The certificate expires too soon.
    CertExpiry,
    /// The peer spoke something unexpected (bad HTTP, unexpected TCP reply).
    Protocol,
    /// The due check was past its deadline when a prober saw it.
    Deadline,
    /// A fault in the prober itself.
    Internal,
    /// A heartbeat monitor's ping did not arrive in time.
    Missed,
    /// A job reported its own failure (a `/fail` ping or a non-zero exit
    /// code).
    JobFailed,
}

/// Phase timings in milliseconds; a phase that did not happen is absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Timings {
    /// Name resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_ms: Option<u32>,
    /// TCP connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<u32>,
    /// TLS handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ms: Option<u32>,
    /// Request sent to first response byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb_ms: Option<u32>,
    /// The whole check.
    pub total_ms: u32,
}

/// One assertion as evaluated: what was asked, whether it held, what was seen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AssertionResult {
    /// The assertion.
    pub assertion: Assertion,
    /// Whether it held.
    pub passed: bool,
    /// The actual value seen, rendered as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
}

/// The result of one due check, on
/// `checks.result.<partition>.<region>.<monitor_id>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckResult {
    /// Message format version ([`crate::SCHEMA_VERSION`]).
    #[serde(default = "crate::schema_version")]
    pub schema_version: u16,
    /// The monitor checked.
    pub monitor_id: MonitorId,
    /// Its team.
    pub team_id: TeamId,
    /// The region that ran it.
    pub region: Region,
    /// The slot of the due check (Unix ms).
    pub slot_ms: UnixMs,
    /// The attempt of the due check (0 = scheduled, >0 = re-check).
    pub attempt: u32,
    /// The prober instance that ran it.
    pub prober_id: String,
    /// When the check started (Unix ms).
    pub started_at_ms: UnixMs,
    /// Outcome.
    pub status: CheckStatus,
    /// Why it failed; absent when up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorKind>,
    /// Human-readable detail of the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Phase timings.
    pub timings: Timings,
    /// The address actually connected to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// HTTP status code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Response body bytes read (capped by the body limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<u32>,
    /// Expiry of the peer's TLS certificate (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expires_at_ms: Option<UnixMs>,
    /// Issuer of the peer's TLS certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_issuer: Option<String>,
    /// Each assertion with its outcome.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assertions: Vec<AssertionResult>,
}

impl CheckResult {
    /// The deterministic `Nats-Msg-Id` of this message.
    pub fn msg_id(&self) -> String {
        msg_id::result(self.monitor_id, &self.region, self.slot_ms, self.attempt)
    }
}
