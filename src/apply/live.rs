//! The live traffic-control state of one interface, read over rtnetlink (RTM_GETQDISC,
//! RTM_GETTCLASS, RTM_GETTFILTER dumps), kept both raw (to restore it exactly) and parsed into
//! a model that `diff` compares with the plan.

use super::encode::*;
use super::nl::*;
use std::io;

/// One dumped object: its `struct tcmsg` fields, kind, raw attributes and parsed statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obj {
    pub handle: u32,
    pub parent: u32,
    pub info: u32,
    pub kind: String,
    /// The payload as dumped: `struct tcmsg` followed by the attributes.
    pub raw: Vec<u8>,
    pub stats: Stats,
}

/// Counters from TCA_STATS2 (and HTB's xstats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub bytes: u64,
    pub packets: u64,
    pub drops: u32,
    pub overlimits: u32,
    pub backlog: u32,
    pub qlen: u32,
    /// The kernel's rate estimate, bytes/s (0 without an estimator).
    pub rate_est: u64,
}

impl Obj {
    pub fn parse(raw: Vec<u8>) -> Obj {
        let handle = u32_at(&raw, 8);
        let parent = u32_at(&raw, 12);
        let info = u32_at(&raw, 16);
        let a = attrs(raw.get(20..).unwrap_or(&[]));
        let kind = find(&a, TCA_KIND).map(str_of).unwrap_or_default();
        let mut stats = Stats::default();
        if let Some(s2) = find(&a, TCA_STATS2) {
            for s in attrs(s2) {
                match s.ty {
                    1 => {
                        stats.bytes = u64_at(s.data, 0);
                        stats.packets = u32_at(s.data, 8) as u64;
                    }
                    2 => stats.rate_est = u32_at(s.data, 0) as u64,
                    3 => {
                        stats.qlen = u32_at(s.data, 0);
                        stats.backlog = u32_at(s.data, 4);
                        stats.drops = u32_at(s.data, 8);
                        stats.overlimits = u32_at(s.data, 16);
                    }
                    5 => stats.rate_est = u64_at(s.data, 0),
                    8 => stats.packets = u64_at(s.data, 0),
                    _ => {}
                }
            }
        }
        Obj {
            handle,
            parent,
            info,
            kind,
            raw,
            stats,
        }
    }

    pub fn attrs(&self) -> Vec<Attr<'_>> {
        attrs(self.raw.get(20..).unwrap_or(&[]))
    }

    /// The attributes inside TCA_OPTIONS.
    pub fn options(&self) -> Vec<Attr<'_>> {
        find(&self.attrs(), TCA_OPTIONS)
            .map(attrs)
            .unwrap_or_default()
    }
}

/// HTB class parameters as the kernel reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveHtb {
    pub rate: u64,
    pub ceil: u64,
    pub buffer: u32,
    pub cbuffer: u32,
    pub quantum: u32,
    pub level: u32,
    pub prio: u32,
}

pub fn parse_htb_class(o: &Obj) -> Option<LiveHtb> {
    if o.kind != "htb" {
        return None;
    }
    let opts = o.options();
    let p = find(&opts, TCA_HTB_PARMS)?;
    if p.len() < 44 {
        return None;
    }
    let rate = find(&opts, TCA_HTB_RATE64)
        .map(|d| u64_at(d, 0))
        .unwrap_or(u32_at(p, 8) as u64);
    let ceil = find(&opts, TCA_HTB_CEIL64)
        .map(|d| u64_at(d, 0))
        .unwrap_or(u32_at(p, 20) as u64);
    Some(LiveHtb {
        rate,
        ceil,
        buffer: u32_at(p, 24),
        cbuffer: u32_at(p, 28),
        quantum: u32_at(p, 32),
        level: u32_at(p, 36),
        prio: u32_at(p, 40),
    })
}

/// `(rate2quantum, defcls)` of an HTB qdisc.
pub fn parse_htb_qdisc(o: &Obj) -> Option<(u32, u32)> {
    if o.kind != "htb" {
        return None;
    }
    let init = find(&o.options(), TCA_HTB_INIT)?;
    Some((u32_at(init, 4), u32_at(init, 8)))
}

