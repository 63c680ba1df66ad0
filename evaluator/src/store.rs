//! Postgres: the monitors' configuration and state (read when a partition's
//! owner first meets a monitor), and the incident record (written once per
//! batch, in one transaction, with its events in the outbox).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::value::RawValue;
use sqlx::{PgPool, Postgres, Transaction};
use statushawk_common::secrets::{Sealed, SecretBox, restore_spec_secrets};
use statushawk_nats::TraceContext;
use statushawk_schemas::{
    CheckSpec, IncidentId, MonitorId, MonitorStatus, Region, RegionEvidence, RegionState, TeamId,
};
use uuid::Uuid;

use crate::state::{Event, Incident, Monitor, MonitorState, Status, Track, Write};

/// A monitor as loaded: its configuration and the state Postgres remembers.
pub struct Loaded {
    /// Configuration.
    pub monitor: Monitor,
    /// Its version: `monitors.updated_at` (µs), which every change moves.
    pub version: i64,
    /// Open outages, open incident, current status.
    pub state: MonitorState,
}

#[derive(sqlx::FromRow)]
struct MonitorRow {
    id: Uuid,
    team_id: Uuid,
    name: String,
    kind: String,
    spec: serde_json::Value,
    interval_ms: i32,
    timeout_ms: i32,
    regions: Vec<String>,
    confirmations: i16,
    recoveries: i16,
    quorum: i16,
    degraded_is_failure: bool,
    status: Option<String>,
    seq: Option<i64>,
    evidence: Option<serde_json::Value>,
    secret_ciphertext: Option<Vec<u8>>,
    secret_nonce: Option<Vec<u8>>,
    version: i64,
}

#[derive(sqlx::FromRow)]
struct OutageRow {
    id: Uuid,
    monitor_id: Uuid,
    region: String,
    started_at_ms: i64,
    failing_strikes: i32,
    passing_strikes: i32,
    last_slot_ms: i64,
    last_attempt: i32,
}

#[derive(sqlx::FromRow)]
struct IncidentRow {
    id: Uuid,
    monitor_id: Uuid,
    started_at_ms: i64,
    cause: String,
    affected_regions: Vec<String>,
    event_seq: i32,
}

/// Milliseconds to `timestamptz` in SQL.
macro_rules! ts {
    ($param:literal) => {
        concat!("to_timestamp(", $param, "::bigint / 1000.0)")
    };
}

/// `timestamptz` to milliseconds in SQL.
macro_rules! ms {
    ($column:literal) => {
        concat!("(extract(epoch FROM ", $column, ") * 1000)::bigint")
    };
}

/// The version ([`Loaded::version`]) of each of `ids` that still exists:
/// what the reconcile compares with what it holds, in one query.
pub async fn versions(pg: &PgPool, ids: &[MonitorId]) -> sqlx::Result<HashMap<MonitorId, i64>> {
    let uuids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT id, (extract(epoch FROM updated_at) * 1000000)::bigint FROM monitors WHERE id = ANY($1)",
    )
    .bind(&uuids)
    .fetch_all(pg)
    .await?;
    Ok(rows.into_iter().map(|(id, version)| (MonitorId(id), version)).collect())
}

