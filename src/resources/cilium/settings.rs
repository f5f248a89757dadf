//! `vixens_cilium` configuration read from Terraform values, and its plan-time validation.
//!
//! Null attributes take their documented defaults. Validation runs the pure checks of
//! [`crate::manifests::cilium::validate`] and turns each error into a diagnostic at its attribute path; values
//! still unknown at plan time are skipped.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::schema::DEFAULT_NAMESPACE;
use crate::cty::{AttributePath, Value};
use crate::framework::presence::{is_set, more_than_one_set};
use crate::framework::{Diagnostic, Diagnostics};
use crate::k8s::Connection;
use crate::manifests::cilium::validate::{self, FieldError, PathStep};
use crate::manifests::cilium::version::{self, DEFAULT_VERSION};
use crate::manifests::cilium::{CiliumValues, IpBlock, IpPool, IpamMode, L2Policy, RoutingMode};
use crate::resources::argocd_bootstrap::settings::validate_connection;

/// Default name of the L2 announcement policy.
pub const DEFAULT_POLICY_NAME: &str = "vixens";

/// Everything the resource needs from a configuration, state or plan.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the API server is.
    pub connection: Connection,
    /// Install settings.
    pub values: CiliumValues,
    /// LB IPAM pools.
    pub pools: Vec<IpPool>,
    /// The L2 announcement policy, if configured.
    pub policy: Option<L2Policy>,
    /// Wait for rollouts and Nodes.
    pub wait: bool,
    /// `lb_ipam_hand_off`: pools and the L2 policy belong to GitOps once created.
    pub lb_hand_off: bool,
}

