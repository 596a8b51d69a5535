//! Explaining an imported plan: in plain words (the default), as JSON for tools, and as a
//! Graphviz DOT picture of the class tree.

use super::lower::Place;
use super::Explained;
use crate::emit::graph::{dot_with, DotStyle};
use crate::plan::units::human_rate;
use crate::plan::{Criterion, Interface, Match, PortRange, Test};
use crate::report::{self, Sources};
use ipnet::IpNet;
use serde::Serialize;
use std::fmt::Write;

fn list_words(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [a] => a.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn ports_text(ps: &[PortRange]) -> String {
    let items: Vec<String> = ps
        .iter()
        .map(|p| {
            if p.lo == p.hi {
                p.lo.to_string()
            } else {
                format!("{}-{}", p.lo, p.hi)
            }
        })
        .collect();
    let word = if ps.len() == 1 && ps[0].lo == ps[0].hi {
        "port"
    } else {
        "ports"
    };
    format!("{word} {}", list_words(&items))
}

fn nets_text(ns: &[IpNet]) -> String {
    let items: Vec<String> = ns
        .iter()
        .map(|n| {
            if n.prefix_len() == n.max_prefix_len() {
                n.addr().to_string()
            } else {
                n.to_string()
            }
        })
        .collect();
    list_words(&items)
}

fn proto_name(p: u8) -> String {
    match p {
        6 => "TCP".into(),
        17 => "UDP".into(),
        1 => "ICMP".into(),
        58 => "ICMPv6".into(),
        47 => "GRE".into(),
        n => format!("IP protocol {n}"),
    }
}

/// A match in words: "TCP from ports 80, 20-21 and 1024-5000 to 131.225.0.0/16".
pub fn match_words(m: &Match) -> String {
    let of = |pred: fn(&Test) -> bool| -> Vec<&Criterion> {
        m.criteria.iter().filter(|c| pred(&c.test)).collect()
    };
    let mut head = Vec::new();
    for c in of(|t| matches!(t, Test::Proto(_))) {
        if let Test::Proto(p) = c.test {
            head.push(if c.negated {
                format!("everything but {}", proto_name(p))
            } else {
                proto_name(p)
            });
        }
    }
    let mut from = Vec::new();
    let mut to = Vec::new();
    for c in &m.criteria {
        let not = if c.negated { "anything but " } else { "" };
        match &c.test {
            Test::Src(n) => from.push(format!("{not}{}", nets_text(n))),
            Test::Sport(p) => from.push(format!("{not}{}", ports_text(p))),
            Test::Dst(n) => to.push(format!("{not}{}", nets_text(n))),
            Test::Dport(p) => to.push(format!("{not}{}", ports_text(p))),
            _ => {}
        }
    }
    let mut s = if head.is_empty() {
        "traffic".to_string()
    } else {
        head.join(" ")
    };
    if !from.is_empty() {
        let _ = write!(s, " from {}", from.join(", "));
    }
    if !to.is_empty() {
        let _ = write!(s, " to {}", to.join(", "));
    }
    for c in &m.criteria {
        let not = if c.negated { "not " } else { "" };
        match &c.test {
            Test::Dscp(d) => {
                let _ = write!(s, " {not}marked DSCP {d}");
            }
            Test::Mark { value, mask } => {
                let _ = match mask {
                    Some(k) => write!(s, " {not}with firewall mark {value:#x}/{k:#x}"),
                    None => write!(s, " {not}with firewall mark {value:#x}"),
                };
            }
            Test::Length { min, max } => {
                let _ = write!(s, " {not}of {min}-{max} bytes");
            }
            _ => {}
        }
    }
    if m.criteria.is_empty() {
        s = "all traffic".into();
    }
    s
}

fn class_words(iface: &Interface, i: usize) -> String {
    let c = &iface.classes[i];
    let mut s = if c.ceil > c.rate {
        format!(
            "guarantees {}, may borrow up to {}",
            human_rate(c.rate),
            human_rate(c.ceil)
        )
    } else if c.ceil < c.rate {
        format!(
            "is limited to {} (its ceil, below its rate of {}: the kernel lets the ceil win)",
            human_rate(c.ceil),
            human_rate(c.rate)
        )
    } else {
        format!("guarantees and is limited to {}", human_rate(c.rate))
    };
    if let Some(p) = c.prio {
        let _ = write!(s, ", priority {p}");
    }
    if let Some(m) = c.mtu {
        let _ = write!(s, ", mtu {m}");
    }
    if let Some(b) = c.burst {
        let _ = write!(s, ", burst {b} bytes");
    }
    if let Some(b) = c.cburst {
        let _ = write!(s, ", cburst {b} bytes");
    }
    if let Some(q) = c.quantum {
        let _ = write!(s, ", quantum {q} bytes");
    }
    if let Some(q) = &c.qdisc {
        let _ = write!(s, ", leaf queue `{q}`");
    }
    s
}

/// Line ranges in words: "lines 1-3, 6 and 9".
fn lines_text(mut lines: Vec<usize>) -> String {
    lines.sort_unstable();
    lines.dedup();
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for l in lines {
        match runs.last_mut() {
            Some((_, hi)) if *hi + 1 == l => *hi = l,
            _ => runs.push((l, l)),
        }
    }
    let items: Vec<String> = runs
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    let word = if items.len() == 1 && runs[0].0 == runs[0].1 {
        "line"
    } else {
        "lines"
    };
    format!("{word} {}", list_words(&items))
}

/// The source name of the live kernel's state read as a script (`tcc explain --live`).
pub const LIVE_SOURCE: &str = "<live kernel>";

/// Places in words, the script's own lines first, then each file it read (`source`,
/// `tc -batch FILE`...) by name: "lines 1-3 and 6; rules.tc lines 1-4".
fn places_text(sources: &Sources, main: usize, places: Vec<(usize, usize)>) -> String {
    let mut files: Vec<usize> = places.iter().map(|p| p.0).collect();
    files.sort_unstable_by_key(|&f| (f != main, f));
    files.dedup();
    files
        .iter()
        .map(|&f| {
            let lines = places.iter().filter(|p| p.0 == f).map(|p| p.1).collect();
            if f == main {
                lines_text(lines)
            } else {
                format!("{} {}", sources.name(f), lines_text(lines))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The three places every command ends in, with lines.
fn endings_text(ex: &Explained, sources: &Sources, main: usize, out: &mut String) {
    if ex.endings.is_empty() {
        return;
    }
    let place =
        |e: &super::lower::Ending| (e.span.file, sources.line_col(e.span.file, e.span.start).0);
    let of = |p: Place| ex.endings.iter().filter(move |e| e.place == p);
    out.push_str("\nEvery command, by where it ends:\n");
    let modelled: Vec<(usize, usize)> = of(Place::Modelled).map(place).collect();
    if modelled.is_empty() {
        out.push_str("  modelled (part of the plan): none\n");
    } else {
        let _ = writeln!(
            out,
            "  modelled (part of the plan): {}",
            places_text(sources, main, modelled)
        );
    }
    let other: Vec<(usize, usize)> = of(Place::NotShaping).map(place).collect();
    if !other.is_empty() {
        let _ = writeln!(
            out,
            "  not about shaping: {}",
            places_text(sources, main, other)
        );
    }
    // A set: a script can have many thousands of these (a list would make this quadratic).
    let mut seen = std::collections::HashSet::new();
    let not: Vec<_> = of(Place::NotModelled).collect();
    if !not.is_empty() {
        out.push_str("  not modelled:\n");
    }
    for e in not {
        for r in &e.reasons {
            if !seen.insert((place(e), r)) {
                continue;
            }
            let at = places_text(sources, main, vec![place(e)]);
            let _ = writeln!(out, "    - {at} [{}]: {}", r.code, r.what);
        }
    }
}

fn label(iface: &Interface, i: usize) -> String {
    let id = iface.classid(i);
    let name = &iface.classes[i].name;
    if *name == crate::plan::Class::unnamed(iface.classes[i].minor) {
        id
    } else {
        format!("{id} ({name})")
    }
}

/// The plain-text explanation.
pub fn text(ex: &Explained, sources: &Sources, file: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} sets up:", sources.name(file));
    let plan = &ex.plan_as_written;
    if plan.interfaces.is_empty() {
        out.push_str("\n  no HTB shaping at all.\n");
    }
    // Each interface's tree, then (download shaping) the tree of what arrives on it.
    let mut trees: Vec<(&Interface, String)> = Vec::new();
    for iface in &plan.interfaces {
        trees.push((iface, format!("Interface {}", iface.name)));
        if let Some(t) = &iface.ingress {
            trees.push((
                t,
                format!(
                    "What arrives on {} (redirected to an ifb device, `{}` in the plan)",
                    iface.name, t.name
                ),
            ));
        }
    }
    for (iface, header) in trees {
        let _ = writeln!(
            out,
            "\n{header}: an HTB tree under qdisc {:x}: (r2q {}):",
            iface.handle, iface.r2q
        );
        let mut kids: Vec<Vec<usize>> = vec![Vec::new(); iface.classes.len() + 1];
        for (k, c) in iface.classes.iter().enumerate() {
            kids[c.parent.map_or(0, |p| p + 1)].push(k);
        }
        fn tree(
            iface: &Interface,
            kids: &[Vec<usize>],
            parent: Option<usize>,
            depth: usize,
            out: &mut String,
        ) {
            for &k in &kids[parent.map_or(0, |p| p + 1)] {
                let _ = writeln!(
                    out,
                    "{}- class {} {}",
                    "  ".repeat(depth + 1),
                    label(iface, k),
                    class_words(iface, k)
                );
                tree(iface, kids, Some(k), depth + 1, out);
            }
        }
        tree(iface, &kids, None, 0, &mut out);
        // Marks set by rules or read by `fw` filters that are not in the plan: the script does
        // classify, by means tcc could not follow, so "no traffic is sorted" would be a claim.
        let by_marks = ex.notes.iter().any(|n| {
            n.device.as_deref().is_none_or(|d| d == iface.name)
                && (n.text.contains("`fw` filter") || n.text.contains("mark"))
        });
        if iface.filters.is_empty() && by_marks {
            out.push_str("  The script classifies by packet marks tcc could not follow (see what is not modelled): which traffic goes to which class is not known.\n");
        } else if iface.filters.is_empty() {
            out.push_str("  No traffic is sorted into classes.\n");
        } else {
            out.push_str("  Traffic, first match wins:\n");
            for (n, f) in iface.filters.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "    {}. {} goes to {}",
                    n + 1,
                    match_words(&f.m),
                    label(iface, f.class)
                );
            }
        }
        match iface.default {
            Some(d) => {
                let _ = writeln!(out, "  Everything else goes to {}.", label(iface, d));
            }
            None => out.push_str(
                "  Everything else is not shaped: it bypasses the tree (no default class).\n",
            ),
        }
        for n in ex
            .notes
            .iter()
            .filter(|n| n.device.as_deref() == Some(&iface.name))
        {
            let (line, _) = sources.line_col(n.span.file, n.span.start);
            let _ = writeln!(out, "  Not modelled (line {line}): {}.", n.text);
        }
    }
    let others: Vec<_> = ex
        .notes
        .iter()
        .filter(|n| {
            !plan
                .interfaces
                .iter()
                .any(|i| n.device.as_deref() == Some(&i.name))
        })
        .collect();
    if !others.is_empty() {
        out.push_str("\nAlso configured, but not modelled:\n");
        for n in others {
            let (line, _) = sources.line_col(n.span.file, n.span.start);
            let _ = writeln!(out, "  - line {line}: {}", n.text);
        }
    }
    out.push_str(if sources.name(file) == LIVE_SOURCE {
        "\nIn place now:\n"
    } else {
        "\nWhen the script is done, it leaves in place:\n"
    });
    if ex.leaves.is_empty() {
        out.push_str("  nothing: no qdisc and no mangle rule.\n");
    }
    for l in &ex.leaves {
        let _ = writeln!(out, "  - {l}");
    }
    if !ex.removes.is_empty() {
        let _ = writeln!(
            out,
            "It removes the root qdisc of: {}.",
            ex.removes.join(", ")
        );
    }
    if ex.conditional > 0 {
        let _ = writeln!(
            out,
            "{} command{} run only under a condition (if, &&, ||, while); all were read as if they ran.",
            ex.conditional,
            if ex.conditional == 1 { "" } else { "s" }
        );
    }
    if !ex.set_e {
        out.push_str("The script does not `set -e`: a failing command does not stop it, so a half-applied configuration is possible.\n");
    }
    endings_text(ex, sources, file, &mut out);
    if !ex.other.is_empty() {
        let _ = writeln!(
            out,
            "Other commands ({}), not about shaping:",
            ex.other.len()
        );
        for o in ex.other.iter().take(20) {
            let _ = writeln!(out, "  $ {o}");
        }
        if ex.other.len() > 20 {
            let _ = writeln!(out, "  ... and {} more", ex.other.len() - 20);
        }
    }
    out
}

#[derive(Serialize)]
struct JsonExplain<'a> {
    version: u32,
    interfaces: Vec<JsonIface>,
    notes: &'a [super::lower::Note],
    leaves: &'a [String],
    removes: &'a [String],
    other_commands: &'a [String],
    set_e: bool,
    conditional_commands: usize,
    commands: Vec<JsonEnding<'a>>,
    diagnostics: report::JsonReport,
}

#[derive(Serialize)]
struct JsonEnding<'a> {
    /// The file the command is written in (the script, or a file it read).
    file: String,
    line: usize,
    #[serde(flatten)]
    ending: &'a super::lower::Ending,
}

