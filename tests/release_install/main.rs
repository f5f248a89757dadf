//! Issue 9: a release made by scripts/release.sh is something Terraform itself installs and verifies.
//!
//! One shared fixture generates throwaway GPG keys, runs scripts/release.sh into a temp dir (linux_amd64; every
//! published platform with `VIXENS_RELEASE_TARGETS=release`, see [`platforms::selected`]) and makes a test CA. Each test then serves the release over the provider registry protocol on
//! 127.0.0.1 (HTTPS) or lays it out as a packed filesystem mirror, and runs a real `terraform init`
//! (Terraform 1.0.3 from scripts/install-terraform.sh). Nothing outside loopback is contacted.

mod gpg;
mod platforms;
mod registry;
mod terraform;
mod tls;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use base64::Engine;
use sha2::{Digest, Sha256};

use gpg::GpgKey;
use registry::{Published, Registry};

const NAME: &str = "terraform-provider-vixens";
const VERSION: &str = env!("CARGO_PKG_VERSION");

struct Fixture {
    work: PathBuf,
    dist: PathBuf,
    /// The `<os>_<arch>` platforms released into `dist`.
    platforms: Vec<String>,
    key: GpgKey,
    /// A signature of the release's SHA256SUMS by an unrelated key.
    impostor_sig: PathBuf,
    release_log: String,
    ca_pem: PathBuf,
    tls: Arc<rustls::ServerConfig>,
    terraform: Option<PathBuf>,
    terraform_0_15: Option<PathBuf>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let work = work_dir();
        let key = GpgKey::generate(
            &work.join("gnupg"),
            "Vixens release test <release@vixens.invalid>",
        );
        let impostor = GpgKey::generate(
            &work.join("gnupg-impostor"),
            "Impostor <impostor@vixens.invalid>",
        );

        let dist = work.join("dist");
        let platforms = platforms::selected();
        let out = Command::new("bash")
            .arg(root.join("scripts/release.sh"))
            .args([
                "--targets",
                &platforms.join(","),
                "--allow-unreleased",
                "--out",
            ])
            .arg(&dist)
            .env("GPG_FINGERPRINT", &key.fingerprint)
            .env("GNUPGHOME", &key.home)
            .current_dir(&root)
            .output()
            .unwrap();
        let release_log = terraform::text(&out);
        assert!(out.status.success(), "release.sh failed:\n{release_log}");

        let impostor_sig = work.join("impostor.sig");
        impostor.detach_sign(
            &dist.join(format!("{NAME}_{VERSION}_SHA256SUMS")),
            &impostor_sig,
        );
        key.stop_agent();
        impostor.stop_agent();

        let ca_pem = work.join("ca.pem");
        let tls = tls::server_config(&ca_pem);
        terraform::install(&root);
        let terraform = terraform::locate(&root, terraform::VERSION);
        let terraform_0_15 = terraform::locate(&root, terraform::VERSION_0_15);
        Fixture {
            work,
            dist,
            platforms,
            key,
            impostor_sig,
            release_log,
            ca_pem,
            tls,
            terraform,
            terraform_0_15,
        }
    })
}

