//! Secrets at rest: channel settings and monitor credentials that must not
//! be readable from a database dump or the `CONFIG` stream (webhook URLs,
//! bot tokens, SMTP passwords; HTTP header values, request bodies, TCP
//! payloads).
//!
//! XChaCha20-Poly1305 with a 32-byte key from the configuration
//! (`secrets.key`, base64) and a random 24-byte nonce per seal. The owner's
//! id is the associated data, so a ciphertext copied onto another row does
//! not open.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};

/// Bytes of a nonce.
pub const NONCE_LEN: usize = 24;

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// No key is configured.
    #[error("secrets.key is not set (STATUSHAWK_SECRETS_KEY: 32 random bytes, base64)")]
    NoKey,
    /// The configured key is not 32 bytes of base64.
    #[error("secrets.key must be 32 bytes, base64-encoded")]
    BadKey,
    /// The ciphertext was made with another key or for another owner, or it
    /// was changed.
    #[error("a secret does not open with secrets.key (another key, another row, or changed)")]
    Open,
    /// Encryption failed (not expected with a valid key).
    #[error("sealing a secret failed")]
    Seal,
}

/// Seals and opens secrets with the deployment's key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
    /// The key itself, only ever used through [`SecretBox::subkey`].
    key: [u8; 32],
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

/// A sealed secret: store both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// Ciphertext with its 16-byte tag.
    pub ciphertext: Vec<u8>,
    /// The nonce it was sealed with.
    pub nonce: Vec<u8>,
}

impl SecretBox {
    /// A box for a base64-encoded 32-byte key; an empty key is
    /// [`SecretsError::NoKey`].
    pub fn from_base64(key: &SecretString) -> Result<Self, SecretsError> {
        let text = key.expose_secret().trim();
        if text.is_empty() {
            return Err(SecretsError::NoKey);
        }
        let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| SecretsError::BadKey)?;
        Self::new(&bytes)
    }

    /// A box for a raw 32-byte key.
    pub fn new(key: &[u8]) -> Result<Self, SecretsError> {
        let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(|_| SecretsError::BadKey)?;
        let key = key.try_into().map_err(|_| SecretsError::BadKey)?;
        Ok(Self { cipher, key })
    }

    /// A fresh random key, base64-encoded (for `statushawk` to suggest one).
    pub fn generate_key() -> String {
        let key: [u8; 32] = rand::random();
        base64::engine::general_purpose::STANDARD.encode(key)
    }

    /// A key of its own for another purpose (e.g. a MAC), derived from the
    /// deployment's key with BLAKE3's key derivation: `context` names the
    /// purpose (a fixed, unique string such as `"StatusHawk ping tokens
    /// v1"`), so no two purposes share a key and none learns this one.
    pub fn subkey(&self, context: &str) -> [u8; 32] {
        blake3::derive_key(context, &self.key)
    }

    /// The signing secret of a status page subscriber's webhook: derived
    /// from the key and the subscription's id, so it is stored nowhere;
    /// the API shows it once, the notifier signs with it.
    /// `subscriber` is the id's bytes.
    pub fn subscriber_signing_secret(&self, subscriber: &[u8; 16]) -> String {
        let key = self.subkey("statushawk 2026 status page subscriber webhook signing");
        format!("whsec_{}", &blake3::keyed_hash(&key, subscriber).to_hex()[..48])
    }

    /// Encrypts `plaintext` for `owner` (e.g. the channel id's bytes).
    pub fn seal(&self, owner: &[u8], plaintext: &[u8]) -> Result<Sealed, SecretsError> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let ciphertext = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: owner })
            .map_err(|_| SecretsError::Seal)?;
        Ok(Sealed { ciphertext, nonce: nonce.to_vec() })
    }

    /// Decrypts what [`SecretBox::seal`] made for the same `owner`.
    pub fn open(&self, owner: &[u8], sealed: &Sealed) -> Result<Vec<u8>, SecretsError> {
        if sealed.nonce.len() != NONCE_LEN {
            return Err(SecretsError::Open);
        }
        self.cipher
            .decrypt(XNonce::from_slice(&sealed.nonce), Payload { msg: &sealed.ciphertext, aad: owner })
            .map_err(|_| SecretsError::Open)
    }
}

/// What a monitor's sealed secrets are bound to: its id, in a context of
/// their own (so no other row's ciphertext opens as a monitor's).
fn monitor_owner(monitor: statushawk_schemas::MonitorId) -> Vec<u8> {
    [b"monitor:".as_slice(), monitor.0.as_bytes()].concat()
}

