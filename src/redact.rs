//! Error messages about secret-bearing inputs (kubeconfigs, PEM keys, secrets.yaml, config patches, manifests)
//! reduced to what is safe to show: where the problem is, never the text around it.
//!
//! Parsers quote their input: serde-saphyr (behind `kube::config::Kubeconfig::from_yaml`) prints the lines around
//! a syntax error and may print a mistyped scalar (`invalid type: string "…"`). [`scrub`] removes both:
//! every quoted or back-ticked span, every source excerpt line (`12 | …`), and every long token that occurs in the
//! secret input. [`yaml_error`] gives a [`crate::yaml`] error as its location and scrubbed reason.
//! Knows nothing of Terraform, Talos or Kubernetes.

/// Tokens at least this long that also occur in the secret input are removed (base64 keys, tokens, passwords).
const MIN_SECRET_TOKEN: usize = 8;

/// `message` with everything that may quote `secret` removed: spans between double quotes, single quotes or
/// backticks become `…`, source-excerpt lines (`  12 | text`, `  --> <input>:12:4`) are dropped, and any
/// whitespace-separated token of 8 characters or more that occurs in `secret` becomes `<redacted>`.
pub fn scrub(message: &str, secret: &str) -> String {
    let mut lines = Vec::new();
    for line in message.lines() {
        let t = line.trim_start();
        let excerpt = t.starts_with("-->")
            || t.starts_with('|')
            || t.split_once('|').is_some_and(|(n, _)| {
                !n.trim().is_empty() && n.trim().chars().all(|c| c.is_ascii_digit())
            });
        if !excerpt && !t.is_empty() {
            lines.push(unquote(line.trim_end()));
        }
    }
    let joined = lines.join(" ");
    joined
        .split(' ')
        .map(|token| {
            let core =
                token.trim_matches(|c: char| matches!(c, ',' | ';' | ':' | '(' | ')' | '[' | ']'));
            if core.chars().count() >= MIN_SECRET_TOKEN && secret.contains(core) {
                "<redacted>"
            } else {
                token
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `line` with each quoted span (`"…"`, `'…'`, `` `…` ``) replaced by `…`. An unclosed quote hides the rest.
fn unquote(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut open: Option<char> = None;
    let mut prev: Option<char> = None;
    for c in line.chars() {
        match open {
            Some(q) if c == q && prev != Some('\\') => open = None,
            Some(_) => {}
            // An apostrophe inside a word ("doesn't") is not a quote.
            None if c == '\'' && prev.is_some_and(char::is_alphanumeric) => out.push(c),
            None if matches!(c, '"' | '\'' | '`') => {
                open = Some(c);
                out.push('…');
            }
            None => out.push(c),
        }
        prev = Some(c);
    }
    out
}

/// A YAML read error ([`crate::yaml`]) about the secret document `text`: `line L, column C: <scrubbed reason>`
/// (location omitted when the error has none). The error is rendered without its source excerpt.
pub fn yaml_error(e: &crate::yaml::Error, text: &str) -> String {
    let reason = scrub(&e.without_snippet().to_string(), text);
    match e.location() {
        Some(l) if !reason.contains("line ") => {
            format!("line {}, column {}: {reason}", l.line(), l.column())
        }
        _ => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "S0VZU0VDUkVUU0VDUkVUU0VDUkVU";

    #[test]
    fn excerpts_quotes_and_secret_tokens_go() {
        let msg = format!(
            "failed to parse kubeconfig YAML: error: line 12 column 4: did not find expected key\n  --> <input>:12:4\n   |\n12 |    client-key-data: {KEY}\n   |    ^ here\n"
        );
        let input = format!("users:\n   client-key-data: {KEY}\n");
        let out = scrub(&msg, &input);
        assert!(!out.contains(KEY), "{out}");
        assert!(out.contains("line 12 column 4"), "{out}");
        let out = scrub(
            &format!("invalid type: string \"{KEY}\", expected a map"),
            "",
        );
        assert_eq!(out, "invalid type: string …, expected a map");
        let out = scrub(&format!("bad token {KEY}x, here"), &format!("{KEY}x"));
        assert_eq!(out, "bad token <redacted> here");
        assert_eq!(scrub("it doesn't parse", ""), "it doesn't parse");
    }

    #[test]
    fn yaml_errors_keep_the_location_only() {
        let text = format!("a:\n  b: {KEY}\n c: [\n");
        let e = crate::yaml::from_str::<serde_json::Value>(&text).unwrap_err();
        let out = yaml_error(&e, &text);
        assert!(out.contains("line") && !out.contains(KEY), "{out}");
        let text = format!("key: {KEY}\n");
        let e =
            crate::yaml::from_str::<std::collections::BTreeMap<String, u32>>(&text).unwrap_err();
        let out = yaml_error(&e, &text);
        assert!(out.contains("line 1") && !out.contains(KEY), "{out}");
    }
}
