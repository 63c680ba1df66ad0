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
//! once JetStream has it; the evaluator does the rest. Each token may ping
//! [`PINGS_PER_TOKEN`] times per second; more is `429`.
//!
//! Tokens check themselves: `hb_` and 60 hex digits, 20 random bytes and a
//! 10-byte tag, keyed BLAKE3 of the random bytes under a key derived from
//! `secrets.key` ([`TokenKey`]). A token whose tag does not verify (or of
//! any other form) is answered 404 at once: no cache, no Postgres. Known
//! tokens are looked up by their SHA-256 in an in-process cache (unknown
//! ones too), so the steady state never waits on Postgres; a cache miss
//! waits for one of [`PG_LOOKUPS`] permits, shared by every ping. Tokens
//! whose form cannot prove them genuine — 40 hex digits, minted before
//! tokens had tags, or tagged with the public checksum key (no
//! `secrets.key` when minted, or now) — may miss [`UNKNOWN_LOOKUPS`] times
//! per client address and [`UNKNOWN_WINDOW`]; then `429` with
//! `Retry-After`, before any lookup.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State as Shared};
use futures::StreamExt;
use serde::Deserialize;
use statushawk_common::secrets::SecretBox;
use statushawk_schemas::{HeartbeatPing, MonitorId, PingKind, SCHEMA_VERSION, TeamId, now_ms, subject};
use subtle::ConstantTimeEq as _;

use crate::State;
use crate::auth::token_hash;
use crate::client::{ClientIp, limit_key};
use crate::error::{ApiError, Params};
use crate::throttle::Throttle;

/// Pings per token and second.
pub const PINGS_PER_TOKEN: usize = 5;
/// How much of a POST body is kept.
pub const BODY_KEPT: usize = 10 * 1024;
/// How much of a body is read (and dropped past [`BODY_KEPT`]) before the
/// answer; beyond it the connection may be closed.
const BODY_READ: usize = 4 * 1024 * 1024;
/// Lookups of unknown tokens per client address (`client::limit_key`)
/// within [`UNKNOWN_WINDOW`], for tokens whose form cannot prove them
/// genuine (minted before tokens carried a tag, or without a secrets key).
pub const UNKNOWN_LOOKUPS: usize = 10;
/// The window of [`UNKNOWN_LOOKUPS`].
pub const UNKNOWN_WINDOW: Duration = Duration::from_secs(60);
/// Postgres lookups of ping tokens at once, from all clients together (a
/// small share of the pool, whatever a flood asks for).
pub const PG_LOOKUPS: usize = 2;
/// How long a lookup waits for one of the [`PG_LOOKUPS`] permits before
/// the ping is answered `503`.
pub const LOOKUP_WAIT: Duration = Duration::from_secs(2);
/// How long a token (or its absence) is remembered.
pub const TOKEN_TTL: Duration = Duration::from_secs(60);

/// What a new token starts with.
const PREFIX: &str = "hb_";
/// Random bytes of a token.
const RANDOM_LEN: usize = 20;
/// Bytes of its tag (80 bits: a forged tag verifies once in 2^80 tries).
const TAG_LEN: usize = 10;
/// Hex digits of a token minted before tokens had tags.
const UNTAGGED_LEN: usize = 40;
/// The purpose of the MAC key derived from `secrets.key`.
const KEY_CONTEXT: &str = "StatusHawk 2025 heartbeat ping token MAC v1";
/// The purpose of the checksum key derived from nothing (public).
const CHECKSUM_CONTEXT: &str = "StatusHawk 2025 heartbeat ping token checksum v1 (public)";

/// The keys that mint ping tokens and tell a forged one without I/O.
///
/// With `secrets.key` configured, tokens are tagged with a MAC under a key
/// derived from it (`SecretBox::subkey`): nobody without the key makes a
/// tag that verifies. Without it, the tag is a checksum under a public key:
/// it still refuses random garbage, but anyone can compute it, so such
/// tokens are treated as unproven. Tokens tagged with the checksum keep
/// working after a key is configured (as unproven ones); changing
/// `secrets.key` makes the tokens minted under the old one forged.
#[derive(Clone)]
pub struct TokenKey {
    secret: Option<[u8; 32]>,
    checksum: [u8; 32],
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey").field("secret", &self.secret.is_some()).finish_non_exhaustive()
    }
}

/// What a token's form says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Its MAC verifies: minted by this deployment.
    Genuine,
    /// It may be a token of ours, but anyone could have made it (no tag, or
    /// the public checksum): its lookups are limited per client.
    Unproven,
    /// Not a token of ours: refused without I/O.
    Forged,
}

impl TokenKey {
    /// The keys of a deployment with `secrets` (`None`: checksum only,
    /// which is logged).
    pub fn new(secrets: Option<&SecretBox>) -> Self {
        if secrets.is_none() {
            tracing::warn!(
                "secrets.key is not set: heartbeat ping tokens carry a public checksum, not a MAC; \
                 set secrets.key to make them unforgeable."
            );
        }
        Self {
            secret: secrets.map(|secrets| secrets.subkey(KEY_CONTEXT)),
            checksum: blake3::derive_key(CHECKSUM_CONTEXT, &[]),
        }
    }

