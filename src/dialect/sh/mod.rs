//! Reading a POSIX shell script far enough to know which commands it runs.
//!
//! A small reader written for the job (shell parsers on crates.io either pull in a whole shell or
//! do not evaluate): it tokenises with quotes, `\` continuations and comments, parses simple
//! commands, `&&`/`||`/`|` lists, `if`/`elif`/`else`, `for`, `while`/`until`, `{ }`, `( )` and
//! function definitions, `case` (every arm read), and then *evaluates* the script symbolically: variables (`X=1`, `$X`,
//! `${X}`, `${X:-d}`), positional parameters, `$(seq a b)`, `$((arithmetic))` and `$[...]`, loops,
//! calls of the script's own functions, and `sh -c '...'` strings (read where they are written). Every simple command that results comes out with its expanded
//! words, each word keeping the span it was written at.
//!
//! Both branches of an `if` are read, and their commands are marked conditional, as are the
//! right-hand sides of `&&`/`||` and loop bodies of `while`. What the reader cannot follow
//! (`eval`, `source`, unknown command substitutions, unset variables...) becomes a
//! diagnostic with its place; the reader never panics and never drops a command silently.
//!
//! `lex` tokenises, `parse` builds the syntax tree, `eval` expands and runs it symbolically;
//! this module holds the types the rest of tcc sees and `read`, which chains the three.

mod budget;
mod eval;
mod expand;
mod files;
mod lex;
mod parse;
pub mod quote;
mod stdin;

use crate::diagnostic::{Diagnostics, Span};
use eval::Eval;
use lex::Lexer;
use parse::Parser;
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

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
    /// What the command reads on standard input, when the reader knows it: a here-document,
    /// or the output of `printf`/`echo`/`cat` piped into it.
    pub stdin: Option<Input>,
    /// What it reads from a file it names (`tc -batch FILE`, `nft -f FILE`, a restore's FILE
    /// or `< FILE`): `None` when it names none, or when no files were given to the reader.
    pub input_file: Option<FileInput>,
}

/// Text a command reads (a here-document, a pipe), with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub text: String,
    /// Where `text` starts in the file, when it is the file's own bytes (a quoted
    /// here-document, or one without expansions): then each line's words point into it.
    pub at: Option<usize>,
    /// `<<-`: leading tabs of each line are not part of it.
    pub strip_tabs: bool,
    /// Where it comes from: the place of lines when `at` is `None`.
    pub span: Span,
}

/// One line of an `Input`, split into words as `tc -batch` and `iptables-restore` split them:
/// whitespace, `"..."`/`'...'` quotes, a `#` at the start of a word begins a comment.
#[derive(Debug, Clone)]
pub struct Line {
    pub words: Vec<Word>,
    pub comment: Option<String>,
    pub span: Span,
}

impl Input {
    /// The span of the text's bytes `a..b` (the whole input's when it is not the file's own).
    pub fn span_at(&self, a: usize, b: usize) -> Span {
        match self.at {
            Some(base) => Span::new(self.span.file, base + a, base + b),
            None => self.span,
        }
    }

    /// The lines, each with its span (into the file when `at` is known).
    pub fn lines(&self) -> Vec<Line> {
        let file = self.span.file;
        let mut out = Vec::new();
        let mut off = 0;
        for raw in self.text.split_inclusive('\n') {
            let start = off;
            off += raw.len();
            let body = raw.trim_end_matches(['\n', '\r']);
            let lead = if self.strip_tabs {
                body.len() - body.trim_start_matches('\t').len()
            } else {
                0
            };
            let at = |a: usize, b: usize| match self.at {
                Some(base) => Span::new(file, base + start + a, base + start + b),
                None => self.span,
            };
            let (words, comment) = split_line(&body[lead..], |a, b| at(lead + a, lead + b));
            out.push(Line {
                words,
                comment,
                span: at(lead, body.len()),
            });
        }
        out
    }
}

