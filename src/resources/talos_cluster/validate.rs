//! Plan-time validation (issue 4, "Plan-time validation"): every error carries the attribute path it is about.
//! Unknown values (from resources not yet applied) are skipped, never rejected.

use super::checks;
use crate::cty::{AttributePath, Value};
use crate::framework::{Diagnostic, Diagnostics};
use crate::talos::client::{split_address, ApplyMode};
use crate::talos::config::{
    endpoint_host, patch::parse_patch, render, typed, RenderError, Role, DEFAULT_POD_SUBNET,
    DEFAULT_SERVICE_SUBNET,
};
use crate::talos::contract::{Contract, KubernetesVersion};
use crate::talos::secrets::SecretsBundle;
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

fn attr(name: &str) -> AttributePath {
    AttributePath::attr(name)
}

pub(crate) fn node_path(index: usize) -> AttributePath {
    attr("nodes").join_index(index)
}

/// Node name -> (index in the `nodes` list, node).
type Nodes<'a> = BTreeMap<String, (usize, &'a Value)>;

/// The `name` attribute of a node: errors about a whole node point there, since Terraform shows a path to a
/// nested block itself at the resource header, and the line names the node.
fn path_of(nodes: &Nodes, name: &str) -> AttributePath {
    nodes
        .get(name)
        .map(|(i, _)| node_path(*i).join_attr("name"))
        .unwrap_or_else(|| attr("nodes"))
}

/// Reports duplicate node names; the rest of validation sees the first node of each name.
fn validate_names(list: &[Value], diags: &mut Diagnostics) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, node) in list.iter().enumerate() {
        if let Some(name) = node.get("name").as_str() {
            if name.is_empty() {
                diags.error_at(
                    node_path(i).join_attr("name"),
                    "Empty node name",
                    "Give every node a name.",
                );
            } else if let Some(first) = seen.insert(name.to_ascii_lowercase(), i) {
                // Names are hostnames, and DNS and Kubernetes (Node names are lowercased) ignore case.
                diags.error_at(
                    node_path(i).join_attr("name"),
                    "Duplicate node name",
                    format!(
                        "{name:?} is also the name of nodes[{first}] (node names are hostnames: case does not count)."
                    ),
                );
            } else {
                check_hostname(name, node_path(i).join_attr("name"), "node name", diags);
            }
        }
    }
}

/// Validates the whole configuration. Errors about a node name it (Terraform shows a `dynamic "nodes"` block's
/// shared line).
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    let mut own = Diagnostics::new();
    validate_all(config, &mut own);
    own.name_list_items(config, "nodes", "Node");
    diags.extend(own);
}

fn validate_all(config: &Value, diags: &mut Diagnostics) {
    let contract = validate_versions(config, diags);
    validate_scalars(config, diags);
    super::reach::validate(config, diags);
    validate_patches(
        config.get("config_patches"),
        &attr("config_patches"),
        contract_if_known(config, contract),
        diags,
    );
    for name in ["pod_subnets", "service_subnets"] {
        for (i, v) in config.get(name).as_list().unwrap_or(&[]).iter().enumerate() {
            if let Some(text) = v.as_str() {
                if text.parse::<IpNet>().is_err() {
                    diags.error_at(
                        attr(name).join_index(i),
                        "Invalid CIDR",
                        format!("{text:?} is not a CIDR."),
                    );
                }
            }
        }
    }
    validate_cluster_subnets(config, diags);
    let patch_contract = contract_if_known(config, contract);
    let Some(list) = config.get("nodes").as_list() else {
        return; // unknown or absent: nothing more to check now
    };
    validate_names(list, diags);
    if list.iter().any(|n| !n.get("name").is_known()) {
        return; // nodes generated from values known only later (e.g. a dynamic block in a module)
    }
    let Some(nodes) = super::model::node_entries(config.get("nodes")) else {
        return;
    };
    validate_nodes(&nodes, patch_contract, diags);
    warn_without_workload_nodes(config, &nodes, diags);
    validate_vips_and_endpoint(config, &nodes, diags);
    validate_node_networks(config, &nodes, diags);
    validate_unique_interface_addresses(&nodes, diags);
    if !diags.has_errors() {
        validate_rendered(config, &nodes, diags);
    }
}

