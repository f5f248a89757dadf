//! `vixens_argocd_bootstrap` through the real Terraform CLI (harness in `tests/common`) against the in-process
//! Kubernetes API emulator on loopback (127.0.162.5-8, 127.0.151.30): the real Argo CD v3.5.1 manifest served from a loopback
//! HTTP server and given inline with `file(...)`, the root app for `dev` Synced/Healthy and listed by
//! `kubectl get applications -n argocd`, an empty next plan, a promotion to `test` that changes only the
//! Application, a wrong sha256 that fails before anything is applied, and destroy (with `keep_on_destroy`: only the
//! root Application goes), and a failed create continued by the next apply instead of reinstalled.

mod common;
#[path = "argocd_bootstrap/support.rs"]
mod support;

use std::collections::BTreeMap;

use common::{Terraform, Workspace};
use support::{fixture, serve_manifest, Env};
use vixens::k8s::apply::Applier;
use vixens::k8s::inventory::{read_live, Inventory, ObjectRef};
use vixens::manifests::argocd::source::sha256_hex;

const ADDRESS: &str = "vixens_argocd_bootstrap.argocd";

/// The resource block; `source` holds the manifest attributes.
fn config(source: &str, revision: &str) -> String {
    format!(
        r#"
resource "vixens_argocd_bootstrap" "argocd" {{
  kubeconfig = file("${{path.module}}/kubeconfig")
  version    = "v3.5.1"
  {source}

  repository {{
    url             = "https://github.com/vixens/gitops.git"
    target_revision = "{revision}"
    path            = "argocd/overlays/{revision}"
  }}

  admin_password  = "correct horse battery staple"
  server_insecure = true

  timeouts {{
    create = "5m"
  }}
}}
"#
    )
}

fn workspace(tf: &Terraform, env: &Env, config: &str) -> Workspace {
    let ws = Workspace::new(tf, config);
    std::fs::write(ws.path().join("kubeconfig"), &env.kubeconfig).unwrap();
    ws
}

/// Runs blocking Terraform commands without stalling the emulator's runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

async fn versions(applier: &Applier, values: &serde_json::Value) -> BTreeMap<String, String> {
    let mut refs: Vec<ObjectRef> = Inventory::from_json(values["inventory"].as_str().unwrap())
        .unwrap()
        .iter()
        .cloned()
        .collect();
    refs.push(ObjectRef::new(
        "v1",
        "Secret",
        Some("argocd"),
        "vixens-root-repo",
    ));
    refs.push(ObjectRef::new(
        "argoproj.io/v1alpha1",
        "Application",
        Some("argocd"),
        "root",
    ));
    let mut out = BTreeMap::new();
    for r in refs {
        let live = read_live(applier, &r).await.unwrap();
        out.insert(
            r.to_string(),
            live.and_then(|o| o.metadata.resource_version)
                .unwrap_or_default(),
        );
    }
    out
}

