//! A Kubernetes API server emulator on loopback, faithful to what kube-rs and kubectl 1.32 rely on.
//!
//! # API
//! - [`KubeCluster::new`]`(`[`KubeOptions`]`)` creates a cluster (must be called inside a Tokio runtime: it spawns
//!   the simulated controllers and the state saver). With `state_file: Some(path)`, objects are loaded from that
//!   JSON file when it exists and saved to it after every change (debounced ~100 ms) and on
//!   [`KubeCluster::save`], so a restarted emulator serves the same cluster (same uids and resourceVersions).
//!   `KubeCluster` is cheap to clone (an `Arc` inside); clones share the cluster.
//! - [`KubeCluster::ensure_node`]`(name, internal_ip, control_plane)` registers a Node (idempotent): podCIDR
//!   `10.244.<N>.0/24` (N = order of registration), addresses InternalIP and Hostname, label
//!   `node-role.kubernetes.io/control-plane` and taint `node-role.kubernetes.io/control-plane:NoSchedule` for control
//!   planes (Talos's default `allowSchedulingOnControlPlanes: false`; use [`KubeCluster::ensure_node_with`] to
//!   choose). Nodes stay `Ready=False` (taint `node.kubernetes.io/not-ready:NoSchedule`) until the `cilium`
//!   DaemonSet in `kube-system` is ready on every live Node. [`KubeCluster::stop_kubelet`] stops a Node's kubelet
//!   (the Node stays and goes `Unknown` after the grace period); [`KubeCluster::remove_node`] deletes one.
//! - [`KubeCluster::serve`]`(addr, `[`KubeTls`]`)` listens on `addr` with HTTPS (HTTP/2 and HTTP/1.1 by ALPN). The
//!   serving certificate is minted from the cluster's k8s CA (`ca_cert_pem`/`ca_key_pem`, PEM; EC, RSA or Ed25519
//!   keys) with `sans` (IP addresses or DNS names). Clients authenticate with certificates chaining to that CA; the
//!   user is the certificate's CN and its groups the O values. Anonymous requests may only read `/version`,
//!   `/healthz`, `/livez` and `/readyz`; anything else answers 401/403 as the API server does. Several listeners may
//!   serve one cluster (endpoint and each control plane's `:6443`). [`ServerHandle::shutdown`] stops one.
//! - [`KubeCluster::set_fault`]`(`[`KubeFault`]`)` makes the next N API requests (on every listener) fail: 503 with a
//!   `Status` body, or hang for `KubeOptions::timeout_hang` and then drop the connection.
//! - [`KubeCluster::object`] and [`KubeCluster::objects`] read the store directly (tests, the emulator's control
//!   endpoint).
//!
//! # What is served
//! Discovery (`/version`, `/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`; aggregated discovery is not
//! served: a request for it gets the legacy lists, as an API server without it does, and kubectl falls back),
//! `/openapi/v3` lists the PATCH operations and their `fieldValidation` parameter (so kubectl leaves validation
//! to the server) and, with `VIXENS_K8S_SCHEMAS` ([`k8s_schemas`]), the component schemas of built-in kinds
//! (`kubectl explain` works), `/openapi/v2` answers 404, the built-in
//! kinds of [`registry`] and every Established CRD (served under its group and served versions, per its scope).
//! Verbs: get, list (labelSelector, fieldSelector on metadata.name/metadata.namespace), watch (resourceVersion
//! semantics, bookmarks, 410 Gone once history is compacted), create, update (409 on stale resourceVersion),
//! patch (JSON, merge, strategic, server-side apply with managedFields and conflicts as structured-merge-diff
//! computes them: `smd`, checked against the library by tests/ssa_differential.rs), delete (finalizers,
//! propagationPolicy, ownerReference garbage collection, namespace deletion), deletecollection, `/status`, `/scale`
//! of Deployments, StatefulSets and ReplicaSets, `/eviction` of Pods (PodDisruptionBudgets honoured: [`eviction`]).
//! Request bodies are JSON, YAML, or (as client-go's typed clients and kubectl's `create` subcommands send them)
//! Kubernetes protobuf for the kinds [`protobuf`] decodes; other protobuf kinds answer 415 naming the kind.
//! Answers are JSON (kubectl and kube-rs accept it).
//! Simulated controllers (after `workload_delay`) make DaemonSets, Deployments and StatefulSets ready, register
//! the Cilium LB IPAM/L2 CRDs once `cilium-operator` is ready, assign LoadBalancer IPs from
//! CiliumLoadBalancerIPPools and mark Argo CD Applications Synced/Healthy once the application controller is ready;
//! Jobs complete after `job_delay` and CronJobs create Jobs on their schedule.

