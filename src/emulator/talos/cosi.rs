//! The COSI State service (`cosi.resource.State`) on `<address>:50000`, registered in maintenance and secure mode
//! as Talos registers it (internal/app/maintenance/server.go@v1.12.11; apid proxies it one-to-one), behind Talos's
//! access filter (internal/app/resources/access.go@v1.12.11: sensitive types need `os:admin`, which maintenance mode
//! never grants), serving `Get` of the resources the emulator models:
//! - MachineStatus (`runtime`, `MachineStatuses.runtime.talos.dev`, id `machine`), following Talos's
//!   MachineStatusController (internal/app/machined/pkg/controllers/runtime/machine_status.go@v1.12.11): in
//!   maintenance mode the stage is `maintenance` and no readiness check applies (ready); once booted the stage is
//!   `running` and the checks `services` (running services not unhealthy; apid, machined, kubelet, and on control
//!   planes etcd and trustd running) and `nodeReady` (the Kubernetes Node registered and Ready) decide readiness,
//!   each failure an unmet condition with Talos's wording. Time sync, network and static pods are always met here;
//! - Version (`runtime`, `Versions.runtime.talos.dev`, id `version`; pkg/machinery/resources/runtime/version.go):
//!   the tag the node runs, non-sensitive, so readable in maintenance mode (where Talos up to 1.12 refuses the
//!   `Version` RPC);
//! - MachineConfig (`config`, `MachineConfigs.config.talos.dev`, id `v1alpha1`; sensitive), encoded as
//!   pkg/machinery/resources/config/machine_config.go@v1.12.11 does: `proto_spec` a `MachineConfigSpec` whose
//!   `yaml_marshalled` holds the config bytes as applied, `yaml_spec` the same text as one YAML string, and the
//!   annotation `talos.dev/yaml-spec`.
//!
//! Resources go out as cosi-project/runtime's server marshals them: `proto_spec` the encoded spec, `yaml_spec` its
//! YAML. Any other resource type answers Unimplemented (the emulator does not model it); another id answers
//! NotFound with COSI's message.

use prost::Message;
use tonic::{Request, Response, Status};

use super::api::{Access, Ctx, NodeApi};
use super::node::Stage;
use super::ops;
use crate::proto::cosi::resource::{
    state_server::State, GetRequest, GetResponse, Metadata, Resource, Spec,
};
use crate::proto::talos::resource::config::MachineConfigSpec;
use crate::proto::talos::resource::definitions::enums::RuntimeMachineStage;
use crate::proto::talos::resource::definitions::runtime::{
    MachineStatusSpec, MachineStatusStatus, UnmetCondition, VersionSpec,
};

/// Namespace of MachineStatus.
pub const RUNTIME_NAMESPACE: &str = "runtime";
/// Resource type of MachineStatus.
pub const MACHINE_STATUS_TYPE: &str = "MachineStatuses.runtime.talos.dev";
/// The id of the single MachineStatus.
pub const MACHINE_STATUS_ID: &str = "machine";
/// Namespace of MachineConfig.
pub const CONFIG_NAMESPACE: &str = "config";
/// Resource type of MachineConfig.
pub const MACHINE_CONFIG_TYPE: &str = "MachineConfigs.config.talos.dev";
/// The id of the MachineConfig in effect.
pub const MACHINE_CONFIG_ID: &str = "v1alpha1";
/// Resource type of the Talos version.
pub const VERSION_TYPE: &str = "Versions.runtime.talos.dev";
/// The id of the single Version resource.
pub const VERSION_ID: &str = "version";

#[tonic::async_trait]
impl State for NodeApi {
    async fn get(&self, req: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let q = req.get_ref().clone();
        // The machine config is a sensitive resource: Talos's COSI access filter lets only os:admin read it.
        let access = if q.r#type == MACHINE_CONFIG_TYPE {
            Access::Admin
        } else {
            Access::Read
        };
        let resource = self
            .route_single(&req, "Get", access, |c| get(c, &q))
            .await?;
        Ok(Response::new(GetResponse {
            resource: Some(resource),
        }))
    }
}

