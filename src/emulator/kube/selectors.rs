//! Label and field selectors: the query-string syntax of `labelSelector`/`fieldSelector`
//! (k8s.io/apimachinery/pkg/labels and fields) and `metav1.LabelSelector` objects (matchLabels,
//! matchExpressions with In, NotIn, Exists, DoesNotExist).

use serde_json::Value;

use super::errors::ApiError;

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    Absent(String),
}

/// A parsed label selector (requirements ANDed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Req>);

fn split_top(s: &str) -> Vec<String> {
    let mut out = vec![];
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn values(s: &str) -> Result<Vec<String>, ApiError> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unable to parse requirement: found '{s}', expected: '('"
            ))
        })?;
    Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
}

impl LabelSelector {
    /// Parses `app=x,tier!=y,env in (a,b),!legacy`. Errors: 400 BadRequest.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = vec![];
        for part in split_top(s) {
            let r = if let Some(k) = part.strip_prefix('!') {
                Req::Absent(k.trim().to_string())
            } else if let Some((k, v)) = part.split_once("!=") {
                Req::Ne(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==") {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once('=') {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once(" notin ") {
                Req::NotIn(k.trim().into(), values(v)?)
            } else if let Some((k, v)) = part.split_once(" in ") {
                Req::In(k.trim().into(), values(v)?)
            } else if part.contains(' ') || part.contains('(') {
                return Err(ApiError::bad_request(format!(
                    "unable to parse requirement: {part}"
                )));
            } else {
                Req::Exists(part.clone())
            };
            reqs.push(r);
        }
        Ok(LabelSelector(reqs))
    }

    /// From a `metav1.LabelSelector` object. A null/absent selector matches nothing when `none_if_null`, otherwise
    /// everything; an empty one matches everything.
    pub fn from_object(sel: Option<&Value>) -> Option<Self> {
        let sel = sel.filter(|s| !s.is_null())?;
        let mut reqs = vec![];
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push(Req::Eq(
                    k.clone(),
                    v.as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e["key"].as_str().unwrap_or_default().to_string();
                let vals: Vec<String> = e["values"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                reqs.push(match e["operator"].as_str().unwrap_or_default() {
                    "In" => Req::In(key, vals),
                    "NotIn" => Req::NotIn(key, vals),
                    "Exists" => Req::Exists(key),
                    "DoesNotExist" => Req::Absent(key),
                    _ => Req::In(key, vec![]),
                });
            }
        }
        Some(LabelSelector(reqs))
    }

    /// Whether labels `labels` (a JSON map or null) satisfy every requirement.
    pub fn matches(&self, labels: Option<&Value>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::Ne(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Req::Exists(k) => get(k).is_some(),
            Req::Absent(k) => get(k).is_none(),
        })
    }

    /// Whether an object's `metadata.labels` match.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.matches(obj.pointer("/metadata/labels"))
    }
}

/// A parsed field selector: `metadata.name=x,metadata.namespace!=y` (also `spec.nodeName`, `status.phase` on
/// Pods, `type` on Secrets, `involvedObject.*` on Events, as the API server accepts them).
#[derive(Debug, Clone, Default)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses and checks the field labels `resource` supports. Errors: 400 `field label not supported: <f>`.
    pub fn parse(s: &str, resource: &str) -> Result<Self, ApiError> {
        let mut out = vec![];
        for part in split_top(s) {
            let (k, eq, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                )));
            };
            let k = k.trim();
            let ok = matches!(k, "metadata.name" | "metadata.namespace")
                || (resource == "pods"
                    && matches!(
                        k,
                        "spec.nodeName" | "status.phase" | "spec.serviceAccountName"
                    ))
                || (resource == "secrets" && k == "type")
                || (resource == "events" && k.starts_with("involvedObject."))
                || (resource == "nodes" && k == "spec.unschedulable");
            if !ok {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {k}"
                )));
            }
            out.push((k.to_string(), eq, v.trim().to_string()));
        }
        Ok(FieldSelector(out))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(k, eq, v)| {
            let ptr = format!("/{}", k.replace('.', "/"));
            let actual = match obj.pointer(&ptr) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            (actual == *v) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_matches() {
        let s = LabelSelector::parse("app=x,env in (a, b),!legacy,tier!=db").unwrap();
        assert!(s.matches(Some(&json!({"app": "x", "env": "b"}))));
        assert!(!s.matches(Some(&json!({"app": "x", "env": "c"}))));
        assert!(!s.matches(Some(&json!({"app": "x", "env": "a", "legacy": "1"}))));
        assert!(FieldSelector::parse("spec.foo=1", "configmaps").is_err());
        let f = FieldSelector::parse("metadata.name=a", "configmaps").unwrap();
        assert!(f.matches(&json!({"metadata": {"name": "a"}})));
    }
}
