//! Reusable harness for tests that drive the provider through a real Terraform CLI.
//!
//! - [`Terraform::all`]: the CLIs to test with: 1.0.3 (protocol 6) and 0.15.0-rc2 (protocol 5) from
//!   `scripts/install-terraform.sh` (run on first use when the cache is empty), plus any `terraform` >= 1.0 on
//!   `PATH` (skipped when absent). [`Terraform::get`] picks one version.
//! - The provider binary is the one cargo built for this test run (`CARGO_BIN_EXE_terraform-provider-vixens`, with
//!   the same features as the test: `--features test-resources` adds `vixens_test_thing`; a plain `cargo build`
//!   or `--release` never has it). It is installed once per test process into a filesystem mirror
//!   (`<mirror>/registry.terraform.io/vixens/vixens/<ver>/linux_amd64/terraform-provider-vixens_v<ver>`) with
//!   its own CLI config (`TF_CLI_CONFIG_FILE`), so `terraform init` runs offline and ignores any user config.
//! - [`Workspace`]: a temporary directory with a `main.tf`, where terraform commands run with a clean
//!   environment; [`Workspace::show_json`] / [`Workspace::resource`] parse `terraform show -json`.
//!
//! ```ignore
//! mod common;
//! use common::{Terraform, Workspace};
//! for tf in Terraform::all() {
//!     let ws = Workspace::new(&tf, r#"resource "vixens_cilium" "c" { ... }"#);
//!     ws.init();
//!     ws.apply();
//!     assert_eq!(ws.plan_exit_code(), 0);
//!     let values = ws.resource("vixens_cilium.c").unwrap();
//!     ws.destroy();
//! }
//! ```
#![allow(dead_code)]

pub mod emulator;
pub mod poll;
pub mod specs;
pub mod talos_grpc;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// The provider version installed into the mirror (the crate version).
pub const PROVIDER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `<repo root>/../shared` (Talos schemas, fixtures), if present.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = repo_root().join("..").join("shared");
    dir.is_dir().then_some(dir)
}

/// The provider binary built by cargo for this test run.
pub fn provider_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_terraform-provider-vixens"))
}

/// A Terraform CLI.
#[derive(Clone, Debug)]
pub struct Terraform {
    /// Path of the binary.
    pub bin: PathBuf,
    /// Its version, e.g. `"1.0.3"`.
    pub version: String,
    /// The plugin protocol it will use with this provider (6 for >= 1.0, 5 for 0.15).
    pub protocol: u32,
}

impl Terraform {
    /// 1.0.3, 0.15.0-rc2, and a `terraform` >= 1.0 from PATH when present and different.
    pub fn all() -> Vec<Terraform> {
        let mut out = vec![Self::cached("1.0.3"), Self::cached("0.15.0-rc2")];
        match Self::from_path() {
            Some(tf) if !out.iter().any(|t| t.version == tf.version) => out.push(tf),
            Some(_) => {}
            None => {
                eprintln!("note: no terraform >= 1.0 on PATH; testing the cached versions only")
            }
        }
        out
    }

    /// One of [`Terraform::all`] by version (`"1.0.3"`, `"0.15.0-rc2"`, or the PATH one's version).
    pub fn get(version: &str) -> Option<Terraform> {
        Self::all().into_iter().find(|t| t.version == version)
    }

    /// A version installed by `scripts/install-terraform.sh` (installing on first use).
    pub fn cached(version: &str) -> Terraform {
        static INSTALLED: OnceLock<()> = OnceLock::new();
        let bin = repo_root()
            .join(".cache/terraform")
            .join(version)
            .join("terraform");
        if !bin.exists() {
            INSTALLED.get_or_init(|| {
                let status = Command::new("bash")
                    .arg(repo_root().join("scripts/install-terraform.sh"))
                    .status()
                    .expect("run scripts/install-terraform.sh");
                assert!(status.success(), "scripts/install-terraform.sh failed");
            });
        }
        assert!(
            bin.exists(),
            "{} missing after scripts/install-terraform.sh",
            bin.display()
        );
        let protocol = if version.starts_with("0.") { 5 } else { 6 };
        Terraform {
            bin,
            version: version.to_string(),
            protocol,
        }
    }

