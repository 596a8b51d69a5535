//! Do two lists of first-match-wins filters classify every packet alike?
//!
//! The same traffic can be written as different filter lists: a port range as one multiport
//! rule or as seven u32 value/mask blocks, `dst [a, b]` as one match or two, a duplicate rule
//! or not. So plans read back from scripts are compared by what they do: probe packets are
//! built at every boundary the filters of either list mention (each address block's first and
//! last address and their neighbours, each port and length range's ends and their neighbours,
//! each protocol, DSCP and mark), one witness per filter that satisfies it, and variants of
//! each witness with one field moved to every boundary of that field. Both lists must send
//! every probe to the same class (or to none). Matches are conjunctions of interval tests, so
//! two lists that differ decide some boundary probe differently in all cases the filters
//! produce in practice.
//!
//! `equivalent` compares two whole plans this way (classes by id, defaults, then each family's
//! filters), for `tcc explain --to shape`'s check that the import compiles back alike.

use crate::plan::{Criterion, Family, Interface, Match, Plan, Test};
// The packet and the first-match evaluation are the plan's (`plan::decide`), shared with
// `expect` statements and the kernel tests.
use ipnet::IpNet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A packet two filter lists decide differently: the class key each sends it to, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Differs<K> {
    pub packet: Packet,
    pub a: Option<K>,
    pub b: Option<K>,
}

impl<K: std::fmt::Debug> std::fmt::Display for Differs<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} goes to {:?} in one and {:?} in the other",
            self.packet, self.a, self.b
        )
    }
}

impl<K: std::fmt::Debug> std::error::Error for Differs<K> {}

use crate::plan::decide::holds;
pub use crate::plan::decide::{classify, matches, Packet};

#[derive(Default)]
struct Bounds {
    proto: Vec<u8>,
    src: Vec<IpAddr>,
    dst: Vec<IpAddr>,
    sport: Vec<u16>,
    dport: Vec<u16>,
    dscp: Vec<u8>,
    mark: Vec<u32>,
    len: Vec<u16>,
}

fn addr_bounds(n: &IpNet, out: &mut Vec<IpAddr>) {
    match n {
        IpNet::V4(n) => {
            let (a, b) = (u32::from(n.network()), u32::from(n.broadcast()));
            for x in [a.wrapping_sub(1), a, b, b.wrapping_add(1)] {
                out.push(IpAddr::V4(Ipv4Addr::from(x)));
            }
        }
        IpNet::V6(n) => {
            let (a, b) = (u128::from(n.network()), u128::from(n.broadcast()));
            for x in [a.wrapping_sub(1), a, b, b.wrapping_add(1)] {
                out.push(IpAddr::V6(Ipv6Addr::from(x)));
            }
        }
    }
}

fn collect(ms: &[&Match], fam: Family) -> Bounds {
    let mut b = Bounds {
        proto: vec![6, 17, 1, 58, 47],
        sport: vec![0, 65535],
        dport: vec![0, 65535],
        dscp: vec![0],
        mark: vec![0],
        len: vec![40, 1500],
        ..Bounds::default()
    };
    let (s0, d0) = base_addrs(fam);
    b.src.push(s0);
    b.dst.push(d0);
    for m in ms {
        for c in &m.criteria {
            match &c.test {
                Test::Proto(p) => b.proto.push(*p),
                Test::Src(ns) => ns.iter().for_each(|n| addr_bounds(n, &mut b.src)),
                Test::Dst(ns) => ns.iter().for_each(|n| addr_bounds(n, &mut b.dst)),
                Test::Sport(rs) | Test::Dport(rs) => {
                    let v = if matches!(c.test, Test::Sport(_)) {
                        &mut b.sport
                    } else {
                        &mut b.dport
                    };
                    for r in rs {
                        v.extend([r.lo.wrapping_sub(1), r.lo, r.hi, r.hi.wrapping_add(1)]);
                    }
                }
                Test::Dscp(d) => b.dscp.extend([*d, (*d + 1) % 64]),
                Test::Mark { value, mask } => {
                    let m = mask.unwrap_or(u32::MAX);
                    b.mark
                        .extend([*value, value ^ (m & m.wrapping_neg()), value & m]);
                }
                Test::Length { min, max } => {
                    b.len
                        .extend([min.wrapping_sub(1), *min, *max, max.wrapping_add(1)])
                }
            }
        }
    }
    let fam_ok = |a: &IpAddr| match fam {
        Family::V6 => a.is_ipv6(),
        _ => a.is_ipv4(),
    };
    b.src.retain(fam_ok);
    b.dst.retain(fam_ok);
    for v in [&mut b.sport, &mut b.dport, &mut b.len] {
        v.sort();
        v.dedup();
    }
    b.proto.sort();
    b.proto.dedup();
    b.src.sort();
    b.src.dedup();
    b.dst.sort();
    b.dst.dedup();
    b.dscp.sort();
    b.dscp.dedup();
    b.mark.sort();
    b.mark.dedup();
    b
}

