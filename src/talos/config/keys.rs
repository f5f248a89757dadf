//! The keys Talos's machine-config decoder knows, so that a config patch with a misspelt or unsupported key is
//! refused before anything is sent (Talos decodes strictly and refuses such a config with "unknown keys found
//! during decoding"). Written from the Talos machine-config reference (the v1alpha1 document's types in
//! `pkg/machinery/config/types/v1alpha1`, and the document kinds each minor registers), for contracts 1.11 to 1.13.
//!
//! Checked: the top of the `v1alpha1` document, every key of `machine` and `cluster`, one level below those (and
//! `cluster.network.cni`), and the kind of every other document. Deeper levels, and the free-form maps
//! (`extraArgs`, `sysctls`, labels...), accept any key. Keys a newer contract added are refused on older ones;
//! keys Talos deprecated stay accepted (its decoder still reads them).

use crate::talos::contract::Contract;
use serde_yaml::Value;

/// What a key holds, as far as key checks go.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Anything (a scalar, a free-form map, or a structure not checked).
    Any,
    /// A mapping with these keys.
    Object(&'static [Key]),
    /// A list of mappings with these keys.
    ListOf(&'static [Key]),
}

/// A known key: its name, the first contract minor (1.x) that has it, and its shape.
#[derive(Debug, Clone, Copy)]
struct Key {
    name: &'static str,
    since: u32,
    shape: Shape,
}

const fn any(name: &'static str) -> Key {
    Key {
        name,
        since: 0,
        shape: Shape::Any,
    }
}

const fn obj(name: &'static str, keys: &'static [Key]) -> Key {
    Key {
        name,
        since: 0,
        shape: Shape::Object(keys),
    }
}

const fn list(name: &'static str, keys: &'static [Key]) -> Key {
    Key {
        name,
        since: 0,
        shape: Shape::ListOf(keys),
    }
}

const fn since(minor: u32, key: Key) -> Key {
    Key {
        since: minor,
        ..key
    }
}

const fn anys<const N: usize>(names: [&'static str; N]) -> [Key; N] {
    let mut out = [any(""); N];
    let mut i = 0;
    while i < N {
        out[i] = any(names[i]);
        i += 1;
    }
    out
}

const CONTROL_PLANE_COMPONENTS: [Key; 2] = anys(["controllerManager", "scheduler"]);
const KUBE_PRISM: [Key; 2] = anys(["enabled", "port"]);
const HOST_DNS: [Key; 3] = anys(["enabled", "forwardKubeDNSToHost", "resolveMemberNames"]);
const FEATURES: [Key; 9] = [
    any("apidCheckExtKeyUsage"),
    any("diskQuotaSupport"),
    obj("hostDNS", &HOST_DNS),
    any("imageCache"),
    obj("kubePrism", &KUBE_PRISM),
    any("kubernetesTalosAPIAccess"),
    any("nodeAddressSortAlgorithm"),
    any("rbac"),
    any("stableHostname"),
];
const FILE: [Key; 4] = anys(["content", "op", "path", "permissions"]);
const INSTALL: [Key; 7] = [
    any("disk"),
    any("diskSelector"),
    any("extraKernelArgs"),
    since(12, any("grubUseUKICmdline")),
    any("image"),
    any("legacyBIOSSupport"),
    any("wipe"),
];
const KERNEL: [Key; 1] = anys(["modules"]);
const KUBELET: [Key; 11] = anys([
    "clusterDNS",
    "credentialProviderConfig",
    "defaultRuntimeSeccompProfileEnabled",
    "disableManifestsDirectory",
    "extraArgs",
    "extraConfig",
    "extraMounts",
    "image",
    "nodeIP",
    "registerWithFQDN",
    "skipNodeRegistration",
]);
const LOGGING: [Key; 1] = anys(["destinations"]);
const LEGACY_NETWORK: [Key; 7] = anys([
    "disableSearchDomain",
    "extraHostEntries",
    "hostname",
    "interfaces",
    "kubespan",
    "nameservers",
    "searchDomains",
]);
const REGISTRIES: [Key; 2] = anys(["config", "mirrors"]);
const SECCOMP_PROFILE: [Key; 2] = anys(["name", "value"]);
const TIME: [Key; 3] = anys(["bootTimeout", "disabled", "servers"]);
const UDEV: [Key; 1] = anys(["rules"]);

/// `machine` (the deprecated `disks`, `env`, `network`, `registries`, `systemDiskEncryption` and `time` included:
/// the decoder still reads them; `network` on contracts with network documents is refused by
/// [`super::check::check_documents`]).
const MACHINE: [Key; 27] = [
    any("acceptedCAs"),
    any("baseRuntimeSpecOverrides"),
    any("ca"),
    any("certSANs"),
    obj("controlPlane", &CONTROL_PLANE_COMPONENTS),
    any("disks"),
    any("env"),
    obj("features", &FEATURES),
    list("files", &FILE),
    obj("install", &INSTALL),
    obj("kernel", &KERNEL),
    obj("kubelet", &KUBELET),
    obj("logging", &LOGGING),
    obj("network", &LEGACY_NETWORK),
    any("nodeAnnotations"),
    any("nodeLabels"),
    any("nodeTaints"),
    any("pods"),
    obj("registries", &REGISTRIES),
    list("seccompProfiles", &SECCOMP_PROFILE),
    any("sysctls"),
    any("sysfs"),
    any("systemDiskEncryption"),
    obj("time", &TIME),
    any("token"),
    any("type"),
    obj("udev", &UDEV),
];

const ADMIN_KUBECONFIG: [Key; 1] = anys(["certLifetime"]);
const API_SERVER: [Key; 10] = anys([
    "admissionControl",
    "auditPolicy",
    "authorizationConfig",
    "certSANs",
    "disablePodSecurityPolicy",
    "env",
    "extraArgs",
    "extraVolumes",
    "image",
    "resources",
]);
const CLUSTER_CONTROL_PLANE: [Key; 2] = anys(["endpoint", "localAPIServerPort"]);
const CONTROLLER_MANAGER: [Key; 5] =
    anys(["env", "extraArgs", "extraVolumes", "image", "resources"]);
const CORE_DNS: [Key; 2] = anys(["disabled", "image"]);
const DISCOVERY: [Key; 2] = anys(["enabled", "registries"]);
const ETCD: [Key; 5] = anys([
    "advertisedSubnets",
    "ca",
    "extraArgs",
    "image",
    "listenSubnets",
]);
const EXTERNAL_CLOUD_PROVIDER: [Key; 2] = anys(["enabled", "manifests"]);
const INLINE_MANIFEST: [Key; 2] = anys(["contents", "name"]);
const FLANNEL: [Key; 2] = [
    any("extraArgs"),
    since(13, any("kubeNetworkPoliciesEnabled")),
];
const CNI: [Key; 3] = [obj("flannel", &FLANNEL), any("name"), any("urls")];
const CLUSTER_NETWORK: [Key; 4] = [
    obj("cni", &CNI),
    any("dnsDomain"),
    any("podSubnets"),
    any("serviceSubnets"),
];
const PROXY: [Key; 4] = anys(["disabled", "extraArgs", "image", "mode"]);
const SCHEDULER: [Key; 6] = anys([
    "config",
    "env",
    "extraArgs",
    "extraVolumes",
    "image",
    "resources",
]);

/// `cluster` (the deprecated `allowSchedulingOnMasters` included).
const CLUSTER: [Key; 26] = [
    any("acceptedCAs"),
    obj("adminKubeconfig", &ADMIN_KUBECONFIG),
    any("aescbcEncryptionSecret"),
    any("aggregatorCA"),
    any("allowSchedulingOnControlPlanes"),
    any("allowSchedulingOnMasters"),
    obj("apiServer", &API_SERVER),
    any("ca"),
    any("clusterName"),
    obj("controlPlane", &CLUSTER_CONTROL_PLANE),
    obj("controllerManager", &CONTROLLER_MANAGER),
    obj("coreDNS", &CORE_DNS),
    obj("discovery", &DISCOVERY),
    obj("etcd", &ETCD),
    obj("externalCloudProvider", &EXTERNAL_CLOUD_PROVIDER),
    any("extraManifestHeaders"),
    any("extraManifests"),
    any("id"),
    list("inlineManifests", &INLINE_MANIFEST),
    obj("network", &CLUSTER_NETWORK),
    obj("proxy", &PROXY),
    obj("scheduler", &SCHEDULER),
    any("secret"),
    any("secretboxEncryptionSecret"),
    any("serviceAccount"),
    any("token"),
];

/// The `v1alpha1` document (the deprecated `persist` included).
const V1ALPHA1: [Key; 5] = [
    any("version"),
    any("debug"),
    any("persist"),
    obj("machine", &MACHINE),
    obj("cluster", &CLUSTER),
];

/// Document kinds and the first contract minor that registers them.
const KINDS: [(&str, u32); 43] = [
    ("BlackholeRouteConfig", 13),
    ("BondConfig", 12),
    ("BridgeConfig", 12),
    ("DHCPv4Config", 12),
    ("DHCPv6Config", 12),
    ("DummyLinkConfig", 12),
    ("EnvironmentConfig", 13),
    ("EthernetConfig", 0),
    ("EventSinkConfig", 0),
    ("ExistingVolumeConfig", 0),
    ("ExtensionServiceConfig", 0),
    ("ExternalVolumeConfig", 13),
    ("HCloudVIPConfig", 12),
    ("HostnameConfig", 12),
    ("KmsgLogConfig", 0),
    ("KubeSpanConfig", 13),
    ("KubeSpanEndpoints", 0),
    ("Layer2VIPConfig", 12),
    ("LinkAliasConfig", 12),
    ("LinkConfig", 12),
    ("NetworkDefaultActionConfig", 0),
    ("NetworkRuleConfig", 0),
    ("OOMConfig", 12),
    ("PCIDriverRebindConfig", 0),
    ("RawVolumeConfig", 0),
    ("RegistryAuthConfig", 12),
    ("RegistryMirrorConfig", 12),
    ("RegistryTLSConfig", 12),
    ("ResolverConfig", 12),
    ("RoutingRuleConfig", 13),
    ("SideroLinkConfig", 0),
    ("StaticHostConfig", 12),
    ("SwapVolumeConfig", 0),
    ("TCPProbeConfig", 13),
    ("TimeSyncConfig", 12),
    ("TrustedRootsConfig", 0),
    ("UserVolumeConfig", 0),
    ("VLANConfig", 12),
    ("VRFConfig", 13),
    ("VolumeConfig", 0),
    ("WatchdogTimerConfig", 0),
    ("WireguardConfig", 12),
    ("ZswapConfig", 0),
];

/// Key for the strategic-merge delete directive, allowed anywhere in a patch.
const PATCH_DIRECTIVE: &str = "$patch";

fn check_mapping(
    contract: Contract,
    value: &Value,
    keys: &[Key],
    path: &str,
    errors: &mut Vec<String>,
) {
    let Some(map) = value.as_mapping() else {
        return; // not a mapping: a type error, left to the node's decoder
    };
    for (name, child) in map {
        let Some(name) = name.as_str() else {
            errors.push(format!("{path}: a key is not a string"));
            continue;
        };
        if name == PATCH_DIRECTIVE {
            continue;
        }
        let at = if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        };
        match keys.iter().find(|k| k.name == name) {
            None => errors.push(format!(
                "unknown key {at}: Talos {contract} has no such machine-config field"
            )),
            Some(key) if key.since > contract.minor => errors.push(format!(
                "{at} needs Talos 1.{} or later (the config contract is {contract})",
                key.since
            )),
            Some(key) => match key.shape {
                Shape::Any => {}
                Shape::Object(keys) => check_mapping(contract, child, keys, &at, errors),
                Shape::ListOf(keys) => {
                    for (i, item) in child.as_sequence().into_iter().flatten().enumerate() {
                        check_mapping(contract, item, keys, &format!("{at}[{i}]"), errors);
                    }
                }
            },
        }
    }
}

/// Checks the documents of one patch (or of a whole config) against the keys `contract` knows: the `v1alpha1`
/// document (no `kind`) key by key as far as described in the module docs, other documents by kind.
///
/// # Errors
/// Every unknown key (with its dotted path, e.g. `machine.kubelet.extraArg`) or kind, and every key or kind that
/// needs a later contract.
pub fn check_known_keys(contract: Contract, docs: &[Value]) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    for doc in docs {
        match doc.get("kind") {
            None => check_mapping(contract, doc, &V1ALPHA1, "", &mut errors),
            Some(kind) => {
                let kind = kind.as_str().unwrap_or_default();
                match KINDS.iter().find(|(k, _)| *k == kind) {
                    None => errors.push(format!(
                        "unknown document kind {kind:?}: Talos {contract} registers no such document"
                    )),
                    Some((_, minor)) if *minor > contract.minor => errors.push(format!(
                        "{kind} documents need Talos 1.{minor} or later (the config contract is {contract})"
                    )),
                    Some(_) => {}
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(text: &str) -> Vec<Value> {
        super::super::patch::parse_patch(0, text).unwrap()
    }

    #[test]
    fn known_keys_and_free_form_maps_pass() {
        let patch = "machine:\n  sysctls: {vm.max_map_count: '262144', anything.goes: '1'}\n  kubelet:\n    \
                     extraArgs: {rotate-server-certificates: 'true'}\n  files: [{path: /a, content: b, op: create}]\n\
                     cluster:\n  network: {cni: {name: none}}\n  proxy: {disabled: true}\n  \
                     extraManifests: [$patch: delete]\n---\napiVersion: v1alpha1\nkind: VLANConfig\nname: eth0.9";
        for contract in crate::talos::contract::SUPPORTED {
            if contract.multidoc_network() {
                check_known_keys(contract, &docs(patch)).unwrap();
            }
        }
        check_known_keys(Contract::V1_11, &docs("machine: {network: {hostname: a}}")).unwrap();
    }

    #[test]
    fn unknown_keys_and_kinds_are_named() {
        let errors = check_known_keys(
            Contract::V1_13,
            &docs("machine:\n  kubelet: {extraArg: {}}\n  bogus: 1\n  files: [{path: /a, mode: 1}]\nclusterr: {}\n---\nkind: NopeConfig\napiVersion: v1alpha1"),
        )
        .unwrap_err();
        let all = errors.join("\n");
        for needle in [
            "machine.kubelet.extraArg",
            "machine.bogus",
            "machine.files[0].mode",
            "unknown key clusterr",
            "\"NopeConfig\"",
        ] {
            assert!(all.contains(needle), "{needle} missing: {all}");
        }
        assert_eq!(errors.len(), 5, "{all}");
    }

    #[test]
    fn newer_keys_and_kinds_need_their_contract() {
        let flannel = "cluster: {network: {cni: {flannel: {kubeNetworkPoliciesEnabled: true}}}}";
        check_known_keys(Contract::V1_13, &docs(flannel)).unwrap();
        let errors = check_known_keys(Contract::V1_12, &docs(flannel)).unwrap_err();
        assert!(errors[0].contains("needs Talos 1.13"), "{errors:?}");
        let vlan = "apiVersion: v1alpha1\nkind: VLANConfig\nname: eth0.9";
        assert!(check_known_keys(Contract::V1_11, &docs(vlan)).is_err());
        let uki = "machine: {install: {grubUseUKICmdline: true}}";
        assert!(check_known_keys(Contract::V1_11, &docs(uki)).is_err());
        check_known_keys(Contract::V1_12, &docs(uki)).unwrap();
    }
}
