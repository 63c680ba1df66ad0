//! What a channel is told: an incident event (or a reminder of an open
//! incident), with the texts every channel shares.

use serde::{Deserialize, Serialize};
use statushawk_schemas::{IncidentEvent, IncidentEventKind, RegionState, UnixMs, WebhookEventType};

/// One notification, as stored with its deliveries and rendered by each
/// channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Id of the notification: the event's `Nats-Msg-Id`, or
    /// `reminder:<incident>:<n>` for the n-th reminder.
    pub event_id: String,
    /// The incident as of the event.
    pub event: IncidentEvent,
    /// A re-notification of an incident that is still open.
    #[serde(default)]
    pub reminder: bool,
}

/// The state a notification announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// The incident opened, or a reminder that it is still open.
    Down,
    /// It is still open and changed.
    Changed,
    /// It ended.
    Resolved,
}

impl Notification {
    /// The webhook event type, also used to name the notification in logs.
    pub fn event_type(&self) -> WebhookEventType {
        match (self.reminder, self.event.kind) {
            (true, _) => WebhookEventType::IncidentReminder,
            (false, IncidentEventKind::Opened) => WebhookEventType::IncidentOpened,
            (false, IncidentEventKind::Updated) => WebhookEventType::IncidentUpdated,
            (false, IncidentEventKind::Resolved) => WebhookEventType::IncidentResolved,
            (false, IncidentEventKind::Acknowledged) => WebhookEventType::IncidentAcknowledged,
        }
    }

    /// Down, changed or resolved.
    pub fn tone(&self) -> Tone {
        match (self.reminder, self.event.kind) {
            (true, _) | (false, IncidentEventKind::Opened) => Tone::Down,
            (false, IncidentEventKind::Updated | IncidentEventKind::Acknowledged) => Tone::Changed,
            (false, IncidentEventKind::Resolved) => Tone::Resolved,
        }
    }

    /// The state in capitals: `DOWN`, `STILL DOWN`, `UPDATE`,
    /// `ACKNOWLEDGED`, `RESOLVED`.
    pub fn state_word(&self) -> &'static str {
        match (self.reminder, self.event.kind) {
            (true, _) => "STILL DOWN",
            (false, IncidentEventKind::Opened) => "DOWN",
            (false, IncidentEventKind::Updated) => "UPDATE",
            (false, IncidentEventKind::Acknowledged) => "ACKNOWLEDGED",
            (false, IncidentEventKind::Resolved) => "RESOLVED",
        }
    }

    /// `DOWN: <monitor>`; the subject line of every channel.
    pub fn title(&self) -> String {
        format!("{}: {}", self.state_word(), self.event.monitor_name)
    }

    /// One sentence saying what happened.
    pub fn summary(&self) -> String {
        let event = &self.event;
        let name = &event.monitor_name;
        let regions = region_list(event);
        match (self.reminder, event.kind) {
            (true, _) => {
                format!("{name} is still down after {} ({regions}).", duration_text(event.at_ms - event.started_at_ms))
            }
            (false, IncidentEventKind::Opened) => format!("{name} is down ({regions})."),
            (false, IncidentEventKind::Updated) => match (&event.message, &event.update) {
                (Some(message), Some(update)) => format!("{name} ({}): {message}", update.status.as_str()),
                (Some(message), None) => format!("{name}: {message}"),
                (None, _) => format!("{name} is still down; affected now: {regions}."),
            },
            (false, IncidentEventKind::Acknowledged) => {
                format!("{name}: the incident was acknowledged by {}.", author(event))
            }
            (false, IncidentEventKind::Resolved) => format!(
                "{name} is back up after {}.",
                duration_text(event.resolved_at_ms.unwrap_or(event.at_ms) - event.started_at_ms)
            ),
        }
    }

    /// Labelled facts, in display order.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let event = &self.event;
        let mut facts = Vec::new();
        if !event.cause.is_empty() {
            facts.push(("Cause", event.cause.clone()));
        }
        facts.push(("Regions affected", region_list(event)));
        facts.push(("Started", utc_text(event.started_at_ms)));
        match event.resolved_at_ms {
            Some(resolved) => {
                facts.push(("Resolved", utc_text(resolved)));
                facts.push(("Duration", duration_text(resolved - event.started_at_ms)));
            }
            None => facts.push(("Down for", duration_text(event.at_ms - event.started_at_ms))),
        }
        if event.update.is_some() {
            let label = match event.kind {
                IncidentEventKind::Acknowledged => "Acknowledged by",
                _ => "Update by",
            };
            facts.push((label, author(event)));
        }
        facts.push(("Incident", event.incident_id.to_string()));
        facts
    }

    /// The summary and the facts as plain text lines.
    pub fn plain_text(&self) -> String {
        let mut text = self.summary();
        text.push_str("\n\n");
        for (label, value) in self.facts() {
            text.push_str(&format!("{label}: {value}\n"));
        }
        text
    }
}

/// Who did what a person's event tells, or `a former member`.
fn author(event: &IncidentEvent) -> String {
    event.update.as_ref().and_then(|u| u.author.clone()).unwrap_or_else(|| "a former member".to_owned())
}

/// The affected regions, or the regions seen down, as `eu-west, us-east`.
fn region_list(event: &IncidentEvent) -> String {
    let mut names: Vec<&str> = event.affected_regions.iter().map(|r| r.as_str()).collect();
    if names.is_empty() {
        names = event.regions.iter().filter(|r| r.state == RegionState::Down).map(|r| r.region.as_str()).collect();
    }
    if names.is_empty() { "no region".to_owned() } else { names.join(", ") }
}

/// `2026-11-28 01:23:45 UTC`.
pub fn utc_text(ms: UnixMs) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("{ms} ms"),
    }
}

/// RFC 3339 in UTC, `2026-11-28T01:23:45Z` (for APIs that want a timestamp).
pub fn rfc3339(ms: UnixMs) -> String {
    utc_text(ms).replacen(' ', "T", 1).replace(" UTC", "Z")
}

/// `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
pub fn duration_text(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// `text` cut to at most `max` characters (never inside one), ending in `…`
/// when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Escapes `&`, `<`, `>` and `"` for HTML (and Slack's and Telegram's markup).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        assert_eq!(duration_text(45_000), "45 s");
        assert_eq!(duration_text(12 * 60_000 + 5_000), "12 min");
        assert_eq!(duration_text(3 * 3_600_000 + 5 * 60_000), "3 h 5 min");
        assert_eq!(duration_text(2 * 86_400_000 + 4 * 3_600_000 + 60_000), "2 d 4 h");
        assert_eq!(duration_text(-5), "0 s");
    }

    #[test]
    fn cutting_never_splits_a_character() {
        assert_eq!(cut("héllo", 10), "héllo");
        assert_eq!(cut("héllo wörld", 5), "héll…");
        let emoji = "🔴".repeat(3000);
        let cut_text = cut(&emoji, 2000);
        assert_eq!(cut_text.chars().count(), 2000);
        assert!(cut_text.ends_with('…'));
    }

    #[test]
    fn timestamps_are_utc() {
        assert_eq!(utc_text(1_764_293_025_000), "2025-11-28 01:23:45 UTC");
        assert_eq!(rfc3339(1_764_293_025_000), "2025-11-28T01:23:45Z");
    }
}
