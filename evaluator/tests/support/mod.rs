//! A real stack for the evaluator's tests: migrated Postgres and ClickHouse,
//! a NATS topology with short leases, evaluators run in-process, and a
//! scripted region responder that answers due checks (scheduled and
//! re-checks) with the status the test sets per region.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use sqlx::PgPool;
use statushawk_common::config::{ClickHouseConfig, DatabaseConfig};
use statushawk_evaluator::{Deps, Settings, SinkSettings};
use statushawk_nats::async_nats::jetstream::{self, consumer};
use statushawk_nats::{
    CHECK_RESULTS, CHECKS_DUE, EVENTS, Publisher, Topology, prober_consumer, prober_urgent_consumer,
};
use statushawk_schemas::{
    CheckResult, CheckSpec, CheckStatus, DueCheck, ErrorKind, HttpSpec, MonitorId, Region, SCHEMA_VERSION, TeamId,
    Timings, now_ms, subject,
};
use statushawk_testkit::TestEnv;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const TTL: Duration = Duration::from_secs(2);

pub fn region(name: &str) -> Region {
    Region::new(name).unwrap()
}

/// How often the tests' evaluators compare the monitors they hold with
/// Postgres.
pub const RECONCILE: Duration = Duration::from_millis(200);

pub struct Stack {
    pub env: TestEnv,
    pub pg: PgPool,
    pub js: jetstream::Context,
    pub topology: Topology,
    pub ch: clickhouse::Client,
    pub team: TeamId,
}

impl Stack {
    pub async fn new(regions: &[&str], partitions: u16) -> Self {
        let env = TestEnv::new().await;
        let db = DatabaseConfig { url: env.database_url.clone().into(), max_connections: 4 };
        statushawk_common::migrate::postgres(&db).await.unwrap();
        let ch_config = ClickHouseConfig {
            url: env.services.clickhouse_url.clone(),
            database: env.clickhouse_database.clone(),
            ..Default::default()
        };
        statushawk_common::migrate::clickhouse(&ch_config).await.unwrap();
        let mut topology = Topology::new(&env.nats_prefix).unwrap();
        topology.regions = regions.iter().map(|r| region(r)).collect();
        topology.partitions = partitions;
        topology.lease_ttl = TTL;
        topology.result_ack_wait = Duration::from_secs(5);
        topology.check_ack_wait = Duration::from_secs(5);
        let js = jetstream::new(env.nats().await);
        topology.ensure(&js).await.unwrap();
        let pg = env.pg().await;
        let team: uuid::Uuid = sqlx::query_scalar("INSERT INTO teams (name, slug) VALUES ('Acme', $1) RETURNING id")
            .bind(format!("acme-{}", env.id))
            .fetch_one(&pg)
            .await
            .unwrap();
        let ch = env.clickhouse();
        Self { env, pg, js, topology, ch, team: TeamId(team) }
    }

    /// An HTTP monitor on `url`, checked from `regions`, every 10 s.
    pub async fn monitor(&self, url: &str, regions: &[&str], quorum: i16) -> MonitorId {
        let id: uuid::Uuid = sqlx::query_scalar(
            "INSERT INTO monitors (team_id, name, kind, spec, interval_ms, timeout_ms, regions, quorum) \
             VALUES ($1, 'api', 'http', $2, 10000, 2000, $3, $4) RETURNING id",
        )
        .bind(self.team.0)
        .bind(serde_json::json!({ "url": url }))
        .bind(regions.iter().map(|r| r.to_string()).collect::<Vec<_>>())
        .bind(quorum)
        .fetch_one(&self.pg)
        .await
        .unwrap();
        MonitorId(id)
    }

    pub fn deps(&self) -> Deps {
        Deps {
            js: self.js.clone(),
            topology: self.topology.clone(),
            pg: self.pg.clone(),
            clickhouse: self.ch.clone(),
            secrets: Some(statushawk_common::secrets::SecretBox::new(&[9u8; 32]).unwrap()),
        }
    }

