//! Shared set-up of the scheduler's tests: real Postgres and NATS.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::StreamExt;
use sqlx::PgPool;
use statushawk_nats::async_nats::jetstream::{self, consumer::PullConsumer};
use statushawk_nats::{CHECKS_DUE, Publisher, Topology, prober_consumer};
use statushawk_schemas::{
    ConfigChange, ConfigOp, DueCheck, MonitorConfig, MonitorId, MonitorSpec, Region, SCHEMA_VERSION, TeamId, subject,
};
use statushawk_testkit::TestEnv;

pub const TTL: Duration = Duration::from_secs(2);

pub fn regions() -> Vec<Region> {
    vec![Region::new("eu-west").unwrap(), Region::new("us-east").unwrap()]
}

/// Migrated Postgres, a topology with short leases and (so that the test,
/// not the server, catches a double publish) a tiny duplicate window.
pub async fn setup(env: &TestEnv) -> (PgPool, jetstream::Context, Topology) {
    let config = statushawk_common::config::DatabaseConfig { url: env.database_url.clone().into(), max_connections: 4 };
    statushawk_common::migrate::postgres(&config).await.unwrap();
    let mut topology = Topology::new(&env.nats_prefix).unwrap();
    topology.regions = regions();
    topology.partitions = 1;
    topology.lease_ttl = TTL;
    topology.due_duplicate_window = Duration::from_millis(100);
    let js = jetstream::new(env.nats().await);
    topology.ensure(&js).await.unwrap();
    (env.pg().await, js, topology)
}

pub async fn insert_team(pool: &PgPool) -> TeamId {
    let id: uuid::Uuid = sqlx::query_scalar("INSERT INTO teams (name, slug) VALUES ('Acme', $1) RETURNING id")
        .bind(format!("acme-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]))
        .fetch_one(pool)
        .await
        .unwrap();
    TeamId(id)
}

/// Inserts an HTTP monitor checked from both regions.
pub async fn insert_monitor(pool: &PgPool, team: TeamId, interval_ms: i32, paused: bool) -> MonitorId {
    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO monitors (team_id, name, kind, spec, interval_ms, timeout_ms, regions, paused) \
         VALUES ($1, 'api', 'http', $2, $3, 5000, $4, $5) RETURNING id",
    )
    .bind(team.0)
    .bind(serde_json::json!({"url": "https://example.com/health"}))
    .bind(interval_ms)
    .bind(regions().iter().map(|r| r.to_string()).collect::<Vec<_>>())
    .bind(paused)
    .fetch_one(pool)
    .await
    .unwrap();
    MonitorId(id)
}

/// The monitor as the API would publish it after a change.
pub async fn monitor_config(pool: &PgPool, id: MonitorId) -> MonitorConfig {
    let (team, name, spec, interval, timeout, regions, paused, updated): (
        uuid::Uuid,
        String,
        serde_json::Value,
        i32,
        i32,
        Vec<String>,
        bool,
        i64,
    ) = sqlx::query_as(
        "SELECT team_id, name, spec, interval_ms, timeout_ms, regions, paused, \
         (extract(epoch FROM updated_at) * 1000)::bigint FROM monitors WHERE id = $1",
    )
    .bind(id.0)
    .fetch_one(pool)
    .await
    .unwrap();
    let mut spec = spec;
    spec["kind"] = "http".into();
    MonitorConfig {
        id,
        team_id: TeamId(team),
        name,
        interval_ms: interval as u32,
        timeout_ms: timeout as u32,
        regions: regions.into_iter().map(|r| Region::new(r).unwrap()).collect(),
        confirmations: 2,
        recoveries: 1,
        quorum: 1,
        paused,
        degraded_is_failure: false,
        spec: serde_json::from_value::<MonitorSpec>(spec).unwrap(),
        sealed_secrets: None,
        updated_at_ms: updated,
    }
}

pub async fn publish_upsert(js: &jetstream::Context, topology: &Topology, monitor: MonitorConfig) {
    let change = ConfigChange {
        schema_version: SCHEMA_VERSION,
        at_ms: monitor.updated_at_ms,
        op: ConfigOp::MonitorUpserted { monitor: Box::new(monitor) },
    };
    Publisher::new(js.clone(), topology.clone()).publish(&change.subject(), &change.msg_id(), &change).await.unwrap();
}

pub async fn publish_delete(js: &jetstream::Context, topology: &Topology, id: MonitorId, team: TeamId, at_ms: i64) {
    let change = ConfigChange {
        schema_version: SCHEMA_VERSION,
        at_ms,
        op: ConfigOp::MonitorDeleted { monitor_id: id, team_id: team },
    };
    Publisher::new(js.clone(), topology.clone())
        .publish(&subject::config_monitor(id), &change.msg_id(), &change)
        .await
        .unwrap();
}

/// Every due check in the work queue, drained (as the probers would).
pub async fn drain(js: &jetstream::Context, topology: &Topology) -> Vec<DueCheck> {
    let stream = js.get_stream(topology.stream(CHECKS_DUE)).await.unwrap();
    let mut all = Vec::new();
    for region in &topology.regions {
        let consumer: PullConsumer = stream.get_consumer(&prober_consumer(region)).await.unwrap();
        loop {
            let mut batch =
                consumer.fetch().max_messages(1000).expires(Duration::from_millis(500)).messages().await.unwrap();
            let mut got = 0;
            while let Some(message) = batch.next().await {
                let message = message.unwrap();
                all.push(serde_json::from_slice::<DueCheck>(&message.payload).unwrap());
                message.ack().await.unwrap();
                got += 1;
            }
            if got == 0 {
                break;
            }
        }
    }
    all
}

pub use statushawk_schemas::now_ms;
