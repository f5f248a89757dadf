//! Machine config validation, written from Talos's documented rules (pkg/machinery/config: the v1alpha1 document,
//! its validation in `v1alpha1_validation.go`, and the multi-document network kinds of Talos 1.12+:
//! `LinkConfig`, `VLANConfig`, `Layer2VIPConfig`, `HostnameConfig`). Independent of the provider's config code on
//! purpose: it must catch the provider's mistakes. Every error names the field it is about.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::yaml::Value;
use rustls::pki_types::CertificateDer;

use super::version::TalosVersion;
use crate::emulator::pki;
use crate::emulator::topology::NodeSpec;

/// `machine.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MachineType {
    /// Runs etcd and the Kubernetes control plane (`controlplane`, or the deprecated `init`).
    ControlPlane,
    /// Runs workloads only.
    Worker,
}

/// A CA from the config: certificate and (on control planes) its key, both PEM.
#[derive(Debug, Clone)]
pub struct CaPair {
    /// Certificate PEM.
    pub cert_pem: String,
    /// Certificate DER.
    pub cert_der: CertificateDer<'static>,
    /// Key PEM when present.
    pub key_pem: Option<String>,
}

/// The facts the emulator needs from a validated machine config.
#[derive(Debug, Clone)]
pub struct MachineConfig {
    /// The bytes as applied.
    pub raw: String,
    /// `machine.type`.
    pub machine_type: MachineType,
    /// `machine.ca`: the OS CA that signs apid's serving cert and the client certs it accepts.
    pub os_ca: CaPair,
    /// `machine.acceptedCAs` certificates (DER), also trusted for client certs.
    pub accepted_cas: Vec<CertificateDer<'static>>,
    /// `machine.certSANs`.
    pub cert_sans: Vec<String>,
    /// `cluster.ca`: the Kubernetes CA.
    pub k8s_ca: CaPair,
    /// `cluster.clusterName`.
    pub cluster_name: String,
    /// `cluster.controlPlane.endpoint` as written.
    pub endpoint: String,
    /// Host part of the endpoint (IP or DNS name, brackets removed).
    pub endpoint_host: String,
    /// Port of the endpoint (443 when absent).
    pub endpoint_port: u16,
    /// `cluster.apiServer.certSANs`.
    pub api_cert_sans: Vec<String>,
    /// Install disk chosen (`machine.install.disk`, or the disk a `diskSelector` matched).
    pub install_disk: String,
    /// Static hostname (`machine.network.hostname` or `HostnameConfig.hostname`).
    pub hostname: Option<String>,
    /// Shared VIPs (`Layer2VIPConfig` names, or `vip.ip` of `machine.network.interfaces[]` and their VLANs).
    pub vips: Vec<IpAddr>,
    /// `cluster.allowSchedulingOnControlPlanes`.
    pub allow_scheduling_on_control_planes: bool,
    /// Tag of `machine.kubelet.image` (e.g. `v1.35.4`): the kubelet version the node runs.
    pub kubelet_version: Option<String>,
    /// Tag of `cluster.apiServer.image` (control planes): the kube-apiserver version served.
    pub apiserver_version: Option<String>,
    /// `cluster.id` when set: identifies the cluster.
    pub cluster_id: Option<String>,
    /// The v1alpha1 document, to decide which changes apply without a reboot.
    pub v1alpha1: Value,
}

/// Everything that is wrong with a config; displayed like Talos's multierror.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigErrors(pub Vec<String>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} error(s) occurred:", self.0.len())?;
        for e in &self.0 {
            write!(f, "\n\t* {e}")?;
        }
        Ok(())
    }
}

/// Why a node refused a config: Talos decodes it first (`configloader.NewFromBytes`, whose errors the maintenance
/// service up to 1.12 returns as "failed to parse config: ..." with gRPC `Unknown`), then validates it
/// (`Validate`, `InvalidArgument`).
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// The config does not decode: YAML syntax, a document kind the release does not register, a duplicate
    /// document, unknown keys or a value of the wrong type (pkg/machinery/config/configloader/internal/decoder).
    Parse(String),
    /// The config decodes but breaks a validation rule.
    Invalid(ConfigErrors),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::Parse(e) => f.write_str(e),
            Rejection::Invalid(e) => e.fmt(f),
        }
    }
}

