//! `statushawk migrate`: Postgres migrations (sqlx) and ClickHouse migrations
//! (our own small runner: ClickHouse has no transactions, so each file is
//! written to be re-runnable with `IF NOT EXISTS` and recorded when done).

use std::fmt;

use anyhow::{Context as _, bail};
use secrecy::ExposeSecret;
use sqlx::migrate::{MigrateDatabase as _, Migrator};
use sqlx::{Connection as _, PgConnection, Postgres};

use crate::config::{ClickHouseConfig, DatabaseConfig};
use crate::db;

/// The Postgres migrations, embedded at build time.
pub static POSTGRES: Migrator = sqlx::migrate!("../migrations/postgres");

/// One ClickHouse migration: a file of `;`-terminated statements.
pub struct ClickHouseMigration {
    /// Order of application (the file's number).
    pub version: u32,
    /// File name without `.sql`.
    pub name: &'static str,
    /// The file's text.
    pub sql: &'static str,
}

macro_rules! clickhouse_migrations {
    ($($version:literal $name:literal),* $(,)?) => {
        /// The ClickHouse migrations, embedded at build time, in order.
        pub static CLICKHOUSE: &[ClickHouseMigration] = &[$(ClickHouseMigration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../migrations/clickhouse/", $name, ".sql")),
        }),*];
    };
}

clickhouse_migrations! {
    1 "0001_check_results",
    2 "0002_rollups",
    3 "0003_heartbeat_pings",
    4 "0004_team_rollups",
}

/// What one database's migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `postgres` or `clickhouse`.
    pub database: &'static str,
    /// Migrations applied by this run.
    pub applied: Vec<String>,
    /// Migrations known in all.
    pub total: usize,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.applied.is_empty() {
            let plural = if self.total == 1 { "" } else { "s" };
            write!(f, "{}: up to date ({} migration{plural}), nothing to do", self.database, self.total)
        } else {
            write!(f, "{}: applied {}", self.database, self.applied.join(", "))
        }
    }
}

/// Applies the Postgres migrations, creating the database if it is missing.
pub async fn postgres(config: &DatabaseConfig) -> anyhow::Result<Outcome> {
    let url = config.url.expose_secret();
    if !Postgres::database_exists(url).await.context("checking the Postgres database")? {
        Postgres::create_database(url).await.context("creating the Postgres database")?;
    }
    let mut conn = PgConnection::connect(url).await.context("connecting to Postgres")?;
    let before = applied_postgres_versions(&mut conn).await?;
    POSTGRES.run(&mut conn).await.context("applying Postgres migrations")?;
    let applied = POSTGRES
        .iter()
        .filter(|m| !before.contains(&m.version))
        .map(|m| format!("{:04} {}", m.version, m.description))
        .collect();
    conn.close().await?;
    Ok(Outcome { database: "postgres", applied, total: POSTGRES.iter().count() })
}

/// Seals the credentials that monitors written before migration 0008 still
/// hold in plain text in `monitors.spec` (header values, HTTP bodies, TCP
/// payloads); returns how many monitors it sealed. Idempotent: a sealed
/// monitor has nothing left to seal.
pub async fn seal_monitor_secrets(pool: &sqlx::PgPool, secrets: &crate::secrets::SecretBox) -> anyhow::Result<u64> {
    use statushawk_schemas::{CheckSpec, MonitorId};
    let rows: Vec<(sqlx::types::Uuid, String, serde_json::Value)> = sqlx::query_as(
        "SELECT id, kind::text, spec FROM monitors WHERE secret_ciphertext IS NULL AND kind IN ('http', 'tcp') \
           AND (spec ? 'body' OR spec ? 'send' OR jsonb_path_exists(spec, '$.headers[*].value'))",
    )
    .fetch_all(pool)
    .await
    .context("reading monitors with plain-text credentials")?;
    let mut sealed = 0;
    for (id, kind, spec) in rows {
        let serde_json::Value::Object(mut settings) = spec else { continue };
        settings.insert("kind".into(), serde_json::Value::String(kind));
        let Ok(mut check) = serde_json::from_value::<CheckSpec>(serde_json::Value::Object(settings)) else {
            tracing::warn!(monitor_id = %id, "A monitor's spec does not parse; its credentials were left as they are.");
            continue;
        };
        let fields = match &check {
            CheckSpec::Http(spec) => spec.secrets_set(),
            CheckSpec::Tcp(spec) => spec.secrets_set(),
            _ => Vec::new(),
        };
        let taken = check.take_secrets();
        if taken.is_empty() {
            continue;
        }
        let boxed = secrets.seal_spec_secrets(MonitorId(id), &taken)?;
        let serde_json::Value::Object(mut redacted) = serde_json::to_value(&check)? else { continue };
        redacted.remove("kind");
        sqlx::query(
            "UPDATE monitors SET spec = $2, secret_ciphertext = $3, secret_nonce = $4, secret_fields = $5 \
             WHERE id = $1 AND secret_ciphertext IS NULL",
        )
        .bind(id)
        .bind(serde_json::Value::Object(redacted))
        .bind(&boxed.ciphertext)
        .bind(&boxed.nonce)
        .bind(&fields)
        .execute(pool)
        .await?;
        sealed += 1;
    }
    Ok(sealed)
}

