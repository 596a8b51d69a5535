//! Syntax-error recovery: every syntax error in one run, each bad statement once at its place
//! at any depth, unclosed and unmatched braces (and unclosed `[`) named with where they opened,
//! and the likely fix where one is likely.
//!
//! pest stops at the first error, so after a failed parse the file is split into top-level
//! items by brace matching on the token stream (`token::tokens`, which knows strings, comments
//! and `${var}`; a string left open ends before a brace in it), and each item is parsed on its
//! own (its text is a valid file by itself when it is right); an item that fails is taken apart
//! statement by statement and block by block (`recover_body`). Positions stay those of the
//! whole file. Hints look at the tokens around an error: `port` (`dport`/`sport`), a dotted
//! name (quote it), a variable pasted into an address, a `{` on the line after its statement,
//! an unclosed `[`, a string left open, two statements on one line.

use super::parser::{syntax_error, Rule, ShapeParser};
use super::recover_body::{braces_out_of_open_strings, Body, Stmts};
use super::token::{Kind, Token};
use crate::diagnostic::{Code, Diagnostic, Span};
use pest::Parser as _;

/// At most this many syntax errors are reported; the last one says so.
pub const MAX_ERRORS: usize = 20;

pub(super) const BLOCK_KEYWORDS: [&str; 6] =
    ["interface", "class", "template", "rule", "for", "ingress"];
/// Statements that only stand at the top level: at the start of a line inside an open block,
/// they show that the block lost its `}`.
const TOP_LEVEL: [&str; 4] = ["interface", "template", "rule", "let"];

/// One top-level item: its byte range, and the line breaks inside it that a `{` on the next
/// line made part of it (parsed as spaces, reported on their own).
struct Item {
    start: usize,
    end: usize,
    joined: Vec<(usize, usize)>,
    /// It holds a `{` that is never closed.
    unclosed: bool,
}

