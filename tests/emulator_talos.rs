//! Drives the emulator's Talos API with the provider's own client (`vixens::talos::client`) and a raw tonic
//! client (for apid's `node`/`nodes` routing), on loopback addresses only.

mod common;

use common::poll::eventually;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};
use vixens::emulator::run::{Emulator, Options};
use vixens::emulator::testkit::{machine_config, TestSecrets};
use vixens::emulator::topology::Topology;
use vixens::proto::machine::machine_service_client::MachineServiceClient;
use vixens::talos::client::{ApplyMode, ClientError, Security, TalosClient};
use vixens::talos::pki::CertAndKey;

const T: Duration = Duration::from_secs(5);

fn topology(prefix: &str) -> Topology {
    Topology::parse(&format!(
        "nodes:\n- {{name: cp1, address: {prefix}.1}}\n- {{name: cp2, address: {prefix}.2}}\n\
         - {{name: w1, address: {prefix}.3, disks: [{{path: /dev/sda, size: 10GiB}}, {{path: /dev/sdb, size: 1GiB}}]}}\n\
         timings: {{install_delay: 30ms, reboot_delay: 30ms, workload_delay: 30ms, upgrade_delay: 30ms}}\n"
    ))
    .unwrap()
}

fn maintenance(addr: &str) -> TalosClient {
    TalosClient::connect(addr, &Security::Maintenance, T).unwrap()
}

fn secure(addr: &str, s: &TestSecrets, role: &str) -> TalosClient {
    let issued = s.os.client(role);
    let client = CertAndKey {
        crt: issued.cert_pem,
        key: issued.key_pem,
    };
    TalosClient::connect(
        addr,
        &Security::Secure {
            ca_crt: s.os.cert_pem.clone(),
            client,
        },
        T,
    )
    .unwrap()
}

fn code(e: &ClientError) -> tonic::Code {
    e.code().unwrap_or(tonic::Code::Unknown)
}

async fn wait_secure(c: &TalosClient) {
    eventually("secure mode", || async { c.version().await.ok() }).await;
}

async fn start(prefix: &str) -> Emulator {
    Emulator::start(Options {
        topology: topology(prefix),
        state_dir: None,
        control: None,
    })
    .await
    .unwrap()
}

/// A raw MachineService client (mTLS pinned to the OS CA) for calls the provider's client does not make.
fn raw(addr: &str, s: &TestSecrets) -> MachineServiceClient<Channel> {
    let issued = s.os.client("os:admin");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(vixens::emulator::pki::cert_der(&s.os.cert_pem).unwrap())
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
        vixens::emulator::pki::pem_blocks(&issued.key_pem)
            .unwrap()
            .remove(0)
            .der
            .into(),
    );
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(vec![issued.cert_der], key)
    .unwrap();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let cfg = Arc::new(cfg);
    let host = addr.to_string();
    let channel = Endpoint::from_shared(format!("http://{addr}:50000"))
        .unwrap()
        .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
            let (cfg, host) = (cfg.clone(), host.clone());
            async move {
                let tcp = tokio::net::TcpStream::connect((host.as_str(), 50000)).await?;
                let name =
                    rustls::pki_types::ServerName::try_from(host).map_err(std::io::Error::other)?;
                let tls = tokio_rustls::TlsConnector::from(cfg)
                    .connect(name, tcp)
                    .await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }));
    MachineServiceClient::new(channel)
}

