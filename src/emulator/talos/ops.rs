//! What each Talos RPC does to an emulated node, following Talos v1.12's machined (internal/app/machined/internal/
//! server/v1alpha1/v1alpha1_server.go) and maintenance service (internal/app/maintenance/server.go): the same
//! preconditions, codes and messages. Mode and role checks happen before, in [`super::api`].

use std::sync::Arc;
use std::time::Duration;

use tonic::Status;

use super::api::Ctx;
use super::config::{self, MachineType, Rejection};
use super::etcd::RemoveError;
use super::kubeconfig;
use super::node::Stage;
use crate::proto::common;
use crate::proto::machine::{self, apply_configuration_request::Mode as ApplyMode};
use crate::proto::storage;

/// Delay between an RPC's reply and the reboot or shutdown it asked for.
const ACK_DELAY: Duration = Duration::from_millis(50);
/// Talos's default TRY timeout (`constants.ConfigTryTimeout`).
const TRY_TIMEOUT: Duration = Duration::from_secs(60);

fn actor_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn check_control_plane(c: &Ctx, api: &str) -> Result<(), Status> {
    if c.node.state().is_control_plane() {
        Ok(())
    } else {
        Err(Status::unimplemented(format!(
            "{api} is only available on control plane nodes"
        )))
    }
}

fn mode_name(m: ApplyMode) -> String {
    m.as_str_name().to_ascii_lowercase().replace('_', "-")
}

