//! Derived events: status changes and incidents, on the `EVENTS` stream.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{CheckStatus, ErrorKind, IncidentId, MonitorId, Region, TeamId, UnixMs, msg_id};

/// Overall state of a monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MonitorStatus {
    /// No confirmed failure.
    Up,
    /// Answering, but outside a soft limit.
    Degraded,
    /// A confirmed incident is open.
    Down,
}

/// State of one region of a monitor in the confirmation state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegionState {
    /// Passing.
    Up,
    /// Failed, waiting for confirmation re-checks.
    Suspect,
    /// Confirmed failing.
    Down,
}

/// What one region saw: the evidence behind a status change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RegionEvidence {
    /// The region.
    pub region: Region,
    /// Its state after the change.
    pub state: RegionState,
    /// Status of its latest result.
    pub last_status: CheckStatus,
    /// Error kind of its latest result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorKind>,
    /// Message of its latest result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When its latest result started (Unix ms).
    pub at_ms: UnixMs,
}

/// A monitor's overall status changed, on `events.status.<monitor_id>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatusEvent {
    /// Message format version ([`crate::SCHEMA_VERSION`]).
    #[serde(default = "crate::schema_version")]
    pub schema_version: u16,
    /// The monitor.
    pub monitor_id: MonitorId,
    /// Its team.
    pub team_id: TeamId,
    /// Per-monitor sequence number of status changes, starting at 1.
    pub seq: u64,
    /// When the change happened (Unix ms).
    pub at_ms: UnixMs,
    /// New status.
    pub status: MonitorStatus,
    /// Status before the change.
    pub previous: MonitorStatus,
    /// The incident this change opened or resolved, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<IncidentId>,
    /// Every region of the monitor with its latest evidence.
    pub regions: Vec<RegionEvidence>,
}

impl StatusEvent {
    /// The deterministic `Nats-Msg-Id` of this message.
    pub fn msg_id(&self) -> String {
        msg_id::event(self.monitor_id, "status", self.incident_id, self.seq)
    }
}

/// What happened to an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentEventKind {
    /// Quorum of regions confirmed down: the incident starts.
    Opened,
    /// Still open; the affected regions or the cause changed, or a person
    /// posted an update.
    Updated,
    /// Fewer than quorum regions are down: the incident ends.
    Resolved,
}

impl IncidentEventKind {
    /// The subject token and message-id part of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Updated => "updated",
            Self::Resolved => "resolved",
        }
    }
}

/// An incident opened, changed or resolved, on
/// `events.incident.<opened|updated|resolved>.<monitor_id>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IncidentEvent {
    /// Message format version ([`crate::SCHEMA_VERSION`]).
    #[serde(default = "crate::schema_version")]
    pub schema_version: u16,
    /// What happened.
    pub kind: IncidentEventKind,
    /// The incident.
    pub incident_id: IncidentId,
    /// Its monitor.
    pub monitor_id: MonitorId,
    /// The monitor's name when the event was made.
    pub monitor_name: String,
    /// Its team.
    pub team_id: TeamId,
    /// Sequence number of events of this incident, starting at 1 (opened).
    pub seq: u64,
    /// When this event happened (Unix ms).
    pub at_ms: UnixMs,
    /// When the incident started (Unix ms).
    pub started_at_ms: UnixMs,
    /// When it was resolved (Unix ms); set on `resolved`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at_ms: Option<UnixMs>,
    /// Cause, from the confirming results.
    pub cause: String,
    /// Regions confirmed down.
    pub affected_regions: Vec<Region>,
    /// Every region of the monitor with its latest evidence.
    pub regions: Vec<RegionEvidence>,
    /// Text of a manual update, for `updated` events posted by a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl IncidentEvent {
    /// The deterministic `Nats-Msg-Id` of this message.
    pub fn msg_id(&self) -> String {
        msg_id::event(self.monitor_id, self.kind.as_str(), Some(self.incident_id), self.seq)
    }
}
