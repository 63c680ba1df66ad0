//! The crate boundaries of ARCHITECTURE.md, read from `cargo metadata`:
//! services depend on shared crates, never on each other; test-only crates
//! are never normal dependencies; the API links none of the probing or
//! sending stacks (it asks a notifier to test a channel instead), the wire
//! crate no I/O and the prober no store client; and nothing mocks a service.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

/// The service crates: each a process role of its own.
const SERVICES: &[&str] =
    &["statushawk-scheduler", "statushawk-prober", "statushawk-evaluator", "statushawk-notifier", "statushawk-api"];

/// Crates for tests only: a dev-dependency anywhere, a normal one nowhere.
const TEST_ONLY: &[&str] = &["statushawk-testkit", "proptest", "tempfile", "rcgen", "hickory-server", "jsonschema"];

/// What a service may not depend on (normal or build), beyond [`TEST_ONLY`]:
/// the prober, scheduler and evaluator serve no HTTP themselves (the
/// metrics endpoint is `statushawk-common`'s).
const NOT_IN: &[(&str, &[&str])] =
    &[("statushawk-prober", &["axum"]), ("statushawk-scheduler", &["axum"]), ("statushawk-evaluator", &["axum"])];

/// Crates the API's build must not contain, however deep: raw ICMP, X.509
/// parsing and SMTP belong to the prober and the notifier.
const NOT_UNDER_API: &[&str] = &["surge-ping", "pnet_packet", "x509-parser", "lettre", "reqwest"];

/// Cargo, in the workspace.
fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

