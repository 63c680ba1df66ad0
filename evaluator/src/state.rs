//! The per-monitor state machine: confirmation per region, quorum across
//! regions. Pure: it reads results and writes down what must happen
//! ([`Changes`]); the caller persists, publishes and acks.
//!
//! Per region: `up → suspect → down → up`. A failure while up makes the
//! region suspect and asks for an urgent re-check; `confirmations`
//! consecutive failures make it down (a region outage); `recoveries`
//! consecutive successes make it up again. The monitor's incident is open
//! while at least `quorum` of its regions are down.
//!
//! Every result is keyed by `(slot_ms, attempt)`; a region ignores a result
//! that is not newer than the last one it counted, so a redelivered or late
//! result changes nothing twice. Timestamps come from the results, not the
//! clock, so a replay computes the same rows and events.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde_json::value::RawValue;
use statushawk_schemas::{
    CheckResult, CheckStatus, DueCheckRaw, IncidentEvent, IncidentEventKind, IncidentId, MonitorId, MonitorStatus,
    Region, RegionEvidence, RegionState, SCHEMA_VERSION, StatusEvent, TeamId, UnixMs, msg_id, subject,
};
use uuid::Uuid;

/// What the state machine needs to know of a monitor.
#[derive(Clone, Debug)]
pub struct Monitor {
    /// The monitor.
    pub id: MonitorId,
    /// Its team.
    pub team_id: TeamId,
    /// Display name, for incident events.
    pub name: String,
    /// Time between checks (ms); bounds how long a re-check may wait.
    pub interval_ms: u32,
    /// Time limit of one check (ms).
    pub timeout_ms: u32,
    /// Regions that check it; results from other regions are not counted.
    pub regions: Vec<Region>,
    /// Consecutive failures that make a region down (at least 1).
    pub confirmations: u32,
    /// Consecutive successes that make a down region up (at least 1).
    pub recoveries: u32,
    /// Down regions that open an incident (1 ..= regions).
    pub quorum: usize,
    /// `degraded` results count as failures.
    pub degraded_is_failure: bool,
    /// The probe as JSON (a `CheckSpec`), for re-checks; `None` for a
    /// heartbeat monitor.
    pub check: Option<Box<RawValue>>,
}

impl Monitor {
    fn quorum(&self) -> usize {
        self.quorum.clamp(1, self.regions.len().max(1))
    }
}

/// A monitor's state: what its evaluator remembers between results.
#[derive(Clone, Debug, Default)]
pub struct MonitorState {
    /// Each region that has reported.
    pub regions: BTreeMap<Region, Track>,
    /// Overall status.
    pub status: Status,
    /// The open incident, if any.
    pub incident: Option<Incident>,
}

/// The overall status and the sequence number of its latest change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Current status.
    pub status: MonitorStatus,
    /// Sequence number of the latest status event (0: none yet).
    pub seq: u64,
}

impl Default for Status {
    fn default() -> Self {
        Self { status: MonitorStatus::Up, seq: 0 }
    }
}

/// One region of a monitor.
#[derive(Clone, Debug)]
pub struct Track {
    /// Where it is in the state machine.
    pub state: RegionState,
    /// Consecutive failures (of the current streak or the open outage).
    pub fails: u32,
    /// Consecutive successes while down.
    pub passes: u32,
    /// When the current failing streak started (the outage's start).
    pub failing_since_ms: Option<UnixMs>,
    /// The open region outage, while down.
    pub outage: Option<Uuid>,
    /// `(slot_ms, attempt)` of the newest result counted.
    pub last: Option<(UnixMs, u32)>,
    /// The newest result's evidence.
    pub evidence: Option<RegionEvidence>,
}

impl Default for Track {
    fn default() -> Self {
        Self {
            state: RegionState::Up,
            fails: 0,
            passes: 0,
            failing_since_ms: None,
            outage: None,
            last: None,
            evidence: None,
        }
    }
}