/// A fresh directory for this process (nextest runs each test in its own process, so each has its own
/// fixture), under the system temp dir: gpg-agent's socket path must stay short. Directories left by
/// processes that are gone are removed.
fn work_dir() -> PathBuf {
    let base = std::env::temp_dir();
    let prefix = "vixens-release-test-";
    for entry in std::fs::read_dir(&base).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(pid) = name.strip_prefix(prefix) {
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let work = base.join(format!("{prefix}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    work
}

impl Fixture {
    /// Terraform 1.0.3, or None after printing why the test is skipped.
    fn terraform(&self) -> Option<&Path> {
        skip_unless(self.terraform.as_deref(), terraform::VERSION)
    }

    fn file(&self, suffix: &str) -> PathBuf {
        self.dist.join(format!("{NAME}_{VERSION}_{suffix}"))
    }

    /// SHA256SUMS as filename -> hex digest.
    fn sums(&self) -> BTreeMap<String, String> {
        std::fs::read_to_string(self.file("SHA256SUMS"))
            .unwrap()
            .lines()
            .map(|l| {
                let (hash, name) = l.split_once("  ").expect("'<sha256>  <file>' lines");
                (name.to_string(), hash.to_string())
            })
            .collect()
    }

    /// A copy of the release directory under `work/<name>`, for tampering.
    fn copy_dist(&self, name: &str) -> PathBuf {
        let dir = self.work.join(name).join("dist");
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&self.dist).unwrap().flatten() {
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
        dir
    }

    fn serve(&self, dir: &Path) -> Registry {
        Registry::start(
            Published {
                dir: dir.to_path_buf(),
                version: VERSION.to_string(),
                key_id: self.key.key_id.clone(),
                armor: self.key.armor.clone(),
            },
            self.tls.clone(),
        )
    }
}

/// `found`, or None after printing why the calling test is skipped.
fn skip_unless<'a>(found: Option<&'a Path>, version: &str) -> Option<&'a Path> {
    if found.is_none() {
        eprintln!(
            "SKIPPED: Terraform {version} not found (scripts/install-terraform.sh installs it under .cache/; \
             or set VIXENS_TERRAFORM)"
        );
    }
    found
}

fn zip_name() -> String {
    zip_name_for("linux_amd64")
}

fn zip_name_for(platform: &str) -> String {
    format!("{NAME}_{VERSION}_{platform}.zip")
}

fn binary_name() -> String {
    format!("{NAME}_v{VERSION}")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The provider binary inside a linux_amd64 release zip.
fn unzip_binary(zip: &Path) -> Vec<u8> {
    unzip_entry(zip, &binary_name())
}

/// The file `name` inside `zip`.
fn unzip_entry(zip: &Path, name: &str) -> Vec<u8> {
    let out = Command::new("unzip")
        .arg("-p")
        .arg(zip)
        .arg(name)
        .output()
        .unwrap();
    assert!(out.status.success(), "unzip -p {}", zip.display());
    out.stdout
}

/// Replaces the zip in `dir` by one whose binary is a different program (an attacker's package).
fn swap_zip(dir: &Path) {
    let stage = dir.join("evil");
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::write(stage.join(binary_name()), "#!/bin/sh\necho pwned\n").unwrap();
    let zip = dir.join(zip_name());
    std::fs::remove_file(&zip).unwrap();
    let status = Command::new("zip")
        .current_dir(&stage)
        .arg("-q")
        .arg(&zip)
        .arg(binary_name())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(stage).unwrap();
}

/// CLI config that points the public registry's hostname at our loopback server (a `host` block
/// overrides service discovery, so `/.well-known/terraform.json` on registry.terraform.io is never
/// fetched). Verified to be honoured for registry.terraform.io by Terraform 1.0.3.
fn host_block(port: u16) -> String {
    format!(
        "disable_checkpoint = true\nhost \"registry.terraform.io\" {{\n  services = {{\n    \"providers.v1\" = \"https://127.0.0.1:{port}/v1/providers/\"\n  }}\n}}\n"
    )
}

/// Go's dirhash "h1:" of a provider package holding just `name` with `content` (the scheme Terraform
/// records in .terraform.lock.hcl): base64(sha256("<sha256 hex>  <name>\n")).
fn h1_of_single_file(name: &str, content: &[u8]) -> String {
    let summary = format!("{}  {name}\n", sha256_hex(content));
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(summary.as_bytes()))
}

fn installed_binary(ws: &Path, host: &str) -> PathBuf {
    ws.join(format!(
        ".terraform/providers/{host}/vixens/vixens/{VERSION}/linux_amd64/{}",
        binary_name()
    ))
}

#[test]
fn release_files_follow_the_registry_layout() {
    let fx = fixture();
    let mut names: Vec<String> = std::fs::read_dir(&fx.dist)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    let p = format!("{NAME}_{VERSION}");
    let mut expected = vec![
        format!("{p}_SHA256SUMS"),
        format!("{p}_SHA256SUMS.sig"),
        format!("{p}_manifest.json"),
    ];
    expected.extend(fx.platforms.iter().map(|t| zip_name_for(t)));
    expected.sort();
    assert_eq!(names, expected);

    for platform in &fx.platforms {
        // Each zip holds exactly the executable terraform-provider-vixens_v<ver> (.exe on Windows).
        let exe = platforms::exe_name(platform, VERSION);
        let zip = fx.dist.join(zip_name_for(platform));
        let listing = Command::new("unzip").arg("-Z").arg(&zip).output().unwrap();
        let listing = String::from_utf8(listing.stdout).unwrap();
        let entries: Vec<&str> = listing.lines().filter(|l| l.starts_with('-')).collect();
        assert_eq!(entries.len(), 1, "{listing}");
        assert!(entries[0].starts_with("-rwxr-xr-x"), "{listing}");
        assert!(entries[0].ends_with(&format!(" {exe}")), "{listing}");

        // A stripped executable of the platform's format and architecture, whose size release.sh reports.
        let binary = unzip_entry(&zip, &exe);
        let scratch = fx.work.join(format!("extracted-{platform}"));
        platforms::check_executable(platform, &binary, &scratch);
        let report = format!(
            "{platform}: stripped binary {exe} is {} bytes",
            binary.len()
        );
        assert!(
            fx.release_log.contains(&report),
            "missing '{report}' in:\n{}",
            fx.release_log
        );
    }
    // release.sh started the host binary as Terraform does, up to its go-plugin handshake line.
    assert!(
        fx.release_log
            .contains("linux_amd64: started natively: handshake line 1|6|tcp|127.0.0.1:"),
        "{}",
        fx.release_log
    );

    // Manifest in the Registry's format.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fx.file("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest,
        serde_json::json!({"version": 1, "metadata": {"protocol_versions": ["5.0", "6.0"]}})
    );

    // SHA256SUMS covers the zips and the manifest, with the right digests; the signature is good.
    let sums = fx.sums();
    let mut expected: BTreeSet<String> = fx.platforms.iter().map(|t| zip_name_for(t)).collect();
    expected.insert(format!("{p}_manifest.json"));
    assert_eq!(sums.keys().cloned().collect::<BTreeSet<_>>(), expected);
    for (name, hash) in &sums {
        let bytes = std::fs::read(fx.dist.join(name)).unwrap();
        assert_eq!(&sha256_hex(&bytes), hash, "{name}");
    }
    let sig = fx.file("SHA256SUMS.sig");
    assert!(fx.key.verifies(&fx.file("SHA256SUMS"), &sig));
    let sig_bytes = std::fs::read(&sig).unwrap();
    assert!(
        !sig_bytes.starts_with(b"-----BEGIN"),
        "the signature must be binary, not armored"
    );
}

