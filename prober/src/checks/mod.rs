//! The check kinds, one module each behind the [`Check`] trait, which runs
//! a spec. What a valid spec is lives with the specs (`statushawk_schemas`,
//! `CheckSpec::validate`): the API checks there, without the prober.

pub mod dns;
pub mod http;
pub mod icmp;
pub mod tcp;
pub mod tls;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use statushawk_schemas::{AssertionResult, CheckSpec, CheckStatus, ErrorKind, Timings, UnixMs};

use crate::guard::{Guard, GuardError};

/// What every check needs from the prober.
#[derive(Clone)]
pub struct Context {
    /// The SSRF guard: every connection's address passes it first.
    pub guard: Guard,
    /// Trusted roots for certificate verification.
    pub roots: Arc<rustls::RootCertStore>,
    /// Body bytes read at most (HTTP, TCP): the operator's cap. A spec may
    /// ask for less, never for more.
    pub max_body_bytes: usize,
    /// The resolvers a DNS check without its own `resolver` asks
    /// (`prober.dns_resolvers`); never the system's. Each passes the guard.
    pub dns_resolvers: Arc<[SocketAddr]>,
    /// The check's own time limit (the worker enforces it too, as a hard cap).
    pub timeout: Duration,
}

/// The outcome of one check, before the worker wraps it into a
/// `CheckResult` with the due check's identity.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Up, down or degraded.
    pub status: CheckStatus,
    /// Why it failed.
    pub error: Option<ErrorKind>,
    /// Human-readable detail.
    pub message: Option<String>,
    /// Phase timings (`total_ms` is filled in by [`run`]).
    pub timings: Timings,
    /// The address connected to.
    pub ip: Option<IpAddr>,
    /// HTTP status.
    pub http_status: Option<u16>,
    /// Body bytes read.
    pub body_bytes: Option<u32>,
    /// Peer certificate expiry (Unix ms).
    pub cert_expires_at_ms: Option<UnixMs>,
    /// Peer certificate issuer.
    pub cert_issuer: Option<String>,
    /// Assertions with their outcomes.
    pub assertions: Vec<AssertionResult>,
}

impl Outcome {
    /// A passing outcome.
    pub fn up() -> Self {
        Self {
            status: CheckStatus::Up,
            error: None,
            message: None,
            timings: Timings::default(),
            ip: None,
            http_status: None,
            body_bytes: None,
            cert_expires_at_ms: None,
            cert_issuer: None,
            assertions: Vec::new(),
        }
    }

    /// A failed outcome.
    pub fn down(error: ErrorKind, message: impl Into<String>) -> Self {
        Self { status: CheckStatus::Down, error: Some(error), message: Some(message.into()), ..Self::up() }
    }

    /// Marks this outcome failed (keeping what was measured).
    pub fn fail(mut self, error: ErrorKind, message: impl Into<String>) -> Self {
        self.status = CheckStatus::Down;
        self.error = Some(error);
        self.message = Some(message.into());
        self
    }
}

impl From<GuardError> for Outcome {
    fn from(err: GuardError) -> Self {
        match &err {
            GuardError::Blocked { .. } => Outcome::down(ErrorKind::Blocked, err.to_string()),
            GuardError::Dns { .. } => Outcome::down(ErrorKind::Dns, err.to_string()),
        }
    }
}

/// One check kind.
pub trait Check {
    /// Runs the check once. It must not outlive `ctx.timeout` by much; the
    /// caller enforces the limit anyway.
    fn run(&self, ctx: &Context) -> impl std::future::Future<Output = Outcome> + Send;
}

/// Runs any spec under the context's timeout, and measures `total_ms`.
pub async fn run(spec: &CheckSpec, ctx: &Context) -> Outcome {
    let started = Instant::now();
    let run = async {
        match spec {
            CheckSpec::Http(spec) => spec.run(ctx).await,
            CheckSpec::Tcp(spec) => spec.run(ctx).await,
            CheckSpec::Icmp(spec) => spec.run(ctx).await,
            CheckSpec::Dns(spec) => spec.run(ctx).await,
            CheckSpec::Tls(spec) => spec.run(ctx).await,
        }
    };
    let mut outcome = match tokio::time::timeout(ctx.timeout, run).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::down(ErrorKind::Timeout, format!("timed out after {} ms", ctx.timeout.as_millis())),
    };
    outcome.timings.total_ms = millis(started.elapsed());
    outcome
}

/// Whole milliseconds, saturating.
pub fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}
