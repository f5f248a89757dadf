//! Round-trip property tests: any value of any type survives msgpack, and any wholly known value survives JSON.

use bigdecimal::BigDecimal;
use proptest::prelude::*;

use super::{json, msgpack, Type, Value};

fn arb_type() -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![
        Just(Type::String),
        Just(Type::Number),
        Just(Type::Bool),
        Just(Type::Dynamic)
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::list),
            inner.clone().prop_map(Type::set),
            inner.clone().prop_map(Type::map),
            prop::collection::btree_map("[a-z_]{1,6}", inner.clone(), 0..4).prop_map(Type::Object),
            prop::collection::vec(inner, 0..3).prop_map(Type::Tuple),
        ]
    })
}

fn arb_number() -> impl Strategy<Value = BigDecimal> {
    prop_oneof![
        any::<i64>().prop_map(BigDecimal::from),
        any::<f64>().prop_filter_map("finite", |f| BigDecimal::try_from(f).ok()),
        ("-?[0-9]{1,40}", "[0-9]{0,30}").prop_map(|(i, f)| {
            let text = if f.is_empty() { i } else { format!("{i}.{f}") };
            text.parse::<BigDecimal>().unwrap_or_default()
        }),
    ]
}

/// A value conforming to `ty`. Dynamic slots get simple values whose inferred type is exact.
fn arb_value(ty: Type, known: bool) -> BoxedStrategy<Value> {
    let special = if known {
        Just(Value::Null).boxed()
    } else {
        prop_oneof![Just(Value::Null), Just(Value::Unknown)].boxed()
    };
    let concrete: BoxedStrategy<Value> = match ty {
        Type::String => any::<String>().prop_map(Value::String).boxed(),
        Type::Number => arb_number().prop_map(Value::Number).boxed(),
        Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Type::Dynamic => prop_oneof![
            any::<String>().prop_map(Value::String),
            arb_number().prop_map(Value::Number),
            prop::collection::vec(any::<bool>().prop_map(Value::Bool), 1..3).prop_map(Value::List),
            // Mixed element types: encoded as list(dynamic).
            (any::<bool>(), any::<String>())
                .prop_map(|(b, s)| Value::List(vec![Value::Bool(b), Value::String(s)])),
        ]
        .boxed(),
        Type::List(e) => prop::collection::vec(arb_value(*e, known), 0..3)
            .prop_map(Value::List)
            .boxed(),
        Type::Set(e) => prop::collection::vec(arb_value(*e, known), 0..3)
            .prop_map(|items| {
                let mut out: Vec<Value> = Vec::new();
                for v in items {
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
                Value::Set(out)
            })
            .boxed(),
        Type::Map(e) => prop::collection::btree_map(any::<String>(), arb_value(*e, known), 0..3)
            .prop_map(Value::Map)
            .boxed(),
        Type::Object(attrs) => {
            let parts: Vec<_> = attrs
                .into_iter()
                .map(|(k, t)| arb_value(t, known).prop_map(move |v| (k.clone(), v)))
                .collect();
            parts
                .prop_map(|kv| Value::Object(kv.into_iter().collect()))
                .boxed()
        }
        Type::Tuple(tys) => {
            let parts: Vec<_> = tys.into_iter().map(|t| arb_value(t, known)).collect();
            parts.prop_map(Value::Tuple).boxed()
        }
    };
    prop_oneof![1 => special, 6 => concrete].boxed()
}

fn typed_value(known: bool) -> impl Strategy<Value = (Type, Value)> {
    arb_type().prop_flat_map(move |t| (Just(t.clone()), arb_value(t, known)))
}

proptest! {
    #[test]
    fn msgpack_round_trip((ty, v) in typed_value(false)) {
        let bytes = msgpack::encode(&v, &ty).unwrap();
        prop_assert_eq!(msgpack::decode(&bytes, &ty).unwrap(), v);
    }

    #[test]
    fn json_round_trip((ty, v) in typed_value(true)) {
        let bytes = json::encode(&v, &ty).unwrap();
        prop_assert_eq!(json::decode(&bytes, &ty).unwrap(), v);
    }

    #[test]
    fn type_json_round_trip(ty in arb_type()) {
        prop_assert_eq!(Type::from_json_bytes(&ty.to_json_bytes()).unwrap(), ty);
    }

    #[test]
    /// The stable-Rust twin of `fuzz/fuzz_targets/msgpack_decode.rs`: arbitrary bytes never panic the decoders,
    /// and whatever decodes re-encodes to the same value.
    fn decoders_never_panic_and_reencode(bytes in prop::collection::vec(any::<u8>(), 0..64), ty in arb_type()) {
        if let Ok(v) = msgpack::decode(&bytes, &ty) {
            let again = msgpack::encode(&v, &ty).unwrap();
            prop_assert_eq!(msgpack::decode(&again, &ty).unwrap(), v);
        }
        if let Ok(v) = json::decode(&bytes, &ty) {
            let again = json::encode(&v, &ty).unwrap();
            prop_assert_eq!(json::decode(&again, &ty).unwrap(), v);
        }
    }
}