    /// A new token: `hb_`, 20 random bytes and their tag, in hex.
    pub fn mint(&self) -> String {
        let random: [u8; RANDOM_LEN] = rand::random();
        let tag = tag(self.secret.as_ref().unwrap_or(&self.checksum), &random);
        format!("{PREFIX}{}{}", hex::encode(random), hex::encode(tag))
    }

    /// Judges a token by its form and tag alone.
    pub fn judge(&self, token: &str) -> Verdict {
        let lower_hex = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let Some(digits) = token.strip_prefix(PREFIX) else {
            // Tokens before tags: 40 lowercase hex digits, as they were minted.
            let untagged = token.len() == UNTAGGED_LEN && lower_hex(token);
            return if untagged { Verdict::Unproven } else { Verdict::Forged };
        };
        // Lowercase only: the stored hash is of the token as minted, so
        // another spelling of a genuine token must not cost a lookup.
        if digits.len() != 2 * (RANDOM_LEN + TAG_LEN) || !lower_hex(digits) {
            return Verdict::Forged;
        }
        let Ok(bytes) = hex::decode(digits) else { return Verdict::Forged };
        let (random, given) = bytes.split_at(RANDOM_LEN);
        let verifies = |key: &[u8; 32]| bool::from(tag(key, random).ct_eq(given));
        match &self.secret {
            Some(secret) if verifies(secret) => Verdict::Genuine,
            _ if verifies(&self.checksum) => Verdict::Unproven,
            _ => Verdict::Forged,
        }
    }
}

/// The tag of a token's random bytes under `key`.
fn tag(key: &[u8; 32], random: &[u8]) -> [u8; TAG_LEN] {
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&blake3::keyed_hash(key, random).as_bytes()[..TAG_LEN]);
    tag
}

/// Ping tokens: how they are minted and judged, and the known ones by their
/// SHA-256 (the monitor and team, or `None` for no heartbeat monitor).
pub struct Tokens {
    key: TokenKey,
    cache: moka::future::Cache<Vec<u8>, Option<(MonitorId, TeamId)>>,
    /// Lookups of unproven tokens that found nothing, per client.
    unknown: Throttle<Option<IpAddr>>,
    /// Postgres lookups at once.
    lookups: tokio::sync::Semaphore,
}

impl Tokens {
    /// Tokens minted and judged with `key`.
    pub fn new(key: TokenKey) -> Self {
        Self {
            key,
            cache: moka::future::Cache::builder().max_capacity(1_000_000).time_to_live(TOKEN_TTL).build(),
            unknown: Throttle::new(UNKNOWN_LOOKUPS, UNKNOWN_WINDOW),
            lookups: tokio::sync::Semaphore::new(PG_LOOKUPS),
        }
    }

    /// A new ping token (see [`TokenKey::mint`]).
    pub fn new_token(&self) -> String {
        self.key.mint()
    }

    /// Forgets a token (rotated, or its monitor deleted).
    pub async fn forget(&self, hash: &[u8]) {
        self.cache.invalidate(hash).await;
    }

    /// The heartbeat monitor of `token`, if there is one; `client` is who
    /// asks, for the limit on unproven tokens.
    async fn lookup(
        &self,
        pg: &sqlx::PgPool,
        token: &str,
        client: Option<IpAddr>,
    ) -> Result<Option<(MonitorId, TeamId)>, ApiError> {
        let proven = match self.key.judge(token) {
            Verdict::Forged => {
                metrics::counter!(crate::metrics::PINGS_FORGED_TOTAL).increment(1);
                return Ok(None);
            }
            Verdict::Genuine => true,
            Verdict::Unproven => false,
        };
        let hash = token_hash(token);
        if let Some(found) = self.cache.get(&hash).await {
            return Ok(found);
        }
        let client = client.map(limit_key);
        // Refused before waiting for a permit, and again once it is held
        // (lookups that waited together may have used the allowance up).
        self.admit_unproven(proven, &client)?;
        let Ok(Ok(_permit)) = tokio::time::timeout(LOOKUP_WAIT, self.lookups.acquire()).await else {
            metrics::counter!(crate::metrics::PINGS_LOOKUPS_BUSY_TOTAL).increment(1);
            return Err(ApiError::unavailable("too many ping token lookups at once; try again"));
        };
        self.admit_unproven(proven, &client)?;
        let found = self
            .cache
            .try_get_with(hash, async move {
                let row: Option<(uuid::Uuid, uuid::Uuid)> = sqlx::query_as(
                    "SELECT id, team_id FROM monitors WHERE ping_token_hash = $1 AND kind = 'heartbeat'",
                )
                .bind(token_hash(token))
                .fetch_optional(pg)
                .await?;
                Ok::<_, sqlx::Error>(row.map(|(m, t)| (MonitorId(m), TeamId(t))))
            })
            .await
            .map_err(|err| match *err {
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => ApiError::unavailable("the database is unavailable"),
                _ => ApiError::internal(err),
            })?;
        if found.is_none() && !proven {
            self.unknown.record(&client, Instant::now());
        }
        Ok(found)
    }

