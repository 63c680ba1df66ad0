//! Team members and their roles. Owners and admins manage members; only an
//! owner grants or takes away ownership, and a team always keeps an owner.
//! People join by invitation only ([`crate::invitations`]). Removing a
//! member revokes every token they made in the team.

use axum::Json;
use axum::extract::State as Shared;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use uuid::Uuid;

use crate::State;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, Body, Id};

/// A member as listed.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Member {
    /// The user.
    pub user_id: Uuid,
    /// E-mail address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role in the team.
    pub role: Role,
}

/// `PUT /api/v1/members/{user_id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// The new role.
    pub role: Role,
}

/// The team's members.
#[utoipa::path(get, path = "/api/v1/members", tag = "members", responses((status = 200, body = Vec<Member>)))]
pub async fn list(Shared(state): Shared<State>, caller: Caller) -> Result<Json<Vec<Member>>, ApiError> {
    let rows = sqlx::query(
        "SELECT u.id, u.email, u.name, m.role::text AS role FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.team_id = $1 ORDER BY m.created_at",
    )
    .bind(caller.team.0)
    .fetch_all(&state.pg)
    .await?;
    let members = rows
        .iter()
        .map(|row| {
            Ok(Member {
                user_id: row.try_get("id")?,
                email: row.try_get("email")?,
                name: row.try_get("name")?,
                role: Role::from_row(&row.try_get::<String, _>("role")?)?,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(members))
}

/// Whether the caller may give (or take away) `role`.
pub(crate) fn may_grant(caller: &Caller, role: Role) -> Result<(), ApiError> {
    caller.may_administer()?;
    if role == Role::Owner && caller.role != Role::Owner {
        return Err(ApiError::forbidden("only an owner grants or takes away ownership"));
    }
    Ok(())
}

/// The member's current role, locking the team's memberships (so two
/// concurrent changes cannot both remove the last owner).
async fn current_role(tx: &mut sqlx::PgConnection, caller: &Caller, user: Uuid) -> Result<(Role, i64), ApiError> {
    let owners: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM memberships WHERE team_id = $1 AND role = 'owner' FOR UPDATE) o",
    )
    .bind(caller.team.0)
    .fetch_one(&mut *tx)
    .await?;
    let role: String = sqlx::query_scalar("SELECT role::text FROM memberships WHERE team_id = $1 AND user_id = $2")
        .bind(caller.team.0)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    Ok((Role::from_row(&role)?, owners))
}

/// Changes a member's role.
#[utoipa::path(put, path = "/api/v1/members/{id}", tag = "members", params(("id" = uuid::Uuid, Path, description = "User id")), request_body = RoleChange, responses((status = 200, body = Member)))]
pub async fn change_role(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(user): Id<Uuid>,
    Body(input): Body<RoleChange>,
) -> Result<Json<Member>, ApiError> {
    may_grant(&caller, input.role)?;
    let mut tx = state.pg.begin().await?;
    let (role, owners) = current_role(&mut tx, &caller, user).await?;
    may_grant(&caller, role)?;
    if role == Role::Owner && input.role != Role::Owner && owners <= 1 {
        return Err(ApiError::conflict("a team keeps at least one owner"));
    }
    sqlx::query("UPDATE memberships SET role = $3::team_role WHERE team_id = $1 AND user_id = $2")
        .bind(caller.team.0)
        .bind(user)
        .bind(input.role.as_str())
        .execute(&mut *tx)
        .await?;
    let (email, name): (String, String) =
        sqlx::query_as("SELECT email, name FROM users WHERE id = $1").bind(user).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(Json(Member { user_id: user, email, name, role: input.role }))
}

/// Removes a member: their login sessions and the API tokens they made in
/// the team stop working at once.
#[utoipa::path(delete, path = "/api/v1/members/{id}", tag = "members", params(("id" = uuid::Uuid, Path, description = "User id")), responses((status = 204, description = "Removed")))]
pub async fn remove(Shared(state): Shared<State>, caller: Caller, Id(user): Id<Uuid>) -> Result<StatusCode, ApiError> {
    caller.may_administer()?;
    let mut tx = state.pg.begin().await?;
    let (role, owners) = current_role(&mut tx, &caller, user).await?;
    may_grant(&caller, role)?;
    if role == Role::Owner && owners <= 1 {
        return Err(ApiError::conflict("a team keeps at least one owner"));
    }
    sqlx::query("DELETE FROM memberships WHERE team_id = $1 AND user_id = $2")
        .bind(caller.team.0)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE api_tokens SET revoked_at = now() WHERE team_id = $1 AND created_by = $2 AND revoked_at IS NULL",
    )
    .bind(caller.team.0)
    .bind(user)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
