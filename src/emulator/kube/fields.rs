//! Field sets as server-side apply tracks them (sigs.k8s.io/structured-merge-diff): trees of path elements
//! serialised as `FieldsV1` (`f:<field>`, `k:<json key>`, `v:<json value>`, `i:<index>`, `.` for the node
//! itself), and the shape knowledge that says which lists are associative (merge keys), sets or atomic.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// How a list merges: atomic (replaced whole), set of scalars, or associative by key fields.
#[derive(Debug, Clone, PartialEq)]
pub enum ListKind {
    Atomic,
    Set,
    Map(Vec<String>),
}

/// How a strategic merge patch merges a list.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchList {
    /// Replaced by the patch's list.
    Replace,
    /// Items merged by this key field.
    MergeByKey(String),
    /// Scalars: the union, in order, without duplicates.
    MergeScalars,
}

/// Where a value sits in its type: built-in kinds are described by field names (the `+listType`,
/// `+listMapKey` and `+mapType=atomic` markers of k8s.io/api), custom resources by their CRD's
/// structural schema (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`).
#[derive(Debug, Clone)]
pub enum Shape<'a> {
    Builtin {
        parent: String,
        name: String,
    },
    /// The root of a custom resource: `metadata` is ObjectMeta, the rest follows the schema.
    CrdRoot(Option<&'a Value>),
    /// A JSON schema node (already resolved) and the `$defs` its `$ref`s (`#/$defs/<name>`) point into.
    Schema(Option<&'a Value>, Option<&'a Value>),
}

/// `node`, or the definition its `$ref` (or `allOf: [{$ref}]`) names in `defs`.
pub fn resolve<'a>(node: Option<&'a Value>, defs: Option<&'a Value>) -> Option<&'a Value> {
    let n = node?;
    let r = n
        .get("$ref")
        .or_else(|| n.pointer("/allOf/0/$ref"))
        .and_then(Value::as_str);
    match r {
        Some(r) => defs?.get(r.rsplit('/').next()?),
        None => Some(n),
    }
}

