//! The msgpack encoding of cty values that Terraform uses for `DynamicValue.msgpack` (go-cty `cty/msgpack`):
//! - null is msgpack nil; unknown is extension type 0 (`d4 00 00`). On decode every extension is read as unknown,
//!   which covers the refined unknowns (extension 12) sent by Terraform >= 1.6.
//! - numbers: an integer that fits `i64` as an integer, else a float64 when exact, else the decimal as a string;
//!   decode accepts integers, floats and numeric strings.
//! - objects are maps keyed by attribute name; attributes missing on decode become null.
//! - a value of `dynamic` type is a 2-array `[type JSON as bytes, value]` (nil for a null of unknown type).

use std::collections::BTreeMap;

use bigdecimal::{BigDecimal, ToPrimitive};
use rmpv::Value as Mp;

use super::{AttributePath, Error, Type, Value};

/// Nesting limit for decoding (protects the stack against hostile input).
const MAX_DEPTH: usize = 256;

/// Encodes `value` as msgpack for type `ty`. Errors (with a path) when the value does not conform to the type.
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(256);
    write(&mut out, value, ty, &AttributePath::root())?;
    Ok(out)
}

/// Decodes msgpack bytes as a value of type `ty`. Errors (with a path) on malformed input or a type mismatch.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, Error> {
    let mut rd = bytes;
    let mp = rmpv::decode::read_value_with_max_depth(&mut rd, MAX_DEPTH)
        .map_err(|e| Error::new(format!("malformed msgpack: {e}")))?;
    if !rd.is_empty() {
        return Err(Error::new("malformed msgpack: trailing bytes after value"));
    }
    from_mp(mp, ty, &AttributePath::root())
}

fn io_err(e: impl std::fmt::Display) -> Error {
    Error::new(format!("msgpack write failed: {e}"))
}

fn len_u32(len: usize, path: &AttributePath) -> Result<u32, Error> {
    u32::try_from(len).map_err(|_| Error::at(path.clone(), "collection too large for msgpack"))
}

fn write(out: &mut Vec<u8>, value: &Value, ty: &Type, path: &AttributePath) -> Result<(), Error> {
    use rmp::encode as enc;
    if let Type::Dynamic = ty {
        return match value {
            Value::Null => enc::write_nil(out).map_err(io_err),
            Value::Unknown => write_unknown(out),
            v => {
                let actual = v.infer_type();
                enc::write_array_len(out, 2).map_err(io_err)?;
                enc::write_bin(out, &actual.to_json_bytes()).map_err(io_err)?;
                write(out, v, &actual, path)
            }
        };
    }
    let mismatch = || {
        Err(Error::at(
            path.clone(),
            format!("value does not conform to {ty}"),
        ))
    };
    match (ty, value) {
        (_, Value::Null) => enc::write_nil(out).map_err(io_err),
        (_, Value::Unknown) => write_unknown(out),
        (Type::String, Value::String(s)) => enc::write_str(out, s).map_err(io_err),
        (Type::Bool, Value::Bool(b)) => enc::write_bool(out, *b).map_err(io_err),
        (Type::Number, Value::Number(n)) => write_number(out, n),
        (Type::List(e), Value::List(items)) | (Type::Set(e), Value::Set(items)) => {
            enc::write_array_len(out, len_u32(items.len(), path)?).map_err(io_err)?;
            for (i, item) in items.iter().enumerate() {
                write(out, item, e, &path.join_index(i))?;
            }
            Ok(())
        }
        (Type::Tuple(tys), Value::Tuple(items)) if tys.len() == items.len() => {
            enc::write_array_len(out, len_u32(items.len(), path)?).map_err(io_err)?;
            for (i, (t, item)) in tys.iter().zip(items).enumerate() {
                write(out, item, t, &path.join_index(i))?;
            }
            Ok(())
        }
        (Type::Map(e), Value::Map(m)) => {
            enc::write_map_len(out, len_u32(m.len(), path)?).map_err(io_err)?;
            for (k, v) in m {
                enc::write_str(out, k).map_err(io_err)?;
                write(out, v, e, &path.join_key(k))?;
            }
            Ok(())
        }
        (Type::Object(attrs), Value::Object(m)) => {
            if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(Error::at(path.join_attr(extra), "unsupported attribute"));
            }
            enc::write_map_len(out, len_u32(attrs.len(), path)?).map_err(io_err)?;
            for (k, aty) in attrs {
                enc::write_str(out, k).map_err(io_err)?;
                let v = m.get(k).unwrap_or(&Value::Null);
                write(out, v, aty, &path.join_attr(k))?;
            }
            Ok(())
        }
        _ => mismatch(),
    }
}

