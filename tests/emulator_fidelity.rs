//! Conformance of the emulator's Talos API with upstream Talos, per version (v1.11.6, v1.12.11, v1.13.9), written
//! from siderolabs/talos and cosi-project/runtime code at those tags (each test names the file it follows):
//! COSI `Get`/`List` behind Talos's access filter, the Version resource, the version a node reports after install
//! and upgrade, ServiceList. Loopback only; each test uses its own 127.0.19x.0/24 addresses.

mod common;

use common::poll::eventually;
use common::talos_grpc::{channel, secure, T};

use prost::Message;
use tonic::transport::Channel;
use tonic::Code;
use vixens::emulator::run::{Emulator, Options};
use vixens::emulator::testkit::{machine_config, TestSecrets};
use vixens::emulator::topology::Topology;
use vixens::proto::cosi::resource::state_client::StateClient;
use vixens::proto::cosi::resource::{
    label_term::Operation, GetRequest, IdQuery, LabelQuery, LabelTerm, ListOptions, ListRequest,
    Resource,
};
use vixens::proto::machine::machine_service_client::MachineServiceClient;
use vixens::proto::talos::resource::definitions::block::DiskSpec;
use vixens::proto::talos::resource::definitions::network::LinkStatusSpec;
use vixens::proto::talos::resource::definitions::runtime::VersionSpec;
use vixens::talos::client::{ApplyMode, Security, TalosClient};

async fn start(talos_version: &str, nodes: &[(&str, &str)]) -> Emulator {
    let mut yaml = String::from("nodes:\n");
    for (name, addr) in nodes {
        yaml.push_str(&format!("- {{name: {name}, address: {addr}}}\n"));
    }
    yaml.push_str(&format!(
        "talos_version: {talos_version}\ntimings: {{install_delay: 20ms, reboot_delay: 20ms, workload_delay: 20ms, \
         upgrade_delay: 20ms}}\n"
    ));
    Emulator::start(Options {
        topology: Topology::parse(&yaml).unwrap(),
        state_dir: None,
        control: None,
    })
    .await
    .unwrap()
}

async fn get(ch: &Channel, ns: &str, ty: &str, id: &str) -> Result<Resource, tonic::Status> {
    let reply = StateClient::new(ch.clone())
        .get(GetRequest {
            namespace: ns.into(),
            r#type: ty.into(),
            id: id.into(),
            options: None,
        })
        .await?;
    Ok(reply.into_inner().resource.unwrap())
}

async fn list_with(
    ch: &Channel,
    ns: &str,
    ty: &str,
    options: Option<ListOptions>,
    nodes: Option<&str>,
) -> Result<Vec<Resource>, tonic::Status> {
    let mut req = tonic::Request::new(ListRequest {
        namespace: ns.into(),
        r#type: ty.into(),
        options,
    });
    if let Some(n) = nodes {
        req.metadata_mut().insert("nodes", n.parse().unwrap());
    }
    let mut stream = StateClient::new(ch.clone()).list(req).await?.into_inner();
    let mut out = Vec::new();
    while let Some(msg) = stream.message().await? {
        out.push(msg.resource.unwrap());
    }
    Ok(out)
}

async fn list(ch: &Channel, ns: &str, ty: &str) -> Result<Vec<Resource>, tonic::Status> {
    list_with(ch, ns, ty, None, None).await
}

fn ids(items: &[Resource]) -> Vec<String> {
    items
        .iter()
        .map(|r| r.metadata.as_ref().unwrap().id.clone())
        .collect()
}

fn denied(r: Result<impl std::fmt::Debug, tonic::Status>, message: &str) {
    let e = r.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::PermissionDenied, message),
        "{e}"
    );
}

/// The Version resource's spec: proto copy and YAML.
fn version_spec(r: &Resource) -> (VersionSpec, String) {
    let spec = r.spec.as_ref().unwrap();
    (
        VersionSpec::decode(&spec.proto_spec[..]).unwrap(),
        spec.yaml_spec.clone(),
    )
}

/// pkg/machinery/resources/runtime/version.go and internal/app/machined/pkg/controllers/runtime/version.go at
/// each tag: `version` is the tag, `name: Talos` is written from v1.13 only.
fn expected_version_yaml(tag: &str) -> String {
    if tag.starts_with("v1.13") {
        format!("name: Talos\nversion: {tag}\n")
    } else {
        format!("version: {tag}\n")
    }
}

