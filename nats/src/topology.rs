//! Streams, consumers and buckets, declared as data and applied idempotently.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream};
use statushawk_schemas::{Region, subject};

/// Stream of due checks (work queue).
pub const CHECKS_DUE: &str = "CHECKS_DUE";
/// Stream of check results.
pub const CHECK_RESULTS: &str = "CHECK_RESULTS";
/// Stream of derived events.
pub const EVENTS: &str = "EVENTS";
/// Stream of heartbeat pings.
pub const HEARTBEATS: &str = "HEARTBEATS";
/// Stream of configuration changes (last message per subject).
pub const CONFIG: &str = "CONFIG";
/// Stream of messages services could never process, with their errors.
pub const DEAD_LETTERS: &str = "DEAD_LETTERS";
/// KV bucket of leases.
pub const LEASES_BUCKET: &str = "leases";
/// Durable consumer of incident events.
pub const NOTIFIER_CONSUMER: &str = "notifier";

/// Durable consumer of a region's scheduled checks.
pub fn prober_consumer(region: &Region) -> String {
    format!("prober-{region}")
}

/// Durable consumer of a region's urgent re-checks.
pub fn prober_urgent_consumer(region: &Region) -> String {
    format!("prober-urgent-{region}")
}

/// Durable consumer of one partition's results.
pub fn evaluator_consumer(partition: u16) -> String {
    format!("evaluator-{partition}")
}

/// Durable consumer of one partition's heartbeat pings.
pub fn evaluator_heartbeats_consumer(partition: u16) -> String {
    format!("evaluator-heartbeats-{partition}")
}

/// Why the topology could not be applied or checked.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// The prefix cannot be a subject token and a stream-name part.
    #[error("invalid NATS prefix {0:?}: use at most 32 characters a-z, 0-9, '-' and '_'")]
    InvalidPrefix(String),
    /// The server refused or failed a request.
    #[error("{what} {name}: {source}")]
    Server {
        /// What was being done.
        what: &'static str,
        /// Stream, consumer or bucket name.
        name: String,
        /// The server's or client's error.
        source: async_nats::Error,
    },
}

/// The StatusHawk JetStream layout of one deployment.
#[derive(Clone, Debug)]
pub struct Topology {
    prefix: String,
    /// Number of evaluator partitions.
    pub partitions: u16,
    /// Regions that run probers.
    pub regions: Vec<Region>,
    /// Stream and bucket replicas (1 on a single node, 3 in a cluster).
    pub replicas: usize,
    /// Lease time-to-live: a holder that stops renewing loses its lease after
    /// this long (the `leases` bucket's max age).
    pub lease_ttl: Duration,
    /// Duplicate window of the due-check stream: longer than a lease TTL plus
    /// margin, so a second scheduler leader's copies are dropped.
    pub due_duplicate_window: Duration,
    /// How long a prober may hold a due check before it is redelivered to
    /// another (a check runs at most 60 s; probers send progress acks).
    pub check_ack_wait: Duration,
    /// How long an evaluator may hold a result before it is redelivered; a
    /// dead evaluator's unacked results go to the partition's next owner
    /// after this long (evaluators send progress acks while a store is down).
    pub result_ack_wait: Duration,
}

