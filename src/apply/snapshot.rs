//! What the kernel holds now, written as the script that would build it, for `tcc explain
//! --live`: the explain reader then reads it like any script, so every reading, lint and
//! ending is the script reader's, and nothing is claimed that it would not claim for a script.
//!
//! - traffic control, dumped over rtnetlink (`live::Live::read`): per interface a `tc -batch -`
//!   here-document with the root qdisc, the HTB classes (parents first; burst, cburst, quantum
//!   and `direct_qlen` only where they differ from what tc and HTB would choose by themselves,
//!   so a tcc-applied plan reads back as itself), other qdiscs and classes by kind, and the
//!   filters: u32 keys decoded into named selectors (`dialect::u32::decode`), hash tables,
//!   links, `hashkey`, `offset`, actions and filters of other kinds printed as tc writes them,
//!   so the reader recognises and reports them;
//! - the mangle tables (`iptables-save -t mangle`, `ip6tables-save -t mangle`) as
//!   `iptables-restore` input;
//! - the nftables ruleset (`nft list ruleset`) as `nft -f -` input, without iptables-nft's own
//!   `mangle` tables, which the first part already holds.
//!
//! A part that could not be read (tool missing, no privileges) is a comment in the text and an
//! `Unread` entry, which the caller turns into a diagnostic.
//!
//! Size: one writer for the one format, part by part (tc tree, u32 filters, firewall tools);
//! each part is short, and splitting them would scatter the defaults they share.

use super::encode::*;
use super::live::{parse_htb_class, parse_htb_qdisc, Live, Obj};
use super::nl::*;
use crate::dialect::u32::decode::decode;
use crate::dialect::u32::{Ip, Key, Sel};
use crate::plan::units::format_rate;
use std::collections::BTreeMap;
use std::fmt::{self, Write};
use std::process::{Command, Stdio};

/// A part of the live state not read: where its comment is in the text, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    pub at: std::ops::Range<usize>,
    pub what: String,
}

/// The live state as a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub text: String,
    pub unread: Vec<Unread>,
}

