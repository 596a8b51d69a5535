//! Download shaping in `tcc apply`, `plan` and `teardown`: tcc's ifb device (RTM_NEWLINK kind
//! `ifb`, marked with the alias `plan::ingress::ifb_alias`), the HTB tree on it (the same
//! `Desired`/`diff` as any interface, always with u32 filters), and the redirect on the shaped
//! interface: an `ingress` qdisc (`ffff:`) whose one u32 match-all filter carries
//! `action mirred egress redirect dev IFB` (`struct tc_mirred`, `linux/tc_act/tc_mirred.h`).
//!
//! Ownership: a device with the ifb's name that is not an ifb or lacks tcc's alias is refused,
//! never changed; an ingress qdisc whose filters do anything but redirect to tcc's ifb (or a
//! `clsact` qdisc) is refused too, so nothing already configured is ever replaced. An empty
//! `ingress` qdisc (no filters: it does nothing) is reused.
//!
//! Rollback: `send` changes the device, its tree and the redirect in that order; when a step
//! fails, what it made is removed (a device it created is deleted, the tree restored from its
//! snapshot, a qdisc it added deleted), and `put_back` does the same for an interface applied
//! before a later one failed.
//!
//! Size: over 600 lines because the ingress side is one unit of `apply`: its netlink messages
//! (link, ingress qdisc, mirred filter), reading the hook back, compare, send, put back and
//! teardown share its types; the tree on the ifb reuses `diff`/`exec` unchanged.

use super::diff::{diff, Change, Desired, Step};
use super::encode::*;
use super::error::{Failure, RestoreError};
use super::exec;
use super::live::{Live, Obj};
use super::nl::*;
use crate::dialect::owned::ifb_alias;
use crate::plan::Interface;
use std::fmt;
use std::io;

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_IFALIAS: u16 = 20;
const IFF_UP: u32 = 1;

/// The ingress hook's parent (`TC_H_INGRESS`) and the ingress qdisc's handle (`ffff:`).
pub const TC_H_INGRESS: u32 = 0xffff_fff1;
pub const INGRESS_HANDLE: u32 = 0xffff_0000;
const ETH_P_ALL: u16 = 0x0003;
const TCA_U32_ACT: u16 = 7;
const TCA_ACT_KIND: u16 = 1;
const TCA_ACT_OPTIONS: u16 = 2;
const TCA_MIRRED_PARMS: u16 = 2;
/// `TCA_EGRESS_REDIR`: redirect to the device's egress.
pub const TCA_EGRESS_REDIR: i32 = 1;
/// `TC_ACT_STOLEN`: what `tc ... mirred egress redirect` sets as the action's verdict.
const TC_ACT_STOLEN: i32 = 4;

/// One network device as RTM_GETLINK dumps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub kind: Option<String>,
    pub alias: Option<String>,
    pub up: bool,
}

/// Every device of the namespace.
pub fn links(sock: &mut Socket) -> io::Result<Vec<Link>> {
    let mut m = Msg::new(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP);
    m.put(&[0u8; 16]);
    let mut out = Vec::new();
    for raw in sock.dump(m)? {
        if raw.len() < 16 {
            continue;
        }
        let a = attrs(&raw[16..]);
        let kind =
            find(&a, IFLA_LINKINFO).and_then(|li| find(&attrs(li), IFLA_INFO_KIND).map(str_of));
        out.push(Link {
            index: u32_at(&raw, 4),
            name: find(&a, IFLA_IFNAME).map(str_of).unwrap_or_default(),
            kind,
            alias: find(&a, IFLA_IFALIAS).map(str_of),
            up: u32_at(&raw, 8) & IFF_UP != 0,
        });
    }
    Ok(out)
}

fn ifinfo(m: &mut Msg, index: u32, flags: u32, change: u32) {
    let mut h = [0u8; 16];
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    h[8..12].copy_from_slice(&flags.to_ne_bytes());
    h[12..16].copy_from_slice(&change.to_ne_bytes());
    m.put(&h);
}

/// `ip link add NAME type ifb`.
pub fn ifb_add(name: &str) -> Msg {
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
    ifinfo(&mut m, 0, 0, 0);
    m.attr_str(IFLA_IFNAME, name);
    m.nest(IFLA_LINKINFO);
    m.attr_str(IFLA_INFO_KIND, "ifb");
    m.end_nest();
    m
}

