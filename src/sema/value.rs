//! Evaluated values, variable scopes, and conversions from values to what a property or a
//! criterion needs (a rate, a size, ports, addresses...), each reporting its own diagnostic.
//!
//! Size: over 600 lines because every kind of value is evaluated and converted here (with its
//! own diagnostics, address ranges included), one place for what a value means.

use crate::diagnostic::{Code, Diagnostic, Span};
use crate::plan::units::{self, ParsedRate, Rate, Size, UnitError};
use crate::plan::PortRange;
use crate::syntax::ast::{Ident, StrPart, Value, ValueKind};
use ipnet::IpNet;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// A value after variables have been substituted. Keeps the span where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Val {
    pub kind: VKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum VKind {
    Str(String),
    Ident(String),
    /// A number with its unit as written (`70` + `mbit`, `20` + `%`, `18000` + ``).
    Num {
        value: f64,
        unit: String,
    },
    Ipv4(String),
    HexColon(String),
    Masked(String, String),
    /// Inclusive integer range.
    Range(i64, i64),
    /// Inclusive range of addresses of one family, first <= last.
    AddrRange(IpAddr, IpAddr),
    List(Vec<Val>),
}

impl Val {
    /// What kind of value this is, in words, for "expected X, found Y".
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            VKind::Str(_) => "a string",
            VKind::Ident(_) => "a name",
            VKind::Num { unit, .. } if unit == "%" => "a percentage",
            VKind::Num { unit, .. } if unit.is_empty() => "a number",
            VKind::Num { .. } => "a quantity with a unit",
            VKind::Ipv4(_) => "an IPv4 address",
            VKind::HexColon(_) => "an IPv6 address or classid",
            VKind::Masked(..) => "a value/mask pair",
            VKind::Range(..) => "a range",
            VKind::AddrRange(..) => "an address range",
            VKind::List(_) => "a list",
        }
    }

    /// The text this value contributes to an interpolated string or a name.
    pub fn to_text(&self) -> String {
        match &self.kind {
            VKind::Str(s) | VKind::Ident(s) | VKind::Ipv4(s) | VKind::HexColon(s) => s.clone(),
            VKind::Num { value, unit } => format!("{}{}", fmt_num(*value), unit),
            VKind::Masked(a, b) => format!("{a}/{b}"),
            VKind::Range(a, b) => format!("{a}..{b}"),
            VKind::AddrRange(a, b) => format!("{a}..{b}"),
            VKind::List(v) => v.iter().map(Val::to_text).collect::<Vec<_>>().join(","),
        }
    }

    /// Flatten nested lists into their elements (a non-list is a list of itself).
    pub fn flatten(&self) -> Vec<&Val> {
        match &self.kind {
            VKind::List(v) => v.iter().flat_map(|x| x.flatten()).collect(),
            _ => vec![self],
        }
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// One variable binding.
#[derive(Debug, Clone)]
struct Binding {
    val: Val,
    /// `val.weight()`, computed once.
    weight: usize,
    /// Where it was defined; `None` for loop variables (never reported as unused).
    def: Option<Span>,
}

/// The language's one budget for values: no value (a string, or a list with everything in it)
/// weighs more than `MAX_VALUE`, and all values evaluated in a file together no more than
/// `MAX_TOTAL` (16 per item plus the bytes of text: a list holds at most 65536 numbers). Doubling a string on every line
/// stops at the 21st line with E0115 instead of taking gigabytes.
pub const MAX_VALUE: usize = 1 << 20;
pub const MAX_TOTAL: usize = 32 << 20;

/// Nested variable scopes, innermost last. Usage is recorded by definition span.
#[derive(Debug, Default)]
pub struct Scopes {
    frames: Vec<HashMap<String, Binding>>,
    pub used: HashSet<Span>,
    /// The weight of every value evaluated so far (against `MAX_TOTAL`).
    spent: usize,
}

impl Val {
    /// The value's size against the budget: 16 per item (lists and what they hold included)
    /// plus the bytes of its text.
    pub fn weight(&self) -> usize {
        16 + match &self.kind {
            VKind::Str(s) | VKind::Ident(s) | VKind::Ipv4(s) | VKind::HexColon(s) => s.len(),
            VKind::List(v) => v.iter().map(Val::weight).sum(),
            _ => 0,
        }
    }
}

fn total_too_large(span: Span) -> Diagnostic {
    Diagnostic::new(
        Code::ValueTooLarge,
        span,
        "the values of this file are too large together",
    )
    .label(format!("more than {} MiB evaluated", MAX_TOTAL >> 20))
    .note("tcc bounds the size of values so that no input can exhaust time or memory")
}

fn too_large(span: Span, what: &str) -> Diagnostic {
    Diagnostic::new(Code::ValueTooLarge, span, format!("{what} is too large"))
        .label(format!("more than {} KiB", MAX_VALUE / 1024))
        .note("tcc bounds the size of values so that no input can exhaust time or memory")
        .help("build smaller strings and lists; no configuration needs values this large")
}

impl Scopes {
    pub fn new() -> Scopes {
        Scopes {
            frames: vec![HashMap::new()],
            used: HashSet::new(),
            spent: 0,
        }
    }

    pub fn push(&mut self) {
        self.frames.push(HashMap::new());
    }

    pub fn pop(&mut self) {
        self.frames.pop();
    }

    /// Bind `name`; returns the span of an earlier definition in the same frame, if any.
    pub fn define(&mut self, name: &str, val: Val, def: Option<Span>) -> Option<Span> {
        let frame = self.frames.last_mut().expect("a scope frame");
        let weight = val.weight();
        let old = frame.insert(name.to_string(), Binding { val, weight, def });
        old.and_then(|b| b.def)
    }

    /// The value of `name`, counted against `MAX_TOTAL` before it is copied: `Some(Err)` when
    /// the budget is spent.
    fn lookup(&mut self, name: &str) -> Option<Result<Val, ()>> {
        for f in self.frames.iter().rev() {
            if let Some(b) = f.get(name) {
                if let Some(d) = b.def {
                    self.used.insert(d);
                }
                if self.spent + b.weight > MAX_TOTAL {
                    return Some(Err(()));
                }
                self.spent += b.weight;
                return Some(Ok(b.val.clone()));
            }
        }
        None
    }

    fn names(&self) -> Vec<String> {
        self.frames.iter().flat_map(|f| f.keys().cloned()).collect()
    }

    /// Resolve a variable reference, or report it with a "did you mean".
    pub fn var(&mut self, id: &Ident) -> Result<Val, Diagnostic> {
        match self.lookup(&id.text) {
            Some(Ok(mut v)) => {
                v.span = id.span;
                Ok(v)
            }
            Some(Err(())) => Err(total_too_large(id.span)),
            None => {
                let names = self.names();
                let d = Diagnostic::new(
                    Code::UnknownVariable,
                    id.span,
                    format!("unknown variable `${}`", id.text),
                )
                .label("not defined here or in any enclosing block");
                Err(with_suggestion(
                    d,
                    &id.text,
                    names.iter().map(String::as_str),
                    "$",
                ))
            }
        }
    }

    /// Count `val` against the budget (`MAX_VALUE`, `MAX_TOTAL`).
    fn charge(&mut self, val: Val) -> Result<Val, Diagnostic> {
        let w = val.weight();
        if w > MAX_VALUE {
            return Err(too_large(val.span, val.describe()));
        }
        self.spent += w;
        if self.spent > MAX_TOTAL {
            return Err(total_too_large(val.span));
        }
        Ok(val)
    }

    /// Evaluate a value: substitute variables, interpolate strings.
    pub fn eval(&mut self, v: &Value) -> Result<Val, Diagnostic> {
        if let ValueKind::Var(_) = v.kind {
            return self.eval_unbudgeted(v); // counted by `lookup`
        }
        let val = self.eval_unbudgeted(v)?;
        self.charge(val)
    }

    fn eval_unbudgeted(&mut self, v: &Value) -> Result<Val, Diagnostic> {
        let kind = match &v.kind {
            ValueKind::Var(id) => {
                let mut val = self.var(id)?;
                val.span = v.span;
                return Ok(val);
            }
            ValueKind::List(items) => VKind::List(
                items
                    .iter()
                    .map(|i| self.eval(i))
                    .collect::<Result<_, _>>()?,
            ),
            ValueKind::Str(parts) => VKind::Str(self.interpolate(parts)?),
            ValueKind::Range(a, b) => {
                let lo = self.int_of(a)?;
                let hi = self.int_of(b)?;
                VKind::Range(lo, hi)
            }
            ValueKind::Ipv4(s) => VKind::Ipv4(s.clone()),
            ValueKind::HexColon(s) => VKind::HexColon(s.clone()),
            ValueKind::Masked(a, b) => VKind::Masked(a.clone(), b.clone()),
            ValueKind::Quantity { number, unit } => VKind::Num {
                value: parse_num(number).ok_or_else(|| {
                    Diagnostic::new(
                        Code::BadValue,
                        v.span,
                        format!("`{number}` is not a number"),
                    )
                })?,
                unit: unit.clone(),
            },
            ValueKind::Ident(s) => VKind::Ident(s.clone()),
            ValueKind::AddrRange(a, b) => addr_range(a, b, v.span)?,
            ValueKind::Pasted(parts) => {
                let text = self.interpolate(parts)?;
                let kind = match crate::syntax::lexeme::split_range(&text) {
                    Some(((a0, a1), (b0, b1))) => {
                        let side = |s: &str| Value {
                            kind: ValueKind::Quantity {
                                number: s.to_string(),
                                unit: String::new(),
                            },
                            span: v.span,
                        };
                        ValueKind::Range(
                            Box::new(side(&text[a0..a1])),
                            Box::new(side(&text[b0..b1])),
                        )
                    }
                    None => crate::syntax::lexeme::classify(&text).ok_or_else(|| {
                        Diagnostic::new(
                            Code::BadValue,
                            v.span,
                            format!("`{text}` is not a value tcc understands"),
                        )
                        .label("what the variables make of this value")
                        .help("a pasted value must read as one value: an address, a number, a rate, a name")
                    })?,
                };
                return self.eval_unbudgeted(&Value { kind, span: v.span });
            }
            ValueKind::Invalid(s) => {
                return Err(Diagnostic::new(Code::BadValue, v.span, format!("`{s}` is not a value tcc understands"))
                    .label("not a rate, size, number, address, classid or name")
                    .help("rates look like `10mbit`, addresses like `10.0.0.0/8` or `2001:db8::1`, classids like `1:2a`"))
            }
        };
        Ok(Val { kind, span: v.span })
    }

    fn int_of(&mut self, v: &Value) -> Result<i64, Diagnostic> {
        let val = self.eval(v)?;
        integer(&val)
    }

    pub fn interpolate(&mut self, parts: &[StrPart]) -> Result<String, Diagnostic> {
        let mut s = String::new();
        for p in parts {
            let text = match p {
                StrPart::Text(t) => t.clone(),
                StrPart::Var(id) => {
                    let v = self.var(id)?;
                    if v.weight() > MAX_VALUE {
                        return Err(too_large(id.span, "this value"));
                    }
                    v.to_text()
                }
            };
            if s.len() + text.len() > MAX_VALUE {
                let span = match p {
                    StrPart::Var(id) => id.span,
                    StrPart::Text(_) => parts
                        .iter()
                        .find_map(|p| match p {
                            StrPart::Var(id) => Some(id.span),
                            _ => None,
                        })
                        .unwrap_or_default(),
                };
                return Err(too_large(span, "the string"));
            }
            s.push_str(&text);
        }
        Ok(s)
    }
}

/// `a..b` of two addresses: one family, `a <= b`.
fn addr_range(a: &str, b: &str, span: Span) -> Result<VKind, Diagnostic> {
    let parse = |s: &str| {
        s.parse::<IpAddr>().map_err(|_| {
            Diagnostic::new(
                Code::BadValue,
                span,
                format!("`{s}` is not a valid address"),
            )
            .label("an address range is two single addresses: `10.0.0.10..10.0.0.60`")
        })
    };
    let (lo, hi) = (parse(a)?, parse(b)?);
    if lo.is_ipv4() != hi.is_ipv4() {
        return Err(Diagnostic::new(
            Code::AddrRangeFamilies,
            span,
            format!("range `{a}..{b}` goes from one address family to the other"),
        )
        .label("an address range stays within IPv4 or within IPv6")
        .help("write one range per family"));
    }
    if lo > hi {
        return Err(Diagnostic::new(
            Code::ReversedRange,
            span,
            format!("range {a}..{b} is reversed"),
        )
        .label("the first address is greater than the second")
        .help(format!("write `{b}..{a}`; ranges are inclusive")));
    }
    Ok(VKind::AddrRange(lo, hi))
}

/// The number of addresses in `lo..=hi` (one family, `lo <= hi`), saturating.
pub fn addr_count(lo: IpAddr, hi: IpAddr) -> u128 {
    let n = |a: IpAddr| match a {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    };
    (n(hi) - n(lo)).saturating_add(1)
}

/// The addresses of `lo..=hi` (call only after `addr_count` is known to be small).
pub fn addr_iter(lo: IpAddr, hi: IpAddr) -> impl Iterator<Item = IpAddr> {
    let count = addr_count(lo, hi);
    (0..count).map(move |i| match lo {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) + i as u32).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) + i).into()),
    })
}

