//! Talos domain benchmarks: secrets generation (target <= 20 ms) and machine-config rendering per node
//! (target <= 2 ms), for each supported contract.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use vixens::talos::config::{self, ClusterSpec, Link, NodeNetwork, NodeSpec, Role, Route, Vlan};
use vixens::talos::contract::{Contract, SUPPORTED};
use vixens::talos::secrets::SecretsBundle;

fn cluster(contract: Contract) -> ClusterSpec {
    ClusterSpec {
        name: "vixens".into(),
        endpoint: "https://192.168.111.160:6443".into(),
        contract,
        kubernetes_version: contract.default_kubernetes_version().into(),
        install_image: config::DEFAULT_INSTALL_IMAGE.into(),
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
    }
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("talos");
    group.sample_size(20);
    group.bench_function("secrets_generate", |b| {
        b.iter(|| black_box(SecretsBundle::generate(Contract::DEFAULT).unwrap()))
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

criterion_group!(talos, benches);
criterion_main!(talos);
