//! `statushawk migrate` against real Postgres and ClickHouse.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use statushawk_common::config::{ClickHouseConfig, DatabaseConfig};
use statushawk_common::migrate;
use statushawk_testkit::TestEnv;
use uuid::Uuid;

fn configs(env: &TestEnv) -> (DatabaseConfig, ClickHouseConfig) {
    (
        DatabaseConfig { url: SecretString::from(env.database_url.clone()), max_connections: 2 },
        ClickHouseConfig {
            url: env.services.clickhouse_url.clone(),
            database: env.clickhouse_database.clone(),
            ..ClickHouseConfig::default()
        },
    )
}

const POSTGRES_TABLES: [&str; 21] = [
    "teams",
    "users",
    "memberships",
    "api_tokens",
    "monitors",
    "channels",
    "monitor_channels",
    "maintenance_windows",
    "status_pages",
    "status_page_sections",
    "status_page_monitors",
    "incidents",
    "incident_updates",
    "region_outages",
    "notification_deliveries",
    "notification_attempts",
    "heartbeat_state",
    "system_mail",
    "invitations",
    "email_verifications",
    "_sqlx_migrations",
];

const CLICKHOUSE_TABLES: [&str; 11] = [
    "check_results",
    "check_results_1h",
    "check_results_1h_mv",
    "check_results_1m",
    "check_results_1m_mv",
    "heartbeat_pings",
    "schema_migrations",
    "team_latest",
    "team_latest_mv",
    "team_results_1h",
    "team_results_1h_mv",
];