fn parse_num(text: &str) -> Option<f64> {
    if let Some(hex) = text.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok().map(|v| v as f64)
    } else {
        units::parse_number(text)
    }
}

/// Add "did you mean `x`?" when a known name is close to the unknown one.
pub fn with_suggestion<'a>(
    d: Diagnostic,
    unknown: &str,
    known: impl Iterator<Item = &'a str>,
    prefix: &str,
) -> Diagnostic {
    match closest(unknown, known) {
        Some(best) => d.help(format!("did you mean `{prefix}{best}`?")),
        None => d,
    }
}

/// The known name closest to `unknown`, if it is close enough to be a likely typo.
pub fn closest<'a>(unknown: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .filter(|k| *k != unknown)
        .map(|k| (strsim::damerau_levenshtein(unknown, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3) && *d < k.len().max(unknown.len()))
        .min_by_key(|(d, k)| (*d, *k))
        .map(|(_, k)| k)
}

fn wrong(v: &Val, expected: &str) -> Diagnostic {
    Diagnostic::new(
        Code::WrongType,
        v.span,
        format!("expected {expected}, found {}", v.describe()),
    )
    .label(format!("expected {expected}"))
}

/// An integer without unit.
pub fn integer(v: &Val) -> Result<i64, Diagnostic> {
    match &v.kind {
        VKind::Num { value, unit } if unit.is_empty() && value.fract() == 0.0 => Ok(*value as i64),
        VKind::Num { unit, .. } if unit.is_empty() => Err(wrong(v, "a whole number")),
        _ => Err(wrong(v, "a number")),
    }
}

