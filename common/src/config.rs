//! Configuration: one TOML file plus `STATUSHAWK_*` environment variables.
//!
//! Every setting has a default that works on one machine. A variable names
//! its section and key: `STATUSHAWK_<SECTION>_<KEY>`, e.g.
//! `STATUSHAWK_NATS_URL`, `STATUSHAWK_DATABASE_URL`,
//! `STATUSHAWK_CLICKHOUSE_DATABASE`, `STATUSHAWK_CLUSTER_REGIONS=eu-west,us-east`.
//! Variables override the file; unknown keys are errors, so a typo is caught.
//! `STATUSHAWK_TEST_*` belongs to the test harness and is ignored here.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use ipnet::IpNet;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Deserializer};
use statushawk_nats::Topology;
use statushawk_schemas::{FieldError, Region};

/// The whole configuration of a StatusHawk process.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// NATS connection and JetStream layout.
    pub nats: NatsConfig,
    /// Postgres (configuration and incidents).
    pub database: DatabaseConfig,
    /// ClickHouse (results and analytics).
    pub clickhouse: ClickHouseConfig,
    /// Regions and partitions of this deployment.
    pub cluster: ClusterConfig,
    /// The scheduler.
    pub scheduler: SchedulerConfig,
    /// The probers.
    pub prober: ProberConfig,
    /// The SSRF guard of every process that connects where tenants aim.
    pub guard: GuardConfig,
    /// The evaluators.
    pub evaluator: EvaluatorConfig,
    /// The notifiers.
    pub notifier: NotifierConfig,
    /// The HTTP API.
    pub api: ApiConfig,
    /// The deployment's own mail server (invitations, address verification).
    pub email: EmailConfig,
    /// The key that encrypts secrets at rest (channel tokens and URLs).
    pub secrets: SecretsConfig,
    /// The Prometheus `/metrics` endpoint.
    pub metrics: MetricsConfig,
    /// Logging.
    pub log: LogConfig,
}

/// NATS connection and JetStream layout.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// Server URL(s), comma separated.
    pub url: String,
    /// Prefix for every stream, subject and bucket, so deployments can share
    /// one NATS account (empty: none).
    pub prefix: String,
    /// Stream replicas: 1 on a single node, 3 in a cluster.
    pub replicas: usize,
    /// Lease time-to-live in seconds: how long a dead scheduler or evaluator
    /// holds its work before another instance takes over.
    pub lease_ttl_secs: u64,
    /// Duplicate window of the due-check stream in seconds; keep it longer
    /// than the lease TTL plus margin.
    pub due_duplicate_window_secs: u64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            prefix: String::new(),
            replicas: 1,
            lease_ttl_secs: 10,
            due_duplicate_window_secs: 30,
        }
    }
}

/// Postgres connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://` URL; may hold a password, so it is never printed.
    pub url: SecretString,
    /// Connections in the pool.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: "postgres://postgres@127.0.0.1:5432/statushawk".into(), max_connections: 10 }
    }
}

/// ClickHouse connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP interface URL.
    pub url: String,
    /// Database holding StatusHawk's tables.
    pub database: String,
    /// User name.
    pub user: String,
    /// Password (never printed).
    pub password: SecretString,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8123".into(),
            database: "statushawk".into(),
            user: "default".into(),
            password: SecretString::default(),
        }
    }
}

/// Regions and partitions of this deployment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Regions that run probers: a list, or a comma-separated string in the
    /// environment (`STATUSHAWK_CLUSTER_REGIONS=eu-west,us-east`).
    #[serde(deserialize_with = "regions")]
    pub regions: Vec<Region>,
    /// Evaluator partitions. Changing it moves monitors between partitions:
    /// set it once per deployment.
    pub partitions: u16,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self { regions: Region::new("local").into_iter().collect(), partitions: statushawk_schemas::DEFAULT_PARTITIONS }
    }
}

/// The scheduler.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Seconds between reconciles against Postgres, which heal any
    /// configuration message that was missed: the scheduler's monitor
    /// index, the monitors each evaluator partition holds, and the
    /// notifier's channel cache all use this period.
    pub reconcile_secs: u64,
    /// Due checks the publisher may be behind (NATS slow or down) before new
    /// ones are dropped and counted.
    pub max_backlog: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self { reconcile_secs: 60, max_backlog: 200_000 }
    }
}

