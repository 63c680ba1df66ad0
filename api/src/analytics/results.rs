//! A monitor's raw results in a time range, newest first, paged by a cursor.

use axum::Json;
use axum::extract::State as Shared;
use serde::{Deserialize, Serialize};
use statushawk_schemas::{MonitorId, UnixMs};

use super::{DAY_MS, ceil_div, clickhouse_error, own_monitor, range, region_filter};
use crate::State;
use crate::auth::Caller;
use crate::error::{ApiError, Id, Params};

/// `GET /api/v1/monitors/{id}/results` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ResultsQuery {
    /// From (Unix ms, inclusive); default: 24 hours before `to_ms`.
    pub from_ms: Option<UnixMs>,
    /// To (Unix ms, exclusive); default now.
    pub to_ms: Option<UnixMs>,
    /// Only this region's results.
    pub region: Option<String>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One stored check result.
#[derive(Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct StoredResult {
    /// When the check started (Unix ms, to the second).
    pub at_ms: UnixMs,
    /// The region.
    pub region: String,
    /// The schedule slot (Unix ms).
    pub slot_ms: UnixMs,
    /// 0 for the scheduled check, 1.. for confirmation re-checks.
    pub attempt: u8,
    /// `up`, `down`, `degraded` or `skipped`.
    pub status: String,
    /// The kind of failure (empty when up).
    pub error_kind: String,
    /// What went wrong, or what was checked.
    pub message: String,
    /// DNS lookup (ms).
    pub dns_ms: Option<u32>,
    /// TCP connect (ms).
    pub connect_ms: Option<u32>,
    /// TLS handshake (ms).
    pub tls_ms: Option<u32>,
    /// Time to first byte (ms).
    pub ttfb_ms: Option<u32>,
    /// The whole check (ms).
    pub total_ms: u32,
    /// HTTP status (0 if none).
    pub http_status: u16,
    /// Body bytes read.
    pub body_bytes: u32,
    /// The certificate's expiry (Unix ms).
    pub cert_expires_at_ms: Option<UnixMs>,
}

/// A page of results.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResultsPage {
    /// Newest first.
    pub results: Vec<StoredResult>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct ResultRow {
    ts: u32,
    region: String,
    slot_ms: i64,
    attempt: u8,
    status: String,
    error_kind: String,
    message: String,
    dns_ms: Option<u32>,
    connect_ms: Option<u32>,
    tls_ms: Option<u32>,
    ttfb_ms: Option<u32>,
    total_ms: u32,
    http_status: u16,
    body_bytes: u32,
    cert_expires_at: Option<u32>,
}

/// Where a page ends: the last result's (ts, slot, attempt, region).
#[derive(Debug, PartialEq)]
struct Cursor {
    ts: u32,
    slot_ms: i64,
    attempt: u8,
    region: statushawk_schemas::Region,
}

impl Cursor {
    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(4, ':');
        Some(Self {
            ts: parts.next()?.parse().ok()?,
            slot_ms: parts.next()?.parse().ok()?,
            attempt: parts.next()?.parse().ok()?,
            region: statushawk_schemas::Region::new(parts.next()?).ok()?,
        })
    }

    fn text(&self) -> String {
        format!("{}:{}:{}:{}", self.ts, self.slot_ms, self.attempt, self.region)
    }

    /// What the results query binds for the cursor: whether there is none,
    /// then its keys (zeros without one).
    fn keys(cursor: Option<&Self>) -> (bool, u32, i64, u8, String) {
        match cursor {
            Some(c) => (false, c.ts, c.slot_ms, c.attempt, c.region.to_string()),
            None => (true, 0, 0, 0, String::new()),
        }
    }
}

/// The monitor's raw results in a time range, newest first, paged.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/results", tag = "analytics", params(("id" = uuid::Uuid, Path, description = "Monitor id"), ResultsQuery), responses((status = 200, body = ResultsPage)))]
pub async fn results(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<MonitorId>,
    Params(query): Params<ResultsQuery>,
) -> Result<Json<ResultsPage>, ApiError> {
    own_monitor(&state, &caller, id).await?;
    let (from, to) = range(query.from_ms, query.to_ms, DAY_MS, 1)?;
    let limit = crate::error::count("limit", query.limit, 100, 1000)?;
    let region = region_filter(query.region.as_deref())?;
    let after = match &query.cursor {
        Some(text) => {
            Some(Cursor::parse(text).ok_or_else(|| ApiError::invalid("cursor", "not a cursor this API gave"))?)
        }
        None => None,
    };
    let (first_page, ts, slot_ms, attempt, last_region) = Cursor::keys(after.as_ref());
    let mut rows = state
        .clickhouse
        // After the cursor in the page order (every key descending), or
        // from the start without one: `Cursor::keys`.
        .query(
            "SELECT toUInt32(ts) AS ts, region, slot_ms, attempt, toString(status) AS status, error_kind, message, \
                    dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, http_status, body_bytes, cert_expires_at \
             FROM check_results WHERE monitor_id = toUUID(?) \
               AND ts >= toDateTime(?) AND ts < toDateTime(?) AND (? = '' OR region = ?) \
               AND (? OR ts < ? OR (ts = ? AND (slot_ms < ? OR (slot_ms = ? AND \
                    (attempt < ? OR (attempt = ? AND region < ?)))))) \
             ORDER BY ts DESC, slot_ms DESC, attempt DESC, region DESC LIMIT ?",
        )
        .bind(id.0.to_string())
        .bind(from.div_euclid(1000))
        .bind(ceil_div(to, 1000))
        .bind(&region)
        .bind(&region)
        .bind(u8::from(first_page))
        .bind(ts)
        .bind(ts)
        .bind(slot_ms)
        .bind(slot_ms)
        .bind(attempt)
        .bind(attempt)
        .bind(&last_region)
        .bind(limit + 1)
        .fetch_all::<ResultRow>()
        .await
        .map_err(clickhouse_error)?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = match rows.last() {
        Some(last) if more => Some(
            Cursor {
                ts: last.ts,
                slot_ms: last.slot_ms,
                attempt: last.attempt,
                region: statushawk_schemas::Region::new(last.region.clone()).map_err(ApiError::internal)?,
            }
            .text(),
        ),
        _ => None,
    };
    let results = rows
        .into_iter()
        .map(|row| StoredResult {
            at_ms: i64::from(row.ts) * 1000,
            region: row.region,
            slot_ms: row.slot_ms,
            attempt: row.attempt,
            status: row.status,
            error_kind: row.error_kind,
            message: row.message,
            dns_ms: row.dns_ms,
            connect_ms: row.connect_ms,
            tls_ms: row.tls_ms,
            ttfb_ms: row.ttfb_ms,
            total_ms: row.total_ms,
            http_status: row.http_status,
            body_bytes: row.body_bytes,
            cert_expires_at_ms: row.cert_expires_at.map(|s| i64::from(s) * 1000),
        })
        .collect();
    Ok(Json(ResultsPage { results, next_cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor =
            Cursor { ts: 1_795_824_000, slot_ms: 1_795_823_990_000, attempt: 1, region: "eu-west".parse().unwrap() };
        assert_eq!(Cursor::parse(&cursor.text()), Some(cursor));
        for bad in ["", "1:2:3", "x:2:3:eu", "1:2:3:eu'west", "1:2:300:eu"] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }
}
