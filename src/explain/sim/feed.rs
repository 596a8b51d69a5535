//! Commands that read other commands from their input, followed into them: `tc -batch -`
//! (each line a tc command without `tc`), `iptables-restore`/`ip6tables-restore` (`*table`,
//! `:CHAIN`, rules, `COMMIT`; `--noflush`, `--test`), `nft -f -` (nft's file syntax). The input
//! is a here-document or a pipe (`printf '%s\n' "$rules" | ...`); each line read becomes a
//! command of its own, with its place in the script, so every line ends in one of the three
//! places. A file named instead of `-` (or fed with `< FILE`) is read when the reader was
//! given files (`tcc explain` reads those beside the script); otherwise, or when it cannot be
//! read, it is not followed (S0001), with the reason.

use super::Sim;
use crate::dialect::sh::{Command, FileInput, Input, Word};

fn synth(
    words: Vec<Word>,
    span: crate::diagnostic::Span,
    cmd: &Command,
    comment: Option<String>,
) -> Command {
    Command {
        words,
        span,
        conditional: cmd.conditional,
        comment,
        stdin: None,
        input_file: None,
    }
}

fn w(text: &str, span: crate::diagnostic::Span) -> Word {
    Word {
        text: text.to_string(),
        span,
    }
}

impl Sim {
    /// Follow `cmd` into what it reads, when it is one of the readers; `true` when handled.
    pub(super) fn feed(&mut self, cmd: &Command, name: &str) -> bool {
        let t: Vec<&str> = cmd.words.iter().map(|w| w.text.as_str()).collect();
        match name {
            "tc" => {
                let Some(k) = t
                    .iter()
                    .skip(1)
                    .take_while(|a| a.starts_with('-'))
                    .position(|a| {
                        let o = a.trim_start_matches('-');
                        !o.is_empty() && "batch".starts_with(o)
                    })
                else {
                    return false;
                };
                let k = k + 1;
                let file = t.get(k + 1).copied().unwrap_or("");
                match (self.input_of(cmd, file), file) {
                    (Ok(input), _) => self.tc_batch(cmd, &input),
                    (Err(why), _) => self.not_followed(
                        cmd.span,
                        format!("`tc -batch {file}` is not followed: {why}"),
                    ),
                }
                true
            }
            "iptables-restore"
            | "ip6tables-restore"
            | "iptables-legacy-restore"
            | "ip6tables-legacy-restore"
            | "iptables-nft-restore"
            | "ip6tables-nft-restore" => {
                let tool = if name.starts_with("ip6") {
                    "ip6tables"
                } else {
                    "iptables"
                };
                let mut noflush = false;
                let mut test = false;
                let mut file = None;
                let mut i = 1;
                while i < t.len() {
                    match t[i] {
                        "-n" | "--noflush" => noflush = true,
                        "-t" | "--test" => test = true,
                        "-T" | "--table" | "-M" | "--modprobe" | "-W" | "--wait-interval" => i += 1,
                        "-w" | "--wait" => {
                            if t.get(i + 1).is_some_and(|x| x.parse::<u32>().is_ok()) {
                                i += 1;
                            }
                        }
                        a if a.starts_with('-') => {}
                        f => file = Some(f),
                    }
                    i += 1;
                }
                if test {
                    self.other.push(super::words_text(&cmd.words));
                    return true;
                }
                match self.input_of(cmd, file.unwrap_or("-")) {
                    Ok(input) => self.restore(cmd, tool, noflush, &input),
                    Err(why) => {
                        self.not_followed(cmd.span, format!("`{name}` is not followed: {why}"))
                    }
                }
                true
            }
            "nft" => {
                let Some(k) = t.iter().position(|a| *a == "-f" || *a == "--file") else {
                    return false;
                };
                if t.iter().any(|a| *a == "-c" || *a == "--check") {
                    self.other.push(super::words_text(&cmd.words));
                    return true;
                }
                let file = t.get(k + 1).copied().unwrap_or("-");
                match self.input_of(cmd, file) {
                    Ok(input) => self.nft_file(&input, cmd.conditional),
                    Err(why) => self
                        .not_followed(cmd.span, format!("`nft -f {file}` is not followed: {why}")),
                }
                true
            }
            _ => false,
        }
    }

