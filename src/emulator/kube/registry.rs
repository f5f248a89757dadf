//! The resource types the emulator serves: the built-in kinds the project uses (names, short names, verbs and
//! subresources as `kubectl api-resources` lists them on Kubernetes 1.32) and every Established
//! CustomResourceDefinition.

use serde_json::Value;

/// One served resource type.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// API group, `""` for the core group.
    pub group: String,
    /// Served versions, preferred (storage, for CRDs) first.
    pub versions: Vec<String>,
    /// Plural resource name used in URLs, e.g. `deployments`.
    pub resource: String,
    /// Singular name, e.g. `deployment`.
    pub singular: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names (`deploy`, `ds`...).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Whether `/status` is a subresource (then the main endpoint ignores status changes).
    pub status_subresource: bool,
    /// For custom resources: the CRD object (schemas, printer columns).
    pub crd: Option<std::sync::Arc<Value>>,
}

impl ResourceType {
    /// `apiVersion` for `version`: `v1` for core, `group/version` otherwise.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// Whether `version` is served.
    pub fn serves(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
    }

    /// Whether this is a custom resource.
    pub fn is_custom(&self) -> bool {
        self.crd.is_some()
    }
}

struct Builtin(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    bool,
);

/// (group, version, plural, Kind, namespaced, short names, status subresource).
const BUILTINS: &[Builtin] = &[
    Builtin("", "v1", "namespaces", "Namespace", false, &["ns"], true),
    Builtin("", "v1", "nodes", "Node", false, &["no"], true),
    Builtin("", "v1", "services", "Service", true, &["svc"], true),
    Builtin("", "v1", "configmaps", "ConfigMap", true, &["cm"], false),
    Builtin("", "v1", "secrets", "Secret", true, &[], false),
    Builtin(
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        false,
    ),
    Builtin("", "v1", "pods", "Pod", true, &["po"], true),
    Builtin("", "v1", "endpoints", "Endpoints", true, &["ep"], false),
    Builtin("", "v1", "events", "Event", true, &["ev"], false),
    Builtin(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        true,
    ),
    Builtin(
        "",
        "v1",
        "resourcequotas",
        "ResourceQuota",
        true,
        &["quota"],
        true,
    ),
    Builtin(
        "",
        "v1",
        "limitranges",
        "LimitRange",
        true,
        &["limits"],
        false,
    ),
    Builtin("apps", "v1", "daemonsets", "DaemonSet", true, &["ds"], true),
    Builtin(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
        true,
    ),
    Builtin(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        true,
        &["sts"],
        true,
    ),
    Builtin(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        true,
        &["rs"],
        true,
    ),
    Builtin(
        "apps",
        "v1",
        "controllerrevisions",
        "ControllerRevision",
        true,
        &[],
        false,
    ),
    Builtin("batch", "v1", "jobs", "Job", true, &[], true),
    Builtin("batch", "v1", "cronjobs", "CronJob", true, &["cj"], true),
    Builtin(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "Role",
        true,
        &[],
        false,
    ),
    Builtin(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        true,
        &[],
        false,
    ),
    Builtin(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false,
        &[],
        false,
    ),
    Builtin(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
        false,
    ),
    Builtin(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        true,
        &["netpol"],
        false,
    ),
    Builtin(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        true,
        &["ing"],
        true,
    ),
    Builtin(
        "networking.k8s.io",
        "v1",
        "ingressclasses",
        "IngressClass",
        false,
        &[],
        false,
    ),
    Builtin(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        true,
    ),
    Builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        true,
    ),
    Builtin(
        "coordination.k8s.io",
        "v1",
        "leases",
        "Lease",
        true,
        &[],
        false,
    ),
    Builtin(
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "EndpointSlice",
        true,
        &[],
        false,
    ),
    Builtin(
        "scheduling.k8s.io",
        "v1",
        "priorityclasses",
        "PriorityClass",
        false,
        &["pc"],
        false,
    ),
    Builtin(
        "storage.k8s.io",
        "v1",
        "storageclasses",
        "StorageClass",
        false,
        &["sc"],
        false,
    ),
    // k8s.io/api storage/v1 types.go@v1.32.0: CSIDriver, cluster-scoped, no status subresource.
    Builtin(
        "storage.k8s.io",
        "v1",
        "csidrivers",
        "CSIDriver",
        false,
        &[],
        false,
    ),
    Builtin(
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        false,
        &[],
        false,
    ),
    Builtin(
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        false,
        &[],
        false,
    ),
];

/// Kinds `kubectl get all` covers (category `all`).
const CATEGORY_ALL: &[&str] = &[
    "pods",
    "services",
    "daemonsets",
    "deployments",
    "statefulsets",
    "replicasets",
    "jobs",
    "cronjobs",
];

/// The built-in types.
pub fn builtins() -> Vec<ResourceType> {
    BUILTINS
        .iter()
        .map(|b| ResourceType {
            group: b.0.to_string(),
            versions: vec![b.1.to_string()],
            resource: b.2.to_string(),
            singular: b.3.to_lowercase(),
            kind: b.3.to_string(),
            namespaced: b.4,
            short_names: b.5.iter().map(|s| s.to_string()).collect(),
            categories: if CATEGORY_ALL.contains(&b.2) {
                vec!["all".to_string()]
            } else {
                vec![]
            },
            status_subresource: b.6,
            crd: None,
        })
        .collect()
}

/// Whether a CRD object has condition `Established=True`.
pub fn crd_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        })
}

/// The type a CRD defines (served versions only), or None when it is malformed.
pub fn from_crd(crd: &Value) -> Option<ResourceType> {
    let spec = crd.get("spec")?;
    let names = spec.get("names")?;
    let str_list = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut versions: Vec<(bool, String)> = spec
        .get("versions")?
        .as_array()?
        .iter()
        .filter(|v| v["served"] == true)
        .filter_map(|v| Some((v["storage"] != true, v["name"].as_str()?.to_string())))
        .collect();
    versions.sort_by_key(|a| a.0);
    let status_subresource = spec["versions"].as_array().is_some_and(|vs| {
        vs.iter()
            .any(|v| v.pointer("/subresources/status").is_some())
    });
    let kind = names.get("kind")?.as_str()?.to_string();
    Some(ResourceType {
        group: spec.get("group")?.as_str()?.to_string(),
        versions: versions.into_iter().map(|v| v.1).collect(),
        resource: names.get("plural")?.as_str()?.to_string(),
        singular: names
            .get("singular")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| kind.to_lowercase()),
        kind,
        namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
        short_names: str_list(names.get("shortNames")),
        categories: str_list(names.get("categories")),
        status_subresource,
        crd: Some(std::sync::Arc::new(crd.clone())),
    })
}

/// Verbs served for a type, in the order the API server lists them.
pub fn verbs() -> Vec<&'static str> {
    vec![
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ]
}
