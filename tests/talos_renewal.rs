//! Renewal of the admin client certificates through real Terraform against `vixens-emulator`, with Cilium and
//! Argo CD in the same configuration (issue 16 item 1). The provider of the test build mints a certificate
//! already inside the 30-day renewal window when `VIXENS_TEST_KUBERNETES_CLIENT_CERT_DAYS` /
//! `VIXENS_TEST_TALOS_CLIENT_CERT_DAYS` say so (cargo feature `test-resources` only), so the create mints a due
//! certificate and the next plan, without the variable, renews it for 365 days:
//! - the plan marks unknown exactly the attributes the renewal changes (the Kubernetes certificate: `kubeconfig`,
//!   `kubernetes.client_certificate` and `client_key`; the Talos one: `talosconfig`), and nothing else of them;
//! - the apply of that saved plan succeeds (before: "Provider produced inconsistent result after apply" whenever
//!   the Talos certificate was due, and Cilium and Argo CD were skipped), Cilium and Argo CD take the new
//!   credentials in the same run, and the next plan is empty.
//!
//! Loopback only: 127.0.200.0/24 .. 127.0.203.0/24.

mod common;

use common::emulator::EmulatorProcess;
use common::{Terraform, Workspace};
use serde_json::Value;
use std::time::{Duration, Instant};

const KUBE_DAYS: &str = "VIXENS_TEST_KUBERNETES_CLIENT_CERT_DAYS";
const TALOS_DAYS: &str = "VIXENS_TEST_TALOS_CLIENT_CERT_DAYS";

fn config(prefix: &str, manifest: &str) -> String {
    let kubernetes = r#"kubernetes {
    host               = vixens_talos_cluster.c.kubernetes.host
    ca_certificate     = vixens_talos_cluster.c.kubernetes.ca_certificate
    client_certificate = vixens_talos_cluster.c.kubernetes.client_certificate
    client_key         = vixens_talos_cluster.c.kubernetes.client_key
  }"#;
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name  = "renewal"
  endpoint      = "https://{prefix}.11:6443"
  talos_version = "1.12"
  allow_scheduling_on_control_planes = true
  nodes {{
    name    = "cp1"
    address = "{prefix}.11"
    role    = "controlplane"
    link {{
      name      = "eth0"
      addresses = ["{prefix}.11/24"]
    }}
  }}
  timeouts {{
    create = "120s"
    update = "120s"
    delete = "60s"
  }}
}}

resource "vixens_cilium" "cni" {{
  {kubernetes}
  cluster_name = "renewal"
  timeouts {{
    create = "120s"
    update = "120s"
  }}
}}

resource "vixens_argocd_bootstrap" "argocd" {{
  {kubernetes}
  version          = "v3.5.1"
  install_manifest = file("{manifest}")
  repository {{
    url             = "https://github.com/vixens/gitops.git"
    target_revision = "dev"
    path            = "argocd/overlays/dev"
  }}
  admin_password  = "correct horse battery staple"
  server_insecure = true
  depends_on      = [vixens_cilium.cni]
  timeouts {{
    create = "5m"
    update = "5m"
  }}
}}
"#
    )
}

/// Days until a PEM certificate expires.
fn days_left(pem: &str) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (vixens::talos::pki::cert_not_after(pem).unwrap() - now) / 86_400
}

