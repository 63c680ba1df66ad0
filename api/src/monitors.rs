//! Monitors: create, read, replace, delete, pause and resume, with the
//! prober's own validation; every change is written to Postgres, then
//! published on `CONFIG` (the scheduler's and evaluator's periodic
//! reconcile heals a publish that failed).
//!
//! A monitor's credentials (HTTP header values, the HTTP body, the TCP
//! payload) are write-only: sealed with the deployment's key before they
//! reach Postgres or `CONFIG` (`monitors.secret_ciphertext`), never
//! answered (answers name the fields that are set, `secrets_set`), and
//! opened only by the services that build due checks. A `PUT` that leaves a
//! value out keeps the stored one, unless the check's target (scheme, host
//! and port) changed: then every secret must be sent again, so that moving
//! a monitor to another server never hands it the old credentials.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State as Shared;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use statushawk_common::secrets::Sealed;
use statushawk_guard::parse_ip_literal;
use statushawk_schemas::{
    CheckSpec, ConfigChange, ConfigOp, MonitorConfig, MonitorId, MonitorSpec, Region, SCHEMA_VERSION, TeamId, UnixMs,
};

use crate::State;
use crate::auth::Caller;
use crate::error::{ApiError, Body, Id};

/// A monitor as written by a client (`POST`, `PUT`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorInput {
    /// Display name, 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// What to check, tagged by `kind` (`http`, `tcp`, `icmp`, `dns`, `tls`).
    pub spec: MonitorSpec,
    /// Time between checks (ms), 10 s to 24 h; default 60 s.
    #[serde(default = "default_interval")]
    pub interval_ms: u32,
    /// Time limit of one check (ms), at most 60 s and the interval; default 10 s.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u32,
    /// Regions that check it (default: every configured region).
    #[serde(default)]
    pub regions: Vec<Region>,
    /// Consecutive failures that confirm a region down, 1 to 10; default 2.
    #[serde(default = "default_confirmations")]
    pub confirmations: u8,
    /// Consecutive successes that recover a region, 1 to 10; default 1.
    #[serde(default = "default_recoveries")]
    pub recoveries: u8,
    /// Regions down for an incident (default: a majority).
    #[serde(default)]
    pub quorum: Option<u8>,
    /// Not checked while paused.
    #[serde(default)]
    pub paused: bool,
    /// `degraded` results count as failures.
    #[serde(default)]
    pub degraded_is_failure: bool,
}

fn default_interval() -> u32 {
    60_000
}
fn default_timeout() -> u32 {
    10_000
}
fn default_confirmations() -> u8 {
    2
}
fn default_recoveries() -> u8 {
    1
}

/// A monitor as answered: its configuration as the scheduler and
/// evaluators get it on `CONFIG` (without its secrets: `sealed_secrets` is
/// never in an answer), and what only the API tells.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Monitor {
    /// The configuration (id, team, name, spec, interval, regions, ...);
    /// the spec's secret values are left out.
    #[serde(flatten)]
    pub config: MonitorConfig,
    /// The secret fields that are set (`spec.headers[0].value`,
    /// `spec.body`, `spec.send`); their values are never returned.
    pub secrets_set: Vec<String>,
    /// What it watches, in a line (`https://shop.example/health`,
    /// `db.internal:5432`, `shop.example A`, `every 300 s`).
    pub target: String,
    /// Current status (`up`, `degraded`, `down`), once it has one.
    pub status: Option<String>,
    /// Channels notified about it.
    pub channel_ids: Vec<uuid::Uuid>,
    /// Created (Unix ms).
    pub created_at_ms: UnixMs,
    /// Heartbeat monitors: the secret token of their ping URL
    /// (`/ping/<token>`), only in the answer that created or rotated it (it
    /// is stored hashed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_token: Option<String>,
}