/// An open incident.
#[derive(Clone, Debug)]
pub struct Incident {
    /// The incident.
    pub id: IncidentId,
    /// When it started (Unix ms).
    pub started_at_ms: UnixMs,
    /// Sequence number of its latest event.
    pub event_seq: u64,
    /// Every region that has been down during it.
    pub affected: BTreeSet<Region>,
    /// The regions down now.
    pub down: BTreeSet<Region>,
    /// Cause, from the confirming results.
    pub cause: String,
}

/// A row change in Postgres.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// A region outage starts.
    OpenOutage {
        /// New outage id.
        id: Uuid,
        /// Monitor.
        monitor_id: MonitorId,
        /// Region.
        region: Region,
        /// First failure of the streak.
        started_at_ms: UnixMs,
        /// Failures so far.
        fails: u32,
        /// Latest error.
        last_error: String,
        /// Newest result counted.
        last: (UnixMs, u32),
    },
    /// An open outage counted another result.
    CountOutage {
        /// Monitor.
        monitor_id: MonitorId,
        /// Region.
        region: Region,
        /// Consecutive failures.
        fails: u32,
        /// Consecutive successes.
        passes: u32,
        /// Latest error, if the result failed.
        last_error: Option<String>,
        /// Newest result counted.
        last: (UnixMs, u32),
    },
    /// An open outage ends.
    ResolveOutage {
        /// Monitor.
        monitor_id: MonitorId,
        /// Region.
        region: Region,
        /// When the region recovered.
        resolved_at_ms: UnixMs,
        /// Successes that recovered it.
        passes: u32,
        /// Newest result counted.
        last: (UnixMs, u32),
    },
    /// An incident opens.
    OpenIncident {
        /// New incident id.
        id: IncidentId,
        /// Team.
        team_id: TeamId,
        /// Monitor.
        monitor_id: MonitorId,
        /// Start.
        started_at_ms: UnixMs,
        /// Cause.
        cause: String,
        /// Regions down.
        affected: Vec<Region>,
    },
    /// The regions of an open incident changed.
    UpdateIncident {
        /// Incident.
        id: IncidentId,
        /// Every region down during it so far.
        affected: Vec<Region>,
        /// Sequence number of its latest event.
        event_seq: u64,
    },
    /// An incident ends.
    ResolveIncident {
        /// Incident.
        id: IncidentId,
        /// End.
        resolved_at_ms: UnixMs,
        /// Sequence number of its latest event.
        event_seq: u64,
    },
    /// A line in an incident's timeline.
    IncidentUpdate {
        /// Incident.
        incident_id: IncidentId,
        /// When.
        at_ms: UnixMs,
        /// `investigating` or `resolved`.
        resolved: bool,
        /// What happened.
        message: String,
    },
    /// The monitor's overall status changed.
    Status {
        /// Monitor.
        monitor_id: MonitorId,
        /// New status.
        status: MonitorStatus,
        /// Its sequence number.
        seq: u64,
        /// When.
        at_ms: UnixMs,
        /// Evidence of every region.
        regions: Vec<RegionEvidence>,
    },
}

impl Write {
    /// The monitor of a row that refers to it directly (and so cannot be
    /// written once the monitor is deleted).
    pub fn monitor_id(&self) -> Option<MonitorId> {
        match self {
            Self::OpenOutage { monitor_id, .. }
            | Self::CountOutage { monitor_id, .. }
            | Self::ResolveOutage { monitor_id, .. }
            | Self::OpenIncident { monitor_id, .. }
            | Self::Status { monitor_id, .. } => Some(*monitor_id),
            Self::UpdateIncident { .. } | Self::ResolveIncident { .. } | Self::IncidentUpdate { .. } => None,
        }
    }
}

/// An event for the `EVENTS` stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// `events.status.<monitor>`.
    Status(StatusEvent),
    /// `events.incident.<kind>.<monitor>`.
    Incident(IncidentEvent),
}

