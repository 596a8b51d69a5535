//! tc commands on the model: the root qdisc, HTB classes (rates and sizes read as tc reads them),
//! leaf qdiscs and u32 filters.

use super::{is_name, words_text, CRec, Root, Sim, U32Rec};
use crate::diagnostic::{Code, Diagnostic};
use crate::dialect::sh::{Command, Word};
use crate::dialect::tc::read::{self as tc, Id, Obj, TcCmd, Verb};
use crate::plan::qdisc::LeafQdisc;
use crate::plan::units::{self, Rate, Size, UnitError};
use crate::plan::{ClassSpans, Test};
use std::collections::HashMap;

impl Sim {
    pub(super) fn tc(&mut self, cmd: &Command, t: TcCmd) {
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
        if t.verb != Verb::Del && !kind.is_empty() && !KNOWN_QDISCS.contains(&kind.as_str()) {
            let why = if REMOVED_QDISCS.contains(&kind.as_str()) {
                "Error: Specified qdisc kind is unknown."
            } else {
                "Unknown qdisc, hence option is unparsable"
            };
            self.refused(
                cmd.span,
                format!("a qdisc of unknown kind `{kind}`: it is not built"),
                why,
            );
            return;
        }
        if t.root {
            if t.verb == Verb::Add && self.devs[d].root.is_some() {
                self.refused(
                    cmd.span,
                    format!("`tc qdisc add ... root` on `{dn}`, which already has a root qdisc"),
                    "Error: Exclusivity flag on, cannot modify.",
                );
                return;
            }
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
                if self.devs[d].root.is_some() {
                    let (dflt, _) = self.htb_qdisc_opts(dn, &t.opts);
                    if let Some(root) = self.devs[d].root.as_mut() {
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
                self.lost(
                    Some(dn),
                    cmd.span,
                    format!("a root qdisc `{kind} {opts}` on `{dn}`: its queueing and limits are not in the plan (only HTB trees are modelled)")
                        .replace("  ", " "),
                );
                return;
            }
            let (default, r2q) = self.htb_qdisc_opts(dn, &t.opts);
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
                let root = self.devs[d].root.as_ref().map(|r| r.handle);
                if Some(p.major) != root || !self.devs[d].class_ix.contains_key(&p.minor) {
                    self.refused(
                        cmd.span,
                        format!("a qdisc under {}, which is not a class on `{dn}`", p.text),
                        "Error: Failed to find specified qdisc.",
                    );
                    return;
                }
                let opts = words_text(&t.opts);
                let text = format!("{kind} {opts}").trim().to_string();
                // A kind and options `plan::qdisc` models become the class's leaf queue; any
                // other stays out of the plan, and says so.
                let mut words = vec![kind.as_str()];
                words.extend(t.opts.iter().map(|w| w.text.as_str()));
                if let Err(e) = LeafQdisc::parse(&words) {
                    let why = if e.unknown_kind {
                        String::new()
                    } else {
                        format!(" ({e})")
                    };
                    self.lost(
                        Some(dn),
                        cmd.span,
                        format!(
                            "a `{text}` qdisc on {}: its queueing is not in the plan{why}",
                            p.text
                        ),
                    );
                }
                self.devs[d].leafq.retain(|(m, _, _)| *m != p.minor);
                self.devs[d].leafq.push((p.minor, text, cmd.span));
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
        let exists = self.devs[d].class_ix.contains_key(&id.minor);
        if t.verb == Verb::Del {
            let dev = &self.devs[d];
            let children = dev.classes.iter().any(|c| {
                c.parent
                    .as_ref()
                    .is_some_and(|p| p.minor == id.minor && p.major == id.major && p.minor != 0)
            });
            let filtered = dev.u32.iter().any(|f| f.flowid.minor == id.minor)
                || dev.pointed.iter().any(|&(_, m)| m == id.minor);
            if !exists {
                self.refused(
                    cmd.span,
                    format!("deletes class {}, which does not exist on `{dn}`", id.text),
                    "Error: Specified class not found.",
                );
                return;
            }
            if children || filtered {
                let why = if children {
                    "it has child classes"
                } else {
                    "a filter points at it"
                };
                self.refused(
                    cmd.span,
                    format!(
                        "deletes class {}, which is in use ({why}): the class stays",
                        id.text
                    ),
                    "Error: HTB class in use.",
                );
                return;
            }
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
            self.lost(
                Some(dn),
                cmd.span,
                format!(
                    "class {} of kind `{kind}`: its rates are not in the plan (only HTB classes are modelled)",
                    id.text
                ),
            );
            return;
        }
        if t.verb == Verb::Add && exists {
            self.refused(
                cmd.span,
                format!("adds class {}, which already exists on `{dn}`", id.text),
                "RTNETLINK answers: File exists",
            );
            return;
        }
        if t.verb == Verb::Change && !exists {
            self.refused(
                cmd.span,
                format!("changes class {}, which does not exist on `{dn}`", id.text),
                "Error: Specified class not found.",
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
                rate_refused: false,
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
                    let r = match self.rate(v) {
                        Ok(r) => r,
                        Err(e) => {
                            // Refused with its own error: not also "has no rate".
                            c.rate_refused |= k == "rate" && e == UnitError::TooLarge;
                            break;
                        }
                    };
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
                    self.lost(
                        Some(dn),
                        o[i].span,
                        format!("`{k} {}` on class {} not carried", v.text, id.text),
                    );
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

    /// A rate word, read as tc reads it; a byte unit is warned about, and a rate above
    /// `MAX_RATE` refused, as in the language.
    fn rate(&mut self, w: &Word) -> Result<u64, UnitError> {
        match Rate::parse_tc(&w.text) {
            Ok(r) => {
                if let Some(d) = r.byte_units_warning(w.span) {
                    self.diags.push(d);
                }
                Ok(r.rate.0)
            }
            Err(UnitError::TooLarge) => {
                self.diags.push(units::rate_too_large(w.span));
                Err(UnitError::TooLarge)
            }
            Err(e) => {
                self.not_followed(w.span, format!("`{}` is not a rate", w.text));
                Err(e)
            }
        }
    }

    fn size(&mut self, w: &Word) -> Option<u64> {
        match Size::parse_tc(&w.text) {
            Ok(s) => Some(s.0),
            Err(_) => {
                self.not_followed(w.span, format!("`{}` is not a size", w.text));
                None
            }
        }
    }

    fn filter(&mut self, cmd: &Command, d: usize, dn: &str, t: TcCmd) {
        if t.verb == Verb::Del {
            self.devs[d]
                .u32
                .retain(|f| t.prio.is_some_and(|p| p != f.prio));
            self.devs[d]
                .pointed
                .retain(|&(prio, _)| t.prio.is_some_and(|p| p != prio));
            return;
        }
        if !t.ingress && t.parent.as_ref().is_none_or(|p| p.major != 0xffff) {
            // Whether or not the plan models it, a filter sending to a class holds it.
            let prio = t.prio.unwrap_or(49152);
            let to = t.opts.windows(2).filter_map(|w| {
                matches!(w[0].text.as_str(), "flowid" | "classid")
                    .then(|| tc::parse_id(&w[1]))
                    .flatten()
            });
            let to: Vec<u16> = to.map(|id| id.minor).collect();
            self.devs[d]
                .pointed
                .extend(to.into_iter().map(|m| (prio, m)));
        }
        let kind = t.kind.as_ref().map(|k| k.text.as_str()).unwrap_or("");
        if t.ingress || t.parent.as_ref().is_some_and(|p| p.major == 0xffff) {
            match tc::parse_redirect(kind, &t.opts) {
                Some(Ok(target)) if self.devs[d].redirect.is_none() => {
                    self.devs[d].redirect = Some((target.text.clone(), cmd.span));
                    return;
                }
                Some(Ok(_)) => {
                    self.ingress_not_followed(
                        dn,
                        cmd.span,
                        "a second redirect of what arrives".into(),
                    );
                    return;
                }
                Some(Err(why)) => {
                    self.ingress_not_followed(dn, cmd.span, why.to_string());
                    return;
                }
                None => {}
            }
            let what = match police_rate(&t.opts) {
                Some(r) => format!("a police action on ingress drops above {r}"),
                None => format!("a `{kind}` filter on incoming traffic"),
            };
            self.lost(
                Some(dn),
                cmd.span,
                format!("{what} on `{dn}`: the plan shapes outgoing traffic only"),
            );
            return;
        }
        if kind != "u32" {
            self.lost(
                Some(dn),
                cmd.span,
                format!(
                    "a `{kind}` filter ({}): its classification is not in the plan (only u32 filters are modelled)",
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
                self.lost(
                    Some(dn),
                    cmd.span,
                    format!("a u32 filter for protocol `{other}`: its classification is not in the plan"),
                );
                return;
            }
        };
        let u = match tc::parse_u32(&t.opts) {
            Ok(u) => u,
            Err((s, m)) => {
                self.lost(
                    Some(dn),
                    s,
                    format!("{m}; this filter's classification is not in the plan"),
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
                self.lost(Some(dn), p.span, format!("a filter attached to {} rather than the root qdisc: HTB consults it only for packets a filter on the qdisc sends to that class", p.text));
                return;
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
}

/// Qdisc kinds this kernel generation knows (tc builds them when the module is there).
const KNOWN_QDISCS: &[&str] = &[
    "htb",
    "tbf",
    "sfq",
    "fq_codel",
    "codel",
    "fq",
    "fq_pie",
    "pie",
    "cake",
    "netem",
    "prio",
    "pfifo",
    "bfifo",
    "pfifo_fast",
    "pfifo_head_drop",
    "red",
    "gred",
    "sfb",
    "choke",
    "hfsc",
    "drr",
    "qfq",
    "ets",
    "mq",
    "mqprio",
    "multiq",
    "taprio",
    "etf",
    "skbprio",
    "plug",
    "hhf",
    "noqueue",
    "ingress",
    "clsact",
];
/// Removed from Linux in 6.3: tc still parses them, the kernel refuses them.
const REMOVED_QDISCS: &[&str] = &["cbq", "atm", "dsmark"];

/// `police rate R` (or `police R`) among a filter's options, as written.
fn police_rate(o: &[Word]) -> Option<String> {
    let p = o.iter().position(|w| w.text == "police")?;
    let rest = &o[p + 1..];
    let r = rest.iter().position(|w| w.text == "rate")?;
    rest.get(r + 1).map(|w| w.text.clone())
}

impl Sim {
    /// HTB qdisc options: `default X`, `r2q N`; any other is not carried (S0008), and the
    /// options after it are still read.
    fn htb_qdisc_opts(&mut self, dn: &str, o: &[Word]) -> (Option<Id>, u32) {
        let mut dflt = None;
        let mut r2q = 10;
        let mut i = 0;
        while i < o.len() {
            let v = o.get(i + 1);
            match (o[i].text.as_str(), v) {
                ("default", Some(v)) => match tc::parse_id(v) {
                    Some(id) => dflt = Some(id),
                    None => {
                        self.not_followed(v.span, format!("`default {}` is not a class id", v.text))
                    }
                },
                ("r2q", Some(v)) => match v.text.parse() {
                    Ok(n) => r2q = n,
                    Err(_) => {
                        self.not_followed(v.span, format!("`r2q {}` is not a number", v.text))
                    }
                },
                ("offload", _) => {
                    self.lost(Some(dn), o[i].span, "`offload` not carried".into());
                    i += 1;
                    continue;
                }
                (k, v) => {
                    let v = v.map(|v| v.text.as_str()).unwrap_or("");
                    self.lost(
                        Some(dn),
                        o[i].span,
                        format!("`{k} {v}` on the HTB qdisc of `{dn}` not carried"),
                    );
                }
            }
            i += 2;
        }
        (dflt, r2q)
    }
}