/// ApplyConfiguration: maintenance mode accepts AUTO, REBOOT and TRY and installs then reboots; in secure mode
/// the modes behave as Talos documents them (NO_REBOOT and TRY only for changes that apply immediately, AUTO picks,
/// STAGED waits for the next reboot, TRY rolls back after `try_mode_timeout`).
pub fn apply(
    c: &Ctx,
    req: &machine::ApplyConfigurationRequest,
) -> Result<machine::ApplyConfiguration, Status> {
    let mode = ApplyMode::try_from(req.mode)
        .map_err(|_| Status::invalid_argument("unknown apply mode"))?;
    if !c.secure {
        let talos = c.node.talos();
        // maintenance/server.go@v1.12.11 takes AUTO, REBOOT and TRY only; apid in 1.13 maintenance takes every mode
        // (v1alpha1_server.go@v1.13.9: REBOOT becomes NO_REBOOT, nothing needs a reboot before the first boot).
        if talos.has_maintenance_service()
            && !matches!(mode, ApplyMode::Try | ApplyMode::Reboot | ApplyMode::Auto)
        {
            return Err(Status::unimplemented(format!(
                "apply configuration --mode='{}' is not supported in maintenance mode",
                mode_name(mode)
            )));
        }
        let cfg = config::validate(&req.data, &c.node.spec, &talos).map_err(|e| {
            if !talos.has_maintenance_service() {
                // v1alpha1_server.go@v1.13.9 ApplyConfiguration: decode and validation errors as InvalidArgument.
                return Status::invalid_argument(e.to_string());
            }
            match e {
                // maintenance/server.go@v1.12.11: `fmt.Errorf("failed to parse config: %w")`, a plain error that
                // grpc-go sends as Unknown.
                Rejection::Parse(e) => Status::unknown(format!("failed to parse config: {e}")),
                Rejection::Invalid(e) => {
                    Status::invalid_argument(format!("configuration validation failed: {e}"))
                }
            }
        })?;
        if req.dry_run {
            return Ok(machine::ApplyConfiguration {
                mode_details: "Dry run summary:\nNode is running in maintenance mode and does not have a config yet."
                    .into(),
                ..Default::default()
            });
        }
        if mode == ApplyMode::Staged {
            // v1alpha1_server.go@v1.13.9: STAGED only persists the config; the node boots it at its next reboot.
            c.node.state().persisted = Some(Arc::new(cfg));
            c.cluster.persist();
            return Ok(machine::ApplyConfiguration {
                mode: mode as i32,
                mode_details: "Staged configuration to be applied after the next reboot".into(),
                ..Default::default()
            });
        }
        let image = super::cluster::installer_image(&cfg.v1alpha1).map(str::to_string);
        if let Some(Err(e)) = image.as_deref().map(|i| c.cluster.factory.pull(i)) {
            // The installer runs after the answer: an image it cannot pull fails the install sequence, and the
            // machine boots its medium again, in maintenance mode without a config (RunInstallerContainer in
            // internal/pkg/install/install.go@v1.12.11 pulls the installer before it runs).
            tracing::warn!(node = %c.node.spec.name, error = %e, "install failed");
            c.cluster.reboot(
                &c.node,
                c.cluster.topology.timings.install_delay,
                Stage::Installing,
            );
            return Ok(machine::ApplyConfiguration::default());
        }
        // An install that comes to nothing (v1alpha1_sequencer_tasks.go@v1.12.11 `Install`: an installer error fires
        // "Talos install failed." and fails the task; or the machine boots its ISO again): the machine comes back
        // from its boot medium, which has no config, in maintenance mode.
        let install_fails = c.cluster.faults.install_fails(&c.node.spec.name);
        {
            let mut st = c.node.state();
            let cfg = Arc::new(cfg);
            st.active = Some(cfg.clone());
            st.persisted = (!install_fails).then_some(cfg);
        }
        c.cluster.reboot(
            &c.node,
            c.cluster.topology.timings.install_delay,
            Stage::Installing,
        );
        c.cluster.persist();
        if talos.has_maintenance_service() {
            // maintenance/server.go@v1.12.11 answers with the warnings only.
            return Ok(machine::ApplyConfiguration::default());
        }
        return Ok(machine::ApplyConfiguration {
            mode: ApplyMode::NoReboot as i32,
            mode_details: "Applied configuration without a reboot".into(),
            ..Default::default()
        });
    }
    if c.node.state().apply_rebooting {
        return Err(Status::failed_precondition(
            "configuration was already applied and node is rebooting, cannot apply more configuration changes until next reboot",
        ));
    }
    let new = Arc::new(
        // v1alpha1_server.go@v1.12.11/@v1.13.9 ApplyConfiguration: decode and validation errors as InvalidArgument.
        config::validate(&req.data, &c.node.spec, &c.node.talos())
            .map_err(|e| Status::invalid_argument(e.to_string()))?,
    );
    let current = c
        .node
        .state()
        .active
        .clone()
        .ok_or_else(|| Status::internal("no current config"))?;
    let immediate = config::can_apply_immediate(&current, &new);
    let (mode, mut details) = match mode {
        ApplyMode::Try | ApplyMode::NoReboot => {
            immediate.map_err(Status::invalid_argument)?;
            (mode, "Applied configuration without a reboot".to_string())
        }
        ApplyMode::Staged => (
            mode,
            "Staged configuration to be applied after the next reboot".to_string(),
        ),
        ApplyMode::Auto => match immediate {
            Ok(()) => (
                ApplyMode::NoReboot,
                "Applied configuration without a reboot".to_string(),
            ),
            Err(e) => (
                ApplyMode::Reboot,
                format!("Applied configuration with a reboot: {e}"),
            ),
        },
        ApplyMode::Reboot => (mode, "Applied configuration with a reboot".to_string()),
    };
    if req.dry_run {
        return Ok(machine::ApplyConfiguration {
            mode: mode as i32,
            mode_details: format!("Dry run summary:\n{details} (skipped in dry-run)."),
            ..Default::default()
        });
    }
    let mut st = c.node.state();
    if mode != ApplyMode::Try {
        st.try_generation = None;
    }
    match mode {
        ApplyMode::Try => {
            let timeout = req
                .try_mode_timeout
                .as_ref()
                .and_then(|d| Duration::try_from(*d).ok())
                .unwrap_or(TRY_TIMEOUT);
            details.push_str(&format!(
                "\nThe config is applied in 'try' mode and will be automatically reverted back in {}s",
                timeout.as_secs_f64()
            ));
            let token: u64 = rand::random();
            st.try_generation = Some(token);
            st.active = Some(new);
            drop(st);
            let (cluster, node) = (c.cluster.clone(), c.node.clone());
            tokio::spawn(async move {
                tokio::time::sleep(timeout).await;
                let rolled_back = {
                    let mut st = node.state();
                    if st.try_generation == Some(token) {
                        st.try_generation = None;
                        st.active = st.persisted.clone();
                        true
                    } else {
                        false
                    }
                };
                if rolled_back {
                    cluster.sync_listener(&node);
                    cluster.kube_join(&node);
                }
            });
            c.cluster.sync_listener(&c.node);
            c.cluster.kube_join(&c.node);
        }
        ApplyMode::NoReboot => {
            st.active = Some(new.clone());
            st.persisted = Some(new);
            drop(st);
            c.cluster.sync_listener(&c.node);
            // Talos's k8s.NodeTaintSpecController follows the live machine config (control-plane taint unless
            // cluster.allowSchedulingOnControlPlanes) and NodeApplyController writes it to the Node: no reboot.
            c.cluster.kube_join(&c.node);
        }
        ApplyMode::Staged => st.persisted = Some(new),
        _ => {
            st.persisted = Some(new);
            st.apply_rebooting = true;
            drop(st);
            c.cluster.reboot(&c.node, ACK_DELAY, Stage::Running);
        }
    }
    c.cluster.persist();
    Ok(machine::ApplyConfiguration {
        mode: mode as i32,
        mode_details: details,
        ..Default::default()
    })
}