impl Event {
    /// Its subject (without prefix).
    pub fn subject(&self) -> String {
        match self {
            Self::Status(e) => subject::events_status(e.monitor_id),
            Self::Incident(e) => subject::events_incident(e.kind, e.monitor_id),
        }
    }

    /// Its monitor.
    pub fn monitor_id(&self) -> MonitorId {
        match self {
            Self::Status(e) => e.monitor_id,
            Self::Incident(e) => e.monitor_id,
        }
    }

    /// Its deterministic message id.
    pub fn msg_id(&self) -> String {
        match self {
            Self::Status(e) => e.msg_id(),
            Self::Incident(e) => e.msg_id(),
        }
    }

    /// Its JSON.
    pub fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        match self {
            Self::Status(e) => serde_json::to_value(e),
            Self::Incident(e) => serde_json::to_value(e),
        }
    }
}

/// An urgent re-check to publish on `checks.urgent.<region>`.
#[derive(Clone, Debug, PartialEq)]
pub struct Recheck {
    /// The monitor.
    pub monitor_id: MonitorId,
    /// Region that must run it.
    pub region: Region,
    /// Its message id.
    pub msg_id: String,
    /// The `DueCheck` as JSON.
    pub payload: Bytes,
}

/// Everything a batch of results caused.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// Postgres row changes, in order.
    pub writes: Vec<Write>,
    /// Events, in order.
    pub events: Vec<Event>,
    /// Re-checks.
    pub rechecks: Vec<Recheck>,
}

impl Changes {
    /// Whether nothing happened.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.events.is_empty() && self.rechecks.is_empty()
    }
}

/// What became of one result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Counted by its region.
    Counted,
    /// Not newer than what its region already counted (a redelivery, or a
    /// late re-check overtaken by the next scheduled result).
    Stale,
    /// Not a measurement (`skipped`), or from a region the monitor no longer
    /// has.
    Ignored,
}

/// Feeds one result to the monitor's state machine, adding what it causes to
/// `out`. `now_ms` only sets re-check deadlines.
pub fn apply(m: &Monitor, s: &mut MonitorState, r: &CheckResult, now_ms: UnixMs, out: &mut Changes) -> Applied {
    if r.status == CheckStatus::Skipped || !m.regions.contains(&r.region) {
        return Applied::Ignored;
    }
    let key = (r.slot_ms, r.attempt);
    let track = s.regions.entry(r.region.clone()).or_default();
    if track.last.is_some_and(|last| key <= last) {
        return Applied::Stale;
    }
    track.last = Some(key);
    let at = r.started_at_ms;
    let failed = r.status == CheckStatus::Down || (r.status == CheckStatus::Degraded && m.degraded_is_failure);
    let error = describe(r);
    match (track.state, failed) {
        (RegionState::Up, false) => {}
        (RegionState::Up | RegionState::Suspect, true) => {
            if track.state == RegionState::Up {
                track.fails = 0;
                track.failing_since_ms = Some(at);
            }
            track.fails += 1;
            if track.fails >= m.confirmations {
                let id = derived_id("outage", m.id, &r.region, key);
                track.state = RegionState::Down;
                track.passes = 0;
                track.outage = Some(id);
                out.writes.push(Write::OpenOutage {
                    id,
                    monitor_id: m.id,
                    region: r.region.clone(),
                    started_at_ms: track.failing_since_ms.unwrap_or(at),
                    fails: track.fails,
                    last_error: error,
                    last: key,
                });
            } else {
                track.state = RegionState::Suspect;
                if let Some(recheck) = recheck(m, r, now_ms) {
                    out.rechecks.push(recheck);
                }
            }
        }
        (RegionState::Suspect, false) => {
            track.state = RegionState::Up;
            track.fails = 0;
            track.failing_since_ms = None;
        }
        (RegionState::Down, true) => {
            track.fails += 1;
            track.passes = 0;
            out.writes.push(Write::CountOutage {
                monitor_id: m.id,
                region: r.region.clone(),
                fails: track.fails,
                passes: 0,
                last_error: Some(error),
                last: key,
            });
        }
        (RegionState::Down, false) => {
            track.passes += 1;
            if track.passes >= m.recoveries {
                out.writes.push(Write::ResolveOutage {
                    monitor_id: m.id,
                    region: r.region.clone(),
                    resolved_at_ms: at,
                    passes: track.passes,
                    last: key,
                });
                *track = Track { last: Some(key), ..Track::default() };
            } else {
                out.writes.push(Write::CountOutage {
                    monitor_id: m.id,
                    region: r.region.clone(),
                    fails: track.fails,
                    passes: track.passes,
                    last_error: None,
                    last: key,
                });
            }
        }
    }
    track.evidence = Some(RegionEvidence {
        region: r.region.clone(),
        state: track.state,
        last_status: r.status,
        error: r.error,
        message: r.message.clone(),
        at_ms: at,
    });
    evaluate(m, s, at, (&r.region, key), out);
    Applied::Counted
}

