//! Semantic analysis: the AST is lowered into a plan (`lower`, `matches`, `value`), the plan is
//! normalised (`normalise`: what the kernel would otherwise clamp is filled in) and checked
//! (`check`). Architecture invariant: every problem becomes a `Diagnostic` with a stable code and
//! a span; nothing here prints or touches the system.
//!
//! The public API for a plan built elsewhere (`explain` builds one from a script) is
//! `check_plan` with `Facts`: the same normalising and checks as a compiled file gets.

pub mod check;
pub mod expect;
pub mod lower;
pub mod matches;
pub mod normalise;
pub mod queues;
pub mod value;

use crate::diagnostic::{Diagnostics, Span};
use crate::plan::Plan;
use crate::syntax::ast;

/// Facts about the source the checker needs beyond the plan.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Per interface: the span of the `default` property, if any.
    pub default_spans: Vec<Option<Span>>,
    /// Per interface: whether the interface `rate` made a root class (its index is 0).
    pub has_root: Vec<bool>,
    /// Definitions never used: (kind, name, span).
    pub unused: Vec<(&'static str, String, Span)>,
}

impl Facts {
    /// No facts beyond the plan: `n` interfaces, no `default` spans, no root classes, nothing
    /// unused.
    pub fn plain(n: usize) -> Facts {
        Facts {
            default_spans: vec![None; n],
            has_root: vec![false; n],
            unused: Vec::new(),
        }
    }
}

/// Lower and check a parsed file. The plan is meaningful only when there are no errors.
pub fn analyze(file: &ast::File) -> (Plan, Diagnostics) {
    let lowered = lower::lower(file);
    let mut diags = lowered.diags;
    let mut plan = lowered.plan;
    check_plan(&mut plan, &lowered.facts, &mut diags);
    diags.sort();
    (plan, diags)
}

/// Check a plan and normalise it (fill in quantums where HTB would clamp them), adding the
/// diagnostics to `diags` (unsorted).
pub fn check_plan(plan: &mut Plan, facts: &Facts, diags: &mut Diagnostics) {
    check::check(plan, facts, diags);
    normalise::normalise(plan, diags);
}
