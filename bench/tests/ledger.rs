//! The accounting on rows written by hand into a real ClickHouse: each kind
//! of mistake it must catch (a missing slot, a doubled one, a row at no
//! slot, a skipped check), re-checks apart, and gaps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

use statushawk_bench::ledger::{self, Accounting};
use statushawk_bench::scratch::Monitor;
use statushawk_common::config::ClickHouseConfig;
use statushawk_testkit::TestEnv;

#[tokio::test]
async fn the_ledger_finds_lost_doubled_off_slot_and_skipped_checks() {
    let env = TestEnv::new().await;
    let config = ClickHouseConfig {
        url: env.services.clickhouse_url.clone(),
        database: env.clickhouse_database.clone(),
        ..Default::default()
    };
    statushawk_common::migrate::clickhouse(&config).await.unwrap();
    let ch = env.clickhouse();
    let (a, b) = (
        Monitor { id: uuid::Uuid::now_v7(), interval_ms: 10_000, flips: false },
        Monitor { id: uuid::Uuid::now_v7(), interval_ms: 10_000, flips: false },
    );
    let window = 1_800_000_000_000..1_800_000_060_000;
    let slots_a: Vec<i64> = ledger::slots(&a, &window).collect();
    let slots_b: Vec<i64> = ledger::slots(&b, &window).collect();
    assert_eq!((slots_a.len(), slots_b.len()), (6, 6));

    // a: every slot once, the second skipped, the third with a re-check.
    // b: the first slot missing (in a gap), the second missing (not), the
    // third twice, a row 1 ms after the fourth, and one slot before the window.
    let mut rows = Vec::new();
    let row = |m: &Monitor, slot: i64, attempt: u8, status: &str| {
        format!("({}, '{}', {slot}, {attempt}, '{status}')", slot / 1000, m.id)
    };
    for (i, slot) in slots_a.iter().enumerate() {
        rows.push(row(&a, *slot, 0, if i == 1 { "skipped" } else { "up" }));
    }
    rows.push(row(&a, slots_a[2], 1, "down"));
    for slot in &slots_b[2..] {
        rows.push(row(&b, *slot, 0, "up"));
    }
    rows.push(row(&b, slots_b[2], 0, "up"));
    rows.push(row(&b, slots_b[3] + 1, 0, "up"));
    rows.push(row(&b, slots_b[0] - 10_000, 0, "up"));
    ch.query(&format!(
        "INSERT INTO check_results (ts, monitor_id, slot_ms, attempt, status) VALUES {}",
        rows.join(", ")
    ))
    .execute()
    .await
    .unwrap();

    let gap = slots_b[0]..slots_b[0] + 1;
    let got = ledger::account(&ch, &[a.clone(), b.clone()], &window, &[gap]).await.unwrap();
    assert_eq!(
        got,
        Accounting {
            expected: 11,
            stored: 10,
            skipped: 1,
            lost: 1,
            doubled: 1,
            in_gaps: 1,
            lost_in_gaps: 1,
            off_slot: 1,
            rechecks: 1,
            lost_examples: vec![(b.id, slots_b[1])],
        }
    );
    assert_eq!(ledger::stored(&ch, &window).await.unwrap(), 12, "first attempts in the window, as rows");
}
