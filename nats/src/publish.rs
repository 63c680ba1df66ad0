//! Publishing JSON messages with deterministic message ids.

use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use bytes::Bytes;
use serde::Serialize;

use crate::Topology;
use crate::trace::{TRACEPARENT, TraceContext};

/// A publish that the client or server refused.
#[derive(Debug, thiserror::Error)]
#[error("publishing to {subject}: {source}")]
pub struct PublishFailed {
    subject: String,
    source: async_nats::Error,
}

/// Publishes StatusHawk messages into one deployment's streams.
#[derive(Clone)]
pub struct Publisher {
    js: jetstream::Context,
    topology: Topology,
}

impl Publisher {
    /// A publisher for `topology` (its prefix is applied to every subject).
    pub fn new(js: jetstream::Context, topology: Topology) -> Self {
        Self { js, topology }
    }

    /// The deployment's layout it publishes into.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Sends `message` as JSON to `subject` (unprefixed, from
    /// `statushawk_schemas::subject`) with `Nats-Msg-Id: msg_id`, and returns
    /// the future of the server's ack, so many publishes can be in flight.
    pub async fn send<T: Serialize>(
        &self,
        subject: &str,
        msg_id: &str,
        message: &T,
    ) -> Result<PublishAckFuture, PublishFailed> {
        let payload = serde_json::to_vec(message)
            .map_err(|e| PublishFailed { subject: self.topology.subject(subject), source: e.into() })?;
        self.send_bytes(subject, msg_id, Bytes::from(payload), None).await
    }

    /// Sends an already-serialized payload, with `traceparent` naming the
    /// hop `trace` when there is one; otherwise as [`Publisher::send`].
    pub async fn send_bytes(
        &self,
        subject: &str,
        msg_id: &str,
        payload: Bytes,
        trace: Option<&TraceContext>,
    ) -> Result<PublishAckFuture, PublishFailed> {
        let subject = self.topology.subject(subject);
        let mut message = PublishMessage::build().payload(payload).message_id(msg_id);
        if let Some(trace) = trace {
            message = message.header(TRACEPARENT, trace.header());
        }
        self.js.send_publish(subject.clone(), message).await.map_err(|e| PublishFailed { subject, source: e.into() })
    }

    /// Sends and waits for the server's ack. Returns whether the server
    /// dropped it as a duplicate of a message with the same id.
    pub async fn publish<T: Serialize>(&self, subject: &str, msg_id: &str, message: &T) -> Result<bool, PublishFailed> {
        self.publish_traced(subject, msg_id, message, None).await
    }

    /// As [`Publisher::publish`], as the hop `trace` of a trace.
    pub async fn publish_traced<T: Serialize>(
        &self,
        subject: &str,
        msg_id: &str,
        message: &T,
        trace: Option<&TraceContext>,
    ) -> Result<bool, PublishFailed> {
        let payload = serde_json::to_vec(message)
            .map_err(|e| PublishFailed { subject: self.topology.subject(subject), source: e.into() })?;
        let ack = self.send_bytes(subject, msg_id, Bytes::from(payload), trace).await?;
        let ack = ack.await.map_err(|e| PublishFailed { subject: self.topology.subject(subject), source: e.into() })?;
        Ok(ack.duplicate)
    }
}
