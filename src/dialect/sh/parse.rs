//! The shell reader's syntax tree: lists, `&&`/`||`, pipelines, `if`, `for`, `while`/`until`,
//! groups, subshells and function definitions, from the tokens of `lex`.

use super::lex::{RawWord, Tok};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, Span};
use std::cell::Cell;

#[derive(Debug, Clone)]
pub(super) enum Node {
    Simple {
        words: Vec<RawWord>,
        span: Span,
        comment: Option<String>,
        /// The index of its here-document (the n-th `<<` of the text).
        heredoc: Option<usize>,
        /// The word after `<`: a file it reads on standard input.
        stdin_file: Option<RawWord>,
    },
    /// `a && b || c`: the bool is true for `&&`.
    AndOr(Box<Node>, Vec<(bool, Node)>),
    Pipeline(Vec<Node>),
    If {
        arms: Vec<(Vec<Node>, Vec<Node>)>,
        otherwise: Option<Vec<Node>>,
    },
    For {
        var: String,
        words: Option<Vec<RawWord>>,
        body: Vec<Node>,
    },
    While {
        cond: Vec<Node>,
        body: Vec<Node>,
    },
    /// `case`: each arm's commands (every arm is read, each may run).
    Case(Vec<Vec<Node>>),
    Group(Vec<Node>),
    Func(String, Box<Node>),
}

pub(super) struct Parser {
    pub(super) toks: Vec<Tok>,
    pub(super) pos: usize,
    pub(super) file: usize,
    pub(super) diags: Diagnostics,
    /// `<<` seen so far, and the last one's index while a simple command is read.
    pub(super) heredocs_seen: usize,
    pub(super) heredoc: Option<usize>,
    /// The last `< FILE` while a simple command is read.
    pub(super) stdin_file: Option<RawWord>,
    /// Streaming: the parser looked past the last token while inside a command (an open
    /// block, a trailing `&&` or `|`): the tokens so far are not a whole command yet.
    pub(super) ended: Cell<bool>,
    /// Between top-level commands, where the end of the tokens is the end of a command.
    pub(super) idle: Cell<bool>,
    /// Blocks open around the command being read.
    pub(super) depth: usize,
    /// They nest deeper than the reader follows: reading stopped (the tokens look ended).
    pub(super) too_deep: Cell<bool>,
}

