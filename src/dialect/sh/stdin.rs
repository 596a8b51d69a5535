//! What a command reads on standard input: its here-document (the file's own bytes, or each
//! line expanded when the delimiter is unquoted), a variable set from `$(cat <<'EOF' ... EOF)`
//! (which keeps where its text was written), or what `printf '%s\\n'`, `echo` or `cat` before
//! it in a pipeline write.

use super::eval::Eval;
use super::lex::{Lexer, Part, RawWord};
use super::parse::Node;
use super::{Input, Word};
use crate::diagnostic::{Diagnostics, Span};

impl Eval<'_> {
    /// The `k`-th here-document of the text as a command's stdin: its own bytes when quoted or
    /// free of expansions, else each line expanded as in double quotes.
    pub(super) fn heredoc_input(&mut self, k: usize, span: Span) -> Option<Input> {
        let (h, body) = self.heredocs.get(k)?.clone();
        if h.delim.is_empty() {
            return None;
        }
        let body_span = Span::new(self.file, h.start, h.end);
        if h.quoted || !body.contains(['$', '`']) {
            return Some(Input {
                text: body,
                at: Some(h.start),
                strip_tabs: h.strip,
                span: body_span,
            });
        }
        let mut text = String::new();
        for line in body.lines() {
            let line = if h.strip {
                line.trim_start_matches('\t')
            } else {
                line
            };
            let quoted = format!("\"{}\"", line.replace('"', "\\\""));
            let mut lx = Lexer {
                file: self.file,
                src: quoted.as_bytes(),
                text: &quoted,
                pos: 0,
                diags: Diagnostics::default(),
                heredocs: Vec::new(),
                nest: 0,
            };
            let w = lx.word();
            let w = RawWord {
                parts: w.parts,
                span: body_span,
            };
            text.push_str(&self.expand_joined(&w));
            text.push('\n');
        }
        let _ = span;
        Some(Input {
            text,
            at: None,
            strip_tabs: false,
            span: body_span,
        })
    }

    /// `$(cat <<'EOF' ... EOF)` (the inner text of a command substitution at `at`): the body.
    pub(super) fn cat_heredoc(&mut self, inner: &str, at: usize) -> Option<Input> {
        let t = inner.trim_start();
        if !t.starts_with("cat") {
            return None;
        }
        let script = super::read_nested(self.file, inner);
        let [Node::Simple { words, .. }] = script.0.as_slice() else {
            return None;
        };
        let (h, body) = script.1.first()?.clone();
        if words.len() != 1 || h.delim.is_empty() {
            return None;
        }
        let expands = !h.quoted && body.contains(['$', '`']);
        (!expands).then(|| Input {
            text: body,
            at: Some(at + h.start),
            strip_tabs: h.strip,
            span: Span::new(self.file, at + h.start, at + h.end),
        })
    }

    /// What `printf '%s\n' ARG`, `echo ARG` and `cat` (of its stdin) write, as an input.
    pub(super) fn output_of(
        &mut self,
        raw: &[RawWord],
        words: &[Word],
        stdin: &Option<Input>,
        span: Span,
    ) -> Option<Input> {
        let name = words.first()?.text.as_str();
        let args: &[RawWord] = match name {
            "printf"
                if words
                    .get(1)
                    .is_some_and(|w| w.text == "%s\n" || w.text == "%s\\n") =>
            {
                raw.get(2..)?
            }
            "echo" => raw.get(1..)?,
            "cat" if words.len() == 1 => return stdin.clone(),
            _ => return None,
        };
        if let [one] = args {
            let parts: Vec<&Part> = one
                .parts
                .iter()
                .filter(|p| !matches!(p, Part::Quoted(q) if q.is_empty()))
                .collect();
            if let [Part::Var { name, .. }] = parts.as_slice() {
                if let Some(i) = self.inputs.get(name) {
                    return Some(i.clone());
                }
            }
        }
        let skip = if name == "printf" { 2 } else { 1 };
        let mut text: String = words[skip.min(words.len())..]
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(if name == "printf" { "\n" } else { " " });
        text.push('\n');
        Some(Input {
            text,
            at: None,
            strip_tabs: false,
            span,
        })
    }
}
