//! The notifier: incident events to e-mail, webhooks, chat and pagers.
//!
//! Three loops share one Postgres delivery log ([`store`]), and a fourth
//! sends the deployment's own mail ([`system_mail`]):
//! - the **consumer** reads `events.incident.>` (durable consumer
//!   `notifier`), and for each event and each channel linked to the monitor
//!   claims one delivery row, `pending`, or `suppressed` while a
//!   maintenance window covers the monitor; then it acks. Claiming is
//!   idempotent, so a redelivered event adds nothing.
//! - **delivery workers** take due rows (`FOR UPDATE SKIP LOCKED`, so any
//!   number of notifiers share the work), render the notification for the
//!   channel (`statushawk_channels`), send it once ([`send`]) and record the try: 2xx
//!   is delivered; 429, 5xx and transport errors come back after an
//!   exponential back-off with jitter or the provider's `Retry-After`; other
//!   4xx fail at once with the provider's message. Every send ends by one
//!   hard deadline (a timeout is a retry), and a team holds at most
//!   `max_per_team` of the slots at once, so one tenant's slow or silent
//!   servers cannot delay anyone else's notifications.
//! - **reminders** re-notify channels that ask for it while an incident
//!   stays open, one reminder per period whoever computes it.
//!
//! It also answers the API's channel tests and verifications
//! ([`requests`]): only notifiers connect to tenants' endpoints.
//!
//! Which channels a monitor has is cached, dropped on `CONFIG` changes and
//! every reconcile period.

pub mod metrics;
mod requests;
pub mod send;
pub mod store;
pub mod subscribers;
pub mod system_mail;
pub mod verify;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use rand::RngExt;
use sqlx::PgPool;
use statushawk_common::db::Failure;
use statushawk_common::secrets::SecretBox;
use statushawk_nats::async_nats::jetstream::{self, consumer};
use statushawk_nats::{Delivery, EVENTS, NOTIFIER_CONSUMER, Topology, TraceContext};
use statushawk_schemas::{ChannelId, ConfigOp, IncidentEvent, IncidentEventKind, MonitorId, TeamId, subject};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::send::{Attempt, Sender, Verdict};
use crate::store::{Link, Next, Plan, Recipient};
use statushawk_channels::ChannelSettings;
use statushawk_channels::notification::Notification;

/// Notifier settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Deliveries sent at once at most.
    pub concurrency: usize,
    /// Of those, deliveries of one team at most (its fair share of this
    /// process's slots).
    pub max_per_team: usize,
    /// Tries of one delivery before it fails.
    pub max_attempts: u32,
    /// First back-off; it doubles each try, with jitter.
    pub backoff: Duration,
    /// Longest back-off, and longest `Retry-After` honoured.
    pub max_backoff: Duration,
    /// How often idle workers look for due deliveries and system mail.
    pub poll: Duration,
    /// How long a `sending` delivery (or system mail) is left to its
    /// worker before another takes it (a crashed worker's); at least twice
    /// the send deadline, whatever is set here.
    pub sending_lease: Duration,
    /// How often reminders are looked for.
    pub reminder_tick: Duration,
    /// How often the channel cache is dropped.
    pub reconcile: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            concurrency: 32,
            max_per_team: Self::fair_share(32),
            max_attempts: 10,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(900),
            poll: Duration::from_millis(250),
            sending_lease: Duration::from_secs(120),
            reminder_tick: Duration::from_secs(30),
            reconcile: Duration::from_secs(60),
        }
    }
}

impl Settings {
    /// The default share of one team: a quarter of the slots, at least one.
    /// Four teams whose servers all stall leave the others no slot; one
    /// such team (the likely case) leaves them three quarters.
    pub fn fair_share(concurrency: usize) -> usize {
        (concurrency / 4).max(1)
    }
}

/// What the notifier works with.
#[derive(Clone)]
pub struct Deps {
    /// JetStream.
    pub js: jetstream::Context,
    /// The deployment's layout.
    pub topology: Topology,
    /// Postgres.
    pub pg: PgPool,
    /// Opens channel secrets (`None`: channels with secrets fail, saying so).
    pub secrets: Option<SecretBox>,
    /// Sends through the SSRF guard.
    pub sender: Sender,
    /// The deployment's own mail server (`[email]`; `None`: no system
    /// mail is sent, and status page subscribers get no e-mail).
    pub system_mail: Option<system_mail::SystemMailer>,
    /// Where people reach the API (`api.public_url`), for the links in
    /// subscribers' messages.
    pub public_url: String,
}

