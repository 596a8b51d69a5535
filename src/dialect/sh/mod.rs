//! Reading a POSIX shell script far enough to know which commands it runs.
//!
//! A small reader written for the job (shell parsers on crates.io either pull in a whole shell or
//! do not evaluate): it tokenises with quotes, `\` continuations and comments, parses simple
//! commands, `&&`/`||`/`|` lists, `if`/`elif`/`else`, `for`, `while`/`until`, `{ }`, `( )` and
//! function definitions, and then *evaluates* the script symbolically: variables (`X=1`, `$X`,
//! `${X}`, `${X:-d}`), positional parameters, `$(seq a b)`, `$((arithmetic))`, loops, and calls
//! of the script's own functions. Every simple command that results comes out with its expanded
//! words, each word keeping the span it was written at.
//!
//! Both branches of an `if` are read, and their commands are marked conditional, as are the
//! right-hand sides of `&&`/`||` and loop bodies of `while`. What the reader cannot follow
//! (`case`, `eval`, `source`, unknown command substitutions, unset variables...) becomes a
//! diagnostic with its place; the reader never panics and never drops a command silently.

pub mod quote;

use crate::diagnostic::{Code, Diagnostic, Diagnostics, Span};
use std::collections::HashMap;

/// One word of a command after expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub span: Span,
}

/// One simple command the script runs.
#[derive(Debug, Clone)]
pub struct Command {
    pub words: Vec<Word>,
    /// From the first word to the last as written.
    pub span: Span,
    /// Inside an `if`, after `&&`/`||`, or in a `while` loop: it may not run.
    pub conditional: bool,
    /// A comment at the end of the line the command ends on (`tc class add ...  # web`).
    pub comment: Option<String>,
}

/// What reading a script gives.
#[derive(Debug, Default)]
pub struct Script {
    pub commands: Vec<Command>,
    pub diags: Diagnostics,
    /// `set -e` was seen.
    pub set_e: bool,
}

/// Limits that keep reading bounded on any input.
const MAX_COMMANDS: usize = 200_000;
const MAX_CALL_DEPTH: usize = 64;
const MAX_SEQ: i64 = 65_536;

pub fn read(file: usize, text: &str, args: &[String]) -> Script {
    let mut lx = Lexer {
        file,
        src: text.as_bytes(),
        text,
        pos: 0,
        diags: Diagnostics::default(),
    };
    let toks = lx.tokens();
    let mut p = Parser {
        toks,
        pos: 0,
        file,
        diags: lx.diags,
    };
    let prog = p.program();
    let mut ev = Eval {
        file,
        vars: HashMap::new(),
        positional: args.to_vec(),
        funcs: HashMap::new(),
        out: Script {
            diags: p.diags,
            ..Script::default()
        },
        depth: 0,
        stopped: false,
        reported_vars: Vec::new(),
    };
    ev.vars.insert("0".into(), "script".into());
    ev.block(&prog, false);
    ev.out
}

// ---------------------------------------------------------------- tokens

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    /// Literal text from inside quotes (no field splitting, no reserved words).
    Quoted(String),
    Var {
        name: String,
        default: Option<Vec<Part>>,
        quoted: bool,
    },
    Subst {
        inner: String,
        quoted: bool,
    },
    Arith(String),
}

#[derive(Debug, Clone, PartialEq)]
struct RawWord {
    parts: Vec<Part>,
    span: Span,
}

impl RawWord {
    /// The word as a plain literal, when it has no quoting or expansion.
    fn literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(RawWord),
    Op(&'static str, Span),
    Newline(Span),
    /// A comment, kept so a command can carry the comment at the end of its line.
    Comment(String),
}

struct Lexer<'a> {
    file: usize,
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    diags: Diagnostics,
}