pub(super) const TOP_KEYS: &[&str] = &["version", "debug", "persist", "machine", "cluster"];
pub(super) const MACHINE_KEYS: &[&str] = &[
    "type",
    "token",
    "ca",
    "acceptedCAs",
    "certSANs",
    "controlPlane",
    "kubelet",
    "pods",
    "network",
    "disks",
    "install",
    "files",
    "env",
    "time",
    "sysctls",
    "sysfs",
    "registries",
    "systemDiskEncryption",
    "features",
    "udev",
    "logging",
    "kernel",
    "seccompProfiles",
    "baseRuntimeSpecOverrides",
    "nodeLabels",
    "nodeAnnotations",
    "nodeTaints",
];
pub(super) const CLUSTER_KEYS: &[&str] = &[
    "id",
    "secret",
    "controlPlane",
    "clusterName",
    "network",
    "token",
    "aescbcEncryptionSecret",
    "secretboxEncryptionSecret",
    "ca",
    "acceptedCAs",
    "aggregatorCA",
    "serviceAccount",
    "apiServer",
    "controllerManager",
    "proxy",
    "scheduler",
    "discovery",
    "etcd",
    "coreDNS",
    "externalCloudProvider",
    "extraManifests",
    "extraManifestHeaders",
    "inlineManifests",
    "adminKubeconfig",
    "allowSchedulingOnControlPlanes",
    "allowSchedulingOnMasters",
];
pub(super) const NETWORK_KEYS: &[&str] = &[
    "hostname",
    "interfaces",
    "nameservers",
    "searchDomains",
    "extraHostEntries",
    "kubespan",
    "disableSearchDomain",
];

/// Walks a YAML mapping by keys.
fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(v, |cur, k| cur.get(*k))
        .filter(|v| !v.is_null())
}

/// The tag of an image reference (`ghcr.io/siderolabs/kubelet:v1.35.4` -> `v1.35.4`), digest dropped.
fn image_tag(image: &str) -> Option<String> {
    let name = image.split('@').next()?;
    let (repo, tag) = name.rsplit_once(':')?;
    (!tag.contains('/') && !repo.is_empty() && !tag.is_empty()).then(|| tag.to_string())
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn strings_at(v: &Value, path: &[&str], field: &str, errs: &mut Vec<String>) -> Vec<String> {
    match at(v, path) {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, it)| match it.as_str() {
                Some(s) => Some(s.to_string()),
                None => {
                    errs.push(format!("{field}[{i}]: must be a string"));
                    None
                }
            })
            .collect(),
        Some(_) => {
            errs.push(format!("{field}: must be a list of strings"));
            Vec::new()
        }
    }
}

/// Checks the Talos token format `[0-9a-z]{6}.[0-9a-z]{16}` (bootstrap and trustd tokens).
pub fn is_talos_token(s: &str) -> bool {
    let ok = |p: &str, n: usize| {
        p.len() == n
            && p.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    };
    matches!(s.split_once('.'), Some((a, b)) if ok(a, 6) && ok(b, 16))
}

