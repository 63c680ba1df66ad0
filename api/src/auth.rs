//! Who is calling: bearer tokens (only their SHA-256 is stored), the role
//! they act with in their team, and what each role may do.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use sqlx::Row;
use statushawk_schemas::TeamId;
use uuid::Uuid;

use crate::State;
use crate::error::ApiError;

/// A role in a team, from most to least powerful.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including the team itself.
    Owner,
    /// Everything but removing owners.
    Admin,
    /// Monitors, maintenance, incidents; not channels, tokens or members.
    Member,
    /// Reads only.
    Viewer,
}

impl Role {
    /// The name in Postgres (`team_role`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Viewer => "viewer",
        }
    }

    /// A role as Postgres names it (`team_role`).
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Owner, Self::Admin, Self::Member, Self::Viewer].into_iter().find(|r| r.as_str() == text)
    }

    /// A role read from a row; an unknown name is a server error.
    pub fn from_row(text: &str) -> Result<Self, ApiError> {
        Self::parse(text).ok_or_else(|| ApiError::internal(format!("unknown role {text:?} in the database")))
    }
}

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The team every query is scoped to.
    pub team: TeamId,
    /// The role it acts with.
    pub role: Role,
    /// The user, for tokens made by one.
    pub user: Option<Uuid>,
}

impl Caller {
    /// Monitors, maintenance windows, incident updates: members and up.
    pub fn may_edit(&self) -> Result<(), ApiError> {
        if self.role <= Role::Member { Ok(()) } else { Err(ApiError::forbidden("viewers cannot change anything")) }
    }

    /// Channels, tokens, members: owners and admins.
    pub fn may_administer(&self) -> Result<(), ApiError> {
        if self.role <= Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("only owners and admins manage channels, tokens and members"))
        }
    }
}

impl FromRequestParts<State> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <token>"))?;
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <token>"))?;
        let row = sqlx::query(
            "SELECT t.id, t.team_id, t.created_by, \
                    (CASE WHEN t.session THEN m.role ELSE t.role END)::text AS role, \
                    t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute' AS stale \
             FROM api_tokens t \
             LEFT JOIN memberships m ON t.session AND m.team_id = t.team_id AND m.user_id = t.created_by \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())",
        )
        .bind(token_hash(token))
        .fetch_optional(&state.pg)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown, expired or revoked token"))?;
        let role: Option<String> = row.try_get("role")?;
        let role = role.as_deref().and_then(Role::parse).ok_or_else(|| ApiError::unauthorized("no longer a member"))?;
        // When it was last used, to the minute: one write per token and
        // minute, not one per request.
        if row.try_get("stale")? {
            sqlx::query("UPDATE api_tokens SET last_used_at = now() WHERE id = $1")
                .bind(row.try_get::<Uuid, _>("id")?)
                .execute(&state.pg)
                .await?;
        }
        Ok(Self { team: TeamId(row.try_get("team_id")?), role, user: row.try_get("created_by")? })
    }
}

/// A new random token (`shk_` and 48 hex digits) and the prefix shown to
/// recognise it.
pub fn new_token() -> (String, String) {
    let bytes: [u8; 24] = rand::random();
    let token = format!("shk_{}", hex::encode(bytes));
    let prefix = token[..12].to_owned();
    (token, prefix)
}

/// What is stored of a token: its SHA-256 (tokens are 192 random bits, so
/// a fast hash is enough; passwords get argon2).
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(ApiError::internal)?;
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(ApiError::internal)
}

/// Whether `password` matches the stored PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}