async fn namespace_exists(applier: &Applier) -> bool {
    read_live(applier, &ObjectRef::new("v1", "Namespace", None, "argocd"))
        .await
        .unwrap()
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_manifest_lifecycle_with_promotion() {
    let Some(text) = fixture() else { return };
    let Some(tf) = Terraform::get("1.0.3") else {
        return;
    };
    let env = Env::start("127.0.162.5", 20).await;
    let applier = Applier::new(env.client().await);
    let (url, _) = serve_manifest("127.0.162.5", text.clone()).await;
    let digest = sha256_hex(text.as_bytes());
    let source =
        format!("install_manifest_url = \"{url}\"\n  install_manifest_sha256 = \"{digest}\"");
    let ws = workspace(&tf, &env, &config(&source, "dev"));
    blocking(|| ws.init());
    blocking(|| ws.apply());
    let values = blocking(|| ws.resource(ADDRESS)).unwrap();
    assert_eq!(values["install_health"], "Healthy");
    assert_eq!(values["drift"], serde_json::json!([]));
    assert_eq!(values["manifest_sha256"], digest.as_str());
    assert_eq!(values["id"], "argocd");
    if let Some((ok, out, err)) = env.kubectl(&["get", "applications", "-n", "argocd"]) {
        assert!(ok, "{err}");
        let line = out
            .lines()
            .find(|l| l.starts_with("root"))
            .unwrap_or_else(|| panic!("no root app:\n{out}"));
        assert!(line.contains("Synced") && line.contains("Healthy"), "{out}");
    }
    assert_eq!(
        blocking(|| ws.plan_exit_code()),
        0,
        "the next plan is empty"
    );

    // Promotion to test: the plan and the cluster change only the Application.
    let before = versions(&applier, &values).await;
    ws.write_config(&config(&source, "test"));
    let plan = blocking(|| ws.ok(&["plan", "-input=false"]));
    assert!(plan.stdout.contains("1 to change"), "{}", plan.stdout);
    assert!(
        !plan.stdout.contains("inventory"),
        "the install is not re-planned:\n{}",
        plan.stdout
    );
    blocking(|| ws.apply());
    let values = blocking(|| ws.resource(ADDRESS)).unwrap();
    let after = versions(&applier, &values).await;
    let changed: Vec<&String> = before.keys().filter(|k| before[*k] != after[*k]).collect();
    assert_eq!(changed, vec!["Application argocd/root"]);
    if let Some((ok, out, err)) = env.kubectl(&[
        "get",
        "application",
        "root",
        "-n",
        "argocd",
        "-o",
        "jsonpath={.spec.source.targetRevision} {.status.sync.status} {.status.health.status}",
    ]) {
        assert!(ok, "{err}");
        assert_eq!(out, "test Synced Healthy");
    }
    assert_eq!(blocking(|| ws.plan_exit_code()), 0);

    // Drift: a hand edit of the root app shows in the next plan, and apply repairs it.
    if let Some((ok, _, err)) = env.kubectl(&[
        "patch",
        "application",
        "root",
        "-n",
        "argocd",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"source":{"path":"elsewhere"}}}"#,
    ]) {
        assert!(ok, "{err}");
        assert_eq!(blocking(|| ws.plan_exit_code()), 2, "drift is planned");
        blocking(|| ws.apply());
        assert_eq!(blocking(|| ws.plan_exit_code()), 0);
    }

    blocking(|| ws.destroy());
    assert!(
        !namespace_exists(&applier).await,
        "destroy removes the install"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_manifest_with_protocol_5_and_6() {
    let Some(text) = fixture() else { return };
    let env = Env::start("127.0.162.6", 0).await;
    let applier = Applier::new(env.client().await);
    for tf in [Terraform::get("1.0.3"), Terraform::get("0.15.0-rc2")]
        .into_iter()
        .flatten()
    {
        let source = "install_manifest = file(\"${path.module}/install.yaml\")";
        let ws = workspace(&tf, &env, &config(source, "dev"));
        std::fs::write(ws.path().join("install.yaml"), &text).unwrap();
        blocking(|| ws.init());
        blocking(|| ws.apply());
        let values = blocking(|| ws.resource(ADDRESS)).unwrap();
        assert_eq!(
            values["install_health"], "Healthy",
            "terraform {}",
            tf.version
        );
        assert_eq!(
            values["manifest_sha256"],
            sha256_hex(text.as_bytes()).as_str()
        );
        assert_eq!(
            blocking(|| ws.plan_exit_code()),
            0,
            "terraform {}: next plan empty",
            tf.version
        );
        // A changed manifest shows in the plan as its digest, not as megabytes of YAML.
        std::fs::write(
            ws.path().join("install.yaml"),
            format!("{text}\n# edited\n"),
        )
        .unwrap();
        let plan = blocking(|| ws.run(&["plan", "-input=false", "-no-color"]));
        assert_eq!(plan.code, 0, "{}", plan.all());
        let shown = &plan.stdout;
        assert!(
            shown.contains("install_manifest") && shown.contains("(sensitive"),
            "{shown}"
        );
        assert!(
            !shown.contains("argocd-application-controller"),
            "the plan prints the manifest:\n{shown}"
        );
        assert!(
            shown.len() < 20_000,
            "plan output is {} bytes:\n{shown}",
            shown.len()
        );
        // An install update that fails (a kind the cluster does not serve) is planned again afterwards, and
        // the error names the kind in plain words.
        std::fs::write(
            ws.path().join("install.yaml"),
            format!("{text}\n---\napiVersion: example.com/v1\nkind: Frob\nmetadata:\n  name: x\n"),
        )
        .unwrap();
        let failed = blocking(|| ws.run(&["apply", "-auto-approve", "-input=false", "-no-color"]));
        assert_ne!(failed.code, 0, "terraform {}", tf.version);
        assert!(
            failed.stderr.contains("example.com/v1 Frob")
                && failed.stderr.contains("does not serve this kind")
                && !failed.stderr.contains("Status {"),
            "{}",
            failed.stderr
        );
        assert_eq!(
            blocking(|| ws.plan_exit_code()),
            2,
            "terraform {}: the failed install is planned again",
            tf.version
        );
        std::fs::write(ws.path().join("install.yaml"), &text).unwrap();
        blocking(|| ws.apply());
        assert_eq!(
            blocking(|| ws.plan_exit_code()),
            0,
            "terraform {}",
            tf.version
        );
        blocking(|| ws.destroy());
        assert!(!namespace_exists(&applier).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_sha256_fails_before_anything_is_applied() {
    let Some(text) = fixture() else { return };
    let Some(tf) = Terraform::get("1.0.3") else {
        return;
    };
    let env = Env::start("127.0.162.7", 0).await;
    let applier = Applier::new(env.client().await);
    let (url, _) = serve_manifest("127.0.162.7", text.clone()).await;
    let wrong = "0123456789abcdef".repeat(4);
    let source =
        format!("install_manifest_url = \"{url}\"\n  install_manifest_sha256 = \"{wrong}\"");
    let ws = workspace(&tf, &env, &config(&source, "dev"));
    blocking(|| ws.init());
    let out = blocking(|| ws.fails(&["apply", "-auto-approve", "-input=false"]));
    let all = out.all();
    assert!(all.contains("sha256 mismatch"), "{all}");
    assert!(
        all.contains(&wrong) && all.contains(&sha256_hex(text.as_bytes())),
        "both hashes:\n{all}"
    );
    assert!(!namespace_exists(&applier).await, "nothing applied");
    assert!(
        blocking(|| ws.resource(ADDRESS)).is_none(),
        "nothing in state"
    );

    // The same mismatch with an inline manifest is caught at plan time, with the attribute path.
    let ws = workspace(&tf, &env, &config(&format!("install_manifest = file(\"${{path.module}}/install.yaml\")\n  install_manifest_sha256 = \"{wrong}\""), "dev"));
    std::fs::write(ws.path().join("install.yaml"), &text).unwrap();
    blocking(|| ws.init());
    let out = blocking(|| ws.fails(&["plan", "-input=false"]));
    assert!(
        out.all().contains("install_manifest_sha256"),
        "{}",
        out.all()
    );
    assert!(!namespace_exists(&applier).await);
}

/// `keep_on_destroy`: destroy deletes the root Application (orphaning here, `cascade_delete = false`) and nothing
/// else: the namespace, every install object, the repository Secret and the admin password stay, untouched.
/// A later bootstrap adopts the kept install, and its destroy (without the flag) removes everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_on_destroy_leaves_the_install_and_deletes_the_root_app() {
    let Some(text) = fixture() else { return };
    let Some(tf) = Terraform::get("1.0.3") else {
        return;
    };
    let env = Env::start("127.0.162.8", 0).await;
    let applier = Applier::new(env.client().await);
    let source = "install_manifest = file(\"${path.module}/install.yaml\")";
    let keep = config(source, "dev").replace(
        "  server_insecure = true\n",
        "  server_insecure = true\n  keep_on_destroy = true\n\n  root_application {\n    cascade_delete = false\n  }\n",
    );
    assert!(keep.contains("keep_on_destroy"));
    let ws = workspace(&tf, &env, &keep);
    std::fs::write(ws.path().join("install.yaml"), &text).unwrap();
    blocking(|| ws.init());
    blocking(|| ws.apply());
    let values = blocking(|| ws.resource(ADDRESS)).unwrap();
    let root = ObjectRef::new(
        "argoproj.io/v1alpha1",
        "Application",
        Some("argocd"),
        "root",
    );
    let live_root = read_live(&applier, &root).await.unwrap().unwrap();
    assert!(
        live_root.metadata.finalizers.unwrap_or_default().is_empty(),
        "cascade_delete = false: no resources finalizer"
    );
    let before = versions(&applier, &values).await;
    let installed = Inventory::from_json(values["inventory"].as_str().unwrap()).unwrap();
    assert!(installed.len() > 50, "{} install objects", installed.len());

    blocking(|| ws.destroy());
    assert!(
        blocking(|| ws.resource(ADDRESS)).is_none(),
        "state forgets it"
    );
    assert!(
        read_live(&applier, &root).await.unwrap().is_none(),
        "the root Application is deleted"
    );
    assert!(namespace_exists(&applier).await, "the namespace stays");
    let after = versions(&applier, &values).await;
    for (object, version) in &before {
        if object == "Application argocd/root" {
            continue;
        }
        assert_eq!(
            after.get(object),
            Some(version),
            "{object} must stay untouched"
        );
        assert!(!version.is_empty(), "{object} existed");
    }
    let secret = read_live(
        &applier,
        &ObjectRef::new("v1", "Secret", Some("argocd"), "argocd-secret"),
    )
    .await
    .unwrap()
    .unwrap();
    let data = serde_json::to_value(&secret).unwrap()["data"].clone();
    assert!(
        data.get("admin.password").is_some(),
        "the admin password stays"
    );
    if let Some((ok, out, err)) = env.kubectl(&["get", "deployments,statefulsets", "-n", "argocd"])
    {
        assert!(ok, "{err}");
        assert!(out.contains("argocd-server") && out.contains("argocd-application-controller"));
    }
    if let Some((ok, out, err)) = env.kubectl(&["get", "applications", "-n", "argocd"]) {
        assert!(ok, "{err}");
        assert!(!out.lines().any(|l| l.starts_with("root ")), "{out}");
    }

    // A new bootstrap adopts the kept install; without keep_on_destroy its destroy removes everything.
    let ws = workspace(&tf, &env, &config(source, "dev"));
    std::fs::write(ws.path().join("install.yaml"), &text).unwrap();
    blocking(|| ws.init());
    blocking(|| ws.apply());
    assert_eq!(
        blocking(|| ws.resource(ADDRESS)).unwrap()["install_health"],
        "Healthy"
    );
    assert_eq!(blocking(|| ws.plan_exit_code()), 0);
    blocking(|| ws.destroy());
    assert!(
        !namespace_exists(&applier).await,
        "destroy removes the install"
    );
    assert!(read_live(&applier, &root).await.unwrap().is_none());
}

/// The uid of every object of the state's inventory (None when gone).
async fn uids(applier: &Applier, values: &serde_json::Value) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for r in Inventory::from_json(values["inventory"].as_str().unwrap())
        .unwrap()
        .iter()
    {
        let live = read_live(applier, r).await.unwrap();
        out.insert(r.to_string(), live.and_then(|o| o.metadata.uid));
    }
    out
}

/// A create that fails part-way (its create timeout ends while Argo CD's workloads roll out) is continued by the
/// next apply, not deleted and installed again (src/resources/k8s_resume.rs): the plan warns, every object the
/// failed create made keeps its uid, and the plan after it is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_create_is_continued_not_reinstalled() {
    let Some(text) = fixture() else { return };
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    // Workloads take 6 s: a 4 s create timeout ends in the wait for them, after the install was applied.
    let env = Env::start("127.0.151.30", 6000).await;
    let applier = Applier::new(env.client().await);
    let source = "install_manifest = file(\"${path.module}/install.yaml\")";
    let with_timeout =
        |t: &str| config(source, "dev").replace("create = \"5m\"", &format!("create = \"{t}\""));
    let ws = workspace(&tf, &env, &with_timeout("4s"));
    std::fs::write(ws.path().join("install.yaml"), &text).unwrap();
    blocking(|| ws.init());
    let failed = blocking(|| ws.run(&["apply", "-auto-approve", "-input=false"]));
    assert_eq!(
        failed.code,
        1,
        "the create should time out:\n{}",
        failed.all()
    );
    let entry = blocking(|| ws.resource_entry(ADDRESS)).expect("the failed create is in state");
    assert_eq!(entry["tainted"], true, "{entry}");
    let before = uids(&applier, &entry["values"]).await;
    assert!(before.len() > 10, "the install was applied: {before:?}");

    ws.write_config(&with_timeout("5m"));
    let plan = blocking(|| ws.ok(&["plan", "-input=false"]));
    assert!(
        plan.all()
            .replace('\n', " ")
            .contains("Continuing an incomplete Argo CD install"),
        "{}",
        plan.all()
    );
    blocking(|| ws.apply());
    let values = blocking(|| ws.resource(ADDRESS)).unwrap();
    assert_eq!(values["install_health"], "Healthy");
    let after = uids(&applier, &values).await;
    for (object, uid) in &before {
        assert!(uid.is_some(), "{object} missing after the failed create");
        assert_eq!(
            after.get(object),
            Some(uid),
            "{object} was deleted and created again"
        );
    }
    assert_eq!(
        blocking(|| ws.plan_exit_code()),
        0,
        "plan after the continued install"
    );
    blocking(|| ws.destroy());
}
