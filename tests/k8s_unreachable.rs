//! Through Terraform 1.0.3 (issue 16 item 5): `vixens_cilium` and `vixens_argocd_bootstrap` while their
//! Kubernetes API is down. A refresh keeps the prior state with a warning within `timeouts.read`; a
//! `terraform destroy -refresh=false` completes within the same bound with a warning naming the objects it could
//! not delete. The API runs in-process on 127.0.216.5:6443; "down" is its listener closed (connection refused)
//! or every request answered 503 (an API server whose storage is gone).

mod common;
#[path = "argocd_bootstrap/support.rs"]
mod support;

use std::time::{Duration, Instant};

use common::{Terraform, Workspace};
use support::Env;
use vixens::emulator::kube::KubeFault;

const IP: &str = "127.0.216.5";

/// The smallest install `vixens_argocd_bootstrap` accepts and the emulator brings to Synced/Healthy: the
/// Application CRD and the application controller.
const MINI_ARGOCD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: applications.argoproj.io
spec:
  group: argoproj.io
  names: {kind: Application, listKind: ApplicationList, plural: applications, singular: application, shortNames: [app]}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: argocd-application-controller
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: argocd-application-controller
spec:
  replicas: 1
  serviceName: argocd-application-controller
  selector:
    matchLabels: {app.kubernetes.io/name: argocd-application-controller}
  template:
    metadata:
      labels: {app.kubernetes.io/name: argocd-application-controller}
    spec:
      serviceAccountName: argocd-application-controller
      containers:
      - name: argocd-application-controller
        image: quay.io/argoproj/argocd:v3.5.1
"#;

