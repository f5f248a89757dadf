//! Parsing of a multi-document Kubernetes manifest (Argo CD's `install.yaml`) into dynamic objects.
//!
//! Documents are split on `---` lines (YAML 1.2 document markers, which must start at column 0), so a document
//! that does not parse is reported with its position (counting from 1), its first line and its `kind:` when one
//! can be read, and the other documents are unaffected. Empty or comment-only documents are skipped; `v1` `List`
//! documents are flattened into their items.

use kube::api::DynamicObject;
use serde_json::Value;

/// Why a manifest could not be turned into objects. Messages carry no document content beyond kinds and names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A document is not valid YAML.
    #[error("document {index} (kind {kind}, line {line}) is not valid YAML: {message}")]
    Yaml {
        /// Position of the document, counting from 1.
        index: usize,
        /// Its `kind:`, as far as it can be read, or `unknown`.
        kind: String,
        /// The manifest line where the document starts (from 1).
        line: usize,
        /// The YAML parser's message.
        message: String,
    },
    /// A document is valid YAML but not a Kubernetes object.
    #[error("document {index} (kind {kind}, line {line}) is not a Kubernetes object: {message}")]
    NotAnObject {
        /// Position of the document, counting from 1.
        index: usize,
        /// Its `kind`, or `unknown`.
        kind: String,
        /// The manifest line where the document starts (from 1).
        line: usize,
        /// What is missing or wrong.
        message: String,
    },
    /// The manifest holds no object at all.
    #[error("the manifest holds no Kubernetes object")]
    Empty,
}

/// One document of a multi-document YAML stream: its text and the line (from 1) where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Document<'a> {
    /// The document text, without its `---` marker.
    pub text: &'a str,
    /// Line number of its first line.
    pub line: usize,
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r']))
}

/// Splits a YAML stream into documents at `---` lines; `...` ends a document.
pub fn split_documents(text: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    let mut ended = false;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        if is_marker(bare, "---") || is_marker(bare, "...") {
            if !ended {
                docs.push(Document {
                    text: &text[start..offset],
                    line: start_line,
                });
            }
            ended = is_marker(bare, "...");
            // Content after `--- ` on the same line belongs to the next document.
            start = offset + 3;
            start_line = i + 1;
        }
        offset += line.len();
    }
    if !ended {
        docs.push(Document {
            text: &text[start.min(text.len())..],
            line: start_line,
        });
    }
    docs
}

/// The `kind:` of a raw document, read from its top-level lines, for error messages.
fn sniff_kind(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("kind:"))
        .map(|k| k.trim().trim_matches(['"', '\'']).to_string())
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Parses every object of a manifest, in document order.
///
/// Errors: [`ParseError::Yaml`] or [`ParseError::NotAnObject`] for the first bad document (with its index, counting
/// from 1, its kind and start line); [`ParseError::Empty`] when there is no object.
pub fn parse_manifest(text: &str) -> Result<Vec<DynamicObject>, ParseError> {
    let mut objects = Vec::new();
    for_each_object(text, |object| {
        objects.push(object);
        Ok::<(), ParseError>(())
    })?;
    Ok(objects)
}

/// Parses the objects of a manifest one document at a time and hands each to `each`, in document order, so that
/// only one document is held parsed at once (Argo CD's ApplicationSet CRD alone is 1.4 MB of YAML). Stops at the
/// first error of parsing or of `each`.
///
/// Errors: as [`parse_manifest`], converted into `E`, or `each`'s error.
pub fn for_each_object<E: From<ParseError>>(
    text: &str,
    mut each: impl FnMut(DynamicObject) -> Result<(), E>,
) -> Result<(), E> {
    let mut index = 0;
    let mut any = false;
    for doc in split_documents(text) {
        if doc.text.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#')
        }) {
            continue;
        }
        index += 1;
        let mut value: Value = serde_yaml::from_str(doc.text).map_err(|e| ParseError::Yaml {
            index,
            kind: sniff_kind(doc.text),
            line: doc.line,
            // The manifest may hold Secrets: the reason without quoting the text.
            message: crate::redact::scrub(&e.to_string(), doc.text),
        })?;
        if value.is_null() {
            continue;
        }
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        let not_object = |message: String| ParseError::NotAnObject {
            index,
            kind: kind.clone(),
            line: doc.line,
            message,
        };
        let is_list = kind.ends_with("List") && value.get("items").is_some_and(Value::is_array);
        if is_list {
            let items = match value.get_mut("items").map(Value::take) {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
            for (i, item) in items.into_iter().enumerate() {
                any = true;
                each(to_object(item).map_err(|m| not_object(format!("items[{i}]: {m}")))?)?;
            }
        } else {
            any = true;
            each(to_object(value).map_err(not_object)?)?;
        }
    }
    if !any {
        return Err(ParseError::Empty.into());
    }
    Ok(())
}

/// Checks the shape of one object and converts it.
fn to_object(value: Value) -> Result<DynamicObject, String> {
    let Value::Object(map) = &value else {
        return Err("expected a mapping".into());
    };
    for field in ["apiVersion", "kind"] {
        if map
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(format!("{field} is missing or not a string"));
        }
    }
    let has_name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if !has_name {
        return Err("metadata.name is missing or not a string".into());
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_markers_and_keeps_lines() {
        let text = "# header\napiVersion: v1\n---\nkind: A\n--- \nkind: B\n...\n---\nkind: C";
        let docs = split_documents(text);
        let lines: Vec<usize> = docs.iter().map(|d| d.line).collect();
        assert_eq!(lines, [1, 3, 5, 8]);
        assert_eq!(docs[1].text, "\nkind: A\n");
        assert_eq!(docs[3].text.trim(), "kind: C");
        // A block scalar's indented `---` is content, not a marker.
        assert_eq!(split_documents("a: |\n  ---\n  x\n").len(), 1);
    }

    #[test]
    fn parses_objects_and_lists_and_skips_empty_documents() {
        let text = "---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n\
                    apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: b}\n";
        let objects = parse_manifest(text).unwrap();
        let names: Vec<_> = objects
            .iter()
            .map(|o| o.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(objects[1].types.as_ref().unwrap().kind, "Secret");
    }

    #[test]
    fn errors_name_the_document_index_and_kind() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: apps/v1\nkind: Deployment\n\
                    metadata: {name: b\nspec: [\n";
        let err = parse_manifest(text).unwrap_err();
        assert!(
            matches!(&err, ParseError::Yaml { index: 2, kind, line: 4, .. } if kind == "Deployment"),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("document 2 (kind Deployment, line 4)"),
            "{err}"
        );

        let nameless = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata: {}\n";
        let err = parse_manifest(nameless).unwrap_err().to_string();
        assert_eq!(err, "document 2 (kind Service, line 4) is not a Kubernetes object: metadata.name is missing or not a string");

        let scalar = parse_manifest("just text").unwrap_err().to_string();
        assert!(scalar.contains("document 1 (kind unknown"), "{scalar}");
        assert_eq!(parse_manifest("# nothing\n---\n"), Err(ParseError::Empty));
    }
}
