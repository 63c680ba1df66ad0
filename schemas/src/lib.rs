//! Every message that crosses NATS in StatusHawk, and the rules that name them.
//!
//! This crate owns the wire: serde types for each message, the subject names
//! they travel on, the partition function that decides which evaluator owns a
//! monitor, and the deterministic `Nats-Msg-Id` builders that let JetStream
//! de-duplicate retries. It does no I/O. Services convert their own types to
//! and from these at the boundary and never put internal structs on the wire.
//!
//! Compatibility rule: within one [`SCHEMA_VERSION`] a change may only add
//! optional fields (with `#[serde(default)]`); anything else bumps the version.
//! Readers ignore fields they do not know. The JSON Schema of each message is
//! generated from these types into `schemas/json/` (see [`json_schemas`]).

mod channel_request;
mod check;
mod config;
mod dead_letter;
mod due;
mod event;
mod heartbeat;
mod ids;
pub mod msg_id;
#[cfg(feature = "utoipa")]
pub mod openapi;
mod partition;
mod result;
pub mod subject;
mod validate;
mod webhook;

pub use channel_request::{ChannelAnswer, ChannelRequest, ChannelRequestOp, ChannelUnderTest};
pub use check::{
    Assertion, CheckKind, CheckSpec, DnsRecordType, DnsResponseCode, DnsSpec, Header, HttpMethod, HttpSpec, IcmpSpec,
    SpecSecrets, StatusRange, TcpSpec, TlsSpec,
};
pub use config::{
    ConfigChange, ConfigOp, HEARTBEAT_MAX_MS, HEARTBEAT_REGION, HeartbeatSchedule, MonitorConfig, MonitorSpec,
    SealedSecrets,
};
pub use dead_letter::DeadLetter;
pub use due::{DueCheck, DueCheckRaw};
pub use event::{
    IncidentEvent, IncidentEventKind, IncidentStatus, MonitorStatus, PersonUpdate, RegionEvidence, RegionState,
    StatusEvent,
};
pub use heartbeat::{HeartbeatPing, PingKind};
pub use ids::{ChannelId, IdError, IncidentId, MonitorId, Region, RegionError, TeamId};
pub use partition::{DEFAULT_PARTITIONS, fnv1a64, partition_of};
pub use result::{AssertionResult, CheckResult, CheckStatus, ErrorKind, Forgery, Timings};
pub use validate::{
    FieldError, MAX_BODY_LIMIT, MAX_PAYLOAD_BYTES, REFUSED_HEADERS, parse_resolver, validate_headers, validate_host,
};
pub use webhook::{
    NoticeIncident, NoticeMaintenance, NoticePage, NoticeType, PageNotice, WebhookEventType, WebhookPayload,
};

/// Version of the message formats in this crate, carried by every message in
/// its `schema_version` field.
pub const SCHEMA_VERSION: u16 = 1;

/// Milliseconds since the Unix epoch, the one timestamp unit on the wire.
pub type UnixMs = i64;

/// Wall-clock now, in [`UnixMs`].
pub fn now_ms() -> UnixMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A named JSON Schema for one message type.
pub struct NamedSchema {
    /// File stem under `schemas/json/`, e.g. `check_result`.
    pub name: &'static str,
    /// The schema, generated from the Rust type.
    pub schema: schemars::Schema,
}

/// The JSON Schema of every message type, in a stable order.
pub fn json_schemas() -> Vec<NamedSchema> {
    fn named<T: schemars::JsonSchema>(name: &'static str) -> NamedSchema {
        NamedSchema { name, schema: schemars::schema_for!(T) }
    }
    vec![
        named::<DueCheck>("due_check"),
        named::<CheckResult>("check_result"),
        named::<StatusEvent>("status_event"),
        named::<IncidentEvent>("incident_event"),
        named::<HeartbeatPing>("heartbeat_ping"),
        named::<ConfigChange>("config_change"),
        named::<WebhookPayload>("webhook_payload"),
        named::<PageNotice>("page_notice"),
        named::<ChannelRequest>("channel_request"),
        named::<ChannelAnswer>("channel_answer"),
        named::<DeadLetter>("dead_letter"),
    ]
}

fn schema_version() -> u16 {
    SCHEMA_VERSION
}
