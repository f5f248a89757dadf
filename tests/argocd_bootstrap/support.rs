//! Shared setup of the Argo CD bootstrap tests: an emulated cluster on a loopback address with an admin
//! kubeconfig, Ready nodes, a loopback HTTP server for the manifest, kubectl, and the v3.5.1 fixture.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use vixens::emulator::kube::{KubeCluster, KubeOptions, KubeTls, NodeOptions, ServerHandle};

/// The Argo CD v3.5.1 install.yaml from `<repo>/../shared/fixtures`, or `None` with a printed reason.
pub fn fixture() -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/argocd/v3.5.1/install.yaml");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            println!(
                "SKIPPED: Argo CD fixture {} not readable ({e})",
                path.display()
            );
            None
        }
    }
}

/// An emulated cluster served on `<ip>:6443`.
pub struct Env {
    pub cluster: KubeCluster,
    pub server: Option<ServerHandle>,
    pub kubeconfig: String,
    pub host: String,
    pub ca_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
    pub dir: tempfile::TempDir,
}

fn mint_ca() -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kubernetes");
    p.distinguished_name = dn;
    (p.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

fn client_cert(ca_pem: &str, ca_key_pem: &str) -> (String, String) {
    let issuer = Issuer::from_ca_cert_pem(ca_pem, KeyPair::from_pem(ca_key_pem).unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "admin");
    dn.push(DnType::OrganizationName, "system:masters");
    p.distinguished_name = dn;
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    (
        p.signed_by(&key, &issuer).unwrap().pem(),
        key.serialize_pem(),
    )
}

impl Env {
    /// Starts a cluster on `ip` with workloads ready after `delay_ms`, one schedulable control plane made Ready by
    /// a stand-in `cilium` DaemonSet.
    pub async fn start(ip: &str, delay_ms: u64) -> Env {
        Env::start_with(
            ip,
            KubeOptions {
                workload_delay: Duration::from_millis(delay_ms),
                ..Default::default()
            },
        )
        .await
    }

    /// [`Env::start`] with the cluster's options.
    pub async fn start_with(ip: &str, options: KubeOptions) -> Env {
        let cluster = KubeCluster::new(options).unwrap();
        let (ca_pem, ca_key) = mint_ca();
        let addr: SocketAddr = format!("{ip}:6443").parse().unwrap();
        let tls = KubeTls {
            ca_cert_pem: ca_pem.clone(),
            ca_key_pem: ca_key.clone(),
            sans: vec![ip.to_string()],
        };
        let server = cluster.serve(addr, tls).await.unwrap();
        let (cert, key) = client_cert(&ca_pem, &ca_key);
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let host = format!("https://{ip}:6443");
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: emu\n  cluster:\n    server: {host}\n    certificate-authority-data: {}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: admin@emu\n  context:\n    cluster: emu\n    user: admin\ncurrent-context: admin@emu\n",
            b64(&ca_pem), b64(&cert), b64(&key)
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), &kubeconfig).unwrap();
        cluster
            .ensure_node_with(NodeOptions {
                os_image: None,
                name: "cp-1".into(),
                internal_ip: ip.parse().unwrap(),
                control_plane: true,
                allow_scheduling_on_control_plane: true,
                kubelet_version: None,
            })
            .unwrap();
        let env = Env {
            cluster,
            server: Some(server),
            kubeconfig,
            host,
            ca_pem,
            client_cert_pem: cert,
            client_key_pem: key,
            dir,
        };
        env.make_nodes_ready().await;
        env
    }

    /// A client through the crate's own connection code.
    pub async fn client(&self) -> kube::Client {
        vixens::k8s::Connection::Kubeconfig(self.kubeconfig.clone())
            .connect(Duration::from_secs(10))
            .await
            .unwrap()
    }

    async fn make_nodes_ready(&self) {
        let client = self.client().await;
        let applier = vixens::k8s::apply::Applier::new(client.clone());
        let ds: kube::api::DynamicObject = vixens::yaml::from_str(CILIUM_STANDIN).unwrap();
        applier.apply(&ds, true).await.unwrap();
        vixens::k8s::wait::nodes_ready(&client, 1, Duration::from_secs(20))
            .await
            .unwrap();
    }

    /// Runs kubectl with this cluster's kubeconfig; `None` (with a message) when kubectl is absent.
    pub fn kubectl(&self, args: &[&str]) -> Option<(bool, String, String)> {
        kubectl(
            &self.dir.path().join("kubeconfig"),
            &self.dir.path().join("cache"),
            args,
        )
    }
}

/// Runs kubectl; `None` when it is not on PATH.
pub fn kubectl(kubeconfig: &Path, cache: &Path, args: &[&str]) -> Option<(bool, String, String)> {
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env("HOME", cache.parent().unwrap_or(Path::new("/tmp")))
        .output();
    match out {
        Ok(out) => Some((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )),
        Err(_) => {
            println!("SKIPPED: kubectl not found on PATH");
            None
        }
    }
}

/// A stand-in for the Cilium agent: the emulator turns Nodes Ready once a `cilium` DaemonSet in kube-system is.
const CILIUM_STANDIN: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: cilium, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: cilium}}
  template:
    metadata: {labels: {k8s-app: cilium}}
    spec:
      hostNetwork: true
      tolerations: [{operator: Exists}]
      containers: [{name: cilium-agent, image: quay.io/cilium/cilium:v1.17.0}]
"#;

/// Serves `body` at `http://<ip>:<port>/install.yaml` (any path) from a loopback HTTP/1.1 server; counts requests.
pub async fn serve_manifest(
    ip: &str,
    body: String,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(format!("{ip}:0"))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let body = body.clone();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = sock.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/yaml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}/v3.5.1/manifests/install.yaml"), hits)
}