/// `ip link set dev NAME alias ALIAS up` (the kernel sets the alias of an existing device only).
pub fn mark_up(name: &str, alias: &str) -> Msg {
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_REQUEST);
    ifinfo(&mut m, 0, IFF_UP, IFF_UP);
    m.attr_str(IFLA_IFNAME, name);
    m.attr(IFLA_IFALIAS, alias.as_bytes());
    m
}

/// `ip link del dev INDEX`.
pub fn link_del(index: u32) -> Msg {
    let mut m = Msg::new(RTM_DELLINK, NLM_F_REQUEST);
    ifinfo(&mut m, index, 0, 0);
    m
}

/// `tc qdisc add dev D handle ffff: ingress`.
pub fn ingress_qdisc_add(ifindex: u32) -> Msg {
    let mut m = Msg::new(RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_EXCL | NLM_F_CREATE);
    tcmsg(&mut m, ifindex, INGRESS_HANDLE, TC_H_INGRESS, 0);
    m.attr_str(TCA_KIND, "ingress");
    m.attr(TCA_OPTIONS, &[]);
    m
}

/// `tc qdisc del dev D ingress`.
pub fn ingress_qdisc_del(ifindex: u32) -> Msg {
    let mut m = Msg::new(RTM_DELQDISC, NLM_F_REQUEST);
    tcmsg(&mut m, ifindex, INGRESS_HANDLE, TC_H_INGRESS, 0);
    m
}

/// `tc filter add dev D parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred
/// egress redirect dev IFB`: one key matching every packet, and the action `struct tc_mirred`
/// { tc_gen { index 0, capab 0, action TC_ACT_STOLEN, refcnt 0, bindcnt 0 }, eaction
/// TCA_EGRESS_REDIR, ifindex IFB }.
pub fn redirect_add(ifindex: u32, ifb: u32) -> Msg {
    let mut m = Msg::new(RTM_NEWTFILTER, NLM_F_REQUEST | NLM_F_EXCL | NLM_F_CREATE);
    let prio = crate::dialect::tc::print::REDIRECT_PRIO as u32;
    tcmsg(
        &mut m,
        ifindex,
        0,
        INGRESS_HANDLE,
        (prio << 16) | ETH_P_ALL.to_be() as u32,
    );
    m.attr_str(TCA_KIND, "u32");
    m.nest(TCA_OPTIONS);
    m.nest(TCA_U32_ACT);
    m.nest(1);
    m.attr_str(TCA_ACT_KIND, "mirred");
    m.nest(TCA_ACT_OPTIONS);
    let mut p = [0u8; 28];
    p[8..12].copy_from_slice(&TC_ACT_STOLEN.to_ne_bytes());
    p[20..24].copy_from_slice(&TCA_EGRESS_REDIR.to_ne_bytes());
    p[24..28].copy_from_slice(&ifb.to_ne_bytes());
    m.attr(TCA_MIRRED_PARMS, &p);
    m.end_nest();
    m.end_nest();
    m.end_nest();
    let all = U32 {
        keys: vec![Key {
            mask: 0,
            val: 0,
            off: 0,
            offmask: 0,
        }],
        mark: None,
        classid: 0,
    };
    m.attr(TCA_U32_SEL, &all.sel_bytes());
    m.end_nest();
    m
}

/// The mirred actions of a dumped filter: (eaction, target ifindex) for each.
pub fn mirred_of(f: &Obj) -> Vec<(i32, u32)> {
    let mut out = Vec::new();
    let opts = f.options();
    let Some(acts) = find(&opts, TCA_U32_ACT) else {
        return out;
    };
    for act in attrs(acts) {
        let a = attrs(act.data);
        if find(&a, TCA_ACT_KIND).map(str_of).as_deref() != Some("mirred") {
            continue;
        }
        if let Some(p) = find(&a, TCA_ACT_OPTIONS).and_then(|o| find(&attrs(o), TCA_MIRRED_PARMS)) {
            if p.len() >= 28 {
                out.push((u32_at(p, 20) as i32, u32_at(p, 24)));
            }
        }
    }
    out
}

