//! A status page's public face, without authentication: `GET /status/{slug}`
//! (HTML, rendered with askama from `api/templates/`) and
//! `GET /api/v1/public/status/{slug}` (JSON). Both render one model,
//! [`PublicPage`], cached per slug for [`TTL`] in this process.
//!
//! Only what a visitor may see leaves: titles, public names, statuses,
//! uptime, incident times and updates. Never a monitor's target or
//! settings, an id (team, monitor, incident, channel, user), regions, an
//! incident's cause or an error a probe saw. The evaluator's own incident
//! updates quote the cause, so they are shown as a fixed sentence per
//! status; people's updates are shown as written (they write them for
//! this).
//!
//! A page that is not public, or no page at all, is a 404 — and is cached
//! as such too, so guessing slugs does not reach Postgres.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Json;
use axum::extract::{Path, State as Shared};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use sqlx::{PgPool, Row};
use statushawk_schemas::UnixMs;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::State;
use crate::analytics;
use crate::error::{ApiError, Id};

/// How long a page's public model is served from the cache.
pub const TTL: Duration = Duration::from_secs(60);
/// Slugs cached at most (found or not).
pub const CAPACITY: u64 = 10_000;
/// Days of uptime bars, today included.
pub const UPTIME_DAYS: u32 = 90;
/// Resolved incidents are shown this many days after their end.
pub const PAST_INCIDENT_DAYS: i64 = 14;
/// Maintenance is shown while it runs and this many days before.
pub const UPCOMING_MAINTENANCE_DAYS: i64 = 14;
/// Incidents shown at most (open and past together, newest first).
const MAX_INCIDENTS: i64 = 50;
/// Browsers and proxies may keep a page as long as we do.
const CACHE_CONTROL: &str = "public, max-age=60";

/// Public models by slug; `None`: no public page has that slug.
#[derive(Clone)]
pub struct Cache {
    pages: moka::future::Cache<String, Option<Arc<PublicPage>>>,
}

impl Cache {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self { pages: moka::future::Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build() }
    }

    /// Forgets `slug`: its next request loads it afresh.
    pub async fn invalidate(&self, slug: &str) {
        self.pages.invalidate(slug).await;
    }

    /// The public page at `slug`, from the cache or loaded (concurrent
    /// misses of one slug wait for one load). A failed load is not cached.
    pub async fn page(
        &self,
        pg: &PgPool,
        clickhouse: &clickhouse::Client,
        slug: &str,
    ) -> Result<Option<Arc<PublicPage>>, ApiError> {
        if !super::is_valid_slug(slug) {
            return Ok(None);
        }
        self.pages
            .try_get_with(slug.to_owned(), async {
                Ok::<_, ApiError>(load(pg, clickhouse, slug, OffsetDateTime::now_utc()).await?.map(Arc::new))
            })
            .await
            // The cause was logged where it was made (`ApiError::internal`).
            .map_err(|_| ApiError::unavailable("the status page cannot be loaded right now"))
    }
}

/// What a status page shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicPage {
    /// Its address, `/status/<slug>`.
    pub slug: String,
    /// Its heading.
    pub title: String,
    /// Shown under the title (may be empty).
    pub description: String,
    /// The whole page's status ([`Overall::of`]).
    pub status: Overall,
    /// Monitors outside any section, in order.
    pub monitors: Vec<PublicMonitor>,
    /// Sections, in order.
    pub sections: Vec<PublicSection>,
    /// Open incidents of the page's monitors, newest first.
    pub active_incidents: Vec<PublicIncident>,
    /// Incidents resolved in the last [`PAST_INCIDENT_DAYS`] days, newest first.
    pub past_incidents: Vec<PublicIncident>,
    /// Maintenance of the page's monitors running now or starting within
    /// [`UPCOMING_MAINTENANCE_DAYS`] days, soonest first: each window's
    /// next occurrence (a weekly one's, once).
    pub maintenance: Vec<PublicMaintenance>,
    /// When this was put together (Unix ms).
    pub generated_at_ms: UnixMs,
}

