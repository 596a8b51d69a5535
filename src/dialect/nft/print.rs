//! nftables classification: one tcc-owned table per interface, `table inet tcc_<iface>`, whose
//! chain is hooked at postrouting with the mangle priority (where iptables' mangle POSTROUTING
//! runs) and sets `meta priority`, which HTB reads as the class id.
//!
//! - First match wins: every classifying rule ends with `return`, which leaves tcc's chain
//!   (and only that: other tables' chains at the same hook still see the packet).
//! - Lists inside one criterion are anonymous sets (`ip daddr { a, b }`, `!= { ... }`).
//! - Consecutive filters that differ only in single values (a host, a port, a protocol), like
//!   the filters a loop makes, become ONE rule with a map from those values to class ids:
//!   `meta priority set ip daddr . tcp dport map { 1.2.3.4 . 1000 : 1:10, ... }`, so
//!   classification stays one lookup however many such filters there are. Keys are exact
//!   values, so distinct keys never match the same packet; a repeated key keeps its first
//!   filter, as first-match-wins does.
//! - Families as in the iptables target: IPv4 matches (addresses, icmp) apply to IPv4 only,
//!   IPv6 ones to IPv6 only, the rest to both. DSCP and length read family-specific header
//!   fields, so a family-agnostic match testing them becomes one rule per family (IPv6
//!   length is the payload length: iptables' `length` counts the 40-byte header too).
//! - The ruleset deletes and recreates the whole table in one `nft -f` transaction: the
//!   kernel switches from the old table to the new one atomically, and nothing outside the
//!   table is touched.

use crate::dialect::sh::quote::comment_text;
use crate::plan::matchrel::never_matches;
use crate::plan::{Criterion, Family, Interface, Match, Plan, PortRange, Test};
use crate::plan::{PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP};
use ipnet::IpNet;
use std::fmt::Write;

/// The tcc-owned table of interface `iface`: `tcc_` and the name, with characters that are
/// not allowed in an nft identifier replaced by `_` and, then, a hash of the real name
/// appended so that `eth-1` and `eth_1` keep apart.
pub fn table_name(iface: &str) -> String {
    if iface.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return format!("tcc_{iface}");
    }
    let clean: String = iface
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    // FNV-1a, 32 bits: stable across versions and platforms.
    let hash = iface.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    });
    format!("tcc_{clean}_{hash:08x}")
}

/// `nft -f` input that replaces the tables of all interfaces of `plan`.
pub fn ruleset(plan: &Plan) -> String {
    let mut out = String::new();
    for iface in &plan.interfaces {
        table(iface, &mut out);
    }
    out
}

/// `nft -f` input that removes the tables of all interfaces of `plan` (whether they exist
/// or not: declaring an empty table first makes the deletion always valid).
pub fn teardown_ruleset(plan: &Plan) -> String {
    let mut out = String::new();
    for iface in &plan.interfaces {
        let t = table_name(&iface.name);
        let _ = writeln!(out, "table inet {t} {{}}\ndelete table inet {t}");
    }
    out
}

fn table(iface: &Interface, out: &mut String) {
    let t = table_name(&iface.name);
    let _ = writeln!(
        out,
        "# {}: classification, first match wins",
        comment_text(&iface.name)
    );
    let _ = writeln!(out, "table inet {t} {{}}\ndelete table inet {t}");
    out.push_str(&table_body(iface));
}

/// The table with its marker comment: `table inet tcc_X { comment "tcc <digest>"; chain ... }`.
/// The one rendering of tcc's table, for the `nft` target and `tcc apply` alike.
pub fn table_body(iface: &Interface) -> String {
    let t = table_name(&iface.name);
    let mut out = String::new();
    let _ = writeln!(out, "table inet {t} {{");
    let _ = writeln!(out, "\tcomment \"{}\"", marker(iface));
    out.push_str(&chain(iface));
    out.push_str("}\n");
    out
}

/// The comment that marks tcc's table and what it should hold: `tcc ` and a digest of the
/// chain tcc writes (`dialect::owned::digest`).
pub fn marker(iface: &Interface) -> String {
    format!("tcc {}", crate::dialect::owned::digest(&chain(iface)))
}

