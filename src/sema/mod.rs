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
pub mod site;
pub mod value;

use crate::diagnostic::{Diagnostics, Span};
use crate::plan::site::Site;
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
    /// Per interface: the `default` span and the root-class fact of its ingress tree, if any
    /// (missing entries mean none and no root).
    pub ingress: Vec<(Option<Span>, bool)>,
}

impl Facts {
    /// No facts beyond the plan: `n` interfaces, no `default` spans, no root classes, nothing
    /// unused.
    pub fn plain(n: usize) -> Facts {
        Facts {
            default_spans: vec![None; n],
            has_root: vec![false; n],
            unused: Vec::new(),
            ingress: Vec::new(),
        }
    }
}

/// Lower and check a parsed file. The plan is meaningful only when there are no errors; for a
/// site file (with `host` blocks) it is empty: use `analyze_site`.
pub fn analyze(file: &ast::File) -> (Plan, Diagnostics) {
    let (site, diags) = analyze_site(file);
    (single_plan(site), diags)
}

/// The plan of a file without `host` blocks; an empty plan for a site file.
pub fn single_plan(site: Site) -> Plan {
    if site.is_fleet() {
        return Plan::default();
    }
    site.hosts
        .into_iter()
        .next()
        .map(|h| h.plan)
        .unwrap_or_default()
}

/// Lower and check a parsed file as a site: every host's plan checked as a plan, then the
/// checks across hosts (paths). A file without `host` blocks is a site of one unnamed host.
pub fn analyze_site(file: &ast::File) -> (Site, Diagnostics) {
    let lowered = lower::lower(file);
    let mut diags = lowered.diags;
    let mut site = lowered.site;
    for (host, facts) in site.hosts.iter_mut().zip(&lowered.facts) {
        check_plan(&mut host.plan, facts, &mut diags);
    }
    site::check_paths(&site, &mut diags);
    diags.sort();
    (site, diags)
}

/// Check a plan and normalise it (fill in quantums where HTB would clamp them), adding the
/// diagnostics to `diags` (unsorted).
pub fn check_plan(plan: &mut Plan, facts: &Facts, diags: &mut Diagnostics) {
    check::check(plan, facts, diags);
    normalise::normalise(plan, diags);
}