/// An integer in `lo..=hi`, or an out-of-range diagnostic naming `what`.
pub fn bounded(v: &Val, lo: i64, hi: i64, what: &str, code: Code) -> Result<i64, Diagnostic> {
    let n = integer(v)?;
    if n < lo || n > hi {
        return Err(
            Diagnostic::new(code, v.span, format!("{what} {n} is out of range"))
                .label(format!("must be between {lo} and {hi}")),
        );
    }
    Ok(n)
}

/// A rate: a number with a rate unit, or a percentage of `reference` (the parent's rate).
/// `reference` is `None` when there is no parent rate to take a percentage of.
pub fn rate(v: &Val, reference: Option<u64>) -> Result<ParsedRate, Diagnostic> {
    let VKind::Num { value, unit } = &v.kind else {
        return Err(wrong(v, "a rate such as `100mbit`"));
    };
    if *value < 0.0 {
        return Err(negative_rate(v.span));
    }
    if unit == "%" {
        let Some(r) = reference else {
            return Err(Diagnostic::new(
                Code::PercentWithoutParent,
                v.span,
                "a percentage needs a parent rate to be a percentage of",
            )
            .label("percentage of nothing")
            .help("give the parent class (or the interface) a `rate`, or write an absolute rate"));
        };
        if *value > 100.0 {
            return Err(Diagnostic::new(
                Code::BadValue,
                v.span,
                format!("{}% is more than the whole parent rate", fmt_num(*value)),
            )
            .label("at most 100%"));
        }
        return Ok(ParsedRate {
            rate: Rate((r as f64 * value / 100.0).round() as u64),
            byte_unit: None,
        });
    }
    Rate::parse(*value, unit).map_err(|e| match e {
        UnitError::MissingUnit => Diagnostic::new(
            Code::MissingUnit,
            v.span,
            format!("rate `{}` has no unit", fmt_num(*value)),
        )
        .label("bits? bytes? per second")
        .help(format!(
            "write the unit, e.g. `{}mbit` (megabits per second) or `{}kbit`",
            fmt_num(*value),
            fmt_num(*value)
        )),
        UnitError::UnknownUnit(_) => {
            let known = [
                "bit", "kbit", "mbit", "gbit", "tbit", "kibit", "mibit", "gibit", "bps", "kbps",
                "mbps", "gbps",
            ];
            let d = Diagnostic::new(
                Code::UnknownUnit,
                v.span,
                format!("unknown rate unit `{unit}`"),
            )
            .label("not a rate unit");
            match closest(&unit.to_ascii_lowercase(), known.iter().copied()) {
                Some(k) => d.help(format!("did you mean `{}{k}`?", fmt_num(*value))),
                None => d.help("rate units are bit, kbit, mbit, gbit, tbit (x1000), kibit, mibit, gibit (x1024), and bps, kbps, mbps, gbps for BYTES per second"),
            }
        }
        UnitError::TooLarge => units::rate_too_large(v.span),
        UnitError::Negative | UnitError::NotANumber => negative_rate(v.span),
    })
}

