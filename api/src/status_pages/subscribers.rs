//! Subscribers of a status page: visitors subscribe on the public page (a
//! plain form, no script) by e-mail, confirmed by a one-time link before
//! anything is sent, or by webhook; admins list, add and remove them under
//! `/api/v1/status-pages/{id}/subscribers`. What they are sent, and when, is
//! the notifier's (its `subscribers` module), through its delivery log.
//!
//! Every message carries the subscription's unsubscribe link
//! (`/status/{slug}/unsubscribe/{token}`): opening it shows a button, and a
//! `POST` to it (the button, a mail client's one-click `List-Unsubscribe-Post`,
//! or a webhook receiver) ends the subscription at once. Confirmation links
//! work the same way, so a mail scanner that opens links confirms nothing.
//!
//! Confirmations are limited per address (3 an hour, counted in
//! `system_mail`, so every API process agrees) and per client (10 an hour),
//! so the form cannot be used to flood someone's inbox.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State as Shared};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use statushawk_schemas::UnixMs;
use uuid::Uuid;

use super::public::MessageHtml;
use crate::State;
use crate::auth::Caller;
use crate::client::ClientIp;
use crate::error::{ApiError, Body, Id};

/// Confirmations one address may be sent an hour.
pub const CONFIRMATIONS_PER_ADDRESS: i64 = 3;
/// Subscriptions one client may ask for an hour.
pub const SUBSCRIBES_PER_CLIENT: usize = 10;
/// How long a confirmation link works.
const CONFIRM_HOURS: i64 = 48;

/// A subscriber as admins see it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Subscriber {
    /// Its id.
    pub id: Uuid,
    /// `email` or `webhook`.
    pub kind: String,
    /// The e-mail address or the webhook URL.
    pub address: String,
    /// Only monitors of these sections; absent: the whole page.
    pub section_ids: Option<Vec<Uuid>>,
    /// Whether it is confirmed (only confirmed ones are sent anything).
    pub confirmed: bool,
    /// `visitor` (the public form) or `admin`.
    pub added_by: String,
    /// Made (Unix ms).
    pub created_at_ms: UnixMs,
}

/// `POST /api/v1/status-pages/{id}/subscribers`: a subscriber an admin
/// adds, confirmed at once (the admin vouches for it).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscriber {
    /// `email` or `webhook`.
    #[schema(pattern = "^(email|webhook)$")]
    pub kind: String,
    /// The e-mail address or the webhook URL (`https://`).
    pub address: String,
    /// Only monitors of these sections of the page; absent or empty: all.
    #[serde(default)]
    pub section_ids: Vec<Uuid>,
}

/// A subscriber just added, with its webhook's signing secret (shown once).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddedSubscriber {
    /// The subscriber.
    #[serde(flatten)]
    pub subscriber: Subscriber,
    /// The key of the `X-StatusHawk-Signature` HMAC of its webhooks.
    pub signing_secret: Option<String>,
}

const COLUMNS: &str = "id, kind, address, section_ids, confirmed_at IS NOT NULL AS confirmed, added_by, \
     (extract(epoch FROM created_at) * 1000)::bigint AS created_ms";

fn subscriber_of(row: &sqlx::postgres::PgRow) -> Result<Subscriber, ApiError> {
    Ok(Subscriber {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        address: row.try_get("address")?,
        section_ids: row.try_get("section_ids")?,
        confirmed: row.try_get("confirmed")?,
        added_by: row.try_get("added_by")?,
        created_at_ms: row.try_get("created_ms")?,
    })
}

