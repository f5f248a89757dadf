//! An Image Factory stand-in on loopback (topology `image_factory: 127.0.x.y:port`): the schematics API the
//! provider registers schematics with, and the lookup emulated nodes make when they pull an installer image.
//!
//! Follows siderolabs/image-factory at v1.5.0:
//! - `POST /schematics` (`internal/frontend/http/configuration.go`, `handleSchematicCreate`): the body is YAML
//!   (JSON is YAML), decoded with unknown fields refused (`pkg/schematic/schematic.go`, `Unmarshal`); the answer is
//!   `201 Created` with `{"id", "schematic"}`, `schematic` the canonical body; a body that does not decode answers
//!   400 (an `InvalidErrorTag` error). The ID is the SHA-256 (hex) of the canonical body, `Marshal()`: go-yaml's
//!   legacy `Marshal` of the struct, fields in declaration order, `omitempty` ones left out when zero,
//!   `customization` always written (`{}` when empty), 4-space indentation.
//! - `GET /schematics/{id}`: the canonical body (`application/yaml`), 404 when unknown.
//! - An installer image `<this host>/[<platform>-]installer[-secureboot]/<id>:<tag>` exists only for a stored
//!   schematic (`registry.go`, `handleManifest` looks the schematic up first): pulling one of another schematic
//!   fails as Talos reports an image it cannot pull.
//!
//! This is its own implementation (typed decode with serde, a small emitter), not the provider's
//! `talos::schematic`, so that the two are checked against each other and against upstream's test vectors. It
//! refuses (400, saying so) the fields it does not model (`owner`, `overlay.options`, `embeddedMachineConfiguration`,
//! `bootloader`) and any string it could not write exactly as go-yaml does. Like the factory's storage, the
//! schematics outlive a restart: with `--state-dir` they are saved in `factory-state.json` (canonical bodies).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// A stored schematic: what a node installing its image gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSchematic {
    /// The canonical body.
    pub canonical: String,
    /// `customization.systemExtensions.officialExtensions`, in the schematic's order.
    pub official_extensions: Vec<String>,
}

/// The schematics registered so far, and the address the HTTP side listens on (when it does).
#[derive(Debug, Default)]
pub struct ImageFactory {
    host: Option<String>,
    schematics: Mutex<BTreeMap<String, StoredSchematic>>,
    state_file: Option<std::path::PathBuf>,
}

/// File name of the saved schematics under `--state-dir`.
const STATE_FILE: &str = "factory-state.json";

/// What a node gets from pulling an installer image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pull {
    /// Not an image of this factory (another registry, or not an installer): nothing known about extensions
    /// beyond the schematic ID when the name carries one.
    Foreign,
    /// An installer of a schematic this factory stores.
    Installer {
        /// The schematic ID.
        id: String,
        /// Its schematic.
        schematic: StoredSchematic,
    },
}

impl ImageFactory {
    /// A factory whose images are named after `addr` (`None`: no HTTP side, every image is foreign).
    pub fn new(addr: Option<SocketAddr>) -> ImageFactory {
        ImageFactory {
            host: addr.map(|a| a.to_string()),
            schematics: Mutex::new(BTreeMap::new()),
            state_file: None,
        }
    }

    /// The same, saving its schematics under `dir` and loading those saved there before (a file that does not
    /// parse is ignored, with a warning).
    pub fn with_state(addr: Option<SocketAddr>, dir: &std::path::Path) -> ImageFactory {
        let mut factory = ImageFactory::new(addr);
        let file = dir.join(STATE_FILE);
        if let Ok(text) = std::fs::read_to_string(&file) {
            match serde_json::from_str::<Vec<String>>(&text) {
                Ok(bodies) => {
                    for body in bodies {
                        let _ = factory.create(body.as_bytes());
                    }
                }
                Err(e) => tracing::warn!(error = %e, "ignoring unreadable image factory state"),
            }
        }
        factory.state_file = Some(file);
        factory
    }

