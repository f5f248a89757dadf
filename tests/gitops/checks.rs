//! The checks of the built GitOps tree. Each returns the violations it found (empty: the check passed), so
//! that one run reports every problem; each has unit tests below that feed it a bad document.

use crate::model::*;
use base64::Engine as _;
use ipnet::Ipv4Net;
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::LazyLock;

/// An Application and the objects its own-repository source builds to.
pub struct AppUnit {
    pub app: Doc,
    pub docs: Vec<Doc>,
}

/// Helm charts that install CRDs, and the API groups of those CRDs (each chart's `crds/` or templates).
pub const CHART_CRD_GROUPS: &[(&str, &[&str])] = &[
    (
        "traefik",
        &["traefik.io", "traefik.containo.us", "hub.traefik.io"],
    ),
    ("cert-manager", &["cert-manager.io", "acme.cert-manager.io"]),
    ("kube-prometheus-stack", &["monitoring.coreos.com"]),
    ("sealed-secrets", &["bitnami.com"]),
];

/// API groups whose CRDs exist before Argo CD syncs anything: cilium-operator creates Cilium's at start
/// (vixens_cilium), and the Argo CD install brings its own (vixens_argocd_bootstrap).
pub const PREINSTALLED_GROUPS: &[&str] = &["cilium.io", "argoproj.io"];

/// Namespaces that exist before any Application syncs.
pub const PREEXISTING_NAMESPACES: &[&str] = &["default", "kube-system", "argocd"];

/// Kinds without a namespace, among those this tree uses.
pub const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "ClusterIssuer",
    "CiliumLoadBalancerIPPool",
    "CiliumL2AnnouncementPolicy",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "IngressClass",
    "PriorityClass",
    "CSIDriver",
];

/// The Authelia ForwardAuth Middleware, as Traefik's Ingress annotation names it (`<ns>-<name>@kubernetescrd`).
pub const AUTHELIA_MIDDLEWARE: &str = "authelia-forwardauth@kubernetescrd";
/// Route host prefixes that must sit behind Authelia (issue 8: Argo CD, whoami, Grafana).
pub const PROTECTED_HOSTS: &[&str] = &["argocd", "whoami", "grafana"];

const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
const SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";
const ISSUER_ANNOTATIONS: &[&str] = &["cert-manager.io/cluster-issuer", "cert-manager.io/issuer"];

fn wave(d: &Doc) -> i64 {
    annotation(d, SYNC_WAVE)
        .and_then(|w| w.trim().parse().ok())
        .unwrap_or(0)
}

fn sources(app: &Doc) -> Vec<&Doc> {
    let many = seq(app, &["spec", "sources"]);
    if many.is_empty() {
        get(app, &["spec", "source"]).into_iter().collect()
    } else {
        many.iter().collect()
    }
}

/// Every expected app has exactly one Application, nothing else is there, and each Application's first
/// source is this repository's `apps/<app>/overlays/<env>`.
pub fn check_apps_present(env: &Env, apps: &[Doc], expected: &[&str]) -> Vec<String> {
    let mut v = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for app in apps.iter().filter(|d| kind(d) == "Application") {
        *seen.entry(name(app)).or_default() += 1;
        let path = sources(app)
            .first()
            .and_then(|s| str_at(s, &["path"]))
            .unwrap_or("");
        let want = format!("/{}/overlays/{}", name(app), env.name);
        if !path.ends_with(&want) {
            v.push(format!(
                "Application {}: first source path {path:?} is not <apps>{want}",
                name(app)
            ));
        }
    }
    for app in expected {
        match seen.get(app) {
            None => v.push(format!("{}: no Application for app {app}", env.name)),
            Some(n) if *n > 1 => v.push(format!("{}: {n} Applications named {app}", env.name)),
            _ => {}
        }
    }
    for extra in seen.keys().filter(|n| !expected.contains(n)) {
        v.push(format!("{}: unexpected Application {extra}", env.name));
    }
    v
}

static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(\d{1,3}(?:\.\d{1,3}){3})(?:/(\d{1,2}))?\b").expect("valid regex")
});

fn range(pool: &Doc) -> Vec<Result<(Ipv4Addr, Ipv4Addr), String>> {
    seq(pool, &["spec", "blocks"])
        .iter()
        .map(|b| {
            if let Some(cidr) = str_at(b, &["cidr"]) {
                let net: Ipv4Net = cidr.parse().map_err(|e| format!("cidr {cidr:?}: {e}"))?;
                Ok((net.network(), net.broadcast()))
            } else {
                let start = str_at(b, &["start"])
                    .and_then(ip)
                    .ok_or("block without a valid start")?;
                let stop = str_at(b, &["stop"]).and_then(ip).unwrap_or(start);
                Ok((start, stop))
            }
        })
        .collect()
}

