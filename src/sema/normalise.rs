//! Normalising passes: changes made to a checked plan so that every backend emits the same
//! thing without computing it again. A quantum is filled in where rate/r2q leaves HTB's range,
//! so emitters never compute one (reported: H0002); `prio` is dropped from classes with
//! children, which HTB ignores it on (reported by the checker: W0106).

use super::check::rate_span;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::plan::units::format_rate;
use crate::plan::{Interface, Plan};

/// HTB warns and clamps when rate/r2q falls outside this range (bytes).
pub const QUANTUM_MIN: u64 = 1000;
pub const QUANTUM_MAX: u64 = 200_000;

/// Every normalising pass, over every interface.
pub fn normalise(plan: &mut Plan, diags: &mut Diagnostics) {
    for iface in &mut plan.interfaces {
        quantum(iface, diags);
        inner_prio(iface);
        if let Some(tree) = &mut iface.ingress {
            quantum(tree, diags);
            inner_prio(tree);
        }
    }
}

/// Drop `prio` from classes with children: HTB uses it on leaves only, and W0106 has told the
/// author so; no backend then emits or sends what the warning said is ignored.
pub fn inner_prio(iface: &mut Interface) {
    let leaves = iface.leaves();
    for (c, leaf) in iface.classes.iter_mut().zip(leaves) {
        if !leaf {
            c.prio = None;
        }
    }
}

/// Fill in a quantum where rate/r2q leaves HTB's range (the kernel would clamp it and complain
/// over netlink only), and say so once per interface.
pub fn quantum(iface: &mut Interface, diags: &mut Diagnostics) {
    let r2q = iface.r2q.max(1) as u64;
    let mut fixed: Vec<(usize, u64, u64)> = vec![];
    for (i, c) in iface.classes.iter_mut().enumerate() {
        if c.quantum.is_some() || c.rate == 0 {
            continue;
        }
        let q = c.rate / 8 / r2q;
        let set = if q < QUANTUM_MIN {
            // Not above what HTB keeps as given (its quantum is an `int`).
            QUANTUM_MIN
                .max(c.mtu.unwrap_or(0))
                .min(crate::plan::limits::MAX_QUANTUM)
        } else if q > QUANTUM_MAX {
            QUANTUM_MAX
        } else {
            continue;
        };
        c.quantum = Some(set);
        fixed.push((i, q, set));
    }
    let Some(&(first, q, set)) = fixed.first() else {
        return;
    };
    let c = &iface.classes[first];
    let listed: Vec<String> = fixed
        .iter()
        .take(6)
        .map(|&(i, _, set)| format!("`{}` {set}", iface.name_of(&iface.classes[i])))
        .collect();
    let more = if fixed.len() > 6 {
        format!(" and {} more", fixed.len() - 6)
    } else {
        String::new()
    };
    let mut d = Diagnostic::new(
        Code::QuantumSet,
        rate_span(iface, first),
        format!(
            "tcc sets `quantum` explicitly on {} class{} of `{}`",
            fixed.len(),
            if fixed.len() == 1 { "" } else { "es" },
            iface.name
        ),
    )
    .label(format!(
        "rate {} / r2q {r2q} = {q} bytes, outside {QUANTUM_MIN}..{QUANTUM_MAX}; set to {set}",
        format_rate(c.rate)
    ));
    let mut shown = vec![rate_span(iface, first)];
    for &(i, _, _) in &fixed[1..] {
        let s = rate_span(iface, i);
        if shown.len() < 3 && !shown.contains(&s) {
            shown.push(s);
            d = d.secondary(s, "likewise");
        }
    }
    diags.push(
        d.note(format!("quantum set: {}{more}", listed.join(", ")))
            .note("without it the kernel clamps the quantum and warns \"quantum of class ... is big\"")
            .help("set `quantum` on a class, or `r2q` on the interface, to choose other values"),
    );
}
