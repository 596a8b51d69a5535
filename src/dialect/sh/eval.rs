//! Symbolic evaluation of the shell reader's syntax tree: variables, positional parameters,
//! loops and the script's own functions (`expand` computes `$(seq a b)` and arithmetic), into
//! the simple commands the script runs, each word with its span.

use super::budget::{Budget, Part as Cost, MAX_CALLS, MAX_DEPTH};
use super::expand::short;
use super::files::{named_input, reads_stdin, shell_c_string};
use super::lex::{HereDoc, Part, RawWord};
use super::parse::Node;
use super::{Command, Files, Input, Script, Word};
use crate::diagnostic::{Code, Diagnostic, Span};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

pub(super) struct Eval<'a> {
    pub(super) file: usize,
    /// The text being read (for `sh -c '...'` strings written in it): the script's, or a
    /// sourced file's while it is read.
    pub(super) src: Rc<str>,
    /// The files the script names.
    pub(super) files: &'a mut dyn Files,
    pub(super) vars: HashMap<String, String>,
    pub(super) positional: Vec<String>,
    pub(super) funcs: HashMap<String, Rc<Node>>,
    pub(super) out: Script,
    /// Where each command goes as it is read.
    pub(super) sink: &'a mut dyn FnMut(Command),
    /// What reading may still do.
    pub(super) budget: Budget,
    /// The budget ran out: nothing more is read.
    pub(super) halted: bool,
    /// How deep evaluation is (nodes inside nodes, calls, `$(...)` inside `$(...)`).
    pub(super) nest: usize,
    pub(super) depth: usize,
    /// After an unconditional `exit`.
    pub(super) stopped: bool,
    pub(super) reported_vars: HashSet<String>,
    /// The text's here-documents (in `<<` order) with their bodies.
    pub(super) heredocs: Vec<(HereDoc, String)>,
    /// Variables set from a here-document (`v=$(cat <<'EOF' ... EOF)`), with where it is.
    pub(super) inputs: HashMap<String, Input>,
    /// In a pipeline: what the previous command writes, for the next one's stdin.
    pub(super) pipe_in: Option<Input>,
    pub(super) last_out: Option<Input>,
}