/// Checks a subscriber's address: a lower-cased e-mail address, or an
/// `http(s)://` URL without credentials.
fn check_address(kind: &str, address: &str) -> Result<String, ApiError> {
    let address = address.trim();
    match kind {
        "email" => {
            let email = crate::users::check_email(address)
                .map_err(|_| ApiError::invalid("address", "not an e-mail address"))?;
            if !email_address::EmailAddress::is_valid(email) {
                return Err(ApiError::invalid("address", "not an e-mail address"));
            }
            Ok(email.to_lowercase())
        }
        "webhook" => {
            if address.len() > 2048 {
                return Err(ApiError::invalid("address", "at most 2048 characters"));
            }
            statushawk_channels::check_url("address", &address.to_owned().into())
                .map_err(|e| ApiError::invalid(e.field, e.message))?;
            Ok(address.to_owned())
        }
        _ => Err(ApiError::invalid("kind", "email or webhook")),
    }
}

/// The sections of page `page` among `wanted` (all must be its own), or
/// `None` for the whole page.
async fn sections(
    tx: &mut sqlx::PgConnection,
    page: Uuid,
    wanted: &[Uuid],
    field: &str,
) -> Result<Option<Vec<Uuid>>, ApiError> {
    if wanted.is_empty() {
        return Ok(None);
    }
    if wanted.len() > 100 {
        return Err(ApiError::invalid(field, "at most 100 sections"));
    }
    let known: i64 =
        sqlx::query_scalar("SELECT count(*) FROM status_page_sections WHERE page_id = $1 AND id = ANY($2)")
            .bind(page)
            .bind(wanted)
            .fetch_one(&mut *tx)
            .await?;
    let mut distinct = wanted.to_vec();
    distinct.sort();
    distinct.dedup();
    if known != distinct.len() as i64 {
        return Err(ApiError::invalid(field, "not a section of this page"));
    }
    Ok(Some(distinct))
}

fn new_token() -> String {
    format!("sub_{}", hex::encode(rand::random::<[u8; 24]>()))
}

async fn own_page(state: &State, caller: &Caller, page: Uuid) -> Result<(), ApiError> {
    let found: Option<Uuid> = sqlx::query_scalar("SELECT id FROM status_pages WHERE id = $1 AND team_id = $2")
        .bind(page)
        .bind(caller.team.0)
        .fetch_optional(&state.pg)
        .await?;
    found.map(drop).ok_or_else(|| ApiError::not_found("status page"))
}

/// The page's subscribers (admins and owners), newest first.
#[utoipa::path(get, path = "/api/v1/status-pages/{id}/subscribers", tag = "status-pages", params(("id" = uuid::Uuid, Path, description = "Status page id")), responses((status = 200, body = Vec<Subscriber>)))]
pub async fn list(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(page): Id<Uuid>,
) -> Result<Json<Vec<Subscriber>>, ApiError> {
    caller.may_administer()?;
    own_page(&state, &caller, page).await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM status_page_subscribers WHERE page_id = $1 ORDER BY created_at DESC, id"
    )))
    .bind(page)
    .fetch_all(&state.pg)
    .await?;
    Ok(Json(rows.iter().map(subscriber_of).collect::<Result<_, _>>()?))
}

/// Adds a subscriber (admins and owners), confirmed at once.
#[utoipa::path(post, path = "/api/v1/status-pages/{id}/subscribers", tag = "status-pages", params(("id" = uuid::Uuid, Path, description = "Status page id")), request_body = NewSubscriber, responses((status = 201, body = AddedSubscriber), (status = 409, description = "The page has that subscriber already")))]
pub async fn add(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(page): Id<Uuid>,
    Body(input): Body<NewSubscriber>,
) -> Result<(StatusCode, Json<AddedSubscriber>), ApiError> {
    caller.may_administer()?;
    let address = check_address(&input.kind, &input.address)?;
    if input.kind == "webhook" && state.secrets.is_none() {
        return Err(ApiError::conflict("webhook subscriptions need secrets.key, which this deployment does not have"));
    }
    own_page(&state, &caller, page).await?;
    let mut tx = state.pg.begin().await?;
    let section_ids = sections(&mut tx, page, &input.section_ids, "section_ids").await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO status_page_subscribers (team_id, page_id, kind, address, section_ids, token, confirmed_at, added_by) \
         VALUES ($1, $2, $3, $4, $5, $6, now(), 'admin') RETURNING {COLUMNS}"
    )))
    .bind(caller.team.0)
    .bind(page)
    .bind(&input.kind)
    .bind(&address)
    .bind(&section_ids)
    .bind(new_token())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let subscriber = subscriber_of(&row)?;
    let signing_secret = signing_secret(&state, &subscriber);
    Ok((StatusCode::CREATED, Json(AddedSubscriber { subscriber, signing_secret })))
}

