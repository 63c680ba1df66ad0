//! The API asking a notifier to try a channel (`requests.channels`, core
//! NATS request and reply, nothing stored): only notifiers connect to
//! tenants' endpoints, so the API's "send a test" and "verify" go through
//! one.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ChannelId, SealedSecrets, TeamId};

/// What to do with the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelRequestOp {
    /// Send one test notification, now, without retries or a log row.
    Test,
    /// Ask the provider whether the destination exists, posting nothing
    /// (Discord and Slack webhooks).
    Verify,
}

/// The channel to try.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum ChannelUnderTest {
    /// A saved channel, read by the notifier from Postgres (it must be the
    /// team's).
    Saved {
        /// The channel.
        channel_id: ChannelId,
        /// Its team.
        team_id: TeamId,
    },
    /// Settings not saved (yet, or not as given): validated by the API.
    Settings {
        /// The channel kind (`webhook`, `slack`, ...).
        kind: String,
        /// The public settings.
        config: serde_json::Value,
        /// The secret settings, sealed with the deployment's key
        /// (`SecretBox::seal_channel_request_secret`); secrets never cross
        /// NATS in the clear.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sealed_secret: Option<SealedSecrets>,
    },
}

/// A request on `requests.channels`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChannelRequest {
    /// Message format version.
    #[serde(default = "crate::schema_version")]
    pub schema_version: u16,
    /// Test or verify.
    pub op: ChannelRequestOp,
    /// Which channel.
    pub channel: ChannelUnderTest,
}

/// The notifier's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChannelAnswer {
    /// Message format version.
    #[serde(default = "crate::schema_version")]
    pub schema_version: u16,
    /// Sent and taken (a test), or known to exist (a verify).
    pub delivered: bool,
    /// Why not, with the provider's own message where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The setting the error is about (`webhook_url`), when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The provider's HTTP status, for HTTP channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The request could not be handled at all (unknown channel, secret
    /// that does not open): nothing was sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refused: bool,
}

impl ChannelAnswer {
    /// Taken by the provider (or known to exist).
    pub fn delivered(http_status: Option<u16>) -> Self {
        Self {
            schema_version: crate::SCHEMA_VERSION,
            delivered: true,
            error: None,
            field: None,
            http_status,
            refused: false,
        }
    }

    /// Not delivered, and why.
    pub fn failed(error: String, field: Option<String>, http_status: Option<u16>) -> Self {
        Self { delivered: false, error: Some(error), field, http_status, ..Self::delivered(None) }
    }

    /// Not handled at all: nothing was sent.
    pub fn refused(error: impl Into<String>) -> Self {
        Self { refused: true, ..Self::failed(error.into(), None, None) }
    }
}