impl<'a> Shape<'a> {
    /// Root shape for a built-in kind.
    pub fn builtin() -> Shape<'static> {
        Shape::Builtin {
            parent: String::new(),
            name: String::new(),
        }
    }

    /// Root shape of a custom resource with this `openAPIV3Schema`.
    pub fn schema(schema: Option<&'a Value>) -> Shape<'a> {
        Shape::CrdRoot(schema)
    }

    /// Shape of a JSON schema node whose `$ref`s point into `defs` (the `$defs` of kubernetes-validate's
    /// `_definitions.json`).
    pub fn typed(node: &'a Value, defs: Option<&'a Value>) -> Shape<'a> {
        Shape::Schema(resolve(Some(node), defs), defs)
    }

    fn node(&self) -> (Option<&'a Value>, Option<&'a Value>) {
        match self {
            Shape::Builtin { .. } => (None, None),
            Shape::CrdRoot(s) => (*s, None),
            Shape::Schema(s, d) => (*s, *d),
        }
    }

    /// Shape of field `name` of this (object) shape.
    pub fn field(&self, name: &str) -> Shape<'a> {
        match self {
            Shape::Builtin { name: own, .. } => Shape::Builtin {
                parent: own.clone(),
                name: name.to_string(),
            },
            Shape::CrdRoot(_) if name == "metadata" => Shape::Builtin {
                parent: String::new(),
                name: "metadata".into(),
            },
            Shape::Schema(..) | Shape::CrdRoot(_) => {
                let (s, defs) = self.node();
                let sub = s.and_then(|s| {
                    s.get("properties")
                        .and_then(|p| p.get(name))
                        .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
                });
                Shape::Schema(resolve(sub, defs), defs)
            }
        }
    }

    /// Shape of the items of this (list) shape.
    pub fn item(&self) -> Shape<'a> {
        match self {
            Shape::Builtin { .. } => self.clone(),
            Shape::Schema(..) | Shape::CrdRoot(_) => {
                let (s, defs) = self.node();
                Shape::Schema(resolve(s.and_then(|s| s.get("items")), defs), defs)
            }
        }
    }

    /// How the list at this shape merges.
    pub fn list_kind(&self) -> ListKind {
        match self {
            Shape::Builtin { parent, name } => builtin_list_kind(parent, name),
            Shape::Schema(..) | Shape::CrdRoot(_) => {
                let s = match self.node().0 {
                    Some(s) => s,
                    None => return ListKind::Atomic,
                };
                match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
                    Some("set") => ListKind::Set,
                    Some("map") => ListKind::Map(
                        s.get("x-kubernetes-list-map-keys")
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .filter_map(|k| k.as_str().map(String::from))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    ),
                    _ => ListKind::Atomic,
                }
            }
        }
    }

    /// Whether `name` is a declared field of the struct at this shape (its entry is then not itself a member of
    /// field sets unless empty), rather than an entry of a map with arbitrary keys (labels, data...) or of an
    /// untyped object.
    pub fn is_field(&self, name: &str) -> bool {
        match self {
            Shape::Builtin { name: own, .. } => !BUILTIN_STRING_MAPS.contains(&own.as_str()),
            Shape::CrdRoot(_) if matches!(name, "apiVersion" | "kind" | "metadata") => true,
            Shape::Schema(..) | Shape::CrdRoot(_) => self
                .node()
                .0
                .and_then(|s| s.get("properties"))
                .is_some_and(|p| p.get(name).is_some()),
        }
    }

    /// The schema default of the value at this shape (list keys left out of an item take it). Built-in kinds:
    /// `protocol` defaults to `TCP` (k8s.io/api core/v1 types.go@v1.32.0 `+default="TCP"` on ContainerPort and
    /// ServicePort).
    pub fn default_value(&self) -> Option<Value> {
        match self {
            Shape::Builtin { name, .. } if name == "protocol" => Some(Value::from("TCP")),
            Shape::Builtin { .. } => None,
            Shape::Schema(..) | Shape::CrdRoot(_) => {
                self.node().0.and_then(|s| s.get("default")).cloned()
            }
        }
    }

    /// How a strategic merge patch treats the list at this shape (k8s.io/apimachinery
    /// pkg/util/strategicpatch/patch.go@v0.32.0 `mergeSlice`): from the schema's `x-kubernetes-patch-strategy` and
    /// `x-kubernetes-patch-merge-key` (the `patchStrategy`/`patchMergeKey` tags of k8s.io/api); by field name
    /// without schemas.
    pub fn patch_list(&self) -> PatchList {
        match self {
            Shape::Builtin { parent, name } => match builtin_list_kind(parent, name) {
                ListKind::Map(keys) => keys
                    .into_iter()
                    .next()
                    .map_or(PatchList::Replace, PatchList::MergeByKey),
                _ => PatchList::Replace,
            },
            Shape::Schema(..) | Shape::CrdRoot(_) => {
                let Some(s) = self.node().0 else {
                    return PatchList::Replace;
                };
                let merge = s
                    .get("x-kubernetes-patch-strategy")
                    .and_then(Value::as_str)
                    .is_some_and(|st| st.split(',').any(|x| x == "merge"));
                match s
                    .get("x-kubernetes-patch-merge-key")
                    .and_then(Value::as_str)
                {
                    _ if !merge => PatchList::Replace,
                    Some(k) => PatchList::MergeByKey(k.to_string()),
                    None => PatchList::MergeScalars,
                }
            }
        }
    }

    /// Whether a strategic merge patch replaces the map at this shape whole (field-name rules only: with schemas,
    /// strategic merge patches merge every map, as upstream does).
    pub fn patch_replaces_map(&self) -> bool {
        matches!(self, Shape::Builtin { .. }) && self.atomic_map()
    }

    /// Whether the map at this shape is atomic (owned and replaced whole).
    pub fn atomic_map(&self) -> bool {
        match self {
            Shape::Builtin { parent, name } => {
                (name == "selector" && parent == "spec")
                    || name.ends_with("Selector") && name != "serviceSelector"
            }
            Shape::Schema(..) | Shape::CrdRoot(_) => {
                self.node()
                    .0
                    .and_then(|s| s.get("x-kubernetes-map-type"))
                    .and_then(Value::as_str)
                    == Some("atomic")
            }
        }
    }
}

