//! Mail the deployment sends on its own behalf (invitations, address
//! verification) through its `[email]` server: the API writes a
//! `system_mail` row, this loop sends it.
//!
//! Due rows (`pending`, or `sending` whose lease has passed, with
//! `next_attempt_at <= now()`) are taken with `FOR UPDATE SKIP LOCKED` and
//! marked `sending` with `next_attempt_at` moved to the lease's end, so any
//! number of notifiers share the table and a row is sent by one of them; a
//! notifier that dies mid-send leaves its rows to be taken again after the
//! lease. Each row is sent once per try, in plain text, from `email.from`,
//! within the send deadline; then it is `sent` (its body, which carries a
//! one-time link, is cleared), back to `pending` after a back-off with
//! `last_error`, or `failed` (body cleared too) after a permanent refusal or
//! `max_attempts` tries.
//!
//! The `[email]` server is the operator's own configuration, not a
//! tenant's, and is often on localhost: it is not put through the SSRF
//! guard (tenants' e-mail channels are).

use std::time::Duration;

use lettre::message::Mailbox;
use sqlx::{PgPool, Row};
use statushawk_common::config::{EmailConfig, SmtpSecurity as ConfigSecurity};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;

use crate::send::{Attempt, Sender, Verdict};
use crate::{Settings, wait_before_retry};
use statushawk_channels::email::{SmtpSecurity, SmtpServer};

/// Rows sent at once by one notifier (all within one send deadline, which
/// is shorter than the lease).
const BATCH: i64 = 8;

/// The deployment's own mail server and sender, from `[email]`.
#[derive(Clone, Debug)]
pub struct SystemMailer {
    server: SmtpServer,
    from: Mailbox,
}

impl SystemMailer {
    /// The mailer `[email]` describes; `None` when system mail is off
    /// (`email.smtp_host` empty).
    pub fn from_config(config: &EmailConfig) -> anyhow::Result<Option<Self>> {
        if !config.enabled() {
            return Ok(None);
        }
        let from = config
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("email.from: not an address ({e}), e.g. StatusHawk <noreply@example.com>"))?;
        let security = match config.security {
            ConfigSecurity::Starttls => SmtpSecurity::Starttls,
            ConfigSecurity::Tls => SmtpSecurity::Tls,
            ConfigSecurity::None => SmtpSecurity::None,
        };
        let username = config.username.trim();
        let credentials = (!username.is_empty()).then(|| (username.to_owned(), config.password.clone()));
        let server =
            SmtpServer { host: config.smtp_host.trim().to_owned(), port: config.smtp_port, security, credentials };
        Ok(Some(Self { server, from }))
    }
}

/// A message through the deployment's own mail server that is not a row
/// of `system_mail`: a status page subscriber's, sent from the delivery
/// log.
#[derive(Clone, Debug)]
pub struct Letter {
    /// The address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain text.
    pub text: String,
    /// The HTML alternative.
    pub html: Option<String>,
    /// Further headers (`List-Unsubscribe`, ...).
    pub headers: Vec<(&'static str, String)>,
}

impl SystemMailer {
    /// Sends `letter` once, within `sender`'s deadline.
    pub async fn send(&self, sender: &Sender, letter: &Letter) -> Attempt {
        let to = match letter.to.parse::<Mailbox>() {
            Ok(to) => to,
            Err(err) => return Attempt::failed(Verdict::Failed, format!("not an address ({err})")),
        };
        sender
            .send_system_letter(
                &self.server,
                &self.from,
                &to,
                &letter.subject,
                &letter.text,
                letter.html.as_deref(),
                &letter.headers,
            )
            .await
    }
}

/// A row taken for sending.
struct Mail {
    id: Uuid,
    purpose: String,
    to: String,
    subject: String,
    body: String,
    attempts: u32,
}

/// Sends due system mail until `shutdown`; does nothing without a mailer.
pub(crate) async fn run(
    pg: PgPool,
    sender: Sender,
    mailer: Option<SystemMailer>,
    settings: Settings,
    lease: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Some(mailer) = mailer else {
        info!("System mail is off ([email] smtp_host is not set): invitations and verifications are not mailed.");
        shutdown.cancelled().await;
        return Ok(());
    };
    info!(host = mailer.server.host, port = mailer.server.port, "Sending system mail.");
    while !shutdown.is_cancelled() {
        let taken = match take_due(&pg, lease).await {
            Ok(taken) => taken,
            Err(err) => {
                warn!(error = %err, "Taking due system mail failed; retrying.");
                Vec::new()
            }
        };
        let full = taken.len() == BATCH as usize;
        // In flight together, so all end by one send deadline; a shutdown
        // waits for them (the row is recorded either way).
        futures::future::join_all(taken.into_iter().map(|mail| send_one(&pg, &sender, &mailer, &settings, mail))).await;
        if !full {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(settings.poll) => {}
            }
        }
    }
    Ok(())
}

