//! Through the real Terraform CLI against the Kubernetes API emulator (loopback 127.0.151.20): a `vixens_cilium`
//! create that fails half-way (its create timeout ends while the agents roll out) is continued by the next apply,
//! not deleted and installed again (src/resources/k8s_resume.rs): every object it had created keeps its uid, the
//! Hubble certificates stay, and the plan is empty afterwards. A `terraform taint` by the user still reinstalls.

mod cilium_emu;
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use cilium_emu::{start_emulator_with, Emu};
use common::{Terraform, Workspace};
use serde_json::Value;

fn config(create_timeout: &str) -> String {
    format!(
        r#"
resource "vixens_cilium" "cni" {{
  kubeconfig         = file("${{path.module}}/kubeconfig")
  version            = "1.20.0"
  kubernetes_version = "1.33.1"
  cluster_name       = "resume"
  hubble {{
    enabled = true
    relay   = true
  }}
  timeouts {{
    create = "{create_timeout}"
  }}
}}
"#
    )
}

fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    match lower.as_str() {
        k if k.ends_with("ss") => format!("{k}es"),
        k if k.ends_with('y') => format!("{}ies", &k[..k.len() - 1]),
        k => format!("{k}s"),
    }
}

/// The uid of every object in the state's inventory, by object.
fn uids(ws: &Workspace, emu: &Emu) -> BTreeMap<String, String> {
    let state = ws.resource("vixens_cilium.cni").expect("state");
    let inventory: Vec<Value> =
        serde_json::from_str(state["inventory"].as_str().unwrap_or("[]")).unwrap();
    inventory
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default();
            let ns = Some(s("namespace")).filter(|n| !n.is_empty());
            let live = emu
                .get(
                    s("apiVersion"),
                    s("kind"),
                    &plural(s("kind")),
                    ns,
                    s("name"),
                )
                .unwrap_or_else(|| panic!("{r} is gone"));
            (
                format!("{} {}/{}", s("kind"), s("namespace"), s("name")),
                live["metadata"]["uid"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_failed_create_is_continued_not_reinstalled() {
    // Workloads take 6 s to roll out: a 4 s create timeout ends in the wait, after the objects were applied.
    let emu = start_emulator_with("127.0.151.20", Duration::from_secs(6));
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let ws = Workspace::new(&tf, &config("4s"));
    std::fs::write(ws.path().join("kubeconfig"), &emu.kubeconfig).unwrap();
    ws.init();
    let failed = ws.run(&["apply", "-auto-approve", "-input=false"]);
    assert_eq!(
        failed.code,
        1,
        "the create should time out:\n{}",
        failed.all()
    );
    let entry = ws
        .resource_entry("vixens_cilium.cni")
        .expect("the failed create is in state");
    assert_eq!(entry["tainted"], true, "{entry}");
    let before = uids(&ws, &emu);
    assert!(!before.is_empty(), "the failed create applied nothing");
    let ca = entry["values"]["hubble_ca_certificate"].clone();
    assert!(ca.is_string(), "{entry}");

    // The next plan replaces the tainted object (Terraform's rule) and says the install is continued.
    ws.write_config(&config("120s"));
    let plan = ws.ok(&["plan", "-input=false"]);
    let text = plan.all().replace('\n', " ");
    assert!(
        text.contains("Continuing an incomplete Cilium install"),
        "{}",
        plan.all()
    );
    ws.apply();
    let after = uids(&ws, &emu);
    for (object, uid) in &before {
        assert_eq!(
            after.get(object),
            Some(uid),
            "{object} was deleted and created again"
        );
    }
    let entry = ws.resource_entry("vixens_cilium.cni").unwrap();
    assert_ne!(entry["tainted"], true, "{entry}");
    assert_eq!(
        entry["values"]["hubble_ca_certificate"], ca,
        "Hubble CA kept"
    );
    assert_eq!(ws.plan_exit_code(), 0, "plan after the continued install");

    // A user's own taint still means: delete and install again.
    ws.ok(&["taint", "vixens_cilium.cni"]);
    ws.apply();
    let agent = "DaemonSet kube-system/cilium";
    assert_ne!(
        uids(&ws, &emu).get(agent),
        after.get(agent),
        "tainted by hand: reinstalled"
    );
    assert_eq!(ws.plan_exit_code(), 0, "plan after the reinstall");
}
