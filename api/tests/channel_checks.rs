//! Trying a channel before it is saved, verifying Discord and Slack
//! webhooks with their providers (local servers that answer as Discord and
//! Slack document), and reading the delivery log back. Tests and
//! verifications are made by a real notifier beside the API, asked over
//! NATS: the API itself connects to no tenant endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode, Uri};
use serde_json::{Value, json};
use statushawk_notifier::store::{self, Next, Plan};
use statushawk_schemas::{ChannelId, IncidentEventKind, IncidentId, MonitorId, TeamId};
use support::App;

/// What a provider was asked: method, path and body.
type Asked = Arc<Mutex<Vec<(Method, String, String)>>>;

/// A local server that answers as `answer` says for each request, and
/// keeps what it was asked. Returns its base URL.
async fn provider(answer: fn(&Method, &str) -> (u16, &'static str)) -> (String, Asked) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let asked: Asked = Arc::default();
    let seen = asked.clone();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, body: String| {
        let seen = seen.clone();
        async move {
            let (status, text) = answer(&method, uri.path());
            seen.lock().unwrap().push((method, uri.path().to_owned(), body));
            (StatusCode::from_u16(status).unwrap(), text)
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, asked)
}

/// Discord: `GET` on a webhook answers it, or 404 `Unknown Webhook`;
/// executing one answers 204.
fn discord(method: &Method, path: &str) -> (u16, &'static str) {
    match (method.as_str(), path) {
        ("GET", "/api/webhooks/1/live") => (200, r#"{"type": 1, "id": "1", "name": "Ops"}"#),
        ("POST", "/api/webhooks/1/live") => (204, ""),
        (_, "/api/webhooks/3/revoked") => (401, r#"{"message": "Invalid Webhook Token", "code": 50027}"#),
        _ => (404, r#"{"message": "Unknown Webhook", "code": 10015}"#),
    }
}

/// Slack: a post without text to a live webhook is 400 `invalid_payload`;
/// a deleted webhook is 404 `no_service`.
fn slack(_: &Method, path: &str) -> (u16, &'static str) {
    match path {
        "/services/T1/B1/live" => (400, "invalid_payload"),
        "/services/T1/B2/archived" => (410, "channel_is_archived"),
        _ => (404, "no_service"),
    }
}

async fn channel_count(app: &App) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM channels").fetch_one(&app.pg).await.unwrap()
}

#[tokio::test]
async fn without_a_notifier_a_test_or_a_verify_says_so_at_once_and_sends_nothing() {
    let app = App::new().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let (base, asked) = provider(slack).await;
    let settings = json!({"webhook_url": format!("{base}/services/T1/B1/live")});
    let (status, answer) = app
        .call("POST", "/api/v1/integrations/test", Some(&owner), Some(json!({"kind": "slack", "settings": settings})))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("no notifier is running"), "{answer}");
    let (status, answer) = app
        .call(
            "POST",
            "/api/v1/channels",
            Some(&owner),
            Some(json!({"name": "Ops", "kind": "slack", "settings": settings, "verify": true})),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(channel_count(&app).await, 0, "nothing is saved unverified");
    assert!(asked.lock().unwrap().is_empty(), "the API itself sent nothing");
}

#[tokio::test]
async fn settings_are_tried_before_they_are_saved() {
    let app = App::new().await.with_notifier().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let (discord_base, asked) = provider(discord).await;
    let test = |body: Value| app.call("POST", "/api/v1/integrations/test", Some(&owner), Some(body));

    // An unsaved Discord webhook: sent once, and nothing is saved.
    let live = format!("{discord_base}/api/webhooks/1/live");
    let (status, result) = test(json!({"kind": "discord", "settings": {"webhook_url": live}})).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["delivered"], true, "{result}");
    assert_eq!(result["http_status"], 204);
    let (method, _, body) = asked.lock().unwrap().pop().unwrap();
    assert_eq!(method, Method::POST);
    assert!(body.contains("StatusHawk test notification"), "{body}");
    assert_eq!(channel_count(&app).await, 0, "a test saves nothing");

    // A deleted one: the provider's own words come back.
    let gone = format!("{discord_base}/api/webhooks/2/gone");
    let (_, result) = test(json!({"kind": "discord", "settings": {"webhook_url": gone}})).await;
    assert_eq!(result["delivered"], false);
    assert_eq!(result["http_status"], 404);
    assert!(result["error"].as_str().unwrap().contains("Unknown Webhook"), "{result}");

    // Settings that are not valid are refused at the setting, and not sent.
    let before = asked.lock().unwrap().len();
    for (body, field) in [
        (json!({"kind": "discord", "settings": {"webhook_url": "ftp://x.example/"}}), "settings.webhook_url"),
        (json!({"kind": "discord", "settings": {}}), "settings.webhook_url"),
        (json!({"kind": "carrier-pigeon", "settings": {}}), "kind"),
        (json!({"settings": {"webhook_url": live}}), "kind"),
        (json!({"kind": "discord"}), "settings"),
        (json!({}), "channel_id"),
    ] {
        let (status, answer) = test(body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
    assert_eq!(asked.lock().unwrap().len(), before, "nothing sent for settings refused");

    // A saved channel's changed settings: the secret left out is the
    // stored one (the same destination), as on PUT.
    let (status, channel) = app
        .call(
            "POST",
            "/api/v1/channels",
            Some(&owner),
            Some(json!({"name": "Ops", "kind": "discord", "settings": {"webhook_url": live}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let id = channel["id"].as_str().unwrap();
    let (_, result) = test(json!({"channel_id": id, "kind": "discord", "settings": {}})).await;
    assert_eq!(result["delivered"], true, "the stored webhook URL filled in: {result}");
    let (status, answer) = test(json!({"channel_id": id, "kind": "slack", "settings": {}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["error"]["field"], "kind", "{answer}");
    let (_, result) = test(json!({"channel_id": id})).await;
    assert_eq!(result["delivered"], true, "a saved channel as it is: {result}");

    // Admins only, and never another team's channel.
    let member = app.token(&owner, "member").await;
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/integrations/test",
            Some(&member),
            Some(json!({"kind": "discord", "settings": {"webhook_url": live}})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let stranger = app.sign_up("owner@other.example", "Other").await;
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/integrations/test",
            Some(&stranger),
            Some(json!({"channel_id": id, "kind": "discord", "settings": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another team's secret is never lent");
}

#[tokio::test]
async fn verify_refuses_a_deleted_discord_or_slack_webhook_and_posts_nothing() {
    let app = App::new().await.with_notifier().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let (discord_base, discord_asked) = provider(discord).await;
    let (slack_base, slack_asked) = provider(slack).await;
    let create = |kind: &str, url: String, verify: bool| {
        app.call(
            "POST",
            "/api/v1/channels",
            Some(&owner),
            Some(json!({"name": "Ops", "kind": kind, "settings": {"webhook_url": url}, "verify": verify})),
        )
    };

    // A live Discord webhook is asked with a GET and saved; nothing posted.
    let (status, channel) = create("discord", format!("{discord_base}/api/webhooks/1/live"), true).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let asked: Vec<_> = discord_asked.lock().unwrap().drain(..).map(|(m, p, _)| (m, p)).collect();
    assert_eq!(asked, [(Method::GET, "/api/webhooks/1/live".to_owned())]);

    // Deleted or revoked ones are refused at the URL, quoting Discord.
    for (path, words) in
        [("/api/webhooks/2/gone", "Unknown Webhook"), ("/api/webhooks/3/revoked", "Invalid Webhook Token")]
    {
        let (status, answer) = create("discord", format!("{discord_base}{path}"), true).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["field"], "settings.webhook_url");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("Discord says this webhook does not exist") && message.contains(words), "{message}");
    }
    assert_eq!(channel_count(&app).await, 1, "refused channels are not saved");

    // Slack: a post without text tells, and posts nothing.
    let (status, channel) = create("slack", format!("{slack_base}/services/T1/B1/live"), true).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let (method, _, body) = slack_asked.lock().unwrap().pop().unwrap();
    assert_eq!((method, body.as_str()), (Method::POST, "{}"));
    for (path, words) in
        [("/services/T1/B9/deleted", "no_service"), ("/services/T1/B2/archived", "channel_is_archived")]
    {
        let (status, answer) = create("slack", format!("{slack_base}{path}"), true).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["field"], "settings.webhook_url");
        assert!(answer["error"]["message"].as_str().unwrap().contains(words), "{answer}");
    }

    // A provider that cannot be reached is no verdict: refused, saying so.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("http://{}/api/webhooks/1/live", closed.local_addr().unwrap());
    drop(closed);
    let (status, answer) = create("discord", closed_url, true).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "settings.webhook_url");
    assert!(answer["error"]["message"].as_str().unwrap().contains("could not be asked"), "{answer}");

    // Kinds whose provider cannot say are refused naming `verify`.
    let (status, answer) = app
        .call(
            "POST",
            "/api/v1/channels",
            Some(&owner),
            Some(json!({"name": "Hook", "kind": "webhook", "verify": true,
                "settings": {"url": format!("{slack_base}/x"), "signing_secret": "a signing secret of 32 characters!"}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "verify");

    // Without verify, the caller's word is taken (an outage at Discord
    // must not stop anyone saving a channel).
    let (status, _) = create("discord", format!("{discord_base}/api/webhooks/2/gone"), false).await;
    assert_eq!(status, StatusCode::CREATED);

    // PUT verifies too, and a refused PUT changes nothing.
    let id = channel["id"].as_str().unwrap();
    let (status, answer) = app
        .call(
            "PUT",
            &format!("/api/v1/channels/{id}"),
            Some(&owner),
            Some(json!({"name": "Ops", "kind": "slack", "verify": true,
                "settings": {"webhook_url": format!("{slack_base}/services/T1/B9/deleted")}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let (_, result) =
        app.call("POST", "/api/v1/integrations/test", Some(&owner), Some(json!({"channel_id": id}))).await;
    assert_eq!(result["http_status"], 400, "still the live webhook: {result}");
    let (_, path, _) = slack_asked.lock().unwrap().pop().unwrap();
    assert_eq!(path, "/services/T1/B1/live");
}

/// A notification of `incident`'s opening, as the notifier stores it.
fn opened(incident: IncidentId, monitor: MonitorId, team: TeamId) -> statushawk_channels::notification::Notification {
    let mut notification = statushawk_notifier::test_notification();
    notification.event.kind = IncidentEventKind::Opened;
    notification.event.incident_id = incident;
    notification.event.monitor_id = monitor;
    notification.event.team_id = team;
    notification.event.monitor_name = "Shop front".to_owned();
    notification.event_id = notification.event.msg_id();
    notification
}

#[tokio::test]
async fn an_incident_and_a_channel_show_what_was_sent_and_what_was_not() {
    let app = App::new().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let (discord_base, _) = provider(discord).await;
    let (_, monitor) = app
        .call(
            "POST",
            "/api/v1/monitors",
            Some(&owner),
            Some(json!({"name": "Shop front", "spec": {"kind": "http", "url": "https://shop.example/"}})),
        )
        .await;
    let monitor = MonitorId(monitor["id"].as_str().unwrap().parse().unwrap());
    let team = TeamId(sqlx::query_scalar("SELECT team_id FROM monitors").fetch_one(&app.pg).await.unwrap());
    let mut channels = Vec::new();
    for name in ["Ops room", "Night shift"] {
        let (_, channel) = app
            .call(
                "POST",
                "/api/v1/channels",
                Some(&owner),
                Some(json!({"name": name, "kind": "discord", "settings": {"webhook_url": format!("{discord_base}/api/webhooks/1/live")}})),
            )
            .await;
        channels.push(ChannelId(channel["id"].as_str().unwrap().parse().unwrap()));
    }
    let incident = IncidentId(
        sqlx::query_scalar(
            "INSERT INTO incidents (team_id, monitor_id, started_at, cause, affected_regions) \
             VALUES ($1, $2, now() - interval '5 minutes', 'HTTP 503', '{eu-west}') RETURNING id",
        )
        .bind(team.0)
        .bind(monitor.0)
        .fetch_one(&app.pg)
        .await
        .unwrap(),
    );

    // The notifier's own bookkeeping: one delivered after a failed try,
    // one suppressed by a maintenance window.
    let notification = opened(incident, monitor, team);
    assert!(store::claim(&app.pg, &notification, channels[0], &Plan::Send, None).await.unwrap());
    assert!(
        store::claim(&app.pg, &notification, channels[1], &Plan::Suppress("maintenance: Deploy".into()), None)
            .await
            .unwrap()
    );
    let delivery: uuid::Uuid = sqlx::query_scalar("SELECT id FROM notification_deliveries WHERE channel_id = $1")
        .bind(channels[0].0)
        .fetch_one(&app.pg)
        .await
        .unwrap();
    let loopback = [std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)];
    let guard = statushawk_guard::Guard::new(false).unwrap().with_exceptions(&loopback);
    let sender = &statushawk_notifier::send::Sender::new(guard, support::NOTIFIER_SEND_TIMEOUT).unwrap();
    let gone = statushawk_channels::ChannelSettings::parse(
        statushawk_channels::ChannelKind::Discord,
        &json!({}),
        Some(&json!({"webhook_url": format!("{discord_base}/api/webhooks/2/gone")})),
    )
    .unwrap();
    let failed = statushawk_notifier::send_test(sender, &gone).await;
    store::record(&app.pg, delivery, &failed, Next::RetryAfter(std::time::Duration::ZERO)).await.unwrap();
    let live = statushawk_channels::ChannelSettings::parse(
        statushawk_channels::ChannelKind::Discord,
        &json!({}),
        Some(&json!({"webhook_url": format!("{discord_base}/api/webhooks/1/live")})),
    )
    .unwrap();
    let delivered = statushawk_notifier::send_test(sender, &live).await;
    store::record(&app.pg, delivery, &delivered, Next::Delivered).await.unwrap();

    let (status, detail) = app.call("GET", &format!("/api/v1/incidents/{}", incident.0), Some(&owner), None).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let notifications = detail["notifications"].as_array().unwrap();
    assert_eq!(notifications.len(), 2, "{detail}");
    let by_channel = |name: &str| notifications.iter().find(|n| n["channel_name"] == name).unwrap().clone();
    let sent = by_channel("Ops room");
    assert_eq!(sent["status"], "delivered", "{sent}");
    assert_eq!(sent["attempts"], 2);
    assert_eq!(sent["channel_kind"], "discord");
    assert_eq!(sent["event"], "opened");
    assert!(sent["delivered_at_ms"].as_i64().is_some());
    let held = by_channel("Night shift");
    assert_eq!(held["status"], "suppressed");
    assert_eq!(held["reason"], "maintenance: Deploy");
    assert_eq!(held["delivered_at_ms"], Value::Null);

    // The channel's own log: its deliveries only, with the monitor named.
    let path = format!("/api/v1/channels/{}/deliveries", channels[0].0);
    let (status, log) = app.call("GET", &path, Some(&owner), None).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["monitor_name"], "Shop front");
    assert_eq!(log[0]["incident_id"], json!(incident.0));
    assert_eq!(log[0]["status"], "delivered");
    let viewer = app.token(&owner, "viewer").await;
    let (status, _) = app.call("GET", &path, Some(&viewer), None).await;
    assert_eq!(status, StatusCode::OK, "any role reads the log");
    let (status, answer) = app.call("GET", &format!("{path}?limit=0"), Some(&owner), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "limit");

    // Nobody else's.
    let stranger = app.sign_up("owner@other.example", "Other").await;
    let (status, _) = app.call("GET", &path, Some(&stranger), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
