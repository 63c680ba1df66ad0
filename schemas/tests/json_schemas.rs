//! The committed JSON Schemas under `schemas/json/` are generated from the
//! Rust types; these tests fail when the two drift apart, and check that a
//! sample of every message round-trips through JSON and validates against its
//! committed schema. Regenerate with `STATUSHAWK_BLESS=1 cargo nextest run -p
//! statushawk-schemas` after changing a message type.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails by panicking

use std::fmt::Debug;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use serde::Serialize;
use serde::de::DeserializeOwned;
use statushawk_schemas::*;
use uuid::Uuid;

fn json_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("json")
}

fn render(schema: &schemars::Schema) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap();
    text.push('\n');
    text
}

#[test]
fn committed_schemas_match_the_types() {
    let bless = std::env::var_os("STATUSHAWK_BLESS").is_some();
    let mut stale = Vec::new();
    for named in json_schemas() {
        let path = json_dir().join(format!("{}.schema.json", named.name));
        let generated = render(&named.schema);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            if bless {
                std::fs::write(&path, generated).unwrap();
            } else {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "JSON Schemas out of date with the Rust types: {stale:?}\n\
         regenerate with: STATUSHAWK_BLESS=1 cargo nextest run -p statushawk-schemas, and commit them"
    );
    // No stray schema files for messages that no longer exist.
    let names: Vec<String> = json_schemas().iter().map(|n| format!("{}.schema.json", n.name)).collect();
    for entry in std::fs::read_dir(json_dir()).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(names.contains(&file), "schemas/json/{file} belongs to no message type");
    }
}

/// Round-trips `value` through JSON and validates it against the committed
/// schema `name`.
fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(name: &str, value: &T) {
    let json = serde_json::to_value(value).unwrap();
    assert_eq!(json["schema_version"], SCHEMA_VERSION, "{name} carries the schema version");
    let back: T = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(&back, value, "{name} round-trips");

    let schema_text = std::fs::read_to_string(json_dir().join(format!("{name}.schema.json"))).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&schema_text).unwrap();
    let validator = validator(&schema);
    let errors: Vec<String> = validator.iter_errors(&json).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{name} sample does not validate: {errors:?}\n{json:#}");
}

/// A validator that also checks `format` (uuid, ip, ...), which JSON Schema
/// 2020-12 only annotates by default.
fn validator(schema: &serde_json::Value) -> jsonschema::Validator {
    jsonschema::options().should_validate_formats(true).build(schema).unwrap()
}

fn region(name: &str) -> Region {
    Region::new(name).unwrap()
}

fn http_spec() -> HttpSpec {
    HttpSpec {
        url: "https://example.com/health".into(),
        method: HttpMethod::Post,
        headers: vec![Header::new("Authorization", "Bearer x")],
        body: Some("{}".into()),
        follow_redirects: 2,
        verify_tls: true,
        expected_status: vec![StatusRange { min: 200, max: 204 }],
        assertions: vec![
            Assertion::BodyContains { value: "ok".into() },
            Assertion::BodyNotContains { value: "error".into() },
            Assertion::JsonPointerEquals { pointer: "/status".into(), value: serde_json::json!("green") },
            Assertion::HeaderEquals { name: "content-type".into(), value: "application/json".into() },
            Assertion::HeaderContains { name: "server".into(), value: "nginx".into() },
            Assertion::ResponseTimeBelow { max_ms: 800 },
        ],
        cert_expiry_days: Some(14),
        max_body_bytes: Some(4096),
    }
}

fn every_check_spec() -> Vec<CheckSpec> {
    vec![
        CheckSpec::Http(http_spec()),
        CheckSpec::Tcp(TcpSpec {
            host: "db.example.com".into(),
            port: 5432,
            send: Some("PING\r\n".into()),
            expect: Some("PONG".into()),
        }),
        CheckSpec::Icmp(IcmpSpec { host: "192.0.2.1".into(), count: 5, max_loss_percent: 20 }),
        CheckSpec::Dns(DnsSpec {
            name: "example.com".into(),
            record_type: DnsRecordType::Mx,
            resolver: Some("1.1.1.1:53".into()),
            expected: vec!["10 mx.example.com.".into()],
            expected_rcode: Some(DnsResponseCode::NoError),
        }),
        CheckSpec::Tls(TlsSpec { host: "example.com".into(), port: 8443, expiry_days: 30, verify_hostname: false }),
    ]
}