fn string(v: &Value, name: &str) -> Option<String> {
    v.get(name).as_str().map(str::to_string)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_list()
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn number(v: &Value, name: &str) -> Option<i64> {
    v.get(name).as_i64()
}

fn labels(v: &Value) -> Option<LabelSelector> {
    let map = v.as_map()?;
    let labels: BTreeMap<String, String> = map
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect();
    Some(LabelSelector {
        match_labels: Some(labels),
        ..Default::default()
    })
}

/// Install settings from a value; nulls (and, for validation, unknowns) take the defaults.
pub fn values(v: &Value) -> CiliumValues {
    let d = CiliumValues::default();
    let hubble = v.get("hubble");
    let l2 = v.get("l2_announcements");
    let routing = match v.get("routing_mode").as_str() {
        Some("native") => RoutingMode::Native {
            ipv4_native_routing_cidr: string(v, "ipv4_native_routing_cidr").unwrap_or_default(),
        },
        _ => RoutingMode::TunnelVxlan,
    };
    let extra_config = v
        .get("extra_config")
        .as_map()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    CiliumValues {
        version: string(v, "version").unwrap_or_else(|| DEFAULT_VERSION.to_string()),
        image_repository: string(v, "image_repository").filter(|s| !s.is_empty()),
        namespace: string(v, "namespace").unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()),
        cluster_name: string(v, "cluster_name").unwrap_or(d.cluster_name),
        cluster_id: number(v, "cluster_id")
            .map_or(d.cluster_id, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        kube_proxy_replacement: v
            .get("kube_proxy_replacement")
            .as_bool()
            .unwrap_or(d.kube_proxy_replacement),
        k8s_service_host: string(v, "k8s_service_host").unwrap_or(d.k8s_service_host),
        k8s_service_port: number(v, "k8s_service_port")
            .map_or(d.k8s_service_port, |n| u16::try_from(n).unwrap_or(0)),
        ipam_mode: v
            .get("ipam_mode")
            .as_str()
            .and_then(IpamMode::parse)
            .unwrap_or(d.ipam_mode),
        routing,
        operator_replicas: number(v, "operator_replicas")
            .map_or(d.operator_replicas, |n| u32::try_from(n).unwrap_or(0)),
        hubble: crate::manifests::cilium::HubbleValues {
            enabled: hubble.get("enabled").as_bool().unwrap_or(d.hubble.enabled),
            relay: hubble.get("relay").as_bool().unwrap_or(d.hubble.relay),
            ui: hubble.get("ui").as_bool().unwrap_or(d.hubble.ui),
        },
        l2_announcements: crate::manifests::cilium::L2AnnouncementValues {
            enabled: l2.get("enabled").as_bool().unwrap_or(false),
            interfaces: strings(l2.get("interfaces")),
            lease_duration: string(l2, "lease_duration"),
            lease_renew_deadline: string(l2, "lease_renew_deadline"),
            lease_retry_period: string(l2, "lease_retry_period"),
        },
        extra_config,
        roll_out_pods: v.get("roll_out_pods").as_bool().unwrap_or(true),
    }
}

/// LB IPAM pools from a value. A block with `cidr` is a CIDR; otherwise a `start`/`stop` range.
pub fn pools(v: &Value) -> Vec<IpPool> {
    v.get("load_balancer_ip_pools")
        .as_list()
        .unwrap_or_default()
        .iter()
        .map(|p| IpPool {
            name: string(p, "name").unwrap_or_default(),
            blocks: p
                .get("blocks")
                .as_list()
                .unwrap_or_default()
                .iter()
                .map(|b| match string(b, "cidr") {
                    Some(c) => IpBlock::Cidr(c),
                    None => IpBlock::Range {
                        start: string(b, "start").unwrap_or_default(),
                        stop: string(b, "stop").unwrap_or_default(),
                    },
                })
                .collect(),
            service_selector: labels(p.get("service_selector")),
        })
        .collect()
}

/// The L2 policy from a value (`None` when the block is absent).
pub fn policy(v: &Value) -> Option<L2Policy> {
    let p = v.get("l2_policy");
    if p.is_null() {
        return None;
    }
    Some(L2Policy {
        name: string(p, "name").unwrap_or_else(|| DEFAULT_POLICY_NAME.to_string()),
        interfaces: strings(p.get("interfaces")),
        node_selector: labels(p.get("node_selector")),
        service_selector: labels(p.get("service_selector")),
        load_balancer_ips: p.get("load_balancer_ips").as_bool().unwrap_or(true),
        external_ips: p.get("external_ips").as_bool().unwrap_or(false),
    })
}

impl Settings {
    /// Reads a wholly known value (plan at apply time, or state).
    ///
    /// Errors: a diagnostic when the connection settings are missing.
    pub fn from_value(v: &Value) -> Result<Settings, Diagnostic> {
        Ok(Settings {
            connection: crate::resources::argocd_bootstrap::settings::connection(v)?,
            values: values(v),
            pools: pools(v),
            policy: policy(v),
            wait: v.get("wait").as_bool().unwrap_or(true),
            lb_hand_off: v.get("lb_ipam_hand_off").as_bool().unwrap_or(false),
        })
    }
}

/// The Terraform attribute path of a validation error.
pub fn attribute_path(e: &FieldError) -> AttributePath {
    e.path
        .iter()
        .fold(AttributePath::root(), |p, step| match step {
            PathStep::Attr(a) => p.join_attr(a.as_str()),
            PathStep::Index(i) => p.join_index(*i),
            PathStep::Key(k) => p.join_key(k.as_str()),
        })
}

/// Whether the configuration value at `path` (or any value on the way) is unknown.
fn unknown_at(config: &Value, path: &AttributePath) -> bool {
    let mut prefix = AttributePath::root();
    for step in &path.steps {
        prefix = prefix.join(step.clone());
        let v = config.get_path(&prefix);
        if !v.is_known() {
            return true;
        }
        if v.is_null() {
            return false;
        }
    }
    false
}

fn check_enum(config: &Value, name: &str, allowed: &[&str], diags: &mut Diagnostics) {
    if let Some(s) = config.get(name).as_str() {
        if !allowed.contains(&s) {
            diags.error_at(
                AttributePath::attr(name),
                format!("Invalid {name}"),
                format!("{s:?} is not one of {}.", allowed.join(", ")),
            );
        }
    }
}

/// Plan-time validation with attribute paths: one diagnostic per problem, at the attribute the user set.
/// Checks involving a value still unknown (module variables at `terraform validate`) are skipped; Terraform
/// validates again at plan with the value known (see [`crate::framework::presence`]).
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    let mut own = Diagnostics::new();
    validate_all(config, &mut own);
    // Pools often come from a `dynamic` block, whose one line Terraform shows for every pool: name the pool.
    own.name_list_items(config, "load_balancer_ip_pools", "Pool");
    diags.extend(own);
}

