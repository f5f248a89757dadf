//! The client outputs: `kubernetes {host, ca_certificate, client_certificate, client_key}`, `kubeconfig` and
//! `talosconfig`. Certificates are minted once and kept: a re-render reuses them, so a plan after apply is
//! empty; each is renewed when the plan said so ([`super::renewal`]).

use super::model::Model;
use super::renewal::{kept, ClientCert};
use crate::cty::Value;
use crate::framework::{Diagnostic, Diagnostics};
use crate::talos::clientconfig;
use crate::talos::pki::CertAndKey;
use crate::talos::secrets::SecretsBundle;

/// Kubernetes CA and admin client certificate.
#[derive(Clone)]
pub struct KubeAccess {
    /// Kubernetes CA certificate PEM.
    pub ca: String,
    /// Admin client certificate (O=system:masters).
    pub admin: CertAndKey,
}

/// The admin certificate of `prior` unless the plan renews it ([`super::renewal::kept`]; `planned` is the planned
/// value the apply fills), else a new one.
///
/// # Errors
/// When the Kubernetes CA in the secrets does not parse.
pub fn kube_access(
    secrets: &SecretsBundle,
    prior: Option<&Value>,
    planned: &Value,
) -> Result<KubeAccess, Diagnostics> {
    let admin = match kept(ClientCert::Kubernetes, prior, planned) {
        Some(cert) => cert,
        None => secrets
            .kubernetes_admin_cert(ClientCert::Kubernetes.validity())
            .map_err(|e| {
                Diagnostics::from(Diagnostic::error(
                    "Cannot mint the Kubernetes admin certificate",
                    e.to_string(),
                ))
            })?,
    };
    Ok(KubeAccess {
        ca: secrets.k8s.crt.clone(),
        admin,
    })
}

/// Sets `kubernetes`, `kubeconfig` and `talosconfig` in `state` (the planned value being filled).
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
    let admin = match kept(ClientCert::Talos, prior, state) {
        Some(cert) => cert,
        None => secrets
            .talos_client_cert_valid_for("os:admin", ClientCert::Talos.validity())
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
