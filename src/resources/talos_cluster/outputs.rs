//! The client outputs: `kubernetes {host, ca_certificate, client_certificate, client_key}`, `kubeconfig` and
//! `talosconfig`. Certificates are minted once and kept: a re-render reuses them, so a plan after apply is
//! empty; the Kubernetes admin certificate is renewed only inside the renewal window.

use super::model::Model;
use crate::cty::Value;
use crate::framework::{Diagnostic, Diagnostics};
use crate::talos::clientconfig;
use crate::talos::pki::{self, CertAndKey};
use crate::talos::secrets::{SecretsBundle, KUBERNETES_CLIENT_VALIDITY};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Renew the Kubernetes admin certificate when it expires within this window (30 days).
pub const RENEWAL_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// Kubernetes CA and admin client certificate.
#[derive(Clone)]
pub struct KubeAccess {
    /// Kubernetes CA certificate PEM.
    pub ca: String,
    /// Admin client certificate (O=system:masters).
    pub admin: CertAndKey,
}

/// Whether a PEM certificate expires within the renewal window (or does not parse).
pub fn needs_renewal(crt: &str) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let window = i64::try_from(RENEWAL_WINDOW.as_secs()).unwrap_or(0);
    pki::cert_not_after(crt).map_or(true, |not_after| not_after - now < window)
}

/// Reuses the prior admin certificate when present and not due for renewal, else mints one.
///
/// # Errors
/// When the Kubernetes CA in the secrets does not parse.
pub fn kube_access(
    m: &Model,
    secrets: &SecretsBundle,
    prior: Option<&Value>,
) -> Result<KubeAccess, Diagnostics> {
    let _ = m;
    if let Some(k) = prior.map(|p| p.get("kubernetes")) {
        if let (Some(crt), Some(key)) = (
            k.get("client_certificate").as_str(),
            k.get("client_key").as_str(),
        ) {
            if !needs_renewal(crt) {
                return Ok(KubeAccess {
                    ca: secrets.k8s.crt.clone(),
                    admin: CertAndKey {
                        crt: crt.into(),
                        key: key.into(),
                    },
                });
            }
        }
    }
    let admin = secrets
        .kubernetes_admin_cert(KUBERNETES_CLIENT_VALIDITY)
        .map_err(|e| {
            Diagnostics::from(Diagnostic::error(
                "Cannot mint the Kubernetes admin certificate",
                e.to_string(),
            ))
        })?;
    Ok(KubeAccess {
        ca: secrets.k8s.crt.clone(),
        admin,
    })
}

/// The `os:admin` certificate of the prior talosconfig, when there is one.
fn prior_talos_admin(prior: Option<&Value>) -> Option<CertAndKey> {
    let text = prior?.get("talosconfig").as_str()?;
    let doc: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
    let name = doc.get("context")?.as_str()?;
    let ctx = doc.get("contexts")?.get(name)?;
    let decode = |k: &str| -> Option<String> {
        String::from_utf8(STANDARD.decode(ctx.get(k)?.as_str()?).ok()?).ok()
    };
    let cert = CertAndKey {
        crt: decode("crt")?,
        key: decode("key")?,
    };
    (!needs_renewal(&cert.crt)).then_some(cert)
}

/// Sets `kubernetes`, `kubeconfig` and `talosconfig`.
///
/// # Errors
/// When minting or serializing fails.
pub fn fill(
    m: &Model,
    secrets: &SecretsBundle,
    kube: &KubeAccess,
    prior: Option<&Value>,
    state: &mut Value,
) -> Result<(), Diagnostics> {
    let fail = |what: &str, e: String| Diagnostics::from(Diagnostic::error(what.to_string(), e));
    let name = &m.cluster.name;
    let endpoint = &m.cluster.endpoint;
    state.set(
        "kubernetes",
        Value::object([
            ("host", Value::from(endpoint.clone())),
            ("ca_certificate", Value::from(kube.ca.clone())),
            ("client_certificate", Value::from(kube.admin.crt.clone())),
            ("client_key", Value::from(kube.admin.key.clone())),
        ]),
    );
    let kubeconfig = clientconfig::kubeconfig(name, endpoint, &kube.ca, &kube.admin)
        .map_err(|e| fail("Cannot write the kubeconfig", e.to_string()))?;
    state.set("kubeconfig", kubeconfig);
    let admin = match prior_talos_admin(prior) {
        Some(cert) => cert,
        None => secrets
            .talos_client_cert("os:admin")
            .map_err(|e| fail("Cannot mint the talosconfig certificate", e.to_string()))?,
    };
    let endpoints: Vec<String> = m
        .control_planes()
        .iter()
        .map(|n| n.address.clone())
        .collect();
    let talosconfig = clientconfig::talosconfig(name, &endpoints, &secrets.os.crt, &admin)
        .map_err(|e| fail("Cannot write the talosconfig", e.to_string()))?;
    state.set("talosconfig", talosconfig);
    Ok(())
}