#[derive(Debug)]
pub enum SnapshotError {
    /// `--interface` names no device here.
    NoSuchInterface(String),
    /// The netlink dump failed (the words of the error).
    Netlink(std::io::Error),
    /// /proc/net/psched could not be read.
    Psched(std::io::Error),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::NoSuchInterface(n) => write!(f, "no interface `{n}` here"),
            SnapshotError::Netlink(e) => write!(f, "reading traffic control over netlink: {e}"),
            SnapshotError::Psched(e) => write!(f, "reading /proc/net/psched: {e}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

const RTM_GETLINK: u16 = 18;
const IFLA_IFNAME: u16 = 3;
const IFLA_TXQLEN: u16 = 13;
const TC_H_INGRESS: u32 = 0xffff_fff1;
const TC_H_CLSACT_INGRESS: u32 = 0xffff_fff2;
const TC_H_CLSACT_EGRESS: u32 = 0xffff_fff3;
const TCA_CHAIN: u16 = 11;
const TCA_U32_HASH: u16 = 2;
const TCA_U32_LINK: u16 = 3;
const TCA_U32_POLICE: u16 = 6;
const TCA_U32_ACT: u16 = 7;
const TCA_U32_INDEV: u16 = 8;
const TCA_U32_FLAGS: u16 = 11;
const TCA_ACT_KIND: u16 = 1;
const TCA_HTB_OFFLOAD: u16 = 9;

/// One network device: index, name, transmit queue length.
struct Link {
    index: u32,
    name: String,
    txqlen: u32,
}

fn links(sock: &mut Socket) -> std::io::Result<Vec<Link>> {
    let mut m = Msg::new(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP);
    m.put(&[0u8; 16]);
    let mut out: Vec<Link> = sock
        .dump(m)?
        .into_iter()
        .map(|p| {
            let a = attrs(p.get(16..).unwrap_or(&[]));
            Link {
                index: u32_at(&p, 4),
                name: find(&a, IFLA_IFNAME).map(str_of).unwrap_or_default(),
                txqlen: find(&a, IFLA_TXQLEN).map(|d| u32_at(d, 0)).unwrap_or(0),
            }
        })
        .collect();
    out.sort_by_key(|l| l.index);
    Ok(out)
}

/// Read the live state of `interfaces` (every interface with a configured root or ingress
/// qdisc when empty) as a script.
pub fn read(interfaces: &[String]) -> Result<Snapshot, SnapshotError> {
    let mut sock = Socket::open().map_err(SnapshotError::Netlink)?;
    let ps = Psched::host().map_err(SnapshotError::Psched)?;
    let all = links(&mut sock).map_err(SnapshotError::Netlink)?;
    let mut devs = Vec::new();
    for name in interfaces {
        let l = all
            .iter()
            .find(|l| &l.name == name)
            .ok_or_else(|| SnapshotError::NoSuchInterface(name.clone()))?;
        devs.push(l);
    }
    // The devices the named ones redirect to (tcc's ifb of an `ingress` block) are read too:
    // their trees are the download side of the named interface.
    if !interfaces.is_empty() {
        let mut extra = vec![];
        for d in &devs {
            let live = Live::read(&mut sock, d.index).map_err(SnapshotError::Netlink)?;
            extra.extend(mirred_targets(&live));
        }
        for i in extra {
            if let Some(l) = all.iter().find(|l| l.index == i) {
                if !devs.iter().any(|d| d.index == i) {
                    devs.push(l);
                }
            }
        }
    }
    let mut tc = Vec::new();
    for l in &all {
        if !interfaces.is_empty() && !devs.iter().any(|d| d.index == l.index) {
            continue;
        }
        let mut live = Live::read(&mut sock, l.index).map_err(SnapshotError::Netlink)?;
        // clsact's filters hang off its two hooks, not off the qdisc.
        if live
            .qdiscs
            .iter()
            .any(|q| q.parent == TC_H_INGRESS && q.kind == "clsact")
        {
            for p in [TC_H_CLSACT_INGRESS, TC_H_CLSACT_EGRESS] {
                let got = sock
                    .dump(dump_req(RTM_GETTFILTER, l.index, p))
                    .map_err(SnapshotError::Netlink)?;
                live.filters.extend(
                    got.into_iter()
                        .map(Obj::parse)
                        .filter(|o| u32_at(&o.raw, 4) == l.index),
                );
            }
        }
        let configured =
            !live.root_is_default() || live.qdiscs.iter().any(|q| q.parent == TC_H_INGRESS);
        if interfaces.is_empty() && !configured {
            continue;
        }
        tc.push((l, live));
    }
    let mut s = Writer::default();
    s.line("#!/bin/sh");
    s.line("# The live state of this machine, read by `tcc explain --live`:");
    s.line("#   traffic control over rtnetlink (qdisc, class and filter dumps),");
    s.line("#   the mangle tables with iptables-save and ip6tables-save, the ruleset with `nft list ruleset`.");
    // The state is whole: nothing in it is half-applied.
    s.line("set -e");
    if tc.is_empty() {
        s.line("# No interface has a root or ingress qdisc of its own: nothing is shaped.");
    }
    let names: Names = all.iter().map(|l| (l.index, l.name.clone())).collect();
    for (l, live) in &tc {
        write_tc(&mut s, l, live, &names, &ps);
    }
    let mut skip_nft = Vec::new();
    for (tool, family) in [("iptables", "ip"), ("ip6tables", "ip6")] {
        if write_xt(&mut s, tool) && nft_backend(tool) {
            skip_nft.push(format!("table {family} mangle {{"));
        }
    }
    write_nft(&mut s, &skip_nft);
    Ok(Snapshot {
        text: s.text,
        unread: s.unread,
    })
}

#[derive(Default)]
struct Writer {
    text: String,
    unread: Vec<Unread>,
}

impl Writer {
    fn line(&mut self, l: &str) {
        self.text.push_str(l);
        self.text.push('\n');
    }

    /// A comment saying what was not read, recorded as `Unread`.
    fn unread(&mut self, what: String) {
        let start = self.text.len();
        self.line(&format!("# not read: {what}"));
        self.unread.push(Unread {
            at: start..self.text.len() - 1,
            what,
        });
    }

    /// `cmd <<'DELIM'` with `body`, the delimiter chosen so that no line of the body is it.
    fn heredoc(&mut self, cmd: &str, body: &str) {
        let mut delim = "EOF".to_string();
        while body.lines().any(|l| l == delim) {
            delim.push('_');
        }
        self.line(&format!("{cmd} <<'{delim}'"));
        self.text.push_str(body);
        if !body.ends_with('\n') && !body.is_empty() {
            self.text.push('\n');
        }
        self.line(&delim);
    }
}

fn handle(h: u32) -> String {
    super::diff::fmt_handle(h)
}

fn write_tc(s: &mut Writer, l: &Link, live: &Live, names: &Names, ps: &Psched) {
    let dev = &l.name;
    let mut b = String::new();
    let mut notes = Vec::new();
    let root = live.root().filter(|r| r.handle != 0);
    let mut r2q = 10;
    let mut htb_major = None;
    if let Some(r) = root {
        let mut q = format!(
            "qdisc add dev {dev} root handle {} {}",
            handle(r.handle),
            r.kind
        );
        if let Some((rq, defcls)) = parse_htb_qdisc(r) {
            htb_major = Some(r.handle);
            r2q = rq.max(1);
            if defcls != 0 {
                let _ = write!(q, " default {defcls:x}");
            }
            if rq != 10 {
                let _ = write!(q, " r2q {rq}");
            }
            let opts = r.options();
            if let Some(d) = find(&opts, TCA_HTB_DIRECT_QLEN).map(|d| u32_at(d, 0)) {
                if d != l.txqlen {
                    let _ = write!(q, " direct_qlen {d}");
                }
            }
            if find(&opts, TCA_HTB_OFFLOAD).is_some() {
                q.push_str(" offload");
            }
        } else {
            q.push_str(&qdisc_options(r, l.txqlen));
        }
        b.push_str(&q);
        b.push('\n');
    } else if let Some(r) = live.root() {
        notes.push(format!(
            "# {dev}: the root qdisc is the kernel's own ({}), not configured",
            r.kind
        ));
    }
    for q in live.qdiscs.iter().filter(|q| q.parent == TC_H_INGRESS) {
        let _ = writeln!(b, "qdisc add dev {dev} {}", q.kind);
    }
    // HTB classes, parents first (depth-first from the qdisc, by minor).
    let mut children: BTreeMap<u32, Vec<&Obj>> = BTreeMap::new();
    // The root qdisc's own classes (an HTB further down has classes of another major).
    let major = root.map(|r| r.handle >> 16);
    for c in live
        .classes
        .iter()
        .filter(|c| Some(c.handle >> 16) == major)
    {
        children.entry(c.parent).or_default().push(c);
    }
    for v in children.values_mut() {
        v.sort_by_key(|c| c.handle);
    }
    let mut order = Vec::new();
    if htb_major.is_some() {
        walk(TC_H_ROOT, &children, &mut order, 0);
    }
    for c in &order {
        b.push_str(&class_line(dev, c, htb_major, r2q, ps));
        b.push('\n');
    }
    // Other qdiscs: under classes (leaf qdiscs), or under those.
    for q in &live.qdiscs {
        if q.handle == 0 || q.parent == TC_H_ROOT || q.parent == TC_H_INGRESS {
            continue;
        }
        let _ = writeln!(
            b,
            "qdisc add dev {dev} parent {} handle {} {}{}",
            handle(q.parent),
            handle(q.handle),
            q.kind,
            qdisc_options(q, l.txqlen)
        );
    }
    // Classes not under an HTB root: those of other kinds come with their qdisc (tbf's
    // inner class, mq's queues...), whose own line the reader reports; HTB classes whose
    // parent is gone are written as they are.
    for c in &live.classes {
        if !order.iter().any(|o| o.handle == c.handle) {
            if c.kind == "htb" {
                b.push_str(&class_line(dev, c, htb_major, r2q, ps));
                b.push('\n');
            } else {
                notes.push(format!(
                    "# {dev}: class {} of the {} qdisc, part of it",
                    handle(c.handle),
                    c.kind
                ));
            }
        }
    }
    for f in &live.filters {
        if let Some(line) = filter_line(dev, f, names, &mut notes) {
            b.push_str(&line);
            b.push('\n');
        }
    }
    s.line("");
    s.line(&format!("# {dev}: traffic control, read over rtnetlink"));
    for n in notes {
        if let Some(what) = n.strip_prefix("unread: ") {
            s.unread(what.to_string());
        } else {
            s.line(&n);
        }
    }
    if !b.is_empty() {
        s.heredoc("tc -batch -", &b);
    }
}

/// The classes under `parent`, each followed by its own (parents first).
fn walk<'a>(
    parent: u32,
    children: &BTreeMap<u32, Vec<&'a Obj>>,
    out: &mut Vec<&'a Obj>,
    depth: usize,
) {
    // HTB nests at most 8 levels; a loop in a dump must not recurse forever.
    if depth > 16 {
        return;
    }
    for c in children.get(&parent).into_iter().flatten() {
        if c.handle != parent {
            out.push(c);
            walk(c.handle, children, out, depth + 1);
        }
    }
}

/// The top classes of a tree report the parent TC_H_ROOT; the rest their parent class.
fn parent_text(c: &Obj) -> String {
    if c.parent == TC_H_ROOT {
        format!("{:x}:", c.handle >> 16)
    } else {
        handle(c.parent)
    }
}

/// `class add ...` for one dumped class: HTB's parameters, or the kind alone.
fn class_line(dev: &str, c: &Obj, htb: Option<u32>, r2q: u32, ps: &Psched) -> String {
    let mut l = format!(
        "class add dev {dev} parent {} classid {} {}",
        parent_text(c),
        handle(c.handle),
        c.kind
    );
    let Some(h) = parse_htb_class(c) else {
        return l;
    };
    let _ = htb;
    let _ = write!(
        l,
        " rate {} ceil {}",
        format_rate(h.rate * 8),
        format_rate(h.ceil * 8)
    );
    let (burst, cburst, mtu) = bursts(ps, h.rate, h.ceil, h.buffer, h.cbuffer);
    if let Some(b) = burst {
        let _ = write!(l, " burst {b}b");
    }
    if let Some(b) = cburst {
        let _ = write!(l, " cburst {b}b");
    }
    if h.level == 0 {
        if h.prio != 0 {
            let _ = write!(l, " prio {}", h.prio);
        }
        if h.quantum as u64 != default_quantum(h.rate, r2q, mtu) {
            let _ = write!(l, " quantum {}", h.quantum);
        }
    }
    if let Some(m) = mtu {
        let _ = write!(l, " mtu {m}");
    }
    // The rate spec's link-layer accounting (the same for rate and ceil, as tc sends it).
    if let Some(p) = find(&c.options(), TCA_HTB_PARMS).filter(|p| p.len() >= 12) {
        let overhead = u16::from_ne_bytes([p[2], p[3]]);
        let mpu = u16::from_ne_bytes([p[6], p[7]]);
        if overhead != 0 {
            let _ = write!(l, " overhead {overhead}");
        }
        if mpu != 0 {
            let _ = write!(l, " mpu {mpu}");
        }
        if p[1] == 2 {
            l.push_str(" linklayer atm");
        }
    }
    l
}

/// The quantum HTB chooses for a class of `rate` bytes/s without one (rate / r2q, kept
/// within HTB's range), as tcc's checker fills it in (`sema::normalise::quantum`).
fn default_quantum(rate: u64, r2q: u32, mtu: Option<u64>) -> u64 {
    use crate::sema::normalise::{QUANTUM_MAX, QUANTUM_MIN};
    let q = rate / r2q.max(1) as u64;
    if q < QUANTUM_MIN {
        QUANTUM_MIN
            .max(mtu.unwrap_or(0))
            .min(crate::plan::limits::MAX_QUANTUM)
    } else {
        q.min(QUANTUM_MAX)
    }
}

/// Every burst (bytes) that takes `ticks` at `rate` bytes/s, as tc computes it.
fn burst_range(ps: &Psched, rate: u64, ticks: u32) -> Option<(u64, u64)> {
    if rate == 0 {
        return None;
    }
    let first = |at_least: bool| {
        // The first size whose time is >= ticks (or > ticks).
        let (mut lo, mut hi) = (0u64, u32::MAX as u64 + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let t = ps.xmittime(rate, mid as u32);
            if (at_least && t >= ticks) || (!at_least && t > ticks) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    };
    let (lo, end) = (first(true), first(false));
    (lo < end && lo <= u32::MAX as u64).then(|| (lo, end - 1))
}

/// A round number in `lo..=hi`: the multiple of the largest step that has one.
fn round_in(lo: u64, hi: u64) -> u64 {
    for step in [
        1 << 20,
        1_000_000,
        1 << 16,
        10_000,
        1 << 12,
        1 << 10,
        1000,
        100,
        10,
        1,
    ] {
        let m = lo.div_ceil(step) * step;
        if m <= hi {
            return m;
        }
    }
    lo
}

/// The burst, cburst and mtu to write for a class whose bursts take `buffer` and `cbuffer`
/// ticks: none when they are tc's defaults (`rate / hz + 1600`); an `mtu` when both are the
/// defaults for one other mtu (jumbo frames); else each burst that is not the default.
fn bursts(
    ps: &Psched,
    rate: u64,
    ceil: u64,
    buffer: u32,
    cbuffer: u32,
) -> (Option<u64>, Option<u64>, Option<u64>) {
    let hz = ps.hz as u64;
    let ticks = |rate: u64, mtu: u64| {
        crate::plan::limits::default_burst(rate, mtu, hz)
            .map(|b| ps.xmittime(rate, b.min(u32::MAX as u64) as u32))
    };
    let rate_default = ticks(rate, 1600) == Some(buffer);
    let ceil_default = ticks(ceil, 1600) == Some(cbuffer);
    if rate_default && ceil_default {
        return (None, None, None);
    }
    let (rb, cb) = (
        burst_range(ps, rate, buffer),
        burst_range(ps, ceil, cbuffer),
    );
    if let (Some(rb), Some(cb)) = (rb, cb) {
        let (r, c) = (rate / hz.max(1), ceil / hz.max(1));
        let lo = rb.0.saturating_sub(r).max(cb.0.saturating_sub(c));
        let hi = (rb.1.saturating_sub(r)).min(cb.1.saturating_sub(c));
        if lo <= hi && hi > 0 {
            let known = [1500u64, 9000, 18000, 65536, 2048, 4096, 9216, 16384, 65535];
            let m = known
                .into_iter()
                .find(|m| (lo..=hi).contains(m))
                .unwrap_or_else(|| round_in(lo.max(1), hi));
            if ticks(rate, m) == Some(buffer) && ticks(ceil, m) == Some(cbuffer) {
                return (None, None, Some(m));
            }
        }
    }
    let pick = |dflt: bool, r: Option<(u64, u64)>| {
        if dflt {
            None
        } else {
            r.map(|(lo, hi)| round_in(lo, hi))
        }
    };
    (pick(rate_default, rb), pick(ceil_default, cb), None)
}

/// The options of a qdisc of a kind read here (the leaf queues tcc models), after its kind;
/// none for other kinds.
fn qdisc_options(q: &Obj, txqlen: u32) -> String {
    if matches!(q.kind.as_str(), "pfifo" | "bfifo" | "sfq" | "fq_codel") {
        // Options at the kernel's own default are left out, as a file that does not set them
        // reads: pfifo's limit is the device's queue length; sfq's and fq_codel's constants.
        let pfifo_default = txqlen.max(1).to_string();
        let default = |k: &str, v: &str| match (q.kind.as_str(), k) {
            ("pfifo", "limit") => v == pfifo_default,
            ("sfq", "perturb") => v == "0",
            ("sfq", "limit") => v == "127",
            ("fq_codel", "limit") => v == "10240",
            ("fq_codel", "flows") => v == "1024",
            ("fq_codel", "ecn") => v == "true",
            _ => false,
        };
        let mut out = String::new();
        for (k, v) in super::leafq::live_options(q).unwrap_or_default() {
            if default(k, &v) {
                continue;
            }
            let _ = match (k, v.as_str()) {
                ("ecn", "true") => write!(out, " ecn"),
                ("ecn", _) => write!(out, " noecn"),
                _ => write!(out, " {k} {v}"),
            };
        }
        return out;
    }
    const TCA_TBF_PARMS: u16 = 1;
    const TCA_TBF_RATE64: u16 = 4;
    if q.kind != "tbf" {
        return String::new();
    }
    let opts = q.options();
    let Some(p) = find(&opts, TCA_TBF_PARMS).filter(|p| p.len() >= 36) else {
        return String::new();
    };
    let rate = find(&opts, TCA_TBF_RATE64)
        .map(|d| u64_at(d, 0))
        .unwrap_or(u32_at(p, 8) as u64);
    let (limit, buffer) = (u32_at(p, 24), u32_at(p, 28));
    let ps = Psched::host().unwrap_or(Psched::HIGH_RES);
    let burst = burst_range(&ps, rate, buffer).map_or(0, |(lo, hi)| round_in(lo, hi));
    format!(
        " rate {} burst {burst}b limit {limit}b",
        format_rate(rate * 8)
    )
}

fn protocol_name(p: u16) -> String {
    match p {
        0x0800 => "ip".into(),
        0x86dd => "ipv6".into(),
        0x0003 => "all".into(),
        0x0806 => "arp".into(),
        0x8100 => "802.1q".into(),
        p => format!("{p:#06x}"),
    }
}

/// `filter add ...` for one dumped filter (none for the entries that only head a priority or
/// are a priority's own u32 table). `notes` gets `unread: ...` for what the line cannot say.
fn filter_line(dev: &str, f: &Obj, names: &Names, notes: &mut Vec<String>) -> Option<String> {
    let opts = f.options();
    if opts.is_empty() && (f.handle == 0 || f.kind == "u32") {
        return None;
    }
    let prio = f.info >> 16;
    let proto = u16::from_be(f.info as u16);
    let parent = match f.parent {
        TC_H_CLSACT_INGRESS => "ffff:fff2".to_string(),
        TC_H_CLSACT_EGRESS => "ffff:fff3".to_string(),
        p => handle(p),
    };
    let mut l = format!(
        "filter add dev {dev} parent {parent} protocol {} prio {prio}",
        protocol_name(proto)
    );
    if let Some(chain) = find(&f.attrs(), TCA_CHAIN).map(|c| u32_at(c, 0)) {
        if chain != 0 {
            let _ = write!(l, " chain {chain}");
            notes.push(format!(
                "unread: a {} filter of {dev} in chain {chain} (reached only by a `goto chain` action), which the reader does not model",
                f.kind
            ));
        }
    }
    if f.kind != "u32" {
        let _ = write!(l, " handle {:#x} {}", f.handle, f.kind);
        return Some(l);
    }
    let htid = f.handle >> 20;
    if let Some(d) = find(&opts, TCA_U32_DIVISOR).map(|d| u32_at(d, 0)) {
        if htid >= 0x800 && d <= 1 {
            return None;
        }
        let _ = write!(l, " handle {htid:x}: u32 divisor {d}");
        return Some(l);
    }
    l.push_str(" u32");
    let table = find(&opts, TCA_U32_HASH).map_or(htid, |h| u32_at(h, 0) >> 20);
    let bucket = (f.handle >> 12) & 0xff;
    if table < 0x800 || bucket != 0 {
        let _ = write!(l, " ht {table:x}:{bucket:x}:");
    }
    let sel = find(&opts, TCA_U32_SEL).unwrap_or(&[]);
    let n = sel.get(2).copied().unwrap_or(0) as usize;
    let mut keys = Vec::new();
    let mut nexthdr = Vec::new();
    for i in 0..n {
        let Some(k) = sel.get(16 + 16 * i..32 + 16 * i) else {
            break;
        };
        let (mask, value) = (u32::from_be(u32_at(k, 0)), u32::from_be(u32_at(k, 4)));
        let (off, offmask) = (u32_at(k, 8) as i32, u32_at(k, 12) as i32);
        if offmask != 0 {
            nexthdr.push(format!("match u32 {value} {mask:#010x} at nexthdr+{off}"));
        } else {
            keys.push(Key { value, mask, off });
        }
    }
    let ip = match proto {
        0x0800 => Some(Ip::V4),
        0x86dd => Some(Ip::V6),
        _ => None,
    };
    let mut sels = decode(&keys, ip);
    if let Some(m) = find(&opts, TCA_U32_MARK).filter(|m| m.len() >= 8) {
        sels.push(Sel::Mark {
            value: u32_at(m, 0),
            mask: u32_at(m, 4),
        });
    }
    if sels.is_empty() && nexthdr.is_empty() {
        sels.push(Sel::ALL);
    }
    for s in &sels {
        let _ = write!(l, " {s}");
    }
    for s in &nexthdr {
        let _ = write!(l, " {s}");
    }
    if sel.len() >= 16 {
        let flags = sel[0];
        let offshift = sel[1];
        let offmask = u16::from_be(u16::from_ne_bytes([sel[4], sel[5]]));
        let off = i16::from_ne_bytes([sel[6], sel[7]]);
        let offoff = i16::from_ne_bytes([sel[8], sel[9]]);
        let hoff = i16::from_ne_bytes([sel[10], sel[11]]);
        let hmask = u32::from_be(u32_at(sel, 12));
        const OFFSET: u8 = 2;
        const VAROFFSET: u8 = 4;
        const EAT: u8 = 8;
        if flags & (OFFSET | VAROFFSET | EAT) != 0 {
            l.push_str(" offset");
            if flags & OFFSET != 0 {
                let _ = write!(l, " plus {off}");
            }
            if flags & VAROFFSET != 0 {
                let _ = write!(l, " at {offoff} mask {offmask:#06x} shift {offshift}");
            }
            if flags & EAT != 0 {
                l.push_str(" eat");
            }
        }
        if let Some(link) = find(&opts, TCA_U32_LINK) {
            let _ = write!(l, " link {:x}:", u32_at(link, 0) >> 20);
        }
        if hmask != 0 {
            let _ = write!(l, " hashkey mask {hmask:#010x} at {hoff}");
        }
    }
    if let Some(c) = find(&opts, TCA_U32_CLASSID) {
        let _ = write!(l, " flowid {}", handle(u32_at(c, 0)));
    }
    if let Some(dev) = find(&opts, TCA_U32_INDEV) {
        let _ = write!(l, " indev {}", str_of(dev));
    }
    if find(&opts, TCA_U32_FLAGS).is_some_and(|f| u32_at(f, 0) & 2 != 0) {
        l.push_str(" skip_sw");
    }
    if find(&opts, TCA_U32_POLICE).is_some() {
        l.push_str(" police");
    }
    if let Some(acts) = find(&opts, TCA_U32_ACT) {
        for a in attrs(acts) {
            let act = attrs(a.data);
            let kind = find(&act, TCA_ACT_KIND).map(str_of).unwrap_or_default();
            let _ = write!(l, " action {kind}");
            if let Some((how, ifindex)) = mirred(&act) {
                match names.get(&ifindex) {
                    Some(dev) => {
                        let _ = write!(l, " {how} dev {dev}");
                    }
                    None => notes.push(format!(
                        "a mirred action to device index {ifindex}, which no longer exists"
                    )),
                }
            }
        }
    }
    Some(l)
}

/// Device names by index.
type Names = std::collections::HashMap<u32, String>;

/// A mirred action's direction and target device (`struct tc_mirred` in TCA_MIRRED_PARMS):
/// `("egress redirect", ifindex)`.
fn mirred(act: &[Attr<'_>]) -> Option<(&'static str, u32)> {
    const TCA_ACT_OPTIONS: u16 = 2;
    const TCA_MIRRED_PARMS: u16 = 2;
    if find(act, TCA_ACT_KIND).map(str_of).as_deref() != Some("mirred") {
        return None;
    }
    let opts = attrs(find(act, TCA_ACT_OPTIONS)?);
    let p = find(&opts, TCA_MIRRED_PARMS).filter(|p| p.len() >= 28)?;
    let how = match u32_at(p, 20) {
        1 => "egress redirect",
        2 => "egress mirror",
        3 => "ingress redirect",
        4 => "ingress mirror",
        _ => return None,
    };
    Some((how, u32_at(p, 24)))
}

/// The devices the mirred actions of `live`'s filters send to.
fn mirred_targets(live: &Live) -> Vec<u32> {
    let mut out = vec![];
    for f in &live.filters {
        let opts = f.options();
        let Some(acts) = find(&opts, TCA_U32_ACT) else {
            continue;
        };
        for a in attrs(acts) {
            if let Some((_, i)) = mirred(&attrs(a.data)) {
                out.push(i);
            }
        }
    }
    out
}

/// Why a tool's output could not be read, in words.
struct Unreadable(String);

/// Run `cmd args`: its standard output, or why it could not be read.
fn tool_output(cmd: &str, args: &[&str]) -> Result<String, Unreadable> {
    match Command::new(cmd).args(args).stdin(Stdio::null()).output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Unreadable(format!("`{cmd}` is not installed")))
        }
        Err(e) => Err(Unreadable(format!("`{cmd}` could not run: {e}"))),
        Ok(o) if !o.status.success() => {
            let err = String::from_utf8_lossy(&o.stderr);
            let err = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            Err(Unreadable(format!(
                "`{cmd} {}` failed: {}",
                args.join(" "),
                err.trim()
            )))
        }
        Ok(o) => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
    }
}

