//! The Terraform tree (terraform/modules, terraform/environments) and examples/ through a real Terraform:
//! `fmt -check`, `validate` of every environment and example, and `plan` with no state of dev, test, staging and
//! prod (with the LB IPAM pools and L2 policy each plans, and the iscsi-tools system
//! extension). Those environments carry real homelab addresses:
//! planning them makes no connection: the plan-time node checks are off (`VIXENS_CHECK_NODES_AT_PLAN=false`, as a
//! CI plan without the hardware runs them; the provider log shows no node check), the resources connect only in
//! apply and read, and there is no state to read.

mod common;

use std::path::{Path, PathBuf};

use common::{repo_root, Terraform, Workspace};

/// Copies `src` into `dst` (files and folders; `.terraform` and state files left out).
fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for entry in std::fs::read_dir(src).expect("read dir").flatten() {
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str.starts_with(".terraform") || name_str.contains(".tfstate") {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &dst.join(&name));
        } else {
            std::fs::copy(&path, dst.join(&name)).expect("copy file");
        }
    }
}

/// A workspace holding a copy of terraform/ and examples/ (so runs never write into the repository), whose plans
/// connect to no node (plan-time node checks off; provider debug log on, to show it).
fn tree_workspace(tf: &Terraform) -> Workspace {
    let mut ws = Workspace::new(tf, "");
    ws.set_env("VIXENS_CHECK_NODES_AT_PLAN", "false");
    ws.set_env("TF_LOG_PROVIDER", "debug");
    std::fs::remove_file(ws.path().join("main.tf")).expect("rm main.tf");
    copy_tree(&repo_root().join("terraform"), &ws.path().join("terraform"));
    copy_tree(&repo_root().join("examples"), &ws.path().join("examples"));
    ws
}

fn has_tf_files(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "tf"))
        })
        .unwrap_or(false)
}

/// Every example folder with .tf files, relative to the workspace; resource examples get the provider example
/// beside them, as a user copying both would have.
fn example_dirs(ws: &Workspace) -> Vec<PathBuf> {
    let mut dirs = vec![
        PathBuf::from("examples/provider"),
        PathBuf::from("examples/complete"),
    ];
    // Data sources too (ephemeral resources need Terraform >= 1.10, which these tests do not run).
    let kinds = ["examples/resources", "examples/data-sources"];
    let entries = kinds.iter().flat_map(|kind| {
        std::fs::read_dir(ws.path().join(kind))
            .unwrap_or_else(|e| panic!("{kind}: {e}"))
            .flatten()
            .map(move |entry| PathBuf::from(kind).join(entry.file_name()))
    });
    for rel in entries.collect::<Vec<_>>() {
        // `import {}` blocks (Terraform >= 1.5) are documentation for newer CLIs than these tests run.
        let _ = std::fs::remove_file(ws.path().join(&rel).join("import-by-string-id.tf"));
        std::fs::copy(
            ws.path().join("examples/provider/provider.tf"),
            ws.path().join(&rel).join("provider.tf"),
        )
        .expect("copy provider.tf");
        dirs.push(rel);
    }
    dirs.retain(|d| has_tf_files(&ws.path().join(d)));
    dirs
}

const ENVIRONMENTS: [&str; 5] = ["dev", "test", "staging", "prod", "local"];

#[test]
fn terraform_fmt_check() {
    let tf = Terraform::cached("1.0.3");
    let ws = tree_workspace(&tf);
    for dir in ["terraform", "examples"] {
        let out = ws.run(&["fmt", "-check", "-recursive", "-diff", dir]);
        assert_eq!(out.code, 0, "terraform fmt -check {dir}:\n{}", out.all());
    }
}

#[test]
fn every_environment_and_example_validates() {
    for tf in [Terraform::cached("1.0.3"), Terraform::cached("0.15.0-rc2")] {
        let ws = tree_workspace(&tf);
        let mut dirs: Vec<PathBuf> = ENVIRONMENTS
            .iter()
            .map(|e| PathBuf::from("terraform/environments").join(e))
            .collect();
        dirs.extend(example_dirs(&ws));
        for dir in dirs {
            let chdir = format!("-chdir={}", dir.display());
            ws.ok(&[&chdir, "init", "-input=false", "-backend=false"]);
            let out = ws.run(&[&chdir, "validate"]);
            assert_eq!(
                out.code,
                0,
                "terraform {} validate {}:\n{}",
                tf.version,
                dir.display(),
                out.all()
            );
        }
    }
}