/// Reads a CA (`{crt, key}`, base64 PEM) at `path`; `key_rule`: Some(true) required, Some(false) forbidden.
fn read_ca(
    doc: &Value,
    path: &[&str],
    key_rule: Option<bool>,
    errs: &mut Vec<String>,
) -> Option<CaPair> {
    let field = format!(".{}", path.join("."));
    let Some(crt_b64) = str_at(doc, &[path, &["crt"]].concat()) else {
        errs.push(format!("{field}.crt: certificate is required"));
        return None;
    };
    let parsed = pki::b64_pem(crt_b64).and_then(|pem| pki::cert_der(&pem).map(|der| (pem, der)));
    let (cert_pem, cert_der) = match parsed {
        Ok(p) => p,
        Err(e) => {
            errs.push(format!("{field}.crt: {e}"));
            return None;
        }
    };
    if let Err(e) = pki::check_ca(&cert_der) {
        errs.push(format!("{field}.crt: {e}"));
    }
    let key_b64 = str_at(doc, &[path, &["key"]].concat());
    let key_pem = match (key_b64, key_rule) {
        (None, Some(true)) => {
            errs.push(format!(
                "{field}.key: key is required on controlplane nodes"
            ));
            None
        }
        (Some(_), Some(false)) => {
            errs.push(format!(
                "{field}.key: key is not allowed on non-controlplane nodes"
            ));
            None
        }
        (None, _) => None,
        (Some(b64), _) => {
            match pki::b64_pem(b64).and_then(|pem| pki::key_pair(&pem).map(|k| (pem, k))) {
                Err(e) => {
                    errs.push(format!("{field}.key: {e}"));
                    None
                }
                Ok((pem, key)) => {
                    if !pki::key_matches(&key, &cert_der).unwrap_or(false) {
                        errs.push(format!(
                            "{field}.key: key does not match the certificate {field}.crt"
                        ));
                    }
                    Some(pem)
                }
            }
        }
    };
    Some(CaPair {
        cert_pem,
        cert_der,
        key_pem,
    })
}

fn check_b64_secret(doc: &Value, path: &[&str], errs: &mut Vec<String>) {
    use base64::Engine;
    if let Some(s) = str_at(doc, path) {
        let std = base64::engine::general_purpose::STANDARD.decode(s);
        let url = base64::engine::general_purpose::URL_SAFE.decode(s);
        match std.or(url) {
            Ok(b) if b.len() == 32 => {}
            Ok(b) => errs.push(format!(
                ".{}: must decode to 32 bytes, got {}",
                path.join("."),
                b.len()
            )),
            Err(_) => errs.push(format!(".{}: is not valid base64", path.join("."))),
        }
    }
}

fn parse_prefix(s: &str) -> bool {
    s.parse::<ipnet::IpNet>().is_ok()
}