/// The contract patches are checked against: only when `talos_version` is known (null means the default).
fn contract_if_known(config: &Value, contract: Option<Contract>) -> Option<Contract> {
    config
        .get("talos_version")
        .is_known()
        .then_some(contract)
        .flatten()
}

fn validate_versions(config: &Value, diags: &mut Diagnostics) -> Option<Contract> {
    let contract = match config.get("talos_version") {
        Value::String(v) => match Contract::parse(v) {
            Ok(c) => Some(c),
            Err(e) => {
                diags.error_at(
                    attr("talos_version"),
                    "Unsupported Talos version",
                    e.to_string(),
                );
                None
            }
        },
        Value::Null => Some(Contract::DEFAULT),
        _ => None,
    };
    if let (Value::String(v), Some(contract)) = (config.get("kubernetes_version"), contract) {
        match KubernetesVersion::parse(v).and_then(|k| k.check_supported_by(contract)) {
            Ok(()) => {}
            Err(e) => diags.error_at(
                attr("kubernetes_version"),
                "Unsupported Kubernetes version",
                e,
            ),
        }
    }
    contract
}

fn validate_scalars(config: &Value, diags: &mut Diagnostics) {
    if config.get("cluster_name").as_str() == Some("") {
        diags.error_at(
            attr("cluster_name"),
            "Empty cluster name",
            "Give the cluster a name.",
        );
    }
    if let Some(mode) = config.get("apply_mode").as_str() {
        if ApplyMode::parse(mode).is_none() {
            diags.error_at(
                attr("apply_mode"),
                "Invalid apply mode",
                "Use auto, no_reboot, reboot or staged.",
            );
        }
    }
    if let Some(cni) = config.get("cni").as_str() {
        if !matches!(cni, "none" | "flannel" | "custom") {
            diags.error_at(attr("cni"), "Invalid CNI", "Use none, flannel or custom.");
        }
    }
    for (i, san) in config
        .get("cert_sans")
        .as_list()
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        if let Some(Err(e)) = san.as_str().map(checks::cert_san) {
            diags.error_at(
                attr("cert_sans").join_index(i),
                "Invalid certificate SAN",
                e,
            );
        }
    }
    if let Some(Err(e)) = config
        .get("install_image")
        .as_str()
        .map(checks::image_reference)
    {
        diags.error_at(attr("install_image"), "Invalid install image", e);
    }
    check_installer_fits_contract(config, diags);
    super::extensions::validate(config, diags);
    if let Value::Number(_) = config.get("kubeprism_port") {
        if config
            .get("kubeprism_port")
            .as_i64()
            .is_none_or(|p| !(0..=65535).contains(&p))
        {
            diags.error_at(
                attr("kubeprism_port"),
                "Invalid port",
                "Use 0 (disabled) to 65535.",
            );
        }
    }
}

/// Each patch must parse; when the contract is known, its documents must fit the Go types Talos decodes them into
/// ([`typed::check_documents`]: keys the types have, values of their types; the node would refuse the config at
/// apply otherwise). Errors point at the patch (`config_patches[i]`) and name the key path, never a value.
fn validate_patches(
    value: &Value,
    path: &AttributePath,
    contract: Option<Contract>,
    diags: &mut Diagnostics,
) {
    for (i, patch) in value.as_list().unwrap_or(&[]).iter().enumerate() {
        let Some(text) = patch.as_str() else {
            continue;
        };
        match parse_patch(i, text) {
            Err(e) => diags.error_at(path.join_index(i), "Invalid config patch", e.reason),
            Ok(docs) => {
                let Some(contract) = contract else {
                    continue;
                };
                if let Err(problems) = typed::check_documents(contract, &docs) {
                    let (summary, refusal) = if problems.iter().any(typed::Problem::is_wrong_type) {
                        (
                            "Machine-config value of the wrong type in config patch",
                            "cannot unmarshal",
                        )
                    } else {
                        (
                            "Unknown machine-config key in config patch",
                            "unknown keys found during decoding",
                        )
                    };
                    let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
                    diags.error_at(
                        path.join_index(i),
                        summary,
                        format!(
                            "Talos would refuse the patched config (\"{refusal}\"):\n- {}",
                            listed.join("\n- ")
                        ),
                    );
                }
            }
        }
    }
}

