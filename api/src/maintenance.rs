//! Maintenance windows: one-off, or weekly on chosen days at a local time
//! in a time zone; for one monitor or the whole team. The notifier
//! suppresses notifications while one covers a monitor.

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

/// A window, as written and as answered.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Its id (in answers; ignored when sent, so a window read can be
    /// written back).
    #[serde(default)]
    pub id: Option<Uuid>,
    /// What it is for, 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: String,
    /// The monitor it covers; absent: every monitor of the team.
    #[serde(default)]
    pub monitor_id: Option<Uuid>,
    /// When and how often.
    pub schedule: Schedule,
}

/// One-off or weekly.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// From `starts_at_ms` to `ends_at_ms`.
    OneOff {
        /// Start (Unix ms).
        #[schema(minimum = 0, maximum = 253_402_300_799_999_i64)]
        starts_at_ms: UnixMs,
        /// End (Unix ms), after the start.
        #[schema(minimum = 0, maximum = 253_402_300_799_999_i64)]
        ends_at_ms: UnixMs,
    },
    /// Every week on `weekdays` (ISO: 1 = Monday), from `start_time` (`HH:MM`
    /// local time in `timezone`) for `duration_minutes`.
    Weekly {
        /// ISO weekdays, 1 (Monday) to 7 (Sunday).
        weekdays: Vec<i16>,
        /// Local start time, `HH:MM`.
        start_time: String,
        /// Length, 1 minute to 7 days.
        duration_minutes: u32,
        /// IANA time zone, e.g. `Europe/Berlin`.
        timezone: String,
    },
}

/// The end of 9999 (Unix ms): one-off windows lie between 1970 and then.
const MAX_MS: UnixMs = 253_402_300_799_999;

const SELECT: &str = "SELECT id, title, monitor_id, kind::text AS kind, \
        (extract(epoch FROM starts_at) * 1000)::bigint AS starts_ms, (extract(epoch FROM ends_at) * 1000)::bigint AS ends_ms, \
        weekdays, to_char(start_time, 'HH24:MI') AS start_time, \
        (extract(epoch FROM duration) / 60)::integer AS duration_minutes, timezone \
     FROM maintenance_windows";

fn window_of(row: &sqlx::postgres::PgRow) -> Result<Window, ApiError> {
    let kind: String = row.try_get("kind")?;
    let schedule = if kind == "one_off" {
        Schedule::OneOff { starts_at_ms: row.try_get("starts_ms")?, ends_at_ms: row.try_get("ends_ms")? }
    } else {
        Schedule::Weekly {
            weekdays: row.try_get("weekdays")?,
            start_time: row.try_get("start_time")?,
            duration_minutes: u32::try_from(row.try_get::<i32, _>("duration_minutes")?).unwrap_or(0),
            timezone: row.try_get("timezone")?,
        }
    };
    Ok(Window {
        id: Some(row.try_get("id")?),
        title: row.try_get("title")?,
        monitor_id: row.try_get("monitor_id")?,
        schedule,
    })
}

async fn validate(state: &State, window: &Window) -> Result<(), ApiError> {
    let title = window.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(ApiError::invalid("title", "1 to 200 characters"));
    }
    match &window.schedule {
        Schedule::OneOff { starts_at_ms, .. } if !(0..=MAX_MS).contains(starts_at_ms) => {
            Err(ApiError::invalid("starts_at_ms", "a time from 1970 to 9999"))
        }
        Schedule::OneOff { ends_at_ms, .. } if !(0..=MAX_MS).contains(ends_at_ms) => {
            Err(ApiError::invalid("ends_at_ms", "a time from 1970 to 9999"))
        }
        Schedule::OneOff { starts_at_ms, ends_at_ms } if ends_at_ms <= starts_at_ms => {
            Err(ApiError::invalid("ends_at_ms", "after starts_at_ms"))
        }
        Schedule::OneOff { .. } => Ok(()),
        Schedule::Weekly { weekdays, start_time, duration_minutes, timezone } => {
            let mut days = weekdays.clone();
            days.sort_unstable();
            days.dedup();
            if days.is_empty() || days.len() != weekdays.len() || days.iter().any(|d| !(1..=7).contains(d)) {
                return Err(ApiError::invalid("weekdays", "distinct ISO weekdays, 1 (Monday) to 7 (Sunday)"));
            }
            let valid_time = start_time.len() == 5
                && start_time.as_bytes()[2] == b':'
                && start_time[..2].parse::<u8>().is_ok_and(|h| h < 24)
                && start_time[3..].parse::<u8>().is_ok_and(|m| m < 60);
            if !valid_time {
                return Err(ApiError::invalid("start_time", "HH:MM, 00:00 to 23:59"));
            }
            if !(1..=7 * 24 * 60).contains(duration_minutes) {
                return Err(ApiError::invalid("duration_minutes", "1 minute to 7 days"));
            }
            let known: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
                .bind(timezone)
                .fetch_one(&state.pg)
                .await?;
            if !known {
                return Err(ApiError::invalid("timezone", "an IANA time zone, e.g. Europe/Berlin"));
            }
            Ok(())
        }
    }
}

