//! The outcome of one probe.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::subject::Subject;
use crate::{Assertion, MonitorId, Region, TeamId, UnixMs, msg_id, partition_of};

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

impl CheckStatus {
    /// Every status.
    pub const ALL: [Self; 4] = [Self::Up, Self::Down, Self::Degraded, Self::Skipped];

    /// The name on the wire (`up`, `down`, ...), for labels and rows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
            Self::Degraded => "degraded",
            Self::Skipped => "skipped",
        }
    }
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: [Self; 14] = [
        Self::Dns,
        Self::Connect,
        Self::Tls,
        Self::Timeout,
        Self::HttpStatus,
        Self::Assertion,
        Self::Blocked,
        Self::IcmpLoss,
        Self::CertExpiry,
        Self::Protocol,
        Self::Deadline,
        Self::Internal,
        Self::Missed,
        Self::JobFailed,
    ];

    /// The name on the wire (`http_status`, `job_failed`, ...), for labels and rows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Timeout => "timeout",
            Self::HttpStatus => "http_status",
            Self::Assertion => "assertion",
            Self::Blocked => "blocked",
            Self::IcmpLoss => "icmp_loss",
            Self::CertExpiry => "cert_expiry",
            Self::Protocol => "protocol",
            Self::Deadline => "deadline",
            Self::Internal => "internal",
            Self::Missed => "missed",
            Self::JobFailed => "job_failed",
        }
    }
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

    /// Whether this result may have travelled on `subject` (without the
    /// deployment prefix): a `checks.result.<partition>.<region>.<monitor_id>`
    /// subject naming the payload's monitor, its partition of `partitions`,
    /// and the payload's region.
    ///
    /// NATS permissions confine a prober to its region's subjects, so the
    /// subject is what vouches for a result; a payload that disagrees with
    /// it is forged.
    pub fn matches_subject(&self, subject: &str, partitions: u16) -> Result<(), Forgery> {
        let Ok(Subject::Result { partition, region, monitor_id }) = subject.parse::<Subject>() else {
            return Err(Forgery::Subject);
        };
        if monitor_id != self.monitor_id {
            Err(Forgery::Monitor)
        } else if partition != partition_of(self.monitor_id, partitions) {
            Err(Forgery::Partition)
        } else if region != self.region {
            Err(Forgery::Region)
        } else {
            Ok(())
        }
    }

    /// Whether this result agrees with its monitor as the configuration
    /// store has it: the monitor's `team` and one of the `regions` it is
    /// checked from.
    pub fn matches_monitor(&self, team: TeamId, regions: &[Region]) -> Result<(), Forgery> {
        if self.team_id != team {
            Err(Forgery::Team)
        } else if !regions.contains(&self.region) {
            Err(Forgery::UnconfiguredRegion)
        } else {
            Ok(())
        }
    }
}

/// Why a result was refused: its payload disagrees with the subject it came
/// on ([`CheckResult::matches_subject`]) or with its monitor
/// ([`CheckResult::matches_monitor`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Forgery {
    /// The subject is not a result subject.
    Subject,
    /// The subject names another monitor.
    Monitor,
    /// The subject's partition is not the monitor's.
    Partition,
    /// The subject names another region.
    Region,
    /// The payload names another team than the monitor's.
    Team,
    /// The monitor is not checked from the result's region.
    UnconfiguredRegion,
}

impl Forgery {
    /// The name used in metrics and logs (`subject`, `monitor`, `partition`,
    /// `region`, `team`, `unconfigured_region`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subject => "subject",
            Self::Monitor => "monitor",
            Self::Partition => "partition",
            Self::Region => "region",
            Self::Team => "team",
            Self::UnconfiguredRegion => "unconfigured_region",
        }
    }
}

impl std::fmt::Display for Forgery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Subject => "not a result subject",
            Self::Monitor => "the subject names another monitor",
            Self::Partition => "the subject's partition is not the monitor's",
            Self::Region => "the subject names another region",
            Self::Team => "the payload names another team than the monitor's",
            Self::UnconfiguredRegion => "the monitor is not checked from this region",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subject;

    fn region(name: &str) -> Region {
        Region::new(name).unwrap()
    }

    fn result(monitor_id: MonitorId, team_id: TeamId, region_name: &str) -> CheckResult {
        CheckResult {
            schema_version: crate::SCHEMA_VERSION,
            monitor_id,
            team_id,
            region: region(region_name),
            slot_ms: 1_000,
            attempt: 0,
            prober_id: "p".into(),
            started_at_ms: 1_000,
            status: CheckStatus::Up,
            error: None,
            message: None,
            timings: Timings::default(),
            ip: None,
            http_status: None,
            body_bytes: None,
            cert_expires_at_ms: None,
            cert_issuer: None,
            assertions: Vec::new(),
        }
    }

    #[test]
    fn a_result_matches_only_its_own_subject() {
        let (m, other, team) = (MonitorId::new(), MonitorId::new(), TeamId::new());
        let r = result(m, team, "eu-west");
        let eu = region("eu-west");
        assert_eq!(r.matches_subject(&subject::check_result(m, &eu, 16), 16), Ok(()));
        assert_eq!(r.matches_subject(&subject::check_result(m, &region("us-east"), 16), 16), Err(Forgery::Region));
        assert_eq!(r.matches_subject(&subject::check_result(other, &eu, 16), 16), Err(Forgery::Monitor));
        let wrong = (partition_of(m, 16) + 1) % 16;
        assert_eq!(r.matches_subject(&format!("checks.result.{wrong}.eu-west.{m}"), 16), Err(Forgery::Partition));
        for bad in [
            format!("{}.x", subject::check_result(m, &eu, 16)),
            "checks.due.eu-west".to_owned(),
            format!("x.{}", subject::check_result(m, &eu, 16)),
            String::new(),
        ] {
            assert_eq!(r.matches_subject(&bad, 16), Err(Forgery::Subject), "{bad}");
        }
        // The heartbeat janitor's results are results like any other.
        let beat = result(m, team, "heartbeat");
        assert_eq!(beat.matches_subject(&subject::check_result(m, &Region::heartbeat(), 16), 16), Ok(()));
    }

    #[test]
    fn a_result_matches_only_its_monitors_team_and_regions() {
        let (m, team) = (MonitorId::new(), TeamId::new());
        let r = result(m, team, "eu-west");
        let regions = [region("us-east"), region("eu-west")];
        assert_eq!(r.matches_monitor(team, &regions), Ok(()));
        assert_eq!(r.matches_monitor(TeamId::new(), &regions), Err(Forgery::Team));
        assert_eq!(r.matches_monitor(team, &regions[..1]), Err(Forgery::UnconfiguredRegion));
    }
}
