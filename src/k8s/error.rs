//! Errors of the Kubernetes helpers. Messages name the object and the action, never a secret value.

use std::time::Duration;

/// What went wrong while talking to a Kubernetes API server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The connection settings are unusable (bad kubeconfig, PEM that does not parse, bad host URL).
    #[error("invalid Kubernetes connection settings: {0}")]
    Config(String),
    /// The API server did not answer before the deadline; `last` is the last error seen.
    #[error("the Kubernetes API at {host} was not ready within {:.1}s; last failure: {last}", waited.as_secs_f64())]
    Unreachable {
        /// The API server URL.
        host: String,
        /// How long we retried.
        waited: Duration,
        /// The last error seen.
        last: String,
    },
    /// An API call failed.
    #[error("{action} {object}: {}", describe(action, cause))]
    Api {
        /// What we were doing ("apply", "delete", "get", "discover").
        action: &'static str,
        /// The object, as `kind namespace/name`.
        object: String,
        /// The client error (described in the message, see [`describe`]).
        cause: Box<kube::Error>,
    },
    /// A request got no answer within the time it was given (the API server accepts connections but hangs).
    #[error("{what}: no answer from the Kubernetes API within {:.1}s", waited.as_secs_f64())]
    NoAnswer {
        /// The request, e.g. `get`.
        what: String,
        /// How long it waited.
        waited: Duration,
    },
    /// An object is not a well-formed Kubernetes object (missing apiVersion, kind or name).
    #[error("invalid object: {0}")]
    InvalidObject(String),
    /// A wait did not reach its condition before the deadline.
    #[error("timed out after {waited:?} waiting for {what}; last state: {last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        waited: Duration,
        /// The last observed state.
        last: String,
    },
}

impl Error {
    /// Wraps a client error with the action and the object it concerned.
    pub fn api(action: &'static str, object: impl Into<String>, source: kube::Error) -> Self {
        Error::Api {
            action,
            object: object.into(),
            cause: Box::new(source),
        }
    }

    /// True for errors a retry may cure: the connection failed or dropped (API server restarting), the API server
    /// answered 5xx or 429 Too Many Requests, did not answer in time, or stayed unreachable. 4xx answers and
    /// invalid settings are not.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::NoAnswer { .. } => true,
            Error::Api { cause, .. } => match cause.as_ref() {
                kube::Error::Api(s) => s.code >= 500 || s.code == 429,
                kube::Error::HyperError(_) | kube::Error::Service(_) => true,
                _ => false,
            },
            _ => false,
        }
    }

    /// True when the API answered 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { cause, .. } if is_not_found(cause))
    }
}

/// A client error on one readable line: an API answer as `<message> (<reason>, HTTP <code>)` rather than kube's
/// `ApiError: … (Status { … })` debug dump; a kind that discovery does not find says so; other errors with their
/// sources.
pub fn describe(action: &str, e: &kube::Error) -> String {
    match e {
        kube::Error::Api(_) | kube::Error::Discovery(_) if action == "discover" && is_not_found(e) => {
            "the API server does not serve this kind (unknown group, version or kind: is its CRD installed?)"
                .to_string()
        }
        kube::Error::Api(s) => {
            let message = if s.message.is_empty() { "no message" } else { s.message.as_str() };
            let reason = if s.reason.is_empty() { "no reason" } else { s.reason.as_str() };
            format!("{message} ({reason}, HTTP {})", s.code)
        }
        other => crate::k8s::connection::error_chain(other),
    }
}

/// True when a client error is an API 404 Not Found.
/// A kind that discovery cannot find (its CRD is absent) also counts as not found.
pub fn is_not_found(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => status.code == 404,
        kube::Error::Discovery(_) => true,
        _ => false,
    }
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
