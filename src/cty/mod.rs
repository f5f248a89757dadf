//! Terraform values (go-cty): [`Type`], [`Value`] with null and unknown, arbitrary-precision numbers
//! ([`bigdecimal::BigDecimal`]), [`AttributePath`], and the two wire codecs: [`msgpack`] (what Terraform sends in
//! `DynamicValue`) and [`json`] (state files, `RawState`).
//!
//! ```
//! use vixens::cty::{msgpack, Type, Value};
//! let ty = Type::object([("name", Type::String), ("id", Type::String)]);
//! let v = Value::object([("name", Value::from("a")), ("id", Value::Unknown)]);
//! let bytes = msgpack::encode(&v, &ty).unwrap();
//! assert_eq!(msgpack::decode(&bytes, &ty).unwrap(), v);
//! ```

pub mod json;
pub mod msgpack;
mod path;
mod types;
mod value;

#[cfg(test)]
mod proptests;

use std::fmt;

pub use path::{AttributePath, PathStep};
pub use types::Type;
pub use value::{Value, MAX_NUMBER_SCALE};

/// A codec or type error, with the path of the offending value (root when not known).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Where in the value the error is.
    pub path: AttributePath,
    /// What is wrong.
    pub message: String,
}

impl Error {
    /// An error at the root.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            path: AttributePath::root(),
            message: message.into(),
        }
    }

    /// An error at `path`.
    pub fn at(path: AttributePath, message: impl Into<String>) -> Self {
        Self {
            path,
            message: message.into(),
        }
    }

    /// This error placed under `prefix` (when it has no path of its own yet).
    pub fn with_path(mut self, prefix: &AttributePath) -> Self {
        let mut steps = prefix.steps.clone();
        steps.append(&mut self.path.steps);
        self.path.steps = steps;
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_root() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for Error {}
