//! Asking a provider whether a channel's destination exists, before the
//! channel is saved: a user who pastes a deleted Discord or Slack webhook
//! hears it then, not when the first incident goes nowhere.
//!
//! Only providers that can say are asked, without posting a message:
//! - Discord answers `GET` on a webhook URL with the webhook (200), or
//!   401 / 404 (`Unknown Webhook`) when it is gone.
//!   <https://discord.com/developers/docs/resources/webhook#get-webhook-with-token>
//! - Slack answers a `POST` with no text on a live webhook with 400
//!   `invalid_payload` / `no_text` (and posts nothing); a deleted one with
//!   403 `invalid_token`, 404 `no_service` / `channel_not_found` or 410
//!   `channel_is_archived`. <https://api.slack.com/messaging/webhooks#handling_errors>

use secrecy::SecretString;

use crate::send::{Answer, Sender};
use statushawk_channels::{ChannelSettings, HttpRequest};

/// Why a channel was not verified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unverified {
    /// The provider says the destination does not exist.
    #[error("{provider} says this webhook does not exist ({answer}); paste a current one")]
    Gone {
        /// The setting that names it.
        field: &'static str,
        /// `Discord`.
        provider: &'static str,
        /// What it answered, in its own words.
        answer: String,
    },
    /// The provider could not be asked, or answered something else.
    #[error("{provider} could not be asked whether this webhook exists: {reason}; try again, or save without verify")]
    Unknown {
        /// The setting that names it.
        field: &'static str,
        /// `Discord`.
        provider: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// This kind's provider cannot say.
    #[error("{0} channels cannot be verified; send a test instead")]
    NotSupported(&'static str),
}

impl Unverified {
    /// The setting the error is about, `None` when it is the request's
    /// `verify` itself.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Gone { field, .. } | Self::Unknown { field, .. } => Some(field),
            Self::NotSupported(_) => None,
        }
    }
}

/// What the provider's answer says about the webhook.
#[derive(Debug, PartialEq, Eq)]
enum Existence {
    Exists,
    Gone,
    Unclear,
}

/// Asks `channel`'s provider whether its webhook exists (through `sender`:
/// the guard and the deadline apply).
pub async fn verify(sender: &Sender, channel: &ChannelSettings) -> Result<(), Unverified> {
    let (provider, request, judge): (_, _, fn(&Answer) -> Existence) = match channel {
        ChannelSettings::Discord(discord) => ("Discord", get(&discord.webhook_url), discord_says),
        ChannelSettings::Slack(slack) => {
            ("Slack", HttpRequest::json(&slack.webhook_url, &serde_json::json!({})), slack_says)
        }
        other => return Err(Unverified::NotSupported(other.kind().as_str())),
    };
    let field = "webhook_url";
    let answer = sender.answer(&request).await.map_err(|attempt| Unverified::Unknown {
        field,
        provider,
        reason: attempt.error.unwrap_or_else(|| "no answer".to_owned()),
    })?;
    match judge(&answer) {
        Existence::Exists => Ok(()),
        Existence::Gone => Err(Unverified::Gone { field, provider, answer: answer.describe() }),
        Existence::Unclear => Err(Unverified::Unknown { field, provider, reason: answer.describe() }),
    }
}

fn get(url: &SecretString) -> HttpRequest {
    HttpRequest { method: reqwest::Method::GET, body: Vec::new(), ..HttpRequest::json(url, &serde_json::Value::Null) }
}

fn discord_says(answer: &Answer) -> Existence {
    match answer.status {
        200..=299 => Existence::Exists,
        401 | 404 => Existence::Gone,
        _ => Existence::Unclear,
    }
}

fn slack_says(answer: &Answer) -> Existence {
    let said = |words: &[&str]| words.iter().any(|word| answer.text.contains(word));
    match answer.status {
        // Nothing is posted for an empty payload; a 2xx would still mean
        // the webhook is there.
        200..=299 => Existence::Exists,
        400 if said(&["invalid_payload", "no_text", "missing_text"]) => Existence::Exists,
        403 | 404 | 410 => Existence::Gone,
        _ => Existence::Unclear,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, text: &str) -> Answer {
        Answer { status, reason: None, text: text.to_owned(), retry_after: None }
    }

    #[test]
    fn discord_and_slack_answers_read_as_their_documentation_says() {
        assert_eq!(discord_says(&answer(200, "")), Existence::Exists);
        assert_eq!(discord_says(&answer(404, r#"{"message": "Unknown Webhook", "code": 10015}"#)), Existence::Gone);
        assert_eq!(discord_says(&answer(401, r#"{"message": "Invalid Webhook Token"}"#)), Existence::Gone);
        assert_eq!(discord_says(&answer(429, "")), Existence::Unclear);
        assert_eq!(slack_says(&answer(400, "invalid_payload")), Existence::Exists);
        assert_eq!(slack_says(&answer(400, "no_text")), Existence::Exists);
        assert_eq!(slack_says(&answer(400, "something_else")), Existence::Unclear);
        assert_eq!(slack_says(&answer(404, "no_service")), Existence::Gone);
        assert_eq!(slack_says(&answer(403, "invalid_token")), Existence::Gone);
        assert_eq!(slack_says(&answer(410, "channel_is_archived")), Existence::Gone);
        assert_eq!(slack_says(&answer(503, "")), Existence::Unclear);
    }
}
