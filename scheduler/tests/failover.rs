//! Two schedulers, one leader: a crashed leader is replaced within the lease
//! TTL, the new one publishes the slots the old one missed while their
//! deadline is ahead, and every (monitor, region, slot) is published once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::*;
use statushawk_nats::async_nats::{self, jetstream};
use statushawk_nats::{Leases, Topology};
use statushawk_scheduler::{Deps, LEASE_KEY, Settings};
use statushawk_testkit::{TcpProxy, TestEnv};
use tokio_util::sync::CancellationToken;

const INTERVAL: i64 = 10_000;

fn spawn(
    js: jetstream::Context,
    topology: &Topology,
    pg: &sqlx::PgPool,
    name: &str,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let settings = Settings { instance: name.into(), reconcile_every: Duration::from_secs(60), max_backlog: 100_000 };
    let deps = Deps { js, topology: topology.clone(), pg: pg.clone(), secrets: None };
    tokio::spawn(statushawk_scheduler::run(settings, deps, stop))
}

async fn wait_for_holder(leases: &Leases, holder: &str, within: Duration) -> i64 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if leases.holder(LEASE_KEY).await.unwrap().as_deref() == Some(holder) {
            return now_ms();
        }
        assert!(tokio::time::Instant::now() < deadline, "{holder} did not lead within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_crashed_leader_is_replaced_within_the_ttl_and_no_slot_is_lost_or_published_twice() {
    let env = TestEnv::new().await;
    let (pg, js, mut topology) = setup(&env).await;
    // A new leader re-publishes the slots the old one may have sent, from
    // half the duplicate window back; the window must cover that beyond the
    // TTL, and the stream drops the copies (a copy it let through would
    // show below as a slot published twice).
    topology.due_duplicate_window = TTL * 3;
    topology.ensure(&js).await.unwrap();
    let team = insert_team(&pg).await;
    let created_at = now_ms();
    for _ in 0..1000 {
        insert_monitor(&pg, team, INTERVAL as i32, false).await;
    }
    let leases = Leases::open(&js, &topology).await.unwrap();

    // Scheduler A reaches NATS through a proxy we can cut: a real crash.
    let nats_addr = env.services.nats_url.trim_start_matches("nats://").to_owned();
    let proxy = TcpProxy::start(&nats_addr).await;
    let a_client = async_nats::ConnectOptions::new()
        .ignore_discovered_servers()
        .connect(format!("nats://{}", proxy.addr()))
        .await
        .unwrap();
    let a = spawn(jetstream::new(a_client), &topology, &pg, "a", CancellationToken::new());
    wait_for_holder(&leases, "a", Duration::from_secs(5)).await;
    let b_stop = CancellationToken::new();
    let b = spawn(js.clone(), &topology, &pg, "b", b_stop.clone());

    // A leads for more than an interval, then crashes: its connection dies
    // and the process is gone, without releasing anything.
    tokio::time::sleep(Duration::from_millis(12_000)).await;
    proxy.cut();
    let crashed_at = now_ms();
    a.abort();

    let took_over_at = wait_for_holder(&leases, "b", TTL * 3).await;
    assert!(
        took_over_at - crashed_at <= TTL.as_millis() as i64 + 1000,
        "took over after {} ms",
        took_over_at - crashed_at
    );

    // B leads for more than an interval.
    tokio::time::sleep(Duration::from_millis(12_000)).await;
    b_stop.cancel();
    b.await.unwrap().unwrap();
    let stopped_at = now_ms();

    let published = drain(&js, &topology).await;
    let mut slots: HashMap<(statushawk_schemas::MonitorId, String), BTreeMap<i64, usize>> = HashMap::new();
    for due in &published {
        assert_eq!(due.attempt, 0);
        assert_eq!(due.deadline_ms, due.slot_ms + INTERVAL);
        *slots.entry((due.monitor_id, due.region.to_string())).or_default().entry(due.slot_ms).or_default() += 1;
    }
    assert_eq!(slots.len(), 2000, "every monitor in both regions");

    // A slot may be missing only if its deadline (slot + interval) passed
    // before the new leader led: the new leader publishes every slot since
    // half the duplicate window whose deadline is ahead (the stream drops
    // those the old one did publish). The take-over is seen here when B
    // holds the lease, and B's first pass over Postgres follows; allow acks
    // in flight at the crash and a second of scheduling slack. With a TTL
    // shorter than the interval, no slot may be missing at all.
    let gap = (crashed_at - 1000)..=(took_over_at + 1000 - INTERVAL);
    let (mut before, mut after) = (0, 0);
    for ((monitor, region), published) in &slots {
        for (slot, count) in published {
            assert_eq!(*count, 1, "{monitor} {region} slot {slot} published {count} times");
            assert!(*slot >= created_at && *slot <= stopped_at, "slot {slot} outside the run");
        }
        let first = *published.keys().next().unwrap();
        let last = *published.keys().last().unwrap();
        let mut slot = first;
        while slot <= last {
            if !published.contains_key(&slot) {
                assert!(
                    gap.contains(&slot),
                    "{monitor} {region}: slot {slot} skipped outside the takeover gap {gap:?}"
                );
            }
            slot += INTERVAL;
        }
        before += published.keys().filter(|s| **s < crashed_at - 1000).count();
        after += published.keys().filter(|s| **s > took_over_at).count();
    }
    // Both leaders did their share: each led for more than one interval.
    assert!(before >= 2000 && after >= 2000, "before the crash {before}, after the takeover {after}");
}
