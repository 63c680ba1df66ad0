//! Invitations: an admin invites an address with a role, and nobody joins
//! until the invitation's one-time token is presented. The token is shown
//! once to the inviting admin (as a link to pass on) and, when the
//! deployment has a mail server, e-mailed to the address; only its SHA-256
//! is stored. An invitation binds to its token, never to whoever registered
//! the address:
//!
//! - a link-only invitation (no mail server) may be accepted by whoever holds
//!   the token, signed in (any address) or signing up with it;
//! - an e-mailed invitation only by the invited address, proven: signed in
//!   with that address already verified, or signing up with it through the
//!   link (which proves it). An unverified account squatting on the address
//!   gets nothing, and loses the address to the person who proves it.
//!
//! A new invitation of the same address replaces the pending one; pending
//! invitations are listed, revocable, and expire after [`INVITATION_DAYS`].
//! `/invite/<token>` is a small HTML page (no script) with which a person
//! who got the link signs up or signs in to accept it.

use std::net::IpAddr;

use askama::Template;
use axum::Json;
use axum::extract::{Path, State as Shared};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use statushawk_schemas::{TeamId, UnixMs};
use uuid::Uuid;

use crate::State;
use crate::auth::{Caller, Role, token_hash};
use crate::client::ClientIp;
use crate::error::{ApiError, Body, Id};
use crate::users::{Session, check_email, check_password, insert_session, insert_user};

/// Days an invitation can be accepted.
pub const INVITATION_DAYS: i32 = 7;

/// `POST /api/v1/invitations`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    /// The person's e-mail address.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// The role they get when they accept.
    pub role: Role,
}

/// An invitation as listed.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Invitation {
    /// Its id.
    pub id: Uuid,
    /// The address invited.
    pub email: String,
    /// The role it gives.
    pub role: Role,
    /// The admin who sent it.
    pub invited_by: Option<Uuid>,
    /// Their e-mail address.
    pub invited_by_email: Option<String>,
    /// Whether the deployment e-mailed it (then only that address, proven,
    /// can accept it).
    pub emailed: bool,
    /// Sent (Unix ms).
    pub created_at_ms: UnixMs,
    /// Expires (Unix ms).
    pub expires_at_ms: UnixMs,
    /// Whether it has expired.
    pub expired: bool,
    /// The one-time token: only in the answer that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The link to pass on to the person (`<api.public_url>/invite/<token>`):
    /// only in the answer that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

const SELECT: &str = "SELECT i.id, i.email, i.role::text AS role, i.invited_by, u.email AS inviter_email, i.emailed, \
        (extract(epoch FROM i.created_at) * 1000)::bigint AS created_ms, \
        (extract(epoch FROM i.expires_at) * 1000)::bigint AS expires_ms, i.expires_at <= now() AS expired \
     FROM invitations i LEFT JOIN users u ON u.id = i.invited_by";

fn invitation_of(row: &sqlx::postgres::PgRow) -> Result<Invitation, ApiError> {
    Ok(Invitation {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        role: Role::from_row(&row.try_get::<String, _>("role")?)?,
        invited_by: row.try_get("invited_by")?,
        invited_by_email: row.try_get("inviter_email")?,
        emailed: row.try_get("emailed")?,
        created_at_ms: row.try_get("created_ms")?,
        expires_at_ms: row.try_get("expires_ms")?,
        expired: row.try_get("expired")?,
        token: None,
        link: None,
    })
}

