//! Machine-config rendering per node and contract, the way `talosctl gen config` builds it (talos
//! `pkg/machinery/config/generate/{init,worker,network}.go`, tag v1.13.9, with the contract switches of
//! `pkg/machinery/config/contract.go`), followed by strategic-merge patches (cluster-level, then node-level)
//! and a structural check before anything is sent.
//!
//! Differences from talosctl's defaults, on purpose: CNI `none` and kube-proxy disabled by default (Cilium
//! replaces both), a static hostname and static network per node.

pub mod check;
pub mod network;
pub mod patch;
pub mod typed;
pub mod v1alpha1;

use crate::talos::contract::Contract;
use crate::talos::secrets::SecretsBundle;
use crate::yaml::Value;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
pub use network::{Link, NodeNetwork, Route, Vlan};
use std::collections::BTreeMap;
use v1alpha1 as v1;

/// Default pod CIDR (`constants.DefaultIPv4PodNet`).
pub const DEFAULT_POD_SUBNET: &str = "10.244.0.0/16";
/// Default service CIDR (`constants.DefaultIPv4ServiceNet`).
pub const DEFAULT_SERVICE_SUBNET: &str = "10.96.0.0/12";
/// Default KubePrism port (`constants.DefaultKubePrismPort`).
pub const DEFAULT_KUBEPRISM_PORT: u16 = 7445;
/// Label Talos puts on control planes after contract 1.7 (`constants.LabelExcludeFromExternalLB`).
pub const LABEL_EXCLUDE_FROM_EXTERNAL_LB: &str =
    "node.kubernetes.io/exclude-from-external-load-balancers";

/// A node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Runs etcd and the Kubernetes control plane.
    ControlPlane,
    /// Runs workloads only.
    Worker,
}

impl Role {
    /// `controlplane` or `worker` (`machine.type`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ControlPlane => "controlplane",
            Role::Worker => "worker",
        }
    }

    /// Parses `controlplane` or `worker`.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "controlplane" => Some(Role::ControlPlane),
            "worker" => Some(Role::Worker),
            _ => None,
        }
    }
}

/// Cluster-wide inputs of the machine configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// `cluster.clusterName`.
    pub name: String,
    /// `cluster.controlPlane.endpoint`, `https://host:port`.
    pub endpoint: String,
    /// Config contract.
    pub contract: Contract,
    /// Kubernetes version without `v` (images are tagged `v<version>`).
    pub kubernetes_version: String,
    /// `machine.install.image`.
    pub install_image: String,
    /// Extra SANs for the API server and Talos API certificates.
    pub cert_sans: Vec<String>,
    /// Pod CIDRs.
    pub pod_subnets: Vec<String>,
    /// Service CIDRs.
    pub service_subnets: Vec<String>,
    /// `cluster.allowSchedulingOnControlPlanes`.
    pub allow_scheduling_on_control_planes: bool,
    /// KubePrism port; 0 disables KubePrism.
    pub kubeprism_port: u16,
    /// CNI name: `none` (default), `flannel` or `custom`.
    pub cni: String,
    /// `cluster.proxy.disabled`.
    pub proxy_disabled: bool,
    /// Cluster-level patches (YAML), applied first, in order.
    pub config_patches: Vec<String>,
}

/// Per-node inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// Role.
    pub role: Role,
    /// `machine.install.disk`.
    pub install_disk: String,
    /// Hostname, links, VLANs, nameservers.
    pub network: NodeNetwork,
    /// Node-level patches (YAML), applied after the cluster-level ones.
    pub config_patches: Vec<String>,
    /// SANs of this node's certificates after the cluster's `cert_sans`: `machine.certSANs` (the Talos API
    /// certificate) and, on a control plane, `cluster.apiServer.certSANs`. Talos adds the node's IP addresses and
    /// hostname itself (internal/app/machined/pkg/controllers/secrets/api_cert_sans.go@v1.12.11), not the DNS name
    /// a client dials: the node address, when it is a name, goes here.
    pub cert_sans: Vec<String>,
}

/// Where a patch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchScope {
    /// `config_patches` of the cluster.
    Cluster,
    /// `config_patches` of the node.
    Node,
}

/// Why a config could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A patch does not parse.
    #[error("{scope:?} {source}")]
    Patch {
        /// Cluster or node patch list.
        scope: PatchScope,
        /// Which patch and why.
        source: patch::PatchError,
    },
    /// The rendered config breaks a structural rule Talos enforces.
    #[error("rendered machine config is invalid: {0}")]
    Invalid(String),
    /// YAML serialization failed (not expected).
    #[error("YAML serialization failed: {0}")]
    Yaml(String),
}

