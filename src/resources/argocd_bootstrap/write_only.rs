//! The write-only secret inputs of `vixens_argocd_bootstrap` (Terraform >= 1.11): `admin_password_wo` and the
//! repository's `password_wo` / `ssh_private_key_wo`. Terraform sends them with each apply's configuration
//! ([`Context::config`](crate::framework::Context::config)) and never stores them; their `..._wo_version`
//! companions are ordinary attributes whose change makes an update use them again.
//!
//! - The admin password is hashed (bcrypt) at create and when `admin_password_wo_version` changes; the hash and
//!   its time go to state as with `admin_password` (the cluster's `argocd-secret` holds the same hash), so drift of
//!   the setting is still found.
//! - Repository credentials go into the repository Secret under their own field manager
//!   ([`CREDENTIALS_FIELD_MANAGER`]), so the Secret's other keys (manager `vixens`) are applied and compared for
//!   drift without them; they are re-applied at create, when `credentials_wo_version` changes, and whenever the
//!   Secret itself is re-applied. Drift of the credential keys cannot be seen (nothing to compare them with).

use kube::api::DynamicObject;

use super::ops::Owned;
use super::settings::{repository_block, repository_path, Settings};
use crate::cty::{AttributePath, Value};
use crate::framework::presence::is_set;
use crate::framework::{Diagnostic, Diagnostics};
use crate::k8s::apply::to_dynamic;
use crate::k8s::inventory::ObjectRef;
use crate::manifests::argocd::objects::{repository_secret, RepoCredentials};
use crate::manifests::argocd::validate as check;

/// Field manager of the repository Secret's credential keys when they come from write-only attributes.
pub const CREDENTIALS_FIELD_MANAGER: &str = "vixens-repo-credentials";

/// Pairs of (stored attribute, write-only attribute) that exclude each other: at top level, then in
/// `repository`.
const ADMIN_PAIR: (&str, &str) = ("admin_password", "admin_password_wo");
const REPOSITORY_PAIRS: [(&str, &str); 2] = [
    ("password", "password_wo"),
    ("ssh_private_key", "ssh_private_key_wo"),
];

fn text(v: &Value, name: &str) -> Option<String> {
    v.get(name).as_str().map(str::to_string)
}

/// The admin password given write-only in `config` (an apply's configuration), if any.
pub fn admin_password(config: &Value) -> Option<String> {
    text(config, ADMIN_PAIR.1)
}

/// Whether `config` sets the admin password write-only (unknown counts as set).
pub fn has_admin_password(config: &Value) -> bool {
    is_set(config.get(ADMIN_PAIR.1)) != Some(false)
}

/// Whether the change from `prior` (null on create) to `planned` sets the write-only admin password: at create,
/// when `admin_password_wo_version` changes, and on the switch from a stored `admin_password`.
pub fn admin_changed(prior: &Value, planned: &Value) -> bool {
    prior.is_null()
        || !prior.get("admin_password").is_null()
        || prior.get("admin_password_wo_version") != planned.get("admin_password_wo_version")
}

/// Whether the update from `prior` to `planned` applies the write-only repository credentials again.
pub fn credentials_version_changed(prior: &Value, planned: &Value) -> bool {
    repository_block(prior).get("credentials_wo_version")
        != repository_block(planned).get("credentials_wo_version")
}

/// The repository credentials given write-only in `config`, with the user name of the stored `username` (or
/// `git` for a token, as [`super::settings`] does for `password`); `None` without any.
pub fn credentials(config: &Value) -> Option<RepoCredentials> {
    let repo = repository_block(config);
    if let Some(private_key) = text(repo, "ssh_private_key_wo") {
        return Some(RepoCredentials::Ssh { private_key });
    }
    let password = text(repo, "password_wo")?;
    let username = text(repo, "username").unwrap_or_else(|| "git".into());
    Some(RepoCredentials::Basic { username, password })
}

/// The repository Secret's credential keys alone (a partial object applied with [`CREDENTIALS_FIELD_MANAGER`]).
///
/// # Errors
/// A diagnostic (not expected) when the object does not convert.
pub fn credentials_object(
    s: &Settings,
    credentials: &RepoCredentials,
) -> Result<Owned, Diagnostic> {
    let mut secret = repository_secret(
        &s.namespace,
        &s.repository.secret_name,
        &s.repository.url,
        credentials,
    );
    secret.metadata.labels = None;
    if let Some(data) = secret.data.as_mut() {
        data.retain(|key, _| !matches!(key.as_str(), "type" | "url"));
    }
    secret.type_ = None;
    let invalid = |e: String| Diagnostic::error("Invalid object", e);
    let object: DynamicObject = to_dynamic(&secret).map_err(|e| invalid(e.to_string()))?;
    let reference = ObjectRef::of(&object).map_err(|e| invalid(e.to_string()))?;
    Ok(Owned {
        object,
        reference,
        manager: CREDENTIALS_FIELD_MANAGER,
        partial: true,
    })
}