/// Invites a person: a pending invitation, its link shown once (and
/// e-mailed when the deployment has a mail server). It replaces a pending
/// invitation of the same address.
#[utoipa::path(post, path = "/api/v1/invitations", tag = "members", request_body = NewInvitation, responses((status = 201, description = "The invitation, with its token and link shown this once", body = Invitation)))]
pub async fn create(
    Shared(state): Shared<State>,
    caller: Caller,
    Body(input): Body<NewInvitation>,
) -> Result<(StatusCode, Json<Invitation>), ApiError> {
    crate::members::may_grant(&caller, input.role)?;
    let email = check_email(&input.email)?;
    let token = format!("inv_{}", hex::encode(rand::random::<[u8; 24]>()));
    let mut tx = state.pg.begin().await?;
    let member: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id \
                        WHERE m.team_id = $1 AND lower(u.email) = lower($2))",
    )
    .bind(caller.team.0)
    .bind(email)
    .fetch_one(&mut *tx)
    .await?;
    if member {
        return Err(ApiError::conflict_on("email", "already a member of the team"));
    }
    sqlx::query(
        "UPDATE invitations SET revoked_at = now() \
         WHERE team_id = $1 AND lower(email) = lower($2) AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(caller.team.0)
    .bind(email)
    .execute(&mut *tx)
    .await?;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO invitations (team_id, email, role, token_hash, invited_by, emailed, expires_at) \
         VALUES ($1, $2, $3::team_role, $4, $5, $6, now() + make_interval(days => $7)) RETURNING id",
    )
    .bind(caller.team.0)
    .bind(email)
    .bind(input.role.as_str())
    .bind(token_hash(&token))
    .bind(caller.user)
    .bind(state.system_mail)
    .bind(INVITATION_DAYS)
    .fetch_one(&mut *tx)
    .await?;
    let link = format!("{}/invite/{token}", state.public_url.trim_end_matches('/'));
    if state.system_mail {
        let (team, inviter): (String, Option<String>) = sqlx::query_as(
            "SELECT t.name, (SELECT coalesce(nullif(name, ''), email) FROM users WHERE id = $2) \
             FROM teams t WHERE t.id = $1",
        )
        .bind(caller.team.0)
        .bind(caller.user)
        .fetch_one(&mut *tx)
        .await?;
        let inviter = inviter.unwrap_or_else(|| "An administrator".to_owned());
        let role = input.role.as_str();
        let body = format!(
            "{inviter} invited you ({email}) to join the team \"{team}\" on StatusHawk as {role}.\n\n\
             Accept the invitation here:\n\n{link}\n\n\
             The link works once and expires in {INVITATION_DAYS} days. If you did not expect it, ignore \
             this message.\n"
        );
        let subject = format!("You are invited to join {team} on StatusHawk");
        crate::mail::enqueue(&mut tx, "invitation", email, &subject, &body).await?;
    }
    let row =
        sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE i.id = $1"))).bind(id).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    let mut invitation = invitation_of(&row)?;
    invitation.token = Some(token);
    invitation.link = Some(link);
    Ok((StatusCode::CREATED, Json(invitation)))
}

/// The team's pending invitations (expired ones included, marked).
#[utoipa::path(get, path = "/api/v1/invitations", tag = "members", responses((status = 200, body = Vec<Invitation>)))]
pub async fn list(Shared(state): Shared<State>, caller: Caller) -> Result<Json<Vec<Invitation>>, ApiError> {
    caller.may_administer()?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE i.team_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL ORDER BY i.created_at"
    )))
    .bind(caller.team.0)
    .fetch_all(&state.pg)
    .await?;
    Ok(Json(rows.iter().map(invitation_of).collect::<Result<_, _>>()?))
}

