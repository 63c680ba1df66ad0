//! `statushawk bench dashboard`: how fast the web dashboard's overview
//! renders for one team with many monitors, and what it downloads.
//!
//! The benchmark creates a private Postgres database and a private
//! ClickHouse database (`statushawk_bench_<pid>`, both migrated as a
//! deployment's are), serves the router with the built web app on a
//! loopback port, signs up through the real endpoint (a user who owns a new
//! team), adds `monitors` HTTP monitors to that team in one bulk INSERT and
//! `hours` of check results for each in ClickHouse (generated server-side,
//! so the roll-up views fill as in production). Then `web/e2e/bench.mjs`
//! opens the overview in Chromium `runs` times, each in a fresh browser
//! context (cold cache), and reports when it rendered and the bytes
//! transferred; a layer on the outside of the router times every request.
//! Both databases are dropped at the end, also after a failure or Ctrl-C.
//!
//! The Postgres database is private, not only the team: the configured
//! one may be served by a running deployment, whose scheduler would pick
//! the benchmark's HTTP monitors up at its next reconcile and check them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt as _;
use hyper::body::{Bytes, Frame, SizeHint};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use statushawk_common::config::{ClickHouseConfig, DatabaseConfig};
use statushawk_common::{db, migrate};
use statushawk_schemas::{MonitorSpec, Region};
use tower::ServiceExt as _;
use uuid::Uuid;

use crate::Deps;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchSettings {
    /// HTTP monitors in the team.
    pub monitors: usize,
    /// Their check interval: one result per monitor per interval.
    pub interval: Duration,
    /// Hours of results per monitor.
    pub hours: u32,
    /// Page loads, each in a fresh browser context.
    pub runs: usize,
    /// The built web app (`index.html` and `assets/`).
    pub web_dir: PathBuf,
}

/// The result, printed as one JSON object.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// Monitors in the team.
    pub monitors: usize,
    /// Their interval (ms).
    pub interval_ms: u64,
    /// Hours of results.
    pub hours: u32,
    /// Regions the monitors are spread over (one each).
    pub regions: Vec<String>,
    /// Rows in `check_results`.
    pub results_rows: u64,
    /// Sign-up, monitors, results (migrations of the private databases not
    /// included).
    pub seed_seconds: f64,
    /// Of which the ClickHouse results.
    pub seed_results_seconds: f64,
    /// Then waiting for ClickHouse to finish merging what was seeded (a
    /// deployment's steady state; the merges of 14 M fresh rows would
    /// otherwise take the CPU from the page loads).
    pub merges_seconds: f64,
    /// Each page load, as `bench.mjs` measured it.
    pub runs: Vec<BrowserRun>,
    /// From navigation start until the status counts add up to the
    /// monitors and the first monitor row is in the DOM.
    pub first_render_ms: Spread,
    /// From navigation start until the first row shows its 24-hour uptime
    /// (the overview's answer rendered).
    pub data_render_ms: Spread,
    /// Every `.js` of `assets/`, as the server sends it uncompressed.
    pub js_bytes: u64,
    /// The same, gzipped as the server sends it (`Accept-Encoding: gzip`).
    pub js_gzip_bytes: u64,
    /// Every `.css` of `assets/`, uncompressed.
    pub css_bytes: u64,
    /// The same, gzipped as served.
    pub css_gzip_bytes: u64,
    /// Bytes transferred per type (`script`, `stylesheet`, `document`,
    /// `api`, `other`, `total`): each the median over the runs.
    pub transferred: BTreeMap<String, u64>,
    /// Server time per request, over every run.
    pub api: Vec<ApiTiming>,
    /// How to read the figures.
    pub notes: Vec<&'static str>,
}

/// One page load, from `bench.mjs`.
#[derive(Debug, Deserialize, Serialize)]
pub struct BrowserRun {
    /// See [`BenchReport::first_render_ms`].
    pub first_render_ms: f64,
    /// See [`BenchReport::data_render_ms`].
    pub data_render_ms: f64,
    /// When the document's response ended and `DOMContentLoaded` was
    /// handled (ms from navigation start).
    #[serde(default)]
    pub navigation: serde_json::Value,
    /// Encoded (transferred) body bytes per type.
    pub bytes: BTreeMap<String, u64>,
    /// Every request of the navigation but the live feed: what, its status,
    /// bytes transferred and decoded, and when it started and ended (ms
    /// from navigation start).
    #[serde(default)]
    pub requests: Vec<serde_json::Value>,
}

