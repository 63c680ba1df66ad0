//! Configuration changes, on the `CONFIG` stream, so that services refresh
//! their caches without polling Postgres (a periodic reconcile heals misses).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    ChannelId, CheckSpec, DnsSpec, FieldError, HttpSpec, IcmpSpec, MonitorId, Region, TcpSpec, TeamId, TlsSpec, UnixMs,
    msg_id,
};

/// What a monitor watches, tagged by `kind`: a probed check, or a heartbeat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MonitorSpec {
    /// HTTP(S) request.
    Http(HttpSpec),
    /// TCP connect.
    Tcp(TcpSpec),
    /// ICMP echo.
    Icmp(IcmpSpec),
    /// DNS query.
    Dns(DnsSpec),
    /// TLS certificate.
    Tls(TlsSpec),
    /// Pings from the job itself; silence is the failure.
    Heartbeat(HeartbeatSchedule),
}

impl MonitorSpec {
    /// Takes the secret parts out of the spec ([`crate::SpecSecrets`]).
    pub fn take_secrets(&mut self) -> crate::SpecSecrets {
        match self {
            Self::Http(spec) => spec.take_secrets(),
            Self::Tcp(spec) => spec.take_secrets(),
            Self::Icmp(_) | Self::Dns(_) | Self::Tls(_) | Self::Heartbeat(_) => crate::SpecSecrets::default(),
        }
    }

    /// Puts secret parts back where the spec has none.
    pub fn restore_secrets(&mut self, secrets: crate::SpecSecrets) {
        match self {
            Self::Http(spec) => spec.restore_secrets(secrets),
            Self::Tcp(spec) => spec.restore_secrets(secrets),
            Self::Icmp(_) | Self::Dns(_) | Self::Tls(_) | Self::Heartbeat(_) => {}
        }
    }

    /// The fields that hold a secret, as API field paths
    /// (`spec.headers[0].value`, `spec.body`, `spec.send`).
    pub fn secrets_set(&self) -> Vec<String> {
        match self {
            Self::Http(spec) => spec.secrets_set(),
            Self::Tcp(spec) => spec.secrets_set(),
            Self::Icmp(_) | Self::Dns(_) | Self::Tls(_) | Self::Heartbeat(_) => Vec::new(),
        }
    }

    /// The probe to run, or `None` for a heartbeat monitor.
    pub fn check(&self) -> Option<CheckSpec> {
        match self {
            Self::Http(spec) => Some(CheckSpec::Http(spec.clone())),
            Self::Tcp(spec) => Some(CheckSpec::Tcp(spec.clone())),
            Self::Icmp(spec) => Some(CheckSpec::Icmp(spec.clone())),
            Self::Dns(spec) => Some(CheckSpec::Dns(spec.clone())),
            Self::Tls(spec) => Some(CheckSpec::Tls(spec.clone())),
            Self::Heartbeat(_) => None,
        }
    }

    /// What the monitor watches, in a line as people read it:
    /// `https://shop.example/health`, `db.internal:5432`,
    /// `shop.example A`, `every 300 s`, `cron 0 3 * * * Europe/Berlin`.
    pub fn target(&self) -> String {
        match self {
            Self::Http(spec) => spec.url.clone(),
            Self::Tcp(TcpSpec { host, port, .. }) | Self::Tls(TlsSpec { host, port, .. }) => format!("{host}:{port}"),
            Self::Icmp(spec) => spec.host.clone(),
            Self::Dns(spec) => {
                let record = serde_json::to_value(spec.record_type).ok();
                format!("{} {}", spec.name, record.as_ref().and_then(|r| r.as_str()).unwrap_or_default())
            }
            Self::Heartbeat(HeartbeatSchedule { cron: Some(cron), timezone, .. }) => match timezone {
                Some(zone) => format!("cron {cron} {zone}"),
                None => format!("cron {cron}"),
            },
            Self::Heartbeat(schedule) => format!("every {} s", schedule.period_ms.unwrap_or(0) / 1000),
        }
    }
}

/// When a heartbeat monitor expects its pings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HeartbeatSchedule {
    /// A fixed period between pings (ms); exclusive with `cron`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_ms: Option<u64>,
    /// A cron expression for when the job runs; exclusive with `period_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// IANA time zone of `cron`, e.g. `Europe/Berlin` (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// How late a ping may be before it counts as missed (ms).
    pub grace_ms: u64,
}

/// The region a heartbeat monitor's results come from: pings have no
/// region, and the evaluator's state machine needs one.
pub const HEARTBEAT_REGION: &str = "heartbeat";

/// The longest period, grace and run a heartbeat may have: 31 days.
pub const HEARTBEAT_MAX_MS: u64 = 31 * 86_400_000;