pub(crate) mod admission;
pub(crate) mod apply;
pub(crate) mod auth;
pub(crate) mod controllers;
pub(crate) mod discovery;
pub(crate) mod errors;
pub(crate) mod eviction;
pub(crate) mod fields;
pub(crate) mod handlers;
pub mod k8s_schemas;
pub(crate) mod openapi;
pub(crate) mod patch;
pub(crate) mod protobuf;
pub(crate) mod registry;
pub(crate) mod scale;
pub(crate) mod schema;
pub(crate) mod selectors;
pub(crate) mod server;
pub(crate) mod smd;
pub mod ssa_check;
pub(crate) mod store;
pub(crate) mod table;
pub(crate) mod timefmt;
pub(crate) mod verbs;
pub(crate) mod watch;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

pub use server::ServerHandle;
use store::{GroupResource, Store};

/// Options of an emulated cluster.
#[derive(Debug, Clone)]
pub struct KubeOptions {
    /// How long workloads (DaemonSets, Deployments, StatefulSets) take to become ready after a change, and
    /// Argo CD Applications to sync. Default 200 ms.
    pub workload_delay: Duration,
    /// How long a Job runs before it completes; `None` takes `workload_delay`.
    pub job_delay: Option<Duration>,
    /// JSON file persisting every object; loaded at start when it exists.
    pub state_file: Option<PathBuf>,
    /// How long a request hangs under [`KubeFault::Timeouts`] before its connection is dropped. Default 10 s.
    pub timeout_hang: Duration,
    /// How many change events are kept for watches resuming from a resourceVersion (at most 4096, the default);
    /// older resourceVersions answer 410 Gone.
    pub watch_history: usize,
    /// `gitVersion` reported by `/version` and by Nodes' kubelet version, e.g. `v1.32.3`.
    pub kubernetes_version: String,
    /// How long a Node whose kubelet stopped keeps its last status before the node lifecycle controller marks it
    /// `Unknown` (kube-controller-manager `--node-monitor-grace-period`, 40 s by default:
    /// pkg/controller/nodelifecycle/config/v1alpha1/defaults.go@v1.32.0).
    pub node_monitor_grace_period: Duration,
}

impl Default for KubeOptions {
    fn default() -> Self {
        KubeOptions {
            workload_delay: Duration::from_millis(200),
            job_delay: None,
            state_file: None,
            timeout_hang: Duration::from_secs(10),
            watch_history: store::HISTORY,
            kubernetes_version: "v1.32.3".into(),
            node_monitor_grace_period: Duration::from_secs(40),
        }
    }
}

/// TLS material of a listener: the cluster's k8s CA (PEM) and the SANs of the serving certificate.
#[derive(Clone)]
pub struct KubeTls {
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
    /// IP addresses or DNS names, e.g. `127.0.111.1`, `kubernetes.default.svc`.
    pub sans: Vec<String>,
}

impl std::fmt::Debug for KubeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeTls")
            .field("sans", &self.sans)
            .finish_non_exhaustive()
    }
}

/// A burst of failures on the next `count` API requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeFault {
    /// Answer 503 ServiceUnavailable with a `Status` body.
    Errors5xx { count: u32 },
    /// Hang for [`KubeOptions::timeout_hang`], then drop the connection without an answer.
    Timeouts { count: u32 },
}

