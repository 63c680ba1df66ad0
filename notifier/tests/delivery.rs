//! The notifier on real NATS and Postgres, delivering to real local
//! servers: an SMTP server (aiosmtpd) and HTTP receivers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use statushawk_channels::{ChannelKind, ChannelSettings};
use statushawk_notifier::send::Verdict;
use statushawk_schemas::{IncidentEvent, IncidentEventKind, WebhookEventType, WebhookPayload};
use statushawk_testkit::SmtpSink;
use support::{Receiver, Stack, eventually, sender};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn the_incident_email_reaches_a_real_smtp_server() {
    let stack = Stack::new().await;
    let smtp = SmtpSink::start(Some(("alerts", "s3cret-pass"))).await.unwrap();
    let channel = stack
        .channel(
            ChannelKind::Email,
            json!({
                "to": ["oncall@shop.example"], "from": "StatusHawk <alerts@shop.example>",
                "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "security": "none",
                "username": "alerts", "password": "s3cret-pass",
            }),
        )
        .await;
    let notifier = stack.notifier(Stack::settings());
    stack.publish(&stack.incident(Duration::from_secs(90)).await).await;

    let message = eventually(WAIT, "the e-mail", || async { smtp.messages().into_iter().next() }).await;
    assert!(message.contains("X-Sink-Rcpt-To: oncall@shop.example"), "{message}");
    assert!(message.contains("Subject: [StatusHawk] DOWN: Checkout API"), "{message}");
    assert!(message.contains("Content-Type: text/plain"), "{message}");
    assert!(message.contains("Content-Type: text/html"), "{message}");
    assert!(message.contains("HTTP 503 from eu-west"), "{message}");
    let rows = eventually(WAIT, "the delivery recorded", || async {
        let rows = stack.deliveries(channel).await;
        (rows.first().map(|r| r.0.as_str()) == Some("delivered")).then_some(rows)
    })
    .await;
    assert_eq!(rows.len(), 1);
    let reply: Option<String> =
        sqlx::query_scalar("SELECT smtp_reply FROM notification_attempts").fetch_one(&stack.pg).await.unwrap();
    assert!(reply.unwrap_or_default().starts_with("250"), "the server's reply is logged");
    notifier.stop().await;
}

