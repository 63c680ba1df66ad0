//! `statushawk`: one binary, one subcommand per service.
//!
//! This file only parses the command line and calls into the crates.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use statushawk_common::secrets::{SecretBox, SecretsError};
use statushawk_common::telemetry::MetricsServer;
use statushawk_common::{Config, db, migrate, telemetry};
use statushawk_nats::Action;
use statushawk_nats::async_nats::jetstream;

/// Hosted-scale uptime monitoring over NATS JetStream.
#[derive(Parser)]
#[command(name = "statushawk", version, about)]
struct Cli {
    /// TOML configuration file; `STATUSHAWK_*` environment variables override it.
    #[arg(long, global = true, env = "STATUSHAWK_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the Postgres and ClickHouse migrations (creating the databases
    /// if missing); a second run changes nothing.
    Migrate,
    /// Create or update the NATS streams, consumers and KV buckets.
    Topology {
        /// Only report what would change, and fail if anything would.
        #[arg(long)]
        verify: bool,
    },
    /// Run the scheduler: one instance of any number leads and publishes due
    /// checks; the others stand by.
    Scheduler,
    /// Run a prober for one region: pulls its due checks, publishes results.
    Prober {
        /// The region whose checks to run.
        #[arg(long)]
        region: statushawk_schemas::Region,
        /// Checks in flight at most (default: prober.concurrency).
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// Run an evaluator: owns a share of the result partitions, confirms
    /// failures, writes results to ClickHouse and incidents to Postgres.
    Evaluator,
    /// Run a notifier: delivers incident events to the monitors' channels
    /// (e-mail, webhooks, chat, pagers), with retries and a delivery log.
    Notifier,
    /// Run the HTTP API (`api.listen`): teams, tokens, monitors, channels.
    Api,
    /// Run every service in one process (one node): applies the migrations
    /// and the NATS topology, then runs the scheduler, a prober per
    /// configured region, an evaluator, a notifier and the API.
    All {
        /// Also create a demo team with two monitors on this machine (one up,
        /// one down) and a webhook channel to a receiver in this process that
        /// prints what it gets, so the pipeline has something to show. Needs
        /// `prober.allow_private_targets` and `notifier.allow_private_targets`.
        #[arg(long)]
        demo: bool,
    },
    /// Measure a service at scale against the configured NATS; prints JSON.
    Bench {
        #[command(subcommand)]
        what: Bench,
    },
    /// Print the version and the message schema version.
    Version,
}

#[derive(Subcommand)]
enum Bench {
    /// HTTP checks through the prober (JetStream in, fresh connection, result
    /// out) against a local target: sustained checks/s.
    Prober {
        /// Due checks to run.
        #[arg(long, default_value_t = 50_000)]
        checks: usize,
        /// Checks in flight at most.
        #[arg(long, default_value_t = 512)]
        concurrency: usize,
        /// Probe this URL instead of starting a local target (it must be on
        /// 127.0.0.1).
        #[arg(long)]
        target: Option<String>,
    },
    /// Serve the benchmark's HTTP target (`ok`) until interrupted, e.g. for
    /// blackbox_exporter to probe the same thing.
    Target {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:18080")]
        listen: std::net::SocketAddr,
    },
    /// Heartbeat pings through the API (HTTP, token, JetStream ack): pings/s.
    /// Uses the configured Postgres (a throw-away team) and NATS (its own
    /// prefix).
    Heartbeat {
        /// Pings to send.
        #[arg(long, default_value_t = 200_000)]
        pings: usize,
        /// Heartbeat monitors they go to (each pings at most 5/s).
        #[arg(long, default_value_t = 10_000)]
        tokens: usize,
        /// Connections sending at once.
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
    },
    /// The web dashboard's overview in Chromium with one team of many
    /// monitors: time to first render, bytes downloaded, server time per
    /// request. Uses private Postgres and ClickHouse databases on the
    /// configured servers (dropped afterwards), node and /usr/bin/chromium.
    Dashboard {
        /// HTTP monitors in the team.
        #[arg(long, default_value_t = 10_000)]
        monitors: usize,
        /// Their check interval: one result each per interval (e.g. `60s`).
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        interval: Duration,
        /// Hours of results per monitor.
        #[arg(long, default_value_t = 24)]
        hours: u32,
        /// Page loads, each with a cold browser cache.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// The built web app (`cd web && npm ci && npm run build`).
        #[arg(long, default_value = "web/dist")]
        web_dir: PathBuf,
    },
    /// The whole pipeline: N HTTP monitors on local targets, every service
    /// running (as `statushawk all`, or one process each), the configured
    /// NATS, Postgres and ClickHouse (private databases and prefix, dropped
    /// afterwards). Reports checks/s, exact (monitor, slot) accounting, lag
    /// slot → row, detection of targets that go down and up, and CPU per
    /// check and memory of every process.
    Pipeline {
        /// HTTP monitors.
        #[arg(long, default_value_t = 20_000)]
        monitors: usize,
        /// Their check interval.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        interval: Duration,
        /// The measured window (after one interval of warm-up).
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// Monitors whose targets are down for the window's middle third.
        #[arg(long, default_value_t = 100)]
        failing: usize,
        /// One OS process per service (scheduler, prober, evaluator,
        /// notifier, api) instead of one `statushawk all`.
        #[arg(long)]
        processes: bool,
        /// Directory for the services' logs (default: a new one under /tmp).
        #[arg(long)]
        logs: Option<PathBuf>,
    },
    /// The scheduler's loop and publisher: publish lag and memory.
    Scheduler {
        /// Monitors in the index.
        #[arg(long, default_value_t = 1_000_000)]
        monitors: usize,
        /// Their check interval (e.g. `60s`).
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        interval: Duration,
        /// How long to publish; default one interval (each monitor fires once).
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
        /// Regions per monitor.
        #[arg(long, default_value_t = 1)]
        regions: usize,
    },
}

/// A long-running service of this binary.
enum Service {
    Scheduler,
    Prober { region: statushawk_schemas::Region, concurrency: Option<usize> },
    Evaluator,
    Notifier,
    Api,
}

/// The channel secrets box, or `None` (with a warning) when no key is set.
/// Seals monitor credentials that versions before migration 0008 stored in
/// plain text, when a secrets key is configured.
async fn seal_legacy_credentials(config: &Config) -> anyhow::Result<()> {
    let Ok(secrets) = SecretBox::from_base64(&config.secrets.key) else { return Ok(()) };
    let pool = db::pg_pool(&config.database).await?;
    let sealed = migrate::seal_monitor_secrets(&pool, &secrets).await?;
    if sealed > 0 {
        println!("postgres: sealed the credentials of {sealed} monitors");
    }
    Ok(())
}

/// `api.web_dir`, or the checkout's `web/dist`.
fn web_dir(config: &Config) -> std::path::PathBuf {
    match config.api.web_dir.trim() {
        "" => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/dist"),
        dir => dir.into(),
    }
}

fn secrets_box(config: &Config) -> anyhow::Result<Option<SecretBox>> {
    match SecretBox::from_base64(&config.secrets.key) {
        Ok(secrets) => Ok(Some(secrets)),
        Err(SecretsError::NoKey) => {
            tracing::warn!(
                "secrets.key is not set: channels with secrets (all but plain SMTP) and monitors with credentials \
                 (header values, request bodies, TCP payloads) cannot be used."
            );
            Ok(None)
        }
        Err(err) => Err(err.into()),
    }
}

async fn connect(config: &Config, name: &str) -> anyhow::Result<statushawk_nats::async_nats::Client> {
    statushawk_nats::connect(&config.nats.url, name)
        .await
        .with_context(|| format!("connecting to NATS at {}", config.nats.url))
}

/// Gives every StatusHawk metric its HELP text: all of them, whichever
/// services run here (a metric never recorded is not shown).
fn describe_metrics() {
    statushawk_nats::metrics::describe();
    statushawk_scheduler::metrics::describe();
    statushawk_prober::metrics::describe();
    statushawk_evaluator::metrics::describe();
    statushawk_notifier::metrics::describe();
    statushawk_api::metrics::describe();
}

/// Runs `services` in this process, with one `/metrics` endpoint, until a
/// signal or until one of them fails (which stops the others). Several
/// services (`all`) each get a runtime of their own, with its own worker
/// threads, as if each were its own process: the operating system shares
/// the cores between them, so one service's CPU-bound stretch (an
/// evaluator's batch) cannot hold up another's I/O (a prober's checks,
/// the scheduler's slots). With one runtime for all, `all` skipped a third
/// of the checks at 6,000/s where separate processes skipped none
/// (BENCHMARKS.md).
async fn serve(config: Config, services: Vec<Service>) -> anyhow::Result<()> {
    let config = std::sync::Arc::new(config);
    let shutdown = telemetry::shutdown_on_signal();
    let handle = telemetry::install_metrics()?;
    describe_metrics();
    let metrics = MetricsServer::bind(config.metrics.listen, handle.clone()).await?;
    let serving = tokio::spawn(metrics.serve(shutdown.clone()));
    let own_runtimes = services.len() > 1;
    let mut runtimes = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for service in services {
        let name = service.name();
        let (config, handle, shutdown) = (config.clone(), handle.clone(), shutdown.clone());
        let run = async move { (name, run_service(&config, service, handle, shutdown).await) };
        if own_runtimes {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .thread_name(format!("statushawk-{name}"))
                .enable_all()
                .build()?;
            let task = runtime.spawn(run);
            runtimes.push(runtime);
            tasks.spawn(async move {
                task.await.unwrap_or_else(|err| (name, Err(anyhow::anyhow!("the {name} panicked: {err}"))))
            });
        } else {
            tasks.spawn(run);
        }
    }
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((_, Ok(()))) => {}
            Ok((name, Err(err))) => {
                tracing::error!(service = name, error = format!("{err:#}"), "Service failed; stopping the others.");
                failure.get_or_insert(err.context(format!("{name} failed")));
            }
            Err(err) => {
                failure.get_or_insert(anyhow::anyhow!("a service panicked: {err}"));
            }
        }
        shutdown.cancel();
    }
    serving.await??;
    // Their tasks are done; their threads need no joining.
    runtimes.into_iter().for_each(tokio::runtime::Runtime::shutdown_background);
    failure.map_or(Ok(()), Err)
}