fn negative_rate(span: Span) -> Diagnostic {
    Diagnostic::new(Code::BadValue, span, "a rate cannot be negative")
}

/// A size in bytes: a bare number (bytes) or a number with a tc size unit.
pub fn size(v: &Val) -> Result<u64, Diagnostic> {
    let VKind::Num { value, unit } = &v.kind else {
        return Err(wrong(v, "a size such as `1500` or `15k`"));
    };
    match Size::parse(*value, unit) {
        Ok(s) => Ok(s.0),
        Err(UnitError::UnknownUnit(_)) => Err(Diagnostic::new(Code::UnknownUnit, v.span, format!("unknown size unit `{unit}`"))
            .label("not a size unit")
            .help("sizes are bytes (a bare number or `b`), `k`/`kb` (x1024), `m`/`mb`, `g`/`gb`, or `kbit`/`mbit`")),
        Err(_) => Err(Diagnostic::new(Code::BadValue, v.span, "a size cannot be negative")),
    }
}

/// A time (`rtt 80ms`): a number with `s`, `ms` or `us` (tc's spellings), in microseconds,
/// above zero and at most 4294 s.
pub fn time(v: &Val) -> Result<u32, Diagnostic> {
    let VKind::Num { value, unit } = &v.kind else {
        return Err(wrong(v, "a time such as `80ms`"));
    };
    if unit.is_empty() {
        return Err(
            Diagnostic::new(Code::MissingUnit, v.span, "time without a unit")
                .label("`s`, `ms` or `us`?")
                .help("write the unit, e.g. `rtt 80ms`"),
        );
    }
    let Some(us) = crate::plan::qdisc::parse_time(&format!("{value}{unit}")) else {
        return Err(Diagnostic::new(
            Code::UnknownUnit,
            v.span,
            format!("unknown time unit `{unit}`"),
        )
        .label("not a time unit")
        .help("times are `s`, `ms` or `us` (also `sec`, `msec`, `usec`)"));
    };
    if us == 0 || *value < 0.0 {
        return Err(Diagnostic::new(
            Code::BadValue,
            v.span,
            "a round-trip time must be above zero",
        )
        .label("at least 1us"));
    }
    Ok(us)
}

