//! A kubeconfig that authenticates with a client certificate, as kube's typed [`Kubeconfig`].
//!
//! Shape: one cluster, one user, one context named after the user, set as `current-context` (the layout of
//! the kubeconfig Talos writes, pkg/machinery/config/generate/secrets `Kubeconfig`, and of kubectl's
//! `config set-credentials --client-certificate`): `*-data` fields hold base64 of the PEM text.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use kube::config::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext, Preferences,
};

/// What a client-certificate kubeconfig holds. PEM fields are PEM text (not base64).
pub struct ClientCertificateKubeconfig<'a> {
    /// `clusters[0].name`, also the context's cluster.
    pub cluster: &'a str,
    /// `users[0].name`, also the context's name and `current-context`.
    pub user: &'a str,
    /// The API server URL, `https://host:port`.
    pub server: &'a str,
    /// The context's default namespace, when set.
    pub namespace: Option<&'a str>,
    /// The cluster CA certificate (PEM).
    pub ca_pem: &'a str,
    /// The client certificate (PEM).
    pub certificate_pem: &'a str,
    /// The client key (PEM); kube keeps it as a secret string.
    pub key_pem: &'a str,
}

impl ClientCertificateKubeconfig<'_> {
    /// The typed kubeconfig, with `preferences: {}` as kubectl writes it.
    pub fn build(&self) -> Kubeconfig {
        let b64 = |pem: &str| STANDARD.encode(pem.as_bytes());
        Kubeconfig {
            api_version: Some("v1".into()),
            kind: Some("Config".into()),
            clusters: vec![NamedCluster {
                name: self.cluster.to_string(),
                cluster: Some(Cluster {
                    server: Some(self.server.to_string()),
                    certificate_authority_data: Some(b64(self.ca_pem)),
                    ..Cluster::default()
                }),
                ..NamedCluster::default()
            }],
            auth_infos: vec![NamedAuthInfo {
                name: self.user.to_string(),
                auth_info: Some(AuthInfo {
                    client_certificate_data: Some(b64(self.certificate_pem)),
                    client_key_data: Some(b64(self.key_pem).into()),
                    ..AuthInfo::default()
                }),
                ..NamedAuthInfo::default()
            }],
            contexts: vec![NamedContext {
                name: self.user.to_string(),
                context: Some(Context {
                    cluster: self.cluster.to_string(),
                    namespace: self.namespace.map(str::to_string),
                    user: Some(self.user.to_string()),
                    ..Context::default()
                }),
                ..NamedContext::default()
            }],
            current_context: Some(self.user.to_string()),
            preferences: Some(Preferences::default()),
            ..Kubeconfig::default()
        }
    }
}
