//! `vixens-emulator --topology FILE [--state-dir DIR] [--control ADDR]`: Talos nodes and a Kubernetes API on
//! loopback (issue 3). Prints exactly one line `ready` on stdout once every listener is up; stops cleanly on
//! SIGINT or SIGTERM (listeners closed, state saved). Logs go to stderr (`RUST_LOG` filters them).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use vixens::emulator::run::{Emulator, Options};
use vixens::emulator::topology::Topology;

#[derive(Parser, Debug)]
#[command(
    name = "vixens-emulator",
    version,
    about = "Talos nodes and a Kubernetes API on loopback"
)]
struct Args {
    /// Topology YAML: nodes (name, address in 127.0.0.0/8, disks, links), timings, faults.
    #[arg(long)]
    topology: String,
    /// Directory where cluster state persists across restarts.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Loopback address of the HTTP/JSON fault control endpoint, e.g. 127.0.0.1:7070.
    #[arg(long)]
    control: Option<SocketAddr>,
}

/// Resolves on SIGINT or SIGTERM. Handlers are installed when this is called, before `ready` is printed.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let topology = match Topology::load(&args.topology) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("vixens-emulator: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vixens-emulator: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let opts = Options {
            topology,
            state_dir: args.state_dir,
            control: args.control,
        };
        let signals = match shutdown_signal() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("vixens-emulator: installing signal handlers: {e}");
                return ExitCode::FAILURE;
            }
        };
        let emulator = match Emulator::start(opts).await {
            Ok(e) => e,
            Err(e) => {
                eprintln!("vixens-emulator: starting listeners: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("ready");
        signals.await;
        emulator.stop().await;
        ExitCode::SUCCESS
    })
}
