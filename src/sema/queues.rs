//! Checks on leaf queues and the path's round-trip time: a `qdisc` on a class with children
//! (E0217), the TCP window each leaf's flows need (H0003, ceil x rtt), and a leaf queue far below
//! or far above one bandwidth-delay product, or a bfifo smaller than one GSO packet (W0108).
//! Read-only, like `check`.

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::plan::qdisc::{
    bdp_bytes, format_time, human_bytes, human_time, LeafQdisc, GSO_MAX, MIN_BFIFO,
};
use crate::plan::units::format_rate;
use crate::plan::Interface;

/// A queue shorter than one BDP divided by this drops before a single flow reaches the rate.
pub const SHORT_FACTOR: u64 = 4;
/// A queue longer than this many BDPs adds seconds of delay at low rates.
pub const LONG_FACTOR: u64 = 4;

pub fn check(iface: &Interface, diags: &mut Diagnostics) {
    let leaves = iface.leaves();
    for (i, c) in iface.classes.iter().enumerate() {
        let span = c.spans.qdisc.unwrap_or(c.span);
        if !leaves[i] {
            if let Some(q) = &c.qdisc {
                diags.push(
                    Diagnostic::new(
                        Code::QdiscOnInnerClass,
                        span,
                        format!(
                            "class `{}` has children, so it cannot have a `{}` queue",
                            iface.name_of(c),
                            q.kind()
                        ),
                    )
                    .secondary(c.span, "this class has children")
                    .help("HTB queues packets in leaf classes only: put `qdisc` on the leaves (or on a template they use, or on the interface for every leaf)"),
                );
            }
            continue;
        }
        if let Some(LeafQdisc::Bfifo { limit: Some(l) }) = &c.qdisc {
            if (*l as u64) < GSO_MAX {
                diags.push(
                    Diagnostic::new(
                        Code::LeafQueueSize,
                        span,
                        format!(
                            "the bfifo of `{}` holds {l} bytes, less than one {GSO_MAX}-byte GSO packet",
                            iface.name_of(c)
                        ),
                    )
                    .label("a TCP flow's GSO/TSO packets are larger than the whole queue and are all dropped")
                    .note("measured on a veth with GSO: a 50mbit class behind `bfifo limit 62500` delivered 0.33 Mbit/s")
                    .help(format!("give it at least {MIN_BFIFO} bytes (two GSO packets), or use `pfifo`, which counts packets")),
                );
                continue;
            }
        }
        let Some(rtt) = c.rtt else { continue };
        if c.ceil == 0 {
            continue;
        }
        let bdp = bdp_bytes(c.ceil, rtt);
        let name = iface.name_of(c);
        let queue = c.qdisc.as_ref().map_or_else(
            || "the kernel's default queue".to_string(),
            |q| format!("`{q}`"),
        );
        diags.push(
            Diagnostic::new(
                Code::TcpWindow,
                c.span,
                format!(
                    "flows of `{name}` need a TCP window of {} ({bdp} bytes) to fill it: {} x {}",
                    human_bytes(bdp),
                    format_rate(c.ceil),
                    format_time(rtt)
                ),
            )
            .label(format!("leaf queue: {queue}"))
            .help("senders need net.ipv4.tcp_wmem's maximum and receivers net.ipv4.tcp_rmem's at least this large; `tcc plan`/`apply` and the scripts check the host"),
        );
        let Some(qbytes) = c.qdisc.as_ref().and_then(|q| q.queue_bytes(c.mtu)) else {
            continue;
        };
        let delay_us = qbytes as u128 * 8_000_000 / c.ceil as u128;
        let delay = human_time(delay_us.min(u64::MAX as u128) as u64);
        let pkts = if matches!(c.qdisc, Some(LeafQdisc::Pfifo { .. })) {
            format!(
                " ({} bytes at {} bytes a packet)",
                qbytes,
                c.mtu.unwrap_or(1514)
            )
        } else {
            String::new()
        };
        if qbytes * SHORT_FACTOR < bdp {
            diags.push(
                Diagnostic::new(
                    Code::LeafQueueSize,
                    span,
                    format!(
                        "the queue of `{name}` holds {}{pkts}, {:.2} of one bandwidth-delay product ({})",
                        human_bytes(qbytes),
                        qbytes as f64 / bdp as f64,
                        human_bytes(bdp)
                    ),
                )
                .label(format!("below 1/{SHORT_FACTOR} BDP: a single flow sees drops before it reaches {}", format_rate(c.ceil)))
                .help(format!("size it near one BDP (`qdisc bfifo limit {bdp}`), or leave out `qdisc` and tcc does")),
            );
        } else if qbytes > (bdp * LONG_FACTOR).max(MIN_BFIFO) {
            // (A queue of two GSO packets is the least a bfifo needs, however short the path.)
            diags.push(
                Diagnostic::new(
                    Code::LeafQueueSize,
                    span,
                    format!(
                        "the queue of `{name}` holds {}{pkts}, {:.1} bandwidth-delay products ({} each): up to {delay} of queueing delay at {}",
                        human_bytes(qbytes),
                        qbytes as f64 / bdp as f64,
                        human_bytes(bdp),
                        format_rate(c.ceil)
                    ),
                )
                .label(format!("more than {LONG_FACTOR} BDPs"))
                .help(format!("size it near one BDP (`qdisc bfifo limit {bdp}`), or use `qdisc fq_codel`, which keeps the delay near its target")),
            );
        }
    }
}
