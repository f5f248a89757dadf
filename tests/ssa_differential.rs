//! Differential tests of the emulator's server-side apply against structured-merge-diff, the library
//! kube-apiserver's field manager uses (the Go oracle in tests/ssa-oracle, built by scripts/ssa-oracle.sh from
//! Debian's golang-k8s-sigs-structured-merge-diff-dev; `VIXENS_SSA_ORACLE` names a built binary).
//!
//! proptest generates sequences of (manager, apply or update, force, object) over the shapes the provider's
//! objects use: associative lists keyed by one field (containers, env, volumes, volumeMounts) or two (ports by
//! containerPort+protocol, protocol defaulted), sets (finalizers, CRD `x-kubernetes-list-type: set`), atomic lists
//! (args, tolerations), granular and atomic maps (labels, selector), nested structs, ConfigMap data and a CRD
//! schema. Both sides run every sequence (the oracle once per batch, one process) and must agree on the object,
//! on every manager's fields and on conflicts after each step. `VIXENS_SSA_CASES` sets how many sequences (600 by
//! default), `VIXENS_SSA_SEED` the seed (printed on failure). tests/ssa/regressions.json holds the cases that
//! differed once; they run every time.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};
use vixens::emulator::kube::k8s_schemas;
use vixens::emulator::kube::ssa_check::{self, Outcome, Step};

fn s(t: &str) -> Value {
    json!({"type": t})
}

fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string"}})
}

fn obj(props: Value) -> Value {
    json!({"type": "object", "properties": props})
}

fn list_map(keys: &[&str], item: Value) -> Value {
    json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": keys, "items": item})
}

fn metadata() -> Value {
    obj(json!({"labels": string_map(), "annotations": string_map(),
        "finalizers": {"type": "array", "x-kubernetes-list-type": "set", "items": s("string")}}))
}

fn container() -> Value {
    obj(json!({
        "name": s("string"), "image": s("string"),
        "args": {"type": "array", "items": s("string")},
        "env": list_map(&["name"], obj(json!({"name": s("string"), "value": s("string"),
            "valueFrom": obj(json!({"secretKeyRef": obj(json!({"name": s("string"), "key": s("string")}))}))}))),
        "ports": list_map(&["containerPort", "protocol"], obj(json!({"containerPort": s("integer"),
            "protocol": {"type": "string", "default": "TCP"}, "name": s("string")}))),
        "volumeMounts": list_map(&["mountPath"], obj(json!({"name": s("string"), "mountPath": s("string"),
            "readOnly": s("boolean")}))),
        "resources": obj(json!({"limits": string_map(), "requests": string_map()})),
    }))
}

/// The type families, by name (regressions refer to them by name).
fn schemas() -> BTreeMap<&'static str, Value> {
    let pod = obj(json!({
        "containers": list_map(&["name"], container()),
        "volumes": list_map(&["name"], obj(json!({"name": s("string"),
            "configMap": obj(json!({"name": s("string")})), "secret": obj(json!({"secretName": s("string")}))}))),
        "nodeSelector": string_map(),
        "tolerations": {"type": "array", "items": obj(json!({"key": s("string"), "operator": s("string")}))},
    }));
    let workload = obj(json!({
        "metadata": metadata(),
        "spec": obj(json!({
            "replicas": s("integer"),
            "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                "properties": {"matchLabels": string_map()}},
            "strategy": obj(json!({"type": s("string"), "rollingUpdate": obj(json!({
                "maxSurge": {"x-kubernetes-int-or-string": true}}))})),
            "template": obj(json!({"metadata": metadata(), "spec": pod})),
        })),
    }));
    let configmap = obj(json!({
        "metadata": metadata(), "data": string_map(), "binaryData": string_map(), "immutable": s("boolean"),
    }));
    let crd = obj(json!({
        "metadata": metadata(),
        "spec": obj(json!({
            "items": list_map(&["a", "b"], obj(json!({"a": s("string"), "b": s("integer"), "v": s("string"),
                "sub": obj(json!({"p": s("string"), "q": s("string")}))}))),
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": s("string")},
            "blocks": {"type": "array", "x-kubernetes-list-type": "atomic", "items": obj(json!({"p": s("string")}))},
            "pinned": {"type": "object", "x-kubernetes-map-type": "atomic",
                "properties": {"p": s("string"), "q": s("string")}},
            "byName": {"type": "object", "additionalProperties": obj(json!({"x": s("string"), "y": s("string")}))},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        })),
    }));
    let mut out = BTreeMap::from([
        ("workload", workload),
        ("configmap", configmap),
        ("crd", crd),
    ]);
    let doc = upstream();
    for (family, def) in UPSTREAM {
        out.insert(
            family,
            json!({"$ref": format!("#/$defs/{def}"), "$defs": doc["$defs"]}),
        );
    }
    out
}