/// The options of a dumped u32 filter without what changes as packets pass: in each action of
/// TCA_U32_ACT, its TCA_ACT_STATS and (mirred) TCA_MIRRED_TM (install/last-use times).
pub fn u32_options_config(opts: &[u8]) -> Vec<u8> {
    const TCA_ACT_STATS: u16 = 4;
    const TCA_MIRRED_TM: u16 = 1;
    let mut m = Msg::new(0, 0);
    for a in attrs(opts) {
        if a.ty != TCA_U32_ACT {
            m.attr(a.ty, a.data);
            continue;
        }
        m.nest(TCA_U32_ACT);
        for act in attrs(a.data) {
            let parts = attrs(act.data);
            let mirred = find(&parts, TCA_ACT_KIND).map(str_of).as_deref() == Some("mirred");
            m.nest(act.ty);
            for p in parts.iter().filter(|p| p.ty != TCA_ACT_STATS) {
                if p.ty == TCA_ACT_OPTIONS && mirred {
                    m.nest(TCA_ACT_OPTIONS);
                    for o in attrs(p.data).into_iter().filter(|o| o.ty != TCA_MIRRED_TM) {
                        m.attr(o.ty, o.data);
                    }
                    m.end_nest();
                } else {
                    m.attr(p.ty, p.data);
                }
            }
            m.end_nest();
        }
        m.end_nest();
    }
    m.buf[16..].to_vec()
}

/// What the ingress hook of an interface holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook {
    /// No ingress qdisc.
    None,
    /// An ingress qdisc without filters (it does nothing).
    Empty,
    /// An ingress qdisc whose filters redirect everything to device `ifindex` and do nothing
    /// else.
    Redirect(u32),
    /// Something else: a clsact qdisc, other filters or actions (described).
    Foreign(String),
}

/// Read the ingress hook from an interface's dump.
pub fn hook(live: &Live) -> Hook {
    let Some(q) = live.qdiscs.iter().find(|q| q.parent == TC_H_INGRESS) else {
        return Hook::None;
    };
    if q.kind != "ingress" {
        return Hook::Foreign(format!("a {} qdisc", q.kind));
    }
    let mut target = None;
    let mut nodes = 0;
    for f in live.filters.iter().filter(|f| f.parent == INGRESS_HANDLE) {
        // A u32 hash table (`800:`) is listed as a filter of its own.
        if f.kind == "u32" && f.handle & 0xfff == 0 {
            continue;
        }
        nodes += 1;
        let m = mirred_of(f);
        match (f.kind.as_str(), m.as_slice()) {
            ("u32", [(TCA_EGRESS_REDIR, ifx)]) if target.is_none_or(|t| t == *ifx) => {
                target = Some(*ifx)
            }
            _ => return Hook::Foreign(format!("a {} filter that is not tcc's redirect", f.kind)),
        }
    }
    match (nodes, target) {
        (0, _) => Hook::Empty,
        (1, Some(t)) => Hook::Redirect(t),
        _ => Hook::Foreign(format!("{nodes} filters")),
    }
}

/// Why the ingress side of an interface cannot be applied.
#[derive(Debug)]
pub enum IngressError {
    /// The ifb name is held by a device that is not tcc's.
    ForeignDevice {
        name: String,
        kind: Option<String>,
        alias: Option<String>,
    },
    /// The interface's ingress hook holds something tcc did not make.
    ForeignHook { what: String },
    /// The netlink dump of devices failed.
    Read(io::Error),
}

impl fmt::Display for IngressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IngressError::ForeignDevice { name, kind, alias } => write!(
                f,
                "device {name} exists and is not tcc's (kind {}, alias {}); rename or delete it to shape what arrives here",
                kind.as_deref().unwrap_or("unknown"),
                alias.as_deref().map(|a| format!("{a:?}")).unwrap_or_else(|| "none".into())
            ),
            IngressError::ForeignHook { what } => write!(
                f,
                "the ingress hook holds {what}; tcc does not replace it: remove it (`tc qdisc del dev ... ingress`) to shape what arrives here"
            ),
            IngressError::Read(e) => write!(f, "reading the network devices: {e}"),
        }
    }
}

impl std::error::Error for IngressError {}

/// The ingress side of one interface: what is there and what to send.
#[derive(Debug)]
pub struct IngressCmp {
    pub ifb: String,
    /// The device, when it exists (tcc's).
    pub device: Option<Link>,
    /// The ifb's tree as found (empty when the device does not exist).
    pub live: Live,
    pub hook: Hook,
    want: Desired,
    /// Every change, for the diff (tree messages are built again once the device exists).
    pub steps: Vec<Step>,
}

fn step(change: Change, object: String, detail: &str, msg: Msg) -> Step {
    Step {
        change,
        object,
        detail: detail.into(),
        msg,
        values: Vec::new(),
    }
}

