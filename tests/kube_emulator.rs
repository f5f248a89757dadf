//! The Kubernetes API emulator driven by kube-rs and by the real kubectl 1.32 (skipped with a message when
//! `kubectl` is not on PATH). Loopback addresses only.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Client;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{json, Value};
use vixens::emulator::kube::{KubeCluster, KubeFault, KubeOptions, KubeTls, ServerHandle};

struct Ca {
    cert_pem: String,
    key_pem: String,
}

fn mint_ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kubernetes");
    p.distinguished_name = dn;
    let cert = p.self_signed(&key).unwrap();
    Ca {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn client_cert(ca: &Ca, cn: &str, org: &str) -> (String, String) {
    let ca_key = KeyPair::from_pem(&ca.key_pem).unwrap();
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, org);
    p.distinguished_name = dn;
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = p.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

struct Env {
    cluster: KubeCluster,
    server: Option<ServerHandle>,
    kubeconfig: String,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Env {
    async fn start(ip: &str, delay_ms: u64) -> Env {
        Self::start_with(
            ip,
            KubeOptions {
                workload_delay: Duration::from_millis(delay_ms),
                ..Default::default()
            },
            mint_ca(),
        )
        .await
    }

    async fn start_with(ip: &str, opts: KubeOptions, ca: Ca) -> Env {
        let cluster = KubeCluster::new(opts).unwrap();
        let addr: SocketAddr = format!("{ip}:6443").parse().unwrap();
        let tls = KubeTls {
            ca_cert_pem: ca.cert_pem.clone(),
            ca_key_pem: ca.key_pem.clone(),
            sans: vec![ip.to_string(), "localhost".into()],
        };
        let server = cluster.serve(addr, tls).await.unwrap();
        let (cert, key) = client_cert(&ca, "admin", "system:masters");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: emu\n  cluster:\n    server: https://{ip}:6443\n    certificate-authority-data: {}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: admin@emu\n  context:\n    cluster: emu\n    user: admin\n    namespace: default\ncurrent-context: admin@emu\n",
            b64(&ca.cert_pem), b64(&cert), b64(&key)
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), &kubeconfig).unwrap();
        Env {
            cluster,
            server: Some(server),
            kubeconfig,
            dir,
            addr,
        }
    }

    async fn client(&self) -> Client {
        self.client_with_retry(true).await
    }

    async fn client_with_retry(&self, retry: bool) -> Client {
        let kc = Kubeconfig::from_yaml(&self.kubeconfig).unwrap();
        let mut cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap();
        cfg.default_retry = retry;
        Client::try_from(cfg).unwrap()
    }

    /// Runs kubectl; None when kubectl is absent.
    async fn kubectl(
        &self,
        args: &[&str],
        stdin: Option<String>,
    ) -> Option<(bool, String, String)> {
        let kc = self.dir.path().join("kubeconfig");
        let cache = self.dir.path().join("cache");
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let t0 = std::time::Instant::now();
        let r = tokio::task::spawn_blocking({
            let args = args.clone();
            move || kubectl_blocking(&kc, &cache, &args, stdin)
        })
        .await
        .unwrap();
        eprintln!(
            "kubectl {:?}: {:?}",
            args.iter().take(4).collect::<Vec<_>>(),
            t0.elapsed()
        );
        r
    }
}

fn kubectl_blocking(
    kc: &Path,
    cache: &Path,
    args: &[String],
    stdin: Option<String>,
) -> Option<(bool, String, String)> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(kc)
        .arg("--cache-dir")
        .arg(cache)
        .args(args);
    cmd.env("HOME", cache.parent().unwrap_or(Path::new("/tmp")));
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(_) => {
            eprintln!("SKIP: kubectl not found on PATH");
            return None;
        }
    };
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

async fn wait_for<F: Fn() -> bool>(what: &str, f: F) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const CILIUM: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: cilium
  namespace: kube-system
spec:
  selector:
    matchLabels: {k8s-app: cilium}
  template:
    metadata:
      labels: {k8s-app: cilium}
    spec:
      hostNetwork: true
      tolerations:
      - operator: Exists
      containers:
      - name: cilium-agent
        image: quay.io/cilium/cilium:v1.17.0
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cilium-operator
  namespace: kube-system
