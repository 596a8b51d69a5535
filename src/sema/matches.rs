//! Match lines and rules: criteria are evaluated, rules expanded (a rule's own keys override
//! those it inherits, and keys written on a match line override the rule's), and each match is
//! checked on its own (ports need tcp/udp, one address family, one protocol).
//!
//! Size: just over 600 lines because one match line's whole expansion (rules, `port` pairs,
//! per-family lists) and its checks are kept together, in the order they are applied.

use super::value::{self, with_suggestion, Scopes, VKind, Val};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, Span};
use crate::plan::{self, Criterion, Match, Test};
use crate::syntax::ast::{self, CritKind};
use ipnet::IpNet;
use std::collections::HashMap;

/// The `rule` definitions of a file, with usage tracking.
#[derive(Default)]
pub struct RuleTable<'a> {
    defs: HashMap<String, &'a ast::RuleDef>,
    used: HashMap<String, bool>,
    order: Vec<String>,
    /// Rule references expanded for the current match line, against `MAX_REFERENCES`.
    expanded: usize,
}

/// How deep rules (and templates) may refer to one another. Real configurations use two or
/// three levels; the bound keeps expansion off the stack's limit whatever the input.
pub const MAX_CHAIN: usize = 64;
/// How many rule (or template) references one match line (or class) may expand in all: the
/// bound on diamonds (`rule b { match a a }`, `rule c { match b b }`, ...) that double per level.
pub const MAX_REFERENCES: usize = 10_000;

/// The E0114 refusal of a chain or expansion past the bounds above.
pub fn too_deep(kind: &str, name: &str, span: Span, chain: &[String]) -> Diagnostic {
    let first = chain.first().map(String::as_str).unwrap_or(name);
    Diagnostic::new(
        Code::LoopTooLarge,
        span,
        format!("{kind} `{name}` expands past {MAX_CHAIN} levels or {MAX_REFERENCES} references"),
    )
    .label("expanding this goes too far")
    .note(format!("the expansion started at `{first}`"))
    .help(format!(
        "flatten the {kind}s: each level should add something of its own"
    ))
}

impl<'a> RuleTable<'a> {
    /// Add a rule; returns the span of the first definition if the name is taken.
    pub fn define(&mut self, name: String, def: &'a ast::RuleDef) -> Option<Span> {
        if let Some(first) = self.defs.get(&name) {
            return Some(first.name.span);
        }
        self.order.push(name.clone());
        self.defs.insert(name, def);
        None
    }

    pub fn unused(&self) -> Vec<(String, Span)> {
        self.order
            .iter()
            .filter(|n| !self.used.get(*n).copied().unwrap_or(false))
            .map(|n| (n.clone(), self.defs[n].name.span))
            .collect()
    }
}

/// A criterion with the key it overrides by (`proto` for tcp/udp/icmp too).
struct Keyed {
    key: &'static str,
    crit: Criterion,
    /// Whether it came from a rule (and may be overridden by what follows on the line).
    from_rule: bool,
}

/// The most matches one `match` line may stand for (each `port` doubles them).
pub const MAX_ALTERNATIVES: usize = 16;

/// Lower one `match` line into the matches it stands for: one, or several when it says `port`
/// (a source port or a destination port: two matches) or lists addresses of both families
/// (one match per family). Empty when it has errors (reported in the diagnostics).
pub fn lower_match(
    m: &ast::MatchStmt,
    scopes: &mut Scopes,
    rules: &mut RuleTable,
) -> (Vec<Match>, Diagnostics) {
    let mut diags = Diagnostics::default();
    let mut out: Vec<Keyed> = vec![];
    rules.expanded = 0;
    for c in &m.criteria {
        expand(c, scopes, rules, &mut out, &mut diags, &mut vec![], false);
    }
    if diags.has_errors() {
        return (vec![], diags);
    }
    let alternatives = match either_port(out, m.span).and_then(|ms| {
        let mut all = vec![];
        for m in ms {
            all.extend(per_family(m)?);
        }
        Ok(all)
    }) {
        Ok(a) => a,
        Err(d) => {
            diags.push(d);
            return (vec![], diags);
        }
    };
    for m in &alternatives {
        if let Err(d) = validate(m) {
            diags.push(d);
            return (vec![], diags);
        }
    }
    (alternatives, diags)
}

