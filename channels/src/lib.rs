//! Notification channels: one module per kind, each behind [`Channel`].
//! Pure: no I/O. The notifier sends what [`Channel::render`] gives, and the
//! API validates and splits settings with the same code, without the
//! notifier's SMTP and HTTP clients.
//!
//! A channel's settings are one JSON object. Its secret fields (webhook
//! URLs, tokens, passwords; [`secret_fields`]) are stored encrypted, the
//! rest in `channels.config`; [`split`] and [`ChannelSettings::parse`] go
//! between the two. Rendering is pure ([`Channel::render`]) and gives an
//! [`Outgoing`] message that the notifier's `Sender` sends.

pub mod discord;
pub mod email;
pub mod notification;
pub mod ntfy;
pub mod pagerduty;
pub mod slack;
pub mod subscribers;
pub mod teams;
pub mod telegram;
pub mod webhook;

use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub use statushawk_schemas::FieldError;

use crate::notification::Notification;

/// The kinds of channel (Postgres enum `channel_kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// E-mail over SMTP.
    Email,
    /// Generic signed JSON webhook.
    Webhook,
    /// Slack incoming webhook.
    Slack,
    /// Discord webhook.
    Discord,
    /// Microsoft Teams incoming webhook (Workflows).
    Teams,
    /// Telegram bot.
    Telegram,
    /// PagerDuty Events API v2.
    Pagerduty,
    /// ntfy topic.
    Ntfy,
}

impl ChannelKind {
    /// Every kind.
    pub const ALL: [ChannelKind; 8] = [
        Self::Email,
        Self::Webhook,
        Self::Slack,
        Self::Discord,
        Self::Teams,
        Self::Telegram,
        Self::Pagerduty,
        Self::Ntfy,
    ];

    /// Whether the provider can say if a destination exists without a
    /// message being posted (Discord and Slack webhooks): `verify` on save.
    pub fn verifiable(self) -> bool {
        matches!(self, Self::Discord | Self::Slack)
    }

    /// The name in Postgres and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Teams => "teams",
            Self::Telegram => "telegram",
            Self::Pagerduty => "pagerduty",
            Self::Ntfy => "ntfy",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChannelKind {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| FieldError::new("kind", format!("unknown channel kind {s:?}")))
    }
}

/// A notification kind's delivery: its settings checked, and its message.
pub trait Channel {
    /// Checks the settings beyond their shape (URL schemes, ranges); the
    /// error names the field.
    fn validate(&self) -> Result<(), FieldError>;

    /// The message for `notification`, or `None` when this kind does not
    /// take such notifications (PagerDuty has no reminders).
    fn render(&self, notification: &Notification) -> Option<Outgoing>;
}

/// What to send.
#[derive(Debug)]
pub enum Outgoing {
    /// An HTTP request.
    Http(HttpRequest),
    /// An e-mail.
    Email(Box<email::EmailMessage>),
}

/// An HTTP `POST`.
#[derive(Debug)]
pub struct HttpRequest {
    /// `POST` for every notification; `GET` for some verifications.
    pub method: http::Method,
    /// Where to (may hold a secret: never logged).
    pub url: SecretString,
    /// `Content-Type` of the body.
    pub content_type: &'static str,
    /// Further headers (may hold secrets: never logged).
    pub headers: Vec<(String, SecretString)>,
    /// The body.
    pub body: Vec<u8>,
    /// Sign the body with this key when sending (generic webhook).
    pub signing_key: Option<SecretString>,
}

impl HttpRequest {
    /// A JSON `POST` of `body` to `url`.
    pub fn json(url: &SecretString, body: &Value) -> Self {
        Self {
            method: http::Method::POST,
            url: url.clone(),
            content_type: "application/json",
            headers: Vec::new(),
            body: serde_json::to_vec(body).unwrap_or_default(),
            signing_key: None,
        }
    }
}

/// A channel's settings, parsed and checked.
#[derive(Debug)]
pub enum ChannelSettings {
    /// E-mail.
    Email(email::Email),
    /// Generic webhook.
    Webhook(webhook::Webhook),
    /// Slack.
    Slack(slack::Slack),
    /// Discord.
    Discord(discord::Discord),
    /// Microsoft Teams.
    Teams(teams::Teams),
    /// Telegram.
    Telegram(telegram::Telegram),
    /// PagerDuty.
    Pagerduty(pagerduty::PagerDuty),
    /// ntfy.
    Ntfy(ntfy::Ntfy),
}