/// Each workspace crate's declared dependencies: (name, kind), kind being
/// `normal`, `dev` or `build`.
fn declared() -> HashMap<String, Vec<(String, String)>> {
    let output =
        cargo().args(["metadata", "--format-version", "1", "--no-deps", "--offline", "--locked"]).output().unwrap();
    assert!(output.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| {
            let deps = package["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|dep| {
                    let kind = dep["kind"].as_str().unwrap_or("normal").to_owned();
                    (dep["name"].as_str().unwrap().to_owned(), kind)
                })
                .collect();
            (package["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

#[test]
fn no_service_depends_on_another_and_no_test_crate_ships() {
    let declared = declared();
    assert!(SERVICES.iter().all(|s| declared.contains_key(*s)), "a service crate is missing: {:?}", declared.keys());
    let mut broken = Vec::new();
    for (package, deps) in &declared {
        for (dep, kind) in deps {
            if kind == "dev" {
                continue;
            }
            if SERVICES.contains(&package.as_str()) && SERVICES.contains(&dep.as_str()) {
                broken.push(format!("{package} depends on the service {dep} ({kind})"));
            }
            if TEST_ONLY.contains(&dep.as_str()) && package != "statushawk-testkit" {
                broken.push(format!("{package} has the test-only {dep} as a {kind} dependency"));
            }
            if NOT_IN.iter().any(|(p, banned)| p == package && banned.contains(&dep.as_str())) {
                broken.push(format!("{package} may not depend on {dep}"));
            }
        }
    }
    broken.sort();
    assert!(broken.is_empty(), "crate boundaries broken (see ARCHITECTURE.md):\n{}", broken.join("\n"));
}

/// Every package a crate's build links, normal dependencies only, however
/// deep: what `cargo tree -p <package> -e normal` shows, on this host.
fn linked(package: &str) -> BTreeSet<String> {
    let output = cargo()
        .args(["tree", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .args(["--offline", "--locked"])
        .output()
        .unwrap();
    assert!(output.status.success(), "cargo tree: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let linked: BTreeSet<String> =
        text.lines().filter_map(|line| line.split_whitespace().next()).map(str::to_owned).collect();
    assert!(linked.contains(package), "the tree lists {package} itself: {linked:?}");
    linked
}

#[test]
fn the_api_links_no_probing_or_sending_stack() {
    let linked = linked("statushawk-api");
    assert!(linked.contains("statushawk-channels"), "the tree lists the API's own dependencies: {linked:?}");
    let found: Vec<&&str> = NOT_UNDER_API.iter().filter(|name| linked.contains(**name)).collect();
    assert!(found.is_empty(), "statushawk-api links {found:?}; they belong to the prober or the notifier");
}

/// Crates that reach a store or the network.
const IO: &[&str] = &["tokio", "async-nats", "sqlx-core", "clickhouse", "reqwest", "hickory-resolver", "lettre"];

#[test]
fn the_wire_crate_does_no_io_and_builds_on_none_of_ours() {
    let linked = linked("statushawk-schemas");
    let ours: Vec<&String> =
        linked.iter().filter(|p| p.starts_with("statushawk-") && *p != "statushawk-schemas").collect();
    assert!(ours.is_empty(), "statushawk-schemas depends on {ours:?}; every other crate builds on it, not it on them");
    let io: Vec<&&str> = IO.iter().filter(|name| linked.contains(**name)).collect();
    assert!(io.is_empty(), "statushawk-schemas links {io:?}; it is types and pure functions only");
}

#[test]
fn the_prober_links_no_store_client() {
    // Only the evaluator writes results, outages and incidents; the prober
    // only checks, and publishes what it found.
    let linked = linked("statushawk-prober");
    let found: Vec<&&str> = ["sqlx-core", "clickhouse"].iter().filter(|name| linked.contains(**name)).collect();
    assert!(found.is_empty(), "statushawk-prober links {found:?}; it never touches Postgres or ClickHouse");
}

/// Substitutes for real services or endpoints (tests use the real ones).
const MOCKS: &[&str] = &["mockall", "mockito", "wiremock", "httpmock", "fake", "testcontainers", "sqlite"];

#[test]
fn no_crate_mocks_a_service() {
    let mut found = Vec::new();
    for (package, deps) in declared() {
        for (dep, kind) in deps {
            if MOCKS.iter().any(|mock| dep.contains(mock)) {
                found.push(format!("{package}: {dep} ({kind})"));
            }
        }
    }
    assert!(found.is_empty(), "tests use real NATS, Postgres and ClickHouse, no substitutes:\n{}", found.join("\n"));
}

#[test]
fn every_metric_is_used_by_its_declared_name() {
    // `metrics::counter!("statushawk_...")` with a loose string would be a
    // metric without a HELP text; names live in each crate's `metrics.rs`.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut loose = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !["target", "node_modules", ".git", "tests", "web", "docs"].contains(&name.as_str()) {
                    todo.push(path);
                }
                continue;
            }
            if !name.ends_with(".rs") || name == "metrics.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for macro_name in ["counter!(", "gauge!(", "histogram!("] {
                for (at, _) in text.match_indices(macro_name) {
                    let rest = text[at + macro_name.len()..].trim_start();
                    if rest.starts_with('"') {
                        loose.push(format!(
                            "{}: {}",
                            path.strip_prefix(root).unwrap().display(),
                            &rest[..rest.len().min(60)]
                        ));
                    }
                }
            }
        }
    }
    assert!(loose.is_empty(), "metrics named by a loose string, not their metrics.rs constant:\n{}", loose.join("\n"));
}

/// The top-level modules of a crate's `src/` and the ones each names
/// (`crate::x`) outside comments and tests.
fn module_graph(crate_dir: &str) -> HashMap<String, BTreeSet<String>> {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(crate_dir).join("src");
    let mut graph: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut todo = vec![base.clone()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&base).unwrap();
            let top =
                relative.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned();
            if top == "lib" || top == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let refs = graph.entry(top.clone()).or_default();
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (at, _) in line.match_indices("crate::") {
                    let name: String =
                        line[at + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if name != top && !name.is_empty() {
                        refs.insert(name);
                    }
                }
            }
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    graph.values_mut().for_each(|refs| refs.retain(|r| modules.contains(r)));
    graph
}

#[test]
fn no_module_cycles_within_a_crate() {
    let mut cycles = Vec::new();
    for crate_dir in
        ["schemas", "nats", "guard", "common", "channels", "scheduler", "prober", "evaluator", "notifier", "api"]
    {
        let graph = module_graph(crate_dir);
        // A cycle shows as a module that reaches itself.
        for start in graph.keys() {
            let mut seen = BTreeSet::new();
            let mut todo: Vec<&String> = graph[start].iter().collect();
            while let Some(m) = todo.pop() {
                if m == start {
                    cycles.push(format!("{crate_dir}: {start} reaches itself"));
                    break;
                }
                if seen.insert(m.clone()) {
                    todo.extend(graph[m].iter());
                }
            }
        }
    }
    cycles.sort();
    assert!(cycles.is_empty(), "module cycles (ARCHITECTURE.md):\n{}", cycles.join("\n"));
}
