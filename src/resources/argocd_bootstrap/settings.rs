//! Reading and checking the configuration of `vixens_argocd_bootstrap`: [`validate`] reports each problem at its
//! attribute path (skipping values unknown at plan), [`Settings::from_value`] turns a known value into typed
//! settings with the defaults applied.

use crate::cty::{AttributePath, Value};
use crate::framework::presence::{is_set, more_than_one_set, none_set};
use crate::framework::{Diagnostic, Diagnostics};
use crate::k8s::{ClusterCredentials, Connection};
use crate::manifests::argocd::objects::{RepoCredentials, RootApplication};
use crate::manifests::argocd::source::{
    check_manifest_url, is_sha256_hex, official_sha256, upstream_manifest_url, verify_sha256,
};
use crate::manifests::argocd::validate as check;

use super::schema::{DEFAULT_NAMESPACE, DEFAULT_SECRET_NAME, DEFAULT_SYNC_OPTIONS};

/// Where the install manifest comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum ManifestSource {
    /// Inline YAML (`install_manifest`).
    Inline(String),
    /// Downloaded from this URL (`install_manifest_url`, or the official release URL of `version`).
    Url(String),
    /// Read from this local path (`install_manifest_file`).
    File(String),
}

/// The manifest attributes, at most one of which a configuration sets; none means the official release URL.
pub const SOURCE_ATTRIBUTES: [&str; 3] = [
    "install_manifest",
    "install_manifest_file",
    "install_manifest_url",
];

/// The repository and its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// Repository URL.
    pub url: String,
    /// Credentials (hidden in `Debug`).
    pub credentials: RepoCredentials,
    /// Name of the repository Secret.
    pub secret_name: String,
}

/// Typed settings, defaults applied. Only built from wholly known values (apply, read, delete).
pub struct Settings {
    /// How to reach the API server.
    pub connection: Connection,
    /// Argo CD version.
    pub version: String,
    /// Argo CD namespace.
    pub namespace: String,
    /// The high-availability manifest.
    pub ha: bool,
    /// Manifest source.
    pub manifest: ManifestSource,
    /// The sha256 the manifest must have, lowercase: the pin, the official release's, or the file's or inline
    /// text's as planned. `None` only in states of old versions that had no pin.
    pub sha256: Option<String>,
    /// Repository.
    pub repository: Repository,
    /// Root Application.
    pub root: RootApplication,
    /// Admin password (secret).
    pub admin_password: Option<String>,
    /// `server.insecure`, when managed.
    pub server_insecure: Option<bool>,
    /// Keys set in `argocd-cm`.
    pub argocd_cm: std::collections::BTreeMap<String, String>,
    /// Secrets created at bootstrap (values secret).
    pub bootstrap_secrets: Vec<crate::manifests::argocd::bootstrap::BootstrapSecret>,
    /// Wait for the root app to be Synced/Healthy.
    pub wait_for_sync: bool,
    /// Leave everything in place on destroy.
    pub keep_on_destroy: bool,
}

fn attr(name: &str) -> AttributePath {
    AttributePath::attr(name)
}

fn string(v: &Value, name: &str) -> Option<String> {
    v.get(name).as_str().map(str::to_string)
}

fn bool_or(v: &Value, name: &str, default: bool) -> bool {
    v.get(name).as_bool().unwrap_or(default)
}

/// The only element of a block nested as a list of at most one (see [`kubernetes_path`]), or null when absent.
/// An unknown list gives `Value::Unknown`.
fn first_item<'a>(v: &'a Value, name: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    match v.get(name) {
        Value::List(items) => items.first().unwrap_or(&NULL),
        Value::Unknown => &Value::Unknown,
        _ => &NULL,
    }
}

/// The `kubernetes` block of a value: its only element (the block is a list of at most one, see
/// [`kubernetes_path`]), or null when absent. An unknown list gives `Value::Unknown`.
pub fn kubernetes_block(v: &Value) -> &Value {
    first_item(v, "kubernetes")
}

