//! `tcc fmt`: one canonical layout for `.shape` files, keeping every comment.
//!
//! The formatter works on the comment-preserving token stream of `lex` (the pest grammar drops
//! comments). It rebuilds the statement structure from the tokens (a statement ends at a line
//! break or `;` outside `[ ]` and not after a `,`, or after its `{ }` block, or at a `}`) and
//! prints it again, so every line break and space depends on the tokens alone:
//! - one statement per line, indented four spaces per block; `;` separators become line breaks;
//! - a block with no nested block and no comment inside that fits in [`WIDTH`] columns on one
//!   line is printed on one line (`class video { rate 60mbit; ceil 80mbit }`); any other block
//!   is expanded: `{` ends its line, one statement per line, `}` on a line of its own;
//! - a statement is one line (`\` continuations and line breaks after `,` are joined), except
//!   that a `[ ]` list is expanded one element per line when the line would pass [`WIDTH`]
//!   columns or a comment is inside it; a comment inside a statement ends its line and the
//!   statement continues one level deeper;
//! - trailing comments on consecutive lines are aligned one space after the longest code.
//!
//! Two choices of the author are kept, as gofmt and rustfmt keep them: whether a comment stands
//! on its own line or trails the code before it, and a blank line between two statements (at
//! most one, where the input had at least one; none at the start or end of a block or file, or
//! inside a block printed on one line). Only whitespace and `;` separators change, and only
//! where the grammar allows, so the formatted file means exactly the same;
//! `format(format(x)) == format(x)`, and any re-spaced or re-wrapped version of a file formats
//! to the same text.

use super::token::{self as lex, Kind, Token};
use crate::diagnostic::Diagnostic;

const INDENT: &str = "    ";
/// Lines longer than this are expanded where the layout can (blocks, lists).
pub const WIDTH: usize = 100;

/// Format `text`. Files that do not parse are refused with the syntax error (formatting them
/// could only guess).
pub fn format(text: &str) -> Result<String, Diagnostic> {
    crate::syntax::parse(0, text)?;
    Ok(layout(text))
}

/// One significant token (not a space, line break, `;` or `\` continuation) and what the
/// whitespace before it held.
#[derive(Clone, Copy)]
struct Sig<'a> {
    tok: Token<'a>,
    /// A line break or `;` since the previous significant token (or the start of the file).
    sep: bool,
    /// A line break since the previous significant token (or the start of the file).
    newline: bool,
    /// An empty line since the previous significant token.
    blank: bool,
}

enum Node<'a> {
    Comment {
        text: &'a str,
        own_line: bool,
        blank: bool,
    },
    Stmt {
        /// The statement without its block; comments inside it included.
        toks: Vec<Sig<'a>>,
        block: Option<Vec<Node<'a>>>,
        blank: bool,
    },
}

fn significant(text: &str) -> Vec<Sig<'_>> {
    let mut out = Vec::new();
    let (mut sep, mut newline, mut blank) = (true, true, false);
    let mut line_empty = true; // only spaces since the last line break
    for t in lex::tokens(text) {
        match t.kind {
            Kind::Space | Kind::Continuation => {}
            Kind::Newline => {
                if line_empty && newline && !out.is_empty() {
                    blank = true;
                }
                sep = true;
                newline = true;
                line_empty = true;
            }
            Kind::Semi => {
                sep = true;
                line_empty = false;
            }
            _ => {
                out.push(Sig {
                    tok: t,
                    sep,
                    newline,
                    blank,
                });
                sep = false;
                newline = false;
                blank = false;
                line_empty = false;
            }
        }
    }
    out
}

