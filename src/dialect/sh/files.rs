//! What a script reads from elsewhere: `sh -c '...'` strings written in it (read in place),
//! files it sources (`source`/`.`), and files it names to a reader (`tc -batch FILE`,
//! `nft -f FILE`, `iptables-restore FILE`, `< FILE`), through the reader's `Files`.

use super::budget::{Part as Cost, MAX_CALLS};
use super::eval::Eval;
use super::{Command, FileInput, Input, Word};
use crate::diagnostic::Span;

impl Eval<'_> {
    /// A file's text is read: spent from the budget's input, and more allowance for its lines.
    fn grow(&mut self, text: &str, span: Span) -> bool {
        match self.budget.grow(text, true) {
            Ok(()) => true,
            Err(p) => {
                self.stop(p, span);
                false
            }
        }
    }

    /// `sh -c 'STRING' [NAME ARGS...]`: the string is read as the script it is, where it is
    /// written, with its own positional parameters; what it sets stays in it (a child shell).
    /// A string the file does not hold verbatim (built from expansions) is not followed.
    pub(super) fn shell_c(&mut self, words: &[Word], k: usize, span: Span, cond: bool) {
        let w = &words[k];
        let written = self.src.get(w.span.start..w.span.end).unwrap_or("");
        let start = ['\'', '"'].iter().find_map(|&q| {
            let inner = written.strip_prefix(q)?.strip_suffix(q)?;
            let plain = q == '\'' || !inner.contains(['$', '`', '\\']);
            (plain && inner == w.text).then_some(w.span.start + 1)
        });
        let Some(start) = start else {
            self.not_followed(
                w.span,
                "the string of this `sh -c` is built from expansions, so it is not followed",
            );
            return;
        };
        if self.depth >= MAX_CALLS {
            self.not_followed(span, "`sh -c` strings nest too deeply");
            return;
        }
        // It is read again each time it runs, and what it sets is kept aside.
        let kept: usize = self.vars.iter().map(|(k, v)| k.len() + v.len()).sum();
        if !self.charge(Cost::Input, w.text.len() as u64, span)
            || !self.charge(Cost::Bytes, kept as u64, span)
        {
            return;
        }
        let end = start + w.text.len();
        let src = self.src.clone();
        let (prog, heredocs, diags) = super::syntax_of_range(self.file, &src[..end], start);
        self.out.diags.extend(diags);
        let args: Vec<String> = words.iter().skip(k + 2).map(|w| w.text.clone()).collect();
        let saved_positional = std::mem::replace(&mut self.positional, args);
        let saved_heredocs = std::mem::replace(&mut self.heredocs, heredocs);
        let saved_vars = self.vars.clone();
        let saved_funcs = self.funcs.clone();
        if let Some(name) = words.get(k + 1) {
            self.vars.insert("0".into(), name.text.clone());
        }
        self.depth += 1;
        self.block(&prog, cond);
        self.depth -= 1;
        self.positional = saved_positional;
        self.heredocs = saved_heredocs;
        self.vars = saved_vars;
        self.funcs = saved_funcs;
    }

    /// A file a command reads, through the reader's files.
    pub(super) fn load_input(&mut self, name: &str, span: Span) -> FileInput {
        match self.files.load(name) {
            Ok(l) if self.grow(&l.text, span) => FileInput::Read(Input {
                text: l.text.to_string(),
                at: Some(0),
                strip_tabs: false,
                span: Span::new(l.file, 0, l.text.len()),
            }),
            Ok(_) => FileInput::Unread {
                path: name.to_string(),
                why: "reading stopped".to_string(),
            },
            Err(e) => FileInput::Unread {
                path: name.to_string(),
                why: e.to_string(),
            },
        }
    }

    /// `source FILE` / `. FILE`: the file is read as part of the script (never run), in the
    /// script's own variables and functions, its commands with their places in that file.
    pub(super) fn source(&mut self, words: &[Word], span: Span, cond: bool) {
        let name = words[1].text.clone();
        if self.depth >= MAX_CALLS {
            self.not_followed(span, "files source each other too deeply");
            return;
        }
        let loaded = match self.files.load(&name) {
            Ok(l) => l,
            Err(e) => {
                self.not_followed(
                    span,
                    format!("`{}` of `{name}` is not followed: {e}", words[0].text),
                );
                return;
            }
        };
        if !self.grow(&loaded.text, span) {
            return;
        }
        // The `source` line itself is a command of the script (not about shaping); what the
        // file runs follows, each command in its place in that file.
        self.emit(Command {
            words: words.to_vec(),
            span,
            conditional: cond,
            comment: None,
            stdin: None,
            input_file: None,
        });
        let (prog, heredocs, diags) = super::syntax_of(loaded.file, &loaded.text);
        self.out.diags.extend(diags);
        let saved_file = std::mem::replace(&mut self.file, loaded.file);
        let saved_src = std::mem::replace(&mut self.src, loaded.text);
        let saved_heredocs = std::mem::replace(&mut self.heredocs, heredocs);
        let saved_positional = (words.len() > 2).then(|| {
            std::mem::replace(
                &mut self.positional,
                words[2..].iter().map(|w| w.text.clone()).collect(),
            )
        });
        self.depth += 1;
        self.block(&prog, cond);
        self.depth -= 1;
        // `return` at the top of a sourced file, or its `exit`, ends only what it reads here.
        self.file = saved_file;
        self.src = saved_src;
        self.heredocs = saved_heredocs;
        if let Some(p) = saved_positional {
            self.positional = p;
        }
    }
}

