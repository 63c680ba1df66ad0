//! Sign-up, login and team API tokens.

use axum::Json;
use axum::extract::State as Shared;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use statushawk_schemas::{TeamId, UnixMs};
use uuid::Uuid;

use crate::State;
use crate::auth::{Caller, Role, hash_password, new_token, token_hash, verify_password};
use crate::error::{ApiError, Body, Id};

/// `POST /api/v1/signup`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    /// Login e-mail address.
    #[schema(format = Email)]
    pub email: String,
    /// At least 10 characters.
    pub password: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// The new team's name.
    pub team_name: String,
    /// The team's slug (`[a-z0-9-]`); derived from the name when absent.
    #[serde(default)]
    pub team_slug: Option<String>,
}

/// A session: the bearer token to send, and who it is.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Session {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// The user.
    pub user_id: Uuid,
    /// The team the token acts in.
    pub team_id: TeamId,
    /// The user's role there.
    pub role: Role,
}

const SESSION_DAYS: i32 = 30;

fn slug_of(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').chars().take(64).collect()
}

fn check_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < 10 || password.len() > 1024 {
        return Err(ApiError::invalid("password", "between 10 and 1024 characters"));
    }
    Ok(())
}

/// Creates a user, a team it owns, and a session.
#[utoipa::path(post, path = "/api/v1/signup", tag = "accounts", request_body = SignUp, responses((status = 201, description = "The user, its team and a session", body = Session)), security(()))]
pub async fn sign_up(
    Shared(state): Shared<State>,
    Body(input): Body<SignUp>,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    let email = input.email.trim().to_owned();
    if !email.contains('@') || email.len() > 254 {
        return Err(ApiError::invalid("email", "not an e-mail address"));
    }
    check_password(&input.password)?;
    let slug = input.team_slug.clone().unwrap_or_else(|| slug_of(&input.team_name));
    let hash = {
        let password = input.password.clone();
        tokio::task::spawn_blocking(move || hash_password(&password)).await.map_err(ApiError::internal)??
    };
    let mut tx = state.pg.begin().await?;
    let user: Uuid =
        sqlx::query_scalar("INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3) RETURNING id")
            .bind(&email)
            .bind(input.name.trim())
            .bind(&hash)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match ApiError::from(e) {
                e if e.is_conflict() => ApiError::conflict("a user with this e-mail exists; log in instead"),
                e => e,
            })?;
    let team: Uuid = sqlx::query_scalar("INSERT INTO teams (name, slug) VALUES ($1, $2) RETURNING id")
        .bind(input.team_name.trim())
        .bind(&slug)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match ApiError::from(e) {
            e if e.is_conflict() => ApiError::invalid("team_slug", format!("the slug {slug:?} is taken")),
            e if e.is_invalid() => ApiError::invalid("team_name", "1 to 100 characters, with a slug of [a-z0-9-]"),
            e => e,
        })?;
    sqlx::query("INSERT INTO memberships (team_id, user_id, role) VALUES ($1, $2, 'owner')")
        .bind(team)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    let token = insert_session(&mut tx, TeamId(team), user).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(Session { token, user_id: user, team_id: TeamId(team), role: Role::Owner })))
}

async fn insert_session(tx: &mut sqlx::PgConnection, team: TeamId, user: Uuid) -> Result<String, ApiError> {
    let (token, prefix) = new_token();
    sqlx::query(
        "INSERT INTO api_tokens (team_id, created_by, name, role, token_hash, token_prefix, session, expires_at) \
         VALUES ($1, $2, 'login', 'viewer', $3, $4, true, now() + make_interval(days => $5))",
    )
    .bind(team.0)
    .bind(user)
    .bind(token_hash(&token))
    .bind(&prefix)
    .bind(SESSION_DAYS)
    .execute(tx)
    .await?;
    Ok(token)
}

/// `POST /api/v1/login`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// E-mail address.
    pub email: String,
    /// Password.
    pub password: String,
    /// The team's slug, for users in several teams (default: the first
    /// joined).
    #[serde(default)]
    pub team: Option<String>,
}

