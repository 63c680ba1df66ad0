//! Every server configuration under `nats/conf` is one the real
//! `nats-server` accepts (`nats-server -t`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

use std::path::{Path, PathBuf};
use std::process::Command;

fn conf_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            conf_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "conf") {
            found.push(path);
        }
    }
}

#[test]
fn every_server_config_is_valid() {
    let nats_server = statushawk_testkit::nats_server_binary();
    let store = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    conf_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("conf"), &mut files);
    assert!(files.len() >= 6, "{files:?}");
    for file in files {
        let output = Command::new(&nats_server)
            .arg("-t")
            .arg("-c")
            .arg(&file)
            // The variables the configurations document (nats/conf/README.md).
            .env("NATS_STORE_DIR", store.path())
            .env("NATS_SYS_PASSWORD", "sys-secret")
            .env("STATUSHAWK_NATS_PASSWORD", "app-secret")
            .env("PROBER_EU_WEST_PASSWORD", "prober-secret")
            .env("NATS_SERVER_NAME", "leaf-eu-west-1")
            .env("LEAF_LOCAL_PASSWORD", "local-secret")
            .env("NATS_HUB_LEAF_URLS", "nats-leaf://prober-eu-west:prober-secret@127.0.0.1:7422")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{} is not a valid nats-server configuration:\n{}{}",
            file.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
