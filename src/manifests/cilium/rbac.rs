//! ServiceAccounts, ClusterRoles, Roles and their bindings, and the `cilium-secrets` namespace.
//!
//! Derived from `templates/cilium-agent/{clusterrole,clusterrolebinding,role,rolebinding,serviceaccount}.yaml`,
//! `templates/cilium-operator/*`, `templates/hubble-ui/clusterrole*.yaml`, `templates/*/serviceaccount.yaml` and
//! `templates/cilium-secrets-namespace.yaml` of the Cilium Helm charts 1.17.0 to 1.20.0; what a line changed is
//! gated with `ver.since(minor)`.

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use super::common::*;
use super::version::CiliumVersion;

/// Namespace holding TLS secrets referenced by policies (`tls.secretsNamespace.name`).
pub const SECRETS_NAMESPACE: &str = "cilium-secrets";

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let v = |xs: &[&str]| Some(xs.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    PolicyRule {
        api_groups: v(groups),
        resources: v(resources),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn rule_named(groups: &[&str], resources: &[&str], verbs: &[&str], names: &[&str]) -> PolicyRule {
    PolicyRule {
        resource_names: Some(names.iter().map(|s| s.to_string()).collect()),
        ..rule(groups, resources, verbs)
    }
}

/// The `cilium-secrets` Namespace.
pub fn secrets_namespace() -> Namespace {
    Namespace {
        metadata: meta(SECRETS_NAMESPACE, None, labels(&[PART_OF])),
        ..Default::default()
    }
}

/// A ServiceAccount in `namespace`; `automount` is written only when the chart writes it (hubble-relay: false).
pub fn service_account(name: &str, namespace: &str, automount: Option<bool>) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(name, Some(namespace), Default::default()),
        automount_service_account_token: automount,
        ..Default::default()
    }
}

