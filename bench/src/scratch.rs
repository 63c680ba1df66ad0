//! A run's private slice of the servers: its own Postgres and ClickHouse
//! databases and NATS prefix, and what it seeds into them (a team, its HTTP
//! monitors, a webhook channel on the monitors that flip). Dropped at the end.

use anyhow::Context as _;
use futures::TryStreamExt as _;
use sqlx::PgPool;
use statushawk_common::secrets::SecretBox;
use statushawk_schemas::ChannelId;
use uuid::Uuid;

/// Where the servers are.
#[derive(Clone, Debug)]
pub struct Servers {
    /// `nats://…` of a JetStream server (or one node of a cluster).
    pub nats_url: String,
    /// `postgres://…` of any database on the server (ours is made beside it).
    pub postgres_url: String,
    /// `http://…` of ClickHouse's HTTP interface.
    pub clickhouse_url: String,
    /// ClickHouse's user and password.
    pub clickhouse_user: String,
    /// ClickHouse's password.
    pub clickhouse_password: String,
}

/// The run's databases and NATS prefix.
pub struct Scratch {
    /// The servers.
    pub servers: Servers,
    /// The name of both databases and (upper-cased) the NATS prefix.
    pub name: String,
    /// URL of the run's Postgres database.
    pub database_url: String,
    /// The secrets key the services get (channels are sealed with it).
    pub secrets_key: String,
}

/// One seeded monitor.
#[derive(Clone, Debug)]
pub struct Monitor {
    /// Its id.
    pub id: Uuid,
    /// Its check interval.
    pub interval_ms: u32,
    /// Whether its target goes down when the targets are switched down.
    pub flips: bool,
}

impl Scratch {
    /// A new, still empty slice (`statushawk migrate` and `topology` fill it).
    pub fn new(servers: Servers) -> anyhow::Result<Self> {
        let name = format!("sh_bench_{}", &Uuid::new_v4().simple().to_string()[..12]);
        let mut url = url::Url::parse(&servers.postgres_url).context("parsing the Postgres URL")?;
        url.set_path(&format!("/{name}"));
        Ok(Self { database_url: url.into(), name, servers, secrets_key: SecretBox::generate_key() })
    }

