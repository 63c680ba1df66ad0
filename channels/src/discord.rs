//! Discord: a webhook message with one embed, red when down, green when
//! resolved. <https://discord.com/developers/docs/resources/webhook#execute-webhook>,
//! limits at <https://discord.com/developers/docs/resources/message#embed-object-embed-limits>.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::{Channel, FieldError, HttpRequest, Outgoing, check_url};
use crate::notification::{Notification, Tone, cut, rfc3339};

/// Discord settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discord {
    /// `https://discord.com/api/webhooks/<id>/<token>` (secret).
    pub webhook_url: SecretString,
}

/// Red, orange and green embed colours.
pub const RED: u32 = 0xE7_4C_3C;
/// Orange: changed.
pub const ORANGE: u32 = 0xE6_7E_22;
/// Green: resolved.
pub const GREEN: u32 = 0x2E_CC_71;

/// Discord's message content limit; descriptions are kept to it too.
pub const TEXT_MAX: usize = 2000;
const TITLE_MAX: usize = 256;
const FIELD_VALUE_MAX: usize = 1024;

impl Channel for Discord {
    fn validate(&self) -> Result<(), FieldError> {
        check_url("webhook_url", &self.webhook_url).map(drop)
    }

    fn render(&self, n: &Notification) -> Option<Outgoing> {
        let color = match n.tone() {
            Tone::Down => RED,
            Tone::Changed => ORANGE,
            Tone::Resolved => GREEN,
        };
        let fields: Vec<_> = n
            .facts()
            .into_iter()
            .map(|(label, value)| {
                json!({"name": label, "value": cut(&value, FIELD_VALUE_MAX), "inline": label != "Cause"})
            })
            .collect();
        let body = json!({
            "username": "StatusHawk",
            "content": cut(&n.title(), TEXT_MAX),
            "allowed_mentions": {"parse": []},
            "embeds": [{
                "title": cut(&n.title(), TITLE_MAX),
                "description": cut(&n.summary(), TEXT_MAX),
                "color": color,
                "fields": fields,
                "timestamp": rfc3339(n.event.at_ms),
                "footer": {"text": "StatusHawk"},
            }],
        });
        Some(Outgoing::Http(HttpRequest::json(&self.webhook_url, &body)))
    }
}
