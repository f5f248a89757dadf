//! The admin kubeconfig Talos's Kubeconfig RPC streams (pkg/machinery kubeconfig.GenerateAdmin): cluster
//! `<clusterName>` at the config's `cluster.controlPlane.endpoint` with the k8s CA, user `admin@<clusterName>`
//! holding a client certificate (CN `admin`, O `system:masters`, one year) signed by the k8s CA; wrapped as Talos
//! does in a gzip'd tar holding `kubeconfig` whose tar writer is never closed (no end-of-archive blocks).

use std::io::Write;

use base64::Engine;

use super::config::MachineConfig;
use crate::emulator::pki;

/// Kubeconfig YAML for the admin of `cfg`'s cluster. Errors: no k8s CA key in the config (workers).
pub fn admin_yaml(cfg: &MachineConfig) -> Result<String, String> {
    let key_pem = cfg
        .k8s_ca
        .key_pem
        .as_ref()
        .ok_or("the config carries no Kubernetes CA key")?;
    let ca_key = pki::key_pair(key_pem)?;
    let leaf = pki::Leaf {
        common_name: "admin".into(),
        organizations: vec!["system:masters".into()],
        client: true,
        ..Default::default()
    };
    let issued = pki::issue(&leaf, &cfg.k8s_ca.cert_pem, &ca_key)?;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let name = &cfg.cluster_name;
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {
            "server": cfg.endpoint,
            "certificate-authority-data": b64(&cfg.k8s_ca.cert_pem),
        }}],
        "users": [{"name": format!("admin@{name}"), "user": {
            "client-certificate-data": b64(&issued.cert_pem),
            "client-key-data": b64(&issued.key_pem),
        }}],
        "contexts": [{"name": format!("admin@{name}"), "context": {
            "cluster": name, "namespace": "default", "user": format!("admin@{name}"),
        }}],
        "current-context": format!("admin@{name}"),
    });
    crate::yaml::to_string(&doc).map_err(|e| e.to_string())
}

/// The gzip'd tar with one regular file `kubeconfig` (mode 0600), without tar end-of-archive blocks.
pub fn admin_tar_gz(cfg: &MachineConfig) -> Result<Vec<u8>, String> {
    let yaml = admin_yaml(cfg)?;
    let mut header = tar::Header::new_ustar();
    header.set_path("kubeconfig").map_err(|e| e.to_string())?;
    header.set_size(yaml.len() as u64);
    header.set_mode(0o600);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    header.set_cksum();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let pad = (512 - yaml.len() % 512) % 512;
    gz.write_all(header.as_bytes())
        .and_then(|_| gz.write_all(yaml.as_bytes()))
        .and_then(|_| gz.write_all(&vec![0u8; pad]))
        .map_err(|e| e.to_string())?;
    gz.finish().map_err(|e| e.to_string())
}
