//! Mail the deployment sends on its own behalf (invitations, address
//! verification): written to `system_mail` in the caller's transaction, so
//! it is sent exactly when what it announces is committed; a notifier
//! delivers it through the `[email]` server.

use crate::error::ApiError;

/// Queues a plain-text message to `to`.
pub async fn enqueue(
    tx: &mut sqlx::PgConnection,
    purpose: &str,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<(), ApiError> {
    sqlx::query("INSERT INTO system_mail (purpose, to_address, subject, body_text) VALUES ($1, $2, $3, $4)")
        .bind(purpose)
        .bind(to)
        .bind(subject)
        .bind(body)
        .execute(tx)
        .await?;
    Ok(())
}
