//! The web app: the built single-page app in `api.web_dir` (`index.html`
//! and Vite's content-hashed `assets/`), served under every path no route
//! of the API claims.
//!
//! - `/assets/…` are served as they are, cached for a year (`immutable`:
//!   their names change with their content); a missing one is 404, never
//!   the app. The build writes `.gz` and `.br` copies of them
//!   (`web/scripts/compress.mjs`), sent to a browser that accepts them, so
//!   the same bytes are not compressed again on every request.
//! - Any other path is a file of the build (`/favicon.svg`) or a client
//!   route (`/monitors/…`), answered with `index.html`; neither is cached
//!   (`no-cache`), so a new build is picked up at once.
//! - `/api/…`, `/status/…` and `/ping/…` are never the app: an unknown path
//!   there is the API's JSON 404.
//! - Without a build (no `index.html`), a short page says how to make one.
//!
//! Every answer carries a strict Content-Security-Policy (scripts, styles,
//! fonts and connections from this origin only: nothing off the machine).

use std::path::Path;

use axum::extract::{Request, State as Shared};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use tower::ServiceExt as _;
use tower_http::services::{ServeDir, ServeFile};

use crate::State;
use crate::error::ApiError;

/// Paths that belong to the API whatever the app's routes are.
const RESERVED: [&str; 3] = ["/api", "/status", "/ping"];
/// The cache header of content-hashed assets.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The cache header of everything else: revalidate every time.
const NO_CACHE: &str = "no-cache";
/// What the app may load: only from this origin.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The page answered when the app was not built.
const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>StatusHawk</title></head><body style=\"font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem\">\
<h1>StatusHawk is running</h1><p>The web dashboard has not been built, so there is nothing to show here yet. \
Build it from the checkout with</p><pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>\
<p>(<code>scripts/dev</code> does this), or point <code>api.web_dir</code> \
(<code>STATUSHAWK_API_WEB_DIR</code>) at a built <code>web/dist</code>. \
The API itself is at <a href=\"/api/v1/openapi.json\">/api/v1</a>.</p></body></html>";

/// Answers every request no route claims: see the module.
pub async fn app(Shared(state): Shared<State>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if RESERVED.iter().any(|reserved| path == *reserved || path.starts_with(&format!("{reserved}/"))) {
        return ApiError::not_found("route").into_response();
    }
    let dir = state.web_dir.as_path();
    let index = dir.join("index.html");
    let mut response = if !tokio::fs::try_exists(&index).await.unwrap_or(false) {
        (StatusCode::OK, Html(NOT_BUILT)).into_response()
    } else if path.starts_with("/assets/") {
        serve(ServeDir::new(dir).precompressed_br().precompressed_gzip(), request).await
    } else {
        serve(ServeDir::new(dir).fallback(ServeFile::new(&index)), request).await
    };
    let cache = if path.starts_with("/assets/") && response.status().is_success() { IMMUTABLE } else { NO_CACHE };
    let headers = response.headers_mut();
    if path.starts_with("/assets/") {
        // The answer depends on Accept-Encoding (a precompressed copy or not).
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// One request through `tower-http`'s file service (content types,
/// conditional requests, ranges, `..` refused).
async fn serve<S>(service: S, request: Request) -> Response
where
    S: tower::Service<Request, Error = std::convert::Infallible> + Send,
    S::Response: IntoResponse,
    S::Future: Send,
{
    match service.oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}

/// Whether `dir` holds a built app.
pub fn is_built(dir: &Path) -> bool {
    dir.join("index.html").is_file()
}