#[tokio::test]
async fn migrate_twice_creates_every_table_then_does_nothing() {
    let env = TestEnv::new().await;
    let (pg, ch) = configs(&env);

    let first = migrate::postgres(&pg).await.unwrap();
    assert_eq!(first.applied.len(), first.total);
    assert!(first.total >= 1);
    let first_ch = migrate::clickhouse(&ch).await.unwrap();
    assert_eq!(first_ch.applied, ["0001_check_results", "0002_rollups", "0003_heartbeat_pings", "0004_team_rollups"]);

    let second = migrate::postgres(&pg).await.unwrap();
    assert!(second.applied.is_empty());
    assert!(second.to_string().starts_with("postgres: up to date ("), "{second}");
    assert!(second.to_string().ends_with("nothing to do"), "{second}");
    let second_ch = migrate::clickhouse(&ch).await.unwrap();
    assert!(second_ch.applied.is_empty());
    assert_eq!(second_ch.to_string(), "clickhouse: up to date (4 migrations), nothing to do");

    let pool = env.pg().await;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    for table in POSTGRES_TABLES {
        assert!(tables.iter().any(|t| t == table), "Postgres lacks {table}: {tables:?}");
    }

    let ch_tables: Vec<String> = env
        .clickhouse()
        .query("SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(ch_tables, CLICKHOUSE_TABLES);
}

#[tokio::test]
async fn migrate_creates_missing_databases() {
    let env = TestEnv::new().await;
    let (mut pg, mut ch) = configs(&env);
    let fresh = format!("{}_new", env.clickhouse_database);
    pg.url = SecretString::from(env.database_url.replace(&env.clickhouse_database, &fresh));
    ch.database = fresh.clone();
    assert!(!migrate::postgres(&pg).await.unwrap().applied.is_empty());
    assert!(!migrate::clickhouse(&ch).await.unwrap().applied.is_empty());
    // Clean up what TestEnv does not know of.
    env.clickhouse().query(&format!("DROP DATABASE {fresh}")).execute().await.unwrap();
}

/// A row of `check_results`, as the evaluator will write it.
#[derive(clickhouse::Row, Serialize)]
struct ResultRow {
    ts: u32,
    #[serde(with = "clickhouse::serde::uuid")]
    monitor_id: Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    team_id: Uuid,
    region: String,
    slot_ms: i64,
    attempt: u8,
    prober_id: String,
    status: i8,
    error_kind: String,
    message: String,
    dns_ms: Option<u32>,
    connect_ms: Option<u32>,
    tls_ms: Option<u32>,
    ttfb_ms: Option<u32>,
    total_ms: u32,
    http_status: u16,
    body_bytes: u32,
    cert_expires_at: Option<u32>,
}

#[derive(clickhouse::Row, Deserialize, Debug, PartialEq)]
struct Rollup {
    checks: u64,
    up: u64,
    degraded: u64,
    latency_avg: f64,
    latency_quantiles: Vec<f64>,
}

#[tokio::test]
async fn results_fill_the_minute_and_hour_rollups() {
    let env = TestEnv::new().await;
    let (_, ch) = configs(&env);
    migrate::clickhouse(&ch).await.unwrap();
    let client = env.clickhouse();

    let monitor = Uuid::now_v7();
    let hour = 1_700_000_000 / 3600 * 3600;
    // status: 1 up, 2 down, 3 degraded, 4 skipped
    let results = [(0, 1, 100), (10, 1, 200), (20, 3, 900), (70, 2, 10_000), (80, 4, 0), (3000, 1, 300)];
    let mut insert = client.insert::<ResultRow>("check_results").await.unwrap();
    for (offset, status, total_ms) in results {
        insert
            .write(&ResultRow {
                ts: hour + offset,
                monitor_id: monitor,
                team_id: Uuid::nil(),
                region: "eu-west".into(),
                slot_ms: i64::from(hour + offset) * 1000,
                attempt: 0,
                prober_id: "p1".into(),
                status,
                error_kind: if status == 2 { "timeout".into() } else { String::new() },
                message: String::new(),
                dns_ms: Some(1),
                connect_ms: None,
                tls_ms: None,
                ttfb_ms: None,
                total_ms,
                http_status: 200,
                body_bytes: 12,
                cert_expires_at: None,
            })
            .await
            .unwrap();
    }
    insert.end().await.unwrap();

    let read = |table: &str, bucket: u32| {
        format!(
            "SELECT countIfMerge(checks) AS checks, countIfMerge(up) AS up, countIfMerge(degraded) AS degraded, \
             avgIfMerge(latency_avg) AS latency_avg, arrayMap(x -> toFloat64(x), quantilesIfMerge(0.5, 0.95, 0.99)(latency_quantiles)) AS latency_quantiles \
             FROM {table} WHERE monitor_id = toUUID('{monitor}') AND bucket = toDateTime({bucket}) GROUP BY monitor_id"
        )
    };
    let first_minute: Rollup = client.query(&read("check_results_1m", hour)).fetch_one().await.unwrap();
    assert_eq!((first_minute.checks, first_minute.up, first_minute.degraded), (3, 2, 1));
    assert!((first_minute.latency_avg - 400.0).abs() < 0.01, "{first_minute:?}");
    let second_minute: Rollup = client.query(&read("check_results_1m", hour + 60)).fetch_one().await.unwrap();
    // The skipped check is not a measurement; the down one counts but has no latency.
    assert_eq!((second_minute.checks, second_minute.up, second_minute.degraded), (1, 0, 0));

    let whole_hour: Rollup = client.query(&read("check_results_1h", hour)).fetch_one().await.unwrap();
    assert_eq!((whole_hour.checks, whole_hour.up, whole_hour.degraded), (5, 3, 1));
    assert!((whole_hour.latency_avg - 375.0).abs() < 0.01, "{whole_hour:?}");
    assert_eq!(whole_hour.latency_quantiles.len(), 3);
    assert!(whole_hour.latency_quantiles[0] >= 100.0 && whole_hour.latency_quantiles[2] <= 900.0, "{whole_hour:?}");
}

fn result(team: Uuid, monitor: Uuid, ts: u32, status: i8, total_ms: u32, message: &str) -> ResultRow {
    ResultRow {
        ts,
        monitor_id: monitor,
        team_id: team,
        region: if status == 2 { "us-east".into() } else { "eu-west".into() },
        slot_ms: i64::from(ts) * 1000,
        attempt: 0,
        prober_id: "p1".into(),
        status,
        error_kind: String::new(),
        message: message.into(),
        dns_ms: None,
        connect_ms: None,
        tls_ms: None,
        ttfb_ms: None,
        total_ms,
        http_status: 200,
        body_bytes: 0,
        cert_expires_at: None,
    }
}

#[derive(clickhouse::Row, Deserialize, Debug, PartialEq)]
struct Latest {
    monitor: String,
    at: u32,
    status: String,
    total_ms: u32,
    region: String,
    message: String,
}

#[derive(clickhouse::Row, Deserialize, Debug, PartialEq)]
struct TeamHour {
    monitor: String,
    hour: u32,
    hour_checks: u64,
    hour_good: u64,
    hour_good_ms: u64,
}

#[tokio::test]
async fn the_team_rollups_take_every_result_and_the_latest_of_the_day_before_the_upgrade() {
    let env = TestEnv::new().await;
    let (_, ch) = configs(&env);
    let client = env.clickhouse();
    // A deployment at migration 0003, with a result from before the upgrade.
    for migration in &migrate::CLICKHOUSE[..3] {
        for statement in migrate::statements(migration.sql) {
            client.query(&statement).execute().await.unwrap();
        }
    }
    let (team, other) = (Uuid::now_v7(), Uuid::now_v7());
    let (shop, api, foreign) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let now = u32::try_from(statushawk_schemas::now_ms() / 1000).unwrap();
    let hour = now / 3600 * 3600 - 3600;
    let insert = |rows: Vec<ResultRow>| {
        let client = client.clone();
        async move {
            let mut insert = client.insert::<ResultRow>("check_results").await.unwrap();
            for row in rows {
                insert.write(&row).await.unwrap();
            }
            insert.end().await.unwrap();
        }
    };
    insert(vec![result(team, api, hour + 1, 1, 70, "")]).await;
    assert_eq!(migrate::clickhouse(&ch).await.unwrap().applied.last().map(String::as_str), Some("0004_team_rollups"));

    // status: 1 up, 2 down, 3 degraded, 4 skipped
    insert(vec![
        result(team, shop, hour + 10, 1, 100, ""),
        result(team, shop, hour + 20, 3, 301, ""),
        result(team, shop, hour + 3700, 2, 9000, "timed out"),
        result(team, shop, hour + 30, 4, 0, ""),
        result(other, foreign, hour + 40, 1, 5, ""),
    ])
    .await;
    // A second insert of the same hour: rows of one key until parts merge.
    insert(vec![result(team, shop, hour + 50, 1, 200, "")]).await;

    let latest: Vec<Latest> = client
        .query(&format!(
            "SELECT toString(monitor_id) AS monitor, toUInt32(maxMerge(last_ts)) AS at, argMaxMerge(last_status) AS status, \
                    argMaxMerge(last_total_ms) AS total_ms, argMaxMerge(last_region) AS region, \
                    argMaxMerge(last_message) AS message \
             FROM team_latest WHERE team_id = toUUID('{team}') GROUP BY monitor_id ORDER BY at"
        ))
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(
        latest,
        [
            Latest {
                monitor: api.to_string(),
                at: hour + 1,
                status: "up".into(),
                total_ms: 70,
                region: "eu-west".into(),
                message: String::new()
            },
            Latest {
                monitor: shop.to_string(),
                at: hour + 3700,
                status: "down".into(),
                total_ms: 9000,
                region: "us-east".into(),
                message: "timed out".into()
            },
        ],
        "the latest result of each of the team's monitors (api's from before the upgrade), nothing of the other team's"
    );

    let hours: Vec<TeamHour> = client
        .query(&format!(
            "SELECT toString(monitor_id) AS monitor, toUInt32(bucket) AS hour, sum(checks) AS hour_checks, \
                    sum(good) AS hour_good, sum(good_ms) AS hour_good_ms \
             FROM team_results_1h WHERE team_id = toUUID('{team}') GROUP BY monitor_id, bucket ORDER BY hour"
        ))
        .fetch_all()
        .await
        .unwrap();
    let hours: Vec<(u32, u64, u64, u64)> = hours
        .into_iter()
        .map(|h| {
            assert_eq!(h.monitor, shop.to_string(), "api's hour from before the upgrade is not rolled up");
            (h.hour, h.hour_checks, h.hour_good, h.hour_good_ms)
        })
        .collect();
    // The skipped check is not one; the down one has no latency.
    assert_eq!(hours, [(hour, 3, 3, 100 + 301 + 200), (hour + 3600, 1, 0, 0)]);
}

#[tokio::test]
async fn an_edited_clickhouse_migration_is_refused() {
    let env = TestEnv::new().await;
    let (_, ch) = configs(&env);
    migrate::clickhouse(&ch).await.unwrap();
    env.clickhouse()
        .query("INSERT INTO schema_migrations (version, name, checksum) VALUES (1, '0001_check_results', 'tampered')")
        .execute()
        .await
        .unwrap();
    // Version 1 now has a record whose checksum is not the file's: caught.
    let err = migrate::clickhouse(&ch).await.unwrap_err().to_string();
    assert!(err.contains("0001_check_results was changed"), "{err}");
}

#[tokio::test]
async fn credentials_written_before_sealing_are_sealed_once_a_key_is_set() {
    let env = TestEnv::new().await;
    let (db, _) = configs(&env);
    migrate::postgres(&db).await.unwrap();
    let pool = env.pg().await;
    let team: Uuid = sqlx::query_scalar("INSERT INTO teams (name, slug) VALUES ('T', 't') RETURNING id")
        .fetch_one(&pool)
        .await
        .unwrap();
    // A monitor as versions before 0008 stored it: its credentials in spec.
    let legacy = serde_json::json!({
        "url": "https://api.example/", "headers": [{"name": "Authorization", "value": "Bearer legacy-secret"}],
        "body": "{\"password\":\"hunter2\"}", "method": "POST"
    });
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO monitors (team_id, name, kind, spec, interval_ms, timeout_ms, regions) \
         VALUES ($1, 'Legacy', 'http', $2, 60000, 10000, '{local}') RETURNING id",
    )
    .bind(team)
    .bind(&legacy)
    .fetch_one(&pool)
    .await
    .unwrap();
    let secrets = statushawk_common::secrets::SecretBox::new(&[3u8; 32]).unwrap();
    assert_eq!(migrate::seal_monitor_secrets(&pool, &secrets).await.unwrap(), 1);
    assert_eq!(migrate::seal_monitor_secrets(&pool, &secrets).await.unwrap(), 0, "nothing left to seal");
    let (spec, ciphertext, nonce): (serde_json::Value, Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT spec, secret_ciphertext, secret_nonce FROM monitors WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    let text = spec.to_string();
    assert!(!text.contains("legacy-secret") && !text.contains("hunter2"), "{text}");
    assert_eq!(spec["headers"][0]["name"], "Authorization");
    let opened = secrets
        .open_spec_secrets(statushawk_schemas::MonitorId(id), &statushawk_common::secrets::Sealed { ciphertext, nonce })
        .unwrap();
    assert_eq!(opened.headers, [Some("Bearer legacy-secret".to_owned())]);
    assert_eq!(opened.body.as_deref(), Some("{\"password\":\"hunter2\"}"));
}