    pub fn evaluator(&self, instance: &str) -> Running {
        self.evaluator_with(instance, self.deps())
    }

    pub fn evaluator_with(&self, instance: &str, deps: Deps) -> Running {
        let settings = Settings {
            instance: instance.into(),
            batch_wait: Duration::from_millis(200),
            sink: SinkSettings { max_wait: Duration::from_millis(100), ..Default::default() },
            handoff_timeout: Duration::from_secs(5),
            reconcile: RECONCILE,
            ..Default::default()
        };
        let stop = CancellationToken::new();
        let task = tokio::spawn(statushawk_evaluator::run(settings, deps, stop.clone()));
        Running { stop, task }
    }

    /// Publishes the scheduled (attempt 0) due check of `slot_ms` in each
    /// region, as the scheduler would.
    pub async fn due(&self, monitor: MonitorId, regions: &[&str], slot_ms: i64) {
        let url: String = sqlx::query_scalar("SELECT spec->>'url' FROM monitors WHERE id = $1")
            .bind(monitor.0)
            .fetch_one(&self.pg)
            .await
            .unwrap();
        let publisher = Publisher::new(self.js.clone(), self.topology.clone());
        for r in regions {
            let due = DueCheck {
                schema_version: SCHEMA_VERSION,
                monitor_id: monitor,
                team_id: self.team,
                region: region(r),
                slot_ms,
                attempt: 0,
                deadline_ms: now_ms() + 60_000,
                timeout_ms: 2_000,
                spec: CheckSpec::Http(HttpSpec::get(url.clone())),
            };
            publisher.publish(&subject::checks_due(&due.region), &due.msg_id(), &due).await.unwrap();
        }
    }

    /// Incidents of `monitor`: (id, resolved?).
    pub async fn incidents(&self, monitor: MonitorId) -> Vec<(uuid::Uuid, bool)> {
        sqlx::query_as("SELECT id, resolved_at IS NOT NULL FROM incidents WHERE monitor_id = $1 ORDER BY started_at")
            .bind(monitor.0)
            .fetch_all(&self.pg)
            .await
            .unwrap()
    }

    /// Open region outages of `monitor`.
    pub async fn open_outages(&self, monitor: MonitorId) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT region FROM region_outages WHERE monitor_id = $1 AND resolved_at IS NULL ORDER BY region",
        )
        .bind(monitor.0)
        .fetch_all(&self.pg)
        .await
        .unwrap()
    }

    /// Rows in `check_results` (of `monitor`, or all).
    pub async fn stored(&self, monitor: Option<MonitorId>) -> u64 {
        let filter = monitor.map_or_else(String::new, |m| format!(" WHERE monitor_id = toUUID('{m}')"));
        self.ch.query(&format!("SELECT count() FROM check_results{filter}")).fetch_one::<u64>().await.unwrap()
    }

    /// `(region, attempt, status)` of every stored result of `monitor`, by time.
    pub async fn stored_rows(&self, monitor: MonitorId) -> Vec<(String, u8, String)> {
        self.ch
            .query(&format!(
                "SELECT region, attempt, toString(status) FROM check_results WHERE monitor_id = toUUID('{monitor}') \
                 ORDER BY slot_ms, attempt, region"
            ))
            .fetch_all::<(String, u8, String)>()
            .await
            .unwrap()
    }

    /// Messages in the results stream.
    pub async fn published_results(&self) -> u64 {
        let mut stream = self.js.get_stream(self.topology.stream(CHECK_RESULTS)).await.unwrap();
        stream.info().await.unwrap().state.messages
    }

    /// Every event on the `EVENTS` stream: (subject without prefix, JSON).
    pub async fn events(&self) -> Vec<(String, serde_json::Value)> {
        let mut stream = self.js.get_stream(self.topology.stream(EVENTS)).await.unwrap();
        let count = stream.info().await.unwrap().state.messages;
        if count == 0 {
            return Vec::new();
        }
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .unwrap();
        let messages = consumer.messages().await.unwrap().take(usize::try_from(count).unwrap());
        let mut messages = std::pin::pin!(messages);
        let mut events = Vec::new();
        while let Some(Ok(message)) = messages.next().await {
            let subject = self.topology.unprefixed(&message.subject).unwrap().to_owned();
            events.push((subject, serde_json::from_slice(&message.payload).unwrap()));
        }
        events
    }

    /// Subjects of the incident events of `monitor`, in order.
    pub async fn incident_events(&self, monitor: MonitorId) -> Vec<String> {
        self.events()
            .await
            .into_iter()
            .filter(|(s, _)| s.starts_with("events.incident.") && s.ends_with(&monitor.to_string()))
            .map(|(s, _)| s.split('.').nth(2).unwrap().to_owned())
            .collect()
    }
}

