//! The command line: clap arguments, and the only module that prints or knows exit statuses.
//! A thin layer: read files, call the library (which returns diagnostics or typed errors),
//! print, choose the exit status (`ExitCode`: 0 clean, 1 errors, 2 usage or I/O problems,
//! 3 changes pending for `plan`).

pub mod apply;
pub mod check;
pub mod compile;
pub mod diags;
pub mod explain;
pub mod fleet;
pub mod host;
pub mod input;
pub mod output;
pub mod status;
pub mod tools;

use crate::emit::{Classifier, ShOptions};
use clap::{Parser, Subcommand, ValueEnum};
use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};
pub(crate) use input::read_input;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "tcc",
    version,
    about = "A compiler for Linux traffic shaping: .shape files in, tc + iptables out"
)]
#[command(
    after_help = "Examples:\n  tcc compile corpus/valid/seed-example-1.shape -o apply.sh\n  tcc compile site.shape --teardown -o undo.sh\n  tcc check site.shape --format json --deny warnings\n  tcc check configs/ --format github\n  tcc fmt --check configs/\n  tcc graph site.shape -o site.svg\n  tcc explain-code E0201"
)]
pub struct Cli {
    /// When to use colour in diagnostics (NO_COLOR is honoured with `auto`).
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, global = true)]
    pub color: ColorWhen,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compile a .shape file to a script that applies it.
    #[command(after_help = COMPILE_EXAMPLES)]
    Compile(CompileArgs),
    /// Check .shape files (and .sh scripts, read as `tcc explain` reads them); exit 1 on errors.
    #[command(after_help = crate::cli::check::CHECK_EXAMPLES)]
    Check(CheckArgs),
    /// Read a tc/iptables shell script: explain it, lint it, or import it (`--to shape`).
    #[command(after_help = crate::cli::explain::EXPLAIN_EXAMPLES)]
    Explain(crate::cli::explain::ExplainArgs),
    /// Apply a .shape file to the kernel over netlink (only what differs from the live state).
    #[command(after_help = crate::cli::apply::APPLY_EXAMPLES)]
    Apply(crate::cli::apply::ApplyArgs),
    /// Show what `tcc apply` would change; exit 0 if nothing, 3 if something would change.
    #[command(after_help = crate::cli::apply::PLAN_EXAMPLES)]
    Plan(crate::cli::apply::PlanArgs),
    /// Show the live class tree with per-class counters and current rates.
    #[command(after_help = crate::cli::status::STATUS_EXAMPLES)]
    Status(crate::cli::status::StatusArgs),
    /// Remove tcc's configuration (the HTB root qdisc) from an interface.
    #[command(after_help = crate::cli::apply::TEARDOWN_EXAMPLES)]
    Teardown(crate::cli::apply::TeardownArgs),
    /// Explain a diagnostic code at length, with an example (like `rustc --explain`).
    #[command(after_help = crate::cli::tools::EXPLAIN_CODE_EXAMPLES)]
    ExplainCode(crate::cli::tools::ExplainCodeArgs),
    /// Rewrite .shape files in the canonical layout (comments kept).
    #[command(after_help = crate::cli::tools::FMT_EXAMPLES)]
    Fmt(crate::cli::tools::FmtArgs),
    /// Draw the class tree of a .shape file as SVG (self-contained) or Graphviz DOT.
    #[command(after_help = crate::cli::tools::GRAPH_EXAMPLES)]
    Graph(crate::cli::tools::GraphArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = crate::cli::tools::COMPLETIONS_EXAMPLES)]
    Completions(crate::cli::tools::CompletionsArgs),
    /// Write man pages (tcc.1 and one per subcommand) into a directory.
    #[command(after_help = crate::cli::tools::MAN_EXAMPLES)]
    Man(crate::cli::tools::ManArgs),
}

pub const COMPILE_EXAMPLES: &str = "Examples:
  tcc compile site.shape -o apply.sh                  # tc + iptables script
  tcc compile site.shape --teardown -o undo.sh        # removes exactly what apply.sh makes
  tcc compile site.shape --classifier u32             # tc u32 filters instead of iptables
  tcc compile site.shape --target nft --emit-dir out/ # nftables; raw parts in out/
  tcc compile site.shape --allow H0002 -o apply.sh    # quiet a hint (or `# tcc: allow H0002`)
  tcc compile fleet.shape --host dtn1 -o dtn1.sh      # one host of a site file
  tcc compile fleet.shape --emit-dir out/             # every host + Ansible playbook

