//! Accounts against a hostile stranger: invitations that bind to their
//! token, tokens that never outlive their creator's role, and password
//! hashing that cannot be turned into a weapon.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use statushawk_api::users::{LOGIN_ATTEMPTS_PER_ACCOUNT, SIGNUPS_PER_ACCOUNT, SIGNUPS_PER_CLIENT};
use support::App;

const PASSWORD: &str = "correct horse battery";

async fn invite(app: &App, admin: &str, email: &str, role: &str) -> Value {
    let (status, body) =
        app.call("POST", "/api/v1/invitations", Some(admin), Some(json!({"email": email, "role": role}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn login(app: &App, email: &str, team: Option<&str>) -> (StatusCode, Value) {
    app.call("POST", "/api/v1/login", None, Some(json!({"email": email, "password": PASSWORD, "team": team}))).await
}

async fn member_emails(app: &App, token: &str) -> Vec<String> {
    let (status, members) = app.call("GET", "/api/v1/members", Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{members}");
    members.as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap().to_lowercase()).collect()
}

/// The latest system mail to `to`: (subject, body).
async fn mail_to(app: &App, to: &str, purpose: &str) -> (String, String) {
    sqlx::query_as(
        "SELECT subject, body_text FROM system_mail WHERE lower(to_address) = lower($1) AND purpose = $2 \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(to)
    .bind(purpose)
    .fetch_one(&app.pg)
    .await
    .unwrap()
}

/// The token at the end of the link in a mail body (`.../<prefix>_<hex>`).
fn link_token(body: &str, path: &str) -> String {
    let start = body.find(path).unwrap_or_else(|| panic!("no {path} link in {body}")) + path.len();
    body[start..].split_whitespace().next().unwrap().to_owned()
}

#[tokio::test]
async fn an_invitation_binds_to_its_token_not_to_whoever_registered_the_address() {
    let app = App::new().await;
    let owner = app.sign_up("owner@shop.example", "Shop").await;
    // A stranger registers the address first, hoping for the role.
    app.sign_up("alice@victim.example", "Squat").await;

    let invitation = invite(&app, &owner, "Alice@victim.example", "admin").await;
    assert_eq!(member_emails(&app, &owner).await, ["owner@shop.example"], "nobody joins before accepting");
    assert_eq!(login(&app, "alice@victim.example", Some("shop")).await.0, StatusCode::FORBIDDEN);
    let token = invitation["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("inv_"), "{invitation}");
    assert_eq!(invitation["link"], format!("https://status.example/invite/{token}"));
    assert_eq!(invitation["emailed"], false, "no mail server: a link to pass on");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM invitations").fetch_one(&app.pg).await.unwrap();
    assert_ne!(stored, token.as_bytes(), "only a hash is stored");

    // Pending invitations are listed (without their token) and previewed by
    // whoever holds the link.
    let (_, pending) = app.call("GET", "/api/v1/invitations", Some(&owner), None).await;
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    assert_eq!(pending[0]["email"], "Alice@victim.example");
    assert!(pending[0].get("token").is_none() && pending[0].get("link").is_none(), "{pending}");
    let (status, preview) = app.call("POST", "/api/v1/invitations/preview", None, Some(json!({"token": token}))).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!((preview["team_name"].as_str(), preview["role"].as_str()), (Some("Shop"), Some("admin")));

    // The person the admin handed the link to joins, whatever address they
    // registered with.
    let real_alice = app.sign_up("alice@home.example", "Home").await;
    let (status, joined) =
        app.call("POST", "/api/v1/invitations/accept", Some(&real_alice), Some(json!({"token": token}))).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["role"], "admin");
    let in_shop = joined["token"].as_str().unwrap();
    assert_eq!(member_emails(&app, in_shop).await, ["owner@shop.example", "alice@home.example"]);
    assert_eq!(login(&app, "alice@victim.example", Some("shop")).await.0, StatusCode::FORBIDDEN, "never the squatter");

    // The link works once; a revoked, replaced or expired one not at all.
    let (status, _) =
        app.call("POST", "/api/v1/invitations/accept", Some(&real_alice), Some(json!({"token": token}))).await;
    assert_eq!(status, StatusCode::GONE);
    let first = invite(&app, &owner, "carol@shop.example", "member").await;
    let second = invite(&app, &owner, "carol@shop.example", "viewer").await;
    let carol = app.sign_up("carol@shop.example", "Carol").await;
    let app = &app;
    let accept = |token: Value| {
        let carol = carol.clone();
        async move { app.call("POST", "/api/v1/invitations/accept", Some(&carol), Some(json!({"token": token}))).await.0 }
    };
    assert_eq!(accept(first["token"].clone()).await, StatusCode::GONE, "replaced by the newer one");
    let id = second["id"].as_str().unwrap();
    assert_eq!(
        app.call("DELETE", &format!("/api/v1/invitations/{id}"), Some(&owner), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(accept(second["token"].clone()).await, StatusCode::GONE, "revoked");
    let third = invite(app, &owner, "carol@shop.example", "viewer").await;
    sqlx::query("UPDATE invitations SET created_at = now() - interval '8 days', expires_at = now() - interval '1 day'")
        .execute(&app.pg)
        .await
        .unwrap();
    assert_eq!(accept(third["token"].clone()).await, StatusCode::GONE, "expired");
    assert_eq!(accept(json!("inv_0000")).await, StatusCode::NOT_FOUND);

    // Only people accept (not a team's API token), and viewers do not invite.
    let bot = app.token(&owner, "admin").await;
    let fourth = invite(app, &owner, "dave@shop.example", "viewer").await;
    let (status, _) =
        app.call("POST", "/api/v1/invitations/accept", Some(&bot), Some(json!({"token": fourth["token"]}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let viewer = app.token(&owner, "viewer").await;
    let (status, _) = app
        .call("POST", "/api/v1/invitations", Some(&viewer), Some(json!({"email": "x@y.example", "role": "viewer"})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call("POST", "/api/v1/invitations", Some(&bot), Some(json!({"email": "x@y.example", "role": "owner"})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only owners invite owners");
}

#[tokio::test]
async fn signing_up_through_an_invitation_joins_the_inviting_team_only() {
    let app = App::new().await;
    let owner = app.sign_up("owner@shop.example", "Shop").await;
    let invitation = invite(&app, &owner, "erin@shop.example", "member").await;
    let (status, session) = app
        .call(
            "POST",
            "/api/v1/signup",
            None,
            Some(json!({"email": "erin@shop.example", "password": PASSWORD, "invite_token": invitation["token"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    assert_eq!(session["role"], "member");
    let teams: i64 = sqlx::query_scalar("SELECT count(*) FROM teams").fetch_one(&app.pg).await.unwrap();
    assert_eq!(teams, 1, "no team of her own");
    assert_eq!(member_emails(&app, session["token"].as_str().unwrap()).await.len(), 2);
    // Without a mail server there is nothing to verify: a plain refusal, no 5xx.
    let (status, answer) = app.call("POST", "/api/v1/verify-email/resend", session["token"].as_str(), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    // A used link signs nobody else up.
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/signup",
            None,
            Some(json!({"email": "frank@shop.example", "password": PASSWORD, "invite_token": invitation["token"]})),
        )
        .await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(login(&app, "frank@shop.example", None).await.0, StatusCode::UNAUTHORIZED, "no account was made");
}

#[tokio::test]
async fn with_a_mail_server_only_the_proven_address_accepts_an_emailed_invitation() {
    let app = App::with_system_mail().await;
    let owner = app.sign_up("owner@shop.example", "Shop").await;
    // Sign-up sends a verification link.
    let (subject, body) = mail_to(&app, "owner@shop.example", "verification").await;
    assert!(subject.contains("Confirm"), "{subject}");
    let verify = link_token(&body, "https://status.example/verify-email/");
    // A squatter registers Alice's address and never proves it.
    let squatter = app.sign_up("alice@victim.example", "Squat").await;

    let invitation = invite(&app, &owner, "alice@victim.example", "admin").await;
    assert_eq!(invitation["emailed"], true);
    let (subject, body) = mail_to(&app, "alice@victim.example", "invitation").await;
    assert!(subject.contains("Shop"), "{subject}");
    let token = link_token(&body, "https://status.example/invite/");
    assert_eq!(token, invitation["token"].as_str().unwrap(), "the admin's link and the mail's are one");

    // Even holding the token, the unverified account gets nothing.
    let (status, answer) =
        app.call("POST", "/api/v1/invitations/accept", Some(&squatter), Some(json!({"token": token}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    // Another address cannot use the e-mailed link either.
    let (status, answer) = app
        .call(
            "POST",
            "/api/v1/signup",
            None,
            Some(json!({"email": "mallory@evil.example", "password": PASSWORD, "invite_token": token})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "email");

    // Alice signs up through the link: it proves her address, which the
    // squatter loses.
    let (status, alice) = app
        .call(
            "POST",
            "/api/v1/signup",
            None,
            Some(json!({"email": "alice@victim.example", "password": "alice's own password", "invite_token": token})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alice}");
    assert_eq!((alice["role"].as_str(), alice["email_verified"].as_bool()), (Some("admin"), Some(true)));
    let (status, _) = app
        .call("POST", "/api/v1/login", None, Some(json!({"email": "alice@victim.example", "password": PASSWORD})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the squatter's password opens nothing now");

    // A verified member of another team accepts an invitation to their
    // address once they proved it.
    let bob = app.sign_up("bob@elsewhere.example", "Bob's").await;
    let for_bob = invite(&app, &owner, "bob@elsewhere.example", "viewer").await;
    let accept_bob =
        || app.call("POST", "/api/v1/invitations/accept", Some(&bob), Some(json!({"token": for_bob["token"]})));
    assert_eq!(accept_bob().await.0, StatusCode::FORBIDDEN, "not verified yet");
    let (_, body) = mail_to(&app, "bob@elsewhere.example", "verification").await;
    let bob_link = link_token(&body, "https://status.example/verify-email/");
    let (status, verified) = app.call("POST", "/api/v1/verify-email", None, Some(json!({"token": bob_link}))).await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    let (status, joined) = accept_bob().await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["email_verified"], true);
    let (status, _) = app.call("POST", "/api/v1/verify-email", None, Some(json!({"token": bob_link}))).await;
    assert_eq!(status, StatusCode::GONE, "a verification link works once");

    // The owner's own link still works, through the page a mail client opens.
    let (status, content_type, page) = app.raw("GET", &format!("/verify-email/{verify}"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(content_type.starts_with("text/html") && page.contains("is now verified"), "{page}");
    let (_, session) = login(&app, "owner@shop.example", None).await;
    assert_eq!(session["email_verified"], true);
}

#[tokio::test]
async fn the_invitation_page_signs_a_person_up_and_never_leaks_its_token() {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let app = App::new().await;
    let owner = app.sign_up("owner@shop.example", "Shop").await;
    let invitation = invite(&app, &owner, "gina@shop.example", "member").await;
    let path = format!("/invite/{}", invitation["token"].as_str().unwrap());
    let (status, content_type, page) = app.raw("GET", &path, None, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(content_type.starts_with("text/html"));
    assert!(page.contains("Shop") && page.contains("Create account and join as member"), "{page}");

    let form = |body: &'static str| {
        let request = axum::http::Request::post(&path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        let router = app.router.clone();
        async move {
            let response = router.oneshot(request).await.unwrap();
            let headers = response.headers().clone();
            let text = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
            (headers, text)
        }
    };
    let (headers, text) = form("action=signup&email=gina%40shop.example&name=Gina&password=short").await;
    assert!(text.contains("between 10 and"), "the form says what is wrong: {text}");
    assert_eq!(headers["referrer-policy"], "no-referrer", "the token in the address never leaves in a Referer");
    assert_eq!(headers["x-frame-options"], "DENY");
    let (_, text) = form("action=signup&email=gina%40shop.example&name=Gina&password=correct+horse+battery").await;
    assert!(text.contains("Welcome aboard"), "{text}");
    assert!(text.contains(r#"<a href="/signin">"#), "the page leads on to the dashboard's sign-in: {text}");
    assert_eq!(login(&app, "gina@shop.example", Some("shop")).await.0, StatusCode::OK);
    let (status, _, page) = app.raw("GET", &path, None, None).await;
    assert_eq!(status, StatusCode::GONE, "{page}");
}

#[tokio::test]
async fn tokens_act_with_at_most_their_creators_current_role() {
    let app = App::new().await;
    let owner = app.sign_up("owner@shop.example", "Shop").await;
    let bob = app.sign_up("bob@shop.example", "Bob's").await;
    let invitation = invite(&app, &owner, "bob@shop.example", "admin").await;
    let (_, joined) =
        app.call("POST", "/api/v1/invitations/accept", Some(&bob), Some(json!({"token": invitation["token"]}))).await;
    let bob_in_shop = joined["token"].as_str().unwrap().to_owned();
    let bob_id = joined["user_id"].as_str().unwrap().to_owned();
    let bobs_bot = app.token(&bob_in_shop, "admin").await;
    let (_, tokens) = app.call("GET", "/api/v1/tokens", Some(&owner), None).await;
    assert_eq!(tokens[0]["created_by"], bob_id.as_str(), "the list says who made each: {tokens}");
    assert_eq!(tokens[0]["created_by_email"], "bob@shop.example");
    assert_eq!(app.call("GET", "/api/v1/tokens", Some(&bobs_bot), None).await.0, StatusCode::OK);

    // Bob is demoted: his admin token is a viewer's now.
    let (status, _) =
        app.call("PUT", &format!("/api/v1/members/{bob_id}"), Some(&owner), Some(json!({"role": "viewer"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.call("GET", "/api/v1/tokens", Some(&bobs_bot), None).await.0, StatusCode::FORBIDDEN);
    let monitor = json!({"name": "Shop", "spec": {"kind": "http", "url": "https://shop.example/"}});
    assert_eq!(
        app.call("POST", "/api/v1/monitors", Some(&bobs_bot), Some(monitor)).await.0,
        StatusCode::FORBIDDEN,
        "a viewer's power, whatever the token says"
    );
    assert_eq!(app.call("GET", "/api/v1/monitors", Some(&bobs_bot), None).await.0, StatusCode::OK);

    // Bob leaves: his tokens are revoked with him.
    assert_eq!(
        app.call("DELETE", &format!("/api/v1/members/{bob_id}"), Some(&owner), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.call("GET", "/api/v1/monitors", Some(&bobs_bot), None).await.0, StatusCode::UNAUTHORIZED);
    let revoked: bool = sqlx::query_scalar("SELECT revoked_at IS NOT NULL FROM api_tokens WHERE NOT session")
        .fetch_one(&app.pg)
        .await
        .unwrap();
    assert!(revoked, "removing a member revokes their tokens");
    // Joining again does not bring an old token back.
    let again = invite(&app, &owner, "bob@shop.example", "admin").await;
    let (status, _) =
        app.call("POST", "/api/v1/invitations/accept", Some(&bob), Some(json!({"token": again["token"]}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.call("GET", "/api/v1/monitors", Some(&bobs_bot), None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_burst_of_logins_is_admitted_before_any_password_is_hashed() {
    let app = App::new().await;
    app.sign_up("ada@shop.example", "Shop").await;
    let burst = (0..3 * LOGIN_ATTEMPTS_PER_ACCOUNT).map(|_| {
        app.call_from(
            "198.51.100.7:40000",
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"email": "ada@shop.example", "password": "a wrong guess"})),
        )
    });
    let answers = futures::future::join_all(burst).await;
    let refused = answers.iter().filter(|(status, _)| *status == StatusCode::UNAUTHORIZED).count();
    let limited = answers.iter().filter(|(status, _)| *status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(refused, LOGIN_ATTEMPTS_PER_ACCOUNT, "only the admitted guesses were checked: {answers:?}");
    assert_eq!(limited, 2 * LOGIN_ATTEMPTS_PER_ACCOUNT);
    assert_eq!(
        app.deps_runs(),
        1 + LOGIN_ATTEMPTS_PER_ACCOUNT as u64,
        "one hash for the sign-up, one per admitted guess"
    );
}

#[tokio::test]
async fn logins_for_unknown_accounts_cost_the_same_verification() {
    let app = App::new().await;
    app.sign_up("ada@shop.example", "Shop").await;
    let before = app.deps_runs();
    let unknown = app
        .call(
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"email": "nobody@shop.example", "password": "anything at all"})),
        )
        .await;
    let wrong = app
        .call("POST", "/api/v1/login", None, Some(json!({"email": "ada@shop.example", "password": "anything at all"})))
        .await;
    assert_eq!(unknown, wrong, "one answer for both");
    assert_eq!(app.deps_runs(), before + 2, "an argon2 run for the unknown account too");
}

#[tokio::test]
async fn oversized_addresses_and_passwords_are_refused_before_any_work() {
    let app = App::new().await;
    let long = format!("{}@shop.example", "a".repeat(300));
    for path in ["/api/v1/login", "/api/v1/signup"] {
        let body = |email: &str, password: &str| match path {
            "/api/v1/login" => json!({"email": email, "password": password}),
            _ => json!({"email": email, "password": password, "team_name": "Team"}),
        };
        let (status, answer) = app.call("POST", path, None, Some(body(&long, PASSWORD))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {answer}");
        assert_eq!(answer["error"]["field"], "email");
        let (status, answer) = app.call("POST", path, None, Some(body("ada@shop.example", &"x".repeat(200_000)))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {answer}");
    }
    assert_eq!(app.deps_runs(), 0, "no password was hashed");
}

#[tokio::test]
async fn sign_ups_are_limited_per_address_and_per_client() {
    let app = App::new().await;
    let sign_up = |peer: &'static str, email: String| {
        app.call_from(
            peer,
            "POST",
            "/api/v1/signup",
            None,
            Some(json!({"email": email, "password": PASSWORD, "team_name": email.replace(['@', '.'], "-")})),
        )
    };
    // One address: a few tries, then wait (the verification mail it would
    // send cannot be used to flood a stranger's inbox).
    for i in 0..SIGNUPS_PER_ACCOUNT {
        let peer = ["192.0.2.1:1000", "192.0.2.2:1000", "192.0.2.3:1000"][i % 3];
        let (status, _) = sign_up(peer, "victim@inbox.example".to_owned()).await;
        assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(sign_up("192.0.2.4:1000", "Victim@inbox.example".to_owned()).await.0, StatusCode::TOO_MANY_REQUESTS);
    // One client: many addresses, then wait; other clients are not affected.
    for i in 0..SIGNUPS_PER_CLIENT {
        let (status, answer) = sign_up("203.0.113.9:5000", format!("user{i}@many.example")).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let (status, answer) = sign_up("203.0.113.9:6000", "one-more@many.example".to_owned()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert_eq!(sign_up("203.0.113.10:5000", "one-more@many.example".to_owned()).await.0, StatusCode::CREATED);
}