/// Scheduled maintenance as the public sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicMaintenance {
    /// Its window: never shown, the feeds' entries are named by a digest
    /// of it.
    #[serde(skip)]
    pub id: Uuid,
    /// When the window was made (Unix ms; for the feeds).
    #[serde(skip)]
    pub created_at_ms: UnixMs,
    /// What it is, as its window is titled.
    pub title: String,
    /// Starts (Unix ms).
    pub starts_at_ms: UnixMs,
    /// Ends (Unix ms).
    pub ends_at_ms: UnixMs,
    /// Whether it is running now.
    pub active: bool,
    /// The public names of the page's monitors it covers (all of them for
    /// a window over the whole team).
    pub monitors: Vec<String>,
}

impl PublicMaintenance {
    /// When, as shown (UTC).
    pub fn when(&self) -> String {
        format!("{} – {}", utc(self.starts_at_ms), utc(self.ends_at_ms))
    }
}

/// A section of monitors.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicSection {
    /// Its heading.
    pub title: String,
    /// Its monitors, in order.
    pub monitors: Vec<PublicMonitor>,
}

/// A monitor as the public sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicMonitor {
    /// The page's display name for it, or the monitor's name.
    pub name: String,
    /// Its key in badge addresses: `/status/{slug}/badge/{badge}/...`
    /// (the name in lowercase, with dashes).
    pub badge: String,
    /// Its current status.
    pub status: MonitorState,
    /// Uptime over the last [`UPTIME_DAYS`] days, in percent of the time
    /// measured (checked, not paused, not in maintenance); `null` if
    /// nothing was measured.
    pub uptime_90d: Option<f64>,
    /// The seconds of those days that were measured.
    pub measured_s_90d: i64,
    /// Whether they were measured, and if not, why.
    pub coverage_90d: analytics::Coverage,
    /// Uptime over the last 24 hours, as `uptime_90d`.
    pub uptime_24h: Option<f64>,
    /// Over the last 7 days.
    pub uptime_7d: Option<f64>,
    /// Over the last 30 days.
    pub uptime_30d: Option<f64>,
    /// Mean response time of the last 24 hours' up and degraded results
    /// (ms); `null` without any.
    pub latency_ms_24h: Option<u32>,
    /// One bar per UTC day, oldest first, today last.
    pub days: Vec<PublicDay>,
}

/// One day's bar.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicDay {
    /// The UTC day, `YYYY-MM-DD`.
    pub date: String,
    /// Percent (0–100) of the measured time; `null` if nothing was
    /// measured that day.
    pub uptime: Option<f64>,
    /// Seconds of confirmed downtime.
    pub downtime_s: i64,
    /// Seconds measured: checked, not paused, not in maintenance.
    pub measured_s: i64,
    /// Whether the day was measured, and if not, why: a grey bar is
    /// `no_data`, never up.
    pub coverage: analytics::Coverage,
}

/// An incident as the public sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicIncident {
    /// Its id: never shown, the feeds' entries are named by a digest of it.
    #[serde(skip)]
    pub id: Uuid,
    /// The affected monitor's public name.
    pub monitor: String,
    /// `investigating`, `identified`, `monitoring` or `resolved`: the latest
    /// update's (`resolved` once resolved).
    pub status: String,
    /// Started (Unix ms).
    pub started_at_ms: UnixMs,
    /// Resolved (Unix ms); `null` while open.
    pub resolved_at_ms: Option<UnixMs>,
    /// Its updates, newest first.
    pub updates: Vec<PublicUpdate>,
}

/// One update of an incident.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicUpdate {
    /// `investigating`, `identified`, `monitoring` or `resolved`.
    pub status: String,
    /// What was said.
    pub message: String,
    /// When (Unix ms).
    pub at_ms: UnixMs,
}

