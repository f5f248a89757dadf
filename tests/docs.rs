//! docs/ in the Terraform Registry layout (`docs/index.md`, `docs/resources/<name>.md`, the names without the
//! `vixens_` prefix), generated from the schema descriptions and `examples/`. This test fails when docs/ is stale;
//! `scripts/gen-docs.sh` (`VIXENS_UPDATE_DOCS=1 cargo test --test docs`) rewrites it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use vixens::framework::{Attribute, AttributeType, Block, Nesting, Schema};

const PREFIX: &str = "vixens_";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_example(rel: &str) -> Option<String> {
    std::fs::read_to_string(root().join(rel)).ok()
}

fn attribute_type(attr: &Attribute) -> String {
    match &attr.ty {
        AttributeType::Type(t) => t.to_string(),
        AttributeType::Nested { nesting, .. } => format!("{nesting:?} of objects").to_lowercase(),
    }
}

fn flags(attr: &Attribute) -> String {
    let mut out = Vec::new();
    if attr.sensitive {
        out.push("Sensitive");
    }
    if attr.requires_replace {
        out.push("Forces replacement");
    }
    if attr.deprecated {
        out.push("Deprecated");
    }
    if out.is_empty() {
        String::new()
    } else {
        format!(", {}", out.join(", "))
    }
}

/// Appends the attributes of `block` grouped Required / Optional / Read-Only, then its nested blocks, each under
/// an anchor `nestedblock--<path>` as the Registry's generated docs do.
fn render_block(out: &mut String, block: &Block, path: &str, nested: &mut Vec<(String, Block)>) {
    type Keep = fn(&Attribute) -> bool;
    let groups: [(&str, Keep); 3] = [
        ("Required", |a| a.required),
        ("Optional", |a| a.optional),
        ("Read-Only", |a| a.computed && !a.optional && !a.required),
    ];
    for (title, keep) in groups {
        let attrs: Vec<&Attribute> = block.attributes.iter().filter(|a| keep(a)).collect();
        let blocks: Vec<_> = block
            .blocks
            .iter()
            .filter(|b| match title {
                "Required" => b.min_items > 0,
                "Optional" => b.min_items == 0,
                _ => false,
            })
            .collect();
        if attrs.is_empty() && blocks.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {title}\n");
        for a in attrs {
            let _ = writeln!(
                out,
                "- `{}` ({}{}) {}",
                a.name,
                attribute_type(a),
                flags(a),
                a.description.trim()
            );
        }
        for b in blocks {
            let anchor = format!("{path}--{}", b.type_name);
            let shape = match b.nesting {
                Nesting::Single | Nesting::Group => "Block".to_string(),
                Nesting::List => "Block List".to_string(),
                Nesting::Set => "Block Set".to_string(),
                Nesting::Map => "Block Map, keyed by label".to_string(),
            };
            let limit = if b.max_items > 0 {
                format!(", Max: {}", b.max_items)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "- `{}` ({shape}{limit}) {} (see [below for nested schema](#nestedblock{anchor}))",
                b.type_name,
                b.block.description.trim()
            );
            nested.push((anchor, b.block.clone()));
        }
        out.push('\n');
    }
}

fn minutes(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s % 60 == 0 {
        format!("`{}m`", s / 60)
    } else {
        format!("`{s}s`")
    }
}

fn render_schema(schema: &Schema) -> String {
    let mut out = String::from("## Schema\n\n");
    let mut pending = Vec::new();
    render_block(&mut out, &schema.block, "", &mut pending);
    if let Some(t) = &schema.timeouts {
        let _ = writeln!(
            out,
            "### Timeouts\n\nOptional `timeouts` block with `create`, `update` and `delete` durations (e.g. \
             `\"30m\"`). Defaults: create {}, update {}, delete {}.\n",
            minutes(t.create),
            minutes(t.update),
            minutes(t.delete)
        );
    }
    while !pending.is_empty() {
        let (anchor, block) = pending.remove(0);
        let _ = writeln!(
            out,
            "<a id=\"nestedblock{anchor}\"></a>\n### Nested Schema for `{}`\n",
            anchor.trim_start_matches("--").replace("--", ".")
        );
        let mut more = Vec::new();
        render_block(&mut out, &block, &anchor, &mut more);
        pending.extend(more);
    }
    out
}

