//! A real stack for the notifier's tests: migrated Postgres, a NATS
//! topology, a team with one monitor, channels stored as the API stores
//! them (secrets sealed), and a local HTTP receiver that records requests
//! and answers as scripted.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sqlx::PgPool;
use statushawk_channels::{ChannelKind, split};
use statushawk_common::config::DatabaseConfig;
use statushawk_common::secrets::SecretBox;
use statushawk_guard::Guard;
use statushawk_nats::async_nats::jetstream;
use statushawk_nats::{Publisher, Topology};
use statushawk_notifier::send::Sender;
use statushawk_notifier::system_mail::SystemMailer;
use statushawk_notifier::{Deps, Settings};
use statushawk_schemas::{
    ChannelId, IncidentEvent, IncidentEventKind, IncidentId, MonitorId, Region, SCHEMA_VERSION, TeamId, subject,
};
use statushawk_testkit::TestEnv;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct Stack {
    pub env: TestEnv,
    pub pg: PgPool,
    pub js: jetstream::Context,
    pub topology: Topology,
    pub secrets: SecretBox,
    pub team: TeamId,
    pub monitor: MonitorId,
}

/// A team and one of its monitors.
#[derive(Clone, Copy, Debug)]
pub struct Tenant {
    pub team: TeamId,
    pub monitor: MonitorId,
}

/// A sender whose guard allows 127.0.0.1 (the tests' servers) and nothing
/// else that is private.
pub fn sender() -> Sender {
    sender_with_timeout(Duration::from_secs(5))
}

