//! The emulator's COSI State service (`cosi.resource.State/Get` of MachineStatus) in maintenance and secure mode,
//! driven by a tonic client over the provider's own TLS settings (`vixens::talos::client::tls`). Loopback only.

mod common;

use common::poll::eventually;
use common::talos_grpc::{channel, secure, T};

use prost::Message;
use tonic::transport::Channel;
use vixens::emulator::run::{Emulator, Options};
use vixens::emulator::testkit::{machine_config, TestSecrets};
use vixens::emulator::topology::Topology;
use vixens::proto::cosi::resource::state_client::StateClient;
use vixens::proto::cosi::resource::{GetRequest, Resource};
use vixens::proto::talos::resource::definitions::enums::RuntimeMachineStage;
use vixens::proto::talos::resource::definitions::runtime::MachineStatusSpec;
use vixens::talos::client::{ApplyMode, Security, TalosClient};

fn request(ty: &str, id: &str, node: Option<&str>) -> tonic::Request<GetRequest> {
    let mut req = tonic::Request::new(GetRequest {
        namespace: "runtime".into(),
        r#type: ty.into(),
        id: id.into(),
        options: None,
    });
    if let Some(n) = node {
        req.metadata_mut().insert("node", n.parse().unwrap());
    }
    req
}

async fn machine_status(
    ch: &Channel,
    node: Option<&str>,
) -> Result<(Resource, MachineStatusSpec), tonic::Status> {
    let resource = StateClient::new(ch.clone())
        .get(request(
            "MachineStatuses.runtime.talos.dev",
            "machine",
            node,
        ))
        .await?
        .into_inner()
        .resource
        .unwrap();
    let spec = MachineStatusSpec::decode(&resource.spec.as_ref().unwrap().proto_spec[..]).unwrap();
    Ok((resource, spec))
}

fn unmet(spec: &MachineStatusSpec) -> Vec<(String, String)> {
    spec.status
        .as_ref()
        .unwrap()
        .unmet_conditions
        .iter()
        .map(|c| (c.name.clone(), c.reason.clone()))
        .collect()
}

