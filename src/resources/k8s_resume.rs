//! Continuing a Kubernetes install that a failed create left (issue 14: "a partial install must be continued, not
//! recreated"), shared by `vixens_cilium` and `vixens_argocd_bootstrap`.
//!
//! Terraform (1.0.3's core: `internal/terraform/node_resource_abstract_instance.go` `plan` and `apply`) marks the
//! object a failed create returns *tainted*; the next plan sees a null prior and replaces it: `Delete` of the
//! tainted object, then `Create`. Deleting a half-done install and applying it again from scratch is slow and
//! disruptive (a CNI torn down under running Nodes). So:
//!
//! 1. a failed create stores, in the object's private data, that it is an *incomplete install* ([`incomplete`]);
//!    a create that succeeds stores nothing there ([`complete`]), so a user's own `terraform taint` still reinstalls;
//! 2. `Read` (the refresh Terraform runs on the tainted object before planning) remembers such a state in this
//!    provider process, by its *identity* (resource type, namespace and connection target);
//! 3. planning a create (null prior) whose identity matches a remembered state puts a marker naming that identity
//!    in the plan's private data ([`plan_resume`]), and the plan may keep values of the remembered state;
//! 4. `Delete` receives the marker (Terraform hands the replacement's planned private data to the destroy half of
//!    `DeleteThenCreate`: `plans.ResourceInstanceChange.Simplify` keeps `Private`), leaves the objects in place and
//!    remembers the state in its own process ([`delete_resumes`]);
//! 5. `Create` in that process finds it ([`resumed`]) and converges from its inventory: objects are re-applied in
//!    place (server-side apply), those no longer wanted are pruned, the waits go on.
//!
//! A plain `terraform destroy` hands `Delete` the state's own private data (no marker): it deletes.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::cty::Value;
use crate::framework::Context;

/// Key of the incomplete-install flag in a state's private data.
const INCOMPLETE_KEY: &str = "incomplete_install";
/// Key of the resume marker in a plan's private data.
const RESUME_KEY: &str = "resume_install";

/// Incomplete states this process has seen, by identity.
static SEEN: Mutex<BTreeMap<String, Value>> = Mutex::new(BTreeMap::new());

/// The identity of an install: SHA-256 (hex) of the resource type, the namespace and the connection target (the
/// `kubeconfig` text or `kubernetes.host`). None while any of them is unknown or missing.
pub fn identity(type_name: &str, v: &Value) -> Option<String> {
    let namespace = v.get("namespace");
    let kubeconfig = v.get("kubeconfig");
    let block = v.get("kubernetes");
    let host = crate::resources::argocd_bootstrap::settings::kubernetes_block(v).get("host");
    if !namespace.is_known() || !kubeconfig.is_known() || !block.is_known() || !host.is_known() {
        return None;
    }
    let target = kubeconfig.as_str().or(host.as_str())?;
    let mut h = Sha256::new();
    for part in [type_name, namespace.as_str().unwrap_or_default(), target] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    Some(hex::encode(h.finalize()))
}

fn private_json(ctx: &Context) -> serde_json::Value {
    serde_json::from_slice(ctx.private()).unwrap_or_default()
}

/// Marks the state a failed create returns as an incomplete install (its private data).
pub fn incomplete(ctx: &Context) {
    ctx.set_private(json!({ INCOMPLETE_KEY: true }).to_string().into_bytes());
}

/// Clears the private data of a create that succeeded (no resume marker is ever stored with a state).
pub fn complete(ctx: &Context) {
    ctx.set_private(Vec::new());
}

/// On read: remembers `state` when its private data says it is an incomplete install.
pub fn remember_if_incomplete(ctx: &Context, type_name: &str, state: &Value) {
    if private_json(ctx).get(INCOMPLETE_KEY) != Some(&json!(true)) {
        return;
    }
    if let (Some(id), Ok(mut seen)) = (identity(type_name, state), SEEN.lock()) {
        tracing::info!("a failed create left this install incomplete: the next apply continues it");
        seen.insert(id, state.clone());
    }
}

/// On plan of a create: the remembered incomplete state with the same identity as `config`, if any; the plan's
/// private data then carries the resume marker.
pub fn plan_resume(ctx: &Context, type_name: &str, config: &Value) -> Option<Value> {
    let id = identity(type_name, config)?;
    let state = SEEN.lock().ok()?.get(&id).cloned()?;
    ctx.set_private(json!({ RESUME_KEY: id }).to_string().into_bytes());
    Some(state)
}

/// On delete: whether this is the destroy half of a replacement that continues `prior` (the marker names its
/// identity). `prior` is then remembered for the create that follows.
pub fn delete_resumes(ctx: &Context, type_name: &str, prior: &Value) -> bool {
    let marker = private_json(ctx);
    let Some(id) = identity(type_name, prior) else {
        return false;
    };
    if marker.get(RESUME_KEY).and_then(|v| v.as_str()) != Some(id.as_str()) {
        return false;
    }
    if let Ok(mut seen) = SEEN.lock() {
        seen.insert(id, prior.clone());
    }
    true
}

/// On create: the incomplete state this create continues (named by the plan's marker, left by the delete
/// before it), removed from memory.
pub fn resumed(ctx: &Context, type_name: &str, planned: &Value) -> Option<Value> {
    let id = identity(type_name, planned)?;
    if private_json(ctx).get(RESUME_KEY).and_then(|v| v.as_str()) != Some(id.as_str()) {
        return None;
    }
    SEEN.lock().ok()?.remove(&id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(ns: &str) -> Value {
        Value::object([
            ("namespace", Value::from(ns)),
            ("kubeconfig", Value::from("apiVersion: v1\nclusters: []")),
            ("kubernetes", Value::List(vec![])),
        ])
    }

    #[test]
    fn a_failed_create_is_continued_only_through_the_marker() {
        let failed = state("resume-a");
        // A state without the incomplete flag (a user's `terraform taint`) is not remembered.
        remember_if_incomplete(&Context::for_tests(), "t", &failed);
        assert!(plan_resume(&Context::for_tests(), "t", &failed).is_none());
        let flagged = Context::for_tests();
        incomplete(&flagged);
        let read_ctx = Context::for_tests().with_private(flagged.take_private(Vec::new()));
        remember_if_incomplete(&read_ctx, "t", &failed);
        // Another namespace or type: no marker.
        assert!(plan_resume(&Context::for_tests(), "t", &state("other")).is_none());
        assert!(plan_resume(&Context::for_tests(), "u", &failed).is_none());
        let plan = Context::for_tests();
        assert_eq!(plan_resume(&plan, "t", &failed), Some(failed.clone()));
        let marker = plan.take_private(Vec::new());
        // Delete with the marker keeps the objects; without it (terraform destroy) it deletes.
        assert!(!delete_resumes(&Context::for_tests(), "t", &failed));
        let apply = Context::for_tests().with_private(marker);
        assert!(!delete_resumes(&apply, "t", &state("other")));
        assert!(delete_resumes(&apply, "t", &failed));
        assert_eq!(resumed(&apply, "t", &failed), Some(failed.clone()));
        assert_eq!(resumed(&apply, "t", &failed), None);
        // Unknown connection settings: no identity.
        let mut unknown = failed.clone();
        unknown.set("kubeconfig", Value::Unknown);
        assert_eq!(identity("t", &unknown), None);
    }
}
