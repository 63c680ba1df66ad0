//! Sign-up, login, address verification and team API tokens: the handlers,
//! on the users and sessions of [`crate::users`].
//!
//! Passwords cost an argon2 run, so nothing reaches one before the cheap
//! checks: the e-mail address and password are bounded in size, and every
//! attempt is admitted by one throttle per client address and per account
//! in one step ([`crate::users::Attempts`]), before any hashing. Hashing itself is bounded
//! per process ([`crate::auth::Passwords`]), and a login for an account
//! that does not exist costs the same verification as one that does.

use std::net::IpAddr;

use axum::Json;
use axum::extract::State as Shared;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use statushawk_schemas::{TeamId, UnixMs};
use uuid::Uuid;

use crate::State;
use crate::auth::{Caller, Role, new_token, token_hash};
use crate::client::ClientIp;
use crate::cookies;
use crate::error::{ApiError, Body, Id};
use crate::users::{
    Session, Verified, authenticate, check_email, check_password, email_taken, insert_session, insert_user, verify,
};

/// `POST /api/v1/signup`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    /// Login e-mail address (at most 254 characters).
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 10 to 1024 characters.
    #[schema(min_length = 10, max_length = 1024)]
    pub password: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// The new team's name; not with `invite_token` (the user joins the
    /// inviting team instead).
    #[serde(default)]
    pub team_name: Option<String>,
    /// The team's slug (`[a-z0-9-]`); derived from the name when absent.
    #[serde(default)]
    pub team_slug: Option<String>,
    /// An invitation's token: sign up into the team that sent it, with its
    /// role.
    #[serde(default)]
    pub invite_token: Option<String>,
    /// Answer the session as an HttpOnly cookie for the web app instead of
    /// a token in the body (needs the `x-statushawk-csrf` header).
    #[serde(default)]
    pub cookie: bool,
}

/// Days a verification link works.
const VERIFICATION_DAYS: i32 = 2;

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

/// Creates a user and either a team it owns or (with `invite_token`) its
/// membership in the inviting team, and a session. With a system mail
/// server configured, a new address is sent a verification link.
#[utoipa::path(post, path = "/api/v1/signup", tag = "accounts", request_body = SignUp, responses((status = 201, description = "The user, its team and a session", body = Session)), security(()))]
pub async fn sign_up(
    Shared(state): Shared<State>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Body(input): Body<SignUp>,
) -> Result<Response, ApiError> {
    if input.cookie {
        cookies::check_same_origin(&Method::POST, &headers, &state.public_url)?;
    }
    let session = match input.invite_token.as_deref() {
        Some(token) => {
            if input.team_name.is_some() || input.team_slug.is_some() {
                return Err(ApiError::invalid("team_name", "not with invite_token: you join the inviting team"));
            }
            crate::invitations::sign_up_invited(&state, client, &input.email, &input.password, &input.name, token)
                .await?
        }
        None => sign_up_with_team(&state, client, &input).await?,
    };
    deliver(&state, session, input.cookie, StatusCode::CREATED)
}

/// The answer that hands a new session over: its token in the body, or
/// with `cookie` only in the HttpOnly session cookie.
fn deliver(state: &State, mut session: Session, cookie: bool, status: StatusCode) -> Result<Response, ApiError> {
    let mut headers = HeaderMap::new();
    if cookie && let Some(token) = session.token.take() {
        headers.insert(header::SET_COOKIE, cookies::session_cookie(&token, &state.public_url)?);
    }
    Ok((status, headers, Json(session)).into_response())
}

/// Who is signed in, for the web app (which cannot read its cookie).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    /// The user (`None` for a team API token: a program, not a person).
    pub user_id: Option<Uuid>,
    /// The user's address.
    pub email: Option<String>,
    /// The user's display name.
    pub name: Option<String>,
    /// Whether the address is proven.
    pub email_verified: bool,
    /// The team the credentials act in.
    pub team: TeamSummary,
    /// The role they act with there.
    pub role: Role,
    /// Whether the credentials are a login session.
    pub session: bool,
    /// Every team the user is a member of, for a team switcher.
    pub teams: Vec<TeamSummary>,
}

