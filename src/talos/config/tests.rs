//! Rendering tests: every contract x role validates against Talos' own `config.schema.json`
//! (`<repo>/../shared/talos-schemas/v<minor>/config.schema.json`, draft 2020-12), one YAML document at a time.

use super::*;
use crate::talos::contract::SUPPORTED;
use std::path::PathBuf;
use std::sync::OnceLock;

pub(crate) fn secrets() -> &'static SecretsBundle {
    static SECRETS: OnceLock<SecretsBundle> = OnceLock::new();
    SECRETS.get_or_init(|| SecretsBundle::generate(Contract::DEFAULT).unwrap())
}

pub(crate) fn cluster(contract: Contract) -> ClusterSpec {
    ClusterSpec {
        name: "vixens".into(),
        endpoint: "https://192.168.111.160:6443".into(),
        contract,
        kubernetes_version: contract.default_kubernetes_version().into(),
        install_image: contract.default_install_image().into(),
        cert_sans: vec!["k8s.vixens.lan".into(), "192.168.111.160".into()],
        pod_subnets: vec![DEFAULT_POD_SUBNET.into()],
        service_subnets: vec![DEFAULT_SERVICE_SUBNET.into()],
        allow_scheduling_on_control_planes: true,
        kubeprism_port: DEFAULT_KUBEPRISM_PORT,
        cni: "none".into(),
        proxy_disabled: true,
        config_patches: vec!["machine:\n  sysctls:\n    vm.max_map_count: \"262144\"\n".into()],
    }
}

