//! `statushawk bench heartbeat`: how many pings per second the API accepts
//! end to end on this machine (HTTP request, token lookup, rate limit,
//! JetStream publish with its ack, answer), with the clients in the same
//! process.
//!
//! It creates a throw-away team with `tokens` heartbeat monitors in the
//! configured Postgres and a NATS topology under its own prefix, serves the
//! router on a loopback port, sends `pings` over `concurrency` keep-alive
//! HTTP/1.1 connections (each token's pings one at a time, spaced below its
//! allowed rate, so nothing is refused), checks the stream holds every ping, and removes it all.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use serde::Serialize;
use sqlx::PgPool;
use statushawk_nats::async_nats::jetstream;
use statushawk_nats::{HEARTBEATS, Publisher, Topology};

use crate::Deps;
use crate::pings::{PINGS_PER_TOKEN, TokenKey};

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchSettings {
    /// Pings to send.
    pub pings: usize,
    /// Heartbeat monitors (tokens) they go to.
    pub tokens: usize,
    /// Connections sending at once.
    pub concurrency: usize,
}

/// The result, printed as one JSON object.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// Pings sent.
    pub pings: usize,
    /// Tokens they went to.
    pub tokens: usize,
    /// Connections.
    pub concurrency: usize,
    /// Answered 200.
    pub accepted: usize,
    /// Answered otherwise.
    pub refused: usize,
    /// Messages in the heartbeat stream afterwards.
    pub stream_messages: u64,
    /// Wall time of the sending.
    pub seconds: f64,
    /// Accepted pings per second.
    pub pings_per_sec: f64,
}

/// Runs the benchmark; `deps` carries the Postgres and NATS to use (its
/// topology is replaced by a private one).
pub async fn run(mut deps: Deps, settings: BenchSettings) -> anyhow::Result<BenchReport> {
    anyhow::ensure!(settings.tokens > 0 && settings.concurrency > 0, "tokens and concurrency must be positive");
    let js = jetstream::new(deps.nats.clone());
    let mut topology = Topology::new(&format!("hbbench{}", std::process::id()))?;
    topology.partitions = deps.topology.partitions;
    topology.ensure(&js).await.context("creating the benchmark's NATS topology")?;
    deps.publisher = Publisher::new(js.clone(), topology.clone());
    deps.topology = topology.clone();
    // Tokens with a MAC, as a deployment with `secrets.key` mints them.
    if deps.secrets.is_none() {
        deps.secrets = Some(statushawk_common::secrets::SecretBox::new(&rand::random::<[u8; 32]>())?);
    }
    let key = TokenKey::new(deps.secrets.as_ref());
    let pg = deps.pg.clone();
    let (team, tokens) = seed(&pg, &key, settings.tokens).await?;
    let result = measure(deps, &js, &topology, &tokens, &settings).await;
    let cleanup = sqlx::query("DELETE FROM teams WHERE id = $1").bind(team).execute(&pg).await;
    topology.remove(&js).await;
    cleanup.context("removing the benchmark's team")?;
    result
}

/// A team with `count` heartbeat monitors; their tokens, minted with `key`.
async fn seed(pg: &PgPool, key: &TokenKey, count: usize) -> anyhow::Result<(uuid::Uuid, Vec<String>)> {
    let team: uuid::Uuid =
        sqlx::query_scalar("INSERT INTO teams (name, slug) VALUES ('Heartbeat bench', $1) RETURNING id")
            .bind(format!("hb-bench-{}", uuid::Uuid::now_v7()))
            .fetch_one(pg)
            .await
            .context("creating the benchmark's team (is the database migrated?)")?;
    let tokens: Vec<String> = (0..count).map(|_| key.mint()).collect();
    let hashes: Vec<Vec<u8>> = tokens.iter().map(|t| crate::auth::token_hash(t)).collect();
    sqlx::query(
        "INSERT INTO monitors (team_id, name, kind, spec, interval_ms, regions, confirmations, quorum, ping_token_hash) \
         SELECT $1, 'bench ' || n, 'heartbeat', '{\"period_ms\": 3600000, \"grace_ms\": 60000}', 60000, \
                '{heartbeat}', 1, 1, h \
         FROM unnest($2::bytea[]) WITH ORDINALITY AS u(h, n)",
    )
    .bind(team)
    .bind(&hashes)
    .execute(pg)
    .await?;
    Ok((team, tokens))
}

async fn measure(
    deps: Deps,
    js: &jetstream::Context,
    topology: &Topology,
    tokens: &[String],
    settings: &BenchSettings,
) -> anyhow::Result<BenchReport> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        axum::serve(listener, crate::router(deps).into_make_service_with_connect_info::<std::net::SocketAddr>()).await
    });
    // A token's pings go one at a time, each sent at least `gap` after the
    // previous one was answered (so after the server counted it): the
    // server sees at most PINGS_PER_TOKEN - 1 of them in any second,
    // however the clients are scheduled, and refuses none.
    let gap = Duration::from_secs(1) / u32::try_from(PINGS_PER_TOKEN.saturating_sub(1).max(1)).unwrap_or(1);
    let tokens: Arc<Vec<(String, tokio::sync::Mutex<Option<Instant>>)>> =
        Arc::new(tokens.iter().map(|t| (t.clone(), tokio::sync::Mutex::new(None))).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..settings.concurrency {
        let (next, accepted, refused, tokens) = (next.clone(), accepted.clone(), refused.clone(), tokens.clone());
        let total = settings.pings;
        clients.spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(());
                }
                let (token, answered) = &tokens[i % tokens.len()];
                let mut answered = answered.lock().await;
                if let Some(previous) = *answered {
                    tokio::time::sleep_until((previous + gap).into()).await;
                }
                let request =
                    hyper::Request::get(format!("/ping/{token}")).header("host", "bench").body(Empty::<Bytes>::new())?;
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                let ok = response.status() == hyper::StatusCode::OK;
                response.into_body().collect().await?;
                *answered = Some(Instant::now());
                drop(answered);
                if ok { &accepted } else { &refused }.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while let Some(joined) = clients.join_next().await {
        joined??;
    }
    let seconds = started.elapsed().as_secs_f64();
    server.abort();
    let mut stream = js.get_stream(topology.stream(HEARTBEATS)).await?;
    let stream_messages = stream.info().await?.state.messages;
    let accepted = accepted.load(Ordering::Relaxed);
    Ok(BenchReport {
        pings: settings.pings,
        tokens: tokens.len(),
        concurrency: settings.concurrency,
        accepted,
        refused: refused.load(Ordering::Relaxed),
        stream_messages,
        seconds,
        pings_per_sec: accepted as f64 / seconds,
    })
}