/// `list` with `remove` taken out and `add` appended (how a line edits a resource list of the previous one).
fn edited<'a>(list: &[&'a str], remove: &[&str], add: &[&'a str]) -> Vec<&'a str> {
    list.iter()
        .filter(|x| !remove.contains(x))
        .chain(add)
        .copied()
        .collect()
}

/// Agent ClusterRole `cilium`; `l2_announcements` adds Lease access (leader election per service IP).
pub fn agent_cluster_role(l2_announcements: bool, ver: CiliumVersion) -> ClusterRole {
    // 1.20 reads EndpointSlices only (no Endpoints), drops BGPv1 peering policies and watches datapath plugins.
    let core: &[&str] = if ver.since(20) {
        &["namespaces", "services", "pods", "nodes"]
    } else {
        &["namespaces", "services", "pods", "endpoints", "nodes"]
    };
    let watched = [
        "ciliumloadbalancerippools",
        "ciliumbgppeeringpolicies",
        "ciliumbgpnodeconfigs",
        "ciliumbgpadvertisements",
        "ciliumbgppeerconfigs",
        "ciliumclusterwideenvoyconfigs",
        "ciliumclusterwidenetworkpolicies",
        "ciliumegressgatewaypolicies",
        "ciliumendpoints",
        "ciliumendpointslices",
        "ciliumenvoyconfigs",
        "ciliumidentities",
        "ciliumlocalredirectpolicies",
        "ciliumnetworkpolicies",
        "ciliumnodes",
        "ciliumnodeconfigs",
        "ciliumcidrgroups",
        "ciliuml2announcementpolicies",
        "ciliumpodippools",
    ];
    let watched = if ver.since(20) {
        edited(
            &watched,
            &["ciliumbgppeeringpolicies"],
            &["ciliumdatapathplugins"],
        )
    } else {
        watched.to_vec()
    };
    let mut rules = vec![
        rule(
            &["networking.k8s.io"],
            &["networkpolicies"],
            &["get", "list", "watch"],
        ),
        rule(
            &["discovery.k8s.io"],
            &["endpointslices"],
            &["get", "list", "watch"],
        ),
        rule(&[""], core, &["get", "list", "watch"]),
    ];
    if l2_announcements {
        rules.push(rule(
            &["coordination.k8s.io"],
            &["leases"],
            &["create", "get", "update", "list", "delete"],
        ));
    }
    rules.extend([
        rule(
            &["apiextensions.k8s.io"],
            &["customresourcedefinitions"],
            &["list", "watch", "get"],
        ),
        rule(&["cilium.io"], &watched, &["list", "watch"]),
        rule(
            &["cilium.io"],
            &["ciliumidentities", "ciliumendpoints", "ciliumnodes"],
            &["create"],
        ),
        rule(&["cilium.io"], &["ciliumidentities"], &["update"]),
        rule(&["cilium.io"], &["ciliumendpoints"], &["delete", "get"]),
        rule(
            &["cilium.io"],
            &["ciliumnodes", "ciliumnodes/status"],
            &["get", "update"],
        ),
        rule(
            &["cilium.io"],
            &[
                "ciliumendpoints/status",
                "ciliumendpoints",
                "ciliuml2announcementpolicies/status",
                "ciliumbgpnodeconfigs/status",
            ],
            &["patch"],
        ),
    ]);
    ClusterRole {
        metadata: meta("cilium", None, labels(&[PART_OF])),
        rules: Some(rules),
        ..Default::default()
    }
}

/// The CRDs the operator may update (`resourceNames` of its CRD `update` rule) on `ver`'s line.
fn operator_crds(ver: CiliumVersion) -> Vec<&'static str> {
    let mut crds = vec![
        "ciliumloadbalancerippools.cilium.io",
        "ciliumbgppeeringpolicies.cilium.io",
        "ciliumbgpclusterconfigs.cilium.io",
        "ciliumbgppeerconfigs.cilium.io",
        "ciliumbgpadvertisements.cilium.io",
        "ciliumbgpnodeconfigs.cilium.io",
        "ciliumbgpnodeconfigoverrides.cilium.io",
        "ciliumclusterwideenvoyconfigs.cilium.io",
        "ciliumclusterwidenetworkpolicies.cilium.io",
        "ciliumegressgatewaypolicies.cilium.io",
        "ciliumendpoints.cilium.io",
        "ciliumendpointslices.cilium.io",
        "ciliumenvoyconfigs.cilium.io",
        "ciliumexternalworkloads.cilium.io",
        "ciliumidentities.cilium.io",
        "ciliumlocalredirectpolicies.cilium.io",
        "ciliumnetworkpolicies.cilium.io",
        "ciliumnodes.cilium.io",
        "ciliumnodeconfigs.cilium.io",
        "ciliumcidrgroups.cilium.io",
        "ciliuml2announcementpolicies.cilium.io",
        "ciliumpodippools.cilium.io",
    ];
    if ver.since(18) {
        // External workloads removed; Gateway API class configs added.
        crds = edited(
            &crds,
            &["ciliumexternalworkloads.cilium.io"],
            &["ciliumgatewayclassconfigs.cilium.io"],
        );
    }
    if ver.since(19) {
        // BGPv1 peering policies removed.
        crds = edited(&crds, &["ciliumbgppeeringpolicies.cilium.io"], &[]);
    }
    if ver.since(20) {
        crds = edited(&crds, &[], &["ciliumdatapathplugins.cilium.io"]);
    }
    crds
}

