//! A confirmation re-check carries the monitor's credentials, opened from
//! their sealed form with the deployment's key: the evaluator is one of the
//! two places (with the scheduler) that build due checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use futures::StreamExt;
use statushawk_common::secrets::SecretBox;
use statushawk_nats::async_nats::jetstream::consumer::PullConsumer;
use statushawk_nats::{CHECKS_DUE, Publisher, prober_urgent_consumer};
use statushawk_schemas::{
    CheckSpec, CheckStatus, DueCheck, Header, HttpSpec, MonitorId, MonitorSpec, SCHEMA_VERSION, now_ms, subject,
};
use support::*;

#[tokio::test]
async fn a_recheck_carries_the_monitors_sealed_credentials() {
    let stack = Stack::new(&["local"], 1).await;
    let key = SecretBox::new(&[9u8; 32]).unwrap(); // the key the stack's evaluators hold
    let id = MonitorId::new();
    let mut http = HttpSpec::get("https://billing.example/health");
    http.headers = vec![Header::new("Authorization", "Bearer sk_live_42")];
    let mut spec = MonitorSpec::Http(http);
    let sealed = key.seal_spec_secrets(id, &spec.take_secrets()).unwrap();
    let mut settings = serde_json::to_value(&spec).unwrap();
    settings.as_object_mut().unwrap().remove("kind");
    sqlx::query(
        "INSERT INTO monitors (id, team_id, name, kind, spec, interval_ms, timeout_ms, regions, \
                               secret_ciphertext, secret_nonce) \
         VALUES ($1, $2, 'billing', 'http', $3, 10000, 2000, '{local}', $4, $5)",
    )
    .bind(id.0)
    .bind(stack.team.0)
    .bind(settings)
    .bind(&sealed.ciphertext)
    .bind(&sealed.nonce)
    .execute(&stack.pg)
    .await
    .unwrap();
    let evaluator = stack.evaluator("only");

    // The scheduled check failed: the evaluator asks for a re-check at once.
    let due = DueCheck {
        schema_version: SCHEMA_VERSION,
        monitor_id: id,
        team_id: stack.team,
        region: region("local"),
        slot_ms: slot(1),
        attempt: 0,
        deadline_ms: now_ms() + 60_000,
        timeout_ms: 2_000,
        spec: CheckSpec::Http(HttpSpec::get("https://billing.example/health")),
    };
    let result = result_for(&due, CheckStatus::Down);
    Publisher::new(stack.js.clone(), stack.topology.clone())
        .publish(&subject::check_result(id, &due.region, stack.topology.partitions), &result.msg_id(), &result)
        .await
        .unwrap();

    let stream = stack.js.get_stream(stack.topology.stream(CHECKS_DUE)).await.unwrap();
    let urgent: PullConsumer = stream.get_consumer(&prober_urgent_consumer(&region("local"))).await.unwrap();
    let mut recheck = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while recheck.is_none() && tokio::time::Instant::now() < deadline {
        let mut batch = urgent.fetch().max_messages(10).expires(Duration::from_millis(500)).messages().await.unwrap();
        while let Some(message) = batch.next().await {
            let message = message.unwrap();
            recheck = Some(serde_json::from_slice::<DueCheck>(&message.payload).unwrap());
            message.ack().await.unwrap();
        }
    }
    let recheck = recheck.expect("a re-check within 20 s");
    assert_eq!(recheck.attempt, 1);
    let CheckSpec::Http(http) = recheck.spec else { panic!("http") };
    assert_eq!(http.headers[0].value(), "Bearer sk_live_42");
    evaluator.stop().await;
}