/// Whether `name` is an RFC 1123 host name: dot-separated labels of 1 to 63 letters, digits and hyphens, not
/// starting or ending with a hyphen, 253 characters at most (what Talos accepts as a hostname).
pub fn is_hostname(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn check_hostname(value: &str, path: AttributePath, what: &str, diags: &mut Diagnostics) {
    if !is_hostname(value) {
        diags.error_at(
            path,
            format!("Invalid {what}"),
            format!(
                "{value:?} is not an RFC 1123 host name (labels of letters, digits and '-', not starting or \
                 ending with '-', at most 63 characters each, separated by dots); Talos refuses it as a hostname."
            ),
        );
    }
}

fn check_cidr(value: &Value, path: AttributePath, diags: &mut Diagnostics) -> Option<IpNet> {
    let text = value.as_str()?;
    match text.parse::<IpNet>() {
        Ok(net) => Some(net),
        Err(_) => {
            diags.error_at(
                path,
                "Invalid address",
                format!("{text:?} is not an address in CIDR form (e.g. 192.168.111.10/24)."),
            );
            None
        }
    }
}

fn check_mtu(value: &Value, path: AttributePath, diags: &mut Diagnostics) {
    if let Value::Number(_) = value {
        if let Err(e) = checks::mtu(value.as_i64()) {
            diags.error_at(path, "Invalid MTU", e);
        }
    }
}

fn check_routes(routes: &Value, path: &AttributePath, diags: &mut Diagnostics) {
    for (i, route) in routes.as_list().unwrap_or(&[]).iter().enumerate() {
        let p = path.join_attr("route").join_index(i);
        if let Some(network) = route.get("network").as_str() {
            if network.parse::<IpNet>().is_err() {
                diags.error_at(
                    p.join_attr("network"),
                    "Invalid route network",
                    format!("{network:?} is not a CIDR."),
                );
            }
        }
        if let Some(gw) = route.get("gateway").as_str() {
            if gw.parse::<IpAddr>().is_err() {
                diags.error_at(
                    p.join_attr("gateway"),
                    "Invalid gateway",
                    format!("{gw:?} is not an IP address."),
                );
            }
        }
    }
}

/// Interface addresses (IPs) of a node, from links and VLANs, with the VLAN subnets (for VIP checks).
fn node_networks(node: &Value, path: &AttributePath, diags: &mut Diagnostics) -> Vec<IpNet> {
    let mut nets = Vec::new();
    let mut link_names = HashSet::new();
    for (li, link) in node.get("link").as_list().unwrap_or(&[]).iter().enumerate() {
        let lp = path.join_attr("link").join_index(li);
        if let Some(name) = link.get("name").as_str() {
            // Linux `dev_valid_name` (net/core/dev.c): 1 to 15 bytes, not `.`/`..`, no `/`, `:` or whitespace.
            let valid = !name.is_empty()
                && name.len() < 16
                && name != "."
                && name != ".."
                && !name
                    .chars()
                    .any(|c| c == '/' || c == ':' || c.is_whitespace());
            if !valid {
                diags.error_at(
                    lp.join_attr("name"),
                    "Invalid link name",
                    format!("{name:?} is not an interface name: 1 to 15 characters without '/', ':' or spaces."),
                );
            }
            if !link_names.insert(name.to_string()) {
                diags.error_at(
                    lp.join_attr("name"),
                    "Duplicate link",
                    format!("Link {name:?} is declared twice."),
                );
            }
        }
        for (ai, a) in link
            .get("addresses")
            .as_list()
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            nets.extend(check_cidr(
                a,
                lp.join_attr("addresses").join_index(ai),
                diags,
            ));
        }
        check_routes(link.get("route"), &lp, diags);
        check_mtu(link.get("mtu"), lp.join_attr("mtu"), diags);
        let mut ids = HashSet::new();
        for (vi, vlan) in link.get("vlan").as_list().unwrap_or(&[]).iter().enumerate() {
            let vp = lp.join_attr("vlan").join_index(vi);
            if let Value::Number(_) = vlan.get("vlan_id") {
                match vlan.get("vlan_id").as_i64() {
                    Some(id @ 1..=4094) => {
                        if !ids.insert(id) {
                            diags.error_at(
                                vp.join_attr("vlan_id"),
                                "Duplicate VLAN",
                                format!("VLAN {id} appears twice on this link."),
                            );
                        }
                    }
                    _ => diags.error_at(
                        vp.join_attr("vlan_id"),
                        "Invalid VLAN id",
                        "A VLAN id is between 1 and 4094.",
                    ),
                }
            }
            for (ai, a) in vlan
                .get("addresses")
                .as_list()
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                nets.extend(check_cidr(
                    a,
                    vp.join_attr("addresses").join_index(ai),
                    diags,
                ));
            }
            check_routes(vlan.get("route"), &vp, diags);
            check_mtu(vlan.get("mtu"), vp.join_attr("mtu"), diags);
        }
    }
    for (i, ns) in node
        .get("nameservers")
        .as_list()
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        if let Some(text) = ns.as_str() {
            if text.parse::<IpAddr>().is_err() {
                diags.error_at(
                    path.join_attr("nameservers").join_index(i),
                    "Invalid nameserver",
                    format!("{text:?} is not an IP address."),
                );
            }
        }
    }
    nets
}