/// A monitor's current status on a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MonitorState {
    /// Up.
    Up,
    /// Reachable but over a soft limit.
    Degraded,
    /// Down (an incident is open).
    Down,
    /// Not checked while paused.
    Paused,
    /// Not checked yet.
    Unknown,
}

/// A page's overall status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    /// Everything works.
    Operational,
    /// Something is slow, nothing is down.
    Degraded,
    /// Something is down.
    PartialOutage,
    /// Most things are down.
    MajorOutage,
}

impl Overall {
    /// The overall status from the page's monitors' statuses. Paused
    /// monitors and those without a status yet do not count. Of the rest:
    ///
    /// * **major outage** when more than half are down (so a page of one
    ///   monitor that is down, or of four with three down);
    /// * **partial outage** when at least one is down;
    /// * **degraded** when none is down and at least one is degraded;
    /// * **operational** otherwise, including when none counts.
    pub fn of(states: impl IntoIterator<Item = MonitorState>) -> Self {
        let (mut known, mut down, mut degraded) = (0usize, 0usize, 0usize);
        for state in states {
            match state {
                MonitorState::Up => known += 1,
                MonitorState::Degraded => (known, degraded) = (known + 1, degraded + 1),
                MonitorState::Down => (known, down) = (known + 1, down + 1),
                MonitorState::Paused | MonitorState::Unknown => {}
            }
        }
        if down * 2 > known {
            Self::MajorOutage
        } else if down > 0 {
            Self::PartialOutage
        } else if degraded > 0 {
            Self::Degraded
        } else {
            Self::Operational
        }
    }

    /// As shown in the banner.
    pub fn label(self) -> &'static str {
        match self {
            Self::Operational => "All systems operational",
            Self::Degraded => "Degraded performance",
            Self::PartialOutage => "Partial outage",
            Self::MajorOutage => "Major outage",
        }
    }

    /// The CSS class.
    pub fn class(self) -> &'static str {
        match self {
            Self::Operational => "operational",
            Self::Degraded => "degraded",
            Self::PartialOutage => "partial",
            Self::MajorOutage => "major",
        }
    }
}

impl MonitorState {
    /// From the monitor's pause flag and the evaluator's confirmed status.
    /// The evaluator records a status only when it changes from the
    /// initial `up`, so a monitor without one that was checked in the last
    /// 24 hours is up; without either it has no data yet.
    fn from_row(paused: bool, status: Option<&str>, checked_today: bool) -> Self {
        match (paused, status) {
            (true, _) => Self::Paused,
            (false, Some("up")) => Self::Up,
            (false, Some("degraded")) => Self::Degraded,
            (false, Some("down")) => Self::Down,
            (false, _) if checked_today => Self::Up,
            (false, _) => Self::Unknown,
        }
    }

    /// As shown next to the monitor.
    pub fn label(self) -> &'static str {
        match self {
            Self::Up => "Operational",
            Self::Degraded => "Degraded",
            Self::Down => "Down",
            Self::Paused => "Paused",
            Self::Unknown => "No data yet",
        }
    }

    /// The CSS class.
    pub fn class(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
            Self::Paused => "paused",
            Self::Unknown => "unknown",
        }
    }
}

impl PublicMonitor {
    /// The 90-day uptime as shown.
    pub fn uptime_text(&self) -> String {
        match (self.uptime_90d, self.coverage_90d) {
            (Some(u), _) => format!("{} uptime", percent(u)),
            (None, analytics::Coverage::Paused) => "paused".to_owned(),
            (None, analytics::Coverage::Maintenance) => "in maintenance".to_owned(),
            (None, _) => "no data".to_owned(),
        }
    }
}

