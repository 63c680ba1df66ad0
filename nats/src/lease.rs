//! Leases on the `leases` KV bucket: leader election and partition ownership.
//!
//! A lease is a key holding the holder's id. It is acquired with `create`
//! (which fails while someone holds it), renewed with `update` on the last
//! revision well before a third of the TTL passes, and released on shutdown.
//! The bucket's max age is the TTL, so the key of a holder that stops
//! renewing expires on the server and the next contender's `create` succeeds.
//!
//! A holder that cannot renew (NATS unreachable, or someone else took the key)
//! is told through [`Lease::lost`] *before* its TTL ends, measured from the
//! start of its last successful renewal, so two holders never work at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::{LEASES_BUCKET, Topology};

/// Why a lease operation failed (not: someone else holds it).
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The bucket is missing or unreadable (run `statushawk topology`).
    #[error("opening lease bucket {bucket}: {source}")]
    Bucket {
        /// Bucket name.
        bucket: String,
        /// Cause.
        source: async_nats::Error,
    },
    /// The server could not be asked.
    #[error("lease {key}: {source}")]
    Request {
        /// Lease key.
        key: String,
        /// Cause.
        source: async_nats::Error,
    },
}

/// The leases bucket of one deployment.
#[derive(Clone)]
pub struct Leases {
    kv: kv::Store,
    ttl: Duration,
}

impl Leases {
    /// Opens the bucket declared by `topology`; the TTL is the bucket's max age.
    pub async fn open(js: &jetstream::Context, topology: &Topology) -> Result<Self, LeaseError> {
        let bucket = topology.bucket(LEASES_BUCKET);
        let bucket_error = |source: async_nats::Error| LeaseError::Bucket { bucket: bucket.clone(), source };
        let kv = js.get_key_value(&bucket).await.map_err(|e| bucket_error(e.into()))?;
        let ttl = kv.status().await.map_err(|e| bucket_error(e.into()))?.max_age();
        if ttl.is_zero() {
            return Err(bucket_error("the bucket has no max age, so leases would never expire".into()));
        }
        Ok(Self { kv, ttl })
    }

    /// The lease time-to-live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The current holder of `key`, if any.
    pub async fn holder(&self, key: &str) -> Result<Option<String>, LeaseError> {
        let value = self.kv.get(key).await.map_err(|e| request_error(key, e))?;
        Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The keys currently held whose name starts with `prefix`.
    pub async fn held_keys(&self, prefix: &str) -> Result<Vec<String>, LeaseError> {
        use futures::TryStreamExt as _;
        let keys = self.kv.keys().await.map_err(|e| request_error(prefix, e))?;
        let keys: Vec<String> = keys.try_collect().await.map_err(|e| request_error(prefix, e))?;
        Ok(keys.into_iter().filter(|k| k.starts_with(prefix)).collect())
    }

    /// Takes `key` for `holder` if nobody holds it; `None` if someone does.
    pub async fn try_acquire(&self, key: &str, holder: &str) -> Result<Option<Lease>, LeaseError> {
        let started = Instant::now();
        match self.kv.create(key, Bytes::from(holder.to_owned())).await {
            Ok(revision) => {
                info!(lease = key, holder, revision, "Lease acquired.");
                Ok(Some(Lease::start(self.clone(), key, holder, revision, started)))
            }
            Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
            Err(err) => Err(request_error(key, err)),
        }
    }

    /// Takes `key` back if it still names `holder`: a lease this holder lost
    /// because it could not renew (NATS was away) and could not release.
    /// Nobody else can have held it since, or the key would name them.
    /// `None` if the key names another holder, or is gone.
    async fn try_reclaim(&self, key: &str, holder: &str) -> Result<Option<Lease>, LeaseError> {
        let started = Instant::now();
        let Some(entry) = self.kv.entry(key).await.map_err(|e| request_error(key, e))? else { return Ok(None) };
        if entry.operation != kv::Operation::Put || entry.value != holder.as_bytes() {
            return Ok(None);
        }
        match self.kv.update(key, Bytes::from(holder.to_owned()), entry.revision).await {
            Ok(revision) => {
                info!(lease = key, holder, revision, "Lease taken back after losing it.");
                Ok(Some(Lease::start(self.clone(), key, holder, revision, started)))
            }
            Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
            Err(err) => Err(request_error(key, err)),
        }
    }

    /// Waits until `key` can be taken for `holder`, retrying through
    /// transient errors; `None` when `cancel` fires first. A key that still
    /// names `holder` is taken back at once (see `try_reclaim`), so a
    /// leader cut off from NATS leads again as soon as NATS is back instead
    /// of after the TTL: call this only while `holder` holds no live
    /// [`Lease`] on `key`.
    pub async fn acquire(&self, key: &str, holder: &str, cancel: &CancellationToken) -> Option<Lease> {
        // Poll often enough that an expired lease is taken over promptly.
        let poll = (self.ttl / 10).clamp(Duration::from_millis(100), Duration::from_secs(1));
        loop {
            let attempt = match self.try_acquire(key, holder).await {
                Ok(None) => self.try_reclaim(key, holder).await,
                other => other,
            };
            match attempt {
                Ok(Some(lease)) => return Some(lease),
                Ok(None) => debug!(lease = key, "Lease held elsewhere; waiting."),
                Err(err) => warn!(lease = key, error = %err, "Lease acquisition failed; retrying."),
            }
            tokio::select! {
                () = cancel.cancelled() => return None,
                () = tokio::time::sleep(poll) => {}
            }
        }
    }
}

fn request_error(key: &str, source: impl Into<async_nats::Error>) -> LeaseError {
    LeaseError::Request { key: key.to_owned(), source: source.into() }
}

/// A held lease. It renews itself in the background until released, dropped
/// or lost; the holder must stop its work when [`Lease::lost`] fires.
pub struct Lease {
    leases: Leases,
    key: String,
    holder: String,
    revision: Arc<AtomicU64>,
    lost: CancellationToken,
    stop: CancellationToken,
    renewer: Option<JoinHandle<()>>,
}

impl Lease {
    fn start(leases: Leases, key: &str, holder: &str, revision: u64, acquired: Instant) -> Self {
        let revision = Arc::new(AtomicU64::new(revision));
        let lost = CancellationToken::new();
        let stop = CancellationToken::new();
        let renewer = tokio::spawn(renew(
            leases.clone(),
            key.to_owned(),
            Bytes::from(holder.to_owned()),
            revision.clone(),
            acquired,
            lost.clone(),
            stop.clone(),
        ));
        Self { leases, key: key.to_owned(), holder: holder.to_owned(), revision, lost, stop, renewer: Some(renewer) }
    }