/// The index of the command string in `sh -c STRING ...` (also `bash`, `dash`, by path, with
/// other short options clustered or before it, `-o OPTION` pairs): its first operand.
pub(super) fn shell_c_string(words: &[Word]) -> Option<usize> {
    let shell = words.first()?.text.rsplit('/').next()?;
    if !matches!(shell, "sh" | "bash" | "dash" | "ash" | "ksh" | "busybox") {
        return None;
    }
    let mut j = 1;
    if shell == "busybox" {
        (words.get(1)?.text == "sh").then_some(())?;
        j = 2;
    }
    let mut c = false;
    while let Some(w) = words.get(j) {
        let t = w.text.as_str();
        if t == "--" {
            j += 1;
            break;
        }
        let Some(flags) = t.strip_prefix('-').or_else(|| t.strip_prefix('+')) else {
            break;
        };
        if flags.is_empty() || !flags.chars().all(|ch| ch.is_ascii_alphabetic()) {
            break;
        }
        c |= t.starts_with('-') && flags.contains('c');
        j += if flags.ends_with('o') { 2 } else { 1 };
    }
    (c && j < words.len()).then_some(j)
}

/// Whether a command reads commands from standard input: `tc -batch -`, `nft -f -`, a restore
/// without a file (a `< FILE` redirection feeds it).
pub(super) fn reads_stdin(words: &[Word]) -> bool {
    let t: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
    match tool_of(&t) {
        Some(Tool::Tc(k)) | Some(Tool::Nft(k)) => matches!(t.get(k + 1), Some(&"-") | None),
        Some(Tool::Restore(f)) => f.is_none(),
        None => false,
    }
}

/// The file a reader command names to read (`tc -batch FILE`, `nft -f FILE`,
/// `iptables-restore FILE`), when it is not standard input.
pub(super) fn named_input(words: &[Word]) -> Option<&str> {
    let t: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
    let f = match tool_of(&t)? {
        Tool::Tc(k) | Tool::Nft(k) => words.get(k + 1)?.text.as_str(),
        Tool::Restore(f) => words.get(f?)?.text.as_str(),
    };
    (f != "-" && f != "/dev/stdin").then_some(f)
}

enum Tool {
    /// The index of `-batch`/`-b`.
    Tc(usize),
    /// The index of `-f`/`--file`.
    Nft(usize),
    /// The index of the file operand, if any.
    Restore(Option<usize>),
}

fn tool_of(t: &[&str]) -> Option<Tool> {
    let name = t.first()?.rsplit('/').next()?;
    match name {
        "tc" => t
            .iter()
            .skip(1)
            .take_while(|a| a.starts_with('-'))
            .position(|a| {
                let o = a.trim_start_matches('-');
                !o.is_empty() && "batch".starts_with(o)
            })
            .map(|k| Tool::Tc(k + 1)),
        "nft" => (!t.iter().any(|a| *a == "-c" || *a == "--check"))
            .then(|| t.iter().position(|a| *a == "-f" || *a == "--file"))
            .flatten()
            .map(Tool::Nft),
        n if n.ends_with("tables-restore") => {
            let mut i = 1;
            let mut file = None;
            while i < t.len() {
                match t[i] {
                    "-T" | "--table" | "-M" | "--modprobe" | "-W" | "--wait-interval" => i += 1,
                    "-w" | "--wait" => {
                        if t.get(i + 1).is_some_and(|x| x.parse::<u32>().is_ok()) {
                            i += 1;
                        }
                    }
                    a if a.starts_with('-') => {}
                    _ => file = Some(i),
                }
                i += 1;
            }
            Some(Tool::Restore(file))
        }
        _ => None,
    }
}
