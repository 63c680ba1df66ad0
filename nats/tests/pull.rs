//! What the evaluator's fetch relies on, against the real server: a pull
//! with `no_wait` and an expiry (`fetch().expires(..)`) hands over what is
//! there at once, without waiting for the batch to fill, and when nothing
//! is there waits for the first message (or the expiry), not the whole wait.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::PullConsumer};
use futures::StreamExt;
use statushawk_testkit::TestEnv;

async fn drain(consumer: &PullConsumer, wait: Duration) -> (usize, Duration) {
    let asked = Instant::now();
    let mut batch = consumer.fetch().max_messages(1_000).expires(wait).messages().await.unwrap();
    let mut got = 0;
    while let Some(message) = batch.next().await {
        let Ok(message) = message else { break };
        message.ack().await.unwrap();
        got += 1;
    }
    (got, asked.elapsed())
}

#[tokio::test]
async fn a_fetch_with_an_expiry_returns_what_is_there_without_waiting_for_a_full_batch() {
    let env = TestEnv::new().await;
    let js = jetstream::new(env.nats().await);
    let name = format!("{}_PULL", env.nats_prefix);
    let subject = format!("{}.pull", env.nats_prefix);
    let stream = js
        .create_stream(jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    let consumer: PullConsumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some("c".into()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .unwrap();
    let wait = Duration::from_secs(3);

    for i in 0..5 {
        js.publish(subject.clone(), format!("{i}").into()).await.unwrap().await.unwrap();
    }
    let (got, took) = drain(&consumer, wait).await;
    assert_eq!(got, 5);
    assert!(took < wait / 2, "returned with what was there, not after the wait: {took:?}");

    // Nothing there: it waits for the first message, then returns.
    let publisher = {
        let (js, subject) = (js.clone(), subject.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            js.publish(subject, "late".into()).await.unwrap().await.unwrap();
        })
    };
    let (got, took) = drain(&consumer, wait).await;
    publisher.await.unwrap();
    assert_eq!(got, 1);
    assert!(took >= Duration::from_millis(300) && took < wait / 2, "{took:?}");

    // Nothing at all: it ends at the expiry.
    let (got, took) = drain(&consumer, Duration::from_millis(500)).await;
    assert_eq!(got, 0);
    assert!(took >= Duration::from_millis(250), "{took:?}");
    js.delete_stream(&name).await.unwrap();
}