/// `port N` is a source or a destination port: the line becomes one match with `sport N` and
/// one with `dport N`. `!port N` is neither: one match with `sport !N dport !N`.
fn either_port(keyed: Vec<Keyed>, span: Span) -> Result<Vec<Match>, Diagnostic> {
    let mut alts: Vec<Vec<Criterion>> = vec![vec![]];
    for k in keyed {
        let Test::Sport(ports) = &k.crit.test else {
            alts.iter_mut().for_each(|a| a.push(k.crit.clone()));
            continue;
        };
        if k.key != "port" {
            alts.iter_mut().for_each(|a| a.push(k.crit.clone()));
            continue;
        }
        let dport = Criterion {
            test: Test::Dport(ports.clone()),
            ..k.crit.clone()
        };
        if k.crit.negated {
            for a in &mut alts {
                a.push(k.crit.clone());
                a.push(dport.clone());
            }
            continue;
        }
        if alts.len() * 2 > MAX_ALTERNATIVES {
            return Err(Diagnostic::new(
                Code::TooManyAlternatives,
                span,
                format!("this match stands for more than {MAX_ALTERNATIVES} matches"),
            )
            .label("each `port` doubles the matches of its line")
            .help("split the line, or say `sport`/`dport` where the direction is known"));
        }
        let mut next = Vec::with_capacity(alts.len() * 2);
        for a in alts {
            let mut s = a.clone();
            s.push(k.crit.clone());
            let mut d = a;
            d.push(dport.clone());
            next.push(s);
            next.push(d);
        }
        alts = next;
    }
    Ok(alts
        .into_iter()
        .map(|criteria| Match { criteria })
        .collect())
}

/// A match whose address lists hold both IPv4 and IPv6 becomes one match per family, each
/// list keeping the addresses of that family. A family that some other criterion rules out
/// (an address list of the other family only, `icmp`, `icmpv6`) is dropped; if that leaves
/// addresses of a list unused, or no family at all, the line is refused (E0304).
fn per_family(m: Match) -> Result<Vec<Match>, Diagnostic> {
    let nets_of = |c: &Criterion| match &c.test {
        Test::Src(n) | Test::Dst(n) => Some(n.clone()),
        _ => None,
    };
    let mixed =
        |n: &[IpNet]| n.iter().any(|n| n.addr().is_ipv4()) && n.iter().any(|n| n.addr().is_ipv6());
    if !m.criteria.iter().filter_map(nets_of).any(|n| mixed(&n)) {
        return Ok(vec![m]);
    }
    let mut out = vec![];
    let mut ruled_out: Vec<(bool, Span, Span)> = vec![]; // (v4, the list, what rules it out)
    for v4 in [true, false] {
        let mut criteria = vec![];
        let mut against: Option<Span> = None;
        for c in &m.criteria {
            match (&c.test, nets_of(c)) {
                (_, Some(nets)) => {
                    let keep: Vec<IpNet> = nets
                        .iter()
                        .filter(|n| n.addr().is_ipv4() == v4)
                        .copied()
                        .collect();
                    if keep.is_empty() {
                        against.get_or_insert(c.span);
                        continue;
                    }
                    let test = match c.test {
                        Test::Src(_) => Test::Src(keep),
                        _ => Test::Dst(keep),
                    };
                    criteria.push(Criterion { test, ..c.clone() });
                }
                (Test::Proto(plan::PROTO_ICMP), _) if !c.negated && !v4 => {
                    against.get_or_insert(c.span);
                }
                (Test::Proto(plan::PROTO_ICMPV6), _) if !c.negated && v4 => {
                    against.get_or_insert(c.span);
                }
                _ => criteria.push(c.clone()),
            }
        }
        match against {
            None => out.push(Match { criteria }),
            Some(a) => {
                for c in &m.criteria {
                    if nets_of(c).is_some_and(|n| mixed(&n)) {
                        ruled_out.push((v4, c.span, a));
                    }
                }
            }
        }
    }
    if let Some((v4, list, a)) = ruled_out.into_iter().find(|(_, l, a)| l != a) {
        let fam = if v4 { "IPv4" } else { "IPv6" };
        return Err(Diagnostic::new(
            Code::MixedFamilies,
            list,
            format!("the {fam} addresses of this list can never match"),
        )
        .label(format!("holds {fam} addresses"))
        .secondary(a, format!("rules out {fam}"))
        .help(
            "a packet is either IPv4 or IPv6: move these addresses to a `match` line of their own",
        ));
    }
    Ok(out)
}

