//! Plan-time validation through real Terraform CLIs: module variables that default to null are unknown at
//! `terraform validate` and known (null, so unset) at plan; either/or checks must skip the first and pass the
//! second. Also: each problem gives one diagnostic, pointing at the attribute the user wrote.
#![cfg(feature = "test-resources")]

mod common;

use common::{Terraform, Workspace};

/// A child module whose manifest and pool-CIDR inputs default to null, as in a user's module.
const MODULE: &str = r#"
variable "m" {
  type    = string
  default = null
}
variable "u" {
  type    = string
  default = null
}
variable "s" {
  type    = string
  default = null
}
variable "c" {
  type    = string
  default = null
}
variable "extra" {
  type    = string
  default = ""
}

resource "vixens_argocd_bootstrap" "a" {
  kubeconfig           = jsonencode({ apiVersion = "v1", kind = "Config", clusters = [{ name = "c", cluster = { server = "https://127.0.0.1:6443" } }], users = [{ name = "u", user = {} }], contexts = [{ name = "x", context = { cluster = "c", user = "u" } }], "current-context" = "x" })
  version              = "v3.5.1"
  install_manifest     = var.m
  install_manifest_url = var.u
  install_manifest_sha256 = var.s
  repository {
    url  = "https://127.0.0.1:9/vixens.git"
    path = "."
  }
}

resource "vixens_cilium" "c" {
  kubeconfig = jsonencode({ apiVersion = "v1", kind = "Config", clusters = [{ name = "c", cluster = { server = "https://127.0.0.1:6443" } }], users = [{ name = "u", user = {} }], contexts = [{ name = "x", context = { cluster = "c", user = "u" } }], "current-context" = "x" })
  version    = "1.17.0"
  load_balancer_ip_pools {
    name = "p"
    blocks {
      cidr  = var.c
      start = "127.0.111.10"
      stop  = "127.0.111.20"
    }
  }
}
"#;

fn workspace(tf: &Terraform, module_args: &str) -> Workspace {
    let ws = Workspace::new(
        tf,
        &format!("module \"m\" {{\n  source = \"./m\"\n{module_args}\n}}\n"),
    );
    std::fs::create_dir_all(ws.path().join("m")).unwrap();
    std::fs::write(
        ws.path().join("m/main.tf"),
        format!("{}\n{MODULE}", common::REQUIRED_PROVIDERS),
    )
    .unwrap();
    ws
}

/// The summaries of the errors Terraform printed (`Error: x` or, from 1.0, `│ Error: x`), ignoring log lines.
fn errors(all: &str) -> Vec<&str> {
    all.lines()
        .filter_map(|l| l.trim_start_matches(['│', ' ']).strip_prefix("Error: "))
        .collect()
}

fn null_module_variables_are_unset_not_conflicting(tf: &Terraform) {
    // A URL needs its sha256 (schema 2): given here, so that only the null manifest variable is in question.
    let ws = workspace(
        tf,
        &format!(
            "  u = \"https://127.0.0.1:9/install.yaml\"\n  s = \"{}\"",
            "ab".repeat(32)
        ),
    );
    ws.init();
    ws.ok(&["validate"]);
    let plan = ws.ok(&["plan", "-input=false"]);
    assert!(
        !plan.all().contains("Conflicting manifest sources")
            && !plan.all().contains("Invalid pool block"),
        "{}",
        plan.all()
    );

    // Both sources set, and a CIDR beside the range: one error each, at plan (validate saw unknowns).
    ws.write_config(
        "module \"m\" {\n  source = \"./m\"\n  u = \"https://127.0.0.1:9/install.yaml\"\n  \
         m = \"apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: a}\\n\"\n  c = \"127.0.112.0/24\"\n}\n",
    );
    ws.ok(&["validate"]);
    let out = ws.fails(&["plan", "-input=false"]);
    let all = out.all();
    let mut got = errors(&all);
    got.sort();
    assert_eq!(
        got,
        ["Conflicting manifest sources", "Invalid pool block"],
        "{all}"
    );
}

