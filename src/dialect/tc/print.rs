//! `tc` command lines shared by the backends: the HTB tree and u32 filters, rendered without the
//! leading `tc` so that the `sh` backend can run each as a command and the `batch` backend can
//! feed them all to one `tc -batch` process.
//!
//! u32 filters are placed by `dialect::u32::layout` (linear or hashed; the same layout
//! `tcc apply` sends) and printed here.

use crate::dialect::sh::quote::comment_text;
use crate::dialect::u32::layout::{hash_offset, layout, Part};
use crate::dialect::u32::protocol_of;
use crate::plan::qdisc::leaf_handle;
use crate::plan::units::{format_rate, format_size};
use crate::plan::{Family, Interface};
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

/// The handle of the ingress qdisc that redirects an interface's arriving traffic (`ffff:`).
pub const INGRESS_MAJOR: u16 = 0xffff;

/// The priority of the one filter on the ingress qdisc: the redirect to the ifb device.
pub const REDIRECT_PRIO: u16 = 1;

/// `qdisc add dev X handle ffff: ingress` (its deletion is the caller's).
pub fn ingress_qdisc_add(dev: &str) -> String {
    format!("qdisc add dev {dev} handle {INGRESS_MAJOR:x}: ingress")
}

/// The filter that sends everything arriving on `dev` to the ifb device `ifb`: u32 matching
/// every packet of every protocol, `action mirred egress redirect`.
pub fn redirect_filter(dev: &str, ifb: &str) -> String {
    format!(
        "filter add dev {dev} parent {INGRESS_MAJOR:x}: protocol all prio {REDIRECT_PRIO} u32 match u32 0 0 action mirred egress redirect dev {ifb}"
    )
}

/// `qdisc add dev X parent 1:10 handle 10: bfifo limit ...` for every leaf with a qdisc
/// (handles: `plan::qdisc::leaf_handle`); each with the class's name as a note.
pub fn leaf_qdisc_adds(iface: &Interface) -> Vec<Line> {
    iface
        .classes
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let q = c.qdisc.as_ref()?;
            Some(Line::CmdWithNote(
                format!(
                    "qdisc add dev {} parent {} handle {:x}: {q}",
                    iface.name,
                    iface.classid(i),
                    leaf_handle(iface, i)
                ),
                comment_text(&c.name),
            ))
        })
        .collect()
}

pub use crate::dialect::u32::layout::{HASH_MIN_BUCKETS, HASH_MIN_RUN, MAX_NODES};

/// The u32 filters of `iface` on its root qdisc (`parent 1:`), first match wins, as
/// `dialect::u32::layout` places them (`hashed`: long runs of per-host filters get hash
/// tables). Assumes `u32_expressible` found nothing.
pub fn u32_filters(iface: &Interface, hashed: bool) -> Vec<Line> {
    let head = |fam, prio| {
        format!(
            "filter add dev {} parent {:x}: protocol {} prio {prio}",
            iface.name,
            iface.handle,
            protocol_of(fam).0
        )
    };
    let mut out = Vec::new();
    for part in layout(iface, hashed) {
        match part {
            Part::Filter(i) => out.push(filter_note(iface, i)),
            Part::Table {
                fam,
                prio,
                ht,
                first,
                last,
            } => {
                let head = head(fam, prio);
                let at = hash_offset(fam);
                out.push(Line::Comment(format!(
                    "filters {}..{} ({}, one destination host each): a hash table on the address's last octet",
                    first + 1,
                    last + 1,
                    family_name(fam)
                )));
                out.push(Line::Cmd(format!("{head} handle {ht:x}: u32 divisor 256")));
                out.push(Line::Cmd(format!(
                    "{head} u32 match u32 0 0 at {at} hashkey mask 0x000000ff at {at} link {ht:x}:"
                )));
            }
            Part::Node(n) => {
                let classid = iface.classid(iface.filters[n.filter].class);
                let head = head(n.fam, n.prio);
                out.push(Line::Cmd(match n.bucket {
                    None => format!("{head} u32 {} flowid {classid}", n.sel),
                    Some((ht, b)) => {
                        format!("{head} u32 ht {ht:x}:{b:x}: {} flowid {classid}", n.sel)
                    }
                }));
            }
        }
    }
    out
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

fn family_name(fam: Family) -> &'static str {
    match fam {
        Family::V6 => "IPv6",
        _ => "IPv4",
    }
}
