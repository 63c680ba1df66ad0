//! Typed deliveries against a real NATS server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

use std::time::Duration;

use async_nats::jetstream::{self, consumer::PullConsumer};
use futures::StreamExt;
use statushawk_nats::{CHECK_RESULTS, Delivery, Publisher, Topology, evaluator_consumer};
use statushawk_schemas::{
    CheckResult, CheckStatus, MonitorId, Region, SCHEMA_VERSION, TeamId, Timings, partition_of, subject,
};
use statushawk_testkit::TestEnv;

fn result(monitor_id: MonitorId, slot_ms: i64) -> CheckResult {
    CheckResult {
        schema_version: SCHEMA_VERSION,
        monitor_id,
        team_id: TeamId::new(),
        region: Region::new("local").unwrap(),
        slot_ms,
        attempt: 0,
        prober_id: "p1".into(),
        started_at_ms: slot_ms,
        status: CheckStatus::Up,
        error: None,
        message: None,
        timings: Timings { total_ms: 12, ..Timings::default() },
        ip: None,
        http_status: Some(200),
        body_bytes: None,
        cert_expires_at_ms: None,
        cert_issuer: None,
        assertions: vec![],
    }
}

async fn next(consumer: &PullConsumer) -> Option<jetstream::Message> {
    let mut batch = consumer.fetch().max_messages(1).expires(Duration::from_millis(700)).messages().await.unwrap();
    batch.next().await.map(|m| m.unwrap())
}

#[tokio::test]
async fn poison_is_terminated_and_counted_nak_redelivers_ack_settles() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    metrics::set_global_recorder(recorder).unwrap();

    let env = TestEnv::new().await;
    let client = env.nats().await;
    let js = jetstream::new(client.clone());
    let mut topology = Topology::new(&env.nats_prefix).unwrap();
    topology.partitions = 1;
    topology.ensure(&js).await.unwrap();
    let publisher = Publisher::new(js.clone(), topology.clone());
    let consumer: PullConsumer = js
        .get_stream(topology.stream(CHECK_RESULTS))
        .await
        .unwrap()
        .get_consumer(&evaluator_consumer(0))
        .await
        .unwrap();

    let monitor = MonitorId::new();
    assert_eq!(partition_of(monitor, 1), 0);
    let region = Region::new("local").unwrap();
    let subject = subject::check_result(monitor, &region, 1);
    // Garbage first, then a good result.
    js.publish(topology.subject(&subject), "{not json".into()).await.unwrap().await.unwrap();
    let good = result(monitor, 1_000);
    publisher.publish(&subject, &good.msg_id(), &good).await.unwrap();

    // The garbage is terminated and counted, not handed to the caller.
    assert!(Delivery::<CheckResult>::decode(next(&consumer).await.unwrap()).await.is_none());
    let rendered = metrics.render();
    assert!(
        rendered.contains("statushawk_nats_poison_messages_total")
            && rendered.contains(&format!("stream=\"{}\"", topology.stream(CHECK_RESULTS))),
        "{rendered}"
    );

    // A transient failure: nak with a delay, and it comes back.
    let delivery = Delivery::<CheckResult>::decode(next(&consumer).await.unwrap()).await.unwrap();
    assert_eq!(delivery.payload(), &good);
    assert_eq!(delivery.delivered(), 1);
    delivery.nak(Duration::from_millis(200)).await.unwrap();
    let again = Delivery::<CheckResult>::decode(next(&consumer).await.unwrap()).await.unwrap();
    assert_eq!(again.payload(), &good);
    assert_eq!(again.delivered(), 2);
    again.ack().await.unwrap();

    // Nothing comes back after the ack, and the poison was not redelivered.
    assert!(next(&consumer).await.is_none());
    let mut consumer = consumer;
    let info = consumer.info().await.unwrap();
    assert_eq!(info.num_ack_pending, 0);
    assert_eq!(info.num_pending, 0);
}
