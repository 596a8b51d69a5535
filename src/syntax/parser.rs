//! Source text -> spanned AST, through the pest grammar in `grammar/shape.pest`.

use super::ast::*;
use crate::diagnostic::{Code, Diagnostic, Span};
use pest::iterators::Pair;
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/shape.pest"]
pub(super) struct ShapeParser;

/// Deepest `{ }` nesting accepted. HTB allows 8 levels of classes; loops and interface blocks
/// add a few more. Checked before parsing so that absurd inputs cannot exhaust the stack.
pub const MAX_NESTING: usize = 64;

/// Parse one file. `file` is the id used in spans. On a syntax error, the first one.
pub fn parse(file: usize, text: &str) -> Result<File, Diagnostic> {
    parse_all(file, text).map_err(|mut d| d.swap_remove(0))
}

/// Parse one file; on syntax errors, each bad statement's (see `recover`), in file order, at
/// most `recover::MAX_ERRORS`, never empty.
pub fn parse_all(file: usize, text: &str) -> Result<File, Vec<Diagnostic>> {
    check_nesting(file, text).map_err(|d| vec![d])?;
    // Statement by statement when every piece parses; else whole, for the errors.
    if let Some(stmts) = super::pieces::parse(file, text) {
        return Ok(File { stmts });
    }
    whole(file, text)
}

/// The whole text with the grammar's `file` rule (after `check_nesting`).
pub(super) fn whole(file: usize, text: &str) -> Result<File, Vec<Diagnostic>> {
    let mut pairs = match ShapeParser::parse(Rule::file, text) {
        Ok(p) => p,
        Err(e) => {
            let all = super::recover::errors(file, text);
            return Err(if all.is_empty() {
                vec![syntax_error(file, text, 0, e)]
            } else {
                all
            });
        }
    };
    let root = pairs.next().expect("grammar: file");
    let cx = Cx { file, offset: 0 };
    Ok(File {
        stmts: cx.stmts(root.into_inner()),
    })
}

fn check_nesting(file: usize, text: &str) -> Result<(), Diagnostic> {
    // The tokenizer fmt and suppressions use: it knows strings (with escapes), comments and
    // `${var}` exactly as the grammar does, so a brace inside a string never counts and a
    // string's closing quote is never mistaken for an escaped one.
    use super::token::{iter, Kind};
    let (mut depth, mut lists) = (0usize, 0usize);
    for t in iter(text) {
        match t.kind {
            Kind::LBrace => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(Diagnostic::new(
                        Code::LoopTooLarge,
                        Span::new(file, t.start, t.start + 1),
                        format!("blocks nested more than {MAX_NESTING} deep"),
                    )
                    .label("this block is too deep")
                    .help("HTB allows at most 8 levels of classes; flatten the configuration"));
                }
            }
            Kind::RBrace => depth = depth.saturating_sub(1),
            Kind::LBracket => {
                lists += 1;
                if lists > MAX_NESTING {
                    return Err(Diagnostic::new(
                        Code::LoopTooLarge,
                        Span::new(file, t.start, t.start + 1),
                        format!("lists nested more than {MAX_NESTING} deep"),
                    )
                    .label("this list is too deep")
                    .help("lists are flat sets of values; nesting them this deep means nothing"));
                }
            }
            Kind::RBracket => lists = lists.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The diagnostic for a pest error in `text[offset..]` (positions in `e` are relative to it).
pub(super) fn syntax_error(
    file: usize,
    text: &str,
    offset: usize,
    e: pest::error::Error<Rule>,
) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let pos = offset
        + match e.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
    let pos = pos.min(text.len());
    // Point at the whole offending token, not one character.
    let end = text[pos..]
        .char_indices()
        .find(|&(_, c)| c.is_whitespace() || c == ';' || c == '{' || c == '}')
        .map(|(i, _)| pos + i)
        .unwrap_or(text.len());
    let end = if end == pos {
        (pos + text[pos..].chars().next().map_or(0, char::len_utf8)).min(text.len())
    } else {
        end
    };
    let at_eol = text[pos..].starts_with('\n') || text[pos..].starts_with("\r\n");
    let (found, end) = if pos >= text.len() {
        ("end of file".to_string(), pos)
    } else if at_eol {
        ("end of line".to_string(), pos)
    } else {
        (format!("`{}`", &text[pos..end]), end)
    };
    let mut expected: Vec<&str> = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().filter_map(|r| describe(*r)).collect()
        }
        ErrorVariant::CustomError { .. } => vec![],
    };
    // Before the end of the text, pest's "end of input" means the statement could end here.
    if pos < text.len() {
        for e in expected.iter_mut() {
            if *e == "end of file" {
                *e = "the end of the statement";
            }
        }
    }
    expected.sort();
    expected.dedup();
    // `value` is a silent choice: name it once rather than listing its alternatives.
    if expected.contains(&"a value") {
        expected.retain(|e| !matches!(*e, "a name" | "a range" | "a variable"));
    }
    let wanted = match expected.as_slice() {
        [] => "something else".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    };
    Diagnostic::new(
        Code::Syntax,
        Span::new(file, pos, end),
        format!("expected {wanted}, found {found}"),
    )
    .label(format!("expected {wanted}"))
}