    /// `terraform` from PATH if it is version 1.0 or later.
    pub fn from_path() -> Option<Terraform> {
        let path = std::env::var_os("PATH")?;
        let bin = std::env::split_paths(&path)
            .map(|d| d.join("terraform"))
            .find(|p| p.is_file())?;
        let out = clean_command(&bin)
            .args(["version", "-json"])
            .output()
            .ok()?;
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let version = json["terraform_version"].as_str()?.to_string();
        let major: u32 = version.split('.').next()?.parse().ok()?;
        (major >= 1).then_some(Terraform {
            bin,
            version,
            protocol: 6,
        })
    }

    /// `terraform` from PATH if it is at least `major.minor` (e.g. 1.11 for write-only attributes, 1.10 for
    /// ephemeral resources); otherwise `None`, after printing `SKIPPED: <what> needs ...` so the skip shows in
    /// the test output.
    pub fn from_path_at_least(major: u32, minor: u32, what: &str) -> Option<Terraform> {
        let found = Self::from_path();
        let fits = found.as_ref().is_some_and(|tf| {
            let mut parts = tf.version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
            let have = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
            have >= (major, minor)
        });
        if !fits {
            println!(
                "SKIPPED: {what} needs terraform >= {major}.{minor} on PATH (found: {})",
                found.map_or("none".to_string(), |tf| tf.version)
            );
            return None;
        }
        found
    }
}

/// A command for `bin` with every `TF_*` variable removed, no update checks and no prompts.
fn clean_command(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TF_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_INPUT", "0");
    cmd
}

/// The filesystem mirror holding the provider, and the CLI config pointing at it. Shared by the live
/// [`Workspace`]s of a test process and removed with the last of them.
pub struct Mirror {
    /// Mirror root.
    pub dir: PathBuf,
    /// CLI config file (`TF_CLI_CONFIG_FILE`).
    pub cli_config: PathBuf,
    _tmp: tempfile::TempDir,
}

/// The current mirror, created and filled when none is alive.
pub fn mirror() -> Arc<Mirror> {
    static CURRENT: Mutex<Weak<Mirror>> = Mutex::new(Weak::new());
    let mut current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(m) = current.upgrade() {
        return m;
    }
    let tmp = tempfile::Builder::new()
        .prefix("vixens-mirror-")
        .tempdir()
        .expect("temp dir");
    let dir = tmp.path().join("mirror");
    let target = dir
        .join("registry.terraform.io/vixens/vixens")
        .join(PROVIDER_VERSION)
        .join("linux_amd64")
        .join(format!("terraform-provider-vixens_v{PROVIDER_VERSION}"));
    std::fs::create_dir_all(target.parent().expect("parent")).expect("mirror dirs");
    let src = provider_binary();
    if std::fs::hard_link(&src, &target).is_err() {
        std::fs::copy(&src, &target).expect("copy provider into mirror");
    }
    let cli_config = tmp.path().join("terraform.rc");
    let config = format!(
        "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/vixens/vixens\"]\n  }}\n}}\n",
        dir.display()
    );
    std::fs::write(&cli_config, config).expect("write CLI config");
    let m = Arc::new(Mirror {
        dir,
        cli_config,
        _tmp: tmp,
    });
    *current = Arc::downgrade(&m);
    m
}

/// What a terraform command did.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// stdout and stderr together, for messages and searches.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// The `terraform { required_providers { vixens = ... } }` block every configuration needs.
pub const REQUIRED_PROVIDERS: &str = r#"
terraform {
  required_providers {
    vixens = {
      source = "vixens/vixens"
    }
  }
}
"#;

