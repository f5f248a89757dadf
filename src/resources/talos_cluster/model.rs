//! Reading a (wholly known) configuration or state value into the Talos domain types. Defaults live here.

use crate::cty::Value;
use crate::talos::client::tls::SpkiFingerprint;
use crate::talos::client::ApplyMode;
use crate::talos::config::{self, ClusterSpec, Link, NodeNetwork, NodeSpec, Role, Route, Vlan};
use crate::talos::contract::Contract;
use crate::talos::schematic::Schematic;
use std::collections::BTreeMap;

/// Default install disk.
pub const DEFAULT_INSTALL_DISK: &str = "/dev/sda";

/// One node of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeModel {
    /// Map key.
    pub name: String,
    /// Talos API address.
    pub address: String,
    /// Rendering inputs.
    pub spec: NodeSpec,
    /// `reinstall`: the config may be sent again to this node when it is found back in maintenance mode.
    pub reinstall: bool,
    /// `cert_fingerprint`: the pinned maintenance-mode certificate (validated at plan; `None` when unset).
    pub cert_fingerprint: Option<SpkiFingerprint>,
}

impl NodeModel {
    /// Whether this node is a control plane.
    pub fn is_control_plane(&self) -> bool {
        self.spec.role == Role::ControlPlane
    }
}

/// The whole configuration, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// Cluster-wide rendering inputs.
    pub cluster: ClusterSpec,
    /// Nodes by name (sorted).
    pub nodes: BTreeMap<String, NodeModel>,
    /// Apply mode for config changes.
    pub apply_mode: ApplyMode,
    /// `on_destroy.reset`.
    pub reset_on_destroy: bool,
    /// `on_destroy.graceful`.
    pub graceful_reset: bool,
    /// The Image Factory schematic of `system_extensions` and `extra_kernel_args` (`None` without them); when set,
    /// `cluster.install_image` is the factory's installer of it.
    pub schematic: Option<Schematic>,
    /// `image_factory`: the factory that serves the schematic's installer.
    pub image_factory: String,
}

impl Model {
    /// Control planes, sorted by name; the first is the bootstrap node.
    pub fn control_planes(&self) -> Vec<&NodeModel> {
        self.nodes
            .values()
            .filter(|n| n.is_control_plane())
            .collect()
    }

    /// Workers, sorted by name.
    pub fn workers(&self) -> Vec<&NodeModel> {
        self.nodes
            .values()
            .filter(|n| !n.is_control_plane())
            .collect()
    }
}