/// The `repository` block of a value: its only element (a list of exactly one, for the reason given at
/// [`kubernetes_path`]: its password or SSH key often comes from a sensitive variable), or null when absent.
pub fn repository_block(v: &Value) -> &Value {
    first_item(v, "repository")
}

/// The attribute path of `name` inside the `repository` block (`repository[0].name`).
pub fn repository_path(name: &str) -> AttributePath {
    attr("repository").join_index(0).join_attr(name)
}

/// The attribute path of `name` inside the `kubernetes` block. The block nests as a list of at most one item
/// (not a single object): Terraform 1.0's and 0.15's plan renderers panic ("value is marked, so must be unmarked
/// first") on any update of a single nested block holding a sensitive value (a `vixens_talos_cluster` output, a
/// sensitive variable, even a null one): they compare single blocks with `Equals`, whose result carries the mark,
/// while they compare list items with `RawEquals` (hashicorp/terraform v1.0.3
/// `internal/command/format/diff.go`, `writeNestedBlockDiffs`).
pub fn kubernetes_path(name: &str) -> AttributePath {
    attr("kubernetes").join_index(0).join_attr(name)
}

/// The connection settings from `kubeconfig` or the `kubernetes` block.
pub fn connection(v: &Value) -> Result<Connection, Diagnostic> {
    if let Some(kc) = v
        .get("kubeconfig")
        .as_str()
        .filter(|s| !s.trim().is_empty())
    {
        return Ok(Connection::Kubeconfig(kc.to_string()));
    }
    let k = kubernetes_block(v);
    let field = |name: &str| {
        k.get(name).as_str().map(str::to_string).ok_or_else(|| {
            Diagnostic::error(
                "Missing connection setting",
                format!("kubernetes.{name} must be set."),
            )
            .at(kubernetes_path(name))
        })
    };
    if k.is_null() {
        return Err(Diagnostic::error(
            "Missing connection settings",
            "Set either `kubeconfig` or a `kubernetes` block.",
        )
        .at(attr("kubeconfig")));
    }
    Ok(Connection::Credentials(ClusterCredentials {
        host: field("host")?,
        ca_certificate: field("ca_certificate")?,
        client_certificate: field("client_certificate")?,
        client_key: field("client_key")?,
    }))
}

/// The default (or configured) manifest URL for a value; `None` for an inline manifest or a file.
pub fn manifest_url(v: &Value) -> Option<String> {
    if !v.get("install_manifest").is_null() || !v.get("install_manifest_file").is_null() {
        return None;
    }
    string(v, "install_manifest_url").or_else(|| {
        let version = v.get("version").as_str()?;
        Some(upstream_manifest_url(version, bool_or(v, "ha", false)))
    })
}

fn credentials(repo: &Value) -> RepoCredentials {
    if let Some(key) = string(repo, "ssh_private_key") {
        return RepoCredentials::Ssh { private_key: key };
    }
    match (string(repo, "username"), string(repo, "password")) {
        (Some(username), Some(password)) => RepoCredentials::Basic { username, password },
        (None, Some(password)) => RepoCredentials::Basic {
            // Token authentication: Argo CD needs a non-empty user name with a token as password.
            username: "git".into(),
            password,
        },
        _ => RepoCredentials::None,
    }
}