fn validate_all(config: &Value, diags: &mut Diagnostics) {
    validate_connection(config, diags);
    check_enum(config, "ipam_mode", &["kubernetes", "cluster-pool"], diags);
    check_enum(config, "routing_mode", &["tunnel", "native"], diags);
    validate_routing(config, diags);
    for (name, min, max) in [
        ("cluster_id", 0i64, 255i64),
        ("k8s_service_port", 1, 65535),
        ("operator_replicas", 1, 100),
    ] {
        let value = config.get(name);
        match value.as_i64() {
            Some(n) if n < min || n > max => diags.error_at(
                AttributePath::attr(name),
                format!("Invalid {name}"),
                format!("{name} must be a whole number between {min} and {max}, not {n}."),
            ),
            Some(_) => {}
            None if is_set(value) == Some(true) => diags.error_at(
                AttributePath::attr(name),
                format!("Invalid {name}"),
                format!("{name} must be a whole number between {min} and {max}."),
            ),
            None => {}
        }
    }
    validate_hubble(config, diags);
    validate_kubernetes_version(config, diags);
    validate_pool_blocks(config, diags);
    super::pool_subnets::validate(config, diags);
    let mut errors = validate::validate_values(&values(config));
    errors.extend(validate::validate_pools(
        &validate::path("load_balancer_ip_pools"),
        &pools(config),
    ));
    if let Some(p) = policy(config) {
        errors.extend(validate::validate_l2_policy(
            &validate::path("l2_policy"),
            &p,
        ));
    }
    for e in errors {
        let path = attribute_path(&e);
        // `values`/`pools` read defaults (or empty strings) for nulls and unknowns: report only what the user
        // set, and only once per attribute (the checks above may already have reported it).
        let already = diags
            .0
            .iter()
            .any(|d| d.is_error() && d.attribute.as_ref() == Some(&path));
        if unknown_at(config, &path) || config.get_path(&path).is_null() || already {
            continue;
        }
        diags.error_at(path, "Invalid Cilium setting", e.message);
    }
    validate_names(config, diags);
    crate::framework::timeouts::validate(config, diags);
}

/// Image repository and selector labels, which the cluster would refuse only at apply (pods in
/// `InvalidImageName`, a pool or policy rejected by the API server): see [`crate::k8s::names`].
fn validate_names(config: &Value, diags: &mut Diagnostics) {
    use crate::k8s::names;
    if let Some(repo) = config.get("image_repository").as_str() {
        if let Err(e) = names::image_repository(repo) {
            diags.error_at(
                AttributePath::attr("image_repository"),
                "Invalid image repository",
                e,
            );
        }
    }
    if let Some(host) = config.get("k8s_service_host").as_str() {
        let valid =
            !host.is_empty() && !host.contains("://") && !host.chars().any(char::is_whitespace);
        if !valid {
            diags.error_at(
                AttributePath::attr("k8s_service_host"),
                "Invalid k8s_service_host",
                format!("{host:?} is not a host name or IP address (no scheme, no port)."),
            );
        }
    }
    let mut selectors = Vec::new();
    let pools = config
        .get("load_balancer_ip_pools")
        .as_list()
        .unwrap_or_default();
    for (i, p) in pools.iter().enumerate() {
        let at = AttributePath::attr("load_balancer_ip_pools").join_index(i);
        selectors.push((at.join_attr("service_selector"), p.get("service_selector")));
    }
    let policy = config.get("l2_policy");
    for name in ["node_selector", "service_selector"] {
        selectors.push((
            AttributePath::attr("l2_policy").join_attr(name),
            policy.get(name),
        ));
    }
    for (at, selector) in selectors {
        for (key, value) in selector.as_map().into_iter().flatten() {
            let check = names::label_key(key).and_then(|()| match value.as_str() {
                Some(v) => names::label_value(v),
                None => Ok(()),
            });
            if let Err(e) = check {
                diags.error_at(at.join_key(key), "Invalid label", e);
            }
        }
    }
}

/// `kubernetes_version` must be a version (`1.35.4`, `v1.35`); outside the range the chosen Cilium line was
/// e2e-tested with it is a warning naming both versions (see [`version::KUBERNETES_TESTED`]).
fn validate_kubernetes_version(config: &Value, diags: &mut Diagnostics) {
    let Some(k8s) = config.get("kubernetes_version").as_str() else {
        return;
    };
    let at = AttributePath::attr("kubernetes_version");
    let digits = k8s.strip_prefix('v').unwrap_or(k8s);
    let mut parts = digits.split('.');
    let minor = match (parts.next(), parts.next().map(str::parse::<u32>)) {
        (Some("1"), Some(Ok(minor))) if parts.all(|p| p.parse::<u32>().is_ok()) => minor,
        _ => {
            diags.error_at(
                at,
                "Invalid kubernetes_version",
                format!("{k8s:?} is not a Kubernetes version such as 1.35.4."),
            );
            return;
        }
    };
    let cilium = config.get("version");
    if !cilium.is_known() {
        return;
    }
    let cilium = cilium.as_str().unwrap_or(DEFAULT_VERSION);
    let Ok(ver) = version::CiliumVersion::parse_supported(cilium) else {
        return;
    };
    if let Err((first, last)) = version::check_kubernetes(ver, minor) {
        diags.push(
            Diagnostic::warning(
                "Kubernetes version outside Cilium's tested range",
                format!(
                    "Cilium {ver} was e2e-tested with Kubernetes 1.{first} to 1.{last} (its documentation's \
                     Kubernetes Compatibility page); Kubernetes {k8s} is outside that range. It may work through \
                     Kubernetes' own compatibility, but choose a pair inside the range where you can."
                ),
            )
            .at(at),
        );
    }
}

