//! Talos Image Factory schematics: the ID and the installer image the factory serves for a set of official system
//! extensions and extra kernel arguments, computed offline.
//!
//! The factory's ID is the SHA-256 (hex) of the schematic's canonical YAML: `Schematic.Marshal()` then `ID()` in
//! siderolabs/image-factory `pkg/schematic/schematic.go@v1.5.0`, which marshals with `go.yaml.in/yaml/v4`'s
//! legacy `Marshal` (v3 defaults: 4-space indent, non-compact sequences, unlimited line width; yaml/go-yaml
//! `yaml.go@v4.0.0-rc.6`). Only the fields Vixens sets are written, in the struct's field order:
//! `customization.extraKernelArgs`, then `customization.systemExtensions.officialExtensions`; an empty
//! schematic is `customization: {}` (the struct field has no `omitempty`). The factory's UI sorts the
//! extensions it submits (`internal/frontend/http/ui.go@v1.5.0`, `ToSchematic`); so does [`Schematic::new`],
//! so a set of extensions has the ID the UI shows for it.
//!
//! Every value is written as a plain YAML scalar; [`Schematic::new`] refuses a value the Go emitter would quote
//! (so no ID is ever computed from a body the factory would write differently).

use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// The public Image Factory.
pub const DEFAULT_FACTORY: &str = "https://factory.talos.dev";

/// The ID of the schematic without customization (image-factory `docs/api.md@v1.5.0`, "Well-known schematic IDs").
pub const EMPTY_SCHEMATIC_ID: &str =
    "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba";

/// A value the offline computation refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchematicError {
    /// Not `<organization>/<name>` in lowercase letters, digits, `.`, `_` and `-`.
    #[error("{0:?} is not an official extension name (expected e.g. \"siderolabs/iscsi-tools\")")]
    ExtensionName(String),
    /// A kernel argument outside the plain characters, or one YAML would read as a non-string.
    #[error(
        "kernel argument {0:?} is not supported: use letters, digits and . _ , : = / + - (no spaces or \
         quotes), start with a letter or digit (or `-` and a letter to remove a default argument), and not \
         a bare number, `true`/`false`/`null`/`yes`/`no`/`on`/`off`"
    )]
    KernelArg(String),
}

/// Official system extensions plus extra kernel arguments: the customizations Vixens puts in a schematic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schematic {
    /// Extra kernel arguments, in the order given (order matters on a kernel command line).
    pub extra_kernel_args: Vec<String>,
    /// Official extension names, sorted and without duplicates.
    pub official_extensions: Vec<String>,
}

impl Schematic {
    /// Builds a schematic: extensions sorted and deduplicated, kernel arguments kept in order.
    ///
    /// # Errors
    /// [`SchematicError`] for the first extension name or kernel argument that is refused.
    pub fn new<E, A>(extensions: E, kernel_args: A) -> Result<Schematic, SchematicError>
    where
        E: IntoIterator,
        E::Item: Into<String>,
        A: IntoIterator,
        A::Item: Into<String>,
    {
        let mut official_extensions = Vec::new();
        for e in extensions {
            let e: String = e.into();
            if !is_extension_name(&e) {
                return Err(SchematicError::ExtensionName(e));
            }
            official_extensions.push(e);
        }
        official_extensions.sort();
        official_extensions.dedup();
        let mut extra_kernel_args = Vec::new();
        for a in kernel_args {
            let a: String = a.into();
            if !is_plain_string(&a) {
                return Err(SchematicError::KernelArg(a));
            }
            extra_kernel_args.push(a);
        }
        Ok(Schematic {
            extra_kernel_args,
            official_extensions,
        })
    }

    /// Whether the schematic customizes nothing (its ID is [`EMPTY_SCHEMATIC_ID`]).
    pub fn is_empty(&self) -> bool {
        self.extra_kernel_args.is_empty() && self.official_extensions.is_empty()
    }

    /// The canonical YAML body, byte for byte as the factory marshals it (and answers it on `POST /schematics`).
    pub fn canonical_yaml(&self) -> String {
        if self.is_empty() {
            return "customization: {}\n".to_string();
        }
        let mut out = String::from("customization:\n");
        if !self.extra_kernel_args.is_empty() {
            out.push_str("    extraKernelArgs:\n");
            for a in &self.extra_kernel_args {
                let _ = writeln!(out, "        - {a}");
            }
        }
        if !self.official_extensions.is_empty() {
            out.push_str("    systemExtensions:\n        officialExtensions:\n");
            for e in &self.official_extensions {
                let _ = writeln!(out, "            - {e}");
            }
        }
        out
    }

