//! The demo of `statushawk all --demo`: a team with one monitor that is up
//! and one that is down, a signed webhook channel on both that posts to a
//! local receiver (which verifies each notification as a real receiver
//! would), and a person to sign in as, with a new password each run.

use axum::http::{HeaderMap, StatusCode};
use sqlx::PgPool;
use statushawk_common::secrets::SecretBox;
use statushawk_schemas::{ChannelId, Region};

/// The demo's person.
pub const EMAIL: &str = "demo@statushawk.local";

/// What the demo is made of.
#[derive(Clone, Debug)]
pub struct Demo {
    /// The regions its monitors are checked from.
    pub regions: Vec<Region>,
    /// The URL of the monitor that is up (the process's own `/healthz`).
    pub health_url: String,
    /// Where its channel posts ([`receiver`]).
    pub webhook_url: String,
    /// The channel's signing secret.
    pub signing_secret: String,
}

/// What seeding gave.
#[derive(Debug)]
pub struct Seeded {
    /// The person's password for this run (only its hash is kept).
    pub password: String,
}

/// Creates the demo team and monitors if they are missing, the webhook
/// channel on both monitors (the same channel each run, with this run's
/// URL), and the demo person with a new password.
pub async fn seed(pg: &PgPool, secrets: &SecretBox, demo: &Demo) -> anyhow::Result<Seeded> {
    let team: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO teams (name, slug) VALUES ('Demo', 'demo') \
         ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    )
    .fetch_one(pg)
    .await?;
    let regions: Vec<String> = demo.regions.iter().map(ToString::to_string).collect();
    let monitors = [
        ("StatusHawk health (up)", "http", serde_json::json!({"url": demo.health_url})),
        ("Nothing listens here (down)", "tcp", serde_json::json!({"host": "127.0.0.1", "port": 9})),
    ];
    for (name, kind, spec) in monitors {
        sqlx::query(
            "INSERT INTO monitors (team_id, name, kind, spec, interval_ms, timeout_ms, regions) \
             SELECT $1, $2, $3::monitor_kind, $4, 10000, 2000, $5 \
             WHERE NOT EXISTS (SELECT 1 FROM monitors WHERE team_id = $1 AND name = $2)",
        )
        .bind(team)
        .bind(name)
        .bind(kind)
        .bind(spec)
        .bind(&regions)
        .execute(pg)
        .await?;
    }
    // The receiver listens on a new port each run: the channel keeps its id
    // (so what it was sent before stays in its delivery log, and an incident
    // still open from an earlier run shows it was delivered) with a new URL.
    let mut tx = pg.begin().await?;
    let existing: Option<uuid::Uuid> = sqlx::query_scalar(
        "SELECT id FROM channels WHERE team_id = $1 AND name = 'Demo webhook' ORDER BY created_at LIMIT 1",
    )
    .bind(team)
    .fetch_optional(&mut *tx)
    .await?;
    let channel = existing.map_or_else(ChannelId::new, ChannelId);
    let secret = serde_json::json!({"url": demo.webhook_url, "signing_secret": demo.signing_secret});
    let sealed = secrets.seal_channel_secret(channel, &secret)?;
    sqlx::query(
        "INSERT INTO channels (id, team_id, name, kind, secret_ciphertext, secret_nonce) \
         VALUES ($1, $2, 'Demo webhook', 'webhook', $3, $4) \
         ON CONFLICT (id) DO UPDATE SET secret_ciphertext = EXCLUDED.secret_ciphertext, \
         secret_nonce = EXCLUDED.secret_nonce, updated_at = now()",
    )
    .bind(channel.0)
    .bind(team)
    .bind(&sealed.ciphertext)
    .bind(&sealed.nonce)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO monitor_channels (team_id, monitor_id, channel_id) \
         SELECT team_id, id, $2 FROM monitors WHERE team_id = $1 ON CONFLICT DO NOTHING",
    )
    .bind(team)
    .bind(channel.0)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // A new password each run, so no known password outlives it.
    let password = crate::auth::new_token().0[4..24].to_owned();
    let hash = crate::auth::hash_password(&password).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    let user: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO users (email, name, password_hash, email_verified_at) \
         VALUES ($1, 'Demo', $2, now()) \
         ON CONFLICT ((lower(email))) DO UPDATE SET password_hash = EXCLUDED.password_hash RETURNING id",
    )
    .bind(EMAIL)
    .bind(&hash)
    .fetch_one(pg)
    .await?;
    sqlx::query("INSERT INTO memberships (team_id, user_id, role) VALUES ($1, $2, 'owner') ON CONFLICT DO NOTHING")
        .bind(team)
        .bind(user)
        .execute(pg)
        .await?;
    Ok(Seeded { password })
}

/// The demo's webhook receiver on a free loopback port: prints each
/// notification whose signature checks out, and refuses others. Returns
/// its URL.
pub async fn receiver(signing_secret: String) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/demo/webhook", listener.local_addr()?);
    let key = secrecy::SecretString::from(signing_secret);
    let receive = move |headers: HeaderMap, body: axum::body::Bytes| {
        let key = key.clone();
        async move {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let now = statushawk_schemas::now_ms() / 1000;
            let checked = statushawk_channels::webhook::verify(
                &key,
                &header("x-statushawk-timestamp"),
                &header("x-statushawk-signature"),
                &body,
                now,
                300,
            );
            let payload = serde_json::from_slice::<statushawk_schemas::WebhookPayload>(&body);
            match (checked, payload) {
                (Ok(()), Ok(payload)) => {
                    println!(
                        "demo webhook: {} {} (signature verified)",
                        payload.event_type.as_str(),
                        payload.incident.monitor_name
                    );
                    StatusCode::NO_CONTENT
                }
                (Err(err), _) => {
                    println!("demo webhook: refused a request: {err}");
                    StatusCode::UNAUTHORIZED
                }
                (_, Err(err)) => {
                    println!("demo webhook: refused a request: {err}");
                    StatusCode::BAD_REQUEST
                }
            }
        }
    };
    let app = axum::Router::new().route("/demo/webhook", axum::routing::post(receive));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}
