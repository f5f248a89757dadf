//! Encoder: writes msgpack straight into the output buffer, with no intermediate tree and no path built unless
//! an error happens (steps are added while the error unwinds, see [`super::under`]).

use std::collections::btree_map;
use std::collections::BTreeMap;
use std::iter::Peekable;

use bigdecimal::{BigDecimal, ToPrimitive};
use rmp::encode as enc;

use super::under;
use crate::cty::{Error, PathStep, Type, Value};

fn io_err(e: impl std::fmt::Display) -> Error {
    Error::new(format!("msgpack write failed: {e}"))
}

fn len_u32(len: usize) -> Result<u32, Error> {
    u32::try_from(len).map_err(|_| Error::new("collection too large for msgpack"))
}

fn index(i: usize) -> PathStep {
    PathStep::Index(i64::try_from(i).unwrap_or(i64::MAX))
}

/// Writes `value` of type `ty`. Errors carry the path relative to this value, innermost step first.
pub(super) fn write(out: &mut Vec<u8>, value: &Value, ty: &Type) -> Result<(), Error> {
    match (ty, value) {
        (_, Value::Null) => enc::write_nil(out).map_err(io_err),
        (_, Value::Unknown) => write_unknown(out),
        (Type::Dynamic, v) => {
            let actual = v.infer_type();
            enc::write_array_len(out, 2).map_err(io_err)?;
            enc::write_bin(out, &actual.to_json_bytes()).map_err(io_err)?;
            write(out, v, &actual)
        }
        (Type::String, Value::String(s)) => enc::write_str(out, s).map_err(io_err),
        (Type::Bool, Value::Bool(b)) => enc::write_bool(out, *b).map_err(io_err),
        (Type::Number, Value::Number(n)) => write_number(out, n),
        (Type::List(e), Value::List(items)) | (Type::Set(e), Value::Set(items)) => {
            enc::write_array_len(out, len_u32(items.len())?).map_err(io_err)?;
            for (i, item) in items.iter().enumerate() {
                write(out, item, e).map_err(|err| under(err, index(i)))?;
            }
            Ok(())
        }
        (Type::Tuple(tys), Value::Tuple(items)) if tys.len() == items.len() => {
            enc::write_array_len(out, len_u32(items.len())?).map_err(io_err)?;
            for (i, (t, item)) in tys.iter().zip(items).enumerate() {
                write(out, item, t).map_err(|err| under(err, index(i)))?;
            }
            Ok(())
        }
        (Type::Map(e), Value::Map(m)) => {
            enc::write_map_len(out, len_u32(m.len())?).map_err(io_err)?;
            for (k, v) in m {
                enc::write_str(out, k).map_err(io_err)?;
                write(out, v, e).map_err(|err| under(err, PathStep::Key(k.clone())))?;
            }
            Ok(())
        }
        (Type::Object(attrs), Value::Object(m)) => write_object(out, attrs, m),
        _ => Err(Error::new(format!("value does not conform to {ty}"))),
    }
}

/// Every attribute of the type, in name order (absent ones as nil). Both maps are sorted by name, so they are
/// walked together: an attribute of the value that the type lacks is found on the way.
fn write_object(
    out: &mut Vec<u8>,
    attrs: &BTreeMap<String, Type>,
    m: &BTreeMap<String, Value>,
) -> Result<(), Error> {
    fn extra(name: &str) -> Error {
        under(
            Error::new("unsupported attribute"),
            PathStep::Attribute(name.to_owned()),
        )
    }
    enc::write_map_len(out, len_u32(attrs.len())?).map_err(io_err)?;
    let mut values: Peekable<btree_map::Iter<'_, String, Value>> = m.iter().peekable();
    for (k, aty) in attrs {
        let v = match values.peek() {
            Some((vk, _)) if vk.as_str() < k.as_str() => return Err(extra(vk)),
            Some((vk, vv)) if *vk == k => {
                let v = *vv;
                values.next();
                v
            }
            _ => &Value::Null,
        };
        enc::write_str(out, k).map_err(io_err)?;
        write(out, v, aty).map_err(|err| under(err, PathStep::Attribute(k.clone())))?;
    }
    match values.next() {
        Some((vk, _)) => Err(extra(vk)),
        None => Ok(()),
    }
}