pub(crate) fn string_list(value: &Value) -> Vec<String> {
    value
        .as_list()
        .unwrap_or(&[])
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

pub(crate) fn opt_str<'a>(value: &'a Value, default: &'a str) -> &'a str {
    value.as_str().unwrap_or(default)
}

fn opt_u32(value: &Value) -> Option<u32> {
    value.as_i64().and_then(|v| u32::try_from(v).ok())
}

fn routes(value: &Value) -> Vec<Route> {
    value
        .as_list()
        .unwrap_or(&[])
        .iter()
        .map(|r| Route {
            network: opt_str(r.get("network"), "0.0.0.0/0").to_string(),
            gateway: opt_str(r.get("gateway"), "").to_string(),
            metric: opt_u32(r.get("metric")),
        })
        .collect()
}

fn links(value: &Value) -> Vec<Link> {
    value
        .as_list()
        .unwrap_or(&[])
        .iter()
        .map(|l| Link {
            name: opt_str(l.get("name"), "").to_string(),
            addresses: string_list(l.get("addresses")),
            routes: routes(l.get("route")),
            mtu: opt_u32(l.get("mtu")),
            vlans: l
                .get("vlan")
                .as_list()
                .unwrap_or(&[])
                .iter()
                .map(|v| Vlan {
                    vlan_id: v
                        .get("vlan_id")
                        .as_i64()
                        .and_then(|i| u16::try_from(i).ok())
                        .unwrap_or(0),
                    addresses: string_list(v.get("addresses")),
                    routes: routes(v.get("route")),
                    vip: v.get("vip").as_str().map(str::to_string),
                    mtu: opt_u32(v.get("mtu")),
                })
                .collect(),
        })
        .collect()
}

/// The host of a node address when it is a DNS name other than the node's hostname (Talos names its certificate
/// with its IP addresses and hostname already): the name the provider dials, which must be in the certificate.
fn address_name(address: &str, hostname: &str) -> Option<String> {
    let (host, _) = crate::talos::client::split_address(address).ok()?;
    (host.parse::<std::net::IpAddr>().is_err() && !host.eq_ignore_ascii_case(hostname))
        .then(|| host.to_ascii_lowercase())
}

/// Reads a node block value.
pub fn node(name: &str, value: &Value) -> NodeModel {
    let role = value
        .get("role")
        .as_str()
        .and_then(Role::parse)
        .unwrap_or(Role::Worker);
    let hostname = opt_str(value.get("hostname"), name);
    NodeModel {
        name: name.to_string(),
        address: opt_str(value.get("address"), "").to_string(),
        spec: NodeSpec {
            role,
            install_disk: opt_str(value.get("install_disk"), DEFAULT_INSTALL_DISK).to_string(),
            network: NodeNetwork {
                hostname: hostname.to_string(),
                links: links(value.get("link")),
                nameservers: string_list(value.get("nameservers")),
            },
            config_patches: string_list(value.get("config_patches")),
            cert_sans: address_name(opt_str(value.get("address"), ""), hostname)
                .into_iter()
                .collect(),
        },
        reinstall: value.get("reinstall").as_bool().unwrap_or(false),
        cert_fingerprint: value
            .get("cert_fingerprint")
            .as_str()
            .and_then(|f| SpkiFingerprint::parse(f).ok()),
    }
}

fn list_or(value: &Value, default: &str) -> Vec<String> {
    let list = string_list(value);
    if list.is_empty() {
        vec![default.to_string()]
    } else {
        list
    }
}

/// Reads the configuration (validated beforehand: unparseable versions fall back to defaults here).
pub fn model(value: &Value) -> Model {
    let contract = value
        .get("talos_version")
        .as_str()
        .and_then(|v| Contract::parse(v).ok())
        .unwrap_or(Contract::DEFAULT);
    let kubernetes_version = value
        .get("kubernetes_version")
        .as_str()
        .map(|v| v.trim_start_matches('v').to_string())
        .unwrap_or_else(|| contract.default_kubernetes_version().to_string());
    let schematic = super::extensions::schematic_of(value);
    let image_factory = super::extensions::factory_of(value);
    let install_image = match &schematic {
        Some(s) => super::extensions::installer_image(&image_factory, s, contract),
        None => opt_str(value.get("install_image"), contract.default_install_image()).to_string(),
    };
    let cluster = ClusterSpec {
        name: opt_str(value.get("cluster_name"), "").to_string(),
        endpoint: opt_str(value.get("endpoint"), "").to_string(),
        contract,
        kubernetes_version,
        install_image,
        cert_sans: string_list(value.get("cert_sans")),
        pod_subnets: list_or(value.get("pod_subnets"), config::DEFAULT_POD_SUBNET),
        service_subnets: list_or(value.get("service_subnets"), config::DEFAULT_SERVICE_SUBNET),
        allow_scheduling_on_control_planes: value
            .get("allow_scheduling_on_control_planes")
            .as_bool()
            .unwrap_or(false),
        kubeprism_port: value
            .get("kubeprism_port")
            .as_i64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(config::DEFAULT_KUBEPRISM_PORT),
        cni: opt_str(value.get("cni"), "none").to_string(),
        proxy_disabled: value.get("proxy_disabled").as_bool().unwrap_or(true),
        config_patches: string_list(value.get("config_patches")),
    };
    let nodes = node_entries(value.get("nodes"))
        .map(|m| {
            m.into_iter()
                .map(|(k, (_, v))| (k.clone(), node(&k, v)))
                .collect()
        })
        .unwrap_or_default();
    let on_destroy = value.get("on_destroy");
    Model {
        cluster,
        nodes,
        apply_mode: value
            .get("apply_mode")
            .as_str()
            .and_then(ApplyMode::parse)
            .unwrap_or(ApplyMode::Auto),
        reset_on_destroy: on_destroy.get("reset").as_bool().unwrap_or(true),
        graceful_reset: on_destroy.get("graceful").as_bool().unwrap_or(true),
        schematic,
        image_factory,
    }
}

/// The `nodes` list block by node name: name -> (index in the list, node object). `None` while the list is
/// unknown or null; entries whose name is unknown are left out, and of duplicate names the first is kept
/// (validation reports the others).
pub fn node_entries(nodes: &Value) -> Option<BTreeMap<String, (usize, &Value)>> {
    let list = nodes.as_list()?;
    let mut out = BTreeMap::new();
    for (i, node) in list.iter().enumerate() {
        if let Some(name) = node.get("name").as_str() {
            out.entry(name.to_string()).or_insert((i, node));
        }
    }
    Some(out)
}
