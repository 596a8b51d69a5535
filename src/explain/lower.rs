//! From the commands a script runs to the shaping plan the language lowers into.
//!
//! The commands are *simulated* in order on a model of what they change: per device the root
//! qdisc, its HTB classes and tc filters; per family the mangle table's chains. The final state
//! becomes the plan. Spans point into the script, so the checker's diagnostics point there.
//!
//! Classification order: CLASSIFY does not end rule traversal, so among the CLASSIFY rules a
//! packet meets, the LAST wins, unless a `-j RETURN` with the same criteria right after it ends
//! the chain (tcc's own companion rules). The plan is first-match-wins, so terminal rules come
//! first in their order, then the others in reverse. iptables classification happens before tc
//! filters are consulted (HTB looks at the priority CLASSIFY set first), so it comes first.
//!
//! `sim` runs the commands on the model (`sim::tc`, `sim::mangle`, `sim::nft`); `build` turns the
//! final state into a plan, `merge` joins filters, `lint` adds the script-only diagnostics; the
//! plan is then checked by `sema::check_plan`, so the codes are those of `tcc check`.

use super::sim::Sim;
use crate::diagnostic::{Diagnostics, Span};
use crate::dialect::sh::Script;
use crate::plan::Plan;

/// Something the script does that the plan cannot hold, in words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Note {
    pub device: Option<String>,
    pub text: String,
    #[serde(skip)]
    pub span: Span,
}

/// The result of reading a script.
#[derive(Debug, Default)]
pub struct Explained {
    /// After the checker (which may fill in quantums).
    pub plan: Plan,
    /// As the script says, before the checker filled anything in (for `--to shape`).
    pub plan_as_written: Plan,
    pub diags: Diagnostics,
    /// Opaque configuration, per device.
    pub notes: Vec<Note>,
    /// Commands that are not about shaping (`echo`, `ip link show`...), as written.
    pub other: Vec<String>,
    /// What is left in place when the script is done, in words.
    pub leaves: Vec<String>,
    /// Devices whose configuration the script removes (teardown).
    pub removes: Vec<String>,
    pub set_e: bool,
    pub conditional: usize,
}

pub fn lower(script: Script) -> Explained {
    let mut sim = Sim {
        devs: Vec::new(),
        tables: Default::default(),
        diags: script.diags,
        notes: Vec::new(),
        other: Vec::new(),
    };
    let conditional = script.commands.iter().filter(|c| c.conditional).count();
    for cmd in &script.commands {
        sim.command(cmd);
    }
    let (mut plan, facts) = sim.build();
    let plan_as_written = plan.clone();
    let mut diags = std::mem::take(&mut sim.diags);
    crate::sema::check_plan(&mut plan, &facts, &mut diags);
    diags.sort();
    let leaves = sim.leaves();
    let removes = sim
        .devs
        .iter()
        .filter(|d| d.removed && d.root.is_none())
        .map(|d| d.name.clone())
        .collect();
    Explained {
        plan,
        plan_as_written,
        diags,
        notes: sim.notes,
        other: sim.other,
        leaves,
        removes,
        set_e: script.set_e,
        conditional,
    }
}
