//! Configuration changes, on the `CONFIG` stream, so that services refresh
//! their caches without polling Postgres (a periodic reconcile heals misses).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    ChannelId, CheckSpec, DnsSpec, HttpSpec, IcmpSpec, MonitorId, Region, TcpSpec, TeamId, TlsSpec, UnixMs, msg_id,
};

/// What a monitor watches, tagged by `kind`: a probed check, or a heartbeat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MonitorSpec {
    /// HTTP(S) request.
    Http(HttpSpec),
    /// TCP connect.
    Tcp(TcpSpec),
    /// ICMP echo.
    Icmp(IcmpSpec),
    /// DNS query.
    Dns(DnsSpec),
    /// TLS certificate.
    Tls(TlsSpec),
    /// Pings from the job itself; silence is the failure.
    Heartbeat(HeartbeatSchedule),
}

impl MonitorSpec {
    /// The probe to run, or `None` for a heartbeat monitor.
    pub fn check(&self) -> Option<CheckSpec> {
        match self {
            Self::Http(spec) => Some(CheckSpec::Http(spec.clone())),
            Self::Tcp(spec) => Some(CheckSpec::Tcp(spec.clone())),
            Self::Icmp(spec) => Some(CheckSpec::Icmp(spec.clone())),
            Self::Dns(spec) => Some(CheckSpec::Dns(spec.clone())),
            Self::Tls(spec) => Some(CheckSpec::Tls(spec.clone())),
            Self::Heartbeat(_) => None,
        }
    }
}

/// When a heartbeat monitor expects its pings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HeartbeatSchedule {
    /// A fixed period between pings (ms); exclusive with `cron`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_ms: Option<u64>,
    /// A cron expression for when the job runs; exclusive with `period_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// IANA time zone of `cron`, e.g. `Europe/Berlin` (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// How late a ping may be before it counts as missed (ms).
    pub grace_ms: u64,
}

/// Everything the scheduler and evaluator need to know of a monitor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MonitorConfig {
    /// The monitor.
    pub id: MonitorId,
    /// Its team.
    pub team_id: TeamId,
    /// Display name.
    pub name: String,
    /// Time between checks (ms), 10 s to 24 h.
    pub interval_ms: u32,
    /// Hard time limit of one check (ms), at most 60 s.
    pub timeout_ms: u32,
    /// Regions that check it.
    pub regions: Vec<Region>,
    /// Consecutive failures that confirm a region down.
    pub confirmations: u8,
    /// Consecutive successes that recover a region.
    pub recoveries: u8,
    /// Regions that must be down for an incident.
    pub quorum: u8,
    /// Paused monitors are not checked.
    pub paused: bool,
    /// `degraded` results count as failures: they are confirmed and open
    /// incidents like `down` ones (off by default).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub degraded_is_failure: bool,
    /// What it watches.
    pub spec: MonitorSpec,
    /// Last change (Unix ms); a cache keeps the newest it has seen.
    pub updated_at_ms: UnixMs,
}

/// The change itself, tagged by `op`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ConfigOp {
    /// A monitor was created or changed (paused and resumed included).
    MonitorUpserted {
        /// Its whole new configuration.
        monitor: Box<MonitorConfig>,
    },
    /// A monitor was deleted.
    MonitorDeleted {
        /// The monitor.
        monitor_id: MonitorId,
        /// Its team.
        team_id: TeamId,
    },
    /// A channel was created or changed; secrets never travel here, so
    /// readers reload it from Postgres.
    ChannelChanged {
        /// The channel.
        channel_id: ChannelId,
        /// Its team.
        team_id: TeamId,
    },
    /// A channel was deleted.
    ChannelDeleted {
        /// The channel.
        channel_id: ChannelId,
        /// Its team.
        team_id: TeamId,
    },
}

/// A configuration change, on `config.monitors.<id>` or `config.channels.<id>`.
/// The stream keeps the last message per subject, so a new reader can load
/// the current state of everything from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigChange {
    /// Message format version ([`crate::SCHEMA_VERSION`]).
    #[serde(default = "crate::schema_version")]
    pub schema_version: u16,
    /// When the change was committed to Postgres (Unix ms).
    pub at_ms: UnixMs,
    /// The change.
    #[serde(flatten)]
    pub op: ConfigOp,
}

impl ConfigChange {
    /// The subject this change is published on (without any prefix).
    pub fn subject(&self) -> String {
        match &self.op {
            ConfigOp::MonitorUpserted { monitor } => crate::subject::config_monitor(monitor.id),
            ConfigOp::MonitorDeleted { monitor_id, .. } => crate::subject::config_monitor(*monitor_id),
            ConfigOp::ChannelChanged { channel_id, .. } | ConfigOp::ChannelDeleted { channel_id, .. } => {
                crate::subject::config_channel(*channel_id)
            }
        }
    }

    /// The deterministic `Nats-Msg-Id` of this message.
    pub fn msg_id(&self) -> String {
        msg_id::config(&self.subject(), self.at_ms)
    }
}
