//! Connects the Talos side to the Kubernetes API emulation ([`super::kube::KubeCluster`]): once etcd is
//! bootstrapped, the API is served on every control plane's `<address>:6443` and on the cluster endpoint (its
//! host when it is a loopback IP, `localhost` as 127.0.0.1, or a DNS name resolving to loopback addresses; a
//! loopback `Layer2VIPConfig`/`vip` address too). Each control plane's listener presents its own serving
//! certificate from the config's k8s CA, with the SANs Talos gives that node's kube-apiserver (see
//! [`node_sans`]); the endpoint listeners present the first control plane's. Nodes are registered as they join; a
//! reset stops their kubelet and leaves the Node object; when etcd is gone (its last member wiped) every listener closes and every object is forgotten.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};

use super::faults::KubeFaults;
use super::kube::{KubeCluster, KubeFault, KubeTls, NodeOptions, ServerHandle};
use super::talos::config::MachineConfig;
use super::talos::{KubeHooks, KubeNode};

/// kube-apiserver's port on control planes.
pub const APISERVER_PORT: u16 = 6443;

type Servers = Arc<tokio::sync::Mutex<BTreeMap<SocketAddr, ServerHandle>>>;

/// The [`KubeHooks`] implementation over a [`KubeCluster`].
pub struct KubeBridge {
    kube: KubeCluster,
    servers: Servers,
    pending: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl KubeBridge {
    /// Wraps `kube`.
    pub fn new(kube: KubeCluster) -> KubeBridge {
        KubeBridge {
            kube,
            servers: Arc::new(tokio::sync::Mutex::new(BTreeMap::new())),
            pending: Mutex::new(Vec::new()),
        }
    }

    /// The Kubernetes cluster.
    pub fn kube(&self) -> &KubeCluster {
        &self.kube
    }

    /// Waits until every listener asked for so far is bound (or failed, which is logged).
    pub async fn settle(&self) {
        let pending: Vec<_> =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for task in pending {
            let _ = task.await;
        }
    }

    /// Addresses currently serving the Kubernetes API.
    pub async fn listening(&self) -> Vec<SocketAddr> {
        self.servers.lock().await.keys().copied().collect()
    }

    /// Closes every Kubernetes API listener.
    pub async fn stop(&self) {
        let servers = std::mem::take(&mut *self.servers.lock().await);
        for (_, s) in servers {
            s.shutdown().await;
        }
    }
}

/// Loopback socket addresses of the cluster endpoint and VIPs.
fn endpoint_addrs(cfg: &MachineConfig) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    let host = cfg.endpoint_host.as_str();
    let port = cfg.endpoint_port;
    match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() => out.push(SocketAddr::new(ip, port)),
        Ok(_) => {}
        Err(_) if host == "localhost" => out.push(SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
        Err(_) => {
            if let Ok(addrs) = (host, port).to_socket_addrs() {
                out.extend(addrs.filter(|a| a.ip().is_loopback() && a.is_ipv4()));
            }
        }
    }
    for vip in &cfg.vips {
        if vip.is_loopback() {
            out.push(SocketAddr::new(*vip, APISERVER_PORT));
        }
    }
    out
}

/// The SANs of one control plane's kube-apiserver serving certificate, as Talos's KubernetesCertSANs controller
/// builds them (internal/app/machined/pkg/controllers/secrets/kubernetes_cert_sans.go): the endpoint host,
/// `cluster.apiServer.certSANs`, `kubernetes`, `kubernetes.default`, `kubernetes.default.svc`,
/// `kubernetes.default.svc.<dnsDomain>`, `localhost`, the node's hostname, the API service IPs (the first address
/// of each `cluster.network.serviceSubnets` entry, 10.96.0.1 by default) and the node's own addresses (its
/// address and any loopback VIP it may hold). Another control plane's address is not among them.
fn node_sans(cfg: &MachineConfig, name: &str, address: Ipv4Addr) -> Vec<String> {
    let domain = str_at(&cfg.v1alpha1, &["cluster", "network", "dnsDomain"])
        .unwrap_or("cluster.local")
        .to_string();
    let mut sans = vec![cfg.endpoint_host.clone()];
    sans.extend(cfg.api_cert_sans.iter().cloned());
    sans.extend([
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        format!("kubernetes.default.svc.{domain}"),
        "localhost".to_string(),
        name.to_string(),
    ]);
    sans.extend(api_service_ips(cfg).iter().map(IpAddr::to_string));
    sans.push(address.to_string());
    sans.extend(cfg.vips.iter().map(IpAddr::to_string));
    let mut seen = std::collections::BTreeSet::new();
    sans.retain(|s| !s.is_empty() && seen.insert(s.clone()));
    sans
}

fn yaml_at<'a>(v: &'a serde_json::Value, path: &[&str]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn str_at<'a>(v: &'a serde_json::Value, path: &[&str]) -> Option<&'a str> {
    yaml_at(v, path)?.as_str()
}

