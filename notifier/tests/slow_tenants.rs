//! A tenant whose servers accept connections and then say nothing (a
//! "tarpit") must not stall anyone else's alerts: every send ends at its
//! deadline, and one team holds at most its share of the delivery slots.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use statushawk_channels::{ChannelKind, ChannelSettings};
use statushawk_notifier::send::Verdict;
use support::{Stack, Stall, Tarpit, eventually, sender_with_timeout};

const WAIT: Duration = Duration::from_secs(30);

/// A team's share of the default 32 delivery slots: a quarter.
const SHARE: usize = 8;

#[tokio::test]
async fn a_team_whose_servers_never_answer_holds_only_its_share_and_other_teams_are_notified() {
    let stack = Stack::new().await;
    let smtp = Tarpit::start(Stall::SmtpGreeting).await;
    let http = Tarpit::start(Stall::Silent).await;
    let a = stack.tenant();
    let mut stalled = Vec::new();
    // More channels than the notifier has delivery slots (32).
    for i in 0..36 {
        let channel = if i % 4 == 3 {
            stack
                .channel_of(
                    a,
                    ChannelKind::Webhook,
                    json!({"url": format!("http://127.0.0.1:{}/hook/{i}", http.port),
                           "signing_secret": "whsec-0123456789abcdef"}),
                )
                .await
        } else {
            stack
                .channel_of(
                    a,
                    ChannelKind::Email,
                    json!({"to": [format!("oncall{i}@a.example")], "from": "alerts@a.example",
                           "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "security": "none"}),
                )
                .await
        };
        stalled.push(channel);
    }

    // Team B's webhook notes how many of A's connections were open and
    // unanswered when B's notification arrived.
    let b = stack.other_tenant("b-team").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_url = format!("http://{}/b", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<usize>>> = Arc::default();
    let (note, tarpits) = (seen.clone(), (smtp.clone(), http.clone()));
    let app = axum::Router::new().fallback(move || {
        let (note, tarpits) = (note.clone(), tarpits.clone());
        async move {
            note.lock().unwrap().push(tarpits.0.open() + tarpits.1.open());
            StatusCode::OK
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let b_channel = stack
        .channel_of(b, ChannelKind::Webhook, json!({"url": b_url, "signing_secret": "whsec-bbbbbbbbbbbbbbbb"}))
        .await;

    let timeout = Duration::from_secs(6);
    let notifier = stack.notifier_with(Stack::settings(), sender_with_timeout(timeout));
    stack.publish(&stack.incident_of(a, Duration::from_secs(30)).await).await;
    eventually(WAIT, "A's sends stuck in the tarpits", || async {
        (smtp.accepted() + http.accepted() >= SHARE).then_some(())
    })
    .await;
    stack.publish(&stack.incident_of(b, Duration::from_secs(30)).await).await;

    eventually(WAIT, "B's webhook", || async {
        (stack.deliveries(b_channel).await.first()?.0 == "delivered").then_some(())
    })
    .await;
    let at_arrival = seen.lock().unwrap().clone();
    assert_eq!(at_arrival, [SHARE], "when B was notified, A held exactly its share of the slots, all stuck");

    // A's stuck sends end at the deadline, as retries with a clear error.
    let errors = eventually(WAIT, "A's first sends to end", || async {
        let errors: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT a.error FROM notification_attempts a JOIN notification_deliveries d ON d.id = a.delivery_id \
             WHERE d.channel_id = ANY ($1)",
        )
        .bind(stalled.iter().map(|c| c.0).collect::<Vec<_>>())
        .fetch_all(&stack.pg)
        .await
        .unwrap();
        (errors.len() >= SHARE).then_some(errors)
    })
    .await;
    for error in &errors {
        assert_eq!(error.as_deref(), Some("no answer within 6 s"), "{errors:?}");
    }
    let retried: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notification_deliveries WHERE channel_id = ANY ($1) AND attempts >= 1 \
         AND status IN ('pending', 'sending') AND last_error = 'no answer within 6 s'",
    )
    .bind(stalled.iter().map(|c| c.0).collect::<Vec<_>>())
    .fetch_one(&stack.pg)
    .await
    .unwrap();
    assert!(retried >= SHARE as i64, "timed-out sends are retried later, not failed: {retried}");
    tokio::time::timeout(WAIT, notifier.stop())
        .await
        .expect("the notifier stops: sends in flight end at their deadline");
}

#[tokio::test]
async fn every_send_and_test_send_ends_at_its_deadline_whatever_the_server_does() {
    let sender = sender_with_timeout(Duration::from_secs(1));
    for (stall, kind) in [
        (Stall::Silent, ChannelKind::Email),
        (Stall::SmtpGreeting, ChannelKind::Email),
        (Stall::Silent, ChannelKind::Webhook),
        (Stall::HttpTrickle, ChannelKind::Webhook),
    ] {
        let tarpit = Tarpit::start(stall).await;
        let settings = match kind {
            ChannelKind::Email => json!({"to": ["oncall@a.example"], "from": "alerts@a.example",
                "smtp_host": "127.0.0.1", "smtp_port": tarpit.port, "security": "none",
                "username": "alerts", "password": "pass"}),
            _ => json!({"url": format!("http://127.0.0.1:{}/hook", tarpit.port),
                "signing_secret": "whsec-0123456789abcdef"}),
        };
        let channel = ChannelSettings::parse(kind, &settings, None).unwrap();
        let attempt = tokio::time::timeout(WAIT, statushawk_notifier::send_test(&sender, &channel))
            .await
            .unwrap_or_else(|_| panic!("{kind} to a {stall:?} server: the send never ended"));
        assert_eq!(attempt.verdict, Verdict::Retry, "{kind} to a {stall:?} server: {attempt:?}");
        assert_eq!(attempt.error.as_deref(), Some("no answer within 1 s"), "{kind} to a {stall:?} server: {attempt:?}");
        // The client may give up before the tarpit's task has taken the
        // connection from the backlog (a busy machine): poll, do not assume.
        eventually(WAIT, "the tarpit was reached", || async { (tarpit.accepted() >= 1).then_some(()) }).await;
        eventually(WAIT, "the stalled connection closed", || async { (tarpit.open() == 0).then_some(()) }).await;
    }
}
