//! E-mail over SMTP (the notifier sends it with lettre): STARTTLS
//! (default), implicit TLS, or plain for a local relay; optional
//! authentication; a plain-text and an HTML part; the subject names the
//! state and the monitor.

use std::str::FromStr as _;

use secrecy::SecretString;
use serde::Deserialize;

use super::{Channel, FieldError, Outgoing};
use crate::notification::{Notification, Tone, escape_html};

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same network (port 25).
    None,
}

/// E-mail settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    /// Recipients.
    pub to: Vec<String>,
    /// Sender, e.g. `StatusHawk <alerts@example.com>`.
    pub from: String,
    /// SMTP server name.
    pub smtp_host: String,
    /// SMTP port (default by `security`: 587, 465 or 25).
    #[serde(default)]
    pub smtp_port: Option<u16>,
    /// Connection security.
    #[serde(default)]
    pub security: SmtpSecurity,
    /// User name for SMTP authentication (none: no authentication).
    #[serde(default)]
    pub username: Option<String>,
    /// Password for SMTP authentication (secret).
    #[serde(default)]
    pub password: Option<SecretString>,
}

/// Where and how to submit a message.
#[derive(Clone, Debug)]
pub struct SmtpServer {
    /// Server name (also the TLS name).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Connection security.
    pub security: SmtpSecurity,
    /// User name and password, if any.
    pub credentials: Option<(String, SecretString)>,
}

/// An address with an optional display name, as in `From:` and `To:`:
/// `alerts@example.com` or `StatusHawk <alerts@example.com>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    /// The display name (`StatusHawk`), if any.
    pub name: Option<String>,
    /// The address itself, checked (RFC 5321/5322 as `email_address` reads them).
    pub address: String,
}

impl std::str::FromStr for Mailbox {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (name, address) = match text.strip_suffix('>').and_then(|t| t.rsplit_once('<')) {
            Some((name, address)) => {
                let name = name.trim().trim_matches('"').trim();
                ((!name.is_empty()).then(|| name.to_owned()), address.trim())
            }
            None => (None, text),
        };
        if name.as_deref().is_some_and(|n| n.contains(['<', '>', '\r', '\n'])) {
            return Err(format!("{text:?} has a malformed display name"));
        }
        email_address::EmailAddress::from_str(address).map_err(|e| format!("{address:?}: {e}"))?;
        Ok(Self { name, address: address.to_owned() })
    }
}

/// A rendered e-mail.
#[derive(Debug)]
pub struct EmailMessage {
    /// Where to submit it.
    pub server: SmtpServer,
    /// Sender.
    pub from: Mailbox,
    /// Recipients.
    pub to: Vec<Mailbox>,
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
}

impl Email {
    fn mailboxes(&self) -> Result<(Mailbox, Vec<Mailbox>), FieldError> {
        let from =
            Mailbox::from_str(&self.from).map_err(|e| FieldError::new("from", format!("not an address: {e}")))?;
        let to = self
            .to
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Mailbox::from_str(a).map_err(|e| FieldError::new(format!("to[{i}]"), format!("not an address: {e}")))
            })
            .collect::<Result<Vec<Mailbox>, _>>()?;
        Ok((from, to))
    }

    fn server(&self) -> SmtpServer {
        let port = self.smtp_port.unwrap_or(match self.security {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        });
        let credentials = match (&self.username, &self.password) {
            (Some(user), Some(password)) => Some((user.clone(), password.clone())),
            (Some(user), None) => Some((user.clone(), SecretString::from(""))),
            _ => None,
        };
        SmtpServer { host: self.smtp_host.trim().to_owned(), port, security: self.security, credentials }
    }
}

impl Channel for Email {
    fn validate(&self) -> Result<(), FieldError> {
        if self.to.is_empty() || self.to.len() > 50 {
            return Err(FieldError::new("to", "between 1 and 50 recipients"));
        }
        self.mailboxes()?;
        let host = self.smtp_host.trim();
        if host.is_empty() || host.len() > 253 || host.contains(['/', ' ', '@']) {
            return Err(FieldError::new("smtp_host", "a host name or address"));
        }
        if self.smtp_port == Some(0) {
            return Err(FieldError::new("smtp_port", "between 1 and 65535"));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(FieldError::new("username", "a password needs a user name"));
        }
        Ok(())
    }

    fn render(&self, n: &Notification) -> Option<Outgoing> {
        let (from, to) = self.mailboxes().ok()?;
        let color = match n.tone() {
            Tone::Down => "#e74c3c",
            Tone::Changed => "#e67e22",
            Tone::Resolved => "#2ecc71",
        };
        let mut rows = String::new();
        for (label, value) in n.facts() {
            rows.push_str(&format!(
                "<tr><th align=\"left\" style=\"padding:4px 12px 4px 0\">{}</th><td style=\"padding:4px 0\">{}</td></tr>\n",
                escape_html(label),
                escape_html(&value)
            ));
        }
        let html = format!(
            "<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif\">\n\
             <h2 style=\"color:{color}\">{}</h2>\n<p>{}</p>\n<table>\n{rows}</table>\n\
             <p style=\"color:#888\">Sent by StatusHawk</p>\n</body></html>\n",
            escape_html(&n.title()),
            escape_html(&n.summary()),
        );
        Some(Outgoing::Email(Box::new(EmailMessage {
            server: self.server(),
            from,
            to,
            subject: format!("[StatusHawk] {}", n.title()),
            text: format!("{}\n-- \nSent by StatusHawk\n", n.plain_text()),
            html,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes_read_with_or_without_a_display_name() {
        let plain: Mailbox = "alerts@example.com".parse().unwrap();
        assert_eq!(plain, Mailbox { name: None, address: "alerts@example.com".into() });
        let named: Mailbox = " \"StatusHawk\" <alerts@example.com> ".parse().unwrap();
        assert_eq!(named, Mailbox { name: Some("StatusHawk".into()), address: "alerts@example.com".into() });
        for bad in
            ["", "alerts", "StatusHawk <alerts>", "<>", "a@b@c", "Name <a@example.com", "x\r\nBcc: <a@example.com>"]
        {
            assert!(bad.parse::<Mailbox>().is_err(), "{bad:?}");
        }
    }
}