async fn store(state: &State, caller: &Caller, id: Uuid, window: &Window, create: bool) -> Result<(), ApiError> {
    let (starts, ends, weekdays, start_time, duration, timezone) = match &window.schedule {
        Schedule::OneOff { starts_at_ms, ends_at_ms } => {
            (Some(*starts_at_ms), Some(*ends_at_ms), None, None, None, None)
        }
        Schedule::Weekly { weekdays, start_time, duration_minutes, timezone } => (
            None,
            None,
            Some(weekdays.clone()),
            Some(start_time.clone()),
            Some(*duration_minutes as i32),
            Some(timezone.clone()),
        ),
    };
    let kind = match window.schedule {
        Schedule::OneOff { .. } => "one_off",
        Schedule::Weekly { .. } => "weekly",
    };
    let sql = if create {
        "INSERT INTO maintenance_windows (id, team_id, title, monitor_id, kind, starts_at, ends_at, weekdays, start_time, \
             duration, timezone) \
         VALUES ($1, $2, $3, $4, $5::maintenance_kind, to_timestamp($6::double precision / 1000), \
             to_timestamp($7::double precision / 1000), $8, $9::time, make_interval(mins => $10), $11)"
    } else {
        "UPDATE maintenance_windows SET title = $3, monitor_id = $4, kind = $5::maintenance_kind, \
             starts_at = to_timestamp($6::double precision / 1000), ends_at = to_timestamp($7::double precision / 1000), \
             weekdays = $8, start_time = $9::time, duration = make_interval(mins => $10), timezone = $11 \
         WHERE id = $1 AND team_id = $2"
    };
    let done = sqlx::query(sql)
        .bind(id)
        .bind(caller.team.0)
        .bind(window.title.trim())
        .bind(window.monitor_id)
        .bind(kind)
        .bind(starts)
        .bind(ends)
        .bind(weekdays)
        .bind(start_time)
        .bind(duration)
        .bind(timezone)
        .execute(&state.pg)
        .await
        .map_err(|e| match ApiError::from(e) {
            e if e.is_invalid() => ApiError::invalid("monitor_id", "no such monitor in this team"),
            e => e,
        })?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found("maintenance window"));
    }
    Ok(())
}

async fn fetch(state: &State, caller: &Caller, id: Uuid) -> Result<Window, ApiError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1 AND team_id = $2")))
        .bind(id)
        .bind(caller.team.0)
        .fetch_optional(&state.pg)
        .await?
        .ok_or_else(|| ApiError::not_found("maintenance window"))?;
    window_of(&row)
}

/// The team's windows.
#[utoipa::path(get, path = "/api/v1/maintenance", tag = "maintenance", responses((status = 200, body = Vec<Window>)))]
pub async fn list(Shared(state): Shared<State>, caller: Caller) -> Result<Json<Vec<Window>>, ApiError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE team_id = $1 ORDER BY created_at, id")))
        .bind(caller.team.0)
        .fetch_all(&state.pg)
        .await?;
    Ok(Json(rows.iter().map(window_of).collect::<Result<_, _>>()?))
}

/// One window.
#[utoipa::path(get, path = "/api/v1/maintenance/{id}", tag = "maintenance", params(("id" = uuid::Uuid, Path, description = "Window id")), responses((status = 200, body = Window)))]
pub async fn get(Shared(state): Shared<State>, caller: Caller, Id(id): Id<Uuid>) -> Result<Json<Window>, ApiError> {
    Ok(Json(fetch(&state, &caller, id).await?))
}

/// Creates a window (members and up).
#[utoipa::path(post, path = "/api/v1/maintenance", tag = "maintenance", request_body = Window, responses((status = 201, body = Window)))]
pub async fn create(
    Shared(state): Shared<State>,
    caller: Caller,
    Body(window): Body<Window>,
) -> Result<(StatusCode, Json<Window>), ApiError> {
    caller.may_edit()?;
    validate(&state, &window).await?;
    let id = Uuid::new_v4();
    store(&state, &caller, id, &window, true).await?;
    Ok((StatusCode::CREATED, Json(fetch(&state, &caller, id).await?)))
}

/// Replaces a window.
#[utoipa::path(put, path = "/api/v1/maintenance/{id}", tag = "maintenance", params(("id" = uuid::Uuid, Path, description = "Window id")), request_body = Window, responses((status = 200, body = Window)))]
pub async fn replace(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<Uuid>,
    Body(window): Body<Window>,
) -> Result<Json<Window>, ApiError> {
    caller.may_edit()?;
    validate(&state, &window).await?;
    store(&state, &caller, id, &window, false).await?;
    Ok(Json(fetch(&state, &caller, id).await?))
}

/// Deletes a window.
#[utoipa::path(delete, path = "/api/v1/maintenance/{id}", tag = "maintenance", params(("id" = uuid::Uuid, Path, description = "Window id")), responses((status = 204, description = "Deleted")))]
pub async fn delete(Shared(state): Shared<State>, caller: Caller, Id(id): Id<Uuid>) -> Result<StatusCode, ApiError> {
    caller.may_edit()?;
    let done = sqlx::query("DELETE FROM maintenance_windows WHERE id = $1 AND team_id = $2")
        .bind(id)
        .bind(caller.team.0)
        .execute(&state.pg)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found("maintenance window"));
    }
    Ok(StatusCode::NO_CONTENT)
}