/// Minimum, median and maximum.
#[derive(Debug, Deserialize, Serialize)]
pub struct Spread {
    /// The least.
    pub min: f64,
    /// The median.
    pub median: f64,
    /// The most.
    pub max: f64,
}

/// What the browser reported.
#[derive(Debug, Deserialize)]
struct BrowserReport {
    runs: Vec<BrowserRun>,
}

/// Server time of one kind of request (method and path) over every run.
#[derive(Debug, Serialize)]
pub struct ApiTiming {
    /// The method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// Requests.
    pub count: usize,
    /// The statuses answered.
    pub statuses: Vec<u16>,
    /// Until the body's last byte was handed to the connection
    /// (compression included); for an event stream, until the response head.
    pub ms: Spread,
    /// Until the response head (the handler's work).
    pub head_ms: Spread,
}

/// One request the server answered.
#[derive(Clone, Debug)]
struct Served {
    method: String,
    path: String,
    status: u16,
    /// An event stream, whose body does not end.
    stream: bool,
    head_us: u64,
    body_us: Option<u64>,
}

type Log = Arc<Mutex<Vec<Served>>>;

const NOTES: [&str; 3] = [
    "bytes are encoded body bytes as transferred (gzip or Brotli as the server sent them); the live feed \
     /api/v1/live (server-sent events, never ends) is left out of them",
    "api times are the server's, measured by a layer outside every other; the sign-in of each run \
     (GET /healthz, POST /api/v1/login) is among them",
    "transferred is the median of each type over the runs",
];

/// Runs the benchmark with `deps` (its Postgres pool is used to create and
/// drop the private database; its ClickHouse client is replaced) and the
/// deployment's `database` and `clickhouse` settings.
pub async fn run(
    mut deps: Deps,
    database: &DatabaseConfig,
    clickhouse: &ClickHouseConfig,
    settings: BenchSettings,
) -> anyhow::Result<BenchReport> {
    anyhow::ensure!(
        settings.monitors > 0 && settings.runs > 0 && settings.hours > 0,
        "monitors, runs and hours must be positive"
    );
    anyhow::ensure!(
        (10..=86_400).contains(&settings.interval.as_secs()) && settings.interval.subsec_nanos() == 0,
        "the interval must be whole seconds from 10 s to 24 h"
    );
    anyhow::ensure!(
        crate::web::is_built(&settings.web_dir),
        "{} holds no built web app (index.html): build it with `cd web && npm ci && npm run build`, \
         or pass --web-dir",
        settings.web_dir.display()
    );
    let script = script(&settings.web_dir)?;
    let name = format!("statushawk_bench_{}", std::process::id());
    let pg_config = private_database(database, &name)?;
    let ch_config = ClickHouseConfig {
        url: clickhouse.url.clone(),
        database: name.clone(),
        user: clickhouse.user.clone(),
        password: clickhouse.password.clone(),
    };
    let admin = deps.pg.clone();
    let result = async {
        migrate::postgres(&pg_config).await.context("creating the benchmark's Postgres database")?;
        migrate::clickhouse(&ch_config).await.context("creating the benchmark's ClickHouse database")?;
        let pool = db::pg_pool(&pg_config).await?;
        deps.pg = pool.clone();
        deps.clickhouse = db::clickhouse(&ch_config);
        let measured = tokio::select! {
            measured = measure(deps, &settings, &script) => measured,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        };
        pool.close().await;
        measured
    }
    .await;
    let dropped_pg = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&admin)
        .await
        .map(drop)
        .with_context(|| format!("dropping the Postgres database {name}"));
    let dropped_ch = db::clickhouse_server(&ch_config)
        .query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute()
        .await
        .with_context(|| format!("dropping the ClickHouse database {name}"));
    match result {
        Ok(report) => {
            dropped_pg?;
            dropped_ch?;
            Ok(report)
        }
        Err(err) => {
            for cleanup in [dropped_pg, dropped_ch] {
                if let Err(cleanup) = cleanup {
                    tracing::warn!(error = format!("{cleanup:#}"), "Cleaning up after a failed benchmark failed.");
                }
            }
            Err(err)
        }
    }
}

