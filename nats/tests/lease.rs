//! Leases against a real NATS server, with real network failures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

use std::time::Duration;

use async_nats::jetstream;
use statushawk_nats::{Leases, Topology};
use statushawk_testkit::{TcpProxy, TestEnv};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const TTL: Duration = Duration::from_secs(2);

async fn leases(env: &TestEnv, client: async_nats::Client) -> Leases {
    let mut topology = Topology::new(&env.nats_prefix).unwrap();
    topology.lease_ttl = TTL;
    let js = jetstream::new(client);
    topology.ensure(&js).await.unwrap();
    Leases::open(&js, &topology).await.unwrap()
}

/// A client that reaches NATS only through `proxy`.
async fn client_via(proxy: &TcpProxy) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .ignore_discovered_servers()
        .connect(format!("nats://{}", proxy.addr()))
        .await
        .unwrap()
}

#[tokio::test]
async fn exactly_one_of_two_contenders_holds_the_lease() {
    let env = TestEnv::new().await;
    let a = leases(&env, env.nats().await).await;
    let b = leases(&env, env.nats().await).await;
    assert_eq!(a.ttl(), TTL);

    let (first, second) = tokio::join!(a.try_acquire("scheduler", "a"), b.try_acquire("scheduler", "b"));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert!(first.is_some() != second.is_some(), "exactly one contender wins");
    let winner = first.or(second).unwrap();
    assert_eq!(a.holder("scheduler").await.unwrap().as_deref(), Some(winner.holder()));

    // Held across several TTLs: renewals keep it.
    tokio::time::sleep(TTL * 2).await;
    assert!(winner.is_held());
    assert!(a.try_acquire("scheduler", "a").await.unwrap().is_none());
    assert!(b.try_acquire("scheduler", "b").await.unwrap().is_none());

    // Other keys are independent.
    assert!(a.try_acquire("evaluator.3", "a").await.unwrap().is_some());

    // Released: the other takes it at once.
    let loser = if winner.holder() == "a" { &b } else { &a };
    let lost = winner.lost();
    winner.release().await.unwrap();
    assert!(lost.is_cancelled(), "the holder is told it no longer holds the lease");
    assert!(loser.try_acquire("scheduler", "other").await.unwrap().is_some());
}

#[tokio::test]
async fn a_cut_off_holder_is_told_before_the_ttl_and_the_other_takes_over_within_it() {
    let env = TestEnv::new().await;
    let nats_addr = env.services.nats_url.trim_start_matches("nats://").to_owned();
    let proxy = TcpProxy::start(&nats_addr).await;
    let a = leases(&env, client_via(&proxy).await).await;
    let b = leases(&env, env.nats().await).await;

    let held = a.try_acquire("scheduler", "a").await.unwrap().unwrap();
    let lost = held.lost();
    tokio::time::sleep(TTL).await; // a few renewals go through
    assert!(held.is_held());

    // The holder loses its network: it cannot renew any more.
    let cut_at = Instant::now();
    proxy.cut();

    let cancel = CancellationToken::new();
    let taker = tokio::spawn({
        let b = b.clone();
        let cancel = cancel.clone();
        async move {
            let lease = b.acquire("scheduler", "b", &cancel).await;
            (lease, Instant::now())
        }
    });

    // The old holder is told it lost the lease, before the TTL could end.
    tokio::time::timeout(TTL, lost.cancelled()).await.expect("the holder is told within the TTL");
    let told_at = Instant::now();
    assert!(!held.is_held());

    // The other contender takes it within the TTL of the last renewal, which
    // came before the cut; allow its polling step and scheduling slack.
    let (lease, taken_at) = tokio::time::timeout(TTL * 3, taker).await.expect("taken over in time").unwrap();
    let lease = lease.expect("acquired");
    assert!(taken_at - cut_at <= TTL + Duration::from_secs(1), "took {:?}", taken_at - cut_at);
    // Never two holders: the old one stopped before the new one started.
    assert!(told_at <= taken_at, "old holder told at {told_at:?}, new one took over at {taken_at:?}");
    assert_eq!(b.holder("scheduler").await.unwrap().as_deref(), Some("b"));
    assert!(lease.is_held());
    drop(held);
}

#[tokio::test]
async fn a_holder_whose_key_was_taken_learns_it_at_its_next_renewal() {
    let env = TestEnv::new().await;
    let client = env.nats().await;
    let a = leases(&env, client.clone()).await;
    let held = a.try_acquire("evaluator.0", "a").await.unwrap().unwrap();
    let lost = held.lost();

    // An operator (or a holder that outlived its TTL) overwrites the key.
    let mut topology = Topology::new(&env.nats_prefix).unwrap();
    topology.lease_ttl = TTL;
    let kv = jetstream::new(client).get_key_value(topology.bucket("leases")).await.unwrap();
    kv.put("evaluator.0", "intruder".into()).await.unwrap();

    tokio::time::timeout(TTL, lost.cancelled()).await.expect("told at the next renewal");
    // Releasing a lost lease does not delete the new holder's key.
    held.release().await.unwrap();
    assert_eq!(a.holder("evaluator.0").await.unwrap().as_deref(), Some("intruder"));
}

/// A leader cut off from NATS loses its lease and cannot release it; when
/// NATS is back it takes its own key back at once instead of waiting out
/// the TTL, while another contender still cannot take it.
#[tokio::test]
async fn a_holder_cut_off_takes_its_own_key_back_when_nats_returns() {
    let env = TestEnv::new().await;
    let nats_addr = env.services.nats_url.trim_start_matches("nats://").to_owned();
    let proxy = TcpProxy::start(&nats_addr).await;
    let a = leases(&env, client_via(&proxy).await).await;
    let b = leases(&env, env.nats().await).await;

    let held = a.try_acquire("scheduler", "a").await.unwrap().unwrap();
    let lost = held.lost();
    proxy.cut();
    tokio::time::timeout(TTL, lost.cancelled()).await.expect("the holder is told within the TTL");
    drop(held); // cut off, it could not release
    assert_eq!(b.holder("scheduler").await.unwrap().as_deref(), Some("a"), "the key outlives the cut");

    // NATS is back for the holder (a new connection, as after a restart).
    let back = leases(&env, env.nats().await).await;
    let asked = Instant::now();
    let lease = back.acquire("scheduler", "a", &CancellationToken::new()).await.expect("taken back");
    assert!(asked.elapsed() < TTL / 2, "taken back at once, not after the TTL: {:?}", asked.elapsed());
    assert!(lease.is_held());
    assert!(b.try_acquire("scheduler", "b").await.unwrap().is_none(), "nobody else holds it meanwhile");
    tokio::time::sleep(TTL * 2).await;
    assert!(lease.is_held(), "renewed as any lease");
    assert_eq!(b.holder("scheduler").await.unwrap().as_deref(), Some("a"));
}
