//! The HTTP API (axum): teams, members, roles and tokens; monitors,
//! channels, incidents and maintenance windows.
//!
//! Every request but sign-up, login, the links people are sent and health
//! carries a bearer token or the web app's session cookie ([`auth::Caller`],
//! [`cookies`]); every query is scoped to the
//! token's team, and an id of another team is simply not found. Viewers
//! change nothing, members manage monitors, owners and admins also
//! channels, tokens and members (who join by invitation only,
//! [`invitations`]). Errors are JSON `{"error": {"code", "message",
//! "field"?}}` ([`error::ApiError`]). Paths no route claims get the web
//! app ([`web`]).

pub mod accounts;
pub mod analytics;
pub mod auth;
pub mod bench;
pub mod bench_dashboard;
pub mod channels;
pub mod client;
pub mod cookies;
pub mod deliveries;
pub mod demo;
pub mod error;
pub mod incidents;
pub mod invitations;
pub mod live;
pub mod mail;
pub mod maintenance;
pub mod members;
pub mod metrics;
pub mod middleware;
pub mod monitors;
pub mod openapi;
pub mod overview;
pub mod pings;
pub mod status_pages;
pub mod throttle;
pub mod users;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use sqlx::PgPool;
use statushawk_common::secrets::SecretBox;
use statushawk_guard::Guard;
use statushawk_nats::Publisher;
use statushawk_schemas::Region;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::error::ApiError;

/// What the API works with.
#[derive(Clone)]
pub struct Deps {
    /// Postgres.
    pub pg: PgPool,
    /// ClickHouse (check results and their roll-ups, for analytics).
    pub clickhouse: clickhouse::Client,
    /// Publishes configuration changes on `CONFIG`.
    pub publisher: Publisher,
    /// Core NATS, for live results.
    pub nats: statushawk_nats::async_nats::Client,
    /// Keep-alive and re-authorisation periods of the live feeds.
    pub live: live::Settings,
    /// The deployment's layout (prefix, partitions).
    pub topology: statushawk_nats::Topology,
    /// The deployment's regions (a monitor's regions must be among them).
    pub regions: Vec<Region>,
    /// Seals channel secrets (`None`: channels with secrets are refused).
    pub secrets: Option<SecretBox>,
    /// A notifier's send deadline (`notifier.send_timeout_secs`): channel
    /// tests and verifications, which a notifier makes, wait this long
    /// and a little more for its answer.
    pub notifier_send_timeout: std::time::Duration,
    /// Judges IP-literal targets at creation.
    pub guard: Guard,
    /// Renders the process's metrics at `/metrics` (`None`: not served).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Where people reach the API (`api.public_url`), for the links it
    /// hands out.
    pub public_url: String,
    /// Whether the deployment has a mail server of its own (`[email]`):
    /// then invitations are e-mailed and new addresses verified.
    pub system_mail: bool,
    /// Opens `/metrics` on the API listener (`api.metrics_token`; `None`:
    /// not served there, only on `metrics.listen`).
    pub metrics_token: Option<secrecy::SecretString>,
    /// Reverse proxies whose `X-Forwarded-For` is believed
    /// (`api.trusted_proxies`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The built web app (`api.web_dir`: `index.html` and `assets/`),
    /// served under every path the API does not claim ([`web`]).
    pub web_dir: std::path::PathBuf,
}

/// Shared by every handler.
pub type State = Arc<Shared>;

/// The dependencies and the process-wide live-results hub.
pub struct Shared {
    deps: Deps,
    /// Team feeds of live results.
    pub hub: live::Hub,
    /// Login and sign-up attempts per client address and account.
    pub attempts: users::Attempts,
    /// Password hashing, bounded.
    pub passwords: auth::Passwords,
    /// Requests to the public routes per client address (`None`: unknown).
    pub public_requests: throttle::Throttle<Option<std::net::IpAddr>>,
    /// Heartbeat ping tokens: minted and judged with the deployment's key,
    /// known ones cached.
    pub ping_tokens: pings::Tokens,
    /// Pings per heartbeat monitor.
    pub pings: throttle::Throttle<statushawk_schemas::MonitorId>,
    /// Public status pages by slug, for `status_pages::public::TTL`.
    pub status_pages: status_pages::public::Cache,
    /// Subscriptions asked for on status pages, per client address.
    pub subscribes: throttle::Throttle<Option<std::net::IpAddr>>,
}

