//! Custom resource validation against the CRD version's structural schema (apiextensions-apiserver): types,
//! `required`, `enum`, string length and `pattern`, numeric bounds, list sizes, `x-kubernetes-int-or-string`,
//! `nullable`; fields the schema does not declare are pruned unless `x-kubernetes-preserve-unknown-fields`
//! (and reported, so that `fieldValidation=Strict` can refuse them). `apiVersion`, `kind` and `metadata` at the
//! root are ObjectMeta's business, not the schema's.

use serde_json::Value;

/// A field error: (field path, cause type, message).
pub type FieldError = (String, String, String);

/// Validates `obj` against `schema` (the `openAPIV3Schema`), pruning undeclared fields. Returns the field errors
/// and the pruned field paths.
pub fn validate(obj: &mut Value, schema: &Value) -> (Vec<FieldError>, Vec<String>) {
    let mut errors = vec![];
    let mut pruned = vec![];
    if let Some(m) = obj.as_object_mut() {
        let props = schema.get("properties");
        let keys: Vec<String> = m.keys().cloned().collect();
        for k in keys {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            match props.and_then(|p| p.get(&k)) {
                Some(s) => {
                    if let Some(v) = m.get_mut(&k) {
                        check(v, s, &k, &mut errors, &mut pruned);
                    }
                }
                None if schema.get("x-kubernetes-preserve-unknown-fields")
                    == Some(&Value::Bool(true)) => {}
                None => {
                    m.remove(&k);
                    pruned.push(k);
                }
            }
        }
        required(m, schema, "", &mut errors);
    }
    (errors, pruned)
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn required(
    m: &serde_json::Map<String, Value>,
    schema: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let list = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for r in list.filter_map(Value::as_str) {
        let meta = path.is_empty() && matches!(r, "metadata" | "apiVersion" | "kind");
        if !meta && m.get(r).is_none() {
            errors.push((
                join(path, r),
                "FieldValueRequired".into(),
                "Required value".into(),
            ));
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check(
    v: &mut Value,
    s: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
    pruned: &mut Vec<String>,
) {
    let invalid = |errors: &mut Vec<FieldError>, msg: String| {
        errors.push((path.to_string(), "FieldValueInvalid".into(), msg))
    };
    if v.is_null() {
        if s.get("nullable") != Some(&Value::Bool(true)) && s.get("type").is_some() {
            let t = s["type"].as_str().unwrap_or_default();
            invalid(
                errors,
                format!("Invalid value: \"null\": {path} in body must be of type {t}: \"null\""),
            );
        }
        return;
    }
    if s.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        if !matches!(type_name(v), "integer" | "string") {
            invalid(
                errors,
                format!(
                    "Invalid value: \"{}\": {path} in body must be of type integer-or-string",
                    type_name(v)
                ),
            );
        }
        return;
    }
    if let Some(t) = s.get("type").and_then(Value::as_str) {
        let actual = type_name(v);
        let ok = t == actual || (t == "number" && actual == "integer");
        if !ok {
            invalid(
                errors,
                format!(
                    "Invalid value: \"{actual}\": {path} in body must be of type {t}: \"{actual}\""
                ),
            );
            return;
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            let list: Vec<String> = e.iter().map(|x| x.to_string()).collect();
            errors.push((
                path.to_string(),
                "FieldValueNotSupported".into(),
                format!(
                    "Unsupported value: {v}: supported values: {}",
                    list.join(", ")
                ),
            ));
        }
    }
    match v {
        Value::String(st) => {
            let n = st.chars().count() as u64;
            if s.get("maxLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| n > m)
            {
                invalid(
                    errors,
                    format!("Too long: may not be more than {} bytes", s["maxLength"]),
                );
            }
            if s.get("minLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| n < m)
            {
                invalid(
                    errors,
                    format!(
                        "Invalid value: \"{st}\": {path} in body should be at least {} chars long",
                        s["minLength"]
                    ),
                );
            }
            if let Some(p) = s.get("pattern").and_then(Value::as_str) {
                if regex::Regex::new(p).is_ok_and(|re| !re.is_match(st)) {
                    invalid(
                        errors,
                        format!("Invalid value: \"{st}\": {path} in body should match '{p}'"),
                    );
                }
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or_default();
            if s.get("minimum")
                .and_then(Value::as_f64)
                .is_some_and(|m| x < m)
            {
                invalid(
                    errors,
                    format!(
                        "Invalid value: {n}: {path} in body should be greater than or equal to {}",
                        s["minimum"]
                    ),
                );
            }
            if s.get("maximum")
                .and_then(Value::as_f64)
                .is_some_and(|m| x > m)
            {
                invalid(
                    errors,
                    format!(
                        "Invalid value: {n}: {path} in body should be less than or equal to {}",
                        s["maximum"]
                    ),
                );
            }
        }
        Value::Array(a) => {
            if s.get("maxItems")
                .and_then(Value::as_u64)
                .is_some_and(|m| a.len() as u64 > m)
            {
                errors.push((
                    path.to_string(),
                    "FieldValueTooMany".into(),
                    format!(
                        "Too many: {}: must have at most {} items",
                        a.len(),
                        s["maxItems"]
                    ),
                ));
            }
            if s.get("minItems")
                .and_then(Value::as_u64)
                .is_some_and(|m| (a.len() as u64) < m)
            {
                invalid(
                    errors,
                    format!(
                        "Invalid value: {}: {path} in body should have at least {} items",
                        a.len(),
                        s["minItems"]
                    ),
                );
            }
            if let Some(items) = s.get("items") {
                for (i, item) in a.iter_mut().enumerate() {
                    check(item, items, &format!("{path}[{i}]"), errors, pruned);
                }
            }
        }
        Value::Object(m) => {
            let preserve =
                s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            let embedded = s.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true));
            let props = s.get("properties");
            let additional = s.get("additionalProperties");
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let sub = props
                    .and_then(|p| p.get(&k))
                    .or_else(|| additional.filter(|a| a.is_object()));
                match sub {
                    Some(sub) => {
                        if let Some(c) = m.get_mut(&k) {
                            check(c, sub, &join(path, &k), errors, pruned);
                        }
                    }
                    None if preserve || additional == Some(&Value::Bool(true)) => {}
                    None if embedded
                        && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") => {}
                    None => {
                        m.remove(&k);
                        pruned.push(join(path, &k));
                    }
                }
            }
            required(m, s, path, errors);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validates_and_prunes() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer", "minimum": 1}, "mode": {"type": "string", "enum": ["a", "b"]},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}});
        let mut ok = json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "n"}, "spec": {"size": 2, "junk": 1, "extra": {"any": 1}}, "top": 1});
        let (errors, pruned) = validate(&mut ok, &schema);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(pruned, vec!["spec.junk".to_string(), "top".to_string()]);
        assert_eq!(ok["spec"], json!({"size": 2, "extra": {"any": 1}}));
        let mut bad = json!({"spec": {"size": "2", "mode": "c"}});
        let (errors, _) = validate(&mut bad, &schema);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].0, "spec.size");
        let mut missing = json!({"spec": {}});
        assert_eq!(validate(&mut missing, &schema).0[0].2, "Required value");
    }
}
