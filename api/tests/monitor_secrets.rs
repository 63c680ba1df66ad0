//! Monitor credentials (HTTP header values, request bodies, TCP payloads):
//! sealed at rest and on `CONFIG`, write-only in the API for every role,
//! kept on a `PUT` that leaves them out, and dropped when the check moves to
//! another target.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use futures::StreamExt;
use serde_json::{Value, json};
use statushawk_common::secrets::Sealed;
use statushawk_nats::async_nats::jetstream;
use statushawk_schemas::{CheckSpec, ConfigChange, ConfigOp, MonitorId, SpecSecrets};
use support::App;

const KEY: &str = "Bearer sk_live_0123456789";
const BODY: &str = "{\"password\":\"hunter2\"}";

fn with_credentials(url: &str) -> Value {
    json!({
        "name": "Billing API",
        "spec": {
            "kind": "http", "url": url, "method": "POST", "body": BODY,
            "headers": [{"name": "Authorization", "value": KEY}, {"name": "Accept", "value": "application/json"}]
        }
    })
}

/// What Postgres holds of a monitor: its spec and its sealed secrets, opened
/// with the deployment's key.
async fn stored(app: &App, id: &str) -> (Value, SpecSecrets) {
    let (spec, ciphertext, nonce): (Value, Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT spec, secret_ciphertext, secret_nonce FROM monitors WHERE id = $1::uuid")
            .bind(id)
            .fetch_one(&app.pg)
            .await
            .unwrap();
    let opened = app
        .deps
        .secrets
        .as_ref()
        .unwrap()
        .open_spec_secrets(MonitorId(id.parse().unwrap()), &Sealed { ciphertext, nonce })
        .unwrap();
    (spec, opened)
}

#[tokio::test]
async fn monitor_credentials_are_sealed_at_rest_and_never_answered() {
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

    let (status, monitor) =
        app.call("POST", "/api/v1/monitors", Some(&owner), Some(with_credentials("https://billing.example/"))).await;
    assert_eq!(status, StatusCode::CREATED, "{monitor}");
    let id = monitor["id"].as_str().unwrap().to_owned();
    let viewer = app.token(&owner, "viewer").await;
    for (who, token) in [("owner", &owner), ("viewer", &viewer)] {
        let (_, one) = app.call("GET", &format!("/api/v1/monitors/{id}"), Some(token), None).await;
        let (_, all) = app.call("GET", "/api/v1/monitors", Some(token), None).await;
        for answer in [&monitor, &one, &all[0]] {
            let text = answer.to_string();
            assert!(!text.contains("sk_live") && !text.contains("hunter2"), "{who} sees a secret: {text}");
            assert!(!text.contains("application/json"), "every header value is write-only: {text}");
            assert!(answer.get("sealed_secrets").is_none(), "{text}");
            assert_eq!(answer["spec"]["headers"], json!([{"name": "Authorization"}, {"name": "Accept"}]));
            assert_eq!(
                answer["secrets_set"],
                json!(["spec.headers[0].value", "spec.headers[1].value", "spec.body"]),
                "set, not shown"
            );
        }
    }

    // At rest: the spec has no value, the sealed part has them all.
    let (spec, secrets) = stored(&app, &id).await;
    assert!(!spec.to_string().contains("sk_live") && !spec.to_string().contains("hunter2"), "{spec}");
    assert_eq!(secrets.headers, [Some(KEY.to_owned()), Some("application/json".to_owned())]);
    assert_eq!(secrets.body.as_deref(), Some(BODY));

    // On CONFIG: sealed too, and what the scheduler opens is whole again.
    let message = tokio::time::timeout(Duration::from_secs(10), config.next()).await.unwrap().unwrap().unwrap();
    let text = String::from_utf8_lossy(&message.payload).into_owned();
    assert!(!text.contains("sk_live") && !text.contains("hunter2"), "{text}");
    let change: ConfigChange = serde_json::from_slice(&message.payload).unwrap();
    let ConfigOp::MonitorUpserted { monitor: announced } = change.op else { panic!("an upsert") };
    let mut check = announced.spec.check().unwrap();
    let sealed = Sealed::from_wire(announced.sealed_secrets.as_ref().unwrap()).unwrap();
    statushawk_common::secrets::restore_spec_secrets(
        app.deps.secrets.as_ref(),
        announced.id,
        Some(&sealed),
        &mut check,
    )
    .unwrap();
    let CheckSpec::Http(http) = check else { panic!("http") };
    assert_eq!(http.headers[0].value(), KEY);
    assert_eq!(http.body.as_deref(), Some(BODY));
}

#[tokio::test]
async fn a_put_keeps_credentials_it_leaves_out_unless_the_target_moves() {
    let app = App::new().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let (_, monitor) =
        app.call("POST", "/api/v1/monitors", Some(&owner), Some(with_credentials("https://billing.example/v1"))).await;
    let id = monitor["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/monitors/{id}");
    let put = |body: Value| app.call("PUT", &path, Some(&owner), Some(body));

    // The same server, a new path, headers named but not given, and the
    // Accept header changed: the Authorization value and the body are kept.
    let mut same_server = with_credentials("https://billing.example/v2");
    same_server["spec"]["headers"] = json!([{"name": "Accept", "value": "text/plain"}, {"name": "authorization"}]);
    same_server["spec"].as_object_mut().unwrap().remove("body");
    let (status, answer) = put(same_server).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, secrets) = stored(&app, &id).await;
    assert_eq!(secrets.headers, [Some("text/plain".to_owned()), Some(KEY.to_owned())], "kept by name");
    assert_eq!(secrets.body.as_deref(), Some(BODY));

    // Another server: nothing stored goes along.
    for url in ["https://attacker.example/v2", "http://billing.example/v2", "https://billing.example:8443/v2"] {
        let mut moved = with_credentials(url);
        moved["spec"]["headers"] = json!([{"name": "Accept", "value": "text/plain"}, {"name": "Authorization"}]);
        let (status, answer) = put(moved).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {answer}");
        assert_eq!(answer["error"]["field"], "spec.headers[1].value", "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains("target changed"), "{answer}");
    }
    let mut moved = with_credentials("https://attacker.example/v2");
    moved["spec"]["headers"] = json!([{"name": "Accept", "value": "text/plain"}]);
    moved["spec"].as_object_mut().unwrap().remove("body");
    let (status, answer) = put(moved).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, secrets) = stored(&app, &id).await;
    assert_eq!(secrets.headers, [Some("text/plain".to_owned())]);
    assert_eq!(secrets.body, None, "the body did not follow the monitor to the new server");
    assert_eq!(answer["secrets_set"], json!(["spec.headers[0].value"]));

    // A value is needed for a new header, and an empty body is none.
    let mut needs_value = with_credentials("https://attacker.example/v2");
    needs_value["spec"]["headers"] = json!([{"name": "X-New"}]);
    let (status, answer) = put(needs_value).await;
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("spec.headers[0].value"))
    );
    let mut cleared = with_credentials("https://attacker.example/v2");
    cleared["spec"]["body"] = json!("");
    cleared["spec"]["headers"] = json!([]);
    let (status, answer) = put(cleared).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["secrets_set"], json!([]));
    let ciphertext: Option<Vec<u8>> = sqlx::query_scalar("SELECT secret_ciphertext FROM monitors WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pg)
        .await
        .unwrap();
    assert!(ciphertext.is_none(), "nothing secret left to seal");
}

