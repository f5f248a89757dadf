//! Talos benchmarks (issue 4):
//! - `secrets_generate`: a whole bundle (target <= 20 ms; not reachable with the RSA-4096 service-account key that
//!   Talos generates for every supported contract: `secrets_generate_without_rsa` and `rsa_4096_keygen` split it;
//!   `secrets_generate_raced` is what Create runs: the RSA key raced on two threads, the first one kept);
//! - `render_node_<contract>`: one node's machine config (target <= 2 ms);
//! - `create_3_nodes_no_delay` and `create_3_nodes_install_2s`: `vixens_talos_cluster` Create of 3 control planes
//!   against an in-process emulator (fresh nodes in maintenance mode each iteration), targets <= 2 s and
//!   <= 2.6 s (1.3 x the 2 s install delay, nodes in parallel).
//!
//! Uses 127.0.131.0/24 .. 127.0.138.0/24 only.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;
use vixens::cty::Value;
use vixens::emulator::run::{Emulator, Options};
use vixens::emulator::topology::Topology;
use vixens::framework::{Context, Resource};
use vixens::resources::talos_cluster::TalosCluster;
use vixens::talos::config::{self, ClusterSpec, Link, NodeNetwork, NodeSpec, Role, Route, Vlan};
use vixens::talos::contract::{Contract, SUPPORTED};
use vixens::talos::secrets::SecretsBundle;

fn cluster(contract: Contract) -> ClusterSpec {
    ClusterSpec {
        name: "vixens".into(),
        endpoint: "https://192.168.111.160:6443".into(),
        contract,
        kubernetes_version: contract.default_kubernetes_version().into(),
        install_image: contract.default_install_image().into(),
        cert_sans: vec!["192.168.111.160".into()],
        pod_subnets: vec![config::DEFAULT_POD_SUBNET.into()],
        service_subnets: vec![config::DEFAULT_SERVICE_SUBNET.into()],
        allow_scheduling_on_control_planes: true,
        kubeprism_port: config::DEFAULT_KUBEPRISM_PORT,
        cni: "none".into(),
        proxy_disabled: true,
        config_patches: vec!["machine:\n  sysctls:\n    vm.max_map_count: \"262144\"\n".into()],
    }
}

