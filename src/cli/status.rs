//! The command `tcc status`: the live tree of each interface, its classes with their rates in
//! tc's units, byte, packet and drop counters and current rates.

use crate::apply::diff::fmt_handle;
use crate::apply::encode::TC_H_ROOT;
use crate::apply::error::ApplyError;
use crate::apply::live::{parse_htb_class, parse_htb_qdisc, Live, Obj};
use crate::apply::status;
use crate::cli::ExitCode;
use crate::plan::units::format_rate;
use std::collections::HashMap;
use std::io::Write;

pub const STATUS_EXAMPLES: &str = "Examples:
  tcc status                                    # every interface with a root qdisc
  tcc status --interface eth1 --interval 5      # rates measured over 5 seconds
  tcc status -i eth1 --interval 0               # one reading, the kernel's rate estimates";

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// The interface to show (default: every interface with a configured root qdisc).
    #[arg(long, short)]
    pub interface: Option<String>,
    /// Seconds between the two readings the current rates are computed from (0: one reading).
    #[arg(long, default_value_t = 1.0)]
    pub interval: f64,
}

pub fn status_cmd(a: StatusArgs) -> ExitCode {
    let st = match status::read(a.interface.as_deref(), a.interval) {
        Ok(s) => s,
        Err(ApplyError::ReadLive { iface, error }) => {
            eprintln!("error: {iface}: {error}");
            return ExitCode::Usage;
        }
        Err(e) => return crate::cli::apply::fail(&e),
    };
    let mut out = std::io::stdout().lock();
    for r in &st.interfaces {
        let _ = write!(
            out,
            "{}",
            render_status(&r.name, &r.first, r.second.as_ref(), st.elapsed)
        );
    }
    if st.interfaces.is_empty() {
        let _ = writeln!(out, "no interface has a configured root qdisc");
    }
    ExitCode::Ok
}

/// The live tree as text: one line per class, children indented under their parents.
pub fn render_status(name: &str, l0: &Live, l1: Option<&Live>, dt: f64) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let l = l1.unwrap_or(l0);
    let Some(root) = l.root() else {
        let _ = writeln!(s, "{name}: no root qdisc");
        return s;
    };
    let mut head = format!("{name}: qdisc {} {}", root.kind, fmt_handle(root.handle));
    if let Some((r2q, def)) = parse_htb_qdisc(root) {
        let _ = write!(head, " default {def:x} r2q {r2q}");
    }
    let _ = writeln!(
        s,
        "{head}  sent {} bytes {} pkts, dropped {}, overlimits {}",
        root.stats.bytes, root.stats.packets, root.stats.drops, root.stats.overlimits
    );
    let before: HashMap<u32, u64> = l0
        .classes
        .iter()
        .map(|c| (c.handle, c.stats.bytes))
        .collect();
    let _ = writeln!(
        s,
        "  {:<22} {:>12} {:>12} {:>14} {:>10} {:>7} {:>10} {:>12}",
        "class", "rate", "ceil", "bytes", "packets", "drops", "overlimits", "now"
    );
    fn walk(
        s: &mut String,
        l: &Live,
        parent: u32,
        depth: usize,
        before: &HashMap<u32, u64>,
        dt: f64,
        l1: bool,
    ) {
        let mut kids: Vec<&Obj> = l
            .classes
            .iter()
            .filter(|c| {
                (if c.parent == TC_H_ROOT {
                    l.root().map_or(0, |r| r.handle)
                } else {
                    c.parent
                }) == parent
            })
            .collect();
        kids.sort_by_key(|c| c.handle);
        for c in kids {
            let (rate, ceil) = parse_htb_class(c)
                .map(|h| (format_rate(h.rate * 8), format_rate(h.ceil * 8)))
                .unwrap_or_default();
            let now = if l1 && dt > 0.0 {
                let b0 = before.get(&c.handle).copied().unwrap_or(0);
                format_rate(((c.stats.bytes.saturating_sub(b0)) as f64 * 8.0 / dt) as u64)
            } else if c.stats.rate_est > 0 {
                format_rate(c.stats.rate_est * 8)
            } else {
                "-".into()
            };
            let id = format!("{}{}", "  ".repeat(depth), fmt_handle(c.handle));
            let _ = writeln!(
                s,
                "  {:<22} {:>12} {:>12} {:>14} {:>10} {:>7} {:>10} {:>12}",
                id,
                rate,
                ceil,
                c.stats.bytes,
                c.stats.packets,
                c.stats.drops,
                c.stats.overlimits,
                now
            );
            walk(s, l, c.handle, depth + 1, before, dt, l1);
        }
    }
    walk(&mut s, l, root.handle, 0, &before, dt, l1.is_some());
    s
}