/// A list of ports and port ranges (`80`, `20..21`, `[80, 443]`), reversed or too-large
/// values reported.
pub fn ports(vals: &[Val]) -> Result<Vec<PortRange>, Diagnostic> {
    non_empty(vals)?;
    let mut out = vec![];
    for v in vals.iter().flat_map(|v| v.flatten()) {
        let (lo, hi) = match &v.kind {
            VKind::Range(a, b) => (*a, *b),
            VKind::Num { .. } => {
                let n = integer(v)?;
                (n, n)
            }
            _ => return Err(wrong(v, "a port or a port range such as `1024..5000`")),
        };
        for p in [lo, hi] {
            if !(0..=65535).contains(&p) {
                return Err(Diagnostic::new(
                    Code::PortOutOfRange,
                    v.span,
                    format!("port {p} is out of range"),
                )
                .label("ports are 0..65535"));
            }
        }
        if lo > hi {
            return Err(Diagnostic::new(
                Code::ReversedRange,
                v.span,
                format!("range {lo}..{hi} is reversed"),
            )
            .label("the first bound is greater than the second")
            .help(format!("write `{hi}..{lo}`; ranges are inclusive")));
        }
        out.push(PortRange {
            lo: lo as u16,
            hi: hi as u16,
        });
    }
    Ok(out)
}

