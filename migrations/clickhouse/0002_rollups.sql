-- StatusHawk ClickHouse migration 0002: per-minute and per-hour roll-ups of check_results.
-- Filled by materialized views on every insert into check_results (rows inserted before
-- this migration are not rolled up). Each row holds aggregate states. Read them with the
-- -Merge combinators and GROUP BY, because several rows per key exist until parts merge.
--   checks    = countIf(status != 'skipped')          skipped checks are not measurements
--   up        = countIf(status = 'up')
--   degraded  = countIf(status = 'degraded')
--   down      = checks - up - degraded
--   latency_* = over total_ms of 'up' and 'degraded' results only (down results are
--               mostly timeouts and connection errors and would distort response times)
-- Buckets are UTC minutes / hours (bucket = start of the bucket).
-- Partitioned by month like check_results, so retention drops whole monthly partitions.
CREATE TABLE IF NOT EXISTS check_results_1m
(
    monitor_id        UUID,
    region            String,
    bucket            DateTime,
    checks            AggregateFunction(countIf, UInt8),
    up                AggregateFunction(countIf, UInt8),
    degraded          AggregateFunction(countIf, UInt8),
    latency_avg       AggregateFunction(avgIf, UInt32, UInt8),
    latency_quantiles AggregateFunction(quantilesIf(0.5, 0.95, 0.99), UInt32, UInt8)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(bucket)
ORDER BY (monitor_id, bucket, region);

CREATE TABLE IF NOT EXISTS check_results_1h
(
    monitor_id        UUID,
    region            String,
    bucket            DateTime,
    checks            AggregateFunction(countIf, UInt8),
    up                AggregateFunction(countIf, UInt8),
    degraded          AggregateFunction(countIf, UInt8),
    latency_avg       AggregateFunction(avgIf, UInt32, UInt8),
    latency_quantiles AggregateFunction(quantilesIf(0.5, 0.95, 0.99), UInt32, UInt8)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(bucket)
ORDER BY (monitor_id, bucket, region);

CREATE MATERIALIZED VIEW IF NOT EXISTS check_results_1m_mv TO check_results_1m
AS SELECT
    monitor_id,
    region,
    toStartOfMinute(ts, 'UTC') AS bucket,
    countIfState(status != 'skipped') AS checks,
    countIfState(status = 'up') AS up,
    countIfState(status = 'degraded') AS degraded,
    avgIfState(total_ms, status IN ('up', 'degraded')) AS latency_avg,
    quantilesIfState(0.5, 0.95, 0.99)(total_ms, status IN ('up', 'degraded')) AS latency_quantiles
FROM check_results
GROUP BY monitor_id, region, bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS check_results_1h_mv TO check_results_1h
AS SELECT
    monitor_id,
    region,
    toStartOfHour(ts, 'UTC') AS bucket,
    countIfState(status != 'skipped') AS checks,
    countIfState(status = 'up') AS up,
    countIfState(status = 'degraded') AS degraded,
    avgIfState(total_ms, status IN ('up', 'degraded')) AS latency_avg,
    quantilesIfState(0.5, 0.95, 0.99)(total_ms, status IN ('up', 'degraded')) AS latency_quantiles
FROM check_results
GROUP BY monitor_id, region, bucket;
