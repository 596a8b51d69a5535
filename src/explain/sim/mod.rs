//! The model the script's commands are simulated on: per device the root qdisc, its HTB classes
//! and u32 filters; per family the mangle table's chains. `tc`, `mangle` and `nft` apply one
//! tool's commands to it; `leaves` says what is left in place when the script is done.

mod feed;
pub(super) mod mangle;
mod nft;
mod tc;

use super::lower::Note;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, Span};
use crate::dialect::iptables::read::{self as iptables, Rule};
use crate::dialect::sh::{Command, Word};
use crate::dialect::tc::read::{self as tc_read, Id};
use crate::plan::{ClassSpans, Criterion};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub(super) struct CRec {
    pub(super) minor: u16,
    pub(super) parent: Option<Id>,
    pub(super) rate: Option<u64>,
    pub(super) ceil: Option<u64>,
    pub(super) burst: Option<u64>,
    pub(super) cburst: Option<u64>,
    pub(super) prio: Option<u32>,
    pub(super) quantum: Option<u64>,
    pub(super) mtu: Option<u64>,
    /// `rate` was written but refused (above `MAX_RATE`), with its own diagnostic.
    pub(super) rate_refused: bool,
    pub(super) spans: ClassSpans,
    pub(super) span: Span,
    pub(super) name: Option<String>,
    pub(super) id_text: String,
}

#[derive(Debug, Clone)]
pub(super) struct U32Rec {
    pub(super) prio: u32,
    pub(super) v4: bool,
    pub(super) v6: bool,
    pub(super) criteria: Vec<Criterion>,
    pub(super) flowid: Id,
    pub(super) span: Span,
}

