//! Connects the Talos side to the Kubernetes API emulation ([`super::kube::KubeCluster`]): once etcd is
//! bootstrapped, the API is served on every control plane's `<address>:6443` and on the cluster endpoint (its
//! host when it is a loopback IP, `localhost` as 127.0.0.1, or a DNS name resolving to loopback addresses; a
//! loopback `Layer2VIPConfig`/`vip` address too), with a serving certificate from the config's k8s CA whose SANs
//! cover the endpoint host, the control plane addresses, `machine.certSANs` and `cluster.apiServer.certSANs`
//! (kube-apiserver's certificate in Talos: internal/app/machined/pkg/controllers/secrets/kubernetes.go). Nodes
//! are registered as they join and removed when reset.

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

fn sans(cfg: &MachineConfig, control_planes: &[(String, Ipv4Addr)]) -> Vec<String> {
    let mut sans = vec![
        cfg.endpoint_host.clone(),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        "kubernetes.default.svc.cluster.local".to_string(),
    ];
    sans.extend(control_planes.iter().map(|(_, a)| a.to_string()));
    sans.extend(cfg.vips.iter().map(|v| v.to_string()));
    sans.extend(cfg.cert_sans.iter().cloned());
    sans.extend(cfg.api_cert_sans.iter().cloned());
    let mut seen = std::collections::BTreeSet::new();
    sans.retain(|s| !s.is_empty() && seen.insert(s.clone()));
    sans
}

impl KubeHooks for KubeBridge {
    fn cluster_up(&self, cfg: &MachineConfig, control_planes: &[(String, Ipv4Addr)]) {
        let Some(ca_key_pem) = cfg.k8s_ca.key_pem.clone() else {
            tracing::warn!("no Kubernetes CA key in the control plane config: API not served");
            return;
        };
        let tls = KubeTls {
            ca_cert_pem: cfg.k8s_ca.cert_pem.clone(),
            ca_key_pem,
            sans: sans(cfg, control_planes),
        };
        let mut addrs: Vec<SocketAddr> = control_planes
            .iter()
            .map(|(_, a)| SocketAddr::from((*a, APISERVER_PORT)))
            .collect();
        addrs.extend(endpoint_addrs(cfg));
        let (kube, servers) = (self.kube.clone(), self.servers.clone());
        let task = tokio::spawn(async move {
            let mut servers = servers.lock().await;
            for addr in addrs {
                if servers.contains_key(&addr) {
                    continue;
                }
                match kube.serve(addr, tls.clone()).await {
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
        };
        if let Err(e) = self.kube.ensure_node_with(opts) {
            tracing::error!(node = %node.name, error = %e, "registering Node");
        }
    }

    fn node_left(&self, name: &str, address: Ipv4Addr, control_plane: bool) {
        self.kube.remove_node(name);
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