/// The namespace of the ids the state machine derives.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x5f1c_2a8e_7b3d_4c6f_9e0a_1d2b_3c4d_5e6f);

/// An id derived from the result that caused it (the monitor, its region,
/// slot and attempt): the state machine stays a pure function of its
/// inputs, and a replay of the same results mints the same ids.
fn derived_id(kind: &str, monitor: MonitorId, region: &Region, (slot_ms, attempt): (UnixMs, u32)) -> Uuid {
    let name = format!("{kind}/{}/{}/{slot_ms}/{attempt}", monitor.0, region.as_str());
    Uuid::new_v5(&ID_NAMESPACE, name.as_bytes())
}

/// Opens, updates or resolves the incident and changes the overall status
/// after a region changed.
/// `trigger` is the result that changed the region (its region, slot and
/// attempt): an incident it opens takes its id from it.
fn evaluate(m: &Monitor, s: &mut MonitorState, at: UnixMs, trigger: (&Region, (UnixMs, u32)), out: &mut Changes) {
    let down: BTreeSet<Region> =
        m.regions.iter().filter(|r| s.regions.get(*r).is_some_and(|t| t.state == RegionState::Down)).cloned().collect();
    let quorum = m.quorum();
    let evidence = evidence(m, s);
    let current_cause = cause(s, &down);
    let mut changed_incident = None;
    match s.incident.as_mut() {
        None if down.len() >= quorum => {
            // The incident starts when the quorum-th region started failing.
            let mut starts: Vec<UnixMs> =
                down.iter().filter_map(|r| s.regions.get(r).and_then(|t| t.failing_since_ms)).collect();
            starts.sort_unstable();
            let started_at_ms = starts.get(quorum - 1).copied().unwrap_or(at).min(at);
            let incident = Incident {
                id: IncidentId(derived_id("incident", m.id, trigger.0, trigger.1)),
                started_at_ms,
                event_seq: 1,
                affected: down.clone(),
                down: down.clone(),
                cause: current_cause,
            };
            out.writes.push(Write::OpenIncident {
                id: incident.id,
                team_id: m.team_id,
                monitor_id: m.id,
                started_at_ms,
                cause: incident.cause.clone(),
                affected: down.iter().cloned().collect(),
            });
            out.writes.push(Write::IncidentUpdate {
                incident_id: incident.id,
                at_ms: at,
                resolved: false,
                message: format!("Down: {}", incident.cause),
            });
            out.events.push(Event::Incident(incident_event(m, &incident, IncidentEventKind::Opened, at, &evidence)));
            changed_incident = Some(incident.id);
            s.incident = Some(incident);
        }
        Some(incident) if down.len() >= quorum && down != incident.down => {
            incident.event_seq += 1;
            incident.affected.extend(down.iter().cloned());
            incident.down = down.clone();
            out.writes.push(Write::UpdateIncident {
                id: incident.id,
                affected: incident.affected.iter().cloned().collect(),
                event_seq: incident.event_seq,
            });
            out.writes.push(Write::IncidentUpdate {
                incident_id: incident.id,
                at_ms: at,
                resolved: false,
                message: format!("Now down: {current_cause}"),
            });
            out.events.push(Event::Incident(incident_event(m, incident, IncidentEventKind::Updated, at, &evidence)));
        }
        Some(incident) if down.len() < quorum => {
            incident.event_seq += 1;
            incident.down = down.clone();
            let resolved_at_ms = at.max(incident.started_at_ms);
            out.writes.push(Write::ResolveIncident { id: incident.id, resolved_at_ms, event_seq: incident.event_seq });
            let message = if down.is_empty() {
                "Recovered in every region.".to_owned()
            } else {
                format!("Recovered; still down in {} (below the quorum of {quorum}).", join(&down))
            };
            out.writes.push(Write::IncidentUpdate { incident_id: incident.id, at_ms: at, resolved: true, message });
            let mut event = incident_event(m, incident, IncidentEventKind::Resolved, at, &evidence);
            event.resolved_at_ms = Some(resolved_at_ms);
            out.events.push(Event::Incident(event));
            changed_incident = Some(incident.id);
            s.incident = None;
        }
        _ => {}
    }

    let status = if s.incident.is_some() {
        MonitorStatus::Down
    } else if !down.is_empty() || evidence.iter().any(|e| e.last_status == CheckStatus::Degraded) {
        MonitorStatus::Degraded
    } else {
        MonitorStatus::Up
    };
    if status != s.status.status {
        let previous = s.status.status;
        s.status = Status { status, seq: s.status.seq + 1 };
        out.writes.push(Write::Status {
            monitor_id: m.id,
            status,
            seq: s.status.seq,
            at_ms: at,
            regions: evidence.clone(),
        });
        out.events.push(Event::Status(StatusEvent {
            schema_version: SCHEMA_VERSION,
            monitor_id: m.id,
            team_id: m.team_id,
            seq: s.status.seq,
            at_ms: at,
            status,
            previous,
            incident_id: changed_incident,
            regions: evidence,
        }));
    }
}

