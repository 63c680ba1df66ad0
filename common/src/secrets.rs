//! Secrets at rest: channel settings that must not be readable from a
//! database dump (webhook URLs, bot tokens, SMTP passwords).
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
        Ok(Self { cipher })
    }

    /// A fresh random key, base64-encoded (for `statushawk` to suggest one).
    pub fn generate_key() -> String {
        let key: [u8; 32] = rand::random();
        base64::engine::general_purpose::STANDARD.encode(key)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

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
    fn bad_keys_are_refused_with_the_setting_named() {
        assert!(matches!(SecretBox::from_base64(&SecretString::from("")), Err(SecretsError::NoKey)));
        assert!(matches!(SecretBox::from_base64(&SecretString::from("c2hvcnQ=")), Err(SecretsError::BadKey)));
        assert!(matches!(SecretBox::from_base64(&SecretString::from("not base64!")), Err(SecretsError::BadKey)));
        assert!(SecretsError::NoKey.to_string().contains("STATUSHAWK_SECRETS_KEY"));
    }
}
