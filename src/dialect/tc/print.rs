//! `tc` command lines shared by the backends: the HTB tree and u32 filters, rendered without the
//! leading `tc` so that the `sh` backend can run each as a command and the `batch` backend can
//! feed them all to one `tc -batch` process.
//!
//! u32 filters come in two layouts:
//! - linear: the filters in plan order, IPv4 at odd priorities and IPv6 at even ones,
//!   consecutive filters of a protocol sharing a priority (a u32 table tries its nodes in the
//!   order they were added);
//! - hashed: a run of consecutive filters that each test one destination host goes into a u32
//!   hash table of 256 buckets keyed on the last octet of the destination address, so a packet
//!   is compared with the filters of its bucket only. Within a bucket the filters keep their
//!   plan order (the kernel keeps a bucket sorted by node id, and ids grow as filters are
//!   added); filters in different buckets name different hosts and so can never both match.
//!   A packet that matches nothing in its bucket falls through to the next priority, as with
//!   linear filters, so first-match-wins holds across the whole list.

use crate::dialect::sh::quote::comment_text;
use crate::dialect::u32::{families, protocol_of, selectors};
use crate::plan::units::{format_rate, format_size};
use crate::plan::{Family, Interface, Test};
use ipnet::IpNet;
use std::fmt::Write;

/// One line of tc input: a command (without `tc`), or a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Cmd(String),
    /// A command followed by a comment naming what it makes.
    CmdWithNote(String, String),
    Comment(String),
}

/// `qdisc add dev X root handle 1: htb ...`: the root qdisc (its deletion is the caller's).
pub fn qdisc_add(iface: &Interface) -> String {
    let mut qdisc = format!(
        "qdisc add dev {} root handle {:x}: htb",
        iface.name, iface.handle
    );
    if let Some(d) = iface.default {
        let _ = write!(qdisc, " default {:x}", iface.classes[d].minor);
    }
    if iface.r2q != 10 {
        let _ = write!(qdisc, " r2q {}", iface.r2q);
    }
    qdisc
}

/// `class add ...` for every class, parents first; each with the class's name as a note.
/// Interface names are validated (no shell or tc metacharacters), so they stay bare.
pub fn class_adds(iface: &Interface) -> Vec<Line> {
    let major = format!("{:x}:", iface.handle);
    iface
        .classes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let parent = match c.parent {
                Some(p) => iface.classid(p),
                None => major.clone(),
            };
            let mut line = format!(
                "class add dev {} parent {parent} classid {} htb rate {} ceil {}",
                iface.name,
                iface.classid(i),
                format_rate(c.rate),
                format_rate(c.ceil)
            );
            if let Some(b) = c.burst {
                let _ = write!(line, " burst {}", format_size(b));
            }
            if let Some(b) = c.cburst {
                let _ = write!(line, " cburst {}", format_size(b));
            }
            if let Some(p) = c.prio {
                let _ = write!(line, " prio {p}");
            }
            // tc reads quantum and mtu as plain byte counts (a `b` suffix is refused).
            if let Some(q) = c.quantum {
                let _ = write!(line, " quantum {q}");
            }
            if let Some(m) = c.mtu {
                let _ = write!(line, " mtu {m}");
            }
            Line::CmdWithNote(line, comment_text(&c.name))
        })
        .collect()
}

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

