//! A compromised prober publishes, within what its NATS account allows
//! (`checks.result.*.<its region>.>`), results whose payload lies about the
//! region, the monitor, the partition or the team. The evaluator refuses
//! them: no row, no state change, no incident; it counts them and goes on
//! with the genuine results around them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

mod support;

use std::time::Duration;

use statushawk_nats::async_nats::jetstream;
use statushawk_nats::{CHECK_RESULTS, Publisher, evaluator_consumer};
use statushawk_schemas::CheckStatus::{Down, Up};
use statushawk_schemas::{CheckResult, CheckStatus, DueCheck, MonitorId, Region, TeamId, partition_of, subject};
use support::*;

const WAIT: Duration = Duration::from_secs(30);

/// Waits until every result of the partition consumers is settled.
async fn settled(stack: &Stack) {
    let stream = stack.js.get_stream(stack.topology.stream(CHECK_RESULTS)).await.unwrap();
    eventually(WAIT, "every result settled", || {
        let stream = stream.clone();
        async move {
            for p in 0..stack.topology.partitions {
                let mut consumer: jetstream::consumer::PullConsumer =
                    stream.get_consumer(&evaluator_consumer(p)).await.unwrap();
                let info = consumer.info().await.unwrap();
                if info.num_pending > 0 || info.num_ack_pending > 0 {
                    return false;
                }
            }
            true
        }
    })
    .await;
}

/// The process's metrics, for the counters the evaluator keeps.
fn metrics() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).unwrap();
        handle
    })
}

/// `statushawk_evaluator_forged_results_total{reason}` (0 when never counted).
fn forged(reason: &str) -> u64 {
    let needle = format!("statushawk_evaluator_forged_results_total{{reason=\"{reason}\"}} ");
    metrics().render().lines().find_map(|l| l.strip_prefix(needle.as_str())?.trim().parse().ok()).unwrap_or(0)
}

/// A monitor of `team` checked from `regions`, confirmed by one failure.
async fn monitor_of(stack: &Stack, team: TeamId, regions: &[&str], quorum: i16) -> MonitorId {
    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO monitors (team_id, name, kind, spec, interval_ms, timeout_ms, regions, quorum) \
         VALUES ($1, 'api', 'http', '{\"url\": \"http://scripted.invalid/\"}', 10000, 2000, $2, $3) RETURNING id",
    )
    .bind(team.0)
    .bind(regions.iter().map(|r| r.to_string()).collect::<Vec<_>>())
    .bind(quorum)
    .fetch_one(&stack.pg)
    .await
    .unwrap();
    MonitorId(id)
}

async fn team(stack: &Stack, name: &str) -> TeamId {
    let id: uuid::Uuid = sqlx::query_scalar("INSERT INTO teams (name, slug) VALUES ($1, $2) RETURNING id")
        .bind(name)
        .bind(format!("{}-{}", name.to_lowercase(), stack.env.id))
        .fetch_one(&stack.pg)
        .await
        .unwrap();
    TeamId(id)
}

/// A result as a prober makes it, `prober_id` telling who made it.
fn result(
    monitor: MonitorId,
    team: TeamId,
    region: &str,
    slot_ms: i64,
    attempt: u32,
    status: CheckStatus,
) -> CheckResult {
    let due = DueCheck {
        schema_version: statushawk_schemas::SCHEMA_VERSION,
        monitor_id: monitor,
        team_id: team,
        region: support::region(region),
        slot_ms,
        attempt,
        deadline_ms: 0,
        timeout_ms: 2_000,
        spec: statushawk_schemas::CheckSpec::Http(statushawk_schemas::HttpSpec::get("http://scripted.invalid/")),
    };
    result_for(&due, status)
}

fn forgery(monitor: MonitorId, team: TeamId, region: &str, slot_ms: i64, attempt: u32) -> CheckResult {
    CheckResult { prober_id: "forger".into(), ..result(monitor, team, region, slot_ms, attempt, Down) }
}

/// Publishes on `subject` (unprefixed) through JetStream, as a prober does.
async fn publish(stack: &Stack, subject: &str, result: &CheckResult) {
    let publisher = Publisher::new(stack.js.clone(), stack.topology.clone());
    // The forger's message ids are its own: one per message.
    let id = format!("{}-{subject}", result.msg_id());
    publisher.publish(subject, &id, result).await.unwrap();
}

async fn forged_rows(stack: &Stack) -> u64 {
    stack.ch.query("SELECT count() FROM check_results WHERE prober_id = 'forger'").fetch_one::<u64>().await.unwrap()
}

