//! Ending the provider when Terraform is gone. go-plugin's client kills its plugins when Terraform exits normally,
//! but a Terraform killed outright (SIGKILL, a second Ctrl-C, a crash) leaves the provider running, still waiting
//! on nodes for up to a whole create timeout. The provider is Terraform's child, so its parent process id changes
//! (to init or a subreaper) exactly when Terraform is gone: polled once per [`POLL`]. Windows keeps a dead parent's
//! id in its children, so there is no such signal there and no watch runs (as for Go providers, which have none).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often the parent process id is checked.
pub const POLL: Duration = Duration::from_secs(1);

/// The parent process id ([`std::os::unix::process::parent_id`]).
#[cfg(unix)]
pub fn parent_id() -> Option<u32> {
    Some(std::os::unix::process::parent_id())
}

/// `None`: on Windows a process keeps its parent's id after the parent exits, so it tells nothing.
#[cfg(not(unix))]
pub fn parent_id() -> Option<u32> {
    None
}

/// Spawns a task that cancels `shutdown` (the same token as `GRPCController.Shutdown`) once the parent process id
/// is no longer `parent` (read with [`parent_id`] when the provider started), i.e. once the Terraform that started
/// this provider has exited. Needs a Tokio runtime.
pub fn shutdown_when_orphaned(parent: u32, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if parent_id() != Some(parent) {
                tracing::warn!(
                    terraform_pid = parent,
                    "Terraform exited without stopping this provider: shutting down"
                );
                shutdown.cancel();
                return;
            }
        }
    });
}
