//! Cilium for a Talos cluster, as typed Kubernetes objects.
//!
//! [`render`] produces, as k8s-openapi objects, the objects and settings the official Cilium Helm chart of the
//! chosen version (lines 1.17 to 1.20, see [`version`]) renders for [`CiliumValues`] with Talos's documented values (ipam `kubernetes`, kube-proxy replacement,
//! `KUBERNETES_SERVICE_HOST/PORT` = KubePrism on the agent, its init containers, Envoy and the operator, cgroup
//! auto-mount off with host root `/sys/fs/cgroup`, capabilities without `SYS_MODULE`) plus Hubble relay and UI and
//! L2 announcements. No YAML from the chart is embedded: every object is built in Rust from the facts read in the
//! chart's templates (charts 1.17.0, 1.18.12, 1.19.6 and 1.20.0), each file naming its template; what a line
//! changed is a version-gated branch (`ver.since(19)`) next to the field it changes, or a row of a versioned
//! table (`cilium-config` keys, image digests). `tests/cilium_chart_equality.rs` compares every line with its
//! official chart. With `roll_out_pods`, [`rollout`] puts config digests into the pod templates.
//!
//! The Hubble certificates the chart would generate on every render are an input ([`certs::HubbleCerts`]),
//! generated once and renewed before expiry by [`certs::ensure`].
//!
//! LB IPAM pools and the L2 announcement policy are custom resources registered by the operator at run time; they
//! are built separately by [`lb_ipam`] as dynamic objects. [`validate`] holds pure validation with attribute paths.

pub mod agent;
pub mod certs;
pub mod common;
pub mod config;
pub mod envoy;
pub mod hubble;
pub mod lb_ipam;
pub mod operator;
pub mod rbac;
pub mod rollout;
pub mod validate;
pub mod values;
pub mod version;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::Resource;
use kube::core::DynamicObject;

pub use certs::HubbleCerts;
pub use lb_ipam::{IpBlock, IpPool, L2Policy};
pub use values::{CiliumValues, HubbleValues, IpamMode, L2AnnouncementValues, RoutingMode};
pub use version::CiliumVersion;

/// The part of the installation an object belongs to (used to reason about what a settings change touches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    /// Agent DaemonSet, its RBAC, `cilium-config`, `cilium-secrets`.
    Agent,
    /// Envoy DaemonSet, its config and metrics Service.
    Envoy,
    /// Operator Deployment and RBAC.
    Operator,
    /// Hubble in the agents: CA, server certificate, peer Service.
    Hubble,
    /// hubble-relay.
    HubbleRelay,
    /// hubble-ui.
    HubbleUi,
}

/// A rendered object of one of the kinds the chart produces.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum ChartObject {
    Namespace(Namespace),
    ServiceAccount(ServiceAccount),
    Secret(Secret),
    ConfigMap(ConfigMap),
    ClusterRole(ClusterRole),
    ClusterRoleBinding(ClusterRoleBinding),
    Role(Role),
    RoleBinding(RoleBinding),
    Service(Service),
    DaemonSet(DaemonSet),
    Deployment(Deployment),
}

/// Identity of an object: `apiVersion`, `kind`, namespace (`None` when cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId {
    /// e.g. `apps/v1`.
    pub api_version: String,
    /// e.g. `DaemonSet`.
    pub kind: String,
    /// Namespace of namespaced objects.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

macro_rules! each_kind {
    ($self:expr, $o:ident => $body:expr) => {
        match $self {
            ChartObject::Namespace($o) => $body,
            ChartObject::ServiceAccount($o) => $body,
            ChartObject::Secret($o) => $body,
            ChartObject::ConfigMap($o) => $body,
            ChartObject::ClusterRole($o) => $body,
            ChartObject::ClusterRoleBinding($o) => $body,
            ChartObject::Role($o) => $body,
            ChartObject::RoleBinding($o) => $body,
            ChartObject::Service($o) => $body,
            ChartObject::DaemonSet($o) => $body,
            ChartObject::Deployment($o) => $body,
        }
    };
}

fn api_version_of<T: Resource>(_: &T) -> &'static str {
    T::API_VERSION
}
fn kind_of<T: Resource>(_: &T) -> &'static str {
    T::KIND
}

