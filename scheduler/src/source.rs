//! Where monitors come from: Postgres (the truth, read at start and at every
//! reconcile) and the `CONFIG` stream (changes as they happen).

use futures::StreamExt;
use serde_json::value::RawValue;
use sqlx::PgPool;
use statushawk_common::secrets::{Sealed, SecretBox, restore_spec_secrets};
use statushawk_nats::async_nats::jetstream;
use statushawk_nats::{Topology, TraceContext};
use statushawk_schemas::{CheckSpec, ConfigOp, MonitorId, Region, TeamId, UnixMs, subject};
use tokio::sync::mpsc;
use tracing::warn;

use crate::index::Monitor;

/// What the scheduling loop hears from its sources.
#[derive(Debug)]
pub enum Update {
    /// A reconcile pass starts; monitors follow.
    ReconcileStart,
    /// A monitor as Postgres has it.
    Row(Monitor),
    /// The pass read every row: anything not seen since `ReconcileStart` is
    /// gone from Postgres.
    ReconcileDone,
    /// The pass failed part-way: nothing may be removed on its account.
    ReconcileFailed,
    /// A monitor to schedule, from a configuration message.
    Upsert(Monitor),
    /// A monitor to stop scheduling (deleted, paused, now a heartbeat).
    Remove {
        /// The monitor.
        id: MonitorId,
        /// Version of the change (Unix ms).
        version_ms: UnixMs,
    },
}

#[derive(sqlx::FromRow)]
struct MonitorRow {
    id: uuid::Uuid,
    team_id: uuid::Uuid,
    kind: String,
    spec: serde_json::Value,
    interval_ms: i32,
    timeout_ms: i32,
    regions: Vec<String>,
    version_ms: i64,
    secret_ciphertext: Option<Vec<u8>>,
    secret_nonce: Option<Vec<u8>>,
}

const ACTIVE_MONITORS: &str = "SELECT id, team_id, kind::text AS kind, spec, interval_ms, timeout_ms, regions, \
     (extract(epoch FROM updated_at) * 1000)::bigint AS version_ms, secret_ciphertext, secret_nonce \
     FROM monitors WHERE NOT paused AND kind <> 'heartbeat'";

/// A stored monitor that cannot be scheduled.
#[derive(Debug, thiserror::Error)]
#[error("monitor {id}: {reason}")]
pub struct InvalidMonitor {
    id: uuid::Uuid,
    reason: String,
}

impl MonitorRow {
    /// The row as the scheduler sees it; the spec is validated by parsing it
    /// as the wire's `CheckSpec` (`monitors.spec` holds the kind-specific
    /// settings, `monitors.kind` the tag), and its sealed secrets are opened
    /// back into it.
    fn into_monitor(self, secrets: Option<&SecretBox>) -> Result<Monitor, InvalidMonitor> {
        let invalid = |reason: String| InvalidMonitor { id: self.id, reason };
        let serde_json::Value::Object(mut settings) = self.spec.clone() else {
            return Err(invalid("spec is not a JSON object".into()));
        };
        settings.insert("kind".into(), serde_json::Value::String(self.kind.clone()));
        let mut spec: CheckSpec =
            serde_json::from_value(serde_json::Value::Object(settings)).map_err(|e| invalid(format!("spec: {e}")))?;
        let sealed = Sealed::from_columns(self.secret_ciphertext.clone(), self.secret_nonce.clone());
        restore_spec_secrets(secrets, MonitorId(self.id), sealed.as_ref(), &mut spec)
            .map_err(|e| invalid(format!("credentials: {e}")))?;
        let spec: Box<RawValue> = serde_json::value::to_raw_value(&spec).map_err(|e| invalid(e.to_string()))?;
        let regions = self
            .regions
            .iter()
            .map(|r| Region::new(r.as_str()).map_err(|e| invalid(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let positive = |v: i32, what: &str| u32::try_from(v).map_err(|_| invalid(format!("{what} {v}")));
        Ok(Monitor {
            id: MonitorId(self.id),
            team_id: TeamId(self.team_id),
            interval_ms: positive(self.interval_ms, "interval_ms")?,
            timeout_ms: positive(self.timeout_ms, "timeout_ms")?,
            regions,
            spec,
            version_ms: self.version_ms,
        })
    }
}

/// Streams every schedulable monitor from Postgres into `updates`, framed by
/// `ReconcileStart` and `ReconcileDone` (or `ReconcileFailed`).
pub async fn reconcile(pool: PgPool, secrets: Option<SecretBox>, updates: mpsc::Sender<Update>) {
    if updates.send(Update::ReconcileStart).await.is_err() {
        return;
    }
    let mut rows = sqlx::query_as::<_, MonitorRow>(ACTIVE_MONITORS).fetch(&pool);
    let mut end = Update::ReconcileDone;
    while let Some(row) = rows.next().await {
        match row {
            Ok(row) => match row.into_monitor(secrets.as_ref()) {
                Ok(monitor) => {
                    if updates.send(Update::Row(monitor)).await.is_err() {
                        return;
                    }
                }
                Err(err) => {
                    warn!(error = %err, "Monitor not schedulable; skipped.");
                    metrics::counter!(crate::metrics::INVALID_MONITORS_TOTAL).increment(1);
                }
            },
            Err(err) => {
                warn!(error = %err, "Reading monitors from Postgres failed; reconcile abandoned.");
                end = Update::ReconcileFailed;
                break;
            }
        }
    }
    let _ = updates.send(end).await;
}

/// Follows monitor changes on the `CONFIG` stream from now on, until the
/// receiver goes away or the subscription fails.
pub async fn watch_config(
    js: jetstream::Context,
    topology: Topology,
    secrets: Option<SecretBox>,
    updates: mpsc::Sender<Update>,
) -> anyhow::Result<()> {
    let mut changes =
        statushawk_nats::config_changes(&js, &topology, subject::CONFIG_MONITORS_ALL, "scheduler").await?;
    while let Some(change) = changes.next().await {
        let (change, trace) = change?;
        // In the trace of the API request that made the change.
        let span = statushawk_nats::hop_span!("config_change", Some(TraceContext::continue_from(trace)));
        span.in_scope(|| tracing::debug!(subject = change.subject(), "Configuration change received."));
        let update = match change.op {
            ConfigOp::MonitorUpserted { monitor } => match Monitor::from_config(&monitor, secrets.as_ref()) {
                Ok(Some(scheduled)) => Update::Upsert(scheduled),
                Ok(None) => Update::Remove { id: monitor.id, version_ms: monitor.updated_at_ms },
                Err(err) => {
                    warn!(monitor_id = %monitor.id, error = %err, "Monitor credentials do not open; not scheduled.");
                    metrics::counter!(crate::metrics::INVALID_MONITORS_TOTAL).increment(1);
                    Update::Remove { id: monitor.id, version_ms: monitor.updated_at_ms }
                }
            },
            ConfigOp::MonitorDeleted { monitor_id, .. } => Update::Remove { id: monitor_id, version_ms: change.at_ms },
            ConfigOp::ChannelChanged { .. } | ConfigOp::ChannelDeleted { .. } => continue,
        };
        if updates.send(update).await.is_err() {
            break;
        }
    }
    Ok(())
}
