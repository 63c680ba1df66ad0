//! Following configuration changes on the `CONFIG` stream.

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use futures::stream::BoxStream;
use statushawk_schemas::ConfigChange;
use tracing::warn;

use crate::{CONFIG, Topology, TraceContext};

/// Following `CONFIG` failed (the caller starts over).
#[derive(Debug, thiserror::Error)]
#[error("following configuration changes: {source}")]
pub struct ConfigWatchError {
    source: async_nats::Error,
}

fn watch_error(source: impl Into<async_nats::Error>) -> ConfigWatchError {
    ConfigWatchError { source: source.into() }
}

/// The configuration changes on `filter` (an unprefixed subject such as
/// `config.>`) from now on, in order, each with the trace context of the
/// API request that made it (`traceparent`), if any. Undecodable messages are skipped,
/// logged and counted; the stream ends with an error when the subscription
/// fails, and the caller starts over (a periodic reconcile against Postgres
/// heals what was missed meanwhile).
pub async fn config_changes(
    js: &jetstream::Context,
    topology: &Topology,
    filter: &str,
    reader: &'static str,
) -> Result<BoxStream<'static, Result<(ConfigChange, Option<TraceContext>), ConfigWatchError>>, ConfigWatchError> {
    let stream = js.get_stream_no_info(topology.stream(CONFIG)).await.map_err(watch_error)?;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: topology.subject(filter),
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await
        .map_err(watch_error)?;
    let stream_name = topology.stream(CONFIG);
    let messages = consumer.messages().await.map_err(watch_error)?;
    Ok(messages.filter_map(move |message| {
        let stream_name = stream_name.clone();
        async move {
            let message = match message {
                Ok(message) => message,
                Err(err) => return Some(Err(watch_error(err))),
            };
            match serde_json::from_slice::<ConfigChange>(&message.payload) {
                Ok(change) => Some(Ok((change, TraceContext::from_headers(message.headers.as_ref())))),
                Err(err) => {
                    warn!(subject = %message.subject, error = %err, "Undecodable configuration message ignored.");
                    metrics::counter!(crate::metrics::POISON_MESSAGES_TOTAL, "stream" => stream_name, "consumer" => reader)
                        .increment(1);
                    None
                }
            }
        }
    })
    .boxed())
}
