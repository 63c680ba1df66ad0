//! Badges of a public status page, in the shields.io look people embed in
//! READMEs (rendered by the `shields` crate, byte for byte as shields.io
//! would): the page's status, `/status/{slug}/badge.svg`, and per monitor
//! `/status/{slug}/badge/{monitor}/{badge}.svg` with `{monitor}` the
//! monitor's [`key`] on the page and `{badge}` one of `status`,
//! `uptime-24h`, `uptime-7d`, `uptime-30d`, `uptime-90d` and `latency`.
//!
//! They read the page's cached public model ([`super::public::Cache`]), so
//! they show what the page shows, by its rules (time nobody measured is
//! not uptime), and cost the databases nothing between loads; browsers and
//! proxies may keep them as long as the page. A page that is not public,
//! an unknown monitor or badge answer 404, with a badge saying so.

use axum::extract::{Path, State as Shared};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shields::BadgeStyle;
use shields::builder::Badge;

use super::public::{MonitorState, Overall, PublicMonitor, PublicPage, cacheable, percent};
use crate::State;

/// A monitor's key in badge addresses: its public name in lowercase ASCII
/// letters and digits, other runs of characters made one dash
/// (`Checkout API` → `checkout-api`).
pub fn key(name: &str) -> String {
    let mut key = String::new();
    for c in name.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            key.push(c);
        } else if !key.is_empty() && !key.ends_with('-') {
            key.push('-');
        }
    }
    key.trim_end_matches('-').to_owned()
}

/// One badge: label, message and the shields.io colour name of the message.
struct Shown {
    label: String,
    message: String,
    color: &'static str,
}

fn svg(status: StatusCode, shown: &Shown) -> Response {
    let body =
        Badge::style(BadgeStyle::Flat).label(&shown.label).message(&shown.message).message_color(shown.color).build();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml; charset=utf-8"));
    cacheable(response)
}

fn not_found(what: &str) -> Response {
    svg(StatusCode::NOT_FOUND, &Shown { label: what.to_owned(), message: "not found".to_owned(), color: "lightgrey" })
}

fn unavailable() -> Response {
    let shown = Shown { label: "status".to_owned(), message: "unavailable".to_owned(), color: "lightgrey" };
    let mut response = svg(StatusCode::SERVICE_UNAVAILABLE, &shown);
    response.headers_mut().remove(header::CACHE_CONTROL);
    response
}

async fn page(state: &State, slug: &str) -> Result<Option<std::sync::Arc<PublicPage>>, Response> {
    state.status_pages.page(&state.pg, &state.clickhouse, slug).await.map_err(|_| unavailable())
}

/// `GET /status/{slug}/badge.svg`: the page's overall status.
pub async fn page_badge(Shared(state): Shared<State>, Path(slug): Path<String>) -> Response {
    let page = match page(&state, &slug).await {
        Ok(Some(page)) => page,
        Ok(None) => return not_found("status page"),
        Err(response) => return response,
    };
    let color = match page.status {
        Overall::Operational => "brightgreen",
        Overall::Degraded => "yellow",
        Overall::PartialOutage => "orange",
        Overall::MajorOutage => "red",
    };
    svg(StatusCode::OK, &Shown { label: "status".to_owned(), message: page.status.label().to_lowercase(), color })
}

/// `GET /status/{slug}/badge/{monitor}/{badge}`: one figure of one monitor.
pub async fn monitor_badge(
    Shared(state): Shared<State>,
    Path((slug, monitor, badge)): Path<(String, String, String)>,
) -> Response {
    let Some(badge) = badge.strip_suffix(".svg") else { return not_found("badge") };
    let page = match page(&state, &slug).await {
        Ok(Some(page)) => page,
        Ok(None) => return not_found("status page"),
        Err(response) => return response,
    };
    let everyone = page.monitors.iter().chain(page.sections.iter().flat_map(|s| s.monitors.iter()));
    let Some(found) = everyone.into_iter().find(|m| m.badge == monitor) else { return not_found("monitor") };
    match shown(found, badge) {
        Some(shown) => svg(StatusCode::OK, &shown),
        None => not_found("badge"),
    }
}

/// What `badge` of `monitor` shows; `None` for an unknown badge.
fn shown(monitor: &PublicMonitor, badge: &str) -> Option<Shown> {
    let uptime = |window: &str, figure: Option<f64>| {
        let label = format!("uptime {window}");
        Some(match figure {
            Some(value) => Shown { label, message: percent(value), color: uptime_color(value) },
            None if monitor.status == MonitorState::Paused => {
                Shown { label, message: "paused".to_owned(), color: "lightgrey" }
            }
            None => Shown { label, message: "no data".to_owned(), color: "lightgrey" },
        })
    };
    match badge {
        "status" => {
            let (message, color) = match monitor.status {
                MonitorState::Up => ("up", "brightgreen"),
                MonitorState::Degraded => ("degraded", "yellow"),
                MonitorState::Down => ("down", "red"),
                MonitorState::Paused => ("paused", "lightgrey"),
                MonitorState::Unknown => ("no data", "lightgrey"),
            };
            Some(Shown { label: monitor.name.clone(), message: message.to_owned(), color })
        }
        "uptime-24h" => uptime("24h", monitor.uptime_24h),
        "uptime-7d" => uptime("7d", monitor.uptime_7d),
        "uptime-30d" => uptime("30d", monitor.uptime_30d),
        "uptime-90d" => uptime("90d", monitor.uptime_90d),
        "latency" => Some(match monitor.latency_ms_24h {
            Some(ms) => Shown { label: "response time".to_owned(), message: format!("{ms} ms"), color: "blue" },
            None => Shown { label: "response time".to_owned(), message: "no data".to_owned(), color: "lightgrey" },
        }),
        _ => None,
    }
}

/// shields.io's colours for a percentage, as its own uptime badges use them.
fn uptime_color(percent: f64) -> &'static str {
    match percent {
        p if p >= 99.9 => "brightgreen",
        p if p >= 99.0 => "green",
        p if p >= 97.0 => "yellowgreen",
        p if p >= 95.0 => "yellow",
        p if p >= 90.0 => "orange",
        _ => "red",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_lowercase_words_joined_by_dashes() {
        assert_eq!(key("Checkout API"), "checkout-api");
        assert_eq!(key("  E-mail / SMTP (EU) "), "e-mail-smtp-eu");
        assert_eq!(key("Ünïcode"), "n-code");
    }
}