/// Built-in fields that are maps with arbitrary keys (map[string]string or map[string]Quantity in k8s.io/api).
const BUILTIN_STRING_MAPS: &[&str] = &[
    "labels",
    "annotations",
    "data",
    "binaryData",
    "stringData",
    "nodeSelector",
    "matchLabels",
    "limits",
    "requests",
    "capacity",
    "allocatable",
    "parameters",
    "overhead",
];

fn builtin_list_kind(parent: &str, name: &str) -> ListKind {
    let keys = |k: &[&str]| ListKind::Map(k.iter().map(|s| s.to_string()).collect());
    match name {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => keys(&["name"]),
        "webhooks" => keys(&["name"]),
        "ports" if parent == "spec" => keys(&["port", "protocol"]),
        "ports" => keys(&["containerPort", "protocol"]),
        "volumeMounts" => keys(&["mountPath"]),
        "volumeDevices" => keys(&["devicePath"]),
        "ownerReferences" => keys(&["uid"]),
        "conditions" => keys(&["type"]),
        "hostAliases" => keys(&["ip"]),
        "topologySpreadConstraints" => keys(&["topologyKey", "whenUnsatisfiable"]),
        "resizePolicy" => keys(&["resourceName"]),
        "finalizers" if parent == "metadata" => ListKind::Set,
        _ => ListKind::Atomic,
    }
}

/// A field set: `own` marks the node itself as owned; children are keyed by path element (`f:spec`...).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSet {
    pub own: bool,
    pub children: BTreeMap<String, FieldSet>,
}

/// A path: the element keys from the root.
pub type Path = Vec<String>;

impl FieldSet {
    pub fn is_empty(&self) -> bool {
        !self.own && self.children.values().all(FieldSet::is_empty)
    }

    /// Parses a `fieldsV1` value.
    pub fn from_v1(v: &Value) -> FieldSet {
        let mut fs = FieldSet::default();
        if let Some(m) = v.as_object() {
            for (k, c) in m {
                if k == "." {
                    fs.own = true;
                } else {
                    let mut child = FieldSet::from_v1(c);
                    if c.as_object().is_some_and(Map::is_empty) {
                        child.own = true;
                    }
                    fs.children.insert(k.clone(), child);
                }
            }
        }
        fs
    }

    /// Serialises as `fieldsV1`.
    pub fn to_v1(&self) -> Value {
        let mut m = Map::new();
        if self.own && !self.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, c) in &self.children {
            if !c.is_empty() {
                m.insert(k.clone(), c.to_v1());
            }
        }
        Value::Object(m)
    }

    /// Every owned path.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = vec![];
        self.collect(&mut vec![], &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        if self.own && !prefix.is_empty() {
            out.push(prefix.clone());
        }
        for (k, c) in &self.children {
            prefix.push(k.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Marks `path` owned.
    pub fn insert(&mut self, path: &[String]) {
        match path.split_first() {
            None => self.own = true,
            Some((h, t)) => self.children.entry(h.clone()).or_default().insert(t),
        }
    }
}

/// A path as conflict messages print it: `.spec.containers[name="app"].image`.
pub fn display(path: &[String]) -> String {
    let mut s = String::new();
    for el in path {
        if let Some(f) = el.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = el.strip_prefix("k:") {
            let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(k)
                .map(|m| m.iter().map(|(f, v)| format!("{f}={v}")).collect())
                .unwrap_or_default();
            s.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = el.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        } else if let Some(i) = el.strip_prefix("i:") {
            s.push_str(&format!("[{i}]"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::kube::smd::to_set;
    use serde_json::json;

    #[test]
    fn deployment_apply_set_matches_apiserver_shape() {
        let cfg = json!({"metadata": {"labels": {"app": "x"}}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "x"}},
            "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let fs = to_set(&cfg, &Shape::builtin());
        assert_eq!(
            fs.to_v1(),
            json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}, "f:selector": {},
                "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}})
        );
        assert_eq!(FieldSet::from_v1(&fs.to_v1()), fs);
        let p: Path = vec![
            "f:spec".into(),
            "f:template".into(),
            "f:spec".into(),
            "f:containers".into(),
            "k:{\"name\":\"c\"}".into(),
            "f:image".into(),
        ];
        assert_eq!(
            display(&p),
            ".spec.template.spec.containers[name=\"c\"].image"
        );
    }
}
