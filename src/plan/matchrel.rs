//! Relations between matches: does one cover another, can two ever both match.
//!
//! Both relations are conservative: `covers` and `disjoint` answer `true` only when it is sure.
//!
//! Most tests are sets of integers (protocol numbers, addresses, ports, DSCP, lengths), so each
//! match is turned, kind by kind, into an exact set of inclusive intervals: the intersection of
//! all criteria of that kind (a negated criterion contributes its complement). Marks are
//! value/mask tests and are compared pairwise.
//!
//! A negated address test still restricts the family: `! dst 10.0.0.0/8` means "an IPv4 packet
//! whose destination is outside 10/8" (it is emitted to `iptables` only), which is what
//! `Match::family` says too.
//!
//! Size: about 400 lines of code; the rest is its unit tests, kept beside the relations they pin.

use crate::plan::{Criterion, Family, Match, PortRange, Test};
use ipnet::IpNet;

/// True only if every packet matching `b` surely matches `a`.
pub fn covers(a: &Match, b: &Match) -> bool {
    let (fa, fb) = (a.family(), b.family());
    if fa != Family::Any && fa != fb {
        return false;
    }
    if matches_nothing(b) {
        return true;
    }
    for kind in Kind::ALL {
        let Some(sa) = kind.set_of(a) else { continue };
        let sb = match kind.set_of(b) {
            Some(sb) => sb,
            None => match kind.domain(fb) {
                Some(full) => full,
                // `b` says nothing about addresses and may be either family.
                None => return false,
            },
        };
        if !sb.is_subset(&sa) {
            return false;
        }
    }
    marks(a).all(|ca| marks(b).any(|cb| mark_implies(cb, ca)) || mark_always_true(ca))
}

/// True only if no packet can match both `a` and `b`.
pub fn disjoint(a: &Match, b: &Match) -> bool {
    let (fa, fb) = (a.family(), b.family());
    if fa != Family::Any && fb != Family::Any && fa != fb {
        return true;
    }
    if matches_nothing(a) || matches_nothing(b) {
        return true;
    }
    for kind in Kind::ALL {
        if let (Some(sa), Some(sb)) = (kind.set_of(a), kind.set_of(b)) {
            if sa.intersect(&sb).is_empty() {
                return true;
            }
        }
    }
    marks(a).any(|ca| marks(b).any(|cb| marks_contradict(ca, cb)))
}

/// True only if `m` surely matches no packet at all (e.g. `dst 10.0.0.0/8 ! dst 10.0.0.0/8`).
pub fn never_matches(m: &Match) -> bool {
    matches_nothing(m)
}

fn matches_nothing(m: &Match) -> bool {
    Kind::ALL
        .iter()
        .any(|k| k.set_of(m).is_some_and(|s| s.is_empty()))
}

// ---------------------------------------------------------------------------------------------
// Integer-set kinds.

/// The kinds of tests that are sets of integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Proto,
    Src,
    Dst,
    Sport,
    Dport,
    Dscp,
    Length,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Proto,
        Kind::Src,
        Kind::Dst,
        Kind::Sport,
        Kind::Dport,
        Kind::Dscp,
        Kind::Length,
    ];

    /// The set of all values for a packet of family `fam`; `None` for addresses of a packet
    /// whose family is unknown (there is no single address space).
    fn domain(self, fam: Family) -> Option<Set> {
        let max: u128 = match self {
            Kind::Proto => 0xff,
            Kind::Sport | Kind::Dport | Kind::Length => 0xffff,
            Kind::Dscp => 63,
            Kind::Src | Kind::Dst => match fam {
                Family::V4 => u32::MAX as u128,
                Family::V6 => u128::MAX,
                Family::Any => return None,
            },
        };
        Some(Set::range(0, max))
    }

    /// The values one (un-negated) test of this kind allows, or `None` if it is another kind.
    fn values(self, test: &Test) -> Option<Set> {
        let ports =
            |r: &[PortRange]| Set::from_ranges(r.iter().map(|p| (p.lo as u128, p.hi as u128)));
        let nets = |n: &[IpNet]| Set::from_ranges(n.iter().map(net_range));
        match (self, test) {
            (Kind::Proto, Test::Proto(p)) => Some(Set::range(*p as u128, *p as u128)),
            (Kind::Src, Test::Src(n)) | (Kind::Dst, Test::Dst(n)) => Some(nets(n)),
            (Kind::Sport, Test::Sport(r)) | (Kind::Dport, Test::Dport(r)) => Some(ports(r)),
            (Kind::Dscp, Test::Dscp(d)) => Some(Set::range(*d as u128, *d as u128)),
            (Kind::Length, Test::Length { min, max }) => {
                Some(Set::range(*min as u128, *max as u128))
            }
            _ => None,
        }
    }

    /// The exact set `m` allows for this kind, or `None` when `m` does not test it.
    fn set_of(self, m: &Match) -> Option<Set> {
        let domain = self.domain(m.family())?;
        let mut acc: Option<Set> = None;
        for c in &m.criteria {
            let Some(v) = self.values(&c.test) else {
                continue;
            };
            let v = if c.negated {
                v.complement_in(&domain)
            } else {
                v.intersect(&domain)
            };
            acc = Some(match acc {
                Some(s) => s.intersect(&v),
                None => v,
            });
        }
        acc
    }
}

