//! Where `vixens_argocd_bootstrap` takes its manifest from, and what its state keeps, through the real Terraform
//! CLI against the in-process Kubernetes API emulator on loopback (127.0.165.1-3):
//! - a local file read by the provider: the state keeps its path and sha256, not the text (< 100 KB); an edited
//!   file plans as a new sha256 and re-applies; a pin that the file no longer matches fails at plan;
//! - a state written by the previous schema with the official v3.5.1 manifest inline (2 MB in state) upgrades
//!   with no planned change once the configuration gives `version` alone, and the next apply writes a small
//!   state without touching the cluster; every RPC (UpgradeResourceState and ValidateResourceConfig too) logs
//!   its time, and the provider its peak memory;
//! - the HA manifest on a one-node cluster warns at plan.

mod common;
#[path = "argocd_bootstrap/support.rs"]
mod support;

use std::collections::BTreeMap;

use common::{Terraform, Workspace};
use support::{fixture, Env};
use vixens::k8s::apply::Applier;
use vixens::k8s::inventory::{read_live, Inventory};
use vixens::manifests::argocd::source::sha256_hex;

const ADDRESS: &str = "vixens_argocd_bootstrap.argocd";
const OFFICIAL_URL: &str =
    "https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.1/manifests/install.yaml";

/// The resource block; `source` holds the manifest attributes.
fn config(source: &str) -> String {
    format!(
        r#"
resource "vixens_argocd_bootstrap" "argocd" {{
  kubeconfig = file("${{path.module}}/kubeconfig")
  version    = "v3.5.1"
  {source}

  repository {{
    url             = "https://github.com/vixens/gitops.git"
    target_revision = "dev"
    path            = "argocd/overlays/dev"
  }}

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

fn state_bytes(ws: &Workspace) -> usize {
    std::fs::metadata(ws.path().join("terraform.tfstate"))
        .map(|m| m.len() as usize)
        .unwrap_or(0)
}

/// resourceVersion of every install object: what changes when anything is re-applied.
async fn versions(applier: &Applier, values: &serde_json::Value) -> BTreeMap<String, String> {
    let inventory = Inventory::from_json(values["inventory"].as_str().unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for r in inventory.iter() {
        let live = read_live(applier, r).await.unwrap();
        out.insert(
            r.to_string(),
            live.and_then(|o| o.metadata.resource_version)
                .unwrap_or_default(),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_source_keeps_the_text_out_of_state_and_plans_edits_as_digests() {
    let Some(text) = fixture() else { return };
    let Some(tf) = Terraform::get("1.0.3") else {
        return;
    };
    let env = Env::start("127.0.165.1", 0).await;
    let digest = sha256_hex(text.as_bytes());
    let source = r#"install_manifest_file = "install.yaml""#;
    let ws = workspace(&tf, &env, &config(source));
    std::fs::write(ws.path().join("install.yaml"), &text).unwrap();
    blocking(|| ws.init());
    blocking(|| ws.apply());
    let values = blocking(|| ws.resource(ADDRESS)).unwrap();
    assert_eq!(values["install_health"], "Healthy");
    assert_eq!(values["install_manifest"], serde_json::Value::Null);
    assert_eq!(values["install_manifest_file"], "install.yaml");
    assert_eq!(values["install_manifest_url"], serde_json::Value::Null);
    assert_eq!(values["install_manifest_sha256"], digest.as_str());
    assert_eq!(values["manifest_sha256"], digest.as_str());
    let size = state_bytes(&ws);
    assert!(size < 100_000, "state is {size} bytes");
    assert_eq!(
        blocking(|| ws.plan_exit_code()),
        0,
        "the next plan is empty"
    );

    // An edited file plans as a new sha256 (not as text), and apply installs it.
    let edited = format!("{text}\n# edited\n");
    std::fs::write(ws.path().join("install.yaml"), &edited).unwrap();
    let plan = blocking(|| ws.run(&["plan", "-input=false", "-detailed-exitcode"]));
    assert_eq!(plan.code, 2, "{}", plan.all());
    let shown = plan.stdout;
    assert!(
        shown.contains(&format!(
            "\"{digest}\" -> \"{}\"",
            sha256_hex(edited.as_bytes())
        )),
        "{shown}"
    );
    assert!(shown.len() < 20_000, "plan output is {} bytes", shown.len());
    blocking(|| ws.apply());
    let values = blocking(|| ws.resource(ADDRESS)).unwrap();
    assert_eq!(
        values["manifest_sha256"],
        sha256_hex(edited.as_bytes()).as_str()
    );
    assert_eq!(blocking(|| ws.plan_exit_code()), 0);

    // A pin the file does not match fails at plan, naming both digests and the attribute.
    let pinned = format!("{source}\n  install_manifest_sha256 = \"{digest}\"");
    ws.write_config(&config(&pinned));
    let out = blocking(|| ws.fails(&["plan", "-input=false"]));
    let all = out.all();
    assert!(
        all.contains("sha256 mismatch")
            && all.contains(&digest)
            && all.contains(&sha256_hex(edited.as_bytes()))
            && all.contains("install_manifest_sha256"),
        "{all}"
    );
    // The pinned file again: the install goes back to it.
    std::fs::write(ws.path().join("install.yaml"), &text).unwrap();
    blocking(|| ws.apply());
    assert_eq!(blocking(|| ws.plan_exit_code()), 0);
    blocking(|| ws.destroy());
}

/// The state of the previous schema (version 1) for the same install: what that provider wrote, with the
/// inline manifest in `install_manifest`, no `install_manifest_file`, `ha` and the pin null.
fn as_schema_1(state: &mut serde_json::Value, text: &str) {
    let instance = &mut state["resources"][0]["instances"][0];
    instance["schema_version"] = 1.into();
    let attributes = instance["attributes"].as_object_mut().unwrap();
    attributes.remove("install_manifest_file");
    attributes.insert("install_manifest".into(), text.into());
    attributes.insert("install_manifest_url".into(), serde_json::Value::Null);
    attributes.insert("install_manifest_sha256".into(), serde_json::Value::Null);
    attributes.insert("ha".into(), serde_json::Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_with_the_official_manifest_inline_upgrades_without_a_change_and_shrinks() {
    let Some(text) = fixture() else { return };
    let Some(tf) = Terraform::get("1.0.3") else {
        return;
    };
    let env = Env::start("127.0.165.2", 0).await;
    let applier = Applier::new(env.client().await);
    let mut ws = workspace(
        &tf,
        &env,
        &config(r#"install_manifest = file("${path.module}/install.yaml")"#),
    );
    std::fs::write(ws.path().join("install.yaml"), &text).unwrap();
    blocking(|| ws.init());
    blocking(|| ws.apply());
    let installed = blocking(|| ws.resource(ADDRESS)).unwrap();
    let before = versions(&applier, &installed).await;

    let path = ws.path().join("terraform.tfstate");
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    as_schema_1(&mut state, &text);
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    let big = state_bytes(&ws);
    assert!(
        big > text.len(),
        "the old state holds the text: {big} bytes"
    );

    // The configuration gives the release alone: no change is planned.
    ws.write_config(&config(""));
    let log = ws.path().join("provider.log");
    ws.set_env("TF_LOG_PROVIDER", "INFO");
    ws.set_env("TF_LOG_PATH", log.to_str().unwrap());
    let plan = blocking(|| ws.run(&["plan", "-input=false", "-detailed-exitcode"]));
    assert_eq!(plan.code, 0, "{}", plan.all());
    let logged = std::fs::read_to_string(&log).unwrap();
    for rpc in [
        "UpgradeResourceState",
        "ValidateResourceConfig",
        "ReadResource",
        "PlanResourceChange",
    ] {
        assert!(
            logged.lines().any(|l| l.contains("rpc done")
                && l.contains(&format!("rpc={rpc}"))
                && l.contains("elapsed_ms=")),
            "no timing line for {rpc}"
        );
    }
    assert!(
        logged
            .lines()
            .any(|l| l.contains("provider exiting") && l.contains("peak_rss_kib=")),
        "no peak memory line"
    );
    assert!(
        !logged.contains("argocd-application-controller"),
        "the log shows the manifest"
    );

    // The next apply changes nothing in the cluster and writes the state without the text.
    blocking(|| ws.apply());
    let small = state_bytes(&ws);
    assert!(small < 100_000, "state is still {small} bytes");
    let values = blocking(|| ws.resource(ADDRESS)).unwrap();
    assert_eq!(values["install_manifest"], serde_json::Value::Null);
    assert_eq!(values["install_manifest_url"], OFFICIAL_URL);
    assert_eq!(
        values["install_manifest_sha256"],
        sha256_hex(text.as_bytes()).as_str()
    );
    assert_eq!(values["ha"], false);
    assert_eq!(values["inventory"], installed["inventory"]);
    assert_eq!(
        versions(&applier, &values).await,
        before,
        "nothing re-applied"
    );
    assert_eq!(blocking(|| ws.plan_exit_code()), 0);
    blocking(|| ws.destroy());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ha_manifest_on_one_node_warns_at_plan() {
    let Some(tf) = Terraform::get("1.0.3") else {
        return;
    };
    let env = Env::start("127.0.165.3", 0).await;
    // The official HA manifest's sha256 ships with the provider: nothing is downloaded at plan.
    let ws = workspace(&tf, &env, &config("ha = true"));
    blocking(|| ws.init());
    let plan = blocking(|| ws.ok(&["plan", "-input=false"]));
    let all = plan.all();
    assert!(
        all.contains("Too few nodes for Argo CD's HA manifest")
            && all.contains("at least 3 schedulable nodes")
            && all.contains("the cluster has 1"),
        "{all}"
    );
    assert!(
        all.contains("1d7b6baa0769ff8a5757c61e2c677ae0939a15e86e149f64df6b12435db5c4b2"),
        "the official HA digest is planned:\n{all}"
    );
    ws.write_config(&config(""));
    let plan = blocking(|| ws.ok(&["plan", "-input=false"]));
    assert!(!plan.all().contains("Too few nodes"), "{}", plan.all());
}
