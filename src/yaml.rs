//! YAML read and written through serde-saphyr (serde_yaml, used before, is deprecated upstream). An untyped
//! document is a [`serde_json::Value`], as in kube: mappings keep their insertion order (serde_json's
//! `preserve_order`).
//!
//! Reading resolves plain scalars as serde_yaml 0.9 did, by YAML 1.2's core schema: `yes`, `on`, `0755`, `1_000`
//! stay strings, `1.20` is a float, `1e3` a float, `null`/`~` null. Writing quotes every string that a YAML 1.1
//! or 1.2 reader (Talos' Go YAML v3, kubectl, talosctl) could take for another type, and gives multi-line
//! strings (PEM blocks) as literal block scalars. Errors carry the location but no excerpt of the input.

use serde::{de::DeserializeOwned, Serialize};

pub use serde_json::Value;

/// A YAML mapping with string keys, in insertion order.
pub type Mapping = serde_json::Map<String, Value>;

/// A YAML read error (line and column in its message and in `location()`).
pub type Error = serde_saphyr::Error;

/// A YAML write error.
pub type EmitError = serde_saphyr::SerializeError;

/// The reading options behind every function here (YAML 1.2 core-schema scalars, no source excerpt in errors),
/// for callers that drive serde-saphyr's deserializer themselves.
pub fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        with_snippet: false,
    }
}

/// `text`, one YAML document, read as `T`.
///
/// # Errors
/// Syntax errors, a second document, or a shape `T` does not accept.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_saphyr::from_str_with_options(text, options())
}

/// [`from_str`] of UTF-8 bytes.
///
/// # Errors
/// As [`from_str`], and on bytes that are not UTF-8.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_saphyr::from_slice_with_options(bytes, options())
}

/// Every document of the `---`-separated stream `text`, empty (null) documents left out.
///
/// # Errors
/// The first syntax error, or a document `T` does not accept.
pub fn documents<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, Error> {
    serde_saphyr::from_multiple_with_options(text, options())
}

/// `value` as one YAML document (no `---`), ending in a newline. Multi-line strings are literal block scalars
/// (`|`, `|-`); a long single-line string stays on one line (no automatic folding into `>`).
///
/// # Errors
/// Only when `value`'s `Serialize` fails.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, EmitError> {
    let options = serde_saphyr::ser_options! { folded_wrap_chars: usize::MAX };
    serde_saphyr::to_string_with_options(value, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_read_as_yaml_1_2_core_schema() {
        let v: Value = from_str(
            "a: yes\nb: on\nc: 0755\nd: 1e3\ne: null\nf: 1.20\ng: ~\nh: 1_000\ni: true\nj: 0x1F\nk: '1.20'\nl: 12\n",
        )
        .unwrap();
        assert_eq!(v["a"], "yes");
        assert_eq!(v["b"], "on");
        assert_eq!(v["c"], "0755");
        assert_eq!(v["d"].as_f64(), Some(1000.0));
        assert!(v["e"].is_null() && v["g"].is_null());
        assert_eq!(v["f"].as_f64(), Some(1.2));
        assert_eq!(v["h"], "1_000");
        assert_eq!(v["i"], true);
        assert_eq!(v["j"], 31);
        assert_eq!(v["k"], "1.20");
        assert_eq!(v["l"], 12);
    }

    #[test]
    fn strings_that_look_like_other_types_are_quoted_and_read_back() {
        let words = [
            "yes",
            "no",
            "on",
            "off",
            "y",
            "n",
            "0755",
            "1e3",
            "null",
            "~",
            "1.20",
            "true",
            "False",
            "12",
            "0x1F",
            "1_000",
            "",
            " lead",
            "trail ",
            "a: b",
            "- x",
            "#c",
            "2001-12-14",
            "1:20",
            ".inf",
            "NaN",
            "---",
        ];
        for w in words {
            let text = to_string(&serde_json::json!({ "k": w })).unwrap();
            let back: Value = from_str(&text).unwrap();
            assert_eq!(back["k"], w, "{w:?} written as {text:?}");
            assert!(
                !text.starts_with(&format!("k: {w}\n")) || w.is_empty(),
                "{w:?} plain: {text:?}"
            );
        }
    }

    #[test]
    fn order_blocks_and_documents() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\nAAAA\n-----END CERTIFICATE-----\n";
        let long = format!("{} {}", "x".repeat(100), "y".repeat(100));
        let doc = serde_json::json!({"z": 1, "a": {"y": [1, "two"], "b": pem}, "m": {}, "l": long});
        let text = to_string(&doc).unwrap();
        assert!(text.starts_with("z: 1\na:\n"), "{text}");
        assert!(
            text.contains("  b: |\n    -----BEGIN CERTIFICATE-----\n    MIIB\n"),
            "{text}"
        );
        let back: Value = from_str(&text).unwrap();
        assert_eq!(back, doc);
        let keys: Vec<&String> = back.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["z", "a", "m", "l"]);
        assert!(text.contains(&format!("\nl: {long}\n")), "{text}");
        let docs: Vec<Value> = documents("a: 1\n---\n---\nb: 2\n...\n").unwrap();
        assert_eq!(
            docs,
            [serde_json::json!({"a": 1}), serde_json::json!({"b": 2})]
        );
    }

    #[test]
    fn errors_locate_without_quoting() {
        let e = from_str::<Value>("a:\n  b: SECRETSECRET\n c: [\n").unwrap_err();
        assert!(e.location().is_some(), "{e}");
        assert!(!e.to_string().contains("SECRETSECRET"), "{e}");
    }
}
