//! The web app's side of the API: the built app served at every client
//! route without shadowing the API, and the browser session as an
//! HttpOnly cookie that cross-site requests cannot use.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::App;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";
/// The tests' `api.public_url` (see support).
const OWN_ORIGIN: &str = "https://status.example";

/// A request with exactly these headers; the status, headers and body.
async fn send(
    app: &App,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app.router.clone().oneshot(request.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, String::from_utf8_lossy(&bytes).into_owned())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or_default()
}

/// The `name=value` of a `Set-Cookie`.
fn cookie_pair(headers: &HeaderMap) -> String {
    header(headers, "set-cookie").split(';').next().unwrap().to_owned()
}

/// Signs up through the web app's way: the session comes back as a cookie.
async fn browser_sign_up(app: &App, email: &str) -> String {
    let body = json!({"email": email, "password": PASSWORD, "team_name": "Shop", "cookie": true}).to_string();
    let (status, headers, text) = send(
        app,
        "POST",
        "/api/v1/signup",
        &[("content-type", "application/json"), ("x-statushawk-csrf", "1"), ("origin", OWN_ORIGIN)],
        &body,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let session: Value = serde_json::from_str(&text).unwrap();
    assert!(session.get("token").is_none(), "the token stays out of JavaScript's reach: {session}");
    assert_eq!(session["role"], "owner");
    let set_cookie = header(&headers, "set-cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{attribute} in {set_cookie}");
    }
    cookie_pair(&headers)
}

async fn monitor_count(app: &App) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM monitors").fetch_one(&app.pg).await.unwrap()
}

