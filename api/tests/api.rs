//! The API's router driven in-process against real Postgres and NATS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::App;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use statushawk_nats::async_nats::jetstream;
use statushawk_schemas::{ConfigChange, ConfigOp, Region, now_ms};
use tower::ServiceExt;

fn http_monitor(url: &str) -> Value {
    json!({"name": "Checkout API", "spec": {"kind": "http", "url": url}})
}

/// Marks the team tokens as last used `ago`, uses `token`, and returns when
/// the list says it was last used.
async fn used_again(app: &App, owner: &str, token: &str, ago: &str) -> i64 {
    sqlx::query("UPDATE api_tokens SET last_used_at = now() - $1::text::interval WHERE NOT session")
        .bind(ago)
        .execute(&app.pg)
        .await
        .unwrap();
    assert_eq!(app.call("GET", "/api/v1/monitors", Some(token), None).await.0, StatusCode::OK);
    let (_, tokens) = app.call("GET", "/api/v1/tokens", Some(owner), None).await;
    tokens[0]["last_used_at_ms"].as_i64().unwrap()
}

#[tokio::test]
async fn sign_up_login_and_api_tokens() {
    let app = App::new().await;
    let owner = app.sign_up("Ada@Shop.example", "Shop").await;
    assert_eq!(app.call("GET", "/api/v1/monitors", Some(&owner), None).await.0, StatusCode::OK);
    assert_eq!(app.call("GET", "/api/v1/monitors", None, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.call("GET", "/api/v1/monitors", Some("shk_nope"), None).await.0, StatusCode::UNAUTHORIZED);

    let (status, _) = app
        .call("POST", "/api/v1/login", None, Some(json!({"email": "ada@shop.example", "password": "wrong password!"})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, session) = app
        .call(
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"email": "ada@shop.example", "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["role"], "owner");
    let login = session["token"].as_str().unwrap();
    assert_eq!(app.call("GET", "/api/v1/monitors", Some(login), None).await.0, StatusCode::OK);

    let (status, body) = app
        .call(
            "POST",
            "/api/v1/signup",
            None,
            Some(json!({"email": "ada@shop.example", "password": "correct horse battery", "team_name": "Other"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let viewer = app.token(&owner, "viewer").await;
    assert!(viewer.starts_with("shk_"));
    let (_, tokens) = app.call("GET", "/api/v1/tokens", Some(&owner), None).await;
    let listed = &tokens.as_array().unwrap()[0];
    assert_eq!(listed["role"], "viewer");
    assert!(listed.get("token").is_none(), "a token is shown once: {listed}");
    assert!(viewer.starts_with(listed["prefix"].as_str().unwrap()));
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT token_hash FROM api_tokens WHERE NOT session").fetch_one(&app.pg).await.unwrap();
    assert_ne!(stored, viewer.as_bytes(), "only a hash is stored");

    // When a token was last used shows in the list, recorded at most once a
    // minute.
    assert!(listed["last_used_at_ms"].is_null(), "{listed}");
    let before_use = now_ms();
    assert_eq!(app.call("GET", "/api/v1/monitors", Some(&viewer), None).await.0, StatusCode::OK);
    let (_, tokens) = app.call("GET", "/api/v1/tokens", Some(&owner), None).await;
    let used = tokens[0]["last_used_at_ms"].as_i64().unwrap();
    assert!(used >= before_use - 1_000, "{used} < {before_use}");
    let now = now_ms();
    assert!(
        used_again(&app, &owner, &viewer, "30 seconds").await < now - 20_000,
        "used again within the minute: not rewritten"
    );
    assert!(
        used_again(&app, &owner, &viewer, "2 minutes").await >= now - 1_000,
        "used again after a minute: rewritten"
    );

    let id = listed["id"].as_str().unwrap();
    assert_eq!(app.call("DELETE", &format!("/api/v1/tokens/{id}"), Some(&owner), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.call("GET", "/api/v1/monitors", Some(&viewer), None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn monitors_are_validated_stored_and_announced_on_config() {
    let app = App::new().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let subject = app.topology.subject("config.monitors.>");
    let mut config = app
        .js
        .get_stream(app.topology.stream(statushawk_nats::CONFIG))
        .await
        .unwrap()
        .create_consumer(jetstream::consumer::pull::OrderedConfig { filter_subject: subject, ..Default::default() })
        .await
        .unwrap()
        .messages()
        .await
        .unwrap();
    let mut next_change = async || -> ConfigChange {
        let message = tokio::time::timeout(Duration::from_secs(10), config.next()).await.unwrap().unwrap().unwrap();
        serde_json::from_slice(&message.payload).unwrap()
    };

    let (status, monitor) =
        app.call("POST", "/api/v1/monitors", Some(&owner), Some(http_monitor("https://shop.example/health"))).await;
    assert_eq!(status, StatusCode::CREATED, "{monitor}");
    assert_eq!(monitor["interval_ms"], 60_000);
    assert_eq!(monitor["regions"], json!(["eu-west", "us-east", "ap-south"]));
    assert_eq!(monitor["quorum"], 2, "a majority of three regions");
    assert_eq!(monitor["spec"], json!({"kind": "http", "url": "https://shop.example/health"}));
    let id = monitor["id"].as_str().unwrap().to_owned();
    let ConfigOp::MonitorUpserted { monitor: announced } = next_change().await.op else { panic!("an upsert") };
    assert_eq!(announced.id.to_string(), id);
    assert_eq!(announced.quorum, 2);

    let mut changed = http_monitor("https://shop.example/health");
    changed["interval_ms"] = json!(30_000);
    changed["regions"] = json!(["eu-west"]);
    let (status, monitor) = app.call("PUT", &format!("/api/v1/monitors/{id}"), Some(&owner), Some(changed)).await;
    assert_eq!(status, StatusCode::OK, "{monitor}");
    assert_eq!((monitor["interval_ms"].clone(), monitor["quorum"].clone()), (json!(30_000), json!(1)));
    let ConfigOp::MonitorUpserted { monitor: announced } = next_change().await.op else { panic!("an upsert") };
    assert_eq!(announced.interval_ms, 30_000);

    let (_, monitor) = app.call("POST", &format!("/api/v1/monitors/{id}/pause"), Some(&owner), None).await;
    assert_eq!(monitor["paused"], true);
    let ConfigOp::MonitorUpserted { monitor: announced } = next_change().await.op else { panic!("an upsert") };
    assert!(announced.paused);

    let (_, list) = app.call("GET", "/api/v1/monitors", Some(&owner), None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        app.call("DELETE", &format!("/api/v1/monitors/{id}"), Some(&owner), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert!(matches!(next_change().await.op, ConfigOp::MonitorDeleted { .. }));
    let (status, body) = app.call("GET", &format!("/api/v1/monitors/{id}"), Some(&owner), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn invalid_monitors_are_refused_naming_the_field() {
    let app = App::new().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let with = |patch: Value| {
        let mut monitor = http_monitor("https://shop.example/");
        for (key, value) in patch.as_object().unwrap() {
            monitor[key] = value.clone();
        }
        monitor
    };
    let cases = [
        (with(json!({"interval_ms": 5_000})), "interval_ms"),
        (with(json!({"timeout_ms": 70_000})), "timeout_ms"),
        (with(json!({"regions": ["mars"]})), "regions[0]"),
        (with(json!({"regions": ["eu-west", "eu-west"]})), "regions[1]"),
        (with(json!({"quorum": 4})), "quorum"),
        (with(json!({"name": " "})), "name"),
        (with(json!({"spec": {"kind": "http", "url": "ftp://shop.example/"}})), "spec.url"),
        (with(json!({"spec": {"kind": "http", "url": "http://169.254.169.254/latest/meta-data"}})), "spec.url"),
        (with(json!({"spec": {"kind": "http", "url": "http://0x7f.1/"}})), "spec.url"),
        (with(json!({"spec": {"kind": "tcp", "host": "10.1.2.3", "port": 5432}})), "spec.host"),
        (with(json!({"spec": {"kind": "tcp", "host": "[::ffff:192.168.0.1]", "port": 22}})), "spec.host"),
        (
            with(json!({"spec": {"kind": "heartbeat", "period_ms": 60000, "cron": "* * * * *", "grace_ms": 1000}})),
            "spec.period_ms",
        ),
        (with(json!({"spec": {"kind": "heartbeat", "cron": "at noon", "grace_ms": 1000}})), "spec.cron"),
        (with(json!({"colour": "red"})), "colour"),
    ];
    for (body, field) in cases {
        let (status, answer) = app.call("POST", "/api/v1/monitors", Some(&owner), Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} gave {answer}");
        assert_eq!(answer["error"]["field"], field, "{body} gave {answer}");
    }
    let (_, list) = app.call("GET", "/api/v1/monitors", Some(&owner), None).await;
    assert_eq!(list, json!([]), "nothing was stored");
}

/// Each role against each mutating endpoint.
#[tokio::test]
async fn roles_decide_who_changes_what() {
    let app = App::new().await;
    let owner = app.sign_up("owner@shop.example", "Shop").await;
    let (_, monitor) =
        app.call("POST", "/api/v1/monitors", Some(&owner), Some(http_monitor("https://shop.example/"))).await;
    let monitor = monitor["id"].as_str().unwrap().to_owned();
    let slack =
        json!({"name": "Ops", "kind": "slack", "settings": {"webhook_url": "https://hooks.slack.example/T/B/X"}});
    let (_, channel) = app.call("POST", "/api/v1/channels", Some(&owner), Some(slack.clone())).await;
    let channel = channel["id"].as_str().unwrap().to_owned();

    for (role, edits, administers) in
        [("owner", true, true), ("admin", true, true), ("member", true, false), ("viewer", false, false)]
    {
        let token = if role == "owner" { owner.clone() } else { app.token(&owner, role).await };
        let expect = |allowed: bool, ok: StatusCode| if allowed { ok } else { StatusCode::FORBIDDEN };
        let t = Some(token.as_str());
        let cases: Vec<(&str, String, Option<Value>, StatusCode)> = vec![
            (
                "POST",
                "/api/v1/monitors".into(),
                Some(http_monitor("https://shop.example/a")),
                expect(edits, StatusCode::CREATED),
            ),
            (
                "PUT",
                format!("/api/v1/monitors/{monitor}"),
                Some(http_monitor("https://shop.example/b")),
                expect(edits, StatusCode::OK),
            ),
            ("POST", format!("/api/v1/monitors/{monitor}/pause"), None, expect(edits, StatusCode::OK)),
            ("POST", format!("/api/v1/monitors/{monitor}/resume"), None, expect(edits, StatusCode::OK)),
            (
                "PUT",
                format!("/api/v1/monitors/{monitor}/channels"),
                Some(json!({"channel_ids": [channel]})),
                expect(edits, StatusCode::OK),
            ),
            ("POST", "/api/v1/channels".into(), Some(slack.clone()), expect(administers, StatusCode::CREATED)),
            (
                "PUT",
                format!("/api/v1/channels/{channel}"),
                Some(json!({"name": "Ops 2", "kind": "slack", "settings": {}})),
                expect(administers, StatusCode::OK),
            ),
            (
                "POST",
                "/api/v1/tokens".into(),
                Some(json!({"name": "ci", "role": "viewer"})),
                expect(administers, StatusCode::CREATED),
            ),
            ("GET", "/api/v1/tokens".into(), None, expect(administers, StatusCode::OK)),
            ("GET", "/api/v1/monitors".into(), None, StatusCode::OK),
            ("GET", format!("/api/v1/channels/{channel}"), None, StatusCode::OK),
        ];
        for (method, path, body, expected) in cases {
            let (status, answer) = app.call(method, &path, t, body).await;
            assert_eq!(status, expected, "{role}: {method} {path}: {answer}");
        }
        // Deleting, with things of its own to delete.
        let (_, spare) =
            app.call("POST", "/api/v1/monitors", Some(&owner), Some(http_monitor("https://shop.example/c"))).await;
        let spare = spare["id"].as_str().unwrap().to_owned();
        assert_eq!(
            app.call("DELETE", &format!("/api/v1/monitors/{spare}"), t, None).await.0,
            expect(edits, StatusCode::NO_CONTENT),
            "{role}"
        );
        let (_, spare) = app.call("POST", "/api/v1/channels", Some(&owner), Some(slack.clone())).await;
        let spare = spare["id"].as_str().unwrap().to_owned();
        assert_eq!(
            app.call("DELETE", &format!("/api/v1/channels/{spare}"), t, None).await.0,
            expect(administers, StatusCode::NO_CONTENT),
            "{role}"
        );
    }
    // An admin cannot mint an owner token.
    let admin = app.token(&owner, "admin").await;
    let (status, _) =
        app.call("POST", "/api/v1/tokens", Some(&admin), Some(json!({"name": "x", "role": "owner"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn teams_cannot_see_or_touch_each_others_things() {
    let app = App::new().await.with_notifier().await;
    let a = app.sign_up("a@one.example", "One").await;
    let b = app.sign_up("b@two.example", "Two").await;
    let (_, monitor) = app.call("POST", "/api/v1/monitors", Some(&a), Some(http_monitor("https://one.example/"))).await;
    let monitor = monitor["id"].as_str().unwrap().to_owned();
    let slack =
        json!({"name": "Ops", "kind": "slack", "settings": {"webhook_url": "https://hooks.slack.example/T/B/X"}});
    let (_, channel) = app.call("POST", "/api/v1/channels", Some(&a), Some(slack.clone())).await;
    let channel = channel["id"].as_str().unwrap().to_owned();
    let (_, token) = app.call("GET", "/api/v1/tokens", Some(&a), None).await;
    assert_eq!(token, json!([]));
    let a_token = app.token(&a, "viewer").await;
    let (_, tokens) = app.call("GET", "/api/v1/tokens", Some(&a), None).await;
    let a_token_id = tokens[0]["id"].as_str().unwrap().to_owned();

    for (method, path, body) in [
        ("GET", format!("/api/v1/monitors/{monitor}"), None),
        ("PUT", format!("/api/v1/monitors/{monitor}"), Some(http_monitor("https://two.example/"))),
        ("POST", format!("/api/v1/monitors/{monitor}/pause"), None),
        ("PUT", format!("/api/v1/monitors/{monitor}/channels"), Some(json!({"channel_ids": []}))),
        ("DELETE", format!("/api/v1/monitors/{monitor}"), None),
        ("GET", format!("/api/v1/channels/{channel}"), None),
        ("PUT", format!("/api/v1/channels/{channel}"), Some(json!({"name": "Mine", "kind": "slack", "settings": {}}))),
        ("DELETE", format!("/api/v1/channels/{channel}"), None),
        ("POST", "/api/v1/integrations/test".into(), Some(json!({"channel_id": channel}))),
        ("DELETE", format!("/api/v1/tokens/{a_token_id}"), None),
    ] {
        let (status, answer) = app.call(method, &path, Some(&b), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
    }
    assert_eq!(app.call("GET", "/api/v1/monitors", Some(&b), None).await.1, json!([]));
    assert_eq!(app.call("GET", "/api/v1/channels", Some(&b), None).await.1, json!([]));
    // B's monitor cannot be linked to A's channel.
    let (_, own) = app.call("POST", "/api/v1/monitors", Some(&b), Some(http_monitor("https://two.example/"))).await;
    let own = own["id"].as_str().unwrap();
    let (status, answer) = app
        .call("PUT", &format!("/api/v1/monitors/{own}/channels"), Some(&b), Some(json!({"channel_ids": [channel]})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "channel_ids[0]");
    // A's things are untouched, A's token still works.
    assert_eq!(app.call("GET", &format!("/api/v1/monitors/{monitor}"), Some(&a_token), None).await.1["paused"], false);
}

/// A local HTTP endpoint answering with `status`, recording bodies.
async fn endpoint(status: u16) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    let app = axum::Router::new().fallback(move |body: String| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(body);
            (StatusCode::from_u16(status).unwrap(), "provider says no")
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

#[tokio::test]
async fn channel_secrets_never_leave_and_test_sends_report_the_outcome() {
    let app = App::new().await.with_notifier().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let (url, received) = endpoint(200).await;
    let (status, channel) = app
        .call(
            "POST",
            "/api/v1/channels",
            Some(&owner),
            Some(json!({"name": "Ops", "kind": "slack", "settings": {"webhook_url": url}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    assert_eq!(channel["settings"], json!({}), "the webhook URL is secret");
    assert_eq!(channel["secrets_set"], json!(["webhook_url"]));
    let id = channel["id"].as_str().unwrap().to_owned();
    let ciphertext: Vec<u8> =
        sqlx::query_scalar("SELECT secret_ciphertext FROM channels").fetch_one(&app.pg).await.unwrap();
    assert!(!String::from_utf8_lossy(&ciphertext).contains("/hook"), "sealed at rest");
    let (_, listed) = app.call("GET", "/api/v1/channels", Some(&owner), None).await;
    assert!(!listed.to_string().contains("/hook"), "{listed}");

    // A PUT without the secret keeps it.
    let (status, _) = app
        .call(
            "PUT",
            &format!("/api/v1/channels/{id}"),
            Some(&owner),
            Some(json!({"name": "Ops room", "kind": "slack", "settings": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, result) =
        app.call("POST", "/api/v1/integrations/test", Some(&owner), Some(json!({"channel_id": id}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(result["delivered"], true, "{result}");
    assert!(received.lock().unwrap()[0].contains("StatusHawk test notification"));

    let (refusing, _) = endpoint(400).await;
    let (_, channel) = app
        .call(
            "POST",
            "/api/v1/channels",
            Some(&owner),
            Some(json!({"name": "Bad", "kind": "discord", "settings": {"webhook_url": refusing}})),
        )
        .await;
    let (_, result) =
        app.call("POST", "/api/v1/integrations/test", Some(&owner), Some(json!({"channel_id": channel["id"]}))).await;
    assert_eq!(result["delivered"], false);
    assert_eq!(result["http_status"], 400);
    assert!(result["error"].as_str().unwrap().contains("provider says no"), "{result}");

    let (status, answer) = app
        .call("POST", "/api/v1/channels", Some(&owner), Some(json!({"name": "X", "kind": "webhook", "settings": {"url": "https://x.example", "signing_secret": "short"}})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["error"]["field"], "settings.signing_secret");
    let _ = &app.env;
}

#[tokio::test]
async fn members_roles_take_effect_at_once_and_a_team_keeps_an_owner() {
    let app = App::new().await;
    let owner = app.sign_up("owner@shop.example", "Shop").await;
    let bob_elsewhere = app.sign_up("bob@elsewhere.example", "Bob's").await;
    let (status, invitation) = app
        .call(
            "POST",
            "/api/v1/invitations",
            Some(&owner),
            Some(json!({"email": "Bob@elsewhere.example", "role": "viewer"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invitation}");
    let (status, joined) = app
        .call("POST", "/api/v1/invitations/accept", Some(&bob_elsewhere), Some(json!({"token": invitation["token"]})))
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let bob_id = joined["user_id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/invitations",
            Some(&owner),
            Some(json!({"email": "bob@elsewhere.example", "role": "admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "already a member");

    let (status, session) = app
        .call(
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"email": "bob@elsewhere.example", "password": "correct horse battery", "team": "shop"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["role"], "viewer");
    let bob = session["token"].as_str().unwrap().to_owned();
    let monitor = Some(http_monitor("https://shop.example/"));
    assert_eq!(app.call("POST", "/api/v1/monitors", Some(&bob), monitor.clone()).await.0, StatusCode::FORBIDDEN);
    let (status, _) =
        app.call("PUT", &format!("/api/v1/members/{bob_id}"), Some(&owner), Some(json!({"role": "member"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.call("POST", "/api/v1/monitors", Some(&bob), monitor.clone()).await.0,
        StatusCode::CREATED,
        "the same session, promoted"
    );

    let admin = app.token(&owner, "admin").await;
    let (status, _) =
        app.call("PUT", &format!("/api/v1/members/{bob_id}"), Some(&admin), Some(json!({"role": "owner"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only owners make owners");
    let (_, members) = app.call("GET", "/api/v1/members", Some(&bob), None).await;
    assert_eq!(members.as_array().unwrap().len(), 2);
    let owner_id = members[0]["user_id"].as_str().unwrap().to_owned();
    let (status, _) = app.call("DELETE", &format!("/api/v1/members/{owner_id}"), Some(&owner), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "the last owner stays");
    let (status, _) =
        app.call("PUT", &format!("/api/v1/members/{owner_id}"), Some(&owner), Some(json!({"role": "admin"}))).await;
    assert_eq!(status, StatusCode::CONFLICT);

    assert_eq!(
        app.call("DELETE", &format!("/api/v1/members/{bob_id}"), Some(&admin), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.call("GET", "/api/v1/monitors", Some(&bob), None).await.0,
        StatusCode::UNAUTHORIZED,
        "removed: the session ends"
    );
}

#[tokio::test]
async fn incidents_show_evidence_and_a_timeline_people_add_to() {
    let app = App::new().await;
    let owner = app.sign_up("owner@shop.example", "Shop").await;
    let other = app.sign_up("owner@other.example", "Other").await;
    let (_, monitor) =
        app.call("POST", "/api/v1/monitors", Some(&owner), Some(http_monitor("https://shop.example/"))).await;
    let monitor = monitor["id"].as_str().unwrap().to_owned();
    let team: uuid::Uuid = sqlx::query_scalar("SELECT team_id FROM monitors").fetch_one(&app.pg).await.unwrap();
    let incident: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO incidents (team_id, monitor_id, started_at, cause, affected_regions) \
         VALUES ($1, $2::uuid, now() - interval '10 minutes', 'HTTP 503', '{eu-west,us-east}') RETURNING id",
    )
    .bind(team)
    .bind(&monitor)
    .fetch_one(&app.pg)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO region_outages (monitor_id, region, started_at, failing_strikes, last_error) \
         VALUES ($1::uuid, 'eu-west', now() - interval '11 minutes', 4, 'HTTP 503')",
    )
    .bind(&monitor)
    .execute(&app.pg)
    .await
    .unwrap();
    sqlx::query("INSERT INTO incident_updates (incident_id, status, source, message) VALUES ($1, 'investigating', 'system', 'Down in eu-west, us-east')")
        .bind(incident)
        .execute(&app.pg)
        .await
        .unwrap();

    let (_, open) = app.call("GET", "/api/v1/incidents?open=true", Some(&owner), None).await;
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    assert_eq!(open[0]["affected_regions"], json!(["eu-west", "us-east"]));
    let (_, resolved) = app.call("GET", "/api/v1/incidents?open=false", Some(&owner), None).await;
    assert_eq!(resolved, json!([]));
    let path = format!("/api/v1/incidents/{incident}");
    let (status, detail) = app.call("GET", &path, Some(&owner), None).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["regions"][0]["region"], "eu-west");
    assert_eq!(detail["regions"][0]["failing_strikes"], 4);
    assert_eq!(detail["updates"][0]["source"], "system");

    let update = json!({"status": "identified", "message": "A bad deploy; rolling back."});
    let viewer = app.token(&owner, "viewer").await;
    assert_eq!(
        app.call("POST", &format!("{path}/updates"), Some(&viewer), Some(update.clone())).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call("POST", &format!("{path}/updates"), Some(&other), Some(update.clone())).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.call("GET", &path, Some(&other), None).await.0, StatusCode::NOT_FOUND);
    let (status, timeline) = app.call("POST", &format!("{path}/updates"), Some(&owner), Some(update)).await;
    assert_eq!(status, StatusCode::CREATED, "{timeline}");
    assert_eq!(timeline[1]["source"], "user");
    assert_eq!(timeline[1]["message"], "A bad deploy; rolling back.");
    let (status, answer) = app
        .call("POST", &format!("{path}/updates"), Some(&owner), Some(json!({"status": "fixed?", "message": "x"})))
        .await;
    assert_eq!((status, answer["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("status")));
}

#[tokio::test]
async fn maintenance_windows_are_what_the_notifier_reads() {
    let app = App::new().await;
    let owner = app.sign_up("owner@shop.example", "Shop").await;
    let (_, monitor) =
        app.call("POST", "/api/v1/monitors", Some(&owner), Some(http_monitor("https://shop.example/"))).await;
    let monitor_id: uuid::Uuid = monitor["id"].as_str().unwrap().parse().unwrap();
    let team: uuid::Uuid = sqlx::query_scalar("SELECT team_id FROM monitors").fetch_one(&app.pg).await.unwrap();
    let now = now_ms();
    let covered = async || {
        statushawk_notifier::store::maintenance(
            &app.pg,
            statushawk_schemas::TeamId(team),
            statushawk_schemas::MonitorId(monitor_id),
            now_ms(),
        )
        .await
        .unwrap()
    };

    let (status, answer) = app
        .call("POST", "/api/v1/maintenance", Some(&owner), Some(json!({"title": "DB", "schedule": {"kind": "weekly", "weekdays": [1], "start_time": "02:00", "duration_minutes": 60, "timezone": "Mars/Olympus"}})))
        .await;
    assert_eq!((status, answer["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("timezone")));
    let (status, answer) = app
        .call(
            "POST",
            "/api/v1/maintenance",
            Some(&owner),
            Some(json!({"title": "DB", "schedule": {"kind": "one_off", "starts_at_ms": now, "ends_at_ms": now - 1}})),
        )
        .await;
    assert_eq!((status, answer["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("ends_at_ms")));
    assert_eq!(covered().await, None);

    let window = json!({"title": "Upgrade", "monitor_id": monitor_id, "schedule": {"kind": "one_off", "starts_at_ms": now - 60_000, "ends_at_ms": now + 3_600_000}});
    let viewer = app.token(&owner, "viewer").await;
    assert_eq!(
        app.call("POST", "/api/v1/maintenance", Some(&viewer), Some(window.clone())).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, created) = app.call("POST", "/api/v1/maintenance", Some(&owner), Some(window)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(covered().await.as_deref(), Some("Upgrade"));
    let id = created["id"].as_str().unwrap();

    // Every day, all day, team-wide, in Tokyo: still covered.
    let weekly = json!({"title": "Always", "schedule": {"kind": "weekly", "weekdays": [1, 2, 3, 4, 5, 6, 7], "start_time": "00:00", "duration_minutes": 1440, "timezone": "Asia/Tokyo"}});
    let (status, replaced) = app.call("PUT", &format!("/api/v1/maintenance/{id}"), Some(&owner), Some(weekly)).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["schedule"]["kind"], "weekly");
    assert_eq!(replaced["schedule"]["start_time"], "00:00");
    assert_eq!(covered().await.as_deref(), Some("Always"));
    let other = app.sign_up("x@other.example", "Other").await;
    assert_eq!(
        app.call("GET", &format!("/api/v1/maintenance/{id}"), Some(&other), None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call("DELETE", &format!("/api/v1/maintenance/{id}"), Some(&owner), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(covered().await, None);
}

/// Reads SSE frames from `body` until one contains `needle`, for at most `limit`.
async fn read_until(body: &mut Body, needle: &str, limit: Duration) -> Option<String> {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + limit;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await {
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
            if seen.contains(needle) {
                return Some(seen);
            }
        }
    }
    None
}

#[tokio::test]
async fn live_results_reach_connected_clients_of_the_right_team() {
    let app = App::new().await;
    let owner = app.sign_up("owner@shop.example", "Shop").await;
    let other = app.sign_up("owner@other.example", "Other").await;
    let (_, monitor) =
        app.call("POST", "/api/v1/monitors", Some(&owner), Some(http_monitor("https://shop.example/"))).await;
    let monitor_id: statushawk_schemas::MonitorId = serde_json::from_value(monitor["id"].clone()).unwrap();
    let team: uuid::Uuid = sqlx::query_scalar("SELECT team_id FROM monitors").fetch_one(&app.pg).await.unwrap();
    let open = |path: String, token: String| {
        let router = app.router.clone();
        async move {
            let request =
                Request::get(path).header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap();
            router.oneshot(request).await.unwrap()
        }
    };
    assert_eq!(
        open(format!("/api/v1/monitors/{monitor_id}/live"), other.clone()).await.status(),
        StatusCode::NOT_FOUND
    );
    let feed = open(format!("/api/v1/monitors/{monitor_id}/live"), owner.clone()).await;
    assert_eq!(feed.status(), StatusCode::OK);
    assert_eq!(feed.headers()["content-type"], "text/event-stream");
    let mut feed = feed.into_body();
    let mut team_feed = open("/api/v1/live".into(), owner.clone()).await.into_body();
    let mut other_feed = open("/api/v1/live".into(), other.clone()).await.into_body();

    // Results keep coming, as from a prober (the subscriptions may need a
    // moment to reach the server).
    let subject = app.topology.subject(&statushawk_schemas::subject::check_result(
        monitor_id,
        &Region::new("eu-west").unwrap(),
        app.topology.partitions,
    ));
    // A whole `CheckResult`: the feeds show nothing else.
    let now = statushawk_schemas::now_ms();
    let payload = json!({
        "monitor_id": monitor_id, "team_id": team, "region": "eu-west", "status": "up", "slot_ms": now,
        "attempt": 0, "prober_id": "p1", "started_at_ms": now, "timings": {"total_ms": 12}
    })
    .to_string();
    let nats = app.env.nats().await;
    let publishing = tokio::spawn(async move {
        loop {
            nats.publish(subject.clone(), payload.clone().into()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let got = read_until(&mut feed, &monitor_id.to_string(), Duration::from_secs(10)).await;
    assert!(got.as_deref().is_some_and(|s| s.contains("event: result")), "the monitor's feed: {got:?}");
    let got = read_until(&mut team_feed, &monitor_id.to_string(), Duration::from_secs(10)).await;
    assert!(got.is_some(), "the team's feed");
    let leaked = read_until(&mut other_feed, &monitor_id.to_string(), Duration::from_secs(1)).await;
    assert!(leaked.is_none(), "another team's feed got {leaked:?}");
    publishing.abort();
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled_per_address() {
    let app = App::new().await;
    app.sign_up("ada@shop.example", "Shop").await;
    app.sign_up("bob@shop.example", "Bob").await;
    let login = |email: &str, password: &str| {
        app.call("POST", "/api/v1/login", None, Some(json!({"email": email, "password": password})))
    };
    for _ in 0..statushawk_api::users::LOGIN_ATTEMPTS_PER_ACCOUNT {
        assert_eq!(login("ada@shop.example", "wrong password!").await.0, StatusCode::UNAUTHORIZED);
    }
    let (status, answer) = login("ADA@shop.example", "correct horse battery").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits: {answer}");
    assert_eq!(answer["error"]["code"], "rate_limited");
    assert_eq!(
        login("bob@shop.example", "correct horse battery").await.0,
        StatusCode::OK,
        "other addresses are not affected"
    );
}

#[tokio::test]
async fn public_routes_are_rate_limited_per_client() {
    let app = App::new().await;
    for _ in 0..statushawk_api::middleware::PUBLIC_REQUESTS {
        let (status, _) = app.call("GET", "/api/v1/public/status/nobody-here", None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _, body) = app.raw("GET", "/status/nobody-here", None, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("rate_limited"), "{body}");
    // Authenticated routes are not affected.
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    assert_eq!(app.call("GET", "/api/v1/monitors", Some(&owner), None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = App::new().await;
    let (status, document) = app.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/api/v1/monitors/{id}",
        "/api/v1/monitors/{id}/uptime",
        "/api/v1/status-pages/{id}",
        "/api/v1/public/status/{slug}",
        "/api/v1/maintenance/{id}",
        "/api/v1/incidents/{id}/updates",
    ] {
        assert!(paths.contains_key(path), "{path} is not described");
    }
    // A query string the API does not know is a JSON error naming it.
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let (status, body) = app.call("GET", "/api/v1/incidents?bogus=1", Some(&owner), None).await;
    assert_eq!((status, &body["error"]["field"]), (StatusCode::BAD_REQUEST, &json!("bogus")));
}

#[tokio::test]
async fn heartbeat_pings_are_published_cut_and_limited_per_token() {
    let app = App::new().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let create = |name: &'static str| {
        let (app, owner) = (&app, &owner);
        async move {
            let (status, monitor) = app
                .call(
                    "POST",
                    "/api/v1/monitors",
                    Some(owner),
                    Some(json!({"name": name, "spec": {"kind": "heartbeat", "period_ms": 2000, "grace_ms": 1000}})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{monitor}");
            monitor
        }
    };
    let backup = create("Nightly backup").await;
    assert_eq!(backup["regions"], json!(["heartbeat"]));
    assert_eq!((&backup["confirmations"], &backup["quorum"]), (&json!(1), &json!(1)));
    let token = backup["ping_token"].as_str().unwrap().to_owned();
    let (_, read) =
        app.call("GET", &format!("/api/v1/monitors/{}", backup["id"].as_str().unwrap()), Some(&owner), None).await;
    assert!(read.get("ping_token").is_none(), "the token is shown once: {read}");
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/monitors",
            Some(&owner),
            Some(json!({"name": "x", "spec": {"kind": "heartbeat", "grace_ms": 1000}})),
        )
        .await;
    assert_eq!((status, &body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("spec.period_ms")));

    let nats = app.env.nats().await;
    let mut pings = nats.subscribe(app.topology.subject("heartbeats.>")).await.unwrap();
    // The subscription must reach the server before the first ping is published.
    nats.flush().await.unwrap();
    let mut next = async || -> Value {
        let message = tokio::time::timeout(Duration::from_secs(5), pings.next()).await.unwrap().unwrap();
        serde_json::from_slice(&message.payload).unwrap()
    };
    for (path, kind, exit_code) in [
        (format!("/ping/{token}"), "success", Value::Null),
        (format!("/ping/{token}/start?rid=r1"), "start", Value::Null),
        (format!("/ping/{token}/fail"), "fail", Value::Null),
        (format!("/ping/{token}/0"), "success", json!(0)),
    ] {
        let (status, _, body) = app.raw("GET", &path, None, None).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "OK\n"), "{path}");
        let ping = next().await;
        assert_eq!(
            (&ping["kind"], ping.get("exit_code").unwrap_or(&Value::Null)),
            (&json!(kind), &exit_code),
            "{path}"
        );
        assert_eq!(ping["monitor_id"], backup["id"]);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A 1 MiB log is taken, and its first 10 KiB kept.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let request = axum::http::Request::builder()
        .method("POST")
        .uri(format!("/ping/{token}/17"))
        .body(axum::body::Body::from(vec![b'x'; 1 << 20]))
        .unwrap();
    let response = tower::ServiceExt::oneshot(app.router.clone(), request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let ping = next().await;
    assert_eq!((&ping["kind"], &ping["exit_code"]), (&json!("fail"), &json!(17)));
    assert_eq!(ping["body"].as_str().unwrap().len(), statushawk_api::pings::BODY_KEPT);

    // Unknown tokens and kinds.
    assert_eq!(app.raw("GET", "/ping/0123456789abcdef", None, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.raw("GET", &format!("/ping/{token}/256"), None, None).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    // A run id the evaluator could not keep (a NUL, a control character) is refused naming it.
    for rid in ["a%00b", "a%0Ab", &"r".repeat(65)] {
        let (status, _, body) = app.raw("GET", &format!("/ping/{token}/start?rid={rid}"), None, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{rid}");
        assert!(body.contains("\"rid\""), "{rid}: {body}");
    }

    // A flood: limited per token, the others unaffected.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut answers = Vec::new();
    for _ in 0..(statushawk_api::pings::PINGS_PER_TOKEN + 3) {
        answers.push(app.raw("POST", &format!("/ping/{token}"), None, None).await.0);
    }
    assert_eq!(answers.iter().filter(|s| **s == StatusCode::OK).count(), statushawk_api::pings::PINGS_PER_TOKEN);
    assert_eq!(answers.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
    let other = create("Queue worker").await;
    let other_token = other["ping_token"].as_str().unwrap();
    assert_eq!(app.raw("HEAD", &format!("/ping/{other_token}"), None, None).await.0, StatusCode::OK);

    // Rotation: the old token stops working, the new one works.
    let (status, rotated) = app
        .call("POST", &format!("/api/v1/monitors/{}/ping-token", backup["id"].as_str().unwrap()), Some(&owner), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_token = rotated["ping_token"].as_str().unwrap();
    assert_ne!(new_token, token);
    tokio::time::sleep(Duration::from_secs(1)).await; // the flood's second is over
    assert_eq!(app.raw("GET", &format!("/ping/{token}"), None, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.raw("GET", &format!("/ping/{new_token}"), None, None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_heartbeat_benchmark_counts_what_the_stream_holds() {
    let app = App::new().await;
    let settings = statushawk_api::bench::BenchSettings { pings: 600, tokens: 50, concurrency: 8 };
    let report = statushawk_api::bench::run(app.deps.clone(), settings).await.unwrap();
    assert_eq!((report.accepted, report.refused, report.stream_messages), (600, 0, 600), "{report:?}");
    assert!(report.pings_per_sec > 0.0);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM monitors").fetch_one(&app.pg).await.unwrap();
    assert_eq!(left, 0, "the benchmark removes its monitors");
}

/// Log lines written to memory, for reading them back.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn every_request_logs_in_one_span_with_its_route_and_team() {
    let app = App::new().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let team: String =
        sqlx::query_scalar("SELECT id::text FROM teams WHERE slug = 'shop'").fetch_one(&app.pg).await.unwrap();
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    {
        let _default = tracing::subscriber::set_default(subscriber);
        let (status, body) = app.call("GET", "/api/v1/monitors", Some(&owner), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let logged: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let finished = logged
        .iter()
        .find(|line| line["fields"]["message"] == "finished processing request")
        .unwrap_or_else(|| panic!("no request line in {text}"));
    assert_eq!(finished["span"]["name"], "request", "{finished}");
    assert_eq!(finished["span"]["route"], "/api/v1/monitors", "{finished}");
    assert_eq!(finished["span"]["method"], "GET", "{finished}");
    assert_eq!(finished["span"]["team_id"], team, "{finished}");
}

#[tokio::test]
async fn a_request_continues_its_clients_trace_and_hands_it_to_the_change_it_announces() {
    let app = App::new().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let mut config = app
        .js
        .get_stream(app.topology.stream(statushawk_nats::CONFIG))
        .await
        .unwrap()
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: app.topology.subject("config.monitors.>"),
            ..Default::default()
        })
        .await
        .unwrap()
        .messages()
        .await
        .unwrap();
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let client = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let response = {
        let _default = tracing::subscriber::set_default(subscriber);
        let request = Request::builder()
            .method("POST")
            .uri("/api/v1/monitors")
            .header("authorization", format!("Bearer {owner}"))
            .header("content-type", "application/json")
            .header("traceparent", client)
            .body(Body::from(http_monitor("https://shop.example/health").to_string()))
            .unwrap();
        app.router.clone().oneshot(request).await.unwrap()
    };
    assert_eq!(response.status(), StatusCode::CREATED);

    // The request's span is a hop of the client's trace, and says so back.
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let logged: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let finished = logged
        .iter()
        .find(|line| line["fields"]["message"] == "finished processing request")
        .unwrap_or_else(|| panic!("no request line in {text}"));
    let span = &finished["span"];
    assert_eq!(span["trace_id"], "0af7651916cd43dd8448eb211c80319c", "{finished}");
    assert_eq!(span["parent_id"], "b7ad6b7169203331", "{finished}");
    let hop = span["span_id"].as_str().unwrap();
    assert_eq!(hop.len(), 16);
    let answered = response.headers()["traceresponse"].to_str().unwrap();
    assert_eq!(answered, format!("00-0af7651916cd43dd8448eb211c80319c-{hop}-01"));

    // The configuration change it announced carries the request's hop.
    let message = tokio::time::timeout(Duration::from_secs(10), config.next()).await.unwrap().unwrap().unwrap();
    let header = message.headers.as_ref().and_then(|h| h.get("traceparent")).map(|v| v.as_str().to_owned());
    assert_eq!(header.as_deref(), Some(answered));

    // A malformed traceparent is ignored: the request starts a trace of its own.
    let request = Request::builder()
        .uri("/api/v1/monitors")
        .header("authorization", format!("Bearer {owner}"))
        .header("traceparent", "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01")
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let started = statushawk_nats::TraceContext::parse(response.headers()["traceresponse"].to_str().unwrap()).unwrap();
    assert_ne!(started.trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
}
