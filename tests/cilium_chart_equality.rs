//! `vixens_cilium`'s objects against the official Cilium Helm chart, version by version (issue 17).
//!
//! Each chart package in `../shared/fixtures/cilium/cilium-<version>.tgz` is rendered offline with Helm v4
//! (`scripts/helm-render.py`, PyPI `helm-python-sdk`, installed by `scripts/install-helm.sh` on first use) for
//! Talos's documented values plus the settings of each [`Combo`], and compared object by object with what
//! `vixens::manifests::cilium::render` produces for the same settings. Before comparing, both sides are
//! normalised for what is not the provider's to reproduce: Helm-only metadata (`helm.sh/chart` and the
//! `cilium.io/helm-template-*` labels), generated TLS material (certificate and key bytes; key names are
//! compared), the value of config checksums (their presence and key are compared), comment lines of inline
//! scripts and of the nginx config (they do not run), and API-server defaults that do not change the stored
//! object (`protocol: TCP` on ports, quantities as strings, null fields, a null ConfigMap value stored as "").
//! Everything else must be equal: images and digests, commands, args, env, every `cilium-config` key and value,
//! volumes and mounts, security contexts, probes, RBAC rules, ports, tolerations and affinity. Missing or extra
//! objects fail too. The figures (objects compared, differences) are printed per version and combination.
//!
//! Helm 4.2 drops values whose chart default is null, which Helm 3 rendered as empty strings; the values below
//! pass them explicitly (`debug.verbose`, `nodePort.addresses`, `policyCIDRMatchMode`, as the fixtures' README
//! says).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};
use vixens::manifests::cilium::{self, certs, CiliumValues};

/// A combination of the provider's settings, mapped to chart values and to [`CiliumValues`].
#[derive(Debug, Clone)]
struct Combo {
    name: &'static str,
    hubble: bool,
    relay: bool,
    ui: bool,
    l2: bool,
    leases: Option<(&'static str, &'static str, &'static str)>,
    cluster_name: &'static str,
    cluster_id: u32,
    operator_replicas: u32,
    extra_config: &'static [(&'static str, &'static str)],
}

const COMBOS: &[Combo] = &[
    Combo {
        name: "talos+relay+ui+l2",
        hubble: true,
        relay: true,
        ui: true,
        l2: true,
        leases: None,
        cluster_name: "default",
        cluster_id: 0,
        operator_replicas: 2,
        extra_config: &[],
    },
    Combo {
        name: "hubble-only,no-l2,named",
        hubble: true,
        relay: false,
        ui: false,
        l2: false,
        leases: None,
        cluster_name: "lab",
        cluster_id: 7,
        operator_replicas: 1,
        extra_config: &[],
    },
    Combo {
        name: "relay-no-ui,l2-leases,extra",
        hubble: true,
        relay: true,
        ui: false,
        l2: true,
        leases: Some(("20s", "10s", "4s")),
        cluster_name: "dev-lab",
        cluster_id: 255,
        operator_replicas: 2,
        extra_config: &[("bpf-ct-timeout-regular-any", "1m")],
    },
    Combo {
        name: "no-hubble,l2",
        hubble: false,
        relay: false,
        ui: false,
        l2: true,
        leases: None,
        cluster_name: "edge",
        cluster_id: 1,
        operator_replicas: 2,
        extra_config: &[],
    },
];

/// Chart values: Talos's documented values ("Deploying Cilium CNI") plus the combination's settings.
fn chart_values(c: &Combo) -> Value {
    let mut l2 = json!({"enabled": c.l2});
    if let Some((d, r, p)) = c.leases {
        l2["leaseDuration"] = json!(d);
        l2["leaseRenewDeadline"] = json!(r);
        l2["leaseRetryPeriod"] = json!(p);
    }
    let extra: BTreeMap<&str, &str> = c.extra_config.iter().copied().collect();
    json!({
        "ipam": {"mode": "kubernetes"},
        "kubeProxyReplacement": true,
        "securityContext": {"capabilities": {
            "ciliumAgent": ["CHOWN", "KILL", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "SYS_ADMIN", "SYS_RESOURCE",
                            "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"],
            "cleanCiliumState": ["NET_ADMIN", "SYS_ADMIN", "SYS_RESOURCE"],
        }},
        "cgroup": {"autoMount": {"enabled": false}, "hostRoot": "/sys/fs/cgroup"},
        "k8sServiceHost": "localhost",
        "k8sServicePort": 7445,
        "hubble": {
            "enabled": c.hubble,
            "relay": {"enabled": c.relay, "rollOutPods": true},
            "ui": {"enabled": c.ui, "rollOutPods": true},
        },
        "l2announcements": l2,
        "cluster": {"name": c.cluster_name, "id": c.cluster_id},
        "operator": {"replicas": c.operator_replicas, "rollOutPods": true},
        "envoy": {"rollOutPods": true},
        "extraConfig": extra,
        // What `roll_out_pods` (on by default) does: a config checksum in each pod template.
        "rollOutCiliumPods": true,
        // Null in the chart's values: Helm 3 renders them as empty strings, Helm 4.2 drops them.
        "debug": {"verbose": ""},
        "nodePort": {"addresses": ""},
        "policyCIDRMatchMode": "",
    })
}

fn provider_values(version: &str, c: &Combo) -> CiliumValues {
    let mut v = CiliumValues {
        version: version.to_string(),
        cluster_name: c.cluster_name.to_string(),
        cluster_id: c.cluster_id,
        operator_replicas: c.operator_replicas,
        ..Default::default()
    };
    v.hubble.enabled = c.hubble;
    v.hubble.relay = c.relay;
    v.hubble.ui = c.ui;
    v.l2_announcements.enabled = c.l2;
    if let Some((d, r, p)) = c.leases {
        v.l2_announcements.lease_duration = Some(d.into());
        v.l2_announcements.lease_renew_deadline = Some(r.into());
        v.l2_announcements.lease_retry_period = Some(p.into());
    }
    v.extra_config = c
        .extra_config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v
}

/// The chart packages to compare with: every `cilium-<version>.tgz` of the shared fixtures.
fn charts() -> Vec<(String, PathBuf)> {
    let dir = common::shared_dir()
        .expect("../shared is missing: the chart packages are in ../shared/fixtures/cilium")
        .join("fixtures/cilium");
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let v = name
                .strip_prefix("cilium-")?
                .strip_suffix(".tgz")?
                .to_string();
            Some((v, e.path()))
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 4,
        "expected the four chart packages in {}",
        dir.display()
    );
    out
}

