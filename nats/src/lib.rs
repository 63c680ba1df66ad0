//! StatusHawk's use of NATS JetStream, in one place.
//!
//! - [`Topology`]: every stream, durable consumer and KV bucket of the
//!   design, declared as data and applied idempotently ([`Topology::ensure`]).
//! - [`Lease`]: leader election and partition ownership on the `leases` KV
//!   bucket, with a signal the holder watches for loss.
//! - [`Delivery`]: a received message with its decoded payload, which must be
//!   acked explicitly after its side effects.
//! - [`Publisher`]: JSON publishing with a deterministic `Nats-Msg-Id`.
//! - [`config_changes`]: the configuration changes on `CONFIG`, decoded.
//! - [`trace`]: the W3C trace context carried in message headers.
//!
//! Every name goes through a [`Topology`], which can put a prefix in front of
//! streams, subjects and buckets, so that several deployments (or parallel
//! tests) can share one NATS account.

mod config;
mod delivery;
mod lease;
pub mod metrics;
mod publish;
mod topology;
pub mod trace;

pub use config::{ConfigWatchError, config_changes};
pub use delivery::{DeadLetterError, Delivery, DeliveryError, SetAside};
pub use lease::{Lease, LeaseError, Leases};
pub use publish::{PublishFailed, Publisher};
pub use topology::{
    Action, CHECK_RESULTS, CHECKS_DUE, CONFIG, DEAD_LETTERS, EVENTS, HEARTBEATS, ItemReport, LEASES_BUCKET,
    NOTIFIER_CONSUMER, Topology, TopologyError, evaluator_consumer, evaluator_heartbeats_consumer, prober_consumer,
    prober_urgent_consumer,
};
pub use trace::TraceContext;

pub use async_nats;

/// Connects to NATS with StatusHawk's client settings: a client name that
/// shows in the server's connection list. An unreachable server is an error
/// at once; once connected, the client reconnects by itself.
pub async fn connect(url: &str, client_name: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    async_nats::ConnectOptions::new()
        .name(client_name)
        .connection_timeout(std::time::Duration::from_secs(5))
        .connect(url)
        .await
}