/// How many rules `chain(iface)` holds (`nft list` shows one `# handle` per rule): with the
/// marker, what `tcc plan` compares a listed table with.
pub fn rule_count(iface: &Interface) -> usize {
    chain(iface)
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with('#')
                && !l.starts_with("chain ")
                && !l.starts_with("type ")
                && *l != "}"
        })
        .count()
}

/// The classifying chain of the interface's table: `\tchain postrouting { ... }` and a
/// newline, indented to sit inside `table inet ... { }`. Both the `nft` target and `tcc apply`
/// (`apply::nft`, which adds its digest comment before it) write the table body with this.
pub fn chain(iface: &Interface) -> String {
    let mut out = String::new();
    out.push_str("\tchain postrouting {\n");
    out.push_str("\t\ttype filter hook postrouting priority mangle; policy accept;\n");
    let _ = writeln!(out, "\t\toifname != \"{}\" return", iface.name);
    for item in rules(iface) {
        match item {
            Item::Comment(c) => {
                let _ = writeln!(out, "\t\t# {c}");
            }
            Item::Rule(r) => {
                let _ = writeln!(out, "\t\t{r}");
            }
        }
    }
    out.push_str("\t}\n");
    out
}

enum Item {
    Comment(String),
    Rule(String),
}

/// One test of a rule: `ip daddr` `!=` `{ 10.0.0.0/8, ... }`. `key` marks a test against one
/// exact value, which may become part of a map key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expr {
    lhs: String,
    op: &'static str,
    rhs: String,
    key: bool,
}

impl Expr {
    fn text(&self) -> String {
        if self.op.is_empty() {
            format!("{} {}", self.lhs, self.rhs)
        } else {
            format!("{} {} {}", self.lhs, self.op, self.rhs)
        }
    }
}

/// The rules of one plan filter: one per family variant (usually one).
struct FilterRules {
    index: usize,
    variants: Vec<Vec<Expr>>,
}

fn rules(iface: &Interface) -> Vec<Item> {
    let mut out = Vec::new();
    let filters: Vec<FilterRules> = iface
        .filters
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            if never_matches(&f.m) {
                out.push(Item::Comment(format!(
                    "filter {} -> {} can never match: left out",
                    i + 1,
                    comment_text(&iface.classes[f.class].name)
                )));
                return None;
            }
            let variants: Vec<Vec<Expr>> = variants(&f.m)
                .into_iter()
                .filter_map(|fam| exprs(&f.m, fam))
                .collect();
            Some(FilterRules { index: i, variants })
        })
        .collect();
    let mut k = 0;
    while k < filters.len() {
        let run = map_run(&filters[k..]);
        if run >= 2 {
            map_rule(iface, &filters[k..k + run], &mut out);
            k += run;
            continue;
        }
        let fr = &filters[k];
        let f = &iface.filters[fr.index];
        let classid = iface.classid(f.class);
        out.push(Item::Comment(format!(
            "filter {} -> {} ({classid})",
            fr.index + 1,
            comment_text(&iface.classes[f.class].name)
        )));
        for v in &fr.variants {
            let mut r: Vec<String> = v.iter().map(Expr::text).collect();
            r.push(format!("meta priority set {classid} return"));
            out.push(Item::Rule(r.join(" ")));
        }
        k += 1;
    }
    out
}

/// How many filters from the start of `fs` can share one map rule: each has one rule with
/// the same tests in the same order, differing only in exact-value tests.
fn map_run(fs: &[FilterRules]) -> usize {
    let Some(first) = fs.first().and_then(single) else {
        return 0;
    };
    let mut n = 1;
    for fr in &fs[1..] {
        let Some(v) = single(fr) else { break };
        let same_shape = v.len() == first.len()
            && v.iter().zip(first).all(|(a, b)| {
                a.lhs == b.lhs && a.op == b.op && (a.rhs == b.rhs || (a.key && b.key))
            });
        if !same_shape {
            break;
        }
        n += 1;
    }
    // A run whose members differ in nothing at all is a list of duplicates: no map needed.
    if n >= 2 && key_positions(&fs[..n]).is_empty() {
        return 0;
    }
    n
}

fn single(fr: &FilterRules) -> Option<&Vec<Expr>> {
    match fr.variants.as_slice() {
        [v] => Some(v),
        _ => None,
    }
}

