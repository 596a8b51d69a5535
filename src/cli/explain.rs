//! `tcc explain FILE [-- ARGS...] [--format text|json|dot] [--to shape]`, and `tcc explain
//! --live [--interface IF]...`: the kernel's state, written as the script that would build it
//! (`apply::snapshot`), read like any script.

use crate::cli::diags::{self, LintArgs};
use crate::cli::{ColorWhen, ExitCode};
use crate::report::{self, Sources};
use clap::ValueEnum;
use std::io::Write;
use std::path::PathBuf;

pub const EXPLAIN_EXAMPLES: &str = "Examples:
  tcc explain apply.sh                          # what the script sets up, in words, with lints
  tcc explain apply.sh -- eth0 100mbit          # values for $1 and $2
  tcc explain apply.sh --format json            # the plan, notes and diagnostics
  tcc explain apply.sh --format svg > tree.svg  # the class trees as a picture
  tcc explain apply.sh --to shape > site.shape  # import into the .shape language
  tcc explain apply.sh --allow S0002            # quiet a lint (or `# tcc: allow S0002`)
  tcc explain --live --interface eth0           # what the kernel holds now (as root)
  tcc explain --live --to shape > site.shape    # import a machine you inherited

Exit status: 0 read, 1 the script has errors, 2 usage or I/O error.";

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// The shell script to read (`-` for standard input).
    #[arg(required_unless_present = "live", conflicts_with = "live")]
    pub file: Option<PathBuf>,
    /// Read what the kernel holds now (tc over netlink, the mangle tables, the nftables
    /// ruleset) instead of a script. Reading the firewall needs root (CAP_NET_ADMIN).
    #[arg(long)]
    pub live: bool,
    /// With `--live`: read only this interface (repeatable). Default: every interface with a
    /// root or ingress qdisc of its own.
    #[arg(long, short = 'i', requires = "live")]
    pub interface: Vec<String>,
    /// How to print the explanation.
    #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
    pub format: ExplainFormat,
    /// Print an equivalent .shape file instead of the explanation.
    #[arg(long, value_enum)]
    pub to: Option<ImportTarget>,
    /// Positional parameters for the script (`$1`, `$2`...), after `--`.
    #[arg(last = true)]
    pub args: Vec<String>,
    #[command(flatten)]
    pub lint: LintArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExplainFormat {
    /// Plain words, per interface.
    Text,
    /// The plan, notes and diagnostics as JSON.
    Json,
    /// A Graphviz picture of the class trees.
    Dot,
    /// A self-contained SVG picture of the class trees (the same as `tcc graph` draws).
    Svg,
    /// The script that was read, as read: with `--live`, the kernel's state written as the
    /// script that would build it (the line numbers of the explanation are its lines).
    Script,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportTarget {
    /// The tcc shaping language.
    Shape,
}

pub fn run(a: ExplainArgs, color: ColorWhen) -> ExitCode {
    let levels = match a.lint.levels() {
        Ok(l) => l,
        Err(e) => return crate::cli::io_error(&e),
    };
    let mut sources = Sources::new();
    let (name, text, id, mut ex) = match &a.file {
        Some(file) => {
            let (name, text) = match crate::cli::read_input(file) {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::Usage;
                }
            };
            let id = sources.add(name.clone(), text.clone());
            // A file in nft's own syntax (`rules.nft`, `nft list ruleset > x.nft`) is read as
            // `nft -f`.
            let ex = if name.ends_with(".nft") {
                crate::explain::explain_nft(id, &text)
            } else {
                let mut files = crate::cli::input::Beside::new(file, &mut sources);
                crate::explain::explain_with(id, &text, &a.args, &mut files)
            };
            (name, text, id, ex)
        }
        None => match live(&a.interface, &mut sources) {
            Ok(x) => x,
            Err(code) => return code,
        },
    };
    crate::report::lint::apply_suppressions(id, &text, &mut ex.diags);
    diags::filter(&levels, &mut ex.diags.items);
    let severity = |d: &crate::diagnostic::Diagnostic| diags::severity_under(&levels, d);
    let mut out = std::io::stdout().lock();
    let mut status = if diags::has_errors(&levels, &ex.diags.items) {
        ExitCode::Failed
    } else {
        ExitCode::Ok
    };
    let printed = match (a.to, a.format) {
        (Some(ImportTarget::Shape), _) => {
            let shape = crate::explain::to_shape::to_shape(&ex.plan_as_written, &name);
            let mut s2 = Sources::new();
            let id2 = s2.add("import.shape", shape.clone());
            let (plan2, d2) = crate::analyze(id2, &shape);
            let lost: Vec<(Option<String>, String)> = ex
                .lost()
                .iter()
                .map(|d| {
                    let (line, _) = sources.line_col(d.primary.file, d.primary.start);
                    let dev = ex
                        .notes
                        .iter()
                        .find(|n| n.span == d.primary)
                        .and_then(|n| n.device.clone());
                    let at = if d.primary.file == id {
                        format!("line {line}")
                    } else {
                        format!("{} line {line}", sources.name(d.primary.file))
                    };
                    (dev, format!("{at} [{}]: {}", d.code, d.message))
                })
                .collect();
            let shape = crate::explain::to_shape::with_losses(&shape, &lost);
            if !lost.is_empty() {
                eprintln!(
                    "tcc: the import is not equivalent: {} piece{} of the script that change{} how packets are queued, limited or classified {} not carried:",
                    lost.len(),
                    if lost.len() == 1 { "" } else { "s" },
                    if lost.len() == 1 { "s" } else { "" },
                    if lost.len() == 1 { "is" } else { "are" },
                );
                for (_, t) in &lost {
                    eprintln!("  - {t}");
                }
                status = ExitCode::Failed;
            } else if !d2.has_errors()
                && crate::explain::to_shape::equivalent(&ex.plan, &plan2).is_ok()
            {
                eprintln!(
                    "tcc: checked: `tcc compile` of this file gives the plan the script sets up"
                );
            }
            if d2.has_errors() && ex.diags.has_errors() {
                eprintln!("tcc: the imported .shape file keeps the script's errors: `tcc compile` refuses it until they are fixed");
                status = ExitCode::Failed;
            } else if d2.has_errors() {
                eprintln!("tcc: the imported .shape file does not compile; please report this:");
                let _ = report::emit_human(&mut crate::cli::stderr(color), &s2, &d2.items);
                status = ExitCode::Failed;
            } else if let Err(e) = crate::explain::to_shape::equivalent(&ex.plan, &plan2) {
                eprintln!(
                    "tcc: warning: the imported .shape file is not equivalent to the script: {e}"
                );
                status = ExitCode::Failed;
            }
            out.write_all(shape.as_bytes())
        }
        (None, ExplainFormat::Text) => {
            out.write_all(crate::explain::describe::text(&ex, &sources, id).as_bytes())
        }
        (None, ExplainFormat::Json) => {
            let v = crate::explain::describe::json_with(&ex, &sources, &severity);
            serde_json::to_writer_pretty(&mut out, &v)
                .map_err(std::io::Error::other)
                .and_then(|_| writeln!(out))
        }
        (None, ExplainFormat::Dot) => out.write_all(crate::explain::describe::dot(&ex).as_bytes()),
        (None, ExplainFormat::Script) => out.write_all(text.as_bytes()),
        (None, ExplainFormat::Svg) => {
            out.write_all(crate::emit::graph::svg(&ex.plan, &sources.name(id)).as_bytes())
        }
    };
    if let Err(e) = printed.and_then(|_| out.flush()) {
        return crate::cli::stdout_error(&e);
    }
    if a.format != ExplainFormat::Json {
        let mut err = crate::cli::stderr(color);
        if report::emit_human_with(&mut err, &sources, &ex.diags.items, &severity).is_err() {
            return ExitCode::Usage;
        }
    }
    status
}