/// Revokes a pending invitation: its link stops working.
#[utoipa::path(delete, path = "/api/v1/invitations/{id}", tag = "members", params(("id" = uuid::Uuid, Path, description = "Invitation id")), responses((status = 204, description = "Revoked")))]
pub async fn revoke(Shared(state): Shared<State>, caller: Caller, Id(id): Id<Uuid>) -> Result<StatusCode, ApiError> {
    caller.may_administer()?;
    let role: Option<String> = sqlx::query_scalar(
        "SELECT role::text FROM invitations WHERE id = $1 AND team_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(caller.team.0)
    .fetch_optional(&state.pg)
    .await?;
    let role = role.ok_or_else(|| ApiError::not_found("invitation"))?;
    crate::members::may_grant(&caller, Role::from_row(&role)?)?;
    sqlx::query(
        "UPDATE invitations SET revoked_at = now() WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(id)
    .execute(&state.pg)
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An invitation's token, as its link carries it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationToken {
    /// The token (`inv_...`, the last part of the link).
    pub token: String,
}

/// What an invitation offers, for the person holding its link.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Preview {
    /// The inviting team.
    pub team_name: String,
    /// Its slug.
    pub team_slug: String,
    /// The address invited.
    pub email: String,
    /// The role it gives.
    pub role: Role,
    /// Whether it was e-mailed (then only that address can accept it).
    pub emailed: bool,
    /// Expires (Unix ms).
    pub expires_at_ms: UnixMs,
}

/// A pending invitation, locked.
struct Pending {
    id: Uuid,
    team: TeamId,
    preview: Preview,
}

/// The pending invitation of `token` (locked until the transaction ends);
/// a used, revoked or expired one says so.
async fn pending(tx: &mut sqlx::PgConnection, token: &str) -> Result<Pending, ApiError> {
    let row = sqlx::query(
        "SELECT i.id, i.team_id, t.name AS team_name, t.slug, i.email, i.role::text AS role, i.emailed, \
                (extract(epoch FROM i.expires_at) * 1000)::bigint AS expires_ms, \
                i.accepted_at IS NOT NULL AS accepted, i.revoked_at IS NOT NULL AS revoked, \
                i.expires_at <= now() AS expired \
         FROM invitations i JOIN teams t ON t.id = i.team_id WHERE i.token_hash = $1 FOR UPDATE OF i",
    )
    .bind(token_hash(token.trim()))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::not_found("invitation"))?;
    if row.try_get("accepted")? {
        return Err(ApiError::gone("this invitation has been used"));
    }
    if row.try_get("revoked")? {
        return Err(ApiError::gone("this invitation was revoked or replaced by a newer one"));
    }
    if row.try_get("expired")? {
        return Err(ApiError::gone("this invitation has expired; ask for a new one"));
    }
    Ok(Pending {
        id: row.try_get("id")?,
        team: TeamId(row.try_get("team_id")?),
        preview: Preview {
            team_name: row.try_get("team_name")?,
            team_slug: row.try_get("slug")?,
            email: row.try_get("email")?,
            role: Role::from_row(&row.try_get::<String, _>("role")?)?,
            emailed: row.try_get("emailed")?,
            expires_at_ms: row.try_get("expires_ms")?,
        },
    })
}

/// What a pending invitation offers (to whoever holds its token).
#[utoipa::path(post, path = "/api/v1/invitations/preview", tag = "members", request_body = InvitationToken, responses((status = 200, body = Preview)), security(()))]
pub async fn preview(
    Shared(state): Shared<State>,
    Body(input): Body<InvitationToken>,
) -> Result<Json<Preview>, ApiError> {
    let mut tx = state.pg.begin().await?;
    let invitation = pending(&mut tx, &input.token).await?;
    tx.rollback().await?;
    Ok(Json(invitation.preview))
}

/// Makes `user` a member by `invitation`, and the session they act in.
async fn join(
    tx: &mut sqlx::PgConnection,
    invitation: &Pending,
    user: Uuid,
    email_verified: bool,
) -> Result<Session, ApiError> {
    sqlx::query("INSERT INTO memberships (team_id, user_id, role) VALUES ($1, $2, $3::team_role)")
        .bind(invitation.team.0)
        .bind(user)
        .bind(invitation.preview.role.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| match ApiError::from(e) {
            e if e.is_conflict() => ApiError::conflict("you are already a member of this team"),
            e => e,
        })?;
    sqlx::query("UPDATE invitations SET accepted_at = now(), accepted_by = $2 WHERE id = $1")
        .bind(invitation.id)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    let token = insert_session(tx, invitation.team, user).await?;
    Ok(Session {
        token: Some(token),
        user_id: user,
        team_id: invitation.team,
        role: invitation.preview.role,
        email_verified,
    })
}