/// Checks the write-only attributes of a configuration (values may be unknown): each excludes its stored
/// counterpart, a `..._wo_version` needs its values, and the checks the stored attributes get (length of the admin
/// password, URL scheme of the credentials) apply to them too.
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    let set = |v: &Value, name: &str| is_set(v.get(name)) == Some(true);
    let conflict = |diags: &mut Diagnostics, path: AttributePath, stored: &str, wo: &str| {
        diags.error_at(
            path,
            "Conflicting attributes",
            format!("Set either `{stored}` or `{wo}` (write-only, Terraform >= 1.11), not both."),
        );
    };
    let (stored, wo) = ADMIN_PAIR;
    if set(config, stored) && set(config, wo) {
        conflict(diags, AttributePath::attr(wo), stored, wo);
    }
    if set(config, "admin_password_wo_version") && is_set(config.get(wo)) == Some(false) {
        diags.error_at(
            AttributePath::attr("admin_password_wo_version"),
            "Version without a write-only password",
            "`admin_password_wo_version` tells when to use `admin_password_wo` again: set both.",
        );
    }
    if text(config, wo).is_some_and(|p| p.is_empty() || p.len() > 72) {
        diags.error_at(
            AttributePath::attr(wo),
            "Invalid admin password",
            "The admin password must be 1 to 72 bytes long (bcrypt's limit).",
        );
    }
    let repo = repository_block(config);
    for (stored, wo) in REPOSITORY_PAIRS {
        if set(repo, stored) && set(repo, wo) {
            conflict(diags, repository_path(wo), stored, wo);
        }
    }
    let any_stored = ["username", "password", "ssh_private_key"]
        .iter()
        .any(|n| set(repo, n));
    if set(repo, "ssh_private_key_wo") && (set(repo, "password_wo") || any_stored) {
        diags.error_at(
            repository_path("ssh_private_key_wo"),
            "Conflicting credentials",
            "Give either an SSH private key or a username and password, not both.",
        );
    }
    let no_wo = ["password_wo", "ssh_private_key_wo"]
        .iter()
        .all(|n| is_set(repo.get(n)) == Some(false));
    if set(repo, "credentials_wo_version") && no_wo {
        diags.error_at(
            repository_path("credentials_wo_version"),
            "Version without write-only credentials",
            "`credentials_wo_version` tells when to use `password_wo` or `ssh_private_key_wo` again: set one.",
        );
    }
    if let Some(url) = repo.get("url").as_str() {
        if set(repo, "ssh_private_key_wo") && !check::is_ssh_url(url) {
            diags.error_at(
                repository_path("ssh_private_key_wo"),
                "SSH key with a non-SSH URL",
                "An SSH key needs an ssh:// or user@host:path URL.",
            );
        }
        if set(repo, "password_wo") && !url.starts_with("https://") {
            diags.error_at(
                repository_path("password_wo"),
                "Password with a non-HTTPS URL",
                "A username and password need an https:// URL.",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(top: &[(&str, Value)], repo: &[(&str, Value)]) -> Value {
        let mut r = Value::object([("url", Value::from("https://example.com/r.git"))]);
        for (k, v) in repo {
            r.set(*k, v.clone());
        }
        let mut c = Value::object([("repository", Value::List(vec![r]))]);
        for (k, v) in top {
            c.set(*k, v.clone());
        }
        c
    }

    fn errors(c: &Value) -> Vec<String> {
        let mut d = Diagnostics::new();
        validate(c, &mut d);
        d.into_iter()
            .map(|d| d.attribute.map(|a| a.to_string()).unwrap_or_default())
            .collect()
    }

    #[test]
    fn pairs_exclude_each_other_and_versions_need_values() {
        let c = config(
            &[
                ("admin_password", "a".into()),
                ("admin_password_wo", "b".into()),
            ],
            &[("password", "p".into()), ("password_wo", "q".into())],
        );
        assert_eq!(
            errors(&c),
            ["admin_password_wo", "repository[0].password_wo"]
        );
        let c = config(
            &[("admin_password_wo_version", Value::from(1i64))],
            &[("credentials_wo_version", Value::from(1i64))],
        );
        assert_eq!(
            errors(&c),
            [
                "admin_password_wo_version",
                "repository[0].credentials_wo_version"
            ]
        );
        // Unknown values wait for plan.
        let c = config(
            &[
                ("admin_password_wo", Value::Unknown),
                ("admin_password_wo_version", Value::from(1i64)),
            ],
            &[
                ("password_wo", Value::Unknown),
                ("credentials_wo_version", Value::from(2i64)),
            ],
        );
        assert!(errors(&c).is_empty());
    }

    #[test]
    fn credentials_from_the_configuration() {
        let c = config(&[], &[("password_wo", "tok".into())]);
        assert_eq!(
            credentials(&c),
            Some(RepoCredentials::Basic {
                username: "git".into(),
                password: "tok".into()
            })
        );
        assert_eq!(errors(&c), Vec::<String>::new());
        let c = config(&[], &[("ssh_private_key_wo", "key".into())]);
        assert_eq!(errors(&c), ["repository[0].ssh_private_key_wo"]);
        assert_eq!(credentials(&config(&[], &[])), None);
    }
}
