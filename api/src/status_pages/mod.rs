//! Status pages: the team's pages, managed under `/api/v1/status-pages`,
//! and their public face ([`public`]: `/status/{slug}` as HTML and
//! `/api/v1/public/status/{slug}` as JSON).
//!
//! A page has a slug unique across all teams, a title, a description, a
//! `public` flag, monitors outside any section and ordered sections of
//! monitors. A page shows only monitors of its own team, each at most once
//! (the composite foreign keys hold it in Postgres too). Every write is one
//! transaction and, once committed, drops the page's cached public model
//! (under its old and new slug) in this process; other API processes see
//! the change when their cache entry expires ([`public::TTL`]).

pub mod badges;
pub mod feeds;
pub mod public;
pub mod subscribers;

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::State as Shared;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use statushawk_schemas::UnixMs;
use uuid::Uuid;

use crate::State;
use crate::auth::Caller;
use crate::error::{ApiError, Body, Id};

/// Sections a page may have.
pub const MAX_SECTIONS: usize = 100;
/// Monitors a page may show, in and outside sections together.
pub const MAX_MONITORS: usize = 500;

/// A page as written by a client (`POST`, `PUT`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PageInput {
    /// Its address, `/status/<slug>`: lower-case letters, digits and inner
    /// `-`, 1 to 64 characters; unique across all teams.
    pub slug: String,
    /// Shown as the page's heading, 1 to 200 characters.
    pub title: String,
    /// Shown under the title, at most 5000 characters (default empty).
    #[serde(default)]
    pub description: Option<String>,
    /// Served without authentication (default `false`).
    #[serde(default)]
    pub public: bool,
    /// Groups of monitors, in order, shown after [`PageInput::monitors`].
    #[serde(default)]
    pub sections: Vec<SectionInput>,
    /// Monitors outside any section, in order.
    #[serde(default)]
    pub monitors: Vec<EntryInput>,
}

/// A section as written.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionInput {
    /// Its heading, 1 to 200 characters.
    pub title: String,
    /// Its monitors, in order.
    #[serde(default)]
    pub monitors: Vec<EntryInput>,
}

/// A monitor on a page, as written.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryInput {
    /// A monitor of the caller's team (a string, so that a malformed id is
    /// refused naming its field).
    pub monitor_id: String,
    /// Its public name, 1 to 200 characters; absent, `null` or blank: the
    /// monitor's own name.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// A page as answered.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusPage {
    /// Its id.
    pub id: Uuid,
    /// Its address, `/status/<slug>`.
    pub slug: String,
    /// Its heading.
    pub title: String,
    /// Shown under the title.
    pub description: String,
    /// Served without authentication.
    pub public: bool,
    /// Groups of monitors, in order.
    pub sections: Vec<Section>,
    /// Monitors outside any section, in order.
    pub monitors: Vec<Entry>,
    /// Created (Unix ms).
    pub created_at_ms: UnixMs,
    /// Last changed (Unix ms).
    pub updated_at_ms: UnixMs,
}

/// A section as answered.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Section {
    /// Its heading.
    pub title: String,
    /// Its monitors, in order.
    pub monitors: Vec<Entry>,
}

/// A monitor on a page, as answered.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entry {
    /// The monitor.
    pub monitor_id: Uuid,
    /// Its public name; `null`: the monitor's own name.
    pub display_name: Option<String>,
}

/// A page that passed [`PageInput::validate`].
struct Valid {
    slug: String,
    title: String,
    description: String,
    public: bool,
    sections: Vec<String>,
    /// Every monitor: its section (index into `sections`), position within
    /// it (or among the top-level ones), and the input field it came from.
    entries: Vec<ValidEntry>,
}

struct ValidEntry {
    section: Option<usize>,
    position: i32,
    monitor_id: Uuid,
    display_name: Option<String>,
    field: String,
}

/// Whether `slug` can be a page's slug (as `status_pages` checks it).
pub fn is_valid_slug(slug: &str) -> bool {
    let bytes = slug.as_bytes();
    let inner = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    (1..=64).contains(&bytes.len())
        && bytes.first().is_some_and(inner)
        && bytes.last().is_some_and(inner)
        && bytes.iter().all(|b| inner(b) || *b == b'-')
}

