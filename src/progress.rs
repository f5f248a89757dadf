//! Progress of long steps, shared by every layer without coupling them: the framework runs each long step inside a
//! [`Slot`] ([`Slot::scope`]) and reports, every 30 s, what the step last saw; the domain code (Talos and
//! Kubernetes waits) records that with [`observe`] without knowing who listens. Outside a scope, [`observe`] does
//! nothing. Observations are shown in logs: never put a secret in one (errors and states only, no configs).

use std::future::Future;
use std::sync::{Arc, Mutex};

tokio::task_local! {
    static CURRENT: Slot;
}

/// Where one step's last observation is kept.
#[derive(Clone, Debug, Default)]
pub struct Slot(Arc<Mutex<Option<String>>>);

impl Slot {
    /// Runs `fut` with this slot receiving its [`observe`] calls (those of the task polling it, including
    /// futures joined with it; not those of spawned tasks).
    pub async fn scope<F: Future>(&self, fut: F) -> F::Output {
        CURRENT.scope(self.clone(), fut).await
    }

    /// The last observation, if any.
    pub fn last(&self) -> Option<String> {
        self.0.lock().ok().and_then(|l| l.clone())
    }
}

/// Records what the current step just saw, e.g. `node 10.0.0.5: connection refused` or `1/3 pods ready`.
pub fn observe(text: impl Into<String>) {
    let _ = CURRENT.try_with(|slot| {
        if let Ok(mut last) = slot.0.lock() {
            *last = Some(text.into());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn observations_reach_their_scope_only() {
        observe("outside: dropped");
        let slot = Slot::default();
        let other = Slot::default();
        slot.scope(async {
            observe("first");
            other.scope(async { observe("inner") }).await;
            observe("second");
        })
        .await;
        assert_eq!(slot.last().as_deref(), Some("second"));
        assert_eq!(other.last().as_deref(), Some("inner"));
    }
}
