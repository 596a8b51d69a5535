//! Leaf queues over netlink: the messages iproute2 6.1's `tc qdisc add ... parent 1:10 handle
//! 10: KIND ...` sends (`q_fifo.c`, `q_sfq.c`, `q_fq_codel.c`, `q_tbf.c`, byte for byte; the unit
//! tests compare them with `tests/fixtures/netlink/leaf_*.strace`), what the kernel reports for
//! them (to compare with the plan), and the availability check: each qdisc of the plan is first
//! added to the loopback device of a throwaway network namespace (a thread that unshares its
//! network namespace; the namespace goes when the thread ends), so a kernel without the kind
//! refuses there, before anything on the configured interface changes. And the steps `diff`
//! takes for them.

use super::diff::{fmt_handle, Change, DClass, Delta, Desired, Step};
use super::encode::*;
use super::live::{Live, Obj};
use super::nl::*;
use crate::plan::qdisc::{format_time, leaf_handle, LeafQdisc, TbfBound};
use crate::plan::units::{format_rate, format_size};
use crate::plan::Interface;
use std::collections::HashMap;

const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RTAB: u16 = 2;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;

const TCA_FQ_CODEL_TARGET: u16 = 1;
const TCA_FQ_CODEL_LIMIT: u16 = 2;
const TCA_FQ_CODEL_INTERVAL: u16 = 3;
const TCA_FQ_CODEL_ECN: u16 = 4;
const TCA_FQ_CODEL_FLOWS: u16 = 5;
const TCA_FQ_CODEL_QUANTUM: u16 = 6;

/// `struct tc_sfq_qopt_v1`: the v0 fields, depth, headdrop, the RED fields and their stats.
const SFQ_QOPT_V1: usize = 72;

/// The qdisc class `i` of `iface` asks for, with its handle's major (leaves only).
pub(super) fn wanted(iface: &Interface, i: usize, leaf: bool) -> Option<(u16, LeafQdisc)> {
    let q = iface.classes[i].qdisc.clone().filter(|_| leaf)?;
    Some((leaf_handle(iface, i), q))
}

/// `tc qdisc add dev D parent P handle H: KIND OPTIONS`.
pub fn leaf_qdisc_add(ifindex: u32, parent: u32, major: u16, q: &LeafQdisc, ps: &Psched) -> Msg {
    let mut m = Msg::new(RTM_NEWQDISC, CREATE);
    tcmsg(&mut m, ifindex, tc_handle(major, 0), parent, 0);
    m.attr_str(TCA_KIND, q.kind());
    match q {
        LeafQdisc::Pfifo { limit } | LeafQdisc::Bfifo { limit } => {
            if let Some(l) = limit {
                m.attr(TCA_OPTIONS, &l.to_ne_bytes());
            }
        }
        LeafQdisc::Sfq {
            perturb,
            quantum,
            limit,
        } => {
            if perturb.is_some() || quantum.is_some() || limit.is_some() {
                let mut o = [0u8; SFQ_QOPT_V1];
                o[0..4].copy_from_slice(&quantum.unwrap_or(0).to_ne_bytes());
                o[4..8].copy_from_slice(&perturb.unwrap_or(0).to_ne_bytes());
                o[8..12].copy_from_slice(&limit.unwrap_or(0).to_ne_bytes());
                m.attr(TCA_OPTIONS, &o);
            }
        }
        LeafQdisc::FqCodel {
            limit,
            flows,
            target,
            interval,
            quantum,
            ecn,
        } => {
            m.nest(TCA_OPTIONS);
            for (ty, v) in [
                (TCA_FQ_CODEL_LIMIT, *limit),
                (TCA_FQ_CODEL_FLOWS, *flows),
                (TCA_FQ_CODEL_QUANTUM, *quantum),
                (TCA_FQ_CODEL_INTERVAL, *interval),
                (TCA_FQ_CODEL_TARGET, *target),
                (TCA_FQ_CODEL_ECN, ecn.map(u32::from)),
            ] {
                if let Some(v) = v {
                    m.attr_u32(ty, v);
                }
            }
            m.end_nest();
        }
        LeafQdisc::Tbf { rate, burst, .. } => {
            let rate64 = rate / 8;
            let t = tbf(q, ps).expect("a tbf");
            let (spec, rtab) = ratespec(rate64, 0, ps);
            let mut parms = Vec::with_capacity(36);
            parms.extend_from_slice(&spec);
            parms.extend_from_slice(&[0u8; 12]); // peakrate
            parms.extend_from_slice(&t.limit.to_ne_bytes());
            parms.extend_from_slice(&t.buffer.to_ne_bytes());
            parms.extend_from_slice(&0u32.to_ne_bytes()); // mtu
            m.nest(TCA_OPTIONS);
            m.attr(TCA_TBF_PARMS, &parms);
            m.attr(TCA_TBF_BURST, &burst.to_ne_bytes());
            if rate64 >= 1 << 32 {
                m.attr(TCA_TBF_RATE64, &rate64.to_ne_bytes());
            }
            m.attr(TCA_TBF_RTAB, &rtab);
            m.end_nest();
        }
    }
    m
}