/// How a grammar rule is named in messages; `None` hides it.
fn describe(r: Rule) -> Option<&'static str> {
    Some(match r {
        Rule::EOI => "end of file",
        Rule::braced
        | Rule::stmt
        | Rule::property
        | Rule::qdisc_prop
        | Rule::let_stmt
        | Rule::class_def => "a statement",
        Rule::list | Rule::scalar | Rule::number | Rule::pasted | Rule::paste_text => "a value",
        Rule::range => "a range",
        Rule::string => "a name",
        Rule::ident => "a name",
        Rule::ifword => "an interface name",
        Rule::str_text | Rule::interp | Rule::escape => "the closing `\"`",
        Rule::criteria | Rule::criterion | Rule::crit_rule => "a match criterion",
        Rule::flag_key | Rule::valued_key => "a match criterion",
        Rule::inherits => "`:`",
        Rule::arrow => "`->`",
        Rule::in_word => "`in`",
        Rule::keyword => "a keyword",
        Rule::var_ref => "a variable",
        _ => return None,
    })
}

/// `it` collected into a vector of exactly its size (a `collect` of a few elements keeps room
/// for at least four: over a large file most of the syntax tree's memory).
fn exact<T>(it: impl Iterator<Item = T>) -> Vec<T> {
    let (lower, upper) = it.size_hint();
    let mut v = Vec::with_capacity(upper.unwrap_or(lower));
    v.extend(it);
    v
}

/// The parts of a block statement before its body (see `Cx::head`).
pub(super) enum Head {
    Template(Name, Vec<Name>),
    Interface(Name),
    Ingress,
    Class(Name, Vec<Name>),
    Host(Name, Vec<Name>),
    Path(Name),
    For(Ident, Value),
}

/// Builds the AST from pest's pairs. `offset`: where in the file the parsed text starts (pest's
/// positions are relative to the text it was given; `pieces` gives it the rest of the file).
pub(super) struct Cx {
    pub(super) file: usize,
    pub(super) offset: usize,
}