/// Loads the configuration of `ids` (only the configuration when
/// `with_state` is false), their sealed credentials opened with `secrets`
/// for the re-checks. Monitors that no longer exist are absent.
pub async fn load(
    pg: &PgPool,
    secrets: Option<&SecretBox>,
    ids: &[MonitorId],
    with_state: bool,
) -> sqlx::Result<HashMap<MonitorId, Loaded>> {
    let uuids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
    let rows: Vec<MonitorRow> = sqlx::query_as(
        "SELECT m.id, m.team_id, m.name, m.kind::text AS kind, m.spec, m.interval_ms, m.timeout_ms, m.regions, \
         m.confirmations, m.recoveries, m.quorum, m.degraded_is_failure, \
         s.status::text AS status, s.seq, s.regions AS evidence, m.secret_ciphertext, m.secret_nonce, \
         (extract(epoch FROM m.updated_at) * 1000000)::bigint AS version \
         FROM monitors m LEFT JOIN monitor_status s ON s.monitor_id = m.id WHERE m.id = ANY($1)",
    )
    .bind(&uuids)
    .fetch_all(pg)
    .await?;
    let mut loaded = HashMap::with_capacity(rows.len());
    for row in rows {
        let id = MonitorId(row.id);
        let Some(monitor) = monitor_of(&row, secrets) else {
            tracing::warn!(monitor_id = %id, "Monitor configuration unreadable; its results are stored but not evaluated.");
            continue;
        };
        let mut state = MonitorState::default();
        if with_state {
            state.status = Status {
                status: match row.status.as_deref() {
                    Some("down") => MonitorStatus::Down,
                    Some("degraded") => MonitorStatus::Degraded,
                    _ => MonitorStatus::Up,
                },
                seq: row.seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
            };
            let evidence: Vec<RegionEvidence> =
                row.evidence.clone().and_then(|e| serde_json::from_value(e).ok()).unwrap_or_default();
            for e in evidence {
                let region = e.region.clone();
                state.regions.entry(region).or_default().evidence = Some(e);
            }
        }
        loaded.insert(id, Loaded { monitor, version: row.version, state });
    }
    if !with_state || loaded.is_empty() {
        return Ok(loaded);
    }
    let outages: Vec<OutageRow> = sqlx::query_as(concat!(
        "SELECT id, monitor_id, region, ",
        ms!("started_at"),
        " AS started_at_ms, failing_strikes, passing_strikes, last_slot_ms, last_attempt \
         FROM region_outages WHERE monitor_id = ANY($1) AND resolved_at IS NULL"
    ))
    .bind(&uuids)
    .fetch_all(pg)
    .await?;
    for o in outages {
        let (Some(entry), Ok(region)) = (loaded.get_mut(&MonitorId(o.monitor_id)), Region::new(o.region)) else {
            continue;
        };
        let track = entry.state.regions.entry(region).or_insert_with(Track::default);
        track.state = RegionState::Down;
        track.fails = u32::try_from(o.failing_strikes).unwrap_or(0);
        track.passes = u32::try_from(o.passing_strikes).unwrap_or(0);
        track.failing_since_ms = Some(o.started_at_ms);
        track.outage = Some(o.id);
        track.last = Some((o.last_slot_ms, u32::try_from(o.last_attempt).unwrap_or(0)));
        if let Some(e) = track.evidence.as_mut() {
            e.state = RegionState::Down;
        }
    }
    let incidents: Vec<IncidentRow> = sqlx::query_as(concat!(
        "SELECT id, monitor_id, ",
        ms!("started_at"),
        " AS started_at_ms, cause, affected_regions, event_seq \
         FROM incidents WHERE monitor_id = ANY($1) AND resolved_at IS NULL"
    ))
    .bind(&uuids)
    .fetch_all(pg)
    .await?;
    for i in incidents {
        let Some(entry) = loaded.get_mut(&MonitorId(i.monitor_id)) else { continue };
        let down = entry
            .monitor
            .regions
            .iter()
            .filter(|r| entry.state.regions.get(*r).is_some_and(|t| t.state == RegionState::Down))
            .cloned()
            .collect();
        entry.state.incident = Some(Incident {
            id: IncidentId(i.id),
            started_at_ms: i.started_at_ms,
            event_seq: u64::try_from(i.event_seq).unwrap_or(0),
            affected: i.affected_regions.into_iter().filter_map(|r| Region::new(r).ok()).collect(),
            down,
            cause: i.cause,
        });
    }
    Ok(loaded)
}

fn monitor_of(row: &MonitorRow, secrets: Option<&SecretBox>) -> Option<Monitor> {
    let check = if row.kind == "heartbeat" {
        None
    } else {
        let serde_json::Value::Object(mut settings) = row.spec.clone() else { return None };
        settings.insert("kind".into(), serde_json::Value::String(row.kind.clone()));
        let mut spec: CheckSpec = serde_json::from_value(serde_json::Value::Object(settings)).ok()?;
        let sealed = Sealed::from_columns(row.secret_ciphertext.clone(), row.secret_nonce.clone());
        match restore_spec_secrets(secrets, MonitorId(row.id), sealed.as_ref(), &mut spec) {
            Ok(()) => Some(serde_json::value::to_raw_value(&spec).ok()?),
            Err(err) => {
                // Re-checked without its credentials it would fail for the
                // wrong reason: evaluated on its scheduled checks only.
                tracing::warn!(monitor_id = %row.id, error = %err, "Monitor credentials do not open; no re-checks.");
                None
            }
        }
    };
    let regions: Vec<Region> = row.regions.iter().filter_map(|r| Region::new(r.as_str()).ok()).collect();
    let check: Option<Box<RawValue>> = check;
    if row.kind == "heartbeat" {
        // One "region", and the first failure is confirmed: a missed ping
        // cannot be re-checked.
        return Some(Monitor {
            id: MonitorId(row.id),
            team_id: TeamId(row.team_id),
            name: row.name.clone(),
            interval_ms: u32::try_from(row.interval_ms).ok()?,
            timeout_ms: u32::try_from(row.timeout_ms).ok()?,
            regions: vec![Region::heartbeat()],
            confirmations: 1,
            recoveries: 1,
            quorum: 1,
            degraded_is_failure: false,
            check: None,
        });
    }
    Some(Monitor {
        id: MonitorId(row.id),
        team_id: TeamId(row.team_id),
        name: row.name.clone(),
        interval_ms: u32::try_from(row.interval_ms).ok()?,
        timeout_ms: u32::try_from(row.timeout_ms).ok()?,
        regions,
        confirmations: u32::try_from(row.confirmations).ok()?.max(1),
        recoveries: u32::try_from(row.recoveries).ok()?.max(1),
        quorum: usize::try_from(row.quorum).ok()?.max(1),
        degraded_is_failure: row.degraded_is_failure,
        check,
    })
}