fn validate_nodes(nodes: &Nodes, contract: Option<Contract>, diags: &mut Diagnostics) {
    let mut control_planes = 0usize;
    let mut roles_known = true;
    let mut addresses: HashMap<String, String> = HashMap::new();
    let mut hostnames: HashMap<String, String> = HashMap::new();
    for (name, &(index, node)) in nodes {
        let path = node_path(index);
        match node.get("role") {
            Value::String(r) => match Role::parse(r) {
                Some(Role::ControlPlane) => control_planes += 1,
                Some(Role::Worker) => {}
                None => diags.error_at(
                    path.join_attr("role"),
                    "Invalid role",
                    "Use controlplane or worker.",
                ),
            },
            _ => roles_known = false,
        }
        if let Some(host) = node.get("address").as_str() {
            match checks::node_address(host) {
                Ok(()) => {
                    if let Some(other) = addresses.insert(host.to_string(), name.clone()) {
                        diags.error_at(
                            path.join_attr("address"),
                            "Duplicate address",
                            format!("{host} is also the address of node {other:?}."),
                        );
                    }
                }
                Err(e) => diags.error_at(path.join_attr("address"), "Invalid node address", e),
            }
        }
        if let Some(Err(e)) = node
            .get("cert_fingerprint")
            .as_str()
            .map(crate::talos::client::tls::SpkiFingerprint::parse)
        {
            diags.error_at(
                path.join_attr("cert_fingerprint"),
                "Invalid certificate fingerprint",
                format!(
                    "Expected the base64 SHA-256 of the certificate's public key, as the node's console prints it \
                     (44 characters ending in '='): {e}."
                ),
            );
        }
        if let Some(disk) = node.get("install_disk").as_str() {
            if let Err(e) = checks::install_disk(disk) {
                diags.error_at(path.join_attr("install_disk"), "Invalid install disk", e);
            }
        }
        let hostname = match node.get("hostname") {
            Value::String(h) => {
                check_hostname(h, path.join_attr("hostname"), "hostname", diags);
                Some(h.clone())
            }
            Value::Null => Some(name.clone()),
            _ => None,
        };
        if let Some(hostname) = hostname {
            if let Some(other) = hostnames.insert(hostname.to_ascii_lowercase(), name.clone()) {
                diags.error_at(
                    path.join_attr("hostname"),
                    "Duplicate hostname",
                    format!("{hostname:?} is also the hostname of node {other:?}."),
                );
            }
        }
        validate_patches(
            node.get("config_patches"),
            &path.join_attr("config_patches"),
            contract,
            diags,
        );
    }
    if roles_known && (control_planes == 0 || control_planes % 2 == 0) {
        // At the last node's role (a line Terraform can show), or at `nodes` when there is none.
        let at = nodes
            .values()
            .map(|(i, _)| *i)
            .max()
            .map_or_else(|| attr("nodes"), |i| node_path(i).join_attr("role"));
        diags.error_at(
            at,
            "Control planes must be an odd number",
            format!("Found {control_planes} control planes; etcd needs an odd number (1, 3, 5) to keep quorum."),
        );
    }
}

