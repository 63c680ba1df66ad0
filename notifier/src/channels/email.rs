//! E-mail over SMTP (lettre): STARTTLS (default), implicit TLS, or plain
//! for a local relay; optional authentication; a plain-text and an HTML
//! part; the subject names the state and the monitor.

use lettre::message::Mailbox;
use secrecy::SecretString;
use serde::Deserialize;

use super::{Channel, InvalidChannel, Outgoing};
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
    fn mailboxes(&self) -> Result<(Mailbox, Vec<Mailbox>), InvalidChannel> {
        let from = self.from.parse().map_err(|e| InvalidChannel::new("from", format!("not an address: {e}")))?;
        let to = self
            .to
            .iter()
            .enumerate()
            .map(|(i, a)| {
                a.parse().map_err(|e| InvalidChannel::new(format!("to[{i}]"), format!("not an address: {e}")))
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
    fn validate(&self) -> Result<(), InvalidChannel> {
        if self.to.is_empty() || self.to.len() > 50 {
            return Err(InvalidChannel::new("to", "between 1 and 50 recipients"));
        }
        self.mailboxes()?;
        let host = self.smtp_host.trim();
        if host.is_empty() || host.len() > 253 || host.contains(['/', ' ', '@']) {
            return Err(InvalidChannel::new("smtp_host", "a host name or address"));
        }
        if self.smtp_port == Some(0) {
            return Err(InvalidChannel::new("smtp_port", "between 1 and 65535"));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(InvalidChannel::new("username", "a password needs a user name"));
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
