//! Test harness on real services: NATS (JetStream), Postgres and ClickHouse.
//!
//! The services are the project's own: `scripts/services` installs and starts
//! them. When `STATUSHAWK_TEST_NATS_URL`, `STATUSHAWK_TEST_POSTGRES_URL` and
//! `STATUSHAWK_TEST_CLICKHOUSE_URL` are set (as `scripts/test` does), tests
//! reuse those servers; otherwise the first test of a process starts a private
//! set on free ports in a throw-away directory, which `scripts/services`
//! tears down when the process exits.
//!
//! Each [`TestEnv`] gets its own Postgres database, ClickHouse database and
//! NATS name prefix, so tests run in parallel against shared servers; they
//! are dropped with it.
//!
//! This crate fails a test by panicking, as test code does.
#![allow(clippy::panic, clippy::expect_used)]

mod proxy;
mod smtp;

pub use smtp::SmtpSink;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, bail};
use tokio::sync::OnceCell;

pub use proxy::TcpProxy;

/// Addresses of the shared servers.
#[derive(Clone, Debug)]
pub struct Services {
    /// `nats://…` of a JetStream-enabled server.
    pub nats_url: String,
    /// `postgres://…` of the maintenance database, used to create databases.
    pub postgres_url: String,
    /// `http://…` of ClickHouse's HTTP interface.
    pub clickhouse_url: String,
}

static SERVICES: OnceCell<Services> = OnceCell::const_new();

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shared servers, started on first use if the environment names none.
pub async fn services() -> &'static Services {
    SERVICES
        .get_or_init(|| async {
            match from_env() {
                Some(services) => services,
                None => tokio::task::spawn_blocking(start_private)
                    .await
                    .expect("service start-up task")
                    .unwrap_or_else(|err| panic!("starting test services with scripts/services: {err:#}")),
            }
        })
        .await
}

fn from_env() -> Option<Services> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Some(Services {
        nats_url: var("STATUSHAWK_TEST_NATS_URL")?,
        postgres_url: var("STATUSHAWK_TEST_POSTGRES_URL")?,
        clickhouse_url: var("STATUSHAWK_TEST_CLICKHOUSE_URL")?,
    })
}

/// Starts a private set of servers for this process with `scripts/services`.
fn start_private() -> anyhow::Result<Services> {
    let dir = std::env::temp_dir().join(format!("statushawk-test-{}", std::process::id()));
    let script = repo_root().join("scripts/services");
    let output = Command::new(&script)
        .arg("start")
        .arg(&dir)
        .args(["--ports", "free", "--watch-pid", &std::process::id().to_string()])
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !output.status.success() {
        bail!("{} start failed ({}):\n{}", script.display(), output.status, String::from_utf8_lossy(&output.stderr));
    }
    let env = std::fs::read_to_string(dir.join("env")).context("reading the services' env file")?;
    let value = |name: &str| -> anyhow::Result<String> {
        env.lines()
            .filter_map(|line| line.trim().strip_prefix("export "))
            .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
            .map(|v| v.trim_matches(['"', '\'']).to_owned())
            .with_context(|| format!("{name} missing from the services' env file"))
    };
    Ok(Services {
        nats_url: value("STATUSHAWK_TEST_NATS_URL")?,
        postgres_url: value("STATUSHAWK_TEST_POSTGRES_URL")?,
        clickhouse_url: value("STATUSHAWK_TEST_CLICKHOUSE_URL")?,
    })
}

/// A plain HTTP/1.0 GET of `path` on `addr` (`host:port`): status line,
/// headers and body as text. Enough for `/metrics` and `/healthz`.
pub async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connecting");
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).await.expect("writing");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("reading");
    response
}

/// A plain HTTP/1.0 request with a JSON body (and a bearer token): the
/// status code and the body, parsed as JSON (`Null` if it is not).
pub async fn http_json(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connecting");
    let body = body.to_string();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("writing");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("reading");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let json = response.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str(b).ok());
    (status, json.unwrap_or(serde_json::Value::Null))
}