/// Warns when no node can run workloads: no worker and control planes tainted
/// `node-role.kubernetes.io/control-plane:NoSchedule` (Talos adds it unless
/// `cluster.allowSchedulingOnControlPlanes`). Every pod without that toleration (Argo CD, the Cilium operator...)
/// then stays Pending. Only when every role and the flag are known.
fn warn_without_workload_nodes(config: &Value, nodes: &Nodes, diags: &mut Diagnostics) {
    let allow = match config.get("allow_scheduling_on_control_planes") {
        Value::Bool(b) => *b,
        Value::Null => false,
        _ => return,
    };
    let mut has_worker = false;
    for &(_, node) in nodes.values() {
        match node.get("role").as_str().and_then(Role::parse) {
            Some(Role::Worker) => has_worker = true,
            Some(Role::ControlPlane) => {}
            None => return, // unknown or invalid: reported elsewhere
        }
    }
    if !allow && !has_worker && !nodes.is_empty() {
        diags.push(
            Diagnostic::warning(
                "No node can run workloads",
                "Every node is a control plane and `allow_scheduling_on_control_planes` is false, so Talos taints them \
                 node-role.kubernetes.io/control-plane:NoSchedule, and pods without that toleration stay Pending: \
                 hubble-relay and hubble-ui of vixens_cilium (which warns and does not wait for them; the Cilium \
                 agent, Envoy and operator tolerate the taint, so the CNI works), Argo CD and your applications. \
                 Set `allow_scheduling_on_control_planes = true` or add a worker.",
            )
            .at(attr("allow_scheduling_on_control_planes")),
        );
    }
}

fn validate_vips_and_endpoint(config: &Value, nodes: &Nodes, diags: &mut Diagnostics) {
    let mut vips: Vec<(String, IpAddr)> = Vec::new();
    let mut node_ips: HashMap<IpAddr, String> = HashMap::new();
    let mut cp_hosts = HashSet::new();
    let mut cps_without_vip = Vec::new();
    for (name, &(index, node)) in nodes {
        let path = node_path(index);
        let nets = node_networks(node, &path, diags);
        let is_cp = node.get("role").as_str() == Some("controlplane");
        let address_host = node
            .get("address")
            .as_str()
            .and_then(|a| split_address(a).ok())
            .map(|(h, _)| h);
        if let Some(host) = &address_host {
            if let Ok(ip) = host.parse::<IpAddr>() {
                node_ips.insert(ip, name.clone());
            }
            if is_cp {
                cp_hosts.insert(host.clone());
            }
        }
        for net in &nets {
            node_ips.insert(net.addr(), name.clone());
            if is_cp {
                cp_hosts.insert(net.addr().to_string());
            }
        }
        let mut has_vip = false;
        for (li, link) in node.get("link").as_list().unwrap_or(&[]).iter().enumerate() {
            for (vi, vlan) in link.get("vlan").as_list().unwrap_or(&[]).iter().enumerate() {
                let Some(vip) = vlan.get("vip").as_str() else {
                    continue;
                };
                has_vip = true;
                let vp = path
                    .join_attr("link")
                    .join_index(li)
                    .join_attr("vlan")
                    .join_index(vi)
                    .join_attr("vip");
                if !is_cp && node.get("role").is_known() {
                    diags.error_at(
                        vp.clone(),
                        "VIP on a worker",
                        "A VIP belongs on control planes only.",
                    );
                }
                let Ok(ip) = vip.parse::<IpAddr>() else {
                    diags.error_at(vp, "Invalid VIP", format!("{vip:?} is not an IP address."));
                    continue;
                };
                let subnets: Vec<IpNet> = vlan
                    .get("addresses")
                    .as_list()
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(|a| a.as_str()?.parse::<IpNet>().ok())
                    .collect();
                if vlan.get("addresses").is_wholly_known()
                    && !subnets.iter().any(|n| n.trunc().contains(&ip))
                {
                    diags.error_at(
                        vp.clone(),
                        "VIP outside the VLAN subnet",
                        format!("{vip} is not inside any address of this VLAN."),
                    );
                }
                vips.push((name.clone(), ip));
                let _ = vp;
            }
        }
        if is_cp && !has_vip {
            cps_without_vip.push(name.clone());
        }
    }
    if let Some((first_node, first)) = vips.first() {
        for (name, vip) in &vips {
            if vip != first {
                diags.error_at(path_of(nodes, name), "Different VIPs", format!("Node {name:?} has VIP {vip} but {first_node:?} has {first}: all control planes share one VIP."));
            }
        }
        for name in &cps_without_vip {
            diags.error_at(
                path_of(nodes, name),
                "Missing VIP",
                format!("Control plane {name:?} has no VIP; all control planes share {first}."),
            );
        }
        for (_, vip) in &vips {
            if let Some(owner) = node_ips.get(vip) {
                diags.error_at(
                    path_of(nodes, owner),
                    "VIP equals a node address",
                    format!("{vip} is an address of node {owner:?}."),
                );
            }
        }
    }
    validate_endpoint(config, vips.first().map(|(_, ip)| *ip), &cp_hosts, diags);
}

