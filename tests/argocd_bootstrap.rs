//! `vixens_argocd_bootstrap` against the Kubernetes API emulator, in process: the real Argo CD v3.5.1 manifest
//! served from a loopback HTTP server or given inline, the root app Synced/Healthy, promotion touching only the
//! Application, drift, a version change that prunes, a wrong sha256 that applies nothing, and destroy.
//! Loopback addresses 127.0.162.x only. Skipped (with a message) without the shared fixture.

#[path = "argocd_bootstrap/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::json;
use support::{fixture, serve_manifest, Env};
use vixens::cty::{AttributePath, Value};
use vixens::framework::{Context, PlannedChange, Resource};
use vixens::k8s::apply::{Applier, ApplyOptions};
use vixens::k8s::inventory::{read_live, Inventory, ObjectRef};
use vixens::manifests::argocd::source::sha256_hex;
use vixens::manifests::argocd::{parse_manifest, prepare_install};
use vixens::resources::argocd_bootstrap::ArgocdBootstrap;

fn ctx() -> Context {
    Context::for_tests().with_timeout(Duration::from_secs(120))
}

/// What Terraform would plan: the configuration, computed attributes from `prior`, then the resource's
/// plan modifications.
async fn plan(prior: &Value, config: &Value) -> Value {
    let mut planned = config.clone();
    let computed = [
        "id",
        "ha",
        "install_manifest_url",
        "install_manifest_sha256",
        "manifest_sha256",
        "inventory",
        "admin_password_hash",
        "admin_password_mtime",
        "install_health",
        "drift",
    ];
    for a in computed {
        if planned.get(a).is_null() {
            let v = if prior.is_null() {
                Value::Unknown
            } else {
                prior.get(a).clone()
            };
            planned.set(a, v);
        }
    }
    let mut change = PlannedChange {
        prior: prior.clone(),
        config: config.clone(),
        planned,
        requires_replace: Vec::new(),
    };
    ArgocdBootstrap
        .modify_plan(&ctx(), &mut change)
        .await
        .unwrap();
    assert!(change.requires_replace.is_empty());
    change.planned
}

/// The `repository` block (a list of one).
fn repository(revision: &str, path: &str) -> Value {
    Value::List(vec![Value::object([
        ("url", Value::from("https://github.com/vixens/gitops.git")),
        ("target_revision", Value::from(revision)),
        ("path", Value::from(path)),
    ])])
}

fn base_config(env: &Env, revision: &str) -> Value {
    Value::object([
        ("kubeconfig", Value::from(env.kubeconfig.as_str())),
        ("version", Value::from("v3.5.1")),
        (
            "repository",
            repository(revision, &format!("argocd/overlays/{revision}")),
        ),
        (
            "admin_password",
            Value::from("correct horse battery staple"),
        ),
        ("server_insecure", Value::from(true)),
    ])
}

fn set_revision(config: &mut Value, revision: &str) {
    config.set(
        "repository",
        repository(revision, &format!("argocd/overlays/{revision}")),
    );
}

async fn live(applier: &Applier, r: &ObjectRef) -> Option<DynamicObject> {
    read_live(applier, r).await.unwrap()
}

/// resourceVersion of every object the resource touches.
async fn versions(applier: &Applier, state: &Value) -> BTreeMap<String, String> {
    let mut refs: Vec<ObjectRef> = Inventory::from_json(state.get("inventory").as_str().unwrap())
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
        let rv = live(applier, &r)
            .await
            .and_then(|o| o.metadata.resource_version)
            .unwrap_or_default();
        out.insert(r.to_string(), rv);
    }
    out
}

