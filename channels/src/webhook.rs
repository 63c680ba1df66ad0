//! Generic webhook: the [`WebhookPayload`] as JSON, signed with the
//! channel's secret (HMAC-SHA256 over `<timestamp>.<body>`; see the
//! `statushawk_schemas::WebhookPayload` docs for the headers).

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;
use statushawk_schemas::{SCHEMA_VERSION, WebhookPayload};

use super::{Channel, FieldError, HttpRequest, Outgoing, check_url};
use crate::notification::Notification;

/// Webhook settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Where to `POST` (secret).
    pub url: SecretString,
    /// The HMAC key of `X-StatusHawk-Signature`, at least 16 characters
    /// (secret).
    pub signing_secret: SecretString,
    /// Extra headers, e.g. `Authorization` (secret).
    #[serde(default)]
    pub headers: BTreeMap<String, SecretString>,
}

/// Header names the notifier sets itself.
const OWN_HEADERS: [&str; 6] = [
    "content-type",
    "content-length",
    "host",
    "x-statushawk-signature",
    "x-statushawk-timestamp",
    "x-statushawk-event-id",
];

impl Channel for Webhook {
    fn validate(&self) -> Result<(), FieldError> {
        check_url("url", &self.url)?;
        if self.signing_secret.expose_secret().chars().count() < 16 {
            return Err(FieldError::new("signing_secret", "at least 16 characters"));
        }
        for name in self.headers.keys() {
            let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid || OWN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(FieldError::new(format!("headers.{name}"), "not a header that may be set"));
            }
        }
        Ok(())
    }

    fn render(&self, n: &Notification) -> Option<Outgoing> {
        let payload = WebhookPayload {
            schema_version: SCHEMA_VERSION,
            event_type: n.event_type(),
            event_id: n.event_id.clone(),
            incident: n.event.clone(),
        };
        let mut headers: Vec<(String, SecretString)> =
            self.headers.iter().map(|(name, value)| (name.clone(), value.clone())).collect();
        headers.push(("X-StatusHawk-Event".to_owned(), SecretString::from(n.event_type().as_str())));
        headers.push(("X-StatusHawk-Event-Id".to_owned(), SecretString::from(n.event_id.clone())));
        Some(Outgoing::Http(HttpRequest {
            method: http::Method::POST,
            url: self.url.clone(),
            content_type: "application/json",
            headers,
            body: serde_json::to_vec(&payload).unwrap_or_default(),
            signing_key: Some(self.signing_secret.clone()),
        }))
    }
}

/// `v1=<hex HMAC-SHA256(key, "<timestamp>.<body>")>`: the value of
/// `X-StatusHawk-Signature` for a try sent at `timestamp` (Unix seconds).
pub fn signature(key: &SecretString, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.expose_secret().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a received webhook was refused by [`verify`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header is missing or malformed.
    #[error("missing or malformed X-StatusHawk-Timestamp / X-StatusHawk-Signature")]
    Malformed,
    /// The timestamp is too far from now: a replay, or a wrong clock.
    #[error("the timestamp is {0} s from now")]
    Stale(i64),
    /// The signature does not match the body.
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a received webhook, as a receiver should: the signature over
/// `<timestamp>.<body>` in constant time, and the timestamp within
/// `tolerance_secs` of `now_secs`.
pub fn verify(
    key: &SecretString,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let ts: i64 = timestamp.trim().parse().map_err(|_| SignatureError::Malformed)?;
    let given =
        signature.trim().strip_prefix("v1=").and_then(|h| hex::decode(h).ok()).ok_or(SignatureError::Malformed)?;
    if (now_secs - ts).abs() > tolerance_secs {
        return Err(SignatureError::Stale(now_secs - ts));
    }
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.expose_secret().as_bytes()).map_err(|_| SignatureError::Malformed)?;
    mac.update(timestamp.trim().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_replays_or_changes_do_not() {
        let key = SecretString::from("0123456789abcdef");
        let body = br#"{"type":"incident.opened"}"#;
        let sig = signature(&key, 1_700_000_000, body);
        assert_eq!(verify(&key, "1700000000", &sig, body, 1_700_000_030, 300), Ok(()));
        assert_eq!(verify(&key, "1700000000", &sig, body, 1_700_001_000, 300), Err(SignatureError::Stale(1000)));
        assert_eq!(verify(&key, "1700000001", &sig, body, 1_700_000_030, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(&key, "1700000000", &sig, b"{}", 1_700_000_030, 300), Err(SignatureError::Mismatch));
        let other = SecretString::from("another-secret-key");
        assert_eq!(verify(&other, "1700000000", &sig, body, 1_700_000_030, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(&key, "soon", &sig, body, 1_700_000_030, 300), Err(SignatureError::Malformed));
    }
}
