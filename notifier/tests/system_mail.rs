//! Mail the deployment sends on its own behalf (`system_mail`, written by
//! the API): sent once through the `[email]` server, its one-time body
//! cleared after, retried with back-off when the server does not take it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use statushawk_common::config::{EmailConfig, SmtpSecurity};
use statushawk_notifier::system_mail::SystemMailer;
use statushawk_testkit::SmtpSink;
use support::{Stack, Stall, Tarpit, eventually, sender, sender_with_timeout};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

fn mailer(port: u16) -> SystemMailer {
    let config = EmailConfig {
        smtp_host: "127.0.0.1".into(),
        smtp_port: port,
        security: SmtpSecurity::None,
        from: "StatusHawk <noreply@status.example>".into(),
        ..Default::default()
    };
    SystemMailer::from_config(&config).unwrap().expect("[email] is enabled")
}

async fn insert(stack: &Stack, to: &str, subject: &str, body: &str) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO system_mail (purpose, to_address, subject, body_text) VALUES ('invitation', $1, $2, $3) RETURNING id",
    )
    .bind(to)
    .bind(subject)
    .bind(body)
    .fetch_one(&stack.pg)
    .await
    .unwrap()
}

/// (state, attempts, last_error, body_text, sent) of a row.
async fn row(stack: &Stack, id: Uuid) -> (String, i32, Option<String>, String, bool) {
    sqlx::query_as("SELECT state, attempts, last_error, body_text, sent_at IS NOT NULL FROM system_mail WHERE id = $1")
        .bind(id)
        .fetch_one(&stack.pg)
        .await
        .unwrap()
}

#[tokio::test]
async fn system_mail_is_sent_once_from_the_deployment_and_its_body_is_cleared() {
    let stack = Stack::new().await;
    let sink = SmtpSink::start(None).await.unwrap();
    let body = "Ann invited you to Shop on StatusHawk.\nJoin: https://status.example/invite/one-time-token-123\n";
    let id = insert(&stack, "bob@shop.example", "You are invited to Shop", body).await;
    let notifier = stack.notifier_mailing(Stack::settings(), sender(), mailer(sink.port));

    let state = eventually(WAIT, "the mail sent", || async {
        let row = row(&stack, id).await;
        (row.0 == "sent").then_some(row)
    })
    .await;
    assert_eq!(state, ("sent".into(), 1, None, String::new(), true), "sent, once, and the one-time link is gone");
    notifier.stop().await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    assert!(message.contains("X-Sink-Rcpt-To: bob@shop.example"), "{message}");
    assert!(message.contains("X-Sink-Mail-From: noreply@status.example"), "{message}");
    assert!(message.contains("From: StatusHawk <noreply@status.example>"), "{message}");
    assert!(message.contains("Subject: You are invited to Shop"), "{message}");
    assert!(message.contains("Content-Type: text/plain"), "{message}");
    assert!(message.contains("https://status.example/invite/one-time-token-123"), "{message}");
}

#[tokio::test]
async fn system_mail_the_server_does_not_take_is_retried_with_the_error_then_fails() {
    let stack = Stack::new().await;
    let tarpit = Tarpit::start(Stall::SmtpGreeting).await;
    let id = insert(&stack, "bob@shop.example", "Verify your address", "https://status.example/verify/t").await;
    let settings =
        statushawk_notifier::Settings { max_attempts: 2, backoff: Duration::from_secs(2), ..Stack::settings() };
    let notifier = stack.notifier_mailing(settings, sender_with_timeout(Duration::from_secs(1)), mailer(tarpit.port));

    let first = eventually(WAIT, "the first try recorded", || async {
        let row = row(&stack, id).await;
        (row.1 >= 1).then_some(row)
    })
    .await;
    if first.1 == 1 {
        assert_eq!(first.0, "pending", "a try that got no answer comes again: {first:?}");
        assert_eq!(first.2.as_deref(), Some("no answer within 1 s"));
        assert!(!first.3.is_empty(), "the body is kept for the next try");
        let later: bool = sqlx::query_scalar("SELECT next_attempt_at > now() FROM system_mail WHERE id = $1")
            .bind(id)
            .fetch_one(&stack.pg)
            .await
            .unwrap();
        assert!(later, "after a back-off");
    }
    let last = eventually(WAIT, "the mail given up", || async {
        let row = row(&stack, id).await;
        (row.0 == "failed").then_some(row)
    })
    .await;
    assert_eq!(last, ("failed".into(), 2, Some("no answer within 1 s".into()), String::new(), false));
    assert_eq!(tarpit.accepted(), 2, "one connection per try");
    notifier.stop().await;
}

#[tokio::test]
async fn a_refused_connection_is_retried_with_the_error() {
    let stack = Stack::new().await;
    // A port nobody listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let id = insert(&stack, "bob@shop.example", "Verify your address", "https://status.example/verify/t").await;
    let settings = statushawk_notifier::Settings { backoff: Duration::from_secs(60), ..Stack::settings() };
    let notifier = stack.notifier_mailing(settings, sender(), mailer(port));
    let (state, attempts, error, body, sent) = eventually(WAIT, "the try recorded", || async {
        let row = row(&stack, id).await;
        (row.1 >= 1).then_some(row)
    })
    .await;
    assert_eq!((state.as_str(), attempts, sent), ("pending", 1, false));
    assert!(error.as_deref().unwrap_or_default().to_lowercase().contains("connect"), "{error:?}");
    assert!(!body.is_empty());
    notifier.stop().await;
}

#[tokio::test]
async fn two_notifiers_never_send_one_system_mail_twice() {
    let stack = Stack::new().await;
    let sink = SmtpSink::start(None).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(insert(&stack, &format!("user{i}@shop.example"), &format!("Mail {i:02}"), "body").await);
    }
    let one = stack.notifier_mailing(Stack::settings(), sender(), mailer(sink.port));
    let two = stack.notifier_mailing(Stack::settings(), sender(), mailer(sink.port));
    eventually(WAIT, "every mail sent", || async {
        let sent: i64 = sqlx::query_scalar("SELECT count(*) FROM system_mail WHERE state = 'sent'")
            .fetch_one(&stack.pg)
            .await
            .unwrap();
        (sent == 30).then_some(())
    })
    .await;
    one.stop().await;
    two.stop().await;
    let mut subjects = BTreeMap::new();
    for message in sink.messages() {
        let subject = message.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap().to_owned();
        *subjects.entry(subject).or_insert(0) += 1;
    }
    assert_eq!(subjects.len(), 30, "{subjects:?}");
    assert!(subjects.values().all(|n| *n == 1), "each sent once: {subjects:?}");
    let attempts: Vec<i32> = sqlx::query_scalar("SELECT attempts FROM system_mail").fetch_all(&stack.pg).await.unwrap();
    assert!(attempts.iter().all(|a| *a == 1), "{attempts:?}");
}