/// `routing_mode = "native"` needs `ipv4_native_routing_cidr`, and the CIDR needs native routing. The
/// diagnostics point at `routing_mode` or the CIDR, whichever the user wrote, so Terraform shows that line.
fn validate_routing(config: &Value, diags: &mut Diagnostics) {
    let mode = config.get("routing_mode");
    let cidr = config.get("ipv4_native_routing_cidr");
    let native = mode.as_str() == Some("native");
    if native && is_set(cidr) == Some(false) {
        diags.error_at(
            AttributePath::attr("routing_mode"),
            "Missing native routing CIDR",
            "routing_mode = \"native\" needs ipv4_native_routing_cidr (e.g. the pod CIDR 10.244.0.0/16).",
        );
    }
    // A null routing_mode means the default, tunnel.
    if !native && mode.is_known() && is_set(cidr) == Some(true) {
        diags.error_at(
            AttributePath::attr("ipv4_native_routing_cidr"),
            "Native routing CIDR without native routing",
            "ipv4_native_routing_cidr applies only with routing_mode = \"native\".",
        );
    }
}

/// The chart refuses `hubble.relay.enabled` without `hubble.enabled` ("Hubble Relay requires
/// .Values.hubble.enabled=true") and `hubble.ui.enabled` without the relay ("Hubble UI requires
/// .Values.hubble.relay.enabled=true"), both in the Cilium chart's `templates/validate.yaml`: errors here too,
/// rather than a relay or UI silently left out.
fn validate_hubble(config: &Value, diags: &mut Diagnostics) {
    let hubble = config.get("hubble");
    if !hubble.is_known() {
        return;
    }
    let defaults = crate::manifests::cilium::HubbleValues::default();
    // A known flag, or its default when null; `None` while unknown.
    let flag = |name: &str, default: bool| match hubble.get(name) {
        Value::Unknown => None,
        v => Some(v.as_bool().unwrap_or(default)),
    };
    let at = |name: &str| AttributePath::attr("hubble").join_attr(name);
    let enabled = flag("enabled", defaults.enabled);
    let relay = flag("relay", defaults.relay);
    let ui = flag("ui", defaults.ui);
    if relay == Some(true) && enabled == Some(false) {
        diags.error_at(
            at("relay"),
            "Hubble relay without Hubble",
            "hubble.relay = true needs hubble.enabled = true: the relay reads flows from the Hubble server in \
             each agent (the Cilium chart refuses this combination).",
        );
    } else if ui == Some(true) && relay == Some(false) {
        diags.error_at(
            at("ui"),
            "Hubble UI without the relay",
            "hubble.ui = true needs hubble.relay = true (and hubble.enabled): the UI reads flows through \
             hubble-relay (the Cilium chart refuses this combination).",
        );
    }
}

/// Each LB IPAM pool block is either a `cidr` or a `start`/`stop` range. Unknown values skip the check.
fn validate_pool_blocks(config: &Value, diags: &mut Diagnostics) {
    let pools = config
        .get("load_balancer_ip_pools")
        .as_list()
        .unwrap_or_default();
    for (i, p) in pools.iter().enumerate() {
        let blocks = p.get("blocks").as_list().unwrap_or_default();
        for (j, b) in blocks.iter().enumerate() {
            let (cidr, start, stop) = (b.get("cidr"), b.get("start"), b.get("stop"));
            let at = AttributePath::attr("load_balancer_ip_pools")
                .join_index(i)
                .join_attr("blocks")
                .join_index(j);
            if more_than_one_set(&[cidr, start]) || more_than_one_set(&[cidr, stop]) {
                diags.error_at(
                    at.join_attr("cidr"),
                    "Invalid pool block",
                    "Set either `cidr`, or both `start` and `stop`, not both.",
                );
            } else if is_set(cidr) == Some(false) {
                match (is_set(start), is_set(stop)) {
                    (Some(false), Some(false)) => diags.error_at(
                        at,
                        "Invalid pool block",
                        "Set either `cidr`, or both `start` and `stop`.",
                    ),
                    (Some(true), Some(false)) => diags.error_at(
                        at.join_attr("start"),
                        "Invalid pool block",
                        "A range needs both `start` and `stop`: `stop` is missing.",
                    ),
                    (Some(false), Some(true)) => diags.error_at(
                        at.join_attr("stop"),
                        "Invalid pool block",
                        "A range needs both `start` and `stop`: `start` is missing.",
                    ),
                    _ => {}
                }
            }
        }
    }
}