    /// Whether `client` may look up another unproven token.
    fn admit_unproven(&self, proven: bool, client: &Option<IpAddr>) -> Result<(), ApiError> {
        match self.unknown.wait(client, Instant::now()) {
            Some(wait) if !proven => {
                metrics::counter!(crate::metrics::PINGS_LOOKUPS_LIMITED_TOTAL).increment(1);
                Err(ApiError::too_many(
                    format!("at most {UNKNOWN_LOOKUPS} unknown ping tokens per minute from this address"),
                    wait,
                ))
            }
            _ => Ok(()),
        }
    }
}

/// `?rid=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PingQuery {
    /// Run id (at most 64 characters, no control characters), pairing a
    /// run's start and finish.
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
    ClientIp(client): ClientIp,
    body: Body,
) -> Result<&'static str, ApiError> {
    receive(&state, &token, None, query, client, body).await
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
    ClientIp(client): ClientIp,
    body: Body,
) -> Result<&'static str, ApiError> {
    receive(&state, &token, Some(&what), query, client, body).await
}

async fn receive(
    state: &State,
    token: &str,
    what: Option<&str>,
    query: PingQuery,
    client: Option<IpAddr>,
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
    if query.rid.as_ref().is_some_and(|rid| rid.chars().count() > 64 || rid.chars().any(char::is_control)) {
        return Err(ApiError::invalid("rid", "at most 64 characters, none of them control characters"));
    }
    let Some((monitor, team)) = state.ping_tokens.lookup(&state.pg, token, client).await? else {
        return Err(ApiError::not_found("heartbeat monitor"));
    };
    if let Err(wait) = state.pings.admit(&monitor, Instant::now()) {
        metrics::counter!(crate::metrics::PINGS_RATE_LIMITED_TOTAL).increment(1);
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
        source_ip: client,
        body: excerpt(body).await,
    };
    let subject = subject::heartbeat(monitor, state.topology.partitions);
    state.publisher.publish(&subject, &ping.msg_id(), &ping).await.map_err(|err| {
        tracing::warn!(error = %err, "Publishing a heartbeat ping failed.");
        ApiError::unavailable("the ping could not be stored; try again")
    })?;
    metrics::counter!(crate::metrics::PINGS_TOTAL).increment(1);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn keyed(byte: u8) -> TokenKey {
        TokenKey::new(Some(&SecretBox::new(&[byte; 32]).unwrap()))
    }

    #[test]
    fn a_minted_token_is_genuine_and_any_change_forges_it() {
        let key = keyed(1);
        let token = key.mint();
        assert!(token.starts_with("hb_") && token.len() == 63, "{token}");
        assert_eq!(key.judge(&token), Verdict::Genuine);
        for i in PREFIX.len()..token.len() {
            let mut changed = token.clone().into_bytes();
            changed[i] = if changed[i] == b'0' { b'1' } else { b'0' };
            let changed = String::from_utf8(changed).unwrap();
            assert_eq!(key.judge(&changed), Verdict::Forged, "digit {i} changed: {changed}");
        }
        assert_eq!(key.judge(&token.to_uppercase().replacen("HB_", "hb_", 1)), Verdict::Forged, "another spelling");
        assert_eq!(keyed(2).judge(&token), Verdict::Forged, "another deployment's key");
    }

    #[test]
    fn random_and_malformed_tokens_are_forged() {
        let key = keyed(1);
        for _ in 0..1_000 {
            let random = format!("hb_{}", hex::encode(rand::random::<[u8; 30]>()));
            assert_eq!(key.judge(&random), Verdict::Forged, "{random}");
        }
        for token in ["", "hb_", "hb_00", "0123456789abcdef", &"A".repeat(40), &"a".repeat(39), &"a".repeat(41)] {
            assert_eq!(key.judge(token), Verdict::Forged, "{token:?}");
        }
    }

    #[test]
    fn untagged_and_checksum_tokens_are_unproven() {
        let old = hex::encode(rand::random::<[u8; 20]>());
        assert_eq!(keyed(1).judge(&old), Verdict::Unproven, "40 hex digits: minted before tags");
        let unkeyed = TokenKey::new(None);
        let token = unkeyed.mint();
        assert_eq!(unkeyed.judge(&token), Verdict::Unproven, "anyone can compute a checksum");
        assert_eq!(keyed(1).judge(&token), Verdict::Unproven, "minted before secrets.key was set: still works");
        assert_eq!(unkeyed.judge(&keyed(1).mint()), Verdict::Forged, "a MAC is no checksum");
    }

    #[test]
    fn the_mac_key_is_a_subkey_not_the_secrets_key() {
        let key = keyed(1);
        assert_ne!(key.secret, Some([1u8; 32]));
        assert_ne!(key.secret, Some(key.checksum));
    }
}