impl PublicDay {
    /// The bar's CSS class, by uptime.
    pub fn class(&self) -> &'static str {
        match self.uptime {
            None => match self.coverage {
                analytics::Coverage::Paused => "paused",
                analytics::Coverage::Maintenance => "maintenance",
                _ => "none",
            },
            Some(u) if u >= 99.95 => "ok",
            Some(u) if u >= 99.0 => "minor",
            Some(u) if u >= 95.0 => "partial",
            Some(_) => "major",
        }
    }

    /// The bar's tooltip.
    pub fn tip(&self) -> String {
        let Some(u) = self.uptime else {
            return match self.coverage {
                analytics::Coverage::Paused => format!("{}: paused", self.date),
                analytics::Coverage::Maintenance => format!("{}: maintenance", self.date),
                _ => format!("{}: no data", self.date),
            };
        };
        let mut tip = format!("{}: {} uptime", self.date, percent(u));
        if self.downtime_s > 0 {
            tip += &format!(", down {}", duration(self.downtime_s));
        }
        if self.measured_s < 86_400 {
            tip += &format!(" ({} measured)", duration(self.measured_s));
        }
        tip
    }
}

impl PublicIncident {
    /// When it started, as shown.
    pub fn started(&self) -> String {
        utc(self.started_at_ms)
    }

    /// When it ended, as shown (empty while open).
    pub fn resolved(&self) -> String {
        self.resolved_at_ms.map(utc).unwrap_or_default()
    }
}

impl PublicUpdate {
    /// When, as shown.
    pub fn when(&self) -> String {
        utc(self.at_ms)
    }
}

/// A percentage with two decimals, never rounded up to 100 %.
pub(super) fn percent(value: f64) -> String {
    if value >= 100.0 { "100%".to_owned() } else { format!("{:.2}%", (value * 100.0).floor() / 100.0) }
}

/// `1h 5m`, `12m`, `40s`.
fn duration(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m"),
        (h, m) => format!("{h}h {m}m"),
    }
}

/// `2025-03-01 14:05 UTC`.
fn utc(ms: UnixMs) -> String {
    match OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) {
        Ok(t) => {
            format!("{}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
        }
        Err(_) => String::new(),
    }
}

/// What the evaluator's updates say in public (theirs quote the cause).
fn system_message(status: &str, monitor: &str) -> String {
    match status {
        "resolved" => format!("{monitor} has recovered and is operating normally."),
        "monitoring" => format!("{monitor} is responding again; we are monitoring it."),
        "identified" => format!("The cause of the {monitor} outage has been identified."),
        _ => format!("{monitor} is not responding as expected; we are investigating."),
    }
}