/// The positions where the rules of a run differ: the parts of the map key.
fn key_positions(run: &[FilterRules]) -> Vec<usize> {
    let first = &run[0].variants[0];
    (0..first.len())
        .filter(|&p| run.iter().any(|fr| fr.variants[0][p].rhs != first[p].rhs))
        .collect()
}

fn map_rule(iface: &Interface, run: &[FilterRules], out: &mut Vec<Item>) {
    let keys = key_positions(run);
    let first = &run[0].variants[0];
    out.push(Item::Comment(format!(
        "filters {}..{}: one map lookup",
        run[0].index + 1,
        run[run.len() - 1].index + 1
    )));
    let mut r: Vec<String> = first
        .iter()
        .enumerate()
        .filter(|(p, _)| !keys.contains(p))
        .map(|(_, e)| e.text())
        .collect();
    let lhs: Vec<&str> = keys.iter().map(|&p| first[p].lhs.as_str()).collect();
    let mut seen = std::collections::HashSet::new();
    let mut elems = Vec::new();
    for fr in run {
        let key: Vec<&str> = keys
            .iter()
            .map(|&p| fr.variants[0][p].rhs.as_str())
            .collect();
        let key = key.join(" . ");
        // First match wins: a key seen before belongs to the earlier filter.
        if seen.insert(key.clone()) {
            let f = &iface.filters[fr.index];
            elems.push(format!("{key} : {}", iface.classid(f.class)));
        }
    }
    r.push(format!(
        "meta priority set {} map {{ {} }} return",
        lhs.join(" . "),
        elems.join(", ")
    ));
    out.push(Item::Rule(r.join(" ")));
}

/// The families a match needs a rule for: `Any` (one rule for both) unless it is
/// family-specific or reads a family-specific header field.
fn variants(m: &Match) -> Vec<Family> {
    match m.family() {
        Family::Any => {
            let split = m
                .criteria
                .iter()
                .any(|c| matches!(c.test, Test::Dscp(_) | Test::Length { .. }));
            if split {
                vec![Family::V4, Family::V6]
            } else {
                vec![Family::Any]
            }
        }
        f => vec![f],
    }
}

fn proto_name(p: u8) -> String {
    match p {
        PROTO_TCP => "tcp".into(),
        PROTO_UDP => "udp".into(),
        PROTO_ICMP => "icmp".into(),
        PROTO_ICMPV6 => "ipv6-icmp".into(),
        _ => p.to_string(),
    }
}

/// `{ a, b }` for several values, the value alone for one.
fn set(items: Vec<String>) -> (String, bool) {
    if items.len() == 1 {
        (items.into_iter().next().unwrap(), true)
    } else {
        (format!("{{ {} }}", items.join(", ")), false)
    }
}

fn net_text(n: &IpNet) -> String {
    if n.prefix_len() == n.max_prefix_len() {
        n.addr().to_string()
    } else {
        n.trunc().to_string()
    }
}

fn port_text(r: &PortRange) -> String {
    if r.lo == r.hi {
        r.lo.to_string()
    } else {
        format!("{}-{}", r.lo, r.hi)
    }
}

