//! Topology against a real NATS server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

use std::time::Duration;

use async_nats::jetstream;
use statushawk_nats::{Action, CHECKS_DUE, Publisher, Topology};
use statushawk_schemas::{CheckSpec, DueCheck, MonitorId, Region, SCHEMA_VERSION, TcpSpec, TeamId, msg_id, subject};
use statushawk_testkit::TestEnv;

fn topology(env: &TestEnv) -> Topology {
    let mut topology = Topology::new(&env.nats_prefix).unwrap();
    topology.partitions = 4;
    topology.regions = vec![Region::new("eu-west").unwrap(), Region::new("us-east").unwrap()];
    topology
}

#[tokio::test]
async fn ensure_creates_everything_once_then_changes_nothing() {
    let env = TestEnv::new().await;
    let js = jetstream::new(env.nats().await);
    let topology = topology(&env);

    let first = topology.ensure(&js).await.unwrap();
    // 6 streams, the leases bucket, 2 consumers per region, 2 per partition, the notifier.
    assert_eq!(first.len(), 6 + 1 + 2 * 2 + 2 * 4 + 1);
    assert!(first.iter().all(|item| item.action == Action::Created), "{first:#?}");

    let second = topology.ensure(&js).await.unwrap();
    assert!(second.iter().all(|item| item.action == Action::Unchanged), "{second:#?}");
    assert!(topology.verify(&js).await.unwrap().iter().all(|item| item.action == Action::Unchanged));

    // Everything is really there, with the declared settings.
    let mut due = js.get_stream(topology.stream(CHECKS_DUE)).await.unwrap();
    let info = due.info().await.unwrap();
    assert_eq!(info.config.retention, jetstream::stream::RetentionPolicy::WorkQueue);
    assert_eq!(info.config.duplicate_window, Duration::from_secs(30));
    let consumer = due.consumer_info("prober-urgent-eu-west").await.unwrap();
    assert_eq!(consumer.config.filter_subject, format!("{}.checks.urgent.eu-west", env.nats_prefix));
    let kv = js.get_key_value(topology.bucket("leases")).await.unwrap();
    assert_eq!(kv.status().await.unwrap().max_age(), Duration::from_secs(10));
}

#[tokio::test]
async fn ensure_updates_what_changed_and_verify_reports_without_changing() {
    let env = TestEnv::new().await;
    let js = jetstream::new(env.nats().await);
    let mut topology = topology(&env);
    topology.ensure(&js).await.unwrap();

    topology.due_duplicate_window = Duration::from_secs(45);
    topology.lease_ttl = Duration::from_secs(6);
    topology.regions.push(Region::new("ap-south").unwrap());

    let planned = topology.verify(&js).await.unwrap();
    let changed: Vec<String> =
        planned.iter().filter(|i| i.action != Action::Unchanged).map(|i| i.to_string()).collect();
    let prefix = &env.nats_prefix;
    assert_eq!(
        changed,
        [
            format!("stream {prefix}_CHECKS_DUE: updated (duplicate_window)"),
            format!("bucket {prefix}_leases: updated (max_age)"),
            format!("consumer {prefix}_CHECKS_DUE/prober-ap-south: created"),
            format!("consumer {prefix}_CHECKS_DUE/prober-urgent-ap-south: created"),
        ]
    );
    // verify changed nothing: the same plan again.
    assert_eq!(topology.verify(&js).await.unwrap(), planned);

    assert_eq!(topology.ensure(&js).await.unwrap(), planned);
    assert!(topology.ensure(&js).await.unwrap().iter().all(|i| i.action == Action::Unchanged));
    let mut due = js.get_stream(topology.stream(CHECKS_DUE)).await.unwrap();
    assert_eq!(due.info().await.unwrap().config.duplicate_window, Duration::from_secs(45));
}

#[tokio::test]
async fn the_work_queue_drops_a_second_message_with_the_same_id() {
    let env = TestEnv::new().await;
    let js = jetstream::new(env.nats().await);
    let topology = topology(&env);
    topology.ensure(&js).await.unwrap();
    let publisher = Publisher::new(js.clone(), topology.clone());

    let region = Region::new("eu-west").unwrap();
    let due = DueCheck {
        schema_version: SCHEMA_VERSION,
        monitor_id: MonitorId::new(),
        team_id: TeamId::new(),
        region: region.clone(),
        slot_ms: 1_700_000_000_000,
        attempt: 0,
        deadline_ms: 1_700_000_060_000,
        timeout_ms: 5_000,
        spec: CheckSpec::Tcp(TcpSpec { host: "example.com".into(), port: 443, send: None, expect: None }),
    };
    assert_eq!(due.msg_id(), msg_id::due(due.monitor_id, &region, due.slot_ms, 0));
    // A second leader publishing the same slot is dropped by the server.
    assert!(!publisher.publish(&subject::checks_due(&region), &due.msg_id(), &due).await.unwrap());
    assert!(publisher.publish(&subject::checks_due(&region), &due.msg_id(), &due).await.unwrap());
    // A re-check of the same slot is another message.
    let recheck = DueCheck { attempt: 1, ..due.clone() };
    assert!(!publisher.publish(&subject::checks_urgent(&region), &recheck.msg_id(), &recheck).await.unwrap());

    let mut stream = js.get_stream(topology.stream(CHECKS_DUE)).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 2);
    let scheduled = stream.consumer_info("prober-eu-west").await.unwrap();
    assert_eq!(scheduled.num_pending, 1);
}
