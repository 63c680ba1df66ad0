//! Shared helpers of the check tests: contexts with and without private
//! targets allowed, and a DNS server for a test zone ([`dns`]).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod dns;

use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use statushawk_prober::checks::{self, Context, Outcome};
use statushawk_prober::guard::Guard;
use statushawk_schemas::CheckSpec;

/// A context for local targets: private addresses allowed, no trusted roots.
pub fn local_ctx() -> Context {
    ctx(true, RootCertStore::empty())
}

/// A context whose guard refuses private addresses (like production).
pub fn guarded_ctx() -> Context {
    ctx(false, RootCertStore::empty())
}

/// A context with the given guard setting and trusted roots, a 5 s timeout
/// and no DNS resolvers of its own (a DNS check's test gives its server).
pub fn ctx(allow_private_targets: bool, roots: RootCertStore) -> Context {
    Context {
        guard: Guard::new(allow_private_targets).expect("guard"),
        roots: Arc::new(roots),
        max_body_bytes: 10 * 1024,
        dns_resolvers: Arc::from([]),
        timeout: Duration::from_secs(5),
    }
}

/// The system's trusted roots (possibly none in a bare container).
pub fn system_roots() -> RootCertStore {
    statushawk_prober::certs::system_roots()
}

/// Runs a spec the way the worker does: validated, under the timeout.
pub async fn run(spec: CheckSpec, ctx: &Context) -> Outcome {
    spec.validate().expect("valid spec");
    checks::run(&spec, ctx).await
}

/// The outcome's message, for assertions.
pub fn message(outcome: &Outcome) -> &str {
    outcome.message.as_deref().unwrap_or_default()
}

/// A context that may reach 127.0.0.1 (a test's own servers) and nothing else
/// private, with the system's roots and the given timeout.
pub fn loopback_ctx(timeout: Duration) -> Context {
    Context {
        guard: Guard::new(false)
            .expect("guard")
            .with_exceptions(&[std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)]),
        roots: Arc::new(system_roots()),
        max_body_bytes: 10 * 1024,
        dns_resolvers: Arc::from([]),
        timeout,
    }
}
