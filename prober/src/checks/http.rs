//! HTTP(S) checks on hyper and tokio-rustls directly: one fresh connection
//! per hop, to an address the SSRF guard returned, with real phase timings.
//!
//! A monitor's headers may not frame or re-route the request (`Host`,
//! `Content-Length`, `Transfer-Encoding`, upgrades and other hop-by-hop
//! headers: `statushawk_schemas::REFUSED_HEADERS`). Once a redirect leaves the monitor's
//! origin (scheme, host or port), only the [`CROSS_ORIGIN_HEADERS`] of the
//! monitor's headers are sent, and no body.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONNECTION, HOST, HeaderName, LOCATION, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use statushawk_schemas::{
    Assertion, AssertionResult, CheckStatus, ErrorKind, Header, HttpMethod, HttpSpec, StatusRange, validate_headers,
};
use tokio::io::{AsyncRead, AsyncWrite};
use url::Url;

use super::{Check, Context, Outcome, millis, tcp, tls};

const DEFAULT_EXPECTED: StatusRange = StatusRange { min: 200, max: 399 };

/// The monitor's headers still sent after a redirect to another origin:
/// content negotiation and caching only, never credentials or cookies.
pub const CROSS_ORIGIN_HEADERS: &[&str] = &["accept", "accept-language", "cache-control", "connection", "user-agent"];

/// A header's value: the one place that reads it.
fn header_value(header: &Header) -> &str {
    header.value()
}

impl Check for HttpSpec {
    async fn run(&self, ctx: &Context) -> Outcome {
        let started = Instant::now();
        let mut probe = Probe { outcome: Outcome::up(), started };
        let mut url = match Url::parse(&self.url) {
            Ok(url) => url,
            Err(err) => return Outcome::down(ErrorKind::Internal, format!("invalid URL: {err}")),
        };
        // A monitor stored before these rules were enforced is held to them too.
        if let Err(refused) = validate_headers(&self.headers) {
            return Outcome::down(ErrorKind::Blocked, format!("not sent: {refused}"));
        }
        let origin = url.origin();
        let mut cross_origin = false;
        let mut method = method(self.method);
        let mut body = self.body.clone();
        let mut hop = 0;
        loop {
            let response = match probe.request(self, ctx, &url, &method, body.as_deref(), cross_origin).await {
                Ok(response) => response,
                Err(outcome) => return *outcome,
            };
            let status = response.status;
            if status.is_redirection()
                && let Some(location) = response.location.as_deref()
                && self.follow_redirects > 0
            {
                if hop == self.follow_redirects {
                    return probe.outcome.fail(
                        ErrorKind::HttpStatus,
                        format!(
                            "more than {} redirects (last: {} to {location})",
                            self.follow_redirects,
                            status.as_u16()
                        ),
                    );
                }
                url = match url.join(location) {
                    Ok(next) if matches!(next.scheme(), "http" | "https") => next,
                    _ => return probe.outcome.fail(ErrorKind::Protocol, format!("bad redirect location {location:?}")),
                };
                // 303, and 301/302 after a POST, continue as GET without a body.
                if status == StatusCode::SEE_OTHER
                    || (method == Method::POST && matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND))
                {
                    method = Method::GET;
                    body = None;
                }
                // Once the chain has left the monitor's origin, its credentials
                // and body stay behind, also if a later hop comes back.
                if url.origin() != origin {
                    cross_origin = true;
                    body = None;
                }
                hop += 1;
                continue;
            }
            return probe.evaluate(self, response);
        }
    }
}

fn method(method: HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
    }
}

/// A response as far as the check read it.
struct Response {
    status: StatusCode,
    headers: hyper::HeaderMap,
    location: Option<String>,
    body: Vec<u8>,
}

/// One check in progress: what has been measured so far.
struct Probe {
    outcome: Outcome,
    started: Instant,
}

impl Probe {
    fn add(slot: &mut Option<u32>, ms: u32) {
        *slot = Some(slot.unwrap_or(0).saturating_add(ms));
    }

    fn failed(&self, error: ErrorKind, message: String) -> Box<Outcome> {
        Box::new(self.outcome.clone().fail(error, message))
    }

