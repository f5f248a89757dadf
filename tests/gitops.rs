//! Checks of the Phase 2 GitOps tree, `examples/gitops` (issue 8).
//!
//! Builds every overlay with the machine's `kubectl kustomize` (kustomize is built into kubectl), offline:
//! the builds run with an unreachable proxy and no kubeconfig, so a kustomization that needed the network
//! would fail here. Then checks each env's output (see `gitops/checks.rs`), including that the LB IPAM pools and
//! the L2 announcement policy of the `cilium-lb` app equal the bootstrap copy that `terraform/environments/<env>`
//! has `vixens_cilium` create and hand off. Skips, saying so, when kubectl is absent. The Argo CD self-management patches are also applied to the real v3.5.1 install manifest
//! from `../shared/fixtures` when it is there.

#[path = "gitops/checks.rs"]
mod checks;
#[path = "gitops/model.rs"]
mod model;
#[path = "gitops/phase2.rs"]
mod phase2;
#[path = "gitops/schemas.rs"]
mod schemas;

use checks::*;
use model::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gitops")
}

/// The kubectl to use ($KUBECTL, else `kubectl` on PATH, else /usr/bin/kubectl), or None when there is none.
fn kubectl() -> Option<PathBuf> {
    let candidates = std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .into_iter()
        .chain(["kubectl", "/usr/bin/kubectl"].map(PathBuf::from));
    candidates.into_iter().find(|candidate| {
        Command::new(candidate)
            .args(["version", "--client"])
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

macro_rules! kubectl_or_skip {
    () => {
        match kubectl() {
            Some(k) => k,
            None => {
                eprintln!("SKIP: kubectl not found (set KUBECTL or put kubectl on PATH); the GitOps tree was not built");
                return;
            }
        }
    };
}

/// `kubectl kustomize <dir>` with the network made unreachable, parsed.
fn kustomize(kubectl: &Path, dir: &Path) -> Vec<Doc> {
    let unreachable = "http://127.0.0.1:9";
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(dir)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("HTTP_PROXY", unreachable)
        .env("HTTPS_PROXY", unreachable)
        .env("http_proxy", unreachable)
        .env("https_proxy", unreachable)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed offline:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_stream(&String::from_utf8_lossy(&out.stdout)).expect("kustomize output is YAML")
}

/// The GitOps repository URL that components/argocd-apps writes into every Application.
fn gitops_repo() -> (String, String) {
    let text = std::fs::read_to_string(tree().join("components/argocd-apps/repo.yaml"))
        .expect("repo.yaml");
    let doc = yaml(&text);
    let get = |k: &str| {
        str_at(&doc, &["data", k])
            .expect("repo.yaml data")
            .to_string()
    };
    (get("repoURL"), get("appsDir"))
}

/// Builds one env (its Argo CD overlay, then each Application's app overlay as Argo CD would) and runs
/// every check on it.
fn check_env(env: &Env) {
    let kubectl = kubectl_or_skip!();
    let (repo, apps_dir) = gitops_repo();
    let apps = kustomize(&kubectl, &tree().join("argocd/overlays").join(env.name));
    let mut violations = check_apps_present(env, &apps, &APPS);
    violations.extend(check_sources(env, &apps, &repo));
    let mut units = Vec::new();
    for app in apps.iter().filter(|d| kind(d) == "Application") {
        let path = seq(app, &["spec", "sources"])
            .first()
            .and_then(|s| str_at(s, &["path"]))
            .unwrap_or("");
        let Some(rel) = path.strip_prefix(&format!("{apps_dir}/")) else {
            violations.push(format!(
                "Application {}: path {path} is not under {apps_dir}/",
                name(app)
            ));
            continue;
        };
        let docs = kustomize(&kubectl, &tree().join("apps").join(rel));
        units.push(AppUnit {
            app: app.clone(),
            docs,
        });
    }
    let mut all: Vec<Doc> = apps.clone();
    all.extend(units.iter().flat_map(|u| u.docs.iter().cloned()));
    violations.extend(check_sync_waves(&units));
    // The cilium-lb app holds the pools and the L2 policy that vixens_cilium creates at bootstrap and hands off.
    let tfvars = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("terraform/environments")
        .join(env.name)
        .join("terraform.tfvars");
    let tfvars =
        std::fs::read_to_string(&tfvars).unwrap_or_else(|e| panic!("{}: {e}", tfvars.display()));
    let bootstrap = terraform_lb_ipam(&tfvars)
        .unwrap_or_else(|e| panic!("terraform/environments/{}: {e}", env.name));
    violations.extend(check_lb_ipam_matches_terraform(env, &all, &bootstrap));
    // The root Application (terraform.tfvars) and its children (repo.yaml) read the same repository.
    let root_repo = tfvars
        .lines()
        .find_map(|l| l.strip_prefix("gitops_repository_url"))
        .and_then(|l| l.split('"').nth(1))
        .unwrap_or_default();
    if root_repo != repo {
        violations.push(format!(
            "terraform/environments/{}: gitops_repository_url {root_repo:?} is not repo.yaml's repoURL {repo:?}",
            env.name
        ));
    }
    violations.extend(check_addresses(env, &all));
    violations.extend(check_ingresses(env, &all));
    violations.extend(check_protected_routes(&all));
    violations.extend(check_references(&all));
    violations.extend(check_secrets(&all));
    let readme = std::fs::read_to_string(tree().join("README.md")).unwrap_or_default();
    violations.extend(check_secret_refs_documented(&all, &readme));
    // Issue 20: retries, per-area projects, what ships starts, iSCSI, DNS-01, monitoring, the storage test.
    let repo_file = |rel: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    violations.extend(phase2::check_retry(&apps));
    violations.extend(phase2::check_projects(&apps, &units));
    violations.extend(phase2::check_authelia_starts(
        &all,
        &repo_file("examples/gitops/apps/authelia/base/users_database.yml"),
    ));
    violations.extend(phase2::check_iscsi(
        &apps,
        &repo_file(&format!("terraform/environments/{}/variables.tf", env.name)),
    ));
    violations.extend(phase2::check_dns01(&all));
    violations.extend(phase2::check_monitoring(
        &apps,
        &all,
        &repo_file("terraform/modules/cilium/main.tf"),
    ));
    if env.name == "dev" {
        violations.extend(phase2::check_storage_test(&all));
    }
    violations.extend(check_schemas(&all));
    assert!(
        violations.is_empty(),
        "{} env:\n  {}",
        env.name,
        violations.join("\n  ")
    );
    eprintln!(
        "{}: {} Applications, {} objects, all checks pass",
        env.name,
        units.len(),
        all.len()
    );
}

/// Every built object against the upstream schema of its kind ([`schemas`]); kinds without a schema offline must
/// be among [`schemas::UNCHECKED`], and are printed. Skips (saying so) without `VIXENS_K8S_SCHEMAS`.
fn check_schemas(all: &[Doc]) -> Vec<String> {
    let Some(definitions) = schemas::definitions_path() else {
        eprintln!("SKIP: VIXENS_K8S_SCHEMAS is not set (scripts/install-kubernetes-validate.sh); schemas not checked");
        return Vec::new();
    };
    let argocd =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/argocd/v3.5.1/install.yaml");
    let mut loaded =
        schemas::Schemas::load(&definitions, Some(&argocd)).unwrap_or_else(|e| panic!("{e}"));
    let (mut violations, unchecked) = schemas::validate_all(&mut loaded, all);
    for (kind, count) in &unchecked {
        match schemas::UNCHECKED.iter().find(|(k, _)| k == kind) {
            Some((_, why)) => eprintln!("not checked offline: {kind} ({count}): {why}"),
            None => violations.push(format!(
                "{kind}: no schema offline and not listed in schemas::UNCHECKED"
            )),
        }
    }
    violations
}

fn env_named(name: &str) -> &'static Env {
    ENVS.iter().find(|e| e.name == name).expect("known env")
}

#[test]
fn dev_builds_offline_and_passes_checks() {
    check_env(env_named("dev"));
}

#[test]
fn test_builds_offline_and_passes_checks() {
    check_env(env_named("test"));
}

#[test]
fn staging_builds_offline_and_passes_checks() {
    check_env(env_named("staging"));
}

#[test]
fn prod_builds_offline_and_passes_checks() {
    check_env(env_named("prod"));
}

/// Every overlay directory in the tree is one the env checks build: no env or app escapes them.
#[test]
fn every_overlay_is_checked() {
    let dirs = |path: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let mut found: Vec<String> = dirs(&tree().join("argocd/overlays"))
        .into_iter()
        .map(|e| format!("argocd/overlays/{e}"))
        .collect();
    for app in dirs(&tree().join("apps")) {
        let overlays = tree().join("apps").join(&app).join("overlays");
        found.extend(
            dirs(&overlays)
                .into_iter()
                .map(|e| format!("apps/{app}/overlays/{e}")),
        );
    }
    found.sort();
    let mut want: Vec<String> = ENVS
        .iter()
        .map(|e| format!("argocd/overlays/{}", e.name))
        .collect();
    for app in APPS {
        want.extend(
            ENVS.iter()
                .map(|e| format!("apps/{app}/overlays/{}", e.name)),
        );
    }
    want.sort();
    assert_eq!(found, want);
}

/// The self-managing Application's inline patches apply to the real Argo CD v3.5.1 install manifest (the
/// objects of manifests/cluster-install at that tag), and the objects this tree points at exist there.
#[test]
fn argocd_self_management_fits_the_pinned_install() {
    let kubectl = kubectl_or_skip!();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/argocd/v3.5.1/install.yaml");
    if !fixture.exists() {
        eprintln!(
            "SKIP: {} is absent; Argo CD patches not checked against the install",
            fixture.display()
        );
        return;
    }
    let app_text =
        std::fs::read_to_string(tree().join("argocd/base/argocd.yaml")).expect("argocd.yaml");
    let app = yaml(&app_text);
    let upstream = seq(&app, &["spec", "sources"])
        .iter()
        .find(|s| str_at(s, &["repoURL"]) == Some("https://github.com/argoproj/argo-cd.git"))
        .expect("an upstream Argo CD source");
    assert_eq!(
        str_at(upstream, &["targetRevision"]),
        Some("v3.5.1"),
        "pinned to the bootstrap's version"
    );
    let patches = get(upstream, &["kustomize", "patches"])
        .expect("inline patches")
        .clone();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&fixture, dir.path().join("install.yaml")).expect("copy fixture");
    let mut k = vixens::yaml::Mapping::new();
    k.insert(
        "resources".into(),
        vec![serde_json::Value::from("install.yaml")].into(),
    );
    k.insert("patches".into(), patches);
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        vixens::yaml::to_string(&k).expect("yaml"),
    )
    .expect("write");
    let docs = kustomize(&kubectl, dir.path());
    let find =
        |kind_: &str, name_: &str| docs.iter().find(|d| kind(d) == kind_ && name(d) == name_);
    let params = find("ConfigMap", "argocd-cmd-params-cm").expect("argocd-cmd-params-cm");
    assert_eq!(str_at(params, &["data", "server.insecure"]), Some("true"));
    let cm = find("ConfigMap", "argocd-cm").expect("argocd-cm");
    assert!(str_at(
        cm,
        &[
            "data",
            "resource.customizations.health.argoproj.io_Application"
        ]
    )
    .is_some());
    let has_port = |svc: &str, port: &str| {
        find("Service", svc).is_some_and(|s| {
            seq(s, &["spec", "ports"])
                .iter()
                .any(|p| str_at(p, &["name"]) == Some(port))
        })
    };
    assert!(
        has_port("argocd-server", "http"),
        "the Ingress backend argocd-server:http"
    );
    for svc in [
        "argocd-metrics",
        "argocd-server-metrics",
        "argocd-repo-server",
    ] {
        assert!(
            has_port(svc, "metrics"),
            "ServiceMonitor argocd scrapes {svc}:metrics"
        );
        let label = find("Service", svc).and_then(|s| label(s, "app.kubernetes.io/name"));
        assert_eq!(
            label,
            Some(svc),
            "ServiceMonitor argocd selects {svc} by app.kubernetes.io/name"
        );
    }
}

