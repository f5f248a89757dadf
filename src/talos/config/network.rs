//! Node network settings and their two renderings:
//! - contract 1.11: `machine.network{hostname, interfaces[{interface, addresses, routes, mtu, vlans[{vlanId,
//!   addresses, routes, mtu, vip{ip}}]}], nameservers}` (talos `v1alpha1.NetworkConfig`, `Device`, `Vlan`);
//! - contracts 1.12+: documents `HostnameConfig{hostname}`, `LinkConfig{name, up, mtu, addresses[{address}],
//!   routes[{destination, gateway, metric}]}`, `VLANConfig{name: <link>.<id>, vlanID, parent, up, ...}`,
//!   `Layer2VIPConfig{name: <vip>, link}` and `ResolverConfig{nameservers[{address}]}` (talos
//!   `pkg/machinery/config/types/network`, schema `network.*V1Alpha1`).

use crate::yaml::{Mapping, Value};
use serde::Serialize;

/// A static route. `network` is a CIDR (`0.0.0.0/0` for the default route).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Route {
    /// Destination CIDR.
    pub network: String,
    /// Gateway IP.
    pub gateway: String,
    /// Metric, when set.
    pub metric: Option<u32>,
}

/// A VLAN on a link.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Vlan {
    /// 802.1Q id, 1..=4094.
    pub vlan_id: u16,
    /// Static addresses in CIDR form.
    pub addresses: Vec<String>,
    /// Routes.
    pub routes: Vec<Route>,
    /// Shared layer-2 VIP (control planes only).
    pub vip: Option<String>,
    /// MTU, when set.
    pub mtu: Option<u32>,
}

/// A physical link (e.g. `eth0`) with its own addresses and VLANs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Link {
    /// Interface name.
    pub name: String,
    /// Static addresses on the untagged link, CIDR form.
    pub addresses: Vec<String>,
    /// Routes on the untagged link.
    pub routes: Vec<Route>,
    /// MTU, when set.
    pub mtu: Option<u32>,
    /// VLANs on this link.
    pub vlans: Vec<Vlan>,
}

/// A node's network: hostname, links and nameservers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeNetwork {
    /// Static hostname.
    pub hostname: String,
    /// Links.
    pub links: Vec<Link>,
    /// DNS servers (IPs).
    pub nameservers: Vec<String>,
}

fn is_default_route(cidr: &str) -> bool {
    cidr == "0.0.0.0/0" || cidr == "::/0"
}

fn legacy_routes(routes: &[Route]) -> Value {
    let items = routes.iter().map(|r| {
        let mut m = Mapping::new();
        m.insert("network".into(), r.network.clone().into());
        m.insert("gateway".into(), r.gateway.clone().into());
        if let Some(metric) = r.metric {
            m.insert("metric".into(), metric.into());
        }
        Value::Object(m)
    });
    Value::Array(items.collect())
}

fn strings(values: &[String]) -> Value {
    Value::Array(values.iter().cloned().map(Value::from).collect())
}

/// `machine.network` for contract 1.11.
pub fn legacy_machine_network(net: &NodeNetwork) -> Value {
    let interfaces = net.links.iter().map(|link| {
        let mut m = Mapping::new();
        m.insert("interface".into(), link.name.clone().into());
        if !link.addresses.is_empty() {
            m.insert("addresses".into(), strings(&link.addresses));
        }
        if !link.routes.is_empty() {
            m.insert("routes".into(), legacy_routes(&link.routes));
        }
        if let Some(mtu) = link.mtu {
            m.insert("mtu".into(), mtu.into());
        }
        if !link.vlans.is_empty() {
            let vlans = link.vlans.iter().map(|v| {
                let mut vm = Mapping::new();
                vm.insert("vlanId".into(), u64::from(v.vlan_id).into());
                if !v.addresses.is_empty() {
                    vm.insert("addresses".into(), strings(&v.addresses));
                }
                if !v.routes.is_empty() {
                    vm.insert("routes".into(), legacy_routes(&v.routes));
                }
                if let Some(mtu) = v.mtu {
                    vm.insert("mtu".into(), mtu.into());
                }
                if let Some(vip) = &v.vip {
                    let mut ip = Mapping::new();
                    ip.insert("ip".into(), vip.clone().into());
                    vm.insert("vip".into(), Value::Object(ip));
                }
                Value::Object(vm)
            });
            m.insert("vlans".into(), Value::Array(vlans.collect()));
        }
        Value::Object(m)
    });
    let mut m = Mapping::new();
    m.insert("hostname".into(), net.hostname.clone().into());
    if !net.links.is_empty() {
        m.insert("interfaces".into(), Value::Array(interfaces.collect()));
    }
    if !net.nameservers.is_empty() {
        m.insert("nameservers".into(), strings(&net.nameservers));
    }
    Value::Object(m)
}