/// Runs release.sh, expecting it to fail before building, with `message` in its output.
fn release_refuses(args: &[&str], envs: &[(&str, &str)], message: &str) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(root.join("scripts/release.sh"))
        .args(["--targets", "linux_amd64", "--out"])
        .arg(out_dir.path())
        .args(args)
        .env_remove("GPG_FINGERPRINT")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let text = terraform::text(&out);
    assert!(!out.status.success(), "release.sh should fail:\n{text}");
    assert!(text.contains(message), "expected '{message}' in:\n{text}");
    assert!(
        !text.contains("Compiling"),
        "it should fail before building:\n{text}"
    );
}

#[test]
fn release_refuses_a_changelog_that_disagrees_with_cargo_toml() {
    let dir = tempfile::tempdir().unwrap();
    let changelog = dir.path().join("CHANGELOG.md");
    std::fs::write(&changelog, "# Changelog\n\n## [9.9.9] - 2026-01-01\n- x\n").unwrap();
    let path = changelog.to_str().unwrap();
    release_refuses(
        &["--changelog", path, "--no-sign"],
        &[],
        &format!(
            "version mismatch: Cargo.toml says {VERSION} but the latest {path} entry is [9.9.9]"
        ),
    );

    std::fs::write(&changelog, format!("## [{VERSION}] - Unreleased\n")).unwrap();
    release_refuses(&["--changelog", path, "--no-sign"], &[], "must be dated");

    std::fs::write(&changelog, format!("## [{VERSION}] - 2026-11-29\n")).unwrap();
    release_refuses(&["--changelog", path], &[], "GPG_FINGERPRINT is not set");
}