#[tokio::test]
async fn maintenance_mode_serves_only_what_talos_serves() {
    let emu = start("127.0.111").await;
    let m = maintenance("127.0.111.1");
    // maintenance/server.go@v1.12.11: Version needs the admin role, which only SideroLink grants.
    let e = m.version().await.unwrap_err();
    assert_eq!(code(&e), tonic::Code::Unimplemented, "{e}");
    assert!(
        e.to_string()
            .contains("API is not implemented in maintenance mode"),
        "{e}"
    );
    // The Version resource is non-sensitive: readable without a client certificate.
    assert_eq!(
        m.version_resource().await.unwrap().as_deref(),
        Some("v1.12.0")
    );
    assert_eq!(
        m.machine_stage().await.unwrap(),
        vixens::talos::client::MachineStage::Maintenance
    );
    let disks = m.disks().await.unwrap();
    assert_eq!(disks[0].device_name, "/dev/sda");
    assert!(!disks[0].system_disk);
    assert_eq!(
        code(&m.bootstrap_once().await.unwrap_err()),
        tonic::Code::Unimplemented
    );
    assert_eq!(
        code(&m.etcd_member_list().await.unwrap_err()),
        tonic::Code::Unimplemented
    );
    let s = TestSecrets::generate();
    let good = machine_config(&s, true, "https://127.0.111.1:6443", "");
    let e = m
        .apply_configuration(good.as_bytes(), ApplyMode::NoReboot)
        .await
        .unwrap_err();
    assert_eq!(code(&e), tonic::Code::Unimplemented, "{e}");
    let bad = good.replace("disk: /dev/sda", "disk: /dev/nvme9n1");
    let e = m
        .apply_configuration(bad.as_bytes(), ApplyMode::Auto)
        .await
        .unwrap_err();
    assert_eq!(code(&e), tonic::Code::InvalidArgument);
    assert!(e.to_string().contains(".machine.install.disk"), "{e}");
    // A secure client cannot talk to a maintenance node (its certificate is self-signed).
    assert!(secure("127.0.111.1", &s, "os:admin")
        .version()
        .await
        .is_err());
    emu.stop().await;
}

#[tokio::test]
async fn lifecycle_bootstrap_etcd_kubeconfig_reset() {
    let emu = start("127.0.112").await;
    let s = TestSecrets::generate();
    let endpoint = "https://127.0.112.1:6443";
    for (addr, cp) in [
        ("127.0.112.1", true),
        ("127.0.112.2", true),
        ("127.0.112.3", false),
    ] {
        let cfg = machine_config(&s, cp, endpoint, "");
        maintenance(addr)
            .apply_configuration(cfg.as_bytes(), ApplyMode::Auto)
            .await
            .unwrap();
    }
    let cp1 = secure("127.0.112.1", &s, "os:admin");
    let cp2 = secure("127.0.112.2", &s, "os:admin");
    let w1 = secure("127.0.112.3", &s, "os:admin");
    for c in [&cp1, &cp2, &w1] {
        wait_secure(c).await;
    }
    // Roles: a reader may read, not bootstrap; a certificate from another CA is refused at the handshake.
    let reader = secure("127.0.112.1", &s, "os:reader");
    assert!(reader.service_list().await.is_ok());
    assert_eq!(
        code(&reader.bootstrap_once().await.unwrap_err()),
        tonic::Code::PermissionDenied
    );
    assert!(secure("127.0.112.1", &TestSecrets::generate(), "os:admin")
        .version()
        .await
        .is_err());

    assert_eq!(
        code(&w1.bootstrap_once().await.unwrap_err()),
        tonic::Code::FailedPrecondition
    );
    assert_eq!(
        code(&cp1.etcd_member_list().await.unwrap_err()),
        tonic::Code::Unknown
    );
    use vixens::talos::client::BootstrapOutcome::*;
    assert_eq!(cp1.bootstrap_once().await.unwrap(), Bootstrapped);
    assert_eq!(cp1.bootstrap_once().await.unwrap(), AlreadyBootstrapped);
    assert_eq!(
        cp2.bootstrap_once().await.unwrap(),
        AlreadyBootstrapped,
        "cp2 joined etcd"
    );
    assert_eq!(cp1.etcd_member_list().await.unwrap().len(), 2);
    let etcd = cp1
        .service_list()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.id == "etcd")
        .unwrap();
    assert_eq!((etcd.state.as_str(), etcd.healthy), ("Running", Some(true)));

    let kc = cp1.kubeconfig().await.unwrap();
    let kc = String::from_utf8(kc).unwrap();
    assert!(kc.contains(endpoint), "{kc}");
    assert_eq!(
        code(&w1.kubeconfig().await.unwrap_err()),
        tonic::Code::Unimplemented
    );

    // Quorum: cp1 may leave (cp2 remains), cp2 then is the last member and may not.
    cp1.etcd_leave_cluster().await.unwrap();
    let members = cp2.etcd_member_list().await.unwrap();
    assert_eq!(members.len(), 1);
    let e = cp2.etcd_leave_cluster().await.unwrap_err();
    assert!(e.to_string().contains("not enough started members"), "{e}");
    let e = cp2.etcd_remove_member(members[0].id ^ 1).await.unwrap_err();
    assert_eq!(code(&e), tonic::Code::NotFound);

    // Reset wipes STATE and EPHEMERAL: the worker comes back in maintenance mode with no config.
    w1.reset(false).await.unwrap();
    let m = maintenance("127.0.112.3");
    eventually("maintenance after reset", || async { m.disks().await.ok() }).await;
    assert_eq!(
        code(&m.bootstrap_once().await.unwrap_err()),
        tonic::Code::Unimplemented
    );

    // Upgrade changes the reported version after a reboot.
    cp2.upgrade("ghcr.io/siderolabs/installer:v1.12.3")
        .await
        .unwrap();
    eventually("upgraded", || async {
        cp2.version().await.ok().filter(|v| v.tag == "v1.12.3")
    })
    .await;
    emu.stop().await;
}