fn incident_event(
    m: &Monitor,
    incident: &Incident,
    kind: IncidentEventKind,
    at: UnixMs,
    evidence: &[RegionEvidence],
) -> IncidentEvent {
    IncidentEvent {
        schema_version: SCHEMA_VERSION,
        kind,
        incident_id: incident.id,
        monitor_id: m.id,
        monitor_name: m.name.clone(),
        team_id: m.team_id,
        seq: incident.event_seq,
        at_ms: at,
        started_at_ms: incident.started_at_ms,
        resolved_at_ms: None,
        cause: incident.cause.clone(),
        affected_regions: incident.down.iter().cloned().collect(),
        regions: evidence.to_vec(),
        message: None,
        update: None,
    }
}

/// The latest evidence of each of the monitor's regions that has reported.
fn evidence(m: &Monitor, s: &MonitorState) -> Vec<RegionEvidence> {
    m.regions.iter().filter_map(|r| s.regions.get(r).and_then(|t| t.evidence.clone())).collect()
}

/// `eu-west: connect: connection refused; us-east: timeout`.
fn cause(s: &MonitorState, down: &BTreeSet<Region>) -> String {
    let parts: Vec<String> =
        down.iter()
            .map(|r| {
                let detail = s.regions.get(r).and_then(|t| t.evidence.as_ref()).map_or_else(String::new, |e| {
                    describe_parts(e.last_status, e.error.as_ref(), e.message.as_deref())
                });
                format!("{r}: {detail}")
            })
            .collect();
    parts.join("; ")
}

fn describe(r: &CheckResult) -> String {
    describe_parts(r.status, r.error.as_ref(), r.message.as_deref())
}