impl Service {
    fn name(&self) -> &'static str {
        match self {
            Self::Scheduler => "scheduler",
            Self::Prober { .. } => "prober",
            Self::Evaluator => "evaluator",
            Self::Notifier => "notifier",
            Self::Api => "api",
        }
    }
}

/// Builds one service's dependencies and runs it until `shutdown`.
async fn run_service(
    config: &Config,
    service: Service,
    handle: statushawk_common::telemetry::PrometheusHandle,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let topology = config.topology()?;
    match service {
        Service::Scheduler => {
            let instance = telemetry::instance_name("scheduler");
            let deps = statushawk_scheduler::Deps {
                js: jetstream::new(connect(config, &instance).await?),
                topology: topology.clone(),
                pg: db::pg_pool(&config.database).await?,
                secrets: secrets_box(config)?,
            };
            let settings = statushawk_scheduler::Settings {
                instance,
                reconcile_every: Duration::from_secs(config.scheduler.reconcile_secs),
                max_backlog: config.scheduler.max_backlog,
            };
            statushawk_scheduler::run(settings, deps, shutdown).await
        }
        Service::Prober { region, concurrency } => {
            let instance = telemetry::instance_name(&format!("prober-{region}"));
            let deps = statushawk_prober::worker::Deps {
                js: jetstream::new(connect(config, &instance).await?),
                topology: topology.clone(),
                checks: statushawk_prober::context_with(
                    build_guard(config, config.prober.allow_private_targets)?,
                    config.prober.max_body_bytes,
                    config.prober.dns_resolver_addrs()?,
                )?,
            };
            let settings = statushawk_prober::worker::Settings {
                region,
                prober_id: instance,
                concurrency: concurrency.unwrap_or(config.prober.concurrency),
            };
            statushawk_prober::worker::run(settings, deps, shutdown).await
        }
        Service::Evaluator => {
            let instance = telemetry::instance_name("evaluator");
            let deps = statushawk_evaluator::Deps {
                js: jetstream::new(connect(config, &instance).await?),
                topology: topology.clone(),
                pg: db::pg_pool(&config.database).await?,
                clickhouse: db::clickhouse(&config.clickhouse),
                secrets: secrets_box(config)?,
            };
            let settings = statushawk_evaluator::Settings {
                instance,
                batch_max: config.evaluator.batch_size,
                sink: statushawk_evaluator::SinkSettings {
                    max_rows: config.evaluator.insert_rows,
                    max_wait: Duration::from_millis(config.evaluator.insert_wait_ms),
                    ..Default::default()
                },
                reconcile: Duration::from_secs(config.scheduler.reconcile_secs),
                ..Default::default()
            };
            statushawk_evaluator::run(settings, deps, shutdown).await
        }
        Service::Notifier => {
            let instance = telemetry::instance_name("notifier");
            let secrets = secrets_box(config)?;
            let n = &config.notifier;
            let guard = build_guard(config, n.allow_private_targets)?;
            let deps = statushawk_notifier::Deps {
                js: jetstream::new(connect(config, &instance).await?),
                topology: topology.clone(),
                pg: db::pg_pool(&config.database).await?,
                secrets,
                sender: statushawk_notifier::send::Sender::new(guard, Duration::from_secs(n.send_timeout_secs))?,
                system_mail: statushawk_notifier::system_mail::SystemMailer::from_config(&config.email)?,
                public_url: config.api.public_url.clone(),
            };
            let settings = statushawk_notifier::Settings {
                concurrency: n.concurrency,
                max_per_team: n.max_per_team.unwrap_or(statushawk_notifier::Settings::fair_share(n.concurrency)),
                max_attempts: n.max_attempts,
                backoff: Duration::from_millis(n.backoff_ms),
                max_backoff: Duration::from_secs(n.max_backoff_secs),
                reminder_tick: Duration::from_secs(n.reminder_tick_secs),
                reconcile: Duration::from_secs(config.scheduler.reconcile_secs),
                ..Default::default()
            };
            statushawk_notifier::run(settings, deps, shutdown).await
        }
        Service::Api => {
            let instance = telemetry::instance_name("api");
            let nats = connect(config, &instance).await?;
            let js = jetstream::new(nats.clone());
            let guard = build_guard(config, config.prober.allow_private_targets)?;
            let deps = statushawk_api::Deps {
                pg: db::pg_pool(&config.database).await?,
                clickhouse: db::clickhouse(&config.clickhouse),
                publisher: statushawk_nats::Publisher::new(js, topology.clone()),
                nats,
                live: Default::default(),
                topology: topology.clone(),
                regions: config.cluster.regions.clone(),
                secrets: secrets_box(config)?,
                notifier_send_timeout: Duration::from_secs(config.notifier.send_timeout_secs),
                guard,
                metrics: Some(handle.clone()),
                public_url: config.api.public_url.clone(),
                system_mail: config.email.enabled(),
                metrics_token: config.api.metrics_token(),
                trusted_proxies: config.api.trusted_proxies.clone(),
                web_dir: web_dir(config),
            };
            let listen = config.api.listen;
            statushawk_api::run(listen, deps, shutdown).await
        }
    }
}

