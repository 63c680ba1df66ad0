//! Channels: created and changed by owners and admins; secret settings are
//! sealed before they reach Postgres and never returned. Test sends and
//! verifications are asked of a notifier over NATS (`requests.channels`):
//! the API never connects to a tenant's endpoint itself.

use axum::Json;
use axum::extract::State as Shared;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use statushawk_channels::{ChannelKind, ChannelSettings, keep_secrets, secret_fields, split};
use statushawk_common::secrets::Sealed;
use statushawk_nats::async_nats::{self, RequestErrorKind};
use statushawk_schemas::{
    ChannelAnswer, ChannelId, ChannelRequest, ChannelRequestOp, ChannelUnderTest, ConfigChange, ConfigOp,
    SCHEMA_VERSION, UnixMs, subject,
};

use crate::State;
use crate::auth::Caller;
use crate::error::{ApiError, Body, Id};

/// A channel as written by a client.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    /// Display name, 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// `email`, `webhook`, `slack`, `discord`, `teams`, `telegram`,
    /// `pagerduty` or `ntfy`.
    pub kind: String,
    /// Every setting of the kind, secret ones included. On `PUT`, a secret
    /// setting left out keeps its stored value while the channel's
    /// destination (server, URL, SMTP user) stays the same; a `PUT` that
    /// changes the destination must send every stored secret again (or
    /// clear it), else it is refused naming the secret.
    pub settings: Value,
    /// Disabled channels are not notified.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Re-notify every N minutes while an incident is open (1 to 10080).
    #[serde(default)]
    pub remind_every_minutes: Option<u32>,
    /// Ask the provider first whether the webhook exists (Discord and
    /// Slack, which can say without posting anything); a deleted one is
    /// refused naming `settings.webhook_url` with the provider's answer.
    /// Other kinds are refused naming `verify`: send a test instead.
    #[serde(default)]
    pub verify: bool,
}

fn enabled() -> bool {
    true
}

/// A channel as answered: secret settings are named, never shown.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Channel {
    /// Its id.
    pub id: ChannelId,
    /// Display name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Its settings without the secret ones.
    pub settings: Value,
    /// The secret settings that are set.
    pub secrets_set: Vec<String>,
    /// Enabled.
    pub enabled: bool,
    /// Reminder period (minutes).
    pub remind_every_minutes: Option<u32>,
    /// Created (Unix ms).
    pub created_at_ms: UnixMs,
}

struct Stored {
    kind: ChannelKind,
    config: Value,
    secret: Option<Value>,
}

fn kind_of(text: &str) -> Result<ChannelKind, ApiError> {
    text.parse().map_err(|_| ApiError::invalid("kind", format!("unknown channel kind {text:?}")))
}

/// What a channel has stored: its public settings and its opened secret.
struct Previous {
    config: Value,
    secret: Option<Value>,
}

impl ChannelInput {
    /// Validates the channel and splits its settings; on a `PUT`, the
    /// `previous` secrets fill those left out (see [`settings_of`]).
    fn prepare(&self, previous: Option<&Previous>) -> Result<Stored, ApiError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(ApiError::invalid("name", "1 to 200 characters"));
        }
        if self.remind_every_minutes.is_some_and(|m| !(1..=10_080).contains(&m)) {
            return Err(ApiError::invalid("remind_every_minutes", "between 1 and 10080"));
        }
        settings_of(&self.kind, &self.settings, previous)
    }

    /// With `verify`, asks the provider (through a notifier) whether the
    /// destination exists.
    async fn verified(&self, state: &State, stored: &Stored) -> Result<(), ApiError> {
        if !self.verify {
            return Ok(());
        }
        if !stored.kind.verifiable() {
            return Err(ApiError::invalid(
                "verify",
                format!("{} channels cannot be verified; send a test instead", stored.kind),
            ));
        }
        let answer = ask_notifier(state, ChannelRequestOp::Verify, under_test(state, stored)?).await?;
        if answer.delivered {
            return Ok(());
        }
        let field = answer.field.map_or_else(|| "verify".to_owned(), |f| format!("settings.{f}"));
        Err(ApiError::invalid(field, answer.error.unwrap_or_else(|| "not verified".to_owned())))
    }
}

/// Unsaved (or changed) settings as a channel request carries them: the
/// secret sealed with the deployment's key, never in the clear on NATS.
fn under_test(state: &State, stored: &Stored) -> Result<ChannelUnderTest, ApiError> {
    let sealed_secret = match &stored.secret {
        None => None,
        Some(secret) => Some(secrets_box(state)?.seal_channel_request_secret(secret).map_err(ApiError::internal)?),
    };
    Ok(ChannelUnderTest::Settings {
        kind: stored.kind.as_str().to_owned(),
        config: stored.config.clone(),
        sealed_secret,
    })
}