fn describe_parts(status: CheckStatus, error: Option<&statushawk_schemas::ErrorKind>, message: Option<&str>) -> String {
    let kind = error.map_or(status.as_str(), |e| e.as_str());
    match message {
        Some(message) if !message.is_empty() => format!("{kind}: {message}"),
        _ => kind.to_owned(),
    }
}

fn join(regions: &BTreeSet<Region>) -> String {
    regions.iter().map(Region::as_str).collect::<Vec<_>>().join(", ")
}

/// The urgent re-check of a failed result: same slot, next attempt.
fn recheck(m: &Monitor, r: &CheckResult, now_ms: UnixMs) -> Option<Recheck> {
    let spec = m.check.as_deref()?;
    let attempt = r.attempt + 1;
    let due = DueCheckRaw {
        schema_version: SCHEMA_VERSION,
        monitor_id: m.id,
        team_id: m.team_id,
        region: &r.region,
        slot_ms: r.slot_ms,
        attempt,
        // A re-check nobody ran within an interval is overtaken by the next slot.
        deadline_ms: now_ms + i64::from(m.interval_ms.max(10_000)),
        timeout_ms: m.timeout_ms,
        spec,
    };
    let payload = serde_json::to_vec(&due).ok()?;
    Some(Recheck {
        monitor_id: m.id,
        region: r.region.clone(),
        msg_id: msg_id::due(m.id, &r.region, r.slot_ms, attempt),
        payload: Bytes::from(payload),
    })
}

#[cfg(test)]
mod tests {
    use statushawk_schemas::{CheckSpec, DueCheck, ErrorKind, HttpSpec, Timings};

    use super::*;

    fn region(name: &str) -> Region {
        Region::new(name).unwrap()
    }

    fn monitor(regions: &[&str], quorum: usize) -> Monitor {
        Monitor {
            id: MonitorId::new(),
            team_id: TeamId::new(),
            name: "api".into(),
            interval_ms: 60_000,
            timeout_ms: 5_000,
            regions: regions.iter().map(|r| region(r)).collect(),
            confirmations: 2,
            recoveries: 1,
            quorum,
            degraded_is_failure: false,
            check: Some(serde_json::value::to_raw_value(&CheckSpec::Http(HttpSpec::get("https://x.test/"))).unwrap()),
        }
    }

    fn result(m: &Monitor, region_name: &str, slot: i64, attempt: u32, status: CheckStatus) -> CheckResult {
        CheckResult {
            schema_version: SCHEMA_VERSION,
            monitor_id: m.id,
            team_id: m.team_id,
            region: region(region_name),
            slot_ms: slot,
            attempt,
            prober_id: "p".into(),
            started_at_ms: slot + i64::from(attempt) * 1000,
            status,
            error: (status == CheckStatus::Down).then_some(ErrorKind::Connect),
            message: (status == CheckStatus::Down).then(|| "connection refused".into()),
            timings: Timings::default(),
            ip: None,
            http_status: None,
            body_bytes: None,
            cert_expires_at_ms: None,
            cert_issuer: None,
            assertions: Vec::new(),
        }
    }

    struct Run {
        m: Monitor,
        s: MonitorState,
        out: Changes,
    }

    impl Run {
        fn new(m: Monitor) -> Self {
            Self { m, s: MonitorState::default(), out: Changes::default() }
        }
        fn feed(&mut self, region: &str, slot: i64, attempt: u32, status: CheckStatus) -> Applied {
            let r = result(&self.m, region, slot, attempt, status);
            apply(&self.m, &mut self.s, &r, 0, &mut self.out)
        }
        fn incident_events(&self) -> Vec<IncidentEventKind> {
            self.out
                .events
                .iter()
                .filter_map(|e| match e {
                    Event::Incident(i) => Some(i.kind),
                    Event::Status(_) => None,
                })
                .collect()
        }
        fn statuses(&self) -> Vec<MonitorStatus> {
            self.out
                .events
                .iter()
                .filter_map(|e| match e {
                    Event::Status(s) => Some(s.status),
                    Event::Incident(_) => None,
                })
                .collect()
        }
    }

