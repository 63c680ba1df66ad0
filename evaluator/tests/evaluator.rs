//! The evaluator on real NATS, Postgres and ClickHouse: quorum, redelivery,
//! store outages and partition takeover. Results come from a scripted
//! responder that answers due checks and re-checks per region.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

mod support;

use std::time::{Duration, Instant};

use statushawk_nats::async_nats::jetstream;
use statushawk_nats::{CHECK_RESULTS, EVENTS, Leases, evaluator_consumer};
use statushawk_schemas::CheckStatus::{Down, Up};
use statushawk_schemas::{MonitorId, partition_of};
use statushawk_testkit::TcpProxy;
use support::*;

const WAIT: Duration = Duration::from_secs(30);

/// Waits until every result of partition consumers is acked.
async fn settled(stack: &Stack) {
    let stream = stack.js.get_stream(stack.topology.stream(CHECK_RESULTS)).await.unwrap();
    eventually(WAIT, "every result acked", || {
        let stream = stream.clone();
        async move {
            for p in 0..stack.topology.partitions {
                let mut consumer: jetstream::consumer::PullConsumer =
                    stream.get_consumer(&evaluator_consumer(p)).await.unwrap();
                let info = consumer.info().await.unwrap();
                if info.num_pending > 0 || info.num_ack_pending > 0 {
                    return false;
                }
            }
            true
        }
    })
    .await;
}