/// Split one line into words (quotes removed) and a trailing `#` comment; `at(a, b)` gives the
/// span of the line's bytes `a..b`.
pub fn split_line(line: &str, at: impl Fn(usize, usize) -> Span) -> (Vec<Word>, Option<String>) {
    let b = line.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if b[i] == b'#' {
            return (words, Some(line[i + 1..].trim().to_string()));
        }
        let start = i;
        let mut text = String::new();
        while i < b.len() && !b[i].is_ascii_whitespace() {
            match b[i] {
                q @ (b'"' | b'\'') => {
                    let close = line[i + 1..].find(q as char).map(|k| i + 1 + k);
                    let end = close.unwrap_or(b.len());
                    text.push_str(&line[i + 1..end]);
                    i = (end + 1).min(b.len());
                }
                b'\\' if i + 1 < b.len() => {
                    let ch = line[i + 1..].chars().next().unwrap_or(' ');
                    text.push(ch);
                    i += 1 + ch.len_utf8();
                }
                _ => {
                    let ch = line[i..].chars().next().unwrap_or(' ');
                    text.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        words.push(Word {
            text,
            span: at(start, i),
        });
    }
    (words, None)
}

/// What reading a script gives.
#[derive(Debug, Default)]
pub struct Script {
    pub commands: Vec<Command>,
    pub diags: Diagnostics,
    /// `set -e` was seen.
    pub set_e: bool,
}

/// What a command reads from a file it names (`tc -batch FILE`, `nft -f FILE`,
/// `iptables-restore FILE` or `< FILE`), when the script's reader was given files.
#[derive(Debug, Clone)]
pub enum FileInput {
    /// The file's text, its spans in its own file id.
    Read(Input),
    /// The file could not be read; `why` says what happened (in words, for a diagnostic).
    Unread { path: String, why: String },
}

/// A file a script names, read for it (never run).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Its id for diagnostics (the caller's source map).
    pub file: usize,
    pub text: Rc<str>,
}

/// Where the files a script names (`source`/`.`, `tc -batch FILE`, `< FILE`...) come from: the
/// caller decides where names are looked for (beside the script) and how much may be read.
pub trait Files {
    fn load(&mut self, name: &str) -> std::io::Result<Loaded>;
}

/// No files: a script read from text alone (each file it names is reported as not read).
pub struct NoFiles;

impl Files for NoFiles {
    fn load(&mut self, _: &str) -> std::io::Result<Loaded> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "only the script itself was given",
        ))
    }
}

pub fn read(file: usize, text: &str, args: &[String]) -> Script {
    read_with(file, text, args, &mut NoFiles)
}

/// `read`, with the files the script names (`source`, `tc -batch FILE`, `< FILE`...) read
/// through `files`.
pub fn read_with(file: usize, text: &str, args: &[String], files: &mut dyn Files) -> Script {
    let mut commands = Vec::new();
    let mut script = read_each(file, text, args, files, &mut |c| commands.push(c));
    script.commands = commands;
    script
}

