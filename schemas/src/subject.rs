//! Subject names: one enum, formatted and parsed in one place.
//!
//! | subject | message |
//! |---|---|
//! | `checks.due.<region>` | [`crate::DueCheck`] (scheduled) |
//! | `checks.urgent.<region>` | [`crate::DueCheck`] (confirmation re-check) |
//! | `checks.result.<partition>.<region>.<monitor_id>` | [`crate::CheckResult`] |
//! | `events.status.<monitor_id>` | [`crate::StatusEvent`] |
//! | `events.incident.<opened\|updated\|acknowledged\|resolved>.<monitor_id>` | [`crate::IncidentEvent`] |
//! | `heartbeats.<partition>.<monitor_id>` | [`crate::HeartbeatPing`] |
//! | `config.monitors.<monitor_id>` / `config.channels.<channel_id>` | [`crate::ConfigChange`] |
//! | `deadletter.<service>` | [`crate::DeadLetter`] |
//! | `requests.channels` (core request, no stream) | [`crate::ChannelRequest`], answered [`crate::ChannelAnswer`] |
//!
//! Deployments that share one NATS account put a prefix before all of these
//! (see `statushawk-nats`); the names here never include it.

use std::fmt;
use std::str::FromStr;

use crate::{ChannelId, IncidentEventKind, MonitorId, Region, partition_of};

/// Every due check of every region.
pub const CHECKS_DUE_ALL: &str = "checks.due.>";
/// Every urgent re-check of every region.
pub const CHECKS_URGENT_ALL: &str = "checks.urgent.>";
/// Every check result: what a live-feed subscriber listens to.
pub const CHECK_RESULTS_ALL: &str = "checks.result.>";
/// Every derived event.
pub const EVENTS_ALL: &str = "events.>";
/// Every incident event.
pub const INCIDENT_EVENTS_ALL: &str = "events.incident.>";
/// Every heartbeat ping.
pub const HEARTBEATS_ALL: &str = "heartbeats.>";
/// Every configuration change.
pub const CONFIG_ALL: &str = "config.>";
/// Every monitor's configuration change.
pub const CONFIG_MONITORS_ALL: &str = "config.monitors.>";
/// Every dead letter.
pub const DEAD_LETTERS_ALL: &str = "deadletter.>";
/// The API's channel tests and verifications, which a notifier answers
/// (a core NATS request: no stream holds it).
pub const CHANNEL_REQUESTS: &str = "requests.channels";

/// A concrete subject, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// `checks.due.<region>`
    Due {
        /// Region that must run the check.
        region: Region,
    },
    /// `checks.urgent.<region>`
    Urgent {
        /// Region that must run the re-check.
        region: Region,
    },
    /// `checks.result.<partition>.<region>.<monitor_id>`
    Result {
        /// Evaluator partition of the monitor.
        partition: u16,
        /// Region that ran the check.
        region: Region,
        /// The monitor.
        monitor_id: MonitorId,
    },
    /// `events.status.<monitor_id>`
    Status {
        /// The monitor.
        monitor_id: MonitorId,
    },
    /// `events.incident.<kind>.<monitor_id>`
    Incident {
        /// What happened.
        kind: IncidentEventKind,
        /// The monitor.
        monitor_id: MonitorId,
    },
    /// `heartbeats.<partition>.<monitor_id>`
    Heartbeat {
        /// Evaluator partition of the monitor.
        partition: u16,
        /// The monitor.
        monitor_id: MonitorId,
    },
    /// `config.monitors.<monitor_id>`
    ConfigMonitor {
        /// The monitor.
        monitor_id: MonitorId,
    },
    /// `config.channels.<channel_id>`
    ConfigChannel {
        /// The channel.
        channel_id: ChannelId,
    },
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Due { region } => write!(f, "checks.due.{region}"),
            Self::Urgent { region } => write!(f, "checks.urgent.{region}"),
            Self::Result { partition, region, monitor_id } => {
                write!(f, "checks.result.{partition}.{region}.{monitor_id}")
            }
            Self::Status { monitor_id } => write!(f, "events.status.{monitor_id}"),
            Self::Incident { kind, monitor_id } => {
                write!(f, "events.incident.{}.{monitor_id}", kind.as_str())
            }
            Self::Heartbeat { partition, monitor_id } => write!(f, "heartbeats.{partition}.{monitor_id}"),
            Self::ConfigMonitor { monitor_id } => write!(f, "config.monitors.{monitor_id}"),
            Self::ConfigChannel { channel_id } => write!(f, "config.channels.{channel_id}"),
        }
    }
}

/// A subject that is not one of StatusHawk's.
#[derive(Debug, thiserror::Error)]
#[error("not a StatusHawk subject: {subject:?} ({reason})")]
pub struct SubjectError {
    subject: String,
    reason: String,
}

impl FromStr for Subject {
    type Err = SubjectError;