/// Build the statement tree. `pos` advances; returns at a `}` closing this body (consumed by
/// the caller) or at the end. Recursion is bounded by the caller's nesting check.
fn body<'a>(toks: &[Sig<'a>], pos: &mut usize, nested: bool) -> Vec<Node<'a>> {
    let mut nodes = Vec::new();
    let mut cur: Vec<Sig<'a>> = Vec::new();
    let mut brackets = 0usize;
    // The statement continues past a line break (inside `[ ]`, or after a `,`).
    let continues = |cur: &[Sig<'a>], brackets: usize| {
        brackets > 0
            || cur
                .iter()
                .rev()
                .find(|s| s.tok.kind != Kind::Comment)
                .is_some_and(|s| s.tok.kind == Kind::Comma)
    };
    let flush =
        |cur: &mut Vec<Sig<'a>>, nodes: &mut Vec<Node<'a>>, block: Option<Vec<Node<'a>>>| {
            if !cur.is_empty() || block.is_some() {
                let blank = cur.first().is_some_and(|s| s.blank);
                nodes.push(Node::Stmt {
                    toks: std::mem::take(cur),
                    block,
                    blank,
                });
            }
        };
    while *pos < toks.len() {
        let s = toks[*pos];
        if s.sep && !cur.is_empty() && !continues(&cur, brackets) {
            flush(&mut cur, &mut nodes, None);
            brackets = 0;
        }
        match s.tok.kind {
            Kind::Comment if cur.is_empty() || !continues(&cur, brackets) => {
                flush(&mut cur, &mut nodes, None);
                brackets = 0;
                nodes.push(Node::Comment {
                    text: s.tok.text.trim_end(),
                    own_line: s.newline,
                    blank: s.blank,
                });
                *pos += 1;
            }
            Kind::RBrace if brackets == 0 && nested => {
                flush(&mut cur, &mut nodes, None);
                return nodes;
            }
            Kind::LBrace if brackets == 0 => {
                *pos += 1;
                let inner = body(toks, pos, true);
                *pos += 1; // the `}` (or the end)
                if cur.is_empty() {
                    // A bare block (not in parsed files): keep its blank line.
                    cur.push(Sig {
                        tok: Token {
                            kind: Kind::Other,
                            text: "",
                            start: s.tok.start,
                        },
                        ..s
                    });
                }
                flush(&mut cur, &mut nodes, Some(inner));
            }
            k => {
                match k {
                    Kind::LBracket => brackets += 1,
                    Kind::RBracket => brackets = brackets.saturating_sub(1),
                    _ => {}
                }
                cur.push(s);
                *pos += 1;
            }
        }
    }
    flush(&mut cur, &mut nodes, None);
    nodes
}

/// The pure layout pass (no parse): any text in, never panics, linear apart from the nesting
/// cap. Text nested deeper than a parseable file can be is returned unchanged.
pub fn layout(text: &str) -> String {
    if too_deep(text) {
        return text.to_string();
    }
    let toks = significant(text);
    let mut pos = 0;
    let mut nodes = Vec::new();
    while pos < toks.len() {
        nodes.extend(body(&toks, &mut pos, false));
    }
    let mut out = Out::default();
    out.body(&nodes, 0);
    out.finish()
}

fn too_deep(text: &str) -> bool {
    let (mut braces, mut brackets) = (0usize, 0usize);
    for t in lex::tokens(text) {
        match t.kind {
            Kind::LBrace => braces += 1,
            Kind::RBrace => braces = braces.saturating_sub(1),
            Kind::LBracket => brackets += 1,
            Kind::RBracket => brackets = brackets.saturating_sub(1),
            _ => {}
        }
        if braces > crate::syntax::parser::MAX_NESTING
            || brackets > crate::syntax::parser::MAX_NESTING
        {
            return true;
        }
    }
    false
}

#[derive(Default)]
struct OLine {
    level: usize,
    code: String,
    comment: Option<String>,
    blank_before: bool,
}

#[derive(Default)]
struct Out {
    lines: Vec<OLine>,
}

impl Out {
    fn push(&mut self, level: usize, code: String, blank_before: bool) {
        self.lines.push(OLine {
            level,
            code,
            comment: None,
            blank_before,
        });
    }

    /// A comment after code on the last line, or on a line of its own.
    fn comment(&mut self, text: &str, own_line: bool, level: usize, blank: bool) {
        match self.lines.last_mut() {
            Some(l) if !own_line && l.comment.is_none() => l.comment = Some(text.to_string()),
            _ => {
                self.push(level, String::new(), blank);
                self.lines.last_mut().expect("pushed").comment = Some(text.to_string());
            }
        }
    }