impl ChartObject {
    /// `apiVersion`.
    pub fn api_version(&self) -> &'static str {
        each_kind!(self, o => api_version_of(o))
    }
    /// `kind`.
    pub fn kind(&self) -> &'static str {
        each_kind!(self, o => kind_of(o))
    }
    /// `metadata.name` (always set by the renderer).
    pub fn name(&self) -> &str {
        each_kind!(self, o => o.metadata.name.as_deref().unwrap_or_default())
    }
    /// `metadata.namespace`.
    pub fn namespace(&self) -> Option<&str> {
        each_kind!(self, o => o.metadata.namespace.as_deref())
    }
    /// The object's identity.
    pub fn id(&self) -> ObjectId {
        ObjectId {
            api_version: self.api_version().to_string(),
            kind: self.kind().to_string(),
            namespace: self.namespace().map(str::to_string),
            name: self.name().to_string(),
        }
    }
    /// The object as JSON, with `apiVersion` and `kind`.
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        each_kind!(self, o => serde_json::to_value(o))
    }
    /// The object as a [`DynamicObject`] (for generic server-side apply).
    pub fn to_dynamic(&self) -> Result<DynamicObject, serde_json::Error> {
        serde_json::from_value(self.to_value()?)
    }
    /// Rank in Helm's install order (Namespace first, workloads last); lower applies first.
    pub fn install_rank(&self) -> u8 {
        match self {
            ChartObject::Namespace(_) => 0,
            ChartObject::ServiceAccount(_) => 1,
            ChartObject::Secret(_) => 2,
            ChartObject::ConfigMap(_) => 3,
            ChartObject::ClusterRole(_) => 4,
            ChartObject::ClusterRoleBinding(_) => 5,
            ChartObject::Role(_) => 6,
            ChartObject::RoleBinding(_) => 7,
            ChartObject::Service(_) => 8,
            ChartObject::DaemonSet(_) => 9,
            ChartObject::Deployment(_) => 10,
        }
    }
}

/// One rendered object and the component it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedObject {
    /// Component.
    pub component: Component,
    /// Object.
    pub object: ChartObject,
}

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Settings failed validation (each error has an attribute path).
    #[error("invalid Cilium settings: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<validate::FieldError>),
    /// Hubble is enabled but no certificates were given.
    #[error("Hubble is enabled but no Hubble certificates were provided")]
    MissingCerts,
}

