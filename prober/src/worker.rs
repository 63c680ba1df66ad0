//! The region worker: pulls due checks for one region (urgent re-checks
//! first), runs them under a concurrency bound, publishes each result with
//! its deterministic id, waits for the publish ack, and only then acks the
//! due check. A check past its deadline is reported `skipped`, not run late.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use statushawk_nats::async_nats::jetstream::{self, consumer::PullConsumer};
use statushawk_nats::{
    CHECKS_DUE, Delivery, Publisher, Topology, TraceContext, prober_consumer, prober_urgent_consumer,
};
use statushawk_schemas::{CheckResult, CheckStatus, DueCheck, ErrorKind, Region, SCHEMA_VERSION, UnixMs, subject};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

pub use crate::checks::tls::now_ms;
use crate::checks::{self, Context, Outcome};

/// Hard cap of any check's time limit.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// Worker settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The region whose checks this worker runs.
    pub region: Region,
    /// This prober's id, reported in every result.
    pub prober_id: String,
    /// Checks in flight at most.
    pub concurrency: usize,
}

/// What the worker works with.
#[derive(Clone)]
pub struct Deps {
    /// JetStream.
    pub js: jetstream::Context,
    /// The deployment's layout (prefix, partitions).
    pub topology: Topology,
    /// What the checks need (guard, roots, body limit).
    pub checks: Context,
}

/// Runs until `shutdown`, then waits for the checks in flight.
pub async fn run(settings: Settings, deps: Deps, shutdown: CancellationToken) -> anyhow::Result<()> {
    let stream = deps.js.get_stream_no_info(deps.topology.stream(CHECKS_DUE)).await?;
    let consumer = |name: String| {
        let stream = stream.clone();
        async move {
            stream
                .get_consumer::<jetstream::consumer::pull::Config>(&name)
                .await
                .map_err(|e| anyhow::anyhow!("consumer {name} (run `statushawk topology`): {e}"))
        }
    };
    let urgent: PullConsumer = consumer(prober_urgent_consumer(&settings.region)).await?;
    let scheduled: PullConsumer = consumer(prober_consumer(&settings.region)).await?;
    let publisher = Publisher::new(deps.js.clone(), deps.topology.clone());
    let limit = settings.concurrency.max(1);
    let slots = Arc::new(Semaphore::new(limit));
    let worker = Arc::new(Worker { settings, deps, publisher });
    info!(region = %worker.settings.region, prober = %worker.settings.prober_id, "Probing.");

    while !shutdown.is_cancelled() {
        // Wait for room, then ask for as many as there is room for.
        let first = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = slots.clone().acquire_owned() => permit?,
        };
        drop(first);
        let want = slots.available_permits().clamp(1, 512);
        // Urgent re-checks first, without waiting; then scheduled ones,
        // long-polling only when there was nothing urgent, and briefly: a
        // re-check published meanwhile waits for this poll to end, and it
        // is what confirms an outage. Each message is started as soon as
        // it arrives.
        let start = |message: jetstream::Message| {
            let worker = worker.clone();
            let slots = slots.clone();
            async move {
                let Ok(permit) = slots.acquire_owned().await else { return };
                tokio::spawn(async move {
                    worker.handle(message).await;
                    drop(permit);
                });
            }
        };
        let urgent_taken = pull(&urgent, want, None, &start).await;
        if urgent_taken < want {
            let wait = (urgent_taken == 0).then_some(Duration::from_millis(100));
            pull(&scheduled, want - urgent_taken, wait, &start).await;
        }
    }
    // Drain: every permit back means every check finished.
    let drained = tokio::time::timeout(MAX_TIMEOUT + Duration::from_secs(5), slots.acquire_many(limit as u32)).await;
    if drained.is_err() {
        warn!("Checks still running at shutdown; they will be redelivered.");
    }
    Ok(())
}