/// Families typed by kubernetes-validate's upstream definitions (v1.32), by definition name.
const UPSTREAM: [(&str, &str); 3] = [
    ("upstream-deployment", "io.k8s.api.apps.v1.Deployment"),
    ("upstream-configmap", "io.k8s.api.core.v1.ConfigMap"),
    ("upstream-service", "io.k8s.api.core.v1.Service"),
];

/// The struct fields the generator fills in upstream families.
const UPSTREAM_FIELDS: &[&str] = &[
    "metadata",
    "labels",
    "annotations",
    "finalizers",
    "spec",
    "replicas",
    "selector",
    "matchLabels",
    "template",
    "containers",
    "name",
    "image",
    "args",
    "env",
    "value",
    "valueFrom",
    "secretKeyRef",
    "key",
    "ports",
    "containerPort",
    "protocol",
    "volumeMounts",
    "mountPath",
    "readOnly",
    "volumes",
    "configMap",
    "secret",
    "secretName",
    "nodeSelector",
    "tolerations",
    "operator",
    "effect",
    "strategy",
    "type",
    "rollingUpdate",
    "maxSurge",
    "resources",
    "limits",
    "requests",
    "data",
    "binaryData",
    "immutable",
    "port",
    "targetPort",
];

/// kubernetes-validate's definitions (installed by scripts/install-kubernetes-validate.sh, or
/// `VIXENS_K8S_SCHEMAS`), with the emulator's restored defaults.
fn upstream() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let path = std::env::var("VIXENS_K8S_SCHEMAS").unwrap_or_else(|_| {
            let root = env!("CARGO_MANIFEST_DIR");
            let out = Command::new("bash")
                .arg(format!("{root}/scripts/install-kubernetes-validate.sh"))
                .stderr(Stdio::inherit())
                .output()
                .expect("run scripts/install-kubernetes-validate.sh");
            assert!(
                out.status.success(),
                "scripts/install-kubernetes-validate.sh failed: upstream schemas are required"
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        });
        k8s_schemas::load(std::path::Path::new(&path))
            .expect("load kubernetes-validate definitions")
    })
}

fn cx_of(family: &str) -> Cx {
    if family.starts_with("upstream-") {
        Cx {
            defs: Some(std::sync::Arc::new(upstream()["$defs"].clone())),
            allowed: Some(std::sync::Arc::new(
                UPSTREAM_FIELDS.iter().map(|s| s.to_string()).collect(),
            )),
        }
    } else {
        Cx::default()
    }
}

/// What the generator resolves `$ref`s with and, for upstream schemas, the only struct fields it fills (the ones
/// the provider's objects use; a whole PodSpec would make huge objects that rarely collide).
#[derive(Clone, Default)]
struct Cx {
    defs: Option<std::sync::Arc<Value>>,
    allowed: Option<std::sync::Arc<std::collections::BTreeSet<String>>>,
}

impl Cx {
    fn resolve(&self, node: &Value) -> Value {
        let r = node
            .get("$ref")
            .or_else(|| node.pointer("/allOf/0/$ref"))
            .and_then(Value::as_str);
        match (r, &self.defs) {
            (Some(r), Some(d)) => d
                .get(r.rsplit('/').next().unwrap_or_default())
                .cloned()
                .unwrap_or(json!({})),
            _ => node.clone(),
        }
    }
}

fn type_of(node: &Value) -> String {
    match node.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    }
}

fn pick<T: Clone + std::fmt::Debug + 'static>(xs: &[T]) -> BoxedStrategy<T> {
    proptest::sample::select(xs.to_vec()).boxed()
}