fn write_unknown(out: &mut Vec<u8>) -> Result<(), Error> {
    enc::write_ext_meta(out, 1, 0).map_err(io_err)?;
    out.push(0);
    Ok(())
}

/// An integer that fits `i64` as an integer, else a float64 when exact, else the decimal as a string.
fn write_number(out: &mut Vec<u8>, n: &BigDecimal) -> Result<(), Error> {
    match small_number(n) {
        Some(Small::Int(i)) => enc::write_sint(out, i).map(|_| ()).map_err(io_err),
        Some(Small::Float(f)) => enc::write_f64(out, f).map_err(io_err),
        Some(Small::Inexact) => enc::write_str(out, &n.to_plain_string()).map_err(io_err),
        None => write_number_slow(out, n),
    }
}

/// The general (allocating) form of [`write_number`], for numbers outside [`small_number`]'s reach.
fn write_number_slow(out: &mut Vec<u8>, n: &BigDecimal) -> Result<(), Error> {
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

/// How a number with few digits is written, decided without allocating.
#[derive(Debug, PartialEq)]
enum Small {
    Int(i64),
    Float(f64),
    /// Not an integer and not exact in float64: written as a decimal string.
    Inexact,
}

/// Powers of ten that float64 holds exactly (10^0 ..= 10^22).
const EXACT_POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Classifies `n = digits / 10^scale` when `digits` fits `i64`; `None` sends the number to the general path.
///
/// A non-integer `digits / 10^scale` is a binary fraction (exact in float64) only when `5^scale` divides `digits`;
/// then, with `|digits| < 2^53` and `scale <= 22`, both operands of `digits as f64 / 10^scale` are exact and the
/// correctly rounded quotient is the value itself.
fn small_number(n: &BigDecimal) -> Option<Small> {
    let (digits, scale) = n.as_bigint_and_scale();
    let m = digits.to_i64()?;
    if scale <= 0 {
        let p = 10i64.checked_pow(u32::try_from(-scale).ok()?)?;
        return m.checked_mul(p).map(Small::Int);
    }
    let scale = u32::try_from(scale).ok()?;
    if let Some(p) = 10i64.checked_pow(scale) {
        if m % p == 0 {
            return Some(Small::Int(m / p));
        }
    }
    let pow10 = *EXACT_POW10.get(usize::try_from(scale).ok()?)?;
    if m.unsigned_abs() >= 1 << 53 {
        return None;
    }
    let pow5 = 5i64.checked_pow(scale)?;
    if m % pow5 == 0 {
        Some(Small::Float(m as f64 / pow10))
    } else {
        Some(Small::Inexact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// The allocation-free classification agrees with the general path.
    #[test]
    fn small_numbers_match_the_general_path() {
        for text in [
            "0",
            "7",
            "-7",
            "1e3",
            "-12e17",
            "9e18",
            "1.5",
            "0.125",
            "-0.1",
            "3.14159",
            "2.50",
            "100.00",
            "1e-22",
            "5e-22",
            "0.000000000000000000000244140625",
            "9007199254740993.5",
            "9007199254740991.5",
            "123456789.123456789",
            "-0.0625",
            "1e-30",
        ] {
            let n = BigDecimal::from_str(text).unwrap();
            let mut fast = Vec::new();
            write_number(&mut fast, &n).unwrap();
            let mut slow = Vec::new();
            write_number_slow(&mut slow, &n).unwrap();
            assert_eq!(fast, slow, "{text}");
        }
        let n = BigDecimal::from_str("0.125").unwrap();
        assert_eq!(small_number(&n), Some(Small::Float(0.125)));
        assert_eq!(
            small_number(&BigDecimal::from_str("0.1").unwrap()),
            Some(Small::Inexact)
        );
    }

    proptest::proptest! {
        #[test]
        fn fast_and_general_paths_agree(digits in proptest::prelude::any::<i64>(), scale in -25i64..40) {
            let n = BigDecimal::new(digits.into(), scale);
            let mut fast = Vec::new();
            write_number(&mut fast, &n).unwrap();
            let mut slow = Vec::new();
            write_number_slow(&mut slow, &n).unwrap();
            proptest::prop_assert_eq!(fast, slow);
        }
    }
}