fn example_section(title: &str, lang: &str, body: Option<String>) -> String {
    match body {
        Some(text) => format!("## {title}\n\n```{lang}\n{}\n```\n\n", text.trim_end()),
        None => String::new(),
    }
}

fn render_resource(name: &str, schema: &Schema) -> String {
    let summary = schema
        .block
        .description
        .lines()
        .next()
        .unwrap_or_default()
        .trim();
    let mut out = format!(
        "---\npage_title: \"{name} Resource - vixens\"\nsubcategory: \"\"\ndescription: |-\n  {summary}\n---\n\n# {name} (Resource)\n\n{}\n\n",
        schema.block.description.trim()
    );
    out += &example_section(
        "Example Usage",
        "terraform",
        read_example(&format!("examples/resources/{name}/resource.tf")),
    );
    out += &render_schema(schema);
    out += &example_section(
        "Import",
        "shell",
        read_example(&format!("examples/resources/{name}/import.sh")),
    );
    out.trim_end().to_string() + "\n"
}

fn render_index() -> String {
    let schema = vixens::provider::provider_schema();
    let mut out = format!(
        "---\npage_title: \"vixens Provider\"\ndescription: |-\n  {}\n---\n\n# vixens Provider\n\n{}\n\n",
        schema.block.description.trim(),
        schema.block.description.trim()
    );
    out += "Resources, in the order an environment applies them:\n\n";
    for r in shipped() {
        let name = r.type_name();
        let _ = writeln!(
            out,
            "- [`{name}`](resources/{}.md)",
            name.trim_start_matches(PREFIX)
        );
    }
    out.push('\n');
    out += &example_section(
        "Example Usage",
        "terraform",
        read_example("examples/provider/provider.tf"),
    );
    if schema.block.attributes.is_empty() && schema.block.blocks.is_empty() {
        out += "## Schema\n\nThe provider takes no configuration: each resource carries its own connection \
                settings (the Talos nodes' addresses, or a kubeconfig / `kubernetes` block).\n";
    } else {
        out += &render_schema(&schema);
    }
    out.trim_end().to_string() + "\n"
}

fn shipped() -> Vec<std::sync::Arc<dyn vixens::framework::Resource>> {
    vixens::provider::resources()
        .into_iter()
        .filter(|r| !r.type_name().starts_with("vixens_test_"))
        .collect()
}

fn expected_docs() -> Vec<(PathBuf, String)> {
    let mut docs = vec![(PathBuf::from("docs/index.md"), render_index())];
    for r in shipped() {
        let name = r.type_name();
        docs.push((
            PathBuf::from(format!(
                "docs/resources/{}.md",
                name.trim_start_matches(PREFIX)
            )),
            render_resource(name, &r.schema()),
        ));
    }
    docs
}

fn write_all(docs: &[(PathBuf, String)]) {
    let dir = root().join("docs/resources");
    std::fs::create_dir_all(&dir).expect("create docs/resources");
    for entry in std::fs::read_dir(&dir)
        .expect("read docs/resources")
        .flatten()
    {
        let path = entry.path();
        let rel = Path::new("docs/resources").join(entry.file_name());
        if !docs.iter().any(|(p, _)| *p == rel) {
            std::fs::remove_file(path).expect("remove a stale page");
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
fn every_shipped_resource_has_an_example() {
    for r in shipped() {
        let name = r.type_name();
        assert!(
            read_example(&format!("examples/resources/{name}/resource.tf")).is_some(),
            "examples/resources/{name}/resource.tf is missing"
        );
    }
}