    use CheckStatus::{Degraded, Down, Skipped, Up};

    #[test]
    fn one_failure_then_a_passing_recheck_opens_nothing() {
        let mut run = Run::new(monitor(&["eu"], 1));
        assert_eq!(run.feed("eu", 1000, 0, Down), Applied::Counted);
        assert_eq!(run.s.regions[&region("eu")].state, RegionState::Suspect);
        assert_eq!(run.out.rechecks.len(), 1);
        let due: DueCheck = serde_json::from_slice(&run.out.rechecks[0].payload).unwrap();
        assert_eq!((due.slot_ms, due.attempt, due.region.as_str()), (1000, 1, "eu"));
        assert_eq!(run.out.rechecks[0].msg_id, due.msg_id());
        run.feed("eu", 1000, 1, Up);
        assert_eq!(run.s.regions[&region("eu")].state, RegionState::Up);
        assert!(run.out.writes.is_empty(), "{:?}", run.out.writes);
        assert!(run.out.events.is_empty());
    }

    #[test]
    fn a_confirmed_failure_opens_once_and_resolves_once() {
        let mut run = Run::new(monitor(&["eu"], 1));
        run.feed("eu", 1000, 0, Down);
        run.feed("eu", 1000, 1, Down);
        run.feed("eu", 2000, 0, Down);
        run.feed("eu", 3000, 0, Down);
        assert_eq!(run.incident_events(), [IncidentEventKind::Opened]);
        run.feed("eu", 4000, 0, Up);
        run.feed("eu", 5000, 0, Up);
        assert_eq!(run.incident_events(), [IncidentEventKind::Opened, IncidentEventKind::Resolved]);
        assert_eq!(run.statuses(), [MonitorStatus::Down, MonitorStatus::Up]);
        let opened = run.out.writes.iter().find_map(|w| match w {
            Write::OpenIncident { started_at_ms, .. } => Some(*started_at_ms),
            _ => None,
        });
        // The incident starts at the first failure, not at the confirmation.
        assert_eq!(opened, Some(1000));
        assert_eq!(run.out.rechecks.len(), 1, "only the first failure asks for a re-check");
    }

    #[test]
    fn a_replay_of_the_same_results_gives_the_same_changes_ids_included() {
        let m = monitor(&["eu", "us"], 2);
        let replay = || {
            let mut run = Run::new(m.clone());
            for (region, slot, attempt, status) in [
                ("eu", 1000, 0, Down),
                ("eu", 1000, 1, Down),
                ("us", 1000, 0, Down),
                ("us", 1000, 1, Down),
                ("eu", 2000, 0, Down),
                ("us", 2000, 0, Up),
                ("eu", 3000, 0, Up),
                ("us", 3000, 0, Down),
            ] {
                run.feed(region, slot, attempt, status);
            }
            run.out
        };
        let (first, second) = (replay(), replay());
        assert!(first.writes.iter().any(|w| matches!(w, Write::OpenIncident { .. })), "{first:?}");
        assert_eq!(first, second, "the state machine is a function of its inputs");
        // Another monitor's same results mint other ids.
        let mut other = Run::new(monitor(&["eu", "us"], 2));
        for (region, attempt) in [("eu", 0), ("eu", 1), ("us", 0), ("us", 1)] {
            other.feed(region, 1000, attempt, Down);
        }
        let incident = |out: &Changes| {
            out.writes.iter().find_map(|w| match w {
                Write::OpenIncident { id, .. } => Some(*id),
                _ => None,
            })
        };
        assert_ne!(incident(&first), incident(&other.out));
    }

    #[test]
    fn a_redelivered_or_late_result_is_stale() {
        let mut run = Run::new(monitor(&["eu"], 1));
        run.feed("eu", 1000, 0, Down);
        run.feed("eu", 1000, 1, Down);
        let writes = run.out.writes.len();
        assert_eq!(run.feed("eu", 1000, 1, Down), Applied::Stale);
        assert_eq!(run.feed("eu", 1000, 0, Up), Applied::Stale);
        assert_eq!(run.out.writes.len(), writes);
        assert_eq!(run.feed("eu", 2000, 0, Skipped), Applied::Ignored);
        assert_eq!(run.feed("ap", 2000, 0, Down), Applied::Ignored);
    }