/// `read_with`, giving each command to `each` as it is read (the script's `commands` stay
/// empty): the text is lexed, parsed and evaluated a top-level command at a time, so what is
/// held at once is one command's tokens and syntax, not the whole file's.
pub fn read_each(
    file: usize,
    text: &str,
    args: &[String],
    files: &mut dyn Files,
    each: &mut dyn FnMut(Command),
) -> Script {
    let mut lx = Lexer {
        file,
        src: text.as_bytes(),
        text,
        pos: 0,
        diags: Diagnostics::default(),
        heredocs: Vec::new(),
        nest: 0,
    };
    let mut p = Parser {
        toks: Vec::new(),
        pos: 0,
        file,
        diags: Diagnostics::default(),
        heredocs_seen: 0,
        heredoc: None,
        stdin_file: None,
        ended: Cell::new(false),
        idle: Cell::new(true),
        depth: 0,
        too_deep: Cell::new(false),
    };
    let mut ev = Eval {
        file,
        src: Rc::from(text),
        files,
        vars: HashMap::new(),
        positional: args.to_vec(),
        funcs: HashMap::new(),
        out: Script::default(),
        sink: each,
        budget: budget::Budget::for_text(text),
        halted: false,
        nest: 0,
        depth: 0,
        stopped: false,
        reported_vars: Default::default(),
        heredocs: Vec::new(),
        inputs: HashMap::new(),
        pipe_in: None,
        last_out: None,
    };
    ev.vars.insert("0".into(), "script".into());
    // Parse when the tokens waiting have doubled since a try that ended inside a command (a
    // long function body is parsed a logarithmic number of times, not once per line).
    let mut next_try = 0;
    loop {
        let more = lx.line(&mut p.toks);
        if more && p.toks.len() < next_try {
            continue;
        }
        p.pos = 0;
        let (nodes, used) = p.chunk(!more);
        for h in &lx.heredocs[ev.heredocs.len()..] {
            let body = text.get(h.start..h.end).unwrap_or("").to_string();
            ev.heredocs.push((h.clone(), body));
        }
        ev.block(&nodes, false);
        p.toks.drain(..used);
        next_try = 2 * p.toks.len();
        if p.too_deep.get() {
            // The parser said so.
            ev.halted = true;
        }
        if !more || ev.halted {
            break;
        }
    }
    let mut diags = lx.diags;
    diags.extend(p.diags);
    diags.extend(std::mem::take(&mut ev.out.diags));
    Script { diags, ..ev.out }
}

/// The syntax tree of `text`, its here-documents (with their bodies) and the problems found
/// reading it: what `read` evaluates, and what `read_nested` looks into.
fn syntax_of(
    file: usize,
    text: &str,
) -> (Vec<parse::Node>, Vec<(lex::HereDoc, String)>, Diagnostics) {
    syntax_of_range(file, text, 0)
}

/// The syntax of `text[start..]`, with spans and here-document places in `text`'s bytes: a
/// part of the file (an `sh -c '...'` string) read where it is written.
fn syntax_of_range(
    file: usize,
    text: &str,
    start: usize,
) -> (Vec<parse::Node>, Vec<(lex::HereDoc, String)>, Diagnostics) {
    let mut lx = Lexer {
        file,
        src: text.as_bytes(),
        text,
        pos: start,
        diags: Diagnostics::default(),
        heredocs: Vec::new(),
        nest: 0,
    };
    let toks = lx.tokens();
    let heredocs = lx
        .heredocs
        .iter()
        .map(|h| {
            (
                h.clone(),
                text.get(h.start..h.end).unwrap_or("").to_string(),
            )
        })
        .collect();
    let mut p = Parser {
        toks,
        pos: 0,
        file,
        diags: lx.diags,
        heredocs_seen: 0,
        heredoc: None,
        stdin_file: None,
        ended: Cell::new(false),
        idle: Cell::new(true),
        depth: 0,
        too_deep: Cell::new(false),
    };
    (p.program(), heredocs, p.diags)
}