spec:
  replicas: 2
  selector:
    matchLabels: {io.cilium/app: operator}
  template:
    metadata:
      labels: {io.cilium/app: operator}
    spec:
      hostNetwork: true
      tolerations:
      - operator: Exists
      containers:
      - name: cilium-operator
        image: quay.io/cilium/operator-generic:v1.17.0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_nodes_daemonsets_cilium_and_lb_ipam() {
    let env = Env::start("127.0.111.10", 50).await;
    env.cluster
        .ensure_node("cp1", ip("127.0.111.11"), true)
        .unwrap();
    env.cluster
        .ensure_node("w1", ip("127.0.111.12"), false)
        .unwrap();
    let Some((ok, out, err)) = env.kubectl(&["get", "nodes"], None).await else {
        return;
    };
    assert!(ok, "{err}");
    assert!(
        out.contains("cp1") && out.contains("NotReady") && out.contains("control-plane"),
        "{out}"
    );

    let (ok, out, err) = env
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(CILIUM.into()))
        .await
        .unwrap();
    assert!(ok, "apply: {out}{err}");
    assert!(
        out.contains("daemonset.apps/cilium serverside-applied"),
        "{out}"
    );
    let c = env.cluster.clone();
    wait_for("nodes Ready", || {
        c.objects("", "nodes").iter().all(|n| {
            n["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    })
    .await;
    let (ok, out, err) = env.kubectl(&["get", "ds", "-A"], None).await.unwrap();
    assert!(ok, "{err}");
    assert!(
        out.contains("kube-system") && out.contains("cilium") && out.contains(" 2 "),
        "{out}"
    );
    let (_, out, _) = env.kubectl(&["get", "nodes"], None).await.unwrap();
    assert!(!out.contains("NotReady"), "{out}");

    let c = env.cluster.clone();
    wait_for("cilium CRDs", || {
        c.object(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "",
            "ciliumloadbalancerippools.cilium.io",
        )
        .is_some()
    })
    .await;
    let pool = r#"
apiVersion: cilium.io/v2alpha1
kind: CiliumLoadBalancerIPPool
metadata:
  name: pool
spec:
  blocks:
  - start: 127.0.111.200
    stop: 127.0.111.210
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: asked
  namespace: default
  annotations:
    lbipam.cilium.io/ips: 127.0.111.205
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - port: 443
"#;
    let (ok, out, err) = env
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(pool.into()))
        .await
        .unwrap();
    assert!(ok, "{out}{err}");
    let c = env.cluster.clone();
    wait_for("LB IPs", || {
        c.object("", "services", "default", "web")
            .is_some_and(|s| s.pointer("/status/loadBalancer/ingress/0/ip").is_some())
            && c.object("", "services", "default", "asked")
                .is_some_and(|s| s.pointer("/status/loadBalancer/ingress/0/ip").is_some())
    })
    .await;
    let web = env
        .cluster
        .object("", "services", "default", "web")
        .unwrap();
    let asked = env
        .cluster
        .object("", "services", "default", "asked")
        .unwrap();
    assert_eq!(
        web["status"]["loadBalancer"]["ingress"][0]["ip"],
        "127.0.111.200"
    );
    assert_eq!(
        asked["status"]["loadBalancer"]["ingress"][0]["ip"],
        "127.0.111.205"
    );
    let (ok, out, err) = env.kubectl(&["get", "svc", "web"], None).await.unwrap();
    assert!(ok && out.contains("127.0.111.200"), "{out}{err}");

    let (ok, out, err) = env.kubectl(&["delete", "svc", "web"], None).await.unwrap();
    assert!(ok && out.contains("service \"web\" deleted"), "{out}{err}");
    assert!(env
        .cluster
        .object("", "services", "default", "web")
        .is_none());
    env.server.unwrap().shutdown().await;
}

fn cm_api(client: &Client) -> Api<DynamicObject> {
    let ar = kube::discovery::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
    Api::namespaced_with(client.clone(), "default", &ar)
}

fn cm(data: Value) -> DynamicObject {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared", "namespace": "default"}, "data": data})).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_conflicts_between_two_managers() {
    let env = Env::start("127.0.111.20", 10).await;
    let client = env.client().await;
    let api = cm_api(&client);
    let alice = PatchParams::apply("alice");
    let bob = PatchParams::apply("bob");
    let created = api
        .patch(
            "shared",
            &alice,
            &Patch::Apply(cm(json!({"a": "1", "b": "2"}))),
        )
        .await
        .unwrap();
    let mf = created.metadata.managed_fields.clone().unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("alice"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));

    let err = api
        .patch("shared", &bob, &Patch::Apply(cm(json!({"a": "9"}))))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err}")
    };
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"alice\": .data.a"
    );

    // Same value: shared ownership, no conflict.
    api.patch("shared", &bob, &Patch::Apply(cm(json!({"b": "2"}))))
        .await
        .unwrap();
    // Force: bob takes .data.a.
    let forced = api
        .patch(
            "shared",
            &bob.clone().force(),
            &Patch::Apply(cm(json!({"a": "9", "b": "2"}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["data"]["a"], "9");
    // alice stops applying everything: .data.b stays (bob owns it too), .data.a stays (bob owns it now).
    let after = api
        .patch("shared", &alice, &Patch::Apply(cm(json!({}))))
        .await
        .unwrap();
    assert_eq!(after.data["data"], json!({"a": "9", "b": "2"}));
    // bob drops b: nobody owns it any more, it goes.
    let after = api
        .patch("shared", &bob, &Patch::Apply(cm(json!({"a": "9"}))))
        .await
        .unwrap();
    assert_eq!(after.data["data"], json!({"a": "9"}));

    // An Update (merge patch) by another manager takes .data.a; bob's next apply conflicts with it.
    api.patch(
        "shared",
        &PatchParams {
            field_manager: Some("editor".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"data": {"a": "x"}})),
    )
    .await
    .unwrap();
    let err = api
        .patch("shared", &bob, &Patch::Apply(cm(json!({"a": "9"}))))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!()
    };
    assert!(
        status
            .message
            .starts_with("Apply failed with 1 conflict: conflict with \"editor\" using v1"),
        "{}",
        status.message
    );

    // Multiple conflicts are listed per manager.
    api.patch(
        "shared",
        &PatchParams {
            field_manager: Some("editor".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"data": {"c": "3"}})),
    )
    .await
    .unwrap();
    let err = api
        .patch(
            "shared",
            &bob,
            &Patch::Apply(cm(json!({"a": "9", "c": "4"}))),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!()
    };
    assert!(
        status
            .message
            .starts_with("Apply failed with 2 conflicts: conflicts with \"editor\" using v1"),
        "{}",
        status.message
    );
    assert!(
        status.message.contains("- .data.a\n- .data.c"),
        "{}",
        status.message
    );
    env.server.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_errors_match_the_api_server() {
    let env = Env::start("127.0.111.21", 10).await;
    let client = env.client().await;
    let api = cm_api(&client);
    let obj = cm(json!({"k": "v"}));
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();
    let kube::Error::Api(s) = api.create(&PostParams::default(), &obj).await.unwrap_err() else {
        panic!()
    };
    assert_eq!(
        (s.code, s.reason.as_str(), s.message.as_str()),
        (409, "AlreadyExists", "configmaps \"shared\" already exists")
    );
    let kube::Error::Api(s) = api.get("nope").await.unwrap_err() else {
        panic!()
    };
    assert_eq!(
        (s.code, s.reason.as_str(), s.message.as_str()),
        (404, "NotFound", "configmaps \"nope\" not found")
    );

    let mut stale = created.clone();
    stale.data["data"]["k"] = json!("2");
    api.replace("shared", &PostParams::default(), &stale)
        .await
        .unwrap();
    let kube::Error::Api(s) = api
        .replace("shared", &PostParams::default(), &stale)
        .await
        .unwrap_err()
    else {
        panic!()
    };
    assert_eq!(s.code, 409);
    assert!(
        s.message.contains("the object has been modified"),
        "{}",
        s.message
    );
    assert_ne!(
        api.get("shared")
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap(),
        rv
    );

    let mut unnamed = cm(json!({}));
    unnamed.metadata.name = None;
    let kube::Error::Api(s) = api
        .create(&PostParams::default(), &unnamed)
        .await
        .unwrap_err()
    else {
        panic!()
    };
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert!(
        s.message.contains("metadata.name: Required value"),
        "{}",
        s.message
    );

    let mut bad = cm(json!({}));
    bad.metadata.name = Some("Bad_Name".into());
    let kube::Error::Api(s) = api.create(&PostParams::default(), &bad).await.unwrap_err() else {
        panic!()
    };
    assert_eq!(s.code, 422);

    let other = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "missing",
        &kube::discovery::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
    );
    let kube::Error::Api(s) = other
        .create(&PostParams::default(), &{
            let mut o = cm(json!({}));
            o.metadata.namespace = Some("missing".into());
            o
        })
        .await
        .unwrap_err()
    else {
        panic!()
    };
    assert_eq!(
        (s.code, s.message.as_str()),
        (404, "namespaces \"missing\" not found")
    );

    // Deployments: generation bumps on spec changes only; status is ignored on the main resource.
    let deploys: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), "default");
    let d: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        "status": {"replicas": 7}}))
    .unwrap();
    let d = deploys.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    assert!(d.status.is_none_or(|s| s.replicas != Some(7)));
    let d = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let d = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(2));
    let kube::Error::Api(s) = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"selector": {"matchLabels": {"app": "other"}}}})),
        )
        .await
        .unwrap_err()
    else {
        panic!()
    };
    assert_eq!(s.code, 422);

    // Finalizers hold deletion; removing them completes it.
    let mut f = cm(json!({}));
    f.metadata.name = Some("held".into());
    f.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &f).await.unwrap();
    api.delete("held", &DeleteParams::default()).await.unwrap();
    let held = api.get("held").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(api.get_opt("held").await.unwrap().is_none());
    env.server.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_changes_and_expires_old_versions() {
    use futures::{StreamExt, TryStreamExt};
    let opts = KubeOptions {
        workload_delay: Duration::from_millis(10),
        watch_history: 50,
        ..Default::default()
    };
    let env = Env::start_with("127.0.111.22", opts, mint_ca()).await;
    let client = env.client().await;
    let api = cm_api(&client);
    let first = api
        .create(&PostParams::default(), &cm(json!({"k": "1"})))
        .await
        .unwrap();
    let rv = first.metadata.resource_version.clone().unwrap();
    let mut stream = api
        .watch(&kube::api::WatchParams::default().timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    api.patch(
        "shared",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "2"}})),
    )
    .await
    .unwrap();
    api.delete("shared", &DeleteParams::default())
        .await
        .unwrap();
    let mut seen = vec![];
    while let Some(ev) = stream.try_next().await.unwrap() {
        match ev {
            kube::api::WatchEvent::Modified(o) => {
                seen.push(format!("MODIFIED {}", o.data["data"]["k"]))
            }
            kube::api::WatchEvent::Deleted(_) => {
                seen.push("DELETED".to_string());
                break;
            }
            other => seen.push(format!("{other:?}")),
        }
    }
    assert_eq!(
        seen,
        vec!["MODIFIED \"2\"".to_string(), "DELETED".to_string()]
    );

    // A resourceVersion older than the kept history answers 410 Gone (as an ERROR event).
    for i in 0..60 {
        env.cluster
            .ensure_node("churn", ip("127.0.111.23"), i % 2 == 0)
            .unwrap();
    }
    let mut stream = api
        .watch(&kube::api::WatchParams::default(), "2")
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(kube::api::WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }

    // kube-runtime style: list then watch from the list's resourceVersion sees later creations.
    let lp = api.list(&Default::default()).await.unwrap();
    let rv = lp.metadata.resource_version.unwrap();
    let mut stream = api
        .watch(&kube::api::WatchParams::default().timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &cm(json!({"k": "3"})))
        .await
        .unwrap();
    match stream.try_next().await.unwrap() {
        Some(kube::api::WatchEvent::Added(o)) => assert_eq!(o.data["data"]["k"], "3"),
        other => panic!("expected ADDED, got {other:?}"),
    }
    env.server.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_return_503_then_recover_and_timeouts_drop() {
    let ca = mint_ca();
    let opts = KubeOptions {
        timeout_hang: Duration::from_millis(200),
        ..Default::default()
    };
    let env = Env::start_with("127.0.111.24", opts, ca).await;
    let client = env.client().await;
    let api = cm_api(&env.client_with_retry(false).await);
    // kube-rs retries 503 by default: a short burst is absorbed.
    env.cluster.set_fault(KubeFault::Errors5xx { count: 2 });
    assert!(cm_api(&client).get_opt("x").await.unwrap().is_none());

    env.cluster.set_fault(KubeFault::Errors5xx { count: 2 });
    for _ in 0..2 {
        let kube::Error::Api(s) = api.get_opt("x").await.unwrap_err() else {
            panic!()
        };
        assert_eq!(s.code, 503);
    }
    assert!(api.get_opt("x").await.unwrap().is_none());
    env.cluster.set_fault(KubeFault::Timeouts { count: 1 });
    let started = std::time::Instant::now();
    assert!(api.get_opt("x").await.is_err());
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(api.get_opt("x").await.unwrap().is_none());
    let _ = env.addr;
    env.server.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state: PathBuf = dir.path().join("kube.json");
    let ca = mint_ca();
    let ca2 = Ca {
        cert_pem: ca.cert_pem.clone(),
        key_pem: ca.key_pem.clone(),
    };
    let opts = KubeOptions {
        state_file: Some(state.clone()),
        ..Default::default()
    };
    let env = Env::start_with("127.0.111.25", opts.clone(), ca).await;
    let api = cm_api(&env.client().await);
    let created = api
        .create(&PostParams::default(), &cm(json!({"k": "1"})))
        .await
        .unwrap();
    env.cluster.save().unwrap();
    env.server.unwrap().shutdown().await;
    drop(env.cluster);

    let env = Env::start_with("127.0.111.25", opts, ca2).await;
    let again = cm_api(&env.client().await).get("shared").await.unwrap();
    assert_eq!(again.metadata.uid, created.metadata.uid);
    assert_eq!(
        again.metadata.resource_version,
        created.metadata.resource_version
    );
    env.server.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_and_foreign_certificates_are_refused() {
    let env = Env::start("127.0.111.26", 10).await;
    // A client certificate from another CA fails the TLS handshake.
    let other = mint_ca();
    let (cert, key) = client_cert(&other, "mallory", "system:masters");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let kc = env.kubeconfig.replace(
        env.kubeconfig
            .lines()
            .find(|l| l.contains("client-certificate-data"))
            .unwrap()
            .trim(),
        &format!("client-certificate-data: {}", b64(&cert)),
    );
    let kc = kc.replace(
        kc.lines()
            .find(|l| l.contains("client-key-data"))
            .unwrap()
            .trim(),
        &format!("client-key-data: {}", b64(&key)),
    );
    let cfg = kube::Config::from_custom_kubeconfig(
        Kubeconfig::from_yaml(&kc).unwrap(),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let bad = Client::try_from(cfg).unwrap();
    assert!(bad.apiserver_version().await.is_err());
    env.server.unwrap().shutdown().await;
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_the_argocd_install_and_applications_sync() {
    let install = repo_root().join("../shared/fixtures/argocd/v3.5.1/install.yaml");
    if !install.exists() {
        eprintln!(
            "SKIP: {} is absent (../shared not linked next to the repository)",
            install.display()
        );
        return;
    }
    let env = Env::start("127.0.111.30", 20).await;
    env.cluster
        .ensure_node("cp1", ip("127.0.111.31"), true)
        .unwrap();
    env.cluster
        .ensure_node("w1", ip("127.0.111.32"), false)
        .unwrap();
    let Some((ok, out, err)) = env
        .kubectl(
            &["apply", "--server-side", "-f", "-"],
            Some("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: argocd\n".into()),
        )
        .await
    else {
        return;
    };
    assert!(ok, "{out}{err}");
    let path = install.to_string_lossy().into_owned();
    let (ok, out, err) = env
        .kubectl(
            &["apply", "--server-side", "-n", "argocd", "-f", &path],
            None,
        )
        .await
        .unwrap();
    assert!(ok, "apply install.yaml: {out}{err}");
    assert!(out.contains("customresourcedefinition.apiextensions.k8s.io/applicationsets.argoproj.io serverside-applied"), "{out}");
    assert!(
        out.contains("statefulset.apps/argocd-application-controller serverside-applied"),
        "{out}"
    );
    // Re-applying the same manifests is a no-op for the API server (no new resourceVersion).
    let rv = env.cluster.revision();
    let (ok, _, err) = env
        .kubectl(
            &["apply", "--server-side", "-n", "argocd", "-f", &path],
            None,
        )
        .await
        .unwrap();
    assert!(ok, "{err}");
    let changed: Vec<String> = [
        ("", "services"),
        ("", "configmaps"),
        ("", "secrets"),
        ("", "serviceaccounts"),
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("apiextensions.k8s.io", "customresourcedefinitions"),
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "clusterroles"),
        ("rbac.authorization.k8s.io", "rolebindings"),
        ("rbac.authorization.k8s.io", "clusterrolebindings"),
        ("networking.k8s.io", "networkpolicies"),
    ]
    .iter()
    .flat_map(|(g, r)| env.cluster.objects(g, r))
    .filter(|o| {
        o["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > rv
    })
    .map(|o| o.to_string().chars().take(3000).collect())
    .collect();
    assert_eq!(
        env.cluster.revision(),
        rv,
        "a second identical apply changed objects: {changed:?}"
    );

    let app = r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: root
  namespace: argocd
  finalizers:
  - resources-finalizer.argocd.argoproj.io
spec:
  project: default
  source:
    repoURL: https://example.invalid/gitops.git
    targetRevision: main
    path: clusters/dev
  destination:
    server: https://kubernetes.default.svc
    namespace: argocd
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [ServerSideApply=true]
"#;
    let (ok, out, err) = env
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(app.into()))
        .await
        .unwrap();
    assert!(ok, "{out}{err}");
    // No Ready node takes the Argo CD pods until Cilium runs: the Application stays unsynced.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let a = env
        .cluster
        .object("argoproj.io", "applications", "argocd", "root")
        .unwrap();
    assert!(a.pointer("/status/sync/status").is_none(), "{a}");

    let (ok, _, err) = env
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(CILIUM.into()))
        .await
        .unwrap();
    assert!(ok, "{err}");
    let c = env.cluster.clone();
    wait_for("Application Synced", || {
        c.object("argoproj.io", "applications", "argocd", "root")
            .is_some_and(|a| a.pointer("/status/sync/status") == Some(&json!("Synced")))
    })
    .await;
    let (ok, out, err) = env
        .kubectl(&["get", "applications", "-n", "argocd"], None)
        .await
        .unwrap();
    assert!(ok, "{err}");
    assert!(
        out.contains("root") && out.contains("Synced") && out.contains("Healthy"),
        "{out}"
    );
    let a = env
        .cluster
        .object("argoproj.io", "applications", "argocd", "root")
        .unwrap();
    let rev = a
        .pointer("/status/sync/revision")
        .and_then(Value::as_str)
        .unwrap();
    assert_eq!(rev.len(), 40);
    assert!(rev.chars().all(|c| c.is_ascii_hexdigit()));
    let (ok, out, err) = env
        .kubectl(
            &[
                "get",
                "app",
                "-n",
                "argocd",
                "root",
                "-o",
                "jsonpath={.status.health.status}",
            ],
            None,
        )
        .await
        .unwrap();
    assert!(ok && out == "Healthy", "{out}{err}");

    // Deleting the root Application: the finalizer is honoured by the (ready) controller.
    let (ok, out, err) = env
        .kubectl(
            &[
                "delete",
                "application",
                "-n",
                "argocd",
                "root",
                "--wait=true",
                "--timeout=10s",
            ],
            None,
        )
        .await
        .unwrap();
    assert!(ok, "{out}{err}");
    assert!(env
        .cluster
        .object("argoproj.io", "applications", "argocd", "root")
        .is_none());
    env.server.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_a_crd_then_its_resources_and_deletes_them() {
    let env = Env::start("127.0.111.33", 10).await;
    let crd = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              tags: {type: array, x-kubernetes-list-type: set, items: {type: string}}
          status:
            type: object
            properties:
              ok: {type: boolean}
"#;
    let Some((ok, out, err)) = env
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(crd.into()))
        .await
    else {
        return;
    };
    assert!(ok, "{out}{err}");
    let cr = r#"
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
  namespace: default
spec:
  size: 3
  tags: [a, b]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
"#;
    let (ok, out, err) = env
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(cr.into()))
        .await
        .unwrap();
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("widget.example.com/w1 serverside-applied"),
        "{out}"
    );
    let (ok, out, err) = env.kubectl(&["get", "wd"], None).await.unwrap();
    assert!(
        ok && out.contains("w1") && out.contains("SIZE") && out.contains('3'),
        "{out}{err}"
    );
    let (ok, out, err) = env
        .kubectl(
            &[
                "get",
                "widgets.example.com",
                "w1",
                "-o",
                "json",
                "--show-managed-fields",
            ],
            None,
        )
        .await
        .unwrap();
    assert!(ok, "{err}");
    let w: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(w["metadata"]["generation"], 1);
    assert_eq!(w["metadata"]["managedFields"][0]["manager"], "kubectl");
    assert_eq!(w["metadata"]["managedFields"][0]["operation"], "Apply");

    // A conflicting apply by another manager fails like the API server's.
    let other = cr.replace("size: 3", "size: 4");
    let (ok, _, err) = env
        .kubectl(
            &["apply", "--server-side", "--field-manager=other", "-f", "-"],
            Some(other.clone()),
        )
        .await
        .unwrap();
    assert!(!ok);
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"kubectl\": .spec.size"),
        "{err}"
    );
    let (ok, _, err) = env
        .kubectl(
            &[
                "apply",
                "--server-side",
                "--field-manager=other",
                "--force-conflicts",
                "-f",
                "-",
            ],
            Some(other),
        )
        .await
        .unwrap();
    assert!(ok, "{err}");
    let w = env
        .cluster
        .object("example.com", "widgets", "default", "w1")
        .unwrap();
    assert_eq!(w["spec"]["size"], 4);
    assert_eq!(w["metadata"]["generation"], 2);

    // Schema: kubectl asks for strict field validation, so an undeclared field is refused; a wrong type is 422.
    let bogus = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w2\n  namespace: default\nspec:\n  size: 1\n  bogus: 1\n";
    let (ok, _, err) = env
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(bogus.into()))
        .await
        .unwrap();
    assert!(
        !ok && err.contains("strict decoding error: unknown field \"spec.bogus\""),
        "{err}"
    );
    let typed = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w2\n  namespace: default\nspec:\n  size: big\n";
    let (ok, _, err) = env
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(typed.into()))
        .await
        .unwrap();
    assert!(
        !ok && err.contains("spec.size in body must be of type integer"),
        "{err}"
    );
    // Without strict validation (kube-rs' default), undeclared fields are pruned.
    let ar = kube::discovery::ApiResource {
        group: "example.com".into(),
        version: "v1".into(),
        api_version: "example.com/v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
    };
    let widgets: Api<DynamicObject> = Api::namespaced_with(env.client().await, "default", &ar);
    let w2: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w2"}, "spec": {"size": 1, "bogus": 1}})).unwrap();
    let w2 = widgets.create(&PostParams::default(), &w2).await.unwrap();
    assert_eq!(w2.data["spec"], json!({"size": 1}));

    let (ok, out, err) = env
        .kubectl(&["delete", "-f", "-"], Some(cr.into()))
        .await
        .unwrap();
    assert!(ok, "{out}{err}");
    assert!(env
        .cluster
        .object("example.com", "widgets", "default", "w1")
        .is_none());
    assert!(env
        .cluster
        .object("apps", "deployments", "default", "web")
        .is_none());
    // Deleting the CRD removes its remaining resources and then the CRD.
    let (ok, _, err) = env
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(cr.into()))
        .await
        .unwrap();
    assert!(ok, "{err}");
    let (ok, out, err) = env
        .kubectl(&["delete", "crd", "widgets.example.com"], None)
        .await
        .unwrap();
    assert!(ok, "{out}{err}");
    let c = env.cluster.clone();
    wait_for("CRD gone", || {
        c.object(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "",
            "widgets.example.com",
        )
        .is_none()
    })
    .await;
    assert!(env
        .cluster
        .object("example.com", "widgets", "default", "w1")
        .is_none());
    env.server.unwrap().shutdown().await;
}