/// A title of 1 to 200 characters, trimmed.
fn title(text: &str, field: &str) -> Result<String, ApiError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 200 {
        return Err(ApiError::invalid(field, "1 to 200 characters"));
    }
    Ok(text.to_owned())
}

impl PageInput {
    /// Checks the shape of every field; the error names the field. Whether
    /// the monitors are the team's is checked in the write's transaction.
    fn validate(self) -> Result<Valid, ApiError> {
        if !is_valid_slug(&self.slug) {
            return Err(ApiError::invalid(
                "slug",
                "1 to 64 lower-case letters, digits and '-', not starting or ending with '-'",
            ));
        }
        let page_title = title(&self.title, "title")?;
        let description = self.description.unwrap_or_default().trim().to_owned();
        if description.chars().count() > 5000 {
            return Err(ApiError::invalid("description", "at most 5000 characters"));
        }
        if self.sections.len() > MAX_SECTIONS {
            return Err(ApiError::invalid("sections", format!("at most {MAX_SECTIONS} sections")));
        }
        let mut entries = Vec::new();
        let mut seen = HashSet::new();
        let mut take = |list: Vec<EntryInput>, section: Option<usize>, prefix: &str| -> Result<(), ApiError> {
            for (i, entry) in list.into_iter().enumerate() {
                let field = format!("{prefix}monitors[{i}]");
                let id_field = format!("{field}.monitor_id");
                let monitor_id = Uuid::parse_str(entry.monitor_id.trim())
                    .map_err(|_| ApiError::invalid(id_field.clone(), "a monitor id (UUID)"))?;
                if !seen.insert(monitor_id) {
                    return Err(ApiError::invalid(id_field, "this monitor is already on the page"));
                }
                if seen.len() > MAX_MONITORS {
                    return Err(ApiError::invalid(field, format!("a page shows at most {MAX_MONITORS} monitors")));
                }
                let display_name = match entry.display_name.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(name) if name.chars().count() > 200 => {
                        return Err(ApiError::invalid(format!("{field}.display_name"), "at most 200 characters"));
                    }
                    Some(name) => Some(name.to_owned()),
                };
                let position = i32::try_from(i).unwrap_or(i32::MAX);
                entries.push(ValidEntry { section, position, monitor_id, display_name, field: id_field });
            }
            Ok(())
        };
        take(self.monitors, None, "")?;
        let mut sections = Vec::with_capacity(self.sections.len());
        for (s, section) in self.sections.into_iter().enumerate() {
            sections.push(title(&section.title, &format!("sections[{s}].title"))?);
            take(section.monitors, Some(s), &format!("sections[{s}]."))?;
        }
        Ok(Valid { slug: self.slug, title: page_title, description, public: self.public, sections, entries })
    }
}

/// The team's pages (`one`: only that one), sections and monitors in order.
async fn load(state: &State, caller: &Caller, one: Option<Uuid>) -> Result<Vec<StatusPage>, ApiError> {
    let rows = sqlx::query(
        "SELECT id, slug, title, description, public, \
                (extract(epoch FROM created_at) * 1000)::bigint AS created_ms, \
                (extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms \
         FROM status_pages WHERE team_id = $1 AND ($2::uuid IS NULL OR id = $2) ORDER BY slug",
    )
    .bind(caller.team.0)
    .bind(one)
    .fetch_all(&state.pg)
    .await?;
    let mut pages = Vec::with_capacity(rows.len());
    let mut index = HashMap::new();
    for row in &rows {
        let id: Uuid = row.try_get("id")?;
        index.insert(id, pages.len());
        pages.push(StatusPage {
            id,
            slug: row.try_get("slug")?,
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            public: row.try_get("public")?,
            sections: Vec::new(),
            monitors: Vec::new(),
            created_at_ms: row.try_get("created_ms")?,
            updated_at_ms: row.try_get("updated_ms")?,
        });
    }
    let ids: Vec<Uuid> = pages.iter().map(|p| p.id).collect();
    // Section id → (page index, section index).
    let mut sections = HashMap::new();
    let rows = sqlx::query(
        "SELECT id, page_id, title FROM status_page_sections WHERE page_id = ANY($1) ORDER BY page_id, position",
    )
    .bind(&ids)
    .fetch_all(&state.pg)
    .await?;
    for row in &rows {
        let Some(&p) = index.get(&row.try_get::<Uuid, _>("page_id")?) else { continue };
        let page = &mut pages[p];
        sections.insert(row.try_get::<Uuid, _>("id")?, (p, page.sections.len()));
        page.sections.push(Section { title: row.try_get("title")?, monitors: Vec::new() });
    }
    let rows = sqlx::query(
        "SELECT page_id, section_id, monitor_id, display_name FROM status_page_monitors \
         WHERE page_id = ANY($1) ORDER BY page_id, position, monitor_id",
    )
    .bind(&ids)
    .fetch_all(&state.pg)
    .await?;
    for row in &rows {
        let entry = Entry { monitor_id: row.try_get("monitor_id")?, display_name: row.try_get("display_name")? };
        match row.try_get::<Option<Uuid>, _>("section_id")?.and_then(|s| sections.get(&s)) {
            Some(&(p, s)) => pages[p].sections[s].monitors.push(entry),
            None => {
                if let Some(&p) = index.get(&row.try_get::<Uuid, _>("page_id")?) {
                    pages[p].monitors.push(entry);
                }
            }
        }
    }
    Ok(pages)
}

