//! The cluster secrets bundle, in talosctl's `secrets.yaml` format (`talosctl gen secrets`).
//!
//! Algorithms and encodings follow talos `pkg/machinery/config/generate/secrets/{bundle,ca,utils}.go` (v1.13.9):
//! - `cluster.id`: base64url (padded) of 32 random bytes; `cluster.secret`: base64 of 32 random bytes;
//! - `secrets.bootstraptoken`, `trustdinfo.token`: `[0-9a-z]{6}.[0-9a-z]{16}`, drawn without modulo bias;
//! - `secrets.secretboxencryptionsecret`: base64 of 32 random bytes (contracts after 1.2);
//! - `certs.os`: Ed25519 CA, O=talos, 10 years; `certs.etcd`: ECDSA P-256, O=etcd; `certs.k8s`: ECDSA P-256,
//!   O=kubernetes; `certs.k8saggregator`: ECDSA P-256, CN=front-proxy; all 87600 h;
//! - `certs.k8sserviceaccount.key`: RSA-4096 PKCS#1 (contracts after 1.6).
//!
//! In the YAML every `crt`/`key` is the PEM text, base64-encoded (Go `[]byte` marshalling).

use crate::talos::contract::Contract;
use crate::talos::pki::{self, CertAndKey, KeyKind, PkiError, Subject, Usage};
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// CA validity: 87600 hours (`secrets.CAValidityTime`).
pub const CA_VALIDITY: Duration = Duration::from_secs(87_600 * 3600);
/// Talos API client certificate validity: 365 days (`constants.TalosAPIDefaultCertificateValidityDuration`).
pub const TALOS_CLIENT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Kubernetes admin client certificate validity used for the kubeconfig: 365 days.
pub const KUBERNETES_CLIENT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// A bundle that could not be generated, read or used.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Key or certificate generation or parsing failed.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The YAML does not have the secrets.yaml shape.
    #[error("secrets.yaml is not valid: {0}")]
    Yaml(String),
    /// A field is missing or malformed (named by its YAML path).
    #[error("secrets.yaml field {field}: {reason}")]
    Field {
        /// YAML path, e.g. `certs.os.key`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// The cluster secrets (see the module docs for each field's format). `Debug` redacts everything secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretsBundle {
    /// `cluster.id` (discovery identity).
    pub cluster_id: String,
    /// `cluster.secret` (discovery encryption key).
    pub cluster_secret: String,
    /// `secrets.bootstraptoken`, `<6>.<16>`.
    pub bootstrap_token: String,
    /// `secrets.secretboxencryptionsecret`.
    pub secretbox_encryption_secret: String,
    /// `secrets.aescbcencryptionsecret` (only in bundles from contracts up to 1.2; kept when imported).
    pub aescbc_encryption_secret: Option<String>,
    /// `trustdinfo.token`, `<6>.<16>`.
    pub trustd_token: String,
    /// `certs.etcd`.
    pub etcd: CertAndKey,
    /// `certs.k8s`.
    pub k8s: CertAndKey,
    /// `certs.k8saggregator`.
    pub k8s_aggregator: CertAndKey,
    /// `certs.k8sserviceaccount.key` (PEM).
    pub k8s_service_account_key: String,
    /// `certs.os`.
    pub os: CertAndKey,
}

impl std::fmt::Debug for SecretsBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsBundle")
            .field("cluster_id", &"<redacted>")
            .finish_non_exhaustive()
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], PkiError> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|e| PkiError::Generate(e.to_string()))?;
    Ok(bytes)
}

/// `len` characters of `[0-9a-z]`, rejecting bytes >= 252 so every character is equally likely
/// (talos `randBootstrapTokenString`).
fn token_part(len: usize) -> Result<String, PkiError> {
    const CHARS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for byte in random_bytes::<32>()? {
            if byte < 252 && out.len() < len {
                out.push(char::from(CHARS[usize::from(byte) % CHARS.len()]));
            }
        }
    }
    Ok(out)
}

/// A fresh `[0-9a-z]{6}.[0-9a-z]{16}` token (kubeadm bootstrap token and trustd token format).
///
/// # Errors
/// [`PkiError::Generate`] when the random source fails.
pub fn generate_token() -> Result<String, PkiError> {
    Ok(format!("{}.{}", token_part(6)?, token_part(16)?))
}

