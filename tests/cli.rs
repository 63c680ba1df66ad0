//! The `statushawk` binary as an operator runs it, against real services.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

use std::process::{Command, Output};

use statushawk_testkit::TestEnv;

fn statushawk(env: &TestEnv, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_statushawk"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("STATUSHAWK_NATS_URL", &env.services.nats_url)
        .env("STATUSHAWK_NATS_PREFIX", &env.nats_prefix)
        .env("STATUSHAWK_DATABASE_URL", &env.database_url)
        .env("STATUSHAWK_CLICKHOUSE_URL", &env.services.clickhouse_url)
        .env("STATUSHAWK_CLICKHOUSE_DATABASE", &env.clickhouse_database);
    for (name, value) in extra {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test]
async fn migrate_twice_applies_then_says_nothing_to_do() {
    let env = TestEnv::new().await;
    let first = stdout(&statushawk(&env, &["migrate"], &[]));
    assert_eq!(
        first,
        "postgres: applied 0001 init, 0002 evaluator, 0003 notifier, 0004 api, 0005 heartbeats, 0006 system mail, 0007 invitations, 0008 monitor secrets, 0009 maintenance occurrences, 0010 trace context, 0011 monitor pauses, 0012 incident communication\nclickhouse: applied 0001_check_results, 0002_rollups, 0003_heartbeat_pings, 0004_team_rollups\n"
    );
    let second = stdout(&statushawk(&env, &["migrate"], &[]));
    assert_eq!(
        second,
        "postgres: up to date (12 migrations), nothing to do\nclickhouse: up to date (4 migrations), nothing to do\n"
    );
}

#[tokio::test]
async fn topology_is_idempotent_and_verify_reports_drift() {
    let env = TestEnv::new().await;
    let regions = [("STATUSHAWK_CLUSTER_REGIONS", "eu-west,us-east"), ("STATUSHAWK_CLUSTER_PARTITIONS", "2")];
    let first = stdout(&statushawk(&env, &["topology"], &regions));
    // 6 streams + bucket + 2 consumers per region (2) + 2 per partition (2) + notifier
    assert!(first.ends_with("topology: 16 of 16 items created or updated\n"), "{first}");
    let second = stdout(&statushawk(&env, &["topology"], &regions));
    assert_eq!(second, "topology: up to date (16 items), nothing to do\n");
    assert_eq!(stdout(&statushawk(&env, &["topology", "--verify"], &regions)), second);

    let more = [("STATUSHAWK_CLUSTER_REGIONS", "eu-west,us-east,ap-south"), ("STATUSHAWK_CLUSTER_PARTITIONS", "2")];
    let drift = statushawk(&env, &["topology", "--verify"], &more);
    assert_eq!(drift.status.code(), Some(1));
    let prefix = &env.nats_prefix;
    assert_eq!(
        String::from_utf8_lossy(&drift.stdout),
        format!(
            "consumer {prefix}_CHECKS_DUE/prober-ap-south: missing\nconsumer {prefix}_CHECKS_DUE/prober-urgent-ap-south: missing\n"
        )
    );
    assert!(String::from_utf8_lossy(&drift.stderr).contains("2 of 18 items differ"));
}

#[tokio::test]
async fn bad_configuration_is_refused_with_the_setting_named() {
    let env = TestEnv::new().await;
    let output = statushawk(&env, &["topology"], &[("STATUSHAWK_CLUSTER_REGIONS", "eu.west")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid region \"eu.west\"") && stderr.contains("CLUSTER.REGIONS"), "{stderr}");
}

#[test]
fn version_names_the_schema() {
    let output = Command::new(env!("CARGO_BIN_EXE_statushawk")).arg("version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("statushawk {} (message schema 1)\n", env!("CARGO_PKG_VERSION"))
    );
}

/// Every StatusHawk metric family on a `/metrics` page has its `# HELP`
/// line, with words in it.
fn every_metric_is_described(page: &str) {
    let described: std::collections::HashSet<&str> = page
        .lines()
        .filter_map(|line| line.strip_prefix("# HELP "))
        .filter(|rest| rest.split_once(' ').is_some_and(|(_, help)| help.trim().len() > 10))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    let mut families: Vec<&str> = page
        .lines()
        .filter(|line| line.starts_with("statushawk_"))
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(|name| ["_bucket", "_sum", "_count"].iter().fold(name, |n, suffix| n.strip_suffix(suffix).unwrap_or(n)))
        .collect();
    families.sort_unstable();
    families.dedup();
    assert!(families.len() > 2, "{page}");
    let undescribed: Vec<&&str> = families.iter().filter(|f| !described.contains(**f)).collect();
    assert!(undescribed.is_empty(), "metrics without HELP: {undescribed:?}\n{page}");
}

#[tokio::test]
async fn the_scheduler_leads_publishes_serves_metrics_and_stops_on_sigterm() {
    use futures::StreamExt;
    use statushawk_nats::async_nats::jetstream;

    let env = TestEnv::new().await;
    let regions = [("STATUSHAWK_CLUSTER_REGIONS", "eu-west")];
    stdout(&statushawk(&env, &["migrate"], &[]));
    stdout(&statushawk(&env, &["topology"], &regions));
    let pg = env.pg().await;
    let team: uuid::Uuid = sqlx::query_scalar("INSERT INTO teams (name, slug) VALUES ('Acme', 'acme') RETURNING id")
        .fetch_one(&pg)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO monitors (team_id, name, kind, spec, interval_ms, regions) \
         VALUES ($1, 'site', 'http', '{\"url\": \"https://example.com\"}', 10000, '{eu-west}')",
    )
    .bind(team)
    .execute(&pg)
    .await
    .unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_statushawk"));
    command
        .arg("scheduler")
        .env_clear()
        .env("STATUSHAWK_NATS_URL", &env.services.nats_url)
        .env("STATUSHAWK_NATS_PREFIX", &env.nats_prefix)
        .env("STATUSHAWK_DATABASE_URL", &env.database_url)
        .env("STATUSHAWK_CLUSTER_REGIONS", "eu-west")
        .env("STATUSHAWK_METRICS_LISTEN", &listen);
    let child = Running::spawn(&mut command);

    // Its due check arrives within one interval.
    let js = jetstream::new(env.nats().await);
    let stream = js.get_stream(format!("{}_CHECKS_DUE", env.nats_prefix)).await.unwrap();
    let consumer: jetstream::consumer::PullConsumer = stream.get_consumer("prober-eu-west").await.unwrap();
    let mut messages =
        consumer.fetch().max_messages(1).expires(std::time::Duration::from_secs(12)).messages().await.unwrap();
    let message = messages.next().await.expect("a due check within the interval").unwrap();
    let due: statushawk_schemas::DueCheck = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(due.region.as_str(), "eu-west");
    assert_eq!(due.team_id.0, team);

    // The publish lag is recorded once the server confirmed the publish, in
    // its own task: possibly just after the consumer got the message.
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = statushawk_testkit::http_get(&listen, "/metrics").await;
        if metrics.contains("statushawk_scheduler_publish_lag_seconds_bucket") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(metrics.contains("statushawk_scheduler_leader 1"), "{metrics}");
    assert!(metrics.contains("statushawk_scheduler_monitors 1"), "{metrics}");
    assert!(metrics.contains("statushawk_scheduler_publish_lag_seconds_bucket"), "{metrics}");
    every_metric_is_described(&metrics);

    // SIGTERM: a clean exit that gives the lease up.
    let status = child.terminate().status;
    assert!(status.success(), "{status}");
    let kv = js.get_key_value(format!("{}_leases", env.nats_prefix)).await.unwrap();
    assert!(kv.get("scheduler").await.unwrap().is_none(), "the lease was released");
}

