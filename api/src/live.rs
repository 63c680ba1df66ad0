//! Live results over server-sent events, fed from NATS.
//!
//! A monitor's feed subscribes to exactly its result subject
//! (`checks.result.<p>.*.<monitor>`). The team feed shares one subscription
//! to every result per API process and fans it out by team. Each client has
//! a small buffer: a client that falls behind is disconnected, so it never
//! slows the others (it reconnects and goes on from the live edge).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::State as Shared;
use axum::response::sse::{Event, KeepAlive, KeepAliveStream, Sse};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use statushawk_schemas::{MonitorId, TeamId, partition_of, subject};
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, warn};

use crate::State;
use crate::auth::Caller;
use crate::error::{ApiError, Id};

/// Results a client may be behind before it is disconnected.
const CLIENT_BUFFER: usize = 256;

type EventStream = Sse<KeepAliveStream<futures::stream::BoxStream<'static, Result<Event, Infallible>>>>;

fn sse(stream: impl Stream<Item = Bytes> + Send + 'static) -> EventStream {
    let events =
        stream.map(|payload| Ok(Event::default().event("result").data(String::from_utf8_lossy(&payload)))).boxed();
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// `GET /api/v1/monitors/{id}/live`: the monitor's results as they come.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/live", tag = "live", params(("id" = uuid::Uuid, Path, description = "Monitor id")), responses((status = 200, content_type = "text/event-stream", description = "Server-sent events: each `result` event's data is a `CheckResult`; a comment every 15 s keeps the stream alive", body = String)))]
pub async fn monitor(
    Shared(state): Shared<State>,
    caller: Caller,
    Id(id): Id<MonitorId>,
) -> Result<EventStream, ApiError> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM monitors WHERE id = $1 AND team_id = $2)")
        .bind(id.0)
        .bind(caller.team.0)
        .fetch_one(&state.pg)
        .await?;
    if !exists {
        return Err(ApiError::not_found("monitor"));
    }
    let partition = partition_of(id, state.topology.partitions);
    let filter = state.topology.subject(&format!("checks.result.{partition}.*.{id}"));
    let mut subscription = state.nats.subscribe(filter).await.map_err(ApiError::internal)?;
    let (tx, rx) = mpsc::channel::<Bytes>(CLIENT_BUFFER);
    tokio::spawn(async move {
        while let Some(message) = subscription.next().await {
            match tx.try_send(message.payload) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    debug!(monitor_id = %id, "Live client too slow; disconnected.");
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => break,
            }
        }
        let _ = subscription.unsubscribe().await;
    });
    Ok(sse(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|p| (p, rx)) })))
}

/// `GET /api/v1/live`: every result of the caller's team as it comes.
#[utoipa::path(get, path = "/api/v1/live", tag = "live", responses((status = 200, content_type = "text/event-stream", description = "Server-sent events: each `result` event's data is a `CheckResult` of one of the team's monitors", body = String)))]
pub async fn team(Shared(state): Shared<State>, caller: Caller) -> Result<EventStream, ApiError> {
    let rx = state.hub.join(&state, caller.team).await?;
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(payload) => Some((payload, rx)),
            // Lagged: too slow, disconnected. Closed: the hub stopped.
            Err(_) => None,
        }
    });
    Ok(sse(stream))
}

/// One subscription to every result, fanned out to the teams that listen.
#[derive(Default)]
pub struct Hub {
    teams: Mutex<HashMap<TeamId, broadcast::Sender<Bytes>>>,
    started: tokio::sync::OnceCell<()>,
}

#[derive(Deserialize)]
struct TeamOf {
    team_id: TeamId,
}

impl Hub {
    async fn join(&self, state: &State, team: TeamId) -> Result<broadcast::Receiver<Bytes>, ApiError> {
        self.started
            .get_or_try_init(|| async {
                let filter = state.topology.subject(subject::CHECK_RESULTS_ALL);
                let subscription = state.nats.subscribe(filter).await.map_err(ApiError::internal)?;
                tokio::spawn(fan_out(state.clone(), subscription));
                Ok::<(), ApiError>(())
            })
            .await?;
        let mut teams = self.teams.lock().unwrap_or_else(|e| e.into_inner());
        Ok(teams.entry(team).or_insert_with(|| broadcast::channel(CLIENT_BUFFER).0).subscribe())
    }
}

async fn fan_out(state: State, mut subscription: statushawk_nats::async_nats::Subscriber) {
    while let Some(message) = subscription.next().await {
        let Ok(TeamOf { team_id }) = serde_json::from_slice(&message.payload) else { continue };
        let mut teams = state.hub.teams.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = teams.get(&team_id)
            && sender.send(message.payload).is_err()
        {
            // Nobody of this team listens any more.
            teams.remove(&team_id);
        }
    }
    warn!("The live results subscription ended.");
}
