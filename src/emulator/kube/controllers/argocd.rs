//! Argo CD Applications (argoproj.io/v1alpha1): once the `argocd-application-controller` StatefulSet of the
//! Application's namespace is ready, each Application becomes `status.sync.status: Synced` and
//! `status.health.status: Healthy` after `workload_delay`, with `status.sync.revision` a 40-hex revision derived
//! from the source's repoURL and targetRevision (no Git is contacted). Deleting an Application with the
//! `resources-finalizer.argocd.argoproj.io` finalizer completes once the controller is ready (the cascade of its
//! managed resources is not simulated).

use std::time::Duration;

use serde_json::{json, Value};
use sha2::Digest;

use super::workloads::is_ready;
use super::{remove_finalizer, rt, write_status, Clock};
use crate::emulator::kube::store::{GroupResource, Store};
use crate::emulator::kube::timefmt;

const FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// The revision reported for a source: hex of the first 20 bytes of SHA-256(repoURL + "\n" + targetRevision).
pub fn revision(repo_url: &str, target_revision: &str) -> String {
    let h = sha2::Sha256::digest(format!("{repo_url}\n{target_revision}").as_bytes());
    hex::encode(&h[..20])
}

pub fn reconcile(st: &mut Store, clock: &mut Clock, delay: Duration) {
    let gr = GroupResource::new("argoproj.io", "applications");
    let apps: Vec<Value> = st.list(&gr, None).into_iter().cloned().collect();
    if apps.is_empty() {
        return;
    }
    let Some(rt) = rt(st, "argoproj.io", "applications") else {
        return;
    };
    for app in apps {
        let ns = app
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let ready = st
            .get(
                &GroupResource::new("apps", "statefulsets"),
                &ns,
                "argocd-application-controller",
            )
            .is_some_and(is_ready);
        if !ready {
            continue;
        }
        if app.pointer("/metadata/deletionTimestamp").is_some() {
            if crate::emulator::kube::verbs::finalizers(&app)
                .iter()
                .any(|f| f == FINALIZER)
            {
                remove_finalizer(st, &gr, &app, FINALIZER);
            }
            continue;
        }
        let key = format!(
            "app/{}/{}",
            app.pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            app.pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1)
        );
        if !clock.elapsed(key, delay) {
            continue;
        }
        let source = app.pointer("/spec/source").cloned().unwrap_or(json!({}));
        let repo = source
            .get("repoURL")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let target = source
            .get("targetRevision")
            .and_then(Value::as_str)
            .unwrap_or("HEAD");
        let rev = revision(repo, target);
        let mut status = app.get("status").cloned().unwrap_or(json!({}));
        if status.pointer("/sync/status") == Some(&json!("Synced"))
            && status.pointer("/sync/revision") == Some(&json!(rev))
            && status.pointer("/sync/comparedTo/source") == Some(&source)
            && status.pointer("/health/status") == Some(&json!("Healthy"))
        {
            continue;
        }
        let now = timefmt::now();
        status["sync"] = json!({"status": "Synced", "revision": rev, "comparedTo": {"source": source, "destination": app.pointer("/spec/destination").cloned().unwrap_or(json!({}))}});
        status["health"] = json!({"status": "Healthy", "lastTransitionTime": now});
        status["reconciledAt"] = json!(now);
        status["sourceType"] = json!(if source.get("helm").is_some()
            || source.get("chart").is_some()
        {
            "Helm"
        } else if source.get("kustomize").is_some() {
            "Kustomize"
        } else {
            "Directory"
        });
        status["operationState"] = json!({
            "phase": "Succeeded", "message": "successfully synced (all tasks run)", "startedAt": now, "finishedAt": now,
            "operation": {"sync": {"revision": rev}, "initiatedBy": {"automated": true}},
            "syncResult": {"revision": rev, "source": source},
        });
        write_status(st, &rt, &app, status, "argocd-application-controller");
    }
}