/// How a Node is registered.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub name: String,
    pub internal_ip: IpAddr,
    pub control_plane: bool,
    /// Whether workloads may run on a control plane (Talos `cluster.allowSchedulingOnControlPlanes`); when false,
    /// control planes carry the `node-role.kubernetes.io/control-plane:NoSchedule` taint.
    pub allow_scheduling_on_control_plane: bool,
    /// The kubelet's version (`nodeInfo.kubeletVersion`, e.g. `v1.35.4`); `None` keeps the Node's, or the
    /// cluster's version for a new Node.
    pub kubelet_version: Option<String>,
    /// `nodeInfo.osImage`, the machine's os-release `PRETTY_NAME`: on Talos `Talos (<release tag>)`
    /// (pkg/machinery/constants/constants.go@v1.12.11 `OSReleaseTemplate`); `None` keeps the Node's.
    pub os_image: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub errors: u32,
    pub timeouts: u32,
}

pub(crate) struct Inner {
    pub store: Mutex<Store>,
    pub opts: KubeOptions,
    pub faults: Mutex<Faults>,
    /// `gitVersion` the API server reports now: `opts.kubernetes_version` until a control plane's config names
    /// another kube-apiserver image.
    pub server_version: Mutex<String>,
    /// Bumped after every change: wakes controllers and the saver.
    pub changed: tokio::sync::watch::Sender<u64>,
    /// Nodes whose kubelet stopped (their machine was reset or left), and since when. The Node objects stay.
    pub kubelets_stopped: Mutex<std::collections::HashMap<String, tokio::time::Instant>>,
}

impl Inner {
    /// Locks the store (a poisoned lock is recovered: the store stays consistent between statements).
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Signals a change.
    pub fn notify(&self, rv: u64) {
        self.changed.send_replace(rv);
    }

    /// The API server's `gitVersion` (e.g. `v1.32.3`).
    pub fn server_version(&self) -> String {
        self.server_version
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Takes one pending fault, if any.
    pub fn take_fault(&self) -> Option<KubeFault> {
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        if f.timeouts > 0 {
            f.timeouts -= 1;
            Some(KubeFault::Timeouts { count: 1 })
        } else if f.errors > 0 {
            f.errors -= 1;
            Some(KubeFault::Errors5xx { count: 1 })
        } else {
            None
        }
    }
}

/// An emulated Kubernetes cluster (objects, controllers, listeners). Cheap to clone.
#[derive(Clone)]
pub struct KubeCluster {
    pub(crate) inner: Arc<Inner>,
}

impl KubeCluster {
    /// Creates the cluster, loading `opts.state_file` when it exists, and starts its controllers. Errors: an
    /// unreadable or malformed state file. Must be called within a Tokio runtime.
    pub fn new(opts: KubeOptions) -> anyhow::Result<Self> {
        let store = match &opts.state_file {
            Some(p) if p.exists() => {
                let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
                Store::from_json(&bytes).with_context(|| format!("parsing {}", p.display()))?
            }
            _ => Store::new(),
        };
        let mut store = store;
        store.set_history(opts.watch_history);
        let rv = store.revision();
        let (changed, _) = tokio::sync::watch::channel(rv);
        let inner = Arc::new(Inner {
            store: Mutex::new(store),
            server_version: Mutex::new(opts.kubernetes_version.clone()),
            opts,
            faults: Mutex::new(Faults::default()),
            changed,
            kubelets_stopped: Mutex::new(std::collections::HashMap::new()),
        });
        let cluster = KubeCluster { inner };
        admission::bootstrap(&cluster.inner);
        controllers::spawn(cluster.inner.clone());
        if cluster.inner.opts.state_file.is_some() {
            tokio::spawn(saver(Arc::downgrade(&cluster.inner)));
        }
        Ok(cluster)
    }

    /// Registers a Node, control planes tainted NoSchedule (see the module doc). Idempotent.
    pub fn ensure_node(
        &self,
        name: &str,
        internal_ip: IpAddr,
        control_plane: bool,
    ) -> anyhow::Result<()> {
        self.ensure_node_with(NodeOptions {
            os_image: None,
            name: name.to_string(),
            internal_ip,
            control_plane,
            allow_scheduling_on_control_plane: false,
            kubelet_version: None,
        })
    }

    /// Sets the `gitVersion` the API server reports (`/version`), as a kube-apiserver restarted on another image
    /// would.
    pub fn set_server_version(&self, version: &str) {
        *self
            .inner
            .server_version
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = version.to_string();
    }

