//! Checks of issue 20 on the built tree: retries, per-area AppProjects, what Authelia needs to start, the iSCSI
//! tools path of the Synology CSI driver, DNS-01 for Let's Encrypt, metrics and dashboards, the storage test.
//! Each returns its violations (empty: passed); unit tests below feed each a bad document.

use crate::checks::{AppUnit, CLUSTER_SCOPED};
use crate::model::*;
use std::collections::BTreeSet;

const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";

fn wave(d: &Doc) -> i64 {
    annotation(d, SYNC_WAVE)
        .and_then(|w| w.trim().parse().ok())
        .unwrap_or(0)
}

/// Every Application retries a failed sync with exponential backoff (Argo CD does not retry a failed sync of the
/// same commit by itself).
pub fn check_retry(apps: &[Doc]) -> Vec<String> {
    let mut v = Vec::new();
    for app in apps.iter().filter(|d| kind(d) == "Application") {
        let retry = get(app, &["spec", "syncPolicy", "retry"]);
        let limit = retry
            .and_then(|r| r.get("limit"))
            .and_then(Doc::as_i64)
            .unwrap_or(0);
        let backoff = retry.and_then(|r| r.get("backoff"));
        let complete = backoff.is_some_and(|b| {
            ["duration", "maxDuration"]
                .iter()
                .all(|k| b.get(*k).and_then(Doc::as_str).is_some())
                && b.get("factor")
                    .and_then(Doc::as_i64)
                    .is_some_and(|f| f >= 2)
        });
        if limit == 0 || !complete {
            v.push(format!(
                "Application {}: no retry with exponential backoff (syncPolicy.retry.limit, backoff.duration, \
                 factor >= 2, maxDuration)",
                name(app)
            ));
        }
    }
    v
}

/// Every Application names an AppProject of the tree (never `default`); the project, synced in an earlier wave,
/// allows each of the app's sources and the namespaces its objects go to, and whitelists the cluster-scoped
/// kinds it creates.
pub fn check_projects(apps: &[Doc], units: &[AppUnit]) -> Vec<String> {
    let mut v = Vec::new();
    let projects: Vec<&Doc> = apps.iter().filter(|d| kind(d) == "AppProject").collect();
    let first_app_wave = apps
        .iter()
        .filter(|d| kind(d) == "Application")
        .map(wave)
        .min()
        .unwrap_or(0);
    for p in &projects {
        if seq(p, &["spec", "sourceRepos"])
            .iter()
            .any(|r| r.as_str() == Some("set-by-overlay"))
        {
            v.push(format!(
                "AppProject {}: a source is still \"set-by-overlay\"",
                name(p)
            ));
        }
        if wave(p) >= first_app_wave {
            v.push(format!(
                "AppProject {} (wave {}) does not sync before the first Application (wave {first_app_wave})",
                name(p),
                wave(p)
            ));
        }
    }
    for u in units {
        let app = name(&u.app);
        let project_name = str_at(&u.app, &["spec", "project"]).unwrap_or("default");
        let Some(project) = projects.iter().find(|p| name(p) == project_name) else {
            v.push(format!(
                "Application {app}: project {project_name:?} is not an AppProject of the tree"
            ));
            continue;
        };
        let repos: BTreeSet<&str> = seq(project, &["spec", "sourceRepos"])
            .iter()
            .filter_map(Doc::as_str)
            .collect();
        let sources = seq(&u.app, &["spec", "sources"]);
        for s in sources {
            let repo = str_at(s, &["repoURL"]).unwrap_or("");
            if !repos.contains(repo) && !repos.contains("*") {
                v.push(format!(
                    "Application {app}: source {repo} is not in AppProject {project_name}'s sourceRepos"
                ));
            }
        }
        let namespaces: BTreeSet<&str> = seq(project, &["spec", "destinations"])
            .iter()
            .filter_map(|d| str_at(d, &["namespace"]))
            .collect();
        let destination = str_at(&u.app, &["spec", "destination", "namespace"]).unwrap_or("");
        let mut used: BTreeSet<&str> = u
            .docs
            .iter()
            .filter(|d| !CLUSTER_SCOPED.contains(&kind(d)))
            .map(|d| namespace(d).unwrap_or(destination))
            .collect();
        used.insert(destination);
        for ns in used {
            if !namespaces.contains(ns) && !namespaces.contains("*") {
                v.push(format!(
                    "Application {app}: namespace {ns} is not a destination of AppProject {project_name}"
                ));
            }
        }
        let allowed: BTreeSet<(&str, &str)> = seq(project, &["spec", "clusterResourceWhitelist"])
            .iter()
            .map(|w| {
                (
                    str_at(w, &["group"]).unwrap_or(""),
                    str_at(w, &["kind"]).unwrap_or(""),
                )
            })
            .collect();
        for d in u.docs.iter().filter(|d| CLUSTER_SCOPED.contains(&kind(d))) {
            if !allowed.contains(&(api_group(d), kind(d))) {
                v.push(format!(
                    "Application {app}: {} is cluster-scoped and not whitelisted by AppProject {project_name}",
                    id(d)
                ));
            }
        }
    }
    v
}

