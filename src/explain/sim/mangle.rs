//! iptables commands on the mangle table model, and the classifying rules a device ends up with:
//! chains flattened from the built-in hooks, CLASSIFY rules put in first-match-wins order.

use super::{words_text, Sim, BUILTIN};
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::dialect::iptables::read::{IptCmd, Op, Target};
use crate::dialect::sh::Command;
use crate::dialect::tc::read::Id;
use crate::explain::merge::same_criteria;
use crate::plan::{Criterion, Match};

impl Sim {
    pub(super) fn ipt(&mut self, cmd: &Command, c: IptCmd) {
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
        // A rule whose target changes no queueing, limit or classification (`-j LOG`): kept in
        // the model, but the command is not about shaping.
        if let (Op::Append(_) | Op::Insert(..), Some(r)) = (&c.op, &c.rule) {
            if matches!(&r.target, Target::Other(t) if !t.is_empty() && target_effect(t, &r.spec).is_none())
            {
                self.other.push(words_text(&cmd.words));
            }
        }
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

    /// Every rule left in the mangle tables whose target is not CLASSIFY, RETURN or a jump:
    /// what it does to traffic (S0008), or nothing when it changes no queueing, limit or
    /// classification (ACCEPT, LOG...). Said once per rule, in any chain, whichever device.
    pub(in crate::explain) fn mangle_targets(&mut self) {
        let mut lost = Vec::new();
        for (f, t) in self.tables.iter().enumerate() {
            for (chain, rules) in &t.chains {
                if chain.starts_with(super::nft::PREFIX) {
                    continue;
                }
                for r in rules {
                    if let Target::Other(name) = &r.target {
                        if let Some(what) = target_effect(name, &r.spec) {
                            let tool = if f == 0 { "iptables" } else { "ip6tables" };
                            let dev = r
                                .out_if
                                .as_ref()
                                .filter(|(_, neg)| !neg)
                                .map(|(d, _)| d.clone());
                            lost.push((dev, r.span, format!("{tool} mangle {chain}: {what}")));
                        }
                    }
                }
            }
        }
        for (dev, span, text) in lost {
            if !self.notes.iter().any(|n| n.span == span) {
                self.lost(dev.as_deref(), span, text);
            }
        }
    }

    /// The classifying rules that apply to `dev` in family `fam`, in first-match-wins order.
    pub(in crate::explain) fn ipt_entries(&mut self, fam: usize, dev: &str) -> Vec<Entry> {
        let mut flat: Vec<Flat> = Vec::new();
        let mut hooks: Vec<String> = ["OUTPUT", "FORWARD", "POSTROUTING"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        hooks.extend(
            self.tables[fam]
                .chains
                .iter()
                .map(|(n, _)| n.clone())
                .filter(|n| n.starts_with(super::nft::PREFIX)),
        );
        for ch in &hooks {
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
                // A RETURN for every packet that gets here (`oifname != "eth0" return` on eth0's
                // other devices): the rest of the chain is not walked.
                Target::Return if r.criteria.is_empty() => return,
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
                // What other targets do is said once per rule by `mangle_targets`.
                Target::Other(_) => {}
            }
        }
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

pub(in crate::explain) struct Entry {
    pub(in crate::explain) criteria: Vec<Criterion>,
    pub(in crate::explain) class: Id,
    pub(in crate::explain) span: Span,
    #[allow(dead_code)]
    pub(in crate::explain) v6: bool,
    #[allow(dead_code)]
    pub(in crate::explain) comment: Option<String>,
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

/// What a mangle rule's target does to traffic, in words; `None` for targets that change no
/// queueing, limit or classification.
fn target_effect(name: &str, spec: &str) -> Option<String> {
    let opts = spec
        .split_once(&format!("-j {name}"))
        .or_else(|| spec.split_once(&format!("--jump {name}")))
        .map(|(_, o)| o.trim().to_string())
        .unwrap_or_default();
    let with = if opts.is_empty() {
        String::new()
    } else {
        format!(" {opts}")
    };
    Some(match name {
        "" | "ACCEPT" | "LOG" | "NFLOG" | "ULOG" | "TRACE" | "CHECKSUM" | "TTL" | "HL" | "AUDIT" => {
            return None
        }
        "MARK" => format!("`-j MARK{with}` sets the packet mark, which `fw` filters and policy routing act on; the plan does not follow marks"),
        "CONNMARK" => format!("`-j CONNMARK{with}` sets or restores the connection mark, which `fw` filters and policy routing act on; the plan does not follow marks"),
        "DSCP" | "TOS" => format!("`-j {name}{with}` rewrites the packet's DSCP/TOS field, which later DSCP tests and the next hops see; the plan does not rewrite packets"),
        "DROP" | "REJECT" => format!("`-j {name}{with}` drops the packets it matches; the plan does not drop"),
        "TCPMSS" => format!("`-j TCPMSS{with}` changes the TCP segment size; the plan does not rewrite packets"),
        _ => format!("`-j {name}{with}`: what it does to traffic is not in the plan"),
    })
}