    /// The schematic ID: lowercase hex SHA-256 of [`Schematic::canonical_yaml`].
    pub fn id(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_yaml().as_bytes()))
    }
}

/// The installer image the factory at `factory` (a URL such as [`DEFAULT_FACTORY`]; its host\[:port\] names the
/// registry) serves for schematic `id` and Talos release `version` (`v1.13.9`), for bare metal.
///
/// From Talos 1.10 the factory names it `<host>/metal-installer/<id>:<version>` (the unified installer,
/// `quirks.SupportsUnifiedInstaller` in siderolabs/talos `pkg/machinery/imager/quirks/quirks.go@v1.12.11`, used
/// by image-factory `internal/frontend/http/ui.go@v1.5.0`); before, `<host>/installer/<id>:<version>`, which the
/// factory still serves as the metal image (`registry.go@v1.5.0`, `getRequestedImage`). Every release Vixens
/// supports (1.11 to 1.13) takes the `metal-installer` name.
pub fn installer_image(factory: &str, id: &str, version: &str) -> String {
    let host = registry_host(factory);
    let repo = if unified_installer(version) {
        "metal-installer"
    } else {
        "installer"
    };
    format!("{host}/{repo}/{id}:{version}")
}

/// The registry host of a factory URL: scheme and trailing slashes dropped (`https://factory.talos.dev/` ->
/// `factory.talos.dev`).
pub fn registry_host(factory: &str) -> &str {
    let rest = factory.split_once("://").map_or(factory, |(_, rest)| rest);
    rest.trim_end_matches('/')
}