fn validate_endpoint(
    config: &Value,
    vip: Option<IpAddr>,
    cp_hosts: &HashSet<String>,
    diags: &mut Diagnostics,
) {
    let Some(endpoint) = config.get("endpoint").as_str() else {
        return;
    };
    let path = attr("endpoint");
    if let Err(reason) = endpoint_port(endpoint) {
        diags.error_at(path, "Invalid endpoint", format!("{endpoint:?}: {reason}"));
        return;
    }
    let Some(host) = endpoint_host(endpoint) else {
        diags.error_at(
            path,
            "Invalid endpoint",
            format!("{endpoint:?} is not an https://host:port URL."),
        );
        return;
    };
    match host.parse::<IpAddr>() {
        Ok(ip) => {
            if Some(ip) != vip && !cp_hosts.contains(&host) && config.get("nodes").is_wholly_known() {
                diags.error_at(path, "Endpoint host is not the VIP or a control plane", format!("{host} is neither the VIP nor an address of a control plane."));
            }
        }
        Err(_) => diags.push(
            Diagnostic::warning(
                "Endpoint is a DNS name",
                format!("{host:?} must resolve to the VIP or the control planes; Vixens cannot check that."),
            )
            .at(path),
        ),
    }
}

/// The port of an `https://host:port` endpoint, when given, must be 1 to 65535 (the API server's TCP port); the
/// URL is parsed by the `url` crate (WHATWG URL), which refuses a port that is not a number up to 65535.
fn endpoint_port(endpoint: &str) -> Result<(), String> {
    let refused = || Err("its port is not a TCP port (1 to 65535).".to_string());
    match url::Url::parse(endpoint) {
        Err(url::ParseError::InvalidPort) => refused(),
        Ok(url) if url.port() == Some(0) => refused(),
        _ => Ok(()),
    }
}

