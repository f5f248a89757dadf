//! gRPC front of a node, as apid and the maintenance service present it: mode checks (maintenance mode up to
//! Talos 1.12 serves only ApplyConfiguration, Version, Upgrade, Reset and StorageService.Disks, the rest is
//! Unimplemented as `UnimplementedMachineServiceServer` answers; from 1.13 apid serves maintenance mode read-only
//! and refuses admin RPCs other than ApplyConfiguration with PermissionDenied), role checks from the client
//! certificate's Organization
//! (`os:admin`, `os:operator`, `os:reader`; otherwise PermissionDenied "not authorized"), faults, and apid's
//! routing by the `node` (one target) and `nodes` (fan-out, each reply tagged with `metadata.hostname` or an
//! error) gRPC metadata. The RPCs' own behaviour lives in [`super::ops`].

use std::pin::Pin;
use std::sync::Arc;

use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use super::cluster::Cluster;
use super::node::{Node, Stage};
use super::ops;
use super::tls::{ConnInfo, Mode};
use crate::emulator::pki;
use crate::proto::common;
use crate::proto::cosi::resource::state_server::StateServer;
use crate::proto::machine::{
    self, machine_service_server::MachineService, machine_service_server::MachineServiceServer,
};
use crate::proto::storage::{
    self, storage_service_server::StorageService, storage_service_server::StorageServiceServer,
};

/// Role an RPC needs (Talos `internal/app/apid` authz rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// `os:reader` and above.
    Read,
    /// `os:operator` and above.
    Operate,
    /// `os:admin` only.
    Admin,
}

/// The node a request is executed on.
pub struct Ctx {
    /// The whole emulator.
    pub cluster: Arc<Cluster>,
    /// Target node.
    pub node: Arc<Node>,
    /// Request came through the secure API.
    pub secure: bool,
}

/// A reply message carrying `common.Metadata`.
pub trait Reply: Default + Send + 'static {
    /// The metadata slot.
    fn metadata_mut(&mut self) -> &mut Option<common::Metadata>;
}

macro_rules! reply {
    ($($t:ty),* $(,)?) => {$(
        impl Reply for $t {
            fn metadata_mut(&mut self) -> &mut Option<common::Metadata> {
                &mut self.metadata
            }
        }
    )*};
}

reply!(
    machine::ApplyConfiguration,
    machine::Bootstrap,
    machine::Reboot,
    machine::Reset,
    machine::Shutdown,
    machine::Upgrade,
    machine::ServiceList,
    machine::Version,
    machine::Hostname,
    machine::EtcdLeaveCluster,
    machine::EtcdRemoveMemberById,
    machine::EtcdForfeitLeadership,
    machine::EtcdMembers,
    machine::EtcdStatus,
    common::Data,
    storage::Disks,
);

/// The gRPC services of one node.
#[derive(Clone)]
pub struct NodeApi {
    cluster: Arc<Cluster>,
    node: Arc<Node>,
}

enum Targets {
    Local,
    One(String),
    Many(Vec<String>),
}

