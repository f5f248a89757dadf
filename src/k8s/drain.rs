//! Taking a Node out of a cluster for good, as `kubectl drain --ignore-daemonsets --delete-emptydir-data --force`
//! then `kubectl delete node` do (k8s.io/kubectl/pkg/drain/drain.go and filters.go@v0.32.0):
//! - [`cordon`]: `spec.unschedulable = true`, so nothing new lands on the node;
//! - [`drain`]: every pod bound to the node (`fieldSelector=spec.nodeName=<node>`) is evicted through the Eviction
//!   API (`pods/<name>/eviction`, policy/v1), so the API server honours PodDisruptionBudgets; mirror pods (static
//!   pods, annotation `kubernetes.io/config.mirror`) and pods of DaemonSets are left (they go with the node);
//!   pods without a controller and pods with emptyDir volumes are evicted too (the node is going away, they would
//!   be lost anyway). An eviction refused with 429 (a budget allows no disruption now) is retried until the
//!   deadline, as kubectl retries it every 5 s; then the drain waits until each evicted pod is gone (or replaced
//!   by another of the same name);
//! - [`delete_node`]: deletes the Node object once its machine was reset (neither Talos nor Kubernetes deletes
//!   it: a stale NotReady Node would hold DaemonSet rollouts and "every Node Ready" waits forever).
//!
//! Nothing here knows about Terraform or Talos.

use std::time::{Duration, Instant};

use futures::future::join_all;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, EvictParams, ListParams};
use kube::Client;

use super::error::{Error, Result};

/// The annotation of mirror pods (the API copy of a static pod).
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// First and longest pause between two evictions of a pod that a budget refused.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// What a drain did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drained {
    /// Pods evicted, as `namespace/name`.
    pub evicted: Vec<String>,
    /// Pods left on the node (DaemonSet and mirror pods), as `namespace/name`.
    pub left: Vec<String>,
}

/// Marks Node `name` unschedulable. A missing Node is not an error (`Ok(false)`).
pub async fn cordon(client: &Client, name: &str) -> Result<bool> {
    let api: Api<Node> = Api::all(client.clone());
    match api.cordon(name).await {
        Ok(_) => Ok(true),
        Err(e) if super::error::is_not_found(&e) => Ok(false),
        Err(e) => Err(Error::api("cordon", format!("Node {name}"), e)),
    }
}

fn pod_id(p: &Pod) -> String {
    format!(
        "{}/{}",
        p.metadata.namespace.as_deref().unwrap_or_default(),
        p.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Whether the drain leaves `p` on the node: a mirror pod, or a pod of a DaemonSet.
fn stays(p: &Pod) -> bool {
    let mirror = p
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION));
    let daemon = p
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.kind == "DaemonSet");
    mirror || daemon
}

/// The text of a refused eviction: the API's message and its `DisruptionBudget` causes.
fn refusal(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => {
            let causes: Vec<String> = s
                .details
                .iter()
                .flat_map(|d| d.causes.iter())
                .map(|c| c.message.clone())
                .collect();
            if causes.is_empty() {
                s.message.clone()
            } else {
                format!("{} ({})", s.message, causes.join("; "))
            }
        }
        other => other.to_string(),
    }
}

/// Evicts one pod, retrying refusals by a disruption budget (HTTP 429) until `deadline`, then waits until it is
/// gone. Errors: [`Error::Timeout`] naming the pod and the last refusal; other API failures.
async fn evict(client: &Client, pod: &Pod, deadline: Instant) -> Result<()> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let id = pod_id(pod);
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let started = Instant::now();
    let mut pause = RETRY_MIN;
    loop {
        match api.evict(&name, &EvictParams::default()).await {
            Ok(_) => break,
            Err(e) if super::error::is_not_found(&e) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 429 => {
                let why = refusal(&kube::Error::Api(s));
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::Timeout {
                        what: format!("evicting pod {id}"),
                        waited: started.elapsed(),
                        last: why,
                    });
                }
                tracing::info!(pod = %id, reason = %why, retry_in = ?pause, "eviction refused, retrying");
                tokio::time::sleep(pause.min(left)).await;
                pause = (pause * 2).min(RETRY_MAX);
            }
            Err(e) => return Err(Error::api("evict", format!("Pod {id}"), e)),
        }
    }
    tracing::info!(pod = %id, "evicted");
    let uid = pod.metadata.uid.clone();
    super::wait::poll_until(
        &format!("pod {id} gone"),
        deadline.saturating_duration_since(Instant::now()),
        || async {
            match api.get_opt(&name).await {
                Ok(None) => Ok(super::wait::Check::Done),
                Ok(Some(p)) if p.metadata.uid != uid => Ok(super::wait::Check::Done),
                Ok(Some(_)) => Ok(super::wait::Check::Pending("terminating".into())),
                Err(e) => Err(Error::api("get", format!("Pod {id}"), e)),
            }
        },
    )
    .await
}

/// Evicts the pods of Node `name` (see the module doc), all at once, within `timeout`.
///
/// Errors: [`Error::Timeout`] when a pod could not be evicted in time (the message names it and the budget that
/// refused), or the first other API failure. The node stays cordoned either way.
pub async fn drain(client: &Client, name: &str, timeout: Duration) -> Result<Drained> {
    let deadline = Instant::now() + timeout;
    let api: Api<Pod> = Api::all(client.clone());
    let pods = api
        .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
        .await
        .map_err(|e| Error::api("list", format!("Pods of Node {name}"), e))?;
    let (left, going): (Vec<Pod>, Vec<Pod>) = pods.items.into_iter().partition(stays);
    let mut out = Drained {
        evicted: going.iter().map(pod_id).collect(),
        left: left.iter().map(pod_id).collect(),
    };
    tracing::info!(node = name, evict = ?out.evicted, leave = ?out.left, "draining");
    let results = join_all(going.iter().map(|p| evict(client, p, deadline))).await;
    if let Some(e) = results.into_iter().find_map(|r| r.err()) {
        return Err(e);
    }
    out.evicted.sort();
    out.left.sort();
    Ok(out)
}

/// Deletes Node `name`; `Ok(false)` when it was already gone.
pub async fn delete_node(client: &Client, name: &str) -> Result<bool> {
    let api: Api<Node> = Api::all(client.clone());
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(e) if super::error::is_not_found(&e) => Ok(false),
        Err(e) => Err(Error::api("delete", format!("Node {name}"), e)),
    }
}
