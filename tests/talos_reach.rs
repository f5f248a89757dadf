//! Nodes that do not answer, and waits that name what they saw, through Terraform 1.0.3 (issue 15 item 7, issue 16
//! item 8), on 127.0.231.0/24 and 127.0.232.0/24 only:
//! - a plan checks the nodes that take their first config: one at a closed port fails the plan at its `address`,
//!   naming it and the cause; with `check_nodes_at_plan` off (the environment variable) the plan connects to
//!   nothing (a listener counts the connections, and the provider log has no node check);
//! - an apply gives up on a node that never answered after `unreachable_timeout`, not after the create timeout;
//!   a node that answered and then reboots for longer than that window is still waited for;
//! - a node that took its config and came back in maintenance mode (its install failed) is named as such when the
//!   wait for it times out.

mod common;

use common::emulator::EmulatorProcess;
use common::{Terraform, Workspace};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config(address: &str, provider: &str, create_timeout: &str, window: &str) -> String {
    let host = address.split(':').next().unwrap_or(address);
    format!(
        r#"
provider "vixens" {{
  {provider}
}}

resource "vixens_talos_cluster" "c" {{
  cluster_name        = "reach"
  endpoint            = "https://{host}:6443"
  talos_version       = "1.12"
  unreachable_timeout = "{window}"
  allow_scheduling_on_control_planes = true
  nodes {{
    name    = "cp1"
    address = "{address}"
    role    = "controlplane"
    link {{
      name      = "eth0"
      addresses = ["{host}/24"]
    }}
  }}
  timeouts {{
    create = "{create_timeout}"
    delete = "30s"
  }}
}}
"#
    )
}

/// `text` with every run of whitespace made one space (Terraform wraps long messages).
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A listener on the Talos API port of `ip` that accepts connections and never answers; counts them.
fn silent_listener(ip: &str) -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind(format!("{ip}:50000")).unwrap();
    let address = ip.to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (address, count)
}

const CHECKING: &str = "plan: checking the node";

#[test]
fn a_new_node_that_does_not_answer_fails_the_plan_unless_plans_may_not_connect() {
    let tf = Terraform::cached("1.0.3");

    // Nothing listens on 127.0.231.1: the plan fails at once, at the node's address, naming it and the cause.
    let closed = "127.0.231.1";
    let ws = Workspace::new(&tf, &config(closed, "", "60s", "2m"));
    ws.init();
    let started = Instant::now();
    let out = ws.fails(&["plan", "-input=false"]);
    let text = flat(&out.all());
    assert!(started.elapsed() < Duration::from_secs(30), "{text}");
    for needle in [
        "Node \"cp1\" does not answer",
        "Node \"cp1\" at 127.0.231.1 does not answer the Talos API",
        "refused",
        "address = \"",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }

    // A listener that never answers: with the checks off (environment variable) the plan connects to nothing ...
    let (silent, connections) = silent_listener("127.0.231.2");
    let mut ws = Workspace::new(&tf, &config(&silent, "", "60s", "2m"));
    ws.init();
    ws.set_env("VIXENS_CHECK_NODES_AT_PLAN", "false");
    ws.set_env("TF_LOG_PROVIDER", "debug");
    let off = ws.ok(&["plan", "-input=false"]);
    assert!(!off.all().contains(CHECKING), "{}", off.all());
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the plan connected");

    // ... and the provider setting wins over the variable: on, the plan checks the node and fails within seconds.
    ws.write_config(&config(&silent, "check_nodes_at_plan = true", "60s", "2m"));
    let started = Instant::now();
    let on = ws.fails(&["plan", "-input=false"]);
    let text = flat(&on.all());
    assert!(started.elapsed() < Duration::from_secs(30), "{text}");
    assert!(text.contains(CHECKING), "{text}");
    assert!(connections.load(Ordering::SeqCst) > 0);
    assert!(
        text.contains("Node \"cp1\" does not answer") && text.contains("no answer within 3s"),
        "{text}"
    );
}

#[test]
fn an_apply_gives_up_on_a_silent_node_after_its_window_but_waits_for_a_rebooting_one() {
    let tf = Terraform::cached("1.0.3");

    // A node that never answers (plan checks off): the apply fails after the 3 s window, not the 10 min timeout.
    let closed = "127.0.231.3";
    let mut ws = Workspace::new(&tf, &config(closed, "", "10m", "3s"));
    ws.init();
    ws.set_env("VIXENS_CHECK_NODES_AT_PLAN", "false");
    let started = Instant::now();
    let out = ws.fails(&["apply", "-auto-approve", "-input=false"]);
    let text = flat(&out.all());
    assert!(started.elapsed() < Duration::from_secs(60), "{text}");
    for needle in [
        "Cannot apply the machine config to node \"cp1\"",
        "the node at 127.0.231.3 did not answer within 3s",
        "refused",
        "unreachable_timeout",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }

    // A node that answers, takes its config and stays down 6 s to reboot: a 2 s window does not apply to it.
    let address = "127.0.231.11";
    let _emulator = EmulatorProcess::start(
        &format!(
            "nodes:\n- {{name: cp1, address: {address}, talos_version: v1.12.11}}\n\
             timings: {{install_delay: 0ms, reboot_delay: 6s, workload_delay: 0ms, upgrade_delay: 0ms}}\n"
        ),
        None,
    );
    let ws = Workspace::new(&tf, &config(address, "", "120s", "2s"));
    ws.init();
    ws.apply();
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    assert_eq!(values["node_status"]["cp1"]["stage"], "running");
    assert_eq!(ws.plan_exit_code(), 0);
    ws.destroy();
}

#[test]
fn a_wait_that_times_out_names_a_node_back_in_maintenance_after_install() {
    let tf = Terraform::cached("1.0.3");
    let address = "127.0.232.11";
    let _emulator = EmulatorProcess::start(
        &format!(
            "nodes:\n- {{name: cp1, address: {address}, talos_version: v1.12.11}}\n\
             timings: {{install_delay: 300ms, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms}}\n\
             faults:\n  nodes:\n    cp1: {{install_fails: true}}\n"
        ),
        None,
    );
    let ws = Workspace::new(&tf, &config(address, "", "8s", "2m"));
    ws.init();
    let started = Instant::now();
    let out = ws.fails(&["apply", "-auto-approve", "-input=false"]);
    let text = flat(&out.all());
    assert!(started.elapsed() < Duration::from_secs(60), "{text}");
    for needle in [
        "Timed out while waiting for the Talos API of node \"cp1\"",
        &format!("The node at {address} answers in maintenance mode (Talos v1.12.11)"),
        "boot order",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}
