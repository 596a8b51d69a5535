//! Sending a batch of steps, and putting the snapshot back when the kernel refuses one.
//!
//! Restoring: the root qdisc is deleted (with it every class and filter below it) and the
//! snapshot's root qdisc, its classes (parents first), the qdiscs attached to those classes and
//! the filters are sent again from the dumped attributes, with their original handles. A root
//! qdisc the kernel had attached by itself (handle 0) is restored by deleting ours. Qdiscs
//! outside the root tree (ingress, clsact) are never touched, so they need no restoring.

use super::diff::Step;
use super::encode::*;
use super::error::{BatchError, RestoreError};
use super::live::{Live, Obj};
use super::nl::*;

/// Send `steps` in order, one ACK checked for each. Returns the kernel's warnings (extended
/// acks on accepted messages). On a refusal, restores `snapshot` and reports the step.
pub fn run(sock: &mut Socket, snapshot: &Live, steps: &[Step]) -> Result<Vec<String>, BatchError> {
    let msgs: Vec<Msg> = steps.iter().map(|s| s.msg.clone()).collect();
    let acks = match sock.batch(&msgs) {
        Ok(a) => a,
        Err(e) => {
            // The batch may have been half sent: put the snapshot back all the same, and say
            // whether that worked.
            let restored = restore(sock, snapshot);
            return Err(BatchError::Io { error: e, restored });
        }
    };
    let mut warnings = Vec::new();
    for (step, ack) in steps.iter().zip(&acks) {
        match ack {
            Ack::Ok(Some(w)) => warnings.push(format!("{}: {w}", step.object)),
            Ack::Ok(None) => {}
            Ack::Err(e) => {
                let restored = restore(sock, snapshot);
                return Err(BatchError::Refused {
                    step: step.to_string(),
                    error: e.clone(),
                    restored,
                });
            }
        }
    }
    Ok(warnings)
}

/// Put the root tree of `snap` back on its interface, and check it by reading it again (the
/// root tree only: the ingress side is never touched here).
pub fn restore(sock: &mut Socket, snap: &Live) -> Result<(), RestoreError> {
    let ifx = snap.ifindex;
    let now = Live::read(sock, ifx).map_err(RestoreError::Read)?;
    if now.tree_bytes() == snap.tree_bytes() {
        return Ok(());
    }
    if !now.root_is_default() {
        expect_ok(sock, &[root_qdisc_del(ifx)], "delete the root qdisc")?;
    }
    if !snap.root_is_default() {
        expect_ok(sock, &recreate(snap), "re-create the previous tree")?;
    }
    let back = Live::read(sock, ifx).map_err(RestoreError::Read)?;
    if back.tree_bytes() != snap.tree_bytes() {
        return Err(RestoreError::Differs);
    }
    Ok(())
}

/// Send `msgs` as one batch; every one must be acknowledged without error (`what` names the
/// step in the error).
pub(super) fn expect_ok(
    sock: &mut Socket,
    msgs: &[Msg],
    what: &'static str,
) -> Result<(), RestoreError> {
    let acks = sock
        .batch(msgs)
        .map_err(|error| RestoreError::Io { what, error })?;
    for (a, m) in acks.iter().zip(msgs) {
        if let Ack::Err(e) = a {
            let b = m.bytes();
            return Err(RestoreError::Refused {
                what,
                error: e.clone(),
                ty: m.ty(),
                handle: u32_at(b, 24),
                parent: u32_at(b, 28),
                info: u32_at(b, 32),
            });
        }
    }
    if acks.len() != msgs.len() {
        return Err(RestoreError::Unacknowledged { what });
    }
    Ok(())
}

