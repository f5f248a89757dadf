//! The schema model (protocol-neutral; converted once to tfplugin5 and once to tfplugin6 in `plugin/`).
//!
//! Follows Terraform's `configschema`: a [`Block`] has [`Attribute`]s and nested blocks ([`NestedBlock`], nesting
//! single/group/list/set/map). Protocol 6 also has nested attributes ([`AttributeType::Nested`]); over protocol 5
//! they are sent as a plain attribute of the equivalent object/collection type. Descriptions are markdown.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::cty::{AttributePath, Type, Value};

/// A resource (or provider) schema: its version and its top-level block.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    /// Schema version, stored in state; bump it when the state shape changes and implement
    /// [`Resource::upgrade_state`](super::Resource::upgrade_state) from older versions.
    pub version: i64,
    /// Top-level block.
    pub block: Block,
    /// Default durations of the `timeouts` block, when the schema has one (see [`Schema::with_timeouts`]).
    pub timeouts: Option<super::timeouts::TimeoutDefaults>,
}

impl Schema {
    /// A version-0 schema with `block`.
    pub fn new(block: Block) -> Self {
        Self {
            version: 0,
            block,
            timeouts: None,
        }
    }

    /// Sets the schema version.
    pub fn version(mut self, version: i64) -> Self {
        self.version = version;
        self
    }

    /// Adds the standard `timeouts` block (optional `create`, `update`, `delete` durations such as `"20m"`);
    /// the framework then enforces them as the deadline of [`Context`](super::Context) during apply.
    pub fn with_timeouts(mut self, defaults: super::timeouts::TimeoutDefaults) -> Self {
        self.block.blocks.push(super::timeouts::block(&defaults));
        self.timeouts = Some(defaults);
        self
    }

    /// The cty type of values of this schema (the object Terraform sends and expects).
    pub fn value_type(&self) -> Type {
        self.block.value_type()
    }
}

/// A block: attributes and nested blocks.
#[derive(Clone, Debug, Default)]
pub struct Block {
    /// Attributes, in declaration order.
    pub attributes: Vec<Attribute>,
    /// Nested blocks, in declaration order.
    pub blocks: Vec<NestedBlock>,
    /// Markdown description.
    pub description: String,
    /// Whether the block is deprecated.
    pub deprecated: bool,
}

impl Block {
    /// An empty block with a markdown description.
    pub fn new(description: impl Into<String>) -> Self {
        Self {
            description: description.into(),
            ..Self::default()
        }
    }

    /// Adds an attribute.
    pub fn attribute(mut self, attribute: Attribute) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// Adds a nested block.
    pub fn block(mut self, block: NestedBlock) -> Self {
        self.blocks.push(block);
        self
    }

    /// Looks up an attribute by name.
    pub fn find_attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Looks up a nested block by type name.
    pub fn find_block(&self, name: &str) -> Option<&NestedBlock> {
        self.blocks.iter().find(|b| b.type_name == name)
    }

    /// The object type of this block's values.
    pub fn value_type(&self) -> Type {
        let mut attrs = BTreeMap::new();
        for a in &self.attributes {
            attrs.insert(a.name.clone(), a.value_type());
        }
        for b in &self.blocks {
            attrs.insert(b.type_name.clone(), b.value_type());
        }
        Type::Object(attrs)
    }
}

/// How a nested block or nested attribute repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nesting {
    /// At most one; the value is an object or null.
    Single,
    /// Exactly one, always present (blocks only; nested attributes treat it as `Single`).
    Group,
    /// Ordered list of objects.
    List,
    /// Set of objects.
    Set,
    /// Map of objects keyed by label.
    Map,
}

impl Nesting {
    /// The collection type of `object` under this nesting.
    pub fn wrap(self, object: Type) -> Type {
        match self {
            Nesting::Single | Nesting::Group => object,
            Nesting::List => Type::list(object),
            Nesting::Set => Type::set(object),
            Nesting::Map => Type::map(object),
        }
    }
}

/// A nested block (`name { ... }` in HCL).
#[derive(Clone, Debug)]
pub struct NestedBlock {
    /// Block type name.
    pub type_name: String,
    /// How it repeats.
    pub nesting: Nesting,
    /// Its content.
    pub block: Block,
    /// Minimum count (list/set), 0 for none.
    pub min_items: i64,
    /// Maximum count (list/set), 0 for no limit.
    pub max_items: i64,
}

impl NestedBlock {
    /// A nested block.
    pub fn new(type_name: impl Into<String>, nesting: Nesting, block: Block) -> Self {
        Self {
            type_name: type_name.into(),
            nesting,
            block,
            min_items: 0,
            max_items: 0,
        }
    }

