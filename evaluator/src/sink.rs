//! The ClickHouse sink: every result, re-checks included, into
//! `check_results`, in batches shared by all partitions of this instance (one
//! insert per batch of up to `max_rows` rows or `max_wait`).
//!
//! A writer gets its answer only once its rows are committed. A failed insert
//! is retried with back-off until it succeeds or every writer of the batch
//! has gone away, a refused one too: ClickHouse refuses a batch, never one
//! of our typed rows, for reasons that pass (a schema not migrated, too
//! many parts), so nothing is set aside here. Rows that may already be in the table (their message was
//! delivered before, or an earlier insert of them failed and may still have
//! landed) are looked up first and left out, so a redelivery or a retry does
//! not count a result twice.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use statushawk_schemas::{CheckResult, CheckStatus};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, warn};
use uuid::Uuid;

/// Batching of the sink.
#[derive(Clone, Debug)]
pub struct SinkSettings {
    /// Insert once this many rows are waiting.
    pub max_rows: usize,
    /// Insert at the latest this long after the first row arrived.
    pub max_wait: Duration,
    /// Give up one insert attempt after this long.
    pub insert_timeout: Duration,
}

impl Default for SinkSettings {
    fn default() -> Self {
        Self { max_rows: 10_000, max_wait: Duration::from_millis(500), insert_timeout: Duration::from_secs(30) }
    }
}

/// One row of `check_results`.
#[derive(Clone, Debug, clickhouse::Row, Serialize)]
pub struct ResultRow {
    ts: u32,
    #[serde(with = "clickhouse::serde::uuid")]
    monitor_id: Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    team_id: Uuid,
    region: String,
    slot_ms: i64,
    attempt: u8,
    prober_id: String,
    status: i8,
    error_kind: String,
    message: String,
    dns_ms: Option<u32>,
    connect_ms: Option<u32>,
    tls_ms: Option<u32>,
    ttfb_ms: Option<u32>,
    total_ms: u32,
    http_status: u16,
    body_bytes: u32,
    cert_expires_at: Option<u32>,
}

fn seconds(ms: i64) -> u32 {
    u32::try_from(ms.div_euclid(1000)).unwrap_or(if ms < 0 { 0 } else { u32::MAX })
}

impl From<&CheckResult> for ResultRow {
    fn from(r: &CheckResult) -> Self {
        Self {
            ts: seconds(r.started_at_ms),
            monitor_id: r.monitor_id.0,
            team_id: r.team_id.0,
            region: r.region.as_str().to_owned(),
            slot_ms: r.slot_ms,
            attempt: u8::try_from(r.attempt).unwrap_or(u8::MAX),
            prober_id: r.prober_id.clone(),
            status: match r.status {
                CheckStatus::Up => 1,
                CheckStatus::Down => 2,
                CheckStatus::Degraded => 3,
                CheckStatus::Skipped => 4,
            },
            error_kind: r.error.map(|e| e.as_str().to_owned()).unwrap_or_default(),
            message: r.message.clone().unwrap_or_default(),
            dns_ms: r.timings.dns_ms,
            connect_ms: r.timings.connect_ms,
            tls_ms: r.timings.tls_ms,
            ttfb_ms: r.timings.ttfb_ms,
            total_ms: r.timings.total_ms,
            http_status: r.http_status.unwrap_or(0),
            body_bytes: r.body_bytes.unwrap_or(0),
            cert_expires_at: r.cert_expires_at_ms.map(seconds),
        }
    }
}

type Key = (Uuid, String, i64, u8);

impl ResultRow {
    fn key(&self) -> Key {
        (self.monitor_id, self.region.clone(), self.slot_ms, self.attempt)
    }
}

#[derive(clickhouse::Row, Deserialize)]
struct StoredKey {
    monitor_id: String,
    region: String,
    slot_ms: i64,
    attempt: u8,
}

struct Job {
    rows: Vec<ResultRow>,
    maybe_stored: bool,
    done: oneshot::Sender<()>,
}

/// The sink has stopped (the process is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the ClickHouse sink has stopped")]
pub struct SinkClosed;

/// A handle to the sink task.
#[derive(Clone)]
pub struct Sink {
    jobs: mpsc::Sender<Job>,
}

impl Sink {
    /// Starts the sink task; it ends when every handle is dropped and its
    /// last batch is written.
    pub fn start(client: clickhouse::Client, settings: SinkSettings) -> (Self, JoinHandle<()>) {
        let (jobs, receiver) = mpsc::channel(1024);
        (Self { jobs }, tokio::spawn(run(client, settings, receiver)))
    }

    /// Writes `rows` and returns once they are committed. `maybe_stored`:
    /// some may already be in the table (their message was redelivered).
    pub async fn write(&self, rows: Vec<ResultRow>, maybe_stored: bool) -> Result<(), SinkClosed> {
        if rows.is_empty() {
            return Ok(());
        }
        let (done, committed) = oneshot::channel();
        self.jobs.send(Job { rows, maybe_stored, done }).await.map_err(|_| SinkClosed)?;
        committed.await.map_err(|_| SinkClosed)
    }
}

