//! Status pages: management through the API, and the public page (HTML and
//! JSON) a visitor sees, driven in-process against real Postgres and NATS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::App;
use uuid::Uuid;

impl App {
    /// The session token of a new team's owner.
    async fn owner(&self, email: &str, team: &str) -> String {
        self.session(email, team).await["token"].as_str().unwrap().to_owned()
    }

    /// Sets a monitor's current status as the evaluator would.
    async fn set_status(&self, monitor: Uuid, status: &str) {
        sqlx::query(
            "INSERT INTO monitor_status (monitor_id, status, seq, changed_at) VALUES ($1, $2::monitor_status_kind, 1, now()) \
             ON CONFLICT (monitor_id) DO UPDATE SET status = excluded.status, seq = monitor_status.seq + 1",
        )
        .bind(monitor)
        .bind(status)
        .execute(&self.pg)
        .await
        .unwrap();
    }

    /// An incident of `monitor` from `started` to `resolved` (SQL
    /// expressions relative to now()); its id.
    async fn incident(&self, monitor: Uuid, started: &str, resolved: Option<&str>, cause: &str) -> Uuid {
        let resolved = resolved.map_or_else(|| "NULL".to_owned(), |r| format!("now() - interval '{r}'"));
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "INSERT INTO incidents (team_id, monitor_id, started_at, resolved_at, cause, affected_regions) \
             SELECT team_id, id, now() - interval '{started}', {resolved}, $2, '{{eu-west}}' FROM monitors WHERE id = $1 \
             RETURNING id"
        )))
        .bind(monitor)
        .bind(cause)
        .fetch_one(&self.pg)
        .await
        .unwrap()
    }

    /// An update of `incident`, `ago` (an SQL interval) before now.
    async fn update(&self, incident: Uuid, ago: &str, status: &str, source: &str, message: &str) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO incident_updates (incident_id, at, status, source, message) \
             VALUES ($1, now() - interval '{ago}', $2::incident_status, $3::incident_update_source, $4)"
        )))
        .bind(incident)
        .bind(status)
        .bind(source)
        .bind(message)
        .execute(&self.pg)
        .await
        .unwrap();
    }
}

fn page(slug: &str, monitors: Value, sections: Value) -> Value {
    json!({"slug": slug, "title": "Shop status", "description": "How the shop is doing.", "public": true,
           "monitors": monitors, "sections": sections})
}

