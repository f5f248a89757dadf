//! The provider's rendered machine configs (every supported contract, control plane and worker, with a VLAN and a
//! VIP) pass the emulator's independent validation, and an applied one brings a node to secure mode. A failure
//! here means one of the two disagrees with Talos: fix the one that is wrong, never loosen the emulator.

mod common;

use std::time::Duration;

use vixens::emulator::talos::config::{validate, MachineType, Rejection};
use vixens::emulator::talos::version::TalosVersion;
use vixens::emulator::topology::{ByteSize, DiskSpec, NodeSpec as EmuNode, Topology};
use vixens::talos::config::network::{Link, NodeNetwork, Route, Vlan};
use vixens::talos::config::{render, ClusterSpec, NodeSpec, Role};
use vixens::talos::contract::SUPPORTED;
use vixens::talos::secrets::SecretsBundle;

fn cluster(contract: vixens::talos::contract::Contract) -> ClusterSpec {
    ClusterSpec {
        cert_sans: vec!["k8s.vixens.lan".into()],
        ..common::specs::cluster("vixens", contract, "127.0.121.10")
    }
}

fn node(role: Role, address: &str, vip: Option<&str>) -> NodeSpec {
    NodeSpec {
        role,
        install_disk: "/dev/sda".into(),
        network: NodeNetwork {
            hostname: format!("n-{}", address.replace('.', "-")),
            links: vec![Link {
                name: "eth0".into(),
                addresses: vec![format!("{address}/24")],
                routes: vec![Route {
                    network: "0.0.0.0/0".into(),
                    gateway: "127.0.121.254".into(),
                    metric: None,
                }],
                mtu: None,
                vlans: vec![Vlan {
                    vlan_id: 111,
                    addresses: vec!["10.111.0.5/24".into()],
                    routes: Vec::new(),
                    vip: vip.map(str::to_string),
                    mtu: None,
                }],
            }],
            nameservers: vec!["1.1.1.1".into()],
        },
        config_patches: Vec::new(),
        cert_sans: Vec::new(),
    }
}

fn emu_node(address: &str) -> EmuNode {
    EmuNode {
        name: "n".into(),
        address: address.parse().unwrap(),
        disks: vec![DiskSpec {
            path: "/dev/sda".into(),
            size: ByteSize(64 << 30),
        }],
        links: vec!["eth0".into()],
        talos_version: None,
    }
}

/// The release the emulator follows for a contract (the tags its behaviour cites).
fn release_of(contract: vixens::talos::contract::Contract) -> TalosVersion {
    let tag = match contract.minor {
        11 => "v1.11.6",
        12 => "v1.12.11",
        _ => "v1.13.9",
    };
    TalosVersion::parse(tag).unwrap()
}

#[test]
fn provider_configs_pass_emulator_validation_for_every_contract() {
    for contract in SUPPORTED {
        let secrets = SecretsBundle::generate(contract).unwrap();
        let c = cluster(contract);
        let cp = render(
            &c,
            &node(Role::ControlPlane, "127.0.121.1", Some("10.111.0.10")),
            &secrets,
        )
        .unwrap();
        let talos = release_of(contract);
        let parsed = validate(cp.as_bytes(), &emu_node("127.0.121.1"), &talos)
            .unwrap_or_else(|e| panic!("contract {contract:?} control plane rejected: {e}\n{cp}"));
        assert_eq!(parsed.machine_type, MachineType::ControlPlane);
        assert_eq!(parsed.vips.len(), 1, "{contract:?}");
        let w = render(&c, &node(Role::Worker, "127.0.121.3", None), &secrets).unwrap();
        let parsed = validate(w.as_bytes(), &emu_node("127.0.121.3"), &talos)
            .unwrap_or_else(|e| panic!("contract {contract:?} worker rejected: {e}\n{w}"));
        assert_eq!(parsed.machine_type, MachineType::Worker);
        // A release older than the contract does not register its documents (registry.go@v1.11.6).
        for older in SUPPORTED
            .iter()
            .filter(|c| !c.multidoc_network() && contract.multidoc_network())
        {
            let e = validate(cp.as_bytes(), &emu_node("127.0.121.1"), &release_of(*older))
                .expect_err("an older release cannot parse a newer contract's documents");
            assert!(
                matches!(&e, Rejection::Parse(m) if m.ends_with("\"v1alpha1\": not registered")),
                "{older:?} given {contract:?}: {e}"
            );
        }
    }
}

#[tokio::test]
async fn provider_config_brings_an_emulated_node_to_secure_mode() {
    use vixens::emulator::run::{Emulator, Options};
    use vixens::talos::client::{ApplyMode, Security, TalosClient};
    let topology = Topology::parse(
        "nodes:\n- {name: cp1, address: 127.0.121.1}\ntimings: {install_delay: 20ms, reboot_delay: 20ms}\n",
    )
    .unwrap();
    let emu = Emulator::start(Options {
        topology,
        state_dir: None,
        control: None,
    })
    .await
    .unwrap();
    let contract = vixens::talos::contract::Contract::V1_12;
    let secrets = SecretsBundle::generate(contract).unwrap();
    let cfg = render(
        &cluster(contract),
        &node(Role::ControlPlane, "127.0.121.1", None),
        &secrets,
    )
    .unwrap();
    let t = Duration::from_secs(5);
    let m = TalosClient::connect("127.0.121.1", &Security::Maintenance, t).unwrap();
    m.apply_configuration(cfg.as_bytes(), ApplyMode::Auto)
        .await
        .unwrap();
    let client = secrets.talos_client_cert("os:admin").unwrap();
    let sec = Security::Secure {
        ca_crt: secrets.os.crt.clone(),
        client,
    };
    let c = TalosClient::connect("127.0.121.1", &sec, t).unwrap();
    let start = std::time::Instant::now();
    while c.version().await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "node never reached secure mode"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        c.bootstrap_once().await.unwrap(),
        vixens::talos::client::BootstrapOutcome::Bootstrapped
    );
    emu.stop().await;
}