#[tokio::test]
async fn a_wrong_smtp_password_fails_with_the_servers_reply() {
    let smtp = SmtpSink::start(Some(("alerts", "right"))).await.unwrap();
    let settings = ChannelSettings::parse(
        ChannelKind::Email,
        &json!({"to": ["a@b.example"], "from": "c@d.example", "smtp_host": "127.0.0.1",
                "smtp_port": smtp.port, "security": "none", "username": "alerts"}),
        Some(&json!({"password": "wrong"})),
    )
    .unwrap();
    let attempt = statushawk_notifier::send_test(&sender(), &settings).await;
    assert_eq!(attempt.verdict, Verdict::Failed, "{attempt:?}");
    assert!(attempt.error.unwrap_or_default().contains("535"), "authentication failure is permanent");
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn webhooks_are_signed_over_timestamp_and_body() {
    let stack = Stack::new().await;
    let receiver = Receiver::start().await;
    let secret = "whsec-0123456789abcdef";
    stack
        .channel(
            ChannelKind::Webhook,
            json!({"url": format!("{}/hook", receiver.base), "signing_secret": secret,
                   "headers": {"Authorization": "Bearer receiver-token"}}),
        )
        .await;
    let notifier = stack.notifier(Stack::settings());
    let event = stack.incident(Duration::from_secs(30)).await;
    stack.publish(&event).await;

    let request = eventually(WAIT, "the webhook", || async { receiver.received("/hook").into_iter().next() }).await;
    let header = |name: &str| request.headers.get(name).unwrap().to_str().unwrap().to_owned();
    let timestamp = header("x-statushawk-timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(header("x-statushawk-signature"), expected, "signature over `<timestamp>.<body>`");
    let age = statushawk_schemas::now_ms() / 1000 - timestamp.parse::<i64>().unwrap();
    assert!((0..300).contains(&age), "the timestamp is the send time");
    assert_eq!(header("x-statushawk-event"), "incident.opened");
    assert_eq!(header("x-statushawk-event-id"), event.msg_id());
    assert_eq!(header("authorization"), "Bearer receiver-token");
    assert_eq!(header("content-type"), "application/json");
    let payload: WebhookPayload = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(payload.event_type, WebhookEventType::IncidentOpened);
    assert_eq!(payload.event_id, event.msg_id());
    assert_eq!(payload.incident, event);
    notifier.stop().await;
}

#[tokio::test]
async fn rate_limited_deliveries_wait_as_told_and_are_sent_once() {
    let stack = Stack::new().await;
    let receiver = Receiver::start().await;
    receiver.script("/slack", &[(429, Some("1"), "rate_limited"), (429, Some("1"), "rate_limited")]);
    let channel = stack.channel(ChannelKind::Slack, json!({"webhook_url": format!("{}/slack", receiver.base)})).await;
    let notifier = stack.notifier(Stack::settings());
    stack.publish(&stack.incident(Duration::from_secs(30)).await).await;

    eventually(WAIT, "delivery after two 429s", || async {
        (stack.deliveries(channel).await.first()?.0 == "delivered").then_some(())
    })
    .await;
    let attempts = stack.attempts(channel).await;
    let statuses: Vec<_> = attempts.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [Some(429), Some(429), Some(200)]);
    let waits: Vec<_> = attempts.iter().map(|a| a.1).collect();
    assert_eq!(waits, [Some(1000), Some(1000), None], "Retry-After is honoured and logged");
    assert!(attempts[1].2 >= 1000 && attempts[2].2 - attempts[1].2 >= 1000, "tries were {attempts:?}");
    assert_eq!(receiver.received("/slack").len(), 3);
    assert_eq!(stack.deliveries(channel).await[0].1, 3);
    notifier.stop().await;
}

#[tokio::test]
async fn a_400_fails_at_once_and_other_channels_still_deliver() {
    let stack = Stack::new().await;
    let receiver = Receiver::start().await;
    receiver.script("/broken", &[(400, None, "{\"message\": \"Invalid Webhook Token\"}")]);
    let broken = stack.channel(ChannelKind::Discord, json!({"webhook_url": format!("{}/broken", receiver.base)})).await;
    let working = stack.channel(ChannelKind::Teams, json!({"webhook_url": format!("{}/teams", receiver.base)})).await;
    let notifier = stack.notifier(Stack::settings());
    stack.publish(&stack.incident(Duration::from_secs(30)).await).await;

    eventually(WAIT, "both settled", || async {
        let broken = stack.deliveries(broken).await.first()?.0.clone();
        let working = stack.deliveries(working).await.first()?.0.clone();
        (broken == "failed" && working == "delivered").then_some(())
    })
    .await;
    let (_, attempts, error, _) = stack.deliveries(broken).await.remove(0);
    assert_eq!(attempts, 1, "a 400 is not retried");
    let error = error.unwrap();
    assert!(error.contains("400") && error.contains("Invalid Webhook Token"), "provider's message kept: {error}");
    assert_eq!(receiver.received("/broken").len(), 1);
    assert_eq!(receiver.received("/teams").len(), 1);
    notifier.stop().await;
}

#[tokio::test]
async fn an_event_delivered_twice_notifies_each_channel_once() {
    let stack = Stack::new().await;
    let receiver = Receiver::start().await;
    let a = stack.channel(ChannelKind::Slack, json!({"webhook_url": format!("{}/a", receiver.base)})).await;
    let b = stack.channel(ChannelKind::Teams, json!({"webhook_url": format!("{}/b", receiver.base)})).await;
    let notifier = stack.notifier(Stack::settings());
    let event = stack.incident(Duration::from_secs(30)).await;
    // Twice on the stream, as a redelivery or a second evaluator would: no
    // message id, so JetStream keeps both.
    let subject = stack.topology.subject(&statushawk_schemas::subject::events_incident(event.kind, event.monitor_id));
    for _ in 0..2 {
        stack.js.publish(subject.clone(), serde_json::to_vec(&event).unwrap().into()).await.unwrap().await.unwrap();
    }
    eventually(WAIT, "both delivered", || async {
        let a = stack.deliveries(a).await.first()?.0.clone();
        let b = stack.deliveries(b).await.first()?.0.clone();
        (a == "delivered" && b == "delivered").then_some(())
    })
    .await;
    // Let the second copy go through the consumer too.
    let consumer_done = || async {
        let mut stream = stack.js.get_stream(stack.topology.stream(statushawk_nats::EVENTS)).await.unwrap();
        let _ = stream.info().await.unwrap();
        let mut consumer: statushawk_nats::async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer(statushawk_nats::NOTIFIER_CONSUMER).await.unwrap();
        let info = consumer.info().await.unwrap();
        (info.num_pending == 0 && info.num_ack_pending == 0).then_some(())
    };
    eventually(WAIT, "both copies consumed", consumer_done).await;
    assert_eq!(receiver.received("/a").len(), 1);
    assert_eq!(receiver.received("/b").len(), 1);
    assert_eq!(stack.deliveries(a).await.len(), 1);
    notifier.stop().await;
}

/// An event Postgres refuses for good (a NUL in its monitor's name, which
/// `jsonb` cannot hold: SQLSTATE 22P05) is set aside on
/// `deadletter.notifier` with its error, and the events after it are
/// delivered as usual instead of waiting behind it for ever.
#[tokio::test]
async fn a_poison_event_is_set_aside_and_the_next_one_is_delivered() {
    let stack = Stack::new().await;
    let receiver = Receiver::start().await;
    let channel = stack.channel(ChannelKind::Slack, json!({"webhook_url": format!("{}/slack", receiver.base)})).await;
    let good = stack.incident(Duration::from_secs(30)).await;
    // An update of the same incident, published first.
    let poison = IncidentEvent {
        kind: IncidentEventKind::Updated,
        seq: good.seq + 1,
        monitor_name: "bad\0name".to_owned(),
        ..good.clone()
    };
    stack.publish(&poison).await;
    stack.publish(&good).await;
    let notifier = stack.notifier(Stack::settings());
    eventually(WAIT, "the good event delivered", || async {
        (stack.deliveries(channel).await.iter().any(|d| d.0 == "delivered")).then_some(())
    })
    .await;
    let stream = stack.js.get_stream(stack.topology.stream(statushawk_nats::DEAD_LETTERS)).await.unwrap();
    let letter = eventually(WAIT, "the poison set aside", || async {
        let message = stream.get_raw_message(1).await.ok()?;
        Some(serde_json::from_slice::<serde_json::Value>(&message.payload).unwrap())
    })
    .await;
    assert_eq!(letter["service"], "notifier");
    assert_eq!(letter["reason"], "sqlstate_22P05", "{letter}");
    assert_eq!(letter["payload"]["incident_id"], poison.incident_id.to_string());
    assert_eq!(stack.deliveries(channel).await.len(), 1, "only the good event claimed a delivery");
    assert_eq!(receiver.received("/slack").len(), 1);
    notifier.stop().await;
}

#[tokio::test]
async fn a_maintenance_window_suppresses_and_records_it() {
    let stack = Stack::new().await;
    let receiver = Receiver::start().await;
    let channel = stack.channel(ChannelKind::Slack, json!({"webhook_url": format!("{}/slack", receiver.base)})).await;
    sqlx::query(
        "INSERT INTO maintenance_windows (team_id, monitor_id, title, kind, starts_at, ends_at) \
         VALUES ($1, $2, 'Database upgrade', 'one_off', now() - interval '1 hour', now() + interval '1 hour')",
    )
    .bind(stack.team.0)
    .bind(stack.monitor.0)
    .execute(&stack.pg)
    .await
    .unwrap();
    let notifier = stack.notifier(Stack::settings());
    let opened = stack.incident(Duration::from_secs(30)).await;
    stack.publish(&opened).await;
    let resolved = statushawk_schemas::IncidentEvent {
        kind: IncidentEventKind::Resolved,
        seq: 2,
        resolved_at_ms: Some(opened.at_ms + 1000),
        ..opened.clone()
    };
    stack.publish(&resolved).await;

    let rows = eventually(WAIT, "both suppressed", || async {
        let rows = stack.deliveries(channel).await;
        (rows.len() == 2).then_some(rows)
    })
    .await;
    for (status, attempts, _, reason) in &rows {
        assert_eq!(status, "suppressed");
        assert_eq!(*attempts, 0);
        assert!(reason.as_deref().unwrap_or_default().contains("Database upgrade"), "{reason:?}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.received("/slack").is_empty(), "nothing sent during maintenance");
    notifier.stop().await;
}

#[tokio::test]
async fn weekly_windows_are_read_in_their_time_zone() {
    let stack = Stack::new().await;
    let window = |offset: &'static str| {
        let stack = &stack;
        async move {
            sqlx::query("DELETE FROM maintenance_windows").execute(&stack.pg).await.unwrap();
            sqlx::query(
                "INSERT INTO maintenance_windows (team_id, title, kind, weekdays, start_time, duration, timezone) \
                 VALUES ($1, 'Weekly', 'weekly', '{1,2,3,4,5,6,7}', \
                         ((now() AT TIME ZONE 'America/New_York') + $2::text::interval)::time, \
                         interval '2 hours', 'America/New_York')",
            )
            .bind(stack.team.0)
            .bind(offset)
            .execute(&stack.pg)
            .await
            .unwrap();
            let now = statushawk_schemas::now_ms();
            statushawk_notifier::store::maintenance(&stack.pg, stack.team, stack.monitor, now).await.unwrap()
        }
    };
    assert_eq!(window("-1 hour").await.as_deref(), Some("Weekly"), "started an hour ago (maybe yesterday)");
    assert_eq!(window("1 hour").await, None, "starts in an hour");
    assert_eq!(window("-3 hours").await, None, "ended an hour ago");
}

#[tokio::test]
async fn reminders_repeat_while_the_incident_is_open() {
    let stack = Stack::new().await;
    let receiver = Receiver::start().await;
    let channel = stack.channel(ChannelKind::Slack, json!({"webhook_url": format!("{}/slack", receiver.base)})).await;
    sqlx::query("UPDATE channels SET remind_every_minutes = 10").execute(&stack.pg).await.unwrap();
    let opened = stack.incident(Duration::from_secs(25 * 60)).await;

    assert_eq!(statushawk_notifier::plan_reminders(&stack.pg).await.unwrap(), 1);
    assert_eq!(statushawk_notifier::plan_reminders(&stack.pg).await.unwrap(), 0, "one reminder per period");
    let event_id: String =
        sqlx::query_scalar("SELECT event_id FROM notification_deliveries").fetch_one(&stack.pg).await.unwrap();
    assert_eq!(event_id, format!("reminder:{}:2", opened.incident_id), "25 min at 10 min: the 2nd period");

    let notifier = stack.notifier(Stack::settings());
    let request = eventually(WAIT, "the reminder", || async { receiver.received("/slack").into_iter().next() }).await;
    let text = request.json()["text"].as_str().unwrap().to_owned();
    assert!(text.starts_with("STILL DOWN: Checkout API"), "{text}");
    assert!(text.contains("still down after 25 min"), "{text}");
    notifier.stop().await;

    sqlx::query("UPDATE incidents SET resolved_at = now()").execute(&stack.pg).await.unwrap();
    sqlx::query("UPDATE incidents SET started_at = started_at - interval '1 hour'").execute(&stack.pg).await.unwrap();
    assert_eq!(statushawk_notifier::plan_reminders(&stack.pg).await.unwrap(), 0, "no reminder once resolved");
    assert_eq!(stack.deliveries(channel).await.len(), 1);
}

#[tokio::test]
async fn a_delivery_left_sending_by_a_crashed_notifier_is_resumed() {
    let stack = Stack::new().await;
    let receiver = Receiver::start().await;
    let channel = stack.channel(ChannelKind::Slack, json!({"webhook_url": format!("{}/slack", receiver.base)})).await;
    let opened = stack.incident(Duration::from_secs(30)).await;
    let notification =
        statushawk_channels::notification::Notification { event_id: opened.msg_id(), event: opened, reminder: false };
    sqlx::query(
        "INSERT INTO notification_deliveries (event_id, channel_id, team_id, status, payload) \
         SELECT $1, id, team_id, 'sending', $3 FROM channels WHERE id = $2",
    )
    .bind(&notification.event_id)
    .bind(channel.0)
    .bind(serde_json::to_value(&notification).unwrap())
    .execute(&stack.pg)
    .await
    .unwrap();
    let notifier = stack.notifier(Stack::settings());
    eventually(WAIT, "the resumed delivery", || async {
        (stack.deliveries(channel).await.first()?.0 == "delivered").then_some(())
    })
    .await;
    assert_eq!(receiver.received("/slack").len(), 1);
    notifier.stop().await;
}

#[tokio::test]
async fn test_sends_report_success_and_the_providers_refusal() {
    let receiver = Receiver::start().await;
    receiver.script("/refuses", &[(403, None, "invalid_token")]);
    let ok = ChannelSettings::parse(
        ChannelKind::Slack,
        &json!({}),
        Some(&json!({"webhook_url": format!("{}/works", receiver.base)})),
    )
    .unwrap();
    let attempt = statushawk_notifier::send_test(&sender(), &ok).await;
    assert_eq!((attempt.verdict, attempt.http_status), (Verdict::Delivered, Some(200)));
    let text = receiver.received("/works")[0].json()["text"].as_str().unwrap().to_owned();
    assert!(text.contains("StatusHawk test notification"), "{text}");

    let refused = ChannelSettings::parse(
        ChannelKind::Slack,
        &json!({}),
        Some(&json!({"webhook_url": format!("{}/refuses", receiver.base)})),
    )
    .unwrap();
    let attempt = statushawk_notifier::send_test(&sender(), &refused).await;
    assert_eq!((attempt.verdict, attempt.http_status), (Verdict::Failed, Some(403)));
    assert!(attempt.error.unwrap().contains("invalid_token"));
}

#[tokio::test]
async fn outgoing_requests_pass_the_ssrf_guard() {
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/hook",
        "http://0x0a000001/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://192.168.1.1:8080/hook",
    ] {
        let settings =
            ChannelSettings::parse(ChannelKind::Slack, &json!({}), Some(&json!({"webhook_url": url}))).unwrap();
        let attempt = statushawk_notifier::send_test(&sender(), &settings).await;
        assert_eq!(attempt.verdict, Verdict::Failed, "{url}: {attempt:?}");
        assert_eq!(attempt.http_status, None, "{url}: no request was made");
        assert!(attempt.error.unwrap_or_default().contains("not allowed"), "{url}");
    }
}