/// Values of a schema node from small domains, so that managers collide on keys and values.
fn strat(node: &Value, depth: usize, cx: &Cx) -> BoxedStrategy<Value> {
    let node = &cx.resolve(node);
    let typ = type_of(node);
    let typ = typ.as_str();
    if node.get("x-kubernetes-int-or-string") == Some(&json!(true))
        || (typ.is_empty() && node.get("oneOf").is_some())
    {
        return prop_oneof![pick(&[json!(1), json!(2)]), pick(&[json!("25%")])].boxed();
    }
    match typ {
        "string" => pick(&[json!("a"), json!("b"), json!("c")]),
        "integer" => pick(&[json!(1), json!(2), json!(80)]),
        "boolean" => pick(&[json!(true), json!(false)]),
        "array" => {
            let items = cx.resolve(
                &node
                    .get("items")
                    .cloned()
                    .unwrap_or(json!({"type": "string"})),
            );
            let lt = node
                .get("x-kubernetes-list-type")
                .and_then(Value::as_str)
                .map(String::from);
            let keys: Vec<String> = node
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let item = if lt.as_deref() == Some("map") {
                item_strat(&items, &keys, depth + 1, cx)
            } else {
                strat(&items, depth + 1, cx)
            };
            let max = if depth > 6 { 1 } else { 3 };
            proptest::collection::vec(item, 0..=max)
                .prop_map(move |v| {
                    let mut out: Vec<Value> = vec![];
                    for i in v {
                        let dup = match lt.as_deref() {
                            Some("map") => out.iter().any(|o| same_key(o, &i, &keys, &items)),
                            Some("set") => out.contains(&i),
                            _ => false,
                        };
                        if !dup {
                            out.push(i);
                        }
                    }
                    Value::Array(out)
                })
                .boxed()
        }
        _ => {
            if let Some(props) = node.get("properties").and_then(Value::as_object) {
                let parts: Vec<BoxedStrategy<Option<(String, Value)>>> = props
                    .iter()
                    .filter(|(k, _)| cx.allowed.as_ref().is_none_or(|a| a.contains(k.as_str())))
                    // ObjectMeta's name is the object's identity, not a tracked field.
                    .filter(|(k, _)| !(props.contains_key("managedFields") && *k == "name"))
                    .map(|(k, sub)| {
                        let k = k.clone();
                        let p = if depth == 0 && k == "metadata" {
                            0.3
                        } else {
                            0.5
                        };
                        proptest::option::weighted(p, strat(sub, depth + 1, cx))
                            .prop_map(move |v| v.map(|v| (k.clone(), v)))
                            .boxed()
                    })
                    .collect();
                parts
                    .prop_map(move |kv| {
                        let m: serde_json::Map<String, Value> = kv.into_iter().flatten().collect();
                        Value::Object(m)
                    })
                    .boxed()
            } else if let Some(ap) = node.get("additionalProperties").filter(|a| a.is_object()) {
                proptest::collection::btree_map(
                    pick(&["k1".to_string(), "k2".into(), "k3".into()]),
                    strat(ap, depth + 1, cx),
                    0..3,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect()))
                .boxed()
            } else {
                // Untyped (preserve-unknown-fields).
                proptest::collection::btree_map(
                    pick(&["p".to_string(), "q".into()]),
                    prop_oneof![
                        pick(&[json!("x"), json!(1)]),
                        pick(&[json!({"n": 1}), json!([1, 2])])
                    ],
                    0..3,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect()))
                .boxed()
            }
        }
    }
}

/// Items of a keyed list: key fields always present, except a key with a default, sometimes left out.
fn item_strat(items: &Value, keys: &[String], depth: usize, cx: &Cx) -> BoxedStrategy<Value> {
    let rest = strat(items, depth, cx);
    let key_parts: Vec<BoxedStrategy<Option<(String, Value)>>> = keys
        .iter()
        .map(|k| {
            let sub = cx.resolve(&items["properties"][k]);
            let k = k.clone();
            let v = strat(&sub, depth + 1, cx);
            if sub.get("default").is_some() {
                proptest::option::weighted(0.6, v)
                    .prop_map(move |v| v.map(|v| (k.clone(), v)))
                    .boxed()
            } else {
                v.prop_map(move |v| Some((k.clone(), v))).boxed()
            }
        })
        .collect();
    let keys = keys.to_vec();
    (rest, key_parts)
        .prop_map(move |(mut v, kp)| {
            if let Some(m) = v.as_object_mut() {
                for k in &keys {
                    m.remove(k);
                }
                for (k, val) in kp.into_iter().flatten() {
                    m.insert(k, val);
                }
            }
            v
        })
        .boxed()
}