fn unix_ms(at: OffsetDateTime) -> UnixMs {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Reads the public page at `slug` as of `now`; `None` if there is no
/// public page there.
pub async fn load(
    pg: &PgPool,
    clickhouse: &clickhouse::Client,
    slug: &str,
    now: OffsetDateTime,
) -> Result<Option<PublicPage>, ApiError> {
    let Some(page) = sqlx::query("SELECT id, team_id, title, description FROM status_pages WHERE slug = $1 AND public")
        .bind(slug)
        .fetch_optional(pg)
        .await?
    else {
        return Ok(None);
    };
    let page_id: Uuid = page.try_get("id")?;
    let team: Uuid = page.try_get("team_id")?;
    let sections: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, title FROM status_page_sections WHERE page_id = $1 ORDER BY position")
            .bind(page_id)
            .fetch_all(pg)
            .await?;
    let entries = sqlx::query(
        "SELECT e.section_id, e.monitor_id, coalesce(e.display_name, m.name) AS name, m.paused, \
                s.status::text AS status \
         FROM status_page_monitors e \
         JOIN monitors m ON m.id = e.monitor_id AND m.team_id = e.team_id \
         LEFT JOIN monitor_status s ON s.monitor_id = e.monitor_id \
         WHERE e.page_id = $1 ORDER BY e.position, e.monitor_id",
    )
    .bind(page_id)
    .fetch_all(pg)
    .await?;
    let ids: Vec<Uuid> = entries.iter().map(|row| row.try_get("monitor_id")).collect::<Result<_, _>>()?;
    let mut uptime = analytics::page_uptime(pg, clickhouse, team, &ids, UPTIME_DAYS, now).await?;

    let mut names = HashMap::new();
    let mut top = Vec::new();
    let mut grouped: HashMap<Uuid, Vec<PublicMonitor>> = HashMap::new();
    for row in &entries {
        let id: Uuid = row.try_get("monitor_id")?;
        let name: String = row.try_get("name")?;
        names.insert(id, name.clone());
        let figures = uptime.remove(&id).unwrap_or_default();
        let [uptime_24h, uptime_7d, uptime_30d] = figures.windows;
        let status = row.try_get::<Option<&str>, _>("status")?;
        let monitor = PublicMonitor {
            badge: super::badges::key(&name),
            name,
            status: MonitorState::from_row(row.try_get("paused")?, status, uptime_24h.is_some()),
            uptime_90d: figures.overall,
            measured_s_90d: figures.measured_s,
            coverage_90d: figures.coverage,
            uptime_24h,
            uptime_7d,
            uptime_30d,
            latency_ms_24h: figures.latency_24h_ms,
            days: figures
                .days
                .into_iter()
                .map(|d| PublicDay {
                    date: d.date.to_string(),
                    uptime: d.uptime,
                    downtime_s: d.downtime_s,
                    measured_s: d.measured_s,
                    coverage: d.coverage,
                })
                .collect(),
        };
        match row.try_get::<Option<Uuid>, _>("section_id")? {
            Some(section) => grouped.entry(section).or_default().push(monitor),
            None => top.push(monitor),
        }
    }
    let sections: Vec<PublicSection> = sections
        .into_iter()
        .map(|(id, title)| PublicSection { title, monitors: grouped.remove(&id).unwrap_or_default() })
        .collect();
    let status = Overall::of(top.iter().chain(sections.iter().flat_map(|s| s.monitors.iter())).map(|m| m.status));

    let since = now - time::Duration::days(PAST_INCIDENT_DAYS);
    let incidents = sqlx::query(
        "SELECT id, monitor_id, (extract(epoch FROM started_at) * 1000)::bigint AS started_ms, \
                (extract(epoch FROM resolved_at) * 1000)::bigint AS resolved_ms \
         FROM incidents WHERE team_id = $1 AND monitor_id = ANY($2) AND (resolved_at IS NULL OR resolved_at >= $3) \
         ORDER BY started_at DESC, id LIMIT $4",
    )
    .bind(team)
    .bind(&ids)
    .bind(since)
    .bind(MAX_INCIDENTS)
    .fetch_all(pg)
    .await?;
    let incident_ids: Vec<Uuid> = incidents.iter().map(|row| row.try_get("id")).collect::<Result<_, _>>()?;
    let mut updates: HashMap<Uuid, Vec<(String, String, String, UnixMs)>> = HashMap::new();
    for row in sqlx::query(
        "SELECT incident_id, status::text AS status, source::text AS source, message, \
                (extract(epoch FROM at) * 1000)::bigint AS at_ms \
         FROM incident_updates WHERE incident_id = ANY($1) AND kind = 'update' ORDER BY at DESC, id",
    )
    .bind(&incident_ids)
    .fetch_all(pg)
    .await?
    {
        updates.entry(row.try_get("incident_id")?).or_default().push((
            row.try_get("status")?,
            row.try_get("source")?,
            row.try_get("message")?,
            row.try_get("at_ms")?,
        ));
    }
    let (mut active_incidents, mut past_incidents) = (Vec::new(), Vec::new());
    for row in &incidents {
        let id: Uuid = row.try_get("id")?;
        let monitor = names.get(&row.try_get::<Uuid, _>("monitor_id")?).cloned().unwrap_or_default();
        let updates: Vec<PublicUpdate> = updates
            .remove(&id)
            .unwrap_or_default()
            .into_iter()
            .map(|(status, source, message, at_ms)| {
                let message = if source == "user" { message } else { system_message(&status, &monitor) };
                PublicUpdate { status, message, at_ms }
            })
            .collect();
        let resolved_at_ms: Option<UnixMs> = row.try_get("resolved_ms")?;
        let status = match (resolved_at_ms, updates.first()) {
            (Some(_), _) => "resolved".to_owned(),
            (None, Some(latest)) => latest.status.clone(),
            (None, None) => "investigating".to_owned(),
        };
        let incident =
            PublicIncident { id, monitor, status, started_at_ms: row.try_get("started_ms")?, resolved_at_ms, updates };
        if resolved_at_ms.is_some() { past_incidents.push(incident) } else { active_incidents.push(incident) }
    }

    let maintenance = maintenance(pg, team, &names, now).await?;

    Ok(Some(PublicPage {
        slug: slug.to_owned(),
        title: page.try_get("title")?,
        description: page.try_get("description")?,
        status,
        monitors: top,
        sections,
        active_incidents,
        past_incidents,
        maintenance,
        generated_at_ms: unix_ms(now),
    }))
}

/// The next occurrence of each maintenance window over the page's monitors
/// (`names`: id → public name) that runs now or starts within
/// [`UPCOMING_MAINTENANCE_DAYS`], soonest first. Occurrences come from
/// Postgres's `maintenance_occurrences`, as for uptime and the notifier.
async fn maintenance(
    pg: &PgPool,
    team: Uuid,
    names: &HashMap<Uuid, String>,
    now: OffsetDateTime,
) -> Result<Vec<PublicMaintenance>, ApiError> {
    let ids: Vec<Uuid> = names.keys().copied().collect();
    let rows = sqlx::query(
        "SELECT DISTINCT ON (o.window_id) o.window_id, o.monitor_id, o.title, \
                (extract(epoch FROM o.created_at) * 1000)::bigint AS created_ms, \
                (extract(epoch FROM o.starts_at) * 1000)::bigint AS start_ms, \
                (extract(epoch FROM o.ends_at) * 1000)::bigint AS end_ms \
         FROM maintenance_occurrences($1, $3, $3 + make_interval(days => $4)) o \
         WHERE o.monitor_id IS NULL OR o.monitor_id = ANY($2) \
         ORDER BY o.window_id, o.starts_at",
    )
    .bind(team)
    .bind(&ids)
    .bind(now)
    .bind(i32::try_from(UPCOMING_MAINTENANCE_DAYS).unwrap_or(14))
    .fetch_all(pg)
    .await?;
    let now_ms = unix_ms(now);
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let (starts_at_ms, ends_at_ms): (UnixMs, UnixMs) = (row.try_get("start_ms")?, row.try_get("end_ms")?);
        let monitors = match row.try_get::<Option<Uuid>, _>("monitor_id")? {
            Some(id) => names.get(&id).cloned().into_iter().collect(),
            None => {
                let mut all: Vec<String> = names.values().cloned().collect();
                all.sort();
                all
            }
        };
        out.push(PublicMaintenance {
            id: row.try_get("window_id")?,
            created_at_ms: row.try_get("created_ms")?,
            title: row.try_get("title")?,
            starts_at_ms,
            ends_at_ms,
            active: starts_at_ms <= now_ms,
            monitors,
        });
    }
    out.sort_by_key(|m| (m.starts_at_ms, m.ends_at_ms));
    Ok(out)
}

