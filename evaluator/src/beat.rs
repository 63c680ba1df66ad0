//! One heartbeat monitor as its janitor keeps it ([`Beat`]), and what its
//! pings and its silence amount to: pure, so the janitor
//! ([`crate::heartbeats`]) and the store that saves it ([`crate::store`])
//! share it without depending on each other.

use std::collections::BTreeMap;

use statushawk_schemas::{
    CheckResult, CheckStatus, ErrorKind, HeartbeatPing, HeartbeatSchedule, MonitorId, PingKind, Region, SCHEMA_VERSION,
    TeamId, Timings, UnixMs,
};

/// A heartbeat monitor as the janitor keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct Beat {
    /// Its team.
    pub team_id: TeamId,
    /// When pings are expected.
    pub schedule: HeartbeatSchedule,
    /// Paused monitors expect nothing.
    pub paused: bool,
    /// When silence becomes a failure (`None`: nothing expected).
    pub deadline_ms: Option<UnixMs>,
    /// The last ping.
    pub last_ping_ms: Option<UnixMs>,
    /// The newest result slot published.
    pub last_slot_ms: UnixMs,
    /// Runs started and not finished: run id (`""` without one) to start.
    pub runs: BTreeMap<String, UnixMs>,
}

/// What a ping or a deadline amounts to: a result to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// When it happened (the result's start).
    pub at_ms: UnixMs,
    /// Up or down.
    pub status: CheckStatus,
    /// Why it is down.
    pub error: Option<ErrorKind>,
    /// For people.
    pub message: String,
    /// The run's duration, when known.
    pub duration_ms: Option<u32>,
}

/// A row of ClickHouse `heartbeat_pings`.
#[derive(Debug, PartialEq, serde::Serialize, clickhouse::Row)]
pub struct PingRow {
    ts: u32,
    received_at_ms: i64,
    #[serde(with = "clickhouse::serde::uuid")]
    ping_id: uuid::Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    monitor_id: uuid::Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    team_id: uuid::Uuid,
    kind: i8,
    exit_code: Option<u8>,
    duration_ms: Option<u32>,
    run_id: String,
    source_ip: String,
    body: String,
}

impl PingRow {
    /// The row of `ping`, with its run's duration when it finished one.
    pub fn new(ping: &HeartbeatPing, duration_ms: Option<u32>) -> Self {
        Self {
            ts: u32::try_from(ping.received_at_ms.div_euclid(1000)).unwrap_or(0),
            received_at_ms: ping.received_at_ms,
            ping_id: ping.ping_id,
            monitor_id: ping.monitor_id.0,
            team_id: ping.team_id.0,
            kind: match ping.kind {
                PingKind::Success => 1,
                PingKind::Start => 2,
                PingKind::Fail => 3,
            },
            exit_code: ping.exit_code,
            duration_ms,
            run_id: ping.run_id.clone().unwrap_or_default(),
            source_ip: ping.source_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            body: ping.body.clone().unwrap_or_default(),
        }
    }
}

/// Open runs remembered per monitor, at most (the oldest are forgotten).
const MAX_RUNS: usize = 32;

impl Beat {
    /// The next time something falls due: the deadline, or an open run's
    /// end of grace.
    pub fn due(&self) -> Option<UnixMs> {
        if self.paused {
            return None;
        }
        let grace = i64::try_from(self.schedule.grace_ms).unwrap_or(i64::MAX);
        let run = self.runs.values().min().map(|start| start.saturating_add(grace));
        self.deadline_ms.into_iter().chain(run).min()
    }