async fn fetch(state: &State, caller: &Caller, id: Uuid) -> Result<StatusPage, ApiError> {
    load(state, caller, Some(id)).await?.pop().ok_or_else(|| ApiError::not_found("status page"))
}

/// Writes the sections and monitors of page `id` (which has none), after
/// checking every monitor is the team's (and locking them against deletion
/// until the commit).
async fn write_contents(tx: &mut sqlx::PgConnection, caller: &Caller, id: Uuid, page: &Valid) -> Result<(), ApiError> {
    let wanted: Vec<Uuid> = page.entries.iter().map(|e| e.monitor_id).collect();
    let known: HashSet<Uuid> =
        sqlx::query_scalar("SELECT id FROM monitors WHERE team_id = $1 AND id = ANY($2) FOR KEY SHARE")
            .bind(caller.team.0)
            .bind(&wanted)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    if let Some(entry) = page.entries.iter().find(|e| !known.contains(&e.monitor_id)) {
        return Err(ApiError::invalid(entry.field.clone(), "no such monitor in this team"));
    }
    // Sections are few (MAX_SECTIONS), so their positions fit.
    let position_of = |s: usize| i32::try_from(s).ok();
    let section_positions: Vec<i32> = (0..page.sections.len()).filter_map(position_of).collect();
    let written: HashMap<i32, Uuid> = sqlx::query_as::<_, (Uuid, i32)>(
        "INSERT INTO status_page_sections (page_id, title, position) \
         SELECT $1, title, position FROM unnest($2::text[], $3::integer[]) AS s(title, position) \
         RETURNING id, position",
    )
    .bind(id)
    .bind(&page.sections)
    .bind(&section_positions)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(section, position)| (position, section))
    .collect();
    let mut sections = Vec::with_capacity(page.entries.len());
    let mut positions = Vec::with_capacity(page.entries.len());
    let mut names = Vec::with_capacity(page.entries.len());
    for entry in &page.entries {
        let section = match entry.section {
            Some(s) => Some(
                position_of(s)
                    .and_then(|p| written.get(&p).copied())
                    .ok_or_else(|| ApiError::internal("a status page section was not written"))?,
            ),
            None => None,
        };
        sections.push(section);
        positions.push(entry.position);
        names.push(entry.display_name.clone());
    }
    sqlx::query(
        "INSERT INTO status_page_monitors (page_id, team_id, section_id, monitor_id, position, display_name) \
         SELECT $1, $2, section_id, monitor_id, position, display_name \
         FROM unnest($3::uuid[], $4::uuid[], $5::integer[], $6::text[]) AS e(section_id, monitor_id, position, display_name)",
    )
    .bind(id)
    .bind(caller.team.0)
    .bind(&sections)
    .bind(&wanted)
    .bind(&positions)
    .bind(&names)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The team's pages.
#[utoipa::path(get, path = "/api/v1/status-pages", tag = "status pages", responses((status = 200, body = Vec<StatusPage>)))]
pub async fn list(Shared(state): Shared<State>, caller: Caller) -> Result<Json<Vec<StatusPage>>, ApiError> {
    Ok(Json(load(&state, &caller, None).await?))
}

