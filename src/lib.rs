//! tcc: a compiler for Linux traffic shaping.
//!
//! Pipeline: `syntax` (pest grammar -> spanned AST) -> `sema` (expand variables, loops,
//! templates and rules into a `plan`; check it) -> `emit` (shell script, ...).
//! `report` renders diagnostics; `cli` is the command line on top of it all.

// Diagnostics travel in `Result::Err` everywhere in `sema`: they are what a compiler produces
// on ordinary input, on a path that is never hot, so their size does not matter.
#![allow(clippy::result_large_err)]

// pest is used without its `std` feature, which adds a stack-depth probe to every rule call
// (~13% of parse time); its generated parser then names `crate::alloc`. Stack depth is bounded
// by `syntax::parser::check_nesting` before parsing instead.
extern crate alloc;

pub mod apply;
pub mod cli;
pub mod diagnostic;
pub mod dialect;
pub mod emit;
pub mod explain;
pub mod plan;
pub mod report;
pub mod sema;
pub mod syntax;

use diagnostic::Diagnostics;
use plan::site::Site;
use plan::Plan;

/// Parse, lower and check one source text. `file` is its id in the caller's `report::Sources`.
/// The plan is meaningful only when the diagnostics hold no error (and empty for a site file
/// with `host` blocks: see `analyze_site`).
pub fn analyze(file: usize, text: &str) -> (Plan, Diagnostics) {
    let (site, diags) = analyze_site(file, text);
    (sema::single_plan(site), diags)
}

/// Parse, lower and check one source text as a site: its hosts, each with its plan, and the
/// paths they share (one unnamed host for a file without `host` blocks).
pub fn analyze_site(file: usize, text: &str) -> (Site, Diagnostics) {
    match syntax::parse_all(file, text) {
        Ok(ast) => sema::analyze_site(&ast),
        Err(all) => {
            let mut diags = Diagnostics::default();
            for d in all {
                diags.push(d);
            }
            (Site::default(), diags)
        }
    }
}

/// What `tcc check` reports for one input named `name` (before lint levels): a `.sh` script is
/// read back into a plan by `explain` and checked like any plan, anything else goes through
/// `analyze`; then the file's `# tcc: allow CODE` comments are applied, and the ones tcc
/// cannot follow are reported (W0107).
pub fn check(file: usize, name: &str, text: &str) -> (Plan, Diagnostics) {
    let (site, diags) = check_site(file, name, text);
    (sema::single_plan(site), diags)
}

/// `check`, keeping every host of a site file.
pub fn check_site(file: usize, name: &str, text: &str) -> (Site, Diagnostics) {
    check_site_with(file, name, text, &mut dialect::sh::NoFiles)
}

/// `check_site`, with the files a script names (`source`, `tc -batch FILE`...) read through
/// `files`.
pub fn check_site_with(
    file: usize,
    name: &str,
    text: &str,
    files: &mut dyn dialect::sh::Files,
) -> (Site, Diagnostics) {
    let (site, mut diags) = if std::path::Path::new(name)
        .extension()
        .is_some_and(|e| e == "sh")
    {
        let e = explain::explain_with(file, text, &[], files);
        let host = plan::site::Host {
            plan: e.plan,
            ..Default::default()
        };
        let site = Site {
            hosts: vec![host],
            paths: vec![],
        };
        (site, e.diags)
    } else {
        analyze_site(file, text)
    };
    report::lint::apply_suppressions(file, text, &mut diags);
    (site, diags)
}