/// The syntax errors of a file that pest refused (empty if the items all parse, which leaves
/// the caller with pest's own error).
pub fn errors(file: usize, text: &str) -> Vec<Diagnostic> {
    let toks: Vec<Token<'_>> = braces_out_of_open_strings(text);
    let mut diags = Vec::new();
    let mut items: Vec<Item> = Vec::new();
    let mut stack: Vec<usize> = Vec::new(); // token indexes of open `{`
    let mut brackets = 0usize;
    let mut start: Option<usize> = None;
    let mut first_word: Option<&str> = None;
    // The previous item ended at a line break (not a `;`), with only line breaks, spaces and
    // comments since: (its index in `items`, its first word, where the break started).
    let mut ended_by_newline: Option<(usize, Option<&str>, usize)> = None;
    let mut last: Option<Kind> = None;
    let mut joined: Vec<(usize, usize)> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            Kind::Space | Kind::Continuation | Kind::Comment => continue,
            Kind::Newline | Kind::Semi => {
                if stack.is_empty() && brackets == 0 && last != Some(Kind::Comma) {
                    if let Some(s) = start.take() {
                        items.push(Item {
                            start: s,
                            end: t.start,
                            joined: std::mem::take(&mut joined),
                            unclosed: false,
                        });
                        ended_by_newline = (t.kind == Kind::Newline)
                            .then(|| (items.len() - 1, first_word, t.start));
                    } else if t.kind == Kind::Semi {
                        ended_by_newline = None;
                    }
                }
                continue;
            }
            Kind::Word
                if !stack.is_empty()
                    && TOP_LEVEL.contains(&t.text)
                    && (t.start == 0 || text.as_bytes()[t.start - 1] == b'\n') =>
            {
                // A top-level statement at the start of a line while blocks are open: they
                // were never closed; the item ends here and the next one begins.
                let first = stack[0];
                diags.push(unclosed(file, text, &toks, first..i, &stack, t.start));
                items.push(Item {
                    start: start.take().unwrap_or(t.start),
                    end: t.start,
                    joined: std::mem::take(&mut joined),
                    unclosed: true,
                });
                stack.clear();
                brackets = 0;
            }
            Kind::LBrace => {
                brackets = 0; // a list never holds a block: an unclosed `[` ends here
                if stack.is_empty() && start.is_none() {
                    match ended_by_newline.take() {
                        Some((idx, Some(w), brk))
                            if idx + 1 == items.len() && BLOCK_KEYWORDS.contains(&w) =>
                        {
                            let prev = items.pop().expect("index checked");
                            diags.push(brace_on_next_line(
                                file, text, prev.start, prev.end, t.start,
                            ));
                            start = Some(prev.start);
                            first_word = Some(w);
                            joined.push((brk, t.start));
                        }
                        _ => {
                            start = Some(t.start);
                            first_word = None;
                        }
                    }
                }
                stack.push(i);
            }
            Kind::RBrace => {
                brackets = 0;
                if stack.pop().is_none() {
                    diags.push(
                        Diagnostic::new(
                            Code::Syntax,
                            Span::new(file, t.start, t.start + 1),
                            "unexpected `}`: no `{` is open here",
                        )
                        .label("this `}` closes nothing")
                        .help("remove it, or look for the `{` it was meant to close"),
                    );
                    last = Some(t.kind);
                    continue;
                }
                if start.is_none() {
                    start = Some(t.start);
                }
                if stack.is_empty() && brackets == 0 {
                    let s = start.take().expect("set above");
                    items.push(Item {
                        start: s,
                        end: t.start + 1,
                        joined: std::mem::take(&mut joined),
                        unclosed: false,
                    });
                    ended_by_newline = None;
                    last = Some(t.kind);
                    continue;
                }
            }
            Kind::LBracket => brackets += 1,
            Kind::RBracket => brackets = brackets.saturating_sub(1),
            _ => {}
        }
        if start.is_none() {
            start = Some(t.start);
            first_word = (t.kind == Kind::Word).then_some(t.text);
            ended_by_newline = None;
        }
        last = Some(t.kind);
    }
    if let Some(s) = start {
        items.push(Item {
            start: s,
            end: text.len(),
            joined: std::mem::take(&mut joined),
            unclosed: !stack.is_empty(),
        });
    }
    let merged = items;
    if !stack.is_empty() {
        let first = stack[0];
        diags.push(unclosed(
            file,
            text,
            &toks,
            first..toks.len(),
            &stack,
            text.len(),
        ));
    }
    for it in &merged {
        let mut sub: String = text[it.start..it.end].to_string();
        for &(a, b) in &it.joined {
            // Line breaks between a statement and its `{` count as spaces here.
            let (a, b) = (a - it.start, b - it.start);
            let spaces = " ".repeat(b - a);
            sub.replace_range(a..b, &spaces);
        }
        if let Err(e) = ShapeParser::parse(Rule::file, &sub) {
            // Every statement's error, at every depth; the item's first error if that finds
            // none (the pieces and the whole can disagree only on text the grammar rejects).
            let lo = toks.partition_point(|t| t.start < it.start);
            let hi = toks.partition_point(|t| t.start < it.end);
            let mut each = Stmts {
                file,
                text,
                toks: &toks,
                diags: Vec::new(),
            };
            each.body(lo, hi, it.end, Body::Top);
            let found = each.diags.into_iter().filter(|d| {
                // At the end of an unclosed item, the unclosed `{` above says it.
                !(it.unclosed && d.primary.start >= it.end.min(text.len()))
            });
            let before = diags.len();
            diags.extend(found);
            if diags.len() == before {
                let d = syntax_error(file, text, it.start, e);
                if !(it.unclosed && d.primary.start >= it.end.min(text.len())) {
                    diags.push(hint(d, &toks));
                }
            }
            if diags.len() > MAX_ERRORS {
                break;
            }
        }
    }
    diags.sort_by_key(|d| d.primary.start);
    if diags.len() > MAX_ERRORS {
        diags.truncate(MAX_ERRORS);
        let last = diags.pop().expect("non-empty");
        diags.push(last.note(format!(
            "stopped after {MAX_ERRORS} syntax errors; there may be more"
        )));
    }
    diags
}

pub(super) fn brace_on_next_line(
    file: usize,
    text: &str,
    start: usize,
    end: usize,
    brace: usize,
) -> Diagnostic {
    let head = text[start..end].trim_end();
    Diagnostic::new(
        Code::Syntax,
        Span::new(file, brace, brace + 1),
        "a `{` must be on the same line as its statement",
    )
    .label("this `{` starts a new line")
    .secondary(
        Span::new(file, start, start + head.len()),
        "this statement ended at the end of its line",
    )
    .help(format!(
        "a line break ends a statement; put the `{{` on the same line: `{head} {{`"
    ))
}