impl ChannelSettings {
    /// Parses and validates the settings of a `kind` channel from its
    /// public `config` and its decrypted `secret` (both JSON objects).
    pub fn parse(kind: ChannelKind, config: &Value, secret: Option<&Value>) -> Result<Self, FieldError> {
        let mut merged = object(config, "config")?.clone();
        if let Some(secret) = secret {
            for (key, value) in object(secret, "secret")? {
                merged.insert(key.clone(), value.clone());
            }
        }
        let merged = Value::Object(merged);
        let settings = match kind {
            ChannelKind::Email => Self::Email(from_json(merged)?),
            ChannelKind::Webhook => Self::Webhook(from_json(merged)?),
            ChannelKind::Slack => Self::Slack(from_json(merged)?),
            ChannelKind::Discord => Self::Discord(from_json(merged)?),
            ChannelKind::Teams => Self::Teams(from_json(merged)?),
            ChannelKind::Telegram => Self::Telegram(from_json(merged)?),
            ChannelKind::Pagerduty => Self::Pagerduty(from_json(merged)?),
            ChannelKind::Ntfy => Self::Ntfy(from_json(merged)?),
        };
        settings.channel().validate()?;
        Ok(settings)
    }

    /// Its kind.
    pub fn kind(&self) -> ChannelKind {
        match self {
            Self::Email(_) => ChannelKind::Email,
            Self::Webhook(_) => ChannelKind::Webhook,
            Self::Slack(_) => ChannelKind::Slack,
            Self::Discord(_) => ChannelKind::Discord,
            Self::Teams(_) => ChannelKind::Teams,
            Self::Telegram(_) => ChannelKind::Telegram,
            Self::Pagerduty(_) => ChannelKind::Pagerduty,
            Self::Ntfy(_) => ChannelKind::Ntfy,
        }
    }

    /// The channel behind the trait.
    pub fn channel(&self) -> &dyn Channel {
        match self {
            Self::Email(c) => c,
            Self::Webhook(c) => c,
            Self::Slack(c) => c,
            Self::Discord(c) => c,
            Self::Teams(c) => c,
            Self::Telegram(c) => c,
            Self::Pagerduty(c) => c,
            Self::Ntfy(c) => c,
        }
    }
}

/// The fields of a `kind` channel's settings that are secret: stored
/// encrypted, never returned by the API, never logged.
pub fn secret_fields(kind: ChannelKind) -> &'static [&'static str] {
    match kind {
        ChannelKind::Email => &["password"],
        ChannelKind::Webhook => &["url", "signing_secret", "headers"],
        ChannelKind::Slack | ChannelKind::Discord | ChannelKind::Teams => &["webhook_url"],
        ChannelKind::Telegram => &["bot_token"],
        ChannelKind::Pagerduty => &["routing_key"],
        ChannelKind::Ntfy => &["topic_url", "access_token"],
    }
}

/// The settings of a `kind` channel that decide where its messages, and so
/// its secrets, go: the server or URL (and, for e-mail, the user the
/// password belongs to). Some are secret fields themselves (a webhook's
/// `url`). A stored secret is reused only while all of them stay the same
/// ([`keep_secrets`]): otherwise a new `api_url`, `events_url`,
/// `smtp_host` or `url` would carry the old bot token, routing key,
/// password, signing secret or headers to whoever runs it.
pub fn destination_fields(kind: ChannelKind) -> &'static [&'static str] {
    match kind {
        ChannelKind::Email => &["smtp_host", "smtp_port", "security", "username"],
        ChannelKind::Webhook => &["url"],
        ChannelKind::Slack | ChannelKind::Discord | ChannelKind::Teams => &["webhook_url"],
        ChannelKind::Telegram => &["api_url"],
        ChannelKind::Pagerduty => &["events_url"],
        ChannelKind::Ntfy => &["topic_url"],
    }
}