#[tokio::test]
async fn status_pages_are_created_read_replaced_and_deleted() {
    let app = App::new().await;
    let owner = app.owner("ops@shop.example", "Shop").await;
    let web = app.monitor(&owner, "Web", "https://shop.example/").await;
    let api = app.monitor(&owner, "API", "https://api.shop.example/health").await;
    let db = app.monitor(&owner, "DB", "https://db.shop.example/").await;

    let body = page(
        "shop",
        json!([{"monitor_id": web, "display_name": "  Website  "}]),
        json!([{"title": "Backend", "monitors": [{"monitor_id": api}, {"monitor_id": db, "display_name": ""}]},
               {"title": "Empty"}]),
    );
    let (status, created) = app.call("POST", "/api/v1/status-pages", Some(&owner), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["slug"], "shop");
    assert_eq!(created["public"], true);
    assert_eq!(created["description"], "How the shop is doing.");
    assert_eq!(created["monitors"], json!([{"monitor_id": web, "display_name": "Website"}]));
    assert_eq!(
        created["sections"],
        json!([{"title": "Backend", "monitors": [{"monitor_id": api, "display_name": null},
                                                 {"monitor_id": db, "display_name": null}]},
               {"title": "Empty", "monitors": []}])
    );
    let (status, read) = app.call("GET", &format!("/api/v1/status-pages/{id}"), Some(&owner), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, created);
    let (_, list) = app.call("GET", "/api/v1/status-pages", Some(&owner), None).await;
    assert_eq!(list, json!([created]));

    // Replaced: another slug, sections swapped, a monitor moved to the top.
    let body = json!({"slug": "shop-status", "title": "Shop", "public": false,
        "monitors": [{"monitor_id": db}],
        "sections": [{"title": "Empty"}, {"title": "Backend", "monitors": [{"monitor_id": api}, {"monitor_id": web}]}]});
    let (status, replaced) = app.call("PUT", &format!("/api/v1/status-pages/{id}"), Some(&owner), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!((replaced["slug"].clone(), replaced["public"].clone()), (json!("shop-status"), json!(false)));
    assert_eq!(replaced["description"], "", "absent: empty");
    assert_eq!(replaced["monitors"], json!([{"monitor_id": db, "display_name": null}]));
    assert_eq!(replaced["sections"][0], json!({"title": "Empty", "monitors": []}));
    assert_eq!(replaced["sections"][1]["monitors"][1]["monitor_id"], json!(web));
    let sections: i64 =
        sqlx::query_scalar("SELECT count(*) FROM status_page_sections").fetch_one(&app.pg).await.unwrap();
    assert_eq!(sections, 2, "the old sections are gone");

    // A failed replace changes nothing (one transaction).
    let bad = json!({"slug": "renamed", "title": "Renamed", "public": true,
        "sections": [{"title": "A", "monitors": [{"monitor_id": web}]}, {"title": "B", "monitors": [{"monitor_id": Uuid::new_v4()}]}]});
    let (status, answer) = app.call("PUT", &format!("/api/v1/status-pages/{id}"), Some(&owner), Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "sections[1].monitors[0].monitor_id");
    assert_eq!(app.call("GET", &format!("/api/v1/status-pages/{id}"), Some(&owner), None).await.1, replaced);

    // A deleted monitor leaves the page.
    assert_eq!(
        app.call("DELETE", &format!("/api/v1/monitors/{db}"), Some(&owner), None).await.0,
        StatusCode::NO_CONTENT
    );
    let (_, read) = app.call("GET", &format!("/api/v1/status-pages/{id}"), Some(&owner), None).await;
    assert_eq!(read["monitors"], json!([]));

    assert_eq!(
        app.call("DELETE", &format!("/api/v1/status-pages/{id}"), Some(&owner), None).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, answer) = app.call("GET", &format!("/api/v1/status-pages/{id}"), Some(&owner), None).await;
    assert_eq!((status, answer["error"]["code"].clone()), (StatusCode::NOT_FOUND, json!("not_found")));
    assert_eq!(
        app.call("DELETE", &format!("/api/v1/status-pages/{id}"), Some(&owner), None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.call("GET", "/api/v1/status-pages", Some(&owner), None).await.1, json!([]));
    assert_eq!(app.call("GET", "/api/v1/status-pages", None, None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn invalid_status_pages_are_refused_naming_the_field() {
    let app = App::new().await;
    let owner = app.owner("ops@shop.example", "Shop").await;
    let web = app.monitor(&owner, "Web", "https://shop.example/").await;
    let api = app.monitor(&owner, "API", "https://api.shop.example/").await;
    let with = |patch: Value| {
        let mut body =
            page("shop", json!([{"monitor_id": web}]), json!([{"title": "API", "monitors": [{"monitor_id": api}]}]));
        for (key, value) in patch.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    let cases = [
        (with(json!({"slug": "Shop"})), "slug"),
        (with(json!({"slug": "-shop"})), "slug"),
        (with(json!({"slug": "shop-"})), "slug"),
        (with(json!({"slug": "x".repeat(65)})), "slug"),
        (with(json!({"slug": ""})), "slug"),
        (with(json!({"title": "  "})), "title"),
        (with(json!({"title": "t".repeat(201)})), "title"),
        (with(json!({"description": "d".repeat(5001)})), "description"),
        (with(json!({"sections": [{"title": "ok"}, {"title": ""}]})), "sections[1].title"),
        (
            with(
                json!({"sections": [{"title": "ok"}, {"title": "API", "monitors": [{"monitor_id": Uuid::new_v4()}]}]}),
            ),
            "sections[1].monitors[0].monitor_id",
        ),
        (
            with(json!({"sections": [{"title": "API", "monitors": [{"monitor_id": api}, {"monitor_id": "nope"}]}]})),
            "sections[0].monitors[1].monitor_id",
        ),
        (
            with(json!({"sections": [{"title": "Again", "monitors": [{"monitor_id": web}]}]})),
            "sections[0].monitors[0].monitor_id",
        ),
        (with(json!({"monitors": [{"monitor_id": web, "display_name": "n".repeat(201)}]})), "monitors[0].display_name"),
        (with(json!({"monitors": [{"monitor_id": Uuid::new_v4()}]})), "monitors[0].monitor_id"),
        (with(json!({"theme": "dark"})), "theme"),
        (json!({"title": "No slug", "public": true}), "slug"),
    ];
    for (body, field) in cases {
        let (status, answer) = app.call("POST", "/api/v1/status-pages", Some(&owner), Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} gave {answer}");
        assert_eq!(answer["error"]["field"], field, "{body} gave {answer}");
        assert_eq!(answer["error"]["code"], "invalid");
    }
    assert_eq!(app.call("GET", "/api/v1/status-pages", Some(&owner), None).await.1, json!([]), "nothing was stored");
    let pages: i64 = sqlx::query_scalar("SELECT count(*) FROM status_pages").fetch_one(&app.pg).await.unwrap();
    assert_eq!(pages, 0, "not even half of one");

    // A slug is unique across all teams.
    let (status, first) = app.call("POST", "/api/v1/status-pages", Some(&owner), Some(with(json!({})))).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, answer) = app.call("POST", "/api/v1/status-pages", Some(&owner), Some(with(json!({})))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!((answer["error"]["code"].clone(), answer["error"]["field"].clone()), (json!("conflict"), json!("slug")));
    let other = app.owner("ops@other.example", "Other").await;
    let (status, answer) =
        app.call("POST", "/api/v1/status-pages", Some(&other), Some(page("shop", json!([]), json!([])))).await;
    assert_eq!((status, answer["error"]["field"].clone()), (StatusCode::CONFLICT, json!("slug")), "{answer}");
    let (_, second) =
        app.call("POST", "/api/v1/status-pages", Some(&owner), Some(page("second", json!([]), json!([])))).await;
    let (status, answer) = app
        .call(
            "PUT",
            &format!("/api/v1/status-pages/{}", second["id"].as_str().unwrap()),
            Some(&owner),
            Some(page("shop", json!([]), json!([]))),
        )
        .await;
    assert_eq!((status, answer["error"]["field"].clone()), (StatusCode::CONFLICT, json!("slug")), "{answer}");
}

/// Each role against each endpoint.
#[tokio::test]
async fn roles_decide_who_changes_status_pages() {
    let app = App::new().await;
    let owner = app.owner("owner@shop.example", "Shop").await;
    let web = app.monitor(&owner, "Web", "https://shop.example/").await;
    for (role, edits) in [("owner", true), ("admin", true), ("member", true), ("viewer", false)] {
        let token = if role == "owner" { owner.clone() } else { app.token(&owner, role).await };
        let t = Some(token.as_str());
        let expect = |ok: StatusCode| if edits { ok } else { StatusCode::FORBIDDEN };
        let (_, spare) = app
            .call(
                "POST",
                "/api/v1/status-pages",
                Some(&owner),
                Some(page(&format!("spare-{role}"), json!([]), json!([]))),
            )
            .await;
        let spare = spare["id"].as_str().unwrap().to_owned();
        let body = page(&format!("by-{role}"), json!([{"monitor_id": web}]), json!([]));
        let (status, answer) = app.call("POST", "/api/v1/status-pages", t, Some(body)).await;
        assert_eq!(status, expect(StatusCode::CREATED), "{role}: POST: {answer}");
        let body = page(&format!("edited-{role}"), json!([{"monitor_id": web}]), json!([]));
        let (status, answer) = app.call("PUT", &format!("/api/v1/status-pages/{spare}"), t, Some(body)).await;
        assert_eq!(status, expect(StatusCode::OK), "{role}: PUT: {answer}");
        assert_eq!(
            app.call("GET", &format!("/api/v1/status-pages/{spare}"), t, None).await.0,
            StatusCode::OK,
            "{role}"
        );
        assert_eq!(app.call("GET", "/api/v1/status-pages", t, None).await.0, StatusCode::OK, "{role}");
        let (status, answer) = app.call("DELETE", &format!("/api/v1/status-pages/{spare}"), t, None).await;
        assert_eq!(status, expect(StatusCode::NO_CONTENT), "{role}: DELETE: {answer}");
    }
}

#[tokio::test]
async fn teams_cannot_see_or_touch_each_others_status_pages() {
    let app = App::new().await;
    let a = app.owner("a@one.example", "One").await;
    let b = app.owner("b@two.example", "Two").await;
    let a_monitor = app.monitor(&a, "A web", "https://one.example/").await;
    let b_monitor = app.monitor(&b, "B web", "https://two.example/").await;
    let (_, a_page) = app
        .call(
            "POST",
            "/api/v1/status-pages",
            Some(&a),
            Some(page("one", json!([{"monitor_id": a_monitor}]), json!([]))),
        )
        .await;
    let a_page = a_page["id"].as_str().unwrap().to_owned();

    let own_body = page("two", json!([{"monitor_id": b_monitor}]), json!([]));
    for (method, body) in [("GET", None), ("PUT", Some(own_body.clone())), ("DELETE", None)] {
        let (status, answer) = app.call(method, &format!("/api/v1/status-pages/{a_page}"), Some(&b), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}: {answer}");
    }
    assert_eq!(app.call("GET", "/api/v1/status-pages", Some(&b), None).await.1, json!([]));

    // B's page cannot show A's monitor, in or outside a section.
    let (status, answer) = app
        .call(
            "POST",
            "/api/v1/status-pages",
            Some(&b),
            Some(page("two", json!([{"monitor_id": b_monitor}, {"monitor_id": a_monitor}]), json!([]))),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("monitors[1].monitor_id"))
    );
    let (status, answer) = app
        .call(
            "POST",
            "/api/v1/status-pages",
            Some(&b),
            Some(page("two", json!([]), json!([{"title": "X", "monitors": [{"monitor_id": a_monitor}]}]))),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("sections[0].monitors[0].monitor_id"))
    );
    let (status, _) = app.call("POST", "/api/v1/status-pages", Some(&b), Some(own_body)).await;
    assert_eq!(status, StatusCode::CREATED);

    // A's page is untouched.
    let (status, read) = app.call("GET", &format!("/api/v1/status-pages/{a_page}"), Some(&a), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((read["slug"].clone(), read["monitors"][0]["monitor_id"].clone()), (json!("one"), json!(a_monitor)));
}

/// A public page `shop`: a monitor outside sections and two sections, with
/// monitors in every state, incidents open, recent and old (and monitors
/// four months old, so every bar has data); returns the owner's token.
async fn seed_shop(app: &App) -> String {
    let owner = app.owner("ops@shop.example", "Shop").await;
    let web = app.monitor(&owner, "web-prod-1", "https://shop.example/").await;
    let checkout = app.monitor(&owner, "checkout-k8s", "https://checkout.internal.example/health").await;
    let search = app.monitor(&owner, "search", "https://search.shop.example/").await;
    let images = app.monitor(&owner, "images", "https://img.shop.example/").await;
    let mail = app.monitor(&owner, "mail", "https://mail.shop.example/").await;
    // They have existed for four months.
    sqlx::query("UPDATE monitors SET created_at = now() - interval '120 days'").execute(&app.pg).await.unwrap();
    app.set_status(web, "up").await;
    app.set_status(checkout, "down").await;
    app.set_status(search, "degraded").await;
    app.set_status(mail, "up").await;
    app.call("POST", &format!("/api/v1/monitors/{mail}/pause"), Some(&owner), None).await;
    // `images` has no status yet.
    // Checked every hour for 90 days; `mail` until it was paused ten days
    // ago; `images` never.
    let team: uuid::Uuid =
        sqlx::query_scalar("SELECT team_id FROM monitors WHERE id = $1").bind(web).fetch_one(&app.pg).await.unwrap();
    sqlx::query("UPDATE monitor_pauses SET paused_at = now() - interval '10 days' WHERE monitor_id = $1")
        .bind(mail)
        .execute(&app.pg)
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut rows = Vec::new();
    for (monitor, until) in [(web, now), (checkout, now), (search, now), (mail, now - 10 * 86_400)] {
        let mut ts = now - 90 * 86_400;
        while ts <= until {
            rows.push(support::result_row(&monitor.to_string(), team, ts, "eu-west", "up", 20, ""));
            ts += 3600;
        }
    }
    for chunk in rows.chunks(1000) {
        app.insert_results(chunk).await; // within ClickHouse's query size
    }

    let open = app.incident(checkout, "25 minutes", None, "HTTP 503 from checkout.internal.example").await;
    app.update(open, "25 minutes", "investigating", "system", "Down: HTTP 503 from checkout.internal.example").await;
    app.update(open, "10 minutes", "identified", "user", "A database failover is slowing checkout; we are on it.")
        .await;
    let recent = app.incident(web, "3 days 2 hours", Some("3 days 1 hour"), "TLS handshake timed out").await;
    app.update(recent, "3 days 2 hours", "investigating", "system", "Down: TLS handshake timed out").await;
    app.update(recent, "3 days 1 hour", "resolved", "system", "Recovered.").await;
    let old = app.incident(web, "20 days", Some("19 days 23 hours"), "DNS lookup failed").await;
    app.update(old, "20 days", "investigating", "system", "Down: DNS lookup failed").await;
    for (monitor, days, minutes) in [(search, 40, 90), (search, 41, 10), (checkout, 70, 600), (web, 12, 30)] {
        let started = format!("{days} days");
        let resolved = format!("{days} days") + &format!(" -{minutes} minutes");
        app.incident(monitor, &started, Some(&resolved), "timeout").await;
    }

    let body = json!({"slug": "shop", "title": "Shop status", "description": "Live status of the shop.\nUpdated every minute.",
        "public": true,
        "monitors": [{"monitor_id": web, "display_name": "Website"}],
        "sections": [
            {"title": "Shopping", "monitors": [{"monitor_id": checkout, "display_name": "Checkout"},
                                               {"monitor_id": search, "display_name": "Search"}]},
            {"title": "Media and mail", "monitors": [{"monitor_id": images, "display_name": "Images"},
                                                     {"monitor_id": mail, "display_name": "E-mail"}]}]});
    let (status, created) = app.call("POST", "/api/v1/status-pages", Some(&owner), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    owner
}

#[tokio::test]
async fn public_pages_show_statuses_uptime_and_incidents() {
    let app = App::new().await;
    let owner = seed_shop(&app).await;
    let (status, page) = app.call("GET", "/api/v1/public/status/shop", None, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["title"], "Shop status");
    assert_eq!(page["description"], "Live status of the shop.\nUpdated every minute.");
    // Known: up, down, degraded (paused and unknown do not count); one of three down.
    assert_eq!(page["status"], "partial_outage");
    assert_eq!(page["monitors"][0]["name"], "Website");
    assert_eq!(page["monitors"][0]["status"], "up");
    let names_and_states: Vec<(Value, Value)> = page["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["monitors"].as_array().unwrap().iter().map(|m| (m["name"].clone(), m["status"].clone())))
        .collect();
    assert_eq!(
        names_and_states,
        [("Checkout", "down"), ("Search", "degraded"), ("Images", "unknown"), ("E-mail", "paused")]
            .map(|(n, s)| (json!(n), json!(s)))
    );
    assert_eq!(page["sections"][1]["title"], "Media and mail");

    // 90 daily bars, oldest first, today last; the Website lost an hour 3 days ago.
    let days = page["monitors"][0]["days"].as_array().unwrap();
    assert_eq!(days.len(), 90);
    let today = time::OffsetDateTime::now_utc().date().to_string();
    assert_eq!(days[89]["date"], today.as_str());
    assert!(days[0]["date"].as_str().unwrap() < days[1]["date"].as_str().unwrap());
    let downtime: i64 = days.iter().map(|d| d["downtime_s"].as_i64().unwrap()).sum();
    assert_eq!(downtime, 3_600 + 1_800 + 3_600, "an hour 3 days ago, 30 minutes 12 days ago, an hour 20 days ago");
    let uptime = page["monitors"][0]["uptime_90d"].as_f64().unwrap();
    assert!((99.0..100.0).contains(&uptime), "{uptime}");
    assert_eq!(page["monitors"][0]["coverage_90d"], "measured");

    // Never checked: no data, not 100 %. Paused ten days ago: paused since.
    let monitors_of = |section: usize| page["sections"][section]["monitors"].as_array().unwrap().clone();
    let (images, mail) = (&monitors_of(1)[0], &monitors_of(1)[1]);
    assert_eq!(images["uptime_90d"], Value::Null, "{images}");
    assert_eq!(images["coverage_90d"], "no_data");
    assert_eq!(images["measured_s_90d"], 0);
    assert!(images["days"].as_array().unwrap().iter().all(|d| d["coverage"] == "no_data" && d["uptime"].is_null()));
    let mail_days = mail["days"].as_array().unwrap();
    assert!(mail_days[80..].iter().all(|d| d["coverage"] == "paused" && d["uptime"].is_null()), "{mail_days:?}");
    assert!(mail_days[..79].iter().all(|d| d["coverage"] == "measured"), "{mail_days:?}");
    assert_eq!(mail["coverage_90d"], "measured", "measured before the pause");
    assert!(mail["measured_s_90d"].as_i64().unwrap() < 81 * 86_400, "{mail}");

    // One active incident, its updates newest first; the system's wording
    // replaced. The incident resolved 3 days ago is past; the one of 20 days
    // ago is too old.
    let active = page["active_incidents"].as_array().unwrap();
    assert_eq!(active.len(), 1, "{active:?}");
    assert_eq!(active[0]["monitor"], "Checkout");
    assert_eq!(active[0]["status"], "identified");
    assert_eq!(active[0]["resolved_at_ms"], Value::Null);
    assert_eq!(active[0]["updates"][0]["message"], "A database failover is slowing checkout; we are on it.");
    assert_eq!(active[0]["updates"][1]["status"], "investigating");
    assert_eq!(active[0]["updates"][1]["message"], "Checkout is not responding as expected; we are investigating.");
    let past = page["past_incidents"].as_array().unwrap();
    let past_of: Vec<&str> = past.iter().map(|i| i["monitor"].as_str().unwrap()).collect();
    assert_eq!(past_of, ["Website", "Website"], "3 and 12 days ago, newest first: {past:?}");
    assert_eq!(past[0]["status"], "resolved");
    assert_eq!(past[0]["updates"][0]["message"], "Website has recovered and is operating normally.");
    assert!(past[0]["started_at_ms"].as_i64().unwrap() > past[1]["started_at_ms"].as_i64().unwrap());

    // The HTML shows the same.
    let (status, content_type, html) = app.raw("GET", "/status/shop", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    for text in [
        "<title>Shop status status</title>",
        "Partial outage",
        "Website",
        "Checkout",
        "Media and mail",
        "No data yet",
        "Paused",
        "A database failover is slowing checkout; we are on it.",
        &format!("title=\"{today}: 100% uptime ("),
        &format!("title=\"{today}: paused\""),
        &format!("title=\"{today}: no data\""),
        "left out, not counted as up",
    ] {
        assert!(html.contains(text), "{text:?} missing from {html}");
    }
    assert_eq!(html.matches("class=\"bar ").count(), 5 * 90, "90 bars per monitor");
    assert_eq!(html.matches("class=\"bar b-paused\"").count(), 10, "E-mail's ten paused days");
    assert!(html.matches("class=\"bar b-none\"").count() >= 90, "Images' days are grey");
    assert_eq!(html.matches("no data</span>").count(), 1, "Images' legend says no data, not a percentage");
    assert!(!html.contains("<script"), "no JavaScript");
    assert!(!html.contains("http://") && !html.contains("https://"), "no external asset, no target");

    // Not public: 404 on both routes, as JSON and as HTML.
    let (_, read) = app.call("GET", "/api/v1/status-pages", Some(&owner), None).await;
    let id = read[0]["id"].as_str().unwrap();
    let mut private = page_body(&read[0]);
    private["public"] = json!(false);
    assert_eq!(
        app.call("PUT", &format!("/api/v1/status-pages/{id}"), Some(&owner), Some(private)).await.0,
        StatusCode::OK
    );
    let (status, answer) = app.call("GET", "/api/v1/public/status/shop", None, None).await;
    assert_eq!((status, answer["error"]["code"].clone()), (StatusCode::NOT_FOUND, json!("not_found")), "{answer}");
    let (status, content_type, html) = app.raw("GET", "/status/shop", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(content_type.starts_with("text/html") && html.contains("Status page not found"), "{html}");
    for slug in ["nowhere", "Shop", "sh%20op", "-"] {
        assert_eq!(
            app.call("GET", &format!("/api/v1/public/status/{slug}"), None, None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(app.raw("GET", &format!("/status/{slug}"), None, None).await.0, StatusCode::NOT_FOUND);
    }
}

/// A page as answered, as a body to write back.
fn page_body(read: &Value) -> Value {
    let mut body = read.clone();
    for key in ["id", "created_at_ms", "updated_at_ms"] {
        body.as_object_mut().unwrap().remove(key);
    }
    body
}

/// Every key and string value in `value`, recursively.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => {
            for (key, v) in map {
                out.push(key.clone());
                strings(v, out);
            }
        }
        // Numbers (times, percentages) and the like carry no text.
        _ => {}
    }
}

#[tokio::test]
async fn public_pages_leak_nothing_private() {
    let app = App::new().await;
    let session = app.session("alice.secret@shop.example", "Shop").await;
    let owner = session["token"].as_str().unwrap().to_owned();
    let team_id = session["team_id"].as_str().unwrap().to_owned();
    let user_id = session["user_id"].as_str().unwrap().to_owned();
    let monitor = app.monitor(&owner, "internal-api-7", "https://secret-host.example:8443/health?key=hunter2").await;
    let slack =
        json!({"name": "Ops", "kind": "slack", "settings": {"webhook_url": "https://hooks.slack.example/T/B/X"}});
    let (_, channel) = app.call("POST", "/api/v1/channels", Some(&owner), Some(slack)).await;
    let channel = channel["id"].as_str().unwrap().to_owned();
    app.call(
        "PUT",
        &format!("/api/v1/monitors/{monitor}/channels"),
        Some(&owner),
        Some(json!({"channel_ids": [channel]})),
    )
    .await;
    app.set_status(monitor, "down").await;
    sqlx::query("UPDATE monitor_status SET regions = $2 WHERE monitor_id = $1")
        .bind(monitor)
        .bind(json!([{"region": "ap-south", "last_status": "down", "last_error": "connect ECONNREFUSED 192.0.2.77:8443"}]))
        .execute(&app.pg)
        .await
        .unwrap();
    let cause = "TLS certificate expired for secret-host.example (probe 192.0.2.77)";
    let incident = app.incident(monitor, "1 hour", None, cause).await;
    app.update(incident, "1 hour", "investigating", "system", &format!("Down: {cause}")).await;
    sqlx::query(
        "INSERT INTO region_outages (monitor_id, region, started_at, last_error) VALUES ($1, 'ap-south', now(), 'refused by 192.0.2.77')",
    )
    .bind(monitor)
    .execute(&app.pg)
    .await
    .unwrap();
    // A person's update, with its author recorded.
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/incidents/{incident}/updates"),
            Some(&owner),
            Some(json!({"status": "identified", "message": "Renewing the certificate."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let past = app.incident(monitor, "2 days", Some("1 day"), cause).await;
    app.update(past, "1 day", "resolved", "system", &format!("Recovered from {cause}")).await;
    let body = json!({"slug": "shop", "title": "Shop", "public": true, "sections": [{"title": "APIs", "monitors": [{"monitor_id": monitor, "display_name": "Public API"}]}]});
    let (status, created) = app.call("POST", "/api/v1/status-pages", Some(&owner), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let page_id = created["id"].as_str().unwrap().to_owned();

    let (status, page) = app.call("GET", "/api/v1/public/status/shop", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["active_incidents"][0]["updates"][0]["message"], "Renewing the certificate.", "{page}");
    let mut seen = Vec::new();
    strings(&page, &mut seen);
    let forbidden = [
        "secret-host",
        "hunter2",
        "192.0.2.77",
        "internal-api-7",
        "TLS certificate",
        "ECONNREFUSED",
        "ap-south",
        "eu-west",
        "alice.secret",
        "@shop.example",
        "hooks.slack",
        &team_id,
        &user_id,
        &channel,
        &page_id,
        &monitor.to_string(),
        &incident.to_string(),
    ];
    for text in &seen {
        for bad in &forbidden {
            assert!(!text.contains(bad), "{bad:?} leaked in {text:?}: {page}");
        }
    }
    let private_keys = [
        "id",
        "team_id",
        "monitor_id",
        "cause",
        "spec",
        "url",
        "regions",
        "affected_regions",
        "author_user_id",
        "email",
        "last_error",
        "source",
    ];
    fn keys(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                out.push(k.clone());
                keys(v, out);
            }),
            _ => {}
        }
    }
    let mut all_keys = Vec::new();
    keys(&page, &mut all_keys);
    for key in private_keys {
        assert!(!all_keys.iter().any(|k| k == key), "the key {key:?} is on the public page: {page}");
    }
    let (_, _, html) = app.raw("GET", "/status/shop", None, None).await;
    for bad in &forbidden {
        assert!(!html.contains(bad), "{bad:?} leaked in the HTML");
    }
}

#[tokio::test]
async fn what_people_write_is_escaped_in_the_html() {
    let app = App::new().await;
    let owner = app.owner("ops@shop.example", "Shop").await;
    let monitor = app.monitor(&owner, "Web", "https://shop.example/").await;
    let incident = app.incident(monitor, "5 minutes", None, "x").await;
    app.update(incident, "1 minute", "identified", "user", "Fixed <img src=x onerror=alert(3)> soon").await;
    let body = json!({"slug": "shop", "title": "<script>alert(1)</script> Shop", "description": "Ours & \"yours\"",
        "public": true,
        "monitors": [{"monitor_id": monitor, "display_name": "<b onmouseover=\"alert(2)\">Web</b>"}],
        "sections": [{"title": "</section><script>alert(4)</script>"}]});
    let (status, _) = app.call("POST", "/api/v1/status-pages", Some(&owner), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, html) = app.raw("GET", "/status/shop", None, None).await;
    assert_eq!(status, StatusCode::OK);
    for raw in ["<script", "<b ", "<img", "</section><script", "\"yours\""] {
        assert!(!html.contains(raw), "{raw:?} is not escaped in {html}");
    }
    let escaped = |text: &str| {
        [("&", "&#38;"), ("<", "&#60;"), (">", "&#62;"), ("\"", "&#34;")]
            .iter()
            .fold(text.to_owned(), |t, (from, to)| t.replace(from, to))
    };
    let escaped_named =
        |text: &str| text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    for text in ["<script>alert(1)</script> Shop", "Fixed <img src=x onerror=alert(3)> soon", "Ours & \"yours\""] {
        assert!(
            html.contains(&escaped(text)) || html.contains(&escaped_named(text)),
            "{text:?} not shown escaped in {html}"
        );
    }
    // The JSON keeps the text as written (it is data, not markup).
    let (_, page) = app.call("GET", "/api/v1/public/status/shop", None, None).await;
    assert_eq!(page["title"], "<script>alert(1)</script> Shop");
}

#[tokio::test]
async fn the_public_page_is_cached_until_it_is_edited() {
    let app = App::new().await;
    let owner = app.owner("ops@shop.example", "Shop").await;
    let monitor = app.monitor(&owner, "Web", "https://shop.example/").await;
    app.set_status(monitor, "up").await;
    let body = page("shop", json!([{"monitor_id": monitor}]), json!([]));
    let (_, created) = app.call("POST", "/api/v1/status-pages", Some(&owner), Some(body.clone())).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let status_of = async || {
        let (status, page) = app.call("GET", "/api/v1/public/status/shop", None, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        (page["status"].clone(), page["monitors"][0]["status"].clone(), page["title"].clone())
    };
    assert_eq!(status_of().await, (json!("operational"), json!("up"), json!("Shop status")));

    // Behind the cache's back: still the cached model, on both routes.
    app.set_status(monitor, "down").await;
    assert_eq!(status_of().await, (json!("operational"), json!("up"), json!("Shop status")));
    assert!(app.raw("GET", "/status/shop", None, None).await.2.contains("All systems operational"));

    // Edited through the API: fresh at once.
    let mut edited = body.clone();
    edited["title"] = json!("Shop (edited)");
    assert_eq!(
        app.call("PUT", &format!("/api/v1/status-pages/{id}"), Some(&owner), Some(edited)).await.0,
        StatusCode::OK
    );
    assert_eq!(status_of().await, (json!("major_outage"), json!("down"), json!("Shop (edited)")));
    assert!(app.raw("GET", "/status/shop", None, None).await.2.contains("Major outage"));

    // A slug with no page is cached as such too, until a write there.
    assert_eq!(app.call("GET", "/api/v1/public/status/later", None, None).await.0, StatusCode::NOT_FOUND);
    let team: Uuid = sqlx::query_scalar("SELECT team_id FROM monitors").fetch_one(&app.pg).await.unwrap();
    let later: Uuid = sqlx::query_scalar(
        "INSERT INTO status_pages (team_id, slug, title, public) VALUES ($1, 'later', 'Later', true) RETURNING id",
    )
    .bind(team)
    .fetch_one(&app.pg)
    .await
    .unwrap();
    assert_eq!(app.call("GET", "/api/v1/public/status/later", None, None).await.0, StatusCode::NOT_FOUND, "cached");
    let (status, _) = app
        .call("PUT", &format!("/api/v1/status-pages/{later}"), Some(&owner), Some(page("later", json!([]), json!([]))))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.call("GET", "/api/v1/public/status/later", None, None).await.0, StatusCode::OK);

    // Renamed: the old slug is gone at once, the new one is there.
    let (status, _) = app
        .call("PUT", &format!("/api/v1/status-pages/{later}"), Some(&owner), Some(page("sooner", json!([]), json!([]))))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.call("GET", "/api/v1/public/status/later", None, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.call("GET", "/api/v1/public/status/sooner", None, None).await.0, StatusCode::OK);
    // Deleted: gone at once.
    assert_eq!(
        app.call("DELETE", &format!("/api/v1/status-pages/{id}"), Some(&owner), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.call("GET", "/api/v1/public/status/shop", None, None).await.0, StatusCode::NOT_FOUND);
}

/// Headless Chromium renders the page served over real TCP. With
/// `STATUSHAWK_STATUS_PAGE_PNG` set, the screenshot is also copied there
/// (how `docs/status-page.png` is made, with
/// `STATUSHAWK_SCREENSHOT_SIZE=1200,2500` to show the whole page).
#[tokio::test]
async fn a_headless_browser_renders_the_page() {
    let app = App::new().await;
    let owner = seed_shop(&app).await;
    let in_two_days = (time::OffsetDateTime::now_utc().unix_timestamp() / 3600 + 48) * 3_600_000;
    let window = json!({"title": "Payment provider upgrade", "schedule": {"kind": "one_off",
        "starts_at_ms": in_two_days, "ends_at_ms": in_two_days + 2 * 3_600_000}});
    let (status, created) = app.call("POST", "/api/v1/maintenance", Some(&owner), Some(window)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/status/shop", listener.local_addr().unwrap());
    let router = app.router.clone();
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let png = std::env::temp_dir().join(format!("statushawk-status-page-{}.png", Uuid::new_v4()));
    let script = statushawk_testkit::repo_root().join("scripts/status-page-screenshot");
    let output = tokio::process::Command::new(&script).arg(&url).arg(&png).output().await.unwrap();
    server.abort();
    assert!(
        output.status.success(),
        "{} failed: {}{}",
        script.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    std::fs::remove_file(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    // A blank 1200x1600 page compresses to a few KB; one with text, bars
    // and colours does not.
    assert!(bytes.len() > 30_000, "only {} bytes: nothing rendered?", bytes.len());
    if let Ok(copy) = std::env::var("STATUSHAWK_STATUS_PAGE_PNG") {
        std::fs::write(copy, &bytes).unwrap();
    }
}

#[tokio::test]
async fn pausing_and_resuming_are_kept_as_spans_for_uptime() {
    let app = App::new().await;
    let owner = app.owner("ops@shop.example", "Shop").await;
    let monitor = app.monitor(&owner, "web", "https://shop.example/").await;
    let spans = || async {
        sqlx::query_as::<_, (bool,)>(
            "SELECT resumed_at IS NOT NULL FROM monitor_pauses WHERE monitor_id = $1 ORDER BY paused_at",
        )
        .bind(monitor)
        .fetch_all(&app.pg)
        .await
        .unwrap()
        .into_iter()
        .map(|(closed,)| closed)
        .collect::<Vec<bool>>()
    };
    assert_eq!(spans().await, Vec::<bool>::new(), "never paused");
    for (action, expected) in
        [("pause", vec![false]), ("pause", vec![false]), ("resume", vec![true]), ("pause", vec![true, false])]
    {
        let (status, body) =
            app.call("POST", &format!("/api/v1/monitors/{monitor}/{action}"), Some(&owner), None).await;
        assert_eq!(status, StatusCode::OK, "{action}: {body}");
        assert_eq!(spans().await, expected, "after {action}");
    }
    // Its uptime says it is paused, not up.
    let (_, uptime) = app.call("GET", &format!("/api/v1/monitors/{monitor}/uptime"), Some(&owner), None).await;
    assert_eq!(uptime["windows"][0]["uptime"], Value::Null, "{uptime}");
    assert_eq!(uptime["windows"][0]["coverage"], "paused", "{uptime}");
}

/// A badge's answer: status, content type, and the texts of its SVG
/// (parsed, so it is valid XML), each once.
async fn badge(app: &App, path: &str) -> (StatusCode, String, Vec<String>) {
    let (status, content_type, body) = app.raw("GET", path, None, None).await;
    // To look at them: STATUSHAWK_BADGE_DIR=/tmp/badges.
    if let Ok(dir) = std::env::var("STATUSHAWK_BADGE_DIR") {
        let name = path.trim_start_matches("/status/").replace('/', "_");
        std::fs::write(std::path::Path::new(&dir).join(name), &body).unwrap();
    }
    let svg = roxmltree::Document::parse(&body).unwrap_or_else(|err| panic!("{path}: not XML ({err}): {body}"));
    assert_eq!(svg.root_element().tag_name().name(), "svg", "{body}");
    let mut texts: Vec<String> = svg
        .descendants()
        .filter(|node| node.has_tag_name("text"))
        .filter_map(|node| node.text())
        .map(str::to_owned)
        .collect();
    texts.dedup();
    texts.sort();
    texts.dedup();
    (status, content_type, texts)
}

#[tokio::test]
async fn badges_show_the_pages_figures_and_nothing_of_a_private_page() {
    let app = App::new().await;
    let owner = seed_shop(&app).await;
    let (_, page) = app.call("GET", "/api/v1/public/status/shop", None, None).await;
    let website = &page["monitors"][0];
    assert_eq!(website["badge"], "website");
    let percent = |value: f64| format!("{:.2}%", (value * 100.0).floor() / 100.0);

    let (status, content_type, texts) = badge(&app, "/status/shop/badge/website/uptime-90d.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("image/svg+xml"), "{content_type}");
    assert_eq!(texts, [percent(website["uptime_90d"].as_f64().unwrap()), "uptime 90d".to_owned()]);
    let (_, _, texts) = badge(&app, "/status/shop/badge/website/uptime-24h.svg").await;
    assert_eq!(texts, ["100%", "uptime 24h"], "no incident in the last 24 hours");
    let (_, _, texts) = badge(&app, "/status/shop/badge/website/status.svg").await;
    assert_eq!(texts, ["Website", "up"]);
    let (_, _, texts) = badge(&app, "/status/shop/badge/checkout/latency.svg").await;
    assert_eq!(texts, ["20 ms", "response time"], "the seeded results took 20 ms");
    let (_, _, texts) = badge(&app, "/status/shop/badge/checkout/status.svg").await;
    assert_eq!(texts, ["Checkout", "down"]);
    // Never checked, and paused ten days ago: no made-up figures.
    let (_, _, texts) = badge(&app, "/status/shop/badge/images/uptime-30d.svg").await;
    assert_eq!(texts, ["no data", "uptime 30d"]);
    let (_, _, texts) = badge(&app, "/status/shop/badge/images/status.svg").await;
    assert_eq!(texts, ["Images", "no data"]);
    let (_, _, texts) = badge(&app, "/status/shop/badge/e-mail/uptime-7d.svg").await;
    assert_eq!(texts, ["paused", "uptime 7d"]);
    let (_, _, texts) = badge(&app, "/status/shop/badge/e-mail/uptime-30d.svg").await;
    assert_eq!(texts, ["100%", "uptime 30d"], "measured before the pause");
    let (status, _, texts) = badge(&app, "/status/shop/badge.svg").await;
    assert_eq!((status, texts), (StatusCode::OK, vec!["partial outage".to_owned(), "status".to_owned()]));

    // A monitor checked today with no confirmed change is up, not "no data".
    sqlx::query("DELETE FROM monitor_status WHERE monitor_id = (SELECT monitor_id FROM status_page_monitors WHERE display_name = 'Website')")
        .execute(&app.pg)
        .await
        .unwrap();
    app.state.status_pages.invalidate("shop").await;
    let (_, _, texts) = badge(&app, "/status/shop/badge/website/status.svg").await;
    assert_eq!(texts, ["Website", "up"]);

    for missing in [
        "/status/shop/badge/nobody/status.svg",
        "/status/shop/badge/website/uptime-1y.svg",
        "/status/shop/badge/website/status.png",
        "/status/elsewhere/badge.svg",
    ] {
        assert_eq!(badge(&app, missing).await.0, StatusCode::NOT_FOUND, "{missing}");
    }
    // Not public: its badges are 404 too.
    let (_, read) = app.call("GET", "/api/v1/status-pages", Some(&owner), None).await;
    let id = read[0]["id"].as_str().unwrap();
    let mut private = page_body(&read[0]);
    private["public"] = json!(false);
    let (status, _) = app.call("PUT", &format!("/api/v1/status-pages/{id}"), Some(&owner), Some(private)).await;
    assert_eq!(status, StatusCode::OK);
    for path in ["/status/shop/badge.svg", "/status/shop/badge/website/uptime-90d.svg"] {
        assert_eq!(badge(&app, path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn pages_show_running_and_upcoming_maintenance_of_their_monitors() {
    let app = App::new().await;
    let owner = seed_shop(&app).await;
    let elsewhere = app.monitor(&owner, "internal", "https://intra.shop.example/").await;
    let (_, page) = app.call("GET", "/api/v1/status-pages", Some(&owner), None).await;
    let checkout = page[0]["sections"][0]["monitors"][0]["monitor_id"].clone();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let (hour, day) = (3_600_000, 86_400_000);
    let window = |title: &str, monitor: Value, schedule: Value| json!({"title": title, "monitor_id": monitor, "schedule": schedule});
    let one_off = |from: i64, to: i64| json!({"kind": "one_off", "starts_at_ms": from, "ends_at_ms": to});
    let later = time::OffsetDateTime::now_utc() + time::Duration::days(3);
    for body in [
        window("Database upgrade", checkout.clone(), one_off(now - hour, now + hour)),
        window("Network work", Value::Null, one_off(now + 2 * day, now + 2 * day + hour)),
        window("Not on the page", json!(elsewhere), one_off(now + day, now + day + hour)),
        window("Over", Value::Null, one_off(now - 2 * day, now - day)),
        window("Too far ahead", Value::Null, one_off(now + 20 * day, now + 20 * day + hour)),
        window(
            "Weekly backups",
            Value::Null,
            json!({"kind": "weekly", "weekdays": [later.weekday().number_from_monday()], "start_time": "03:00",
                   "duration_minutes": 30, "timezone": "UTC"}),
        ),
    ] {
        let (status, created) = app.call("POST", "/api/v1/maintenance", Some(&owner), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
    }

    let (_, page) = app.call("GET", "/api/v1/public/status/shop", None, None).await;
    let shown = page["maintenance"].as_array().unwrap();
    let titles: Vec<&str> = shown.iter().map(|m| m["title"].as_str().unwrap()).collect();
    assert_eq!(titles.len(), 3, "{shown:?}");
    assert_eq!(titles[0], "Database upgrade", "soonest first");
    assert!(titles.contains(&"Network work") && titles.contains(&"Weekly backups"), "{titles:?}");
    assert_eq!(shown[0]["active"], true);
    assert_eq!(shown[0]["monitors"], json!(["Checkout"]));
    assert_eq!(
        (shown[0]["starts_at_ms"].as_i64(), shown[0]["ends_at_ms"].as_i64()),
        (Some(now - hour), Some(now + hour))
    );
    let network = shown.iter().find(|m| m["title"] == "Network work").unwrap();
    assert_eq!(network["active"], false);
    assert_eq!(network["monitors"], json!(["Checkout", "E-mail", "Images", "Search", "Website"]), "the whole page");
    let weekly = shown.iter().find(|m| m["title"] == "Weekly backups").unwrap();
    assert!(weekly["starts_at_ms"].as_i64().unwrap() > now, "its next occurrence, once");

    let (_, _, html) = app.raw("GET", "/status/shop", None, None).await;
    for text in ["Scheduled maintenance", "Database upgrade", "in progress", "Network work", "scheduled", "UTC"] {
        assert!(html.contains(text), "{text:?} missing from the page");
    }
    for hidden in ["Not on the page", "Too far ahead", ">Over<"] {
        assert!(!html.contains(hidden), "{hidden:?} shown");
    }
}
