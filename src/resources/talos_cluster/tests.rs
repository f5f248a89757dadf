//! Unit tests of validation and plan modification on configuration values (no nodes involved).

use super::*;
use crate::cty::{AttributePath, Value};
use crate::framework::Severity;

fn vlan(id: i64, address: &str, vip: Option<&str>) -> Value {
    Value::object([
        ("vlan_id", Value::from(id)),
        ("addresses", Value::string_list([address])),
        ("vip", vip.map_or(Value::Null, Value::from)),
        ("mtu", Value::Null),
        ("route", Value::List(vec![])),
    ])
}

fn node(address: &str, role: &str, ip: u8, vip: Option<&str>) -> Value {
    let link = Value::object([
        ("name", Value::from("eth0")),
        ("addresses", Value::Null),
        ("mtu", Value::Null),
        ("route", Value::List(vec![])),
        (
            "vlan",
            Value::List(vec![
                vlan(111, &format!("192.168.111.{ip}/24"), vip),
                vlan(208, &format!("192.168.208.{ip}/24"), None),
            ]),
        ),
    ]);
    Value::object([
        ("address", Value::from(address)),
        ("role", Value::from(role)),
        ("install_disk", Value::Null),
        ("hostname", Value::Null),
        ("nameservers", Value::Null),
        ("config_patches", Value::Null),
        ("link", Value::List(vec![link])),
    ])
}

pub(crate) fn config(cps: usize, workers: usize) -> Value {
    let mut nodes = Vec::new();
    for i in 0..cps {
        let ip = 11 + i as u8;
        nodes.push((
            format!("cp{}", i + 1),
            node(
                &format!("127.0.111.{ip}"),
                "controlplane",
                ip,
                Some("192.168.111.160"),
            ),
        ));
    }
    for i in 0..workers {
        let ip = 21 + i as u8;
        nodes.push((
            format!("w{}", i + 1),
            node(&format!("127.0.111.{ip}"), "worker", ip, None),
        ));
    }
    Value::object([
        ("cluster_name", Value::from("vixens")),
        ("endpoint", Value::from("https://192.168.111.160:6443")),
        ("talos_version", Value::from("1.12")),
        (
            "nodes",
            Value::List(
                nodes
                    .into_iter()
                    .map(|(name, mut n)| {
                        n.set("name", Value::from(name.as_str()));
                        n
                    })
                    .collect(),
            ),
        ),
    ])
}

fn errors(config: &Value) -> Vec<(String, String)> {
    let mut diags = Diagnostics::new();
    validate::validate(config, &mut diags);
    diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            (
                d.attribute
                    .as_ref()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                d.summary.clone(),
            )
        })
        .collect()
}

fn node_mut<'a>(c: &'a mut Value, name: &str) -> &'a mut Value {
    let Value::Object(top) = c else {
        panic!("config is an object")
    };
    let Some(Value::List(nodes)) = top.get_mut("nodes") else {
        panic!("nodes is a list")
    };
    nodes
        .iter_mut()
        .find(|n| n.get("name").as_str() == Some(name))
        .unwrap()
}

#[test]
fn valid_configs_pass() {
    assert_eq!(errors(&config(1, 0)), vec![]);
    assert_eq!(errors(&config(3, 2)), vec![]);
}

#[test]
fn even_control_planes_are_refused() {
    let e = errors(&config(2, 0));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].1.contains("odd"), "{e:?}");
}