    /// Sets min and max item counts (0 = no limit).
    pub fn items(mut self, min: i64, max: i64) -> Self {
        self.min_items = min;
        self.max_items = max;
        self
    }

    /// The type of this block's value inside its parent object.
    pub fn value_type(&self) -> Type {
        self.nesting.wrap(self.block.value_type())
    }
}

/// The type of an attribute: a cty type, or (protocol 6) nested attributes.
#[derive(Clone, Debug)]
pub enum AttributeType {
    /// A plain cty type.
    Type(Type),
    /// Nested attributes with their own flags (protocol 6 `Schema.Object`).
    Nested {
        /// How the nested object repeats (`Group` is treated as `Single`).
        nesting: Nesting,
        /// The nested attributes.
        attributes: Vec<Attribute>,
    },
}

/// An attribute (`name = value` in HCL).
#[derive(Clone, Debug)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// Its type.
    pub ty: AttributeType,
    /// Markdown description.
    pub description: String,
    /// Must be set in configuration.
    pub required: bool,
    /// May be set in configuration.
    pub optional: bool,
    /// Set by the provider (when optional too: only when the configuration leaves it unset).
    pub computed: bool,
    /// Hidden in Terraform's output.
    pub sensitive: bool,
    /// Deprecated.
    pub deprecated: bool,
    /// A change of this attribute on an existing resource forces replacement (plan modifier applied by the
    /// framework).
    pub requires_replace: bool,
    /// Write-only (managed resources, Terraform >= 1.11, protocol 5.8/6.8): the configuration's value reaches
    /// the resource (through [`Context::config`](super::Context::config)) but never the plan or the state,
    /// which the framework keeps null. Older Terraform cannot honour that: the framework refuses a value set for
    /// it when the client does not announce `write_only_attributes_allowed`.
    pub write_only: bool,
}

impl Attribute {
    /// An attribute of cty type `ty`; chain `.required()`, `.optional()`, `.computed()` etc.
    pub fn new(name: impl Into<String>, ty: Type) -> Self {
        Self {
            name: name.into(),
            ty: AttributeType::Type(ty),
            description: String::new(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            deprecated: false,
            requires_replace: false,
            write_only: false,
        }
    }

    /// A string attribute.
    pub fn string(name: impl Into<String>) -> Self {
        Self::new(name, Type::String)
    }

    /// A number attribute.
    pub fn number(name: impl Into<String>) -> Self {
        Self::new(name, Type::Number)
    }

    /// A bool attribute.
    pub fn bool(name: impl Into<String>) -> Self {
        Self::new(name, Type::Bool)
    }

    /// A nested-attributes attribute (protocol 6; sent as an equivalent plain type over protocol 5).
    pub fn nested(name: impl Into<String>, nesting: Nesting, attributes: Vec<Attribute>) -> Self {
        let mut a = Self::new(name, Type::Dynamic);
        a.ty = AttributeType::Nested {
            nesting,
            attributes,
        };
        a
    }

    /// Sets the markdown description.
    pub fn description(mut self, md: impl Into<String>) -> Self {
        self.description = md.into();
        self
    }

    /// Marks as required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Marks as optional.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Marks as computed.
    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }

    /// Marks as sensitive.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Marks as deprecated.
    pub fn deprecated(mut self) -> Self {
        self.deprecated = true;
        self
    }

    /// Changing this attribute replaces the resource.
    pub fn requires_replace(mut self) -> Self {
        self.requires_replace = true;
        self
    }

    /// Marks as write-only (see [`Attribute::write_only`](Attribute#structfield.write_only)); pair it with an
    /// ordinary `..._version` attribute whose change tells the resource to use the value again.
    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }

    /// The cty type of this attribute's value.
    pub fn value_type(&self) -> Type {
        match &self.ty {
            AttributeType::Type(t) => t.clone(),
            AttributeType::Nested {
                nesting,
                attributes,
            } => {
                let obj = Type::Object(
                    attributes
                        .iter()
                        .map(|a| (a.name.clone(), a.value_type()))
                        .collect(),
                );
                nesting.wrap(obj)
            }
        }
    }
}