/// A password digest in the encoded form Authelia's file backend decodes (go-crypt `algorithm/argon2/decoder.go`
/// @v0.14.15: `$argon2id$v=19$m=..,t=..,p=..$<salt>$<key>`, base64 without padding, a non-empty key).
pub fn is_argon2_digest(s: &str) -> bool {
    use base64::Engine as _;
    let parts: Vec<&str> = s.split('$').collect();
    let [empty, variant, version, params, salt, key] = parts.as_slice() else {
        return false;
    };
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    empty.is_empty()
        && matches!(*variant, "argon2id" | "argon2i" | "argon2d")
        && *version == "v=19"
        && params.split(',').all(|p| {
            p.split_once('=')
                .is_some_and(|(k, v)| matches!(k, "m" | "t" | "p") && v.parse::<u32>().is_ok())
        })
        && b64.decode(salt).is_ok()
        && b64.decode(key).is_ok_and(|k| !k.is_empty())
}

/// The shipped users database only holds disabled users whose digest is all zero bytes: no password hashes to
/// it, so it is a placeholder, not a credential.
pub fn is_placeholder_digest(s: &str) -> bool {
    is_argon2_digest(s)
        && s.rsplitn(3, '$')
            .take(2)
            .all(|part| part.chars().all(|c| c == 'A'))
}

/// Authelia starts with what ships: its users database parses as Authelia reads it (a non-empty `users` map;
/// every user with a display name and a password digest it decodes; the shipped users disabled, their digests
/// placeholders), and every `*_FILE` secret it reads is written by one of its init containers into a volume
/// mounted at that path, or lives in a Secret the tree holds.
pub fn check_authelia_starts(docs: &[Doc], users_db: &str) -> Vec<String> {
    let mut v = Vec::new();
    match vixens::yaml::from_str::<Doc>(users_db) {
        Err(e) => v.push(format!("users_database.yml does not parse: {e}")),
        Ok(db) => {
            let users = get(&db, &["users"]).and_then(Doc::as_object);
            if users.is_none_or(|u| u.is_empty()) {
                v.push("users_database.yml: Authelia refuses an empty users map".into());
            }
            for (user, u) in users.into_iter().flatten() {
                let user = user.as_str();
                let password = str_at(u, &["password"]).unwrap_or("");
                if str_at(u, &["displayname"]).is_none_or(str::is_empty) {
                    v.push(format!(
                        "users_database.yml: {user} has no displayname (required)"
                    ));
                }
                if !is_argon2_digest(password) {
                    v.push(format!(
                        "users_database.yml: {user}'s password is not a digest Authelia decodes: it exits at start"
                    ));
                } else if !is_placeholder_digest(password)
                    || get(u, &["disabled"]) != Some(&Doc::Bool(true))
                {
                    v.push(format!(
                        "users_database.yml: {user} is a real login in Git (only disabled placeholders ship)"
                    ));
                }
            }
        }
    }
    let Some(dep) = docs
        .iter()
        .find(|d| kind(d) == "Deployment" && name(d) == "authelia")
    else {
        return vec!["no Deployment authelia".into()];
    };
    let spec = get(dep, &["spec", "template", "spec"])
        .cloned()
        .unwrap_or_default();
    let held: BTreeSet<&str> = docs
        .iter()
        .filter(|d| kind(d) == "Secret")
        .map(name)
        .collect();
    for vol in seq(&spec, &["volumes"]) {
        if let Some(secret) = str_at(vol, &["secret", "secretName"]) {
            if !held.contains(secret) {
                v.push(format!(
                    "Authelia mounts Secret {secret}, which the tree does not hold: the pod cannot start"
                ));
            }
        }
    }
    let written: Vec<String> = seq(&spec, &["initContainers"])
        .iter()
        .flat_map(|c| seq(c, &["command"]).iter().chain(seq(c, &["args"])))
        .filter_map(Doc::as_str)
        .filter_map(|a| a.strip_prefix("--file="))
        .flat_map(|files| files.split(',').map(str::to_string))
        .collect();
    for c in seq(&spec, &["containers"]) {
        for e in seq(c, &["env"]) {
            let var = str_at(e, &["name"]).unwrap_or("");
            if !(var.starts_with("AUTHELIA_") && var.ends_with("_FILE")) {
                continue;
            }
            let path = str_at(e, &["value"]).unwrap_or("");
            if !written.iter().any(|w| w == path) {
                v.push(format!(
                    "Authelia reads {var}={path}, which no init container writes: Authelia exits at start"
                ));
            }
        }
    }
    v
}

