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
}

impl WebhookEventType {
    /// The text of the `X-StatusHawk-Event` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IncidentOpened => "incident.opened",
            Self::IncidentUpdated => "incident.updated",
            Self::IncidentResolved => "incident.resolved",
            Self::IncidentReminder => "incident.reminder",
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
