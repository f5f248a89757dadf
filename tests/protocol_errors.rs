//! Failures through real Terraform CLIs: a create that fails after creating something (the state records what
//! exists, tainted, and the next apply replaces it), a create timeout, and bad input (wrong type in config,
//! provider-side validation with paths, an unknown resource type, a state of a newer schema version, an older
//! state upgraded).
#![cfg(feature = "test-resources")]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Terraform, Workspace};

fn workspace(tf: &Terraform, config: &str, store: &Path) -> Workspace {
    let mut ws = Workspace::new(tf, config);
    ws.set_env("VIXENS_TEST_THING_DIR", store.display().to_string());
    ws
}

fn stored(store: &Path) -> usize {
    std::fs::read_dir(store).map(|d| d.count()).unwrap_or(0)
}

fn partial_failure_and_timeout(tf: &Terraform) {
    let store = tempfile::tempdir().unwrap();
    let failing = r#"
resource "vixens_test_thing" "t" {
  name              = "half"
  fail_after_create = true
}
"#;
    let ws = workspace(tf, failing, store.path());
    ws.init();
    let out = ws.fails(&["apply", "-auto-approve", "-input=false"]);
    assert!(
        out.all().contains("Injected failure after create"),
        "{}",
        out.all()
    );
    let entry = ws
        .resource_entry("vixens_test_thing.t")
        .expect("what exists is in the state");
    assert_eq!(entry["tainted"], true, "{entry}");
    let first_id = entry["values"]["id"].as_str().unwrap().to_string();
    assert!(first_id.starts_with("half-"));
    assert_eq!(stored(store.path()), 1);

    ws.write_config(&failing.replace("true", "false"));
    ws.apply();
    let v = ws.resource("vixens_test_thing.t").unwrap();
    assert_ne!(v["id"], first_id.as_str(), "the tainted object is replaced");
    assert_eq!(stored(store.path()), 1, "the tainted object was deleted");
    assert_eq!(ws.plan_exit_code(), 0);
    ws.destroy();
    assert_eq!(stored(store.path()), 0);

    let slow = r#"
resource "vixens_test_thing" "slow" {
  name         = "slow"
  create_delay = "300s"
  timeouts {
    create = "1s"
  }
}
"#;
    let ws = workspace(tf, slow, store.path());
    ws.init();
    let started = Instant::now();
    let out = ws.fails(&["apply", "-auto-approve", "-input=false"]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the timeout must cut the 30 s wait"
    );
    assert!(
        out.all()
            .contains("Timed out while creating the test thing"),
        "{}",
        out.all()
    );
    assert!(ws.resource("vixens_test_thing.slow").is_none());
}

fn bad_input(tf: &Terraform) {
    let store = tempfile::tempdir().unwrap();
    let ws = workspace(
        tf,
        r#"resource "vixens_test_thing" "t" { name = "ok" }"#,
        store.path(),
    );
    ws.init();

    // Wrong type in configuration: Terraform rejects it with the schema's type.
    ws.write_config(
        r#"resource "vixens_test_thing" "t" {
  name = "ok"
  rule {
    port = "not-a-number"
  }
}"#,
    );
    let out = ws.run(&["validate"]);
    if out.code == 0 {
        // 0.15.0-rc2 lets the bad value through as unknown: the apply must still fail cleanly.
        assert!(tf.version.starts_with("0.15"), "{}", out.all());
        ws.fails(&["apply", "-auto-approve", "-input=false"]);
    } else {
        assert!(
            out.all().contains("Incorrect attribute value type"),
            "{}",
            out.all()
        );
    }

    // Provider-side validation, pointing at the attribute.
    ws.write_config(
        r#"resource "vixens_test_thing" "t" {
  name = "not ok!"
  rule {
    port = 70000
  }
  timeouts {
    create = "soon"
  }
}"#,
    );
    let out = ws.fails(&["validate"]);
    let text = out.all();
    assert!(text.contains("Invalid name"), "{text}");
    assert!(text.contains("Invalid port"), "{text}");
    assert!(text.contains("Invalid timeout"), "{text}");

    // Unknown resource type.
    ws.write_config(r#"resource "vixens_nope" "t" {}"#);
    let out = ws.fails(&["validate"]);
    assert!(out.all().contains("vixens_nope"), "{}", out.all());

    // The 0.15.0-rc2 build from PyPI (a cloudrail fork) never calls UpgradeResourceState ("cloudrail disable
    // this feature" in its trace log), so state versions are only checkable with the other CLIs.
    if tf.version.starts_with("0.15") {
        return;
    }

    // A state written by a newer schema version of the resource.
    ws.write_config(r#"resource "vixens_test_thing" "t" { name = "ok" }"#);
    write_state(ws.path(), 99, r#"{"id": "ok-1", "name": "ok"}"#);
    // Terraform itself refuses it when it knows the schema version (the provider's own diagnostic for an
    // UpgradeResourceState of a newer version is tested over gRPC in protocol_grpc.rs).
    let out = ws.fails(&["plan", "-input=false"]);
    let text = out.all();
    assert!(
        text.contains("newer provider version")
            || text.contains("Resource state is from a newer provider"),
        "{text}"
    );

    // An older version is upgraded (and then refreshed: the object is gone, so a create is planned).
    write_state(
        ws.path(),
        0,
        r#"{"id": "ok-1", "name": "ok", "note": "old"}"#,
    );
    assert_eq!(ws.plan_exit_code(), 2);
}

/// A version-4 state file with one `vixens_test_thing.t` instance at `schema_version`.
fn write_state(dir: &Path, schema_version: i64, attributes: &str) {
    let state = format!(
        r#"{{
  "version": 4,
  "terraform_version": "0.14.0",
  "serial": 1,
  "lineage": "00000000-0000-0000-0000-000000000000",
  "outputs": {{}},
  "resources": [{{
    "mode": "managed",
    "type": "vixens_test_thing",
    "name": "t",
    "provider": "provider[\"registry.terraform.io/vixens/vixens\"]",
    "instances": [{{ "schema_version": {schema_version}, "attributes": {attributes}, "sensitive_attributes": [] }}]
  }}]
}}"#
    );
    std::fs::write(dir.join("terraform.tfstate"), state).unwrap();
}

#[test]
fn partial_failure_and_timeout_terraform_1_0_3() {
    partial_failure_and_timeout(&Terraform::cached("1.0.3"));
}

#[test]
fn partial_failure_and_timeout_terraform_0_15() {
    partial_failure_and_timeout(&Terraform::cached("0.15.0-rc2"));
}

#[test]
fn bad_input_terraform_1_0_3() {
    bad_input(&Terraform::cached("1.0.3"));
}

#[test]
fn bad_input_terraform_0_15() {
    bad_input(&Terraform::cached("0.15.0-rc2"));
}

#[test]
fn errors_terraform_on_path() {
    match Terraform::from_path() {
        Some(tf) => {
            partial_failure_and_timeout(&tf);
            bad_input(&tf);
        }
        None => eprintln!("skipped: no terraform >= 1.0 on PATH"),
    }
}
