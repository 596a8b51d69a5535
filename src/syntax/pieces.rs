//! Parsing a file one statement at a time, so that pest's token queue (a few dozen bytes per
//! token, most of the parser's memory) holds one statement, never the whole file.
//!
//! The loop of the grammar's `body` rule is walked here; each statement is parsed by pest with
//! its own rule, on the rest of the file, and a block statement's body is walked the same way
//! after its `*_head` rule (the statement's rule cut at the `{`). A statement's rule is picked
//! by its first word exactly as the grammar's ordered choice would pick it (every alternative
//! starts with a keyword test, so the word rules out the others), and the separators and
//! whitespace between statements are skipped exactly as pest's implicit `WHITESPACE`/`COMMENT`
//! skipping does. So when every piece parses, the file parses whole to the same tree.
//! Anything else (a syntax error anywhere) gives `None`, and the caller parses the whole file
//! with the `file` rule as before: syntax errors are reported exactly as they always were.

use super::ast::Stmt;
use super::parser::{Cx, Rule, ShapeParser};
use crate::diagnostic::Span;
use pest::Parser as _;

/// The statements of `text`, or `None` if any piece does not parse (see the module doc).
pub(super) fn parse(file: usize, text: &str) -> Option<Vec<Stmt>> {
    let p = Pieces {
        file,
        text,
        b: text.as_bytes(),
    };
    // file = { SOI ~ body ~ EOI }
    let (stmts, end) = p.body(p.skip(0))?;
    (end == text.len()).then_some(stmts)
}

struct Pieces<'t> {
    file: usize,
    text: &'t str,
    b: &'t [u8],
}

/// A statement parsed, and where it ends; `braced` when it is one of the grammar's `braced`
/// statements (which need no separator after them).
struct Piece {
    stmt: Stmt,
    end: usize,
    braced: bool,
}

impl Pieces<'_> {
    /// The grammar's `body` from `pos` (already past whitespace): its statements and the
    /// position after them and after the whitespace and separators that follow (at a `}` or
    /// the end of the text).
    fn body(&self, mut pos: usize) -> Option<(Vec<Stmt>, usize)> {
        let mut out = Vec::new();
        loop {
            pos = self.seps(pos);
            if matches!(self.b.get(pos), None | Some(b'}')) {
                out.shrink_to_fit();
                return Some((out, pos));
            }
            let piece = self.stmt(pos)?;
            out.push(piece.stmt);
            pos = self.skip(piece.end);
            // stmt ~ (sep+ | &"}" | &EOI)
            if !piece.braced && !matches!(self.b.get(pos), None | Some(b'}' | b'\n' | b'\r' | b';'))
            {
                return None;
            }
        }
    }

    /// One statement at `pos`: the rules the grammar's `braced | stmt` choice could take for
    /// its first word, tried in the grammar's order.
    fn stmt(&self, pos: usize) -> Option<Piece> {
        let word_end = self.b[pos..]
            .iter()
            .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c == b'-'))
            .map_or(self.b.len(), |n| pos + n);
        let rules: &[Rule] = match &self.text[pos..word_end] {
            "class" => &[Rule::class_def],
            "for" => &[Rule::for_stmt],
            "interface" => &[Rule::interface_def],
            "template" => &[Rule::template_def],
            "rule" => &[Rule::rule_def],
            "host" => &[Rule::host_def, Rule::property],
            "path" => &[Rule::path_def, Rule::property],
            "ingress" => &[Rule::ingress_def, Rule::property],
            "match" => &[Rule::match_stmt],
            "expect" => &[Rule::expect_stmt],
            "let" => &[Rule::let_stmt],
            "qdisc" => &[Rule::qdisc_prop, Rule::property],
            _ => &[Rule::property],
        };
        for &rule in rules {
            if let Some(head) = head_rule(rule) {
                let parsed = self
                    .head_end(pos)
                    .and_then(|end| ShapeParser::parse(head, &self.text[pos..end]).ok());
                if let Some(mut pairs) = parsed {
                    // The head matched: the statement is this block statement or nothing.
                    return self.block(pos, pairs.next().expect("head pair"));
                }
                // Without its head, only a class can be what the rule matches (`class a`).
                if rule != Rule::class_def {
                    continue;
                }
            }
            if let Ok(mut pairs) = ShapeParser::parse(rule, &self.text[pos..]) {
                let pair = pairs.next().expect("statement pair");
                let end = pos + pair.as_span().end();
                let cx = Cx {
                    file: self.file,
                    offset: pos,
                };
                return Some(Piece {
                    stmt: cx.stmt(pair),
                    end,
                    braced: !matches!(
                        rule,
                        Rule::property
                            | Rule::qdisc_prop
                            | Rule::let_stmt
                            | Rule::match_stmt
                            | Rule::expect_stmt
                    ),
                });
            }
        }
        None
    }

    /// A block statement whose head (up to and with its `{`) parsed at `pos`: its body, piece
    /// by piece, and its `}`.
    fn block(&self, pos: usize, head: pest::iterators::Pair<Rule>) -> Option<Piece> {
        let cx = Cx {
            file: self.file,
            offset: pos,
        };
        let rule = head.as_rule();
        let open_end = pos + head.as_span().end();
        let head = cx.head(rule, &mut head.into_inner().peekable());
        let (body, close) = self.body(self.skip(open_end))?;
        if self.b.get(close) != Some(&b'}') {
            return None;
        }
        let end = close + 1;
        Some(Piece {
            stmt: cx.braced(head, body, Span::new(self.file, pos, end)),
            end,
            braced: true,
        })
    }

    /// Where a block statement's head at `pos` can end: after the first `{` outside a string or
    /// a list, if it comes before the end of the statement (a line break, `;` or `}`). The head
    /// rule is given the text up to there only: a failed pest parse costs time in proportion to
    /// the text after its position (pest finds the line of the error by scanning back from the
    /// end), and a head is never more than this.
    fn head_end(&self, pos: usize) -> Option<usize> {
        use super::token::{iter, Kind};
        let mut lists = 0usize;
        for t in iter(&self.text[pos..]) {
            match t.kind {
                Kind::LBracket => lists += 1,
                Kind::RBracket => lists = lists.saturating_sub(1),
                Kind::LBrace if lists == 0 => return Some(pos + t.start + 1),
                Kind::Newline | Kind::Semi | Kind::RBrace if lists == 0 => return None,
                _ => {}
            }
        }
        None
    }

    /// Past pest's implicit skipping: `WHITESPACE` (space, tab, `\` + line break) and
    /// `COMMENT` (`#` up to the line break), any number of each.
    fn skip(&self, mut pos: usize) -> usize {
        loop {
            match self.b.get(pos) {
                Some(b' ' | b'\t') => pos += 1,
                Some(b'\\') if self.newline(pos + 1) > 0 => pos += 1 + self.newline(pos + 1),
                Some(b'#') => {
                    while pos < self.b.len() && self.newline(pos) == 0 {
                        pos += 1;
                    }
                }
                _ => return pos,
            }
        }
    }

    /// Past any number of separators (`sep`: a line break or `;`) and what `skip` skips.
    fn seps(&self, mut pos: usize) -> usize {
        loop {
            pos = self.skip(pos);
            let n = match self.b.get(pos) {
                Some(b';') => 1,
                _ => self.newline(pos),
            };
            if n == 0 {
                return pos;
            }
            pos += n;
        }
    }

    /// The length of pest's `NEWLINE` at `pos` (`\n`, `\r\n` or `\r`), 0 if none.
    fn newline(&self, pos: usize) -> usize {
        match (self.b.get(pos), self.b.get(pos + 1)) {
            (Some(b'\r'), Some(b'\n')) => 2,
            (Some(b'\n' | b'\r'), _) => 1,
            _ => 0,
        }
    }
}