/// The inclusive address range of a network, in its family's integer space.
fn net_range(n: &IpNet) -> (u128, u128) {
    match n {
        IpNet::V4(n) => (
            u32::from(n.network()) as u128,
            u32::from(n.broadcast()) as u128,
        ),
        IpNet::V6(n) => (u128::from(n.network()), u128::from(n.broadcast())),
    }
}

/// A set of integers as sorted, merged, inclusive intervals.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Set {
    ranges: Vec<(u128, u128)>,
}

impl Set {
    fn range(lo: u128, hi: u128) -> Set {
        Set::from_ranges([(lo, hi)])
    }

    fn from_ranges(it: impl IntoIterator<Item = (u128, u128)>) -> Set {
        let mut v: Vec<(u128, u128)> = it.into_iter().filter(|(lo, hi)| lo <= hi).collect();
        v.sort();
        let mut out: Vec<(u128, u128)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if last.1 == u128::MAX || lo <= last.1 + 1 => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Set { ranges: out }
    }

    fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    fn intersect(&self, other: &Set) -> Set {
        let mut out = Vec::new();
        for &(a, b) in &self.ranges {
            for &(c, d) in &other.ranges {
                let (lo, hi) = (a.max(c), b.min(d));
                if lo <= hi {
                    out.push((lo, hi));
                }
            }
        }
        Set::from_ranges(out)
    }

    /// `domain` minus `self`.
    fn complement_in(&self, domain: &Set) -> Set {
        let mut out = Vec::new();
        for &(dlo, dhi) in &domain.ranges {
            let mut next = Some(dlo);
            for &(lo, hi) in &self.ranges {
                let Some(start) = next else { break };
                if hi < start || lo > dhi {
                    continue;
                }
                if lo > start {
                    out.push((start, lo - 1));
                }
                next = hi.checked_add(1);
            }
            if let Some(start) = next {
                if start <= dhi {
                    out.push((start, dhi));
                }
            }
        }
        Set::from_ranges(out)
    }

    fn is_subset(&self, other: &Set) -> bool {
        self.ranges
            .iter()
            .all(|&(lo, hi)| other.ranges.iter().any(|&(a, b)| a <= lo && hi <= b))
    }
}

// ---------------------------------------------------------------------------------------------
// Marks: `(mark & mask) == value`, compared pairwise.

fn marks(m: &Match) -> impl Iterator<Item = &Criterion> {
    m.criteria
        .iter()
        .filter(|c| matches!(c.test, Test::Mark { .. }))
}

fn mark_parts(c: &Criterion) -> (u32, u32) {
    match c.test {
        Test::Mark { value, mask } => (value, mask.unwrap_or(u32::MAX)),
        _ => unreachable!("only called on mark criteria"),
    }
}

/// Does the un-negated test `(v1, m1)` imply `(v2, m2)`?
fn mark_test_implies((v1, m1): (u32, u32), (v2, m2): (u32, u32)) -> bool {
    m2 & !m1 == 0 && v1 & m2 == v2
}

/// Can no mark satisfy both un-negated tests?
fn mark_tests_contradict((v1, m1): (u32, u32), (v2, m2): (u32, u32)) -> bool {
    (v1 ^ v2) & m1 & m2 != 0
}

