//! The COSI `ExtensionStatuses.runtime.talos.dev` resources of an emulated node (namespace `runtime`,
//! non-sensitive): the extension layers of the installer image the system on disk came from, as Talos's
//! ExtensionStatusController lists them (internal/app/machined/pkg/controllers/runtime/extension_status.go@v1.12.11:
//! one resource per layer of `extensions.yaml`, id the layer image name without `.sqsh`).
//!
//! An installer of the Image Factory stand-in ([`crate::emulator::factory`]) carries the schematic's official
//! extensions in order, then the factory's virtual `schematic` extension whose version is the schematic ID and
//! whose extra info is the schematic (siderolabs/image-factory `internal/profile/profile.go@v1.5.0` appends it
//! last; `internal/artifacts/schematic.go@v1.5.0` writes its manifest). The imager extracts extension `j` into
//! directory `j` and compresses it to `j.sqsh` (siderolabs/talos `pkg/imager/imager.go@v1.12.11`). The extensions'
//! own versions live in their images, which the emulator does not have: it reports `emulated`. Any other image
//! (the plain `ghcr.io/siderolabs/installer`, or a factory the emulator does not stand in for) has no extensions.

use prost::Message;

use super::api::Ctx;
use super::cosi::RUNTIME_NAMESPACE;
use crate::emulator::factory::Pull;
use crate::proto::cosi::resource::{Metadata, Resource, Spec};
use crate::talos::client::extensions::{
    ExtensionCompatibility, ExtensionConstraint, ExtensionMetadata, ExtensionStatusSpec,
    EXTENSION_STATUS_TYPE, SCHEMATIC_EXTENSION,
};

/// The node's ExtensionStatus resources (empty before an install).
pub fn extensions(c: &Ctx) -> Vec<Resource> {
    let image = c.node.state().installed_image.clone();
    let Some(Ok(Pull::Installer { id, schematic })) = image.map(|i| c.cluster.factory.pull(&i))
    else {
        return Vec::new();
    };
    let host = c
        .cluster
        .topology
        .image_factory
        .map(|a| format!("http://{a}"))
        .unwrap_or_default();
    let mut layers: Vec<ExtensionMetadata> = schematic
        .official_extensions
        .iter()
        .map(|name| ExtensionMetadata {
            name: name.rsplit('/').next().unwrap_or(name).to_string(),
            version: "emulated".into(),
            author: "Sidero Labs".into(),
            description: format!("{name} (emulated)"),
            compatibility: None,
            extra_info: String::new(),
        })
        .collect();
    layers.push(ExtensionMetadata {
        name: SCHEMATIC_EXTENSION.into(),
        version: id,
        author: format!("Image Factory ({host})"),
        description: "the schematic this image was built from".into(),
        compatibility: Some(ExtensionCompatibility {
            talos: Some(ExtensionConstraint {
                version: ">= 1.0.0".into(),
            }),
        }),
        extra_info: schematic.canonical,
    });
    layers
        .into_iter()
        .enumerate()
        .map(|(j, metadata)| resource(j, metadata))
        .collect()
}

fn resource(index: usize, metadata: ExtensionMetadata) -> Resource {
    // Field order of extensions.Layer and Metadata; scalars double-quoted (go-yaml would write some plain).
    let constraint = metadata
        .compatibility
        .as_ref()
        .and_then(|c| c.talos.as_ref())
        .map(|t| t.version.clone())
        .unwrap_or_default();
    let mut yaml_spec = format!(
        "image: {index}.sqsh\nmetadata:\n    name: {}\n    version: {}\n    author: {}\n    description: {}\n    \
         compatibility:\n        talos:\n            version: {}\n",
        json(&metadata.name),
        json(&metadata.version),
        json(&metadata.author),
        json(&metadata.description),
        json(&constraint)
    );
    if !metadata.extra_info.is_empty() {
        yaml_spec.push_str(&format!("    extraInfo: {}\n", json(&metadata.extra_info)));
    }
    let spec = ExtensionStatusSpec {
        image: format!("{index}.sqsh"),
        metadata: Some(metadata),
    };
    Resource {
        metadata: Some(Metadata {
            namespace: RUNTIME_NAMESPACE.into(),
            r#type: EXTENSION_STATUS_TYPE.into(),
            id: index.to_string(),
            version: "1".into(),
            owner: "runtime.ExtensionStatusController".into(),
            phase: "running".into(),
            ..Default::default()
        }),
        spec: Some(Spec {
            proto_spec: spec.encode_to_vec(),
            yaml_spec,
        }),
    }
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn json(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}