/// COSI Get on the node of `c`.
fn get(c: &Ctx, q: &GetRequest) -> Result<Resource, Status> {
    if q.namespace == CONFIG_NAMESPACE && q.r#type == MACHINE_CONFIG_TYPE {
        if !c.secure {
            // access.go@v1.12.11 `AccessPolicy`: a sensitive type needs os:admin, which maintenance mode never grants.
            return Err(Status::permission_denied("not authorized"));
        }
        return machine_config(c, q);
    }
    if q.namespace == RUNTIME_NAMESPACE && q.r#type == VERSION_TYPE {
        return version_resource(c, q);
    }
    if q.namespace != RUNTIME_NAMESPACE || q.r#type != MACHINE_STATUS_TYPE {
        return Err(Status::unimplemented(format!(
            "the emulator serves only {MACHINE_STATUS_TYPE}, {VERSION_TYPE} and {MACHINE_CONFIG_TYPE} through \
             cosi.resource.State, not {}({}/{})",
            q.r#type, q.namespace, q.id
        )));
    }
    if q.id != MACHINE_STATUS_ID {
        return Err(Status::not_found(format!(
            "resource {}({}/{}@undefined) doesn't exist",
            q.r#type, q.namespace, q.id
        )));
    }
    let spec = machine_status(c)?;
    let (generation, stage) = {
        let st = c.node.state();
        (st.generation, st.stage)
    };
    // The controller rewrites the resource at each boot and stage change: count those.
    let version = generation * 2 + 1 + u64::from(stage == Stage::Running);
    Ok(Resource {
        metadata: Some(Metadata {
            namespace: RUNTIME_NAMESPACE.into(),
            r#type: MACHINE_STATUS_TYPE.into(),
            id: MACHINE_STATUS_ID.into(),
            version: version.to_string(),
            owner: "runtime.MachineStatusController".into(),
            phase: "running".into(),
            ..Default::default()
        }),
        spec: Some(Spec {
            proto_spec: spec.encode_to_vec(),
            yaml_spec: spec_yaml(&spec),
        }),
    })
}

/// `Versions.runtime.talos.dev/version`: the Talos tag the node runs (controllers/runtime/version.go@v1.12.11 writes
/// `version.Tag`; pkg/machinery/resources/runtime/version.go: non-sensitive, so readable in maintenance mode).
fn version_resource(c: &Ctx, q: &GetRequest) -> Result<Resource, Status> {
    if q.id != VERSION_ID {
        return Err(Status::not_found(format!(
            "resource {}({}/{}@undefined) doesn't exist",
            q.r#type, q.namespace, q.id
        )));
    }
    let spec = VersionSpec {
        version: c.node.state().version.clone(),
        name: String::new(),
    };
    Ok(Resource {
        metadata: Some(Metadata {
            namespace: RUNTIME_NAMESPACE.into(),
            r#type: VERSION_TYPE.into(),
            id: VERSION_ID.into(),
            version: "1".into(),
            owner: "runtime.VersionController".into(),
            phase: "running".into(),
            ..Default::default()
        }),
        spec: Some(Spec {
            yaml_spec: format!("version: {}\n", scalar(&spec.version)),
            proto_spec: spec.encode_to_vec(),
        }),
    })
}

/// The MachineConfig the node of `c` runs: its YAML spec is the config document(s) in effect, byte for byte as
/// applied (Talos keeps the bytes of a config it did not modify; `talosctl get machineconfig -o yaml` shows them).
/// NotFound without a config (maintenance mode).
fn machine_config(c: &Ctx, q: &GetRequest) -> Result<Resource, Status> {
    let not_found = || {
        Status::not_found(format!(
            "resource {}({}/{}@undefined) doesn't exist",
            q.r#type, q.namespace, q.id
        ))
    };
    if q.id != MACHINE_CONFIG_ID {
        return Err(not_found());
    }
    let (active, generation) = {
        let st = c.node.state();
        (st.active.clone(), st.generation)
    };
    let active = active.ok_or_else(not_found)?;
    // machine_config.go@v1.12.11: the resource carries the annotation `talos.dev/yaml-spec`, its protobuf spec is
    // `MachineConfigSpec{yaml_marshalled: <config bytes>}` and its YAML spec the same bytes as one YAML string.
    let mut annotations = std::collections::HashMap::new();
    annotations.insert("talos.dev/yaml-spec".to_string(), "1".to_string());
    Ok(Resource {
        metadata: Some(Metadata {
            namespace: CONFIG_NAMESPACE.into(),
            r#type: MACHINE_CONFIG_TYPE.into(),
            id: MACHINE_CONFIG_ID.into(),
            version: (generation + 1).to_string(),
            phase: "running".into(),
            annotations,
            ..Default::default()
        }),
        spec: Some(Spec {
            proto_spec: MachineConfigSpec {
                yaml_marshalled: active.raw.clone().into_bytes(),
            }
            .encode_to_vec(),
            yaml_spec: yaml_string(&active.raw),
        }),
    })
}