impl Eval<'_> {
    pub(super) fn not_followed(&mut self, span: Span, msg: impl Into<String>) {
        self.out.diags.push(
            Diagnostic::new(Code::ScriptNotFollowed, span, msg)
                .label("tcc cannot follow this; what it does is not in the explanation")
                .help("if it matters for shaping, rewrite it with plain tc/iptables commands"),
        );
    }

    pub(super) fn emit(&mut self, c: Command) {
        (self.sink)(c);
    }

    /// Spend `n` of the budget's part `p` for work at `span`; false (and reading stops there)
    /// when it runs out.
    pub(super) fn charge(&mut self, p: Cost, n: u64, span: Span) -> bool {
        if self.halted {
            return false;
        }
        match self.budget.spend(p, n) {
            Ok(()) => true,
            Err(p) => {
                self.stop(p, span);
                false
            }
        }
    }

    /// The budget's part `p` ran out at `span`: reading stops, and says so.
    pub(super) fn stop(&mut self, p: Cost, span: Span) {
        if self.halted {
            return;
        }
        self.halted = true;
        self.stopped = true;
        self.out.diags.push(
            Diagnostic::new(
                Code::ScriptNotFollowed,
                span,
                format!(
                    "reading stopped here: the script needs more than {} {}",
                    self.budget.given(p),
                    p.what()
                ),
            )
            .label("reading stopped here: nothing from here on is in the explanation")
            .note("tcc reads a script with a bounded budget, so that any input ends soon")
            .help("if this is a real script, split it or write its loops out"),
        );
    }

    pub(super) fn block(&mut self, nodes: &[Node], cond: bool) {
        for n in nodes {
            if self.stopped {
                return;
            }
            self.node(n, cond);
        }
    }

    fn node(&mut self, n: &Node, cond: bool) {
        if self.stopped {
            return;
        }
        if self.nest >= MAX_DEPTH {
            self.stop(Cost::Depth, Self::span_of(n, self.file));
            return;
        }
        self.nest += 1;
        self.node_inner(n, cond);
        self.nest -= 1;
    }

    /// Where a node starts, for a message (its first simple command's span).
    fn span_of(n: &Node, file: usize) -> Span {
        let first = |b: &[Node]| b.first().map(|n| Self::span_of(n, file));
        let s = match n {
            Node::Simple { span, .. } => Some(*span),
            Node::AndOr(f, _) => Some(Self::span_of(f, file)),
            Node::Pipeline(c) | Node::Group(c) => first(c),
            Node::If { arms, .. } => arms.first().and_then(|(c, _)| first(c)),
            Node::For { body, .. } | Node::While { body, .. } => first(body),
            Node::Case(arms) => arms.first().and_then(|a| first(a)),
            Node::Func(_, b) => Some(Self::span_of(b, file)),
        };
        s.unwrap_or(Span::new(file, 0, 0))
    }

    fn node_inner(&mut self, n: &Node, cond: bool) {
        match n {
            Node::Simple {
                words,
                span,
                comment,
                heredoc,
                stdin_file,
            } => {
                if !self.charge(Cost::Steps, 1, *span) {
                    return;
                }
                let stdin = heredoc.and_then(|k| self.heredoc_input(k, *span));
                self.simple(
                    words,
                    *span,
                    comment.clone(),
                    cond,
                    stdin,
                    stdin_file.as_ref(),
                )
            }
            Node::AndOr(first, rest) => {
                self.node(first, cond);
                for (_, n) in rest {
                    self.node(n, true);
                }
            }
            Node::Pipeline(cmds) => {
                for (k, c) in cmds.iter().enumerate() {
                    self.pipe_in = if k > 0 { self.last_out.take() } else { None };
                    self.last_out = None;
                    self.node(c, cond);
                }
                self.pipe_in = None;
                self.last_out = None;
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
                let at = Self::span_of(n, self.file);
                for v in values {
                    if self.stopped || !self.charge(Cost::Steps, 1, at) {
                        break;
                    }
                    self.vars.insert(var.clone(), v);
                    self.block(body, cond);
                }
            }
            Node::Case(arms) => {
                for body in arms {
                    self.block(body, true);
                }
            }
            Node::While { cond: c, body } => {
                self.block(c, true);
                self.block(body, true);
            }
            Node::Group(body) => self.block(body, cond),
            Node::Func(name, body) => {
                self.funcs.insert(name.clone(), Rc::new((**body).clone()));
            }
        }
    }

    fn simple(
        &mut self,
        raw: &[RawWord],
        span: Span,
        comment: Option<String>,
        cond: bool,
        stdin: Option<Input>,
        stdin_file: Option<&RawWord>,
    ) {
        let stdin = stdin.or_else(|| self.pipe_in.take());
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
            let input = match rest.parts.as_slice() {
                [Part::Lit(l), Part::Subst { inner, at, .. }] if l.is_empty() => {
                    self.cat_heredoc(inner, *at)
                }
                _ => None,
            };
            let value = match &input {
                Some(i) => i.text.trim_end_matches('\n').to_string(),
                None => self.expand_joined(&rest),
            };
            match input {
                Some(i) => self.inputs.insert(name.to_string(), i),
                None => self.inputs.remove(name),
            };
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
        if self.halted {
            return;
        }
        let Some(name) = words.first().map(|w| w.text.clone()) else {
            return;
        };
        let cmd_span = Span::new(self.file, raw[i].span.start, span.end);
        if let Some(k) = shell_c_string(&words) {
            self.shell_c(&words, k, cmd_span, cond);
            return;
        }
        if matches!(name.as_str(), "." | "source") && words.len() >= 2 {
            self.source(&words, cmd_span, cond);
            return;
        }
        let named = match stdin_file {
            Some(f) if reads_stdin(&words) => {
                let f = self.expand_joined(f);
                Some(f)
            }
            _ => named_input(&words).map(str::to_string),
        };
        let input_file = named.map(|f| self.load_input(&f, cmd_span));
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
            if self.depth >= MAX_CALLS {
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
        let fed = stdin.as_ref().map_or(0, |i| i.text.len())
            + match &input_file {
                Some(super::FileInput::Read(i)) => i.text.len(),
                _ => 0,
            };
        // What is fed is read line by line, each line a command of its own.
        let lines = stdin.as_ref().map_or(0, |i| i.text.matches('\n').count())
            + match &input_file {
                Some(super::FileInput::Read(i)) => i.text.matches('\n').count(),
                _ => 0,
            };
        if !self.charge(Cost::Bytes, fed as u64, cmd_span)
            || !self.charge(Cost::Steps, lines as u64, cmd_span)
        {
            return;
        }
        self.last_out = self.output_of(&raw[i..], &words, &stdin, cmd_span);
        self.emit(Command {
            words,
            span: cmd_span,
            conditional: cond,
            comment,
            stdin,
            input_file,
        });
    }

    pub(super) fn lookup(&mut self, name: &str, span: Span) -> Option<String> {
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
        if !self.reported_vars.contains(name) {
            self.reported_vars.insert(name.to_string());
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
    pub(super) fn expand_joined(&mut self, w: &RawWord) -> String {
        let parts = w.parts.clone();
        let mut fields = vec![String::new()];
        self.parts(&parts, w.span, &mut fields, false);
        fields.join(" ")
    }

    /// A word's fields after expansion and field splitting.
    pub(super) fn expand(&mut self, w: &RawWord) -> Vec<Word> {
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
            if !matches!(p, Part::Lit(_) | Part::Quoted(_))
                && !self.charge(Cost::Expansions, 1, span)
            {
                return;
            }
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
                    Some(v) if !self.charge(Cost::Bytes, v.len() as u64, span) => {}
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
                Part::Subst { inner, quoted, at } => {
                    let v = match self.cat_heredoc(inner, *at) {
                        Some(i) => i.text.trim_end_matches('\n').to_string(),
                        None => self.subst(inner, span),
                    };
                    if !self.charge(Cost::Bytes, v.len() as u64, span) {
                        return;
                    }
                    Self::push_value(fields, &v, split && !quoted);
                }
                Part::Arith(e) => {
                    let v = match self.arith(e) {
                        Some(v) => v.to_string(),
                        None => {
                            let e = short(e);
                            self.not_followed(span, format!("cannot evaluate `$(({e}))`"));
                            String::new()
                        }
                    };
                    Self::push_value(fields, &v, split);
                }
            }
        }
    }
}
