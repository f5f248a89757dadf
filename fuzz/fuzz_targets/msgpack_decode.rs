//! Fuzzes the DynamicValue decoders: the first byte picks a schema type, the rest is decoded as msgpack and as
//! JSON. Decoding must never panic; whatever decodes must re-encode and decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vixens::cty::{json, msgpack, Type};

fn types() -> Vec<Type> {
    vec![
        Type::Dynamic,
        Type::String,
        Type::Number,
        Type::list(Type::Dynamic),
        Type::map(Type::set(Type::Number)),
        Type::object([
            ("id", Type::String),
            ("n", Type::Number),
            ("flags", Type::list(Type::Bool)),
            ("nested", Type::object([("x", Type::Dynamic), ("t", Type::Tuple(vec![Type::String, Type::Number]))])),
        ]),
    ]
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let types = types();
    let ty = &types[usize::from(selector) % types.len()];
    if let Ok(v) = msgpack::decode(bytes, ty) {
        let again = msgpack::encode(&v, ty).expect("a decoded value re-encodes");
        assert_eq!(msgpack::decode(&again, ty).expect("re-encoded value decodes"), v);
    }
    if let Ok(v) = json::decode(bytes, ty) {
        let again = json::encode(&v, ty).expect("a decoded JSON value re-encodes");
        assert_eq!(json::decode(&again, ty).expect("re-encoded JSON decodes"), v);
    }
});
