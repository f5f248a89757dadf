//! Conformance of the emulator's Talos nodes per release (one node each of v1.11.6, v1.12.11 and v1.13.9 in one
//! topology), written from siderolabs/talos at those tags, and the provider's client against them:
//! - maintenance mode: `Version` answers Unimplemented "API is not implemented in maintenance mode" up to 1.12
//!   (internal/app/maintenance/server.go@v1.12.11 `assertAdminRole`) and is answered by 1.13's apid; the
//!   non-sensitive `Versions`/`MachineStatuses` resources are readable on all three, so the provider learns the
//!   stage and version of every release;
//! - a config the node cannot decode: gRPC Unknown "failed to parse config: ..." up to 1.12 (the maintenance
//!   service wraps the decoder error with fmt.Errorf), InvalidArgument from 1.13 (apid's ApplyConfiguration,
//!   v1alpha1_server.go@v1.13.9); a 1.11 node does not register the 1.12 network documents (registry.go@v1.11.6);
//!   the provider stops at once instead of retrying in secure mode;
//! - the MachineConfig resource: proto spec `MachineConfigSpec.yaml_marshalled` with the submitted bytes, YAML spec
//!   the same as one string, annotation `talos.dev/yaml-spec` (resources/config/machine_config.go@v1.12.11); the
//!   provider reads back exactly what it applied. Sensitive: refused without os:admin (access.go@v1.12.11);
//! - stopping: the Talos API stops gracefully when the node moves on (its config taken in maintenance mode, a
//!   reboot): a call already in flight still gets its answer (gRPC `GracefulStop`: the maintenance service up to
//!   1.12, maintenance_service.go@v1.12.11; apid, main.go@v1.12.11 and service.go@v1.13.9); a machine that goes
//!   away (held down) breaks it.

mod common;

use std::time::{Duration, Instant};

use vixens::emulator::faults::NodeFaults;
use vixens::emulator::run::{Emulator, Options};
use vixens::emulator::topology::Topology;
use vixens::talos::client::{ApplyMode, MachineStage, Security, TalosClient};
use vixens::talos::config::{render, ClusterSpec, NodeSpec};
use vixens::talos::contract::Contract;
use vixens::talos::ops::{self, Credentials};
use vixens::talos::secrets::SecretsBundle;

const T: Duration = Duration::from_secs(5);
const RELEASES: [(&str, Contract); 3] = [
    ("v1.11.6", Contract::V1_11),
    ("v1.12.11", Contract::V1_12),
    ("v1.13.9", Contract::V1_13),
];

/// One node per release at `<prefix>.1..3` (each test its own prefix: tests run in parallel).
fn nodes(prefix: &str) -> Vec<(String, &'static str, Contract)> {
    RELEASES
        .iter()
        .enumerate()
        .map(|(i, (v, c))| (format!("{prefix}.{}", i + 1), *v, *c))
        .collect()
}

async fn start(prefix: &str) -> Emulator {
    let mut yaml = String::from("nodes:\n");
    for (i, (addr, version, _)) in nodes(prefix).iter().enumerate() {
        yaml.push_str(&format!(
            "- {{name: n{i}, address: {addr}, talos_version: {version}}}\n"
        ));
    }
    yaml.push_str("timings: {install_delay: 20ms, reboot_delay: 20ms}\n");
    Emulator::start(Options {
        topology: Topology::parse(&yaml).unwrap(),
        state_dir: None,
        control: None,
    })
    .await
    .unwrap()
}

fn cluster(contract: Contract, address: &str) -> ClusterSpec {
    common::specs::cluster("versions", contract, address)
}

/// A control plane (a worker gets its Talos API certificate from a control plane's trustd, so a lone worker never
/// reaches secure mode).
fn control_plane(address: &str) -> NodeSpec {
    common::specs::control_plane(&format!("w-{}", address.replace('.', "-")), address)
}

fn maintenance(addr: &str) -> TalosClient {
    TalosClient::connect(addr, &Security::Maintenance, T).unwrap()
}

