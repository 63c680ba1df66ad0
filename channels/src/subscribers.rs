//! What a status page's subscribers receive: a [`PageNotice`] as an e-mail
//! (plain text and HTML, with one-click unsubscribe headers) or as a signed
//! webhook (the notice as JSON, signed as channel webhooks are). Only what
//! the public page shows is in it: monitors by their names on the page, a
//! person's update as written, no causes or probe errors.

use secrecy::SecretString;
use statushawk_schemas::{NoticeType, PageNotice};

use crate::HttpRequest;
use crate::notification::{duration_text, escape_html, utc_text};

/// An e-mail to a subscriber, sent through the deployment's own server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeEmail {
    /// The subject line.
    pub subject: String,
    /// The plain text.
    pub text: String,
    /// The HTML alternative.
    pub html: String,
    /// `List-Unsubscribe` and `List-Unsubscribe-Post` (RFC 8058).
    pub headers: Vec<(&'static str, String)>,
}

/// The headline of a notice: `Checkout API is down`.
pub fn headline(notice: &PageNotice) -> String {
    match (notice.notice_type, &notice.incident, &notice.maintenance) {
        (NoticeType::IncidentOpened, Some(i), _) => format!("{} is down", i.monitor),
        (NoticeType::IncidentUpdated, Some(i), _) => match i.status {
            Some(status) => format!("Update on {}: {}", i.monitor, status.as_str()),
            None => format!("Update on {}", i.monitor),
        },
        (NoticeType::IncidentResolved, Some(i), _) => format!("{} is back up", i.monitor),
        (NoticeType::MaintenanceScheduled, _, Some(m)) => format!("Maintenance scheduled: {}", m.title),
        (NoticeType::MaintenanceStarted, _, Some(m)) => format!("Maintenance in progress: {}", m.title),
        _ => format!("News from {}", notice.page.title),
    }
}

/// The lines of what happened, in reading order.
pub fn lines(notice: &PageNotice) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(i) = &notice.incident {
        match notice.notice_type {
            NoticeType::IncidentOpened => {
                lines.push(format!("{} is down since {}.", i.monitor, utc_text(i.started_at_ms)))
            }
            NoticeType::IncidentResolved => lines.push(format!(
                "{} is back up after {}.",
                i.monitor,
                duration_text(i.resolved_at_ms.unwrap_or(i.started_at_ms) - i.started_at_ms)
            )),
            _ => {}
        }
        if let Some(message) = &i.message {
            lines.push(message.clone());
        }
    }
    if let Some(m) = &notice.maintenance {
        lines.push(format!(
            "{} to {}{}.",
            utc_text(m.starts_at_ms),
            utc_text(m.ends_at_ms),
            if m.weekly { ", and every week at that time" } else { "" }
        ));
        if !m.monitors.is_empty() {
            lines.push(format!("Affects: {}.", m.monitors.join(", ")));
        }
    }
    lines
}

/// The e-mail of `notice`; its `unsubscribe_url` must be filled in.
pub fn email(notice: &PageNotice) -> NoticeEmail {
    let page = &notice.page;
    let headline = headline(notice);
    let lines = lines(notice);
    let mut text = format!("{headline}\n\n");
    for line in &lines {
        text.push_str(line);
        text.push_str("\n\n");
    }
    text.push_str(&format!(
        "Status: {}\n\nYou get this because you subscribed to {}. Unsubscribe: {}\n",
        page.url, page.title, notice.unsubscribe_url
    ));
    let mut html = format!("<h2>{}</h2>", escape_html(&headline));
    for line in &lines {
        html.push_str(&format!("<p>{}</p>", escape_html(line)));
    }
    html.push_str(&format!(
        "<p><a href=\"{}\">{}</a></p><p style=\"color:#666;font-size:12px\">You get this because you subscribed to \
         {}. <a href=\"{}\">Unsubscribe</a></p>",
        escape_html(&page.url),
        escape_html(&page.title),
        escape_html(&page.title),
        escape_html(&notice.unsubscribe_url)
    ));
    NoticeEmail {
        subject: format!("[{}] {headline}", page.title),
        text,
        html,
        headers: vec![
            ("List-Unsubscribe", format!("<{}>", notice.unsubscribe_url)),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".to_owned()),
        ],
    }
}

/// The signed webhook of `notice` to `url`; its `unsubscribe_url` must be
/// filled in.
pub fn webhook(notice: &PageNotice, url: &str, signing_secret: SecretString) -> HttpRequest {
    HttpRequest {
        method: http::Method::POST,
        url: SecretString::from(url.to_owned()),
        content_type: "application/json",
        headers: vec![
            ("X-StatusHawk-Event".to_owned(), SecretString::from(notice.notice_type.as_str())),
            ("X-StatusHawk-Event-Id".to_owned(), SecretString::from(notice.event_id.clone())),
        ],
        body: serde_json::to_vec(notice).unwrap_or_default(),
        signing_key: Some(signing_secret),
    }
}

#[cfg(test)]
mod tests {
    use statushawk_schemas::{IncidentId, IncidentStatus, NoticeIncident, NoticePage, SCHEMA_VERSION};

    use super::*;

    fn notice(kind: NoticeType) -> PageNotice {
        PageNotice {
            schema_version: SCHEMA_VERSION,
            notice_type: kind,
            event_id: "e:1".into(),
            page: NoticePage {
                slug: "acme".into(),
                title: "Acme <Status>".into(),
                url: "https://s.example/status/acme".into(),
            },
            incident: Some(NoticeIncident {
                id: IncidentId::new(),
                monitor: "Checkout".into(),
                started_at_ms: 1_764_293_025_000,
                resolved_at_ms: (kind == NoticeType::IncidentResolved).then_some(1_764_293_025_000 + 720_000),
                status: (kind == NoticeType::IncidentUpdated).then_some(IncidentStatus::Identified),
                message: (kind == NoticeType::IncidentUpdated).then(|| "A bad deploy; rolling back.".into()),
            }),
            maintenance: None,
            unsubscribe_url: "https://s.example/status/acme/unsubscribe/tok".into(),
        }
    }

    #[test]
    fn mails_say_what_happened_escape_html_and_carry_the_unsubscribe_headers() {
        let mail = email(&notice(NoticeType::IncidentOpened));
        assert_eq!(mail.subject, "[Acme <Status>] Checkout is down");
        assert!(mail.text.contains("Checkout is down since 2025-11-28 01:23:45 UTC."), "{}", mail.text);
        assert!(mail.text.contains("Unsubscribe: https://s.example/status/acme/unsubscribe/tok"));
        assert!(mail.html.contains("Acme &lt;Status&gt;") && !mail.html.contains("<Status>"), "{}", mail.html);
        assert_eq!(mail.headers[0], ("List-Unsubscribe", "<https://s.example/status/acme/unsubscribe/tok>".to_owned()));
        assert_eq!(mail.headers[1].1, "List-Unsubscribe=One-Click");
        let update = email(&notice(NoticeType::IncidentUpdated));
        assert_eq!(update.subject, "[Acme <Status>] Update on Checkout: identified");
        assert!(update.text.contains("A bad deploy; rolling back."));
        assert!(email(&notice(NoticeType::IncidentResolved)).text.contains("back up after 12 min"));
    }
}
