//! Every metric of this crate, each with its HELP text (`describe`).

statushawk_nats::declare_metrics! {
    BLOCKED_TOTAL: counter = "statushawk_prober_blocked_total",
        "Checks refused by the SSRF guard.";
    CHECKS_TOTAL: counter = "statushawk_prober_checks_total",
        "Checks run, by kind and status.";
    SKIPPED_TOTAL: counter = "statushawk_prober_skipped_total",
        "Due checks skipped because their deadline had passed.";
    IN_FLIGHT: gauge = "statushawk_prober_in_flight",
        "Checks running now.";
    CHECK_DURATION_SECONDS: histogram = "statushawk_prober_check_duration_seconds",
        "Time of one check, by kind (seconds).";
}