/// Splits an https endpoint into host and port (443 by default).
fn parse_endpoint(s: &str) -> Result<(String, u16), String> {
    let uri: http::Uri = s.parse().map_err(|e| format!("invalid URL {s:?}: {e}"))?;
    if uri.scheme_str() != Some("https") {
        return Err(format!("{s:?} must be an https URL"));
    }
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("{s:?} has no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok((host, uri.port_u16().unwrap_or(443)))
}

/// Decodes and validates `raw` for `node` running `talos`, and extracts what the emulator needs. Decoding fails
/// first (as Talos's decoder does, on the first problem): YAML that does not parse, a document that is not a
/// mapping, a kind `talos` does not register, a duplicate document, unknown keys, a value of the wrong type.
/// Then every validation rule below is checked and all failures are reported together.
pub fn validate(
    raw: &[u8],
    node: &NodeSpec,
    talos: &TalosVersion,
) -> Result<MachineConfig, Rejection> {
    let parse = |m: String| Rejection::Parse(m);
    let text =
        std::str::from_utf8(raw).map_err(|_| parse("decode error: config is not UTF-8".into()))?;
    let docs: Vec<Value> =
        crate::yaml::documents(text).map_err(|e| parse(format!("decode error: {e}")))?;
    let mut v1 = None;
    let mut others = Vec::new();
    let mut ids = BTreeSet::new();
    for doc in docs {
        if !doc.is_object() {
            return Err(parse("expected a document".into()));
        }
        match (doc.get("kind"), doc.get("version")) {
            (None, Some(_)) => {
                // decoder.go@v1.12.11: the legacy document's id is (v1alpha1 apiVersion-less, kind "v1alpha1").
                if v1.is_some() {
                    return Err(parse("duplicate document /v1alpha1/ is not allowed".into()));
                }
                v1 = Some(doc);
            }
            (Some(kind), _) => {
                let kind = kind.as_str().unwrap_or("").to_string();
                let api_version = str_at(&doc, &["apiVersion"]).unwrap_or("").to_string();
                let name = str_at(&doc, &["name"]).unwrap_or("").to_string();
                if !ids.insert((kind.clone(), name.clone())) {
                    return Err(parse(format!(
                        "duplicate document {api_version}/{kind}/{name} is not allowed"
                    )));
                }
                // registry.go@v1.11.6 `New`: an unregistered (kind, apiVersion) pair.
                if api_version != "v1alpha1" || !talos.registers_kind(&kind) {
                    return Err(parse(format!("{kind:?} {api_version:?}: not registered")));
                }
                others.push((kind, doc));
            }
            (None, None) => return Err(parse("missing kind".into())),
        }
    }
    let Some(v1) = v1 else {
        return Err(Rejection::Invalid(ConfigErrors(vec![
            "the machine configuration doesn't contain v1alpha1 config".to_string(),
        ])));
    };
    super::config_decode::check_v1alpha1(&v1).map_err(parse)?;
    let mut errs = Vec::new();
    let cfg = validate_v1alpha1(text, &v1, &others, node, &mut errs);
    match cfg {
        Some(c) if errs.is_empty() => Ok(c),
        _ => Err(Rejection::Invalid(ConfigErrors(errs))),
    }
}

fn validate_v1alpha1(
    text: &str,
    v1: &Value,
    others: &[(String, Value)],
    node: &NodeSpec,
    errs: &mut Vec<String>,
) -> Option<MachineConfig> {
    if str_at(v1, &["version"]) != Some("v1alpha1") {
        errs.push(format!(
            ".version: invalid config version {:?}, expected v1alpha1",
            v1.get("version")
        ));
    }
    if at(v1, &["machine"]).is_none() {
        errs.push(".machine: machine instructions are required".into());
        return None;
    }
    let machine_type = match str_at(v1, &["machine", "type"]) {
        Some("controlplane") | Some("init") => MachineType::ControlPlane,
        Some("worker") => MachineType::Worker,
        other => {
            errs.push(format!(
                ".machine.type: unknown machine type {:?} (controlplane or worker)",
                other.unwrap_or("")
            ));
            return None;
        }
    };
    let cp = machine_type == MachineType::ControlPlane;
    match str_at(v1, &["machine", "token"]) {
        None => errs.push(".machine.token: trustd token is required".into()),
        Some(t) if !is_talos_token(t) => errs.push(
            ".machine.token: trustd token is invalid (expected [0-9a-z]{6}.[0-9a-z]{16})".into(),
        ),
        _ => {}
    }
    let os_ca = read_ca(v1, &["machine", "ca"], Some(cp), errs);
    let mut accepted_cas = Vec::new();
    if let Some(Value::Array(items)) = at(v1, &["machine", "acceptedCAs"]) {
        for (i, it) in items.iter().enumerate() {
            match it
                .get("crt")
                .and_then(Value::as_str)
                .map(|b| pki::b64_pem(b).and_then(|p| pki::cert_der(&p)))
            {
                Some(Ok(der)) => accepted_cas.push(der),
                Some(Err(e)) => errs.push(format!(".machine.acceptedCAs[{i}].crt: {e}")),
                None => errs.push(format!(
                    ".machine.acceptedCAs[{i}].crt: certificate is required"
                )),
            }
        }
    }
    let cert_sans = strings_at(v1, &["machine", "certSANs"], ".machine.certSANs", errs);
    let install_disk = check_install(v1, node, errs);
    let (hostname, mut vips) = check_legacy_network(v1, cp, errs);
    let hostname = check_network_documents(others, hostname, cp, &mut vips, errs);

    if at(v1, &["cluster"]).is_none() {
        errs.push(".cluster: cluster instructions are required".into());
        return None;
    }
    let endpoint = str_at(v1, &["cluster", "controlPlane", "endpoint"])
        .unwrap_or("")
        .to_string();
    let (endpoint_host, endpoint_port) = if endpoint.is_empty() {
        errs.push(
            ".cluster.controlPlane.endpoint: cluster controlplane endpoint is required".into(),
        );
        (String::new(), 0)
    } else {
        parse_endpoint(&endpoint).unwrap_or_else(|e| {
            errs.push(format!(
                ".cluster.controlPlane.endpoint: invalid controlplane endpoint: {e}"
            ));
            (String::new(), 0)
        })
    };
    let cluster_name = str_at(v1, &["cluster", "clusterName"])
        .unwrap_or("")
        .to_string();
    if cluster_name.is_empty() {
        errs.push(".cluster.clusterName: cluster name is required".into());
    }
    match str_at(v1, &["cluster", "token"]) {
        None => errs.push(".cluster.token: bootstrap token is required".into()),
        Some(t) if !is_talos_token(t) => errs.push(
            ".cluster.token: bootstrap token is invalid (expected [0-9a-z]{6}.[0-9a-z]{16})".into(),
        ),
        _ => {}
    }
    check_cluster_network(v1, errs);
    check_b64_secret(v1, &["cluster", "secret"], errs);
    check_b64_secret(v1, &["cluster", "secretboxEncryptionSecret"], errs);
    check_b64_secret(v1, &["cluster", "aescbcEncryptionSecret"], errs);
    let k8s_ca = read_ca(v1, &["cluster", "ca"], Some(cp), errs);
    if cp {
        read_ca(v1, &["cluster", "aggregatorCA"], Some(true), errs);
        read_ca(v1, &["cluster", "etcd", "ca"], Some(true), errs);
        match str_at(v1, &["cluster", "serviceAccount", "key"]) {
            None => {
                errs.push(".cluster.serviceAccount.key: service account key is required".into())
            }
            Some(b) => {
                if let Err(e) = pki::b64_pem(b).and_then(|p| pki::key_pair(&p)) {
                    errs.push(format!(".cluster.serviceAccount.key: {e}"));
                }
            }
        }
        if str_at(v1, &["cluster", "secretboxEncryptionSecret"]).is_none()
            && str_at(v1, &["cluster", "aescbcEncryptionSecret"]).is_none()
        {
            errs.push(".cluster.secretboxEncryptionSecret: an encryption secret is required on controlplane nodes".into());
        }
    } else {
        if at(v1, &["cluster", "etcd"]).is_some() {
            errs.push(
                ".cluster.etcd: etcd config is only allowed on control plane machines".into(),
            );
        }
        for section in ["aggregatorCA", "serviceAccount"] {
            if at(v1, &["cluster", section, "key"])
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
            {
                errs.push(format!(
                    ".cluster.{section}: keys are not allowed on non-controlplane nodes"
                ));
            }
        }
    }
    let api_cert_sans = strings_at(
        v1,
        &["cluster", "apiServer", "certSANs"],
        ".cluster.apiServer.certSANs",
        errs,
    );
    Some(MachineConfig {
        raw: text.to_string(),
        machine_type,
        os_ca: os_ca?,
        accepted_cas,
        cert_sans,
        k8s_ca: k8s_ca?,
        cluster_name,
        endpoint,
        endpoint_host,
        endpoint_port,
        api_cert_sans,
        install_disk: install_disk?,
        hostname,
        vips,
        allow_scheduling_on_control_planes: at(v1, &["cluster", "allowSchedulingOnControlPlanes"])
            .and_then(Value::as_bool)
            .unwrap_or(false),
        cluster_id: str_at(v1, &["cluster", "id"]).map(str::to_string),
        kubelet_version: str_at(v1, &["machine", "kubelet", "image"]).and_then(image_tag),
        apiserver_version: str_at(v1, &["cluster", "apiServer", "image"]).and_then(image_tag),
        v1alpha1: v1.clone(),
    })
}

/// `machine.install`: `disk` (must exist on the node) or `diskSelector` (`size` with an optional `>=`/`<=`
/// comparison and unit, `type`), exactly one.
fn check_install(v1: &Value, node: &NodeSpec, errs: &mut Vec<String>) -> Option<String> {
    let Some(install) = at(v1, &["machine", "install"]) else {
        errs.push(".machine.install: install instructions are required in metal mode".into());
        return None;
    };
    let disk = str_at(install, &["disk"]);
    let selector = at(install, &["diskSelector"]);
    match (disk, selector) {
        (Some(_), Some(_)) => {
            errs.push(".machine.install: disk and diskSelector are mutually exclusive".into());
            None
        }
        (None, None) => {
            errs.push(
                ".machine.install: either install disk or diskSelector should be defined".into(),
            );
            None
        }
        (Some(d), None) => {
            if node.disks.iter().any(|x| x.path == d) {
                Some(d.to_string())
            } else {
                let have: Vec<&str> = node.disks.iter().map(|x| x.path.as_str()).collect();
                errs.push(format!(
                    ".machine.install.disk: disk {d:?} not found on the node (disks: {have:?})"
                ));
                None
            }
        }
        (None, Some(sel)) => {
            let size = sel.get("size").and_then(Value::as_str);
            let found = node
                .disks
                .iter()
                .find(|d| size.is_none_or(|s| size_matches(s, d.size.0)));
            match found {
                Some(d) => Some(d.path.clone()),
                None => {
                    errs.push(format!(
                        ".machine.install.diskSelector: no disks matched the selector {sel:?}"
                    ));
                    None
                }
            }
        }
    }
}

fn size_matches(expr: &str, size: u64) -> bool {
    let e = expr.trim();
    let (op, rest) = [">=", "<=", ">", "<", "=="]
        .iter()
        .find_map(|op| e.strip_prefix(op).map(|r| (*op, r.trim())))
        .unwrap_or(("==", e));
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let Ok(n) = rest[..digits].parse::<u64>() else {
        return false;
    };
    let mult = match rest[digits..].trim() {
        "" => 1,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return false,
    };
    let want = n.saturating_mul(mult);
    match op {
        ">=" => size >= want,
        "<=" => size <= want,
        ">" => size > want,
        "<" => size < want,
        _ => size == want,
    }
}

fn check_addresses(v: &Value, field: &str, errs: &mut Vec<String>) {
    for (i, a) in v
        .get("addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        // v1alpha1 uses plain strings, the network documents {address: ...}.
        let s = a
            .as_str()
            .or_else(|| a.get("address").and_then(Value::as_str))
            .unwrap_or("");
        if !parse_prefix(s) {
            errs.push(format!(
                "{field}.addresses[{i}]: {s:?} must be a valid IP prefix"
            ));
        }
    }
}

fn check_vip(v: &Value, field: &str, cp: bool, vips: &mut Vec<IpAddr>, errs: &mut Vec<String>) {
    if let Some(ip) = at(v, &["vip", "ip"]).and_then(Value::as_str) {
        if !cp {
            errs.push(format!(
                "{field}.vip: virtual (shared) IP is not allowed on non-controlplane nodes"
            ));
        }
        match ip.parse::<IpAddr>() {
            Ok(ip) => vips.push(ip),
            Err(_) => errs.push(format!(
                "{field}.vip.ip: failed to parse {ip:?} as IP address"
            )),
        }
    }
}

/// The pre-1.12 `machine.network` form: hostname and `interfaces[]` with addresses, routes, VLANs and VIPs.
fn check_legacy_network(
    v1: &Value,
    cp: bool,
    errs: &mut Vec<String>,
) -> (Option<String>, Vec<IpAddr>) {
    let mut vips = Vec::new();
    let Some(net) = at(v1, &["machine", "network"]) else {
        return (None, vips);
    };
    let hostname = str_at(net, &["hostname"]).map(str::to_string);
    for (i, dev) in net
        .get("interfaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let field = format!(".machine.network.interfaces[{i}]");
        match (dev.get("interface"), dev.get("deviceSelector")) {
            (Some(_), Some(_)) => errs.push(format!(
                "{field}: interface and deviceSelector are mutually exclusive"
            )),
            (None, None) => errs.push(format!("{field}: interface or deviceSelector is required")),
            _ => {}
        }
        check_addresses(dev, &field, errs);
        for (j, r) in dev
            .get("routes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let network = r.get("network").and_then(Value::as_str);
            let gateway = r.get("gateway").and_then(Value::as_str);
            if network.is_none() && gateway.is_none() {
                errs.push(format!(
                    "{field}.routes[{j}]: either network or gateway should be set"
                ));
            }
            if network.is_some_and(|n| !parse_prefix(n)) {
                errs.push(format!(
                    "{field}.routes[{j}].network: invalid network address"
                ));
            }
            if gateway.is_some_and(|g| g.parse::<IpAddr>().is_err()) {
                errs.push(format!(
                    "{field}.routes[{j}].gateway: invalid network address"
                ));
            }
        }
        check_vip(dev, &field, cp, &mut vips, errs);
        for (j, vlan) in dev
            .get("vlans")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let vfield = format!("{field}.vlans[{j}]");
            match vlan.get("vlanId").and_then(Value::as_u64) {
                Some(1..=4094) => {}
                _ => errs.push(format!("{vfield}.vlanId: must be between 1 and 4094")),
            }
            check_addresses(vlan, &vfield, errs);
            check_vip(vlan, &vfield, cp, &mut vips, errs);
        }
    }
    (hostname, vips)
}

