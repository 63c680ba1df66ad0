//! What the services talk to: HTTP targets on loopback that the run
//! switches down and up, and a webhook receiver that notes each
//! notification and when it came.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use statushawk_schemas::{UnixMs, WebhookPayload, now_ms};
use uuid::Uuid;

/// HTTP targets on `count` loopback ports: `GET /m/{i}` answers 200, or
/// 503 while the targets are down and `i` is below `failing`; with
/// `slow_every` n > 0, every n-th monitor's target takes a second to answer
/// (so a prober always has checks in flight).
///
/// Each answers one request per connection (as the prober asks: a fresh
/// connection per check) with a fixed response, and closes. Not hyper: at
/// thousands of connections a second the targets are the benchmark's own
/// load, and this costs the machine less of what it measures.
pub struct Targets {
    addrs: Vec<SocketAddr>,
    down: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

const UP: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
const DOWN: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\nconnection: close\r\n\r\ndown";

/// The monitor index of a request's `GET /m/{i} HTTP/1.1` line.
fn requested(head: &[u8]) -> Option<usize> {
    let line = head.split(|b| *b == b'\r').next()?;
    let path = std::str::from_utf8(line).ok()?.strip_prefix("GET /m/")?;
    path.split(' ').next()?.parse().ok()
}

/// How the targets answer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Behaviour {
    /// Monitors `0..failing` fail while the targets are down.
    pub failing: usize,
    /// Every `slow_every`-th monitor (0: none) answers after a second.
    pub slow_every: usize,
}

async fn answer(mut stream: tokio::net::TcpStream, down: Arc<AtomicBool>, behaviour: Behaviour) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let monitor = requested(&head);
    if let Some(i) = monitor
        && behaviour.slow_every > 0
        && i % behaviour.slow_every == behaviour.slow_every - 1
    {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let response = match monitor {
        Some(i) if i < behaviour.failing && down.load(Ordering::SeqCst) => DOWN,
        _ => UP,
    };
    let _ = stream.write_all(response).await;
    let _ = stream.shutdown().await;
}

impl Targets {
    /// Listens on `count` free loopback ports.
    pub async fn start(count: usize, behaviour: Behaviour) -> anyhow::Result<Self> {
        let down = Arc::new(AtomicBool::new(false));
        let (mut addrs, mut tasks) = (Vec::new(), Vec::new());
        for _ in 0..count.max(1) {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            addrs.push(listener.local_addr()?);
            let down = down.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((stream, _)) => {
                            tokio::spawn(answer(stream, down.clone(), behaviour));
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "A benchmark target could not accept.");
                            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        }
                    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_monitor_is_read_from_the_request_line() {
        assert_eq!(super::requested(b"GET /m/42 HTTP/1.1\r\nhost: x\r\n\r\n"), Some(42));
        assert_eq!(super::requested(b"GET /other HTTP/1.1\r\n\r\n"), None);
    }
}
