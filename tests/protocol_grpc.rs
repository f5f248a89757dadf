//! The provider binary as Terraform sees it, driven over gRPC by hand: handshake, health, bad input (malformed
//! DynamicValue, unknown resource type, state of a newer schema version), Stop cancelling work in flight, SIGINT,
//! exiting once Terraform is gone, large messages, Shutdown, and no secret in the logs.
#![cfg(feature = "test-resources")]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use vixens::cty::{msgpack, Type, Value};
use vixens::framework::Resource;
use vixens::plugin::handshake::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};
use vixens::proto::{plugin as goplugin, tfplugin5, tfplugin6};
use vixens::resources::test_thing::TestThing;

const SECRET: &str = "s3cr3t-never-logged";

/// A provider process started the way go-plugin starts it (plaintext: no PLUGIN_CLIENT_CERT).
struct Plugin {
    child: Child,
    line: String,
    stderr: Arc<Mutex<String>>,
    _store: tempfile::TempDir,
}

impl Plugin {
    fn start(versions: &str) -> Plugin {
        let store = tempfile::tempdir().unwrap();
        let mut child = Command::new(common::provider_binary())
            .env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
            .env("PLUGIN_PROTOCOL_VERSIONS", versions)
            .env_remove("PLUGIN_CLIENT_CERT")
            .env("TF_LOG_PROVIDER", "trace")
            .env("VIXENS_TEST_THING_DIR", store.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Plugin {
            child,
            line: line.trim().to_string(),
            stderr,
            _store: store,
        }
    }

    fn addr(&self) -> String {
        self.line.split('|').nth(3).unwrap().to_string()
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr()))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    async fn v6(&self) -> tfplugin6::provider_client::ProviderClient<Channel> {
        tfplugin6::provider_client::ProviderClient::new(self.channel().await)
            .max_decoding_message_size(64 << 20)
    }

    fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ty() -> Type {
    TestThing.schema().value_type()
}

fn dv(v: &Value) -> Option<tfplugin6::DynamicValue> {
    Some(tfplugin6::DynamicValue {
        msgpack: msgpack::encode(v, &ty()).unwrap(),
        json: Vec::new(),
    })
}

fn config(name: &str, delay: Option<&str>) -> Value {
    let mut v = Value::object([
        ("name", Value::from(name)),
        ("secret", Value::from(SECRET)),
        ("create_delay", Value::from(delay.map(String::from))),
    ]);
    v.fill_nulls(&ty());
    v
}

fn errors6(diags: &[tfplugin6::Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .filter(|d| d.severity == tfplugin6::diagnostic::Severity::Error as i32)
        .map(|d| format!("{}: {}", d.summary, d.detail))
        .collect()
}

async fn plan_and_apply(
    client: &mut tfplugin6::provider_client::ProviderClient<Channel>,
    cfg: &Value,
) -> tfplugin6::apply_resource_change::Response {
    let plan = client
        .plan_resource_change(tfplugin6::plan_resource_change::Request {
            type_name: "vixens_test_thing".into(),
            prior_state: dv(&Value::Null),
            proposed_new_state: dv(cfg),
            config: dv(cfg),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        errors6(&plan.diagnostics).is_empty(),
        "{:?}",
        plan.diagnostics
    );
    client
        .apply_resource_change(tfplugin6::apply_resource_change::Request {
            type_name: "vixens_test_thing".into(),
            prior_state: dv(&Value::Null),
            planned_state: plan.planned_state,
            config: dv(cfg),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

#[test]
fn run_by_hand_prints_the_plugin_message_and_exits_1() {
    let out = Command::new(common::provider_binary())
        .env_remove(MAGIC_COOKIE_KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("is a Terraform plugin"), "{text}");
    assert!(text.contains("vixens/vixens"), "{text}");
    assert!(out.stdout.is_empty());

    let out = Command::new(common::provider_binary())
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("terraform-provider-vixens {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn no_common_protocol_exits_1() {
    let out = Command::new(common::provider_binary())
        .env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "3,4")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn handshake_health_and_shutdown() {
    let mut p = Plugin::start("5,6");
    let re = regex::Regex::new(r"^1\|6\|tcp\|127\.0\.0\.1:\d+\|grpc\|$").unwrap();
    assert!(re.is_match(&p.line), "{}", p.line);

    let channel = p.channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "plugin".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let mut stdio = goplugin::grpc_stdio_client::GrpcStdioClient::new(channel.clone());
    let mut stream = stdio.stream_stdio(()).await.unwrap().into_inner();
    let mut controller = goplugin::grpc_controller_client::GrpcControllerClient::new(channel);
    controller.shutdown(goplugin::Empty {}).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(15), stream.message()).await;
    assert!(
        matches!(ended, Ok(Ok(None)) | Ok(Err(_))),
        "StreamStdio must close on shutdown: {ended:?}"
    );
    let status = p
        .wait_exit(Duration::from_secs(3))
        .expect("exits promptly after Shutdown");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn protocol_5_when_offered_only_5() {
    let p = Plugin::start("5");
    assert!(p.line.starts_with("1|5|tcp|127.0.0.1:"), "{}", p.line);
    let mut client = tfplugin5::provider_client::ProviderClient::new(p.channel().await);
    let schema = client
        .get_schema(tfplugin5::get_provider_schema::Request {})
        .await
        .unwrap()
        .into_inner();
    assert!(schema.provider.is_some());
    let thing = &schema.resource_schemas["vixens_test_thing"];
    assert_eq!(thing.version, 1);
    let block = thing.block.as_ref().unwrap();
    let name = block.attributes.iter().find(|a| a.name == "name").unwrap();
    assert_eq!(name.r#type, b"\"string\"");
    assert!(name.required);
    assert_eq!(
        name.description_kind,
        tfplugin5::StringKind::Markdown as i32
    );
    // PrepareProviderConfig echoes the configuration.
    let cfg = tfplugin5::DynamicValue {
        msgpack: vec![0x80],
        json: Vec::new(),
    };
    let prepared = client
        .prepare_provider_config(tfplugin5::prepare_provider_config::Request {
            config: Some(cfg.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(prepared.prepared_config, Some(cfg));
}

#[tokio::test]
async fn bad_input_gets_error_diagnostics_not_a_crash() {
    let mut p = Plugin::start("6");
    let mut client = p.v6().await;

    // Malformed DynamicValue (truncated msgpack, wrong shapes, empty).
    for garbage in [vec![0xa5, b'x'], vec![0x93, 0x01], vec![0xc1, 0xc1], vec![]] {
        let resp = client
            .plan_resource_change(tfplugin6::plan_resource_change::Request {
                type_name: "vixens_test_thing".into(),
                prior_state: Some(tfplugin6::DynamicValue {
                    msgpack: garbage.clone(),
                    json: Vec::new(),
                }),
                proposed_new_state: dv(&config("a", None)),
                config: dv(&config("a", None)),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let errs = errors6(&resp.diagnostics);
        assert!(
            errs.iter().any(|e| e.starts_with("Invalid DynamicValue")),
            "{garbage:?}: {errs:?}"
        );
        assert!(resp.planned_state.is_none());
    }

    // Wrong type in a value: number where a string is expected, with the attribute path.
    let mut wrong = config("a", None);
    wrong.set("description", 5);
    let bytes = {
        let mut t = ty();
        if let Type::Object(attrs) = &mut t {
            attrs.insert("description".into(), Type::Number);
        }
        msgpack::encode(&wrong, &t).unwrap()
    };
    let resp = client
        .validate_resource_config(tfplugin6::validate_resource_config::Request {
            type_name: "vixens_test_thing".into(),
            config: Some(tfplugin6::DynamicValue {
                msgpack: bytes,
                json: Vec::new(),
            }),
            client_capabilities: None,
        })
        .await
        .unwrap()
        .into_inner();
    let d = resp.diagnostics.first().expect("a diagnostic");
    assert_eq!(d.severity, tfplugin6::diagnostic::Severity::Error as i32);
    let step = d.attribute.as_ref().unwrap().steps[0]
        .selector
        .clone()
        .unwrap();
    assert_eq!(
        step,
        tfplugin6::attribute_path::step::Selector::AttributeName("description".into())
    );

    // Unknown resource type name.
    let resp = client
        .validate_resource_config(tfplugin6::validate_resource_config::Request {
            type_name: "vixens_nope".into(),
            config: dv(&config("a", None)),
            client_capabilities: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(errors6(&resp.diagnostics)
        .iter()
        .any(|e| e.contains("Unknown resource type")));

    // A state written by a newer schema version.
    let resp = client
        .upgrade_resource_state(tfplugin6::upgrade_resource_state::Request {
            type_name: "vixens_test_thing".into(),
            version: 99,
            raw_state: Some(tfplugin6::RawState {
                json: br#"{"id":"x","name":"a"}"#.to_vec(),
                flatmap: Default::default(),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        errors6(&resp.diagnostics)
            .iter()
            .any(|e| e.contains("newer")),
        "{:?}",
        resp.diagnostics
    );
    assert!(resp.upgraded_state.is_none());

    // A legacy flatmap state, and malformed state JSON.
    for raw in [
        tfplugin6::RawState {
            json: Vec::new(),
            flatmap: [("id".to_string(), "x".to_string())].into(),
        },
        tfplugin6::RawState {
            json: b"{\"id\": ".to_vec(),
            flatmap: Default::default(),
        },
    ] {
        let resp = client
            .upgrade_resource_state(tfplugin6::upgrade_resource_state::Request {
                type_name: "vixens_test_thing".into(),
                version: 1,
                raw_state: Some(raw),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!errors6(&resp.diagnostics).is_empty());
    }

    // An older version is upgraded by the resource (v0 called `description` `note`).
    let resp = client
        .upgrade_resource_state(tfplugin6::upgrade_resource_state::Request {
            type_name: "vixens_test_thing".into(),
            version: 0,
            raw_state: Some(tfplugin6::RawState {
                json: br#"{"id":"a-1","name":"a","note":"old words","size":1}"#.to_vec(),
                flatmap: Default::default(),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        errors6(&resp.diagnostics).is_empty(),
        "{:?}",
        resp.diagnostics
    );
    let v = msgpack::decode(&resp.upgraded_state.unwrap().msgpack, &ty()).unwrap();
    assert_eq!(v.get("description").as_str(), Some("old words"));

    // Still serving after all that.
    assert!(p.child.try_wait().unwrap().is_none());
    let schema = client
        .get_provider_schema(tfplugin6::get_provider_schema::Request {})
        .await
        .unwrap();
    assert!(schema
        .into_inner()
        .resource_schemas
        .contains_key("vixens_test_thing"));
    assert!(!p.stderr.lock().unwrap().contains("panicked"));
}

#[tokio::test]
async fn stop_cancels_work_in_flight_and_sigint_is_ignored() {
    let p = Plugin::start("6");
    let mut client = p.v6().await;

    let status = Command::new("kill")
        .args(["-INT", &p.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let schema = client
        .get_provider_schema(tfplugin6::get_provider_schema::Request {})
        .await;
    assert!(schema.is_ok(), "still serving after SIGINT");

    let mut apply_client = client.clone();
    let started = Instant::now();
    let apply = tokio::spawn(async move {
        plan_and_apply(&mut apply_client, &config("slow", Some("600s"))).await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    client
        .stop_provider(tfplugin6::stop_provider::Request {})
        .await
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(120), apply)
        .await
        .expect("apply returns after Stop")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(120));
    let errs = errors6(&resp.diagnostics);
    assert!(errs.iter().any(|e| e.contains("Cancelled")), "{errs:?}");

    // After Stop, new work runs normally.
    let resp = plan_and_apply(&mut client, &config("after", None)).await;
    assert!(
        errors6(&resp.diagnostics).is_empty(),
        "{:?}",
        resp.diagnostics
    );
}

#[tokio::test]
async fn large_messages_and_no_secret_in_logs() {
    let p = Plugin::start("6");
    let mut client = p.v6().await;
    let mut cfg = config("big", None);
    cfg.set("description", "x".repeat(6 * 1024 * 1024));
    let resp = plan_and_apply(&mut client, &cfg).await;
    assert!(
        errors6(&resp.diagnostics).is_empty(),
        "{:?}",
        resp.diagnostics
    );
    let state = msgpack::decode(&resp.new_state.unwrap().msgpack, &ty()).unwrap();
    assert_eq!(state.get("secret").as_str(), Some(SECRET));
    let token = state.get("token").as_str().unwrap().to_string();

    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = p.stderr.lock().unwrap().clone();
    assert!(
        logs.lines()
            .any(|l| l.contains("\"@level\"") && l.contains("apply resource change")),
        "{logs}"
    );
    for line in logs.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for key in ["@level", "@message", "@timestamp", "@module"] {
            assert!(v.get(key).is_some(), "{key} missing: {line}");
        }
    }
    assert!(!logs.contains(SECRET), "secret input logged");
    assert!(!logs.contains(&token), "secret output logged");
}

/// A provider whose Terraform died without stopping it (SIGKILL, a second Ctrl-C) exits by itself instead of
/// finishing its operations for nobody: here its parent, a shell standing in for Terraform, is killed.
#[test]
fn provider_exits_when_terraform_is_gone() {
    let mut parent = Command::new("sh")
        .arg("-c")
        .arg("\"$0\" > /dev/null 2>&1 & echo $!; sleep 60")
        .arg(common::provider_binary())
        .env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "6")
        .env_remove("PLUGIN_CLIENT_CERT")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pid = String::new();
    BufReader::new(parent.stdout.take().unwrap())
        .read_line(&mut pid)
        .unwrap();
    let proc_dir = std::path::PathBuf::from(format!("/proc/{}", pid.trim()));
    let alive = |p: &std::path::Path| {
        std::fs::read_to_string(p.join("stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
    };
    std::thread::sleep(Duration::from_millis(500));
    assert!(alive(&proc_dir), "the provider did not start");
    parent.kill().unwrap();
    parent.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(&proc_dir) {
        assert!(
            Instant::now() < deadline,
            "the provider still runs 10 s after its Terraform died"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