/// Maintenance mode: internal/app/resources/access.go (same at the three tags) with the reader role the authz
/// injector gives non-SideroLink peers (pkg/grpc/middleware/authz/injector.go); cosi-project/runtime
/// pkg/state/protobuf/server/{server,helpers}.go for List and its options.
async fn cosi_in_maintenance(tag: &str, addr: &str) {
    let emu = start(tag, &[("n1", addr)]).await;
    let ch = channel(addr, &Security::Maintenance);

    // Version: readable (not sensitive), Get and List agree.
    let got = get(&ch, "runtime", "Versions.runtime.talos.dev", "version")
        .await
        .unwrap();
    let md = got.metadata.as_ref().unwrap();
    assert_eq!(
        (md.namespace.as_str(), md.id.as_str(), md.owner.as_str()),
        ("runtime", "version", "runtime.VersionController")
    );
    let (spec, yaml) = version_spec(&got);
    assert_eq!(spec.version, tag);
    assert_eq!(
        spec.name,
        if tag.starts_with("v1.13") {
            "Talos"
        } else {
            ""
        }
    );
    assert_eq!(yaml, expected_version_yaml(tag));
    let listed = list(&ch, "runtime", "Versions.runtime.talos.dev")
        .await
        .unwrap();
    assert_eq!(listed, vec![got]);
    let e = get(&ch, "runtime", "Versions.runtime.talos.dev", "other")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e}");
    assert_eq!(
        e.message(),
        "resource Versions.runtime.talos.dev(runtime/other@undefined) doesn't exist"
    );

    // MachineStatus lists its single resource.
    let ms = list(&ch, "runtime", "MachineStatuses.runtime.talos.dev")
        .await
        .unwrap();
    assert_eq!(ids(&ms), ["machine"]);

    // Disks (pkg/machinery/resources/block/disk.go, controllers/block/disks.go): one per disk, id the device
    // name, readable in maintenance mode to pick the install disk.
    let disks = list(&ch, "runtime", "Disks.block.talos.dev").await.unwrap();
    assert_eq!(ids(&disks), ["sda"]);
    let sda = get(&ch, "runtime", "Disks.block.talos.dev", "sda")
        .await
        .unwrap();
    assert_eq!(sda, disks[0]);
    let spec = DiskSpec::decode(&sda.spec.as_ref().unwrap().proto_spec[..]).unwrap();
    assert_eq!(
        (spec.dev_path.as_str(), spec.size, spec.pretty_size.as_str()),
        ("/dev/sda", 10 << 30, "11 GB")
    );
    let yaml = &sda.spec.as_ref().unwrap().yaml_spec;
    assert!(
        yaml.starts_with(
            "dev_path: /dev/sda\nsize: 10737418240\npretty_size: 11 GB\nio_size: 512\nsector_size: 512\n"
        ),
        "{yaml}"
    );
    let e = get(&ch, "runtime", "Disks.block.talos.dev", "sdz")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e}");

    // Links (pkg/machinery/resources/network/link_status.go): loopback and the machine's ports, in the `network`
    // namespace, readable in maintenance mode to pick the node's link.
    let links = list(&ch, "network", "LinkStatuses.net.talos.dev")
        .await
        .unwrap();
    assert_eq!(ids(&links), ["lo", "eth0"]);
    let eth0 = get(&ch, "network", "LinkStatuses.net.talos.dev", "eth0")
        .await
        .unwrap();
    assert_eq!(eth0, links[1]);
    let spec = LinkStatusSpec::decode(&eth0.spec.as_ref().unwrap().proto_spec[..]).unwrap();
    assert_eq!((spec.index, spec.mtu, spec.link_state), (2, 1500, true));
    let yaml = &eth0.spec.as_ref().unwrap().yaml_spec;
    assert!(
        yaml.starts_with(
            "index: 2\ntype: ether\nlinkIndex: 0\nflags: UP,BROADCAST,RUNNING,MULTICAST,LOWER_UP\n"
        ),
        "{yaml}"
    );
    assert!(
        yaml.contains("\noperationalState: up\nkind: \"\"\nslaveKind: \"\"\n"),
        "{yaml}"
    );

    // MachineConfig is sensitive: no admin role in maintenance mode, so refused even before a config exists.
    denied(
        list(&ch, "config", "MachineConfigs.config.talos.dev").await,
        "not authorized",
    );
    denied(
        get(&ch, "config", "MachineConfigs.config.talos.dev", "v1alpha1").await,
        "not authorized",
    );

    // The type must be registered in the node's release (pkg/machinery/resources/**: ServicePIDs from v1.13);
    // registered types the emulator does not model answer Unimplemented.
    denied(
        list(&ch, "runtime", "Foos.runtime.talos.dev").await,
        "resource type \"Foos.runtime.talos.dev\" is not supported",
    );
    let pids = list(&ch, "runtime", "ServicePIDs.runtime.talos.dev").await;
    if tag.starts_with("v1.13") {
        assert_eq!(pids.unwrap_err().code(), Code::Unimplemented);
    } else {
        denied(
            pids,
            "resource type \"ServicePIDs.runtime.talos.dev\" is not supported",
        );
    }
    // Sensitive types, modeled or not, need os:admin (OSRootSecrets; KubeletSpecs only from v1.12).
    denied(
        get(&ch, "secrets", "OSRootSecrets.secrets.talos.dev", "os").await,
        "not authorized",
    );
    let kubelet = get(&ch, "k8s", "KubeletSpecs.kubernetes.talos.dev", "kubelet").await;
    if tag.starts_with("v1.11") {
        assert_eq!(kubelet.unwrap_err().code(), Code::Unimplemented);
    } else {
        denied(kubelet, "not authorized");
    }

    // The namespace must be registered; `security` exists from v1.13.
    denied(
        list(&ch, "nope", "Versions.runtime.talos.dev").await,
        "namespace \"nope\" is not supported",
    );
    let security = list(&ch, "security", "Versions.runtime.talos.dev").await;
    if tag.starts_with("v1.13") {
        assert_eq!(security.unwrap(), vec![]);
    } else {
        denied(security, "namespace \"security\" is not supported");
    }
    // A registered type in another registered namespace: nothing lives there.
    assert_eq!(
        list(&ch, "config", "Versions.runtime.talos.dev")
            .await
            .unwrap(),
        vec![]
    );
    // The filter looks definitions up by the lowercased type; the state then keys on the exact name.
    assert_eq!(
        list(&ch, "runtime", "versions.runtime.talos.dev")
            .await
            .unwrap(),
        vec![]
    );

    // List options: id regexp, label queries (these resources carry no labels).
    let opts = |id: &str, terms: Vec<LabelTerm>| {
        Some(ListOptions {
            id_query: Some(IdQuery { regexp: id.into() }),
            label_query: if terms.is_empty() {
                vec![]
            } else {
                vec![LabelQuery { terms }]
            },
        })
    };
    let ty = "MachineStatuses.runtime.talos.dev";
    let with = |o| list_with(&ch, "runtime", ty, o, None);
    assert_eq!(
        ids(&with(opts("^mach", vec![])).await.unwrap()),
        ["machine"]
    );
    assert!(with(opts("^x", vec![])).await.unwrap().is_empty());
    let e = with(opts("(", vec![])).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");
    assert!(e.message().starts_with("failed to compile regexp: "), "{e}");
    let term = |op: Operation, invert: bool| LabelTerm {
        key: "k".into(),
        op: op as i32,
        value: vec!["v".into()],
        invert,
    };
    assert!(with(opts("", vec![term(Operation::Equal, false)]))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(&with(opts("", vec![term(Operation::Exists, true)]))
            .await
            .unwrap()),
        ["machine"]
    );
    emu.stop().await;
}