/// Asks a notifier to test or verify `channel` and waits for its answer:
/// the send deadline plus a margin. No notifier running is said at once.
async fn ask_notifier(
    state: &State,
    op: ChannelRequestOp,
    channel: ChannelUnderTest,
) -> Result<ChannelAnswer, ApiError> {
    let request = ChannelRequest { schema_version: SCHEMA_VERSION, op, channel };
    let body = serde_json::to_vec(&request).map_err(ApiError::internal)?;
    let wait = state.notifier_send_timeout + std::time::Duration::from_secs(5);
    let subject = state.topology.subject(subject::CHANNEL_REQUESTS);
    let asked = state.nats.send_request(subject, async_nats::Request::new().payload(body.into()).timeout(Some(wait)));
    let reply = match asked.await {
        Ok(reply) => reply,
        Err(err) if err.kind() == RequestErrorKind::NoResponders => {
            return Err(ApiError::unavailable(
                "no notifier is running: test sends and verifications go through one (start `statushawk notifier`)",
            ));
        }
        Err(err) if err.kind() == RequestErrorKind::TimedOut => {
            return Err(ApiError::unavailable(format!("no notifier answered within {} s; try again", wait.as_secs())));
        }
        Err(err) => return Err(ApiError::unavailable(format!("asking a notifier failed: {err}"))),
    };
    let answer: ChannelAnswer = serde_json::from_slice(&reply.payload).map_err(ApiError::internal)?;
    if answer.refused {
        return Err(ApiError::unavailable(answer.error.unwrap_or_else(|| "the notifier refused the request".into())));
    }
    Ok(answer)
}

fn secrets_box(state: &State) -> Result<&statushawk_common::secrets::SecretBox, ApiError> {
    state
        .secrets
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("channel secrets need secrets.key (STATUSHAWK_SECRETS_KEY) on the API"))
}

/// A `kind` channel's `settings`, validated and split into public and
/// secret parts; with `previous` (a `PUT`, or a test of changed settings
/// of a saved channel), the stored secrets fill those left out unless the
/// destination changed (then they must all come again).
fn settings_of(kind: &str, settings: &Value, previous: Option<&Previous>) -> Result<Stored, ApiError> {
    let kind = kind_of(kind)?;
    let (config, secret) = split(kind, settings).map_err(|e| ApiError::invalid("settings", e.to_string()))?;
    let secret = match previous {
        Some(previous) => keep_secrets(kind, &previous.config, previous.secret.as_ref(), &config, secret)
            .map_err(|e| ApiError::invalid_in("settings", e))?,
        None => secret,
    };
    // Parsed to be validated; the notifier parses again what it sends.
    ChannelSettings::parse(kind, &config, secret.as_ref()).map_err(|e| ApiError::invalid_in("settings", e))?;
    Ok(Stored { kind, config, secret })
}

fn channel_of(row: &sqlx::postgres::PgRow) -> Result<Channel, ApiError> {
    let kind: String = row.try_get("kind")?;
    let has_secret: bool = row.try_get("has_secret")?;
    let secrets_set = match (has_secret, kind.parse::<ChannelKind>()) {
        // Which secret fields are set is not stored in the clear; name those
        // the kind has (their values never leave).
        (true, Ok(kind)) => secret_fields(kind).iter().map(|f| (*f).to_owned()).collect(),
        _ => Vec::new(),
    };
    Ok(Channel {
        id: ChannelId(row.try_get("id")?),
        name: row.try_get("name")?,
        kind,
        settings: row.try_get("config")?,
        secrets_set,
        enabled: row.try_get("enabled")?,
        remind_every_minutes: row.try_get::<Option<i32>, _>("remind_every_minutes")?.map(|m| m as u32),
        created_at_ms: row.try_get("created_ms")?,
    })
}

const SELECT: &str = "SELECT id, name, kind::text AS kind, config, secret_ciphertext IS NOT NULL AS has_secret, enabled, \
        remind_every_minutes, (extract(epoch FROM created_at) * 1000)::bigint AS created_ms FROM channels";

async fn fetch(state: &State, caller: &Caller, id: ChannelId) -> Result<Channel, ApiError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1 AND team_id = $2")))
        .bind(id.0)
        .bind(caller.team.0)
        .fetch_optional(&state.pg)
        .await?
        .ok_or_else(|| ApiError::not_found("channel"))?;
    channel_of(&row)
}

