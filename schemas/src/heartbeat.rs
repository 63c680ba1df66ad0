//! Pings from jobs that report to us (heartbeat / cron monitors).

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{MonitorId, TeamId, UnixMs, msg_id};

/// What a ping says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PingKind {
    /// The job ran and succeeded (`/ping/<token>`, or exit code 0).
    Success,
    /// The job started; the next success records its duration.
    Start,
    /// The job failed (`/ping/<token>/fail`, or exit code 1–255).
    Fail,
}

impl PingKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Success, Self::Start, Self::Fail];

    /// The name on the wire (`success`, `start`, `fail`), for labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Start => "start",
            Self::Fail => "fail",
        }
    }
}

/// One ping received by the API, on `heartbeats.<partition>.<monitor_id>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HeartbeatPing {
    /// Message format version ([`crate::SCHEMA_VERSION`]).
    #[serde(default = "crate::schema_version")]
    pub schema_version: u16,
    /// Unique id of this ping (assigned on receipt; de-duplicates a re-send).
    pub ping_id: Uuid,
    /// The heartbeat monitor.
    pub monitor_id: MonitorId,
    /// Its team.
    pub team_id: TeamId,
    /// When the API received it (Unix ms).
    pub received_at_ms: UnixMs,
    /// What the ping says.
    pub kind: PingKind,
    /// Exit code, when the job reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
    /// Run id pairing the start and finish of one run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Address the ping came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<IpAddr>,
    /// The first bytes (at most 10 KiB) of a POST body, e.g. a log tail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl HeartbeatPing {
    /// The deterministic `Nats-Msg-Id` of this message.
    pub fn msg_id(&self) -> String {
        msg_id::heartbeat(self.monitor_id, self.ping_id)
    }
}