/// What the first sync needs is in the bootstrap (terraform/modules/argocd), not only in the self-managing
/// Application that arrives with it: `server.insecure`, and the Application health check in `argocd-cm`, the
/// same Lua as the self-managed copy (else the two field managers would fight over the key).
#[test]
fn the_bootstrap_carries_what_the_first_sync_needs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let module =
        std::fs::read_to_string(root.join("terraform/modules/argocd/main.tf")).expect("module");
    assert!(
        module.contains("server_insecure         = true"),
        "{module}"
    );
    let key = "resource.customizations.health.argoproj.io_Application";
    assert!(
        module.contains(&format!(
            "\"{key}\" = file(\"${{path.module}}/application-health.lua\")"
        )),
        "{module}"
    );
    let lua = std::fs::read_to_string(root.join("terraform/modules/argocd/application-health.lua"))
        .expect("lua");
    let app = yaml(
        &std::fs::read_to_string(tree().join("argocd/base/argocd.yaml")).expect("argocd.yaml"),
    );
    let upstream = seq(&app, &["spec", "sources"])
        .iter()
        .find(|s| str_at(s, &["repoURL"]) == Some("https://github.com/argoproj/argo-cd.git"))
        .expect("upstream source");
    let patch = seq(upstream, &["kustomize", "patches"])
        .iter()
        .filter_map(|p| str_at(p, &["patch"]))
        .map(yaml)
        .find(|p| name(p) == "argocd-cm")
        .expect("argocd-cm patch");
    assert_eq!(str_at(&patch, &["data", key]), Some(lua.as_str()));
}

