//! A monitor's sealed credentials reach the due checks the scheduler
//! publishes, opened with the deployment's key, and only there; without the
//! key the monitor is not checked at all (rather than checked without them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

mod common;

use std::time::Duration;

use common::*;
use statushawk_common::secrets::SecretBox;
use statushawk_scheduler::{Deps, Settings};
use statushawk_schemas::{CheckSpec, Header, HttpSpec, MonitorId, MonitorSpec, TeamId};
use statushawk_testkit::TestEnv;
use tokio_util::sync::CancellationToken;

/// Inserts an HTTP monitor the way the API stores one with credentials: the
/// header value and body sealed, out of the spec.
async fn insert_sealed(pg: &sqlx::PgPool, key: &SecretBox, team: TeamId) -> MonitorId {
    let id = MonitorId::new();
    let mut http = HttpSpec::get("https://billing.example/health");
    http.headers = vec![Header::new("Authorization", "Bearer sk_live_42")];
    http.body = Some("ping".into());
    let mut spec = MonitorSpec::Http(http);
    let sealed = key.seal_spec_secrets(id, &spec.take_secrets()).unwrap();
    let mut settings = serde_json::to_value(&spec).unwrap();
    settings.as_object_mut().unwrap().remove("kind");
    assert!(!settings.to_string().contains("sk_live"));
    sqlx::query(
        "INSERT INTO monitors (id, team_id, name, kind, spec, interval_ms, timeout_ms, regions, \
                               secret_ciphertext, secret_nonce) \
         VALUES ($1, $2, 'billing', 'http', $3, 10000, 5000, $4, $5, $6)",
    )
    .bind(id.0)
    .bind(team.0)
    .bind(settings)
    .bind(regions().iter().map(|r| r.to_string()).collect::<Vec<_>>())
    .bind(&sealed.ciphertext)
    .bind(&sealed.nonce)
    .execute(pg)
    .await
    .unwrap();
    id
}

async fn run_for(deps: Deps, long: Duration) {
    let stop = CancellationToken::new();
    let settings = Settings { instance: "only".into(), reconcile_every: Duration::from_secs(60), max_backlog: 1_000 };
    let scheduler = tokio::spawn(statushawk_scheduler::run(settings, deps, stop.clone()));
    // Every monitor's slot comes within its 10 s interval.
    tokio::time::sleep(long).await;
    stop.cancel();
    scheduler.await.unwrap().unwrap();
}

#[tokio::test]
async fn due_checks_carry_the_credentials_opened_with_the_key() {
    let env = TestEnv::new().await;
    let (pg, js, topology) = setup(&env).await;
    let key = SecretBox::new(&[4u8; 32]).unwrap();
    let team = insert_team(&pg).await;
    let id = insert_sealed(&pg, &key, team).await;
    let deps = Deps { js: js.clone(), topology: topology.clone(), pg: pg.clone(), secrets: Some(key) };
    run_for(deps, Duration::from_millis(11_000)).await;
    let due: Vec<_> = drain(&js, &topology).await.into_iter().filter(|d| d.monitor_id == id).collect();
    for region in regions() {
        assert!(due.iter().any(|d| d.region == region), "checked from {region}: {due:?}");
    }
    for check in due {
        let CheckSpec::Http(http) = check.spec else { panic!("http") };
        assert_eq!(http.headers[0].value(), "Bearer sk_live_42");
        assert_eq!(http.body.as_deref(), Some("ping"));
    }
}

#[tokio::test]
async fn without_the_key_a_monitor_with_credentials_is_not_checked() {
    let env = TestEnv::new().await;
    let (pg, js, topology) = setup(&env).await;
    let key = SecretBox::new(&[4u8; 32]).unwrap();
    let team = insert_team(&pg).await;
    let sealed = insert_sealed(&pg, &key, team).await;
    let plain = insert_monitor(&pg, team, 10_000, false).await;
    let deps = Deps { js: js.clone(), topology: topology.clone(), pg: pg.clone(), secrets: None };
    run_for(deps, Duration::from_millis(11_000)).await;
    let due = drain(&js, &topology).await;
    assert!(due.iter().any(|d| d.monitor_id == plain), "the scheduler ran");
    assert!(due.iter().all(|d| d.monitor_id != sealed), "never checked without its credentials");
}
