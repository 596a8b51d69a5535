//! `expect PACKET -> CLASS`: the packet of an expectation (its criteria lowered like a match
//! line, then each required to name one value), and the check of every expectation against the
//! plan's own decision (`plan::decide`).

use crate::diagnostic::{Code, Diagnostic, Diagnostics, Span};
use crate::plan::decide::{outcomes, Packet};
use crate::plan::{Expected, Family, Interface, Match, Test};
use ipnet::IpNet;

/// The one packet an `expect` line describes. Every criterion must be positive and name a
/// single value (one address, not a network; one port; one length; a mark without a mask);
/// fields not given keep `Packet::blank`'s values (unspecified addresses, port 0, DSCP 0, mark
/// 0, the bare header length); the protocol is tcp when none is given.
pub fn packet(m: &Match) -> Result<Packet, Diagnostic> {
    let bad = |span: Span, what: &str| {
        Diagnostic::new(
            Code::BadExpectation,
            span,
            format!("an expected packet needs {what}"),
        )
        .label("not one packet")
        .help("write the single packet to check, e.g. `expect tcp dst 10.0.0.7 dport 443 -> web`")
    };
    let proto = m.proto().unwrap_or(crate::plan::PROTO_TCP);
    let fam = match m.family() {
        Family::Any => Family::V4,
        f => f,
    };
    let mut p = Packet::blank(fam, proto);
    let mut len = None;
    for c in &m.criteria {
        if c.negated {
            return Err(bad(
                c.span,
                "positive criteria (a packet is not a negation)",
            ));
        }
        let host = |ns: &[IpNet]| match ns {
            [n] if n.prefix_len() == n.max_prefix_len() => Ok(n.addr()),
            _ => Err(bad(c.span, "one address, not a network or a list")),
        };
        let port = |rs: &[crate::plan::PortRange]| match rs {
            [r] if r.lo == r.hi => Ok(r.lo),
            _ => Err(bad(c.span, "one port, not a range or a list")),
        };
        match &c.test {
            Test::Proto(_) => {}
            Test::Src(ns) => p.src = host(ns)?,
            Test::Dst(ns) => p.dst = host(ns)?,
            Test::Sport(rs) => p.sport = port(rs)?,
            Test::Dport(rs) => p.dport = port(rs)?,
            Test::Dscp(d) => p.dscp = *d,
            Test::Mark { value, mask } => {
                if mask.is_some_and(|m| m != u32::MAX) {
                    return Err(bad(c.span, "one mark, without a mask"));
                }
                p.mark = *value;
            }
            Test::Length { min, max } => {
                if min != max {
                    return Err(bad(c.span, "one length, not a range"));
                }
                len = Some(*min);
            }
        }
    }
    if let Some(l) = len {
        p.len = l;
    }
    Ok(p)
}

/// How the classes of an `expect` line and of a decision are named in messages.
fn class_name(iface: &Interface, class: Option<usize>) -> String {
    match class {
        Some(c) => format!("class `{}`", iface.classes[c].name),
        None => "no class (unclassified)".to_string(),
    }
}

/// Check every expectation of `iface`: each whose packet reaches another class than it names
/// is an error (E0401) pointing at the filter that decided it, or at the `default` property.
pub fn check(iface: &Interface, default_span: Option<Span>, diags: &mut Diagnostics) {
    for o in outcomes(iface) {
        if o.passed() {
            continue;
        }
        let (e, d, want) = (o.expectation, o.decision, o.wanted);
        let mut diag = Diagnostic::new(
            Code::ExpectationFailed,
            e.span,
            format!(
                "this packet reaches {}, not {}",
                class_name(iface, d.class),
                class_name(iface, want)
            ),
        )
        .label(format!("`{}`", e.packet.to_source()));
        diag = match d.filter {
            Some(f) => diag.secondary(
                iface.filters[f].span,
                format!(
                    "the first match that holds sends it to `{}`",
                    iface.classes[iface.filters[f].class].name
                ),
            ),
            None => match default_span {
                Some(s) if d.class.is_some() => {
                    diag.secondary(s, "no match holds, so the default class takes it")
                }
                _ => diag.note("no match holds for this packet"),
            },
        };
        if e.class == Expected::Unclassified && iface.default.is_some() {
            diag =
                diag.help("with a `default` class no packet stays unclassified: expect `default`");
        } else if e.class == Expected::Default && iface.default.is_none() {
            diag = diag.help("this interface has no `default`: expect `unclassified`");
        } else {
            diag = diag.help(
                "filters are tried in order and the first that holds wins; fix the expectation or the matches",
            );
        }
        diags.push(diag);
    }
}
