//! cty values. A [`Value`] carries no type of its own: the schema's [`Type`] is given when encoding, decoding and
//! checking. `Null` and `Unknown` stand in for a value of any type (cty's typed null / unknown).

use std::collections::BTreeMap;
use std::str::FromStr;

use bigdecimal::{BigDecimal, ToPrimitive};

use super::{AttributePath, Error, PathStep, Type};

/// Largest number of decimal places (or power-of-ten exponent) a number parsed from text may have. The smallest
/// float64 needs 1074 places; beyond this, a few bytes such as `1e999999999` would expand into gigabytes of digits
/// when the number is written out or compared.
pub const MAX_NUMBER_SCALE: u64 = 4096;

/// A Terraform value (go-cty `cty.Value`, without marks).
///
/// Sets compare equal regardless of element order; numbers compare by numeric value (`1.0 == 1`).
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// Absent value (`null` in HCL).
    #[default]
    Null,
    /// Not known until apply (`(known after apply)`).
    Unknown,
    /// A string.
    String(String),
    /// An arbitrary-precision decimal number.
    Number(BigDecimal),
    /// A bool.
    Bool(bool),
    /// List elements, in order.
    List(Vec<Value>),
    /// Set elements; order is not significant.
    Set(Vec<Value>),
    /// Map entries.
    Map(BTreeMap<String, Value>),
    /// Object attributes (every attribute of the object type is present, possibly `Null`).
    Object(BTreeMap<String, Value>),
    /// Tuple elements, in order.
    Tuple(Vec<Value>),
}

/// Shared `Null` returned by accessors for missing attributes.
static NULL: Value = Value::Null;

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) | (Unknown, Unknown) => true,
            (String(a), String(b)) => a == b,
            (Number(a), Number(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (List(a), List(b)) | (Tuple(a), Tuple(b)) => a == b,
            (Set(a), Set(b)) => {
                a.len() == b.len()
                    && a.iter().all(|x| b.contains(x))
                    && b.iter().all(|x| a.contains(x))
            }
            (Map(a), Map(b)) | (Object(a), Object(b)) => a == b,
            _ => false,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Number(BigDecimal::from(n))
    }
}