fn evidence() -> Vec<RegionEvidence> {
    vec![
        RegionEvidence {
            region: region("eu-west"),
            state: RegionState::Down,
            last_status: CheckStatus::Down,
            error: Some(ErrorKind::Timeout),
            message: Some("timed out after 10000 ms".into()),
            at_ms: 1_700_000_060_000,
        },
        RegionEvidence {
            region: region("us-east"),
            state: RegionState::Up,
            last_status: CheckStatus::Up,
            error: None,
            message: None,
            at_ms: 1_700_000_060_000,
        },
    ]
}

#[test]
fn due_checks_of_every_kind_round_trip_and_validate() {
    for spec in every_check_spec() {
        let due = DueCheck {
            schema_version: SCHEMA_VERSION,
            monitor_id: MonitorId::new(),
            team_id: TeamId::new(),
            region: region("eu-west"),
            slot_ms: 1_700_000_000_000,
            attempt: 1,
            deadline_ms: 1_700_000_060_000,
            timeout_ms: 10_000,
            spec,
        };
        check("due_check", &due);
    }
}

#[test]
fn a_minimal_http_spec_gets_the_documented_defaults() {
    let spec: CheckSpec = serde_json::from_str(r#"{"kind":"http","url":"https://example.com"}"#).unwrap();
    let CheckSpec::Http(http) = spec else { panic!("not http") };
    assert_eq!(http.method, HttpMethod::Get);
    assert_eq!(http.follow_redirects, 3);
    assert!(http.verify_tls);
    assert!(http.expected_status.is_empty(), "empty means 200-399");
}

#[test]
fn check_results_round_trip_and_validate() {
    let full = CheckResult {
        schema_version: SCHEMA_VERSION,
        monitor_id: MonitorId::new(),
        team_id: TeamId::new(),
        region: region("us-east"),
        slot_ms: 1_700_000_000_000,
        attempt: 0,
        prober_id: "prober-us-east-1".into(),
        started_at_ms: 1_700_000_000_004,
        status: CheckStatus::Degraded,
        error: Some(ErrorKind::Assertion),
        message: Some("response time 912 ms above 800 ms".into()),
        timings: Timings { dns_ms: Some(3), connect_ms: Some(20), tls_ms: Some(41), ttfb_ms: Some(840), total_ms: 912 },
        ip: Some(IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34))),
        http_status: Some(200),
        body_bytes: Some(10_240),
        cert_expires_at_ms: Some(1_710_000_000_000),
        cert_issuer: Some("CN=R3, O=Let's Encrypt".into()),
        assertions: vec![AssertionResult {
            assertion: Assertion::ResponseTimeBelow { max_ms: 800 },
            passed: false,
            actual: Some("912".into()),
        }],
    };
    check("check_result", &full);
    let minimal = CheckResult {
        status: CheckStatus::Skipped,
        error: Some(ErrorKind::Deadline),
        message: None,
        timings: Timings { total_ms: 0, ..Timings::default() },
        ip: None,
        http_status: None,
        body_bytes: None,
        cert_expires_at_ms: None,
        cert_issuer: None,
        assertions: vec![],
        ..full
    };
    check("check_result", &minimal);
}

#[test]
fn events_round_trip_and_validate() {
    let monitor_id = MonitorId::new();
    let incident_id = IncidentId::new();
    check(
        "status_event",
        &StatusEvent {
            schema_version: SCHEMA_VERSION,
            monitor_id,
            team_id: TeamId::new(),
            seq: 3,
            at_ms: 1_700_000_060_000,
            status: MonitorStatus::Down,
            previous: MonitorStatus::Up,
            incident_id: Some(incident_id),
            regions: evidence(),
        },
    );
    for kind in IncidentEventKind::ALL {
        let by_a_person = matches!(kind, IncidentEventKind::Acknowledged);
        check(
            "incident_event",
            &IncidentEvent {
                schema_version: SCHEMA_VERSION,
                kind,
                incident_id,
                monitor_id,
                monitor_name: "Checkout API".into(),
                team_id: TeamId::new(),
                seq: 1,
                at_ms: 1_700_000_060_000,
                started_at_ms: 1_700_000_060_000,
                resolved_at_ms: (kind == IncidentEventKind::Resolved).then_some(1_700_000_120_000),
                cause: "timeout: timed out after 10000 ms".into(),
                affected_regions: vec![region("eu-west")],
                regions: evidence(),
                message: (kind == IncidentEventKind::Updated).then(|| "We are investigating.".into()),
                update: by_a_person.then(|| PersonUpdate {
                    update_id: Uuid::now_v7(),
                    status: IncidentStatus::Investigating,
                    author: Some("ana@example.com".into()),
                    notify: true,
                }),
            },
        );
    }
}