/// Operator ClusterRole `cilium-operator` (chart defaults: unmanaged pod watcher on, node taints managed,
/// secret sync on, node and endpoint GC intervals non-zero).
pub fn operator_cluster_role(ver: CiliumVersion) -> ClusterRole {
    let all = &[
        "create", "update", "get", "list", "watch", "delete", "patch",
    ];
    let mut rules = vec![
        rule(&[""], &["pods"], &["get", "list", "watch", "delete"]),
        rule_named(&[""], &["configmaps"], &["patch"], &["cilium-config"]),
        rule(&[""], &["nodes"], &["list", "watch"]),
        rule(&[""], &["nodes", "nodes/status"], &["patch"]),
        rule(
            &["discovery.k8s.io"],
            &["endpointslices"],
            &["get", "list", "watch"],
        ),
        rule(&[""], &["services/status"], &["update", "patch"]),
    ];
    if ver.since(20) {
        // 1.20: service accounts readable (ztunnel), Endpoints no longer read.
        rules.extend([
            rule(
                &[""],
                &["namespaces", "secrets", "serviceaccounts"],
                &["get", "list", "watch"],
            ),
            rule(&[""], &["services"], &["get", "list", "watch"]),
        ]);
    } else {
        rules.extend([
            rule(&[""], &["namespaces", "secrets"], &["get", "list", "watch"]),
            rule(&[""], &["services", "endpoints"], &["get", "list", "watch"]),
        ]);
    }
    rules.extend([
        rule(
            &["cilium.io"],
            &["ciliumnetworkpolicies", "ciliumclusterwidenetworkpolicies"],
            &[
                "create",
                "update",
                "deletecollection",
                "patch",
                "get",
                "list",
                "watch",
            ],
        ),
        rule(
            &["cilium.io"],
            &[
                "ciliumnetworkpolicies/status",
                "ciliumclusterwidenetworkpolicies/status",
            ],
            &["patch", "update"],
        ),
        rule(
            &["cilium.io"],
            &["ciliumendpoints", "ciliumidentities"],
            &["delete", "list", "watch"],
        ),
        rule(&["cilium.io"], &["ciliumidentities"], &["update"]),
        rule(
            &["cilium.io"],
            &["ciliumnodes"],
            &["create", "update", "get", "list", "watch", "delete"],
        ),
        rule(&["cilium.io"], &["ciliumnodes/status"], &["update"]),
        rule(
            &["cilium.io"],
            &if ver.since(20) {
                vec![
                    "ciliumendpointslices",
                    "ciliumenvoyconfigs",
                    "ciliumbgpclusterconfigs",
                    "ciliumbgpnodeconfigoverrides",
                    "ciliumbgppeerconfigs",
                    "ciliumbgpadvertisements",
                    "ciliumbgpnodeconfigs",
                    "ciliumcidrgroups",
                ]
            } else {
                vec![
                    "ciliumendpointslices",
                    "ciliumenvoyconfigs",
                    "ciliumbgppeerconfigs",
                    "ciliumbgpadvertisements",
                    "ciliumbgpnodeconfigs",
                ]
            },
            all,
        ),
        rule(
            &["cilium.io"],
            &[
                "ciliumbgpclusterconfigs/status",
                "ciliumbgppeerconfigs/status",
            ],
            &["update"],
        ),
        rule(
            &["apiextensions.k8s.io"],
            &["customresourcedefinitions"],
            &["create", "get", "list", "watch"],
        ),
        rule_named(
            &["apiextensions.k8s.io"],
            &["customresourcedefinitions"],
            &["update"],
            &operator_crds(ver),
        ),
    ]);
    if ver.since(20) {
        // 1.20: the operator updates the status of the BGP CRDs it owns; BGP configs are managed above.
        rules.push(rule_named(
            &["apiextensions.k8s.io"],
            &["customresourcedefinitions/status"],
            &["update"],
            &[
                "ciliumbgpclusterconfigs.cilium.io",
                "ciliumbgppeerconfigs.cilium.io",
                "ciliumbgpadvertisements.cilium.io",
                "ciliumbgpnodeconfigs.cilium.io",
                "ciliumbgpnodeconfigoverrides.cilium.io",
            ],
        ));
    }
    rules.extend([
        rule(
            &["cilium.io"],
            &if ver.since(20) {
                vec![
                    "ciliumloadbalancerippools",
                    "ciliumpodippools",
                    "ciliumbgppeerconfigs",
                    "ciliumdatapathplugins",
                ]
            } else {
                vec![
                    "ciliumloadbalancerippools",
                    "ciliumpodippools",
                    "ciliumbgppeeringpolicies",
                    "ciliumbgpclusterconfigs",
                    "ciliumbgpnodeconfigoverrides",
                    "ciliumbgppeerconfigs",
                ]
            },
            &["get", "list", "watch"],
        ),
        rule(&["cilium.io"], &["ciliumpodippools"], &["create"]),
        rule(
            &["cilium.io"],
            &["ciliumloadbalancerippools/status"],
            &["patch"],
        ),
        rule(
            &["coordination.k8s.io"],
            &["leases"],
            &["create", "get", "update"],
        ),
    ]);
    if ver.since(19) {
        rules.push(rule(
            &["cilium.io"],
            &["ciliumendpointslices"],
            &["deletecollection"],
        ));
    }
    ClusterRole {
        metadata: meta("cilium-operator", None, labels(&[PART_OF])),
        rules: Some(rules),
        ..Default::default()
    }
}

