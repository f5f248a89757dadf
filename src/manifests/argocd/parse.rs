//! Parsing of a multi-document Kubernetes manifest (Argo CD's `install.yaml`) into objects, one document at a
//! time, each kept as compact JSON ([`ManifestObject`]) until a caller needs its values.
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
        objects.push(object.to_dynamic()?);
        Ok::<(), ParseError>(())
    })?;
    Ok(objects)
}

/// One object of a manifest: what identifies it, and its compact JSON as written (its tree of values is built
/// only on demand, by [`ManifestObject::to_dynamic`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestObject {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when set.
    pub namespace: Option<String>,
    /// The object as compact JSON.
    pub json: String,
    /// Position of its document, counting from 1, and the line where the document starts (for errors).
    pub index: usize,
    /// See `index`.
    pub line: usize,
}

impl ManifestObject {
    /// The object parsed.
    ///
    /// Errors: [`ParseError::NotAnObject`] when its fields do not fit a Kubernetes object.
    pub fn to_dynamic(&self) -> Result<DynamicObject, ParseError> {
        serde_json::from_str(&self.json).map_err(|e| ParseError::NotAnObject {
            index: self.index,
            kind: self.kind.clone(),
            line: self.line,
            message: e.to_string(),
        })
    }
}

/// The top-level fields that identify an object, read from its JSON without building the rest.
#[derive(serde::Deserialize)]
struct Head {
    #[serde(rename = "apiVersion")]
    api_version: Option<Value>,
    kind: Option<Value>,
    metadata: Option<Value>,
    items: Option<serde::de::IgnoredAny>,
}

/// The compact JSON of one YAML document, written event by event (serde-saphyr's deserializer driving
/// serde_json's serializer through serde-transcode), so that no tree of values is built: Argo CD's 1.4 MB
/// ApplicationSet CRD takes some 2 MB to convert this way and some 14 MB through a tree of values. Scalars
/// resolve as in YAML 1.2's core schema, with [`crate::yaml::options`] as [`crate::yaml::from_str`] does
/// (`src/manifests/argocd/fixture_tests.rs` compares both on Argo CD's manifest).
///
/// Errors: the YAML parser's message (which may quote the document: scrub it).
fn to_json(doc: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(doc.len() / 2);
    serde_saphyr::with_deserializer_from_str_with_options(doc, crate::yaml::options(), |de| {
        let mut json = serde_json::Serializer::new(&mut out);
        serde_transcode::transcode(de, &mut json).map_err(serde::de::Error::custom)
    })
    .map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Checks the identity fields of an object's JSON; the message names what is missing.
fn identify(json: String, head: Head, index: usize, line: usize) -> Result<ManifestObject, String> {
    let field = |v: &Option<Value>, name: &str| {
        v.as_ref()
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("{name} is missing or not a string"))
    };
    let api_version = field(&head.api_version, "apiVersion")?;
    let kind = field(&head.kind, "kind")?;
    let metadata = head.metadata.unwrap_or(Value::Null);
    let name = field(&metadata.get("name").cloned(), "metadata.name")?;
    // The typed part of a dynamic object, checked here as parsing it would.
    serde_json::from_value::<kube::api::ObjectMeta>(metadata.clone())
        .map_err(|e| format!("metadata: {e}"))?;
    let namespace = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    Ok(ManifestObject {
        api_version,
        kind,
        name,
        namespace,
        json,
        index,
        line,
    })
}

/// Reads the objects of a manifest one document at a time, as [`ManifestObject`]s, and hands each to `each`, in
/// document order: memory holds the text, one document's JSON and what `each` keeps. Stops at the first error of
/// parsing or of `each`.
///
/// Errors: as [`parse_manifest`], converted into `E`, or `each`'s error.
pub fn for_each_object<E: From<ParseError>>(
    text: &str,
    mut each: impl FnMut(ManifestObject) -> Result<(), E>,
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
        let line = doc.line;
        let json = to_json(doc.text).map_err(|message| ParseError::Yaml {
            index,
            kind: sniff_kind(doc.text),
            line,
            // The manifest may hold Secrets: the reason without quoting the text.
            message: crate::redact::scrub(&message, doc.text),
        })?;
        if json == "null" {
            continue;
        }
        let not_object = |kind: &str, message: String| ParseError::NotAnObject {
            index,
            kind: kind.to_string(),
            line,
            message,
        };
        if !json.starts_with('{') {
            return Err(not_object(&sniff_kind(doc.text), "expected a mapping".into()).into());
        }
        let head: Head = serde_json::from_str(&json)
            .map_err(|e| not_object(&sniff_kind(doc.text), e.to_string()))?;
        let kind = head
            .kind
            .as_ref()
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        let items = if kind.ends_with("List") && head.items.is_some() {
            match serde_json::from_str::<Value>(&json) {
                Ok(Value::Object(mut list)) => match list.remove("items") {
                    Some(Value::Array(items)) => Some(items),
                    _ => None,
                },
                _ => None,
            }
        } else {
            None
        };
        match items {
            Some(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    let bad = |m: String| not_object(&kind, format!("items[{i}]: {m}"));
                    if !item.is_object() {
                        return Err(bad("expected a mapping".into()).into());
                    }
                    let json = serde_json::to_string(&item).map_err(|e| bad(e.to_string()))?;
                    let head: Head = serde_json::from_str(&json).map_err(|e| bad(e.to_string()))?;
                    any = true;
                    each(identify(json, head, index, line).map_err(bad)?)?;
                }
            }
            None => {
                any = true;
                let object = identify(json, head, index, line).map_err(|m| not_object(&kind, m))?;
                each(object)?;
            }
        }
    }
    if !any {
        return Err(ParseError::Empty.into());
    }
    Ok(())
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
