//! CustomResourceDefinition lifecycle: a deleted CRD (finalizer `customresourcecleanup.apiextensions.k8s.io`)
//! first deletes its custom resources, then goes. A ready `cilium-operator` Deployment in `kube-system` registers
//! the CRDs its LB IPAM and L2 announcement features use (cilium.io/v2alpha1, cluster-scoped, as cilium 1.17's
//! operator does at start): `ciliumloadbalancerippools.cilium.io` and `ciliuml2announcementpolicies.cilium.io`.

use serde_json::{json, Value};

use super::workloads::is_ready;
use super::{delete, remove_finalizer, rt};
use crate::emulator::kube::apply::Scope;
use crate::emulator::kube::store::{GroupResource, Store};
use crate::emulator::kube::verbs::{self, Managed};

const CLEANUP: &str = "customresourcecleanup.apiextensions.k8s.io";

fn crd_gr() -> GroupResource {
    GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions")
}

pub fn reconcile(st: &mut Store) {
    let deleted: Vec<Value> = st
        .list(&crd_gr(), None)
        .into_iter()
        .filter(|c| c.pointer("/metadata/deletionTimestamp").is_some())
        .cloned()
        .collect();
    for crd in &deleted {
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let plural = crd
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let gr = GroupResource::new(group, plural);
        let crs: Vec<Value> = st.list(&gr, None).into_iter().cloned().collect();
        for cr in &crs {
            delete(st, &gr, cr);
        }
        if st.list(&gr, None).is_empty() && verbs::finalizers(crd).iter().any(|f| f == CLEANUP) {
            remove_finalizer(st, &crd_gr(), crd, CLEANUP);
        }
    }
    let operator_ready = st
        .get(
            &GroupResource::new("apps", "deployments"),
            "kube-system",
            "cilium-operator",
        )
        .is_some_and(|d| d.pointer("/metadata/deletionTimestamp").is_none() && is_ready(d));
    if operator_ready {
        register(st, pool_crd());
        register(st, l2_policy_crd());
    }
}

fn register(st: &mut Store, crd: Value) {
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if st.get(&crd_gr(), "", &name).is_some() {
        return;
    }
    let Some(rt) = rt(st, "apiextensions.k8s.io", "customresourcedefinitions") else {
        return;
    };
    if let Err(e) = verbs::commit(
        st,
        &rt,
        "v1",
        None,
        crd,
        Scope::Main {
            status_ignored: true,
        },
        Managed::Update("cilium-operator-generic"),
        false,
    ) {
        tracing::debug!(error = %e.message, "registering a Cilium CRD failed");
    }
}

fn selector_schema() -> Value {
    json!({"type": "object", "x-kubernetes-map-type": "atomic", "properties": {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "matchExpressions": {"type": "array", "items": {"type": "object", "required": ["key", "operator"], "properties": {
            "key": {"type": "string"}, "operator": {"type": "string", "enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
            "values": {"type": "array", "items": {"type": "string"}}}}}}})
}

fn crd(
    plural: &str,
    singular: &str,
    kind: &str,
    short: &[&str],
    spec: Value,
    status: Value,
    columns: Value,
) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.cilium.io"), "labels": {"io.cilium.k8s.crd.schema.version": "1.31.1"}},
        "spec": {
            "group": "cilium.io", "scope": "Cluster",
            "names": {"plural": plural, "singular": singular, "kind": kind, "listKind": format!("{kind}List"), "shortNames": short, "categories": ["cilium"]},
            "versions": [{
                "name": "v2alpha1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": {"type": "object", "required": ["metadata", "spec"], "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                    "spec": spec, "status": status,
                }}},
            }],
        },
    })
}

/// CiliumLoadBalancerIPPool (fields from cilium/cilium `pkg/k8s/apis/cilium.io/v2alpha1/lbipam_types.go`).
pub fn pool_crd() -> Value {
    crd(
        "ciliumloadbalancerippools",
        "ciliumloadbalancerippool",
        "CiliumLoadBalancerIPPool",
        &["ippools", "ippool", "lbippool", "lbippools"],
        json!({"type": "object", "properties": {
            "allowFirstLastIPs": {"type": "string", "enum": ["Yes", "No"]},
            "blocks": {"type": "array", "x-kubernetes-list-type": "atomic", "items": {"type": "object", "properties": {
                "cidr": {"type": "string"}, "start": {"type": "string"}, "stop": {"type": "string"}}}},
            "disabled": {"type": "boolean", "default": false},
            "serviceSelector": selector_schema(),
        }}),
        json!({"type": "object", "properties": {"conditions": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}),
        json!([
            {"name": "Disabled", "type": "boolean", "jsonPath": ".spec.disabled"},
            {"name": "Conflicting", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"cilium.io/PoolConflict\")].status"},
            {"name": "IPs Available", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"cilium.io/IPsAvailable\")].message"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ]),
    )
}

/// CiliumL2AnnouncementPolicy (fields from cilium/cilium `pkg/k8s/apis/cilium.io/v2alpha1/l2announcement_types.go`).
pub fn l2_policy_crd() -> Value {
    crd(
        "ciliuml2announcementpolicies",
        "ciliuml2announcementpolicy",
        "CiliumL2AnnouncementPolicy",
        &["l2announcement"],
        json!({"type": "object", "properties": {
            "externalIPs": {"type": "boolean"}, "loadBalancerIPs": {"type": "boolean"},
            "interfaces": {"type": "array", "items": {"type": "string"}},
            "nodeSelector": selector_schema(), "serviceSelector": selector_schema(),
        }}),
        json!({"type": "object", "properties": {"conditions": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}),
        json!([{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]),
    )
}