/// One page.
#[utoipa::path(get, path = "/api/v1/status-pages/{id}", tag = "status pages", params(("id" = uuid::Uuid, Path, description = "Status page id")), responses((status = 200, body = StatusPage)))]
pub async fn get(Shared(state): Shared<State>, caller: Caller, Id(id): Id<Uuid>) -> Result<Json<StatusPage>, ApiError> {
    Ok(Json(fetch(&state, &caller, id).await?))
}

/// Creates a page (members and up).
#[utoipa::path(post, path = "/api/v1/status-pages", tag = "status pages", request_body = PageInput, responses((status = 201, body = StatusPage)))]
pub async fn create(
    Shared(state): Shared<State>,
    caller: Caller,
    Body(input): Body<PageInput>,
) -> Result<(StatusCode, Json<StatusPage>), ApiError> {
    caller.may_edit()?;
    let page = input.validate()?;
    let mut tx = state.pg.begin().await?;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO status_pages (team_id, slug, title, description, public) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(caller.team.0)
    .bind(&page.slug)
    .bind(&page.title)
    .bind(&page.description)
    .bind(page.public)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| slug_taken(e, &page.slug))?;
    write_contents(&mut tx, &caller, id, &page).await?;
    tx.commit().await?;
    // A cached "not found" of the slug goes.
    state.status_pages.invalidate(&page.slug).await;
    Ok((StatusCode::CREATED, Json(fetch(&state, &caller, id).await?)))
}

/// Replaces a page, its sections and monitors (members and up).
#[utoipa::path(put, path = "/api/v1/status-pages/{id}", tag = "status pages", params(("id" = uuid::Uuid, Path, description = "Status page id")), request_body = PageInput, responses((status = 200, body = StatusPage)))]
pub async fn replace(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<Uuid>,
    Body(input): Body<PageInput>,
) -> Result<Json<StatusPage>, ApiError> {
    caller.may_edit()?;
    let page = input.validate()?;
    let mut tx = state.pg.begin().await?;
    let old_slug: String =
        sqlx::query_scalar("SELECT slug FROM status_pages WHERE id = $1 AND team_id = $2 FOR UPDATE")
            .bind(id)
            .bind(caller.team.0)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| ApiError::not_found("status page"))?;
    sqlx::query("UPDATE status_pages SET slug = $2, title = $3, description = $4, public = $5 WHERE id = $1")
        .bind(id)
        .bind(&page.slug)
        .bind(&page.title)
        .bind(&page.description)
        .bind(page.public)
        .execute(&mut *tx)
        .await
        .map_err(|e| slug_taken(e, &page.slug))?;
    sqlx::query("DELETE FROM status_page_monitors WHERE page_id = $1").bind(id).execute(&mut *tx).await?;
    sqlx::query("DELETE FROM status_page_sections WHERE page_id = $1").bind(id).execute(&mut *tx).await?;
    write_contents(&mut tx, &caller, id, &page).await?;
    tx.commit().await?;
    state.status_pages.invalidate(&old_slug).await;
    state.status_pages.invalidate(&page.slug).await;
    Ok(Json(fetch(&state, &caller, id).await?))
}

/// Deletes a page (members and up).
#[utoipa::path(delete, path = "/api/v1/status-pages/{id}", tag = "status pages", params(("id" = uuid::Uuid, Path, description = "Status page id")), responses((status = 204, description = "Deleted")))]
pub async fn delete(Shared(state): Shared<State>, caller: Caller, Id(id): Id<Uuid>) -> Result<StatusCode, ApiError> {
    caller.may_edit()?;
    let slug: String = sqlx::query_scalar("DELETE FROM status_pages WHERE id = $1 AND team_id = $2 RETURNING slug")
        .bind(id)
        .bind(caller.team.0)
        .fetch_optional(&state.pg)
        .await?
        .ok_or_else(|| ApiError::not_found("status page"))?;
    state.status_pages.invalidate(&slug).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A taken slug (unique across all teams) is a 409 on `slug`.
fn slug_taken(err: sqlx::Error, slug: &str) -> ApiError {
    let taken = err
        .as_database_error()
        .is_some_and(|db| db.code().as_deref() == Some("23505") && db.constraint() == Some("status_pages_slug_key"));
    if taken { ApiError::conflict_on("slug", format!("the slug {slug:?} is taken")) } else { err.into() }
}