/// The multi-document network kinds of Talos 1.12+, with upstream's rules and messages.
fn check_network_documents(
    docs: &[(String, Value)],
    legacy_hostname: Option<String>,
    cp: bool,
    vips: &mut Vec<IpAddr>,
    errs: &mut Vec<String>,
) -> Option<String> {
    let mut hostname = legacy_hostname.clone();
    for (kind, doc) in docs {
        let name = str_at(doc, &["name"]).unwrap_or("");
        let field = format!("{kind} {name:?}");
        match kind.as_str() {
            "LinkConfig" | "VLANConfig" => {
                if name.is_empty() {
                    errs.push(format!("{kind}.name: name must be specified"));
                }
                for (i, a) in doc
                    .get("addresses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    match a.get("address").and_then(Value::as_str) {
                        None => errs.push(format!(
                            "{field}.addresses[{i}].address: address {i} must be specified"
                        )),
                        Some(s) if !parse_prefix(s) => errs.push(format!(
                            "{field}.addresses[{i}].address: address {i} must be a valid IP prefix"
                        )),
                        _ => {}
                    }
                }
                for (i, r) in doc
                    .get("routes")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    if r.get("destination")
                        .and_then(Value::as_str)
                        .is_some_and(|d| !parse_prefix(d))
                    {
                        errs.push(format!(
                            "{field}.routes[{i}].destination: route {i} destination must be a valid IP prefix"
                        ));
                    }
                    if r.get("gateway")
                        .and_then(Value::as_str)
                        .is_some_and(|g| g.parse::<IpAddr>().is_err())
                    {
                        errs.push(format!("{field}.routes[{i}].gateway: route {i} gateway must be a valid IP address"));
                    }
                }
                if kind == "VLANConfig" {
                    match doc.get("vlanID").and_then(Value::as_u64) {
                        Some(1..=4094) => {}
                        _ => errs.push(format!(
                            "{field}.vlanID: vlanID must be specified and between 1 and 4094"
                        )),
                    }
                    if str_at(doc, &["parent"]).is_none() {
                        errs.push(format!("{field}.parent: parent must be specified"));
                    }
                }
            }
            "Layer2VIPConfig" => {
                match name.parse::<IpAddr>() {
                    Ok(ip) => vips.push(ip),
                    Err(_) => errs.push(format!("{field}.name: name must be a valid IP address")),
                }
                if str_at(doc, &["link"]).is_none() {
                    errs.push(format!("{field}.link: link must be specified"));
                }
                if !cp {
                    errs.push(format!(
                        "{field}: virtual (shared) IP is not allowed on non-controlplane nodes"
                    ));
                }
            }
            "HostnameConfig" => {
                let static_name = str_at(doc, &["hostname"]);
                let auto = str_at(doc, &["auto"]);
                match (static_name, auto) {
                    (None, None) => {
                        errs.push("HostnameConfig: either 'auto' or 'hostname' must be set".into())
                    }
                    (Some(_), Some(_)) => errs.push(
                        "HostnameConfig: 'auto' and 'hostname' cannot be set at the same time"
                            .into(),
                    ),
                    (None, Some(a)) if a != "stable" && a != "off" => errs.push(format!(
                        "HostnameConfig.auto: invalid value for 'auto': {a}"
                    )),
                    (Some(h), None) if !valid_hostname(h) => {
                        errs.push(format!("HostnameConfig.hostname: invalid hostname {h:?}"))
                    }
                    _ => {}
                }
                if legacy_hostname.is_some() {
                    errs.push(
                        "HostnameConfig: static hostname is already set in v1alpha1 config (.machine.network.hostname)"
                            .into(),
                    );
                }
                if let Some(h) = static_name {
                    hostname = Some(h.to_string());
                }
            }
            _ => {}
        }
    }
    hostname
}

