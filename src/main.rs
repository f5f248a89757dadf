//! `terraform-provider-vixens`: started by Terraform, it checks the magic cookie, negotiates the protocol,
//! prints the go-plugin handshake line and serves until Terraform shuts it down.

use std::process::ExitCode;
use std::sync::Arc;

use vixens::plugin::handshake::{cookie_ok, negotiate, MAGIC_COOKIE_KEY, SUPPORTED_PROTOCOLS};
use vixens::plugin::{tls, Listening, ServeConfig};

const NOT_BY_HAND: &str = "\
terraform-provider-vixens is a Terraform plugin: Terraform starts it, it is not meant to be run by hand.

Use it from a Terraform configuration:

  terraform {
    required_providers {
      vixens = { source = \"vixens/vixens\" }
    }
  }

then run `terraform init` and `terraform apply`. `terraform-provider-vixens --version` prints the version.";

fn main() -> ExitCode {
    if std::env::args()
        .skip(1)
        .any(|a| a == "--version" || a == "-version" || a == "version")
    {
        println!("terraform-provider-vixens {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if !cookie_ok(std::env::var(MAGIC_COOKIE_KEY).ok().as_deref()) {
        eprintln!("{NOT_BY_HAND}");
        return ExitCode::from(1);
    }
    let Some(protocol) = negotiate(std::env::var("PLUGIN_PROTOCOL_VERSIONS").ok().as_deref())
    else {
        eprintln!("terraform-provider-vixens: no common plugin protocol (this provider speaks {SUPPORTED_PROTOCOLS:?})");
        return ExitCode::from(1);
    };
    let client_cert = match std::env::var("PLUGIN_CLIENT_CERT")
        .ok()
        .filter(|s| !s.is_empty())
    {
        Some(pem) => match tls::parse_client_cert(&pem) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("terraform-provider-vixens: {e}");
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    // Only what the handshake line announces comes before it (the listener and the certificate): Terraform starts
    // the provider several times per command and waits for this line each time. Its connection waits in the
    // listen backlog until the server below accepts it.
    let listening = match Listening::bind(ServeConfig {
        protocol,
        client_cert,
    }) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("terraform-provider-vixens: {e:#}");
            return ExitCode::from(1);
        }
    };
    // Terraform sends SIGINT to the whole process group on Ctrl-C, possibly right after this line and before the
    // runtime installs its handler (plugin::serve): ignore it from here on, so the provider never dies of it.
    // SAFETY: SIG_IGN installs no handler code; called once, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    if let Err(e) = listening.print_handshake_line() {
        eprintln!("terraform-provider-vixens: cannot write the handshake line: {e}");
        return ExitCode::from(1);
    }
    vixens::logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("terraform-provider-vixens: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let server = Arc::new(vixens::provider::server());
    let result = runtime.block_on(listening.serve(server));
    runtime.shutdown_background();
    // The memory benchmark (scripts/rehearse.sh) reads this line: the process's peak over all its RPCs.
    if let Some(kib) = vixens::logging::peak_rss_kib() {
        tracing::info!(peak_rss_kib = kib, "provider exiting");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "plugin server failed");
            eprintln!("terraform-provider-vixens: {e:#}");
            ExitCode::from(1)
        }
    }
}