/// `kubectl get <what> -o json`, parsed.
async fn kubectl_json(env: &Env, args: &[&str]) -> Value {
    let mut all: Vec<&str> = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let (ok, out, err) = env.kubectl(&all, None).await.unwrap();
    assert!(ok, "kubectl {all:?}: {err}");
    serde_json::from_str(&out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_typed_create_sends_protobuf_and_objects_keep_their_fields() {
    let env = Env::start("127.0.141.1", 10).await;
    // kubectl's typed `create` subcommands send protobuf bodies (verbose logs show the request headers).
    let Some((ok, _, err)) = env
        .kubectl(&["create", "namespace", "team-a", "-v=7"], None)
        .await
    else {
        return;
    };
    assert!(ok, "{err}");
    assert!(
        err.contains("application/vnd.kubernetes.protobuf"),
        "kubectl no longer sends protobuf? {err}"
    );
    let ns = kubectl_json(&env, &["namespace", "team-a"]).await;
    assert_eq!(ns["metadata"]["name"], "team-a");
    assert_eq!(ns["status"]["phase"], "Active");

    let run = |args: &'static [&'static str]| {
        let env = &env;
        async move {
            let (ok, out, err) = env.kubectl(args, None).await.unwrap();
            assert!(ok, "kubectl {args:?}: {err}");
            out
        }
    };
    run(&[
        "create",
        "secret",
        "generic",
        "creds",
        "-n",
        "team-a",
        "--from-literal=user=admin",
        "--from-literal=pass=s3cr3t",
    ])
    .await;
    let s = kubectl_json(&env, &["secret", "creds", "-n", "team-a"]).await;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert_eq!(
        s["data"],
        json!({"pass": b64("s3cr3t"), "user": b64("admin")})
    );
    assert_eq!(s["type"], "Opaque");
    assert_eq!(s["metadata"]["namespace"], "team-a");

    let bin = env.dir.path().join("blob");
    std::fs::write(&bin, [0xffu8, 0x00, 0x7f]).unwrap();
    let from_file = format!("--from-file=blob={}", bin.display());
    let (ok, _, err) = env
        .kubectl(
            &[
                "create",
                "configmap",
                "settings",
                "-n",
                "team-a",
                "--from-literal=mode=fast",
                &from_file,
            ],
            None,
        )
        .await
        .unwrap();
    assert!(ok, "{err}");
    let cm = kubectl_json(&env, &["configmap", "settings", "-n", "team-a"]).await;
    assert_eq!(cm["data"], json!({"mode": "fast"}));
    assert_eq!(cm["binaryData"], json!({"blob": "/wB/"}));

    run(&["create", "serviceaccount", "deployer", "-n", "team-a"]).await;
    let sa = kubectl_json(&env, &["serviceaccount", "deployer", "-n", "team-a"]).await;
    assert_eq!(sa["metadata"]["name"], "deployer");
    assert!(sa["metadata"]["uid"]
        .as_str()
        .is_some_and(|u| !u.is_empty()));

    run(&[
        "create",
        "role",
        "reader",
        "-n",
        "team-a",
        "--verb=get,list",
        "--resource=pods,deployments.apps",
    ])
    .await;
    let role = kubectl_json(&env, &["role", "reader", "-n", "team-a"]).await;
    let rules = role["rules"].as_array().unwrap();
    assert!(
        rules
            .contains(&json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]})),
        "{rules:?}"
    );
    assert!(
        rules.contains(
            &json!({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]})
        ),
        "{rules:?}"
    );
    run(&[
        "create",
        "clusterrolebinding",
        "deployer-view",
        "--clusterrole=view",
        "--serviceaccount=team-a:deployer",
    ])
    .await;
    let crb = kubectl_json(&env, &["clusterrolebinding", "deployer-view"]).await;
    assert_eq!(
        crb["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"})
    );
    assert_eq!(
        crb["subjects"],
        json!([{"kind": "ServiceAccount", "name": "deployer", "namespace": "team-a"}])
    );

    // Workloads and Services: pod templates, IntOrString target ports, pointer fields kept when zero.
    run(&[
        "create",
        "deployment",
        "web",
        "-n",
        "team-a",
        "--image=nginx:1.27",
        "--replicas=0",
        "--port=8080",
    ])
    .await;
    let d = kubectl_json(&env, &["deployment", "web", "-n", "team-a"]).await;
    assert_eq!(d["spec"]["replicas"], 0, "{d}");
    assert_eq!(
        d["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "nginx:1.27", "{d}");
    assert_eq!(c["ports"], json!([{"containerPort": 8080}]), "{d}");
    // `kubectl scale` patches the /scale subresource; a wrong --current-replicas is refused.
    run(&["scale", "deployment", "web", "-n", "team-a", "--replicas=3"]).await;
    let d = kubectl_json(&env, &["deployment", "web", "-n", "team-a"]).await;
    assert_eq!(d["spec"]["replicas"], 3, "{d}");
    let (ok, out, err) = env
        .kubectl(
            &[
                "get",
                "--raw",
                "/apis/apps/v1/namespaces/team-a/deployments/web/scale",
            ],
            None,
        )
        .await
        .unwrap();
    assert!(ok, "{err}");
    let scale: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"], json!({"replicas": 3}));
    assert_eq!(scale["status"]["selector"], "app=web");
    let (ok, _, err) = env
        .kubectl(
            &[
                "scale",
                "deployment",
                "web",
                "-n",
                "team-a",
                "--replicas=1",
                "--current-replicas=7",
            ],
            None,
        )
        .await
        .unwrap();
    assert!(
        !ok && err.contains("Expected replicas to be 7, was 3"),
        "{err}"
    );
    run(&[
        "create",
        "service",
        "clusterip",
        "web",
        "-n",
        "team-a",
        "--tcp=80:http",
    ])
    .await;
    let svc = kubectl_json(&env, &["service", "web", "-n", "team-a"]).await;
    assert_eq!(
        svc["spec"]["ports"][0],
        json!({"name": "80-http", "port": 80, "protocol": "TCP", "targetPort": "http"}),
        "{svc}"
    );
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    run(&[
        "create",
        "service",
        "nodeport",
        "web-np",
        "-n",
        "team-a",
        "--tcp=80:8080",
    ])
    .await;
    let np = kubectl_json(&env, &["service", "web-np", "-n", "team-a"]).await;
    assert_eq!(np["spec"]["ports"][0]["targetPort"], 8080, "{np}");
    run(&[
        "create",
        "cronjob",
        "nightly",
        "-n",
        "team-a",
        "--image=busybox",
        "--schedule=0 3 * * *",
        "--",
        "date",
    ])
    .await;
    let cj = kubectl_json(&env, &["cronjob", "nightly", "-n", "team-a"]).await;
    assert_eq!(cj["spec"]["schedule"], "0 3 * * *");
    let job_pod = &cj["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(job_pod["containers"][0]["command"], json!(["date"]), "{cj}");
    assert_eq!(job_pod["restartPolicy"], "OnFailure", "{cj}");
    run(&["create", "job", "once", "-n", "team-a", "--image=busybox"]).await;
    let job = kubectl_json(&env, &["job", "once", "-n", "team-a"]).await;
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox"
    );

    run(&[
        "create",
        "priorityclass",
        "batch-low",
        "--value=0",
        "--description=low",
    ])
    .await;
    let pc = kubectl_json(&env, &["priorityclass", "batch-low"]).await;
    assert_eq!(
        (&pc["value"], &pc["description"]),
        (&json!(0), &json!("low")),
        "{pc}"
    );
    run(&[
        "create",
        "poddisruptionbudget",
        "web",
        "-n",
        "team-a",
        "--selector=app=web",
        "--min-available=50%",
    ])
    .await;
    let pdb = kubectl_json(&env, &["poddisruptionbudget", "web", "-n", "team-a"]).await;
    assert_eq!(pdb["spec"]["minAvailable"], "50%", "{pdb}");
    assert_eq!(
        pdb["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );

    // A kind whose protobuf the emulator does not decode is refused with 415, never stored half-read.
    let (ok, _, err) = env
        .kubectl(
            &["create", "quota", "small", "-n", "team-a", "--hard=pods=2"],
            None,
        )
        .await
        .unwrap();
    assert!(!ok);
    assert!(err.contains("v1 ResourceQuota"), "{err}");
    assert!(env
        .cluster
        .object("", "resourcequotas", "team-a", "small")
        .is_none());

    run(&["delete", "namespace", "team-a"]).await;
    env.server.unwrap().shutdown().await;
}

/// The serving certificate presented on `addr:6443` when the client verifies against `ca_pem` with `name` as the
/// server name; Err when the handshake fails.
async fn serving_cert(addr: &str, name: &str, ca_pem: &str) -> Result<Vec<String>, String> {
    use std::sync::Arc;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(vixens::emulator::pki::cert_der(ca_pem).unwrap())
        .unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect((addr, 6443))
        .await
        .map_err(|e| e.to_string())?;
    let server_name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(server_name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let der = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let sans = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => d.to_string(),
            x509_parser::extensions::GeneralName::IPAddress(b) if b.len() == 4 => {
                std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()
            }
            other => format!("{other:?}"),
        })
        .collect();
    Ok(sans)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_control_plane_presents_its_own_serving_certificate() {
    use vixens::emulator::run::{Emulator, Options};
    use vixens::emulator::testkit::{machine_config, TestSecrets};
    use vixens::emulator::topology::Topology;
    use vixens::talos::client::{ApplyMode, Security, TalosClient};
    use vixens::talos::pki::CertAndKey;

    let topology = Topology::parse(
        "nodes:\n- {name: cp1, address: 127.0.142.1}\n- {name: cp2, address: 127.0.142.2}\n\
         timings: {install_delay: 20ms, reboot_delay: 20ms, workload_delay: 20ms}\n",
    )
    .unwrap();
    let emu = Emulator::start(Options {
        topology,
        state_dir: None,
        control: None,
    })
    .await
    .unwrap();
    let s = TestSecrets::generate();
    let vip = "apiVersion: v1alpha1\nkind: Layer2VIPConfig\nname: 127.0.142.10\nlink: eth0\n";
    let cfg = machine_config(&s, true, "https://127.0.142.10:6443", vip).replace(
        "  proxy: {disabled: true}\n",
        "  proxy: {disabled: true}\n  apiServer:\n    certSANs: [api.team.example]\n",
    );
    assert!(
        cfg.contains("api.team.example"),
        "the fixture changed shape"
    );
    let t = Duration::from_secs(5);
    for addr in ["127.0.142.1", "127.0.142.2"] {
        TalosClient::connect(addr, &Security::Maintenance, t)
            .unwrap()
            .apply_configuration(cfg.as_bytes(), ApplyMode::Auto)
            .await
            .unwrap();
    }
    let issued = s.os.client("os:admin");
    let admin = Security::Secure {
        ca_crt: s.os.cert_pem.clone(),
        client: CertAndKey {
            crt: issued.cert_pem,
            key: issued.key_pem,
        },
    };
    let cp1 = TalosClient::connect("127.0.142.1", &admin, t).unwrap();
    let mut booted = false;
    for _ in 0..400 {
        if cp1.bootstrap_once().await.is_ok() {
            booted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(booted, "cp1 never accepted Bootstrap");

    let ca = s.k8s.cert_pem.clone();
    let mut sans = std::collections::BTreeMap::new();
    for (me, other) in [
        ("127.0.142.1", "127.0.142.2"),
        ("127.0.142.2", "127.0.142.1"),
    ] {
        let mut got = Err(String::new());
        for _ in 0..400 {
            got = serving_cert(me, me, &ca).await;
            if got.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let list = got.unwrap_or_else(|e| panic!("TLS to {me}:6443 verifying {me}: {e}"));
        for want in [
            me,
            "127.0.142.10",
            "api.team.example",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "localhost",
            "10.96.0.1",
        ] {
            assert!(
                list.iter().any(|s| s == want),
                "{me}: {want} missing from {list:?}"
            );
        }
        assert!(
            !list.iter().any(|s| s == other),
            "{me} carries {other}: {list:?}"
        );
        // The node's certificate does not vouch for the other control plane.
        let e = serving_cert(me, other, &ca).await.unwrap_err();
        assert!(
            e.contains("NotValidForName") || e.contains("certificate"),
            "{e}"
        );
        for name in ["kubernetes.default.svc", "api.team.example", "127.0.142.10"] {
            serving_cert(me, name, &ca)
                .await
                .unwrap_or_else(|e| panic!("{me} as {name}: {e}"));
        }
        sans.insert(me, list);
    }
    // The endpoint (VIP) answers with a certificate valid for its host.
    serving_cert("127.0.142.10", "127.0.142.10", &ca)
        .await
        .unwrap();
    // A certificate from another CA is not trusted.
    let foreign = TestSecrets::generate();
    assert!(
        serving_cert("127.0.142.1", "127.0.142.1", &foreign.k8s.cert_pem)
            .await
            .is_err()
    );
    emu.stop().await;
}

/// Points the emulator at kubernetes-validate's definitions (scripts/install-kubernetes-validate.sh, or
/// `VIXENS_K8S_SCHEMAS` from scripts/test.sh).
fn use_upstream_schemas() {
    if std::env::var_os("VIXENS_K8S_SCHEMAS").is_none() {
        let out = std::process::Command::new("bash")
            .arg(repo_root().join("scripts/install-kubernetes-validate.sh"))
            .output()
            .expect("run scripts/install-kubernetes-validate.sh");
        assert!(
            out.status.success(),
            "install-kubernetes-validate.sh failed"
        );
        std::env::set_var(
            "VIXENS_K8S_SCHEMAS",
            String::from_utf8_lossy(&out.stdout).trim(),
        );
    }
}

/// `kubectl explain` reads the component schemas of /openapi/v3/apis/apps/v1 (k8s.io/kubectl/pkg/explain/v2),
/// which the emulator publishes from the upstream definitions; and a manager re-applying a Deployment without an
/// env item, a volumeMount and a volume removes the whole items, as kube-apiserver does (structured-merge-diff
/// merge/update.go@v4.1.2 prune; the differential suite tests/ssa_differential.rs checks it against the library).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_explain_and_apply_removing_list_items_with_upstream_types() {
    use_upstream_schemas();
    let env = Env::start("127.0.114.2", 50).await;
    let Some((ok, out, err)) = env.kubectl(&["explain", "deployment.spec"], None).await else {
        return;
    };
    assert!(ok, "kubectl explain: {err}");
    assert!(out.contains("KIND:       Deployment"), "{out}");
    assert!(
        out.contains("template\t<PodTemplateSpec> -required-"),
        "{out}"
    );
    let deploy = |extra: bool| {
        let (env_b, mount_b, vol_b) = if extra {
            (
                "\n        - {name: B, value: b}",
                "\n        - {name: b, mountPath: /b}",
                "\n      - {name: b, secret: {secretName: b}}",
            )
        } else {
            ("", "", "")
        };
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: default}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n        env:\n        - {{name: A, value: a}}{env_b}\n        volumeMounts:\n        - {{name: a, mountPath: /a}}{mount_b}\n      volumes:\n      - {{name: a, configMap: {{name: a}}}}{vol_b}\n"
        )
    };
    for extra in [true, false] {
        let (ok, _, err) = env
            .kubectl(
                &[
                    "apply",
                    "--server-side",
                    "--field-manager=vixens",
                    "-f",
                    "-",
                ],
                Some(deploy(extra)),
            )
            .await
            .unwrap();
        assert!(ok, "apply: {err}");
    }
    let d = env
        .cluster
        .object("apps", "deployments", "default", "web")
        .unwrap();
    let spec = &d["spec"]["template"]["spec"];
    assert_eq!(
        spec["containers"][0]["env"],
        json!([{"name": "A", "value": "a"}])
    );
    assert_eq!(
        spec["containers"][0]["volumeMounts"],
        json!([{"name": "a", "mountPath": "/a"}])
    );
    assert_eq!(
        spec["volumes"],
        json!([{"name": "a", "configMap": {"name": "a"}}])
    );
}

/// A Secret whose base64 data is wrapped over several lines (as kustomize writes it) is accepted and stored on
/// one line; invalid base64 is refused with the API server's decoding error (Go encoding/base64 skips \r and
/// \n; k8s.io/apiserver/pkg/endpoints/handlers/rest.go@v0.32.0 transformDecodeError).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_a_secret_with_wrapped_base64_and_refuses_invalid() {
    let env = Env::start("127.0.114.3", 10).await;
    let long = "x".repeat(100);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&long);
    let wrapped: String = b64
        .as_bytes()
        .chunks(76)
        .map(|c| format!("    {}\n", String::from_utf8_lossy(c)))
        .collect();
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: s, namespace: default}}\ndata:\n  k: |\n{wrapped}"
    );
    let Some((ok, _, err)) = env
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(secret))
        .await
    else {
        return;
    };
    assert!(ok, "apply: {err}");
    let s = env.cluster.object("", "secrets", "default", "s").unwrap();
    assert_eq!(s["data"]["k"], json!(b64));
    let bad = "apiVersion: v1\nkind: Secret\nmetadata: {name: t, namespace: default}\ndata: {k: 'a!b='}\n";
    let (ok, _, err) = env
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(bad.into()))
        .await
        .unwrap();
    assert!(!ok);
    assert!(
        err.contains(
            "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 1"
        ),
        "{err}"
    );
}