fn write_unknown(out: &mut Vec<u8>) -> Result<(), Error> {
    rmp::encode::write_ext_meta(out, 1, 0).map_err(io_err)?;
    out.push(0);
    Ok(())
}

fn write_number(out: &mut Vec<u8>, n: &BigDecimal) -> Result<(), Error> {
    use rmp::encode as enc;
    if n.is_integer() {
        if let Some(i) = n.to_i64() {
            return enc::write_sint(out, i).map(|_| ()).map_err(io_err);
        }
    }
    if let Some(f) = n.to_f64().filter(|f| f.is_finite()) {
        if BigDecimal::try_from(f).is_ok_and(|exact| &exact == n) {
            return enc::write_f64(out, f).map_err(io_err);
        }
    }
    enc::write_str(out, &n.to_plain_string()).map_err(io_err)
}

fn from_mp(mp: Mp, ty: &Type, path: &AttributePath) -> Result<Value, Error> {
    if let Mp::Ext(..) = mp {
        return Ok(Value::Unknown);
    }
    if let Type::Dynamic = ty {
        return match mp {
            Mp::Nil => Ok(Value::Null),
            Mp::Array(items) if items.len() == 2 => {
                let mut items = items.into_iter();
                let (Some(ty_raw), Some(inner)) = (items.next(), items.next()) else {
                    return Err(Error::at(
                        path.clone(),
                        "dynamic value must be a 2-element array",
                    ));
                };
                let ty_bytes = match ty_raw {
                    Mp::Binary(b) => b,
                    Mp::String(s) => s.into_bytes(),
                    _ => return Err(Error::at(path.clone(), "dynamic value type must be bytes")),
                };
                let actual = Type::from_json_bytes(&ty_bytes).map_err(|e| e.with_path(path))?;
                from_mp(inner, &actual, path)
            }
            _ => Err(Error::at(
                path.clone(),
                "dynamic value must be a 2-element array",
            )),
        };
    }
    if let Mp::Nil = mp {
        return Ok(Value::Null);
    }
    let mismatch = |what: &str| {
        Err(Error::at(
            path.clone(),
            format!("expected {ty}, got {what}"),
        ))
    };
    match (ty, mp) {
        (Type::String, Mp::String(s)) => match s.into_str() {
            Some(s) => Ok(Value::String(s)),
            None => Err(Error::at(path.clone(), "string is not valid UTF-8")),
        },
        (Type::String, Mp::Binary(b)) => String::from_utf8(b)
            .map(Value::String)
            .map_err(|_| Error::at(path.clone(), "string is not valid UTF-8")),
        (Type::Bool, Mp::Boolean(b)) => Ok(Value::Bool(b)),
        (Type::Number, Mp::Integer(i)) => match (i.as_i64(), i.as_u64()) {
            (Some(v), _) => Ok(Value::Number(BigDecimal::from(v))),
            (None, Some(v)) => Ok(Value::Number(BigDecimal::from(v))),
            _ => mismatch("an out-of-range integer"),
        },
        (Type::Number, Mp::F64(f)) => number_from_float(f, path),
        (Type::Number, Mp::F32(f)) => number_from_float(f64::from(f), path),
        (Type::Number, Mp::String(s)) => match s.as_str() {
            Some(s) => Value::number_from_str(s).map_err(|e| e.with_path(path)),
            None => mismatch("a non-UTF-8 string"),
        },
        (Type::List(e), Mp::Array(items)) => Ok(Value::List(decode_items(items, e, path)?)),
        // Terraform never sends duplicate set elements; they are kept as sent (no quadratic dedup on input).
        (Type::Set(e), Mp::Array(items)) => Ok(Value::Set(decode_items(items, e, path)?)),
        (Type::Tuple(tys), Mp::Array(items)) => {
            if tys.len() != items.len() {
                return Err(Error::at(
                    path.clone(),
                    format!("tuple needs {} elements, got {}", tys.len(), items.len()),
                ));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, (t, v)) in tys.iter().zip(items).enumerate() {
                out.push(from_mp(v, t, &path.join_index(i))?);
            }
            Ok(Value::Tuple(out))
        }
        (Type::Map(e), Mp::Map(entries)) => {
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                let k = map_key(k, path)?;
                let v = from_mp(v, e, &path.join_key(&k))?;
                out.insert(k, v);
            }
            Ok(Value::Map(out))
        }
        (Type::Object(attrs), Mp::Map(entries)) => {
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                let k = map_key(k, path)?;
                let Some(aty) = attrs.get(&k) else {
                    return Err(Error::at(path.join_attr(&k), "unsupported attribute"));
                };
                let v = from_mp(v, aty, &path.join_attr(&k))?;
                out.insert(k, v);
            }
            for k in attrs.keys() {
                out.entry(k.clone()).or_insert(Value::Null);
            }
            Ok(Value::Object(out))
        }
        (_, other) => mismatch(kind_name(&other)),
    }
}