/// Expand one criterion (a rule reference recursively) onto `out`.
fn expand(
    c: &ast::Criterion,
    scopes: &mut Scopes,
    rules: &mut RuleTable,
    out: &mut Vec<Keyed>,
    diags: &mut Diagnostics,
    stack: &mut Vec<String>,
    from_rule: bool,
) {
    match &c.kind {
        CritKind::Rule(name) => {
            let Ok(rname) = scopes.interpolate(&name.parts).map_err(|d| diags.push(d)) else {
                return;
            };
            let Some(def) = rules.defs.get(&rname).copied() else {
                let d = Diagnostic::new(
                    Code::UnknownRule,
                    name.span,
                    format!("unknown rule `{rname}`"),
                )
                .label("no rule or match criterion of this name");
                let mut known: Vec<&str> = rules.defs.keys().map(String::as_str).collect();
                known.extend(CRITERIA);
                diags.push(with_suggestion(d, &rname, known.into_iter(), ""));
                return;
            };
            // usize::MAX: this line was already refused; unwind without more reports.
            if rules.expanded == usize::MAX {
                return;
            }
            rules.expanded += 1;
            if stack.len() >= MAX_CHAIN || rules.expanded > MAX_REFERENCES {
                diags.push(too_deep("rule", &rname, name.span, stack));
                rules.expanded = usize::MAX;
                return;
            }
            if stack.contains(&rname) {
                diags.push(
                    Diagnostic::new(
                        Code::InheritanceCycle,
                        name.span,
                        format!("rule `{rname}` refers to itself"),
                    )
                    .note(format!("cycle: {} -> {rname}", stack.join(" -> "))),
                );
                return;
            }
            rules.used.insert(rname.clone(), true);
            stack.push(rname.clone());
            let mut inner: Vec<Keyed> = vec![];
            for p in &def.parents {
                let pc = ast::Criterion {
                    negated: false,
                    kind: CritKind::Rule(p.clone()),
                    span: p.span,
                };
                expand(&pc, scopes, rules, &mut inner, diags, stack, true);
            }
            let inherited = inner.len();
            let mut own: Vec<Keyed> = vec![];
            for line in &def.lines {
                for lc in line {
                    expand(lc, scopes, rules, &mut own, diags, stack, true);
                }
            }
            stack.pop();
            // A rule's own keys override the ones it inherits.
            inner.retain(|k| !own.iter().any(|o| o.key == k.key));
            debug_assert!(inner.len() <= inherited);
            inner.extend(own);
            if c.negated {
                if inner.len() != 1 {
                    diags.push(
                        Diagnostic::new(Code::ConflictingCriteria, c.span, format!("cannot negate rule `{rname}` of {} criteria", inner.len()))
                            .label("`!` of several criteria would be an OR of negations")
                            .help("negate the single criterion that tells the traffic apart instead, e.g. `dst !10.0.0.0/8`"),
                    );
                    return;
                }
                inner[0].crit.negated = !inner[0].crit.negated;
            }
            for mut k in inner {
                k.from_rule = true;
                out.push(k);
            }
        }
        CritKind::Flag(id) => {
            let proto = match id.text.as_str() {
                "tcp" => plan::PROTO_TCP,
                "udp" => plan::PROTO_UDP,
                "icmp" => plan::PROTO_ICMP,
                _ => plan::PROTO_ICMPV6,
            };
            push(out, "proto", Test::Proto(proto), c, from_rule);
        }
        CritKind::Valued { key, values } => {
            let vals: Result<Vec<Val>, _> = values.iter().map(|v| scopes.eval(v)).collect();
            let vals = match vals {
                Ok(v) => v,
                Err(d) => return diags.push(d),
            };
            if let Some((k, test)) = valued(&key.text, &vals, c.span, diags) {
                push(out, k, test, c, from_rule);
            }
        }
    }
}

/// Push a criterion; an explicit key replaces the same key that came from a rule.
fn push(out: &mut Vec<Keyed>, key: &'static str, test: Test, c: &ast::Criterion, from_rule: bool) {
    if !from_rule {
        out.retain(|k| !(k.from_rule && k.key == key));
    }
    out.push(Keyed {
        key,
        crit: Criterion {
            negated: c.negated,
            test,
            span: c.span,
        },
        from_rule,
    });
}