impl Topology {
    /// A topology with the design's defaults: 16 partitions, one region
    /// `local`, one replica, 10 s leases, a 30 s due-check duplicate window.
    pub fn new(prefix: &str) -> Result<Self, TopologyError> {
        let valid = prefix.len() <= 32
            && prefix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid {
            return Err(TopologyError::InvalidPrefix(prefix.to_owned()));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            partitions: statushawk_schemas::DEFAULT_PARTITIONS,
            regions: vec![Region::new("local").map_err(|_| TopologyError::InvalidPrefix(String::new()))?],
            replicas: 1,
            lease_ttl: Duration::from_secs(10),
            due_duplicate_window: Duration::from_secs(30),
            check_ack_wait: Duration::from_secs(90),
            result_ack_wait: Duration::from_secs(30),
        })
    }

    /// The prefix (empty for none).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The deployed name of a stream, e.g. `CHECKS_DUE` or `t1_CHECKS_DUE`.
    pub fn stream(&self, base: &str) -> String {
        if self.prefix.is_empty() { base.to_owned() } else { format!("{}_{base}", self.prefix) }
    }

    /// The deployed name of a KV bucket.
    pub fn bucket(&self, base: &str) -> String {
        self.stream(base)
    }

    /// The deployed form of a subject (or wildcard) from `statushawk_schemas::subject`.
    pub fn subject(&self, subject: &str) -> String {
        if self.prefix.is_empty() { subject.to_owned() } else { format!("{}.{subject}", self.prefix) }
    }

    /// The subject as `statushawk_schemas::subject` knows it, without the
    /// prefix; `None` for a subject outside this deployment.
    pub fn unprefixed<'a>(&self, subject: &'a str) -> Option<&'a str> {
        if self.prefix.is_empty() {
            return Some(subject);
        }
        subject.strip_prefix(self.prefix.as_str())?.strip_prefix('.')
    }

    /// Every stream.
    pub fn streams(&self) -> Vec<stream::Config> {
        let limits = |name: &str, subjects: &[&str], max_age: Duration, duplicate_window: Duration| stream::Config {
            name: self.stream(name),
            subjects: subjects.iter().map(|s| self.subject(s)).collect(),
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            num_replicas: self.replicas,
            max_age,
            duplicate_window,
            ..Default::default()
        };
        const HOUR: Duration = Duration::from_secs(3600);
        vec![
            stream::Config {
                description: Some("Due checks per region; a work queue drained by the probers.".into()),
                retention: stream::RetentionPolicy::WorkQueue,
                // A check nobody ran within an hour is past its deadline anyway.
                ..limits(
                    CHECKS_DUE,
                    &[subject::CHECKS_DUE_ALL, subject::CHECKS_URGENT_ALL],
                    HOUR,
                    self.due_duplicate_window,
                )
            },
            stream::Config {
                description: Some("Check results; the evaluators' input and the live feed (24 h replay).".into()),
                ..limits(CHECK_RESULTS, &[subject::CHECK_RESULTS_ALL], 24 * HOUR, Duration::from_secs(120))
            },
            stream::Config {
                description: Some("Status changes and incidents derived by the evaluators.".into()),
                // Events are few; a long window covers an evaluator retrying
                // after a store outage.
                ..limits(EVENTS, &[subject::EVENTS_ALL], 30 * 24 * HOUR, Duration::from_secs(600))
            },
            stream::Config {
                description: Some("Heartbeat pings from the API, per partition.".into()),
                ..limits(HEARTBEATS, &[subject::HEARTBEATS_ALL], 24 * HOUR, Duration::from_secs(120))
            },
            stream::Config {
                description: Some(
                    "Configuration changes; the last message of each subject is the current state.".into(),
                ),
                max_messages_per_subject: 1,
                ..limits(CONFIG, &[subject::CONFIG_ALL], Duration::ZERO, Duration::from_secs(120))
            },
            stream::Config {
                description: Some("Messages a service could never process, with their errors (30 days).".into()),
                ..limits(DEAD_LETTERS, &[subject::DEAD_LETTERS_ALL], 30 * 24 * HOUR, Duration::from_secs(600))
            },
        ]
    }

    /// Every durable consumer, with the stream it belongs to.
    pub fn consumers(&self) -> Vec<(String, consumer::pull::Config)> {
        let pull = |name: String, filter: String, ack_wait: Duration, max_ack_pending: i64, description: String| {
            consumer::pull::Config {
                durable_name: Some(name),
                description: Some(description),
                filter_subject: self.subject(&filter),
                ack_policy: consumer::AckPolicy::Explicit,
                deliver_policy: consumer::DeliverPolicy::All,
                ack_wait,
                // Nothing is dropped: a message is retried until it is acked
                // or terminated as undecodable.
                max_deliver: -1,
                max_ack_pending,
                ..Default::default()
            }
        };
        let mut consumers = Vec::new();
        let check_ack_wait = self.check_ack_wait;
        for region in &self.regions {
            consumers.push((
                self.stream(CHECKS_DUE),
                pull(
                    prober_consumer(region),
                    subject::checks_due(region),
                    check_ack_wait,
                    10_000,
                    format!("Scheduled checks run by the probers of {region}."),
                ),
            ));
            consumers.push((
                self.stream(CHECKS_DUE),
                pull(
                    prober_urgent_consumer(region),
                    subject::checks_urgent(region),
                    check_ack_wait,
                    10_000,
                    format!("Confirmation re-checks run by the probers of {region}, drained first."),
                ),
            ));
        }
        for partition in 0..self.partitions {
            consumers.push((
                self.stream(CHECK_RESULTS),
                pull(
                    evaluator_consumer(partition),
                    subject::check_results_of_partition(partition),
                    self.result_ack_wait,
                    20_000,
                    format!("Results of partition {partition}, for its evaluator."),
                ),
            ));
            consumers.push((
                self.stream(HEARTBEATS),
                pull(
                    evaluator_heartbeats_consumer(partition),
                    subject::heartbeats_of_partition(partition),
                    self.result_ack_wait,
                    20_000,
                    format!("Heartbeat pings of partition {partition}, for its evaluator."),
                ),
            ));
        }
        consumers.push((
            self.stream(EVENTS),
            pull(
                NOTIFIER_CONSUMER.to_owned(),
                subject::INCIDENT_EVENTS_ALL.to_owned(),
                Duration::from_secs(120),
                1_000,
                "Incident events for the notifier.".to_owned(),
            ),
        ));
        consumers
    }

    /// The leases bucket: one revision per key, expiring after the lease TTL
    /// unless renewed.
    pub fn leases_bucket(&self) -> kv::Config {
        kv::Config {
            bucket: self.bucket(LEASES_BUCKET),
            description: "Leases: scheduler leadership and evaluator partition ownership.".into(),
            history: 1,
            max_age: self.lease_ttl,
            storage: stream::StorageType::File,
            num_replicas: self.replicas,
            ..Default::default()
        }
    }

    /// Deletes every stream and the bucket of this topology, with their
    /// messages (benchmarks clean up with it). Missing ones are skipped.
    pub async fn remove(&self, js: &jetstream::Context) {
        for stream in self.streams() {
            let _ = js.delete_stream(&stream.name).await;
        }
        let _ = js.delete_key_value(self.bucket(LEASES_BUCKET)).await;
    }

    /// Creates what is missing and updates what differs; reports each item.
    pub async fn ensure(&self, js: &jetstream::Context) -> Result<Vec<ItemReport>, TopologyError> {
        self.apply(js, true).await
    }

    /// Reports what [`Topology::ensure`] would do, changing nothing.
    pub async fn verify(&self, js: &jetstream::Context) -> Result<Vec<ItemReport>, TopologyError> {
        self.apply(js, false).await
    }

    async fn apply(&self, js: &jetstream::Context, change: bool) -> Result<Vec<ItemReport>, TopologyError> {
        let mut reports = Vec::new();
        for config in self.streams() {
            reports.push(ensure_stream(js, config, change).await?);
        }
        let bucket = self.leases_bucket();
        reports.push(ensure_bucket(js, bucket, change).await?);
        for (stream, config) in self.consumers() {
            reports.push(ensure_consumer(js, &stream, config, change).await?);
        }
        Ok(reports)
    }
}