fn valid_hostname(h: &str) -> bool {
    h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// `cluster.network`: dnsDomain, pod/service subnets as CIDRs, CNI name flannel | custom | none.
fn check_cluster_network(v1: &Value, errs: &mut Vec<String>) {
    if let Some(d) = str_at(v1, &["cluster", "network", "dnsDomain"]) {
        if !valid_hostname(d) {
            errs.push(format!(
                ".cluster.network.dnsDomain: {d:?} is not a valid DNS name"
            ));
        }
    }
    for key in ["podSubnets", "serviceSubnets"] {
        let field = format!(".cluster.network.{key}");
        for (i, s) in strings_at(v1, &["cluster", "network", key], &field, errs)
            .iter()
            .enumerate()
        {
            if !parse_prefix(s) {
                errs.push(format!("{field}[{i}]: {s:?} is not a valid CIDR"));
            }
        }
    }
    if let Some(cni) = at(v1, &["cluster", "network", "cni"]) {
        let name = str_at(cni, &["name"]).unwrap_or("");
        if !["flannel", "custom", "none"].contains(&name) {
            errs.push(format!(
                ".cluster.network.cni.name: cni name should be one of [\"flannel\", \"custom\", \"none\"], got {name:?}"
            ));
        }
        if name != "custom" && at(cni, &["urls"]).is_some() {
            errs.push(format!(
                ".cluster.network.cni.urls: \"urls\" field should be empty for {name:?} CNI"
            ));
        }
    }
}

fn remove_path(v: &mut Value, path: &[&str]) {
    match path {
        [] => {}
        [last] => {
            if let Some(m) = v.as_object_mut() {
                m.remove(*last);
            }
        }
        [first, rest @ ..] => {
            if let Some(next) = v.get_mut(*first) {
                remove_path(next, rest);
            }
        }
    }
}

/// Paths of the v1alpha1 document that Talos applies without a reboot (`CanApplyImmediate` in
/// internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_runtime.go).
const IMMEDIATE: &[&[&str]] = &[
    &["debug"],
    &["cluster"],
    &["machine", "ca"],
    &["machine", "acceptedCAs"],
    &["machine", "time"],
    &["machine", "certSANs"],
    &["machine", "install"],
    &["machine", "network"],
    &["machine", "sysfs"],
    &["machine", "sysctls"],
    &["machine", "logging"],
    &["machine", "controlPlane"],
    &["machine", "kubelet"],
    &["machine", "kernel"],
    &["machine", "registries"],
    &["machine", "pods"],
    &["machine", "seccompProfiles"],
    &["machine", "nodeAnnotations"],
    &["machine", "nodeLabels"],
    &["machine", "nodeTaints"],
    &["machine", "features", "kubernetesTalosAPIAccess"],
    &["machine", "features", "kubePrism"],
    &["machine", "features", "hostDNS"],
    &["machine", "features", "imageCache"],
    &["machine", "features", "nodeAddressSortAlgorithm"],
];

fn strip_immediate(v: &Value) -> Value {
    let mut v = v.clone();
    for path in IMMEDIATE {
        remove_path(&mut v, path);
    }
    // An empty features map equals an absent one.
    if let Some(m) = v.get_mut("machine").and_then(Value::as_object_mut) {
        if m.get("features")
            .and_then(Value::as_object)
            .is_some_and(|f| f.is_empty())
        {
            m.remove("features");
        }
    }
    v
}

/// `Ok` when `new` differs from `current` only where Talos applies changes without a reboot; otherwise the error
/// Talos gives ("this config change can't be applied in immediate mode").
pub fn can_apply_immediate(current: &MachineConfig, new: &MachineConfig) -> Result<(), String> {
    if strip_immediate(&current.v1alpha1) == strip_immediate(&new.v1alpha1) {
        Ok(())
    } else {
        Err("this config change can't be applied in immediate mode".to_string())
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
