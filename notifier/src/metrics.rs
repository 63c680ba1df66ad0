//! Every metric of this crate, each with its HELP text (`describe`).

statushawk_nats::declare_metrics! {
    ATTEMPTS_TOTAL: counter = "statushawk_notifier_attempts_total",
        "Sends tried, by channel kind and result.";
    DEAD_LETTERS_TOTAL: counter = "statushawk_notifier_dead_letters_total",
        "Incident events set aside on deadletter.notifier because Postgres refuses them for good, by reason.";
    DELIVERIES_TOTAL: counter = "statushawk_notifier_deliveries_total",
        "Deliveries ended, by channel kind and outcome (delivered, failed, suppressed).";
    EVENTS_TOTAL: counter = "statushawk_notifier_events_total",
        "Incident events with channels to notify, by kind.";
    STEP_RETRIES_TOTAL: counter = "statushawk_notifier_step_retries_total",
        "Retries of a step after a transient failure, by step.";
    SYSTEM_MAIL_TOTAL: counter = "statushawk_notifier_system_mail_total",
        "System mail sent (invitations, address verification), by purpose.";
    SEND_SECONDS: histogram = "statushawk_notifier_send_seconds",
        "Time of one send, by channel kind (seconds).";
}
