//! Sending an [`Outgoing`] message once, and judging the answer.
//!
//! Every connection passes the SSRF guard: reqwest resolves names through
//! [`Guard::resolve`], IP-literal hosts (which reqwest never resolves) are
//! checked before the request, proxies are off and redirects are not
//! followed. SMTP servers are resolved through the guard and connected to by
//! address, with the name kept for TLS.
//!
//! Every send has one hard deadline, the sender's `timeout`, around all of
//! it: resolving, connecting, TLS, the whole SMTP session or HTTP exchange,
//! and reading the answer. A server that accepts and then says nothing (or
//! trickles) holds a delivery slot for that long at most; the try is a
//! [`Verdict::Retry`] with "no answer within 15 s". The libraries' own
//! timeouts are off, so this one deadline decides.

use std::error::Error as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use secrecy::ExposeSecret;
use statushawk_guard::{Guard, GuardError, parse_ip_literal};

use statushawk_channels::email::{EmailMessage, SmtpSecurity, SmtpServer};
use statushawk_channels::{HttpRequest, Outgoing, webhook};

/// How a try ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The provider took it.
    Delivered,
    /// It may work later (429, 5xx, a timeout, a refused connection).
    Retry,
    /// It will not work as configured (other 4xx, a blocked address).
    Failed,
}

/// One try, as recorded in `notification_attempts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// How it ended.
    pub verdict: Verdict,
    /// The HTTP status, for HTTP channels that got an answer.
    pub http_status: Option<u16>,
    /// The SMTP server's reply, for e-mail.
    pub smtp_reply: Option<String>,
    /// What went wrong, with the provider's own message where there is one.
    pub error: Option<String>,
    /// How long the provider asked us to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl Attempt {
    pub(crate) fn failed(verdict: Verdict, error: impl Into<String>) -> Self {
        Self { verdict, http_status: None, smtp_reply: None, error: Some(error.into()), retry_after: None }
    }
}

/// What an HTTP provider answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// Its reason phrase, `Not Found`.
    pub reason: Option<&'static str>,
    /// The start of the body, on one line; empty for a 2xx.
    pub text: String,
    /// How long the provider asked us to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl Answer {
    /// `HTTP 404 Not Found: {"message": "Unknown Webhook"}`: the status and
    /// the provider's own words.
    pub fn describe(&self) -> String {
        let status = match self.reason {
            Some(reason) => format!("{} {reason}", self.status),
            None => self.status.to_string(),
        };
        match (self.status, self.text.is_empty()) {
            (300..=399, _) => format!("HTTP {status}: redirects are not followed; use the final URL"),
            (_, true) => format!("HTTP {status}"),
            (_, false) => format!("HTTP {status}: {}", self.text),
        }
    }
}

/// Sends notifications.
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
    guard: Guard,
    timeout: Duration,
}

/// The provider's answer is kept up to this many bytes for the log.
const ANSWER_MAX: usize = 1024;

impl Sender {
    /// A sender whose connections pass `guard`, each try limited to
    /// `timeout` in all.
    pub fn new(guard: Guard, timeout: Duration) -> anyhow::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .dns_resolver(Arc::new(GuardResolver(guard.clone())))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("StatusHawk/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, guard, timeout })
    }

    /// The deadline of one send.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `outgoing` once, within the deadline.
    pub async fn send(&self, outgoing: &Outgoing) -> Attempt {
        self.within(async {
            match outgoing {
                Outgoing::Http(request) => self.send_http(request).await,
                Outgoing::Email(message) => self.send_email(message).await,
            }
        })
        .await
    }