#[tokio::test]
async fn apply_modes_in_secure_mode() {
    let emu = start("127.0.113").await;
    let s = TestSecrets::generate();
    let cfg = machine_config(&s, true, "https://127.0.113.1:6443", "");
    maintenance("127.0.113.1")
        .apply_configuration(cfg.as_bytes(), ApplyMode::Auto)
        .await
        .unwrap();
    let c = secure("127.0.113.1", &s, "os:admin");
    wait_secure(&c).await;
    // An endpoint change applies without a reboot; an env change needs one.
    let immediate = cfg.replace("127.0.113.1:6443", "127.0.113.9:6443");
    let out = c
        .apply_configuration(immediate.as_bytes(), ApplyMode::Auto)
        .await
        .unwrap();
    assert_eq!(out.mode, "NO_REBOOT");
    let needs_reboot = cfg.replace("    wipe: false\n", "    wipe: false\n  env: {A: b}\n");
    let e = c
        .apply_configuration(needs_reboot.as_bytes(), ApplyMode::NoReboot)
        .await
        .unwrap_err();
    assert_eq!(code(&e), tonic::Code::InvalidArgument);
    let staged = c
        .apply_configuration(needs_reboot.as_bytes(), ApplyMode::Staged)
        .await
        .unwrap();
    assert_eq!(staged.mode, "STAGED");
    let bad = cfg.replace("type: controlplane", "type: bogus");
    let e = c
        .apply_configuration(bad.as_bytes(), ApplyMode::Auto)
        .await
        .unwrap_err();
    assert!(e.to_string().contains(".machine.type"), "{e}");
    emu.stop().await;
}

#[tokio::test]
async fn apid_routes_node_and_nodes_metadata() {
    let emu = start("127.0.114").await;
    let s = TestSecrets::generate();
    for (addr, cp) in [("127.0.114.1", true), ("127.0.114.3", false)] {
        let cfg = machine_config(&s, cp, "https://127.0.114.1:6443", "");
        maintenance(addr)
            .apply_configuration(cfg.as_bytes(), ApplyMode::Auto)
            .await
            .unwrap();
    }
    wait_secure(&secure("127.0.114.1", &s, "os:admin")).await;
    wait_secure(&secure("127.0.114.3", &s, "os:admin")).await;
    let mut client = raw("127.0.114.1", &s);
    let mut req = tonic::Request::new(());
    req.metadata_mut().insert(
        "nodes",
        "127.0.114.1,127.0.114.3,127.0.114.2".parse().unwrap(),
    );
    let reply = client.hostname(req).await.unwrap().into_inner();
    let got: Vec<(String, String, String)> = reply
        .messages
        .iter()
        .map(|m| {
            let md = m.metadata.clone().unwrap_or_default();
            (md.hostname, m.hostname.clone(), md.error)
        })
        .collect();
    assert_eq!(got[0].0, "127.0.114.1");
    assert_eq!(got[0].1, "cp1");
    assert_eq!(got[1].1, "w1");
    assert!(
        got[2].2.contains("authentication handshake failed"),
        "maintenance node cannot be proxied: {got:?}"
    );
    let mut req = tonic::Request::new(());
    req.metadata_mut()
        .insert("node", "127.0.114.3".parse().unwrap());
    let reply = client.hostname(req).await.unwrap().into_inner();
    assert_eq!(reply.messages[0].hostname, "w1");
    emu.stop().await;
}

