-- StatusHawk ClickHouse migration 0001: raw check results.
-- One row per check result (confirmation re-checks included), written in batches by the evaluator.
-- Partitioned by month: retention drops whole monthly partitions (no table TTL, for ClickHouse 18.16).
-- Ordered by (monitor_id, ts): per-monitor time ranges are contiguous on disk.
CREATE TABLE IF NOT EXISTS check_results
(
    ts              DateTime,
    monitor_id      UUID,
    team_id         UUID,
    region          String,
    slot_ms         Int64,
    attempt         UInt8,
    prober_id       String,
    status          Enum8('up' = 1, 'down' = 2, 'degraded' = 3, 'skipped' = 4),
    error_kind      String,
    message         String,
    dns_ms          Nullable(UInt32),
    connect_ms      Nullable(UInt32),
    tls_ms          Nullable(UInt32),
    ttfb_ms         Nullable(UInt32),
    total_ms        UInt32,
    http_status     UInt16,
    body_bytes      UInt32,
    cert_expires_at Nullable(DateTime)
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (monitor_id, ts);
