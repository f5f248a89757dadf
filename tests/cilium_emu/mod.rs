//! The Kubernetes API emulator for the `vixens_cilium` tests through Terraform: a cluster with a control plane
//! and a worker, its API server on a loopback address with its own CA, and an admin kubeconfig.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use kube::api::{Api, DynamicObject};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::Client;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::Value;
use vixens::emulator::kube::{KubeCluster, KubeOptions, KubeTls, ServerHandle};

/// A running emulator; dropping it stops the server.
pub struct Emu {
    pub rt: tokio::runtime::Runtime,
    _cluster: KubeCluster,
    _server: ServerHandle,
    pub kubeconfig: String,
}

/// The Kubernetes API emulator on `api_ip:6443` (each test its own address: tests run in parallel).
pub fn start_emulator_at(api_ip: &str) -> Emu {
    start_emulator_with(api_ip, Duration::ZERO)
}

/// [`start_emulator_at`] with workloads taking `workload_delay` to become ready.
pub fn start_emulator_with(api_ip: &str, workload_delay: Duration) -> Emu {
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
            workload_delay,
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
        let addr: SocketAddr = format!("{api_ip}:6443").parse().unwrap();
        let tls = KubeTls {
            ca_cert_pem: ca_cert.clone(),
            ca_key_pem: ca_key.clone(),
            sans: vec![api_ip.into()],
        };
        let server = cluster.serve(addr, tls).await.unwrap();
        (cluster, server)
    });
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: emu\n  cluster:\n    server: https://{api_ip}:6443\n    certificate-authority-data: {}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: admin@emu\n  context:\n    cluster: emu\n    user: admin\ncurrent-context: admin@emu\n",
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
    pub fn client(&self) -> Client {
        self.rt.block_on(async {
            let kc = Kubeconfig::from_yaml(&self.kubeconfig).unwrap();
            let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .unwrap();
            Client::try_from(cfg).unwrap()
        })
    }

    pub fn get(
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

    pub fn nodes_ready(&self) -> Vec<(String, bool)> {
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