/// `tc qdisc del dev D parent P handle H:`.
pub fn leaf_qdisc_del(ifindex: u32, parent: u32, handle: u32) -> Msg {
    let mut m = Msg::new(RTM_DELQDISC, NLM_F_REQUEST);
    tcmsg(&mut m, ifindex, handle, parent, 0);
    m
}

/// A tbf as tc sends it: bytes per second, the burst in psched ticks, the limit in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KernelTbf {
    rate: u64,
    buffer: u32,
    limit: u32,
}

/// As q_tbf.c computes it: `limit` = rate x latency + burst when a latency is given.
fn tbf(q: &LeafQdisc, ps: &Psched) -> Option<KernelTbf> {
    let LeafQdisc::Tbf { rate, burst, bound } = q else {
        return None;
    };
    let rate = rate / 8;
    let limit = match bound {
        TbfBound::Limit(l) => *l,
        TbfBound::Latency(t) => {
            let lim = rate as f64 * *t as f64 / 1e6 + *burst as f64;
            lim.min(u32::MAX as f64) as u32
        }
    };
    Some(KernelTbf {
        rate,
        buffer: ps.xmittime(rate, *burst),
        limit,
    })
}

/// The options of `q` as the kernel reports them, only those the plan sets (an option left to
/// the kernel's default is not compared): `(name, value as tc writes it)`.
pub fn wanted_options(q: &LeafQdisc, ps: &Psched) -> Vec<(&'static str, String)> {
    // A tbf's bound is reported as a limit in bytes, whether the plan gave a latency or not.
    let (Some(t), LeafQdisc::Tbf { burst, .. }) = (tbf(q, ps), q) else {
        return q.options();
    };
    vec![
        ("rate", format_rate(t.rate * 8)),
        ("burst", format_size(*burst as u64)),
        ("limit", format_size(t.limit as u64)),
    ]
}

/// The options of a dumped leaf qdisc, named as `wanted_options` names them (`None` for a kind
/// tcc does not model).
pub fn live_options(o: &Obj) -> Option<Vec<(&'static str, String)>> {
    let raw = find(&o.attrs(), TCA_OPTIONS).unwrap_or(&[]).to_vec();
    let at = |off: usize| (raw.len() >= off + 4).then(|| u32_at(&raw, off));
    let mut out = vec![];
    match o.kind.as_str() {
        "pfifo" | "bfifo" => out.extend(at(0).map(|l| ("limit", l.to_string()))),
        "sfq" => {
            for (k, off) in [("quantum", 0), ("perturb", 4), ("limit", 8)] {
                out.extend(at(off).map(|v| (k, v.to_string())));
            }
        }
        "fq_codel" => {
            let a = attrs(&raw);
            let get = |ty| find(&a, ty).filter(|d| d.len() >= 4).map(|d| u32_at(d, 0));
            out.extend(get(TCA_FQ_CODEL_LIMIT).map(|v| ("limit", v.to_string())));
            out.extend(get(TCA_FQ_CODEL_FLOWS).map(|v| ("flows", v.to_string())));
            out.extend(get(TCA_FQ_CODEL_TARGET).map(|v| ("target", format_time(v))));
            out.extend(get(TCA_FQ_CODEL_INTERVAL).map(|v| ("interval", format_time(v))));
            out.extend(get(TCA_FQ_CODEL_QUANTUM).map(|v| ("quantum", v.to_string())));
            out.extend(get(TCA_FQ_CODEL_ECN).map(|v| ("ecn", (v != 0).to_string())));
        }
        "tbf" => {
            let a = attrs(&raw);
            let p = find(&a, TCA_TBF_PARMS).filter(|p| p.len() >= 36)?;
            let rate = find(&a, TCA_TBF_RATE64)
                .filter(|d| d.len() >= 8)
                .map(|d| u64_at(d, 0))
                .unwrap_or(u32_at(p, 8) as u64);
            out.push(("rate", format_rate(rate * 8)));
            // Ticks of 64 ns (the kernel's PSCHED_SHIFT) at the rate, back to bytes.
            let ns = u32_at(p, 28) as f64 * 64.0;
            out.push((
                "burst",
                format_size((ns * rate as f64 / 1e9).round() as u64),
            ));
            out.push(("limit", format_size(u32_at(p, 24) as u64)));
        }
        _ => return None,
    }
    Some(out)
}