/// A team and the user's role in it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TeamSummary {
    /// The team.
    pub id: TeamId,
    /// Its name.
    pub name: String,
    /// Its slug (`login`'s `team`).
    pub slug: String,
    /// The user's role in it.
    pub role: Role,
}

/// The caller: user, team and role, and the user's other teams.
#[utoipa::path(get, path = "/api/v1/session", tag = "accounts", responses((status = 200, description = "Who is calling", body = Me)))]
pub async fn me(Shared(state): Shared<State>, caller: Caller) -> Result<Json<Me>, ApiError> {
    let (name, slug): (String, String) =
        sqlx::query_as("SELECT name, slug FROM teams WHERE id = $1").bind(caller.team.0).fetch_one(&state.pg).await?;
    let team = TeamSummary { id: caller.team, name, slug, role: caller.role };
    let Some(user) = caller.user.filter(|_| caller.session) else {
        return Ok(Json(Me {
            user_id: None,
            email: None,
            name: None,
            email_verified: false,
            teams: Vec::new(),
            team,
            role: caller.role,
            session: false,
        }));
    };
    let (email, user_name, verified): (String, String, bool) =
        sqlx::query_as("SELECT email, name, email_verified_at IS NOT NULL FROM users WHERE id = $1")
            .bind(user)
            .fetch_one(&state.pg)
            .await?;
    let rows: Vec<(Uuid, String, String, String)> = sqlx::query_as(
        "SELECT t.id, t.name, t.slug, m.role::text FROM memberships m JOIN teams t ON t.id = m.team_id \
         WHERE m.user_id = $1 ORDER BY t.name, t.slug",
    )
    .bind(user)
    .fetch_all(&state.pg)
    .await?;
    let teams = rows
        .into_iter()
        .map(|(id, name, slug, role)| Ok(TeamSummary { id: TeamId(id), name, slug, role: Role::from_row(&role)? }))
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(Me {
        user_id: Some(user),
        email: Some(email),
        name: Some(user_name),
        email_verified: verified,
        team,
        role: caller.role,
        session: true,
        teams,
    }))
}

/// `POST /api/v1/session/team`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchTeam {
    /// The slug of another team of the user's.
    pub team: String,
    /// Answer the new session as the web app's cookie (as on `/login`).
    #[serde(default)]
    pub cookie: bool,
}

/// Switches a login session to another team of its user: a new session
/// there, and the calling one revoked.
#[utoipa::path(post, path = "/api/v1/session/team", tag = "accounts", request_body = SwitchTeam, responses(
    (status = 200, description = "A session in the other team", body = Session),
    (status = 403, description = "Not a member of that team"),
))]
pub async fn switch_team(
    Shared(state): Shared<State>,
    caller: Caller,
    Body(input): Body<SwitchTeam>,
) -> Result<Response, ApiError> {
    let user = match (caller.session, caller.user) {
        (true, Some(user)) => user,
        _ => return Err(ApiError::forbidden("only a person's login session switches teams")),
    };
    let mut tx = state.pg.begin().await?;
    let membership: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT m.team_id, m.role::text FROM memberships m JOIN teams t ON t.id = m.team_id \
         WHERE m.user_id = $1 AND t.slug = $2",
    )
    .bind(user)
    .bind(&input.team)
    .fetch_optional(&mut *tx)
    .await?;
    let (team, role) = membership.ok_or_else(|| ApiError::forbidden("not a member of that team"))?;
    let verified: bool = sqlx::query_scalar("SELECT email_verified_at IS NOT NULL FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE id = $1")
        .bind(caller.token_id)
        .execute(&mut *tx)
        .await?;
    let token = insert_session(&mut tx, TeamId(team), user).await?;
    tx.commit().await?;
    let session = Session {
        token: Some(token),
        user_id: user,
        team_id: TeamId(team),
        role: Role::from_row(&role)?,
        email_verified: verified,
    };
    deliver(&state, session, input.cookie, StatusCode::OK)
}

