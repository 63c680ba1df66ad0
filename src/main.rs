//! `statushawk`: one binary, one subcommand per service.
//!
//! This file only parses the command line and calls into the crates.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Version = cli.command {
        println!("statushawk {} (message schema {})", env!("CARGO_PKG_VERSION"), statushawk_schemas::SCHEMA_VERSION);
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    telemetry::init_tracing(&config.log)?;
    match cli.command {
        Command::Migrate => {
            println!("{}", migrate::postgres(&config.database).await?);
            println!("{}", migrate::clickhouse(&config.clickhouse).await?);
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
        Command::Scheduler => {
            let shutdown = telemetry::shutdown_on_signal();
            let metrics = MetricsServer::bind(config.metrics.listen, telemetry::install_metrics()?).await?;
            let serving = tokio::spawn(metrics.serve(shutdown.clone()));
            let instance = telemetry::instance_name("scheduler");
            let client = statushawk_nats::connect(&config.nats.url, &instance)
                .await
                .with_context(|| format!("connecting to NATS at {}", config.nats.url))?;
            let deps = statushawk_scheduler::Deps {
                js: jetstream::new(client),
                topology: config.topology()?,
                pg: db::pg_pool(&config.database).await?,
            };
            let settings = statushawk_scheduler::Settings {
                instance,
                reconcile_every: Duration::from_secs(config.scheduler.reconcile_secs),
                max_backlog: config.scheduler.max_backlog,
            };
            let result = statushawk_scheduler::run(settings, deps, shutdown.clone()).await;
            shutdown.cancel();
            serving.await??;
            result?;
        }
        Command::Prober { region, concurrency } => {
            if !config.cluster.regions.contains(&region) {
                anyhow::bail!("region {region} is not in cluster.regions ({:?})", config.cluster.regions);
            }
            let shutdown = telemetry::shutdown_on_signal();
            let metrics = MetricsServer::bind(config.metrics.listen, telemetry::install_metrics()?).await?;
            let serving = tokio::spawn(metrics.serve(shutdown.clone()));
            let instance = telemetry::instance_name(&format!("prober-{region}"));
            let client = statushawk_nats::connect(&config.nats.url, &instance)
                .await
                .with_context(|| format!("connecting to NATS at {}", config.nats.url))?;
            let deps = statushawk_prober::worker::Deps {
                js: jetstream::new(client),
                topology: config.topology()?,
                checks: statushawk_prober::context(config.prober.allow_private_targets, config.prober.max_body_bytes)?,
            };
            let settings = statushawk_prober::worker::Settings {
                region,
                prober_id: instance,
                concurrency: concurrency.unwrap_or(config.prober.concurrency),
            };
            let result = statushawk_prober::worker::run(settings, deps, shutdown.clone()).await;
            shutdown.cancel();
            serving.await??;
            result?;
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
            let settings = statushawk_scheduler::bench::BenchSettings { monitors, interval, duration, regions };
            let report = statushawk_scheduler::bench::run(client, settings).await?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Version => {}
    }
    Ok(())
}
