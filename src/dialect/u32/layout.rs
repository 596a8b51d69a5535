//! Where each u32 filter of an interface goes: its priority, and for hashed runs its hash
//! table and bucket. The one layout of tcc's u32 filters: the scripts (`tc::print::u32_filters`)
//! print it and `tcc apply` (`apply::diff`) sends it.
//!
//! Two layouts:
//! - linear: the filters in plan order, IPv4 at odd priorities and IPv6 at even ones,
//!   consecutive filters of a protocol sharing a priority (a u32 table tries its nodes in the
//!   order they were added and stops at the first match) up to `MAX_NODES` nodes. tc refuses
//!   two protocols under one priority, and a filter of protocol `ip` never sees an IPv6 packet,
//!   so the order only matters among filters of one protocol;
//! - hashed: a run of consecutive filters that each test one destination host goes into a u32
//!   hash table of 256 buckets keyed on the last octet of the destination address, so a packet
//!   is compared with the filters of its bucket only. Within a bucket the filters keep their
//!   plan order (the kernel keeps a bucket sorted by node id, and ids grow as filters are
//!   added); filters in different buckets name different hosts and so can never both match.
//!   A packet that matches nothing in its bucket falls through to the next priority, as with
//!   linear filters, so first-match-wins holds across the whole list.

use super::{families, selectors, Selector};
use crate::plan::{Family, Interface, Test};
use ipnet::IpNet;

/// Consecutive hashable filters needed before a run gets a hash table, and the distinct
/// buckets it must spread over (a run that all goes to one bucket gains nothing).
pub const HASH_MIN_RUN: usize = 8;
pub const HASH_MIN_BUCKETS: usize = 2;
/// Hash table handles tcc uses (`ht 10:` and up); the kernel numbers the per-priority root
/// tables from 0x800, so the two never meet.
const FIRST_HT: u32 = 0x10;

/// The most filters (u32 nodes) tcc puts under one priority or in one hash bucket: the kernel
/// numbers a table's nodes from 0x800 to 0xfff, and a qdisc's u32 tables from 0x800 to 0xfff
/// too, so neither one priority per filter nor one priority for all scales past 2046 filters.
pub const MAX_NODES: usize = 2000;

/// One u32 filter node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The plan filter (index in `Interface::filters`) it is part of.
    pub filter: usize,
    pub fam: Family,
    pub prio: u32,
    /// The hash table and bucket of a hashed run; `None`: the priority's own table.
    pub bucket: Option<(u32, u8)>,
    pub sel: Selector,
}

/// The layout, in the order the filters are added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Plan filter `.0` begins in a linear group; its nodes follow.
    Filter(usize),
    /// A hash table `ht` of 256 buckets at `prio`, linked from the priority's root table by
    /// the last octet of the destination address (at `hash_offset(fam)`), for the hashed run
    /// of plan filters `first..=last`; their nodes follow.
    Table {
        fam: Family,
        prio: u32,
        ht: u32,
        first: usize,
        last: usize,
    },
    Node(Node),
}

/// Where the hash key (the last 32-bit word of the destination address) is, by family.
pub fn hash_offset(fam: Family) -> i32 {
    if fam == Family::V6 {
        36
    } else {
        16
    }
}

