//! Talos's access filter in front of its COSI state (internal/app/resources/access.go@v1.11.6, unchanged at
//! v1.12.11 and v1.13.9): only reads pass ("write access is not allowed" otherwise), the resource type must be
//! registered (looked up by its lowercased name: PermissionDenied `resource type "<type>" is not supported`), a
//! sensitive type needs the `os:admin` role (PermissionDenied "not authorized"), and the namespace must be
//! registered (PermissionDenied `namespace "<ns>" is not supported`), in that order.
//!
//! Roles: in secure mode those of the client certificate's Organization; in maintenance mode the `os:reader` role
//! alone, as Talos's authz injector grants every peer not on SideroLink
//! (pkg/grpc/middleware/authz/injector.go@v1.12.11 `ReadOnlyWithAdminOnSiderolink`, used by the maintenance
//! service up to 1.12 and by apid in maintenance mode from 1.13).

use tonic::{Request, Status};

use super::tls::{ConnInfo, Mode};
use crate::emulator::pki;

/// A resource type the emulator models: its registered namespace and sensitivity
/// (pkg/machinery/resources/<group>/<kind>.go `ResourceDefinition()` at each tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// The namespace its resources live in (`DefaultNamespace`).
    pub namespace: &'static str,
    /// The full type name, e.g. `Versions.runtime.talos.dev`.
    pub r#type: &'static str,
    /// `meta.Sensitive`: only `os:admin` may read it.
    pub sensitive: bool,
}

/// The namespaces Talos registers (internal/app/machined/pkg/runtime/v1alpha2/v1alpha2_state.go, plus COSI's
/// `meta`); `security` exists from v1.13.
const NAMESPACES: &[&str] = &[
    "meta",
    "runtime",
    "cluster",
    "cluster-raw",
    "config",
    "etcd",
    "files",
    "hardware",
    "k8s",
    "controlplane",
    "kubespan",
    "network",
    "network-config",
    "cri",
    "secrets",
    "perf",
];

/// Whether Talos `version` (a tag such as `v1.13.9`) is at least 1.`minor`.
pub fn at_least(version: &str, minor: u32) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (1, minor)
}

/// Whether namespace `ns` is registered on a node running Talos `version`.
pub fn namespace_registered(ns: &str, version: &str) -> bool {
    NAMESPACES.contains(&ns) || (ns == "security" && at_least(version, 13))
}

/// The roles of the caller of `req` (see the module doc); empty when the connection carries no information.
pub fn roles<Q>(req: &Request<Q>) -> Vec<String> {
    let Some(info) = req.extensions().get::<ConnInfo>() else {
        return Vec::new();
    };
    if info.mode == Mode::Maintenance {
        return vec!["os:reader".to_string()];
    }
    info.peer_certs
        .as_ref()
        .and_then(|c| c.first())
        .map(pki::organizations)
        .unwrap_or_default()
}

/// Applies the filter for a read of `r#type` in `namespace` by a caller holding `roles` on a node running Talos
/// `version`. `kind` is the modeled kind whose name matches `r#type` case-insensitively, if any: the caller
/// decides what an unmodeled type answers.
pub fn check(
    kind: Option<&Kind>,
    namespace: &str,
    roles: &[String],
    version: &str,
) -> Result<(), Status> {
    if let Some(kind) = kind {
        if kind.sensitive && !roles.iter().any(|r| r == "os:admin") {
            return Err(Status::permission_denied("not authorized"));
        }
    }
    if !namespace_registered(namespace, version) {
        return Err(Status::permission_denied(format!(
            "namespace {namespace:?} is not supported"
        )));
    }
    Ok(())
}

/// The modeled kind among `kinds` that Talos's filter finds for `r#type` (resource definitions are keyed by the
/// lowercased type name).
pub fn find<'a>(kinds: &'a [Kind], r#type: &str) -> Option<&'a Kind> {
    kinds.iter().find(|k| k.r#type.eq_ignore_ascii_case(r#type))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MC: Kind = Kind {
        namespace: "config",
        r#type: "MachineConfigs.config.talos.dev",
        sensitive: true,
    };

    #[test]
    fn filter_order_and_messages() {
        let reader = vec!["os:reader".to_string()];
        let admin = vec!["os:admin".to_string()];
        let e = check(Some(&MC), "nope", &reader, "v1.12.11").unwrap_err();
        assert_eq!(e.message(), "not authorized");
        let e = check(Some(&MC), "nope", &admin, "v1.12.11").unwrap_err();
        assert_eq!(e.message(), "namespace \"nope\" is not supported");
        assert!(check(Some(&MC), "config", &admin, "v1.11.6").is_ok());
        assert!(check(None, "security", &reader, "v1.12.11").is_err());
        assert!(check(None, "security", &reader, "v1.13.9").is_ok());
        assert_eq!(
            find(&[MC], "machineconfigs.config.talos.dev").map(|k| k.r#type),
            Some(MC.r#type)
        );
    }
}