#[derive(Serialize)]
struct AddressConfig {
    address: String,
}

#[derive(Serialize)]
struct RouteConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    destination: Option<String>,
    gateway: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    metric: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LinkConfig {
    api_version: &'static str,
    kind: &'static str,
    name: String,
    up: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    mtu: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    addresses: Vec<AddressConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<RouteConfig>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VlanConfig {
    api_version: &'static str,
    kind: &'static str,
    name: String,
    #[serde(rename = "vlanID")]
    vlan_id: u16,
    parent: String,
    up: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    mtu: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    addresses: Vec<AddressConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<RouteConfig>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Layer2VipConfig {
    api_version: &'static str,
    kind: &'static str,
    name: String,
    link: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HostnameConfig {
    api_version: &'static str,
    kind: &'static str,
    hostname: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResolverConfig {
    api_version: &'static str,
    kind: &'static str,
    nameservers: Vec<AddressConfig>,
}

const V1ALPHA1: &str = "v1alpha1";

fn addresses(values: &[String]) -> Vec<AddressConfig> {
    values
        .iter()
        .map(|a| AddressConfig { address: a.clone() })
        .collect()
}

fn routes(values: &[Route]) -> Vec<RouteConfig> {
    values
        .iter()
        .map(|r| RouteConfig {
            destination: (!is_default_route(&r.network)).then(|| r.network.clone()),
            gateway: r.gateway.clone(),
            metric: r.metric,
        })
        .collect()
}

/// The VLAN link name Talos uses: `<parent>.<id>` (e.g. `eth0.111`).
pub fn vlan_link_name(parent: &str, vlan_id: u16) -> String {
    format!("{parent}.{vlan_id}")
}

fn to_value<T: Serialize>(doc: &T) -> Result<Value, serde_json::Error> {
    serde_json::to_value(doc)
}

/// The static hostname a rendered machine config (multi-document YAML) gives the node: `HostnameConfig.hostname`
/// (contracts 1.12+) or `machine.network.hostname` (1.11), as Talos's HostnameSpec controllers read them
/// (internal/app/machined/pkg/controllers/network/hostname_config.go@v1.12.11); `None` when it sets none (the
/// node then picks its own, e.g. `auto: stable` or `talos-xxx-yyy`) or does not parse.
pub fn static_hostname(rendered: &str) -> Option<String> {
    let docs: Vec<Value> = crate::yaml::documents(rendered).ok()?;
    let from_document = docs
        .iter()
        .find(|d| d.get("kind").and_then(Value::as_str) == Some("HostnameConfig"))
        .and_then(|d| d.get("hostname"));
    let legacy = || {
        docs.iter()
            .find(|d| d.get("kind").is_none())
            .and_then(|d| d.get("machine")?.get("network")?.get("hostname"))
    };
    from_document
        .or_else(legacy)
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

/// The network documents for contracts 1.12+, in order: HostnameConfig, ResolverConfig (when nameservers are
/// set), then per link its LinkConfig, VLANConfigs and Layer2VIPConfigs.
///
/// # Errors
/// Only a serialization failure (not expected).
pub fn network_documents(net: &NodeNetwork) -> Result<Vec<Value>, serde_json::Error> {
    let mut docs = vec![to_value(&HostnameConfig {
        api_version: V1ALPHA1,
        kind: "HostnameConfig",
        hostname: net.hostname.clone(),
    })?];
    if !net.nameservers.is_empty() {
        docs.push(to_value(&ResolverConfig {
            api_version: V1ALPHA1,
            kind: "ResolverConfig",
            nameservers: addresses(&net.nameservers),
        })?);
    }
    for link in &net.links {
        docs.push(to_value(&LinkConfig {
            api_version: V1ALPHA1,
            kind: "LinkConfig",
            name: link.name.clone(),
            up: true,
            mtu: link.mtu,
            addresses: addresses(&link.addresses),
            routes: routes(&link.routes),
        })?);
        for vlan in &link.vlans {
            let name = vlan_link_name(&link.name, vlan.vlan_id);
            docs.push(to_value(&VlanConfig {
                api_version: V1ALPHA1,
                kind: "VLANConfig",
                name: name.clone(),
                vlan_id: vlan.vlan_id,
                parent: link.name.clone(),
                up: true,
                mtu: vlan.mtu,
                addresses: addresses(&vlan.addresses),
                routes: routes(&vlan.routes),
            })?);
            if let Some(vip) = &vlan.vip {
                docs.push(to_value(&Layer2VipConfig {
                    api_version: V1ALPHA1,
                    kind: "Layer2VIPConfig",
                    name: vip.clone(),
                    link: name,
                })?);
            }
        }
    }
    Ok(docs)
}
