//! The steps every partition task takes, and how each one fails: fetch a
//! batch, retry a store until it answers (or the lease is lost), tell a
//! permanent failure from a transient one, publish under message ids. The
//! results loop ([`crate::partition`]) and the heartbeat janitor
//! ([`crate::heartbeats`]) both use them; neither uses the other.

use std::time::Duration;

use futures::StreamExt;
use statushawk_common::db::Failure;
use statushawk_nats::async_nats::jetstream::consumer::PullConsumer;
use statushawk_nats::{Delivery, TraceContext};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::Shared;

/// A batch's changes that Postgres refuses for good (bad data, a
/// constraint): retrying them as they are can never succeed.
#[derive(Clone, Debug)]
pub(crate) struct Poison {
    /// A short label: `sqlstate_22021`, `decode`.
    pub(crate) reason: String,
    /// The error in full.
    pub(crate) error: String,
}

impl Poison {
    /// Why the evaluator sets a message aside at `step`.
    pub(crate) fn set_aside<'a>(&'a self, step: &'a str) -> statushawk_nats::SetAside<'a> {
        statushawk_nats::SetAside { service: "evaluator", step, reason: &self.reason, error: &self.error }
    }
}

/// The lease was lost (or the owner must stop at once): the batch in hand
/// is given back for redelivery.
#[derive(Debug)]
pub(crate) struct Abandoned;

pub(crate) async fn fetch<T: serde::de::DeserializeOwned>(
    consumer: &PullConsumer,
    max: usize,
    wait: Duration,
) -> Result<Vec<Delivery<T>>, statushawk_nats::async_nats::Error> {
    // `fetch` (no_wait) with an expiry: what is there now, at once, or the
    // first results to come within `wait`; never a wait for a full batch,
    // which at a partition's usual rate was the whole `wait` every time
    // (nats/tests/pull.rs).
    let mut messages = consumer.fetch().max_messages(max).expires(wait).messages().await?;
    let mut deliveries = Vec::new();
    while let Some(message) = messages.next().await {
        match message {
            Ok(message) => {
                if let Some(delivery) = Delivery::decode(message).await {
                    deliveries.push(delivery);
                }
            }
            // Status messages (timeouts, no messages) end the batch.
            Err(err) => {
                debug!(error = %err, "Batch ended.");
                break;
            }
        }
    }
    Ok(deliveries)
}

/// A message to publish.
pub(crate) struct Outgoing {
    /// Subject, without the deployment prefix.
    pub(crate) subject: String,
    /// Its `Nats-Msg-Id`.
    pub(crate) msg_id: String,
    /// The JSON payload.
    pub(crate) payload: bytes::Bytes,
    /// The hop of the trace it continues (`traceparent`), if any.
    pub(crate) trace: Option<TraceContext>,
}

/// Publishes `messages` all in flight at once and waits for every ack;
/// retried (under the same ids, so JetStream keeps one copy) until done or
/// `lost`.
pub(crate) async fn publish_all(
    shared: &Shared,
    what: &str,
    messages: &[Outgoing],
    lost: &CancellationToken,
) -> Result<(), Abandoned> {
    if messages.is_empty() {
        return Ok(());
    }
    retry(lost, what, move || async move {
        let mut acks = Vec::with_capacity(messages.len());
        for m in messages {
            acks.push(shared.publisher.send_bytes(&m.subject, &m.msg_id, m.payload.clone(), m.trace.as_ref()).await?);
        }
        for ack in acks {
            ack.await.map_err(|e| statushawk_nats::async_nats::Error::from(e.to_string()))?;
        }
        Ok::<_, statushawk_nats::async_nats::Error>(())
    })
    .await
}

/// Retries `op` with back-off (0.2 s doubling to 5 s) until it succeeds or
/// `lost` fires.
pub(crate) async fn retry<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    lost: &CancellationToken,
    what: &str,
    op: impl FnMut() -> F,
) -> Result<T, Abandoned> {
    match retry_unless(lost, what, op, |_| None).await? {
        Ok(value) => Ok(value),
        // `|_| None` judges nothing permanent.
        Err(poison) => unreachable!("{what}: {poison:?}"),
    }
}

/// As [`retry`] for a Postgres step, but a permanent failure (bad data, a
/// constraint) is returned instead of retried: it can never pass.
pub(crate) async fn retry_or_poison<T, F: Future<Output = sqlx::Result<T>>>(
    lost: &CancellationToken,
    what: &str,
    op: impl FnMut() -> F,
) -> Result<Result<T, Poison>, Abandoned> {
    retry_unless(lost, what, op, |err| match statushawk_common::db::classify(err) {
        Failure::Permanent(reason) => Some(Poison { reason, error: err.to_string() }),
        Failure::Transient => None,
    })
    .await
}

/// Retries `op` with back-off until it succeeds, `permanent` says an error
/// never will (returned), or `lost` fires; each retry is counted and logged.
async fn retry_unless<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    lost: &CancellationToken,
    what: &str,
    mut op: impl FnMut() -> F,
    permanent: impl Fn(&E) -> Option<Poison>,
) -> Result<Result<T, Poison>, Abandoned> {
    let mut backoff = Duration::from_millis(200);
    loop {
        let attempt = tokio::select! {
            () = lost.cancelled() => return Err(Abandoned),
            attempt = op() => attempt,
        };
        match attempt {
            Ok(value) => return Ok(Ok(value)),
            Err(err) => {
                if let Some(poison) = permanent(&err) {
                    return Ok(Err(poison));
                }
                metrics::counter!(crate::metrics::STEP_RETRIES_TOTAL, "step" => what.to_owned()).increment(1);
                warn!(error = %err, retry_in = ?backoff, "{what} failed; retrying.");
            }
        }
        sleep_or(lost, backoff).await?;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

pub(crate) async fn sleep_or(lost: &CancellationToken, duration: Duration) -> Result<(), Abandoned> {
    tokio::select! {
        () = lost.cancelled() => Err(Abandoned),
        () = tokio::time::sleep(duration) => Ok(()),
    }
}
