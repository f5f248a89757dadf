//! Resuming a failed first apply (issue 4: "if an error happens once the secrets exist, the state returned with
//! the error keeps the secrets and what was applied, and the next apply resumes from there").
//!
//! Terraform (checked against 1.0.3's core) marks the object returned with a failed create *tainted*, and the
//! next plan replaces it: `PlanResourceChange` sees a null prior (the provider never sees the tainted object
//! there), then the apply calls `Delete` on the tainted object and `Create` for the new one. Minting new secrets
//! at that point would strand the nodes that already took the first config (they left maintenance mode and
//! trust another OS CA). So, within one provider process:
//!
//! 1. `Read` (the refresh Terraform runs on the tainted object before planning) and `Delete` remember an
//!    *incomplete* state: one with secrets and rendered configs but no kubeconfig, i.e. a create that failed;
//! 2. planning the replacement `Create` with the same `cluster_name` and `endpoint` plans those secrets (known,
//!    so the plan shows they are kept) and puts a marker naming their hash in the plan's private data;
//! 3. `Delete` receives that marker (Terraform hands the replacement's planned private data to the destroy half of
//!    `DeleteThenCreate`) and, when it names the secrets of the object being deleted, leaves the nodes as they
//!    are instead of resetting them; a plain `terraform destroy` carries no marker and resets the nodes;
//! 4. `Create` uses the planned secrets and converges from the remembered status: nodes that took their config
//!    are not re-applied, bootstrap answers AlreadyExists if it had run.
//!
//! The marker never reaches a stored state: `Create` clears the private data it returns.

use super::state;
use crate::cty::Value;
use crate::framework::Context;
use crate::talos::ops::config_hash;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Key of the marker in the plan's private data (JSON object).
const MARKER_KEY: &str = "resume_secrets_sha256";

/// Incomplete states seen by this provider process, by the SHA-256 of their `machine_secrets`.
static INCOMPLETE: Mutex<BTreeMap<String, Value>> = Mutex::new(BTreeMap::new());

/// Whether `state` is what a failed create returned: secrets and rendered configs, no kubeconfig (an imported
/// state has no rendered configs; a completed create always has a kubeconfig).
pub fn is_incomplete(state: &Value) -> bool {
    state.get("machine_secrets").as_str().is_some()
        && !state.get("machine_configurations").is_null()
        && state.get("kubeconfig").is_null()
}

fn secrets_hash(state: &Value) -> Option<String> {
    state.get("machine_secrets").as_str().map(config_hash)
}

/// Remembers `state` when it is incomplete (no-op otherwise).
pub fn remember(state: &Value) {
    if !is_incomplete(state) {
        return;
    }
    if let (Some(hash), Ok(mut map)) = (secrets_hash(state), INCOMPLETE.lock()) {
        map.insert(hash, state.clone());
    }
}

/// The remembered incomplete state with the same `cluster_name` and `endpoint` as `planned`, if exactly one.
pub fn find(planned: &Value) -> Option<Value> {
    let map = INCOMPLETE.lock().ok()?;
    let same = |s: &&Value| {
        s.get("cluster_name") == planned.get("cluster_name")
            && s.get("endpoint") == planned.get("endpoint")
    };
    let mut found = map.values().filter(same);
    let first = found.next()?.clone();
    found.next().is_none().then_some(first)
}

/// The remembered incomplete state whose secrets hash to `hash`, removed from memory.
pub fn take(hash: &str) -> Option<Value> {
    INCOMPLETE.lock().ok()?.remove(hash)
}

/// The plan's private data for a create that resumes `tainted`.
pub fn marker(tainted: &Value) -> Vec<u8> {
    let hash = secrets_hash(tainted).unwrap_or_default();
    serde_json::json!({ MARKER_KEY: hash })
        .to_string()
        .into_bytes()
}

/// Whether the delete running under `ctx` is the destroy half of a replacement that resumes `prior` (the marker
/// names `prior`'s secrets and `prior` is incomplete).
pub fn delete_resumes(ctx: &Context, prior: &Value) -> bool {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(ctx.private()) else {
        return false;
    };
    let named = json.get(MARKER_KEY).and_then(|v| v.as_str());
    is_incomplete(prior) && named.is_some() && named == secrets_hash(prior).as_deref()
}

/// The node status recorded in a remembered state (empty without one).
pub fn status_of(prior: Option<&Value>) -> BTreeMap<String, state::NodeStatus> {
    prior.map(state::status).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incomplete(name: &str, secrets: &str) -> Value {
        Value::object([
            ("cluster_name", Value::from(name)),
            ("endpoint", Value::from("https://127.0.0.1:6443")),
            ("machine_secrets", Value::from(secrets)),
            (
                "machine_configurations",
                Value::map([("cp1".to_string(), Value::from("x"))]),
            ),
            ("kubeconfig", Value::Null),
        ])
    }

    #[test]
    fn only_failed_creates_are_remembered_and_matched_by_name() {
        let failed = incomplete("resume-a", "secrets-a");
        let mut done = incomplete("resume-b", "secrets-b");
        done.set("kubeconfig", "apiVersion: v1");
        assert!(is_incomplete(&failed));
        assert!(!is_incomplete(&done));
        remember(&failed);
        remember(&done);
        assert_eq!(find(&incomplete("resume-a", "other")), Some(failed.clone()));
        assert_eq!(find(&incomplete("resume-b", "other")), None);
        let hash = secrets_hash(&failed).unwrap();
        assert_eq!(take(&hash), Some(failed));
        assert_eq!(take(&hash), None);
    }

    #[test]
    fn delete_honours_only_a_marker_naming_its_own_secrets() {
        let failed = incomplete("resume-c", "secrets-c");
        let ctx = Context::for_tests().with_private(marker(&failed));
        assert!(delete_resumes(&ctx, &failed));
        assert!(!delete_resumes(&ctx, &incomplete("resume-c", "secrets-d")));
        let mut done = failed.clone();
        done.set("kubeconfig", "apiVersion: v1");
        assert!(!delete_resumes(&ctx, &done));
        assert!(!delete_resumes(&Context::for_tests(), &failed));
    }
}
