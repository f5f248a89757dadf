//! `vixens_cilium` through the real Terraform CLI against the Kubernetes API emulator (loopback only, zero
//! workload delays): after apply every Node is Ready, a LoadBalancer Service asking for 192.168.208.70 gets it,
//! the next plan is empty, toggling `hubble.ui` changes only the UI objects, drift is repaired, removing a pool
//! deletes it, and destroy leaves nothing owned behind.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Terraform, Workspace};
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::Client;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{json, Value};
use vixens::emulator::kube::{KubeCluster, KubeOptions, KubeTls, ServerHandle};

const API_IP: &str = "127.0.113.17";

struct Emu {
    rt: tokio::runtime::Runtime,
    _cluster: KubeCluster,
    _server: ServerHandle,
    kubeconfig: String,
}

fn start_emulator() -> Emu {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kubernetes");
    p.distinguished_name = dn;
    let ca_cert = p.self_signed(&key).unwrap().pem();
    let ca_key = key.serialize_pem();
    let issuer = Issuer::from_ca_cert_pem(&ca_cert, KeyPair::from_pem(&ca_key).unwrap()).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut cp = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "admin");
    dn.push(DnType::OrganizationName, "system:masters");
    cp.distinguished_name = dn;
    cp.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = cp.signed_by(&client_key, &issuer).unwrap().pem();

    let (cluster, server) = rt.block_on(async {
        let cluster = KubeCluster::new(KubeOptions {
            workload_delay: Duration::ZERO,
            ..Default::default()
        })
        .unwrap();
        for (i, name) in ["cp-1", "worker-1"].iter().enumerate() {
            cluster
                .ensure_node(
                    name,
                    format!("127.0.113.{}", 20 + i).parse().unwrap(),
                    i == 0,
                )
                .unwrap();
        }
        let addr: SocketAddr = format!("{API_IP}:6443").parse().unwrap();
        let tls = KubeTls {
            ca_cert_pem: ca_cert.clone(),
            ca_key_pem: ca_key.clone(),
            sans: vec![API_IP.into()],
        };
        let server = cluster.serve(addr, tls).await.unwrap();
        (cluster, server)
    });
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: emu\n  cluster:\n    server: https://{API_IP}:6443\n    certificate-authority-data: {}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: admin@emu\n  context:\n    cluster: emu\n    user: admin\ncurrent-context: admin@emu\n",
        b64(&ca_cert),
        b64(&client_cert),
        b64(&client_key.serialize_pem())
    );
    Emu {
        rt,
        _cluster: cluster,
        _server: server,
        kubeconfig,
    }
}

impl Emu {
    fn client(&self) -> Client {
        self.rt.block_on(async {
            let kc = Kubeconfig::from_yaml(&self.kubeconfig).unwrap();
            let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .unwrap();
            Client::try_from(cfg).unwrap()
        })
    }

    fn get(
        &self,
        api_version: &str,
        kind: &str,
        plural: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let client = self.client();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let ar =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        self.rt.block_on(async {
            let api: Api<DynamicObject> = match ns {
                Some(ns) => Api::namespaced_with(client, ns, &ar),
                None => Api::all_with(client, &ar),
            };
            api.get_opt(name)
                .await
                .unwrap()
                .map(|o| serde_json::to_value(o).unwrap())
        })
    }

    fn nodes_ready(&self) -> Vec<(String, bool)> {
        let client = self.client();
        self.rt.block_on(async {
            let api: Api<k8s_openapi::api::core::v1::Node> = Api::all(client);
            api.list(&Default::default())
                .await
                .unwrap()
                .items
                .iter()
                .map(|n| {
                    let ready = n
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| {
                            c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        });
                    (n.metadata.name.clone().unwrap_or_default(), ready)
                })
                .collect()
        })
    }
}

fn config(ui: bool, pools: &[(&str, &str, &str)]) -> String {
    let pools: String = pools
        .iter()
        .map(|(name, start, stop)| {
            format!(
                "  load_balancer_ip_pools {{\n    name = \"{name}\"\n    blocks {{\n      start = \"{start}\"\n      stop  = \"{stop}\"\n    }}\n  }}\n"
            )
        })
        .collect();
    format!(
        r#"
resource "vixens_cilium" "cni" {{
  kubeconfig   = file("${{path.module}}/kubeconfig")
  version      = "1.17.0"
  cluster_name = "dev"
  hubble {{
    enabled = true
    relay   = true
    ui      = {ui}
  }}
  l2_announcements {{
    enabled    = true
    interfaces = ["^eth[0-9]+"]
  }}
{pools}  l2_policy {{
    name              = "services-vlan"
    load_balancer_ips = true
  }}
}}
"#
    )
}

fn inventory(ws: &Workspace) -> Vec<Value> {
    let r = ws
        .resource("vixens_cilium.cni")
        .expect("vixens_cilium.cni in state");
    serde_json::from_str(r["inventory"].as_str().unwrap()).unwrap()
}

fn plural(kind: &str) -> String {
    match kind {
        "CiliumLoadBalancerIPPool" => "ciliumloadbalancerippools".into(),
        "CiliumL2AnnouncementPolicy" => "ciliuml2announcementpolicies".into(),
        k => format!("{}s", k.to_lowercase()),
    }
}

fn exists(emu: &Emu, r: &Value) -> bool {
    let kind = r["kind"].as_str().unwrap();
    emu.get(
        r["apiVersion"].as_str().unwrap(),
        kind,
        &plural(kind),
        r["namespace"].as_str(),
        r["name"].as_str().unwrap(),
    )
    .is_some()
}