/// Bootstrap: control planes only; AlreadyExists once the node has etcd data.
pub fn bootstrap(c: &Ctx, req: &machine::BootstrapRequest) -> Result<machine::Bootstrap, Status> {
    let st = c.node.state();
    if st.stage != Stage::Running {
        return Err(Status::failed_precondition(
            "bootstrap is not available yet",
        ));
    }
    if st.active.as_ref().map(|c| c.machine_type) != Some(MachineType::ControlPlane) {
        return Err(Status::failed_precondition(
            "bootstrap can only be performed on a control plane node",
        ));
    }
    if st.etcd_data {
        return Err(Status::already_exists("etcd data directory is not empty"));
    }
    if req.recover_etcd {
        return Err(Status::failed_precondition(
            "no etcd snapshot was uploaded for recovery",
        ));
    }
    drop(st);
    if c.cluster.etcd().is_some() && !c.cluster.in_bootstrapped_cluster(&c.node) {
        return Err(Status::failed_precondition(
            "the emulator already runs an etcd cluster for another Kubernetes CA",
        ));
    }
    c.cluster.bootstrap_etcd(&c.node);
    Ok(machine::Bootstrap::default())
}

fn local_member_id(c: &Ctx) -> Result<u64, Status> {
    let not_running =
        || Status::unknown("failed to create etcd client: etcd is not running on this node");
    if !c.node.state().etcd_data {
        return Err(not_running());
    }
    c.cluster
        .etcd()
        .as_ref()
        .and_then(|e| e.member_of(&c.node.spec.name).map(|m| m.id))
        .ok_or_else(not_running)
}

/// EtcdMemberList: the members as seen from this control plane.
pub fn etcd_member_list(c: &Ctx) -> Result<machine::EtcdMembers, Status> {
    check_control_plane(c, "etcd members list")?;
    local_member_id(c)?;
    let etcd = c.cluster.etcd();
    let members = etcd.as_ref().map(|e| e.members.clone()).unwrap_or_default();
    Ok(machine::EtcdMembers {
        metadata: None,
        legacy_members: members.iter().map(|m| m.hostname.clone()).collect(),
        members: members
            .into_iter()
            .map(|m| machine::EtcdMember {
                id: m.id,
                hostname: m.hostname,
                peer_urls: vec![m.peer_url],
                client_urls: vec![m.client_url],
                is_learner: false,
            })
            .collect(),
    })
}

/// EtcdStatus of the local member.
pub fn etcd_status(c: &Ctx) -> Result<machine::EtcdStatus, Status> {
    check_control_plane(c, "etcd status")?;
    let id = local_member_id(c)?;
    let etcd = c.cluster.etcd();
    let leader = etcd
        .as_ref()
        .and_then(|e| e.members.first())
        .map_or(0, |m| m.id);
    Ok(machine::EtcdStatus {
        metadata: None,
        member_status: Some(machine::EtcdMemberStatus {
            storage_version: "3.6.0".into(),
            member_id: id,
            protocol_version: "3.6.5".into(),
            db_size: 20 << 20,
            db_size_in_use: 12 << 20,
            leader,
            raft_index: 1000,
            raft_term: 2,
            raft_applied_index: 1000,
            errors: Vec::new(),
            is_learner: false,
        }),
    })
}