#[tokio::test]
async fn machine_status_follows_the_node_from_maintenance_to_running() {
    let topology = Topology::parse(
        "nodes:\n- {name: cp1, address: 127.0.143.1}\n- {name: w1, address: 127.0.143.3}\n\
         timings: {install_delay: 20ms, reboot_delay: 20ms, workload_delay: 20ms}\n",
    )
    .unwrap();
    let emu = Emulator::start(Options {
        topology,
        state_dir: None,
        control: None,
    })
    .await
    .unwrap();

    // Maintenance mode: served without a client certificate, stage maintenance, no readiness checks.
    let insecure = channel("127.0.143.1", &Security::Maintenance);
    let (res, spec) = machine_status(&insecure, None).await.unwrap();
    let md = res.metadata.as_ref().unwrap();
    assert_eq!(
        (md.namespace.as_str(), md.r#type.as_str(), md.id.as_str()),
        ("runtime", "MachineStatuses.runtime.talos.dev", "machine")
    );
    assert_eq!(md.owner, "runtime.MachineStatusController");
    assert_eq!(
        spec.stage,
        RuntimeMachineStage::MachineStageMaintenance as i32
    );
    assert!(spec.status.as_ref().unwrap().ready);
    assert_eq!(
        res.spec.unwrap().yaml_spec,
        "stage: maintenance\nstatus:\n    ready: true\n    unmetConditions: []\n"
    );
    // Another id is NotFound; a type the emulator does not model is Unimplemented.
    let e = StateClient::new(insecure.clone())
        .get(request("MachineStatuses.runtime.talos.dev", "other", None))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e}");
    assert!(e.message().contains("doesn't exist"), "{e}");
    let e = StateClient::new(insecure.clone())
        .get(request("KernelParamStatuses.runtime.talos.dev", "x", None))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unimplemented, "{e}");

    // Install both nodes; running, before bootstrap: etcd is not running and no Node is registered.
    let s = TestSecrets::generate();
    for (addr, cp) in [("127.0.143.1", true), ("127.0.143.3", false)] {
        let cfg = machine_config(&s, cp, "https://127.0.143.1:6443", "");
        TalosClient::connect(addr, &Security::Maintenance, T)
            .unwrap()
            .apply_configuration(cfg.as_bytes(), ApplyMode::Auto)
            .await
            .unwrap();
    }
    let reader = channel("127.0.143.1", &secure(&s, "os:reader"));
    let spec = eventually("cp1 running", || async {
        machine_status(&reader, None)
            .await
            .ok()
            .map(|(_, s)| s)
            .filter(|s| s.stage == RuntimeMachineStage::MachineStageRunning as i32)
    })
    .await;
    assert!(!spec.status.as_ref().unwrap().ready);
    assert_eq!(
        unmet(&spec),
        vec![
            // etcd waits in its pre stage for the bootstrap; the kubelet runs and answers its health check.
            ("services".to_string(), "etcd not running".to_string()),
            (
                "nodeReady".to_string(),
                "node \"cp1\" status is not available yet".to_string()
            ),
        ]
    );
    // apid routes the request to the worker named in the `node` metadata.
    let w1 = eventually("w1 running", || async {
        machine_status(&reader, Some("127.0.143.3"))
            .await
            .ok()
            .map(|(_, s)| s)
            .filter(|s| s.stage == RuntimeMachineStage::MachineStageRunning as i32)
    })
    .await;
    assert_eq!(
        unmet(&w1),
        vec![(
            "nodeReady".to_string(),
            "node \"w1\" status is not available yet".to_string()
        )],
        "{w1:?}"
    );
    // A client certificate from another CA is refused at the handshake.
    let foreign = channel("127.0.143.1", &secure(&TestSecrets::generate(), "os:admin"));
    assert!(machine_status(&foreign, None).await.is_err());

    // After bootstrap etcd runs and the Node registers, NotReady until a CNI (no cilium here).
    TalosClient::connect("127.0.143.1", &secure(&s, "os:admin"), T)
        .unwrap()
        .bootstrap_once()
        .await
        .unwrap();
    let spec = eventually("cp1 registered", || async {
        let (_, s) = machine_status(&reader, None).await.ok()?;
        (unmet(&s)
            == vec![(
                "nodeReady".to_string(),
                "node \"cp1\" is not ready".to_string(),
            )])
        .then_some(s)
    })
    .await;
    assert!(!spec.status.unwrap().ready);

    // Once the cilium DaemonSet is ready the Nodes turn Ready, and so does the machine.
    let admin = TalosClient::connect("127.0.143.1", &secure(&s, "os:admin"), T).unwrap();
    let kubeconfig = String::from_utf8(admin.kubeconfig().await.unwrap()).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&kubeconfig).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let ds: kube::Api<k8s_openapi::api::apps::v1::DaemonSet> =
        kube::Api::namespaced(kube::Client::try_from(cfg).unwrap(), "kube-system");
    let cilium = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "cilium", "namespace": "kube-system"},
        "spec": {
            "selector": {"matchLabels": {"k8s-app": "cilium"}},
            "template": {
                "metadata": {"labels": {"k8s-app": "cilium"}},
                "spec": {
                    "hostNetwork": true,
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [{"name": "cilium-agent", "image": "quay.io/cilium/cilium:v1.17.0"}]
                }
            }
        }
    });
    ds.patch(
        "cilium",
        &kube::api::PatchParams::apply("test"),
        &kube::api::Patch::Apply(cilium),
    )
    .await
    .unwrap();
    let (res, _) = eventually("cp1 ready", || async {
        machine_status(&reader, None)
            .await
            .ok()
            .filter(|(_, s)| s.status.as_ref().is_some_and(|st| st.ready))
    })
    .await;
    assert_eq!(
        res.spec.unwrap().yaml_spec,
        "stage: running\nstatus:\n    ready: true\n    unmetConditions: []\n"
    );
    emu.stop().await;
}
