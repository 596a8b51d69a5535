//! Rendering one `Match` as iptables / ip6tables rule criteria.
//!
//! A match is a conjunction of criteria whose lists are alternatives. iptables rules are
//! conjunctions too, so a match becomes one or more rules whose union is the match:
//!
//! - a positive list (`dst a, b`, more ports than one multiport match holds) is a choice between
//!   alternatives: one rule per alternative (a cartesian product over all such lists);
//! - a negated list means "none of them", a conjunction, so it stays in ONE rule: the first
//!   negated net as `! -d NET`, every further one as `-m iprange ! --dst-range LO-HI`; negated
//!   ports as `! --dport P` or one `-m multiport ! --dports ...` per 15 port slots. iptables
//!   accepts the same match module several times in one rule, each instance is ANDed.
//!
//! Criteria are written in a fixed order: protocol, source, destination, ports, dscp, mark,
//! length (`-p` must come before the port options that need it).

use crate::dialect::sh::quote::comment_text;
use crate::plan::matchrel::{disjoint, never_matches, OverlapIndex};
use crate::plan::{Criterion, Family, Interface, Match, PortRange, Test, PROTO_ICMP, PROTO_ICMPV6};
use crate::plan::{PROTO_TCP, PROTO_UDP};
use ipnet::IpNet;

/// iptables or ip6tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Ip4,
    Ip6,
}

impl Tool {
    pub const BOTH: [Tool; 2] = [Tool::Ip4, Tool::Ip6];

    /// The command name.
    pub fn cmd(self) -> &'static str {
        match self {
            Tool::Ip4 => "iptables",
            Tool::Ip6 => "ip6tables",
        }
    }

    /// Whether a match of family `f` has rules in this tool.
    pub fn handles(self, f: Family) -> bool {
        matches!(
            (self, f),
            (_, Family::Any) | (Tool::Ip4, Family::V4) | (Tool::Ip6, Family::V6)
        )
    }
}

/// One line of an interface's classifying chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleLine {
    Comment(String),
    /// A rule's text after `-A CHAIN `: criteria and target.
    Append(String),
}

/// The rules of the classifying chain of `iface` in `tool`, first match wins.
///
/// CLASSIFY does not stop rule traversal (the last CLASSIFY wins), so a CLASSIFY rule is
/// followed by the same criteria with `-j RETURN` unless no later filter of the interface
/// could match the same packet and pick another class (`matchrel::disjoint`).
pub fn classify_rules(iface: &Interface, tool: Tool) -> Vec<RuleLine> {
    let mut out = Vec::new();
    let index = OverlapIndex::new(iface.filters.iter().map(|f| &f.m));
    for (i, f) in iface.filters.iter().enumerate() {
        if !tool.handles(f.m.family()) {
            continue;
        }
        let classid = iface.classid(f.class);
        let name = comment_text(&iface.classes[f.class].name);
        if never_matches(&f.m) {
            out.push(RuleLine::Comment(format!(
                "filter {} -> {name} can never match: left out",
                i + 1
            )));
            continue;
        }
        let needs_return = index.candidates(&f.m).into_iter().any(|j| {
            let g = &iface.filters[j];
            j > i && g.class != f.class && !disjoint(&f.m, &g.m)
        });
        out.push(RuleLine::Comment(format!(
            "filter {} -> {name} ({classid})",
            i + 1
        )));
        for crit in rule_criteria(&f.m, tool) {
            let sep = if crit.is_empty() { "" } else { " " };
            out.push(RuleLine::Append(format!(
                "{crit}{sep}-j CLASSIFY --set-class {classid}"
            )));
            if needs_return {
                out.push(RuleLine::Append(format!("{crit}{sep}-j RETURN")));
            }
        }
    }
    out
}

/// The most port slots one multiport match takes (a range counts two).
const MULTIPORT_SLOTS: usize = 15;