/// Where siderolabs/iscsi-tools installs iscsiadm (storage/iscsi-tools/pkg.yaml: `-Discsi_sbindir=/usr/local/sbin`).
pub const ISCSIADM: &str = "/usr/local/sbin/iscsiadm";

/// The Synology CSI node plugin runs the host's iscsiadm from the iscsi-tools extension, and every real
/// environment installs that extension (`system_extensions` in terraform/environments/<env>/variables.tf).
pub fn check_iscsi(apps: &[Doc], env_variables_tf: &str) -> Vec<String> {
    let mut v = Vec::new();
    let app = apps
        .iter()
        .find(|d| kind(d) == "Application" && name(d) == "synology-csi");
    let args: Vec<&str> = app
        .map(|a| {
            seq(a, &["spec", "sources"])
                .iter()
                .flat_map(|s| seq(s, &["helm", "valuesObject", "node", "plugin", "extraArgs"]))
                .filter_map(Doc::as_str)
                .collect()
        })
        .unwrap_or_default();
    if !args.contains(&format!("--iscsiadm-path={ISCSIADM}").as_str()) {
        v.push(format!(
            "synology-csi: the node plugin does not run {ISCSIADM} (node.plugin.extraArgs --iscsiadm-path)"
        ));
    }
    let default = env_variables_tf
        .split("variable \"system_extensions\"")
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .unwrap_or("");
    if !default.contains("\"siderolabs/iscsi-tools\"") {
        v.push("terraform: the environment does not install siderolabs/iscsi-tools".into());
    }
    v
}

/// Let's Encrypt issuers prove control of the zone with DNS-01 only (homelab hosts are not reachable from the
/// internet), with the provider's credentials in a Secret.
pub fn check_dns01(docs: &[Doc]) -> Vec<String> {
    let mut v = Vec::new();
    for issuer in docs
        .iter()
        .filter(|d| kind(d) == "ClusterIssuer" && get(d, &["spec", "acme"]).is_some())
    {
        let solvers = seq(issuer, &["spec", "acme", "solvers"]);
        if solvers.is_empty() || solvers.iter().any(|s| s.get("dns01").is_none()) {
            v.push(format!("{}: an ACME solver is not DNS-01", id(issuer)));
        }
    }
    v
}