/// What [`Topology::ensure`] did (or would do) to one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// It was missing and was created.
    Created,
    /// It differed in these settings and was updated.
    Updated(Vec<&'static str>),
    /// It was as declared.
    Unchanged,
}

/// One stream, consumer or bucket and what happened to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemReport {
    /// `stream`, `consumer` or `bucket`.
    pub kind: &'static str,
    /// Its name (consumers as `STREAM/consumer`).
    pub name: String,
    /// What was done.
    pub action: Action,
}

impl fmt::Display for ItemReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.action {
            Action::Created => write!(f, "{} {}: created", self.kind, self.name),
            Action::Updated(fields) => write!(f, "{} {}: updated ({})", self.kind, self.name, fields.join(", ")),
            Action::Unchanged => write!(f, "{} {}: unchanged", self.kind, self.name),
        }
    }
}

fn is_stream_not_found(err: &jetstream::context::GetStreamError) -> bool {
    matches!(err.kind(), jetstream::context::GetStreamErrorKind::JetStream(e)
        if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND)
}

impl ItemReport {
    /// The report of a [`Topology::verify`] run: what differs, in the
    /// present tense.
    pub fn planned(&self) -> String {
        match &self.action {
            Action::Created => format!("{} {}: missing", self.kind, self.name),
            Action::Updated(fields) => format!("{} {}: differs in {}", self.kind, self.name, fields.join(", ")),
            Action::Unchanged => format!("{} {}: as declared", self.kind, self.name),
        }
    }
}