    fn from_str(subject: &str) -> Result<Self, SubjectError> {
        let fail = |reason: &dyn fmt::Display| SubjectError { subject: subject.to_owned(), reason: reason.to_string() };
        let tokens: Vec<&str> = subject.split('.').collect();
        let region = |s: &str| Region::new(s).map_err(|e| fail(&e));
        let monitor = |s: &str| s.parse::<MonitorId>().map_err(|e| fail(&e));
        let partition = |s: &str| s.parse::<u16>().map_err(|e| fail(&format_args!("partition {s:?}: {e}")));
        match tokens.as_slice() {
            ["checks", "due", r] => Ok(Self::Due { region: region(r)? }),
            ["checks", "urgent", r] => Ok(Self::Urgent { region: region(r)? }),
            ["checks", "result", p, r, m] => {
                Ok(Self::Result { partition: partition(p)?, region: region(r)?, monitor_id: monitor(m)? })
            }
            ["events", "status", m] => Ok(Self::Status { monitor_id: monitor(m)? }),
            ["events", "incident", k, m] => {
                let kind = match *k {
                    "opened" => IncidentEventKind::Opened,
                    "updated" => IncidentEventKind::Updated,
                    "resolved" => IncidentEventKind::Resolved,
                    "acknowledged" => IncidentEventKind::Acknowledged,
                    other => return Err(fail(&format_args!("unknown incident event {other:?}"))),
                };
                Ok(Self::Incident { kind, monitor_id: monitor(m)? })
            }
            ["heartbeats", p, m] => Ok(Self::Heartbeat { partition: partition(p)?, monitor_id: monitor(m)? }),
            ["config", "monitors", m] => Ok(Self::ConfigMonitor { monitor_id: monitor(m)? }),
            ["config", "channels", c] => {
                let channel_id = c.parse().map_err(|e| fail(&e))?;
                Ok(Self::ConfigChannel { channel_id })
            }
            _ => Err(fail(&"unknown shape")),
        }
    }
}

/// Where `service` sets aside what it could never process.
pub fn dead_letter(service: &str) -> String {
    format!("deadletter.{service}")
}

/// `checks.due.<region>`
pub fn checks_due(region: &Region) -> String {
    Subject::Due { region: region.clone() }.to_string()
}

/// `checks.urgent.<region>`
pub fn checks_urgent(region: &Region) -> String {
    Subject::Urgent { region: region.clone() }.to_string()
}

/// `checks.result.<partition>.<region>.<monitor_id>`, the partition computed
/// from the monitor id.
pub fn check_result(monitor_id: MonitorId, region: &Region, partitions: u16) -> String {
    let partition = partition_of(monitor_id, partitions);
    Subject::Result { partition, region: region.clone(), monitor_id }.to_string()
}

/// `checks.result.<partition>.>`: every result an evaluator owning
/// `partition` consumes.
pub fn check_results_of_partition(partition: u16) -> String {
    format!("checks.result.{partition}.>")
}

/// `events.status.<monitor_id>`
pub fn events_status(monitor_id: MonitorId) -> String {
    Subject::Status { monitor_id }.to_string()
}

/// `events.incident.<kind>.<monitor_id>`
pub fn events_incident(kind: IncidentEventKind, monitor_id: MonitorId) -> String {
    Subject::Incident { kind, monitor_id }.to_string()
}

/// `heartbeats.<partition>.<monitor_id>`, the partition computed from the
/// monitor id.
pub fn heartbeat(monitor_id: MonitorId, partitions: u16) -> String {
    Subject::Heartbeat { partition: partition_of(monitor_id, partitions), monitor_id }.to_string()
}

/// `heartbeats.<partition>.>`
pub fn heartbeats_of_partition(partition: u16) -> String {
    format!("heartbeats.{partition}.>")
}

/// `config.monitors.<monitor_id>`
pub fn config_monitor(monitor_id: MonitorId) -> String {
    Subject::ConfigMonitor { monitor_id }.to_string()
}

/// `config.channels.<channel_id>`
pub fn config_channel(channel_id: ChannelId) -> String {
    Subject::ConfigChannel { channel_id }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(s: &str) -> Region {
        Region::new(s).unwrap()
    }

    #[test]
    fn every_subject_round_trips() {
        let m = MonitorId::new();
        let subjects = [
            Subject::Due { region: region("eu-west") },
            Subject::Urgent { region: region("eu-west") },
            Subject::Result { partition: 7, region: region("us-east"), monitor_id: m },
            Subject::Status { monitor_id: m },
            Subject::Incident { kind: IncidentEventKind::Opened, monitor_id: m },
            Subject::Incident { kind: IncidentEventKind::Updated, monitor_id: m },
            Subject::Incident { kind: IncidentEventKind::Resolved, monitor_id: m },
            Subject::Incident { kind: IncidentEventKind::Acknowledged, monitor_id: m },
            Subject::Heartbeat { partition: 15, monitor_id: m },
            Subject::ConfigMonitor { monitor_id: m },
            Subject::ConfigChannel { channel_id: ChannelId::new() },
        ];
        for subject in subjects {
            let text = subject.to_string();
            assert_eq!(text.parse::<Subject>().unwrap(), subject, "{text}");
        }
    }

    #[test]
    fn builders_match_the_design() {
        let m: MonitorId = "0190f5d2-7c1e-7000-8000-000000000001".parse().unwrap();
        let r = region("eu-west");
        assert_eq!(checks_due(&r), "checks.due.eu-west");
        assert_eq!(checks_urgent(&r), "checks.urgent.eu-west");
        let p = partition_of(m, 16);
        assert_eq!(check_result(m, &r, 16), format!("checks.result.{p}.eu-west.{m}"));
        assert_eq!(events_incident(IncidentEventKind::Resolved, m), format!("events.incident.resolved.{m}"));
        assert_eq!(heartbeat(m, 16), format!("heartbeats.{p}.{m}"));
        assert_eq!(check_results_of_partition(3), "checks.result.3.>");
    }

    #[test]
    fn foreign_subjects_are_rejected() {
        for bad in [
            "",
            "checks.due",
            "checks.due.EU",
            "checks.result.x.eu.0190f5d2-7c1e-7000-8000-000000000001",
            "checks.result.1.eu.not-a-uuid",
            "events.incident.exploded.0190f5d2-7c1e-7000-8000-000000000001",
            "other.thing",
        ] {
            assert!(bad.parse::<Subject>().is_err(), "{bad}");
        }
    }
}
