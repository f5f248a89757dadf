//! Create and update: converge the nodes to the planned configuration (issue 4, "Create" and "Update"), recording
//! progress in the state as it goes so that an error returns what exists and the next apply resumes.

use super::model::{model, Model, NodeModel};
use super::outputs;
use super::state::{self, NodeStatus};
use super::waits;
use crate::cty::Value;
use crate::framework::{ApplyError, Context, Diagnostic, Diagnostics};
use crate::k8s::{ClusterCredentials, Connection};
use crate::talos::client::{split_address, ApplyMode, BootstrapOutcome, ClientError};
use crate::talos::config;
use crate::talos::contract::{release_contract, Contract};
use crate::talos::ops::{self, Credentials, Stage};
use crate::talos::secrets::SecretsBundle;
use crate::talos::watch::NodeWatch;
use futures::future::join_all;
use std::collections::BTreeMap;
use std::time::Duration;

/// Port of the Kubernetes API server on each control plane.
pub const KUBE_API_PORT: u16 = 6443;

/// The state being built: the planned value plus computed attributes, and the per-node status.
pub(crate) struct Progress {
    pub state: Value,
    pub status: BTreeMap<String, NodeStatus>,
}

impl Progress {
    fn failed(mut self, diags: impl Into<Diagnostics>) -> ApplyError {
        state::set_status(&mut self.state, &self.status);
        ApplyError::new(diags).with_state(state::known_or_null(self.state))
    }
}

fn err(summary: impl Into<String>, detail: impl Into<String>) -> Diagnostic {
    Diagnostic::error(summary, detail)
}

/// "Node NAME <what>", or, when the node's certificate does not name the address dialed, a summary that says so.
fn node_error(node: &NodeModel, what: &str, e: &ClientError) -> Diagnostic {
    let name = &node.name;
    let summary = if e.is_certificate_name() {
        format!("The certificate of node {name:?} does not name its address")
    } else {
        format!("Node {name:?} {what}")
    };
    err(summary, waits::node_error(node, e))
}

