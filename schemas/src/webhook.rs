//! The body of StatusHawk's generic webhook notifications.
//!
//! Sent as `POST` with `Content-Type: application/json` and these headers:
//! - `X-StatusHawk-Event`: the [`WebhookEventType`], e.g. `incident.opened`;
//! - `X-StatusHawk-Event-Id`: [`WebhookPayload::event_id`], the same on
//!   every retry of one notification, so a receiver can drop repeats;
//! - `X-StatusHawk-Timestamp`: Unix seconds when this try was sent;
//! - `X-StatusHawk-Signature`: `v1=` and the lower-case hex HMAC-SHA256,
//!   keyed with the channel's signing secret, of `<timestamp>.<body>` (the
//!   timestamp header's text, a dot, the raw body bytes).
//!
//! A receiver recomputes the HMAC over the raw body, compares it in constant
//! time, and rejects a timestamp more than a few minutes from its clock, so
//! a captured request cannot be replayed later.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::IncidentEvent;

/// What a webhook notification is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum WebhookEventType {
    /// An incident was confirmed.
    #[serde(rename = "incident.opened")]
    IncidentOpened,
    /// An open incident changed (regions, cause, or a posted update).
    #[serde(rename = "incident.updated")]
    IncidentUpdated,
    /// An incident ended.
    #[serde(rename = "incident.resolved")]
    IncidentResolved,
    /// An incident is still open (the channel asked for reminders).
    #[serde(rename = "incident.reminder")]
    IncidentReminder,
    /// A person acknowledged an incident.
    #[serde(rename = "incident.acknowledged")]
    IncidentAcknowledged,
}

impl WebhookEventType {
    /// The text of the `X-StatusHawk-Event` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IncidentOpened => "incident.opened",
            Self::IncidentUpdated => "incident.updated",
            Self::IncidentResolved => "incident.resolved",
            Self::IncidentReminder => "incident.reminder",
            Self::IncidentAcknowledged => "incident.acknowledged",
        }
    }
}

/// The JSON body of a webhook notification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookPayload {
    /// Message format version ([`crate::SCHEMA_VERSION`]).
    #[serde(default = "crate::schema_version")]
    pub schema_version: u16,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: WebhookEventType,
    /// Id of this notification, equal on every retry.
    pub event_id: String,
    /// The incident, as on the `EVENTS` stream.
    pub incident: IncidentEvent,
}

/// What a status page subscriber is told of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum NoticeType {
    /// An incident of a monitor on the page started.
    #[serde(rename = "incident.opened")]
    IncidentOpened,
    /// A person posted an update on it.
    #[serde(rename = "incident.updated")]
    IncidentUpdated,
    /// It ended.
    #[serde(rename = "incident.resolved")]
    IncidentResolved,
    /// Maintenance of monitors on the page was scheduled.
    #[serde(rename = "maintenance.scheduled")]
    MaintenanceScheduled,
    /// Scheduled maintenance began.
    #[serde(rename = "maintenance.started")]
    MaintenanceStarted,
}

impl NoticeType {
    /// Its name, as in JSON and the `X-StatusHawk-Event` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IncidentOpened => "incident.opened",
            Self::IncidentUpdated => "incident.updated",
            Self::IncidentResolved => "incident.resolved",
            Self::MaintenanceScheduled => "maintenance.scheduled",
            Self::MaintenanceStarted => "maintenance.started",
        }
    }
}

/// The status page a notice is from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NoticePage {
    /// Its slug (`/status/<slug>`).
    pub slug: String,
    /// Its title.
    pub title: String,
    /// Its address.
    pub url: String,
}

/// An incident as the public sees it: the monitor by its name on the
/// page, no causes or probe errors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NoticeIncident {
    /// The incident.
    pub id: crate::IncidentId,
    /// The monitor, by its name on the page.
    pub monitor: String,
    /// When it started (Unix ms).
    pub started_at_ms: crate::UnixMs,
    /// When it ended (Unix ms), once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at_ms: Option<crate::UnixMs>,
    /// The status a person gave, with their update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<crate::IncidentStatus>,
    /// What the person wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Scheduled maintenance as the public sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NoticeMaintenance {
    /// The window.
    pub id: uuid::Uuid,
    /// Its title.
    pub title: String,
    /// When it starts (Unix ms; a weekly window's next occurrence).
    pub starts_at_ms: crate::UnixMs,
    /// When it ends (Unix ms).
    pub ends_at_ms: crate::UnixMs,
    /// Whether it comes back every week.
    pub weekly: bool,
    /// The monitors it covers, by their names on the page.
    pub monitors: Vec<String>,
}

/// What a status page subscriber's webhook receives (signed as channel
/// webhooks are, with the subscription's signing secret), and what an
/// e-mail subscriber's message is written from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PageNotice {
    /// Message format version ([`crate::SCHEMA_VERSION`]).
    #[serde(default = "crate::schema_version")]
    pub schema_version: u16,
    /// What happened.
    #[serde(rename = "type")]
    pub notice_type: NoticeType,
    /// Id of this notice, equal on every retry.
    pub event_id: String,
    /// The page.
    pub page: NoticePage,
    /// The incident, for `incident.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<NoticeIncident>,
    /// The maintenance, for `maintenance.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<NoticeMaintenance>,
    /// `POST` here (no body needed) to end the subscription.
    pub unsubscribe_url: String,
}
