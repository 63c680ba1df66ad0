//! Status page subscribers, end to end on real Postgres, NATS, a real
//! notifier, a real SMTP server and a local webhook receiver: a visitor
//! subscribes by e-mail through the page's form, is sent only the
//! confirmation until it is confirmed, then exactly one message each for an
//! incident opened, a person's update, the resolution and a maintenance
//! window scheduled; a webhook subscriber gets the same four, signed, once
//! each, through a 429 with Retry-After; after unsubscribing, nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use statushawk_common::config::{EmailConfig, SmtpSecurity};
use statushawk_nats::Publisher;
use statushawk_notifier::system_mail::SystemMailer;
use statushawk_schemas::{IncidentEvent, IncidentEventKind, IncidentId, MonitorId, SCHEMA_VERSION, TeamId, subject};
use statushawk_testkit::SmtpSink;
use support::{App, Got};

/// Answers the first request 429 with `Retry-After: 1`, every other 200.
fn slow_at_first(n: usize) -> (u16, &'static [(&'static str, &'static str)], &'static str) {
    if n == 0 { (429, &[("retry-after", "1")], "slow down") } else { (200, &[], "ok") }
}

async fn receiver() -> (String, Got) {
    support::receiver(slow_at_first).await
}

async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The messages to `to`, raw.
fn mail_to(sink: &SmtpSink, to: &str) -> Vec<String> {
    sink.messages().into_iter().filter(|m| m.contains(&format!("To: {to}"))).collect()
}

fn subject_of(message: &str) -> String {
    message.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_default().to_owned()
}

/// The first `https://status.example/status/shop/<what>/<token>` in `text`.
fn link(text: &str, what: &str) -> String {
    let unfolded = text.replace("=\r\n", "").replace("=\n", "");
    let start = unfolded.find(&format!("/status/shop/{what}/")).unwrap_or_else(|| panic!("no {what} link in {text}"));
    unfolded[start..].split(|c: char| c.is_whitespace() || c == '>' || c == '"' || c == '<').next().unwrap().to_owned()
}

fn event(kind: IncidentEventKind, incident: IncidentId, monitor: MonitorId, team: TeamId, seq: u64) -> IncidentEvent {
    IncidentEvent {
        schema_version: SCHEMA_VERSION,
        kind,
        incident_id: incident,
        monitor_id: monitor,
        monitor_name: "checkout-internal".into(),
        team_id: team,
        seq,
        at_ms: statushawk_schemas::now_ms(),
        started_at_ms: statushawk_schemas::now_ms() - 60_000,
        resolved_at_ms: (kind == IncidentEventKind::Resolved).then(statushawk_schemas::now_ms),
        cause: "HTTP 503 from eu-west".into(),
        affected_regions: Vec::new(),
        regions: Vec::new(),
        message: None,
        update: None,
    }
}

