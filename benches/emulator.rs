//! Emulator benchmarks (issue 3): with 7 nodes (3 control planes, 4 workers),
//! - `start_7_nodes`: in-process time until every Talos API listener is bound (criterion);
//! - the binary's start-to-`ready` time (median of 10 runs) and its peak RSS (`VmHWM`) after driving the whole
//!   lifecycle with the provider's client (configs applied, installs and reboots, etcd bootstrapped, every
//!   control plane joined, kubeconfigs fetched). Printed as `figure: ...` lines. Targets: ≤ 200 ms, ≤ 50 MB.
//!
//! Run with `cargo bench --bench emulator`. Uses 127.0.120.0/24 .. 127.0.130.0/24 only.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use criterion::Criterion;
use vixens::emulator::run::{Emulator, Options};
use vixens::emulator::testkit::{machine_config, TestSecrets};
use vixens::emulator::topology::Topology;
use vixens::talos::client::{ApplyMode, Security, TalosClient};
use vixens::talos::pki::CertAndKey;

fn topology_yaml(prefix: &str) -> String {
    let mut y = String::from("nodes:\n");
    for i in 1..=7 {
        y.push_str(&format!("- {{name: n{i}, address: {prefix}.{i}}}\n"));
    }
    y.push_str("timings: {install_delay: 20ms, reboot_delay: 20ms, workload_delay: 20ms}\n");
    y
}

fn bench_in_process(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut round = 0u32;
    c.bench_function("start_7_nodes", |b| {
        b.to_async(&rt).iter(|| {
            // Rotate address blocks so a socket still closing never collides with the next bind.
            round = round.wrapping_add(1);
            let prefix = format!("127.0.{}", 121 + round % 8);
            async move {
                let topology = Topology::parse(&topology_yaml(&prefix)).unwrap();
                let emu = Emulator::start(Options {
                    topology,
                    state_dir: None,
                    control: None,
                })
                .await
                .unwrap();
                emu.stop().await;
            }
        })
    });
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn spawn_ready(topo: &std::path::Path) -> (std::process::Child, Duration) {
    let start = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vixens-emulator"))
        .args(["--topology", topo.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    (child, start.elapsed())
}

fn stop(mut child: std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

async fn drive_lifecycle(prefix: &str) {
    let s = TestSecrets::generate();
    let endpoint = format!("https://{prefix}.1:6443");
    let t = Duration::from_secs(5);
    for i in 1..=7 {
        let cfg = machine_config(&s, i <= 3, &endpoint, "");
        let m = TalosClient::connect(&format!("{prefix}.{i}"), &Security::Maintenance, t).unwrap();
        m.apply_configuration(cfg.as_bytes(), ApplyMode::Auto)
            .await
            .unwrap();
    }
    let issued = s.os.client("os:admin");
    let cert = CertAndKey {
        crt: issued.cert_pem,
        key: issued.key_pem,
    };
    let secure = |i: u32| {
        let sec = Security::Secure {
            ca_crt: s.os.cert_pem.clone(),
            client: cert.clone(),
        };
        TalosClient::connect(&format!("{prefix}.{i}"), &sec, t).unwrap()
    };
    for i in 1..=7 {
        let c = secure(i);
        while c.version().await.is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    secure(1).bootstrap(Duration::from_secs(10)).await.unwrap();
    for i in 1..=3 {
        secure(i).kubeconfig().await.unwrap();
        secure(i).etcd_member_list().await.unwrap();
        secure(i).service_list().await.unwrap();
    }
}

fn process_figures() {
    let dir = tempfile::tempdir().unwrap();
    let mut times = Vec::new();
    for run in 0..10 {
        let prefix = format!("127.0.{}", 121 + run % 8);
        let topo = dir.path().join(format!("t{run}.yaml"));
        std::fs::write(&topo, topology_yaml(&prefix)).unwrap();
        let (child, elapsed) = spawn_ready(&topo);
        times.push(elapsed);
        stop(child);
    }
    times.sort();
    println!(
        "figure: start-to-ready, 7 nodes, median of 10: {:?} (min {:?}, max {:?})",
        times[5], times[0], times[9]
    );

    let prefix = "127.0.130";
    let topo = dir.path().join("rss.yaml");
    std::fs::write(&topo, topology_yaml(prefix)).unwrap();
    let (child, _) = spawn_ready(&topo);
    let idle = vm_hwm_kib(child.id()).unwrap_or(0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(drive_lifecycle(prefix));
    let peak = vm_hwm_kib(child.id()).unwrap_or(0);
    println!(
        "figure: peak RSS, 7 nodes: {:.1} MiB at ready, {:.1} MiB after the lifecycle",
        idle as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    stop(child);
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_in_process(&mut c);
    c.final_summary();
    process_figures();
}