impl HeartbeatSchedule {
    /// Checks the schedule; the error names the field (`period_ms`, `cron`,
    /// `timezone`, `grace_ms`).
    pub fn validate(&self) -> Result<(), FieldError> {
        match (self.period_ms, &self.cron) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(FieldError::new("period_ms", "give either period_ms or cron"));
            }
            (Some(period), None) => {
                if !(1_000..=HEARTBEAT_MAX_MS).contains(&period) {
                    return Err(FieldError::new("period_ms", format!("1000 (1 s) to {HEARTBEAT_MAX_MS} (31 days)")));
                }
                if self.timezone.is_some() {
                    return Err(FieldError::new("timezone", "only with cron"));
                }
            }
            (None, Some(_)) => {
                self.parsed_cron()?;
                self.zone()?;
            }
        }
        if self.grace_ms > HEARTBEAT_MAX_MS {
            return Err(FieldError::new("grace_ms", format!("at most {HEARTBEAT_MAX_MS} (31 days)")));
        }
        Ok(())
    }

    /// When the next ping is expected after one at `at_ms` (before the
    /// grace): a period later, or the cron expression's next time strictly
    /// after it. `None` for an invalid schedule.
    pub fn next_expected(&self, at_ms: UnixMs) -> Option<UnixMs> {
        if let Some(period) = self.period_ms {
            return at_ms.checked_add(i64::try_from(period).ok()?);
        }
        let cron = self.parsed_cron().ok()?;
        let zone = self.zone().ok()?;
        // Whole seconds: the next fire is then a whole minute, not one with
        // the ping's milliseconds.
        let at = chrono::DateTime::from_timestamp(at_ms.div_euclid(1000), 0)?.with_timezone(&zone);
        Some(cron.find_next_occurrence(&at, false).ok()?.timestamp_millis())
    }

    /// The deadline after a ping at `at_ms`: the next expected ping plus
    /// the grace.
    pub fn deadline_after(&self, at_ms: UnixMs) -> Option<UnixMs> {
        self.next_expected(at_ms)?.checked_add(i64::try_from(self.grace_ms).ok()?)
    }

    fn parsed_cron(&self) -> Result<croner::Cron, FieldError> {
        use std::str::FromStr as _;
        let text = self.cron.as_deref().unwrap_or_default();
        croner::Cron::from_str(text).map_err(|err| FieldError::new("cron", format!("not a cron expression: {err}")))
    }

    fn zone(&self) -> Result<chrono_tz::Tz, FieldError> {
        let name = self.timezone.as_deref().unwrap_or("UTC");
        name.parse().map_err(|_| FieldError::new("timezone", format!("unknown time zone {name:?}")))
    }
}

/// Everything the scheduler and evaluator need to know of a monitor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MonitorConfig {
    /// The monitor.
    pub id: MonitorId,
    /// Its team.
    pub team_id: TeamId,
    /// Display name.
    pub name: String,
    /// Time between checks (ms), 10 s to 24 h.
    pub interval_ms: u32,
    /// Hard time limit of one check (ms), at most 60 s.
    pub timeout_ms: u32,
    /// Regions that check it.
    pub regions: Vec<Region>,
    /// Consecutive failures that confirm a region down.
    pub confirmations: u8,
    /// Consecutive successes that recover a region.
    pub recoveries: u8,
    /// Regions that must be down for an incident.
    pub quorum: u8,
    /// Paused monitors are not checked.
    pub paused: bool,
    /// `degraded` results count as failures: they are confirmed and open
    /// incidents like `down` ones (off by default).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub degraded_is_failure: bool,
    /// What it watches, without its secret parts ([`crate::SpecSecrets`]:
    /// header values, the HTTP body, the TCP payload).
    pub spec: MonitorSpec,
    /// The spec's secret parts, sealed with the deployment's secrets key
    /// (only services holding it can open them); none when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_secrets: Option<SealedSecrets>,
    /// Last change (Unix ms); a cache keeps the newest it has seen.
    pub updated_at_ms: UnixMs,
}

/// Secrets sealed with the deployment's key (XChaCha20-Poly1305, bound to
/// their owner's id), as they travel on `CONFIG`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SealedSecrets {
    /// The ciphertext with its tag, base64.
    pub ciphertext: String,
    /// The nonce, base64.
    pub nonce: String,
}

/// The change itself, tagged by `op`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ConfigOp {
    /// A monitor was created or changed (paused and resumed included).
    MonitorUpserted {
        /// Its whole new configuration.
        monitor: Box<MonitorConfig>,
    },
    /// A monitor was deleted.
    MonitorDeleted {
        /// The monitor.
        monitor_id: MonitorId,
        /// Its team.
        team_id: TeamId,
    },
    /// A channel was created or changed; secrets never travel here, so
    /// readers reload it from Postgres.
    ChannelChanged {
        /// The channel.
        channel_id: ChannelId,
        /// Its team.
        team_id: TeamId,
    },
    /// A channel was deleted.
    ChannelDeleted {
        /// The channel.
        channel_id: ChannelId,
        /// Its team.
        team_id: TeamId,
    },
}

