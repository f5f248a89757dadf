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
        ".routing_mode",
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
    // 1.20 (the default): the 1.17 set plus the operator's ztunnel Role and RoleBinding.
    assert_eq!(inv.len(), 36 + 3, "chart objects, two pools and the policy");
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
    // A state without installed_version or version was written when the default was 1.17.0: planning the
    // current default (1.20) from it would skip two minors, refused at `version`.
    let mut legacy = PlannedChange {
        prior: prior.clone(),
        config: c.clone(),
        planned: prior.clone(),
        requires_replace: vec![],
    };
    let refused = Cilium
        .modify_plan(&Context::for_tests(), &mut legacy)
        .await
        .unwrap_err();
    assert!(
        refused.0[0].detail.contains("Set version to 1.18.x first"),
        "{refused:?}"
    );
    prior.set(
        "installed_version",
        crate::manifests::cilium::version::DEFAULT_VERSION,
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

fn diags_of(c: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    Cilium.validate(c, &mut d);
    d
}

fn block(cidr: Value, start: Value, stop: Value) -> Value {
    Value::object([
        ("name", Value::from("p")),
        ("service_selector", Value::Null),
        (
            "blocks",
            Value::List(vec![Value::object([
                ("cidr", cidr),
                ("start", start),
                ("stop", stop),
            ])]),
        ),
    ])
}

fn with_pool(b: Value) -> Value {
    let mut c = dev_config(Value::from("https://127.0.0.1:6443"));
    c.set("load_balancer_ip_pools", Value::List(vec![b]));
    c
}

#[test]
fn unknown_pool_cidr_is_skipped_and_null_means_unset() {
    let (start, stop) = (Value::from("192.168.208.70"), Value::from("192.168.208.79"));
    // `cidr = var.c` at validate: unknown, so the either/or check waits.
    let d = diags_of(&with_pool(block(
        Value::Unknown,
        start.clone(),
        stop.clone(),
    )));
    assert!(d.is_empty(), "{d:?}");
    // At plan the variable is null: a plain range.
    let d = diags_of(&with_pool(block(Value::Null, start.clone(), stop.clone())));
    assert!(d.is_empty(), "{d:?}");
    // Unknown start with a CIDR set: still undecided.
    let d = diags_of(&with_pool(block(
        "10.0.0.0/24".into(),
        Value::Unknown,
        Value::Null,
    )));
    assert!(d.is_empty(), "{d:?}");
    // Both forms known: one error at the cidr.
    let d = diags_of(&with_pool(block("10.0.0.0/24".into(), start.clone(), stop)));
    assert_eq!(paths(&d), [".load_balancer_ip_pools[0].blocks[0].cidr"]);
    // Half a range: one error at the half that is set.
    let d = diags_of(&with_pool(block(Value::Null, start, Value::Null)));
    assert_eq!(paths(&d), [".load_balancer_ip_pools[0].blocks[0].start"]);
    let d = diags_of(&with_pool(block(Value::Null, Value::Null, Value::Null)));
    assert_eq!(paths(&d), [".load_balancer_ip_pools[0].blocks[0]"]);
}

#[test]
fn out_of_range_numbers_give_one_diagnostic_each() {
    for (name, bad) in [
        ("cluster_id", 256i64),
        ("cluster_id", -1),
        ("operator_replicas", -1),
        ("operator_replicas", 0),
        ("k8s_service_port", 0),
        ("k8s_service_port", 70000),
    ] {
        let mut c = dev_config(Value::from("https://127.0.0.1:6443"));
        c.set(name, Value::from(bad));
        let d = diags_of(&c);
        assert_eq!(paths(&d), [format!(".{name}")], "{name} = {bad}: {d:?}");
        assert_eq!(d.0.len(), 1, "{name} = {bad}: {d:?}");
    }
}

#[test]
fn native_routing_without_cidr_points_at_routing_mode_once() {
    let mut c = dev_config(Value::from("https://127.0.0.1:6443"));
    c.set("routing_mode", "native");
    let d = diags_of(&c);
    assert_eq!(paths(&d), [".routing_mode"], "{d:?}");
    assert_eq!(d.0[0].summary, "Missing native routing CIDR");
    // An unknown CIDR (a module variable) waits for plan.
    c.set("ipv4_native_routing_cidr", Value::Unknown);
    assert!(diags_of(&c).is_empty());
    // And an unknown CIDR with tunnel routing is not reported as set either.
    c.set("routing_mode", "tunnel");
    assert!(diags_of(&c).is_empty());
}

#[test]
fn kubeconfig_with_partial_block_gives_one_conflict() {
    let mut c = dev_config(Value::from("https://127.0.0.1:6443"));
    c.set("kubeconfig", "apiVersion: v1");
    let d = diags_of(&c);
    assert_eq!(d.0.len(), 1, "{d:?}");
    assert_eq!(d.0[0].summary, "Conflicting connection settings");
    // Unknown kubeconfig (a null module variable at validate) with a block: no error until plan.
    c.set("kubeconfig", Value::Unknown);
    assert!(diags_of(&c).is_empty());
    // A partial block alone: one diagnostic naming what is missing.
    c.set("kubeconfig", Value::Null);
    c.set(
        "kubernetes",
        Value::List(vec![Value::object([
            ("host", Value::from("https://127.0.0.1:6443")),
            ("ca_certificate", Value::Null),
            ("client_certificate", Value::Null),
            ("client_key", Value::Unknown),
        ])]),
    );
    let d = diags_of(&c);
    assert_eq!(paths(&d), [".kubernetes[0]"], "{d:?}");
    assert!(d.0[0]
        .detail
        .contains("ca_certificate, client_certificate."));
}

#[test]
fn hubble_relay_and_ui_need_what_they_read_from() {
    let hubble = |enabled: Value, relay: Value, ui: Value| {
        let mut c = dev_config(Value::from("https://127.0.0.1:6443"));
        c.set(
            "hubble",
            Value::object([("enabled", enabled), ("relay", relay), ("ui", ui)]),
        );
        diags_of(&c)
    };
    let d = hubble(false.into(), true.into(), Value::Null);
    assert_eq!(paths(&d), [".hubble.relay"], "{d:?}");
    let d = hubble(false.into(), true.into(), true.into());
    assert_eq!(paths(&d), [".hubble.relay"], "{d:?}");
    let d = hubble(true.into(), false.into(), true.into());
    assert_eq!(paths(&d), [".hubble.ui"], "{d:?}");
    let d = hubble(Value::Null, Value::Null, true.into());
    assert_eq!(paths(&d), [".hubble.ui"], "{d:?}");
    assert!(hubble(Value::Unknown, true.into(), true.into()).is_empty());
    assert!(hubble(true.into(), true.into(), true.into()).is_empty());
    assert!(hubble(false.into(), false.into(), false.into()).is_empty());
}

#[test]
fn every_validation_error_has_an_attribute_path() {
    let mut c = config(vec![]);
    c.set("routing_mode", "native");
    c.set("cluster_id", Value::from(999i64));
    c.set(
        "hubble",
        Value::object([
            ("enabled", false.into()),
            ("relay", true.into()),
            ("ui", Value::Null),
        ]),
    );
    let d = diags_of(&c);
    assert!(d.0.len() >= 4, "{d:?}");
    assert!(d.iter().all(|d| d.attribute.is_some()), "{d:?}");
}
