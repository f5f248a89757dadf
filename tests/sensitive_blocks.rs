//! Nested blocks holding sensitive values, through Terraform 1.0.3 (protocol 6) and 0.15.0-rc2 (protocol 5)
//! against the in-process Kubernetes API emulator on loopback (127.0.164.x), issue 15 item 5.
//!
//! Those two versions panic ("value is marked, so must be unmarked first") rendering any update of a *single*
//! nested block that holds a sensitive value (a sensitive variable, even a null one), so every block that can
//! hold one is a list of at most one: `kubernetes` and `repository` here. The test feeds both from sensitive
//! variables, applies, rewrites the state into the version-0 shape (`repository` as a single object, as
//! provider versions before schema version 1 stored it) and checks that the upgraded state plans no change, then
//! applies a change of the block, and a change to a null sensitive password.

mod common;
#[path = "argocd_bootstrap/support.rs"]
mod support;

use common::{Terraform, Workspace};
use support::{fixture, Env};

const ADDRESS: &str = "vixens_argocd_bootstrap.argocd";

const CONFIG: &str = r#"
variable "host" {
  type = string
}
variable "ca_certificate" {
  type      = string
  sensitive = true
}
variable "client_certificate" {
  type      = string
  sensitive = true
}
variable "client_key" {
  type      = string
  sensitive = true
}
variable "revision" {
  type = string
}
variable "username" {
  type      = string
  sensitive = true
  default   = null
}
variable "password" {
  type      = string
  sensitive = true
  default   = null
}

resource "vixens_argocd_bootstrap" "argocd" {
  kubernetes {
    host               = var.host
    ca_certificate     = var.ca_certificate
    client_certificate = var.client_certificate
    client_key         = var.client_key
  }
  version          = "v3.5.1"
  install_manifest = file("${path.module}/install.yaml")
  wait_for_sync    = false

  repository {
    url             = "https://github.com/vixens/gitops.git"
    target_revision = var.revision
    path            = "argocd/overlays/${var.revision}"
    username        = var.username
    password        = var.password
  }

  timeouts {
    create = "5m"
  }
}
"#;

fn hcl_string(s: &str) -> String {
    serde_json::to_string(s).expect("JSON string")
}

/// `terraform.tfvars` for the emulator's credentials, a revision and optional repository credentials.
fn write_vars(ws: &Workspace, env: &Env, revision: &str, credentials: Option<(&str, &str)>) {
    let mut vars = format!(
        "host = {}\nca_certificate = {}\nclient_certificate = {}\nclient_key = {}\nrevision = {}\n",
        hcl_string(&env.host),
        hcl_string(&env.ca_pem),
        hcl_string(&env.client_cert_pem),
        hcl_string(&env.client_key_pem),
        hcl_string(revision),
    );
    if let Some((user, password)) = credentials {
        vars.push_str(&format!(
            "username = {}\npassword = {}\n",
            hcl_string(user),
            hcl_string(password)
        ));
    }
    std::fs::write(ws.path().join("terraform.tfvars"), vars).expect("write tfvars");
}

/// Rewrites the state file as a provider with schema version 0 wrote it: `repository` a single object.
fn downgrade_state(ws: &Workspace) {
    let path = ws.path().join("terraform.tfstate");
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read state")).expect("state JSON");
    let instance = &mut state["resources"][0]["instances"][0];
    assert_eq!(instance["schema_version"], 2, "{instance}");
    instance["schema_version"] = 0.into();
    let repository = instance["attributes"]["repository"][0].clone();
    assert!(repository.is_object(), "{instance}");
    instance["attributes"]["repository"] = repository;
    std::fs::write(&path, serde_json::to_vec_pretty(&state).expect("encode")).expect("write state");
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_values_in_nested_blocks_survive_changes_on_terraform_1_0_and_0_15() {
    let Some(official) = fixture() else { return };
    // A local copy that is not the official release file: its state upgrade keeps the text inline (an official
    // manifest would become its release URL, which a configuration that still passes the text plans back).
    let text = format!("{official}\n# a local copy\n");
    let env = Env::start("127.0.164.2", 0).await;
    for tf in [Terraform::get("1.0.3"), Terraform::get("0.15.0-rc2")]
        .into_iter()
        .flatten()
    {
        let v = tf.version.clone();
        let ws = Workspace::new(&tf, CONFIG);
        std::fs::write(ws.path().join("install.yaml"), &text).unwrap();
        write_vars(&ws, &env, "dev", Some(("git", "tok-s3cret-value")));
        blocking(|| ws.init());
        blocking(|| ws.apply());
        let values = blocking(|| ws.resource(ADDRESS)).unwrap();
        assert_eq!(values["repository"][0]["target_revision"], "dev", "{v}");

        // A state from schema version 0 (single `repository` object) upgrades to the same value: no change. The
        // 0.15.0-rc2 build from PyPI (cloudrail) never calls UpgradeResourceState (its trace log says "cloudrail
        // disable this feature"), so only 1.0.3 can check the upgrade.
        if tf.protocol == 6 {
            downgrade_state(&ws);
            assert_eq!(
                blocking(|| ws.plan_exit_code()),
                0,
                "terraform {v}: upgraded state"
            );
        }

        // A change inside the block whose password is a sensitive variable: planned, shown and applied.
        write_vars(&ws, &env, "test", Some(("git", "tok-s3cret-value")));
        let plan = blocking(|| ws.run(&["plan", "-input=false"]));
        assert_eq!(plan.code, 0, "terraform {v}:\n{}", plan.all());
        assert!(
            plan.stdout.contains("target_revision") && !plan.all().contains("tok-s3cret-value"),
            "terraform {v}:\n{}",
            plan.stdout
        );
        blocking(|| ws.apply());
        assert_eq!(blocking(|| ws.plan_exit_code()), 0, "terraform {v}");

        // The sensitive variables turn null (no credentials) together with a change.
        write_vars(&ws, &env, "dev", None);
        blocking(|| ws.apply());
        assert_eq!(blocking(|| ws.plan_exit_code()), 0, "terraform {v}");
        let values = blocking(|| ws.resource(ADDRESS)).unwrap();
        assert!(values["repository"][0]["password"].is_null(), "{v}");
        blocking(|| ws.destroy());
    }
}
