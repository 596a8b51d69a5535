//! Reading a POSIX shell script far enough to know which commands it runs.
//!
//! A small reader written for the job (shell parsers on crates.io either pull in a whole shell or
//! do not evaluate): it tokenises with quotes, `\` continuations and comments, parses simple
//! commands, `&&`/`||`/`|` lists, `if`/`elif`/`else`, `for`, `while`/`until`, `{ }`, `( )` and
//! function definitions, and then *evaluates* the script symbolically: variables (`X=1`, `$X`,
//! `${X}`, `${X:-d}`), positional parameters, `$(seq a b)`, `$((arithmetic))`, loops, and calls
//! of the script's own functions. Every simple command that results comes out with its expanded
//! words, each word keeping the span it was written at.
//!
//! Both branches of an `if` are read, and their commands are marked conditional, as are the
//! right-hand sides of `&&`/`||` and loop bodies of `while`. What the reader cannot follow
//! (`case`, `eval`, `source`, unknown command substitutions, unset variables...) becomes a
//! diagnostic with its place; the reader never panics and never drops a command silently.
//!
//! `lex` tokenises, `parse` builds the syntax tree, `eval` expands and runs it symbolically;
//! this module holds the types the rest of tcc sees and `read`, which chains the three.

mod eval;
mod lex;
mod parse;
pub mod quote;

use crate::diagnostic::{Diagnostics, Span};
use eval::Eval;
use lex::Lexer;
use parse::Parser;
use std::collections::HashMap;

/// One word of a command after expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub span: Span,
}

/// One simple command the script runs.
#[derive(Debug, Clone)]
pub struct Command {
    pub words: Vec<Word>,
    /// From the first word to the last as written.
    pub span: Span,
    /// Inside an `if`, after `&&`/`||`, or in a `while` loop: it may not run.
    pub conditional: bool,
    /// A comment at the end of the line the command ends on (`tc class add ...  # web`).
    pub comment: Option<String>,
}

/// What reading a script gives.
#[derive(Debug, Default)]
pub struct Script {
    pub commands: Vec<Command>,
    pub diags: Diagnostics,
    /// `set -e` was seen.
    pub set_e: bool,
}

/// Limits that keep reading bounded on any input.
const MAX_COMMANDS: usize = 200_000;
const MAX_CALL_DEPTH: usize = 64;
const MAX_SEQ: i64 = 65_536;

pub fn read(file: usize, text: &str, args: &[String]) -> Script {
    let mut lx = Lexer {
        file,
        src: text.as_bytes(),
        text,
        pos: 0,
        diags: Diagnostics::default(),
    };
    let toks = lx.tokens();
    let mut p = Parser {
        toks,
        pos: 0,
        file,
        diags: lx.diags,
    };
    let prog = p.program();
    let mut ev = Eval {
        file,
        vars: HashMap::new(),
        positional: args.to_vec(),
        funcs: HashMap::new(),
        out: Script {
            diags: p.diags,
            ..Script::default()
        },
        depth: 0,
        stopped: false,
        reported_vars: Vec::new(),
    };
    ev.vars.insert("0".into(), "script".into());
    ev.block(&prog, false);
    ev.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds(text: &str, args: &[&str]) -> Vec<String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        read(0, text, &args)
            .commands
            .iter()
            .map(|c| {
                let w: Vec<&str> = c.words.iter().map(|w| w.text.as_str()).collect();
                format!("{}{}", if c.conditional { "?" } else { "" }, w.join(" "))
            })
            .collect()
    }

    #[test]
    fn variables_loops_functions() {
        let s = "#!/bin/sh\nset -e\nDEV=${1:-eth0}\nR=\"10 20\"\nf() { tc x \"$1\" $2; }\nfor i in $(seq 1 2) a; do\n  f $DEV ${i}\\\n  done_not\ndone\nfor r in $R; do echo $((r*2+1)); done\nif [ -n \"$DEV\" ]; then tc y; else tc z; fi\ntc a || true # c\n";
        assert_eq!(
            cmds(s, &["eth1"]),
            [
                "tc x eth1 1",
                "tc x eth1 2",
                "tc x eth1 a",
                "echo 21",
                "echo 41",
                "?[ -n eth1 ]",
                "?tc y",
                "?tc z",
                "tc a",
                "?true"
            ]
        );
        let r = read(0, s, &[]);
        assert!(r.set_e);
        assert_eq!(r.commands[8].comment.as_deref(), Some("c"));
    }

    /// A here-document's lines are data: never commands (before, `class add ...` fed to
    /// `tc -batch -` came out as a command `class`, "not about shaping"); each body is reported.
    #[test]
    fn heredoc_bodies_are_not_commands() {
        let s = "tc -batch - <<-'EOF'\n\tclass add dev eth0\n\tEOF\ncat <<X >f; echo a\nqdisc x\nX\necho b\n";
        assert_eq!(cmds(s, &[]), ["tc -batch -", "cat", "echo a", "echo b"]);
        let r = read(0, s, &[]);
        assert_eq!(
            r.diags
                .items
                .iter()
                .filter(|d| d.message.starts_with("a here-document"))
                .count(),
            2
        );
    }

    #[test]
    fn never_panics_on_broken_input() {
        for s in [
            "if",
            "for",
            "\"",
            "'",
            "${",
            "$((",
            "f() {",
            "case x in a) ;; esac",
            ")",
            "}}",
            "a && ",
            "$(\\é",
            "`\\é`é",
            "'é",
            "\"\\é\"",
            "${é:-ü}",
            "$((é))",
            "x=\\",
            "\\",
            "é\\\né",
            "${x:-",
            "${:-}",
            "$(",
            "`",
            "x=$((1/0))",
            "while; do",
            "fi done",
            "cat <<",
            "cat <<-",
            "cat <<'E\n",
            "cat <<E; cat <<F\nE\n",
        ] {
            let _ = read(0, s, &[]);
        }
    }
}
