//! `tcc explain FILE [-- ARGS...] [--format text|json|dot] [--to shape]`.

use crate::cli::{ColorWhen, ExitCode};
use crate::report::{self, Sources};
use clap::ValueEnum;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// The shell script to read (`-` for standard input).
    pub file: PathBuf,
    /// How to print the explanation.
    #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
    pub format: ExplainFormat,
    /// Print an equivalent .shape file instead of the explanation.
    #[arg(long, value_enum)]
    pub to: Option<ImportTarget>,
    /// Positional parameters for the script (`$1`, `$2`...), after `--`.
    #[arg(last = true)]
    pub args: Vec<String>,
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
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportTarget {
    /// The tcc shaping language.
    Shape,
}

pub fn run(a: ExplainArgs, color: ColorWhen) -> ExitCode {
    let (name, text) = match crate::cli::read_input(&a.file) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::Usage;
        }
    };
    let mut sources = Sources::new();
    let id = sources.add(name.clone(), text.clone());
    let ex = crate::explain::explain(id, &text, &a.args);
    let mut out = std::io::stdout().lock();
    let mut status = if ex.diags.has_errors() {
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
            if !d2.has_errors() && crate::explain::to_shape::equivalent(&ex.plan, &plan2).is_ok() {
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
            let v = crate::explain::describe::json(&ex, &sources);
            serde_json::to_writer_pretty(&mut out, &v)
                .map_err(std::io::Error::other)
                .and_then(|_| writeln!(out))
        }
        (None, ExplainFormat::Dot) => out.write_all(crate::explain::describe::dot(&ex).as_bytes()),
        (None, ExplainFormat::Svg) => {
            out.write_all(crate::emit::graph::svg(&ex.plan, &sources.name(id)).as_bytes())
        }
    };
    if let Err(e) = printed.and_then(|_| out.flush()) {
        return crate::cli::stdout_error(&e);
    }
    if a.format != ExplainFormat::Json {
        let mut err = crate::cli::stderr(color);
        if report::emit_human(&mut err, &sources, &ex.diags.items).is_err() {
            return ExitCode::Usage;
        }
    }
    status
}
