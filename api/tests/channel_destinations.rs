//! A channel's stored secrets go only where they went before: a `PUT` that
//! moves a channel's destination (Telegram's `api_url`, PagerDuty's
//! `events_url`, a webhook's `url`, an e-mail channel's server or user)
//! without sending the secrets again is refused, naming the secret, and a
//! test send never carries an old secret to a new place.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::{App, Got};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

async fn receiver() -> (String, Got) {
    support::receiver(support::always_ok).await
}

/// Everything a receiver got, as one text (paths, headers, bodies).
fn transcript(got: &Got) -> String {
    got.lock().unwrap().iter().map(|(path, headers, body)| format!("{path}\n{headers:?}\n{body}\n")).collect()
}

/// A local SMTP server that offers AUTH, takes any credentials and
/// message, and records the whole conversation with AUTH decoded.
async fn smtp_recorder() -> (u16, Arc<Mutex<String>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log: Arc<Mutex<String>> = Arc::default();
    let record = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else { return };
            let record = record.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 recorder ESMTP\r\n").await.unwrap();
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut note = line.clone();
                    if let Some(encoded) = line.strip_prefix("AUTH PLAIN ") {
                        note = format!("AUTH PLAIN {}", String::from_utf8_lossy(&base64_decode(encoded)));
                    }
                    record.lock().unwrap().push_str(&format!("{note}\n"));
                    let answer: &[u8] = if in_data {
                        if line != "." {
                            continue;
                        }
                        in_data = false;
                        b"250 queued\r\n"
                    } else if line.starts_with("EHLO") {
                        b"250-recorder\r\n250 AUTH PLAIN\r\n"
                    } else if line.starts_with("AUTH") {
                        b"235 ok\r\n"
                    } else if line.starts_with("DATA") {
                        in_data = true;
                        b"354 go on\r\n"
                    } else if line.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    if write.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, log)
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.trim().bytes().filter(|c| *c != b'=') {
        bits = (bits << 6) | ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

async fn create(app: &App, owner: &str, kind: &str, settings: Value) -> String {
    let (status, channel) = app
        .call("POST", "/api/v1/channels", Some(owner), Some(json!({"name": "Ops", "kind": kind, "settings": settings})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    channel["id"].as_str().unwrap().to_owned()
}

async fn put(app: &App, owner: &str, id: &str, kind: &str, settings: Value) -> (StatusCode, Value) {
    app.call(
        "PUT",
        &format!("/api/v1/channels/{id}"),
        Some(owner),
        Some(json!({"name": "Ops", "kind": kind, "settings": settings})),
    )
    .await
}

async fn test_send(app: &App, owner: &str, id: &str) -> Value {
    let (status, result) =
        app.call("POST", "/api/v1/integrations/test", Some(owner), Some(json!({"channel_id": id}))).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    result
}

/// A 422 naming `field`, saying the destination changed.
fn refused(answer: (StatusCode, Value), field: &str) {
    let (status, body) = answer;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], field, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("destination changed"), "{body}");
}

#[tokio::test]
async fn moving_a_telegram_channel_elsewhere_needs_the_bot_token_again() {
    let app = App::new().await.with_notifier().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let (telegram, at_telegram) = receiver().await;
    let (attacker, at_attacker) = receiver().await;
    let old_token = "123456:OLD-bot-token";
    let id =
        create(&app, &owner, "telegram", json!({"bot_token": old_token, "chat_id": "42", "api_url": telegram})).await;

    refused(
        put(&app, &owner, &id, "telegram", json!({"chat_id": "42", "api_url": attacker})).await,
        "settings.bot_token",
    );
    assert_eq!(test_send(&app, &owner, &id).await["delivered"], true);
    assert!(transcript(&at_attacker).is_empty(), "nothing went to the new place");
    assert!(transcript(&at_telegram).contains(old_token), "the channel still works where it was");

    // Keeping the destination keeps the token (the trailing slash is the same place).
    let (status, body) =
        put(&app, &owner, &id, "telegram", json!({"chat_id": "43", "api_url": format!("{telegram}/")})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(test_send(&app, &owner, &id).await["delivered"], true);
    assert_eq!(at_telegram.lock().unwrap().len(), 2);
    assert_eq!(at_telegram.lock().unwrap()[1].0, format!("/bot{old_token}/sendMessage"));

    // Moving it with a token of its own works, and only that token goes.
    let (status, body) = put(
        &app,
        &owner,
        &id,
        "telegram",
        json!({"chat_id": "43", "api_url": attacker, "bot_token": "654321:NEW-bot-token"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(test_send(&app, &owner, &id).await["delivered"], true);
    let seen = transcript(&at_attacker);
    assert!(seen.contains("654321:NEW-bot-token") && !seen.contains(old_token), "{seen}");
}

#[tokio::test]
async fn moving_a_pagerduty_channel_elsewhere_needs_the_routing_key_again() {
    let app = App::new().await.with_notifier().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let (pagerduty, at_pagerduty) = receiver().await;
    let (attacker, at_attacker) = receiver().await;
    let old_key = "OLDKEY0123456789abcdef0123456789";
    let events = format!("{pagerduty}/v2/enqueue");
    let id = create(&app, &owner, "pagerduty", json!({"routing_key": old_key, "events_url": events})).await;

    let moved = json!({"events_url": format!("{attacker}/v2/enqueue")});
    refused(put(&app, &owner, &id, "pagerduty", moved).await, "settings.routing_key");
    assert_eq!(test_send(&app, &owner, &id).await["delivered"], true);
    assert!(transcript(&at_attacker).is_empty(), "nothing went to the new place");

    // Another severity, same place: the key stays.
    let (status, body) =
        put(&app, &owner, &id, "pagerduty", json!({"events_url": events, "severity": "warning"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(test_send(&app, &owner, &id).await["delivered"], true);
    let seen = transcript(&at_pagerduty);
    assert_eq!(seen.matches(old_key).count(), 2, "{seen}");

    // Back to PagerDuty's default address is a move too.
    refused(put(&app, &owner, &id, "pagerduty", json!({})).await, "settings.routing_key");
    assert!(transcript(&at_attacker).is_empty());
}

#[tokio::test]
async fn moving_a_webhook_elsewhere_needs_its_signing_secret_and_headers_again() {
    let app = App::new().await.with_notifier().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let (ours, at_ours) = receiver().await;
    let (attacker, at_attacker) = receiver().await;
    let old_secret = "whsec-OLD-0123456789abcdef";
    let id = create(
        &app,
        &owner,
        "webhook",
        json!({"url": format!("{ours}/hook"), "signing_secret": old_secret,
               "headers": {"Authorization": "Bearer OLD-receiver-token"}}),
    )
    .await;

    let url = format!("{attacker}/hook");
    refused(put(&app, &owner, &id, "webhook", json!({"url": url})).await, "settings.signing_secret");
    refused(
        put(&app, &owner, &id, "webhook", json!({"url": url, "signing_secret": "whsec-NEW-0123456789abcdef"})).await,
        "settings.headers",
    );
    assert_eq!(test_send(&app, &owner, &id).await["delivered"], true);
    assert!(transcript(&at_attacker).is_empty(), "nothing went to the new place");

    // Leaving the URL out (or sending the same one) keeps everything.
    let (status, body) = put(&app, &owner, &id, "webhook", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = put(&app, &owner, &id, "webhook", json!({"url": format!("{ours}/hook")})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(test_send(&app, &owner, &id).await["delivered"], true);
    let last = at_ours.lock().unwrap().last().unwrap().1.clone();
    assert_eq!(last.get("authorization").unwrap(), "Bearer OLD-receiver-token");

    // Moved with a new secret and the headers cleared on purpose.
    let (status, body) = put(
        &app,
        &owner,
        &id,
        "webhook",
        json!({"url": url, "signing_secret": "whsec-NEW-0123456789abcdef", "headers": {}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(test_send(&app, &owner, &id).await["delivered"], true);
    let seen = transcript(&at_attacker);
    assert!(!seen.contains("OLD-receiver-token"), "{seen}");
    let (_, headers, body) = at_attacker.lock().unwrap()[0].clone();
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    let (timestamp, signature) = (header("x-statushawk-timestamp"), header("x-statushawk-signature"));
    let check = |key: &str| {
        statushawk_channels::webhook::verify(
            &key.to_owned().into(),
            &timestamp,
            &signature,
            body.as_bytes(),
            statushawk_schemas::now_ms() / 1000,
            300,
        )
    };
    assert!(check("whsec-NEW-0123456789abcdef").is_ok(), "signed with the new secret");
    assert!(check(old_secret).is_err(), "not with the old one");
}

#[tokio::test]
async fn moving_an_email_channel_to_another_server_or_user_needs_the_password_again() {
    let app = App::new().await.with_notifier().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let sink = statushawk_testkit::SmtpSink::start(Some(("alerts", "OLD-smtp-password"))).await.unwrap();
    let (attacker, at_attacker) = smtp_recorder().await;
    let settings = |port: u16, user: &str| {
        json!({"to": ["oncall@shop.example"], "from": "alerts@shop.example", "smtp_host": "127.0.0.1",
               "smtp_port": port, "security": "none", "username": user})
    };
    let mut first = settings(sink.port, "alerts");
    first["password"] = json!("OLD-smtp-password");
    let id = create(&app, &owner, "email", first).await;

    refused(put(&app, &owner, &id, "email", settings(attacker, "alerts")).await, "settings.password");
    refused(put(&app, &owner, &id, "email", settings(sink.port, "someone-else")).await, "settings.password");
    let mut moved_host = settings(sink.port, "alerts");
    moved_host["smtp_host"] = json!("localhost");
    refused(put(&app, &owner, &id, "email", moved_host).await, "settings.password");
    let mut moved_security = settings(sink.port, "alerts");
    moved_security["security"] = json!("starttls");
    refused(put(&app, &owner, &id, "email", moved_security).await, "settings.password");

    // Other recipients, same server and user: the password stays.
    let mut recipients = settings(sink.port, "alerts");
    recipients["to"] = json!(["dev@shop.example"]);
    let (status, body) = put(&app, &owner, &id, "email", recipients).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result = test_send(&app, &owner, &id).await;
    assert_eq!(result["delivered"], true, "the stored password still logs in: {result}");
    assert!(at_attacker.lock().unwrap().is_empty(), "nothing went to the new server");

    // Moved with a password of its own: only that one goes.
    let mut moved = settings(attacker, "alerts");
    moved["password"] = json!("NEW-smtp-password");
    let (status, body) = put(&app, &owner, &id, "email", moved).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(test_send(&app, &owner, &id).await["delivered"], true);
    let seen = at_attacker.lock().unwrap().clone();
    assert!(seen.contains("NEW-smtp-password") && !seen.contains("OLD-smtp-password"), "{seen}");
}
