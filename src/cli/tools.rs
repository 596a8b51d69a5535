//! The everyday subcommands: `explain-code`, `fmt`, `graph`, `completions`, `man`.

use crate::cli::{io_error, read_input, stderr, Cli, ColorWhen, ExitCode};
use crate::diagnostic::Code;
use crate::report::{self, Sources};
use clap::{CommandFactory, ValueEnum};
use std::path::PathBuf;

include!(concat!(env!("OUT_DIR"), "/examples.rs"));

pub const EXPLAIN_CODE_EXAMPLES: &str = "Examples:
  tcc explain-code E0201                        # what it means, how to fix it, an example
  tcc explain-code --list                       # every code with its summary";

pub const MAN_EXAMPLES: &str = "Examples:
  tcc man -o /usr/local/share/man/man1          # tcc.1 and one page per subcommand";

pub const FMT_EXAMPLES: &str = "Examples:
  tcc fmt site.shape               # rewrite in place
  tcc fmt --check configs/         # exit 1 and list the files that are not formatted
  tcc fmt - < site.shape           # formatted text on standard output";

pub const GRAPH_EXAMPLES: &str = "Examples:
  tcc graph site.shape -o site.svg
  tcc graph site.shape --format dot | dot -Tpng -o site.png";

pub const COMPLETIONS_EXAMPLES: &str = "Examples:
  tcc completions bash > ~/.local/share/bash-completion/completions/tcc
  tcc completions zsh > ~/.zfunc/_tcc
  tcc completions fish > ~/.config/fish/completions/tcc.fish";

#[derive(clap::Args, Debug)]
pub struct ExplainCodeArgs {
    /// The code, e.g. E0201 (case-insensitive).
    #[arg(required_unless_present = "list")]
    pub code: Option<String>,
    /// List every code with its one-line summary.
    #[arg(long)]
    pub list: bool,
}

#[derive(clap::Args, Debug)]
pub struct FmtArgs {
    /// Files or directories (every `*.shape` below); `-` formats standard input to standard output.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Change nothing; exit 1 if any file is not formatted, listing it.
    #[arg(long)]
    pub check: bool,
}

#[derive(clap::Args, Debug)]
pub struct GraphArgs {
    /// The .shape file (`-` for standard input).
    pub file: PathBuf,
    /// Picture format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Svg)]
    pub format: GraphFormat,
    /// Where to write it (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub lint: crate::cli::diags::LintArgs,
    #[command(flatten)]
    pub host: crate::cli::host::HostArg,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphFormat {
    /// A self-contained SVG image (no Graphviz needed).
    Svg,
    /// Graphviz DOT source.
    Dot,
}

#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing).
    #[arg(short, long, default_value = "man")]
    pub output: PathBuf,
}

/// The example for `code` (path, text) from `corpus/invalid` or `corpus/script-lint`, embedded
/// at build time.
pub fn example(code: Code) -> Option<(&'static str, &'static str)> {
    EXAMPLES
        .iter()
        .find(|(c, _, _)| *c == code.as_str())
        .map(|(_, name, text)| (*name, *text))
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut col = 0;
    for word in text.split_whitespace() {
        if col > 0 && col + 1 + word.chars().count() > width {
            out.push('\n');
            col = 0;
        } else if col > 0 {
            out.push(' ');
            col += 1;
        }
        out += word;
        col += word.chars().count();
    }
    out
}

/// The text `tcc explain-code CODE` prints.
pub fn explanation_text(code: Code) -> String {
    let mut s = format!(
        "{}: {} ({})\n\n{}\n",
        code,
        code.summary(),
        match code.severity() {
            crate::diagnostic::Severity::Error => "error",
            crate::diagnostic::Severity::Warning => "warning",
            crate::diagnostic::Severity::Hint => "hint",
        },
        wrap(crate::diagnostic::explanations::explanation(code), 80)
    );
    if let Some((name, text)) = example(code) {
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with("# expect:"))
            .map(|l| format!("    {l}\n"))
            .collect();
        s += &format!("\nExample ({name}):\n\n{body}");
        let mut sources = Sources::new();
        let id = sources.add(name.to_string(), text.to_string());
        let (plan, mut diags) = crate::check(id, name, text);
        if !name.ends_with(".sh") && text.contains("# classifier: u32") && !diags.has_errors() {
            diags.extend(crate::emit::u32_expressible(&plan));
        }
        diags.items.retain(|d| d.code == code);
        if !diags.items.is_empty() {
            s += "\nwhich tcc reports as:\n\n";
            for l in report::to_plain_string(&sources, &diags.items).lines() {
                s += format!("    {l}\n").trim_end();
                s.push('\n');
            }
        }
    }
    s
}

pub fn print_explanation(code: &str) -> ExitCode {
    match Code::parse(code) {
        Some(c) => match crate::cli::output::write_stdout(explanation_text(c).as_bytes()) {
            Ok(()) => ExitCode::Ok,
            Err(e) => crate::cli::stdout_error(&e),
        },
        None => io_error(
            &crate::report::lint::parse_selector(code)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_else(|| format!("`{code}` is not a diagnostic code")),
        ),
    }
}

