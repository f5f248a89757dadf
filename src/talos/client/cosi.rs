//! COSI State reads (`cosi.resource.State/Get`, cosi-project/runtime `api/v1alpha1/state.proto`), as Talos's apid
//! and, up to 1.12, its maintenance service serve them (internal/app/maintenance/server.go@v1.12.11 registers the
//! State service behind `resources.AccessPolicy`: read-only, sensitive types for `os:admin` only, so a client
//! without a certificate reads the non-sensitive ones, such as MachineStatus and Version, in maintenance mode).

use super::{ClientError, TalosClient};
use crate::proto::cosi::resource::{state_client::StateClient, GetRequest, Resource};
use crate::proto::talos::resource::config::MachineConfigSpec;
use crate::proto::talos::resource::definitions::enums::RuntimeMachineStage;
use crate::proto::talos::resource::definitions::runtime::{MachineStatusSpec, VersionSpec};
use prost::Message;

/// The annotation Talos sets on a MachineConfig resource whose YAML spec is the config as one YAML string
/// (pkg/machinery/resources/config/machine_config.go@v1.12.11, `NewMachineConfigWithID`).
const YAML_SPEC_ANNOTATION: &str = "talos.dev/yaml-spec";

/// A node's stage, from the `MachineStatuses.runtime.talos.dev/machine` resource (Talos `runtime.MachineStage`,
/// pkg/machinery/resources/runtime/machinestage.go).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineStage {
    /// Unknown or not reported.
    Unknown,
    /// Booting.
    Booting,
    /// Installing to disk.
    Installing,
    /// Maintenance mode: waiting for a machine config.
    Maintenance,
    /// Running with a config.
    Running,
    /// Rebooting.
    Rebooting,
    /// Shutting down.
    ShuttingDown,
    /// Resetting.
    Resetting,
    /// Upgrading.
    Upgrading,
}

impl From<i32> for MachineStage {
    fn from(value: i32) -> Self {
        match RuntimeMachineStage::try_from(value) {
            Ok(RuntimeMachineStage::MachineStageBooting) => MachineStage::Booting,
            Ok(RuntimeMachineStage::MachineStageInstalling) => MachineStage::Installing,
            Ok(RuntimeMachineStage::MachineStageMaintenance) => MachineStage::Maintenance,
            Ok(RuntimeMachineStage::MachineStageRunning) => MachineStage::Running,
            Ok(RuntimeMachineStage::MachineStageRebooting) => MachineStage::Rebooting,
            Ok(RuntimeMachineStage::MachineStageShuttingDown) => MachineStage::ShuttingDown,
            Ok(RuntimeMachineStage::MachineStageResetting) => MachineStage::Resetting,
            Ok(RuntimeMachineStage::MachineStageUpgrading) => MachineStage::Upgrading,
            _ => MachineStage::Unknown,
        }
    }
}

/// The machine config text a MachineConfig resource carries, read as talosctl reads it
/// (cmd/talosctl/cmd/talos/patch.go@v1.13.9 `extractMachineConfigBody`, and the registered protobuf type of
/// pkg/machinery/resources/config/machine_config.go):
/// - `proto_spec` set: the `MachineConfigSpec.yaml_marshalled` bytes, the config byte for byte as submitted;
/// - else, with the `talos.dev/yaml-spec` annotation: `yaml_spec` is one YAML string (a block scalar) holding the
///   config;
/// - else (Talos versions that marshaled the spec as a YAML document): `yaml_spec` itself.
///
/// `None` for a resource without a spec.
///
/// # Errors
/// A message (never quoting the config, which holds secrets) when the spec cannot be decoded.
pub fn machine_config_body(resource: &Resource) -> Result<Option<String>, String> {
    let Some(spec) = resource.spec.as_ref() else {
        return Ok(None);
    };
    if !spec.proto_spec.is_empty() {
        let decoded = MachineConfigSpec::decode(spec.proto_spec.as_slice())
            .map_err(|_| "the MachineConfig protobuf spec does not decode".to_string())?;
        return String::from_utf8(decoded.yaml_marshalled)
            .map(Some)
            .map_err(|_| "the MachineConfig spec is not UTF-8".to_string());
    }
    let annotated = resource
        .metadata
        .as_ref()
        .is_some_and(|m| m.annotations.contains_key(YAML_SPEC_ANNOTATION));
    if annotated {
        return match crate::yaml::from_str::<serde_json::Value>(&spec.yaml_spec) {
            Ok(serde_json::Value::String(body)) => Ok(Some(body)),
            Ok(_) => Err("the MachineConfig YAML spec is not a YAML string".to_string()),
            Err(e) => Err(format!(
                "the MachineConfig YAML spec does not parse (at {})",
                e.location()
                    .map(|l| format!("line {}, column {}", l.line(), l.column()))
                    .unwrap_or_else(|| "an unknown place".into())
            )),
        };
    }
    Ok(Some(spec.yaml_spec.clone()))
}

