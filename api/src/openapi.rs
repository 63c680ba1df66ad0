//! The OpenAPI 3.1 document at `/api/v1/openapi.json`, generated from the
//! handlers' `#[utoipa::path]` annotations and the types' `ToSchema`
//! derives. The wire types of `statushawk-schemas` keep their one schema,
//! the schemars one, which is put in place of their named placeholders.

use std::sync::OnceLock;

use axum::Json;
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::{
    accounts, analytics, channels, deliveries, incidents, invitations, live, maintenance, members, monitors, pings,
    status_pages,
};

/// Every error answer: `{"error": {"code", "message", "field"?}}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// What went wrong.
    error: ErrorDetail,
}

/// The error itself.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// Machine-readable: `bad_request`, `unauthorized`, `forbidden`,
    /// `not_found`, `conflict`, `invalid`, `rate_limited`, `internal`,
    /// `unavailable`, ...
    code: String,
    /// For people.
    message: String,
    /// The invalid field (`spec.url`, `regions[1]`, ...), for `invalid`.
    field: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "StatusHawk API",
        description = "Monitors, channels, incidents, maintenance windows, analytics and live results of a team. \
                       Send `Authorization: Bearer <token>` (a session from `/login` or a team API token). \
                       The web app's session is instead the HttpOnly cookie `statushawk_session` (`cookie: true` \
                       on `/login` or `/signup`); requests that change state with it carry `x-statushawk-csrf: 1` \
                       and come from the API's own origin."
    ),
    paths(
        accounts::sign_up, accounts::login, accounts::logout, accounts::me, accounts::switch_team, accounts::verify_email, accounts::resend_verification,
        accounts::create_token, accounts::list_tokens, accounts::revoke_token,
        monitors::list, monitors::create, monitors::get, monitors::replace, monitors::delete,
        monitors::pause, monitors::resume, monitors::set_channels, monitors::rotate_ping_token,
        pings::success, pings::with_kind,
        analytics::uptime::uptime, analytics::latency::latency, crate::overview::overview, analytics::results::results,
        analytics::heartbeats::pings, analytics::heartbeats::runs,
        live::monitor, live::team,
        channels::list, channels::create, channels::get, channels::replace, channels::delete, channels::test,
        deliveries::of_channel,
        members::list, members::change_role, members::remove,
        invitations::create, invitations::list, invitations::revoke, invitations::preview, invitations::accept,
        status_pages::subscribers::list, status_pages::subscribers::add, status_pages::subscribers::remove,
        incidents::list, incidents::get, incidents::add_update, incidents::ack,
        maintenance::list, maintenance::create, maintenance::get, maintenance::replace, maintenance::delete,
        status_pages::list, status_pages::create, status_pages::get, status_pages::replace, status_pages::delete,
        status_pages::public::json,
        openapi_json,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Conventions),
    security(("bearer" = [])),
)]
struct ApiDoc;

/// The bearer scheme, and the error answer as every operation's `default`.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        let error: RefOr<Response> = ResponseBuilder::new()
            .description("An error; the status says which (400, 401, 403, 404, 409, 413, 422, 429, 503, ...)")
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .into();
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("patch", &mut item.patch),
                ("head", &mut item.head),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                operation.responses.responses.entry("default".to_owned()).or_insert_with(|| error.clone());
                // Handlers of different modules share names (`list`, `get`)
                // and one handler may serve several methods, so each
                // operation's id comes from its method and path, as generated
                // clients need: `get_monitors_by_id_uptime`.
                operation.operation_id = Some(operation_id(method, path));
            }
        }
    }
}

/// `get` and `/api/v1/monitors/{id}/uptime`: `get_monitors_by_id_uptime`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for segment in path.trim_start_matches("/api/v1").split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(param) => {
                id.push_str("by_");
                id.push_str(param);
            }
            None => id.extend(segment.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })),
        }
    }
    id
}

/// The document (built once).
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

fn build() -> Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    // The schemars schemas of the wire types, referring to each other under
    // `#/components/schemas/`, in place of their placeholders.
    let mut generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|settings| settings.definitions_path = "/components/schemas".into())
        .into_generator();
    statushawk_schemas::openapi::define(&mut generator);
    if let Some(Value::Object(schemas)) = document.pointer_mut("/components/schemas") {
        for (name, schema) in generator.take_definitions(true) {
            schemas.insert(name, schema);
        }
    }
    split_ref_siblings(&mut document);
    document
}

/// Rewrites a schema that is a `$ref` with constraints beside it (as a
/// tagged enum's variant is: the variant's type and its `kind`) into
/// `allOf` of the two. Both mean the same in JSON Schema 2020-12, but code
/// generators (openapi-typescript) drop a `$ref`'s siblings, and with them
/// the tag that tells the variants apart.
fn split_ref_siblings(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let constrained = ["properties", "required", "type"].iter().any(|k| map.contains_key(*k));
            if map.contains_key("$ref") && constrained {
                let reference = map.remove("$ref").unwrap_or_default();
                let description = map.remove("description");
                let rest = std::mem::take(map);
                map.insert(
                    "allOf".into(),
                    Value::Array(vec![serde_json::json!({ "$ref": reference }), Value::Object(rest)]),
                );
                if let Some(description) = description {
                    map.insert("description".into(), description);
                }
            }
            map.values_mut().for_each(split_ref_siblings);
        }
        Value::Array(items) => items.iter_mut().for_each(split_ref_siblings),
        _ => {}
    }
}

/// `GET /api/v1/openapi.json`: this API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub async fn openapi_json() -> Json<&'static Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_every_wire_schema_in_place() {
        let document = document();
        assert_eq!(document["openapi"], "3.1.0");
        let text = document.to_string();
        assert!(!text.contains(statushawk_schemas::openapi::PLACEHOLDER), "a placeholder was left");
        // Every reference resolves.
        let schemas = document["components"]["schemas"].as_object().unwrap();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "{name} is referred to but not defined");
        }
        assert!(schemas.contains_key("MonitorSpec") && schemas.contains_key("HttpSpec"));
        // No `$ref` carries constraints beside it (generators drop them).
        fn no_ref_siblings(value: &Value) {
            match value {
                Value::Object(map) => {
                    if map.contains_key("$ref") {
                        assert!(!map.contains_key("properties") && !map.contains_key("required"), "{value}");
                    }
                    map.values().for_each(no_ref_siblings);
                }
                Value::Array(items) => items.iter().for_each(no_ref_siblings),
                _ => {}
            }
        }
        no_ref_siblings(document);
        // Operation ids are unique (generated clients key on them).
        let mut ids = std::collections::HashSet::new();
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let id = operation["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            }
        }
        // Every operation answers errors with the error body.
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                assert!(operation["responses"]["default"].is_object(), "{method} {path}");
            }
        }
    }
}
