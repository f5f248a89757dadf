//! Starting and stopping a whole emulator: the Talos nodes' listeners, the Kubernetes API emulation (served once
//! etcd is bootstrapped, see [`super::kube_bridge`]), the control endpoint and the Image Factory stand-in.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::kube::{KubeCluster, KubeOptions};
use super::kube_bridge::KubeBridge;
use super::talos::Cluster;
use super::topology::Topology;

/// Options of one emulator process (the binary's command line).
#[derive(Debug, Clone)]
pub struct Options {
    /// Parsed topology.
    pub topology: Topology,
    /// Where state persists across restarts (`talos-state.json`, `kube-state.json`).
    pub state_dir: Option<PathBuf>,
    /// Loopback address of the control endpoint.
    pub control: Option<SocketAddr>,
}

/// A running emulator.
pub struct Emulator {
    /// The Talos nodes.
    pub cluster: Arc<Cluster>,
    /// The Kubernetes side.
    pub kube: Arc<KubeBridge>,
    control: Option<tokio::task::JoinHandle<()>>,
    factory: Option<tokio::task::JoinHandle<()>>,
}

impl Emulator {
    /// Binds every listener the current state calls for (Talos API per node, the Kubernetes API when a restored
    /// cluster is bootstrapped, the control endpoint); when this returns Ok, all are up. Errors: a bind failing, an
    /// unreadable Kubernetes state file.
    pub async fn start(opts: Options) -> std::io::Result<Emulator> {
        if let Some(dir) = &opts.state_dir {
            std::fs::create_dir_all(dir)?;
        }
        let kube_opts = KubeOptions {
            workload_delay: opts.topology.timings.workload_delay,
            job_delay: opts.topology.timings.job_delay,
            node_monitor_grace_period: opts.topology.timings.node_monitor_grace_period,
            state_file: opts.state_dir.as_ref().map(|d| d.join("kube-state.json")),
            ..KubeOptions::default()
        };
        let kube = Arc::new(KubeBridge::new(
            KubeCluster::new(kube_opts).map_err(std::io::Error::other)?,
        ));
        let cluster = Cluster::new(opts.topology, opts.state_dir);
        cluster.start()?;
        cluster.set_kube(kube.clone());
        kube.settle().await;
        let control = match opts.control {
            Some(addr) => Some(super::control::serve(cluster.clone(), addr).await?),
            None => None,
        };
        let factory = match cluster.topology.image_factory {
            Some(addr) => Some(super::factory::serve(cluster.factory.clone(), addr).await?),
            None => None,
        };
        Ok(Emulator {
            cluster,
            kube,
            control,
            factory,
        })
    }

    /// Closes every listener and saves the state.
    pub async fn stop(self) {
        for task in [self.control, self.factory].into_iter().flatten() {
            task.abort();
        }
        self.cluster.stop_and_wait().await;
        self.kube.stop().await;
        self.cluster.persist();
        if let Err(e) = self.kube.kube().save() {
            tracing::error!(error = %e, "saving Kubernetes state");
        }
    }
}
