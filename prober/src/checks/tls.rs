//! TLS check: handshake with a guarded address, verify the certificate, and
//! report its expiry and issuer.
//!
//! The pieces the HTTP check needs too are public here: [`client_config`]
//! (a rustls config whose verifier records the peer's certificate even when
//! verification fails), [`server_name`], [`cert_info`] and [`expiry_problem`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use statushawk_schemas::{ErrorKind, TlsSpec, UnixMs};
use tokio_rustls::TlsConnector;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::tcp::{Connected, connect};
use super::{Check, Context, Outcome, millis};
use crate::guard::parse_ip_literal;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// How much of the peer's certificate to verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verify {
    /// The chain must lead to a trusted root and the certificate must be
    /// valid for the server name (normal webpki verification).
    Full,
    /// The chain must lead to a trusted root; the name is not checked.
    ChainOnly,
    /// Anything is accepted (the handshake signature is still checked).
    Nothing,
}

/// The peer's end-entity certificate, recorded by the verifier of a
/// [`client_config`] before it judges it — so it is there even when the
/// handshake then fails verification.
#[derive(Clone, Debug, Default)]
pub struct PeerCert(Arc<Mutex<Option<CertificateDer<'static>>>>);

impl PeerCert {
    /// The last certificate presented by a peer of this config, if any.
    pub fn get(&self) -> Option<CertificateDer<'static>> {
        self.0.lock().ok().and_then(|slot| slot.clone())
    }

    fn set(&self, cert: &CertificateDer<'_>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(cert.clone().into_owned());
        }
    }
}

/// Builds a client config (ring provider, TLS 1.2 and 1.3) that trusts
/// `roots` and verifies as much as `verify` says, and the [`PeerCert`] slot
/// its verifier fills in. Use one config per connection: the slot holds the
/// certificate of the latest handshake.
pub fn client_config(roots: Arc<RootCertStore>, verify: Verify) -> Result<(ClientConfig, PeerCert), rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // With no roots at all webpki refuses to build a verifier; then nothing
    // is trusted, which the verifier reports as an unknown issuer.
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone()).build().ok();
    let peer = PeerCert::default();
    let verifier = RecordingVerifier {
        webpki,
        verify,
        algorithms: provider.signature_verification_algorithms,
        peer: peer.clone(),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok((config, peer))
}

/// The TLS server name for `host`: an IP address for an IP literal (in any
/// spelling the SSRF guard accepts), else a DNS name (a trailing dot dropped).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    if let Some(ip) = parse_ip_literal(host) {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    let name = host.trim().trim_end_matches('.');
    ServerName::try_from(name.to_owned()).map_err(|_| format!("{host:?} is not a valid TLS server name"))
}

/// What a check reports about a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// `notAfter`, Unix ms.
    pub expires_at_ms: UnixMs,
    /// The issuer's distinguished name, e.g. `CN=R11, O=Let's Encrypt, C=US`.
    pub issuer: String,
}

/// Reads expiry and issuer from a DER-encoded X.509 certificate.
pub fn cert_info(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("unreadable certificate: {e}"))?;
    Ok(CertInfo {
        expires_at_ms: cert.validity().not_after.timestamp().saturating_mul(1000),
        issuer: cert.issuer().to_string(),
    })
}

/// Why a certificate expiring at `expires_at_ms` fails a limit of
/// `within_days` days at `now_ms`: already expired, or expiring sooner than
/// the limit. `None` when it is fine.
pub fn expiry_problem(expires_at_ms: UnixMs, within_days: u32, now_ms: UnixMs) -> Option<String> {
    let left_ms = expires_at_ms - now_ms;
    let date = utc_date(expires_at_ms);
    if left_ms <= 0 {
        let ago = -left_ms / DAY_MS;
        return Some(format!("certificate expired on {date} ({ago} days ago)"));
    }
    if left_ms < i64::from(within_days) * DAY_MS {
        let left = left_ms / DAY_MS;
        return Some(format!("certificate expires on {date}, {left} days left (limit: {within_days} days)"));
    }
    None
}

pub use statushawk_schemas::now_ms;