/// `text` as one YAML string, the way gopkg.in/yaml.v3 marshals a multi-line string (cosi-project/runtime
/// marshals a spec whose MarshalYAML returns a string so): a literal block scalar (`|`, or `|-` without a final
/// newline) indented by 4; text a literal block cannot hold (a line with trailing blanks, tabs, or no newline at
/// all) double-quoted.
fn yaml_string(text: &str) -> String {
    let literal_ok = text.contains('\n')
        && !text.contains('\t')
        && !text.contains("\n\n\n")
        && !text.starts_with(' ')
        && text.lines().all(|l| !l.ends_with(' '));
    if !literal_ok {
        return format!("{}\n", serde_json::Value::String(text.to_string()));
    }
    let mut out = String::from(if text.ends_with('\n') { "|\n" } else { "|-\n" });
    for line in text.lines() {
        if !line.is_empty() {
            out.push_str("    ");
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// The MachineStatus spec of the node of `c` (see the module doc).
pub fn machine_status(c: &Ctx) -> Result<MachineStatusSpec, Status> {
    let stage = c.node.state().stage;
    let (stage, unmet) = match stage {
        Stage::Maintenance => (RuntimeMachineStage::MachineStageMaintenance, Vec::new()),
        Stage::Running => (RuntimeMachineStage::MachineStageRunning, running_checks(c)?),
        // The API is down in the other stages; a request cannot reach here.
        Stage::Installing => (RuntimeMachineStage::MachineStageInstalling, Vec::new()),
        Stage::Rebooting => (RuntimeMachineStage::MachineStageRebooting, Vec::new()),
        Stage::Halted => (RuntimeMachineStage::MachineStageShuttingDown, Vec::new()),
    };
    Ok(MachineStatusSpec {
        stage: stage as i32,
        status: Some(MachineStatusStatus {
            ready: unmet.is_empty(),
            unmet_conditions: unmet,
        }),
    })
}

fn running_checks(c: &Ctx) -> Result<Vec<UnmetCondition>, Status> {
    let mut unmet = Vec::new();
    // Talos keeps a Service resource only while the service runs (v1alpha1.ServiceController).
    let mut running = ops::service_list(c)?.services;
    running.retain(|s| s.state == "Running");
    running.sort_by(|a, b| a.id.cmp(&b.id));
    let mut problems = Vec::new();
    for s in &running {
        let health = s.health.clone().unwrap_or_default();
        if !health.unknown && !health.healthy {
            problems.push(format!("{} not healthy", s.id));
        }
    }
    let mut required = vec!["apid", "machined", "kubelet"];
    if c.node.state().is_control_plane() {
        required.extend(["etcd", "trustd"]);
    }
    for r in required {
        if !running.iter().any(|s| s.id == r) {
            problems.push(format!("{r} not running"));
        }
    }
    if !problems.is_empty() {
        unmet.push(condition("services", problems.join(", ")));
    }
    let nodename = c.node.hostname();
    match c.cluster.kube_node_ready(&nodename) {
        None => unmet.push(condition(
            "nodeReady",
            format!("node {nodename:?} status is not available yet"),
        )),
        Some(false) => unmet.push(condition(
            "nodeReady",
            format!("node {nodename:?} is not ready"),
        )),
        Some(true) => {}
    }
    Ok(unmet)
}

fn condition(name: &str, reason: String) -> UnmetCondition {
    UnmetCondition {
        name: name.into(),
        reason,
    }
}

/// The stage as Talos's `MachineStage` marshals to text (enumer `-linecomment`).
fn stage_text(stage: i32) -> &'static str {
    match RuntimeMachineStage::try_from(stage).unwrap_or(RuntimeMachineStage::MachineStageUnknown) {
        RuntimeMachineStage::MachineStageUnknown => "unknown",
        RuntimeMachineStage::MachineStageBooting => "booting",
        RuntimeMachineStage::MachineStageInstalling => "installing",
        RuntimeMachineStage::MachineStageMaintenance => "maintenance",
        RuntimeMachineStage::MachineStageRunning => "running",
        RuntimeMachineStage::MachineStageRebooting => "rebooting",
        RuntimeMachineStage::MachineStageShuttingDown => "shutting down",
        RuntimeMachineStage::MachineStageResetting => "resetting",
        RuntimeMachineStage::MachineStageUpgrading => "upgrading",
    }
}

/// A YAML scalar: plain when unambiguous, else double-quoted.
fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.starts_with(|c: char| "\"'!&*-?[]{}|>%@`#,: ".contains(c))
        && !s.ends_with([':', ' '])
        && !matches!(s, "true" | "false" | "null" | "~" | "yes" | "no")
        && s.parse::<f64>().is_err();
    if plain {
        s.to_string()
    } else {
        serde_json::Value::String(s.to_string()).to_string()
    }
}

/// The spec's YAML as gopkg.in/yaml.v3 writes it (4-space indent): `stage`, `status.ready`,
/// `status.unmetConditions` (`[]` when none).
fn spec_yaml(spec: &MachineStatusSpec) -> String {
    let status = spec.status.clone().unwrap_or_default();
    let mut out = format!(
        "stage: {}\nstatus:\n    ready: {}\n",
        stage_text(spec.stage),
        status.ready
    );
    if status.unmet_conditions.is_empty() {
        out.push_str("    unmetConditions: []\n");
    } else {
        out.push_str("    unmetConditions:\n");
        for c in &status.unmet_conditions {
            out.push_str(&format!(
                "        - name: {}\n          reason: {}\n",
                scalar(&c.name),
                scalar(&c.reason)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_matches_yaml_v3_layout() {
        let spec = MachineStatusSpec {
            stage: RuntimeMachineStage::MachineStageRunning as i32,
            status: Some(MachineStatusStatus {
                ready: false,
                unmet_conditions: vec![
                    condition("services", "etcd not running".into()),
                    condition("nodeReady", "node \"cp1\" is not ready".into()),
                ],
            }),
        };
        assert_eq!(
            spec_yaml(&spec),
            "stage: running\nstatus:\n    ready: false\n    unmetConditions:\n        - name: services\n          \
             reason: etcd not running\n        - name: nodeReady\n          reason: node \"cp1\" is not ready\n"
        );
        let maintenance = MachineStatusSpec {
            stage: RuntimeMachineStage::MachineStageMaintenance as i32,
            status: Some(MachineStatusStatus {
                ready: true,
                unmet_conditions: vec![],
            }),
        };
        assert_eq!(
            spec_yaml(&maintenance),
            "stage: maintenance\nstatus:\n    ready: true\n    unmetConditions: []\n"
        );
        assert_eq!(scalar("a: b"), "\"a: b\"");
        let body = "version: v1alpha1\nmachine:\n  type: worker\n---\nkind: HostnameConfig\n";
        let encoded = yaml_string(body);
        assert!(
            encoded.starts_with("|\n    version: v1alpha1\n"),
            "{encoded}"
        );
        assert_eq!(
            serde_yaml::from_str::<serde_yaml::Value>(&encoded).unwrap(),
            serde_yaml::Value::String(body.into())
        );
        for odd in [
            "no newline",
            "trailing \nblank ",
            "tab\there\n",
            "a\n\n\nb\n",
            "x\n",
        ] {
            let v: serde_yaml::Value = serde_yaml::from_str(&yaml_string(odd)).unwrap();
            assert_eq!(v, serde_yaml::Value::String(odd.into()), "{odd:?}");
        }
        assert_eq!(scalar("true"), "\"true\"");
    }
}