/// The LB IPAM objects `vixens_cilium` plans in an environment: pools "assigned" (Services labelled
/// `lb.vixens.io/pool = assigned`, .70-.79 of the services VLAN) and "auto" (every Service, .80-.89), and the
/// L2 policy on `eth0.<vlan>`, created at bootstrap and handed off to the GitOps tree's `cilium-lb` app
/// (`lb_ipam_hand_off`; tests/gitops.rs checks that the tree holds the same objects).
fn assert_lb_ipam_planned(env: &str, vlan: u16, plan: &serde_json::Value) {
    let cilium = plan["resource_changes"]
        .as_array()
        .expect("resource_changes")
        .iter()
        .find(|c| c["address"] == "module.cilium.vixens_cilium.this")
        .unwrap_or_else(|| panic!("{env}: no module.cilium.vixens_cilium.this in the plan"));
    let after = &cilium["change"]["after"];
    assert_eq!(after["lb_ipam_hand_off"], true, "{env}");
    let pools = after["load_balancer_ip_pools"].as_array().expect("pools");
    let pool = |name: &str| {
        pools
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{env}: no pool {name}: {pools:?}"))
    };
    assert_eq!(pools.len(), 2, "{env}: {pools:?}");
    let assigned = pool("assigned");
    assert_eq!(
        assigned["service_selector"],
        serde_json::json!({"lb.vixens.io/pool": "assigned"}),
        "{env}"
    );
    assert_eq!(assigned["blocks"][0]["start"], format!("192.168.{vlan}.70"));
    assert_eq!(assigned["blocks"][0]["stop"], format!("192.168.{vlan}.79"));
    let auto = pool("auto");
    assert!(auto["service_selector"].is_null(), "{env}: {auto}");
    assert_eq!(auto["blocks"][0]["start"], format!("192.168.{vlan}.80"));
    assert_eq!(auto["blocks"][0]["stop"], format!("192.168.{vlan}.89"));
    let l2 = &after["l2_announcements"];
    let l2 = if l2.is_array() { &l2[0] } else { l2 };
    assert_eq!(
        l2["subnets"],
        serde_json::json!([format!("192.168.{vlan}.0/24")]),
        "{env}: the services VLAN's subnet, from the nodes"
    );
    let policy = &after["l2_policy"];
    let policy = if policy.is_array() {
        &policy[0]
    } else {
        policy
    };
    assert_eq!(
        policy["interfaces"],
        serde_json::json!([format!("^eth0\\.{vlan}$")]),
        "{env}"
    );
}

/// The modules give each resource explicit `timeouts` (real machines are slower than the provider's defaults
/// assume for an update), and the cluster the answer window for nodes that never answer.
fn assert_timeouts_planned(env: &str, plan: &serde_json::Value) {
    let after = |address: &str| {
        plan["resource_changes"]
            .as_array()
            .expect("resource_changes")
            .iter()
            .find(|c| c["address"] == address)
            .unwrap_or_else(|| panic!("{env}: no {address}"))["change"]["after"]
            .clone()
    };
    for (address, create, update, delete) in [
        (
            "module.talos.vixens_talos_cluster.this",
            "30m",
            "60m",
            "15m",
        ),
        ("module.cilium.vixens_cilium.this", "20m", "20m", "10m"),
        (
            "module.argocd.vixens_argocd_bootstrap.this",
            "20m",
            "20m",
            "10m",
        ),
    ] {
        let a = after(address);
        let t = if a["timeouts"].is_array() {
            a["timeouts"][0].clone()
        } else {
            a["timeouts"].clone()
        };
        assert_eq!(
            (&t["create"], &t["update"], &t["delete"]),
            (
                &serde_json::json!(create),
                &serde_json::json!(update),
                &serde_json::json!(delete)
            ),
            "{env}: {address}"
        );
    }
    assert_eq!(
        after("module.talos.vixens_talos_cluster.this")["unreachable_timeout"],
        "2m",
        "{env}"
    );
}