/// The page as HTML.
#[derive(Template)]
#[template(path = "status_page.html")]
struct PageHtml<'a> {
    page: &'a PublicPage,
    generated: String,
}

/// A short HTML message page: a status page that is not there or failed,
/// or a step of subscribing to one (with a form that acts, a secret shown
/// once, a way back).
#[derive(Template)]
#[template(path = "status_message.html")]
pub(super) struct MessageHtml {
    pub(super) heading: String,
    pub(super) text: String,
    /// A form posting to this address, with this button.
    pub(super) action: Option<(String, &'static str)>,
    /// A secret to show once.
    pub(super) secret: Option<String>,
    /// Back to the page.
    pub(super) back: Option<String>,
}

impl MessageHtml {
    /// Just a heading and a text.
    pub(super) fn said(heading: &str, text: impl Into<String>) -> Self {
        Self { heading: heading.to_owned(), text: text.into(), action: None, secret: None, back: None }
    }

    /// The page, never cached (it may carry a one-time secret or a link).
    pub(super) fn respond(self, status: StatusCode) -> Response {
        match self.render() {
            Ok(body) => (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response(),
            Err(err) => ApiError::internal(err).into_response(),
        }
    }
}

fn message_html(status: StatusCode, heading: &'static str, text: &'static str) -> Response {
    MessageHtml::said(heading, text).respond(status)
}

pub(super) fn cacheable(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
    response
}

/// `GET /status/{slug}`: the page as HTML.
pub async fn html(Shared(state): Shared<State>, Path(slug): Path<String>) -> Response {
    match state.status_pages.page(&state.pg, &state.clickhouse, &slug).await {
        Ok(Some(page)) => match (PageHtml { generated: utc(page.generated_at_ms), page: &page }).render() {
            Ok(body) => cacheable(Html(body).into_response()),
            Err(err) => {
                tracing::error!(error = %err, slug, "Rendering a status page failed.");
                message_html(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "Please try again later.")
            }
        },
        Ok(None) => message_html(
            StatusCode::NOT_FOUND,
            "Status page not found",
            "There is no public status page at this address.",
        ),
        Err(_) => message_html(
            StatusCode::SERVICE_UNAVAILABLE,
            "Status page unavailable",
            "This status page cannot be shown right now. Please try again in a minute.",
        ),
    }
}

/// `GET /api/v1/public/status/{slug}`: the page as JSON.
#[utoipa::path(get, path = "/api/v1/public/status/{slug}", tag = "status pages", params(("slug" = String, Path, description = "The page's slug")), responses((status = 200, description = "The public page (only pages marked public)", body = PublicPage)), security(()))]
pub async fn json(Shared(state): Shared<State>, Id(slug): Id<String>) -> Result<Response, ApiError> {
    let page = state
        .status_pages
        .page(&state.pg, &state.clickhouse, &slug)
        .await?
        .ok_or_else(|| ApiError::not_found("status page"))?;
    Ok(cacheable(Json(&*page).into_response()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overall_status_follows_the_share_of_monitors_down() {
        use MonitorState::*;
        assert_eq!(Overall::of([]), Overall::Operational);
        assert_eq!(Overall::of([Up, Paused, Unknown]), Overall::Operational);
        assert_eq!(Overall::of([Paused, Unknown]), Overall::Operational);
        assert_eq!(Overall::of([Up, Degraded]), Overall::Degraded);
        assert_eq!(Overall::of([Up, Degraded, Down]), Overall::PartialOutage);
        assert_eq!(Overall::of([Up, Down]), Overall::PartialOutage, "half is not more than half");
        assert_eq!(Overall::of([Down]), Overall::MajorOutage);
        assert_eq!(Overall::of([Down, Down, Up, Paused, Paused]), Overall::MajorOutage, "paused ones do not count");
    }

    #[test]
    fn percentages_are_never_rounded_up_to_a_perfect_score() {
        assert_eq!(percent(100.0), "100%");
        assert_eq!(percent(99.9999), "99.99%");
        assert_eq!(percent(97.5), "97.50%");
        assert_eq!(duration(3_900), "1h 5m");
        assert_eq!(duration(42), "42s");
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
    }
}