const CRITERIA: [&str; 13] = [
    "tcp", "udp", "icmp", "icmpv6", "proto", "src", "dst", "sport", "dport", "port", "dscp",
    "mark", "length",
];

fn one<'v>(key: &str, vals: &'v [Val], span: Span) -> Result<&'v Val, Diagnostic> {
    match vals {
        [v] => Ok(v),
        _ => Err(
            Diagnostic::new(Code::WrongType, span, format!("`{key}` takes one value"))
                .label(format!("{} values given", vals.len())),
        ),
    }
}

fn valued(
    key: &str,
    vals: &[Val],
    span: Span,
    diags: &mut Diagnostics,
) -> Option<(&'static str, Test)> {
    let r: Result<(&'static str, Test), Diagnostic> = (|| match key {
        "proto" => Ok(("proto", Test::Proto(protocol(one(key, vals, span)?)?))),
        "src" | "dst" => {
            value::non_empty(vals)?;
            let mut nets = vec![];
            for v in vals.iter().flat_map(|v| v.flatten()) {
                if let VKind::AddrRange(lo, hi) = v.kind {
                    nets.extend(value::range_nets(lo, hi));
                    continue;
                }
                let (net, host_bits) = value::address(v)?;
                if host_bits {
                    diags.push(
                        Diagnostic::new(
                            Code::HostBitsSet,
                            v.span,
                            format!("`{}` has host bits set", v.to_text()),
                        )
                        .label(format!("this means the network {net}"))
                        .help(format!(
                            "write `{net}`, or `/{}` for the single host",
                            if net.addr().is_ipv4() { 32 } else { 128 }
                        )),
                    );
                }
                nets.push(net);
            }
            Ok(if key == "src" {
                ("src", Test::Src(nets))
            } else {
                ("dst", Test::Dst(nets))
            })
        }
        "sport" => Ok(("sport", Test::Sport(value::ports(vals)?))),
        // Either direction: split in two by `either_port`.
        "port" => Ok(("port", Test::Sport(value::ports(vals)?))),
        "dport" => Ok(("dport", Test::Dport(value::ports(vals)?))),
        "dscp" => {
            let v = one(key, vals, span)?;
            let code = match &v.kind {
                VKind::Ident(n) | VKind::Str(n) => plan::dscp_by_name(n).ok_or_else(|| {
                    Diagnostic::new(Code::BadDscp, v.span, format!("unknown DSCP class `{n}`"))
                        .label("expected a number 0..63 or a class name")
                        .help("class names are BE, EF, CS0..CS7 and AF11..AF43")
                })?,
                _ => value::bounded(v, 0, 63, "DSCP value", Code::BadDscp)? as u8,
            };
            Ok(("dscp", Test::Dscp(code)))
        }
        "mark" => {
            let v = one(key, vals, span)?;
            let num = |s: &str| -> Option<u32> {
                match s.strip_prefix("0x") {
                    Some(h) => u32::from_str_radix(h, 16).ok(),
                    None => s.parse().ok(),
                }
            };
            let bad = || {
                Diagnostic::new(Code::BadValue, v.span, "invalid firewall mark")
                    .label("expected a 32-bit number, optionally with `/mask`")
            };
            match &v.kind {
                VKind::Masked(a, b) => Ok((
                    "mark",
                    Test::Mark {
                        value: num(a).ok_or_else(bad)?,
                        mask: Some(num(b).ok_or_else(bad)?),
                    },
                )),
                VKind::Num { .. } => {
                    let n = value::bounded(v, 0, u32::MAX as i64, "mark", Code::BadValue)?;
                    Ok((
                        "mark",
                        Test::Mark {
                            value: n as u32,
                            mask: None,
                        },
                    ))
                }
                _ => Err(bad()),
            }
        }
        "length" => {
            let v = one(key, vals, span)?;
            let (lo, hi) = match &v.kind {
                VKind::Range(a, b) => (*a, *b),
                _ => {
                    let n = value::integer(v)?;
                    (n, n)
                }
            };
            if lo > hi {
                return Err(Diagnostic::new(
                    Code::ReversedRange,
                    v.span,
                    format!("range {lo}..{hi} is reversed"),
                )
                .label("the first bound is greater than the second"));
            }
            if lo < 0 || hi > 65535 {
                return Err(
                    Diagnostic::new(Code::BadValue, v.span, "packet length out of range")
                        .label("lengths are 0..65535 bytes"),
                );
            }
            Ok((
                "length",
                Test::Length {
                    min: lo as u16,
                    max: hi as u16,
                },
            ))
        }
        _ => unreachable!("grammar admits only known keys"),
    })();
    r.map_err(|d| diags.push(d)).ok()
}

