//! Publishing JSON messages with deterministic message ids.

use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use bytes::Bytes;
use serde::Serialize;

use crate::Topology;

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
        self.send_bytes(subject, msg_id, Bytes::from(payload)).await
    }

    /// Sends an already-serialized payload; otherwise as [`Publisher::send`].
    pub async fn send_bytes(
        &self,
        subject: &str,
        msg_id: &str,
        payload: Bytes,
    ) -> Result<PublishAckFuture, PublishFailed> {
        let subject = self.topology.subject(subject);
        self.js
            .send_publish(subject.clone(), PublishMessage::build().payload(payload).message_id(msg_id))
            .await
            .map_err(|e| PublishFailed { subject, source: e.into() })
    }

    /// Sends and waits for the server's ack. Returns whether the server
    /// dropped it as a duplicate of a message with the same id.
    pub async fn publish<T: Serialize>(&self, subject: &str, msg_id: &str, message: &T) -> Result<bool, PublishFailed> {
        let ack = self.send(subject, msg_id, message).await?;
        let ack = ack.await.map_err(|e| PublishFailed { subject: self.topology.subject(subject), source: e.into() })?;
        Ok(ack.duplicate)
    }
}