impl Settings {
    /// Typed settings from a known resource value.
    ///
    /// Errors: a diagnostic when the connection settings are missing or the manifest source is absent.
    pub fn from_value(v: &Value) -> Result<Settings, Diagnostic> {
        let version = string(v, "version").unwrap_or_default();
        let namespace = string(v, "namespace").unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
        let manifest = match (
            string(v, "install_manifest"),
            string(v, "install_manifest_file"),
            manifest_url(v),
        ) {
            (Some(text), _, _) => ManifestSource::Inline(text),
            (None, Some(path), _) => ManifestSource::File(path),
            (None, None, Some(url)) => ManifestSource::Url(url),
            (None, None, None) => {
                return Err(Diagnostic::error(
                    "No install manifest",
                    "Set `version`, `install_manifest_url`, `install_manifest_file` or `install_manifest`.",
                )
                .at(attr("version")));
            }
        };
        let repo = repository_block(v);
        let repository = Repository {
            url: string(repo, "url").unwrap_or_default(),
            credentials: credentials(repo),
            secret_name: string(repo, "secret_name")
                .unwrap_or_else(|| DEFAULT_SECRET_NAME.to_string()),
        };
        let app = v.get("root_application");
        let sync_options = match app.get("sync_options").as_list() {
            Some(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            None => DEFAULT_SYNC_OPTIONS.iter().map(|s| s.to_string()).collect(),
        };
        let root = RootApplication {
            name: string(app, "name").unwrap_or_else(|| "root".into()),
            namespace: namespace.clone(),
            project: string(app, "project").unwrap_or_else(|| "default".into()),
            repo_url: repository.url.clone(),
            target_revision: string(repo, "target_revision").unwrap_or_else(|| "HEAD".into()),
            path: string(repo, "path").unwrap_or_default(),
            destination_namespace: string(app, "destination_namespace")
                .unwrap_or_else(|| namespace.clone()),
            automated: bool_or(app, "automated", true),
            prune: bool_or(app, "prune", true),
            self_heal: bool_or(app, "self_heal", true),
            sync_options,
            cascade: bool_or(app, "cascade_delete", true),
        };
        Ok(Settings {
            connection: connection(v)?,
            version,
            namespace,
            ha: bool_or(v, "ha", false),
            manifest,
            sha256: string(v, "install_manifest_sha256").map(|s| s.trim().to_ascii_lowercase()),
            repository,
            root,
            admin_password: string(v, "admin_password"),
            server_insecure: v.get("server_insecure").as_bool(),
            argocd_cm: super::bootstrap_inputs::argocd_cm(v),
            bootstrap_secrets: super::bootstrap_inputs::bootstrap_secrets(v),
            wait_for_sync: bool_or(v, "wait_for_sync", true),
            keep_on_destroy: bool_or(v, "keep_on_destroy", false),
        })
    }
}

/// Runs `check` on a known string attribute and reports its message at `path`.
fn check_at(
    diags: &mut Diagnostics,
    value: &Value,
    path: AttributePath,
    summary: &str,
    check: impl Fn(&str) -> Result<(), String>,
) {
    if let Some(s) = value.as_str() {
        if let Err(message) = check(s) {
            diags.error_at(path, summary, message);
        }
    }
}

/// Checks a configuration; values unknown at plan time are skipped.
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    validate_connection(config, diags);
    check_at(
        diags,
        config.get("version"),
        attr("version"),
        "Invalid version",
        check::version,
    );
    check_at(
        diags,
        config.get("namespace"),
        attr("namespace"),
        "Invalid namespace",
        check::dns_label,
    );
    validate_manifest(config, diags);
    validate_repository(config, diags);
    validate_root_application(config, diags);
    super::bootstrap_inputs::validate(config, diags);
    if config
        .get("admin_password")
        .as_str()
        .is_some_and(|p| p.is_empty() || p.len() > 72)
    {
        diags.error_at(
            attr("admin_password"),
            "Invalid admin password",
            "The admin password must be 1 to 72 bytes long (bcrypt's limit).",
        );
    }
}

