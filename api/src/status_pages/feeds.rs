//! A public status page's feeds: `/status/{slug}/feed.atom` (Atom 1.0) and
//! `/status/{slug}/feed.rss` (RSS 2.0), with an entry per incident the page
//! shows (open ones and those of the last
//! [`PAST_INCIDENT_DAYS`](super::public::PAST_INCIDENT_DAYS) days, with
//! their updates) and per scheduled maintenance. Built from the page's
//! cached public model, so they say what the page says and are cached like
//! it; a page that is not public has none (404).

use atom_syndication as atom;
use axum::extract::{Path, State as Shared};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use statushawk_schemas::UnixMs;

use super::public::{PublicIncident, PublicMaintenance, PublicPage, cacheable};
use statushawk_channels::notification::escape_html as escape;

use crate::State;

/// One entry, as both formats write it.
struct Item {
    id: String,
    title: String,
    html: String,
    published_ms: UnixMs,
    updated_ms: UnixMs,
}

/// A stable name for an entry that does not show the id it comes from.
fn digest(id: uuid::Uuid) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(id.as_bytes())[..12])
}

fn datetime(ms: UnixMs) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().fixed_offset()
}

fn utc(ms: UnixMs) -> String {
    datetime(ms).format("%Y-%m-%d %H:%M UTC").to_string()
}

fn incident_item(page_url: &str, i: &PublicIncident) -> Item {
    let mut html = String::new();
    for u in &i.updates {
        html.push_str(&format!(
            "<p><strong>{}</strong> ({}): {}</p>",
            escape(&u.status),
            utc(u.at_ms),
            escape(&u.message)
        ));
    }
    html.push_str(&format!(
        "<p>Started {}{}.</p>",
        utc(i.started_at_ms),
        i.resolved_at_ms.map(|r| format!(", resolved {}", utc(r))).unwrap_or_default()
    ));
    let latest = i.updates.iter().map(|u| u.at_ms).chain(i.resolved_at_ms).max().unwrap_or(i.started_at_ms);
    Item {
        id: format!("{page_url}#incident-{}", digest(i.id)),
        title: format!("{}: {}", i.monitor, i.status),
        html,
        published_ms: i.started_at_ms,
        updated_ms: latest.max(i.started_at_ms),
    }
}

fn maintenance_item(page_url: &str, m: &PublicMaintenance, generated_ms: UnixMs) -> Item {
    let mut html = format!("<p>{} to {}.</p>", utc(m.starts_at_ms), utc(m.ends_at_ms));
    if !m.monitors.is_empty() {
        html.push_str(&format!("<p>Affects: {}.</p>", escape(&m.monitors.join(", "))));
    }
    Item {
        id: format!("{page_url}#maintenance-{}-{}", digest(m.id), m.starts_at_ms),
        title: format!("{}: {}", if m.active { "Maintenance in progress" } else { "Scheduled maintenance" }, m.title),
        html,
        published_ms: m.created_at_ms.min(generated_ms),
        updated_ms: m.created_at_ms.min(generated_ms),
    }
}

/// The page's entries, newest first.
fn items(page_url: &str, page: &PublicPage) -> Vec<Item> {
    let mut items: Vec<Item> = page
        .active_incidents
        .iter()
        .chain(&page.past_incidents)
        .map(|i| incident_item(page_url, i))
        .chain(page.maintenance.iter().map(|m| maintenance_item(page_url, m, page.generated_at_ms)))
        .collect();
    items.sort_by_key(|i| std::cmp::Reverse(i.updated_ms));
    items
}

/// The page as an Atom 1.0 feed.
pub fn atom(public_url: &str, page: &PublicPage) -> String {
    let page_url = format!("{}/status/{}", public_url.trim_end_matches('/'), page.slug);
    let items = items(&page_url, page);
    let updated = items.first().map_or(page.generated_at_ms, |i| i.updated_ms);
    let entries = items
        .into_iter()
        .map(|i| atom::Entry {
            title: atom::Text::plain(i.title),
            id: i.id,
            updated: datetime(i.updated_ms),
            published: Some(datetime(i.published_ms)),
            links: vec![atom::Link { href: page_url.clone(), rel: "alternate".into(), ..Default::default() }],
            content: Some(atom::Content {
                value: Some(i.html),
                content_type: Some("html".into()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    let feed = atom::Feed {
        title: atom::Text::plain(format!("{} status", page.title)),
        id: page_url.clone(),
        updated: datetime(updated),
        authors: vec![atom::Person { name: page.title.clone(), ..Default::default() }],
        links: vec![
            atom::Link { href: page_url.clone(), rel: "alternate".into(), ..Default::default() },
            atom::Link {
                href: format!("{page_url}/feed.atom"),
                rel: "self".into(),
                mime_type: Some("application/atom+xml".into()),
                ..Default::default()
            },
        ],
        generator: Some(atom::Generator { value: "StatusHawk".into(), ..Default::default() }),
        entries,
        ..Default::default()
    };
    feed.to_string()
}

/// The page as an RSS 2.0 feed.
pub fn rss(public_url: &str, page: &PublicPage) -> String {
    let page_url = format!("{}/status/{}", public_url.trim_end_matches('/'), page.slug);
    let items = items(&page_url, page);
    let built = items.first().map_or(page.generated_at_ms, |i| i.updated_ms);
    let channel = rss::Channel {
        title: format!("{} status", page.title),
        link: page_url.clone(),
        description: format!("Incidents and scheduled maintenance of {}.", page.title),
        last_build_date: Some(datetime(built).to_rfc2822()),
        generator: Some("StatusHawk".into()),
        items: items
            .into_iter()
            .map(|i| rss::Item {
                title: Some(i.title),
                link: Some(page_url.clone()),
                description: Some(i.html),
                guid: Some(rss::Guid { value: format!("{}@{}", i.id, i.updated_ms), permalink: false }),
                pub_date: Some(datetime(i.updated_ms).to_rfc2822()),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    channel.to_string()
}

async fn feed(
    state: &State,
    slug: &str,
    content_type: &'static str,
    render: fn(&str, &PublicPage) -> String,
) -> Response {
    match state.status_pages.page(&state.pg, &state.clickhouse, slug).await {
        Ok(Some(page)) => cacheable(
            (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], render(&state.public_url, &page)).into_response(),
        ),
        Ok(None) => (StatusCode::NOT_FOUND, "There is no public status page at this address.").into_response(),
        Err(err) => err.into_response(),
    }
}

/// `GET /status/{slug}/feed.atom`.
pub async fn atom_feed(Shared(state): Shared<State>, Path(slug): Path<String>) -> Response {
    feed(&state, &slug, "application/atom+xml; charset=utf-8", atom).await
}

/// `GET /status/{slug}/feed.rss`.
pub async fn rss_feed(Shared(state): Shared<State>, Path(slug): Path<String>) -> Response {
    feed(&state, &slug, "application/rss+xml; charset=utf-8", rss).await
}
