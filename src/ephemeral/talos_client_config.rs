//! `vixens_talos_client_config`: a talosconfig and an admin kubeconfig minted from the cluster secrets for this
//! Terraform run only, to configure other providers (`kubernetes`, `helm`, a second `vixens` provider block) or
//! tools without writing a credential to the plan or the state.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::cty::{AttributePath, Type, Value};
use crate::framework::schema::parse_duration;
use crate::framework::{
    Attribute, Block, Context, Diagnostic, Diagnostics, EphemeralResource, Schema,
};
use crate::talos::clientconfig;
use crate::talos::secrets::SecretsBundle;

/// The ephemeral resource.
#[derive(Debug, Default)]
pub struct TalosClientConfig;

/// Default lifetime of the minted certificates.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(3600);

/// The Talos roles a client certificate may carry (pkg/machinery/role/role.go@v1.13.9).
pub const ROLES: [&str; 7] = [
    "os:admin",
    "os:operator",
    "os:reader",
    "os:etcd:backup",
    "os:image:verifier",
    "os:meta:writer",
    "os:impersonator",
];

const DESCRIPTION: &str = "A talosconfig and an admin kubeconfig for this Terraform run only (Terraform >= 1.10): \
fresh client certificates signed by the cluster's CAs from `machine_secrets`, valid for `validity`, never written \
to the plan or the state. Hand them to other providers (`kubernetes`, `helm`, a `vixens` provider block for \
`vixens_cluster_health`) or to tools; nothing is contacted to open it.\n\n\
Like `talosctl config new`, the talosconfig's certificate carries the Talos role `talos_role` and lists \
`talos_endpoints` with no default nodes; the kubeconfig's certificate is `CN=admin, O=system:masters`, as Talos's \
own admin kubeconfig.";

/// The schema.
pub fn schema() -> Schema {
    let kubernetes = Type::object([
        ("host", Type::String),
        ("ca_certificate", Type::String),
        ("client_certificate", Type::String),
        ("client_key", Type::String),
    ]);
    Schema::new(
        Block::new(DESCRIPTION)
            .attribute(
                Attribute::string("machine_secrets")
                    .required()
                    .sensitive()
                    .description("Cluster secrets in talosctl's secrets.yaml format (`machine_secrets` of `vixens_talos_cluster`)."),
            )
            .attribute(Attribute::string("cluster_name").required().description("Cluster name (names the contexts)."))
            .attribute(
                Attribute::string("endpoint")
                    .required()
                    .description("Kubernetes API URL `https://host:port` written into the kubeconfig."),
            )
            .attribute(
                Attribute::new("talos_endpoints", Type::list(Type::String))
                    .required()
                    .description("Talos API addresses (control planes) written into the talosconfig."),
            )
            .attribute(Attribute::string("talos_role").optional().description(format!(
                "Talos role of the talosconfig's certificate: {} (default `os:admin`).",
                ROLES.map(|r| format!("`{r}`")).join(", ")
            )))
            .attribute(Attribute::string("validity").optional().description(
                "Lifetime of both certificates, a duration such as `30m` or `2h` (default `1h`, at most `8760h`).",
            ))
            .attribute(Attribute::string("talosconfig").computed().sensitive().description("talosctl config."))
            .attribute(Attribute::string("kubeconfig").computed().sensitive().description("Admin kubeconfig."))
            .attribute(
                Attribute::new("kubernetes", kubernetes)
                    .computed()
                    .sensitive()
                    .description("API server URL and PEM credentials, for provider blocks that take them apart."),
            )
            .attribute(
                Attribute::string("expires_at")
                    .computed()
                    .description("When the certificates expire (RFC 3339, UTC)."),
            ),
    )
}

fn validity(config: &Value) -> Result<Duration, String> {
    let Some(text) = config.get("validity").as_str() else {
        return Ok(DEFAULT_VALIDITY);
    };
    let d = parse_duration(text)?;
    if d < Duration::from_secs(60) || d > Duration::from_secs(8760 * 3600) {
        return Err(format!("validity {text:?} is outside 1m..8760h"));
    }
    Ok(d)
}

fn check(config: &Value, diags: &mut Diagnostics) {
    if let Err(e) = validity(config) {
        diags.error_at(AttributePath::attr("validity"), "Invalid validity", e);
    }
    if let Some(role) = config.get("talos_role").as_str() {
        if !ROLES.contains(&role) {
            diags.error_at(
                AttributePath::attr("talos_role"),
                "Unknown Talos role",
                format!("{role:?} is not one of {}.", ROLES.join(", ")),
            );
        }
    }
    if let Some(url) = config.get("endpoint").as_str() {
        if !url.starts_with("https://") {
            diags.error_at(
                AttributePath::attr("endpoint"),
                "Invalid endpoint",
                "The Kubernetes API endpoint is a URL `https://host:port`.",
            );
        }
    }
}

