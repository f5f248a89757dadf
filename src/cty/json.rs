//! The JSON encoding of cty values (go-cty `cty/json`), used by `DynamicValue.json` and by the `RawState` that
//! Terraform sends to `UpgradeResourceState`.
//!
//! Numbers are kept at full precision (the parser below keeps their text; serde_json would round them to f64).
//! Unknown values cannot be written as JSON. A value of `dynamic` type is `{"value": V, "type": T}`. As in cty,
//! decoding is lenient between primitives (a number or bool where a string is expected becomes its text; `"true"`
//! and numeric strings are read as bool and number) and missing object attributes become null.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{AttributePath, Error, Type, Value};

/// Nesting limit for decoding (protects the stack against hostile input).
const MAX_DEPTH: usize = 256;

/// Options for [`decode_with`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DecodeOptions {
    /// Drop object attributes that the type does not declare instead of failing (used for stored states whose
    /// schema lost attributes).
    pub ignore_undefined_attributes: bool,
}

/// Decodes JSON bytes as a value of type `ty`; unknown attributes are errors.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, Error> {
    decode_with(bytes, ty, DecodeOptions::default())
}

/// Decodes JSON bytes as a value of type `ty` with `opts`.
pub fn decode_with(bytes: &[u8], ty: &Type, opts: DecodeOptions) -> Result<Value, Error> {
    let tree = parse(bytes)?;
    from_tree(tree, ty, &AttributePath::root(), opts)
}

/// Encodes a wholly known `value` of type `ty` as JSON. Errors on unknown values and type mismatches.
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, Error> {
    let mut out = String::with_capacity(256);
    write(&mut out, value, ty, &AttributePath::root())?;
    Ok(out.into_bytes())
}

/// A parsed JSON document that keeps number text exactly.
#[derive(Debug)]
enum Tree {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Tree>),
    Object(Vec<(String, Tree)>),
}