fn node() -> NodeSpec {
    NodeSpec {
        role: Role::ControlPlane,
        install_disk: "/dev/sda".into(),
        network: NodeNetwork {
            hostname: "cp-1".into(),
            links: vec![Link {
                name: "eth0".into(),
                vlans: vec![
                    Vlan {
                        vlan_id: 111,
                        addresses: vec!["192.168.111.161/24".into()],
                        routes: vec![Route {
                            network: "0.0.0.0/0".into(),
                            gateway: "192.168.111.1".into(),
                            metric: None,
                        }],
                        vip: Some("192.168.111.160".into()),
                        mtu: None,
                    },
                    Vlan {
                        vlan_id: 208,
                        addresses: vec!["192.168.208.161/24".into()],
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            nameservers: vec!["192.168.111.1".into()],
        },
        config_patches: vec![],
        cert_sans: Vec::new(),
    }
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("talos");
    group.sample_size(20);
    group.sampling_mode(criterion::SamplingMode::Flat);
    group.bench_function("secrets_generate", |b| {
        b.iter(|| black_box(SecretsBundle::generate(Contract::DEFAULT).unwrap()))
    });
    let rsa = vixens::talos::pki::generate_rsa_pkcs1_pem(4096).unwrap();
    group.bench_function("secrets_generate_without_rsa", |b| {
        b.iter(|| {
            black_box(
                SecretsBundle::generate_with_service_account_key(Contract::DEFAULT, rsa.clone())
                    .unwrap(),
            )
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    group.bench_function("secrets_generate_raced", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                SecretsBundle::generate_raced(Contract::DEFAULT)
                    .await
                    .unwrap(),
            )
        })
    });
    group.bench_function("rsa_4096_keygen", |b| {
        b.iter(|| black_box(vixens::talos::pki::generate_rsa_pkcs1_pem(4096).unwrap()))
    });
    let secrets = SecretsBundle::generate(Contract::DEFAULT).unwrap();
    group.bench_function("talos_client_cert", |b| {
        b.iter(|| black_box(secrets.talos_client_cert("os:admin").unwrap()))
    });
    let node = node();
    for contract in SUPPORTED {
        let spec = cluster(contract);
        group.bench_function(format!("render_node_{contract}"), |b| {
            b.iter(|| black_box(config::render(&spec, &node, &secrets).unwrap()))
        });
    }
    group.finish();
}

/// The planned value of a cluster of 3 control planes at `<prefix>.11..13`, endpoint on the first one.
fn planned_cluster(prefix: &str) -> Value {
    let node = |i: u8| {
        let link = Value::object([
            ("name", Value::from("eth0")),
            (
                "addresses",
                Value::string_list([format!("{prefix}.{i}/24")]),
            ),
            ("mtu", Value::Null),
            ("route", Value::List(vec![])),
            ("vlan", Value::List(vec![])),
        ]);
        Value::object([
            ("name", Value::from(format!("cp{}", i - 10))),
            ("address", Value::from(format!("{prefix}.{i}"))),
            ("role", Value::from("controlplane")),
            ("install_disk", Value::Null),
            ("hostname", Value::Null),
            ("nameservers", Value::Null),
            ("config_patches", Value::Null),
            ("link", Value::List(vec![link])),
        ])
    };
    Value::object([
        ("cluster_name", Value::from("bench")),
        ("endpoint", Value::from(format!("https://{prefix}.11:6443"))),
        ("talos_version", Value::from("1.12")),
        ("nodes", Value::List((11..=13).map(node).collect())),
    ])
}

fn topology(prefix: &str, install_delay: Duration) -> Topology {
    let mut y = String::from("nodes:\n");
    for i in 11..=13 {
        y.push_str(&format!(
            "- {{name: cp{}, address: {prefix}.{i}}}\n",
            i - 10
        ));
    }
    y.push_str(&format!(
        "timings: {{install_delay: {}ms, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms}}\n",
        install_delay.as_millis()
    ));
    Topology::parse(&y).unwrap()
}

fn bench_create(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("talos");
    group.sample_size(10);
    group.sampling_mode(criterion::SamplingMode::Flat);
    group.warm_up_time(Duration::from_millis(500));
    let mut round = 0u32;
    for (name, delay) in [
        ("create_3_nodes_no_delay", Duration::ZERO),
        ("create_3_nodes_install_2s", Duration::from_secs(2)),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                round = round.wrapping_add(1);
                let base = round;
                async move {
                    let mut total = Duration::ZERO;
                    for i in 0..iters {
                        // Rotate address blocks so a socket still closing never collides with the next bind.
                        let prefix = format!("127.0.{}", 131 + (base as u64 + i) % 8);
                        let emu = Emulator::start(Options {
                            topology: topology(&prefix, delay),
                            state_dir: None,
                            control: None,
                        })
                        .await
                        .unwrap();
                        let planned = planned_cluster(&prefix);
                        let ctx = Context::for_tests().with_timeout(Duration::from_secs(60));
                        let started = std::time::Instant::now();
                        let state = TalosCluster.create(&ctx, &planned).await;
                        total += started.elapsed();
                        let state = state.unwrap_or_else(|e| panic!("create: {:?}", e.diagnostics));
                        assert_eq!(
                            state.get("etcd_members").as_list().map(|l| l.len()),
                            Some(3)
                        );
                        emu.stop().await;
                    }
                    total
                }
            })
        });
    }
    group.finish();
}

criterion_group!(talos, benches, bench_create);
criterion_main!(talos);
