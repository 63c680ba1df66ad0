//! The server configurations in `nats/conf`, run with the real
//! `nats-server`: every file is valid; monitoring listens on loopback only;
//! the hub's routes and leaf node port refuse peers without the credentials
//! or without TLS; and a prober of each region, behind the region's TLS leaf
//! node or directly on the hub, can do its own region's work and nothing
//! else.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, consumer::PullConsumer, stream};
use async_nats::{Client, ConnectOptions, Event};
use futures::{FutureExt, StreamExt};
use serde_json::Value;
use statushawk_nats::{
    CHECK_RESULTS, CHECKS_DUE, Delivery, Publisher, Topology, prober_consumer, prober_urgent_consumer,
};
use statushawk_schemas::{
    CheckResult, CheckSpec, CheckStatus, DueCheck, MonitorId, Region, SCHEMA_VERSION, TcpSpec, TeamId, Timings, subject,
};
use support::{Certs, Hub, PATIENCE, Secrets, Server, conf_dir, eventually, four_ports, hub_env, hub_node_files};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------
// Every file
// ---------------------------------------------------------------------------

fn conf_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            conf_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "conf") {
            found.push(path);
        }
    }
}

#[test]
fn every_server_config_is_valid() {
    let nats_server = statushawk_testkit::nats_server_binary();
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::make(&dir.path().join("certs"), &["localhost", "127.0.0.1"]);
    let secrets = Secrets::random();
    let mut files = Vec::new();
    conf_files(&conf_dir(), &mut files);
    assert!(files.len() >= 6, "{files:?}");
    // The variables the configurations document (nats/conf/README.md), and
    // nothing else from this process's environment.
    let mut env = hub_env(&dir.path().join("store"), &certs, &secrets, &secrets.route, &[6222]);
    env.extend([
        ("NATS_SERVER_NAME".to_owned(), "leaf-eu-west-1".to_owned()),
        ("LEAF_LOCAL_PASSWORD".to_owned(), secrets.leaf_local.clone()),
        ("NATS_HUB_LEAF_URLS".to_owned(), format!("tls://prober-eu-west:{}@127.0.0.1:7422", secrets.prober_eu_west)),
    ]);
    for file in files {
        let output = Command::new(&nats_server)
            .arg("-t")
            .arg("-c")
            .arg(&file)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{} is not a valid nats-server configuration:\n{}{}",
            file.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

// ---------------------------------------------------------------------------
// Monitoring
// ---------------------------------------------------------------------------

/// `server`'s monitoring is bound to 127.0.0.1 alone: `/varz` says so, and
/// another address of the machine (127.0.0.2 is one on Linux, and reaches
/// any wildcard listener) gets no answer.
async fn assert_monitoring_on_loopback_only(server: &Server) {
    let varz = eventually(format!("{} /varz", server.name), || server.monitoring("/varz")).await;
    assert_eq!(varz["http_host"], "127.0.0.1", "{}: monitoring bound to {}", server.name, varz["http_host"]);
    let elsewhere = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), server.monitor));
    assert!(
        tokio::net::TcpStream::connect(elsewhere).await.is_err(),
        "{}: monitoring answers on {elsewhere}, not only on loopback",
        server.name
    );
}

#[tokio::test]
async fn monitoring_listens_on_loopback_only_in_every_config() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::make(&dir.path().join("certs"), &["localhost", "127.0.0.1"]);
    let secrets = Secrets::random();

    // single.conf (docker-compose.yml).
    let [client, monitor, ..] = four_ports();
    let single = std::fs::read_to_string(conf_dir().join("single.conf")).unwrap();
    let single_conf = dir.path().join("single.conf");
    std::fs::write(&single_conf, support::rebind(&single, &[(4222, client), (8222, monitor)])).unwrap();
    let store = ("NATS_STORE_DIR".to_owned(), dir.path().join("single-store").display().to_string());
    let single = Server::spawn("single", &single_conf, &[store], [client, monitor, 0, 0]);
    single.wait_healthy().await;
    assert_monitoring_on_loopback_only(&single).await;

    // A hub node (alone: its monitoring starts before its routes form).
    let ports = four_ports();
    let conf = hub_node_files(&dir.path().join("n1"), "n1", ports);
    let env = hub_env(&dir.path().join("n1-store"), &certs, &secrets, &secrets.route, &[ports[2]]);
    let hub = Server::spawn("n1", &conf, &env, ports);
    assert_monitoring_on_loopback_only(&hub).await;

    // A leaf node (its hub need not be there).
    let urls = format!("tls://prober-eu-west:{}@127.0.0.1:{}", secrets.prober_eu_west, ports[3]);
    let leaf = support::spawn_leaf(&dir.path().join("leaf"), "leaf-eu-west-1", &certs, &secrets, &urls);
    leaf.wait_healthy().await;
    assert_monitoring_on_loopback_only(&leaf).await;
}