/// The live state as a script (`apply::snapshot`), added to `sources` as `<live kernel>` and
/// read; each part that could not be read is S0001 at its comment.
fn live(
    interfaces: &[String],
    sources: &mut Sources,
) -> Result<(String, String, usize, crate::explain::Explained), ExitCode> {
    use crate::diagnostic::{Code, Diagnostic, Span};
    let snap = match crate::apply::snapshot::read(interfaces) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: tcc explain --live: {e}");
            if matches!(e, crate::apply::snapshot::SnapshotError::Netlink(_)) {
                eprintln!("  (reading the kernel's state needs CAP_NET_ADMIN in some setups: run as root)");
            }
            return Err(ExitCode::Usage);
        }
    };
    let name = crate::explain::describe::LIVE_SOURCE.to_string();
    let id = sources.add(name.clone(), snap.text.clone());
    let mut ex = crate::explain::explain(id, &snap.text, &[]);
    for u in &snap.unread {
        ex.diags.push(
            Diagnostic::new(
                Code::ScriptNotFollowed,
                Span::new(id, u.at.start, u.at.end),
                format!("{} — rules there were not read", u.what),
            )
            .label("not read")
            .help("run as root (CAP_NET_ADMIN), with the tool installed, so that tcc can read it"),
        );
    }
    Ok((name, snap.text, id, ex))
}