    /// One hop: resolve through the guard, connect, TLS, request, head, body.
    async fn request(
        &mut self,
        spec: &HttpSpec,
        ctx: &Context,
        url: &Url,
        method: &Method,
        body: Option<&str>,
        cross_origin: bool,
    ) -> Result<Response, Box<Outcome>> {
        let host = url.host_str().unwrap_or_default().to_owned();
        let https = url.scheme() == "https";
        let port = url.port_or_known_default().unwrap_or(if https { 443 } else { 80 });
        let connected = match tcp::connect(ctx, &host, port).await {
            Ok(connected) => connected,
            Err(mut outcome) => {
                // Keep what earlier hops measured.
                let dns = outcome.timings.dns_ms;
                outcome.timings = self.outcome.timings.clone();
                if let Some(ms) = dns {
                    Self::add(&mut outcome.timings.dns_ms, ms);
                }
                return Err(Box::new(outcome));
            }
        };
        if let Some(ms) = connected.dns_ms {
            Self::add(&mut self.outcome.timings.dns_ms, ms);
        }
        Self::add(&mut self.outcome.timings.connect_ms, connected.connect_ms);
        self.outcome.ip = Some(connected.ip);
        let stream = connected.stream;
        let _ = stream.set_nodelay(true);

        // The operator's cap wins: a monitor may ask for less, not more.
        let max_body = spec.max_body_bytes.map_or(ctx.max_body_bytes, |n| ctx.max_body_bytes.min(n as usize));
        let head = Head { method, url, host: &host, port, https, spec, body, cross_origin };
        if https {
            let handshaking = Instant::now();
            let verify = if spec.verify_tls { tls::Verify::Full } else { tls::Verify::Nothing };
            let (config, peer) = tls::client_config(ctx.roots.clone(), verify)
                .map_err(|e| self.failed(ErrorKind::Internal, format!("TLS configuration: {e}")))?;
            let name = tls::server_name(&host).map_err(|e| self.failed(ErrorKind::Tls, e))?;
            let handshake = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, stream).await;
            // The certificate is known even when verification refused it.
            if let Some(info) = peer.get().and_then(|der| tls::cert_info(&der).ok()) {
                self.outcome.cert_expires_at_ms = Some(info.expires_at_ms);
                self.outcome.cert_issuer = Some(info.issuer);
            }
            let tls = handshake.map_err(|e| self.failed(ErrorKind::Tls, format!("TLS handshake with {host}: {e}")))?;
            Self::add(&mut self.outcome.timings.tls_ms, millis(handshaking.elapsed()));
            self.exchange(tls, head, max_body).await
        } else {
            self.exchange(stream, head, max_body).await
        }
    }

    async fn exchange<S>(&mut self, stream: S, head: Head<'_>, max_body: usize) -> Result<Response, Box<Outcome>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.failed(ErrorKind::Protocol, format!("HTTP handshake: {e}")))?;
        let request = head.request().map_err(|e| self.failed(ErrorKind::Internal, e))?;
        // The request and the connection are driven together in this task
        // (no task per check); the connection closes when both are dropped.
        let exchange = async {
            let sent = Instant::now();
            let response = sender
                .send_request(request)
                .await
                .map_err(|err| (ErrorKind::Protocol, format!("HTTP request: {err}")))?;
            let ttfb_ms = millis(sent.elapsed());
            let (parts, mut incoming) = response.into_parts();
            let mut body = Vec::new();
            while body.len() < max_body {
                match incoming.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            let room = max_body - body.len();
                            body.extend_from_slice(&data[..data.len().min(room)]);
                        }
                    }
                    Some(Err(err)) => return Err((ErrorKind::Protocol, format!("reading the body: {err}"))),
                    None => break,
                }
            }
            let location = parts.headers.get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
            Ok((ttfb_ms, Response { status: parts.status, headers: parts.headers, location, body }))
        };
        tokio::pin!(exchange, connection);
        let mut connection_done = false;
        let result = loop {
            tokio::select! {
                result = &mut exchange => break result,
                // Once the connection ends, the exchange ends too (with the
                // response, or with the connection's error).
                _ = &mut connection, if !connection_done => connection_done = true,
            }
        };
        let (ttfb_ms, response) = result.map_err(|(kind, message)| self.failed(kind, message))?;
        Self::add(&mut self.outcome.timings.ttfb_ms, ttfb_ms);
        Ok(response)
    }

    /// Status, assertions and certificate expiry decide the outcome.
    fn evaluate(mut self, spec: &HttpSpec, response: Response) -> Outcome {
        let elapsed = millis(self.started.elapsed());
        let status = response.status.as_u16();
        self.outcome.http_status = Some(status);
        self.outcome.body_bytes = Some(u32::try_from(response.body.len()).unwrap_or(u32::MAX));
        let body = String::from_utf8_lossy(&response.body);
        self.outcome.assertions = spec.assertions.iter().map(|a| assertion(a, &response, &body, elapsed)).collect();

        let expected: &[StatusRange] = if spec.expected_status.is_empty() {
            std::slice::from_ref(&DEFAULT_EXPECTED)
        } else {
            &spec.expected_status
        };
        if !expected.iter().any(|r| (r.min..=r.max).contains(&status)) {
            return self.outcome.fail(ErrorKind::HttpStatus, format!("HTTP {status}"));
        }
        if let (Some(days), Some(expires)) = (spec.cert_expiry_days, self.outcome.cert_expires_at_ms)
            && let Some(problem) = tls::expiry_problem(expires, days, tls::now_ms())
        {
            return self.outcome.fail(ErrorKind::CertExpiry, problem);
        }
        let failed: Vec<&AssertionResult> = self.outcome.assertions.iter().filter(|a| !a.passed).collect();
        let hard = failed.iter().filter(|a| !matches!(a.assertion, Assertion::ResponseTimeBelow { .. })).count();
        if hard > 0 {
            let message = describe(&failed);
            return self.outcome.fail(ErrorKind::Assertion, message);
        }
        if !failed.is_empty() {
            let message = describe(&failed);
            self.outcome.status = CheckStatus::Degraded;
            self.outcome.error = Some(ErrorKind::Assertion);
            self.outcome.message = Some(message);
        }
        self.outcome
    }
}