/// The criteria of the rules (space-separated options, without `-A chain` and `-j`) whose union
/// matches exactly the packets of `m` in `tool`'s family. An empty string is a rule that
/// matches everything.
pub fn rule_criteria(m: &Match, tool: Tool) -> Vec<String> {
    // Each slot is a list of alternatives; a rule takes one alternative from every slot.
    let mut slots: Vec<Vec<String>> = Vec::new();
    let of = |pred: fn(&Test) -> bool| m.criteria.iter().filter(move |c| pred(&c.test));

    proto_slots(of(|t| matches!(t, Test::Proto(_))), tool, &mut slots);
    addr_slots(of(|t| matches!(t, Test::Src(_))), "-s", "src", &mut slots);
    addr_slots(of(|t| matches!(t, Test::Dst(_))), "-d", "dst", &mut slots);
    // The protocol's own `--sport`/`--dport` must come before any `-m multiport`: after it,
    // iptables reads `--dport` as multiport's `--dports` (an abbreviation) and refuses the rule
    // ("--source-ports cannot be used together with --destination-ports").
    // iptables-nft (1.8.9, measured by tests/kernel_once.rs) turns `! --sport A ! --dport B`
    // into one compare of both ports, which holds when EITHER differs: a negated single
    // destination port beside a negated single source port goes to multiport instead.
    let mut multiport = Vec::new();
    let sport_negated = port_slots(
        of(|t| matches!(t, Test::Sport(_))),
        "sport",
        false,
        &mut slots,
        &mut multiport,
    );
    port_slots(
        of(|t| matches!(t, Test::Dport(_))),
        "dport",
        sport_negated,
        &mut slots,
        &mut multiport,
    );
    slots.extend(multiport);
    for c in &m.criteria {
        let neg = if c.negated { "! " } else { "" };
        let opt = match c.test {
            Test::Dscp(d) => format!("-m dscp {neg}--dscp {d}"),
            Test::Mark { value, mask } => match mask {
                Some(mask) => format!("-m mark {neg}--mark {value:#x}/{mask:#x}"),
                None => format!("-m mark {neg}--mark {value:#x}"),
            },
            Test::Length { min, max } => format!("-m length {neg}--length {min}:{max}"),
            _ => continue,
        };
        slots.push(vec![opt]);
    }

    let mut rules = vec![String::new()];
    for slot in slots {
        let mut next = Vec::with_capacity(rules.len() * slot.len());
        for r in &rules {
            for alt in &slot {
                next.push(if r.is_empty() {
                    alt.clone()
                } else {
                    format!("{r} {alt}")
                });
            }
        }
        rules = next;
    }
    rules
}

fn proto_name(p: u8, tool: Tool) -> String {
    match (p, tool) {
        (PROTO_TCP, _) => "tcp".into(),
        (PROTO_UDP, _) => "udp".into(),
        (PROTO_ICMP, Tool::Ip4) => "icmp".into(),
        (PROTO_ICMPV6, Tool::Ip6) => "ipv6-icmp".into(),
        _ => p.to_string(),
    }
}

/// `-p` may appear once per rule. A positive protocol decides alone (a negated one that
/// differs adds nothing; one that equals it makes the match empty, which the caller skips).
/// Without one, a single negated protocol is `! -p X`; several are written as the list of all
/// other protocols (1..=255; `-p 0` would mean "all").
fn proto_slots<'a>(
    cs: impl Iterator<Item = &'a Criterion>,
    tool: Tool,
    slots: &mut Vec<Vec<String>>,
) {
    let mut positive = None;
    let mut negated = Vec::new();
    for c in cs {
        if let Test::Proto(p) = c.test {
            if c.negated {
                negated.push(p);
            } else {
                positive.get_or_insert(p);
            }
        }
    }
    match (positive, negated.as_slice()) {
        (Some(p), _) => slots.push(vec![format!("-p {}", proto_name(p, tool))]),
        (None, []) => {}
        (None, [p]) => slots.push(vec![format!("! -p {}", proto_name(*p, tool))]),
        (None, _) => slots.push(
            (1..=255u8)
                .filter(|p| !negated.contains(p))
                .map(|p| format!("-p {}", proto_name(p, tool)))
                .collect(),
        ),
    }
}