async fn applied_postgres_versions(conn: &mut PgConnection) -> anyhow::Result<Vec<i64>> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(&mut *conn).await?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(&mut *conn).await?)
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct AppliedRow {
    version: u32,
    checksum: String,
}

#[derive(clickhouse::Row, serde::Serialize)]
struct NewRow<'a> {
    version: u32,
    name: &'a str,
    checksum: String,
}

const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations \
     (version UInt32, name String, checksum String, applied_at DateTime DEFAULT now()) \
     ENGINE = MergeTree() ORDER BY version";

fn checksum(sql: &str) -> String {
    format!("{:016x}", statushawk_schemas::fnv1a64(sql.as_bytes()))
}

/// The statements of a migration file: split at `;` ending a line.
pub fn statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let trimmed = line.trim_end();
        current.push_str(trimmed);
        current.push('\n');
        if trimmed.ends_with(';') {
            statements.push(std::mem::take(&mut current));
        }
    }
    statements.push(current);
    statements
        .into_iter()
        .map(|s| s.trim().trim_end_matches(';').trim().to_owned())
        .filter(|s| s.lines().any(|line| !line.trim().is_empty() && !line.trim_start().starts_with("--")))
        .collect()
}

/// Applies the ClickHouse migrations not yet recorded in `schema_migrations`,
/// creating the database if it is missing. A recorded migration whose file
/// changed since is an error: migrations are never edited, only added.
pub async fn clickhouse(config: &ClickHouseConfig) -> anyhow::Result<Outcome> {
    if !crate::config::is_identifier(&config.database) {
        bail!("clickhouse.database {:?} is not a plain identifier", config.database);
    }
    db::clickhouse_server(config)
        .query(&format!("CREATE DATABASE IF NOT EXISTS {}", config.database))
        .execute()
        .await
        .with_context(|| format!("creating ClickHouse database {} at {}", config.database, config.url))?;
    let client = db::clickhouse(config);
    client.query(CREATE_MIGRATIONS_TABLE).execute().await.context("creating schema_migrations")?;
    let recorded: Vec<AppliedRow> = client
        .query("SELECT version, checksum FROM schema_migrations ORDER BY version")
        .fetch_all()
        .await
        .context("reading schema_migrations")?;

    let mut applied = Vec::new();
    for migration in CLICKHOUSE {
        let sum = checksum(migration.sql);
        let mut records = recorded.iter().filter(|r| r.version == migration.version).peekable();
        if records.peek().is_some() {
            if records.any(|r| r.checksum != sum) {
                bail!(
                    "ClickHouse migration {} was changed after it was applied; add a new migration instead",
                    migration.name
                );
            }
            continue;
        }
        for statement in statements(migration.sql) {
            client
                .query(&statement)
                .execute()
                .await
                .with_context(|| format!("ClickHouse migration {}: {statement}", migration.name))?;
        }
        let mut insert = client.insert::<NewRow<'_>>("schema_migrations").await?;
        insert.write(&NewRow { version: migration.version, name: migration.name, checksum: sum }).await?;
        insert.end().await.with_context(|| format!("recording ClickHouse migration {}", migration.name))?;
        applied.push(migration.name.to_owned());
    }
    Ok(Outcome { database: "clickhouse", applied, total: CLICKHOUSE.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_clickhouse_file_is_embedded_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/clickhouse");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let embedded: Vec<String> = CLICKHOUSE.iter().map(|m| format!("{}.sql", m.name)).collect();
        assert_eq!(files, embedded, "list every file of migrations/clickhouse in clickhouse_migrations!");
        for (index, migration) in CLICKHOUSE.iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1);
            assert!(migration.name.starts_with(&format!("{:04}_", migration.version)));
        }
    }

    #[test]
    fn statements_split_at_line_ending_semicolons() {
        let sql =
            "-- a comment\nCREATE TABLE a (x UInt8)\nENGINE = Memory;\n\nCREATE VIEW b AS SELECT 1;\n-- trailing\n";
        assert_eq!(
            statements(sql),
            ["-- a comment\nCREATE TABLE a (x UInt8)\nENGINE = Memory", "CREATE VIEW b AS SELECT 1"]
        );
        assert!(statements("-- only a comment\n").is_empty());
    }
}