#[test]
fn duplicates_vlans_cidrs_and_vips_have_paths() {
    let mut c = config(3, 1);
    node_mut(&mut c, "cp2").set("address", "127.0.111.11");
    node_mut(&mut c, "cp3").set("hostname", "cp1");
    let w1 = node_mut(&mut c, "w1");
    let vlans = w1
        .get_path_mut(&AttributePath::attr("link").join_index(0).join_attr("vlan"))
        .unwrap();
    *vlans = Value::List(vec![
        vlan(111, "192.168.111.21/24", Some("192.168.111.160")),
        vlan(111, "10.0.0.1", None),
        vlan(5000, "10.0.1.1/24", None),
    ]);
    let e = errors(&c);
    let has = |needle: &str, summary: &str| {
        e.iter()
            .any(|(p, s)| p.contains(needle) && s.contains(summary))
    };
    assert!(has("nodes[1]", "Duplicate address"), "{e:#?}");
    assert!(has("nodes[2]", "Duplicate hostname"), "{e:#?}");
    assert!(has("vlan[1].vlan_id", "Duplicate VLAN"), "{e:#?}");
    assert!(has("vlan[2].vlan_id", "Invalid VLAN id"), "{e:#?}");
    assert!(has("vlan[1].addresses[0]", "Invalid address"), "{e:#?}");
    assert!(has("vlan[0].vip", "VIP on a worker"), "{e:#?}");
}

#[test]
fn vip_rules() {
    let mut c = config(3, 0);
    let vip = AttributePath::attr("link")
        .join_index(0)
        .join_attr("vlan")
        .join_index(0)
        .join_attr("vip");
    *node_mut(&mut c, "cp2").get_path_mut(&vip).unwrap() = Value::from("192.168.111.170");
    *node_mut(&mut c, "cp3").get_path_mut(&vip).unwrap() = Value::from("10.9.9.9");
    let e = errors(&c);
    assert!(
        e.iter().any(|(_, s)| s.contains("Different VIPs")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|(p, s)| p.contains("nodes[2]") && s.contains("outside")),
        "{e:#?}"
    );
    let mut c = config(1, 0);
    *node_mut(&mut c, "cp1").get_path_mut(&vip).unwrap() = Value::from("192.168.111.11");
    c.set("endpoint", "https://192.168.111.11:6443");
    assert!(errors(&c)
        .iter()
        .any(|(_, s)| s.contains("VIP equals a node address")));
}

#[test]
fn endpoint_host_rules() {
    let mut c = config(1, 0);
    c.set("allow_scheduling_on_control_planes", true); // no other warning than the endpoint's
    c.set("endpoint", "https://127.0.111.11:6443");
    assert_eq!(errors(&c), vec![], "a control-plane address is allowed");
    c.set("endpoint", "https://10.1.1.1:6443");
    assert!(errors(&c).iter().any(|(p, _)| p == "endpoint"));
    c.set("endpoint", "https://k8s.lan:6443");
    let mut diags = Diagnostics::new();
    validate::validate(&c, &mut diags);
    assert!(!diags.has_errors() && diags.iter().any(|d| d.severity == Severity::Warning));
    c.set("endpoint", "http://x");
    assert!(errors(&c)
        .iter()
        .any(|(p, s)| p == "endpoint" && s.contains("Invalid")));
}

#[test]
fn versions_and_patches() {
    let mut c = config(1, 0);
    c.set("talos_version", "1.9");
    c.set("config_patches", Value::string_list(["machine: ["]));
    let e = errors(&c);
    assert!(e.iter().any(|(p, _)| p == "talos_version"), "{e:?}");
    assert!(
        e.iter().any(|(p, _)| p.starts_with("config_patches")),
        "{e:?}"
    );
    let mut c = config(1, 0);
    c.set("kubernetes_version", "1.20.0");
    assert!(errors(&c).iter().any(|(p, _)| p == "kubernetes_version"));
}

#[test]
fn unknown_values_are_tolerated() {
    let mut c = config(3, 1);
    node_mut(&mut c, "cp1").set("address", Value::Unknown);
    node_mut(&mut c, "cp2").set("role", Value::Unknown);
    node_mut(&mut c, "w1").set("link", Value::Unknown);
    c.set("kubernetes_version", Value::Unknown);
    assert_eq!(errors(&c), vec![]);
    let mut c = config(1, 0);
    c.set("nodes", Value::Unknown);
    assert_eq!(errors(&c), vec![]);
}