fn b64(pem: &str) -> String {
    STANDARD.encode(pem.as_bytes())
}

fn pair(crt: &str, key: &str) -> v1::PemPair {
    v1::PemPair {
        crt: b64(crt),
        key: if key.is_empty() {
            String::new()
        } else {
            b64(key)
        },
    }
}

/// The host part of an `https://host:port` endpoint (IPv6 brackets removed; a DNS name as the URL standard
/// normalises it, lower case), when it parses as an https URL with a valid port (`url` crate, WHATWG URL).
pub fn endpoint_host(endpoint: &str) -> Option<String> {
    let url = url::Url::parse(endpoint).ok()?;
    if url.scheme() != "https" {
        return None;
    }
    match url.host()? {
        url::Host::Ipv6(ip) => Some(ip.to_string()),
        host => Some(host.to_string()),
    }
}

fn image(repo: &str, version: &str) -> String {
    format!("{repo}:v{}", version.trim_start_matches('v'))
}

fn pod_security_admission() -> Value {
    static CACHE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| {
    let text = "name: PodSecurity\nconfiguration:\n  apiVersion: pod-security.admission.config.k8s.io/v1alpha1\n  \
                kind: PodSecurityConfiguration\n  defaults:\n    audit: restricted\n    audit-version: latest\n    \
                enforce: baseline\n    enforce-version: latest\n    warn: restricted\n    warn-version: latest\n  \
                exemptions:\n    namespaces: [kube-system]\n    runtimeClasses: []\n    usernames: []\n";
    crate::yaml::from_str(text).unwrap_or(Value::Null)
    })
    .clone()
}

fn audit_policy() -> Value {
    static CACHE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    CACHE
        .get_or_init(|| {
            crate::yaml::from_str(
                "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n",
            )
            .unwrap_or(Value::Null)
        })
        .clone()
}

fn discovery() -> Value {
    static CACHE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    CACHE
        .get_or_init(|| {
            crate::yaml::from_str(
                "enabled: true\nregistries:\n  kubernetes:\n    disabled: true\n  service: {}\n",
            )
            .unwrap_or(Value::Null)
        })
        .clone()
}

/// `a` then the entries of `b` not in it.
fn union(a: &[String], b: &[String]) -> Vec<String> {
    let mut out = a.to_vec();
    out.extend(b.iter().filter(|s| !a.contains(s)).cloned());
    out
}

fn machine_config(c: &ClusterSpec, n: &NodeSpec, s: &SecretsBundle) -> v1::MachineConfig {
    let contract = c.contract;
    let control_plane = n.role == Role::ControlPlane;
    let legacy = !contract.hide_legacy_flags();
    let network = if contract.multidoc_network() {
        contract
            .legacy_machine_network()
            .then(|| Value::Object(Default::default()))
    } else {
        Some(network::legacy_machine_network(&n.network))
    };
    let mut node_labels = BTreeMap::new();
    if control_plane {
        node_labels.insert(LABEL_EXCLUDE_FROM_EXTERNAL_LB.to_string(), String::new());
    }
    v1::MachineConfig {
        machine_type: n.role.as_str(),
        token: s.trustd_token.clone(),
        ca: pair(&s.os.crt, if control_plane { &s.os.key } else { "" }),
        cert_sans: union(&c.cert_sans, &n.cert_sans),
        kubelet: v1::KubeletConfig {
            image: image("ghcr.io/siderolabs/kubelet", &c.kubernetes_version),
            default_runtime_seccomp_profile_enabled: true,
            disable_manifests_directory: true,
        },
        network,
        install: v1::InstallConfig {
            disk: n.install_disk.clone(),
            image: c.install_image.clone(),
            wipe: false,
            grub_use_uki_cmdline: contract.grub_uki_cmdline().then_some(true),
        },
        features: v1::FeaturesConfig {
            rbac: legacy.then_some(true),
            stable_hostname: (!contract.multidoc_network()).then_some(true),
            apid_check_ext_key_usage: legacy.then_some(true),
            disk_quota_support: true,
            kube_prism: (c.kubeprism_port > 0).then_some(v1::KubePrism {
                enabled: true,
                port: c.kubeprism_port,
            }),
            host_dns: v1::HostDns {
                enabled: true,
                forward_kube_dns_to_host: true,
            },
        },
        node_labels,
    }
}