/// A temporary Terraform working directory bound to one CLI.
pub struct Workspace {
    /// The CLI used.
    pub tf: Terraform,
    /// The provider mirror this workspace installs from.
    pub mirror: Arc<Mirror>,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Workspace {
    /// A workspace whose `main.tf` is [`REQUIRED_PROVIDERS`] followed by `config`.
    pub fn new(tf: &Terraform, config: &str) -> Workspace {
        let dir = tempfile::Builder::new()
            .prefix("vixens-tf-")
            .tempdir()
            .expect("temp dir");
        let ws = Workspace {
            tf: tf.clone(),
            mirror: mirror(),
            dir,
            env: Vec::new(),
        };
        ws.write_config(config);
        ws
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces `main.tf` with [`REQUIRED_PROVIDERS`] followed by `config`.
    pub fn write_config(&self, config: &str) {
        std::fs::write(
            self.path().join("main.tf"),
            format!("{REQUIRED_PROVIDERS}\n{config}"),
        )
        .expect("write main.tf");
    }

    /// Adds an environment variable for terraform and the provider it starts.
    pub fn set_env(&mut self, key: &str, value: impl Into<String>) {
        self.env.push((key.to_string(), value.into()));
    }

    /// Removes an environment variable set by [`Workspace::set_env`].
    pub fn remove_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    /// The command `terraform <args>` (with `-no-color` appended where accepted) in this workspace.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = clean_command(&self.tf.bin);
        cmd.current_dir(self.path()).args(args);
        if !matches!(args.first(), Some(&"version") | Some(&"show") | None) {
            cmd.arg("-no-color");
        }
        cmd.env("TF_CLI_CONFIG_FILE", &self.mirror.cli_config);
        if let Ok(level) = std::env::var("VIXENS_TEST_TF_LOG") {
            cmd.env("TF_LOG", level);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Panics when the provider crashed during `terraform <args>`.
    fn check_no_crash(&self, args: &[&str], output: &Output) {
        assert!(
            !output.all().contains("panicked at")
                && !output.all().contains("Plugin did not respond"),
            "terraform {} {args:?}: the provider crashed:\n{}",
            self.tf.version,
            output.all()
        );
    }

    /// Runs `terraform <args>` (with `-no-color` appended where accepted) and returns what happened.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self
            .command(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.tf.bin.display()));
        let output = Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        self.check_no_crash(args, &output);
        output
    }

    /// Starts `terraform <args>` in the background (as [`Workspace::run`] would run it); its output goes to files.
    pub fn spawn(&self, args: &[&str]) -> Background<'_> {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let out = self.path().join(format!("terraform-{n}.stdout"));
        let err = self.path().join(format!("terraform-{n}.stderr"));
        use std::os::unix::process::CommandExt;
        let child = self
            .command(args)
            .process_group(0)
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.tf.bin.display()));
        Background {
            ws: self,
            args: args.iter().map(|a| a.to_string()).collect(),
            child,
            out,
            err,
        }
    }

    /// Runs `terraform <args>` and panics (showing the output) unless it exits 0.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_eq!(
            out.code,
            0,
            "terraform {} {args:?} failed:\n{}",
            self.tf.version,
            out.all()
        );
        out
    }

    /// Runs `terraform <args>` and panics unless it fails; returns the output for checking the message.
    pub fn fails(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_ne!(
            out.code,
            0,
            "terraform {} {args:?} should fail:\n{}",
            self.tf.version,
            out.all()
        );
        out
    }

    /// `terraform init`.
    pub fn init(&self) -> Output {
        self.ok(&["init", "-input=false"])
    }

    /// `terraform apply -auto-approve`.
    pub fn apply(&self) -> Output {
        self.ok(&["apply", "-auto-approve", "-input=false"])
    }

    /// `terraform destroy -auto-approve`.
    pub fn destroy(&self) -> Output {
        self.ok(&["destroy", "-auto-approve", "-input=false"])
    }

    /// `terraform import <address> <id>`.
    pub fn import(&self, address: &str, id: &str) -> Output {
        self.ok(&["import", "-input=false", address, id])
    }

    /// Exit code of `terraform plan -detailed-exitcode` (0 no changes, 2 changes, 1 error).
    pub fn plan_exit_code(&self) -> i32 {
        let out = self.run(&["plan", "-detailed-exitcode", "-input=false"]);
        if out.code == 1 {
            eprintln!("plan failed:\n{}", out.all());
        }
        out.code
    }

    /// `terraform show -json` parsed (`{}` when there is no state yet). The 0.15.0-rc2 build from PyPI panics in
    /// `show` without a plan file, so for it the same shape (`values.root_module.resources[]` with `address`,
    /// `type`, `name`, `values`, `tainted`) is built from `terraform.tfstate`.
    pub fn show_json(&self) -> serde_json::Value {
        let state_file = self.path().join("terraform.tfstate");
        if !state_file.exists() {
            return serde_json::json!({});
        }
        if self.tf.version.starts_with("0.") {
            let raw: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&state_file).expect("read state"))
                    .expect("state JSON");
            return show_json_from_state(&raw);
        }
        let out = self.ok(&["show", "-json"]);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("show -json: {e}\n{}", out.stdout))
    }

    /// The state entry (`address`, `values`, `tainted`...) of a root-module resource from `terraform show -json`.
    pub fn resource_entry(&self, address: &str) -> Option<serde_json::Value> {
        let state = self.show_json();
        state["values"]["root_module"]["resources"]
            .as_array()?
            .iter()
            .find(|r| r["address"] == address)
            .cloned()
    }

    /// The attribute values of a root-module resource in the state.
    pub fn resource(&self, address: &str) -> Option<serde_json::Value> {
        self.resource_entry(address).map(|r| r["values"].clone())
    }
}