#[tokio::test]
async fn results_whose_payload_disagrees_with_their_subject_or_monitor_change_nothing() {
    metrics();
    let stack = Stack::new(&["eu-west", "us-east"], 2).await;
    // The only prober is eu-west's, and eu-west really is down.
    let responder = Responder::start(&stack, &["eu-west"]);
    responder.set("eu-west", Down);
    let (us, them) = (stack.team, team(&stack, "Them").await);
    // Quorum 2 of eu-west and us-east: eu-west alone never opens an incident.
    let m = monitor_of(&stack, us, &["eu-west", "us-east"], 2).await;
    let theirs = monitor_of(&stack, them, &["eu-west"], 1).await;
    let us_east_only = monitor_of(&stack, us, &["us-east"], 1).await;
    let evaluator = stack.evaluator("only");
    let eu = region("eu-west");
    let partitions = stack.topology.partitions;

    stack.due(m, &["eu-west"], slot(1)).await;
    eventually(WAIT, "eu-west's outage", || async { stack.open_outages(m).await == ["eu-west"] }).await;
    settled(&stack).await;
    let stored = stack.stored(Some(m)).await;

    // The forger, on eu-west's subjects only.
    let s = slot(2);
    let on_eu = |monitor| subject::check_result(monitor, &eu, partitions);
    // "us-east is down too", twice, to confirm it: quorum reached.
    publish(&stack, &on_eu(m), &forgery(m, us, "us-east", s, 0)).await;
    publish(&stack, &on_eu(m), &forgery(m, us, "us-east", s, 1)).await;
    // A payload for another monitor than the subject's.
    publish(&stack, &on_eu(theirs), &forgery(m, us, "eu-west", s, 2)).await;
    // A payload on another partition than its monitor's.
    let other = (partition_of(m, partitions) + 1) % partitions;
    let wrong_partition = format!("checks.result.{other}.eu-west.{m}");
    publish(&stack, &wrong_partition, &forgery(m, us, "eu-west", s, 3)).await;
    // A subject that is not a result subject (the account allows more tokens).
    publish(&stack, &format!("{}.x", on_eu(m)), &forgery(m, us, "eu-west", s, 4)).await;
    // Another team's monitor, claimed for us; and ours, claimed for them.
    publish(&stack, &on_eu(theirs), &forgery(theirs, us, "eu-west", s, 0)).await;
    publish(&stack, &on_eu(m), &forgery(m, them, "eu-west", s, 5)).await;
    // A monitor nobody checks from eu-west.
    publish(&stack, &on_eu(us_east_only), &forgery(us_east_only, us, "eu-west", s, 0)).await;

    // Genuine results around them: eu-west's next round, and their monitor's.
    stack.due(m, &["eu-west"], slot(3)).await;
    publish(&stack, &on_eu(theirs), &result(theirs, them, "eu-west", slot(3), 0, Up)).await;
    settled(&stack).await;

    assert!(stack.incidents(m).await.is_empty(), "one real region down of two, quorum 2: no incident");
    assert_eq!(stack.open_outages(m).await, ["eu-west"], "us-east never went down");
    assert!(stack.incident_events(m).await.is_empty());
    assert_eq!(forged_rows(&stack).await, 0, "no forged row in check_results");
    assert_eq!(stack.stored(Some(m)).await, stored + 1, "eu-west's next round is stored");
    assert_eq!(stack.stored(Some(theirs)).await, 1, "their genuine result is stored");
    assert_eq!(stack.stored(Some(us_east_only)).await, 0);
    assert!(stack.open_outages(theirs).await.is_empty() && stack.incidents(theirs).await.is_empty());
    let counted: Vec<(&str, u64)> =
        ["region", "monitor", "partition", "subject", "team", "unconfigured_region"].map(|r| (r, forged(r))).to_vec();
    assert_eq!(
        counted,
        [("region", 2), ("monitor", 1), ("partition", 1), ("subject", 1), ("team", 2), ("unconfigured_region", 1)]
    );

    evaluator.stop().await;
    responder.stop();
}

/// A region added to a monitor moments ago (the evaluator has not heard of
/// the change yet) is genuine: the monitor is read again before a result of
/// a region it does not know is refused.
#[tokio::test]
async fn a_result_of_a_region_just_added_is_evaluated() {
    let stack = Stack::new(&["eu-west", "us-east"], 1).await;
    let m = stack.monitor("http://scripted.invalid/", &["eu-west"], 1).await;
    let evaluator = stack.evaluator("only");
    let (eu, us) = (region("eu-west"), region("us-east"));
    let on = |r: &Region| subject::check_result(m, r, stack.topology.partitions);
    publish(&stack, &on(&eu), &result(m, stack.team, "eu-west", slot(1), 0, Up)).await;
    eventually(WAIT, "eu-west's result stored", || async { stack.stored(Some(m)).await == 1 }).await;

    // Changed in Postgres only: no CONFIG message tells the evaluator.
    sqlx::query("UPDATE monitors SET regions = '{eu-west,us-east}' WHERE id = $1")
        .bind(m.0)
        .execute(&stack.pg)
        .await
        .unwrap();
    publish(&stack, &on(&us), &result(m, stack.team, "us-east", slot(2), 0, Down)).await;
    publish(&stack, &on(&us), &result(m, stack.team, "us-east", slot(2), 1, Down)).await;
    eventually(WAIT, "us-east's outage", || async { stack.open_outages(m).await == ["us-east"] }).await;
    settled(&stack).await;
    assert_eq!(stack.stored(Some(m)).await, 3);
    evaluator.stop().await;
}
