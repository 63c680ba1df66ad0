//! A message a service could never process, kept with why: on
//! `deadletter.<service>` (stream `DEAD_LETTERS`, 30 days), instead of being
//! retried for ever or dropped without a trace.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{UnixMs, subject};

/// A message set aside, with its error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeadLetter {
    /// Message format version.
    #[serde(default = "crate::schema_version")]
    pub schema_version: u16,
    /// The service that gave up on it: `evaluator`, `notifier`.
    pub service: String,
    /// The step that failed, e.g. `committing to Postgres`.
    pub step: String,
    /// Why, as a short label (also the metric's `reason`), e.g. `sqlstate_22021`.
    pub reason: String,
    /// The error in full.
    pub error: String,
    /// The subject the message came on (without the deployment prefix).
    pub subject: String,
    /// The message itself.
    pub payload: serde_json::Value,
    /// When it was set aside (Unix ms).
    pub at_ms: UnixMs,
}

impl DeadLetter {
    /// Its subject: `deadletter.<service>`.
    pub fn subject(&self) -> String {
        subject::dead_letter(&self.service)
    }

    /// Its `Nats-Msg-Id`, from the original message's id: a message set
    /// aside twice (a redelivery) is kept once.
    pub fn msg_id(&self, original_msg_id: &str) -> String {
        format!("deadletter:{}:{original_msg_id}", self.service)
    }
}
