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
use crate::diagnostic::{Code, Diagnostic, Diagnostics, Span};
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

/// Where a command of the script ends: exactly one of three places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// Part of the plan.
    Modelled,
    /// Not about shaping (`echo`, `ip link show`, a filter-table rule...).
    NotShaping,
    /// A diagnostic with a code says what it does and why the plan does not hold it.
    NotModelled,
}

/// One command the script runs and where it ends.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ending {
    pub place: Place,
    /// The command's words, expanded.
    pub command: String,
    #[serde(skip)]
    pub span: Span,
    /// For `NotModelled`: the diagnostics that say what it does, each a code and a message.
    pub reasons: Vec<Reason>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Reason {
    pub code: Code,
    pub what: String,
}

/// Codes that put a command under "not modelled".
pub const NOT_MODELLED: &[Code] = &[
    Code::ScriptNotFollowed,
    Code::Opaque,
    Code::KernelRefuses,
    Code::NotCarried,
];

/// Codes of the pieces an import loses: what changes traffic (or may, as far as tcc can tell)
/// and is not in the plan.
pub const LOST: &[Code] = &[
    Code::ScriptNotFollowed,
    Code::NotCarried,
    Code::IngressNotFollowed,
];

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
    /// Every command the script runs, in order, with where it ends.
    pub endings: Vec<Ending>,
}

impl Explained {
    /// What an import of this script loses: every diagnostic whose code is in `LOST`.
    pub fn lost(&self) -> Vec<&Diagnostic> {
        self.diags
            .items
            .iter()
            .filter(|d| LOST.contains(&d.code))
            .collect()
    }
}

fn within(inner: Span, outer: Span) -> bool {
    inner.file == outer.file && inner.start >= outer.start && inner.end <= outer.end
}

/// Each command's place: not modelled when a diagnostic in `NOT_MODELLED` points into it, not
/// about shaping when the simulation put it aside, modelled otherwise.
fn endings(ran: &[(Span, String, bool)], diags: &Diagnostics) -> Vec<Ending> {
    // The diagnostics that make a command "not modelled", ordered by where they start, so that
    // each command finds the ones inside it by a binary search (a loop runs thousands of
    // commands; comparing each with every diagnostic would be quadratic).
    let mut marks: Vec<&crate::diagnostic::Diagnostic> = diags
        .items
        .iter()
        .filter(|d| NOT_MODELLED.contains(&d.code))
        .collect();
    marks.sort_by_key(|d| (d.primary.file, d.primary.start));
    ran.iter()
        .map(|(span, text, other)| {
            let first = marks
                .partition_point(|d| (d.primary.file, d.primary.start) < (span.file, span.start));
            let mut reasons: Vec<Reason> = Vec::new();
            for d in marks[first..]
                .iter()
                .take_while(|d| d.primary.file == span.file && d.primary.start < span.end)
                .filter(|d| within(d.primary, *span))
            {
                if !reasons
                    .iter()
                    .any(|r| r.code == d.code && r.what == d.message)
                {
                    reasons.push(Reason {
                        code: d.code,
                        what: d.message.clone(),
                    });
                }
            }
            let place = match (reasons.is_empty(), other) {
                (false, _) => Place::NotModelled,
                (true, true) => Place::NotShaping,
                (true, false) => Place::Modelled,
            };
            Ending {
                place,
                command: text.clone(),
                span: *span,
                reasons,
            }
        })
        .collect()
}

/// A loop runs the same text many times, and what cannot be read in it is the same problem
/// at the same place each time: say it once (a script of nested loops otherwise repeats one
/// warning thousands of times, and its report and endings grow without bound).
fn once_each(diags: &mut Diagnostics) {
    let mut seen = std::collections::HashSet::new();
    diags
        .items
        .retain(|d| seen.insert((d.code, d.primary, d.message.clone())));
}

pub fn lower(script: Script) -> Explained {
    let mut sim = Sim::new();
    let conditional = script.commands.iter().filter(|c| c.conditional).count();
    for cmd in &script.commands {
        sim.command(cmd);
    }
    finish(sim, script.diags, script.set_e, conditional)
}

/// Read a script and simulate each command as it is read (the whole script's commands are
/// never held at once).
pub fn read_and_lower(
    file: usize,
    text: &str,
    args: &[String],
    files: &mut dyn crate::dialect::sh::Files,
) -> Explained {
    let mut sim = Sim::new();
    let mut conditional = 0;
    let script = crate::dialect::sh::read_each(file, text, args, files, &mut |c| {
        conditional += usize::from(c.conditional);
        sim.command(&c);
    });
    finish(sim, script.diags, script.set_e, conditional)
}

/// The plan of what the simulation holds, after the reader's diagnostics (`read`).
fn finish(mut sim: Sim, read: Diagnostics, set_e: bool, conditional: usize) -> Explained {
    let mut all = read;
    all.extend(std::mem::take(&mut sim.diags));
    sim.diags = all;
    sim.mangle_targets();
    let (mut plan, facts) = sim.build();
    let plan_as_written = plan.clone();
    let mut diags = std::mem::take(&mut sim.diags);
    crate::sema::check_plan(&mut plan, &facts, &mut diags);
    diags.sort();
    once_each(&mut diags);
    let endings = endings(&sim.ran, &diags);
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
        set_e,
        conditional,
        endings,
    }
}