struct Shared {
    settings: Settings,
    deps: Deps,
    links: Mutex<HashMap<MonitorId, Arc<Vec<Link>>>>,
    wake: Notify,
    /// Dead letters go out through it.
    publisher: statushawk_nats::Publisher,
}

/// Runs the notifier until `shutdown`; deliveries in flight finish first.
pub async fn run(settings: Settings, deps: Deps, shutdown: CancellationToken) -> anyhow::Result<()> {
    let publisher = statushawk_nats::Publisher::new(deps.js.clone(), deps.topology.clone());
    let shared = Arc::new(Shared { settings, deps, links: Mutex::new(HashMap::new()), wake: Notify::new(), publisher });
    info!(concurrency = shared.settings.concurrency, "Notifier started.");
    let mut tasks = JoinSet::new();
    tasks.spawn(consume(shared.clone(), shutdown.clone()));
    tasks.spawn(deliver(shared.clone(), shutdown.clone()));
    tasks.spawn(remind(shared.clone(), shutdown.clone()));
    tasks.spawn(watch_config(shared.clone(), shutdown.clone()));
    tasks.spawn(requests::serve(shared.clone(), shutdown.clone()));
    tasks.spawn(system_mail::run(
        shared.deps.pg.clone(),
        shared.deps.sender.clone(),
        shared.deps.system_mail.clone(),
        shared.settings.clone(),
        lease(&shared),
        shutdown.clone(),
    ));
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        if let Ok(Err(err)) = joined {
            result = Err(err);
        }
        // Any loop ending ends the notifier.
        shutdown.cancel();
    }
    info!("Notifier stopped.");
    result
}

/// Sends a test notification to a channel once, without retries or a log
/// row: what the API's "test this channel" button calls.
pub async fn send_test(sender: &Sender, channel: &ChannelSettings) -> Attempt {
    let notification = test_notification();
    match channel.channel().render(&notification) {
        Some(outgoing) => sender.send(&outgoing).await,
        None => Attempt {
            verdict: Verdict::Failed,
            http_status: None,
            smtp_reply: None,
            error: Some("this channel does not take test notifications".to_owned()),
            retry_after: None,
        },
    }
}

/// The notification of [`send_test`]: an incident of a made-up monitor.
pub fn test_notification() -> Notification {
    let now = statushawk_schemas::now_ms();
    let incident = statushawk_schemas::IncidentId::new();
    let event = IncidentEvent {
        schema_version: statushawk_schemas::SCHEMA_VERSION,
        kind: IncidentEventKind::Opened,
        incident_id: incident,
        monitor_id: MonitorId::new(),
        monitor_name: "StatusHawk test notification".to_owned(),
        team_id: statushawk_schemas::TeamId::new(),
        seq: 1,
        at_ms: now,
        started_at_ms: now - 60_000,
        resolved_at_ms: None,
        cause: "This is a test: the channel works.".to_owned(),
        affected_regions: Vec::new(),
        regions: Vec::new(),
        message: None,
        update: None,
    };
    Notification { event_id: format!("test:{incident}"), event, reminder: false }
}

// ---------------------------------------------------------------------------
// Consumer: events → delivery rows
// ---------------------------------------------------------------------------

