//! What the services talk to: HTTP targets on loopback that the run
//! switches down and up, and a webhook receiver that notes each
//! notification and when it came.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use statushawk_schemas::{UnixMs, WebhookPayload, now_ms};
use uuid::Uuid;

/// HTTP targets on `count` loopback ports: `/m/{i}` answers 200, or 503
/// while the targets are down and `i` is below `failing`.
pub struct Targets {
    addrs: Vec<SocketAddr>,
    down: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Clone)]
struct Target {
    down: Arc<AtomicBool>,
    failing: usize,
}

async fn answer(State(target): State<Target>, Path(i): Path<usize>) -> (StatusCode, &'static str) {
    if i < target.failing && target.down.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "down")
    } else {
        (StatusCode::OK, "ok")
    }
}

impl Targets {
    /// Listens on `count` free loopback ports.
    pub async fn start(count: usize, failing: usize) -> anyhow::Result<Self> {
        let down = Arc::new(AtomicBool::new(false));
        let app = axum::Router::new()
            .route("/m/{i}", axum::routing::get(answer))
            .with_state(Target { down: down.clone(), failing });
        let (mut addrs, mut tasks) = (Vec::new(), Vec::new());
        for _ in 0..count.max(1) {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            addrs.push(listener.local_addr()?);
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(err) = axum::serve(listener, app).await {
                    tracing::error!(error = %err, "A benchmark target stopped.");
                }
            }));
        }
        Ok(Self { addrs, down, tasks })
    }

    /// Monitor `i`'s URL (the monitors are spread over the ports).
    pub fn url(&self, i: usize) -> String {
        format!("http://{}/m/{i}", self.addrs[i % self.addrs.len()])
    }

    /// Switches the failing targets down or up; returns when.
    pub fn set_down(&self, down: bool) -> UnixMs {
        self.down.store(down, Ordering::SeqCst);
        now_ms()
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        self.tasks.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

/// A notification as it reached the receiver.
#[derive(Clone, Debug)]
pub struct Received {
    /// The monitor it is about.
    pub monitor_id: Uuid,
    /// `incident.opened`, `incident.resolved`, …
    pub event_type: &'static str,
    /// Its event id (equal on retries).
    pub event_id: String,
    /// When it arrived.
    pub at_ms: UnixMs,
}

/// A webhook receiver on a free loopback port: accepts every notification
/// and notes it.
pub struct Receiver {
    /// Where channels post.
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

async fn receive(State(received): State<Arc<Mutex<Vec<Received>>>>, body: axum::body::Bytes) -> StatusCode {
    let Ok(payload) = serde_json::from_slice::<WebhookPayload>(&body) else { return StatusCode::BAD_REQUEST };
    let note = Received {
        monitor_id: payload.incident.monitor_id.0,
        event_type: payload.event_type.as_str(),
        event_id: payload.event_id,
        at_ms: now_ms(),
    };
    received.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(note);
    StatusCode::NO_CONTENT
}

impl Receiver {
    /// Starts it.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(received.clone());
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(error = %err, "The benchmark's webhook receiver stopped.");
            }
        });
        Ok(Self { url, received, task })
    }

    /// Everything received so far, in order of arrival.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
