//! The tree a plan asks for (`Desired`, in the kernel's own units), and the ordered steps that
//! turn the live state into it.
//!
//! Order: filters that go away or change are deleted first (HTB refuses to delete a class a
//! filter still points at), then classes that go away (children before parents), then classes
//! are added (parents first) or changed in place, then new filter groups are added. A class
//! whose rate changes is ONE `change` message; nothing else is touched. When the root qdisc is
//! not the plan's HTB (another kind, another handle, another `default` or `r2q`, which HTB
//! cannot change in place) the whole tree is rebuilt: delete the root, add everything.

use super::encode::*;
use super::live::{parse_htb_class, parse_htb_qdisc, parse_u32, Live};
use super::nl::Msg;
use crate::dialect::u32::layout::{layout, Part};
use crate::dialect::u32::{protocol_of, KeyError};
use crate::plan::qdisc::LeafQdisc;
use crate::plan::units::{format_rate, format_size};
use crate::plan::{Family, Interface};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DClass {
    pub classid: u32,
    pub parent: u32,
    pub name: String,
    pub htb: HtbClass,
    pub leaf: bool,
    /// The qdisc under a leaf and its handle's major (`plan::qdisc::leaf_handle`).
    pub qdisc: Option<(u16, LeafQdisc)>,
}

/// All u32 filters of one priority (one protocol per priority, as tc requires).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DGroup {
    pub prio: u16,
    pub proto: u16,
    pub filters: Vec<U32>,
    /// Which plan filters the group holds, for messages: "filters 3..7 (ip)".
    pub label: String,
}

/// The tree a plan asks for on one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub name: String,
    pub major: u16,
    pub defcls: u32,
    pub r2q: u32,
    pub classes: Vec<DClass>,
    pub groups: Vec<DGroup>,
}

impl Desired {
    /// Lower a checked interface. Errors when a filter's selectors have no u32 keys (the
    /// CLI runs `emit::u32_expressible` first, so this is a safety net).
    /// Without `u32` the plan's filters are left to nftables (`nft.rs`): no tc filters.
    pub fn from_plan(iface: &Interface, u32: bool) -> Result<Desired, KeyError> {
        let major = iface.handle;
        let leaves = iface.leaves();
        let classes = iface
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| DClass {
                classid: tc_handle(major, c.minor),
                parent: match c.parent {
                    Some(p) => tc_handle(major, iface.classes[p].minor),
                    None => tc_handle(major, 0),
                },
                name: c.name.clone(),
                htb: HtbClass {
                    rate: c.rate / 8,
                    ceil: c.ceil / 8,
                    // In range: `run::compare` refuses values outside `plan::limits` first.
                    burst: c.burst.and_then(|b| u32::try_from(b).ok()),
                    cburst: c.cburst.and_then(|b| u32::try_from(b).ok()),
                    quantum: c.quantum.and_then(|q| u32::try_from(q).ok()).unwrap_or(0),
                    prio: c.prio.unwrap_or(0),
                    mtu: c.mtu.and_then(|m| u32::try_from(m).ok()).unwrap_or(1600),
                },
                leaf: leaves[i],
                qdisc: super::leafq::wanted(iface, i, leaves[i]),
            })
            .collect();
        // u32 instances, placed as the scripts place them (`dialect::u32::layout`, linear:
        // consecutive filters of a protocol share a priority, IPv4 odd, IPv6 even, up to
        // `MAX_NODES` nodes each). One priority per filter runs out of u32 hash table ids
        // (2046 per qdisc) above ~2000 filters.
        let mut groups: Vec<DGroup> = Vec::new();
        // Per group: the first and last plan filter it holds, for its label.
        let mut spans: Vec<(usize, usize)> = Vec::new();
        let parts = if u32 {
            layout(iface, false)
        } else {
            Vec::new()
        };
        for part in parts {
            let Part::Node(n) = part else { continue };
            let classid = tc_handle(major, iface.classes[iface.filters[n.filter].class].minor);
            let proto = if n.fam == Family::V6 {
                ETH_P_IPV6
            } else {
                ETH_P_IP
            };
            let f = U32::new(&n.sel, classid)?;
            let prio = n.prio as u16;
            let k = match groups.iter().position(|g| g.prio == prio) {
                Some(k) => k,
                None => {
                    groups.push(DGroup {
                        prio,
                        proto,
                        filters: vec![],
                        label: protocol_of(n.fam).0.to_string(),
                    });
                    spans.push((n.filter, n.filter));
                    groups.len() - 1
                }
            };
            groups[k].filters.push(f);
            spans[k].1 = n.filter;
        }
        for (g, (first, last)) in groups.iter_mut().zip(spans) {
            g.label = if first == last {
                format!("filter {} ({})", first + 1, g.label)
            } else {
                format!("filters {}..{} ({})", first + 1, last + 1, g.label)
            };
        }
        groups.sort_by_key(|g| g.prio);
        Ok(Desired {
            name: iface.name.clone(),
            major,
            defcls: iface
                .default
                .map(|d| iface.classes[d].minor as u32)
                .unwrap_or(0),
            r2q: iface.r2q,
            classes,
            groups,
        })
    }
}

