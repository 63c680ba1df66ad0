//! A check that is due: published by the scheduler, pulled by a prober.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{CheckSpec, MonitorId, Region, TeamId, UnixMs, msg_id};

/// One check of one monitor in one region for one slot, on
/// `checks.due.<region>` (scheduled) or `checks.urgent.<region>`
/// (confirmation re-checks, `attempt > 0`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DueCheck {
    /// Message format version ([`crate::SCHEMA_VERSION`]).
    #[serde(default = "crate::schema_version")]
    pub schema_version: u16,
    /// The monitor checked.
    pub monitor_id: MonitorId,
    /// Its team.
    pub team_id: TeamId,
    /// The region that must run it.
    pub region: Region,
    /// The slot this check belongs to (Unix ms); the same for its re-checks.
    pub slot_ms: UnixMs,
    /// 0 for the scheduled check, 1, 2, … for confirmation re-checks.
    pub attempt: u32,
    /// A prober that sees the check after this time reports it `skipped`
    /// instead of running it late (Unix ms).
    pub deadline_ms: UnixMs,
    /// Hard time limit of the check in milliseconds (at most 60 000).
    pub timeout_ms: u32,
    /// What to check.
    pub spec: CheckSpec,
}

impl DueCheck {
    /// The deterministic `Nats-Msg-Id` of this message.
    pub fn msg_id(&self) -> String {
        msg_id::due(self.monitor_id, &self.region, self.slot_ms, self.attempt)
    }
}

/// The same message as [`DueCheck`], with the check spec already serialized:
/// the scheduler keeps each monitor's spec as JSON and splices it into every
/// due check it publishes. Serialize-only; readers use [`DueCheck`].
#[derive(Debug, Serialize)]
pub struct DueCheckRaw<'a> {
    /// Message format version ([`crate::SCHEMA_VERSION`]).
    pub schema_version: u16,
    /// The monitor checked.
    pub monitor_id: MonitorId,
    /// Its team.
    pub team_id: TeamId,
    /// The region that must run it.
    pub region: &'a Region,
    /// The slot (Unix ms).
    pub slot_ms: UnixMs,
    /// 0 for the scheduled check.
    pub attempt: u32,
    /// Report `skipped` after this time (Unix ms).
    pub deadline_ms: UnixMs,
    /// Hard time limit in milliseconds.
    pub timeout_ms: u32,
    /// The serialized [`CheckSpec`].
    pub spec: &'a serde_json::value::RawValue,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CheckSpec, TcpSpec};

    #[test]
    fn a_raw_due_check_is_the_same_message() {
        let spec =
            CheckSpec::Tcp(TcpSpec { host: "example.com".into(), port: 22, send: None, expect: Some("SSH".into()) });
        let raw_spec = serde_json::value::to_raw_value(&spec).unwrap();
        let region = Region::new("eu-west").unwrap();
        let raw = DueCheckRaw {
            schema_version: crate::SCHEMA_VERSION,
            monitor_id: MonitorId::new(),
            team_id: TeamId::new(),
            region: &region,
            slot_ms: 1_700_000_000_000,
            attempt: 0,
            deadline_ms: 1_700_000_060_000,
            timeout_ms: 10_000,
            spec: &raw_spec,
        };
        let decoded: DueCheck = serde_json::from_slice(&serde_json::to_vec(&raw).unwrap()).unwrap();
        let expected = DueCheck {
            schema_version: raw.schema_version,
            monitor_id: raw.monitor_id,
            team_id: raw.team_id,
            region: region.clone(),
            slot_ms: raw.slot_ms,
            attempt: 0,
            deadline_ms: raw.deadline_ms,
            timeout_ms: raw.timeout_ms,
            spec,
        };
        assert_eq!(decoded, expected);
        assert_eq!(serde_json::to_value(&raw).unwrap(), serde_json::to_value(&expected).unwrap());
    }
}
