//! docs/ in the Terraform Registry layout (`docs/index.md`, `docs/resources/<name>.md`, `docs/data-sources/`,
//! `docs/ephemeral-resources/`, the names without the `vixens_` prefix), generated from the schema descriptions and
//! `examples/` in the shape hashicorp/terraform-plugin-docs writes (type names such as `List of String`, groups
//! Required / Optional / Read-Only sorted by name, nested schema sections for blocks, nested attributes and
//! object types, the write-only note, an Import section with an `import {}` block). This test fails when docs/ is stale;
//! `scripts/gen-docs.sh` (`VIXENS_UPDATE_DOCS=1 cargo test --test docs`) rewrites it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use vixens::cty::Type;
use vixens::framework::{Attribute, AttributeType, Block, NestedBlock, Nesting, Schema};

const PREFIX: &str = "vixens_";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_example(rel: &str) -> Option<String> {
    std::fs::read_to_string(root().join(rel)).ok()
}

/// The three kinds of pages, each in its own directory of the Registry layout.
#[derive(Clone, Copy)]
enum Kind {
    Resource,
    DataSource,
    Ephemeral,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Resource => "resources",
            Kind::DataSource => "data-sources",
            Kind::Ephemeral => "ephemeral-resources",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Resource => "Resource",
            Kind::DataSource => "Data Source",
            Kind::Ephemeral => "Ephemeral Resource",
        }
    }

    /// `examples/<dir>/<name>/<file>`, the example tfplugindocs takes for a page.
    fn example(self, name: &str) -> String {
        let file = match self {
            Kind::Resource => "resource.tf",
            Kind::DataSource => "data-source.tf",
            Kind::Ephemeral => "ephemeral-resource.tf",
        };
        format!("examples/{}/{name}/{file}", self.dir())
    }
}

const WRITE_ONLY_LINK: &str =
    "[Write-only](https://developer.hashicorp.com/terraform/language/resources/ephemeral#write-only-arguments)";

/// A type as tfplugindocs names it: `String`, `Number`, `Boolean`, `Dynamic`, `Object`, `List of String`...
fn type_name(ty: &Type) -> String {
    match ty {
        Type::String => "String".into(),
        Type::Number => "Number".into(),
        Type::Bool => "Boolean".into(),
        Type::Dynamic => "Dynamic".into(),
        Type::List(e) => format!("List of {}", type_name(e)),
        Type::Set(e) => format!("Set of {}", type_name(e)),
        Type::Map(e) => format!("Map of {}", type_name(e)),
        Type::Object(_) => "Object".into(),
        Type::Tuple(_) => "Tuple".into(),
    }
}

/// The object type an attribute's value is made of (itself or its collection's elements), for a nested section.
fn object_attributes(ty: &Type) -> Option<&std::collections::BTreeMap<String, Type>> {
    match ty {
        Type::Object(attrs) => Some(attrs),
        Type::List(e) | Type::Set(e) | Type::Map(e) => match e.as_ref() {
            Type::Object(attrs) => Some(attrs),
            _ => None,
        },
        _ => None,
    }
}

/// A nested schema section rendered after the lines that refer to it.
type Section = (String, String, Nested);