fn remove_member(c: &Ctx, id: u64) -> Result<(), RemoveError> {
    let cluster = c.cluster.clone();
    let removed = {
        let mut etcd = c.cluster.etcd();
        let e = etcd.as_mut().ok_or(RemoveError::NotFound)?;
        e.remove(id, |n| cluster.member_started(n))?
    };
    if let Some(node) = c.cluster.nodes.iter().find(|n| n.spec.name == removed.node) {
        node.state().etcd_data = false;
    }
    c.cluster.persist();
    Ok(())
}

/// EtcdLeaveCluster: removes this node's member (refused when it would break quorum, e.g. the last member).
pub fn etcd_leave(c: &Ctx) -> Result<machine::EtcdLeaveCluster, Status> {
    check_control_plane(c, "etcd leave")?;
    let id = local_member_id(c)
        .map_err(|e| Status::unknown(format!("failed to leave cluster: {}", e.message())))?;
    remove_member(c, id).map_err(|e| {
        Status::unknown(format!(
            "failed to leave cluster: failed to remove member {id}: {e}"
        ))
    })?;
    Ok(machine::EtcdLeaveCluster::default())
}

/// EtcdRemoveMemberByID: NotFound for an unknown ID; quorum rules as for leaving.
pub fn etcd_remove(c: &Ctx, id: u64) -> Result<machine::EtcdRemoveMemberById, Status> {
    check_control_plane(c, "etcd remove member")?;
    local_member_id(c)?;
    remove_member(c, id).map_err(|e| match e {
        RemoveError::NotFound => Status::not_found(format!("failed to remove member {id}: {e}")),
        RemoveError::NotEnoughStarted => Status::unknown(format!(
            "failed to remove member: failed to remove member {id}: {e}"
        )),
    })?;
    Ok(machine::EtcdRemoveMemberById::default())
}

/// EtcdForfeitLeadership: hands leadership to another member.
pub fn etcd_forfeit(c: &Ctx) -> Result<machine::EtcdForfeitLeadership, Status> {
    check_control_plane(c, "etcd forfeit leadership")?;
    let id = local_member_id(c)?;
    let mut etcd = c.cluster.etcd();
    let e = etcd
        .as_mut()
        .ok_or_else(|| Status::unknown("etcd is not running"))?;
    if e.members.len() == 1 {
        return Err(Status::unknown(
            "cannot forfeit leadership, only one member",
        ));
    }
    if e.members.first().map(|m| m.id) != Some(id) {
        return Ok(machine::EtcdForfeitLeadership::default());
    }
    e.members.rotate_left(1);
    let member = e
        .members
        .first()
        .map(|m| m.hostname.clone())
        .unwrap_or_default();
    Ok(machine::EtcdForfeitLeadership {
        metadata: None,
        member,
    })
}

/// ServiceList: see [`super::services`].
pub use super::services::service_list;

/// Kubeconfig: control planes only; see [`kubeconfig::admin_tar_gz`].
pub fn kubeconfig(c: &Ctx) -> Result<common::Data, Status> {
    check_control_plane(c, "kubeconfig")?;
    let cfg = c
        .node
        .state()
        .active
        .clone()
        .ok_or_else(|| Status::internal("no config"))?;
    let bytes = kubeconfig::admin_tar_gz(&cfg).map_err(Status::internal)?;
    Ok(common::Data {
        metadata: None,
        bytes,
    })
}

/// Reboot: the API goes down right after the reply and comes back after the reboot delay.
pub fn reboot(c: &Ctx) -> Result<machine::Reboot, Status> {
    c.cluster.reboot(&c.node, ACK_DELAY, Stage::Running);
    Ok(machine::Reboot {
        metadata: None,
        actor_id: actor_id(),
    })
}