fn app_ref(ns: &str) -> ObjectRef {
    ObjectRef::new("argoproj.io/v1alpha1", "Application", Some(ns), "root")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applies_the_real_install_in_dependency_order() {
    let Some(text) = fixture() else { return };
    let env = Env::start("127.0.162.1", 0).await;
    let applier = Applier::new(env.client().await);
    let started = Instant::now();
    let objects = prepare_install(parse_manifest(&text).unwrap(), "argocd").unwrap();
    let parsed = started.elapsed();
    let mut applied = Vec::new();
    let options = ApplyOptions {
        force: true,
        ..ApplyOptions::default()
    };
    applier
        .apply_all(&objects, options, &mut applied)
        .await
        .unwrap();
    println!(
        "parse {:?}, parse+apply of {} objects ({} bytes) {:?}",
        parsed,
        applied.len(),
        text.len(),
        started.elapsed()
    );
    assert_eq!(applied.len(), 60);
    assert_eq!(
        applied[0],
        ObjectRef::new("v1", "Namespace", None, "argocd")
    );
    assert!(applied[1..4]
        .iter()
        .all(|r| r.kind == "CustomResourceDefinition"));
    vixens::k8s::wait::rolled_out(applier.client(), &applied, Duration::from_secs(30))
        .await
        .unwrap();
    let crb = live(
        &applier,
        &ObjectRef::new(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            None,
            "argocd-server",
        ),
    )
    .await
    .unwrap();
    assert_eq!(crb.data["subjects"][0]["namespace"], "argocd");
    // Re-applying unchanged objects is a no-op for the field manager.
    let mut again = Vec::new();
    applier
        .apply_all(&objects, options, &mut again)
        .await
        .unwrap();
    assert_eq!(again, applied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_lifecycle_with_a_served_manifest() {
    let Some(text) = fixture() else { return };
    let env = Env::start("127.0.162.2", 20).await;
    let (url, hits) = serve_manifest("127.0.162.2", text.clone()).await;
    let applier = Applier::new(env.client().await);

    let mut config = base_config(&env, "dev");
    config.set("install_manifest_url", url.as_str());
    config.set("install_manifest_sha256", sha256_hex(text.as_bytes()));
    let planned = plan(&Value::Null, &config).await;
    assert_eq!(
        planned.get("manifest_sha256").as_str(),
        Some(sha256_hex(text.as_bytes()).as_str())
    );
    assert_eq!(
        planned.get("install_manifest_url").as_str(),
        Some(url.as_str())
    );
    let state = ArgocdBootstrap.create(&ctx(), &planned).await.unwrap();
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(state.get("install_health").as_str(), Some("Healthy"));
    assert_eq!(
        Inventory::from_json(state.get("inventory").as_str().unwrap())
            .unwrap()
            .len(),
        60
    );

    // The root app is Synced/Healthy for dev, with the cascade finalizer; the repo Secret is labelled.
    let app = live(&applier, &app_ref("argocd")).await.unwrap();
    assert_eq!(app.data["spec"]["source"]["targetRevision"], "dev");
    assert_eq!(app.data["spec"]["source"]["path"], "argocd/overlays/dev");
    assert_eq!(
        app.data["spec"]["syncPolicy"]["syncOptions"],
        json!(["ServerSideApply=true"])
    );
    assert_eq!(app.data["status"]["sync"]["status"], "Synced");
    assert_eq!(app.data["status"]["health"]["status"], "Healthy");
    assert_eq!(
        app.metadata.finalizers,
        Some(vec!["resources-finalizer.argocd.argoproj.io".to_string()])
    );
    let secret = live(
        &applier,
        &ObjectRef::new("v1", "Secret", Some("argocd"), "vixens-root-repo"),
    )
    .await
    .unwrap();
    assert_eq!(
        secret.metadata.labels.as_ref().unwrap()["argocd.argoproj.io/secret-type"],
        "repository"
    );
    let argocd_secret = live(
        &applier,
        &ObjectRef::new("v1", "Secret", Some("argocd"), "argocd-secret"),
    )
    .await
    .unwrap();
    let hash = argocd_secret.data["data"]["admin.password"]
        .as_str()
        .unwrap();
    let hash = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, hash).unwrap(),
    )
    .unwrap();
    assert!(bcrypt::verify("correct horse battery staple", &hash).unwrap());
    let params = live(
        &applier,
        &ObjectRef::new("v1", "ConfigMap", Some("argocd"), "argocd-cmd-params-cm"),
    )
    .await
    .unwrap();
    assert_eq!(params.data["data"]["server.insecure"], "true");
    // The install's own labels on argocd-secret survive the settings manager.
    assert_eq!(
        argocd_secret.metadata.labels.as_ref().unwrap()["app.kubernetes.io/part-of"],
        "argocd"
    );
    if let Some((ok, out, err)) = env.kubectl(&["get", "applications", "-n", "argocd"]) {
        assert!(ok, "{err}");
        assert!(
            out.contains("root") && out.contains("Synced") && out.contains("Healthy"),
            "{out}"
        );
    }

    // Read: no drift, healthy; planning the same configuration again changes nothing.
    let read = ArgocdBootstrap.read(&ctx(), &state).await.unwrap().unwrap();
    assert_eq!(read.get("drift"), &Value::List(Vec::new()));
    assert_eq!(read.get("install_health").as_str(), Some("Healthy"));
    assert_eq!(plan(&read, &config).await, read, "the next plan is empty");

    // Promotion to test changes only the Application.
    let before = versions(&applier, &read).await;
    set_revision(&mut config, "test");
    let planned = plan(&read, &config).await;
    assert_eq!(
        planned.get("inventory"),
        read.get("inventory"),
        "install untouched"
    );
    let state = ArgocdBootstrap
        .update(&ctx(), &read, &planned)
        .await
        .unwrap();
    let after = versions(&applier, &state).await;
    let changed: Vec<&String> = before.keys().filter(|k| before[*k] != after[*k]).collect();
    assert_eq!(
        changed,
        vec!["Application argocd/root"],
        "only the Application changes"
    );
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "no download on promotion"
    );
    let app = live(&applier, &app_ref("argocd")).await.unwrap();
    assert_eq!(
        app.data["status"]["sync"]["comparedTo"]["source"]["targetRevision"],
        "test"
    );

    // Drift of the root app spec and the repo Secret shows on read and is repaired by the next apply.
    let apps: Api<DynamicObject> = Api::namespaced_with(
        applier.client().clone(),
        "argocd",
        &vixens::k8s::wait::application_resource(),
    );
    let patch = json!({"spec": {"source": {"targetRevision": "hotfix"}}});
    apps.patch("root", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(applier.client().clone(), "argocd");
    secrets
        .delete("vixens-root-repo", &Default::default())
        .await
        .unwrap();
    let read = ArgocdBootstrap.read(&ctx(), &state).await.unwrap().unwrap();
    let drift: Vec<&str> = read
        .get("drift")
        .as_list()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        drift,
        [
            "Secret argocd/vixens-root-repo: missing",
            "Application argocd/root: spec.source.targetRevision"
        ]
    );
    let planned = plan(&read, &config).await;
    assert_ne!(planned, read, "drift makes the plan non-empty");
    let state = ArgocdBootstrap
        .update(&ctx(), &read, &planned)
        .await
        .unwrap();
    let read = ArgocdBootstrap.read(&ctx(), &state).await.unwrap().unwrap();
    assert_eq!(read.get("drift"), &Value::List(Vec::new()));
    assert_eq!(
        live(&applier, &app_ref("argocd")).await.unwrap().data["spec"]["source"]["targetRevision"],
        "test"
    );

    // A new version whose manifest drops a NetworkPolicy re-applies the install and prunes it.
    let dropped = ObjectRef::new(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        Some("argocd"),
        "argocd-redis-network-policy",
    );
    assert!(live(&applier, &dropped).await.is_some());
    // (The stand-in for v3.5.2 runs the v3.5.2 image: the plan checks `version` against the manifest's image.)
    let smaller = without_document(&text, "name: argocd-redis-network-policy").replace(
        "quay.io/argoproj/argocd:v3.5.1",
        "quay.io/argoproj/argocd:v3.5.2",
    );
    config.set("version", "v3.5.2");
    config.set("install_manifest_url", Value::Null);
    config.set("install_manifest_sha256", Value::Null);
    config.set("install_manifest", smaller.as_str());
    let planned = plan(&read, &config).await;
    // An inline manifest's objects are known at plan time: the plan shows the NetworkPolicy going.
    let planned_inventory =
        Inventory::from_json(planned.get("inventory").as_str().unwrap()).unwrap();
    assert!(!planned_inventory.contains(&dropped));
    assert_eq!(planned.get("install_manifest_url"), &Value::Null);
    let state = ArgocdBootstrap
        .update(&ctx(), &read, &planned)
        .await
        .unwrap();
    assert!(live(&applier, &dropped).await.is_none(), "pruned");
    assert_eq!(
        Inventory::from_json(state.get("inventory").as_str().unwrap())
            .unwrap()
            .len(),
        59
    );
    assert_eq!(
        state.get("inventory"),
        planned.get("inventory"),
        "as planned"
    );
    assert_eq!(
        state.get("manifest_sha256").as_str(),
        Some(sha256_hex(smaller.as_bytes()).as_str())
    );

    // Destroy: the root app (cascade), the repo Secret, the install.
    ArgocdBootstrap.delete(&ctx(), &state).await.unwrap();
    assert!(live(&applier, &app_ref("argocd")).await.is_none());
    assert!(
        live(&applier, &ObjectRef::new("v1", "Namespace", None, "argocd"))
            .await
            .is_none()
    );
    for crd in [
        "applications.argoproj.io",
        "applicationsets.argoproj.io",
        "appprojects.argoproj.io",
    ] {
        let r = ObjectRef::new(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            None,
            crd,
        );
        let gone = live(&applier, &r)
            .await
            .is_none_or(|o| o.metadata.deletion_timestamp.is_some());
        assert!(gone, "{crd} deleted");
    }
    assert!(
        ArgocdBootstrap
            .read(&ctx(), &state)
            .await
            .unwrap()
            .is_none(),
        "read after destroy: gone"
    );
}