/// Renders every node's config.
pub(crate) fn render_all(
    m: &Model,
    secrets: &SecretsBundle,
) -> Result<BTreeMap<String, String>, Diagnostics> {
    let mut out = BTreeMap::new();
    let mut diags = Diagnostics::new();
    for (name, node) in &m.nodes {
        match config::render(&m.cluster, &node.spec, secrets) {
            Ok(yaml) => {
                out.insert(name.clone(), yaml);
            }
            Err(e) => diags.push(err(
                format!("Cannot render the machine config of node {name:?}"),
                e.to_string(),
            )),
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(out)
    }
}

/// Create: secrets first (kept in every returned state from then on), then [`converge`]. A create planned with
/// known secrets resumes a failed create ([`super::resume`]): it keeps them and converges from what that create
/// had done.
pub async fn create(ctx: &Context, planned: &Value) -> Result<Value, ApplyError> {
    ctx.set_private(Vec::new()); // a resume marker must never be stored with the state
    let m = model(planned);
    let (secrets, yaml, resumed) = match planned.get("machine_secrets").as_str() {
        Some(yaml) => {
            let secrets = SecretsBundle::from_yaml(yaml).map_err(|e| {
                ApplyError::new(err(
                    "The planned machine secrets do not parse",
                    e.to_string(),
                ))
            })?;
            let resumed = super::resume::take(&ops::config_hash(yaml));
            (secrets, yaml.to_string(), resumed)
        }
        None => {
            let secrets = SecretsBundle::generate_raced(m.cluster.contract)
                .await
                .map_err(|e| {
                    ApplyError::new(err("Cannot generate the cluster secrets", e.to_string()))
                })?;
            let yaml = secrets
                .to_yaml()
                .map_err(|e| ApplyError::new(err("Cannot encode the secrets", e.to_string())))?;
            (secrets, yaml, None)
        }
    };
    let mut state = planned.clone();
    state.set("id", secrets.cluster_id.clone());
    state.set("machine_secrets", yaml);
    let progress = Progress {
        state,
        status: super::resume::status_of(resumed.as_ref()),
    };
    converge(ctx, &m, &secrets, progress, resumed.as_ref()).await
}

/// Update: same convergence from the prior status; removed nodes leave etcd and are reset.
pub async fn update(ctx: &Context, prior: &Value, planned: &Value) -> Result<Value, ApplyError> {
    let m = model(planned);
    let secrets_yaml = prior.get("machine_secrets").as_str().unwrap_or_default();
    let secrets = SecretsBundle::from_yaml(secrets_yaml).map_err(|e| {
        ApplyError::new(err(
            "The stored machine secrets do not parse",
            e.to_string(),
        ))
    })?;
    let mut state = planned.clone();
    if !planned.get("id").is_known() {
        state.set("id", secrets.cluster_id.clone());
    }
    state.set("machine_secrets", secrets_yaml.to_string());
    let status = state::status(prior);
    let progress = Progress { state, status };
    converge(ctx, &m, &secrets, progress, Some(prior))
        .await
        .map_err(|e| failed_update(prior, e))
}

/// The state returned with a failed update: what is true of the nodes. The prior state (its inputs, rendered
/// configs and client outputs: a failed update never drops `talosconfig`, `kubeconfig`, `kubernetes`,
/// `etcd_members` or `machine_secrets`) with the node status the update reached, so a node that took its new
/// config carries that config's hash. That hash differs from the prior rendered config's, so the next plan
/// plans the update again (as drift) and its apply skips the nodes already done.
fn failed_update(prior: &Value, mut error: ApplyError) -> ApplyError {
    let mut state = prior.clone();
    if let Some(reached) = error.state.take() {
        if reached.get("node_status").is_wholly_known() && !reached.get("node_status").is_null() {
            state.set("node_status", reached.get("node_status").clone());
        }
        let members = reached.get("etcd_members");
        if members.is_wholly_known() && !members.is_null() {
            state.set("etcd_members", members.clone());
        }
    }
    error.with_state(state)
}

/// Applies to nodes whose config changed or that are new, bootstraps once, waits for etcd and the Kubernetes
/// API, removes nodes no longer planned, and fills the computed attributes.
async fn converge(
    ctx: &Context,
    m: &Model,
    secrets: &SecretsBundle,
    mut p: Progress,
    prior: Option<&Value>,
) -> Result<Value, ApplyError> {
    let configs = match render_all(m, secrets) {
        Ok(c) => c,
        Err(d) => return Err(p.failed(d)),
    };
    p.state.set(
        "machine_configurations",
        Value::map(
            configs
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.clone()))),
        ),
    );
    let creds = match Credentials::from_secrets(secrets) {
        Ok(c) => c,
        Err(e) => {
            return Err(p.failed(err(
                "Cannot mint the Talos client certificate",
                e.to_string(),
            )))
        }
    };
    let imported = prior.is_some_and(|v| v.get("machine_configurations").is_null());
    let was_bootstrapped = prior.is_some_and(|v| {
        v.get("etcd_members")
            .as_list()
            .is_some_and(|l| !l.is_empty())
    });
    // A node seen in maintenance mode lost (or never finished taking) its config: apply it again, but only with
    // the user's consent when it was configured before (the plan refuses it too; the state may have changed since).
    if let Some(d) = super::trust::refuse_unconsented(m, &p.status) {
        return Err(p.failed(d));
    }
    // A control plane that took this cluster's config before and is back in maintenance mode lost its etcd data.
    let reinstalled_cp = m.control_planes().iter().any(|n| {
        p.status
            .get(&n.name)
            .is_some_and(|s| s.stage == "maintenance" && !s.config_hash.is_empty())
    });
    // A node in maintenance mode has no config in effect: it takes one as a new node. Its recorded hash stays until it
    // took the config, so a failed apply still shows it as configured before (super::trust).
    let in_maintenance = |name: &str| p.status.get(name).is_some_and(|s| s.stage == "maintenance");
    let (fresh, changed): (Vec<&NodeModel>, Vec<&NodeModel>) = m
        .nodes
        .values()
        .filter(|n| {
            in_maintenance(&n.name)
                || p.status.get(&n.name).map(|s| s.config_hash.as_str())
                    != Some(ops::config_hash(&configs[&n.name]).as_str())
        })
        .partition(|n| {
            in_maintenance(&n.name)
                || p.status
                    .get(&n.name)
                    .is_none_or(|s| s.config_hash.is_empty())
        });

    // The factory serves the schematic's installer only once it stores the schematic.
    if let Err(d) = super::extensions::register_if_needed(ctx, m, prior, !fresh.is_empty()).await {
        return Err(p.failed(d));
    }
    // New nodes: in parallel (maintenance mode, or adopted after import).
    if let Err(d) = apply_fresh(ctx, m, &configs, &creds, &fresh, imported, &mut p).await {
        return Err(p.failed(d));
    }
    // Nodes that change wait for etcd in between only where etcd runs: a create retried after failing before
    // bootstrap has none yet, whatever changed since (the nodes say so; the state only when they cannot).
    let etcd_running = match prior {
        Some(_) => {
            etcd_bootstrapped(&m.control_planes(), &creds, was_bootstrapped || imported).await
        }
        None => false,
    };
    // A new OS before a new contract: a node upgrades (still running the config it understands) before it takes
    // a config rendered for its new release (a Talos 1.11 node cannot parse the 1.12 network documents).
    // Also on a create: one that resumes a failed create may find a node left on another release.
    if let Err(d) =
        super::upgrade::upgrade_if_needed(ctx, m, prior, &creds, etcd_running, &mut p).await
    {
        return Err(p.failed(d));
    }
    // Changed nodes: one at a time, control planes first, health checked in between.
    if let Err(d) = apply_rolling(ctx, m, &configs, &creds, &changed, etcd_running, &mut p).await {
        return Err(p.failed(d));
    }
    // Nodes that took their config in an apply that did not see them come up (a failed or interrupted create or
    // update left them "booting"): the outputs say what the nodes are, so they are seen running before the apply
    // ends. They are expected down for a while (installing, rebooting): no answer window.
    let booting: Vec<&NodeModel> = m
        .nodes
        .values()
        .filter(|n| p.status.get(&n.name).is_some_and(|s| s.stage == "booting"))
        .collect();
    if let Err(d) = wait_all_secure(ctx, m, &creds, &booting, &mut p).await {
        return Err(p.failed(d));
    }
    let kube = match outputs::kube_access(secrets, prior, &p.state) {
        Ok(k) => k,
        Err(d) => return Err(p.failed(d)),
    };
    if let Err(d) = bootstrap_and_wait(
        ctx,
        m,
        &creds,
        was_bootstrapped || imported,
        reinstalled_cp,
        &kube,
        &mut p,
    )
    .await
    {
        return Err(p.failed(d));
    }
    if let Some(prior) = prior {
        if let Err(d) = super::delete::remove_nodes(ctx, m, prior, &creds, &mut p).await {
            return Err(p.failed(d));
        }
    }
    if let Err(d) = outputs::fill(m, secrets, &kube, prior, &mut p.state) {
        return Err(p.failed(d));
    }
    // Every node of the state is now a configured one: entries of nodes removed or never created go.
    p.status.retain(|name, _| m.nodes.contains_key(name));
    state::set_status(&mut p.state, &p.status);
    Ok(p.state)
}