/// The messages that rebuild the root tree of `snap` (root qdisc, classes parents first,
/// qdiscs on classes, filters), from the dumped attributes.
pub fn recreate(snap: &Live) -> Vec<Msg> {
    let Some(root) = snap.root() else {
        return vec![];
    };
    let major = root.handle & 0xffff_0000;
    let in_tree = |parent: u32| parent & 0xffff_0000 == major || parent == TC_H_ROOT;
    let mut out = vec![again(RTM_NEWQDISC, root, root.parent, snap.ifindex)];
    // Classes, parents first. Only qdiscs whose classes are made one by one get them sent;
    // the classes of tbf, prio, mq... come with the qdisc itself.
    let mut done: Vec<u32> = vec![root.handle];
    let mut todo: Vec<&Obj> = snap
        .classes
        .iter()
        .filter(|c| matches!(c.kind.as_str(), "htb" | "hfsc" | "drr" | "qfq" | "cbq"))
        .collect();
    while !todo.is_empty() {
        let before = todo.len();
        todo.retain(|c| {
            let parent = if c.parent == TC_H_ROOT {
                root.handle
            } else {
                c.parent
            };
            if done.contains(&parent) {
                out.push(again(RTM_NEWTCLASS, c, parent, snap.ifindex));
                done.push(c.handle);
                false
            } else {
                true
            }
        });
        if todo.len() == before {
            break; // orphans: cannot be placed
        }
    }
    for q in &snap.qdiscs {
        if q.parent != TC_H_ROOT && in_tree(q.parent) && q.handle != 0 {
            out.push(again(RTM_NEWQDISC, q, q.parent, snap.ifindex));
        }
    }
    // u32: the root hash table of each priority (`800:`) is made by the kernel with the first
    // node, numbered in creation order; nodes are sent without their table id so they land in
    // it, and sending them in dump order gives the same numbers again. The kernel lists a
    // priority's tables newest first, so the root table is the last one listed.
    // (Known limit: u32 instances of the same priority under different parents of one qdisc
    // share their table list in dumps; tcc never makes such a pair.)
    let mut root_ht: Vec<((u32, u32), u32)> = Vec::new();
    for f in &snap.filters {
        if f.kind == "u32" && f.handle != 0 && f.handle & 0xfff == 0 {
            let key = (f.parent, f.info >> 16);
            root_ht.retain(|(k, _)| *k != key);
            root_ht.push((key, f.handle & 0xfff0_0000));
        }
    }
    for f in &snap.filters {
        if !in_tree(f.parent) || f.handle == 0 {
            continue;
        }
        let key = (f.parent, f.info >> 16);
        if f.kind == "u32" && f.handle & 0xfff == 0 {
            continue;
        }
        let mut f = f.clone();
        if f.kind == "u32"
            && root_ht
                .iter()
                .any(|(k, ht)| *k == key && *ht == f.handle & 0xfff0_0000)
        {
            f.handle &= 0xfff;
            f.raw = strip_u32_hash(&f);
        }
        out.push(again(RTM_NEWTFILTER, &f, f.parent, snap.ifindex));
    }
    out
}

/// The dumped payload of a u32 node without TCA_U32_HASH in its options.
fn strip_u32_hash(o: &Obj) -> Vec<u8> {
    let mut m = Msg::new(0, 0);
    m.put(&o.raw[..20]);
    for a in o.attrs() {
        if a.ty == TCA_OPTIONS {
            m.nest(TCA_OPTIONS);
            for b in attrs(a.data).into_iter().filter(|b| b.ty != 2) {
                m.attr(b.ty, b.data);
            }
            m.end_nest();
        } else {
            m.attr(a.ty, a.data);
        }
    }
    m.buf[16..].to_vec()
}

/// A create message for a dumped object: same handle, parent and info; kind and options.
fn again(ty: u16, o: &Obj, parent: u32, ifindex: u32) -> Msg {
    let mut m = Msg::new(ty, NLM_F_REQUEST | NLM_F_EXCL | NLM_F_CREATE);
    tcmsg(&mut m, ifindex, o.handle, parent, o.info);
    m.attr_str(TCA_KIND, &o.kind);
    let opts = o.options();
    let has_opts = o.attrs().iter().any(|a| a.ty == TCA_OPTIONS);
    if has_opts {
        m.nest(TCA_OPTIONS);
        for a in opts {
            match (ty, o.kind.as_str(), a.ty) {
                (RTM_NEWQDISC, "htb", TCA_HTB_INIT) => {
                    // The dump reports the full HTB_VER; creating wants its major part.
                    let mut d = a.data.to_vec();
                    d[0..4].copy_from_slice(&3u32.to_ne_bytes());
                    m.attr(a.ty, &d);
                }
                // u32: performance counters are not configuration; of the flags only
                // skip_hw/skip_sw may be given (the kernel adds not_in_hw itself).
                (RTM_NEWTFILTER, "u32", 9) => {}
                (RTM_NEWTFILTER, "u32", 11) => {
                    let f = u32_at(a.data, 0) & 3;
                    if f != 0 {
                        m.attr_u32(11, f);
                    }
                }
                _ => m.attr(a.ty, a.data),
            }
        }
        m.end_nest();
    }
    if ty == RTM_NEWTFILTER {
        if let Some(chain) = find(&o.attrs(), 11) {
            m.attr(11, chain);
        }
    }
    m
}
