//! TCP check against real local listeners.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use statushawk_schemas::{CheckSpec, CheckStatus, ErrorKind, TcpSpec};
use support::{guarded_ctx, local_ctx, message, run};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A server that answers "HELLO\r\n" to "PING\r\n", then closes.
async fn ping_server() -> SocketAddr {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let mut line = String::new();
                if stream.read_line(&mut line).await.is_ok() && line == "PING\r\n" {
                    let _ = stream.get_mut().write_all(b"HELLO\r\n").await;
                }
            });
        }
    });
    addr
}

/// A server that accepts and then says nothing, keeping connections open.
async fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut open = Vec::new();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            open.push(stream);
        }
    });
    addr
}

/// A port nothing listens on: bound once, then released.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    listener.local_addr().unwrap().port()
}

fn spec(port: u16, send: Option<&str>, expect: Option<&str>) -> CheckSpec {
    CheckSpec::Tcp(TcpSpec {
        host: "127.0.0.1".into(),
        port,
        send: send.map(Into::into),
        expect: expect.map(Into::into),
    })
}

#[tokio::test]
async fn an_open_port_is_up_with_timings_and_address() {
    let addr = ping_server().await;
    let outcome = run(spec(addr.port(), None, None), &local_ctx()).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.ip, Some(LOCALHOST));
    assert!(outcome.timings.connect_ms.is_some());
    assert_eq!(outcome.timings.dns_ms, None, "an IP literal is not looked up");
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let port = closed_port().await;
    let outcome = run(spec(port, None, None), &local_ctx()).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(outcome.error, Some(ErrorKind::Connect), "{outcome:?}");
    assert!(message(&outcome).contains("connection refused"), "{outcome:?}");
    assert_eq!(outcome.ip, Some(LOCALHOST));
}

#[tokio::test]
async fn send_and_expect_succeeds_when_the_reply_contains_the_text() {
    let addr = ping_server().await;
    let outcome = run(spec(addr.port(), Some("PING\r\n"), Some("HELLO")), &local_ctx()).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert!(outcome.timings.ttfb_ms.is_some());
}

#[tokio::test]
async fn an_unexpected_reply_is_a_protocol_error_quoting_what_was_received() {
    let addr = ping_server().await;
    let outcome = run(spec(addr.port(), Some("PING\r\n"), Some("WORLD")), &local_ctx()).await;
    assert_eq!(outcome.error, Some(ErrorKind::Protocol), "{outcome:?}");
    let message = message(&outcome);
    assert!(message.contains("closed the connection"), "{message}");
    assert!(message.contains("HELLO"), "{message}");
}

#[tokio::test]
async fn a_silent_peer_is_a_protocol_error_before_the_timeout() {
    let addr = silent_server().await;
    let mut ctx = local_ctx();
    ctx.timeout = Duration::from_secs(1);
    let outcome = run(spec(addr.port(), Some("PING\r\n"), Some("HELLO")), &ctx).await;
    assert_eq!(outcome.error, Some(ErrorKind::Protocol), "{outcome:?}");
    assert!(message(&outcome).contains("did not arrive in time"), "{outcome:?}");
}

#[tokio::test]
async fn a_loopback_target_is_blocked_by_the_guard() {
    let addr = ping_server().await;
    let outcome = run(spec(addr.port(), None, None), &guarded_ctx()).await;
    assert_eq!(outcome.error, Some(ErrorKind::Blocked), "{outcome:?}");
    assert_eq!(outcome.timings.connect_ms, None, "no connection was attempted");
}