fn targets(md: &MetadataMap) -> Targets {
    let split = |key: &str| -> Vec<String> {
        md.get_all(key)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let nodes = split("nodes");
    if !nodes.is_empty() {
        return Targets::Many(nodes);
    }
    match split("node").into_iter().next() {
        Some(n) => Targets::One(n),
        None => Targets::Local,
    }
}

/// RPCs the maintenance service of Talos up to 1.12 serves only to the admin role, which a client gets only over
/// SideroLink (internal/app/maintenance/server.go@v1.12.11: Version, Upgrade, Reset, MetaWrite, MetaDelete call
/// `assertAdminRole`); the emulator has no SideroLink, so they answer Unimplemented.
const MAINTENANCE_ADMIN_ONLY: &[&str] = &["Version", "Upgrade", "Reset", "MetaWrite", "MetaDelete"];

/// Whether a Talos version tag (`v1.13.0`, `1.14.2`) is 1.13 or later.
fn at_least_1_13(tag: &str) -> bool {
    let mut parts = tag
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (1, 13)
}

fn roles(info: &ConnInfo) -> Vec<String> {
    info.peer_certs
        .as_ref()
        .and_then(|c| c.first())
        .map(pki::organizations)
        .unwrap_or_default()
}

fn allowed(roles: &[String], access: Access) -> bool {
    roles.iter().any(|r| match r.as_str() {
        "os:admin" => true,
        "os:operator" => access <= Access::Operate,
        "os:reader" => access == Access::Read,
        _ => false,
    })
}

impl NodeApi {
    /// The API of `node`.
    pub fn new(cluster: Arc<Cluster>, node: Arc<Node>) -> NodeApi {
        NodeApi { cluster, node }
    }

    /// MachineService, StorageService and COSI State routes.
    pub fn routes(self) -> tonic::service::Routes {
        tonic::service::Routes::new(MachineServiceServer::new(self.clone()))
            .add_service(StorageServiceServer::new(self.clone()))
            .add_service(StateServer::new(self))
    }

    /// apid resolving a proxy target: a known node, up, in secure mode, trusting the same OS CA.
    fn resolve(&self, target: &str) -> Result<Arc<Node>, Status> {
        let node = self.cluster.find(target).ok_or_else(|| {
            Status::unavailable(format!(
                "connection error: desc = \"transport: Error while dialing: dial tcp: lookup {target}: no such host\""
            ))
        })?;
        let refused = || {
            Status::unavailable(format!(
                "connection error: desc = \"transport: Error while dialing: dial tcp {}:50000: connect: connection refused\"",
                node.address()
            ))
        };
        if self.cluster.faults.is_down(&node.spec.name) {
            return Err(refused());
        }
        let (stage, ca) = {
            let st = node.state();
            (
                st.stage,
                st.active.as_ref().map(|c| c.os_ca.cert_der.clone()),
            )
        };
        let own_ca = self
            .node
            .state()
            .active
            .as_ref()
            .map(|c| c.os_ca.cert_der.clone());
        match stage {
            Stage::Running if ca == own_ca => Ok(node),
            Stage::Running | Stage::Maintenance => Err(Status::unavailable(
                "connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority\"",
            )),
            _ => Err(refused()),
        }
    }

    async fn on_node<T, F>(
        &self,
        node: Arc<Node>,
        secure: bool,
        rpc: &str,
        f: &F,
    ) -> Result<T, Status>
    where
        F: Fn(&Ctx) -> Result<T, Status>,
    {
        self.cluster.faults.before_rpc(&node.spec.name, rpc).await?;
        f(&Ctx {
            cluster: self.cluster.clone(),
            node,
            secure,
        })
    }

    /// The mode and role checks of a request: `Ok(false)` when it runs on this node in maintenance mode,
    /// `Ok(true)` when it came through the secure API and may be routed by its metadata.
    fn admit<Q>(
        &self,
        req: &Request<Q>,
        rpc: &str,
        access: Access,
        maintenance: bool,
    ) -> Result<bool, Status> {
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
            // The service that accepted the connection is stopping (install, reboot, shutdown under way).
            return Err(Status::unavailable(
                "connection error: desc = \"error reading from server: EOF\"",
            ));
        }
        if info.mode == Mode::Maintenance {
            let version = self.node.state().version.clone();
            if at_least_1_13(&version) {
                // Talos 1.13+: apid runs read-only in maintenance mode; admin RPCs other than the apply refused.
                if access == Access::Admin && rpc != "ApplyConfiguration" {
                    return Err(Status::permission_denied("not authorized"));
                }
            } else if !maintenance {
                return Err(Status::unimplemented(format!(
                    "method {rpc} not implemented"
                )));
            } else if MAINTENANCE_ADMIN_ONLY.contains(&rpc) {
                // maintenance/server.go@v1.12.11 `assertAdminRole`: the admin role comes only with SideroLink.
                return Err(Status::unimplemented(
                    "API is not implemented in maintenance mode",
                ));
            }
            return Ok(false);
        }
        if !allowed(&roles(&info), access) {
            return Err(Status::permission_denied("not authorized"));
        }
        Ok(true)
    }

    /// Runs a one-to-one RPC (the COSI State service, which apid proxies to a single node) where the request
    /// says, after the mode, role and fault checks. The `nodes` metadata (one-to-many) is refused: apid fans out
    /// only machine APIs.
    pub(crate) async fn route_single<Q, T, F>(
        &self,
        req: &Request<Q>,
        rpc: &str,
        access: Access,
        f: F,
    ) -> Result<T, Status>
    where
        F: Fn(&Ctx) -> Result<T, Status>,
    {
        if !self.admit(req, rpc, access, true)? {
            return self.on_node(self.node.clone(), false, rpc, &f).await;
        }
        let node = match targets(req.metadata()) {
            Targets::Local => self.node.clone(),
            Targets::One(t) => self.resolve(&t)?,
            Targets::Many(_) => {
                return Err(Status::invalid_argument(
                    "one-2-many proxying is not supported for non-machine APIs",
                ))
            }
        };
        self.on_node(node, true, rpc, &f).await
    }

    /// Runs `f` where the request says, after the mode, role and fault checks; returns the reply messages.
    async fn route<Q, T, F>(
        &self,
        req: &Request<Q>,
        rpc: &str,
        access: Access,
        maintenance: bool,
        f: F,
    ) -> Result<Vec<T>, Status>
    where
        T: Reply,
        F: Fn(&Ctx) -> Result<T, Status>,
    {
        if !self.admit(req, rpc, access, maintenance)? {
            return Ok(vec![self.on_node(self.node.clone(), false, rpc, &f).await?]);
        }
        match targets(req.metadata()) {
            Targets::Local => Ok(vec![self.on_node(self.node.clone(), true, rpc, &f).await?]),
            Targets::One(t) => {
                let node = self.resolve(&t)?;
                Ok(vec![self.on_node(node, true, rpc, &f).await?])
            }
            Targets::Many(ts) => {
                let mut out = Vec::with_capacity(ts.len());
                for t in ts {
                    let result = match self.resolve(&t) {
                        Ok(node) => self.on_node(node, true, rpc, &f).await,
                        Err(e) => Err(e),
                    };
                    let (mut msg, error) = match result {
                        Ok(m) => (m, None),
                        Err(e) => (T::default(), Some(e)),
                    };
                    *msg.metadata_mut() = Some(common::Metadata {
                        hostname: t,
                        error: error
                            .as_ref()
                            .map(|e| e.message().to_string())
                            .unwrap_or_default(),
                        status: error.map(|e| crate::proto::google::rpc::Status {
                            code: e.code() as i32,
                            message: e.message().to_string(),
                            details: Vec::new(),
                        }),
                    });
                    out.push(msg);
                }
                Ok(out)
            }
        }
    }
}