#[tokio::test]
async fn a_tcp_payload_is_a_secret_too() {
    let app = App::new().await;
    let owner = app.sign_up("ops@shop.example", "Shop").await;
    let tcp = json!({"name": "Redis", "spec": {"kind": "tcp", "host": "cache.example", "port": 6379, "send": "AUTH s3cret\r\n", "expect": "+OK"}});
    let (status, monitor) = app.call("POST", "/api/v1/monitors", Some(&owner), Some(tcp)).await;
    assert_eq!(status, StatusCode::CREATED, "{monitor}");
    assert!(monitor["spec"].get("send").is_none(), "{monitor}");
    assert_eq!(monitor["spec"]["expect"], "+OK", "what is not secret is shown");
    assert_eq!(monitor["secrets_set"], json!(["spec.send"]));
    let id = monitor["id"].as_str().unwrap();
    let moved =
        json!({"name": "Redis", "spec": {"kind": "tcp", "host": "evil.example", "port": 6379, "expect": "+OK"}});
    let (status, _) = app.call("PUT", &format!("/api/v1/monitors/{id}"), Some(&owner), Some(moved)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, secrets) = {
        let (spec, ciphertext): (Value, Option<Vec<u8>>) =
            sqlx::query_as("SELECT spec, secret_ciphertext FROM monitors WHERE id = $1::uuid")
                .bind(id)
                .fetch_one(&app.pg)
                .await
                .unwrap();
        (spec, ciphertext)
    };
    assert!(secrets.is_none(), "the payload did not follow the monitor to another host");
}
