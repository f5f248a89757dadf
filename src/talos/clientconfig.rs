//! Client configuration files: the talosctl config (talos `pkg/machinery/client/config`: `context`,
//! `contexts.<name>{endpoints, ca, crt, key}`, PEMs base64-encoded) and the admin kubeconfig (Kubernetes
//! `clientcmd/api/v1` `Config`: cluster `server` + `certificate-authority-data`, user
//! `client-certificate-data` + `client-key-data`, context `admin@<cluster>`), as Talos' `GenerateAdmin` writes it.

use crate::k8s::kubeconfig::ClientCertificateKubeconfig;
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
) -> Result<String, crate::yaml::EmitError> {
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
    crate::yaml::to_string(&doc)
}

/// The admin kubeconfig for cluster `name` at `server` (`https://host:port`), built as kube's typed `Kubeconfig`.
///
/// # Errors
/// Only a YAML serialization failure (not expected).
pub fn kubeconfig(
    name: &str,
    server: &str,
    k8s_ca_crt: &str,
    admin: &CertAndKey,
) -> Result<String, crate::yaml::EmitError> {
    let user = format!("admin@{name}");
    let doc = ClientCertificateKubeconfig {
        cluster: name,
        user: &user,
        server,
        namespace: Some("default"),
        ca_pem: k8s_ca_crt,
        certificate_pem: &admin.crt,
        key_pem: &admin.key,
    }
    .build();
    crate::yaml::to_string(&doc)
}

/// The current context of a talosconfig: where talosctl dials and with which credentials.
#[derive(Clone)]
pub struct TalosContext {
    /// `endpoints` (addresses, optional `:port`).
    pub endpoints: Vec<String>,
    /// The OS CA certificate PEM (`ca`).
    pub ca_crt: String,
    /// The client certificate and key PEMs (`crt`, `key`).
    pub client: CertAndKey,
}

impl std::fmt::Debug for TalosContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TalosContext")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// Reads the current context (`context`) of a talosconfig, as talosctl does (pkg/machinery/client/config
/// `Config.Contexts[Config.Context]`, PEMs base64-encoded).
///
/// # Errors
/// A message naming what is missing or malformed, never quoting a value.
pub fn parse_talosconfig(text: &str) -> Result<TalosContext, String> {
    let doc: serde_json::Value =
        crate::yaml::from_str(text).map_err(|_| "the talosconfig is not YAML".to_string())?;
    let name = doc
        .get("context")
        .and_then(|c| c.as_str())
        .ok_or("the talosconfig has no `context`")?;
    let ctx = doc
        .get("contexts")
        .and_then(|c| c.get(name))
        .ok_or_else(|| format!("the talosconfig has no context {name:?}"))?;
    let pem = |key: &str| -> Result<String, String> {
        let b64 = ctx
            .get(key)
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("context {name:?} of the talosconfig has no `{key}`"))?;
        let bytes = STANDARD
            .decode(b64.trim())
            .map_err(|_| format!("`{key}` of the talosconfig is not base64"))?;
        String::from_utf8(bytes).map_err(|_| format!("`{key}` of the talosconfig is not PEM"))
    };
    let endpoints = ctx
        .get("endpoints")
        .and_then(|e| e.as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(TalosContext {
        endpoints,
        ca_crt: pem("ca")?,
        client: CertAndKey {
            crt: pem("crt")?,
            key: pem("key")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn talosconfig_round_trip_and_errors_without_values() {
        let client = CertAndKey {
            crt: "C".into(),
            key: "SECRETKEY".into(),
        };
        let text = talosconfig("c", &["1.2.3.4".into()], "CA", &client).unwrap();
        let parsed = parse_talosconfig(&text).unwrap();
        assert_eq!(parsed.endpoints, ["1.2.3.4"]);
        assert_eq!(
            (parsed.ca_crt.as_str(), parsed.client.key.as_str()),
            ("CA", "SECRETKEY")
        );
        let broken = text.replace(&b64("SECRETKEY"), "not base64!");
        let e = parse_talosconfig(&broken).unwrap_err();
        assert!(e.contains("`key`") && !e.contains("not base64!"), "{e}");
        assert!(parse_talosconfig("context: x\n").is_err());
    }

    #[test]
    fn shapes() {
        let client = CertAndKey {
            crt: "C".into(),
            key: "K".into(),
        };
        let text = talosconfig("c", &["1.2.3.4".into()], "CA", &client).unwrap();
        // The fields of upstream's generated talosconfig, in its order (yaml.v3 of `Config`/`Context`; yaml.v3
        // indents by 4 and leaves the address plain, the same document: `1.2.3.4` is quoted because YAML 1.1's
        // float pattern `[0-9]*\.[0-9.]*` matches it, and a quoted scalar decodes into talosctl's []string alike).
        assert_eq!(
            text,
            format!(
                "context: c\ncontexts:\n  c:\n    endpoints:\n    - \"1.2.3.4\"\n    ca: {}\n    crt: {}\n    key: {}\n",
                b64("CA"),
                b64("C"),
                b64("K")
            )
        );
        let t: serde_json::Value = crate::yaml::from_str(&text).unwrap();
        assert!(t["contexts"]["c"].get("nodes").is_none());
        let k: serde_json::Value =
            crate::yaml::from_str(&kubeconfig("c", "https://h:6443", "CA", &client).unwrap())
                .unwrap();
        assert_eq!(k["clusters"][0]["cluster"]["server"], "https://h:6443");
        assert_eq!(k["current-context"], "admin@c");
    }
}
