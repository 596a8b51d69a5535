//! Reading nft's file syntax (`nft -f`, `nft list ruleset` output, `.nft` files) into the
//! `nft ...` commands it stands for: `table inet t { chain c { type ...; rule; } }` becomes
//! `nft add table inet t` and one `nft add rule inet t c RULE` per rule; top-level commands
//! (`add rule ...`, `delete table ...`, `flush ruleset`) come out as they are. What it cannot
//! follow (`define`, `include`, named sets and maps) is returned with its place.

use crate::diagnostic::Span;
use crate::dialect::sh::{Command, Input, Word};

#[derive(Debug, Clone, PartialEq)]
enum T {
    W(String),
    Open,
    Close,
    /// A newline or `;`: the end of a statement.
    End,
}

fn tokens(input: &Input) -> Vec<(T, Span)> {
    let text = &input.text;
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' | b';' => {
                out.push((T::End, input.span_at(i, i + 1)));
                i += 1;
            }
            b'{' => {
                out.push((T::Open, input.span_at(i, i + 1)));
                i += 1;
            }
            b'}' => {
                out.push((T::Close, input.span_at(i, i + 1)));
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'\\' if b.get(i + 1) == Some(&b'\n') => i += 2,
            _ if c.is_ascii_whitespace() => i += 1,
            _ => {
                let start = i;
                let mut w = String::new();
                while i < b.len() && !b"\n;{}".contains(&b[i]) && !b[i].is_ascii_whitespace() {
                    if b[i] == b'"' {
                        let end = text[i + 1..].find('"').map_or(b.len(), |k| i + 1 + k);
                        w.push_str(&text[i + 1..end]);
                        i = (end + 1).min(b.len());
                        continue;
                    }
                    let ch = text[i..].chars().next().unwrap_or(' ');
                    w.push(ch);
                    i += ch.len_utf8();
                }
                out.push((T::W(w), input.span_at(start, i)));
            }
        }
    }
    out
}

/// The commands a file in nft syntax stands for, and what is not followed.
pub fn commands(input: &Input, cond: bool) -> (Vec<Command>, Vec<(Span, String)>) {
    let toks = tokens(input);
    let mut r = Reader {
        toks,
        pos: 0,
        out: Vec::new(),
        unread: Vec::new(),
        cond,
    };
    r.block(&[]);
    (r.out, r.unread)
}

struct Reader {
    toks: Vec<(T, Span)>,
    pos: usize,
    out: Vec<Command>,
    unread: Vec<(Span, String)>,
    cond: bool,
}

fn word(text: &str, span: Span) -> Word {
    Word {
        text: text.to_string(),
        span,
    }
}

impl Reader {
    /// One statement's words up to its end at depth 0; braces inside it (anonymous sets, maps)
    /// are kept as words. Stops before a `{` that opens a block when `blocks` is set.
    fn statement(&mut self, blocks: bool) -> Vec<Word> {
        let mut ws: Vec<Word> = Vec::new();
        let mut depth = 0usize;
        while let Some((t, sp)) = self.toks.get(self.pos).cloned() {
            match t {
                T::End if depth == 0 => break,
                T::End => {}
                T::Close if depth == 0 => break,
                T::Open if depth == 0 && blocks && !inline_braces(&ws) => break,
                T::Open => {
                    depth += 1;
                    ws.push(word("{", sp));
                }
                T::Close => {
                    depth -= 1;
                    ws.push(word("}", sp));
                }
                T::W(w) => ws.push(word(&w, sp)),
            }
            self.pos += 1;
        }
        ws
    }

    fn emit(&mut self, words: Vec<Word>) {
        let span = match (words.first(), words.last()) {
            (Some(a), Some(b)) if a.span.file == b.span.file && a.span.start <= b.span.end => {
                Span::new(a.span.file, a.span.start, b.span.end)
            }
            (Some(a), _) => a.span,
            _ => return,
        };
        let mut all = vec![word("nft", span)];
        all.extend(words);
        self.out.push(Command {
            words: all,
            span,
            conditional: self.cond,
            comment: None,
            stdin: None,
            input_file: None,
        });
    }