/// Renders every chart object for `values`, sorted in Helm's install order (stable within a kind).
///
/// `certs` must be given when `values.hubble.enabled` (see [`certs::ensure`]). Validation of `values` runs first.
pub fn render(
    values: &CiliumValues,
    certs: Option<&HubbleCerts>,
) -> Result<Vec<RenderedObject>, RenderError> {
    let errs = validate::validate_values(values);
    if !errs.is_empty() {
        return Err(RenderError::Invalid(errs));
    }
    let version = CiliumVersion::parse_supported(&values.version)
        .map_err(|e| RenderError::Invalid(vec![validate::path("version").error(e.to_string())]))?;
    let ver = version;
    let images = version::Images::for_version(&version, values.image_repository.as_deref());
    let envoy_ds = version.uses_envoy_daemonset();
    let ns = values.namespace.as_str();
    let hubble = values.hubble.enabled;
    let relay = hubble && values.hubble.relay;
    let ui = hubble && values.hubble.ui;
    let hubble_certs = if hubble {
        Some(certs.ok_or(RenderError::MissingCerts)?)
    } else {
        None
    };

    use ChartObject as O;
    use Component as C;
    let mut out: Vec<RenderedObject> = Vec::with_capacity(40);
    let mut add =
        |component: Component, object: ChartObject| out.push(RenderedObject { component, object });

    add(C::Agent, O::Namespace(rbac::secrets_namespace()));
    add(
        C::Agent,
        O::ServiceAccount(rbac::service_account("cilium", ns, None)),
    );
    if envoy_ds {
        add(
            C::Envoy,
            O::ServiceAccount(rbac::service_account("cilium-envoy", ns, None)),
        );
    }
    add(
        C::Operator,
        O::ServiceAccount(rbac::service_account("cilium-operator", ns, None)),
    );
    if relay {
        add(
            C::HubbleRelay,
            O::ServiceAccount(rbac::service_account("hubble-relay", ns, Some(false))),
        );
    }
    if ui {
        add(
            C::HubbleUi,
            O::ServiceAccount(rbac::service_account("hubble-ui", ns, None)),
        );
    }
    if let Some(c) = hubble_certs {
        add(C::Hubble, O::Secret(hubble::ca_secret(values, c)));
        add(
            C::Hubble,
            O::Secret(hubble::tls_secret(
                values,
                "hubble-server-certs",
                &c.ca,
                &c.server,
            )),
        );
        if relay {
            add(
                C::HubbleRelay,
                O::Secret(hubble::tls_secret(
                    values,
                    "hubble-relay-client-certs",
                    &c.ca,
                    &c.relay_client,
                )),
            );
        }
    }
    add(
        C::Agent,
        O::ConfigMap(config::config_map(values, ver, envoy_ds)),
    );
    if envoy_ds {
        add(C::Envoy, O::ConfigMap(envoy::config_map(values, ver)));
    }
    if relay {
        add(
            C::HubbleRelay,
            O::ConfigMap(hubble::relay_config_map(values)),
        );
    }
    if ui {
        add(
            C::HubbleUi,
            O::ConfigMap(hubble::ui_config_map(values, ver)),
        );
    }
    add(
        C::Agent,
        O::ClusterRole(rbac::agent_cluster_role(
            values.l2_announcements.enabled,
            ver,
        )),
    );
    add(
        C::Operator,
        O::ClusterRole(rbac::operator_cluster_role(ver)),
    );
    if ui {
        add(
            C::HubbleUi,
            O::ClusterRole(rbac::hubble_ui_cluster_role(ver)),
        );
    }
    add(
        C::Agent,
        O::ClusterRoleBinding(rbac::cluster_role_binding("cilium", "cilium", ns)),
    );
    add(
        C::Operator,
        O::ClusterRoleBinding(rbac::cluster_role_binding(
            "cilium-operator",
            "cilium-operator",
            ns,
        )),
    );
    if ui {
        add(
            C::HubbleUi,
            O::ClusterRoleBinding(rbac::cluster_role_binding("hubble-ui", "hubble-ui", ns)),
        );
    }
    let secrets_ns = rbac::SECRETS_NAMESPACE;
    add(
        C::Agent,
        O::Role(rbac::role(
            "cilium-config-agent",
            ns,
            &["configmaps"],
            &["get", "list", "watch"],
        )),
    );
    add(
        C::Agent,
        O::Role(rbac::role(
            "cilium-tlsinterception-secrets",
            secrets_ns,
            &["secrets"],
            &["get", "list", "watch"],
        )),
    );
    add(
        C::Operator,
        O::Role(rbac::role(
            "cilium-operator-tlsinterception-secrets",
            secrets_ns,
            &["secrets"],
            &["create", "delete", "update", "patch"],
        )),
    );
    if ver.since(19) {
        // The operator manages ztunnel (off by default) from 1.19; the chart grants it regardless.
        add(C::Operator, O::Role(rbac::ztunnel_role(ns, ver)));
    }
    add(
        C::Agent,
        O::RoleBinding(rbac::role_binding("cilium-config-agent", ns, "cilium", ns)),
    );
    add(
        C::Agent,
        O::RoleBinding(rbac::role_binding(
            "cilium-tlsinterception-secrets",
            secrets_ns,
            "cilium",
            ns,
        )),
    );
    add(
        C::Operator,
        O::RoleBinding(rbac::role_binding(
            "cilium-operator-tlsinterception-secrets",
            secrets_ns,
            "cilium-operator",
            ns,
        )),
    );
    if ver.since(19) {
        add(
            C::Operator,
            O::RoleBinding(rbac::role_binding(
                "cilium-operator-ztunnel",
                ns,
                "cilium-operator",
                ns,
            )),
        );
    }
    if envoy_ds {
        add(C::Envoy, O::Service(envoy::service(values, ver)));
    }
    if hubble {
        add(C::Hubble, O::Service(hubble::peer_service(values)));
    }
    if relay {
        add(C::HubbleRelay, O::Service(hubble::relay_service(values)));
    }
    if ui {
        add(C::HubbleUi, O::Service(hubble::ui_service(values)));
    }
    add(
        C::Agent,
        O::DaemonSet(agent::daemon_set(values, ver, &images.cilium, envoy_ds)),
    );
    if envoy_ds {
        add(
            C::Envoy,
            O::DaemonSet(envoy::daemon_set(values, ver, &images.envoy)),
        );
    }
    add(
        C::Operator,
        O::Deployment(operator::deployment(values, ver, &images.operator)),
    );
    if relay {
        add(
            C::HubbleRelay,
            O::Deployment(hubble::relay_deployment(values, ver, &images.hubble_relay)),
        );
    }
    if ui {
        add(
            C::HubbleUi,
            O::Deployment(hubble::ui_deployment(
                values,
                ver,
                &images.hubble_ui,
                &images.hubble_ui_backend,
            )),
        );
    }
    out.sort_by_key(|o| o.object.install_rank());
    if values.roll_out_pods {
        rollout::annotate(&mut out);
    }
    Ok(out)
}

/// The L2 policy as applied: when it names no interfaces, `l2_announcements.interfaces` are used.
pub fn effective_l2_policy(values: &CiliumValues, policy: &L2Policy) -> L2Policy {
    let mut p = policy.clone();
    if p.interfaces.is_empty() {
        p.interfaces = values.l2_announcements.interfaces.clone();
    }
    p
}

/// LB IPAM pools then the L2 policy, as dynamic objects, in apply order.
pub fn render_lb_ipam(
    values: &CiliumValues,
    pools: &[IpPool],
    policy: Option<&L2Policy>,
) -> Vec<DynamicObject> {
    let mut objs: Vec<DynamicObject> = pools.iter().map(lb_ipam::pool_object).collect();
    if let Some(p) = policy {
        objs.push(lb_ipam::l2_policy_object(&effective_l2_policy(values, p)));
    }
    objs
}

#[cfg(test)]
mod tests;