/// Signs out: the caller's login session is revoked, and its cookie
/// cleared. Team API tokens are revoked with `DELETE /tokens/{id}`.
#[utoipa::path(post, path = "/api/v1/logout", tag = "accounts", responses(
    (status = 204, description = "The session is revoked and its cookie cleared"),
    (status = 409, description = "The token is a team API token, not a login session"),
))]
pub async fn logout(Shared(state): Shared<State>, caller: Caller) -> Result<Response, ApiError> {
    if !caller.session {
        return Err(ApiError::conflict("this is a team API token: revoke it with DELETE /api/v1/tokens/{id}"));
    }
    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
        .bind(caller.token_id)
        .execute(&state.pg)
        .await?;
    let mut headers = HeaderMap::new();
    headers.insert(header::SET_COOKIE, cookies::cleared_cookie(&state.public_url)?);
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

async fn sign_up_with_team(state: &State, client: Option<IpAddr>, input: &SignUp) -> Result<Session, ApiError> {
    let email = check_email(&input.email)?;
    check_password(&input.password)?;
    let team_name = input.team_name.as_deref().map(str::trim).unwrap_or_default();
    if team_name.is_empty() {
        return Err(ApiError::invalid("team_name", "the new team's name (or sign up with an invite_token)"));
    }
    state.attempts.signup(client, email)?;
    // A taken address costs no hash.
    if email_taken(&state.pg, email).await? {
        return Err(ApiError::conflict("a user with this e-mail exists; log in instead"));
    }
    let slug = input.team_slug.clone().unwrap_or_else(|| slug_of(team_name));
    let hash = state.passwords.hash(&input.password).await?;
    let mut tx = state.pg.begin().await?;
    let user = insert_user(&mut tx, email, &input.name, &hash, false).await?;
    let team: Uuid = sqlx::query_scalar("INSERT INTO teams (name, slug) VALUES ($1, $2) RETURNING id")
        .bind(team_name)
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
    if state.system_mail {
        send_verification(state, &mut tx, user, email).await?;
    }
    let token = insert_session(&mut tx, TeamId(team), user).await?;
    tx.commit().await?;
    Ok(Session { token: Some(token), user_id: user, team_id: TeamId(team), role: Role::Owner, email_verified: false })
}

/// A new one-time link for proving an address (`ver_` and 48 hex digits).
fn new_link_token(prefix: &str) -> String {
    format!("{prefix}_{}", hex::encode(rand::random::<[u8; 24]>()))
}

/// Writes a verification link for `email` to the system mail queue.
async fn send_verification(
    state: &State,
    tx: &mut sqlx::PgConnection,
    user: Uuid,
    email: &str,
) -> Result<(), ApiError> {
    let token = new_link_token("ver");
    sqlx::query(
        "INSERT INTO email_verifications (token_hash, user_id, email, expires_at) \
         VALUES ($1, $2, $3, now() + make_interval(days => $4))",
    )
    .bind(token_hash(&token))
    .bind(user)
    .bind(email)
    .bind(VERIFICATION_DAYS)
    .execute(&mut *tx)
    .await?;
    let link = format!("{}/verify-email/{token}", state.public_url.trim_end_matches('/'));
    let body = format!(
        "Confirm that {email} is your address on StatusHawk by opening this link:\n\n{link}\n\n\
         The link works once and expires in {VERIFICATION_DAYS} days. If you did not sign up, ignore this \
         message: nothing happens without the link.\n"
    );
    crate::mail::enqueue(tx, "verification", email, "Confirm your e-mail address for StatusHawk", &body).await
}

/// `POST /api/v1/login`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// E-mail address.
    #[schema(max_length = 254)]
    pub email: String,
    /// Password.
    #[schema(max_length = 1024)]
    pub password: String,
    /// The team's slug, for users in several teams (default: the first
    /// joined).
    #[serde(default)]
    pub team: Option<String>,
    /// Answer the session as an HttpOnly cookie for the web app instead of
    /// a token in the body (needs the `x-statushawk-csrf` header).
    #[serde(default)]
    pub cookie: bool,
}