/// An event waiting in the outbox.
pub struct Pending {
    /// Outbox row id.
    pub id: i64,
    /// Subject, without prefix.
    pub subject: String,
    /// Message id.
    pub msg_id: String,
    /// JSON payload.
    pub payload: String,
    /// The hop of the trace of the result that caused it.
    pub trace: Option<TraceContext>,
}

/// Why a batch's changes could not be committed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Postgres failed; the same changes may be retried.
    #[error("postgres: {0}")]
    Db(#[from] sqlx::Error),
    /// An event could not be serialized (a bug).
    #[error("serializing an event: {0}")]
    Json(#[from] serde_json::Error),
}

/// Commits a batch's writes and its events (into the outbox) in one
/// transaction; returns the events as outbox rows, in order.
pub async fn commit(
    pg: &PgPool,
    partition: u16,
    writes: &[Write],
    events: &[Event],
    traces: &HashMap<String, TraceContext>,
) -> Result<Vec<Pending>, CommitError> {
    let mut tx = pg.begin().await?;
    for write in writes {
        apply(&mut tx, write).await?;
    }
    let mut pending = Vec::with_capacity(events.len());
    for event in events {
        let (subject, msg_id, payload) = (event.subject(), event.msg_id(), event.to_json()?);
        let trace = traces.get(&msg_id).copied();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO event_outbox (partition, subject, msg_id, payload, traceparent) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(i16::try_from(partition).unwrap_or(i16::MAX))
        .bind(&subject)
        .bind(&msg_id)
        .bind(&payload)
        .bind(trace.map(|t| t.header()))
        .fetch_one(&mut *tx)
        .await?;
        pending.push(Pending { id, subject, msg_id, payload: payload.to_string(), trace });
    }
    tx.commit().await?;
    Ok(pending)
}

/// Whether retrying the same commit could succeed.
pub fn failure(err: &CommitError) -> statushawk_common::db::Failure {
    match err {
        CommitError::Db(err) => statushawk_common::db::classify(err),
        CommitError::Json(_) => statushawk_common::db::Failure::Permanent("json".to_owned()),
    }
}

/// Whether an error means the monitor is gone (deleted while its results
/// were in flight): its rows can never be written.
pub fn is_monitor_gone(err: &CommitError) -> bool {
    matches!(err, CommitError::Db(sqlx::Error::Database(db)) if db.is_foreign_key_violation())
}

fn int(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn regions(regions: &[Region]) -> Vec<String> {
    regions.iter().map(|r| r.as_str().to_owned()).collect()
}

async fn apply(tx: &mut Transaction<'_, Postgres>, write: &Write) -> sqlx::Result<()> {
    match write {
        Write::OpenOutage { id, monitor_id, region, started_at_ms, fails, last_error, last } => {
            sqlx::query(concat!(
                "INSERT INTO region_outages (id, monitor_id, region, started_at, failing_strikes, last_error, \
                 last_slot_ms, last_attempt) VALUES ($1, $2, $3, ",
                ts!("$4"),
                // Any conflict: an outage already open for the region, or
                // this very outage (its id is derived from the result that
                // confirmed it, so a replay writes it again) even resolved.
                ", $5, $6, $7, $8) ON CONFLICT DO NOTHING"
            ))
            .bind(id)
            .bind(monitor_id.0)
            .bind(region.as_str())
            .bind(started_at_ms)
            .bind(int(*fails))
            .bind(last_error)
            .bind(last.0)
            .bind(int(last.1))
            .execute(&mut **tx)
            .await?;
        }
        Write::CountOutage { monitor_id, region, fails, passes, last_error, last } => {
            sqlx::query(
                "UPDATE region_outages SET failing_strikes = $3, passing_strikes = $4, \
                 last_error = coalesce($5, last_error), last_slot_ms = $6, last_attempt = $7 \
                 WHERE monitor_id = $1 AND region = $2 AND resolved_at IS NULL",
            )
            .bind(monitor_id.0)
            .bind(region.as_str())
            .bind(int(*fails))
            .bind(int(*passes))
            .bind(last_error)
            .bind(last.0)
            .bind(int(last.1))
            .execute(&mut **tx)
            .await?;
        }
        Write::ResolveOutage { monitor_id, region, resolved_at_ms, passes, last } => {
            sqlx::query(concat!(
                "UPDATE region_outages SET resolved_at = greatest(started_at, ",
                ts!("$3"),
                "), passing_strikes = $4, last_slot_ms = $5, last_attempt = $6 \
                 WHERE monitor_id = $1 AND region = $2 AND resolved_at IS NULL"
            ))
            .bind(monitor_id.0)
            .bind(region.as_str())
            .bind(resolved_at_ms)
            .bind(int(*passes))
            .bind(last.0)
            .bind(int(last.1))
            .execute(&mut **tx)
            .await?;
        }
        Write::OpenIncident { id, team_id, monitor_id, started_at_ms, cause, affected } => {
            let cause: String = cause.chars().take(10_000).collect();
            sqlx::query(concat!(
                "INSERT INTO incidents (id, team_id, monitor_id, started_at, cause, affected_regions, event_seq) \
                 VALUES ($1, $2, $3, ",
                ts!("$4"),
                // Any conflict: an incident already open for the monitor, or
                // this very incident (replayed: its id is derived) even resolved.
                ", $5, $6, 1) ON CONFLICT DO NOTHING"
            ))
            .bind(id.0)
            .bind(team_id.0)
            .bind(monitor_id.0)
            .bind(started_at_ms)
            .bind(cause)
            .bind(regions(affected))
            .execute(&mut **tx)
            .await?;
        }
        Write::UpdateIncident { id, affected, event_seq } => {
            sqlx::query("UPDATE incidents SET affected_regions = $2, event_seq = $3 WHERE id = $1")
                .bind(id.0)
                .bind(regions(affected))
                .bind(i32::try_from(*event_seq).unwrap_or(i32::MAX))
                .execute(&mut **tx)
                .await?;
        }
        Write::ResolveIncident { id, resolved_at_ms, event_seq } => {
            sqlx::query(concat!(
                "UPDATE incidents SET resolved_at = greatest(started_at, ",
                ts!("$2"),
                "), event_seq = $3 WHERE id = $1 AND resolved_at IS NULL"
            ))
            .bind(id.0)
            .bind(resolved_at_ms)
            .bind(i32::try_from(*event_seq).unwrap_or(i32::MAX))
            .execute(&mut **tx)
            .await?;
        }
        Write::IncidentUpdate { incident_id, at_ms, resolved, message } => {
            let message: String = message.chars().take(10_000).collect();
            sqlx::query(concat!(
                "INSERT INTO incident_updates (incident_id, at, status, source, message) \
                 SELECT $1, ",
                ts!("$2"),
                ", $3::incident_status, 'system', $4 WHERE EXISTS (SELECT 1 FROM incidents WHERE id = $1)"
            ))
            .bind(incident_id.0)
            .bind(at_ms)
            .bind(if *resolved { "resolved" } else { "investigating" })
            .bind(message)
            .execute(&mut **tx)
            .await?;
        }
        Write::Status { monitor_id, status, seq, at_ms, regions } => {
            let status = match status {
                MonitorStatus::Up => "up",
                MonitorStatus::Degraded => "degraded",
                MonitorStatus::Down => "down",
            };
            let evidence = serde_json::to_value(regions).unwrap_or_else(|_| serde_json::json!([]));
            sqlx::query(concat!(
                "INSERT INTO monitor_status (monitor_id, status, seq, changed_at, regions) \
                 VALUES ($1, $2::monitor_status_kind, $3, ",
                ts!("$4"),
                ", $5) ON CONFLICT (monitor_id) DO UPDATE SET status = EXCLUDED.status, seq = EXCLUDED.seq, \
                 changed_at = EXCLUDED.changed_at, regions = EXCLUDED.regions \
                 WHERE monitor_status.seq < EXCLUDED.seq"
            ))
            .bind(monitor_id.0)
            .bind(status)
            .bind(i64::try_from(*seq).unwrap_or(i64::MAX))
            .bind(at_ms)
            .bind(evidence)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// The events of `partition` still in the outbox, oldest first.
pub async fn outbox(pg: &PgPool, partition: u16) -> sqlx::Result<Vec<Pending>> {
    outbox_left(pg, partition, Duration::ZERO).await
}

/// The events of `partition` in the outbox for longer than `age`, oldest
/// first.
pub async fn outbox_left(pg: &PgPool, partition: u16, age: Duration) -> sqlx::Result<Vec<Pending>> {
    let rows: Vec<(i64, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, subject, msg_id, payload::text, traceparent FROM event_outbox \
         WHERE partition = $1 AND created_at <= now() - $2 * interval '1 millisecond' ORDER BY id LIMIT 10000",
    )
    .bind(i16::try_from(partition).unwrap_or(i16::MAX))
    .bind(i64::try_from(age.as_millis()).unwrap_or(i64::MAX))
    .fetch_all(pg)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, subject, msg_id, payload, trace)| Pending {
            id,
            subject,
            msg_id,
            payload,
            trace: trace.as_deref().and_then(TraceContext::parse),
        })
        .collect())
}

/// Deletes published events from the outbox.
pub async fn published(pg: &PgPool, ids: &[i64]) -> sqlx::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("DELETE FROM event_outbox WHERE id = ANY($1)").bind(ids).execute(pg).await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct HeartbeatRow {
    id: Uuid,
    team_id: Uuid,
    spec: serde_json::Value,
    paused: bool,
    deadline_ms: Option<i64>,
    last_ping_ms: Option<i64>,
    last_slot_ms: Option<i64>,
    runs: Option<serde_json::Value>,
}

/// Heartbeat monitors (all of them, or those of `ids` that are heartbeat
/// monitors) with their kept state.
pub async fn heartbeats(pg: &PgPool, ids: Option<&[MonitorId]>) -> sqlx::Result<HashMap<MonitorId, crate::beat::Beat>> {
    let uuids: Option<Vec<Uuid>> = ids.map(|ids| ids.iter().map(|id| id.0).collect());
    let rows: Vec<HeartbeatRow> = sqlx::query_as(
        "SELECT m.id, m.team_id, m.spec, m.paused, h.deadline_ms, h.last_ping_ms, h.last_slot_ms, h.runs \
         FROM monitors m LEFT JOIN heartbeat_state h ON h.monitor_id = m.id \
         WHERE m.kind = 'heartbeat' AND ($1::uuid[] IS NULL OR m.id = ANY($1))",
    )
    .bind(uuids)
    .fetch_all(pg)
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let Ok(schedule) = serde_json::from_value::<statushawk_schemas::HeartbeatSchedule>(row.spec) else {
            tracing::warn!(monitor_id = %row.id, "Heartbeat schedule unreadable; the monitor is not watched.");
            continue;
        };
        let runs = row.runs.and_then(|r| serde_json::from_value(r).ok()).unwrap_or_default();
        out.insert(
            MonitorId(row.id),
            crate::beat::Beat {
                team_id: TeamId(row.team_id),
                schedule,
                paused: row.paused,
                deadline_ms: row.deadline_ms,
                last_ping_ms: row.last_ping_ms,
                last_slot_ms: row.last_slot_ms.unwrap_or(0),
                runs,
            },
        );
    }
    Ok(out)
}

/// Keeps the janitor's state of `beats` (skipping monitors deleted meanwhile).
pub async fn save_heartbeats(pg: &PgPool, beats: &[(MonitorId, &crate::beat::Beat)]) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = beats.iter().map(|(id, _)| id.0).collect();
    let deadlines: Vec<Option<i64>> = beats.iter().map(|(_, b)| b.deadline_ms).collect();
    let pings: Vec<Option<i64>> = beats.iter().map(|(_, b)| b.last_ping_ms).collect();
    let slots: Vec<i64> = beats.iter().map(|(_, b)| b.last_slot_ms).collect();
    let runs: Vec<serde_json::Value> = beats.iter().map(|(_, b)| serde_json::json!(b.runs)).collect();
    sqlx::query(
        "INSERT INTO heartbeat_state (monitor_id, deadline_ms, last_ping_ms, last_slot_ms, runs) \
         SELECT u.id, u.deadline, u.ping, u.slot, u.runs \
         FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::jsonb[]) AS u(id, deadline, ping, slot, runs) \
         WHERE EXISTS (SELECT 1 FROM monitors m WHERE m.id = u.id) \
         ON CONFLICT (monitor_id) DO UPDATE SET deadline_ms = excluded.deadline_ms, \
             last_ping_ms = excluded.last_ping_ms, last_slot_ms = excluded.last_slot_ms, runs = excluded.runs",
    )
    .bind(&ids)
    .bind(&deadlines)
    .bind(&pings)
    .bind(&slots)
    .bind(&runs)
    .execute(pg)
    .await?;
    Ok(())
}
