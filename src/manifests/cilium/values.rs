//! The install settings of Cilium, typed: the subset of the Helm chart's values that Vixens manages.

use std::collections::BTreeMap;

/// IP address management mode (`ipam.mode` in the chart, `ipam` key of `cilium-config`).
///
/// Talos documents `kubernetes`: pod CIDRs come from the Node objects, allocated by kube-controller-manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpamMode {
    /// `kubernetes`: PodCIDRs from `Node.spec.podCIDRs` (Talos default).
    Kubernetes,
    /// `cluster-pool`: the operator allocates per-node CIDRs from a cluster pool (the chart's own default).
    ClusterPool,
}

impl IpamMode {
    /// The value written to `cilium-config` (`kubernetes` or `cluster-pool`).
    pub fn as_str(self) -> &'static str {
        match self {
            IpamMode::Kubernetes => "kubernetes",
            IpamMode::ClusterPool => "cluster-pool",
        }
    }

    /// Parses the `cilium-config` spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "kubernetes" => Some(IpamMode::Kubernetes),
            "cluster-pool" => Some(IpamMode::ClusterPool),
            _ => None,
        }
    }
}

/// How pod traffic crosses nodes (`routingMode` / `tunnelProtocol` in the chart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingMode {
    /// `routing-mode: tunnel` with `tunnel-protocol: vxlan` (the chart's default).
    TunnelVxlan,
    /// `routing-mode: native`; `ipv4_native_routing_cidr` is the CIDR in which pod traffic is not masqueraded
    /// (`ipv4-native-routing-cidr`), e.g. the cluster's pod CIDR `10.244.0.0/16`.
    Native {
        /// IPv4 CIDR, e.g. `10.244.0.0/16`.
        ipv4_native_routing_cidr: String,
    },
}

/// Hubble (`hubble.*` in the chart): the observability layer in the agent, its relay and its web UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubbleValues {
    /// `hubble.enabled` (chart default true): Hubble server in every agent on `:4244` with mTLS.
    pub enabled: bool,
    /// `hubble.relay.enabled` (chart default false): the hubble-relay Deployment and Service.
    pub relay: bool,
    /// `hubble.ui.enabled` (chart default false): the hubble-ui Deployment, Service and nginx config.
    pub ui: bool,
}

impl Default for HubbleValues {
    fn default() -> Self {
        HubbleValues {
            enabled: true,
            relay: false,
            ui: false,
        }
    }
}

/// L2 announcements (`l2announcements.*` in the chart): agents answer ARP for LoadBalancer IPs.
///
/// Lease tunables are Go durations (`15s`, `5s`, `2s` are Cilium's own defaults when unset); the chart writes a
/// key only when the value is set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct L2AnnouncementValues {
    /// `enable-l2-announcements` (also grants the agent access to Leases).
    pub enabled: bool,
    /// Interface regexes (Go RE2 syntax), used as the L2 announcement policy's interfaces when the policy
    /// names none, e.g. `^eth[0-9]+`. Empty means every interface.
    pub interfaces: Vec<String>,
    /// `l2-announcements-lease-duration`, e.g. `15s`.
    pub lease_duration: Option<String>,
    /// `l2-announcements-renew-deadline`, e.g. `5s`.
    pub lease_renew_deadline: Option<String>,
    /// `l2-announcements-retry-period`, e.g. `2s`.
    pub lease_retry_period: Option<String>,
}

/// Everything the Cilium renderer needs, with Talos's documented values as defaults.
///
/// Source: the Cilium Helm charts' `values.yaml` (1.17.0 to 1.20.0) and the Talos guide "Deploying Cilium CNI"
/// (ipam `kubernetes`, kube-proxy replacement, KubePrism `localhost:7445`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiliumValues {
    /// Cilium version without the `v`, e.g. `1.17.0` (see [`super::version::SUPPORTED`]).
    pub version: String,
    /// Replaces the `quay.io/cilium` registry prefix of every image (for mirrors), e.g. `registry.lan/cilium`.
    pub image_repository: Option<String>,
    /// Namespace of every namespaced object (`kube-system`).
    pub namespace: String,
    /// `cluster-name` (`default`).
    pub cluster_name: String,
    /// `cluster-id`, 0..=255 (0 when not in a cluster mesh).
    pub cluster_id: u32,
    /// `kube-proxy-replacement` (`true` on Talos, whose kube-proxy is disabled).
    pub kube_proxy_replacement: bool,
    /// API server host the agents use before Services work (`localhost`, KubePrism on Talos).
    pub k8s_service_host: String,
    /// API server port (7445, KubePrism).
    pub k8s_service_port: u16,
    /// IPAM mode (`kubernetes`).
    pub ipam_mode: IpamMode,
    /// Routing mode (tunnel with VXLAN).
    pub routing: RoutingMode,
    /// Replicas of the cilium-operator Deployment (chart default 2).
    pub operator_replicas: u32,
    /// Hubble settings.
    pub hubble: HubbleValues,
    /// L2 announcement settings.
    pub l2_announcements: L2AnnouncementValues,
    /// Extra `cilium-config` keys the renderer does not manage; validated by
    /// [`super::validate::validate_extra_config`].
    pub extra_config: BTreeMap<String, String>,
    /// Put a digest of each workload's ConfigMap into its pod template, so a configuration change rolls the
    /// agents, the operator, Envoy, relay and UI (the chart's `rollOutCiliumPods` and `*.rollOutPods`; default
    /// true). See [`super::rollout`].
    pub roll_out_pods: bool,
}

impl Default for CiliumValues {
    fn default() -> Self {
        CiliumValues {
            version: super::version::DEFAULT_VERSION.to_string(),
            image_repository: None,
            namespace: "kube-system".to_string(),
            cluster_name: "default".to_string(),
            cluster_id: 0,
            kube_proxy_replacement: true,
            k8s_service_host: "localhost".to_string(),
            k8s_service_port: 7445,
            ipam_mode: IpamMode::Kubernetes,
            routing: RoutingMode::TunnelVxlan,
            operator_replicas: 2,
            hubble: HubbleValues::default(),
            l2_announcements: L2AnnouncementValues::default(),
            extra_config: BTreeMap::new(),
            roll_out_pods: true,
        }
    }
}