/// The `*_head` rule of a block statement's rule.
fn head_rule(rule: Rule) -> Option<Rule> {
    Some(match rule {
        Rule::class_def => Rule::class_head,
        Rule::for_stmt => Rule::for_head,
        Rule::interface_def => Rule::interface_head,
        Rule::template_def => Rule::template_head,
        Rule::host_def => Rule::host_head,
        Rule::path_def => Rule::path_head,
        Rule::ingress_def => Rule::ingress_head,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every corpus and fixture file: pieces give exactly the whole-file parse's tree, and fail
    /// exactly where it fails.
    #[test]
    fn pieces_agree_with_the_whole_file_parse() {
        let mut seen = 0;
        let mut stack = vec![
            std::path::PathBuf::from("corpus"),
            std::path::PathBuf::from("tests/fixtures"),
            std::path::PathBuf::from("examples"),
        ];
        while let Some(dir) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|x| x != "shape") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                check(&text, &path.display().to_string());
                seen += 1;
            }
        }
        assert!(seen > 50, "only {seen} files");
    }

    #[test]
    fn pieces_agree_on_edge_cases() {
        for src in [
            "",
            "\n\n;;",
            "interface e { class a; class b {} class c { rate 1mbit } }",
            "interface e {\r\n rate 1gbit\r class a \\\n { rate 2mbit # c }\n }\n}",
            "interface e { class a : t, u\n class b : t { } }",
            "host h : t { address 1.2.3.4 }\nhost h2\npath p { rate 1gbit }\npath x",
            "template t { ingress { class a {} } ingress 5 }",
            "for i in 1..3 { class \"c${i}\" { rate ${i}mbit } }",
            "rule r { tcp dport 80\n udp }\ninterface e { class a { match r } }",
            "interface e { qdisc bfifo limit 2mb; qdisc 5 }",
            "interface e { class a { rate 1mbit, \n 2mbit; match tcp dport [80,\n 443] } }",
            "interface e { class a { rate 1mbit } x",
            "interface e { class a { rate 1mbit } } }",
            "interface e { class a { rate } }",
            "interface e { in 5 }",
            "interface e { class-x 5 }",
            "interface e { classy 5; hosts 5; host; path }",
            "interface e { expect tcp dport 80 -> a; let x = 5 }",
            "class",
            "interface e { class a { } class b }",
            "interface e { class a { } } # end",
            "interface e { class a\n{ } }",
            "for i in [1,\n 2] { class \"a{${i}\" { } }\nfor j in [\n] {}",
            "template \"t{\" : \"u}\" { }\nhost h : \"t{\" { path p; interface e \\\n { } }",
            "interface e { class a : [ { } }",
        ] {
            check(src, src);
        }
    }

    fn check(text: &str, what: &str) {
        let whole = super::super::parser::whole(0, text).ok();
        let pieces = parse(0, text);
        assert_eq!(pieces, whole.map(|f| f.stmts), "{what}");
    }
}
