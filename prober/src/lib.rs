//! The prober: runs due checks for one region, behind an SSRF guard.
//!
//! [`checks`] holds one module per check kind behind the `Check` trait
//! (validate, run); [`guard`] the SSRF guard every connection passes;
//! [`worker`] the region worker that pulls due checks from JetStream and
//! publishes results.

pub mod bench;
pub mod certs;
pub mod checks;
pub use statushawk_guard as guard;
pub mod metrics;
pub mod worker;

use std::net::SocketAddr;
use std::sync::Arc;

/// A check context with the guard's default policy and the default public
/// DNS resolvers ([`checks::dns::DEFAULT_RESOLVERS`]), the system's trusted
/// roots and the body limit (benchmarks and tests).
pub fn context(allow_private_targets: bool, max_body_bytes: usize) -> anyhow::Result<checks::Context> {
    let resolvers = checks::dns::DEFAULT_RESOLVERS.iter().filter_map(|text| checks::dns::parse_resolver(text));
    context_with(guard::Guard::new(allow_private_targets)?, max_body_bytes, resolvers.collect())
}

/// The check context of a prober process: its guard, the system's trusted
/// roots, the operator's body cap and DNS resolvers. A resolver the guard
/// refuses is a configuration error: DNS checks ask public resolvers only.
pub fn context_with(
    guard: guard::Guard,
    max_body_bytes: usize,
    dns_resolvers: Vec<SocketAddr>,
) -> anyhow::Result<checks::Context> {
    if dns_resolvers.is_empty() {
        anyhow::bail!("prober.dns_resolvers: at least one resolver is needed");
    }
    for resolver in &dns_resolvers {
        guard
            .check_ip(&resolver.to_string(), resolver.ip())
            .map_err(|err| anyhow::anyhow!("prober.dns_resolvers: {err} (DNS checks ask public resolvers only)"))?;
    }
    Ok(checks::Context {
        guard,
        roots: Arc::new(certs::system_roots()),
        max_body_bytes,
        dns_resolvers: Arc::from(dns_resolvers),
        timeout: worker::MAX_TIMEOUT,
    })
}
