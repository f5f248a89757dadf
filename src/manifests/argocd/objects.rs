//! The objects Vixens adds to an Argo CD install: the repository Secret, the root Application (App-of-Apps), the
//! admin password in `argocd-secret`, and `server.insecure` in `argocd-cmd-params-cm`.
//!
//! Shapes follow the Argo CD docs ("Declarative Setup": repositories are Secrets labelled
//! `argocd.argoproj.io/secret-type: repository` with keys `type`, `url`, `username`/`password` or
//! `sshPrivateKey`; the Application spec; `argocd-secret` keys `admin.password` (bcrypt) and
//! `admin.passwordMtime`; `argocd-cmd-params-cm` key `server.insecure`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::ByteString;
use kube::api::{DynamicObject, ObjectMeta};
use serde_json::json;

/// Label that makes a Secret an Argo CD repository.
pub const REPOSITORY_LABEL: &str = "argocd.argoproj.io/secret-type";
/// Finalizer that makes deleting an Application delete its resources (cascade).
pub const CASCADE_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
/// The in-cluster destination server.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
/// Argo CD's main Secret.
pub const ARGOCD_SECRET: &str = "argocd-secret";
/// Argo CD's command parameters ConfigMap.
pub const CMD_PARAMS_CONFIGMAP: &str = "argocd-cmd-params-cm";
/// Retries of a failed automated sync of the root Application (backoff 15 s, doubling, at most 5 min apart).
pub const ROOT_RETRY_LIMIT: i64 = 10;
/// bcrypt cost Argo CD itself uses (Go `bcrypt.DefaultCost`).
pub const BCRYPT_COST: u32 = 10;

/// Credentials of the Git repository. `Debug` hides the values.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum RepoCredentials {
    /// A public repository.
    #[default]
    None,
    /// HTTPS basic authentication (password or token).
    Basic {
        /// User name.
        username: String,
        /// Password or token. Secret.
        password: String,
    },
    /// An SSH private key (PEM / OpenSSH format). Secret.
    Ssh {
        /// The private key.
        private_key: String,
    },
}

impl std::fmt::Debug for RepoCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RepoCredentials::None => "None",
            RepoCredentials::Basic { .. } => "Basic(<redacted>)",
            RepoCredentials::Ssh { .. } => "Ssh(<redacted>)",
        })
    }
}

fn meta(name: &str, namespace: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: (!labels.is_empty()).then(|| {
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        }),
        ..ObjectMeta::default()
    }
}

fn bytes(s: &str) -> ByteString {
    ByteString(s.as_bytes().to_vec())
}

/// The repository Secret `namespace/name` for `url` (type git). Values go in `data` (not `stringData`) so the
/// live object can be compared with what was sent.
pub fn repository_secret(
    namespace: &str,
    name: &str,
    url: &str,
    credentials: &RepoCredentials,
) -> Secret {
    let mut data = BTreeMap::from([
        ("type".to_string(), bytes("git")),
        ("url".to_string(), bytes(url)),
    ]);
    match credentials {
        RepoCredentials::None => {}
        RepoCredentials::Basic { username, password } => {
            data.insert("username".into(), bytes(username));
            data.insert("password".into(), bytes(password));
        }
        RepoCredentials::Ssh { private_key } => {
            data.insert("sshPrivateKey".into(), bytes(private_key));
        }
    }
    Secret {
        metadata: meta(
            name,
            namespace,
            &[
                (REPOSITORY_LABEL, "repository"),
                ("app.kubernetes.io/managed-by", "vixens"),
            ],
        ),
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Secret::default()
    }
}

/// Settings of the root Application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootApplication {
    /// Application name (`root`).
    pub name: String,
    /// Namespace of Argo CD (where Applications live).
    pub namespace: String,
    /// Argo CD project (`default`).
    pub project: String,
    /// Git repository URL.
    pub repo_url: String,
    /// Branch, tag or commit (`dev`).
    pub target_revision: String,
    /// Path in the repository (`argocd/overlays/dev`).
    pub path: String,
    /// Destination namespace of the app's resources.
    pub destination_namespace: String,
    /// Automated sync.
    pub automated: bool,
    /// Automated sync prunes resources removed from Git.
    pub prune: bool,
    /// Automated sync reverts live changes.
    pub self_heal: bool,
    /// Sync options, e.g. `ServerSideApply=true`.
    pub sync_options: Vec<String>,
    /// Deleting the app deletes its resources (adds [`CASCADE_FINALIZER`]).
    pub cascade: bool,
}

/// The root Application (argoproj.io/v1alpha1) as a dynamic object.
pub fn root_application(app: &RootApplication) -> DynamicObject {
    let mut spec = json!({
        "project": app.project,
        "source": {"repoURL": app.repo_url, "targetRevision": app.target_revision, "path": app.path},
        "destination": {"server": IN_CLUSTER_SERVER, "namespace": app.destination_namespace},
        "syncPolicy": {"syncOptions": app.sync_options},
    });
    if app.automated {
        spec["syncPolicy"]["automated"] = json!({"prune": app.prune, "selfHeal": app.self_heal});
        // Argo CD does not retry a failed automated sync of the same commit by itself ("Automated Sync
        // Policy"): retry with backoff, as every Application of the GitOps tree does.
        spec["syncPolicy"]["retry"] = json!({
            "limit": ROOT_RETRY_LIMIT,
            "backoff": {"duration": "15s", "factor": 2, "maxDuration": "5m"},
        });
    }
    let mut metadata = meta(
        &app.name,
        &app.namespace,
        &[("app.kubernetes.io/managed-by", "vixens")],
    );
    if app.cascade {
        metadata.finalizers = Some(vec![CASCADE_FINALIZER.to_string()]);
    }
    DynamicObject {
        types: Some(kube::api::TypeMeta {
            api_version: "argoproj.io/v1alpha1".into(),
            kind: "Application".into(),
        }),
        metadata,
        data: json!({ "spec": spec }),
    }
}

