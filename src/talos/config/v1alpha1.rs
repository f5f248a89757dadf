//! The subset of the `v1alpha1` machine-config document Vixens renders, field names as in talos
//! `pkg/machinery/config/types/v1alpha1/v1alpha1_types.go` and `config.schema.json` (`v1alpha1.Config`).
//! Empty/unset fields are omitted, as talosctl does (`omitempty`).

use serde::Serialize;
use std::collections::BTreeMap;

fn is_false(value: &bool) -> bool {
    !*value
}

/// The `v1alpha1` document: `version`, `debug`, `machine`, `cluster`.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Always `v1alpha1`.
    pub version: &'static str,
    /// Debug logging to the console; `false`.
    pub debug: bool,
    /// Node-level settings.
    pub machine: MachineConfig,
    /// Cluster-level settings.
    pub cluster: ClusterConfig,
}

/// A base64-encoded certificate and key (`crt`, `key`); workers get the certificate with an empty key.
#[derive(Debug, Clone, Serialize)]
pub struct PemPair {
    /// base64 of the certificate PEM.
    pub crt: String,
    /// base64 of the key PEM, or empty.
    pub key: String,
}

/// A base64-encoded private key (`serviceAccount`).
#[derive(Debug, Clone, Serialize)]
pub struct PemKey {
    /// base64 of the key PEM.
    pub key: String,
}

/// `machine`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineConfig {
    /// `controlplane` or `worker`.
    #[serde(rename = "type")]
    pub machine_type: &'static str,
    /// trustd token.
    pub token: String,
    /// OS CA (workers: certificate only).
    pub ca: PemPair,
    /// Extra SANs for the Talos API certificate.
    #[serde(rename = "certSANs")]
    pub cert_sans: Vec<String>,
    /// Kubelet settings.
    pub kubelet: KubeletConfig,
    /// Legacy network settings (contracts 1.11 and 1.12 only; 1.12 leaves it empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<serde_json::Value>,
    /// Installation.
    pub install: InstallConfig,
    /// Feature flags.
    pub features: FeaturesConfig,
    /// Node labels (control planes get `node.kubernetes.io/exclude-from-external-load-balancers`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub node_labels: BTreeMap<String, String>,
}

/// `machine.kubelet`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletConfig {
    /// `ghcr.io/siderolabs/kubelet:v<k8s>`.
    pub image: String,
    /// `true` (contracts after 1.1).
    pub default_runtime_seccomp_profile_enabled: bool,
    /// `true` (contracts after 1.2).
    pub disable_manifests_directory: bool,
}

/// `machine.install`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallConfig {
    /// Install disk device path, e.g. `/dev/sda`.
    pub disk: String,
    /// Installer image.
    pub image: String,
    /// `false`.
    pub wipe: bool,
    /// `true` after contract 1.11.
    #[serde(rename = "grubUseUKICmdline", skip_serializing_if = "Option::is_none")]
    pub grub_use_uki_cmdline: Option<bool>,
}

/// `machine.features`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeaturesConfig {
    /// `true` up to contract 1.11 (hidden afterwards).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rbac: Option<bool>,
    /// `true` up to contract 1.11 (HostnameConfig afterwards).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_hostname: Option<bool>,
    /// `true` up to contract 1.11 (hidden afterwards).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apid_check_ext_key_usage: Option<bool>,
    /// `true`.
    pub disk_quota_support: bool,
    /// KubePrism; omitted when disabled (port 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kube_prism: Option<KubePrism>,
    /// Host DNS.
    #[serde(rename = "hostDNS")]
    pub host_dns: HostDns,
}

/// `machine.features.kubePrism`.
#[derive(Debug, Clone, Serialize)]
pub struct KubePrism {
    /// `true`.
    pub enabled: bool,
    /// Port, 7445 by default.
    pub port: u16,
}

/// `machine.features.hostDNS`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostDns {
    /// `true`.
    pub enabled: bool,
    /// `true` (contracts after 1.7).
    #[serde(rename = "forwardKubeDNSToHost")]
    pub forward_kube_dns_to_host: bool,
}

/// `cluster`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfig {
    /// Discovery cluster id.
    pub id: String,
    /// Discovery cluster secret.
    pub secret: String,
    /// `controlPlane.endpoint`.
    pub control_plane: ControlPlane,
    /// Cluster name.
    pub cluster_name: String,
    /// Pod/service subnets and CNI.
    pub network: ClusterNetwork,
    /// Bootstrap token.
    pub token: String,
    /// Secretbox encryption secret (control planes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secretbox_encryption_secret: Option<String>,
    /// AES-CBC encryption secret (only for bundles that carry one instead of secretbox).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aescbc_encryption_secret: Option<String>,
    /// Kubernetes CA (workers: certificate only).
    pub ca: PemPair,
    /// Aggregator CA (control planes).
    #[serde(rename = "aggregatorCA", skip_serializing_if = "Option::is_none")]
    pub aggregator_ca: Option<PemPair>,
    /// Service-account key (control planes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<PemKey>,
    /// kube-apiserver (control planes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_server: Option<ApiServer>,
    /// kube-controller-manager (control planes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller_manager: Option<ImageOnly>,
    /// kube-proxy (control planes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<Proxy>,
    /// kube-scheduler (control planes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<ImageOnly>,
    /// Cluster discovery.
    pub discovery: serde_json::Value,
    /// etcd CA (control planes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd: Option<Etcd>,
    /// `[]` on control planes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_manifests: Option<Vec<String>>,
    /// `[]` on control planes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_manifests: Option<Vec<serde_json::Value>>,
    /// Set only when true.
    #[serde(skip_serializing_if = "is_false")]
    pub allow_scheduling_on_control_planes: bool,
}

/// `cluster.controlPlane`.
#[derive(Debug, Clone, Serialize)]
pub struct ControlPlane {
    /// `https://host:port`.
    pub endpoint: String,
}

/// `cluster.network`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetwork {
    /// `cluster.local`.
    pub dns_domain: String,
    /// Pod CIDRs.
    pub pod_subnets: Vec<String>,
    /// Service CIDRs.
    pub service_subnets: Vec<String>,
    /// CNI; `none` by default (Cilium is installed afterwards).
    pub cni: Cni,
}

/// `cluster.network.cni`.
#[derive(Debug, Clone, Serialize)]
pub struct Cni {
    /// `flannel`, `custom` or `none`.
    pub name: String,
}

/// `cluster.apiServer`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiServer {
    /// `registry.k8s.io/kube-apiserver:v<k8s>`.
    pub image: String,
    /// Extra certificate SANs.
    #[serde(rename = "certSANs")]
    pub cert_sans: Vec<String>,
    /// `true` up to contract 1.11.
    #[serde(
        rename = "disablePodSecurityPolicy",
        skip_serializing_if = "Option::is_none"
    )]
    pub disable_pod_security_policy: Option<bool>,
    /// Admission plugin configs (PodSecurity).
    pub admission_control: Vec<serde_json::Value>,
    /// Audit policy.
    pub audit_policy: serde_json::Value,
}

/// A component with only an image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageOnly {
    /// Container image.
    pub image: String,
}

/// `cluster.proxy`.
#[derive(Debug, Clone, Serialize)]
pub struct Proxy {
    /// Container image.
    pub image: String,
    /// `true` by default (Cilium replaces kube-proxy).
    #[serde(skip_serializing_if = "is_false")]
    pub disabled: bool,
}

/// `cluster.etcd`.
#[derive(Debug, Clone, Serialize)]
pub struct Etcd {
    /// etcd CA.
    pub ca: PemPair,
}