impl Cx {
    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.file, self.offset + s.start(), self.offset + s.end())
    }

    fn stmts<'i>(&self, pairs: impl Iterator<Item = Pair<'i, Rule>>) -> Vec<Stmt> {
        exact(
            pairs
                .filter(|p| p.as_rule() != Rule::EOI)
                .map(|p| self.stmt(p)),
        )
    }

    pub(super) fn stmt(&self, p: Pair<Rule>) -> Stmt {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut it = p.into_inner().peekable();
        match rule {
            Rule::let_stmt => Stmt::Let(Let {
                name: self.ident(it.next().unwrap()),
                value: self.value(it.next().unwrap()),
                span,
            }),
            Rule::rule_def => {
                let name = self.name(it.next().unwrap());
                let mut parents = vec![];
                if it.peek().map(|p| p.as_rule()) == Some(Rule::inherits) {
                    parents = self.inherits(it.next().unwrap());
                }
                let body = it.next().unwrap();
                let lines = exact(body.into_inner().map(|c| self.criteria(c)));
                Stmt::Rule(RuleDef {
                    name,
                    parents,
                    lines,
                    span,
                })
            }
            Rule::template_def
            | Rule::interface_def
            | Rule::ingress_def
            | Rule::class_def
            | Rule::host_def
            | Rule::path_def
            | Rule::for_stmt => {
                let head = self.head(rule, &mut it);
                self.braced(head, self.stmts(it), span)
            }
            Rule::match_stmt => Stmt::Match(MatchStmt {
                criteria: exact(it.map(|c| self.criterion(c))),
                span,
            }),
            Rule::expect_stmt => {
                let mut criteria = vec![];
                for q in it.by_ref() {
                    if q.as_rule() == Rule::arrow {
                        break;
                    }
                    criteria.push(self.criterion(q));
                }
                let t = it.next().unwrap();
                let bare = t.as_rule() == Rule::ident;
                let target = self.name(t);
                Stmt::Expect(ExpectStmt {
                    criteria,
                    target,
                    bare,
                    span,
                })
            }
            Rule::property | Rule::qdisc_prop => {
                let key = self.ident(it.next().unwrap());
                let values = exact(it.map(|v| self.value(v)));
                Stmt::Property(Property { key, values, span })
            }
            r => unreachable!("stmt: {r:?}"),
        }
    }

    /// The parts of a block statement before its body, from its `*_def` rule's pairs or its
    /// `*_head` rule's (the same pairs: the head rule is the statement's rule cut at the `{`).
    pub(super) fn head<'i>(
        &self,
        rule: Rule,
        it: &mut std::iter::Peekable<impl Iterator<Item = Pair<'i, Rule>>>,
    ) -> Head {
        let inherits = |it: &mut std::iter::Peekable<_>| {
            let is = |p: &Pair<Rule>| p.as_rule() == Rule::inherits;
            match it.next_if(is) {
                Some(p) => self.inherits(p),
                None => vec![],
            }
        };
        match rule {
            Rule::template_def | Rule::template_head => {
                let name = self.name(it.next().unwrap());
                Head::Template(name, inherits(it))
            }
            Rule::interface_def | Rule::interface_head => {
                Head::Interface(self.name(it.next().unwrap()))
            }
            Rule::ingress_def | Rule::ingress_head => Head::Ingress,
            Rule::class_def | Rule::class_head => {
                let name = self.name(it.next().unwrap());
                Head::Class(name, inherits(it))
            }
            Rule::host_def | Rule::host_head => {
                let name = self.name(it.next().unwrap());
                Head::Host(name, inherits(it))
            }
            Rule::path_def | Rule::path_head => Head::Path(self.name(it.next().unwrap())),
            Rule::for_stmt | Rule::for_head => {
                let var = self.ident(it.next().unwrap());
                Head::For(var, self.value(it.next().unwrap()))
            }
            r => unreachable!("head: {r:?}"),
        }
    }

    /// A block statement from its head and its body.
    pub(super) fn braced(&self, head: Head, body: Vec<Stmt>, span: Span) -> Stmt {
        match head {
            Head::Template(name, parents) => Stmt::Template(TemplateDef {
                name,
                parents,
                body,
                span,
            }),
            Head::Interface(name) => Stmt::Interface(InterfaceDef { name, body, span }),
            Head::Ingress => {
                let keyword = Span::new(span.file, span.start, span.start + "ingress".len());
                Stmt::Ingress(IngressDef {
                    body,
                    keyword,
                    span,
                })
            }
            Head::Class(name, templates) => Stmt::Class(ClassDef {
                name,
                templates,
                body,
                span,
            }),
            Head::Host(name, templates) => Stmt::Host(HostDef {
                name,
                templates,
                body,
                span,
            }),
            Head::Path(name) => Stmt::Path(PathDef { name, body, span }),
            Head::For(var, iter) => Stmt::For(ForLoop {
                var,
                iter,
                body,
                span,
            }),
        }
    }

    fn inherits(&self, p: Pair<Rule>) -> Vec<Name> {
        exact(p.into_inner().map(|n| self.name(n)))
    }

    fn criteria(&self, p: Pair<Rule>) -> Vec<Criterion> {
        exact(p.into_inner().map(|c| self.criterion(c)))
    }

    fn criterion(&self, p: Pair<Rule>) -> Criterion {
        let span = self.span(&p);
        let mut negated = false;
        let mut kind = None;
        for part in p.into_inner() {
            match part.as_rule() {
                Rule::neg => negated = !negated,
                Rule::flag_key => kind = Some(CritKind::Flag(self.ident(part))),
                Rule::crit_rule => {
                    kind = Some(CritKind::Rule(self.name(part.into_inner().next().unwrap())))
                }
                Rule::crit_valued => {
                    let mut key = None;
                    let inner = part.into_inner();
                    let mut values = Vec::with_capacity(inner.len().saturating_sub(1));
                    for q in inner {
                        match q.as_rule() {
                            Rule::valued_key => key = Some(self.ident(q)),
                            Rule::neg => negated = !negated,
                            _ => values.push(self.value(q)),
                        }
                    }
                    kind = Some(CritKind::Valued {
                        key: key.unwrap(),
                        values,
                    });
                }
                r => unreachable!("criterion: {r:?}"),
            }
        }
        Criterion {
            negated,
            kind: kind.expect("criterion kind"),
            span,
        }
    }

    fn ident(&self, p: Pair<Rule>) -> Ident {
        Ident {
            text: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    fn name(&self, p: Pair<Rule>) -> Name {
        let span = self.span(&p);
        let parts = match p.as_rule() {
            Rule::string => self.string_parts(p),
            _ => vec![StrPart::Text(p.as_str().to_string())],
        };
        Name { parts, span }
    }

    fn string_parts(&self, p: Pair<Rule>) -> Vec<StrPart> {
        let inner = p.into_inner();
        let mut parts: Vec<StrPart> = Vec::with_capacity(inner.len());
        let push_text = |parts: &mut Vec<StrPart>, s: &str| match parts.last_mut() {
            Some(StrPart::Text(t)) => t.push_str(s),
            _ => parts.push(StrPart::Text(s.to_string())),
        };
        for q in inner {
            match q.as_rule() {
                Rule::str_text => push_text(&mut parts, q.as_str()),
                Rule::escape => {
                    let c = &q.as_str()[1..];
                    let s = match c {
                        "n" => "\n",
                        "t" => "\t",
                        other => other,
                    };
                    push_text(&mut parts, s)
                }
                Rule::interp => {
                    parts.push(StrPart::Var(self.ident(q.into_inner().next().unwrap())))
                }
                r => unreachable!("string: {r:?}"),
            }
        }
        parts
    }

    fn value(&self, p: Pair<Rule>) -> Value {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::list => ValueKind::List(exact(p.into_inner().map(|v| self.value(v)))),
            Rule::string => ValueKind::Str(self.string_parts(p)),
            Rule::range => {
                let mut it = p.into_inner();
                let a = self.value(it.next().unwrap());
                let b = self.value(it.next().unwrap());
                ValueKind::Range(Box::new(a), Box::new(b))
            }
            Rule::var_ref => ValueKind::Var(self.ident(p.into_inner().next().unwrap())),
            Rule::pasted => ValueKind::Pasted(exact(p.into_inner().map(|q| match q.as_rule() {
                Rule::var_ref => StrPart::Var(self.ident(q.into_inner().next().unwrap())),
                _ => StrPart::Text(q.as_str().to_string()),
            }))),
            Rule::number => ValueKind::Quantity {
                number: p.as_str().to_string(),
                unit: String::new(),
            },
            Rule::scalar => match super::lexeme::split_range(p.as_str()) {
                Some(((a0, a1), (b0, b1))) => {
                    let text = p.as_str();
                    let side = |s: usize, e: usize| Value {
                        kind: ValueKind::Quantity {
                            number: text[s..e].to_string(),
                            unit: String::new(),
                        },
                        span: Span::new(self.file, span.start + s, span.start + e),
                    };
                    ValueKind::Range(Box::new(side(a0, a1)), Box::new(side(b0, b1)))
                }
                None => super::lexeme::classify(p.as_str())
                    .unwrap_or_else(|| ValueKind::Invalid(p.as_str().to_string())),
            },
            r => unreachable!("value: {r:?}"),
        };
        Value { kind, span }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> File {
        parse(0, src).unwrap_or_else(|d| panic!("{}: {}", d.message, &src[d.primary.start..]))
    }

    #[test]
    fn statements_end_at_newline_semicolon_or_brace() {
        let f = ok("interface eth1 { rate 1gbit; class a { rate 1mbit } class b { rate 2mbit }\n}");
        let Stmt::Interface(i) = &f.stmts[0] else {
            panic!()
        };
        assert_eq!(i.body.len(), 3);
    }

    #[test]
    fn values_are_told_apart() {
        let f = ok("let a = 1.2.3.4/24\nlet b = 2001:db8::/32\nlet c = 1:2a\nlet d = 70mbit\nlet e = 1000..1009\nlet f = [a, \"b\",\n  3]\nlet g = 0x10/0xff");
        let kinds: Vec<_> = f
            .stmts
            .iter()
            .map(|s| match s {
                Stmt::Let(l) => l.value.kind.clone(),
                _ => panic!(),
            })
            .collect();
        assert!(matches!(kinds[0], ValueKind::Ipv4(_)));
        assert!(matches!(kinds[1], ValueKind::HexColon(_)));
        assert!(matches!(kinds[2], ValueKind::HexColon(_)));
        assert!(matches!(kinds[3], ValueKind::Quantity { .. }));
        assert!(matches!(kinds[4], ValueKind::Range(..)));
        assert!(matches!(&kinds[5], ValueKind::List(v) if v.len() == 3));
        assert!(matches!(kinds[6], ValueKind::Masked(..)));
    }

    #[test]
    fn criteria_split_rule_names_from_keys() {
        let f = ok("interface e { class c { rate 1mbit; match served dst !131.225.0.0/16 } }");
        let Stmt::Interface(i) = &f.stmts[0] else {
            panic!()
        };
        let Stmt::Class(c) = &i.body[0] else { panic!() };
        let Stmt::Match(m) = &c.body[1] else { panic!() };
        assert_eq!(m.criteria.len(), 2);
        assert!(matches!(m.criteria[0].kind, CritKind::Rule(_)));
        assert!(m.criteria[1].negated);
    }

    #[test]
    fn syntax_errors_say_what_was_expected() {
        let d = parse(0, "interface eth1 {\n  rate\n}").unwrap_err();
        assert_eq!(d.code, Code::Syntax);
        assert!(d.message.contains("expected a value"), "{}", d.message);
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let src = "interface e {".repeat(1000) + &"}".repeat(1000);
        let d = parse(0, &src).unwrap_err();
        assert_eq!(d.code, Code::LoopTooLarge);
    }
}