pub(crate) fn node(role: Role, index: u8) -> NodeSpec {
    let vip = (role == Role::ControlPlane).then(|| "192.168.111.160".to_string());
    NodeSpec {
        role,
        install_disk: "/dev/sda".into(),
        network: NodeNetwork {
            hostname: format!("node-{index}"),
            links: vec![Link {
                name: "eth0".into(),
                vlans: vec![
                    Vlan {
                        vlan_id: 111,
                        addresses: vec![format!("192.168.111.{}/24", 161 + index)],
                        routes: vec![Route {
                            network: "0.0.0.0/0".into(),
                            gateway: "192.168.111.1".into(),
                            metric: Some(1024),
                        }],
                        vip,
                        mtu: None,
                    },
                    Vlan {
                        vlan_id: 208,
                        addresses: vec![format!("192.168.208.{}/24", 161 + index)],
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            nameservers: vec!["192.168.111.1".into()],
        },
        config_patches: vec![],
        cert_sans: Vec::new(),
    }
}

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/talos-schemas")
}

fn documents(yaml: &str) -> Vec<serde_json::Value> {
    crate::yaml::documents(yaml).unwrap()
}

fn definition_for(defs: &serde_json::Value, doc: &serde_json::Value) -> String {
    let Some(kind) = doc.get("kind") else {
        return "v1alpha1.Config".into();
    };
    let defs = defs.as_object().unwrap();
    let found = defs
        .iter()
        .find(|(_, d)| d["properties"]["kind"]["enum"][0] == *kind);
    found
        .map(|(name, _)| name.clone())
        .unwrap_or_else(|| format!("<no definition for kind {kind}>"))
}

#[test]
fn every_contract_and_role_validates_against_talos_schema() {
    let dir = schema_dir();
    if !dir.is_dir() {
        eprintln!(
            "SKIPPED: Talos schemas not found at {} (expected <repo>/../shared)",
            dir.display()
        );
        return;
    }
    for contract in SUPPORTED {
        let path = dir.join(contract.schema_dir()).join("config.schema.json");
        let schema: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let validator = jsonschema::draft202012::new(&schema).unwrap();
        let defs = &schema["$defs"];
        // The validator must be able to fail: an unknown field is rejected by every contract.
        assert!(!validator
            .is_valid(&serde_json::json!({"version": "v1alpha1", "machine": {"bogus": 1}})));
        for role in [Role::ControlPlane, Role::Worker] {
            let yaml = render(&cluster(contract), &node(role, 1), secrets()).unwrap();
            let docs = documents(&yaml);
            assert!(docs.len() >= if contract.multidoc_network() { 5 } else { 1 });
            for doc in docs {
                if validator.is_valid(&doc) {
                    continue;
                }
                // Explain the failure against the one definition this kind should match.
                let def = definition_for(defs, &doc);
                let single = serde_json::json!({"$defs": defs, "$ref": format!("#/$defs/{def}")});
                let errors: Vec<String> = jsonschema::draft202012::new(&single)
                    .unwrap()
                    .iter_errors(&doc)
                    .map(|e| format!("{} ({})", e.instance_path, e.schema_path))
                    .collect();
                panic!("{contract} {role:?} {def} does not validate: {errors:#?}");
            }
        }
    }
}

#[test]
fn network_shape_per_contract() {
    let legacy = render(
        &cluster(Contract::V1_11),
        &node(Role::ControlPlane, 1),
        secrets(),
    )
    .unwrap();
    let docs = documents(&legacy);
    assert_eq!(docs.len(), 1);
    let iface = &docs[0]["machine"]["network"]["interfaces"][0];
    assert_eq!(iface["vlans"][0]["vip"]["ip"], "192.168.111.160");
    assert_eq!(docs[0]["machine"]["network"]["hostname"], "node-1");

    let multi = render(
        &cluster(Contract::V1_13),
        &node(Role::ControlPlane, 1),
        secrets(),
    )
    .unwrap();
    let docs = documents(&multi);
    assert!(docs[0]["machine"].get("network").is_none());
    let kinds: Vec<_> = docs
        .iter()
        .skip(1)
        .map(|d| d["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "HostnameConfig",
            "ResolverConfig",
            "LinkConfig",
            "VLANConfig",
            "Layer2VIPConfig",
            "VLANConfig"
        ]
    );
    assert_eq!(docs[5]["link"], "eth0.111");
    assert_eq!(docs[5]["name"], "192.168.111.160");
    assert_eq!(docs[4]["vlanID"], 111);
}

#[test]
fn workers_get_only_ca_certificates() {
    let yaml = render(&cluster(Contract::V1_13), &node(Role::Worker, 4), secrets()).unwrap();
    let doc = &documents(&yaml)[0];
    assert_eq!(doc["machine"]["type"], "worker");
    assert_eq!(doc["machine"]["ca"]["key"], "");
    assert_eq!(doc["cluster"]["ca"]["key"], "");
    for absent in [
        "aggregatorCA",
        "serviceAccount",
        "etcd",
        "secretboxEncryptionSecret",
        "apiServer",
    ] {
        assert!(
            doc["cluster"].get(absent).is_none(),
            "{absent} leaked to a worker"
        );
    }
    assert!(!yaml.contains(&STANDARD.encode(secrets().os.key.as_bytes())));
}

#[test]
fn control_plane_defaults() {
    let yaml = render(
        &cluster(Contract::V1_12),
        &node(Role::ControlPlane, 1),
        secrets(),
    )
    .unwrap();
    let doc = &documents(&yaml)[0];
    assert_eq!(doc["cluster"]["network"]["cni"]["name"], "none");
    assert_eq!(doc["cluster"]["proxy"]["disabled"], true);
    assert_eq!(doc["machine"]["features"]["kubePrism"]["port"], 7445);
    assert_eq!(
        doc["machine"]["kubelet"]["image"],
        "ghcr.io/siderolabs/kubelet:v1.35.4"
    );
    assert_eq!(doc["cluster"]["allowSchedulingOnControlPlanes"], true);
    assert_eq!(
        doc["machine"]["sysctls"]["vm.max_map_count"], "262144",
        "cluster patch applied"
    );
}

#[test]
fn node_patches_apply_after_cluster_patches_and_bad_patches_fail() {
    let mut n = node(Role::ControlPlane, 1);
    n.config_patches = vec!["machine:\n  sysctls:\n    vm.max_map_count: \"1\"\n".into()];
    let yaml = render(&cluster(Contract::V1_13), &n, secrets()).unwrap();
    assert_eq!(
        documents(&yaml)[0]["machine"]["sysctls"]["vm.max_map_count"],
        "1"
    );
    n.config_patches = vec!["machine: [".into()];
    let err = render(&cluster(Contract::V1_13), &n, secrets()).unwrap_err();
    assert!(
        matches!(
            err,
            RenderError::Patch {
                scope: PatchScope::Node,
                ..
            }
        ),
        "{err}"
    );
    n.config_patches = vec!["machine:\n  network:\n    hostname: x\n".into()];
    assert!(matches!(
        render(&cluster(Contract::V1_13), &n, secrets()),
        Err(RenderError::Invalid(_))
    ));
    n.config_patches = vec!["apiVersion: v1alpha1\nkind: LinkConfig\nname: eth1\n".into()];
    assert!(matches!(
        render(&cluster(Contract::V1_11), &n, secrets()),
        Err(RenderError::Invalid(_))
    ));
}

#[test]
fn endpoint_host_parsing() {
    assert_eq!(
        endpoint_host("https://10.0.0.1:6443").as_deref(),
        Some("10.0.0.1")
    );
    assert_eq!(
        endpoint_host("https://[fd00::1]:6443").as_deref(),
        Some("fd00::1")
    );
    assert_eq!(endpoint_host("https://k8s.lan").as_deref(), Some("k8s.lan"));
    assert_eq!(endpoint_host("http://x:1"), None);
}

#[test]
fn rendered_configs_fit_the_typed_model() {
    for contract in SUPPORTED {
        for role in [Role::ControlPlane, Role::Worker] {
            let yaml = render(&cluster(contract), &node(role, 1), secrets()).unwrap();
            let docs: Vec<serde_json::Value> = super::patch::parse_patch(0, &yaml).unwrap();
            if let Err(e) = super::typed::check_documents(contract, &docs) {
                panic!("{contract} {role:?}: {e:?}");
            }
        }
    }
}

/// Where Talos's published schema (written by docgen from comments) says other than its Go types, which decide what
/// the node accepts; the typed model follows the Go types.
const SCHEMA_ERRATA: [(&str, &str); 5] = [
    // pkg/machinery/config/types/network/kubespan_endpoints.go: KubespanEndpointsKind = "KubeSpanEndpointsConfig"
    (
        "document KubeSpanEndpoints",
        "the registry's kind is KubeSpanEndpointsConfig",
    ),
    // v1alpha1_types.go: MachineAcceptedCAs / ClusterAcceptedCAs []*x509.PEMEncodedCertificate (the docgen
    // `schema:` override describes one item)
    ("v1alpha1.MachineConfig.acceptedCAs", "a list of {crt}"),
    ("v1alpha1.ClusterConfig.acceptedCAs", "a list of {crt}"),
    // v1alpha1_types.go: Endpoint decodes a URL string (its UnmarshalYAML); docgen shows an empty object
    ("v1alpha1.Endpoint", "a URL string"),
    (
        "v1alpha1.LoggingDestination.endpoint",
        "a URL string (v1alpha1.Endpoint)",
    ),
];

/// The typed model (written from Talos's Go types) agrees with Talos's published schema of each contract: every
/// document kind decodes into the type the schema describes, every property the schema lists is a key of the
/// model with a matching type, a value of the schema's type fits the model and a value of another shape does not
/// ([`SCHEMA_ERRATA`] aside).
#[test]
fn the_typed_model_agrees_with_the_schema() {
    use super::typed;
    let dir = schema_dir();
    if !dir.is_dir() {
        eprintln!(
            "SKIPPED: Talos schemas not found at {} (expected <repo>/../shared)",
            dir.display()
        );
        return;
    }
    for contract in SUPPORTED {
        let model = typed::model(contract);
        let path = dir.join(contract.schema_dir()).join("config.schema.json");
        let schema: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let defs = schema["$defs"].as_object().unwrap();
        let def_name = |p: &serde_json::Value| {
            p["$ref"]
                .as_str()
                .map(|r| r.rsplit('/').next().unwrap_or_default().to_string())
        };
        let mut failures = Vec::new();
        // Document kinds.
        let mut roots = 0;
        for root in schema["oneOf"].as_array().unwrap() {
            let name = def_name(root).unwrap();
            let props = &defs[&name]["properties"];
            let kind = props["kind"]["const"]
                .as_str()
                .or_else(|| props["kind"]["enum"][0].as_str())
                .unwrap_or("v1alpha1");
            roots += 1;
            if model.document_type(kind) != Some(name.as_str()) {
                failures.push(format!(
                    "document {kind}: schema {name}, model {:?}",
                    model.document_type(kind)
                ));
            }
        }
        // Properties.
        let mut checked = 0;
        for (name, def) in defs {
            let Some(props) = def["properties"].as_object() else {
                continue;
            };
            if !model.has_struct(name) {
                failures.push(format!("{name}: not in the model"));
                continue;
            }
            for (key, prop) in props {
                let Some(ty) = model.field_type(name, key) else {
                    failures.push(format!("{name}.{key}: not in the model"));
                    continue;
                };
                checked += 1;
                let schema_type = prop["type"].as_str().unwrap_or_default();
                let compatible = match (schema_type, def_name(prop)) {
                    (_, Some(target)) => {
                        ty == target
                            || ((ty == "scalar" || ty == "text")
                                && defs[&target]["type"] == "string")
                    }
                    ("string", _) => matches!(ty, "string" | "scalar" | "text" | "duration"),
                    ("boolean", _) => ty == "bool",
                    ("integer", _) => ty.contains("int") || ty == "scalar" || ty == "text",
                    ("number", _) => ty == "float" || ty.contains("int"),
                    ("array", _) => ty.starts_with("[]") || ty == "scalar",
                    ("object", _) => {
                        ty.starts_with("map:") || model.is_free(ty) || model.has_struct(ty)
                    }
                    _ => true, // oneOf and friends: not compared
                };
                if !compatible {
                    failures.push(format!(
                        "{name}.{key}: schema {schema_type} {prop_ref:?}, model {ty}",
                        prop_ref = def_name(prop)
                    ));
                    continue;
                }
                let sample =
                    |yaml: &str| -> serde_json::Value { crate::yaml::from_str(yaml).unwrap() };
                let (good, bad) = match schema_type {
                    "string" if ty == "duration" => ("{k: 30s}", "{k: {a: b}}"),
                    "string" => ("{k: x}", "{k: {a: b}}"),
                    "boolean" => ("{k: true}", "{k: maybe}"),
                    "integer" => ("{k: 1}", "{k: [1]}"),
                    "number" => ("{k: 1}", "{k: x}"),
                    "array" => ("{k: []}", "{k: {a: b}}"),
                    "object" => ("{k: {}}", "{k: [a]}"),
                    _ => continue,
                };
                let as_key = |doc: &str| {
                    let v = sample(doc);
                    let value = v["k"].clone();
                    let mut m = crate::yaml::Mapping::new();
                    m.insert(key.as_str().into(), value);
                    serde_json::Value::Object(m)
                };
                let accepted = typed::check_value(contract, name, &as_key(good));
                if !accepted.is_empty() {
                    failures.push(format!("{name}.{key}: {good} refused: {accepted:?}"));
                }
                if typed::check_value(contract, name, &as_key(bad)).is_empty()
                    && !model.is_free(ty)
                    && ty != "any"
                {
                    failures.push(format!("{name}.{key} ({ty}): {bad} accepted"));
                }
            }
        }
        failures.retain(|f| {
            !SCHEMA_ERRATA.iter().any(|(what, _)| {
                f.starts_with(&format!("{what}:")) || f.starts_with(&format!("{what} "))
            })
        });
        assert!(failures.is_empty(), "{contract}:\n{}", failures.join("\n"));
        assert!(
            roots >= 18 && checked > 400,
            "{contract}: {roots} documents, {checked} properties"
        );
        eprintln!("{contract}: {roots} documents and {checked} properties agree with the schema");
    }
}