#[tokio::test]
async fn maintenance_mode_version_and_stage_per_release() {
    let emu = start("127.0.170").await;
    for (addr, version, _) in nodes("127.0.170") {
        let addr = addr.as_str();
        let m = maintenance(addr);
        let answer = m.version().await;
        if version.starts_with("v1.13") {
            assert_eq!(answer.unwrap().tag, version);
        } else {
            let e = answer.unwrap_err();
            assert_eq!(e.code(), Some(tonic::Code::Unimplemented), "{version}: {e}");
            assert!(
                e.to_string()
                    .ends_with("API is not implemented in maintenance mode"),
                "{e}"
            );
        }
        assert_eq!(
            m.version_resource().await.unwrap().as_deref(),
            Some(version)
        );
        assert_eq!(m.machine_stage().await.unwrap(), MachineStage::Maintenance);
        // The provider sees every release in maintenance mode, with its version.
        assert_eq!(
            ops::maintenance_version(addr).await.unwrap().as_deref(),
            Some(version),
            "{version}"
        );
        // The machine config is sensitive: a client without os:admin is refused before NotFound
        // (1.13's apid refuses admin-only reads in maintenance mode with the same code).
        let e = m.machine_config().await.unwrap_err();
        assert_eq!(
            e.code(),
            Some(tonic::Code::PermissionDenied),
            "{version}: {e}"
        );
    }
    emu.stop().await;
}

#[tokio::test]
async fn a_config_the_node_cannot_parse_is_refused_at_once() {
    let emu = start("127.0.171").await;
    let newer = SecretsBundle::generate(Contract::V1_12).unwrap();
    let creds = Credentials::from_secrets(&newer).unwrap();
    for (addr, version, _) in nodes("127.0.171") {
        let addr = addr.as_str();
        // A 1.12-contract config with a key no release knows; the 1.11 node already fails on LinkConfig.
        let cfg = render(
            &cluster(Contract::V1_12, addr),
            &control_plane(addr),
            &newer,
        )
        .unwrap()
        .replacen("debug: false", "debug: false\nbogus: 1", 1);
        assert!(cfg.contains("bogus: 1"));
        let started = Instant::now();
        let e = ops::apply_config_when_up(addr, &cfg, ApplyMode::Auto, &creds, None)
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{version}: retried"
        );
        assert!(e.is_config_rejected(), "{version}: {e}");
        let text = e.to_string();
        match version {
            "v1.11.6" => {
                assert_eq!(e.code(), Some(tonic::Code::Unknown));
                assert!(
                    text.contains("failed to parse config: \"")
                        && text.ends_with("\"v1alpha1\": not registered"),
                    "{text}"
                );
            }
            "v1.12.11" => {
                assert_eq!(e.code(), Some(tonic::Code::Unknown));
                assert!(
                    text.contains("failed to parse config: unknown keys found during decoding:"),
                    "{text}"
                );
            }
            _ => {
                assert_eq!(e.code(), Some(tonic::Code::InvalidArgument));
                assert!(!text.contains("failed to parse config"), "{text}");
                assert!(
                    text.contains("unknown keys found during decoding:"),
                    "{text}"
                );
            }
        }
        // Still in maintenance mode: nothing was taken.
        assert_eq!(
            maintenance(addr).machine_stage().await.unwrap(),
            MachineStage::Maintenance
        );
    }
    emu.stop().await;
}

#[tokio::test]
async fn the_running_config_reads_back_byte_for_byte_per_release() {
    let emu = start("127.0.172").await;
    for (addr, version, contract) in nodes("127.0.172") {
        let addr = addr.as_str();
        let secrets = SecretsBundle::generate(contract).unwrap();
        let creds = Credentials::from_secrets(&secrets).unwrap();
        let cfg = render(&cluster(contract, addr), &control_plane(addr), &secrets).unwrap();
        ops::apply_config_when_up(addr, &cfg, ApplyMode::Auto, &creds, None)
            .await
            .unwrap_or_else(|e| panic!("{version}: {e}"));
        let running =
            match tokio::time::timeout(Duration::from_secs(10), ops::wait_secure(addr, &creds))
                .await
            {
                Ok(r) => r.unwrap(),
                Err(_) => panic!(
                    "{version}: never in secure mode: {:?}",
                    ops::probe(addr, &creds).await
                ),
            };
        assert_eq!(running, version);
        let client = creds.client(addr).unwrap();
        let read = client.machine_config().await.unwrap().expect("a config");
        assert_eq!(read, cfg, "{version}");
        assert_eq!(ops::config_hash(&read), ops::config_hash(&cfg));
        assert_eq!(client.machine_stage().await.unwrap(), MachineStage::Running);
        assert_eq!(
            ops::probe(addr, &creds).await,
            ops::Stage::Running {
                version: version.to_string()
            }
        );
    }
    emu.stop().await;
}