/// Accepts an invitation as the signed-in person: a session in the team
/// that invited them.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "members", request_body = InvitationToken, responses((status = 200, description = "Joined: a session in the inviting team", body = Session)))]
pub async fn accept(
    Shared(state): Shared<State>,
    caller: Caller,
    Body(input): Body<InvitationToken>,
) -> Result<Json<Session>, ApiError> {
    let user = match (caller.session, caller.user) {
        (true, Some(user)) => user,
        _ => return Err(ApiError::forbidden("accept an invitation signed in as yourself, not with an API token")),
    };
    Ok(Json(accept_as(&state, user, &input.token).await?))
}

async fn accept_as(state: &State, user: Uuid, token: &str) -> Result<Session, ApiError> {
    let mut tx = state.pg.begin().await?;
    let invitation = pending(&mut tx, token).await?;
    let (email, verified): (String, bool) =
        sqlx::query_as("SELECT email, email_verified_at IS NOT NULL FROM users WHERE id = $1")
            .bind(user)
            .fetch_one(&mut *tx)
            .await?;
    if invitation.preview.emailed {
        if !email.eq_ignore_ascii_case(&invitation.preview.email) {
            return Err(ApiError::forbidden(format!(
                "this invitation was sent to {}: accept it with that address",
                invitation.preview.email
            )));
        }
        if !verified {
            return Err(ApiError::forbidden(
                "verify your e-mail address first (the link in the mail we sent when you signed up), \
                 or sign up through the invitation's link",
            ));
        }
    }
    let session = join(&mut tx, &invitation, user, verified).await?;
    tx.commit().await?;
    Ok(session)
}

/// Signs up through an invitation: the account joins the inviting team
/// (no team of its own). For an e-mailed invitation the address must be the
/// invited one, and the link proves it.
pub(crate) async fn sign_up_invited(
    state: &State,
    client: Option<IpAddr>,
    email: &str,
    password: &str,
    name: &str,
    token: &str,
) -> Result<Session, ApiError> {
    let email = check_email(email)?;
    check_password(password)?;
    state.attempts.signup(client, email)?;
    // A bad token or address costs no hash: check them first, then again
    // under the lock once the password is hashed.
    let mut tx = state.pg.begin().await?;
    check_invited_address(&pending(&mut tx, token).await?, email)?;
    tx.rollback().await?;
    let hash = state.passwords.hash(password).await?;
    let mut tx = state.pg.begin().await?;
    let invitation = pending(&mut tx, token).await?;
    check_invited_address(&invitation, email)?;
    let emailed = invitation.preview.emailed;
    let holder: Option<(Uuid, bool)> =
        sqlx::query_as("SELECT id, email_verified_at IS NOT NULL FROM users WHERE lower(email) = lower($1) FOR UPDATE")
            .bind(email)
            .fetch_optional(&mut *tx)
            .await?;
    match holder {
        Some((squatter, false)) if emailed => {
            // The link proves the address; an account that never did loses
            // it (it keeps its own teams, under an address that is no one's).
            sqlx::query("UPDATE users SET email = 'released-' || id || '@invalid' WHERE id = $1")
                .bind(squatter)
                .execute(&mut *tx)
                .await?;
            tracing::info!(user_id = %squatter, "An unverified account's address was claimed by an e-mailed invitation.");
        }
        Some(_) => {
            return Err(ApiError::conflict("an account with this address exists: sign in and accept the invitation"));
        }
        None => {}
    }
    let user = insert_user(&mut tx, email, name, &hash, emailed).await?;
    let session = join(&mut tx, &invitation, user, emailed).await?;
    tx.commit().await?;
    Ok(session)
}