fn one_error_per_problem_at_the_attribute(tf: &Terraform) {
    let ws = Workspace::new(
        tf,
        r#"
resource "vixens_cilium" "c" {
  kubeconfig        = jsonencode({ apiVersion = "v1", kind = "Config", clusters = [{ name = "c", cluster = { server = "https://127.0.0.1:6443" } }], users = [{ name = "u", user = {} }], contexts = [{ name = "x", context = { cluster = "c", user = "u" } }], "current-context" = "x" })
  version           = "1.17.0"
  cluster_id        = 256
  operator_replicas = -1
  routing_mode      = "native"
  hubble {
    enabled = false
    relay   = true
  }
}
"#,
    );
    ws.init();
    let out = ws.fails(&["validate"]);
    let all = out.all();
    assert_eq!(errors(&all).len(), 4, "{all}");
    for (summary, line) in [
        ("Invalid cluster_id", "cluster_id        = 256"),
        ("Invalid operator_replicas", "operator_replicas = -1"),
        (
            "Missing native routing CIDR",
            "routing_mode      = \"native\"",
        ),
        ("Hubble relay without Hubble", "relay   = true"),
    ] {
        let at = all
            .find(&format!("Error: {summary}"))
            .unwrap_or_else(|| panic!("{summary} missing:\n{all}"));
        let next = all[at + 1..]
            .find("Error: ")
            .map_or(all.len(), |n| at + 1 + n);
        assert!(
            all[at..next].contains(line),
            "{summary} does not show `{line}`:\n{}",
            &all[at..next]
        );
    }
}

/// Asserts that `all` (Terraform's output) holds exactly the errors of `expected`, each shown with the
/// configuration line of the attribute it names.
fn assert_errors_at_lines(all: &str, expected: &[(&str, &str)]) {
    let mut got = errors(all);
    got.sort();
    let mut want: Vec<&str> = expected.iter().map(|(s, _)| *s).collect();
    want.sort();
    assert_eq!(got, want, "{all}");
    // Each expected error is shown with its line (a summary may appear more than once, at different lines).
    for (summary, line) in expected {
        let heading = format!("Error: {summary}");
        let blocks: Vec<&str> = all
            .match_indices(&heading)
            .map(|(at, _)| {
                let next = all[at + 1..]
                    .find("Error: ")
                    .map_or(all.len(), |n| at + 1 + n);
                &all[at..next]
            })
            .collect();
        assert!(
            blocks.iter().any(|b| b.contains(line)),
            "no {summary} shows `{line}`:\n{all}"
        );
    }
}