    /// What a reader command reads: its standard input (`-`), or the file it names (or that
    /// `< FILE` feeds it) as the script's reader read it; else why not.
    fn input_of(&self, cmd: &Command, file: &str) -> Result<Input, NotRead> {
        match &cmd.input_file {
            Some(FileInput::Read(input)) => return Ok(input.clone()),
            Some(FileInput::Unread { why, .. }) => return Err(NotRead::File(why.clone())),
            None => {}
        }
        match (&cmd.stdin, file) {
            (Some(input), "-" | "/dev/stdin") => Ok(input.clone()),
            (None, "-" | "/dev/stdin") => Err(NotRead::Stdin),
            _ => Err(NotRead::NotGiven(file.to_string())),
        }
    }

    fn tc_batch(&mut self, cmd: &Command, input: &Input) {
        for line in input.lines() {
            if line.words.is_empty() {
                continue;
            }
            let mut words = vec![w("tc", line.span)];
            words.extend(line.words);
            let c = synth(words, line.span, cmd, line.comment);
            self.command(&c);
        }
    }

    /// Text in nft's file syntax: the commands it stands for, each run in order.
    pub(in crate::explain) fn nft_file(&mut self, input: &Input, cond: bool) {
        let (cmds, unread) = crate::dialect::nft::file::commands(input, cond);
        for (span, msg) in unread {
            self.not_followed(span, msg);
        }
        for c in cmds {
            self.command(&c);
        }
    }

    /// `iptables-restore` input: each table's commands take effect at its `COMMIT`.
    fn restore(&mut self, cmd: &Command, tool: &str, noflush: bool, input: &Input) {
        let mut table: Option<Word> = None;
        let mut pending: Vec<Command> = Vec::new();
        for line in input.lines() {
            let mut ws = line.words;
            // `[packets:bytes] -A ...` (iptables-save -c).
            if ws.first().is_some_and(|x| x.text.starts_with('[')) {
                ws.remove(0);
            }
            let Some(first) = ws.first().cloned() else {
                continue;
            };
            let pre = |tb: &Word| vec![w(tool, line.span), w("-t", tb.span), tb.clone()];
            if let Some(name) = first.text.strip_prefix('*') {
                let tb = w(name, first.span);
                pending.clear();
                if !noflush {
                    for op in ["-F", "-X"] {
                        let mut words = pre(&tb);
                        words.push(w(op, first.span));
                        pending.push(synth(words, line.span, cmd, None));
                    }
                }
                table = Some(tb);
            } else if first.text == "COMMIT" {
                if table.take().is_none() {
                    self.not_followed(line.span, "`COMMIT` without a `*table` line".into());
                }
                for c in std::mem::take(&mut pending) {
                    self.command(&c);
                }
            } else if let Some(chain) = first.text.strip_prefix(':') {
                let Some(tb) = &table else {
                    self.not_followed(line.span, "a chain before any `*table` line".into());
                    continue;
                };
                if !super::BUILTIN.contains(&chain) {
                    // Created, or emptied when it exists (`--noflush`).
                    let mut words = pre(tb);
                    words.push(w("-F", first.span));
                    words.push(w(chain, first.span));
                    pending.push(synth(words, line.span, cmd, None));
                }
            } else {
                let Some(tb) = &table else {
                    self.not_followed(line.span, "a rule before any `*table` line".into());
                    continue;
                };
                let mut words = pre(tb);
                words.extend(ws);
                pending.push(synth(words, line.span, cmd, line.comment));
            }
        }
        if let Some(tb) = table {
            self.refused(
                cmd.span,
                format!(
                    "table `{}` has no `COMMIT`: {} applies none of its lines",
                    tb.text, cmd.words[0].text
                ),
                "COMMIT expected at line ...",
            );
        }
    }
}

/// Why a reader command's input was not read.
enum NotRead {
    /// The file could not be read (the reason in words).
    File(String),
    /// What it reads on standard input is not known.
    Stdin,
    /// The file was named, but the script's reader was given no files.
    NotGiven(String),
}

impl std::fmt::Display for NotRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotRead::File(why) => f.write_str(why),
            NotRead::Stdin => f.write_str("what it reads on standard input is not known"),
            NotRead::NotGiven(file) => write!(f, "`{file}` is a file tcc was not given"),
        }
    }
}