Warnings and hints are printed on stderr and do not stop the script; `--deny warnings` makes
them errors. Exit status: 0 written, 1 errors in the source, 2 usage or I/O error.";

#[derive(clap::Args, Debug)]
pub struct CompileArgs {
    /// The .shape file (`-` for standard input).
    pub file: PathBuf,
    /// Where to write the script (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// What to produce.
    #[arg(long, value_enum, default_value_t = Target::Sh)]
    pub target: Target,
    /// How packets are sorted into classes.
    #[arg(long, value_enum, default_value_t = ClassifierArg::Iptables)]
    pub classifier: ClassifierArg,
    /// Emit the script that removes exactly what the apply script makes.
    #[arg(long, alias = "undo")]
    pub teardown: bool,
    /// Also write the raw inputs the script carries (`tree.batch`, `rules.nft`,
    /// `rules.iptables`, ...) into this directory (targets nft and batch).
    /// With a site file (one with `host` blocks): one script per host, `site.shape`, an Ansible
    /// inventory and playbook in this directory (docs/fleet.md).
    #[arg(long, value_name = "DIR")]
    pub emit_dir: Option<PathBuf>,
    #[command(flatten)]
    pub lint: diags::LintArgs,
    #[command(flatten)]
    pub host: host::HostArg,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Files to check: .shape files, directories (every `*.shape` below, sorted) or `-` for
    /// standard input.
    #[arg(required_unless_present = "explain")]
    pub files: Vec<PathBuf>,
    /// Output format for diagnostics: `human` (stderr), `json`, `github` or `sarif` (stdout).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub lint: diags::LintArgs,
    /// Print the long explanation of CODE and exit (same as `tcc explain-code CODE`).
    #[arg(long, value_name = "CODE")]
    pub explain: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A POSIX sh script of tc and iptables/ip6tables commands.
    Sh,
    /// A POSIX sh script: `tc -batch` for the class tree, an nftables table for classification.
    Nft,
    /// A POSIX sh script: `tc -batch` (with hashed u32 filters), or `iptables-restore` input.
    Batch,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassifierArg {
    /// iptables/ip6tables CLASSIFY rules in a tcc-owned mangle chain.
    Iptables,
    /// tc u32 filters on the root qdisc.
    U32,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// rustc-style messages with source excerpts, on stderr.
    Human,
    /// The versioned JSON report (docs/diagnostics.md), on stdout.
    Json,
    /// GitHub Actions workflow commands (`::error file=...`), on stdout.
    Github,
    /// SARIF 2.1.0 for code scanning, on stdout.
    Sarif,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// The exit status of every subcommand. The values are part of the interface (scripts test
/// them) and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Done; for `plan` and `apply --dry-run`: nothing would change.
    Ok = 0,
    /// The input has errors, or the kernel refused a change.
    Failed = 1,
    /// Usage, I/O or permission problems.
    Usage = 2,
    /// `plan` and `apply --dry-run`: changes would be made.
    Changes = 3,
}

impl From<ExitCode> for i32 {
    fn from(c: ExitCode) -> i32 {
        c as i32
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> std::process::ExitCode {
        std::process::ExitCode::from(c as u8)
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Ok
            };
        }
    };
    run(cli)
}

pub fn run(cli: Cli) -> ExitCode {
    let color = cli.color;
    match cli.command {
        Command::Compile(a) => compile(a, color),
        Command::Check(a) => crate::cli::check::check(a, color),
        Command::Explain(a) => crate::cli::explain::run(a, color),
        Command::Apply(a) => crate::cli::apply::apply_cmd(a, color),
        Command::Plan(a) => crate::cli::apply::plan_cmd(a, color),
        Command::Status(a) => crate::cli::status::status_cmd(a),
        Command::Teardown(a) => crate::cli::apply::teardown_cmd(a, color),
        Command::ExplainCode(a) => crate::cli::tools::explain_code(a),
        Command::Fmt(a) => crate::cli::tools::fmt(a, color),
        Command::Graph(a) => crate::cli::tools::graph(a, color),
        Command::Completions(a) => crate::cli::tools::completions(a),
        Command::Man(a) => crate::cli::tools::man(a),
    }
}