impl MonitorInput {
    /// Checks every field against the deployment; the error names the field.
    fn validate(&mut self, state: &State) -> Result<(), ApiError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(ApiError::invalid("name", "1 to 200 characters"));
        }
        self.name = name.to_owned();
        let check = match &self.spec {
            MonitorSpec::Heartbeat(schedule) => {
                schedule.validate().map_err(|e| ApiError::invalid_in("spec", e))?;
                // Pings have no region, and a missed one cannot be re-checked.
                self.regions = vec![Region::heartbeat()];
                (self.confirmations, self.recoveries, self.quorum) = (1, 1, Some(1));
                return Ok(());
            }
            spec => spec.check(),
        };
        let Some(check) = check else { return Err(ApiError::internal("a probed monitor without a check")) };
        check.validate().map_err(|e| ApiError::invalid_in("spec", e))?;
        if let Some((field, host)) = target_host(&check)
            && let Some(ip) = parse_ip_literal(&host)
            && let Err(err) = state.guard.check_ip(&host, ip)
        {
            return Err(ApiError::invalid(format!("spec.{field}"), err.to_string()));
        }
        if !(10_000..=86_400_000).contains(&self.interval_ms) {
            return Err(ApiError::invalid("interval_ms", "between 10000 (10 s) and 86400000 (24 h)"));
        }
        if self.timeout_ms == 0 || self.timeout_ms > 60_000 || self.timeout_ms > self.interval_ms {
            return Err(ApiError::invalid("timeout_ms", "between 1 and 60000, and at most interval_ms"));
        }
        if self.regions.is_empty() {
            self.regions = state.regions.clone();
        }
        let mut seen = HashSet::new();
        for (i, region) in self.regions.iter().enumerate() {
            if !state.regions.contains(region) {
                return Err(ApiError::invalid(format!("regions[{i}]"), format!("{region} is not a configured region")));
            }
            if !seen.insert(region) {
                return Err(ApiError::invalid(format!("regions[{i}]"), format!("{region} is listed twice")));
            }
        }
        if !(1..=10).contains(&self.confirmations) {
            return Err(ApiError::invalid("confirmations", "between 1 and 10"));
        }
        if !(1..=10).contains(&self.recoveries) {
            return Err(ApiError::invalid("recoveries", "between 1 and 10"));
        }
        let regions = self.regions.len();
        if self.quorum.is_some_and(|q| q == 0 || usize::from(q) > regions) {
            return Err(ApiError::invalid("quorum", format!("between 1 and the number of regions ({regions})")));
        }
        Ok(())
    }
}

/// What `monitors` stores of a spec: its kind, its settings without the
/// secrets, the secrets sealed for the monitor, and which fields they fill.
struct StoredSpec {
    kind: String,
    settings: serde_json::Value,
    sealed: Option<Sealed>,
    secret_fields: Vec<String>,
}

impl StoredSpec {
    fn of(state: &State, id: MonitorId, spec: &MonitorSpec) -> Result<Self, ApiError> {
        let secret_fields = spec.secrets_set();
        let mut public = spec.clone();
        let secrets = public.take_secrets();
        let sealed = if secrets.is_empty() {
            None
        } else {
            let key = state.secrets.as_ref().ok_or_else(|| {
                ApiError::unavailable(
                    "monitor credentials (header values, request bodies, TCP payloads) are sealed at rest: \
                     set secrets.key (STATUSHAWK_SECRETS_KEY) on the API",
                )
            })?;
            Some(key.seal_spec_secrets(id, &secrets).map_err(ApiError::internal)?)
        };
        let serde_json::Value::Object(mut settings) = serde_json::to_value(&public).map_err(ApiError::internal)? else {
            return Err(ApiError::internal("a spec is not an object"));
        };
        let kind = settings.remove("kind").and_then(|k| k.as_str().map(str::to_owned)).unwrap_or_default();
        Ok(Self { kind, settings: serde_json::Value::Object(settings), sealed, secret_fields })
    }
}

/// Where a check sends its secrets: an HTTP URL's scheme, host and port, or
/// a TCP host and port.
fn target_of(spec: &MonitorSpec) -> Option<String> {
    match spec {
        MonitorSpec::Http(http) => {
            let url = url::Url::parse(http.url.trim()).ok()?;
            let host = url.host_str()?.to_ascii_lowercase();
            Some(format!("{}://{host}:{}", url.scheme(), url.port_or_known_default()?))
        }
        MonitorSpec::Tcp(tcp) => Some(format!("{}:{}", tcp.host.trim().to_ascii_lowercase(), tcp.port)),
        _ => None,
    }
}