impl TalosClient {
    /// COSI `State.Get` of one resource; `None` when the node answers NotFound.
    ///
    /// # Errors
    /// [`ClientError`] (PermissionDenied for a sensitive type without `os:admin`).
    async fn cosi_get(
        &self,
        namespace: &str,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<Resource>, ClientError> {
        const CALL: &str = "COSI.Get";
        let request = GetRequest {
            namespace: namespace.into(),
            r#type: resource_type.into(),
            id: id.into(),
            options: None,
        };
        let mut cosi =
            StateClient::new(self.channel.clone()).max_decoding_message_size(64 * 1024 * 1024);
        match self.call(CALL, cosi.get(request)).await {
            Ok(reply) => Ok(reply.resource),
            Err(e) if e.code() == Some(tonic::Code::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The machine config the node runs: the MachineConfig resource (namespace `config`, type
    /// `MachineConfigs.config.talos.dev`, id `v1alpha1`, sensitive: needs `os:admin`) read as
    /// [`machine_config_body`] reads it. `None` when the node has no config.
    ///
    /// # Errors
    /// [`ClientError`]; [`ClientError::Reply`] when the spec does not decode.
    pub async fn machine_config(&self) -> Result<Option<String>, ClientError> {
        let Some(resource) = self
            .cosi_get("config", "MachineConfigs.config.talos.dev", "v1alpha1")
            .await?
        else {
            return Ok(None);
        };
        machine_config_body(&resource).map_err(|reason| ClientError::Reply {
            call: "COSI.Get",
            addr: self.addr.clone(),
            reason,
        })
    }

    /// The node's stage: `MachineStatuses.runtime.talos.dev/machine` (namespace `runtime`, non-sensitive: readable
    /// in maintenance mode on every supported version).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn machine_stage(&self) -> Result<MachineStage, ClientError> {
        let resource = self
            .cosi_get("runtime", "MachineStatuses.runtime.talos.dev", "machine")
            .await?;
        let spec = resource
            .and_then(|r| r.spec)
            .map(|s| MachineStatusSpec::decode(s.proto_spec.as_slice()).unwrap_or_default())
            .unwrap_or_default();
        Ok(MachineStage::from(spec.stage))
    }

    /// The Talos version tag from `Versions.runtime.talos.dev/version` (namespace `runtime`, non-sensitive). Unlike
    /// the `Version` RPC, which Talos up to 1.12 answers in maintenance mode only on SideroLink
    /// (internal/app/maintenance/server.go@v1.12.11 `assertAdminRole`), this resource is readable without a client
    /// certificate. `None` when the node does not have it or reports an empty version.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn version_resource(&self) -> Result<Option<String>, ClientError> {
        let resource = self
            .cosi_get("runtime", "Versions.runtime.talos.dev", "version")
            .await?;
        Ok(resource
            .and_then(|r| r.spec)
            .and_then(|s| VersionSpec::decode(s.proto_spec.as_slice()).ok())
            .map(|v| v.version)
            .filter(|v| !v.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::cosi::resource::{Metadata, Spec};

    const BODY: &str = "version: v1alpha1\nmachine:\n  type: worker\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nhostname: w1\n";

    fn resource(proto_spec: Vec<u8>, yaml_spec: &str, annotated: bool) -> Resource {
        let mut metadata = Metadata::default();
        if annotated {
            metadata
                .annotations
                .insert(YAML_SPEC_ANNOTATION.into(), "1".into());
        }
        Resource {
            metadata: Some(metadata),
            spec: Some(Spec {
                proto_spec,
                yaml_spec: yaml_spec.into(),
            }),
        }
    }

    #[test]
    fn proto_spec_wins_and_keeps_every_document() {
        let proto = MachineConfigSpec {
            yaml_marshalled: BODY.as_bytes().to_vec(),
        }
        .encode_to_vec();
        let r = resource(proto, "ignored: true\n", true);
        assert_eq!(machine_config_body(&r).unwrap().as_deref(), Some(BODY));
    }

    #[test]
    fn annotated_yaml_spec_is_a_block_scalar_string() {
        // What cosi-project/runtime's server writes for a spec whose MarshalYAML returns a string (yaml.v3).
        let yaml_spec = format!(
            "|\n{}",
            BODY.lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        );
        let r = resource(Vec::new(), &yaml_spec, true);
        assert_eq!(machine_config_body(&r).unwrap().as_deref(), Some(BODY));
    }

    #[test]
    fn unannotated_yaml_spec_is_the_document() {
        let r = resource(Vec::new(), BODY, false);
        assert_eq!(machine_config_body(&r).unwrap().as_deref(), Some(BODY));
    }

    #[test]
    fn broken_specs_say_so_without_quoting_the_config() {
        let r = resource(vec![0xff, 0xff], "", true);
        let e = machine_config_body(&r).unwrap_err();
        assert!(e.contains("does not decode"), "{e}");
        let r = resource(Vec::new(), "key: [unclosed secret-value", true);
        let e = machine_config_body(&r).unwrap_err();
        assert!(!e.contains("secret-value"), "{e}");
    }
}
