//! The environments' facts (issues 7 and 8) and helpers to read built Kubernetes objects.

use ipnet::Ipv4Net;
use std::net::Ipv4Addr;
use vixens::yaml::Value;

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
pub const APPS: [&str; 8] = [
    "argocd",
    "sealed-secrets",
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
    vixens::yaml::documents(text).map_err(|e| e.to_string())
}

/// Parses one YAML document (tests feed bad documents through this).
pub fn yaml(text: &str) -> Doc {
    vixens::yaml::from_str(text).expect("test YAML parses")
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
        .and_then(Value::as_array)
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
        Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Object(m) => {
            for (k, v) in m {
                out.push(k.clone());
                strings(v, out);
            }
        }
        _ => {}
    }
}

/// Parses an IPv4 address literal from the facts table or a built object.
pub fn ip(s: &str) -> Option<Ipv4Addr> {
    s.trim().parse().ok()
}

/// The LB IPAM kinds: `vixens_cilium` (terraform/environments/<env>) creates them at bootstrap and hands them to
/// the tree's `cilium-lb` app.
pub const LB_IPAM_KINDS: &[&str] = &["CiliumLoadBalancerIPPool", "CiliumL2AnnouncementPolicy"];

/// The LB IPAM objects that `terraform/environments/<env>` has `vixens_cilium` create, as that resource renders
/// them (`spec.blocks` `{start, stop}`, `spec.serviceSelector.matchLabels` when the selector is not empty; the
/// policy `services` on the interfaces `^<link>\.<services_vlan_id>$` with `loadBalancerIPs`), read from the
/// environment's `terraform.tfvars` text. Each pool is one line of `load_balancer_ip_pools`:
/// `name = { start = "a", stop = "b", service_selector = { "k" = "v" } }`. `link` is the tfvars value or the
/// variable's default `eth0`. Pools get the placeholder annotation when the file says `PLACEHOLDER`.
pub fn terraform_lb_ipam(tfvars: &str) -> Result<Vec<Doc>, String> {
    use regex::Regex;
    let vlan = Regex::new(r"(?m)^services_vlan_id\s*=\s*(\d+)")
        .expect("regex")
        .captures(tfvars)
        .ok_or("no services_vlan_id")?[1]
        .to_string();
    let link = Regex::new(r#"(?m)^link\s*=\s*"([^"]+)""#)
        .expect("regex")
        .captures(tfvars)
        .map(|c| c[1].to_string())
        .unwrap_or_else(|| "eth0".to_string());
    let start = tfvars
        .find("\nload_balancer_ip_pools = {\n")
        .ok_or("no load_balancer_ip_pools")?;
    let body = &tfvars[start..];
    let body = &body[..body
        .find("\n}")
        .ok_or("unterminated load_balancer_ip_pools")?];
    let line = Regex::new(
        r#"^\s*"?([\w-]+)"?\s*=\s*\{\s*start\s*=\s*"([^"]+)",\s*stop\s*=\s*"([^"]+)",\s*service_selector\s*=\s*\{([^}]*)\}\s*\}"#,
    )
    .expect("regex");
    let pair = Regex::new(r#""([^"]+)"\s*=\s*"([^"]*)""#).expect("regex");
    let placeholder = tfvars.contains("PLACEHOLDER");
    let mut docs = Vec::new();
    for l in body.lines().skip(2) {
        let l = l.split(" #").next().unwrap_or(l);
        if l.trim().is_empty() {
            continue;
        }
        let c = line
            .captures(l)
            .ok_or_else(|| format!("pool line not understood: {l:?}"))?;
        let mut pool = vixens::yaml::Mapping::new();
        pool.insert("apiVersion".into(), "cilium.io/v2alpha1".into());
        pool.insert("kind".into(), "CiliumLoadBalancerIPPool".into());
        let mut meta = vixens::yaml::Mapping::new();
        meta.insert("name".into(), c[1].into());
        if placeholder {
            let mut a = vixens::yaml::Mapping::new();
            a.insert(
                PLACEHOLDER_ANNOTATION.into(),
                "terraform.tfvars says PLACEHOLDER".into(),
            );
            meta.insert("annotations".into(), Value::Object(a));
        }
        pool.insert("metadata".into(), Value::Object(meta));
        let mut block = vixens::yaml::Mapping::new();
        block.insert("start".into(), c[2].into());
        block.insert("stop".into(), c[3].into());
        let mut spec = vixens::yaml::Mapping::new();
        spec.insert("blocks".into(), Value::Array(vec![Value::Object(block)]));
        let labels: vixens::yaml::Mapping = pair
            .captures_iter(&c[4])
            .map(|p| (p[1].to_string(), Value::from(&p[2])))
            .collect();
        if !labels.is_empty() {
            let mut sel = vixens::yaml::Mapping::new();
            sel.insert("matchLabels".into(), Value::Object(labels));
            spec.insert("serviceSelector".into(), Value::Object(sel));
        }
        pool.insert("spec".into(), Value::Object(spec));
        docs.push(Value::Object(pool));
    }
    if docs.is_empty() {
        return Err("no pool in load_balancer_ip_pools".into());
    }
    docs.push(yaml(&format!(
        "{{apiVersion: cilium.io/v2alpha1, kind: CiliumL2AnnouncementPolicy, metadata: {{name: services}}, \
         spec: {{interfaces: ['^{link}\\.{vlan}$'], loadBalancerIPs: true, externalIPs: false}}}}"
    )));
    Ok(docs)
}