    /// Registers (or updates the addresses and roles of) a Node.
    pub fn ensure_node_with(&self, node: NodeOptions) -> anyhow::Result<()> {
        controllers::nodes::ensure(&self.inner, &node);
        Ok(())
    }

    /// Forgets every object, as when the cluster's etcd is wiped: a fresh store holding only what a new API server
    /// creates (the built-in namespaces and the `kubernetes` Service). Watches of the old store end.
    pub fn wipe(&self) {
        {
            let mut st = self.inner.lock();
            let mut fresh = Store::new();
            fresh.set_history(self.inner.opts.watch_history);
            *st = fresh;
        }
        admission::bootstrap(&self.inner);
        let rv = self.inner.lock().revision();
        self.inner.notify(rv);
    }

    /// Stops the kubelet of Node `name` (its machine was reset): the Node object stays, as in a real cluster
    /// (neither Talos nor Kubernetes deletes it), with the status its kubelet last posted; after
    /// [`KubeOptions::node_monitor_grace_period`] the node lifecycle controller marks it `Unknown` and taints it
    /// `node.kubernetes.io/unreachable` ([`controllers::nodes`]). Registering the node again restarts its kubelet.
    pub fn stop_kubelet(&self, name: &str) {
        if let Ok(mut stopped) = self.inner.kubelets_stopped.lock() {
            stopped
                .entry(name.to_string())
                .or_insert_with(tokio::time::Instant::now);
        }
        let rv = self.inner.lock().revision();
        self.inner.notify(rv);
    }

    /// Deletes a Node (no-op when absent).
    pub fn remove_node(&self, name: &str) {
        let mut st = self.inner.lock();
        st.remove(&GroupResource::new("", "nodes"), "", name);
        let rv = st.revision();
        drop(st);
        self.inner.notify(rv);
    }

    /// Serves the API on `addr` (see the module doc). Errors: bad CA material or SANs, or the bind failing.
    pub async fn serve(&self, addr: SocketAddr, tls: KubeTls) -> anyhow::Result<ServerHandle> {
        server::serve(self.inner.clone(), addr, tls).await
    }

    /// Adds a burst of failures for the next requests.
    pub fn set_fault(&self, fault: KubeFault) {
        let mut f = self.inner.faults.lock().unwrap_or_else(|e| e.into_inner());
        match fault {
            KubeFault::Errors5xx { count } => f.errors = count,
            KubeFault::Timeouts { count } => f.timeouts = count,
        }
    }

    /// Cancels pending faults.
    pub fn clear_faults(&self) {
        *self.inner.faults.lock().unwrap_or_else(|e| e.into_inner()) = Faults::default();
    }

    /// Writes the state file now (no-op without one).
    pub fn save(&self) -> anyhow::Result<()> {
        save_now(&self.inner)
    }

    /// One object, as stored (group `""` for core; plural resource, e.g. `deployments`).
    pub fn object(
        &self,
        group: &str,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        self.inner
            .lock()
            .get(&GroupResource::new(group, resource), namespace, name)
            .cloned()
    }

    /// All objects of a type (every namespace).
    pub fn objects(&self, group: &str, resource: &str) -> Vec<Value> {
        self.inner
            .lock()
            .list(&GroupResource::new(group, resource), None)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Current resourceVersion (global revision).
    pub fn revision(&self) -> u64 {
        self.inner.lock().revision()
    }
}

fn save_now(inner: &Inner) -> anyhow::Result<()> {
    let Some(path) = &inner.opts.state_file else {
        return Ok(());
    };
    let bytes = inner.lock().to_json()?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

async fn saver(weak: std::sync::Weak<Inner>) {
    let mut rx = match weak.upgrade() {
        Some(i) => i.changed.subscribe(),
        None => return,
    };
    while rx.changed().await.is_ok() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rx.borrow_and_update();
        let Some(inner) = weak.upgrade() else { return };
        if let Err(e) = save_now(&inner) {
            tracing::warn!(error = %e, "saving emulator state failed");
        }
    }
}
