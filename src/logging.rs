//! Logging: `tracing` events written to stderr as hclog-style JSON lines, which go-plugin (and so Terraform)
//! parses and re-logs under the provider's name, filtered by `TF_LOG_PROVIDER` / `TF_LOG`.
//!
//! Each line is an object with `@level` (`trace`..`error`), `@message`, `@timestamp` (hclog's
//! `2006-01-02T15:04:05.000000Z07:00` layout, which go-plugin parses; without it Terraform shows year 0001),
//! `@module` (`vixens.<rust module path>`) and the event's fields. Never pass secret values as fields or messages:
//! the framework logs type names and operations only.

use std::fmt::Write as _;
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The level from `TF_LOG_PROVIDER`, else `TF_LOG`, else `info` (`json` and unknown words mean trace, as in
/// Terraform; `off` disables logging).
pub fn level_from_env() -> Option<Level> {
    let word = std::env::var("TF_LOG_PROVIDER")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("TF_LOG").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "info".into());
    match word.to_ascii_lowercase().as_str() {
        "off" => None,
        "error" => Some(Level::ERROR),
        "warn" => Some(Level::WARN),
        "info" => Some(Level::INFO),
        "debug" => Some(Level::DEBUG),
        _ => Some(Level::TRACE),
    }
}

/// The targets (crates) of the HTTP/2, gRPC and TLS libraries under the provider: their DEBUG and TRACE events
/// (every frame, stream and handshake; over 98% of a DEBUG log) are written only at TRACE, so that a DEBUG log is
/// the provider's own.
pub const TRANSPORT_TARGETS: [&str; 10] = [
    "h2",
    "hyper",
    "hyper_util",
    "tonic",
    "tower",
    "rustls",
    "tokio_rustls",
    "reqwest",
    "kube_client",
    "tokio_util",
];

/// Whether an event is written when the level is `max`: its [`effective_level`] is at most `max`, and, below TRACE,
/// it is not a DEBUG or TRACE event of a [`TRANSPORT_TARGETS`] crate (by its own level: kube-client's attempt
/// failures, ERROR events written at DEBUG, stay).
pub fn shown(meta: &tracing::Metadata<'_>, max: Level) -> bool {
    let level = effective_level(meta);
    if level > max {
        return false;
    }
    // The event's own level: kube-client's attempt failures (ERROR, written at DEBUG) stay in a DEBUG log.
    if max < Level::TRACE && *meta.level() >= Level::DEBUG {
        let krate = meta.target().split("::").next().unwrap_or_default();
        return !TRANSPORT_TARGETS.contains(&krate);
    }
    true
}

/// The peak resident set size of this process so far, in KiB (`VmHWM` of `/proc/self/status`; Linux only,
/// `None` elsewhere or when unreadable).
pub fn peak_rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Installs the stderr JSON logger as the global subscriber (no-op if one is already installed).
pub fn init() {
    let Some(level) = level_from_env() else {
        return;
    };
    let filter = tracing_subscriber::filter::filter_fn(move |meta| shown(meta, level));
    let _ = tracing_subscriber::registry()
        .with(HclogJson { max: level }.with_filter(filter))
        .try_init();
}

/// A `tracing` layer writing hclog JSON lines to stderr, up to `max` verbosity (after [`effective_level`]).
#[derive(Debug, Clone, Copy)]
pub struct HclogJson {
    /// The most verbose level written.
    pub max: Level,
}

impl Default for HclogJson {
    fn default() -> Self {
        Self { max: Level::TRACE }
    }
}

impl<S: Subscriber> Layer<S> for HclogJson {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !shown(event.metadata(), self.max) {
            return;
        }
        let line = format_event(event);
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
    }
}

/// The level an event is written at. kube-client logs every failed HTTP attempt at ERROR ("failed with status
/// 503 Service Unavailable", "failed with error …", kube-client 5.0.0 `client/builder.rs`, its trace layer's
/// `on_failure`), including the attempts the connection retries on purpose while an API server starts: those are
/// written at DEBUG; the caller reports the failures that matter.
pub fn effective_level(meta: &tracing::Metadata<'_>) -> Level {
    if *meta.level() == Level::ERROR && meta.target().starts_with("kube_client") {
        Level::DEBUG
    } else {
        *meta.level()
    }
}