impl Shared {
    /// Publishes a configuration change after its commit; a failure is
    /// logged and healed by the services' periodic reconcile.
    pub async fn announce(&self, change: &statushawk_schemas::ConfigChange) {
        // In the trace of the request that made the change.
        let trace = statushawk_nats::trace::current();
        if let Err(err) =
            self.publisher.publish_traced(&change.subject(), &change.msg_id(), change, trace.as_ref()).await
        {
            tracing::warn!(
                error = %err, subject = change.subject(),
                "Publishing a configuration change failed; the reconcile will apply it."
            );
        }
    }
}

impl std::ops::Deref for Shared {
    type Target = Deps;

    fn deref(&self) -> &Deps {
        &self.deps
    }
}

/// Request bodies above this are refused (413).
const BODY_LIMIT: usize = 256 * 1024;

/// The API's routes.
pub fn router(deps: Deps) -> Router {
    router_and_state(deps).0
}

/// The API's routes and the state they share (for tests that look inside).
pub fn router_and_state(deps: Deps) -> (Router, State) {
    let ping_key = pings::TokenKey::new(deps.secrets.as_ref());
    let state = Arc::new(Shared {
        deps,
        hub: live::Hub::default(),
        attempts: users::Attempts::default(),
        passwords: auth::Passwords::default(),
        public_requests: throttle::Throttle::new(middleware::PUBLIC_REQUESTS, middleware::PUBLIC_WINDOW),
        ping_tokens: pings::Tokens::new(ping_key),
        pings: throttle::Throttle::new(pings::PINGS_PER_TOKEN, std::time::Duration::from_secs(1)),
        status_pages: status_pages::public::Cache::new(status_pages::public::TTL),
        subscribes: throttle::Throttle::new(
            status_pages::subscribers::SUBSCRIBES_PER_CLIENT,
            std::time::Duration::from_secs(3600),
        ),
    });
    // Unauthenticated and cached, but limited per client address.
    let public = Router::new()
        .route("/api/v1/public/status/{slug}", get(status_pages::public::json))
        .route("/status/{slug}", get(status_pages::public::html))
        .route("/status/{slug}/badge.svg", get(status_pages::badges::page_badge))
        .route("/status/{slug}/badge/{monitor}/{badge}", get(status_pages::badges::monitor_badge))
        .route("/status/{slug}/feed.atom", get(status_pages::feeds::atom_feed))
        .route("/status/{slug}/feed.rss", get(status_pages::feeds::rss_feed))
        .route("/status/{slug}/subscribe", post(status_pages::subscribers::subscribe))
        .route(
            "/status/{slug}/confirm/{token}",
            get(status_pages::subscribers::confirm_page).post(status_pages::subscribers::confirm),
        )
        .route(
            "/status/{slug}/unsubscribe/{token}",
            get(status_pages::subscribers::unsubscribe_page).post(status_pages::subscribers::unsubscribe),
        )
        .route("/api/v1/invitations/preview", post(invitations::preview))
        .route("/api/v1/verify-email", post(accounts::verify_email))
        .route("/invite/{token}", get(invitations::page).post(invitations::page_form))
        .route("/verify-email/{token}", get(invitations::verification_page))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), middleware::public_rate_limit));
    let api = Router::new()
        .route("/signup", post(accounts::sign_up))
        .route("/login", post(accounts::login))
        .route("/logout", post(accounts::logout))
        .route("/session", get(accounts::me))
        .route("/session/team", post(accounts::switch_team))
        .route("/verify-email/resend", post(accounts::resend_verification))
        .route("/tokens", get(accounts::list_tokens).post(accounts::create_token))
        .route("/tokens/{id}", axum::routing::delete(accounts::revoke_token))
        .route("/monitors", get(monitors::list).post(monitors::create))
        .route("/monitors/{id}", get(monitors::get).put(monitors::replace).delete(monitors::delete))
        .route("/monitors/{id}/pause", post(monitors::pause))
        .route("/monitors/{id}/resume", post(monitors::resume))
        .route("/monitors/{id}/channels", put(monitors::set_channels))
        .route("/monitors/{id}/ping-token", post(monitors::rotate_ping_token))
        .route("/monitors/{id}/live", get(live::monitor))
        .route("/monitors/{id}/uptime", get(analytics::uptime))
        .route("/monitors/{id}/latency", get(analytics::latency))
        .route("/monitors/{id}/results", get(analytics::results))
        .route("/monitors/{id}/pings", get(analytics::pings))
        .route("/monitors/{id}/runs", get(analytics::runs))
        .route("/live", get(live::team))
        .route("/overview", get(overview::overview))
        .route("/channels", get(channels::list).post(channels::create))
        .route("/channels/{id}", get(channels::get).put(channels::replace).delete(channels::delete))
        .route("/channels/{id}/deliveries", get(deliveries::of_channel))
        .route("/integrations/test", post(channels::test))
        .route("/members", get(members::list))
        .route("/invitations", get(invitations::list).post(invitations::create))
        .route("/invitations/accept", post(invitations::accept))
        .route("/invitations/{id}", axum::routing::delete(invitations::revoke))
        .route("/members/{id}", put(members::change_role).delete(members::remove))
        .route("/incidents", get(incidents::list))
        .route("/incidents/{id}", get(incidents::get))
        .route("/incidents/{id}/updates", post(incidents::add_update))
        .route("/incidents/{id}/ack", post(incidents::ack))
        .route("/maintenance", get(maintenance::list).post(maintenance::create))
        .route("/maintenance/{id}", get(maintenance::get).put(maintenance::replace).delete(maintenance::delete))
        .route("/status-pages", get(status_pages::list).post(status_pages::create))
        .route("/status-pages/{id}", get(status_pages::get).put(status_pages::replace).delete(status_pages::delete))
        .route(
            "/status-pages/{id}/subscribers",
            get(status_pages::subscribers::list).post(status_pages::subscribers::add),
        )
        .route(
            "/status-pages/{id}/subscribers/{subscriber_id}",
            axum::routing::delete(status_pages::subscribers::remove),
        )
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(|| async { ApiError::not_found("route") });
    let router = Router::new()
        .nest("/api/v1", api)
        .merge(public)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn(middleware::request_metrics))
        .fallback(web::app)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Compression leaves `text/event-stream` alone (the SSE feeds); the
        // timeout bounds the time to the response head, not a feed's body.
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            std::time::Duration::from_secs(30),
        ))
        // Dashboards on other origins call the API with bearer tokens, so
        // any origin may; never with credentials, so the session cookie
        // (our own web app's) is not sent for them.
        .layer(tower_http::cors::CorsLayer::permissive())
        // One span per request, with its route, its hop of a trace and (once
        // `auth::Caller` knows it) its team, around every log line the
        // request causes.
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let route = request.extensions().get::<axum::extract::MatchedPath>().map_or("", |p| p.as_str());
            let hop = request.extensions().get::<statushawk_nats::TraceContext>().copied();
            statushawk_nats::hop_span!("request", hop, method = %request.method(), route, team_id = tracing::field::Empty)
        }))
        .layer(axum::middleware::from_fn(middleware::trace_context))
        // Heartbeat pings: the token is the credential, limited per token.
        // Tens of thousands a second, so without the layers above: no
        // per-request span, compression, timeout or CORS (jobs are not
        // browsers); they are counted by `statushawk_api_pings_total`.
        .route("/ping/{token}", get(pings::success).post(pings::success))
        .route("/ping/{token}/{what}", get(pings::with_kind).post(pings::with_kind))
        .with_state(state.clone());
    (router, state)
}

