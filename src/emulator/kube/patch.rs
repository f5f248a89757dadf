//! The non-apply patch types of `PATCH`: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic
//! merge patch (k8s.io/apimachinery strategicpatch: lists whose patch strategy is `merge` merge by their patch merge
//! key, or as a set of scalars, every other list is replaced; maps merge; `$patch: delete|replace` directives,
//! `$setElementOrder`/`$retainKeys`/`$deleteFromPrimitiveList` honoured or dropped). The strategies of built-in kinds
//! come from the upstream schemas (`x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`) when loaded.

use serde_json::Value;

use super::errors::ApiError;
use super::fields::{PatchList, Shape};

/// Patch media types.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    /// From the request Content-Type (parameters ignored).
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or_default().trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

/// Applies a JSON, merge or strategic patch to `doc`.
pub fn apply_patch(
    doc: &mut Value,
    kind: PatchType,
    body: &[u8],
    shape: &Shape,
) -> Result<(), ApiError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    match kind {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            json_patch::patch(doc, &ops).map_err(|e| ApiError::invalid_patch(e.to_string()))
        }
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "error decoding patch: a merge patch must be a JSON object",
                ));
            }
            json_patch::merge(doc, &patch);
            Ok(())
        }
        PatchType::Strategic => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "error decoding patch: a strategic merge patch must be a JSON object",
                ));
            }
            strategic(doc, &patch, shape);
            Ok(())
        }
        PatchType::Apply => Err(ApiError::internal("apply patches are not handled here")),
    }
}

impl ApiError {
    /// 422 for a JSON patch that cannot be applied (upstream: `the server rejected our request due to an error in
    /// our request`).
    pub fn invalid_patch(msg: String) -> Self {
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!(
                "the server rejected our request due to an error in our request: {msg}"
            ),
            details: None,
        }
    }
}

fn strategic(doc: &mut Value, patch: &Value, shape: &Shape) {
    let Some(p) = patch.as_object() else {
        *doc = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut v = patch.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("$patch");
        }
        *doc = v;
        return;
    }
    if !doc.is_object() {
        *doc = Value::Object(Default::default());
    }
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        if let Some(prim) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let _ = prim;
            continue;
        }
        let Some(d) = doc.as_object_mut() else { return };
        if v.is_null() {
            d.remove(k);
            continue;
        }
        let sub = shape.field(k);
        match (d.get_mut(k), v) {
            (Some(cur), Value::Object(_)) if cur.is_object() && !sub.patch_replaces_map() => {
                strategic(cur, v, &sub)
            }
            (Some(cur), Value::Array(items)) if cur.is_array() => match sub.patch_list() {
                PatchList::MergeByKey(key) => merge_list(cur, items, &[key], &sub),
                PatchList::MergeScalars => merge_scalars(cur, items),
                PatchList::Replace => {
                    let mut v = v.clone();
                    strip_directives(&mut v);
                    *cur = v;
                }
            },
            _ => {
                let mut v = v.clone();
                strip_directives(&mut v);
                d.insert(k.clone(), v);
            }
        }
    }
    // `$deleteFromPrimitiveList/<field>` removes values from a primitive list.
    for (k, v) in p {
        if let (Some(field), Some(vals)) =
            (k.strip_prefix("$deleteFromPrimitiveList/"), v.as_array())
        {
            if let Some(list) = doc.get_mut(field).and_then(Value::as_array_mut) {
                list.retain(|x| !vals.contains(x));
            }
        }
    }
}

fn merge_list(cur: &mut Value, items: &[Value], keys: &[String], shape: &Shape) {
    let Some(list) = cur.as_array_mut() else {
        return;
    };

    for item in items {
        let directive = item.get("$patch").and_then(Value::as_str);
        let pos = list
            .iter()
            .position(|l| super::apply::same_key(keys, item, l));
        match (directive, pos) {
            (Some("delete"), Some(i)) => {
                list.remove(i);
            }
            (Some("delete"), None) => {}
            (_, Some(i)) => strategic(&mut list[i], item, &shape.item()),
            (_, None) => {
                let mut v = item.clone();
                strip_directives(&mut v);
                list.push(v);
            }
        }
    }
}

/// Upstream `mergeSlice` for scalars: the original then the patch's new values, without duplicates.
fn merge_scalars(cur: &mut Value, items: &[Value]) {
    let Some(list) = cur.as_array_mut() else {
        return;
    };
    for item in items {
        if !list.contains(item) {
            list.push(item.clone());
        }
    }
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name() {
        let mut d = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}});
        let p = json!({"spec": {"containers": [{"name": "b", "image": "3"}, {"name": "a", "$patch": "delete"}]}});
        apply_patch(
            &mut d,
            PatchType::Strategic,
            p.to_string().as_bytes(),
            &Shape::builtin(),
        )
        .unwrap();
        assert_eq!(
            d,
            json!({"spec": {"containers": [{"name": "b", "image": "3"}]}})
        );
    }
}
