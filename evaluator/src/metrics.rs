//! Every metric of this crate, each with its HELP text (`describe`).

statushawk_nats::declare_metrics! {
    DEAD_LETTERS_TOTAL: counter = "statushawk_evaluator_dead_letters_total",
        "Results and pings set aside on deadletter.evaluator because Postgres refuses them for good, by reason.";
    FORGED_RESULTS_TOTAL: counter = "statushawk_evaluator_forged_results_total",
        "Results terminated because they disagree with their subject or monitor, by reason.";
    HEARTBEAT_PINGS_TOTAL: counter = "statushawk_evaluator_heartbeat_pings_total",
        "Heartbeat pings handled by the janitors, by kind.";
    INCIDENTS_TOTAL: counter = "statushawk_evaluator_incidents_total",
        "Incident events decided, by event (opened, updated, resolved).";
    INSERT_FAILURES_TOTAL: counter = "statushawk_evaluator_insert_failures_total",
        "Failed inserts of results into ClickHouse (each is retried).";
    RECHECKS_TOTAL: counter = "statushawk_evaluator_rechecks_total",
        "Confirmation re-checks published.";
    RECONCILED_MONITORS_TOTAL: counter = "statushawk_evaluator_reconciled_monitors_total",
        "Monitors reloaded by the reconcile because their CONFIG message never arrived.";
    RESULTS_TOTAL: counter = "statushawk_evaluator_results_total",
        "Genuine results evaluated, by status.";
    ROWS_ALREADY_STORED_TOTAL: counter = "statushawk_evaluator_rows_already_stored_total",
        "Result rows left out of an insert because ClickHouse already had them (redeliveries, retries).";
    ROWS_WRITTEN_TOTAL: counter = "statushawk_evaluator_rows_written_total",
        "Result rows written to ClickHouse.";
    STALE_RESULTS_TOTAL: counter = "statushawk_evaluator_stale_results_total",
        "Results older than what their region already counted (not evaluated again).";
    STEP_RETRIES_TOTAL: counter = "statushawk_evaluator_step_retries_total",
        "Retries of a step after a transient failure, by step.";
    PARTITIONS_OWNED: gauge = "statushawk_evaluator_partitions_owned",
        "Partitions this evaluator holds the lease of.";
    PENDING: gauge = "statushawk_evaluator_pending",
        "Results waiting in a partition's consumer, by partition.";
    BATCH_RESULTS: histogram = "statushawk_evaluator_batch_results",
        "Results per fetched batch.";
    BATCH_ROWS: histogram = "statushawk_evaluator_batch_rows",
        "Rows per ClickHouse insert.";
    INSERT_SECONDS: histogram = "statushawk_evaluator_insert_seconds",
        "Time of one ClickHouse insert (seconds).";
    LAG_SECONDS: histogram = "statushawk_evaluator_lag_seconds",
        "Time from a check's start to its evaluation (seconds).";
}