fn signing_secret(state: &State, subscriber: &Subscriber) -> Option<String> {
    (subscriber.kind == "webhook")
        .then(|| state.secrets.as_ref().map(|s| s.subscriber_signing_secret(subscriber.id.as_bytes())))
        .flatten()
}

/// Removes a subscriber (admins and owners); nothing more is sent to it.
#[utoipa::path(delete, path = "/api/v1/status-pages/{id}/subscribers/{subscriber_id}", tag = "status-pages", params(("id" = uuid::Uuid, Path, description = "Status page id"), ("subscriber_id" = uuid::Uuid, Path, description = "Subscriber id")), responses((status = 204, description = "Removed")))]
pub async fn remove(
    Shared(state): Shared<State>,
    caller: Caller,
    Id((page, subscriber)): Id<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    caller.may_administer()?;
    let removed = sqlx::query("DELETE FROM status_page_subscribers WHERE id = $1 AND page_id = $2 AND team_id = $3")
        .bind(subscriber)
        .bind(page)
        .bind(caller.team.0)
        .execute(&state.pg)
        .await?;
    if removed.rows_affected() == 0 {
        return Err(ApiError::not_found("subscriber"));
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------
// The public side: HTML forms that work without script
// ---------------------------------------------------------------------------

fn said(status: StatusCode, slug: Option<&str>, heading: &str, text: impl Into<String>) -> Response {
    MessageHtml { back: slug.map(|s| format!("/status/{s}")), ..MessageHtml::said(heading, text) }.respond(status)
}

/// A public page by slug: its id and team.
async fn public_page(state: &State, slug: &str) -> Result<Option<(Uuid, Uuid, String)>, ApiError> {
    Ok(sqlx::query("SELECT id, team_id, title FROM status_pages WHERE slug = $1 AND public")
        .bind(slug)
        .fetch_optional(&state.pg)
        .await?
        .map(|row| Ok::<_, sqlx::Error>((row.try_get("id")?, row.try_get("team_id")?, row.try_get("title")?)))
        .transpose()?)
}

/// `POST /status/{slug}/subscribe`: the page's form (`email` or
/// `webhook_url`, any number of `section`). E-mail waits for its
/// confirmation link; a webhook is subscribed at once and its signing
/// secret shown.
pub async fn subscribe(
    Shared(state): Shared<State>,
    ClientIp(client): ClientIp,
    Path(slug): Path<String>,
    body: Bytes,
) -> Response {
    match try_subscribe(&state, client, &slug, &body).await {
        Ok(response) => response,
        Err(err) if matches!(err.status(), StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT) => {
            said(err.status(), Some(&slug), "That did not work", err.message())
        }
        Err(err) if err.status() == StatusCode::TOO_MANY_REQUESTS => {
            said(err.status(), Some(&slug), "Too many requests", format!("{}; try again later.", err.message()))
        }
        Err(err) => err.into_response(),
    }
}

async fn try_subscribe(
    state: &State,
    client: Option<std::net::IpAddr>,
    slug: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let Some((page, team, title)) = public_page(state, slug).await? else {
        return Ok(said(
            StatusCode::NOT_FOUND,
            None,
            "Status page not found",
            "There is no public status page at this address.",
        ));
    };
    // Sections are named by their place on the page (the page shows no ids).
    let (mut email, mut webhook, mut positions) = (None, None, Vec::new());
    for (key, value) in form_urlencoded::parse(body) {
        match key.as_ref() {
            "email" if !value.trim().is_empty() => email = Some(value.into_owned()),
            "webhook_url" if !value.trim().is_empty() => webhook = Some(value.into_owned()),
            "section" => {
                positions.push(value.parse::<usize>().map_err(|_| ApiError::invalid("section", "not a section"))?)
            }
            _ => {}
        }
    }
    let (kind, address) = match (email, webhook) {
        (Some(email), None) => ("email", check_address("email", &email)?),
        (None, Some(url)) => ("webhook", check_address("webhook", &url)?),
        _ => return Err(ApiError::invalid("email", "give an e-mail address or a webhook URL")),
    };
    if kind == "email" && !state.system_mail {
        return Err(ApiError::conflict("this deployment sends no e-mail; subscribe by webhook"));
    }
    if kind == "webhook" && state.secrets.is_none() {
        return Err(ApiError::conflict("this deployment cannot sign webhooks; subscribe by e-mail"));
    }
    state
        .subscribes
        .admit(&client.map(crate::client::limit_key), Instant::now())
        .map_err(|wait| ApiError::too_many("too many subscriptions from this client", wait))?;
    let mut tx = state.pg.begin().await?;
    let ordered: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM status_page_sections WHERE page_id = $1 ORDER BY position")
            .bind(page)
            .fetch_all(&mut *tx)
            .await?;
    let wanted = positions
        .iter()
        .map(|&p| ordered.get(p).copied().ok_or_else(|| ApiError::invalid("section", "not a section of this page")))
        .collect::<Result<Vec<Uuid>, _>>()?;
    let section_ids = sections(&mut tx, page, &wanted, "section").await?;
    if kind == "webhook" {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO status_page_subscribers (team_id, page_id, kind, address, section_ids, token, confirmed_at, added_by) \
             VALUES ($1, $2, 'webhook', $3, $4, $5, now(), 'visitor') \
             ON CONFLICT (page_id, kind, address) DO NOTHING RETURNING {COLUMNS}"
        )))
        .bind(team)
        .bind(page)
        .bind(&address)
        .bind(&section_ids)
        .bind(new_token())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let Some(row) = row else {
            return Err(ApiError::conflict("this webhook is subscribed already"));
        };
        let subscriber = subscriber_of(&row)?;
        return Ok(MessageHtml {
            heading: "Webhook subscribed".to_owned(),
            text: format!(
                "{address} will be sent {title}'s incidents and maintenance, signed in X-StatusHawk-Signature with \
                 this secret. It is shown once: keep it. Each message carries its unsubscribe URL."
            ),
            action: None,
            secret: signing_secret(state, &subscriber),
            back: Some(format!("/status/{slug}")),
        }
        .respond(StatusCode::CREATED));
    }
    let sent: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM system_mail WHERE purpose = 'subscription' AND to_address = $1 \
         AND created_at > now() - interval '1 hour'",
    )
    .bind(&address)
    .fetch_one(&mut *tx)
    .await?;
    if sent >= CONFIRMATIONS_PER_ADDRESS {
        return Err(ApiError::too_many(
            "too many confirmations for this address",
            std::time::Duration::from_secs(3600),
        ));
    }
    let confirm = format!("cfm_{}", hex::encode(rand::random::<[u8; 24]>()));
    let hash = crate::auth::token_hash(&confirm);
    // A confirmed address stays as it is (and is sent nothing); an
    // unconfirmed one gets a new link.
    let row = sqlx::query(
        "INSERT INTO status_page_subscribers (team_id, page_id, kind, address, section_ids, token, confirm_sha256, added_by) \
         VALUES ($1, $2, 'email', $3, $4, $5, $6, 'visitor') \
         ON CONFLICT (page_id, kind, address) DO UPDATE SET confirm_sha256 = EXCLUDED.confirm_sha256, \
             section_ids = EXCLUDED.section_ids, created_at = now() \
         WHERE status_page_subscribers.confirmed_at IS NULL RETURNING id",
    )
    .bind(team)
    .bind(page)
    .bind(&address)
    .bind(&section_ids)
    .bind(new_token())
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    if row.is_some() {
        let link = format!("{}/status/{slug}/confirm/{confirm}", state.public_url.trim_end_matches('/'));
        let text = format!(
            "Someone, hopefully you, asked to be told by e-mail of incidents and maintenance on {title}.\n\n\
             To confirm, open this link within {CONFIRM_HOURS} hours:\n\n{link}\n\n\
             If it was not you, ignore this message: nothing will be sent."
        );
        crate::mail::enqueue(
            &mut tx,
            "subscription",
            &address,
            &format!("Confirm your subscription to {title}"),
            &text,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(said(
        StatusCode::ACCEPTED,
        Some(slug),
        "Check your inbox",
        format!(
            "If {address} is not subscribed yet, a confirmation link is on its way. Nothing is sent before it is opened."
        ),
    ))
}

/// `GET /status/{slug}/confirm/{token}`: a button that confirms.
pub async fn confirm_page(Path((slug, token)): Path<(String, String)>) -> Response {
    MessageHtml {
        heading: "Confirm your subscription".to_owned(),
        text: "Press the button to start receiving this page's incidents and maintenance by e-mail.".to_owned(),
        action: Some((format!("/status/{slug}/confirm/{token}"), "Confirm")),
        secret: None,
        back: Some(format!("/status/{slug}")),
    }
    .respond(StatusCode::OK)
}

/// `POST /status/{slug}/confirm/{token}`: confirms the subscription.
pub async fn confirm(Shared(state): Shared<State>, Path((slug, token)): Path<(String, String)>) -> Response {
    let confirmed = sqlx::query(
        "UPDATE status_page_subscribers s SET confirmed_at = now(), confirm_sha256 = NULL FROM status_pages p \
         WHERE s.confirm_sha256 = $1 AND p.id = s.page_id AND p.slug = $2 \
           AND s.created_at > now() - make_interval(hours => $3)",
    )
    .bind(crate::auth::token_hash(&token))
    .bind(&slug)
    .bind(i32::try_from(CONFIRM_HOURS).unwrap_or(48))
    .execute(&state.pg)
    .await;
    match confirmed {
        Ok(done) if done.rows_affected() == 1 => said(
            StatusCode::OK,
            Some(&slug),
            "Subscribed",
            "You will be told of this page's incidents and maintenance.",
        ),
        Ok(_) => {
            said(StatusCode::NOT_FOUND, Some(&slug), "This link does not work", "It was used already or has expired.")
        }
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// `GET /status/{slug}/unsubscribe/{token}`: a button that unsubscribes.
pub async fn unsubscribe_page(Path((slug, token)): Path<(String, String)>) -> Response {
    MessageHtml {
        heading: "Unsubscribe".to_owned(),
        text: "Press the button and nothing more will be sent.".to_owned(),
        action: Some((format!("/status/{slug}/unsubscribe/{token}"), "Unsubscribe")),
        secret: None,
        back: Some(format!("/status/{slug}")),
    }
    .respond(StatusCode::OK)
}

/// `POST /status/{slug}/unsubscribe/{token}`: ends the subscription (the
/// button, RFC 8058's one-click post, or a program).
pub async fn unsubscribe(Shared(state): Shared<State>, Path((slug, token)): Path<(String, String)>) -> Response {
    let removed = sqlx::query(
        "DELETE FROM status_page_subscribers s USING status_pages p WHERE s.token = $1 AND p.id = s.page_id AND p.slug = $2",
    )
    .bind(&token)
    .bind(&slug)
    .execute(&state.pg)
    .await;
    match removed {
        Ok(done) if done.rows_affected() == 1 => {
            said(StatusCode::OK, Some(&slug), "Unsubscribed", "Nothing more will be sent.")
        }
        Ok(_) => said(StatusCode::NOT_FOUND, Some(&slug), "Not subscribed", "This subscription has ended already."),
        Err(err) => ApiError::from(err).into_response(),
    }
}
