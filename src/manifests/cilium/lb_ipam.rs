//! LB IPAM and L2 announcement objects: `CiliumLoadBalancerIPPool` and `CiliumL2AnnouncementPolicy`.
//!
//! Both are cluster-scoped `cilium.io/v2alpha1` custom resources whose CRDs the operator registers at start
//! (source: cilium/cilium CRD definitions, served as v2alpha1 across 1.16-1.18). They are built as dynamic
//! objects because k8s-openapi has no Cilium types.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{json, Map, Value};

/// API group of both kinds.
pub const GROUP: &str = "cilium.io";
/// Served version used for both kinds.
pub const VERSION: &str = "v2alpha1";
/// CRD name the operator registers for pools.
pub const POOL_CRD: &str = "ciliumloadbalancerippools.cilium.io";
/// CRD name the operator registers for L2 policies.
pub const L2_POLICY_CRD: &str = "ciliuml2announcementpolicies.cilium.io";
/// Service annotation asking LB IPAM for specific addresses.
pub const IPS_ANNOTATION: &str = "lbipam.cilium.io/ips";

/// One block of a pool: a CIDR or an inclusive address range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpBlock {
    /// `{cidr: "192.168.208.64/28"}`.
    Cidr(String),
    /// `{start: "192.168.208.70", stop: "192.168.208.79"}` (inclusive).
    Range {
        /// First address.
        start: String,
        /// Last address.
        stop: String,
    },
}

/// A `CiliumLoadBalancerIPPool`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IpPool {
    /// Object name (DNS subdomain).
    pub name: String,
    /// Address blocks (at least one).
    pub blocks: Vec<IpBlock>,
    /// Services this pool serves; `None` serves every Service.
    pub service_selector: Option<LabelSelector>,
}

/// A `CiliumL2AnnouncementPolicy`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct L2Policy {
    /// Object name (DNS subdomain).
    pub name: String,
    /// Interface regexes on which to answer ARP; empty means all.
    pub interfaces: Vec<String>,
    /// Nodes that may announce; `None` means all.
    pub node_selector: Option<LabelSelector>,
    /// Services announced; `None` means all.
    pub service_selector: Option<LabelSelector>,
    /// Announce `status.loadBalancer.ingress` IPs.
    pub load_balancer_ips: bool,
    /// Announce `spec.externalIPs`.
    pub external_ips: bool,
}

/// The `ApiResource` of `CiliumLoadBalancerIPPool`.
pub fn pool_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, VERSION, "CiliumLoadBalancerIPPool"),
        "ciliumloadbalancerippools",
    )
}

/// The `ApiResource` of `CiliumL2AnnouncementPolicy`.
pub fn l2_policy_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, VERSION, "CiliumL2AnnouncementPolicy"),
        "ciliuml2announcementpolicies",
    )
}

fn selector(s: &LabelSelector) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

fn with_type(mut o: DynamicObject, ar: &ApiResource) -> DynamicObject {
    o.types = Some(kube::core::TypeMeta {
        api_version: ar.api_version.clone(),
        kind: ar.kind.clone(),
    });
    o
}

/// The pool as a dynamic object: `spec.blocks` in order, `spec.serviceSelector` when set.
pub fn pool_object(p: &IpPool) -> DynamicObject {
    let blocks: Vec<Value> = p
        .blocks
        .iter()
        .map(|b| match b {
            IpBlock::Cidr(c) => json!({"cidr": c}),
            IpBlock::Range { start, stop } => json!({"start": start, "stop": stop}),
        })
        .collect();
    let mut spec = Map::new();
    spec.insert("blocks".to_string(), Value::Array(blocks));
    if let Some(s) = &p.service_selector {
        spec.insert("serviceSelector".to_string(), selector(s));
    }
    let ar = pool_resource();
    with_type(
        DynamicObject::new(&p.name, &ar).data(json!({"spec": spec})),
        &ar,
    )
}

/// The L2 announcement policy as a dynamic object.
pub fn l2_policy_object(p: &L2Policy) -> DynamicObject {
    let mut spec = Map::new();
    if !p.interfaces.is_empty() {
        spec.insert("interfaces".to_string(), json!(p.interfaces));
    }
    if let Some(s) = &p.node_selector {
        spec.insert("nodeSelector".to_string(), selector(s));
    }
    if let Some(s) = &p.service_selector {
        spec.insert("serviceSelector".to_string(), selector(s));
    }
    spec.insert(
        "loadBalancerIPs".to_string(),
        Value::Bool(p.load_balancer_ips),
    );
    spec.insert("externalIPs".to_string(), Value::Bool(p.external_ips));
    let ar = l2_policy_resource();
    with_type(
        DynamicObject::new(&p.name, &ar).data(json!({"spec": spec})),
        &ar,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_and_policy_shapes() {
        let pool = IpPool {
            name: "assigned".into(),
            blocks: vec![
                IpBlock::Range {
                    start: "192.168.208.70".into(),
                    stop: "192.168.208.79".into(),
                },
                IpBlock::Cidr("10.9.0.0/30".into()),
            ],
            service_selector: Some(LabelSelector {
                match_labels: Some([("pool".to_string(), "assigned".to_string())].into()),
                ..Default::default()
            }),
        };
        let v = serde_json::to_value(pool_object(&pool)).unwrap();
        assert_eq!(v["apiVersion"], "cilium.io/v2alpha1");
        assert_eq!(v["kind"], "CiliumLoadBalancerIPPool");
        assert_eq!(v["metadata"]["name"], "assigned");
        assert!(v["metadata"].get("namespace").is_none());
        assert_eq!(
            v["spec"]["blocks"][0],
            json!({"start": "192.168.208.70", "stop": "192.168.208.79"})
        );
        assert_eq!(v["spec"]["blocks"][1], json!({"cidr": "10.9.0.0/30"}));
        assert_eq!(
            v["spec"]["serviceSelector"]["matchLabels"]["pool"],
            "assigned"
        );

        let pol = L2Policy {
            name: "services".into(),
            interfaces: vec!["^eth[0-9]+".into()],
            load_balancer_ips: true,
            ..Default::default()
        };
        let v = serde_json::to_value(l2_policy_object(&pol)).unwrap();
        assert_eq!(v["kind"], "CiliumL2AnnouncementPolicy");
        assert_eq!(
            v["spec"],
            json!({"interfaces": ["^eth[0-9]+"], "loadBalancerIPs": true, "externalIPs": false})
        );
    }
}
