//! The scripts' pre-flight for leaf queues: every kind of qdisc the plan puts under a leaf is
//! tried (with the options of its first leaf) in
//! a throwaway network namespace (`unshare -n`: only its own `lo`, gone when `tc` exits), so a
//! kernel without that qdisc (or refusing its options) stops the script before it changes
//! anything, and no configured interface is touched. Where `unshare` cannot run, the kernel's
//! build configuration (`/proc/config.gz`) says whether the kind exists; if neither can be read,
//! a warning says so. And with `rtt`, a warning when the host's TCP buffer maximum
//! (`net.ipv4.tcp_wmem`/`tcp_rmem`, third field) is below the largest window a class needs.

use crate::dialect::sh::quote::{comment_text, sh_quote};
use crate::plan::qdisc::bdp_bytes;
use crate::plan::Plan;
use std::fmt::Write;

pub(crate) const FN_NEED_QDISC: &str = r#"# tcc_need_qdisc CONFIG KIND [OPTIONS]: fail unless the kernel takes this leaf qdisc. It is added
# to the loopback device of a throwaway network namespace (unshare -n), which changes nothing
# here; where unshare cannot run, /proc/config.gz says whether CONFIG (- for always) is built.
tcc_need_qdisc() {
	tcc_sym=$1
	shift
	if unshare -n true 2>/dev/null; then
		unshare -n tc qdisc add dev lo root handle 1: "$@" ||
			tcc_fail "this kernel refuses the leaf qdisc \"$*\" (tried in a throwaway network namespace); nothing was changed"
	elif [ "$tcc_sym" = - ]; then
		: # pfifo and bfifo are part of every kernel's packet scheduler
	elif [ -r /proc/config.gz ] && command -v zcat >/dev/null 2>&1; then
		zcat /proc/config.gz | grep -q "^$tcc_sym=[ym]" ||
			tcc_fail "this kernel has no qdisc $1 ($tcc_sym is not set in /proc/config.gz); nothing was changed"
	else
		echo "tcc: warning: cannot check that the kernel has the qdisc $1 (no unshare, no /proc/config.gz)" >&2
	fi
}
"#;

pub(crate) const FN_CHECK_WINDOW: &str = r#"# tcc_check_window CLASS BYTES: warn when net.ipv4.tcp_wmem's or tcp_rmem's maximum (third
# field) is below the TCP window BYTES that the flows of CLASS need (ceil x rtt).
tcc_check_window() {
	for tcc_sysctl in tcp_wmem tcp_rmem; do
		awk -v class="$1" -v need="$2" -v name="$tcc_sysctl" '$3 < need + 0 {
			printf "tcc: warning: flows of class %s need a TCP window of %s bytes, but net.ipv4.%s allows at most %s: raise it or a single flow cannot reach the rate\n", class, need, name, $3
		}' "/proc/sys/net/ipv4/$tcc_sysctl" >&2 2>/dev/null || true
	done
}
"#;

/// The pre-flight lines for leaf queues and TCP windows (nothing when the plan has neither).
pub(crate) fn preflight(plan: &Plan, out: &mut String) {
    let mut specs: Vec<(&str, String)> = vec![];
    // The largest window per interface: (class name, bytes).
    let mut windows: Vec<(String, u64)> = vec![];
    for iface in &plan.interfaces {
        let leaves = iface.leaves();
        let mut widest: Option<(String, u64)> = None;
        for (c, leaf) in iface.classes.iter().zip(leaves) {
            if !leaf {
                continue;
            }
            // One try per kind (with the first leaf's options), however many leaves use it.
            if let Some(q) = &c.qdisc {
                if !specs.iter().any(|s| s.0 == q.kind()) {
                    specs.push((q.kind(), q.to_source()));
                }
            }
            if let Some(rtt) = c.rtt {
                let w = bdp_bytes(c.ceil, rtt);
                if widest.as_ref().is_none_or(|x| w > x.1) {
                    widest = Some((c.name.clone(), w));
                }
            }
        }
        windows.extend(widest);
    }
    if specs.is_empty() && windows.is_empty() {
        return;
    }
    out.push('\n');
    if !specs.is_empty() {
        out.push_str(FN_NEED_QDISC);
        for (kind, s) in &specs {
            // Kinds and options are tc words from `plan::qdisc` (letters, digits, `_`, `.`).
            let _ = writeln!(out, "tcc_need_qdisc {} {s}", config_symbol(kind));
        }
    }
    if !windows.is_empty() {
        out.push_str(FN_CHECK_WINDOW);
        for (name, w) in &windows {
            let _ = writeln!(
                out,
                "tcc_check_window {} {w}  # the widest window of the interface",
                sh_quote(&comment_text(name))
            );
        }
    }
}

/// The kernel configuration symbol of a qdisc kind (`-`: part of every kernel).
fn config_symbol(kind: &str) -> &'static str {
    match kind {
        "sfq" => "CONFIG_NET_SCH_SFQ",
        "fq_codel" => "CONFIG_NET_SCH_FQ_CODEL",
        "tbf" => "CONFIG_NET_SCH_TBF",
        _ => "-",
    }
}