#[tokio::test]
async fn cosi_in_maintenance_v1_11() {
    cosi_in_maintenance("v1.11.6", "127.0.191.1").await;
}

#[tokio::test]
async fn cosi_in_maintenance_v1_12() {
    cosi_in_maintenance("v1.12.11", "127.0.191.2").await;
}

#[tokio::test]
async fn cosi_in_maintenance_v1_13() {
    cosi_in_maintenance("v1.13.9", "127.0.191.3").await;
}

/// Secure mode: the same access filter with the certificate's roles; apid proxies COSI one-to-one
/// (internal/app/apid/pkg/backend, "one-2-many proxying is not supported for non-machine APIs"); after install
/// the node runs the installer image's Talos, and an upgrade the new image's.
async fn cosi_secure_and_installed_version(tag: &str, next: &str, base: &str) {
    let (cp, w) = (format!("{base}1"), format!("{base}2"));
    // The boot medium is older than what gets installed.
    let emu = start("v1.11.0", &[("cp1", &cp), ("w1", &w)]).await;
    let s = TestSecrets::generate();
    for (addr, is_cp) in [(&cp, true), (&w, false)] {
        let cfg = machine_config(&s, is_cp, &format!("https://{cp}:6443"), "").replace(
            "ghcr.io/siderolabs/installer:v1.12.0",
            &format!("ghcr.io/siderolabs/installer:{tag}"),
        );
        TalosClient::connect(addr, &Security::Maintenance, T)
            .unwrap()
            .apply_configuration(cfg.as_bytes(), ApplyMode::Auto)
            .await
            .unwrap();
    }
    let admin = channel(&cp, &secure(&s, "os:admin"));
    let reader = channel(&cp, &secure(&s, "os:reader"));
    let installed = eventually("cp1 installed", || async {
        get(&reader, "runtime", "Versions.runtime.talos.dev", "version")
            .await
            .ok()
    })
    .await;
    assert_eq!(version_spec(&installed).1, expected_version_yaml(tag));
    let client = TalosClient::connect(&cp, &secure(&s, "os:admin"), T).unwrap();
    assert_eq!(client.version().await.unwrap().tag, tag);

    // The machine config: admin only, one resource `v1alpha1`.
    let mc = list(&admin, "config", "MachineConfigs.config.talos.dev")
        .await
        .unwrap();
    assert_eq!(ids(&mc), ["v1alpha1"]);
    denied(
        list(&reader, "config", "MachineConfigs.config.talos.dev").await,
        "not authorized",
    );
    // Routed to the worker by `node`; `nodes` is refused for COSI.
    let mut req = tonic::Request::new(ListRequest {
        namespace: "runtime".into(),
        r#type: "Versions.runtime.talos.dev".into(),
        options: None,
    });
    req.metadata_mut().insert("node", w.parse().unwrap());
    let mut stream = StateClient::new(reader.clone())
        .list(req)
        .await
        .unwrap()
        .into_inner();
    let worker = stream.message().await.unwrap().unwrap().resource.unwrap();
    assert_eq!(version_spec(&worker).0.version, tag);
    assert!(stream.message().await.unwrap().is_none());
    let e = list_with(
        &reader,
        "runtime",
        "Versions.runtime.talos.dev",
        None,
        Some(&w),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");

    // Upgrade: the node comes back running the new image's tag.
    client
        .upgrade(&format!("ghcr.io/siderolabs/installer:{next}"))
        .await
        .unwrap();
    let upgraded = eventually("cp1 upgraded", || async {
        let r = get(&reader, "runtime", "Versions.runtime.talos.dev", "version")
            .await
            .ok()?;
        (version_spec(&r).0.version == next).then_some(r)
    })
    .await;
    assert_eq!(version_spec(&upgraded).1, expected_version_yaml(next));
    assert_eq!(client.version().await.unwrap().tag, next);
    emu.stop().await;
}

#[tokio::test]
async fn cosi_secure_and_installed_version_v1_11() {
    cosi_secure_and_installed_version("v1.11.6", "v1.12.11", "127.0.192.").await;
}

#[tokio::test]
async fn cosi_secure_and_installed_version_v1_12() {
    cosi_secure_and_installed_version("v1.12.11", "v1.13.9", "127.0.193.").await;
}

#[tokio::test]
async fn cosi_secure_and_installed_version_v1_13() {
    cosi_secure_and_installed_version("v1.13.0", "v1.13.9", "127.0.194.").await;
}

/// `(id, state, healthy)` of each service, in the order the node lists them.
async fn services(client: &TalosClient) -> Result<Vec<(String, String, Option<bool>)>, String> {
    Ok(client
        .service_list()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|s| (s.id, s.state, s.healthy))
        .collect())
}