fn selector_matches(selector: Option<&Doc>, labels: Option<&Doc>) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Doc::as_str);
    let labels_ok = get(selector, &["matchLabels"])
        .and_then(Doc::as_object)
        .is_none_or(|m| m.iter().all(|(k, v)| label(k) == v.as_str()));
    let exprs_ok = seq(selector, &["matchExpressions"]).iter().all(|e| {
        let key = str_at(e, &["key"]).unwrap_or("");
        let values: Vec<&str> = seq(e, &["values"]).iter().filter_map(Doc::as_str).collect();
        match str_at(e, &["operator"]).unwrap_or("") {
            "In" => label(key).is_some_and(|l| values.contains(&l)),
            "NotIn" => label(key).is_none_or(|l| !values.contains(&l)),
            "Exists" => label(key).is_some(),
            "DoesNotExist" => label(key).is_none(),
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

/// The tree's LB IPAM objects are the ones `vixens_cilium` creates at bootstrap from
/// `terraform/environments/<env>` (`terraform`, see [`terraform_lb_ipam`]) and hands to the `cilium-lb` app: the
/// same kinds and names, each with the same `spec`. Were they to differ, Argo CD's first sync would move the
/// addresses Services got at bootstrap.
pub fn check_lb_ipam_matches_terraform(env: &Env, tree: &[Doc], terraform: &[Doc]) -> Vec<String> {
    let lb = |docs: &[Doc]| -> BTreeMap<String, Option<Doc>> {
        docs.iter()
            .filter(|d| LB_IPAM_KINDS.contains(&kind(d)))
            .map(|d| {
                (
                    format!("{}/{}", kind(d), name(d)),
                    get(d, &["spec"]).cloned(),
                )
            })
            .collect()
    };
    let (tree, terraform) = (lb(tree), lb(terraform));
    let mut v = Vec::new();
    for (id, spec) in &terraform {
        match tree.get(id) {
            None => v.push(format!(
                "{}: {id} is created by terraform/environments/{} but missing from the tree",
                env.name, env.name
            )),
            Some(t) if t != spec => v.push(format!(
                "{}: {id} differs from terraform/environments/{}: tree {} / terraform {}",
                env.name,
                env.name,
                serde_json::to_string(t).unwrap_or_default(),
                serde_json::to_string(spec).unwrap_or_default()
            )),
            Some(_) => {}
        }
    }
    for id in tree.keys().filter(|id| !terraform.contains_key(*id)) {
        v.push(format!(
            "{}: {id} is in the tree but not in terraform/environments/{} (the bootstrap copy)",
            env.name, env.name
        ));
    }
    v
}

/// Every address of an env lies inside its services VLAN: every IPv4 literal anywhere, the LB IPAM pools
/// (exactly the "assigned" and "auto" ranges of the facts table), Traefik's fixed address (inside
/// "assigned", whose selector its Service matches), and the L2 announcement interfaces (the VLAN's link).
/// Placeholder envs mark their pools as such; real ones do not. `docs` holds the built tree.
pub fn check_addresses(env: &Env, docs: &[Doc]) -> Vec<String> {
    let mut v = Vec::new();
    let net = env.net();
    for d in docs {
        let mut all = Vec::new();
        strings(d, &mut all);
        for s in &all {
            for cap in IPV4.captures_iter(s) {
                let Some(addr) = ip(&cap[1]) else { continue };
                if addr.is_loopback() || addr.is_unspecified() {
                    continue;
                }
                let inside = match cap.get(2).and_then(|p| p.as_str().parse::<u8>().ok()) {
                    Some(prefix) => Ipv4Net::new(addr, prefix).is_ok_and(|n| net.contains(&n)),
                    None => net.contains(&addr),
                };
                if !inside {
                    v.push(format!(
                        "{}: {} names {} outside VLAN {} ({net})",
                        env.name,
                        id(d),
                        &cap[0],
                        env.vlan
                    ));
                }
            }
        }
    }
    let pools: Vec<&Doc> = docs
        .iter()
        .filter(|d| kind(d) == "CiliumLoadBalancerIPPool")
        .collect();
    for (pool_name, (first, last)) in [("assigned", env.assigned), ("auto", env.auto)] {
        let want = (ip(first).expect("facts"), ip(last).expect("facts"));
        match pools.iter().find(|p| name(p) == pool_name) {
            None => v.push(format!(
                "{}: no CiliumLoadBalancerIPPool {pool_name}",
                env.name
            )),
            Some(pool) => {
                let ranges = range(pool);
                if ranges.len() != 1 || ranges[0].as_ref().ok() != Some(&want) {
                    v.push(format!(
                        "{}: pool {pool_name} holds {ranges:?}, expected {first}-{last}",
                        env.name
                    ));
                }
            }
        }
    }
    let mut taken: Vec<(Ipv4Addr, Ipv4Addr, &str)> = Vec::new();
    for pool in &pools {
        for r in range(pool) {
            match r {
                Err(e) => v.push(format!("{}: pool {}: {e}", env.name, name(pool))),
                Ok((a, b)) if a > b || !net.contains(&a) || !net.contains(&b) => v.push(format!(
                    "{}: pool {} block {a}-{b} is not inside {net}",
                    env.name,
                    name(pool)
                )),
                Ok((a, b)) => {
                    if let Some((_, _, other)) = taken.iter().find(|(x, y, _)| a <= *y && *x <= b) {
                        v.push(format!(
                            "{}: pools {} and {other} overlap",
                            env.name,
                            name(pool)
                        ));
                    }
                    taken.push((a, b, name(pool)));
                }
            }
        }
        let marked = annotation(pool, PLACEHOLDER_ANNOTATION).is_some();
        if marked != env.placeholder {
            let want = if env.placeholder {
                "must be marked"
            } else {
                "must not be marked"
            };
            v.push(format!(
                "{}: pool {} {want} with {PLACEHOLDER_ANNOTATION}",
                env.name,
                name(pool)
            ));
        }
    }
    let policies: Vec<&Doc> = docs
        .iter()
        .filter(|d| kind(d) == "CiliumL2AnnouncementPolicy")
        .collect();
    if policies.is_empty() {
        v.push(format!("{}: no CiliumL2AnnouncementPolicy", env.name));
    }
    let vlan_link = format!("eth0.{}", env.vlan);
    for p in policies {
        let interfaces = seq(p, &["spec", "interfaces"]);
        if interfaces.is_empty() {
            v.push(format!(
                "{}: {} announces on every interface, not only VLAN {}",
                env.name,
                id(p),
                env.vlan
            ));
        }
        for i in interfaces.iter().filter_map(Doc::as_str) {
            match Regex::new(i) {
                Err(e) => v.push(format!(
                    "{}: {}: bad interface regex {i:?}: {e}",
                    env.name,
                    id(p)
                )),
                Ok(re)
                    if !re.is_match(&vlan_link)
                        || re.is_match("eth0")
                        || re.is_match("eth0.111") =>
                {
                    v.push(format!(
                        "{}: {}: interface {i:?} is not the VLAN {} link",
                        env.name,
                        id(p),
                        env.vlan
                    ))
                }
                Ok(_) => {}
            }
        }
    }
    let assigned = pools.iter().find(|p| name(p) == "assigned");
    let assigned_range = assigned.map(|p| range(p)).unwrap_or_default();
    let mut traefik_seen = false;
    for svc in docs.iter().filter(|d| kind(d) == "Service") {
        let Some(ips) = annotation(svc, "lbipam.cilium.io/ips") else {
            continue;
        };
        for a in ips.split(',') {
            let Some(addr) = ip(a) else {
                v.push(format!(
                    "{}: {} asks for {a:?}, not an IPv4 address",
                    env.name,
                    id(svc)
                ));
                continue;
            };
            if !assigned_range
                .iter()
                .flatten()
                .any(|(x, y)| *x <= addr && addr <= *y)
            {
                v.push(format!(
                    "{}: {} asks for {addr}, outside the \"assigned\" pool",
                    env.name,
                    id(svc)
                ));
            }
        }
        if let Some(pool) = assigned {
            if !selector_matches(
                get(pool, &["spec", "serviceSelector"]),
                get(svc, &["metadata", "labels"]),
            ) {
                v.push(format!(
                    "{}: {} does not match the \"assigned\" pool's serviceSelector",
                    env.name,
                    id(svc)
                ));
            }
        }
        if name(svc) == "traefik" {
            traefik_seen = true;
            if ips.trim() != env.traefik_ip {
                v.push(format!(
                    "{}: Traefik asks for {ips}, expected {}",
                    env.name, env.traefik_ip
                ));
            }
        }
        if str_at(svc, &["spec", "type"]) != Some("LoadBalancer") {
            v.push(format!(
                "{}: {} asks for an LB address but is not a LoadBalancer",
                env.name,
                id(svc)
            ));
        }
    }
    if !traefik_seen {
        v.push(format!(
            "{}: no Traefik Service with a fixed LB IPAM address",
            env.name
        ));
    }
    v
}

/// Every Ingress has TLS for each of its hosts (`<name>.<env>.<zone>`) and names the env's cert-manager
/// ClusterIssuer, which exists: self-signed in dev/test, Let's Encrypt (staging, production server) in
/// staging/prod. Certificates name the same issuer.
pub fn check_ingresses(env: &Env, docs: &[Doc]) -> Vec<String> {
    let mut v = Vec::new();
    let issuers: BTreeMap<&str, &Doc> = docs
        .iter()
        .filter(|d| kind(d) == "ClusterIssuer")
        .map(|d| (name(d), d))
        .collect();
    match issuers.get(env.issuer) {
        None => v.push(format!("{}: no ClusterIssuer {}", env.name, env.issuer)),
        Some(issuer) => match env.acme_server {
            Some(server) if str_at(issuer, &["spec", "acme", "server"]) != Some(server) => {
                v.push(format!(
                    "{}: ClusterIssuer {} is not ACME at {server}",
                    env.name, env.issuer
                ))
            }
            None if get(issuer, &["spec", "selfSigned"]).is_none() => v.push(format!(
                "{}: ClusterIssuer {} is not self-signed",
                env.name, env.issuer
            )),
            _ => {}
        },
    }
    let ingresses: Vec<&Doc> = docs.iter().filter(|d| kind(d) == "Ingress").collect();
    if ingresses.is_empty() {
        v.push(format!("{}: no Ingress at all", env.name));
    }
    let suffix = format!(".{}.", env.name);
    for ing in ingresses {
        let tls = seq(ing, &["spec", "tls"]);
        if tls.is_empty() {
            v.push(format!("{}: {} has no TLS", env.name, id(ing)));
        }
        for t in tls {
            if str_at(t, &["secretName"]).is_none_or(str::is_empty) {
                v.push(format!(
                    "{}: {} has a TLS entry without secretName",
                    env.name,
                    id(ing)
                ));
            }
        }
        let tls_hosts: BTreeSet<&str> = tls
            .iter()
            .flat_map(|t| seq(t, &["hosts"]))
            .filter_map(Doc::as_str)
            .collect();
        for host in seq(ing, &["spec", "rules"])
            .iter()
            .filter_map(|r| str_at(r, &["host"]))
        {
            if !tls_hosts.contains(host) {
                v.push(format!(
                    "{}: {} serves {host} without TLS",
                    env.name,
                    id(ing)
                ));
            }
            if !host.contains(&suffix) {
                v.push(format!(
                    "{}: {} host {host} is not <name>{suffix}<zone>",
                    env.name,
                    id(ing)
                ));
            }
        }
        match ISSUER_ANNOTATIONS.iter().find_map(|a| annotation(ing, a)) {
            None => v.push(format!(
                "{}: {} has no cert-manager issuer annotation",
                env.name,
                id(ing)
            )),
            Some(i) if i != env.issuer => v.push(format!(
                "{}: {} names issuer {i}, expected {}",
                env.name,
                id(ing),
                env.issuer
            )),
            Some(_) => {}
        }
    }
    for cert in docs.iter().filter(|d| kind(d) == "Certificate") {
        if str_at(cert, &["spec", "issuerRef", "name"]) != Some(env.issuer) {
            v.push(format!(
                "{}: {} does not use issuer {}",
                env.name,
                id(cert),
                env.issuer
            ));
        }
    }
    let whoami_cert = docs
        .iter()
        .find(|d| kind(d) == "Certificate" && name(d) == "whoami-tls");
    let whoami_ing = docs
        .iter()
        .find(|d| kind(d) == "Ingress" && name(d) == "whoami");
    match (whoami_cert, whoami_ing) {
        (Some(cert), Some(ing)) => {
            let secret = str_at(cert, &["spec", "secretName"]);
            let dns: BTreeSet<&str> = seq(cert, &["spec", "dnsNames"])
                .iter()
                .filter_map(Doc::as_str)
                .collect();
            let serves = namespace(cert) == namespace(ing)
                && seq(ing, &["spec", "tls"]).iter().any(|t| {
                    str_at(t, &["secretName"]) == secret
                        && seq(t, &["hosts"])
                            .iter()
                            .filter_map(Doc::as_str)
                            .all(|h| dns.contains(h))
                });
            if !serves {
                v.push(format!(
                    "{}: Certificate whoami-tls does not cover the whoami Ingress's TLS",
                    env.name
                ));
            }
        }
        _ => v.push(format!(
            "{}: no Certificate whoami-tls for the whoami Ingress",
            env.name
        )),
    }
    v
}

/// Services and objects that upstream installs, not this tree: Argo CD's (checked against the v3.5.1 install
/// manifest by the fixture test) and the kube-prometheus-stack chart's Grafana (`grafana.fullnameOverride`).
pub const UPSTREAM_SERVICES: &[(&str, &str)] = &[
    ("argocd", "argocd-server"),
    ("argocd", "argocd-metrics"),
    ("argocd", "argocd-server-metrics"),
    ("argocd", "argocd-repo-server"),
    ("monitoring", "grafana"),
];

/// What the tree names exists: Ingress backends, the Services ServiceMonitors select (by
/// `app.kubernetes.io/name`), and the StorageClasses of PVC templates.
pub fn check_references(docs: &[Doc]) -> Vec<String> {
    let mut v = Vec::new();
    let services: BTreeSet<(&str, &str)> = docs
        .iter()
        .filter(|d| kind(d) == "Service")
        .map(|d| (namespace(d).unwrap_or(""), name(d)))
        .chain(UPSTREAM_SERVICES.iter().copied())
        .collect();
    for ing in docs.iter().filter(|d| kind(d) == "Ingress") {
        let ns = namespace(ing).unwrap_or("");
        for b in backends(ing) {
            if !services.contains(&(ns, b)) {
                v.push(format!(
                    "{} routes to Service {ns}/{b}, which nothing installs",
                    id(ing)
                ));
            }
        }
    }
    for sm in docs.iter().filter(|d| kind(d) == "ServiceMonitor") {
        let namespaces: Vec<&str> = seq(sm, &["spec", "namespaceSelector", "matchNames"])
            .iter()
            .filter_map(Doc::as_str)
            .collect();
        let mut wanted: Vec<&str> = seq(sm, &["spec", "selector", "matchExpressions"])
            .iter()
            .filter(|e| {
                str_at(e, &["key"]) == Some("app.kubernetes.io/name")
                    && str_at(e, &["operator"]) == Some("In")
            })
            .flat_map(|e| seq(e, &["values"]).iter().filter_map(Doc::as_str))
            .collect();
        wanted.extend(str_at(
            sm,
            &["spec", "selector", "matchLabels", "app.kubernetes.io/name"],
        ));
        if wanted.is_empty() || namespaces.is_empty() {
            v.push(format!(
                "{} must select Services by app.kubernetes.io/name in named namespaces",
                id(sm)
            ));
        }
        for want in wanted {
            let found = docs.iter().any(|d| {
                kind(d) == "Service"
                    && namespace(d).is_some_and(|n| namespaces.contains(&n))
                    && label(d, "app.kubernetes.io/name") == Some(want)
            }) || namespaces
                .iter()
                .any(|n| UPSTREAM_SERVICES.contains(&(*n, want)));
            if !found {
                v.push(format!(
                    "{} selects app.kubernetes.io/name={want}, which no Service carries",
                    id(sm)
                ));
            }
        }
    }
    let classes: BTreeSet<&str> = docs
        .iter()
        .filter(|d| kind(d) == "StorageClass")
        .map(name)
        .collect();
    for d in docs {
        for t in seq(d, &["spec", "volumeClaimTemplates"]) {
            if let Some(class) = str_at(t, &["spec", "storageClassName"]) {
                if !classes.contains(class) {
                    v.push(format!(
                        "{} claims StorageClass {class}, which nothing installs",
                        id(d)
                    ));
                }
            }
        }
    }
    v
}

fn backends(ing: &Doc) -> Vec<&str> {
    seq(ing, &["spec", "rules"])
        .iter()
        .flat_map(|r| seq(r, &["http", "paths"]))
        .filter_map(|p| str_at(p, &["backend", "service", "name"]))
        .collect()
}

/// Routes sit behind Authelia: the ForwardAuth Middleware exists and asks Authelia's authz endpoint; every
/// Ingress names it, except the Authelia portal itself (namespace authelia, backend authelia); the Argo CD,
/// whoami and Grafana routes exist.
pub fn check_protected_routes(docs: &[Doc]) -> Vec<String> {
    let mut v = Vec::new();
    let middleware = docs.iter().find(|d| {
        kind(d) == "Middleware" && namespace(d) == Some("authelia") && name(d) == "forwardauth"
    });
    match middleware.and_then(|m| str_at(m, &["spec", "forwardAuth", "address"])) {
        None => v.push("no ForwardAuth Middleware authelia/forwardauth".to_string()),
        Some(a) if !a.contains("authelia") || !a.ends_with("/api/authz/forward-auth") => {
            v.push(format!(
                "Middleware authelia/forwardauth asks {a}, not Authelia's /api/authz/forward-auth"
            ))
        }
        Some(_) => {}
    }
    let mut protected_hosts = BTreeSet::new();
    for ing in docs.iter().filter(|d| kind(d) == "Ingress") {
        let portal =
            namespace(ing) == Some("authelia") && backends(ing).iter().all(|b| *b == "authelia");
        let names_it = annotation(ing, "traefik.ingress.kubernetes.io/router.middlewares")
            .is_some_and(|m| m.split(',').any(|m| m.trim() == AUTHELIA_MIDDLEWARE));
        if names_it {
            for host in seq(ing, &["spec", "rules"])
                .iter()
                .filter_map(|r| str_at(r, &["host"]))
            {
                protected_hosts.insert(host.split('.').next().unwrap_or("").to_string());
            }
        } else if !portal {
            v.push(format!(
                "{} is not behind Authelia ({AUTHELIA_MIDDLEWARE})",
                id(ing)
            ));
        }
    }
    for want in PROTECTED_HOSTS {
        if !protected_hosts.contains(*want) {
            v.push(format!("no route {want}.<env> behind Authelia"));
        }
    }
    v
}

static CREDENTIAL_PATTERNS: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    [
        ("a bcrypt hash", r"\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}"),
        ("an argon2 hash", r"\$argon2(id|i|d)\$"),
        ("a crypt(3) hash", r"\$(1|5|6|y|gy|7)\$[./A-Za-z0-9$]{8,}"),
        ("a PBKDF2/scrypt hash", r"\$(pbkdf2[-a-z0-9]*|scrypt)\$"),
        ("a private key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    ]
    .into_iter()
    .map(|(what, re)| (what, Regex::new(re).expect("valid regex")))
    .collect()
});

fn entropy(s: &str) -> f64 {
    let mut counts: BTreeMap<char, f64> = BTreeMap::new();
    for c in s.chars() {
        *counts.entry(c).or_default() += 1.0;
    }
    let n = s.chars().count() as f64;
    counts.values().map(|c| -(c / n) * (c / n).log2()).sum()
}

/// A token that looks generated rather than written: long hex, or long base64-like text mixing lower and
/// upper case and digits with high entropy (a placeholder such as REPLACE-WITH-AN-ARGON2ID-HASH does not).
pub fn random_looking(token: &str) -> bool {
    let len = token.chars().count();
    let hex = len >= 32
        && token.chars().all(|c| c.is_ascii_hexdigit())
        && token.chars().any(|c| c.is_ascii_digit());
    let classes = [
        token.chars().any(|c| c.is_ascii_lowercase()),
        token.chars().any(|c| c.is_ascii_uppercase()),
        token.chars().any(|c| c.is_ascii_digit()),
    ];
    hex || (len >= 20 && classes.iter().all(|c| *c) && entropy(token) >= 3.7)
}

/// Argon2 digests in a text, to tell the zero-byte placeholder ([`crate::phase2::is_placeholder_digest`]) from a
/// real hash.
static ARGON2_DIGEST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"\$argon2(id|i|d)\$[^\s'"]+"#).expect("valid regex"));

/// What in `text` looks like a real credential: password hashes, private keys, generated tokens. An Argon2
/// digest of zero bytes (the shipped placeholder, which no password hashes to) is not one.
pub fn credential_findings(text: &str) -> Vec<String> {
    let text = &ARGON2_DIGEST.replace_all(text, |c: &regex::Captures| {
        if crate::phase2::is_placeholder_digest(&c[0]) {
            "PLACEHOLDER-DIGEST".to_string()
        } else {
            c[0].to_string()
        }
    });
    let mut found: Vec<String> = CREDENTIAL_PATTERNS
        .iter()
        .filter(|(_, re)| re.is_match(text))
        .map(|(w, _)| w.to_string())
        .collect();
    for token in text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=_-".contains(c))) {
        if random_looking(token) {
            found.push(format!(
                "a random-looking string of {} characters",
                token.len()
            ));
        }
    }
    found
}

/// No Secret carries a real-looking credential: only placeholders. Hash and key patterns are also refused
/// in any other object (ConfigMaps, Helm values).
pub fn check_secrets(docs: &[Doc]) -> Vec<String> {
    let mut v = Vec::new();
    for d in docs {
        let mut texts: Vec<(String, String)> = Vec::new();
        if kind(d) == "Secret" {
            for (k, val) in get(d, &["data"])
                .and_then(Doc::as_object)
                .into_iter()
                .flatten()
            {
                let key = k.clone();
                let raw = val.as_str().unwrap_or("");
                let raw: String = raw.split_whitespace().collect();
                match base64::engine::general_purpose::STANDARD.decode(raw) {
                    Ok(bytes) => texts.push((key, String::from_utf8_lossy(&bytes).into_owned())),
                    Err(_) => v.push(format!("{} data.{key} is not base64", id(d))),
                }
            }
            for (k, val) in get(d, &["stringData"])
                .and_then(Doc::as_object)
                .into_iter()
                .flatten()
            {
                texts.push((k.clone(), val.as_str().unwrap_or("").to_string()));
            }
            for (key, text) in &texts {
                for f in credential_findings(text) {
                    v.push(format!("{} key {key} holds {f}", id(d)));
                }
            }
        } else {
            let mut all = Vec::new();
            strings(d, &mut all);
            for s in all {
                for (what, re) in CREDENTIAL_PATTERNS.iter() {
                    if re.is_match(&s) {
                        v.push(format!("{} holds {what}", id(d)));
                    }
                }
            }
        }
    }
    v
}

/// Secrets that workloads or Helm values name but the tree does not hold (they are created by hand) must be
/// documented in README.md.
pub fn check_secret_refs_documented(docs: &[Doc], readme: &str) -> Vec<String> {
    fn walk<'a>(v: &'a Doc, out: &mut BTreeSet<&'a str>) {
        match v {
            Doc::Object(m) => {
                for (k, val) in m {
                    let key = k.as_str();
                    let named = match key {
                        "secret" => str_at(val, &["secretName"]),
                        "secretKeyRef" | "secretRef" => str_at(val, &["name"]),
                        // cert-manager: privateKeySecretRef, apiTokenSecretRef, ...
                        k if k.ends_with("SecretRef") => str_at(val, &["name"]),
                        "existingSecret" => val.as_str(),
                        "clientInfoSecret" => str_at(val, &["name"]),
                        _ => None,
                    };
                    out.extend(named);
                    walk(val, out);
                }
            }
            Doc::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    // A SealedSecret holds the Secret it unseals (spec.template.metadata.name, else its own name).
    let held: BTreeSet<&str> = docs
        .iter()
        .filter_map(|d| match kind(d) {
            "Secret" => Some(name(d)),
            "SealedSecret" => {
                Some(str_at(d, &["spec", "template", "metadata", "name"]).unwrap_or(name(d)))
            }
            _ => None,
        })
        .collect();
    let mut named = BTreeSet::new();
    docs.iter().for_each(|d| walk(d, &mut named));
    named
        .difference(&held)
        .filter(|s| !readme.contains(&format!("`{s}`")))
        .map(|s| format!("Secret {s} is referenced, not in Git, and not documented in README.md"))
        .collect()
}

fn namespace_of<'a>(d: &'a Doc, destination: &'a str) -> Option<&'a str> {
    if CLUSTER_SCOPED.contains(&kind(d)) {
        None
    } else {
        Some(namespace(d).unwrap_or(destination))
    }
}

fn is_builtin_group(group: &str) -> bool {
    !group.contains('.') || group.ends_with(".k8s.io")
}

/// Sync waves are ordered: an app that uses custom resources comes after the app that installs their CRDs
/// (or, when it installs them itself, those resources sit in a later resource wave and skip the dry run
/// while the CRDs are missing); an app comes after the app that creates its namespaces; an app with a
/// LoadBalancer Service comes after the app that holds the LB IPAM pools; Argo CD's own Application comes first.
pub fn check_sync_waves(units: &[AppUnit]) -> Vec<String> {
    let mut v = Vec::new();
    let pools_wave = units
        .iter()
        .filter(|u| u.docs.iter().any(|d| kind(d) == "CiliumLoadBalancerIPPool"))
        .map(|u| (name(&u.app), wave(&u.app)))
        .max_by_key(|(_, w)| *w);
    for u in units {
        let lb = u
            .docs
            .iter()
            .find(|d| kind(d) == "Service" && str_at(d, &["spec", "type"]) == Some("LoadBalancer"));
        match (lb, pools_wave) {
            (Some(svc), None) => v.push(format!(
                "Application {}: {} is a LoadBalancer Service but no app holds LB IPAM pools",
                name(&u.app),
                id(svc)
            )),
            (Some(svc), Some((pools_app, pw))) if wave(&u.app) <= pw => v.push(format!(
                "Application {} (wave {}): {} needs an address from the pools of {pools_app}, synced at wave {pw}",
                name(&u.app),
                wave(&u.app),
                id(svc)
            )),
            _ => {}
        }
    }
    let app_wave: BTreeMap<&str, i64> =
        units.iter().map(|u| (name(&u.app), wave(&u.app))).collect();
    let mut provider: BTreeMap<&str, &str> = BTreeMap::new();
    let mut ns_owner: BTreeMap<&str, &str> = BTreeMap::new();
    for u in units {
        for s in sources(&u.app) {
            let chart = str_at(s, &["chart"]).unwrap_or("");
            for (c, groups) in CHART_CRD_GROUPS {
                if *c == chart {
                    groups.iter().for_each(|g| {
                        provider.insert(g, name(&u.app));
                    });
                }
            }
        }
        for d in u.docs.iter().filter(|d| kind(d) == "Namespace") {
            ns_owner.insert(name(d), name(&u.app));
        }
    }
    if let Some((first, w)) = app_wave.iter().min_by_key(|(_, w)| **w) {
        if *first != "argocd" && app_wave.get("argocd").is_none_or(|a| a > w) {
            v.push(format!(
                "Application {first} (wave {w}) syncs before Argo CD's own Application"
            ));
        }
    }
    for u in units {
        let app = name(&u.app);
        let w = wave(&u.app);
        let destination =
            str_at(&u.app, &["spec", "destination", "namespace"]).unwrap_or("default");
        let create_ns = seq(&u.app, &["spec", "syncPolicy", "syncOptions"])
            .iter()
            .any(|o| o.as_str() == Some("CreateNamespace=true"));
        let mut used_ns: BTreeSet<&str> = u
            .docs
            .iter()
            .filter_map(|d| namespace_of(d, destination))
            .collect();
        used_ns.insert(destination);
        for ns in used_ns {
            let ok = PREEXISTING_NAMESPACES.contains(&ns)
                || (ns == destination && create_ns)
                || match ns_owner.get(ns) {
                    Some(owner) if *owner == app => true,
                    Some(owner) => app_wave.get(owner).is_some_and(|ow| *ow < w),
                    None => false,
                };
            if !ok {
                let by = ns_owner
                    .get(ns)
                    .map(|o| format!("app {o}"))
                    .unwrap_or("no app".to_string());
                v.push(format!("Application {app} (wave {w}) uses namespace {ns}, created by {by} not before it"));
            }
        }
        for d in &u.docs {
            let group = api_group(d);
            if is_builtin_group(group) || PREINSTALLED_GROUPS.contains(&group) {
                continue;
            }
            match provider.get(group) {
                None => v.push(format!(
                    "Application {app}: no app installs the CRDs of {} ({group})",
                    id(d)
                )),
                Some(p) if *p == app => {
                    let skips = annotation(d, SYNC_OPTIONS)
                        .is_some_and(|o| o.contains("SkipDryRunOnMissingResource=true"));
                    if wave(d) <= 0 || !skips {
                        v.push(format!(
                            "Application {app}: {} needs a resource sync-wave > 0 and SkipDryRunOnMissingResource=true \
                             (its CRDs come with the same app)",
                            id(d)
                        ));
                    }
                }
                Some(p) => {
                    let pw = app_wave.get(p).copied().unwrap_or(i64::MAX);
                    if pw >= w {
                        v.push(format!("Application {app} (wave {w}) uses {} but {p} installs its CRDs at wave {pw}", id(d)));
                    }
                }
            }
        }
    }
    v
}

static PINNED_CHART: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$").expect("valid regex")
});
static PINNED_GIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?|[0-9a-f]{40})$").expect("valid regex")
});

