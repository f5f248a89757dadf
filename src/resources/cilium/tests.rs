//! Plan-time behaviour of `vixens_cilium`: validation with attribute paths and plans that never touch a cluster.

use super::*;
use crate::cty::{AttributePath, PathStep};
use crate::framework::Resource;

fn config(attrs: Vec<(&str, Value)>) -> Value {
    let mut v = Value::object(attrs);
    v.fill_nulls(&schema::schema().value_type());
    v
}

fn pool(name: &str, start: &str, stop: &str) -> Value {
    Value::object([
        ("name", Value::from(name)),
        ("service_selector", Value::Null),
        (
            "blocks",
            Value::List(vec![Value::object([
                ("cidr", Value::Null),
                ("start", start.into()),
                ("stop", stop.into()),
            ])]),
        ),
    ])
}

fn dev_config(kubernetes_host: Value) -> Value {
    config(vec![
        (
            "kubernetes",
            Value::List(vec![Value::object([
                ("host", kubernetes_host),
                ("ca_certificate", Value::Unknown),
                ("client_certificate", Value::Unknown),
                ("client_key", Value::Unknown),
            ])]),
        ),
        (
            "hubble",
            Value::object([
                ("enabled", true.into()),
                ("relay", true.into()),
                ("ui", true.into()),
            ]),
        ),
        (
            "l2_announcements",
            Value::object([
                ("enabled", true.into()),
                ("interfaces", Value::string_list(["^eth[0-9]+"])),
                ("lease_duration", Value::Null),
                ("lease_renew_deadline", Value::Null),
                ("lease_retry_period", Value::Null),
            ]),
        ),
        (
            "load_balancer_ip_pools",
            Value::List(vec![
                pool("assigned", "192.168.208.70", "192.168.208.79"),
                pool("auto", "192.168.208.80", "192.168.208.89"),
            ]),
        ),
        (
            "l2_policy",
            Value::object([
                ("name", Value::Null),
                ("interfaces", Value::Null),
                ("node_selector", Value::Null),
                ("service_selector", Value::Null),
                ("load_balancer_ips", true.into()),
                ("external_ips", Value::Null),
            ]),
        ),
    ])
}

fn paths(d: &Diagnostics) -> Vec<String> {
    d.iter()
        .filter_map(|d| d.attribute.as_ref())
        .map(|p| {
            p.steps
                .iter()
                .map(|s| match s {
                    PathStep::Attribute(a) => format!(".{a}"),
                    PathStep::Index(i) => format!("[{i}]"),
                    PathStep::Key(k) => format!("[{k:?}]"),
                })
                .collect::<String>()
        })
        .collect()
}

