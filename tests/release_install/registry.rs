//! A loopback HTTPS server that speaks the Terraform provider registry protocol for the releases in one
//! directory (the output of scripts/release.sh). Endpoints, as in Terraform's "Provider Registry
//! Protocol" reference:
//! - `GET /.well-known/terraform.json` service discovery: `{"providers.v1": "/v1/providers/"}`;
//! - `GET /v1/providers/:namespace/:type/versions`: every version with its protocols and platforms;
//! - `GET /v1/providers/:namespace/:type/:version/download/:os/:arch`: the package's filename,
//!   download_url, shasums_url, shasums_signature_url, shasum and signing_keys.gpg_public_keys;
//! - `GET /files/:name`: the release files themselves.
//!
//! Like the public Registry, protocols come from the release's manifest and `shasum` from its
//! SHA256SUMS, so a swapped zip is caught by Terraform, not hidden by the server.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tower::ServiceExt;

const NAMESPACE: &str = "vixens";
const TYPE: &str = "vixens";

/// What the server publishes: the release directory and the signing key it advertises.
pub struct Published {
    pub dir: PathBuf,
    pub version: String,
    pub key_id: String,
    pub armor: String,
}

struct Shared {
    published: Published,
    base: String,
}

/// A running registry; stops when dropped. `requests` lists every request path in arrival order.
pub struct Registry {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Registry {
    pub fn start(published: Published, tls: Arc<rustls::ServerConfig>) -> Registry {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            published,
            base: format!("https://127.0.0.1:{port}"),
        });
        let app = Router::new()
            .route("/.well-known/terraform.json", get(discovery))
            .route("/v1/providers/{namespace}/{type}/versions", get(versions))
            .route(
                "/v1/providers/{namespace}/{type}/{version}/download/{os}/{arch}",
                get(download),
            )
            .route("/files/{name}", get(file))
            .with_state(shared);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let app = app.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        log.lock().unwrap().push(req.uri().path().to_string());
                        app.clone().oneshot(req)
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        Registry {
            port,
            requests,
            _runtime: runtime,
        }
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Published {
    fn prefix(&self) -> String {
        format!("terraform-provider-{TYPE}_{}", self.version)
    }

    fn protocols(&self) -> Option<Value> {
        let path = self.dir.join(format!("{}_manifest.json", self.prefix()));
        let manifest: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        Some(manifest["metadata"]["protocol_versions"].clone())
    }

    /// `(os, arch)` of every zip in the directory.
    fn platforms(&self) -> Vec<(String, String)> {
        let prefix = format!("{}_", self.prefix());
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(platform) = name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(".zip"))
            {
                if let Some((os, arch)) = platform.split_once('_') {
                    out.push((os.to_string(), arch.to_string()));
                }
            }
        }
        out.sort();
        out
    }

    /// The SHA256SUMS entry for `filename`.
    fn shasum(&self, filename: &str) -> Option<String> {
        let sums =
            std::fs::read_to_string(self.dir.join(format!("{}_SHA256SUMS", self.prefix()))).ok()?;
        sums.lines().find_map(|line| {
            let (hash, name) = line.split_once("  ")?;
            (name == filename).then(|| hash.to_string())
        })
    }
}

fn is_ours(namespace: &str, r#type: &str) -> bool {
    namespace == NAMESPACE && r#type == TYPE
}

async fn discovery() -> Json<Value> {
    Json(json!({ "providers.v1": "/v1/providers/" }))
}

async fn versions(
    State(shared): State<Arc<Shared>>,
    Path((namespace, r#type)): Path<(String, String)>,
) -> Response {
    let published = &shared.published;
    let Some(protocols) = published
        .protocols()
        .filter(|_| is_ours(&namespace, &r#type))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let platforms: Vec<Value> = published
        .platforms()
        .into_iter()
        .map(|(os, arch)| json!({ "os": os, "arch": arch }))
        .collect();
    Json(json!({
        "id": format!("{namespace}/{}", r#type),
        "versions": [{ "version": published.version, "protocols": protocols, "platforms": platforms }],
        "warnings": null,
    }))
    .into_response()
}

async fn download(
    State(shared): State<Arc<Shared>>,
    Path((namespace, r#type, version, os, arch)): Path<(String, String, String, String, String)>,
) -> Response {
    let published = &shared.published;
    let prefix = published.prefix();
    let filename = format!("{prefix}_{os}_{arch}.zip");
    let found = is_ours(&namespace, &r#type) && version == published.version;
    let (Some(protocols), Some(shasum)) = (
        published.protocols().filter(|_| found),
        published.shasum(&filename),
    ) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let base = &shared.base;
    Json(json!({
        "protocols": protocols,
        "os": os,
        "arch": arch,
        "filename": filename,
        "download_url": format!("{base}/files/{filename}"),
        "shasums_url": format!("{base}/files/{prefix}_SHA256SUMS"),
        "shasums_signature_url": format!("{base}/files/{prefix}_SHA256SUMS.sig"),
        "shasum": shasum,
        "signing_keys": {
            "gpg_public_keys": [{ "key_id": published.key_id, "ascii_armor": published.armor }]
        },
    }))
    .into_response()
}

async fn file(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    if name.contains('/') || name.starts_with('.') {
        return StatusCode::NOT_FOUND.into_response();
    }
    match std::fs::read(shared.published.dir.join(&name)) {
        Ok(bytes) => bytes.into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