    /// Skip a `{ ... }` block (the `{` is next).
    fn skip_block(&mut self) {
        let mut depth = 0usize;
        while let Some((t, _)) = self.toks.get(self.pos) {
            self.pos += 1;
            match t {
                T::Open => depth += 1,
                T::Close => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    fn at_open(&self) -> bool {
        matches!(self.toks.get(self.pos), Some((T::Open, _)))
    }

    /// Statements up to a closing `}` (consumed) or the end. `ctx`: the words naming the table
    /// (`[FAMILY, TABLE]`) or the chain (`[FAMILY, TABLE, CHAIN]`) the block is in.
    fn block(&mut self, ctx: &[Word]) {
        loop {
            match self.toks.get(self.pos).cloned() {
                None => return,
                Some((T::Close, _)) => {
                    self.pos += 1;
                    return;
                }
                Some((T::End, _)) => {
                    self.pos += 1;
                    continue;
                }
                _ => {}
            }
            let before = self.pos;
            let ws = self.statement(true);
            if ws.is_empty() {
                if self.at_open() {
                    let sp = self.toks[self.pos].1;
                    self.unread
                        .push((sp, "an nft block without a name is not followed".into()));
                    self.skip_block();
                } else if self.pos == before {
                    self.pos += 1;
                }
                continue;
            }
            let t: Vec<&str> = ws.iter().map(|w| w.text.as_str()).collect();
            let sp = ws[0].span;
            match ctx.len() {
                // The top level, or a table's body.
                0 | 2 => {
                    let (verb, obj) = if ctx.is_empty() && matches!(t[0], "add" | "create") {
                        (1, t.get(1).copied())
                    } else {
                        (0, t.first().copied())
                    };
                    match obj {
                        Some("table") if ctx.is_empty() => {
                            let rest = &ws[verb + 1..];
                            let (fam, name) = match rest {
                                [f, n, ..] => (f.clone(), n.clone()),
                                [n] => (word("ip", n.span), n.clone()),
                                [] => {
                                    self.unread.push((sp, "`table` without a name".into()));
                                    continue;
                                }
                            };
                            let mut c = vec![word("add", sp), word("table", sp)];
                            c.extend([fam.clone(), name.clone()]);
                            self.emit(c);
                            if self.at_open() {
                                self.pos += 1;
                                self.block(&[fam, name]);
                            }
                        }
                        Some("chain") => {
                            let rest = &ws[verb + 1..];
                            let names: Vec<Word> = if ctx.is_empty() {
                                match rest {
                                    [f, tb, c, ..] => vec![f.clone(), tb.clone(), c.clone()],
                                    [tb, c] => vec![word("ip", tb.span), tb.clone(), c.clone()],
                                    _ => {
                                        self.unread.push((sp, "`chain` without a table".into()));
                                        continue;
                                    }
                                }
                            } else {
                                match rest.first() {
                                    Some(c) => vec![ctx[0].clone(), ctx[1].clone(), c.clone()],
                                    None => continue,
                                }
                            };
                            if self.at_open() {
                                self.pos += 1;
                                self.block(&names);
                            }
                        }
                        Some(
                            "set" | "map" | "flowtable" | "counter" | "quota" | "ct" | "limit"
                            | "secmark" | "synproxy",
                        ) if !ctx.is_empty() || verb == 1 => {
                            self.unread.push((
                                sp,
                                format!("a named nft `{}` is not followed", obj.unwrap_or("")),
                            ));
                            if self.at_open() {
                                self.skip_block();
                            }
                        }
                        Some("flags" | "comment") if !ctx.is_empty() => {}
                        Some("define" | "include" | "redefine" | "undefine") => {
                            self.unread
                                .push((sp, format!("nft `{}` is not followed", t[0])));
                        }
                        _ if ctx.is_empty() => {
                            self.emit(ws);
                            if self.at_open() {
                                let sp = self.toks[self.pos].1;
                                self.unread
                                    .push((sp, "this nft block is not followed".into()));
                                self.skip_block();
                            }
                        }
                        _ => {
                            self.unread
                                .push((sp, format!("`{}` in an nft table is not followed", t[0])));
                            if self.at_open() {
                                self.skip_block();
                            }
                        }
                    }
                }
                // A chain's body: its type and policy, then rules.
                _ => match t[0] {
                    "type" | "policy" | "comment" | "devices" => {}
                    _ => {
                        let mut c = vec![word("add", sp), word("rule", sp)];
                        c.extend(ctx.iter().cloned());
                        c.extend(ws);
                        self.emit(c);
                    }
                },
            }
        }
    }
}

/// Braces after these words are sets or maps inside the statement, not a block.
fn inline_braces(ws: &[Word]) -> bool {
    let t: Vec<&str> = ws.iter().map(|w| w.text.as_str()).collect();
    matches!(
        t.as_slice(),
        ["add" | "insert" | "replace", "rule" | "element", ..]
    ) || !matches!(
        t.first().copied(),
        None | Some(
            "table"
                | "chain"
                | "set"
                | "map"
                | "add"
                | "create"
                | "flowtable"
                | "counter"
                | "quota"
                | "ct"
                | "limit"
                | "secmark"
                | "synproxy"
        )
    )
}