async fn run(client: clickhouse::Client, settings: SinkSettings, mut receiver: mpsc::Receiver<Job>) {
    while let Some(first) = receiver.recv().await {
        let deadline = Instant::now() + settings.max_wait;
        let mut rows = first.rows.len();
        let mut jobs = vec![first];
        while rows < settings.max_rows {
            tokio::select! {
                job = receiver.recv() => match job {
                    Some(job) => { rows += job.rows.len(); jobs.push(job); }
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        write_batch(&client, &settings, jobs).await;
    }
}

/// Writes the jobs' rows in one insert, retrying until it lands or nobody
/// waits for it any more; then tells each job.
async fn write_batch(client: &clickhouse::Client, settings: &SinkSettings, jobs: Vec<Job>) {
    let mut backoff = Duration::from_millis(200);
    let mut failed_before = false;
    loop {
        if jobs.iter().all(|job| job.done.is_closed()) {
            debug!("Every writer of a ClickHouse batch went away; batch dropped (it will be redelivered).");
            return;
        }
        let started = Instant::now();
        let attempt = tokio::time::timeout(settings.insert_timeout, insert(client, &jobs, failed_before)).await;
        match attempt {
            Ok(Ok(written)) => {
                metrics::histogram!(crate::metrics::INSERT_SECONDS).record(started.elapsed().as_secs_f64());
                metrics::histogram!(crate::metrics::BATCH_ROWS).record(written as f64);
                metrics::counter!(crate::metrics::ROWS_WRITTEN_TOTAL).increment(written as u64);
                for job in jobs {
                    let _ = job.done.send(());
                }
                return;
            }
            // The server refused the insert. Never a row of its own: typed
            // rows in RowBinary cannot be refused one by one, so a refusal
            // is the whole batch's (a table or column missing after a
            // botched migration, too many parts, memory), and it passes
            // once that is fixed. Dropping the batch would lose every row.
            Ok(Err(err @ clickhouse::error::Error::BadResponse(_))) => warn!(
                error = %err, retry_in = ?backoff,
                "ClickHouse refused the insert; the results wait and it is retried (is the schema migrated?)."
            ),
            Ok(Err(err)) => warn!(error = %err, retry_in = ?backoff, "Writing results to ClickHouse failed; retrying."),
            Err(_) => warn!(retry_in = ?backoff, "Writing results to ClickHouse timed out; retrying."),
        }
        metrics::counter!(crate::metrics::INSERT_FAILURES_TOTAL).increment(1);
        metrics::counter!(crate::metrics::STEP_RETRIES_TOTAL, "step" => "writing results to ClickHouse").increment(1);
        failed_before = true;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn insert(client: &clickhouse::Client, jobs: &[Job], failed_before: bool) -> clickhouse::error::Result<usize> {
    // After a failed attempt any row may have landed (the server can commit
    // an insert whose answer was lost).
    let suspects: Vec<&ResultRow> =
        jobs.iter().filter(|job| failed_before || job.maybe_stored).flat_map(|job| job.rows.iter()).collect();
    let stored = stored_keys(client, &suspects).await?;
    let mut insert = client.insert::<ResultRow>("check_results").await?;
    let mut written = 0;
    for row in jobs.iter().flat_map(|job| job.rows.iter()) {
        if !stored.is_empty() && stored.contains(&row.key()) {
            continue;
        }
        insert.write(row).await?;
        written += 1;
    }
    insert.end().await?;
    if !stored.is_empty() {
        metrics::counter!(crate::metrics::ROWS_ALREADY_STORED_TOTAL).increment(stored.len() as u64);
    }
    Ok(written)
}

/// Which of `rows` are already in `check_results`.
async fn stored_keys(client: &clickhouse::Client, rows: &[&ResultRow]) -> clickhouse::error::Result<HashSet<Key>> {
    let mut stored = HashSet::new();
    for chunk in rows.chunks(2_000) {
        // From the earliest slot: a check run twice has a later start (ts)
        // the second time, never one before its slot.
        let first = chunk.iter().map(|r| seconds(r.slot_ms).min(r.ts)).min();
        let (Some(first), Some(last)) = (first, chunk.iter().map(|r| r.ts).max()) else {
            continue;
        };
        let monitors: HashSet<Uuid> = chunk.iter().map(|r| r.monitor_id).collect();
        // UUIDs render as hex and dashes only: safe to inline.
        let list = monitors.iter().map(|m| format!("'{m}'")).collect::<Vec<_>>().join(",");
        let sql = format!(
            "SELECT toString(monitor_id) AS monitor_id, region, slot_ms, attempt FROM check_results \
             WHERE ts >= toDateTime({first}) AND ts <= toDateTime({last}) AND monitor_id IN ({list})"
        );
        let wanted: HashSet<Key> = chunk.iter().map(|r| r.key()).collect();
        for key in client.query(&sql).fetch_all::<StoredKey>().await? {
            let Ok(monitor) = key.monitor_id.parse::<Uuid>() else { continue };
            let key = (monitor, key.region, key.slot_ms, key.attempt);
            if wanted.contains(&key) {
                stored.insert(key);
            }
        }
    }
    Ok(stored)
}
