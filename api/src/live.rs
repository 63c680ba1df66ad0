//! Live results over server-sent events, fed from NATS.
//!
//! A monitor's feed subscribes to exactly its result subject
//! (`checks.result.<p>.*.<monitor>`). The team feed shares one subscription
//! to every result per API process and fans it out by team. Each client has
//! a small buffer: a client that falls behind is disconnected, so it never
//! slows the others (it reconnects and goes on from the live edge).
//!
//! Only genuine results are shown. A prober's NATS account vouches only for
//! the subject it publishes on, so each result is held against its subject
//! (`CheckResult::matches_subject`) and against its monitor as Postgres has
//! it (`CheckResult::matches_monitor`: team, regions), and the team feed
//! routes by that team, never by the payload's. The monitors' teams and
//! regions are kept in a small cache ([`Owners`]), filled on demand and
//! dropped on every `CONFIG` change of the monitor or after [`OWNERS_TTL`].
//! Refused results are counted in `statushawk_api_live_forged_total{reason}`.
//!
//! A feed ends when its client leaves: a keep-alive comment every
//! [`Settings::keep_alive`] fails to write to a closed connection, the
//! stream is dropped, and with it the client's NATS subscription (or its
//! place in the team fan-out). It also ends when its caller's access ends:
//! every [`Settings::reauthorize`] the request's credentials go through the
//! `Caller` extractor again (token revoked or expired, member removed).
//! `statushawk_api_live_feeds{feed}` counts the open feeds.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{FromRequestParts, State as Shared};
use axum::http::{HeaderMap, Uri};
use axum::response::sse::{Event, KeepAlive, KeepAliveStream, Sse};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use statushawk_nats::async_nats::{self, jetstream};
use statushawk_schemas::{CheckResult, ConfigOp, Forgery, MonitorId, Region, TeamId, partition_of, subject};
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, warn};
use uuid::Uuid;

use crate::State;
use crate::auth::Caller;
use crate::error::{ApiError, Id};

/// Results a client may be behind before it is disconnected.
const CLIENT_BUFFER: usize = 256;

/// How long a monitor's team and regions are kept without a `CONFIG`
/// change dropping them first.
pub const OWNERS_TTL: Duration = Duration::from_secs(60);

/// Monitors whose team and regions are kept.
const OWNERS_CAPACITY: u64 = 200_000;

/// Results the team fan-out screens together (one Postgres read for the
/// monitors it has not met).
const FAN_OUT_CHUNK: usize = 512;

/// How often a feed proves it is alive and its caller still allowed.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Between SSE keep-alive comments. Writing one to a client that has
    /// gone fails, and the feed ends: a feed outlives its client by at most
    /// about twice this.
    pub keep_alive: Duration,
    /// Between checks of the caller's token (revoked, expired, no longer a
    /// member: the feed ends).
    pub reauthorize: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self { keep_alive: Duration::from_secs(5), reauthorize: Duration::from_secs(30) }
    }
}

type EventStream = Sse<KeepAliveStream<BoxStream<'static, Result<Event, Infallible>>>>;

/// `GET /api/v1/monitors/{id}/live`: the monitor's results as they come.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/live", tag = "live", params(("id" = uuid::Uuid, Path, description = "Monitor id")), responses((status = 200, content_type = "text/event-stream", description = "Server-sent events: each `result` event's data is a `CheckResult`; a comment every 5 s keeps the stream alive, and the stream ends when the caller's token is revoked or expires or its member is removed (checked every 30 s)", body = String)))]
pub async fn monitor(
    Shared(state): Shared<State>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
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
    let access = Access::new(&state, &caller, uri, headers);
    let partition = partition_of(id, state.topology.partitions);
    let filter = state.topology.subject(&format!("checks.result.{partition}.*.{id}"));
    let subscription = state.nats.subscribe(filter).await.map_err(ApiError::internal)?;
    let (tx, rx) = mpsc::channel::<Bytes>(CLIENT_BUFFER);
    tokio::spawn(forward(state.clone(), id, caller.team, subscription, tx));
    let results = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|p| (p, rx)) });
    Ok(feed(access, state.live, results.boxed()))
}