/// Fills the secrets a `PUT` left out from the `stored` spec (whole, its
/// secrets opened) when the target is the same; then every header must
/// have a value. An empty body or payload means none.
fn keep_secrets(input: &mut MonitorSpec, stored: Option<MonitorSpec>) -> Result<(), ApiError> {
    let moved = stored.as_ref().is_some_and(|stored| target_of(stored) != target_of(input));
    match (&mut *input, stored) {
        (MonitorSpec::Http(new), Some(MonitorSpec::Http(old))) if !moved => {
            let mut old_values: Vec<(String, Option<String>)> =
                old.headers.into_iter().map(|h| (h.name.to_ascii_lowercase(), h.value)).collect();
            for header in new.headers.iter_mut().filter(|h| h.value.is_none()) {
                let name = header.name.to_ascii_lowercase();
                if let Some((_, value)) = old_values.iter_mut().find(|(n, v)| *n == name && v.is_some()) {
                    header.value = value.take();
                }
            }
            if new.body.is_none() {
                new.body = old.body;
            }
        }
        (MonitorSpec::Tcp(new), Some(MonitorSpec::Tcp(old))) if !moved && new.send.is_none() => new.send = old.send,
        _ => {}
    }
    match input {
        MonitorSpec::Http(http) => {
            if let Some(i) = http.headers.iter().position(|h| h.value.is_none()) {
                let reason = if moved {
                    "the target changed, so stored secrets are not kept: send this value again"
                } else {
                    "a value is needed (on PUT, leaving it out keeps the stored value of the header of that name)"
                };
                return Err(ApiError::invalid(format!("spec.headers[{i}].value"), reason));
            }
            if http.body.as_deref() == Some("") {
                http.body = None;
            }
        }
        MonitorSpec::Tcp(tcp) if tcp.send.as_deref() == Some("") => tcp.send = None,
        _ => {}
    }
    Ok(())
}

/// The field and host a check connects to, for the SSRF guard's literal
/// check at creation (names are checked when the prober resolves them).
fn target_host(check: &CheckSpec) -> Option<(&'static str, String)> {
    match check {
        CheckSpec::Http(spec) => url::Url::parse(&spec.url).ok()?.host_str().map(|h| ("url", h.to_owned())),
        CheckSpec::Tcp(spec) => Some(("host", spec.host.clone())),
        CheckSpec::Icmp(spec) => Some(("host", spec.host.clone())),
        CheckSpec::Tls(spec) => Some(("host", spec.host.clone())),
        CheckSpec::Dns(spec) => spec.resolver.as_ref().map(|r| {
            let host = r.parse::<std::net::SocketAddr>().map(|a| a.ip().to_string()).unwrap_or_else(|_| r.clone());
            ("resolver", host)
        }),
    }
}

const SELECT: &str = "SELECT m.id, m.team_id, m.name, m.kind::text AS kind, m.spec, m.interval_ms, m.timeout_ms, m.regions, \
        m.confirmations, m.recoveries, m.quorum, m.paused, m.degraded_is_failure, s.status::text AS status, \
        m.secret_ciphertext, m.secret_nonce, m.secret_fields, \
        (extract(epoch FROM m.created_at) * 1000)::bigint AS created_ms, \
        (extract(epoch FROM m.updated_at) * 1000)::bigint AS updated_ms, \
        coalesce((SELECT array_agg(mc.channel_id ORDER BY mc.channel_id) FROM monitor_channels mc \
                  WHERE mc.monitor_id = m.id), '{}') AS channel_ids \
     FROM monitors m LEFT JOIN monitor_status s ON s.monitor_id = m.id";

/// A monitor as read: the answer (no secrets) and the configuration to
/// publish on `CONFIG` (secrets sealed).
struct Read {
    answer: Monitor,
    published: MonitorConfig,
}

