//! Deterministic `Nats-Msg-Id` values. A retry, a redelivery or a second
//! scheduler leader produces the same id, so the stream's duplicate window
//! drops the copy.

use uuid::Uuid;

use crate::{IncidentId, MonitorId, Region, UnixMs};

/// Due check: `<monitor_id>:<region>:<slot_ms>:<attempt>`.
pub fn due(monitor_id: MonitorId, region: &Region, slot_ms: UnixMs, attempt: u32) -> String {
    format!("{monitor_id}:{region}:{slot_ms}:{attempt}")
}

/// Check result: `r:<monitor_id>:<region>:<slot_ms>:<attempt>`.
pub fn result(monitor_id: MonitorId, region: &Region, slot_ms: UnixMs, attempt: u32) -> String {
    format!("r:{monitor_id}:{region}:{slot_ms}:{attempt}")
}

/// Event: `e:<monitor_id>:<kind>:<incident_id>:<seq>`, with `-` for an event
/// that belongs to no incident.
pub fn event(monitor_id: MonitorId, kind: &str, incident_id: Option<IncidentId>, seq: u64) -> String {
    match incident_id {
        Some(incident) => format!("e:{monitor_id}:{kind}:{incident}:{seq}"),
        None => format!("e:{monitor_id}:{kind}:-:{seq}"),
    }
}

/// Event of something a person did (an incident update, an
/// acknowledgement): `e:<monitor_id>:<kind>:<incident_id>:u:<update_id>`,
/// from its timeline entry, so it never takes a number of the evaluator's
/// sequence.
pub fn person_event(monitor_id: MonitorId, kind: &str, incident_id: IncidentId, update_id: Uuid) -> String {
    format!("e:{monitor_id}:{kind}:{incident_id}:u:{update_id}")
}

/// Heartbeat ping: `h:<monitor_id>:<ping_id>`.
pub fn heartbeat(monitor_id: MonitorId, ping_id: Uuid) -> String {
    format!("h:{monitor_id}:{ping_id}")
}

/// Configuration change: `c:<subject>:<at_ms>`.
pub fn config(subject: &str, at_ms: UnixMs) -> String {
    format!("c:{subject}:{at_ms}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_documented_shape() {
        let m: MonitorId = "0190f5d2-7c1e-7000-8000-000000000001".parse().unwrap();
        let i: IncidentId = "0190f5d2-7c1e-7000-8000-0000000000aa".parse().unwrap();
        let r = Region::new("eu-west").unwrap();
        assert_eq!(due(m, &r, 1_700_000_000_000, 0), "0190f5d2-7c1e-7000-8000-000000000001:eu-west:1700000000000:0");
        assert_eq!(result(m, &r, 5, 1), "r:0190f5d2-7c1e-7000-8000-000000000001:eu-west:5:1");
        assert_eq!(
            event(m, "opened", Some(i), 1),
            "e:0190f5d2-7c1e-7000-8000-000000000001:opened:0190f5d2-7c1e-7000-8000-0000000000aa:1"
        );
        assert_eq!(event(m, "status", None, 9), "e:0190f5d2-7c1e-7000-8000-000000000001:status:-:9");
        let u: Uuid = "0190f5d2-7c1e-7000-8000-0000000000bb".parse().unwrap();
        assert_eq!(
            person_event(m, "updated", i, u),
            "e:0190f5d2-7c1e-7000-8000-000000000001:updated:0190f5d2-7c1e-7000-8000-0000000000aa:u:\
             0190f5d2-7c1e-7000-8000-0000000000bb"
        );
    }
}