/// Whether `token` has the `[0-9a-z]{6}.[0-9a-z]{16}` shape.
pub fn is_token(token: &str) -> bool {
    let ok = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    };
    matches!(token.split_once('.'), Some((id, secret)) if ok(id, 6) && ok(secret, 16))
}

fn subject(org: Option<&str>, cn: Option<&str>) -> Subject {
    Subject {
        organizations: org.map(|o| vec![o.to_string()]).unwrap_or_default(),
        common_name: cn.map(str::to_string),
        ..Default::default()
    }
}

impl SecretsBundle {
    /// Generates a new bundle for `contract` (all supported contracts use RSA-4096 service-account keys and a
    /// secretbox secret).
    ///
    /// # Errors
    /// [`SecretsError::Pki`] when the random source or key generation fails.
    pub fn generate(contract: Contract) -> Result<Self, SecretsError> {
        Self::generate_with_service_account_key(contract, pki::generate_rsa_pkcs1_pem(4096)?)
    }

    /// [`SecretsBundle::generate`] for async callers, with the RSA-4096 service-account key raced on the CPU
    /// cores ([`pki::generate_rsa_pkcs1_pem_raced`]) while the other secrets are generated. Same algorithms and
    /// key sizes.
    ///
    /// # Errors
    /// [`SecretsError::Pki`] when the random source or key generation fails.
    pub async fn generate_raced(contract: Contract) -> Result<Self, SecretsError> {
        let key = pki::generate_rsa_pkcs1_pem_raced(4096, pki::rsa_racers());
        let mut bundle = Self::generate_with_service_account_key(contract, String::new())?;
        bundle.k8s_service_account_key = key.await?;
        Ok(bundle)
    }

    /// [`SecretsBundle::generate`] with a given service-account key PEM (the RSA-4096 key generation dominates the
    /// cost of a bundle; this lets it be measured apart).
    ///
    /// # Errors
    /// [`SecretsError::Pki`] when the random source or key generation fails.
    pub fn generate_with_service_account_key(
        contract: Contract,
        service_account_key_pem: String,
    ) -> Result<Self, SecretsError> {
        let _ = contract; // every supported contract (> 1.6) uses the same algorithms
        Ok(SecretsBundle {
            cluster_id: URL_SAFE.encode(random_bytes::<32>()?),
            cluster_secret: STANDARD.encode(random_bytes::<32>()?),
            bootstrap_token: generate_token()?,
            secretbox_encryption_secret: STANDARD.encode(random_bytes::<32>()?),
            aescbc_encryption_secret: None,
            trustd_token: generate_token()?,
            etcd: pki::self_signed_ca(
                &subject(Some("etcd"), None),
                KeyKind::EcdsaP256,
                CA_VALIDITY,
            )?,
            k8s: pki::self_signed_ca(
                &subject(Some("kubernetes"), None),
                KeyKind::EcdsaP256,
                CA_VALIDITY,
            )?,
            k8s_aggregator: pki::self_signed_ca(
                &subject(None, Some("front-proxy")),
                KeyKind::EcdsaP256,
                CA_VALIDITY,
            )?,
            k8s_service_account_key: service_account_key_pem,
            os: pki::self_signed_ca(&subject(Some("talos"), None), KeyKind::Ed25519, CA_VALIDITY)?,
        })
    }

    /// A bundle whose every field is empty: renders a machine config's structure (plan-time checks, before any
    /// secret exists) and nothing else. A config rendered with it carries no key material and is never applied.
    pub fn placeholder() -> Self {
        let empty = || CertAndKey {
            crt: String::new(),
            key: String::new(),
        };
        SecretsBundle {
            cluster_id: String::new(),
            cluster_secret: String::new(),
            bootstrap_token: String::new(),
            secretbox_encryption_secret: String::new(),
            aescbc_encryption_secret: None,
            trustd_token: String::new(),
            etcd: empty(),
            k8s: empty(),
            k8s_aggregator: empty(),
            k8s_service_account_key: String::new(),
            os: empty(),
        }
    }

