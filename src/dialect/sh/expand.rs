//! The expansions the reader computes itself: command substitutions (`$(seq a b)`, `echo`,
//! `cat` of a here-document) and shell arithmetic (`$((...))`, `$[...]`), each charged to the
//! budget and bounded in depth.

use super::budget::{Part as Cost, MAX_DEPTH};
use super::eval::Eval;
use super::lex::{Lexer, RawWord, Tok};
use crate::diagnostic::{Diagnostics, Span};

impl Eval<'_> {
    /// Command substitution: only `seq` (and `echo`) are evaluated.
    pub(super) fn subst(&mut self, inner: &str, span: Span) -> String {
        if !self.charge(Cost::Input, inner.len() as u64, span) {
            return String::new();
        }
        if self.nest >= MAX_DEPTH {
            self.stop(Cost::Depth, span);
            return String::new();
        }
        self.nest += 1;
        let v = self.subst_inner(inner, span);
        self.nest -= 1;
        v
    }

    fn subst_inner(&mut self, inner: &str, span: Span) -> String {
        let mut sub = Lexer {
            file: self.file,
            src: inner.as_bytes(),
            text: inner,
            pos: 0,
            diags: Diagnostics::default(),
            heredocs: Vec::new(),
            nest: 0,
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
                    self.not_followed(span, format!("cannot evaluate `$({})`", short(inner)));
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
                if step == 0 {
                    self.not_followed(span, format!("`$({inner})` never ends"));
                    return String::new();
                }
                // Its length in bytes, before making it.
                let n = (b.saturating_sub(a) / step).saturating_add(1).max(0) as u64;
                let digits = a.unsigned_abs().max(b.unsigned_abs()).to_string().len() as u64 + 2;
                if !self.charge(Cost::Bytes, n.saturating_mul(digits), span) {
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
                self.not_followed(span, format!("cannot evaluate `$({})`", short(inner)));
                String::new()
            }
        }
    }

    pub(super) fn arith(&mut self, e: &str) -> Option<i64> {
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
        if self.nest >= MAX_DEPTH {
            return None;
        }
        self.nest += 1;
        let v = self.arith_atom_inner(t, p);
        self.nest -= 1;
        v
    }

    fn arith_atom_inner(&mut self, t: &[String], p: &mut usize) -> Option<i64> {
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

/// A piece of script in a message: the first 60 characters.
pub(super) fn short(e: &str) -> String {
    match e.char_indices().nth(60) {
        Some((k, _)) => format!("{}...", &e[..k]),
        None => e.to_string(),
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
