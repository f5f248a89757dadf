//! What a wait on one node has seen: the cause a wait names when it ends without success (issue 16 item 8), and
//! the answer window after which a node that never answered is given up (issue 15 item 7).
//!
//! A wait records each failed attempt ([`NodeWatch::saw_error`]) and each sighting of the node in maintenance
//! mode ([`NodeWatch::saw_maintenance`]). A node has *answered* once a Talos API session got a reply from it (a
//! gRPC status of its own, or success); a refused or unanswered connection, or a TLS handshake it refuses, is not
//! an answer. With a window, a node that has not answered within it since the watch began is given up
//! ([`NodeWatch::given_up`]): a typo'd address or a machine that is off fails in minutes, while a node that
//! answered once (and may be rebooting since) is waited for as long as the caller allows.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::client::ClientError;

/// How often a wait that keeps failing logs where it stands (tracing, WARN).
pub const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// The last thing a wait saw of its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sighting {
    /// No reply: connection refused, no route, no answer in time, or a TLS handshake refused (the error).
    Silent(String),
    /// The node answers in maintenance mode, with its Talos version when it told.
    Maintenance(Option<String>),
    /// The node answered, but not what the wait needs (the error).
    Answer(String),
}

#[derive(Debug)]
struct Seen {
    answered: bool,
    last: Option<Sighting>,
    last_log: Instant,
}

/// What one wait on one node has seen (shared by reference with the wait, read after it ends).
#[derive(Debug)]
pub struct NodeWatch {
    what: &'static str,
    address: String,
    window: Option<Duration>,
    started: Instant,
    every: Duration,
    seen: Mutex<Seen>,
}

impl NodeWatch {
    /// A watch of the wait `what` (e.g. "applying the machine config") on the node at `address`; with `window`, the
    /// node must answer within it (see the module docs).
    pub fn new(what: &'static str, address: &str, window: Option<Duration>) -> Self {
        let now = Instant::now();
        NodeWatch {
            what,
            address: address.to_string(),
            window,
            started: now,
            every: PROGRESS_EVERY,
            seen: Mutex::new(Seen {
                answered: false,
                last: None,
                last_log: now,
            }),
        }
    }

    /// The node's address.
    pub fn address(&self) -> &str {
        &self.address
    }