    #[test]
    fn quorum_of_two_in_three_regions() {
        let mut run = Run::new(monitor(&["a", "b", "c"], 2));
        run.feed("a", 1000, 0, Down);
        run.feed("a", 1000, 1, Down);
        run.feed("b", 1000, 0, Up);
        run.feed("c", 1000, 0, Up);
        assert!(run.incident_events().is_empty());
        assert!(run.out.writes.iter().any(|w| matches!(w, Write::OpenOutage { region, .. } if region.as_str() == "a")));
        assert_eq!(run.statuses(), [MonitorStatus::Degraded], "one region down is a partial outage");
        run.feed("b", 2000, 0, Down);
        run.feed("b", 2000, 1, Down);
        assert_eq!(run.incident_events(), [IncidentEventKind::Opened]);
        run.feed("c", 3000, 0, Down);
        run.feed("c", 3000, 1, Down);
        assert_eq!(run.incident_events(), [IncidentEventKind::Opened, IncidentEventKind::Updated]);
        run.feed("c", 4000, 0, Up);
        run.feed("b", 4000, 0, Up);
        assert_eq!(
            run.incident_events(),
            [
                IncidentEventKind::Opened,
                IncidentEventKind::Updated,
                IncidentEventKind::Updated,
                IncidentEventKind::Resolved
            ]
        );
        assert_eq!(run.statuses(), [MonitorStatus::Degraded, MonitorStatus::Down, MonitorStatus::Degraded]);
        let seqs: Vec<u64> = run
            .out
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Incident(i) => Some(i.seq),
                Event::Status(_) => None,
            })
            .collect();
        assert_eq!(seqs, [1, 2, 3, 4]);
    }

    #[test]
    fn recoveries_need_consecutive_successes() {
        let mut m = monitor(&["eu"], 1);
        m.recoveries = 2;
        let mut run = Run::new(m);
        run.feed("eu", 1000, 0, Down);
        run.feed("eu", 1000, 1, Down);
        run.feed("eu", 2000, 0, Up);
        run.feed("eu", 3000, 0, Down);
        run.feed("eu", 4000, 0, Up);
        assert_eq!(run.incident_events(), [IncidentEventKind::Opened]);
        run.feed("eu", 5000, 0, Up);
        assert_eq!(run.incident_events(), [IncidentEventKind::Opened, IncidentEventKind::Resolved]);
    }

    #[test]
    fn degraded_opens_nothing_unless_asked() {
        let mut run = Run::new(monitor(&["eu"], 1));
        run.feed("eu", 1000, 0, Degraded);
        run.feed("eu", 2000, 0, Degraded);
        assert!(run.incident_events().is_empty());
        assert_eq!(run.statuses(), [MonitorStatus::Degraded]);
        run.feed("eu", 3000, 0, Up);
        assert_eq!(run.statuses(), [MonitorStatus::Degraded, MonitorStatus::Up]);

        let mut m = monitor(&["eu"], 1);
        m.degraded_is_failure = true;
        let mut run = Run::new(m);
        run.feed("eu", 1000, 0, Degraded);
        run.feed("eu", 1000, 1, Degraded);
        assert_eq!(run.incident_events(), [IncidentEventKind::Opened]);
    }

    #[test]
    fn one_confirmation_needs_no_recheck() {
        let mut m = monitor(&["eu"], 1);
        m.confirmations = 1;
        let mut run = Run::new(m);
        run.feed("eu", 1000, 0, Down);
        assert!(run.out.rechecks.is_empty());
        assert_eq!(run.incident_events(), [IncidentEventKind::Opened]);
    }
}