#[derive(Serialize)]
struct JsonIface {
    name: String,
    handle: String,
    r2q: u32,
    default: Option<String>,
    classes: Vec<JsonClass>,
    filters: Vec<JsonFilter>,
}

#[derive(Serialize)]
struct JsonClass {
    classid: String,
    name: String,
    parent: String,
    rate: u64,
    ceil: u64,
    prio: Option<u32>,
    mtu: Option<u64>,
    burst: Option<u64>,
    cburst: Option<u64>,
    quantum: Option<u64>,
    text: String,
}

#[derive(Serialize)]
struct JsonFilter {
    classid: String,
    text: String,
    criteria: Vec<Criterion>,
}

/// The explanation as JSON (schema version 1): the plan, notes and the diagnostics.
pub fn json(ex: &Explained, sources: &Sources) -> serde_json::Value {
    json_with(ex, sources, &|d| d.severity())
}

/// Like `json`, with each diagnostic's severity decided by `severity` (lint levels).
pub fn json_with(
    ex: &Explained,
    sources: &Sources,
    severity: &dyn Fn(&crate::diagnostic::Diagnostic) -> crate::diagnostic::Severity,
) -> serde_json::Value {
    let interfaces = ex
        .plan_as_written
        .interfaces
        .iter()
        .map(|i| JsonIface {
            name: i.name.clone(),
            handle: format!("{:x}:", i.handle),
            r2q: i.r2q,
            default: i.default.map(|d| i.classid(d)),
            classes: (0..i.classes.len())
                .map(|k| {
                    let c = &i.classes[k];
                    JsonClass {
                        classid: i.classid(k),
                        name: c.name.clone(),
                        parent: c
                            .parent
                            .map(|p| i.classid(p))
                            .unwrap_or(format!("{:x}:", i.handle)),
                        rate: c.rate,
                        ceil: c.ceil,
                        prio: c.prio,
                        mtu: c.mtu,
                        burst: c.burst,
                        cburst: c.cburst,
                        quantum: c.quantum,
                        text: class_words(i, k),
                    }
                })
                .collect(),
            filters: i
                .filters
                .iter()
                .map(|f| JsonFilter {
                    classid: i.classid(f.class),
                    text: match_words(&f.m),
                    criteria: f.m.criteria.clone(),
                })
                .collect(),
        })
        .collect();
    let j = JsonExplain {
        version: 1,
        interfaces,
        notes: &ex.notes,
        leaves: &ex.leaves,
        removes: &ex.removes,
        other_commands: &ex.other,
        set_e: ex.set_e,
        conditional_commands: ex.conditional,
        commands: ex
            .endings
            .iter()
            .map(|e| JsonEnding {
                file: sources.name(e.span.file),
                line: sources.line_col(e.span.file, e.span.start).0,
                ending: e,
            })
            .collect(),
        diagnostics: report::to_json_with(sources, &ex.diags.items, severity),
    };
    serde_json::to_value(j).unwrap_or(serde_json::Value::Null)
}

/// A Graphviz picture of each interface's tree; leaf classes list the traffic they get.
pub fn dot(ex: &Explained) -> String {
    let style = DotStyle {
        title: None,
        node: "shape=box, fontname=\"monospace\"",
        clusters: false,
        ids: ("i", "i"),
    };
    dot_with(
        &ex.plan_as_written,
        &style,
        |iface| format!("{} qdisc {:x}: htb", iface.name, iface.handle),
        |_, iface, k| {
            let c = &iface.classes[k];
            let mut lines = vec![
                label(iface, k),
                format!("rate {} ceil {}", human_rate(c.rate), human_rate(c.ceil)),
            ];
            for f in iface.filters.iter().filter(|f| f.class == k) {
                lines.push(format!("<- {}", match_words(&f.m)));
            }
            if iface.default == Some(k) {
                lines.push("<- everything else".into());
            }
            lines
        },
    )
}