    fn body(&mut self, nodes: &[Node<'_>], level: usize) {
        for (i, node) in nodes.iter().enumerate() {
            match node {
                Node::Comment {
                    text,
                    own_line,
                    blank,
                } => self.comment(
                    text,
                    *own_line || self.lines.is_empty(),
                    level,
                    *blank && i > 0,
                ),
                Node::Stmt { toks, block, blank } => {
                    let blank = *blank && i > 0;
                    match block {
                        None => self.stmt(toks, level, blank, ""),
                        Some(inner) => match one_line(toks, inner) {
                            Some(flat) if level * INDENT.len() + flat.chars().count() <= WIDTH => {
                                self.push(level, flat, blank)
                            }
                            _ => {
                                self.stmt(toks, level, blank, " {");
                                self.body(inner, level + 1);
                                self.push(level, "}".to_string(), false);
                            }
                        },
                    }
                }
            }
        }
    }

    /// One statement (without its block; `suffix` is ` {` when one follows).
    fn stmt(&mut self, toks: &[Sig<'_>], level: usize, blank: bool, suffix: &str) {
        let has_comment = toks.iter().any(|s| s.tok.kind == Kind::Comment);
        if !has_comment {
            let flat = join(toks.iter().map(|s| s.tok)) + suffix;
            let has_list = toks.iter().any(|s| s.tok.kind == Kind::LBracket);
            if !has_list || level * INDENT.len() + flat.chars().count() <= WIDTH {
                self.push(level, flat, blank);
                return;
            }
        }
        // Expanded: every outermost list one element per line, a break after every comment.
        self.push(level, String::new(), blank);
        let mut depth = 0usize; // `[ ]` depth
        let mut line_level = level;
        let mut brk: Option<usize> = None; // a line break is due, to this level
        let mut prev: Option<Kind> = None;
        for s in toks {
            let k = s.tok.kind;
            if k == Kind::Comment {
                let own = s.newline && !self.lines.last().is_some_and(|l| l.code.is_empty());
                let at = brk.unwrap_or(line_level);
                self.comment(s.tok.text.trim_end(), own, at, false);
                brk = Some(level + 1);
                line_level = brk.unwrap();
                continue;
            }
            if k == Kind::RBracket && depth == 1 {
                brk = Some(level);
            }
            if let Some(l) = brk.take() {
                self.push(l, String::new(), false);
                line_level = l;
                prev = None;
            }
            let line = &mut self.lines.last_mut().expect("pushed").code;
            if let Some(p) = prev {
                if !tight(p, k) {
                    line.push(' ');
                }
            }
            *line += s.tok.text;
            prev = Some(k);
            match k {
                Kind::LBracket => {
                    depth += 1;
                    if depth == 1 {
                        brk = Some(level + 1);
                    }
                }
                Kind::RBracket => depth = depth.saturating_sub(1),
                Kind::Comma if depth == 1 => brk = Some(level + 1),
                _ => {}
            }
        }
        let line = &mut self.lines.last_mut().expect("pushed").code;
        *line += suffix;
    }

    fn finish(self) -> String {
        let mut out = String::new();
        let lines = &self.lines;
        let mut i = 0;
        while i < lines.len() {
            // A run of consecutive lines with code and a trailing comment: the comments line up
            // one space after the longest code.
            let mut j = i;
            let mut col = 0;
            while j < lines.len()
                && !lines[j].code.is_empty()
                && lines[j].comment.is_some()
                && (j == i || !lines[j].blank_before)
            {
                col = col.max(lines[j].level * INDENT.len() + lines[j].code.chars().count() + 1);
                j += 1;
            }
            let j = j.max(i + 1);
            for l in &lines[i..j] {
                if l.blank_before && !out.is_empty() {
                    out.push('\n');
                }
                let mut s = format!("{}{}", INDENT.repeat(l.level), l.code);
                if let Some(c) = &l.comment {
                    if !l.code.is_empty() {
                        let pad = col.saturating_sub(s.chars().count()).max(1);
                        s += &" ".repeat(pad);
                    }
                    s += c;
                }
                out += s.trim_end();
                out.push('\n');
            }
            i = j;
        }
        out
    }
}

/// The block's statements on one line, when it may be printed so: no nested block, no comment.
fn one_line(head: &[Sig<'_>], inner: &[Node<'_>]) -> Option<String> {
    let mut parts = Vec::new();
    for n in inner {
        match n {
            Node::Stmt {
                toks, block: None, ..
            } if !toks.iter().any(|s| s.tok.kind == Kind::Comment) => {
                parts.push(join(toks.iter().map(|s| s.tok)))
            }
            _ => return None,
        }
    }
    if head.iter().any(|s| s.tok.kind == Kind::Comment) {
        return None;
    }
    let head = join(head.iter().map(|s| s.tok));
    Some(if parts.is_empty() {
        format!("{head} {{}}")
    } else {
        format!("{head} {{ {} }}", parts.join("; "))
    })
}

/// No space between these two tokens.
fn tight(prev: Kind, next: Kind) -> bool {
    matches!(prev, Kind::LBracket | Kind::Bang) || matches!(next, Kind::Comma | Kind::RBracket)
}

/// Tokens with canonical spacing.
fn join<'a>(toks: impl Iterator<Item = Token<'a>>) -> String {
    let mut s = String::new();
    let mut prev: Option<Kind> = None;
    for t in toks {
        if let Some(p) = prev {
            if !tight(p, t.kind) {
                s.push(' ');
            }
        }
        s += t.text;
        prev = Some(t.kind);
    }
    s
}

/// The tokens of `text` that formatting must keep equal: all but whitespace and the `;`
/// separators (which become line breaks); comments included.
pub fn significant_tokens(text: &str) -> Vec<String> {
    lex::tokens(text)
        .into_iter()
        .filter(|t| {
            !matches!(
                t.kind,
                Kind::Space | Kind::Newline | Kind::Continuation | Kind::Semi
            )
        })
        .map(|t| {
            if t.kind == Kind::Comment {
                t.text.trim_end().to_string()
            } else {
                t.text.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_layout() {
        let src = "\n\n# head\nlet  x=1.2.3.4   # the host\nlet yy = [ 1 ,2 ]  # list\n\n\n\ninterface eth0{\n\n  rate 10mbit;ceil 10mbit\n\tclass a{rate 1mbit ;match tcp dst $x,\n 1.2.3.5}\n  match ! tcp\n\n}\n\n";
        let want = "# head\nlet x = 1.2.3.4 # the host\nlet yy = [1, 2] # list\n\ninterface eth0 {\n    rate 10mbit\n    ceil 10mbit\n    class a { rate 1mbit; match tcp dst $x, 1.2.3.5 }\n    match !tcp\n}\n";
        assert_eq!(format(src).unwrap(), want);
        assert_eq!(format(want).unwrap(), want);
    }

    #[test]
    fn blocks_expand_for_nesting_comments_and_width() {
        let src = "interface eth0 { rate 1mbit; default a; class a { rate 1mbit } class b { rate 1mbit # b\n }\n class c { rate 1mbit; ceil 1mbit; match tcp dport 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 } }\n";
        let want = "interface eth0 {\n    rate 1mbit\n    default a\n    class a { rate 1mbit }\n    class b {\n        rate 1mbit # b\n    }\n    class c {\n        rate 1mbit\n        ceil 1mbit\n        match tcp dport 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15\n    }\n}\n";
        assert_eq!(format(src).unwrap(), want);
        assert_eq!(format(want).unwrap(), want);
    }

    #[test]
    fn long_or_commented_lists_go_one_element_per_line() {
        let long = (0..20).map(|i| format!("10.0.0.{i}")).collect::<Vec<_>>();
        let src = format!(
            "let hosts = [{}]\nlet b = [1, # one\n 2]\n",
            long.join(", ")
        );
        let got = format(&src).unwrap();
        let mut want = String::from("let hosts = [\n");
        for (i, h) in long.iter().enumerate() {
            want += &format!("    {h}{}\n", if i + 1 < long.len() { "," } else { "" });
        }
        want += "]\nlet b = [\n    1, # one\n    2\n]\n";
        assert_eq!(got, want);
        assert_eq!(format(&got).unwrap(), got);
    }

    #[test]
    fn blank_line_after_a_continuation_is_harmless() {
        // Found by the fuzzer: the blank line after a `\` ends the statement.
        let src = "interface eth1 {\n    default a\n    class a { rate 1mbit } \\\n\n}\n";
        assert_eq!(
            layout(src),
            "interface eth1 {\n    default a\n    class a { rate 1mbit }\n}\n"
        );
        let src = "interface eth1 {\n    rate 1mbit \\\n\n    ceil 2mbit\n}\n";
        assert_eq!(layout(src), "interface eth1 { rate 1mbit; ceil 2mbit }\n");
    }
}