fn decode_items(items: Vec<Mp>, elem: &Type, path: &AttributePath) -> Result<Vec<Value>, Error> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| from_mp(v, elem, &path.join_index(i)))
        .collect()
}

fn map_key(k: Mp, path: &AttributePath) -> Result<String, Error> {
    match k {
        Mp::String(s) => s
            .into_str()
            .ok_or_else(|| Error::at(path.clone(), "map key is not valid UTF-8")),
        _ => Err(Error::at(path.clone(), "map key must be a string")),
    }
}

fn number_from_float(f: f64, path: &AttributePath) -> Result<Value, Error> {
    BigDecimal::try_from(f)
        .map(Value::Number)
        .map_err(|_| Error::at(path.clone(), "number must be finite"))
}

fn kind_name(mp: &Mp) -> &'static str {
    match mp {
        Mp::Nil => "nil",
        Mp::Boolean(_) => "a bool",
        Mp::Integer(_) | Mp::F32(_) | Mp::F64(_) => "a number",
        Mp::String(_) => "a string",
        Mp::Binary(_) => "bytes",
        Mp::Array(_) => "an array",
        Mp::Map(_) => "a map",
        Mp::Ext(..) => "an extension",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_is_ext0_and_ext12_reads_as_unknown() {
        assert_eq!(
            encode(&Value::Unknown, &Type::String).unwrap(),
            [0xd4, 0, 0]
        );
        // Refined unknown (extension 12) with a payload, as Terraform >= 1.6 sends.
        let refined = [0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc2];
        assert_eq!(decode(&refined, &Type::String).unwrap(), Value::Unknown);
    }

    #[test]
    fn numbers_keep_precision() {
        let n =
            Value::number_from_str("123456789012345678901234567890.000000000000000001").unwrap();
        let bytes = encode(&n, &Type::Number).unwrap();
        assert_eq!(decode(&bytes, &Type::Number).unwrap(), n);
        // 1.5 is exact in float64, 7 is an integer.
        assert_eq!(
            encode(&Value::number_from_str("1.5").unwrap(), &Type::Number).unwrap()[0],
            0xcb
        );
        assert_eq!(encode(&Value::from(7), &Type::Number).unwrap(), [7]);
    }

    #[test]
    fn dynamic_carries_its_type() {
        let v = Value::object([("a", Value::from("x")), ("b", Value::List(vec![1.into()]))]);
        let bytes = encode(&v, &Type::Dynamic).unwrap();
        assert_eq!(decode(&bytes, &Type::Dynamic).unwrap(), v);
    }

    #[test]
    fn malformed_input_is_an_error() {
        let ty = Type::object([("a", Type::String)]);
        assert!(decode(&[0xa5, b'x'], &ty).is_err());
        assert!(decode(&[0x81, 0xa1, b'z', 0xc0], &ty).is_err());
        let err = decode(&[0x81, 0xa1, b'a', 0x05], &ty).unwrap_err();
        assert_eq!(err.path.to_string(), "a");
        assert!(decode(&[0x92, 0xc4, 0x03, b'"', b'x', b'"', 0xc0], &Type::Dynamic).is_err());
        assert!(decode(&[0xdd, 0xff, 0xff, 0xff, 0xff], &Type::list(Type::String)).is_err());
        assert!(decode(&[0xc0, 0xc0], &Type::String).is_err());
    }
}