/// `bench.mjs`, beside the web app's build (`web/dist` → `web/e2e`), or
/// under the current directory's `web/`.
fn script(web_dir: &Path) -> anyhow::Result<PathBuf> {
    let beside = web_dir.join("..").join("e2e").join("bench.mjs");
    let candidates = [beside, PathBuf::from("web/e2e/bench.mjs")];
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("web/e2e/bench.mjs not found: run from the checkout's root"))
}

/// `database` with its URL's database name replaced by `name`.
fn private_database(database: &DatabaseConfig, name: &str) -> anyhow::Result<DatabaseConfig> {
    let mut url = url::Url::parse(database.url.expose_secret()).context("parsing database.url")?;
    url.set_path(&format!("/{name}"));
    Ok(DatabaseConfig { url: String::from(url).into(), max_connections: database.max_connections })
}

/// Stops the server when dropped, on every way out.
struct Serving(tokio::task::JoinHandle<std::io::Result<()>>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn measure(mut deps: Deps, settings: &BenchSettings, script: &Path) -> anyhow::Result<BenchReport> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    deps.public_url = base.clone();
    deps.web_dir = settings.web_dir.clone();
    let regions: Vec<Region> = deps.regions.clone();
    anyhow::ensure!(!regions.is_empty(), "cluster.regions is empty");
    let (pg, clickhouse) = (deps.pg.clone(), deps.clickhouse.clone());
    let router = crate::router(deps);
    let log: Log = Arc::default();
    let app = router.clone().layer(axum::middleware::from_fn_with_state(log.clone(), record));
    let _serving = Serving(tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
    }));

    let started = Instant::now();
    let email = format!("dashboard-bench-{}@bench.example", Uuid::new_v4().simple());
    let password = hex::encode(rand::random::<[u8; 16]>());
    let team = sign_up(addr, &email, &password).await?;
    seed_monitors(&pg, team, settings, &regions).await?;
    let results_started = Instant::now();
    let results_rows = seed_results(&clickhouse, team, settings, &regions).await?;
    let seed_results_seconds = results_started.elapsed().as_secs_f64();
    let seed_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "bench dashboard: seeded {} monitors and {results_rows} results in {seed_seconds:.1} s; \
         waiting for ClickHouse's merges",
        settings.monitors
    );
    let merges_started = Instant::now();
    settle(&clickhouse).await?;
    let merges_seconds = merges_started.elapsed().as_secs_f64();
    eprintln!("bench dashboard: merges done in {merges_seconds:.1} s; loading the overview");

    let assets = assets(&router, &settings.web_dir).await?;
    let first_request = lock(&log).len();
    let browser = browse(script, &base, &email, &password, settings).await?;
    let served: Vec<Served> = lock(&log)[first_request..].to_vec();

    let spread_of = |value: fn(&BrowserRun) -> f64| spread(browser.runs.iter().map(value).collect());
    let mut kinds: Vec<&String> = browser.runs.iter().flat_map(|run| run.bytes.keys()).collect();
    kinds.sort();
    kinds.dedup();
    let transferred = kinds
        .into_iter()
        .map(|kind| {
            let mut each: Vec<u64> = browser.runs.iter().map(|run| run.bytes.get(kind).copied().unwrap_or(0)).collect();
            each.sort_unstable();
            (kind.clone(), each[each.len() / 2])
        })
        .collect();
    Ok(BenchReport {
        monitors: settings.monitors,
        interval_ms: u64::try_from(settings.interval.as_millis()).unwrap_or(u64::MAX),
        hours: settings.hours,
        regions: regions.iter().map(|r| r.as_str().to_owned()).collect(),
        results_rows,
        seed_seconds,
        seed_results_seconds,
        merges_seconds,
        first_render_ms: spread_of(|run| run.first_render_ms),
        data_render_ms: spread_of(|run| run.data_render_ms),
        runs: browser.runs,
        js_bytes: assets.js.0,
        js_gzip_bytes: assets.js.1,
        css_bytes: assets.css.0,
        css_gzip_bytes: assets.css.1,
        transferred,
        api: timings(&served),
        notes: NOTES.to_vec(),
    })
}