/// Pulls up to `max` messages, starting each with `start` as it arrives:
/// what is there now, or with `wait`, waiting that long for more. Returns
/// how many were taken.
async fn pull<F, Fut>(consumer: &PullConsumer, max: usize, wait: Option<Duration>, start: &F) -> usize
where
    F: Fn(jetstream::Message) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let batch = match wait {
        Some(wait) => consumer.batch().max_messages(max).expires(wait).messages().await,
        None => consumer.fetch().max_messages(max).messages().await,
    };
    let mut taken = 0;
    match batch {
        Ok(mut batch) => {
            while let Some(message) = batch.next().await {
                match message {
                    Ok(message) => {
                        taken += 1;
                        start(message).await;
                    }
                    Err(err) => {
                        warn!(error = %err, "Pulling due checks failed.");
                        break;
                    }
                }
            }
        }
        Err(err) => {
            warn!(error = %err, "Pulling due checks failed.");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    taken
}

struct Worker {
    settings: Settings,
    deps: Deps,
    publisher: Publisher,
}

impl Worker {
    async fn handle(&self, message: jetstream::Message) {
        let Some(delivery) = Delivery::<DueCheck>::decode(message).await else { return };
        let due = delivery.payload();
        // This check's hop of the trace the scheduler (or a re-check) began.
        let hop = TraceContext::continue_from(delivery.trace());
        let span = statushawk_nats::hop_span!(
            "due_check", Some(hop), monitor_id = %due.monitor_id, team_id = %due.team_id, region = %due.region,
            slot_ms = due.slot_ms, attempt = due.attempt
        );
        tracing::Instrument::instrument(self.run_due(delivery, hop), span).await;
    }

    /// Runs one due check and publishes its result (in its span).
    async fn run_due(&self, delivery: Delivery<DueCheck>, hop: TraceContext) {
        metrics::gauge!(crate::metrics::IN_FLIGHT).increment(1.0);
        let due = delivery.payload().clone();
        let started_at_ms = now_ms();
        let outcome = if started_at_ms > due.deadline_ms {
            metrics::counter!(crate::metrics::SKIPPED_TOTAL).increment(1);
            Outcome {
                status: CheckStatus::Skipped,
                ..Outcome::down(
                    ErrorKind::Deadline,
                    format!("due check seen {} ms after its deadline", started_at_ms - due.deadline_ms),
                )
            }
        } else {
            self.check(&delivery, &due).await
        };
        metrics::gauge!(crate::metrics::IN_FLIGHT).decrement(1.0);
        let kind = due.spec.kind().as_str();
        let status = outcome.status.as_str();
        metrics::counter!(crate::metrics::CHECKS_TOTAL, "kind" => kind, "status" => status).increment(1);
        if outcome.error == Some(ErrorKind::Blocked) {
            metrics::counter!(crate::metrics::BLOCKED_TOTAL).increment(1);
        }
        metrics::histogram!(crate::metrics::CHECK_DURATION_SECONDS, "kind" => kind)
            .record(f64::from(outcome.timings.total_ms) / 1000.0);

        let result = self.result(&due, started_at_ms, outcome);
        debug!(status, error = result.message.as_deref(), "Check done.");
        let subject = subject::check_result(due.monitor_id, &due.region, self.deps.topology.partitions);
        match self.publisher.publish_traced(&subject, &result.msg_id(), &result, Some(&hop)).await {
            Ok(_) => {
                // The result is stored, so the ack need not be confirmed: if
                // it is lost, the redelivered check yields a result with the
                // same message id, which the stream drops.
                if let Err(err) = delivery.ack_unconfirmed().await {
                    warn!(error = %err, "Acking a due check failed.");
                }
            }
            Err(err) => {
                warn!(error = %err, monitor_id = %due.monitor_id, "Publishing a result failed; the check comes back.");
                let _ = delivery.nak(Duration::from_secs(1)).await;
            }
        }
    }

    /// Runs the check, telling the server now and then that it is still
    /// being worked on.
    async fn check(&self, delivery: &Delivery<DueCheck>, due: &DueCheck) -> Outcome {
        let mut ctx = self.deps.checks.clone();
        ctx.timeout = Duration::from_millis(u64::from(due.timeout_ms)).min(MAX_TIMEOUT);
        let run = checks::run(&due.spec, &ctx);
        tokio::pin!(run);
        let mut progress = tokio::time::interval(Duration::from_secs(15));
        progress.tick().await;
        loop {
            tokio::select! {
                outcome = &mut run => return outcome,
                _ = progress.tick() => {
                    let _ = delivery.in_progress().await;
                }
            }
        }
    }

    fn result(&self, due: &DueCheck, started_at_ms: UnixMs, outcome: Outcome) -> CheckResult {
        CheckResult {
            schema_version: SCHEMA_VERSION,
            monitor_id: due.monitor_id,
            team_id: due.team_id,
            region: due.region.clone(),
            slot_ms: due.slot_ms,
            attempt: due.attempt,
            prober_id: self.settings.prober_id.clone(),
            started_at_ms,
            status: outcome.status,
            error: outcome.error,
            message: outcome.message,
            timings: outcome.timings,
            ip: outcome.ip,
            http_status: outcome.http_status,
            body_bytes: outcome.body_bytes,
            cert_expires_at_ms: outcome.cert_expires_at_ms,
            cert_issuer: outcome.cert_issuer,
            assertions: outcome.assertions,
        }
    }
}