/// [`sender`] with another deadline per send.
pub fn sender_with_timeout(timeout: Duration) -> Sender {
    let guard = Guard::new(false).unwrap().with_exceptions(&[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    Sender::new(guard, timeout).unwrap()
}

impl Stack {
    pub async fn new() -> Self {
        let env = TestEnv::new().await;
        let db = DatabaseConfig { url: env.database_url.clone().into(), max_connections: 4 };
        statushawk_common::migrate::postgres(&db).await.unwrap();
        let topology = Topology::new(&env.nats_prefix).unwrap();
        let js = jetstream::new(env.nats().await);
        topology.ensure(&js).await.unwrap();
        let pg = env.pg().await;
        let team: uuid::Uuid =
            sqlx::query_scalar("INSERT INTO teams (name, slug) VALUES ('Shop', 'shop') RETURNING id")
                .fetch_one(&pg)
                .await
                .unwrap();
        let monitor: uuid::Uuid = sqlx::query_scalar(
            "INSERT INTO monitors (team_id, name, kind, spec, interval_ms, timeout_ms, regions) \
             VALUES ($1, 'Checkout API', 'http', '{\"url\": \"https://shop.example/health\"}', 60000, 5000, '{eu-west}') \
             RETURNING id",
        )
        .bind(team)
        .fetch_one(&pg)
        .await
        .unwrap();
        let secrets = SecretBox::new(&[7u8; 32]).unwrap();
        Self { env, pg, js, topology, secrets, team: TeamId(team), monitor: MonitorId(monitor) }
    }

    /// The first team and its monitor.
    pub fn tenant(&self) -> Tenant {
        Tenant { team: self.team, monitor: self.monitor }
    }

    /// Another team, with a monitor of its own.
    pub async fn other_tenant(&self, slug: &str) -> Tenant {
        let team: uuid::Uuid = sqlx::query_scalar("INSERT INTO teams (name, slug) VALUES ($1, $1) RETURNING id")
            .bind(slug)
            .fetch_one(&self.pg)
            .await
            .unwrap();
        let monitor: uuid::Uuid = sqlx::query_scalar(
            "INSERT INTO monitors (team_id, name, kind, spec, interval_ms, timeout_ms, regions) \
             VALUES ($1, 'Checkout API', 'http', '{\"url\": \"https://shop.example/health\"}', 60000, 5000, '{eu-west}') \
             RETURNING id",
        )
        .bind(team)
        .fetch_one(&self.pg)
        .await
        .unwrap();
        Tenant { team: TeamId(team), monitor: MonitorId(monitor) }
    }

    /// Stores a channel as the API does (public config, sealed secret) and
    /// links it to the monitor.
    pub async fn channel(&self, kind: ChannelKind, settings: Value) -> ChannelId {
        self.channel_of(self.tenant(), kind, settings).await
    }

    /// [`Stack::channel`] for `tenant`'s monitor.
    pub async fn channel_of(&self, tenant: Tenant, kind: ChannelKind, settings: Value) -> ChannelId {
        let id = ChannelId::new();
        let (config, secret) = split(kind, &settings).unwrap();
        let sealed = secret.map(|s| self.secrets.seal_channel_secret(id, &s).unwrap());
        sqlx::query(
            "INSERT INTO channels (id, team_id, name, kind, config, secret_ciphertext, secret_nonce) \
             VALUES ($1, $2, $3, $4::channel_kind, $5, $6, $7)",
        )
        .bind(id.0)
        .bind(tenant.team.0)
        .bind(format!("{kind} channel"))
        .bind(kind.as_str())
        .bind(config)
        .bind(sealed.as_ref().map(|s| s.ciphertext.clone()))
        .bind(sealed.as_ref().map(|s| s.nonce.clone()))
        .execute(&self.pg)
        .await
        .unwrap();
        sqlx::query("INSERT INTO monitor_channels (team_id, monitor_id, channel_id) VALUES ($1, $2, $3)")
            .bind(tenant.team.0)
            .bind(tenant.monitor.0)
            .bind(id.0)
            .execute(&self.pg)
            .await
            .unwrap();
        id
    }

    /// Opens an incident that started `ago` before now, and returns its
    /// `opened` event.
    pub async fn incident(&self, ago: Duration) -> IncidentEvent {
        self.incident_of(self.tenant(), ago).await
    }

    /// [`Stack::incident`] of `tenant`'s monitor.
    pub async fn incident_of(&self, tenant: Tenant, ago: Duration) -> IncidentEvent {
        let (id, started_ms): (uuid::Uuid, i64) = sqlx::query_as(
            "INSERT INTO incidents (team_id, monitor_id, started_at, cause, affected_regions) \
             VALUES ($1, $2, now() - $3 * interval '1 millisecond', 'HTTP 503 from eu-west', '{eu-west}') \
             RETURNING id, (extract(epoch FROM started_at) * 1000)::bigint",
        )
        .bind(tenant.team.0)
        .bind(tenant.monitor.0)
        .bind(i64::try_from(ago.as_millis()).unwrap())
        .fetch_one(&self.pg)
        .await
        .unwrap();
        IncidentEvent {
            schema_version: SCHEMA_VERSION,
            kind: IncidentEventKind::Opened,
            incident_id: IncidentId(id),
            monitor_id: tenant.monitor,
            monitor_name: "Checkout API".into(),
            team_id: tenant.team,
            seq: 1,
            at_ms: statushawk_schemas::now_ms(),
            started_at_ms: started_ms,
            resolved_at_ms: None,
            cause: "HTTP 503 from eu-west".into(),
            affected_regions: vec![Region::new("eu-west").unwrap()],
            regions: Vec::new(),
            message: None,
            update: None,
        }
    }

    /// Publishes an incident event as the evaluator does.
    pub async fn publish(&self, event: &IncidentEvent) {
        let publisher = Publisher::new(self.js.clone(), self.topology.clone());
        publisher
            .publish(&subject::events_incident(event.kind, event.monitor_id), &event.msg_id(), event)
            .await
            .unwrap();
    }

    pub fn settings() -> Settings {
        Settings {
            backoff: Duration::from_millis(200),
            poll: Duration::from_millis(50),
            sending_lease: Duration::from_secs(2),
            reminder_tick: Duration::from_millis(200),
            ..Default::default()
        }
    }

    pub fn notifier(&self, settings: Settings) -> Notifier {
        self.notifier_with(settings, sender())
    }

    /// A notifier sending through `sender`.
    pub fn notifier_with(&self, settings: Settings, sender: Sender) -> Notifier {
        self.start(settings, sender, None)
    }

    /// A notifier that also sends system mail through `mailer`.
    pub fn notifier_mailing(&self, settings: Settings, sender: Sender, mailer: SystemMailer) -> Notifier {
        self.start(settings, sender, Some(mailer))
    }

    fn start(&self, settings: Settings, sender: Sender, system_mail: Option<SystemMailer>) -> Notifier {
        let deps = Deps {
            js: self.js.clone(),
            topology: self.topology.clone(),
            pg: self.pg.clone(),
            secrets: Some(self.secrets.clone()),
            sender,
            system_mail,
            public_url: "https://status.example".to_owned(),
        };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(statushawk_notifier::run(settings, deps, shutdown.clone()));
        Notifier { shutdown, task }
    }

    /// (status, attempts, last_error, reason) of each delivery to `channel`,
    /// oldest first.
    pub async fn deliveries(&self, channel: ChannelId) -> Vec<(String, i32, Option<String>, Option<String>)> {
        sqlx::query_as(
            "SELECT status::text, attempts, last_error, reason FROM notification_deliveries \
             WHERE channel_id = $1 ORDER BY created_at, id",
        )
        .bind(channel.0)
        .fetch_all(&self.pg)
        .await
        .unwrap()
    }

    /// (http_status, wait_ms, ms since the delivery's first try) of each
    /// try to `channel`.
    pub async fn attempts(&self, channel: ChannelId) -> Vec<(Option<i16>, Option<i32>, i64)> {
        sqlx::query_as(
            "SELECT a.http_status, a.wait_ms, \
                 (extract(epoch FROM a.attempted_at - min(a.attempted_at) OVER ()) * 1000)::bigint \
             FROM notification_attempts a JOIN notification_deliveries d ON d.id = a.delivery_id \
             WHERE d.channel_id = $1 ORDER BY a.id",
        )
        .bind(channel.0)
        .fetch_all(&self.pg)
        .await
        .unwrap()
    }
}

pub struct Notifier {
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Notifier {
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// A request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A scripted answer: status, `Retry-After`, body.
pub type Answer = (u16, Option<&'static str>, &'static str);

/// A local HTTP server standing in for a provider: it records every
/// request and answers each path from its script (then 200).
#[derive(Clone, Default)]
pub struct Receiver {
    pub base: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<HashMap<String, VecDeque<Answer>>>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Self { base: format!("http://{}", listener.local_addr().unwrap()), ..Default::default() };
        let state = receiver.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move { state.answer(uri, headers, body) }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    /// Answers the next requests to `path` with these (status, Retry-After,
    /// body), in order; 200 after them.
    pub fn script(&self, path: &str, answers: &[Answer]) {
        self.script.lock().unwrap().insert(path.to_owned(), answers.iter().copied().collect());
    }

    pub fn received(&self, path: &str) -> Vec<Received> {
        self.received.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }

    fn answer(&self, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let path = uri.path().to_owned();
        self.received.lock().unwrap().push(Received { path: path.clone(), headers, body });
        let next = self.script.lock().unwrap().get_mut(&path).and_then(VecDeque::pop_front);
        let (status, retry_after, text) = next.unwrap_or((200, None, "ok"));
        let mut response = (StatusCode::from_u16(status).unwrap(), text).into_response();
        if let Some(wait) = retry_after {
            response.headers_mut().insert("retry-after", wait.parse().unwrap());
        }
        response
    }
}

/// How a [`Tarpit`] treats the connections it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stall {
    /// Reads whatever comes and never writes a byte.
    Silent,
    /// Writes an SMTP greeting, then reads and never answers.
    SmtpGreeting,
    /// Reads an HTTP request head, answers a head of `503` with a long
    /// body, then trickles that body one byte every 200 ms.
    HttpTrickle,
}

/// A server that accepts connections and then stalls them: the slow or
/// hostile endpoint of a tenant. It counts the connections it accepted and
/// those still open (the client has not closed them).
#[derive(Clone)]
pub struct Tarpit {
    pub port: u16,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
    open: Arc<std::sync::atomic::AtomicUsize>,
}

impl Tarpit {
    pub async fn start(stall: Stall) -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tarpit =
            Self { port: listener.local_addr().unwrap().port(), accepted: Arc::default(), open: Arc::default() };
        let (accepted, open) = (tarpit.accepted.clone(), tarpit.open.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                accepted.fetch_add(1, Ordering::SeqCst);
                open.fetch_add(1, Ordering::SeqCst);
                let open = open.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let mut head = Vec::new();
                    if stall == Stall::SmtpGreeting {
                        let _ = socket.write_all(b"220 tarpit.example ESMTP\r\n").await;
                    }
                    loop {
                        // Trickling: one byte every 200 ms while reading.
                        let read = if stall == Stall::HttpTrickle && head.windows(4).any(|w| w == b"\r\n\r\n") {
                            tokio::select! {
                                read = socket.read(&mut buf) => read,
                                () = tokio::time::sleep(Duration::from_millis(200)) => {
                                    if socket.write_all(b"x").await.is_err() { break }
                                    continue;
                                }
                            }
                        } else {
                            socket.read(&mut buf).await
                        };
                        match read {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if stall == Stall::HttpTrickle && !head.windows(4).any(|w| w == b"\r\n\r\n") {
                                    head.extend_from_slice(&buf[..n]);
                                    if head.windows(4).any(|w| w == b"\r\n\r\n") {
                                        let answer =
                                            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100000\r\n\r\n";
                                        if socket.write_all(answer).await.is_err() {
                                            break;
                                        }
                                    }
                                }
                            }
                        }
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        tarpit
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Connections accepted and not yet closed by the client.
    pub fn open(&self) -> usize {
        self.open.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Polls `check` until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