/// Signs up through the API (a new user owning a new team); the team.
async fn sign_up(addr: SocketAddr, email: &str, password: &str) -> anyhow::Result<Uuid> {
    let body = serde_json::json!({
        "email": email,
        "password": password,
        "name": "Dashboard bench",
        "team_name": "Dashboard bench",
        "team_slug": format!("dashboard-bench-{}", Uuid::new_v4().simple()),
    });
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::post("/api/v1/signup")
        .header(header::HOST, addr.to_string())
        .header(header::CONTENT_TYPE, "application/json")
        .body(http_body_util::Full::new(Bytes::from(body.to_string())))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let answer = response.into_body().collect().await?.to_bytes();
    anyhow::ensure!(status == StatusCode::CREATED, "sign-up answered {status}: {}", String::from_utf8_lossy(&answer));
    let session: crate::users::Session = serde_json::from_slice(&answer).context("reading the sign-up's answer")?;
    Ok(session.team_id.0)
}

/// Services and companies the monitors' names and URLs are made of.
const SERVICES: [&str; 16] = [
    "checkout",
    "payments",
    "search",
    "auth",
    "inventory",
    "billing",
    "orders",
    "images",
    "notifications",
    "catalog",
    "shipping",
    "reviews",
    "accounts",
    "gateway",
    "reports",
    "webhooks",
];
const COMPANIES: [&str; 10] =
    ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell", "soylent"];
const PATHS: [&str; 4] = ["/health", "/healthz", "/api/status", "/"];

/// The id of monitor `n`: a fixed prefix and `n` in the last 48 bits, so
/// ClickHouse derives the same ids from a row number (see [`seed_results`]).
fn monitor_id(prefix: &str, n: usize) -> anyhow::Result<Uuid> {
    Ok(Uuid::parse_str(&format!("{prefix}{n:012x}"))?)
}

/// A random UUID's first 24 characters (`xxxxxxxx-xxxx-4xxx-yxxx-`).
fn id_prefix(team: Uuid) -> String {
    // Derived from the team, so the results' ids are known from it alone.
    let hashed = blake3::hash(team.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hashed.as_bytes()[..16]);
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid().hyphenated().to_string();
    id[..24].to_owned()
}

