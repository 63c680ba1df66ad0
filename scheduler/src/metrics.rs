//! Every metric of this crate, each with its HELP text (`describe`).

statushawk_nats::declare_metrics! {
    DUE_CHECKS_DROPPED_TOTAL: counter = "statushawk_scheduler_due_checks_dropped_total",
        "Due checks not published, by reason (backlog, deadline).";
    DUE_CHECKS_PUBLISHED_TOTAL: counter = "statushawk_scheduler_due_checks_published_total",
        "Due checks published.";
    INVALID_MONITORS_TOTAL: counter = "statushawk_scheduler_invalid_monitors_total",
        "Monitors left out of the schedule because their configuration cannot be read.";
    PUBLISH_RETRIES_TOTAL: counter = "statushawk_scheduler_publish_retries_total",
        "Due-check publishes retried.";
    LEADER: gauge = "statushawk_scheduler_leader",
        "1 while this scheduler holds the leader lease, else 0.";
    MONITORS: gauge = "statushawk_scheduler_monitors",
        "Monitors in the schedule.";
    PUBLISH_LAG_SECONDS: histogram = "statushawk_scheduler_publish_lag_seconds",
        "Time from a slot to the server's ack of its due check (seconds).";
}