impl From<BigDecimal> for Value {
    fn from(n: BigDecimal) -> Self {
        Value::Number(n)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl Value {
    /// An object from `(name, value)` pairs.
    pub fn object<I, S>(attrs: I) -> Value
    where
        I: IntoIterator<Item = (S, Value)>,
        S: Into<String>,
    {
        Value::Object(attrs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A map from `(key, value)` pairs.
    pub fn map<I, S>(entries: I) -> Value
    where
        I: IntoIterator<Item = (S, Value)>,
        S: Into<String>,
    {
        Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A list of strings.
    pub fn string_list<I, S>(items: I) -> Value
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Value::List(items.into_iter().map(|s| Value::String(s.into())).collect())
    }

    /// Parses a decimal number (`"1.5"`, `"-3e10"`). Errors on anything else, and on numbers with more than
    /// [`MAX_NUMBER_SCALE`] decimal places or an exponent above it (`"1e999999999"`).
    pub fn number_from_str(s: &str) -> Result<Value, Error> {
        let n = BigDecimal::from_str(s).map_err(|_| Error::new(format!("invalid number {s:?}")))?;
        if n.as_bigint_and_scale().1.unsigned_abs() > MAX_NUMBER_SCALE {
            return Err(Error::new(format!(
                "number {s:?} is out of range (beyond {MAX_NUMBER_SCALE} decimal places or 1e{MAX_NUMBER_SCALE})"
            )));
        }
        Ok(Value::Number(n))
    }

    /// Whether this is `Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether this value itself is known (its elements may still be unknown).
    pub fn is_known(&self) -> bool {
        !matches!(self, Value::Unknown)
    }

    /// Whether neither this value nor anything inside it is unknown.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                v.iter().all(Value::is_wholly_known)
            }
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            _ => true,
        }
    }

    /// The string, if this is a known string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The bool, if this is a known bool.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number, if this is a known number.
    pub fn as_number(&self) -> Option<&BigDecimal> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// The number as `i64`, if this is a known integral number in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) if n.is_integer() => n.to_i64(),
            _ => None,
        }
    }

    /// The elements, if this is a known list, set or tuple.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// The entries, if this is a known map or object.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) | Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The attribute `name` of an object (or entry of a map); `Null` when absent or when `self` is not a map.
    pub fn get(&self, name: &str) -> &Value {
        self.as_map().and_then(|m| m.get(name)).unwrap_or(&NULL)
    }

    /// Sets attribute `name` of an object or map. A `Null` or `Unknown` self becomes an object first.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        if !matches!(self, Value::Object(_) | Value::Map(_)) {
            *self = Value::Object(BTreeMap::new());
        }
        if let Value::Object(m) | Value::Map(m) = self {
            m.insert(name.into(), value.into());
        }
    }

    /// The value at `path`; `Null` when any step is missing.
    pub fn get_path(&self, path: &AttributePath) -> &Value {
        let mut cur = self;
        for step in &path.steps {
            cur = match (step, cur) {
                (PathStep::Attribute(n) | PathStep::Key(n), v) => v.get(n),
                (PathStep::Index(i), v) => v
                    .as_list()
                    .and_then(|l| usize::try_from(*i).ok().and_then(|i| l.get(i)))
                    .unwrap_or(&NULL),
            };
        }
        cur
    }

    /// A mutable reference to the value at `path`, if every step exists.
    pub fn get_path_mut(&mut self, path: &AttributePath) -> Option<&mut Value> {
        let mut cur = self;
        for step in &path.steps {
            cur = match (step, cur) {
                (PathStep::Attribute(n) | PathStep::Key(n), Value::Object(m) | Value::Map(m)) => {
                    m.get_mut(n)?
                }
                (PathStep::Index(i), Value::List(l) | Value::Set(l) | Value::Tuple(l)) => {
                    l.get_mut(usize::try_from(*i).ok()?)?
                }
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Checks that this value conforms to `ty`; the error names the first offending path.
    /// Objects must carry exactly the attributes of their type.
    pub fn check_type(&self, ty: &Type) -> Result<(), Error> {
        self.check_type_at(ty, &AttributePath::root())
    }

    fn check_type_at(&self, ty: &Type, path: &AttributePath) -> Result<(), Error> {
        let mismatch = || Err(Error::at(path.clone(), format!("expected {ty}")));
        match (ty, self) {
            (_, Value::Null | Value::Unknown) | (Type::Dynamic, _) => Ok(()),
            (Type::String, Value::String(_))
            | (Type::Number, Value::Number(_))
            | (Type::Bool, Value::Bool(_)) => Ok(()),
            (Type::List(e), Value::List(items)) | (Type::Set(e), Value::Set(items)) => {
                for (i, item) in items.iter().enumerate() {
                    item.check_type_at(e, &path.join_index(i))?;
                }
                Ok(())
            }
            (Type::Map(e), Value::Map(m)) => {
                for (k, v) in m {
                    v.check_type_at(e, &path.join_key(k))?;
                }
                Ok(())
            }
            (Type::Object(attrs), Value::Object(m)) => {
                for (k, aty) in attrs {
                    match m.get(k) {
                        Some(v) => v.check_type_at(aty, &path.join_attr(k))?,
                        None => {
                            return Err(Error::at(
                                path.join_attr(k),
                                "attribute missing from object",
                            ))
                        }
                    }
                }
                if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                    return Err(Error::at(path.join_attr(extra), "unsupported attribute"));
                }
                Ok(())
            }
            (Type::Tuple(tys), Value::Tuple(items)) if tys.len() == items.len() => {
                for (i, (t, v)) in tys.iter().zip(items).enumerate() {
                    v.check_type_at(t, &path.join_index(i))?;
                }
                Ok(())
            }
            _ => mismatch(),
        }
    }

    /// Fills every attribute that `ty` declares but this object lacks with `Null`, recursively, so the value can be
    /// sent to Terraform (which requires every attribute). Values of other shapes are left as they are.
    pub fn fill_nulls(&mut self, ty: &Type) {
        match (ty, self) {
            (Type::Object(attrs), Value::Object(m)) => {
                for (k, aty) in attrs {
                    m.entry(k.clone()).or_insert(Value::Null).fill_nulls(aty);
                }
            }
            (Type::List(e) | Type::Set(e), Value::List(items) | Value::Set(items)) => {
                items.iter_mut().for_each(|v| v.fill_nulls(e));
            }
            (Type::Map(e), Value::Map(m)) => m.values_mut().for_each(|v| v.fill_nulls(e)),
            (Type::Tuple(tys), Value::Tuple(items)) => {
                tys.iter()
                    .zip(items.iter_mut())
                    .for_each(|(t, v)| v.fill_nulls(t));
            }
            _ => {}
        }
    }

    /// A type this value conforms to, for encoding values of `dynamic` type. Null and unknown give `dynamic`;
    /// a collection takes its elements' type when they all agree, else `dynamic` elements (each then carries its
    /// own type on the wire).
    pub fn infer_type(&self) -> Type {
        fn common<'a>(mut items: impl Iterator<Item = &'a Value>) -> Type {
            let Some(first) = items.next().map(Value::infer_type) else {
                return Type::Dynamic;
            };
            if items.all(|v| v.infer_type() == first) {
                first
            } else {
                Type::Dynamic
            }
        }
        match self {
            Value::Null | Value::Unknown => Type::Dynamic,
            Value::String(_) => Type::String,
            Value::Number(_) => Type::Number,
            Value::Bool(_) => Type::Bool,
            Value::List(v) => Type::list(common(v.iter())),
            Value::Set(v) => Type::set(common(v.iter())),
            Value::Map(m) => Type::map(common(m.values())),
            Value::Object(m) => {
                Type::Object(m.iter().map(|(k, v)| (k.clone(), v.infer_type())).collect())
            }
            Value::Tuple(v) => Type::Tuple(v.iter().map(Value::infer_type).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_with_huge_exponents_are_refused() {
        // 1e999999999 is 11 bytes of input but a billion digits when written out (or rescaled to compare).
        for text in ["1e999999999", "1e-999999999", "-7e4097", "1e-4097"] {
            let err = Value::number_from_str(text).unwrap_err();
            assert!(err.message.contains("out of range"), "{text}: {err}");
        }
        for text in ["1e4096", "-1e-4096", "5e-324", "1.7976931348623157e308"] {
            assert!(Value::number_from_str(text).is_ok(), "{text}");
        }
        // A long literal integer is not an exponent: it is kept whole.
        assert!(Value::number_from_str(&format!("1{}", "0".repeat(5000))).is_ok());
    }

    #[test]
    fn sets_compare_unordered_and_numbers_by_value() {
        let a = Value::Set(vec![Value::from("x"), Value::from("y")]);
        let b = Value::Set(vec![Value::from("y"), Value::from("x")]);
        assert_eq!(a, b);
        assert_eq!(Value::number_from_str("1.0").unwrap(), Value::from(1));
        assert_ne!(
            Value::List(vec![1.into(), 2.into()]),
            Value::List(vec![2.into(), 1.into()])
        );
    }

    #[test]
    fn paths_and_types() {
        let mut v = Value::object([
            ("name", Value::from("a")),
            (
                "nodes",
                Value::List(vec![Value::object([("ip", Value::from("127.0.0.1"))])]),
            ),
        ]);
        let p = AttributePath::attr("nodes").join_index(0).join_attr("ip");
        assert_eq!(v.get_path(&p).as_str(), Some("127.0.0.1"));
        *v.get_path_mut(&p).unwrap() = Value::Unknown;
        assert!(!v.is_wholly_known());
        let ty = Type::object([
            ("name", Type::String),
            ("nodes", Type::list(Type::object([("ip", Type::String)]))),
        ]);
        v.check_type(&ty).unwrap();
        let err = Value::object([("name", Value::from(1))])
            .check_type(&ty)
            .unwrap_err();
        assert_eq!(err.path.to_string(), "name");
        let mut partial = Value::object([("name", Value::from("a"))]);
        partial.fill_nulls(&ty);
        partial.check_type(&ty).unwrap();
    }
}
