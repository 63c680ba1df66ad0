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