    fn with<R>(&self, f: impl FnOnce(&mut Seen) -> R) -> R {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut seen)
    }

    /// Records a successful call: the node answered.
    pub fn saw_answer(&self) {
        self.with(|s| s.answered = true);
    }

    /// Records the node answering in maintenance mode (Talos `version` when it told).
    pub fn saw_maintenance(&self, version: Option<String>) {
        crate::progress::observe(format!("node {} answers in maintenance mode", self.address));
        self.with(|s| {
            s.answered = true;
            s.last = Some(Sighting::Maintenance(version));
        });
    }

    /// Records a failed attempt; logs (WARN, at most every [`PROGRESS_EVERY`]) what is awaited, the node, how long
    /// it has waited and the error, so a powered-off node is visible in the provider log long before a timeout.
    pub fn saw_error(&self, error: &ClientError) {
        // A connection that broke before the reply came was a session with the node (it may have taken a config
        // and closed its API to install).
        let answered = error.is_node_answer() || error.is_connection_lost();
        crate::progress::observe(format!("node {}: {error}", self.address));
        let log = self.with(|s| {
            s.answered |= answered;
            s.last = Some(if answered {
                Sighting::Answer(error.to_string())
            } else {
                Sighting::Silent(error.to_string())
            });
            let due = s.last_log.elapsed() >= self.every;
            if due {
                s.last_log = Instant::now();
            }
            due
        });
        if log {
            tracing::warn!(
                node = %self.address,
                waited_s = self.started.elapsed().as_secs(),
                error = %error,
                "{}: the node does not answer yet; still trying",
                self.what
            );
        }
    }

    /// Whether the node answered since the watch began.
    pub fn answered(&self) -> bool {
        self.with(|s| s.answered)
    }

    /// The last sighting.
    pub fn last(&self) -> Option<Sighting> {
        self.with(|s| s.last.clone())
    }

    /// [`ClientError::NoAnswer`] once the window has passed without any answer from the node.
    pub fn given_up(&self) -> Option<ClientError> {
        let window = self.window?;
        let waited = self.started.elapsed();
        if waited < window || self.answered() {
            return None;
        }
        let cause = match self.last() {
            Some(Sighting::Silent(e) | Sighting::Answer(e)) => e,
            _ => "no reply".to_string(),
        };
        Some(ClientError::NoAnswer {
            addr: self.address.clone(),
            waited: window,
            cause,
        })
    }

    /// What the wait saw, as a sentence for the message of a wait that ended without success; `None` when it saw
    /// nothing.
    pub fn cause(&self) -> Option<String> {
        let seen_answer = self.answered();
        Some(match self.last()? {
            Sighting::Maintenance(version) => format!(
                "The node at {} answers in maintenance mode{}: it has no machine config in effect. After taking its \
                 config it was expected back in secure mode; a node that returns to maintenance mode did not boot \
                 the installed system (check the install disk and the boot order: the machine may have booted its \
                 ISO or PXE image again, and its console shows installer errors).",
                self.address,
                version.map(|v| format!(" (Talos {v})")).unwrap_or_default()
            ),
            Sighting::Silent(e) if seen_answer => format!(
                "The node at {} answered earlier but not any more; last error: {e}.",
                self.address
            ),
            Sighting::Silent(e) => format!(
                "The node at {} has not answered since this operation began: {e}.",
                self.address
            ),
            Sighting::Answer(e) => format!("Last answer of the node at {}: {e}.", self.address),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> ClientError {
        ClientError::Status {
            call: "Version",
            addr: "127.0.231.9".into(),
            code: tonic::Code::Unavailable,
            message: "tcp connect error: Connection refused (os error 111)".into(),
        }
    }

    #[test]
    fn a_silent_node_is_given_up_after_its_window_only() {
        let watch = NodeWatch::new("applying", "127.0.231.9", Some(Duration::ZERO));
        watch.saw_error(&refused());
        let e = watch.given_up().expect("given up").to_string();
        assert!(
            e.contains("127.0.231.9") && e.contains("Connection refused"),
            "{e}"
        );
        let patient = NodeWatch::new("applying", "127.0.231.9", Some(Duration::from_secs(60)));
        patient.saw_error(&refused());
        assert!(patient.given_up().is_none());
        assert!(NodeWatch::new("applying", "x", None).given_up().is_none());
    }

    #[test]
    fn a_node_that_answered_once_is_not_given_up() {
        let watch = NodeWatch::new("waiting", "127.0.231.9", Some(Duration::ZERO));
        watch.saw_answer();
        watch.saw_error(&refused());
        assert!(watch.given_up().is_none());
        assert!(watch.cause().unwrap().contains("answered earlier"));
    }

    #[test]
    fn causes_name_what_was_seen() {
        let watch = NodeWatch::new("waiting", "127.0.231.9", None);
        assert!(watch.cause().is_none());
        watch.saw_error(&refused());
        assert!(watch
            .cause()
            .unwrap()
            .contains("has not answered since this operation began"));
        watch.saw_maintenance(Some("v1.12.11".into()));
        let cause = watch.cause().unwrap();
        assert!(
            cause.contains("maintenance mode (Talos v1.12.11)") && cause.contains("boot order"),
            "{cause}"
        );
    }

    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_wait_that_keeps_failing_logs_the_node_and_the_error_now_and_then() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let quiet = NodeWatch::new("applying the machine config", "127.0.111.9", None);
            quiet.saw_error(&refused());
            let mut due = NodeWatch::new("applying the machine config", "127.0.111.8", None);
            due.every = Duration::ZERO;
            due.saw_error(&refused());
        });
        let logged = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(
            !logged.contains("127.0.111.9"),
            "logged before its interval: {logged}"
        );
        for part in [
            "WARN",
            "127.0.111.8",
            "Connection refused",
            "still trying",
            "waited_s",
        ] {
            assert!(logged.contains(part), "{part} missing: {logged}");
        }
    }
}