    /// The bootstrap token split into `(id, secret)`.
    pub fn bootstrap_token_parts(&self) -> (&str, &str) {
        self.bootstrap_token
            .split_once('.')
            .unwrap_or((&self.bootstrap_token, ""))
    }

    /// Mints a Talos API client certificate (Ed25519, O=`role` e.g. `os:admin`, EKU clientAuth, 365 days) signed
    /// by the OS CA (talos `NewAdminCertificateAndKey`).
    ///
    /// # Errors
    /// [`SecretsError::Pki`] when the OS CA does not parse or signing fails.
    pub fn talos_client_cert(&self, role: &str) -> Result<CertAndKey, SecretsError> {
        self.talos_client_cert_valid_for(role, TALOS_CLIENT_VALIDITY)
    }

    /// [`SecretsBundle::talos_client_cert`] valid for `validity` from now (e.g. a short-lived certificate handed
    /// to another tool).
    ///
    /// # Errors
    /// [`SecretsError::Pki`] when the OS CA does not parse or signing fails.
    pub fn talos_client_cert_valid_for(
        &self,
        role: &str,
        validity: Duration,
    ) -> Result<CertAndKey, SecretsError> {
        let subj = subject(Some(role), None);
        Ok(pki::issue(
            &self.os,
            &subj,
            Usage::Client,
            KeyKind::Ed25519,
            validity,
        )?)
    }

    /// Mints the Kubernetes admin client certificate (ECDSA P-256, CN=admin, O=system:masters, EKU clientAuth)
    /// signed by the Kubernetes CA, as Talos' admin kubeconfig carries.
    ///
    /// # Errors
    /// [`SecretsError::Pki`] when the Kubernetes CA does not parse or signing fails.
    pub fn kubernetes_admin_cert(&self, validity: Duration) -> Result<CertAndKey, SecretsError> {
        let subj = subject(Some("system:masters"), Some("admin"));
        Ok(pki::issue(
            &self.k8s,
            &subj,
            Usage::Client,
            KeyKind::EcdsaP256,
            validity,
        )?)
    }

    /// Serializes to talosctl's secrets.yaml.
    ///
    /// # Errors
    /// [`SecretsError::Yaml`] (not expected for a well-formed bundle).
    pub fn to_yaml(&self) -> Result<String, SecretsError> {
        crate::yaml::to_string(&wire::Bundle::from(self))
            .map_err(|e| SecretsError::Yaml(e.to_string()))
    }

    /// Parses talosctl's secrets.yaml and checks that every key and certificate parses (talos
    /// `Bundle.Validate`).
    ///
    /// # Errors
    /// [`SecretsError::Yaml`] on a YAML or shape error; [`SecretsError::Field`] naming the bad field.
    pub fn from_yaml(text: &str) -> Result<Self, SecretsError> {
        // The error gives line and column, never the text (YAML errors may quote a mistyped scalar).
        let wire: wire::Bundle = crate::yaml::from_str(text)
            .map_err(|e| SecretsError::Yaml(crate::redact::yaml_error(&e, text)))?;
        let bundle = wire.into_bundle()?;
        bundle.validate()?;
        Ok(bundle)
    }

    fn validate(&self) -> Result<(), SecretsError> {
        let field = |field: &'static str, reason: String| SecretsError::Field { field, reason };
        for (name, value) in [
            ("cluster.id", &self.cluster_id),
            ("cluster.secret", &self.cluster_secret),
        ] {
            if value.is_empty() {
                return Err(field(name, "is required".into()));
            }
        }
        if !is_token(&self.bootstrap_token) {
            return Err(field(
                "secrets.bootstraptoken",
                "must match [0-9a-z]{6}.[0-9a-z]{16}".into(),
            ));
        }
        if !is_token(&self.trustd_token) {
            return Err(field(
                "trustdinfo.token",
                "must match [0-9a-z]{6}.[0-9a-z]{16}".into(),
            ));
        }
        if self.secretbox_encryption_secret.is_empty() && self.aescbc_encryption_secret.is_none() {
            return Err(field(
                "secrets.secretboxencryptionsecret",
                "is required".into(),
            ));
        }
        let pairs = [
            ("certs.etcd", &self.etcd),
            ("certs.k8s", &self.k8s),
            ("certs.k8saggregator", &self.k8s_aggregator),
            ("certs.os", &self.os),
        ];
        for (name, pair) in pairs {
            pki::cert_not_after(&pair.crt).map_err(|e| field(name, e.to_string()))?;
            pki::check_private_key(&pair.key, name).map_err(|e| field(name, e.to_string()))?;
        }
        pki::check_private_key(&self.k8s_service_account_key, "certs.k8sserviceaccount.key")
            .map_err(|e| field("certs.k8sserviceaccount", e.to_string()))?;
        Ok(())
    }
}

