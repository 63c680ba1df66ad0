//! PagerDuty: Events API v2; `trigger` when the incident opens or changes,
//! `acknowledge` when a person acknowledges it, `resolve` when it ends,
//! deduplicated by the incident id. Reminders are
//! not sent: PagerDuty escalates by itself.
//! <https://developer.pagerduty.com/docs/events-api-v2/trigger-events/>.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use statushawk_schemas::IncidentEventKind;

use super::{Channel, FieldError, HttpRequest, Outgoing, check_url};
use crate::notification::{Notification, cut, rfc3339};

/// PagerDuty settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDuty {
    /// The service integration's routing key (secret).
    pub routing_key: SecretString,
    /// `critical`, `error`, `warning` or `info` (default `critical`).
    #[serde(default = "default_severity")]
    pub severity: String,
    /// The Events API address (EU accounts: `https://events.eu.pagerduty.com/v2/enqueue`).
    #[serde(default = "default_events_url")]
    pub events_url: String,
}

fn default_severity() -> String {
    "critical".to_owned()
}

/// The Events API address unless `events_url` says otherwise.
pub const DEFAULT_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

fn default_events_url() -> String {
    DEFAULT_EVENTS_URL.to_owned()
}

/// PagerDuty's summary limit.
const SUMMARY_MAX: usize = 1024;

impl Channel for PagerDuty {
    fn validate(&self) -> Result<(), FieldError> {
        let key = self.routing_key.expose_secret();
        if key.len() != 32 || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(FieldError::new("routing_key", "expected the 32-character integration key"));
        }
        if !matches!(self.severity.as_str(), "critical" | "error" | "warning" | "info") {
            return Err(FieldError::new("severity", "one of critical, error, warning, info"));
        }
        check_url("events_url", &SecretString::from(self.events_url.clone())).map(drop)
    }

    fn render(&self, n: &Notification) -> Option<Outgoing> {
        if n.reminder {
            return None;
        }
        let event = &n.event;
        let dedup_key = event.incident_id.to_string();
        let body = match event.kind {
            IncidentEventKind::Resolved => json!({
                "routing_key": self.routing_key.expose_secret(),
                "event_action": "resolve",
                "dedup_key": dedup_key,
            }),
            IncidentEventKind::Acknowledged => json!({
                "routing_key": self.routing_key.expose_secret(),
                "event_action": "acknowledge",
                "dedup_key": dedup_key,
            }),
            IncidentEventKind::Opened | IncidentEventKind::Updated => json!({
                "routing_key": self.routing_key.expose_secret(),
                "event_action": "trigger",
                "dedup_key": dedup_key,
                "client": "StatusHawk",
                "payload": {
                    "summary": cut(&n.summary(), SUMMARY_MAX),
                    "source": event.monitor_name,
                    "severity": self.severity,
                    "timestamp": rfc3339(event.started_at_ms),
                    "component": event.monitor_name,
                    "group": "statushawk",
                    "class": "uptime",
                    "custom_details": {
                        "cause": event.cause,
                        "affected_regions": event.affected_regions,
                        "monitor_id": event.monitor_id,
                        "incident_id": event.incident_id,
                    },
                },
            }),
        };
        let url = SecretString::from(self.events_url.clone());
        Some(Outgoing::Http(HttpRequest::json(&url, &body)))
    }
}
