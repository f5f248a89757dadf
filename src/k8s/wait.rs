//! Waits by polling with a deadline: CRDs Established, Deployments/StatefulSets/DaemonSets rolled out, Nodes
//! Ready, an Argo CD Application Synced and Healthy, an object gone. Progress is logged with tracing (object names
//! and states only, never data).
//!
//! The conditions are pure functions over the object's JSON so they are unit-tested without a cluster. They follow
//! what `kubectl rollout status` checks (kubectl's `polymorphichelpers/rollout_status.go`): the controller observed
//! the latest generation, and updated/ready/available counts reach the desired count.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::Client;
use serde_json::Value;

use super::apply::Applier;
use super::error::{Error, Result};
use super::inventory::ObjectRef;

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The condition holds.
    Done,
    /// Not yet; the text says what is missing (logged, and reported on timeout).
    Pending(String),
}

/// First delay between polls; it doubles up to [`MAX_INTERVAL`].
const MIN_INTERVAL: Duration = Duration::from_millis(25);
/// Longest delay between polls.
const MAX_INTERVAL: Duration = Duration::from_secs(2);

/// Calls `check` until it returns [`Check::Done`] or `timeout` passes. Logs each new pending state at info level.
/// A transient error of `check` ([`Error::is_transient`]: the connection dropped, the API server restarts or
/// answers 5xx/429) counts as a pending state: the same wait goes on with backoff (the client reconnects on
/// its next request), within the same deadline.
///
/// Errors: [`Error::Timeout`] with the last pending state (the last error, when the API server never came
/// back); other errors from `check` are returned at once.
pub async fn poll_until<F, Fut>(what: &str, timeout: Duration, check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Check>>,
{
    poll_until_patient(what, timeout, timeout, check).await
}

/// [`poll_until`], except that transient errors lasting `patience` since the last check that answered end the
/// wait with the last of them (an API server gone for good is not waited out until `timeout`).
pub async fn poll_until_patient<F, Fut>(
    what: &str,
    timeout: Duration,
    patience: Duration,
    mut check: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Check>>,
{
    let started = Instant::now();
    let mut interval = MIN_INTERVAL;
    let mut last = String::new();
    let mut answered = Instant::now();
    loop {
        let outcome = match check().await {
            Err(e) if e.is_transient() && answered.elapsed() >= patience && patience < timeout => {
                return Err(e)
            }
            Err(e) if e.is_transient() => {
                let state = format!("API server unreachable, retrying: {e}");
                crate::progress::observe(&state);
                if state != last {
                    tracing::warn!(what, state = %state, elapsed = ?started.elapsed(), "waiting");
                    last = state;
                }
                None
            }
            other => {
                answered = Instant::now();
                Some(other?)
            }
        };
        match outcome {
            Some(Check::Done) => {
                tracing::debug!(what, elapsed = ?started.elapsed(), "ready");
                return Ok(());
            }
            Some(Check::Pending(state)) if state != last => {
                // The caller's step reports progress at INFO every 30 s with this state (crate::progress).
                tracing::debug!(what, state = %state, elapsed = ?started.elapsed(), "waiting");
                crate::progress::observe(&state);
                last = state;
            }
            _ => {}
        }
        let elapsed = started.elapsed();
        if elapsed >= timeout {
            return Err(Error::Timeout {
                what: what.to_string(),
                waited: elapsed,
                last,
            });
        }
        tokio::time::sleep(interval.min(timeout - elapsed)).await;
        interval = (interval * 2).min(MAX_INTERVAL);
    }
}

fn condition_status<'a>(obj: &'a Value, kind: &str) -> Option<&'a str> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))?
        .get("status")?
        .as_str()
}