#[tokio::test]
async fn subscribers_hear_each_incident_step_and_maintenance_once_and_nothing_after_unsubscribing() {
    let sink = SmtpSink::start(None).await.unwrap();
    let mail = EmailConfig {
        smtp_host: "127.0.0.1".into(),
        smtp_port: sink.port,
        security: SmtpSecurity::None,
        from: "StatusHawk <status@status.example>".into(),
        ..Default::default()
    };
    let app = App::with_system_mail().await.with_notifier_mailing(SystemMailer::from_config(&mail).unwrap()).await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let monitor_id = MonitorId(app.monitor(&owner, "checkout-internal", "https://shop.example/").await);
    let team = TeamId(sqlx::query_scalar("SELECT team_id FROM monitors").fetch_one(&app.pg).await.unwrap());
    let page = json!({"slug": "shop", "title": "Shop Status", "public": true,
        "sections": [{"title": "Payments", "monitors": [{"monitor_id": monitor_id, "display_name": "Checkout"}]}]});
    let (status, page) = app.call("POST", "/api/v1/status-pages", Some(&owner), Some(page)).await;
    assert_eq!(status, StatusCode::CREATED, "{page}");

    // The page has the form; a visitor subscribes with it.
    let (_, _, html) = app.raw("GET", "/status/shop", None, None).await;
    assert!(html.contains(r#"action="/status/shop/subscribe""#), "{html}");
    // To the Payments section (sections are named by their place: the page
    // shows no ids).
    let (status, answer) = app.form("/status/shop/subscribe", &[("email", "Fan@Example.com"), ("section", "0")]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert!(answer.contains("Check your inbox"), "{answer}");
    let (status, _) = app.form("/status/shop/subscribe", &[("email", "bystander@example.com")]).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    eventually("both confirmations", || async {
        mail_to(&sink, "fan@example.com").len() == 1 && mail_to(&sink, "bystander@example.com").len() == 1
    })
    .await;
    let confirmation = &mail_to(&sink, "fan@example.com")[0];
    assert_eq!(subject_of(confirmation), "Confirm your subscription to Shop Status");
    let confirm = link(confirmation, "confirm");
    // Opening the link only shows a button (a mail scanner confirms nothing).
    let (status, _, shown) = app.raw("GET", &confirm, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(shown.contains(&format!(r#"action="{confirm}""#)), "{shown}");
    let (status, done) = app.form(&confirm, &[]).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let (status, _) = app.form(&confirm, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a confirmation link works once");

    // A webhook subscriber, with its signing secret shown once.
    let (hook, at_hook) = receiver().await;
    let (status, answer) = app.form("/status/shop/subscribe", &[("webhook_url", &format!("{hook}/news"))]).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let secret = answer.split(r#"<code id="signing-secret">"#).nth(1).unwrap().split('<').next().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{answer}");
    let (status, list) = app
        .call("GET", &format!("/api/v1/status-pages/{}/subscribers", page["id"].as_str().unwrap()), Some(&owner), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let confirmed: Vec<(&str, bool)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["address"].as_str().unwrap(), s["confirmed"].as_bool().unwrap()))
        .collect();
    assert_eq!(confirmed.len(), 3, "{list}");
    assert!(confirmed.contains(&("fan@example.com", true)) && confirmed.contains(&("bystander@example.com", false)));
    let fan = list.as_array().unwrap().iter().find(|s| s["address"] == "fan@example.com").unwrap();
    let payments: uuid::Uuid = sqlx::query_scalar("SELECT id FROM status_page_sections WHERE title = 'Payments'")
        .fetch_one(&app.pg)
        .await
        .unwrap();
    assert_eq!(fan["section_ids"], json!([payments]), "{list}");
    let (status, _) = app.form("/status/shop/subscribe", &[("email", "x@example.com"), ("section", "7")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "no such section");

    // The incident: opened (as the evaluator publishes it), a person's
    // update, resolved; then maintenance scheduled.
    let incident = IncidentId(
        sqlx::query_scalar(
            "INSERT INTO incidents (team_id, monitor_id, started_at, cause, event_seq) \
             VALUES ($1, $2, now() - interval '1 minute', 'HTTP 503', 1) RETURNING id",
        )
        .bind(team.0)
        .bind(monitor_id.0)
        .fetch_one(&app.pg)
        .await
        .unwrap(),
    );
    let publisher = Publisher::new(app.js.clone(), app.topology.clone());
    let publish = async |e: IncidentEvent| {
        publisher.publish(&subject::events_incident(e.kind, e.monitor_id), &e.msg_id(), &e).await.unwrap();
    };
    publish(event(IncidentEventKind::Opened, incident, monitor_id, team, 1)).await;
    // The evaluator's own update (regions changed) is not for subscribers.
    publish(event(IncidentEventKind::Updated, incident, monitor_id, team, 2)).await;
    eventually("the opening mailed", || async { mail_to(&sink, "fan@example.com").len() == 2 }).await;
    let said = json!({"status": "identified", "message": "A bad deploy; rolling back."});
    let (status, _) =
        app.call("POST", &format!("/api/v1/incidents/{}/updates", incident.0), Some(&owner), Some(said)).await;
    assert_eq!(status, StatusCode::CREATED);
    eventually("the update mailed", || async { mail_to(&sink, "fan@example.com").len() == 3 }).await;
    sqlx::query("UPDATE incidents SET resolved_at = now(), event_seq = 3").execute(&app.pg).await.unwrap();
    publish(event(IncidentEventKind::Resolved, incident, monitor_id, team, 3)).await;
    eventually("the resolution mailed", || async { mail_to(&sink, "fan@example.com").len() == 4 }).await;
    let soon = statushawk_schemas::now_ms() + 2 * 86_400_000;
    let window = json!({"title": "Payment provider upgrade", "monitor_id": monitor_id, "schedule": {
        "kind": "one_off", "starts_at_ms": soon, "ends_at_ms": soon + 3_600_000}});
    let (status, _) = app.call("POST", "/api/v1/maintenance", Some(&owner), Some(window)).await;
    assert_eq!(status, StatusCode::CREATED);
    eventually("the maintenance mailed", || async { mail_to(&sink, "fan@example.com").len() == 5 }).await;

    let fan = mail_to(&sink, "fan@example.com");
    let subjects: Vec<String> = fan.iter().map(|m| subject_of(m)).collect();
    assert_eq!(
        subjects[1..],
        [
            "[Shop Status] Checkout is down",
            "[Shop Status] Update on Checkout: identified",
            "[Shop Status] Checkout is back up",
            "[Shop Status] Maintenance scheduled: Payment provider upgrade",
        ],
        "{subjects:?}"
    );
    for message in &fan[1..] {
        assert!(
            message.contains("List-Unsubscribe: <https://status.example/status/shop/unsubscribe/sub_"),
            "{message}"
        );
        assert!(message.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), "{message}");
        assert!(
            !message.contains("checkout-internal") && !message.contains("HTTP 503"),
            "public names only: {message}"
        );
    }
    assert!(fan[2].contains("A bad deploy; rolling back."));
    assert_eq!(mail_to(&sink, "bystander@example.com").len(), 1, "unconfirmed: the confirmation only");

    // The webhook: the same four, signed, once each, after one 429.
    eventually("the webhook's four", || async {
        let got = at_hook.lock().unwrap();
        got.iter().skip(1).filter(|(_, _, b)| b.contains("maintenance.scheduled")).count() == 1 && got.len() >= 5
    })
    .await;
    let got = at_hook.lock().unwrap().clone();
    assert_eq!(got.len(), 5, "one 429, then four: {got:?}");
    let types: Vec<String> = got[1..]
        .iter()
        .map(|(_, headers, body)| {
            let signature = headers["x-statushawk-signature"].to_str().unwrap();
            let timestamp = headers["x-statushawk-timestamp"].to_str().unwrap();
            statushawk_channels::webhook::verify(
                &secret.clone().into(),
                timestamp,
                signature,
                body.as_bytes(),
                statushawk_schemas::now_ms() / 1000,
                300,
            )
            .unwrap();
            let notice: Value = serde_json::from_str(body).unwrap();
            assert_eq!(notice["schema_version"], SCHEMA_VERSION);
            assert!(
                notice["unsubscribe_url"]
                    .as_str()
                    .unwrap()
                    .starts_with("https://status.example/status/shop/unsubscribe/sub_")
            );
            notice["type"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(got[1..].iter().any(|(_, _, body)| body == &got[0].2), "the 429'd notice came again");
    // An incident's notices in order (maintenance is not held behind them).
    let incident_types: Vec<&str> = types.iter().map(String::as_str).filter(|t| t.starts_with("incident.")).collect();
    assert_eq!(incident_types, ["incident.opened", "incident.updated", "incident.resolved"], "{types:?}");
    assert_eq!(types.iter().filter(|t| *t == "maintenance.scheduled").count(), 1, "{types:?}");

    // Unsubscribed (one-click, as a mail client posts it): nothing more.
    let unsubscribe = link(&fan[1], "unsubscribe");
    let (status, _) = app.form(&unsubscribe, &[("List-Unsubscribe", "One-Click")]).await;
    assert_eq!(status, StatusCode::OK);
    let second = IncidentId(
        sqlx::query_scalar(
            "INSERT INTO incidents (team_id, monitor_id, started_at, cause) VALUES ($1, $2, now(), 'HTTP 503') RETURNING id",
        )
        .bind(team.0)
        .bind(monitor_id.0)
        .fetch_one(&app.pg)
        .await
        .unwrap(),
    );
    publish(event(IncidentEventKind::Opened, second, monitor_id, team, 1)).await;
    eventually("the webhook told of the second incident", || async { at_hook.lock().unwrap().len() == 6 }).await;
    assert_eq!(mail_to(&sink, "fan@example.com").len(), 5, "nothing after unsubscribing");
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notification_deliveries WHERE incident_id = $1 AND subscriber_id IS NOT NULL",
    )
    .bind(second.0)
    .fetch_one(&app.pg)
    .await
    .unwrap();
    assert_eq!(rows, 1, "only the webhook's");
}

#[tokio::test]
async fn the_form_refuses_bad_input_and_limits_confirmations_per_address() {
    let app = App::with_system_mail().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let page = json!({"slug": "shop", "title": "Shop Status", "public": true});
    let (status, page) = app.call("POST", "/api/v1/status-pages", Some(&owner), Some(page)).await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    let (status, body) = app.form("/status/shop/subscribe", &[("email", "not an address")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = app.form("/status/shop/subscribe", &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.form("/status/shop/subscribe", &[("webhook_url", "ftp://example.com/")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.form("/status/nowhere/subscribe", &[("email", "a@example.com")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for _ in 0..3 {
        let (status, _) = app.form("/status/shop/subscribe", &[("email", "target@example.com")]).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let (status, body) = app.form("/status/shop/subscribe", &[("email", "target@example.com")]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let mails: i64 = sqlx::query_scalar("SELECT count(*) FROM system_mail WHERE to_address = 'target@example.com'")
        .fetch_one(&app.pg)
        .await
        .unwrap();
    assert_eq!(mails, 3);
    // Admins list, add (confirmed at once) and remove.
    let id = page["id"].as_str().unwrap();
    let path = format!("/api/v1/status-pages/{id}/subscribers");
    let (status, added) = app
        .call("POST", &path, Some(&owner), Some(json!({"kind": "webhook", "address": "https://hooks.example/x"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(
        (added["confirmed"].as_bool(), added["signing_secret"].as_str().map(|s| s.starts_with("whsec_"))),
        (Some(true), Some(true))
    );
    let viewer = app.token(&owner, "viewer").await;
    let (status, _) = app.call("GET", &path, Some(&viewer), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) =
        app.call("DELETE", &format!("{path}/{}", added["id"].as_str().unwrap()), Some(&owner), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = app.call("GET", &path, Some(&owner), None).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "the unconfirmed visitor is left: {list}");
    // Never confirmed: forgotten after a week, not before.
    assert_eq!(statushawk_notifier::subscribers::forget_unconfirmed(&app.pg).await.unwrap(), 0);
    sqlx::query("UPDATE status_page_subscribers SET created_at = now() - interval '8 days'")
        .execute(&app.pg)
        .await
        .unwrap();
    assert_eq!(statushawk_notifier::subscribers::forget_unconfirmed(&app.pg).await.unwrap(), 1);
    let (_, list) = app.call("GET", &path, Some(&owner), None).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn a_one_off_window_starting_is_told_once_and_windows_made_before_subscribing_are_not() {
    let app = App::new().await.with_notifier().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let monitor = app.monitor(&owner, "Checkout", "https://shop.example/").await;
    let page = json!({"slug": "shop", "title": "Shop Status", "public": true, "monitors": [{"monitor_id": monitor}]});
    let (status, page) = app.call("POST", "/api/v1/status-pages", Some(&owner), Some(page)).await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    // A window made two hours ago (before anyone subscribed) that began a
    // minute ago.
    sqlx::query(
        "INSERT INTO maintenance_windows (team_id, monitor_id, title, kind, starts_at, ends_at, created_at) \
         SELECT team_id, id, 'Database upgrade', 'one_off', now() - interval '1 minute', now() + interval '1 hour', \
                now() - interval '2 hours' FROM monitors",
    )
    .execute(&app.pg)
    .await
    .unwrap();
    let (hook, at_hook) = receiver().await;
    let path = format!("/api/v1/status-pages/{}/subscribers", page["id"].as_str().unwrap());
    let (status, added) = app
        .call("POST", &path, Some(&owner), Some(json!({"kind": "webhook", "address": format!("{hook}/news")})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    // Subscribed ten minutes ago: after the window was made, before it began.
    sqlx::query("UPDATE status_page_subscribers SET confirmed_at = now() - interval '10 minutes'")
        .execute(&app.pg)
        .await
        .unwrap();
    eventually("the start told (after one 429)", || async {
        at_hook.lock().unwrap().iter().filter(|(_, _, b)| b.contains("maintenance.started")).count() >= 2
    })
    .await;
    // The notifier looks again every 200 ms: a while later it is still the
    // same two tries (the 429 and its retry), and no `scheduled`.
    let deliveries = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM notification_deliveries WHERE subscriber_id IS NOT NULL")
            .fetch_one(&app.pg)
            .await
            .unwrap()
    };
    assert_eq!(deliveries().await, 1);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(deliveries().await, 1, "one delivery, whatever the number of looks");
    let got = at_hook.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    let notice: Value = serde_json::from_str(&got[1].2).unwrap();
    assert_eq!(notice["maintenance"]["title"], "Database upgrade");
    assert_eq!(notice["maintenance"]["monitors"], json!(["Checkout"]));
    // Planned once, not every tick: with its deliveries gone, looking
    // again plans nothing.
    let notices: i64 = sqlx::query_scalar("SELECT count(*) FROM maintenance_notices").fetch_one(&app.pg).await.unwrap();
    assert_eq!(notices, 2, "scheduled (nobody to tell: they subscribed after) and started");
    sqlx::query("DELETE FROM notification_deliveries").execute(&app.pg).await.unwrap();
    assert_eq!(statushawk_notifier::subscribers::plan_maintenance(&app.pg, "https://status.example").await.unwrap(), 0);
    assert_eq!(deliveries().await, 0);
}