/// Shutdown: the node powers off (down until powered on through the control endpoint).
pub fn shutdown(c: &Ctx) -> Result<machine::Shutdown, Status> {
    c.cluster.halt(&c.node, ACK_DELAY);
    Ok(machine::Shutdown {
        metadata: None,
        actor_id: actor_id(),
    })
}

const SYSTEM_LABELS: &[&str] = &["EFI", "BIOS", "BOOT", "META", "STATE", "EPHEMERAL"];

/// Reset: wipes the requested system partitions (all of them when none is named) and user disks, optionally
/// leaving etcd first (graceful), then reboots or halts. Wiping STATE drops the config: the node comes back in
/// maintenance mode and leaves the Kubernetes node list; wiping EPHEMERAL drops its etcd data.
pub fn reset(c: &Ctx, req: &machine::ResetRequest) -> Result<machine::Reset, Status> {
    use machine::reset_request::WipeMode;
    let mode = WipeMode::try_from(req.mode).unwrap_or(WipeMode::All);
    if !req.user_disks_to_wipe.is_empty() && mode == WipeMode::SystemDisk {
        return Err(Status::unknown(
            "reset failed: invalid input, wipe mode SYSTEM_DISK doesn't support UserDisksToWipe parameter",
        ));
    }
    let (installed, install_disk) = {
        let st = c.node.state();
        (
            st.installed,
            st.active.as_ref().map(|c| c.install_disk.clone()),
        )
    };
    if !c.secure {
        if !req.system_partitions_to_wipe.is_empty() {
            return Err(Status::unknown(
                "system partitions to wipe params is not supported in the maintenance mode",
            ));
        }
        if !installed {
            return Err(Status::unknown("reset failed: Talos is not installed"));
        }
    }
    for disk in &req.user_disks_to_wipe {
        if !c.node.spec.disks.iter().any(|d| &d.path == disk) {
            return Err(Status::unknown(format!(
                "reset user disk failed: device {disk} wasn't found"
            )));
        }
        if install_disk.as_deref() == Some(disk.as_str()) {
            return Err(Status::unknown(format!(
                "reset user disk failed: device {disk} is the system disk"
            )));
        }
    }
    if !req.system_partitions_to_wipe.is_empty() && mode == WipeMode::UserDisks {
        return Err(Status::unknown(
            "reset failed: invalid input, wipe mode USER_DISKS doesn't support SystemPartitionsToWipe parameter",
        ));
    }
    for p in &req.system_partitions_to_wipe {
        if !SYSTEM_LABELS.contains(&p.label.as_str()) {
            return Err(Status::unknown(format!(
                "failed to get volume status with label {:?}: resource VolumeStatuses.block.talos.dev(runtime/{}) doesn't exist",
                p.label, p.label
            )));
        }
    }
    let wipe_all = mode != WipeMode::UserDisks && req.system_partitions_to_wipe.is_empty();
    let wiped = |label: &str| {
        wipe_all
            || req
                .system_partitions_to_wipe
                .iter()
                .any(|p| p.wipe && p.label == label)
    };
    let (wipe_state, wipe_ephemeral) = (wiped("STATE"), wiped("EPHEMERAL"));
    let cp = c.node.state().is_control_plane();
    let member = local_member_id(c).ok();
    if let (true, Some(id)) = (req.graceful && cp && wipe_ephemeral, member) {
        remove_member(c, id).map_err(|e| {
            Status::failed_precondition(format!(
                "failed to leave etcd cluster: failed to remove member {id}: {e}"
            ))
        })?;
    } else if let (true, Some(_)) = (wipe_ephemeral, member) {
        // Non-graceful: the member stays listed (stale) unless it was the only one, then the cluster is gone.
        let mut etcd = c.cluster.etcd();
        if etcd.as_ref().is_some_and(|e| e.members.len() == 1) {
            *etcd = None;
            drop(etcd);
            c.cluster.kube_cluster_down();
        }
    }
    {
        let mut st = c.node.state();
        if wipe_ephemeral {
            st.etcd_data = false;
        }
        if wipe_state {
            st.persisted = None;
        }
        if wipe_all {
            st.installed = false;
            st.installed_image = None;
        }
    }
    if wipe_state {
        c.cluster.kube_leave(&c.node, cp);
    }
    if req.reboot {
        c.cluster.reboot(&c.node, ACK_DELAY, Stage::Running);
    } else {
        c.cluster.halt(&c.node, ACK_DELAY);
    }
    c.cluster.persist();
    Ok(machine::Reset {
        metadata: None,
        actor_id: actor_id(),
    })
}

