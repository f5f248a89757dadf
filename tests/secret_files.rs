//! Secret files the documentation tells users to write are created 0600 (issue 15 item 4): the README's
//! `terraform output -raw … > file` commands are run as written, with Terraform 1.0.3 and a state holding the
//! three sensitive outputs, under the common umask 022; every such command anywhere in the tree (README, docs,
//! the environments' output descriptions, scripts) must set umask 077 in a subshell.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{repo_root, Terraform, Workspace};

/// The README lines that write a Terraform output to a file.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    readme
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("terraform output -raw") && l.contains('>') && !l.starts_with('`'))
        .map(str::to_string)
        .collect()
}

#[test]
fn readme_output_commands_create_files_only_the_owner_reads() {
    let commands = readme_commands();
    assert_eq!(commands.len(), 3, "{commands:?}");
    let Some(tf) = Terraform::get("1.0.3") else {
        return;
    };
    let ws = Workspace::new(
        &tf,
        r#"
output "machine_secrets" {
  value     = "cluster: {id: x}"
  sensitive = true
}
output "kubeconfig" {
  value     = "apiVersion: v1"
  sensitive = true
}
output "talosconfig" {
  value     = "context: x"
  sensitive = true
}
"#,
    );
    ws.init();
    ws.apply();
    let bin_dir = tf.bin.parent().expect("terraform's directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for command in &commands {
        let status = Command::new("bash")
            .arg("-c")
            .arg(format!("umask 022 && {command}"))
            .current_dir(ws.path())
            .env("PATH", &path)
            .env("TF_CLI_CONFIG_FILE", &ws.mirror.cli_config)
            .env("CHECKPOINT_DISABLE", "1")
            .status()
            .expect("bash");
        assert!(status.success(), "{command}");
    }
    for file in ["secrets.yaml", "kubeconfig", "talosconfig"] {
        let meta = std::fs::metadata(ws.path().join(file)).expect(file);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
        assert!(meta.len() > 0, "{file} is empty");
    }
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if p.is_dir() {
            if !name.starts_with('.') && name != "target" {
                files(&p, out);
            }
        } else if name.ends_with(".md") || name.ends_with(".tf") || name.ends_with(".sh") {
            out.push(p);
        }
    }
}

#[test]
fn every_documented_output_redirect_sets_umask_077() {
    let root = repo_root();
    let mut all = Vec::new();
    for dir in ["README.md", "docs", "terraform", "scripts", "examples"] {
        let p = root.join(dir);
        if p.is_file() {
            all.push(p);
        } else {
            files(&p, &mut all);
        }
    }
    let mut bad = Vec::new();
    for file in all {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            let writes = line.contains("output -raw") && line.contains(" > ");
            if writes && !line.contains("(umask 077 && ") {
                bad.push(format!("{}:{}: {line}", file.display(), n + 1));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "world-readable secret files:\n{}",
        bad.join("\n")
    );
}