/// A configuration change, on `config.monitors.<id>` or `config.channels.<id>`.
/// The stream keeps the last message per subject, so a new reader can load
/// the current state of everything from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigChange {
    /// Message format version ([`crate::SCHEMA_VERSION`]).
    #[serde(default = "crate::schema_version")]
    pub schema_version: u16,
    /// When the change was committed to Postgres (Unix ms).
    pub at_ms: UnixMs,
    /// The change.
    #[serde(flatten)]
    pub op: ConfigOp,
}

impl ConfigChange {
    /// The subject this change is published on (without any prefix).
    pub fn subject(&self) -> String {
        match &self.op {
            ConfigOp::MonitorUpserted { monitor } => crate::subject::config_monitor(monitor.id),
            ConfigOp::MonitorDeleted { monitor_id, .. } => crate::subject::config_monitor(*monitor_id),
            ConfigOp::ChannelChanged { channel_id, .. } | ConfigOp::ChannelDeleted { channel_id, .. } => {
                crate::subject::config_channel(*channel_id)
            }
        }
    }

    /// The deterministic `Nats-Msg-Id` of this message.
    pub fn msg_id(&self) -> String {
        msg_id::config(&self.subject(), self.at_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_one_line_for_every_kind() {
        let target = |spec: serde_json::Value| serde_json::from_value::<MonitorSpec>(spec).unwrap().target();
        use serde_json::json;
        assert_eq!(
            target(json!({"kind": "http", "url": "https://shop.example/health"})),
            "https://shop.example/health"
        );
        assert_eq!(target(json!({"kind": "tcp", "host": "db.internal", "port": 5432})), "db.internal:5432");
        assert_eq!(target(json!({"kind": "tls", "host": "shop.example"})), "shop.example:443", "the default port");
        assert_eq!(target(json!({"kind": "icmp", "host": "10.0.0.1"})), "10.0.0.1");
        assert_eq!(target(json!({"kind": "dns", "name": "shop.example", "record_type": "AAAA"})), "shop.example AAAA");
        assert_eq!(target(json!({"kind": "heartbeat", "period_ms": 300_000, "grace_ms": 60_000})), "every 300 s");
        assert_eq!(
            target(json!({"kind": "heartbeat", "cron": "0 3 * * *", "timezone": "Europe/Berlin", "grace_ms": 0})),
            "cron 0 3 * * * Europe/Berlin"
        );
        assert_eq!(target(json!({"kind": "heartbeat", "cron": "0 3 * * *", "grace_ms": 0})), "cron 0 3 * * *");
    }

    fn schedule(period_ms: Option<u64>, cron: Option<&str>, timezone: Option<&str>) -> HeartbeatSchedule {
        HeartbeatSchedule {
            period_ms,
            cron: cron.map(str::to_owned),
            timezone: timezone.map(str::to_owned),
            grace_ms: 1_000,
        }
    }

    #[test]
    fn a_period_deadline_is_the_ping_plus_period_plus_grace() {
        let s = schedule(Some(2_000), None, None);
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.deadline_after(10_000), Some(13_000));
    }

    #[test]
    fn a_cron_deadline_is_the_next_fire_in_its_time_zone_plus_grace() {
        // 2026-11-28 10:00:30 UTC; Asia/Kolkata is UTC+5:30, so its 16:00
        // (the next "0 16 * * *") is 10:30 UTC.
        let at = 1_795_860_030_000;
        let daily = schedule(None, Some("0 16 * * *"), Some("Asia/Kolkata"));
        assert_eq!(daily.validate(), Ok(()));
        assert_eq!(daily.deadline_after(at), Some(1_795_861_800_000 + 1_000));
        let minutely = schedule(None, Some("*/1 * * * *"), Some("Europe/Berlin"));
        assert_eq!(minutely.deadline_after(at), Some(1_795_860_060_000 + 1_000));
        assert_eq!(minutely.deadline_after(at + 837), Some(1_795_860_060_000 + 1_000), "whole minutes");
    }

    #[test]
    fn invalid_schedules_name_their_field() {
        let field = |s: HeartbeatSchedule| s.validate().err().map(|err| err.field);
        assert_eq!(field(schedule(None, None, None)), Some("period_ms".to_owned()));
        assert_eq!(field(schedule(Some(2_000), Some("* * * * *"), None)), Some("period_ms".to_owned()));
        assert_eq!(field(schedule(Some(999), None, None)), Some("period_ms".to_owned()));
        assert_eq!(field(schedule(Some(2_000), None, Some("UTC"))), Some("timezone".to_owned()));
        assert_eq!(field(schedule(None, Some("every minute"), None)), Some("cron".to_owned()));
        assert_eq!(field(schedule(None, Some("* * * * *"), Some("Mars/Olympus"))), Some("timezone".to_owned()));
        assert_eq!(
            field(HeartbeatSchedule { grace_ms: HEARTBEAT_MAX_MS + 1, ..schedule(Some(2_000), None, None) }),
            Some("grace_ms".to_owned())
        );
    }
}
