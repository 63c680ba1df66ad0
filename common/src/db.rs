//! Connections to Postgres and ClickHouse.

use anyhow::Context as _;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::{ClickHouseConfig, DatabaseConfig};

/// A Postgres pool for `config`.
pub async fn pg_pool(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions =
        config.url.expose_secret().parse().context("parsing database.url (STATUSHAWK_DATABASE_URL)")?;
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .connect_with(options)
        .await
        .context("connecting to Postgres")
}

/// A ClickHouse client on `config`'s database.
///
/// Row validation is off: it needs the `RowBinaryWithNamesAndTypes` format,
/// which ClickHouse 18.16 (what Debian ships, and what tests run on) lacks.
/// Our tables and row types are checked against each other by the tests.
pub fn clickhouse(config: &ClickHouseConfig) -> clickhouse::Client {
    clickhouse_server(config).with_database(&config.database)
}

/// A ClickHouse client on the server's default database, to create ours.
pub fn clickhouse_server(config: &ClickHouseConfig) -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(&config.url)
        .with_user(&config.user)
        .with_password(config.password.expose_secret())
        .with_validation(false)
}

/// What retrying a failed Postgres statement would give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// It may pass: I/O, a lost connection, a pool timeout, a server
    /// starting or shutting down. Retry.
    Transient,
    /// It never will with the same input: bad data (SQLSTATE class 22), a
    /// constraint (class 23), a value that does not decode. The label names
    /// it (`sqlstate_22021`, `decode`) for logs and metrics.
    Permanent(String),
}

/// Classifies a Postgres error: [`Failure::Permanent`] for what the same
/// input can never get past, [`Failure::Transient`] for the rest.
pub fn classify(err: &sqlx::Error) -> Failure {
    match err {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) if code.starts_with("22") || code.starts_with("23") => {
                Failure::Permanent(format!("sqlstate_{code}"))
            }
            _ => Failure::Transient,
        },
        sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => Failure::Permanent("decode".to_owned()),
        sqlx::Error::Encode(_) => Failure::Permanent("encode".to_owned()),
        sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. } => Failure::Permanent("schema".to_owned()),
        _ => Failure::Transient,
    }
}
