//! Identifiers: typed UUIDs and region names.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An identifier that is not a UUID.
#[derive(Debug, thiserror::Error)]
#[error("invalid {what} id {value:?}: {source}")]
pub struct IdError {
    what: &'static str,
    value: String,
    source: uuid::Error,
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new random (v7, time-ordered) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl fmt::Display for $name {
            /// The canonical form: lower-case, hyphenated. Subjects, message ids
            /// and the partition function all use it.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|source| IdError { what: $what, value: s.to_owned(), source })
            }
        }
    };
}

uuid_id!(
    /// A monitor (one thing being checked).
    MonitorId,
    "monitor"
);
uuid_id!(
    /// A team, the owner of monitors, channels and status pages.
    TeamId,
    "team"
);
uuid_id!(
    /// A confirmed incident of one monitor.
    IncidentId,
    "incident"
);
uuid_id!(
    /// A notification channel.
    ChannelId,
    "channel"
);

/// A region name that cannot be one subject token.
#[derive(Debug, thiserror::Error)]
#[error("invalid region {0:?}: use 1 to 32 characters a-z, 0-9 and '-', starting with a letter or digit")]
pub struct RegionError(String);

/// A probing region such as `eu-west`: 1 to 32 characters of `a-z`, `0-9`
/// and `-`, starting with a letter or digit, so it is always exactly one NATS
/// subject token and a valid consumer-name part.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "RegionSchema")]
pub struct Region(String);

/// JSON Schema shape of [`Region`].
#[derive(JsonSchema)]
#[schemars(transparent)]
#[allow(dead_code)]
struct RegionSchema(#[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,31}$"))] String);

impl Region {
    /// Validates and wraps a region name.
    pub fn new(name: impl Into<String>) -> Result<Self, RegionError> {
        let name = name.into();
        let mut chars = name.chars();
        let valid = matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
            && name.len() <= 32
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid { Ok(Self(name)) } else { Err(RegionError(name)) }
    }

    /// The region of heartbeat monitors' results ([`crate::HEARTBEAT_REGION`]).
    pub fn heartbeat() -> Self {
        Self(crate::HEARTBEAT_REGION.to_owned())
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Region {
    type Error = RegionError;
    fn try_from(name: String) -> Result<Self, RegionError> {
        Self::new(name)
    }
}

impl From<Region> for String {
    fn from(region: Region) -> String {
        region.0
    }
}

impl FromStr for Region {
    type Err = RegionError;
    fn from_str(s: &str) -> Result<Self, RegionError> {
        Self::new(s)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_are_single_subject_tokens() {
        for good in ["local", "eu-west", "us-east-1", "a", "0x"] {
            assert!(Region::new(good).is_ok(), "{good}");
        }
        let too_long = "a".repeat(33);
        for bad in ["", "EU", "eu.west", "eu west", "*", ">", "-eu", "eu_west", too_long.as_str()] {
            assert!(Region::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn region_deserialization_validates() {
        assert!(serde_json::from_str::<Region>(r#""eu-west""#).is_ok());
        assert!(serde_json::from_str::<Region>(r#""eu.west""#).is_err());
    }

    #[test]
    fn ids_display_canonically() {
        let id: MonitorId = "6F9619FF-8B86-D011-B42D-00C04FC964FF".parse().unwrap();
        assert_eq!(id.to_string(), "6f9619ff-8b86-d011-b42d-00c04fc964ff");
    }
}
