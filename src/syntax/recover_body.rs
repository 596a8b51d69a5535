//! Syntax-error recovery inside one top-level item (see `recover`): each statement is parsed
//! on its own, with its blocks' insides blanked so that positions stay those of the file, then
//! each block's statements (a rule's lines as match criteria), so that every bad statement is
//! reported once, at its place, at any depth. Statements end at a line break or `;` outside
//! blocks and lists (not after a `,`), and after a block's `}`.

use super::parser::{syntax_error, Rule, ShapeParser};
use super::recover::{brace_on_next_line, hint, BLOCK_KEYWORDS, MAX_ERRORS};
use super::token::{tokens, Kind, Token};
use crate::diagnostic::Diagnostic;
use pest::Parser as _;

/// What a body holds: the top level of one item (its `{` on the next line is already
/// reported), statements (a block's), or criteria lines (a rule's).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Body {
    Top,
    Stmts,
    Criteria,
}

/// One statement of a body: its bytes (up to its separator, or its block's `}`), its first
/// word, the blocks at its own level (token indexes of `{` and of `}` unless unclosed), and
/// the line breaks a `{` on the next line made part of it.
struct Piece<'a> {
    start: usize,
    end: usize,
    first_word: Option<&'a str>,
    blocks: Vec<(usize, Option<usize>)>,
    joined: Vec<(usize, usize)>,
}

/// Statement- and block-level recovery inside one item: each statement is parsed on its own
/// (with its blocks' insides blanked, so positions stay those of the file), then each block's
/// statements, so that every bad statement is reported once, at its place.
pub(super) struct Stmts<'a> {
    pub file: usize,
    pub text: &'a str,
    pub toks: &'a [Token<'a>],
    pub diags: Vec<Diagnostic>,
}

