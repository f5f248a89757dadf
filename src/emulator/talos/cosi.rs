//! The COSI State service (`cosi.resource.State`) on `<address>:50000`, registered in maintenance and secure mode
//! as Talos registers it (internal/app/maintenance/server.go; apid proxies it one-to-one), serving `Get` of the
//! resources the emulator models: MachineStatus (`runtime` namespace, type
//! `MachineStatuses.runtime.talos.dev`, id `machine`), and of the node's MachineConfig (`config` namespace, type
//! `MachineConfigs.config.talos.dev`, id `v1alpha1`; sensitive: `os:admin` only), which the provider reads back
//! to detect config drift, of the Version resource (`runtime` namespace, type `Versions.runtime.talos.dev`, id
//! `version`; not sensitive, so readable in maintenance mode), of the node's disks ([`super::cosi_disks`]) and
//! links ([`super::cosi_links`]) and of its system extensions ([`super::cosi_extensions`]).
//! `List` of the same types streams one `ListResponse` per resource ([`super::cosi_list`]). Both pass Talos's
//! access filter first ([`super::cosi_access`]).
//!
//! The spec follows Talos's MachineStatusController
//! (internal/app/machined/pkg/controllers/runtime/machine_status.go): in maintenance mode the stage is
//! `maintenance` and no readiness check applies (ready); once booted the stage is `running` and the checks
//! `services` (running services not unhealthy; apid, machined, kubelet, and on control planes etcd and trustd
//! running) and `nodeReady` (the Kubernetes Node registered and Ready) decide readiness, each failure an
//! unmet condition with Talos's wording. Time sync, network and static pods are always met here. The resource goes
//! out as cosi-project/runtime's server marshals it: `proto_spec` is the encoded `MachineStatusSpec`, `yaml_spec`
//! its YAML. Any other resource type answers Unimplemented (the emulator does not model it); another id of
//! a modeled type, or a modeled type asked in another (registered) namespace, answers NotFound with COSI's message.
//! The MachineConfig goes out as pkg/machinery/resources/config/machine_config.go@v1.12.11 encodes it: `proto_spec`
//! a `MachineConfigSpec` whose `yaml_marshalled` holds the config bytes as applied, `yaml_spec` the same text as one
//! YAML string, and the annotation `talos.dev/yaml-spec`.

use std::pin::Pin;

use prost::Message;
use tonic::{Request, Response, Status};