/// Logs in with e-mail and password: a session token for 30 days.
#[utoipa::path(post, path = "/api/v1/login", tag = "accounts", request_body = Login, responses((status = 200, description = "A session for 30 days", body = Session)), security(()))]
pub async fn login(
    Shared(state): Shared<State>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Body(input): Body<Login>,
) -> Result<Response, ApiError> {
    if input.cookie {
        cookies::check_same_origin(&Method::POST, &headers, &state.public_url)?;
    }
    let (user, email_verified) = authenticate(&state, client, &input.email, &input.password).await?;
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
    deliver(
        &state,
        Session { token: Some(token), user_id: user, team_id: team, role, email_verified },
        input.cookie,
        StatusCode::OK,
    )
}

/// `POST /api/v1/verify-email`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// The token of the verification link (`ver_...`).
    pub token: String,
}

/// Proves an address with the token of its verification link.
#[utoipa::path(post, path = "/api/v1/verify-email", tag = "accounts", request_body = Verification, responses((status = 200, description = "The address is proven", body = Verified)), security(()))]
pub async fn verify_email(
    Shared(state): Shared<State>,
    Body(input): Body<Verification>,
) -> Result<Json<Verified>, ApiError> {
    Ok(Json(verify(&state, &input.token).await?))
}

/// Sends the signed-in user a new verification link (when the deployment
/// has a mail server).
#[utoipa::path(post, path = "/api/v1/verify-email/resend", tag = "accounts", responses(
    (status = 202, description = "A new link is on its way"),
    (status = 409, description = "The address is verified already, or this deployment sends no mail (its addresses need no verification)"),
))]
pub async fn resend_verification(
    Shared(state): Shared<State>,
    ClientIp(client): ClientIp,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    let user = match (caller.session, caller.user) {
        (true, Some(user)) => user,
        _ => return Err(ApiError::forbidden("only a person's login session has an address to verify")),
    };
    if !state.system_mail {
        return Err(ApiError::conflict(
            "this deployment has no mail server ([email] smtp_host), so addresses need no verification",
        ));
    }
    let (email, verified): (String, bool) =
        sqlx::query_as("SELECT email, email_verified_at IS NOT NULL FROM users WHERE id = $1")
            .bind(user)
            .fetch_one(&state.pg)
            .await?;
    if verified {
        return Err(ApiError::conflict("this address is already verified"));
    }
    state.attempts.signup(client, &email)?;
    let mut tx = state.pg.begin().await?;
    send_verification(&state, &mut tx, user, &email).await?;
    tx.commit().await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What it is for.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// The role it acts with: at most the caller's own, and never more than
    /// its creator's current role in the team.
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
    /// The role it was given; it acts with at most its creator's current
    /// role, and with none once its creator has left the team.
    pub role: Role,
    /// Its first characters, to recognise it.
    pub prefix: String,
    /// Who created it (none if that user was deleted).
    pub created_by: Option<Uuid>,
    /// The creator's e-mail address.
    pub created_by_email: Option<String>,
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
    let Some(creator) = caller.user else {
        return Err(ApiError::forbidden("tokens are made by people: use a login session or a token made by one"));
    };
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
                   (extract(epoch FROM expires_at) * 1000)::bigint AS expires_ms, \
                   (SELECT email FROM users WHERE id = $2) AS creator_email",
    )
    .bind(caller.team.0)
    .bind(creator)
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
            created_by: Some(creator),
            created_by_email: row.try_get("creator_email")?,
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
        "SELECT t.id, t.name, t.role::text AS role, t.token_prefix, t.created_by, u.email AS creator_email, \
                (extract(epoch FROM t.created_at) * 1000)::bigint AS created_ms, \
                (extract(epoch FROM t.expires_at) * 1000)::bigint AS expires_ms, \
                (extract(epoch FROM t.last_used_at) * 1000)::bigint AS last_used_ms \
         FROM api_tokens t LEFT JOIN users u ON u.id = t.created_by \
         WHERE t.team_id = $1 AND NOT t.session AND t.revoked_at IS NULL ORDER BY t.created_at",
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
                created_by: row.try_get("created_by")?,
                created_by_email: row.try_get("creator_email")?,
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
