-- StatusHawk ClickHouse migration 0004: what the dashboard's overview reads, keyed by team.
-- check_results and its roll-ups are ordered by monitor, so a whole team's last 24 hours
-- meant scanning the raw results of every team in the partition (2-3 s at 10,000 monitors).
-- These two are ordered by team first; materialized views fill them on every insert into
-- check_results. Rows of one key exist several times until parts merge: read accordingly.
--
-- team_results_1h: per team, UTC hour and monitor, plain counts summed as parts merge
-- (SummingMergeTree: read with sum() and GROUP BY, or add up the rows of one key yourself;
-- plain sums read about twice as fast as the aggregate states of check_results_1h)
--   checks  = checks that were not skipped            skipped checks are not measurements
--   good    = of those, the up and degraded ones
--   good_ms = the sum of the good ones' total_ms      mean latency = good_ms / good
-- Partitioned by month like check_results, so retention drops whole monthly partitions.
-- Results written before this migration are not rolled up: after an upgrade the overview's
-- 24 hours fill in as results arrive.
CREATE TABLE IF NOT EXISTS team_results_1h
(
    team_id    UUID,
    bucket     DateTime,
    monitor_id UUID,
    checks     UInt64,
    good       UInt64,
    good_ms    UInt64
)
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(bucket)
ORDER BY (team_id, bucket, monitor_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS team_results_1h_mv TO team_results_1h
AS SELECT
    team_id,
    toStartOfHour(ts, 'UTC') AS bucket,
    monitor_id,
    toUInt64(countIf(status != 'skipped')) AS checks,
    toUInt64(countIf(status IN ('up', 'degraded'))) AS good,
    toUInt64(sumIf(total_ms, status IN ('up', 'degraded'))) AS good_ms
FROM check_results
GROUP BY team_id, bucket, monitor_id;

-- team_latest: per team and monitor, its latest result (the one with the greatest ts; a tie
-- within a second goes to either): aggregate states, read with the -Merge combinators and
-- GROUP BY. One row per monitor once parts merge, so it stays as small as the number of
-- monitors. The columns are named last_* because an alias that is also a column's name
-- would stand for the aggregate inside the other expressions.
CREATE TABLE IF NOT EXISTS team_latest
(
    team_id    UUID,
    monitor_id UUID,
    last_ts       AggregateFunction(max, DateTime),
    last_status   AggregateFunction(argMax, String, DateTime),
    last_total_ms AggregateFunction(argMax, UInt32, DateTime),
    last_region   AggregateFunction(argMax, String, DateTime),
    last_message  AggregateFunction(argMax, String, DateTime)
)
ENGINE = AggregatingMergeTree()
ORDER BY (team_id, monitor_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS team_latest_mv TO team_latest
AS SELECT
    team_id,
    monitor_id,
    maxState(ts) AS last_ts,
    argMaxState(toString(status), ts) AS last_status,
    argMaxState(total_ms, ts) AS last_total_ms,
    argMaxState(region, ts) AS last_region,
    argMaxState(message, ts) AS last_message
FROM check_results
GROUP BY team_id, monitor_id;

-- The latest result of each monitor with results in the last day, written before this
-- migration (argMax and max give the same answer when a row is counted twice, so rows the
-- view has already taken do no harm).
INSERT INTO team_latest
SELECT
    team_id,
    monitor_id,
    maxState(ts),
    argMaxState(toString(status), ts),
    argMaxState(total_ms, ts),
    argMaxState(region, ts),
    argMaxState(message, ts)
FROM check_results
WHERE ts >= now() - 86400
GROUP BY team_id, monitor_id;
