//! Write-only secrets of `vixens_argocd_bootstrap` through a real Terraform CLI against the in-process Kubernetes
//! emulator on loopback (127.0.219.1-2):
//! - Terraform >= 1.11 (from PATH; skipped with a message when absent): `admin_password_wo` and the repository's
//!   `password_wo`, fed from ephemeral variables, reach the cluster (the bcrypt hash in `argocd-secret` verifies,
//!   the repository Secret holds the token) but never the state file nor the saved plan's JSON; bumping
//!   `admin_password_wo_version` sets the new password; a new value without a new version changes nothing.
//! - Terraform 1.0.3, which cannot keep a value out of the state, is refused a write-only value at plan, pointing
//!   at the attribute.

mod common;
#[path = "argocd_bootstrap/support.rs"]
mod support;

use common::{Terraform, Workspace};
use k8s_openapi::api::core::v1::Secret;
use support::{fixture, Env};

const ADDRESS: &str = "vixens_argocd_bootstrap.argocd";
const ADMIN_1: &str = "wo-Admin-first-7f3a";
const ADMIN_2: &str = "wo-Admin-second-91c2";
const TOKEN_1: &str = "wo-repo-token-5d8e";
const TOKEN_2: &str = "wo-repo-token-b4a0";

fn config(admin_version: i64) -> String {
    format!(
        r#"
variable "admin_password" {{
  type      = string
  sensitive = true
  ephemeral = true
}}

variable "repo_token" {{
  type      = string
  sensitive = true
  ephemeral = true
}}

resource "vixens_argocd_bootstrap" "argocd" {{
  kubeconfig       = file("${{path.module}}/kubeconfig")
  version          = "v3.5.1"
  install_manifest = file("${{path.module}}/install.yaml")

  admin_password_wo         = var.admin_password
  admin_password_wo_version = {admin_version}

  repository {{
    url                    = "https://github.com/vixens/gitops.git"
    target_revision        = "dev"
    path                   = "argocd/overlays/dev"
    username               = "bot"
    password_wo            = var.repo_token
    credentials_wo_version = 1
  }}
}}
"#
    )
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

async fn secret(env: &Env, name: &str) -> Secret {
    let api: kube::Api<Secret> = kube::Api::namespaced(env.client().await, "argocd");
    api.get(name).await.unwrap()
}

fn data(secret: &Secret, key: &str) -> String {
    let bytes = &secret.data.as_ref().unwrap()[key].0;
    String::from_utf8(bytes.clone()).unwrap()
}

/// Fails when `text` holds any of the secrets.
fn assert_no_secret(what: &str, text: &str) {
    for secret in [ADMIN_1, ADMIN_2, TOKEN_1, TOKEN_2] {
        assert!(!text.contains(secret), "{what} holds a write-only value");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_only_secrets_reach_the_cluster_not_the_state_or_plan() {
    let Some(text) = fixture() else { return };
    let Some(tf) = Terraform::from_path_at_least(1, 11, "write-only attributes") else {
        return;
    };
    let env = Env::start("127.0.219.1", 0).await;
    let mut ws = Workspace::new(&tf, &config(1));
    std::fs::write(ws.path().join("kubeconfig"), &env.kubeconfig).unwrap();
    std::fs::write(ws.path().join("install.yaml"), &text).unwrap();
    ws.set_env("TF_VAR_admin_password", ADMIN_1);
    ws.set_env("TF_VAR_repo_token", TOKEN_1);
    blocking(|| ws.init());
    blocking(|| ws.ok(&["plan", "-input=false", "-out=create.tfplan"]));
    let plan = blocking(|| ws.ok(&["show", "-json", "create.tfplan"]));
    assert_no_secret("the create plan", &plan.stdout);
    blocking(|| ws.ok(&["apply", "-input=false", "create.tfplan"]));

    let state = std::fs::read_to_string(ws.path().join("terraform.tfstate")).unwrap();
    assert_no_secret("the state", &state);
    let values = blocking(|| ws.resource(ADDRESS)).unwrap();
    assert!(values["admin_password_wo"].is_null());
    assert!(values["repository"][0]["password_wo"].is_null());
    let hash = values["admin_password_hash"].as_str().unwrap().to_string();
    let argocd_secret = secret(&env, "argocd-secret").await;
    assert_eq!(data(&argocd_secret, "admin.password"), hash);
    assert!(bcrypt::verify(ADMIN_1, &hash).unwrap());
    let repo = secret(&env, "vixens-root-repo").await;
    assert_eq!(data(&repo, "password"), TOKEN_1);
    assert_eq!(data(&repo, "username"), "bot");
    assert_eq!(data(&repo, "url"), "https://github.com/vixens/gitops.git");

    // New values without new versions: nothing to do (write-only values leave no trace to compare).
    ws.set_env("TF_VAR_admin_password", ADMIN_2);
    ws.set_env("TF_VAR_repo_token", TOKEN_2);
    assert_eq!(blocking(|| ws.plan_exit_code()), 0, "next plan is empty");

    // A new admin version sets the new password; the saved plan and the state still hold no secret.
    ws.write_config(&config(2));
    blocking(|| ws.ok(&["plan", "-input=false", "-out=update.tfplan"]));
    let plan = blocking(|| ws.ok(&["show", "-json", "update.tfplan"]));
    assert_no_secret("the update plan", &plan.stdout);
    let planned: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(
        planned["resource_changes"][0]["change"]["actions"],
        serde_json::json!(["update"])
    );
    blocking(|| ws.ok(&["apply", "-input=false", "update.tfplan"]));
    let state = std::fs::read_to_string(ws.path().join("terraform.tfstate")).unwrap();
    assert_no_secret("the state after the update", &state);
    let values = blocking(|| ws.resource(ADDRESS)).unwrap();
    let new_hash = values["admin_password_hash"].as_str().unwrap();
    assert_ne!(new_hash, hash);
    assert!(bcrypt::verify(ADMIN_2, new_hash).unwrap());
    assert_eq!(
        data(&secret(&env, "argocd-secret").await, "admin.password"),
        new_hash
    );
    // The repository credentials keep their version: still the first token.
    assert_eq!(
        data(&secret(&env, "vixens-root-repo").await, "password"),
        TOKEN_1
    );
    assert_eq!(blocking(|| ws.plan_exit_code()), 0);
    blocking(|| ws.destroy());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_1_0_is_refused_write_only_values() {
    let tf = Terraform::cached("1.0.3");
    let env = Env::start("127.0.219.2", 0).await;
    let config = r#"
resource "vixens_argocd_bootstrap" "argocd" {
  kubeconfig        = file("${path.module}/kubeconfig")
  version           = "v3.5.1"
  admin_password_wo = "never-stored-on-1-0"

  repository {
    url  = "https://github.com/vixens/gitops.git"
    path = "argocd/overlays/dev"
  }
}
"#;
    let ws = Workspace::new(&tf, config);
    std::fs::write(ws.path().join("kubeconfig"), &env.kubeconfig).unwrap();
    blocking(|| ws.init());
    let out = blocking(|| ws.fails(&["plan", "-input=false"]));
    let all = out.all();
    assert!(
        all.contains("Write-only attribute needs Terraform 1.11 or later"),
        "{all}"
    );
    assert!(all.contains("admin_password_wo"), "{all}");
    assert!(!ws.path().join("terraform.tfstate").exists());
}