fn seal(state: &State, id: ChannelId, secret: Option<&Value>) -> Result<Option<Sealed>, ApiError> {
    let Some(secret) = secret else { return Ok(None) };
    secrets_box(state)?.seal_channel_secret(id, secret).map(Some).map_err(ApiError::internal)
}

async fn announce(state: &State, caller: &Caller, id: ChannelId, deleted: bool) {
    let op = if deleted {
        ConfigOp::ChannelDeleted { channel_id: id, team_id: caller.team }
    } else {
        ConfigOp::ChannelChanged { channel_id: id, team_id: caller.team }
    };
    state.announce(&ConfigChange { schema_version: SCHEMA_VERSION, at_ms: statushawk_schemas::now_ms(), op }).await;
}

/// The team's channels (any role may read them; secrets never leave).
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels", responses((status = 200, body = Vec<Channel>)))]
pub async fn list(Shared(state): Shared<State>, caller: Caller) -> Result<Json<Vec<Channel>>, ApiError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE team_id = $1 ORDER BY name, id")))
        .bind(caller.team.0)
        .fetch_all(&state.pg)
        .await?;
    Ok(Json(rows.iter().map(channel_of).collect::<Result<_, _>>()?))
}

/// One channel.
#[utoipa::path(get, path = "/api/v1/channels/{id}", tag = "channels", params(("id" = uuid::Uuid, Path, description = "Channel id")), responses((status = 200, body = Channel)))]
pub async fn get(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<ChannelId>,
) -> Result<Json<Channel>, ApiError> {
    Ok(Json(fetch(&state, &caller, id).await?))
}

/// Creates a channel.
#[utoipa::path(post, path = "/api/v1/channels", tag = "channels", request_body = ChannelInput, responses((status = 201, body = Channel)))]
pub async fn create(
    Shared(state): Shared<State>,
    caller: Caller,
    Body(input): Body<ChannelInput>,
) -> Result<(StatusCode, Json<Channel>), ApiError> {
    caller.may_administer()?;
    let stored = input.prepare(None)?;
    input.verified(&state, &stored).await?;
    let id = ChannelId::new();
    let sealed = seal(&state, id, stored.secret.as_ref())?;
    sqlx::query(
        "INSERT INTO channels (id, team_id, name, kind, config, secret_ciphertext, secret_nonce, enabled, remind_every_minutes) \
         VALUES ($1, $2, $3, $4::channel_kind, $5, $6, $7, $8, $9)",
    )
    .bind(id.0)
    .bind(caller.team.0)
    .bind(input.name.trim())
    .bind(stored.kind.as_str())
    .bind(&stored.config)
    .bind(sealed.as_ref().map(|s| s.ciphertext.clone()))
    .bind(sealed.as_ref().map(|s| s.nonce.clone()))
    .bind(input.enabled)
    .bind(input.remind_every_minutes.map(|m| m as i32))
    .execute(&state.pg)
    .await?;
    announce(&state, &caller, id, false).await;
    Ok((StatusCode::CREATED, Json(fetch(&state, &caller, id).await?)))
}

/// A channel's kind and what it has stored, its secret opened (for a `PUT`
/// that leaves some out).
async fn load_stored(state: &State, caller: &Caller, id: ChannelId) -> Result<(String, Previous), ApiError> {
    let row = sqlx::query(
        "SELECT kind::text AS kind, config, secret_ciphertext, secret_nonce FROM channels WHERE id = $1 AND team_id = $2",
    )
    .bind(id.0)
    .bind(caller.team.0)
    .fetch_optional(&state.pg)
    .await?
    .ok_or_else(|| ApiError::not_found("channel"))?;
    let kind: String = row.try_get("kind")?;
    let config: Value = row.try_get("config")?;
    let (Some(ciphertext), Some(nonce)) = (row.try_get("secret_ciphertext")?, row.try_get("secret_nonce")?) else {
        return Ok((kind, Previous { config, secret: None }));
    };
    let secrets = state.secrets.as_ref().ok_or_else(|| ApiError::unavailable("secrets.key is not set on the API"))?;
    let bytes = secrets.open(id.0.as_bytes(), &Sealed { ciphertext, nonce }).map_err(ApiError::internal)?;
    let secret = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
    Ok((kind, Previous { config, secret: Some(secret) }))
}

