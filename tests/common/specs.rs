//! Typed machine-config inputs for tests that render Talos configs themselves (no Terraform): a cluster with
//! the contract's pinned Kubernetes and installer, no CNI (Cilium comes later) and no kube-proxy, and a node with
//! one link holding its address.

use vixens::talos::config::network::{Link, NodeNetwork};
use vixens::talos::config::{ClusterSpec, NodeSpec, Role};
use vixens::talos::contract::Contract;

/// Cluster `name` whose API endpoint is `https://<address>:6443`.
pub fn cluster(name: &str, contract: Contract, address: &str) -> ClusterSpec {
    ClusterSpec {
        name: name.into(),
        endpoint: format!("https://{address}:6443"),
        contract,
        kubernetes_version: contract.default_kubernetes_version().into(),
        install_image: contract.default_install_image().into(),
        cert_sans: Vec::new(),
        pod_subnets: vec!["10.244.0.0/16".into()],
        service_subnets: vec!["10.96.0.0/12".into()],
        allow_scheduling_on_control_planes: true,
        kubeprism_port: 7445,
        cni: "none".into(),
        proxy_disabled: true,
        config_patches: Vec::new(),
    }
}

/// A control plane `hostname` at `address` (a /24 on `eth0`), installing to `/dev/sda`.
pub fn control_plane(hostname: &str, address: &str) -> NodeSpec {
    NodeSpec {
        role: Role::ControlPlane,
        install_disk: "/dev/sda".into(),
        network: NodeNetwork {
            hostname: hostname.into(),
            links: vec![Link {
                name: "eth0".into(),
                addresses: vec![format!("{address}/24")],
                routes: Vec::new(),
                mtu: None,
                vlans: Vec::new(),
            }],
            nameservers: Vec::new(),
        },
        config_patches: Vec::new(),
        cert_sans: Vec::new(),
    }
}