/// `YYYY-MM-DD` (UTC) of a Unix ms time.
fn utc_date(unix_ms: UnixMs) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix_ms.div_euclid(1000)) {
        Ok(at) => at.date().to_string(),
        Err(_) => format!("{unix_ms} (Unix ms)"),
    }
}

/// A verifier that records the end-entity certificate, then verifies it as
/// `verify` says with webpki.
#[derive(Debug)]
struct RecordingVerifier {
    /// `None` when there are no trusted roots.
    webpki: Option<Arc<WebPkiServerVerifier>>,
    verify: Verify,
    algorithms: WebPkiSupportedAlgorithms,
    peer: PeerCert,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.peer.set(end_entity);
        if self.verify == Verify::Nothing {
            return Ok(ServerCertVerified::assertion());
        }
        let Some(webpki) = &self.webpki else {
            return Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer));
        };
        // Webpki checks the chain (and validity period) first, the name last:
        // a name error means everything else passed.
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.verify == Verify::ChainOnly => Ok(ServerCertVerified::assertion()),
            result => result,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The rustls error inside a handshake's I/O error, if that is what it is.
fn rustls_error(err: &std::io::Error) -> Option<&rustls::Error> {
    err.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

impl Check for TlsSpec {
    async fn run(&self, ctx: &Context) -> Outcome {
        let name = match server_name(&self.host) {
            Ok(name) => name,
            Err(message) => return Outcome::down(ErrorKind::Internal, message),
        };
        let verify = if self.verify_hostname { Verify::Full } else { Verify::ChainOnly };
        let (config, peer_cert) = match client_config(ctx.roots.clone(), verify) {
            Ok(built) => built,
            Err(err) => return Outcome::down(ErrorKind::Internal, format!("TLS client setup: {err}")),
        };
        let Connected { stream, ip, dns_ms, connect_ms } = match connect(ctx, &self.host, self.port).await {
            Ok(connected) => connected,
            Err(outcome) => return outcome,
        };
        let peer = SocketAddr::new(ip, self.port);
        let mut outcome = Outcome::up();
        outcome.ip = Some(ip);
        outcome.timings.dns_ms = dns_ms;
        outcome.timings.connect_ms = Some(connect_ms);

        let started = Instant::now();
        let handshake = TlsConnector::from(Arc::new(config)).connect(name, stream).await;
        outcome.timings.tls_ms = Some(millis(started.elapsed()));

        // The certificate is reported whether or not it verified.
        let info = peer_cert.get().map(|der| cert_info(&der));
        if let Some(Ok(info)) = &info {
            outcome.cert_expires_at_ms = Some(info.expires_at_ms);
            outcome.cert_issuer = Some(info.issuer.clone());
        }
        let now = now_ms();
        let expiry = outcome.cert_expires_at_ms.and_then(|at| expiry_problem(at, self.expiry_days, now));

        let version = match handshake {
            Ok(tls) => tls.get_ref().1.protocol_version(),
            Err(err) => {
                let expired = matches!(
                    rustls_error(&err),
                    Some(rustls::Error::InvalidCertificate(
                        CertificateError::Expired | CertificateError::ExpiredContext { .. }
                    ))
                );
                return match expiry {
                    Some(problem) if expired => outcome.fail(ErrorKind::CertExpiry, problem),
                    Some(problem) => {
                        outcome.fail(ErrorKind::Tls, format!("TLS handshake with {peer}: {err}; {problem}"))
                    }
                    None => outcome.fail(ErrorKind::Tls, format!("TLS handshake with {peer}: {err}")),
                };
            }
        };
        match (info, expiry) {
            (Some(Ok(_)), Some(problem)) => outcome.fail(ErrorKind::CertExpiry, problem),
            (Some(Ok(info)), None) => {
                let days_left = (info.expires_at_ms - now) / DAY_MS;
                let version = version.map_or_else(|| "TLS".to_owned(), |v| format!("{v:?}").replace('_', "."));
                outcome.message = Some(format!(
                    "{version} with {peer}; certificate by {} valid until {} ({days_left} days left)",
                    info.issuer,
                    utc_date(info.expires_at_ms)
                ));
                outcome
            }
            (Some(Err(message)), _) => outcome.fail(ErrorKind::Tls, message),
            (None, _) => outcome.fail(ErrorKind::Tls, format!("{peer} presented no certificate")),
        }
    }
}
