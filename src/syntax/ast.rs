//! The spanned syntax tree of a `.shape` file, exactly as written (nothing expanded yet).

use crate::diagnostic::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub stmts: Vec<Stmt>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    Let(Let),
    Rule(RuleDef),
    Template(TemplateDef),
    Interface(InterfaceDef),
    Ingress(IngressDef),
    Class(ClassDef),
    For(ForLoop),
    Match(MatchStmt),
    Expect(ExpectStmt),
    Property(Property),
    Host(HostDef),
    Path(PathDef),
}

impl Stmt {
    pub fn span(&self) -> Span {
        match self {
            Stmt::Let(s) => s.span,
            Stmt::Rule(s) => s.span,
            Stmt::Template(s) => s.span,
            Stmt::Interface(s) => s.span,
            Stmt::Ingress(s) => s.span,
            Stmt::Class(s) => s.span,
            Stmt::For(s) => s.span,
            Stmt::Match(s) => s.span,
            Stmt::Expect(s) => s.span,
            Stmt::Property(s) => s.span,
            Stmt::Host(s) => s.span,
            Stmt::Path(s) => s.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub text: String,
    pub span: Span,
}

/// A name of a class, rule or template: a bare identifier or a string with `${var}` parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    pub parts: Vec<StrPart>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StrPart {
    Text(String),
    Var(Ident),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Let {
    pub name: Ident,
    pub value: Value,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleDef {
    pub name: Name,
    pub parents: Vec<Name>,
    /// One entry per line of the body; all criteria of all lines must hold.
    pub lines: Vec<Vec<Criterion>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TemplateDef {
    pub name: Name,
    pub parents: Vec<Name>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceDef {
    pub name: Name,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// `host NAME [: TEMPLATE, ...] { address ...; interface ... }`: one machine of a site file.
#[derive(Debug, Clone, PartialEq)]
pub struct HostDef {
    pub name: Name,
    pub templates: Vec<Name>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// `path NAME { rate ...; rtt ... }`: a network path shared by classes of many hosts.
#[derive(Debug, Clone, PartialEq)]
pub struct PathDef {
    pub name: Name,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// `ingress { ... }` in an interface block: the class tree for traffic arriving on the
/// interface (shaped on an ifb device tcc owns).
#[derive(Debug, Clone, PartialEq)]
pub struct IngressDef {
    pub body: Vec<Stmt>,
    /// The word `ingress`.
    pub keyword: Span,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClassDef {
    pub name: Name,
    pub templates: Vec<Name>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ForLoop {
    pub var: Ident,
    pub iter: Value,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MatchStmt {
    pub criteria: Vec<Criterion>,
    pub span: Span,
}

/// `expect PACKET -> CLASS`: the packet's criteria (single values, checked in `sema`) and the
/// class it must reach: a name, or the bare words `default` and `unclassified`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectStmt {
    pub criteria: Vec<Criterion>,
    pub target: Name,
    /// Whether the target is a bare word (`default`, `unclassified` are special only bare; a
    /// quoted `"default"` names a class).
    pub bare: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    pub key: Ident,
    pub values: Vec<Value>,
    pub span: Span,
}

/// One criterion of a match line: `tcp`, `dst !10.0.0.0/8`, `sport 80, 1024..5000`, or the
/// name of a rule. A `!` before the key and one before the value both negate (they cancel).
#[derive(Debug, Clone, PartialEq)]
pub struct Criterion {
    pub negated: bool,
    pub kind: CritKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CritKind {
    /// `tcp`, `udp`, `icmp`, `icmpv6`.
    Flag(Ident),
    /// `proto`, `src`, `dst`, `sport`, `dport`, `dscp`, `mark`, `length` with their values.
    Valued { key: Ident, values: Vec<Value> },
    /// A reference to a `rule`.
    Rule(Name),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    List(Vec<Value>),
    Str(Vec<StrPart>),
    Var(Ident),
    Range(Box<Value>, Box<Value>),
    /// Dotted-quad IPv4 address, optionally with `/len`.
    Ipv4(String),
    /// Text with colons: an IPv6 address (optionally `/len`) or a tc classid like `1:2a`.
    HexColon(String),
    /// `value/mask`, as in `mark 0x10/0xff`.
    Masked(String, String),
    /// A number with an optional unit: `70mbit`, `20%`, `18000`, `0x1a`.
    Quantity {
        number: String,
        unit: String,
    },
    Ident(String),
    /// `192.168.10.10..192.168.10.60` or `2001:db8::10..2001:db8::60`: an inclusive range of
    /// addresses as written (checked when evaluated).
    AddrRange(String, String),
    /// A value with variables pasted into it, `192.168.10.${h}`: the text is put together when
    /// evaluated and then read as one value (`lexeme::classify`).
    Pasted(Vec<StrPart>),
    /// A token that is none of the forms above, such as `1.2.3` (reported when evaluated).
    Invalid(String),
}
