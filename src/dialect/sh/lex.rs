//! The shell reader's tokens: words with their quoting and expansions (`$X`, `${X:-d}`,
//! `$(...)`, `$((...))`), operators, newlines and comments.

use crate::diagnostic::{Code, Diagnostic, Diagnostics, Span};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Part {
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
        /// Where `inner` starts in the text lexed.
        at: usize,
    },
    Arith(String),
}

const DEEP: &str = "`${X:-...}` defaults nest too deeply; the innermost are read as empty";

#[derive(Debug, Clone, PartialEq)]
pub(super) struct RawWord {
    pub(super) parts: Vec<Part>,
    pub(super) span: Span,
}

impl RawWord {
    /// The word as a plain literal, when it has no quoting or expansion.
    pub(super) fn literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Word(RawWord),
    Op(&'static str, Span),
    Newline(Span),
    /// A comment, kept so a command can carry the comment at the end of its line.
    Comment(String),
}

pub(super) struct Lexer<'a> {
    pub(super) file: usize,
    pub(super) src: &'a [u8],
    pub(super) text: &'a str,
    pub(super) pos: usize,
    pub(super) diags: Diagnostics,
    /// The here-documents, in the order of their `<<`.
    pub(super) heredocs: Vec<HereDoc>,
    /// `${X:-${Y:-...}}`: defaults inside defaults, each read by a lexer of its own.
    pub(super) nest: usize,
}

/// A here-document's body: the bytes `start..end` of the file (the delimiter line excluded).
#[derive(Debug, Clone, Default)]
pub(super) struct HereDoc {
    pub(super) delim: String,
    /// `<<-`: leading tabs are stripped from each line.
    pub(super) strip: bool,
    /// The delimiter was quoted (`<<'EOF'`): no expansion in the body.
    pub(super) quoted: bool,
    pub(super) start: usize,
    pub(super) end: usize,
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

    /// After `<<` (or `<<-`): the delimiter word, unquoted, and whether tabs are stripped.
    fn heredoc_delimiter(&mut self) -> Option<(String, bool, bool)> {
        let strip = self.peek() == Some(b'-');
        if strip {
            self.pos += 1;
        }
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        let start = self.pos;
        while self.peek().is_some_and(|c| {
            !matches!(
                c,
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b')'
            )
        }) {
            self.pos += 1;
        }
        let raw = &self.text[start..self.pos];
        let quoted = raw.contains(['\'', '"', '\\']);
        let d: String = raw
            .chars()
            .filter(|c| !matches!(c, '\'' | '"' | '\\'))
            .collect();
        (!d.is_empty()).then_some((d, strip, quoted))
    }

    /// Read a here-document's body (the lines after the command's line, up to the delimiter)
    /// into `heredocs[k]`: its lines are data, never commands.
    fn read_heredoc(&mut self, k: usize) {
        let (delim, strip) = match self.heredocs.get(k) {
            Some(h) => (h.delim.clone(), h.strip),
            None => return,
        };
        let start = self.pos;
        let mut end = self.pos;
        let mut closed = false;
        loop {
            let line_start = self.pos;
            while self.peek().is_some_and(|c| c != b'\n') {
                self.pos += 1;
            }
            let line = &self.text[line_start..self.pos];
            let line = if strip {
                line.trim_start_matches('\t')
            } else {
                line
            };
            let done = line.trim_end_matches('\r') == delim;
            if done {
                end = line_start;
                closed = true;
            }
            if self.peek() == Some(b'\n') {
                self.pos += 1;
            }
            if done || self.peek().is_none() {
                break;
            }
        }
        if !closed {
            end = self.pos;
        }
        if let Some(h) = self.heredocs.get_mut(k) {
            h.start = start;
            h.end = end;
        }
        if !closed {
            self.diags.push(
                Diagnostic::new(
                    Code::ScriptNotFollowed,
                    self.span(start, end),
                    format!("a here-document whose delimiter `{delim}` never comes"),
                )
                .label("the shell reads to the end of the file; so does tcc"),
            );
        }
    }

    pub(super) fn tokens(&mut self) -> Vec<Tok> {
        let mut out = Vec::new();
        while self.line(&mut out) {}
        out
    }

    /// The tokens of the next line (a word may span lines: quotes, `\` continuations) up to
    /// and including its newline, and the here-documents it opens; false at the end of the text.
    pub(super) fn line(&mut self, out: &mut Vec<Tok>) -> bool {
        let mut pending: Vec<usize> = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\\' if self.src.get(self.pos + 1) == Some(&b'\n') => self.pos += 2,
                b'\n' => {
                    out.push(Tok::Newline(self.span(self.pos, self.pos + 1)));
                    self.pos += 1;
                    for k in std::mem::take(&mut pending) {
                        self.read_heredoc(k);
                    }
                    return self.peek().is_some();
                }
                b'<' if self.at("<<") && !self.at("<<<") => {
                    let s = self.span(self.pos, self.pos + 2);
                    self.pos += 2;
                    out.push(Tok::Op("<<", s));
                    // One entry per `<<`, so the parser can count them; a body only when
                    // there is a delimiter.
                    let k = self.heredocs.len();
                    match self.heredoc_delimiter() {
                        Some((delim, strip, quoted)) => {
                            self.heredocs.push(HereDoc {
                                delim,
                                strip,
                                quoted,
                                ..HereDoc::default()
                            });
                            pending.push(k);
                        }
                        None => self.heredocs.push(HereDoc::default()),
                    }
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
        false
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

    pub(super) fn word(&mut self) -> RawWord {
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
            let at = self.pos;
            let inner = self.balanced(b'`', b'`');
            return Some(Part::Subst { inner, quoted, at });
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
            // `$[...]`: the old bash arithmetic (wondershaper writes it).
            Some(b'[') => {
                self.pos += 1;
                Some(Part::Arith(self.balanced(b'[', b']')))
            }
            Some(b'(') => {
                self.pos += 1;
                let at = self.pos;
                let inner = self.balanced(b'(', b')');
                Some(Part::Subst { inner, quoted, at })
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
                            heredocs: Vec::new(),
                            nest: self.nest + 1,
                        };
                        if self.nest >= super::budget::MAX_DEPTH {
                            self.diags.push(
                                Diagnostic::new(
                                    Code::ScriptNotFollowed,
                                    self.span(self.pos - 1, self.pos),
                                    DEEP,
                                )
                                .label("not followed"),
                            );
                            return Some(Part::Var {
                                name: inner[..i].to_string(),
                                default: None,
                                quoted,
                            });
                        }
                        let w = sub.word();
                        // The innermost says so in its own text: say it here, where it is.
                        if sub.diags.items.iter().any(|d| d.message.starts_with(DEEP)) {
                            self.diags.push(
                                Diagnostic::new(
                                    Code::ScriptNotFollowed,
                                    self.span(self.pos - 1, self.pos),
                                    DEEP,
                                )
                                .label("not followed"),
                            );
                        }
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