fn server_error(what: &'static str, name: &str, source: impl Into<async_nats::Error>) -> TopologyError {
    TopologyError::Server { what, name: name.to_owned(), source: source.into() }
}

/// The declared settings of a stream that differ on the server.
fn stream_differences(want: &stream::Config, have: &stream::Config) -> Vec<&'static str> {
    let mut fields = Vec::new();
    let set = |subjects: &[String]| subjects.iter().cloned().collect::<BTreeSet<_>>();
    if set(&want.subjects) != set(&have.subjects) {
        fields.push("subjects");
    }
    if want.retention != have.retention {
        fields.push("retention");
    }
    if want.storage != have.storage {
        fields.push("storage");
    }
    if want.max_age != have.max_age {
        fields.push("max_age");
    }
    if want.duplicate_window != have.duplicate_window {
        fields.push("duplicate_window");
    }
    // The server reports "no limit" as -1.
    if want.max_messages_per_subject.max(0) != have.max_messages_per_subject.max(0) {
        fields.push("max_messages_per_subject");
    }
    if want.num_replicas.max(1) != have.num_replicas.max(1) {
        fields.push("num_replicas");
    }
    if want.description != have.description {
        fields.push("description");
    }
    fields
}

async fn ensure_stream(
    js: &jetstream::Context,
    want: stream::Config,
    change: bool,
) -> Result<ItemReport, TopologyError> {
    let name = want.name.clone();
    let action = match js.get_stream(&name).await {
        Ok(mut stream) => {
            let info = stream.info().await.map_err(|e| server_error("reading stream", &name, e))?;
            let fields = stream_differences(&want, &info.config);
            if fields.is_empty() {
                Action::Unchanged
            } else {
                if change {
                    js.update_stream(want).await.map_err(|e| server_error("updating stream", &name, e))?;
                }
                Action::Updated(fields)
            }
        }
        Err(err) if is_stream_not_found(&err) => {
            if change {
                js.create_stream(want).await.map_err(|e| server_error("creating stream", &name, e))?;
            }
            Action::Created
        }
        Err(err) => return Err(server_error("reading stream", &name, err)),
    };
    Ok(ItemReport { kind: "stream", name, action })
}

async fn ensure_bucket(js: &jetstream::Context, want: kv::Config, change: bool) -> Result<ItemReport, TopologyError> {
    let name = want.bucket.clone();
    let stream_name = format!("KV_{name}");
    let action = match js.get_stream(&stream_name).await {
        Ok(mut stream) => {
            let info = stream.info().await.map_err(|e| server_error("reading bucket", &name, e))?;
            let mut fields = Vec::new();
            if info.config.max_age != want.max_age {
                fields.push("max_age");
            }
            if info.config.max_messages_per_subject != want.history {
                fields.push("history");
            }
            if info.config.num_replicas.max(1) != want.num_replicas.max(1) {
                fields.push("num_replicas");
            }
            if fields.is_empty() {
                Action::Unchanged
            } else {
                if change {
                    js.update_key_value(want).await.map_err(|e| server_error("updating bucket", &name, e))?;
                }
                Action::Updated(fields)
            }
        }
        Err(err) if is_stream_not_found(&err) => {
            if change {
                js.create_key_value(want).await.map_err(|e| server_error("creating bucket", &name, e))?;
            }
            Action::Created
        }
        Err(err) => return Err(server_error("reading bucket", &name, err)),
    };
    Ok(ItemReport { kind: "bucket", name, action })
}

