//! Every metric of this crate, each with its HELP text (`describe`).

statushawk_nats::declare_metrics! {
    LIVE_FORGED_TOTAL: counter = "statushawk_api_live_forged_total",
        "Live-feed results dropped because they disagree with their subject or monitor, by reason.";
    PASSWORD_HASHES_TOTAL: counter = "statushawk_api_password_hashes_total",
        "Password hashes computed (sign-up, login, password change).";
    PINGS_FORGED_TOTAL: counter = "statushawk_api_pings_forged_total",
        "Heartbeat pings refused because their token was not minted with the deployment's key.";
    PINGS_LOOKUPS_BUSY_TOTAL: counter = "statushawk_api_pings_lookups_busy_total",
        "Ping token lookups refused (503) because too many were waiting for Postgres at once.";
    PINGS_LOOKUPS_LIMITED_TOTAL: counter = "statushawk_api_pings_lookups_limited_total",
        "Lookups of unknown ping tokens refused (429) by the per-client limit.";
    PINGS_RATE_LIMITED_TOTAL: counter = "statushawk_api_pings_rate_limited_total",
        "Heartbeat pings refused (429) by the per-monitor limit.";
    PINGS_TOTAL: counter = "statushawk_api_pings_total",
        "Heartbeat pings accepted and published.";
    RATE_LIMITED_TOTAL: counter = "statushawk_api_rate_limited_total",
        "Public requests (status pages, pings) refused (429) by the per-client limit.";
    REQUESTS_TOTAL: counter = "statushawk_api_requests_total",
        "API requests answered, by route, method and status.";
    LIVE_FEEDS: gauge = "statushawk_api_live_feeds",
        "Live feeds (SSE) open now, by feed.";
    REQUEST_SECONDS: histogram = "statushawk_api_request_seconds",
        "Time to answer an API request, by route (seconds).";
}
