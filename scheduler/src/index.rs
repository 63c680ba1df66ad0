//! The in-memory monitor index and its timers.
//!
//! One compact entry per scheduled monitor in a slab, a map from id to slab
//! slot, and one min-heap of timers (`slot_ms`, slab slot, generation). A
//! changed or removed monitor bumps its slot's generation, so its old timer
//! is skipped when it comes up instead of being searched for in the heap.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use serde_json::value::RawValue;
use statushawk_common::secrets::{Sealed, SecretBox, SecretsError, restore_spec_secrets};
use statushawk_schemas::{MonitorConfig, MonitorId, Region, TeamId, UnixMs};

use crate::slot::next_slot;

/// What the scheduler needs of a monitor.
#[derive(Clone, Debug)]
pub struct Monitor {
    /// The monitor.
    pub id: MonitorId,
    /// Its team.
    pub team_id: TeamId,
    /// Time between checks (ms).
    pub interval_ms: u32,
    /// Hard time limit of one check (ms).
    pub timeout_ms: u32,
    /// Regions that check it.
    pub regions: Vec<Region>,
    /// The serialized `CheckSpec`.
    pub spec: Box<RawValue>,
    /// Version of this configuration (its last change, Unix ms).
    pub version_ms: UnixMs,
}

impl Monitor {
    /// The scheduling view of a configuration, its sealed secrets opened
    /// back into the spec, or `None` when it is not to be scheduled
    /// (paused, or a heartbeat monitor, which has no probe). A spec whose
    /// secrets do not open is an error: checked without its credentials, it
    /// would fail for the wrong reason.
    pub fn from_config(config: &MonitorConfig, secrets: Option<&SecretBox>) -> Result<Option<Self>, SecretsError> {
        if config.paused {
            return Ok(None);
        }
        let Some(mut check) = config.spec.check() else { return Ok(None) };
        let sealed = config.sealed_secrets.as_ref().map(Sealed::from_wire).transpose()?;
        restore_spec_secrets(secrets, config.id, sealed.as_ref(), &mut check)?;
        let Ok(spec) = serde_json::value::to_raw_value(&check) else { return Ok(None) };
        Ok(Some(Self {
            id: config.id,
            team_id: config.team_id,
            interval_ms: config.interval_ms,
            timeout_ms: config.timeout_ms,
            regions: config.regions.clone(),
            spec,
            version_ms: config.updated_at_ms,
        }))
    }
}

/// More distinct regions than the index can hold.
#[derive(Debug, thiserror::Error)]
#[error("more than {MAX_REGIONS} distinct regions")]
pub struct TooManyRegions;

/// Distinct regions the index holds (one bit each).
pub const MAX_REGIONS: usize = 64;

/// A scheduled monitor, as stored: 48 bytes, plus its spec in the index's
/// spec arena (a million monitors must fit well under 300 MiB).
#[derive(Debug)]
pub struct Entry {
    /// The monitor.
    pub id: MonitorId,
    /// Time between checks (ms).
    pub interval_ms: u32,
    /// Hard time limit of one check (ms).
    pub timeout_ms: u32,
    regions: u64,
    version_ms: UnixMs,
    team: u32,
    seen: u32,
    spec_at: u32,
    spec_len: u32,
}

/// A timer: a slab slot is due at `slot_ms`, if its generation still matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    slot_ms: UnixMs,
    slot: u32,
    generation: u32,
}

/// What an upsert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upsert {
    /// A new monitor, due at its next slot.
    Added,
    /// A newer configuration of a known monitor.
    Updated,
    /// Not newer than what the index holds: ignored.
    Stale,
}

/// Every scheduled monitor and when it is due next.
#[derive(Default)]
pub struct Index {
    entries: Vec<Option<Entry>>,
    generations: Vec<u32>,
    free: Vec<u32>,
    by_id: HashMap<MonitorId, u32>,
    timers: BinaryHeap<Reverse<Timer>>,
    regions: Vec<Region>,
    epoch: u32,
    /// Every entry's serialized spec, back to back (no allocation per
    /// monitor); `spec_garbage` bytes of it belong to no entry any more.
    specs: Vec<u8>,
    spec_garbage: usize,
    /// Teams, interned: an entry holds an index into this.
    teams: Vec<TeamId>,
    team_ids: HashMap<TeamId, u32>,
    /// Recent removals and their versions, so a reconcile row read before a
    /// deletion does not bring the monitor back; cleared by [`Index::sweep`].
    removed: HashMap<MonitorId, UnixMs>,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scheduled monitors.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The entry of a monitor.
    pub fn get(&self, id: MonitorId) -> Option<&Entry> {
        let slot = *self.by_id.get(&id)?;
        self.entries[slot as usize].as_ref()
    }