async fn consume(shared: Arc<Shared>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let stream = shared.deps.js.get_stream_no_info(shared.deps.topology.stream(EVENTS)).await?;
    let consumer: consumer::PullConsumer =
        stream.get_consumer(NOTIFIER_CONSUMER).await.map_err(|e| anyhow::anyhow!("notifier consumer: {e}"))?;
    while !shutdown.is_cancelled() {
        let batch = tokio::select! {
            () = shutdown.cancelled() => break,
            batch = consumer.batch().max_messages(100).expires(Duration::from_secs(1)).messages() => batch,
        };
        let mut messages = match batch {
            Ok(messages) => messages,
            Err(err) => {
                warn!(error = %err, "Fetching incident events failed; retrying.");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        while let Some(message) = messages.next().await {
            let Ok(message) = message else { break };
            let Some(delivery) = Delivery::<IncidentEvent>::decode(message).await else { continue };
            let event_id = delivery.payload().msg_id();
            // The notifier's hop of the trace of the check that caused the event.
            let hop = TraceContext::continue_from(delivery.trace());
            let span = statushawk_nats::hop_span!(
                "event", Some(hop), event_id, monitor_id = %delivery.payload().monitor_id,
                incident_id = %delivery.payload().incident_id
            );
            let planned = plan_event(&shared, delivery.payload(), &event_id, &hop);
            match tracing::Instrument::instrument(planned, span).await {
                Ok(()) => {
                    shared.wake.notify_one();
                    if let Err(err) = delivery.ack().await {
                        warn!(error = %err, "Acking an incident event failed; it will come again (harmless).");
                    }
                }
                Err(err) => match statushawk_common::db::classify(&err) {
                    // Retrying can never record it: set it aside, and go on.
                    Failure::Permanent(reason) => dead_letter(&shared, delivery, &event_id, reason, &err).await,
                    Failure::Transient => {
                        ::metrics::counter!(crate::metrics::STEP_RETRIES_TOTAL, "step" => "recording deliveries")
                            .increment(1);
                        warn!(event_id, error = %err, "Recording deliveries failed; the event comes back.");
                        let _ = delivery.nak(Duration::from_secs(2)).await;
                    }
                },
            }
        }
    }
    Ok(())
}

/// Sets aside an event whose deliveries Postgres refuses for good: on
/// `deadletter.notifier` with the error, then terminated.
async fn dead_letter(
    shared: &Shared,
    delivery: Delivery<IncidentEvent>,
    event_id: &str,
    reason: String,
    err: &sqlx::Error,
) {
    ::metrics::counter!(crate::metrics::DEAD_LETTERS_TOTAL, "reason" => reason.clone()).increment(1);
    let error = err.to_string();
    let why =
        statushawk_nats::SetAside { service: "notifier", step: "recording deliveries", reason: &reason, error: &error };
    if let Err(err) = delivery.dead_letter(&shared.publisher, why, event_id).await {
        // Unsettled: it comes back after the ack wait, and is set aside then.
        warn!(event_id, error = %err, "Setting an incident event aside failed.");
    }
}

/// Claims a delivery of `event` for each channel of its monitor and each
/// status page subscriber who hears of it.
async fn plan_event(shared: &Shared, event: &IncidentEvent, event_id: &str, hop: &TraceContext) -> sqlx::Result<()> {
    if !event.notifies() {
        debug!(event_id, "An update for status pages only: nobody to tell.");
        return Ok(());
    }
    ::metrics::counter!(crate::metrics::EVENTS_TOTAL, "kind" => event.kind.as_str()).increment(1);
    let window = store::maintenance(&shared.deps.pg, event.team_id, event.monitor_id, event.at_ms).await?;
    subscribers::plan_incident(shared, event, event_id, window.as_deref(), hop).await?;
    let notification = Notification { event_id: event_id.to_owned(), event: event.clone(), reminder: false };
    let links = channel_links(shared, event.monitor_id).await?;
    if links.is_empty() {
        debug!(monitor_id = %event.monitor_id, "No channel to notify.");
        return Ok(());
    }
    for link in links.iter().filter(|l| l.enabled) {
        let plan = plan_for(&shared.deps.pg, &notification, link.channel_id, window.as_deref()).await?;
        if store::claim(&shared.deps.pg, &notification, link.channel_id, &plan, Some(hop)).await? {
            match &plan {
                Plan::Suppress(reason) => {
                    info!(event_id, channel_id = %link.channel_id, reason, "Notification suppressed.");
                    ::metrics::counter!(crate::metrics::DELIVERIES_TOTAL, "outcome" => "suppressed").increment(1);
                }
                Plan::Send => debug!(event_id, channel_id = %link.channel_id, "Notification planned."),
            }
        }
    }
    Ok(())
}

async fn plan_for(pg: &PgPool, n: &Notification, channel: ChannelId, window: Option<&str>) -> sqlx::Result<Plan> {
    if let Some(title) = window {
        return Ok(Plan::Suppress(format!("maintenance window: {title}")));
    }
    let follows_opening = n.reminder || n.event.kind != IncidentEventKind::Opened;
    if follows_opening && store::opening_suppressed(pg, n.event.incident_id, channel).await? {
        return Ok(Plan::Suppress("the incident's opening was suppressed".to_owned()));
    }
    Ok(Plan::Send)
}

async fn channel_links(shared: &Shared, monitor: MonitorId) -> sqlx::Result<Arc<Vec<Link>>> {
    if let Some(links) = shared.links.lock().unwrap_or_else(|e| e.into_inner()).get(&monitor) {
        return Ok(links.clone());
    }
    let links = Arc::new(store::links(&shared.deps.pg, monitor).await?);
    shared.links.lock().unwrap_or_else(|e| e.into_inner()).insert(monitor, links.clone());
    Ok(links)
}

/// Drops cached links when monitors or channels change, and all of them
/// every reconcile period (healing any change message that was missed).
async fn watch_config(shared: Arc<Shared>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut reconcile = tokio::time::interval(shared.settings.reconcile);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            result = follow_config(&shared) => {
                if let Err(err) = result {
                    warn!(error = %err, "Following configuration changes failed; retrying.");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ = reconcile.tick() => shared.links.lock().unwrap_or_else(|e| e.into_inner()).clear(),
        }
    }
}

async fn follow_config(shared: &Shared) -> anyhow::Result<()> {
    let mut changes =
        statushawk_nats::config_changes(&shared.deps.js, &shared.deps.topology, subject::CONFIG_ALL, "notifier")
            .await?;
    while let Some(change) = changes.next().await {
        let (change, _) = change?;
        let mut links = shared.links.lock().unwrap_or_else(|e| e.into_inner());
        match change.op {
            ConfigOp::MonitorUpserted { monitor } => drop(links.remove(&monitor.id)),
            ConfigOp::MonitorDeleted { monitor_id, .. } => drop(links.remove(&monitor_id)),
            // Channel changes are rare: start over.
            ConfigOp::ChannelChanged { .. } | ConfigOp::ChannelDeleted { .. } => links.clear(),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Delivery workers
// ---------------------------------------------------------------------------

async fn deliver(shared: Arc<Shared>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let settings = &shared.settings;
    let lease = lease(&shared);
    let mut slots = Slots::default();
    while !shutdown.is_cancelled() {
        let room = settings.concurrency.saturating_sub(slots.len());
        let mut taken = 0;
        if room > 0 {
            let held = slots.held();
            let ask = store::Room { limit: room, per_team: settings.max_per_team, held: &held };
            match store::take_due(&shared.deps.pg, ask, lease).await {
                Ok(due) => {
                    taken = due.len();
                    for due in due {
                        slots.spawn(due.team_id, deliver_one(shared.clone(), due));
                    }
                }
                Err(err) => warn!(error = %err, "Taking due deliveries failed; retrying."),
            }
        }
        if taken > 0 && taken == room {
            // More may be due: look again as soon as there is room.
            if slots.len() >= settings.concurrency {
                slots.join_next().await;
            }
            continue;
        }
        // Nothing more to take now (or only rows of teams at their share):
        // look again when a slot frees, something is claimed, or a while
        // has passed.
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = shared.wake.notified() => {}
            () = tokio::time::sleep(settings.poll) => {}
            Some(()) = slots.join_next(), if !slots.is_empty() => {}
        }
    }
    // Tries in flight finish (each ends by the send deadline).
    while slots.join_next().await.is_some() {}
    Ok(())
}

/// How long a taken row is left to its worker: longer than any send can
/// take (its deadline), so a row is only taken again from a worker that is
/// gone.
fn lease(shared: &Shared) -> Duration {
    shared.settings.sending_lease.max(shared.deps.sender.timeout() * 2)
}

/// The deliveries in flight, and how many slots each team holds.
#[derive(Default)]
struct Slots {
    tasks: JoinSet<()>,
    team_of: HashMap<tokio::task::Id, TeamId>,
    held: HashMap<TeamId, usize>,
}

impl Slots {
    fn spawn(&mut self, team: TeamId, work: impl Future<Output = ()> + Send + 'static) {
        let id = self.tasks.spawn(work).id();
        self.team_of.insert(id, team);
        *self.held.entry(team).or_default() += 1;
    }

    /// Waits for a delivery to end and frees its slot (`None`: none left).
    async fn join_next(&mut self) -> Option<()> {
        let id = match self.tasks.join_next_with_id().await? {
            Ok((id, ())) => id,
            Err(err) => {
                warn!(error = %err, "A delivery task failed.");
                err.id()
            }
        };
        if let Some(team) = self.team_of.remove(&id)
            && let Some(n) = self.held.get_mut(&team)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.held.remove(&team);
            }
        }
        Some(())
    }

    fn len(&self) -> usize {
        self.tasks.len()
    }

    fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    fn held(&self) -> Vec<(TeamId, usize)> {
        self.held.iter().map(|(team, n)| (*team, *n)).collect()
    }
}

async fn deliver_one(shared: Arc<Shared>, due: store::Due) {
    let (channel_id, subscriber_id) = match due.recipient {
        Recipient::Channel(id) => (Some(id.to_string()), None),
        Recipient::Subscriber(id) => (None, Some(id.to_string())),
    };
    // A hop of its own in the trace of the event it announces.
    let span = statushawk_nats::hop_span!(
        "delivery", due.trace.map(|planned| planned.child()), delivery_id = %due.id, channel_id, subscriber_id,
        team_id = %due.team_id, attempt = due.attempts + 1
    );
    if let Err(err) = tracing::Instrument::instrument(try_deliver(&shared, &due), span).await {
        // The row stays `sending` and is taken again after the lease.
        warn!(delivery_id = %due.id, error = %err, "Recording a delivery failed.");
    }
}

/// A delivery ready to send: its kind (for metrics and logs), its id for
/// the logs, and what to send.
pub(crate) struct Prepared {
    pub(crate) kind: &'static str,
    pub(crate) event_id: String,
    pub(crate) send: Outgoing,
}

/// What is sent.
pub(crate) enum Outgoing {
    /// To a tenant's endpoint, through the guard.
    Tenant(statushawk_channels::Outgoing),
    /// Through the deployment's own mail server.
    SystemMail(system_mail::Letter),
}

async fn try_deliver(shared: &Shared, due: &store::Due) -> sqlx::Result<()> {
    let prepared = match due.recipient {
        Recipient::Channel(channel) => prepare_for_channel(shared, due, channel).await?,
        Recipient::Subscriber(subscriber) => subscribers::prepare(shared, due, subscriber).await?,
    };
    let Some(prepared) = prepared else { return Ok(()) };
    send_and_record(shared, due, prepared).await
}

/// Renders a channel's delivery; `None` when it was settled without a
/// send (the channel deleted, disabled or unusable, or not taking it).
async fn prepare_for_channel(
    shared: &Shared,
    due: &store::Due,
    channel_id: ChannelId,
) -> sqlx::Result<Option<Prepared>> {
    let pg = &shared.deps.pg;
    let notification: Notification = match serde_json::from_value(due.payload.clone()) {
        Ok(n) => n,
        Err(err) => {
            store::fail_untried(pg, due.id, &format!("stored notification unreadable: {err}")).await?;
            return Ok(None);
        }
    };
    let Some(channel) = store::load_channel(pg, shared.deps.secrets.as_ref(), channel_id).await? else {
        return Ok(None); // Deleted: its deliveries went with it.
    };
    let kind = channel.kind.as_str();
    if !channel.enabled {
        store::suppress(pg, due.id, "the channel is disabled").await?;
        return Ok(None);
    }
    let settings = match channel.settings {
        Ok(settings) => settings,
        Err(err) => {
            warn!(delivery_id = %due.id, %channel_id, error = %err, "Channel cannot be used.");
            count(kind, "failed");
            store::fail_untried(pg, due.id, &err).await?;
            return Ok(None);
        }
    };
    let Some(outgoing) = settings.channel().render(&notification) else {
        store::suppress(pg, due.id, &format!("{kind} channels do not take this notification")).await?;
        return Ok(None);
    };
    Ok(Some(Prepared { kind, event_id: notification.event_id, send: Outgoing::Tenant(outgoing) }))
}

/// Sends a prepared delivery once and records the try.
async fn send_and_record(shared: &Shared, due: &store::Due, prepared: Prepared) -> sqlx::Result<()> {
    let pg = &shared.deps.pg;
    let kind = prepared.kind;
    let started = std::time::Instant::now();
    let attempt = match &prepared.send {
        Outgoing::Tenant(outgoing) => shared.deps.sender.send(outgoing).await,
        Outgoing::SystemMail(letter) => match &shared.deps.system_mail {
            Some(mailer) => mailer.send(&shared.deps.sender, letter).await,
            None => Attempt::failed(Verdict::Failed, "this deployment has no mail server ([email])".to_owned()),
        },
    };
    ::metrics::histogram!(crate::metrics::SEND_SECONDS, "channel" => kind).record(started.elapsed().as_secs_f64());
    let event_id = prepared.event_id;
    let tries = due.attempts + 1;
    let next = match attempt.verdict {
        Verdict::Delivered => Next::Delivered,
        Verdict::Retry if tries < shared.settings.max_attempts => Next::RetryAfter(wait_before_retry(
            tries,
            attempt.retry_after,
            shared.settings.backoff,
            shared.settings.max_backoff,
        )),
        Verdict::Retry | Verdict::Failed => Next::Failed,
    };
    let result = match next {
        Next::Delivered => "delivered",
        Next::RetryAfter(_) => "retry",
        Next::Failed => "failed",
    };
    ::metrics::counter!(crate::metrics::ATTEMPTS_TOTAL, "channel" => kind, "result" => result).increment(1);
    match next {
        Next::Delivered => {
            count(kind, "delivered");
            info!(delivery_id = %due.id, event_id, channel = kind, tries, "Notification delivered.");
        }
        Next::RetryAfter(wait) => info!(
            delivery_id = %due.id, channel = kind, tries, wait_ms = wait.as_millis() as u64,
            error = attempt.error.as_deref().unwrap_or(""), "Notification try failed; retrying."
        ),
        Next::Failed => {
            count(kind, "failed");
            warn!(
                delivery_id = %due.id, channel = kind, tries,
                error = attempt.error.as_deref().unwrap_or(""), "Notification failed."
            );
        }
    }
    store::record(pg, due.id, &attempt, next).await
}

fn count(kind: &'static str, outcome: &'static str) {
    ::metrics::counter!(crate::metrics::DELIVERIES_TOTAL, "channel" => kind, "outcome" => outcome).increment(1);
}

/// The wait before try `tries + 1`: the provider's `Retry-After` when it
/// gave one (capped at `max`), else `base * 2^(tries-1)` capped at `max`,
/// drawn from its upper half so workers that failed together spread out.
pub fn wait_before_retry(tries: u32, retry_after: Option<Duration>, base: Duration, max: Duration) -> Duration {
    if let Some(wait) = retry_after {
        return wait.min(max);
    }
    let exp = base.saturating_mul(1u32 << tries.saturating_sub(1).min(20)).min(max);
    let half = exp / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

// ---------------------------------------------------------------------------
// Reminders
// ---------------------------------------------------------------------------

async fn remind(shared: Arc<Shared>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(shared.settings.reminder_tick);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        match plan_reminders(&shared.deps.pg).await {
            Ok(0) => {}
            Ok(_) => shared.wake.notify_one(),
            Err(err) => warn!(error = %err, "Looking for reminders failed; trying again next tick."),
        }
        match subscribers::plan_maintenance(&shared.deps.pg, &shared.deps.public_url).await {
            Ok(0) => {}
            Ok(_) => shared.wake.notify_one(),
            Err(err) => warn!(error = %err, "Looking for maintenance to announce failed; trying again next tick."),
        }
        if let Err(err) = subscribers::forget_unconfirmed(&shared.deps.pg).await {
            warn!(error = %err, "Forgetting unconfirmed subscriptions failed; trying again next tick.");
        }
    }
}

/// Claims the reminders due now and returns how many were made. Each
/// period's reminder has one id, so this may run any number of times, on
/// any number of notifiers.
pub async fn plan_reminders(pg: &PgPool) -> sqlx::Result<usize> {
    let mut made = 0;
    for due in store::reminders_due(pg).await? {
        let event = &due.notification.event;
        let window = store::maintenance(pg, event.team_id, event.monitor_id, event.at_ms).await?;
        let plan = plan_for(pg, &due.notification, due.channel_id, window.as_deref()).await?;
        if store::claim(pg, &due.notification, due.channel_id, &plan, None).await? {
            debug!(event_id = due.notification.event_id, n = due.n, "Reminder planned.");
            made += 1;
        }
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_retry_after_wins() {
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(900);
        for tries in 1..=12 {
            let wait = wait_before_retry(tries, None, base, max);
            let full = base.saturating_mul(1 << (tries - 1)).min(max);
            assert!(wait >= full / 2 && wait <= full, "try {tries}: {wait:?} not in [{:?}, {full:?}]", full / 2);
        }
        assert_eq!(wait_before_retry(3, Some(Duration::from_secs(1)), base, max), Duration::from_secs(1));
        assert_eq!(wait_before_retry(1, Some(Duration::from_secs(86_400)), base, max), max);
    }
}