/// The schema check can fail: an unknown field, a wrong type and a misspelled Application field are refused, a
/// well-formed object passes, and a kind without a schema offline is reported as unchecked.
#[test]
fn schemas_refuse_unknown_fields_and_wrong_types() {
    let Some(definitions) = schemas::definitions_path() else {
        eprintln!("SKIP: VIXENS_K8S_SCHEMAS is not set; schemas not checked");
        return;
    };
    let argocd =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/argocd/v3.5.1/install.yaml");
    let mut s = schemas::Schemas::load(&definitions, Some(&argocd)).expect("schemas load");
    let check = |s: &mut schemas::Schemas, text: &str| {
        s.validate(&serde_json::to_value(yaml(text)).expect("json"))
    };
    let good = "{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {ports: [{port: 80}]}}";
    assert!(matches!(check(&mut s, good), schemas::Outcome::Valid(_)));
    for bad in [
        "{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {ports: [{port: 80}], bogus: 1}}",
        "{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {ports: [{port: eighty}]}}",
        "{apiVersion: apps/v1, kind: Deployment, metadata: {name: d}, spec: {replica: 1}}",
    ] {
        assert!(matches!(check(&mut s, bad), schemas::Outcome::Invalid(..)), "{bad}");
    }
    if argocd.exists() {
        let app = "{apiVersion: argoproj.io/v1alpha1, kind: Application, metadata: {name: a}, spec: {project: p, \
                   destination: {namespace: n}, source: {repoURL: r}, syncPolicy: {retry: {limit: 1}}}}";
        assert!(
            matches!(check(&mut s, app), schemas::Outcome::Valid(_)),
            "{:?}",
            check(&mut s, app)
        );
        let typo = app.replace("retry:", "retries:");
        assert!(matches!(
            check(&mut s, &typo),
            schemas::Outcome::Invalid(..)
        ));
    }
    assert_eq!(
        check(
            &mut s,
            "{apiVersion: traefik.io/v1alpha1, kind: Middleware, metadata: {name: m}}"
        ),
        schemas::Outcome::Unchecked("traefik.io/Middleware".into())
    );
}
