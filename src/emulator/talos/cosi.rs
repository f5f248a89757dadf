//! The COSI resource API (`cosi.resource.State`) as apid serves it, limited to `Get` of the resource the provider
//! reads: the node's MachineConfig (namespace `config`, type `MachineConfigs.config.talos.dev`, id `v1alpha1`,
//! YAML spec = the config document(s) in effect, as `talosctl get machineconfig -o yaml` shows). The machine
//! config is a sensitive resource: only `os:admin` may read it (Talos `pkg/machinery/role` and the COSI access
//! filter in apid), and a node in maintenance mode has none to show.

use tonic::{Request, Response, Status};

use super::api::{allowed, roles, Access, NodeApi};
use super::node::Stage;
use super::tls::{ConnInfo, Mode};
use crate::proto::cosi::resource::{
    state_server::State, GetRequest, GetResponse, Metadata, Resource, Spec,
};

/// Namespace of the MachineConfig resource.
pub const CONFIG_NAMESPACE: &str = "config";
/// Type of the MachineConfig resource.
pub const MACHINE_CONFIG_TYPE: &str = "MachineConfigs.config.talos.dev";
/// Id of the active MachineConfig.
pub const MACHINE_CONFIG_ID: &str = "v1alpha1";

fn not_found(r: &GetRequest) -> Status {
    Status::not_found(format!(
        "resource {}({}/{}@undefined) doesn't exist",
        r.r#type, r.namespace, r.id
    ))
}

#[tonic::async_trait]
impl State for NodeApi {
    async fn get(&self, req: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let info = req
            .extensions()
            .get::<ConnInfo>()
            .cloned()
            .ok_or_else(|| Status::internal("no connection info"))?;
        let stage = self.node.state().stage;
        let expected = if info.mode == Mode::Maintenance {
            Stage::Maintenance
        } else {
            Stage::Running
        };
        if stage != expected {
            return Err(Status::unavailable(
                "connection error: desc = \"error reading from server: EOF\"",
            ));
        }
        let r = req.get_ref();
        let sensitive = r.r#type == MACHINE_CONFIG_TYPE;
        let node = if info.mode == Mode::Maintenance {
            if sensitive {
                return Err(Status::permission_denied("not authorized"));
            }
            self.node.clone()
        } else {
            let access = if sensitive {
                Access::Admin
            } else {
                Access::Read
            };
            if !allowed(&roles(&info), access) {
                return Err(Status::permission_denied("not authorized"));
            }
            match req.metadata().get("node").and_then(|v| v.to_str().ok()) {
                Some(target) if !target.is_empty() => self.resolve(target)?,
                _ => self.node.clone(),
            }
        };
        self.cluster
            .faults
            .before_rpc(&node.spec.name, "COSI.Get")
            .await?;
        if r.namespace != CONFIG_NAMESPACE || !sensitive || r.id != MACHINE_CONFIG_ID {
            return Err(not_found(r));
        }
        let active = node.state().active.clone().ok_or_else(|| not_found(r))?;
        let generation = node.state().generation;
        Ok(Response::new(GetResponse {
            resource: Some(Resource {
                metadata: Some(Metadata {
                    namespace: r.namespace.clone(),
                    r#type: r.r#type.clone(),
                    id: r.id.clone(),
                    version: (generation + 1).to_string(),
                    phase: "running".into(),
                    ..Default::default()
                }),
                spec: Some(Spec {
                    proto_spec: Vec::new(),
                    yaml_spec: active.raw.clone(),
                }),
            }),
        }))
    }
}