/// Visits every attribute of `block` (recursing into nested blocks and nested attributes) with its concrete path
/// in `value`, calling `f(attribute, path)`.
pub(crate) fn walk_attributes(
    block: &Block,
    value: &Value,
    path: &AttributePath,
    f: &mut dyn FnMut(&Attribute, &AttributePath),
) {
    for a in &block.attributes {
        let p = path.join_attr(&a.name);
        f(a, &p);
        if let AttributeType::Nested {
            nesting,
            attributes,
        } = &a.ty
        {
            let inner = Block {
                attributes: attributes.clone(),
                ..Block::default()
            };
            walk_nested(*nesting, &inner, value.get(&a.name), &p, f);
        }
    }
    for b in &block.blocks {
        let p = path.join_attr(&b.type_name);
        walk_nested(b.nesting, &b.block, value.get(&b.type_name), &p, f);
    }
}

fn walk_nested(
    nesting: Nesting,
    block: &Block,
    value: &Value,
    path: &AttributePath,
    f: &mut dyn FnMut(&Attribute, &AttributePath),
) {
    match (nesting, value) {
        (Nesting::Single | Nesting::Group, v @ Value::Object(_)) => {
            walk_attributes(block, v, path, f)
        }
        (Nesting::List | Nesting::Set, Value::List(items) | Value::Set(items)) => {
            for (i, v) in items.iter().enumerate() {
                walk_attributes(block, v, &path.join_index(i), f);
            }
        }
        (Nesting::Map, Value::Map(m)) => {
            for (k, v) in m {
                walk_attributes(block, v, &path.join_key(k), f);
            }
        }
        _ => {}
    }
}

/// Paths in `value` of the write-only attributes of `block` holding something other than null.
pub(crate) fn write_only_values(block: &Block, value: &Value) -> Vec<AttributePath> {
    let mut out = Vec::new();
    walk_attributes(block, value, &AttributePath::root(), &mut |attr, path| {
        if attr.write_only && !value.get_path(path).is_null() {
            out.push(path.clone());
        }
    });
    out
}

/// Sets every write-only attribute of `block` in `value` to null (Terraform rejects a plan or a state that
/// holds one).
pub(crate) fn null_write_only(block: &Block, value: &mut Value) {
    for path in write_only_values(block, value) {
        if let Some(v) = value.get_path_mut(&path) {
            *v = Value::Null;
        }
    }
}

/// Replaces null list/set/map nested blocks with empty collections, recursively: Terraform represents an absent
/// repeated block as an empty collection, never null.
pub(crate) fn normalize_blocks(block: &Block, value: &mut Value) {
    let Value::Object(m) = value else { return };
    for b in &block.blocks {
        let Some(v) = m.get_mut(&b.type_name) else {
            continue;
        };
        match (b.nesting, &mut *v) {
            (Nesting::List, Value::Null) => *v = Value::List(Vec::new()),
            (Nesting::Set, Value::Null) => *v = Value::Set(Vec::new()),
            (Nesting::Map, Value::Null) => *v = Value::Map(BTreeMap::new()),
            (_, Value::List(items) | Value::Set(items)) => {
                items.iter_mut().for_each(|i| normalize_blocks(&b.block, i));
            }
            (_, Value::Map(entries)) => entries
                .values_mut()
                .for_each(|i| normalize_blocks(&b.block, i)),
            (_, obj @ Value::Object(_)) => normalize_blocks(&b.block, obj),
            _ => {}
        }
    }
}

/// Parses a duration in Go's `time.ParseDuration` form as used in Terraform `timeouts` (`"90s"`, `"20m"`,
/// `"1h30m"`, `"1.5h"`; units ns, us, ms, s, m, h). Errors name the accepted form.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration {text:?}: use a number with a unit, e.g. \"30s\", \"20m\", \"1h30m\""
        )
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, tail) = rest.split_at(num_len);
        let n: f64 = num.parse().map_err(|_| bad())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_type_of_blocks_and_nested_attributes() {
        let block = Block::new("x")
            .attribute(Attribute::string("id").computed())
            .attribute(Attribute::nested(
                "n",
                Nesting::List,
                vec![Attribute::bool("b").optional()],
            ))
            .block(NestedBlock::new(
                "s",
                Nesting::Set,
                Block::new("").attribute(Attribute::number("k").required()),
            ));
        let ty = block.value_type();
        assert_eq!(
            ty,
            Type::object([
                ("id", Type::String),
                ("n", Type::list(Type::object([("b", Type::Bool)]))),
                ("s", Type::set(Type::object([("k", Type::Number)]))),
            ])
        );
        let mut v = Value::object([("id", Value::Null), ("n", Value::Null), ("s", Value::Null)]);
        normalize_blocks(&block, &mut v);
        assert_eq!(v.get("s"), &Value::Set(vec![]));
        assert!(v.get("n").is_null());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        for bad in ["", "10", "m", "10x", "-1s", "1..2s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