#[derive(Debug, Clone)]
pub(super) struct Root {
    pub(super) handle: u16,
    pub(super) kind: String,
    pub(super) default: Option<Id>,
    pub(super) r2q: u32,
    pub(super) span: Span,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Dev {
    pub(super) name: String,
    pub(super) root: Option<Root>,
    pub(super) classes: Vec<CRec>,
    /// Minor id -> index in `classes` (the first class with that id).
    pub(super) class_ix: HashMap<u16, usize>,
    pub(super) u32: Vec<U32Rec>,
    /// (prio, class minor) of egress filters the plan does not model that send to a class:
    /// the kernel still refuses to delete that class.
    pub(super) pointed: Vec<(u32, u16)>,
    pub(super) leafq: Vec<(u16, String, Span)>,
    pub(super) ingress: Option<Span>,
    /// What arrives is redirected to this device (`action mirred egress redirect dev X` on a
    /// match-all ingress filter): the target's name and the filter's span.
    pub(super) redirect: Option<(String, Span)>,
    pub(super) removed: bool,
    pub(super) link_mtu: Option<(u64, Span)>,
}

/// One family's mangle table: chains in creation order.
#[derive(Default)]
pub(super) struct Table {
    pub(super) chains: Vec<(String, Vec<Rule>)>,
}

pub(super) const BUILTIN: &[&str] = &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

impl Table {
    pub(super) fn chain(&mut self, name: &str) -> &mut Vec<Rule> {
        if let Some(i) = self.chains.iter().position(|(n, _)| n == name) {
            return &mut self.chains[i].1;
        }
        self.chains.push((name.to_string(), Vec::new()));
        let last = self.chains.len() - 1;
        &mut self.chains[last].1
    }
    pub(super) fn get(&self, name: &str) -> Option<&Vec<Rule>> {
        self.chains.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }
}

pub(super) struct Sim {
    pub(super) devs: Vec<Dev>,
    pub(super) tables: [Table; 2],
    pub(super) diags: Diagnostics,
    pub(super) notes: Vec<Note>,
    pub(super) other: Vec<String>,
    /// Every command run, with whether it went to `other` (not about shaping).
    pub(super) ran: Vec<(Span, String, bool)>,
}

/// A command's words as one line; a word of several lines (a variable holding a ruleset) is
/// shown by its first line.
pub(super) fn words_text(ws: &[Word]) -> String {
    ws.iter()
        .map(|w| match w.text.split_once('\n') {
            Some((first, _)) => format!("{first} ..."),
            None => w.text.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Sim {
    pub(super) fn new() -> Sim {
        Sim {
            devs: Vec::new(),
            tables: Default::default(),
            diags: Diagnostics::default(),
            notes: Vec::new(),
            other: Vec::new(),
            ran: Vec::new(),
        }
    }

    pub(super) fn dev(&mut self, w: &Word) -> usize {
        if let Some(i) = self.devs.iter().position(|d| d.name == w.text) {
            return i;
        }
        self.devs.push(Dev {
            name: w.text.clone(),
            ..Dev::default()
        });
        self.devs.len() - 1
    }

    /// An ingress redirect the plan's ingress tree does not stand for: S0009, and (since it
    /// changes traffic) a note that keeps `--to shape` from calling the import equivalent.
    pub(super) fn ingress_not_followed(&mut self, device: &str, span: Span, why: String) {
        self.diags.push(
            Diagnostic::new(
                Code::IngressNotFollowed,
                span,
                format!("{why} (on `{device}`)"),
            )
            .label("not read as download shaping")
            .help("tcc models download shaping as every arriving packet redirected (u32 `match u32 0 0`, `action mirred egress redirect dev IFB`) to one ifb device with an HTB tree"),
        );
        self.notes.push(Note {
            device: Some(device.to_string()),
            text: format!("{why}: not in the plan"),
            span,
        });
    }

    pub(super) fn not_followed(&mut self, span: Span, msg: String) {
        self.diags.push(
            Diagnostic::new(Code::ScriptNotFollowed, span, msg)
                .label("left out of the explanation"),
        );
    }

    /// Something that changes how packets are queued, limited or classified, but that the plan
    /// cannot hold: S0008, and a note in the explanation.
    pub(super) fn lost(&mut self, device: Option<&str>, span: Span, text: String) {
        self.diags.push(
            Diagnostic::new(Code::NotCarried, span, text.clone())
                .label("changes traffic; not in the plan")
                .note("`--to shape` cannot carry this: the import would queue, limit or classify differently"),
        );
        self.notes.push(Note {
            device: device.map(str::to_string),
            text,
            span,
        });
    }

    /// A command the kernel (or tc) refuses: it changes nothing, as on the machine.
    pub(super) fn refused(&mut self, span: Span, text: String, answer: &str) {
        self.diags.push(
            Diagnostic::new(Code::KernelRefuses, span, text)
                .label(format!("fails: \"{answer}\""))
                .note("the command changes nothing; the explanation goes on as the script would"),
        );
    }

    pub(super) fn note(&mut self, device: Option<&str>, span: Span, text: String) {
        self.diags.push(
            Diagnostic::new(Code::Opaque, span, text.clone())
                .label("described, but not part of the plan"),
        );
        self.notes.push(Note {
            device: device.map(str::to_string),
            text,
            span,
        });
    }

    pub(super) fn command(&mut self, cmd: &Command) {
        let before = self.other.len();
        self.command_inner(cmd);
        let other = self.other.len() > before;
        self.ran.push((cmd.span, words_text(&cmd.words), other));
    }

    fn command_inner(&mut self, cmd: &Command) {
        let name = cmd.words[0]
            .text
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string();
        if self.feed(cmd, &name) {
            return;
        }
        match name.as_str() {
            "tc" => match tc_read::parse(cmd) {
                Ok(Some(t)) => self.tc(cmd, t),
                Ok(None) => {}
                Err((span, msg)) => self.not_followed(span, msg),
            },
            "iptables" | "ip6tables" | "iptables-legacy" | "ip6tables-legacy" | "iptables-nft"
            | "ip6tables-nft" => match iptables::parse(cmd) {
                Ok(c) => self.ipt(cmd, c),
                Err((span, msg)) => self.not_followed(span, msg),
            },
            "nft" => self.nft(cmd),
            "tcng" => {
                self.not_followed(cmd.span, format!("`{name}` is not followed"));
            }
            "ip" => {
                // `ip link set dev X mtu 9000`: remember jumbo frames.
                let t: Vec<&str> = cmd.words.iter().map(|w| w.text.as_str()).collect();
                if t.len() > 3 && t[1] == "link" && t[2] == "set" {
                    if let Some(k) = t.iter().position(|w| *w == "mtu") {
                        let dev = t
                            .iter()
                            .position(|w| *w == "dev")
                            .map(|d| d + 1)
                            .unwrap_or(3);
                        if let (Some(m), Some(dw)) = (
                            t.get(k + 1).and_then(|m| m.parse::<u64>().ok()),
                            cmd.words.get(dev),
                        ) {
                            let d = self.dev(dw);
                            self.devs[d].link_mtu = Some((m, cmd.words[k + 1].span));
                        }
                    }
                }
                self.other.push(words_text(&cmd.words));
            }
            _ => self.other.push(words_text(&cmd.words)),
        }
    }

    pub(super) fn leaves(&self) -> Vec<String> {
        let mut out = Vec::new();
        for d in &self.devs {
            match &d.root {
                Some(r) if r.kind == "htb" => out.push(format!(
                    "`{}`: an HTB root qdisc {:x}: with {} class{} and {} tc filter{}",
                    d.name,
                    r.handle,
                    d.classes.len(),
                    if d.classes.len() == 1 { "" } else { "es" },
                    d.u32.len(),
                    if d.u32.len() == 1 { "" } else { "s" }
                )),
                Some(r) => out.push(format!("`{}`: a `{}` root qdisc", d.name, r.kind)),
                None => {}
            }
            if d.ingress.is_some() {
                out.push(format!("`{}`: an ingress qdisc", d.name));
            }
        }
        for (f, t) in self.tables.iter().enumerate() {
            let tool = if f == 0 { "iptables" } else { "ip6tables" };
            for (name, rules) in &t.chains {
                if let Some(n) = name.strip_prefix(nft::PREFIX) {
                    let fam = if f == 0 { "IPv4" } else { "IPv6" };
                    if !rules.is_empty() {
                        out.push(format!(
                            "nft chain `{}` with {} rule{} for {fam}",
                            n.trim(),
                            rules.len(),
                            if rules.len() == 1 { "" } else { "s" }
                        ));
                    }
                    continue;
                }
                if !rules.is_empty() || !BUILTIN.contains(&name.as_str()) {
                    out.push(format!(
                        "{tool} mangle chain {name} with {} rule{}",
                        rules.len(),
                        if rules.len() == 1 { "" } else { "s" }
                    ));
                }
            }
        }
        out
    }
}

pub(super) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}
