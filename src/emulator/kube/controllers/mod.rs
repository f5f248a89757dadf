//! Simulated controllers, run by one background task that reconciles after every change (and at the next
//! pending readiness deadline): nodes, workloads, the pods of Nodes (kubelet), PodDisruptionBudgets, CRD cleanup
//! and Cilium CRD registration, LB IPAM, Argo CD Applications, Jobs and CronJobs, garbage collection and namespace
//! termination.

pub mod argocd;
pub mod crds;
pub mod cronjobs;
pub mod disruption;
pub mod gc;
pub mod jobs;
pub mod lbipam;
pub mod nodes;
pub mod pods;
pub mod workloads;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::apply::Scope;
use super::registry::ResourceType;
use super::store::{GroupResource, Store};
use super::verbs::{self, Managed};
use super::Inner;

/// Controller memory: when each (object, generation, desired state) was first seen, to delay readiness.
#[derive(Default)]
pub struct Clock {
    seen: HashMap<String, Instant>,
    /// Earliest pending deadline, for the loop's next wake-up.
    pub next: Option<Instant>,
}

impl Clock {
    /// Whether `delay` has passed since `key` was first seen; records the deadline otherwise.
    pub fn elapsed(&mut self, key: String, delay: Duration) -> bool {
        let now = Instant::now();
        let first = *self.seen.entry(key).or_insert(now);
        let due = first + delay;
        if now >= due {
            true
        } else {
            self.next = Some(self.next.map_or(due, |n| n.min(due)));
            false
        }
    }

    /// Asks for a pass `after` from now (e.g. at a CronJob's next schedule time).
    pub fn wake_in(&mut self, after: Duration) {
        let due = Instant::now() + after;
        self.next = Some(self.next.map_or(due, |n| n.min(due)));
    }
}

/// Starts the reconcile loop (ends when the cluster is dropped).
pub fn spawn(inner: Arc<Inner>) {
    let weak = Arc::downgrade(&inner);
    let mut rx = inner.changed.subscribe();
    drop(inner);
    tokio::spawn(async move {
        let mut clock = Clock::default();
        loop {
            clock.next = None;
            {
                let Some(inner) = weak.upgrade() else { return };
                reconcile(&inner, &mut clock);
            }
            let wake = clock
                .next
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                r = rx.changed() => if r.is_err() { return },
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    });
}

/// One pass of every controller.
pub fn reconcile(inner: &Inner, clock: &mut Clock) {
    let delay = inner.opts.workload_delay;
    let job_delay = inner.opts.job_delay.unwrap_or(delay);
    let kubelets = nodes::Kubelets::of(inner);
    let mut st = inner.lock();
    let before = st.revision();
    for _ in 0..8 {
        let rv = st.revision();
        workloads::reconcile(&mut st, clock, delay);
        cronjobs::reconcile(&mut st, clock);
        jobs::reconcile(&mut st, clock, job_delay);
        nodes::reconcile(&mut st, &kubelets, clock);
        pods::reconcile(&mut st, clock, delay);
        disruption::reconcile(&mut st);
        crds::reconcile(&mut st);
        lbipam::reconcile(&mut st);
        argocd::reconcile(&mut st, clock, delay);
        gc::reconcile(&mut st);
        if st.revision() == rv {
            break;
        }
    }
    let after = st.revision();
    drop(st);
    if after != before {
        inner.notify(after);
    }
}

/// The served type of a group/resource.
pub fn rt(st: &Store, group: &str, resource: &str) -> Option<ResourceType> {
    st.types()
        .iter()
        .find(|t| t.group == group && t.resource == resource)
        .cloned()
}

/// Writes `status` of an object as `manager` would through `/status` (or the main resource for types without the
/// subresource). No-op when unchanged.
pub fn write_status(st: &mut Store, rt: &ResourceType, obj: &Value, status: Value, manager: &str) {
    if obj.get("status") == Some(&status) {
        return;
    }
    let mut new = obj.clone();
    new["status"] = status;
    let version = rt.versions[0].clone();
    let scope = if rt.status_subresource {
        Scope::Status
    } else {
        Scope::Main {
            status_ignored: false,
        }
    };
    if let Err(e) = verbs::commit(
        st,
        rt,
        &version,
        Some(obj),
        new,
        scope,
        Managed::Update(manager),
        false,
    ) {
        tracing::debug!(error = %e.message, "controller status write rejected");
    }
}

/// Writes an updated object (main resource) as `manager`.
pub fn write(st: &mut Store, rt: &ResourceType, old: Option<&Value>, new: Value, manager: &str) {
    let version = rt.versions[0].clone();
    if let Err(e) = verbs::commit(
        st,
        rt,
        &version,
        old,
        new,
        Scope::Main {
            status_ignored: false,
        },
        Managed::Update(manager),
        false,
    ) {
        tracing::debug!(error = %e.message, "controller write rejected");
    }
}

/// Deletes an object as the garbage collector does (background): objects with finalizers get a
/// deletionTimestamp and stay until their finalizers are gone.
pub fn delete(st: &mut Store, gr: &GroupResource, obj: &Value) {
    let (ns, name) = super::store::ns_name(obj);
    if verbs::finalizers(obj).is_empty() {
        st.remove(gr, &ns, &name);
    } else if obj.pointer("/metadata/deletionTimestamp").is_none() {
        let mut o = obj.clone();
        o["metadata"]["deletionTimestamp"] = json!(super::timefmt::now());
        o["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        st.put(gr, o);
    }
}

/// Removes finalizer `f` from an object (completing its deletion when it was the last one and the object is being
/// deleted).
pub fn remove_finalizer(st: &mut Store, gr: &GroupResource, obj: &Value, f: &str) {
    let fins: Vec<String> = verbs::finalizers(obj)
        .into_iter()
        .filter(|x| x != f)
        .collect();
    let (ns, name) = super::store::ns_name(obj);
    if fins.is_empty() && obj.pointer("/metadata/deletionTimestamp").is_some() {
        st.remove(gr, &ns, &name);
        return;
    }
    let mut o = obj.clone();
    o["metadata"]["finalizers"] = json!(fins);
    st.put(gr, o);
}

/// Keeps `lastTransitionTime` of a condition whose status did not change.
pub fn keep_transition(old: &Value, mut cond: Value) -> Value {
    let prev = old
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == cond["type"]).cloned());
    if let Some(p) = prev {
        if p["status"] == cond["status"] {
            for k in ["lastTransitionTime", "lastUpdateTime", "lastHeartbeatTime"] {
                if p.get(k).is_some() && cond.get(k).is_some() {
                    cond[k] = p[k].clone();
                }
            }
        }
    }
    cond
}
