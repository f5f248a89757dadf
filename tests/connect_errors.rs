//! Honest connection failures through Terraform 1.0.3 (issue 15 item 11): a `vixens_cilium` whose API server
//! (a loopback listener) accepts TCP and never answers fails within its create timeout with an error naming the
//! host and the cause, and the provider log (TF_LOG=debug) has no ERROR line from the Kubernetes client's retries.

mod common;

use common::{Terraform, Workspace};

#[test]
fn a_silent_api_server_fails_with_host_and_cause() {
    let Some(tf) = Terraform::get("1.0.3") else {
        return;
    };
    // Accepts connections and holds them without a word (as a mistyped port on a busy host may).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let hcl = |s: &str| serde_json::to_string(s).unwrap();
    let config = format!(
        "resource \"vixens_cilium\" \"c\" {{\n  kubernetes {{\n    host = \"https://127.0.0.1:{port}\"\n    ca_certificate = {ca}\n    client_certificate = {ca}\n    client_key = {key}\n  }}\n  timeouts {{\n    create = \"15s\"\n  }}\n}}\n",
        ca = hcl(&cert.pem()),
        key = hcl(&key.serialize_pem()),
    );
    let mut ws = Workspace::new(&tf, &config);
    ws.init();
    ws.set_env("TF_LOG", "debug");
    let started = std::time::Instant::now();
    let out = ws.fails(&["apply", "-auto-approve", "-input=false"]);
    let all = out.all();
    assert!(
        started.elapsed().as_secs() < 60,
        "took {:?}",
        started.elapsed()
    );
    let errors: String = all
        .lines()
        .filter(|l| !l.contains("[DEBUG]") && !l.contains("[TRACE]") && !l.contains("[INFO]"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        errors.contains(&format!("127.0.0.1:{port}")) && errors.contains("no answer within"),
        "{errors}"
    );
    let kube_errors: Vec<&str> = all
        .lines()
        .filter(|l| l.contains("provider.terraform-provider-vixens") && l.contains("[ERROR]"))
        .collect();
    assert!(kube_errors.is_empty(), "{kube_errors:#?}");
}
