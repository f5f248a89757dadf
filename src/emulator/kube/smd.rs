//! The typed operations of server-side apply, as sigs.k8s.io/structured-merge-diff v4 defines them
//! (typed/merge.go, typed/tofieldset.go, typed/remove.go, fieldpath/set.go at v4.1.2, the version Debian packages
//! and the differential tests run as the oracle): merging an applied configuration into a live object, the field
//! set of a value, comparing two values, removing items, and the set algebra on [`FieldSet`]. Values are JSON
//! ([`serde_json::Value`]), typed by a [`Shape`]; `None` stands for an absent value.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::fields::{FieldSet, ListKind, Shape};

/// The path element of list item `item` at `index` (`k:{...}` for keyed lists, with the key fields sorted and
/// absent ones taken from their schema default; `v:<json>` for sets; `i:<n>` otherwise). `None` when a key
/// field is absent without default (structured-merge-diff refuses such an item).
pub fn item_element(item: &Value, index: usize, shape: &Shape) -> Option<String> {
    match shape.list_kind() {
        ListKind::Map(keys) => {
            let obj = item.as_object()?;
            let mut sorted: Vec<&String> = keys.iter().collect();
            sorted.sort();
            let mut m = Map::new();
            let item_shape = shape.item();
            for k in sorted {
                let v = match obj.get(k.as_str()) {
                    Some(v) => v.clone(),
                    None => item_shape.field(k).default_value()?,
                };
                m.insert(k.clone(), v);
            }
            Some(format!("k:{}", Value::Object(m)))
        }
        ListKind::Set => Some(format!("v:{item}")),
        ListKind::Atomic => Some(format!("i:{index}")),
    }
}

fn empty_or_absent(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// What kind of node a value is at a shape: a leaf (scalar, atomic list or map, or empty on both sides), a
/// granular map or an associative list.
#[derive(PartialEq)]
enum Node {
    Leaf,
    Map,
    List,
}

fn node(lhs: Option<&Value>, rhs: Option<&Value>, shape: &Shape) -> Node {
    // A null takes the type of the schema (an absent list or map), as a typed walk sees it.
    let is = |f: fn(&Value) -> bool| {
        let ok = |v: &Value| v.is_null() || f(v);
        lhs.is_none_or(ok)
            && rhs.is_none_or(ok)
            && !(lhs.is_none_or(Value::is_null) && rhs.is_none_or(Value::is_null))
    };
    let both_empty = empty_or_absent(lhs) && empty_or_absent(rhs);
    if is(Value::is_object) && !both_empty && !shape.atomic_map() {
        Node::Map
    } else if is(Value::is_array) && !both_empty && shape.list_kind() != ListKind::Atomic {
        Node::List
    } else {
        Node::Leaf
    }
}

/// Keyed items of a list: (element, item) in order, duplicates and unkeyable items left out.
fn keyed<'v>(list: Option<&'v Value>, shape: &Shape) -> Vec<(String, &'v Value)> {
    let mut out: Vec<(String, &Value)> = vec![];
    for (i, item) in list
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(pe) = item_element(item, i, shape) {
            if !out.iter().any(|(p, _)| *p == pe) {
                out.push((pe, item));
            }
        }
    }
    out
}

