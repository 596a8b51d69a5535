//! From the commands a script runs to the shaping plan the language lowers into.
//!
//! The commands are *simulated* in order on a model of what they change: per device the root
//! qdisc, its HTB classes and tc filters; per family the mangle table's chains. The final state
//! becomes the plan. Spans point into the script, so the checker's diagnostics point there.
//!
//! Classification order: CLASSIFY does not end rule traversal, so among the CLASSIFY rules a
//! packet meets, the LAST wins, unless a `-j RETURN` with the same criteria right after it ends
//! the chain (tcc's own companion rules). The plan is first-match-wins, so terminal rules come
//! first in their order, then the others in reverse. iptables classification happens before tc
//! filters are consulted (HTB looks at the priority CLASSIFY set first), so it comes first.

use crate::diagnostic::{Code, Diagnostic, Diagnostics, Span};
use crate::dialect::iptables::read::{self as iptables, IptCmd, Op, Rule, Target};
use crate::dialect::sh::{Command, Script, Word};
use crate::dialect::tc::read::{self as tc, Id, Obj, TcCmd, Verb};
use crate::plan::units;
use crate::plan::{Class, ClassSpans, Criterion, Family, Filter, Interface, Match, Plan, Test};
use crate::sema::lower::Facts;
use std::collections::{HashMap, HashSet};

/// Something the script does that the plan cannot hold, in words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Note {
    pub device: Option<String>,
    pub text: String,
    #[serde(skip)]
    pub span: Span,
}

/// The result of reading a script.
#[derive(Debug, Default)]
pub struct Explained {
    /// After the checker (which may fill in quantums).
    pub plan: Plan,
    /// As the script says, before the checker filled anything in (for `--to shape`).
    pub plan_as_written: Plan,
    pub diags: Diagnostics,
    /// Opaque configuration, per device.
    pub notes: Vec<Note>,
    /// Commands that are not about shaping (`echo`, `ip link show`...), as written.
    pub other: Vec<String>,
    /// What is left in place when the script is done, in words.
    pub leaves: Vec<String>,
    /// Devices whose configuration the script removes (teardown).
    pub removes: Vec<String>,
    pub set_e: bool,
    pub conditional: usize,
}

#[derive(Debug, Clone)]
struct CRec {
    minor: u16,
    parent: Option<Id>,
    rate: Option<u64>,
    ceil: Option<u64>,
    burst: Option<u64>,
    cburst: Option<u64>,
    prio: Option<u32>,
    quantum: Option<u64>,
    mtu: Option<u64>,
    spans: ClassSpans,
    span: Span,
    name: Option<String>,
    id_text: String,
}

#[derive(Debug, Clone)]
struct U32Rec {
    prio: u32,
    v4: bool,
    v6: bool,
    criteria: Vec<Criterion>,
    flowid: Id,
    span: Span,
}

#[derive(Debug, Clone)]
struct Root {
    handle: u16,
    kind: String,
    default: Option<Id>,
    r2q: u32,
    span: Span,
}

#[derive(Debug, Clone, Default)]
struct Dev {
    name: String,
    root: Option<Root>,
    classes: Vec<CRec>,
    /// Minor id -> index in `classes` (the first class with that id).
    class_ix: HashMap<u16, usize>,
    u32: Vec<U32Rec>,
    leafq: Vec<(u16, String, Span)>,
    ingress: Option<Span>,
    removed: bool,
    link_mtu: Option<(u64, Span)>,
}

/// One family's mangle table: chains in creation order.
#[derive(Default)]
struct Table {
    chains: Vec<(String, Vec<Rule>)>,
}

const BUILTIN: &[&str] = &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

impl Table {
    fn chain(&mut self, name: &str) -> &mut Vec<Rule> {
        if let Some(i) = self.chains.iter().position(|(n, _)| n == name) {
            return &mut self.chains[i].1;
        }
        self.chains.push((name.to_string(), Vec::new()));
        let last = self.chains.len() - 1;
        &mut self.chains[last].1
    }
    fn get(&self, name: &str) -> Option<&Vec<Rule>> {
        self.chains.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }
}

struct Lw {
    devs: Vec<Dev>,
    tables: [Table; 2],
    diags: Diagnostics,
    notes: Vec<Note>,
    other: Vec<String>,
}