/// The API's dependencies for a benchmark: the configured servers, no
/// secrets key, metrics or system mail, and `web_dir` as the app served.
async fn bench_deps(config: &Config, web_dir: PathBuf) -> anyhow::Result<statushawk_api::Deps> {
    let nats = connect(config, "statushawk-bench").await?;
    Ok(statushawk_api::Deps {
        pg: db::pg_pool(&config.database).await?,
        clickhouse: db::clickhouse(&config.clickhouse),
        publisher: statushawk_nats::Publisher::new(jetstream::new(nats.clone()), config.topology()?),
        nats,
        live: Default::default(),
        topology: config.topology()?,
        regions: config.cluster.regions.clone(),
        secrets: None,
        notifier_send_timeout: Duration::from_secs(config.notifier.send_timeout_secs),
        guard: build_guard(config, false)?,
        metrics: None,
        public_url: config.api.public_url.clone(),
        system_mail: false,
        metrics_token: None,
        trusted_proxies: Vec::new(),
        web_dir,
    })
}

/// An SSRF guard with the `[guard]` policy; `allow_private_targets` comes
/// from the section of the service that uses it.
fn build_guard(config: &Config, allow_private_targets: bool) -> anyhow::Result<statushawk_guard::Guard> {
    let policy = statushawk_guard::Policy {
        deny_networks: config.guard.networks()?,
        cloud_preset: config.guard.cloud_preset,
        deny_own_addresses: config.guard.deny_own_addresses,
    };
    Ok(statushawk_guard::Guard::with_policy(allow_private_targets, &policy)?)
}