/// The options that differ: `(name, live, wanted)`; a missing live option counts as different.
pub fn differences(
    live: &[(&'static str, String)],
    want: &[(&'static str, String)],
) -> Vec<(&'static str, String, String)> {
    want.iter()
        .filter_map(|(k, w)| {
            let l = live.iter().find(|(lk, _)| lk == k).map(|(_, v)| v.clone());
            let same = match (&l, *k) {
                // The kernel keeps a tbf's burst as nanoseconds at the rate and reports psched
                // ticks: converted back to bytes it may be a rounding off.
                (Some(l), "burst") => {
                    let n = |s: &str| s.trim_end_matches('b').parse::<u64>().unwrap_or(0);
                    n(l).abs_diff(n(w)) <= 1 + n(w) / 1000
                }
                (l, _) => l.as_ref() == Some(w),
            };
            (!same).then(|| (*k, l.unwrap_or_else(|| "-".into()), w.clone()))
        })
        .collect()
}

pub(super) fn add_step(ifx: u32, c: &DClass, ps: &Psched) -> Option<Step> {
    let (major, q) = c.qdisc.as_ref()?;
    Some(Step {
        change: Change::Add,
        object: format!(
            "leaf qdisc {major:x}: under {} ({})",
            fmt_handle(c.classid),
            c.name
        ),
        detail: q.to_source(),
        msg: leaf_qdisc_add(ifx, c.classid, *major, q, ps),
        values: Vec::new(),
    })
}

/// The leaf qdiscs of the classes that stay: added where missing, replaced (deleted, added)
/// where the kind, the handle or an option the plan sets differs, deleted where the plan has
/// none (a qdisc someone else attached under tcc's class). A class added anew gets its qdisc
/// after it; a deleted class takes its qdisc with it.
pub(super) fn steps(
    live: &Live,
    want: &Desired,
    stays: &HashMap<u32, bool>,
    ps: &Psched,
    steps: &mut Vec<Step>,
) {
    let ifx = live.ifindex;
    for c in &want.classes {
        if !stays[&c.classid] {
            steps.extend(add_step(ifx, c, ps));
            continue;
        }
        // A class that gains children loses its qdisc in HTB by itself.
        if !c.leaf {
            continue;
        }
        let now = live.qdiscs.iter().find(|q| q.parent == c.classid);
        let del = |q: &super::live::Obj, why: String| Step {
            change: Change::Delete,
            object: format!(
                "leaf qdisc {} {} under {} ({})",
                q.kind,
                fmt_handle(q.handle),
                fmt_handle(c.classid),
                c.name
            ),
            detail: why,
            msg: leaf_qdisc_del(ifx, c.classid, q.handle),
            values: Vec::new(),
        };
        match (now, &c.qdisc) {
            (None, None) => {}
            (None, Some(_)) => steps.extend(add_step(ifx, c, ps)),
            (Some(l), None) => steps.push(del(
                l,
                "not in the plan: the class gets the kernel's default queue".into(),
            )),
            (Some(l), Some((major, q))) => {
                let wanted = wanted_options(q, ps);
                let same_kind = l.kind == q.kind() && l.handle == tc_handle(*major, 0);
                let diffs = if same_kind {
                    live_options(l).map(|lo| differences(&lo, &wanted))
                } else {
                    None
                };
                if diffs.as_ref().is_some_and(|d| d.is_empty()) {
                    continue;
                }
                let values: Vec<Delta> = diffs
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(attribute, old, new)| Delta {
                        attribute,
                        old,
                        new,
                    })
                    .collect();
                let why = if values.is_empty() {
                    format!("replaced by {} {major:x}:", q.kind())
                } else {
                    values
                        .iter()
                        .map(|d| format!("{} {} → {}", d.attribute, d.old, d.new))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                steps.push(del(l, why.clone()));
                steps.push(Step {
                    change: Change::Change,
                    msg: leaf_qdisc_add(ifx, c.classid, *major, q, ps),
                    detail: format!("{} ({why})", q.to_source()),
                    values,
                    ..add_step(ifx, c, ps).expect("a qdisc")
                });
            }
        }
    }
}

/// Why a leaf qdisc cannot be used here.
#[derive(Debug)]
pub enum ProbeError {
    /// The kernel refused the qdisc in the throwaway namespace (no such kind, or the options).
    Refused(KernelError),
    /// The throwaway namespace or its socket could not be made (no CAP_SYS_ADMIN, ...).
    Unavailable(std::io::Error),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::Refused(e) => write!(f, "{e}"),
            ProbeError::Unavailable(e) => write!(
                f,
                "could not make a throwaway network namespace to try it in ({e})"
            ),
        }
    }
}

/// Try `q` as the root qdisc of `lo` in a new network namespace, in a thread of its own (a
/// thread may unshare its network namespace; nothing of this process's other threads, and no
/// interface of the host, is touched). `Ok` when the kernel takes it.
pub fn probe(q: &LeafQdisc) -> Result<(), ProbeError> {
    let q = q.clone();
    let run = move || -> Result<(), ProbeError> {
        // SAFETY: unshare(2) with CLONE_NEWNET affects only the calling thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(ProbeError::Unavailable(std::io::Error::last_os_error()));
        }
        let mut sock = Socket::open().map_err(ProbeError::Unavailable)?;
        let ps = Psched::host().unwrap_or(Psched::HIGH_RES);
        let m = leaf_qdisc_add(1, TC_H_ROOT, 1, &q, &ps);
        match sock.batch(&[m]).map_err(ProbeError::Unavailable)?.pop() {
            Some(Ack::Err(e)) => Err(ProbeError::Refused(e)),
            _ => Ok(()),
        }
    };
    std::thread::spawn(run).join().unwrap_or_else(|_| {
        Err(ProbeError::Unavailable(std::io::Error::other(
            "probe thread panicked",
        )))
    })
}

/// Try every kind of leaf qdisc `want` uses (with its first leaf's options) in a throwaway
/// namespace: the kinds that could not be tried, with why (`(qdisc, why)`), or the first kind
/// the kernel refuses, with its error.
pub fn probe_kinds(
    want: &super::diff::Desired,
) -> Result<Vec<(String, String)>, (String, ProbeError)> {
    let mut tried: Vec<&crate::plan::qdisc::LeafQdisc> = vec![];
    let mut unchecked = vec![];
    for (_, q) in want.classes.iter().filter_map(|c| c.qdisc.as_ref()) {
        if tried.iter().any(|t| t.kind() == q.kind()) {
            continue;
        }
        tried.push(q);
        match probe(q) {
            Ok(()) => {}
            Err(ProbeError::Unavailable(e)) => unchecked.push((q.to_source(), e.to_string())),
            Err(error) => return Err((q.to_source(), error)),
        }
    }
    Ok(unchecked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::encode::tests::same_as_tc;

    const IF: u32 = 3;

    fn q(s: &str) -> LeafQdisc {
        LeafQdisc::parse(&s.split_whitespace().collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn leaf_qdiscs_match_tc() {
        let ps = Psched::HIGH_RES;
        let add = |parent: u32, major: u16, s: &str| leaf_qdisc_add(IF, parent, major, &q(s), &ps);
        same_as_tc("leaf_pfifo", add(0x10010, 0x10, "pfifo limit 100"));
        same_as_tc("leaf_pfifo_default", add(0x10010, 0x10, "pfifo"));
        same_as_tc("leaf_pfifo_del", leaf_qdisc_del(IF, 0x10010, 0x100000));
        same_as_tc("leaf_bfifo", add(0x10010, 0x10, "bfifo limit 2000000"));
        same_as_tc(
            "leaf_tbf",
            add(0x10011, 0x11, "tbf rate 18mbit burst 65536b latency 100ms"),
        );
        same_as_tc(
            "leaf_tbf_limit",
            add(
                0x10011,
                0x11,
                "tbf rate 1gbit burst 1000000b limit 3000000b",
            ),
        );
        same_as_tc(
            "leaf_sfq",
            add(0x10012, 0x12, "sfq perturb 10 quantum 1514 limit 127"),
        );
        same_as_tc("leaf_sfq_default", add(0x10012, 0x12, "sfq"));
        same_as_tc(
            "leaf_fq_codel",
            add(
                0x10013,
                0x13,
                "fq_codel limit 10240 flows 1024 target 5ms interval 100ms quantum 1514 ecn",
            ),
        );
        same_as_tc("leaf_fq_codel_noecn", add(0x10013, 0x13, "fq_codel noecn"));
    }

    #[test]
    fn a_changed_limit_is_a_difference() {
        let ps = Psched::HIGH_RES;
        let live = wanted_options(&q("bfifo limit 1000000"), &ps);
        assert_eq!(
            differences(&live, &wanted_options(&q("bfifo limit 2000000"), &ps)),
            [("limit", "1000000".into(), "2000000".into())]
        );
        assert!(differences(&live, &wanted_options(&q("bfifo"), &ps)).is_empty());
    }
}
