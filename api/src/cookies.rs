//! Browser sessions: the web app's login session travels in an HttpOnly,
//! SameSite=Strict cookie ([`COOKIE`]), out of JavaScript's reach, and is
//! `Secure` when `api.public_url` is `https://`.
//!
//! A cookie is sent by the browser whoever asks, so a request that changes
//! state with it must prove it comes from the app itself
//! ([`check_same_origin`]): it carries the custom header [`CSRF_HEADER`]
//! (a cross-site form cannot set a header, and a cross-site script cannot
//! without a CORS preflight that credentials never pass), and where the
//! browser says where it comes from (`Origin`, `Sec-Fetch-Site`) that is
//! this API's own origin. Reads need neither: SameSite=Strict keeps the
//! cookie off cross-site requests, and CORS keeps their answers from other
//! sites' scripts.

use axum::http::{HeaderMap, HeaderValue, Method, header};
use cookie::{Cookie, SameSite};

use crate::error::ApiError;

/// The session cookie's name.
pub const COOKIE: &str = "statushawk_session";
/// The header every state-changing request made with the cookie carries
/// (any non-empty value; the web app sends `1`).
pub const CSRF_HEADER: &str = "x-statushawk-csrf";
/// How long the cookie lives: as long as a login session.
const MAX_AGE_DAYS: i64 = 30;

/// `Set-Cookie` for a new session.
pub fn session_cookie(token: &str, public_url: &str) -> Result<HeaderValue, ApiError> {
    build(Cookie::new(COOKIE, token.to_owned()), public_url, cookie::time::Duration::days(MAX_AGE_DAYS))
}

/// `Set-Cookie` that removes the session cookie.
pub fn cleared_cookie(public_url: &str) -> Result<HeaderValue, ApiError> {
    build(Cookie::new(COOKIE, ""), public_url, cookie::time::Duration::ZERO)
}

fn build(
    mut cookie: Cookie<'static>,
    public_url: &str,
    max_age: cookie::time::Duration,
) -> Result<HeaderValue, ApiError> {
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_secure(public_url.starts_with("https://"));
    cookie.set_path("/");
    cookie.set_max_age(max_age);
    HeaderValue::from_str(&cookie.to_string()).map_err(ApiError::internal)
}

/// The session token in the request's `Cookie` headers, if any.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == COOKIE && !cookie.value().is_empty())
        .map(|cookie| cookie.value().to_owned())
}

/// Refuses a state-changing (`POST`, `PUT`, `PATCH`, `DELETE`, …) request
/// that relies on the cookie, or asks for one, unless it carries
/// [`CSRF_HEADER`] and comes from this API's own origin: that of
/// `public_url`, or the one the request names in `Host`.
pub fn check_same_origin(method: &Method, headers: &HeaderMap, public_url: &str) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let refuse = |why: &str| {
        Err(ApiError::forbidden(format!(
            "a request made with the session cookie must come from the StatusHawk app itself: {why}"
        )))
    };
    if headers.get(CSRF_HEADER).is_none_or(|v| v.as_bytes().is_empty()) {
        return refuse(&format!("the {CSRF_HEADER} header is missing"));
    }
    if headers.get("sec-fetch-site").is_some_and(|site| site.as_bytes() == b"cross-site") {
        return refuse("it was sent by another site");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if !own_origins(headers, public_url).iter().any(|own| own.eq_ignore_ascii_case(origin)) {
            return refuse(&format!("it was sent from {origin:?}"));
        }
    }
    Ok(())
}

/// The origins this API answers at: `public_url`'s, and the request's own
/// `Host` under either scheme (a proxy may end TLS in front of it).
fn own_origins(headers: &HeaderMap, public_url: &str) -> Vec<String> {
    let mut origins = Vec::new();
    if let Ok(url) = url::Url::parse(public_url) {
        origins.push(url.origin().ascii_serialization());
    }
    if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        origins.push(format!("http://{host}"));
        origins.push(format!("https://{host}"));
    }
    origins
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_https() {
        let cookie = session_cookie("shk_abc", "https://status.example").unwrap().to_str().unwrap().to_owned();
        for part in ["statushawk_session=shk_abc", "HttpOnly", "SameSite=Strict", "Secure", "Path=/", "Max-Age=2592000"]
        {
            assert!(cookie.contains(part), "{part} in {cookie}");
        }
        let plain = session_cookie("shk_abc", "http://127.0.0.1:8080").unwrap().to_str().unwrap().to_owned();
        assert!(!plain.contains("Secure"), "{plain}");
        assert!(cleared_cookie("http://x").unwrap().to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn the_session_is_found_among_other_cookies() {
        let map = headers(&[("cookie", "a=1; statushawk_session=shk_x; b=2")]);
        assert_eq!(session_token(&map).as_deref(), Some("shk_x"));
        assert_eq!(session_token(&headers(&[("cookie", "statushawk_session=")])), None);
        assert_eq!(session_token(&HeaderMap::new()), None);
    }

    #[test]
    fn only_same_origin_requests_with_the_header_change_state() {
        let url = "https://status.example";
        let ok = |pairs: &[(&'static str, &str)]| check_same_origin(&Method::POST, &headers(pairs), url).is_ok();
        assert!(check_same_origin(&Method::GET, &HeaderMap::new(), url).is_ok(), "reads need nothing");
        assert!(!ok(&[]), "no header");
        assert!(ok(&[(CSRF_HEADER, "1")]), "a same-origin fetch need not send Origin");
        assert!(ok(&[(CSRF_HEADER, "1"), ("origin", "https://status.example")]));
        assert!(ok(&[(CSRF_HEADER, "1"), ("origin", "http://127.0.0.1:8080"), ("host", "127.0.0.1:8080")]));
        assert!(!ok(&[(CSRF_HEADER, "1"), ("origin", "https://evil.example"), ("host", "status.example")]));
        assert!(!ok(&[(CSRF_HEADER, "1"), ("origin", "null")]));
        assert!(!ok(&[(CSRF_HEADER, "1"), ("sec-fetch-site", "cross-site")]));
        assert!(!ok(&[(CSRF_HEADER, ""), ("origin", "https://status.example")]));
    }
}
