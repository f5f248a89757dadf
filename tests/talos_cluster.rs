//! `vixens_talos_cluster` through the real Terraform CLI against the `vixens-emulator` binary on loopback
//! addresses (127.0.111.0/24 and 127.0.112.0/24). Management VLAN 111 carries the node addresses and a loopback
//! VIP that the emulator serves the Kubernetes API on after bootstrap; VLAN 208 uses 192.168.208.0/24, which is
//! only rendered, never contacted.

mod common;

use common::emulator::control_post;
use common::{Terraform, Workspace};

/// A running `vixens-emulator` process (killed on drop) for nodes named `nodes` at `<prefix>.11`, `.12`, ...
struct EmulatorProcess(#[allow(dead_code)] common::emulator::EmulatorProcess);

impl EmulatorProcess {
    fn start(prefix: &str, nodes: &[&str], install_delay_ms: u64) -> EmulatorProcess {
        Self::start_with(prefix, nodes, install_delay_ms, "", None)
    }

    fn start_with(
        prefix: &str,
        nodes: &[&str],
        install_delay_ms: u64,
        extra: &str,
        control: Option<&str>,
    ) -> EmulatorProcess {
        let mut topology = String::from("nodes:\n");
        for (i, name) in nodes.iter().enumerate() {
            topology.push_str(&format!(
                "- {{name: {name}, address: {prefix}.{}}}\n",
                11 + i
            ));
        }
        topology.push_str(&format!(
            "timings: {{install_delay: {install_delay_ms}ms, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms}}\n"
        ));
        topology.push_str(extra);
        EmulatorProcess(common::emulator::EmulatorProcess::start(&topology, control))
    }
}

/// A node block: `cp` or worker, address `<prefix>.<ip>`, VLAN 111 on the node address and (control planes)
/// the loopback VIP `<prefix>.100`.
fn node(prefix: &str, name: &str, ip: u8, controlplane: bool) -> String {
    let role = if controlplane {
        "controlplane"
    } else {
        "worker"
    };
    let vip = if controlplane {
        format!("vip = \"{prefix}.100\"")
    } else {
        String::new()
    };
    format!(
        r#"
  nodes {{
    name    = "{name}"
    address = "{prefix}.{ip}"
    role    = "{role}"
    nameservers = ["{prefix}.1"]
    link {{
      name = "eth0"
      vlan {{
        vlan_id   = 111
        addresses = ["{prefix}.{ip}/24"]
        {vip}
        route {{
          gateway = "{prefix}.1"
        }}
      }}
      vlan {{
        vlan_id   = 208
        addresses = ["192.168.208.{ip}/24"]
      }}
    }}
  }}"#
    )
}

fn cluster(prefix: &str, cps: usize, workers: usize, extra: &str) -> String {
    let mut nodes = String::new();
    for i in 0..cps {
        nodes.push_str(&node(prefix, &format!("cp{}", i + 1), 11 + i as u8, true));
    }
    for i in 0..workers {
        nodes.push_str(&node(
            prefix,
            &format!("w{}", i + 1),
            11 + (3 + i) as u8,
            false,
        ));
    }
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name  = "vixens"
  endpoint      = "https://{prefix}.100:6443"
  talos_version = "1.12"
  {extra}
  {nodes}
  timeouts {{
    create = "60s"
    update = "60s"
    delete = "60s"
  }}
}}

output "members" {{
  value = vixens_talos_cluster.c.etcd_members
}}
"#
    )
}

/// Applies `node`'s config from the state with one sysctl added, straight through the Talos API (NO_REBOOT), as
/// someone running `talosctl apply-config` would.
fn change_config_behind_terraforms_back(values: &serde_json::Value, node: &str, address: &str) {
    use vixens::talos::client::ApplyMode;
    let secrets = vixens::talos::secrets::SecretsBundle::from_yaml(
        values["machine_secrets"].as_str().unwrap(),
    )
    .unwrap();
    let creds = vixens::talos::ops::Credentials::from_secrets(&secrets).unwrap();
    let config = values["machine_configurations"][node].as_str().unwrap();
    let mut docs: Vec<serde_json::Value> = vixens::yaml::documents(config).unwrap();
    docs[0]["machine"]["sysctls"] = vixens::yaml::from_str("{kernel.pid_max: '4194304'}").unwrap();
    let changed: Vec<String> = docs
        .iter()
        .map(|d| vixens::yaml::to_string(d).unwrap())
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = creds.client(address).unwrap();
        client
            .apply_configuration(changed.join("---\n").as_bytes(), ApplyMode::NoReboot)
            .await
            .unwrap();
        let running = client.machine_config().await.unwrap().unwrap();
        assert!(running.contains("kernel.pid_max"), "{running}");
    });
}