#[test]
fn dev_config_with_unknown_connection_validates() {
    let mut d = Diagnostics::new();
    Cilium.validate(&dev_config(Value::Unknown), &mut d);
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn validation_errors_carry_attribute_paths() {
    let mut c = dev_config(Value::from("https://127.0.0.1:6443"));
    c.set("version", "1.16.3");
    c.set("cluster_id", Value::from(300i64));
    c.set("routing_mode", "native");
    c.set(
        "extra_config",
        Value::map([("kube-proxy-replacement", Value::from("false"))]),
    );
    c.set(
        "load_balancer_ip_pools",
        Value::List(vec![
            pool("assigned", "192.168.208.79", "192.168.208.70"),
            pool("assigned", "192.168.208.75", "192.168.208.85"),
        ]),
    );
    let mut policy = c.get("l2_policy").clone();
    policy.set("interfaces", Value::string_list(["(unclosed"]));
    c.set("l2_policy", policy);
    let mut d = Diagnostics::new();
    Cilium.validate(&c, &mut d);
    let p = paths(&d);
    for want in [
        ".version",
        ".cluster_id",
        ".ipv4_native_routing_cidr",
        ".extra_config[\"kube-proxy-replacement\"]",
        ".load_balancer_ip_pools[0].blocks[0].stop",
        ".load_balancer_ip_pools[1].name",
        ".l2_policy.interfaces[0]",
    ] {
        assert!(p.contains(&want.to_string()), "missing {want} in {p:?}");
    }
    // Overlap between the two pools (.75-.79 is in both once the first range is valid).
    let mut c2 = dev_config(Value::Unknown);
    c2.set(
        "load_balancer_ip_pools",
        Value::List(vec![
            pool("a", "192.168.208.70", "192.168.208.79"),
            pool("b", "192.168.208.75", "192.168.208.85"),
        ]),
    );
    let mut d2 = Diagnostics::new();
    Cilium.validate(&c2, &mut d2);
    assert_eq!(paths(&d2), vec![".load_balancer_ip_pools[1].blocks[0]"]);
}

#[test]
fn missing_connection_is_reported() {
    let mut d = Diagnostics::new();
    Cilium.validate(&config(vec![]), &mut d);
    assert!(
        d.iter().any(|d| d.summary == "Missing connection settings"),
        "{d:?}"
    );
}

#[tokio::test]
async fn plan_with_unknown_connection_computes_inventory_and_leaves_certs_unknown() {
    let c = dev_config(Value::Unknown);
    let mut change = PlannedChange {
        prior: Value::Null,
        config: c.clone(),
        planned: c.clone(),
        requires_replace: Vec::new(),
    };
    Cilium
        .modify_plan(&Context::for_tests(), &mut change)
        .await
        .unwrap();
    let p = &change.planned;
    assert_eq!(p.get("id").as_str(), Some("kube-system"));
    assert_eq!(p.get("hubble_tls"), &Value::Unknown);
    assert_eq!(p.get("drift"), &Value::List(vec![]));
    let inv = Inventory::from_json(p.get("inventory").as_str().unwrap()).unwrap();
    assert_eq!(inv.len(), 34 + 3, "chart objects, two pools and the policy");
    assert!(inv
        .iter()
        .any(|r| r.kind == "CiliumLoadBalancerIPPool" && r.name == "auto"));
    assert!(inv
        .iter()
        .any(|r| r.kind == "CiliumL2AnnouncementPolicy" && r.name == "vixens"));

    // Pools unknown at plan: the inventory is unknown too.
    let mut unknown_pools = c.clone();
    unknown_pools.set("load_balancer_ip_pools", Value::Unknown);
    let mut change = PlannedChange {
        prior: Value::Null,
        config: unknown_pools.clone(),
        planned: unknown_pools,
        requires_replace: Vec::new(),
    };
    Cilium
        .modify_plan(&Context::for_tests(), &mut change)
        .await
        .unwrap();
    assert_eq!(change.planned.get("inventory"), &Value::Unknown);
}

#[tokio::test]
async fn certs_are_kept_on_update_and_dropped_without_hubble() {
    let c = dev_config(Value::from("https://127.0.0.1:6443"));
    let certs =
        crate::manifests::cilium::certs::generate("default", time::OffsetDateTime::now_utc())
            .unwrap();
    let mut prior = c.clone();
    prior.set("hubble_tls", ops::certs_to_json(&certs));
    prior.set("hubble_ca_certificate", certs.ca.cert_pem.as_str());
    prior.set(
        "drift",
        Value::string_list(["DaemonSet kube-system/cilium: missing"]),
    );
    let mut change = PlannedChange {
        prior: prior.clone(),
        config: c.clone(),
        planned: prior.clone(),
        requires_replace: vec![],
    };
    Cilium
        .modify_plan(&Context::for_tests(), &mut change)
        .await
        .unwrap();
    assert_eq!(change.planned.get("hubble_tls"), prior.get("hubble_tls"));
    // Drift found by read makes the plan non-empty (planned drift is empty).
    assert_ne!(change.planned.get("drift"), prior.get("drift"));

    let mut off = c.clone();
    off.set(
        "hubble",
        Value::object([
            ("enabled", false.into()),
            ("relay", Value::Null),
            ("ui", Value::Null),
        ]),
    );
    let mut change = PlannedChange {
        prior: prior.clone(),
        config: off.clone(),
        planned: off,
        requires_replace: vec![],
    };
    Cilium
        .modify_plan(&Context::for_tests(), &mut change)
        .await
        .unwrap();
    assert!(change.planned.get("hubble_tls").is_null());
    let inv = Inventory::from_json(change.planned.get("inventory").as_str().unwrap()).unwrap();
    assert!(!inv.iter().any(|r| r.name.starts_with("hubble")));
    let _ = AttributePath::root();
}