/// Merges `rhs` (the applied configuration) into `lhs` (typed/merge.go, rule keep-RHS): maps key by key,
/// associative lists item by item (live items first in live order, then new items in configured order), leaves
/// replaced.
pub fn merge(lhs: Option<&Value>, rhs: Option<&Value>, shape: &Shape) -> Option<Value> {
    match node(lhs, rhs, shape) {
        Node::Leaf => rhs.or(lhs).cloned(),
        Node::Map => {
            let (l, r) = (
                lhs.and_then(Value::as_object),
                rhs.and_then(Value::as_object),
            );
            let mut out = Map::new();
            for k in l.into_iter().chain(r).flat_map(|m| m.keys()) {
                if out.contains_key(k) {
                    continue;
                }
                let lv = l.and_then(|m| m.get(k));
                let rv = r.and_then(|m| m.get(k));
                if let Some(v) = merge(lv, rv, &shape.field(k)) {
                    out.insert(k.clone(), v);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Node::List => {
            let item_shape = shape.item();
            let l = keyed(lhs, shape);
            let r = keyed(rhs, shape);
            let mut out = vec![];
            for (pe, li) in &l {
                let ri = r.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
                out.extend(merge(Some(li), ri, &item_shape));
            }
            for (pe, ri) in &r {
                if !l.iter().any(|(p, _)| p == pe) {
                    out.extend(merge(None, Some(ri), &item_shape));
                }
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
    }
}

/// The fields of `v` (typed/tofieldset.go): scalars, atomic lists and maps, empty or null map values, entries of
/// maps that are not struct fields, and associative list items are members.
pub fn to_set(v: &Value, shape: &Shape) -> FieldSet {
    let mut fs = FieldSet::default();
    fill(v, shape, &mut fs);
    fs.compact();
    fs
}

fn fill(v: &Value, shape: &Shape, fs: &mut FieldSet) {
    match v {
        Value::Object(m) if !shape.atomic_map() => {
            for (k, c) in m {
                let child = fs.children.entry(format!("f:{k}")).or_default();
                let cs = shape.field(k);
                fill(c, &cs, child);
                if c.is_null() || c.as_object().is_some_and(Map::is_empty) || !shape.is_field(k) {
                    child.own = true;
                }
            }
        }
        Value::Array(_) if shape.list_kind() != ListKind::Atomic => {
            let item_shape = shape.item();
            for (pe, item) in keyed(Some(v), shape) {
                let child = fs.children.entry(pe).or_default();
                fill(item, &item_shape, child);
                child.own = true;
            }
        }
        _ => fs.own = true,
    }
}

/// The differences between two values (typed.Compare): paths added, modified (leaves only) and removed.
#[derive(Debug, Default)]
pub struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

/// Compares `lhs` (before) with `rhs` (after).
pub fn compare(lhs: &Value, rhs: &Value, shape: &Shape) -> Comparison {
    let mut c = Comparison::default();
    walk_compare(Some(lhs), Some(rhs), shape, &mut vec![], &mut c);
    c
}

fn walk_compare(
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    shape: &Shape,
    path: &mut Vec<String>,
    c: &mut Comparison,
) {
    if let (Some(l), Some(r)) = (lhs, rhs) {
        let side = |v: &Value| match v {
            Value::Object(_) if !shape.atomic_map() => Node::Map,
            Value::Array(_) if shape.list_kind() != ListKind::Atomic => Node::List,
            _ => Node::Leaf,
        };
        let (lk, rk) = (side(l), side(r));
        if !l.is_null() && !r.is_null() && lk != rk {
            // Values of different types: each side is walked as its own type against nothing of it
            // (typed/merge.go handles the lhs atom, then the rhs atom).
            for (k, v, is_lhs) in [(lk, l, true), (rk, r, false)] {
                if k == Node::Leaf {
                    if !path.is_empty() {
                        c.modified.insert(path);
                    }
                } else {
                    let (a, b) = if is_lhs {
                        (Some(v), None)
                    } else {
                        (None, Some(v))
                    };
                    walk_children(a, b, shape, path, c, k);
                }
            }
            return;
        }
    }
    let kind = node(lhs, rhs, shape);
    if kind == Node::Leaf {
        if path.is_empty() {
            // The root is never added, removed or modified as a whole.
        } else if lhs.is_none() {
            c.added.insert(path);
        } else if rhs.is_none() {
            c.removed.insert(path);
        } else if lhs != rhs {
            c.modified.insert(path);
        }
        return;
    }
    walk_children(lhs, rhs, shape, path, c, kind);
    if !path.is_empty() {
        if lhs.is_none() {
            c.added.insert(path);
        } else if rhs.is_none() {
            c.removed.insert(path);
        }
    }
}

fn walk_children(
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    shape: &Shape,
    path: &mut Vec<String>,
    c: &mut Comparison,
    kind: Node,
) {
    match kind {
        Node::Leaf => {}
        Node::Map => {
            let (l, r) = (
                lhs.and_then(Value::as_object),
                rhs.and_then(Value::as_object),
            );
            let mut seen = std::collections::BTreeSet::new();
            for k in l.into_iter().chain(r).flat_map(|m| m.keys()) {
                if !seen.insert(k.clone()) {
                    continue;
                }
                path.push(format!("f:{k}"));
                walk_compare(
                    l.and_then(|m| m.get(k)),
                    r.and_then(|m| m.get(k)),
                    &shape.field(k),
                    path,
                    c,
                );
                path.pop();
            }
        }
        Node::List => {
            let item_shape = shape.item();
            let l = keyed(lhs, shape);
            let r = keyed(rhs, shape);
            for (pe, li) in &l {
                let ri = r.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
                path.push(pe.clone());
                walk_compare(Some(li), ri, &item_shape, path, c);
                path.pop();
            }
            for (pe, ri) in &r {
                if !l.iter().any(|(p, _)| p == pe) {
                    path.push(pe.clone());
                    walk_compare(None, Some(ri), &item_shape, path, c);
                    path.pop();
                }
            }
        }
    }
}

/// Removes from `v` every map entry and list item that is a member of `set`, recursing where `set` has members
/// below (typed/remove.go). A map or list left with nothing is `None` (null); atomic ones are `None` when
/// descended into.
pub fn remove_items(v: &Value, set: &FieldSet, shape: &Shape) -> Option<Value> {
    match v {
        Value::Array(a) => {
            if a.is_empty() || shape.list_kind() == ListKind::Atomic {
                return None;
            }
            let item_shape = shape.item();
            let mut out = vec![];
            for (i, item) in a.iter().enumerate() {
                let Some(pe) = item_element(item, i, shape) else {
                    out.push(item.clone());
                    continue;
                };
                match set.children.get(&pe) {
                    Some(s) if s.own => continue,
                    Some(s) if !s.is_empty() => {
                        out.push(remove_items(item, s, &item_shape).unwrap_or(Value::Null))
                    }
                    _ => out.push(item.clone()),
                }
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
        Value::Object(m) => {
            if m.is_empty() || shape.atomic_map() {
                return None;
            }
            let mut out = Map::new();
            for (k, c) in m {
                match set.children.get(&format!("f:{k}")) {
                    Some(s) if s.own => continue,
                    Some(s) if !s.is_empty() => {
                        let r = remove_items(c, s, &shape.field(k)).unwrap_or(Value::Null);
                        out.insert(k.clone(), r);
                    }
                    _ => {
                        out.insert(k.clone(), c.clone());
                    }
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        _ => Some(v.clone()),
    }
}

/// `set` plus, at every level, the struct fields it has members below (fieldpath.Set.EnsureNamedFieldsAreMembers).
pub fn ensure_named(set: &FieldSet, shape: &Shape) -> FieldSet {
    let mut out = FieldSet {
        own: set.own,
        children: BTreeMap::new(),
    };
    for (pe, c) in &set.children {
        let (child_shape, named) = match pe.strip_prefix("f:") {
            Some(f) => (shape.field(f), shape.is_field(f)),
            None => (shape.item(), false),
        };
        let mut n = ensure_named(c, &child_shape);
        if named && c.children.values().any(|x| !x.is_empty()) {
            n.own = true;
        }
        out.children.insert(pe.clone(), n);
    }
    out
}

/// Removes null map values and null list items, as the API server's decoding of a stored object does.
pub fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, c| !c.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => {
            a.retain(|c| !c.is_null());
            a.iter_mut().for_each(strip_nulls);
        }
        _ => {}
    }
}

impl FieldSet {
    /// Members of either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.own |= other.own;
        for (k, c) in &other.children {
            let merged = match out.children.get(k) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(k.clone(), merged);
        }
        out.prune()
    }

    /// Members of both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            own: self.own && other.own,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            if let Some(o) = other.children.get(k) {
                out.children.insert(k.clone(), c.intersection(o));
            }
        }
        out.prune()
    }

    /// Members of `self` that are not members of `other` (fieldpath.Set.Difference: member by member).
    pub fn minus(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            own: self.own && !other.own,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            let d = match other.children.get(k) {
                Some(o) => c.minus(o),
                None => c.clone(),
            };
            out.children.insert(k.clone(), d);
        }
        out.prune()
    }

    /// Drops the nodes that hold no member, at every depth.
    pub fn compact(&mut self) {
        self.children.values_mut().for_each(FieldSet::compact);
        self.children.retain(|_, c| !c.is_empty());
    }

    fn prune(mut self) -> FieldSet {
        self.children.retain(|_, c| !c.is_empty());
        self
    }

    /// The set without what the API server never tracks: apiVersion, kind, metadata itself and its system
    /// fields (k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager/internal/stripmeta.go@v0.32.0).
    pub fn strip_meta(&self) -> FieldSet {
        let mut strip = FieldSet::default();
        for p in ["apiVersion", "kind", "metadata"] {
            strip.insert(&[format!("f:{p}")]);
        }
        for p in [
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        ] {
            strip.insert(&["f:metadata".to_string(), format!("f:{p}")]);
        }
        self.minus(&strip)
    }
}