impl SecretBox {
    /// Seals the secret parts of `monitor`'s check spec.
    pub fn seal_spec_secrets(
        &self,
        monitor: statushawk_schemas::MonitorId,
        secrets: &statushawk_schemas::SpecSecrets,
    ) -> Result<Sealed, SecretsError> {
        let json = serde_json::to_vec(secrets).map_err(|_| SecretsError::Seal)?;
        self.seal(&monitor_owner(monitor), &json)
    }

    /// Opens what [`SecretBox::seal_spec_secrets`] sealed for `monitor`.
    pub fn open_spec_secrets(
        &self,
        monitor: statushawk_schemas::MonitorId,
        sealed: &Sealed,
    ) -> Result<statushawk_schemas::SpecSecrets, SecretsError> {
        let json = self.open(&monitor_owner(monitor), sealed)?;
        serde_json::from_slice(&json).map_err(|_| SecretsError::Open)
    }
}

impl SecretBox {
    /// Seals a channel's secret settings (a JSON object) for storage, bound
    /// to the channel's id (the owner is the bare id: channels came first).
    pub fn seal_channel_secret(
        &self,
        channel: statushawk_schemas::ChannelId,
        secret: &serde_json::Value,
    ) -> Result<Sealed, SecretsError> {
        let json = serde_json::to_vec(secret).map_err(|_| SecretsError::Seal)?;
        self.seal(channel.0.as_bytes(), &json)
    }

    /// Opens what [`SecretBox::seal_channel_secret`] sealed for `channel`.
    pub fn open_channel_secret(
        &self,
        channel: statushawk_schemas::ChannelId,
        sealed: &Sealed,
    ) -> Result<serde_json::Value, SecretsError> {
        let json = self.open(channel.0.as_bytes(), sealed)?;
        serde_json::from_slice(&json).map_err(|_| SecretsError::Open)
    }
}

/// The owner the secret of a channel test's unsaved settings is sealed
/// for (`requests.channels`, from the API to a notifier).
const CHANNEL_REQUEST_OWNER: &[u8] = b"channel-request";

impl SecretBox {
    /// Seals the secret settings of a channel the API asks a notifier to
    /// test or verify, as they travel on NATS.
    pub fn seal_channel_request_secret(
        &self,
        secret: &serde_json::Value,
    ) -> Result<statushawk_schemas::SealedSecrets, SecretsError> {
        let json = serde_json::to_vec(secret).map_err(|_| SecretsError::Seal)?;
        Ok(self.seal(CHANNEL_REQUEST_OWNER, &json)?.to_wire())
    }

    /// Opens what [`SecretBox::seal_channel_request_secret`] sealed.
    pub fn open_channel_request_secret(
        &self,
        wire: &statushawk_schemas::SealedSecrets,
    ) -> Result<serde_json::Value, SecretsError> {
        let json = self.open(CHANNEL_REQUEST_OWNER, &Sealed::from_wire(wire)?)?;
        serde_json::from_slice(&json).map_err(|_| SecretsError::Open)
    }
}

impl Sealed {
    /// As it travels on `CONFIG` (base64).
    pub fn to_wire(&self) -> statushawk_schemas::SealedSecrets {
        let b64 = base64::engine::general_purpose::STANDARD;
        statushawk_schemas::SealedSecrets { ciphertext: b64.encode(&self.ciphertext), nonce: b64.encode(&self.nonce) }
    }

    /// From its `CONFIG` form.
    pub fn from_wire(wire: &statushawk_schemas::SealedSecrets) -> Result<Self, SecretsError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        Ok(Self {
            ciphertext: b64.decode(&wire.ciphertext).map_err(|_| SecretsError::Open)?,
            nonce: b64.decode(&wire.nonce).map_err(|_| SecretsError::Open)?,
        })
    }

    /// From a row's `secret_ciphertext` and `secret_nonce`, when both are set.
    pub fn from_columns(ciphertext: Option<Vec<u8>>, nonce: Option<Vec<u8>>) -> Option<Self> {
        Some(Self { ciphertext: ciphertext?, nonce: nonce? })
    }
}

