//! Every metric of this crate, each with its HELP text (`describe`), and
//! [`declare_metrics!`](crate::declare_metrics), which every crate declares
//! its own with.

/// Declares a crate's metrics in one place (here because every service
/// crate depends on this one): a constant per metric name, and
/// `describe()`, which gives each its HELP text (call it once the recorder
/// is installed). A metric is used by its constant, never by a loose string
/// (`tests/architecture.rs` keeps it so).
///
/// ```
/// statushawk_nats::declare_metrics! {
///     /// Results evaluated.
///     RESULTS_TOTAL: counter = "statushawk_example_results_total", "Results evaluated, by status.";
/// }
/// ```
#[macro_export]
macro_rules! declare_metrics {
    ($( $(#[$attr:meta])* $name:ident: $kind:ident = $metric:literal, $help:literal; )*) => {
        $( $(#[$attr])* pub const $name: &str = $metric; )*

        /// Gives every metric of this crate its HELP text.
        pub fn describe() {
            $( $crate::declare_metrics!(@describe $kind, $metric, $help); )*
        }

        /// Every metric of this crate: (name, HELP text).
        pub const ALL: &[(&str, &str)] = &[$( ($metric, $help), )*];
    };
    (@describe counter, $metric:literal, $help:literal) => { ::metrics::describe_counter!($metric, $help) };
    (@describe gauge, $metric:literal, $help:literal) => { ::metrics::describe_gauge!($metric, $help) };
    (@describe histogram, $metric:literal, $help:literal) => { ::metrics::describe_histogram!($metric, $help) };
}

crate::declare_metrics! {
    /// Leases lost, by reason.
    LEASES_LOST_TOTAL: counter = "statushawk_leases_lost_total",
        "Leases lost before their holder let them go, by reason (expired, taken).";
    /// Undecodable messages terminated.
    POISON_MESSAGES_TOTAL: counter = "statushawk_nats_poison_messages_total",
        "Undecodable messages terminated, by stream and consumer.";
}