/// Compare the ingress tree `tree` of `iface` (whose dump is `dev_live`) with the kernel.
pub fn compare(
    sock: &mut Socket,
    iface: &Interface,
    tree: &Interface,
    dev_live: &Live,
    ps: &Psched,
) -> Result<IngressCmp, IngressError> {
    let ifb = tree.name.clone();
    let alias = ifb_alias(&iface.name);
    let device = links(sock)
        .map_err(IngressError::Read)?
        .into_iter()
        .find(|l| l.name == ifb);
    if let Some(d) = &device {
        if d.kind.as_deref() != Some("ifb") || d.alias.as_deref() != Some(alias.as_str()) {
            return Err(IngressError::ForeignDevice {
                name: ifb,
                kind: d.kind.clone(),
                alias: d.alias.clone(),
            });
        }
    }
    let want = Desired::from_plan(tree, true).map_err(|e| IngressError::ForeignHook {
        what: e.to_string(),
    })?;
    let live = match &device {
        Some(d) => Live::read(sock, d.index).map_err(IngressError::Read)?,
        None => Live {
            ifindex: 0,
            qdiscs: vec![],
            classes: vec![],
            filters: vec![],
        },
    };
    let hook = hook(dev_live);
    let mut steps = Vec::new();
    match &device {
        None => {
            steps.push(step(
                Change::Add,
                format!("ifb device {ifb}"),
                "made by tcc, marked with its alias",
                ifb_add(&ifb),
            ));
            steps.push(step(
                Change::Change,
                format!("ifb device {ifb}"),
                &format!("alias \"{alias}\", up"),
                mark_up(&ifb, &alias),
            ));
        }
        Some(d) if !d.up => {
            steps.push(step(
                Change::Change,
                format!("ifb device {ifb}"),
                "up",
                mark_up(&ifb, &alias),
            ));
        }
        Some(_) => {}
    }
    for mut s in diff(&live, &want, ps) {
        s.object = format!("{} on {ifb}", s.object);
        steps.push(s);
    }
    let ifb_index = device.as_ref().map(|d| d.index);
    let redirect = |steps: &mut Vec<Step>| {
        steps.push(step(
            Change::Add,
            format!("ingress filter of {}", iface.name),
            &format!("u32 match-all, mirred egress redirect to {ifb}"),
            redirect_add(dev_live.ifindex, ifb_index.unwrap_or(0)),
        ))
    };
    match &hook {
        Hook::Foreign(what) => return Err(IngressError::ForeignHook { what: what.clone() }),
        Hook::None => {
            steps.push(step(
                Change::Add,
                format!("ingress qdisc ffff: of {}", iface.name),
                "",
                ingress_qdisc_add(dev_live.ifindex),
            ));
            redirect(&mut steps);
        }
        Hook::Empty => redirect(&mut steps),
        Hook::Redirect(t) if Some(*t) == ifb_index => {}
        Hook::Redirect(_) => {
            return Err(IngressError::ForeignHook {
                what: "a redirect to another device".into(),
            })
        }
    }
    Ok(IngressCmp {
        ifb,
        device,
        live,
        hook,
        want,
        steps,
    })
}

/// Send the ingress side: the device (made if missing), its tree, the redirect. On failure,
/// what was made is removed again (`Err` carries the failure and how restoring went).
pub fn send(
    sock: &mut Socket,
    dev: u32,
    c: &IngressCmp,
    ps: &Psched,
) -> Result<Vec<String>, (Failure, Result<(), RestoreError>)> {
    if c.steps.is_empty() {
        return Ok(vec![]);
    }
    let mut warnings = Vec::new();
    let created = c.device.is_none();
    // 1. The device.
    let dev_steps: Vec<&Step> = c
        .steps
        .iter()
        .filter(|s| s.object.starts_with("ifb device"))
        .collect();
    if !dev_steps.is_empty() {
        let msgs: Vec<Msg> = dev_steps.iter().map(|s| s.msg.clone()).collect();
        if let Err(f) = batch(sock, &dev_steps, &msgs) {
            return Err((f, put_back(sock, dev, c)));
        }
    }
    let Some(ifx) = super::live::ifindex(&c.ifb) else {
        return Err((
            Failure::Io(io::Error::other(format!("{} vanished", c.ifb))),
            put_back(sock, dev, c),
        ));
    };
    // 2. Its tree, compared again now that the device has an index.
    let live = if created {
        match Live::read(sock, ifx) {
            Ok(l) => l,
            Err(e) => return Err((Failure::ReadBack(e), put_back(sock, dev, c))),
        }
    } else {
        c.live.clone()
    };
    let tree = diff(&live, &c.want, ps);
    match exec::run(sock, &live, &tree) {
        Ok(w) => warnings.extend(w),
        Err(e) => {
            let (f, _) = e.into_parts();
            return Err((f, put_back(sock, dev, c)));
        }
    }
    match Live::read(sock, ifx) {
        Ok(now) => {
            let left = diff(&now, &c.want, ps);
            if !left.is_empty() {
                return Err((Failure::NotHeld(left), put_back(sock, dev, c)));
            }
        }
        Err(e) => return Err((Failure::ReadBack(e), put_back(sock, dev, c))),
    }
    // 3. The redirect, built with the device's index.
    let hook_steps: Vec<&Step> = c
        .steps
        .iter()
        .filter(|s| s.object.starts_with("ingress "))
        .collect();
    let msgs: Vec<Msg> = hook_steps
        .iter()
        .map(|s| {
            if s.object.starts_with("ingress filter") {
                redirect_add(dev, ifx)
            } else {
                s.msg.clone()
            }
        })
        .collect();
    if let Err(f) = batch(sock, &hook_steps, &msgs) {
        return Err((f, put_back(sock, dev, c)));
    }
    Ok(warnings)
}