fn words_text(ws: &[Word]) -> String {
    ws.iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn lower(script: Script) -> Explained {
    let mut lw = Lw {
        devs: Vec::new(),
        tables: [Table::default(), Table::default()],
        diags: script.diags,
        notes: Vec::new(),
        other: Vec::new(),
    };
    let conditional = script.commands.iter().filter(|c| c.conditional).count();
    for cmd in &script.commands {
        lw.command(cmd);
    }
    let (mut plan, facts) = lw.build();
    let plan_as_written = plan.clone();
    let mut diags = std::mem::take(&mut lw.diags);
    crate::sema::check::check(&mut plan, &facts, &mut diags);
    diags.sort();
    let leaves = lw.leaves();
    let removes = lw
        .devs
        .iter()
        .filter(|d| d.removed && d.root.is_none())
        .map(|d| d.name.clone())
        .collect();
    Explained {
        plan,
        plan_as_written,
        diags,
        notes: lw.notes,
        other: lw.other,
        leaves,
        removes,
        set_e: script.set_e,
        conditional,
    }
}

impl Lw {
    fn dev(&mut self, w: &Word) -> usize {
        if let Some(i) = self.devs.iter().position(|d| d.name == w.text) {
            return i;
        }
        self.devs.push(Dev {
            name: w.text.clone(),
            ..Dev::default()
        });
        self.devs.len() - 1
    }

    fn not_followed(&mut self, span: Span, msg: String) {
        self.diags.push(
            Diagnostic::new(Code::ScriptNotFollowed, span, msg)
                .label("left out of the explanation"),
        );
    }

    fn note(&mut self, device: Option<&str>, span: Span, text: String) {
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

    fn command(&mut self, cmd: &Command) {
        let name = cmd.words[0]
            .text
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string();
        match name.as_str() {
            "tc" => match tc::parse(cmd) {
                Ok(Some(t)) => self.tc(cmd, t),
                Ok(None) => {}
                Err((span, msg)) => self.not_followed(span, msg),
            },
            "iptables" | "ip6tables" | "iptables-legacy" | "ip6tables-legacy" | "iptables-nft"
            | "ip6tables-nft" => match iptables::parse(cmd) {
                Ok(c) => self.ipt(cmd, c),
                Err((span, msg)) => self.not_followed(span, msg),
            },
            "nft" => match crate::dialect::nft::read::parse(cmd) {
                Ok(rules) => {
                    for (v4, v6, r) in rules {
                        for (f, on) in [(0, v4), (1, v6)] {
                            if on {
                                self.tables[f].chain("POSTROUTING").push(r.clone());
                            }
                        }
                    }
                }
                Err((span, msg)) => self.not_followed(span, msg),
            },
            "iptables-restore" | "ip6tables-restore" | "tcng" => {
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

    // ------------------------------------------------------------ tc

    fn tc(&mut self, cmd: &Command, t: TcCmd) {
        if t.verb == Verb::Show {
            self.other.push(words_text(&cmd.words));
            return;
        }
        let Some(devw) = t.dev.clone() else {
            self.not_followed(cmd.span, "a tc command without `dev`".into());
            return;
        };
        let d = self.dev(&devw);
        let dn = devw.text.clone();
        match t.obj {
            Obj::Qdisc => self.qdisc(cmd, d, &dn, t),
            Obj::Class => self.class(cmd, d, &dn, t),
            Obj::Filter => self.filter(cmd, d, &dn, t),
        }
    }

    fn qdisc(&mut self, cmd: &Command, d: usize, dn: &str, t: TcCmd) {
        let kind = t.kind.as_ref().map(|k| k.text.clone()).unwrap_or_default();
        if t.ingress || kind == "ingress" || kind == "clsact" {
            if t.verb == Verb::Del {
                self.devs[d].ingress = None;
            } else {
                self.devs[d].ingress = Some(cmd.span);
                self.note(
                    Some(dn),
                    cmd.span,
                    format!(
                        "an `{kind}` qdisc on `{dn}` (incoming traffic is not shaped by the plan)"
                    ),
                );
            }
            return;
        }
        if t.root {
            if t.verb == Verb::Del {
                let dev = &mut self.devs[d];
                dev.root = None;
                dev.classes.clear();
                dev.class_ix.clear();
                dev.u32.clear();
                dev.leafq.clear();
                dev.removed = true;
                return;
            }
            if t.verb == Verb::Change {
                if let Some(root) = self.devs[d].root.as_mut() {
                    if let Some(Ok(dflt)) = htb_qdisc_opts(&t.opts).map(|o| o.map(|o| o.0)) {
                        root.default = dflt.or(root.default.clone());
                    }
                }
                return;
            }
            let handle = t.id.as_ref().map(|i| i.major).unwrap_or(0);
            // `replace` of the same HTB qdisc asks the kernel to change it in place, which it
            // refuses ("Change operation not supported by specified qdisc", measured on 6.18):
            // nothing changes.
            let same = self.devs[d].root.as_ref().is_some_and(|r| {
                r.kind == "htb" && kind == "htb" && (handle == 0 || r.handle == handle)
            });
            if t.verb == Verb::Replace && same {
                self.diags.push(
                    Diagnostic::new(Code::ObsoleteSyntax, cmd.span, "the kernel refuses to replace an HTB root qdisc with another HTB of the same handle")
                        .label("fails: \"Change operation not supported by specified qdisc\"")
                        .note("the qdisc, its `default` and its classes stay as they were")
                        .help("`tc qdisc del dev DEV root` first, then `add`, as tcc's scripts do"),
                );
                return;
            }
            let dev = &mut self.devs[d];
            dev.classes.clear();
            dev.class_ix.clear();
            dev.u32.clear();
            dev.leafq.clear();
            if kind != "htb" {
                dev.root = Some(Root {
                    handle,
                    kind: kind.clone(),
                    default: None,
                    r2q: 10,
                    span: cmd.span,
                });
                let opts = words_text(&t.opts);
                self.note(
                    Some(dn),
                    cmd.span,
                    format!("root qdisc `{kind} {opts}` on `{dn}`: only HTB trees are modelled")
                        .replace("  ", " "),
                );
                return;
            }
            let (default, r2q) = match htb_qdisc_opts(&t.opts) {
                Some(Ok(x)) => x,
                Some(Err((s, m))) => {
                    self.not_followed(s, m);
                    (None, 10)
                }
                None => (None, 10),
            };
            self.devs[d].root = Some(Root {
                handle,
                kind,
                default,
                r2q,
                span: cmd.span,
            });
            return;
        }
        // A qdisc under a class: a leaf qdisc.
        match (&t.parent, t.verb) {
            (Some(p), Verb::Del) => self.devs[d].leafq.retain(|(m, _, _)| *m != p.minor),
            (Some(p), _) => {
                let opts = words_text(&t.opts);
                let text = format!("{kind} {opts}").trim().to_string();
                self.devs[d].leafq.push((p.minor, text.clone(), cmd.span));
                self.note(
                    Some(dn),
                    cmd.span,
                    format!("leaf qdisc `{text}` under class {}", p.text),
                );
            }
            (None, _) => {
                self.not_followed(cmd.span, "a qdisc with neither `root` nor `parent`".into())
            }
        }
    }

    fn class(&mut self, cmd: &Command, d: usize, dn: &str, t: TcCmd) {
        let Some(id) = t.id.clone() else {
            self.not_followed(cmd.span, "a tc class without `classid`".into());
            return;
        };
        if t.verb == Verb::Del {
            let dev = &mut self.devs[d];
            dev.classes.retain(|c| c.minor != id.minor);
            dev.class_ix = HashMap::new();
            for (k, c) in dev.classes.iter().enumerate() {
                dev.class_ix.entry(c.minor).or_insert(k);
            }
            return;
        }
        let kind = t.kind.as_ref().map(|k| k.text.as_str()).unwrap_or("");
        if kind != "htb" {
            self.note(
                Some(dn),
                cmd.span,
                format!(
                    "class {} of kind `{kind}` (only HTB classes are modelled)",
                    id.text
                ),
            );
            return;
        }
        let existing = self.devs[d].class_ix.get(&id.minor).copied();
        let mut c = match (existing, t.verb) {
            (Some(i), Verb::Change | Verb::Replace) => self.devs[d].classes[i].clone(),
            _ => CRec {
                minor: id.minor,
                parent: t.parent.clone(),
                rate: None,
                ceil: None,
                burst: None,
                cburst: None,
                prio: None,
                quantum: None,
                mtu: None,
                spans: ClassSpans {
                    classid: Some(id.span),
                    ..ClassSpans::default()
                },
                span: cmd.span,
                name: None,
                id_text: id.text.clone(),
            },
        };
        if let Some(name) = cmd.comment.as_deref().filter(|n| is_name(n)) {
            c.name = Some(name.to_string());
        }
        let o = &t.opts;
        let mut i = 0;
        while i < o.len() {
            let k = o[i].text.as_str();
            let Some(v) = o.get(i + 1) else {
                self.not_followed(o[i].span, format!("`{k}` without a value"));
                break;
            };
            match k {
                "rate" | "ceil" => {
                    let Some(r) = self.rate(v) else { break };
                    if k == "rate" {
                        c.rate = Some(r);
                        c.spans.rate = Some(v.span);
                    } else {
                        c.ceil = Some(r);
                        c.spans.ceil = Some(v.span);
                    }
                }
                "burst" | "buffer" | "maxburst" | "cburst" | "cbuffer" => {
                    let Some(s) = self.size(v) else { break };
                    if k.starts_with('c') {
                        c.cburst = Some(s);
                    } else {
                        c.burst = Some(s);
                    }
                }
                "prio" => {
                    c.prio = v.text.parse().ok();
                    c.spans.prio = Some(v.span);
                }
                "quantum" => {
                    c.quantum = self.size(v);
                    c.spans.quantum = Some(v.span);
                }
                "mtu" => {
                    c.mtu = self.size(v);
                    c.spans.mtu = Some(v.span);
                }
                _ => {
                    self.not_followed(o[i].span, format!("HTB class option `{k}` is not modelled"));
                }
            }
            i += 2;
        }
        let dev = &mut self.devs[d];
        match existing {
            Some(i) if t.verb != Verb::Add => dev.classes[i] = c,
            _ => {
                dev.class_ix.entry(c.minor).or_insert(dev.classes.len());
                dev.classes.push(c);
            }
        }
    }

    fn rate(&mut self, w: &Word) -> Option<u64> {
        let t = w.text.as_str();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (n, u) = t.split_at(split);
        let n = units::parse_number(n);
        let unit = if u.is_empty() {
            Some(units::RateUnit {
                bits: 1,
                bytes: false,
            })
        } else {
            units::rate_unit(u)
        };
        match (n, unit) {
            (Some(n), Some(unit)) => {
                if unit.bytes {
                    self.diags.push(
                        Diagnostic::new(
                            Code::ByteUnits,
                            w.span,
                            format!("`{t}` is BYTES per second"),
                        )
                        .label(format!(
                            "{} bits per second",
                            units::human_rate((n * unit.bits as f64) as u64)
                        ))
                        .note("tc reads `mbps` as megabytes per second, eight times `mbit`")
                        .help(format!(
                            "write `{}{}` if you meant bits",
                            &t[..split],
                            units::bit_spelling_of(u)
                        )),
                    );
                }
                Some((n * unit.bits as f64).round() as u64)
            }
            _ => {
                self.not_followed(w.span, format!("`{t}` is not a rate"));
                None
            }
        }
    }

    fn size(&mut self, w: &Word) -> Option<u64> {
        let t = w.text.as_str();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (n, u) = t.split_at(split);
        // `burst 15k/8`: the cell part is dropped.
        let u = u.split('/').next().unwrap_or("");
        match (units::parse_number(n), units::size_unit(u)) {
            (Some(n), Some(m)) => Some((n * m).round() as u64),
            _ => {
                self.not_followed(w.span, format!("`{t}` is not a size"));
                None
            }
        }
    }

    fn filter(&mut self, cmd: &Command, d: usize, dn: &str, t: TcCmd) {
        if t.verb == Verb::Del {
            self.devs[d]
                .u32
                .retain(|f| t.prio.is_some_and(|p| p != f.prio));
            return;
        }
        let kind = t.kind.as_ref().map(|k| k.text.as_str()).unwrap_or("");
        if kind != "u32" {
            self.note(
                Some(dn),
                cmd.span,
                format!(
                    "a `{kind}` filter ({}): only u32 filters are modelled",
                    words_text(&t.opts)
                ),
            );
            return;
        }
        let proto = t
            .protocol
            .as_ref()
            .map(|p| p.text.as_str())
            .unwrap_or("all");
        let (v4, v6) = match proto {
            "ip" => (true, false),
            "ipv6" => (false, true),
            "all" => (true, true),
            other => {
                self.note(
                    Some(dn),
                    cmd.span,
                    format!("a u32 filter for protocol `{other}`"),
                );
                return;
            }
        };
        let u = match tc::parse_u32(&t.opts) {
            Ok(u) => u,
            Err((s, m)) => {
                self.note(
                    Some(dn),
                    s,
                    format!("{m}; this filter is not part of the plan"),
                );
                return;
            }
        };
        let Some(flowid) = u.flowid else {
            self.not_followed(cmd.span, "a u32 filter without `flowid`".into());
            return;
        };
        if let Some(p) = &t.parent {
            let root = self.devs[d].root.as_ref().map(|r| r.handle);
            if p.minor != 0 || Some(p.major) != root {
                self.note(Some(dn), p.span, format!("a filter attached to {} rather than the root qdisc; read as if on the root", p.text));
            }
        }
        let has_ports = u
            .criteria
            .iter()
            .any(|c| matches!(c.test, Test::Sport(_) | Test::Dport(_)));
        if has_ports && !u.criteria.iter().any(|c| matches!(c.test, Test::Proto(_))) {
            self.diags.push(
                Diagnostic::new(Code::PortsWithoutProtocol, cmd.span, "u32 port match without `match ip protocol`")
                    .label("reads the port bytes of every IP packet, whatever its protocol")
                    .note("ICMP, GRE or ESP packets whose bytes at that offset happen to match are classified too")
                    .help("add `match ip protocol 6 0xff` (TCP) or `17` (UDP)"),
            );
        }
        let prio = t.prio.unwrap_or(49152);
        let (v4, v6) = if u.v6 { (false, v6) } else { (v4, v6) };
        self.devs[d].u32.push(U32Rec {
            prio,
            v4,
            v6,
            criteria: u.criteria,
            flowid,
            span: cmd.span,
        });
    }

    // ------------------------------------------------------------ iptables

    fn ipt(&mut self, cmd: &Command, c: IptCmd) {
        for &span in &c.glued_negation {
            self.diags.push(
                Diagnostic::new(Code::ObsoleteSyntax, span, "iptables no longer accepts `!` after the option")
                    .label("iptables 1.8 refuses the rule here")
                    .note("current iptables (1.8.9, measured) refuses `--destination !NET` and `--dport ! 80`: the rule is never added")
                    .note("read here as the negation it meant")
                    .help("write the `!` before the option: `! --destination NET`"),
            );
        }
        if c.table != "mangle" {
            if c.op != Op::Other {
                self.other.push(words_text(&cmd.words));
            }
            return;
        }
        let fam = c.v6 as usize;
        let tool = if c.v6 { "ip6tables" } else { "iptables" };
        let flush_warn = |chain: Option<&str>, what: &str| -> Option<Diagnostic> {
            if chain.is_none_or(|ch| BUILTIN.contains(&ch)) {
                let target = chain
                    .map(|c| format!("the chain {c}"))
                    .unwrap_or("every chain".into());
                Some(
                    Diagnostic::new(Code::FlushesChain, cmd.span, format!("this {what} {target} of the mangle table"))
                        .label("also removes rules other software put there")
                        .help("keep your rules in a chain of your own; remove only that chain and the jump to it"),
                )
            } else {
                None
            }
        };
        let table = &mut self.tables[fam];
        match c.op {
            Op::Append(ch) => {
                if let Some(r) = c.rule {
                    table.chain(&ch).push(r);
                }
            }
            Op::Insert(ch, n) => {
                if let Some(r) = c.rule {
                    let rules = table.chain(&ch);
                    let at = n.saturating_sub(1).min(rules.len());
                    rules.insert(at, r);
                }
            }
            Op::Delete(ch) => {
                if let Some(r) = c.rule {
                    let rules = table.chain(&ch);
                    if let Some(i) = rules.iter().position(|x| x.spec == r.spec) {
                        rules.remove(i);
                    }
                }
            }
            Op::DeleteNum(ch, n) => {
                if let Some(d) = flush_warn(Some(&ch), "deletes a rule by number from") {
                    self.diags.push(
                        d.note("a rule number counts every rule of the chain, whoever added it"),
                    );
                }
                let rules = self.tables[fam].chain(&ch);
                if n >= 1 && n <= rules.len() {
                    rules.remove(n - 1);
                }
            }
            Op::Flush(ch) => {
                if let Some(d) = flush_warn(ch.as_deref(), "flushes") {
                    self.diags.push(d);
                }
                let table = &mut self.tables[fam];
                match ch {
                    Some(ch) => table.chain(&ch).clear(),
                    None => table.chains.iter_mut().for_each(|(_, r)| r.clear()),
                }
            }
            Op::DeleteChain(ch) => {
                if ch.is_none() {
                    if let Some(d) = flush_warn(None, "deletes") {
                        self.diags.push(d);
                    }
                }
                let table = &mut self.tables[fam];
                match ch {
                    Some(ch) => table.chains.retain(|(n, _)| *n != ch),
                    None => table.chains.retain(|(n, _)| BUILTIN.contains(&n.as_str())),
                }
            }
            Op::New(ch) => {
                table.chain(&ch);
            }
            Op::Rename(a, b) => {
                for (n, rules) in table.chains.iter_mut() {
                    if *n == a {
                        *n = b.clone();
                    }
                    for r in rules.iter_mut() {
                        if r.target == Target::Jump(a.clone()) {
                            r.target = Target::Jump(b.clone());
                            r.spec = r.spec.replace(&a, &b);
                        }
                    }
                }
            }
            Op::Other => {
                let _ = tool;
                self.other.push(words_text(&cmd.words));
            }
        }
    }

    /// The classifying rules that apply to `dev` in family `fam`, in first-match-wins order.
    fn ipt_entries(&mut self, fam: usize, dev: &str) -> Vec<Entry> {
        let mut flat: Vec<Flat> = Vec::new();
        for ch in ["OUTPUT", "FORWARD", "POSTROUTING"] {
            self.flatten(fam, ch, dev, &[], 0, &mut flat);
        }
        let mut terminal = Vec::new();
        let mut others = Vec::new();
        let mut k = 0;
        while k < flat.len() {
            let f = &flat[k];
            match &f.target {
                FlatTarget::Classify(id) => {
                    let companion = flat.get(k + 1).is_some_and(|n| {
                        n.target == FlatTarget::Return
                            && n.chain == f.chain
                            && same_criteria(&n.criteria, &f.criteria)
                    });
                    let e = Entry {
                        criteria: f.criteria.clone(),
                        class: id.clone(),
                        span: f.span,
                        v6: fam == 1,
                        comment: f.comment.clone(),
                    };
                    if companion {
                        terminal.push(e);
                        k += 2;
                        continue;
                    }
                    others.push(e);
                }
                FlatTarget::Return => {
                    let span = f.span;
                    self.not_followed(span, "a RETURN that does not follow a CLASSIFY rule with the same criteria; read as if it were not there".into());
                }
            }
            k += 1;
        }
        terminal.extend(last_wins_order(others));
        terminal
    }

    fn flatten(
        &mut self,
        fam: usize,
        chain: &str,
        dev: &str,
        pre: &[Criterion],
        depth: usize,
        out: &mut Vec<Flat>,
    ) {
        if depth > 16 {
            return;
        }
        let Some(rules) = self.tables[fam].get(chain).cloned() else {
            return;
        };
        for r in rules {
            if let Some((o, neg)) = &r.out_if {
                let hit = match o.strip_suffix('+') {
                    Some(p) => dev.starts_with(p),
                    None => o == dev,
                };
                if hit == *neg {
                    continue;
                }
            }
            let mut crit = pre.to_vec();
            crit.extend(r.criteria.iter().cloned());
            let classifies = matches!(r.target, Target::Classify { .. });
            if let Some((span, what)) = &r.opaque {
                if classifies || matches!(r.target, Target::Jump(_)) {
                    let text =
                        format!("a rule with {what}, which the plan cannot express; left out");
                    if !self.notes.iter().any(|n| n.span == *span) {
                        self.note(Some(dev), *span, text);
                    }
                    continue;
                }
            }
            match &r.target {
                Target::Classify {
                    major,
                    minor,
                    text,
                    span,
                } => out.push(Flat {
                    criteria: crit,
                    target: FlatTarget::Classify(Id {
                        major: *major,
                        minor: *minor,
                        text: text.clone(),
                        span: *span,
                    }),
                    span: r.span,
                    chain: chain.to_string(),
                    comment: r.comment.clone(),
                }),
                Target::Return => out.push(Flat {
                    criteria: crit,
                    target: FlatTarget::Return,
                    span: r.span,
                    chain: chain.to_string(),
                    comment: None,
                }),
                Target::Jump(ch) => {
                    let ch = ch.clone();
                    self.flatten(fam, &ch, dev, &crit, depth + 1, out);
                }
                Target::Other(t) => {
                    if !t.is_empty() && t != "ACCEPT" {
                        let text = format!("an iptables `-j {t}` rule in {chain}");
                        if !self.notes.iter().any(|n| n.span == r.span) {
                            self.note(Some(dev), r.span, text);
                        }
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------ the plan

    fn build(&mut self) -> (Plan, Facts) {
        let mut plan = Plan::default();
        let mut facts = Facts::default();
        // Devices that iptables rules name, so they get an interface even without a qdisc.
        for di in 0..self.devs.len() {
            let dev = self.devs[di].clone();
            let Some(root) = dev.root.clone() else {
                if !dev.classes.is_empty() {
                    let c = &dev.classes[0];
                    self.diags.push(
                        Diagnostic::new(
                            Code::UnknownClass,
                            c.span,
                            format!(
                                "class {} on `{}`, which has no root qdisc",
                                c.id_text, dev.name
                            ),
                        )
                        .label("tc refuses this: the parent qdisc does not exist"),
                    );
                }
                continue;
            };
            if root.kind != "htb" {
                continue;
            }
            // The same rule as in the language: a name that is not a Linux interface name
            // (a quoted variable holding several words, say) is an error, not a plan.
            if let Err(d) = crate::sema::lower::check_ifname(&dev.name, root.span) {
                self.diags.push(d);
                continue;
            }
            let mut iface = Interface {
                name: dev.name.clone(),
                span: root.span,
                handle: root.handle,
                r2q: root.r2q,
                default: None,
                classes: Vec::new(),
                filters: Vec::new(),
            };
            // Classes, parents first.
            let mut placed: Vec<Option<usize>> = vec![None; dev.classes.len()];
            let mut names: HashSet<String> = HashSet::new();
            loop {
                let mut progress = false;
                for (k, c) in dev.classes.iter().enumerate() {
                    if placed[k].is_some() {
                        continue;
                    }
                    let parent = match &c.parent {
                        None => None,
                        Some(p) if p.minor == 0 && (p.major == root.handle || p.major == 0) => None,
                        Some(p) => {
                            match dev
                                .class_ix
                                .get(&p.minor)
                                .filter(|_| p.major == root.handle)
                            {
                                Some(&pi) => match placed[pi] {
                                    Some(idx) => Some(idx),
                                    None => continue,
                                },
                                None => continue,
                            }
                        }
                    };
                    let name = c
                        .name
                        .clone()
                        .filter(|n| !names.contains(n))
                        .unwrap_or_else(|| format!("c{:x}", c.minor));
                    let rate = c.rate.unwrap_or(0);
                    let mut spans = c.spans;
                    if c.rate.is_none() {
                        spans.rate = None;
                        self.diags.push(
                            Diagnostic::new(
                                Code::MissingRate,
                                c.span,
                                format!("class {} has no rate", c.id_text),
                            )
                            .label("tc refuses an HTB class without `rate`"),
                        );
                    }
                    iface.classes.push(Class {
                        name,
                        span: c.span,
                        minor: c.minor,
                        explicit_id: true,
                        parent,
                        rate,
                        ceil: c.ceil.unwrap_or(rate),
                        burst: c.burst,
                        cburst: c.cburst,
                        prio: c.prio,
                        quantum: c.quantum,
                        mtu: c.mtu,
                        spans,
                    });
                    placed[k] = Some(iface.classes.len() - 1);
                    names.insert(iface.classes[iface.classes.len() - 1].name.clone());
                    progress = true;
                }
                if !progress {
                    break;
                }
            }
            for (k, c) in dev.classes.iter().enumerate() {
                if placed[k].is_none() {
                    let p = c.parent.clone();
                    let span = p.as_ref().map(|p| p.span).unwrap_or(c.span);
                    self.diags.push(
                        Diagnostic::new(Code::UnknownClass, span, format!("class {} names parent {}, which does not exist", c.id_text, p.map(|p| p.text).unwrap_or_default()))
                            .label("no such class or qdisc")
                            .note("tc refuses the class (\"Invalid argument\"), and everything under it; it is left out of the plan")
                            .help("create the parent first, or correct the parent id (ids are hex)"),
                    );
                }
            }
            decimal_ids(&dev, &iface, &mut self.diags);
            // Default.
            let mut default_span = None;
            if let Some(dflt) = &root.default {
                default_span = Some(dflt.span);
                if dflt.minor != 0 {
                    match iface.classes.iter().position(|c| c.minor == dflt.minor) {
                        Some(i) => iface.default = Some(i),
                        None => {
                            let as_dec: Option<u16> = dflt.text.parse().ok();
                            let meant = as_dec
                                .and_then(|v| iface.classes.iter().position(|c| c.minor == v));
                            let mut d = Diagnostic::new(Code::UnknownClass, dflt.span, format!("`default {}` names class {:x}:{:x}, which does not exist", dflt.text, root.handle, dflt.minor))
                                .label("unclassified traffic is not shaped at all")
                                .note("tc reads the default minor as hex and accepts one that names no class; such traffic goes out unshaped, counted as direct packets");
                            if let Some(m) = meant {
                                d = d
                                    .secondary(
                                        iface.classes[m].span,
                                        format!(
                                            "class {} is decimal {}",
                                            iface.classid(m),
                                            dflt.text
                                        ),
                                    )
                                    .help(format!(
                                        "write `default {:x}` to name this class",
                                        iface.classes[m].minor
                                    ));
                                self.diags.push(
                                    Diagnostic::new(
                                        Code::DecimalId,
                                        dflt.span,
                                        format!(
                                            "`default {}` reads as hex 0x{}",
                                            dflt.text, dflt.text
                                        ),
                                    )
                                    .label(format!("probably meant class {}", iface.classid(m))),
                                );
                            }
                            self.diags.push(d);
                        }
                    }
                }
            }
            // Jumbo frames without a class mtu.
            if let Some((m, span)) = dev.link_mtu {
                if m > 1500 && iface.classes.iter().any(|c| c.mtu.is_none()) {
                    self.diags.push(
                        Diagnostic::new(Code::JumboMtu, span, format!("`{}` gets mtu {m}, but its HTB classes keep the 1600-byte default", dev.name))
                            .label("jumbo frames")
                            .help("add `mtu 18000` to every `tc class` line, as the reference guide recommends"),
                    );
                }
            }
            // Filters.
            let name = dev.name.clone();
            let mut fams: [Vec<Entry>; 2] =
                [self.ipt_entries(0, &name), self.ipt_entries(1, &name)];
            let mut u32s = dev.u32.clone();
            u32s.sort_by_key(|u| u.prio);
            for u in &u32s {
                for (f, on) in [(0, u.v4), (1, u.v6)] {
                    if on {
                        fams[f].push(Entry {
                            criteria: u.criteria.clone(),
                            class: u.flowid.clone(),
                            span: u.span,
                            v6: f == 1,
                            comment: None,
                        });
                    }
                }
            }
            let mut lists: [Vec<Filter>; 2] = [Vec::new(), Vec::new()];
            let mut by_minor: HashMap<u16, usize> = HashMap::new();
            for (k, c) in iface.classes.iter().enumerate() {
                by_minor.entry(c.minor).or_insert(k);
            }
            for f in 0..2 {
                for e in std::mem::take(&mut fams[f]) {
                    if e.class.major != root.handle {
                        self.diags.push(Diagnostic::new(Code::UnknownClass, e.class.span, format!("classifies into {}, which is not a class of the qdisc {:x}: on `{}`", e.class.text, root.handle, name)).label("this traffic is not shaped"));
                        continue;
                    }
                    let Some(ci) = by_minor.get(&e.class.minor).copied() else {
                        self.diags.push(
                            Diagnostic::new(Code::UnknownClass, e.class.span, format!("classifies into {}, which does not exist on `{}`", e.class.text, name))
                                .label("no such class")
                                .note("the kernel accepts this; such packets go out unshaped or to the default class"),
                        );
                        continue;
                    };
                    let mut m = Match {
                        criteria: combine_negated(e.criteria),
                    };
                    m.criteria.sort_by_key(|c| kind_order(&c.test));
                    lists[f].push(Filter {
                        class: ci,
                        m,
                        span: e.span,
                    });
                }
                // u32 splits a length range into blocks that differ between the families
                // (IPv6 counts the payload): join those first so the families line up.
                lists[f] = merge_lengths(std::mem::take(&mut lists[f]));
            }
            let both = self.merge_families(
                &name,
                std::mem::take(&mut lists[0]),
                std::mem::take(&mut lists[1]),
            );
            iface.filters = merge_adjacent(both);
            facts.default_spans.push(default_span);
            facts.has_root.push(false);
            plan.interfaces.push(iface);
        }
        (plan, facts)
    }

    /// One first-match-wins list from the IPv4 and the IPv6 lists. A filter without addresses
    /// appears in both when the script classifies both families alike; such pairs become one
    /// filter, in an order that keeps each family's own order. A filter without addresses found
    /// in one family only is kept (the plan applies it to both) and reported.
    fn merge_families(&mut self, dev: &str, a: Vec<Filter>, b: Vec<Filter>) -> Vec<Filter> {
        let same = |x: &Filter, y: &Filter| {
            x.class == y.class && same_criteria(&x.m.criteria, &y.m.criteria)
        };
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        let mut only = [None, None];
        while i < a.len() || j < b.len() {
            if i < a.len() && a[i].m.family() == Family::V4 {
                out.push(a[i].clone());
                i += 1;
            } else if j < b.len() && b[j].m.family() == Family::V6 {
                out.push(b[j].clone());
                j += 1;
            } else if i < a.len() && j < b.len() && same(&a[i], &b[j]) {
                out.push(a[i].clone());
                i += 1;
                j += 1;
            } else if i < a.len() && (j..b.len()).any(|k| same(&a[i], &b[k])) {
                // b[j] has no IPv4 twin here: it comes first in IPv6's order.
                only[1].get_or_insert(b[j].span);
                out.push(b[j].clone());
                j += 1;
            } else if i < a.len() {
                only[0].get_or_insert(a[i].span);
                out.push(a[i].clone());
                i += 1;
            } else {
                only[1].get_or_insert(b[j].span);
                out.push(b[j].clone());
                j += 1;
            }
        }
        for (k, span) in only.into_iter().enumerate() {
            let Some(span) = span else { continue };
            let (this, other, tool) = if k == 0 {
                ("IPv4", "IPv6", "ip6tables (or a `protocol ipv6` filter)")
            } else {
                ("IPv6", "IPv4", "iptables (or a `protocol ip` filter)")
            };
            self.diags.push(
                Diagnostic::new(Code::Ipv4Only, span, format!("this classifies {this} packets only; {other} traffic on `{dev}` is not classified by it"))
                    .label(format!("{this} only"))
                    .note(format!("the imported plan applies such matches to {other} too, as tcc does"))
                    .help(format!("add the same rule with {tool}")),
            );
        }
        out
    }

    fn leaves(&self) -> Vec<String> {
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

#[derive(Debug, Clone, PartialEq)]
enum FlatTarget {
    Classify(Id),
    Return,
}

struct Flat {
    criteria: Vec<Criterion>,
    target: FlatTarget,
    span: Span,
    chain: String,
    comment: Option<String>,
}

struct Entry {
    criteria: Vec<Criterion>,
    class: Id,
    span: Span,
    #[allow(dead_code)]
    v6: bool,
    #[allow(dead_code)]
    comment: Option<String>,
}

/// Non-terminating CLASSIFY rules in script order -> first-match-wins order. The last matching
/// rule wins, so a later rule must come first wherever two rules overlap and send to different
/// classes; elsewhere the script's order is kept (a topological sort preferring it).
fn last_wins_order(rules: Vec<Entry>) -> Vec<Entry> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let n = rules.len();
    let ms: Vec<Match> = rules
        .iter()
        .map(|e| Match {
            criteria: e.criteria.clone(),
        })
        .collect();
    // An edge j -> i (j later in the script, overlapping, another class): j must come first.
    let index = crate::plan::matchrel::OverlapIndex::new(ms.iter());
    let mut indeg = vec![0usize; n];
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n {
        for j in index.candidates(&ms[i]) {
            if j > i
                && rules[i].class.minor != rules[j].class.minor
                && !crate::plan::matchrel::disjoint(&ms[i], &ms[j])
            {
                succ[j].push(i);
                indeg[i] += 1;
            }
        }
    }
    // Kahn's algorithm, always taking the earliest rule in script order that may go next.
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&k| indeg[k] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(k)) = ready.pop() {
        order.push(k);
        for &s in &succ[k] {
            indeg[s] -= 1;
            if indeg[s] == 0 {
                ready.push(Reverse(s));
            }
        }
    }
    let mut slots: Vec<Option<Entry>> = rules.into_iter().map(Some).collect();
    order.into_iter().filter_map(|k| slots[k].take()).collect()
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

/// HTB qdisc options: `default X`, `r2q N`.
type QOpts = Result<(Option<Id>, u32), (Span, String)>;
fn htb_qdisc_opts(o: &[Word]) -> Option<QOpts> {
    let mut dflt = None;
    let mut r2q = 10;
    let mut i = 0;
    while i < o.len() {
        let v = o.get(i + 1);
        match (o[i].text.as_str(), v) {
            ("default", Some(v)) => {
                dflt = Some(match tc::parse_id(v) {
                    Some(id) => id,
                    None => {
                        return Some(Err((
                            v.span,
                            format!("`default {}` is not a class id", v.text),
                        )))
                    }
                });
            }
            ("r2q", Some(v)) => match v.text.parse() {
                Ok(n) => r2q = n,
                Err(_) => return Some(Err((v.span, format!("`r2q {}` is not a number", v.text)))),
            },
            (k, _) => {
                return Some(Err((
                    o[i].span,
                    format!("HTB qdisc option `{k}` is not modelled"),
                )))
            }
        }
        i += 2;
    }
    Some(Ok((dflt, r2q)))
}

fn kind_order(t: &Test) -> u8 {
    match t {
        Test::Proto(_) => 0,
        Test::Src(_) => 1,
        Test::Dst(_) => 2,
        Test::Sport(_) => 3,
        Test::Dport(_) => 4,
        Test::Dscp(_) => 5,
        Test::Mark { .. } => 6,
        Test::Length { .. } => 7,
    }
}

pub fn same_criteria(a: &[Criterion], b: &[Criterion]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.negated == y.negated && x.test == y.test)
}

/// Several negated address or port tests of one kind in one rule are one negated list.
fn combine_negated(cs: Vec<Criterion>) -> Vec<Criterion> {
    let mut out: Vec<Criterion> = Vec::new();
    for c in cs {
        if c.negated {
            if let Some(prev) = out.iter_mut().find(|p| {
                p.negated && std::mem::discriminant(&p.test) == std::mem::discriminant(&c.test)
            }) {
                match (&mut prev.test, &c.test) {
                    (Test::Src(a), Test::Src(b)) | (Test::Dst(a), Test::Dst(b)) => {
                        a.extend(b.iter().cloned());
                        continue;
                    }
                    (Test::Sport(a), Test::Sport(b)) | (Test::Dport(a), Test::Dport(b)) => {
                        a.extend(b.iter().cloned());
                        continue;
                    }
                    _ => {}
                }
            }
        }
        out.push(c);
    }
    out
}

/// Two adjacent filters to one class whose matches differ in one positive list are one filter
/// with both lists' alternatives (the union is exact). Port ranges that touch are joined.
pub fn merge_adjacent(fs: Vec<Filter>) -> Vec<Filter> {
    merge_with(fs, false)
}

/// `merge_adjacent` for contiguous length ranges only.
fn merge_lengths(fs: Vec<Filter>) -> Vec<Filter> {
    merge_with(fs, true)
}

fn merge_with(fs: Vec<Filter>, lengths_only: bool) -> Vec<Filter> {
    let mut out: Vec<Filter> = Vec::new();
    for f in fs {
        if let Some(prev) = out.last_mut() {
            if prev.class == f.class && prev.m.criteria.len() == f.m.criteria.len() {
                let diff: Vec<usize> = (0..f.m.criteria.len())
                    .filter(|&k| {
                        let (a, b) = (&prev.m.criteria[k], &f.m.criteria[k]);
                        a.negated != b.negated || a.test != b.test
                    })
                    .collect();
                if diff.is_empty() {
                    // The same rule twice: the second can never decide anything.
                    continue;
                }
                if let [k] = diff.as_slice() {
                    let (a, b) = (&mut prev.m.criteria[*k], &f.m.criteria[*k]);
                    if !a.negated && !b.negated {
                        let merged = match (&mut a.test, &b.test) {
                            _ if lengths_only && !matches!(b.test, Test::Length { .. }) => false,
                            (Test::Src(x), Test::Src(y)) | (Test::Dst(x), Test::Dst(y))
                                if x.first().map(|n| n.addr().is_ipv4())
                                    == y.first().map(|n| n.addr().is_ipv4()) =>
                            {
                                x.extend(y.iter().cloned());
                                true
                            }
                            (Test::Sport(x), Test::Sport(y)) | (Test::Dport(x), Test::Dport(y)) => {
                                for r in y {
                                    match x.last_mut() {
                                        Some(l)
                                            if r.lo >= l.lo && r.lo as u32 <= l.hi as u32 + 1 =>
                                        {
                                            l.hi = l.hi.max(r.hi)
                                        }
                                        _ => x.push(*r),
                                    }
                                }
                                true
                            }
                            (Test::Length { max, .. }, Test::Length { min: lo, max: hi })
                                if *max < u16::MAX && *max + 1 == *lo =>
                            {
                                *max = *hi;
                                true
                            }
                            _ => false,
                        };
                        if merged {
                            continue;
                        }
                    }
                }
            }
        }
        out.push(f);
    }
    out
}

/// Sibling classes numbered as if ids were decimal: `1:9` then `1:10` (which is 0x10 = 16).
fn decimal_ids(dev: &Dev, iface: &Interface, diags: &mut Diagnostics) {
    let dec = |c: &CRec| -> Option<u32> {
        let m = c.id_text.split(':').nth(1)?;
        (!m.is_empty() && m.chars().all(|c| c.is_ascii_digit()))
            .then(|| m.parse().ok())
            .flatten()
    };
    for c in &dev.classes {
        let Some(v) = dec(c) else { continue };
        if v % 10 != 0 || v == 0 {
            continue;
        }
        let key = |p: &Option<Id>| p.as_ref().map(|p| (p.major, p.minor));
        let prev = dev
            .classes
            .iter()
            .find(|o| key(&o.parent) == key(&c.parent) && dec(o) == Some(v - 1));
        // A script that also has ids in between (1:a..1:f) counts in hex on purpose.
        let between = |o: &CRec| {
            key(&o.parent) == key(&c.parent)
                && prev.is_some_and(|p| o.minor > p.minor && o.minor < c.minor)
        };
        if dev.classes.iter().any(between) {
            continue;
        }
        if let Some(p) = prev {
            let _ = iface;
            diags.push(
                Diagnostic::new(Code::DecimalId, c.spans.classid.unwrap_or(c.span), format!("class {} follows {} as if ids were decimal", c.id_text, p.id_text))
                    .label(format!("tc reads this as minor 0x{v} = {}", u32::from_str_radix(&v.to_string(), 16).unwrap_or(0)))
                    .secondary(p.spans.classid.unwrap_or(p.span), format!("this is minor 0x{} = {}", v - 1, u32::from_str_radix(&(v - 1).to_string(), 16).unwrap_or(0)))
                    .note("tc minor ids are hexadecimal: after 1:9 come 1:a ... 1:f, then 1:10")
                    .help("harmless if nothing else names these ids by number; check `default` and filters"),
            );
        }
    }
}
