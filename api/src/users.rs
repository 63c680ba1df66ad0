//! Users and their sessions: the rules for addresses and passwords, the
//! login and sign-up throttle, creating a user, a login session, checking
//! a password and proving an address. The account handlers
//! ([`crate::accounts`]) and invitations ([`crate::invitations`]) both build
//! on it; neither on the other.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sqlx::Row;
use statushawk_schemas::TeamId;
use uuid::Uuid;

use crate::State;
use crate::auth::{Role, new_token, token_hash};
use crate::client::limit_key;
use crate::error::ApiError;

/// A session: the bearer token to send, and who it is.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Session {
    /// Send as `Authorization: Bearer <token>`. Absent when the session
    /// was asked for as a cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The user.
    pub user_id: Uuid,
    /// The team the token acts in.
    pub team_id: TeamId,
    /// The user's role there.
    pub role: Role,
    /// Whether the user's e-mail address has been proven (a verification
    /// link, or an e-mailed invitation).
    pub email_verified: bool,
}

/// Days a login session lasts.
const SESSION_DAYS: i32 = 30;

/// The longest e-mail address (RFC 5321's path limit); longer input is
/// refused before any other work.
pub const EMAIL_MAX: usize = 254;
/// The longest password accepted (argon2's cost grows with it).
pub const PASSWORD_MAX: usize = 1024;

/// Login attempts per account within [`LOGIN_WINDOW`] (successful ones are
/// given back).
pub const LOGIN_ATTEMPTS_PER_ACCOUNT: usize = 10;
/// Login attempts per client address within [`LOGIN_WINDOW`].
pub const LOGIN_ATTEMPTS_PER_CLIENT: usize = 30;
/// The window of the login limits.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(300);
/// Sign-ups (and verification mails) per e-mail address within
/// [`SIGNUP_WINDOW`].
pub const SIGNUPS_PER_ACCOUNT: usize = 3;
/// Sign-ups per client address within [`SIGNUP_WINDOW`].
pub const SIGNUPS_PER_CLIENT: usize = 10;
/// The window of the sign-up limits.
pub const SIGNUP_WINDOW: Duration = Duration::from_secs(3600);

/// What an attempt is counted against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AttemptKey {
    /// The client's address (IPv6 by its /64).
    Client(Option<IpAddr>),
    /// The account's e-mail address, lower-cased.
    Account(String),
}

/// Login and sign-up attempts: each admitted against both its client
/// address and its account at once, before any password is hashed.
pub struct Attempts {
    logins: crate::throttle::Throttle<AttemptKey>,
    signups: crate::throttle::Throttle<AttemptKey>,
}

impl Default for Attempts {
    fn default() -> Self {
        Self {
            logins: crate::throttle::Throttle::new(LOGIN_ATTEMPTS_PER_ACCOUNT, LOGIN_WINDOW),
            signups: crate::throttle::Throttle::new(SIGNUPS_PER_ACCOUNT, SIGNUP_WINDOW),
        }
    }
}

impl Attempts {
    fn keys(client: Option<IpAddr>, email: &str, per_client: usize, per_account: usize) -> [(AttemptKey, usize); 2] {
        [
            (AttemptKey::Client(client.map(limit_key)), per_client),
            (AttemptKey::Account(email.to_lowercase()), per_account),
        ]
    }

    /// Admits a login attempt for `email` from `client`.
    pub fn login(&self, client: Option<IpAddr>, email: &str) -> Result<(), ApiError> {
        let keys = Self::keys(client, email, LOGIN_ATTEMPTS_PER_CLIENT, LOGIN_ATTEMPTS_PER_ACCOUNT);
        self.logins.admit_all(&keys, Instant::now()).map_err(|wait| {
            ApiError::too_many("too many login attempts for this address or from this client; try again later", wait)
        })
    }

    /// Gives a successful login's attempt back.
    pub fn login_succeeded(&self, client: Option<IpAddr>, email: &str) {
        for (key, _) in Self::keys(client, email, 0, 0) {
            self.logins.refund(&key);
        }
    }

    /// Admits a sign-up (or a verification mail) for `email` from `client`.
    pub fn signup(&self, client: Option<IpAddr>, email: &str) -> Result<(), ApiError> {
        let keys = Self::keys(client, email, SIGNUPS_PER_CLIENT, SIGNUPS_PER_ACCOUNT);
        self.signups
            .admit_all(&keys, Instant::now())
            .map_err(|wait| ApiError::too_many("too many sign-ups for this address or from this client", wait))
    }
}