// ---------------------------------------------------------------------------
// Routes and leaf connections
// ---------------------------------------------------------------------------

/// Opens a plain TCP connection to `port`, sends a CONNECT with `login` in
/// clear and a PING, and returns what the server sent until it closed the
/// connection (or answered the PING).
async fn plaintext_login(port: u16, login: &Value) -> String {
    let mut stream = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await.unwrap();
    stream.write_all(format!("CONNECT {login}\r\nPING\r\n").as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buffer = [0; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
            if String::from_utf8_lossy(&answer).contains("PONG") {
                break;
            }
        }
    })
    .await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(read.is_ok(), "port {port} kept a plaintext connection open; it sent {answer:?}");
    answer
}

/// Starts a fourth hub node, `name`, from the same files, routing to the
/// hub's nodes with `route_password` and presenting `certs`' certificate,
/// while trusting `trusted_ca`; waits until the hub either let it in or
/// `refusal` was logged (by it or a hub node), and asserts the latter.
async fn assert_route_refused(
    hub: &Hub,
    dir: &Path,
    name: &str,
    certs: &Certs,
    trusted_ca: &Path,
    route_password: &str,
    refusal: &str,
) {
    let ports = four_ports();
    let conf = hub_node_files(&dir.join(name), name, ports);
    let route_ports: Vec<u16> = hub.nodes.iter().map(|n| n.cluster).collect();
    let mut env = hub_env(&dir.join(name).join("store"), certs, &hub.secrets, route_password, &route_ports);
    env.retain(|(k, _)| k != "NATS_TLS_CA");
    env.push(("NATS_TLS_CA".to_owned(), trusted_ca.display().to_string()));
    let rogue = Server::spawn(name, &conf, &env, ports);
    let deadline = Instant::now() + PATIENCE;
    let joined = loop {
        let mut joined = false;
        for node in &hub.nodes {
            joined |= node.routed_to().await.is_some_and(|routes| routes.contains(name));
        }
        let refused = std::iter::once(&rogue).chain(&hub.nodes).any(|server| server.log().contains(refusal));
        if joined || refused {
            break joined;
        }
        let logs: String = std::iter::once(&rogue).chain(&hub.nodes).map(|server| server.log()).collect();
        assert!(Instant::now() < deadline, "{name} neither joined nor was refused ({refusal:?}):\n{logs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!joined, "{name} joined the hub:\n{}", rogue.log());
    for node in &hub.nodes {
        let routes = node.routed_to().await.unwrap();
        assert!(!routes.contains(name), "{} holds a route to {name}: {routes:?}", node.name);
        assert_eq!(routes.len(), 2, "{} routes: {routes:?}", node.name);
    }
    let routes = eventually(format!("{name} /routez"), || rogue.routed_to()).await;
    assert!(routes.is_empty(), "{name} holds routes to {routes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_and_leaf_connections_refuse_peers_without_credentials_or_tls() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::make(&dir.path().join("certs"), &["localhost", "127.0.0.1"]);
    let secrets = Secrets::random();
    let hub = Hub::start(dir.path(), &certs, &secrets).await;

    // The region's leaf, as configured, connects (so what follows is refused
    // for what it lacks, not for some other reason).
    let urls = hub.leaf_urls("tls", "prober-eu-west", &secrets.prober_eu_west);
    let leaf = support::spawn_leaf(&dir.path().join("leaf"), "leaf-eu-west-1", &certs, &secrets, &urls);
    eventually("the eu-west leaf to connect", || async {
        hub.leafs()
            .await
            .iter()
            .any(|l| l["name"] == "leaf-eu-west-1" && l["account"] == "PROBER_EU_WEST")
            .then_some(())
    })
    .await;
    leaf.assert_running();

    // Both ports demand TLS before anything else: a peer that sends its
    // password in clear is cut off without an answer. (The leaf node port
    // first says, in clear, that it requires TLS; the route port expects a
    // TLS handshake at once.)
    let n1 = &hub.nodes[0];
    let leaf_login =
        serde_json::json!({"user": "prober-eu-west", "pass": secrets.prober_eu_west, "tls_required": false});
    let answer = plaintext_login(n1.leafnodes, &leaf_login).await;
    assert!(answer.starts_with("INFO ") && answer.contains(r#""tls_required":true"#), "leaf node port: {answer:?}");
    assert!(!answer.contains("PONG") && !answer.contains("+OK"), "a plaintext leaf login was answered: {answer:?}");
    let route_login = serde_json::json!({
        "user": "route", "pass": secrets.route, "tls_required": false, "name": "plaintext", "cluster": "statushawk"
    });
    let answer = plaintext_login(n1.cluster, &route_login).await;
    assert!(!answer.contains("PONG") && !answer.contains("+OK"), "a plaintext route login was answered: {answer:?}");

    // A leaf configured without TLS (plain nats-leaf://, no CA) with the
    // region's right password never gets in.
    let [client, monitor, ..] = four_ports();
    let plain_conf = dir.path().join("leaf-plain.conf");
    std::fs::write(
        &plain_conf,
        format!(
            "server_name: leaf-plain\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{monitor}\n\
             leafnodes {{ reconnect: 1s, remotes: [ {{ urls: {} }} ] }}\n",
            hub.leaf_urls("nats-leaf", "prober-eu-west", &secrets.prober_eu_west)
        ),
    )
    .unwrap();
    let plain = Server::spawn("leaf-plain", &plain_conf, &[], [client, monitor, 0, 0]);
    let joined = eventually("the plaintext leaf to connect or be refused", || async {
        let joined = hub.leafs().await.iter().any(|l| l["name"] == "leaf-plain");
        (joined || plain.log().contains("TLS Handshake Failure")).then_some(joined)
    })
    .await;
    assert!(!joined, "a leaf without TLS connected:\n{}", plain.log());
    let leafz = plain.monitoring("/leafz").await.unwrap();
    assert_eq!(leafz["leafnodes"], 0, "{leafz}");

    // A node with the hub's certificate but not the route password ...
    assert_route_refused(&hub, dir.path(), "rogue-password", &certs, &certs.ca(), "wrong", "Authorization Violation")
        .await;
    // ... and one with the password but a certificate of another CA.
    let foreign = Certs::make(&dir.path().join("foreign-certs"), &["localhost", "127.0.0.1"]);
    assert_route_refused(
        &hub,
        dir.path(),
        "rogue-cert",
        &foreign,
        &certs.ca(),
        &secrets.route,
        "certificate signed by unknown authority",
    )
    .await;
}

// ---------------------------------------------------------------------------
// Probers
// ---------------------------------------------------------------------------

const PARTITIONS: u16 = 2;

fn region(name: &str) -> Region {
    Region::new(name).unwrap()
}

/// The production layout (no prefix: the configurations name the streams
/// and subjects as they are) for a hub region and a remote one.
fn topology() -> Topology {
    let mut topology = Topology::new("").unwrap();
    topology.partitions = PARTITIONS;
    topology.replicas = 3;
    topology.regions = vec![region("us-east"), region("eu-west")];
    topology
}

fn due_check(region: &Region, attempt: u32) -> DueCheck {
    DueCheck {
        schema_version: SCHEMA_VERSION,
        monitor_id: MonitorId::new(),
        team_id: TeamId::new(),
        region: region.clone(),
        slot_ms: 1_700_000_000_000,
        attempt,
        deadline_ms: 1_700_000_060_000,
        timeout_ms: 5_000,
        spec: CheckSpec::Tcp(TcpSpec { host: "example.com".into(), port: 443, send: None, expect: None }),
    }
}

fn result_of(due: &DueCheck, region: &Region) -> CheckResult {
    CheckResult {
        schema_version: SCHEMA_VERSION,
        monitor_id: due.monitor_id,
        team_id: due.team_id,
        region: region.clone(),
        slot_ms: due.slot_ms,
        attempt: due.attempt,
        prober_id: format!("test-{region}"),
        started_at_ms: due.slot_ms,
        status: CheckStatus::Up,
        error: None,
        message: None,
        timings: Timings { total_ms: 1, ..Timings::default() },
        ip: None,
        http_status: None,
        body_bytes: None,
        cert_expires_at_ms: None,
        cert_issuer: None,
        assertions: Vec::new(),
    }
}

/// A client that keeps the errors the server sends it (permission violations).
struct Connection {
    client: Client,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Connection {
    async fn open(urls: Vec<String>, user: &str, password: &str) -> Self {
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        let client = ConnectOptions::with_user_and_password(user.into(), password.into())
            .name(user)
            // What a connection hears is then never its own publish (a leaf
            // node delivers a local client's publish to local subscribers).
            .no_echo()
            // Refused requests end in a timeout on a direct connection.
            .request_timeout(Some(Duration::from_secs(3)))
            .event_callback(move |event| {
                let sink = sink.clone();
                async move {
                    if let Event::ServerError(err) = event {
                        sink.lock().unwrap().push(err.to_string());
                    }
                }
            })
            .connect(urls)
            .await
            .unwrap_or_else(|err| panic!("{user} cannot connect: {err}"));
        Self { client, errors }
    }

    fn js(&self) -> jetstream::Context {
        jetstream::new(self.client.clone())
    }

    /// Waits until the server reported a permission violation for a
    /// `what` (`Publish`, `Subscription`) to a subject starting with `subject`.
    async fn wait_refused(&self, what: &str, subject: &str) {
        let needle = format!("Permissions Violation for {what} to \"{subject}");
        let deadline = Instant::now() + PATIENCE;
        while !self.errors.lock().unwrap().iter().any(|e| e.contains(&needle)) {
            let errors = self.errors.lock().unwrap().clone();
            assert!(Instant::now() < deadline, "the server never said {needle}...; it said: {errors:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// What the prober worker does (prober/src/worker.rs), for both of
/// `region`'s consumers: bind with a consumer look-up, pull, publish the
/// result through the `Publisher` and await its ack, then ack the due
/// check (confirmed). `dues` are the urgent and the scheduled check the
/// consumers must hand out.
async fn work_own_region(prober: &Connection, topology: &Topology, region: &Region, dues: [&DueCheck; 2]) {
    let js = prober.js();
    let stream = js.get_stream_no_info(CHECKS_DUE).await.unwrap();
    let publisher = Publisher::new(js.clone(), topology.clone());
    for (name, due) in [(prober_urgent_consumer(region), dues[0]), (prober_consumer(region), dues[1])] {
        let consumer: PullConsumer = stream
            .get_consumer(&name)
            .await
            .unwrap_or_else(|err| panic!("the {region} prober cannot bind to {name}: {err}"));
        let mut batch = consumer.batch().max_messages(1).expires(Duration::from_secs(30)).messages().await.unwrap();
        let message = batch
            .next()
            .await
            .unwrap_or_else(|| panic!("{name} handed out nothing"))
            .unwrap_or_else(|err| panic!("pulling from {name}: {err}"));
        let delivery = Delivery::<DueCheck>::decode(message).await.unwrap();
        assert_eq!(delivery.payload(), due, "{name} handed out another check");
        let result = result_of(due, region);
        let subject = subject::check_result(due.monitor_id, region, topology.partitions);
        publisher
            .publish(&subject, &result.msg_id(), &result)
            .await
            .unwrap_or_else(|err| panic!("the {region} prober cannot publish its result: {err}"));
        delivery.ack().await.unwrap_or_else(|err| panic!("the {region} prober cannot ack: {err}"));
    }
}

/// What `prober` (of `own`) must not be able to do, with `other` being
/// another region. `direct`: it is connected to the hub, where each refusal
/// is also reported as a permission violation; behind the leaf, the hub
/// offers nothing else, so the leaf finds no responder.
async fn assert_confined(prober: &Connection, own: &Region, other: &Region, direct: bool) {
    let js = prober.js();
    let stream = js.get_stream_no_info(CHECKS_DUE).await.unwrap();
    let results = js.get_stream_no_info(CHECK_RESULTS).await.unwrap();
    let publisher = Publisher::new(js.clone(), topology());
    let (other_scheduled, other_urgent) = (prober_consumer(other), prober_urgent_consumer(other));
    let pull = |name: &str| {
        let subject = format!("$JS.API.CONSUMER.MSG.NEXT.{CHECKS_DUE}.{name}");
        prober.client.request(subject, r#"{"batch":1,"no_wait":true}"#.into())
    };
    let rogue_consumer = consumer::pull::Config {
        durable_name: Some(format!("rogue-{own}")),
        filter_subject: subject::checks_due(other),
        ..Default::default()
    };
    let rogue_stream = stream::Config {
        name: format!("ROGUE_{}", own.as_str().replace('-', "_")),
        subjects: vec![format!("rogue.{own}.>")],
        ..Default::default()
    };
    let forged = result_of(&due_check(other, 0), other);
    let forged_subject = subject::check_result(forged.monitor_id, other, PARTITIONS);
    let injected = due_check(own, 0);
    let (forged_id, injected_id) = (forged.msg_id(), injected.msg_id());
    let (own_due_subject, other_urgent_subject) = (subject::checks_due(own), subject::checks_urgent(other));

    // All at once: on a direct connection each refused request ends in the
    // client's request timeout.
    let (
        (bind_scheduled, bind_urgent, pull_scheduled, pull_urgent, delete_scheduled, delete_urgent),
        (stream_info, consumer_created, stream_created, leases, stored_result),
        (forged_result, injected_due, injected_urgent),
    ) = tokio::join!(
        async {
            tokio::join!(
                stream.get_consumer::<consumer::pull::Config>(&other_scheduled),
                stream.get_consumer::<consumer::pull::Config>(&other_urgent),
                pull(&other_scheduled),
                pull(&other_urgent),
                stream.delete_consumer(&other_scheduled),
                stream.delete_consumer(&other_urgent),
            )
        },
        async {
            tokio::join!(
                js.get_stream(CHECKS_DUE),
                stream.create_consumer(rogue_consumer),
                js.create_stream(rogue_stream),
                js.get_key_value("leases"),
                results.get_raw_message(1),
            )
        },
        async {
            tokio::join!(
                publisher.publish(&forged_subject, &forged_id, &forged),
                publisher.publish(&own_due_subject, &injected_id, &injected),
                publisher.publish(&other_urgent_subject, &injected_id, &injected),
            )
        },
    );
    // Another region's consumers: no look-up, no pull, no delete.
    assert!(bind_scheduled.is_err() && bind_urgent.is_err(), "the {own} prober bound to {other}'s consumers");
    assert!(pull_scheduled.is_err(), "the {own} prober pulled from {other_scheduled}: {pull_scheduled:?}");
    assert!(pull_urgent.is_err(), "the {own} prober pulled from {other_urgent}: {pull_urgent:?}");
    assert!(delete_scheduled.is_err() && delete_urgent.is_err(), "the {own} prober deleted {other}'s consumers");
    // No other JetStream call: stream info, creating a consumer or stream,
    // the leases bucket, reading stored results.
    assert!(stream_info.is_err(), "the {own} prober read the stream info");
    assert!(consumer_created.is_err(), "the {own} prober created a consumer");
    assert!(stream_created.is_err(), "the {own} prober created a stream");
    assert!(leases.is_err(), "the {own} prober opened the leases bucket");
    assert!(stored_result.is_err(), "the {own} prober read a stored result");
    // No result for another region, no due check (its own region's neither:
    // a prober does not make work).
    assert!(forged_result.is_err(), "the {own} prober published a result for {other}");
    assert!(injected_due.is_err() && injected_urgent.is_err(), "the {own} prober published a due check");

    if direct {
        for refused in [
            // The account renames $JS.API to prober.jsapi before the check.
            format!("prober.jsapi.CONSUMER.INFO.{CHECKS_DUE}.{other_scheduled}"),
            format!("prober.jsapi.CONSUMER.MSG.NEXT.{CHECKS_DUE}.{other_urgent}"),
            format!("prober.jsapi.CONSUMER.DELETE.{CHECKS_DUE}.{other_scheduled}"),
            format!("prober.jsapi.STREAM.INFO.{CHECKS_DUE}"),
            format!("prober.jsapi.CONSUMER.CREATE.{CHECKS_DUE}.rogue-{own}"),
            "prober.jsapi.STREAM.CREATE.ROGUE_".to_owned(),
            format!("prober.jsapi.STREAM.MSG.GET.{CHECK_RESULTS}"),
            forged_subject,
            subject::checks_due(own),
        ] {
            prober.wait_refused("Publish", &refused).await;
        }
    }
}

/// Subscriptions of a prober to what it must never receive.
struct Eavesdropper {
    subscriptions: Vec<(String, async_nats::Subscriber)>,
}

impl Eavesdropper {
    /// Subscribes `prober` to other regions' and every service's subjects:
    /// results, due checks, events, configuration, heartbeats, KV, and every
    /// reply (`_INBOX.>`).
    async fn start(prober: &Connection) -> Self {
        let mut subscriptions = Vec::new();
        for subject in [
            "checks.result.>",
            "checks.due.>",
            "checks.urgent.>",
            "events.>",
            "config.>",
            "heartbeats.>",
            "$KV.>",
            "_INBOX.>",
        ] {
            subscriptions.push((subject.to_owned(), prober.client.subscribe(subject).await.unwrap()));
        }
        prober.client.flush().await.unwrap();
        Self { subscriptions }
    }

    /// Every message received so far, as (subscription, subject).
    fn heard(&mut self) -> Vec<(String, String)> {
        let mut heard = Vec::new();
        for (filter, subscription) in &mut self.subscriptions {
            while let Some(Some(message)) = subscription.next().now_or_never() {
                heard.push((filter.clone(), message.subject.to_string()));
            }
        }
        heard
    }
}

/// A round trip from `prober` through the hub: its own consumer's info.
/// Whatever the hub sent the prober before it has arrived by then.
async fn round_trip(prober: &Connection, region: &Region) {
    let stream = prober.js().get_stream_no_info(CHECKS_DUE).await.unwrap();
    stream.consumer_info(prober_consumer(region)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_regions_prober_can_work_its_own_region_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::make(&dir.path().join("certs"), &["localhost", "127.0.0.1"]);
    let secrets = Secrets::random();
    let hub = Hub::start(dir.path(), &certs, &secrets).await;
    let urls = hub.leaf_urls("tls", "prober-eu-west", &secrets.prober_eu_west);
    let leaf = support::spawn_leaf(&dir.path().join("leaf"), "leaf-eu-west-1", &certs, &secrets, &urls);
    leaf.wait_healthy().await;
    eventually("the eu-west leaf to connect to the hub in its region's account", || async {
        hub.leafs()
            .await
            .iter()
            .any(|l| l["name"] == "leaf-eu-west-1" && l["account"] == "PROBER_EU_WEST")
            .then_some(())
    })
    .await;

    // The services (on node 1) create the topology and schedule one check
    // and one re-check per region.
    let admin = Connection::open(vec![hub.nodes[0].client_url()], "statushawk", &secrets.app).await;
    let admin_js = admin.js();
    let topology = topology();
    let deadline = Instant::now() + PATIENCE;
    while let Err(err) = topology.ensure(&admin_js).await {
        assert!(Instant::now() < deadline, "creating the topology: {err}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (us_east, eu_west) = (region("us-east"), region("eu-west"));
    let publisher = Publisher::new(admin_js.clone(), topology.clone());
    let mut dues = Vec::new();
    for region in [&us_east, &eu_west] {
        let urgent = due_check(region, 1);
        publisher.publish(&subject::checks_urgent(region), &urgent.msg_id(), &urgent).await.unwrap();
        let scheduled = due_check(region, 0);
        publisher.publish(&subject::checks_due(region), &scheduled.msg_id(), &scheduled).await.unwrap();
        dues.push([urgent, scheduled]);
    }

    // eu-west's prober on its leaf; us-east's on the hub, on node 1 with the
    // services.
    let remote = Connection::open(vec![leaf.client_url()], "prober", &secrets.leaf_local).await;
    let local = Connection::open(vec![hub.nodes[0].client_url()], "prober-us-east", &secrets.prober_us_east).await;
    let mut remote_ears = Eavesdropper::start(&remote).await;
    let mut local_ears = Eavesdropper::start(&local).await;
    // The same subscriptions in the services' account hear what the probers
    // must not (so the check below can fail).
    let services = Connection::open(vec![hub.nodes[0].client_url()], "statushawk", &secrets.app).await;
    let mut services_ears = Eavesdropper::start(&services).await;
    // On the hub, every subscription but the replies is refused outright.
    for (subject, _) in local_ears.subscriptions.iter().filter(|(s, _)| s != "_INBOX.>") {
        local.wait_refused("Subscription", subject).await;
    }

    assert_confined(&remote, &eu_west, &us_east, false).await;
    assert_confined(&local, &us_east, &eu_west, true).await;

    // Nothing either of them tried landed anywhere.
    let mut due_stream = admin_js.get_stream(CHECKS_DUE).await.unwrap();
    assert_eq!(due_stream.info().await.unwrap().state.messages, 4, "due checks besides the scheduler's");
    for region in [&us_east, &eu_west] {
        for name in [prober_consumer(region), prober_urgent_consumer(region)] {
            let info = due_stream.consumer_info(&name).await.unwrap();
            assert_eq!((info.num_pending, info.num_ack_pending), (1, 0), "{name} was touched");
        }
    }
    for rogue in ["rogue-eu-west", "rogue-us-east"] {
        assert!(due_stream.consumer_info(rogue).await.is_err(), "consumer {rogue} exists");
    }
    let mut results = admin_js.get_stream(CHECK_RESULTS).await.unwrap();
    assert_eq!(results.info().await.unwrap().state.messages, 0, "a forged result was stored");

    // Each does its own region's work, with the prober worker's calls.
    work_own_region(&remote, &topology, &eu_west, [&dues[1][0], &dues[1][1]]).await;
    work_own_region(&local, &topology, &us_east, [&dues[0][0], &dues[0][1]]).await;
    // (The work queue drops an acked message right after the ack.)
    eventually("the acked due checks to leave the work queue", || {
        let mut due_stream = due_stream.clone();
        async move { (due_stream.info().await.ok()?.state.messages == 0).then_some(()) }
    })
    .await;
    assert_eq!(results.info().await.unwrap().state.messages, 4, "results besides the probers' own");
    for (region, [urgent, scheduled]) in [(&us_east, &dues[0]), (&eu_west, &dues[1])] {
        for due in [urgent, scheduled] {
            let subject = subject::check_result(due.monitor_id, region, PARTITIONS);
            let stored = results.get_last_raw_message_by_subject(&subject).await.unwrap();
            let stored: CheckResult = serde_json::from_slice(&stored.payload).unwrap();
            assert_eq!(stored, result_of(due, region));
        }
    }

    // Meanwhile the services' own traffic: events, configuration, a
    // heartbeat, and replies to the services (a stored result read back,
    // onto a reply subject of the services' own).
    for subject in ["events.status.x", "config.monitors.x", "heartbeats.0.x"] {
        admin_js.publish(subject, "{}".into()).await.unwrap().await.unwrap();
    }
    let reply = format!("_INBOX.services-{}", uuid::Uuid::new_v4().simple());
    let mut replies = admin.client.subscribe(reply.clone()).await.unwrap();
    let get = format!("$JS.API.STREAM.MSG.GET.{CHECK_RESULTS}");
    admin.client.publish_with_reply(get, reply.clone(), r#"{"last_by_subj":"checks.result.>"}"#.into()).await.unwrap();
    let answer = replies.next().await.unwrap();
    assert!(String::from_utf8_lossy(&answer.payload).contains("message"), "{answer:?}");

    // None of it reached either prober: all they heard is replies to their
    // own requests.
    round_trip(&remote, &eu_west).await;
    round_trip(&local, &us_east).await;
    services.client.flush().await.unwrap();
    let control = services_ears.heard();
    for filter in ["checks.result.>", "events.>", "config.>", "heartbeats.>", "_INBOX.>"] {
        let heard = control.iter().any(|(f, subject)| f == filter && (f != "_INBOX.>" || *subject == reply));
        assert!(heard, "the services' account heard nothing on {filter}: {control:?}");
    }
    for (prober, heard) in [("eu-west", remote_ears.heard()), ("us-east", local_ears.heard())] {
        let foreign: Vec<&(String, String)> = heard
            .iter()
            .filter(|(filter, subject)| filter != "_INBOX.>" || subject.starts_with("_INBOX.services-"))
            .collect();
        assert!(foreign.is_empty(), "the {prober} prober received: {foreign:?}");
    }
}
