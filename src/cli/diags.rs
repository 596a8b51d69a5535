//! Diagnostics as every command reports them: the lint-level flags every such command shares
//! (`LintArgs`: `--allow`, `--warn`, `--deny`), the in-file suppressions (`# tcc: allow CODE`),
//! and printing in the chosen format. One mechanism for `check`, `compile`, `plan`, `apply`,
//! `explain` and `graph`.

use crate::cli::{stderr, ColorWhen, Format};
use crate::diagnostic::{Diagnostic, Diagnostics, Severity};
use crate::plan::site::Site;
use crate::plan::Plan;
use crate::report::lint::{self, LevelError, Levels};
use crate::report::{self, Sources};
use std::io::Write;

/// The lint-level flags, flattened into every command that prints diagnostics.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LintArgs {
    /// Report CODE (or every warning, with `warnings`) as an error: `--deny warnings`.
    #[arg(long, value_name = "CODE|warnings")]
    pub deny: Vec<String>,
    /// Do not report the warning or hint CODE (or any warning, with `warnings`).
    #[arg(long, value_name = "CODE|warnings")]
    pub allow: Vec<String>,
    /// Report the hint or warning CODE as a warning (undoes an `--allow warnings` for it).
    #[arg(long, value_name = "CODE|warnings")]
    pub warn: Vec<String>,
}

impl LintArgs {
    /// The levels the flags ask for; an unknown code or an error code given to `--allow` or
    /// `--warn` is a usage error.
    pub fn levels(&self) -> Result<Levels, LevelError> {
        let parse = |v: &[String]| -> Result<Vec<lint::Selector>, LevelError> {
            v.iter().map(|s| lint::parse_selector(s)).collect()
        };
        Levels::new(
            &parse(&self.allow)?,
            &parse(&self.warn)?,
            &parse(&self.deny)?,
        )
    }
}

/// Parse, lower and check a `.shape` source as `compile`, `plan`, `apply` and `graph` do: with
/// `u32_alternative` (the flag that names a classifier able to express what u32 cannot), the
/// u32 classifier's limits are checked too; then the file's suppression comments are applied.
pub fn analyze_shape(id: usize, text: &str, u32_alternative: Option<&str>) -> (Site, Diagnostics) {
    let (site, mut diags) = crate::analyze_site(id, text);
    if let Some(alt) = u32_alternative {
        if !diags.has_errors() {
            for h in &site.hosts {
                diags.extend(crate::emit::u32_expressible_with(&h.plan, alt));
            }
            diags.sort();
        }
    }
    lint::apply_suppressions(id, text, &mut diags);
    (site, diags)
}

/// Drop the diagnostics `levels` allows; the rest keep their order.
pub fn filter(levels: &Levels, diags: &mut Vec<Diagnostic>) {
    diags.retain(|d| levels.severity(d.code).is_some());
}

/// The severity `d` is shown with under `levels` (call after `filter`).
pub fn severity_under(levels: &Levels, d: &Diagnostic) -> Severity {
    levels.severity(d.code).unwrap_or(Severity::Hint)
}

/// Whether any of `diags` is an error under `levels`.
pub fn has_errors(levels: &Levels, diags: &[Diagnostic]) -> bool {
    diags
        .iter()
        .any(|d| severity_under(levels, d) == Severity::Error)
}

/// When the one-line count of errors and warnings is printed after human diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    /// After any error or warning (`check`).
    Always,
    /// Only when there are errors (the commands that go on to produce something).
    OnErrors,
}

/// Filter `diags` by `levels` and print them in `format` (human on stderr, the others on
/// stdout); `files` is how many inputs were read (named in the summary when more than one).
/// Returns whether any reported diagnostic is an error.
pub fn report(
    format: Format,
    color: ColorWhen,
    sources: &Sources,
    diags: &mut Vec<Diagnostic>,
    levels: &Levels,
    summary: Summary,
    files: usize,
) -> std::io::Result<bool> {
    report_with(
        format,
        color,
        sources,
        diags,
        levels,
        summary,
        files,
        vec![],
    )
}