/// The schematic ID of a factory installer image reference (`<host>/[<platform>-]installer[-secureboot]/<id>:<tag>`),
/// when it is one.
pub fn schematic_of_image(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let mut parts = without_digest.rsplitn(3, '/');
    let last = parts.next()?;
    let repo = parts.next()?;
    parts.next()?;
    let id = last.split(':').next()?;
    let installer = repo == "installer"
        || repo == "installer-secureboot"
        || repo.ends_with("-installer")
        || repo.ends_with("-installer-secureboot");
    (installer && id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// Talos >= 1.10 (a version that does not parse counts as the newest, as the quirk does).
fn unified_installer(version: &str) -> bool {
    let v = version.trim_start_matches('v');
    let mut parts = v.split(['.', '-', '+']);
    let major = parts.next().and_then(|p| p.parse::<u64>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u64>().ok());
    match (major, minor) {
        (Some(major), Some(minor)) => (major, minor) >= (1, 10),
        _ => true,
    }
}

/// `<org>/<name>`, lowercase alphanumerics, `.`, `_` and `-`, each part starting with a letter or digit.
fn is_extension_name(name: &str) -> bool {
    let part = |p: &str| {
        p.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    };
    matches!(name.split_once('/'), Some((org, ext)) if part(org) && part(ext))
}

/// Whether go-yaml writes `s` as a plain scalar in block context: no character makes the emitter quote it
/// (`analyzeScalar` in `internal/libyaml/emitter.go@v4.0.0-rc.6`: indicators at the start, `: ` / ` #`, a
/// trailing `:`), and it resolves to a string (`resolve`, plus the YAML 1.1 booleans and base-60 numbers that
/// `representer.go` quotes). Conservative: some strings the emitter would still write plain are refused.
fn is_plain_string(s: &str) -> bool {
    let bytes = s.as_bytes();
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._,:=/+-".contains(&b);
    let Some(&first) = bytes.first() else {
        return false;
    };
    if !bytes.iter().all(|&b| allowed(b)) || s.ends_with(':') {
        return false;
    }
    if first.is_ascii_alphabetic() {
        // Letters first resolve to a string unless they spell a boolean or null (YAML 1.1 included).
        const SPECIAL: [&str; 9] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
        return !SPECIAL.contains(&s.to_ascii_lowercase().as_str());
    }
    if first == b'-' {
        // `-name` removes a default argument; `-` and a letter can be neither a number nor a document marker.
        return bytes.get(1).is_some_and(u8::is_ascii_alphabetic);
    }
    // Digits first could be an int, float, timestamp or base-60 number unless `=` or `/` rules that out.
    first.is_ascii_digit() && (s.contains('=') || s.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schematic(exts: &[&str], args: &[&str]) -> Schematic {
        Schematic::new(exts.iter().copied(), args.iter().copied()).expect("valid schematic")
    }

    /// The vectors of image-factory `pkg/schematic/schematic_test.go@v1.5.0` (`TestID`) that use the fields
    /// Vixens sets.
    #[test]
    fn upstream_test_vectors() {
        assert_eq!(schematic(&[], &[]).id(), EMPTY_SCHEMATIC_ID);
        assert_eq!(
            schematic(&[], &["noapic", "nolapic"]).id(),
            "9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c"
        );
    }

    /// IDs the public factory answered for schematics made in its UI, as published by its users (and shown by
    /// `talosctl get extensions` as the `schematic` extension's version): iscsi-tools alone (what the
    /// environments install), iscsi-tools + util-linux-tools (Longhorn's pair), and qemu-guest-agent.
    #[test]
    fn published_factory_ids() {
        assert_eq!(
            schematic(&["siderolabs/iscsi-tools"], &[]).id(),
            "c9078f9419961640c712a8bf2bb9174933dfcf1da383fd8ea2b7dc21493f8bac"
        );
        let storage = schematic(
            &["siderolabs/util-linux-tools", "siderolabs/iscsi-tools"],
            &[],
        );
        assert_eq!(
            storage.id(),
            "613e1592b2da41ae5e265e8789429f22e121aab91cb4deb6bc3c0b6262961245"
        );
        assert_eq!(
            schematic(&["siderolabs/qemu-guest-agent"], &[]).id(),
            "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"
        );
    }

    #[test]
    fn canonical_yaml_shape() {
        assert_eq!(schematic(&[], &[]).canonical_yaml(), "customization: {}\n");
        assert_eq!(
            schematic(
                &["siderolabs/iscsi-tools", "siderolabs/iscsi-tools"],
                &["console=ttyS0,115200", "-talos.halt_if_installed"]
            )
            .canonical_yaml(),
            "customization:\n    extraKernelArgs:\n        - console=ttyS0,115200\n        - \
             -talos.halt_if_installed\n    systemExtensions:\n        officialExtensions:\n            - \
             siderolabs/iscsi-tools\n"
        );
    }

    #[test]
    fn installer_names_per_release() {
        let id = EMPTY_SCHEMATIC_ID;
        for v in [
            "v1.11.6",
            "v1.12.11",
            "v1.13.9",
            "v1.10.0",
            "v1.13.0-beta.1",
            "latest",
        ] {
            assert_eq!(
                installer_image(DEFAULT_FACTORY, id, v),
                format!("factory.talos.dev/metal-installer/{id}:{v}")
            );
        }
        assert_eq!(
            installer_image("https://factory.talos.dev/", id, "v1.9.5"),
            format!("factory.talos.dev/installer/{id}:v1.9.5")
        );
        assert_eq!(
            installer_image("http://127.0.0.1:8080", id, "v1.12.11"),
            format!("127.0.0.1:8080/metal-installer/{id}:v1.12.11")
        );
    }

    #[test]
    fn schematic_read_back_from_images() {
        let id = EMPTY_SCHEMATIC_ID;
        for image in [
            format!("factory.talos.dev/metal-installer/{id}:v1.13.9"),
            format!("factory.talos.dev/installer/{id}:v1.8.3"),
            format!("factory.talos.dev/metal-installer-secureboot/{id}:v1.13.9"),
            format!("127.0.0.1:8080/nocloud-installer/{id}:v1.11.1@sha256:00"),
        ] {
            assert_eq!(schematic_of_image(&image), Some(id), "{image}");
        }
        for image in [
            "ghcr.io/siderolabs/installer:v1.13.9",
            "factory.talos.dev/metal-installer/abc:v1.13.9",
            "factory.talos.dev/image/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba:v1",
        ] {
            assert_eq!(schematic_of_image(image), None, "{image}");
        }
    }

    #[test]
    fn refuses_what_yaml_would_quote_or_retype() {
        for bad in [
            "", "off", "True", "1", "1e3", "0x1f", "12:30", "-", "--x", "-1", ":x", "x:", "a b",
            "a'b", "#x", "*x", "é", ".inf",
        ] {
            assert_eq!(
                Schematic::new(Vec::<String>::new(), [bad]),
                Err(SchematicError::KernelArg(bad.into())),
                "{bad:?}"
            );
        }
        for good in [
            "quiet",
            "net.ifnames=0",
            "ip=192.168.1.2::192.168.1.1:255.255.255.0::eth0:off",
            "console=ttyS0,115200",
            "-talos.halt_if_installed",
            "i915.enable_guc=3",
            "8250.nr_uarts=4",
        ] {
            assert!(
                Schematic::new(Vec::<String>::new(), [good]).is_ok(),
                "{good}"
            );
        }
        for bad in [
            "iscsi-tools",
            "Siderolabs/x",
            "siderolabs/",
            "a/b/c",
            "siderolabs/ x",
        ] {
            assert_eq!(
                Schematic::new([bad], Vec::<String>::new()),
                Err(SchematicError::ExtensionName(bad.into()))
            );
        }
    }
}