/// The probers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProberConfig {
    /// Checks in flight per prober process at most.
    pub concurrency: usize,
    /// HTTP response body bytes read at most (assertions see only these).
    pub max_body_bytes: usize,
    /// Let checks reach loopback and private addresses. Only for tests and
    /// local demos: it turns the SSRF guard's built-in ranges off (the
    /// `[guard]` deny-list still holds).
    pub allow_private_targets: bool,
    /// Resolvers a DNS check without a `resolver` of its own asks (never
    /// the host's): `ip` or `ip:port` (`[v6]:port`), a list, or a
    /// comma-separated string in the environment. Each must pass the SSRF
    /// guard: public resolvers only. Default: Cloudflare, Google, Quad9.
    #[serde(deserialize_with = "strings")]
    pub dns_resolvers: Vec<String>,
}

impl Default for ProberConfig {
    fn default() -> Self {
        Self {
            concurrency: 1024,
            max_body_bytes: 10 * 1024,
            allow_private_targets: false,
            // Keep alike with statushawk_prober::checks::dns::DEFAULT_RESOLVERS.
            dns_resolvers: [
                "1.1.1.1",
                "8.8.8.8",
                "9.9.9.9",
                "2606:4700:4700::1111",
                "2001:4860:4860::8888",
                "2620:fe::fe",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl ProberConfig {
    /// `dns_resolvers` as socket addresses (port 53 when none is given).
    pub fn dns_resolver_addrs(&self) -> Result<Vec<SocketAddr>, ConfigError> {
        self.dns_resolvers
            .iter()
            .map(|text| {
                statushawk_schemas::parse_resolver(text).ok_or_else(|| {
                    ConfigError::invalid(
                        "prober.dns_resolvers",
                        format!("{:?} is not an IP address with an optional :port", text.trim()),
                    )
                })
            })
            .collect()
    }
}

/// The SSRF guard, for every process that builds one (probers, notifiers,
/// the API's checks of typed addresses). Besides its built-in private and
/// reserved ranges it refuses what is listed here, even where
/// `allow_private_targets` is set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// Extra networks nothing may connect to (CIDRs such as `203.0.113.0/24`
    /// or `2001:db8::/32`, or single addresses): the deployment's own public
    /// ranges, say. A list, or a comma-separated string in the environment
    /// (`STATUSHAWK_GUARD_DENY_NETWORKS=203.0.113.0/24,2001:db8::/32`).
    #[serde(deserialize_with = "strings")]
    pub deny_networks: Vec<String>,
    /// Refuse the metadata and platform addresses of the major clouds (AWS,
    /// Google Cloud, Azure, Oracle, Alibaba, DigitalOcean, Hetzner, Tencent,
    /// Scaleway, Akamai, OpenStack; e.g. 169.254.169.254, 168.63.129.16,
    /// fd00:ec2::254): `statushawk_guard::CLOUD_PRESET`.
    pub cloud_preset: bool,
    /// Refuse the addresses of the host's own network interfaces (read at
    /// start-up), so no check reaches a service of the prober's host through
    /// its public address.
    pub deny_own_addresses: bool,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self { deny_networks: Vec::new(), cloud_preset: true, deny_own_addresses: true }
    }
}

impl GuardConfig {
    /// `deny_networks` parsed (a single address is its own network).
    pub fn networks(&self) -> Result<Vec<IpNet>, ConfigError> {
        self.deny_networks
            .iter()
            .map(|text| {
                network(text).ok_or_else(|| {
                    ConfigError::invalid(
                        "guard.deny_networks",
                        format!(
                            "{:?} is not a network: use CIDR notation (10.0.0.0/8, fd00::/8) or an address",
                            text.trim()
                        ),
                    )
                })
            })
            .collect()
    }
}

/// The evaluators.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluatorConfig {
    /// Results fetched at once per partition.
    pub batch_size: usize,
    /// Rows per ClickHouse insert at most.
    pub insert_rows: usize,
    /// Milliseconds a ClickHouse batch may wait to fill up.
    pub insert_wait_ms: u64,
    /// Seconds an unacked result is held before it is redelivered (also how
    /// late a dead evaluator's last batch reaches the next owner).
    pub ack_wait_secs: u64,
}

impl Default for EvaluatorConfig {
    fn default() -> Self {
        Self { batch_size: 1_000, insert_rows: 10_000, insert_wait_ms: 500, ack_wait_secs: 30 }
    }
}

/// The notifiers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifierConfig {
    /// Deliveries sent at once per notifier process at most.
    pub concurrency: usize,
    /// Tries of one delivery before it is recorded as failed.
    pub max_attempts: u32,
    /// First back-off after a failed try, in milliseconds; it doubles each
    /// try (with jitter) up to `max_backoff_secs`. A `Retry-After` from the
    /// provider is honoured instead.
    pub backoff_ms: u64,
    /// Longest back-off (and longest `Retry-After` honoured), in seconds.
    pub max_backoff_secs: u64,
    /// Hard deadline of one send, in seconds: resolving, connecting, the
    /// whole HTTP exchange or SMTP session and reading the answer. A send
    /// that hits it is retried later ("no answer within 15 s").
    pub send_timeout_secs: u64,
    /// Delivery slots (of `concurrency`, per notifier process) one team may
    /// hold at once, so one tenant's slow servers cannot delay the others.
    /// Unset: a quarter of `concurrency`, at least 1.
    pub max_per_team: Option<usize>,
    /// Seconds between checks for reminders due on open incidents.
    pub reminder_tick_secs: u64,
    /// Let webhooks and SMTP reach loopback and private addresses. Only for
    /// tests and local set-ups: it turns the SSRF guard off for
    /// notifications.
    pub allow_private_targets: bool,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            concurrency: 32,
            max_attempts: 10,
            backoff_ms: 2_000,
            max_backoff_secs: 900,
            send_timeout_secs: 15,
            max_per_team: None,
            reminder_tick_secs: 30,
            allow_private_targets: false,
        }
    }
}

