//! cty types and their JSON type-constraint form (as in go-cty `ctyjson.MarshalType`): `"string"`, `"number"`,
//! `"bool"`, `"dynamic"`, `["list", T]`, `["set", T]`, `["map", T]`, `["object", {name: T}]` (optionally with a
//! third element listing optional attributes), `["tuple", [T, ...]]`.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value as Json;

use super::Error;

/// A cty type. Object attributes are kept sorted by name, as cty does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// UTF-8 string.
    String,
    /// Arbitrary-precision decimal number.
    Number,
    /// `true` or `false`.
    Bool,
    /// Ordered sequence of one element type.
    List(Box<Type>),
    /// Unordered collection of distinct elements of one type.
    Set(Box<Type>),
    /// String-keyed map of one element type.
    Map(Box<Type>),
    /// Fixed set of named attributes, each with its own type.
    Object(BTreeMap<String, Type>),
    /// Fixed-length sequence with a type per position.
    Tuple(Vec<Type>),
    /// `DynamicPseudoType`: any type, decided by the value (its type travels with it on the wire).
    Dynamic,
}

impl Type {
    /// `list(elem)`.
    pub fn list(elem: Type) -> Type {
        Type::List(Box::new(elem))
    }

    /// `set(elem)`.
    pub fn set(elem: Type) -> Type {
        Type::Set(Box::new(elem))
    }

    /// `map(elem)`.
    pub fn map(elem: Type) -> Type {
        Type::Map(Box::new(elem))
    }

    /// `object({...})` from `(name, type)` pairs.
    pub fn object<I, S>(attrs: I) -> Type
    where
        I: IntoIterator<Item = (S, Type)>,
        S: Into<String>,
    {
        Type::Object(attrs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The element type of a list, set or map.
    pub fn element_type(&self) -> Option<&Type> {
        match self {
            Type::List(e) | Type::Set(e) | Type::Map(e) => Some(e),
            _ => None,
        }
    }

    /// The JSON type-constraint form (`"string"`, `["list","string"]`, ...), as Terraform expects in schemas.
    pub fn to_json(&self) -> Json {
        match self {
            Type::String => Json::from("string"),
            Type::Number => Json::from("number"),
            Type::Bool => Json::from("bool"),
            Type::Dynamic => Json::from("dynamic"),
            Type::List(e) => Json::Array(vec!["list".into(), e.to_json()]),
            Type::Set(e) => Json::Array(vec!["set".into(), e.to_json()]),
            Type::Map(e) => Json::Array(vec!["map".into(), e.to_json()]),
            Type::Object(attrs) => {
                let map = attrs
                    .iter()
                    .map(|(k, t)| (k.clone(), t.to_json()))
                    .collect();
                Json::Array(vec!["object".into(), Json::Object(map)])
            }
            Type::Tuple(elems) => Json::Array(vec![
                "tuple".into(),
                Json::Array(elems.iter().map(Type::to_json).collect()),
            ]),
        }
    }

    /// The JSON type-constraint form as bytes (what `Schema.Attribute.type` carries on the wire).
    pub fn to_json_bytes(&self) -> Vec<u8> {
        self.to_json().to_string().into_bytes()
    }

    /// Parses the JSON type-constraint form. Errors on unknown type names or malformed shapes.
    pub fn from_json(json: &Json) -> Result<Type, Error> {
        match json {
            Json::String(name) => match name.as_str() {
                "string" => Ok(Type::String),
                "number" => Ok(Type::Number),
                "bool" => Ok(Type::Bool),
                "dynamic" => Ok(Type::Dynamic),
                other => Err(Error::new(format!("unknown type name {other:?}"))),
            },
            Json::Array(parts) => {
                let kind = parts.first().and_then(Json::as_str).unwrap_or_default();
                let arg = parts.get(1);
                match (kind, arg) {
                    ("list", Some(e)) => Ok(Type::list(Type::from_json(e)?)),
                    ("set", Some(e)) => Ok(Type::set(Type::from_json(e)?)),
                    ("map", Some(e)) => Ok(Type::map(Type::from_json(e)?)),
                    ("object", Some(Json::Object(attrs))) => {
                        let mut out = BTreeMap::new();
                        for (k, v) in attrs {
                            out.insert(k.clone(), Type::from_json(v)?);
                        }
                        Ok(Type::Object(out))
                    }
                    ("tuple", Some(Json::Array(elems))) => Ok(Type::Tuple(
                        elems
                            .iter()
                            .map(Type::from_json)
                            .collect::<Result<_, _>>()?,
                    )),
                    _ => Err(Error::new(format!("invalid type constraint {json}"))),
                }
            }
            _ => Err(Error::new(format!("invalid type constraint {json}"))),
        }
    }

    /// Parses the JSON type-constraint form from bytes.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Type, Error> {
        let json: Json = serde_json::from_slice(bytes)
            .map_err(|e| Error::new(format!("invalid type JSON: {e}")))?;
        Type::from_json(&json)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::String => f.write_str("string"),
            Type::Number => f.write_str("number"),
            Type::Bool => f.write_str("bool"),
            Type::Dynamic => f.write_str("dynamic"),
            Type::List(e) => write!(f, "list({e})"),
            Type::Set(e) => write!(f, "set({e})"),
            Type::Map(e) => write!(f, "map({e})"),
            Type::Object(attrs) => {
                f.write_str("object({")?;
                for (i, (k, t)) in attrs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}={t}")?;
                }
                f.write_str("})")
            }
            Type::Tuple(elems) => {
                f.write_str("tuple([")?;
                for (i, t) in elems.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                f.write_str("])")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let t = Type::object([
            ("a", Type::list(Type::String)),
            ("b", Type::Tuple(vec![Type::Number, Type::Dynamic])),
            ("c", Type::map(Type::set(Type::Bool))),
        ]);
        let bytes = t.to_json_bytes();
        assert_eq!(Type::from_json_bytes(&bytes).unwrap(), t);
        assert_eq!(Type::String.to_json_bytes(), b"\"string\"");
    }

    #[test]
    fn unknown_type_name_is_an_error() {
        let err = Type::from_json_bytes(b"\"strin\"").unwrap_err();
        assert!(err.to_string().contains("unknown type name"), "{err}");
        assert!(Type::from_json_bytes(b"[\"list\"]").is_err());
        assert!(Type::from_json_bytes(b"42").is_err());
        assert!(Type::from_json_bytes(b"{").is_err());
    }
}
