//! Heartbeat pings: `/ping/<token>` and its variants, public (the secret
//! token is the credential), for jobs that cannot be probed from outside.
//!
//! - `/ping/<token>`: success; `/ping/<token>/start`: a run started (the
//!   next success records its duration); `/ping/<token>/fail`: failure;
//!   `/ping/<token>/<exit code>`: 0 is success, 1–255 failure.
//! - GET, POST or HEAD; `?rid=<run id>` pairs the start and the finish of
//!   overlapping runs. The first 10 KiB of a POST body is kept with the
//!   ping (a log tail); a longer body is cut, not refused.
//!
//! A ping is published on `heartbeats.<p>.<monitor>` and answered `200 OK`
//! once JetStream has it; the evaluator does the rest. Tokens are looked
//! up by their SHA-256 in an in-process cache (unknown ones too), so the
//! steady state never waits on Postgres. Each token may ping
//! [`PINGS_PER_TOKEN`] times per second; more is `429`.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State as Shared};
use axum::http::request::Parts;
use futures::StreamExt;
use serde::Deserialize;
use statushawk_schemas::{HeartbeatPing, MonitorId, PingKind, SCHEMA_VERSION, TeamId, now_ms, subject};

use crate::State;
use crate::auth::token_hash;
use crate::error::{ApiError, Params};

/// Pings per token and second.
pub const PINGS_PER_TOKEN: usize = 5;
/// How much of a POST body is kept.
pub const BODY_KEPT: usize = 10 * 1024;
/// How much of a body is read (and dropped past [`BODY_KEPT`]) before the
/// answer; beyond it the connection may be closed.
const BODY_READ: usize = 4 * 1024 * 1024;
/// How long a token (or its absence) is remembered.
pub const TOKEN_TTL: Duration = Duration::from_secs(60);

/// A new ping token: 160 random bits.
pub fn new_token() -> String {
    let bytes: [u8; 20] = rand::random();
    hex::encode(bytes)
}

/// Ping tokens by their SHA-256: the monitor and team, or `None` for no
/// heartbeat monitor.
pub struct Tokens {
    cache: moka::future::Cache<Vec<u8>, Option<(MonitorId, TeamId)>>,
}

impl Default for Tokens {
    fn default() -> Self {
        Self { cache: moka::future::Cache::builder().max_capacity(1_000_000).time_to_live(TOKEN_TTL).build() }
    }
}

impl Tokens {
    /// Forgets a token (rotated, or its monitor deleted).
    pub async fn forget(&self, hash: &[u8]) {
        self.cache.invalidate(hash).await;
    }

    async fn lookup(&self, pg: &sqlx::PgPool, hash: Vec<u8>) -> Result<Option<(MonitorId, TeamId)>, ApiError> {
        if let Some(found) = self.cache.get(&hash).await {
            return Ok(found);
        }
        let query = hash.clone();
        self.cache
            .try_get_with(hash, async move {
                let row: Option<(uuid::Uuid, uuid::Uuid)> = sqlx::query_as(
                    "SELECT id, team_id FROM monitors WHERE ping_token_hash = $1 AND kind = 'heartbeat'",
                )
                .bind(query)
                .fetch_optional(pg)
                .await?;
                Ok::<_, sqlx::Error>(row.map(|(m, t)| (MonitorId(m), TeamId(t))))
            })
            .await
            .map_err(|err| ApiError::from(sqlx::Error::Protocol(err.to_string())))
    }
}

/// The client's address, when the server knows it.
pub struct PeerIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip())))
    }
}

/// `?rid=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PingQuery {
    /// Run id (at most 64 characters), pairing a run's start and finish.
    pub rid: Option<String>,
}

/// A success ping.
#[utoipa::path(method(get, head, post), path = "/ping/{token}", tag = "heartbeats", security(()),
    params(("token" = String, Path, description = "The monitor's ping token"), PingQuery),
    request_body(content = String, description = "Optional: the first 10 KiB are kept (e.g. a log tail)", content_type = "text/plain"),
    responses((status = 200, description = "Received", body = String, content_type = "text/plain")))]