/// The `os:admin` certificate PEM of a talosconfig.
fn talosconfig_cert(text: &str) -> String {
    use base64::Engine;
    let doc: serde_json::Value = vixens::yaml::from_str(text).unwrap();
    let ctx = &doc["contexts"][doc["context"].as_str().unwrap()];
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(ctx["crt"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap()
}

fn certs(ws: &Workspace) -> (String, String) {
    let v = ws.resource("vixens_talos_cluster.c").unwrap();
    (
        v["kubernetes"]["client_certificate"]
            .as_str()
            .unwrap()
            .to_string(),
        talosconfig_cert(v["talosconfig"].as_str().unwrap()),
    )
}

/// Which certificates are due after the create: (Kubernetes, Talos).
fn renewal(tf: &Terraform, prefix: &str, kube_due: bool, talos_due: bool) {
    let topology = format!(
        "nodes:\n- {{name: cp1, address: {prefix}.11}}\ntimings: {{install_delay: 0ms, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms}}\n"
    );
    let _emu = EmulatorProcess::start(&topology, None);
    let manifest = common::shared_dir()
        .expect("../shared (the Argo CD fixture)")
        .join("fixtures/argocd/v3.5.1/install.yaml");
    assert!(manifest.is_file(), "{} missing", manifest.display());
    let mut ws = Workspace::new(tf, &config(prefix, manifest.to_str().unwrap()));
    let label = format!(
        "terraform {} kube_due={kube_due} talos_due={talos_due}",
        tf.version
    );
    if kube_due {
        ws.set_env(KUBE_DAYS, "10");
    }
    if talos_due {
        ws.set_env(TALOS_DAYS, "10");
    }
    ws.init();
    ws.apply();
    let (kube_before, talos_before) = certs(&ws);
    assert_eq!(days_left(&kube_before) < 30, kube_due, "{label}");
    assert_eq!(days_left(&talos_before) < 30, talos_due, "{label}");
    ws.remove_env(KUBE_DAYS);
    ws.remove_env(TALOS_DAYS);

    // The plan: exactly the attributes of the due certificates are unknown.
    ws.ok(&["plan", "-input=false", "-out=renew.plan"]);
    let shown: Value =
        serde_json::from_str(&ws.ok(&["show", "-json", "renew.plan"]).stdout).unwrap();
    let change = shown["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "vixens_talos_cluster.c")
        .unwrap()["change"]
        .clone();
    assert_eq!(change["actions"], serde_json::json!(["update"]), "{label}");
    let unknown = &change["after_unknown"];
    let flag = |v: &Value| v.as_bool().unwrap_or(false);
    assert_eq!(flag(&unknown["kubeconfig"]), kube_due, "{label}: {unknown}");
    assert_eq!(
        flag(&unknown["kubernetes"]["client_certificate"]),
        kube_due,
        "{label}: {unknown}"
    );
    assert_eq!(
        flag(&unknown["kubernetes"]["client_key"]),
        kube_due,
        "{label}: {unknown}"
    );
    assert!(!flag(&unknown["kubernetes"]["host"]), "{label}: {unknown}");
    assert_eq!(
        flag(&unknown["talosconfig"]),
        talos_due,
        "{label}: {unknown}"
    );
    for kept in [
        "machine_configurations",
        "node_status",
        "etcd_members",
        "machine_secrets",
    ] {
        assert!(
            !flag(&unknown[kept]),
            "{label}: {kept} planned unknown: {unknown}"
        );
    }

    // Its apply: consistent, Cilium and Argo CD follow in the same run, then nothing to do.
    let started = Instant::now();
    let out = ws.ok(&["apply", "-input=false", "renew.plan"]);
    let took = started.elapsed();
    eprintln!("{label}: renewal apply took {took:?}");
    assert!(took < Duration::from_secs(60), "{label}: took {took:?}");
    let (kube_after, talos_after) = certs(&ws);
    assert_eq!(kube_after != kube_before, kube_due, "{label}");
    assert_eq!(talos_after != talos_before, talos_due, "{label}");
    assert!(days_left(&kube_after) > 300, "{label}");
    assert!(days_left(&talos_after) > 300, "{label}");
    let text = out.all();
    for resource in ["vixens_cilium.cni", "vixens_argocd_bootstrap.argocd"] {
        assert_eq!(
            text.contains(&format!("{resource}: Modifications complete")),
            kube_due,
            "{label}: {resource}:\n{text}"
        );
    }
    let cilium = ws.resource("vixens_cilium.cni").unwrap();
    let cilium_cert = &cilium["kubernetes"][0]["client_certificate"];
    assert_eq!(cilium_cert.as_str(), Some(kube_after.as_str()), "{label}");
    assert_eq!(
        ws.plan_exit_code(),
        0,
        "{label}: the plan after the renewal"
    );
}

#[test]
fn renewing_the_kubernetes_certificate_alone() {
    renewal(&Terraform::cached("1.0.3"), "127.0.200", true, false);
}

#[test]
fn renewing_the_talos_certificate_alone() {
    renewal(&Terraform::cached("1.0.3"), "127.0.201", false, true);
}

#[test]
fn renewing_both_certificates() {
    renewal(&Terraform::cached("1.0.3"), "127.0.202", true, true);
    match Terraform::from_path() {
        Some(tf) => renewal(&tf, "127.0.203", true, true),
        None => eprintln!("note: no terraform >= 1.0 on PATH"),
    }
}
