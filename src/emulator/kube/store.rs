//! The object store: every object as a JSON value keyed by (group, resource) then (namespace, name), a global
//! resourceVersion counter (etcd's revision), a bounded history of change events for watches, and JSON
//! persistence.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

use super::registry::{self, ResourceType};

/// How many change events are kept for watches that resume from a resourceVersion. Older ones answer 410 Gone.
pub const HISTORY: usize = 4096;

/// (group, plural resource).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> Self {
        GroupResource {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }
}

/// Watch event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, at resourceVersion `rv`.
#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    pub kind: EventType,
    pub gr: GroupResource,
    pub object: Value,
}

type Objects = BTreeMap<GroupResource, BTreeMap<(String, String), Value>>;

/// All objects and the revision counter. Guarded by one mutex in the cluster; never held across an await.
pub struct Store {
    objects: Objects,
    rv: u64,
    history: VecDeque<Arc<Event>>,
    tx: broadcast::Sender<Arc<Event>>,
    /// Served types, recomputed when a CRD changes.
    types: Arc<Vec<ResourceType>>,
    /// How many events are kept for resuming watches.
    history_len: usize,
}

/// Persisted form.
#[derive(Serialize, Deserialize)]
struct Saved {
    resource_version: u64,
    objects: Vec<SavedObject>,
}

#[derive(Serialize, Deserialize)]
struct SavedObject {
    group: String,
    resource: String,
    object: Value,
}

static BUILTINS: LazyLock<Vec<ResourceType>> = LazyLock::new(registry::builtins);

/// `metadata.namespace` and `metadata.name` of an object (empty when absent).
pub fn ns_name(obj: &Value) -> (String, String) {
    let s = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (s("/metadata/namespace"), s("/metadata/name"))
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(HISTORY);
        Store {
            objects: BTreeMap::new(),
            rv: 1,
            history: VecDeque::new(),
            tx,
            types: Arc::new(BUILTINS.clone()),
            history_len: HISTORY,
        }
    }

    /// Keeps only the last `n` (at most [`HISTORY`]) events for resuming watches; older resourceVersions answer
    /// 410 Gone.
    pub fn set_history(&mut self, n: usize) {
        self.history_len = n.clamp(1, HISTORY);
        while self.history.len() > self.history_len {
            self.history.pop_front();
        }
    }

    fn refresh_types(&mut self) {
        let mut out = BUILTINS.clone();
        if let Some(crds) = self.objects.get(&GroupResource::new(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
        )) {
            out.extend(
                crds.values()
                    .filter(|c| registry::crd_established(c))
                    .filter_map(registry::from_crd),
            );
        }
        self.types = Arc::new(out);
    }

    /// Current revision.
    pub fn revision(&self) -> u64 {
        self.rv
    }

    /// Oldest revision a watch may resume from without 410 Gone.
    pub fn oldest_resumable(&self) -> u64 {
        self.history.front().map(|e| e.rv - 1).unwrap_or(self.rv)
    }

    /// Events after `rv` (history order).
    pub fn events_after(&self, rv: u64) -> Vec<Arc<Event>> {
        self.history.iter().filter(|e| e.rv > rv).cloned().collect()
    }

    /// Subscribe to events from now on (call while holding the lock that also reads history, so nothing is lost).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Served types: built-ins and Established CRDs (cached; recomputed when a CRD changes).
    pub fn types(&self) -> Arc<Vec<ResourceType>> {
        self.types.clone()
    }

    /// The type serving `group/version` `resource`.
    pub fn resolve(&self, group: &str, version: &str, resource: &str) -> Option<ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.resource == resource && t.serves(version))
            .cloned()
    }

    pub fn get(&self, gr: &GroupResource, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(gr)?
            .get(&(ns.to_string(), name.to_string()))
    }

    /// Objects of a type, in (namespace, name) order; `ns = None` lists all namespaces.
    pub fn list(&self, gr: &GroupResource, ns: Option<&str>) -> Vec<&Value> {
        match self.objects.get(gr) {
            None => vec![],
            Some(m) => m
                .iter()
                .filter(|((n, _), _)| ns.is_none_or(|want| n == want))
                .map(|(_, v)| v)
                .collect(),
        }
    }

    /// Every (type, object).
    pub fn all(&self) -> Vec<(GroupResource, &Value)> {
        self.objects
            .iter()
            .flat_map(|(gr, m)| m.values().map(move |v| (gr.clone(), v)))
            .collect()
    }

    fn record(&mut self, kind: EventType, gr: &GroupResource, object: &Value) {
        let ev = Arc::new(Event {
            rv: self.rv,
            kind,
            gr: gr.clone(),
            object: object.clone(),
        });
        if gr.group == "apiextensions.k8s.io" && gr.resource == "customresourcedefinitions" {
            self.refresh_types();
        }
        if self.history.len() >= self.history_len {
            self.history.pop_front();
        }
        self.history.push_back(ev.clone());
        let _ = self.tx.send(ev);
    }

    /// Stores `obj` (created or replaced), stamping a new `metadata.resourceVersion`. Returns the stored object.
    pub fn put(&mut self, gr: &GroupResource, mut obj: Value) -> Value {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        let key = ns_name(&obj);
        let existed = self
            .objects
            .entry(gr.clone())
            .or_default()
            .insert(key, obj.clone())
            .is_some();
        self.record(
            if existed {
                EventType::Modified
            } else {
                EventType::Added
            },
            gr,
            &obj,
        );
        obj
    }

    /// Removes an object; the DELETED event carries a new resourceVersion.
    pub fn remove(&mut self, gr: &GroupResource, ns: &str, name: &str) -> Option<Value> {
        let mut obj = self
            .objects
            .get_mut(gr)?
            .remove(&(ns.to_string(), name.to_string()))?;
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        self.record(EventType::Deleted, gr, &obj);
        Some(obj)
    }

    /// JSON of all objects and the revision.
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        let objects = self
            .objects
            .iter()
            .flat_map(|(gr, m)| {
                m.values().map(|o| SavedObject {
                    group: gr.group.clone(),
                    resource: gr.resource.clone(),
                    object: o.clone(),
                })
            })
            .collect();
        serde_json::to_vec(&Saved {
            resource_version: self.rv,
            objects,
        })
    }

    /// Loads what [`Store::to_json`] wrote.
    pub fn from_json(bytes: &[u8]) -> serde_json::Result<Self> {
        let saved: Saved = serde_json::from_slice(bytes)?;
        let mut store = Store::new();
        store.rv = saved.resource_version.max(1);
        for o in saved.objects {
            let key = ns_name(&o.object);
            store
                .objects
                .entry(GroupResource {
                    group: o.group,
                    resource: o.resource,
                })
                .or_default()
                .insert(key, o.object);
        }
        store.refresh_types();
        Ok(store)
    }
}