#[test]
fn real_environments_plan_with_no_state() {
    let tf = Terraform::cached("1.0.3");
    let ws = tree_workspace(&tf);
    for (env, vlan) in [("dev", 208), ("test", 209), ("staging", 210), ("prod", 211)] {
        let chdir = format!("-chdir=terraform/environments/{env}");
        ws.ok(&[&chdir, "init", "-input=false"]);
        let out = ws.run(&[
            &chdir,
            "plan",
            "-input=false",
            "-lock=false",
            "-refresh=false",
            "-out=tfplan",
        ]);
        assert_eq!(out.code, 0, "plan {env}:\n{}", out.all());
        assert!(
            !out.all().contains("plan: checking the node"),
            "plan {env} connected to a node:\n{}",
            out.all()
        );
        assert!(
            out.stdout
                .contains("Plan: 3 to add, 0 to change, 0 to destroy."),
            "plan {env} should add the cluster, Cilium and Argo CD:\n{}",
            out.stdout
        );
        let shown = ws.ok(&[&chdir, "show", "-json", "tfplan"]);
        let plan: serde_json::Value =
            serde_json::from_str(&shown.stdout).unwrap_or_else(|e| panic!("show -json {env}: {e}"));
        assert_lb_ipam_planned(env, vlan, &plan);
        // The Synology CSI driver needs the host's iscsiadm: every real environment installs iscsi-tools.
        let talos = plan["resource_changes"]
            .as_array()
            .expect("resource_changes")
            .iter()
            .find(|c| c["address"] == "module.talos.vixens_talos_cluster.this")
            .unwrap_or_else(|| panic!("{env}: no module.talos.vixens_talos_cluster.this"));
        assert_eq!(
            talos["change"]["after"]["system_extensions"],
            serde_json::json!(["siderolabs/iscsi-tools"]),
            "{env}"
        );
        assert_timeouts_planned(env, &plan);
    }
}

#[test]
fn an_environment_refuses_a_pool_outside_the_services_vlan() {
    let tf = Terraform::cached("1.0.3");
    let ws = tree_workspace(&tf);
    let tfvars = ws
        .path()
        .join("terraform/environments/dev/terraform.tfvars");
    let text = std::fs::read_to_string(&tfvars).expect("dev tfvars");
    let moved = text.replace(
        "start = \"192.168.208.80\", stop = \"192.168.208.89\"",
        "start = \"10.9.0.80\", stop = \"10.9.0.89\"",
    );
    assert_ne!(moved, text, "the dev pool \"auto\" moved");
    std::fs::write(&tfvars, moved).expect("write tfvars");
    let chdir = "-chdir=terraform/environments/dev";
    ws.ok(&[chdir, "init", "-input=false"]);
    let out = ws.fails(&[
        chdir,
        "plan",
        "-input=false",
        "-lock=false",
        "-refresh=false",
    ]);
    let text = out.all().split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "Pool outside the announced subnets",
        "Pool \"auto\"",
        "10.9.0.80 - 10.9.0.89",
        "192.168.208.0/24",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

#[test]
fn module_rejects_an_even_number_of_control_planes() {
    let tf = Terraform::cached("1.0.3");
    let ws = tree_workspace(&tf);
    let tfvars = ws
        .path()
        .join("terraform/environments/test/terraform.tfvars");
    let text = std::fs::read_to_string(&tfvars).expect("test tfvars");
    // Demote the last of the three control planes to a worker: two remain, an even number.
    let role = "role         = \"controlplane\"";
    let at = text
        .rfind(role)
        .expect("a control plane in the test environment");
    let two = format!(
        "{}role         = \"worker\"{}",
        &text[..at],
        &text[at + role.len()..]
    );
    std::fs::write(&tfvars, two).expect("write tfvars");
    let chdir = "-chdir=terraform/environments/test";
    ws.ok(&[chdir, "init", "-input=false"]);
    let out = ws.fails(&[chdir, "plan", "-input=false", "-lock=false"]);
    assert!(
        out.all().contains("odd number of control planes"),
        "expected the module's validation message:\n{}",
        out.all()
    );
}
