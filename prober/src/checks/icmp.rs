//! ICMP check: echo requests to the first guarded address, with loss and
//! round-trip times.
//!
//! surge-ping opens an unprivileged `SOCK_DGRAM` ICMP socket first (Linux
//! allows it for groups in `net.ipv4.ping_group_range`) and falls back to a
//! `SOCK_RAW` one (root or `CAP_NET_RAW`) when that is refused.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use statushawk_schemas::{ErrorKind, IcmpSpec};
use surge_ping::{Client, Config, ICMP, PingIdentifier, PingSequence, SurgeError};

use super::{Check, Context, Outcome};

/// Time between echo requests (from one request to the next).
const INTERVAL: Duration = Duration::from_millis(150);

/// Echo payload, the size `ping` sends by default.
const PAYLOAD: [u8; 56] = [0; 56];

/// Identifiers for raw sockets, which see every echo reply on the host:
/// distinct per check so concurrent checks of one address don't mix replies.
static NEXT_IDENT: AtomicU16 = AtomicU16::new(0);

impl Check for IcmpSpec {
    async fn run(&self, ctx: &Context) -> Outcome {
        let resolved = match ctx.guard.resolve(&self.host).await {
            Ok(resolved) => resolved,
            Err(err) => return err.into(),
        };
        let Some(&ip) = resolved.addrs.first() else {
            return Outcome::down(ErrorKind::Dns, format!("{} has no address", self.host));
        };
        let mut outcome = Outcome::up();
        outcome.ip = Some(ip);
        outcome.timings.dns_ms = resolved.dns_ms;

        let config = match ip {
            IpAddr::V4(_) => Config::default(),
            IpAddr::V6(_) => Config::builder().kind(ICMP::V6).build(),
        };
        let client = match Client::new(&config) {
            Ok(client) => client,
            Err(err) => {
                return outcome.fail(
                    ErrorKind::Internal,
                    format!("cannot open an ICMP socket (needs root, CAP_NET_RAW or net.ipv4.ping_group_range): {err}"),
                );
            }
        };
        let ident = (std::process::id() as u16).wrapping_add(NEXT_IDENT.fetch_add(1, Ordering::Relaxed));
        let mut pinger = client.pinger(ip, PingIdentifier(ident)).await;
        // All echoes together get 80% of the check's time, so a lossy run is
        // reported as such rather than as a timeout.
        let count = u32::from(self.count.max(1));
        pinger.timeout((ctx.timeout - ctx.timeout / 5) / count);

        let mut rtts = Vec::new();
        let mut last_error = None;
        for seq in 0..self.count {
            let sent = Instant::now();
            match pinger.ping(PingSequence(u16::from(seq)), &PAYLOAD).await {
                Ok((_reply, rtt)) => rtts.push(rtt),
                Err(SurgeError::Timeout { .. }) => {}
                Err(err) => last_error = Some(err.to_string()),
            }
            if seq + 1 < self.count {
                tokio::time::sleep(INTERVAL.saturating_sub(sent.elapsed())).await;
            }
        }

        let sent = u32::from(self.count);
        let received = u32::try_from(rtts.len()).unwrap_or(u32::MAX);
        let lost = sent.saturating_sub(received);
        let mut message = format!("{received}/{sent} replies from {ip} ({}% loss)", lost * 100 / sent.max(1));
        if let Some(summary) = rtt_summary(&rtts) {
            message.push_str(&format!(", rtt min/avg/max {summary} ms"));
        }
        if let Some(err) = last_error {
            message.push_str(&format!("; last error: {err}"));
        }
        // Compared without rounding: lost/sent > max_loss_percent/100.
        if lost * 100 > u32::from(self.max_loss_percent) * sent {
            return outcome.fail(ErrorKind::IcmpLoss, message);
        }
        outcome.message = Some(message);
        outcome
    }
}

/// `min/avg/max` in milliseconds with three decimals, `None` without replies.
fn rtt_summary(rtts: &[Duration]) -> Option<String> {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let min = rtts.iter().min().copied()?;
    let max = rtts.iter().max().copied()?;
    let avg = rtts.iter().map(|d| ms(*d)).sum::<f64>() / rtts.len() as f64;
    Some(format!("{:.3}/{avg:.3}/{:.3}", ms(min), ms(max)))
}