    /// The services' environment: these servers, this slice, one region
    /// (`local`), targets on loopback allowed.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("STATUSHAWK_NATS_URL", self.servers.nats_url.as_str()),
            ("STATUSHAWK_NATS_PREFIX", &self.name),
            ("STATUSHAWK_DATABASE_URL", &self.database_url),
            ("STATUSHAWK_CLICKHOUSE_URL", &self.servers.clickhouse_url),
            ("STATUSHAWK_CLICKHOUSE_DATABASE", &self.name),
            ("STATUSHAWK_CLICKHOUSE_USER", &self.servers.clickhouse_user),
            ("STATUSHAWK_CLICKHOUSE_PASSWORD", &self.servers.clickhouse_password),
            ("STATUSHAWK_CLUSTER_REGIONS", "local"),
            ("STATUSHAWK_PROBER_ALLOW_PRIVATE_TARGETS", "true"),
            ("STATUSHAWK_NOTIFIER_ALLOW_PRIVATE_TARGETS", "true"),
            ("STATUSHAWK_SECRETS_KEY", &self.secrets_key),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
    }

    /// A pool on the run's Postgres database.
    pub async fn pg(&self) -> anyhow::Result<PgPool> {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&self.database_url)
            .await
            .context("connecting to the run's Postgres database")
    }

    /// A client on the run's ClickHouse database.
    pub fn clickhouse(&self) -> clickhouse::Client {
        self.clickhouse_server().with_database(&self.name)
    }

    fn clickhouse_server(&self) -> clickhouse::Client {
        clickhouse::Client::default()
            .with_url(&self.servers.clickhouse_url)
            .with_user(&self.servers.clickhouse_user)
            .with_password(&self.servers.clickhouse_password)
            .with_validation(false)
    }

    /// Creates a team with `count` HTTP monitors checked every `interval_ms`
    /// from `local`, monitor `i` on `url(i)`; the first `failing` flip, and
    /// have a signed webhook channel to `webhook_url`.
    pub async fn seed(
        &self,
        count: usize,
        interval_ms: u32,
        failing: usize,
        url: impl Fn(usize) -> String,
        webhook_url: &str,
    ) -> anyhow::Result<Vec<Monitor>> {
        let pg = self.pg().await?;
        let team: Uuid = sqlx::query_scalar("INSERT INTO teams (name, slug) VALUES ('Bench', 'bench') RETURNING id")
            .fetch_one(&pg)
            .await?;
        let monitors: Vec<Monitor> =
            (0..count).map(|i| Monitor { id: Uuid::now_v7(), interval_ms, flips: i < failing }).collect();
        for (chunk_start, chunk) in (0..).step_by(5_000).zip(monitors.chunks(5_000)) {
            let ids: Vec<Uuid> = chunk.iter().map(|m| m.id).collect();
            let names: Vec<String> = (chunk_start..chunk_start + chunk.len()).map(|i| format!("target {i}")).collect();
            let specs: Vec<serde_json::Value> =
                (chunk_start..chunk_start + chunk.len()).map(|i| serde_json::json!({"url": url(i)})).collect();
            sqlx::query(
                "INSERT INTO monitors (id, team_id, name, kind, spec, interval_ms, timeout_ms, regions) \
                 SELECT id, $1, name, 'http', spec, $5, 2000, ARRAY['local'] \
                 FROM unnest($2::uuid[], $3::text[], $4::jsonb[]) AS m (id, name, spec)",
            )
            .bind(team)
            .bind(&ids)
            .bind(&names)
            .bind(&specs)
            .bind(i32::try_from(interval_ms)?)
            .execute(&pg)
            .await
            .context("seeding the monitors")?;
        }
        let secrets = SecretBox::from_base64(&self.secrets_key.clone().into())?;
        // The receiver does not check signatures; the notifier signs as for any webhook.
        let webhook = serde_json::json!({"url": webhook_url, "signing_secret": Uuid::new_v4().simple().to_string()});
        let channel = ChannelId::new();
        let sealed = secrets.seal_channel_secret(channel, &webhook)?;
        sqlx::query(
            "INSERT INTO channels (id, team_id, name, kind, secret_ciphertext, secret_nonce) \
             VALUES ($1, $2, 'Bench webhook', 'webhook', $3, $4)",
        )
        .bind(channel.0)
        .bind(team)
        .bind(&sealed.ciphertext)
        .bind(&sealed.nonce)
        .execute(&pg)
        .await?;
        let flipping: Vec<Uuid> = monitors.iter().filter(|m| m.flips).map(|m| m.id).collect();
        sqlx::query("INSERT INTO monitor_channels (team_id, monitor_id, channel_id) SELECT $1, unnest($2::uuid[]), $3")
            .bind(team)
            .bind(&flipping)
            .bind(channel.0)
            .execute(&pg)
            .await?;
        pg.close().await;
        Ok(monitors)
    }

    /// Drops both databases and the prefix's streams and buckets.
    pub async fn drop_all(&self) -> anyhow::Result<()> {
        use sqlx::Connection as _;
        let mut admin = sqlx::PgConnection::connect(&self.servers.postgres_url).await?;
        let name = &self.name;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
            .execute(&mut admin)
            .await?;
        self.clickhouse_server().query(&format!("DROP DATABASE IF EXISTS {name}")).execute().await?;
        let js = statushawk_nats::async_nats::jetstream::new(
            statushawk_nats::async_nats::connect(&self.servers.nats_url).await?,
        );
        let ours: Vec<String> = js
            .stream_names()
            .try_filter(|stream| {
                let ours = stream.starts_with(&format!("{name}_")) || stream.starts_with(&format!("KV_{name}_"));
                std::future::ready(ours)
            })
            .try_collect()
            .await?;
        for stream in ours {
            js.delete_stream(&stream).await?;
        }
        Ok(())
    }
}