    fn save(&self) {
        let Some(file) = &self.state_file else { return };
        let bodies: Vec<String> = self.lock().values().map(|s| s.canonical.clone()).collect();
        let result = serde_json::to_vec_pretty(&bodies)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(file, bytes));
        if let Err(e) = result {
            tracing::error!(error = %e, "saving image factory state");
        }
    }

    /// Decodes `body`, stores it under its ID; returns (ID, canonical body).
    ///
    /// # Errors
    /// Why the body is refused (answered as 400).
    pub fn create(&self, body: &[u8]) -> Result<(String, String), String> {
        let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
        let schematic: Schematic = if text.trim().is_empty() {
            Schematic::default()
        } else {
            crate::yaml::from_str(text).map_err(|e| e.to_string())?
        };
        let canonical = schematic.marshal()?;
        let id = hex::encode(Sha256::digest(canonical.as_bytes()));
        let stored = StoredSchematic {
            canonical: canonical.clone(),
            official_extensions: schematic
                .customization
                .system_extensions
                .official_extensions,
        };
        let new = self.lock().insert(id.clone(), stored).is_none();
        if new {
            self.save();
        }
        Ok((id, canonical))
    }

    /// The schematic stored under `id`.
    pub fn get(&self, id: &str) -> Option<StoredSchematic> {
        self.lock().get(id).cloned()
    }

    /// Resolves an installer image reference as a node pulling it would.
    ///
    /// # Errors
    /// The image is this factory's but its schematic is not stored: the pull fails (message as containerd's).
    pub fn pull(&self, image: &str) -> Result<Pull, String> {
        let Some(id) = crate::talos::schematic::schematic_of_image(image) else {
            return Ok(Pull::Foreign);
        };
        if let Some(schematic) = self.get(id) {
            return Ok(Pull::Installer {
                id: id.to_string(),
                schematic,
            });
        }
        let ours = self
            .host
            .as_deref()
            .is_some_and(|h| image.starts_with(&format!("{h}/")));
        if ours {
            Err(format!(
                "failed to pull image {image:?}: {image}: not found (schematic {id} is unknown to the image factory)"
            ))
        } else {
            Ok(Pull::Foreign)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, StoredSchematic>> {
        self.schematics.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn create(State(factory): State<Arc<ImageFactory>>, body: Bytes) -> Response {
    match factory.create(&body) {
        Ok((id, canonical)) => (
            StatusCode::CREATED,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({ "id": id, "schematic": canonical }).to_string() + "\n",
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn fetch(State(factory): State<Arc<ImageFactory>>, Path(id): Path<String>) -> Response {
    match factory.get(&id) {
        Some(s) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/yaml")],
            s.canonical,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "schematic not found").into_response(),
    }
}

/// Serves the schematics API on `addr` (loopback only) until the task is aborted.
///
/// # Errors
/// A non-loopback address, or the bind failing.
pub async fn serve(
    factory: Arc<ImageFactory>,
    addr: SocketAddr,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("image factory address {addr} is not loopback"),
        ));
    }
    let app = Router::new()
        .route("/schematics", post(create))
        .route("/schematics/{id}", get(fetch))
        .with_state(factory);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    Ok(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }))
}

