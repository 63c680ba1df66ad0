//! Received messages that must be settled explicitly.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use serde::de::DeserializeOwned;
use tracing::warn;

/// The server did not take an acknowledgement.
#[derive(Debug, thiserror::Error)]
#[error("settling message {subject}: {source}")]
pub struct DeliveryError {
    subject: String,
    source: async_nats::Error,
}

/// A JetStream message with its decoded payload.
///
/// It must be settled after its side effects are durable: [`Delivery::ack`]
/// when done, [`Delivery::nak`] with a delay on a transient failure (it comes
/// back), [`Delivery::term`] when it can never be processed. A delivery
/// dropped unsettled is redelivered after the consumer's ack wait, and logged.
#[must_use = "a delivery must be acked, nak'ed or terminated"]
pub struct Delivery<T> {
    message: jetstream::Message,
    payload: T,
    settled: bool,
}

impl<T: DeserializeOwned> Delivery<T> {
    /// Decodes a message's JSON payload. An undecodable message can never be
    /// processed: it is terminated (so it is not redelivered), logged and
    /// counted in `statushawk_nats_poison_messages_total`, and `None` is
    /// returned.
    pub async fn decode(message: jetstream::Message) -> Option<Self> {
        match serde_json::from_slice::<T>(&message.payload) {
            Ok(payload) => Some(Self { message, payload, settled: false }),
            Err(err) => {
                let (stream, consumer) = match message.info() {
                    Ok(info) => (info.stream.to_owned(), info.consumer.to_owned()),
                    Err(_) => (String::new(), String::new()),
                };
                warn!(
                    subject = %message.subject, stream, consumer, error = %err,
                    "Undecodable message terminated."
                );
                metrics::counter!(crate::metrics::POISON_MESSAGES_TOTAL, "stream" => stream, "consumer" => consumer)
                    .increment(1);
                if let Err(err) = message.ack_with(AckKind::Term).await {
                    warn!(subject = %message.subject, error = %err, "Terminating an undecodable message failed.");
                }
                None
            }
        }
    }
}

impl<T> Delivery<T> {
    /// The decoded payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// The subject it arrived on (with any deployment prefix).
    pub fn subject(&self) -> &str {
        &self.message.subject
    }

    /// The trace context its sender gave it (`traceparent`), if any.
    pub fn trace(&self) -> Option<crate::TraceContext> {
        crate::TraceContext::from_headers(self.message.headers.as_ref())
    }

    /// How many times the server has delivered it (1 on the first delivery).
    pub fn delivered(&self) -> i64 {
        self.message.info().map(|info| info.delivered).unwrap_or(1)
    }

    /// Messages of its consumer still waiting behind it.
    pub fn pending(&self) -> u64 {
        self.message.info().map(|info| info.pending).unwrap_or(0)
    }

    /// Acknowledges it after its side effects, and waits for the server to
    /// confirm, so a confirmed ack is never redelivered.
    pub async fn ack(mut self) -> Result<(), DeliveryError> {
        self.settled = true;
        self.message.double_ack().await.map_err(|e| self.error(e))
    }

    /// Acknowledges it without waiting for the server to confirm: for work
    /// whose output is deduplicated by message id, where an ack lost on the
    /// way costs only doing the work once more (the prober's due checks).
    /// Saves a round trip per message.
    pub async fn ack_unconfirmed(mut self) -> Result<(), DeliveryError> {
        self.settled = true;
        self.message.ack().await.map_err(|e| self.error(e))
    }

    /// Asks for redelivery after `delay`: the work failed for a reason that
    /// may pass (a store down, a timeout).
    pub async fn nak(mut self, delay: Duration) -> Result<(), DeliveryError> {
        self.settled = true;
        self.message.ack_with(AckKind::Nak(Some(delay))).await.map_err(|e| self.error(e))
    }

    /// Stops redelivery of a message that can never be processed.
    pub async fn term(mut self, reason: &str) -> Result<(), DeliveryError> {
        self.settled = true;
        warn!(subject = %self.message.subject, reason, "Message terminated.");
        self.message.ack_with(AckKind::Term).await.map_err(|e| self.error(e))
    }

    /// Tells the server the work goes on, resetting the ack wait.
    pub async fn in_progress(&self) -> Result<(), DeliveryError> {
        self.message.ack_with(AckKind::Progress).await.map_err(|e| self.error(e))
    }

    fn error(&self, source: async_nats::Error) -> DeliveryError {
        DeliveryError { subject: self.message.subject.to_string(), source }
    }
}

impl<T: serde::Serialize> Delivery<T> {
    /// Sets a message that can never be processed aside: publishes a copy
    /// with `why` on `deadletter.<service>` (under an id derived from
    /// `original_msg_id`, so a redelivered copy is kept once) and, only once
    /// that is acknowledged, terminates it. A failed publish leaves the
    /// message unsettled: it comes back and is set aside then.
    pub async fn dead_letter(
        self,
        publisher: &crate::Publisher,
        why: SetAside<'_>,
        original_msg_id: &str,
    ) -> Result<(), DeadLetterError> {
        let letter = statushawk_schemas::DeadLetter {
            schema_version: statushawk_schemas::SCHEMA_VERSION,
            service: why.service.to_owned(),
            step: why.step.to_owned(),
            reason: why.reason.to_owned(),
            error: why.error.to_owned(),
            subject: publisher.topology().unprefixed(&self.message.subject).unwrap_or_default().to_owned(),
            payload: serde_json::to_value(&self.payload).unwrap_or_default(),
            at_ms: statushawk_schemas::now_ms(),
        };
        publisher.publish(&letter.subject(), &letter.msg_id(original_msg_id), &letter).await?;
        self.term(&format!("dead letter ({}, {}): {}", why.step, why.reason, why.error)).await?;
        Ok(())
    }
}

/// Why a message is set aside ([`Delivery::dead_letter`]).
#[derive(Clone, Copy, Debug)]
pub struct SetAside<'a> {
    /// The service giving up on it: `evaluator`, `notifier`.
    pub service: &'a str,
    /// The step that cannot succeed, e.g. `committing to Postgres`.
    pub step: &'a str,
    /// A short label for the error (`sqlstate_22021`), also the metric's.
    pub reason: &'a str,
    /// The error in full.
    pub error: &'a str,
}

impl<T> Drop for Delivery<T> {
    fn drop(&mut self) {
        if !self.settled {
            warn!(subject = %self.message.subject, "Delivery dropped unsettled; it will be redelivered after the ack wait.");
        }
    }
}

/// Setting a message aside failed; it stays unsettled and comes back.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// The dead letter was not published.
    #[error(transparent)]
    Publish(#[from] crate::PublishFailed),
    /// The message was not terminated.
    #[error(transparent)]
    Term(#[from] DeliveryError),
}