fn protocol(v: &Val) -> Result<u8, Diagnostic> {
    match &v.kind {
        VKind::Ident(n) | VKind::Str(n) => {
            let p = match n.to_ascii_lowercase().as_str() {
                "icmp" => 1,
                "igmp" => 2,
                "ipip" | "ipencap" => 4,
                "tcp" => 6,
                "udp" => 17,
                "ipv6" => 41,
                "gre" => 47,
                "esp" => 50,
                "ah" => 51,
                "icmpv6" | "ipv6-icmp" => 58,
                "ospf" => 89,
                "pim" => 103,
                "vrrp" => 112,
                "l2tp" => 115,
                "sctp" => 132,
                "udplite" => 136,
                "dccp" => 33,
                _ => {
                    return Err(Diagnostic::new(
                        Code::BadValue,
                        v.span,
                        format!("unknown protocol `{n}`"),
                    )
                    .label("not a protocol name tcc knows")
                    .help("give the protocol number instead, e.g. `proto 47`"))
                }
            };
            Ok(p)
        }
        _ => Ok(value::bounded(v, 0, 255, "protocol number", Code::BadValue)? as u8),
    }
}

/// Protocols that have ports.
fn has_ports(p: u8) -> bool {
    matches!(p, plan::PROTO_TCP | plan::PROTO_UDP | 33 | 132 | 136)
}

/// Checks on one whole match: ports need tcp/udp, one protocol, one family.
fn validate(m: &Match) -> Result<(), Diagnostic> {
    let protos: Vec<&Criterion> = m
        .criteria
        .iter()
        .filter(|c| !c.negated && matches!(c.test, Test::Proto(_)))
        .collect();
    let proto_of = |c: &Criterion| match c.test {
        Test::Proto(p) => p,
        _ => unreachable!(),
    };
    if let [a, rest @ ..] = protos.as_slice() {
        if let Some(b) = rest.iter().find(|b| proto_of(b) != proto_of(a)) {
            return Err(Diagnostic::new(
                Code::ConflictingCriteria,
                b.span,
                "a packet has only one protocol",
            )
            .label("this protocol")
            .secondary(a.span, "contradicts this one")
            .help(
                "write one `match` line per protocol: several lines in a class are alternatives",
            ));
        }
    }
    let proto = protos.first().map(|c| proto_of(c));
    for c in &m.criteria {
        if matches!(c.test, Test::Sport(_) | Test::Dport(_)) && !proto.is_some_and(has_ports) {
            return Err(Diagnostic::new(
                Code::PortsWithoutProtocol,
                c.span,
                "ports without `tcp` or `udp`",
            )
            .label("only TCP, UDP, SCTP, DCCP and UDP-Lite have ports")
            .help("add `tcp` or `udp` to this match line"));
        }
    }
    // One family: addresses decide, icmp is IPv4 and icmpv6 IPv6.
    let mut fam: Option<(bool, Span)> = None;
    for c in &m.criteria {
        let this = match &c.test {
            Test::Src(n) | Test::Dst(n) => n.first().map(|n| matches!(n, IpNet::V4(_))),
            Test::Proto(plan::PROTO_ICMP) if !c.negated => Some(true),
            Test::Proto(plan::PROTO_ICMPV6) if !c.negated => Some(false),
            _ => None,
        };
        if let Some(v4) = this {
            match fam {
                Some((f, first)) if f != v4 => {
                    return Err(Diagnostic::new(
                        Code::MixedFamilies,
                        c.span,
                        "match mixes IPv4 and IPv6",
                    )
                    .label(if v4 { "IPv4" } else { "IPv6" })
                    .secondary(first, if f { "IPv4" } else { "IPv6" })
                    .help("a packet is either IPv4 or IPv6; write one `match` line per family"));
                }
                None => fam = Some((v4, c.span)),
                _ => {}
            }
        }
    }
    Ok(())
}