fn batch(sock: &mut Socket, steps: &[&Step], msgs: &[Msg]) -> Result<(), Failure> {
    let acks = sock.batch(msgs).map_err(Failure::Io)?;
    for (s, a) in steps.iter().zip(&acks) {
        if let Ack::Err(e) = a {
            return Err(Failure::Refused {
                step: s.to_string(),
                error: e.clone(),
            });
        }
    }
    Ok(())
}

/// Put the ingress side back as `c` found it: the hook (qdisc), then the device's tree, or the
/// device itself when tcc made it.
pub fn put_back(sock: &mut Socket, dev: u32, c: &IngressCmp) -> Result<(), RestoreError> {
    let what = "put the ingress hook back";
    let refused = |e: &KernelError, m: &Msg| {
        let b = m.bytes();
        RestoreError::Refused {
            what,
            error: e.clone(),
            ty: m.ty(),
            handle: u32_at(b, 24),
            parent: u32_at(b, 28),
            info: u32_at(b, 32),
        }
    };
    let now = Live::read(sock, dev).map_err(RestoreError::Read)?;
    let mut msgs = Vec::new();
    if hook(&now) != c.hook {
        if !matches!(hook(&now), Hook::None) {
            msgs.push(ingress_qdisc_del(dev));
        }
        if c.hook == Hook::Empty {
            msgs.push(ingress_qdisc_add(dev));
        }
        // `Redirect` before: `compare` found it pointing at the device, which `send` leaves.
    }
    match (&c.device, super::live::ifindex(&c.ifb)) {
        (None, Some(ifx)) => msgs.push(link_del(ifx)),
        (Some(_), Some(_)) => exec::restore(sock, &c.live)?,
        _ => {}
    }
    if !msgs.is_empty() {
        let acks = sock
            .batch(&msgs)
            .map_err(|error| RestoreError::Io { what, error })?;
        for (a, m) in acks.iter().zip(&msgs) {
            if let Ack::Err(e) = a {
                return Err(refused(e, m));
            }
        }
    }
    Ok(())
}

/// tcc's ingress side of an interface whose plan has none (the `ingress { }` block was
/// removed): what is there, to remove, and to make again if a later step fails.
#[derive(Debug)]
pub struct Stale {
    pub ifb: String,
    alias: String,
    /// The device's tree as found.
    live: Live,
    /// Whether the interface's ingress qdisc redirects to the device.
    hooked: bool,
    pub steps: Vec<Step>,
}

/// Find tcc's ingress side of `iface` (whose plan has no ingress tree), if any.
pub fn stale(
    sock: &mut Socket,
    iface: &str,
    dev_live: &Live,
) -> Result<Option<Stale>, IngressError> {
    let ifb = crate::dialect::owned::ifb_name(iface);
    let alias = ifb_alias(iface);
    let Some(d) = links(sock)
        .map_err(IngressError::Read)?
        .into_iter()
        .find(|l| {
            l.name == ifb
                && l.kind.as_deref() == Some("ifb")
                && l.alias.as_deref() == Some(alias.as_str())
        })
    else {
        return Ok(None);
    };
    let live = Live::read(sock, d.index).map_err(IngressError::Read)?;
    let hooked = hook(dev_live) == Hook::Redirect(d.index);
    let mut steps = Vec::new();
    if hooked {
        steps.push(step(
            Change::Delete,
            format!("ingress qdisc ffff: of {iface}"),
            &format!("with its redirect to {ifb} (the plan has no ingress block)"),
            ingress_qdisc_del(dev_live.ifindex),
        ));
    }
    steps.push(step(
        Change::Delete,
        format!("ifb device {ifb}"),
        "tcc's, with its tree (the plan has no ingress block)",
        link_del(d.index),
    ));
    Ok(Some(Stale {
        ifb,
        alias,
        live,
        hooked,
        steps,
    }))
}

