//! Destroy time of `vixens_talos_cluster` against the emulator, through Terraform 1.0.3 (issue 18, "Destroy"):
//! `terraform destroy` of a 15-node cluster (3 control planes, 12 workers) over that of a 1-node cluster, with
//! the same emulated delays (the emulator's defaults: install and reboot 200 ms). Workers reset in parallel and
//! control planes one at a time, so the target is a ratio ≤ 1.5. Each size is created and destroyed `ROUNDS`
//! times; printed as `figure: ...` lines (medians). Not a timed test: nothing fails on a slow machine.
//!
//! Run with `cargo bench --bench destroy` (release build). Uses 127.0.217.0/24 and 127.0.218.0/24.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::emulator::EmulatorProcess;
use common::{Terraform, Workspace};

const ROUNDS: usize = 3;

/// A cluster of `cps` control planes and `workers` workers at `<prefix>.11...`, VIP `<prefix>.100`.
fn config(prefix: &str, cps: usize, workers: usize) -> String {
    let node = |name: &str, ip: usize, cp: bool| {
        let (role, vip) = if cp {
            ("controlplane", format!("vip = \"{prefix}.100\""))
        } else {
            ("worker", String::new())
        };
        format!(
            r#"
  nodes {{
    name    = "{name}"
    address = "{prefix}.{ip}"
    role    = "{role}"
    link {{
      name = "eth0"
      vlan {{
        vlan_id   = 111
        addresses = ["{prefix}.{ip}/24"]
        {vip}
      }}
    }}
  }}"#
        )
    };
    let mut nodes = String::new();
    for i in 0..cps {
        nodes.push_str(&node(&format!("cp{}", i + 1), 11 + i, true));
    }
    for i in 0..workers {
        nodes.push_str(&node(&format!("w{}", i + 1), 11 + cps + i, false));
    }
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name                       = "bench"
  endpoint                           = "https://{prefix}.100:6443"
  talos_version                      = "1.12"
  allow_scheduling_on_control_planes = true
  {nodes}
  timeouts {{
    create = "10m"
    delete = "10m"
  }}
}}
"#
    )
}

fn topology(prefix: &str, cps: usize, workers: usize) -> String {
    let mut y = String::from("nodes:\n");
    for i in 0..cps + workers {
        let name = if i < cps {
            format!("cp{}", i + 1)
        } else {
            format!("w{}", i - cps + 1)
        };
        y.push_str(&format!(
            "- {{name: {name}, address: {prefix}.{}}}\n",
            11 + i
        ));
    }
    y.push_str("timings: {install_delay: 200ms, reboot_delay: 200ms, workload_delay: 0ms}\n");
    y
}

/// Creates then destroys the cluster `ROUNDS` times; the destroy durations.
fn destroys(tf: &Terraform, prefix: &str, cps: usize, workers: usize) -> Vec<Duration> {
    let mut out = Vec::new();
    for _ in 0..ROUNDS {
        let _emulator = EmulatorProcess::start(&topology(prefix, cps, workers), None);
        let ws = Workspace::new(tf, &config(prefix, cps, workers));
        ws.init();
        ws.apply();
        let started = Instant::now();
        ws.destroy();
        out.push(started.elapsed());
    }
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(tf) = Terraform::get("1.0.3") else {
        eprintln!("SKIPPED: terraform 1.0.3 not installed");
        return;
    };
    let one = destroys(&tf, "127.0.218", 1, 0);
    let fifteen = destroys(&tf, "127.0.217", 3, 12);
    eprintln!("destroy durations: 1 node {one:?}; 15 nodes {fifteen:?}");
    let (one, fifteen) = (median(one), median(fifteen));
    println!("figure: terraform destroy, 1 node, median of {ROUNDS}: {one:?}");
    println!(
        "figure: terraform destroy, 15 nodes (3 control planes), median of {ROUNDS}: {fifteen:?}"
    );
    println!(
        "figure: destroy ratio 15 nodes / 1 node: {:.2} (target <= 1.5)",
        fifteen.as_secs_f64() / one.as_secs_f64()
    );
}