#[test]
fn heartbeat_pings_round_trip_and_validate() {
    for (kind, exit_code) in [(PingKind::Success, Some(0)), (PingKind::Start, None), (PingKind::Fail, Some(2))] {
        check(
            "heartbeat_ping",
            &HeartbeatPing {
                schema_version: SCHEMA_VERSION,
                ping_id: Uuid::now_v7(),
                monitor_id: MonitorId::new(),
                team_id: TeamId::new(),
                received_at_ms: 1_700_000_000_000,
                kind,
                exit_code,
                run_id: Some("run-42".into()),
                source_ip: Some("2001:db8::1".parse().unwrap()),
                body: Some("backup finished: 3 GiB".into()),
            },
        );
    }
}

#[test]
fn config_changes_round_trip_and_validate() {
    let monitor_id = MonitorId::new();
    let team_id = TeamId::new();
    let mut specs: Vec<MonitorSpec> = every_check_spec()
        .into_iter()
        .map(|spec| serde_json::from_value(serde_json::to_value(spec).unwrap()).unwrap())
        .collect();
    specs.push(MonitorSpec::Heartbeat(HeartbeatSchedule {
        period_ms: None,
        cron: Some("0 3 * * *".into()),
        timezone: Some("Europe/Berlin".into()),
        grace_ms: 600_000,
    }));
    for (i, mut spec) in specs.into_iter().enumerate() {
        // What the API publishes: the secrets out of the spec, sealed.
        let sealed_secrets = (!spec.take_secrets().is_empty() || i == 0)
            .then(|| statushawk_schemas::SealedSecrets { ciphertext: "c2VhbGVk".into(), nonce: "bm9uY2U=".into() });
        let change = ConfigChange {
            schema_version: SCHEMA_VERSION,
            at_ms: 1_700_000_000_000,
            op: ConfigOp::MonitorUpserted {
                monitor: Box::new(MonitorConfig {
                    id: monitor_id,
                    team_id,
                    name: "Checkout API".into(),
                    interval_ms: 60_000,
                    timeout_ms: 10_000,
                    regions: vec![region("eu-west"), region("us-east"), region("ap-south")],
                    confirmations: 2,
                    recoveries: 1,
                    quorum: 2,
                    paused: false,
                    degraded_is_failure: false,
                    spec,
                    sealed_secrets,
                    updated_at_ms: 1_700_000_000_000,
                }),
            },
        };
        check("config_change", &change);
        assert_eq!(change.subject(), format!("config.monitors.{monitor_id}"));
    }
    let channel_id = ChannelId::new();
    for op in [
        ConfigOp::MonitorDeleted { monitor_id, team_id },
        ConfigOp::ChannelChanged { channel_id, team_id },
        ConfigOp::ChannelDeleted { channel_id, team_id },
    ] {
        check("config_change", &ConfigChange { schema_version: SCHEMA_VERSION, at_ms: 1, op });
    }
}

#[test]
fn channel_requests_and_answers_round_trip_and_validate() {
    let saved = ChannelUnderTest::Saved { channel_id: ChannelId::new(), team_id: TeamId::new() };
    let settings = ChannelUnderTest::Settings {
        kind: "slack".into(),
        config: serde_json::json!({}),
        sealed_secret: Some(SealedSecrets { ciphertext: "c2VhbGVk".into(), nonce: "bm9uY2U=".into() }),
    };
    for (op, channel) in [(ChannelRequestOp::Test, saved), (ChannelRequestOp::Verify, settings)] {
        check("channel_request", &ChannelRequest { schema_version: SCHEMA_VERSION, op, channel });
    }
    check("channel_answer", &ChannelAnswer::delivered(Some(204)));
    let gone = "Slack says this webhook does not exist".to_owned();
    check("channel_answer", &ChannelAnswer::failed(gone, Some("webhook_url".into()), Some(404)));
    check("channel_answer", &ChannelAnswer::refused("no such channel"));
}