/// Upgrade: after the upgrade delay the node reboots into the image's version tag.
pub fn upgrade(c: &Ctx, req: &machine::UpgradeRequest) -> Result<machine::Upgrade, Status> {
    if !c.node.state().installed {
        return Err(Status::failed_precondition("Talos is not installed"));
    }
    if !c.secure && (req.preserve || req.stage || req.force) {
        return Err(Status::unimplemented(
            "upgrade --preserve, --stage, and --force are not supported in maintenance mode",
        ));
    }
    let tag = req
        .image
        .rsplit_once(':')
        .filter(|(repo, tag)| !tag.contains('/') && !repo.is_empty())
        .map(|(_, t)| t.to_string())
        .ok_or_else(|| {
            Status::invalid_argument(format!("invalid image reference {:?}", req.image))
        })?;
    // v1alpha1_server.go@v1.12.11 Upgrade pulls and validates the installer before answering.
    c.cluster.factory.pull(&req.image).map_err(|e| {
        Status::unknown(format!(
            "error validating installer image {:?}: {e}",
            req.image
        ))
    })?;
    let generation = c.node.state().generation;
    let (cluster, node) = (c.cluster.clone(), c.node.clone());
    let delay = cluster.topology.timings.upgrade_delay;
    let image = req.image.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        {
            let mut st = node.state();
            if st.generation != generation {
                return;
            }
            st.version = tag;
            st.installed_image = Some(image);
        }
        cluster.reboot(&node, Duration::ZERO, Stage::Rebooting);
    });
    Ok(machine::Upgrade {
        metadata: None,
        ack: "Upgrade request received".into(),
        actor_id: actor_id(),
    })
}

/// Version: tag, platform `metal`; RBAC reported in secure mode.
pub fn version(c: &Ctx) -> Result<machine::Version, Status> {
    let tag = c.node.state().version.clone();
    Ok(machine::Version {
        metadata: None,
        version: Some(machine::VersionInfo {
            tag,
            sha: "emulated".into(),
            built: String::new(),
            go_version: "go1.24.9".into(),
            os: "linux".into(),
            arch: "amd64".into(),
        }),
        platform: Some(machine::PlatformInfo {
            name: "metal".into(),
            mode: "metal".into(),
        }),
        features: c.secure.then_some(machine::FeaturesInfo { rbac: true }),
    })
}

/// Hostname.
pub fn hostname(c: &Ctx) -> Result<machine::Hostname, Status> {
    Ok(machine::Hostname {
        metadata: None,
        hostname: c.node.hostname(),
    })
}

/// StorageService.Disks: the topology's disks; the install disk is the system disk once installed.
pub fn disks(c: &Ctx) -> Result<storage::Disks, Status> {
    let (installed, install_disk) = {
        let st = c.node.state();
        (
            st.installed,
            st.persisted.as_ref().map(|c| c.install_disk.clone()),
        )
    };
    let disks = c
        .node
        .spec
        .disks
        .iter()
        .map(|d| {
            let nvme = d.path.contains("nvme");
            storage::Disk {
                size: d.size.0,
                model: if nvme {
                    "Emulated NVMe"
                } else {
                    "QEMU HARDDISK"
                }
                .into(),
                device_name: d.path.clone(),
                serial: format!("EMU-{}", d.path.rsplit('/').next().unwrap_or("")),
                r#type: if nvme {
                    storage::disk::DiskType::Nvme
                } else {
                    storage::disk::DiskType::Hdd
                } as i32,
                bus_path: format!("/pci0000:00/{}", d.path.trim_start_matches("/dev/")),
                system_disk: installed && install_disk.as_deref() == Some(d.path.as_str()),
                subsystem: "/sys/class/block".into(),
                ..Default::default()
            }
        })
        .collect();
    Ok(storage::Disks {
        metadata: None,
        disks,
    })
}
