//! Trusted roots for certificate verification.

use rustls::RootCertStore;

/// The system's trusted roots (an empty store if none can be read).
pub fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}
