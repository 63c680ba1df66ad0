//! The API's one error type: JSON `{"error": {"code", "message", "field"?}}`
//! with the right status; internal details stay in the log.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use statushawk_schemas::FieldError;
use tracing::error;

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// 401: no or a bad bearer token.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: the caller's role may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: nothing with that id in the caller's team.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// 409: it conflicts with what exists.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 409 about one field (a slug or name that must be unique).
    pub fn conflict_on(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: Some(field.into()), ..Self::conflict(message) }
    }

    /// 422: a field is invalid.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: Some(field.into()), ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message) }
    }

    /// 422 from a [`FieldError`] inside `parent` (`spec`, `settings`).
    pub fn invalid_in(parent: &str, err: FieldError) -> Self {
        let err = err.within(parent);
        Self::invalid(err.field, err.message)
    }

    /// 429: too many tries; try again after `wait`.
    pub fn too_many(message: impl Into<String>, wait: std::time::Duration) -> Self {
        Self {
            retry_after: Some(wait.as_secs().max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
        }
    }

    /// 500: logged with its cause; the client learns nothing more.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        error!(error = %cause, "Request failed.");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }

    /// 503: a dependency is unavailable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What the client is told.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// 410: it existed but is no longer usable (a used or expired link).
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "gone", message)
    }

    /// Whether this is a 409.
    pub fn is_conflict(&self) -> bool {
        self.status == StatusCode::CONFLICT
    }

    /// Whether this is a 422.
    pub fn is_invalid(&self) -> bool {
        self.status == StatusCode::UNPROCESSABLE_ENTITY
    }

    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None, retry_after: None }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(value) = axum::http::HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if let Some(db) = err.as_database_error() {
            // Constraint violations are the client's: say which.
            let constraint = db.constraint().unwrap_or("").to_owned();
            match db.code().as_deref() {
                Some("23505") => return Self::conflict(format!("already exists ({constraint})")),
                Some("23503") => return Self::invalid(constraint, "refers to something that does not exist"),
                Some("23514") => return Self::invalid(constraint, "violates a constraint"),
                // Out of range for its column (a time, a number): the input's.
                Some("22003" | "22008") => {
                    return Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "a value is out of range");
                }
                _ => {}
            }
        }
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => Self::unavailable("the database is unavailable"),
            err => Self::internal(err),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let mut err = Self::new(status, "bad_request", rejection.body_text());
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            err.code = "invalid";
            err.field = field_of(&rejection.body_text());
        }
        err
    }
}

/// The field a deserialization error is about: serde's path before the
/// message (`schedule.weekdays[0]: invalid value ...`), else the name in
/// "missing field `x`" / "unknown field `x`".
fn field_of(text: &str) -> Option<String> {
    let detail = text.split_once("target type: ").map_or(text, |(_, detail)| detail);
    if let Some((path, _)) = detail.split_once(": ")
        && !path.is_empty()
        && !path.contains(char::is_whitespace)
        && path != "."
    {
        return Some(path.to_owned());
    }
    detail.split('`').nth(1).map(str::to_owned)
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        let mut err = Self::new(StatusCode::BAD_REQUEST, "bad_request", rejection.body_text());
        err.field = rejection.body_text().split('`').nth(1).map(str::to_owned);
        err
    }
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn deserialization_errors_name_their_field() {
        let cases = [
            (
                "Failed to deserialize the JSON body into the target type: schedule.weekdays[0]: invalid value: integer `9`, expected i16 at line 1 column 9",
                Some("schedule.weekdays[0]"),
            ),
            (
                "Failed to deserialize the JSON body into the target type: missing field `name` at line 1 column 2",
                Some("name"),
            ),
            (
                "Failed to deserialize the JSON body into the target type: unknown field `nmae`, expected one of `name` at line 1 column 7",
                Some("nmae"),
            ),
            (
                "Failed to deserialize the JSON body into the target type: invalid type: integer `1`, expected struct X at line 1 column 1",
                Some("1"),
            ),
        ];
        for (text, field) in cases {
            assert_eq!(field_of(text).as_deref(), field, "{text}");
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", rejection.body_text())
    }
}

/// An optional count parameter (`limit`, `days`): `default` when absent,
/// else within `1..=max`.
pub fn count(field: &str, value: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    let value = value.unwrap_or(default);
    if (1..=max).contains(&value) { Ok(value) } else { Err(ApiError::invalid(field, format!("1 to {max}"))) }
}

/// JSON body extractor whose rejections are [`ApiError`]s.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Body<T>(pub T);

/// Query-string extractor whose rejections are [`ApiError`]s.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Params<T>(pub T);

/// Path extractor whose rejections are [`ApiError`]s.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Id<T>(pub T);