/// An e-mailed invitation is for its address only.
fn check_invited_address(invitation: &Pending, email: &str) -> Result<(), ApiError> {
    if invitation.preview.emailed && !email.eq_ignore_ascii_case(&invitation.preview.email) {
        return Err(ApiError::invalid(
            "email",
            format!("this invitation was sent to {}: sign up with that address", invitation.preview.email),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The pages behind the links: /invite/<token> and /verify-email/<token>
// ---------------------------------------------------------------------------

/// A page of the invitation and verification links.
#[derive(Template)]
#[template(path = "account_page.html")]
struct Page {
    heading: String,
    text: String,
    /// The invitation, when its forms are shown.
    invitation: Option<Preview>,
    /// What went wrong with the last form sent.
    error: Option<String>,
    /// Whether to end with a link to the dashboard's sign-in (served by
    /// this same API, so the link is relative).
    sign_in: bool,
}

impl Page {
    fn message(heading: impl Into<String>, text: impl Into<String>) -> Self {
        Self { heading: heading.into(), text: text.into(), invitation: None, error: None, sign_in: false }
    }

    fn respond(self, status: StatusCode) -> Response {
        let mut response = match self.render() {
            Ok(body) => (status, Html(body)).into_response(),
            Err(err) => ApiError::internal(err).into_response(),
        };
        // The token is in the address: it must not leave in a Referer, be
        // framed, cached, or run anything.
        let headers = response.headers_mut();
        for (name, value) in [
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        response
    }
}

impl Preview {
    fn role_name(&self) -> &'static str {
        self.role.as_str()
    }
}

fn invitation_page(preview: Preview, error: Option<String>) -> Page {
    let text = format!(
        "You are invited to join the team \"{}\" on StatusHawk as {}.",
        preview.team_name,
        preview.role.as_str()
    );
    Page { heading: "Join your team".to_owned(), text, invitation: Some(preview), error, sign_in: false }
}

/// `GET /invite/{token}`: what the invitation offers, with a form to sign up
/// and one to sign in, either of which accepts it.
pub async fn page(Shared(state): Shared<State>, Path(token): Path<String>) -> Response {
    let outcome = async {
        let mut tx = state.pg.begin().await?;
        let invitation = pending(&mut tx, &token).await?;
        tx.rollback().await?;
        Ok::<_, ApiError>(invitation.preview)
    }
    .await;
    match outcome {
        Ok(preview) => invitation_page(preview, None).respond(StatusCode::OK),
        Err(err) => Page::message("Invitation", err.message().to_owned()).respond(err.status()),
    }
}

/// The forms of the invitation page.
#[derive(Debug, Deserialize)]
pub struct InvitationForm {
    /// `signup` or `signin`.
    action: String,
    email: String,
    password: String,
    #[serde(default)]
    name: String,
}

/// `POST /invite/{token}`: signs up, or signs in, and accepts.
pub async fn page_form(
    Shared(state): Shared<State>,
    ClientIp(client): ClientIp,
    Path(token): Path<String>,
    axum::Form(form): axum::Form<InvitationForm>,
) -> Response {
    let joined = match form.action.as_str() {
        "signup" => sign_up_invited(&state, client, &form.email, &form.password, &form.name, &token).await,
        "signin" => match crate::users::authenticate(&state, client, &form.email, &form.password).await {
            Ok((user, _)) => accept_as(&state, user, &token).await,
            Err(err) => Err(err),
        },
        _ => Err(ApiError::invalid("action", "signup or signin")),
    };
    match joined {
        Ok(session) => {
            let text = format!(
                "You are now a {} of the team. Sign in to StatusHawk with {} to start.",
                session.role.as_str(),
                form.email.trim()
            );
            Page { sign_in: true, ..Page::message("Welcome aboard", text) }.respond(StatusCode::OK)
        }
        Err(err) => {
            let status = err.status();
            let again = async {
                let mut tx = state.pg.begin().await?;
                let invitation = pending(&mut tx, &token).await?;
                tx.rollback().await?;
                Ok::<_, ApiError>(invitation.preview)
            }
            .await;
            match again {
                Ok(preview) => invitation_page(preview, Some(err.message().to_owned())).respond(status),
                Err(gone) => Page::message("Invitation", gone.message().to_owned()).respond(gone.status()),
            }
        }
    }
}

/// `GET /verify-email/{token}`: proves the address the link was sent to.
pub async fn verification_page(Shared(state): Shared<State>, Path(token): Path<String>) -> Response {
    match crate::users::verify(&state, &token).await {
        Ok(verified) => {
            Page::message("Address verified", format!("{} is now verified. You can close this page.", verified.email))
                .respond(StatusCode::OK)
        }
        Err(err) => Page::message("Address not verified", err.message().to_owned()).respond(err.status()),
    }
}