/// Jobs complete after the workload delay (pkg/controller/job/job_controller.go@v1.32.0); a Deployment whose pods
/// mount a missing Secret is not ready until it exists (pkg/volume/secret/secret.go@v1.32.0); CSIDriver
/// (storage.k8s.io/v1, cluster-scoped) is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_complete_missing_volumes_block_readiness_and_csidrivers_are_served() {
    let env = Env::start("127.0.114.4", 50).await;
    env.cluster
        .ensure_node("w1", ip("127.0.114.5"), false)
        .unwrap();
    let manifest = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: once, namespace: default}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      tolerations: [{operator: Exists}]
      containers: [{name: c, image: nginx}]
      volumes: [{name: tls, secret: {secretName: web-tls}}]
---
apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata: {name: csi.example.com}
spec: {attachRequired: false}
"#;
    let Some((ok, _, err)) = env
        .kubectl(
            &["apply", "--server-side", "-f", "-"],
            Some(manifest.into()),
        )
        .await
    else {
        return;
    };
    assert!(ok, "apply: {err}");
    let cluster = env.cluster.clone();
    wait_for("the Job to complete", || {
        cluster
            .object("batch", "jobs", "default", "once")
            .is_some_and(|j| j.pointer("/status/succeeded") == Some(&json!(1)))
    })
    .await;
    let job = env
        .cluster
        .object("batch", "jobs", "default", "once")
        .unwrap();
    let types: Vec<&str> = job["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["type"].as_str())
        .collect();
    assert_eq!(types, ["SuccessCriteriaMet", "Complete"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let d = env
        .cluster
        .object("apps", "deployments", "default", "web")
        .unwrap();
    assert_eq!(d.pointer("/status/readyReplicas"), None, "{d}");
    let (ok, _, err) = env
        .kubectl(
            &[
                "create",
                "secret",
                "generic",
                "web-tls",
                "--from-literal=k=v",
            ],
            None,
        )
        .await
        .unwrap();
    assert!(ok, "{err}");
    wait_for("the Deployment to be ready", || {
        cluster
            .object("apps", "deployments", "default", "web")
            .is_some_and(|d| d.pointer("/status/readyReplicas") == Some(&json!(1)))
    })
    .await;
    let (ok, out, err) = env.kubectl(&["get", "csidrivers"], None).await.unwrap();
    assert!(ok && out.contains("csi.example.com"), "{out}{err}");
}

/// A CronJob creates its Jobs as kube-controller-manager does (pkg/controller/cronjob/cronjob_controllerv2.go): one
/// for the most recent schedule time missed since `lastScheduleTime`, named after that time in minutes, owned by the
/// CronJob and annotated with the time; the Job completes after the emulator's `job_delay` (not `workload_delay`);
/// the CronJob's status follows (active, lastScheduleTime, lastSuccessfulTime); deleting the CronJob collects its Jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cronjobs_create_jobs_that_complete_after_the_job_delay() {
    let opts = KubeOptions {
        workload_delay: Duration::from_millis(10),
        job_delay: Some(Duration::from_millis(1500)),
        ..Default::default()
    };
    let env = Env::start_with("127.0.151.1", opts, mint_ca()).await;
    let client = env.client().await;
    let ar = kube::api::ApiResource {
        group: "batch".into(),
        version: "v1".into(),
        api_version: "batch/v1".into(),
        kind: "CronJob".into(),
        plural: "cronjobs".into(),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let cj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick", "namespace": "default"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"metadata": {"labels": {"app": "tick"}}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}},
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &cj).await.unwrap();
    // The API server defaults the policy and the history limits.
    let spec = serde_json::to_value(&created).unwrap()["spec"].clone();
    assert_eq!(spec["concurrencyPolicy"], "Allow");
    assert_eq!(spec["successfulJobsHistoryLimit"], 3);
    assert_eq!(spec["failedJobsHistoryLimit"], 1);
    // As if the CronJob had last run three minutes ago (e.g. restored from a backup): the most recent missed
    // schedule time starts one Job, not three.
    let past = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(180))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    api.patch_status(
        "tick",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"lastScheduleTime": past}})),
    )
    .await
    .unwrap();
    let cluster = env.cluster.clone();
    wait_for("the CronJob to start a Job", || {
        cluster
            .object("batch", "cronjobs", "default", "tick")
            .is_some_and(|c| c.pointer("/status/active/0/name").is_some())
    })
    .await;
    let cj = cluster
        .object("batch", "cronjobs", "default", "tick")
        .unwrap();
    let scheduled = cj["status"]["lastScheduleTime"]
        .as_str()
        .unwrap()
        .to_string();
    let minutes = scheduled.parse::<jiff::Timestamp>().unwrap().as_second() / 60;
    let name = format!("tick-{minutes}");
    assert_eq!(cj["status"]["active"][0]["name"], name.as_str(), "{cj}");
    assert_eq!(cj["status"]["active"][0]["kind"], "Job");
    let jobs: Vec<Value> = cluster.objects("batch", "jobs");
    assert_eq!(jobs.len(), 1, "one Job for the missed times: {jobs:?}");
    let job = &jobs[0];
    assert_eq!(job["metadata"]["name"], name.as_str());
    assert_eq!(job["metadata"]["labels"]["app"], "tick");
    assert_eq!(
        job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"],
        scheduled.as_str()
    );
    let owner = &job["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "CronJob");
    assert_eq!(owner["uid"], cj["metadata"]["uid"]);
    assert_eq!(owner["controller"], true);
    // Still running after the workload delay: Jobs take the job delay.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let job = cluster.object("batch", "jobs", "default", &name).unwrap();
    assert_eq!(job.pointer("/status/active"), Some(&json!(1)), "{job}");
    wait_for("the Job to complete and the CronJob to see it", || {
        cluster
            .object("batch", "cronjobs", "default", "tick")
            .is_some_and(|c| c.pointer("/status/lastSuccessfulTime").is_some())
    })
    .await;
    let cj = cluster
        .object("batch", "cronjobs", "default", "tick")
        .unwrap();
    assert!(cj.pointer("/status/active").is_none(), "{cj}");
    assert_eq!(cj["status"]["lastScheduleTime"], scheduled.as_str());
    // Deleting the CronJob collects its Jobs (ownerReferences, background propagation).
    api.delete("tick", &DeleteParams::default()).await.unwrap();
    wait_for("the Job to be collected", || {
        cluster.objects("batch", "jobs").is_empty()
    })
    .await;
}