#[tokio::test]
async fn a_prober_runs_its_regions_checks_and_stops_on_sigterm() {
    use futures::StreamExt;
    use statushawk_nats::async_nats::jetstream;
    use statushawk_schemas::{CheckResult, CheckSpec, CheckStatus, DueCheck, MonitorId, Region, TcpSpec, TeamId};
    use tokio::io::AsyncWriteExt;

    let env = TestEnv::new().await;
    let regions = [("STATUSHAWK_CLUSTER_REGIONS", "eu-west")];
    stdout(&statushawk(&env, &["topology"], &regions));

    // A TCP target that greets, on loopback: reachable only because this
    // prober runs with the demo setting that allows private targets.
    let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = target.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = target.accept().await {
            let _ = socket.write_all(b"220 ready\r\n").await;
        }
    });

    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Running::spawn(
        Command::new(env!("CARGO_BIN_EXE_statushawk"))
            .args(["prober", "--region", "eu-west"])
            .env_clear()
            .env("STATUSHAWK_NATS_URL", &env.services.nats_url)
            .env("STATUSHAWK_NATS_PREFIX", &env.nats_prefix)
            .env("STATUSHAWK_CLUSTER_REGIONS", "eu-west")
            .env("STATUSHAWK_PROBER_ALLOW_PRIVATE_TARGETS", "true")
            .env("STATUSHAWK_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}")),
    );

    let js = jetstream::new(env.nats().await);
    let results = js
        .get_stream(format!("{}_CHECK_RESULTS", env.nats_prefix))
        .await
        .unwrap()
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: format!("{}.checks.result.>", env.nats_prefix),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut results = results.messages().await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let due = DueCheck {
        schema_version: 1,
        monitor_id: MonitorId::new(),
        team_id: TeamId::new(),
        region: Region::new("eu-west").unwrap(),
        slot_ms: now,
        attempt: 0,
        deadline_ms: now + 60_000,
        timeout_ms: 5_000,
        spec: CheckSpec::Tcp(TcpSpec { host: "127.0.0.1".into(), port, send: None, expect: Some("ready".into()) }),
    };
    let mut topology = statushawk_nats::Topology::new(&env.nats_prefix).unwrap();
    topology.regions = vec![due.region.clone()];
    statushawk_nats::Publisher::new(js.clone(), topology)
        .publish(&statushawk_schemas::subject::checks_due(&due.region), &due.msg_id(), &due)
        .await
        .unwrap();

    let message = tokio::time::timeout(std::time::Duration::from_secs(10), results.next())
        .await
        .expect("a result within 10 s")
        .unwrap()
        .unwrap();
    let result: CheckResult = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(result.monitor_id, due.monitor_id);
    assert_eq!(result.status, CheckStatus::Up, "{result:?}");
    assert!(result.prober_id.starts_with("prober-eu-west-"), "{}", result.prober_id);
    let metrics = statushawk_testkit::http_get(&format!("127.0.0.1:{metrics_port}"), "/metrics").await;
    assert!(metrics.contains("statushawk_prober_checks_total{kind=\"tcp\",status=\"up\"} 1"), "{metrics}");

    assert!(child.terminate().status.success());
}

