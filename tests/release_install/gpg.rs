//! Throwaway OpenPGP keys made with the gpg CLI in a private GNUPGHOME (batch mode, no passphrase).
//! RSA, because the Terraform Registry accepts only RSA and DSA signing keys.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A generated key: its keyring, full fingerprint, the 16-hex-digit key ID that Terraform prints, and
/// the ASCII-armored public key that the registry's download response carries.
pub struct GpgKey {
    pub home: PathBuf,
    pub fingerprint: String,
    pub key_id: String,
    pub armor: String,
}

fn gpg(home: &Path) -> Command {
    let mut cmd = Command::new("gpg");
    cmd.env("GNUPGHOME", home).arg("--batch").arg("--no-tty");
    cmd
}

fn run(mut cmd: Command) -> String {
    let out = cmd.output().expect("gpg runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

impl GpgKey {
    /// Creates `home` (mode 0700) and a signing-only RSA 2048 key for `uid` in it, valid one day.
    pub fn generate(home: &Path, uid: &str) -> GpgKey {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(home).unwrap();
        std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700)).unwrap();
        let mut gen = gpg(home);
        gen.args(["--pinentry-mode", "loopback", "--passphrase", ""])
            .args(["--quick-gen-key", uid, "rsa2048", "sign", "1d"]);
        run(gen);
        let mut list = gpg(home);
        list.args(["--with-colons", "--list-secret-keys"]);
        let colons = run(list);
        let fingerprint = colons
            .lines()
            .find_map(|l| l.strip_prefix("fpr:::::::::"))
            .map(|rest| rest.trim_end_matches(':').to_string())
            .expect("a fingerprint line");
        let key_id = fingerprint[fingerprint.len() - 16..].to_string();
        let mut export = gpg(home);
        export.args(["--armor", "--export", &fingerprint]);
        let armor = run(export);
        GpgKey {
            home: home.to_path_buf(),
            fingerprint,
            key_id,
            armor,
        }
    }

    /// Writes a binary detached signature of `file` to `sig`.
    pub fn detach_sign(&self, file: &Path, sig: &Path) {
        let mut cmd = gpg(&self.home);
        cmd.args(["--yes", "--local-user", &self.fingerprint, "--output"])
            .arg(sig)
            .arg("--detach-sign")
            .arg(file);
        run(cmd);
    }

    /// Whether `sig` is a good signature of `file` by a key in this keyring.
    pub fn verifies(&self, file: &Path, sig: &Path) -> bool {
        gpg(&self.home)
            .arg("--verify")
            .arg(sig)
            .arg(file)
            .output()
            .expect("gpg runs")
            .status
            .success()
    }

    /// Stops the gpg-agent that key generation and signing started for this keyring.
    pub fn stop_agent(&self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.home)
            .args(["--kill", "gpg-agent"])
            .status();
    }
}