fn parse(bytes: &[u8]) -> Result<Tree, Error> {
    let mut p = Parser { s: bytes, i: 0 };
    let tree = p.value(0)?;
    p.skip_ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing characters after JSON value"));
    }
    Ok(tree)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, msg: &str) -> Error {
        Error::new(format!("invalid JSON at byte {}: {msg}", self.i))
    }

    fn skip_ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.s[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Tree, Error> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.skip_ws();
        match self.s.get(self.i) {
            None => Err(self.err("unexpected end of input")),
            Some(b'n') if self.eat(b"null") => Ok(Tree::Null),
            Some(b't') if self.eat(b"true") => Ok(Tree::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Tree::Bool(false)),
            Some(b'"') => self.string().map(Tree::String),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.eat(b"]") {
                    return Ok(Tree::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.skip_ws();
                    if self.eat(b"]") {
                        return Ok(Tree::Array(items));
                    }
                    if !self.eat(b",") {
                        return Err(self.err("expected ',' or ']'"));
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut entries = Vec::new();
                self.skip_ws();
                if self.eat(b"}") {
                    return Ok(Tree::Object(entries));
                }
                loop {
                    self.skip_ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err(self.err("expected object key"));
                    }
                    let key = self.string()?;
                    self.skip_ws();
                    if !self.eat(b":") {
                        return Err(self.err("expected ':'"));
                    }
                    entries.push((key, self.value(depth + 1)?));
                    self.skip_ws();
                    if self.eat(b"}") {
                        return Ok(Tree::Object(entries));
                    }
                    if !self.eat(b",") {
                        return Err(self.err("expected ',' or '}'"));
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn number(&mut self) -> Result<Tree, Error> {
        let start = self.i;
        while matches!(
            self.s.get(self.i),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.i += 1;
        }
        let text =
            std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.err("bad number"))?;
        // Validate with the same grammar the decimal parser accepts.
        Value::number_from_str(text).map_err(|_| self.err("bad number"))?;
        Ok(Tree::Number(text.to_owned()))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let digits = self
            .s
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("short \\u escape"))?;
        let text = std::str::from_utf8(digits).map_err(|_| self.err("bad \\u escape"))?;
        let v = u32::from_str_radix(text, 16).map_err(|_| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, Error> {
        self.i += 1; // opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return Err(self.err("unterminated string"));
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) && self.eat(b"\\u") {
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("bad surrogate pair"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(code).unwrap_or('\u{FFFD}')
                        }
                        _ => return Err(self.err("bad escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return Err(self.err("control character in string")),
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.err("string is not valid UTF-8"))
    }
}

fn from_tree(
    tree: Tree,
    ty: &Type,
    path: &AttributePath,
    opts: DecodeOptions,
) -> Result<Value, Error> {
    if let Tree::Null = tree {
        return Ok(Value::Null);
    }
    let mismatch = || Err(Error::at(path.clone(), format!("expected {ty}")));
    match (ty, tree) {
        (Type::Dynamic, Tree::Object(entries)) => {
            let mut value = None;
            let mut actual = None;
            for (k, v) in entries {
                match k.as_str() {
                    "value" => value = Some(v),
                    "type" => actual = Some(type_from_tree(v, path)?),
                    _ => {
                        return Err(Error::at(
                            path.clone(),
                            format!("unexpected key {k:?} in dynamic value"),
                        ))
                    }
                }
            }
            match (value, actual) {
                (Some(v), Some(t)) => from_tree(v, &t, path, opts),
                _ => Err(Error::at(
                    path.clone(),
                    "dynamic value needs \"value\" and \"type\"",
                )),
            }
        }
        (Type::String, Tree::String(s) | Tree::Number(s)) => Ok(Value::String(s)),
        (Type::String, Tree::Bool(b)) => Ok(Value::String(b.to_string())),
        (Type::Number, Tree::Number(s) | Tree::String(s)) => {
            Value::number_from_str(&s).map_err(|e| e.with_path(path))
        }
        (Type::Bool, Tree::Bool(b)) => Ok(Value::Bool(b)),
        (Type::Bool, Tree::String(s)) if s == "true" || s == "false" => {
            Ok(Value::Bool(s == "true"))
        }
        (Type::List(e), Tree::Array(items)) => Ok(Value::List(tree_items(items, e, path, opts)?)),
        (Type::Set(e), Tree::Array(items)) => Ok(Value::Set(tree_items(items, e, path, opts)?)),
        (Type::Tuple(tys), Tree::Array(items)) if tys.len() == items.len() => {
            let mut out = Vec::with_capacity(items.len());
            for (i, (t, v)) in tys.iter().zip(items).enumerate() {
                out.push(from_tree(v, t, &path.join_index(i), opts)?);
            }
            Ok(Value::Tuple(out))
        }
        (Type::Map(e), Tree::Object(entries)) => {
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                let v = from_tree(v, e, &path.join_key(&k), opts)?;
                out.insert(k, v);
            }
            Ok(Value::Map(out))
        }
        (Type::Object(attrs), Tree::Object(entries)) => {
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                match attrs.get(&k) {
                    Some(aty) => {
                        let v = from_tree(v, aty, &path.join_attr(&k), opts)?;
                        out.insert(k, v);
                    }
                    None if opts.ignore_undefined_attributes => {}
                    None => return Err(Error::at(path.join_attr(&k), "unsupported attribute")),
                }
            }
            for k in attrs.keys() {
                out.entry(k.clone()).or_insert(Value::Null);
            }
            Ok(Value::Object(out))
        }
        _ => mismatch(),
    }
}

fn tree_items(
    items: Vec<Tree>,
    e: &Type,
    path: &AttributePath,
    opts: DecodeOptions,
) -> Result<Vec<Value>, Error> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| from_tree(v, e, &path.join_index(i), opts))
        .collect()
}

fn tree_to_json(tree: Tree) -> serde_json::Value {
    use serde_json::Value as J;
    match tree {
        Tree::Null => J::Null,
        Tree::Bool(b) => J::Bool(b),
        Tree::Number(n) => n.parse::<serde_json::Number>().map_or(J::Null, J::Number),
        Tree::String(s) => J::String(s),
        Tree::Array(items) => J::Array(items.into_iter().map(tree_to_json).collect()),
        Tree::Object(entries) => J::Object(
            entries
                .into_iter()
                .map(|(k, v)| (k, tree_to_json(v)))
                .collect(),
        ),
    }
}

fn type_from_tree(tree: Tree, path: &AttributePath) -> Result<Type, Error> {
    Type::from_json(&tree_to_json(tree)).map_err(|e| e.with_path(path))
}

fn write(out: &mut String, value: &Value, ty: &Type, path: &AttributePath) -> Result<(), Error> {
    if let Type::Dynamic = ty {
        return match value {
            Value::Null => {
                out.push_str("null");
                Ok(())
            }
            Value::Unknown => Err(Error::at(
                path.clone(),
                "unknown values cannot be encoded as JSON",
            )),
            v => {
                let actual = v.infer_type();
                out.push_str("{\"value\":");
                write(out, v, &actual, path)?;
                let _ = write!(out, ",\"type\":{}}}", actual.to_json());
                Ok(())
            }
        };
    }
    match (ty, value) {
        (_, Value::Null) => out.push_str("null"),
        (_, Value::Unknown) => {
            return Err(Error::at(
                path.clone(),
                "unknown values cannot be encoded as JSON",
            ))
        }
        (Type::String, Value::String(s)) => write_str(out, s),
        (Type::Bool, Value::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
        (Type::Number, Value::Number(n)) => out.push_str(&n.to_plain_string()),
        (Type::List(e), Value::List(items)) | (Type::Set(e), Value::Set(items)) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, item, e, &path.join_index(i))?;
            }
            out.push(']');
        }
        (Type::Tuple(tys), Value::Tuple(items)) if tys.len() == items.len() => {
            out.push('[');
            for (i, (t, item)) in tys.iter().zip(items).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, item, t, &path.join_index(i))?;
            }
            out.push(']');
        }
        (Type::Map(e), Value::Map(m)) => {
            out.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write(out, v, e, &path.join_key(k))?;
            }
            out.push('}');
        }
        (Type::Object(attrs), Value::Object(m)) => {
            if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(Error::at(path.join_attr(extra), "unsupported attribute"));
            }
            out.push('{');
            for (i, (k, aty)) in attrs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write(
                    out,
                    m.get(k).unwrap_or(&Value::Null),
                    aty,
                    &path.join_attr(k),
                )?;
            }
            out.push('}');
        }
        _ => {
            return Err(Error::at(
                path.clone(),
                format!("value does not conform to {ty}"),
            ))
        }
    }
    Ok(())
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_precision_and_escapes() {
        let ty = Type::object([
            ("n", Type::Number),
            ("s", Type::String),
            ("d", Type::Dynamic),
            ("l", Type::list(Type::Bool)),
        ]);
        let v = Value::object([
            (
                "n",
                Value::number_from_str("3.14159265358979323846264338327950288").unwrap(),
            ),
            ("s", Value::from("quote\" back\\ nl\n ctl\u{1} é 😀")),
            (
                "d",
                Value::Map([("k".to_string(), Value::from("v"))].into()),
            ),
            ("l", Value::List(vec![true.into(), Value::Null])),
        ]);
        let bytes = encode(&v, &ty).unwrap();
        assert_eq!(decode(&bytes, &ty).unwrap(), v);
        let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed["d"]["type"], serde_json::json!(["map", "string"]));
    }

    #[test]
    fn lenient_primitives_and_missing_attributes() {
        let ty = Type::object([
            ("s", Type::String),
            ("n", Type::Number),
            ("b", Type::Bool),
            ("x", Type::String),
        ]);
        let v = decode(br#"{"s": 12, "n": "7", "b": "true"}"#, &ty).unwrap();
        assert_eq!(v.get("s").as_str(), Some("12"));
        assert_eq!(v.get("n").as_i64(), Some(7));
        assert_eq!(v.get("b").as_bool(), Some(true));
        assert!(v.get("x").is_null());
        assert_eq!(
            decode(br#"{"\ud83d\ude00": "x"}"#, &Type::map(Type::String))
                .unwrap()
                .get("😀")
                .as_str(),
            Some("x")
        );
    }

    #[test]
    fn errors() {
        let ty = Type::object([("s", Type::String)]);
        assert!(decode(br#"{"other": 1}"#, &ty).is_err());
        let opts = DecodeOptions {
            ignore_undefined_attributes: true,
        };
        assert!(decode_with(br#"{"other": 1}"#, &ty, opts).is_ok());
        assert!(decode(br#"{"s": [1]}"#, &ty).is_err());
        assert!(decode(b"{", &ty).is_err());
        assert!(decode(b"[1] x", &Type::list(Type::Number)).is_err());
        assert!(decode(b"01x", &Type::Number).is_err());
        assert!(encode(&Value::Unknown, &Type::String).is_err());
        let deep = "[".repeat(10_000);
        assert!(decode(deep.as_bytes(), &Type::Dynamic).is_err());
    }
}
