//! The schema of `vixens_argocd_bootstrap`.

use std::time::Duration;

use crate::cty::Type;
use crate::framework::{Attribute, Block, NestedBlock, Nesting, Schema, TimeoutDefaults};

/// Defaults of the `timeouts` block; `read` bounds how long a read or a delete tries to reach the Kubernetes API
/// (see [`crate::resources::k8s_outage`]).
pub const TIMEOUTS: TimeoutDefaults = TimeoutDefaults {
    create: Duration::from_secs(20 * 60),
    update: Duration::from_secs(20 * 60),
    delete: Duration::from_secs(10 * 60),
    read: Some(crate::resources::k8s_outage::READ_TIMEOUT),
};

/// Schema version. 1: `repository` is a list of one block (version 0 stored it as a single object); 2: the
/// manifest's text leaves the state, `install_manifest_sha256` and `ha` are computed (see
/// [`super::ArgocdBootstrap::upgrade_state`]).
pub const SCHEMA_VERSION: i64 = 2;
/// Default Argo CD namespace.
pub const DEFAULT_NAMESPACE: &str = "argocd";
/// Default repository Secret name.
pub const DEFAULT_SECRET_NAME: &str = "vixens-root-repo";
/// Default sync options of the root Application.
pub const DEFAULT_SYNC_OPTIONS: &[&str] = &["ServerSideApply=true"];

const DESCRIPTION: &str = "Installs Argo CD from its release manifest and hands the cluster to Git through a root \
Application (App-of-Apps).