/// The u32 filters of `iface`, placed (see the module comment). Assumes `u32_expressible`
/// found nothing.
pub fn layout(iface: &Interface, hashed: bool) -> Vec<Part> {
    // The selectors of every filter, per family (0 = IPv4, 1 = IPv6): computed once.
    let sels: Vec<[Vec<Selector>; 2]> = iface
        .filters
        .iter()
        .map(|f| {
            let fams = families(&f.m);
            let of = |fam| {
                if fams.contains(&fam) {
                    selectors(&f.m, fam)
                } else {
                    Vec::new()
                }
            };
            [of(Family::V4), of(Family::V6)]
        })
        .collect();
    let sels_of = |i: usize, fam: Family| &sels[i][(fam == Family::V6) as usize];
    let mut out = Vec::new();
    let push = |out: &mut Vec<Part>, i: usize, fam, prio, bucket| {
        for s in sels_of(i, fam) {
            out.push(Part::Node(Node {
                filter: i,
                fam,
                prio,
                bucket,
                sel: s.clone(),
            }));
        }
    };
    if !hashed {
        // Per protocol: the current group and how many nodes it holds.
        let mut groups = [(0u32, MAX_NODES); 2];
        for (i, f) in iface.filters.iter().enumerate() {
            out.push(Part::Filter(i));
            for fam in families(&f.m) {
                let n = sels_of(i, fam).len();
                if n == 0 {
                    continue;
                }
                let g = &mut groups[(fam == Family::V6) as usize];
                if g.1 + n > MAX_NODES {
                    *g = (g.0 + 1, 0);
                }
                g.1 += n;
                push(&mut out, i, fam, prio_of(fam, g.0), None);
            }
        }
        return out;
    }
    let mut next_ht = FIRST_HT;
    for fam in [Family::V4, Family::V6] {
        let units: Vec<usize> = (0..iface.filters.len())
            .filter(|&i| !sels_of(i, fam).is_empty())
            .collect();
        let run_at = |u: usize| hash_run(iface, &units[u..], fam, |i| sels_of(i, fam).len());
        let qualifies = |run: &[(usize, u8)]| {
            run.len() >= HASH_MIN_RUN && distinct_buckets(run) >= HASH_MIN_BUCKETS
        };
        let mut group = 0;
        let mut u = 0;
        while u < units.len() {
            group += 1;
            let prio = prio_of(fam, group);
            let run = run_at(u);
            if qualifies(&run) {
                out.push(Part::Table {
                    fam,
                    prio,
                    ht: next_ht,
                    first: run[0].0,
                    last: run[run.len() - 1].0,
                });
                for &(i, b) in &run {
                    push(&mut out, i, fam, prio, Some((next_ht, b)));
                }
                next_ht += 1;
                u += run.len();
                continue;
            }
            // A linear group: up to MAX_NODES nodes, or until a hash run begins.
            let mut nodes = 0;
            while u < units.len() {
                let i = units[u];
                let n = sels_of(i, fam).len();
                if nodes > 0 && (nodes + n > MAX_NODES || qualifies(&run_at(u))) {
                    break;
                }
                out.push(Part::Filter(i));
                push(&mut out, i, fam, prio, None);
                nodes += n;
                u += 1;
            }
        }
    }
    out
}

/// Priority of the `group`-th group (from 1) of a family: IPv4 odd, IPv6 even.
fn prio_of(fam: Family, group: u32) -> u32 {
    2 * group - (fam != Family::V6) as u32
}

/// The destination host a filter tests, when it tests exactly one (positively) in `fam`.
fn host_of(iface: &Interface, i: usize, fam: Family) -> Option<IpNet> {
    iface.filters[i]
        .m
        .criteria
        .iter()
        .find_map(|c| match &c.test {
            Test::Dst(nets)
                if !c.negated
                    && nets.len() == 1
                    && nets[0].prefix_len() == nets[0].max_prefix_len()
                    && matches!(
                        (fam, nets[0]),
                        (Family::V4, IpNet::V4(_)) | (Family::V6, IpNet::V6(_))
                    ) =>
            {
                Some(nets[0])
            }
            _ => None,
        })
}

fn last_octet(n: &IpNet) -> u8 {
    match n {
        IpNet::V4(n) => n.addr().octets()[3],
        IpNet::V6(n) => n.addr().octets()[15],
    }
}

/// The longest run from the start of `units` (filters of family `fam`) that each test one
/// destination host, with the bucket of each; a bucket takes at most `MAX_NODES` nodes.
fn hash_run(
    iface: &Interface,
    units: &[usize],
    fam: Family,
    nodes_of: impl Fn(usize) -> usize,
) -> Vec<(usize, u8)> {
    let mut run = Vec::new();
    let mut nodes = [0usize; 256];
    for &i in units {
        let Some(h) = host_of(iface, i, fam) else {
            break;
        };
        let b = last_octet(&h);
        let n = nodes_of(i);
        if nodes[b as usize] + n > MAX_NODES {
            break;
        }
        nodes[b as usize] += n;
        run.push((i, b));
    }
    run
}

fn distinct_buckets(run: &[(usize, u8)]) -> usize {
    let mut seen = [false; 256];
    run.iter()
        .filter(|(_, b)| !std::mem::replace(&mut seen[*b as usize], true))
        .count()
}
