//! What people do with an incident is told like what the evaluator does:
//! a posted update and an acknowledgement are incident events on NATS (ids
//! from their timeline entries), which a real notifier delivers; an
//! acknowledgement stops reminders and acknowledges the PagerDuty incident;
//! an update for the status page only tells nobody.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use futures::StreamExt;
use serde_json::{Value, json};
use statushawk_nats::async_nats::jetstream::consumer::{self, pull};
use statushawk_schemas::{IncidentEvent, IncidentEventKind, IncidentStatus};
use support::{App, Got};

/// PagerDuty's answer to every event.
fn accepted(_: usize) -> (u16, &'static [(&'static str, &'static str)], &'static str) {
    (202, &[], r#"{"status":"success"}"#)
}

/// The JSON bodies `got` holds, with their paths.
fn bodies(got: &Got) -> Vec<(String, Value)> {
    got.lock()
        .unwrap()
        .iter()
        .map(|(path, _, body)| (path.clone(), serde_json::from_str(body).unwrap_or(Value::Null)))
        .collect()
}

/// Polls until `got` holds `n` bodies (at most 20 s).
async fn wait_for(got: &Got, n: usize) -> Vec<(String, Value)> {
    for _ in 0..400 {
        let seen = bodies(got);
        if seen.len() >= n {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the receiver got {:?}, not {n} requests", bodies(got));
}

/// Polls until `got` holds a body of webhook type `kind` (at most 20 s).
async fn wait_for_type(got: &Got, kind: &str) -> Value {
    for _ in 0..400 {
        if let Some((_, body)) = bodies(got).into_iter().find(|(_, b)| b["type"] == kind) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the receiver got {:?}, no {kind}", bodies(got));
}

#[tokio::test]
async fn updates_and_acknowledgements_are_events_that_reach_channels_and_stop_reminders() {
    let app = App::new().await.with_notifier().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let (pagerduty, at_pagerduty) = support::receiver(accepted).await;
    let (hook, at_hook) = support::receiver(accepted).await;
    let monitor_id = app.monitor(&owner, "Checkout", "https://shop.example/").await;
    let (status, channel) = app
        .call(
            "POST",
            "/api/v1/channels",
            Some(&owner),
            Some(json!({"name": "Pager", "kind": "pagerduty", "settings": {
                "routing_key": "R0UTINGKEY0123456789abcdef012345", "events_url": format!("{pagerduty}/v2/enqueue")}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let (status, webhook) = app
        .call(
            "POST",
            "/api/v1/channels",
            Some(&owner),
            Some(json!({"name": "Ops hook", "kind": "webhook", "remind_every_minutes": 1, "settings": {
                "url": format!("{hook}/hook"), "signing_secret": "0123456789abcdef"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{webhook}");
    let (status, _) = app
        .call(
            "PUT",
            &format!("/api/v1/monitors/{monitor_id}/channels"),
            Some(&owner),
            Some(json!({"channel_ids": [channel["id"], webhook["id"]]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let incident: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO incidents (team_id, monitor_id, started_at, cause, affected_regions, event_seq) \
         SELECT team_id, id, now() - interval '150 seconds', 'HTTP 503', '{eu-west}', 1 FROM monitors RETURNING id",
    )
    .fetch_one(&app.pg)
    .await
    .unwrap();

    // Every incident event from here on, as a program on NATS reads them.
    let stream = app.js.get_stream(app.topology.stream(statushawk_nats::EVENTS)).await.unwrap();
    let reader = stream
        .create_consumer(pull::Config {
            filter_subject: app.topology.subject("events.incident.>"),
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut events = reader.messages().await.unwrap();
    let mut next_event = async || -> IncidentEvent {
        let message = tokio::time::timeout(Duration::from_secs(10), events.next()).await.unwrap().unwrap().unwrap();
        message.ack().await.unwrap();
        serde_json::from_slice(&message.payload).unwrap()
    };

    // An open incident with a reminder period passed is due a reminder
    // (to the webhook; PagerDuty escalates by itself).
    let reminders = statushawk_notifier::store::reminders_due(&app.pg).await.unwrap();
    assert_eq!(reminders.len(), 1, "an open, unacknowledged incident is due a reminder");

    // A person's update: an event with its own id, delivered.
    let path = format!("/api/v1/incidents/{incident}/updates");
    let said = json!({"status": "identified", "message": "A bad deploy; rolling back."});
    let (status, timeline) = app.call("POST", &path, Some(&owner), Some(said)).await;
    assert_eq!(status, StatusCode::CREATED, "{timeline}");
    let entry = timeline.as_array().unwrap().last().unwrap().clone();
    assert_eq!((entry["kind"].as_str(), entry["notify"].as_bool()), (Some("update"), Some(true)));
    let event = next_event().await;
    assert_eq!(event.kind, IncidentEventKind::Updated);
    assert_eq!(event.message.as_deref(), Some("A bad deploy; rolling back."));
    let update = event.update.clone().unwrap();
    assert_eq!(update.update_id.to_string(), entry["id"].as_str().unwrap());
    assert_eq!(
        (update.status, update.author.as_deref(), update.notify),
        (IncidentStatus::Identified, Some("ops@shop.example"), true)
    );
    assert_eq!(event.seq, 1, "a person's event takes no number of the evaluator's sequence");
    assert!(event.msg_id().ends_with(&format!(":u:{}", update.update_id)), "{}", event.msg_id());
    let seq: i32 = sqlx::query_scalar("SELECT event_seq FROM incidents").fetch_one(&app.pg).await.unwrap();
    assert_eq!(seq, 1, "the evaluator's sequence is untouched");
    let pages = wait_for(&at_pagerduty, 1).await;
    // (The webhook may have had its reminder first: the incident is 150 s
    // old and the notifier looks for reminders every 200 ms.)
    let hooked = wait_for_type(&at_hook, "incident.updated").await;
    assert_eq!(hooked["incident"]["update"]["status"], "identified");
    assert_eq!(pages[0].1["event_action"], "trigger");
    assert!(pages[0].1["payload"]["summary"].as_str().unwrap().contains("rolling back"), "{:?}", pages[0]);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM event_outbox").fetch_one(&app.pg).await.unwrap();
    assert_eq!(left, 0, "published and taken out of the outbox");

    // For the status page only: an event that says so, and nobody is told.
    let quiet = json!({"status": "monitoring", "message": "Watching the rollback.", "notify": false});
    let (status, _) = app.call("POST", &path, Some(&owner), Some(quiet)).await;
    assert_eq!(status, StatusCode::CREATED);
    let event = next_event().await;
    assert!(!event.notifies(), "{event:?}");

    // Acknowledged: in the timeline and on the incident, PagerDuty's
    // incident acknowledged, no more reminders.
    let (status, detail) = app.call("POST", &format!("/api/v1/incidents/{incident}/ack"), Some(&owner), None).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["acknowledged_by"], "ops@shop.example");
    assert!(detail["acknowledged_at_ms"].is_i64());
    let ack = detail["updates"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(ack["kind"], "acknowledged", "{detail}");
    assert_eq!(ack["message"], "Acknowledged by ops@shop.example.");
    let event = next_event().await;
    assert_eq!(event.kind, IncidentEventKind::Acknowledged);
    let pages = wait_for(&at_pagerduty, 2).await;
    assert_eq!(pages.len(), 2, "the status-page-only update sent nothing: {pages:?}");
    assert_eq!(pages[1].1["event_action"], "acknowledge");
    assert_eq!(pages[1].1["dedup_key"], incident.to_string());
    wait_for_type(&at_hook, "incident.acknowledged").await;
    // Even once more periods have passed.
    sqlx::query("UPDATE incidents SET started_at = started_at - interval '10 minutes'").execute(&app.pg).await.unwrap();
    assert!(statushawk_notifier::store::reminders_due(&app.pg).await.unwrap().is_empty(), "acknowledged: no reminders");
    assert_eq!(statushawk_notifier::plan_reminders(&app.pg).await.unwrap(), 0);

    // Again: nothing new. A viewer may not; a resolved incident cannot be.
    let (status, again) = app.call("POST", &format!("/api/v1/incidents/{incident}/ack"), Some(&owner), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["updates"].as_array().unwrap().len(), 3, "{again}");
    let viewer = app.token(&owner, "viewer").await;
    let (status, _) = app.call("POST", &format!("/api/v1/incidents/{incident}/ack"), Some(&viewer), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let resolved: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO incidents (team_id, monitor_id, started_at, resolved_at, cause) \
         SELECT team_id, id, now() - interval '1 hour', now() - interval '50 minutes', 'HTTP 503' FROM monitors RETURNING id",
    )
    .fetch_one(&app.pg)
    .await
    .unwrap();
    let (status, body) = app.call("POST", &format!("/api/v1/incidents/{resolved}/ack"), Some(&owner), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) =
        app.call("POST", &format!("/api/v1/incidents/{}/ack", uuid::Uuid::now_v7()), Some(&owner), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_event_whose_publish_failed_is_published_from_the_outbox() {
    // The API writes the event with the update; what it could not publish
    // stays in the outbox for the evaluator (tested in the evaluator's own
    // suite). Here: the row is there until the publish, with the event.
    let app = App::new().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let monitor = app.monitor(&owner, "Checkout", "https://shop.example/").await;
    let incident: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO incidents (team_id, monitor_id, started_at, cause) \
         SELECT team_id, id, now(), 'HTTP 503' FROM monitors WHERE id = $1 RETURNING id",
    )
    .bind(monitor)
    .fetch_one(&app.pg)
    .await
    .unwrap();
    // NATS refuses the subject (the stream is gone): the publish fails.
    app.js.delete_stream(app.topology.stream(statushawk_nats::EVENTS)).await.unwrap();
    let said = json!({"status": "investigating", "message": "Looking."});
    let (status, _) =
        app.call("POST", &format!("/api/v1/incidents/{incident}/updates"), Some(&owner), Some(said)).await;
    assert_eq!(status, StatusCode::CREATED, "the update is kept whatever NATS does");
    let (subject, msg_id, payload): (String, String, Value) =
        sqlx::query_as("SELECT subject, msg_id, payload FROM event_outbox").fetch_one(&app.pg).await.unwrap();
    assert_eq!(subject, format!("events.incident.updated.{monitor}"));
    let event: IncidentEvent = serde_json::from_value(payload).unwrap();
    assert_eq!(event.msg_id(), msg_id);
    assert_eq!(event.message.as_deref(), Some("Looking."));
}
