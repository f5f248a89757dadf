//! The emulated machines together: node lifecycle (install, reboot, boot, halt), etcd membership, the Talos API
//! listeners that follow each node's stage, the hooks into the Kubernetes API emulation, and persistence.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::api::NodeApi;
use super::config::MachineConfig;
use super::etcd::Etcd;
use super::node::{Node, NodeState, Stage};
use super::tls::{self, Listener, Mode, TALOS_PORT};
use crate::emulator::faults::{FaultTable, KubeFaults};
use crate::emulator::pki;
use crate::emulator::topology::Topology;

/// What the Talos side tells the Kubernetes API emulation. Implemented by the Kubernetes side; all calls are
/// idempotent and must not block.
pub trait KubeHooks: Send + Sync {
    /// etcd is bootstrapped for the cluster of `config`: serve the Kubernetes API on `control_planes`
    /// (`(node name, address)`) and on the config's endpoint.
    fn cluster_up(&self, config: &MachineConfig, control_planes: &[(String, Ipv4Addr)]);
    /// A node booted into the bootstrapped cluster (kubelet registered): add its Node object.
    fn node_joined(&self, node: &KubeNode);
    /// A node was reset: remove its Node object; a control plane also stops serving on `<address>:6443`.
    fn node_left(&self, name: &str, address: Ipv4Addr, control_plane: bool);
    /// A control plane went down (reboot, shutdown, down fault): its kube-apiserver on `<address>:6443` stops
    /// until [`KubeHooks::cluster_up`] names it again.
    fn control_plane_down(&self, address: Ipv4Addr);
    /// The cluster's etcd is gone (its last member wiped): every Kubernetes API listener closes (the endpoint and
    /// VIP ones too) and every object is forgotten, so a cluster bootstrapped later starts empty with its own
    /// certificates. The default does nothing.
    fn cluster_down(&self) {}
    /// Kubernetes API faults from the topology or the control endpoint.
    fn faults(&self, faults: &KubeFaults);
    /// The Node named `name`'s Ready condition: `None` while no such Node is registered. The default knows
    /// no Nodes.
    fn node_ready(&self, name: &str) -> Option<bool> {
        let _ = name;
        None
    }
}

/// A node as the Kubernetes side registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeNode {
    /// Node name (the Talos hostname).
    pub name: String,
    /// InternalIP.
    pub address: Ipv4Addr,
    /// Control plane (labelled and, unless scheduling is allowed, tainted NoSchedule).
    pub control_plane: bool,
    /// `cluster.allowSchedulingOnControlPlanes`.
    pub allow_scheduling_on_control_planes: bool,
    /// The kubelet version its config names (tag of `machine.kubelet.image`).
    pub kubelet_version: Option<String>,
    /// The Talos release it runs (`v1.12.11`).
    pub talos_version: String,
}

/// All nodes of one emulator process.
pub struct Cluster {
    /// The topology the process started with.
    pub topology: Topology,
    /// Live faults.
    pub faults: Arc<FaultTable>,
    /// The Image Factory stand-in the nodes pull factory installers from.
    pub factory: Arc<crate::emulator::factory::ImageFactory>,
    /// Nodes in topology order.
    pub nodes: Vec<Arc<Node>>,
    etcd: Mutex<Option<Etcd>>,
    kube: Mutex<Option<Arc<dyn KubeHooks>>>,
    kube_faults: Mutex<KubeFaults>,
    state_dir: Option<PathBuf>,
    persist_lock: Mutex<()>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

/// SHA-256 hex of a certificate: identifies a CA across configs.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

impl Cluster {
    /// Builds the cluster from `topology`, restoring node state from `state_dir` when it holds a saved state.
    pub fn new(topology: Topology, state_dir: Option<PathBuf>) -> Arc<Cluster> {
        let faults = Arc::new(FaultTable::new(topology.faults.nodes.clone()));
        let saved = state_dir
            .as_ref()
            .and_then(|d| super::persist::load(d, &topology));
        let (states, etcd) = match saved {
            Some((states, etcd)) => (states, etcd),
            None => (
                topology
                    .nodes
                    .iter()
                    .map(|spec| NodeState::new(topology.version_of(spec)))
                    .collect(),
                None,
            ),
        };
        let nodes = topology
            .nodes
            .iter()
            .cloned()
            .zip(states)
            .map(|(spec, st)| Arc::new(Node::new(spec, st)))
            .collect();
        let kube_faults = topology.faults.kube.clone();
        let factory = Arc::new(match &state_dir {
            Some(dir) => {
                crate::emulator::factory::ImageFactory::with_state(topology.image_factory, dir)
            }
            None => crate::emulator::factory::ImageFactory::new(topology.image_factory),
        });
        Arc::new(Cluster {
            topology,
            faults,
            factory,
            nodes,
            etcd: Mutex::new(etcd),
            kube: Mutex::new(None),
            kube_faults: Mutex::new(kube_faults),
            state_dir,
            persist_lock: Mutex::new(()),
        })
    }