/// Puts a monitor's sealed secrets back into its check spec: what a service
/// that builds due checks does (the scheduler, the evaluator's re-checks).
/// A spec with sealed secrets and no key (or a key that does not open them)
/// is an error: a check without its credentials would fail for the wrong
/// reason.
pub fn restore_spec_secrets(
    secrets: Option<&SecretBox>,
    monitor: statushawk_schemas::MonitorId,
    sealed: Option<&Sealed>,
    spec: &mut statushawk_schemas::CheckSpec,
) -> Result<(), SecretsError> {
    let Some(sealed) = sealed else { return Ok(()) };
    let opened = secrets.ok_or(SecretsError::NoKey)?.open_spec_secrets(monitor, sealed)?;
    spec.restore_secrets(opened);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn subkeys_differ_by_purpose_and_by_key() {
        let secrets = SecretBox::new(&[7u8; 32]).unwrap();
        let pings = secrets.subkey("StatusHawk test purpose A");
        assert_eq!(pings, secrets.subkey("StatusHawk test purpose A"), "deterministic");
        assert_ne!(pings, secrets.subkey("StatusHawk test purpose B"));
        assert_ne!(pings, [7u8; 32], "never the key itself");
        assert_ne!(pings, SecretBox::new(&[8u8; 32]).unwrap().subkey("StatusHawk test purpose A"));
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_owner_and_key() {
        let key = SecretString::from(SecretBox::generate_key());
        let secrets = SecretBox::from_base64(&key).unwrap();
        let sealed = secrets.seal(b"channel-1", b"{\"token\":\"t0p\"}").unwrap();
        assert!(!sealed.ciphertext.windows(3).any(|w| w == b"t0p"));
        assert_eq!(secrets.open(b"channel-1", &sealed).unwrap(), b"{\"token\":\"t0p\"}");
        assert!(matches!(secrets.open(b"channel-2", &sealed), Err(SecretsError::Open)));
        let other = SecretBox::from_base64(&SecretString::from(SecretBox::generate_key())).unwrap();
        assert!(matches!(other.open(b"channel-1", &sealed), Err(SecretsError::Open)));
        let mut changed = sealed.clone();
        changed.ciphertext[0] ^= 1;
        assert!(matches!(secrets.open(b"channel-1", &changed), Err(SecretsError::Open)));
    }

    #[test]
    fn monitor_secrets_open_only_for_their_monitor_and_survive_the_wire() {
        use statushawk_schemas::{CheckSpec, Header, HttpSpec, MonitorId, SpecSecrets};
        let secrets = SecretBox::new(&[7u8; 32]).unwrap();
        let monitor = MonitorId::new();
        let mut http = HttpSpec::get("https://api.example/");
        http.headers = vec![Header::new("Authorization", "Bearer t0p")];
        let mut spec = CheckSpec::Http(http);
        let whole = spec.clone();
        let taken = spec.take_secrets();
        let sealed = secrets.seal_spec_secrets(monitor, &taken).unwrap();
        assert!(!sealed.ciphertext.windows(3).any(|w| w == b"t0p"));
        let wire = Sealed::from_wire(&sealed.to_wire()).unwrap();
        assert_eq!(wire, sealed);
        assert_eq!(secrets.open_spec_secrets(monitor, &wire).unwrap(), taken);
        assert!(matches!(secrets.open_spec_secrets(MonitorId::new(), &wire), Err(SecretsError::Open)));
        assert!(matches!(secrets.open(monitor.0.as_bytes(), &wire), Err(SecretsError::Open)), "not as a channel's");
        assert!(matches!(restore_spec_secrets(None, monitor, Some(&wire), &mut spec), Err(SecretsError::NoKey)));
        restore_spec_secrets(Some(&secrets), monitor, Some(&wire), &mut spec).unwrap();
        assert_eq!(spec, whole);
        let mut plain = whole.clone();
        restore_spec_secrets(None, monitor, None, &mut plain).unwrap();
        assert_eq!(plain, whole, "nothing sealed: nothing to do");
        assert!(SpecSecrets::default().is_empty());
    }

    #[test]
    fn bad_keys_are_refused_with_the_setting_named() {
        assert!(matches!(SecretBox::from_base64(&SecretString::from("")), Err(SecretsError::NoKey)));
        assert!(matches!(SecretBox::from_base64(&SecretString::from("c2hvcnQ=")), Err(SecretsError::BadKey)));
        assert!(matches!(SecretBox::from_base64(&SecretString::from("not base64!")), Err(SecretsError::BadKey)));
        assert!(SecretsError::NoKey.to_string().contains("STATUSHAWK_SECRETS_KEY"));
    }
}