/// The spec of a row with `kind` and `spec` columns (the kind is a column
/// of its own, the rest of the spec JSON).
pub(crate) fn spec_of(row: &sqlx::postgres::PgRow) -> Result<MonitorSpec, ApiError> {
    let mut spec: serde_json::Value = row.try_get("spec")?;
    if let Some(object) = spec.as_object_mut() {
        object.insert("kind".into(), serde_json::Value::String(row.try_get("kind")?));
    }
    serde_json::from_value(spec).map_err(ApiError::internal)
}

fn monitor_of(row: &sqlx::postgres::PgRow) -> Result<Read, ApiError> {
    let regions: Vec<String> = row.try_get("regions")?;
    let small = |v: i16| u8::try_from(v).unwrap_or(u8::MAX);
    let config = MonitorConfig {
        id: MonitorId(row.try_get("id")?),
        team_id: TeamId(row.try_get("team_id")?),
        name: row.try_get("name")?,
        interval_ms: u32::try_from(row.try_get::<i32, _>("interval_ms")?).unwrap_or(0),
        timeout_ms: u32::try_from(row.try_get::<i32, _>("timeout_ms")?).unwrap_or(0),
        regions: regions.into_iter().filter_map(|r| Region::new(r).ok()).collect(),
        confirmations: small(row.try_get("confirmations")?),
        recoveries: small(row.try_get("recoveries")?),
        quorum: small(row.try_get("quorum")?),
        paused: row.try_get("paused")?,
        degraded_is_failure: row.try_get("degraded_is_failure")?,
        spec: spec_of(row)?,
        sealed_secrets: Sealed::from_columns(row.try_get("secret_ciphertext")?, row.try_get("secret_nonce")?)
            .map(|sealed| sealed.to_wire()),
        updated_at_ms: row.try_get("updated_ms")?,
    };
    let published = config.clone();
    // Values a monitor written before sealing still holds in the clear
    // are left out all the same.
    let mut secrets_set: Vec<String> = row.try_get("secret_fields")?;
    let mut spec = config.spec;
    for legacy in spec.secrets_set() {
        if !secrets_set.contains(&legacy) {
            secrets_set.push(legacy);
        }
    }
    spec.take_secrets();
    let answer = Monitor {
        target: spec.target(),
        config: MonitorConfig { spec, sealed_secrets: None, ..config },
        secrets_set,
        status: row.try_get("status")?,
        channel_ids: row.try_get("channel_ids")?,
        created_at_ms: row.try_get("created_ms")?,
        ping_token: None,
    };
    Ok(Read { answer, published })
}

async fn fetch(state: &State, caller: &Caller, id: MonitorId) -> Result<Read, ApiError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE m.id = $1 AND m.team_id = $2")))
        .bind(id.0)
        .bind(caller.team.0)
        .fetch_optional(&state.pg)
        .await?
        .ok_or_else(|| ApiError::not_found("monitor"))?;
    monitor_of(&row)
}

/// Tells the scheduler and evaluators (after the commit), and answers.
async fn announce(state: &State, monitor: Read) -> Monitor {
    let change = ConfigChange {
        schema_version: SCHEMA_VERSION,
        at_ms: monitor.published.updated_at_ms,
        op: ConfigOp::MonitorUpserted { monitor: Box::new(monitor.published) },
    };
    state.announce(&change).await;
    monitor.answer
}

/// The stored spec of a monitor with its secrets opened, locking the row
/// (for a `PUT` that keeps some).
async fn stored_spec(
    tx: &mut sqlx::PgConnection,
    state: &State,
    caller: &Caller,
    id: MonitorId,
) -> Result<MonitorSpec, ApiError> {
    let row = sqlx::query(
        "SELECT kind::text AS kind, spec, secret_ciphertext, secret_nonce FROM monitors \
         WHERE id = $1 AND team_id = $2 FOR UPDATE",
    )
    .bind(id.0)
    .bind(caller.team.0)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::not_found("monitor"))?;
    let mut spec: serde_json::Value = row.try_get("spec")?;
    if let Some(object) = spec.as_object_mut() {
        object.insert("kind".into(), serde_json::Value::String(row.try_get("kind")?));
    }
    let mut spec: MonitorSpec = serde_json::from_value(spec).map_err(ApiError::internal)?;
    if let Some(sealed) = Sealed::from_columns(row.try_get("secret_ciphertext")?, row.try_get("secret_nonce")?) {
        let key = state.secrets.as_ref().ok_or_else(|| ApiError::unavailable("secrets.key is not set on the API"))?;
        spec.restore_secrets(key.open_spec_secrets(id, &sealed).map_err(ApiError::internal)?);
    }
    Ok(spec)
}

