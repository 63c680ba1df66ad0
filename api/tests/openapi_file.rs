//! `web/openapi.json` is the API's OpenAPI document as the web app's types
//! are generated from it (`npm run gen:api`); this test fails when it no
//! longer matches the Rust API. Regenerate with `STATUSHAWK_BLESS=1 cargo
//! nextest run -p statushawk-api openapi_file`, then `cd web && npm run
//! gen:api` (which `npm run check:api` verifies), and commit both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[test]
fn the_web_apps_openapi_document_matches_the_api() {
    let path = statushawk_testkit::repo_root().join("web/openapi.json");
    let generated = serde_json::to_string_pretty(statushawk_api::openapi::document()).unwrap() + "\n";
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        if std::env::var_os("STATUSHAWK_BLESS").is_some() {
            std::fs::write(&path, generated).unwrap();
        } else {
            panic!(
                "{} is out of date with the API: regenerate with \
                 STATUSHAWK_BLESS=1 cargo nextest run -p statushawk-api openapi_file, \
                 then cd web && npm run gen:api, and commit both",
                path.display()
            );
        }
    }
}
