//! Starting and stopping a whole emulator: the Talos nodes' listeners, the control endpoint, and (once the
//! Kubernetes side is connected with [`Cluster::set_kube`]) the Kubernetes API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::talos::Cluster;
use super::topology::Topology;

/// Options of one emulator process (the binary's command line).
#[derive(Debug, Clone)]
pub struct Options {
    /// Parsed topology.
    pub topology: Topology,
    /// Where state persists across restarts.
    pub state_dir: Option<PathBuf>,
    /// Loopback address of the control endpoint.
    pub control: Option<SocketAddr>,
}

/// A running emulator. Dropping it without [`Emulator::stop`] leaves tasks running until the runtime ends.
pub struct Emulator {
    /// The nodes.
    pub cluster: Arc<Cluster>,
    control: Option<tokio::task::JoinHandle<()>>,
}

impl Emulator {
    /// Binds every listener (Talos API per node, control endpoint); when this returns Ok, all are up.
    pub async fn start(opts: Options) -> std::io::Result<Emulator> {
        let cluster = Cluster::new(opts.topology, opts.state_dir);
        cluster.start()?;
        let control = match opts.control {
            Some(addr) => Some(super::control::serve(cluster.clone(), addr).await?),
            None => None,
        };
        Ok(Emulator { cluster, control })
    }

    /// Closes every listener and saves the state.
    pub fn stop(self) {
        if let Some(c) = self.control {
            c.abort();
        }
        self.cluster.stop();
        self.cluster.persist();
    }
}