    /// The lease key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// This holder's id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Cancelled when the holder must stop working: the lease was lost (taken
    /// over, or not renewed in time) or released.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    /// Whether the lease is still held.
    pub fn is_held(&self) -> bool {
        !self.lost.is_cancelled()
    }

    /// Gives the lease up at once, so another contender can take it without
    /// waiting for the TTL.
    pub async fn release(mut self) -> Result<(), LeaseError> {
        self.stop.cancel();
        if let Some(renewer) = self.renewer.take() {
            // Wait for the renewer, so no update races the delete below.
            let _ = renewer.await;
        }
        let held = self.is_held();
        self.lost.cancel();
        if held {
            let revision = self.revision.load(Ordering::SeqCst);
            match self.leases.kv.delete_expect_revision(&self.key, Some(revision)).await {
                Ok(()) => info!(lease = %self.key, holder = %self.holder, "Lease released."),
                // Someone else holds it now: nothing of ours to delete.
                Err(err) if err.kind() == kv::DeleteErrorKind::WrongLastRevision => {}
                Err(err) => return Err(request_error(&self.key, err)),
            }
        }
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(renewer) = self.renewer.take() else { return };
        // Dropped without `release`: stop renewing and give the lease up in
        // the background if a runtime is still there, else let it expire.
        renewer.abort();
        let held = self.is_held();
        self.lost.cancel();
        if let (true, Ok(runtime)) = (held, tokio::runtime::Handle::try_current()) {
            let kv = self.leases.kv.clone();
            let key = self.key.clone();
            let revision = self.revision.load(Ordering::SeqCst);
            runtime.spawn(async move {
                let _ = kv.delete_expect_revision(&key, Some(revision)).await;
            });
        }
    }
}

/// Renews the lease until stopped; cancels `lost` when it can no longer be
/// sure it holds it.
async fn renew(
    leases: Leases,
    key: String,
    value: Bytes,
    revision: Arc<AtomicU64>,
    acquired: Instant,
    lost: CancellationToken,
    stop: CancellationToken,
) {
    let ttl = leases.ttl;
    // Renew four times per TTL, so a renewal always lands before a third of
    // it has passed; give up a fifth of the TTL before the server could let
    // the key expire, measured from the start of the last good renewal.
    let every = ttl / 4;
    let margin = ttl / 5;
    let retry = (ttl / 20).max(Duration::from_millis(20));
    let mut last_ok = acquired;
    let mut next = acquired + every;
    loop {
        let deadline = last_ok + ttl - margin;
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(next.min(deadline)) => {}
        }
        if Instant::now() >= deadline {
            warn!(lease = %key, "Lease not renewed in time; giving it up.");
            metrics::counter!(crate::metrics::LEASES_LOST_TOTAL, "reason" => "expired").increment(1);
            lost.cancel();
            return;
        }
        let started = Instant::now();
        let current = revision.load(Ordering::SeqCst);
        let attempt = tokio::time::timeout(deadline - started, leases.kv.update(&key, value.clone(), current));
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            outcome = attempt => outcome,
        };
        match outcome {
            Ok(Ok(new_revision)) => {
                revision.store(new_revision, Ordering::SeqCst);
                last_ok = started;
                next = started + every;
            }
            Ok(Err(err)) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                warn!(lease = %key, "Lease taken over by another holder.");
                metrics::counter!(crate::metrics::LEASES_LOST_TOTAL, "reason" => "taken").increment(1);
                lost.cancel();
                return;
            }
            Ok(Err(err)) => {
                warn!(lease = %key, error = %err, "Lease renewal failed; retrying.");
                next = Instant::now() + retry;
            }
            Err(_elapsed) => {
                warn!(lease = %key, "Lease renewal timed out; retrying.");
                next = Instant::now() + retry;
            }
        }
    }
}
