//! Diagnostics: errors and warnings shown by Terraform, optionally pointing at an attribute path
//! (tfplugin `Diagnostic`: severity, summary, detail, attribute).

use std::fmt;

use crate::cty::{self, AttributePath};

/// How serious a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Fails the operation.
    Error,
    /// Shown, does not fail.
    Warning,
}

/// One message for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Short one-line summary.
    pub summary: String,
    /// Longer explanation (may be empty).
    pub detail: String,
    /// The attribute the message is about, if any; Terraform then shows the matching configuration line.
    pub attribute: Option<AttributePath>,
}

impl Diagnostic {
    /// An error.
    pub fn error(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            summary: summary.into(),
            detail: detail.into(),
            attribute: None,
        }
    }

    /// A warning.
    pub fn warning(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            summary: summary.into(),
            detail: detail.into(),
            attribute: None,
        }
    }

    /// This diagnostic pointing at `path`.
    pub fn at(mut self, path: AttributePath) -> Self {
        self.attribute = Some(path);
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = if self.is_error() { "error" } else { "warning" };
        write!(f, "{sev}: {}", self.summary)?;
        if let Some(path) = &self.attribute {
            write!(f, " (at {path})")?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl From<cty::Error> for Diagnostic {
    fn from(e: cty::Error) -> Self {
        let path = (!e.path.is_root()).then_some(e.path);
        Diagnostic {
            severity: Severity::Error,
            summary: "Invalid value".into(),
            detail: e.message,
            attribute: path,
        }
    }
}

/// A list of diagnostics; the operation failed when [`Diagnostics::has_errors`].
///
/// Convertible from [`Diagnostic`], [`cty::Error`] and [`anyhow::Error`] (its `{:#}` chain becomes the detail), so
/// `?` works in resource code. Never put secret values into a diagnostic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// No diagnostics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the item of a list block keyed by a `name` attribute in every diagnostic about it: a diagnostic whose
    /// path is `block[i].rest` gets `<label> "<name>", rest: ` before its detail (the name left out when the
    /// detail already quotes it). Terraform 1.0 cannot resolve a path into a `dynamic` block (it shows the
    /// resource header instead), so the detail must say which item and which attribute it is.
    pub fn name_list_items(&mut self, config: &cty::Value, block: &str, label: &str) {
        use cty::PathStep;
        let items = config.get(block).as_list().unwrap_or_default();
        for d in &mut self.0 {
            let Some(path) = &d.attribute else { continue };
            let index = match path.steps.as_slice() {
                [PathStep::Attribute(b), PathStep::Index(i), ..] if b == block => *i,
                _ => continue,
            };
            let name = usize::try_from(index)
                .ok()
                .and_then(|i| items.get(i))
                .and_then(|item| item.get("name").as_str());
            let rest = AttributePath {
                steps: path.steps[2..].to_vec(),
            }
            .to_string();
            let Some(name) = name else { continue };
            let quoted = format!("{name:?}");
            let mut prefix = Vec::new();
            if !d.detail.contains(&quoted) {
                prefix.push(format!("{label} {quoted}"));
            }
            if !rest.is_empty() && rest != "name" {
                prefix.push(rest);
            }
            if !prefix.is_empty() {
                d.detail = format!("{}: {}", prefix.join(", "), d.detail);
            }
        }
    }

    /// Adds a diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// Adds an error.
    pub fn error(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Diagnostic::error(summary, detail));
    }

    /// Adds an error about the attribute at `path`.
    pub fn error_at(
        &mut self,
        path: AttributePath,
        summary: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.push(Diagnostic::error(summary, detail).at(path));
    }

    /// Adds a warning.
    pub fn warning(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Diagnostic::warning(summary, detail));
    }

    /// Appends all of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// Whether there is nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The diagnostics.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Self(vec![d])
    }
}

impl From<cty::Error> for Diagnostics {
    fn from(e: cty::Error) -> Self {
        Diagnostic::from(e).into()
    }
}

impl From<anyhow::Error> for Diagnostics {
    fn from(e: anyhow::Error) -> Self {
        Diagnostic::error(e.to_string(), format!("{e:#}")).into()
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
