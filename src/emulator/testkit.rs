//! Fixtures for testing and benchmarking the emulator: a Talos-shaped secrets bundle (OS CA Ed25519 with the
//! `ED25519 PRIVATE KEY` label, etcd/k8s/aggregator CAs ECDSA P-256, as talosctl's `secrets.yaml`) and machine
//! configs built from it. Written separately from the provider's config generation so that tests of one do not
//! share the other's mistakes.

use base64::Engine;
use rcgen::KeyPair;

use super::pki::{self, Issued, Leaf};

/// A CA certificate and key.
pub struct TestCa {
    /// Certificate PEM.
    pub cert_pem: String,
    /// Key pair.
    pub key: KeyPair,
    /// Key PEM with Talos's label.
    pub key_pem: String,
}

impl TestCa {
    fn new(org: &str, ed25519: bool) -> TestCa {
        let (cert_pem, key) = pki::new_ca(org, ed25519).unwrap_or_else(|e| panic!("test CA: {e}"));
        let mut key_pem = key.serialize_pem();
        if ed25519 {
            key_pem = key_pem.replace("PRIVATE KEY", "ED25519 PRIVATE KEY");
        }
        TestCa {
            cert_pem,
            key,
            key_pem,
        }
    }

    /// Issues a client certificate with organization `org` (e.g. `os:admin`).
    pub fn client(&self, org: &str) -> Issued {
        let leaf = Leaf {
            common_name: "client".into(),
            organizations: vec![org.into()],
            client: true,
            ..Leaf::default()
        };
        pki::issue(&leaf, &self.cert_pem, &self.key).unwrap_or_else(|e| panic!("client cert: {e}"))
    }
}

/// The secrets of one test cluster.
pub struct TestSecrets {
    /// OS (Talos API) CA.
    pub os: TestCa,
    /// Kubernetes CA.
    pub k8s: TestCa,
    /// etcd CA.
    pub etcd: TestCa,
    /// Aggregator CA.
    pub aggregator: TestCa,
    /// Service account key PEM (ECDSA P-256, as contracts before 1.6).
    pub service_account_pem: String,
}

impl TestSecrets {
    /// Generates fresh secrets.
    pub fn generate() -> TestSecrets {
        TestSecrets {
            os: TestCa::new("talos", true),
            k8s: TestCa::new("kubernetes", false),
            etcd: TestCa::new("etcd", false),
            aggregator: TestCa::new("", false),
            service_account_pem: KeyPair::generate()
                .unwrap_or_else(|e| panic!("sa key: {e}"))
                .serialize_pem(),
        }
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Builds a valid v1alpha1 machine config for `controlplane` or `worker` with endpoint `endpoint` (e.g.
/// `https://127.0.111.10:6443`) installing to `/dev/sda`; `extra_docs` are appended as further YAML documents.
pub fn machine_config(
    s: &TestSecrets,
    controlplane: bool,
    endpoint: &str,
    extra_docs: &str,
) -> String {
    let (ty, ca_key, k8s_key) = if controlplane {
        ("controlplane", b64(&s.os.key_pem), b64(&s.k8s.key_pem))
    } else {
        ("worker", String::new(), String::new())
    };
    let mut out = format!(
        "version: v1alpha1\ndebug: false\npersist: true\nmachine:\n  type: {ty}\n  token: abcdef.0123456789abcdef\n  \
         ca:\n    crt: {}\n    key: \"{ca_key}\"\n  certSANs: []\n  install:\n    disk: /dev/sda\n    \
         image: ghcr.io/siderolabs/installer:v1.12.0\n    wipe: false\n  features:\n    kubePrism:\n      \
         enabled: true\n      port: 7445\ncluster:\n  id: {}\n  secret: {}\n  controlPlane:\n    endpoint: {endpoint}\n  \
         clusterName: test\n  network:\n    dnsDomain: cluster.local\n    podSubnets: [10.244.0.0/16]\n    \
         serviceSubnets: [10.96.0.0/12]\n    cni: {{name: none}}\n  proxy: {{disabled: true}}\n  \
         token: 012345.0123456789abcdef\n  ca:\n    crt: {}\n    key: \"{k8s_key}\"\n",
        b64(&s.os.cert_pem),
        base64::engine::general_purpose::URL_SAFE.encode([7u8; 32]),
        base64::engine::general_purpose::STANDARD.encode([9u8; 32]),
        b64(&s.k8s.cert_pem),
    );
    if controlplane {
        out.push_str(&format!(
            "  secretboxEncryptionSecret: {}\n  aggregatorCA:\n    crt: {}\n    key: {}\n  serviceAccount:\n    \
             key: {}\n  etcd:\n    ca:\n      crt: {}\n      key: {}\n",
            base64::engine::general_purpose::STANDARD.encode([3u8; 32]),
            b64(&s.aggregator.cert_pem),
            b64(&s.aggregator.key_pem),
            b64(&s.service_account_pem),
            b64(&s.etcd.cert_pem),
            b64(&s.etcd.key_pem),
        ));
    }
    if !extra_docs.is_empty() {
        out.push_str("---\n");
        out.push_str(extra_docs);
    }
    out
}
