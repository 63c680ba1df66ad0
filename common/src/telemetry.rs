//! Logs (`tracing`) and metrics (Prometheus text at `/metrics`).

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
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

/// Installs the process-wide Prometheus recorder that every `metrics::`
/// macro reports to, and returns the handle that renders it.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new().install_recorder().context("installing the metrics recorder")
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