fn same_key(a: &Value, b: &Value, keys: &[String], items: &Value) -> bool {
    keys.iter().all(|k| {
        let d = items["properties"][k].get("default");
        a.get(k).or(d) == b.get(k).or(d)
    })
}

fn sequence(schema: &Value, cx: &Cx) -> BoxedStrategy<Vec<Step>> {
    let object = strat(schema, 0, cx).prop_map(|mut v| {
        if v.get("metadata")
            .is_some_and(|m| m.as_object().is_some_and(|m| m.is_empty()))
        {
            v.as_object_mut().map(|m| m.remove("metadata"));
        }
        v
    });
    let step = (
        pick(&["a", "b", "c"]),
        proptest::bool::weighted(0.8),
        proptest::bool::weighted(0.3),
        object,
    )
        .prop_map(|(m, apply, force, object)| Step {
            manager: m.to_string(),
            apply,
            force,
            object,
        });
    proptest::collection::vec(step, 1..=6).boxed()
}

#[derive(Clone)]
struct Case {
    family: String,
    steps: Vec<Step>,
}

fn case_json(c: &Case) -> Value {
    json!({"family": c.family, "steps": c.steps.iter().map(|s| json!({"manager": s.manager,
        "op": if s.apply {"apply"} else {"update"}, "force": s.force, "object": s.object})).collect::<Vec<_>>()})
}

fn case_from_json(v: &Value) -> Case {
    Case {
        family: v["family"].as_str().unwrap_or_default().to_string(),
        steps: v["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| Step {
                manager: s["manager"].as_str().unwrap_or_default().to_string(),
                apply: s["op"] == "apply",
                force: s["force"] == true,
                object: s["object"].clone(),
            })
            .collect(),
    }
}

fn oracle_path() -> String {
    if let Ok(p) = std::env::var("VIXENS_SSA_ORACLE") {
        return p;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/scripts/ssa-oracle.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/ssa-oracle.sh");
    assert!(
        out.status.success(),
        "scripts/ssa-oracle.sh failed: the SSA oracle is required"
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs the cases through the oracle (one process), returning per case per step its outcome or an error.
fn oracle(cases: &[Case], schemas: &BTreeMap<&str, Value>) -> Vec<Vec<Result<Outcome, String>>> {
    let input =
        json!({"schemas": schemas, "cases": cases.iter().map(case_json).collect::<Vec<_>>()});
    let mut child = Command::new(oracle_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the SSA oracle");
    let body = serde_json::to_vec(&input).expect("encode");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let out = child.wait_with_output().expect("oracle output");
    writer.join().expect("writer").expect("write to oracle");
    assert!(out.status.success(), "oracle failed");
    let v: Value = serde_json::from_slice(&out.stdout).expect("oracle JSON");
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|steps| {
            steps
                .as_array()
                .expect("steps")
                .iter()
                .map(|r| {
                    if let Some(e) = r.get("error").and_then(Value::as_str) {
                        return Err(e.to_string());
                    }
                    let norm = |m: &Value| -> BTreeMap<String, Value> {
                        m.as_object()
                            .into_iter()
                            .flatten()
                            .map(|(k, v)| (k.clone(), normalise_set(v)))
                            .filter(|(_, v)| v.as_object().is_some_and(|m| !m.is_empty()))
                            .collect()
                    };
                    // The API server's objects always have metadata; the emulator's tracked part leaves it out
                    // when empty.
                    let mut object = r["object"].clone();
                    if object
                        .get("metadata")
                        .is_some_and(|m| m.as_object().is_some_and(|m| m.is_empty()))
                    {
                        object.as_object_mut().map(|m| m.remove("metadata"));
                    }
                    Ok(Outcome {
                        object,
                        managed: norm(&r["managed"]),
                        conflicts: norm(&r["conflicts"]),
                    })
                })
                .collect()
        })
        .collect()
}

/// A fieldsV1 value in the emulator's spelling (`.` only where a node is both a member and has children).
fn normalise_set(v: &Value) -> Value {
    fn walk(v: &Value) -> Value {
        let m = match v.as_object() {
            Some(m) => m,
            None => return json!({}),
        };
        let children: serde_json::Map<String, Value> = m
            .iter()
            .filter(|(k, _)| *k != ".")
            .map(|(k, c)| (k.clone(), walk(c)))
            .collect();
        let mut out = serde_json::Map::new();
        if m.contains_key(".") && !children.is_empty() {
            out.insert(".".into(), json!({}));
        }
        let mut keys: Vec<&String> = children.keys().collect();
        keys.sort();
        for k in keys {
            out.insert(k.clone(), children[k].clone());
        }
        Value::Object(out)
    }
    walk(v)
}

fn emulator(c: &Case, schemas: &BTreeMap<&str, Value>) -> Vec<Outcome> {
    let mut out = ssa_check::run(&schemas[c.family.as_str()], &c.steps);
    for o in &mut out {
        for m in o.managed.values_mut().chain(o.conflicts.values_mut()) {
            *m = normalise_set(m);
        }
    }
    out
}

/// The first step at which the two sides differ, with both outcomes.
fn first_difference(
    c: &Case,
    schemas: &BTreeMap<&str, Value>,
    want: &[Result<Outcome, String>],
) -> Option<String> {
    let got = emulator(c, schemas);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let w = match w {
            Ok(w) => w,
            Err(e) => return Some(format!("step {i}: oracle error {e}")),
        };
        if g != w {
            return Some(format!(
                "step {i}:\n  emulator: object {} managed {} conflicts {}\n  oracle:   object {} managed {} conflicts {}",
                g.object,
                json!(g.managed),
                json!(g.conflicts),
                w.object,
                json!(w.managed),
                json!(w.conflicts)
            ));
        }
    }
    None
}

fn regressions() -> Vec<Case> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ssa/regressions.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("read regressions"))
        .expect("JSON");
    v.as_array()
        .expect("array")
        .iter()
        .map(case_from_json)
        .collect()
}