/// Cilium's metrics are scraped where terraform/modules/cilium serves them (agent :9962, Hubble :9965, operator
/// :9963), Grafana provisions the Cilium, Hubble, Traefik and Argo CD dashboards by grafana.com id and
/// revision, alerts are routed, and Prometheus and Alertmanager keep their data on the CSI StorageClass.
pub fn check_monitoring(apps: &[Doc], docs: &[Doc], cilium_module: &str) -> Vec<String> {
    let mut v = Vec::new();
    for (key, port) in [
        ("prometheus-serve-addr", 9962),
        ("hubble-metrics-server", 9965),
    ] {
        if !cilium_module.contains(&format!("\"{key}\""))
            || !cilium_module.contains(&format!("\":{port}\""))
        {
            v.push(format!(
                "terraform/modules/cilium does not set {key} = :{port}"
            ));
        }
        let served = docs.iter().any(|d| {
            kind(d) == "Service"
                && namespace(d) == Some("kube-system")
                && seq(d, &["spec", "ports"])
                    .iter()
                    .any(|p| get(p, &["port"]).and_then(Doc::as_i64) == Some(port))
        });
        if !served {
            v.push(format!(
                "no Service in kube-system exposes Cilium's :{port} to Prometheus"
            ));
        }
    }
    let Some(app) = apps
        .iter()
        .find(|d| kind(d) == "Application" && name(d) == "monitoring")
    else {
        return vec!["no Application monitoring".into()];
    };
    let values = seq(app, &["spec", "sources"])
        .iter()
        .find_map(|s| get(s, &["helm", "valuesObject"]))
        .cloned()
        .unwrap_or_default();
    let dashboards: Vec<i64> = get(&values, &["grafana", "dashboards"])
        .and_then(Doc::as_object)
        .into_iter()
        .flat_map(|providers| providers.values())
        .filter_map(Doc::as_object)
        .flat_map(|boards| boards.values())
        .filter(|b| get(b, &["revision"]).is_some() && get(b, &["datasource"]).is_some())
        .filter_map(|b| get(b, &["gnetId"]).and_then(Doc::as_i64))
        .collect();
    // grafana.com: Cilium v1.12 Agent 16611, Operator 16612, Hubble 16613; Traefik (Kubernetes) 17347; ArgoCD 14584.
    for (what, gnet) in [
        ("Cilium agent", 16611),
        ("Cilium operator", 16612),
        ("Hubble", 16613),
        ("Traefik", 17347),
        ("Argo CD", 14584),
    ] {
        if !dashboards.contains(&gnet) {
            v.push(format!("monitoring: no {what} dashboard (grafana.com {gnet}, with revision and datasource)"));
        }
    }
    let receivers = seq(&values, &["alertmanager", "config", "receivers"]);
    let route = str_at(&values, &["alertmanager", "config", "route", "receiver"]);
    let notifies = receivers.iter().any(|r| {
        Some(str_at(r, &["name"]).unwrap_or("")) == route
            && r.as_object()
                .is_some_and(|m| m.keys().any(|k| k.ends_with("_configs")))
    });
    if !notifies {
        v.push("monitoring: Alertmanager's default route has no receiver that notifies".into());
    }
    let classes: BTreeSet<&str> = docs
        .iter()
        .filter(|d| kind(d) == "StorageClass")
        .map(name)
        .collect();
    for (what, path) in [
        (
            "Prometheus",
            ["prometheus", "prometheusSpec", "storageSpec"],
        ),
        (
            "Alertmanager",
            ["alertmanager", "alertmanagerSpec", "storage"],
        ),
    ] {
        let class = get(&values, &path)
            .and_then(|s| str_at(s, &["volumeClaimTemplate", "spec", "storageClassName"]));
        if !class.is_some_and(|c| classes.contains(c)) {
            v.push(format!(
                "monitoring: {what} has no persistent volume on a StorageClass of the tree ({class:?})"
            ));
        }
    }
    v
}