/// A terraform command running in the background ([`Workspace::spawn`]).
pub struct Background<'a> {
    ws: &'a Workspace,
    args: Vec<String>,
    child: std::process::Child,
    out: PathBuf,
    err: PathBuf,
}

impl Background<'_> {
    /// Sends SIGINT to terraform's process group (terraform runs in a group of its own), as Ctrl-C in a terminal
    /// does to the foreground group: Terraform then asks the provider to stop.
    pub fn interrupt(&self) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) on the process group of a child this value owns and has not waited for.
        let rc = unsafe { libc::kill(-pid, libc::SIGINT) };
        assert_eq!(rc, 0, "kill -INT -{pid}");
    }

    /// Waits for terraform to exit and returns what it did.
    pub fn wait(mut self) -> Output {
        let status = self.child.wait().expect("wait for terraform");
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let output = Output {
            code: status.code().unwrap_or(-1),
            stdout: read(&self.out),
            stderr: read(&self.err),
        };
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.ws.check_no_crash(&args, &output);
        output
    }
}

/// The `terraform show -json` shape of the root-module resources in a version-4 state file.
fn show_json_from_state(state: &serde_json::Value) -> serde_json::Value {
    let mut resources = Vec::new();
    for r in state["resources"].as_array().into_iter().flatten() {
        if r.get("module").is_some() {
            continue;
        }
        let (ty, name) = (
            r["type"].as_str().unwrap_or_default(),
            r["name"].as_str().unwrap_or_default(),
        );
        let prefix = if r["mode"] == "data" { "data." } else { "" };
        for inst in r["instances"].as_array().into_iter().flatten() {
            let address = match &inst["index_key"] {
                serde_json::Value::Null => format!("{prefix}{ty}.{name}"),
                key => format!("{prefix}{ty}.{name}[{key}]"),
            };
            let mut entry = serde_json::json!({
                "address": address,
                "mode": r["mode"],
                "type": ty,
                "name": name,
                "values": inst["attributes"],
                "schema_version": inst["schema_version"],
            });
            if inst["status"] == "tainted" {
                entry["tainted"] = true.into();
            }
            resources.push(entry);
        }
    }
    serde_json::json!({ "values": { "root_module": { "resources": resources } } })
}
