//! Attribute paths (as tfplugin `AttributePath`): a sequence of attribute names and element keys that points into
//! a value, used to place diagnostics and to name attributes that force replacement.

use std::fmt;

/// One step of an [`AttributePath`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathStep {
    /// An attribute of an object or a nested block (`.name`).
    Attribute(String),
    /// A map key (`["key"]`).
    Key(String),
    /// A list or tuple index (`[3]`). For set elements the index is the position on the wire.
    Index(i64),
}

/// A path into a value, e.g. `nodes[0].address`. The empty path means the whole value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttributePath {
    /// Steps from the root.
    pub steps: Vec<PathStep>,
}

impl AttributePath {
    /// The root (empty) path.
    pub fn root() -> Self {
        Self::default()
    }

    /// A path with a single top-level attribute.
    pub fn attr(name: impl Into<String>) -> Self {
        Self::root().join_attr(name)
    }

    /// This path followed by an attribute name.
    pub fn join_attr(&self, name: impl Into<String>) -> Self {
        self.join(PathStep::Attribute(name.into()))
    }

    /// This path followed by a list index.
    pub fn join_index(&self, index: usize) -> Self {
        self.join(PathStep::Index(i64::try_from(index).unwrap_or(i64::MAX)))
    }

    /// This path followed by a map key.
    pub fn join_key(&self, key: impl Into<String>) -> Self {
        self.join(PathStep::Key(key.into()))
    }

    /// This path followed by `step`.
    pub fn join(&self, step: PathStep) -> Self {
        let mut steps = self.steps.clone();
        steps.push(step);
        Self { steps }
    }

    /// Whether this is the root path.
    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }
}

impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Attribute(name) if i == 0 => write!(f, "{name}")?,
                PathStep::Attribute(name) => write!(f, ".{name}")?,
                PathStep::Key(key) => write!(f, "[{key:?}]")?,
                PathStep::Index(idx) => write!(f, "[{idx}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        let p = AttributePath::attr("nodes")
            .join_index(2)
            .join_attr("labels")
            .join_key("k");
        assert_eq!(p.to_string(), "nodes[2].labels[\"k\"]");
    }
}
