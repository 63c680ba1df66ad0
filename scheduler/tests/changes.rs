//! Pause, resume, interval change and delete take effect at the next slot:
//! through a configuration message at once, and without one through the
//! periodic reconcile against Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use statushawk_scheduler::slot::{next_slot, offset};
use statushawk_scheduler::{Deps, Settings};
use statushawk_schemas::MonitorId;
use statushawk_testkit::TestEnv;
use tokio_util::sync::CancellationToken;

struct Monitors {
    pause: MonitorId,
    resume: MonitorId,
    slower: MonitorId,
    delete: MonitorId,
    keep: MonitorId,
}

/// Runs one scheduler over five monitors, changes four of them in Postgres
/// half-way (and, if `announce`, publishes the changes), and checks what was
/// published. `settle_ms` is how late after the change it may take effect.
async fn changes_take_effect(announce: bool, reconcile_every: Duration, settle_ms: i64) {
    let env = TestEnv::new().await;
    let (pg, js, topology) = setup(&env).await;
    let team = insert_team(&pg).await;
    let m = Monitors {
        pause: insert_monitor(&pg, team, 10_000, false).await,
        resume: insert_monitor(&pg, team, 10_000, true).await,
        slower: insert_monitor(&pg, team, 10_000, false).await,
        delete: insert_monitor(&pg, team, 10_000, false).await,
        keep: insert_monitor(&pg, team, 10_000, false).await,
    };
    let stop = CancellationToken::new();
    let settings = Settings { instance: "only".into(), reconcile_every, max_backlog: 10_000 };
    let deps = Deps { js: js.clone(), topology: topology.clone(), pg: pg.clone(), secrets: None };
    let scheduler = tokio::spawn(statushawk_scheduler::run(settings, deps, stop.clone()));

    // Every monitor fires at least once before the changes.
    tokio::time::sleep(Duration::from_millis(11_000)).await;
    let changed_at = now_ms();
    let set = |sql: &'static str, id: MonitorId| {
        let pg = pg.clone();
        async move { sqlx::query(sql).bind(id.0).execute(&pg).await.unwrap() }
    };
    set("UPDATE monitors SET paused = true WHERE id = $1", m.pause).await;
    set("UPDATE monitors SET paused = false WHERE id = $1", m.resume).await;
    set("UPDATE monitors SET interval_ms = 20000 WHERE id = $1", m.slower).await;
    set("DELETE FROM monitors WHERE id = $1", m.delete).await;
    if announce {
        for id in [m.pause, m.resume, m.slower] {
            publish_upsert(&js, &topology, monitor_config(&pg, id).await).await;
        }
        publish_delete(&js, &topology, m.delete, team, now_ms()).await;
    }
    // Long enough for the slower monitor's next slot on its new interval.
    tokio::time::sleep(Duration::from_millis(21_000 + settle_ms as u64)).await;
    stop.cancel();
    scheduler.await.unwrap().unwrap();
    let end = now_ms();

    let published = drain(&js, &topology).await;
    let slots = |id: MonitorId| -> BTreeSet<i64> {
        published.iter().filter(|d| d.monitor_id == id).map(|d| d.slot_ms).collect()
    };
    let effective = changed_at + settle_ms;

    // Paused and deleted: fired before, never after the change took effect.
    for (what, id) in [("paused", m.pause), ("deleted", m.delete)] {
        let s = slots(id);
        assert!(s.iter().any(|slot| *slot < changed_at), "{what} monitor never fired before the change");
        assert!(s.iter().all(|slot| *slot <= effective), "{what} monitor fired after the change: {s:?}");
    }
    // Resumed: never before, then from its next slot on.
    let resumed = slots(m.resume);
    assert!(resumed.iter().all(|slot| *slot > changed_at), "{resumed:?}");
    assert!(resumed.contains(&next_slot(m.resume, 10_000, effective)), "resumed at its next slot: {resumed:?}");
    // Slower: old grid before, new grid (20 s, new offset) after.
    let slower = slots(m.slower);
    let after: Vec<i64> = slower.iter().copied().filter(|slot| *slot > effective).collect();
    assert!(!after.is_empty(), "{slower:?}");
    for slot in &after {
        assert_eq!((slot - offset(m.slower, 20_000)).rem_euclid(20_000), 0, "slot {slot} not on the 20 s grid");
    }
    assert!(after.windows(2).all(|w| w[1] - w[0] == 20_000));
    // Untouched: every 10 s throughout, in both regions.
    let kept = slots(m.keep);
    assert!(kept.len() >= 3, "{kept:?}");
    assert!(kept.iter().collect::<Vec<_>>().windows(2).all(|w| w[1] - w[0] == 10_000));
    let regions: BTreeSet<String> =
        published.iter().filter(|d| d.monitor_id == m.keep).map(|d| d.region.to_string()).collect();
    assert_eq!(regions.len(), 2);
    assert!(kept.iter().all(|slot| *slot <= end));
}

#[tokio::test]
async fn configuration_messages_apply_changes_at_the_next_slot() {
    // Reconcile far away: only the messages can have done it.
    changes_take_effect(true, Duration::from_secs(600), 500).await;
}

#[tokio::test]
async fn without_the_messages_the_reconcile_applies_the_changes() {
    changes_take_effect(false, Duration::from_secs(2), 2_500).await;
}
