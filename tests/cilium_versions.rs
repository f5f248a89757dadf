//! `vixens_cilium` across Cilium releases, through the real Terraform CLI against the Kubernetes API emulator
//! (loopback only): a fresh install of each supported line (1.18, 1.19, 1.20) with an empty plan after it and a
//! destroy that removes it; in-place minor upgrades 1.17 -> 1.18 -> 1.19 -> 1.20 with a patch upgrade on the way, each
//! followed by an empty plan; a skipped minor and a downgrade refused at plan with the reason; a configuration
//! change that rolls the agents (their pod template carries the new config digest) and shows in the plan;
//! `roll_out_pods = false`; the Kubernetes compatibility warning; and a resource whose create never reached the
//! API server read and destroyed without contacting any cluster.

mod cilium_emu;
mod common;

use std::time::{Duration, Instant};

use cilium_emu::{start_emulator_at, Emu};
use common::{Terraform, Workspace};
use serde_json::Value;

/// The configuration: `version`, the Kubernetes version it is checked against, and extra lines.
fn config(version: &str, kubernetes: &str, extra: &str) -> String {
    format!(
        r#"
resource "vixens_cilium" "cni" {{
  kubeconfig         = file("${{path.module}}/kubeconfig")
  version            = "{version}"
  kubernetes_version = "{kubernetes}"
  cluster_name       = "dev"
{extra}
  hubble {{
    enabled = true
    relay   = true
    ui      = true
  }}
  l2_announcements {{
    enabled    = true
    interfaces = ["^eth[0-9]+"]
  }}
  load_balancer_ip_pools {{
    name = "assigned"
    blocks {{
      start = "192.168.208.70"
      stop  = "192.168.208.79"
    }}
  }}
}}
"#
    )
}

fn get(emu: &Emu, api_version: &str, kind: &str, plural: &str, name: &str) -> Option<Value> {
    let namespaced = !kind.starts_with("Cluster");
    emu.get(
        api_version,
        kind,
        plural,
        namespaced.then_some("kube-system"),
        name,
    )
}

fn agent(emu: &Emu) -> Value {
    get(emu, "apps/v1", "DaemonSet", "daemonsets", "cilium").expect("DaemonSet cilium")
}