/// The team's monitors.
#[utoipa::path(get, path = "/api/v1/monitors", tag = "monitors", responses((status = 200, body = Vec<Monitor>)))]
pub async fn list(Shared(state): Shared<State>, caller: Caller) -> Result<Json<Vec<Monitor>>, ApiError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE m.team_id = $1 ORDER BY m.name, m.id")))
        .bind(caller.team.0)
        .fetch_all(&state.pg)
        .await?;
    Ok(Json(rows.iter().map(|row| monitor_of(row).map(|read| read.answer)).collect::<Result<_, _>>()?))
}

/// One monitor.
#[utoipa::path(get, path = "/api/v1/monitors/{id}", tag = "monitors", params(("id" = uuid::Uuid, Path, description = "Monitor id")), responses((status = 200, body = Monitor)))]
pub async fn get(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<MonitorId>,
) -> Result<Json<Monitor>, ApiError> {
    Ok(Json(fetch(&state, &caller, id).await?.answer))
}

/// Creates a monitor.
#[utoipa::path(post, path = "/api/v1/monitors", tag = "monitors", request_body = MonitorInput, responses((status = 201, body = Monitor)))]
pub async fn create(
    Shared(state): Shared<State>,
    caller: Caller,
    Body(mut input): Body<MonitorInput>,
) -> Result<(StatusCode, Json<Monitor>), ApiError> {
    caller.may_edit()?;
    keep_secrets(&mut input.spec, None)?;
    input.validate(&state)?;
    let id = MonitorId::new();
    let stored = StoredSpec::of(&state, id, &input.spec)?;
    let regions: Vec<String> = input.regions.iter().map(|r| r.to_string()).collect();
    let token = matches!(input.spec, MonitorSpec::Heartbeat(_)).then(|| state.ping_tokens.new_token());
    sqlx::query(
        "INSERT INTO monitors (id, team_id, name, kind, spec, interval_ms, timeout_ms, regions, confirmations, \
                               recoveries, quorum, paused, degraded_is_failure, ping_token_hash, \
                               secret_ciphertext, secret_nonce, secret_fields) \
         VALUES ($1, $2, $3, $4::monitor_kind, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(id.0)
    .bind(caller.team.0)
    .bind(&input.name)
    .bind(&stored.kind)
    .bind(&stored.settings)
    .bind(input.interval_ms as i32)
    .bind(input.timeout_ms as i32)
    .bind(&regions)
    .bind(i16::from(input.confirmations))
    .bind(i16::from(input.recoveries))
    .bind(input.quorum.map(i16::from))
    .bind(input.paused)
    .bind(input.degraded_is_failure)
    .bind(token.as_deref().map(crate::auth::token_hash))
    .bind(stored.sealed.as_ref().map(|s| s.ciphertext.clone()))
    .bind(stored.sealed.as_ref().map(|s| s.nonce.clone()))
    .bind(&stored.secret_fields)
    .execute(&state.pg)
    .await?;
    let mut monitor = announce(&state, fetch(&state, &caller, id).await?).await;
    monitor.ping_token = token;
    Ok((StatusCode::CREATED, Json(monitor)))
}

/// Replaces a monitor's settings.
#[utoipa::path(put, path = "/api/v1/monitors/{id}", tag = "monitors", params(("id" = uuid::Uuid, Path, description = "Monitor id")), request_body = MonitorInput, responses((status = 200, body = Monitor)))]
pub async fn replace(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<MonitorId>,
    Body(mut input): Body<MonitorInput>,
) -> Result<Json<Monitor>, ApiError> {
    caller.may_edit()?;
    let mut tx = state.pg.begin().await?;
    let stored = stored_spec(&mut tx, &state, &caller, id).await?;
    keep_secrets(&mut input.spec, Some(stored))?;
    input.validate(&state)?;
    let spec = StoredSpec::of(&state, id, &input.spec)?;
    let regions: Vec<String> = input.regions.iter().map(|r| r.to_string()).collect();
    let majority = i16::try_from(regions.len() / 2 + 1).unwrap_or(1);
    // A monitor that becomes a heartbeat gets a token; one that stops being
    // one loses it; a heartbeat keeps its own.
    let token = state.ping_tokens.new_token();
    let updated: Option<bool> = sqlx::query_scalar(
        "UPDATE monitors SET name = $3, kind = $4::monitor_kind, spec = $5, interval_ms = $6, timeout_ms = $7, \
             regions = $8, confirmations = $9, recoveries = $10, quorum = coalesce($11, $13), paused = $12, \
             degraded_is_failure = $14, \
             ping_token_hash = CASE WHEN $4 = 'heartbeat' THEN coalesce(ping_token_hash, $15) END, \
             secret_ciphertext = $16, secret_nonce = $17, secret_fields = $18 \
         WHERE id = $1 AND team_id = $2 RETURNING ping_token_hash IS NOT DISTINCT FROM $15",
    )
    .bind(id.0)
    .bind(caller.team.0)
    .bind(&input.name)
    .bind(&spec.kind)
    .bind(&spec.settings)
    .bind(input.interval_ms as i32)
    .bind(input.timeout_ms as i32)
    .bind(&regions)
    .bind(i16::from(input.confirmations))
    .bind(i16::from(input.recoveries))
    .bind(input.quorum.map(i16::from))
    .bind(input.paused)
    .bind(majority)
    .bind(input.degraded_is_failure)
    .bind(crate::auth::token_hash(&token))
    .bind(spec.sealed.as_ref().map(|s| s.ciphertext.clone()))
    .bind(spec.sealed.as_ref().map(|s| s.nonce.clone()))
    .bind(&spec.secret_fields)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(minted) = updated else { return Err(ApiError::not_found("monitor")) };
    tx.commit().await?;
    let mut monitor = announce(&state, fetch(&state, &caller, id).await?).await;
    if minted {
        monitor.ping_token = Some(token);
    }
    Ok(Json(monitor))
}

async fn set_paused(state: &State, caller: &Caller, id: MonitorId, paused: bool) -> Result<Json<Monitor>, ApiError> {
    caller.may_edit()?;
    let updated = sqlx::query("UPDATE monitors SET paused = $3 WHERE id = $1 AND team_id = $2")
        .bind(id.0)
        .bind(caller.team.0)
        .bind(paused)
        .execute(&state.pg)
        .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::not_found("monitor"));
    }
    Ok(Json(announce(state, fetch(state, caller, id).await?).await))
}