#[test]
fn wire_enums_name_themselves_as_serde_does() {
    fn serde_name<T: Serialize>(value: T) -> String {
        serde_json::to_value(value).unwrap().as_str().unwrap().to_owned()
    }
    for status in CheckStatus::ALL {
        assert_eq!(status.as_str(), serde_name(status));
    }
    for kind in CheckKind::ALL {
        assert_eq!(kind.as_str(), serde_name(kind));
    }
    for kind in ErrorKind::ALL {
        assert_eq!(kind.as_str(), serde_name(kind));
    }
    for kind in PingKind::ALL {
        assert_eq!(kind.as_str(), serde_name(kind));
    }
    for kind in IncidentEventKind::ALL {
        assert_eq!(kind.as_str(), serde_name(kind));
    }
    for status in IncidentStatus::ALL {
        assert_eq!(status.as_str(), serde_name(status));
        assert_eq!(IncidentStatus::parse(status.as_str()), Some(status));
    }
}

#[test]
fn dead_letters_round_trip_and_validate() {
    let letter = DeadLetter {
        schema_version: SCHEMA_VERSION,
        service: "evaluator".into(),
        step: "committing to Postgres".into(),
        reason: "sqlstate_22021".into(),
        error: "invalid byte sequence for encoding \"UTF8\": 0x00".into(),
        subject: "checks.result.0.eu-west.0190a1b2-0000-7000-8000-000000000000".into(),
        payload: serde_json::json!({"schema_version": 1, "message": "bad"}),
        at_ms: 1_700_000_000_000,
    };
    check("dead_letter", &letter);
    assert_eq!(letter.subject(), "deadletter.evaluator");
    assert_eq!(letter.msg_id("result:abc"), "deadletter:evaluator:result:abc");
}

#[test]
fn a_check_spec_in_a_monitor_spec_is_the_same_json() {
    // The API stores MonitorSpec; the scheduler puts its CheckSpec on the wire.
    for spec in every_check_spec() {
        let monitor: MonitorSpec = serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
        assert_eq!(monitor.check(), Some(spec));
    }
}

#[test]
fn invalid_messages_are_rejected_with_the_field_named() {
    let bad_region = serde_json::json!({
        "monitor_id": MonitorId::new(), "team_id": TeamId::new(), "region": "EU.WEST",
        "slot_ms": 1, "attempt": 0, "deadline_ms": 2, "timeout_ms": 1000,
        "spec": {"kind": "tcp", "host": "example.com", "port": 80}
    });
    let err = serde_json::from_value::<DueCheck>(bad_region).unwrap_err().to_string();
    assert!(err.contains("invalid region"), "{err}");
    let bad_kind = serde_json::json!({"kind": "smtp", "host": "example.com"});
    let err = serde_json::from_value::<CheckSpec>(bad_kind).unwrap_err().to_string();
    assert!(err.contains("smtp"), "{err}");
}

#[test]
fn committed_schemas_reject_what_the_types_reject() {
    // Guards against a vacuous schema: an instance the Rust type refuses must
    // fail validation too.
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json_dir().join("check_result.schema.json")).unwrap()).unwrap();
    let validator = validator(&schema);
    let good = serde_json::json!({
        "schema_version": 1, "monitor_id": MonitorId::new(), "team_id": TeamId::new(), "region": "eu-west",
        "slot_ms": 1, "attempt": 0, "prober_id": "p", "started_at_ms": 1, "status": "up",
        "timings": {"total_ms": 5}
    });
    assert!(validator.is_valid(&good));
    assert!(serde_json::from_value::<CheckResult>(good.clone()).is_ok());
    for (field, value) in [("status", "sideways"), ("region", "EU.WEST"), ("monitor_id", "not-a-uuid")] {
        let mut bad = good.clone();
        bad[field] = serde_json::json!(value);
        assert!(!validator.is_valid(&bad), "schema accepted {field} = {value}");
        assert!(serde_json::from_value::<CheckResult>(bad).is_err(), "type accepted {field} = {value}");
    }
}