pub(crate) fn stderr(color: ColorWhen) -> StandardStream {
    StandardStream::stderr(color_choice(
        color,
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
        std::io::stderr().is_terminal(),
    ))
}

/// Whether to colour, as https://no-color.org asks: with `auto`, a `NO_COLOR` that is present
/// and not empty turns colour off, an empty one does not; so do a stream that is not a
/// terminal and `TERM=dumb`. Decided here rather than by termcolor's `Auto`, which treats an
/// empty `NO_COLOR` as set.
pub(crate) fn color_choice(
    color: ColorWhen,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
    is_terminal: bool,
) -> ColorChoice {
    match color {
        ColorWhen::Always => ColorChoice::Always,
        ColorWhen::Never => ColorChoice::Never,
        ColorWhen::Auto => {
            if no_color.is_some_and(|v| !v.is_empty())
                || !is_terminal
                || term.is_some_and(|t| t == "dumb")
            {
                ColorChoice::Never
            } else {
                ColorChoice::Always
            }
        }
    }
}

/// A failed write to standard output (a closed pipe, `/dev/full`): a message, exit status 2.
pub(crate) fn stdout_error(e: &std::io::Error) -> ExitCode {
    io_error(&format!("cannot write to standard output: {e}"))
}

/// Print an input/output (or usage) error; exit status 2.
pub(crate) fn io_error(msg: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::Usage
}

fn compile(a: CompileArgs, color: ColorWhen) -> ExitCode {
    let classifier = match a.classifier {
        ClassifierArg::Iptables => Classifier::Iptables,
        ClassifierArg::U32 => Classifier::U32,
    };
    let u32_alt = (classifier == Classifier::U32).then_some(crate::emit::COMPILE_ALTERNATIVE);
    let loaded = match diags::load_site(&a.file, color, &a.lint, u32_alt) {
        Ok(l) => l,
        Err(c) => return c,
    };
    if loaded.site.is_fleet() && a.host.host.is_none() {
        if let Some(dir) = &a.emit_dir {
            return fleet::emit_dir(&a, classifier, &loaded, dir);
        }
    }
    let name = loaded.name;
    let (plan, _) = match host::choose(loaded.site, &name, a.host.pick(false)) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let opts = ShOptions {
        classifier,
        teardown: a.teardown,
        source_name: file_name(&name),
    };
    let script =
        match crate::cli::compile::emit(a.target, &plan, &opts, a.emit_dir.as_deref(), &a.file) {
            Ok(s) => s,
            Err(e) => return io_error(&e),
        };
    match &a.output {
        None => {
            if let Err(e) = output::write_stdout(script.as_bytes()) {
                return stdout_error(&e);
            }
        }
        Some(path) => {
            if let Err(e) =
                output::write_file(path, script.as_bytes(), output::Mode::Script, &[&a.file])
            {
                return io_error(&e);
            }
        }
    }
    ExitCode::Ok
}

pub(crate) fn file_name(name: &str) -> String {
    Path::new(name)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn no_color_is_honoured_when_present_and_not_empty() {
        let c = |nc: Option<&str>, term: Option<&str>, tty| {
            color_choice(
                ColorWhen::Auto,
                nc.map(OsStr::new),
                term.map(OsStr::new),
                tty,
            )
        };
        assert_eq!(c(None, Some("xterm"), true), ColorChoice::Always);
        assert_eq!(c(Some(""), Some("xterm"), true), ColorChoice::Always);
        assert_eq!(c(Some("1"), Some("xterm"), true), ColorChoice::Never);
        assert_eq!(c(None, Some("xterm"), false), ColorChoice::Never);
        assert_eq!(c(None, Some("dumb"), true), ColorChoice::Never);
        assert_eq!(
            color_choice(ColorWhen::Always, Some(OsStr::new("1")), None, false),
            ColorChoice::Always
        );
    }
}