#[tokio::test]
async fn three_regions_with_a_quorum_of_two() {
    const ALL: &[&str] = &["a", "b", "c"];
    let stack = Stack::new(ALL, 2).await;
    let responder = Responder::start(&stack, ALL);
    let m = stack.monitor("http://scripted.invalid/", ALL, 2).await;
    let evaluator = stack.evaluator("only");

    stack.due(m, ALL, slot(1)).await;
    eventually(WAIT, "round 1 stored", || async { stack.stored(Some(m)).await == 3 }).await;

    // One region down: confirmed by its re-check, an outage, no incident.
    responder.set("a", Down);
    stack.due(m, ALL, slot(2)).await;
    eventually(WAIT, "region a's outage", || async { stack.open_outages(m).await == ["a"] }).await;
    // Round 2 plus a's re-check.
    eventually(WAIT, "round 2 stored", || async { stack.stored(Some(m)).await == 7 }).await;
    settled(&stack).await;
    assert!(stack.incidents(m).await.is_empty(), "one region of three is below the quorum");

    // A second region down: the incident opens.
    responder.set("b", Down);
    stack.due(m, ALL, slot(3)).await;
    eventually(WAIT, "the incident", || async { stack.incidents(m).await.len() == 1 }).await;
    assert_eq!(stack.open_outages(m).await, ["a", "b"]);

    // One of them recovers: below the quorum again, resolved.
    responder.set("a", Up);
    stack.due(m, ALL, slot(4)).await;
    eventually(WAIT, "resolution", || async { stack.incidents(m).await.iter().all(|(_, resolved)| *resolved) }).await;
    settled(&stack).await;
    assert_eq!(stack.incidents(m).await.len(), 1);
    assert_eq!(stack.open_outages(m).await, ["b"]);
    assert_eq!(stack.incident_events(m).await, ["opened", "resolved"]);
    // 3 + (3 + a's re-check) + (3 + b's re-check) + 3: a down region is not re-checked.
    assert_eq!(stack.stored(Some(m)).await, 14);
    let statuses: Vec<String> = stack
        .events()
        .await
        .into_iter()
        .filter(|(s, _)| s.starts_with("events.status."))
        .map(|(_, e)| e["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["degraded", "down", "degraded"]);

    evaluator.stop().await;
    responder.stop();
}

/// A result whose changes Postgres refuses for good (a NUL byte in its
/// message: SQLSTATE 22021 in the outage's `last_error`) among good ones:
/// the good ones are stored and evaluated, the poisoned one is stored,
/// set aside on `deadletter.evaluator` with its error and terminated, and
/// its monitor's next result is evaluated as usual. Without the isolation
/// the whole partition would retry the batch for ever.
#[tokio::test]
async fn a_poison_result_is_set_aside_and_the_rest_of_its_batch_goes_through() {
    let stack = Stack::new(&["a"], 1).await;
    let good = stack.monitor("http://good.invalid/", &["a"], 1).await;
    let poisoned = stack.monitor("http://poisoned.invalid/", &["a"], 1).await;
    // A failure is a confirmed outage at once: no re-check needed.
    sqlx::query("UPDATE monitors SET confirmations = 1").execute(&stack.pg).await.unwrap();
    let publisher = statushawk_nats::Publisher::new(stack.js.clone(), stack.topology.clone());
    let result = |monitor: MonitorId, slot_ms: i64, message: &str| {
        let due = statushawk_schemas::DueCheck {
            schema_version: statushawk_schemas::SCHEMA_VERSION,
            monitor_id: monitor,
            team_id: stack.team,
            region: region("a"),
            slot_ms,
            attempt: 0,
            deadline_ms: slot_ms + 10_000,
            timeout_ms: 2_000,
            spec: statushawk_schemas::CheckSpec::Http(statushawk_schemas::HttpSpec::get("http://x.invalid/")),
        };
        statushawk_schemas::CheckResult { message: Some(message.to_owned()), ..result_for(&due, Down) }
    };
    let send = |r: statushawk_schemas::CheckResult| {
        let publisher = publisher.clone();
        let subject = statushawk_schemas::subject::check_result(r.monitor_id, &r.region, stack.topology.partitions);
        async move { publisher.publish(&subject, &r.msg_id(), &r).await.unwrap() }
    };
    // One batch: the poison between two good results.
    send(result(good, slot(1), "HTTP 503")).await;
    send(result(poisoned, slot(1), "bad\0byte")).await;
    send(result(good, slot(2), "HTTP 503")).await;
    let evaluator = stack.evaluator("only");

    eventually(WAIT, "the good monitor's outage", || async { stack.open_outages(good).await == ["a"] }).await;
    eventually(WAIT, "all three rows stored", || async { stack.stored(None).await == 3 }).await;
    settled(&stack).await;
    assert!(stack.open_outages(poisoned).await.is_empty(), "the poisoned changes were not written");

    let letters = dead_letters(&stack).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter["service"], "evaluator");
    assert_eq!(letter["reason"], "sqlstate_22021", "{letter}");
    assert_eq!(letter["payload"]["monitor_id"], poisoned.to_string());
    assert_eq!(letter["subject"], statushawk_schemas::subject::check_result(poisoned, &region("a"), 1));

    // The poisoned monitor is not stuck: its next result is evaluated.
    send(result(poisoned, slot(3), "HTTP 500")).await;
    eventually(WAIT, "the poisoned monitor's outage", || async { stack.open_outages(poisoned).await == ["a"] }).await;
    evaluator.stop().await;
}

/// The messages on `DEAD_LETTERS`.
async fn dead_letters(stack: &Stack) -> Vec<serde_json::Value> {
    let stream = stack.js.get_stream(stack.topology.stream(statushawk_nats::DEAD_LETTERS)).await.unwrap();
    let mut letters = Vec::new();
    let mut sequence = 1;
    loop {
        match stream.get_raw_message(sequence).await {
            Ok(message) => letters.push(serde_json::from_slice(&message.payload).unwrap()),
            Err(_) => break,
        }
        sequence += 1;
    }
    letters
}

/// A change made in Postgres whose `CONFIG` message never arrived (nothing
/// is published here) still takes effect: the evaluator's reconcile sees
/// the monitor's new version and reloads it. Each round opens and resolves
/// an incident; the first one opened after a reconcile carries the new name.
#[tokio::test]
async fn a_change_whose_config_message_was_lost_takes_effect() {
    let stack = Stack::new(&["a"], 1).await;
    let responder = Responder::start(&stack, &["a"]);
    let m = stack.monitor("http://scripted.invalid/", &["a"], 1).await;
    let evaluator = stack.evaluator("only");
    stack.due(m, &["a"], slot(1)).await;
    eventually(WAIT, "the monitor met", || async { stack.stored(Some(m)).await == 1 }).await;

    sqlx::query("UPDATE monitors SET name = 'Checkout' WHERE id = $1").bind(m.0).execute(&stack.pg).await.unwrap();
    let deadline = Instant::now() + WAIT;
    let mut round = 1;
    loop {
        responder.set("a", Down);
        stack.due(m, &["a"], slot(2 * round)).await;
        eventually(WAIT, "an incident opened", || async { stack.incidents(m).await.len() == round as usize }).await;
        responder.set("a", Up);
        stack.due(m, &["a"], slot(2 * round + 1)).await;
        eventually(WAIT, "and resolved", || async { stack.incidents(m).await.iter().all(|(_, done)| *done) }).await;
        let names: Vec<String> = stack
            .events()
            .await
            .into_iter()
            .filter(|(s, _)| s == &format!("events.incident.opened.{m}"))
            .map(|(_, e)| e["monitor_name"].as_str().unwrap().to_owned())
            .collect();
        if names.last().map(String::as_str) == Some("Checkout") {
            break;
        }
        assert_eq!(names.last().map(String::as_str), Some("api"));
        assert!(Instant::now() < deadline, "the change never took effect: incidents named {names:?}");
        round += 1;
    }
    evaluator.stop().await;
    responder.stop();
}

/// An event another writer (the API, for what people do) put in the outbox
/// and failed to publish is published by the partition's owner at its next
/// reconcile, under its own id, and taken out.
#[tokio::test]
async fn an_event_left_in_the_outbox_by_another_writer_is_published() {
    let stack = Stack::new(&["a"], 1).await;
    let responder = Responder::start(&stack, &["a"]);
    let m = stack.monitor("http://scripted.invalid/", &["a"], 1).await;
    let evaluator = stack.evaluator("only");
    stack.due(m, &["a"], slot(1)).await;
    eventually(WAIT, "the monitor met", || async { stack.stored(Some(m)).await == 1 }).await;

    let subject = format!("events.incident.updated.{m}");
    let msg_id = format!("e:{m}:updated:{}:u:{}", uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    sqlx::query(
        "INSERT INTO event_outbox (partition, subject, msg_id, payload, created_at) \
         VALUES (0, $1, $2, '{\"left\": true}', now() - interval '1 minute')",
    )
    .bind(&subject)
    .bind(&msg_id)
    .execute(&stack.pg)
    .await
    .unwrap();
    eventually(WAIT, "the event published", || async {
        stack.events().await.iter().any(|(s, e)| s == &subject && e["left"] == true)
    })
    .await;
    eventually(WAIT, "and taken out", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM event_outbox").fetch_one(&stack.pg).await.unwrap() == 0
    })
    .await;
    evaluator.stop().await;
    responder.stop();
}

/// The evaluator dies after committing an incident but before publishing its
/// event and acking the results; the next one publishes the event from the
/// outbox and, fed the same results again, changes nothing twice.
#[tokio::test]
async fn redelivered_results_change_nothing_twice() {
    let _ = statushawk_common::telemetry::init_tracing(&statushawk_common::config::LogConfig {
        filter: "info,statushawk_evaluator=debug".into(),
        ..Default::default()
    });
    let stack = Stack::new(&["local"], 1).await;
    let responder = Responder::start(&stack, &["local"]);
    let m = stack.monitor("http://scripted.invalid/", &["local"], 1).await;
    let first = stack.evaluator("first");
    stack.due(m, &["local"], slot(1)).await;
    eventually(WAIT, "round 1 stored", || async { stack.stored(Some(m)).await == 1 }).await;
    settled(&stack).await;

    // Without the EVENTS stream the evaluator commits the incident but cannot
    // publish its events, so it acks nothing.
    stack.js.delete_stream(stack.topology.stream(EVENTS)).await.unwrap();
    responder.set("local", Down);
    stack.due(m, &["local"], slot(2)).await;
    eventually(WAIT, "the incident committed", || async { stack.incidents(m).await.len() == 1 }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.kill().await;

    stack.topology.ensure(&stack.js).await.unwrap();
    let second = stack.evaluator("second");
    eventually(WAIT, "the opened event, from the outbox", || async { stack.incident_events(m).await == ["opened"] })
        .await;
    // The first evaluator's unacked results come back to the second after the ack wait.
    settled(&stack).await;
    assert_eq!(stack.incidents(m).await.len(), 1);
    assert_eq!(stack.incident_events(m).await, ["opened"]);
    println!("ROWS {:?} published {}", stack.stored_rows(m).await, stack.published_results().await);
    assert_eq!(stack.stored(Some(m)).await, stack.published_results().await, "every result stored once");

    responder.set("local", Up);
    stack.due(m, &["local"], slot(3)).await;
    eventually(WAIT, "resolution", || async { stack.incidents(m).await.iter().all(|(_, r)| *r) }).await;
    settled(&stack).await;
    assert_eq!(stack.incidents(m).await.len(), 1);
    assert_eq!(stack.incident_events(m).await, ["opened", "resolved"]);
    assert_eq!(stack.stored(Some(m)).await, stack.published_results().await);
    second.stop().await;
    responder.stop();
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://").trim_start_matches("postgres://").trim_end_matches('/').to_owned()
}

#[tokio::test]
async fn clickhouse_down_for_a_while_loses_nothing() {
    let stack = Stack::new(&["local"], 2).await;
    let responder = Responder::start(&stack, &["local"]);
    let monitors = [
        stack.monitor("http://scripted.invalid/1", &["local"], 1).await,
        stack.monitor("http://scripted.invalid/2", &["local"], 1).await,
    ];
    let proxy = TcpProxy::start(&host_port(&stack.env.services.clickhouse_url)).await;
    let deps = statushawk_evaluator::Deps {
        clickhouse: stack.ch.clone().with_url(format!("http://{}", proxy.addr())),
        ..stack.deps()
    };
    let evaluator = stack.evaluator_with("only", deps);
    for m in monitors {
        stack.due(m, &["local"], slot(1)).await;
    }
    eventually(WAIT, "round 1 stored", || async { stack.stored(None).await == 2 }).await;

    proxy.cut();
    responder.set("local", Down);
    for k in 2..=4 {
        for m in monitors {
            stack.due(m, &["local"], slot(k)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Longer than the ack wait: progress acks keep the stuck batch ours.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(stack.stored(None).await, 2);
    assert!(stack.incidents(monitors[0]).await.is_empty(), "nothing is decided before the results are stored");

    proxy.restore();
    for m in monitors {
        eventually(WAIT, "the incident", || async { stack.incidents(m).await.len() == 1 }).await;
    }
    settled(&stack).await;
    assert_eq!(stack.stored(None).await, stack.published_results().await, "every published result stored once");
    for m in monitors {
        assert_eq!(stack.incidents(m).await.len(), 1);
        assert_eq!(stack.incident_events(m).await, ["opened"]);
    }
    evaluator.stop().await;
    responder.stop();
}

/// ClickHouse refusing every insert (here its table gone, as after a botched
/// migration) holds the results, and decides nothing, until it takes them.
#[tokio::test]
async fn a_clickhouse_refusal_holds_the_results_until_it_takes_them() {
    let stack = Stack::new(&["local"], 2).await;
    let responder = Responder::start(&stack, &["local"]);
    let m = stack.monitor("http://scripted.invalid/1", &["local"], 1).await;
    let evaluator = stack.evaluator("only");
    stack.due(m, &["local"], slot(1)).await;
    eventually(WAIT, "round 1 stored", || async { stack.stored(None).await == 1 }).await;

    stack.ch.query("RENAME TABLE check_results TO check_results_away").execute().await.unwrap();
    responder.set("local", Down);
    stack.due(m, &["local"], slot(2)).await;
    // Longer than the ack wait: the refused batch stays ours.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(stack.incidents(m).await.is_empty(), "nothing is decided before the results are stored");

    stack.ch.query("RENAME TABLE check_results_away TO check_results").execute().await.unwrap();
    eventually(WAIT, "the incident", || async { stack.incidents(m).await.len() == 1 }).await;
    settled(&stack).await;
    assert_eq!(stack.stored(None).await, stack.published_results().await, "every published result stored once");
    assert_eq!(stack.incident_events(m).await, ["opened"]);
    evaluator.stop().await;
    responder.stop();
}

#[tokio::test]
async fn postgres_down_for_a_while_loses_nothing() {
    let stack = Stack::new(&["local"], 1).await;
    let responder = Responder::start(&stack, &["local"]);
    let m = stack.monitor("http://scripted.invalid/", &["local"], 1).await;
    let pg_addr = stack.env.database_url.split('@').nth(1).unwrap().split('/').next().unwrap().to_owned();
    let proxy = TcpProxy::start(&pg_addr).await;
    let url = stack.env.database_url.replace(&pg_addr, &proxy.addr().to_string());
    let pg = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(2))
        .connect(&url)
        .await
        .unwrap();
    let evaluator = stack.evaluator_with("only", statushawk_evaluator::Deps { pg, ..stack.deps() });
    stack.due(m, &["local"], slot(1)).await;
    eventually(WAIT, "round 1 stored", || async { stack.stored(Some(m)).await == 1 }).await;
    settled(&stack).await;

    proxy.cut();
    responder.set("local", Down);
    stack.due(m, &["local"], slot(2)).await;
    // The result is stored, but nothing can be decided without Postgres.
    eventually(WAIT, "round 2 stored", || async { stack.stored(Some(m)).await == 2 }).await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(stack.incidents(m).await.is_empty());

    proxy.restore();
    eventually(WAIT, "the incident", || async { stack.incidents(m).await.len() == 1 }).await;
    settled(&stack).await;
    assert_eq!(stack.incidents(m).await.len(), 1);
    assert_eq!(stack.incident_events(m).await, ["opened"]);
    assert_eq!(stack.stored(Some(m)).await, stack.published_results().await);

    responder.set("local", Up);
    stack.due(m, &["local"], slot(3)).await;
    eventually(WAIT, "resolution", || async { stack.incidents(m).await.iter().all(|(_, r)| *r) }).await;
    assert_eq!(stack.incident_events(m).await, ["opened", "resolved"]);
    evaluator.stop().await;
    responder.stop();
}

/// Partitions held by each instance.
async fn owners(stack: &Stack) -> Vec<Option<String>> {
    let leases = Leases::open(&stack.js, &stack.topology).await.unwrap();
    let mut owners = Vec::new();
    for p in 0..stack.topology.partitions {
        owners.push(leases.holder(&statushawk_evaluator::partition_lease(p)).await.unwrap());
    }
    owners
}

#[tokio::test]
async fn two_evaluators_split_the_partitions_and_one_takes_over_from_a_dead_one() {
    const PARTITIONS: u16 = 4;
    let stack = Stack::new(&["local"], PARTITIONS).await;
    let responder = Responder::start(&stack, &["local"]);
    let mut monitors: Vec<MonitorId> = Vec::new();
    for i in 0..12 {
        monitors.push(stack.monitor(&format!("http://scripted.invalid/{i}"), &["local"], 1).await);
    }
    let covered: std::collections::BTreeSet<u16> = monitors.iter().map(|m| partition_of(*m, PARTITIONS)).collect();
    assert!(covered.len() >= 3, "monitors spread over the partitions: {covered:?}");

    // The doomed one talks to NATS through a proxy, so that when it dies it
    // cannot give its leases back: they must expire.
    let proxy = TcpProxy::start(&host_port(&stack.env.services.nats_url.replace("nats://", ""))).await;
    let doomed_js = jetstream::new(statushawk_nats::async_nats::connect(proxy.addr().to_string()).await.unwrap());
    let doomed = stack.evaluator_with("doomed", statushawk_evaluator::Deps { js: doomed_js, ..stack.deps() });
    let survivor = stack.evaluator("survivor");
    eventually(WAIT, "the partitions split 2 and 2", || async {
        let owners = owners(&stack).await;
        let count = |who: &str| owners.iter().filter(|o| o.as_deref() == Some(who)).count();
        count("doomed") == 2 && count("survivor") == 2
    })
    .await;

    responder.set("local", Down);
    for m in &monitors {
        stack.due(*m, &["local"], slot(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.cut();
    doomed.kill().await;
    let killed = Instant::now();
    eventually(WAIT, "the survivor owns every partition", || async {
        owners(&stack).await.iter().all(|o| o.as_deref() == Some("survivor"))
    })
    .await;
    let takeover = killed.elapsed();
    println!("partitions taken over {takeover:?} after the kill (lease TTL {TTL:?})");
    assert!(takeover <= TTL + Duration::from_secs(2), "takeover took {takeover:?}");

    for m in &monitors {
        eventually(WAIT, "every monitor's incident", || async { stack.incidents(*m).await.len() == 1 }).await;
    }
    settled(&stack).await;
    responder.set("local", Up);
    for m in &monitors {
        stack.due(*m, &["local"], slot(2)).await;
    }
    for m in &monitors {
        eventually(WAIT, "every incident resolved", || async { stack.incidents(*m).await.iter().all(|(_, r)| *r) })
            .await;
    }
    settled(&stack).await;
    for m in &monitors {
        assert_eq!(stack.incidents(*m).await.len(), 1, "monitor {m}");
        assert_eq!(stack.incident_events(*m).await, ["opened", "resolved"], "monitor {m}");
    }
    assert_eq!(stack.stored(None).await, stack.published_results().await);
    survivor.stop().await;
    responder.stop();
}

/// Ids are derived from the results that caused them, so replayed results
/// write the same incident and outage again, possibly after they were
/// resolved: the replay changes nothing and fails nothing.
#[tokio::test]
async fn a_replayed_open_of_a_resolved_incident_and_outage_changes_nothing() {
    use statushawk_evaluator::state::Write;
    use statushawk_evaluator::store;
    use statushawk_schemas::IncidentId;

    let stack = Stack::new(&["eu-west"], 1).await;
    let monitor = stack.monitor("https://shop.example/", &["eu-west"], 1).await;
    let (incident, outage) = (IncidentId(uuid::Uuid::now_v7()), uuid::Uuid::now_v7());
    let open = [
        Write::OpenOutage {
            id: outage,
            monitor_id: monitor,
            region: region("eu-west"),
            started_at_ms: 1_000,
            fails: 2,
            last_error: "connect: connection refused".into(),
            last: (1_000, 1),
        },
        Write::OpenIncident {
            id: incident,
            team_id: stack.team,
            monitor_id: monitor,
            started_at_ms: 1_000,
            cause: "eu-west: connection refused".into(),
            affected: vec![region("eu-west")],
        },
    ];
    let resolve = [
        Write::ResolveOutage {
            monitor_id: monitor,
            region: region("eu-west"),
            resolved_at_ms: 5_000,
            passes: 1,
            last: (5_000, 0),
        },
        Write::ResolveIncident { id: incident, resolved_at_ms: 5_000, event_seq: 2 },
    ];
    store::commit(&stack.pg, 0, &open, &[], &Default::default()).await.unwrap();
    store::commit(&stack.pg, 0, &resolve, &[], &Default::default()).await.unwrap();
    store::commit(&stack.pg, 0, &open, &[], &Default::default()).await.expect("the replayed open is not an error");
    assert_eq!(stack.incidents(monitor).await, [(incident.0, true)], "one incident, still resolved");
    assert!(stack.open_outages(monitor).await.is_empty(), "the outage stays resolved");
}

/// A nats-server killed and started again can lose its last acks and
/// duplicate ids: a result then comes again as a first delivery, or a check
/// run twice publishes its result again under a stream that no longer knows
/// the id (here: the same result under another id, run a second later).
/// A result that old is looked up in ClickHouse first: one row.
#[tokio::test]
async fn an_old_result_that_comes_again_as_a_new_message_is_stored_once() {
    let stack = Stack::new(&["local"], 1).await;
    let m = stack.monitor("http://scripted.invalid/", &["local"], 1).await;
    let evaluator = stack.evaluator("only");
    let due = statushawk_schemas::DueCheck {
        schema_version: statushawk_schemas::SCHEMA_VERSION,
        monitor_id: m,
        team_id: stack.team,
        region: region("local"),
        slot_ms: slot(0) - 60_000,
        deadline_ms: slot(0) - 50_000,
        attempt: 0,
        spec: serde_json::from_str("{\"kind\":\"http\",\"url\":\"http://scripted.invalid/\"}").unwrap(),
        timeout_ms: 1_000,
    };
    let first = result_for(&due, Up);
    let publisher = statushawk_nats::Publisher::new(stack.js.clone(), stack.topology.clone());
    let subject = statushawk_schemas::subject::check_result(m, &due.region, stack.topology.partitions);
    publisher.publish(&subject, &first.msg_id(), &first).await.unwrap();
    eventually(WAIT, "the first copy stored", || async { stack.stored(Some(m)).await == 1 }).await;

    let again = statushawk_schemas::CheckResult { started_at_ms: first.started_at_ms + 1_000, ..first.clone() };
    publisher.publish(&subject, &format!("{}:again", first.msg_id()), &again).await.unwrap();
    eventually(WAIT, "the second copy handled", || async { stack.published_results().await == 2 }).await;
    settled(&stack).await;
    assert_eq!(stack.stored(Some(m)).await, 1, "{:?}", stack.stored_rows(m).await);
    evaluator.stop().await;
}
