//! Diagnostics for CI systems: GitHub Actions workflow commands and SARIF 2.1.0 (code scanning).
//! Like `report`, these only turn diagnostics into text; severities come from lint levels.

use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::report::Sources;
use serde_json::{json, Value};

/// Escape the message part of a workflow command.
fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a property value of a workflow command.
fn gh_prop(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One `::error file=...,line=...,col=...,title=E0201::message` line per diagnostic
/// (`::warning` for warnings, `::notice` for hints). The message carries the label, notes and
/// help on further lines, so the annotation is useful on its own.
pub fn github(
    sources: &Sources,
    diags: &[Diagnostic],
    severity: &dyn Fn(&Diagnostic) -> Severity,
) -> String {
    let mut out = String::new();
    for d in diags {
        let cmd = match severity(d) {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Hint => "notice",
        };
        let (line, col) = sources.line_col(d.primary.file, d.primary.start);
        let (end_line, end_col) = sources.line_col(d.primary.file, d.primary.end);
        let mut msg = d.message.clone();
        if !d.primary_label.is_empty() {
            msg += &format!("\n{}", d.primary_label);
        }
        for n in &d.notes {
            msg += &format!("\nnote: {n}");
        }
        if let Some(h) = &d.help {
            msg += &format!("\nhelp: {h}");
        }
        let mut props = format!(
            "file={},line={line},col={col}",
            gh_prop(&sources.name(d.primary.file))
        );
        if end_line == line {
            props += &format!(",endColumn={end_col}");
        } else {
            props += &format!(",endLine={end_line}");
        }
        props += &format!(
            ",title={}",
            gh_prop(&format!("{} {}", d.code, d.code.summary()))
        );
        out += &format!("::{cmd} {props}::{}\n", gh_data(&msg));
    }
    out
}

/// Percent-encode a file name as a relative URI reference (`/` kept as the separator).
fn uri(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out += &format!("%{b:02X}");
        }
    }
    out
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Hint => "note",
    }
}

fn region(sources: &Sources, span: crate::diagnostic::Span) -> Value {
    let (sl, sc) = sources.line_col(span.file, span.start);
    let (el, ec) = sources.line_col(span.file, span.end);
    // SARIF regions are non-empty in columns when they start and end on one line; an empty
    // span (end of file) is reported as a one-column region.
    let ec = if (el, ec) <= (sl, sc) { sc + 1 } else { ec };
    let el = el.max(sl);
    json!({ "startLine": sl, "startColumn": sc, "endLine": el, "endColumn": ec })
}

fn location(sources: &Sources, span: crate::diagnostic::Span) -> Value {
    let name = sources.name(span.file);
    let uri = if name == "<stdin>" {
        "stdin".to_string()
    } else {
        uri(&name)
    };
    json!({
        "physicalLocation": {
            "artifactLocation": { "uri": uri, "uriBaseId": "%SRCROOT%" },
            "region": region(sources, span),
        }
    })
}

/// A SARIF 2.1.0 log with one run; every diagnostic code is a rule (with its explanation as
/// full description), every diagnostic a result.
pub fn sarif(
    sources: &Sources,
    diags: &[Diagnostic],
    severity: &dyn Fn(&Diagnostic) -> Severity,
) -> Value {
    let rules: Vec<Value> = Code::ALL
        .iter()
        .map(|c| {
            json!({
                "id": c.as_str(),
                "name": rule_name(*c),
                "shortDescription": { "text": c.summary() },
                "fullDescription": { "text": crate::diagnostic::explanations::explanation(*c) },
                "help": { "text": format!("{}\n\nRun `tcc explain-code {}` for an example.", crate::diagnostic::explanations::explanation(*c), c.as_str()) },
                "defaultConfiguration": { "level": level(c.severity()) },
            })
        })
        .collect();
    let results: Vec<Value> = diags
        .iter()
        .map(|d| {
            let rule_index = Code::ALL.iter().position(|c| *c == d.code).unwrap_or(0);
            let mut text = d.message.clone();
            if let Some(h) = &d.help {
                text += &format!("\nhelp: {h}");
            }
            let related: Vec<Value> = d
                .secondary
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let mut loc = location(sources, l.span);
                    loc["id"] = json!(i);
                    loc["message"] = json!({ "text": if l.message.is_empty() { "related" } else { &l.message } });
                    loc
                })
                .collect();
            let mut r = json!({
                "ruleId": d.code.as_str(),
                "ruleIndex": rule_index,
                "level": level(severity(d)),
                "message": { "text": text },
                "locations": [location(sources, d.primary)],
            });
            if !related.is_empty() {
                r["relatedLocations"] = json!(related);
            }
            r
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "tcc",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

/// A rule name in SARIF's UpperCamelCase style, from the code's summary.
fn rule_name(c: Code) -> String {
    format!("{c:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_escaping() {
        assert_eq!(gh_data("a%b\nc"), "a%25b%0Ac");
        assert_eq!(gh_prop("x:y,z"), "x%3Ay%2Cz");
        assert_eq!(uri("dir/a b<1>.shape"), "dir/a%20b%3C1%3E.shape");
    }
}