/// What a step does, for the readable diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Add,
    Change,
    Delete,
}

/// One message of the batch and what it means.
#[derive(Debug, Clone)]
pub struct Step {
    pub change: Change,
    /// The object, e.g. `class 1:12 (voip)`.
    pub object: String,
    /// Details, e.g. `rate 10mbit → 20mbit`.
    pub detail: String,
    /// The attributes that change, old and new, as `detail` names them (for JSON).
    pub values: Vec<Delta>,
    pub msg: Msg,
}

/// One attribute that changes: `rate`, from `old` to `new` (as tc writes the values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    pub attribute: &'static str,
    pub old: String,
    pub new: String,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = match self.change {
            Change::Add => '+',
            Change::Change => '~',
            Change::Delete => '-',
        };
        if self.detail.is_empty() {
            write!(f, "{sign} {}", self.object)
        } else if self.object.ends_with(':') {
            // A qdisc handle (`1:`) ends in a colon already: `+ root qdisc htb 1: default 12`,
            // as tc and `tcc status` write it, not `1:: default 12`.
            write!(f, "{sign} {} {}", self.object, self.detail)
        } else {
            write!(f, "{sign} {}: {}", self.object, self.detail)
        }
    }
}

/// `1:12` for a class, `1:` for a qdisc (minor 0), as tc writes them.
pub fn fmt_handle(h: u32) -> String {
    if h & 0xffff == 0 {
        format!("{:x}:", h >> 16)
    } else {
        format!("{:x}:{:x}", h >> 16, h & 0xffff)
    }
}

fn rate_text(bytes: u64) -> String {
    format_rate(bytes * 8)
}

/// What the kernel will report for a class created from `c` (quantum and prio only count for
/// leaves: HTB keeps those of inner classes from when they were created).
fn expected(c: &DClass, r2q: u32, ps: &Psched) -> (u64, u64, u32, u32, u32, u32) {
    let quantum = if c.htb.quantum != 0 {
        c.htb.quantum
    } else {
        let q = c.htb.rate / r2q.max(1) as u64;
        q.clamp(1000, 200_000) as u32
    };
    (
        c.htb.rate,
        c.htb.ceil,
        c.htb.buffer(ps),
        c.htb.cbuffer(ps),
        quantum,
        c.htb.prio.min(7),
    )
}

fn class_detail(c: &DClass) -> String {
    format!(
        "rate {} ceil {}",
        rate_text(c.htb.rate),
        rate_text(c.htb.ceil)
    )
}

fn add_class(ifindex: u32, c: &DClass, ps: &Psched) -> Step {
    Step {
        change: Change::Add,
        object: format!("class {} ({})", fmt_handle(c.classid), c.name),
        detail: class_detail(c),
        msg: htb_class(ifindex, c.parent, c.classid, &c.htb, false, ps),
        values: Vec::new(),
    }
}

fn add_groups<'a>(
    ifindex: u32,
    parent: u32,
    groups: impl Iterator<Item = &'a DGroup>,
    out: &mut Vec<Step>,
) {
    for g in groups {
        for (k, f) in g.filters.iter().enumerate() {
            out.push(Step {
                change: Change::Add,
                object: format!("{} prio {} u32 #{}", g.label, g.prio, k + 1),
                detail: String::new(),
                msg: u32_filter_add(ifindex, parent, g.proto, g.prio, 0, f),
                values: Vec::new(),
            });
        }
    }
}