#[tokio::test]
async fn maintenance_apply_modes_per_release() {
    let emu = start("127.0.177").await;
    for (addr, version, contract) in nodes("127.0.177") {
        let addr = addr.as_str();
        let secrets = SecretsBundle::generate(contract).unwrap();
        let cfg = render(&cluster(contract, addr), &control_plane(addr), &secrets).unwrap();
        let answer = maintenance(addr)
            .apply_configuration(cfg.as_bytes(), ApplyMode::NoReboot)
            .await;
        if version.starts_with("v1.13") {
            let outcome = answer.unwrap_or_else(|e| panic!("{version}: {e}"));
            assert_eq!(outcome.mode, "NO_REBOOT");
        } else {
            let e = answer.unwrap_err();
            assert_eq!(e.code(), Some(tonic::Code::Unimplemented), "{version}: {e}");
            assert!(
                e.to_string().ends_with(
                    "apply configuration --mode='no-reboot' is not supported in maintenance mode"
                ),
                "{e}"
            );
        }
    }
    emu.stop().await;
}

/// Holds every RPC of node `i` of the topology for `delay` (zero: none) before it runs.
fn hold_calls(emu: &Emulator, i: usize, delay: Duration) {
    let fault = NodeFaults {
        slow: Some(delay),
        ..NodeFaults::default()
    };
    emu.cluster.faults.update(&format!("n{i}"), fault);
}

const IN_FLIGHT: Duration = Duration::from_millis(800);

#[tokio::test]
async fn an_orderly_stop_lets_calls_in_flight_finish_per_release() {
    let emu = start("127.0.178").await;
    for (i, (addr, version, contract)) in nodes("127.0.178").into_iter().enumerate() {
        let secrets = SecretsBundle::generate(contract).unwrap();
        let creds = Credentials::from_secrets(&secrets).unwrap();
        let cfg = render(&cluster(contract, &addr), &control_plane(&addr), &secrets).unwrap();

        // Maintenance mode: a read in flight while the node takes its config and goes to install.
        hold_calls(&emu, i, IN_FLIGHT);
        let reader = maintenance(&addr);
        let in_flight = tokio::spawn(async move { reader.version_resource().await });
        tokio::time::sleep(Duration::from_millis(150)).await;
        hold_calls(&emu, i, Duration::ZERO);
        maintenance(&addr)
            .apply_configuration(cfg.as_bytes(), ApplyMode::Auto)
            .await
            .unwrap_or_else(|e| panic!("{version}: {e}"));
        let answer = in_flight.await.unwrap();
        assert_eq!(
            answer.unwrap_or_else(|e| panic!("{version}: the read in flight broke: {e}")),
            Some(version.to_string())
        );

        // Secure mode: a Version in flight while the node reboots.
        tokio::time::timeout(Duration::from_secs(10), ops::wait_secure(&addr, &creds))
            .await
            .unwrap_or_else(|_| panic!("{version}: never in secure mode"))
            .unwrap();
        hold_calls(&emu, i, IN_FLIGHT);
        let reader = creds.client(&addr).unwrap();
        let in_flight = tokio::spawn(async move { reader.version().await });
        tokio::time::sleep(Duration::from_millis(150)).await;
        hold_calls(&emu, i, Duration::ZERO);
        creds.client(&addr).unwrap().reboot().await.unwrap();
        let answer = in_flight.await.unwrap();
        assert_eq!(
            answer
                .unwrap_or_else(|e| panic!("{version}: the Version in flight broke: {e}"))
                .tag,
            version
        );
    }
    emu.stop().await;
}

#[tokio::test]
async fn a_machine_that_goes_away_breaks_calls_in_flight_per_release() {
    let emu = start("127.0.179").await;
    for (i, (addr, version, _)) in nodes("127.0.179").into_iter().enumerate() {
        hold_calls(&emu, i, IN_FLIGHT);
        let reader = maintenance(&addr);
        let started = Instant::now();
        let in_flight = tokio::spawn(async move { reader.version_resource().await });
        tokio::time::sleep(Duration::from_millis(150)).await;
        let node = emu.cluster.nodes[i].clone();
        emu.cluster.set_down(&node, true);
        let answer = in_flight.await.unwrap();
        assert!(
            answer.is_err(),
            "{version}: a call in flight on a machine that went away got {answer:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{version}");
        emu.cluster.set_down(&node, false);
    }
    emu.stop().await;
}