fn check(cases: Vec<Case>, label: &str, seed: Option<u64>) {
    let schemas = schemas();
    let want = oracle(&cases, &schemas);
    assert_eq!(want.len(), cases.len());
    let mut failures = vec![];
    for (c, w) in cases.iter().zip(&want) {
        if let Some(d) = first_difference(c, &schemas, w) {
            failures.push((c.clone(), d));
        }
    }
    if !failures.is_empty() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/.cache/ssa-diff");
        let _ = std::fs::create_dir_all(dir);
        let file = format!("{dir}/{label}-failures.json");
        let all: Vec<Value> = failures.iter().map(|(c, _)| case_json(c)).collect();
        let _ = std::fs::write(
            &file,
            serde_json::to_string_pretty(&all).unwrap_or_default(),
        );
        // The oracle's own input for these cases, to run it by hand.
        let _ = std::fs::write(
            format!("{dir}/{label}-oracle-input.json"),
            json!({"schemas": schemas, "cases": all}).to_string(),
        );
        let (c, d) = &failures[0];
        panic!(
            "{} of {} {label} sequences differ from structured-merge-diff (seed {seed:?}; all in {file}); first:\n{}\n{d}",
            failures.len(),
            cases.len(),
            serde_json::to_string(&case_json(c)).unwrap_or_default()
        );
    }
    eprintln!(
        "{} {label} sequences: emulator == structured-merge-diff",
        cases.len()
    );
}

#[test]
fn generated_sequences_match_structured_merge_diff() {
    let n: usize = std::env::var("VIXENS_SSA_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let seed: u64 = std::env::var("VIXENS_SSA_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let schemas = schemas();
    let families: Vec<(&str, BoxedStrategy<Vec<Step>>)> = schemas
        .iter()
        .map(|(k, v)| (*k, sequence(v, &cx_of(k))))
        .collect();
    let mut cases = vec![];
    for i in 0..n {
        let (family, strat) = &families[i % families.len()];
        let steps = strat.new_tree(&mut runner).expect("generate").current();
        cases.push(Case {
            family: family.to_string(),
            steps,
        });
    }
    check(cases, "generated", Some(seed));
}

#[test]
fn regression_cases_match_structured_merge_diff() {
    check(regressions(), "regression", None);
}