use super::api::{Access, Ctx, NodeApi};
use super::cosi_access::{self, Kind};
use super::cosi_disks;
use super::cosi_links;
use super::cosi_list;
use super::node::Stage;
use super::ops;
use crate::proto::cosi::resource::{
    state_server::State, GetRequest, GetResponse, ListRequest, ListResponse, Metadata, Resource,
    Spec,
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
/// Resource type of Version (pkg/machinery/resources/runtime/version.go@v1.12.11).
pub const VERSION_TYPE: &str = "Versions.runtime.talos.dev";
/// The id of the single Version.
pub const VERSION_ID: &str = "version";

/// The resource types the emulator models, with the namespace Talos keeps them in (their sensitivity comes from
/// [`super::resource_types`]).
pub const KINDS: &[Kind] = &[
    Kind {
        namespace: RUNTIME_NAMESPACE,
        r#type: MACHINE_STATUS_TYPE,
    },
    Kind {
        namespace: CONFIG_NAMESPACE,
        r#type: MACHINE_CONFIG_TYPE,
    },
    Kind {
        namespace: RUNTIME_NAMESPACE,
        r#type: VERSION_TYPE,
    },
    // pkg/machinery/resources/block/disk.go@v1.12.11 (block's namespace is `runtime`).
    Kind {
        namespace: RUNTIME_NAMESPACE,
        r#type: cosi_disks::DISK_TYPE,
    },
    // pkg/machinery/resources/runtime/extension_status.go@v1.12.11.
    Kind {
        namespace: RUNTIME_NAMESPACE,
        r#type: crate::talos::client::extensions::EXTENSION_STATUS_TYPE,
    },
    // pkg/machinery/resources/network/link_status.go@v1.13.9.
    Kind {
        namespace: cosi_links::NETWORK_NAMESPACE,
        r#type: cosi_links::LINK_STATUS_TYPE,
    },
];

/// Talos's access filter for a read of `r#type` in `namespace` on the node of `c` (see [`cosi_access`]); a
/// type Talos registers but the emulator does not model answers Unimplemented.
pub(crate) fn filter(
    c: &Ctx,
    namespace: &str,
    r#type: &str,
    roles: &[String],
) -> Result<(), Status> {
    let version = c.node.state().version.clone();
    cosi_access::check(r#type, namespace, roles, &version)?;
    if cosi_access::find(KINDS, r#type).is_none() {
        return Err(Status::unimplemented(format!(
            "the emulator does not model {type}({namespace}) in cosi.resource.State",
            r#type = r#type
        )));
    }
    Ok(())
}

type ListStream = Pin<Box<dyn futures::Stream<Item = Result<ListResponse, Status>> + Send>>;

#[tonic::async_trait]
impl State for NodeApi {
    async fn get(&self, req: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let q = req.get_ref().clone();
        let roles = cosi_access::roles(&req);
        let resource = self
            .route_single(&req, "Get", Access::Read, |c| {
                filter(c, &q.namespace, &q.r#type, &roles)?;
                get(c, &q)
            })
            .await?;
        Ok(Response::new(GetResponse {
            resource: Some(resource),
        }))
    }

    type ListStream = ListStream;

    async fn list(&self, req: Request<ListRequest>) -> Result<Response<ListStream>, Status> {
        let q = req.get_ref().clone();
        let roles = cosi_access::roles(&req);
        let resources = self
            .route_single(&req, "List", Access::Read, |c| {
                filter(c, &q.namespace, &q.r#type, &roles)?;
                cosi_list::list(c, &q)
            })
            .await?;
        let replies = resources
            .into_iter()
            .map(|r| Ok(ListResponse { resource: Some(r) }));
        Ok(Response::new(Box::pin(futures::stream::iter(replies))))
    }
}

/// Every resource of `r#type` in `namespace` on the node of `c` (empty for a modeled type asked in another
/// namespace or another letter case: nothing lives there).
pub(crate) fn resources(c: &Ctx, namespace: &str, r#type: &str) -> Result<Vec<Resource>, Status> {
    let one = |id: &str| GetRequest {
        namespace: namespace.into(),
        r#type: r#type.into(),
        id: id.into(),
        options: None,
    };
    match (namespace, r#type) {
        (RUNTIME_NAMESPACE, MACHINE_STATUS_TYPE) => Ok(vec![get(c, &one(MACHINE_STATUS_ID))?]),
        (RUNTIME_NAMESPACE, VERSION_TYPE) => Ok(vec![version_resource(c)]),
        (RUNTIME_NAMESPACE, cosi_disks::DISK_TYPE) => Ok(cosi_disks::disks(c)),
        (RUNTIME_NAMESPACE, crate::talos::client::extensions::EXTENSION_STATUS_TYPE) => {
            Ok(super::cosi_extensions::extensions(c))
        }
        (cosi_links::NETWORK_NAMESPACE, cosi_links::LINK_STATUS_TYPE) => Ok(cosi_links::links(c)),
        (CONFIG_NAMESPACE, MACHINE_CONFIG_TYPE) => match machine_config(c, &one(MACHINE_CONFIG_ID))
        {
            Ok(r) => Ok(vec![r]),
            Err(e) if e.code() == tonic::Code::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        },
        _ => Ok(Vec::new()),
    }
}

/// The Version resource of the node of `c`, as Talos's VersionController writes it once per boot
/// (internal/app/machined/pkg/controllers/runtime/version.go@v1.12.11: `version` only; @v1.13.9 adds
/// `name: Talos`, the build's gendata name).
pub(crate) fn version_resource(c: &Ctx) -> Resource {
    let tag = c.node.state().version.clone();
    let spec = VersionSpec {
        version: tag.clone(),
        name: if cosi_access::at_least(&tag, 13) {
            "Talos".into()
        } else {
            String::new()
        },
    };
    // gopkg.in/yaml.v3 writes the struct's fields in order: Name (from 1.13), Version.
    let yaml_spec = if spec.name.is_empty() {
        format!("version: {}\n", scalar(&spec.version))
    } else {
        format!(
            "name: {}\nversion: {}\n",
            scalar(&spec.name),
            scalar(&spec.version)
        )
    };
    Resource {
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
            proto_spec: spec.encode_to_vec(),
            yaml_spec,
        }),
    }
}

/// COSI Get on the node of `c`.
fn get(c: &Ctx, q: &GetRequest) -> Result<Resource, Status> {
    if q.namespace == CONFIG_NAMESPACE && q.r#type == MACHINE_CONFIG_TYPE {
        // Sensitive: the access filter (`filter`, run before) already refused callers without os:admin.
        return machine_config(c, q);
    }
    if q.namespace == RUNTIME_NAMESPACE && q.r#type == VERSION_TYPE && q.id == VERSION_ID {
        return Ok(version_resource(c));
    }
    if matches!(
        q.r#type.as_str(),
        cosi_disks::DISK_TYPE
            | cosi_links::LINK_STATUS_TYPE
            | crate::talos::client::extensions::EXTENSION_STATUS_TYPE
    ) {
        let found = resources(c, &q.namespace, &q.r#type)?
            .into_iter()
            .find(|r| r.metadata.as_ref().is_some_and(|m| m.id == q.id));
        if let Some(r) = found {
            return Ok(r);
        }
    }
    if cosi_access::find(KINDS, &q.r#type).is_some()
        && (q.namespace != RUNTIME_NAMESPACE
            || q.r#type != MACHINE_STATUS_TYPE
            || q.id != MACHINE_STATUS_ID)
    {
        return Err(Status::not_found(format!(
            "resource {}({}/{}@undefined) doesn't exist",
            q.r#type, q.namespace, q.id
        )));
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
            crate::yaml::from_str::<serde_json::Value>(&encoded).unwrap(),
            serde_json::Value::String(body.into())
        );
        for odd in [
            "no newline",
            "trailing \nblank ",
            "tab\there\n",
            "a\n\n\nb\n",
            "x\n",
        ] {
            let v: serde_json::Value = crate::yaml::from_str(&yaml_string(odd)).unwrap();
            assert_eq!(v, serde_json::Value::String(odd.into()), "{odd:?}");
        }
        assert_eq!(scalar("true"), "\"true\"");
    }
}