    /// Sends a mail through the deployment's own SMTP server (`[email]`),
    /// within the deadline: plain text, with an HTML alternative and
    /// further headers (`List-Unsubscribe`, ...) when given. That server is
    /// the operator's configuration, not a tenant's, and is often on this
    /// host: it is connected to by name, without the SSRF guard.
    #[allow(clippy::too_many_arguments)]
    pub async fn send_system_letter(
        &self,
        server: &SmtpServer,
        from: &Mailbox,
        to: &Mailbox,
        subject: &str,
        text: &str,
        html: Option<&str>,
        headers: &[(&'static str, String)],
    ) -> Attempt {
        let mut builder = Message::builder().from(from.clone()).to(to.clone()).subject(subject);
        for (name, value) in headers {
            builder = builder.raw_header(lettre::message::header::HeaderValue::new(
                lettre::message::header::HeaderName::new_from_ascii_str(name),
                value.clone(),
            ));
        }
        let email = match html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(text.to_owned(), html.to_owned())),
            None => builder.header(lettre::message::header::ContentType::TEXT_PLAIN).body(text.to_owned()),
        };
        let email = match email {
            Ok(email) => email,
            Err(err) => return Attempt::failed(Verdict::Failed, format!("building the message: {err}")),
        };
        self.within(submit(&server.host, server, email)).await
    }

    /// `attempt`, or a retry when it has not ended by the deadline.
    async fn within(&self, attempt: impl Future<Output = Attempt>) -> Attempt {
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(attempt) => attempt,
            Err(_) => Attempt::failed(Verdict::Retry, format!("no answer within {}", seconds(self.timeout))),
        }
    }

    async fn send_http(&self, request: &HttpRequest) -> Attempt {
        let answer = match self.exchange(request).await {
            Ok(answer) => answer,
            Err(attempt) => return attempt,
        };
        let verdict = match answer.status {
            200..=299 => Verdict::Delivered,
            408 | 429 | 500..=599 => Verdict::Retry,
            _ => Verdict::Failed,
        };
        let error = (verdict != Verdict::Delivered).then(|| answer.describe());
        Attempt { verdict, http_status: Some(answer.status), smtp_reply: None, error, retry_after: answer.retry_after }
    }

    /// Sends `request` once, within the deadline, and hands back what the
    /// provider answered, unjudged: for asking a provider a question (does
    /// this webhook exist?) rather than delivering. A transport error or
    /// the deadline is the `Err` attempt.
    pub async fn answer(&self, request: &HttpRequest) -> Result<Answer, Attempt> {
        match tokio::time::timeout(self.timeout, self.exchange(request)).await {
            Ok(answer) => answer,
            Err(_) => Err(Attempt::failed(Verdict::Retry, format!("no answer within {}", seconds(self.timeout)))),
        }
    }

    /// One HTTP exchange through the guard, no deadline of its own.
    async fn exchange(&self, request: &HttpRequest) -> Result<Answer, Attempt> {
        let url = reqwest::Url::parse(request.url.expose_secret())
            .map_err(|err| Attempt::failed(Verdict::Failed, format!("invalid URL: {err}")))?;
        // reqwest does not resolve IP literals, so its resolver never sees them.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => parse_ip_literal(name),
            None => return Err(Attempt::failed(Verdict::Failed, "the URL has no host")),
        };
        if let Some(ip) = literal {
            self.guard
                .check_ip(&ip.to_string(), ip)
                .map_err(|err| Attempt::failed(Verdict::Failed, err.to_string()))?;
        }
        let mut headers = HeaderMap::new();
        if !request.body.is_empty() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(request.content_type));
        }
        for (name, value) in &request.headers {
            let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value.expose_secret()))
            else {
                return Err(Attempt::failed(Verdict::Failed, format!("header {name} is not valid")));
            };
            headers.insert(name, value);
        }
        if let Some(key) = &request.signing_key {
            let now = statushawk_schemas::now_ms() / 1000;
            let signature = webhook::signature(key, now, &request.body);
            for (name, value) in [("x-statushawk-timestamp", now.to_string()), ("x-statushawk-signature", signature)] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(HeaderName::from_static(name), value);
                }
            }
        }
        let response = self
            .http
            .request(request.method.clone(), url)
            .headers(headers)
            .body(request.body.clone())
            .send()
            .await
            .map_err(http_error)?;
        let status = response.status();
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        // A 2xx says it all; the body is only read for the provider's error.
        let text = if status.is_success() { String::new() } else { read_answer(response).await };
        Ok(Answer { status: status.as_u16(), reason: status.canonical_reason(), text, retry_after })
    }

    async fn send_email(&self, message: &EmailMessage) -> Attempt {
        let server = &message.server;
        let ip = match self.guard.resolve(&server.host).await {
            Ok(resolved) => match resolved.addrs.first() {
                Some(ip) => *ip,
                None => return Attempt::failed(Verdict::Retry, format!("{} has no address", server.host)),
            },
            Err(err @ GuardError::Blocked { .. }) => return Attempt::failed(Verdict::Failed, err.to_string()),
            Err(err) => return Attempt::failed(Verdict::Retry, err.to_string()),
        };
        let mut email = Message::builder().subject(message.subject.clone());
        for (i, mailbox) in std::iter::once(&message.from).chain(&message.to).enumerate() {
            let mailbox = match mailbox.address.parse() {
                Ok(address) => Mailbox::new(mailbox.name.clone(), address),
                Err(err) => return Attempt::failed(Verdict::Failed, format!("{}: {err}", mailbox.address)),
            };
            email = if i == 0 { email.from(mailbox) } else { email.to(mailbox) };
        }
        let email = match email.multipart(MultiPart::alternative_plain_html(message.text.clone(), message.html.clone()))
        {
            Ok(email) => email,
            Err(err) => return Attempt::failed(Verdict::Failed, format!("building the message: {err}")),
        };
        submit(&ip.to_string(), server, email).await
    }
}

