//! The documentation says only what is so about the command line:
//! - every `tcc ...` command written in README.md and docs/*.md (`$ tcc` or `tcc` lines of
//!   ```console, ```sh and plain ``` blocks; `cargo run --release -- ...` counts as `tcc ...`)
//!   and in every `--help` example is accepted by the argument parser (synopses with `a|b`,
//!   `[...]` or `...` are skipped);
//! - a documented command that ends in `# exit N` is run from the repository root, and must
//!   exit with N (the convention: write `# exit 0` too when the status matters);
//! - every subcommand's `--help` has examples.

use clap::{CommandFactory, Parser};
use std::path::Path;
use std::process::Command;
use tcc::cli::Cli;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A `tcc` command found in a document: where, the words after `tcc`, and the exit status the
/// document promises (if it says).
#[derive(Debug)]
struct Documented {
    place: String,
    words: Vec<String>,
    exit: Option<i32>,
}

/// The words of a command line up to the first shell operator, or `None` for a synopsis.
fn words(line: &str) -> Option<Vec<String>> {
    let code = line.split(" #").next().unwrap_or(line);
    let mut out = vec![];
    for w in code.split_whitespace() {
        if ["|", "||", "&&", ";", ">", "<", "2>", "2>&1"].contains(&w)
            || w.starts_with('>')
            || w.starts_with('<')
        {
            break;
        }
        if w.contains('|') || w.starts_with('[') || w.contains("...") || w.contains('$') {
            return None;
        }
        out.push(w.trim_end_matches(';').to_string());
    }
    Some(out)
}

fn exit_of(line: &str) -> Option<i32> {
    let c = line.split(" #").nth(1)?;
    c.trim()
        .strip_prefix("exit ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn documented() -> Vec<Documented> {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut out = vec![];
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let name = f.strip_prefix(root()).unwrap().display().to_string();
        let mut fence: Option<String> = None;
        for (n, line) in text.lines().enumerate() {
            let t = line.trim_start();
            if let Some(info) = t.strip_prefix("```") {
                fence = match fence {
                    None => Some(info.split_whitespace().next().unwrap_or("").to_string()),
                    Some(_) => None,
                };
                continue;
            }
            let t = t.strip_prefix("$ ").unwrap_or(t);
            let cmd = match fence.as_deref() {
                Some("console" | "sh" | "") => t
                    .strip_prefix("tcc ")
                    .or_else(|| t.strip_prefix("cargo run --release -- ")),
                _ => None,
            };
            let Some(cmd) = cmd else { continue };
            if let Some(w) = words(cmd) {
                out.push(Documented {
                    place: format!("{name}:{}", n + 1),
                    words: w,
                    exit: exit_of(cmd),
                });
            }
        }
    }
    out
}

#[test]
fn documented_commands_parse_and_exit_as_documented() {
    let found = documented();
    assert!(found.len() > 20, "too few documented commands: {found:?}");
    assert!(
        found.iter().filter(|d| d.exit.is_some()).count() >= 5,
        "too few commands with `# exit N`"
    );
    let mut failures = vec![];
    for d in &found {
        let args = std::iter::once("tcc".to_string()).chain(d.words.iter().cloned());
        if let Err(e) = Cli::try_parse_from(args) {
            // `--help` and `--version` "fail" with a message to print; they are fine.
            if e.use_stderr() {
                failures.push(format!("{}: tcc {}: {e}", d.place, d.words.join(" ")));
                continue;
            }
        }
        let Some(want) = d.exit else { continue };
        let o = Command::new(env!("CARGO_BIN_EXE_tcc"))
            .args(&d.words)
            .current_dir(root())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        if o.status.code() != Some(want) {
            failures.push(format!(
                "{}: tcc {}: exit {:?}, documented {want}\n{}",
                d.place,
                d.words.join(" "),
                o.status.code(),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_subcommand_help_has_examples_that_parse() {
    let cmd = Cli::command();
    let mut failures = vec![];
    for sub in cmd.get_subcommands() {
        let name = sub.get_name();
        let help = sub
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        if !help.contains("Examples:") {
            failures.push(format!("`tcc {name} --help` has no examples"));
            continue;
        }
        let lines: Vec<&str> = help
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("tcc "))
            .collect();
        if lines.is_empty() {
            failures.push(format!("`tcc {name} --help` examples show no command"));
        }
        for l in lines {
            let Some(w) = words(l) else { continue };
            let args = std::iter::once("tcc".to_string()).chain(w.iter().cloned());
            if let Err(e) = Cli::try_parse_from(args) {
                if e.use_stderr() {
                    failures.push(format!("`tcc {name} --help`: tcc {l}: {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