/// Pauses a monitor: no checks until resumed.
#[utoipa::path(post, path = "/api/v1/monitors/{id}/pause", tag = "monitors", params(("id" = uuid::Uuid, Path, description = "Monitor id")), responses((status = 200, body = Monitor)))]
pub async fn pause(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<MonitorId>,
) -> Result<Json<Monitor>, ApiError> {
    set_paused(&state, &caller, id, true).await
}

/// Resumes a paused monitor.
#[utoipa::path(post, path = "/api/v1/monitors/{id}/resume", tag = "monitors", params(("id" = uuid::Uuid, Path, description = "Monitor id")), responses((status = 200, body = Monitor)))]
pub async fn resume(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<MonitorId>,
) -> Result<Json<Monitor>, ApiError> {
    set_paused(&state, &caller, id, false).await
}

/// Deletes a monitor with its history in Postgres.
#[utoipa::path(delete, path = "/api/v1/monitors/{id}", tag = "monitors", params(("id" = uuid::Uuid, Path, description = "Monitor id")), responses((status = 204, description = "Deleted")))]
pub async fn delete(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<MonitorId>,
) -> Result<StatusCode, ApiError> {
    caller.may_edit()?;
    let deleted: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("DELETE FROM monitors WHERE id = $1 AND team_id = $2 RETURNING ping_token_hash")
            .bind(id.0)
            .bind(caller.team.0)
            .fetch_optional(&state.pg)
            .await?;
    let Some(token_hash) = deleted else { return Err(ApiError::not_found("monitor")) };
    if let Some(hash) = token_hash {
        state.ping_tokens.forget(&hash).await;
    }
    let change = ConfigChange {
        schema_version: SCHEMA_VERSION,
        at_ms: statushawk_schemas::now_ms(),
        op: ConfigOp::MonitorDeleted { monitor_id: id, team_id: caller.team },
    };
    state.announce(&change).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a heartbeat monitor a new ping token; the old one stops working
/// (in this process at once, in others within [`crate::pings::TOKEN_TTL`]).
#[utoipa::path(post, path = "/api/v1/monitors/{id}/ping-token", tag = "monitors", params(("id" = uuid::Uuid, Path, description = "Monitor id")), responses((status = 200, description = "The monitor, with its new `ping_token`", body = Monitor)))]
pub async fn rotate_ping_token(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<MonitorId>,
) -> Result<Json<Monitor>, ApiError> {
    caller.may_edit()?;
    let token = state.ping_tokens.new_token();
    let old: Option<Option<Vec<u8>>> = sqlx::query_scalar(
        "WITH old AS (SELECT id, ping_token_hash FROM monitors \
                      WHERE id = $1 AND team_id = $2 AND kind = 'heartbeat' FOR UPDATE) \
         UPDATE monitors m SET ping_token_hash = $3 FROM old WHERE m.id = old.id RETURNING old.ping_token_hash",
    )
    .bind(id.0)
    .bind(caller.team.0)
    .bind(crate::auth::token_hash(&token))
    .fetch_optional(&state.pg)
    .await?;
    let Some(old) = old else { return Err(ApiError::not_found("heartbeat monitor")) };
    if let Some(old) = old {
        state.ping_tokens.forget(&old).await;
    }
    let mut monitor = fetch(&state, &caller, id).await?.answer;
    monitor.ping_token = Some(token);
    Ok(Json(monitor))
}

/// `PUT /api/v1/monitors/{id}/channels`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelLinks {
    /// The channels to notify about this monitor (replacing the current set).
    pub channel_ids: Vec<uuid::Uuid>,
}