/// The HTTP API.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address the API listens on.
    pub listen: SocketAddr,
    /// The address people reach the API at (`https://status.example.com`),
    /// for the links it hands out: invitations, address verification.
    pub public_url: String,
    /// Reverse proxies in front of the API, as CIDRs or addresses: a list,
    /// or comma-separated in the environment
    /// (`STATUSHAWK_API_TRUSTED_PROXIES=10.0.0.0/8,fd00::/8`). Only from
    /// these peers is `X-Forwarded-For` believed, so the rate limits count
    /// the client behind them. Empty (the default): every client is its
    /// TCP peer.
    #[serde(deserialize_with = "networks")]
    pub trusted_proxies: Vec<IpNet>,
    /// Bearer token that opens `/metrics` on the API's own listener (at
    /// least 16 characters; never printed). Empty (the default): the API
    /// listener does not serve metrics; they are on `metrics.listen` only.
    pub metrics_token: SecretString,
    /// The built web app the API serves at `/` (a Vite `dist` directory
    /// with `index.html`). Empty (the default): `web/dist` of the checkout
    /// the binary was built from.
    pub web_dir: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080".into(),
            trusted_proxies: Vec::new(),
            metrics_token: SecretString::default(),
            web_dir: String::new(),
        }
    }
}

impl ApiConfig {
    /// `metrics_token`, if one is set.
    pub fn metrics_token(&self) -> Option<SecretString> {
        let token = self.metrics_token.expose_secret().trim();
        (!token.is_empty()).then(|| token.into())
    }
}

/// How the connection to an SMTP server is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// STARTTLS, required (port 587).
    #[default]
    Starttls,
    /// TLS from the start (port 465).
    Tls,
    /// Plain text: only for a server on the same host or in tests.
    None,
}

/// The deployment's own mail server, for mail StatusHawk sends on its own
/// behalf (invitations, address verification); tenants' e-mail channels
/// bring their own servers. The notifier sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// SMTP server name or address; empty: no system mail (invitations
    /// are links handed on by the inviting admin, addresses are not
    /// verified).
    pub smtp_host: String,
    /// SMTP port.
    pub smtp_port: u16,
    /// Connection security.
    pub security: SmtpSecurity,
    /// SMTP user name (empty: no authentication).
    pub username: String,
    /// SMTP password (never printed).
    pub password: SecretString,
    /// The sender, e.g. `StatusHawk <noreply@status.example.com>`.
    pub from: String,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            smtp_host: String::new(),
            smtp_port: 587,
            security: SmtpSecurity::Starttls,
            username: String::new(),
            password: SecretString::default(),
            from: "StatusHawk <noreply@localhost>".into(),
        }
    }
}

