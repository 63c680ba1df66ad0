//! Telegram: the Bot API's `sendMessage` with HTML formatting.
//! <https://core.telegram.org/bots/api#sendmessage>.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::{Channel, FieldError, HttpRequest, Outgoing, check_url};
use crate::notification::{Notification, cut, escape_html};

/// Telegram settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telegram {
    /// The bot's token from BotFather (secret).
    pub bot_token: SecretString,
    /// The chat: a numeric id, or `@channelname`.
    pub chat_id: String,
    /// The Bot API's address (a local Bot API server, or tests).
    #[serde(default = "default_api_url")]
    pub api_url: String,
}

/// The Bot API's address unless `api_url` says otherwise.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

fn default_api_url() -> String {
    DEFAULT_API_URL.to_owned()
}

/// Telegram's message length limit.
const TEXT_MAX: usize = 4096;

impl Telegram {
    fn url(&self) -> SecretString {
        SecretString::from(format!(
            "{}/bot{}/sendMessage",
            self.api_url.trim_end_matches('/'),
            self.bot_token.expose_secret()
        ))
    }
}

impl Channel for Telegram {
    fn validate(&self) -> Result<(), FieldError> {
        let token = self.bot_token.expose_secret();
        if token.is_empty() || !token.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-')) {
            return Err(FieldError::new("bot_token", "expected a token like 123456:ABC-DEF..."));
        }
        let chat = self.chat_id.trim();
        let numeric = chat.strip_prefix('-').unwrap_or(chat);
        let valid_chat = (!numeric.is_empty() && numeric.chars().all(|c| c.is_ascii_digit()))
            || (chat.len() > 1 && chat.starts_with('@'));
        if !valid_chat {
            return Err(FieldError::new("chat_id", "a numeric chat id or @channelname"));
        }
        check_url("api_url", &SecretString::from(self.api_url.clone())).map(drop)
    }

    fn render(&self, n: &Notification) -> Option<Outgoing> {
        let mut text = format!("<b>{}</b>\n{}\n", escape_html(&n.title()), escape_html(&n.summary()));
        for (label, value) in n.facts() {
            text.push_str(&format!("\n<b>{label}:</b> {}", escape_html(&value)));
        }
        let body = json!({
            "chat_id": self.chat_id.trim(),
            "text": cut(&text, TEXT_MAX),
            "parse_mode": "HTML",
            "disable_web_page_preview": true,
        });
        Some(Outgoing::Http(HttpRequest::json(&self.url(), &body)))
    }
}