/// Passes the monitor's genuine results to its client until the client
/// leaves (even if no result comes), falls behind, or the subscription
/// ends; then unsubscribes.
async fn forward(
    state: State,
    id: MonitorId,
    team: TeamId,
    mut subscription: async_nats::Subscriber,
    tx: mpsc::Sender<Bytes>,
) {
    let _open = OpenFeed::new("monitor");
    'feed: loop {
        let message = tokio::select! {
            message = subscription.next() => message,
            () = tx.closed() => break,
        };
        let Some(message) = message else { break };
        for (owner, payload) in screen(&state, vec![message]).await {
            if owner != team {
                continue;
            }
            match tx.try_send(payload) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    debug!(monitor_id = %id, "Live client too slow; disconnected.");
                    break 'feed;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => break 'feed,
            }
        }
    }
    let _ = subscription.unsubscribe().await;
}

/// `GET /api/v1/live`: every result of the caller's team as it comes.
#[utoipa::path(get, path = "/api/v1/live", tag = "live", responses((status = 200, content_type = "text/event-stream", description = "Server-sent events: each `result` event's data is a `CheckResult` of one of the team's monitors; a comment every 5 s keeps the stream alive, and the stream ends when the caller's token is revoked or expires or its member is removed (checked every 30 s)", body = String)))]
pub async fn team(
    Shared(state): Shared<State>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
) -> Result<EventStream, ApiError> {
    let access = Access::new(&state, &caller, uri, headers);
    let rx = state.hub.join(&state, caller.team).await?;
    let listener = TeamListener { state: state.clone(), team: caller.team, rx: Some(rx), _open: OpenFeed::new("team") };
    let results = futures::stream::unfold(listener, |mut listener| async move {
        match listener.rx.as_mut()?.recv().await {
            Ok(payload) => Some((payload, listener)),
            // Lagged: too slow, disconnected. Closed: the hub stopped.
            Err(_) => None,
        }
    });
    Ok(feed(access, state.live, results.boxed()))
}

/// The SSE response of a feed: `results` as `result` events, keep-alive
/// comments, and an end when the caller's access ends.
fn feed(access: Access, settings: Settings, results: BoxStream<'static, Bytes>) -> EventStream {
    let period = settings.reauthorize.max(Duration::from_millis(10));
    let mut check = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let events = futures::stream::unfold((results, check, access), |(mut results, mut check, access)| async move {
        enum Next {
            Result(Option<Bytes>),
            Check,
        }
        loop {
            let next = tokio::select! {
                result = results.next() => Next::Result(result),
                _ = check.tick() => Next::Check,
            };
            match next {
                Next::Result(result) => {
                    let payload = result?;
                    let event = Event::default().event("result").data(String::from_utf8_lossy(&payload));
                    return Some((Ok(event), (results, check, access)));
                }
                Next::Check => {
                    if !access.still_granted().await {
                        return None;
                    }
                }
            }
        }
    });
    Sse::new(events.boxed()).keep_alive(KeepAlive::new().interval(settings.keep_alive))
}

/// The request a feed was opened with (its headers carry the credentials),
/// to check them again.
struct Access {
    state: State,
    uri: Uri,
    headers: HeaderMap,
    team: TeamId,
}

impl Access {
    fn new(state: &State, caller: &Caller, uri: Uri, headers: HeaderMap) -> Self {
        Self { state: state.clone(), uri, headers, team: caller.team }
    }

    /// Whether the credentials still give the same team, by the same rules
    /// as every request (the `Caller` extractor, on the same URI and
    /// headers). A failure to tell (Postgres down) ends the feed too.
    async fn still_granted(&self) -> bool {
        let Ok(request) = axum::http::Request::get(self.uri.clone()).body(()) else { return false };
        let (mut parts, ()) = request.into_parts();
        parts.headers = self.headers.clone();
        match Caller::from_request_parts(&mut parts, &self.state).await {
            Ok(caller) => caller.team == self.team,
            Err(err) => {
                debug!(error = ?err, "Live feed ended: its caller's access is gone.");
                false
            }
        }
    }
}

