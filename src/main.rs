//! `statushawk`: one binary, one subcommand per service.
//!
//! This file only parses the command line and calls into the crates.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use statushawk_common::{Config, migrate, telemetry};
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
    /// Print the version and the message schema version.
    Version,
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
        Command::Version => {}
    }
    Ok(())
}
