//! Client configuration files: the talosctl config (talos `pkg/machinery/client/config`: `context`,
//! `contexts.<name>{endpoints, ca, crt, key}`, PEMs base64-encoded) and the admin kubeconfig (Kubernetes
//! `clientcmd/api/v1` `Config`: cluster `server` + `certificate-authority-data`, user
//! `client-certificate-data` + `client-key-data`, context `admin@<cluster>`), as Talos' `GenerateAdmin` writes it.

use crate::talos::pki::CertAndKey;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;

fn b64(text: &str) -> String {
    STANDARD.encode(text.as_bytes())
}

/// A talosconfig for cluster `name`: `endpoints` (the control-plane addresses talosctl dials and proxies
/// through), the OS CA certificate and a client certificate, shaped as Talos's own generator writes it
/// (pkg/machinery/client/config/config.go@v1.13.9 `NewConfig`, used by `talosctl gen config`): no `nodes`, so a
/// bare `talosctl reboot` targets nothing instead of every node; pick nodes with `-n`.
///
/// # Errors
/// Only a YAML serialization failure (not expected).
pub fn talosconfig(
    name: &str,
    endpoints: &[String],
    os_ca_crt: &str,
    client: &CertAndKey,
) -> Result<String, serde_yaml::Error> {
    let doc = json!({
        "context": name,
        "contexts": {
            name: {
                "endpoints": endpoints,
                "ca": b64(os_ca_crt),
                "crt": b64(&client.crt),
                "key": b64(&client.key),
            }
        }
    });
    serde_yaml::to_string(&doc)
}

/// The admin kubeconfig for cluster `name` at `server` (`https://host:port`).
///
/// # Errors
/// Only a YAML serialization failure (not expected).
pub fn kubeconfig(
    name: &str,
    server: &str,
    k8s_ca_crt: &str,
    admin: &CertAndKey,
) -> Result<String, serde_yaml::Error> {
    let user = format!("admin@{name}");
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": b64(k8s_ca_crt)}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": b64(&admin.crt),
            "client-key-data": b64(&admin.key),
        }}],
        "contexts": [{"name": user, "context": {"cluster": name, "namespace": "default", "user": user}}],
        "current-context": user,
        "preferences": {},
    });
    serde_yaml::to_string(&doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let client = CertAndKey {
            crt: "C".into(),
            key: "K".into(),
        };
        let text = talosconfig("c", &["1.2.3.4".into()], "CA", &client).unwrap();
        // The fields of upstream's generated talosconfig, in its order (yaml.v3 of `Config`/`Context`; yaml.v3
        // indents by 4, the same document).
        assert_eq!(
            text,
            format!(
                "context: c\ncontexts:\n  c:\n    endpoints:\n    - 1.2.3.4\n    ca: {}\n    crt: {}\n    key: {}\n",
                b64("CA"),
                b64("C"),
                b64("K")
            )
        );
        let t: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert!(t["contexts"]["c"].get("nodes").is_none());
        let k: serde_yaml::Value =
            serde_yaml::from_str(&kubeconfig("c", "https://h:6443", "CA", &client).unwrap())
                .unwrap();
        assert_eq!(k["clusters"][0]["cluster"]["server"], "https://h:6443");
        assert_eq!(k["current-context"], "admin@c");
    }
}