impl Lexer<'_> {
    fn span(&self, a: usize, b: usize) -> Span {
        Span::new(self.file, a, b)
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn at(&self, s: &str) -> bool {
        self.src[self.pos..].starts_with(s.as_bytes())
    }

    fn tokens(&mut self) -> Vec<Tok> {
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\\' if self.src.get(self.pos + 1) == Some(&b'\n') => self.pos += 2,
                b'\n' => {
                    out.push(Tok::Newline(self.span(self.pos, self.pos + 1)));
                    self.pos += 1;
                }
                b'#' => {
                    let start = self.pos;
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.pos += 1;
                    }
                    out.push(Tok::Comment(
                        self.text[start + 1..self.pos].trim().to_string(),
                    ));
                }
                _ => {
                    if let Some(op) = self.op() {
                        out.push(op);
                    } else {
                        let w = self.word();
                        out.push(Tok::Word(w));
                    }
                }
            }
        }
        out
    }

    fn op(&mut self) -> Option<Tok> {
        const OPS: &[&str] = &[
            "2>&1", "1>&2", ">&2", "&>>", "&>", "2>>", "2>", "1>", ">>", ">|", "<<", "&&", "||",
            ";;", ">", "<", "|", "&", ";", "(", ")",
        ];
        for op in OPS {
            if self.at(op) {
                let s = self.span(self.pos, self.pos + op.len());
                self.pos += op.len();
                return Some(Tok::Op(op, s));
            }
        }
        None
    }

    fn word(&mut self) -> RawWord {
        let start = self.pos;
        let mut parts: Vec<Part> = Vec::new();
        let mut lit = String::new();
        let flush = |lit: &mut String, parts: &mut Vec<Part>| {
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(lit)));
            }
        };
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')' => {
                    break
                }
                b'\\' => {
                    if self.src.get(self.pos + 1) == Some(&b'\n') {
                        self.pos += 2;
                        continue;
                    }
                    flush(&mut lit, &mut parts);
                    if let Some(ch) = self.text[self.pos + 1..].chars().next() {
                        parts.push(Part::Quoted(ch.to_string()));
                        self.pos += 1 + ch.len_utf8();
                    } else {
                        self.pos += 1;
                    }
                }
                b'\'' => {
                    flush(&mut lit, &mut parts);
                    let open = self.pos;
                    self.pos += 1;
                    let s = self.pos;
                    while self.peek().is_some_and(|c| c != b'\'') {
                        self.pos += 1;
                    }
                    if self.peek().is_none() {
                        self.diags.push(
                            Diagnostic::new(
                                Code::ScriptNotFollowed,
                                self.span(open, open + 1),
                                "unterminated single quote",
                            )
                            .label("the quote opened here is never closed"),
                        );
                    }
                    parts.push(Part::Quoted(self.text[s..self.pos].to_string()));
                    self.pos = (self.pos + 1).min(self.src.len());
                }
                b'"' => {
                    flush(&mut lit, &mut parts);
                    let open = self.pos;
                    self.pos += 1;
                    let mut q = String::new();
                    loop {
                        match self.peek() {
                            None => {
                                self.diags.push(
                                    Diagnostic::new(
                                        Code::ScriptNotFollowed,
                                        self.span(open, open + 1),
                                        "unterminated double quote",
                                    )
                                    .label("the quote opened here is never closed"),
                                );
                                break;
                            }
                            Some(b'"') => {
                                self.pos += 1;
                                break;
                            }
                            Some(b'\\') => {
                                let next = self.src.get(self.pos + 1).copied();
                                match next {
                                    Some(b'\n') => self.pos += 2,
                                    Some(b'"' | b'\\' | b'$' | b'`') => {
                                        q.push(next.unwrap_or(b'\\') as char);
                                        self.pos += 2;
                                    }
                                    _ => {
                                        q.push('\\');
                                        self.pos += 1;
                                    }
                                }
                            }
                            Some(b'$') | Some(b'`') => {
                                if !q.is_empty() {
                                    parts.push(Part::Quoted(std::mem::take(&mut q)));
                                }
                                match self.dollar(true) {
                                    Some(p) => parts.push(p),
                                    None => q.push('$'),
                                }
                            }
                            Some(_) => {
                                let ch = self.text[self.pos..].chars().next().unwrap_or('?');
                                q.push(ch);
                                self.pos += ch.len_utf8();
                            }
                        }
                    }
                    parts.push(Part::Quoted(q));
                }
                b'$' | b'`' => {
                    flush(&mut lit, &mut parts);
                    match self.dollar(false) {
                        Some(p) => parts.push(p),
                        None => lit.push('$'),
                    }
                }
                _ => {
                    let ch = self.text[self.pos..].chars().next().unwrap_or('?');
                    lit.push(ch);
                    self.pos += ch.len_utf8();
                }
            }
        }
        flush(&mut lit, &mut parts);
        RawWord {
            parts,
            span: self.span(start, self.pos),
        }
    }

    /// Read up to the `close` matching an already consumed opener, counting nesting.
    fn balanced(&mut self, open: u8, close: u8) -> String {
        let s = self.pos;
        let mut depth = 1;
        while let Some(c) = self.peek() {
            if c == b'\\' {
                self.pos += 2;
                continue;
            }
            if c == open && open != close {
                depth += 1;
            } else if c == close {
                depth -= 1;
                if depth == 0 {
                    let inner = self.text[s..self.pos].to_string();
                    self.pos += 1;
                    return inner;
                }
            }
            self.pos += 1;
        }
        self.pos = self.src.len();
        self.text[s.min(self.src.len())..].to_string()
    }

    /// `$NAME`, `${...}`, `$(...)`, `$((...))`, `` `...` ``, `$1`, `$@`...; at `$` or `` ` ``.
    fn dollar(&mut self, quoted: bool) -> Option<Part> {
        if self.peek() == Some(b'`') {
            self.pos += 1;
            let inner = self.balanced(b'`', b'`');
            return Some(Part::Subst { inner, quoted });
        }
        self.pos += 1;
        match self.peek() {
            Some(b'(') if self.src.get(self.pos + 1) == Some(&b'(') => {
                self.pos += 2;
                let inner = self.balanced(b'(', b')');
                // The second closing parenthesis.
                if self.peek() == Some(b')') {
                    self.pos += 1;
                }
                Some(Part::Arith(inner))
            }
            Some(b'(') => {
                self.pos += 1;
                let inner = self.balanced(b'(', b')');
                Some(Part::Subst { inner, quoted })
            }
            Some(b'{') => {
                self.pos += 1;
                let inner = self.balanced(b'{', b'}');
                let (name, default) = match inner.find(":-").or_else(|| inner.find('-')) {
                    Some(i) => {
                        let d = inner[i..].trim_start_matches(':')[1..].to_string();
                        let mut sub = Lexer {
                            file: self.file,
                            src: d.as_bytes(),
                            text: &d,
                            pos: 0,
                            diags: Diagnostics::default(),
                        };
                        let w = sub.word();
                        (inner[..i].to_string(), Some(w.parts))
                    }
                    None => (inner.clone(), None),
                };
                Some(Part::Var {
                    name,
                    default,
                    quoted,
                })
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let s = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.pos += 1;
                }
                Some(Part::Var {
                    name: self.text[s..self.pos].to_string(),
                    default: None,
                    quoted,
                })
            }
            Some(c) if c.is_ascii_digit() || b"@*#?$!-".contains(&c) => {
                self.pos += 1;
                Some(Part::Var {
                    name: (c as char).to_string(),
                    default: None,
                    quoted,
                })
            }
            _ => None,
        }
    }
}

