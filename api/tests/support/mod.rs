//! The API test harness: the router in-process against real Postgres,
//! ClickHouse and NATS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use statushawk_api::Deps;
use statushawk_common::config::{ClickHouseConfig, DatabaseConfig};
use statushawk_common::secrets::SecretBox;
use statushawk_guard::Guard;
use statushawk_nats::async_nats::jetstream;
use statushawk_nats::{Publisher, Topology};
use statushawk_notifier::send::Sender;
use statushawk_schemas::Region;
use statushawk_testkit::TestEnv;
use tokio_util::sync::{CancellationToken, DropGuard};
use tower::ServiceExt;

/// The send deadline of the tests' notifier.
pub const NOTIFIER_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The router over a fresh database, NATS prefix and ClickHouse database.
pub struct App {
    pub env: TestEnv,
    pub router: axum::Router,
    pub state: statushawk_api::State,
    pub deps: Deps,
    pub js: jetstream::Context,
    pub topology: Topology,
    pub pg: sqlx::PgPool,
    /// A real notifier on the same Postgres and NATS ([`App::with_notifier`]),
    /// stopped when the app is dropped.
    notifier: Option<DropGuard>,
}

impl App {
    pub async fn new() -> Self {
        Self::build(false, None).await
    }

    /// An app that serves the web app built in `web_dir`.
    pub async fn with_web_dir(web_dir: std::path::PathBuf) -> Self {
        Self::build(false, Some(web_dir)).await
    }

    /// An app whose deployment has a mail server of its own: invitations
    /// are e-mailed and new addresses verified (the mail waits in
    /// `system_mail`).
    pub async fn with_system_mail() -> Self {
        Self::build(true, None).await
    }

    async fn build(system_mail: bool, web_dir: Option<std::path::PathBuf>) -> Self {
        let env = TestEnv::new().await;
        let db = DatabaseConfig { url: env.database_url.clone().into(), max_connections: 4 };
        statushawk_common::migrate::postgres(&db).await.unwrap();
        let ch = ClickHouseConfig {
            url: env.services.clickhouse_url.clone(),
            database: env.clickhouse_database.clone(),
            ..Default::default()
        };
        statushawk_common::migrate::clickhouse(&ch).await.unwrap();
        let topology = Topology::new(&env.nats_prefix).unwrap();
        let js = jetstream::new(env.nats().await);
        topology.ensure(&js).await.unwrap();
        let pg = env.pg().await;
        let deps = Deps {
            pg: pg.clone(),
            clickhouse: env.clickhouse(),
            publisher: Publisher::new(js.clone(), topology.clone()),
            nats: env.nats().await,
            live: Default::default(),
            topology: topology.clone(),
            regions: ["eu-west", "us-east", "ap-south"].map(|r| Region::new(r).unwrap()).to_vec(),
            secrets: Some(SecretBox::new(&[9u8; 32]).unwrap()),
            notifier_send_timeout: NOTIFIER_SEND_TIMEOUT,
            guard: Guard::new(false).unwrap(),
            metrics: None,
            public_url: "https://status.example".to_owned(),
            system_mail,
            metrics_token: None,
            trusted_proxies: Vec::new(),
            web_dir: web_dir.unwrap_or_else(|| "/nonexistent/statushawk/web/dist".into()),
        };
        let (router, state) = statushawk_api::router_and_state(deps.clone());
        Self { router, state, deps, env, js, topology, pg, notifier: None }
    }

    /// This app with a notifier running beside it, as in a deployment:
    /// channel tests and verifications are its to make. It may send to
    /// loopback (the tests' receivers), nothing else private.
    pub async fn with_notifier(self) -> Self {
        self.with_notifier_mailing(None).await
    }