/// Logs in with e-mail and password: a session token for 30 days.
#[utoipa::path(post, path = "/api/v1/login", tag = "accounts", request_body = Login, responses((status = 200, description = "A session for 30 days", body = Session)), security(()))]
pub async fn login(Shared(state): Shared<State>, Body(input): Body<Login>) -> Result<Json<Session>, ApiError> {
    let refused = || ApiError::unauthorized("wrong e-mail or password");
    // Guessing passwords: a few failures per address, then wait.
    let key = input.email.trim().to_lowercase();
    if let Some(wait) = state.logins.wait(&key, std::time::Instant::now()) {
        return Err(ApiError::too_many("too many failed logins for this address; try again later", wait));
    }
    let row = sqlx::query("SELECT id, password_hash FROM users WHERE lower(email) = lower($1)")
        .bind(input.email.trim())
        .fetch_optional(&state.pg)
        .await?;
    let (user, phc): (Uuid, Option<String>) = match &row {
        Some(row) => (row.try_get("id")?, row.try_get("password_hash")?),
        None => (Uuid::nil(), None),
    };
    let password = input.password.clone();
    let matches = tokio::task::spawn_blocking(move || phc.is_some_and(|phc| verify_password(&password, &phc)))
        .await
        .map_err(ApiError::internal)?;
    if !matches {
        state.logins.record(&key, std::time::Instant::now());
        return Err(refused());
    }
    let membership = sqlx::query(
        "SELECT m.team_id, m.role::text AS role FROM memberships m JOIN teams t ON t.id = m.team_id \
         WHERE m.user_id = $1 AND ($2::text IS NULL OR t.slug = $2) ORDER BY m.created_at LIMIT 1",
    )
    .bind(user)
    .bind(&input.team)
    .fetch_optional(&state.pg)
    .await?
    .ok_or_else(|| ApiError::forbidden("not a member of that team"))?;
    let team = TeamId(membership.try_get("team_id")?);
    let role: String = membership.try_get("role")?;
    let role = Role::from_row(&role)?;
    let mut conn = state.pg.acquire().await?;
    let token = insert_session(&mut conn, team, user).await?;
    Ok(Json(Session { token, user_id: user, team_id: team, role }))
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What it is for.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// The role it acts with (at most the caller's own).
    pub role: Role,
    /// Days until it expires (none: it does not).
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// A team API token as listed.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Token {
    /// Its id.
    pub id: Uuid,
    /// What it is for.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its first characters, to recognise it.
    pub prefix: String,
    /// Created (Unix ms).
    pub created_at_ms: UnixMs,
    /// Expires (Unix ms).
    pub expires_at_ms: Option<UnixMs>,
    /// Last used to authenticate a request (Unix ms, to the minute: it is
    /// recorded at most once a minute); none if never.
    pub last_used_at_ms: Option<UnixMs>,
    /// The token itself: only in the answer that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Creates an API token; the token is shown once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "accounts", request_body = NewToken, responses((status = 201, description = "The token, shown this once", body = Token)))]
pub async fn create_token(
    Shared(state): Shared<State>,
    caller: Caller,
    Body(input): Body<NewToken>,
) -> Result<(StatusCode, Json<Token>), ApiError> {
    caller.may_administer()?;
    if input.role < caller.role {
        return Err(ApiError::forbidden("a token cannot have more power than its creator"));
    }
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "1 to 100 characters"));
    }
    if input.expires_in_days.is_some_and(|d| !(1..=3650).contains(&d)) {
        return Err(ApiError::invalid("expires_in_days", "between 1 and 3650"));
    }
    let (token, prefix) = new_token();
    let row = sqlx::query(
        "INSERT INTO api_tokens (team_id, created_by, name, role, token_hash, token_prefix, expires_at) \
         VALUES ($1, $2, $3, $4::team_role, $5, $6, now() + make_interval(days => $7)) \
         RETURNING id, (extract(epoch FROM created_at) * 1000)::bigint AS created_ms, \
                   (extract(epoch FROM expires_at) * 1000)::bigint AS expires_ms",
    )
    .bind(caller.team.0)
    .bind(caller.user)
    .bind(name)
    .bind(input.role.as_str())
    .bind(token_hash(&token))
    .bind(&prefix)
    .bind(input.expires_in_days.map(|d| d as i32))
    .fetch_one(&state.pg)
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(Token {
            id: row.try_get("id")?,
            name: name.to_owned(),
            role: input.role,
            prefix,
            created_at_ms: row.try_get("created_ms")?,
            expires_at_ms: row.try_get("expires_ms")?,
            last_used_at_ms: None,
            token: Some(token),
        }),
    ))
}

/// The team's API tokens (not login sessions), without the tokens.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "accounts", responses((status = 200, body = Vec<Token>)))]
pub async fn list_tokens(Shared(state): Shared<State>, caller: Caller) -> Result<Json<Vec<Token>>, ApiError> {
    caller.may_administer()?;
    let rows = sqlx::query(
        "SELECT id, name, role::text AS role, token_prefix, (extract(epoch FROM created_at) * 1000)::bigint AS created_ms, \
                (extract(epoch FROM expires_at) * 1000)::bigint AS expires_ms, \
                (extract(epoch FROM last_used_at) * 1000)::bigint AS last_used_ms \
         FROM api_tokens WHERE team_id = $1 AND NOT session AND revoked_at IS NULL ORDER BY created_at",
    )
    .bind(caller.team.0)
    .fetch_all(&state.pg)
    .await?;
    let tokens = rows
        .iter()
        .map(|row| {
            let role: String = row.try_get("role")?;
            Ok(Token {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                role: Role::from_row(&role)?,
                prefix: row.try_get("token_prefix")?,
                created_at_ms: row.try_get("created_ms")?,
                expires_at_ms: row.try_get("expires_ms")?,
                last_used_at_ms: row.try_get("last_used_ms")?,
                token: None,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(tokens))
}

/// Revokes a token of the team.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "accounts", params(("id" = uuid::Uuid, Path, description = "Token id")), responses((status = 204, description = "Revoked")))]
pub async fn revoke_token(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<Uuid>,
) -> Result<StatusCode, ApiError> {
    caller.may_administer()?;
    let done =
        sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND team_id = $2 AND revoked_at IS NULL")
            .bind(id)
            .bind(caller.team.0)
            .execute(&state.pg)
            .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found("token"));
    }
    Ok(StatusCode::NO_CONTENT)
}