#[test]
fn registry_install_verifies_the_signature_and_locks_the_sha256sums() {
    let fx = fixture();
    let Some(tf) = fx.terraform() else { return };
    let registry = fx.serve(&fx.dist);
    let ws = fx.work.join("registry");
    terraform::write_module(&ws, "vixens/vixens", VERSION);
    let out = terraform::init(tf, &ws, &host_block(registry.port), &fx.ca_pem);
    let text = terraform::text(&out);
    assert!(out.status.success(), "terraform init failed:\n{text}");
    let installed = format!(
        "Installed vixens/vixens v{VERSION} (self-signed, key ID {})",
        fx.key.key_id
    );
    assert!(
        text.contains(&installed),
        "expected '{installed}' in:\n{text}"
    );

    // The lock file's zh: hashes are exactly the SHA256SUMS entries (Terraform trusts the whole signed
    // list), and its h1: hash is that of the package's contents.
    let (zh, h1) = terraform::locked_hashes(&ws);
    let sums: BTreeSet<String> = fx.sums().into_values().collect();
    assert_eq!(zh, sums);
    let binary = unzip_binary(&fx.dist.join(zip_name()));
    let expected_h1: BTreeSet<String> = [h1_of_single_file(&binary_name(), &binary)].into();
    assert_eq!(h1, expected_h1);

    let installed_bin = installed_binary(&ws, "registry.terraform.io");
    assert_eq!(std::fs::read(&installed_bin).unwrap(), binary);

    let p = format!("{NAME}_{VERSION}");
    assert_eq!(
        registry.requests(),
        vec![
            "/v1/providers/vixens/vixens/versions".to_string(),
            format!("/v1/providers/vixens/vixens/{VERSION}/download/linux/amd64"),
            format!("/files/{p}_SHA256SUMS"),
            format!("/files/{p}_SHA256SUMS.sig"),
            format!("/files/{p}_linux_amd64.zip"),
        ]
    );
}