/// Strategic merge patches of built-in kinds follow the upstream schemas' patch strategies
/// (k8s.io/apimachinery pkg/util/strategicpatch/patch.go, the `patchStrategy`/`patchMergeKey` tags published as
/// `x-kubernetes-patch-strategy`/`-merge-key`): a Service's `selector` map merges, `metadata.finalizers`
/// (strategy merge, scalars) takes the union, container `ports` merge by `containerPort`, `tolerations` (no
/// strategy) are replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategic_merge_patches_follow_the_upstream_patch_strategies() {
    use_upstream_schemas();
    let env = Env::start("127.0.151.2", 10).await;
    let client = env.client().await;
    let svc_ar = kube::api::ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "Service".into(),
        plural: "services".into(),
    };
    let services: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &svc_ar);
    let svc: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "finalizers": ["example.com/a"]},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "name": "http"}]},
    }))
    .unwrap();
    services.create(&PostParams::default(), &svc).await.unwrap();
    let patched = services
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"finalizers": ["example.com/b"]},
                "spec": {"selector": {"tier": "front"}}})),
        )
        .await
        .unwrap();
    let v = serde_json::to_value(&patched).unwrap();
    assert_eq!(
        v["spec"]["selector"],
        json!({"app": "web", "tier": "front"})
    );
    assert_eq!(
        v["metadata"]["finalizers"],
        json!(["example.com/a", "example.com/b"])
    );
    let dep_ar = kube::api::ApiResource {
        group: "apps".into(),
        version: "v1".into(),
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        plural: "deployments".into(),
    };
    let deployments: Api<DynamicObject> = Api::namespaced_with(client, "default", &dep_ar);
    let dep: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"tolerations": [{"key": "a", "operator": "Exists"}],
                "containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80, "name": "http"}]}]}}},
    }))
    .unwrap();
    deployments
        .create(&PostParams::default(), &dep)
        .await
        .unwrap();
    let patched = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {
                "tolerations": [{"key": "b", "operator": "Exists"}],
                "containers": [{"name": "web", "ports": [{"containerPort": 80, "hostPort": 8080}]}]}}}})),
        )
        .await
        .unwrap();
    let spec = serde_json::to_value(&patched).unwrap()["spec"]["template"]["spec"].clone();
    let ports = spec["containers"][0]["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 1, "{ports:?}");
    assert_eq!(
        (&ports[0]["name"], &ports[0]["hostPort"]),
        (&json!("http"), &json!(8080))
    );
    assert_eq!(
        spec["tolerations"],
        json!([{"key": "b", "operator": "Exists"}])
    );
    assert_eq!(spec["containers"][0]["image"], "nginx");
}