/// Does criterion `b` (possibly negated) imply criterion `a`?
fn mark_implies(b: &Criterion, a: &Criterion) -> bool {
    let (tb, ta) = (mark_parts(b), mark_parts(a));
    match (b.negated, a.negated) {
        (false, false) => mark_test_implies(tb, ta),
        (false, true) => mark_tests_contradict(tb, ta),
        // not B => not A  iff  A => B
        (true, true) => mark_test_implies(ta, tb),
        (true, false) => false,
    }
}

fn mark_always_true(a: &Criterion) -> bool {
    let (v, m) = mark_parts(a);
    !a.negated && m == 0 && v == 0
}

fn marks_contradict(a: &Criterion, b: &Criterion) -> bool {
    let (ta, tb) = (mark_parts(a), mark_parts(b));
    match (a.negated, b.negated) {
        (false, false) => mark_tests_contradict(ta, tb),
        (false, true) => mark_test_implies(ta, tb),
        (true, false) => mark_test_implies(tb, ta),
        (true, true) => false,
    }
}

/// Finds, among many matches, the ones that could share a packet with a given match, without
/// comparing every pair. Each match is indexed under one key: its positive destination networks
/// if it has them (two such matches can only overlap when one network contains the other), else
/// its positive destination ports when they are a few single ports (two such matches can only
/// overlap on a common port), else it is "wide" and a candidate for every query. The answer is a
/// superset: callers still decide with `covers` or `disjoint`.
pub struct OverlapIndex {
    /// Matches indexed by destination, by exact network.
    exact: std::collections::HashMap<IpNet, Vec<usize>>,
    /// The same networks ordered by (family, first address), for "inside this network" queries.
    ordered: std::collections::BTreeMap<(bool, u128), Vec<usize>>,
    /// Prefix lengths in use, per family (false = IPv4), for "contains this network" queries.
    lens: [Vec<u8>; 2],
    /// Matches without a positive destination, indexed by their single destination ports.
    by_dport: std::collections::HashMap<u16, Vec<usize>>,
    /// Matches indexed under neither: they may overlap anything.
    wide: Vec<usize>,
}

/// Single destination ports at most this many are indexed one by one.
const MAX_INDEXED_PORTS: usize = 16;

fn positive_dst(m: &Match) -> Option<&[IpNet]> {
    m.criteria.iter().find_map(|c| match &c.test {
        Test::Dst(n) if !c.negated && !n.is_empty() => Some(n.as_slice()),
        _ => None,
    })
}

/// The positive destination ports of `m`, when they are a few single ports.
fn single_dports(m: &Match) -> Option<Vec<u16>> {
    m.criteria.iter().find_map(|c| match &c.test {
        Test::Dport(r)
            if !c.negated
                && !r.is_empty()
                && r.len() <= MAX_INDEXED_PORTS
                && r.iter().all(|p| p.lo == p.hi) =>
        {
            Some(r.iter().map(|p| p.lo).collect())
        }
        _ => None,
    })
}