fn agent_image(emu: &Emu) -> String {
    agent(emu)["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn agent_digest_annotation(emu: &Emu) -> Option<String> {
    agent(emu)["spec"]["template"]["metadata"]["annotations"]["cilium.io/cilium-configmap-checksum"]
        .as_str()
        .map(str::to_string)
}

fn cilium_config(emu: &Emu) -> Value {
    get(emu, "v1", "ConfigMap", "configmaps", "cilium-config").expect("cilium-config")["data"]
        .clone()
}

fn assert_plan_empty(ws: &Workspace, step: &str) {
    let out = ws.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(out.code, 0, "{step}: plan is not empty:\n{}", out.all());
    assert!(
        !out.all().contains("outside Cilium's tested range"),
        "{step}: unexpected compatibility warning:\n{}",
        out.all()
    );
}

/// Applies `version` and checks the agent runs its image and the next plan is empty.
fn upgrade(ws: &Workspace, emu: &Emu, version: &str, kubernetes: &str) {
    ws.write_config(&config(version, kubernetes, ""));
    let started = Instant::now();
    ws.apply();
    eprintln!("apply of {version} took {:?}", started.elapsed());
    let image = agent_image(emu);
    assert!(
        image.starts_with(&format!("quay.io/cilium/cilium:v{version}")),
        "{version}: agent image {image}"
    );
    let state = ws.resource("vixens_cilium.cni").expect("state");
    assert_eq!(state["installed_version"], version);
    assert_plan_empty(ws, version);
}

fn plan_error(ws: &Workspace, version: &str, kubernetes: &str) -> String {
    ws.write_config(&config(version, kubernetes, ""));
    let out = ws.run(&["plan", "-input=false", "-no-color"]);
    assert_eq!(out.code, 1, "plan to {version} should fail:\n{}", out.all());
    out.all()
}

#[test]
fn upgrades_one_minor_at_a_time_and_config_changes_roll_the_agents() {
    let emu = start_emulator_at("127.0.113.19");
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let ws = Workspace::new(&tf, &config("1.17.0", "1.32.3", ""));
    std::fs::write(ws.path().join("kubeconfig"), &emu.kubeconfig).unwrap();
    ws.init();
    ws.apply();
    assert!(agent_image(&emu).contains(":v1.17.0@sha256:"));
    assert_eq!(cilium_config(&emu)["enable-experimental-lb"], "false");
    assert_plan_empty(&ws, "1.17.0");

    // Skipping 1.18 is refused at plan, with the way forward.
    let skip = plan_error(&ws, "1.19.6", "1.32.3");
    assert!(
        skip.contains("one minor release at a time") && skip.contains("1.18.x first"),
        "{skip}"
    );

    // 1.17 -> 1.18.11 (a patch without pinned digests: by tag), then the patch upgrade to 1.18.12.
    upgrade(&ws, &emu, "1.18.11", "1.32.3");
    let data = cilium_config(&emu);
    assert!(
        data.get("enable-experimental-lb").is_none(),
        "a key the 1.18 chart no longer writes is removed"
    );
    assert_eq!(data["enable-drift-checker"], "true");
    upgrade(&ws, &emu, "1.18.12", "1.32.3");
    assert!(agent_image(&emu).contains(":v1.18.12@sha256:"));

    // 1.19 adds the operator's ztunnel Role and RoleBinding.
    upgrade(&ws, &emu, "1.19.6", "1.33.1");
    let ztunnel = get(
        &emu,
        "rbac.authorization.k8s.io/v1",
        "Role",
        "roles",
        "cilium-operator-ztunnel",
    );
    assert!(ztunnel.is_some(), "Role cilium-operator-ztunnel");
    assert_eq!(cilium_config(&emu)["unmanaged-pod-watcher-interval"], "15s");

    upgrade(&ws, &emu, "1.20.0", "1.33.1");
    let ui_role = get(
        &emu,
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        "clusterroles",
        "hubble-ui",
    )
    .expect("ClusterRole hubble-ui");
    assert_eq!(ui_role["rules"].as_array().map(Vec::len), Some(2));
    let inventory: Vec<Value> = serde_json::from_str(
        ws.resource("vixens_cilium.cni").unwrap()["inventory"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(inventory.len(), 36 + 1, "chart objects and the pool");

    // Back to 1.19 is refused at plan.
    let down = plan_error(&ws, "1.19.6", "1.33.1");
    assert!(down.contains("older minor 1.19.6"), "{down}");

    // A Kubernetes version outside 1.20's tested range is a warning naming both versions.
    ws.write_config(&config("1.20.0", "1.31.4", ""));
    let out = ws.run(&["plan", "-input=false", "-no-color"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let all = out.all().replace('\n', " ");
    assert!(
        all.contains("outside Cilium's tested range")
            && all.contains("Cilium 1.20.0")
            && all.contains("1.31.4"),
        "{}",
        out.all()
    );

    // A config change rolls the agents: the plan shows config_digest, the pod template's digest changes.
    let before = agent_digest_annotation(&emu).expect("digest annotation on the agent template");
    let generation = agent(&emu)["metadata"]["generation"].as_i64();
    let extra = "  extra_config = { \"bpf-ct-timeout-regular-any\" = \"2m\" }\n";
    ws.write_config(&config("1.20.0", "1.33.1", extra));
    let plan = ws.run(&["plan", "-input=false", "-no-color"]);
    assert!(
        plan.stdout.contains("config_digest"),
        "the plan shows the digest change:\n{}",
        plan.stdout
    );
    ws.apply();
    let after = agent_digest_annotation(&emu).expect("digest annotation");
    assert_ne!(before, after, "the agents' pod template changed");
    assert_ne!(agent(&emu)["metadata"]["generation"].as_i64(), generation);
    assert_eq!(
        ws.resource("vixens_cilium.cni").unwrap()["config_digest"],
        after.as_str()
    );
    assert_eq!(cilium_config(&emu)["bpf-ct-timeout-regular-any"], "2m");
    assert_plan_empty(&ws, "extra_config");

    // roll_out_pods = false: no digest in the pod templates.
    let extra_off = format!("{extra}  roll_out_pods = false\n");
    ws.write_config(&config("1.20.0", "1.33.1", &extra_off));
    ws.apply();
    assert_eq!(agent_digest_annotation(&emu), None);
    assert_plan_empty(&ws, "roll_out_pods = false");

    ws.destroy();
    assert!(get(&emu, "apps/v1", "DaemonSet", "daemonsets", "cilium").is_none());
}

/// A fresh install of each supported line, on a Kubernetes version inside its tested range: the agents run the
/// line's image, the plan after it is empty, destroy removes it (so the next line installs fresh).
#[test]
fn fresh_install_of_each_supported_line() {
    let emu = start_emulator_at("127.0.151.10");
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let ws = Workspace::new(&tf, &config("1.18.12", "1.32.3", ""));
    std::fs::write(ws.path().join("kubeconfig"), &emu.kubeconfig).unwrap();
    ws.init();
    for (version, kubernetes, objects) in [
        ("1.18.12", "1.32.3", 34),
        ("1.19.6", "1.33.1", 36),
        ("1.20.0", "1.33.1", 36),
    ] {
        ws.write_config(&config(version, kubernetes, ""));
        ws.apply();
        assert!(
            agent_image(&emu).starts_with(&format!("quay.io/cilium/cilium:v{version}@sha256:")),
            "{version}: {}",
            agent_image(&emu)
        );
        let state = ws.resource("vixens_cilium.cni").expect("state");
        assert_eq!(state["installed_version"], version);
        let inventory: Vec<Value> =
            serde_json::from_str(state["inventory"].as_str().unwrap()).unwrap();
        assert_eq!(
            inventory.len(),
            objects + 1,
            "{version}: chart objects and the pool"
        );
        assert_plan_empty(&ws, version);
        ws.destroy();
        assert!(
            get(&emu, "apps/v1", "DaemonSet", "daemonsets", "cilium").is_none(),
            "{version}: destroyed"
        );
    }
}

/// A create that never reached the API server (nothing listens on the kubeconfig's address) leaves an empty
/// inventory in state: refresh and destroy then succeed without contacting any cluster.
#[test]
fn a_create_that_never_reached_the_cluster_is_read_and_destroyed_offline() {
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    // No emulator: 127.0.113.21:6443 refuses connections. A self-contained kubeconfig without credentials.
    let kubeconfig = "apiVersion: v1\nkind: Config\nclusters:\n- name: none\n  cluster:\n    server: https://127.0.113.21:6443\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: c\n  context:\n    cluster: none\n    user: u\ncurrent-context: c\n";
    let extra = "  timeouts {\n    create = \"3s\"\n  }\n";
    let ws = Workspace::new(&tf, &config("1.20.0", "1.33.1", extra));
    std::fs::write(ws.path().join("kubeconfig"), kubeconfig).unwrap();
    ws.init();
    let out = ws.run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let state = ws
        .resource("vixens_cilium.cni")
        .expect("the failed create is in state");
    assert_eq!(state["inventory"], "[]");
    let started = Instant::now();
    ws.ok(&["refresh", "-input=false"]);
    ws.destroy();
    assert!(ws.resource("vixens_cilium.cni").is_none());
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "refresh and destroy took {:?}: they waited for a cluster",
        started.elapsed()
    );
}
