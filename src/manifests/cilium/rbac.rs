//! ServiceAccounts, ClusterRoles, Roles and their bindings, and the `cilium-secrets` namespace.
//!
//! Derived from `templates/cilium-agent/{clusterrole,clusterrolebinding,role,rolebinding,serviceaccount}.yaml`,
//! `templates/cilium-operator/*`, `templates/hubble-ui/clusterrole*.yaml`, `templates/*/serviceaccount.yaml` and
//! `templates/cilium-secrets-namespace.yaml` of the Cilium Helm chart 1.17.0.

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use super::common::*;

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

/// Agent ClusterRole `cilium`; `l2_announcements` adds Lease access (leader election per service IP).
pub fn agent_cluster_role(l2_announcements: bool) -> ClusterRole {
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
        rule(
            &[""],
            &["namespaces", "services", "pods", "endpoints", "nodes"],
            &["get", "list", "watch"],
        ),
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
        rule(
            &["cilium.io"],
            &[
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
            ],
            &["list", "watch"],
        ),
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

/// Operator ClusterRole `cilium-operator` (chart defaults: unmanaged pod watcher on, node taints managed,
/// secret sync on, node and endpoint GC intervals non-zero).
pub fn operator_cluster_role() -> ClusterRole {
    let rules = vec![
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
        rule(&[""], &["namespaces", "secrets"], &["get", "list", "watch"]),
        rule(&[""], &["services", "endpoints"], &["get", "list", "watch"]),
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
            &[
                "ciliumendpointslices",
                "ciliumenvoyconfigs",
                "ciliumbgppeerconfigs",
                "ciliumbgpadvertisements",
                "ciliumbgpnodeconfigs",
            ],
            &[
                "create", "update", "get", "list", "watch", "delete", "patch",
            ],
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
            &[
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
            ],
        ),
        rule(
            &["cilium.io"],
            &[
                "ciliumloadbalancerippools",
                "ciliumpodippools",
                "ciliumbgppeeringpolicies",
                "ciliumbgpclusterconfigs",
                "ciliumbgpnodeconfigoverrides",
                "ciliumbgppeerconfigs",
            ],
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
    ];
    ClusterRole {
        metadata: meta("cilium-operator", None, labels(&[PART_OF])),
        rules: Some(rules),
        ..Default::default()
    }
}

/// Hubble UI ClusterRole `hubble-ui` (read-only view of the cluster and every cilium.io resource).
pub fn hubble_ui_cluster_role() -> ClusterRole {
    let read = &["get", "list", "watch"];
    ClusterRole {
        metadata: meta("hubble-ui", None, labels(&[PART_OF])),
        rules: Some(vec![
            rule(&["networking.k8s.io"], &["networkpolicies"], read),
            rule(
                &[""],
                &[
                    "componentstatuses",
                    "endpoints",
                    "namespaces",
                    "nodes",
                    "pods",
                    "services",
                ],
                read,
            ),
            rule(
                &["apiextensions.k8s.io"],
                &["customresourcedefinitions"],
                read,
            ),
            rule(&["cilium.io"], &["*"], read),
        ]),
        ..Default::default()
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