pub fn explain_code(a: ExplainCodeArgs) -> ExitCode {
    if a.list {
        let list: String = Code::ALL
            .iter()
            .map(|c| format!("{}  {}\n", c, c.summary()))
            .collect();
        return match crate::cli::output::write_stdout(list.as_bytes()) {
            Ok(()) => ExitCode::Ok,
            Err(e) => crate::cli::stdout_error(&e),
        };
    }
    print_explanation(a.code.as_deref().unwrap_or_default())
}

pub fn fmt(a: FmtArgs, color: ColorWhen) -> ExitCode {
    let inputs = match crate::cli::input::collect_inputs(&a.files) {
        Ok(i) => i,
        Err(e) => return io_error(&e),
    };
    let mut unformatted = 0;
    let mut failed = false;
    for path in &inputs {
        let (name, text) = match read_input(path) {
            Ok(x) => x,
            Err(e) => return io_error(&e),
        };
        let formatted = match crate::syntax::fmt::format(&text) {
            Ok(f) => f,
            Err(d) => {
                let mut sources = Sources::new();
                let id = sources.add(name, text);
                let d = crate::diagnostic::Diagnostic {
                    primary: crate::diagnostic::Span {
                        file: id,
                        ..d.primary
                    },
                    ..d
                };
                let _ = report::emit_human(&mut stderr(color), &sources, &[d]);
                failed = true;
                continue;
            }
        };
        let stdin = path.as_os_str() == "-";
        if a.check {
            if formatted != text {
                unformatted += 1;
                if let Err(e) =
                    crate::cli::output::write_stdout(format!("{name}: not formatted\n").as_bytes())
                {
                    return crate::cli::stdout_error(&e);
                }
            }
        } else if stdin {
            if let Err(e) = crate::cli::output::write_stdout(formatted.as_bytes()) {
                return crate::cli::stdout_error(&e);
            }
        } else if formatted != text {
            if let Err(e) = crate::cli::output::write_file(
                path,
                formatted.as_bytes(),
                crate::cli::output::Mode::Keep,
                &[],
            ) {
                return io_error(&e);
            }
        }
    }
    if failed || unformatted > 0 {
        if unformatted > 0 {
            eprintln!(
                "{unformatted} file{} not formatted; run `tcc fmt` on {}",
                if unformatted == 1 { "" } else { "s" },
                if unformatted == 1 { "it" } else { "them" }
            );
        }
        ExitCode::Failed
    } else {
        ExitCode::Ok
    }
}

pub fn graph(a: GraphArgs, color: ColorWhen) -> ExitCode {
    use crate::cli::diags;
    let (plan, name) = match diags::load(&a.file, color, &a.lint, None, a.host.pick(false)) {
        Ok(l) => (l.plan, l.name),
        Err(c) => return c,
    };
    let title = crate::cli::file_name(&name);
    let picture = match a.format {
        GraphFormat::Svg => crate::emit::graph::svg(&plan, &title),
        GraphFormat::Dot => crate::emit::graph::dot(&plan, &title),
    };
    write_out(a.output.as_deref(), &picture, &a.file)
}

fn write_out(path: Option<&std::path::Path>, text: &str, input: &std::path::Path) -> ExitCode {
    let written = match path {
        None => crate::cli::output::write_stdout(text.as_bytes()).map_err(|e| {
            crate::cli::stdout_error(&e);
        }),
        Some(p) => crate::cli::output::write_file(
            p,
            text.as_bytes(),
            crate::cli::output::Mode::Data,
            &[input],
        )
        .map_err(|e| {
            io_error(&e);
        }),
    };
    match written {
        Ok(()) => ExitCode::Ok,
        Err(()) => ExitCode::Usage,
    }
}

pub fn completions(a: CompletionsArgs) -> ExitCode {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "tcc", &mut buf);
    match crate::cli::output::write_stdout(&buf) {
        Ok(()) => ExitCode::Ok,
        Err(e) => crate::cli::stdout_error(&e),
    }
}

/// Render the man pages: `tcc.1` and `tcc-SUBCOMMAND.1`, as `(file name, roff text)`.
pub fn man_pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let cmd = Cli::command();
    let mut pages = Vec::new();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
    pages.push(("tcc.1".to_string(), buf));
    for sub in cmd.get_subcommands() {
        let name = format!("tcc-{}", sub.get_name());
        let sub = sub.clone().name(name.clone());
        let mut buf = Vec::new();
        clap_mangen::Man::new(sub).render(&mut buf)?;
        pages.push((format!("{name}.1"), buf));
    }
    Ok(pages)
}

pub fn man(a: ManArgs) -> ExitCode {
    let pages = match man_pages() {
        Ok(p) => p,
        Err(e) => return io_error(&format!("cannot render man pages: {e}")),
    };
    if let Err(e) = std::fs::create_dir_all(&a.output) {
        return io_error(&format!("cannot create `{}`: {e}", a.output.display()));
    }
    for (name, text) in pages {
        let p = a.output.join(&name);
        if let Err(e) =
            crate::cli::output::write_file(&p, &text, crate::cli::output::Mode::Data, &[])
        {
            return io_error(&e);
        }
        if let Err(e) = crate::cli::output::write_stdout(format!("{}\n", p.display()).as_bytes()) {
            return crate::cli::stdout_error(&e);
        }
    }
    ExitCode::Ok
}