/// The README's run command: `statushawk all --demo` on a fresh database
/// migrates, seeds the demo, and the demo's down monitor becomes an incident
/// (scheduler → prober → evaluator) that reaches the demo webhook, signed
/// (notifier), all in one process that stops cleanly.
#[tokio::test]
async fn all_with_the_demo_opens_and_notifies_the_demo_incident_and_stops_on_sigterm() {
    let env = TestEnv::new().await;
    let allow =
        [("STATUSHAWK_PROBER_ALLOW_PRIVATE_TARGETS", "true"), ("STATUSHAWK_NOTIFIER_ALLOW_PRIVATE_TARGETS", "true")];
    let Served { child, api, metrics: listen } = serve(&env, &["all", "--demo"], &allow);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let incident = loop {
        let pg = env.pg().await;
        let incident: Option<String> = sqlx::query_scalar(
            "SELECT m.name FROM incidents i JOIN monitors m ON m.id = i.monitor_id WHERE i.resolved_at IS NULL",
        )
        .fetch_optional(&pg)
        .await
        .unwrap_or(None);
        pg.close().await;
        if let Some(name) = incident {
            break name;
        }
        assert!(std::time::Instant::now() < deadline, "no demo incident within 40 s");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(incident, "Nothing listens here (down)");
    let delivered = loop {
        let pg = env.pg().await;
        let status: Option<String> =
            sqlx::query_scalar("SELECT status::text FROM notification_deliveries WHERE status <> 'pending'")
                .fetch_optional(&pg)
                .await
                .unwrap_or(None);
        pg.close().await;
        if let Some(status) = status.filter(|s| s != "sending") {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the demo incident was not notified within 40 s");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(delivered, "delivered");
    let metrics = statushawk_testkit::http_get(&listen, "/metrics").await;
    assert!(metrics.contains("statushawk_evaluator_incidents_total{event=\"opened\"} 1"), "{metrics}");
    assert!(metrics.contains("statushawk_scheduler_leader 1"), "{metrics}");
    every_metric_is_described(&metrics);
    let ready = statushawk_testkit::http_get(&api, "/readyz").await;
    assert!(ready.contains(" 200 OK") && ready.ends_with("ready"), "the API runs in `all`: {ready}");

    let output = child.terminate();
    assert!(output.status.success(), "{}", output.status);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("demo webhook: incident.opened Nothing listens here (down) (signature verified)"),
        "{stdout}"
    );
    // The demo's person, whose password is printed: an owner of the demo team.
    let password = stdout
        .lines()
        .find_map(|line| line.split_once("as demo@statushawk.local with the password ").map(|(_, p)| p.trim()))
        .unwrap_or_else(|| panic!("no demo sign-in printed: {stdout}"));
    let pg = env.pg().await;
    let (hash, role): (String, String) = sqlx::query_as(
        "SELECT u.password_hash, m.role::text FROM users u JOIN memberships m ON m.user_id = u.id \
         JOIN teams t ON t.id = m.team_id WHERE u.email = 'demo@statushawk.local' AND t.slug = 'demo'",
    )
    .fetch_one(&pg)
    .await
    .unwrap();
    assert_eq!(role, "owner");
    assert!(statushawk_api::auth::verify_password(password, &hash), "the printed password signs in");

    // Run again on the same data: the demo's channel is kept (with the new
    // receiver's URL), so the open incident still shows it was delivered.
    let again = serve(&env, &["all", "--demo"], &allow);
    wait_ready(&again.api).await;
    let (channels, delivered): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM channels WHERE name = 'Demo webhook'), \
         (SELECT count(*) FROM notification_deliveries d JOIN channels c ON c.id = d.channel_id \
          WHERE c.name = 'Demo webhook' AND d.status = 'delivered')",
    )
    .fetch_one(&pg)
    .await
    .unwrap();
    assert_eq!(channels, 1, "one demo channel");
    assert!(delivered >= 1, "the first run's delivery is still in its log");
    assert!(again.child.terminate().status.success());
}

