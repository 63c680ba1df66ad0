//! W3C trace context (`traceparent`) carried in NATS headers, so one trace
//! follows a check through the pipeline: the scheduler starts it with the
//! due check, and the prober, the evaluator (its re-checks and incidents,
//! through the outbox) and the notifier (its deliveries) each continue it
//! as a hop of their own. An API request continues a `traceparent` its
//! client sent, or starts one.
//!
//! Each hop is a [`TraceContext`]: the trace id, this hop's span id and the
//! span id of the hop it came from. Its span records them as `trace_id`,
//! `span_id` and `parent_id`, so the JSON log lines of one check, from every
//! service, share a `trace_id` and link up by `parent_id`. What it sends on
//! carries `traceparent: 00-<trace id>-<this span id>-<flags>`.
//!
//! Hand-written rather than taken from the OpenTelemetry crates: StatusHawk
//! exports no spans, and the header is four fixed-width fields
//! (<https://www.w3.org/TR/trace-context/#traceparent-header>).

use std::fmt;

use async_nats::HeaderMap;

/// The header's name, in NATS messages and HTTP requests alike.
pub const TRACEPARENT: &str = "traceparent";

/// One hop of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent_id: Option<[u8; 8]>,
    flags: u8,
}

/// Ids rendered as lowercase hex, without allocating.
pub struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Once per hop and field, so into a buffer and out in one write
        // (a `write!` per byte cost the prober measurably).
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; 32];
        for (pair, byte) in text.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        let len = (2 * self.0.len()).min(text.len());
        f.write_str(std::str::from_utf8(&text[..len]).unwrap_or_default())
    }
}

/// The "sampled" trace flag: set on the traces StatusHawk starts.
const SAMPLED: u8 = 0x01;

impl TraceContext {
    /// Starts a trace: a random trace id, a first hop with no parent.
    pub fn start() -> Self {
        Self { trace_id: non_zero(rand::random()), span_id: non_zero(rand::random()), parent_id: None, flags: SAMPLED }
    }

    /// The next hop of the same trace: a new span id, whose parent is this one.
    pub fn child(&self) -> Self {
        Self { span_id: non_zero(rand::random()), parent_id: Some(self.span_id), ..*self }
    }

    /// Continues the trace `incoming` names (a `traceparent` received), or
    /// starts one when there is none or it is malformed.
    pub fn continue_from(incoming: Option<Self>) -> Self {
        incoming.map_or_else(Self::start, |parent| parent.child())
    }

    /// A `traceparent` value, as a receiver sees it (its span id is the
    /// sender's). `None` if malformed or of a version that cannot be read;
    /// per the specification the receiver then starts a trace of its own.
    pub fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        let mut parts = header.split('-');
        let version = hex::<1>(parts.next()?)?[0];
        let trace_id = hex::<16>(parts.next()?)?;
        let span_id = hex::<8>(parts.next()?)?;
        let flags = hex::<1>(parts.next()?)?[0];
        // Version 00 has exactly four fields; a later version may add more.
        let rest = parts.next();
        let valid = version != 0xff && (version != 0 || rest.is_none()) && trace_id != [0; 16] && span_id != [0; 8];
        valid.then_some(Self { trace_id, span_id, parent_id: None, flags })
    }

    /// The `traceparent` header of a message's headers, if it has a valid one.
    pub fn from_headers(headers: Option<&HeaderMap>) -> Option<Self> {
        Self::parse(headers?.get(TRACEPARENT)?.as_str())
    }

    /// The trace id (32 hex digits).
    pub fn trace_id(&self) -> Hex<'_> {
        Hex(&self.trace_id)
    }

    /// This hop's span id (16 hex digits).
    pub fn span_id(&self) -> Hex<'_> {
        Hex(&self.span_id)
    }

    /// The span id of the hop this one continues, if any.
    pub fn parent_id(&self) -> Option<Hex<'_>> {
        self.parent_id.as_ref().map(|id| Hex(id))
    }

    /// The `traceparent` value for what this hop sends on.
    pub fn header(&self) -> String {
        use std::fmt::Write as _;
        let mut header = String::with_capacity(55);
        let _ = write!(header, "{self}");
        header
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{}-{}-{}", self.trace_id(), self.span_id(), Hex(&[self.flags]))
    }
}

/// An info span for a hop of a trace: `hop_span!("name", hop, fields...)`
/// with `hop` an `Option<TraceContext>` (or `Option<&TraceContext>`), its
/// `trace_id`, `span_id` and `parent_id` when it is `Some`, and the fields
/// as in `tracing::info_span!`.
#[macro_export]
macro_rules! hop_span {
    ($name:literal, $hop:expr $(, $($fields:tt)+)?) => {{
        // The ids as fields of the span from the start: one formatting
        // pass, not a `record` per field.
        match $hop {
            Some(hop) => ::tracing::info_span!(
                $name, $($($fields)+,)? trace_id = %hop.trace_id(), span_id = %hop.span_id(),
                parent_id = hop.parent_id().map(::tracing::field::display)
            ),
            None => ::tracing::info_span!($name, $($($fields)+)?),
        }
    }};
}

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// Runs `work` with `hop` as the task's current trace context ([`current`]):
/// for code far from where the hop began, such as the API announcing a
/// configuration change on behalf of a request.
pub async fn scope<F: Future>(hop: TraceContext, work: F) -> F::Output {
    CURRENT.scope(hop, work).await
}

/// The current task's trace context, if it runs in a [`scope`].
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(|hop| *hop).ok()
}

fn hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        // Lowercase only, as the specification requires.
        let digit = |d: u8| match d {
            b'0'..=b'9' => Some(d - b'0'),
            b'a'..=b'f' => Some(d - b'a' + 10),
            _ => None,
        };
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// An all-zero id means "none" in the specification; a random one is
/// never all zero in practice, but made sure of.
fn non_zero<const N: usize>(mut id: [u8; N]) -> [u8; N] {
    if id == [0; N] {
        id[N - 1] = 1;
    }
    id
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_header_round_trips_and_its_hop_continues_the_trace() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let received = TraceContext::parse(header).unwrap();
        assert_eq!(received.header(), header);
        let hop = TraceContext::continue_from(Some(received));
        assert_eq!(hop.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hop.parent_id().unwrap().to_string(), "00f067aa0ba902b7");
        assert_ne!(hop.span_id().to_string(), "00f067aa0ba902b7");
        let sent = TraceContext::parse(&hop.header()).unwrap();
        assert_eq!(sent.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(sent.span_id().to_string(), hop.span_id().to_string());
    }

    #[test]
    fn a_trace_started_has_fresh_ids_and_no_parent() {
        let (a, b) = (TraceContext::start(), TraceContext::start());
        assert_ne!(a.trace_id().to_string(), b.trace_id().to_string());
        assert!(a.parent_id().is_none());
        assert_eq!(TraceContext::parse(&a.header()).unwrap().trace_id().to_string(), a.trace_id().to_string());
    }

    #[test]
    fn malformed_headers_are_refused() {
        for header in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        ] {
            assert_eq!(TraceContext::parse(header), None, "{header:?}");
        }
        // A later version may add fields; its first four are read.
        assert!(TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra").is_some());
    }

    #[tokio::test]
    async fn the_current_context_is_the_scopes() {
        assert_eq!(current(), None);
        let hop = TraceContext::start();
        assert_eq!(scope(hop, async { current() }).await, Some(hop));
    }
}
