//! Trust on first contact through real Terraform (1.0.3) against the emulator (127.0.178.0/24, Talos v1.12.11):
//! a node the state knows as configured and that answers in maintenance mode again (here: reset behind Terraform's
//! back, as an impostor on its address would look) is refused at plan, naming the node; `reinstall = true` lets the
//! apply send the config, but only to the certificate `cert_fingerprint` pins (a wrong pin fails at once, nothing
//! sent); with the right pin the node takes its config and, its etcd data being gone with every control plane,
//! etcd is bootstrapped again (with a warning) and the next plan is empty.

mod common;

use common::emulator::EmulatorProcess;
use common::{Terraform, Workspace};
use std::time::{Duration, Instant};
use vixens::talos::client::tls::SpkiFingerprint;
use vixens::talos::client::{MachineStage, Security, TalosClient};
use vixens::talos::ops::{self, Credentials};
use vixens::talos::secrets::SecretsBundle;

const PREFIX: &str = "127.0.178";
const ADDR: &str = "127.0.178.11";

fn config(node_extra: &str) -> String {
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name  = "trust"
  endpoint      = "https://{ADDR}:6443"
  talos_version = "1.12"
  allow_scheduling_on_control_planes = true
  nodes {{
    name    = "cp1"
    address = "{ADDR}"
    role    = "controlplane"
    {node_extra}
    link {{
      name      = "eth0"
      addresses = ["{ADDR}/24"]
    }}
  }}
  timeouts {{
    create = "120s"
    update = "120s"
    delete = "60s"
  }}
}}
"#
    )
}

fn stage(rt: &tokio::runtime::Runtime) -> MachineStage {
    rt.block_on(async {
        TalosClient::connect(ADDR, &Security::Maintenance, Duration::from_secs(5))
            .unwrap()
            .machine_stage()
            .await
            .unwrap_or(MachineStage::Unknown)
    })
}

/// The fingerprint the node presents in maintenance mode, as the error of a wrong pin names it.
fn presented_fingerprint(rt: &tokio::runtime::Runtime) -> String {
    let wrong = SpkiFingerprint([7; 32]);
    let e = rt
        .block_on(async {
            TalosClient::connect(
                ADDR,
                &Security::MaintenancePinned(wrong),
                Duration::from_secs(5),
            )
            .unwrap()
            .version_resource()
            .await
        })
        .unwrap_err()
        .to_string();
    let presented = e
        .split("the node presents ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no fingerprint in {e}"));
    SpkiFingerprint::parse(presented).unwrap().to_string()
}

#[test]
fn a_configured_node_back_in_maintenance_gets_its_keys_only_with_consent_and_the_pinned_certificate(
) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _emu = EmulatorProcess::start(
        &format!(
            "nodes:\n- {{name: cp1, address: {ADDR}, talos_version: v1.12.11}}\n\
             timings: {{install_delay: 0ms, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms}}\n"
        ),
        None,
    );
    let _ = PREFIX;
    let tf = Terraform::cached("1.0.3");
    let ws = Workspace::new(&tf, &config(""));
    ws.init();
    ws.apply();
    assert_eq!(ws.plan_exit_code(), 0);

    // Reset behind Terraform's back (talosctl reset with the admin certificate): maintenance mode, etcd gone.
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    let secrets = SecretsBundle::from_yaml(values["machine_secrets"].as_str().unwrap()).unwrap();
    let creds = Credentials::from_secrets(&secrets).unwrap();
    rt.block_on(async {
        creds.client(ADDR).unwrap().reset(false).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while ops::maintenance_version(ADDR).await.is_err() {
            assert!(Instant::now() < deadline, "never back in maintenance mode");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });

    // 1. The plan refuses to send the cluster's keys to an unauthenticated node.
    let refused = ws.fails(&["plan", "-input=false", "-lock=false"]);
    let text = refused.all();
    assert!(
        text.contains("Node \"cp1\" was configured and now answers in maintenance mode"),
        "{text}"
    );
    assert!(text.contains("reinstall = true"), "{text}");
    assert_eq!(stage(&rt), MachineStage::Maintenance);

    // 2. A malformed pin is refused at validate, at its attribute.
    ws.write_config(&config(
        "reinstall = true\n    cert_fingerprint = \"not-a-fingerprint\"",
    ));
    let invalid = ws.fails(&["validate"]);
    assert!(
        invalid.all().contains("Invalid certificate fingerprint"),
        "{}",
        invalid.all()
    );

    // 3. Consent with a pin of another certificate: the apply stops at once, nothing is sent.
    let other = SpkiFingerprint([9; 32]).to_string();
    ws.write_config(&config(&format!(
        "reinstall = true\n    cert_fingerprint = \"{other}\""
    )));
    let started = Instant::now();
    let mismatch = ws.fails(&["apply", "-auto-approve", "-input=false", "-lock=false"]);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{}",
        mismatch.all()
    );
    assert!(
        mismatch.all().contains("fingerprint mismatch"),
        "{}",
        mismatch.all()
    );
    assert_eq!(stage(&rt), MachineStage::Maintenance, "nothing was sent");

    // 4. Consent with the node's own certificate: the config goes, etcd is bootstrapped again, the plan is empty.
    let pin = presented_fingerprint(&rt);
    assert_eq!(
        pin,
        presented_fingerprint(&rt),
        "the maintenance certificate is stable"
    );
    ws.run(&["plan", "-input=false", "-lock=false"]);
    assert_eq!(pin, presented_fingerprint(&rt), "stable across a plan");
    ws.write_config(&config(&format!(
        "reinstall = true\n    cert_fingerprint = \"{pin}\""
    )));
    let applied = ws.apply();
    assert!(
        applied.all().contains("etcd was bootstrapped again"),
        "{}",
        applied.all()
    );
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    assert_eq!(values["node_status"]["cp1"]["stage"], "running");
    assert_eq!(values["etcd_members"], serde_json::json!(["cp1"]));
    assert_eq!(ws.plan_exit_code(), 0);
    ws.destroy();
}