fn base_addrs(fam: Family) -> (IpAddr, IpAddr) {
    match fam {
        Family::V6 => (
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
        ),
        _ => (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        ),
    }
}

/// Every field's boundary values, applied one at a time to `p`.
fn variants(p: &Packet, b: &Bounds, out: &mut Vec<Packet>) {
    macro_rules! vary {
        ($field:ident) => {
            for v in &b.$field {
                let mut q = p.clone();
                q.$field = *v;
                out.push(q);
            }
        };
    }
    vary!(proto);
    vary!(src);
    vary!(dst);
    vary!(sport);
    vary!(dport);
    vary!(dscp);
    vary!(mark);
    vary!(len);
}

/// A packet of family `fam` that satisfies `m`, built from boundary values, if one is found.
fn witness(m: &Match, b: &Bounds, fam: Family) -> Option<Packet> {
    let (s0, d0) = base_addrs(fam);
    let mut p = Packet {
        proto: 6,
        src: s0,
        dst: d0,
        sport: 1000,
        dport: 1000,
        dscp: 0,
        mark: 0,
        len: 500,
    };
    // Choose each field so that every criterion on it holds.
    for c in &m.criteria {
        if holds(c, &p) {
            continue;
        }
        macro_rules! fix {
            ($field:ident) => {{
                let cands = b.$field.clone();
                for v in cands {
                    let mut q = p.clone();
                    q.$field = v;
                    if m.criteria
                        .iter()
                        .filter(|d| {
                            std::mem::discriminant(&d.test) == std::mem::discriminant(&c.test)
                        })
                        .all(|d| holds(d, &q))
                    {
                        p = q;
                        break;
                    }
                }
            }};
        }
        match c.test {
            Test::Proto(_) => fix!(proto),
            Test::Src(_) => fix!(src),
            Test::Dst(_) => fix!(dst),
            Test::Sport(_) => fix!(sport),
            Test::Dport(_) => fix!(dport),
            Test::Dscp(_) => fix!(dscp),
            Test::Mark { .. } => fix!(mark),
            Test::Length { .. } => fix!(len),
        }
    }
    matches(m, &p).then_some(p)
}

/// The first filter of `list` (with its overlap `index`) that matches `p`.
fn first_match<K: Copy>(
    list: &[(K, &Match)],
    index: &crate::plan::matchrel::OverlapIndex,
    p: &Packet,
) -> Option<K> {
    let q = Match {
        criteria: vec![Criterion {
            negated: false,
            test: Test::Dst(vec![IpNet::from(p.dst)]),
            span: Default::default(),
        }],
    };
    index
        .candidates(&q)
        .into_iter()
        .find(|&k| matches(list[k].1, p))
        .map(|k| list[k].0)
}

/// Compare two first-match-wins lists of (class key, match) for packets of family `fam`.
/// `Err` gives a packet they decide differently. Probes for each filter use the boundaries of
/// the filters that may overlap it (`matchrel::OverlapIndex`), so long lists of per-host
/// filters check in near-linear time.
pub fn same_decisions<K: Copy + PartialEq + std::fmt::Debug>(
    a: &[(K, &Match)],
    b: &[(K, &Match)],
    fam: Family,
) -> Result<(), Differs<K>> {
    let all: Vec<&Match> = a.iter().chain(b).map(|(_, m)| *m).collect();
    let ia = crate::plan::matchrel::OverlapIndex::new(a.iter().map(|(_, m)| *m));
    let ib = crate::plan::matchrel::OverlapIndex::new(b.iter().map(|(_, m)| *m));
    let iall = crate::plan::matchrel::OverlapIndex::new(all.iter().copied());
    let check = |p: &Packet| -> Result<(), Differs<K>> {
        let (x, y) = (first_match(a, &ia, p), first_match(b, &ib, p));
        if x != y {
            return Err(Differs {
                packet: p.clone(),
                a: x,
                b: y,
            });
        }
        Ok(())
    };
    let mut queries: Vec<Match> = vec![Match::default()];
    queries.extend(all.iter().map(|m| (*m).clone()));
    for (k, m) in queries.iter().enumerate() {
        let near: Vec<&Match> = if k == 0 {
            Vec::new()
        } else {
            iall.candidates(m).into_iter().map(|j| all[j]).collect()
        };
        let mut with_self = near;
        with_self.push(m);
        let bounds = collect(&with_self, fam);
        if let Some(p) = witness(m, &bounds, fam) {
            let mut probes = vec![p.clone()];
            variants(&p, &bounds, &mut probes);
            for q in &probes {
                check(q)?;
            }
        }
    }
    Ok(())
}