/// The YAML shape, field order as talosctl writes it.
mod wire {
    use super::*;

    #[derive(Serialize, Deserialize)]
    pub struct Bundle {
        pub cluster: Cluster,
        pub secrets: Secrets,
        pub trustdinfo: Trustd,
        pub certs: Certs,
    }

    #[derive(Serialize, Deserialize)]
    pub struct Cluster {
        #[serde(default)]
        pub id: String,
        #[serde(default)]
        pub secret: String,
    }

    #[derive(Serialize, Deserialize)]
    pub struct Secrets {
        pub bootstraptoken: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub aescbcencryptionsecret: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub secretboxencryptionsecret: Option<String>,
    }

    #[derive(Serialize, Deserialize)]
    pub struct Trustd {
        pub token: String,
    }

    #[derive(Serialize, Deserialize)]
    pub struct Pair {
        pub crt: String,
        pub key: String,
    }

    #[derive(Serialize, Deserialize)]
    pub struct KeyOnly {
        pub key: String,
    }

    #[derive(Serialize, Deserialize)]
    pub struct Certs {
        pub etcd: Pair,
        pub k8s: Pair,
        pub k8saggregator: Pair,
        pub k8sserviceaccount: KeyOnly,
        pub os: Pair,
    }

    fn enc(pem: &str) -> String {
        STANDARD.encode(pem.as_bytes())
    }

    fn dec(field: &'static str, b64: &str) -> Result<String, SecretsError> {
        let bytes = STANDARD
            .decode(b64.trim())
            .map_err(|e| SecretsError::Field {
                field,
                reason: format!("not base64: {e}"),
            })?;
        String::from_utf8(bytes).map_err(|_| SecretsError::Field {
            field,
            reason: "not PEM text".into(),
        })
    }

    fn pair(p: &CertAndKey) -> Pair {
        Pair {
            crt: enc(&p.crt),
            key: enc(&p.key),
        }
    }

    fn unpair(
        name: &'static str,
        key_name: &'static str,
        p: Pair,
    ) -> Result<CertAndKey, SecretsError> {
        Ok(CertAndKey {
            crt: dec(name, &p.crt)?,
            key: dec(key_name, &p.key)?,
        })
    }

    impl From<&SecretsBundle> for Bundle {
        fn from(b: &SecretsBundle) -> Self {
            let secretbox = (!b.secretbox_encryption_secret.is_empty())
                .then(|| b.secretbox_encryption_secret.clone());
            Bundle {
                cluster: Cluster {
                    id: b.cluster_id.clone(),
                    secret: b.cluster_secret.clone(),
                },
                secrets: Secrets {
                    bootstraptoken: b.bootstrap_token.clone(),
                    aescbcencryptionsecret: b.aescbc_encryption_secret.clone(),
                    secretboxencryptionsecret: secretbox,
                },
                trustdinfo: Trustd {
                    token: b.trustd_token.clone(),
                },
                certs: Certs {
                    etcd: pair(&b.etcd),
                    k8s: pair(&b.k8s),
                    k8saggregator: pair(&b.k8s_aggregator),
                    k8sserviceaccount: KeyOnly {
                        key: enc(&b.k8s_service_account_key),
                    },
                    os: pair(&b.os),
                },
            }
        }
    }

