//! Semantic analysis: the AST is lowered into a plan (`lower`, `matches`, `value`) and the plan
//! is checked (`check`). Architecture invariant: every problem becomes a `Diagnostic` with a
//! stable code and a span; nothing here prints or touches the system.

pub mod check;
pub mod lower;
pub mod matches;
pub mod value;

use crate::diagnostic::Diagnostics;
use crate::plan::Plan;
use crate::syntax::ast;

/// Lower and check a parsed file. The plan is meaningful only when there are no errors.
pub fn analyze(file: &ast::File) -> (Plan, Diagnostics) {
    let lowered = lower::lower(file);
    let mut diags = lowered.diags;
    let mut plan = lowered.plan;
    check::check(&mut plan, &lowered.facts, &mut diags);
    diags.sort();
    (plan, diags)
}