**Manifest.** By default the official `install.yaml` (or `ha/install.yaml`) of `version`, downloaded from the \
release tag on GitHub and checked against its sha256, which the provider ships for the releases v2.14.1 to v3.5.1 \
(v2.14.0 and v3.0.10 are left out: their manifests deploy another version's images). Another version needs \
`install_manifest_sha256`. Or a mirror (`install_manifest_url`, with `install_manifest_sha256`), a local file \
that the provider reads (`install_manifest_file`: its sha256 is worked out at plan, so an edited file shows as a \
new `install_manifest_sha256`), or the text itself (`install_manifest`). The state keeps what identifies the \
install (version, source, sha256 and the inventory of objects), not the manifest: except for inline text, which \
Terraform stores as given (2 MB for Argo CD v3.5.1, in every state read and write): prefer a file.

**Apply.** Creates the namespace, server-side applies the install manifest (field manager `vixens`, forcing \
conflicts; CRDs first, waited until Established), waits for the Deployments and the StatefulSet, sets the admin \
password and `server.insecure` (field manager `vixens-settings`), applies the repository Secret and the root \
Application, then optionally waits until the root app is Synced and Healthy. A create that fails part-way leaves the resource tainted; the next apply continues that install rather than deleting and installing it again (its plan still shows a replacement, with a warning). A `terraform taint` by hand still reinstalls.

**Hand-off.** Once Argo CD syncs its own install from Git, re-applying the install would fight Argo CD's field \
manager. So after the first install this resource re-applies only what it still owns (the root Application, the \
repository Secret and the admin password/settings keys), and re-applies the install (and prunes objects the new \
manifest no longer has) only when the manifest's sha256 changes. A promotion (new `target_revision` or \
`path`) changes only the root Application.

**Read** reports drift of the root Application spec, the repository Secret and the settings keys in `drift` \
(the next plan repairs it), and the health of the install in `install_health`.

**Destroy** deletes the root Application (cascading to its resources when `cascade_delete`, else orphaning them), \
then the repository Secret and every install object, the namespace last. With `keep_on_destroy`, destroy deletes \
only the root Application (still cascading or orphaning as set): the namespace, every install object, the \
repository Secret and the settings this resource wrote (admin password in `argocd-secret`, `server.insecure` in \
`argocd-cmd-params-cm`) stay, and Terraform forgets them. Set `cascade_delete = false` with it to leave the \
applications the root created running under Argo CD (a hand-off to Git).

**An unreachable Kubernetes API** (down, or gone with its cluster): reaching it is bounded by `timeouts.read` \
(default 2m). Past it, a refresh keeps the last recorded state and warns (the plan still works, without drift \
detection), and a destroy completes with a warning naming the objects it could not delete (they stay in the \
cluster if it comes back). An API found down earlier in the same run, or whose `vixens_talos_cluster` was \
destroyed earlier in the run, gets one 3-second try.

**Import** is not supported. To take over an existing install, create the resource: server-side apply with \
forced conflicts adopts the objects already in the cluster.";

fn kubernetes_block() -> Block {
    Block::new("API server and client credentials (e.g. from `vixens_talos_cluster`), instead of `kubeconfig`.")
        .attribute(Attribute::string("host").optional().description("API server URL, `https://host:6443`."))
        .attribute(Attribute::string("ca_certificate").optional().description("Cluster CA certificate, PEM or base64 of PEM."))
        .attribute(
            Attribute::string("client_certificate")
                .optional()
                .description("Client certificate, PEM or base64 of PEM."),
        )
        .attribute(
            Attribute::string("client_key")
                .optional()
                .sensitive()
                .description("Client private key, PEM or base64 of PEM."),
        )
}

fn repository_block() -> Block {
    Block::new("The Git repository Argo CD watches.")
        .attribute(
            Attribute::string("url")
                .required()
                .description("Repository URL: `https://`, `ssh://`, `git://` or `user@host:path`. Credentials in the URL \
                              (`user:password@`, `token@`) are refused at plan: give them in `username`/`password`."),
        )
        .attribute(
            Attribute::string("target_revision")
                .optional()
                .description("Branch, tag or commit to follow, e.g. `dev` (default `HEAD`)."),
        )
        .attribute(
            Attribute::string("path")
                .required()
                .description("Path in the repository, relative, e.g. `argocd/overlays/dev`."),
        )
        .attribute(
            Attribute::string("username")
                .optional()
                .sensitive()
                .description("HTTPS user name."),
        )
        .attribute(
            Attribute::string("password")
                .optional()
                .sensitive()
                .description("HTTPS password or token."),
        )
        .attribute(
            Attribute::string("ssh_private_key")
                .optional()
                .sensitive()
                .description("SSH private key, for `ssh://` or `user@host:path` URLs."),
        )
        .attribute(
            Attribute::string("password_wo")
                .optional()
                .sensitive()
                .write_only()
                .description("HTTPS password or token, write-only (Terraform >= 1.11): never stored in plan or state; \
                              used at create and when `credentials_wo_version` changes. Excludes `password`."),
        )
        .attribute(
            Attribute::string("ssh_private_key_wo")
                .optional()
                .sensitive()
                .write_only()
                .description("SSH private key, write-only (Terraform >= 1.11): never stored in plan or state; used at \
                              create and when `credentials_wo_version` changes. Excludes `ssh_private_key`."),
        )
        .attribute(
            Attribute::number("credentials_wo_version")
                .optional()
                .description("Change it (e.g. increment it) to apply `password_wo` or `ssh_private_key_wo` again: \
                              write-only values leave no trace that could show their change."),
        )
        .attribute(
            Attribute::string("secret_name")
                .optional()
                .description(format!(
                    "Name of the repository Secret (default `{DEFAULT_SECRET_NAME}`)."
                )),
        )
}

fn root_application_block() -> Block {
    Block::new("The root Application (App-of-Apps).")
        .attribute(Attribute::string("name").optional().description("Name (default `root`)."))
        .attribute(Attribute::string("project").optional().description("Argo CD project (default `default`)."))
        .attribute(
            Attribute::string("destination_namespace")
                .optional()
                .description("Destination namespace of its resources (default: the Argo CD namespace)."),
        )
        .attribute(Attribute::bool("automated").optional().description("Automated sync (default true)."))
        .attribute(Attribute::bool("prune").optional().description("Prune resources removed from Git (default true)."))
        .attribute(Attribute::bool("self_heal").optional().description("Revert live changes (default true)."))
        .attribute(
            Attribute::new("sync_options", Type::list(Type::String))
                .optional()
                .description("Sync options (default `[\"ServerSideApply=true\"]`)."),
        )
        .attribute(
            Attribute::bool("cascade_delete")
                .optional()
                .description("Destroy deletes the app's resources too (finalizer `resources-finalizer.argocd.argoproj.io`; default true)."),
        )
}

/// The resource schema.
pub fn schema() -> Schema {
    let [argocd_cm, bootstrap_secrets] = super::bootstrap_inputs::attributes();
    let block = Block::new(DESCRIPTION)
        .attribute(Attribute::string("id").computed().description("The Argo CD namespace."))
        .attribute(
            Attribute::string("kubeconfig")
                .optional()
                .sensitive()
                .description("Kubeconfig YAML (its current context is used). Or use the `kubernetes` block."),
        )
        .attribute(Attribute::string("version").required().description("Argo CD release, e.g. `v3.5.1`. With `install_manifest_file` or `install_manifest` it must be the release the manifest deploys (the tag of its `argocd` image), checked at plan; a lower release than the installed one plans with a downgrade warning."))
        .attribute(
            Attribute::string("namespace")
                .optional()
                .requires_replace()
                .description(format!("Namespace of Argo CD (default `{DEFAULT_NAMESPACE}`). Changing it replaces the install.")),
        )
        .attribute(
            Attribute::bool("ha")
                .optional()
                .computed()
                .description("Install the high-availability manifest (default false). It needs at least 3 schedulable nodes (Redis HA places its replicas on distinct nodes): the plan warns when the cluster has fewer."),
        )
        .attribute(
            Attribute::string("install_manifest_url")
                .optional()
                .computed()
                .description("URL of the install manifest (default: the official release manifest for `version` and `ha`). HTTPS, or HTTP to a loopback address. A URL of your own needs `install_manifest_sha256`."),
        )
        .attribute(
            Attribute::string("install_manifest_file")
                .optional()
                .description("Path of a local install manifest (air-gapped use), read by the provider at plan (for its sha256 and objects) and at apply; relative paths start from Terraform's working directory. The state keeps the path and the sha256, not the text."),
        )
        .attribute(
            Attribute::string("install_manifest_sha256")
                .optional()
                .computed()
                .description("sha256 (64 hex digits) the install manifest must have, checked before anything is applied. Default: the official release's for `version` (shipped with the provider for v2.14.1 to v3.5.1), or the file's or inline text's as read at plan. Required with a URL of your own or another version. A change re-applies the install."),
        )
        .attribute(
            Attribute::string("install_manifest")
                .optional()
                .sensitive()
                .description("Inline install manifest YAML, e.g. `file(\"install.yaml\")`; replaces the download. Terraform keeps it in the state and sends it in every call (2 MB for Argo CD v3.5.1): prefer `install_manifest_file`. \
                              Sensitive so that plans show the sha256 instead of megabytes of YAML (and any Secret a custom manifest holds)."),
        )
        .attribute(
            Attribute::string("admin_password")
                .optional()
                .sensitive()
                .description("Admin password, stored bcrypt-hashed in `argocd-secret`."),
        )
        .attribute(
            Attribute::string("admin_password_wo")
                .optional()
                .sensitive()
                .write_only()
                .description("Admin password, write-only (Terraform >= 1.11): never stored in plan or state; set at create \
                              and when `admin_password_wo_version` changes (its bcrypt hash goes to state as with \
                              `admin_password`). Excludes `admin_password`."),
        )
        .attribute(
            Attribute::number("admin_password_wo_version")
                .optional()
                .description("Change it (e.g. increment it) to set `admin_password_wo` again: write-only values leave no \
                              trace that could show their change."),
        )
        .attribute(
            Attribute::bool("server_insecure")
                .optional()
                .description("Set `server.insecure` in `argocd-cmd-params-cm` (serve HTTP, TLS terminated in front). Unset leaves it alone."),
        )
        .attribute(argocd_cm)
        .attribute(bootstrap_secrets)
        .attribute(
            Attribute::bool("wait_for_sync")
                .optional()
                .description("Wait until the root Application is Synced and Healthy (default true)."),
        )
        .attribute(
            Attribute::bool("keep_on_destroy")
                .optional()
                .description("Destroy deletes only the root Application: the install, its namespace, the repository Secret and the admin/`server.insecure` settings stay in the cluster (default false)."),
        )
        .attribute(Attribute::string("manifest_sha256").computed().description("sha256 of the install manifest applied."))
        .attribute(Attribute::string("inventory").computed().description("JSON list of the install objects owned (apiVersion, kind, namespace, name)."))
        .attribute(Attribute::string("admin_password_hash").computed().sensitive().description("bcrypt hash of `admin_password` (or `admin_password_wo`) as applied."))
        .attribute(Attribute::string("admin_password_mtime").computed().description("When the admin password was set (RFC 3339)."))
        .attribute(Attribute::string("install_health").computed().description("`Healthy`, or which install workloads are not rolled out."))
        .attribute(
            Attribute::new("drift", Type::list(Type::String))
                .computed()
                .description("Owned objects or fields changed outside Terraform, found by the last read; the next apply repairs them."),
        )
        .block(NestedBlock::new("kubernetes", Nesting::List, kubernetes_block()).items(0, 1))
        // A list of exactly one, like `kubernetes`: see [`super::settings::kubernetes_path`] (Terraform 1.0/0.15
        // panic on single blocks holding sensitive values, e.g. a password from a sensitive variable).
        .block(NestedBlock::new("repository", Nesting::List, repository_block()).items(1, 1))
        .block(NestedBlock::new("root_application", Nesting::Single, root_application_block()));
    Schema::new(block)
        .version(SCHEMA_VERSION)
        .with_timeouts(TIMEOUTS)
}