fn rv(emu: &Emu, r: &Value) -> String {
    let kind = r["kind"].as_str().unwrap();
    let o = emu
        .get(
            r["apiVersion"].as_str().unwrap(),
            kind,
            &plural(kind),
            r["namespace"].as_str(),
            r["name"].as_str().unwrap(),
        )
        .unwrap();
    o["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

fn assert_plan_empty(ws: &Workspace) {
    let out = ws.run(&["plan", "-detailed-exitcode", "-input=false"]);
    if out.code != 0 {
        ws.ok(&["refresh", "-input=false"]);
        let drift = ws.resource("vixens_cilium.cni").map(|r| r["drift"].clone());
        panic!("plan is not empty (drift now: {drift:?}):\n{}", out.all());
    }
}

#[test]
fn cilium_lifecycle_against_the_emulator() {
    let emu = start_emulator();
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let pools = [
        ("assigned", "192.168.208.70", "192.168.208.79"),
        ("auto", "192.168.208.80", "192.168.208.89"),
    ];
    let ws = Workspace::new(&tf, &config(true, &pools));
    std::fs::write(ws.path().join("kubeconfig"), &emu.kubeconfig).unwrap();
    ws.init();
    let started = Instant::now();
    ws.apply();
    eprintln!("terraform apply (create) took {:?}", started.elapsed());

    // Every node Ready, the agent rolled out, 34 chart objects + 2 pools + the policy owned.
    let nodes = emu.nodes_ready();
    assert_eq!(nodes.len(), 2);
    assert!(nodes.iter().all(|(_, ready)| *ready), "{nodes:?}");
    let owned = inventory(&ws);
    assert_eq!(owned.len(), 37);
    assert!(owned.iter().all(|r| exists(&emu, r)));
    let cm = emu
        .get(
            "v1",
            "ConfigMap",
            "configmaps",
            Some("kube-system"),
            "cilium-config",
        )
        .unwrap();
    assert_eq!(cm["data"]["kube-proxy-replacement"], "true");
    assert_eq!(cm["data"]["cluster-name"], "dev");
    let ds = emu
        .get(
            "apps/v1",
            "DaemonSet",
            "daemonsets",
            Some("kube-system"),
            "cilium",
        )
        .unwrap();
    assert_eq!(ds["metadata"]["managedFields"][0]["manager"], "vixens");

    // A LoadBalancer Service asking for 192.168.208.70 gets it (a Service field only: nothing connects to it).
    let client = emu.client();
    emu.rt.block_on(async {
        let api: Api<k8s_openapi::api::core::v1::Service> =
            Api::namespaced(client.clone(), "default");
        let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "annotations": {"lbipam.cilium.io/ips": "192.168.208.70"}},
            "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}
        }))
        .unwrap();
        api.create(&PostParams::default(), &svc).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = api.get("web").await.unwrap();
            let ip = s
                .status
                .and_then(|s| s.load_balancer)
                .and_then(|lb| lb.ingress)
                .and_then(|i| i.first().and_then(|i| i.ip.clone()));
            if ip.as_deref() == Some("192.168.208.70") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Service web got no 192.168.208.70 (has {ip:?})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });

    // Nothing to do on the next plan.
    assert_plan_empty(&ws);

    // Drift: a deleted DaemonSet and an edited cilium-config show up in the plan and are repaired.
    emu.rt.block_on(async {
        let ds: Api<k8s_openapi::api::apps::v1::DaemonSet> =
            Api::namespaced(client.clone(), "kube-system");
        ds.delete("cilium-envoy", &DeleteParams::default())
            .await
            .unwrap();
    });
    assert_eq!(ws.plan_exit_code(), 2);
    ws.apply();
    assert!(emu
        .get(
            "apps/v1",
            "DaemonSet",
            "daemonsets",
            Some("kube-system"),
            "cilium-envoy"
        )
        .is_some());
    assert_plan_empty(&ws);

    // Turning hubble.ui off deletes exactly the UI objects and leaves every other object untouched.
    let before: Vec<(Value, String)> = owned.iter().map(|r| (r.clone(), rv(&emu, r))).collect();
    ws.write_config(&config(false, &pools));
    ws.apply();
    let after = inventory(&ws);
    let removed: Vec<&Value> = owned.iter().filter(|r| !after.contains(r)).collect();
    let names: Vec<&str> = removed
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(removed.len(), 6, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| *n == "hubble-ui" || *n == "hubble-ui-nginx"),
        "{names:?}"
    );
    assert!(removed.iter().all(|r| !exists(&emu, r)));
    for (r, old) in &before {
        if after.contains(r) && r["name"] != "cilium-envoy" {
            assert_eq!(&rv(&emu, r), old, "{r} changed");
        }
    }
    assert_plan_empty(&ws);

    // Removing a pool deletes its CiliumLoadBalancerIPPool.
    ws.write_config(&config(false, &pools[..1]));
    ws.apply();
    assert!(emu
        .get(
            "cilium.io/v2alpha1",
            "CiliumLoadBalancerIPPool",
            "ciliumloadbalancerippools",
            None,
            "auto"
        )
        .is_none());
    assert!(emu
        .get(
            "cilium.io/v2alpha1",
            "CiliumLoadBalancerIPPool",
            "ciliumloadbalancerippools",
            None,
            "assigned"
        )
        .is_some());
    assert_plan_empty(&ws);

    // Destroy leaves nothing owned behind.
    let last = inventory(&ws);
    ws.destroy();
    let left: Vec<&Value> = last.iter().filter(|r| exists(&emu, r)).collect();
    assert!(left.is_empty(), "still present after destroy: {left:?}");
}