/// A heartbeat end to end through `statushawk all`: pings on the API's ping
/// URL keep it up; silence opens an incident that the notifier delivers to
/// the monitor's webhook; the next ping resolves it, and that is delivered
/// too.
#[tokio::test]
async fn a_silent_heartbeat_is_notified_and_its_next_ping_resolves_it() {
    use statushawk_testkit::http_json;
    let env = TestEnv::new().await;
    // The monitor's webhook.
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", hook.local_addr().unwrap());
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| async move {
            sink.lock().unwrap().push(body);
            "ok"
        }),
    );
    tokio::spawn(async move { axum::serve(hook, app).await });

    let allow = [("STATUSHAWK_NOTIFIER_ALLOW_PRIVATE_TARGETS", "true")];
    let Served { child, api, .. } = serve(&env, &["all"], &allow);
    wait_ready(&api).await;

    let signup =
        serde_json::json!({"email": "ops@shop.example", "password": "correct horse battery", "team_name": "Shop"});
    let (status, session) = http_json(&api, "POST", "/api/v1/signup", None, &signup).await;
    assert_eq!(status, 201, "{session}");
    let token = session["token"].as_str().unwrap();
    let channel = serde_json::json!({"name": "Ops", "kind": "webhook",
        "settings": {"url": hook_url, "signing_secret": "a long enough signing secret"}});
    let (status, channel) = http_json(&api, "POST", "/api/v1/channels", Some(token), &channel).await;
    assert_eq!(status, 201, "{channel}");
    let monitor = serde_json::json!({"name": "Nightly backup",
        "spec": {"kind": "heartbeat", "period_ms": 2000, "grace_ms": 1000}});
    let (status, monitor) = http_json(&api, "POST", "/api/v1/monitors", Some(token), &monitor).await;
    assert_eq!(status, 201, "{monitor}");
    let links = serde_json::json!({"channel_ids": [channel["id"]]});
    let path = format!("/api/v1/monitors/{}/channels", monitor["id"].as_str().unwrap());
    assert_eq!(http_json(&api, "PUT", &path, Some(token), &links).await.0, 200);
    let ping = format!("/ping/{}", monitor["ping_token"].as_str().unwrap());

    for _ in 0..3 {
        assert!(statushawk_testkit::http_get(&api, &ping).await.contains(" 200 OK"));
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let delivered = |event: &'static str| {
        let received = received.clone();
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
            loop {
                if received.lock().unwrap().iter().any(|body| body.contains(event)) {
                    return;
                }
                assert!(std::time::Instant::now() < deadline, "no {event} delivered");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    };
    delivered("incident.opened").await;
    assert!(received.lock().unwrap().iter().all(|body| body.contains("Nightly backup")));
    assert!(statushawk_testkit::http_get(&api, &ping).await.contains(" 200 OK"));
    delivered("incident.resolved").await;
    assert!(child.terminate().status.success());
}