/// A network as iptables reads it; a single host without its `/32` or `/128`.
fn net_text(n: &IpNet) -> String {
    if n.prefix_len() == n.max_prefix_len() {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

fn net_range_text(n: &IpNet) -> String {
    format!("{}-{}", n.network(), n.broadcast())
}

/// Addresses: the first positive list uses `-s`/`-d` (one rule per net), further positive
/// lists and the negated nets use `iprange`, except that the first negated net takes `! -s`
/// when no positive list did.
fn addr_slots<'a>(
    cs: impl Iterator<Item = &'a Criterion>,
    flag: &str,
    dir: &str,
    slots: &mut Vec<Vec<String>>,
) {
    let mut flag_used = false;
    let mut negated: Vec<&IpNet> = Vec::new();
    for c in cs {
        let (Test::Src(nets) | Test::Dst(nets)) = &c.test else {
            continue;
        };
        if c.negated {
            negated.extend(nets);
        } else if !flag_used {
            flag_used = true;
            slots.push(
                nets.iter()
                    .map(|n| format!("{flag} {}", net_text(n)))
                    .collect(),
            );
        } else {
            slots.push(
                nets.iter()
                    .map(|n| format!("-m iprange --{dir}-range {}", net_range_text(n)))
                    .collect(),
            );
        }
    }
    for n in negated {
        if !flag_used {
            flag_used = true;
            slots.push(vec![format!("! {flag} {}", net_text(n))]);
        } else {
            slots.push(vec![format!(
                "-m iprange ! --{dir}-range {}",
                net_range_text(n)
            )]);
        }
    }
}

fn port_text(r: &PortRange) -> String {
    if r.lo == r.hi {
        r.lo.to_string()
    } else {
        format!("{}:{}", r.lo, r.hi)
    }
}

/// Split a port list into multiport-sized chunks (a range takes two of the 15 slots).
fn multiport_chunks(ports: &[PortRange]) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    let mut used = 0;
    for r in ports {
        let cost = if r.lo == r.hi { 1 } else { 2 };
        if used + cost > MULTIPORT_SLOTS {
            chunks.push(cur.join(","));
            cur.clear();
            used = 0;
        }
        cur.push(port_text(r));
        used += cost;
    }
    if !cur.is_empty() {
        chunks.push(cur.join(","));
    }
    chunks
}