/// `.cache/helm/site`, installing helm-python-sdk on first use (never skipped: the test fails when it cannot).
fn helm_site() -> &'static Path {
    static SITE: OnceLock<PathBuf> = OnceLock::new();
    SITE.get_or_init(|| {
        let out = Command::new("bash")
            .arg(common::repo_root().join("scripts/install-helm.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/install-helm.sh");
        assert!(out.status.success(), "scripts/install-helm.sh failed");
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

/// Renders `chart` with Helm for `values`; objects by identity.
fn helm_render(chart: &Path, values: &Value) -> BTreeMap<String, Value> {
    use std::io::Write;
    let mut child = Command::new("python3")
        .arg(common::repo_root().join("scripts/helm-render.py"))
        .arg(chart)
        .args(["cilium", "kube-system"])
        .env("PYTHONPATH", helm_site())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(values.to_string().as_bytes())
        .expect("write values");
    let out = child.wait_with_output().expect("helm-render.py");
    assert!(
        out.status.success(),
        "helm-render.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> = serde_json::from_slice(&out.stdout).expect("helm-render.py JSON");
    docs.into_iter()
        .map(|d| {
            let o = d["object"].clone();
            (identity(&o), o)
        })
        .collect()
}

fn identity(o: &Value) -> String {
    let ns = o["metadata"]["namespace"].as_str().unwrap_or("");
    format!(
        "{} {} {}/{}",
        o["apiVersion"].as_str().unwrap_or("?"),
        o["kind"].as_str().unwrap_or("?"),
        ns,
        o["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// Drops nulls and empty label/annotation maps; API-server defaults and Helm-only metadata (see the module doc).
fn normalise(mut o: Value) -> Value {
    let kind = o["kind"].as_str().unwrap_or_default().to_string();
    if kind == "ConfigMap" {
        // `key:` with nothing after it is YAML null; the API server stores "" in a ConfigMap's string map.
        for v in o
            .get_mut("data")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|d| d.values_mut())
        {
            if v.is_null() {
                *v = json!("");
            }
        }
    }
    drop_nulls(&mut o);
    strip_meta(&mut o["metadata"]);
    if let Some(t) = o.pointer_mut("/spec/template/metadata") {
        strip_meta(t);
    }
    if kind == "Secret" {
        if let Some(data) = o.get_mut("data").and_then(Value::as_object_mut) {
            for v in data.values_mut() {
                *v = json!("<generated TLS material>");
            }
        }
    }
    if kind == "ConfigMap" {
        if let Some(conf) = o.pointer_mut("/data/nginx.conf") {
            *conf = json!(strip_comments(conf.as_str().unwrap_or_default()));
        }
        if let Some(b) = o.pointer_mut("/data/bootstrap-config.json") {
            // Compared as JSON: key order and spacing are not the provider's to reproduce.
            if let Some(parsed) = b.as_str().and_then(|s| serde_json::from_str(s).ok()) {
                *b = parsed;
            }
        }
    }
    default_tcp(&mut o);
    strip_script_comments(&mut o);
    o
}

/// A script or config text without its comment lines (`#` first on the line) and blank lines, each line
/// trimmed at the end: comments do not run.
fn strip_comments(s: &str) -> String {
    s.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Strips comments from multi-line inline scripts in `command` and `args` (e.g. the agent's postStart hook).
fn strip_script_comments(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "command" || k == "args" {
                    for s in x.as_array_mut().into_iter().flatten() {
                        if let Some(text) = s.as_str().filter(|t| t.contains('\n')) {
                            *s = json!(strip_comments(text));
                        }
                    }
                }
                strip_script_comments(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_script_comments),
        _ => {}
    }
}

fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn strip_meta(meta: &mut Value) {
    let Some(m) = meta.as_object_mut() else {
        return;
    };
    for field in ["labels", "annotations"] {
        if let Some(map) = m.get_mut(field).and_then(Value::as_object_mut) {
            map.retain(|k, _| {
                !k.starts_with("cilium.io/helm-template") && !k.starts_with("helm.sh/")
            });
            for (k, v) in map.iter_mut() {
                if k.ends_with("checksum") || k.ends_with("-digest") {
                    *v = json!("<digest>");
                }
            }
        }
        if m.get(field)
            .and_then(Value::as_object)
            .is_some_and(|x| x.is_empty())
        {
            m.remove(field);
        }
    }
}

/// `protocol` defaults to TCP on container and Service ports; quantities are strings once stored.
fn default_tcp(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "ports" {
                    for p in x.as_array_mut().into_iter().flatten() {
                        if let Some(p) = p.as_object_mut() {
                            p.entry("protocol").or_insert(json!("TCP"));
                        }
                    }
                }
                if k == "limits" || k == "requests" {
                    for q in x.as_object_mut().into_iter().flat_map(|q| q.values_mut()) {
                        if q.is_number() {
                            *q = json!(q.to_string());
                        }
                    }
                }
                default_tcp(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(default_tcp),
        _ => {}
    }
}

/// Paths where `a` (chart) and `b` (provider) differ; list items with a `name` are matched by name.
fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(l), Some(r)) => diff(l, r, &p, out),
                    (Some(l), None) => out.push(format!("{p}: chart has {}", short(l))),
                    (None, Some(r)) => out.push(format!("{p}: only the provider has {}", short(r))),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (l, r)) in x.iter().zip(y).enumerate() {
                let key = l["name"].as_str().map_or(i.to_string(), str::to_string);
                diff(l, r, &format!("{path}[{key}]"), out);
            }
        }
        _ if a != b => out.push(format!(
            "{path}: chart {} != provider {}",
            short(a),
            short(b)
        )),
        _ => {}
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 400 {
        format!("{}...", s.chars().take(400).collect::<String>())
    } else {
        s
    }
}

#[test]
fn every_chart_version_and_settings_combination_renders_the_chart_objects() {
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (version, chart) in charts() {
        for combo in COMBOS {
            let chart_objs = helm_render(&chart, &chart_values(combo));
            let values = provider_values(&version, combo);
            let hubble = certs::generate(&values.cluster_name, time::OffsetDateTime::now_utc())
                .expect("certs");
            let ours: BTreeMap<String, Value> = match cilium::render(&values, Some(&hubble)) {
                Ok(objs) => objs
                    .iter()
                    .map(|o| {
                        let v = o.object.to_value().expect("json");
                        (identity(&v), v)
                    })
                    .collect(),
                Err(e) => {
                    failures.push(format!("{version} {}: render failed: {e}", combo.name));
                    continue;
                }
            };
            let mut diffs = Vec::new();
            let mut compared = 0;
            for (id, theirs) in &chart_objs {
                match ours.get(id) {
                    None => diffs.push(format!("{id}: missing from the provider")),
                    Some(mine) => {
                        compared += 1;
                        let mut d = Vec::new();
                        diff(
                            &normalise(theirs.clone()),
                            &normalise(mine.clone()),
                            "",
                            &mut d,
                        );
                        diffs.extend(d.into_iter().map(|p| format!("{id}: {p}")));
                    }
                }
            }
            for id in ours.keys().filter(|id| !chart_objs.contains_key(*id)) {
                diffs.push(format!("{id}: rendered by the provider, not by the chart"));
            }
            report.push(format!(
                "{version} {:<28} {compared:>2} objects compared, {} differences",
                combo.name,
                diffs.len()
            ));
            failures.extend(
                diffs
                    .into_iter()
                    .map(|d| format!("{version} {}: {d}", combo.name)),
            );
        }
    }
    println!("{}", report.join("\n"));
    assert!(
        failures.is_empty(),
        "{} differences with the official chart:\n{}\n\n{}",
        failures.len(),
        failures.join("\n"),
        report.join("\n")
    );
}