/// The steps from `live` to `want`, in the order they must be sent.
pub fn diff(live: &Live, want: &Desired, ps: &Psched) -> Vec<Step> {
    let ifx = live.ifindex;
    let qhandle = tc_handle(want.major, 0);
    let mut steps = Vec::new();
    let root_ok = live.root().is_some_and(|r| {
        r.handle == qhandle && parse_htb_qdisc(r) == Some((want.r2q, want.defcls))
    });
    if !root_ok {
        if let Some(r) = live.root().filter(|r| r.handle != 0) {
            steps.push(Step {
                change: Change::Delete,
                object: format!("root qdisc {} {}", r.kind, fmt_handle(r.handle)),
                detail: "with all its classes and filters".into(),
                msg: root_qdisc_del(ifx),
                values: Vec::new(),
            });
        }
        steps.push(Step {
            change: Change::Add,
            object: format!("root qdisc htb {}", fmt_handle(qhandle)),
            detail: format!("default {:x} r2q {}", want.defcls, want.r2q),
            msg: htb_qdisc_add(ifx, want.major, want.defcls, want.r2q),
            values: Vec::new(),
        });
        for c in &want.classes {
            steps.push(add_class(ifx, c, ps));
        }
        for c in &want.classes {
            steps.extend(super::leafq::add_step(ifx, c, ps));
        }
        add_groups(ifx, qhandle, want.groups.iter(), &mut steps);
        return steps;
    }

    // Classes.
    let live_cls: HashMap<u32, (u32, super::live::LiveHtb)> = live
        .classes
        .iter()
        .filter_map(|o| {
            let parent = if o.parent == TC_H_ROOT {
                qhandle
            } else {
                o.parent
            };
            parse_htb_class(o).map(|h| (o.handle, (parent, h)))
        })
        .collect();
    // A class stays when it exists under the same parent (HTB cannot move a class); a
    // class whose parent goes or moves must go too.
    let mut stays: HashMap<u32, bool> = HashMap::new();
    for c in &want.classes {
        let ok = live_cls
            .get(&c.classid)
            .is_some_and(|(p, _)| *p == c.parent)
            && (c.parent == qhandle || stays.get(&c.parent).copied().unwrap_or(false));
        stays.insert(c.classid, ok);
    }
    // Delete children before parents: deepest first by level (leaves have level 0).
    let mut dels: Vec<(u32, u32)> = live_cls
        .iter()
        .filter(|(id, _)| !stays.get(id).copied().unwrap_or(false))
        .map(|(id, (_, h))| (h.level, *id))
        .collect();
    dels.sort();
    let deleted: Vec<u32> = dels.iter().map(|d| d.1).collect();

    // Filters on the qdisc, grouped by priority; filters elsewhere in the tree are not ours
    // to keep (tcc never attaches any there), so they go too.
    let mut live_groups: BTreeMap<(u32, u16), Vec<Option<U32>>> = BTreeMap::new();
    // Only filters inside the root tree: ingress/clsact filters are not tcc's.
    let in_tree = |parent: u32| parent >> 16 == want.major as u32;
    for f in live.filters.iter().filter(|f| in_tree(f.parent)) {
        let prio = (f.info >> 16) as u16;
        if f.handle == 0 {
            live_groups.entry((f.parent, prio)).or_default();
            continue;
        }
        if f.kind == "u32" && parse_u32(f).is_none() && f.handle & 0xfff == 0 {
            continue; // a hash table node
        }
        live_groups
            .entry((f.parent, prio))
            .or_default()
            .push(if f.parent == qhandle {
                parse_u32(f)
            } else {
                None
            });
    }
    let live_proto: HashMap<(u32, u16), u16> = live
        .filters
        .iter()
        .map(|f| {
            (
                (f.parent, (f.info >> 16) as u16),
                u16::from_be((f.info & 0xffff) as u16),
            )
        })
        .collect();
    let mut keep_groups = Vec::new();
    for (&(parent, prio), list) in &live_groups {
        let proto = live_proto[&(parent, prio)];
        let wanted = want
            .groups
            .iter()
            .find(|g| parent == qhandle && g.prio == prio);
        let same = wanted.is_some_and(|g| {
            g.proto == proto
                && list.len() == g.filters.len()
                && g.filters.iter().all(|f| !deleted.contains(&f.classid))
                && list
                    .iter()
                    .zip(&g.filters)
                    .all(|(l, w)| l.as_ref() == Some(w))
        });
        if same {
            keep_groups.push(prio);
        } else {
            steps.push(Step {
                change: Change::Delete,
                object: format!("filters of {} prio {prio}", fmt_handle(parent)),
                detail: format!("{} u32 node(s)", list.len()),
                msg: filter_del(ifx, parent, proto, prio),
                values: Vec::new(),
            });
        }
    }

    for (_, id) in dels {
        // Deleting a parent deletes nothing below it in HTB: children are deleted first.
        steps.push(Step {
            change: Change::Delete,
            object: format!("class {}", fmt_handle(id)),
            detail: String::new(),
            msg: class_del(ifx, id),
            values: Vec::new(),
        });
    }
    for c in &want.classes {
        if !stays[&c.classid] {
            steps.push(add_class(ifx, c, ps));
            continue;
        }
        let (_, l) = live_cls[&c.classid];
        let (rate, ceil, buffer, cbuffer, quantum, prio) = expected(c, want.r2q, ps);
        let mut deltas = Vec::new();
        let mut delta = |attribute, old: String, new: String| {
            deltas.push(Delta {
                attribute,
                old,
                new,
            })
        };
        if l.rate != rate {
            delta("rate", rate_text(l.rate), rate_text(rate));
        }
        if l.ceil != ceil {
            delta("ceil", rate_text(l.ceil), rate_text(ceil));
        }
        // Bursts are held in psched ticks, which also move with the rate. A burst changed when
        // the wanted bytes at the live rate give other ticks; shown in bytes, the live one as
        // the kernel's ticks convert back (tc rounds them down).
        let bytes = |ticks: u32, rate: u64| {
            format_size((ticks as f64 / ps.tick_in_usec * rate as f64 / 1e6).round() as u64)
        };
        let (wb, wc) = (c.htb.burst_bytes(ps), c.htb.cburst_bytes(ps));
        if ps.xmittime(l.rate, wb) != l.buffer {
            delta("burst", bytes(l.buffer, l.rate), format_size(wb as u64));
        }
        if ps.xmittime(l.ceil, wc) != l.cbuffer {
            delta("cburst", bytes(l.cbuffer, l.ceil), format_size(wc as u64));
        }
        // A class that is a leaf in the plan is one by the time this change runs (its live
        // children are deleted first), so HTB then applies quantum and prio.
        if c.leaf && l.quantum != quantum {
            delta("quantum", l.quantum.to_string(), quantum.to_string());
        }
        if c.leaf && l.prio != prio {
            delta("prio", l.prio.to_string(), prio.to_string());
        }
        let mut what: Vec<String> = deltas
            .iter()
            .map(|d| format!("{} {} → {}", d.attribute, d.old, d.new))
            .collect();
        if what.is_empty() && (l.buffer != buffer || l.cbuffer != cbuffer) {
            what.push("burst".into());
        }
        if !what.is_empty() {
            steps.push(Step {
                change: Change::Change,
                object: format!("class {} ({})", fmt_handle(c.classid), c.name),
                detail: what.join(", "),
                msg: htb_class(ifx, c.parent, c.classid, &c.htb, true, ps),
                values: deltas,
            });
        }
    }
    super::leafq::steps(live, want, &stays, ps, &mut steps);
    add_groups(
        ifx,
        qhandle,
        want.groups
            .iter()
            .filter(|g| !keep_groups.contains(&g.prio)),
        &mut steps,
    );
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qdisc_step_reads_as_tc_writes_it() {
        let step = |object: &str, detail: &str| Step {
            change: Change::Add,
            object: object.into(),
            detail: detail.into(),
            msg: root_qdisc_del(1),
            values: Vec::new(),
        };
        let q = step(
            &format!("root qdisc htb {}", fmt_handle(tc_handle(1, 0))),
            "default 12 r2q 10",
        );
        assert_eq!(q.to_string(), "+ root qdisc htb 1: default 12 r2q 10");
        let c = step("class 1:12 (web)", "rate 1mbit");
        assert_eq!(c.to_string(), "+ class 1:12 (web): rate 1mbit");
    }

    fn want(src: &str) -> Desired {
        let (plan, diags) = crate::analyze(0, src);
        assert!(!diags.has_errors(), "{:?}", diags.items);
        Desired::from_plan(&plan.interfaces[0], true).unwrap()
    }

    #[test]
    fn consecutive_filters_of_one_protocol_share_a_priority() {
        let w = want(
            "interface eth1 {\n rate 100mbit\n default c\n\
             class a { classid 1:10; rate 10mbit; match udp dport 53 }\n\
             class b { classid 1:11; rate 10mbit; match tcp dst 10.0.0.1 }\n\
             class v6 { classid 1:12; rate 10mbit; match dst 2001:db8::1 }\n\
             class c { classid 1:13; rate 10mbit; match src 10.1.0.0/16 }\n}\n",
        );
        // `udp dport 53` is for both families: an ip and an ipv6 node. As in the scripts,
        // IPv4 filters share priority 1 and IPv6 ones priority 2 (a filter of one protocol
        // never sees the other's packets, so only the order within a protocol matters).
        let layout: Vec<(u16, u16, usize, &str)> = w
            .groups
            .iter()
            .map(|g| (g.prio, g.proto, g.filters.len(), g.label.as_str()))
            .collect();
        assert_eq!(
            layout,
            [
                (1, ETH_P_IP, 3, "filters 1..4 (ip)"),
                (2, ETH_P_IPV6, 2, "filters 1..3 (ipv6)"),
            ]
        );
        assert_eq!(w.classes.len(), 5, "the interface rate makes a root class");
        assert_eq!(w.defcls, 0x13);
    }

    /// apply sends what the scripts print: the same priorities, protocols and classes, and
    /// keys equal to those tc packs from the printed selectors.
    #[test]
    fn groups_are_what_the_scripts_print() {
        use crate::dialect::tc::print::{u32_filters, Line};
        use crate::dialect::u32::{Sel, Selector};
        let src = "interface eth1 {\n rate 100mbit\n default c\n\
             class a { classid 1:10; rate 10mbit; match udp dport 53, 1024..2047 }\n\
             class b { classid 1:11; rate 10mbit; match tcp dst 10.0.0.1 dscp EF }\n\
             class v6 { classid 1:12; rate 10mbit; match dst 2001:db8::/33 length 0..127 }\n\
             class c { classid 1:13; rate 10mbit; match src 10.1.0.0/16 }\n}\n";
        let (plan, diags) = crate::analyze(0, src);
        assert!(!diags.has_errors(), "{:?}", diags.items);
        let iface = &plan.interfaces[0];
        let mut printed: Vec<(u16, u16, U32)> = u32_filters(iface, false)
            .iter()
            .filter_map(|l| match l {
                Line::Cmd(c) => Some(c.clone()),
                _ => None,
            })
            .map(|c| {
                let w: Vec<&str> = c.split_whitespace().collect();
                let after = |k: &str| w[w.iter().position(|x| *x == k).unwrap() + 1];
                let proto = if after("protocol") == "ipv6" {
                    ETH_P_IPV6
                } else {
                    ETH_P_IP
                };
                let (mut sels, mut i) =
                    (Vec::new(), w.iter().position(|x| *x == "u32").unwrap() + 1);
                while w[i] == "match" {
                    let (s, n) = Sel::parse(&w[i..]).unwrap();
                    sels.push(s);
                    i += n;
                }
                let classid = crate::dialect::tc_handle(after("flowid")).unwrap();
                let classid = tc_handle(classid.0, classid.1);
                let f = U32::new(&Selector(sels), classid).unwrap();
                (after("prio").parse().unwrap(), proto, f)
            })
            .collect();
        let sent: Vec<(u16, u16, U32)> = Desired::from_plan(iface, true)
            .unwrap()
            .groups
            .iter()
            .flat_map(|g| g.filters.iter().map(|f| (g.prio, g.proto, f.clone())))
            .collect();
        // The order within a priority is the same; apply sends one priority after another.
        printed.sort_by_key(|p| p.0);
        assert_eq!(printed, sent);
        assert!(sent.len() > 6);
    }

    #[test]
    fn long_runs_are_split_at_the_node_limit() {
        let mut src =
            String::from("interface eth1 {\n rate 10gbit\n default d\n class d { rate 1mbit }\n");
        for i in 0..4500 {
            src.push_str(&format!(
                " class \"c{i}\" {{ rate 1mbit; match dst 10.{}.{}.1 }}\n",
                i / 256,
                i % 256
            ));
        }
        src.push_str("}\n");
        let w = want(&src);
        let sizes: Vec<(u16, usize)> = w.groups.iter().map(|g| (g.prio, g.filters.len())).collect();
        assert_eq!(sizes, [(1, 2000), (3, 2000), (5, 500)]);
        assert_eq!(w.groups[2].label, "filters 4001..4500 (ip)");
    }
}
