//! ICMP check against the loopback address (needs root, CAP_NET_RAW or a
//! `net.ipv4.ping_group_range` that includes the test's group).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::{IpAddr, Ipv4Addr};

use statushawk_schemas::{CheckSpec, CheckStatus, ErrorKind, IcmpSpec};
use support::{guarded_ctx, local_ctx, message, run};

fn spec(host: &str, count: u8) -> CheckSpec {
    CheckSpec::Icmp(IcmpSpec { host: host.into(), count, max_loss_percent: 0 })
}

#[tokio::test]
async fn loopback_answers_every_echo() {
    let outcome = run(spec("127.0.0.1", 2), &local_ctx()).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let message = message(&outcome);
    assert!(message.starts_with("2/2 replies from 127.0.0.1 (0% loss), rtt min/avg/max "), "{message}");
    assert!(message.ends_with(" ms"), "{message}");
    assert_eq!(outcome.timings.connect_ms, None);
    assert_eq!(outcome.timings.ttfb_ms, None);
}

#[tokio::test]
async fn a_loopback_target_is_blocked_by_the_guard() {
    let outcome = run(spec("127.0.0.1", 1), &guarded_ctx()).await;
    assert_eq!(outcome.error, Some(ErrorKind::Blocked), "{outcome:?}");
}