/// The schematic as image-factory `pkg/schematic/schematic.go@v1.5.0` declares it, limited to what is modelled.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Schematic {
    #[serde(default)]
    overlay: Overlay,
    #[serde(default)]
    customization: Customization,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Overlay {
    #[serde(default)]
    image: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Customization {
    #[serde(default)]
    extra_kernel_args: Vec<String>,
    #[serde(default)]
    meta: Vec<MetaValue>,
    #[serde(default)]
    system_extensions: SystemExtensions,
    #[serde(default)]
    secureboot: SecureBoot,
    #[serde(default)]
    disk_image: DiskImage,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetaValue {
    key: u8,
    value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SystemExtensions {
    #[serde(default)]
    official_extensions: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SecureBoot {
    #[serde(default)]
    enroll_keys: String,
    #[serde(default)]
    include_well_known_certificates: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DiskImage {
    #[serde(default)]
    sector_size: u64,
}

/// A YAML block being written: go-yaml's layout with 4-space indentation and indented sequences.
struct Out {
    text: String,
}

impl Out {
    fn key(&mut self, depth: usize, key: &str) {
        self.text.push_str(&"    ".repeat(depth));
        self.text.push_str(key);
        self.text.push(':');
    }

    fn scalar(&mut self, depth: usize, key: &str, value: &str) {
        self.key(depth, key);
        self.text.push(' ');
        self.text.push_str(value);
        self.text.push('\n');
    }

    fn strings(&mut self, depth: usize, key: &str, items: &[String]) -> Result<(), String> {
        self.key(depth, key);
        self.text.push('\n');
        for item in items {
            self.text.push_str(&"    ".repeat(depth + 1));
            self.text.push_str("- ");
            self.text.push_str(&string(item)?);
            self.text.push('\n');
        }
        Ok(())
    }
}

impl Schematic {
    /// The canonical body (see the module doc), or why the emulator cannot write it exactly.
    fn marshal(&self) -> Result<String, String> {
        let mut out = Out {
            text: String::new(),
        };
        let o = &self.overlay;
        if !o.image.is_empty() || !o.name.is_empty() {
            // `image` and `name` have no omitempty: both are written once the overlay is not zero.
            out.key(0, "overlay");
            out.text.push('\n');
            out.scalar(1, "image", &string(&o.image)?);
            out.scalar(1, "name", &string(&o.name)?);
        }
        let c = &self.customization;
        let empty = c.extra_kernel_args.is_empty()
            && c.meta.is_empty()
            && c.system_extensions.official_extensions.is_empty()
            && c.secureboot.enroll_keys.is_empty()
            && !c.secureboot.include_well_known_certificates
            && c.disk_image.sector_size == 0;
        if empty {
            out.text.push_str("customization: {}\n");
            return Ok(out.text);
        }
        out.key(0, "customization");
        out.text.push('\n');
        if !c.extra_kernel_args.is_empty() {
            out.strings(1, "extraKernelArgs", &c.extra_kernel_args)?;
        }
        if !c.meta.is_empty() {
            out.key(1, "meta");
            out.text.push('\n');
            for m in &c.meta {
                out.text.push_str(&format!("        - key: {}\n", m.key));
                out.text
                    .push_str(&format!("          value: {}\n", string(&m.value)?));
            }
        }
        if !c.system_extensions.official_extensions.is_empty() {
            out.key(1, "systemExtensions");
            out.text.push('\n');
            out.strings(
                2,
                "officialExtensions",
                &c.system_extensions.official_extensions,
            )?;
        }
        let sb = &c.secureboot;
        if !sb.enroll_keys.is_empty() || sb.include_well_known_certificates {
            out.key(1, "secureboot");
            out.text.push('\n');
            if !sb.enroll_keys.is_empty() {
                out.scalar(2, "enrollKeys", &string(&sb.enroll_keys)?);
            }
            if sb.include_well_known_certificates {
                out.scalar(2, "includeWellKnownCertificates", "true");
            }
        }
        if c.disk_image.sector_size != 0 {
            out.key(1, "diskImage");
            out.text.push('\n');
            out.scalar(2, "sectorSize", &c.disk_image.sector_size.to_string());
        }
        Ok(out.text)
    }
}

/// A string as go-yaml writes it when the emulator is sure: `""` for the empty string, else plain when it holds
/// only characters that never make the emitter quote (letters, digits, `. _ / = , : + -`, no leading `-` but
/// before a letter, no trailing `:`) and YAML reads it back as the same string (YAML 1.2's core schema, plus
/// the YAML 1.1 booleans and base-60 numbers go-yaml also quotes).
fn string(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Ok("\"\"".into());
    }
    let chars_ok = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._/=,:+-".contains(&b));
    let start_ok = s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        || (s.starts_with('-') && s.as_bytes().get(1).is_some_and(u8::is_ascii_alphabetic));
    let yaml11 = matches!(
        s.to_ascii_lowercase().as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off"
    ) || s
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b':' || b == b'.' || b == b'_');
    let reads_back = crate::yaml::from_str::<serde_json::Value>(s)
        .ok()
        .is_some_and(|v| v.as_str() == Some(s));
    if chars_ok && start_ok && !s.ends_with(':') && !yaml11 && reads_back {
        Ok(s.to_string())
    } else {
        Err(format!(
            "the emulated image factory cannot write {s:?} exactly as go-yaml does; use a plainer value"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(body: &str) -> String {
        ImageFactory::new(None)
            .create(body.as_bytes())
            .expect("accepted")
            .0
    }

    /// image-factory `pkg/schematic/schematic_test.go@v1.5.0`, `TestUnmarshalID`.
    #[test]
    fn upstream_unmarshal_vectors() {
        let empty = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba";
        let args = "9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c";
        let meta = "d308a2a5ee2277bed5fbaa104fcbc8d59122abfa737df987a95b4ca763459a7f";
        let overlay = "ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9";
        let secureboot = "fa8e05f142a851d3ee568eb0a8e5841eaf6b0ebc8df9a63df16ac5ed2c04f3e6";
        for (body, want) in [
            ("{}", empty),
            ("customization: {}", empty),
            (r#"customization: {"extraKernelArgs": []}"#, empty),
            (
                r#"{"customization": {"extraKernelArgs": ["noapic", "nolapic"]}}"#,
                args,
            ),
            (
                r#"{"customization": {"extraKernelArgs": ["noapic", "nolapic"], "systemExtensions": {}}}"#,
                args,
            ),
            (
                r#"{"customization": {"meta": [{"key": 10, "value": "foo"}], "extraKernelArgs": [], "systemExtensions": {}}}"#,
                meta,
            ),
            (
                r#"{"overlay": {"name": "rpi_generic", "image": "siderolabs/sbc-raspberrypi"}}"#,
                overlay,
            ),
            (
                r#"{"overlay": {"name": "rpi_generic", "image": "siderolabs/sbc-raspberrypi"},"customization":{}}"#,
                overlay,
            ),
            (
                r#"{"customization":{"secureboot": {"includeWellKnownCertificates": true}}}"#,
                secureboot,
            ),
            // TestID "4k sector disk image".
            (
                "customization:\n  diskImage:\n    sectorSize: 4096\n",
                "92833e9ddd9bb9e11b2464fa5525429f01866306d52ebd882ee08d7918f6d1ea",
            ),
        ] {
            assert_eq!(id(body), want, "{body}");
        }
    }

    /// The factory keeps the order it is given (only its UI sorts): the public factory's published ID of
    /// iscsi-tools + util-linux-tools is the sorted body's.
    #[test]
    fn order_is_kept() {
        let sorted = "customization:\n  systemExtensions:\n    officialExtensions: [siderolabs/iscsi-tools, siderolabs/util-linux-tools]\n";
        assert_eq!(
            id(sorted),
            "613e1592b2da41ae5e265e8789429f22e121aab91cb4deb6bc3c0b6262961245"
        );
        let reversed = "customization:\n  systemExtensions:\n    officialExtensions: [siderolabs/util-linux-tools, siderolabs/iscsi-tools]\n";
        assert_ne!(id(reversed), id(sorted));
    }

    #[test]
    fn refuses_unknown_fields_and_unsure_strings() {
        let f = ImageFactory::new(None);
        for body in [
            "customization: {unknown: 1}",
            "owner: alice",
            "customization: {extraKernelArgs: ['a b']}",
            "customization: {extraKernelArgs: ['yes']}",
            "[1]",
        ] {
            assert!(f.create(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn pulls() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        let f = ImageFactory::new(Some(addr));
        let (id, _) = f
            .create(b"customization: {systemExtensions: {officialExtensions: [siderolabs/iscsi-tools]}}")
            .expect("stored");
        let Ok(Pull::Installer { schematic, .. }) =
            f.pull(&format!("127.0.0.1:8080/metal-installer/{id}:v1.12.11"))
        else {
            panic!("a stored schematic's installer");
        };
        assert_eq!(schematic.official_extensions, ["siderolabs/iscsi-tools"]);
        let unknown = "0".repeat(64);
        assert!(f
            .pull(&format!(
                "127.0.0.1:8080/metal-installer/{unknown}:v1.12.11"
            ))
            .is_err());
        assert_eq!(
            f.pull(&format!(
                "factory.talos.dev/metal-installer/{unknown}:v1.12.11"
            )),
            Ok(Pull::Foreign)
        );
        assert_eq!(
            f.pull("ghcr.io/siderolabs/installer:v1.12.11"),
            Ok(Pull::Foreign)
        );
    }

    #[test]
    fn schematics_outlive_a_restart_with_a_state_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (id, _) = ImageFactory::with_state(None, dir.path())
            .create(b"customization: {extraKernelArgs: [quiet]}")
            .expect("stored");
        let again = ImageFactory::with_state(None, dir.path());
        assert!(again.get(&id).is_some());
    }
}
