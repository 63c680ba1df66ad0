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
    /// A person acknowledged it: someone is on it, reminders stop.
    Acknowledged,
}

impl IncidentEventKind {
    /// Every kind.
    pub const ALL: [Self; 4] = [Self::Opened, Self::Updated, Self::Resolved, Self::Acknowledged];

    /// The subject token and message-id part of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Updated => "updated",
            Self::Resolved => "resolved",
            Self::Acknowledged => "acknowledged",
        }
    }
}

/// An incident opened, changed, acknowledged or resolved, on
/// `events.incident.<opened|updated|acknowledged|resolved>.<monitor_id>`.
///
/// The evaluator numbers its own events of an incident (`seq`: opened is 1,
/// each change or resolution one more). What people do (an update posted,
/// an acknowledgement) is published by the API and takes no number of that
/// sequence: it carries the evaluator's latest `seq` it follows and its
/// [`PersonUpdate`], whose timeline id makes the event's id.
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
    /// What a person did, for events the API publishes (an update posted,
    /// an acknowledgement); absent on the evaluator's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<PersonUpdate>,
}

impl IncidentEvent {
    /// The deterministic `Nats-Msg-Id` of this message: from the sequence
    /// for the evaluator's events, from the timeline entry for a person's.
    pub fn msg_id(&self) -> String {
        match &self.update {
            Some(update) => {
                msg_id::person_event(self.monitor_id, self.kind.as_str(), self.incident_id, update.update_id)
            }
            None => msg_id::event(self.monitor_id, self.kind.as_str(), Some(self.incident_id), self.seq),
        }
    }

    /// Whether channels and status-page subscribers are told of it: every
    /// event of the evaluator, and a person's unless posted for the status
    /// page only (`notify: false`).
    pub fn notifies(&self) -> bool {
        self.update.as_ref().is_none_or(|u| u.notify)
    }
}

/// Where an incident stands, as the people working on it say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// Looking into it.
    Investigating,
    /// The cause is known.
    Identified,
    /// A fix is out; watching.
    Monitoring,
    /// Over.
    Resolved,
}

impl IncidentStatus {
    /// Every status.
    pub const ALL: [Self; 4] = [Self::Investigating, Self::Identified, Self::Monitoring, Self::Resolved];

    /// Its name, as in JSON and in Postgres's `incident_status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Investigating => "investigating",
            Self::Identified => "identified",
            Self::Monitoring => "monitoring",
            Self::Resolved => "resolved",
        }
    }

    /// The status of that name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A person's entry in an incident's timeline, carried by the event the
/// API publishes for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PersonUpdate {
    /// The timeline entry (the event's id is made from it).
    pub update_id: uuid::Uuid,
    /// The status the person gave.
    pub status: IncidentStatus,
    /// Who: the person's e-mail address (absent once they are deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Whether channels and subscribers are told (`false`: shown on the
    /// status page only).
    pub notify: bool,
}
