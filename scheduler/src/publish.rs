//! Publishing due checks: pipelined, bounded, and never in the timer's way.
//!
//! The scheduling loop hands batches of ready-made messages to this task
//! through a queue it never waits on. Here each message waits for a
//! publish permit (the client bounds the acks in flight: back-pressure when
//! NATS is slow), is sent, and its ack is awaited by a task of its own, which
//! records the lag from the slot and retries a failed publish under the same
//! message id until the check's deadline.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use statushawk_nats::{Publisher, TraceContext};
use statushawk_schemas::UnixMs;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::now_ms;

/// One due check, ready to send.
pub struct Outgoing {
    /// Subject, without the deployment prefix.
    pub subject: Arc<str>,
    /// Deterministic message id.
    pub msg_id: String,
    /// The JSON payload.
    pub payload: Bytes,
    /// The slot (Unix ms).
    pub slot_ms: UnixMs,
    /// After this, sending it is pointless (Unix ms).
    pub deadline_ms: UnixMs,
    /// The trace it starts: the prober, the evaluator and the notifier
    /// continue it (`traceparent`).
    pub trace: TraceContext,
}

/// Every publish lag, in ms, of slots from a start time on, for the
/// benchmark.
pub struct LagLog {
    since_ms: UnixMs,
    lags: Mutex<Vec<u32>>,
}

impl LagLog {
    /// Records the lags of slots at or after `since_ms`.
    pub fn since(since_ms: UnixMs) -> Self {
        Self { since_ms, lags: Mutex::new(Vec::new()) }
    }

    fn record(&self, slot_ms: UnixMs, lag_ms: u32) {
        if slot_ms < self.since_ms {
            return;
        }
        if let Ok(mut lags) = self.lags.lock() {
            lags.push(lag_ms);
        }
    }

    /// The lags recorded so far.
    pub fn take(&self) -> Vec<u32> {
        self.lags.lock().map(|mut lags| std::mem::take(&mut *lags)).unwrap_or_default()
    }
}

/// The queue between the loop and the publisher.
pub struct Queue {
    tx: mpsc::UnboundedSender<Vec<Outgoing>>,
    queued: Arc<AtomicUsize>,
    limit: usize,
}

impl Queue {
    /// Hands a batch over without waiting. When the publisher is already
    /// `limit` messages behind (NATS down or too slow), the batch is dropped
    /// and counted: a due check sent minutes late is worth less than a
    /// scheduler that keeps its memory and its timing.
    pub fn push(&self, batch: Vec<Outgoing>) {
        let n = batch.len();
        if n == 0 {
            return;
        }
        if self.queued.load(Ordering::Relaxed) + n > self.limit {
            warn!(dropped = n, "Publisher backlog full; due checks dropped.");
            metrics::counter!(crate::metrics::DUE_CHECKS_DROPPED_TOTAL, "reason" => "backlog").increment(n as u64);
            return;
        }
        self.queued.fetch_add(n, Ordering::Relaxed);
        if self.tx.send(batch).is_err() {
            self.queued.fetch_sub(n, Ordering::Relaxed);
        }
    }
}

/// Starts the publisher; it stops when `stop` fires or the queue is dropped.
/// Nothing is sent once `stop` has fired (the lease is lost or we shut down).
pub fn start(
    publisher: Publisher,
    stop: CancellationToken,
    limit: usize,
    lags: Option<Arc<LagLog>>,
) -> (Queue, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn(run(rx, publisher, stop, queued.clone(), lags));
    (Queue { tx, queued, limit }, task)
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<Vec<Outgoing>>,
    publisher: Publisher,
    stop: CancellationToken,
    queued: Arc<AtomicUsize>,
    lags: Option<Arc<LagLog>>,
) {
    loop {
        let batch = tokio::select! {
            () = stop.cancelled() => return,
            batch = rx.recv() => match batch { Some(batch) => batch, None => return },
        };
        for item in batch {
            queued.fetch_sub(1, Ordering::Relaxed);
            if stop.is_cancelled() {
                return;
            }
            if now_ms() > item.deadline_ms {
                metrics::counter!(crate::metrics::DUE_CHECKS_DROPPED_TOTAL, "reason" => "deadline").increment(1);
                continue;
            }
            let sent = tokio::select! {
                () = stop.cancelled() => return,
                sent = publisher.send_bytes(&item.subject, &item.msg_id, item.payload.clone(), Some(&item.trace)) => sent,
            };
            let ack = match sent {
                Ok(ack) => Some(ack),
                Err(err) => {
                    warn!(error = %err, "Publishing a due check failed; retrying.");
                    None
                }
            };
            tokio::spawn(confirm(publisher.clone(), item, ack, stop.clone(), lags.clone()));
        }
    }
}

/// Waits for the server's ack; re-sends under the same message id (the
/// stream drops a copy that did arrive) until it is acked, the deadline
/// passes, or `stop` fires.
async fn confirm(
    publisher: Publisher,
    item: Outgoing,
    mut ack: Option<statushawk_nats::async_nats::jetstream::context::PublishAckFuture>,
    stop: CancellationToken,
    lags: Option<Arc<LagLog>>,
) {
    loop {
        if let Some(pending) = ack.take() {
            match pending.await {
                Ok(_) => {
                    let lag_ms = (now_ms() - item.slot_ms).max(0);
                    metrics::histogram!(crate::metrics::PUBLISH_LAG_SECONDS).record(lag_ms as f64 / 1000.0);
                    metrics::counter!(crate::metrics::DUE_CHECKS_PUBLISHED_TOTAL).increment(1);
                    if let Some(lags) = &lags {
                        lags.record(item.slot_ms, u32::try_from(lag_ms).unwrap_or(u32::MAX));
                    }
                    debug!(
                        msg_id = %item.msg_id, lag_ms, trace_id = %item.trace.trace_id(),
                        span_id = %item.trace.span_id(), "Due check published."
                    );
                    return;
                }
                Err(err) => warn!(error = %err, msg_id = %item.msg_id, "Due check not acknowledged; retrying."),
            }
        }
        if stop.is_cancelled() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if now_ms() > item.deadline_ms {
            metrics::counter!(crate::metrics::DUE_CHECKS_DROPPED_TOTAL, "reason" => "deadline").increment(1);
            return;
        }
        metrics::counter!(crate::metrics::PUBLISH_RETRIES_TOTAL).increment(1);
        ack = publisher.send_bytes(&item.subject, &item.msg_id, item.payload.clone(), Some(&item.trace)).await.ok();
    }
}
