//! `ServiceList` of an emulated node: the services Talos's service manager holds, sorted by id
//! (internal/app/machined/pkg/system/system.go@v1.12.11 `List`), each as its ServiceRunner reports it
//! (service_runner.go `AsProto`: state name, event history, health).
//!
//! Which services exist follows the boot sequence at each tag (internal/app/machined/pkg/runtime/v1alpha1/
//! v1alpha1_sequencer.go `Initialize` and `StartAllServices` in v1alpha1_sequencer_tasks.go, main.go):
//! - early services, also in maintenance mode: udevd, machined, auditd, syslogd, containerd, dashboard; apid too
//!   from v1.13 (started in `Initialize`; up to v1.12 apid starts only after the install sequence, and
//!   maintenance mode does not serve ServiceList at all);
//! - once booted with a config: apid, cri, kubelet, and on control planes trustd and etcd.
//!
//! States and health: every service runs and passes its health check, except the dashboard, which has no health
//! check (health unknown), and etcd on a control plane that has not joined a bootstrapped cluster, which waits in
//! its pre stage (`Preparing`, "Running pre state", health unknown). The kubelet's check is its `/healthz`
//! (services/kubelet.go@v1.12.11), which answers once the kubelet runs, before the node registers.

use std::time::SystemTime;

use tonic::Status;

use super::api::Ctx;
use super::node::Stage;
use crate::proto::machine;

/// How a service's runner reports its start (internal/app/machined/pkg/system/runner/*@v1.12.11).
#[derive(Clone, Copy)]
enum Runner {
    /// goroutine.go: "Service started as goroutine".
    Goroutine,
    /// process.go: "Process Process(<args as Go %q>) started with PID <pid>"; the text is the Go-quoted args.
    Process(&'static str),
    /// containerd.go: "Started task <id> (PID <pid>) for container <id>".
    Container,
}

/// One service: id, runner, whether it implements `HealthcheckedService`.
struct Svc {
    id: &'static str,
    runner: Runner,
    health_checked: bool,
}

const fn svc(id: &'static str, runner: Runner, health_checked: bool) -> Svc {
    Svc {
        id,
        runner,
        health_checked,
    }
}

/// Early services (v1alpha1_sequencer.go `Initialize`, phase "earlyServices", plus "dashboard").
const EARLY: &[Svc] = &[
    svc(
        "udevd",
        Runner::Process(r#"["/sbin/systemd-udevd" "--resolve-names=never"]"#),
        true,
    ),
    svc("machined", Runner::Goroutine, true),
    svc("auditd", Runner::Goroutine, true),
    svc("syslogd", Runner::Goroutine, true),
    svc(
        "containerd",
        Runner::Process(
            r#"["/bin/containerd" "--address" "/system/run/containerd/containerd.sock" "--state" "/system/run/containerd" "--root" "/system/var/lib/containerd"]"#,
        ),
        true,
    ),
    svc(
        "dashboard",
        Runner::Process(r#"["/sbin/dashboard"]"#),
        false,
    ),
];

const APID: Svc = svc("apid", Runner::Container, true);
const CRI: Svc = svc(
    "cri",
    Runner::Process(
        r#"["/bin/containerd" "--address" "/run/containerd/containerd.sock" "--config" "/etc/cri/containerd.toml"]"#,
    ),
    true,
);
const KUBELET: Svc = svc("kubelet", Runner::Container, true);
const TRUSTD: Svc = svc("trustd", Runner::Container, true);
const ETCD: Svc = svc("etcd", Runner::Container, true);

fn event(msg: String, state: &str, ts: &prost_types::Timestamp) -> machine::ServiceEvent {
    machine::ServiceEvent {
        msg,
        state: state.into(),
        ts: Some(*ts),
    }
}

/// The Go zero time as `timestamppb.New` encodes it: the health's `last_change` of a service never checked.
fn go_zero_time() -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: -62_135_596_800,
        nanos: 0,
    }
}

/// A service that reached Running (and, when health-checked, passed its first check).
fn running(s: &Svc, pid: u32, ts: &prost_types::Timestamp) -> machine::ServiceInfo {
    let started = match s.runner {
        Runner::Goroutine => "Service started as goroutine".to_string(),
        Runner::Process(args) => format!("Process Process({args}) started with PID {pid}"),
        Runner::Container => format!("Started task {0} (PID {pid}) for container {0}", s.id),
    };
    let mut events = vec![
        event("Starting service".into(), "Starting", ts),
        event("Running pre state".into(), "Preparing", ts),
        event("Creating service runner".into(), "Preparing", ts),
        event(started, "Running", ts),
    ];
    if s.health_checked {
        events.push(event("Health check successful".into(), "Running", ts));
    }
    machine::ServiceInfo {
        id: s.id.into(),
        state: "Running".into(),
        events: Some(machine::ServiceEvents { events }),
        health: Some(machine::ServiceHealth {
            unknown: !s.health_checked,
            healthy: s.health_checked,
            last_message: String::new(),
            last_change: Some(if s.health_checked {
                *ts
            } else {
                go_zero_time()
            }),
        }),
    }
}

/// etcd held in its pre stage until the cluster is bootstrapped or it joins one.
fn etcd_waiting(ts: &prost_types::Timestamp) -> machine::ServiceInfo {
    machine::ServiceInfo {
        id: ETCD.id.into(),
        state: "Preparing".into(),
        events: Some(machine::ServiceEvents {
            events: vec![
                event("Starting service".into(), "Starting", ts),
                event("Running pre state".into(), "Preparing", ts),
            ],
        }),
        health: Some(machine::ServiceHealth {
            unknown: true,
            healthy: false,
            last_message: String::new(),
            last_change: Some(go_zero_time()),
        }),
    }
}

/// Whether Talos `version` (a tag such as `v1.13.9`) starts apid in its early services (from 1.13).
fn early_apid(version: &str) -> bool {
    super::cosi_access::at_least(version, 13)
}

/// ServiceList of the node of `c` (see the module doc).
pub fn service_list(c: &Ctx) -> Result<machine::ServiceList, Status> {
    let (stage, cp, etcd_data, version) = {
        let st = c.node.state();
        (
            st.stage,
            st.is_control_plane(),
            st.etcd_data,
            st.version.clone(),
        )
    };
    let ts = prost_types::Timestamp::from(SystemTime::now());
    let mut out: Vec<machine::ServiceInfo> = Vec::new();
    let mut pid = 1000;
    let mut add = |s: &Svc, out: &mut Vec<machine::ServiceInfo>| {
        pid += 17;
        out.push(running(s, pid, &ts));
    };
    for s in EARLY {
        add(s, &mut out);
    }
    let booted = stage == Stage::Running;
    if booted || early_apid(&version) {
        add(&APID, &mut out);
    }
    if booted {
        add(&CRI, &mut out);
        add(&KUBELET, &mut out);
        if cp {
            add(&TRUSTD, &mut out);
            if etcd_data && c.cluster.in_bootstrapped_cluster(&c.node) {
                add(&ETCD, &mut out);
            } else {
                out.push(etcd_waiting(&ts));
            }
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(machine::ServiceList {
        metadata: None,
        services: out,
    })
}