/// Ports: the protocol match's own `--sport`/`--dport` takes the first single range; lists use
/// `-m multiport --sports` (one rule per chunk when positive, every chunk in the rule when
/// negated). With `no_negated_single`, a negated port takes multiport too. Returns whether a
/// negated single range took the protocol match's option.
fn port_slots<'a>(
    cs: impl Iterator<Item = &'a Criterion>,
    dir: &str,
    no_negated_single: bool,
    slots: &mut Vec<Vec<String>>,
    multiport: &mut Vec<Vec<String>>,
) -> bool {
    let mut single_used = false;
    let mut negated_single = false;
    for c in cs {
        let (Test::Sport(ports) | Test::Dport(ports)) = &c.test else {
            continue;
        };
        let neg = if c.negated { "! " } else { "" };
        if ports.len() == 1 && !single_used && !(c.negated && no_negated_single) {
            single_used = true;
            negated_single = c.negated;
            slots.push(vec![format!("{neg}--{dir} {}", port_text(&ports[0]))]);
            continue;
        }
        let alts: Vec<String> = multiport_chunks(ports)
            .into_iter()
            .map(|chunk| format!("-m multiport {neg}--{dir}s {chunk}"))
            .collect();
        if c.negated {
            multiport.extend(alts.into_iter().map(|a| vec![a]));
        } else {
            multiport.push(alts);
        }
    }
    negated_single
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Span;

    fn crit(negated: bool, test: Test) -> Criterion {
        Criterion {
            negated,
            test,
            span: Span::default(),
        }
    }

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ports(p: &[(u16, u16)]) -> Vec<PortRange> {
        p.iter().map(|&(lo, hi)| PortRange { lo, hi }).collect()
    }

    #[test]
    fn seed_example_3() {
        let m = Match {
            criteria: vec![
                crit(false, Test::Proto(PROTO_TCP)),
                crit(true, Test::Dst(nets(&["131.225.0.0/16"]))),
                crit(
                    false,
                    Test::Sport(ports(&[(80, 80), (20, 21), (1024, 5000)])),
                ),
            ],
        };
        assert_eq!(
            rule_criteria(&m, Tool::Ip4),
            ["-p tcp ! -d 131.225.0.0/16 -m multiport --sports 80,20:21,1024:5000"]
        );
    }

    #[test]
    fn positive_lists_multiply_and_negated_lists_stay_in_one_rule() {
        let m = Match {
            criteria: vec![
                crit(false, Test::Proto(PROTO_UDP)),
                crit(false, Test::Dst(nets(&["10.0.0.1/32", "10.0.1.0/24"]))),
                crit(true, Test::Src(nets(&["192.168.0.0/16", "172.16.0.0/12"]))),
                crit(true, Test::Dport(ports(&[(53, 53), (123, 123)]))),
                crit(false, Test::Dscp(46)),
            ],
        };
        assert_eq!(
            rule_criteria(&m, Tool::Ip4),
            [
                "-p udp ! -s 192.168.0.0/16 -m iprange ! --src-range 172.16.0.0-172.31.255.255 \
                 -d 10.0.0.1 -m multiport ! --dports 53,123 -m dscp --dscp 46",
                "-p udp ! -s 192.168.0.0/16 -m iprange ! --src-range 172.16.0.0-172.31.255.255 \
                 -d 10.0.1.0/24 -m multiport ! --dports 53,123 -m dscp --dscp 46",
            ]
        );
    }

    #[test]
    fn single_ports_come_before_multiport() {
        // Found by tests/kernel_expect.rs: `-m multiport --sports 80,443 --dport 80` is refused.
        let m = Match {
            criteria: vec![
                crit(false, Test::Proto(PROTO_TCP)),
                crit(false, Test::Dport(ports(&[(80, 80)]))),
                crit(false, Test::Sport(ports(&[(80, 80), (443, 443)]))),
            ],
        };
        assert_eq!(
            rule_criteria(&m, Tool::Ip4),
            ["-p tcp --dport 80 -m multiport --sports 80,443"]
        );
    }

    #[test]
    fn negated_source_and_destination_ports_are_not_one_compare() {
        // Found by tests/kernel_once.rs: iptables-nft makes `! --sport 22 ! --dport 22` one
        // compare of both ports, true when either differs.
        let m = Match {
            criteria: vec![
                crit(false, Test::Proto(PROTO_TCP)),
                crit(true, Test::Sport(ports(&[(22, 22)]))),
                crit(true, Test::Dport(ports(&[(22, 22)]))),
            ],
        };
        assert_eq!(
            rule_criteria(&m, Tool::Ip4),
            ["-p tcp ! --sport 22 -m multiport ! --dports 22"]
        );
    }

    #[test]
    fn multiport_splits_at_15_slots() {
        let many: Vec<(u16, u16)> = (0..10).map(|i| (1000 + 10 * i, 1001 + 10 * i)).collect();
        let pos = Match {
            criteria: vec![
                crit(false, Test::Proto(PROTO_TCP)),
                crit(false, Test::Dport(ports(&many))),
            ],
        };
        let rules = rule_criteria(&pos, Tool::Ip6);
        assert_eq!(
            rules,
            [
                "-p tcp -m multiport --dports 1000:1001,1010:1011,1020:1021,1030:1031,1040:1041,\
                 1050:1051,1060:1061",
                "-p tcp -m multiport --dports 1070:1071,1080:1081,1090:1091",
            ]
        );
        let neg = Match {
            criteria: vec![
                crit(false, Test::Proto(PROTO_TCP)),
                crit(true, Test::Dport(ports(&many))),
            ],
        };
        assert_eq!(rule_criteria(&neg, Tool::Ip4).len(), 1);
    }

    #[test]
    fn protocols_marks_lengths() {
        let m = Match {
            criteria: vec![
                crit(true, Test::Proto(PROTO_ICMP)),
                crit(
                    false,
                    Test::Mark {
                        value: 1,
                        mask: Some(0xff),
                    },
                ),
                crit(true, Test::Length { min: 0, max: 100 }),
            ],
        };
        assert_eq!(
            rule_criteria(&m, Tool::Ip6),
            ["! -p 1 -m mark --mark 0x1/0xff -m length ! --length 0:100"]
        );
        let icmp6 = Match {
            criteria: vec![crit(false, Test::Proto(PROTO_ICMPV6))],
        };
        assert_eq!(rule_criteria(&icmp6, Tool::Ip6), ["-p ipv6-icmp"]);
        assert_eq!(rule_criteria(&Match::default(), Tool::Ip4), [""]);
        let two_neg = Match {
            criteria: vec![
                crit(true, Test::Proto(PROTO_TCP)),
                crit(true, Test::Proto(PROTO_UDP)),
            ],
        };
        assert_eq!(rule_criteria(&two_neg, Tool::Ip4).len(), 253);
    }
}