/// The destination of whole settings (public and secret fields in one
/// object), normalised as the channel reads it: defaults applied, URLs
/// parsed, host names in lower case. Equal destinations send to the same
/// place.
pub fn destination(kind: ChannelKind, settings: &Map<String, Value>) -> Vec<Value> {
    let text = |field: &str| settings.get(field).and_then(Value::as_str).map(str::trim);
    let url = |field: &str, default: Option<&str>| match text(field).or(default) {
        Some(raw) => Value::String(url::Url::parse(raw).map_or_else(|_| raw.to_owned(), |u| u.to_string())),
        None => settings.get(field).cloned().unwrap_or(Value::Null),
    };
    match kind {
        ChannelKind::Email => {
            let security = match settings.get("security") {
                None | Some(Value::Null) => Value::String("starttls".to_owned()),
                Some(other) => other.clone(),
            };
            let port = match settings.get("smtp_port") {
                None | Some(Value::Null) => match security.as_str() {
                    Some("starttls") => Value::from(587),
                    Some("tls") => Value::from(465),
                    Some("none") => Value::from(25),
                    _ => Value::Null,
                },
                Some(other) => other.clone(),
            };
            let host = match text("smtp_host") {
                Some(host) => Value::String(host.trim_end_matches('.').to_ascii_lowercase()),
                None => settings.get("smtp_host").cloned().unwrap_or(Value::Null),
            };
            vec![host, port, security, settings.get("username").cloned().unwrap_or(Value::Null)]
        }
        ChannelKind::Webhook => vec![url("url", None)],
        ChannelKind::Slack | ChannelKind::Discord | ChannelKind::Teams => vec![url("webhook_url", None)],
        ChannelKind::Telegram => {
            // The channel appends `/bot<token>/...` to it without its trailing slashes.
            let api = url("api_url", Some(telegram::DEFAULT_API_URL));
            vec![api.as_str().map_or(api.clone(), |a| Value::String(a.trim_end_matches('/').to_owned()))]
        }
        ChannelKind::Pagerduty => vec![url("events_url", Some(pagerduty::DEFAULT_EVENTS_URL))],
        ChannelKind::Ntfy => vec![url("topic_url", None)],
    }
}

/// The secret to store on a `PUT`: the stored secret's fields fill those
/// left out, but only while the destination stays the same. When it
/// changes, every stored secret must come again (or be cleared on purpose,
/// e.g. `"headers": {}`, `"password": null`); the error names the first one
/// that did not. `stored_config`/`stored_secret` are what is stored,
/// `config`/`secret` the request's split settings.
pub fn keep_secrets(
    kind: ChannelKind,
    stored_config: &Value,
    stored_secret: Option<&Value>,
    config: &Value,
    secret: Option<Value>,
) -> Result<Option<Value>, FieldError> {
    let stored_secret = match stored_secret {
        Some(stored) => object(stored, "secret")?.clone(),
        None => Map::new(),
    };
    let given = match secret {
        Some(given) => object(&given, "settings")?.clone(),
        None => Map::new(),
    };
    let mut kept = stored_secret.clone();
    kept.extend(given.clone());
    let whole = |config: &Value, secret: &Map<String, Value>| -> Result<Map<String, Value>, FieldError> {
        let mut whole = object(config, "config")?.clone();
        whole.extend(secret.clone());
        Ok(whole)
    };
    let before = destination(kind, &whole(stored_config, &stored_secret)?);
    let after = destination(kind, &whole(config, &kept)?);
    if before != after {
        if let Some(missing) =
            secret_fields(kind).iter().find(|f| stored_secret.contains_key(**f) && !given.contains_key(**f))
        {
            return Err(FieldError::new(*missing, "the destination changed: send the secret again"));
        }
        kept = given;
    }
    Ok((!kept.is_empty()).then_some(Value::Object(kept)))
}