const RESERVED: &[&str] = &[
    "then", "elif", "else", "fi", "do", "done", "esac", "}", "in",
];

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        if self.too_deep.get() {
            return None;
        }
        let t = self.toks.get(self.pos);
        if t.is_none() && !self.idle.get() {
            self.ended.set(true);
        }
        t
    }

    fn peek_word(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Word(w)) => w.literal(),
            _ => None,
        }
    }

    fn skip_newlines(&mut self) {
        while matches!(
            self.peek(),
            Some(Tok::Newline(_)) | Some(Tok::Comment(_)) | Some(Tok::Op(";", _))
        ) {
            self.pos += 1;
        }
    }

    fn here(&self) -> Span {
        match self.toks.get(self.pos).or(self.toks.last()) {
            Some(Tok::Word(w)) => w.span,
            Some(Tok::Op(_, s)) | Some(Tok::Newline(s)) => *s,
            _ => Span::new(self.file, 0, 0),
        }
    }

    pub(super) fn program(&mut self) -> Vec<Node> {
        let mut out = self.list(&[]);
        while self.pos < self.toks.len() {
            // A stray closer: report and go on after it.
            let span = self.here();
            self.diags.push(
                Diagnostic::new(Code::ScriptNotFollowed, span, "unexpected word here")
                    .label("no open block ends here"),
            );
            self.pos += 1;
            out.extend(self.list(&[]));
        }
        out
    }

    /// The whole top-level commands at the start of `toks` (the tokens of whole lines), and
    /// how many tokens they take; unless `last`, a command the tokens end inside is left for
    /// when more lines are read (what was said about it is taken back). As `program` reads
    /// them: one at a time, so that a script is read and run a command at a time.
    pub(super) fn chunk(&mut self, last: bool) -> (Vec<Node>, usize) {
        let mut out = Vec::new();
        loop {
            self.idle.set(true);
            self.skip_newlines();
            let start = self.pos;
            let Some(t) = self.peek() else { break };
            let stray =
                matches!(t, Tok::Word(w) if w.literal().is_some_and(|l| RESERVED.contains(&l)));
            let skip = matches!(t, Tok::Op(";;", _));
            self.idle.set(false);
            self.ended.set(false);
            if stray {
                let span = self.here();
                self.diags.push(
                    Diagnostic::new(Code::ScriptNotFollowed, span, "unexpected word here")
                        .label("no open block ends here"),
                );
                self.pos += 1;
                continue;
            }
            if skip {
                self.pos += 1;
                continue;
            }
            let (diags, heredocs) = (self.diags.items.len(), self.heredocs_seen);
            let n = self.and_or();
            if self.too_deep.get() {
                return (out, self.toks.len());
            }
            if self.ended.get() && !last {
                self.pos = start;
                self.diags.items.truncate(diags);
                self.heredocs_seen = heredocs;
                self.idle.set(true);
                return (out, start);
            }
            out.extend(n);
            if self.pos == start {
                self.pos += 1;
            }
        }
        self.idle.set(true);
        (out, self.pos.min(self.toks.len()))
    }

    /// Commands up to one of the `stop` words (not consumed).
    fn list(&mut self, stop: &[&str]) -> Vec<Node> {
        let mut out = Vec::new();
        loop {
            self.skip_newlines();
            match self.peek() {
                None => break,
                Some(Tok::Word(w)) => {
                    if let Some(l) = w.literal() {
                        if stop.contains(&l) || (stop.is_empty() && RESERVED.contains(&l)) {
                            break;
                        }
                    }
                }
                Some(Tok::Op(")", _)) if stop.contains(&")") => break,
                Some(Tok::Op(";;", _)) if stop.contains(&";;") => break,
                Some(Tok::Op(";;", _)) => {
                    self.pos += 1;
                    continue;
                }
                _ => {}
            }
            let before = self.pos;
            if let Some(n) = self.and_or() {
                out.push(n);
            }
            if self.pos == before {
                // Never loop without progress.
                self.pos += 1;
            }
        }
        out
    }

    fn and_or(&mut self) -> Option<Node> {
        let first = self.pipeline()?;
        let mut rest = Vec::new();
        loop {
            let and = match self.peek() {
                Some(Tok::Op("&&", _)) => true,
                Some(Tok::Op("||", _)) => false,
                _ => break,
            };
            self.pos += 1;
            while matches!(self.peek(), Some(Tok::Newline(_)) | Some(Tok::Comment(_))) {
                self.pos += 1;
            }
            match self.pipeline() {
                Some(n) => rest.push((and, n)),
                None => break,
            }
        }
        if matches!(self.peek(), Some(Tok::Op("&", _))) {
            self.pos += 1;
        }
        // `tc class add ... || true  # web`: the line's comment is the first command's too.
        let mut first = first;
        if let (
            Node::Simple {
                comment: c @ None, ..
            },
            Some((
                _,
                Node::Simple {
                    comment: Some(last),
                    ..
                },
            )),
        ) = (&mut first, rest.last())
        {
            *c = Some(last.clone());
        }
        Some(if rest.is_empty() {
            first
        } else {
            Node::AndOr(Box::new(first), rest)
        })
    }

    fn pipeline(&mut self) -> Option<Node> {
        if self.peek_word() == Some("!") {
            self.pos += 1;
        }
        let mut cmds = vec![self.command()?];
        while matches!(self.peek(), Some(Tok::Op("|", _))) {
            self.pos += 1;
            self.skip_newlines();
            if let Some(c) = self.command() {
                cmds.push(c);
            }
        }
        Some(if cmds.len() == 1 {
            cmds.pop().unwrap_or(Node::Group(vec![]))
        } else {
            Node::Pipeline(cmds)
        })
    }

    fn expect(&mut self, word: &str, open: Span) {
        self.skip_newlines();
        if self.too_deep.get() {
            // Reading stopped inside: that was said once.
            return;
        }
        if self.peek_word() == Some(word) {
            self.pos += 1;
        } else {
            let s = self.here();
            self.diags.push(
                Diagnostic::new(
                    Code::ScriptNotFollowed,
                    s,
                    format!("expected `{word}` here"),
                )
                .secondary(open, "to close this"),
            );
        }
    }

    fn command(&mut self) -> Option<Node> {
        if self.too_deep.get() {
            return None;
        }
        if self.depth >= super::budget::MAX_DEPTH {
            let at = self.here();
            self.diags.push(
                Diagnostic::new(
                    Code::ScriptNotFollowed,
                    at,
                    format!(
                        "reading stopped here: blocks nest more than {} deep",
                        super::budget::MAX_DEPTH
                    ),
                )
                .label("reading stopped here: nothing from here on is in the explanation"),
            );
            self.too_deep.set(true);
            return None;
        }
        self.depth += 1;
        let n = self.command_inner();
        self.depth -= 1;
        n
    }

    fn command_inner(&mut self) -> Option<Node> {
        let start = self.here();
        match self.peek() {
            Some(Tok::Op("(", _)) => {
                self.pos += 1;
                let body = self.list(&[")"]);
                if matches!(self.peek(), Some(Tok::Op(")", _))) {
                    self.pos += 1;
                }
                self.redirects();
                return Some(Node::Group(body));
            }
            Some(Tok::Word(_)) => {}
            _ => return None,
        }
        match self.peek_word() {
            Some("if") => {
                self.pos += 1;
                let mut arms = Vec::new();
                let mut otherwise = None;
                loop {
                    let cond = self.list(&["then"]);
                    self.expect("then", start);
                    let body = self.list(&["elif", "else", "fi"]);
                    arms.push((cond, body));
                    match self.peek_word() {
                        Some("elif") => self.pos += 1,
                        Some("else") => {
                            self.pos += 1;
                            otherwise = Some(self.list(&["fi"]));
                            self.expect("fi", start);
                            break;
                        }
                        _ => {
                            self.expect("fi", start);
                            break;
                        }
                    }
                }
                self.redirects();
                Some(Node::If { arms, otherwise })
            }
            Some("for") => {
                self.pos += 1;
                let var = self.peek_word().unwrap_or("").to_string();
                self.pos += 1;
                while matches!(self.peek(), Some(Tok::Newline(_))) {
                    self.pos += 1;
                }
                let mut words = None;
                if self.peek_word() == Some("in") {
                    self.pos += 1;
                    let mut ws = Vec::new();
                    while let Some(Tok::Word(w)) = self.peek() {
                        ws.push(w.clone());
                        self.pos += 1;
                    }
                    words = Some(ws);
                }
                self.skip_newlines();
                self.expect("do", start);
                let body = self.list(&["done"]);
                self.expect("done", start);
                self.redirects();
                Some(Node::For { var, words, body })
            }
            Some("while") | Some("until") => {
                self.pos += 1;
                let cond = self.list(&["do"]);
                self.expect("do", start);
                let body = self.list(&["done"]);
                self.expect("done", start);
                self.redirects();
                Some(Node::While { cond, body })
            }
            Some("case") => {
                self.pos += 1;
                if matches!(self.peek(), Some(Tok::Word(_))) {
                    self.pos += 1;
                }
                self.skip_newlines();
                self.expect("in", start);
                let mut arms = Vec::new();
                loop {
                    self.skip_newlines();
                    if self.peek().is_none() || self.peek_word() == Some("esac") {
                        break;
                    }
                    // The patterns: `(a|b)` or `a|b)`.
                    if matches!(self.peek(), Some(Tok::Op("(", _))) {
                        self.pos += 1;
                    }
                    while matches!(self.peek(), Some(Tok::Word(_)) | Some(Tok::Op("|", _))) {
                        self.pos += 1;
                    }
                    if !matches!(self.peek(), Some(Tok::Op(")", _))) {
                        let s = self.here();
                        self.diags.push(
                            Diagnostic::new(
                                Code::ScriptNotFollowed,
                                s,
                                "expected `)` after a `case` pattern",
                            )
                            .secondary(start, "in this `case`"),
                        );
                        break;
                    }
                    self.pos += 1;
                    arms.push(self.list(&[";;", "esac"]));
                    if matches!(self.peek(), Some(Tok::Op(";;", _))) {
                        self.pos += 1;
                    }
                }
                self.expect("esac", start);
                self.redirects();
                Some(Node::Case(arms))
            }
            Some("{") => {
                self.pos += 1;
                let body = self.list(&["}"]);
                self.expect("}", start);
                self.redirects();
                Some(Node::Group(body))
            }
            Some("function") => {
                self.pos += 1;
                let name = self.peek_word().unwrap_or("").to_string();
                self.pos += 1;
                if matches!(self.peek(), Some(Tok::Op("(", _))) {
                    self.pos += 2;
                }
                self.skip_newlines();
                let body = self.command()?;
                Some(Node::Func(name, Box::new(body)))
            }
            _ => {
                // name() { ... }
                if let (Some(Tok::Word(w)), Some(Tok::Op("(", _)), Some(Tok::Op(")", _))) = (
                    self.toks.get(self.pos),
                    self.toks.get(self.pos + 1),
                    self.toks.get(self.pos + 2),
                ) {
                    let name = w.literal().unwrap_or("").to_string();
                    self.pos += 3;
                    self.skip_newlines();
                    let body = self.command()?;
                    return Some(Node::Func(name, Box::new(body)));
                }
                self.simple()
            }
        }
    }

    /// Skip redirections (`>/dev/null`, `2>&1`, `<file`).
    fn redirects(&mut self) {
        while let Some(Tok::Op(op, _)) = self.peek() {
            match *op {
                "2>&1" | "1>&2" | ">&2" => self.pos += 1,
                // The lexer took the delimiter word and the body.
                "<<" => {
                    self.pos += 1;
                    self.heredoc = Some(self.heredocs_seen);
                    self.heredocs_seen += 1;
                }
                "<" => {
                    self.pos += 1;
                    if let Some(Tok::Word(w)) = self.peek() {
                        self.stdin_file = Some(w.clone());
                        self.pos += 1;
                    }
                }
                ">" | ">>" | "2>" | "2>>" | "1>" | "&>" | "&>>" | ">|" => {
                    self.pos += 1;
                    if matches!(self.peek(), Some(Tok::Word(_))) {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn simple(&mut self) -> Option<Node> {
        let mut words = Vec::new();
        self.heredoc = None;
        self.stdin_file = None;
        loop {
            self.redirects();
            match self.peek() {
                Some(Tok::Word(w)) => {
                    // A word ending in a digit right before `>` is an fd number; already split.
                    words.push(w.clone());
                    self.pos += 1;
                }
                _ => break,
            }
        }
        let comment = match self.peek() {
            Some(Tok::Comment(c)) => Some(c.clone()),
            _ => None,
        };
        let span = match (words.first(), words.last()) {
            (Some(a), Some(b)) => Span::new(self.file, a.span.start, b.span.end),
            _ => return None,
        };
        Some(Node::Simple {
            words,
            span,
            comment,
            heredoc: self.heredoc.take(),
            stdin_file: self.stdin_file.take(),
        })
    }
}