/// Counts an open feed in `statushawk_api_live_feeds{feed}` while it lives.
struct OpenFeed(&'static str);

impl OpenFeed {
    fn new(feed: &'static str) -> Self {
        metrics::gauge!(crate::metrics::LIVE_FEEDS, "feed" => feed).increment(1.0);
        Self(feed)
    }
}

impl Drop for OpenFeed {
    fn drop(&mut self) {
        metrics::gauge!(crate::metrics::LIVE_FEEDS, "feed" => self.0).decrement(1.0);
    }
}

/// One client of the team fan-out; leaving removes the team from the
/// fan-out when it was the last.
struct TeamListener {
    state: State,
    team: TeamId,
    rx: Option<broadcast::Receiver<Bytes>>,
    _open: OpenFeed,
}

impl Drop for TeamListener {
    fn drop(&mut self) {
        drop(self.rx.take());
        let mut teams = self.state.hub.teams.lock().unwrap_or_else(|e| e.into_inner());
        if teams.get(&self.team).is_some_and(|sender| sender.receiver_count() == 0) {
            teams.remove(&self.team);
        }
    }
}

/// A monitor's team and the regions it is checked from, as Postgres has
/// them.
#[derive(Debug)]
struct Owner {
    team: TeamId,
    regions: Vec<Region>,
}

/// Monitor → [`Owner`] (`None`: no such monitor), filled on demand.
pub struct Owners {
    cache: moka::future::Cache<MonitorId, Option<Arc<Owner>>>,
    following: tokio::sync::OnceCell<()>,
}

impl Default for Owners {
    fn default() -> Self {
        Self {
            cache: moka::future::Cache::builder().max_capacity(OWNERS_CAPACITY).time_to_live(OWNERS_TTL).build(),
            following: tokio::sync::OnceCell::new(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct OwnerRow {
    id: Uuid,
    team_id: Uuid,
    regions: Vec<String>,
}

impl Owners {
    /// The owners of `ids`, from the cache or Postgres.
    async fn of(
        &self,
        state: &State,
        ids: impl Iterator<Item = MonitorId>,
    ) -> sqlx::Result<HashMap<MonitorId, Option<Arc<Owner>>>> {
        self.follow(state).await;
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        for id in ids {
            if found.contains_key(&id) {
                continue;
            }
            match self.cache.get(&id).await {
                Some(owner) => {
                    found.insert(id, owner);
                }
                None if !missing.contains(&id.0) => missing.push(id.0),
                None => {}
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        // A heartbeat monitor's results come from the region `heartbeat`.
        let rows: Vec<OwnerRow> = sqlx::query_as(
            "SELECT id, team_id, CASE WHEN kind = 'heartbeat' THEN ARRAY['heartbeat'] ELSE regions END AS regions \
             FROM monitors WHERE id = ANY($1)",
        )
        .bind(&missing)
        .fetch_all(&state.pg)
        .await?;
        let mut rows: HashMap<Uuid, OwnerRow> = rows.into_iter().map(|row| (row.id, row)).collect();
        for id in missing {
            let owner = rows.remove(&id).map(|row| {
                let regions = row.regions.into_iter().filter_map(|r| Region::new(r).ok()).collect();
                Arc::new(Owner { team: TeamId(row.team_id), regions })
            });
            self.cache.insert(MonitorId(id), owner.clone()).await;
            found.insert(MonitorId(id), owner);
        }
        Ok(found)
    }

    /// Starts following `CONFIG` (once per process): each monitor change
    /// drops the monitor's entry.
    async fn follow(&self, state: &State) {
        self.following
            .get_or_init(|| async {
                let cache = self.cache.clone();
                let (js, topology) = (jetstream::new(state.nats.clone()), state.topology.clone());
                tokio::spawn(async move {
                    loop {
                        if let Err(err) = drop_changed(&js, &topology, &cache).await {
                            warn!(error = %err, "Following monitor changes for the live feeds failed; retrying.");
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                });
            })
            .await;
    }
}

async fn drop_changed(
    js: &jetstream::Context,
    topology: &statushawk_nats::Topology,
    cache: &moka::future::Cache<MonitorId, Option<Arc<Owner>>>,
) -> anyhow::Result<()> {
    let mut changes = statushawk_nats::config_changes(js, topology, subject::CONFIG_MONITORS_ALL, "api").await?;
    // Changes made before the consumer started (or while it was down) are
    // not replayed: forget everything.
    cache.invalidate_all();
    while let Some(change) = changes.next().await {
        match change?.0.op {
            ConfigOp::MonitorUpserted { monitor } => cache.invalidate(&monitor.id).await,
            ConfigOp::MonitorDeleted { monitor_id, .. } => cache.invalidate(&monitor_id).await,
            ConfigOp::ChannelChanged { .. } | ConfigOp::ChannelDeleted { .. } => {}
        }
    }
    Ok(())
}

/// The genuine results among `messages`, each with its monitor's team;
/// forged ones are counted and left out, as are results of monitors that
/// do not exist (nobody's).
async fn screen(state: &State, messages: Vec<async_nats::Message>) -> Vec<(TeamId, Bytes)> {
    let partitions = state.topology.partitions;
    let mut candidates = Vec::with_capacity(messages.len());
    for message in messages {
        let Ok(result) = serde_json::from_slice::<CheckResult>(&message.payload) else {
            forged(&message.subject, "payload");
            continue;
        };
        let matched = state
            .topology
            .unprefixed(&message.subject)
            .ok_or(Forgery::Subject)
            .and_then(|subject| result.matches_subject(subject, partitions));
        match matched {
            Ok(()) => candidates.push((result, message)),
            Err(why) => forged(&message.subject, why.as_str()),
        }
    }
    if candidates.is_empty() {
        return Vec::new();
    }
    let owners = match state.hub.owners.of(state, candidates.iter().map(|(r, _)| r.monitor_id)).await {
        Ok(owners) => owners,
        Err(err) => {
            // Nothing unverified is shown.
            warn!(error = %err, results = candidates.len(), "Reading monitors for the live feeds failed; results skipped.");
            return Vec::new();
        }
    };
    candidates
        .into_iter()
        .filter_map(|(result, message)| {
            let owner = owners.get(&result.monitor_id)?.as_ref()?;
            match result.matches_monitor(owner.team, &owner.regions) {
                Ok(()) => Some((owner.team, message.payload)),
                Err(why) => {
                    forged(&message.subject, why.as_str());
                    None
                }
            }
        })
        .collect()
}

fn forged(subject: &str, reason: &'static str) {
    debug!(subject, reason, "Forged result kept from the live feeds.");
    metrics::counter!(crate::metrics::LIVE_FORGED_TOTAL, "reason" => reason).increment(1);
}

/// One subscription to every result, fanned out to the teams that listen.
#[derive(Default)]
pub struct Hub {
    teams: Mutex<HashMap<TeamId, broadcast::Sender<Bytes>>>,
    started: tokio::sync::OnceCell<()>,
    /// The monitors' teams and regions, for both kinds of feed.
    owners: Owners,
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

async fn fan_out(state: State, subscription: async_nats::Subscriber) {
    let mut chunks = subscription.ready_chunks(FAN_OUT_CHUNK);
    while let Some(messages) = chunks.next().await {
        if state.hub.teams.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
            continue;
        }
        let genuine = screen(&state, messages).await;
        let mut teams = state.hub.teams.lock().unwrap_or_else(|e| e.into_inner());
        for (team, payload) in genuine {
            if let Some(sender) = teams.get(&team)
                && sender.send(payload).is_err()
            {
                // Nobody of this team listens any more.
                teams.remove(&team);
            }
        }
    }
    warn!("The live results subscription ended.");
}