/// bcrypt hash of the admin password at Argo CD's cost ([`BCRYPT_COST`]).
pub fn hash_admin_password(password: &str) -> Result<String, bcrypt::BcryptError> {
    bcrypt::hash(password, BCRYPT_COST)
}

/// True when `hash` is a bcrypt hash of `password` (false for a malformed hash).
pub fn admin_password_matches(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

/// The partial `argocd-secret` carrying only `admin.password` (bcrypt hash) and `admin.passwordMtime`
/// (RFC 3339, UTC), to be server-side applied over the install's Secret.
pub fn admin_password_secret(namespace: &str, bcrypt_hash: &str, mtime_rfc3339: &str) -> Secret {
    Secret {
        metadata: meta(ARGOCD_SECRET, namespace, &[]),
        data: Some(BTreeMap::from([
            ("admin.password".to_string(), bytes(bcrypt_hash)),
            ("admin.passwordMtime".to_string(), bytes(mtime_rfc3339)),
        ])),
        ..Secret::default()
    }
}

/// The partial `argocd-cmd-params-cm` carrying only `server.insecure` (`"true"`/`"false"`): with `true`
/// argocd-server serves plain HTTP (TLS terminated in front of it). argocd-server reads it at start.
pub fn server_params_configmap(namespace: &str, insecure: bool) -> ConfigMap {
    ConfigMap {
        metadata: meta(CMD_PARAMS_CONFIGMAP, namespace, &[]),
        data: Some(BTreeMap::from([(
            "server.insecure".to_string(),
            insecure.to_string(),
        )])),
        ..ConfigMap::default()
    }
}

/// Now, in the RFC 3339 form Argo CD writes (`2026-01-02T03:04:05Z`).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_secret_shapes() {
        let s = repository_secret(
            "argocd",
            "repo",
            "https://git.example/x.git",
            &RepoCredentials::None,
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["metadata"]["labels"][REPOSITORY_LABEL], "repository");
        assert_eq!(v["data"]["type"], "Z2l0");
        assert!(v["data"].get("password").is_none());
        let basic = RepoCredentials::Basic {
            username: "u".into(),
            password: "p4ss".into(),
        };
        let s = repository_secret("argocd", "repo", "https://git.example/x.git", &basic);
        let data = s.data.unwrap();
        assert_eq!(data["username"].0, b"u");
        assert_eq!(data["password"].0, b"p4ss");
        assert!(!format!("{basic:?}").contains("p4ss"));
        let ssh = RepoCredentials::Ssh {
            private_key: "KEY".into(),
        };
        let s = repository_secret("argocd", "repo", "git@github.com:o/r.git", &ssh);
        assert_eq!(s.data.unwrap()["sshPrivateKey"].0, b"KEY");
    }

    fn app(cascade: bool, automated: bool) -> RootApplication {
        RootApplication {
            name: "root".into(),
            namespace: "argocd".into(),
            project: "default".into(),
            repo_url: "https://github.com/o/vixens.git".into(),
            target_revision: "dev".into(),
            path: "argocd/overlays/dev".into(),
            destination_namespace: "argocd".into(),
            automated,
            prune: true,
            self_heal: true,
            sync_options: vec!["ServerSideApply=true".into()],
            cascade,
        }
    }

    #[test]
    fn root_application_shape() {
        let v = serde_json::to_value(root_application(&app(true, true))).unwrap();
        assert_eq!(v["apiVersion"], "argoproj.io/v1alpha1");
        assert_eq!(v["kind"], "Application");
        assert_eq!(v["metadata"]["finalizers"][0], CASCADE_FINALIZER);
        assert_eq!(v["spec"]["source"]["targetRevision"], "dev");
        assert_eq!(v["spec"]["source"]["path"], "argocd/overlays/dev");
        assert_eq!(
            v["spec"]["destination"]["server"],
            "https://kubernetes.default.svc"
        );
        assert_eq!(v["spec"]["syncPolicy"]["automated"]["selfHeal"], true);
        assert_eq!(v["spec"]["syncPolicy"]["retry"]["limit"], ROOT_RETRY_LIMIT);
        assert_eq!(
            v["spec"]["syncPolicy"]["retry"]["backoff"]["maxDuration"],
            "5m"
        );
        assert_eq!(
            v["spec"]["syncPolicy"]["syncOptions"][0],
            "ServerSideApply=true"
        );
        let orphan = serde_json::to_value(root_application(&app(false, false))).unwrap();
        assert!(orphan["metadata"].get("finalizers").is_none());
        assert!(orphan["spec"]["syncPolicy"].get("automated").is_none());
    }

    #[test]
    fn admin_password_and_params() {
        let hash = hash_admin_password("s3cret").unwrap();
        assert!(
            hash.starts_with("$2b$10$") || hash.starts_with("$2y$10$"),
            "{hash}"
        );
        assert!(admin_password_matches("s3cret", &hash));
        assert!(!admin_password_matches("other", &hash));
        assert!(!admin_password_matches("s3cret", "not-a-hash"));
        let mtime = now_rfc3339();
        assert!(mtime.len() == 20 && mtime.ends_with('Z'), "{mtime}");
        let s = admin_password_secret("argocd", &hash, &mtime);
        assert_eq!(s.metadata.name.as_deref(), Some("argocd-secret"));
        assert_eq!(s.data.unwrap()["admin.password"].0, hash.as_bytes());
        let cm = server_params_configmap("argocd", true);
        assert_eq!(cm.data.unwrap()["server.insecure"], "true");
    }
}
