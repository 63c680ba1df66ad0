//! Slack: an incoming webhook with Block Kit blocks and a `text` fallback.
//! <https://api.slack.com/messaging/webhooks>,
//! <https://api.slack.com/reference/block-kit/blocks>.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::{Channel, FieldError, HttpRequest, Outgoing, check_url};
use crate::notification::{Notification, Tone, cut};

/// Slack settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slack {
    /// `https://hooks.slack.com/services/...` (secret).
    pub webhook_url: SecretString,
}

/// Slack's limits: header text, section text, field text.
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;
const FIELD_MAX: usize = 2000;

/// Slack's mrkdwn needs `&`, `<` and `>` escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

impl Channel for Slack {
    fn validate(&self) -> Result<(), FieldError> {
        check_url("webhook_url", &self.webhook_url).map(drop)
    }

    fn render(&self, n: &Notification) -> Option<Outgoing> {
        let emoji = match n.tone() {
            Tone::Down => ":red_circle:",
            Tone::Changed => ":large_orange_circle:",
            Tone::Resolved => ":large_green_circle:",
        };
        let title = cut(&format!("{emoji} {}", n.title()), HEADER_MAX);
        let fields: Vec<_> = n
            .facts()
            .into_iter()
            .take(10)
            .map(|(label, value)| json!({"type": "mrkdwn", "text": cut(&format!("*{label}*\n{}", escape(&value)), FIELD_MAX)}))
            .collect();
        let body = json!({
            "text": cut(&format!("{} — {}", n.title(), n.summary()), SECTION_MAX),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": true}},
                {"type": "section", "text": {"type": "mrkdwn", "text": cut(&escape(&n.summary()), SECTION_MAX)}},
                {"type": "section", "fields": fields},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "Sent by StatusHawk"}]},
            ],
        });
        Some(Outgoing::Http(HttpRequest::json(&self.webhook_url, &body)))
    }
}