fn config(read: &str) -> String {
    format!(
        r#"
resource "vixens_cilium" "cni" {{
  kubeconfig   = file("${{path.module}}/kubeconfig")
  version      = "1.19.6"
  cluster_name = "down"
  timeouts {{
    read = "{read}"
  }}
}}

resource "vixens_argocd_bootstrap" "argocd" {{
  kubeconfig       = file("${{path.module}}/kubeconfig")
  version          = "v3.5.1"
  install_manifest = file("${{path.module}}/install.yaml")
  repository {{
    url             = "https://github.com/vixens/gitops.git"
    target_revision = "dev"
    path            = "argocd/overlays/dev"
  }}
  timeouts {{
    read = "{read}"
  }}
  depends_on = [vixens_cilium.cni]
}}
"#
    )
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Runs `terraform <args>` and returns its output and how long it took.
fn timed(ws: &Workspace, args: &[&str]) -> (common::Output, Duration) {
    let started = Instant::now();
    let out = blocking(|| ws.run(args));
    (out, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_and_destroy_with_the_api_down_end_within_the_read_bound() {
    let Some(tf) = Terraform::get("1.0.3") else {
        return;
    };
    let mut env = Env::start(IP, 20).await;
    let ws = Workspace::new(&tf, &config("8s"));
    std::fs::write(ws.path().join("kubeconfig"), &env.kubeconfig).unwrap();
    std::fs::write(ws.path().join("install.yaml"), MINI_ARGOCD).unwrap();
    blocking(|| ws.init());
    blocking(|| ws.apply());
    let bound = Duration::from_secs(8);
    // Terraform's own start, plan and provider start-up on a loaded machine.
    let slack = Duration::from_secs(25);

    // 1. The API answers 503 to everything: the refresh keeps both states, warns, and the plan is empty.
    env.cluster
        .set_fault(KubeFault::Errors5xx { count: 1_000_000 });
    let (out, took) = timed(&ws, &["plan", "-detailed-exitcode", "-input=false"]);
    eprintln!(
        "plan with the API answering 503: {took:?}, exit {}\n{}",
        out.code,
        out.all()
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let text = out.all();
    assert!(
        text.contains("vixens_cilium.cni") && text.contains("vixens_argocd_bootstrap.argocd"),
        "{text}"
    );
    assert!(text.contains("Kubernetes API unreachable"), "{text}");
    assert!(took < bound + slack, "{took:?}");
    env.cluster.clear_faults();

    // 2. The API server is gone (connection refused): the same.
    env.server.take().unwrap().shutdown().await;
    let (out, took) = timed(&ws, &["plan", "-detailed-exitcode", "-input=false"]);
    eprintln!(
        "plan with the API refusing connections: {took:?}, exit {}",
        out.code
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.all().contains("Kubernetes API unreachable"),
        "{}",
        out.all()
    );
    assert!(took < bound + slack, "{took:?}");

    // 3. Destroy without refresh: completes, naming what it could not delete; the state is empty.
    let (out, took) = timed(
        &ws,
        &["destroy", "-auto-approve", "-input=false", "-refresh=false"],
    );
    eprintln!(
        "destroy -refresh=false with the API down: {took:?}, exit {}\n{}",
        out.code,
        out.all()
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let text = out.all();
    assert!(
        text.contains("DaemonSet kube-system/cilium")
            && text.contains("StatefulSet argocd/argocd-application-controller")
            && text.contains("not deleted"),
        "{text}"
    );
    assert!(took < bound * 2 + slack, "{took:?}");
    assert!(blocking(|| ws.resource("vixens_cilium.cni")).is_none());
    assert!(blocking(|| ws.resource("vixens_argocd_bootstrap.argocd")).is_none());
}

const TALOS_PREFIX: &str = "127.0.228";

/// A one-node Talos cluster and Cilium; with `after_cilium`, Cilium reads the kubeconfig from a file and the
/// cluster depends on Cilium, so a destroy resets the cluster first.
fn talos_config(after_cilium: bool) -> String {
    let (kubeconfig, depends) = if after_cilium {
        (
            "sensitive(file(\"${path.module}/kubeconfig\"))",
            "depends_on = [vixens_cilium.cni]",
        )
    } else {
        ("vixens_talos_cluster.c.kubeconfig", "")
    };
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name                       = "gone"
  endpoint                           = "https://{TALOS_PREFIX}.100:6443"
  talos_version                      = "1.12"
  allow_scheduling_on_control_planes = true
  nodes {{
    name    = "cp1"
    address = "{TALOS_PREFIX}.11"
    role    = "controlplane"
    link {{
      name = "eth0"
      vlan {{
        vlan_id   = 111
        addresses = ["{TALOS_PREFIX}.11/24"]
        vip       = "{TALOS_PREFIX}.100"
      }}
    }}
  }}
  {depends}
}}

resource "vixens_cilium" "cni" {{
  kubeconfig   = {kubeconfig}
  version      = "1.19.6"
  cluster_name = "gone"
  timeouts {{
    read   = "60s"
    delete = "90s"
  }}
}}
"#
    )
}

/// The Talos cluster of a Cilium is destroyed first in the same run: Cilium's delete does not wait for the API
/// that went with it (the run knows it is gone), and completes with a warning.
#[test]
fn destroy_after_the_talos_cluster_in_the_same_run_does_not_wait_for_its_api() {
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let _emulator = common::emulator::EmulatorProcess::start(
        &format!("nodes:\n- {{name: cp1, address: {TALOS_PREFIX}.11}}\ntimings: {{install_delay: 0ms, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms}}\n"),
        None,
    );
    let ws = Workspace::new(&tf, &talos_config(false));
    ws.init();
    ws.apply();
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    std::fs::write(
        ws.path().join("kubeconfig"),
        values["kubeconfig"].as_str().unwrap(),
    )
    .unwrap();
    ws.write_config(&talos_config(true));
    let plan = ws.run(&["plan", "-detailed-exitcode", "-input=false"]);
    assert_eq!(
        plan.code,
        0,
        "same kubeconfig, other source:\n{}",
        plan.all()
    );
    let started = Instant::now();
    let out = ws.destroy();
    let took = started.elapsed();
    eprintln!("destroy, Talos cluster first: {took:?}\n{}", out.all());
    let text = out.all();
    assert!(
        text.contains("vixens_cilium is removed from the state")
            && text.contains("DaemonSet kube-system/cilium"),
        "{text}"
    );
    // Without knowing the cluster is gone, Cilium's delete would try its API for `timeouts.read` (60 s).
    assert!(took < Duration::from_secs(45), "{took:?}");
}