/// The declared settings of a consumer that differ on the server.
fn consumer_differences(want: &consumer::pull::Config, have: &consumer::Config) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if want.filter_subject != have.filter_subject {
        fields.push("filter_subject");
    }
    if want.ack_policy != have.ack_policy {
        fields.push("ack_policy");
    }
    if want.ack_wait != have.ack_wait {
        fields.push("ack_wait");
    }
    if want.max_deliver != have.max_deliver {
        fields.push("max_deliver");
    }
    if want.max_ack_pending != have.max_ack_pending {
        fields.push("max_ack_pending");
    }
    if want.description != have.description {
        fields.push("description");
    }
    fields
}

async fn ensure_consumer(
    js: &jetstream::Context,
    stream_name: &str,
    want: consumer::pull::Config,
    change: bool,
) -> Result<ItemReport, TopologyError> {
    let durable = want.durable_name.clone().unwrap_or_default();
    let name = format!("{stream_name}/{durable}");
    let stream =
        js.get_stream_no_info(stream_name).await.map_err(|e| server_error("reading stream", stream_name, e))?;
    let action = match stream.consumer_info(&durable).await {
        Ok(info) => {
            let fields = consumer_differences(&want, &info.config);
            if fields.is_empty() {
                Action::Unchanged
            } else {
                if change {
                    stream.update_consumer(want).await.map_err(|e| server_error("updating consumer", &name, e))?;
                }
                Action::Updated(fields)
            }
        }
        Err(err) if err.kind() == jetstream::context::ConsumerInfoErrorKind::NotFound => {
            if change {
                stream.create_consumer(want).await.map_err(|e| server_error("creating consumer", &name, e))?;
            }
            Action::Created
        }
        Err(err) => return Err(server_error("reading consumer", &name, err)),
    };
    Ok(ItemReport { kind: "consumer", name, action })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_apply_to_every_name() {
        let mut topology = Topology::new("t42").unwrap();
        topology.regions = vec![Region::new("eu-west").unwrap()];
        topology.partitions = 2;
        assert_eq!(topology.stream(CHECKS_DUE), "t42_CHECKS_DUE");
        assert_eq!(topology.subject("checks.due.eu-west"), "t42.checks.due.eu-west");
        assert_eq!(topology.unprefixed("t42.checks.due.eu-west"), Some("checks.due.eu-west"));
        assert_eq!(topology.unprefixed("checks.due.eu-west"), None);
        assert_eq!(topology.leases_bucket().bucket, "t42_leases");
        for stream in topology.streams() {
            assert!(stream.name.starts_with("t42_"));
            assert!(stream.subjects.iter().all(|s| s.starts_with("t42.")), "{:?}", stream.subjects);
        }
        let consumers = topology.consumers();
        // 2 per region, 2 per partition, 1 notifier.
        assert_eq!(consumers.len(), 2 + 2 * 2 + 1);
        assert!(consumers.iter().all(|(_, c)| c.filter_subject.starts_with("t42.")));
    }

    #[test]
    fn no_prefix_means_the_design_names() {
        let topology = Topology::new("").unwrap();
        let names: Vec<String> = topology.streams().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["CHECKS_DUE", "CHECK_RESULTS", "EVENTS", "HEARTBEATS", "CONFIG", "DEAD_LETTERS"]);
        assert_eq!(topology.subject("checks.result.>"), "checks.result.>");
        assert_eq!(topology.leases_bucket().bucket, "leases");
    }

    #[test]
    fn bad_prefixes_are_refused() {
        for bad in ["a.b", "A", "x y", "*", ">"] {
            assert!(Topology::new(bad).is_err(), "{bad}");
        }
    }
}