    /// The regions of an entry.
    pub fn regions_of<'a>(&'a self, entry: &Entry) -> impl Iterator<Item = &'a Region> + 'a {
        let mask = entry.regions;
        self.regions.iter().enumerate().filter(move |(bit, _)| mask & (1 << bit) != 0).map(|(_, region)| region)
    }

    fn region_mask(&mut self, regions: &[Region]) -> Result<u64, TooManyRegions> {
        let mut mask = 0u64;
        for region in regions {
            let bit = match self.regions.iter().position(|r| r == region) {
                Some(bit) => bit,
                None if self.regions.len() < MAX_REGIONS => {
                    self.regions.push(region.clone());
                    self.regions.len() - 1
                }
                None => return Err(TooManyRegions),
            };
            mask |= 1 << bit;
        }
        Ok(mask)
    }

    /// Adds a monitor or applies a newer configuration of it. A new monitor,
    /// or one whose interval changed, is due at its next slot at or after
    /// `now_ms`; other changes apply from its next firing.
    pub fn upsert(&mut self, monitor: Monitor, now_ms: UnixMs) -> Result<Upsert, TooManyRegions> {
        let regions = self.region_mask(&monitor.regions)?;
        let epoch = self.epoch;
        let existing = self.by_id.get(&monitor.id).copied();
        if let Some(slot) = existing {
            let Some(entry) = self.entries[slot as usize].as_mut() else { return Ok(Upsert::Stale) };
            entry.seen = epoch;
            if monitor.version_ms < entry.version_ms {
                return Ok(Upsert::Stale);
            }
        } else if self.removed.get(&monitor.id).is_some_and(|removed| *removed >= monitor.version_ms) {
            return Ok(Upsert::Stale);
        }
        let team = self.team(monitor.team_id);
        let (spec_at, spec_len) = self.store_spec(monitor.spec.get());
        let entry = Entry {
            id: monitor.id,
            interval_ms: monitor.interval_ms,
            timeout_ms: monitor.timeout_ms,
            regions,
            version_ms: monitor.version_ms,
            team,
            seen: epoch,
            spec_at,
            spec_len,
        };
        if let Some(slot) = existing {
            let old = self.entries[slot as usize].replace(entry);
            let old_interval = old.map(|old| {
                self.spec_garbage += old.spec_len as usize;
                old.interval_ms
            });
            if old_interval != Some(monitor.interval_ms) {
                self.generations[slot as usize] = self.generations[slot as usize].wrapping_add(1);
                self.arm(slot, next_slot(monitor.id, monitor.interval_ms, now_ms));
            }
            self.compact_specs();
            return Ok(Upsert::Updated);
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.entries[slot as usize] = Some(entry);
                slot
            }
            None => {
                self.entries.push(Some(entry));
                self.generations.push(0);
                // The slab never holds more than u32::MAX monitors.
                (self.entries.len() - 1) as u32
            }
        };
        self.by_id.insert(monitor.id, slot);
        self.arm(slot, next_slot(monitor.id, monitor.interval_ms, now_ms));
        Ok(Upsert::Added)
    }

    fn team(&mut self, team_id: TeamId) -> u32 {
        if let Some(team) = self.team_ids.get(&team_id) {
            return *team;
        }
        self.teams.push(team_id);
        let team = (self.teams.len() - 1) as u32;
        self.team_ids.insert(team_id, team);
        team
    }

    /// The team of an entry.
    pub fn team_of(&self, entry: &Entry) -> TeamId {
        self.teams[entry.team as usize]
    }

    fn store_spec(&mut self, spec: &str) -> (u32, u32) {
        let at = self.specs.len() as u32;
        self.specs.extend_from_slice(spec.as_bytes());
        (at, spec.len() as u32)
    }

    /// The serialized `CheckSpec` of an entry.
    pub fn spec_of(&self, entry: &Entry) -> &str {
        let bytes = &self.specs[entry.spec_at as usize..(entry.spec_at + entry.spec_len) as usize];
        // Only whole `&str`s are ever stored.
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    /// Rewrites the spec arena once most of it is garbage.
    fn compact_specs(&mut self) {
        if self.spec_garbage < (1 << 20) || self.spec_garbage * 2 < self.specs.len() {
            return;
        }
        let mut specs = Vec::with_capacity(self.specs.len() - self.spec_garbage);
        for entry in self.entries.iter_mut().flatten() {
            let at = specs.len() as u32;
            specs.extend_from_slice(&self.specs[entry.spec_at as usize..(entry.spec_at + entry.spec_len) as usize]);
            entry.spec_at = at;
        }
        self.specs = specs;
        self.spec_garbage = 0;
    }

    /// Removes a monitor (deleted, paused, or turned into a heartbeat) unless
    /// the index holds a newer configuration than `version_ms`.
    pub fn remove(&mut self, id: MonitorId, version_ms: UnixMs) -> bool {
        let tombstone = self.removed.entry(id).or_insert(version_ms);
        *tombstone = (*tombstone).max(version_ms);
        let Some(&slot) = self.by_id.get(&id) else { return false };
        if self.entries[slot as usize].as_ref().is_some_and(|e| e.version_ms > version_ms) {
            return false;
        }
        self.drop_slot(id, slot);
        true
    }

    fn drop_slot(&mut self, id: MonitorId, slot: u32) {
        self.by_id.remove(&id);
        if let Some(old) = self.entries[slot as usize].take() {
            self.spec_garbage += old.spec_len as usize;
        }
        self.generations[slot as usize] = self.generations[slot as usize].wrapping_add(1);
        self.free.push(slot);
    }

    fn arm(&mut self, slot: u32, slot_ms: UnixMs) {
        let generation = self.generations[slot as usize];
        self.timers.push(Reverse(Timer { slot_ms, slot, generation }));
    }

    /// When the next monitor is due, if any.
    pub fn next_due(&mut self) -> Option<UnixMs> {
        while let Some(Reverse(timer)) = self.timers.peek() {
            if self.generations[timer.slot as usize] == timer.generation {
                return Some(timer.slot_ms);
            }
            self.timers.pop(); // a changed or removed monitor's old timer
        }
        None
    }

    /// Fires every monitor due at or before `now_ms`, at most `max` of them:
    /// `fire(entry, slot_ms)` for each, then re-arms it for its next slot
    /// (skipping slots already in the past: no burst after a stall).
    pub fn fire_due(&mut self, now_ms: UnixMs, max: usize, mut fire: impl FnMut(&Self, &Entry, UnixMs)) -> usize {
        let mut fired = 0;
        while fired < max {
            let Some(slot_ms) = self.next_due() else { break };
            if slot_ms > now_ms {
                break;
            }
            let Some(Reverse(timer)) = self.timers.pop() else { break };
            let Some(entry) = self.entries[timer.slot as usize].as_ref() else { continue };
            fire(self, entry, slot_ms);
            fired += 1;
            let interval = i64::from(entry.interval_ms);
            let mut next = slot_ms + interval;
            if next < now_ms {
                next = next_slot(entry.id, entry.interval_ms, now_ms);
            }
            self.timers.push(Reverse(Timer { slot_ms: next, ..timer }));
        }
        fired
    }

    /// Starts a reconcile pass: monitors upserted from now on are marked
    /// seen; [`Index::sweep`] then removes the rest.
    pub fn begin_reconcile(&mut self) -> u32 {
        self.epoch = self.epoch.wrapping_add(1);
        self.epoch
    }

    /// Ends a reconcile pass: removes every monitor not seen since
    /// [`Index::begin_reconcile`] returned `epoch`. Returns how many.
    pub fn sweep(&mut self, epoch: u32) -> usize {
        let unseen: Vec<(MonitorId, u32)> = self
            .by_id
            .iter()
            .filter(|(_, slot)| self.entries[**slot as usize].as_ref().is_some_and(|e| e.seen != epoch))
            .map(|(id, slot)| (*id, *slot))
            .collect();
        for (id, slot) in &unseen {
            self.drop_slot(*id, *slot);
        }
        self.compact_specs();
        // This pass read Postgres after every earlier removal.
        self.removed.clear();
        unseen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor(interval_ms: u32, regions: &[&str], version_ms: i64) -> Monitor {
        Monitor {
            id: MonitorId::new(),
            team_id: TeamId::new(),
            interval_ms,
            timeout_ms: 5_000,
            regions: regions.iter().map(|r| Region::new(*r).unwrap()).collect(),
            spec: serde_json::value::to_raw_value(&serde_json::json!({"kind": "tcp", "host": "h", "port": 1})).unwrap(),
            version_ms,
        }
    }

    /// Fires everything due up to `until`, stepping 1 ms, as the loop would.
    fn run(index: &mut Index, from: i64, until: i64) -> Vec<(MonitorId, i64, Vec<String>)> {
        let mut fired = Vec::new();
        let mut now = from;
        while now <= until {
            index.fire_due(now, usize::MAX, |index, entry, slot| {
                fired.push((entry.id, slot, index.regions_of(entry).map(|r| r.to_string()).collect()));
            });
            now = index.next_due().unwrap_or(until + 1).max(now + 1);
        }
        fired
    }

    #[test]
    fn monitors_fire_at_each_slot_in_every_region() {
        let mut index = Index::new();
        let m = monitor(10_000, &["eu-west", "us-east"], 1);
        let id = m.id;
        index.upsert(m, 0).unwrap();
        let fired = run(&mut index, 0, 35_000);
        let first = crate::slot::next_slot(id, 10_000, 0);
        let slots: Vec<i64> = fired.iter().map(|f| f.1).collect();
        let expected: Vec<i64> = (0..4).map(|k| first + k * 10_000).filter(|s| *s <= 35_000).collect();
        assert_eq!(slots, expected);
        assert!(fired.iter().all(|f| f.2 == ["eu-west", "us-east"]));
    }

    #[test]
    fn after_a_stall_the_next_slot_is_in_the_future_with_no_burst() {
        let mut index = Index::new();
        let m = monitor(10_000, &["local"], 1);
        let id = m.id;
        index.upsert(m, 0).unwrap();
        let first = index.next_due().unwrap();
        // The loop stalls for a minute: only one check fires, then the next
        // future slot.
        let now = first + 60_001;
        assert_eq!(index.fire_due(now, usize::MAX, |_, _, _| {}), 1);
        assert_eq!(index.next_due(), Some(crate::slot::next_slot(id, 10_000, now)));
    }

    #[test]
    fn changes_apply_at_the_next_slot_and_stale_ones_are_ignored() {
        let mut index = Index::new();
        let m = monitor(10_000, &["local"], 100);
        let id = m.id;
        index.upsert(m.clone(), 0).unwrap();

        // Interval change: re-armed at the next slot of the new interval.
        let changed = Monitor { interval_ms: 20_000, version_ms: 200, ..m.clone() };
        assert_eq!(index.upsert(changed, 5_000).unwrap(), Upsert::Updated);
        assert_eq!(index.next_due(), Some(crate::slot::next_slot(id, 20_000, 5_000)));
        // An older message is ignored.
        assert_eq!(
            index.upsert(Monitor { interval_ms: 30_000, version_ms: 150, ..m.clone() }, 6_000).unwrap(),
            Upsert::Stale
        );
        assert_eq!(index.get(id).unwrap().interval_ms, 20_000);
        // A removal older than the current config is ignored; a newer one applies.
        assert!(!index.remove(id, 150));
        assert!(index.remove(id, 300));
        assert!(index.is_empty());
        index.compact_specs();
        assert!(run(&mut index, 0, 100_000).is_empty(), "a removed monitor never fires");
    }

    #[test]
    fn reconcile_removes_what_the_source_no_longer_has() {
        let mut index = Index::new();
        let (a, b) = (monitor(10_000, &["local"], 1), monitor(10_000, &["local"], 1));
        let (a_id, b_id) = (a.id, b.id);
        index.upsert(a.clone(), 0).unwrap();
        index.upsert(b, 0).unwrap();
        let epoch = index.begin_reconcile();
        index.upsert(a, 0).unwrap(); // still in Postgres, unchanged
        assert_eq!(index.sweep(epoch), 1);
        assert!(index.get(a_id).is_some() && index.get(b_id).is_none());
        // The freed slab slot is reused without reviving b's old timer.
        let c = monitor(10_000, &["local"], 1);
        let c_id = c.id;
        index.upsert(c, 0).unwrap();
        let fired: Vec<MonitorId> = run(&mut index, 0, 10_000).into_iter().map(|f| f.0).collect();
        assert!(fired.iter().all(|id| *id == a_id || *id == c_id), "{fired:?}");
    }

    #[test]
    fn the_spec_arena_is_compacted_and_keeps_every_spec() {
        let mut index = Index::new();
        let monitors: Vec<Monitor> = (0..100).map(|_| monitor(10_000, &["local"], 1)).collect();
        for m in &monitors {
            index.upsert(m.clone(), 0).unwrap();
        }
        // Many new versions of one monitor's spec: garbage piles up, then goes.
        let busy = monitors[0].clone();
        for version in 2..40_000 {
            let spec = serde_json::json!({"kind": "tcp", "host": format!("host-{version}"), "port": 1});
            let spec = serde_json::value::to_raw_value(&spec).unwrap();
            index.upsert(Monitor { spec, version_ms: version, ..busy.clone() }, 0).unwrap();
        }
        assert!(index.specs.len() < 4 << 20, "arena not compacted: {} bytes", index.specs.len());
        assert_eq!(index.spec_of(index.get(busy.id).unwrap()), r#"{"host":"host-39999","kind":"tcp","port":1}"#);
        for m in &monitors[1..] {
            assert_eq!(index.spec_of(index.get(m.id).unwrap()), m.spec.get());
        }
    }

    #[test]
    fn a_reconcile_row_read_before_a_deletion_does_not_revive_it() {
        let mut index = Index::new();
        let m = monitor(10_000, &["local"], 100);
        let id = m.id;
        let epoch = index.begin_reconcile();
        // The delete message arrives before the (older) row of the pass.
        index.remove(id, 200);
        assert_eq!(index.upsert(m.clone(), 0).unwrap(), Upsert::Stale);
        assert!(index.get(id).is_none());
        index.sweep(epoch);
        // A genuinely newer configuration (re-created) is scheduled again.
        assert_eq!(index.upsert(Monitor { version_ms: 300, ..m }, 0).unwrap(), Upsert::Added);
    }

    #[test]
    fn sealed_credentials_are_opened_into_the_spec_that_is_scheduled() {
        use statushawk_schemas::{MonitorSpec, TcpSpec};
        let key = SecretBox::new(&[5u8; 32]).unwrap();
        let id = MonitorId::new();
        let mut spec = MonitorSpec::Tcp(TcpSpec {
            host: "cache".into(),
            port: 6379,
            send: Some("AUTH s3cret\r\n".into()),
            expect: None,
        });
        let sealed = key.seal_spec_secrets(id, &spec.take_secrets()).unwrap();
        let config = MonitorConfig {
            id,
            team_id: TeamId::new(),
            name: "cache".into(),
            interval_ms: 10_000,
            timeout_ms: 1_000,
            regions: vec![Region::new("local").unwrap()],
            confirmations: 2,
            recoveries: 1,
            quorum: 1,
            paused: false,
            degraded_is_failure: false,
            spec,
            sealed_secrets: Some(sealed.to_wire()),
            updated_at_ms: 7,
        };
        let m = Monitor::from_config(&config, Some(&key)).unwrap().unwrap();
        assert!(m.spec.get().contains("AUTH s3cret"), "{}", m.spec.get());
        assert!(Monitor::from_config(&config, None).is_err(), "no key: not scheduled without its credentials");
        let other = SecretBox::new(&[6u8; 32]).unwrap();
        assert!(Monitor::from_config(&config, Some(&other)).is_err());
    }

    #[test]
    fn paused_and_heartbeat_configurations_are_not_scheduled() {
        use statushawk_schemas::{HeartbeatSchedule, MonitorSpec, TcpSpec};
        let mut config = MonitorConfig {
            id: MonitorId::new(),
            team_id: TeamId::new(),
            name: "db".into(),
            interval_ms: 10_000,
            timeout_ms: 1_000,
            regions: vec![Region::new("local").unwrap()],
            confirmations: 2,
            recoveries: 1,
            quorum: 1,
            paused: false,
            degraded_is_failure: false,
            spec: MonitorSpec::Tcp(TcpSpec { host: "db".into(), port: 5432, send: None, expect: None }),
            sealed_secrets: None,
            updated_at_ms: 7,
        };
        let m = Monitor::from_config(&config, None).unwrap().unwrap();
        assert_eq!(m.spec.get(), r#"{"kind":"tcp","host":"db","port":5432}"#);
        let mut index = Index::new();
        index.upsert(m.clone(), 0).unwrap();
        let entry = index.get(m.id).unwrap();
        assert_eq!(index.spec_of(entry), m.spec.get());
        assert_eq!(index.team_of(entry), m.team_id);
        config.paused = true;
        assert!(Monitor::from_config(&config, None).unwrap().is_none());
        config.paused = false;
        config.spec = MonitorSpec::Heartbeat(HeartbeatSchedule {
            period_ms: Some(60_000),
            cron: None,
            timezone: None,
            grace_ms: 1,
        });
        assert!(Monitor::from_config(&config, None).unwrap().is_none());
    }
}