/// Sorted ranges with overlapping and adjacent ones merged (nft refuses overlapping
/// intervals in a set; the union is the same).
fn merge_ranges(mut v: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    v.sort();
    let mut out: Vec<(u32, u32)> = Vec::new();
    for (lo, hi) in v {
        match out.last_mut() {
            Some(last) if lo <= last.1 + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// The tests of one rule for match `m` in family `fam` (`Any`: both), or `None` when no
/// packet of that family can match.
fn exprs(m: &Match, fam: Family) -> Option<Vec<Expr>> {
    let mut out = Vec::new();
    let neg = |n: bool| if n { "!=" } else { "" };
    let has_addr = m
        .criteria
        .iter()
        .any(|c| matches!(c.test, Test::Src(_) | Test::Dst(_)));
    if !has_addr {
        match fam {
            Family::V4 => out.push(fixed("meta nfproto", "", "ipv4")),
            Family::V6 => out.push(fixed("meta nfproto", "", "ipv6")),
            Family::Any => {}
        }
    }
    let positive = m.proto();
    let negated: Vec<u8> = m
        .criteria
        .iter()
        .filter_map(|c| match c.test {
            Test::Proto(p) if c.negated => Some(p),
            _ => None,
        })
        .collect();
    match positive {
        Some(p) => out.push(Expr {
            lhs: "meta l4proto".into(),
            op: "",
            rhs: proto_name(p),
            key: true,
        }),
        None if !negated.is_empty() => {
            let mut ps = negated.clone();
            ps.sort();
            ps.dedup();
            let (rhs, _) = set(ps.into_iter().map(proto_name).collect());
            out.push(fixed("meta l4proto", "!=", &rhs));
        }
        None => {}
    }
    // Ports need the transport header: `tcp`/`udp` for those, `th` for any other protocol.
    let th = match positive {
        Some(PROTO_TCP) => "tcp",
        Some(PROTO_UDP) => "udp",
        _ => "th",
    };
    // nft (1.0.6, measured by tests/kernel_once.rs) merges `tcp sport != A tcp dport != B` into
    // one compare of both ports, which holds when EITHER differs: beside a negated single source
    // port, a negated single destination port is written as a range `P-P` (a range compare,
    // never merged; a one-element set `{ P }` is turned back into a compare and merged).
    let one_port = |c: &Criterion| matches!(&c.test, Test::Sport(r) | Test::Dport(r) if r.len() == 1 && r[0].lo == r[0].hi);
    let neg_sport = m
        .criteria
        .iter()
        .any(|c| c.negated && matches!(c.test, Test::Sport(_)) && one_port(c));
    for c in &m.criteria {
        let op = neg(c.negated);
        match &c.test {
            Test::Proto(_) => {}
            Test::Src(nets) | Test::Dst(nets) => {
                let dir = if matches!(c.test, Test::Src(_)) {
                    "saddr"
                } else {
                    "daddr"
                };
                let ip = match nets.first() {
                    Some(IpNet::V6(_)) => "ip6",
                    _ => "ip",
                };
                let merged = IpNet::aggregate(nets);
                let host =
                    merged.len() == 1 && merged[0].prefix_len() == merged[0].max_prefix_len();
                let (rhs, _) = set(merged.iter().map(net_text).collect());
                out.push(Expr {
                    lhs: format!("{ip} {dir}"),
                    op,
                    rhs,
                    key: host && !c.negated,
                });
            }
            Test::Sport(ranges) | Test::Dport(ranges) => {
                let dir = if matches!(c.test, Test::Sport(_)) {
                    "sport"
                } else {
                    "dport"
                };
                let merged =
                    merge_ranges(ranges.iter().map(|r| (r.lo as u32, r.hi as u32)).collect());
                let single = merged.len() == 1 && merged[0].0 == merged[0].1;
                let (mut rhs, _) = set(merged
                    .iter()
                    .map(|&(lo, hi)| {
                        port_text(&PortRange {
                            lo: lo as u16,
                            hi: hi as u16,
                        })
                    })
                    .collect());
                if dir == "dport" && c.negated && neg_sport && one_port(c) {
                    rhs = format!("{rhs}-{rhs}");
                }
                out.push(Expr {
                    lhs: format!("{th} {dir}"),
                    op,
                    rhs,
                    key: single && !c.negated,
                });
            }
            Test::Dscp(d) => {
                let ip = if fam == Family::V6 { "ip6" } else { "ip" };
                out.push(fixed(&format!("{ip} dscp"), op, &d.to_string()));
            }
            Test::Mark { value, mask } => match mask {
                Some(mask) => out.push(fixed(
                    &format!("meta mark & {mask:#x}"),
                    if c.negated { "!=" } else { "==" },
                    &format!("{value:#x}"),
                )),
                None => out.push(fixed("meta mark", op, &format!("{value:#x}"))),
            },
            Test::Length { min, max } => {
                let (lhs, lo, hi) = if fam == Family::V6 {
                    // iptables counts the fixed header; nft's ip6 length is the payload.
                    if *max < 40 {
                        if c.negated {
                            continue; // no IPv6 packet is that short: always true
                        }
                        return None;
                    }
                    ("ip6 length", min.saturating_sub(40), max - 40)
                } else {
                    ("ip length", *min, *max)
                };
                let rhs = if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                };
                out.push(fixed(lhs, op, &rhs));
            }
        }
    }
    Some(out)
}

fn fixed(lhs: &str, op: &'static str, rhs: &str) -> Expr {
    Expr {
        lhs: lhs.into(),
        op,
        rhs: rhs.into(),
        key: false,
    }
}
