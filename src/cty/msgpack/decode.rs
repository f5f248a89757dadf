//! Streaming decoder: reads msgpack straight from the byte slice into [`Value`]s, guided by the [`Type`]. No
//! intermediate msgpack tree is built, strings are validated in place and copied once, and no path is built unless
//! an error happens (steps are added while the error unwinds, see [`super::under`]).

use std::collections::BTreeMap;

use bigdecimal::BigDecimal;
use rmp::Marker;

use super::{under, MAX_DEPTH};
use crate::cty::{Error, PathStep, Type, Value};

/// A cursor over the input bytes.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: usize,
}

fn truncated() -> Error {
    Error::new("malformed msgpack: unexpected end of input")
}

fn mismatch(ty: &Type, marker: Marker) -> Error {
    Error::new(format!("expected {ty}, got {}", kind_name(marker)))
}

fn not_utf8() -> Error {
    Error::new("string is not valid UTF-8")
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            depth: 0,
        }
    }

    /// Whether every input byte has been consumed.
    pub(super) fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, Error> {
        let b = *self.buf.get(self.pos).ok_or_else(truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(len).ok_or_else(truncated)?;
        let out = self.buf.get(self.pos..end).ok_or_else(truncated)?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<usize, Error> {
        self.byte().map(usize::from)
    }

    fn u16(&mut self) -> Result<usize, Error> {
        self.array().map(|b| usize::from(u16::from_be_bytes(b)))
    }

    fn u32(&mut self) -> Result<usize, Error> {
        let n = u32::from_be_bytes(self.array()?);
        usize::try_from(n).map_err(|_| truncated())
    }

    /// The payload length of a string or binary marker, `None` for other markers.
    fn bytes_len(&mut self, marker: Marker) -> Result<Option<usize>, Error> {
        Ok(Some(match marker {
            Marker::FixStr(n) => usize::from(n),
            Marker::Str8 | Marker::Bin8 => self.u8()?,
            Marker::Str16 | Marker::Bin16 => self.u16()?,
            Marker::Str32 | Marker::Bin32 => self.u32()?,
            _ => return Ok(None),
        }))
    }

    fn array_len(&mut self, marker: Marker) -> Result<Option<usize>, Error> {
        Ok(Some(match marker {
            Marker::FixArray(n) => usize::from(n),
            Marker::Array16 => self.u16()?,
            Marker::Array32 => self.u32()?,
            _ => return Ok(None),
        }))
    }

    fn map_len(&mut self, marker: Marker) -> Result<Option<usize>, Error> {
        Ok(Some(match marker {
            Marker::FixMap(n) => usize::from(n),
            Marker::Map16 => self.u16()?,
            Marker::Map32 => self.u32()?,
            _ => return Ok(None),
        }))
    }

    /// Skips an extension's type byte and payload; `false` when `marker` is not an extension.
    fn skip_ext(&mut self, marker: Marker) -> Result<bool, Error> {
        let len = match marker {
            Marker::FixExt1 => 1,
            Marker::FixExt2 => 2,
            Marker::FixExt4 => 4,
            Marker::FixExt8 => 8,
            Marker::FixExt16 => 16,
            Marker::Ext8 => self.u8()?,
            Marker::Ext16 => self.u16()?,
            Marker::Ext32 => self.u32()?,
            _ => return Ok(false),
        };
        self.take(len + 1)?;
        Ok(true)
    }

    /// Reads one value of type `ty`. Errors carry the path relative to this value, innermost step first.
    pub(super) fn value(&mut self, ty: &Type) -> Result<Value, Error> {
        let marker = Marker::from_u8(self.byte()?);
        if self.skip_ext(marker)? {
            return Ok(Value::Unknown);
        }
        if let Marker::Null = marker {
            return Ok(Value::Null);
        }
        match ty {
            Type::String => self.string(marker, ty),
            Type::Bool => match marker {
                Marker::True => Ok(Value::Bool(true)),
                Marker::False => Ok(Value::Bool(false)),
                _ => Err(mismatch(ty, marker)),
            },
            Type::Number => self.number(marker, ty),
            Type::Dynamic => self.nested(|rd| rd.dynamic(marker)),
            Type::List(e) => self.nested(|rd| rd.items(marker, ty, e).map(Value::List)),
            // Terraform never sends duplicate set elements; they are kept as sent (no quadratic dedup on input).
            Type::Set(e) => self.nested(|rd| rd.items(marker, ty, e).map(Value::Set)),
            Type::Tuple(tys) => self.nested(|rd| rd.tuple(marker, ty, tys)),
            Type::Map(e) => self.nested(|rd| rd.map(marker, ty, e)),
            Type::Object(attrs) => self.nested(|rd| rd.object(marker, ty, attrs)),
        }
    }

    fn nested(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<Value, Error>,
    ) -> Result<Value, Error> {
        if self.depth >= MAX_DEPTH {
            return Err(Error::new("malformed msgpack: nesting too deep"));
        }
        self.depth += 1;
        let out = read(self);
        self.depth -= 1;
        out
    }

    fn string(&mut self, marker: Marker, ty: &Type) -> Result<Value, Error> {
        let len = self
            .bytes_len(marker)?
            .ok_or_else(|| mismatch(ty, marker))?;
        let raw = self.take(len)?;
        let s = std::str::from_utf8(raw).map_err(|_| not_utf8())?;
        Ok(Value::String(s.to_owned()))
    }

    fn number(&mut self, marker: Marker, ty: &Type) -> Result<Value, Error> {
        let n = match marker {
            Marker::FixPos(n) => BigDecimal::from(n),
            Marker::FixNeg(n) => BigDecimal::from(n),
            Marker::U8 => BigDecimal::from(self.byte()?),
            Marker::U16 => BigDecimal::from(u16::from_be_bytes(self.array()?)),
            Marker::U32 => BigDecimal::from(u32::from_be_bytes(self.array()?)),
            Marker::U64 => BigDecimal::from(u64::from_be_bytes(self.array()?)),
            Marker::I8 => BigDecimal::from(i8::from_be_bytes(self.array()?)),
            Marker::I16 => BigDecimal::from(i16::from_be_bytes(self.array()?)),
            Marker::I32 => BigDecimal::from(i32::from_be_bytes(self.array()?)),
            Marker::I64 => BigDecimal::from(i64::from_be_bytes(self.array()?)),
            Marker::F32 => from_float(f64::from(f32::from_be_bytes(self.array()?)))?,
            Marker::F64 => from_float(f64::from_be_bytes(self.array()?))?,
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                let len = self.bytes_len(marker)?.unwrap_or_default();
                let text = std::str::from_utf8(self.take(len)?)
                    .map_err(|_| Error::new(format!("expected {ty}, got a non-UTF-8 string")))?;
                return Value::number_from_str(text);
            }
            _ => return Err(mismatch(ty, marker)),
        };
        Ok(Value::Number(n))
    }

    /// `[type JSON as bytes, value]`.
    fn dynamic(&mut self, marker: Marker) -> Result<Value, Error> {
        if self.array_len(marker)? != Some(2) {
            return Err(Error::new("dynamic value must be a 2-element array"));
        }
        let ty_marker = Marker::from_u8(self.byte()?);
        // go-cty writes the type as bytes; a string is accepted too.
        let Some(len) = self.bytes_len(ty_marker)? else {
            return Err(Error::new("dynamic value type must be bytes"));
        };
        let actual = Type::from_json_bytes(self.take(len)?)?;
        self.value(&actual)
    }

    fn items(&mut self, marker: Marker, ty: &Type, elem: &Type) -> Result<Vec<Value>, Error> {
        let len = self
            .array_len(marker)?
            .ok_or_else(|| mismatch(ty, marker))?;
        // Every element takes at least one byte: a hostile length cannot reserve more than the input's size.
        let mut out = Vec::with_capacity(len.min(self.remaining()));
        for i in 0..len {
            out.push(self.value(elem).map_err(|e| under(e, index(i)))?);
        }
        Ok(out)
    }

    fn tuple(&mut self, marker: Marker, ty: &Type, tys: &[Type]) -> Result<Value, Error> {
        let len = self
            .array_len(marker)?
            .ok_or_else(|| mismatch(ty, marker))?;
        if len != tys.len() {
            return Err(Error::new(format!(
                "tuple needs {} elements, got {len}",
                tys.len()
            )));
        }
        let mut out = Vec::with_capacity(len);
        for (i, t) in tys.iter().enumerate() {
            out.push(self.value(t).map_err(|e| under(e, index(i)))?);
        }
        Ok(Value::Tuple(out))
    }

    /// A map key: a msgpack string, borrowed from the input.
    fn key(&mut self) -> Result<&'a str, Error> {
        let marker = Marker::from_u8(self.byte()?);
        if !matches!(
            marker,
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32
        ) {
            return Err(Error::new("map key must be a string"));
        }
        let len = self.bytes_len(marker)?.unwrap_or_default();
        std::str::from_utf8(self.take(len)?).map_err(|_| Error::new("map key is not valid UTF-8"))
    }

    fn map(&mut self, marker: Marker, ty: &Type, elem: &Type) -> Result<Value, Error> {
        let len = self.map_len(marker)?.ok_or_else(|| mismatch(ty, marker))?;
        let mut out = BTreeMap::new();
        for _ in 0..len {
            let k = self.key()?;
            let v = self
                .value(elem)
                .map_err(|e| under(e, PathStep::Key(k.to_owned())))?;
            out.insert(k.to_owned(), v);
        }
        Ok(Value::Map(out))
    }

    fn object(
        &mut self,
        marker: Marker,
        ty: &Type,
        attrs: &BTreeMap<String, Type>,
    ) -> Result<Value, Error> {
        let len = self.map_len(marker)?.ok_or_else(|| mismatch(ty, marker))?;
        let mut out = BTreeMap::new();
        for _ in 0..len {
            let k = self.key()?;
            let Some((name, aty)) = attrs.get_key_value(k) else {
                return Err(under(
                    Error::new("unsupported attribute"),
                    PathStep::Attribute(k.to_owned()),
                ));
            };
            let v = self
                .value(aty)
                .map_err(|e| under(e, PathStep::Attribute(name.clone())))?;
            out.insert(name.clone(), v);
        }
        // Attributes missing on the wire are null (cloning names only when some are missing).
        if out.len() < attrs.len() {
            for name in attrs.keys() {
                if !out.contains_key(name) {
                    out.insert(name.clone(), Value::Null);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

fn index(i: usize) -> PathStep {
    PathStep::Index(i64::try_from(i).unwrap_or(i64::MAX))
}

fn from_float(f: f64) -> Result<BigDecimal, Error> {
    BigDecimal::try_from(f).map_err(|_| Error::new("number must be finite"))
}

fn kind_name(marker: Marker) -> &'static str {
    match marker {
        Marker::Null => "nil",
        Marker::True | Marker::False => "a bool",
        Marker::FixPos(_)
        | Marker::FixNeg(_)
        | Marker::U8
        | Marker::U16
        | Marker::U32
        | Marker::U64
        | Marker::I8
        | Marker::I16
        | Marker::I32
        | Marker::I64
        | Marker::F32
        | Marker::F64 => "a number",
        Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => "a string",
        Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => "bytes",
        Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => "an array",
        Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => "a map",
        Marker::Reserved => "the reserved marker 0xc1",
        _ => "an extension",
    }
}
