//! `argocd_cm` and `bootstrap_secrets` of `vixens_argocd_bootstrap` through Terraform 1.0.3 against the in-process
//! Kubernetes API emulator (issue 20): the Application health check is in `argocd-cm` and the Sealed Secrets key
//! Secret exists before the root Application, which retries failed syncs with backoff; the key's value reaches
//! the cluster but never the plan or the log (`TF_LOG=trace`); a live edit of the key shows as drift (its path
//! only) and the next apply puts it back; removing both inputs releases the `argocd-cm` key and deletes the Secret.
//!
//! Loopback only: 127.0.221.5:6443.

mod common;
#[path = "argocd_bootstrap/support.rs"]
mod support;

use common::{Terraform, Workspace};
use support::{fixture, Env};
use vixens::k8s::apply::Applier;
use vixens::k8s::inventory::{read_live, ObjectRef};

const ADDRESS: &str = "vixens_argocd_bootstrap.argocd";
const HEALTH_KEY: &str = "resource.customizations.health.argoproj.io_Application";
const KEY_VALUE: &str =
    "-----BEGIN PRIVATE KEY-----\nnot-a-real-key-3f9c2a\n-----END PRIVATE KEY-----\n";

fn config(inputs: &str) -> String {
    format!(
        r#"
resource "vixens_argocd_bootstrap" "argocd" {{
  kubeconfig       = file("${{path.module}}/kubeconfig")
  version          = "v3.5.1"
  install_manifest = file("${{path.module}}/install.yaml")
  server_insecure  = true
  {inputs}

  repository {{
    url             = "https://github.com/vixens/gitops.git"
    target_revision = "dev"
    path            = "argocd/overlays/dev"
  }}
}}
"#
    )
}

fn inputs() -> String {
    format!(
        r#"
  argocd_cm = {{
    "{HEALTH_KEY}" = "hs = {{}}\nhs.status = \"Healthy\"\nreturn hs\n"
  }}
  bootstrap_secrets = [{{
    namespace = "kube-system"
    name      = "sealed-secrets-key"
    type      = "kubernetes.io/tls"
    labels    = {{ "sealedsecrets.bitnami.com/sealed-secrets-key" = "active" }}
    data      = {{ "tls.crt" = "certificate", "tls.key" = file("${{path.module}}/key.pem") }}
  }}]"#
    )
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

async fn live(applier: &Applier, kind: &str, ns: &str, name: &str) -> Option<serde_json::Value> {
    read_live(applier, &ObjectRef::new("v1", kind, Some(ns), name))
        .await
        .unwrap()
        .map(|o| serde_json::to_value(o).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argocd_cm_keys_and_bootstrap_secrets_before_the_root_application() {
    let Some(text) = fixture() else { return };
    let Some(tf) = Terraform::get("1.0.3") else {
        return;
    };
    let env = Env::start("127.0.221.5", 0).await;
    let applier = Applier::new(env.client().await);
    let mut ws = Workspace::new(&tf, &config(&inputs()));
    std::fs::write(ws.path().join("kubeconfig"), &env.kubeconfig).unwrap();
    std::fs::write(ws.path().join("install.yaml"), &text).unwrap();
    std::fs::write(ws.path().join("key.pem"), KEY_VALUE).unwrap();
    blocking(|| ws.init());
    ws.set_env("TF_LOG", "trace");
    let applied = blocking(|| ws.apply());
    assert!(
        !applied.all().contains("not-a-real-key"),
        "the key's value is in Terraform's output or log"
    );
    let plan = blocking(|| ws.run(&["plan", "-input=false"]));
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(!plan.all().contains("not-a-real-key"));

    let cm = live(&applier, "ConfigMap", "argocd", "argocd-cm")
        .await
        .expect("argocd-cm");
    assert!(
        cm["data"][HEALTH_KEY]
            .as_str()
            .is_some_and(|s| s.contains("Healthy")),
        "{cm}"
    );
    let secret = live(&applier, "Secret", "kube-system", "sealed-secrets-key")
        .await
        .expect("the key Secret");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert_eq!(
        secret["metadata"]["labels"]["sealedsecrets.bitnami.com/sealed-secrets-key"],
        "active"
    );
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    assert_eq!(secret["data"]["tls.key"], b64(KEY_VALUE).as_str());
    let root = read_live(
        &applier,
        &ObjectRef::new(
            "argoproj.io/v1alpha1",
            "Application",
            Some("argocd"),
            "root",
        ),
    )
    .await
    .unwrap()
    .map(|o| serde_json::to_value(o).unwrap())
    .expect("root Application");
    assert_eq!(root["spec"]["syncPolicy"]["retry"]["limit"], 10, "{root}");
    assert_eq!(blocking(|| ws.plan_exit_code()), 0, "no change after apply");

    // Someone replaces the key in the cluster: a drift (its path, never a value), repaired by the next apply.
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(env.client().await, "kube-system");
    secrets
        .patch(
            "sealed-secrets-key",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"data": {"tls.key": b64("tampered")}})),
        )
        .await
        .expect("edit the Secret");
    blocking(|| ws.ok(&["refresh", "-input=false"]));
    let values = blocking(|| ws.resource(ADDRESS)).unwrap();
    let drift = values["drift"].to_string();
    assert!(
        drift.contains("Secret kube-system/sealed-secrets-key: data.tls.key"),
        "{drift}"
    );
    assert!(!drift.contains("tampered") && !drift.contains("not-a-real-key"));
    blocking(|| ws.apply());
    let secret = live(&applier, "Secret", "kube-system", "sealed-secrets-key")
        .await
        .expect("the key Secret");
    assert_eq!(secret["data"]["tls.key"], b64(KEY_VALUE).as_str());

    // Without the inputs: the argocd-cm key is released, the Secret deleted.
    ws.write_config(&config(""));
    blocking(|| ws.apply());
    let cm = live(&applier, "ConfigMap", "argocd", "argocd-cm")
        .await
        .expect("argocd-cm stays");
    assert!(cm["data"].get(HEALTH_KEY).is_none(), "{cm}");
    assert!(
        live(&applier, "Secret", "kube-system", "sealed-secrets-key")
            .await
            .is_none()
    );
    assert_eq!(blocking(|| ws.plan_exit_code()), 0);
}

#[test]
fn bad_inputs_are_refused_at_plan() {
    let Some(tf) = Terraform::get("1.0.3") else {
        return;
    };
    let bad = r#"
  argocd_cm = { "a/b" = "x" }
  bootstrap_secrets = [{
    namespace = "Kube_System"
    name      = "k"
    type      = "Opaque"
    labels    = {}
    data      = { "ok" = "x" }
  }]"#;
    let ws = Workspace::new(&tf, &config(bad));
    std::fs::write(ws.path().join("kubeconfig"), "").unwrap();
    std::fs::write(ws.path().join("install.yaml"), "").unwrap();
    ws.init();
    let out = ws.fails(&["validate"]);
    assert!(
        out.all().contains("\"a/b\" is not a ConfigMap key")
            && out
                .all()
                .contains("\"Kube_System\" is not a DNS-1123 label"),
        "{}",
        out.all()
    );
}
