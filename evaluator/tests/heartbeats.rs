//! Heartbeat monitors on real NATS, Postgres and ClickHouse: pings published
//! as the API publishes them, the evaluator's janitor turning pings and
//! silence into results, incidents and events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

mod support;

use std::time::Duration;

use serde_json::json;
use statushawk_nats::Publisher;
use statushawk_schemas::{HeartbeatPing, MonitorId, PingKind, SCHEMA_VERSION, UnixMs, now_ms, subject};
use support::*;

const WAIT: Duration = Duration::from_secs(30);

/// A heartbeat monitor with `schedule` (a `HeartbeatSchedule` as JSON).
async fn heartbeat(stack: &Stack, schedule: serde_json::Value) -> MonitorId {
    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO monitors (team_id, name, kind, spec, interval_ms, timeout_ms, regions, confirmations, quorum) \
         VALUES ($1, 'nightly backup', 'heartbeat', $2, 60000, 10000, '{heartbeat}', 1, 1) RETURNING id",
    )
    .bind(stack.team.0)
    .bind(schedule)
    .fetch_one(&stack.pg)
    .await
    .unwrap();
    MonitorId(id)
}

/// Publishes a ping as the API does; returns when it was received.
async fn ping(stack: &Stack, monitor: MonitorId, kind: PingKind, exit_code: Option<u8>) -> UnixMs {
    ping_run(stack, monitor, kind, exit_code, None).await
}

/// [`ping`] with a run id.
async fn ping_run(
    stack: &Stack,
    monitor: MonitorId,
    kind: PingKind,
    exit_code: Option<u8>,
    run_id: Option<&str>,
) -> UnixMs {
    let ping = HeartbeatPing {
        schema_version: SCHEMA_VERSION,
        ping_id: uuid::Uuid::now_v7(),
        monitor_id: monitor,
        team_id: stack.team,
        received_at_ms: now_ms(),
        kind,
        exit_code,
        run_id: run_id.map(str::to_owned),
        source_ip: None,
        body: None,
    };
    let publisher = Publisher::new(stack.js.clone(), stack.topology.clone());
    publisher.publish(&subject::heartbeat(monitor, stack.topology.partitions), &ping.msg_id(), &ping).await.unwrap();
    ping.received_at_ms
}

/// Whether `monitor` has a ping saved in its state.
async fn pinged(stack: &Stack, monitor: MonitorId) -> bool {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM heartbeat_state WHERE monitor_id = $1 AND last_ping_ms IS NOT NULL)",
    )
    .bind(monitor.0)
    .fetch_one(&stack.pg)
    .await
    .unwrap()
}

/// The incidents of `monitor`: (start, resolved?).
async fn incidents(stack: &Stack, monitor: MonitorId) -> Vec<(i64, bool)> {
    sqlx::query_as(
        "SELECT (extract(epoch FROM started_at) * 1000)::bigint, resolved_at IS NOT NULL FROM incidents \
         WHERE monitor_id = $1 ORDER BY started_at",
    )
    .bind(monitor.0)
    .fetch_all(&stack.pg)
    .await
    .unwrap()
}

/// A ping whose run id Postgres refuses for good (a NUL in the runs
/// `jsonb`: SQLSTATE 22P05), as an older API let through, is set aside on
/// `deadletter.evaluator`; the janitor goes back to the state Postgres has
/// and the next pings of every monitor are handled as usual.
#[tokio::test]
async fn a_ping_whose_state_cannot_be_saved_is_set_aside_and_the_janitor_goes_on() {
    let stack = Stack::new(&["eu-west"], 1).await;
    let poisoned = heartbeat(&stack, json!({"period_ms": 60000, "grace_ms": 60000})).await;
    let other = heartbeat(&stack, json!({"period_ms": 60000, "grace_ms": 60000})).await;
    ping_run(&stack, poisoned, PingKind::Start, None, Some("bad\0run")).await;
    ping(&stack, other, PingKind::Success, None).await;
    let evaluator = stack.evaluator("only");

    let stream = stack.js.get_stream(stack.topology.stream(statushawk_nats::DEAD_LETTERS)).await.unwrap();
    eventually(WAIT, "the poisoned ping set aside", || async { stream.get_raw_message(1).await.is_ok() }).await;
    let letter: serde_json::Value = serde_json::from_slice(&stream.get_raw_message(1).await.unwrap().payload).unwrap();
    assert_eq!(letter["step"], "saving heartbeat state", "{letter}");
    assert_eq!(letter["reason"], "sqlstate_22P05", "{letter}");
    assert_eq!(letter["payload"]["monitor_id"], poisoned.to_string());
    eventually(WAIT, "the other monitor's ping saved", || async { pinged(&stack, other).await }).await;

    // The poisoned monitor's next ping goes through.
    ping(&stack, poisoned, PingKind::Success, None).await;
    eventually(WAIT, "its next ping saved", || async { pinged(&stack, poisoned).await }).await;
    evaluator.stop().await;
}