/// Sets which of the team's channels are notified about a monitor.
#[utoipa::path(put, path = "/api/v1/monitors/{id}/channels", tag = "monitors", params(("id" = uuid::Uuid, Path, description = "Monitor id")), request_body = ChannelLinks, responses((status = 200, body = Monitor)))]
pub async fn set_channels(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<MonitorId>,
    Body(input): Body<ChannelLinks>,
) -> Result<Json<Monitor>, ApiError> {
    caller.may_edit()?;
    let mut tx = state.pg.begin().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM monitors WHERE id = $1 AND team_id = $2 FOR UPDATE)")
            .bind(id.0)
            .bind(caller.team.0)
            .fetch_one(&mut *tx)
            .await?;
    if !exists {
        return Err(ApiError::not_found("monitor"));
    }
    sqlx::query("DELETE FROM monitor_channels WHERE monitor_id = $1").bind(id.0).execute(&mut *tx).await?;
    for (i, channel) in input.channel_ids.iter().enumerate() {
        // The composite foreign key refuses a channel of another team.
        sqlx::query(
            "INSERT INTO monitor_channels (team_id, monitor_id, channel_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(caller.team.0)
        .bind(id.0)
        .bind(channel)
        .execute(&mut *tx)
        .await
        .map_err(|e| match ApiError::from(e) {
            e if e.is_invalid() => ApiError::invalid(format!("channel_ids[{i}]"), "no such channel in this team"),
            e => e,
        })?;
    }
    sqlx::query("UPDATE monitors SET updated_at = now() WHERE id = $1").bind(id.0).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(Json(announce(&state, fetch(&state, &caller, id).await?).await))
}