/// Splits a whole settings object into its public part and its secret part
/// (`None` when it has no secret field), for storage.
pub fn split(kind: ChannelKind, settings: &Value) -> Result<(Value, Option<Value>), FieldError> {
    let mut public = object(settings, "config")?.clone();
    let mut secret = Map::new();
    for field in secret_fields(kind) {
        if let Some(value) = public.remove(*field) {
            secret.insert((*field).to_owned(), value);
        }
    }
    Ok((Value::Object(public), (!secret.is_empty()).then_some(Value::Object(secret))))
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, FieldError> {
    value.as_object().ok_or_else(|| FieldError::new(what, "must be a JSON object"))
}

fn from_json<T: DeserializeOwned>(value: Value) -> Result<T, FieldError> {
    serde_json::from_value(value).map_err(|err| {
        // serde names the field in its message ("missing field `url`").
        let text = err.to_string();
        let field = text.split('`').nth(1).unwrap_or("config").to_owned();
        FieldError::new(field, text)
    })
}

/// Checks that `url` is an absolute `https://` (or `http://`) URL without
/// credentials, naming `field`. Where it may lead is the SSRF guard's
/// business, at send time.
pub fn check_url(field: &str, url: &SecretString) -> Result<url::Url, FieldError> {
    let parsed = url::Url::parse(url.expose_secret()).map_err(|e| FieldError::new(field, format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(FieldError::new(field, format!("scheme {} is not allowed; use https", parsed.scheme())));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(FieldError::new(field, "the URL has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(FieldError::new(field, "credentials in the URL are not allowed"));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keep(kind: ChannelKind, stored: Value, put: Value) -> Result<Option<Value>, FieldError> {
        let (stored_config, stored_secret) = split(kind, &stored).unwrap();
        let (config, secret) = split(kind, &put).unwrap();
        keep_secrets(kind, &stored_config, stored_secret.as_ref(), &config, secret)
    }

    #[test]
    fn a_new_destination_takes_no_stored_secret_along() {
        let ntfy = json!({"topic_url": "https://ntfy.example/alerts", "access_token": "tk_old"});
        assert_eq!(keep(ChannelKind::Ntfy, ntfy.clone(), json!({})), Ok(split(ChannelKind::Ntfy, &ntfy).unwrap().1));
        let moved = keep(ChannelKind::Ntfy, ntfy.clone(), json!({"topic_url": "https://evil.example/alerts"}));
        assert_eq!(moved.unwrap_err().field, "access_token");
        let cleared =
            keep(ChannelKind::Ntfy, ntfy, json!({"topic_url": "https://evil.example/a", "access_token": null}));
        assert_eq!(cleared, Ok(Some(json!({"topic_url": "https://evil.example/a", "access_token": null}))));

        let slack = json!({"webhook_url": "https://hooks.slack.com/services/OLD"});
        let moved = keep(ChannelKind::Slack, slack, json!({"webhook_url": "https://hooks.slack.com/services/NEW"}));
        assert_eq!(moved, Ok(Some(json!({"webhook_url": "https://hooks.slack.com/services/NEW"}))));
    }

    #[test]
    fn destinations_compare_as_the_channel_reads_them() {
        let same = |kind, a: Value, b: Value| {
            destination(kind, a.as_object().unwrap()) == destination(kind, b.as_object().unwrap())
        };
        assert!(same(ChannelKind::Telegram, json!({}), json!({"api_url": "https://api.telegram.org/"})));
        assert!(!same(ChannelKind::Telegram, json!({}), json!({"api_url": "https://api.telegram.org.evil.example"})));
        assert!(same(
            ChannelKind::Pagerduty,
            json!({}),
            json!({"events_url": "HTTPS://events.pagerduty.com:443/v2/enqueue"})
        ));
        assert!(!same(
            ChannelKind::Pagerduty,
            json!({}),
            json!({"events_url": "https://events.eu.pagerduty.com/v2/enqueue"})
        ));
        let email = json!({"smtp_host": "smtp.example.com", "username": "alerts"});
        assert!(same(
            ChannelKind::Email,
            email.clone(),
            json!({"smtp_host": " SMTP.Example.COM. ", "smtp_port": 587, "security": "starttls", "username": "alerts"})
        ));
        assert!(same(
            ChannelKind::Email,
            json!({"smtp_host": "smtp.example.com", "security": "tls"}),
            json!({"smtp_host": "smtp.example.com", "security": "tls", "smtp_port": 465})
        ));
        assert!(!same(
            ChannelKind::Email,
            email.clone(),
            json!({"smtp_host": "smtp.example.com", "smtp_port": 2525, "username": "alerts"})
        ));
        assert!(!same(
            ChannelKind::Email,
            email.clone(),
            json!({"smtp_host": "smtp.example.com", "security": "none", "username": "alerts"})
        ));
        assert!(!same(ChannelKind::Email, email, json!({"smtp_host": "smtp.example.com", "username": "root"})));
    }
}