/// The taints (`key:effect`) of Kubernetes Node `node`, read with the state's kubeconfig.
fn node_taints(ws: &Workspace, node: &str) -> Vec<String> {
    use k8s_openapi::api::core::v1::Node;
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    let kubeconfig = values["kubeconfig"].as_str().unwrap().to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = vixens::k8s::Connection::Kubeconfig(kubeconfig)
            .connect(std::time::Duration::from_secs(20))
            .await
            .unwrap();
        let api: kube::Api<Node> = kube::Api::all(client);
        let node = api.get(node).await.unwrap();
        node.spec
            .and_then(|s| s.taints)
            .unwrap_or_default()
            .into_iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect()
    })
}

/// The Kubernetes API server's `gitVersion` and Node `node`'s kubelet version, read with the state's kubeconfig.
fn kubernetes_versions(ws: &Workspace, node: &str) -> (String, String) {
    use k8s_openapi::api::core::v1::Node;
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    let kubeconfig = values["kubeconfig"].as_str().unwrap().to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = vixens::k8s::Connection::Kubeconfig(kubeconfig)
            .connect(std::time::Duration::from_secs(20))
            .await
            .unwrap();
        let server = client.apiserver_version().await.unwrap().git_version;
        let api: kube::Api<Node> = kube::Api::all(client);
        let kubelet = api
            .get(node)
            .await
            .unwrap()
            .status
            .unwrap()
            .node_info
            .unwrap()
            .kubelet_version;
        (server, kubelet)
    })
}