/// A u32 filter node (not a hash table) as the kernel reports it.
pub fn parse_u32(o: &Obj) -> Option<U32> {
    if o.kind != "u32" || o.handle & 0xfff == 0 {
        return None;
    }
    let opts = o.options();
    if find(&opts, TCA_U32_DIVISOR).is_some() {
        return None;
    }
    let sel = find(&opts, TCA_U32_SEL)?;
    let n = *sel.get(2)? as usize;
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        let k = sel.get(16 + 16 * i..32 + 16 * i)?;
        keys.push(Key {
            mask: u32_at(k, 0),
            val: u32_at(k, 4),
            off: u32_at(k, 8) as i32,
            offmask: u32_at(k, 12) as i32,
        });
    }
    let mark = find(&opts, TCA_U32_MARK).map(|m| (u32_at(m, 0), u32_at(m, 4)));
    let classid = find(&opts, TCA_U32_CLASSID)
        .map(|c| u32_at(c, 0))
        .unwrap_or(0);
    Some(U32 {
        keys,
        mark,
        classid,
    })
}

/// Everything traffic control holds for one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub ifindex: u32,
    pub qdiscs: Vec<Obj>,
    pub classes: Vec<Obj>,
    pub filters: Vec<Obj>,
}

impl Live {
    /// Dump the interface's qdiscs, classes and the filters of every qdisc and class.
    pub fn read(sock: &mut Socket, ifindex: u32) -> io::Result<Live> {
        let keep = |v: Vec<Vec<u8>>| -> Vec<Obj> {
            v.into_iter()
                .map(Obj::parse)
                .filter(|o| u32_at(&o.raw, 4) == ifindex)
                .collect()
        };
        let qdiscs = keep(sock.dump(dump_req(RTM_GETQDISC, ifindex, 0))?);
        let classes = keep(sock.dump(dump_req(RTM_GETTCLASS, ifindex, 0))?);
        let mut filters = Vec::new();
        // Filters hang off qdiscs and classes; a dump lists those of one parent.
        let mut parents: Vec<u32> = qdiscs
            .iter()
            .filter(|q| q.handle != 0)
            .map(|q| q.handle)
            .collect();
        parents.extend(classes.iter().map(|c| c.handle));
        for p in parents {
            filters.extend(keep(sock.dump(dump_req(RTM_GETTFILTER, ifindex, p))?));
        }
        Ok(Live {
            ifindex,
            qdiscs,
            classes,
            filters,
        })
    }

    /// The root qdisc (parent TC_H_ROOT), if the dump had one.
    pub fn root(&self) -> Option<&Obj> {
        self.qdiscs.iter().find(|q| q.parent == TC_H_ROOT)
    }

    /// Whether the root qdisc is one the kernel attached by itself (handle 0: noqueue,
    /// pfifo_fast, mq, ...), i.e. nobody configured this interface.
    pub fn root_is_default(&self) -> bool {
        self.root().is_none_or(|r| r.handle == 0)
    }

    /// `config_bytes` of the root tree only: without the ingress/clsact qdisc and the filters
    /// under it (whose actions carry timestamps and counters inside their options, and which
    /// `exec::restore` never touches: the ingress side is `ingress::put_back`'s).
    pub fn tree_bytes(&self) -> Vec<Vec<u8>> {
        let tree = Live {
            ifindex: self.ifindex,
            qdiscs: self
                .qdiscs
                .iter()
                .filter(|q| q.parent != super::ingress::TC_H_INGRESS)
                .cloned()
                .collect(),
            classes: self.classes.clone(),
            filters: self
                .filters
                .iter()
                .filter(|f| f.parent >> 16 != 0xffff)
                .cloned()
                .collect(),
        };
        tree.config_bytes()
    }

    /// The dump with statistics removed, for byte-exact comparisons of configuration (the
    /// actions of u32 filters without their counters and timestamps: `ingress::action_config`).
    pub fn config_bytes(&self) -> Vec<Vec<u8>> {
        let strip = |o: &Obj| {
            let mut m = o.raw[..20].to_vec();
            for a in o.attrs() {
                if matches!(a.ty, 3 | 4 | TCA_STATS2) {
                    continue;
                }
                let cleaned;
                let data = if a.ty == TCA_OPTIONS && o.kind == "u32" {
                    cleaned = super::ingress::u32_options_config(a.data);
                    cleaned.as_slice()
                } else {
                    a.data
                };
                let mut b = ((data.len() + 4) as u16).to_ne_bytes().to_vec();
                b.extend_from_slice(&a.ty.to_ne_bytes());
                b.extend_from_slice(data);
                b.resize(align(b.len()), 0);
                m.extend(b);
            }
            m
        };
        let mut out: Vec<Vec<u8>> = self.qdiscs.iter().map(strip).collect();
        let mut cls: Vec<Vec<u8>> = self.classes.iter().map(strip).collect();
        cls.sort();
        out.extend(cls);
        out.extend(self.filters.iter().map(strip));
        out
    }
}

/// The interface index of `name`, or `None` when there is no such device.
pub fn ifindex(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}