/// Replaces a channel's settings (secret ones left out are kept while the
/// destination stays the same).
#[utoipa::path(put, path = "/api/v1/channels/{id}", tag = "channels", params(("id" = uuid::Uuid, Path, description = "Channel id")), request_body = ChannelInput, responses((status = 200, body = Channel)))]
pub async fn replace(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<ChannelId>,
    Body(input): Body<ChannelInput>,
) -> Result<Json<Channel>, ApiError> {
    caller.may_administer()?;
    let (kind, previous) = load_stored(&state, &caller, id).await?;
    if kind != input.kind {
        return Err(ApiError::invalid("kind", "a channel's kind cannot change; create another channel"));
    }
    let stored = input.prepare(Some(&previous))?;
    input.verified(&state, &stored).await?;
    let sealed = seal(&state, id, stored.secret.as_ref())?;
    sqlx::query(
        "UPDATE channels SET name = $3, config = $4, secret_ciphertext = $5, secret_nonce = $6, enabled = $7, \
             remind_every_minutes = $8 WHERE id = $1 AND team_id = $2",
    )
    .bind(id.0)
    .bind(caller.team.0)
    .bind(input.name.trim())
    .bind(&stored.config)
    .bind(sealed.as_ref().map(|s| s.ciphertext.clone()))
    .bind(sealed.as_ref().map(|s| s.nonce.clone()))
    .bind(input.enabled)
    .bind(input.remind_every_minutes.map(|m| m as i32))
    .execute(&state.pg)
    .await?;
    announce(&state, &caller, id, false).await;
    Ok(Json(fetch(&state, &caller, id).await?))
}

/// Deletes a channel (its links and delivery log go with it).
#[utoipa::path(delete, path = "/api/v1/channels/{id}", tag = "channels", params(("id" = uuid::Uuid, Path, description = "Channel id")), responses((status = 204, description = "Deleted")))]
pub async fn delete(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<ChannelId>,
) -> Result<StatusCode, ApiError> {
    caller.may_administer()?;
    let deleted = sqlx::query("DELETE FROM channels WHERE id = $1 AND team_id = $2")
        .bind(id.0)
        .bind(caller.team.0)
        .execute(&state.pg)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::not_found("channel"));
    }
    announce(&state, &caller, id, true).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/integrations/test`: a saved channel (`channel_id`),
/// settings not saved yet (`kind` and `settings`: trying a webhook before
/// creating the channel), or a saved channel's changed settings (all
/// three: secret settings left out are the stored ones, as on `PUT`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// The saved channel to send a test notification to.
    pub channel_id: Option<ChannelId>,
    /// The kind of the settings to try (with `settings`).
    pub kind: Option<String>,
    /// Settings to try instead of the saved ones, as in [`ChannelInput`].
    pub settings: Option<Value>,
}

/// What a test send gave.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TestResult {
    /// Whether the provider took it.
    pub delivered: bool,
    /// Why not, with the provider's own message where there is one.
    pub error: Option<String>,
    /// The provider's HTTP status, for HTTP channels.
    pub http_status: Option<u16>,
}

/// Sends one test notification, now, without retries or a log row: to a
/// saved channel, or to settings before they are saved. Settings that are
/// not valid are refused (422 naming the setting) and nothing is sent.
#[utoipa::path(post, path = "/api/v1/integrations/test", tag = "channels", request_body = TestRequest, responses((status = 200, description = "Whether the test notification was delivered", body = TestResult)))]
pub async fn test(
    Shared(state): Shared<State>,
    caller: Caller,
    Body(input): Body<TestRequest>,
) -> Result<Json<TestResult>, ApiError> {
    caller.may_administer()?;
    let channel = match (input.channel_id, input.kind, input.settings) {
        (Some(id), None, None) => {
            fetch(&state, &caller, id).await?;
            ChannelUnderTest::Saved { channel_id: id, team_id: caller.team }
        }
        (id, Some(kind), Some(settings)) => {
            let previous = match id {
                Some(id) => {
                    let (stored_kind, previous) = load_stored(&state, &caller, id).await?;
                    if stored_kind != kind {
                        return Err(ApiError::invalid("kind", format!("the channel is a {stored_kind} channel")));
                    }
                    Some(previous)
                }
                None => None,
            };
            under_test(&state, &settings_of(&kind, &settings, previous.as_ref())?)?
        }
        (_, None, Some(_)) => return Err(ApiError::invalid("kind", "settings to try need their kind")),
        (_, Some(_), None) => return Err(ApiError::invalid("settings", "a kind to try needs its settings")),
        (None, None, None) => {
            return Err(ApiError::invalid("channel_id", "name a saved channel, or give a kind and its settings"));
        }
    };
    let answer = ask_notifier(&state, ChannelRequestOp::Test, channel).await?;
    Ok(Json(TestResult { delivered: answer.delivered, error: answer.error, http_status: answer.http_status }))
}