fn etcd_members(ws: &Workspace) -> Vec<String> {
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    values["etcd_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn one_control_plane_then_three_then_worker_then_destroy() {
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let prefix = "127.0.111";
    let _emulator = EmulatorProcess::start(prefix, &["cp1", "cp2", "cp3", "w1"], 0);
    let ws = Workspace::new(&tf, &cluster(prefix, 1, 0, ""));
    ws.init();
    ws.ok(&["validate"]);

    // 1. One control plane, then an empty plan. No node can run workloads (no worker, scheduling on control
    // planes off): the plan warns at the attribute, and Talos taints the control plane.
    let started = std::time::Instant::now();
    let created = ws.apply();
    eprintln!("create with 1 control plane: {:?}", started.elapsed());
    assert!(
        created.all().contains("No node can run workloads")
            && created.all().contains("allow_scheduling_on_control_planes"),
        "{}",
        created.all()
    );
    assert_eq!(ws.plan_exit_code(), 0, "plan after create must be empty");
    const CP_TAINT: &str = "node-role.kubernetes.io/control-plane:NoSchedule";
    assert!(node_taints(&ws, "cp1").iter().any(|t| t == CP_TAINT));
    let default_version = ("v1.35.4".to_string(), "v1.35.4".to_string()); // contract 1.12's default
    assert_eq!(kubernetes_versions(&ws, "cp1"), default_version);
    // Turning scheduling on is a `cluster.*` change Talos applies without a reboot; its node-taint controller
    // then removes the taint. A Kubernetes version bump (kubelet and control-plane images) applies without a
    // reboot too; the API server and the kubelet then run the new images. The plan after it is empty.
    ws.write_config(&cluster(
        prefix,
        1,
        0,
        "allow_scheduling_on_control_planes = true\n  kubernetes_version = \"1.35.5\"",
    ));
    let allowed = ws.apply();
    assert!(
        !allowed.all().contains("No node can run workloads"),
        "{}",
        allowed.all()
    );
    assert!(!allowed.all().contains("rebooted"), "{}", allowed.all());
    assert!(!node_taints(&ws, "cp1").iter().any(|t| t == CP_TAINT));
    assert_eq!(
        kubernetes_versions(&ws, "cp1"),
        ("v1.35.5".to_string(), "v1.35.5".to_string())
    );
    assert_eq!(ws.plan_exit_code(), 0);
    ws.write_config(&cluster(prefix, 1, 0, ""));
    ws.apply();
    assert!(node_taints(&ws, "cp1").iter().any(|t| t == CP_TAINT));
    assert_eq!(kubernetes_versions(&ws, "cp1"), default_version);
    assert_eq!(etcd_members(&ws), ["cp1"]);
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    let secrets = values["machine_secrets"].as_str().unwrap().to_string();
    assert!(secrets.contains("trustdinfo:"));
    assert!(values["kubeconfig"]
        .as_str()
        .unwrap()
        .contains(&format!("https://{prefix}.100:6443")));
    assert_eq!(values["node_status"]["cp1"]["stage"], "running");

    // Drift: cp1's config is changed behind Terraform's back (applied with the Talos client directly); the
    // refresh reads the config back from the node, the plan shows a diff, and the apply puts it back.
    change_config_behind_terraforms_back(&values, "cp1", &format!("{prefix}.11"));
    assert_eq!(ws.plan_exit_code(), 2, "a changed node config is drift");
    ws.apply();
    assert_eq!(ws.plan_exit_code(), 0, "the apply restored the config");
    let restored = ws.resource("vixens_talos_cluster.c").unwrap();
    assert_eq!(
        restored["node_status"]["cp1"]["config_hash"],
        values["node_status"]["cp1"]["config_hash"]
    );

    // 2. Scale to three control planes; the secrets stay; the plan is empty again.
    ws.write_config(&cluster(prefix, 3, 0, ""));
    ws.apply();
    assert_eq!(etcd_members(&ws), ["cp1", "cp2", "cp3"]);
    assert_eq!(ws.plan_exit_code(), 0, "plan after scale-up must be empty");
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    assert_eq!(
        values["machine_secrets"].as_str().unwrap(),
        secrets,
        "secrets are never re-minted"
    );

    // 3. Two control planes are refused at plan time, with the attribute named.
    ws.write_config(&cluster(prefix, 2, 0, ""));
    let refused = ws.fails(&["plan", "-input=false"]);
    assert!(refused.all().contains("odd number"), "{}", refused.all());

    // 4. Add, then remove, a worker.
    ws.write_config(&cluster(prefix, 3, 1, ""));
    ws.apply();
    assert_eq!(ws.plan_exit_code(), 0);
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    assert_eq!(values["node_status"]["w1"]["stage"], "running");
    ws.write_config(&cluster(prefix, 3, 0, ""));
    ws.apply();
    assert_eq!(ws.plan_exit_code(), 0);
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    assert!(values["node_status"].get("w1").is_none());

    // 6. Destroy resets every node: they are back in maintenance mode and take a fresh config again.
    ws.destroy();
    let again = Workspace::new(&tf, &cluster(prefix, 1, 0, ""));
    again.init();
    again.apply();
    assert_eq!(etcd_members(&again), ["cp1"]);
    again.destroy();
}

#[test]
fn plan_time_validation_names_attributes() {
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let prefix = "127.0.112";
    let bad = cluster(
        prefix,
        1,
        0,
        "kubernetes_version = \"1.20.0\"\n  config_patches = [\"machine: [\"]",
    )
    .replace("vlan_id   = 208", "vlan_id   = 5000");
    let ws = Workspace::new(&tf, &bad);
    ws.init();
    let out = ws.fails(&["plan", "-input=false"]);
    let all = out.all();
    for needle in [
        "Unsupported Kubernetes version",
        "Invalid config patch",
        "Invalid VLAN id",
    ] {
        assert!(all.contains(needle), "{needle} missing:\n{all}");
    }
}

/// POSTs a JSON body to the emulator's control endpoint (plain HTTP/1.1 on loopback).
#[test]
fn faults_converge_without_losing_state_and_upgrades_roll() {
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let prefix = "127.0.113";
    let control = "127.0.113.250:17070";
    // cp1's first Bootstrap fails (transient), cp3 is powered off when the apply starts.
    let faults = "faults:\n  nodes:\n    cp1: {fail_next: {Bootstrap: unavailable}}\n    cp3: {down: true}\n";
    let _emulator =
        EmulatorProcess::start_with(prefix, &["cp1", "cp2", "cp3"], 0, faults, Some(control));
    let mut ws = Workspace::new(&tf, &cluster(prefix, 3, 0, ""));
    ws.init();
    // A plan would refuse the powered-off cp3 (plan-time node checks): this apply is planned without them, as a
    // machine powered on while the apply starts is, and waits for cp3 within the answer window.
    ws.set_env("VIXENS_CHECK_NODES_AT_PLAN", "false");
    std::thread::scope(|scope| {
        let apply = scope.spawn(|| ws.apply());
        std::thread::sleep(std::time::Duration::from_secs(3));
        control_post(control, "/faults/nodes/cp3", r#"{"down": false}"#);
        apply.join().unwrap();
    });
    assert_eq!(etcd_members(&ws), ["cp1", "cp2", "cp3"]);
    assert_eq!(ws.plan_exit_code(), 0);
    let secrets = ws.resource("vixens_talos_cluster.c").unwrap()["machine_secrets"].clone();

    // A changed config that cp2 rejects once (cp1, first in the rolling order, takes it): the update fails and the
    // state describes the nodes: the prior inputs, configs and client outputs, cp1 with its new config's hash.
    // The next plan plans the update again without planning the outputs as new; a re-apply converges.
    let before = ws.resource("vixens_talos_cluster.c").unwrap();
    let patched = cluster(
        prefix,
        3,
        0,
        "config_patches = [\"machine:\\n  sysctls:\\n    vm.max_map_count: \\\"262144\\\"\\n\"]",
    );
    ws.write_config(&patched);
    control_post(
        control,
        "/faults/nodes/cp2",
        r#"{"fail_next": {"ApplyConfiguration": "invalid_argument"}}"#,
    );
    let failed = ws.fails(&["apply", "-auto-approve", "-input=false"]);
    assert!(
        failed.all().contains("refused the changed config"),
        "{}",
        failed.all()
    );
    let after = ws.resource("vixens_talos_cluster.c").unwrap();
    for kept in [
        "machine_secrets",
        "talosconfig",
        "kubeconfig",
        "kubernetes",
        "etcd_members",
        "config_patches",
        "machine_configurations",
    ] {
        assert_eq!(after[kept], before[kept], "{kept} after the failed update");
    }
    let hash = |v: &serde_json::Value, n: &str| v["node_status"][n]["config_hash"].clone();
    assert_ne!(
        hash(&after, "cp1"),
        hash(&before, "cp1"),
        "cp1 took the new config"
    );
    assert_eq!(hash(&after, "cp2"), hash(&before, "cp2"), "cp2 refused it");
    let replan = ws.run(&["plan", "-input=false", "-detailed-exitcode"]);
    assert_eq!(replan.code, 2, "{}", replan.all());
    assert!(!replan.all().contains("+ talosconfig"), "{}", replan.all());
    ws.apply();
    assert_eq!(ws.plan_exit_code(), 0);

    // A Talos version bump rolls through the nodes, control planes one at a time.
    let upgraded = patched.replace(
        "talos_version = \"1.12\"",
        "talos_version = \"1.12\"\n  install_image = \"ghcr.io/siderolabs/installer:v1.12.1\"",
    );
    ws.write_config(&upgraded);
    ws.apply();
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    for node in ["cp1", "cp2", "cp3"] {
        assert_eq!(
            values["node_status"][node]["talos_version"], "v1.12.1",
            "{node}"
        );
    }
    assert_eq!(etcd_members(&ws), ["cp1", "cp2", "cp3"]);
    assert_eq!(ws.plan_exit_code(), 0);
    assert_eq!(values["machine_secrets"], secrets);

    // Import adopts the running cluster from its secrets.yaml without re-applying it.
    let secrets_file = ws.path().join("secrets.yaml");
    std::fs::write(&secrets_file, secrets.as_str().unwrap()).unwrap();
    let adopt = Workspace::new(&tf, &upgraded);
    adopt.init();
    adopt.import("vixens_talos_cluster.c", secrets_file.to_str().unwrap());
    let imported = adopt.resource("vixens_talos_cluster.c").unwrap();
    assert_eq!(
        imported["id"], values["id"],
        "the id of the created cluster"
    );
    // The first plan cannot be empty: Terraform gives the provider's import and refresh only the id and the
    // prior state, never the configuration, so every configured attribute is planned from null to its value (an
    // in-place update). Only what the apply reads from the nodes or mints stays unknown: the machine configs are
    // rendered at plan and equal the ones the nodes run, so no warning names a node.
    let plan = adopt.run(&[
        "plan",
        "-input=false",
        "-detailed-exitcode",
        "-out=adopt.plan",
    ]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(!plan.all().contains("must be replaced"), "{}", plan.all());
    assert!(!plan.all().contains("Not every node"), "{}", plan.all());
    let shown: serde_json::Value =
        serde_json::from_str(&adopt.ok(&["show", "-json", "adopt.plan"]).stdout).unwrap();
    let change = &shown["resource_changes"][0]["change"];
    assert_eq!(change["actions"], serde_json::json!(["update"]));
    let mut unknown: Vec<&str> = change["after_unknown"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| **v == serde_json::Value::Bool(true))
        .map(|(k, _)| k.as_str())
        .collect();
    unknown.sort();
    assert_eq!(
        unknown,
        [
            "etcd_members",
            "kubeconfig",
            "kubernetes",
            "node_status",
            "talosconfig"
        ]
    );
    assert_eq!(change["after"]["id"], values["id"]);
    assert_eq!(
        change["after"]["machine_configurations"],
        values["machine_configurations"]
    );
    // The apply changes nothing on the nodes.
    apply_sending_no_config(&adopt, control, "adopt.plan");
    assert_eq!(etcd_members(&adopt), ["cp1", "cp2", "cp3"]);
    assert_eq!(
        adopt.resource("vixens_talos_cluster.c").unwrap()["machine_secrets"],
        secrets
    );
    assert_eq!(adopt.plan_exit_code(), 0);

    // Imported again while cp2 runs a config changed behind Terraform's back: the plan names cp2, the apply still
    // re-applies nothing, and the difference then shows as drift that the next apply puts back.
    change_config_behind_terraforms_back(&values, "cp2", &format!("{prefix}.12"));
    adopt.ok(&["state", "rm", "vixens_talos_cluster.c"]);
    adopt.import("vixens_talos_cluster.c", secrets_file.to_str().unwrap());
    let plan = adopt.run(&["plan", "-input=false", "-out=adopt.plan"]);
    let text = plan.all();
    assert!(
        text.contains("Not every node runs the imported cluster") && text.contains("\"cp2\""),
        "{text}"
    );
    assert!(!text.contains("\"cp1\" ("), "{text}");
    apply_sending_no_config(&adopt, control, "adopt.plan");
    assert_eq!(adopt.plan_exit_code(), 2, "cp2's config is drift");
    adopt.apply();
    assert_eq!(adopt.plan_exit_code(), 0);
    ws.destroy();
}

/// Issue 4: "if an error happens once the secrets exist, the state returned with the error keeps the secrets and
/// what was applied, and the next apply resumes from there". Terraform taints the object a failed create returns
/// and plans a replacement; the replacement must keep the secrets (nodes that took the first config trust that
/// OS CA only) and leave those nodes as they are. `terraform destroy` of a failed create still resets them.
#[test]
fn failed_first_apply_resumes_with_the_same_secrets() {
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let prefix = "127.0.114";
    let control = "127.0.114.250:17071";
    let faults = "faults:\n  nodes:\n    cp3: {down: true}\n";
    let _emulator =
        EmulatorProcess::start_with(prefix, &["cp1", "cp2", "cp3"], 0, faults, Some(control));
    let config = cluster(prefix, 3, 0, "");
    let mut ws = Workspace::new(&tf, &config.replace("create = \"60s\"", "create = \"6s\""));
    ws.init();
    // Planned without the plan-time node checks, which would refuse the powered-off cp3 at plan.
    ws.set_env("VIXENS_CHECK_NODES_AT_PLAN", "false");

    // 1. cp3 stays down: the create times out after cp1 and cp2 took their config.
    let failed = ws.fails(&["apply", "-auto-approve", "-input=false"]);
    assert!(failed.all().contains("cp3"), "{}", failed.all());
    let entry = ws.resource_entry("vixens_talos_cluster.c").unwrap();
    assert_eq!(entry["tainted"], true, "Terraform taints a failed create");
    let secrets = entry["values"]["machine_secrets"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!entry["values"]["node_status"]["cp1"]["config_hash"]
        .as_str()
        .unwrap()
        .is_empty());

    // 2. cp3 is back: the replacement plan says it resumes; the apply keeps the secrets and converges.
    control_post(control, "/faults/nodes/cp3", r#"{"down": false}"#);
    ws.write_config(&config);
    let plan = ws.run(&["plan", "-input=false"]);
    assert!(
        plan.all().contains("Resuming the failed create"),
        "{}",
        plan.all()
    );
    ws.apply();
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    assert_eq!(values["machine_secrets"].as_str().unwrap(), secrets);
    assert_eq!(etcd_members(&ws), ["cp1", "cp2", "cp3"]);
    assert_eq!(
        ws.plan_exit_code(),
        0,
        "plan after the resumed create is empty"
    );
    assert!(ws.resource_entry("vixens_talos_cluster.c").unwrap()["tainted"].is_null());
    ws.destroy();

    // 3. A create that fails at bootstrap, then `terraform destroy`: every node that took the config is reset,
    // so a new cluster (new secrets) can be created on the same machines.
    control_post(
        control,
        "/faults/nodes/cp1",
        r#"{"fail_next": {"Bootstrap": "internal"}}"#,
    );
    let ws2 = Workspace::new(&tf, &config);
    ws2.init();
    let failed = ws2.fails(&["apply", "-auto-approve", "-input=false"]);
    assert!(failed.all().contains("bootstrap"), "{}", failed.all());
    let first = ws2.resource("vixens_talos_cluster.c").unwrap()["machine_secrets"].clone();
    ws2.destroy();
    let ws3 = Workspace::new(&tf, &config);
    ws3.init();
    ws3.apply();
    assert_eq!(etcd_members(&ws3), ["cp1", "cp2", "cp3"]);
    assert_ne!(
        ws3.resource("vixens_talos_cluster.c").unwrap()["machine_secrets"],
        first
    );
    ws3.destroy();
}

/// Talos 1.13 nodes (maintenance mode serves the normal apid read-only): a cluster on contract 1.13 scales from 1
/// to 3 control planes.
#[test]
fn talos_1_13_nodes_scale_up() {
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let prefix = "127.0.115";
    let _emulator = EmulatorProcess::start_with(
        prefix,
        &["cp1", "cp2", "cp3"],
        0,
        "talos_version: v1.13.0\n",
        None,
    );
    let on_1_13 = |cps| {
        cluster(prefix, cps, 0, "").replace("talos_version = \"1.12\"", "talos_version = \"1.13\"")
    };
    let ws = Workspace::new(&tf, &on_1_13(1));
    ws.init();
    ws.apply();
    assert_eq!(etcd_members(&ws), ["cp1"]);
    ws.write_config(&on_1_13(3));
    ws.apply();
    assert_eq!(etcd_members(&ws), ["cp1", "cp2", "cp3"]);
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    // The nodes booted the v1.13.0 ISO and installed the 1.13 contract's default installer: they run its Talos.
    for node in ["cp1", "cp2", "cp3"] {
        assert_eq!(values["node_status"][node]["talos_version"], "v1.13.9");
    }
    // The talosconfig dials the control planes and, like `talosctl gen config`'s, targets no node by default.
    let talosconfig: serde_json::Value =
        vixens::yaml::from_str(values["talosconfig"].as_str().unwrap()).unwrap();
    let context = &talosconfig["contexts"][talosconfig["context"].as_str().unwrap()];
    assert_eq!(
        context["endpoints"],
        serde_json::to_value([11, 12, 13].map(|i| format!("{prefix}.{i}"))).unwrap()
    );
    assert!(context.get("nodes").is_none(), "{context:?}");
    assert_eq!(ws.plan_exit_code(), 0);
    ws.destroy();
}

/// Applies saved plan `plan` in `ws` with an ApplyConfiguration failure armed on every node (control endpoint
/// `control`), so the apply succeeds only if it sends no machine config; disarms them afterwards.
fn apply_sending_no_config(ws: &Workspace, control: &str, plan: &str) {
    let arm = |fault: &str| {
        for node in ["cp1", "cp2", "cp3"] {
            control_post(
                control,
                &format!("/faults/nodes/{node}"),
                &format!(r#"{{"fail_next": {{"ApplyConfiguration": "{fault}"}}}}"#),
            );
        }
    };
    arm("invalid_argument");
    ws.ok(&["apply", "-input=false", plan]);
    arm("");
}