fn int(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// A CRD is ready when its `Established` condition is `True` (apiextensions.k8s.io/v1).
pub fn crd_established(obj: &Value) -> Check {
    match condition_status(obj, "Established") {
        Some("True") => Check::Done,
        other => Check::Pending(format!("Established={}", other.unwrap_or("unknown"))),
    }
}

fn generation_observed(obj: &Value) -> Option<Check> {
    let generation = int(obj, "/metadata/generation");
    let observed = int(obj, "/status/observedGeneration");
    (observed < generation).then(|| {
        Check::Pending(format!(
            "observedGeneration {observed} < generation {generation}"
        ))
    })
}

/// A Deployment is rolled out when the latest generation is observed and updated, ready and available replicas
/// all equal `spec.replicas` (default 1), as `kubectl rollout status` checks.
pub fn deployment_rolled_out(obj: &Value) -> Check {
    if let Some(pending) = generation_observed(obj) {
        return pending;
    }
    let want = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let updated = int(obj, "/status/updatedReplicas");
    let ready = int(obj, "/status/readyReplicas");
    let available = int(obj, "/status/availableReplicas");
    let total = int(obj, "/status/replicas");
    if updated >= want && ready >= want && available >= want && total <= updated {
        Check::Done
    } else {
        Check::Pending(format!(
            "{ready}/{want} ready, {updated} updated, {available} available"
        ))
    }
}

/// A StatefulSet is rolled out when the latest generation is observed, ready and updated replicas equal
/// `spec.replicas` (default 1), and (for RollingUpdate) the current revision is the update revision.
pub fn statefulset_rolled_out(obj: &Value) -> Check {
    if let Some(pending) = generation_observed(obj) {
        return pending;
    }
    let want = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let ready = int(obj, "/status/readyReplicas");
    let updated = int(obj, "/status/updatedReplicas");
    let current = obj
        .pointer("/status/currentRevision")
        .and_then(Value::as_str);
    let update = obj
        .pointer("/status/updateRevision")
        .and_then(Value::as_str);
    if ready >= want && updated >= want && (update.is_none() || current == update) {
        Check::Done
    } else {
        Check::Pending(format!("{ready}/{want} ready, {updated} updated"))
    }
}

/// A DaemonSet is rolled out when the latest generation is observed and every scheduled pod is updated and
/// available (`desiredNumberScheduled` = `updatedNumberScheduled` = `numberAvailable`).
pub fn daemonset_rolled_out(obj: &Value) -> Check {
    if let Some(pending) = generation_observed(obj) {
        return pending;
    }
    let desired = int(obj, "/status/desiredNumberScheduled");
    let updated = int(obj, "/status/updatedNumberScheduled");
    let available = int(obj, "/status/numberAvailable");
    if updated >= desired && available >= desired {
        Check::Done
    } else {
        Check::Pending(format!(
            "{available}/{desired} available, {updated} updated"
        ))
    }
}

/// A Node is Ready when its `Ready` condition is `True`.
pub fn node_ready(obj: &Value) -> bool {
    condition_status(obj, "Ready") == Some("True")
}

/// An Argo CD Application is done when `status.sync.status` is `Synced` and `status.health.status` is `Healthy`
/// for its current source: `status.sync.comparedTo.source` must carry the `spec.source` repoURL, targetRevision
/// and path, so a status from before a promotion does not count (Argo CD's Application CRD, argoproj.io/v1alpha1).
pub fn application_synced_healthy(obj: &Value) -> Check {
    let sync = obj
        .pointer("/status/sync/status")
        .and_then(Value::as_str)
        .unwrap_or("Unknown");
    let health = obj
        .pointer("/status/health/status")
        .and_then(Value::as_str)
        .unwrap_or("Unknown");
    if let Some(Value::Object(source)) = obj.pointer("/spec/source") {
        let compared = obj.pointer("/status/sync/comparedTo/source");
        let current = ["repoURL", "targetRevision", "path"].iter().all(|k| {
            source.get(*k).is_none() || compared.and_then(|c| c.get(*k)) == source.get(*k)
        });
        if !current {
            return Check::Pending(format!("sync {sync} for an older source, health {health}"));
        }
    }
    if sync == "Synced" && health == "Healthy" {
        Check::Done
    } else {
        Check::Pending(format!("sync {sync}, health {health}"))
    }
}

fn to_value<K: serde::Serialize>(obj: &K) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

/// The part of a CustomResourceDefinition the Established wait reads: `status.conditions` (type, status). The rest
/// of the answer (the schema, managed fields: megabytes for Argo CD's CRDs once parsed) is skipped while decoding.
#[derive(serde::Deserialize)]
struct CrdConditions {
    #[serde(default)]
    status: Option<CrdStatus>,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct CrdStatus {
    #[serde(default)]
    conditions: Vec<CrdCondition>,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct CrdCondition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
}

/// Waits until every named CRD is Established (a GET of each, decoding only its conditions).
pub async fn crds_established(client: &Client, names: &[String], timeout: Duration) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in names {
        let what = format!("CustomResourceDefinition {name} Established");
        poll_until(&what, timeout, || async {
            let request = kube::core::Request::new(api.resource_url())
                .get(name, &kube::api::GetParams::default())
                .map_err(|e| {
                    Error::InvalidObject(format!("CustomResourceDefinition {name}: {e}"))
                })?;
            match client.request::<CrdConditions>(request).await {
                Ok(crd) => Ok(crd_established(
                    &serde_json::json!({ "status": crd.status }),
                )),
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    Ok(Check::Pending("not found".into()))
                }
                Err(e) => Err(Error::api(
                    "get",
                    format!("CustomResourceDefinition {name}"),
                    e,
                )),
            }
        })
        .await?;
    }
    Ok(())
}