impl EmailConfig {
    /// Whether the deployment sends mail of its own.
    pub fn enabled(&self) -> bool {
        !self.smtp_host.trim().is_empty()
    }
}

/// Secrets at rest.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// 32 random bytes, base64 (e.g. `openssl rand -base64 32`): the
    /// XChaCha20-Poly1305 key of channel secrets and monitor credentials in
    /// Postgres, and the root of the ping tokens' MAC key. Every API,
    /// scheduler, evaluator and notifier process of a deployment needs the
    /// same key. Empty: channels with secrets and monitors with credentials
    /// cannot be stored, and ping tokens carry a public checksum only.
    pub key: SecretString,
}

/// The Prometheus endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of `/metrics` for this process.
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 9464)) }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Logging.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Output format.
    pub format: LogFormat,
    /// `tracing` filter, e.g. `info,statushawk_nats=debug`; `RUST_LOG` wins.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Pretty, filter: "info,async_nats=warn,sqlx=warn".into() }
    }
}

fn regions<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Region>, D::Error> {
    strings(deserializer)?.into_iter().map(|name| Region::new(name).map_err(serde::de::Error::custom)).collect()
}

/// A list of strings: a list, or one comma-separated string (from the
/// environment).
fn strings<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Strings {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Strings::deserialize(deserializer)? {
        Strings::List(items) => items,
        Strings::Text(text) => text.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
    })
}

/// A list of CIDRs (`10.0.0.0/8`) or single addresses (`192.0.2.7`, taken
/// as `/32` or `/128`), as a list or one comma-separated string.
fn networks<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpNet>, D::Error> {
    strings(deserializer)?
        .iter()
        .map(|entry| {
            network(entry).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "api.trusted_proxies: {entry:?} is not a CIDR (10.0.0.0/8) or an IP address"
                ))
            })
        })
        .collect()
}

/// A CIDR (`10.0.0.0/8`, host bits dropped) or a single address (its own
/// `/32` or `/128`).
fn network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>().or_else(|_| text.parse::<IpAddr>().map(IpNet::from)).ok().map(|net| net.trunc())
}

/// A configuration that could not be loaded, naming the offending setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or a variable did not parse, or named an unknown setting.
    #[error("configuration: {0}")]
    Load(Box<figment::Error>),
    /// A value parsed but is not acceptable; the field is the setting,
    /// e.g. `cluster.regions`.
    #[error("configuration: {0}")]
    Invalid(FieldError),
}

impl ConfigError {
    /// `field` (a setting) is not acceptable.
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Self::Invalid(FieldError::new(field, reason))
    }
}