/// `vixens_talos_cluster`: host names, overlapping subnets and unknown machine-config keys in patches fail
/// `terraform validate` (all values known), each at its attribute, before any node is contacted (the addresses
/// are loopback ones nothing listens on).
fn talos_cluster_checks_at_the_attribute(tf: &Terraform) {
    let ws = Workspace::new(
        tf,
        r#"
resource "vixens_talos_cluster" "c" {
  cluster_name   = "v"
  endpoint       = "https://127.0.119.11:6443"
  talos_version  = "1.12"
  pod_subnets    = ["10.96.0.0/16"]
  config_patches = ["machine:\n  kubelet:\n    extraArg: {a: b}\n"]
  nodes {
    name    = "cp_1"
    address = "127.0.119.11"
    role    = "controlplane"
  }
  nodes {
    name     = "w1"
    hostname = "w1-"
    address  = "127.0.119.12"
    role     = "worker"
    link {
      name      = "eth0"
      addresses = ["10.100.0.5/24"]
    }
  }
}
"#,
    );
    ws.init();
    let out = ws.fails(&["validate"]);
    assert_errors_at_lines(
        &out.all(),
        &[
            ("Invalid node name", r#"name    = "cp_1""#),
            ("Invalid hostname", r#"hostname = "w1-""#),
            (
                "Overlapping cluster subnets",
                r#"pod_subnets    = ["10.96.0.0/16"]"#,
            ),
            (
                "Unknown machine-config key in config patch",
                "config_patches = [",
            ),
            (
                "Node network inside the service subnets",
                r#"addresses = ["10.100.0.5/24"]"#,
            ),
        ],
    );

    // Names and networks fixed, a patch that breaks a rule of the contract (1.12 takes network documents, not
    // machine.network) comes from a variable: unknown at validate, it fails the plan at the node's patches.
    let fixed = rule_breaking_patch_config();
    ws.write_config(&fixed);
    ws.ok(&["validate"]);
    let out = ws.fails(&["plan", "-input=false"]);
    assert_errors_at_lines(
        &out.all(),
        &[(
            "Invalid machine config after patches",
            "config_patches = [var.patch]",
        )],
    );
}

/// `vixens_talos_cluster` values a node or Talos would refuse only at apply: node addresses with a port or out of
/// range, a relative install disk, bad certificate SANs and image reference, an MTU below the IPv4 minimum, and an
/// interface address two nodes share. Each fails `terraform validate` at its attribute.
fn talos_cluster_values_at_the_attribute(tf: &Terraform) {
    let ws = Workspace::new(
        tf,
        r#"
resource "vixens_talos_cluster" "c" {
  cluster_name                       = "v"
  endpoint                           = "https://127.0.119.11:6443"
  talos_version                      = "1.12"
  cert_sans                          = ["", "bad host"]
  install_image                      = "not an image!!"
  allow_scheduling_on_control_planes = true
  nodes {
    name         = "cp1"
    address      = "127.0.119.11:0"
    role         = "controlplane"
    install_disk = "sda"
    link {
      name      = "eth0"
      mtu       = 10
      addresses = ["127.0.119.50/24"]
    }
  }
  nodes {
    name    = "w1"
    address = "999.0.95.11"
    role    = "worker"
    link {
      name      = "eth1"
      addresses = ["127.0.119.50/25"]
    }
  }
}
"#,
    );
    ws.init();
    let out = ws.fails(&["validate"]);
    assert_errors_at_lines(
        &out.all(),
        &[
            (
                "Invalid certificate SAN",
                r#"cert_sans                          = ["", "bad host"]"#,
            ),
            (
                "Invalid certificate SAN",
                r#"cert_sans                          = ["", "bad host"]"#,
            ),
            (
                "Invalid install image",
                r#"install_image                      = "not an image!!""#,
            ),
            ("Invalid node address", r#"address      = "127.0.119.11:0""#),
            ("Invalid install disk", r#"install_disk = "sda""#),
            ("Invalid MTU", "mtu       = 10"),
            ("Invalid node address", r#"address = "999.0.95.11""#),
            (
                "Duplicate interface address",
                r#"addresses = ["127.0.119.50/25"]"#,
            ),
        ],
    );
}

fn rule_breaking_patch_config() -> String {
    r#"
variable "patch" {
  type    = string
  default = "machine: {network: {hostname: x}}"
}

resource "vixens_talos_cluster" "c" {
  cluster_name  = "v"
  endpoint      = "https://127.0.119.11:6443"
  talos_version = "1.12"
  nodes {
    name           = "cp1"
    address        = "127.0.119.11"
    role           = "controlplane"
    config_patches = [var.patch]
  }
}
"#
    .to_string()
}

#[test]
fn validation_with_unknowns_and_precise_diagnostics() {
    for tf in Terraform::all() {
        null_module_variables_are_unset_not_conflicting(&tf);
        one_error_per_problem_at_the_attribute(&tf);
        talos_cluster_checks_at_the_attribute(&tf);
        talos_cluster_values_at_the_attribute(&tf);
    }
}