/// One SMTP session with `server`, connecting to `address` (an address the
/// guard returned, or the operator's own server name) and keeping the
/// server's name for TLS. No timeout of its own: the caller's deadline
/// bounds it.
async fn submit(address: &str, server: &SmtpServer, email: Message) -> Attempt {
    let tls = |host: &str| TlsParameters::new_rustls(host.to_owned());
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(address).port(server.port).timeout(None);
    builder = match server.security {
        SmtpSecurity::None => builder.tls(Tls::None),
        SmtpSecurity::Starttls => match tls(&server.host) {
            Ok(params) => builder.tls(Tls::Required(params)),
            Err(err) => return Attempt::failed(Verdict::Failed, format!("TLS set-up: {err}")),
        },
        SmtpSecurity::Tls => match tls(&server.host) {
            Ok(params) => builder.tls(Tls::Wrapper(params)),
            Err(err) => return Attempt::failed(Verdict::Failed, format!("TLS set-up: {err}")),
        },
    };
    if let Some((user, password)) = &server.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose_secret().to_owned()));
    }
    match builder.build().send(email).await {
        Ok(response) => {
            let reply = format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" "));
            Attempt {
                verdict: Verdict::Delivered,
                http_status: None,
                smtp_reply: Some(reply),
                error: None,
                retry_after: None,
            }
        }
        Err(err) => {
            let verdict = if err.is_permanent() { Verdict::Failed } else { Verdict::Retry };
            let reply = err.status().map(|code| code.to_string());
            Attempt { verdict, http_status: None, smtp_reply: reply, error: Some(chain(&err)), retry_after: None }
        }
    }
}

/// `15 s`, or `500 ms` below whole seconds.
fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

/// A transport error: a blocked address fails at once, anything else
/// (refused, reset, timed out) is worth another try. The URL is left out
/// of the text: it may hold the channel's secret.
fn http_error(err: reqwest::Error) -> Attempt {
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(blocked @ GuardError::Blocked { .. }) = cause.downcast_ref::<GuardError>() {
            return Attempt::failed(Verdict::Failed, blocked.to_string());
        }
        source = cause.source();
    }
    let verdict = if err.is_builder() { Verdict::Failed } else { Verdict::Retry };
    let kind = if err.is_timeout() { "timed out" } else { "request failed" };
    Attempt::failed(verdict, format!("{kind}: {}", chain(&err.without_url())))
}

/// An error and its causes, `a: b: c`.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The first [`ANSWER_MAX`] bytes of the body, as text on one line.
async fn read_answer(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < ANSWER_MAX {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(ANSWER_MAX);
    String::from_utf8_lossy(&bytes).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `Retry-After`: delay seconds, or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// reqwest's resolver, through the guard.
struct GuardResolver(Guard);

impl Resolve for GuardResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            let resolved = guard.resolve(name.as_str()).await?;
            let addrs: Addrs = Box::new(resolved.addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(90));
        let wait = parse_retry_after(&later).unwrap_or_default();
        assert!(wait > Duration::from_secs(80) && wait <= Duration::from_secs(90), "{wait:?}");
        assert_eq!(parse_retry_after("soon"), None);
    }
}
