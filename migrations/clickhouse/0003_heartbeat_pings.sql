-- StatusHawk ClickHouse migration 0003: every heartbeat ping, written by the evaluator's janitor.
-- ts (seconds) partitions by month like check_results; received_at_ms keeps the precision
-- (no DateTime64 in ClickHouse 18.16). duration_ms: a finish's time since its run's start.
-- A redelivered ping is written again under the same ping_id: read with LIMIT 1 BY ping_id
-- (ReplacingMergeTree removes the copies when parts merge).
CREATE TABLE IF NOT EXISTS heartbeat_pings
(
    ts             DateTime,
    received_at_ms Int64,
    ping_id        UUID,
    monitor_id     UUID,
    team_id        UUID,
    kind           Enum8('success' = 1, 'start' = 2, 'fail' = 3),
    exit_code      Nullable(UInt8),
    duration_ms    Nullable(UInt32),
    run_id         String,
    source_ip      String,
    body           String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (monitor_id, received_at_ms, ping_id);