/// `statushawk api` as a client finds it: schemathesis (scripts/api-fuzz)
/// generates requests from its OpenAPI document and finds no server error
/// and no answer that differs from the document.
#[tokio::test]
async fn the_api_keeps_to_its_openapi_document_under_schemathesis() {
    let env = TestEnv::new().await;
    stdout(&statushawk(&env, &["migrate"], &[]));
    stdout(&statushawk(&env, &["topology"], &[]));
    let metrics_token = "metrics-token-for-the-test";
    let web = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "<!doctype html><div id=root>the built app</div>").unwrap();
    let settings =
        [("STATUSHAWK_API_METRICS_TOKEN", metrics_token), ("STATUSHAWK_API_WEB_DIR", web.path().to_str().unwrap())];
    let Served { child, api, .. } = serve(&env, &["api"], &settings);
    wait_ready(&api).await;
    let fuzz = Command::new(statushawk_testkit::repo_root().join("scripts/api-fuzz"))
        .arg(format!("http://{api}"))
        .args(["--seed", "1"])
        .env("STATUSHAWK_FUZZ_EXAMPLES", "15")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&fuzz.stdout);
    assert!(fuzz.status.success(), "{report}\n{}", String::from_utf8_lossy(&fuzz.stderr));
    assert!(report.contains(" passed"), "{report}");
    let refused = statushawk_testkit::http_get(&api, "/metrics").await;
    assert!(
        refused.lines().next().is_some_and(|l| l.contains(" 401 ")),
        "the API's /metrics needs api.metrics_token: {refused}"
    );
    let metrics = http_get_with_token(&api, "/metrics", metrics_token).await;
    assert!(metrics.contains("statushawk_api_requests_total"), "{metrics}");
    // api.web_dir's app answers at / and at client routes.
    for route in ["/", "/monitors"] {
        let page = statushawk_testkit::http_get(&api, route).await;
        assert!(page.contains("the built app"), "{route}: {page}");
    }
    assert!(child.terminate().status.success());
}

