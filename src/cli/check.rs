//! `tcc check`: many inputs (files, directories, stdin), lint levels, in-file suppressions, and
//! the output formats human, json, github and sarif.

use crate::cli::diags::{self, Summary};
use crate::cli::{io_error, read_input, CheckArgs, ColorWhen, ExitCode};
use crate::diagnostic::Diagnostic;
use crate::report::{self, Sources};

pub const CHECK_EXAMPLES: &str = "Examples:
  tcc check site.shape                        # human-readable, exit 1 on errors
  tcc check configs/ --deny warnings          # every *.shape below configs/; warnings fail too
  tcc check - < site.shape                    # standard input
  tcc check configs/ --format github          # annotations in GitHub Actions
  tcc check configs/ --format sarif > tcc.sarif
  tcc check site.shape --allow W0104 --warn H0001
  tcc check --explain E0201

In a file, `# tcc: allow W0104` silences a warning on its line, or in the whole block when the
line opens one. Exit status: 0 clean, 1 errors (or denied warnings), 2 usage or I/O error.";

pub fn check(a: CheckArgs, color: ColorWhen) -> ExitCode {
    if let Some(code) = &a.explain {
        return crate::cli::tools::print_explanation(code);
    }
    let levels = match a.lint.levels() {
        Ok(l) => l,
        Err(e) => return io_error(&e),
    };
    let inputs = match crate::cli::input::collect_inputs(&a.files) {
        Ok(i) => i,
        Err(e) => return io_error(&e),
    };
    let mut sources = Sources::new();
    let mut all: Vec<Diagnostic> = vec![];
    let mut expectations = vec![];
    for path in &inputs {
        let (name, text) = match read_input(path) {
            Ok(x) => x,
            Err(e) => return io_error(&e),
        };
        let id = sources.add(name.clone(), text.clone());
        let mut files = crate::cli::input::Beside::new(path, &mut sources);
        let (site, found) = crate::check_site_with(id, &name, &text, &mut files);
        all.extend(found.items);
        for host in &site.hosts {
            expectations.extend(json_expectations(&sources, &host.plan));
        }
    }
    match diags::report_with(
        a.format,
        color,
        &sources,
        &mut all,
        &levels,
        Summary::Always,
        inputs.len(),
        expectations,
    ) {
        Err(_) => ExitCode::Usage,
        Ok(true) => ExitCode::Failed,
        Ok(false) => ExitCode::Ok,
    }
}

/// Every expectation of `plan` with its outcome, for the JSON report.
fn json_expectations(sources: &Sources, plan: &crate::plan::Plan) -> Vec<report::JsonExpectation> {
    let mut out = vec![];
    for iface in &plan.interfaces {
        let name = |c: Option<usize>| c.map(|c| iface.classes[c].name.clone());
        for o in crate::plan::decide::outcomes(iface) {
            let e = o.expectation;
            out.push(report::JsonExpectation {
                file: sources.name(e.span.file),
                span: report::json_span(sources, e.span),
                interface: iface.name.clone(),
                packet: e.packet.to_source(),
                expected: name(o.wanted),
                reached: name(o.decision.class),
                decided_by: o
                    .decision
                    .filter
                    .map(|f| report::json_span(sources, iface.filters[f].span)),
                passed: o.passed(),
            });
        }
    }
    out
}