/// `report`, with the outcome of every `expect` line for the JSON format (`tcc check`).
#[allow(clippy::too_many_arguments)]
pub fn report_with(
    format: Format,
    color: ColorWhen,
    sources: &Sources,
    diags: &mut Vec<Diagnostic>,
    levels: &Levels,
    summary: Summary,
    files: usize,
    expectations: Vec<report::JsonExpectation>,
) -> std::io::Result<bool> {
    let written = (|| -> std::io::Result<bool> {
        filter(levels, diags);
        let severity = |d: &Diagnostic| severity_under(levels, d);
        let errors = has_errors(levels, diags);
        // Buffered: pretty JSON of 40k diagnostics is a million lines.
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        match format {
            Format::Json => {
                let mut r = report::to_json_with(sources, diags, &severity);
                r.expectations = expectations;
                serde_json::to_writer_pretty(&mut out, &r).map_err(std::io::Error::other)?;
                writeln!(out)?;
            }
            Format::Github => {
                out.write_all(report::ci::github(sources, diags, &severity).as_bytes())?
            }
            Format::Sarif => {
                let log = report::ci::sarif(sources, diags, &severity);
                serde_json::to_writer_pretty(&mut out, &log).map_err(std::io::Error::other)?;
                writeln!(out)?;
            }
            Format::Human => {
                let mut err = stderr(color);
                report::emit_human_with(&mut err, sources, diags, &severity)?;
                if summary == Summary::Always || errors {
                    write_summary(&mut err, diags, &severity, files)?;
                }
            }
        }
        out.flush()?;
        Ok(errors)
    })();
    if let Err(e) = &written {
        // Standard output (or error) is gone: say so where it can still be read.
        let _ = writeln!(
            std::io::stderr(),
            "error: cannot write to standard output: {e}"
        );
    }
    written
}

/// `2 errors and 1 warning found[ in 3 files]`, or nothing when there is neither.
pub fn write_summary(
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

/// A `.shape` input read, analysed and checked, its diagnostics already printed; for a site
/// file, the plan of the host picked.
pub struct Loaded {
    pub plan: Plan,
    /// The host picked in a site file (`None` for a file without `host` blocks).
    pub host: Option<String>,
    pub sources: Sources,
    pub levels: Levels,
    /// The input's name as shown (`<stdin>` for `-`).
    pub name: String,
}

/// Read, analyse and check a `.shape` file for a command that produces something from it
/// (compile, graph, plan, apply, teardown): its diagnostics go to stderr under `lint`'s levels,
/// with the u32 checks when `u32_alt` names the classifier to suggest instead. `Err`: the exit
/// status when it cannot be used (unreadable, or errors).
pub fn load(
    file: &std::path::Path,
    color: ColorWhen,
    lint: &LintArgs,
    u32_alt: Option<&str>,
    pick: crate::cli::host::Pick,
) -> Result<Loaded, crate::cli::ExitCode> {
    let s = load_site(file, color, lint, u32_alt)?;
    let (plan, host) = crate::cli::host::choose(s.site, &s.name, pick)?;
    Ok(Loaded {
        plan,
        host,
        sources: s.sources,
        levels: s.levels,
        name: s.name,
    })
}

/// A `.shape` input read, analysed and checked as a site (every host), its diagnostics printed.
pub struct LoadedSite {
    pub site: Site,
    pub sources: Sources,
    pub levels: Levels,
    pub name: String,
    pub text: String,
}

/// `load`, keeping every host (`tcc compile --emit-dir` on a site file).
pub fn load_site(
    file: &std::path::Path,
    color: ColorWhen,
    lint: &LintArgs,
    u32_alt: Option<&str>,
) -> Result<LoadedSite, crate::cli::ExitCode> {
    use crate::cli::{io_error, read_input, ExitCode};
    let levels = lint.levels().map_err(|e| io_error(&e))?;
    let (name, text) = read_input(file).map_err(|e| io_error(&e))?;
    let mut sources = Sources::new();
    let id = sources.add(name.clone(), text.clone());
    let (site, found) = analyze_shape(id, &text, u32_alt);
    let mut items = found.items;
    match report(
        Format::Human,
        color,
        &sources,
        &mut items,
        &levels,
        Summary::OnErrors,
        1,
    ) {
        Err(_) => Err(ExitCode::Usage),
        Ok(true) => Err(ExitCode::Failed),
        Ok(false) => Ok(LoadedSite {
            site,
            sources,
            levels,
            name,
            text,
        }),
    }
}