fn cluster_config(c: &ClusterSpec, n: &NodeSpec, s: &SecretsBundle) -> v1::ClusterConfig {
    let control_plane = n.role == Role::ControlPlane;
    let k8s = &c.kubernetes_version;
    let mut api_sans = Vec::new();
    if c.contract.endpoint_in_cert_sans() {
        api_sans.extend(endpoint_host(&c.endpoint));
    }
    let api_sans = union(&api_sans, &union(&c.cert_sans, &n.cert_sans));
    v1::ClusterConfig {
        id: s.cluster_id.clone(),
        secret: s.cluster_secret.clone(),
        control_plane: v1::ControlPlane {
            endpoint: c.endpoint.clone(),
        },
        cluster_name: c.name.clone(),
        network: v1::ClusterNetwork {
            dns_domain: "cluster.local".into(),
            pod_subnets: c.pod_subnets.clone(),
            service_subnets: c.service_subnets.clone(),
            cni: v1::Cni {
                name: c.cni.clone(),
            },
        },
        token: s.bootstrap_token.clone(),
        secretbox_encryption_secret: (control_plane && !s.secretbox_encryption_secret.is_empty())
            .then(|| s.secretbox_encryption_secret.clone()),
        aescbc_encryption_secret: s.aescbc_encryption_secret.clone().filter(|_| control_plane),
        ca: pair(&s.k8s.crt, if control_plane { &s.k8s.key } else { "" }),
        aggregator_ca: control_plane.then_some(pair(&s.k8s_aggregator.crt, &s.k8s_aggregator.key)),
        service_account: control_plane.then_some(v1::PemKey {
            key: b64(&s.k8s_service_account_key),
        }),
        api_server: control_plane.then_some(v1::ApiServer {
            image: image("registry.k8s.io/kube-apiserver", k8s),
            cert_sans: api_sans,
            disable_pod_security_policy: (!c.contract.hide_legacy_flags()).then_some(true),
            admission_control: vec![pod_security_admission()],
            audit_policy: audit_policy(),
        }),
        controller_manager: control_plane.then_some(v1::ImageOnly {
            image: image("registry.k8s.io/kube-controller-manager", k8s),
        }),
        proxy: control_plane.then_some(v1::Proxy {
            image: image("registry.k8s.io/kube-proxy", k8s),
            disabled: c.proxy_disabled,
        }),
        scheduler: control_plane.then_some(v1::ImageOnly {
            image: image("registry.k8s.io/kube-scheduler", k8s),
        }),
        discovery: discovery(),
        etcd: control_plane.then_some(v1::Etcd {
            ca: pair(&s.etcd.crt, &s.etcd.key),
        }),
        extra_manifests: control_plane.then_some(Vec::new()),
        inline_manifests: control_plane.then_some(Vec::new()),
        allow_scheduling_on_control_planes: control_plane && c.allow_scheduling_on_control_planes,
    }
}

/// The documents before patches: the `v1alpha1` document, then (1.12+) the network documents.
///
/// # Errors
/// [`RenderError::Yaml`] only on a serialization failure.
pub fn base_documents(
    c: &ClusterSpec,
    n: &NodeSpec,
    s: &SecretsBundle,
) -> Result<Vec<Value>, RenderError> {
    let config = v1::Config {
        version: "v1alpha1",
        debug: false,
        machine: machine_config(c, n, s),
        cluster: cluster_config(c, n, s),
    };
    let yaml_err = |e: serde_json::Error| RenderError::Yaml(e.to_string());
    let mut docs = vec![serde_json::to_value(&config).map_err(yaml_err)?];
    if c.contract.multidoc_network() {
        docs.extend(network::network_documents(&n.network).map_err(yaml_err)?);
    }
    Ok(docs)
}

/// Renders a node's complete machine config: base documents, cluster patches, node patches, structural check;
/// returns the multi-document YAML Talos accepts in `ApplyConfiguration`.
///
/// # Errors
/// [`RenderError::Patch`] naming the patch; [`RenderError::Invalid`] when the result breaks a Talos rule.
pub fn render(c: &ClusterSpec, n: &NodeSpec, s: &SecretsBundle) -> Result<String, RenderError> {
    let mut docs = base_documents(c, n, s)?;
    for (scope, patches) in [
        (PatchScope::Cluster, &c.config_patches),
        (PatchScope::Node, &n.config_patches),
    ] {
        for (index, text) in patches.iter().enumerate() {
            let parsed = patch::parse_patch(index, text)
                .map_err(|source| RenderError::Patch { scope, source })?;
            patch::apply(&mut docs, parsed);
        }
    }
    check::check_documents(c.contract, &docs).map_err(RenderError::Invalid)?;
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&crate::yaml::to_string(doc).map_err(|e| RenderError::Yaml(e.to_string()))?);
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests;
