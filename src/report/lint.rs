//! Lint levels for every command that reports diagnostics: `--allow`/`--warn`/`--deny CODE`,
//! `--deny warnings`, and in-file suppressions (`# tcc: allow W0104` on a line, or on the line
//! opening a block to cover the whole block). Errors cannot be allowed or weakened: they make the plan invalid.

use crate::diagnostic::{Code, Diagnostic, Diagnostics, Severity, Span};
use crate::syntax::token::{self as lex, Kind};
use std::collections::HashMap;

/// What to do with a warning or hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Allow,
    Warn,
    Deny,
}

/// A lint selector on the command line: one code, or every warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    Code(Code),
    Warnings,
}

/// A lint level that cannot be set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelError {
    /// `given` is no diagnostic code; `near` is the closest one.
    UnknownCode { given: String, near: &'static str },
    /// Errors can be denied, never allowed or downgraded.
    ErrorCode(Code),
}

impl std::fmt::Display for LevelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LevelError::UnknownCode { given, near } => write!(
                f,
                "unknown diagnostic code `{given}` (expected a code such as `{near}`, or `warnings`; `tcc explain-code --list` lists them)"
            ),
            LevelError::ErrorCode(c) => write!(
                f,
                "{c} is an error and cannot be allowed or downgraded: the configuration is invalid while it is reported"
            ),
        }
    }
}

impl std::error::Error for LevelError {}

/// Parse a `--allow`/`--warn`/`--deny` value: a code (`W0104`, case-insensitive) or `warnings`.
pub fn parse_selector(s: &str) -> Result<Selector, LevelError> {
    if s.eq_ignore_ascii_case("warnings") {
        return Ok(Selector::Warnings);
    }
    match Code::parse(s) {
        Some(c) => Ok(Selector::Code(c)),
        None => {
            let near = Code::ALL
                .iter()
                .map(|c| c.as_str())
                .min_by_key(|c| strsim::levenshtein(c, &s.to_ascii_uppercase()))
                .unwrap_or("W0101");
            Err(LevelError::UnknownCode {
                given: s.to_string(),
                near,
            })
        }
    }
}

/// Command-line levels. Applied in the order allow, warn, deny: when one code is given to
/// several flags, the strictest wins.
#[derive(Debug, Clone, Default)]
pub struct Levels {
    by_code: HashMap<Code, Level>,
    warnings: Option<Level>,
}

impl Levels {
    pub fn new(
        allow: &[Selector],
        warn: &[Selector],
        deny: &[Selector],
    ) -> Result<Levels, LevelError> {
        let mut l = Levels::default();
        for (sels, level) in [
            (allow, Level::Allow),
            (warn, Level::Warn),
            (deny, Level::Deny),
        ] {
            for s in sels {
                match *s {
                    Selector::Warnings => l.warnings = Some(level),
                    Selector::Code(c) if c.severity() == Severity::Error => {
                        if level != Level::Deny {
                            return Err(LevelError::ErrorCode(c));
                        }
                    }
                    Selector::Code(c) => {
                        l.by_code.insert(c, level);
                    }
                }
            }
        }
        Ok(l)
    }

    /// The severity `code` is reported with, or `None` when it is allowed. A code's own level
    /// wins over the `warnings` group, except that `--deny warnings` turns every warning that is
    /// reported (also one raised with `--warn`) into an error, as in rustc.
    pub fn severity(&self, code: Code) -> Option<Severity> {
        let base = code.severity();
        if base == Severity::Error {
            return Some(base);
        }
        let sev = match self.by_code.get(&code) {
            Some(Level::Allow) => return None,
            Some(Level::Warn) => Severity::Warning,
            Some(Level::Deny) => Severity::Error,
            None if base == Severity::Warning && self.warnings == Some(Level::Allow) => {
                return None
            }
            None => base,
        };
        if sev == Severity::Warning && self.warnings == Some(Level::Deny) {
            Some(Severity::Error)
        } else {
            Some(sev)
        }
    }
}

/// One `# tcc: allow CODE...` comment and the byte range it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    pub codes: Vec<Code>,
    /// Byte range of the covered source: the comment's line, extended to the end of the block
    /// when that line opens one.
    pub start: usize,
    pub end: usize,
    /// Where the comment is (for diagnostics about the comment itself).
    pub comment_start: usize,
    pub comment_end: usize,
}

/// A problem with a suppression comment (unknown code, or an error code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSuppression {
    pub start: usize,
    pub end: usize,
    pub message: String,
}

const MARKER: &str = "tcc:";