/// The request line and headers of one hop.
struct Head<'a> {
    method: &'a Method,
    url: &'a Url,
    host: &'a str,
    port: u16,
    https: bool,
    spec: &'a HttpSpec,
    body: Option<&'a str>,
    /// A hop after the chain left the monitor's origin.
    cross_origin: bool,
}

impl Head<'_> {
    fn request(&self) -> Result<Request<Full<Bytes>>, String> {
        let mut target = self.url.path().to_owned();
        if let Some(query) = self.url.query() {
            target.push('?');
            target.push_str(query);
        }
        let default_port = if self.https { 443 } else { 80 };
        let authority = match (self.url.host(), self.port == default_port) {
            (Some(url::Host::Ipv6(ip)), true) => format!("[{ip}]"),
            (Some(url::Host::Ipv6(ip)), false) => format!("[{ip}]:{}", self.port),
            (_, true) => self.host.to_owned(),
            (_, false) => format!("{}:{}", self.host, self.port),
        };
        let headers: Vec<&Header> = self
            .spec
            .headers
            .iter()
            .filter(|h| {
                !self.cross_origin || CROSS_ORIGIN_HEADERS.iter().any(|safe| safe.eq_ignore_ascii_case(h.name.trim()))
            })
            .collect();
        let sets = |name: &HeaderName| headers.iter().any(|h| h.name.trim().eq_ignore_ascii_case(name.as_str()));
        let mut builder = Request::builder().method(self.method.clone()).uri(target).header(HOST, authority);
        if !sets(&USER_AGENT) {
            builder = builder.header(USER_AGENT, concat!("StatusHawk/", env!("CARGO_PKG_VERSION")));
        }
        for header in &headers {
            builder = builder.header(header.name.trim(), header_value(header));
        }
        // Each check uses a fresh connection: say so, so the server closes
        // first and keeps TIME_WAIT on its side rather than on the prober's
        // ports (as blackbox_exporter's and most probers' clients do).
        if !sets(&CONNECTION) {
            builder = builder.header(CONNECTION, "close");
        }
        let body = Full::new(Bytes::from(self.body.unwrap_or_default().to_owned()));
        builder.body(body).map_err(|e| format!("building the request: {e}"))
    }
}

fn excerpt(text: &str) -> String {
    const LIMIT: usize = 200;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn assertion(assertion: &Assertion, response: &Response, body: &str, elapsed_ms: u32) -> AssertionResult {
    let header = |name: &str| response.headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let (passed, actual) = match assertion {
        Assertion::BodyContains { value } => (body.contains(value.as_str()), Some(excerpt(body))),
        Assertion::BodyNotContains { value } => (!body.contains(value.as_str()), Some(excerpt(body))),
        Assertion::JsonPointerEquals { pointer, value } => match serde_json::from_str::<serde_json::Value>(body) {
            Ok(json) => match json.pointer(pointer) {
                Some(found) => (found == value, Some(found.to_string())),
                None => (false, Some("(absent)".into())),
            },
            Err(err) => (false, Some(format!("(body is not JSON: {err})"))),
        },
        Assertion::HeaderEquals { name, value } => match header(name) {
            Some(found) => (found == *value, Some(found)),
            None => (false, Some("(absent)".into())),
        },
        Assertion::HeaderContains { name, value } => match header(name) {
            Some(found) => (found.contains(value.as_str()), Some(found)),
            None => (false, Some("(absent)".into())),
        },
        Assertion::ResponseTimeBelow { max_ms } => (elapsed_ms <= *max_ms, Some(format!("{elapsed_ms} ms"))),
    };
    AssertionResult { assertion: assertion.clone(), passed, actual }
}

fn describe(failed: &[&AssertionResult]) -> String {
    let parts: Vec<String> = failed
        .iter()
        .map(|a| {
            let what = match &a.assertion {
                Assertion::BodyContains { value } => format!("body contains {value:?}"),
                Assertion::BodyNotContains { value } => format!("body does not contain {value:?}"),
                Assertion::JsonPointerEquals { pointer, value } => format!("{pointer} == {value}"),
                Assertion::HeaderEquals { name, value } => format!("header {name} == {value:?}"),
                Assertion::HeaderContains { name, value } => format!("header {name} contains {value:?}"),
                Assertion::ResponseTimeBelow { max_ms } => format!("response time <= {max_ms} ms"),
            };
            match &a.actual {
                Some(actual)
                    if !matches!(a.assertion, Assertion::BodyContains { .. } | Assertion::BodyNotContains { .. }) =>
                {
                    format!("{what} failed (actual: {actual})")
                }
                _ => format!("{what} failed"),
            }
        })
        .collect();
    parts.join("; ")
}