/// The simple commands of a nested text (a command substitution's) and its here-documents,
/// without evaluating anything: for recognising `cat <<'EOF' ... EOF`.
fn read_nested(file: usize, text: &str) -> (Vec<parse::Node>, Vec<(lex::HereDoc, String)>) {
    let (prog, heredocs, _) = syntax_of(file, text);
    (prog, heredocs)
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

    /// `case` reads every arm, each conditional (as `if` does): a script that shapes in a
    /// `start)` arm and tears down in `stop)` shows both.
    #[test]
    fn case_reads_every_arm() {
        let s = "case \"$1\" in\n  start|restart)\n    tc qdisc add dev eth0 root htb ;;\n  (stop) tc qdisc del dev eth0 root;;\n  *) echo usage; exit 1\nesac\ntc after\n";
        assert_eq!(
            cmds(s, &["start"]),
            [
                "?tc qdisc add dev eth0 root htb",
                "?tc qdisc del dev eth0 root",
                "?echo usage",
                "tc after"
            ]
        );
        assert!(read(0, s, &[]).diags.items.is_empty());
    }

    /// `$[...]` is arithmetic, as `$((...))` (wondershaper: `$[9*$DOWNLINK/10]`).
    #[test]
    fn old_bash_arithmetic() {
        let s = "D=1000\ntc class add rate $[9*$D/10]kbit ceil $[ D * 2 ]kbit\n";
        assert_eq!(cmds(s, &[]), ["tc class add rate 900kbit ceil 2000kbit"]);
    }

    /// `sh -c '...'` runs its string: its commands are read where they are written, with the
    /// string's own positional parameters; assignments inside stay inside.
    #[test]
    fn sh_c_strings_are_read_in_place() {
        let s = "sh -c 'X=1; tc qdisc add dev $1 root htb' tcc eth0\nbash -ec \"tc class add dev eth0\" \necho $X.\n";
        assert_eq!(
            cmds(s, &[]),
            [
                "tc qdisc add dev eth0 root htb",
                "tc class add dev eth0",
                "echo ."
            ]
        );
        let r = read(0, s, &[]);
        let w = &r.commands[0].words[0];
        assert_eq!(&s[w.span.start..w.span.end], "tc");
        assert_eq!(w.span.start, 12);
        let w = &r.commands[1].words[2];
        assert_eq!(&s[w.span.start..w.span.end], "add");
        // Built from an expansion: not followed, and said so.
        let r = read(0, "C='tc x'\nsh -c \"$C\"\n", &[]);
        assert!(r.commands.is_empty());
        assert_eq!(r.diags.items.len(), 1, "{:?}", r.diags.items);
    }

    /// A here-document's lines are data: never commands (before, `class add ...` fed to
    /// `tc -batch -` came out as a command `class`, "not about shaping"). The body is the
    /// command's stdin, pointing into the file (quoted, or without expansions) or expanded.
    #[test]
    fn heredoc_bodies_are_stdin() {
        let s = "tc -batch - <<-'EOF'\n\tclass add dev eth0\n\tEOF\ncat <<X >f; echo a\nqdisc $D\nX\necho b\n";
        assert_eq!(cmds(s, &[]), ["tc -batch -", "cat", "echo a", "echo b"]);
        let r = read(0, s, &[]);
        let tc = r.commands[0].stdin.clone().unwrap();
        let lines = tc.lines();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].words[0].text, "class");
        let sp = lines[0].words[0].span;
        assert_eq!(&s[sp.start..sp.end], "class");
        let cat = r.commands[1].stdin.clone().unwrap();
        assert_eq!(cat.text, "qdisc \n");
        assert_eq!(cat.at, None);
    }

    /// tcc's own form: a ruleset in a variable from `$(cat <<'EOF' ... EOF)`, piped by
    /// `printf '%s\n' "$v"` into the tool; the tool's stdin points into the body.
    #[test]
    fn variable_from_heredoc_piped_into_a_tool() {
        let s =
            "v=$(cat <<'E'\n*mangle\nCOMMIT\nE\n)\nprintf '%s\\n' \"$v\" | iptables-restore -n\n";
        let r = read(0, s, &[]);
        let c = r
            .commands
            .iter()
            .find(|c| c.words[0].text == "iptables-restore")
            .unwrap();
        let i = c.stdin.clone().unwrap();
        assert_eq!(i.text, "*mangle\nCOMMIT\n");
        let l = &i.lines()[1];
        assert_eq!(&s[l.span.start..l.span.end], "COMMIT");
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
            "case",
            "case x in",
            "case x in (a|b",
            "sh -c",
            "sh -c '",
            "sh -c 'sh -c \"sh -c x\"'",
            "$[",
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
