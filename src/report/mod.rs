//! Rendering diagnostics for people (codespan-reporting) and for machines (JSON).
//! Architecture invariant: the only place that turns a `Diagnostic` into text.

pub mod ci;
pub mod lint;

use crate::diagnostic::{Diagnostic, Severity};
use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor::WriteColor};
use serde::Serialize;

/// The source files diagnostics point into. File ids are indices in insertion order.
pub struct Sources {
    files: SimpleFiles<String, String>,
}

impl Default for Sources {
    fn default() -> Sources {
        Sources::new()
    }
}

impl Sources {
    pub fn new() -> Sources {
        Sources {
            files: SimpleFiles::new(),
        }
    }

    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> usize {
        self.files.add(name.into(), text.into())
    }

    pub fn name(&self, id: usize) -> String {
        self.files
            .get(id)
            .map(|f| f.name().clone())
            .unwrap_or_default()
    }

    pub fn text(&self, id: usize) -> &str {
        self.files
            .get(id)
            .map(|f| f.source().as_str())
            .unwrap_or("")
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, id: usize, offset: usize) -> (usize, usize) {
        // The line from the file's line index (a binary search), not by counting newlines from
        // the start: that was quadratic in the number of diagnostics (40k: over a minute).
        use codespan_reporting::files::Files;
        let text = self.text(id);
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.files.line_index(id, offset).unwrap_or(0);
        let line_start = self
            .files
            .line_range(id, line)
            .map_or(0, |r| r.start)
            .min(offset);
        let col = text[line_start..offset].chars().count() + 1;
        (line + 1, col)
    }
}

fn to_codespan(d: &Diagnostic, severity: Severity) -> cs::Diagnostic<usize> {
    let sev = match severity {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
        Severity::Hint => cs::Severity::Help,
    };
    let mut labels = vec![
        cs::Label::primary(d.primary.file, d.primary.start..d.primary.end)
            .with_message(d.primary_label.clone()),
    ];
    for l in &d.secondary {
        labels.push(
            cs::Label::secondary(l.span.file, l.span.start..l.span.end)
                .with_message(l.message.clone()),
        );
    }
    let mut notes: Vec<String> = d.notes.iter().map(|n| format!("note: {n}")).collect();
    if let Some(h) = &d.help {
        notes.push(format!("help: {h}"));
    }
    cs::Diagnostic::new(sev)
        .with_code(d.code.as_str())
        .with_message(d.message.clone())
        .with_labels(labels)
        .with_notes(notes)
}

/// Render diagnostics for a terminal (colour decided by the writer).
pub fn emit_human(
    out: &mut dyn WriteColor,
    sources: &Sources,
    diags: &[Diagnostic],
) -> std::io::Result<()> {
    emit_human_with(out, sources, diags, &|d| d.severity())
}

/// Like `emit_human`, with the severity each diagnostic is shown with decided by `severity`
/// (lint levels: `--deny`, `--warn`).
pub fn emit_human_with(
    out: &mut dyn WriteColor,
    sources: &Sources,
    diags: &[Diagnostic],
    severity: &dyn Fn(&Diagnostic) -> Severity,
) -> std::io::Result<()> {
    // Rendered into memory and written in large pieces: codespan writes every fragment
    // separately, and stderr is unbuffered, so 40k diagnostics were millions of write(2) calls.
    let config = term::Config::default();
    let mut buf = if out.supports_color() {
        term::termcolor::Buffer::ansi()
    } else {
        term::termcolor::Buffer::no_color()
    };
    for d in diags {
        term::emit(
            &mut buf,
            &config,
            &sources.files,
            &to_codespan(d, severity(d)),
        )
        .map_err(std::io::Error::other)?;
        if buf.len() >= 1 << 16 {
            out.write_all(buf.as_slice())?;
            buf.clear();
        }
    }
    out.write_all(buf.as_slice())?;
    out.flush()
}

/// Render diagnostics as plain text without colour (for snapshots and logs).
pub fn to_plain_string(sources: &Sources, diags: &[Diagnostic]) -> String {
    let mut buf = term::termcolor::NoColor::new(Vec::new());
    emit_human(&mut buf, sources, diags).expect("writing to memory");
    String::from_utf8(buf.into_inner()).expect("utf-8")
}

/// The JSON report, schema version 1 (documented in docs/diagnostics.md).
#[derive(Serialize)]
pub struct JsonReport {
    pub version: u32,
    pub diagnostics: Vec<JsonDiagnostic>,
    /// Every `expect` line of the checked files with its outcome (added in the same version:
    /// a new field, nothing changed or removed).
    pub expectations: Vec<JsonExpectation>,
    pub summary: JsonSummary,
}

/// One `expect PACKET -> CLASS` line and where its packet really goes.
#[derive(Serialize)]
pub struct JsonExpectation {
    pub file: String,
    pub span: JsonSpan,
    pub interface: String,
    /// The packet as the language writes it, e.g. `tcp dst 10.0.0.7 dport 443`.
    pub packet: String,
    /// The class the line names (`null`: unclassified).
    pub expected: Option<String>,
    /// The class the packet reaches (`null`: unclassified).
    pub reached: Option<String>,
    /// The filter (`match` line) that decided it; `null` when none matched.
    pub decided_by: Option<JsonSpan>,
    pub passed: bool,
}

#[derive(Serialize)]
pub struct JsonSummary {
    pub errors: usize,
    pub warnings: usize,
    pub hints: usize,
}

#[derive(Serialize)]
pub struct JsonDiagnostic {
    pub code: String,
    pub severity: Severity,
    pub message: String,
    pub file: String,
    pub span: JsonSpan,
    pub label: String,
    pub labels: Vec<JsonLabel>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

#[derive(Serialize)]
pub struct JsonSpan {
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

#[derive(Serialize)]
pub struct JsonLabel {
    pub file: String,
    pub span: JsonSpan,
    pub message: String,
}

pub fn json_span(sources: &Sources, s: crate::diagnostic::Span) -> JsonSpan {
    let (line, column) = sources.line_col(s.file, s.start);
    let (end_line, end_column) = sources.line_col(s.file, s.end);
    JsonSpan {
        start: s.start,
        end: s.end,
        line,
        column,
        end_line,
        end_column,
    }
}

pub fn to_json(sources: &Sources, diags: &[Diagnostic]) -> JsonReport {
    to_json_with(sources, diags, &|d| d.severity())
}

/// Like `to_json`, with the reported severity decided by `severity` (lint levels).
pub fn to_json_with(
    sources: &Sources,
    diags: &[Diagnostic],
    severity: &dyn Fn(&Diagnostic) -> Severity,
) -> JsonReport {
    let count = |s| diags.iter().filter(|d| severity(d) == s).count();
    JsonReport {
        version: 1,
        diagnostics: diags
            .iter()
            .map(|d| JsonDiagnostic {
                code: d.code.as_str().to_string(),
                severity: severity(d),
                message: d.message.clone(),
                file: sources.name(d.primary.file),
                span: json_span(sources, d.primary),
                label: d.primary_label.clone(),
                labels: d
                    .secondary
                    .iter()
                    .map(|l| JsonLabel {
                        file: sources.name(l.span.file),
                        span: json_span(sources, l.span),
                        message: l.message.clone(),
                    })
                    .collect(),
                notes: d.notes.clone(),
                help: d.help.clone(),
            })
            .collect(),
        expectations: Vec::new(),
        summary: JsonSummary {
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            hints: count(Severity::Hint),
        },
    }
}