/// One pod or service subnet in effect: where to report it, `pod` or `service`, the network, and whether the user
/// wrote it (else it is Talos's default).
type Subnet = (AttributePath, &'static str, IpNet, bool);

/// The pod and service subnets in effect (Talos's defaults when unset); `None` while one of the lists is unknown.
fn cluster_subnets(config: &Value) -> Option<Vec<Subnet>> {
    let mut out = Vec::new();
    for (name, what, default) in [
        ("pod_subnets", "pod", DEFAULT_POD_SUBNET),
        ("service_subnets", "service", DEFAULT_SERVICE_SUBNET),
    ] {
        let value = config.get(name);
        if !value.is_wholly_known() {
            return None;
        }
        let list = value.as_list().unwrap_or(&[]);
        if list.is_empty() {
            out.extend(
                default
                    .parse::<IpNet>()
                    .ok()
                    .map(|n| (attr(name), what, n, false)),
            );
        }
        for (i, item) in list.iter().enumerate() {
            if let Some(net) = item.as_str().and_then(|t| t.parse::<IpNet>().ok()) {
                out.push((attr(name).join_index(i), what, net.trunc(), true));
            }
        }
    }
    Some(out)
}

fn overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Pod and service subnets must not overlap each other: Kubernetes could not tell a pod from a service address.
fn validate_cluster_subnets(config: &Value, diags: &mut Diagnostics) {
    let Some(subnets) = cluster_subnets(config) else {
        return;
    };
    for (j, (path_b, what_b, b, explicit_b)) in subnets.iter().enumerate() {
        for (path_a, what_a, a, _) in &subnets[..j] {
            if overlap(a, b) {
                // Reported at the subnet the user wrote, not at a default.
                let at = if *explicit_b { path_b } else { path_a }.clone();
                diags.error_at(
                    at,
                    "Overlapping cluster subnets",
                    format!("The {what_b} subnet {b} overlaps the {what_a} subnet {a}."),
                );
            }
        }
    }
}

/// No node address may fall inside the pod or service subnets (its traffic would be routed into them).
fn validate_node_networks(config: &Value, nodes: &Nodes, diags: &mut Diagnostics) {
    let Some(subnets) = cluster_subnets(config) else {
        return;
    };
    for &(index, node) in nodes.values() {
        let path = node_path(index);
        let mut addresses: Vec<(AttributePath, IpNet)> = Vec::new();
        if let Some(ip) = node
            .get("address")
            .as_str()
            .and_then(|a| split_address(a).ok())
            .and_then(|(h, _)| h.parse::<IpAddr>().ok())
        {
            addresses.push((path.join_attr("address"), IpNet::from(ip)));
        }
        addresses.extend(
            interface_addresses(node, &path)
                .into_iter()
                .map(|(at, net)| (at, net.trunc())),
        );
        for (at, net) in addresses {
            if let Some((_, what, subnet, _)) = subnets.iter().find(|(_, _, s, _)| overlap(s, &net))
            {
                diags.error_at(
                    at,
                    format!("Node network inside the {what} subnets"),
                    format!("{net} overlaps the {what} subnet {subnet}: choose node and cluster networks apart."),
                );
            }
        }
    }
}

/// The interface addresses (CIDRs that parse) of the node at `path`: each link's `addresses`, then each of its
/// VLANs', with the attribute path of every entry.
fn interface_addresses(node: &Value, path: &AttributePath) -> Vec<(AttributePath, IpNet)> {
    let mut out = Vec::new();
    for (li, link) in node.get("link").as_list().unwrap_or(&[]).iter().enumerate() {
        let lp = path.join_attr("link").join_index(li);
        let mut lists = vec![(lp.join_attr("addresses"), link.get("addresses"))];
        for (vi, vlan) in link.get("vlan").as_list().unwrap_or(&[]).iter().enumerate() {
            let vp = lp.join_attr("vlan").join_index(vi);
            lists.push((vp.join_attr("addresses"), vlan.get("addresses")));
        }
        for (lpath, list) in lists {
            for (ai, a) in list.as_list().unwrap_or(&[]).iter().enumerate() {
                if let Some(net) = a.as_str().and_then(|t| t.parse::<IpNet>().ok()) {
                    out.push((lpath.join_index(ai), net));
                }
            }
        }
    }
    out
}

/// Refuses an interface address (the host of a link or VLAN CIDR) that another node also has: two nodes
/// answering one IP break ARP/NDP on that network.
fn validate_unique_interface_addresses(nodes: &Nodes, diags: &mut Diagnostics) {
    let mut by_index: Vec<(&String, &(usize, &Value))> = nodes.iter().collect();
    by_index.sort_by_key(|(_, (i, _))| *i);
    let mut owners: HashMap<IpAddr, &String> = HashMap::new();
    for (name, &(index, node)) in by_index {
        let path = node_path(index);
        let mine: Vec<(AttributePath, IpAddr)> = interface_addresses(node, &path)
            .into_iter()
            .map(|(at, net)| (at, net.addr()))
            .collect();
        for (at, ip) in &mine {
            match owners.get(ip) {
                Some(other) if *other != name => diags.error_at(
                    at.clone(),
                    "Duplicate interface address",
                    format!("{ip} is also an interface address of node {other:?}."),
                ),
                _ => {}
            }
        }
        for (_, ip) in mine {
            owners.entry(ip).or_insert(name);
        }
    }
}

/// With every value known, renders each node's machine config (placeholder secrets: only its structure matters)
/// and runs the check the apply runs before sending it ([`crate::talos::config::check`]), so a patch that breaks a
/// rule Talos enforces fails the plan, at the patches that made it.
fn validate_rendered(config: &Value, nodes: &Nodes, diags: &mut Diagnostics) {
    if !super::plan::inputs(config).is_wholly_known() {
        return;
    }
    let m = super::model::model(config);
    let secrets = SecretsBundle::placeholder();
    for (name, node) in &m.nodes {
        let reason = match render(&m.cluster, &node.spec, &secrets) {
            Err(RenderError::Invalid(reason)) => reason,
            Ok(rendered) => {
                check_patched_hostname(&m.cluster, node, &rendered, nodes, diags);
                continue;
            }
            Err(_) => continue,
        };
        let index = nodes.get(name).map(|(i, _)| *i);
        let at = match index {
            Some(i) if !node.spec.config_patches.is_empty() => {
                node_path(i).join_attr("config_patches")
            }
            _ if !m.cluster.config_patches.is_empty() => attr("config_patches"),
            Some(i) => node_path(i),
            None => attr("nodes"),
        };
        diags.error_at(
            at,
            "Invalid machine config after patches",
            format!("The machine config of node {name:?} would be refused: {reason}."),
        );
    }
}

/// Refuses patches that give a node another static hostname than its `hostname` attribute (the node name by
/// default), or none: the apply waits for the control planes under that name to join etcd, and `etcd_members`
/// and the Kubernetes Node objects carry it, so it must be known at plan. The error points at the patches that
/// set it (the cluster's when they already do, else the node's) and says to set `hostname` instead.
fn check_patched_hostname(
    cluster: &crate::talos::config::ClusterSpec,
    node: &super::model::NodeModel,
    rendered: &str,
    nodes: &Nodes,
    diags: &mut Diagnostics,
) {
    use crate::talos::config::network::static_hostname;
    let expected = &node.spec.network.hostname;
    let effective = static_hostname(rendered);
    if effective.as_deref() == Some(expected.as_str()) {
        return;
    }
    let Some(index) = nodes.get(&node.name).map(|(i, _)| *i) else {
        return;
    };
    let mut without_node_patches = node.spec.clone();
    without_node_patches.config_patches.clear();
    let by_cluster = render(
        cluster,
        &without_node_patches,
        &SecretsBundle::placeholder(),
    )
    .is_ok_and(|r| static_hostname(&r).as_deref() != Some(expected.as_str()));
    let at = if by_cluster {
        attr("config_patches")
    } else {
        node_path(index).join_attr("config_patches")
    };
    let what = match &effective {
        Some(h) => format!("set the hostname of node {:?} to {h:?}", node.name),
        None => format!("remove the static hostname of node {:?}", node.name),
    };
    let fix = match &effective {
        Some(h) => format!("set hostname = {h:?} in nodes[{index}] and remove it from the patch"),
        None => "keep a static hostname (the `hostname` attribute)".to_string(),
    };
    diags.error_at(
        at,
        "Hostname set by a config patch",
        format!(
            "The config patches {what} (HostnameConfig on Talos 1.12+, machine.network.hostname on 1.11), but the \
             node's hostname attribute says {expected:?}: the apply waits for control planes to join etcd under \
             that name, and etcd_members and the Kubernetes Node carry it. To rename the node, {fix}."
        ),
    );
}

/// An installer image whose tag is a Talos release older than the `talos_version` contract installs an OS that
/// cannot parse the rendered config (a Talos 1.11 node does not register the 1.12 network documents:
/// pkg/machinery/config/internal/registry/registry.go@v1.11.6 answers "not registered"). Refused at plan.
fn check_installer_fits_contract(config: &Value, diags: &mut Diagnostics) {
    let (Some(image), Some(version)) = (
        config.get("install_image").as_str(),
        config.get("talos_version").as_str(),
    ) else {
        return;
    };
    let (Some(tag), Ok(contract)) = (
        crate::talos::ops::image_tag(image),
        Contract::parse(version),
    ) else {
        return;
    };
    let Some(installed) = crate::talos::contract::release_contract(tag) else {
        return; // a tag that is not a Talos release (a digest, a custom build): nothing to compare
    };
    if installed < contract {
        diags.error_at(
            attr("install_image"),
            "Installer older than the config contract",
            format!(
                "install_image installs Talos {tag}, but talos_version = {version:?} renders the Talos {contract} \
                 machine config, which Talos {installed} cannot parse. Use an installer of Talos {contract} or \
                 later, or set talos_version to \"{installed}\"."
            ),
        );
    }
}
