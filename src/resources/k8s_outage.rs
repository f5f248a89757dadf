//! What `vixens_cilium` and `vixens_argocd_bootstrap` do when their Kubernetes API cannot be reached (issue 16
//! item 5). Reaching the API is bounded by the resource's `timeouts.read` (default [`READ_TIMEOUT`]): connecting
//! retries for that long, and so does each request that fails transiently ([`crate::k8s::retry`]; the client does
//! not retry by itself). Past it:
//! - a **read** keeps the prior state and warns ([`kept_state`]): a plan still works while the API server is down
//!   (it compares against the last known state);
//! - a **delete** completes and warns, naming the objects it could not delete ([`not_deleted`]): a cluster that is
//!   gone (destroyed in the same run, or unreachable for good) does not hold the destroy hostage. The objects stay
//!   in the cluster if it ever comes back.
//!
//! Other failures (refused credentials, a 403, an invalid object) stay errors.

use std::time::Duration;

use crate::cty::AttributePath;
use crate::framework::{ApplyError, Context, Diagnostic, Diagnostics, TimeoutDefaults};
use crate::k8s::apply::Applier;
use crate::k8s::connection::error_chain;
use crate::k8s::inventory::ObjectRef;
use crate::k8s::Connection;

/// Default of `timeouts.read`: how long a read or a delete tries to reach the Kubernetes API.
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// A Kubernetes step that did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The API could not be reached within the bound (refused, dropped, 5xx/429 or no answer throughout); the
    /// text says what was tried and the last failure.
    Unreachable(String),
    /// Any other failure.
    Failed(Diagnostic),
}

impl Failure {
    /// Classifies a Kubernetes error met while doing `what` (e.g. `"deleting the Cilium objects"`): transient
    /// errors (which the retry layer already retried for its patience) mean unreachable.
    pub fn k8s(what: &str, e: &crate::k8s::Error) -> Failure {
        if e.is_transient() {
            Failure::Unreachable(format!("{what}: {}", error_chain(e)))
        } else {
            Failure::Failed(Diagnostic::error(format!("Failed {what}"), error_chain(e)))
        }
    }
}

impl From<Diagnostic> for Failure {
    fn from(d: Diagnostic) -> Self {
        Failure::Failed(d)
    }
}

impl From<Failure> for Diagnostic {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Unreachable(reason) => Diagnostic::error("Kubernetes API unreachable", reason),
            Failure::Failed(d) => d,
        }
    }
}

impl From<Failure> for Diagnostics {
    fn from(f: Failure) -> Self {
        Diagnostic::from(f).into()
    }
}

impl From<Failure> for ApplyError {
    fn from(f: Failure) -> Self {
        ApplyError::new(Diagnostic::from(f))
    }
}

/// The bound on reaching the API for `state` (its `timeouts.read`, else the default of `defaults`), never more
/// than what is left of the operation's own deadline.
pub fn reach_bound(
    ctx: &Context,
    state: &crate::cty::Value,
    defaults: &TimeoutDefaults,
) -> Duration {
    let bound = crate::framework::timeouts::read_timeout(state, defaults).unwrap_or(READ_TIMEOUT);
    ctx.remaining().map_or(bound, |left| left.min(bound))
}

/// Runs a read's `step` within the read's deadline (`timeouts.read`, see [`Context::run`]): the deadline passing
/// means the API did not answer within `bound` (unreachable); a cancellation stays an error.
pub async fn read_within<T>(
    ctx: &Context,
    what: &str,
    bound: Duration,
    step: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    match ctx.run(what, step).await {
        Ok(result) => result,
        Err(_) if !ctx.is_cancelled() => Err(Failure::Unreachable(format!(
            "{what}: no answer within {}s (`timeouts.read`)",
            bound.as_secs_f64()
        ))),
        Err(d) => Err(Failure::Failed(d)),
    }
}

/// Connects with `connection`, retrying while the API server is not up for at most `timeout`; the applier
/// retries each request's transient failures for as long ([`Applier::with_patience`]). With `unless_down`, an API
/// server already found down in this run gets one short try ([`crate::k8s::Connection::connect_unless_down`]).
///
/// Errors: [`Failure::Unreachable`] when the API server did not answer in time; invalid settings point at
/// `kubeconfig` or `kubernetes`, whichever gave them.
pub async fn connect(
    connection: &Connection,
    timeout: Duration,
    unless_down: bool,
) -> Result<Applier, Failure> {
    let client = if unless_down {
        connection.connect_unless_down(timeout).await
    } else {
        connection.connect(timeout).await
    };
    let client = client.map_err(|e| {
        if e.is_transient() {
            return Failure::Unreachable(e.to_string());
        }
        let d = Diagnostic::error("Cannot connect to the Kubernetes API", e.to_string());
        Failure::Failed(match (&e, connection) {
            (crate::k8s::Error::Config(_), Connection::Kubeconfig(_)) => {
                d.at(AttributePath::attr("kubeconfig"))
            }
            (crate::k8s::Error::Config(_), _) => d.at(AttributePath::attr("kubernetes")),
            _ => d,
        })
    })?;
    Ok(Applier::new(client).with_patience(timeout))
}

/// The warning of a read that could not reach the API: the state stays as it was.
pub fn kept_state(resource: &str, reason: &str) -> Diagnostic {
    Diagnostic::warning(
        "Kubernetes API unreachable: state not refreshed",
        format!(
            "{resource} could not read its objects ({reason}). Its state is kept as last recorded, so this plan \
             compares the configuration against it and cannot see drift; the next refresh with the API up does."
        ),
    )
}

/// The warning of a delete that could not reach the API: `left` stay in the cluster (if it comes back) and are
/// no longer tracked.
pub fn not_deleted(resource: &str, reason: &str, left: &[ObjectRef]) -> Diagnostic {
    let names: Vec<String> = left.iter().map(ToString::to_string).collect();
    Diagnostic::warning(
        format!("Kubernetes API unreachable: {} object(s) not deleted", left.len()),
        format!(
            "{resource} is removed from the state, but its Kubernetes API could not be reached ({reason}), so these \
             objects were not deleted and stay in the cluster if it comes back: {}.",
            names.join(", ")
        ),
    )
}
