//! The `statushawk` binary as an operator runs it, against real services.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

use std::process::{Command, Output};

use statushawk_testkit::TestEnv;

fn statushawk(env: &TestEnv, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_statushawk"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("STATUSHAWK_NATS_URL", &env.services.nats_url)
        .env("STATUSHAWK_NATS_PREFIX", &env.nats_prefix)
        .env("STATUSHAWK_DATABASE_URL", &env.database_url)
        .env("STATUSHAWK_CLICKHOUSE_URL", &env.services.clickhouse_url)
        .env("STATUSHAWK_CLICKHOUSE_DATABASE", &env.clickhouse_database);
    for (name, value) in extra {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test]
async fn migrate_twice_applies_then_says_nothing_to_do() {
    let env = TestEnv::new().await;
    let first = stdout(&statushawk(&env, &["migrate"], &[]));
    assert_eq!(first, "postgres: applied 0001 init\nclickhouse: applied 0001_check_results, 0002_rollups\n");
    let second = stdout(&statushawk(&env, &["migrate"], &[]));
    assert_eq!(
        second,
        "postgres: up to date (1 migration), nothing to do\nclickhouse: up to date (2 migrations), nothing to do\n"
    );
}

#[tokio::test]
async fn topology_is_idempotent_and_verify_reports_drift() {
    let env = TestEnv::new().await;
    let regions = [("STATUSHAWK_CLUSTER_REGIONS", "eu-west,us-east"), ("STATUSHAWK_CLUSTER_PARTITIONS", "2")];
    let first = stdout(&statushawk(&env, &["topology"], &regions));
    // 5 streams + bucket + 2 consumers per region (2) + 2 per partition (2) + notifier
    assert!(first.ends_with("topology: 15 of 15 items created or updated\n"), "{first}");
    let second = stdout(&statushawk(&env, &["topology"], &regions));
    assert_eq!(second, "topology: up to date (15 items), nothing to do\n");
    assert_eq!(stdout(&statushawk(&env, &["topology", "--verify"], &regions)), second);

    let more = [("STATUSHAWK_CLUSTER_REGIONS", "eu-west,us-east,ap-south"), ("STATUSHAWK_CLUSTER_PARTITIONS", "2")];
    let drift = statushawk(&env, &["topology", "--verify"], &more);
    assert_eq!(drift.status.code(), Some(1));
    let prefix = &env.nats_prefix;
    assert_eq!(
        String::from_utf8_lossy(&drift.stdout),
        format!(
            "consumer {prefix}_CHECKS_DUE/prober-ap-south: missing\nconsumer {prefix}_CHECKS_DUE/prober-urgent-ap-south: missing\n"
        )
    );
    assert!(String::from_utf8_lossy(&drift.stderr).contains("2 of 17 items differ"));
}

#[tokio::test]
async fn bad_configuration_is_refused_with_the_setting_named() {
    let env = TestEnv::new().await;
    let output = statushawk(&env, &["topology"], &[("STATUSHAWK_CLUSTER_REGIONS", "eu.west")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid region \"eu.west\"") && stderr.contains("CLUSTER.REGIONS"), "{stderr}");
}

#[test]
fn version_names_the_schema() {
    let output = Command::new(env!("CARGO_BIN_EXE_statushawk")).arg("version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("statushawk {} (message schema 1)\n", env!("CARGO_PKG_VERSION"))
    );
}