#[tokio::test]
async fn silence_past_period_and_grace_opens_an_incident_and_a_ping_resolves_it() {
    let stack = Stack::new(&["eu-west"], 2).await;
    let m = heartbeat(&stack, json!({"period_ms": 2000, "grace_ms": 1000})).await;
    let evaluator = stack.evaluator("only");

    // Pings every second keep it up.
    let mut last = 0;
    for _ in 0..5 {
        last = ping(&stack, m, PingKind::Success, None).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eventually(WAIT, "the pings stored as up results", || async { stack.stored(Some(m)).await == 5 }).await;
    assert!(incidents(&stack, m).await.is_empty());

    // Silence: a failure at exactly the last ping + period + grace.
    eventually(Duration::from_secs(10), "the missed deadline's incident", || async {
        !incidents(&stack, m).await.is_empty()
    })
    .await;
    let detected = now_ms();
    assert_eq!(incidents(&stack, m).await, [(last + 3_000, false)]);
    assert!(detected - (last + 3_000) < 3_000, "detected {} ms after the deadline", detected - (last + 3_000));

    // The next ping resolves it.
    ping(&stack, m, PingKind::Success, None).await;
    eventually(WAIT, "resolved", || async { incidents(&stack, m).await.iter().all(|(_, resolved)| *resolved) }).await;
    assert_eq!(stack.incident_events(m).await, ["opened", "resolved"]);
    // Rows are written while the state machine decides: they may land after the incident.
    eventually(WAIT, "the silence and the ping stored", || async { stack.stored(Some(m)).await == 7 }).await;
    let statuses: Vec<String> =
        stack.stored_rows(m).await.into_iter().map(|(region, _, status)| format!("{region} {status}")).collect();
    assert_eq!(statuses[5..], ["heartbeat down".to_owned(), "heartbeat up".to_owned()]);
    evaluator.stop().await;
}

#[tokio::test]
async fn a_fail_ping_fails_at_once_exit_zero_recovers_and_runs_are_timed() {
    let stack = Stack::new(&["eu-west"], 2).await;
    let m = heartbeat(&stack, json!({"period_ms": 3_600_000, "grace_ms": 60_000})).await;
    let evaluator = stack.evaluator("only");

    ping(&stack, m, PingKind::Start, None).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    ping(&stack, m, PingKind::Success, None).await;
    eventually(WAIT, "the run stored", || async { stack.stored(Some(m)).await == 1 }).await;
    let took: u32 = stack
        .ch
        .query(&format!("SELECT total_ms FROM check_results WHERE monitor_id = toUUID('{m}')"))
        .fetch_one()
        .await
        .unwrap();
    assert!((400..5_000).contains(&took), "the run took {took} ms");
    // Both pings kept in heartbeat_pings, the finish with the run's duration.
    let kept: Vec<(String, Option<u32>)> = stack
        .ch
        .query(&format!(
            "SELECT toString(kind), duration_ms FROM heartbeat_pings WHERE monitor_id = toUUID('{m}') ORDER BY received_at_ms"
        ))
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(kept, [("start".to_owned(), None), ("success".to_owned(), Some(took))]);

    // Long before any deadline: the job says it failed.
    let failed = ping(&stack, m, PingKind::Fail, Some(3)).await;
    eventually(WAIT, "the failure's incident", || async { !incidents(&stack, m).await.is_empty() }).await;
    assert_eq!(incidents(&stack, m).await, [(failed, false)]);
    let cause: String = sqlx::query_scalar("SELECT cause FROM incidents WHERE monitor_id = $1")
        .bind(m.0)
        .fetch_one(&stack.pg)
        .await
        .unwrap();
    assert!(cause.contains("exited with code 3"), "{cause}");

    ping(&stack, m, PingKind::Success, Some(0)).await;
    eventually(WAIT, "resolved by exit code 0", || async {
        incidents(&stack, m).await.iter().all(|(_, resolved)| *resolved)
    })
    .await;
    evaluator.stop().await;
}

#[tokio::test]
async fn a_restarted_evaluator_still_fires_the_deadline_missed_while_it_was_gone() {
    let stack = Stack::new(&["eu-west"], 2).await;
    let m = heartbeat(&stack, json!({"period_ms": 2000, "grace_ms": 1000})).await;
    let evaluator = stack.evaluator("first");
    let last = ping(&stack, m, PingKind::Success, None).await;
    eventually(WAIT, "the deadline kept", || async {
        sqlx::query_scalar::<_, Option<i64>>("SELECT deadline_ms FROM heartbeat_state WHERE monitor_id = $1")
            .bind(m.0)
            .fetch_optional(&stack.pg)
            .await
            .unwrap()
            .flatten()
            == Some(last + 3_000)
    })
    .await;
    evaluator.kill().await;
    // The deadline passes with no evaluator.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(incidents(&stack, m).await.is_empty());

    let second = stack.evaluator("second");
    eventually(WAIT, "the missed deadline fired after the restart", || async {
        !incidents(&stack, m).await.is_empty()
    })
    .await;
    assert_eq!(incidents(&stack, m).await, [(last + 3_000, false)]);
    second.stop().await;
}

#[tokio::test]
async fn a_cron_heartbeat_expects_a_ping_at_each_fire_in_its_time_zone() {
    let stack = Stack::new(&["eu-west"], 2).await;
    let m = heartbeat(&stack, json!({"cron": "*/1 * * * *", "timezone": "Europe/Berlin", "grace_ms": 1000})).await;
    let evaluator = stack.evaluator("only");
    let last = ping(&stack, m, PingKind::Success, None).await;
    // Expected at the next whole minute; missed a second after it.
    let deadline = (last / 60_000 + 1) * 60_000 + 1_000;
    eventually(Duration::from_secs(90), "the missed minute's incident", || async {
        !incidents(&stack, m).await.is_empty()
    })
    .await;
    assert_eq!(incidents(&stack, m).await, [(deadline, false)]);
    evaluator.stop().await;
}