pub struct Running {
    pub stop: CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task).await.unwrap().unwrap().unwrap();
    }

    /// Ends it abruptly, as a crash would (its leases are not released by it).
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Answers due checks in the given regions like a prober would, with the
/// status the test sets per region (default up).
#[derive(Clone)]
pub struct Responder {
    statuses: Arc<Mutex<HashMap<String, CheckStatus>>>,
    stop: CancellationToken,
}

impl Responder {
    pub fn start(stack: &Stack, regions: &[&str]) -> Self {
        let responder = Self { statuses: Arc::default(), stop: CancellationToken::new() };
        for r in regions {
            for urgent in [true, false] {
                let (js, topology, me, region) =
                    (stack.js.clone(), stack.topology.clone(), responder.clone(), region(r));
                tokio::spawn(async move { me.serve(js, topology, region, urgent).await });
            }
        }
        responder
    }

    pub fn set(&self, region: &str, status: CheckStatus) {
        self.statuses.lock().unwrap().insert(region.to_owned(), status);
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }

    async fn serve(self, js: jetstream::Context, topology: Topology, region: Region, urgent: bool) {
        let stream = js.get_stream(topology.stream(CHECKS_DUE)).await.unwrap();
        let name = if urgent { prober_urgent_consumer(&region) } else { prober_consumer(&region) };
        let consumer: consumer::PullConsumer = stream.get_consumer(&name).await.unwrap();
        let publisher = Publisher::new(js.clone(), topology.clone());
        while !self.stop.is_cancelled() {
            let Ok(mut batch) = consumer.batch().max_messages(100).expires(Duration::from_millis(200)).messages().await
            else {
                continue;
            };
            while let Some(Ok(message)) = batch.next().await {
                let due: DueCheck = serde_json::from_slice(&message.payload).unwrap();
                let status = self.statuses.lock().unwrap().get(region.as_str()).copied().unwrap_or(CheckStatus::Up);
                let result = result_for(&due, status);
                let subject = subject::check_result(due.monitor_id, &due.region, topology.partitions);
                publisher.publish(&subject, &result.msg_id(), &result).await.unwrap();
                message.double_ack().await.unwrap();
            }
        }
    }
}

pub fn result_for(due: &DueCheck, status: CheckStatus) -> CheckResult {
    let down = status == CheckStatus::Down;
    CheckResult {
        schema_version: SCHEMA_VERSION,
        monitor_id: due.monitor_id,
        team_id: due.team_id,
        region: due.region.clone(),
        slot_ms: due.slot_ms,
        attempt: due.attempt,
        prober_id: "scripted".into(),
        started_at_ms: now_ms(),
        status,
        error: down.then_some(ErrorKind::HttpStatus),
        message: down.then(|| "HTTP 503".into()),
        timings: Timings { total_ms: 12, ..Timings::default() },
        ip: None,
        http_status: Some(if down { 503 } else { 200 }),
        body_bytes: Some(2),
        cert_expires_at_ms: None,
        cert_issuer: None,
        assertions: Vec::new(),
    }
}

/// Polls `check` every 100 ms until it holds; panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A slot time for round `k` of a test (distinct, increasing).
pub fn slot(k: i64) -> i64 {
    now_ms() / 1000 * 1000 + k
}
