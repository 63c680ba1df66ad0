//! Logs (`tracing`) and metrics (Prometheus text at `/metrics`).

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusBuilder;
pub use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Sets up the global `tracing` subscriber: `RUST_LOG` if set, else the
/// configured filter; pretty or JSON lines on stderr.
pub fn init_tracing(config: &LogConfig) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.filter))
        .with_context(|| format!("log.filter {:?}", config.filter))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match config.format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))
}

/// Histogram buckets (seconds) for every latency StatusHawk measures: fine
/// at the low end, where the targets are (publish lag p99 <= 20 ms).
const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Installs the process-wide Prometheus recorder that every `metrics::`
/// macro reports to, and returns the handle that renders it.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)
        .context("histogram buckets")?
        .install_recorder()
        .context("installing the metrics recorder")
}

/// A token cancelled on SIGINT (Ctrl-C) or SIGTERM: the process-wide
/// shutdown signal every service task watches.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate => {}
        }
        tracing::info!("Shutting down.");
        cancel.cancel();
    });
    token
}

/// A name for this process in leases and client lists: host name and pid.
pub fn instance_name(service: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    format!("{service}-{}-{}", if host.is_empty() { "host" } else { host }, std::process::id())
}

/// A bound `/metrics` (and `/healthz`) endpoint, ready to serve.
pub struct MetricsServer {
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
}

impl MetricsServer {
    /// Binds `listen` (port 0 picks a free port).
    pub async fn bind(listen: SocketAddr, handle: PrometheusHandle) -> anyhow::Result<Self> {
        let listener =
            tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding metrics.listen {listen}"))?;
        Ok(Self { listener, handle })
    }

    /// The bound address.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` fires.
    pub async fn serve(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let handle = self.handle;
        let app = Router::new()
            .route("/metrics", get(move || std::future::ready(handle.render())))
            .route("/healthz", get(|| std::future::ready("ok")));
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .context("serving /metrics")
    }
}
