//! Who is calling: bearer tokens or the web app's session cookie
//! ([`crate::cookies`]; only a token's SHA-256 is stored), the role
//! they act with in their team, and what each role may do; and password
//! hashing, bounded so that it cannot be turned into a weapon.
//!
//! A token never has more power than the person who made it has now: a
//! login session acts with its user's current role, any other token with
//! the lesser of its own role and its creator's current role, and with
//! nothing once the creator has left the team.

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
    /// The token's id.
    pub token_id: Uuid,
    /// Whether the token is a login session (a person), not a team API
    /// token (a program).
    pub session: bool,
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
        // A bearer token wins; a browser's session cookie must be a login
        // session and, to change anything, come from the app itself.
        let from_cookie;
        let token = match parts.headers.get(axum::http::header::AUTHORIZATION) {
            Some(header) => {
                from_cookie = false;
                header
                    .to_str()
                    .ok()
                    .and_then(|h| h.strip_prefix("Bearer "))
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <token>"))?
            }
            None => {
                from_cookie = true;
                let token = crate::cookies::session_token(&parts.headers)
                    .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <token>, or sign in"))?;
                crate::cookies::check_same_origin(&parts.method, &parts.headers, &state.public_url)?;
                token
            }
        };
        // The creator's current membership bounds every token: roles are
        // declared most powerful first, so GREATEST is the lesser power, and
        // no membership (the creator left) is no role at all.
        let row = sqlx::query(
            "SELECT t.id, t.team_id, t.created_by, t.session, \
                    (CASE WHEN m.role IS NULL THEN NULL WHEN t.session THEN m.role \
                          ELSE greatest(t.role, m.role) END)::text AS role, \
                    t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute' AS stale \
             FROM api_tokens t \
             LEFT JOIN memberships m ON m.team_id = t.team_id AND m.user_id = t.created_by \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())",
        )
        .bind(token_hash(&token))
        .fetch_optional(&state.pg)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown, expired or revoked token"))?;
        let role: Option<String> = row.try_get("role")?;
        let role = role
            .as_deref()
            .and_then(Role::parse)
            .ok_or_else(|| ApiError::unauthorized("the token's creator is no longer a member of the team"))?;
        let session: bool = row.try_get("session")?;
        if from_cookie && !session {
            return Err(ApiError::unauthorized("the session cookie holds a login session only"));
        }
        let token_id: Uuid = row.try_get("id")?;
        // When it was last used, to the minute: one write per token and
        // minute, not one per request.
        if row.try_get("stale")? {
            sqlx::query("UPDATE api_tokens SET last_used_at = now() WHERE id = $1")
                .bind(token_id)
                .execute(&state.pg)
                .await?;
        }
        let team = TeamId(row.try_get("team_id")?);
        // The request's span (`router_and_state`) names the team from here on.
        tracing::Span::current().record("team_id", tracing::field::display(team));
        Ok(Self { team, role, user: row.try_get("created_by")?, token_id, session })
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

/// How long a request waits for a free hashing slot before it is told to
/// come back later.
const HASH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Password hashing and verification off the async threads, at most one
/// argon2 run per core at once (a burst of sign-ups or logins waits its
/// turn instead of taking every core), and verification of the same cost
/// whether or not the account exists (no timing oracle).
pub struct Passwords {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    /// An argon2 hash of nothing in particular, with the same parameters as
    /// real ones: what a login for an unknown account is verified against.
    dummy: tokio::sync::OnceCell<String>,
    counts: std::sync::Arc<RunCounts>,
}

/// How many argon2 runs there were, are, and were at most at once.
#[derive(Default)]
struct RunCounts {
    runs: std::sync::atomic::AtomicU64,
    running: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

impl Default for Passwords {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self::new(cores)
    }
}

impl Passwords {
    /// At most `concurrent` argon2 runs at once.
    pub fn new(concurrent: usize) -> Self {
        Self {
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(concurrent.max(1))),
            dummy: tokio::sync::OnceCell::new(),
            counts: std::sync::Arc::default(),
        }
    }

    /// How many argon2 runs have started.
    pub fn runs(&self) -> u64 {
        self.counts.runs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The most argon2 runs there were at once.
    pub fn peak(&self) -> usize {
        self.counts.peak.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        use std::sync::atomic::Ordering::Relaxed;
        let permit = tokio::time::timeout(HASH_WAIT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::too_many("the server is busy checking passwords; try again shortly", HASH_WAIT))?
            .map_err(ApiError::internal)?;
        let counts = self.counts.clone();
        metrics::counter!(crate::metrics::PASSWORD_HASHES_TOTAL).increment(1);
        // The permit lives as long as the run itself: a client that goes
        // away mid-run does not free its place while argon2 still works.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            counts.runs.fetch_add(1, Relaxed);
            let now = counts.running.fetch_add(1, Relaxed) + 1;
            counts.peak.fetch_max(now, Relaxed);
            let result = work();
            counts.running.fetch_sub(1, Relaxed);
            result
        })
        .await
        .map_err(ApiError::internal)
    }

    /// An argon2id PHC string for `password`.
    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let password = password.to_owned();
        self.run(move || hash_password(&password)).await?
    }

    /// Whether `password` matches `phc`; with no stored hash (no such
    /// account, or one without a password) it is verified against a dummy
    /// hash all the same, and is `false`.
    pub async fn verify(&self, password: &str, phc: Option<String>) -> Result<bool, ApiError> {
        let known = phc.is_some();
        let phc = match phc {
            Some(phc) => phc,
            None => self
                .dummy
                .get_or_try_init(|| async {
                    let noise = hex::encode(rand::random::<[u8; 16]>());
                    tokio::task::spawn_blocking(move || hash_password(&noise)).await.map_err(ApiError::internal)?
                })
                .await?
                .clone(),
        };
        let password = password.to_owned();
        let matches = self.run(move || verify_password(&password, &phc)).await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_passwords_are_hashed_at_once_than_there_are_permits() {
        let passwords = std::sync::Arc::new(Passwords::new(2));
        let phc = hash_password("correct horse battery").unwrap();
        let tries = (0..8).map(|i| {
            let passwords = passwords.clone();
            let phc = phc.clone();
            tokio::spawn(async move { passwords.verify(&format!("guess {i}"), Some(phc)).await })
        });
        for done in futures::future::join_all(tries).await {
            assert!(!done.unwrap().unwrap());
        }
        assert_eq!(passwords.runs(), 8);
        assert!(passwords.peak() <= 2, "{} at once", passwords.peak());
        assert!(passwords.verify("correct horse battery", Some(phc)).await.unwrap());
        assert!(!passwords.verify("correct horse battery", None).await.unwrap(), "no account, no match");
    }
}