/// The roadmap's storage test: in dev, a volume claimed on the CSI StorageClass in namespace `test`.
pub fn check_storage_test(docs: &[Doc]) -> Vec<String> {
    let classes: BTreeSet<&str> = docs
        .iter()
        .filter(|d| kind(d) == "StorageClass")
        .map(name)
        .collect();
    let found = docs.iter().any(|d| {
        kind(d) == "StatefulSet"
            && namespace(d) == Some("test")
            && seq(d, &["spec", "volumeClaimTemplates"]).iter().any(|t| {
                str_at(t, &["spec", "storageClassName"]).is_some_and(|c| classes.contains(c))
            })
    });
    if found {
        Vec::new()
    } else {
        vec!["dev: no storage test claiming a CSI volume in namespace test".into()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_need_limit_and_backoff() {
        let ok = yaml(
            "{kind: Application, metadata: {name: a}, spec: {syncPolicy: {retry: {limit: 5, backoff: \
             {duration: 15s, factor: 2, maxDuration: 5m}}}}}",
        );
        let bad = yaml(
            "{kind: Application, metadata: {name: b}, spec: {syncPolicy: {retry: {limit: 5}}}}",
        );
        let none = yaml("{kind: Application, metadata: {name: c}, spec: {}}");
        let v = check_retry(&[ok, bad, none]);
        assert_eq!(v.len(), 2, "{v:?}");
    }

    #[test]
    fn projects_bound_sources_namespaces_and_cluster_kinds() {
        let project = yaml(
            "{apiVersion: argoproj.io/v1alpha1, kind: AppProject, metadata: {name: p, annotations: \
             {argocd.argoproj.io/sync-wave: '-20'}}, spec: {sourceRepos: [https://r], destinations: \
             [{namespace: a}], clusterResourceWhitelist: [{group: '', kind: Namespace}]}}",
        );
        let app = yaml(
            "{kind: Application, metadata: {name: x}, spec: {project: p, destination: {namespace: a}, \
             sources: [{repoURL: https://r}, {repoURL: https://other}]}}",
        );
        let unit = AppUnit {
            app: app.clone(),
            docs: vec![
                yaml("{kind: Namespace, metadata: {name: a}}"),
                yaml("{kind: ConfigMap, metadata: {name: c, namespace: b}}"),
                yaml("{apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {name: s}}"),
            ],
        };
        let v = check_projects(&[project, app], &[unit]);
        assert!(v.iter().any(|m| m.contains("https://other")), "{v:?}");
        assert!(v.iter().any(|m| m.contains("namespace b")), "{v:?}");
        assert!(v.iter().any(|m| m.contains("StorageClass s")), "{v:?}");
        assert_eq!(v.len(), 3, "{v:?}");
        let default = yaml("{kind: Application, metadata: {name: y}, spec: {project: default}}");
        let v = check_projects(
            std::slice::from_ref(&default),
            &[AppUnit {
                app: default.clone(),
                docs: vec![],
            }],
        );
        assert!(v[0].contains("not an AppProject"), "{v:?}");
    }

    #[test]
    fn authelia_placeholder_and_secret_files() {
        let zero = format!(
            "$argon2id$v=19$m=65536,t=3,p=4${}${}",
            "A".repeat(22),
            "A".repeat(43)
        );
        assert!(is_argon2_digest(&zero) && is_placeholder_digest(&zero));
        assert!(!is_argon2_digest("REPLACE-WITH-AN-ARGON2ID-HASH"));
        let dep = yaml(
            "{kind: Deployment, metadata: {name: authelia}, spec: {template: {spec: {initContainers: [{command: \
             [authelia, crypto, rand, --file=/s/a]}], containers: [{env: [{name: AUTHELIA_A_FILE, value: /s/a}, \
             {name: AUTHELIA_B_FILE, value: /s/b}]}], volumes: [{name: x, secret: {secretName: gone}}]}}}}",
        );
        let db = format!(
            "users: {{admin: {{disabled: true, displayname: A, password: '{zero}'}}, bob: {{displayname: B, \
             password: REPLACE}}}}"
        );
        let v = check_authelia_starts(&[dep], &db);
        assert!(v.iter().any(|m| m.contains("bob's password")), "{v:?}");
        assert!(v.iter().any(|m| m.contains("AUTHELIA_B_FILE")), "{v:?}");
        assert!(v.iter().any(|m| m.contains("Secret gone")), "{v:?}");
        assert_eq!(v.len(), 3, "{v:?}");
        assert!(!check_authelia_starts(&[], "users: {}").is_empty());
    }

    #[test]
    fn iscsi_dns01_and_storage_test() {
        let app =
            yaml("{kind: Application, metadata: {name: synology-csi}, spec: {sources: [{}]}}");
        assert_eq!(check_iscsi(&[app], "").len(), 2);
        let http = yaml(
            "{kind: ClusterIssuer, metadata: {name: le}, spec: {acme: {solvers: [{http01: {ingress: {}}}]}}}",
        );
        assert_eq!(check_dns01(&[http]).len(), 1);
        let sts = yaml(
            "{kind: StatefulSet, metadata: {name: m, namespace: mariadb-test}, spec: {volumeClaimTemplates: \
             [{spec: {storageClassName: s}}]}}",
        );
        let class = yaml("{kind: StorageClass, metadata: {name: s}}");
        assert_eq!(check_storage_test(&[sts, class]).len(), 1);
    }
}