type DataStream =
    Pin<Box<dyn futures::Stream<Item = Result<common::Data, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl MachineService for NodeApi {
    async fn apply_configuration(
        &self,
        req: Request<machine::ApplyConfigurationRequest>,
    ) -> Result<Response<machine::ApplyConfigurationResponse>, Status> {
        let body = req.get_ref().clone();
        let messages = self
            .route(&req, "ApplyConfiguration", Access::Admin, true, |c| {
                ops::apply(c, &body)
            })
            .await?;
        Ok(Response::new(machine::ApplyConfigurationResponse {
            messages,
        }))
    }

    async fn bootstrap(
        &self,
        req: Request<machine::BootstrapRequest>,
    ) -> Result<Response<machine::BootstrapResponse>, Status> {
        let body = *req.get_ref();
        let messages = self
            .route(&req, "Bootstrap", Access::Admin, false, |c| {
                ops::bootstrap(c, &body)
            })
            .await?;
        Ok(Response::new(machine::BootstrapResponse { messages }))
    }

    async fn etcd_member_list(
        &self,
        req: Request<machine::EtcdMemberListRequest>,
    ) -> Result<Response<machine::EtcdMemberListResponse>, Status> {
        let messages = self
            .route(
                &req,
                "EtcdMemberList",
                Access::Read,
                false,
                ops::etcd_member_list,
            )
            .await?;
        Ok(Response::new(machine::EtcdMemberListResponse { messages }))
    }

    async fn etcd_remove_member_by_id(
        &self,
        req: Request<machine::EtcdRemoveMemberByIdRequest>,
    ) -> Result<Response<machine::EtcdRemoveMemberByIdResponse>, Status> {
        let id = req.get_ref().member_id;
        let messages = self
            .route(&req, "EtcdRemoveMemberByID", Access::Admin, false, |c| {
                ops::etcd_remove(c, id)
            })
            .await?;
        Ok(Response::new(machine::EtcdRemoveMemberByIdResponse {
            messages,
        }))
    }

    async fn etcd_leave_cluster(
        &self,
        req: Request<machine::EtcdLeaveClusterRequest>,
    ) -> Result<Response<machine::EtcdLeaveClusterResponse>, Status> {
        let messages = self
            .route(
                &req,
                "EtcdLeaveCluster",
                Access::Admin,
                false,
                ops::etcd_leave,
            )
            .await?;
        Ok(Response::new(machine::EtcdLeaveClusterResponse {
            messages,
        }))
    }

    async fn etcd_forfeit_leadership(
        &self,
        req: Request<machine::EtcdForfeitLeadershipRequest>,
    ) -> Result<Response<machine::EtcdForfeitLeadershipResponse>, Status> {
        let messages = self
            .route(
                &req,
                "EtcdForfeitLeadership",
                Access::Operate,
                false,
                ops::etcd_forfeit,
            )
            .await?;
        Ok(Response::new(machine::EtcdForfeitLeadershipResponse {
            messages,
        }))
    }

    async fn etcd_status(
        &self,
        req: Request<()>,
    ) -> Result<Response<machine::EtcdStatusResponse>, Status> {
        let messages = self
            .route(&req, "EtcdStatus", Access::Read, false, ops::etcd_status)
            .await?;
        Ok(Response::new(machine::EtcdStatusResponse { messages }))
    }

    async fn hostname(
        &self,
        req: Request<()>,
    ) -> Result<Response<machine::HostnameResponse>, Status> {
        let messages = self
            .route(&req, "Hostname", Access::Read, false, ops::hostname)
            .await?;
        Ok(Response::new(machine::HostnameResponse { messages }))
    }

    type KubeconfigStream = DataStream;

    async fn kubeconfig(&self, req: Request<()>) -> Result<Response<DataStream>, Status> {
        let messages = self
            .route(&req, "Kubeconfig", Access::Admin, false, ops::kubeconfig)
            .await?;
        Ok(Response::new(Box::pin(futures::stream::iter(
            messages.into_iter().map(Ok),
        ))))
    }

    async fn reboot(
        &self,
        req: Request<machine::RebootRequest>,
    ) -> Result<Response<machine::RebootResponse>, Status> {
        let messages = self
            .route(&req, "Reboot", Access::Operate, false, ops::reboot)
            .await?;
        Ok(Response::new(machine::RebootResponse { messages }))
    }

    async fn reset(
        &self,
        req: Request<machine::ResetRequest>,
    ) -> Result<Response<machine::ResetResponse>, Status> {
        let body = req.get_ref().clone();
        let messages = self
            .route(&req, "Reset", Access::Admin, true, |c| ops::reset(c, &body))
            .await?;
        Ok(Response::new(machine::ResetResponse { messages }))
    }

    async fn service_list(
        &self,
        req: Request<()>,
    ) -> Result<Response<machine::ServiceListResponse>, Status> {
        let messages = self
            .route(&req, "ServiceList", Access::Read, false, ops::service_list)
            .await?;
        Ok(Response::new(machine::ServiceListResponse { messages }))
    }

    async fn shutdown(
        &self,
        req: Request<machine::ShutdownRequest>,
    ) -> Result<Response<machine::ShutdownResponse>, Status> {
        let messages = self
            .route(&req, "Shutdown", Access::Operate, false, ops::shutdown)
            .await?;
        Ok(Response::new(machine::ShutdownResponse { messages }))
    }

    async fn upgrade(
        &self,
        req: Request<machine::UpgradeRequest>,
    ) -> Result<Response<machine::UpgradeResponse>, Status> {
        let body = req.get_ref().clone();
        let messages = self
            .route(&req, "Upgrade", Access::Admin, true, |c| {
                ops::upgrade(c, &body)
            })
            .await?;
        Ok(Response::new(machine::UpgradeResponse { messages }))
    }

    async fn version(
        &self,
        req: Request<()>,
    ) -> Result<Response<machine::VersionResponse>, Status> {
        let messages = self
            .route(&req, "Version", Access::Read, true, ops::version)
            .await?;
        Ok(Response::new(machine::VersionResponse { messages }))
    }
}

#[tonic::async_trait]
impl StorageService for NodeApi {
    async fn disks(&self, req: Request<()>) -> Result<Response<storage::DisksResponse>, Status> {
        let messages = self
            .route(&req, "Disks", Access::Read, true, ops::disks)
            .await?;
        Ok(Response::new(storage::DisksResponse { messages }))
    }
}