/// `count` HTTP monitors in `team`, one region each (round-robin), with
/// their current status as the evaluator keeps it: down for the monitors
/// with an outage going on (see [`seed_results`]), up for the others.
async fn seed_monitors(pg: &PgPool, team: Uuid, settings: &BenchSettings, regions: &[Region]) -> anyhow::Result<()> {
    let count = settings.monitors;
    let prefix = id_prefix(team);
    let mut ids = Vec::with_capacity(count);
    let mut names = Vec::with_capacity(count);
    let mut specs = Vec::with_capacity(count);
    let mut in_region = Vec::with_capacity(count);
    let mut down = Vec::with_capacity(count);
    for n in 0..count {
        let (service, company) = (SERVICES[n % SERVICES.len()], COMPANIES[(n / SERVICES.len()) % COMPANIES.len()]);
        let url = format!("https://{service}-{}.{company}.example{}", n / 160, PATHS[n % PATHS.len()]);
        // Stored as the API stores a monitor it was sent: every setting, the kind apart.
        let spec: MonitorSpec = serde_json::from_value(serde_json::json!({"kind": "http", "url": url}))?;
        let mut spec = serde_json::to_value(&spec)?;
        if let Some(object) = spec.as_object_mut() {
            object.remove("kind");
        }
        ids.push(monitor_id(&prefix, n)?);
        names.push(format!("{} {service} {}", capitalized(company), n / 160 + 1));
        specs.push(spec);
        in_region.push(regions[n % regions.len()].as_str().to_owned());
        down.push(in_outage(n));
    }
    let mut tx = pg.begin().await?;
    sqlx::query(
        "INSERT INTO monitors (id, team_id, name, kind, spec, interval_ms, timeout_ms, regions) \
         SELECT id, $1, name, 'http', spec, $6, least($6, 10000), ARRAY[region] \
         FROM unnest($2::uuid[], $3::text[], $4::jsonb[], $5::text[]) AS u(id, name, spec, region)",
    )
    .bind(team)
    .bind(&ids)
    .bind(&names)
    .bind(&specs)
    .bind(&in_region)
    .bind(i32::try_from(settings.interval.as_millis()).context("interval")?)
    .execute(&mut *tx)
    .await
    .context("inserting the monitors")?;
    sqlx::query(
        "INSERT INTO monitor_status (monitor_id, status, seq, changed_at) \
         SELECT id, CASE WHEN down THEN 'down' ELSE 'up' END::monitor_status_kind, 1, now() - interval '1 hour' \
         FROM unnest($1::uuid[], $2::bool[]) AS u(id, down)",
    )
    .bind(&ids)
    .bind(&down)
    .execute(&mut *tx)
    .await
    .context("inserting the monitors' status")?;
    tx.commit().await?;
    Ok(())
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// Monitors with an outage going on: about 1 in 100.
const OUTAGE_EVERY: usize = 97;
/// How many of their latest results are down.
const OUTAGE_RESULTS: u64 = 15;

fn in_outage(n: usize) -> bool {
    n % OUTAGE_EVERY == 13
}

/// Monitors per `INSERT … SELECT`.
const MONITORS_PER_INSERT: usize = 1000;

/// `hours` of results of every monitor, one per interval, from its region,
/// generated by ClickHouse (`numbers`) and inserted into `check_results`,
/// so the roll-up views fill as they do from the evaluator's inserts. The
/// newest result of each monitor is at most an interval old. Mostly up,
/// with varied response times and 0.3 % of failures scattered; the
/// monitors of [`in_outage`] are down for their last [`OUTAGE_RESULTS`].
/// Returns the rows in the table.
async fn seed_results(
    clickhouse: &clickhouse::Client,
    team: Uuid,
    settings: &BenchSettings,
    regions: &[Region],
) -> anyhow::Result<u64> {
    let interval_s = settings.interval.as_secs();
    let per = u64::from(settings.hours) * 3600 / interval_s;
    anyhow::ensure!(per > OUTAGE_RESULTS, "hours must hold more than {OUTAGE_RESULTS} intervals");
    let prefix = id_prefix(team);
    let newest = statushawk_schemas::now_ms() / 1000 - 5;
    let regions_sql: Vec<String> = regions.iter().map(|r| format!("'{}'", r.as_str())).collect();
    let regions_sql = regions_sql.join(", ");
    let cert_expires = newest + 60 * 86_400;
    // Everything inlined is a number, a UUID or a validated region name.
    // SQL that ClickHouse 18.16 runs as well as current releases: no
    // numbers(offset, count), no leftPad; `hex` of 2^48 + m is 14 digits.
    for first in (0..settings.monitors).step_by(MONITORS_PER_INSERT) {
        let monitors = MONITORS_PER_INSERT.min(settings.monitors - first) as u64;
        let sql = format!(
            "INSERT INTO check_results (ts, monitor_id, team_id, region, slot_ms, attempt, prober_id, status, \
             error_kind, message, dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, http_status, body_bytes, \
             cert_expires_at) \
             SELECT toDateTime(slot_s), \
                    toUUID(concat('{prefix}', lower(substring(hex(toUInt64(m) + 281474976710656), 3, 12)))), \
                    toUUID('{team}'), region, toInt64(slot_s) * 1000, toUInt8(0), concat('bench-', region), \
                    CAST(if(down, 'down', 'up') AS Enum8('up' = 1, 'down' = 2, 'degraded' = 3, 'skipped' = 4)), \
                    if(down, 'timeout', ''), if(down, 'no answer within 10000 ms', ''), \
                    if(down, NULL, toUInt32(1 + h % 4)), if(down, NULL, toUInt32(3 + h % 10)), \
                    if(down, NULL, toUInt32(12 + h % 20)), if(down, NULL, toUInt32(total - 5)), \
                    total, toUInt16(if(down, 0, 200)), toUInt32(if(down, 0, 300 + h % 2000)), \
                    if(down, NULL, toDateTime({cert_expires})) \
             FROM ( \
                 SELECT intDiv(number, {per}) + {first} AS m, number % {per} AS k, \
                        intHash32(number + {offset}) AS h, \
                        toInt64({newest}) - toInt64({per} - 1 - k) * {interval_s} - toInt64(m % {interval_s}) AS slot_s, \
                        [{regions_sql}][m % {region_count} + 1] AS region, \
                        (m % {outage_every} = 13 AND k >= {per} - {outage_results}) OR h % 1000 < 3 AS down, \
                        toUInt32(if(down, 10000, 40 + (m * 37) % 360 + h % 60 \
                                 + if(intHash32(number + {offset} + 1) % 200 = 0, 800, 0))) AS total \
                 FROM numbers({rows}) \
             )",
            offset = first as u64 * per,
            region_count = regions.len(),
            outage_every = OUTAGE_EVERY,
            outage_results = OUTAGE_RESULTS,
            rows = monitors * per,
        );
        clickhouse.query(&sql).execute().await.context("inserting the check results")?;
    }
    Ok(clickhouse.query("SELECT count() FROM check_results").fetch_one::<u64>().await?)
}

/// Waits until ClickHouse runs no merge in the database (three polls in a
/// row, half a second apart), at most five minutes.
async fn settle(clickhouse: &clickhouse::Client) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut quiet = 0;
    while quiet < 3 {
        anyhow::ensure!(Instant::now() < deadline, "ClickHouse was still merging the seeded rows after 5 minutes");
        let running: u64 = clickhouse
            .query("SELECT count() FROM system.merges WHERE database = currentDatabase()")
            .fetch_one()
            .await
            .context("asking ClickHouse for its merges")?;
        quiet = if running == 0 { quiet + 1 } else { 0 };
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// Uncompressed and gzipped bytes.
struct Assets {
    js: (u64, u64),
    css: (u64, u64),
}

/// The `.js` and `.css` files of `assets/`, each asked of `router` with
/// `Accept-Encoding: gzip` as a browser does: what the server sends.
async fn assets(router: &axum::Router, web_dir: &Path) -> anyhow::Result<Assets> {
    let mut totals = Assets { js: (0, 0), css: (0, 0) };
    let dir = web_dir.join("assets");
    let mut entries = tokio::fs::read_dir(&dir).await.with_context(|| format!("reading {}", dir.display()))?;
    while let Some(entry) = entries.next_entry().await? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let total = match Path::new(&name).extension().and_then(|e| e.to_str()) {
            Some("js") => &mut totals.js,
            Some("css") => &mut totals.css,
            _ => continue,
        };
        let request =
            Request::get(format!("/assets/{name}")).header(header::ACCEPT_ENCODING, "gzip").body(Body::empty())?;
        let response = router.clone().oneshot(request).await?;
        anyhow::ensure!(response.status() == StatusCode::OK, "/assets/{name} answered {}", response.status());
        let gzipped = response.headers().get(header::CONTENT_ENCODING) == Some(&HeaderValue::from_static("gzip"));
        let sent = response.into_body().collect().await?.to_bytes().len() as u64;
        let plain = entry.metadata().await?.len();
        anyhow::ensure!(gzipped || sent == plain, "/assets/{name} was neither gzipped nor sent as it is");
        total.0 += plain;
        total.1 += sent;
    }
    Ok(totals)
}

/// Runs `bench.mjs` and reads its JSON.
async fn browse(
    script: &Path,
    base: &str,
    email: &str,
    password: &str,
    settings: &BenchSettings,
) -> anyhow::Result<BrowserReport> {
    let mut command = tokio::process::Command::new("node");
    command
        .arg(script)
        .args([base, email, password, &settings.runs.to_string(), &settings.monitors.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    let limit = Duration::from_secs(60 + 120 * settings.runs as u64);
    let output = tokio::time::timeout(limit, command.output())
        .await
        .map_err(|_| anyhow::anyhow!("{} took longer than {} s", script.display(), limit.as_secs()))?
        .with_context(|| format!("running node {}", script.display()))?;
    anyhow::ensure!(output.status.success(), "{} failed ({}); see its output above", script.display(), output.status);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or_default();
    let report: BrowserReport =
        serde_json::from_str(line).with_context(|| format!("reading the JSON of {}: {line:?}", script.display()))?;
    anyhow::ensure!(report.runs.len() == settings.runs, "{} reported {} runs", script.display(), report.runs.len());
    Ok(report)
}

fn lock(log: &Log) -> std::sync::MutexGuard<'_, Vec<Served>> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

/// The benchmark's layer: times each request to its response head and to
/// its body's end, into `log`.
async fn record(State(log): State<Log>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let head_us = micros(started.elapsed());
    let stream =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
    let index = {
        let mut log = lock(&log);
        log.push(Served { method, path, status: response.status().as_u16(), stream, head_us, body_us: None });
        log.len() - 1
    };
    if stream {
        return response;
    }
    let (parts, body) = response.into_parts();
    let ended = Box::new(move || {
        if let Some(served) = lock(&log).get_mut(index) {
            served.body_us = Some(micros(started.elapsed()));
        }
    });
    Response::from_parts(parts, Body::new(Timed { inner: body, ended: Some(ended) }))
}

/// A body that calls `ended` once, when it has been read to the end (or
/// is dropped before).
struct Timed {
    inner: Body,
    ended: Option<Box<dyn FnOnce() + Send>>,
}

impl Timed {
    fn end(&mut self) {
        if let Some(ended) = self.ended.take() {
            ended();
        }
    }
}

impl HttpBody for Timed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.end();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        self.end();
    }
}

/// Per method and path: count, statuses, and the spread of both times.
fn timings(served: &[Served]) -> Vec<ApiTiming> {
    let mut by_request: BTreeMap<(String, String), Vec<&Served>> = BTreeMap::new();
    for one in served {
        by_request.entry((one.path.clone(), one.method.clone())).or_default().push(one);
    }
    let ms = |us: u64| us as f64 / 1000.0;
    by_request
        .into_iter()
        .map(|((path, method), all)| {
            let mut statuses: Vec<u16> = all.iter().map(|s| s.status).collect();
            statuses.sort_unstable();
            statuses.dedup();
            let whole = all.iter().map(|s| ms(if s.stream { s.head_us } else { s.body_us.unwrap_or(s.head_us) }));
            ApiTiming {
                method,
                path,
                count: all.len(),
                statuses,
                ms: spread(whole.collect()),
                head_ms: spread(all.iter().map(|s| ms(s.head_us)).collect()),
            }
        })
        .collect()
}

/// Minimum, median (the lower middle of an even count) and maximum.
fn spread(mut values: Vec<f64>) -> Spread {
    values.sort_by(f64::total_cmp);
    let at = |i: usize| values.get(i).copied().unwrap_or(f64::NAN);
    Spread { min: at(0), median: at(values.len().saturating_sub(1) / 2), max: at(values.len().saturating_sub(1)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_ids_match_what_clickhouse_derives() {
        // ClickHouse: lower(substring(hex(toUInt64(m) + 2^48), 3, 12)).
        let prefix = id_prefix(Uuid::nil());
        let hex = |m: u64| format!("{:x}", m + (1 << 48))[1..].to_owned();
        for n in [0usize, 1, 255, 9_999, 1 << 40] {
            let id = monitor_id(&prefix, n).unwrap().to_string();
            assert_eq!(&id[24..], hex(n as u64), "{n}");
            assert!(id.starts_with(&prefix));
        }
    }

    #[test]
    fn timings_per_method_and_path() {
        let served = |path: &str, stream: bool, head_us: u64, body_us: Option<u64>| Served {
            method: "GET".to_owned(),
            path: path.to_owned(),
            status: if body_us.is_some() { 200 } else { 304 },
            stream,
            head_us,
            body_us,
        };
        let all = [
            served("/api/v1/overview", false, 1_000, Some(9_000)),
            served("/api/v1/overview", false, 2_000, Some(3_000)),
            served("/api/v1/overview", false, 500, None),
            served("/api/v1/live", true, 4_000, None),
        ];
        let timings = timings(&all);
        assert_eq!(timings.len(), 2);
        let live = &timings[0];
        assert_eq!((live.path.as_str(), live.count, live.ms.max), ("/api/v1/live", 1, 4.0));
        let overview = &timings[1];
        assert_eq!((overview.count, overview.statuses.as_slice()), (3, &[200, 304][..]));
        // A body never read to the end counts to its head.
        assert_eq!((overview.ms.min, overview.ms.median, overview.ms.max), (0.5, 3.0, 9.0));
        assert_eq!((overview.head_ms.min, overview.head_ms.median, overview.head_ms.max), (0.5, 1.0, 2.0));
    }

    #[test]
    fn spread_of_runs() {
        let s = spread(vec![3.0, 1.0, 2.0, 10.0, 4.0]);
        assert_eq!((s.min, s.median, s.max), (1.0, 3.0, 10.0));
    }
}