/// The first address of each service subnet (Talos `APIServerIPs`); `10.96.0.1` for the default `10.96.0.0/12`.
fn api_service_ips(cfg: &MachineConfig) -> Vec<IpAddr> {
    let subnets: Vec<String> =
        match yaml_at(&cfg.v1alpha1, &["cluster", "network", "serviceSubnets"])
            .and_then(serde_json::Value::as_array)
        {
            Some(list) => list
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            None => vec!["10.96.0.0/12".to_string()],
        };
    subnets
        .iter()
        .filter_map(|s| s.parse::<ipnet::IpNet>().ok())
        .filter_map(|net| net.hosts().next())
        .collect()
}

impl KubeHooks for KubeBridge {
    fn cluster_up(&self, cfg: &MachineConfig, control_planes: &[(String, Ipv4Addr)]) {
        if let Some(version) = &cfg.apiserver_version {
            self.kube.set_server_version(version); // the kube-apiserver runs the image its config names
        }
        let Some(ca_key_pem) = cfg.k8s_ca.key_pem.clone() else {
            tracing::warn!("no Kubernetes CA key in the control plane config: API not served");
            return;
        };
        let tls_for = |name: &str, address: Ipv4Addr| KubeTls {
            ca_cert_pem: cfg.k8s_ca.cert_pem.clone(),
            ca_key_pem: ca_key_pem.clone(),
            sans: node_sans(cfg, name, address),
        };
        // Each control plane's kube-apiserver presents its own certificate; the endpoint (a VIP or load
        // balancer in front of them) reaches the first one.
        let mut listeners: Vec<(SocketAddr, KubeTls)> = control_planes
            .iter()
            .map(|(name, a)| (SocketAddr::from((*a, APISERVER_PORT)), tls_for(name, *a)))
            .collect();
        if let Some((name, a)) = control_planes.first() {
            let tls = tls_for(name, *a);
            listeners.extend(endpoint_addrs(cfg).into_iter().map(|e| (e, tls.clone())));
        }
        let (kube, servers) = (self.kube.clone(), self.servers.clone());
        let task = tokio::spawn(async move {
            let mut servers = servers.lock().await;
            for (addr, tls) in listeners {
                if servers.contains_key(&addr) {
                    continue;
                }
                match kube.serve(addr, tls).await {
                    Ok(handle) => {
                        servers.insert(addr, handle);
                    }
                    Err(e) => tracing::error!(%addr, error = %e, "serving the Kubernetes API"),
                }
            }
        });
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }

    fn node_joined(&self, node: &KubeNode) {
        let opts = NodeOptions {
            name: node.name.clone(),
            internal_ip: IpAddr::V4(node.address),
            control_plane: node.control_plane,
            allow_scheduling_on_control_plane: node.allow_scheduling_on_control_planes,
            kubelet_version: node.kubelet_version.clone(),
            os_image: Some(format!("Talos ({})", node.talos_version)),
        };
        if let Err(e) = self.kube.ensure_node_with(opts) {
            tracing::error!(node = %node.name, error = %e, "registering Node");
        }
    }

    fn node_left(&self, name: &str, address: Ipv4Addr, control_plane: bool) {
        // Talos's reset stops the kubelet and never deletes the Node (the cluster keeps it, NotReady once the node
        // lifecycle controller notices): internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_sequencer.go@v1.12.11
        // Reset has no node-deletion phase.
        self.kube.stop_kubelet(name);
        if control_plane {
            self.control_plane_down(address);
        }
    }

    fn control_plane_down(&self, address: Ipv4Addr) {
        let servers = self.servers.clone();
        let addr = SocketAddr::from((address, APISERVER_PORT));
        let task = tokio::spawn(async move {
            let handle = servers.lock().await.remove(&addr);
            if let Some(h) = handle {
                h.shutdown().await;
            }
        });
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }

    fn node_ready(&self, name: &str) -> Option<bool> {
        let node = self.kube.object("", "nodes", "", name)?;
        let ready = node
            .pointer("/status/conditions")
            .and_then(serde_json::Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
            .is_some_and(|c| c["status"] == "True");
        Some(ready)
    }

    fn cluster_down(&self) {
        let (kube, servers) = (self.kube.clone(), self.servers.clone());
        let task = tokio::spawn(async move {
            let all = std::mem::take(&mut *servers.lock().await);
            for (_, s) in all {
                s.shutdown().await;
            }
            kube.wipe();
        });
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }

    fn faults(&self, faults: &KubeFaults) {
        self.kube.clear_faults();
        if faults.errors > 0 {
            self.kube.set_fault(KubeFault::Errors5xx {
                count: faults.errors,
            });
        }
        if faults.timeouts > 0 {
            self.kube.set_fault(KubeFault::Timeouts {
                count: faults.timeouts,
            });
        }
    }
}