/// Seeds the demo (`all --demo`): its team, monitors, webhook channel and
/// person, and a local receiver for the webhook; prints how to use it.
async fn seed_demo(config: &Config) -> anyhow::Result<()> {
    if !config.prober.allow_private_targets || !config.notifier.allow_private_targets {
        anyhow::bail!(
            "--demo checks targets on this machine and notifies a webhook on it: set \
             STATUSHAWK_PROBER_ALLOW_PRIVATE_TARGETS=true and STATUSHAWK_NOTIFIER_ALLOW_PRIVATE_TARGETS=true"
        );
    }
    let signing_secret = uuid::Uuid::new_v4().simple().to_string();
    let webhook_url = statushawk_api::demo::receiver(signing_secret.clone()).await?;
    let demo = statushawk_api::demo::Demo {
        regions: config.cluster.regions.clone(),
        health_url: format!("http://{}/healthz", config.metrics.listen),
        webhook_url: webhook_url.clone(),
        signing_secret,
    };
    let secrets = SecretBox::from_base64(&config.secrets.key)?;
    let seeded = statushawk_api::demo::seed(&db::pg_pool(&config.database).await?, &secrets, &demo).await?;
    let regions: Vec<String> = demo.regions.iter().map(ToString::to_string).collect();
    println!(
        "demo: team 'demo' with monitors checked every 10 s from {}: one up, one down; \
         incidents go to a webhook at {webhook_url}",
        regions.join(", ")
    );
    println!(
        "demo: sign in to the dashboard at {}/ as {} with the password {}",
        config.api.public_url.trim_end_matches('/'),
        statushawk_api::demo::EMAIL,
        seeded.password
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Version = cli.command {
        println!("statushawk {} (message schema {})", env!("CARGO_PKG_VERSION"), statushawk_schemas::SCHEMA_VERSION);
        return Ok(());
    }
    let mut config = Config::load(cli.config.as_deref())?;
    telemetry::init_tracing(&config.log)?;
    match cli.command {
        Command::Migrate => {
            println!("{}", migrate::postgres(&config.database).await?);
            println!("{}", migrate::clickhouse(&config.clickhouse).await?);
            seal_legacy_credentials(&config).await?;
        }
        Command::Topology { verify } => {
            let topology = config.topology()?;
            let client = statushawk_nats::connect(&config.nats.url, "statushawk-topology")
                .await
                .with_context(|| format!("connecting to NATS at {}", config.nats.url))?;
            let js = jetstream::new(client);
            let reports = if verify { topology.verify(&js).await? } else { topology.ensure(&js).await? };
            for report in reports.iter().filter(|r| r.action != Action::Unchanged) {
                if verify { println!("{}", report.planned()) } else { println!("{report}") }
            }
            let changes = reports.iter().filter(|r| r.action != Action::Unchanged).count();
            match (verify, changes) {
                (_, 0) => println!("topology: up to date ({} items), nothing to do", reports.len()),
                (false, n) => println!("topology: {n} of {} items created or updated", reports.len()),
                (true, n) => anyhow::bail!("topology: {n} of {} items differ from the declaration", reports.len()),
            }
        }
        Command::Scheduler => serve(config, vec![Service::Scheduler]).await?,
        Command::Prober { region, concurrency } => {
            if !config.cluster.regions.contains(&region) {
                anyhow::bail!("region {region} is not in cluster.regions ({:?})", config.cluster.regions);
            }
            serve(config, vec![Service::Prober { region, concurrency }]).await?;
        }
        Command::Evaluator => serve(config, vec![Service::Evaluator]).await?,
        Command::Notifier => serve(config, vec![Service::Notifier]).await?,
        Command::Api => serve(config, vec![Service::Api]).await?,
        Command::All { demo } => {
            println!("{}", migrate::postgres(&config.database).await?);
            println!("{}", migrate::clickhouse(&config.clickhouse).await?);
            let client = connect(&config, "statushawk-topology").await?;
            config.topology()?.ensure(&jetstream::new(client)).await?;
            if demo {
                if SecretBox::from_base64(&config.secrets.key).is_err() {
                    // A key for this run only: the demo's channel is sealed anew each run.
                    config.secrets.key = SecretBox::generate_key().into();
                }
                seed_demo(&config).await?;
            }
            seal_legacy_credentials(&config).await?;
            let mut services = vec![Service::Scheduler, Service::Evaluator, Service::Notifier, Service::Api];
            services.extend(
                config.cluster.regions.iter().map(|r| Service::Prober { region: r.clone(), concurrency: None }),
            );
            serve(config, services).await?;
        }
        Command::Bench { what: Bench::Prober { checks, concurrency, target } } => {
            let client = statushawk_nats::connect(&config.nats.url, "statushawk-bench")
                .await
                .with_context(|| format!("connecting to NATS at {}", config.nats.url))?;
            let settings = statushawk_prober::bench::BenchSettings { checks, concurrency, target };
            let report = statushawk_prober::bench::run(client, settings).await?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Bench { what: Bench::Target { listen } } => {
            let addr = statushawk_prober::bench::serve_target(listen).await?;
            println!("serving http://{addr}/ until Ctrl-C");
            tokio::signal::ctrl_c().await?;
        }
        Command::Bench { what: Bench::Scheduler { monitors, interval, duration, regions } } => {
            let client = statushawk_nats::connect(&config.nats.url, "statushawk-bench")
                .await
                .with_context(|| format!("connecting to NATS at {}", config.nats.url))?;
            let due_duplicate_window = Duration::from_secs(config.nats.due_duplicate_window_secs);
            let settings = statushawk_scheduler::bench::BenchSettings {
                monitors,
                interval,
                duration,
                regions,
                due_duplicate_window,
            };
            let report = statushawk_scheduler::bench::run(client, settings).await?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Bench { what: Bench::Pipeline { monitors, interval, duration, failing, processes, logs } } => {
            use secrecy::ExposeSecret as _;
            let servers = statushawk_bench::scratch::Servers {
                nats_url: config.nats.url.clone(),
                postgres_url: config.database.url.expose_secret().to_owned(),
                clickhouse_url: config.clickhouse.url.clone(),
                clickhouse_user: config.clickhouse.user.clone(),
                clickhouse_password: config.clickhouse.password.expose_secret().to_owned(),
            };
            let logs =
                logs.unwrap_or_else(|| std::env::temp_dir().join(format!("statushawk-bench-{}", std::process::id())));
            let settings = statushawk_bench::Settings {
                monitors,
                interval,
                duration,
                failing,
                processes,
                exe: std::env::current_exe()?,
                logs,
            };
            let report = statushawk_bench::run(servers, settings).await?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Bench { what: Bench::Heartbeat { pings, tokens, concurrency } } => {
            let deps = bench_deps(&config, web_dir(&config)).await?;
            let settings = statushawk_api::bench::BenchSettings { pings, tokens, concurrency };
            let report = statushawk_api::bench::run(deps, settings).await?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Bench { what: Bench::Dashboard { monitors, interval, hours, runs, web_dir } } => {
            let deps = bench_deps(&config, web_dir.clone()).await?;
            let settings = statushawk_api::bench_dashboard::BenchSettings { monitors, interval, hours, runs, web_dir };
            let report =
                statushawk_api::bench_dashboard::run(deps, &config.database, &config.clickhouse, settings).await?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Version => {}
    }
    Ok(())
}