#[async_trait]
impl EphemeralResource for TalosClientConfig {
    fn type_name(&self) -> &'static str {
        "vixens_talos_client_config"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        check(config, diags);
    }

    async fn open(&self, _ctx: &Context, config: &Value) -> Result<Value, Diagnostics> {
        let mut diags = Diagnostics::new();
        check(config, &mut diags);
        if diags.has_errors() {
            return Err(diags);
        }
        let validity = validity(config).map_err(|e| Diagnostic::error("Invalid validity", e))?;
        let secrets =
            SecretsBundle::from_yaml(config.get("machine_secrets").as_str().unwrap_or_default())
                .map_err(|e| {
                    Diagnostic::error("Invalid machine secrets", e.to_string())
                        .at(AttributePath::attr("machine_secrets"))
                })?;
        let name = config.get("cluster_name").as_str().unwrap_or_default();
        let server = config.get("endpoint").as_str().unwrap_or_default();
        let endpoints: Vec<String> = config
            .get("talos_endpoints")
            .as_list()
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e.as_str().map(str::to_string))
            .collect();
        let role = config.get("talos_role").as_str().unwrap_or("os:admin");
        let minting = |e: &dyn std::fmt::Display| {
            Diagnostic::error("Cannot mint a client certificate", e.to_string())
        };
        let talos_client = secrets
            .talos_client_cert_valid_for(role, validity)
            .map_err(|e| minting(&e))?;
        let kube_admin = secrets
            .kubernetes_admin_cert(validity)
            .map_err(|e| minting(&e))?;
        let talosconfig =
            clientconfig::talosconfig(name, &endpoints, &secrets.os.crt, &talos_client)
                .map_err(|e| minting(&e))?;
        let kubeconfig = clientconfig::kubeconfig(name, server, &secrets.k8s.crt, &kube_admin)
            .map_err(|e| minting(&e))?;
        let expires_at = time::OffsetDateTime::from(SystemTime::now() + validity)
            .replace_nanosecond(0)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        tracing::info!(
            cluster = name,
            role,
            validity_s = validity.as_secs(),
            "minted ephemeral client credentials"
        );
        let mut out = config.clone();
        out.set("talosconfig", talosconfig);
        out.set("kubeconfig", kubeconfig);
        out.set(
            "kubernetes",
            Value::object([
                ("host", Value::from(server)),
                ("ca_certificate", Value::from(secrets.k8s.crt.as_str())),
                ("client_certificate", Value::from(kube_admin.crt.as_str())),
                ("client_key", Value::from(kube_admin.key.as_str())),
            ]),
        );
        out.set("expires_at", expires_at);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_working_credentials_and_checks_its_inputs() {
        let secrets = SecretsBundle::generate(crate::talos::contract::Contract::V1_13).unwrap();
        let config = Value::object([
            ("machine_secrets", Value::from(secrets.to_yaml().unwrap())),
            ("cluster_name", Value::from("c")),
            ("endpoint", Value::from("https://10.0.0.1:6443")),
            ("talos_endpoints", Value::string_list(["10.0.0.2"])),
            ("talos_role", Value::from("os:reader")),
            ("validity", Value::from("30m")),
        ]);
        let out = TalosClientConfig
            .open(&Context::for_tests(), &config)
            .await
            .unwrap();
        let talos =
            clientconfig::parse_talosconfig(out.get("talosconfig").as_str().unwrap()).unwrap();
        assert_eq!(talos.endpoints, ["10.0.0.2"]);
        assert_eq!(talos.ca_crt, secrets.os.crt);
        let left = crate::talos::pki::cert_not_after(&talos.client.crt).unwrap()
            - time::OffsetDateTime::now_utc().unix_timestamp();
        assert!((1700..=1810).contains(&left), "{left}");
        assert!(out
            .get("kubeconfig")
            .as_str()
            .unwrap()
            .contains("https://10.0.0.1:6443"));
        assert_eq!(
            out.get("kubernetes").get("ca_certificate").as_str(),
            Some(secrets.k8s.crt.as_str())
        );

        let mut bad = config.clone();
        bad.set("talos_role", "os:root");
        bad.set("validity", "10s");
        let mut diags = Diagnostics::new();
        check(&bad, &mut diags);
        let paths: Vec<String> = diags
            .into_iter()
            .filter_map(|d| d.attribute.map(|a| a.to_string()))
            .collect();
        assert_eq!(paths, ["validity", "talos_role"]);
    }
}
