//! What every StatusHawk process shares that is neither a message nor a NATS
//! concern: configuration, telemetry, database connections and migrations.

pub mod config;
pub mod db;
pub mod migrate;
pub mod secrets;
pub mod telemetry;

pub use config::Config;