async fn apply_fresh(
    ctx: &Context,
    m: &Model,
    configs: &BTreeMap<String, String>,
    creds: &Credentials,
    nodes: &[&NodeModel],
    imported: bool,
    p: &mut Progress,
) -> Result<(), Diagnostics> {
    let window = super::reach::window(&p.state);
    let applies = nodes.iter().map(|n| async move {
        let config = &configs[&n.name];
        if imported {
            if let Some(running) = adopt(&n.address, creds).await {
                return (n.name.clone(), Ok(Some(running))); // adopted as it runs
            }
        }
        let what = format!("applying the machine config to node {:?}", n.name);
        let watch = NodeWatch::new("applying the machine config", &n.address, Some(window));
        let result = waits::on_node(
            ctx,
            &what,
            n,
            Some(creds),
            &watch,
            ops::apply_config_watched(
                &n.address,
                config,
                m.apply_mode,
                creds,
                n.cert_fingerprint,
                &watch,
            ),
        )
        .await;
        let result = match result {
            Ok(Err(e)) if e.is_config_rejected() => {
                Err(rejection_detail(n, &e, m.cluster.contract).await)
            }
            Ok(Err(e)) => Err(waits::node_error(n, &e)),
            Ok(Ok(_)) => Ok(None),
            Err(d) => Err(d.detail),
        };
        (n.name.clone(), result)
    });
    let mut diags = Diagnostics::new();
    for (name, result) in join_all(applies).await {
        match result {
            Ok(adopted) => {
                let entry = p.status.entry(name.clone()).or_default();
                entry.config_hash = adopted.unwrap_or_else(|| ops::config_hash(&configs[&name]));
                entry.stage = "booting".into();
            }
            Err(reason) => diags.push(err(
                format!("Cannot apply the machine config to node {name:?}"),
                reason,
            )),
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    wait_all_secure(ctx, m, creds, nodes, p).await
}

/// Why a node refused its config, with the Talos version it runs (asked again in maintenance mode) and the contract
/// that fits it: a node older than the config's contract cannot parse the documents that contract added.
async fn rejection_detail(n: &NodeModel, e: &ClientError, contract: Contract) -> String {
    let version = ops::maintenance_version(&n.address).await.ok().flatten();
    let mut out = format!("{e}.");
    match version.as_deref() {
        Some(v) => match release_contract(v) {
            Some(node) if node < contract => out.push_str(&format!(
                " The node runs Talos {v}, older than the Talos {contract} contract of talos_version: it cannot \
                 parse what that contract renders. Set talos_version = \"{node}\" for this node's release, or boot \
                 the node from a Talos {contract} (or later) image."
            )),
            _ => out.push_str(&format!(
                " The node runs Talos {v}; the config follows the Talos {contract} contract."
            )),
        },
        None => out.push_str(" The node did not say which Talos version it runs."),
    }
    out
}

/// Adopting a node of an imported cluster: when it runs this cluster (answers with the imported credentials),
/// the hash of the machine config it runs, which becomes its applied config (a config other than the rendered
/// one then shows as drift in the next plan); `None` when it does not run the cluster.
async fn adopt(address: &str, creds: &Credentials) -> Option<String> {
    let Stage::Running { .. } = ops::probe(address, creds).await else {
        return None;
    };
    let running = creds.client(address).ok()?.machine_config().await;
    Some(match running {
        Ok(Some(yaml)) => ops::config_hash(&yaml),
        _ => String::new(), // unreadable: treated as drift, so the next plan re-applies the config
    })
}

/// Waits until each of `nodes` answers the secure API (they took their config and reboot: no answer window, a
/// node going down is expected) and records them as running. A wait that times out names what it saw.
pub(crate) async fn wait_all_secure(
    ctx: &Context,
    _m: &Model,
    creds: &Credentials,
    nodes: &[&NodeModel],
    p: &mut Progress,
) -> Result<(), Diagnostics> {
    let waits = nodes.iter().map(|n| async move {
        let what = format!(
            "waiting for the Talos API of node {:?} (secure mode)",
            n.name
        );
        let watch = NodeWatch::new("waiting for the Talos API in secure mode", &n.address, None);
        let result = waits::on_node(
            ctx,
            &what,
            n,
            Some(creds),
            &watch,
            ops::wait_secure_watched(&n.address, creds, &watch),
        )
        .await;
        (*n, result)
    });
    let mut diags = Diagnostics::new();
    for (node, result) in join_all(waits).await {
        match result {
            Ok(Ok(version)) => {
                let entry = p.status.entry(node.name.clone()).or_default();
                entry.stage = "running".into();
                entry.reachable = true;
                entry.talos_version = version;
            }
            Ok(Err(e)) => diags.push(node_error(node, "did not come up", &e)),
            Err(d) => diags.push(d),
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(())
    }
}

/// Applies changed configs one node at a time; with `etcd_running`, each control plane must be back in etcd before
/// the next node starts.
async fn apply_rolling(
    ctx: &Context,
    m: &Model,
    configs: &BTreeMap<String, String>,
    creds: &Credentials,
    nodes: &[&NodeModel],
    etcd_running: bool,
    p: &mut Progress,
) -> Result<(), Diagnostics> {
    let mut ordered: Vec<&&NodeModel> = nodes.iter().filter(|n| n.is_control_plane()).collect();
    ordered.extend(nodes.iter().filter(|n| !n.is_control_plane()));
    let mut rebooted = Vec::new();
    let window = super::reach::window(&p.state);
    for node in ordered {
        let config = &configs[&node.name];
        let what = format!(
            "applying the changed machine config to node {:?}",
            node.name
        );
        let watch = NodeWatch::new(
            "applying the changed machine config",
            &node.address,
            Some(window),
        );
        let outcome = waits::on_node(
            ctx,
            &what,
            node,
            Some(creds),
            &watch,
            ops::apply_changed_config(&node.address, config, m.apply_mode, creds, &watch),
        )
        .await?
        .map_err(|e| {
            let what = match e {
                ClientError::NoAnswer { .. } => "does not answer",
                _ => "refused the changed config",
            };
            Diagnostics::from(node_error(node, what, &e))
        })?;
        if outcome.mode == "REBOOT" {
            rebooted.push(node.name.clone());
        }
        p.status.entry(node.name.clone()).or_default().config_hash = ops::config_hash(config);
        wait_all_secure(ctx, m, creds, &[node], p).await?;
        if node.is_control_plane() && m.apply_mode != ApplyMode::Staged && etcd_running {
            wait_etcd(ctx, m, creds, &[]).await?;
        }
    }
    if !rebooted.is_empty() {
        ctx.warn(Diagnostic::warning(
            "Nodes rebooted to apply the change",
            format!(
                "These nodes rebooted, one at a time: {}.",
                rebooted.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Waits until every planned control plane is a voting etcd member and no hostname in `gone` is a member.
pub(crate) async fn wait_etcd(
    ctx: &Context,
    m: &Model,
    creds: &Credentials,
    gone: &[String],
) -> Result<Vec<String>, Diagnostics> {
    let cps = m.control_planes();
    let Some(first) = cps.first() else {
        return Ok(Vec::new());
    };
    let expected: Vec<String> = cps
        .iter()
        .map(|n| n.spec.network.hostname.clone())
        .collect();
    let members = ctx
        .run(
            "waiting for every control plane to join etcd",
            ops::wait_etcd_members(&first.address, creds, &expected, gone),
        )
        .await?
        .map_err(|e| Diagnostics::from(err("Cannot list etcd members", e.to_string())))?;
    let mut names: Vec<String> = members.into_iter().map(|m| m.hostname).collect();
    names.sort();
    Ok(names)
}

async fn bootstrap_and_wait(
    ctx: &Context,
    m: &Model,
    creds: &Credentials,
    already: bool,
    reinstalled_cp: bool,
    kube: &outputs::KubeAccess,
    p: &mut Progress,
) -> Result<(), Diagnostics> {
    let cps = m.control_planes();
    let Some(first) = cps.first() else {
        return Ok(());
    };
    // The nodes decide, the state only breaks a tie: a control plane with etcd members means bootstrapped; every
    // control plane answering that etcd does not run means not (a fresh cluster, a create retried after a failure
    // before bootstrap, or every control plane reset); otherwise (some do not answer) the state says. Talos refuses
    // a second bootstrap of a node with etcd data (AlreadyExists), which guards the rest.
    let bootstrap = !etcd_bootstrapped(&cps, creds, already).await;
    if bootstrap {
        let client = creds
            .client(&first.address)
            .map_err(|e| Diagnostics::from(err("Bad node address", e.to_string())))?;
        let budget = ctx.remaining().unwrap_or(Duration::from_secs(600));
        let outcome = ctx
            .run(
                &format!("bootstrapping etcd on node {:?}", first.name),
                client.bootstrap(budget),
            )
            .await?
            .map_err(|e| {
                Diagnostics::from(err(
                    format!("Cannot bootstrap etcd on {:?}", first.name),
                    e.to_string(),
                ))
            })?;
        if (already || reinstalled_cp) && outcome == BootstrapOutcome::Bootstrapped {
            ctx.warn(Diagnostic::warning(
                "etcd was bootstrapped again",
                "The state knew this cluster as bootstrapped, but no control plane ran etcd any more (they were \
                 all reset): the etcd data, and with it every Kubernetes object, was gone. A new etcd cluster was \
                 bootstrapped; Kubernetes resources managed by other Terraform resources are created again by \
                 their next apply.",
            ));
        }
    }
    let members = wait_etcd(ctx, m, creds, &[]).await?;
    p.state.set("etcd_members", Value::string_list(members));
    wait_kubernetes(ctx, first, kube).await?;
    waits::wait_endpoint(ctx, m, first, kube).await
}

/// What the control planes say of etcd.
enum EtcdSeen {
    /// One answers with members.
    Members,
    /// Every one answers the secure API and none runs etcd (e.g. "failed to create etcd client").
    NowhereRunning,
    /// Some do not answer and none has members.
    Unknown,
}

/// Whether etcd was bootstrapped: a control plane lists members (yes), every control plane answers that etcd
/// does not run (no), else `recorded` (what the state says).
async fn etcd_bootstrapped(cps: &[&NodeModel], creds: &Credentials, recorded: bool) -> bool {
    match etcd_seen(cps, creds).await {
        EtcdSeen::Members => true,
        EtcdSeen::NowhereRunning => false,
        EtcdSeen::Unknown => recorded,
    }
}

async fn etcd_seen(cps: &[&NodeModel], creds: &Credentials) -> EtcdSeen {
    let answers = join_all(cps.iter().map(|n| async move {
        match creds.client(&n.address) {
            Ok(c) => c.etcd_member_list().await,
            Err(e) => Err(e),
        }
    }))
    .await;
    if answers
        .iter()
        .any(|a| a.as_ref().is_ok_and(|m| !m.is_empty()))
    {
        EtcdSeen::Members
    } else if answers.iter().all(|a| match a {
        Ok(_) => true,
        Err(e) => e.is_node_answer(),
    }) {
        EtcdSeen::NowhereRunning
    } else {
        EtcdSeen::Unknown
    }
}

/// Waits until the Kubernetes API answers on the first control plane's own address (the VIP may not be up).
async fn wait_kubernetes(
    ctx: &Context,
    first: &NodeModel,
    kube: &outputs::KubeAccess,
) -> Result<(), Diagnostics> {
    let (host, _) = split_address(&first.address)
        .map_err(|e| Diagnostics::from(err("Bad node address", e.to_string())))?;
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let connection = Connection::Credentials(ClusterCredentials {
        host: format!("https://{host}:{KUBE_API_PORT}"),
        ca_certificate: kube.ca.clone(),
        client_certificate: kube.admin.crt.clone(),
        client_key: kube.admin.key.clone(),
    });
    let budget = ctx.remaining().unwrap_or(Duration::from_secs(600));
    ctx.run("waiting for the Kubernetes API", connection.connect(budget))
        .await?
        .map(|_| ())
        .map_err(|e| Diagnostics::from(err("The Kubernetes API did not answer", e.to_string())))
}
