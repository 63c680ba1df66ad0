//! Which evaluator partition owns a monitor.
//!
//! `partition = fnv1a64(canonical monitor id) % partitions`. The input is the
//! monitor id's canonical text (lower-case, hyphenated, 36 bytes), so any
//! language can compute the same partition. This function must never change:
//! every subject of every stored result depends on it (golden tests below).

use crate::MonitorId;

/// Default number of evaluator partitions.
pub const DEFAULT_PARTITIONS: u16 = 16;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a hash.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME))
}

/// The partition (0 .. `partitions`) of a monitor. `partitions` of 0 is
/// treated as 1.
pub fn partition_of(monitor_id: MonitorId, partitions: u16) -> u16 {
    let hash = fnv1a64(monitor_id.to_string().as_bytes());
    // The remainder is below `partitions`, so it always fits in u16.
    (hash % u64::from(partitions.max(1))) as u16
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn fnv1a64_golden_values() {
        // Reference vectors of the FNV-1a 64-bit specification.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn partition_golden_values() {
        // If one of these changes, every deployed system loses its partition
        // ownership and every stored subject: never change them.
        // Values computed by an independent FNV-1a implementation (Python).
        let cases = [
            ("00000000-0000-0000-0000-000000000000", 0x7c38_4c62_18f2_99f1, 16, 1),
            ("0190f5d2-7c1e-7000-8000-000000000001", 0x45d0_d29c_30bf_a50c, 16, 12),
            ("6f9619ff-8b86-d011-b42d-00c04fc964ff", 0x2e35_c36c_4719_05f1, 16, 1),
            ("6f9619ff-8b86-d011-b42d-00c04fc964ff", 0x2e35_c36c_4719_05f1, 7, 6),
            ("ffffffff-ffff-ffff-ffff-ffffffffffff", 0x7718_f1b2_f3cd_d331, 16, 1),
            ("ffffffff-ffff-ffff-ffff-ffffffffffff", 0x7718_f1b2_f3cd_d331, 1, 0),
        ];
        for (id, hash, partitions, expected) in cases {
            assert_eq!(fnv1a64(id.as_bytes()), hash, "{id}");
            let monitor: MonitorId = id.parse().unwrap();
            assert_eq!(partition_of(monitor, partitions), expected, "{id} % {partitions}");
        }
    }

    proptest! {
        #[test]
        fn partition_is_in_range_and_case_insensitive(bytes in any::<[u8; 16]>(), partitions in 1u16..1024) {
            let monitor = MonitorId(uuid::Uuid::from_bytes(bytes));
            let p = partition_of(monitor, partitions);
            prop_assert!(p < partitions);
            let upper: MonitorId = monitor.to_string().to_uppercase().parse().unwrap();
            prop_assert_eq!(partition_of(upper, partitions), p);
        }
    }
}