impl OverlapIndex {
    pub fn new<'a>(matches: impl IntoIterator<Item = &'a Match>) -> OverlapIndex {
        let mut ix = OverlapIndex {
            exact: Default::default(),
            ordered: Default::default(),
            lens: [vec![], vec![]],
            by_dport: Default::default(),
            wide: vec![],
        };
        for (i, m) in matches.into_iter().enumerate() {
            if let Some(nets) = positive_dst(m) {
                for n in nets {
                    let v6 = matches!(n, IpNet::V6(_));
                    ix.exact.entry(*n).or_default().push(i);
                    ix.ordered.entry((v6, net_range(n).0)).or_default().push(i);
                    let lens = &mut ix.lens[v6 as usize];
                    if !lens.contains(&n.prefix_len()) {
                        lens.push(n.prefix_len());
                    }
                }
            } else if let Some(ports) = single_dports(m) {
                for p in ports {
                    ix.by_dport.entry(p).or_default().push(i);
                }
            } else {
                ix.wide.push(i);
            }
        }
        ix
    }

    /// Indices (ascending, without duplicates) of the matches that may overlap `m`.
    pub fn candidates(&self, m: &Match) -> Vec<usize> {
        let mut out = self.wide.clone();
        match positive_dst(m) {
            Some(nets) => {
                for n in nets {
                    let v6 = matches!(n, IpNet::V6(_));
                    // Networks that contain n.
                    for &len in &self.lens[v6 as usize] {
                        if len <= n.prefix_len() {
                            if let Ok(sup) = IpNet::new(n.addr(), len) {
                                if let Some(v) = self.exact.get(&sup.trunc()) {
                                    out.extend(v);
                                }
                            }
                        }
                    }
                    // Networks inside n.
                    let (lo, hi) = net_range(n);
                    for (_, v) in self.ordered.range((v6, lo)..=(v6, hi)) {
                        out.extend(v);
                    }
                }
            }
            // No positive destination: any destination-indexed match may overlap.
            None => out.extend(self.exact.values().flatten()),
        }
        match single_dports(m) {
            Some(ports) => {
                for p in ports {
                    if let Some(v) = self.by_dport.get(&p) {
                        out.extend(v);
                    }
                }
            }
            // Ports not known to be a few single ones: any port-indexed match may overlap.
            None => out.extend(self.by_dport.values().flatten()),
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Span;
    use crate::plan::{PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP};

    /// Parse a tiny test notation: criteria separated by spaces, `!` prefix negates.
    /// `tcp udp icmp icmp6 proto=N src=NET,NET dst=... sport=80,20-21 dport=... dscp=N
    ///  mark=V[/M] len=A-B`.
    fn m(text: &str) -> Match {
        let criteria = text
            .split_whitespace()
            .map(|word| {
                let (negated, word) = match word.strip_prefix('!') {
                    Some(w) => (true, w),
                    None => (false, word),
                };
                let (key, val) = word.split_once('=').unwrap_or((word, ""));
                let nets = || val.split(',').map(parse_net).collect();
                let ports = || {
                    val.split(',')
                        .map(|p| match p.split_once('-') {
                            Some((lo, hi)) => PortRange {
                                lo: lo.parse().unwrap(),
                                hi: hi.parse().unwrap(),
                            },
                            None => {
                                let v = p.parse().unwrap();
                                PortRange { lo: v, hi: v }
                            }
                        })
                        .collect()
                };
                let test = match key {
                    "tcp" => Test::Proto(PROTO_TCP),
                    "udp" => Test::Proto(PROTO_UDP),
                    "icmp" => Test::Proto(PROTO_ICMP),
                    "icmp6" => Test::Proto(PROTO_ICMPV6),
                    "proto" => Test::Proto(val.parse().unwrap()),
                    "src" => Test::Src(nets()),
                    "dst" => Test::Dst(nets()),
                    "sport" => Test::Sport(ports()),
                    "dport" => Test::Dport(ports()),
                    "dscp" => Test::Dscp(val.parse().unwrap()),
                    "mark" => {
                        let (v, mask) = match val.split_once('/') {
                            Some((v, k)) => (v, Some(parse_int(k))),
                            None => (val, None),
                        };
                        Test::Mark {
                            value: parse_int(v),
                            mask,
                        }
                    }
                    "len" => {
                        let (lo, hi) = val.split_once('-').unwrap();
                        Test::Length {
                            min: lo.parse().unwrap(),
                            max: hi.parse().unwrap(),
                        }
                    }
                    other => panic!("unknown test word {other}"),
                };
                Criterion {
                    negated,
                    test,
                    span: Span::default(),
                }
            })
            .collect();
        Match { criteria }
    }

    fn parse_net(s: &str) -> IpNet {
        s.parse()
            .unwrap_or_else(|_| IpNet::from(s.parse::<std::net::IpAddr>().unwrap()))
    }

    fn parse_int(s: &str) -> u32 {
        match s.strip_prefix("0x") {
            Some(h) => u32::from_str_radix(h, 16).unwrap(),
            None => s.parse().unwrap(),
        }
    }

    // (a, b, covers(a, b))
    const COVERS: &[(&str, &str, bool)] = &[
        // The empty match covers everything; nothing but the empty match covers it.
        ("", "tcp dst=1.2.3.4", true),
        ("", "", true),
        ("tcp", "", false),
        // Protocols.
        ("tcp", "tcp dport=80", true),
        ("tcp", "udp", false),
        ("!udp", "tcp", true),
        ("!udp", "!udp dport=5", true),
        ("!tcp", "!udp", false),
        // Addresses: containment, lists, families.
        ("dst=10.0.0.0/8", "dst=10.1.0.0/16", true),
        ("dst=10.1.0.0/16", "dst=10.0.0.0/8", false),
        (
            "dst=10.0.0.0/8,192.168.0.0/16",
            "dst=10.1.2.3/32,192.168.7.0/24",
            true,
        ),
        ("dst=10.0.0.0/8", "dst=10.1.2.3/32,11.0.0.1/32", false),
        ("dst=10.0.0.0/9,10.128.0.0/9", "dst=10.0.0.0/8", true),
        ("src=10.0.0.0/8", "dst=10.0.0.0/8", false),
        ("src=0.0.0.0/0", "dst=1.2.3.4/32", true),
        ("src=0.0.0.0/0", "tcp", false),
        ("src=0.0.0.0/0", "icmp", true),
        ("dst=::/0", "dst=2001:db8::/32", true),
        ("dst=10.0.0.0/8", "dst=2001:db8::/32", false),
        ("tcp", "tcp dst=2001:db8::1/128", true),
        // Negated addresses.
        ("!dst=10.0.0.0/8", "dst=11.0.0.0/8", true),
        ("!dst=10.0.0.0/8", "dst=10.1.0.0/16", false),
        ("!dst=10.0.0.0/8", "!dst=10.0.0.0/7", true),
        ("!dst=10.0.0.0/7", "!dst=10.0.0.0/8", false),
        (
            "!dst=10.0.0.0/8,192.168.0.0/16",
            "!dst=192.168.0.0/16 !dst=10.0.0.0/8",
            true,
        ),
        ("!dst=10.0.0.0/8", "tcp", false),
        ("!dst=10.0.0.0/8", "dst=2001:db8::/32", false),
        ("dst=10.0.0.0/8", "dst=10.0.0.0/8 !dst=10.1.0.0/16", true),
        // Ports.
        ("tcp sport=80,20-21,1024-5000", "tcp sport=21", true),
        (
            "tcp sport=80,20-21,1024-5000",
            "tcp sport=2000-3000,80",
            true,
        ),
        ("tcp sport=80,20-21,1024-5000", "tcp sport=1000-2000", false),
        ("tcp sport=0-100,101-200", "tcp sport=50-150", true),
        ("tcp dport=80", "tcp sport=80", false),
        ("tcp !dport=80", "tcp dport=443", true),
        ("tcp !dport=80", "tcp dport=1-100", false),
        ("tcp !dport=80,443", "tcp !dport=1-1000", true),
        ("tcp dport=0-65535", "tcp", true),
        ("tcp dport=80", "udp dport=80", false),
        // DSCP, mark, length.
        ("dscp=46", "dscp=46 tcp", true),
        ("dscp=46", "dscp=10", false),
        ("!dscp=46", "dscp=10", true),
        ("mark=1", "mark=1 tcp", true),
        ("mark=1/0xff", "mark=0x101", true),
        ("mark=0x101", "mark=1/0xff", false),
        ("!mark=2", "mark=1", true),
        ("!mark=1/0xff", "!mark=1", false),
        ("!mark=1", "!mark=1/0xff", true),
        ("mark=1", "tcp", false),
        ("len=0-500", "len=40-100", true),
        ("len=0-500", "len=40-600", false),
        ("!len=0-500", "len=501-1500", true),
        // Families from protocols.
        ("icmp", "icmp dst=1.2.3.4/32", true),
        ("icmp", "icmp6", false),
        ("dst=1.2.3.4/32", "icmp", false),
        // A match that can never fire is covered by anything.
        ("udp", "tcp dst=10.0.0.0/8 !dst=10.0.0.0/8", true),
    ];

    // (a, b, disjoint(a, b)); the relation is symmetric and checked both ways.
    const DISJOINT: &[(&str, &str, bool)] = &[
        ("tcp", "udp", true),
        ("tcp", "tcp", false),
        ("tcp", "", false),
        ("tcp", "!tcp", true),
        ("!tcp", "!udp", false),
        ("dst=10.0.0.0/8", "dst=11.0.0.0/8", true),
        ("dst=10.0.0.0/8", "dst=10.9.0.0/16", false),
        ("dst=10.0.0.0/8", "src=11.0.0.0/8", false),
        (
            "dst=131.225.0.0/16 tcp sport=80",
            "!dst=131.225.0.0/16 tcp sport=80",
            true,
        ),
        ("dst=131.225.0.0/16", "!dst=131.0.0.0/8", true),
        ("dst=131.0.0.0/8", "!dst=131.225.0.0/16", false),
        ("dst=10.0.0.0/8,12.0.0.0/8", "dst=11.0.0.0/8", true),
        ("dst=10.0.0.0/8", "dst=2001:db8::/32", true),
        ("icmp", "dst=2001:db8::/32", true),
        ("icmp", "icmp6", true),
        ("tcp", "dst=2001:db8::/32", false),
        ("!dst=10.0.0.0/8", "!dst=2001:db8::/32", true),
        ("tcp sport=80,20-21", "tcp sport=22-79,81-100", true),
        ("tcp sport=80,20-21", "tcp sport=21-22", false),
        ("tcp dport=80", "tcp sport=80", false),
        ("tcp dport=80", "tcp !dport=80", true),
        ("tcp dport=80,443", "tcp !dport=1-1000", true),
        ("dscp=46", "dscp=10", true),
        ("dscp=46", "!dscp=46", true),
        ("mark=1", "mark=2", true),
        ("mark=1/0xff", "mark=0x101", false),
        ("mark=1/0xff", "mark=0x102", true),
        ("mark=1", "!mark=1", true),
        ("mark=1/0xff", "!mark=0x101", false),
        ("!mark=1", "!mark=2", false),
        ("len=0-100", "len=101-200", true),
        ("len=0-100", "len=100-200", false),
        ("len=0-100", "!len=0-500", true),
        ("tcp dst=10.0.0.0/8 !dst=10.0.0.0/8", "", true),
    ];

    #[test]
    fn covers_table() {
        let mut failures = Vec::new();
        for &(a, b, want) in COVERS {
            if covers(&m(a), &m(b)) != want {
                failures.push(format!("covers({a:?}, {b:?}) should be {want}"));
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn disjoint_table() {
        let mut failures = Vec::new();
        for &(a, b, want) in DISJOINT {
            for (x, y) in [(a, b), (b, a)] {
                if disjoint(&m(x), &m(y)) != want {
                    failures.push(format!("disjoint({x:?}, {y:?}) should be {want}"));
                }
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn every_match_covers_itself_and_is_not_disjoint_from_itself() {
        for &(a, b, _) in COVERS.iter().chain(DISJOINT) {
            for x in [a, b] {
                let mx = m(x);
                assert!(covers(&mx, &mx), "{x:?} should cover itself");
                if !matches_nothing(&mx) {
                    assert!(!disjoint(&mx, &mx), "{x:?} is not disjoint from itself");
                }
            }
        }
    }

    #[test]
    fn interval_sets() {
        let s = Set::from_ranges([(5, 9), (1, 3), (4, 4), (20, 30)]);
        assert_eq!(s.ranges, vec![(1, 9), (20, 30)]);
        let full = Set::range(0, 40);
        assert_eq!(
            s.complement_in(&full).ranges,
            vec![(0, 0), (10, 19), (31, 40)]
        );
        let all = Set::range(0, u128::MAX);
        assert!(Set::range(0, u128::MAX).complement_in(&all).is_empty());
        assert_eq!(
            Set::range(5, u128::MAX).complement_in(&all).ranges,
            vec![(0, 4)]
        );
        assert!(Set::range(2, 3).is_subset(&s));
        assert!(!Set::range(9, 10).is_subset(&s));
    }

    /// The index never misses a pair that can overlap: against brute force over a mixed set.
    #[test]
    fn overlap_index_candidates_are_a_superset_of_overlaps() {
        let texts = [
            "tcp dst=10.0.0.0/8",
            "tcp dst=10.1.0.0/16 dport=80",
            "udp dst=10.2.0.1 dport=53",
            "tcp dport=80",
            "tcp dport=443",
            "tcp dport=80,443",
            "udp dport=53",
            "tcp dport=1000-2000",
            "tcp sport=22",
            "!dst=10.0.0.0/8 tcp",
            "dst=2001:db8::/32",
            "dst=2001:db8:1::/48 udp dport=53",
            "icmp",
        ];
        let ms: Vec<Match> = texts.iter().map(|t| m(t)).collect();
        let ix = OverlapIndex::new(&ms);
        for (i, a) in ms.iter().enumerate() {
            let cands = ix.candidates(a);
            for (j, b) in ms.iter().enumerate() {
                if !disjoint(a, b) {
                    assert!(
                        cands.contains(&j),
                        "{} may overlap {} but is not a candidate",
                        texts[i],
                        texts[j]
                    );
                }
            }
        }
        // And it prunes: single ports that differ are not candidates of each other.
        assert!(!ix.candidates(&ms[4]).contains(&3));
    }
}