/// The rollout condition of a workload kind, or `None` for kinds that have no rollout.
pub fn rollout_check(kind: &str) -> Option<fn(&Value) -> Check> {
    match kind {
        "Deployment" => Some(deployment_rolled_out),
        "StatefulSet" => Some(statefulset_rolled_out),
        "DaemonSet" => Some(daemonset_rolled_out),
        _ => None,
    }
}

fn workload_resource(kind: &str) -> Option<ApiResource> {
    match kind {
        "Deployment" => Some(ApiResource::erase::<Deployment>(&())),
        "StatefulSet" => Some(ApiResource::erase::<StatefulSet>(&())),
        "DaemonSet" => Some(ApiResource::erase::<DaemonSet>(&())),
        _ => None,
    }
}

/// Waits until every Deployment, StatefulSet and DaemonSet among `refs` is rolled out (other kinds are skipped).
/// The deadline is shared by all of them.
pub async fn rolled_out(client: &Client, refs: &[ObjectRef], timeout: Duration) -> Result<()> {
    let started = Instant::now();
    for r in refs {
        let (Some(check), Some(ar), Some(ns)) = (
            rollout_check(&r.kind),
            workload_resource(&r.kind),
            r.namespace.as_deref(),
        ) else {
            continue;
        };
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        let what = format!("{r} rolled out");
        let left = timeout.saturating_sub(started.elapsed());
        poll_until(&what, left, || async {
            match api.get_opt(&r.name).await {
                Ok(Some(obj)) => Ok(check(&to_value(&obj))),
                Ok(None) => Ok(Check::Pending("not found".into())),
                Err(e) => Err(Error::api("get", r.to_string(), e)),
            }
        })
        .await?;
    }
    Ok(())
}

/// True when the scheduler may place ordinary pods on a Node: Ready, not cordoned (`spec.unschedulable`), and
/// without a `NoSchedule` or `NoExecute` taint (Kubernetes docs, "Taints and Tolerations"; Talos taints control
/// planes `node-role.kubernetes.io/control-plane:NoSchedule` unless they allow scheduling).
pub fn node_schedulable(obj: &Value) -> bool {
    let cordoned = obj.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true);
    let tainted = obj
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .is_some_and(|taints| {
            taints.iter().any(|t| {
                matches!(
                    t.get("effect").and_then(Value::as_str),
                    Some("NoSchedule" | "NoExecute")
                )
            })
        });
    node_ready(obj) && !cordoned && !tainted
}

/// How many Nodes are [`node_schedulable`].
///
/// Errors: [`Error::Api`] when the Nodes cannot be listed.
pub async fn schedulable_nodes(client: &Client) -> Result<usize> {
    let api: Api<Node> = Api::all(client.clone());
    let nodes = api
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::api("list", "Nodes", e))?;
    Ok(nodes
        .items
        .iter()
        .filter(|n| node_schedulable(&to_value(n)))
        .count())
}