impl Config {
    /// Loads defaults, then `file` (if given; it must exist), then the
    /// `STATUSHAWK_*` environment, and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let env = Env::prefixed("STATUSHAWK_")
            .filter(|key| !key.as_str().to_ascii_lowercase().starts_with("test_"))
            .map(|key| key.as_str().replacen('_', ".", 1).into());
        let config: Config = figment.merge(env).extract().map_err(|e| ConfigError::Load(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| Err(ConfigError::invalid(field, reason));
        if self.cluster.regions.is_empty() {
            return invalid("cluster.regions", "at least one region is needed");
        }
        if !(1..=1024).contains(&self.cluster.partitions) {
            return invalid("cluster.partitions", "must be between 1 and 1024");
        }
        if self.nats.lease_ttl_secs < 2 {
            return invalid("nats.lease_ttl_secs", "must be at least 2 seconds");
        }
        if self.nats.due_duplicate_window_secs <= self.nats.lease_ttl_secs {
            return invalid("nats.due_duplicate_window_secs", "must be longer than nats.lease_ttl_secs");
        }
        if !(1..=100_000).contains(&self.prober.concurrency) {
            return invalid("prober.concurrency", "must be between 1 and 100000");
        }
        if !(1..=1 << 20).contains(&self.prober.max_body_bytes) {
            return invalid("prober.max_body_bytes", "must be between 1 and 1048576");
        }
        if self.prober.dns_resolver_addrs()?.is_empty() {
            return invalid("prober.dns_resolvers", "at least one resolver is needed");
        }
        self.guard.networks()?;
        if !(1..=20_000).contains(&self.evaluator.batch_size) {
            return invalid("evaluator.batch_size", "must be between 1 and 20000");
        }
        if !(1..=1_000_000).contains(&self.evaluator.insert_rows) {
            return invalid("evaluator.insert_rows", "must be between 1 and 1000000");
        }
        if !(5..=600).contains(&self.evaluator.ack_wait_secs) {
            return invalid("evaluator.ack_wait_secs", "must be between 5 and 600");
        }
        if !(1..=1_000).contains(&self.notifier.concurrency) {
            return invalid("notifier.concurrency", "must be between 1 and 1000");
        }
        if !(1..=100).contains(&self.notifier.max_attempts) {
            return invalid("notifier.max_attempts", "must be between 1 and 100");
        }
        if !(1..=600).contains(&self.notifier.send_timeout_secs) {
            return invalid("notifier.send_timeout_secs", "must be between 1 and 600");
        }
        if self.notifier.max_per_team.is_some_and(|n| !(1..=self.notifier.concurrency).contains(&n)) {
            return invalid("notifier.max_per_team", "must be between 1 and notifier.concurrency");
        }
        if self.notifier.reminder_tick_secs == 0 || self.notifier.max_backoff_secs == 0 {
            return invalid(
                "notifier.reminder_tick_secs",
                "reminder_tick_secs and max_backoff_secs must be at least 1",
            );
        }
        if let Err(err) = crate::secrets::SecretBox::from_base64(&self.secrets.key)
            && !matches!(err, crate::secrets::SecretsError::NoKey)
        {
            return invalid("secrets.key", &err.to_string());
        }
        if !self.api.public_url.starts_with("http://") && !self.api.public_url.starts_with("https://") {
            return invalid("api.public_url", "must be an http:// or https:// URL");
        }
        let metrics_token = self.api.metrics_token.expose_secret();
        if !metrics_token.is_empty() && metrics_token.trim().chars().count() < 16 {
            return invalid("api.metrics_token", "must be at least 16 characters (e.g. openssl rand -hex 16)");
        }
        if self.email.enabled() && !self.email.from.contains('@') {
            return invalid("email.from", "must hold an e-mail address, e.g. StatusHawk <noreply@example.com>");
        }
        if self.scheduler.reconcile_secs == 0 {
            return invalid("scheduler.reconcile_secs", "must be at least 1");
        }
        if !(1..=5).contains(&self.nats.replicas) {
            return invalid("nats.replicas", "must be between 1 and 5");
        }
        if !is_identifier(&self.clickhouse.database) {
            return invalid("clickhouse.database", "use letters, digits and '_', not starting with a digit");
        }
        if !self.clickhouse.url.starts_with("http://") && !self.clickhouse.url.starts_with("https://") {
            return invalid("clickhouse.url", "must be an http:// or https:// URL of ClickHouse's HTTP interface");
        }
        self.topology()?;
        Ok(())
    }

    /// The JetStream layout this configuration describes.
    pub fn topology(&self) -> Result<Topology, ConfigError> {
        let mut topology =
            Topology::new(&self.nats.prefix).map_err(|e| ConfigError::invalid("nats.prefix", e.to_string()))?;
        topology.partitions = self.cluster.partitions;
        topology.regions = self.cluster.regions.clone();
        topology.replicas = self.nats.replicas;
        topology.lease_ttl = Duration::from_secs(self.nats.lease_ttl_secs);
        topology.due_duplicate_window = Duration::from_secs(self.nats.due_duplicate_window_secs);
        topology.result_ack_wait = Duration::from_secs(self.evaluator.ack_wait_secs);
        Ok(topology)
    }
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
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use secrecy::ExposeSecret;

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

    #[test]
    fn defaults_work_on_one_machine() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            let config = Config::load(None).unwrap();
            assert_eq!(config.nats.url, "nats://127.0.0.1:4222");
            assert_eq!(config.database.url.expose_secret(), "postgres://postgres@127.0.0.1:5432/statushawk");
            assert_eq!(config.clickhouse.url, "http://127.0.0.1:8123");
            assert_eq!(config.clickhouse.database, "statushawk");
            assert_eq!(config.cluster.regions, [Region::new("local").unwrap()]);
            assert_eq!(config.cluster.partitions, 16);
            Ok(())
        });
    }

    #[test]
    fn the_documented_variables_override_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "statushawk.toml",
                r#"
                [nats]
                url = "nats://file:4222"
                prefix = "staging"
                [cluster]
                regions = ["eu-west", "us-east"]
                [clickhouse]
                database = "from_file"
                "#,
            )?;
            jail.set_env("STATUSHAWK_NATS_URL", "nats://env:4222");
            jail.set_env("STATUSHAWK_DATABASE_URL", "postgres://u:secret@db:5432/sh");
            jail.set_env("STATUSHAWK_CLICKHOUSE_URL", "http://ch:8123");
            jail.set_env("STATUSHAWK_CLICKHOUSE_DATABASE", "analytics");
            jail.set_env("STATUSHAWK_CLUSTER_PARTITIONS", "32");
            jail.set_env("STATUSHAWK_LOG_FORMAT", "json");
            jail.set_env("STATUSHAWK_TEST_NATS_URL", "ignored: the harness's");
            let config = Config::load(Some(Path::new("statushawk.toml"))).unwrap();
            assert_eq!(config.nats.url, "nats://env:4222");
            assert_eq!(config.nats.prefix, "staging");
            assert_eq!(config.database.url.expose_secret(), "postgres://u:secret@db:5432/sh");
            assert_eq!(config.clickhouse.url, "http://ch:8123");
            assert_eq!(config.clickhouse.database, "analytics");
            assert_eq!(config.cluster.partitions, 32);
            assert_eq!(config.cluster.regions.len(), 2);
            assert_eq!(config.log.format, LogFormat::Json);
            let topology = config.topology().unwrap();
            assert_eq!(topology.stream("EVENTS"), "staging_EVENTS");
            Ok(())
        });
    }

    #[test]
    fn regions_come_comma_separated_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("STATUSHAWK_CLUSTER_REGIONS", "eu-west, us-east,ap-south");
            let config = Config::load(None).unwrap();
            let names: Vec<&str> = config.cluster.regions.iter().map(Region::as_str).collect();
            assert_eq!(names, ["eu-west", "us-east", "ap-south"]);
            Ok(())
        });
    }

    #[test]
    fn trusted_proxies_come_comma_separated_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            assert!(Config::load(None).unwrap().api.trusted_proxies.is_empty(), "none by default");
            jail.set_env("STATUSHAWK_API_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,fd00::/8");
            let config = Config::load(None).unwrap();
            let nets: Vec<String> = config.api.trusted_proxies.iter().map(ToString::to_string).collect();
            assert_eq!(nets, ["10.0.0.0/8", "192.0.2.7/32", "fd00::/8"]);
            Ok(())
        });
    }

    #[test]
    fn bad_settings_are_named() {
        let cases: [(&str, &str, &str); 8] = [
            ("STATUSHAWK_NATS_URLL", "nats://x", "urll"),
            ("STATUSHAWK_CLUSTER_REGIONS", "EU.WEST", "invalid region"),
            ("STATUSHAWK_CLUSTER_PARTITIONS", "0", "cluster.partitions"),
            ("STATUSHAWK_CLICKHOUSE_DATABASE", "drop table;", "clickhouse.database"),
            ("STATUSHAWK_NATS_PREFIX", "a.b", "nats.prefix"),
            ("STATUSHAWK_API_TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal", "api.trusted_proxies"),
            ("STATUSHAWK_API_TRUSTED_PROXIES", "10.0.0.0/33", "api.trusted_proxies"),
            ("STATUSHAWK_API_METRICS_TOKEN", "short", "api.metrics_token"),
        ];
        for (var, value, expected) in cases {
            figment::Jail::expect_with(|jail| {
                jail.clear_env();
                jail.set_env(var, value);
                let err = Config::load(None).unwrap_err().to_string();
                assert!(err.contains(expected), "{var}={value}: {err}");
                Ok(())
            });
        }
    }

    #[test]
    fn guard_and_dns_resolver_settings_come_from_the_environment_and_bad_ones_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            let config = Config::load(None).unwrap();
            assert!(config.guard.cloud_preset && config.guard.deny_own_addresses);
            assert!(config.guard.networks().unwrap().is_empty());
            assert_eq!(config.prober.dns_resolver_addrs().unwrap()[0], "1.1.1.1:53".parse().unwrap());

            jail.set_env("STATUSHAWK_GUARD_DENY_NETWORKS", "203.0.113.0/24, 2001:db8::/32,198.51.100.7");
            jail.set_env("STATUSHAWK_GUARD_CLOUD_PRESET", "false");
            jail.set_env("STATUSHAWK_PROBER_DNS_RESOLVERS", "9.9.9.9,[2620:fe::fe]:53,127.0.0.1:5353");
            let config = Config::load(None).unwrap();
            let networks: Vec<String> = config.guard.networks().unwrap().iter().map(ToString::to_string).collect();
            assert_eq!(networks, ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"]);
            assert!(!config.guard.cloud_preset);
            let resolvers: Vec<String> =
                config.prober.dns_resolver_addrs().unwrap().iter().map(ToString::to_string).collect();
            assert_eq!(resolvers, ["9.9.9.9:53", "[2620:fe::fe]:53", "127.0.0.1:5353"]);
            Ok(())
        });
        for (var, value, field) in [
            ("STATUSHAWK_GUARD_DENY_NETWORKS", "10.0.0.0/8,10.0.0.0/33", "guard.deny_networks"),
            ("STATUSHAWK_GUARD_DENY_NETWORKS", "intranet", "guard.deny_networks"),
            ("STATUSHAWK_PROBER_DNS_RESOLVERS", "dns.google", "prober.dns_resolvers"),
            ("STATUSHAWK_PROBER_DNS_RESOLVERS", ",", "prober.dns_resolvers"),
        ] {
            figment::Jail::expect_with(|jail| {
                jail.clear_env();
                jail.set_env(var, value);
                let err = Config::load(None).unwrap_err().to_string();
                assert!(err.contains(field), "{var}={value}: {err}");
                Ok(())
            });
        }
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            let err = Config::load(Some(Path::new("nope.toml"))).unwrap_err().to_string();
            assert!(err.contains("nope.toml"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn secrets_never_print() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("STATUSHAWK_DATABASE_URL", "postgres://u:hunter2@db/sh");
            jail.set_env("STATUSHAWK_CLICKHOUSE_PASSWORD", "hunter3");
            let printed = format!("{:?}", Config::load(None).unwrap());
            assert!(!printed.contains("hunter2") && !printed.contains("hunter3"), "{printed}");
            Ok(())
        });
    }

    /// `STATUSHAWK_*` settings a deployment file passes: `NAME: value` (compose)
    /// or `NAME=value` (Dockerfile `ENV`), with `${VAR:-default}` taken as the
    /// default.
    fn deployment_variables(file: &str) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(file)).unwrap();
        text.lines()
            .map(|line| line.trim().trim_start_matches("ENV ").trim_end_matches('\\').trim())
            .filter(|line| line.starts_with("STATUSHAWK_") && !line.starts_with("STATUSHAWK_PUBLISH_ADDR"))
            .filter_map(|line| line.split_once(": ").or_else(|| line.split_once('=')))
            .map(|(name, value)| {
                let value = match value.split_once(":-") {
                    Some((_, default)) => default.trim_end_matches('}'),
                    None => value,
                };
                (name.to_owned(), value.trim_matches('"').to_owned())
            })
            .collect()
    }

    #[test]
    fn the_deployment_files_pass_only_settings_that_exist() {
        for file in ["docker-compose.yml", "Dockerfile"] {
            let variables = deployment_variables(file);
            assert!(variables.len() >= 2, "{file}: {variables:?}");
            figment::Jail::expect_with(|jail| {
                jail.clear_env();
                for (name, value) in &variables {
                    jail.set_env(name, value);
                }
                Config::load(None).unwrap_or_else(|e| panic!("{file}: {e}"));
                Ok(())
            });
        }
    }
}