    /// Connects the Kubernetes API emulation and replays the current cluster to it.
    pub fn set_kube(self: &Arc<Self>, hooks: Arc<dyn KubeHooks>) {
        *self.kube.lock().unwrap_or_else(|p| p.into_inner()) = Some(hooks.clone());
        hooks.faults(
            &self
                .kube_faults
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        );
        self.announce_cluster();
        for node in &self.nodes {
            self.kube_join(node);
        }
    }

    /// Forwards Kubernetes API faults (kept for a Kubernetes side connected later).
    pub fn set_kube_faults(&self, faults: &KubeFaults) {
        *self.kube_faults.lock().unwrap_or_else(|p| p.into_inner()) = faults.clone();
        if let Some(kube) = self.kube() {
            kube.faults(faults);
        }
    }

    fn kube(&self) -> Option<Arc<dyn KubeHooks>> {
        self.kube.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The Node Ready condition of `name` as the Kubernetes side reports it (`None`: not registered, or no
    /// Kubernetes side).
    pub fn kube_node_ready(&self, name: &str) -> Option<bool> {
        self.kube()?.node_ready(name)
    }

    /// Locks the etcd state.
    pub fn etcd(&self) -> MutexGuard<'_, Option<Etcd>> {
        self.etcd.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Finds a node by name, address or hostname (as apid resolves the `node`/`nodes` metadata).
    pub fn find(&self, target: &str) -> Option<Arc<Node>> {
        let target = target.trim_start_matches('[').trim_end_matches(']');
        let target = target.rsplit_once(':').map_or(target, |(h, p)| {
            if p.parse::<u16>().is_ok() {
                h
            } else {
                target
            }
        });
        self.nodes
            .iter()
            .find(|n| n.spec.name == target || n.address() == target || n.hostname() == target)
            .cloned()
    }

    /// Binds every listener the current state calls for. Returns the first bind error.
    pub fn start(self: &Arc<Self>) -> std::io::Result<()> {
        for node in &self.nodes {
            self.sync_listener_now(node)?;
        }
        Ok(())
    }

    /// Closes every listener.
    pub fn stop(&self) {
        for node in &self.nodes {
            node.listener
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
        }
    }

    /// [`Self::stop`], returning once every listening socket is closed.
    pub async fn stop_and_wait(&self) {
        let listeners: Vec<_> = self
            .nodes
            .iter()
            .filter_map(|node| {
                node.listener
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take()
            })
            .collect();
        for l in listeners {
            l.close().await;
        }
    }

    /// The OS CA key for a CA certificate: from the node's own config, else from any control plane config with the
    /// same CA (workers get their apid certificate from trustd on the control planes).
    fn os_ca_key(&self, cfg: &MachineConfig) -> Option<String> {
        if let Some(k) = &cfg.os_ca.key_pem {
            return Some(k.clone());
        }
        self.nodes.iter().find_map(|n| {
            let st = n.state();
            let c = st.active.as_ref()?;
            let running_cp = st.stage == Stage::Running && c.os_ca.cert_der == cfg.os_ca.cert_der;
            if running_cp {
                c.os_ca.key_pem.clone()
            } else {
                None
            }
        })
    }

    /// What the node's listener should be now: its mode and TLS identity, or none.
    fn wanted(&self, node: &Node) -> Option<(Mode, String)> {
        if self.faults.is_down(&node.spec.name) {
            return None;
        }
        let st = node.state();
        match (st.stage, &st.active) {
            (Stage::Maintenance, _) => Some((Mode::Maintenance, "maintenance".to_string())),
            (Stage::Running, Some(cfg)) => {
                let cfg = cfg.clone();
                drop(st);
                self.os_ca_key(&cfg)?;
                let sans = self.secure_sans(node, &cfg);
                Some((
                    Mode::Secure,
                    format!(
                        "secure:{}:{}",
                        fingerprint(&cfg.os_ca.cert_der),
                        sans.join(",")
                    ),
                ))
            }
            _ => None,
        }
    }

    fn secure_sans(&self, node: &Node, cfg: &MachineConfig) -> Vec<String> {
        let mut sans = vec![node.address(), node.hostname()];
        sans.extend(cfg.cert_sans.iter().cloned());
        sans
    }

    /// TLS for `mode`: a fresh self-signed certificate in maintenance mode; in secure mode a certificate from the
    /// OS CA with SANs for the address, hostname and `machine.certSANs`, and client certificates required.
    fn build_tls(&self, node: &Node, mode: Mode) -> Result<rustls::ServerConfig, String> {
        match mode {
            Mode::Maintenance => {
                let leaf = pki::Leaf {
                    common_name: "maintenance-service.talos.dev".into(),
                    sans: vec![node.address(), node.hostname()],
                    server: true,
                    ..Default::default()
                };
                tls::server_config(&pki::self_signed(&leaf)?, None)
            }
            Mode::Secure => {
                let cfg = node.state().active.clone().ok_or("no config")?;
                let ca_key = pki::key_pair(&self.os_ca_key(&cfg).ok_or("no OS CA key")?)?;
                let leaf = pki::Leaf {
                    common_name: node.hostname(),
                    sans: self.secure_sans(node, &cfg),
                    server: true,
                    ..Default::default()
                };
                let issued = pki::issue(&leaf, &cfg.os_ca.cert_pem, &ca_key)?;
                let mut roots = vec![cfg.os_ca.cert_der.clone()];
                roots.extend(cfg.accepted_cas.iter().cloned());
                tls::server_config(&issued, Some(&roots))
            }
        }
    }

    /// Brings the node's listener in line with its stage now; errors are bind errors.
    pub fn sync_listener_now(self: &Arc<Self>, node: &Arc<Node>) -> std::io::Result<()> {
        let wanted = self.wanted(node);
        let mut slot = node.listener.lock().unwrap_or_else(|p| p.into_inner());
        let Some((mode, id)) = wanted else {
            if let Some(listener) = slot.take() {
                if self.faults.is_down(&node.spec.name) {
                    // Held down: the machine is gone, nothing finishes.
                    listener.cut();
                }
                // Otherwise dropped: an orderly stop (install, reboot, shutdown) lets calls in flight finish.
            }
            return Ok(());
        };
        if slot
            .as_ref()
            .is_some_and(|l| l.mode == mode && l.tls_id == id)
        {
            return Ok(());
        }
        let cfg = self.build_tls(node, mode).map_err(std::io::Error::other)?;
        match slot.as_mut() {
            Some(l) if l.mode == mode => l.swap_tls(id, cfg),
            _ => {
                slot.take();
                let addr = SocketAddr::from((node.spec.address, TALOS_PORT));
                let api = NodeApi::new(self.clone(), node.clone());
                let grace = node.talos().api_stop_grace(mode == Mode::Maintenance);
                *slot = Some(Listener::bind(addr, mode, id, cfg, api.routes(), grace)?);
            }
        }
        Ok(())
    }

    /// Like [`Self::sync_listener_now`], retrying a bind refused while a just-closed socket is released.
    pub fn sync_listener(self: &Arc<Self>, node: &Arc<Node>) {
        if self.sync_listener_now(node).is_ok() {
            return;
        }
        let (cluster, node) = (self.clone(), node.clone());
        tokio::spawn(async move {
            // Up to 5 s: on a loaded machine the aborted accept task may release the socket late.
            for _ in 0..250 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                match cluster.sync_listener_now(&node) {
                    Ok(()) => return,
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
                    Err(e) => {
                        tracing::error!(node = %node.spec.name, error = %e, "talos api bind failed");
                        return;
                    }
                }
            }
        });
    }

    /// Syncs every node's listener (a control plane coming up lets workers get their certificates).
    pub fn sync_all(self: &Arc<Self>) {
        for node in &self.nodes {
            self.sync_listener(node);
        }
    }

    /// Reboots `node` after `before`: API down for the reboot delay, then [`Self::boot`]. With the "reboot never
    /// comes back" fault the node stays down.
    pub fn reboot(self: &Arc<Self>, node: &Arc<Node>, before: Duration, stage_meanwhile: Stage) {
        let generation = {
            let mut st = node.state();
            st.generation += 1;
            st.try_generation = None;
            st.stage = stage_meanwhile;
            st.generation
        };
        let reboot_delay = self.topology.timings.reboot_delay;
        let (cluster, node) = (self.clone(), node.clone());
        tokio::spawn(async move {
            if before.is_zero() {
                tokio::task::yield_now().await;
            }
            tokio::time::sleep(before).await;
            {
                let mut st = node.state();
                if st.generation != generation {
                    return;
                }
                st.stage = Stage::Rebooting;
            }
            cluster.sync_listener(&node);
            cluster.kube_down(&node);
            if cluster.faults.take_reboot_hang(&node.spec.name) {
                tracing::info!(node = %node.spec.name, "reboot never comes back (fault)");
                cluster.persist();
                return;
            }
            tokio::time::sleep(reboot_delay).await;
            if node.state().generation == generation {
                cluster.boot(&node);
            }
        });
    }

    /// Boots `node`: the persisted config becomes active (staged configs apply, TRY configs roll back); with a
    /// config the node runs in secure mode, joins etcd (control planes, once the cluster is bootstrapped) and the
    /// Kubernetes node list; without one it enters maintenance mode.
    pub fn boot(self: &Arc<Self>, node: &Arc<Node>) {
        {
            let mut st = node.state();
            st.active = st.persisted.clone();
            st.apply_rebooting = false;
            st.try_generation = None;
            settle_boot(&mut st, self.topology.version_of(&node.spec));
        }
        self.join_etcd_if_possible(node);
        self.kube_join(node);
        self.persist();
        self.sync_all();
    }

    /// Powers the node off (Shutdown, Reset without reboot): down until [`Self::power_on`].
    pub fn halt(self: &Arc<Self>, node: &Arc<Node>, before: Duration) {
        let generation = {
            let mut st = node.state();
            st.generation += 1;
            st.generation
        };
        let (cluster, node) = (self.clone(), node.clone());
        tokio::spawn(async move {
            tokio::time::sleep(before).await;
            {
                let mut st = node.state();
                if st.generation != generation {
                    return;
                }
                st.stage = Stage::Halted;
            }
            cluster.sync_listener(&node);
            cluster.kube_down(&node);
            cluster.persist();
        });
    }

    /// Powers a halted or hung node on (control endpoint): it boots after the reboot delay.
    pub fn power_on(self: &Arc<Self>, node: &Arc<Node>) {
        let stage = node.state().stage;
        if matches!(stage, Stage::Halted | Stage::Rebooting) {
            self.reboot(node, Duration::ZERO, Stage::Rebooting);
        } else {
            self.sync_listener(node);
        }
    }

    /// Running control planes: `(name, address)`.
    pub fn running_control_planes(&self) -> Vec<(String, Ipv4Addr)> {
        self.nodes
            .iter()
            .filter(|n| {
                let st = n.state();
                st.stage == Stage::Running && st.is_control_plane()
            })
            .map(|n| (n.spec.name.clone(), n.spec.address))
            .collect()
    }

    /// Whether `node` runs with a config of the bootstrapped cluster.
    pub fn in_bootstrapped_cluster(&self, node: &Node) -> bool {
        let ca = {
            let st = node.state();
            match (&st.active, st.stage) {
                (Some(c), Stage::Running) => fingerprint(&c.k8s_ca.cert_der),
                _ => return false,
            }
        };
        self.etcd().as_ref().is_some_and(|e| e.cluster_ca == ca)
    }

    /// Creates the etcd cluster with `node` as its first member, then lets the other running control planes join.
    pub fn bootstrap_etcd(self: &Arc<Self>, node: &Arc<Node>) {
        let (ca, hostname) = {
            let mut st = node.state();
            st.etcd_data = true;
            let ca = st
                .active
                .as_ref()
                .map(|c| fingerprint(&c.k8s_ca.cert_der))
                .unwrap_or_default();
            drop(st);
            (ca, node.hostname())
        };
        {
            let mut etcd = Etcd {
                cluster_ca: ca,
                members: Vec::new(),
            };
            etcd.join(&node.spec.name, &hostname, &node.address());
            *self.etcd() = Some(etcd);
        }
        for other in &self.nodes {
            self.join_etcd_if_possible(other);
        }
        self.announce_cluster();
        for other in &self.nodes {
            self.kube_join(other);
        }
        self.persist();
    }

    fn join_etcd_if_possible(&self, node: &Node) {
        if !self.in_bootstrapped_cluster(node) || !node.state().is_control_plane() {
            return;
        }
        let hostname = node.hostname();
        if let Some(etcd) = self.etcd().as_mut() {
            etcd.join(&node.spec.name, &hostname, &node.address());
        }
        node.state().etcd_data = true;
    }

    /// Whether `name`'s node is running (an etcd member on it is started).
    pub fn member_started(&self, name: &str) -> bool {
        self.nodes.iter().any(|n| {
            let st = n.state();
            n.spec.name == name && st.stage == Stage::Running && st.etcd_data
        })
    }

    fn announce_cluster(&self) {
        let Some(kube) = self.kube() else { return };
        let cps = self.running_control_planes();
        let cfg = self.nodes.iter().find_map(|n| {
            let st = n.state();
            let c = st.active.clone()?;
            (st.is_control_plane() && self.in_bootstrapped_cluster_cfg(&c)).then_some(c)
        });
        if let Some(cfg) = cfg {
            kube.cluster_up(&cfg, &cps);
        }
    }

    fn in_bootstrapped_cluster_cfg(&self, cfg: &MachineConfig) -> bool {
        let ca = fingerprint(&cfg.k8s_ca.cert_der);
        self.etcd().as_ref().is_some_and(|e| e.cluster_ca == ca)
    }

    /// Registers the node with the Kubernetes side when it runs in the bootstrapped cluster (re-announcing the
    /// API on a control plane).
    pub fn kube_join(&self, node: &Node) {
        if !self.in_bootstrapped_cluster(node) {
            return;
        }
        let (cp, allow, kubelet_version, talos_version) = {
            let st = node.state();
            let allow = st
                .active
                .as_ref()
                .is_some_and(|c| c.allow_scheduling_on_control_planes);
            let kubelet = st.active.as_ref().and_then(|c| c.kubelet_version.clone());
            (st.is_control_plane(), allow, kubelet, st.version.clone())
        };
        if cp {
            self.announce_cluster();
        }
        if let Some(kube) = self.kube() {
            kube.node_joined(&KubeNode {
                name: node.hostname(),
                address: node.spec.address,
                control_plane: cp,
                allow_scheduling_on_control_planes: allow,
                kubelet_version,
                talos_version,
            });
        }
    }

    /// Applies the `down` fault now: closes (and stops the node's kube-apiserver) or reopens, powering a halted or
    /// hung node on.
    pub fn set_down(self: &Arc<Self>, node: &Arc<Node>, down: bool) {
        let fault = crate::emulator::faults::NodeFaults {
            down: Some(down),
            ..Default::default()
        };
        self.faults.update(&node.spec.name, fault);
        if down {
            self.sync_listener(node);
            self.kube_down(node);
        } else {
            self.power_on(node);
            self.kube_join(node);
        }
    }

    fn kube_down(&self, node: &Node) {
        if node.state().is_control_plane() {
            if let Some(kube) = self.kube() {
                kube.control_plane_down(node.spec.address);
            }
        }
    }

    /// Tells the Kubernetes side that etcd is gone, and with it the Kubernetes cluster (see
    /// [`KubeHooks::cluster_down`]).
    pub fn kube_cluster_down(&self) {
        if let Some(kube) = self.kube() {
            kube.cluster_down();
        }
    }

    /// Tells the Kubernetes side a node is gone (reset to maintenance or left the cluster).
    pub fn kube_leave(&self, node: &Node, control_plane: bool) {
        if let Some(kube) = self.kube() {
            kube.node_left(&node.hostname(), node.spec.address, control_plane);
        }
    }

    /// Saves the state when a state directory was given (errors are logged: the emulator keeps running).
    pub fn persist(&self) {
        let Some(dir) = &self.state_dir else { return };
        let _guard = self.persist_lock.lock().unwrap_or_else(|p| p.into_inner());
        let etcd = self.etcd().clone();
        if let Err(e) = super::persist::save(dir, &self.nodes, etcd.as_ref()) {
            tracing::error!(error = %e, "saving emulator state");
        }
    }
}

/// The installer image `machine.install.image` of a v1alpha1 document.
pub fn installer_image(v1alpha1: &serde_json::Value) -> Option<&str> {
    v1alpha1
        .get("machine")?
        .get("install")?
        .get("image")?
        .as_str()
}

/// The stage and release a node boots into with its active config: the running system is the one on disk, the
/// installer image's Talos once installed (cmd/installer@v1.12.11 writes its own kernel and initramfs; machined
/// reports its build tag), the boot medium's (`medium_version`) without an installation.
pub(super) fn settle_boot(st: &mut NodeState, medium_version: &str) {
    st.stage = if let Some(active) = st.active.clone() {
        if !st.installed {
            if let Some(tag) = installer_tag(&active.v1alpha1) {
                st.version = tag;
            }
            st.installed_image = installer_image(&active.v1alpha1).map(str::to_string);
        }
        st.installed = true;
        Stage::Running
    } else {
        if !st.installed {
            st.version = medium_version.to_string();
        }
        Stage::Maintenance
    };
}

/// The Talos version of the installer image `machine.install.image` of a v1alpha1 document: its tag when it reads
/// as a release (`v1.12.11`, `v1.13.0-beta.1`), else `None` (`latest`, a digest-only reference: unknown here).
pub fn installer_tag(v1alpha1: &serde_json::Value) -> Option<String> {
    release_tag(installer_image(v1alpha1)?)
}

/// The tag of image reference `image` when it is a Talos release tag (`v<major>.<minor>.<patch>[-pre]`).
pub fn release_tag(image: &str) -> Option<String> {
    let name = image.split('@').next()?;
    let (repo, tag) = name.rsplit_once(':')?;
    if repo.is_empty() || tag.contains('/') || !tag.starts_with('v') {
        return None;
    }
    super::version::TalosVersion::parse(tag).map(|v| v.tag)
}

#[cfg(test)]
mod tests {
    use super::release_tag;

    #[test]
    fn release_tags_of_installer_images() {
        let tag = |i: &str| release_tag(i);
        assert_eq!(
            tag("ghcr.io/siderolabs/installer:v1.12.11").as_deref(),
            Some("v1.12.11")
        );
        assert_eq!(
            tag("factory.talos.dev/installer/3765:v1.13.0-beta.1@sha256:00").as_deref(),
            Some("v1.13.0-beta.1")
        );
        assert_eq!(
            tag("localhost:5000/installer:v1.11.6").as_deref(),
            Some("v1.11.6")
        );
        assert_eq!(tag("ghcr.io/siderolabs/installer:latest"), None);
        assert_eq!(tag("localhost:5000/installer"), None);
        assert_eq!(tag("installer@sha256:0123"), None);
        assert_eq!(tag("installer:v1.12"), None);
    }
}
