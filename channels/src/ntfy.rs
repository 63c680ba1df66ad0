//! ntfy: a message published as JSON to the topic's server, with a title,
//! priority and tags. <https://docs.ntfy.sh/publish/#publish-as-json>.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::{Channel, FieldError, HttpRequest, Outgoing, check_url};
use crate::notification::{Notification, Tone};

/// ntfy settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ntfy {
    /// `https://ntfy.sh/<topic>` (secret: the topic name is its password).
    pub topic_url: SecretString,
    /// Priority of down notifications, 1 (min) to 5 (max); default 4 (high).
    /// Resolved ones go at 3 (default).
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// Access token of a protected topic (secret).
    #[serde(default)]
    pub access_token: Option<SecretString>,
}

fn default_priority() -> u8 {
    4
}

impl Ntfy {
    /// The server's root URL and the topic.
    fn server_and_topic(&self) -> Result<(String, String), FieldError> {
        let url = check_url("topic_url", &self.topic_url)?;
        let topic = url.path_segments().and_then(|mut s| s.next_back()).unwrap_or_default().to_owned();
        if topic.is_empty() || !topic.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')) {
            return Err(FieldError::new("topic_url", "the URL must end in the topic name ([A-Za-z0-9_-])"));
        }
        let mut server = url.clone();
        server.path_segments_mut().map_err(|()| FieldError::new("topic_url", "not a topic URL"))?.pop();
        Ok((server.as_str().to_owned(), topic))
    }
}

impl Channel for Ntfy {
    fn validate(&self) -> Result<(), FieldError> {
        if !(1..=5).contains(&self.priority) {
            return Err(FieldError::new("priority", "between 1 and 5"));
        }
        self.server_and_topic().map(drop)
    }

    fn render(&self, n: &Notification) -> Option<Outgoing> {
        let (server, topic) = self.server_and_topic().ok()?;
        let (priority, tag) = match n.tone() {
            Tone::Down => (self.priority, "rotating_light"),
            Tone::Changed => (self.priority, "warning"),
            Tone::Resolved => (3, "white_check_mark"),
        };
        let body = json!({
            "topic": topic,
            "title": n.title(),
            "message": n.plain_text().trim_end(),
            "priority": priority,
            "tags": [tag],
        });
        let mut request = HttpRequest::json(&SecretString::from(server), &body);
        if let Some(token) = &self.access_token {
            request
                .headers
                .push(("Authorization".to_owned(), SecretString::from(format!("Bearer {}", token.expose_secret()))));
        }
        Some(Outgoing::Http(request))
    }
}