/// Waits until the cluster has at least `min_nodes` Nodes and all of them are Ready.
pub async fn nodes_ready(client: &Client, min_nodes: usize, timeout: Duration) -> Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    poll_until("every Node Ready", timeout, || async {
        let nodes = api
            .list(&ListParams::default())
            .await
            .map_err(|e| Error::api("list", "Nodes", e))?;
        let not_ready: Vec<String> = nodes
            .items
            .iter()
            .filter(|n| !node_ready(&to_value(n)))
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        if nodes.items.len() >= min_nodes && not_ready.is_empty() {
            Ok(Check::Done)
        } else {
            Ok(Check::Pending(format!(
                "{} nodes, not Ready: [{}]",
                nodes.items.len(),
                not_ready.join(", ")
            )))
        }
    })
    .await
}

/// The ApiResource of Argo CD's Application (argoproj.io/v1alpha1, plural `applications`, namespaced).
pub fn application_resource() -> ApiResource {
    ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        plural: "applications".into(),
    }
}

/// Waits until the Argo CD Application `namespace/name` is Synced and Healthy.
pub async fn application_ready(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<()> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &application_resource());
    let what = format!("Application {namespace}/{name} Synced and Healthy");
    poll_until(&what, timeout, || async {
        match api.get_opt(name).await {
            Ok(Some(app)) => Ok(application_synced_healthy(&to_value(&app))),
            Ok(None) => Ok(Check::Pending("not found".into())),
            Err(e) => Err(Error::api(
                "get",
                format!("Application {namespace}/{name}"),
                e,
            )),
        }
    })
    .await
}