#[tokio::test]
async fn the_built_app_answers_every_client_route_and_never_shadows_the_api() {
    let dist = tempfile::tempdir().unwrap();
    std::fs::create_dir(dist.path().join("assets")).unwrap();
    std::fs::write(dist.path().join("index.html"), "<!doctype html><div id=root>the StatusHawk app</div>").unwrap();
    std::fs::write(dist.path().join("assets/index-3f2a9c.js"), "console.log('app')").unwrap();
    std::fs::write(dist.path().join("favicon.svg"), "<svg xmlns='http://www.w3.org/2000/svg'/>").unwrap();
    let app = App::with_web_dir(dist.path().to_owned()).await;

    for route in ["/", "/monitors/7b1c4f0e-0000-4000-8000-000000000000", "/incidents?open=true", "/settings/tokens"] {
        let (status, headers, body) = send(&app, "GET", route, &[], "").await;
        assert_eq!(status, StatusCode::OK, "{route}");
        assert!(body.contains("the StatusHawk app"), "{route}: {body}");
        assert!(header(&headers, "content-type").starts_with("text/html"), "{route}");
        assert_eq!(header(&headers, "cache-control"), "no-cache", "{route}: index.html is never cached");
        assert!(header(&headers, "content-security-policy").contains("default-src 'self'"), "{route}");
        assert_eq!(header(&headers, "x-frame-options"), "DENY");
    }
    let (status, headers, body) = send(&app, "GET", "/assets/index-3f2a9c.js", &[], "").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "console.log('app')"));
    assert!(header(&headers, "content-type").contains("javascript"), "{headers:?}");
    assert_eq!(header(&headers, "cache-control"), "public, max-age=31536000, immutable");
    // The build's precompressed copy, when the browser takes gzip: what is
    // sent is that file (its own text here), not the asset compressed anew.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"console.log('app, gzipped at build time')").unwrap();
    std::fs::write(dist.path().join("assets/index-3f2a9c.js.gz"), gz.finish().unwrap()).unwrap();
    let response = app
        .router
        .clone()
        .oneshot(
            Request::builder()
                .uri("/assets/index-3f2a9c.js")
                .header("accept-encoding", "gzip")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    assert_eq!(header(&parts.headers, "content-encoding"), "gzip", "{:?}", parts.headers);
    assert!(header(&parts.headers, "content-type").contains("javascript"), "{:?}", parts.headers);
    assert_eq!(header(&parts.headers, "cache-control"), "public, max-age=31536000, immutable");
    assert!(header(&parts.headers, "vary").to_ascii_lowercase().contains("accept-encoding"), "{:?}", parts.headers);
    let mut decoded = String::new();
    let bytes = body.collect().await.unwrap().to_bytes();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut decoded).unwrap();
    assert_eq!(decoded, "console.log('app, gzipped at build time')");
    // Without Accept-Encoding, the file itself.
    let (_, headers, body) = send(&app, "GET", "/assets/index-3f2a9c.js", &[], "").await;
    assert_eq!((header(&headers, "content-encoding"), body.as_str()), ("", "console.log('app')"));

    let (status, headers, _) = send(&app, "GET", "/favicon.svg", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-type"), "image/svg+xml");
    assert_eq!(header(&headers, "cache-control"), "no-cache");

    // A missing asset is missing, never the app (a stale page fails plainly).
    let (status, _, body) = send(&app, "GET", "/assets/index-000000.js", &[], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(!body.contains("the StatusHawk app"));
    // The API's own paths keep their answers.
    for path in ["/api/v1/no-such-route", "/api/v2/monitors", "/api", "/status/no-such-page", "/ping/hb_0", "/ping"] {
        let (status, _, body) = send(&app, "GET", path, &[], "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(!body.contains("the StatusHawk app"), "{path} is never the app");
    }
    let (status, _, body) = send(&app, "GET", "/api/v1/monitors", &[], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(send(&app, "GET", "/healthz", &[], "").await.2, "ok");
    let (status, _, body) = send(&app, "GET", "/api/v1/openapi.json", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"openapi\""));

    // No build: a page that says how to make one, not a 404.
    std::fs::remove_file(dist.path().join("index.html")).unwrap();
    let (status, headers, body) = send(&app, "GET", "/", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(header(&headers, "content-type").starts_with("text/html"));
    assert!(body.contains("npm ci &amp;&amp; npm run build"), "{body}");
    assert_eq!(send(&app, "GET", "/monitors", &[], "").await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_browser_session_is_an_http_only_cookie_and_signing_out_kills_it() {
    let app = App::new().await;
    let cookie = browser_sign_up(&app, "ann@shop.example").await;
    let (status, _, body) = send(&app, "GET", "/api/v1/monitors", &[("cookie", &cookie)], "").await;
    assert_eq!(status, StatusCode::OK, "the cookie authenticates: {body}");
    let (status, _, body) =
        send(&app, "GET", "/api/v1/members", &[("cookie", &format!("theme=dark; {cookie}"))], "").await;
    assert_eq!(status, StatusCode::OK, "among other cookies: {body}");

    // Asking for a cookie needs the app's header: no login by a foreign form.
    let login = json!({"email": "ann@shop.example", "password": PASSWORD, "cookie": true}).to_string();
    let (status, _, body) = send(
        &app,
        "POST",
        "/api/v1/login",
        &[("content-type", "application/json"), ("origin", "https://evil.example")],
        &login,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, headers, body) = send(
        &app,
        "POST",
        "/api/v1/login",
        &[("content-type", "application/json"), ("x-statushawk-csrf", "1")],
        &login,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = cookie_pair(&headers);
    assert_ne!(second, cookie, "each sign-in is a session of its own");

    // Signing out revokes the session on the server and clears the cookie.
    let (status, headers, body) = send(
        &app,
        "POST",
        "/api/v1/logout",
        &[("cookie", &cookie), ("x-statushawk-csrf", "1"), ("origin", OWN_ORIGIN)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(header(&headers, "set-cookie").contains("Max-Age=0"), "{headers:?}");
    let (status, _, _) = send(&app, "GET", "/api/v1/monitors", &[("cookie", &cookie)], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a signed-out session is dead, even if its cookie was kept");
    let (status, _, _) = send(&app, "GET", "/api/v1/monitors", &[("cookie", &second)], "").await;
    assert_eq!(status, StatusCode::OK, "other sessions live on");

    // A team API token is never a cookie, and is not signed out.
    let (_, session) =
        app.call("POST", "/api/v1/login", None, Some(json!({"email": "ann@shop.example", "password": PASSWORD}))).await;
    let bearer = session["token"].as_str().unwrap().to_owned();
    let (_, token) =
        app.call("POST", "/api/v1/tokens", Some(&bearer), Some(json!({"name": "ci", "role": "viewer"}))).await;
    let api_token = token["token"].as_str().unwrap();
    let cookie_of_token = format!("statushawk_session={api_token}");
    assert_eq!(
        send(&app, "GET", "/api/v1/monitors", &[("cookie", &cookie_of_token)], "").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.call("POST", "/api/v1/logout", Some(api_token), None).await.0, StatusCode::CONFLICT);
    assert_eq!(app.call("GET", "/api/v1/monitors", Some(api_token), None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_cross_site_form_post_with_the_session_cookie_is_refused() {
    let app = App::new().await;
    let cookie = browser_sign_up(&app, "bob@shop.example").await;
    let monitor = json!({"name": "Shop", "spec": {"kind": "http", "url": "https://shop.example/"}}).to_string();

    // What an attacker's page can make a browser send: a form post (no
    // custom header), or a script's fetch from its own origin.
    let attempts: [&[(&str, &str)]; 4] = [
        &[("content-type", "application/x-www-form-urlencoded"), ("origin", "https://evil.example")],
        &[("content-type", "text/plain"), ("sec-fetch-site", "cross-site")],
        &[("content-type", "application/json"), ("x-statushawk-csrf", "1"), ("origin", "https://evil.example")],
        &[("content-type", "application/json"), ("x-statushawk-csrf", "1"), ("sec-fetch-site", "cross-site")],
    ];
    for headers in attempts {
        let mut with_cookie = headers.to_vec();
        with_cookie.push(("cookie", &cookie));
        let (status, _, body) = send(&app, "POST", "/api/v1/monitors", &with_cookie, &monitor).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}: {body}");
        let error: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["error"]["code"], "forbidden");
    }
    let (status, _, _) =
        send(&app, "DELETE", "/api/v1/tokens/00000000-0000-4000-8000-000000000000", &[("cookie", &cookie)], "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "deletes too");
    assert_eq!(monitor_count(&app).await, 0, "nothing was created");

    // The app itself: same origin, with the header.
    let (status, _, body) = send(
        &app,
        "POST",
        "/api/v1/monitors",
        &[
            ("content-type", "application/json"),
            ("x-statushawk-csrf", "1"),
            ("origin", OWN_ORIGIN),
            ("cookie", &cookie),
        ],
        &monitor,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(monitor_count(&app).await, 1);
    // A bearer token needs neither (programs are not browsers).
    let (_, session) =
        app.call("POST", "/api/v1/login", None, Some(json!({"email": "bob@shop.example", "password": PASSWORD}))).await;
    let (status, _) = app
        .call("POST", "/api/v1/monitors", session["token"].as_str(), Some(serde_json::from_str(&monitor).unwrap()))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn the_app_learns_who_is_signed_in_and_switches_teams() {
    let app = App::new().await;
    let cookie = browser_sign_up(&app, "cat@shop.example").await;
    // Another team invites her; she accepts with a session of hers.
    let lab = app.sign_up("lead@lab.example", "Lab").await;
    let (_, invitation) = app
        .call("POST", "/api/v1/invitations", Some(&lab), Some(json!({"email": "cat@shop.example", "role": "viewer"})))
        .await;
    let (_, bearer) =
        app.call("POST", "/api/v1/login", None, Some(json!({"email": "cat@shop.example", "password": PASSWORD}))).await;
    let (status, joined) = app
        .call(
            "POST",
            "/api/v1/invitations/accept",
            bearer["token"].as_str(),
            Some(json!({"token": invitation["token"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");

    let (status, _, body) = send(&app, "GET", "/api/v1/session", &[("cookie", &cookie)], "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (me["email"].as_str(), me["role"].as_str(), me["session"].as_bool()),
        (Some("cat@shop.example"), Some("owner"), Some(true))
    );
    assert_eq!(me["team"]["name"], "Shop");
    let teams: Vec<(&str, &str)> = me["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["role"].as_str().unwrap()))
        .collect();
    assert_eq!(teams, [("Lab", "viewer"), ("Shop", "owner")]);
    let lab_slug = me["teams"][0]["slug"].as_str().unwrap().to_owned();

    // Switching: a session in the other team, the old one revoked.
    let switch = json!({"team": lab_slug, "cookie": true}).to_string();
    let headers = [
        ("content-type", "application/json"),
        ("x-statushawk-csrf", "1"),
        ("origin", OWN_ORIGIN),
        ("cookie", cookie.as_str()),
    ];
    let (status, answer, body) = send(&app, "POST", "/api/v1/session/team", &headers, &switch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let switched = cookie_pair(&answer);
    assert_eq!(send(&app, "GET", "/api/v1/session", &[("cookie", &cookie)], "").await.0, StatusCode::UNAUTHORIZED);
    let (_, _, body) = send(&app, "GET", "/api/v1/session", &[("cookie", &switched)], "").await;
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((me["team"]["name"].as_str(), me["role"].as_str()), (Some("Lab"), Some("viewer")));
    // Not to a team she is not in.
    let elsewhere = json!({"team": "no-such-team", "cookie": true}).to_string();
    let headers = [("content-type", "application/json"), ("x-statushawk-csrf", "1"), ("cookie", switched.as_str())];
    assert_eq!(send(&app, "POST", "/api/v1/session/team", &headers, &elsewhere).await.0, StatusCode::FORBIDDEN);

    // A team API token is a program: its team, no person, no teams.
    let owner = app.sign_up("ops@tools.example", "Tools").await;
    let token = app.token(&owner, "viewer").await;
    let (status, me) = app.call("GET", "/api/v1/session", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        (me["session"].as_bool(), me["email"].is_null(), me["team"]["name"].as_str()),
        (Some(false), true, Some("Tools"))
    );
}