/// The `nats-server` binary the project's scripts use (at least 2.10).
pub fn nats_server_binary() -> PathBuf {
    let script = repo_root().join("scripts/services");
    let output = Command::new(&script).args(["which", "nats-server"]).output().expect("running scripts/services which");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// One test's private slice of the services.
pub struct TestEnv {
    /// The shared servers.
    pub services: Services,
    /// Unique id of this environment (lower-case hex).
    pub id: String,
    /// NATS prefix for this test's streams, subjects and buckets.
    pub nats_prefix: String,
    /// URL of this test's own, empty Postgres database.
    pub database_url: String,
    /// Name of this test's own, empty ClickHouse database.
    pub clickhouse_database: String,
}

impl TestEnv {
    /// Creates fresh, empty databases and a fresh NATS prefix.
    pub async fn new() -> Self {
        let services = services().await.clone();
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let database = format!("sh_test_{id}");
        let env = Self {
            database_url: replace_database(&services.postgres_url, &database),
            clickhouse_database: database.clone(),
            nats_prefix: format!("t{id}"),
            id,
            services,
        };
        env.create_databases(&database).await.unwrap_or_else(|err| panic!("creating test databases: {err:#}"));
        env
    }

    async fn create_databases(&self, database: &str) -> anyhow::Result<()> {
        use sqlx::Connection as _;
        let mut admin = sqlx::PgConnection::connect(&self.services.postgres_url)
            .await
            .context("connecting to the Postgres maintenance database")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}"))).execute(&mut admin).await?;
        admin.close().await?;
        clickhouse::Client::default()
            .with_url(&self.services.clickhouse_url)
            .query(&format!("CREATE DATABASE {database}"))
            .execute()
            .await
            .context("creating the ClickHouse database")?;
        Ok(())
    }

    /// A NATS client connected to the shared server.
    pub async fn nats(&self) -> async_nats::Client {
        async_nats::connect(&self.services.nats_url).await.expect("connecting to NATS")
    }

    /// A connection pool on this test's Postgres database.
    pub async fn pg(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&self.database_url)
            .await
            .expect("connecting to the test database")
    }

    /// A ClickHouse client on this test's database.
    pub fn clickhouse(&self) -> clickhouse::Client {
        clickhouse::Client::default()
            .with_url(&self.services.clickhouse_url)
            .with_database(&self.clickhouse_database)
            .with_validation(false)
    }

    async fn drop_everything(services: Services, database: String, prefix: String) -> anyhow::Result<()> {
        use futures_lite::StreamExt as _;
        use sqlx::Connection as _;
        let mut admin = sqlx::PgConnection::connect(&services.postgres_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")))
            .execute(&mut admin)
            .await?;
        clickhouse::Client::default()
            .with_url(&services.clickhouse_url)
            .query(&format!("DROP DATABASE IF EXISTS {database}"))
            .execute()
            .await?;
        let js = async_nats::jetstream::new(async_nats::connect(&services.nats_url).await?);
        let mut names = js.stream_names();
        let mut ours = Vec::new();
        while let Some(name) = names.try_next().await? {
            if name.starts_with(&format!("{prefix}_")) || name.starts_with(&format!("KV_{prefix}_")) {
                ours.push(name);
            }
        }
        for name in ours {
            js.delete_stream(&name).await?;
        }
        Ok(())
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // Clean up on a thread of its own: a test's runtime may be shutting
        // down, and Drop cannot await.
        let services = self.services.clone();
        let database = self.clickhouse_database.clone();
        let prefix = self.nats_prefix.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(Self::drop_everything(services, database, prefix))
        });
        if let Ok(Err(err)) = cleanup.join() {
            eprintln!("test clean-up failed (the throw-away servers will take it along): {err:#}");
        }
    }
}

/// `url` with its database (path) replaced by `database`.
fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(replace_database("postgres://u@h:5/postgres", "x"), "postgres://u@h:5/x");
        assert_eq!(replace_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
        assert_eq!(replace_database("postgres://u@h:5/p?sslmode=disable", "x"), "postgres://u@h:5/x?sslmode=disable");
    }
}