/// What a nested section describes.
enum Nested {
    Block(Block),
    Attributes(Vec<Attribute>),
    Object(std::collections::BTreeMap<String, Type>, &'static str),
}

/// The three groups of a block, tfplugindocs's titles at the top level and nested.
const GROUPS: [(&str, &str); 3] = [
    ("### Required", "Required:"),
    ("### Optional", "Optional:"),
    ("### Read-Only", "Read-Only:"),
];

fn group_of(a: &Attribute) -> usize {
    if a.required {
        0
    } else if a.optional {
        1
    } else {
        2
    }
}

fn attribute_line(a: &Attribute, path: &str, nested: &mut Vec<Section>, group: usize) -> String {
    let mut kind = match &a.ty {
        AttributeType::Type(t) => type_name(t),
        AttributeType::Nested { nesting, .. } => match nesting {
            Nesting::Single | Nesting::Group => "Attributes".into(),
            Nesting::List => "Attributes List".into(),
            Nesting::Set => "Attributes Set".into(),
            Nesting::Map => "Attributes Map".into(),
        },
    };
    for (on, flag) in [
        (a.sensitive, "Sensitive"),
        (a.deprecated, "Deprecated"),
        (a.write_only, WRITE_ONLY_LINK),
        (a.requires_replace, "Forces replacement"),
    ] {
        if on {
            kind.push_str(", ");
            kind.push_str(flag);
        }
    }
    let mut line = format!("- `{}` ({kind})", a.name);
    let description = a.description.trim();
    if !description.is_empty() {
        line.push(' ');
        line.push_str(description);
    }
    let anchor = format!("nestedatt--{path}{}", a.name);
    let target = match &a.ty {
        AttributeType::Nested { attributes, .. } => Some(Nested::Attributes(attributes.clone())),
        AttributeType::Type(t) => {
            object_attributes(t).map(|o| Nested::Object(o.clone(), GROUPS[group].1))
        }
    };
    if let Some(target) = target {
        let _ = write!(line, " (see [below for nested schema](#{anchor}))");
        nested.push((anchor, format!("{path}{}", a.name), target));
    }
    line
}

fn block_line(b: &NestedBlock, path: &str, nested: &mut Vec<Section>) -> String {
    let mut kind = String::from(match b.nesting {
        Nesting::Single | Nesting::Group => "Block",
        Nesting::List => "Block List",
        Nesting::Set => "Block Set",
        Nesting::Map => "Block Map",
    });
    if matches!(b.nesting, Nesting::Single | Nesting::Group) {
        kind.push_str(if b.min_items > 0 {
            ", Required"
        } else {
            ", Optional"
        });
    } else if b.min_items > 0 {
        let _ = write!(kind, ", Min: {}", b.min_items);
    }
    if b.max_items > 0 {
        let _ = write!(kind, ", Max: {}", b.max_items);
    }
    if b.block.deprecated {
        kind.push_str(", Deprecated");
    }
    let anchor = format!("nestedblock--{path}{}", b.type_name);
    let mut line = format!("- `{}` ({kind})", b.type_name);
    let description = b.block.description.trim();
    if !description.is_empty() {
        line.push(' ');
        line.push_str(description);
    }
    let _ = write!(line, " (see [below for nested schema](#{anchor}))");
    nested.push((
        anchor,
        format!("{path}{}", b.type_name),
        Nested::Block(b.block.clone()),
    ));
    line
}

/// Writes the groups of `attributes` and `blocks` (names sorted in each group), then each nested section
/// depth-first, as tfplugindocs does. `path` is the anchor path of the parent (`a--b--`), empty at the root.
fn render_children(
    out: &mut String,
    attributes: &[Attribute],
    blocks: &[NestedBlock],
    path: &str,
    root: bool,
) {
    let mut nested = Vec::new();
    for (i, (top, inner)) in GROUPS.iter().enumerate() {
        // (name, line, its nested sections), sorted by name: the sections follow the order of the lines.
        let mut lines: Vec<(String, String, Vec<Section>)> = Vec::new();
        let mut write_only = false;
        for a in attributes.iter().filter(|a| group_of(a) == i) {
            write_only |= a.write_only;
            let mut own = Vec::new();
            let line = attribute_line(a, path, &mut own, i);
            lines.push((a.name.clone(), line, own));
        }
        if i < 2 {
            for b in blocks.iter().filter(|b| (b.min_items > 0) == (i == 0)) {
                write_only |= b.block.attributes.iter().any(|a| a.write_only);
                let mut own = Vec::new();
                let line = block_line(b, path, &mut own);
                lines.push((b.type_name.clone(), line, own));
            }
        }
        if lines.is_empty() {
            continue;
        }
        lines.sort_by(|a, b| a.0.cmp(&b.0));
        let _ = writeln!(out, "{}\n", if root { top } else { inner });
        if write_only {
            let _ = writeln!(
                out,
                "> **NOTE**: [Write-only arguments](https://developer.hashicorp.com/terraform/language/resources/ephemeral#write-only-arguments) are supported in Terraform 1.11 and later.\n"
            );
        }
        for (_, line, own) in lines {
            let _ = writeln!(out, "{line}");
            nested.extend(own);
        }
        out.push('\n');
    }
    for (anchor, title, target) in nested {
        let _ = writeln!(
            out,
            "<a id=\"{anchor}\"></a>\n### Nested Schema for `{}`\n",
            title.replace("--", ".")
        );
        let child_path = format!("{title}--");
        match target {
            Nested::Block(b) => render_children(out, &b.attributes, &b.blocks, &child_path, false),
            Nested::Attributes(attrs) => render_children(out, &attrs, &[], &child_path, false),
            Nested::Object(fields, group) => {
                let _ = writeln!(out, "{group}\n");
                let mut deeper = Vec::new();
                for (name, ty) in &fields {
                    let mut line = format!("- `{name}` ({})", type_name(ty));
                    if let Some(o) = object_attributes(ty) {
                        let anchor = format!("nestedatt--{child_path}{name}");
                        let _ = write!(line, " (see [below for nested schema](#{anchor}))");
                        deeper.push((anchor, format!("{child_path}{name}"), o.clone()));
                    }
                    let _ = writeln!(out, "{line}");
                }
                out.push('\n');
                for (anchor, title, fields) in deeper {
                    let _ = writeln!(
                        out,
                        "<a id=\"{anchor}\"></a>\n### Nested Schema for `{}`\n\n{group}\n",
                        title.replace("--", ".")
                    );
                    for (name, ty) in &fields {
                        let _ = writeln!(out, "- `{name}` ({})", type_name(ty));
                    }
                    out.push('\n');
                }
            }
        }
    }
}

fn render_schema(schema: &Schema) -> String {
    let mut out = String::from("## Schema\n\n");
    render_children(
        &mut out,
        &schema.block.attributes,
        &schema.block.blocks,
        "",
        true,
    );
    out
}

fn example_section(title: &str, lang: &str, body: Option<String>) -> String {
    match body {
        Some(text) => format!("## {title}\n\n```{lang}\n{}\n```\n\n", text.trim_end()),
        None => String::new(),
    }
}

fn fenced(lang: &str, text: &str) -> String {
    format!("```{lang}\n{}\n```\n\n", text.trim_end())
}

/// The Import section from `import-by-string-id.tf` (an `import {}` block, Terraform >= 1.5) and `import.sh`.
fn import_section(name: &str) -> String {
    let block = read_example(&format!("examples/resources/{name}/import-by-string-id.tf"));
    let command = read_example(&format!("examples/resources/{name}/import.sh"));
    if block.is_none() && command.is_none() {
        return String::new();
    }
    let mut out = String::from("## Import\n\nImport is supported using the following syntax:\n\n");
    if let Some(text) = block {
        out += "In Terraform v1.5.0 and later, the [`import` block](https://developer.hashicorp.com/terraform/language/import) \
                can be used with the `id` attribute, for example:\n\n";
        out += &fenced("terraform", &text);
    }
    if let Some(text) = command {
        out += "The [`terraform import` command](https://developer.hashicorp.com/terraform/cli/commands/import) can be \
                used, for example:\n\n";
        out += &fenced("shell", &text);
    }
    out
}

fn render_page(kind: Kind, name: &str, schema: &Schema) -> String {
    let summary = schema
        .block
        .description
        .lines()
        .next()
        .unwrap_or_default()
        .trim();
    let title = kind.title();
    let mut out = format!(
        "---\npage_title: \"{name} {title} - vixens\"\nsubcategory: \"\"\ndescription: |-\n  {summary}\n---\n\n# {name} ({title})\n\n{}\n\n",
        schema.block.description.trim()
    );
    out += &example_section(
        "Example Usage",
        "terraform",
        read_example(&kind.example(name)),
    );
    out += &render_schema(schema);
    if let Kind::Resource = kind {
        out += &import_section(name);
    }
    out.trim_end().to_string() + "\n"
}

fn render_index() -> String {
    let schema = vixens::provider::provider_schema();
    let mut out = format!(
        "---\npage_title: \"vixens Provider\"\ndescription: |-\n  {}\n---\n\n# vixens Provider\n\n{}\n\n",
        schema.block.description.trim(),
        schema.block.description.trim()
    );
    for (kind, names, intro) in [
        (
            Kind::Resource,
            shipped().iter().map(|r| r.type_name()).collect::<Vec<_>>(),
            "Resources, in the order an environment applies them:",
        ),
        (
            Kind::DataSource,
            vixens::provider::data_sources()
                .iter()
                .map(|d| d.type_name())
                .collect(),
            "Data sources:",
        ),
        (
            Kind::Ephemeral,
            vixens::provider::ephemeral_resources()
                .iter()
                .map(|e| e.type_name())
                .collect(),
            "Ephemeral resources (Terraform >= 1.10):",
        ),
    ] {
        let _ = writeln!(out, "{intro}\n");
        for name in names {
            let _ = writeln!(
                out,
                "- [`{name}`]({}/{}.md)",
                kind.dir(),
                name.trim_start_matches(PREFIX)
            );
        }
        out.push('\n');
    }
    out += &example_section(
        "Example Usage",
        "terraform",
        read_example("examples/provider/provider.tf"),
    );
    out += &render_schema(&schema);
    out.trim_end().to_string() + "\n"
}

fn shipped() -> Vec<std::sync::Arc<dyn vixens::framework::Resource>> {
    vixens::provider::resources()
        .into_iter()
        .filter(|r| !r.type_name().starts_with("vixens_test_"))
        .collect()
}

/// Every page: (kind, type name, schema).
fn pages() -> Vec<(Kind, &'static str, Schema)> {
    let mut out: Vec<(Kind, &'static str, Schema)> = shipped()
        .iter()
        .map(|r| (Kind::Resource, r.type_name(), r.schema()))
        .collect();
    out.extend(
        vixens::provider::data_sources()
            .iter()
            .map(|d| (Kind::DataSource, d.type_name(), d.schema())),
    );
    out.extend(
        vixens::provider::ephemeral_resources()
            .iter()
            .map(|e| (Kind::Ephemeral, e.type_name(), e.schema())),
    );
    out
}

fn expected_docs() -> Vec<(PathBuf, String)> {
    let mut docs = vec![(PathBuf::from("docs/index.md"), render_index())];
    for (kind, name, schema) in pages() {
        docs.push((
            PathBuf::from(format!(
                "docs/{}/{}.md",
                kind.dir(),
                name.trim_start_matches(PREFIX)
            )),
            render_page(kind, name, &schema),
        ));
    }
    docs
}

fn write_all(docs: &[(PathBuf, String)]) {
    for kind in [Kind::Resource, Kind::DataSource, Kind::Ephemeral] {
        let rel_dir = Path::new("docs").join(kind.dir());
        let dir = root().join(&rel_dir);
        std::fs::create_dir_all(&dir).expect("create a docs directory");
        for entry in std::fs::read_dir(&dir)
            .expect("read a docs directory")
            .flatten()
        {
            let rel = rel_dir.join(entry.file_name());
            if !docs.iter().any(|(p, _)| *p == rel) {
                std::fs::remove_file(entry.path()).expect("remove a stale page");
            }
        }
    }
    for (rel, text) in docs {
        std::fs::write(root().join(rel), text).expect("write a docs page");
    }
}

#[test]
fn docs_are_current() {
    let docs = expected_docs();
    if std::env::var_os("VIXENS_UPDATE_DOCS").is_some() {
        write_all(&docs);
        return;
    }
    let mut stale = Vec::new();
    for (rel, text) in &docs {
        match std::fs::read_to_string(root().join(rel)) {
            Ok(on_disk) if on_disk == *text => {}
            _ => stale.push(rel.display().to_string()),
        }
    }
    assert!(
        stale.is_empty(),
        "docs/ is stale ({}): run scripts/gen-docs.sh and commit the result",
        stale.join(", ")
    );
}

#[test]
fn every_page_has_an_example() {
    for (kind, name, _) in pages() {
        let path = kind.example(name);
        assert!(read_example(&path).is_some(), "{path} is missing");
    }
}
