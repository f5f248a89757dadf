//! The bad-input suite (issue 15 item 10): about 150 wrong inputs over the three resources, each a resource of
//! its own in one configuration, run through Terraform 1.0.3 in two batches: `terraform validate -json` for all
//! of them, then `terraform plan -json` for those validate let through. Each case must be caught (an error
//! diagnostic in its resource) and located (the diagnostic points at an attribute line, not at the resource
//! header). The figures are printed: caught at validate, caught at plan, not caught by plan (apply or never),
//! and how many carry an attribute location.
//!
//! A second pass feeds wrong values through the project's own modules (`terraform/modules/*`), where Terraform
//! shows the module's resource: the error must still point at the attribute (and name the node or pool).

mod common;

use std::collections::BTreeMap;

use common::{repo_root, Terraform, Workspace};

const KUBECONFIG: &str = r#"jsonencode({ apiVersion = "v1", kind = "Config", clusters = [{ name = "c", cluster = { server = "https://127.0.0.1:6443" } }], users = [{ name = "u", user = { token = "t" } }], contexts = [{ name = "x", context = { cluster = "c", user = "u" } }], "current-context" = "x" })"#;

/// One wrong input: the resource type and its body.
struct Case {
    ty: &'static str,
    body: String,
    what: String,
}

/// `base` with the line starting with `key =` replaced by `line` (or `line` added when `key` is absent).
fn with(base: &str, key: &str, line: &str) -> String {
    let prefix = format!("  {key} =");
    let mut found = false;
    let mut out: Vec<String> = base
        .lines()
        .map(|l| {
            if !found && l.starts_with(&prefix) {
                found = true;
                line.to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    if !found {
        out.push(line.to_string());
    }
    out.join("\n")
}

fn cilium_base() -> String {
    "  kubeconfig = local.kc\n  version = \"1.17.0\"".to_string()
}

fn argocd_base() -> String {
    "  kubeconfig = local.kc\n  version = \"v3.5.1\"\n  install_manifest = local.manifest\n  repository {\n    url  = \"https://github.com/o/r.git\"\n    path = \"argocd/overlays/dev\"\n  }".to_string()
}

fn talos_base(nodes: &str) -> String {
    format!("  cluster_name = \"c\"\n  endpoint = \"https://127.0.0.1:6443\"\n  allow_scheduling_on_control_planes = true\n{nodes}")
}

const NODE: &str =
    "  nodes {\n    name = \"n1\"\n    address = \"127.0.0.1\"\n    role = \"controlplane\"\n  }";

fn node(fields: &str) -> String {
    format!("  nodes {{\n    name = \"n1\"\n    address = \"127.0.0.1\"\n    role = \"controlplane\"\n{fields}\n  }}")
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut add = |ty: &'static str, what: &str, body: String| {
        out.push(Case {
            ty,
            body,
            what: what.to_string(),
        })
    };
    // vixens_cilium: top-level attributes.
    let c = cilium_base();
    for (key, value) in [
        ("cluster_id", "-1"),
        ("cluster_id", "256"),
        ("cluster_id", "1.5"),
        ("k8s_service_port", "0"),
        ("k8s_service_port", "70000"),
        ("operator_replicas", "0"),
        ("operator_replicas", "101"),
        ("ipam_mode", "\"bogus\""),
        ("routing_mode", "\"bgp\""),
        ("routing_mode", "\"native\""),
        ("ipv4_native_routing_cidr", "\"10.244.0.0/16\""),
        ("version", "\"1.16.0\""),
        ("version", "\"x\""),
        ("version", "\"1.17\""),
        ("image_repository", "\"Quay.io/Cilium\""),
        ("image_repository", "\"quay.io/cilium/\""),
        ("image_repository", "\"quay.io/cilium:v1\""),
        ("image_repository", "\"https://quay.io/cilium\""),
        ("image_repository", "\"reg:70000/x\""),
        ("image_repository", "\"quay.io/ci lium\""),
        ("namespace", "\"Bad_NS\""),
        ("namespace", "\"-x\""),
        ("cluster_name", "\"Bad Name\""),
        ("k8s_service_host", "\"\""),
        ("extra_config", "{ \"cluster-name\" = \"x\" }"),
        ("kubeconfig", "\"apiVersion: v1\\nkind: Config\\n\""),
        ("kubeconfig", "\"users: [\""),
        ("kubeconfig", "\"a: b\\n c: d\""),
        ("timeouts", "{}"),
    ] {
        if key == "timeouts" {
            add(
                "vixens_cilium",
                "timeouts.create = \"5 parsecs\"",
                format!("{c}\n  timeouts {{\n    create = \"5 parsecs\"\n  }}"),
            );
        } else {
            add(
                "vixens_cilium",
                &format!("{key} = {value}"),
                with(&c, key, &format!("  {key} = {value}")),
            );
        }
    }
    for (what, block) in [
        ("hubble relay without hubble", "  hubble {\n    enabled = false\n    relay = true\n  }"),
        ("hubble ui without relay", "  hubble {\n    relay = false\n    ui = true\n  }"),
        ("bad interface regex", "  l2_announcements {\n    enabled = true\n    interfaces = [\"(\"]\n  }"),
        ("bad lease duration", "  l2_announcements {\n    enabled = true\n    lease_duration = \"5 minutes\"\n  }"),
        ("pool cidr invalid", "  load_balancer_ip_pools {\n    name = \"p\"\n    blocks {\n      cidr = \"10.0.0.0/33\"\n    }\n  }"),
        ("pool cidr not an address", "  load_balancer_ip_pools {\n    name = \"p\"\n    blocks {\n      cidr = \"x\"\n    }\n  }"),
        ("pool start > stop", "  load_balancer_ip_pools {\n    name = \"p\"\n    blocks {\n      start = \"10.0.0.9\"\n      stop = \"10.0.0.1\"\n    }\n  }"),
        ("pool start without stop", "  load_balancer_ip_pools {\n    name = \"p\"\n    blocks {\n      start = \"10.0.0.1\"\n    }\n  }"),
        ("pool cidr and range", "  load_balancer_ip_pools {\n    name = \"p\"\n    blocks {\n      cidr = \"10.0.0.0/24\"\n      start = \"10.0.0.1\"\n      stop = \"10.0.0.2\"\n    }\n  }"),
        ("pool empty block", "  load_balancer_ip_pools {\n    name = \"p\"\n    blocks {\n    }\n  }"),
        ("pool mixed families", "  load_balancer_ip_pools {\n    name = \"p\"\n    blocks {\n      start = \"10.0.0.1\"\n      stop = \"fd00::1\"\n    }\n  }"),
        ("pool outside the announced subnets", "  l2_announcements {\n    enabled = true\n    subnets = [\"192.168.208.0/24\"]\n  }\n  load_balancer_ip_pools {\n    name = \"p\"\n    blocks {\n      start = \"10.0.0.1\"\n      stop = \"10.0.0.9\"\n    }\n  }"),
        ("announced subnet not a CIDR", "  l2_announcements {\n    enabled = true\n    subnets = [\"192.168.208.0\"]\n  }"),
        ("pool bad name", "  load_balancer_ip_pools {\n    name = \"Bad_Pool\"\n    blocks {\n      cidr = \"10.0.0.0/24\"\n    }\n  }"),
        ("pools overlap", "  load_balancer_ip_pools {\n    name = \"a\"\n    blocks {\n      cidr = \"10.0.0.0/24\"\n    }\n  }\n  load_balancer_ip_pools {\n    name = \"b\"\n    blocks {\n      cidr = \"10.0.0.128/25\"\n    }\n  }"),
        ("pools same name", "  load_balancer_ip_pools {\n    name = \"a\"\n    blocks {\n      cidr = \"10.0.0.0/24\"\n    }\n  }\n  load_balancer_ip_pools {\n    name = \"a\"\n    blocks {\n      cidr = \"10.0.1.0/24\"\n    }\n  }"),
        ("l2 policy bad name", "  l2_policy {\n    name = \"Bad Name\"\n  }"),
        ("l2 policy bad interface regex", "  l2_policy {\n    interfaces = [\"[\"]\n  }"),
        ("kubeconfig and kubernetes", "  kubernetes {\n    host = \"https://127.0.0.1:6443\"\n    ca_certificate = \"x\"\n    client_certificate = \"x\"\n    client_key = \"x\"\n  }"),
    ] {
        add("vixens_cilium", what, format!("{c}\n{block}"));
    }
    for (key, value) in [
        ("bad/key/x", "\"v\""),
        ("-app", "\"v\""),
        ("app ", "\"v\""),
        ("Example.COM/x", "\"v\""),
        ("app", "\"bad value\""),
        ("app", "\"-v\""),
    ] {
        add(
            "vixens_cilium",
            &format!("service_selector {key:?} = {value}"),
            format!("{c}\n  load_balancer_ip_pools {{\n    name = \"p\"\n    service_selector = {{ {key:?} = {value} }}\n    blocks {{\n      cidr = \"10.0.0.0/24\"\n    }}\n  }}"),
        );
        add(
            "vixens_cilium",
            &format!("l2_policy.node_selector {key:?} = {value}"),
            format!("{c}\n  l2_policy {{\n    node_selector = {{ {key:?} = {value} }}\n  }}"),
        );
    }
    let k = "  kubernetes {\n    host = \"HOST\"\n    ca_certificate = local.pem\n    client_certificate = local.pem\n    client_key = KEY\n  }";
    for (what, host, key) in [
        (
            "kubernetes host port 70000",
            "https://127.0.0.1:70000",
            "local.key",
        ),
        ("kubernetes host http", "http://127.0.0.1:6443", "local.key"),
        ("kubernetes host empty", "", "local.key"),
        (
            "kubernetes key not PEM",
            "https://127.0.0.1:6443",
            "\"not a key\"",
        ),
        (
            "kubernetes key bad base64",
            "https://127.0.0.1:6443",
            "\"-----BEGIN PRIVATE KEY-----\\n!!\\n-----END PRIVATE KEY-----\\n\"",
        ),
        (
            "kubernetes key is a certificate",
            "https://127.0.0.1:6443",
            "local.pem",
        ),
    ] {
        add(
            "vixens_cilium",
            what,
            format!(
                "  version = \"1.17.0\"\n{}",
                k.replace("HOST", host).replace("KEY", key)
            ),
        );
    }
    // vixens_argocd_bootstrap.
    let a = argocd_base();
    for (key, value) in [
        ("version", "\"3.5\""),
        ("version", "\"latest\""),
        ("namespace", "\"Bad\""),
        ("namespace", "\"a_b\""),
        ("install_manifest_sha256", "\"abc\""),
        (
            "install_manifest_sha256",
            "\"0000000000000000000000000000000000000000000000000000000000000000\"",
        ),
        ("install_manifest", "\"a: [\""),
        ("install_manifest", "\"- 1\\n- 2\""),
        (
            "install_manifest",
            "\"apiVersion: v1\\nmetadata:\\n  name: x\\n\"",
        ),
        ("admin_password", "\"\""),
        (
            "admin_password",
            "\"0123456789012345678901234567890123456789012345678901234567890123456789012\"",
        ),
        ("kubeconfig", "\"apiVersion: v1\""),
        ("kubeconfig", "\"clusters: {\""),
        ("kubeconfig", "null"),
    ] {
        add(
            "vixens_argocd_bootstrap",
            &format!("{key} = {value}"),
            with(&a, key, &format!("  {key} = {value}")),
        );
    }
    add(
        "vixens_argocd_bootstrap",
        "version v1.0.0 with the default manifest",
        "  kubeconfig = local.kc\n  version = \"v1.0.0\"\n  repository {\n    url  = \"https://h/r.git\"\n    path = \".\"\n  }".to_string(),
    );
    add(
        "vixens_argocd_bootstrap",
        "install_manifest_url and install_manifest",
        format!("{a}\n  install_manifest_url = \"https://example.com/install.yaml\""),
    );
    for url in [
        "\"http://example.com/x.yaml\"",
        "\"ftp://x/y\"",
        "\"not a url\"",
    ] {
        add(
            "vixens_argocd_bootstrap",
            &format!("install_manifest_url = {url}"),
            with(
                &a,
                "install_manifest",
                &format!("  install_manifest_url = {url}"),
            ),
        );
    }
    let repo = |fields: &str| {
        format!("  kubeconfig = local.kc\n  version = \"v3.5.1\"\n  install_manifest = local.manifest\n  repository {{\n{fields}\n  }}")
    };
    for (what, fields) in [
        ("url http", "    url = \"http://h/r.git\"\n    path = \".\""),
        ("url file", "    url = \"file:///tmp/r\"\n    path = \".\""),
        ("url empty", "    url = \"\"\n    path = \".\""),
        ("url no scheme", "    url = \"github.com/o/r\"\n    path = \".\""),
        ("url with user:password", "    url = \"https://u:p@h/r.git\"\n    path = \".\""),
        ("url with token", "    url = \"https://tok@h/r.git\"\n    path = \".\""),
        ("url ssh with password", "    url = \"ssh://git:p@h/r.git\"\n    path = \".\""),
        ("revision a..b", "    url = \"https://h/r.git\"\n    path = \".\"\n    target_revision = \"a..b\""),
        ("revision with space", "    url = \"https://h/r.git\"\n    path = \".\"\n    target_revision = \"a b\""),
        ("path ..", "    url = \"https://h/r.git\"\n    path = \"../x\""),
        ("path absolute", "    url = \"https://h/r.git\"\n    path = \"/abs\""),
        ("path empty", "    url = \"https://h/r.git\"\n    path = \"\""),
        ("secret_name", "    url = \"https://h/r.git\"\n    path = \".\"\n    secret_name = \"Bad_Name\""),
        ("ssh key and password", "    url = \"ssh://git@h/r.git\"\n    path = \".\"\n    ssh_private_key = \"k\"\n    password = \"p\""),
        ("username without password", "    url = \"https://h/r.git\"\n    path = \".\"\n    username = \"u\""),
        ("ssh key with https", "    url = \"https://h/r.git\"\n    path = \".\"\n    ssh_private_key = \"k\""),
        ("password with ssh", "    url = \"git@h:o/r.git\"\n    path = \".\"\n    password = \"p\""),
    ] {
        add("vixens_argocd_bootstrap", &format!("repository: {what}"), repo(fields));
    }
    for (what, fields) in [
        ("name", "    name = \"Bad\""),
        ("project", "    project = \"a b\""),
        (
            "destination_namespace",
            "    destination_namespace = \"x_y\"",
        ),
        ("sync option", "    sync_options = [\"Bogus=1\"]"),
        ("sync option format", "    sync_options = [\"nonsense\"]"),
    ] {
        add(
            "vixens_argocd_bootstrap",
            &format!("root_application: {what}"),
            format!("{a}\n  root_application {{\n{fields}\n  }}"),
        );
    }
    add(
        "vixens_argocd_bootstrap",
        "absent: no connection",
        "  version = \"v3.5.1\"\n  install_manifest = local.manifest\n  repository {\n    url  = \"https://h/r.git\"\n    path = \".\"\n  }".to_string(),
    );
    add(
        "vixens_argocd_bootstrap",
        "timeouts.create = \"x\"",
        format!("{a}\n  timeouts {{\n    create = \"x\"\n  }}"),
    );
    // vixens_talos_cluster.
    let t = talos_base(NODE);
    for (key, value) in [
        ("endpoint", "\"http://127.0.0.1:6443\""),
        ("endpoint", "\"https://127.0.0.1:70000\""),
        ("endpoint", "\"https://10.9.9.9:6443\""),
        ("endpoint", "\"127.0.0.1\""),
        ("endpoint", "\"https://\""),
        ("talos_version", "\"1.9\""),
        ("talos_version", "\"1.14\""),
        ("kubernetes_version", "\"x\""),
        ("kubernetes_version", "\"2.0.0\""),
        ("install_image", "\"Bad Image\""),
        ("install_image", "\"\""),
        ("pod_subnets", "[\"10.0.0.0/33\"]"),
        ("pod_subnets", "[\"x\"]"),
        ("pod_subnets", "[\"10.96.0.0/16\"]"),
        ("service_subnets", "[\"10.244.0.0/24\"]"),
        ("service_subnets", "[\"fd00::/200\"]"),
        ("kubeprism_port", "70000"),
        ("kubeprism_port", "-1"),
        ("cni", "\"calico\""),
        ("apply_mode", "\"fast\""),
        ("cert_sans", "[\"\"]"),
        ("cert_sans", "[\"bad san\"]"),
        ("config_patches", "[\"machine: [\"]"),
        ("config_patches", "[\"machine:\\n  nosuchkey: 1\\n\"]"),
        ("config_patches", "[\"- 1\"]"),
        (
            "config_patches",
            "[\"machine:\\n  kubelet:\\n    extraArgs: [1]\\n\"]",
        ),
        (
            "config_patches",
            "[\"machine:\\n  install:\\n    wipe: please\\n\"]",
        ),
        (
            "config_patches",
            "[\"machine:\\n  features:\\n    kubePrism:\\n      port: '7445'\\n\"]",
        ),
        (
            "config_patches",
            "[\"cluster:\\n  network:\\n    podSubnets: 10.0.0.0/8\\n\"]",
        ),
        (
            "config_patches",
            "[\"machine:\\n  time:\\n    bootTimeout: 30\\n\"]",
        ),
        (
            "config_patches",
            "[\"apiVersion: v1alpha1\\nkind: LinkConfig\\nname: eth0\\nmtu: big\\n\"]",
        ),
        (
            "config_patches",
            "[\"machine:\\n  kubelet:\\n    extraMounts:\\n      - destination: /a\\n        bogus: 1\\n\"]",
        ),
        ("cluster_name", "\"\""),
    ] {
        add(
            "vixens_talos_cluster",
            &format!("{key} = {value}"),
            with(&t, key, &format!("  {key} = {value}")),
        );
    }
    for (what, fields) in [
        ("name", "    name = \"N_1\""),
        ("address empty", "    address = \"\""),
        ("address invalid", "    address = \"999.1.1.1\""),
        ("address port 70000", "    address = \"127.0.0.1:70000\""),
        ("role", "    role = \"master\""),
        ("hostname", "    hostname = \"bad_host\""),
        ("nameservers", "    nameservers = [\"x.y\"]"),
        ("install_disk", "    install_disk = \"sda\""),
        ("patch", "    config_patches = [\"machine: [\"]"),
        ("link name empty", "    link {\n      name = \"\"\n    }"),
        ("link address without prefix", "    link {\n      name = \"eth0\"\n      addresses = [\"10.0.0.5\"]\n    }"),
        ("link address invalid", "    link {\n      name = \"eth0\"\n      addresses = [\"10.0.0.300/24\"]\n    }"),
        ("link mtu", "    link {\n      name = \"eth0\"\n      mtu = 10\n    }"),
        ("link mtu big", "    link {\n      name = \"eth0\"\n      mtu = 100000\n    }"),
        ("vlan id 0", "    link {\n      name = \"eth0\"\n      vlan {\n        vlan_id = 0\n      }\n    }"),
        ("vlan id 5000", "    link {\n      name = \"eth0\"\n      vlan {\n        vlan_id = 5000\n      }\n    }"),
        ("vlan vip invalid", "    link {\n      name = \"eth0\"\n      vlan {\n        vlan_id = 10\n        vip = \"x\"\n      }\n    }"),
        ("route gateway", "    link {\n      name = \"eth0\"\n      route {\n        gateway = \"x\"\n      }\n    }"),
        ("route network", "    link {\n      name = \"eth0\"\n      route {\n        network = \"10.0.0.0/40\"\n        gateway = \"10.0.0.1\"\n      }\n    }"),
        ("duplicate link", "    link {\n      name = \"eth0\"\n    }\n    link {\n      name = \"eth0\"\n    }"),
    ] {
        let fields = fields.to_string();
        let base_fields: Vec<&str> = ["name", "address", "role"]
            .into_iter()
            .filter(|k| !fields.trim_start().starts_with(&format!("{k} =")))
            .collect();
        let mut lines = Vec::new();
        for k in base_fields {
            lines.push(match k {
                "name" => "    name = \"n1\"",
                "address" => "    address = \"127.0.0.1\"",
                _ => "    role = \"controlplane\"",
            });
        }
        let node_text = format!("  nodes {{\n{}\n{fields}\n  }}", lines.join("\n"));
        add("vixens_talos_cluster", &format!("nodes: {what}"), talos_base(&node_text));
    }
    add(
        "vixens_talos_cluster",
        "nodes: duplicate names",
        talos_base(&format!("{NODE}\n  nodes {{\n    name = \"n1\"\n    address = \"127.0.0.2\"\n    role = \"worker\"\n  }}")),
    );
    add(
        "vixens_talos_cluster",
        "nodes: duplicate addresses",
        talos_base(&format!("{NODE}\n  nodes {{\n    name = \"n2\"\n    address = \"127.0.0.1\"\n    role = \"worker\"\n  }}")),
    );
    add(
        "vixens_talos_cluster",
        "nodes: no control plane",
        talos_base(
            "  nodes {\n    name = \"w1\"\n    address = \"127.0.0.1\"\n    role = \"worker\"\n  }",
        ),
    );
    add(
        "vixens_talos_cluster",
        "nodes: vip on a worker",
        talos_base(&format!("{NODE}\n  nodes {{\n    name = \"w1\"\n    address = \"127.0.0.2\"\n    role = \"worker\"\n    link {{\n      name = \"eth0\"\n      vlan {{\n        vlan_id = 10\n        vip = \"10.0.0.9\"\n      }}\n    }}\n  }}")),
    );
    add("vixens_talos_cluster", "absent: no nodes", talos_base(""));
    add(
        "vixens_talos_cluster",
        "timeouts.update",
        format!("{t}\n  timeouts {{\n    update = \"soon\"\n  }}"),
    );
    add(
        "vixens_talos_cluster",
        "node with an extra node patch key",
        talos_base(&node(
            "    config_patches = [\"cluster:\\n  nosuch: 1\\n\"]",
        )),
    );
    out
}

const LOCALS: &str = r#"
locals {
  manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
  pem      = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
  key      = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
}
"#;

/// The configuration of `cases`, and the header line of each case's resource (`resource "t" "cN" {`).
fn configuration(cases: &[(usize, &Case)]) -> (String, BTreeMap<String, usize>) {
    let mut text = format!(
        "{}{LOCALS}\nlocals {{\n  kc = {KUBECONFIG}\n}}\n",
        common::REQUIRED_PROVIDERS
    );
    let mut headers = BTreeMap::new();
    for (i, case) in cases {
        let header_line = text.lines().count() + 2;
        let name = format!("c{i}");
        text.push_str(&format!(
            "\nresource \"{}\" \"{name}\" {{\n{}\n}}\n",
            case.ty, case.body
        ));
        headers.insert(format!("resource \"{}\" \"{name}\"", case.ty), header_line);
    }
    (text, headers)
}

/// The error diagnostics of `validate -json` or `plan -json` output: (resource context, start line).
fn error_locations(stdout: &str) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    let mut push = |d: &serde_json::Value| {
        if d["severity"] != "error" {
            return;
        }
        let context = d["snippet"]["context"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let line = d["range"]["start"]["line"].as_u64().unwrap_or(0) as usize;
        out.push((
            context,
            line,
            d["summary"].as_str().unwrap_or_default().to_string(),
        ));
    };
    if let Ok(doc) = serde_json::from_str::<serde_json::Value>(stdout) {
        for d in doc["diagnostics"].as_array().into_iter().flatten() {
            push(d);
        }
        return out;
    }
    for line in stdout.lines() {
        if let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) {
            if msg["type"] == "diagnostic" {
                push(&msg["diagnostic"]);
            }
        }
    }
    out
}

#[derive(Default, Debug)]
struct Figures {
    validate: usize,
    plan: usize,
    not_caught: Vec<String>,
    located: usize,
    unlocated: Vec<String>,
}

/// A workspace whose plans connect to no node: the plan-time node checks would refuse every unanswered address
/// and so "catch" wrong inputs for the wrong reason.
fn workspace(tf: &Terraform) -> Workspace {
    let mut ws = Workspace::new(tf, "");
    ws.set_env("VIXENS_CHECK_NODES_AT_PLAN", "false");
    ws
}

fn run_batch(tf: &Terraform, cases: &[(usize, &Case)], args: &[&str]) -> BTreeMap<usize, bool> {
    let (text, headers) = configuration(cases);
    let ws = workspace(tf);
    std::fs::write(ws.path().join("main.tf"), text).unwrap();
    ws.init();
    let out = ws.run(args);
    let diags = error_locations(&out.stdout);
    let mut caught = BTreeMap::new();
    for (i, case) in cases {
        let key = format!("resource \"{}\" \"c{i}\"", case.ty);
        let header = headers[&key];
        let mine: Vec<_> = diags.iter().filter(|(c, _, _)| c == &key).collect();
        if !mine.is_empty() {
            // A missing attribute or block can only be shown at the resource.
            let absent = case.what.starts_with("absent:");
            let located = absent || mine.iter().all(|(_, line, _)| *line != header);
            if !located {
                eprintln!("{key} ({}): {:?}", case.what, mine);
            }
            caught.insert(*i, located);
        }
    }
    caught
}

#[test]
fn bad_inputs_are_caught_at_validate_or_plan_with_their_attribute() {
    let Some(tf) = Terraform::get("1.0.3") else {
        return;
    };
    let cases = cases();
    let all: Vec<(usize, &Case)> = cases.iter().enumerate().collect();
    let mut f = Figures::default();
    let at_validate = run_batch(&tf, &all, &["validate", "-json"]);
    let rest: Vec<(usize, &Case)> = all
        .iter()
        .filter(|(i, _)| !at_validate.contains_key(i))
        .cloned()
        .collect();
    let at_plan = if rest.is_empty() {
        BTreeMap::new()
    } else {
        run_batch(&tf, &rest, &["plan", "-json", "-input=false"])
    };
    for (i, case) in &all {
        let label = format!("{} {}", case.ty, case.what);
        let located = match (at_validate.get(i), at_plan.get(i)) {
            (Some(l), _) => {
                f.validate += 1;
                *l
            }
            (None, Some(l)) => {
                f.plan += 1;
                *l
            }
            (None, None) => {
                f.not_caught.push(label);
                continue;
            }
        };
        if located {
            f.located += 1;
        } else {
            f.unlocated.push(label);
        }
    }
    let total = cases.len();
    let caught = f.validate + f.plan;
    eprintln!(
        "bad-input suite: {total} cases; caught at validate {}, at plan {}, not caught by plan {} \
         ({:.1}% caught at validate or plan); with an attribute location {}/{caught}",
        f.validate,
        f.plan,
        f.not_caught.len(),
        caught as f64 * 100.0 / total as f64,
        f.located
    );
    eprintln!(
        "not caught by plan: {:#?}\nwithout attribute location: {:#?}",
        f.not_caught, f.unlocated
    );
    assert!(total >= 150, "{total} cases");
    assert!(
        f.not_caught.is_empty(),
        "not caught by plan: {:#?}",
        f.not_caught
    );
    assert!(
        caught * 100 >= total * 95,
        "{caught}/{total} caught at validate or plan"
    );
    assert!(
        f.unlocated.is_empty(),
        "without attribute location: {:#?}",
        f.unlocated
    );
    let _ = repo_root();
}

/// A node for the talos module's `nodes` variable.
fn module_node(address: &str, role: &str, extra: &str) -> String {
    format!(
        "{{ address = \"{address}\", role = \"{role}\", install_disk = \"/dev/sda\", link = \"eth0\", nameservers = [], vlans = [{{ vlan_id = 111, addresses = [\"{address}/24\"], gateway = \"\" }}] {extra} }}"
    )
}

/// Module cases: (module, arguments, a word the error detail must contain: the node or pool name, or the field).
fn module_cases() -> Vec<(&'static str, String, &'static str)> {
    let talos = |nodes: &str, extra: &str| {
        format!(
            "  cluster_name = \"c\"\n  endpoint = \"https://127.0.0.1:6443\"\n  management_vlan_id = 111\n  nodes = {{\n{nodes}\n  }}\n{extra}"
        )
    };
    let one = format!(
        "    obsy = {}",
        module_node("127.0.0.1", "controlplane", "")
    );
    let cilium = |extra: &str, pools: &str| {
        format!("  kubeconfig = local.kc\n  cluster_name = \"c\"\n  l2_interfaces = [\"eth0\"]\n  load_balancer_ip_pools = {{\n{pools}\n  }}\n{extra}")
    };
    let pool =
        "    assigned = { start = \"10.0.0.1\", stop = \"10.0.0.9\", service_selector = {} }";
    let argocd = |url: &str, path: &str, extra: &str| {
        format!("  kubeconfig = local.kc\n  argocd_version = \"v3.5.1\"\n  repository_url = \"{url}\"\n  branch = \"dev\"\n  path = \"{path}\"\n{extra}")
    };
    vec![
        (
            "talos",
            talos(
                &format!(
                    "{one}\n    onyx = {}",
                    module_node("127.0.0.1", "worker", "").replace("127.0.0.1/24", "127.0.0.9/24")
                ),
                "",
            ),
            "onyx",
        ),
        ("talos", talos(&one, "  endpoint_port_typo = null").replace("  endpoint_port_typo = null", "").replace("https://127.0.0.1:6443", "https://127.0.0.1:70000"), "port"),
        ("talos", talos(&format!("    obsy = {}", module_node("127.0.0.1", "controlplane", "").replace("nameservers = []", "nameservers = [\"x.y\"]")), ""), "obsy"),
        ("talos", talos(&format!("    obsy = {}", module_node("127.0.0.1", "controlplane", "").replace("/dev/sda", "sda")), ""), "obsy"),
        ("talos", talos(&one, "  config_patches = [\"machine: [\"]"), "YAML"),
        ("talos", talos(&format!("    obsy = {}", module_node("127.0.0.1", "controlplane", "").replace("link = \"eth0\"", "link = \"eth 0\"")), ""), "obsy"),
        ("cilium", cilium("", "    bad = { start = \"10.0.0.9\", stop = \"10.0.0.1\", service_selector = {} }"), "bad"),
        ("cilium", cilium("  l2_subnets = [\"192.168.208.0/24\"]", "    far = { start = \"10.0.0.1\", stop = \"10.0.0.9\", service_selector = {} }"), "far"),
        ("cilium", cilium("", "    sel = { start = \"10.0.0.1\", stop = \"10.0.0.9\", service_selector = { \"bad key\" = \"v\" } }"), "sel"),
        ("cilium", cilium("", &format!("{pool}\n    other = {{ start = \"10.0.0.5\", stop = \"10.0.0.20\", service_selector = {{}} }}")), "other"),
        ("cilium", cilium("  l2_interfaces = [\"(\"]", pool).replacen("  l2_interfaces = [\"eth0\"]\n", "", 1), "("),
        ("cilium", cilium("  cilium_version = \"x\"", pool), "version"),
        ("cilium", cilium("  cluster_name = \"Bad Name\"", pool).replacen("  cluster_name = \"c\"\n", "", 1), "cluster"),
        ("argocd", argocd("https://u:p@h/r.git", "argocd/overlays/dev", ""), "username"),
        ("argocd", argocd("https://h/r.git", "../x", ""), "path"),
        ("argocd", argocd("https://h/r.git", "argocd/overlays/dev", "  admin_password = \"\""), "72"),
        ("argocd", argocd("ftp://h/r.git", "argocd/overlays/dev", ""), "scheme"),
    ]
}

/// Copies `terraform/modules/<name>` into `dir/modules/<name>`.
fn copy_module(name: &str, dir: &std::path::Path) {
    let src = repo_root().join("terraform/modules").join(name);
    let dst = dir.join("modules").join(name);
    std::fs::create_dir_all(&dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap().flatten() {
        std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
    }
}

/// Header line of `resource "<type>" "this"` in a module's main.tf.
fn module_header(dir: &std::path::Path, module: &str) -> usize {
    let text = std::fs::read_to_string(dir.join("modules").join(module).join("main.tf")).unwrap();
    text.lines()
        .position(|l| l.starts_with("resource \""))
        .map_or(0, |i| i + 1)
}

#[test]
fn bad_inputs_through_the_project_modules_keep_their_location_and_name() {
    let Some(tf) = Terraform::get("1.0.3") else {
        return;
    };
    let mut failures = Vec::new();
    let cases = module_cases();
    let ws = workspace(&tf);
    for m in ["talos", "cilium", "argocd"] {
        copy_module(m, ws.path());
    }
    let mut caught_at_plan = 0;
    let mut located = 0;
    for (n, (module, args, word)) in cases.iter().enumerate() {
        let text = format!(
            "{}{LOCALS}\nlocals {{\n  kc = {KUBECONFIG}\n}}\n\nmodule \"m\" {{\n  source = \"./modules/{module}\"\n{args}\n}}\n",
            common::REQUIRED_PROVIDERS
        );
        std::fs::write(ws.path().join("main.tf"), text).unwrap();
        if n == 0 {
            ws.init();
        } else {
            ws.ok(&["init", "-input=false"]);
        }
        let out = ws.run(&["plan", "-json", "-input=false"]);
        let mut errors = Vec::new();
        for line in out.stdout.lines() {
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if msg["type"] == "diagnostic" && msg["diagnostic"]["severity"] == "error" {
                errors.push(msg["diagnostic"].clone());
            }
        }
        let label = format!(
            "{module}: {}",
            args.lines()
                .filter(|l| !l.contains("local."))
                .collect::<Vec<_>>()
                .join(" ")
        );
        if errors.is_empty() {
            failures.push(format!("not caught at plan: {label}"));
            continue;
        }
        caught_at_plan += 1;
        let header = module_header(ws.path(), module);
        let ok = errors.iter().any(|d| {
            let file = d["range"]["filename"].as_str().unwrap_or_default();
            let line = d["range"]["start"]["line"].as_u64().unwrap_or(0) as usize;
            let text = format!("{} {}", d["summary"], d["detail"]);
            // In the module's resource at an attribute line, or in the caller at the module argument (a variable
            // validation); Terraform 1.0 shows a path into a `dynamic` block at the resource header, so there
            // the detail must name the attribute (`…, link[0].name: …`). And the detail names the node, pool or
            // field.
            let at_header = file.contains("modules/") && line == header;
            let detail = d["detail"].as_str().unwrap_or_default();
            let names_attribute = detail.starts_with(&format!("Node {word:?}, "))
                || detail.starts_with(&format!("Pool {word:?}, "));
            line > 0 && (!at_header || names_attribute) && text.contains(word)
        });
        if ok {
            located += 1;
        } else {
            failures.push(format!(
                "{label}: no error at an attribute naming {word:?}: {errors:#?}"
            ));
        }
    }
    eprintln!(
        "module bad inputs: {} cases; caught at plan {caught_at_plan}; located and named {located}",
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
