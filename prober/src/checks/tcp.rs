//! TCP check: connect to a guarded address, optionally send text and
//! expect text back.
//!
//! [`connect`] is shared with the TLS check (and usable by HTTP): it resolves
//! through the SSRF guard and connects only to an address the guard returned.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use statushawk_schemas::{ErrorKind, TcpSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Check, Context, Outcome, millis};

/// Longest excerpt of received text quoted in a message.
const EXCERPT_CHARS: usize = 200;

/// A TCP connection to a guarded target, with what was measured on the way.
#[derive(Debug)]
pub struct Connected {
    /// The open connection.
    pub stream: TcpStream,
    /// The address connected to.
    pub ip: IpAddr,
    /// Name resolution time (`None` for an IP literal).
    pub dns_ms: Option<u32>,
    /// Time to connect (to the address that accepted).
    pub connect_ms: u32,
}

/// Resolves `host` through the SSRF guard and connects to the first of its
/// allowed addresses that accepts, in the resolver's order. Each address gets
/// an equal share of `ctx.timeout`, so one black-holed address cannot use up
/// the whole check.
///
/// On failure the returned outcome is complete (`blocked`, `dns` or
/// `connect`), with `dns_ms` and the last address tried filled in.
pub async fn connect(ctx: &Context, host: &str, port: u16) -> Result<Connected, Outcome> {
    let resolved = ctx.guard.resolve(host).await.map_err(Outcome::from)?;
    let attempts = u32::try_from(resolved.addrs.len()).unwrap_or(u32::MAX).max(1);
    let per_attempt = ctx.timeout / attempts;
    let mut errors = Vec::new();
    let mut last_ip = None;
    for &ip in &resolved.addrs {
        last_ip = Some(ip);
        let addr = SocketAddr::new(ip, port);
        let started = Instant::now();
        match tokio::time::timeout(per_attempt, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                return Ok(Connected { stream, ip, dns_ms: resolved.dns_ms, connect_ms: millis(started.elapsed()) });
            }
            Ok(Err(err)) => errors.push(describe_connect_error(addr, &err)),
            Err(_) => errors.push(format!("connecting to {addr}: no answer within {} ms", per_attempt.as_millis())),
        }
    }
    let mut outcome = Outcome::down(ErrorKind::Connect, errors.join("; "));
    outcome.timings.dns_ms = resolved.dns_ms;
    outcome.ip = last_ip;
    Err(outcome)
}

fn describe_connect_error(addr: SocketAddr, err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => format!("connection refused by {addr} (nothing listening on the port?)"),
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => format!("{addr} unreachable: {err}"),
        _ => format!("connecting to {addr}: {err}"),
    }
}

/// `bytes` as a quoted excerpt: at most [`EXCERPT_CHARS`] characters, with
/// invalid UTF-8 replaced, marked when cut; `nothing` when empty.
fn excerpt(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing".into();
    }
    let text = String::from_utf8_lossy(bytes);
    let mut cut: String = text.chars().take(EXCERPT_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    format!("{cut:?}")
}

impl Check for TcpSpec {
    async fn run(&self, ctx: &Context) -> Outcome {
        // Stop waiting for the expected text a little before the check's own
        // timeout, so a silent peer is reported with what it did send.
        let read_deadline = Instant::now() + (ctx.timeout - ctx.timeout / 10);
        let connected = match connect(ctx, &self.host, self.port).await {
            Ok(connected) => connected,
            Err(outcome) => return outcome,
        };
        let Connected { mut stream, ip, dns_ms, connect_ms } = connected;
        let peer = SocketAddr::new(ip, self.port);
        let mut outcome = Outcome::up();
        outcome.ip = Some(ip);
        outcome.timings.dns_ms = dns_ms;
        outcome.timings.connect_ms = Some(connect_ms);

        let sent_at = Instant::now();
        if let Some(send) = &self.send {
            let written = async {
                stream.write_all(send.as_bytes()).await?;
                stream.flush().await
            };
            if let Err(err) = written.await {
                return outcome.fail(ErrorKind::Connect, format!("sending to {peer}: {err}"));
            }
        }

        let Some(expect) = &self.expect else {
            outcome.message = Some(format!("connected to {peer}"));
            return outcome;
        };
        match read_until(&mut stream, expect.as_bytes(), ctx.max_body_bytes, read_deadline).await {
            Ok(Expected::Found { first_byte_at }) => {
                outcome.timings.ttfb_ms = Some(millis(first_byte_at.saturating_duration_since(sent_at)));
                outcome.message = Some(format!("connected to {peer}, received {expect:?}"));
                outcome
            }
            Ok(Expected::Missing { bytes, why }) => outcome.fail(
                ErrorKind::Protocol,
                format!("expected {expect:?} from {peer}, but {why}; received {}", excerpt(&bytes)),
            ),
            Err(err) => outcome.fail(ErrorKind::Connect, format!("reading from {peer}: {err}")),
        }
    }
}

/// What [`read_until`] saw.
enum Expected {
    /// The text appeared; the first byte arrived at `first_byte_at`.
    Found { first_byte_at: Instant },
    /// It did not: everything read, and why reading stopped.
    Missing { bytes: Vec<u8>, why: String },
}

/// Reads until `needle` (not empty) appears, the peer closes, `limit` bytes
/// were read, or `deadline` passes.
async fn read_until(stream: &mut TcpStream, needle: &[u8], limit: usize, deadline: Instant) -> io::Result<Expected> {
    let mut bytes = Vec::new();
    let mut first_byte_at = None;
    let mut chunk = [0u8; 4096];
    loop {
        let room = limit.saturating_sub(bytes.len()).min(chunk.len());
        if room == 0 {
            return Ok(Expected::Missing { bytes, why: format!("it was not in the first {limit} bytes") });
        }
        let Ok(read) = tokio::time::timeout_at(deadline.into(), stream.read(&mut chunk[..room])).await else {
            return Ok(Expected::Missing { bytes, why: "it did not arrive in time".into() });
        };
        let read = read?;
        if read == 0 {
            return Ok(Expected::Missing { bytes, why: "the peer closed the connection".into() });
        }
        let first_byte_at = *first_byte_at.get_or_insert_with(Instant::now);
        // Only the new bytes, plus enough before them for a match across reads.
        let search_from = bytes.len().saturating_sub(needle.len().saturating_sub(1));
        bytes.extend_from_slice(&chunk[..read]);
        if bytes[search_from..].windows(needle.len()).any(|window| window == needle) {
            return Ok(Expected::Found { first_byte_at });
        }
    }
}