/// The manifest without the document containing `marker`.
fn without_document(text: &str, marker: &str) -> String {
    text.split("\n---\n")
        .filter(|d| !d.contains(marker))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_sha256_fails_before_anything_is_applied() {
    let Some(text) = fixture() else { return };
    let env = Env::start("127.0.162.3", 0).await;
    let (url, _) = serve_manifest("127.0.162.3", text.clone()).await;
    let applier = Applier::new(env.client().await);
    let mut config = base_config(&env, "dev");
    config.set("install_manifest_url", url.as_str());
    let wrong = "ab".repeat(32);
    config.set("install_manifest_sha256", wrong.as_str());
    let planned = plan(&Value::Null, &config).await;
    let err = ArgocdBootstrap.create(&ctx(), &planned).await.unwrap_err();
    assert!(err.state.is_none(), "nothing to record");
    let d = &err.diagnostics.0[0];
    assert_eq!(
        d.attribute,
        Some(AttributePath::attr("install_manifest_sha256"))
    );
    assert!(
        d.detail.contains(&wrong) && d.detail.contains(&sha256_hex(text.as_bytes())),
        "{}",
        d.detail
    );
    assert!(
        live(&applier, &ObjectRef::new("v1", "Namespace", None, "argocd"))
            .await
            .is_none()
    );
    let crd = ObjectRef::new(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        None,
        "applications.argoproj.io",
    );
    assert!(live(&applier, &crd).await.is_none(), "nothing applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_manifest_into_another_namespace_with_orphaning_destroy() {
    let Some(text) = fixture() else { return };
    let env = Env::start("127.0.162.4", 0).await;
    let applier = Applier::new(env.client().await);
    let mut config = Value::object([
        (
            "kubernetes",
            Value::List(vec![Value::object([
                ("host", Value::from(env.host.as_str())),
                ("ca_certificate", Value::from(env.ca_pem.as_str())),
                (
                    "client_certificate",
                    Value::from(env.client_cert_pem.as_str()),
                ),
                ("client_key", Value::from(env.client_key_pem.as_str())),
            ])]),
        ),
        ("version", Value::from("v3.5.1")),
        ("namespace", Value::from("gitops")),
        ("install_manifest", Value::from(text.as_str())),
        ("repository", repository("dev", "argocd/overlays/dev")),
        (
            "root_application",
            Value::object([("cascade_delete", Value::from(false))]),
        ),
    ]);
    let planned = plan(&Value::Null, &config).await;
    assert_eq!(planned.get("id").as_str(), Some("gitops"));
    let state = ArgocdBootstrap.create(&ctx(), &planned).await.unwrap();
    let crb = live(
        &applier,
        &ObjectRef::new(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            None,
            "argocd-application-controller",
        ),
    )
    .await
    .unwrap();
    assert_eq!(crb.data["subjects"][0]["namespace"], "gitops");
    let app = live(&applier, &app_ref("gitops")).await.unwrap();
    assert_eq!(
        app.metadata.finalizers, None,
        "orphaning: no cascade finalizer"
    );
    assert_eq!(app.data["spec"]["destination"]["namespace"], "gitops");
    let read = ArgocdBootstrap.read(&ctx(), &state).await.unwrap().unwrap();
    config.set("install_manifest", text.as_str());
    assert_eq!(plan(&read, &config).await, read, "the next plan is empty");
    ArgocdBootstrap.delete(&ctx(), &state).await.unwrap();
    assert!(
        live(&applier, &ObjectRef::new("v1", "Namespace", None, "gitops"))
            .await
            .is_none()
    );
}