/// Find the suppression comments of a file. A comment `# tcc: allow W0104, W0105` covers the
/// line it is on; if a `{` on that line is left open at the end of the line, it covers the
/// block up to the matching `}` as well.
pub fn suppressions(text: &str) -> (Vec<Suppression>, Vec<BadSuppression>) {
    if !text.contains(MARKER) {
        return (Vec::new(), Vec::new());
    }
    let toks = lex::tokens(text);
    // Matching closing brace for every `{` (by token index), with a stack.
    let mut close_of: HashMap<usize, usize> = HashMap::new();
    let mut stack = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            Kind::LBrace => stack.push(i),
            Kind::RBrace => {
                if let Some(o) = stack.pop() {
                    close_of.insert(o, i);
                }
            }
            _ => {}
        }
    }
    let (mut found, mut bad) = (Vec::new(), Vec::new());
    for (i, t) in toks.iter().enumerate() {
        if t.kind != Kind::Comment {
            continue;
        }
        let body = t.text.trim_start_matches('#').trim();
        let Some(rest) = body.strip_prefix(MARKER) else {
            continue;
        };
        let rest = rest.trim();
        let Some(list) = rest.strip_prefix("allow") else {
            bad.push(BadSuppression {
                start: t.start,
                end: t.start + t.text.len(),
                message: format!(
                    "unknown tcc directive `{rest}`: only `# tcc: allow CODE` is understood"
                ),
            });
            continue;
        };
        let mut codes = Vec::new();
        for word in list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
        {
            match Code::parse(word) {
                Some(c) if c.severity() == Severity::Error => bad.push(BadSuppression {
                    start: t.start,
                    end: t.start + t.text.len(),
                    message: format!("{c} is an error and cannot be allowed"),
                }),
                Some(c) => codes.push(c),
                None => bad.push(BadSuppression {
                    start: t.start,
                    end: t.start + t.text.len(),
                    message: format!("unknown diagnostic code `{word}` in suppression"),
                }),
            }
        }
        if codes.is_empty() {
            continue;
        }
        // The line: from its start to its end.
        let line_start = text[..t.start].rfind('\n').map_or(0, |p| p + 1);
        let mut end = t.start + t.text.len();
        // A block opened on this line and left open covers through its `}`.
        let first_on_line = toks[..i]
            .iter()
            .rposition(|x| x.kind == Kind::Newline || x.kind == Kind::Continuation)
            .map_or(0, |p| p + 1);
        let mut depth = 0i64;
        let mut opener = None;
        for (j, x) in toks.iter().enumerate().take(i).skip(first_on_line) {
            match x.kind {
                Kind::LBrace => {
                    if depth == 0 {
                        opener = Some(j);
                    }
                    depth += 1;
                }
                Kind::RBrace => {
                    depth -= 1;
                    if depth <= 0 {
                        depth = 0;
                        opener = None;
                    }
                }
                _ => {}
            }
        }
        if let Some(close) = opener.and_then(|o| close_of.get(&o)) {
            let c = &toks[*close];
            end = end.max(c.start + c.text.len());
        }
        found.push(Suppression {
            codes,
            start: line_start,
            end,
            comment_start: t.start,
            comment_end: t.start + t.text.len(),
        });
    }
    (found, bad)
}

/// Whether `d` (in a file with these suppressions) is suppressed: its primary span starts in a
/// covered range that names its code.
pub fn is_suppressed(sups: &[Suppression], d: &Diagnostic) -> bool {
    sups.iter().any(|s| {
        s.codes.contains(&d.code)
            && d.primary.start >= s.start
            && d.primary.start < s.end.max(s.start + 1)
    })
}

/// Apply the suppression comments of `text` (file `file`) to its diagnostics, and report the
/// comments tcc cannot follow (W0107) among them, in place. A `# tcc: allow W0107` silences
/// those too.
pub fn apply_suppressions(file: usize, text: &str, diags: &mut Diagnostics) {
    let (sups, bad) = suppressions(text);
    if !bad.is_empty() {
        diags.items.extend(bad.into_iter().map(|b| {
            Diagnostic::new(
                Code::BadSuppression,
                Span::new(file, b.start, b.end),
                b.message,
            )
        }));
        diags
            .items
            .sort_by_key(|d| (d.primary.file, d.primary.start));
    }
    diags.items.retain(|d| !is_suppressed(&sups, d));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_block_suppressions() {
        let src = "let a = 1 # tcc: allow W0104\n\
                   interface eth0 { # tcc: allow W0101, W0105\n  rate 1mbit\n}\n\
                   let b = 2\n";
        let (s, bad) = suppressions(src);
        assert!(bad.is_empty());
        assert_eq!(s.len(), 2);
        assert_eq!(&src[s[0].start..s[0].end], "let a = 1 # tcc: allow W0104");
        assert!(src[s[1].start..s[1].end].starts_with("interface eth0 {"));
        assert!(src[s[1].start..s[1].end].ends_with("rate 1mbit\n}"));
        assert_eq!(s[1].codes, vec![Code::NoDefault, Code::ShadowedMatch]);
    }

    #[test]
    fn bad_suppressions_are_reported() {
        let (s, bad) = suppressions("# tcc: allow E0201 W9999\n# tcc: deny W0101\n");
        assert!(s.is_empty());
        assert_eq!(bad.len(), 3, "{bad:?}");
    }

    #[test]
    fn levels() {
        let l = Levels::new(
            &[Selector::Code(Code::Unused)],
            &[Selector::Code(Code::JumboMtu)],
            &[Selector::Warnings],
        )
        .unwrap();
        assert_eq!(l.severity(Code::Unused), None);
        assert_eq!(l.severity(Code::JumboMtu), Some(Severity::Error));
        assert_eq!(l.severity(Code::QuantumSet), Some(Severity::Hint));
        assert_eq!(l.severity(Code::NoDefault), Some(Severity::Error));
        assert_eq!(l.severity(Code::Oversubscribed), Some(Severity::Error));
        assert!(Levels::new(&[Selector::Code(Code::Oversubscribed)], &[], &[]).is_err());
        assert!(parse_selector("W010")
            .unwrap_err()
            .to_string()
            .contains("W0101"));
    }
}