#[test]
fn schema_builds_and_names_every_input() {
    let s = schema::schema();
    for name in [
        "cluster_name",
        "endpoint",
        "talos_version",
        "machine_secrets",
        "kubernetes",
        "node_status",
    ] {
        assert!(s.block.find_attribute(name).is_some(), "{name}");
    }
    assert!(s.block.find_attribute("machine_secrets").unwrap().sensitive);
    assert!(s.block.find_block("nodes").is_some());
}

#[test]
fn nodes_with_unknown_names_are_not_counted_yet() {
    // Terraform 0.15 validates a module's `dynamic "nodes"` with one all-unknown element.
    let mut c = config(1, 0);
    let Value::Object(top) = &mut c else {
        panic!("config is an object")
    };
    let Some(Value::List(nodes)) = top.get_mut("nodes") else {
        panic!("nodes is a list")
    };
    nodes.iter_mut().for_each(|n| n.set("name", Value::Unknown));
    assert_eq!(errors(&c), vec![]);
}

#[test]
fn duplicate_node_names_are_reported_at_the_name() {
    let mut c = config(3, 0);
    let Value::Object(top) = &mut c else {
        panic!("config is an object")
    };
    let Some(Value::List(nodes)) = top.get_mut("nodes") else {
        panic!("nodes is a list")
    };
    nodes[2].set("name", Value::from("cp1"));
    let errs = errors(&c);
    assert!(
        errs.iter().any(|(path, summary)| path.contains("nodes[2]")
            && path.contains("name")
            && summary == "Duplicate node name"),
        "{errs:?}"
    );
}

#[test]
fn names_and_hostnames_must_be_host_names() {
    let mut c = config(3, 0);
    node_mut(&mut c, "cp2").set("name", "cp_2");
    node_mut(&mut c, "cp3").set("hostname", "-cp3.example.org");
    node_mut(&mut c, "cp1").set("hostname", "cp1.example.org");
    let e = errors(&c);
    assert_eq!(
        e,
        vec![
            ("nodes[1].name".into(), "Invalid node name".into()),
            ("nodes[2].hostname".into(), "Invalid hostname".into()),
        ]
    );
    assert!(validate::is_hostname("a-b.c1"));
    assert!(!validate::is_hostname(&"a".repeat(64)));
    assert!(!validate::is_hostname("a..b"));
}

#[test]
fn overlapping_subnets_are_refused_at_the_written_attribute() {
    let mut c = config(1, 0);
    c.set("pod_subnets", Value::string_list(["10.96.0.0/16"]));
    assert_eq!(
        errors(&c),
        vec![(
            "pod_subnets[0]".into(),
            "Overlapping cluster subnets".into()
        )]
    );
    c.set("pod_subnets", Value::string_list(["10.244.0.0/16"]));
    c.set(
        "service_subnets",
        Value::string_list(["10.100.0.0/16", "10.100.128.0/17"]),
    );
    assert_eq!(
        errors(&c),
        vec![(
            "service_subnets[1]".into(),
            "Overlapping cluster subnets".into()
        )]
    );
    let mut c = config(1, 0);
    c.set("service_subnets", Value::string_list(["192.168.208.0/20"]));
    assert_eq!(
        errors(&c),
        vec![(
            "nodes[0].link[0].vlan[1].addresses[0]".into(),
            "Node network inside the service subnets".into()
        )]
    );
    c.set("service_subnets", Value::Unknown);
    assert_eq!(errors(&c), vec![]);
}

#[test]
fn patch_keys_are_checked_against_the_contract_when_known() {
    let mut c = config(1, 0);
    c.set(
        "config_patches",
        Value::string_list(["machine:\n  kubelet:\n    extraArg: {a: b}\n"]),
    );
    node_mut(&mut c, "cp1").set(
        "config_patches",
        Value::string_list([
            "machine: {sysctls: {a: '1'}}",
            "cluster: {network: {cni: {flannel: {kubeNetworkPoliciesEnabled: true}}}}",
        ]),
    );
    assert_eq!(
        errors(&c),
        vec![
            (
                "config_patches[0]".into(),
                "Unknown machine-config key in config patch".into()
            ),
            (
                "nodes[0].config_patches[1]".into(),
                "Unknown machine-config key in config patch".into()
            ),
        ]
    );
    c.set("talos_version", Value::Unknown);
    assert_eq!(errors(&c), vec![]);
}