/// Formats one event as a JSON line (with the trailing newline).
pub fn format_event(event: &Event<'_>) -> String {
    let meta = event.metadata();
    let mut fields = JsonFields::default();
    event.record(&mut fields);
    let mut obj = serde_json::Map::new();
    obj.insert("@level".into(), level_word(effective_level(meta)).into());
    obj.insert("@message".into(), fields.message.unwrap_or_default().into());
    obj.insert("@module".into(), module_name(meta.target()).into());
    obj.insert(
        "@timestamp".into(),
        timestamp(time::OffsetDateTime::now_utc()).into(),
    );
    for (k, v) in fields.fields {
        obj.insert(k, v);
    }
    let mut line = serde_json::Value::Object(obj).to_string();
    line.push('\n');
    line
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// `vixens::plugin::serve` becomes `vixens.plugin.serve`.
fn module_name(target: &str) -> String {
    target.replace("::", ".")
}

/// hclog's JSON timestamp layout `2006-01-02T15:04:05.000000Z07:00` in UTC.
pub fn timestamp(t: time::OffsetDateTime) -> String {
    let mut s = String::with_capacity(27);
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    );
    s
}

#[derive(Default)]
struct JsonFields {
    message: Option<String>,
    fields: Vec<(String, serde_json::Value)>,
}

impl Visit for JsonFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.push(field, format!("{value:?}").into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, value.into());
    }
}

impl JsonFields {
    fn push(&mut self, field: &Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.fields.push((field.name().to_string(), value));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    struct Capture(Arc<Mutex<Vec<String>>>);

    impl<S: Subscriber> Layer<S> for Capture {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            self.0.lock().unwrap().push(format_event(event));
        }
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_kib().is_some_and(|kib| kib > 0));
        }
    }

    #[test]
    fn lines_are_hclog_json() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sub = tracing_subscriber::registry().with(Capture(lines.clone()));
        tracing::subscriber::with_default(sub, || {
            tracing::warn!(type_name = "vixens_x", count = 3, "apply failed");
        });
        let line = lines.lock().unwrap()[0].clone();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["@level"], "warn");
        assert_eq!(v["@message"], "apply failed");
        assert_eq!(v["@module"], "vixens.logging.tests");
        assert_eq!(v["type_name"], "vixens_x");
        assert_eq!(v["count"], 3);
        let ts = v["@timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), "2006-01-02T15:04:05.000000Z".len(), "{ts}");
        assert!(ts.ends_with('Z'));
    }

    #[test]
    fn kube_client_attempt_failures_are_debug_lines() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sub = tracing_subscriber::registry().with(Capture(lines.clone()));
        tracing::subscriber::with_default(sub, || {
            tracing::error!(target: "kube_client::client::builder", "failed with status 503 Service Unavailable");
            tracing::error!("a real error");
        });
        let lines = lines.lock().unwrap();
        let level = |i: usize| {
            serde_json::from_str::<serde_json::Value>(&lines[i]).unwrap()["@level"].clone()
        };
        assert_eq!(level(0), "debug");
        assert_eq!(level(1), "error");
        let meta_kube = tracing::Level::ERROR;
        assert!(
            tracing::Level::DEBUG > meta_kube,
            "DEBUG is more verbose than ERROR"
        );
    }

    /// Records the target of each event [`shown`] at `max`.
    struct Shown(Level, Arc<Mutex<Vec<String>>>);

    impl<S: Subscriber> Layer<S> for Shown {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            if shown(event.metadata(), self.0) {
                let target = event.metadata().target().to_string();
                self.1.lock().unwrap().push(target);
            }
        }
    }

    #[test]
    fn transport_libraries_only_at_trace() {
        let shown_at = |max: Level| {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let sub = tracing_subscriber::registry().with(Shown(max, seen.clone()));
            tracing::subscriber::with_default(sub, || {
                tracing::debug!(target: "h2::codec::framed_read", "received frame");
                tracing::trace!(target: "hyper_util::client", "checkout");
                tracing::debug!(target: "rustls::client::hs", "handshake");
                tracing::error!(target: "kube_client::client::builder", "failed with status 503");
                tracing::info!(target: "tonic::transport", "served");
                tracing::debug!(target: "vixens::talos::ops", "provider line");
            });
            let out = seen.lock().unwrap().clone();
            out
        };
        assert_eq!(
            shown_at(Level::DEBUG),
            [
                "kube_client::client::builder",
                "tonic::transport",
                "vixens::talos::ops"
            ]
        );
        assert_eq!(shown_at(Level::TRACE).len(), 6);
        assert_eq!(shown_at(Level::INFO), ["tonic::transport"]);
    }

    #[test]
    fn timestamp_layout() {
        let t = time::Date::from_calendar_date(2021, time::Month::July, 4)
            .unwrap()
            .with_hms_micro(5, 6, 7, 123)
            .unwrap()
            .assume_utc();
        assert_eq!(timestamp(t), "2021-07-04T05:06:07.000123Z");
    }
}