/// Checks the connection settings (shared with `vixens_cilium`): exactly one of `kubeconfig` and the
/// `kubernetes` block, and a complete block. Unknown values skip the either/or checks until plan, when they are
/// known (see [`crate::framework::presence`]); each problem gives one diagnostic.
pub fn validate_connection(config: &Value, diags: &mut Diagnostics) {
    let kubeconfig = config.get("kubeconfig");
    let block = kubernetes_block(config);
    if more_than_one_set(&[kubeconfig, block]) {
        diags.error_at(
            attr("kubeconfig"),
            "Conflicting connection settings",
            "Set either `kubeconfig` or the `kubernetes` block, not both.",
        );
        return;
    }
    if none_set(&[kubeconfig, block]) {
        diags.error_at(
            attr("kubeconfig"),
            "Missing connection settings",
            "Set either `kubeconfig` or a `kubernetes` block.",
        );
        return;
    }
    // Kubeconfig syntax at plan, not at apply; the message names the line, never the text.
    if let Some(text) = kubeconfig.as_str().filter(|t| !t.trim().is_empty()) {
        let connection = Connection::Kubeconfig(text.to_string());
        if let Err(e) = crate::k8s::connection::check(&connection) {
            diags.error_at(attr("kubeconfig"), "Invalid kubeconfig", e.to_string());
        }
    }
    let Value::Object(_) = block else { return };
    if is_set(kubeconfig) == Some(false) {
        let missing: Vec<&str> = ["host", "ca_certificate", "client_certificate", "client_key"]
            .into_iter()
            .filter(|name| block.get(name).is_null())
            .collect();
        if !missing.is_empty() {
            diags.error_at(
                attr("kubernetes").join_index(0),
                "Incomplete kubernetes block",
                format!(
                    "The `kubernetes` block needs host, ca_certificate, client_certificate and client_key; \
                     missing: {}.",
                    missing.join(", ")
                ),
            );
        }
    }
    check_at(
        diags,
        block.get("host"),
        kubernetes_path("host"),
        "Invalid host",
        |h| {
            crate::k8s::connection::normalize_host(h)
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    );
    // PEM and kubeconfig syntax at plan, not at apply; messages name the field and line, never the text.
    for (name, tag) in [
        ("ca_certificate", "CERTIFICATE"),
        ("client_certificate", "CERTIFICATE"),
        ("client_key", "PRIVATE KEY"),
    ] {
        check_at(
            diags,
            block.get(name),
            kubernetes_path(name),
            "Invalid PEM",
            |v| crate::k8s::connection::pem_blocks(name, v, tag).map_err(|e| e.to_string()),
        );
    }
}

fn validate_manifest(config: &Value, diags: &mut Diagnostics) {
    let sources: Vec<&Value> = SOURCE_ATTRIBUTES.iter().map(|a| config.get(a)).collect();
    if more_than_one_set(&sources) {
        diags.error_at(
            attr("install_manifest_url"),
            "Conflicting manifest sources",
            "Set at most one of `install_manifest_url`, `install_manifest_file` and `install_manifest` (none: the \
             official release manifest of `version`).",
        );
        return;
    }
    let url = config.get("install_manifest_url");
    check_at(
        diags,
        url,
        attr("install_manifest_url"),
        "Invalid install manifest URL",
        |u| check_manifest_url(u).map(|_| ()).map_err(|e| e.to_string()),
    );
    check_at(
        diags,
        config.get("install_manifest_file"),
        attr("install_manifest_file"),
        "Invalid install manifest file",
        |p| {
            if p.trim().is_empty() {
                Err("the path is empty".into())
            } else {
                Ok(())
            }
        },
    );
    let pin = config.get("install_manifest_sha256");
    check_at(
        diags,
        pin,
        attr("install_manifest_sha256"),
        "Invalid sha256",
        |s| {
            if is_sha256_hex(s.trim()) {
                Ok(())
            } else {
                Err(format!(
                    "{s:?} is not a sha256: expected 64 hexadecimal digits"
                ))
            }
        },
    );
    let pin_unset = is_set(pin) == Some(false);
    if is_set(url) == Some(true) && pin_unset {
        // At the URL, which the configuration has: the absent pin could only be shown at the resource.
        diags.error_at(
            attr("install_manifest_url"),
            "Missing sha256",
            "A manifest from `install_manifest_url` needs `install_manifest_sha256`, checked before anything is \
             applied (`sha256sum install.yaml`).",
        );
    }
    if none_set(&sources) {
        validate_release(config, pin_unset, diags);
    }
    let Some(text) = config.get("install_manifest").as_str() else {
        return;
    };
    if let Some(pin) = pin.as_str().filter(|p| is_sha256_hex(p.trim())) {
        if let Err(e) = verify_sha256(text.as_bytes(), pin) {
            diags.error_at(
                attr("install_manifest_sha256"),
                "Install manifest sha256 mismatch",
                e.to_string(),
            );
            return;
        }
    }
    let namespace = match config.get("namespace") {
        Value::Null => Some(DEFAULT_NAMESPACE),
        other => other.as_str(),
    };
    if let Some(ns) = namespace {
        if let Err(d) = super::cache::manifest_refs(text, ns, "install_manifest") {
            diags.push(d);
        }
    }
}

/// The official release manifest of `version` (and `ha`): a layout the bootstrap handles, and a digest the
/// provider ships, or an explicit pin.
fn validate_release(config: &Value, pin_unset: bool, diags: &mut Diagnostics) {
    let Some(version) = config.get("version").as_str() else {
        return;
    };
    // A malformed version is reported once, as "Invalid version", by `validate`.
    if check::version(version).is_err() {
        return;
    }
    if let Err(message) = check::supported_version(version) {
        diags.error_at(attr("version"), "Unsupported Argo CD version", message);
        return;
    }
    let ha = match config.get("ha") {
        Value::Null => false,
        known => match known.as_bool() {
            Some(ha) => ha,
            None => return,
        },
    };
    if pin_unset && official_sha256(version, ha).is_none() {
        diags.error_at(
            attr("version"),
            "No known sha256 for this Argo CD version",
            format!(
                "The provider ships the sha256 of the official {} of the releases v2.14.1 to v3.5.1 only \
                 (v2.14.0 and v3.0.10 are left out: their manifests deploy another version's images). Set \
                 `install_manifest_sha256` to the sha256 of {}.",
                if ha { "ha/install.yaml" } else { "install.yaml" },
                upstream_manifest_url(version, ha)
            ),
        );
    }
}

fn validate_repository(config: &Value, diags: &mut Diagnostics) {
    let repo = repository_block(config);
    let path = repository_path;
    match is_set(repo) {
        None => return,
        Some(false) => {
            diags.error_at(
                attr("repository"),
                "Missing repository",
                "A `repository` block is required.",
            );
            return;
        }
        Some(true) => {}
    }
    check_at(
        diags,
        repo.get("url"),
        path("url"),
        "Invalid repository URL",
        check::repo_url,
    );
    check_at(
        diags,
        repo.get("target_revision"),
        path("target_revision"),
        "Invalid revision",
        check::revision,
    );
    check_at(
        diags,
        repo.get("path"),
        path("path"),
        "Invalid path",
        check::app_path,
    );
    check_at(
        diags,
        repo.get("secret_name"),
        path("secret_name"),
        "Invalid Secret name",
        check::dns_label,
    );
    // Known to be set; unknown values wait for plan (see `crate::framework::presence`).
    let has = |name: &str| is_set(repo.get(name)) == Some(true);
    let known_unset = |name: &str| is_set(repo.get(name)) == Some(false);
    if has("ssh_private_key") && (has("username") || has("password")) {
        diags.error_at(
            path("ssh_private_key"),
            "Conflicting credentials",
            "Give either an SSH private key or a username and password, not both.",
        );
    }
    if has("username") && known_unset("password") && known_unset("password_wo") {
        diags.error_at(
            path("username"),
            "Missing password",
            "A username needs a password (or token).",
        );
    }
    if let Some(url) = repo.get("url").as_str() {
        if has("ssh_private_key") && !check::is_ssh_url(url) {
            diags.error_at(
                path("ssh_private_key"),
                "SSH key with a non-SSH URL",
                "An SSH key needs an ssh:// or user@host:path URL.",
            );
        }
        if has("password") && !url.starts_with("https://") {
            diags.error_at(
                path("password"),
                "Password with a non-HTTPS URL",
                "A username and password need an https:// URL.",
            );
        }
    }
}

fn validate_root_application(config: &Value, diags: &mut Diagnostics) {
    let app = config.get("root_application");
    let path = |name: &str| attr("root_application").join_attr(name);
    check_at(
        diags,
        app.get("name"),
        path("name"),
        "Invalid Application name",
        check::dns_label,
    );
    check_at(
        diags,
        app.get("project"),
        path("project"),
        "Invalid project name",
        check::dns_label,
    );
    check_at(
        diags,
        app.get("destination_namespace"),
        path("destination_namespace"),
        "Invalid namespace",
        check::dns_label,
    );
    if let Some(options) = app.get("sync_options").as_list() {
        for (i, option) in options.iter().enumerate() {
            check_at(
                diags,
                option,
                path("sync_options").join_index(i),
                "Invalid sync option",
                check::sync_option,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\nusers:\n- name: u\n  user: {}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n";

    #[test]
    fn kubeconfig_and_pem_syntax_is_checked_at_plan_without_quoting() {
        let secret = "S0VZU0VDUkVUU0VDUkVUU0VDUkVU";
        let mut v = config();
        v.set(
            "kubeconfig",
            KUBECONFIG.replace(
                "  user: {}",
                &format!("  user:\n    client-key-data: {secret}\n   token: x"),
            ),
        );
        let d = diags_of(&v);
        assert_eq!(paths(&v), ["kubeconfig"], "{d:?}");
        assert!(!format!("{d:?}").contains(secret), "{d:?}");
        assert!(d.0[0].detail.contains("line"), "{d:?}");
        v.set("kubeconfig", Value::Null);
        v.set(
            "kubernetes",
            Value::List(vec![Value::object([
                ("host", Value::from("https://127.0.0.1:6443")),
                (
                    "ca_certificate",
                    Value::from("-----BEGIN CERTIFICATE-----\nAAA=\n-----END CERTIFICATE-----\n"),
                ),
                (
                    "client_certificate",
                    Value::from("-----BEGIN CERTIFICATE-----\nAAA=\n-----END CERTIFICATE-----\n"),
                ),
                (
                    "client_key",
                    Value::from(format!(
                        "-----BEGIN PRIVATE KEY-----\n{secret}!!\n-----END PRIVATE KEY-----\n"
                    )),
                ),
            ])]),
        );
        let d = diags_of(&v);
        assert_eq!(paths(&v), ["kubernetes[0].client_key"], "{d:?}");
        assert!(!format!("{d:?}").contains(secret), "{d:?}");
    }

    fn config() -> Value {
        Value::object([
            ("kubeconfig", Value::from(KUBECONFIG)),
            ("version", Value::from("v3.5.1")),
            (
                "repository",
                Value::List(vec![Value::object([
                    ("url", Value::from("https://github.com/o/vixens.git")),
                    ("target_revision", Value::from("dev")),
                    ("path", Value::from("argocd/overlays/dev")),
                ])]),
            ),
        ])
    }

    fn paths(v: &Value) -> Vec<String> {
        let mut diags = Diagnostics::new();
        validate(v, &mut diags);
        diags
            .0
            .iter()
            .map(|d| {
                d.attribute
                    .as_ref()
                    .map_or("<root>".to_string(), |p| p.to_string())
            })
            .collect()
    }

    #[test]
    fn a_good_config_passes_and_gets_defaults() {
        assert!(paths(&config()).is_empty(), "{:?}", paths(&config()));
        let s = Settings::from_value(&config()).unwrap();
        assert_eq!(s.namespace, "argocd");
        assert_eq!(s.root.name, "root");
        assert_eq!(s.root.sync_options, ["ServerSideApply=true"]);
        assert!(s.root.cascade && s.wait_for_sync && !s.keep_on_destroy);
        assert_eq!(s.repository.secret_name, "vixens-root-repo");
        assert!(
            matches!(&s.manifest, ManifestSource::Url(u) if u.ends_with("/v3.5.1/manifests/install.yaml"))
        );
    }

    #[test]
    fn errors_carry_attribute_paths() {
        let mut v = config();
        v.set("version", "3.5");
        v.set("install_manifest_sha256", "abc");
        let mut repo = repository_block(&v).clone();
        repo.set("url", "ftp://x/y");
        repo.set("target_revision", "a..b");
        repo.set("path", "../etc");
        v.set("repository", Value::List(vec![repo]));
        let got = paths(&v);
        for want in [
            "version",
            "install_manifest_sha256",
            "repository[0].url",
            "repository[0].target_revision",
            "repository[0].path",
        ] {
            assert!(got.iter().any(|p| p == want), "{want} missing from {got:?}");
        }
    }

    #[test]
    fn unknown_values_are_not_checked() {
        let mut v = config();
        v.set("kubeconfig", Value::Unknown);
        v.set("version", Value::Unknown);
        assert!(paths(&v).is_empty());
    }

    #[test]
    fn inline_manifest_errors_and_pin_mismatch() {
        let mut v = config();
        v.set("install_manifest", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: Service\nmetadata: [\n");
        let mut diags = Diagnostics::new();
        validate(&v, &mut diags);
        assert_eq!(diags.0.len(), 1);
        assert!(
            diags.0[0].detail.contains("document 2 (kind Service"),
            "{}",
            diags.0[0].detail
        );
        v.set("install_manifest_sha256", "0".repeat(64));
        let mut diags = Diagnostics::new();
        validate(&v, &mut diags);
        assert_eq!(diags.0[0].attribute, Some(attr("install_manifest_sha256")));
        assert!(diags.0[0].detail.contains(&"0".repeat(64)));
    }

    fn diags_of(v: &Value) -> Diagnostics {
        let mut diags = Diagnostics::new();
        validate(v, &mut diags);
        diags
    }

    #[test]
    fn unknown_manifest_sources_are_not_counted_as_set() {
        // `install_manifest = var.m` and `install_manifest_url = var.u` at validate: both unknown.
        let mut v = config();
        v.set("install_manifest_sha256", "0".repeat(64));
        v.set("install_manifest", Value::Unknown);
        v.set("install_manifest_url", Value::Unknown);
        assert!(paths(&v).is_empty(), "{:?}", paths(&v));
        // One known URL, one unknown manifest: still undecided.
        v.set(
            "install_manifest_url",
            "https://127.0.0.1:8443/install.yaml",
        );
        assert!(paths(&v).is_empty(), "{:?}", paths(&v));
        // At plan the manifest variable is null: no conflict.
        v.set("install_manifest", Value::Null);
        assert!(paths(&v).is_empty(), "{:?}", paths(&v));
        // Both known and set: one conflict.
        v.set(
            "install_manifest",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        );
        let d = diags_of(&v);
        assert_eq!(d.0.len(), 1, "{d:?}");
        assert_eq!(d.0[0].summary, "Conflicting manifest sources");
        v.set("install_manifest", Value::Null);
        v.set("install_manifest_file", "install.yaml");
        assert_eq!(diags_of(&v).0[0].summary, "Conflicting manifest sources");
    }

    #[test]
    fn a_url_or_an_unlisted_version_needs_a_sha256() {
        let mut v = config();
        v.set(
            "install_manifest_url",
            "https://mirror.example/install.yaml",
        );
        assert_eq!(paths(&v), ["install_manifest_url"]);
        assert_eq!(diags_of(&v).0[0].summary, "Missing sha256");
        v.set("install_manifest_sha256", Value::Unknown);
        assert!(paths(&v).is_empty(), "unknown until plan");
        let mut v = config();
        v.set("version", "v3.6.0");
        let d = diags_of(&v);
        assert_eq!(paths(&v), ["version"]);
        assert!(
            d.0[0].detail.contains("install_manifest_sha256")
                && d.0[0]
                    .detail
                    .contains("argo-cd/v3.6.0/manifests/install.yaml"),
            "{}",
            d.0[0].detail
        );
        v.set("ha", true);
        assert!(diags_of(&v).0[0]
            .detail
            .contains("manifests/ha/install.yaml"));
        v.set("install_manifest_sha256", "0".repeat(64));
        assert!(paths(&v).is_empty(), "{:?}", paths(&v));
        // Release slips are not in the table.
        let mut v = config();
        v.set("version", "v3.0.10");
        assert_eq!(paths(&v), ["version"]);
        // A file needs no pin; an empty path is refused.
        let mut v = config();
        v.set("install_manifest_file", "install.yaml");
        assert!(paths(&v).is_empty(), "{:?}", paths(&v));
        v.set("install_manifest_file", " ");
        assert_eq!(paths(&v), ["install_manifest_file"]);
    }

    #[test]
    fn connection_conflict_is_reported_once_and_unknowns_wait() {
        let block = |host: Value| {
            Value::List(vec![Value::object([
                ("host", host),
                ("ca_certificate", Value::Null),
                ("client_certificate", Value::Null),
                ("client_key", Value::Null),
            ])])
        };
        let mut v = config();
        v.set("kubernetes", block("https://127.0.0.1:6443".into()));
        let d = diags_of(&v);
        assert_eq!(d.0.len(), 1, "{d:?}");
        assert_eq!(d.0[0].summary, "Conflicting connection settings");
        v.set("kubeconfig", Value::Unknown);
        assert!(paths(&v).is_empty(), "{:?}", paths(&v));
        v.set("kubeconfig", Value::Null);
        assert_eq!(paths(&v), ["kubernetes[0]"]);
        v.set("kubernetes", Value::Null);
        assert_eq!(paths(&v), ["kubeconfig"]);
    }

    #[test]
    fn credential_checks_skip_unknowns() {
        let mut v = config();
        let mut repo = repository_block(&v).clone();
        repo.set("username", "git");
        repo.set("password", Value::Unknown);
        v.set("repository", Value::List(vec![repo.clone()]));
        assert!(paths(&v).is_empty(), "{:?}", paths(&v));
        repo.set("password", Value::Null);
        v.set("repository", Value::List(vec![repo.clone()]));
        assert_eq!(paths(&v), ["repository[0].username"]);
        repo.set("password", "token");
        repo.set("ssh_private_key", Value::Unknown);
        v.set("repository", Value::List(vec![repo.clone()]));
        assert!(paths(&v).is_empty(), "{:?}", paths(&v));
        repo.set("ssh_private_key", "key");
        v.set("repository", Value::List(vec![repo]));
        assert!(paths(&v).contains(&"repository[0].ssh_private_key".to_string()));
    }

    #[test]
    fn unsupported_major_refused_only_for_the_default_manifest() {
        let mut v = config();
        v.set("version", "v1.0.0");
        let d = diags_of(&v);
        assert_eq!(d.0.len(), 1, "{d:?}");
        assert_eq!(d.0[0].attribute, Some(attr("version")));
        assert!(d.0[0].detail.contains("v2.14.0"), "{}", d.0[0].detail);
        // With an explicit manifest URL the version only labels the install.
        v.set(
            "install_manifest_url",
            "https://127.0.0.1:8443/install.yaml",
        );
        v.set("install_manifest_sha256", "0".repeat(64));
        assert!(paths(&v).is_empty(), "{:?}", paths(&v));
        // A malformed version is reported once.
        v.set("install_manifest_url", Value::Null);
        v.set("version", "1.0");
        assert_eq!(paths(&v), ["version"]);
    }

    #[test]
    fn bad_sync_option_and_empty_path_are_named() {
        let mut v = config();
        v.set(
            "root_application",
            Value::object([(
                "sync_options",
                Value::string_list(["ServerSideApply=true", "Bogus=1"]),
            )]),
        );
        let d = diags_of(&v);
        assert_eq!(d.0.len(), 1, "{d:?}");
        assert_eq!(
            d.0[0].attribute,
            Some(
                attr("root_application")
                    .join_attr("sync_options")
                    .join_index(1)
            )
        );
        assert!(d.0[0].detail.contains("Bogus"), "{}", d.0[0].detail);
        let mut v = config();
        let mut repo = repository_block(&v).clone();
        repo.set("path", "");
        v.set("repository", Value::List(vec![repo.clone()]));
        let d = diags_of(&v);
        assert_eq!(paths(&v), ["repository[0].path"]);
        assert!(d.0[0].detail.contains("\".\""), "{}", d.0[0].detail);
        repo.set("path", ".");
        v.set("repository", Value::List(vec![repo]));
        assert!(paths(&v).is_empty());
    }
}
