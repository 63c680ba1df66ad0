//! Each provider's payload, as it arrives at a local endpoint, against a
//! golden file written from the provider's documented shape
//! (`tests/golden/<kind>-<event>.json`; `STATUSHAWK_BLESS=1` rewrites them
//! after a deliberate change, to be reviewed in the diff).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::PathBuf;

use serde_json::{Value, json};
use statushawk_channels::notification::Notification;
use statushawk_channels::{ChannelKind, ChannelSettings, Outgoing};
use statushawk_schemas::{
    CheckStatus, IncidentEvent, IncidentEventKind, IncidentId, MonitorId, Region, RegionEvidence, RegionState,
    SCHEMA_VERSION, TeamId,
};
use support::{Receiver, sender};
use uuid::Uuid;

fn notification(kind: IncidentEventKind) -> Notification {
    let region = |name: &str, state, status| RegionEvidence {
        region: Region::new(name).unwrap(),
        state,
        last_status: status,
        error: None,
        message: None,
        at_ms: 1_764_293_000_000,
    };
    let event = IncidentEvent {
        schema_version: SCHEMA_VERSION,
        kind,
        incident_id: IncidentId(Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0001)),
        monitor_id: MonitorId(Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0002)),
        monitor_name: "Checkout API <prod> & co".into(),
        team_id: TeamId(Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0003)),
        seq: if kind == IncidentEventKind::Opened { 1 } else { 2 },
        at_ms: 1_764_293_025_000 + if kind == IncidentEventKind::Resolved { 754_000 } else { 0 },
        started_at_ms: 1_764_292_965_000,
        resolved_at_ms: (kind == IncidentEventKind::Resolved).then_some(1_764_293_779_000),
        cause: "HTTP 503 Service Unavailable (expected 200-399)".into(),
        affected_regions: vec![Region::new("eu-west").unwrap(), Region::new("us-east").unwrap()],
        regions: vec![
            region("eu-west", RegionState::Down, CheckStatus::Down),
            region("us-east", RegionState::Down, CheckStatus::Down),
            region("ap-south", RegionState::Up, CheckStatus::Up),
        ],
        message: None,
        update: None,
    };
    Notification { event_id: event.msg_id(), event, reminder: false }
}

fn golden(name: &str, actual: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.json"));
    let text = format!("{}\n", serde_json::to_string_pretty(actual).unwrap());
    if std::env::var_os("STATUSHAWK_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} missing: bless it", path.display()));
    assert_eq!(text, expected, "{name} differs from its golden file");
}

/// Sends `kind`'s message for `event` to a local receiver and returns what
/// arrived: path, content type, JSON body.
async fn arrived(kind: ChannelKind, secret: Value, config: Value, event: IncidentEventKind) -> Value {
    let receiver = Receiver::start().await;
    let base = &receiver.base;
    let fill = |v: Value| serde_json::from_str::<Value>(&v.to_string().replace("{base}", base)).unwrap();
    let settings = ChannelSettings::parse(kind, &fill(config), Some(&fill(secret))).unwrap();
    let outgoing = settings.channel().render(&notification(event)).unwrap();
    let attempt = sender().send(&outgoing).await;
    assert_eq!(attempt.http_status, Some(200), "{attempt:?}");
    let all = receiver.received.lock().unwrap().clone();
    assert_eq!(all.len(), 1);
    let request = &all[0];
    let mut headers = serde_json::Map::new();
    for name in ["content-type", "authorization"] {
        if let Some(value) = request.headers.get(name) {
            headers.insert(name.into(), json!(value.to_str().unwrap()));
        }
    }
    json!({"path": request.path, "headers": headers, "body": request.json()})
}

