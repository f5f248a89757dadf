//! The system extensions a node runs: COSI `ExtensionStatuses.runtime.talos.dev` (namespace `runtime`,
//! non-sensitive), one per extension layer of the installed image, id the layer's index
//! (internal/app/machined/pkg/controllers/runtime/extension_status.go@v1.12.11: the layer image `<n>.sqsh` without
//! its suffix). An image built by the Image Factory also carries the virtual extension `schematic` whose version is
//! the schematic ID (siderolabs/image-factory `internal/artifacts/schematic.go@v1.5.0`).
//!
//! The spec has no `.proto` file upstream: it is `extensions.Layer` registered with protoenc field numbers
//! (pkg/machinery/resources/runtime/extension_status.go, pkg/machinery/extensions/config.go and metadata.go
//! @v1.12.11, the same at v1.11.6 and v1.13.9); the messages below carry those numbers.

use super::{ClientError, TalosClient};
use crate::proto::cosi::resource::{state_client::StateClient, ListRequest};
use futures::StreamExt;
use prost::Message;

/// Resource type of ExtensionStatus.
pub const EXTENSION_STATUS_TYPE: &str = "ExtensionStatuses.runtime.talos.dev";

/// The name of the Image Factory's virtual extension that names the schematic.
pub const SCHEMATIC_EXTENSION: &str = "schematic";

/// `extensions.Layer`: the squashfs image name and the extension's metadata.
#[derive(Clone, PartialEq, Message)]
pub struct ExtensionStatusSpec {
    /// Layer image file name, e.g. `0.sqsh`.
    #[prost(string, tag = "1")]
    pub image: String,
    /// The extension's manifest metadata.
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<ExtensionMetadata>,
}

/// `extensions.Metadata`.
#[derive(Clone, PartialEq, Message)]
pub struct ExtensionMetadata {
    /// Extension name, e.g. `iscsi-tools` (no organization prefix).
    #[prost(string, tag = "1")]
    pub name: String,
    /// Extension version.
    #[prost(string, tag = "2")]
    pub version: String,
    /// Author.
    #[prost(string, tag = "3")]
    pub author: String,
    /// Description.
    #[prost(string, tag = "4")]
    pub description: String,
    /// Talos versions the extension supports.
    #[prost(message, optional, tag = "5")]
    pub compatibility: Option<ExtensionCompatibility>,
    /// Free-form extra information (the schematic's YAML for the `schematic` extension).
    #[prost(string, tag = "6")]
    pub extra_info: String,
}

/// `extensions.Compatibility`.
#[derive(Clone, PartialEq, Message)]
pub struct ExtensionCompatibility {
    /// The Talos constraint.
    #[prost(message, optional, tag = "1")]
    pub talos: Option<ExtensionConstraint>,
}

/// `extensions.Constraint`.
#[derive(Clone, PartialEq, Message)]
pub struct ExtensionConstraint {
    /// A semver constraint, e.g. `>= v1.12.0`.
    #[prost(string, tag = "1")]
    pub version: String,
}

/// One installed extension, as `talosctl get extensions` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledExtension {
    /// Resource id (the layer index).
    pub id: String,
    /// Extension name (`iscsi-tools`, or `schematic`).
    pub name: String,
    /// Version (the schematic ID for `schematic`).
    pub version: String,
}

impl TalosClient {
    /// The node's ExtensionStatus resources, in the order the node lists them.
    ///
    /// # Errors
    /// [`ClientError`]; [`ClientError::Reply`] when a spec does not decode.
    pub async fn extensions(&self) -> Result<Vec<InstalledExtension>, ClientError> {
        const CALL: &str = "COSI.List";
        let request = ListRequest {
            namespace: "runtime".into(),
            r#type: EXTENSION_STATUS_TYPE.into(),
            options: None,
        };
        let mut cosi = StateClient::new(self.channel.clone());
        let mut stream = self.call(CALL, cosi.list(request)).await?;
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            let item = item.map_err(|status| ClientError::Status {
                call: CALL,
                addr: self.addr.clone(),
                code: status.code(),
                message: status.message().to_string(),
            })?;
            let Some(resource) = item.resource else {
                continue;
            };
            let id = resource.metadata.map(|m| m.id).unwrap_or_default();
            let spec = resource.spec.map(|s| s.proto_spec).unwrap_or_default();
            let spec =
                ExtensionStatusSpec::decode(spec.as_slice()).map_err(|e| ClientError::Reply {
                    call: CALL,
                    addr: self.addr.clone(),
                    reason: format!("ExtensionStatus {id}: {e}"),
                })?;
            let metadata = spec.metadata.unwrap_or_default();
            out.push(InstalledExtension {
                id,
                name: metadata.name,
                version: metadata.version,
            });
        }
        Ok(out)
    }
}