#[tokio::test]
async fn faults_and_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let opts = |control| {
        Options {
        topology: Topology::parse(
            "nodes:\n- {name: cp1, address: 127.0.115.1}\ntimings: {install_delay: 20ms, reboot_delay: 20ms}\n",
        )
        .unwrap(),
        state_dir: Some(dir.path().to_path_buf()),
        control,
    }
    };
    let control: std::net::SocketAddr = "127.0.115.100:18115".parse().unwrap();
    let emu = Emulator::start(opts(Some(control))).await.unwrap();
    let s = TestSecrets::generate();
    let cfg = machine_config(&s, true, "https://127.0.115.1:6443", "");
    maintenance("127.0.115.1")
        .apply_configuration(cfg.as_bytes(), ApplyMode::Auto)
        .await
        .unwrap();
    let c = secure("127.0.115.1", &s, "os:admin");
    wait_secure(&c).await;
    c.bootstrap_once().await.unwrap();

    let http = reqwest::Client::new();
    let post = |path: &str, body: &str| {
        http.post(format!("http://{control}{path}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    assert!(post(
        "/faults/nodes/cp1",
        r#"{"fail_next": {"Version": "unavailable"}}"#
    )
    .await
    .unwrap()
    .status()
    .is_success());
    assert_eq!(
        code(&c.version().await.unwrap_err()),
        tonic::Code::Unavailable
    );
    assert!(c.version().await.is_ok(), "fail_next fires once");
    post("/faults/nodes/cp1", r#"{"down": true}"#)
        .await
        .unwrap();
    assert!(c.version().await.unwrap_err().is_unreachable());
    post("/faults/nodes/cp1", r#"{"down": false}"#)
        .await
        .unwrap();
    eventually("back up", || async { c.version().await.ok() }).await;
    assert_eq!(
        post("/faults/nodes/nope", "{}").await.unwrap().status(),
        404
    );

    // Restart: same config, same etcd membership, bootstrap remembered.
    emu.stop().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let emu = Emulator::start(opts(None)).await.unwrap();
    let c = secure("127.0.115.1", &s, "os:admin");
    wait_secure(&c).await;
    assert_eq!(c.etcd_member_list().await.unwrap().len(), 1);
    assert_eq!(
        c.bootstrap_once().await.unwrap(),
        vixens::talos::client::BootstrapOutcome::AlreadyBootstrapped
    );
    emu.stop().await;
}

#[test]
fn binary_prints_ready_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(
        &topo,
        "nodes:\n- {name: a, address: 127.0.116.1}\n- {name: b, address: 127.0.116.2}\n",
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vixens-emulator"))
        .args([
            "--topology",
            topo.to_str().unwrap(),
            "--state-dir",
            dir.path().join("state").to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    assert!(std::net::TcpStream::connect("127.0.116.2:50000").is_ok());
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    assert!(std::net::TcpStream::connect("127.0.116.2:50000").is_err());
    assert!(dir.path().join("state/talos-state.json").exists());
}

#[tokio::test]
async fn talos_1_13_maintenance_is_read_only_apid() {
    let topology =
        Topology::parse("nodes:\n- {name: a, address: 127.0.117.1}\ntalos_version: v1.13.0\n")
            .unwrap();
    let emu = Emulator::start(Options {
        topology,
        state_dir: None,
        control: None,
    })
    .await
    .unwrap();
    let m = maintenance("127.0.117.1");
    assert_eq!(m.version().await.unwrap().tag, "v1.13.0");
    assert_eq!(
        code(&m.bootstrap_once().await.unwrap_err()),
        tonic::Code::PermissionDenied
    );
    assert_eq!(
        code(&m.kubeconfig().await.unwrap_err()),
        tonic::Code::PermissionDenied
    );
    emu.stop().await;
}

#[tokio::test]
async fn try_mode_rolls_back_and_staged_applies_at_reboot() {
    let control: std::net::SocketAddr = "127.0.118.100:18118".parse().unwrap();
    let topology = Topology::parse(
        "nodes:\n- {name: a, address: 127.0.118.1}\ntimings: {install_delay: 20ms, reboot_delay: 20ms}\n",
    )
    .unwrap();
    let emu = Emulator::start(Options {
        topology,
        state_dir: None,
        control: Some(control),
    })
    .await
    .unwrap();
    let s = TestSecrets::generate();
    let cfg = machine_config(&s, true, "https://127.0.118.1:6443", "");
    maintenance("127.0.118.1")
        .apply_configuration(cfg.as_bytes(), ApplyMode::Auto)
        .await
        .unwrap();
    wait_secure(&secure("127.0.118.1", &s, "os:admin")).await;
    let state = || async {
        let body = reqwest::get(format!("http://{control}/state"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let n = &v["nodes"][0];
        (
            n["active_config_sha256"].clone(),
            n["persisted_config_sha256"].clone(),
        )
    };
    let (active0, persisted0) = state().await;
    assert_eq!(active0, persisted0);
    let tried = cfg.replace("127.0.118.1:6443", "127.0.118.9:6443");
    let mut client = raw("127.0.118.1", &s);
    let reply = client
        .apply_configuration(vixens::proto::machine::ApplyConfigurationRequest {
            data: tried.into_bytes(),
            mode: vixens::proto::machine::apply_configuration_request::Mode::Try as i32,
            dry_run: false,
            try_mode_timeout: Some(prost_types::Duration {
                seconds: 2,
                nanos: 0,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        reply.messages[0].mode_details.contains("try"),
        "{:?}",
        reply.messages[0]
    );
    let (active1, persisted1) = state().await;
    assert_ne!(active1, active0);
    assert_eq!(persisted1, persisted0);
    eventually("try rollback", || async {
        (state().await.0 == active0).then_some(())
    })
    .await;

    // STAGED: on disk now, in effect after the next reboot.
    let staged = cfg.replace("    wipe: false\n", "    wipe: false\n  env: {A: b}\n");
    let c = secure("127.0.118.1", &s, "os:admin");
    c.apply_configuration(staged.as_bytes(), ApplyMode::Staged)
        .await
        .unwrap();
    let (active2, persisted2) = state().await;
    assert_eq!(active2, active0);
    assert_ne!(persisted2, persisted0);
    c.reboot().await.unwrap();
    eventually("staged config active", || async {
        (state().await.0 == persisted2).then_some(())
    })
    .await;
    emu.stop().await;
}

async fn kube_client(kubeconfig: &str, server: Option<&str>) -> kube::Client {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig).unwrap();
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    if let Some(s) = server {
        cfg.cluster_url = s.parse().unwrap();
    }
    kube::Client::try_from(cfg).unwrap()
}

async fn node_names(client: &kube::Client) -> Option<Vec<String>> {
    use k8s_openapi::api::core::v1::Node;
    let list = kube::Api::<Node>::all(client.clone())
        .list(&Default::default())
        .await
        .ok()?;
    let mut names: Vec<String> = list
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    names.sort();
    Some(names)
}

#[tokio::test]
async fn kubernetes_api_comes_up_on_vip_and_control_planes_after_bootstrap() {
    let emu = start("127.0.119").await;
    let s = TestSecrets::generate();
    let vip = "apiVersion: v1alpha1\nkind: Layer2VIPConfig\nname: 127.0.119.10\nlink: eth0\n";
    for (addr, cp) in [("127.0.119.1", true), ("127.0.119.3", false)] {
        let cfg = machine_config(
            &s,
            cp,
            "https://127.0.119.10:6443",
            if cp { vip } else { "" },
        );
        maintenance(addr)
            .apply_configuration(cfg.as_bytes(), ApplyMode::Auto)
            .await
            .unwrap();
    }
    let cp1 = secure("127.0.119.1", &s, "os:admin");
    let w1 = secure("127.0.119.3", &s, "os:admin");
    wait_secure(&cp1).await;
    wait_secure(&w1).await;
    // Nothing listens on the endpoint before etcd is bootstrapped.
    assert!(tokio::net::TcpStream::connect("127.0.119.10:6443")
        .await
        .is_err());
    cp1.bootstrap_once().await.unwrap();
    let kc = String::from_utf8(cp1.kubeconfig().await.unwrap()).unwrap();
    let via_vip = kube_client(&kc, None).await;
    let names = eventually("nodes via the VIP", || async {
        node_names(&via_vip).await.filter(|n| n.len() == 2)
    })
    .await;
    assert_eq!(names, vec!["cp1".to_string(), "w1".to_string()]);
    let direct = kube_client(&kc, Some("https://127.0.119.1:6443")).await;
    assert_eq!(node_names(&direct).await.unwrap().len(), 2);
    // A control plane going down takes its kube-apiserver with it; it comes back with the node.
    let cp1_node = emu.cluster.find("cp1").unwrap();
    emu.cluster.set_down(&cp1_node, true);
    eventually("cp1:6443 closed", || async {
        tokio::net::TcpStream::connect("127.0.119.1:6443")
            .await
            .is_err()
            .then_some(())
    })
    .await;
    assert!(cp1.version().await.is_err());
    emu.cluster.set_down(&cp1_node, false);
    eventually("cp1:6443 back", || async { node_names(&direct).await }).await;
    // The worker's reset stops its kubelet and leaves its Node (neither Talos nor Kubernetes deletes it; the node
    // lifecycle controller marks it Unknown after its grace period: tests/emulator_node_lifecycle.rs).
    w1.reset(false).await.unwrap();
    eventually("w1 down", || async {
        w1.version().await.is_err().then_some(())
    })
    .await;
    assert_eq!(
        node_names(&via_vip).await.unwrap(),
        vec!["cp1".to_string(), "w1".to_string()]
    );
    emu.stop().await;
    assert!(tokio::net::TcpStream::connect("127.0.119.10:6443")
        .await
        .is_err());
}

/// Resetting the last control plane wipes etcd, and with it the Kubernetes cluster: a cluster bootstrapped later
/// with new secrets on the same VIP presents its own serving certificate there and starts without the old
/// objects (real Talos: the new kube-apiserver serves a new etcd).
#[tokio::test]
async fn a_cluster_bootstrapped_after_the_last_control_plane_reset_starts_fresh() {
    use k8s_openapi::api::core::v1::Namespace;
    let emu = start("127.0.108").await;
    let vip = "apiVersion: v1alpha1\nkind: Layer2VIPConfig\nname: 127.0.108.10\nlink: eth0\n";
    for round in 0..2 {
        let s = TestSecrets::generate();
        let cfg = machine_config(&s, true, "https://127.0.108.10:6443", vip);
        eventually("cp1 in maintenance mode", || async {
            maintenance("127.0.108.1")
                .apply_configuration(cfg.as_bytes(), ApplyMode::Auto)
                .await
                .ok()
        })
        .await;
        let cp1 = secure("127.0.108.1", &s, "os:admin");
        wait_secure(&cp1).await;
        cp1.bootstrap_once().await.unwrap();
        let kc = String::from_utf8(cp1.kubeconfig().await.unwrap()).unwrap();
        // Through the VIP, verified against this round's CA.
        let client = kube_client(&kc, None).await;
        eventually("the Node via the VIP", || async {
            node_names(&client).await.filter(|n| n.len() == 1)
        })
        .await;
        let namespaces = kube::Api::<Namespace>::all(client.clone());
        if round == 0 {
            let ns: Namespace =
                serde_json::from_value(serde_json::json!({"metadata": {"name": "left-over"}}))
                    .unwrap();
            namespaces.create(&Default::default(), &ns).await.unwrap();
        } else {
            assert!(
                namespaces.get_opt("left-over").await.unwrap().is_none(),
                "an object of the wiped cluster survived"
            );
            assert!(namespaces.get_opt("kube-system").await.unwrap().is_some());
        }
        cp1.reset(false).await.unwrap();
        eventually("the VIP closed", || async {
            tokio::net::TcpStream::connect("127.0.108.10:6443")
                .await
                .is_err()
                .then_some(())
        })
        .await;
    }
    emu.stop().await;
}
