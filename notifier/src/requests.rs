//! Answers the API's channel tests and verifications (`requests.channels`,
//! a core NATS request): only notifiers connect to tenants' endpoints, so
//! the API process never does. Notifiers share the subject in one queue
//! group, so each request is answered once; with none running, the API
//! hears "no responders" at once and says so.

use std::sync::Arc;

use futures::StreamExt as _;
use statushawk_channels::{ChannelKind, ChannelSettings};
use statushawk_schemas::{ChannelAnswer, ChannelRequest, ChannelRequestOp, ChannelUnderTest, subject};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, debug, info_span, warn};

use crate::Shared;
use crate::send::Verdict;

/// The queue group notifiers answer in.
const QUEUE: &str = "notifier";

/// Requests handled at once; more wait (each ends by the send deadline).
const CONCURRENCY: usize = 16;

/// Answers requests until `shutdown`.
pub(crate) async fn serve(shared: Arc<Shared>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let client = shared.deps.js.client();
    let subject = shared.deps.topology.subject(subject::CHANNEL_REQUESTS);
    let mut requests = client
        .queue_subscribe(subject.clone(), QUEUE.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("subscribing to {subject}: {e}"))?;
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => break,
            message = requests.next() => match message {
                Some(message) => message,
                None => anyhow::bail!("the subscription to {subject} ended"),
            },
        };
        let Some(reply) = message.reply.clone() else {
            debug!("A channel request without a reply subject; ignored.");
            continue;
        };
        let Ok(slot) = slots.clone().acquire_owned().await else { break };
        let (shared, client) = (shared.clone(), client.clone());
        tokio::spawn(
            async move {
                let answer = match serde_json::from_slice::<ChannelRequest>(&message.payload) {
                    Ok(request) => answer(&shared, request).await,
                    Err(err) => ChannelAnswer::refused(format!("not a channel request: {err}")),
                };
                let body = serde_json::to_vec(&answer).unwrap_or_default();
                if let Err(err) = client.publish(reply, body.into()).await {
                    warn!(error = %err, "Answering a channel request failed.");
                }
                drop(slot);
            }
            .instrument(info_span!("channel_request")),
        );
    }
    Ok(())
}

async fn answer(shared: &Shared, request: ChannelRequest) -> ChannelAnswer {
    let settings = match settings_of(shared, request.channel).await {
        Ok(settings) => settings,
        Err(answer) => return answer,
    };
    match request.op {
        ChannelRequestOp::Test => {
            let attempt = crate::send_test(&shared.deps.sender, &settings).await;
            match attempt.verdict {
                Verdict::Delivered => ChannelAnswer::delivered(attempt.http_status),
                _ => ChannelAnswer::failed(
                    attempt.error.unwrap_or_else(|| "not delivered".to_owned()),
                    None,
                    attempt.http_status,
                ),
            }
        }
        ChannelRequestOp::Verify => match crate::verify::verify(&shared.deps.sender, &settings).await {
            Ok(()) => ChannelAnswer::delivered(None),
            Err(err) => ChannelAnswer::failed(err.to_string(), err.field().map(str::to_owned), None),
        },
    }
}

/// The channel's settings: a saved one's from Postgres (secrets opened),
/// or the request's own (its secret opened). The error is the answer.
async fn settings_of(shared: &Shared, channel: ChannelUnderTest) -> Result<ChannelSettings, ChannelAnswer> {
    match channel {
        ChannelUnderTest::Saved { channel_id, team_id } => {
            let loaded = crate::store::load_channel(&shared.deps.pg, shared.deps.secrets.as_ref(), channel_id)
                .await
                .map_err(|err| ChannelAnswer::refused(format!("reading the channel: {err}")))?
                .filter(|loaded| loaded.team_id == team_id)
                .ok_or_else(|| ChannelAnswer::refused("no such channel"))?;
            loaded.settings.map_err(|err| ChannelAnswer::failed(err, None, None))
        }
        ChannelUnderTest::Settings { kind, config, sealed_secret } => {
            let kind: ChannelKind = kind.parse().map_err(|err| ChannelAnswer::refused(format!("{err}")))?;
            let secret = match sealed_secret {
                None => None,
                Some(wire) => {
                    let secrets = shared.deps.secrets.as_ref().ok_or_else(|| {
                        ChannelAnswer::refused("the notifier has no secrets.key to open the channel's secrets")
                    })?;
                    Some(secrets.open_channel_request_secret(&wire).map_err(|err| {
                        ChannelAnswer::refused(format!(
                            "the channel's secrets do not open ({err}): the API and the notifier need the same secrets.key"
                        ))
                    })?)
                }
            };
            ChannelSettings::parse(kind, &config, secret.as_ref()).map_err(|err| {
                let err = err.within("settings");
                ChannelAnswer::failed(err.message, Some(err.field), None)
            })
        }
    }
}
