//! The loopback HTTP/JSON control endpoint (`--control ADDR`) for changing faults at run time:
//!
//! - `GET /state`: nodes (name, address, stage, version, installed, SHA-256 of the active and on-disk configs,
//!   faults) and etcd members.
//! - `POST /faults/nodes/{name}` with a [`NodeFaults`] JSON body: merged into the node's faults (`{"down": true}`
//!   closes its listener, `{"down": false}` reopens it and powers a halted or hung node on). Answers the result.
//! - `POST /faults/kube` with a [`KubeFaults`] JSON body: forwarded to the Kubernetes API emulation.
//!
//! Errors: 404 for an unknown node, 422 for a body that does not match, 400 for a non-loopback bind address.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::faults::{KubeFaults, NodeFaults};
use super::talos::Cluster;

async fn state(State(cluster): State<Arc<Cluster>>) -> Json<Value> {
    let nodes: Vec<Value> = cluster
        .nodes
        .iter()
        .map(|n| {
            let st = n.state();
            json!({
                "name": n.spec.name,
                "address": n.address(),
                "stage": st.stage,
                "version": st.version,
                "installed": st.installed,
                "etcd_data": st.etcd_data,
                "configured": st.active.is_some(),
                "active_config_sha256": st.active.as_ref().map(|c| super::talos::cluster::fingerprint(c.raw.as_bytes())),
                "persisted_config_sha256": st.persisted.as_ref().map(|c| super::talos::cluster::fingerprint(c.raw.as_bytes())),
                "faults": cluster.faults.get(&n.spec.name),
            })
        })
        .collect();
    let etcd = cluster.etcd().clone();
    Json(json!({ "nodes": nodes, "etcd": etcd }))
}

async fn node_faults(
    State(cluster): State<Arc<Cluster>>,
    Path(name): Path<String>,
    Json(update): Json<NodeFaults>,
) -> Result<Json<NodeFaults>, (StatusCode, String)> {
    let node = cluster
        .nodes
        .iter()
        .find(|n| n.spec.name == name)
        .cloned()
        .ok_or((StatusCode::NOT_FOUND, format!("no node {name:?}")))?;
    let down = update.down;
    let merged = cluster.faults.update(&name, update);
    match down {
        Some(d) => cluster.set_down(&node, d),
        None => cluster.sync_listener(&node),
    }
    Ok(Json(merged))
}

async fn kube_faults(
    State(cluster): State<Arc<Cluster>>,
    Json(f): Json<KubeFaults>,
) -> Json<KubeFaults> {
    cluster.set_kube_faults(&f);
    Json(f)
}

/// Binds the control endpoint on `addr` (loopback only) and serves it until the task is aborted.
pub async fn serve(
    cluster: Arc<Cluster>,
    addr: SocketAddr,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("control address {addr} is not a loopback address"),
        ));
    }
    let app = Router::new()
        .route("/state", get(state))
        .route("/faults/nodes/{name}", post(node_faults))
        .route("/faults/kube", post(kube_faults))
        .with_state(cluster);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("control endpoint {addr}: {e}")))?;
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "control endpoint stopped");
        }
    }))
}
