//! OpenAPI names for the wire types the API answers with (feature `utoipa`).
//!
//! Their schemas are not written twice: a type here only names its
//! component (`#/components/schemas/<Name>`) and leaves a placeholder, and
//! the API's document builder replaces every placeholder with the type's
//! schemars JSON Schema (OpenAPI 3.1 schemas are JSON Schema 2020-12).
//! [`PLACEHOLDER`] lets it check that none is left.

use std::borrow::Cow;

use utoipa::openapi::{ObjectBuilder, RefOr, Schema};

/// The description of a placeholder schema.
pub const PLACEHOLDER: &str = "statushawk-schemas: replaced by the schemars schema";

macro_rules! named_by_schemars {
    ($($name:ident),* $(,)?) => {
        $(
            impl utoipa::PartialSchema for crate::$name {
                fn schema() -> RefOr<Schema> {
                    ObjectBuilder::new().description(Some(PLACEHOLDER)).into()
                }
            }

            impl utoipa::ToSchema for crate::$name {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed(stringify!($name))
                }
            }
        )*

        /// Adds the schemars schema of every type named here (and of what
        /// they refer to) to `generator`'s definitions.
        pub fn define(generator: &mut schemars::SchemaGenerator) {
            $( generator.subschema_for::<crate::$name>(); )*
        }
    };
}

named_by_schemars!(MonitorId, TeamId, ChannelId, IncidentId, Region, MonitorSpec, MonitorConfig, CheckResult);