pub async fn success(
    Shared(state): Shared<State>,
    Path(token): Path<String>,
    Params(query): Params<PingQuery>,
    PeerIp(peer): PeerIp,
    body: Body,
) -> Result<&'static str, ApiError> {
    receive(&state, &token, None, query, peer, body).await
}

/// A ping with what happened: `start`, `fail` or an exit code (0–255).
#[utoipa::path(method(get, head, post), path = "/ping/{token}/{what}", tag = "heartbeats", security(()),
    params(("token" = String, Path, description = "The monitor's ping token"),
           ("what" = String, Path, description = "`start`, `fail`, or an exit code 0–255"), PingQuery),
    request_body(content = String, description = "Optional: the first 10 KiB are kept (e.g. a log tail)", content_type = "text/plain"),
    responses((status = 200, description = "Received", body = String, content_type = "text/plain")))]
pub async fn with_kind(
    Shared(state): Shared<State>,
    Path((token, what)): Path<(String, String)>,
    Params(query): Params<PingQuery>,
    PeerIp(peer): PeerIp,
    body: Body,
) -> Result<&'static str, ApiError> {
    receive(&state, &token, Some(&what), query, peer, body).await
}

async fn receive(
    state: &State,
    token: &str,
    what: Option<&str>,
    query: PingQuery,
    peer: Option<IpAddr>,
    body: Body,
) -> Result<&'static str, ApiError> {
    let (kind, exit_code) = match what {
        None => (PingKind::Success, None),
        Some("start") => (PingKind::Start, None),
        Some("fail") => (PingKind::Fail, None),
        Some(code) => match code.parse::<u8>() {
            Ok(0) => (PingKind::Success, Some(0)),
            Ok(code) => (PingKind::Fail, Some(code)),
            Err(_) => return Err(ApiError::invalid("what", "start, fail, or an exit code 0 to 255")),
        },
    };
    if query.rid.as_ref().is_some_and(|rid| rid.chars().count() > 64) {
        return Err(ApiError::invalid("rid", "at most 64 characters"));
    }
    let Some((monitor, team)) = state.ping_tokens.lookup(&state.pg, token_hash(token)).await? else {
        return Err(ApiError::not_found("heartbeat monitor"));
    };
    if let Err(wait) = state.pings.admit(&monitor, Instant::now()) {
        metrics::counter!("statushawk_api_pings_rate_limited_total").increment(1);
        return Err(ApiError::too_many(format!("at most {PINGS_PER_TOKEN} pings per second"), wait));
    }
    let ping = HeartbeatPing {
        schema_version: SCHEMA_VERSION,
        ping_id: uuid::Uuid::now_v7(),
        monitor_id: monitor,
        team_id: team,
        received_at_ms: now_ms(),
        kind,
        exit_code,
        run_id: query.rid,
        source_ip: peer,
        body: excerpt(body).await,
    };
    let subject = subject::heartbeat(monitor, state.topology.partitions);
    state.publisher.publish(&subject, &ping.msg_id(), &ping).await.map_err(|err| {
        tracing::warn!(error = %err, "Publishing a heartbeat ping failed.");
        ApiError::unavailable("the ping could not be stored; try again")
    })?;
    metrics::counter!("statushawk_api_pings_total").increment(1);
    Ok("OK\n")
}

/// The first [`BODY_KEPT`] bytes of a body as text, reading (and dropping)
/// at most [`BODY_READ`].
async fn excerpt(body: Body) -> Option<String> {
    let mut kept: Vec<u8> = Vec::new();
    let mut read = 0;
    let mut chunks = body.into_data_stream();
    while let Some(Ok(chunk)) = chunks.next().await {
        read += chunk.len();
        let room = BODY_KEPT - kept.len();
        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if read >= BODY_READ {
            break;
        }
    }
    let mut text = String::from_utf8_lossy(&kept).into_owned();
    // A character cut in two became U+FFFD, which may be longer.
    while text.len() > BODY_KEPT {
        text.pop();
    }
    (!text.is_empty()).then_some(text)
}
