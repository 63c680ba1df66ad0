//! A real SMTP server for tests: `testkit/smtp_sink.py` (Python's aiosmtpd,
//! installed by `scripts/services install`), one per test.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running SMTP sink; stopped when dropped.
pub struct SmtpSink {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    _child: Child,
}

impl SmtpSink {
    /// Starts a sink; with `auth`, AUTH with that user and password is
    /// required.
    pub async fn start(auth: Option<(&str, &str)>) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("statushawk-smtp-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let script = crate::repo_root().join("testkit/smtp_sink.py");
        let mut command = Command::new("python3");
        command.arg(&script).arg(&dir);
        if let Some((user, password)) = auth {
            command.arg("--auth").arg(format!("{user}:{password}"));
        }
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).kill_on_drop(true).spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(20), BufReader::new(stdout).read_line(&mut line)).await.map_err(
            |_| anyhow::anyhow!("smtp_sink.py did not start (is aiosmtpd installed? scripts/services install)"),
        )??;
        let port = line.trim().parse()?;
        Ok(Self { port, dir, _child: child })
    }

    /// The messages received so far, raw, in arrival order.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .filter_map(|p| Some((p.file_stem()?.to_str()?.parse().ok()?, p)))
            .collect();
        files.sort();
        files.into_iter().filter_map(|(_, p)| std::fs::read_to_string(p).ok()).collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
