//! Renewal of the two admin client certificates the outputs carry: the Kubernetes one (`kubeconfig` and
//! `kubernetes.client_certificate`/`client_key`) and the Talos `os:admin` one (`talosconfig`). Each is minted at
//! create for [`crate::talos::secrets::KUBERNETES_CLIENT_VALIDITY`] / `TALOS_CLIENT_VALIDITY` (365 days) and kept
//! until it expires within [`RENEWAL_WINDOW`]; then the plan marks exactly the attributes it touches unknown
//! ([`plan`]) and the apply re-mints it only when the plan did ([`renews`]), so what the apply returns is what the
//! plan said (no "Provider produced inconsistent result after apply"), whichever certificate is due.

use crate::cty::{AttributePath, Value};
use crate::framework::PlannedChange;
use crate::talos::pki::{self, CertAndKey};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Renew a client certificate when it expires within this window (30 days).
pub const RENEWAL_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// One of the admin client certificates of the outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCert {
    /// `O=system:masters` for the Kubernetes API: `kubeconfig`, `kubernetes`.
    Kubernetes,
    /// `O=os:admin` for the Talos API: `talosconfig`.
    Talos,
}

impl ClientCert {
    /// Both, in a fixed order.
    pub const ALL: [ClientCert; 2] = [ClientCert::Kubernetes, ClientCert::Talos];

    /// The attributes (paths into the resource value) a renewal of this certificate changes.
    pub fn attributes(self) -> Vec<AttributePath> {
        match self {
            ClientCert::Kubernetes => vec![
                AttributePath::attr("kubeconfig"),
                AttributePath::attr("kubernetes").join_attr("client_certificate"),
                AttributePath::attr("kubernetes").join_attr("client_key"),
            ],
            ClientCert::Talos => vec![AttributePath::attr("talosconfig")],
        }
    }

    /// The certificate and key a state holds, when it holds them.
    pub fn held_by(self, state: &Value) -> Option<CertAndKey> {
        match self {
            ClientCert::Kubernetes => {
                let k = state.get("kubernetes");
                Some(CertAndKey {
                    crt: k.get("client_certificate").as_str()?.to_string(),
                    key: k.get("client_key").as_str()?.to_string(),
                })
            }
            ClientCert::Talos => talosconfig_cert(state.get("talosconfig").as_str()?),
        }
    }

    /// How long a certificate minted now is valid: 365 days. Test builds (cargo feature `test-resources`, never
    /// a release) read a number of days from `VIXENS_TEST_KUBERNETES_CLIENT_CERT_DAYS` /
    /// `VIXENS_TEST_TALOS_CLIENT_CERT_DAYS`, so a test can mint a certificate already inside the renewal window.
    pub fn validity(self) -> Duration {
        let default = match self {
            ClientCert::Kubernetes => crate::talos::secrets::KUBERNETES_CLIENT_VALIDITY,
            ClientCert::Talos => crate::talos::secrets::TALOS_CLIENT_VALIDITY,
        };
        #[cfg(feature = "test-resources")]
        {
            let var = match self {
                ClientCert::Kubernetes => "VIXENS_TEST_KUBERNETES_CLIENT_CERT_DAYS",
                ClientCert::Talos => "VIXENS_TEST_TALOS_CLIENT_CERT_DAYS",
            };
            if let Some(days) = std::env::var(var).ok().and_then(|d| d.parse::<u64>().ok()) {
                return Duration::from_secs(days * 24 * 3600);
            }
        }
        default
    }
}

/// The `os:admin` certificate of a talosconfig (its current context).
fn talosconfig_cert(text: &str) -> Option<CertAndKey> {
    let doc: serde_json::Value = crate::yaml::from_str(text).ok()?;
    let name = doc.get("context")?.as_str()?;
    let ctx = doc.get("contexts")?.get(name)?;
    let decode = |k: &str| -> Option<String> {
        String::from_utf8(STANDARD.decode(ctx.get(k)?.as_str()?).ok()?).ok()
    };
    Some(CertAndKey {
        crt: decode("crt")?,
        key: decode("key")?,
    })
}