fn expected(list: &[(&str, &str, Option<bool>)]) -> Vec<(String, String, Option<bool>)> {
    list.iter()
        .map(|(id, state, h)| (id.to_string(), state.to_string(), *h))
        .collect()
}

const OK: Option<bool> = Some(true);

/// internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_sequencer.go (Initialize's early services; apid among them
/// from v1.13), v1alpha1_sequencer_tasks.go `StartAllServices` (cri, kubelet; trustd and etcd on control planes),
/// system.go `List` (sorted by id), service_runner.go `AsProto`; maintenance mode up to v1.12 serves no
/// ServiceList (internal/app/maintenance/server.go embeds UnimplementedMachineServiceServer).
async fn service_list(tag: &str, base: &str) {
    let (cp, w) = (format!("{base}1"), format!("{base}2"));
    let emu = start(tag, &[("cp1", &cp), ("w1", &w)]).await;
    let maintenance = TalosClient::connect(&cp, &Security::Maintenance, T).unwrap();
    let early = services(&maintenance).await;
    if tag.starts_with("v1.13") {
        assert_eq!(
            early.unwrap(),
            expected(&[
                ("apid", "Running", OK),
                ("auditd", "Running", OK),
                ("containerd", "Running", OK),
                ("dashboard", "Running", None),
                ("machined", "Running", OK),
                ("syslogd", "Running", OK),
                ("udevd", "Running", OK),
            ])
        );
    } else {
        let e = early.unwrap_err();
        assert!(
            e.contains("Unimplemented") || e.contains("not implemented"),
            "{e}"
        );
    }

    let s = TestSecrets::generate();
    for (addr, is_cp) in [(&cp, true), (&w, false)] {
        let cfg = machine_config(&s, is_cp, &format!("https://{cp}:6443"), "").replace(
            "ghcr.io/siderolabs/installer:v1.12.0",
            &format!("ghcr.io/siderolabs/installer:{tag}"),
        );
        maintenance_client(addr)
            .apply_configuration(cfg.as_bytes(), ApplyMode::Auto)
            .await
            .unwrap();
    }
    let reader = TalosClient::connect(&cp, &secure(&s, "os:reader"), T).unwrap();
    let before = eventually("cp1 running", || async { services(&reader).await.ok() }).await;
    assert_eq!(
        before,
        expected(&[
            ("apid", "Running", OK),
            ("auditd", "Running", OK),
            ("containerd", "Running", OK),
            ("cri", "Running", OK),
            ("dashboard", "Running", None),
            ("etcd", "Preparing", None),
            ("kubelet", "Running", OK),
            ("machined", "Running", OK),
            ("syslogd", "Running", OK),
            ("trustd", "Running", OK),
            ("udevd", "Running", OK),
        ])
    );
    let worker = TalosClient::connect(&w, &secure(&s, "os:reader"), T).unwrap();
    let on_worker = eventually("w1 running", || async { services(&worker).await.ok() }).await;
    assert_eq!(
        on_worker,
        expected(&[
            ("apid", "Running", OK),
            ("auditd", "Running", OK),
            ("containerd", "Running", OK),
            ("cri", "Running", OK),
            ("dashboard", "Running", None),
            ("kubelet", "Running", OK),
            ("machined", "Running", OK),
            ("syslogd", "Running", OK),
            ("udevd", "Running", OK),
        ])
    );

    // The raw reply: event history as ServiceRunner records it; a service without health check keeps Go's zero
    // time as its health's last change.
    let raw = MachineServiceClient::new(channel(&cp, &secure(&s, "os:reader")))
        .service_list(())
        .await
        .unwrap()
        .into_inner();
    let infos = &raw.messages[0].services;
    let by_id = |id: &str| infos.iter().find(|s| s.id == id).unwrap();
    let msgs = |id: &str| -> Vec<(String, String)> {
        by_id(id)
            .events
            .as_ref()
            .unwrap()
            .events
            .iter()
            .map(|e| (e.state.clone(), e.msg.clone()))
            .collect()
    };
    assert_eq!(
        msgs("machined"),
        [
            ("Starting", "Starting service"),
            ("Preparing", "Running pre state"),
            ("Preparing", "Creating service runner"),
            ("Running", "Service started as goroutine"),
            ("Running", "Health check successful"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(msgs("kubelet")[3]
        .1
        .starts_with("Started task kubelet (PID "));
    assert!(msgs("dashboard")[3]
        .1
        .starts_with("Process Process([\"/sbin/dashboard\"]) started with PID "));
    let dashboard = by_id("dashboard").health.clone().unwrap();
    assert!(dashboard.unknown);
    assert_eq!(dashboard.last_change.unwrap().seconds, -62_135_596_800);
    assert_eq!(
        msgs("etcd").last().unwrap(),
        &("Preparing".to_string(), "Running pre state".to_string())
    );

    // Bootstrap: etcd leaves its pre stage.
    TalosClient::connect(&cp, &secure(&s, "os:admin"), T)
        .unwrap()
        .bootstrap_once()
        .await
        .unwrap();
    let etcd = services(&reader)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.0 == "etcd");
    assert_eq!(etcd, Some(("etcd".into(), "Running".into(), OK)));
    emu.stop().await;
}

fn maintenance_client(addr: &str) -> TalosClient {
    TalosClient::connect(addr, &Security::Maintenance, T).unwrap()
}

#[tokio::test]
async fn service_list_v1_11() {
    service_list("v1.11.6", "127.0.195.").await;
}

#[tokio::test]
async fn service_list_v1_12() {
    service_list("v1.12.11", "127.0.196.").await;
}

#[tokio::test]
async fn service_list_v1_13() {
    service_list("v1.13.9", "127.0.197.").await;
}