/// Waits until the object no longer exists (after a delete with finalizers or foreground propagation). An API
/// server unreachable for the applier's patience (when it has one) ends the wait with that error.
pub async fn gone(applier: &Applier, r: &ObjectRef, timeout: Duration) -> Result<()> {
    let what = format!("{r} deleted");
    let patience = match applier.patience() {
        p if p.is_zero() => timeout,
        p => p,
    };
    poll_until_patient(&what, timeout, patience, || async {
        match super::inventory::read_live(applier, r).await? {
            None => Ok(Check::Done),
            Some(obj) => Ok(Check::Pending(match obj.metadata.finalizers.as_deref() {
                Some(f) if !f.is_empty() => format!("terminating, finalizers [{}]", f.join(", ")),
                _ => "still present".to_string(),
            })),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api_error(code: u16) -> Error {
        let status = kube::core::Status {
            code,
            message: "m".into(),
            reason: "r".into(),
            ..Default::default()
        };
        Error::api("get", "Deployment ns/x", kube::Error::Api(Box::new(status)))
    }

    #[test]
    fn schedulable_nodes_are_ready_uncordoned_and_untainted() {
        let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(node_schedulable(&ready));
        let mut cordoned = ready.clone();
        cordoned["spec"] = json!({"unschedulable": true});
        assert!(!node_schedulable(&cordoned));
        let mut control_plane = ready.clone();
        control_plane["spec"] = json!({"taints": [
            {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]});
        assert!(!node_schedulable(&control_plane));
        let mut preferred = ready.clone();
        preferred["spec"] = json!({"taints": [{"key": "x", "effect": "PreferNoSchedule"}]});
        assert!(node_schedulable(&preferred));
        assert!(!node_schedulable(
            &json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
        ));
    }

    /// A wait goes on through an API server restart (503s) and fails at once on a 403.
    #[tokio::test]
    async fn waits_ride_out_transient_errors_within_the_deadline() {
        let mut calls = 0;
        poll_until("x", Duration::from_secs(5), || {
            calls += 1;
            let n = calls;
            async move {
                match n {
                    1 | 2 => Err(api_error(503)),
                    3 => Ok(Check::Pending("starting".into())),
                    _ => Ok(Check::Done),
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(calls, 4);
        let e = poll_until("x", Duration::from_secs(5), || async {
            Err(api_error(403))
        })
        .await
        .unwrap_err();
        assert!(matches!(e, Error::Api { .. }), "{e}");
        let e = poll_until("x", Duration::from_millis(100), || async {
            Err(api_error(503))
        })
        .await
        .unwrap_err();
        assert!(
            matches!(&e, Error::Timeout { last, .. } if last.contains("API server unreachable")),
            "{e}"
        );
    }

    /// A patient wait gives up on an API server that stays unreachable, before its own timeout.
    #[tokio::test]
    async fn an_outage_longer_than_the_patience_ends_the_wait() {
        let started = Instant::now();
        let e = poll_until_patient(
            "x",
            Duration::from_secs(30),
            Duration::from_millis(300),
            || async { Err(api_error(503)) },
        )
        .await
        .unwrap_err();
        assert!(e.is_transient(), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn crd_needs_established_true() {
        assert_eq!(
            crd_established(
                &json!({"status": {"conditions": [{"type": "Established", "status": "True"}]}})
            ),
            Check::Done
        );
        assert!(
            matches!(crd_established(&json!({"status": {}})), Check::Pending(s) if s == "Established=unknown")
        );
        assert!(matches!(
            crd_established(
                &json!({"status": {"conditions": [{"type": "Established", "status": "False"}]}})
            ),
            Check::Pending(_)
        ));
    }

    #[test]
    fn deployment_needs_observed_generation_and_all_replicas() {
        let ready = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}});
        assert_eq!(deployment_rolled_out(&ready), Check::Done);
        let stale = json!({"metadata": {"generation": 3}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}});
        assert!(
            matches!(deployment_rolled_out(&stale), Check::Pending(s) if s.contains("observedGeneration 2 < generation 3"))
        );
        let rolling = json!({"metadata": {"generation": 1}, "spec": {},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}});
        assert!(matches!(deployment_rolled_out(&rolling), Check::Pending(_)));
        let old_pods_left = json!({"metadata": {"generation": 1}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}});
        assert!(matches!(
            deployment_rolled_out(&old_pods_left),
            Check::Pending(_)
        ));
    }

    #[test]
    fn statefulset_and_daemonset_rollouts() {
        let sts = json!({"metadata": {"generation": 1}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "readyReplicas": 1, "updatedReplicas": 1, "currentRevision": "a", "updateRevision": "a"}});
        assert_eq!(statefulset_rolled_out(&sts), Check::Done);
        let mut moving = sts.clone();
        moving["status"]["updateRevision"] = json!("b");
        assert!(matches!(statefulset_rolled_out(&moving), Check::Pending(_)));
        let ds = json!({"metadata": {"generation": 1},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2}});
        assert!(matches!(daemonset_rolled_out(&ds), Check::Pending(s) if s.starts_with("2/3")));
        assert!(rollout_check("Service").is_none());
    }

    #[test]
    fn nodes_and_applications() {
        assert!(node_ready(
            &json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
        ));
        assert!(!node_ready(
            &json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
        ));
        assert_eq!(
            application_synced_healthy(
                &json!({"status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}})
            ),
            Check::Done
        );
        assert!(matches!(
            application_synced_healthy(&json!({"status": {"sync": {"status": "OutOfSync"}, "health": {"status": "Progressing"}}})),
            Check::Pending(s) if s == "sync OutOfSync, health Progressing"
        ));
        let mut app = json!({"spec": {"source": {"repoURL": "r", "targetRevision": "test", "path": "p"}},
            "status": {"sync": {"status": "Synced", "comparedTo": {"source": {"repoURL": "r", "targetRevision": "dev", "path": "p"}}},
                       "health": {"status": "Healthy"}}});
        assert!(
            matches!(application_synced_healthy(&app), Check::Pending(s) if s.contains("older source"))
        );
        app["status"]["sync"]["comparedTo"]["source"]["targetRevision"] = json!("test");
        assert_eq!(application_synced_healthy(&app), Check::Done);
    }

    #[tokio::test]
    async fn poll_until_times_out_with_the_last_state() {
        let mut calls = 0;
        let err = poll_until("thing", Duration::from_millis(120), || {
            calls += 1;
            let n = calls;
            async move { Ok(Check::Pending(format!("try {n}"))) }
        })
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::Timeout { what, last, .. } if what == "thing" && last.starts_with("try ")),
            "{err}"
        );
        let mut n = 0;
        poll_until("counter", Duration::from_secs(5), || {
            n += 1;
            let done = n >= 3;
            async move {
                Ok(if done {
                    Check::Done
                } else {
                    Check::Pending("no".into())
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(n, 3);
    }
}