/// The u32 filters of `iface` on its root qdisc (`parent 1:`), first match wins. Assumes
/// `u32_expressible` found nothing.
///
/// tc refuses two protocols under one priority, and a filter of protocol `ip` never sees an
/// IPv6 packet, so IPv4 filters take the odd priorities and IPv6 ones the even priorities; the
/// order only matters among filters of one protocol. Consecutive filters of a protocol share a
/// priority (up to `MAX_NODES`): a u32 table tries its nodes in the order they were added and
/// stops at the first match. With `hashed`, long runs of per-host filters of a protocol get a
/// hash table at a priority of their own (see the module comment).
pub fn u32_filters(iface: &Interface, hashed: bool) -> Vec<Line> {
    let mut out = Vec::new();
    if !hashed {
        // Per protocol (0 = IPv4, 1 = IPv6): the current group and how many nodes it holds.
        let mut groups = [(0u32, MAX_NODES); 2];
        for (i, f) in iface.filters.iter().enumerate() {
            out.push(filter_note(iface, i));
            for fam in families(&f.m) {
                let sels = selectors(&f.m, fam);
                if sels.is_empty() {
                    continue;
                }
                let g = &mut groups[(fam == Family::V6) as usize];
                if g.1 + sels.len() > MAX_NODES {
                    *g = (g.0 + 1, 0);
                }
                g.1 += sels.len();
                push_filters(iface, i, fam, prio_of(fam, g.0), &sels, &mut out);
            }
        }
        return out;
    }
    let mut next_ht = FIRST_HT;
    for fam in [Family::V4, Family::V6] {
        let units: Vec<usize> = iface
            .filters
            .iter()
            .enumerate()
            .filter(|(_, f)| families(&f.m).contains(&fam) && !selectors(&f.m, fam).is_empty())
            .map(|(i, _)| i)
            .collect();
        let qualifies = |run: &[(usize, u8)]| {
            run.len() >= HASH_MIN_RUN && distinct_buckets(run) >= HASH_MIN_BUCKETS
        };
        let mut group = 0;
        let mut u = 0;
        while u < units.len() {
            group += 1;
            let prio = prio_of(fam, group);
            let run = hash_run(iface, &units[u..], fam);
            if qualifies(&run) {
                emit_hashed(iface, &run, fam, prio, next_ht, &mut out);
                next_ht += 1;
                u += run.len();
                continue;
            }
            // A linear group: up to MAX_NODES nodes, or until a hash run begins.
            let mut nodes = 0;
            while u < units.len() {
                let i = units[u];
                let sels = selectors(&iface.filters[i].m, fam);
                if nodes > 0
                    && (nodes + sels.len() > MAX_NODES
                        || qualifies(&hash_run(iface, &units[u..], fam)))
                {
                    break;
                }
                out.push(filter_note(iface, i));
                push_filters(iface, i, fam, prio, &sels, &mut out);
                nodes += sels.len();
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

fn push_filters(
    iface: &Interface,
    i: usize,
    fam: Family,
    prio: u32,
    sels: &[String],
    out: &mut Vec<Line>,
) {
    let (proto, _) = protocol_of(fam);
    let classid = iface.classid(iface.filters[i].class);
    for s in sels {
        out.push(Line::Cmd(format!(
            "filter add dev {} parent {:x}: protocol {proto} prio {prio} u32 {s} flowid {classid}",
            iface.name, iface.handle
        )));
    }
}

fn filter_note(iface: &Interface, i: usize) -> Line {
    let f = &iface.filters[i];
    Line::Comment(format!(
        "filter {} -> {} ({})",
        i + 1,
        comment_text(&iface.classes[f.class].name),
        iface.classid(f.class)
    ))
}

/// A hash table `ht:` at priority `prio` for `run`, linked from the priority's root table.
fn emit_hashed(
    iface: &Interface,
    run: &[(usize, u8)],
    fam: Family,
    prio: u32,
    ht: u32,
    out: &mut Vec<Line>,
) {
    let (proto, _) = protocol_of(fam);
    let at = if fam == Family::V6 { 36 } else { 16 };
    let head = format!(
        "filter add dev {} parent {:x}: protocol {proto} prio {prio}",
        iface.name, iface.handle
    );
    out.push(Line::Comment(format!(
        "filters {}..{} ({}, one destination host each): a hash table on the address's last octet",
        run[0].0 + 1,
        run[run.len() - 1].0 + 1,
        family_name(fam)
    )));
    out.push(Line::Cmd(format!("{head} handle {ht:x}: u32 divisor 256")));
    out.push(Line::Cmd(format!(
        "{head} u32 match u32 0 0 at {at} hashkey mask 0x000000ff at {at} link {ht:x}:"
    )));
    for &(fi, bucket) in run {
        let f = &iface.filters[fi];
        let classid = iface.classid(f.class);
        for s in selectors(&f.m, fam) {
            out.push(Line::Cmd(format!(
                "{head} u32 ht {ht:x}:{bucket:x}: {s} flowid {classid}"
            )));
        }
    }
}

fn family_name(fam: Family) -> &'static str {
    match fam {
        Family::V6 => "IPv6",
        _ => "IPv4",
    }
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
fn hash_run(iface: &Interface, units: &[usize], fam: Family) -> Vec<(usize, u8)> {
    let mut run = Vec::new();
    let mut nodes = [0usize; 256];
    for &i in units {
        let Some(h) = host_of(iface, i, fam) else {
            break;
        };
        let b = last_octet(&h);
        let n = selectors(&iface.filters[i].m, fam).len();
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
