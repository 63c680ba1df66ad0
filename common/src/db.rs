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

/// Whether `name` is a plain SQL identifier (letters, digits, `_`, not
/// starting with a digit), safe to put in DDL unquoted.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for good in ["statushawk", "sh_test_0a1b", "_x", "A1"] {
            assert!(is_identifier(good), "{good}");
        }
        for bad in ["", "1abc", "a-b", "a b", "x;drop", "ä"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }
}
