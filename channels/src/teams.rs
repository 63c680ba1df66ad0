//! Microsoft Teams: an incoming webhook (Workflows) carrying an Adaptive
//! Card. <https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#send-adaptive-cards-using-an-incoming-webhook>.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::{Channel, FieldError, HttpRequest, Outgoing, check_url};
use crate::notification::{Notification, Tone};

/// Teams settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Teams {
    /// The workflow's or connector's webhook URL (secret).
    pub webhook_url: SecretString,
}

impl Channel for Teams {
    fn validate(&self) -> Result<(), FieldError> {
        check_url("webhook_url", &self.webhook_url).map(drop)
    }

    fn render(&self, n: &Notification) -> Option<Outgoing> {
        let color = match n.tone() {
            Tone::Down => "Attention",
            Tone::Changed => "Warning",
            Tone::Resolved => "Good",
        };
        let facts: Vec<_> =
            n.facts().into_iter().map(|(title, value)| json!({"title": title, "value": value})).collect();
        let body = json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": n.title(), "weight": "Bolder", "size": "Large", "color": color, "wrap": true},
                        {"type": "TextBlock", "text": n.summary(), "wrap": true},
                        {"type": "FactSet", "facts": facts},
                    ],
                },
            }],
        });
        Some(Outgoing::Http(HttpRequest::json(&self.webhook_url, &body)))
    }
}