/// `terraform providers lock` for every released platform: Terraform downloads each platform's zip, checks the
/// signed SHA256SUMS and the zip's digest, unpacks it and records its `h1:` hash: each must be that of the
/// platform's executable, under its platform name (`.exe` on Windows).
#[test]
fn providers_lock_verifies_the_package_of_every_platform() {
    let fx = fixture();
    let Some(tf) = fx.terraform() else { return };
    let registry = fx.serve(&fx.dist);
    let ws = fx.work.join("lock_all");
    terraform::write_module(&ws, "vixens/vixens", VERSION);
    let mut args = vec!["providers".to_string(), "lock".to_string()];
    args.extend(fx.platforms.iter().map(|p| format!("-platform={p}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = terraform::run(tf, &ws, &host_block(registry.port), &fx.ca_pem, &args);
    let text = terraform::text(&out);
    assert!(
        out.status.success(),
        "terraform providers lock failed:\n{text}"
    );

    let (zh, h1) = terraform::locked_hashes(&ws);
    assert_eq!(zh, fx.sums().into_values().collect::<BTreeSet<_>>());
    let expected_h1: BTreeSet<String> = fx
        .platforms
        .iter()
        .map(|p| {
            let exe = platforms::exe_name(p, VERSION);
            h1_of_single_file(&exe, &unzip_entry(&fx.dist.join(zip_name_for(p)), &exe))
        })
        .collect();
    assert_eq!(h1, expected_h1, "{text}");
    let requests = registry.requests();
    for p in &fx.platforms {
        let (os, arch) = p.split_once('_').unwrap();
        let download = format!("/v1/providers/vixens/vixens/{VERSION}/download/{os}/{arch}");
        assert!(requests.contains(&download), "{requests:?}");
        assert!(
            requests.contains(&format!("/files/{}", zip_name_for(p))),
            "{requests:?}"
        );
    }
}

/// Issue 21, without building anything (CI builds linux_amd64 only; `scripts/release.sh --targets release`
/// builds the rest): release.sh knows every published platform, and its dry run plans each with the Rust
/// target, the linker and the zip layout the Registry expects.
#[test]
fn release_plans_every_published_platform() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("scripts/release.sh");
    let list = Command::new("bash")
        .arg(&script)
        .arg("--list-targets")
        .output()
        .unwrap();
    let list_text = terraform::text(&list);
    assert!(list.status.success(), "{list_text}");
    for p in platforms::PUBLISHED {
        let line = format!("{p} {} published: ", platforms::triple(p));
        assert!(list_text.contains(&line), "no '{line}' in:\n{list_text}");
    }

    let out_dir = tempfile::tempdir().unwrap();
    let dry = Command::new("bash")
        .arg(&script)
        .args([
            "--dry-run",
            "--targets",
            "release",
            "--no-sign",
            "--allow-unreleased",
            "--out",
        ])
        .arg(out_dir.path())
        .output()
        .unwrap();
    let text = terraform::text(&dry);
    assert!(dry.status.success(), "{text}");
    assert!(
        !text.contains("Compiling"),
        "a dry run builds nothing:\n{text}"
    );
    assert_eq!(
        std::fs::read_dir(out_dir.path()).unwrap().count(),
        0,
        "a dry run writes nothing"
    );
    for p in platforms::PUBLISHED {
        let exe = platforms::exe_name(p, VERSION);
        let packaged = format!(" as {exe} in {}", zip_name_for(p));
        let plan: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(&format!("{p}: ")))
            .collect();
        assert_eq!(plan.len(), 2, "{p}: {text}");
        assert!(
            plan[1].contains(&packaged),
            "{p}: no '{packaged}' in {}",
            plan[1]
        );
        let command = plan[0];
        assert!(
            command.contains("--release --locked --bin terraform-provider-vixens"),
            "{command}"
        );
        if p == "linux_amd64" {
            assert!(!command.contains("--target"), "the host build: {command}");
            continue;
        }
        assert!(
            command.contains(&format!("--target {}", platforms::triple(p))),
            "{command}"
        );
        assert!(
            command.contains("CARGO_TARGET_DIR="),
            "cross artifacts apart: {command}"
        );
        match p {
            "linux_arm64" => assert!(
                command.contains("_LINKER=aarch64-linux-gnu-gcc"),
                "{command}"
            ),
            "windows_amd64" => {
                assert!(
                    command.contains("_LINKER=x86_64-w64-mingw32-gcc"),
                    "{command}"
                )
            }
            _ => {
                for part in [
                    " zigbuild ",
                    "MACOSX_DEPLOYMENT_TARGET=11.0",
                    "-Fscripts/macos-frameworks",
                ] {
                    assert!(command.contains(part), "{p}: no '{part}' in {command}");
                }
            }
        }
    }
}

#[test]
fn terraform_0_15_installs_from_the_registry_too() {
    let fx = fixture();
    let Some(tf) = skip_unless(fx.terraform_0_15.as_deref(), terraform::VERSION_0_15) else {
        return;
    };
    let registry = fx.serve(&fx.dist);
    let ws = fx.work.join("registry_0_15");
    terraform::write_module(&ws, "vixens/vixens", VERSION);
    let out = terraform::init(tf, &ws, &host_block(registry.port), &fx.ca_pem);
    let text = terraform::text(&out);
    assert!(out.status.success(), "terraform 0.15 init failed:\n{text}");
    assert!(
        text.contains(&format!("key ID {}", fx.key.key_id)),
        "{text}"
    );
    let (zh, _) = terraform::locked_hashes(&ws);
    assert_eq!(zh, fx.sums().into_values().collect::<BTreeSet<_>>());
    assert!(installed_binary(&ws, "registry.terraform.io").exists());
}

#[test]
fn a_registry_hostname_is_found_through_service_discovery() {
    let fx = fixture();
    let Some(tf) = fx.terraform() else { return };
    let registry = fx.serve(&fx.dist);
    let ws = fx.work.join("discovery");
    let source = format!("localhost:{}/vixens/vixens", registry.port);
    terraform::write_module(&ws, &source, VERSION);
    let out = terraform::init(tf, &ws, "disable_checkpoint = true\n", &fx.ca_pem);
    let text = terraform::text(&out);
    assert!(out.status.success(), "terraform init failed:\n{text}");
    assert!(
        text.contains(&format!("key ID {}", fx.key.key_id)),
        "{text}"
    );
    let requests = registry.requests();
    assert_eq!(
        requests.first().map(String::as_str),
        Some("/.well-known/terraform.json")
    );
    assert!(installed_binary(&ws, &format!("localhost:{}", registry.port)).exists());
}

/// `text` with every run of whitespace made one space (Terraform wraps its messages).
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Serves `dir`, runs init, and expects it to fail with `message` and to install nothing.
fn init_fails(fx: &Fixture, tf: &Path, name: &str, dir: &Path, message: &str) {
    let registry = fx.serve(dir);
    let ws = fx.work.join(name).join("ws");
    terraform::write_module(&ws, "vixens/vixens", VERSION);
    let out = terraform::init(tf, &ws, &host_block(registry.port), &fx.ca_pem);
    let text = terraform::text(&out);
    eprintln!("{name}: terraform init said:\n{text}");
    let text = squash(&text);
    assert!(!out.status.success(), "terraform init should fail:\n{text}");
    assert!(text.contains(message), "expected '{message}' in:\n{text}");
    assert!(!installed_binary(&ws, "registry.terraform.io").exists());
}

#[test]
fn a_tampered_zip_fails_init() {
    let fx = fixture();
    let Some(tf) = fx.terraform() else { return };
    let dir = fx.copy_dist("tampered_zip");
    swap_zip(&dir);
    init_fails(
        fx,
        tf,
        "tampered_zip",
        &dir,
        "archive has incorrect checksum",
    );
}

#[test]
fn rewritten_sha256sums_fail_the_signature_check() {
    let fx = fixture();
    let Some(tf) = fx.terraform() else { return };
    let dir = fx.copy_dist("rewritten_sums");
    swap_zip(&dir);
    let sums_path = dir.join(format!("{NAME}_{VERSION}_SHA256SUMS"));
    let mut sums = String::new();
    for (name, hash) in fx.sums() {
        let hash = if name == zip_name() {
            sha256_hex(&std::fs::read(dir.join(&name)).unwrap())
        } else {
            hash
        };
        sums.push_str(&format!("{hash}  {name}\n"));
    }
    std::fs::write(&sums_path, sums).unwrap();
    init_fails(
        fx,
        tf,
        "rewritten_sums",
        &dir,
        "error checking signature: openpgp: invalid signature",
    );
}

#[test]
fn a_signature_by_another_key_fails_init() {
    let fx = fixture();
    let Some(tf) = fx.terraform() else { return };
    let dir = fx.copy_dist("impostor_sig");
    std::fs::copy(
        &fx.impostor_sig,
        dir.join(format!("{NAME}_{VERSION}_SHA256SUMS.sig")),
    )
    .unwrap();
    init_fails(
        fx,
        tf,
        "impostor_sig",
        &dir,
        "authentication signature from unknown issuer",
    );
}

/// CLI config with only a filesystem mirror: nothing is fetched from any network.
fn mirror_config(mirror: &Path) -> String {
    format!(
        "disable_checkpoint = true\nprovider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/vixens/vixens\"]\n  }}\n}}\n",
        mirror.display()
    )
}

/// A lock file as a registry install records it: the zh: hashes of the signed SHA256SUMS.
fn registry_lock(fx: &Fixture) -> String {
    let hashes: Vec<String> = fx
        .sums()
        .values()
        .map(|h| format!("    \"zh:{h}\",\n"))
        .collect();
    format!(
        "provider \"registry.terraform.io/vixens/vixens\" {{\n  version     = \"{VERSION}\"\n  constraints = \"{VERSION}\"\n  hashes = [\n{}  ]\n}}\n",
        hashes.concat()
    )
}

#[test]
fn the_packed_filesystem_mirror_layout_installs_against_the_registry_lock() {
    let fx = fixture();
    let Some(tf) = fx.terraform() else { return };
    for (name, tamper) in [("mirror", false), ("mirror_tampered", true)] {
        let mirror = fx.work.join(name).join("mirror");
        let pkg_dir = mirror.join("registry.terraform.io/vixens/vixens");
        std::fs::create_dir_all(&pkg_dir).unwrap();
        std::fs::copy(fx.dist.join(zip_name()), pkg_dir.join(zip_name())).unwrap();
        if tamper {
            swap_zip(&pkg_dir);
        }
        let ws = fx.work.join(name).join("ws");
        terraform::write_module(&ws, "vixens/vixens", VERSION);
        std::fs::write(ws.join(".terraform.lock.hcl"), registry_lock(fx)).unwrap();
        let out = terraform::init(tf, &ws, &mirror_config(&mirror), &fx.ca_pem);
        let text = terraform::text(&out);
        if tamper {
            eprintln!("{name}: terraform init said:\n{text}");
            assert!(
                !out.status.success(),
                "a tampered mirror zip must fail:\n{text}"
            );
            let text = squash(&text);
            let expected = "doesn't match any of the checksums previously recorded in the dependency lock file";
            assert!(text.contains(expected), "{text}");
            continue;
        }
        assert!(
            out.status.success(),
            "terraform init from the mirror failed:\n{text}"
        );
        let binary = unzip_binary(&fx.dist.join(zip_name()));
        assert_eq!(
            std::fs::read(installed_binary(&ws, "registry.terraform.io")).unwrap(),
            binary
        );
        let (zh, h1) = terraform::locked_hashes(&ws);
        assert_eq!(zh, fx.sums().into_values().collect::<BTreeSet<_>>());
        assert!(
            h1.contains(&h1_of_single_file(&binary_name(), &binary)),
            "{h1:?}"
        );
    }
}