// ---------------------------------------------------------------- syntax tree

#[derive(Debug, Clone)]
enum Node {
    Simple {
        words: Vec<RawWord>,
        span: Span,
        comment: Option<String>,
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
    Group(Vec<Node>),
    Func(String, Box<Node>),
    Unsupported(Span, &'static str),
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    file: usize,
    diags: Diagnostics,
}

const RESERVED: &[&str] = &[
    "then", "elif", "else", "fi", "do", "done", "esac", "}", "in",
];

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
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

    fn program(&mut self) -> Vec<Node> {
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
                // Skip to the matching esac.
                let mut depth = 0;
                while let Some(t) = self.peek() {
                    if let Tok::Word(w) = t {
                        match w.literal() {
                            Some("case") => depth += 1,
                            Some("esac") => {
                                depth -= 1;
                                if depth == 0 {
                                    self.pos += 1;
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                    self.pos += 1;
                }
                Some(Node::Unsupported(start, "a `case` statement"))
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
                ">" | ">>" | "<" | "2>" | "2>>" | "1>" | "&>" | "&>>" | ">|" | "<<" => {
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
        })
    }
}

// ---------------------------------------------------------------- evaluation

struct Eval {
    file: usize,
    vars: HashMap<String, String>,
    positional: Vec<String>,
    funcs: HashMap<String, Node>,
    out: Script,
    depth: usize,
    /// After an unconditional `exit`.
    stopped: bool,
    reported_vars: Vec<String>,
}

impl Eval {
    fn not_followed(&mut self, span: Span, msg: impl Into<String>) {
        self.out.diags.push(
            Diagnostic::new(Code::ScriptNotFollowed, span, msg)
                .label("tcc cannot follow this; what it does is not in the explanation")
                .help("if it matters for shaping, rewrite it with plain tc/iptables commands"),
        );
    }

    fn block(&mut self, nodes: &[Node], cond: bool) {
        for n in nodes {
            if self.stopped {
                return;
            }
            self.node(n, cond);
        }
    }

    fn node(&mut self, n: &Node, cond: bool) {
        if self.out.commands.len() >= MAX_COMMANDS {
            if !self.stopped {
                self.stopped = true;
                self.out.diags.push(Diagnostic::new(
                    Code::ScriptNotFollowed,
                    Span::new(self.file, 0, 0),
                    format!("the script runs more than {MAX_COMMANDS} commands; reading stopped"),
                ));
            }
            return;
        }
        match n {
            Node::Simple {
                words,
                span,
                comment,
            } => self.simple(words, *span, comment.clone(), cond),
            Node::AndOr(first, rest) => {
                self.node(first, cond);
                for (_, n) in rest {
                    self.node(n, true);
                }
            }
            Node::Pipeline(cmds) => {
                for c in cmds {
                    self.node(c, cond);
                }
            }
            Node::If { arms, otherwise } => {
                for (c, body) in arms {
                    self.block(c, true);
                    self.block(body, true);
                }
                if let Some(o) = otherwise {
                    self.block(o, true);
                }
            }
            Node::For { var, words, body } => {
                let values: Vec<String> = match words {
                    Some(ws) => ws
                        .iter()
                        .flat_map(|w| self.expand(w))
                        .map(|w| w.text)
                        .collect(),
                    None => self.positional.clone(),
                };
                for v in values {
                    if self.stopped {
                        break;
                    }
                    self.vars.insert(var.clone(), v);
                    self.block(body, cond);
                }
            }
            Node::While { cond: c, body } => {
                self.block(c, true);
                self.block(body, true);
            }
            Node::Group(body) => self.block(body, cond),
            Node::Func(name, body) => {
                self.funcs.insert(name.clone(), (**body).clone());
            }
            Node::Unsupported(span, what) => {
                self.not_followed(*span, format!("{what} is not followed"));
            }
        }
    }

    fn simple(&mut self, raw: &[RawWord], span: Span, comment: Option<String>, cond: bool) {
        // Leading assignments.
        let mut i = 0;
        let mut assigns = Vec::new();
        while i < raw.len() {
            let Some(Part::Lit(first)) = raw[i].parts.first() else {
                break;
            };
            let Some(eq) = first.find('=') else { break };
            let name = &first[..eq];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                break;
            }
            let mut rest = raw[i].clone();
            rest.parts[0] = Part::Lit(first[eq + 1..].to_string());
            let value = self.expand_joined(&rest);
            assigns.push((name.to_string(), value));
            i += 1;
        }
        if i == raw.len() {
            for (k, v) in assigns {
                self.vars.insert(k, v);
            }
            return;
        }
        let mut words: Vec<Word> = Vec::new();
        for w in &raw[i..] {
            words.extend(self.expand(w));
        }
        let Some(name) = words.first().map(|w| w.text.clone()) else {
            return;
        };
        let cmd_span = Span::new(self.file, raw[i].span.start, span.end);
        match name.as_str() {
            "set" => {
                if words.iter().skip(1).any(|w| {
                    w.text.starts_with('-') && !w.text.starts_with("--") && w.text.contains('e')
                }) {
                    self.out.set_e = true;
                }
                return;
            }
            "local" | "export" | "readonly" | "declare" | "typeset" => {
                for w in &words[1..] {
                    if let Some((k, v)) = w.text.split_once('=') {
                        self.vars.insert(k.to_string(), v.to_string());
                    }
                }
                return;
            }
            "shift" => {
                let n = words
                    .get(1)
                    .and_then(|w| w.text.parse::<usize>().ok())
                    .unwrap_or(1);
                let n = n.min(self.positional.len());
                self.positional.drain(..n);
                return;
            }
            "exit" => {
                if !cond && self.depth == 0 {
                    self.stopped = true;
                }
                return;
            }
            "return" => return,
            "." | "source" | "eval" | "exec" => {
                self.not_followed(cmd_span, format!("`{name}` is not followed"));
                return;
            }
            _ => {}
        }
        if let Some(body) = self.funcs.get(&name).cloned() {
            if self.depth >= MAX_CALL_DEPTH {
                self.not_followed(cmd_span, "functions call each other too deeply");
                return;
            }
            let saved = std::mem::replace(
                &mut self.positional,
                words[1..].iter().map(|w| w.text.clone()).collect(),
            );
            self.depth += 1;
            self.node(&body, cond);
            self.depth -= 1;
            self.positional = saved;
            return;
        }
        self.out.commands.push(Command {
            words,
            span: cmd_span,
            conditional: cond,
            comment,
        });
    }

    fn lookup(&mut self, name: &str, span: Span) -> Option<String> {
        if let Ok(n) = name.parse::<usize>() {
            if n == 0 {
                return self.vars.get("0").cloned();
            }
            return self.positional.get(n - 1).cloned();
        }
        match name {
            "@" | "*" => return Some(self.positional.join(" ")),
            "#" => return Some(self.positional.len().to_string()),
            "?" => return Some("0".into()),
            _ => {}
        }
        let _ = span;
        self.vars.get(name).cloned()
    }

    fn unset(&mut self, name: &str, span: Span) {
        if !self.reported_vars.iter().any(|n| n == name) {
            self.reported_vars.push(name.to_string());
            let what = if name.parse::<usize>().is_ok() {
                format!("positional parameter `${name}` is not given")
            } else {
                format!("variable `${name}` is never set in the script")
            };
            self.out.diags.push(
                Diagnostic::new(Code::ScriptNotFollowed, span, what)
                    .label("read as empty")
                    .help("give the script's arguments after `--`: `tcc explain FILE -- ARGS...`"),
            );
        }
    }

    /// A word's expansion as one string (assignments: no field splitting).
    fn expand_joined(&mut self, w: &RawWord) -> String {
        let parts = w.parts.clone();
        let mut fields = vec![String::new()];
        self.parts(&parts, w.span, &mut fields, false);
        fields.join(" ")
    }

    /// A word's fields after expansion and field splitting.
    fn expand(&mut self, w: &RawWord) -> Vec<Word> {
        let parts = w.parts.clone();
        let mut fields = vec![String::new()];
        let had_quotes = parts.iter().any(|p| {
            matches!(
                p,
                Part::Quoted(_) | Part::Var { quoted: true, .. } | Part::Subst { quoted: true, .. }
            )
        });
        self.parts(&parts, w.span, &mut fields, true);
        fields
            .into_iter()
            .filter(|f| had_quotes || !f.is_empty())
            .map(|text| Word { text, span: w.span })
            .collect()
    }

    fn push_value(fields: &mut Vec<String>, v: &str, split: bool) {
        if !split {
            if let Some(last) = fields.last_mut() {
                last.push_str(v);
            }
            return;
        }
        let starts_ws = v.starts_with(char::is_whitespace);
        let ends_ws = v.ends_with(char::is_whitespace);
        let pieces: Vec<&str> = v.split_whitespace().collect();
        if pieces.is_empty() {
            if !v.is_empty() {
                fields.push(String::new());
            }
            return;
        }
        if starts_ws && fields.last().is_some_and(|f| !f.is_empty()) {
            fields.push(String::new());
        }
        for (k, p) in pieces.iter().enumerate() {
            if k > 0 {
                fields.push(String::new());
            }
            if let Some(last) = fields.last_mut() {
                last.push_str(p);
            }
        }
        if ends_ws {
            fields.push(String::new());
        }
    }

    fn parts(&mut self, parts: &[Part], span: Span, fields: &mut Vec<String>, split: bool) {
        for p in parts {
            match p {
                Part::Lit(s) | Part::Quoted(s) => {
                    if let Some(last) = fields.last_mut() {
                        last.push_str(s);
                    }
                }
                Part::Var {
                    name,
                    default,
                    quoted,
                } => match self.lookup(name, span) {
                    Some(v) if !(v.is_empty() && default.is_some()) => {
                        if name == "@" && *quoted && split {
                            for (k, a) in self.positional.clone().iter().enumerate() {
                                if k > 0 {
                                    fields.push(String::new());
                                }
                                if let Some(last) = fields.last_mut() {
                                    last.push_str(a);
                                }
                            }
                        } else {
                            Self::push_value(fields, &v, split && !quoted)
                        }
                    }
                    _ => match default {
                        Some(d) => {
                            let d = d.clone();
                            self.parts(&d, span, fields, split && !quoted);
                        }
                        None => self.unset(name, span),
                    },
                },
                Part::Subst { inner, quoted } => {
                    let v = self.subst(inner, span);
                    Self::push_value(fields, &v, split && !quoted);
                }
                Part::Arith(e) => {
                    let v = match self.arith(e) {
                        Some(v) => v.to_string(),
                        None => {
                            self.not_followed(span, format!("cannot evaluate `$(({e}))`"));
                            String::new()
                        }
                    };
                    Self::push_value(fields, &v, split);
                }
            }
        }
    }

    /// Command substitution: only `seq` (and `echo`) are evaluated.
    fn subst(&mut self, inner: &str, span: Span) -> String {
        let mut sub = Lexer {
            file: self.file,
            src: inner.as_bytes(),
            text: inner,
            pos: 0,
            diags: Diagnostics::default(),
        };
        let toks = sub.tokens();
        let mut words = Vec::new();
        for t in &toks {
            match t {
                Tok::Word(w) => {
                    let w = RawWord {
                        parts: w.parts.clone(),
                        span,
                    };
                    words.extend(self.expand(&w).into_iter().map(|w| w.text));
                }
                _ => {
                    self.not_followed(span, format!("cannot evaluate `$({inner})`"));
                    return String::new();
                }
            }
        }
        let nums: Vec<i64> = words
            .iter()
            .skip(1)
            .filter_map(|w| w.parse().ok())
            .collect();
        match words.first().map(String::as_str) {
            Some("seq") if nums.len() == words.len() - 1 && (1..=3).contains(&nums.len()) => {
                let (a, step, b) = match nums.as_slice() {
                    [b] => (1, 1, *b),
                    [a, b] => (*a, 1, *b),
                    [a, s, b] => (*a, *s, *b),
                    _ => (1, 1, 0),
                };
                if step == 0 || (b - a) / step > MAX_SEQ {
                    self.not_followed(span, format!("`$({inner})` is too long a sequence"));
                    return String::new();
                }
                let mut out = Vec::new();
                let mut x = a;
                while (step > 0 && x <= b) || (step < 0 && x >= b) {
                    out.push(x.to_string());
                    x += step;
                }
                out.join("\n")
            }
            Some("echo") => words[1..].join(" "),
            _ => {
                self.not_followed(span, format!("cannot evaluate `$({inner})`"));
                String::new()
            }
        }
    }

    fn arith(&mut self, e: &str) -> Option<i64> {
        let toks = arith_tokens(e)?;
        let mut p = 0;
        let v = self.arith_expr(&toks, &mut p, 0)?;
        (p == toks.len()).then_some(v)
    }

    fn arith_expr(&mut self, t: &[String], p: &mut usize, min_prec: u8) -> Option<i64> {
        let mut lhs = self.arith_atom(t, p)?;
        while let Some(op) = t.get(*p) {
            let prec = match op.as_str() {
                "+" | "-" => 1,
                "*" | "/" | "%" => 2,
                _ => break,
            };
            if prec < min_prec {
                break;
            }
            *p += 1;
            let rhs = self.arith_expr(t, p, prec + 1)?;
            lhs = match op.as_str() {
                "+" => lhs.checked_add(rhs)?,
                "-" => lhs.checked_sub(rhs)?,
                "*" => lhs.checked_mul(rhs)?,
                "/" => lhs.checked_div(rhs)?,
                _ => lhs.checked_rem(rhs)?,
            };
        }
        Some(lhs)
    }

    fn arith_atom(&mut self, t: &[String], p: &mut usize) -> Option<i64> {
        let tok = t.get(*p)?.clone();
        *p += 1;
        match tok.as_str() {
            "(" => {
                let v = self.arith_expr(t, p, 0)?;
                (t.get(*p)? == ")").then_some(())?;
                *p += 1;
                Some(v)
            }
            "-" => self.arith_atom(t, p)?.checked_neg(),
            _ => {
                if let Some(hex) = tok.strip_prefix("0x") {
                    return i64::from_str_radix(hex, 16).ok();
                }
                if let Ok(v) = tok.parse() {
                    return Some(v);
                }
                let name = tok.trim_start_matches('$');
                let v = self.lookup(name, Span::default())?;
                v.trim().parse().ok()
            }
        }
    }
}

fn arith_tokens(e: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let b: Vec<char> = e.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if "+-*/%()".contains(c) {
            out.push(c.to_string());
            i += 1;
        } else if c.is_ascii_alphanumeric() || c == '_' || c == '$' {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '_' || b[i] == '$') {
                i += 1;
            }
            out.push(b[s..i].iter().collect());
        } else {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds(text: &str, args: &[&str]) -> Vec<String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        read(0, text, &args)
            .commands
            .iter()
            .map(|c| {
                let w: Vec<&str> = c.words.iter().map(|w| w.text.as_str()).collect();
                format!("{}{}", if c.conditional { "?" } else { "" }, w.join(" "))
            })
            .collect()
    }

    #[test]
    fn variables_loops_functions() {
        let s = "#!/bin/sh\nset -e\nDEV=${1:-eth0}\nR=\"10 20\"\nf() { tc x \"$1\" $2; }\nfor i in $(seq 1 2) a; do\n  f $DEV ${i}\\\n  done_not\ndone\nfor r in $R; do echo $((r*2+1)); done\nif [ -n \"$DEV\" ]; then tc y; else tc z; fi\ntc a || true # c\n";
        assert_eq!(
            cmds(s, &["eth1"]),
            [
                "tc x eth1 1",
                "tc x eth1 2",
                "tc x eth1 a",
                "echo 21",
                "echo 41",
                "?[ -n eth1 ]",
                "?tc y",
                "?tc z",
                "tc a",
                "?true"
            ]
        );
        let r = read(0, s, &[]);
        assert!(r.set_e);
        assert_eq!(r.commands[8].comment.as_deref(), Some("c"));
    }

    #[test]
    fn never_panics_on_broken_input() {
        for s in [
            "if",
            "for",
            "\"",
            "'",
            "${",
            "$((",
            "f() {",
            "case x in a) ;; esac",
            ")",
            "}}",
            "a && ",
            "$(\\é",
            "`\\é`é",
            "'é",
            "\"\\é\"",
            "${é:-ü}",
            "$((é))",
            "x=\\",
            "\\",
            "é\\\né",
            "${x:-",
            "${:-}",
            "$(",
            "`",
            "x=$((1/0))",
            "while; do",
            "fi done",
        ] {
            let _ = read(0, s, &[]);
        }
    }
}
