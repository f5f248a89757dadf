//! The whole resource lifecycle of `vixens_test_thing` through real Terraform CLIs: 1.0.3 (protocol 6),
//! 0.15.0-rc2 (protocol 5) and any terraform >= 1.0 on PATH.
#![cfg(feature = "test-resources")]

mod common;

use std::path::Path;

use common::{Terraform, Workspace};

fn thing(name: &str, description: &str, port: u16) -> String {
    format!(
        r#"
resource "vixens_test_thing" "t" {{
  name        = "{name}"
  description = "{description}"
  secret      = "hunter2-secret"
  rule {{
    port = {port}
  }}
  timeouts {{
    create = "30s"
  }}
}}
"#
    )
}

fn stored_ids(store: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(store)
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(".json"))
                        .map(String::from)
                })
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn workspace(tf: &Terraform, config: &str, store: &Path) -> Workspace {
    let mut ws = Workspace::new(tf, config);
    ws.set_env("VIXENS_TEST_THING_DIR", store.display().to_string());
    ws
}

fn lifecycle(tf: &Terraform) {
    let store = tempfile::tempdir().unwrap();
    let ws = workspace(tf, &thing("alpha", "first", 443), store.path());
    ws.init();
    ws.ok(&["validate"]);
    let plan = ws.ok(&["plan", "-input=false"]);
    assert!(plan.stdout.contains("1 to add"), "{}", plan.stdout);
    assert!(
        !plan.all().contains("hunter2-secret"),
        "secret shown in plan"
    );
    ws.apply();

    let v = ws.resource("vixens_test_thing.t").expect("in state");
    let id = v["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("alpha-"), "{v}");
    assert_eq!(v["revision"], 0);
    assert_eq!(v["size"], 1);
    assert_eq!(v["rule"][0]["protocol"], "tcp");
    assert_eq!(v["timeouts"]["create"], "30s");
    assert!(v["token"].as_str().is_some_and(|t| t.len() == 16));
    assert_eq!(stored_ids(store.path()), vec![id.clone()]);
    assert_eq!(ws.plan_exit_code(), 0, "no changes expected after apply");

    // Update in place.
    ws.write_config(&thing("alpha", "second", 8443));
    assert_eq!(ws.plan_exit_code(), 2);
    ws.apply();
    let v = ws.resource("vixens_test_thing.t").unwrap();
    assert_eq!(v["id"], id.as_str(), "update must keep the id");
    assert_eq!(v["revision"], 1);
    assert_eq!(v["description"], "second");
    assert_eq!(v["rule"][0]["port"], 8443);
    assert_eq!(ws.plan_exit_code(), 0);

    // Forced replacement.
    ws.write_config(&thing("beta", "second", 8443));
    let plan = ws.ok(&["plan", "-input=false"]);
    assert!(
        plan.stdout.contains("forces replacement"),
        "{}",
        plan.stdout
    );
    ws.apply();
    let v = ws.resource("vixens_test_thing.t").unwrap();
    let new_id = v["id"].as_str().unwrap().to_string();
    assert!(new_id.starts_with("beta-"), "{v}");
    assert_eq!(stored_ids(store.path()), vec![new_id.clone()]);
    assert_eq!(ws.plan_exit_code(), 0);

    // Import into a fresh workspace.
    let imported = workspace(tf, &thing("beta", "second", 8443), store.path());
    imported.init();
    imported.import("vixens_test_thing.t", &new_id);
    let v = imported.resource("vixens_test_thing.t").unwrap();
    assert_eq!(v["id"], new_id.as_str());
    assert_eq!(v["description"], "second");
    assert_eq!(v["revision"], 0, "a replacement starts a new object");

    // Destroy.
    ws.destroy();
    assert!(stored_ids(store.path()).is_empty());
    assert!(ws.resource("vixens_test_thing.t").is_none());
}

#[test]
fn lifecycle_terraform_1_0_3_protocol_6() {
    lifecycle(&Terraform::cached("1.0.3"));
}

#[test]
fn lifecycle_terraform_0_15_protocol_5() {
    lifecycle(&Terraform::cached("0.15.0-rc2"));
}

#[test]
fn lifecycle_terraform_on_path() {
    match Terraform::from_path() {
        Some(tf) => lifecycle(&tf),
        None => eprintln!("skipped: no terraform >= 1.0 on PATH"),
    }
}