/// An empty list (`[]`) where values are needed: it would match nothing, or everything.
pub fn non_empty(vals: &[Val]) -> Result<(), Diagnostic> {
    match vals.iter().find(|v| v.flatten().is_empty()) {
        Some(v) => Err(Diagnostic::new(Code::WrongType, v.span, "empty list")
            .label("at least one value is needed here")),
        None => Ok(()),
    }
}

/// The networks covering an address range exactly (the fewest CIDR blocks).
pub fn range_nets(lo: IpAddr, hi: IpAddr) -> Vec<IpNet> {
    match (lo, hi) {
        (IpAddr::V4(a), IpAddr::V4(b)) => ipnet::Ipv4Subnets::new(a, b, 0).map(IpNet::V4).collect(),
        (IpAddr::V6(a), IpAddr::V6(b)) => ipnet::Ipv6Subnets::new(a, b, 0).map(IpNet::V6).collect(),
        _ => vec![],
    }
}

/// An address or network. Returns the network and whether host bits were set (and cleared).
pub fn address(v: &Val) -> Result<(IpNet, bool), Diagnostic> {
    let text = match &v.kind {
        VKind::Ipv4(s) | VKind::HexColon(s) => s,
        _ => {
            return Err(wrong(
                v,
                "an address such as `10.0.0.0/8` or `2001:db8::/32`",
            ))
        }
    };
    let net = if text.contains('/') {
        text.parse::<IpNet>().ok()
    } else {
        text.parse::<std::net::IpAddr>().ok().map(IpNet::from)
    };
    let Some(net) = net else {
        return Err(Diagnostic::new(
            Code::BadValue,
            v.span,
            format!("`{text}` is not a valid address"),
        )
        .label("not an IPv4 or IPv6 address or network"));
    };
    let trunc = net.trunc();
    Ok((trunc, trunc != net))
}