    /// As [`App::with_notifier`], sending the deployment's own mail (and
    /// subscribers' e-mail) through `mailer`.
    pub async fn with_notifier_mailing(
        mut self,
        mailer: Option<statushawk_notifier::system_mail::SystemMailer>,
    ) -> Self {
        let loopback = [IpAddr::V4(Ipv4Addr::LOCALHOST)];
        let deps = statushawk_notifier::Deps {
            js: self.js.clone(),
            topology: self.topology.clone(),
            pg: self.pg.clone(),
            secrets: self.deps.secrets.clone(),
            sender: Sender::new(Guard::new(false).unwrap().with_exceptions(&loopback), NOTIFIER_SEND_TIMEOUT).unwrap(),
            system_mail: mailer,
            public_url: self.deps.public_url.clone(),
        };
        let shutdown = CancellationToken::new();
        let settings = statushawk_notifier::Settings {
            poll: Duration::from_millis(100),
            reminder_tick: Duration::from_millis(200),
            ..Default::default()
        };
        tokio::spawn(statushawk_notifier::run(settings, deps, shutdown.clone()));
        // Answering starts once its subscription is in place: wait for that.
        let subject = self.topology.subject(statushawk_schemas::subject::CHANNEL_REQUESTS);
        let nats = self.env.nats().await;
        let mut tries = 0;
        loop {
            match nats.request(subject.clone(), "{}".into()).await {
                Ok(_) => break,
                Err(_) if tries < 200 => tries += 1,
                Err(err) => panic!("the notifier never answered channel requests: {err}"),
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.notifier = Some(shutdown.drop_guard());
        self
    }

    /// A request; the answer's status, content type and body.
    /// A new HTTP monitor of the caller's team; its id.
    pub async fn monitor(&self, token: &str, name: &str, url: &str) -> uuid::Uuid {
        let (status, monitor) = self
            .call(
                "POST",
                "/api/v1/monitors",
                Some(token),
                Some(json!({"name": name, "spec": {"kind": "http", "url": url}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{monitor}");
        monitor["id"].as_str().unwrap().parse().unwrap()
    }

    /// A form post, as a browser without script sends it; the answer's
    /// status and body.
    pub async fn form(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let request = Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, String, String) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self.router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let content_type =
            response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, content_type, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Writes `check_results` rows (made with [`result_row`]) to ClickHouse,
    /// as the evaluator would.
    pub async fn insert_results(&self, rows: &[String]) {
        self.env
            .clickhouse()
            .query(&format!(
                "INSERT INTO check_results (ts, monitor_id, team_id, region, slot_ms, attempt, prober_id, status, \
                 error_kind, message, dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, http_status, body_bytes, \
                 cert_expires_at) VALUES {}",
                rows.join(", ")
            ))
            .execute()
            .await
            .unwrap();
    }

    /// argon2 runs so far (hashes and verifications).
    pub fn deps_runs(&self) -> u64 {
        self.state.passwords.runs()
    }

    /// A request from the client at `peer`, with a JSON answer.
    pub async fn call_from(
        &self,
        peer: &str,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path).header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let mut request = request.body(Body::from(body.map(|b| b.to_string()).unwrap_or_default())).unwrap();
        let peer: std::net::SocketAddr = peer.parse().unwrap();
        request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// A request with a JSON answer (or the text as a JSON string).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, _, text) = self.raw(method, path, token, body).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Signs up a user owning a new team; returns the session (`token`,
    /// `user_id`, `team_id`).
    pub async fn session(&self, email: &str, team: &str) -> Value {
        let (status, body) = self
            .call(
                "POST",
                "/api/v1/signup",
                None,
                Some(json!({"email": email, "password": "correct horse battery", "team_name": team})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Signs up a user owning a new team; returns its session token.
    pub async fn sign_up(&self, email: &str, team: &str) -> String {
        self.session(email, team).await["token"].as_str().unwrap().to_owned()
    }

    /// An API token of the caller's team with `role`.
    pub async fn token(&self, owner: &str, role: &str) -> String {
        let (status, body) = self
            .call("POST", "/api/v1/tokens", Some(owner), Some(json!({"name": format!("{role} bot"), "role": role})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }
}

/// One row of `check_results` for [`App::insert_results`]: a check at `ts`
/// (Unix seconds) with connect 3 ms, TTFB 7 ms, HTTP 200 and 512 bytes.
pub fn result_row(
    monitor: &str,
    team: impl std::fmt::Display,
    ts: i64,
    region: &str,
    status: &str,
    total_ms: u32,
    message: &str,
) -> String {
    format!(
        "(toDateTime({ts}), toUUID('{monitor}'), toUUID('{team}'), '{region}', {slot}, 0, 'p1', '{status}', '', \
         '{message}', NULL, 3, NULL, 7, {total_ms}, 200, 512, NULL)",
        slot = ts * 1000,
    )
}

/// What a [`receiver`] got: path, headers and body of each request.
pub type Got = std::sync::Arc<std::sync::Mutex<Vec<(String, axum::http::HeaderMap, String)>>>;

/// How a [`receiver`] answers its n-th request (from 0): status, headers,
/// body.
pub type Answer = fn(usize) -> (u16, &'static [(&'static str, &'static str)], &'static str);

/// A local HTTP server that records every request and answers as `answer`
/// says. Returns its base URL.
pub async fn receiver(answer: Answer) -> (String, Got) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let got: Got = Got::default();
    let seen = got.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let mut seen = seen.lock().unwrap();
                let (status, extra, text) = answer(seen.len());
                seen.push((uri.path().to_owned(), headers, String::from_utf8_lossy(&body).into_owned()));
                let mut response =
                    axum::response::IntoResponse::into_response((StatusCode::from_u16(status).unwrap(), text));
                for (name, value) in extra {
                    response.headers_mut().insert(*name, axum::http::HeaderValue::from_static(value));
                }
                response
            }
        },
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, got)
}

/// Answers every request 200.
pub fn always_ok(_: usize) -> (u16, &'static [(&'static str, &'static str)], &'static str) {
    (200, &[], "{\"ok\": true}")
}