async fn take_due(pg: &PgPool, lease: Duration) -> sqlx::Result<Vec<Mail>> {
    let rows = sqlx::query(
        "WITH due AS ( \
             SELECT id FROM system_mail \
             WHERE state IN ('pending', 'sending') AND next_attempt_at <= now() \
             ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         UPDATE system_mail m SET state = 'sending', next_attempt_at = now() + $2 * interval '1 millisecond' \
         FROM due WHERE m.id = due.id \
         RETURNING m.id, m.purpose, m.to_address, m.subject, m.body_text, m.attempts",
    )
    .bind(BATCH)
    .bind(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
    .fetch_all(pg)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Mail {
                id: row.try_get("id")?,
                purpose: row.try_get("purpose")?,
                to: row.try_get("to_address")?,
                subject: row.try_get("subject")?,
                body: row.try_get("body_text")?,
                attempts: u32::try_from(row.try_get::<i32, _>("attempts")?).unwrap_or(0),
            })
        })
        .collect()
}

async fn send_one(pg: &PgPool, sender: &Sender, mailer: &SystemMailer, settings: &Settings, mail: Mail) {
    let attempt = match mail.to.parse::<Mailbox>() {
        Ok(to) => {
            sender.send_system_letter(&mailer.server, &mailer.from, &to, &mail.subject, &mail.body, None, &[]).await
        }
        Err(err) => Attempt {
            verdict: Verdict::Failed,
            http_status: None,
            smtp_reply: None,
            error: Some(format!("to_address: not an address ({err})")),
            retry_after: None,
        },
    };
    let tries = mail.attempts + 1;
    let (state, wait) = match attempt.verdict {
        Verdict::Delivered => ("sent", None),
        Verdict::Retry if tries < settings.max_attempts => {
            ("pending", Some(wait_before_retry(tries, None, settings.backoff, settings.max_backoff)))
        }
        Verdict::Retry | Verdict::Failed => ("failed", None),
    };
    metrics::counter!(crate::metrics::SYSTEM_MAIL_TOTAL, "purpose" => mail.purpose.clone(), "state" => state)
        .increment(1);
    let error = attempt.error.as_deref().unwrap_or("");
    match state {
        "sent" => info!(mail_id = %mail.id, purpose = mail.purpose, tries, "System mail sent."),
        "pending" => {
            info!(mail_id = %mail.id, purpose = mail.purpose, tries, error, "System mail try failed; retrying.")
        }
        _ => warn!(mail_id = %mail.id, purpose = mail.purpose, tries, error, "System mail failed."),
    }
    if let Err(err) = record(pg, mail.id, state, attempt.error.as_deref(), wait).await {
        // The row stays `sending` and is taken again after the lease.
        warn!(mail_id = %mail.id, error = %err, "Recording system mail failed.");
    }
}

/// Records a try: `sent` and `failed` clear the body (it carries a
/// one-time link and will not be sent again); `pending` comes back after
/// `wait`.
async fn record(pg: &PgPool, id: Uuid, state: &str, error: Option<&str>, wait: Option<Duration>) -> sqlx::Result<()> {
    let wait_ms = wait.map(|w| i64::try_from(w.as_millis()).unwrap_or(i64::MAX));
    sqlx::query(
        "UPDATE system_mail SET state = $2, attempts = attempts + 1, \
             last_error = $3, \
             body_text = CASE WHEN $2 = 'pending' THEN body_text ELSE '' END, \
             sent_at = CASE WHEN $2 = 'sent' THEN now() END, \
             next_attempt_at = now() + coalesce($4, 0) * interval '1 millisecond' \
         WHERE id = $1 AND state = 'sending'",
    )
    .bind(id)
    .bind(state)
    .bind(error)
    .bind(wait_ms)
    .execute(pg)
    .await
    .map(drop)
}