    /// Takes a ping; what it amounts to (a `start` amounts to nothing yet).
    pub fn ping(&mut self, ping: &HeartbeatPing) -> Option<Outcome> {
        let at = ping.received_at_ms;
        self.last_ping_ms = Some(self.last_ping_ms.map_or(at, |last| last.max(at)));
        let run = ping.run_id.clone().unwrap_or_default();
        let failed = ping.kind == PingKind::Fail || ping.exit_code.is_some_and(|code| code != 0);
        if ping.kind == PingKind::Start && !failed {
            self.runs.insert(run, at);
            while self.runs.len() > MAX_RUNS {
                let oldest = self.runs.iter().min_by_key(|(_, start)| **start).map(|(id, _)| id.clone());
                oldest.map(|id| self.runs.remove(&id));
            }
            return None;
        }
        // A finish: this run's start (without a run id, the latest start).
        let started = match ping.run_id {
            Some(_) => self.runs.remove(&run),
            None => {
                let latest = self.runs.iter().max_by_key(|(_, start)| **start).map(|(id, _)| id.clone());
                latest.and_then(|id| self.runs.remove(&id))
            }
        };
        let duration_ms = started.map(|start| u32::try_from((at - start).max(0)).unwrap_or(u32::MAX));
        self.deadline_ms = self.schedule.deadline_after(at);
        let took = duration_ms.map(|ms| format!(" after {:.1} s", f64::from(ms) / 1000.0)).unwrap_or_default();
        Some(if failed {
            let message = match ping.exit_code {
                Some(code) if code != 0 => format!("the job exited with code {code}{took}"),
                _ => format!("the job reported a failure{took}"),
            };
            Outcome { at_ms: at, status: CheckStatus::Down, error: Some(ErrorKind::JobFailed), message, duration_ms }
        } else {
            let message = format!("ping{took}");
            Outcome { at_ms: at, status: CheckStatus::Up, error: None, message, duration_ms }
        })
    }

    /// What has fallen due by `now`: runs past their grace, then a missed
    /// deadline (reported once).
    pub fn expire(&mut self, now: UnixMs) -> Vec<Outcome> {
        if self.paused {
            return Vec::new();
        }
        let grace = i64::try_from(self.schedule.grace_ms).unwrap_or(i64::MAX);
        let mut out = Vec::new();
        let late: Vec<(String, UnixMs)> = self
            .runs
            .iter()
            .filter(|(_, start)| start.saturating_add(grace) <= now)
            .map(|(id, s)| (id.clone(), *s))
            .collect();
        for (id, start) in late {
            self.runs.remove(&id);
            let run = if id.is_empty() { String::new() } else { format!(" (run {id})") };
            out.push(Outcome {
                at_ms: start.saturating_add(grace),
                status: CheckStatus::Down,
                error: Some(ErrorKind::Timeout),
                message: format!("a run{run} started and did not finish within the grace of {} s", grace / 1000),
                duration_ms: None,
            });
        }
        if let Some(deadline) = self.deadline_ms.filter(|d| *d <= now) {
            self.deadline_ms = None;
            let since = self.last_ping_ms.map(|p| format!(" (last ping {} s before)", (deadline - p) / 1000));
            out.push(Outcome {
                at_ms: deadline,
                status: CheckStatus::Down,
                error: Some(ErrorKind::Missed),
                message: format!("no ping by the deadline{}", since.unwrap_or_default()),
                duration_ms: None,
            });
        }
        out
    }

    /// The result of `outcome`, in a slot after every earlier one.
    pub fn result(&mut self, monitor: MonitorId, outcome: Outcome) -> CheckResult {
        let slot = outcome.at_ms.max(self.last_slot_ms + 1);
        self.last_slot_ms = slot;
        CheckResult {
            schema_version: SCHEMA_VERSION,
            monitor_id: monitor,
            team_id: self.team_id,
            region: Region::heartbeat(),
            slot_ms: slot,
            attempt: 0,
            prober_id: "heartbeat".into(),
            started_at_ms: outcome.at_ms,
            status: outcome.status,
            error: outcome.error,
            message: Some(outcome.message),
            timings: Timings { total_ms: outcome.duration_ms.unwrap_or(0), ..Timings::default() },
            ip: None,
            http_status: None,
            body_bytes: None,
            cert_expires_at_ms: None,
            cert_issuer: None,
            assertions: Vec::new(),
        }
    }
}