/// Remove a stale ingress side; on failure, put it back (`Err` carries both outcomes).
pub fn remove_stale(
    sock: &mut Socket,
    dev: u32,
    s: &Stale,
) -> Result<(), (Failure, Result<(), RestoreError>)> {
    let steps: Vec<&Step> = s.steps.iter().collect();
    let msgs: Vec<Msg> = s.steps.iter().map(|x| x.msg.clone()).collect();
    batch(sock, &steps, &msgs).map_err(|f| (f, put_back_stale(sock, dev, s)))
}

/// Make a removed stale ingress side again: the device (with tcc's alias, up), its tree from
/// the snapshot, the redirect.
pub fn put_back_stale(sock: &mut Socket, dev: u32, s: &Stale) -> Result<(), RestoreError> {
    let what = "make tcc's ifb device again";
    let send = |sock: &mut Socket, msgs: &[Msg]| exec::expect_ok(sock, msgs, what);
    let ifx = match super::live::ifindex(&s.ifb) {
        Some(i) => i,
        None => {
            send(sock, &[ifb_add(&s.ifb), mark_up(&s.ifb, &s.alias)])?;
            super::live::ifindex(&s.ifb).ok_or(RestoreError::Differs)?
        }
    };
    // The snapshot, re-addressed to the device's (new) index.
    let mut snap = s.live.clone();
    snap.ifindex = ifx;
    for o in snap
        .qdiscs
        .iter_mut()
        .chain(snap.classes.iter_mut())
        .chain(snap.filters.iter_mut())
    {
        o.raw[4..8].copy_from_slice(&ifx.to_ne_bytes());
    }
    // A device made a moment ago: once (in about ten concurrent runs of the kernel test) the
    // tree read back differed from the snapshot; the cause is not established, so the restore
    // (idempotent: it deletes and re-creates the root) is tried up to three times.
    let mut tries = 0;
    loop {
        tries += 1;
        match exec::restore(sock, &snap) {
            Err(RestoreError::Differs) if tries < 3 => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            r => break r?,
        }
    }
    let now = Live::read(sock, dev).map_err(RestoreError::Read)?;
    if s.hooked && hook(&now) != Hook::Redirect(ifx) {
        let mut msgs = Vec::new();
        if hook(&now) == Hook::None {
            msgs.push(ingress_qdisc_add(dev));
        }
        msgs.push(redirect_add(dev, ifx));
        send(sock, &msgs)?;
    }
    Ok(())
}

/// What `teardown` did with the ingress side of an interface.
#[derive(Debug, Default)]
pub struct Removed {
    /// The ingress qdisc redirecting to tcc's ifb was deleted.
    pub hook: bool,
    /// tcc's ifb device (this name) was deleted.
    pub device: Option<String>,
    /// Why something could not be removed.
    pub refused: Option<KernelError>,
}

/// Remove tcc's ingress side of `iface`: the ingress qdisc when it redirects to tcc's ifb, and
/// the ifb when its alias is tcc's. A foreign ifb or hook is left alone.
pub fn teardown(sock: &mut Socket, iface: &str, dev_live: &Live) -> io::Result<Removed> {
    let name = crate::dialect::owned::ifb_name(iface);
    let alias = ifb_alias(iface);
    let mut out = Removed::default();
    let Some(d) = links(sock)?.into_iter().find(|l| {
        l.name == name
            && l.kind.as_deref() == Some("ifb")
            && l.alias.as_deref() == Some(alias.as_str())
    }) else {
        return Ok(out);
    };
    let mut msgs = Vec::new();
    if hook(dev_live) == Hook::Redirect(d.index) {
        msgs.push(ingress_qdisc_del(dev_live.ifindex));
        out.hook = true;
    }
    msgs.push(link_del(d.index));
    let acks = sock.batch(&msgs)?;
    if let Some(Ack::Err(e)) = acks.iter().find(|a| matches!(a, Ack::Err(_))) {
        out.refused = Some(e.clone());
        out.hook = false;
    } else {
        out.device = Some(name);
    }
    Ok(out)
}