/// Sources of this repository follow the env's branch; Helm charts pin an exact version (no `*`, ranges or
/// HEAD); other Git repositories pin a release tag or a commit. No value is left at "set-by-overlay".
pub fn check_sources(env: &Env, apps: &[Doc], gitops_repo: &str) -> Vec<String> {
    let mut v = Vec::new();
    for app in apps.iter().filter(|d| kind(d) == "Application") {
        let mut all = Vec::new();
        strings(app, &mut all);
        if all.iter().any(|s| s.contains("set-by-overlay")) {
            v.push(format!(
                "Application {}: a value is still \"set-by-overlay\"",
                name(app)
            ));
        }
        let srcs = sources(app);
        if srcs.first().and_then(|s| str_at(s, &["repoURL"])) != Some(gitops_repo) {
            v.push(format!(
                "Application {}: first source is not the GitOps repository {gitops_repo}",
                name(app)
            ));
        }
        for s in srcs {
            let rev = str_at(s, &["targetRevision"]).unwrap_or("");
            let repo = str_at(s, &["repoURL"]).unwrap_or("");
            if let Some(chart) = str_at(s, &["chart"]) {
                if !PINNED_CHART.is_match(rev) {
                    v.push(format!(
                        "Application {}: chart {chart} version {rev:?} is not pinned",
                        name(app)
                    ));
                }
            } else if repo == gitops_repo {
                if rev != env.branch {
                    v.push(format!(
                        "Application {}: targetRevision {rev:?}, expected branch {}",
                        name(app),
                        env.branch
                    ));
                }
            } else if !PINNED_GIT.is_match(rev) {
                v.push(format!(
                    "Application {}: {repo} at {rev:?} is not a pinned tag or commit",
                    name(app)
                ));
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> &'static Env {
        ENVS.iter().find(|e| e.name == name).expect("known env")
    }

    fn good_lb(env: &Env) -> Vec<Doc> {
        vec![
            yaml(&format!(
                "{{kind: CiliumLoadBalancerIPPool, metadata: {{name: assigned}}, spec: {{blocks: [{{start: {}, stop: {}}}], \
                 serviceSelector: {{matchLabels: {{lb.vixens.io/pool: assigned}}}}}}}}",
                env.assigned.0, env.assigned.1
            )),
            yaml(&format!(
                "{{kind: CiliumLoadBalancerIPPool, metadata: {{name: auto}}, spec: {{blocks: [{{start: {}, stop: {}}}]}}}}",
                env.auto.0, env.auto.1
            )),
            yaml(&format!(
                "{{kind: CiliumL2AnnouncementPolicy, metadata: {{name: p}}, spec: {{interfaces: ['^.+\\.{}$']}}}}",
                env.vlan
            )),
            yaml(&format!(
                "{{kind: Service, metadata: {{name: traefik, labels: {{lb.vixens.io/pool: assigned}}, \
                 annotations: {{lbipam.cilium.io/ips: {}}}}}, spec: {{type: LoadBalancer}}}}",
                env.traefik_ip
            )),
        ]
    }

    #[test]
    fn lb_ipam_must_equal_the_terraform_bootstrap_copy() {
        let tree = good_lb(env("dev"));
        let mut terraform = tree[..3].to_vec();
        assert_eq!(
            check_lb_ipam_matches_terraform(env("dev"), &tree, &terraform),
            Vec::<String>::new()
        );
        // A pool changed in Git only, a policy renamed, and a pool only Terraform creates.
        terraform[1] = yaml(
            "{kind: CiliumLoadBalancerIPPool, metadata: {name: auto}, spec: {blocks: [{start: 192.168.208.80, stop: 192.168.208.85}]}}",
        );
        terraform[2] = yaml("{kind: CiliumL2AnnouncementPolicy, metadata: {name: l2}, spec: {interfaces: ['^eth0\\.208$']}}");
        terraform.push(yaml(
            "{kind: CiliumLoadBalancerIPPool, metadata: {name: extra}, spec: {blocks: [{cidr: 192.168.208.96/28}]}}",
        ));
        let v = check_lb_ipam_matches_terraform(env("dev"), &tree, &terraform);
        assert_eq!(v.len(), 4, "{v:?}");
        assert!(
            v.iter()
                .any(|m| m.contains("CiliumLoadBalancerIPPool/auto differs")),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|m| m.contains("CiliumL2AnnouncementPolicy/l2 is created by")),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|m| m.contains("CiliumLoadBalancerIPPool/extra is created by")),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|m| m.contains("CiliumL2AnnouncementPolicy/p is in the tree but not")),
            "{v:?}"
        );
    }

    #[test]
    fn terraform_pools_are_read_from_tfvars() {
        let tfvars = "services_vlan_id   = 208\n\nload_balancer_ip_pools = {\n  \
                      assigned = { start = \"192.168.208.70\", stop = \"192.168.208.79\", service_selector = { \"lb.vixens.io/pool\" = \"assigned\" } } # Traefik\n  \
                      auto     = { start = \"192.168.208.80\", stop = \"192.168.208.89\", service_selector = {} }\n}\n";
        let mut docs = terraform_lb_ipam(tfvars).unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(
            str_at(
                &docs[0],
                &[
                    "spec",
                    "serviceSelector",
                    "matchLabels",
                    "lb.vixens.io/pool"
                ]
            ),
            Some("assigned")
        );
        assert!(get(&docs[1], &["spec", "serviceSelector"]).is_none());
        assert_eq!(
            seq(&docs[2], &["spec", "interfaces"])[0].as_str(),
            Some("^eth0\\.208$")
        );
        docs.push(good_lb(env("dev")).pop().unwrap());
        assert_eq!(check_addresses(env("dev"), &docs), Vec::<String>::new());
        assert!(terraform_lb_ipam("services_vlan_id = 208\n").is_err());
        let odd = tfvars.replace("stop = ", "last = ");
        assert!(terraform_lb_ipam(&odd)
            .unwrap_err()
            .contains("not understood"));
    }

    #[test]
    fn addresses_accept_the_dev_facts() {
        assert_eq!(
            check_addresses(env("dev"), &good_lb(env("dev"))),
            Vec::<String>::new()
        );
    }

    #[test]
    fn addresses_reject_another_envs_vlan() {
        let v = check_addresses(env("test"), &good_lb(env("dev")));
        assert!(v.iter().any(|m| m.contains("outside VLAN 209")), "{v:?}");
        assert!(
            v.iter().any(|m| m.contains("is not the VLAN 209 link")),
            "{v:?}"
        );
        assert!(v.iter().any(|m| m.contains("Traefik asks for")), "{v:?}");
    }

    #[test]
    fn addresses_reject_a_stray_address_and_overlapping_pools() {
        let mut docs = good_lb(env("dev"));
        docs.push(yaml(
            "{kind: ConfigMap, metadata: {name: c}, data: {peer: 192.0.2.7}}",
        ));
        docs.push(yaml(
            "{kind: CiliumLoadBalancerIPPool, metadata: {name: extra}, spec: {blocks: [{cidr: 192.168.208.64/28}]}}",
        ));
        let v = check_addresses(env("dev"), &docs);
        assert!(v.iter().any(|m| m.contains("192.0.2.7 outside")), "{v:?}");
        assert!(v.iter().any(|m| m.contains("overlap")), "{v:?}");
    }

    #[test]
    fn addresses_require_placeholder_marks_in_staging() {
        let v = check_addresses(env("staging"), &good_lb(env("staging")));
        assert!(v.iter().any(|m| m.contains("must be marked")), "{v:?}");
    }

    #[test]
    fn addresses_reject_a_service_outside_the_assigned_pool() {
        let mut docs = good_lb(env("dev"));
        docs.push(yaml(
            "{kind: Service, metadata: {name: x, annotations: {lbipam.cilium.io/ips: 192.168.208.85}}, spec: {type: LoadBalancer}}",
        ));
        let v = check_addresses(env("dev"), &docs);
        assert!(
            v.iter()
                .any(|m| m.contains("outside the \"assigned\" pool")),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|m| m.contains("does not match the \"assigned\" pool's serviceSelector")),
            "{v:?}"
        );
    }

    fn ingress(host: &str, issuer: &str, tls: bool, middleware: bool) -> Doc {
        let tls = if tls {
            format!("tls: [{{hosts: [{host}], secretName: s}}],")
        } else {
            String::new()
        };
        let mw = if middleware {
            format!(", traefik.ingress.kubernetes.io/router.middlewares: {AUTHELIA_MIDDLEWARE}")
        } else {
            String::new()
        };
        yaml(&format!(
            "{{kind: Ingress, metadata: {{name: i, namespace: n, annotations: {{cert-manager.io/cluster-issuer: {issuer}{mw}}}}}, \
             spec: {{{tls} rules: [{{host: {host}, http: {{paths: [{{backend: {{service: {{name: s}}}}}}]}}}}]}}}}"
        ))
    }

    #[test]
    fn ingresses_accept_tls_and_the_env_issuer() {
        let mut whoami = ingress("whoami.dev.local", "selfsigned", true, true);
        whoami["metadata"]["name"] = "whoami".into();
        let docs = vec![
            yaml("{kind: ClusterIssuer, metadata: {name: selfsigned}, spec: {selfSigned: {}}}"),
            whoami,
            yaml(
                "{kind: Certificate, metadata: {name: whoami-tls, namespace: n}, \
                 spec: {secretName: s, dnsNames: [whoami.dev.local], issuerRef: {name: selfsigned}}}",
            ),
        ];
        assert_eq!(check_ingresses(env("dev"), &docs), Vec::<String>::new());
    }

    #[test]
    fn ingresses_reject_missing_tls_wrong_issuer_and_wrong_acme_server() {
        let docs = vec![
            yaml(&format!(
                "{{kind: ClusterIssuer, metadata: {{name: letsencrypt-prod}}, spec: {{acme: {{server: {LE_STAGING}}}}}}}"
            )),
            ingress("whoami.prod.local", "letsencrypt-prod", false, true),
            ingress("whoami.dev.local", "selfsigned", true, true),
        ];
        let v = check_ingresses(env("prod"), &docs);
        assert!(v.iter().any(|m| m.contains("is not ACME at")), "{v:?}");
        assert!(v.iter().any(|m| m.contains("has no TLS")), "{v:?}");
        assert!(
            v.iter().any(|m| m.contains("names issuer selfsigned")),
            "{v:?}"
        );
        assert!(
            v.iter().any(|m| m.contains("is not <name>.prod.<zone>")),
            "{v:?}"
        );
    }

    #[test]
    fn ingresses_reject_a_missing_issuer_annotation() {
        let mut ing = ingress("whoami.dev.local", "selfsigned", true, true);
        ing["metadata"]["annotations"]
            .as_object_mut()
            .expect("map")
            .remove("cert-manager.io/cluster-issuer");
        let v = check_ingresses(env("dev"), &[ing]);
        assert!(
            v.iter()
                .any(|m| m.contains("no cert-manager issuer annotation")),
            "{v:?}"
        );
        assert!(
            v.iter().any(|m| m.contains("no ClusterIssuer selfsigned")),
            "{v:?}"
        );
    }

    #[test]
    fn ingresses_require_the_whoami_certificate() {
        let docs = vec![
            yaml("{kind: ClusterIssuer, metadata: {name: selfsigned}, spec: {selfSigned: {}}}"),
            yaml(
                "{kind: Ingress, metadata: {name: whoami, namespace: whoami, annotations: {cert-manager.io/cluster-issuer: selfsigned}}, \
                 spec: {tls: [{hosts: [whoami.dev.local], secretName: whoami-tls}], rules: [{host: whoami.dev.local}]}}",
            ),
        ];
        let v = check_ingresses(env("dev"), &docs);
        assert_eq!(
            v,
            vec!["dev: no Certificate whoami-tls for the whoami Ingress".to_string()]
        );
        let mut with_cert = docs.clone();
        with_cert.push(yaml(
            "{kind: Certificate, metadata: {name: whoami-tls, namespace: whoami}, \
             spec: {secretName: other, dnsNames: [whoami.dev.local], issuerRef: {name: selfsigned}}}",
        ));
        let v = check_ingresses(env("dev"), &with_cert);
        assert!(v.iter().any(|m| m.contains("does not cover")), "{v:?}");
        with_cert[2]["spec"]["secretName"] = "whoami-tls".into();
        assert_eq!(
            check_ingresses(env("dev"), &with_cert),
            Vec::<String>::new()
        );
    }

    #[test]
    fn references_reject_missing_backends_monitor_targets_and_classes() {
        let docs = vec![
            ingress("whoami.dev.local", "selfsigned", true, true),
            yaml(
                "{kind: ServiceMonitor, metadata: {name: m, namespace: monitoring}, spec: {namespaceSelector: {matchNames: [traefik]}, \
                 selector: {matchLabels: {app.kubernetes.io/name: traefik-metrics}}}}",
            ),
            yaml(
                "{kind: StatefulSet, metadata: {name: db, namespace: n}, \
                 spec: {volumeClaimTemplates: [{spec: {storageClassName: synelia-iscsi}}]}}",
            ),
        ];
        let v = check_references(&docs);
        assert!(
            v.iter().any(|m| m.contains("routes to Service n/s")),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|m| m.contains("traefik-metrics, which no Service carries")),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|m| m.contains("claims StorageClass synelia-iscsi")),
            "{v:?}"
        );
        let mut fixed = docs.clone();
        fixed.push(yaml("{kind: Service, metadata: {name: s, namespace: n}}"));
        fixed.push(yaml(
            "{kind: Service, metadata: {name: traefik-metrics, namespace: traefik, \
             labels: {app.kubernetes.io/name: traefik-metrics}}}",
        ));
        fixed.push(yaml(
            "{kind: StorageClass, metadata: {name: synelia-iscsi}}",
        ));
        assert_eq!(check_references(&fixed), Vec::<String>::new());
    }

    fn middleware() -> Doc {
        yaml(
            "{kind: Middleware, metadata: {name: forwardauth, namespace: authelia}, \
             spec: {forwardAuth: {address: http://authelia.authelia.svc.cluster.local/api/authz/forward-auth}}}",
        )
    }

    #[test]
    fn protected_routes_accept_the_three_routes() {
        let docs = vec![
            middleware(),
            ingress("argocd.dev.local", "selfsigned", true, true),
            ingress("whoami.dev.local", "selfsigned", true, true),
            ingress("grafana.dev.local", "selfsigned", true, true),
        ];
        assert_eq!(check_protected_routes(&docs), Vec::<String>::new());
    }

    #[test]
    fn protected_routes_reject_an_unprotected_route_and_a_missing_middleware() {
        let docs = vec![
            ingress("argocd.dev.local", "selfsigned", true, false),
            ingress("whoami.dev.local", "selfsigned", true, true),
        ];
        let v = check_protected_routes(&docs);
        assert!(
            v.iter().any(|m| m.contains("no ForwardAuth Middleware")),
            "{v:?}"
        );
        assert!(
            v.iter().any(|m| m.contains("is not behind Authelia")),
            "{v:?}"
        );
        assert!(v.iter().any(|m| m.contains("no route grafana")), "{v:?}");
    }

    fn secret(key: &str, text: &str) -> Doc {
        let data = base64::engine::general_purpose::STANDARD.encode(text);
        yaml(&format!(
            "{{kind: Secret, metadata: {{name: s, namespace: n}}, data: {{{key}: {data}}}}}"
        ))
    }

    #[test]
    fn secrets_accept_placeholders() {
        let text = "users:\n  admin:\n    password: REPLACE-WITH-AN-ARGON2ID-HASH\n    email: admin@example.com\n";
        assert_eq!(
            check_secrets(&[secret("users.yml", text)]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn secrets_reject_hashes_keys_and_random_strings() {
        let bcrypt = "password: $2b$12$KIXQJj3u6x1Zq3pZ3bVq7eJm2fJxkq4q7qQyYyO0Yp1xZq3pZ3bVq";
        let argon =
            "password: $argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----";
        let token = "jwt: 9fQ2xL7vR4kT1mZ8wY3nB6cH0pJ5sD2aE7uG";
        let hex = "key: 4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a291817";
        for (text, what) in [
            (bcrypt, "bcrypt"),
            (argon, "argon2"),
            (key, "private key"),
            (token, "random-looking"),
            (hex, "random-looking"),
        ] {
            let v = check_secrets(&[secret("k", text)]);
            assert!(v.iter().any(|m| m.contains(what)), "{what}: {v:?}");
        }
        let v = check_secrets(&[yaml(&format!(
            "{{kind: ConfigMap, metadata: {{name: c}}, data: {{h: '{bcrypt}'}}}}"
        ))]);
        assert!(v.iter().any(|m| m.contains("bcrypt")), "{v:?}");
    }

    #[test]
    fn secret_refs_must_be_documented() {
        let docs = vec![yaml(
            "{kind: Deployment, metadata: {name: d}, spec: {template: {spec: {volumes: [{name: s, secret: {secretName: dsm-creds}}]}}}}",
        )];
        assert_eq!(
            check_secret_refs_documented(&docs, "create `dsm-creds` by hand"),
            Vec::<String>::new()
        );
        assert_eq!(check_secret_refs_documented(&docs, "nothing here").len(), 1);
    }

    fn app(name: &str, wave: i64, chart: Option<&str>, namespace: &str) -> Doc {
        let chart = chart
            .map(|c| format!(", {{repoURL: https://charts, chart: {c}, targetRevision: 1.0.0}}"))
            .unwrap_or_default();
        yaml(&format!(
            "{{kind: Application, metadata: {{name: {name}, annotations: {{argocd.argoproj.io/sync-wave: '{wave}'}}}}, \
             spec: {{destination: {{namespace: {namespace}}}, sources: [{{repoURL: https://git, targetRevision: dev, \
             path: apps/{name}/overlays/dev}}{chart}]}}}}"
        ))
    }

    fn ns(name: &str) -> Doc {
        yaml(&format!(
            "{{apiVersion: v1, kind: Namespace, metadata: {{name: {name}}}}}"
        ))
    }

    fn middleware_cr() -> Doc {
        yaml("{apiVersion: traefik.io/v1alpha1, kind: Middleware, metadata: {name: forwardauth, namespace: authelia}}")
    }

    #[test]
    fn sync_waves_accept_operator_before_its_users() {
        let units = vec![
            AppUnit {
                app: app("argocd", -10, None, "argocd"),
                docs: vec![],
            },
            AppUnit {
                app: app("traefik", -4, Some("traefik"), "traefik"),
                docs: vec![ns("traefik")],
            },
            AppUnit {
                app: app("authelia", -2, None, "authelia"),
                docs: vec![ns("authelia"), middleware_cr()],
            },
        ];
        assert_eq!(check_sync_waves(&units), Vec::<String>::new());
    }

    #[test]
    fn sync_waves_reject_a_user_before_its_operator() {
        let units = vec![
            AppUnit {
                app: app("argocd", -10, None, "argocd"),
                docs: vec![],
            },
            AppUnit {
                app: app("traefik", -1, Some("traefik"), "traefik"),
                docs: vec![ns("traefik")],
            },
            AppUnit {
                app: app("authelia", -2, None, "authelia"),
                docs: vec![ns("authelia"), middleware_cr()],
            },
        ];
        let v = check_sync_waves(&units);
        assert!(
            v.iter()
                .any(|m| m.contains("but traefik installs its CRDs at wave -1")),
            "{v:?}"
        );
    }

    #[test]
    fn sync_waves_reject_own_crs_in_wave_zero_unknown_groups_and_late_namespaces() {
        let cert = yaml(
            "{apiVersion: cert-manager.io/v1, kind: Certificate, metadata: {name: whoami-tls, namespace: whoami}}",
        );
        let units = vec![
            AppUnit {
                app: app("argocd", -10, None, "argocd"),
                docs: vec![],
            },
            AppUnit {
                app: app("cert-manager", -4, Some("cert-manager"), "cert-manager"),
                docs: vec![ns("cert-manager"), cert],
            },
            AppUnit {
                app: app("traefik", -3, Some("traefik"), "traefik"),
                docs: vec![ns("traefik"), ns("whoami")],
            },
            AppUnit {
                app: app("x", 0, None, "x"),
                docs: vec![
                    ns("x"),
                    yaml("{apiVersion: example.com/v1, kind: Thing, metadata: {name: t}}"),
                ],
            },
        ];
        let v = check_sync_waves(&units);
        assert!(
            v.iter()
                .any(|m| m.contains("needs a resource sync-wave > 0")),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|m| m.contains("uses namespace whoami, created by app traefik not before it")),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|m| m.contains("no app installs the CRDs of Thing")),
            "{v:?}"
        );
    }

    #[test]
    fn sync_waves_put_argocd_first() {
        let units = vec![
            AppUnit {
                app: app("argocd", 0, None, "argocd"),
                docs: vec![],
            },
            AppUnit {
                app: app("traefik", -4, None, "traefik"),
                docs: vec![],
            },
        ];
        let v = check_sync_waves(&units);
        assert!(
            v.iter()
                .any(|m| m.contains("before Argo CD's own Application")),
            "{v:?}"
        );
    }

    #[test]
    fn sync_waves_put_the_pools_before_load_balancer_services() {
        let pool = yaml("{apiVersion: cilium.io/v2alpha1, kind: CiliumLoadBalancerIPPool, metadata: {name: assigned}}");
        let lb = yaml(
            "{apiVersion: v1, kind: Service, metadata: {name: traefik, namespace: traefik}, spec: {type: LoadBalancer}}",
        );
        let units = |pools_wave: i64, with_pools: bool| {
            vec![
                AppUnit {
                    app: app("argocd", -10, None, "argocd"),
                    docs: vec![],
                },
                AppUnit {
                    app: app("cilium-lb", pools_wave, None, "kube-system"),
                    docs: if with_pools {
                        vec![pool.clone()]
                    } else {
                        vec![]
                    },
                },
                AppUnit {
                    app: app("traefik", -4, Some("traefik"), "traefik"),
                    docs: vec![ns("traefik"), lb.clone()],
                },
            ]
        };
        assert_eq!(check_sync_waves(&units(-5, true)), Vec::<String>::new());
        let v = check_sync_waves(&units(-4, true));
        assert!(
            v.iter()
                .any(|m| m
                    .contains("needs an address from the pools of cilium-lb, synced at wave -4")),
            "{v:?}"
        );
        let v = check_sync_waves(&units(-5, false));
        assert!(
            v.iter().any(|m| m.contains("no app holds LB IPAM pools")),
            "{v:?}"
        );
    }

    #[test]
    fn sources_accept_branch_and_pins() {
        let apps = vec![app("traefik", -4, Some("traefik"), "traefik")];
        assert_eq!(
            check_sources(env("dev"), &apps, "https://git"),
            Vec::<String>::new()
        );
        assert_eq!(
            check_apps_present(env("dev"), &apps, &["traefik"]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn sources_reject_wrong_branch_floating_versions_and_unpinned_git() {
        let mut a = app("traefik", -4, Some("traefik"), "traefik");
        let bad = [
            "*", "^37.0.0", "~1.2", ">=1.0.0", "1.x", "HEAD", "", "latest",
        ];
        for rev in bad {
            a["spec"]["sources"][1]["targetRevision"] = rev.into();
            let v = check_sources(env("prod"), std::slice::from_ref(&a), "https://git");
            assert!(
                v.iter().any(|m| m.contains("is not pinned")),
                "{rev}: {v:?}"
            );
            assert!(
                v.iter().any(|m| m.contains("expected branch main")),
                "{rev}: {v:?}"
            );
        }
        a["spec"]["sources"][1] = yaml("{repoURL: https://github.com/argoproj/argo-cd.git, targetRevision: stable, path: manifests}");
        let v = check_sources(env("dev"), std::slice::from_ref(&a), "https://git");
        assert!(
            v.iter().any(|m| m.contains("not a pinned tag or commit")),
            "{v:?}"
        );
        a["spec"]["sources"][0]["path"] = "set-by-overlay".into();
        assert!(
            check_sources(env("dev"), std::slice::from_ref(&a), "https://git")
                .iter()
                .any(|m| m.contains("set-by-overlay"))
        );
    }

    #[test]
    fn apps_present_rejects_missing_extra_and_misrouted_apps() {
        let apps = vec![
            app("traefik", -4, None, "traefik"),
            app("stray", 0, None, "s"),
        ];
        let v = check_apps_present(env("test"), &apps, &["traefik", "monitoring"]);
        assert!(
            v.iter()
                .any(|m| m.contains("no Application for app monitoring")),
            "{v:?}"
        );
        assert!(
            v.iter().any(|m| m.contains("unexpected Application stray")),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|m| m.contains("is not <apps>/traefik/overlays/test")),
            "{v:?}"
        );
    }
}
