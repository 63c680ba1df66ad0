//! Deterministic slots: when a monitor is due.
//!
//! A monitor with interval `i` is due at `slot_k = offset + k * i` (Unix ms),
//! where `offset = fnv1a64(monitor_id) % i`. The offset spreads monitors of
//! the same interval evenly across it (no spike at :00), and every scheduler
//! instance computes the same slots, so a new leader re-publishes nothing the
//! old one sent under another id.

use statushawk_schemas::{MonitorId, UnixMs, fnv1a64};

/// The monitor's offset within its interval, in ms.
pub fn offset(monitor_id: MonitorId, interval_ms: u32) -> i64 {
    let interval = u64::from(interval_ms.max(1));
    // Below `interval`, so it fits.
    (fnv1a64(monitor_id.to_string().as_bytes()) % interval) as i64
}

/// The first slot at or after `now_ms`.
pub fn next_slot(monitor_id: MonitorId, interval_ms: u32, now_ms: UnixMs) -> UnixMs {
    let interval = i64::from(interval_ms.max(1));
    let offset = offset(monitor_id, interval_ms);
    // Smallest k with offset + k * interval >= now.
    let k = (now_ms - offset).div_euclid(interval) + i64::from((now_ms - offset).rem_euclid(interval) != 0);
    offset + k * interval
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn monitor(bytes: [u8; 16]) -> MonitorId {
        MonitorId(uuid::Uuid::from_bytes(bytes))
    }

    #[test]
    fn golden_slots() {
        // Slots must not change between releases: a new leader running a newer
        // version would otherwise publish the same check under another id.
        let id: MonitorId = "0190f5d2-7c1e-7000-8000-000000000001".parse().unwrap();
        // fnv1a64 of the id is 0x45d0d29c30bfa50c (see the partition goldens).
        assert_eq!(offset(id, 60_000), (0x45d0_d29c_30bf_a50c_u64 % 60_000) as i64);
        let o = offset(id, 60_000);
        assert_eq!(
            next_slot(id, 60_000, 1_700_000_000_000),
            1_700_000_000_000 - (1_700_000_000_000 - o) % 60_000 + 60_000
        );
        assert_eq!(next_slot(id, 60_000, o), o, "a slot time is its own next slot");
        assert_eq!(next_slot(id, 60_000, o + 1), o + 60_000);
    }

    proptest! {
        #[test]
        fn the_next_slot_is_the_first_aligned_time_not_before_now(
            bytes in any::<[u8; 16]>(),
            interval in 10_000u32..=86_400_000,
            now in 0i64..4_000_000_000_000,
        ) {
            let id = monitor(bytes);
            let slot = next_slot(id, interval, now);
            prop_assert!(slot >= now);
            prop_assert!(slot < now + i64::from(interval));
            prop_assert_eq!((slot - offset(id, interval)).rem_euclid(i64::from(interval)), 0);
            // Stable: any later "now" up to the slot gives the same slot, as a
            // restarted scheduler would compute.
            prop_assert_eq!(next_slot(id, interval, slot), slot);
            prop_assert_eq!(next_slot(id, interval, slot + 1), slot + i64::from(interval));
        }
    }

    #[test]
    fn offsets_spread_evenly_across_the_interval() {
        // 60 000 monitors created in a burst (time-ordered v7 ids that share
        // most of their bits) on a 60 s interval, counted per second of the
        // interval: each second should hold about 1 000 of them.
        let interval = 60_000;
        let mut per_second = vec![0u32; 60];
        for _ in 0..60_000 {
            per_second[(offset(MonitorId::new(), interval) / 1000) as usize] += 1;
        }
        let (min, max) = (per_second.iter().min().unwrap(), per_second.iter().max().unwrap());
        assert!(*min > 850 && *max < 1150, "uneven spread: min {min}, max {max}");
    }
}