#[tokio::test]
async fn slack_incoming_webhook_blocks() {
    let got = arrived(
        ChannelKind::Slack,
        json!({"webhook_url": "{base}/services/T000/B000/XXXX"}),
        json!({}),
        IncidentEventKind::Opened,
    )
    .await;
    golden("slack-opened", &got);
    let blocks = got["body"]["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(got["body"]["text"].as_str().unwrap().contains("&"), "the fallback text is plain");
    assert!(blocks[1]["text"]["text"].as_str().unwrap().contains("&lt;prod&gt; &amp; co"), "mrkdwn is escaped");
}

#[tokio::test]
async fn discord_embed_red_then_green() {
    let secret = json!({"webhook_url": "{base}/api/webhooks/123/abc"});
    let opened = arrived(ChannelKind::Discord, secret.clone(), json!({}), IncidentEventKind::Opened).await;
    golden("discord-opened", &opened);
    assert_eq!(opened["body"]["embeds"][0]["color"], 0xE7_4C_3C);
    let resolved = arrived(ChannelKind::Discord, secret, json!({}), IncidentEventKind::Resolved).await;
    golden("discord-resolved", &resolved);
    assert_eq!(resolved["body"]["embeds"][0]["color"], 0x2E_CC_71);
}

#[tokio::test]
async fn teams_adaptive_card() {
    let got = arrived(
        ChannelKind::Teams,
        json!({"webhook_url": "{base}/workflows/abc"}),
        json!({}),
        IncidentEventKind::Opened,
    )
    .await;
    golden("teams-opened", &got);
    let attachment = &got["body"]["attachments"][0];
    assert_eq!(attachment["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
}

#[tokio::test]
async fn telegram_send_message() {
    let got = arrived(
        ChannelKind::Telegram,
        json!({"bot_token": "123456:TEST-token"}),
        json!({"chat_id": "-1001234567890", "api_url": "{base}"}),
        IncidentEventKind::Opened,
    )
    .await;
    golden("telegram-opened", &got);
    assert_eq!(got["path"], "/bot123456:TEST-token/sendMessage");
    assert_eq!(got["body"]["parse_mode"], "HTML");
}

#[tokio::test]
async fn pagerduty_trigger_then_resolve_with_one_dedup_key() {
    let secret = json!({"routing_key": "R0UT1NGKEY0123456789abcdefABCDEF"});
    let config = json!({"events_url": "{base}/v2/enqueue"});
    let trigger = arrived(ChannelKind::Pagerduty, secret.clone(), config.clone(), IncidentEventKind::Opened).await;
    golden("pagerduty-opened", &trigger);
    let resolve = arrived(ChannelKind::Pagerduty, secret, config, IncidentEventKind::Resolved).await;
    golden("pagerduty-resolved", &resolve);
    assert_eq!(trigger["body"]["event_action"], "trigger");
    assert_eq!(resolve["body"]["event_action"], "resolve");
    assert_eq!(trigger["body"]["dedup_key"], resolve["body"]["dedup_key"]);
    assert_eq!(trigger["body"]["dedup_key"], "01960000-0000-7000-8000-000000000001");
}

#[tokio::test]
async fn ntfy_json_publish() {
    let got = arrived(
        ChannelKind::Ntfy,
        json!({"topic_url": "{base}/statushawk-alerts", "access_token": "tk_test"}),
        json!({"priority": 5}),
        IncidentEventKind::Opened,
    )
    .await;
    golden("ntfy-opened", &got);
    assert_eq!(got["path"], "/");
    assert_eq!(got["body"]["topic"], "statushawk-alerts");
    assert_eq!(got["headers"]["authorization"], "Bearer tk_test");
}

#[test]
fn webhook_body_and_email_texts() {
    let webhook = ChannelSettings::parse(
        ChannelKind::Webhook,
        &json!({}),
        Some(&json!({"url": "https://hooks.example/statushawk", "signing_secret": "0123456789abcdef"})),
    )
    .unwrap();
    let Some(Outgoing::Http(request)) = webhook.channel().render(&notification(IncidentEventKind::Resolved)) else {
        panic!("webhooks are HTTP");
    };
    golden("webhook-resolved", &serde_json::from_slice(&request.body).unwrap());

    let email = ChannelSettings::parse(
        ChannelKind::Email,
        &json!({"to": ["oncall@shop.example"], "from": "alerts@shop.example", "smtp_host": "smtp.shop.example"}),
        None,
    )
    .unwrap();
    let Some(Outgoing::Email(message)) = email.channel().render(&notification(IncidentEventKind::Opened)) else {
        panic!("e-mail is e-mail");
    };
    golden("email-opened", &json!({"subject": message.subject, "text": message.text, "html": message.html}));
    assert!(message.html.contains("Checkout API &lt;prod&gt; &amp; co"), "HTML is escaped");
}

#[test]
fn discord_texts_are_cut_to_2000_characters_on_character_boundaries() {
    let mut n = notification(IncidentEventKind::Opened);
    n.event.monitor_name = "Überprüfung 🔴".repeat(300);
    n.event.cause = "é".repeat(5000);
    let settings = ChannelSettings::parse(
        ChannelKind::Discord,
        &json!({}),
        Some(&json!({"webhook_url": "https://discord.com/api/webhooks/1/x"})),
    )
    .unwrap();
    let Some(Outgoing::Http(request)) = settings.channel().render(&n) else { panic!("HTTP") };
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    let chars = |v: &Value| v.as_str().unwrap().chars().count();
    assert!(chars(&body["content"]) <= 2000);
    let embed = &body["embeds"][0];
    assert!(chars(&embed["title"]) <= 256);
    assert!(chars(&embed["description"]) <= 2000);
    for field in embed["fields"].as_array().unwrap() {
        assert!(chars(&field["value"]) <= 1024);
    }
}

#[test]
fn settings_errors_name_the_field_and_secrets_are_split_off() {
    let err =
        ChannelSettings::parse(ChannelKind::Slack, &json!({}), Some(&json!({"webhook_url": "ftp://x"}))).unwrap_err();
    assert_eq!(err.field, "webhook_url");
    let err = ChannelSettings::parse(ChannelKind::Slack, &json!({}), None).unwrap_err();
    assert_eq!(err.field, "webhook_url", "{err}");
    let err = ChannelSettings::parse(
        ChannelKind::Slack,
        &json!({"colour": 1}),
        Some(&json!({"webhook_url": "https://x.example"})),
    )
    .unwrap_err();
    assert_eq!(err.field, "colour", "unknown fields are refused: {err}");
    let err = ChannelSettings::parse(
        ChannelKind::Webhook,
        &json!({}),
        Some(&json!({"url": "https://x.example", "signing_secret": "short"})),
    )
    .unwrap_err();
    assert_eq!(err.field, "signing_secret");
    let err =
        ChannelSettings::parse(ChannelKind::Pagerduty, &json!({}), Some(&json!({"routing_key": "nope"}))).unwrap_err();
    assert_eq!(err.field, "routing_key");
    let err = ChannelSettings::parse(
        ChannelKind::Email,
        &json!({"to": ["not an address"], "from": "a@b.example", "smtp_host": "h"}),
        None,
    )
    .unwrap_err();
    assert_eq!(err.field, "to[0]");

    let (public, secret) =
        statushawk_channels::split(ChannelKind::Telegram, &json!({"bot_token": "1:abc", "chat_id": "@ops"})).unwrap();
    assert_eq!(public, json!({"chat_id": "@ops"}));
    assert_eq!(secret, Some(json!({"bot_token": "1:abc"})));
    let debug = format!("{:?}", ChannelSettings::parse(ChannelKind::Telegram, &public, secret.as_ref()).unwrap());
    assert!(!debug.contains("1:abc"), "secrets never print: {debug}");
}
