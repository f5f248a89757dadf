//! The msgpack encoding of cty values that Terraform uses for `DynamicValue.msgpack` (go-cty `cty/msgpack`):
//! - null is msgpack nil; unknown is extension type 0 (`d4 00 00`). On decode every extension is read as unknown,
//!   which covers the refined unknowns (extension 12) sent by Terraform >= 1.6.
//! - numbers: an integer that fits `i64` as an integer, else a float64 when exact, else the decimal as a string;
//!   decode accepts integers, floats and numeric strings.
//! - objects are maps keyed by attribute name; attributes missing on decode become null.
//! - a value of `dynamic` type is a 2-array `[type JSON as bytes, value]` (nil for a null of unknown type).
//!
//! Both directions stream: decoding reads the bytes straight into [`Value`]s guided by the type, encoding writes
//! straight into the output buffer, and an error's path is only built when an error happens.

mod decode;
mod encode;

use super::{Error, PathStep, Type, Value};

/// Nesting limit for decoding (protects the stack against hostile input).
const MAX_DEPTH: usize = 256;

/// Encodes `value` as msgpack for type `ty`. Errors (with a path) when the value does not conform to the type.
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(256);
    encode::write(&mut out, value, ty).map_err(rooted)?;
    Ok(out)
}

/// Decodes msgpack bytes as a value of type `ty`. Errors (with a path) on malformed input or a type mismatch.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, Error> {
    let mut rd = decode::Reader::new(bytes);
    let value = rd.value(ty).map_err(rooted)?;
    if !rd.at_end() {
        return Err(Error::new("malformed msgpack: trailing bytes after value"));
    }
    Ok(value)
}

/// Adds `step` to an unwinding error's path. Steps are pushed innermost first; [`rooted`] puts them in order.
fn under(mut err: Error, step: PathStep) -> Error {
    err.path.steps.push(step);
    err
}

/// Turns an error whose path was collected by [`under`] (innermost first) into a path from the root.
fn rooted(mut err: Error) -> Error {
    err.path.steps.reverse();
    err
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
        assert!(decode(&[0x91], &Type::list(Type::String)).is_err());
        assert!(decode(&[0xc1], &Type::String).is_err());
    }

    #[test]
    fn error_paths_run_from_the_root() {
        let labels = |t: Type| Type::object([("nodes", Type::list(Type::object([("labels", t)])))]);
        let node = |k: &str, v: Value| Value::object([("labels", Value::map([(k, v)]))]);
        let v = Value::object([(
            "nodes",
            Value::List(vec![node("a", Value::from(1)), node("b", Value::from("x"))]),
        )]);
        let err = encode(&v, &labels(Type::map(Type::Number))).unwrap_err();
        assert_eq!(err.path.to_string(), "nodes[1].labels[\"b\"]");

        let strings = Value::object([("nodes", Value::List(vec![node("b", Value::from("x"))]))]);
        let wire = encode(&strings, &labels(Type::map(Type::String))).unwrap();
        let err = decode(&wire, &labels(Type::map(Type::Number))).unwrap_err();
        assert_eq!(err.path.to_string(), "nodes[0].labels[\"b\"]");
        assert_eq!(err.message, "invalid number \"x\"");

        let ty = labels(Type::String);
        let extra = Value::object([("nodes", Value::Null), ("zz", Value::Null)]);
        assert_eq!(encode(&extra, &ty).unwrap_err().path.to_string(), "zz");
        let extra = Value::object([("a", Value::Null), ("nodes", Value::Null)]);
        assert_eq!(encode(&extra, &ty).unwrap_err().path.to_string(), "a");
    }
}
