//! The platforms of a release (issue 21) and what each one's executable must be, read from its bytes: ELF,
//! PE32+ or Mach-O headers as their formats define them (System V gABI, Microsoft PE/COFF, Apple's
//! `<mach-o/loader.h>`).

use std::path::Path;
use std::process::Command;

/// Every platform a release publishes (`scripts/release.sh --targets release`).
pub const PUBLISHED: [&str; 5] = [
    "linux_amd64",
    "linux_arm64",
    "darwin_amd64",
    "darwin_arm64",
    "windows_amd64",
];

/// The platforms the fixture releases: `VIXENS_RELEASE_TARGETS` (comma-separated, or `release` for every
/// published platform; the cross toolchains come from scripts/install-cross.sh), else linux_amd64 only, so
/// that CI builds no cross target.
pub fn selected() -> Vec<String> {
    match std::env::var("VIXENS_RELEASE_TARGETS") {
        Ok(list) if list == "release" => PUBLISHED.iter().map(|p| p.to_string()).collect(),
        Ok(list) if !list.is_empty() => list.split(',').map(|p| p.trim().to_string()).collect(),
        _ => vec!["linux_amd64".to_string()],
    }
}

/// The Rust target triple release.sh builds a platform with.
pub fn triple(platform: &str) -> &'static str {
    match platform {
        "linux_amd64" => "x86_64-unknown-linux-gnu",
        "linux_arm64" => "aarch64-unknown-linux-gnu",
        "darwin_amd64" => "x86_64-apple-darwin",
        "darwin_arm64" => "aarch64-apple-darwin",
        "windows_amd64" => "x86_64-pc-windows-gnu",
        other => panic!("no triple known for {other}"),
    }
}

/// The executable's name in the zip: `terraform-provider-vixens_v<ver>`, with `.exe` on Windows (Terraform
/// runs the package's `terraform-provider-<type>*` file, which Windows only starts with that suffix).
pub fn exe_name(platform: &str, version: &str) -> String {
    let name = format!("terraform-provider-vixens_v{version}");
    if platform.starts_with("windows_") {
        format!("{name}.exe")
    } else {
        name
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Asserts that `binary` is a stripped executable for `platform`; `scratch` is a file path it may write.
pub fn check_executable(platform: &str, binary: &[u8], scratch: &Path) {
    std::fs::write(scratch, binary).unwrap();
    match platform.split_once('_').unwrap() {
        ("linux", arch) => {
            assert_eq!(&binary[..4], b"\x7fELF", "{platform}: ELF magic");
            let machine = match arch {
                "amd64" => 0x3e,
                "arm64" => 0xb7,
                _ => panic!("{platform}"),
            };
            assert_eq!(u16_at(binary, 18), machine, "{platform}: e_machine");
            // ET_EXEC, not ET_DYN: linked without PIE (build.rs), so no relocations are applied at each start.
            assert_eq!(
                u16_at(binary, 16),
                2,
                "{platform}: e_type ET_EXEC (non-PIE)"
            );
            let sections = Command::new("readelf")
                .arg("-S")
                .arg(scratch)
                .output()
                .unwrap();
            assert!(sections.status.success());
            assert!(
                !String::from_utf8_lossy(&sections.stdout).contains(".symtab"),
                "{platform}: not stripped"
            );
        }
        ("windows", "amd64") => {
            assert_eq!(&binary[..2], b"MZ", "{platform}: DOS header");
            let pe = u32_at(binary, 0x3c) as usize;
            assert_eq!(&binary[pe..pe + 4], b"PE\0\0", "{platform}: PE signature");
            assert_eq!(u16_at(binary, pe + 4), 0x8664, "{platform}: machine x86-64");
            assert_eq!(u16_at(binary, pe + 24), 0x20b, "{platform}: PE32+");
            assert_eq!(u32_at(binary, pe + 16), 0, "{platform}: COFF symbols left");
        }
        ("darwin", arch) => {
            assert_eq!(u32_at(binary, 0), 0xfeed_facf, "{platform}: 64-bit Mach-O");
            let cpu = match arch {
                "amd64" => 0x0100_0007,
                "arm64" => 0x0100_000c,
                _ => panic!("{platform}"),
            };
            assert_eq!(u32_at(binary, 4), cpu, "{platform}: cputype");
            assert_eq!(u32_at(binary, 12), 2, "{platform}: MH_EXECUTE");
            // macOS kills an arm64 binary whose ad-hoc signature does not cover it as shipped; x86_64 code runs
            // unsigned (a signature, when there is one, must still match).
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let signature = Command::new("python3")
                .arg(root.join("scripts/check-macho-signature.py"))
                .args((arch == "amd64").then_some("--unsigned-ok"))
                .arg(scratch)
                .output()
                .unwrap();
            assert!(
                signature.status.success(),
                "{platform}: {}",
                String::from_utf8_lossy(&signature.stderr)
            );
        }
        _ => panic!("no format known for {platform}"),
    }
}
