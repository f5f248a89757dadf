//! The environments' facts (issues 7 and 8) and helpers to read built Kubernetes objects.

use ipnet::Ipv4Net;
use serde_yaml::Value;
use std::net::Ipv4Addr;

/// One built Kubernetes object, as `kubectl kustomize` prints it.
pub type Doc = Value;

/// What an environment must look like once built.
pub struct Env {
    /// Overlay directory name (`argocd/overlays/<name>`, `apps/<app>/overlays/<name>`).
    pub name: &'static str,
    /// Git branch the env deploys from: dev, test, staging, and main for prod.
    pub branch: &'static str,
    /// Services VLAN id; L2 announcements go out on `<link>.<vlan>`.
    pub vlan: u16,
    /// Services VLAN subnet: every address of the env lies inside it.
    pub subnet: &'static str,
    /// LB IPAM pool "assigned" (first, last address).
    pub assigned: (&'static str, &'static str),
    /// LB IPAM pool "auto" (first, last address).
    pub auto: (&'static str, &'static str),
    /// Traefik's fixed LoadBalancer address (annotation `lbipam.cilium.io/ips`).
    pub traefik_ip: &'static str,
    /// ClusterIssuer every Ingress and Certificate names.
    pub issuer: &'static str,
    /// `Some(ACME directory)` for Let's Encrypt, `None` for a self-signed issuer.
    pub acme_server: Option<&'static str>,
    /// The addresses are placeholders (staging, prod) and must say so.
    pub placeholder: bool,
}

impl Env {
    /// The services subnet, parsed.
    pub fn net(&self) -> Ipv4Net {
        self.subnet
            .parse()
            .expect("facts table holds valid subnets")
    }
}

/// Let's Encrypt's ACME directories (letsencrypt.org/docs/staging-environment, /getting-started).
pub const LE_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
pub const LE_PROD: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// dev and test carry the homelab's real VLANs (issue 7); staging and prod are placeholders.
pub static ENVS: [Env; 4] = [
    Env {
        name: "dev",
        branch: "dev",
        vlan: 208,
        subnet: "192.168.208.0/24",
        assigned: ("192.168.208.70", "192.168.208.79"),
        auto: ("192.168.208.80", "192.168.208.89"),
        traefik_ip: "192.168.208.70",
        issuer: "selfsigned",
        acme_server: None,
        placeholder: false,
    },
    Env {
        name: "test",
        branch: "test",
        vlan: 209,
        subnet: "192.168.209.0/24",
        assigned: ("192.168.209.70", "192.168.209.79"),
        auto: ("192.168.209.80", "192.168.209.89"),
        traefik_ip: "192.168.209.70",
        issuer: "selfsigned",
        acme_server: None,
        placeholder: false,
    },
    Env {
        name: "staging",
        branch: "staging",
        vlan: 210,
        subnet: "192.168.210.0/24",
        assigned: ("192.168.210.70", "192.168.210.79"),
        auto: ("192.168.210.80", "192.168.210.89"),
        traefik_ip: "192.168.210.70",
        issuer: "letsencrypt-staging",
        acme_server: Some(LE_STAGING),
        placeholder: true,
    },
    Env {
        name: "prod",
        branch: "main",
        vlan: 211,
        subnet: "192.168.211.0/24",
        assigned: ("192.168.211.70", "192.168.211.79"),
        auto: ("192.168.211.80", "192.168.211.89"),
        traefik_ip: "192.168.211.70",
        issuer: "letsencrypt-prod",
        acme_server: Some(LE_PROD),
        placeholder: true,
    },
];

/// Every app of the tree: one Application in argocd/base, one apps/<app> folder.
pub const APPS: [&str; 7] = [
    "argocd",
    "cilium-lb",
    "traefik",
    "cert-manager",
    "synology-csi",
    "authelia",
    "monitoring",
];

/// Annotation that marks placeholder addresses (staging, prod).
pub const PLACEHOLDER_ANNOTATION: &str = "vixens.io/placeholder-addresses";

/// Parses a multi-document YAML stream, dropping empty documents.
pub fn parse_stream(text: &str) -> Result<Vec<Doc>, String> {
    let mut docs = Vec::new();
    for de in serde_yaml::Deserializer::from_str(text) {
        let doc = <Value as serde::Deserialize>::deserialize(de).map_err(|e| e.to_string())?;
        if !doc.is_null() {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Parses one YAML document (tests feed bad documents through this).
pub fn yaml(text: &str) -> Doc {
    serde_yaml::from_str(text).expect("test YAML parses")
}

/// The value at `path` (mapping keys), if every step exists.
pub fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

/// The string at `path`, if it is a string.
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path)?.as_str()
}

/// The sequence at `path`, or an empty slice.
pub fn seq<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path)
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub fn kind(d: &Doc) -> &str {
    str_at(d, &["kind"]).unwrap_or("")
}

pub fn name(d: &Doc) -> &str {
    str_at(d, &["metadata", "name"]).unwrap_or("")
}

pub fn namespace(d: &Doc) -> Option<&str> {
    str_at(d, &["metadata", "namespace"])
}

pub fn annotation<'a>(d: &'a Doc, key: &str) -> Option<&'a str> {
    get(d, &["metadata", "annotations"])?.get(key)?.as_str()
}

pub fn label<'a>(d: &'a Doc, key: &str) -> Option<&'a str> {
    get(d, &["metadata", "labels"])?.get(key)?.as_str()
}

/// API group of an object: "" for the core group (`apiVersion: v1`).
pub fn api_group(d: &Doc) -> &str {
    let api_version = str_at(d, &["apiVersion"]).unwrap_or("");
    api_version
        .rsplit_once('/')
        .map(|(group, _)| group)
        .unwrap_or("")
}

/// "Kind ns/name" for messages.
pub fn id(d: &Doc) -> String {
    match namespace(d) {
        Some(ns) => format!("{} {ns}/{}", kind(d), name(d)),
        None => format!("{} {}", kind(d), name(d)),
    }
}

/// Every string scalar in a document, with mapping keys, depth first.
pub fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Sequence(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Mapping(m) => {
            for (k, v) in m {
                strings(k, out);
                strings(v, out);
            }
        }
        Value::Tagged(t) => strings(&t.value, out),
        _ => {}
    }
}

/// Parses an IPv4 address literal from the facts table or a built object.
pub fn ip(s: &str) -> Option<Ipv4Addr> {
    s.trim().parse().ok()
}
