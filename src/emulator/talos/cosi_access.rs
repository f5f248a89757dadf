//! Talos's access filter in front of its COSI state (internal/app/resources/access.go@v1.11.6, unchanged at
//! v1.12.11 and v1.13.9): only reads pass ("write access is not allowed" otherwise), the resource type must be
//! registered in that release (looked up by its lowercased name, [`super::resource_types`]: PermissionDenied
//! `resource type "<type>" is not supported`), a sensitive type needs the `os:admin` role (PermissionDenied "not
//! authorized"), and the namespace must be registered (PermissionDenied `namespace "<ns>" is not supported`), in
//! that order.
//!
//! Roles: in secure mode those of the client certificate's Organization; in maintenance mode the `os:reader` role
//! alone, as Talos's authz injector grants every peer not on SideroLink
//! (pkg/grpc/middleware/authz/injector.go@v1.12.11 `ReadOnlyWithAdminOnSiderolink`, used by the maintenance
//! service up to 1.12 and by apid in maintenance mode from 1.13).

use tonic::{Request, Status};

use super::resource_types::RESOURCE_TYPES;
use super::tls::{ConnInfo, Mode};
use super::version::TalosVersion;
use crate::emulator::pki;

/// A resource type the emulator models and the namespace its resources live in (`DefaultNamespace` of
/// pkg/machinery/resources/<group>/<kind>.go `ResourceDefinition()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// The namespace its resources live in.
    pub namespace: &'static str,
    /// The full type name, e.g. `Versions.runtime.talos.dev`.
    pub r#type: &'static str,
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

/// Whether Talos `version` (a tag such as `v1.13.9`) is at least 1.`minor` (`false` when it is no release tag).
pub fn at_least(version: &str, minor: u32) -> bool {
    TalosVersion::parse(version).is_some_and(|v| v.at_least(1, minor))
}

/// The sensitivity of resource type `r#type` (matched case-insensitively) on Talos `version`, `None` when that
/// release does not register it. Releases outside the table's range answer as its nearest end.
pub fn registered(r#type: &str, version: &str) -> Option<bool> {
    let minor = (11..=13)
        .rev()
        .find(|m| at_least(version, *m))
        .unwrap_or(11);
    RESOURCE_TYPES
        .iter()
        .find(|(t, first, last, _)| {
            t.eq_ignore_ascii_case(r#type) && (*first..=*last).contains(&minor)
        })
        .map(|(_, _, _, sensitive)| *sensitive)
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
/// `version`.
pub fn check(r#type: &str, namespace: &str, roles: &[String], version: &str) -> Result<(), Status> {
    let sensitive = registered(r#type, version).ok_or_else(|| {
        Status::permission_denied(format!("resource type {type:?} is not supported", type = r#type))
    })?;
    if sensitive && !roles.iter().any(|r| r == "os:admin") {
        return Err(Status::permission_denied("not authorized"));
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
    };

    #[test]
    fn filter_order_and_messages() {
        let reader = vec!["os:reader".to_string()];
        let admin = vec!["os:admin".to_string()];
        let mc = MC.r#type;
        let e = check("Foos.talos.dev", "nope", &admin, "v1.12.11").unwrap_err();
        assert_eq!(
            e.message(),
            "resource type \"Foos.talos.dev\" is not supported"
        );
        let e = check(mc, "nope", &reader, "v1.12.11").unwrap_err();
        assert_eq!(e.message(), "not authorized");
        let e = check(mc, "nope", &admin, "v1.12.11").unwrap_err();
        assert_eq!(e.message(), "namespace \"nope\" is not supported");
        assert!(check(mc, "config", &admin, "v1.11.6").is_ok());
        assert!(check(mc, "security", &reader, "v1.12.11").is_err());
        let versions = "Versions.runtime.talos.dev";
        assert!(check(versions, "security", &reader, "v1.13.9").is_ok());
        // Sensitivity and registration per release.
        let kubelet = "KubeletSpecs.kubernetes.talos.dev";
        assert_eq!(registered(kubelet, "v1.11.6"), Some(false));
        assert_eq!(registered(kubelet, "v1.12.11"), Some(true));
        assert_eq!(
            registered("servicepids.runtime.talos.dev", "v1.12.11"),
            None
        );
        assert_eq!(
            registered("ServicePIDs.runtime.talos.dev", "v1.13.9"),
            Some(false)
        );
        assert_eq!(
            find(&[MC], "machineconfigs.config.talos.dev").map(|k| k.r#type),
            Some(mc)
        );
    }
}