/// The file ends with `{`s open: name each one, and where an indentation mismatch suggests
/// which `{` lost its `}`.
fn unclosed(
    file: usize,
    text: &str,
    all: &[Token<'_>],
    range: std::ops::Range<usize>,
    open: &[usize],
    at: usize,
) -> Diagnostic {
    let toks = &all[range];
    let (what, label) = if at >= text.len() {
        ("the file ends", "expected `}` before the end of the file")
    } else {
        (
            "a top-level statement starts",
            "expected `}` before this statement",
        )
    };
    // The keyword that starts the statement (or nothing, at the end of the file).
    let end = at + text[at..].find(|c: char| !c.is_alphanumeric()).unwrap_or(0);
    let mut d = Diagnostic::new(
        Code::Syntax,
        Span::new(file, at, end),
        if open.len() == 1 {
            format!("unclosed `{{`: {what} before it is closed")
        } else {
            format!(
                "{} unclosed `{{`: {what} before they are closed",
                open.len()
            )
        },
    )
    .label(label);
    for &i in open {
        let t = all[i];
        d = d.secondary(
            Span::new(file, t.start, t.start + 1),
            format!(
                "this `{{` opened {} is never closed",
                line_head(text, t.start)
            ),
        );
    }
    // A `}` that closes a `{` whose line is indented differently probably belongs to an outer
    // `{`: the `{` it closes is the likely culprit (rustc's heuristic).
    if let Some((o, c)) = indentation_mismatch(text, toks) {
        d = d
            .secondary(
                Span::new(file, o, o + 1),
                "this `{` might not be properly closed...",
            )
            .secondary(
                Span::new(file, c, c + 1),
                "...as it matches this `}`, which is indented differently",
            );
    }
    d.help("add the missing `}` where the block ends")
}

/// `on line N (`header`)`.
fn line_head(text: &str, at: usize) -> String {
    let line = text[..at].matches('\n').count() + 1;
    let start = text[..at].rfind('\n').map_or(0, |p| p + 1);
    let head = text[start..at].trim();
    if head.is_empty() {
        format!("on line {line}")
    } else {
        format!("on line {line} (`{head}`)")
    }
}

fn indent_of(text: &str, at: usize) -> (usize, bool) {
    let start = text[..at].rfind('\n').map_or(0, |p| p + 1);
    let line = &text[start..];
    let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
    (indent, start + indent == at)
}

/// The first `{ … }` pair whose `}` starts its line at another indentation than the `{`'s line.
fn indentation_mismatch(text: &str, toks: &[Token<'_>]) -> Option<(usize, usize)> {
    let mut stack = Vec::new();
    for t in toks {
        match t.kind {
            Kind::LBrace => stack.push(t.start),
            Kind::RBrace => {
                let o = stack.pop()?;
                let (ci, first) = indent_of(text, t.start);
                let (oi, _) = indent_of(text, o);
                let same_line = !text[o..t.start].contains('\n');
                if first && !same_line && ci != oi {
                    return Some((o, t.start));
                }
            }
            _ => {}
        }
    }
    None
}

/// The likely fix for a syntax error, from the tokens around it.
pub(super) fn hint(d: Diagnostic, toks: &[Token<'_>]) -> Diagnostic {
    let (pos, file) = (d.primary.start, d.primary.file);
    let Some(at) = toks.iter().position(|t| t.start + t.text.len() > pos) else {
        return d;
    };
    let before: Vec<&Token<'_>> = toks[..at]
        .iter()
        .rev()
        .filter(|t| !matches!(t.kind, Kind::Space | Kind::Continuation))
        .take(2)
        .collect();
    let here = toks[at];
    let glued = at > 0
        && toks[at - 1].kind == Kind::Word
        && toks[at - 1].start + toks[at - 1].text.len() == here.start;
    // `match tcp port 22`: `port` is read as a rule's name.
    if let Some(p) = before.first().filter(|t| t.text == "port") {
        return d
            .secondary(
                Span::new(file, p.start, p.start + 4),
                "`port` is not a match criterion (read as the name of a rule)",
            )
            .help(format!(
                "to match a port write `dport {0}` (destination port) or `sport {0}` (source port)",
                here.text.trim()
            ));
    }
    // `class "web {`: a string left open runs to the end of its line.
    if d.message.starts_with("expected the closing `\"`") {
        if let Some(q) = toks[..at.min(toks.len())]
            .iter()
            .rev()
            .find(|t| t.kind == Kind::Str)
        {
            return d
                .secondary(
                    Span::new(file, q.start, q.start + 1),
                    "this string is never closed",
                )
                .help("close the string with `\"` on the same line (a string cannot span lines)");
        }
    }
    // `rate 1mbit ceil 2mbit`: two statements on one line.
    if d.message
        .starts_with("expected the end of the statement, found `")
        && here.kind == Kind::Word
    {
        return d.help(format!(
            "a statement ends at a line break or `;`: put `{}` on a line of its own or write \
             `;` before it",
            here.text
        ));
    }
    // `[25, 587 }`: a list that is never closed (the error is at its `[`, or inside it where a
    // value that could go on was tried last).
    let open_list = if here.kind == Kind::LBracket {
        Some(at)
    } else {
        let mut depth = 0usize;
        let mut found = None;
        for i in (0..at).rev() {
            match toks[i].kind {
                Kind::RBracket => depth += 1,
                Kind::LBracket if depth == 0 => {
                    found = Some(i);
                    break;
                }
                Kind::LBracket => depth -= 1,
                Kind::LBrace | Kind::RBrace => break,
                _ => {}
            }
        }
        found
    };
    if let Some(at) = open_list {
        let here = toks[at];
        let mut depth = 0usize;
        let stop = toks[at..].iter().find(|t| {
            match t.kind {
                Kind::LBracket => depth += 1,
                Kind::RBracket => depth = depth.saturating_sub(1),
                _ => {}
            }
            depth == 0 || matches!(t.kind, Kind::LBrace | Kind::RBrace)
        });
        if depth > 0 {
            let (label, end) = match stop {
                Some(t) => (format!("expected `]` before this `{}`", t.text), t.start),
                None => (
                    "expected `]` before the end of the file".to_string(),
                    toks.last().map_or(pos, |t| t.start + t.text.len()),
                ),
            };
            let close = end + usize::from(stop.is_some());
            return Diagnostic::new(
                Code::Syntax,
                Span::new(file, here.start, here.start + 1),
                "unclosed `[`: the list is never closed",
            )
            .label("this `[` is never closed")
            .secondary(Span::new(file, end, close), label)
            .help("close the list with `]` after its last value");
        }
    }
    // `dst 192.168.10.${h}`: a variable pasted into an address.
    if here.kind == Kind::Word && glued_var(here.text) || (glued && here.text.starts_with('$')) {
        let word = if glued {
            format!("{}{}", toks[at - 1].text, here.text)
        } else {
            here.text.to_string()
        };
        return d
            .note(format!(
                "`{word}` pastes a variable into a value: a variable stands for a whole value, \
                 and an address cannot be built from pieces (a string `\"{word}\"` is a name, \
                 not an address)"
            ))
            .help(
                "loop over the addresses themselves: `for h in [192.168.10.1, 192.168.10.2] { \
                 ... match dst $h }`, or over a list variable of addresses",
            );
    }
    // `interface eth0.100`: a name with `.`, `:` or `/` is not a bare name.
    if let Some(k) = before
        .first()
        .filter(|t| BLOCK_KEYWORDS[..4].contains(&t.text))
    {
        if here.kind == Kind::Word && here.text.contains(['.', ':', '/', '%']) {
            return d.help(format!(
                "a name with `{}` in it must be quoted: `{} \"{}\"`",
                here.text
                    .chars()
                    .find(|c| ".:/%".contains(*c))
                    .expect("checked"),
                k.text,
                here.text
            ));
        }
    }
    d
}

/// A word such as `192.168.10.${h}` or `10.0.$x.1`: value characters glued to a `$` reference.
fn glued_var(w: &str) -> bool {
    w.find('$').is_some_and(|i| i > 0) && w.as_bytes()[0].is_ascii_digit()
}