/// Whether a PEM certificate expires within [`RENEWAL_WINDOW`] from now (or does not parse).
pub fn needs_renewal(crt: &str) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let window = i64::try_from(RENEWAL_WINDOW.as_secs()).unwrap_or(0);
    pki::cert_not_after(crt).map_or(true, |not_after| not_after - now < window)
}

/// Whether `cert` of `prior` is due: held and within the window, or unreadable.
fn due(cert: ClientCert, prior: &Value) -> bool {
    cert.held_by(prior).is_none_or(|c| needs_renewal(&c.crt))
}

/// Plans the renewal of each certificate of `change.prior` that is due: every attribute it touches becomes
/// unknown. A prior state without outputs (an import) is left to its own plan.
pub fn plan(change: &mut PlannedChange) {
    if change.prior.get("kubeconfig").is_null() {
        return;
    }
    for cert in ClientCert::ALL {
        if due(cert, &change.prior) {
            for path in cert.attributes() {
                change.set_unknown(&path);
            }
        }
    }
}

/// The certificate of `prior` to keep, or `None` when the apply mints a new one: there is none, or it is due and
/// `planned` (the planned value the apply fills) left it unknown. A certificate that came due between plan and
/// apply is kept: the next plan renews it.
pub fn kept(cert: ClientCert, prior: Option<&Value>, planned: &Value) -> Option<CertAndKey> {
    let held = cert.held_by(prior?)?;
    let planned_known = cert
        .attributes()
        .iter()
        .all(|path| planned.get_path(path).is_wholly_known());
    (planned_known || !needs_renewal(&held.crt)).then_some(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with(kube: &CertAndKey, talos: &CertAndKey) -> Value {
        let talosconfig =
            crate::talos::clientconfig::talosconfig("c", &["127.0.0.1".to_string()], "ca", talos)
                .unwrap();
        Value::object([
            ("kubeconfig", Value::from("apiVersion: v1")),
            ("talosconfig", Value::from(talosconfig)),
            (
                "kubernetes",
                Value::object([
                    ("host", Value::from("https://127.0.0.1:6443")),
                    ("ca_certificate", Value::from("ca")),
                    ("client_certificate", Value::from(kube.crt.clone())),
                    ("client_key", Value::from(kube.key.clone())),
                ]),
            ),
        ])
    }

    #[test]
    fn each_due_certificate_plans_exactly_its_attributes_and_the_apply_follows_the_plan() {
        let secrets = crate::talos::config::tests::secrets();
        let day = Duration::from_secs(24 * 3600);
        let fresh_kube = secrets.kubernetes_admin_cert(365 * day).unwrap();
        let due_kube = secrets.kubernetes_admin_cert(10 * day).unwrap();
        let fresh_talos = secrets
            .talos_client_cert_valid_for("os:admin", 365 * day)
            .unwrap();
        let due_talos = secrets
            .talos_client_cert_valid_for("os:admin", 10 * day)
            .unwrap();
        for (kube, talos, want) in [
            (&fresh_kube, &fresh_talos, vec![]),
            (&due_kube, &fresh_talos, vec!["kube"]),
            (&fresh_kube, &due_talos, vec!["talos"]),
            (&due_kube, &due_talos, vec!["kube", "talos"]),
        ] {
            let prior = state_with(kube, talos);
            let mut change = PlannedChange {
                prior: prior.clone(),
                config: prior.clone(),
                planned: prior.clone(),
                requires_replace: Vec::new(),
            };
            plan(&mut change);
            let p = &change.planned;
            assert_eq!(!p.get("kubeconfig").is_known(), want.contains(&"kube"));
            assert_eq!(
                !p.get("kubernetes").get("client_key").is_known(),
                want.contains(&"kube")
            );
            assert!(p.get("kubernetes").get("host").is_known());
            assert_eq!(!p.get("talosconfig").is_known(), want.contains(&"talos"));
            // The apply keeps what the plan kept and re-mints what it left unknown.
            assert_eq!(
                kept(ClientCert::Kubernetes, Some(&prior), p).is_none(),
                want.contains(&"kube")
            );
            assert_eq!(
                kept(ClientCert::Talos, Some(&prior), p).is_none(),
                want.contains(&"talos")
            );
            // Due after a plan that kept it: still kept.
            assert!(kept(ClientCert::Kubernetes, Some(&prior), &prior).is_some());
        }
    }
}
