//! `tcc check`: many inputs (files, directories, stdin), lint levels, in-file suppressions, and
//! the output formats human, json, github and sarif.

use crate::cli::{io_error, read_input, stderr, CheckArgs, ColorWhen, ExitCode, Format};
use crate::diagnostic::{Diagnostic, Severity};
use crate::report::lint::{self, Levels};
use crate::report::{self, Sources};
use std::io::Write;

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
    let parse_all = |v: &[String]| -> Result<Vec<lint::Selector>, lint::LevelError> {
        v.iter().map(|s| lint::parse_selector(s)).collect()
    };
    let levels = match (|| {
        Levels::new(
            &parse_all(&a.allow)?,
            &parse_all(&a.warn)?,
            &parse_all(&a.deny)?,
        )
    })() {
        Ok(l) => l,
        Err(e) => return io_error(&e),
    };
    let inputs = match crate::cli::input::collect_inputs(&a.files) {
        Ok(i) => i,
        Err(e) => return io_error(&e),
    };
    let mut sources = Sources::new();
    let mut all: Vec<Diagnostic> = vec![];
    for path in &inputs {
        let (name, text) = match read_input(path) {
            Ok(x) => x,
            Err(e) => return io_error(&e),
        };
        let id = sources.add(name.clone(), text.clone());
        let (_, diags) = crate::check(id, &name, &text);
        all.extend(diags.items);
    }
    all.retain(|d| levels.severity(d.code).is_some());
    let severity = |d: &Diagnostic| levels.severity(d.code).unwrap_or(Severity::Hint);

    // Buffered: stdout is line-buffered, and pretty JSON of 40k diagnostics is a million lines.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = match a.format {
        Format::Json => {
            let report = report::to_json_with(&sources, &all, &severity);
            serde_json::to_writer_pretty(&mut out, &report)
                .map_err(std::io::Error::other)
                .and_then(|_| writeln!(out))
        }
        Format::Github => {
            out.write_all(crate::report::ci::github(&sources, &all, &severity).as_bytes())
        }
        Format::Sarif => {
            let log = crate::report::ci::sarif(&sources, &all, &severity);
            serde_json::to_writer_pretty(&mut out, &log)
                .map_err(std::io::Error::other)
                .and_then(|_| writeln!(out))
        }
        Format::Human => {
            let mut err = stderr(color);
            report::emit_human_with(&mut err, &sources, &all, &severity)
                .and_then(|_| summary(&mut err, &all, &severity, inputs.len()))
        }
    };
    if let Err(e) = written.and_then(|_| out.flush()) {
        return crate::cli::stdout_error(&e);
    }
    if all.iter().any(|d| severity(d) == Severity::Error) {
        ExitCode::Failed
    } else {
        ExitCode::Ok
    }
}

fn summary(
    out: &mut dyn Write,
    diags: &[Diagnostic],
    severity: &dyn Fn(&Diagnostic) -> Severity,
    files: usize,
) -> std::io::Result<()> {
    let get = |s| diags.iter().filter(|d| severity(d) == s).count();
    let plural = |k: usize, word: &str| format!("{k} {word}{}", if k == 1 { "" } else { "s" });
    let (e, w) = (get(Severity::Error), get(Severity::Warning));
    let in_files = if files > 1 {
        format!(" in {}", plural(files, "file"))
    } else {
        String::new()
    };
    if e > 0 {
        writeln!(
            out,
            "{} and {} found{in_files}",
            plural(e, "error"),
            plural(w, "warning")
        )
    } else if w > 0 {
        writeln!(out, "{} found{in_files}", plural(w, "warning"))
    } else {
        Ok(())
    }
}
