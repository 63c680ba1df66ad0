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
pub mod worker;

use std::sync::Arc;

/// The check context of a prober process: the guard, the system's trusted
/// roots and the body limit.
pub fn context(allow_private_targets: bool, max_body_bytes: usize) -> anyhow::Result<checks::Context> {
    Ok(checks::Context {
        guard: guard::Guard::new(allow_private_targets)?,
        roots: Arc::new(certs::system_roots()),
        max_body_bytes,
        timeout: worker::MAX_TIMEOUT,
    })
}