/// Hubble UI ClusterRole `hubble-ui`: a read-only view of the cluster (up to 1.18 also network policies and
/// every cilium.io resource; from 1.20 no Endpoints).
pub fn hubble_ui_cluster_role(ver: CiliumVersion) -> ClusterRole {
    let read = &["get", "list", "watch"];
    let core: &[&str] = if ver.since(20) {
        &[
            "componentstatuses",
            "namespaces",
            "nodes",
            "pods",
            "services",
        ]
    } else {
        &[
            "componentstatuses",
            "endpoints",
            "namespaces",
            "nodes",
            "pods",
            "services",
        ]
    };
    let mut rules = Vec::new();
    if !ver.since(19) {
        rules.push(rule(&["networking.k8s.io"], &["networkpolicies"], read));
    }
    rules.push(rule(&[""], core, read));
    rules.push(rule(
        &["apiextensions.k8s.io"],
        &["customresourcedefinitions"],
        read,
    ));
    if !ver.since(19) {
        rules.push(rule(&["cilium.io"], &["*"], read));
    }
    ClusterRole {
        metadata: meta("hubble-ui", None, labels(&[PART_OF])),
        rules: Some(rules),
        ..Default::default()
    }
}

/// Role `cilium-operator-ztunnel` (from 1.19): the operator manages the ztunnel DaemonSet in `namespace`
/// (and, from 1.20, reads service accounts there).
pub fn ztunnel_role(namespace: &str, ver: CiliumVersion) -> Role {
    let mut rules = vec![rule(
        &["apps"],
        &["daemonsets"],
        &["create", "delete", "get", "list", "watch"],
    )];
    if ver.since(20) {
        rules.push(rule(&[""], &["serviceaccounts"], &["get", "list", "watch"]));
    }
    Role {
        metadata: meta(
            "cilium-operator-ztunnel",
            Some(namespace),
            labels(&[PART_OF]),
        ),
        rules: Some(rules),
    }
}

fn subject(sa: &str, namespace: &str) -> Vec<Subject> {
    vec![Subject {
        kind: "ServiceAccount".to_string(),
        name: sa.to_string(),
        namespace: Some(namespace.to_string()),
        ..Default::default()
    }]
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: Some("rbac.authorization.k8s.io".to_string()),
        kind: kind.to_string(),
        name: name.to_string(),
    }
}

/// ClusterRoleBinding `name` -> ClusterRole `name` for ServiceAccount `sa` in `namespace`.
pub fn cluster_role_binding(name: &str, sa: &str, namespace: &str) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(name, None, labels(&[PART_OF])),
        role_ref: role_ref("ClusterRole", name),
        subjects: Some(subject(sa, namespace)),
    }
}

/// Role `name` in `namespace` with one rule on core `resources`.
pub fn role(name: &str, namespace: &str, resources: &[&str], verbs: &[&str]) -> Role {
    Role {
        metadata: meta(name, Some(namespace), labels(&[PART_OF])),
        rules: Some(vec![rule(&[""], resources, verbs)]),
    }
}

/// RoleBinding `name` in `namespace` -> Role `name` for ServiceAccount `sa` of `sa_namespace`.
pub fn role_binding(name: &str, namespace: &str, sa: &str, sa_namespace: &str) -> RoleBinding {
    RoleBinding {
        metadata: meta(name, Some(namespace), labels(&[PART_OF])),
        role_ref: role_ref("Role", name),
        subjects: Some(subject(sa, sa_namespace)),
    }
}