    impl Bundle {
        pub fn into_bundle(self) -> Result<SecretsBundle, SecretsError> {
            let c = self.certs;
            Ok(SecretsBundle {
                cluster_id: self.cluster.id,
                cluster_secret: self.cluster.secret,
                bootstrap_token: self.secrets.bootstraptoken,
                secretbox_encryption_secret: self
                    .secrets
                    .secretboxencryptionsecret
                    .unwrap_or_default(),
                aescbc_encryption_secret: self.secrets.aescbcencryptionsecret,
                trustd_token: self.trustdinfo.token,
                etcd: unpair("certs.etcd.crt", "certs.etcd.key", c.etcd)?,
                k8s: unpair("certs.k8s.crt", "certs.k8s.key", c.k8s)?,
                k8s_aggregator: unpair(
                    "certs.k8saggregator.crt",
                    "certs.k8saggregator.key",
                    c.k8saggregator,
                )?,
                k8s_service_account_key: dec(
                    "certs.k8sserviceaccount.key",
                    &c.k8sserviceaccount.key,
                )?,
                os: unpair("certs.os.crt", "certs.os.key", c.os)?,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_bundle_has_talos_formats_and_round_trips() {
        let bundle = SecretsBundle::generate(Contract::DEFAULT).unwrap();
        assert!(
            is_token(&bundle.bootstrap_token),
            "{}",
            bundle.bootstrap_token
        );
        assert!(is_token(&bundle.trustd_token));
        assert_eq!(URL_SAFE.decode(&bundle.cluster_id).unwrap().len(), 32);
        assert_eq!(
            STANDARD
                .decode(&bundle.secretbox_encryption_secret)
                .unwrap()
                .len(),
            32
        );
        assert!(bundle
            .os
            .key
            .starts_with("-----BEGIN ED25519 PRIVATE KEY-----"));
        assert!(bundle
            .etcd
            .key
            .starts_with("-----BEGIN EC PRIVATE KEY-----"));
        assert!(bundle
            .k8s_service_account_key
            .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let yaml = bundle.to_yaml().unwrap();
        let doc: serde_json::Value = crate::yaml::from_str(&yaml).unwrap();
        for path in ["cluster", "secrets", "trustdinfo", "certs"] {
            assert!(doc.get(path).is_some(), "{path} missing");
        }
        let os_key = doc["certs"]["os"]["key"].as_str().unwrap();
        assert!(String::from_utf8(STANDARD.decode(os_key).unwrap())
            .unwrap()
            .contains("ED25519 PRIVATE KEY"));
        assert_eq!(SecretsBundle::from_yaml(&yaml).unwrap(), bundle);
        assert!(!format!("{bundle:?}").contains("PRIVATE"));
    }

    #[test]
    fn client_certs_chain_to_their_cas() {
        let bundle = SecretsBundle::generate(Contract::V1_12).unwrap();
        let admin = bundle.talos_client_cert("os:admin").unwrap();
        let der = pki::cert_der(&admin.crt).unwrap();
        let (_, leaf) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(leaf.subject().to_string(), "O=os:admin");
        let kube = bundle
            .kubernetes_admin_cert(KUBERNETES_CLIENT_VALIDITY)
            .unwrap();
        let der = pki::cert_der(&kube.crt).unwrap();
        let (_, leaf) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert!(leaf.subject().to_string().contains("O=system:masters"));
        assert_eq!(leaf.issuer().to_string(), "O=kubernetes");
    }

    #[test]
    fn rejects_bad_yaml_with_field_names() {
        assert!(matches!(
            SecretsBundle::from_yaml("cluster: 3"),
            Err(SecretsError::Yaml(_))
        ));
        let bundle = SecretsBundle::generate(Contract::DEFAULT).unwrap();
        let yaml = bundle
            .to_yaml()
            .unwrap()
            .replace(&bundle.trustd_token, "short.token");
        assert!(matches!(
            SecretsBundle::from_yaml(&yaml),
            Err(SecretsError::Field {
                field: "trustdinfo.token",
                ..
            })
        ));
        let mut doc: serde_json::Value = crate::yaml::from_str(&bundle.to_yaml().unwrap()).unwrap();
        doc["certs"]["os"]["key"] = serde_json::Value::String("!!notbase64".into());
        let err = SecretsBundle::from_yaml(&crate::yaml::to_string(&doc).unwrap()).unwrap_err();
        assert!(err.to_string().contains("certs.os.key"), "{err}");
    }

    #[test]
    fn token_shape() {
        for _ in 0..50 {
            assert!(is_token(&generate_token().unwrap()));
        }
        assert!(!is_token("ABCDEF.0123456789abcdef"));
        assert!(!is_token("abcdef0123456789abcdef"));
    }
}