/// A class as `equivalent` compares it: minor, parent's minor, rate, ceil, burst, cburst, prio,
/// quantum, mtu, and its leaf qdisc as the language writes it (`bfifo limit 2000000`).
pub type ClassKey = (
    u16,
    Option<u16>,
    u64,
    u64,
    Option<u64>,
    Option<u64>,
    Option<u32>,
    Option<u64>,
    Option<u64>,
    Option<String>,
);

/// The first difference `equivalent` finds between two plans.
#[derive(Debug, Clone, PartialEq)]
pub enum Difference {
    InterfaceCount(usize, usize),
    Interface(String, String),
    Classes {
        interface: String,
        a: Vec<ClassKey>,
        b: Vec<ClassKey>,
    },
    Default {
        interface: String,
        a: Option<u16>,
        b: Option<u16>,
    },
    Decisions {
        interface: String,
        family: Family,
        differs: Differs<u16>,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::InterfaceCount(a, b) => write!(f, "{a} interfaces vs {b}"),
            Difference::Interface(a, b) => write!(f, "interface {a} vs {b}"),
            Difference::Classes { interface, a, b } => {
                write!(f, "{interface}: classes differ:\n{a:?}\n{b:?}")
            }
            Difference::Default { interface, a, b } => {
                write!(f, "{interface}: default {a:?} vs {b:?}")
            }
            Difference::Decisions {
                interface,
                family,
                differs,
            } => write!(f, "{interface} ({family:?}): {differs}"),
        }
    }
}

impl std::error::Error for Difference {}

/// Whether two plans shape alike: same interfaces, the same classes by id (parent, rate, ceil,
/// burst, cburst, prio, quantum, mtu, leaf qdisc), the same default, and per IP family filters that send
/// every packet to the same class (`equiv::same_decisions`: the same traffic may be written as
/// one multiport rule or seven u32 blocks). `Err` says the first difference.
pub fn equivalent(a: &Plan, b: &Plan) -> Result<(), Difference> {
    if a.interfaces.len() != b.interfaces.len() {
        return Err(Difference::InterfaceCount(
            a.interfaces.len(),
            b.interfaces.len(),
        ));
    }
    for (x, y) in a.interfaces.iter().zip(&b.interfaces) {
        same_tree(x, y)?;
        match (&x.ingress, &y.ingress) {
            (None, None) => {}
            (Some(tx), Some(ty)) => same_tree(tx, ty)?,
            (tx, ty) => {
                let side = |t: &Option<Box<Interface>>| match t {
                    Some(t) => format!("{} (ingress on {})", x.name, t.name),
                    None => format!("{} (no ingress)", x.name),
                };
                return Err(Difference::Interface(side(tx), side(ty)));
            }
        }
    }
    Ok(())
}

/// Whether two class trees (an interface's, or an ingress tree) shape alike.
fn same_tree(x: &Interface, y: &Interface) -> Result<(), Difference> {
    {
        if x.name != y.name || x.handle != y.handle || x.r2q != y.r2q {
            return Err(Difference::Interface(x.name.clone(), y.name.clone()));
        }
        let key = |i: &Interface, k: usize| -> ClassKey {
            let c = &i.classes[k];
            (
                c.minor,
                c.parent.map(|p| i.classes[p].minor),
                c.rate,
                c.ceil,
                c.burst,
                c.cburst,
                c.prio,
                c.quantum,
                c.mtu,
                c.qdisc.as_ref().map(|q| q.to_source()),
            )
        };
        let mut cx: Vec<_> = (0..x.classes.len()).map(|k| key(x, k)).collect();
        let mut cy: Vec<_> = (0..y.classes.len()).map(|k| key(y, k)).collect();
        cx.sort();
        cy.sort();
        if cx != cy {
            return Err(Difference::Classes {
                interface: x.name.clone(),
                a: cx,
                b: cy,
            });
        }
        let dx = x.default.map(|d| x.classes[d].minor);
        let dy = y.default.map(|d| y.classes[d].minor);
        if dx != dy {
            return Err(Difference::Default {
                interface: x.name.clone(),
                a: dx,
                b: dy,
            });
        }
        for fam in [Family::V4, Family::V6] {
            let proj = |i: &'_ Interface| -> Vec<(u16, Match)> {
                i.filters
                    .iter()
                    .filter(|f| f.m.family() == fam || f.m.family() == Family::Any)
                    .map(|f| (i.classes[f.class].minor, f.m.clone()))
                    .collect()
            };
            let (px, py) = (proj(x), proj(y));
            let rx: Vec<(u16, &Match)> = px.iter().map(|(k, m)| (*k, m)).collect();
            let ry: Vec<(u16, &Match)> = py.iter().map(|(k, m)| (*k, m)).collect();
            same_decisions(&rx, &ry, fam).map_err(|differs| Difference::Decisions {
                interface: x.name.clone(),
                family: fam,
                differs,
            })?;
        }
    }
    Ok(())
}