/// The mangle table of `tool` as `TOOL-restore` input; whether it was read.
fn write_xt(s: &mut Writer, tool: &str) -> bool {
    let save = format!("{tool}-save");
    s.line("");
    match tool_output(&save, &["-t", "mangle"]) {
        Err(Unreadable(why)) => {
            s.unread(format!("the {tool} mangle table: {why}"));
            false
        }
        Ok(text) => {
            if text.lines().any(|l| l.starts_with("-A ")) {
                s.line(&format!(
                    "# the {tool} mangle table, read with `{save} -t mangle`"
                ));
                s.heredoc(&format!("{tool}-restore --noflush"), &text);
            } else {
                s.line(&format!(
                    "# the {tool} mangle table (`{save} -t mangle`) holds no rules"
                ));
            }
            true
        }
    }
}

/// Whether `tool` is iptables-nft, whose tables `nft list ruleset` shows too.
fn nft_backend(tool: &str) -> bool {
    tool_output(tool, &["-V"]).is_ok_and(|v| v.contains("nf_tables"))
}

/// The nftables ruleset as `nft -f -` input, without the tables in `skip` (their first lines).
fn write_nft(s: &mut Writer, skip: &[String]) {
    s.line("");
    let text = match tool_output("nft", &["list", "ruleset"]) {
        Err(Unreadable(why)) => {
            s.unread(format!("the nftables ruleset: {why}"));
            return;
        }
        Ok(t) => t,
    };
    let mut kept = String::new();
    let mut skipping = false;
    let mut skipped = Vec::new();
    for line in text.lines() {
        if !skipping && skip.iter().any(|t| t == line) {
            skipping = true;
            skipped.push(line.trim_end_matches(" {").to_string());
            continue;
        }
        if skipping {
            skipping = line != "}";
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    for t in &skipped {
        s.line(&format!(
            "# {t} is iptables-nft's: read above, from iptables-save"
        ));
    }
    if kept.trim().is_empty() {
        s.line("# the nftables ruleset (`nft list ruleset`) holds nothing else");
    } else {
        s.line("# the nftables ruleset, read with `nft list ruleset`");
        s.heredoc("nft -f -", &kept);
    }
}