/// The process's metrics in the Prometheus text format, on the API listener
/// only for `Authorization: Bearer <api.metrics_token>` (compared in
/// constant time); without that setting they are only on `metrics.listen`.
async fn metrics(
    axum::extract::State(state): axum::extract::State<State>,
    headers: axum::http::HeaderMap,
) -> Result<String, ApiError> {
    use secrecy::ExposeSecret as _;
    use sha2::Digest as _;
    use subtle::ConstantTimeEq as _;
    let Some(expected) = &state.metrics_token else {
        return Err(ApiError::not_found("metrics on the API listener (they are on metrics.listen)"));
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    // Digests of equal length, so neither the token nor its length leaks.
    let matches = sha2::Sha256::digest(given.as_bytes()).ct_eq(&sha2::Sha256::digest(expected.expose_secret()));
    if !bool::from(matches) || given.is_empty() {
        return Err(ApiError::unauthorized("send Authorization: Bearer <api.metrics_token>"));
    }
    state.metrics.as_ref().map(|handle| handle.render()).ok_or_else(|| ApiError::not_found("metrics"))
}

async fn ready(axum::extract::State(state): axum::extract::State<State>) -> Result<&'static str, ApiError> {
    sqlx::query("SELECT 1").execute(&state.pg).await.map_err(|_| ApiError::unavailable("Postgres is unavailable"))?;
    Ok("ready")
}

/// Serves the API on `listen` until `shutdown`.
pub async fn run(listen: SocketAddr, deps: Deps, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    info!(listen = %listener.local_addr()?, "API listening.");
    if web::is_built(&deps.web_dir) {
        info!(url = %deps.public_url, web_dir = %deps.web_dir.display(), "Dashboard served.");
    } else {
        tracing::warn!(
            web_dir = %deps.web_dir.display(),
            "The web dashboard is not built (cd web && npm ci && npm run build): / answers how to build it."
        );
    }
    // The peer address keys the public routes' rate limit.
    axum::serve(listener, router(deps).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}