/// The e-mail address, trimmed, if it can be one; checked before anything
/// else is done with a request.
pub fn check_email(email: &str) -> Result<&str, ApiError> {
    let email = email.trim();
    if email.len() > EMAIL_MAX || !email.contains('@') || email.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid("email", format!("not an e-mail address (at most {EMAIL_MAX} characters)")));
    }
    Ok(email)
}

/// A new password's length.
pub fn check_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < 10 || password.len() > PASSWORD_MAX {
        return Err(ApiError::invalid("password", format!("between 10 and {PASSWORD_MAX} characters")));
    }
    Ok(())
}

/// Whether a user has this address (in any case).
pub(crate) async fn email_taken(pg: &sqlx::PgPool, email: &str) -> Result<bool, ApiError> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1))")
        .bind(email)
        .fetch_one(pg)
        .await?)
}

/// Inserts a user; a taken address is a conflict.
pub(crate) async fn insert_user(
    tx: &mut sqlx::PgConnection,
    email: &str,
    name: &str,
    hash: &str,
    verified: bool,
) -> Result<Uuid, ApiError> {
    let name = name.trim();
    if name.chars().count() > 200 {
        return Err(ApiError::invalid("name", "at most 200 characters"));
    }
    sqlx::query_scalar(
        "INSERT INTO users (email, name, password_hash, email_verified_at) \
         VALUES ($1, $2, $3, CASE WHEN $4 THEN now() END) RETURNING id",
    )
    .bind(email)
    .bind(name)
    .bind(hash)
    .bind(verified)
    .fetch_one(tx)
    .await
    .map_err(|e| match ApiError::from(e) {
        e if e.is_conflict() => ApiError::conflict("a user with this e-mail exists; log in instead"),
        e if e.is_invalid() => ApiError::invalid("email", "not an e-mail address"),
        e => e,
    })
}

/// A login session of `user` in `team`.
pub(crate) async fn insert_session(tx: &mut sqlx::PgConnection, team: TeamId, user: Uuid) -> Result<String, ApiError> {
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

/// The user whose e-mail and password these are. Throttled per client and
/// account before any hashing; unknown accounts cost the same argon2 run.
pub(crate) async fn authenticate(
    state: &State,
    client: Option<IpAddr>,
    email: &str,
    password: &str,
) -> Result<(Uuid, bool), ApiError> {
    let refused = || ApiError::unauthorized("wrong e-mail or password");
    let email = check_email(email)?;
    if password.len() > PASSWORD_MAX {
        return Err(ApiError::invalid("password", format!("at most {PASSWORD_MAX} bytes")));
    }
    state.attempts.login(client, email)?;
    let row = sqlx::query(
        "SELECT id, password_hash, email_verified_at IS NOT NULL AS verified FROM users WHERE lower(email) = lower($1)",
    )
    .bind(email)
    .fetch_optional(&state.pg)
    .await?;
    let (user, phc, verified): (Uuid, Option<String>, bool) = match &row {
        Some(row) => (row.try_get("id")?, row.try_get("password_hash")?, row.try_get("verified")?),
        None => (Uuid::nil(), None, false),
    };
    if !state.passwords.verify(password, phc).await? {
        return Err(refused());
    }
    state.attempts.login_succeeded(client, email);
    Ok((user, verified))
}

/// What a verification proved.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Verified {
    /// The address now proven.
    pub email: String,
}

/// Proves the address a verification link was sent to (the link's token
/// works once).
pub(crate) async fn verify(state: &State, token: &str) -> Result<Verified, ApiError> {
    let mut tx = state.pg.begin().await?;
    let found: Option<(Uuid, String)> = sqlx::query_as(
        "DELETE FROM email_verifications WHERE token_hash = $1 AND expires_at > now() RETURNING user_id, email",
    )
    .bind(token_hash(token.trim()))
    .fetch_optional(&mut *tx)
    .await?;
    let (user, email) = found.ok_or_else(|| ApiError::gone("this verification link is unknown, used or expired"))?;
    let done = sqlx::query(
        "UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) \
         WHERE id = $1 AND lower(email) = lower($2)",
    )
    .bind(user)
    .bind(&email)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::gone("this verification link is for an address the account no longer has"));
    }
    sqlx::query("DELETE FROM email_verifications WHERE user_id = $1").bind(user).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(Verified { email })
}