/// The web dashboard's browser suite (`web/e2e/run.mjs`: playwright-core
/// driving Debian's Chromium) against `statushawk all --demo` serving the
/// built app. Needs `web/dist` (`cd web && npm ci && npm run build`, which
/// `scripts/test` does). With `STATUSHAWK_SCREENSHOTS=DIR` the pages'
/// screenshots are kept there (how `docs/dashboard-*.png` are made).
#[tokio::test]
async fn the_dashboard_works_in_a_real_browser_against_the_whole_system() {
    let root = statushawk_testkit::repo_root();
    let dist = root.join("web/dist");
    assert!(
        dist.join("index.html").is_file(),
        "the web app is not built: cd web && npm ci && npm run build (scripts/test does this)"
    );
    let env = TestEnv::new().await;
    let settings = [
        ("STATUSHAWK_API_WEB_DIR", dist.to_str().unwrap()),
        ("STATUSHAWK_PROBER_ALLOW_PRIVATE_TARGETS", "true"),
        ("STATUSHAWK_NOTIFIER_ALLOW_PRIVATE_TARGETS", "true"),
    ];
    let Served { mut child, api, .. } = serve(&env, &["all", "--demo"], &settings);
    let password = child.demo_password();
    wait_ready(&api).await;
    let shots = std::env::var("STATUSHAWK_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join(format!("statushawk-e2e-{}", std::process::id())));
    let run = tokio::process::Command::new("node")
        .arg(root.join("web/e2e/run.mjs"))
        .arg(format!("http://{api}"))
        .arg(&shots)
        .env("STATUSHAWK_DEMO_PASSWORD", password)
        .current_dir(root.join("web"))
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(300), run)
        .await
        .expect("the browser suite ended within 5 minutes")
        .expect("node runs");
    assert!(
        output.status.success(),
        "the browser suite failed (screenshots in {}):\n{}{}",
        shots.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(child.terminate().status.success());
}

/// `GET path` with `Authorization: Bearer <token>`: the whole answer.
async fn http_get_with_token(addr: &str, path: &str, token: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

/// A `statushawk` serving, and where.
struct Served {
    child: Running,
    /// The API's `host:port`.
    api: String,
    /// The metrics endpoint's `host:port`.
    metrics: String,
}

/// A free `127.0.0.1:<port>`.
fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("127.0.0.1:{port}")
}

/// `statushawk <args>` on `env`'s services, its API and metrics on free
/// ports, with `extra` settings and a channel-secrets key; stdout captured.
fn serve(env: &TestEnv, args: &[&str], extra: &[(&str, &str)]) -> Served {
    let (api, metrics) = (free_addr(), free_addr());
    let mut command = Command::new(env!("CARGO_BIN_EXE_statushawk"));
    command
        .args(args)
        .env_clear()
        .env("STATUSHAWK_NATS_URL", &env.services.nats_url)
        .env("STATUSHAWK_NATS_PREFIX", &env.nats_prefix)
        .env("STATUSHAWK_DATABASE_URL", &env.database_url)
        .env("STATUSHAWK_CLICKHOUSE_URL", &env.services.clickhouse_url)
        .env("STATUSHAWK_CLICKHOUSE_DATABASE", &env.clickhouse_database)
        .env("STATUSHAWK_SECRETS_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        .env("STATUSHAWK_METRICS_LISTEN", &metrics)
        .env("STATUSHAWK_API_LISTEN", &api)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for (name, value) in extra {
        command.env(name, value);
    }
    Served { child: Running::spawn(&mut command), api, metrics }
}

/// Waits (at most 30 s) until the API at `api` is ready.
async fn wait_ready(api: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while tokio::net::TcpStream::connect(api).await.is_err()
        || !statushawk_testkit::http_get(api, "/readyz").await.ends_with("ready")
    {
        assert!(std::time::Instant::now() < deadline, "the API did not become ready");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A spawned `statushawk`, stopped with SIGTERM by [`Running::terminate`],
/// or killed if the test fails before that (so no process outlives it).
struct Running(Option<std::process::Child>);

impl Running {
    fn spawn(command: &mut Command) -> Self {
        Self(Some(command.spawn().unwrap()))
    }

    /// The demo person's password, read from the process's output as it is
    /// printed (the rest of the output is drained and dropped).
    fn demo_password(&mut self) -> String {
        use std::io::BufRead;
        let stdout = self.0.as_mut().and_then(|child| child.stdout.take()).expect("stdout is captured");
        let (found, password) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((_, password)) = line.split_once(" with the password ") {
                    let _ = found.send(password.trim().to_owned());
                }
            }
        });
        password.recv_timeout(std::time::Duration::from_secs(60)).expect("the demo's password is printed")
    }

    /// SIGTERM, then its exit status and captured output.
    fn terminate(mut self) -> std::process::Output {
        let child = self.0.take().unwrap();
        let pid = child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        child.wait_with_output().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
