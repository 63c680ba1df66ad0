//! Request middleware: the rate limit of the public, unauthenticated routes
//! (status pages), request metrics, and each request's hop of a trace.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State as Shared};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use statushawk_nats::TraceContext;
use statushawk_nats::trace::{self, TRACEPARENT};

use crate::State;
use crate::client::{ClientIp, limit_key};
use crate::error::ApiError;

/// Requests per client address to the public routes within [`PUBLIC_WINDOW`].
pub const PUBLIC_REQUESTS: usize = 120;
/// The window of [`PUBLIC_REQUESTS`].
pub const PUBLIC_WINDOW: Duration = Duration::from_secs(60);

/// At most [`PUBLIC_REQUESTS`] per client and window, then 429 with
/// `Retry-After`. The client is [`ClientIp`] (the peer, or behind one of
/// `api.trusted_proxies` the address it forwarded for), an IPv6 client
/// counted by its /64 ([`limit_key`]).
pub async fn public_rate_limit(
    Shared(state): Shared<State>,
    ClientIp(client): ClientIp,
    request: Request,
    next: Next,
) -> Response {
    if let Err(wait) = state.public_requests.admit(&client.map(limit_key), Instant::now()) {
        metrics::counter!(crate::metrics::RATE_LIMITED_TOTAL).increment(1);
        return ApiError::too_many("too many requests from this address; slow down", wait).into_response();
    }
    next.run(request).await
}

/// Counts requests and their duration by route and status:
/// `statushawk_api_requests_total{route, method, status}` and
/// `statushawk_api_request_seconds{route, method}`.
pub async fn request_metrics(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(crate::metrics::REQUEST_SECONDS, "route" => route.clone(), "method" => method.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(crate::metrics::REQUESTS_TOTAL, "route" => route, "method" => method, "status" => status)
        .increment(1);
    response
}

/// The W3C header that tells a client the trace its request joined (Trace
/// Context Level 2), so a caller can find its request in the logs.
const TRACERESPONSE: &str = "traceresponse";

/// Each request's hop of a trace: it continues the `traceparent` its client
/// sent (a malformed one is ignored), or starts a trace. The request span
/// records it (`trace_id`, `span_id`, `parent_id`), what the request
/// publishes carries it on (configuration changes, through
/// [`trace::current`]), and the response's `traceresponse` header names it.
pub async fn trace_context(mut request: Request, next: Next) -> Response {
    let incoming =
        request.headers().get(TRACEPARENT).and_then(|value| value.to_str().ok()).and_then(TraceContext::parse);
    let hop = TraceContext::continue_from(incoming);
    request.extensions_mut().insert(hop);
    let mut response = trace::scope(hop, next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(&hop.header()) {
        response.headers_mut().insert(TRACERESPONSE, value);
    }
    response
}