impl<'a> Stmts<'a> {
    /// The statements of `toks[lo..hi]`, a body that ends at byte `end` (the `}` that closes
    /// it, or the end of the item), split at line breaks and `;` outside blocks and lists (not
    /// after a `,`, which continues a list of values), and after a block's `}`.
    pub(super) fn body(&mut self, lo: usize, hi: usize, end: usize, kind: Body) {
        let toks = self.toks;
        let mut pieces: Vec<Piece<'a>> = Vec::new();
        let mut cur: Option<Piece<'a>> = None;
        let (mut depth, mut brackets) = (0usize, 0usize);
        let mut last: Option<Kind> = None;
        // The previous statement ended at a line break: (its index in `pieces`, the break).
        let mut ended_by_newline: Option<(usize, usize)> = None;
        for (i, t) in toks.iter().enumerate().take(hi).skip(lo) {
            match t.kind {
                Kind::Space | Kind::Continuation | Kind::Comment => continue,
                Kind::Newline | Kind::Semi => {
                    if depth == 0 && brackets == 0 && last != Some(Kind::Comma) {
                        if let Some(mut p) = cur.take() {
                            p.end = t.start;
                            pieces.push(p);
                            ended_by_newline =
                                (t.kind == Kind::Newline).then(|| (pieces.len() - 1, t.start));
                        } else if t.kind == Kind::Semi {
                            ended_by_newline = None;
                        }
                    }
                    continue;
                }
                Kind::LBrace => {
                    brackets = 0; // a list never holds a block: an unclosed `[` ends here
                    if depth == 0 {
                        let mut p = match (cur.take(), ended_by_newline.take()) {
                            (Some(p), _) => p,
                            (None, Some((idx, brk)))
                                if idx + 1 == pieces.len()
                                    && pieces[idx]
                                        .first_word
                                        .is_some_and(|w| BLOCK_KEYWORDS.contains(&w)) =>
                            {
                                let mut prev = pieces.pop().expect("index checked");
                                if kind != Body::Top {
                                    self.diags.push(brace_on_next_line(
                                        self.file, self.text, prev.start, prev.end, t.start,
                                    ));
                                }
                                prev.joined.push((brk, t.start));
                                prev
                            }
                            (None, _) => Piece {
                                start: t.start,
                                end,
                                first_word: None,
                                blocks: Vec::new(),
                                joined: Vec::new(),
                            },
                        };
                        p.blocks.push((i, None));
                        cur = Some(p);
                    }
                    depth += 1;
                    last = Some(t.kind);
                    continue;
                }
                Kind::RBrace => {
                    brackets = 0;
                    // The caller's braces match: a `}` here always closes a `{` of this body.
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        if let Some(mut p) = cur.take() {
                            if let Some(b) = p.blocks.last_mut() {
                                b.1 = Some(i);
                            }
                            // A block ends its statement; no separator is needed after it.
                            p.end = t.start + 1;
                            pieces.push(p);
                        }
                        ended_by_newline = None;
                        last = Some(t.kind);
                        continue;
                    }
                }
                Kind::LBracket => brackets += 1,
                Kind::RBracket => brackets = brackets.saturating_sub(1),
                _ => {}
            }
            if cur.is_none() {
                cur = Some(Piece {
                    start: t.start,
                    end,
                    first_word: (t.kind == Kind::Word).then_some(t.text),
                    blocks: Vec::new(),
                    joined: Vec::new(),
                });
                ended_by_newline = None;
            }
            last = Some(t.kind);
        }
        if let Some(mut p) = cur {
            p.end = end;
            pieces.push(p);
        }
        for p in pieces {
            if self.diags.len() > MAX_ERRORS {
                return;
            }
            self.statement(&p, hi, end, kind);
        }
    }

    /// Parse one statement with its blocks' insides blanked, then each block's body.
    fn statement(&mut self, p: &Piece<'a>, hi: usize, end: usize, kind: Body) {
        let (text, toks) = (self.text, self.toks);
        let mut sub = text[p.start..p.end].to_string();
        // Same length, so positions in `sub` stay those of the file minus `p.start`. A block's
        // inside keeps its line breaks (a string left open before it ends at its line).
        let mut blank = |a: usize, b: usize, breaks: bool| {
            let spaces: String = text[a..b]
                .bytes()
                .map(|c| match c {
                    b'\n' | b'\r' if breaks => c as char,
                    _ => ' ',
                })
                .collect();
            sub.replace_range(a - p.start..b - p.start, &spaces);
        };
        for &(a, b) in &p.joined {
            blank(a, b, false);
        }
        let mut inner = Vec::new();
        let mut unclosed = false;
        for &(o, c) in &p.blocks {
            let from = toks[o].start + 1;
            let (to, last) = match c {
                Some(c) => (toks[c].start, c),
                None => {
                    unclosed = true;
                    (end, hi)
                }
            };
            blank(from, to, true);
            inner.push((o + 1, last, to));
        }
        if unclosed {
            sub.push('}'); // the unclosed `{` is reported on its own
        }
        let rule = if kind == Body::Criteria {
            Rule::rule_line
        } else {
            Rule::file
        };
        if let Err(e) = ShapeParser::parse(rule, &sub) {
            let d = syntax_error(self.file, text, p.start, e);
            if !(unclosed && d.primary.start >= p.end) {
                self.diags.push(hint(d, toks));
            }
        }
        let inner_kind = match (kind, p.first_word) {
            (Body::Criteria, _) => Body::Stmts, // a block in a rule is already an error
            (_, Some("rule")) => Body::Criteria,
            _ => Body::Stmts,
        };
        for (lo, hi, end) in inner {
            self.body(lo, hi, end, inner_kind);
        }
    }
}

/// The tokens of `text`, except that a string left open (it runs to the end of its line) ends
/// before a `{` or `}` in it: `class "web {` most likely lost its closing `"`, not its block,
/// and reading the brace as one keeps the blocks matched (one error, not a cascade).
pub(super) fn braces_out_of_open_strings(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut from = 0;
    loop {
        let toks = tokens(&text[from..]);
        let cut = toks.iter().find_map(|t| {
            let open = t.kind == Kind::Str && !closed(t.text);
            let brace = t.text.find(['{', '}']).filter(|&b| b > 0);
            open.then_some(brace).flatten().map(|b| (t.start, b))
        });
        let Some((start, b)) = cut else {
            out.extend(toks.into_iter().map(|t| Token {
                start: t.start + from,
                ..t
            }));
            return out;
        };
        for t in toks.into_iter().take_while(|t| t.start < start) {
            out.push(Token {
                start: t.start + from,
                ..t
            });
        }
        out.push(Token {
            kind: Kind::Str,
            text: &text[from + start..from + start + b],
            start: from + start,
        });
        from += start + b;
    }
}

/// A string token ends with its closing `"` (not an escaped one).
fn closed(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i == b.len() - 1,
            _ => i += 1,
        }
    }
    false
}
