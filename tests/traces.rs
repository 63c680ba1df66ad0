//! One trace follows a check through the whole pipeline, in the JSON log
//! lines every service writes: the scheduler's due check, the prober's
//! check, the evaluator's re-check, the prober's re-check, the evaluator's
//! incident and the notifier's delivery share one `trace_id`, and each hop
//! names the one before it (`parent_id`), across NATS headers, the event
//! outbox and the delivery log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

#[path = "../evaluator/tests/support/mod.rs"]
mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};
use statushawk_prober::worker;
use statushawk_schemas::{ChannelId, Region};
use support::*;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(60);

/// Log lines written to memory, for reading them back.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn parsed(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }
}

/// The one line with `message` whose span (or, for an event outside any
/// span, whose fields) has `key` = `value`.
fn line<'a>(lines: &'a [Value], message: &str, key: &str, value: &Value) -> &'a Value {
    let found: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == message && (&l["span"][key] == value || &l["fields"][key] == value))
        .collect();
    assert_eq!(found.len(), 1, "lines {message:?} with {key} = {value}: {found:#?}");
    found[0]
}

/// A trace field of a line: from its span, or from its own fields.
fn field<'a>(line: &'a Value, key: &str) -> &'a Value {
    if line["span"][key].is_null() { &line["fields"][key] } else { &line["span"][key] }
}

#[tokio::test]
async fn one_trace_follows_a_failing_check_from_the_scheduler_to_the_notification() {
    let lines = Lines::default();
    let writer = lines.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,statushawk_scheduler=debug,statushawk_prober=debug,statushawk_evaluator=debug,\
                 statushawk_notifier=debug",
            ))
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();

    let stack = Stack::new(&["local"], 2).await;
    // A target that is down from the start, and a webhook receiver.
    let hooks = Arc::new(AtomicUsize::new(0));
    let seen = hooks.clone();
    let app = Router::new().route("/down", get(|| async { StatusCode::SERVICE_UNAVAILABLE })).route(
        "/hook",
        post(move || {
            seen.fetch_add(1, Ordering::SeqCst);
            async { StatusCode::NO_CONTENT }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let m = stack.monitor(&format!("http://{addr}/down"), &["local"], 1).await;
    let deps = stack.deps();
    let secrets = deps.secrets.clone().unwrap();
    let channel = ChannelId::new();
    let sealed = secrets
        .seal_channel_secret(
            channel,
            &json!({ "url": format!("http://{addr}/hook"), "signing_secret": "whsec-traces-test-0123456789" }),
        )
        .unwrap();
    sqlx::query(
        "INSERT INTO channels (id, team_id, name, kind, config, secret_ciphertext, secret_nonce) \
         VALUES ($1, $2, 'hook', 'webhook', '{}', $3, $4)",
    )
    .bind(channel.0)
    .bind(stack.team.0)
    .bind(&sealed.ciphertext)
    .bind(&sealed.nonce)
    .execute(&stack.pg)
    .await
    .unwrap();
    sqlx::query("INSERT INTO monitor_channels (team_id, monitor_id, channel_id) VALUES ($1, $2, $3)")
        .bind(stack.team.0)
        .bind(m.0)
        .bind(channel.0)
        .execute(&stack.pg)
        .await
        .unwrap();

    // Every service, in this process.
    let stop = CancellationToken::new();
    let evaluator = stack.evaluator_with("only", deps);
    let prober = tokio::spawn(worker::run(
        worker::Settings { region: Region::new("local").unwrap(), prober_id: "prober-local".into(), concurrency: 8 },
        worker::Deps {
            js: stack.js.clone(),
            topology: stack.topology.clone(),
            checks: statushawk_prober::context(true, 10 * 1024).unwrap(),
        },
        stop.clone(),
    ));
    let scheduler = tokio::spawn(statushawk_scheduler::run(
        statushawk_scheduler::Settings { instance: "scheduler".into(), ..Default::default() },
        statushawk_scheduler::Deps {
            js: stack.js.clone(),
            topology: stack.topology.clone(),
            pg: stack.pg.clone(),
            secrets: None,
        },
        stop.clone(),
    ));
    let guard = statushawk_guard::Guard::new(false).unwrap().with_exceptions(&[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    let notifier = tokio::spawn(statushawk_notifier::run(
        statushawk_notifier::Settings { poll: Duration::from_millis(100), ..Default::default() },
        statushawk_notifier::Deps {
            js: stack.js.clone(),
            topology: stack.topology.clone(),
            pg: stack.pg.clone(),
            secrets: Some(secrets),
            sender: statushawk_notifier::send::Sender::new(guard, Duration::from_secs(5)).unwrap(),
            system_mail: None,
            public_url: "http://127.0.0.1:8080".to_owned(),
        },
        stop.clone(),
    ));

    let deadline = tokio::time::Instant::now() + WAIT;
    while hooks.load(Ordering::SeqCst) == 0 {
        if tokio::time::Instant::now() > deadline {
            let messages: Vec<String> =
                lines.parsed().iter().map(|l| format!("{} {}", l["fields"], l["span"])).collect();
            panic!("no notification; the log:\n{}", messages.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lines = lines.parsed();

    // Backwards from the notification, hop by hop.
    let delivered = lines.iter().find(|l| l["fields"]["message"] == "Notification delivered.").unwrap();
    let trace = field(delivered, "trace_id").clone();
    assert!(trace.as_str().is_some_and(|t| t.len() == 32), "{delivered}");
    let planned = line(&lines, "Notification planned.", "span_id", field(delivered, "parent_id"));
    let opened = line(&lines, "Incident opened.", "span_id", field(planned, "parent_id"));
    assert_eq!(opened["span"]["monitor_id"], m.to_string(), "{opened}");
    let rechecked = line(&lines, "Check done.", "span_id", field(opened, "parent_id"));
    assert_eq!(rechecked["span"]["attempt"], 1, "the incident opens on the re-check's result: {rechecked}");
    assert_eq!(rechecked["fields"]["status"], "down", "{rechecked}");
    let requested = line(&lines, "Re-check requested.", "span_id", field(rechecked, "parent_id"));
    let checked = line(&lines, "Check done.", "span_id", field(requested, "parent_id"));
    assert_eq!(checked["span"]["attempt"], 0, "{checked}");
    let published = line(&lines, "Due check published.", "span_id", field(checked, "parent_id"));
    assert!(field(published, "parent_id").is_null(), "the scheduler starts the trace: {published}");
    for hop in [delivered, planned, opened, rechecked, requested, checked, published] {
        assert_eq!(field(hop, "trace_id"), &trace, "{hop}");
    }

    stop.cancel();
    scheduler.await.unwrap().unwrap();
    prober.await.unwrap().unwrap();
    notifier.await.unwrap().unwrap();
    evaluator.stop().await;
}