#[test]
fn rendered_structure_is_checked_at_plan() {
    let mut c = config(1, 0);
    // Talos 1.12 takes network documents only: a legacy hostname in machine.network is refused.
    node_mut(&mut c, "cp1").set(
        "config_patches",
        Value::string_list(["machine: {network: {hostname: other}}"]),
    );
    assert_eq!(
        errors(&c),
        vec![(
            "nodes[0].config_patches".into(),
            "Invalid machine config after patches".into()
        )]
    );
    node_mut(&mut c, "cp1").set("address", Value::Unknown);
    assert_eq!(
        errors(&c),
        vec![],
        "not rendered before every value is known"
    );
}

fn warnings(config: &Value) -> Vec<(String, String)> {
    let mut diags = Diagnostics::new();
    validate::validate(config, &mut diags);
    diags
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| {
            let path = d.attribute.as_ref().map(|p| p.to_string());
            (path.unwrap_or_default(), d.summary.clone())
        })
        .collect()
}

#[test]
fn a_cluster_where_no_node_can_run_workloads_is_warned_about() {
    let warned = |c: &Value| {
        warnings(c).contains(&(
            "allow_scheduling_on_control_planes".to_string(),
            "No node can run workloads".to_string(),
        ))
    };
    let mut c = config(1, 0);
    assert!(warned(&c), "{:?}", warnings(&c));
    c.set("allow_scheduling_on_control_planes", false);
    assert!(warned(&c));
    c.set("allow_scheduling_on_control_planes", true);
    assert!(!warned(&c));
    c.set("allow_scheduling_on_control_planes", Value::Unknown);
    assert!(!warned(&c), "unknown: not yet");
    assert!(!warned(&config(3, 1)), "a worker runs workloads");
    let mut c = config(3, 1);
    node_mut(&mut c, "w1").set("role", Value::Unknown);
    assert!(!warned(&c), "a role known later may be a worker");
}

#[test]
fn the_default_installer_is_the_pinned_release_of_the_contract() {
    for (version, tag) in [
        ("1.11", "v1.11.6"),
        ("1.12", "v1.12.11"),
        ("1.13", "v1.13.9"),
    ] {
        let mut c = config(1, 0);
        c.set("talos_version", version);
        let m = model::model(&c);
        assert_eq!(
            m.cluster.install_image,
            format!("ghcr.io/siderolabs/installer:{tag}")
        );
        c.set("install_image", "registry.lan/installer:v1.12.1");
        assert_eq!(
            model::model(&c).cluster.install_image,
            "registry.lan/installer:v1.12.1"
        );
    }
}

/// A state whose configs were rendered with the old unpinned default (`installer:latest`) plans no change: the
/// new default is written only with the next change.
#[tokio::test]
async fn states_rendered_with_the_unpinned_installer_keep_an_empty_plan() {
    let mut prior = config(1, 0);
    let rendered = "machine:\n  install:\n    image: ghcr.io/siderolabs/installer:latest\n";
    prior.set(
        "machine_configurations",
        Value::map([("cp1".to_string(), Value::from(rendered))]),
    );
    let mut status = std::collections::BTreeMap::new();
    status.insert(
        "cp1".to_string(),
        state::NodeStatus {
            talos_version: "v1.12.0".into(),
            stage: "running".into(),
            reachable: true,
            config_hash: crate::talos::ops::config_hash(rendered),
        },
    );
    state::set_status(&mut prior, &status);
    let mut change = PlannedChange {
        prior: prior.clone(),
        config: config(1, 0),
        planned: prior.clone(),
        requires_replace: Vec::new(),
    };
    plan::modify(&crate::framework::Context::for_tests(), &mut change)
        .await
        .unwrap();
    assert_eq!(change.planned, prior);
}
