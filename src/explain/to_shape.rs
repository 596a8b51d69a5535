//! Writing a plan back as an idiomatic `.shape` file that `tcc compile` turns into an
//! equivalent plan.
//!
//! - Classes nest as in the tree. Siblings are ordered by their first filter, so the `match`
//!   lines come out in the plan's first-match-wins order; where that cannot keep the order of
//!   two overlapping filters, the file says so in a comment (and `equivalent` fails).
//! - `classid` is written only where tcc's automatic numbering (next free minor from 0x10, in
//!   source order) would not give the same id.
//! - Properties shared by several classes become a `template`; a class mtu shared by all
//!   classes becomes the interface `mtu`.
//! - A run of sibling classes that differ only in one port that counts up, each with one match,
//!   becomes a `for` loop.
//!
//! Size: just over 600 lines because every construct of the language the writer can recover
//! (nesting, templates, loops, `port` and mixed-family pairs) is chosen here, against one plan.

pub use super::equiv::{equivalent, ClassKey, Difference};
use crate::plan::matchrel::disjoint;
use crate::plan::qdisc::LeafQdisc;
use crate::plan::units::format_rate;
use crate::plan::{Criterion, Family, Filter, Interface, Plan, Test};
use ipnet::IpNet;
use std::collections::HashMap;
use std::fmt::Write;

const KEYWORDS: &[&str] = &[
    "let",
    "rule",
    "template",
    "interface",
    "class",
    "for",
    "in",
    "match",
    "rate",
    "ceil",
    "default",
    "mtu",
    "handle",
    "r2q",
    "tcp",
    "udp",
    "icmp",
    "icmpv6",
    "proto",
    "src",
    "dst",
    "sport",
    "dport",
    "dscp",
    "mark",
    "length",
    "burst",
    "cburst",
    "prio",
    "quantum",
    "classid",
    "qdisc",
    "rtt",
];

fn name_text(n: &str) -> String {
    let ident = n
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&n);
    if ident {
        n.to_string()
    } else {
        format!(
            "\"{}\"",
            n.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "\\$")
        )
    }
}

/// A criterion as the language writes it; with `port_var`, its single port is that loop
/// variable instead.
fn criterion(c: &Criterion, port_var: Option<&str>) -> String {
    let not = if c.negated { "!" } else { "" };
    match (&c.test, port_var) {
        (Test::Sport(_), Some(v)) => format!("sport {not}${v}"),
        (Test::Dport(_), Some(v)) => format!("dport {not}${v}"),
        _ => c.to_source(),
    }
}

/// Two consecutive filters to one class as the one line that compiles to them, if there is
/// one: `port N` (the same match with `sport N`, then with `dport N`), `!port N` (one match
/// with `sport !N dport !N`, see below), or a list of both families (the same match for IPv4
/// addresses, then for IPv6 ones).
fn merged_line(a: &Filter, b: &Filter) -> Option<String> {
    let (ca, cb) = (&a.m.criteria, &b.m.criteria);
    if ca.len() != cb.len() {
        return None;
    }
    let mut parts = vec![];
    let mut merged = false;
    for (x, y) in ca.iter().zip(cb) {
        if x.test == y.test && x.negated == y.negated {
            parts.push(x.to_source());
            continue;
        }
        if merged || x.negated != y.negated {
            return None;
        }
        merged = true;
        let part = match (&x.test, &y.test) {
            (Test::Sport(p), Test::Dport(q)) if p == q && !x.negated => Criterion {
                test: Test::Sport(p.clone()),
                ..x.clone()
            }
            .to_source()
            .replacen("sport", "port", 1),
            (Test::Src(p), Test::Src(q)) | (Test::Dst(p), Test::Dst(q))
                if p.iter().all(|n| n.addr().is_ipv4()) && q.iter().all(|n| n.addr().is_ipv6()) =>
            {
                let all: Vec<IpNet> = p.iter().chain(q).copied().collect();
                let test = match x.test {
                    Test::Src(_) => Test::Src(all),
                    _ => Test::Dst(all),
                };
                Criterion { test, ..x.clone() }.to_source()
            }
            _ => return None,
        };
        parts.push(part);
    }
    merged.then(|| format!("match {}", parts.join(" ")))
}

fn match_line(f: &Filter, var_at: Option<(usize, &str)>) -> String {
    let parts: Vec<String> =
        f.m.criteria
            .iter()
            .enumerate()
            .map(|(k, c)| criterion(c, var_at.filter(|(i, _)| *i == k).map(|(_, v)| v)))
            .collect();
    if parts.is_empty() {
        // Every packet: an address-free match on all ports of both families is not a line the
        // language has; `length 0..65535` says "any packet".
        "match length 0..65535".into()
    } else {
        format!("match {}", parts.join(" "))
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Props {
    rate: u64,
    ceil: u64,
    burst: Option<u64>,
    cburst: Option<u64>,
    prio: Option<u32>,
    quantum: Option<u64>,
    mtu: Option<u64>,
    qdisc: Option<LeafQdisc>,
}

/// The properties to write for class `i`: its mtu only where it differs from what it inherits
/// (the parent class's, else the interface's).
fn props(iface: &Interface, i: usize, inh: &Inherit) -> Props {
    let c = &iface.classes[i];
    let inherited = match c.parent {
        Some(p) => iface.classes[p].mtu,
        None => inh.mtu,
    };
    Props {
        rate: c.rate,
        ceil: c.ceil,
        burst: c.burst,
        cburst: c.cburst,
        prio: c.prio,
        quantum: c.quantum,
        mtu: if c.mtu == inherited { None } else { c.mtu },
        qdisc: c.qdisc.clone().filter(|q| Some(q) != inh.qdisc.as_ref()),
    }
}

/// The class that can be written as the interface's `rate`: the only top-level class, 1:1,
/// with no match, not the default, and nothing but rate, ceil and mtu.
fn root_class(iface: &Interface) -> Option<usize> {
    let top: Vec<usize> = iface.children(None).collect();
    let [r] = top.as_slice() else { return None };
    let c = &iface.classes[*r];
    (c.minor == 1
        && iface.default != Some(*r)
        && !iface.filters.iter().any(|f| f.class == *r)
        && c.burst.is_none()
        && c.cburst.is_none()
        && c.prio.is_none()
        && c.quantum.is_none()
        && c.qdisc.is_none())
    .then_some(*r)
}

fn prop_lines(p: &Props) -> Vec<String> {
    let mut v = vec![format!("rate {}", format_rate(p.rate))];
    if p.ceil != p.rate {
        v.push(format!("ceil {}", format_rate(p.ceil)));
    }
    if let Some(b) = p.burst {
        v.push(format!("burst {b}"));
    }
    if let Some(b) = p.cburst {
        v.push(format!("cburst {b}"));
    }
    if let Some(x) = p.prio {
        v.push(format!("prio {x}"));
    }
    if let Some(x) = p.quantum {
        v.push(format!("quantum {x}"));
    }
    if let Some(x) = p.mtu {
        v.push(format!("mtu {x}"));
    }
    if let Some(q) = &p.qdisc {
        v.push(format!("qdisc {q}"));
    }
    v
}

/// The `.shape` text for `plan`; `source` names the script in the header comment.
pub fn to_shape(plan: &Plan, source: &str) -> String {
    let mut out = format!("# Imported by `tcc explain --to shape` from {source}.\n");
    // Templates, across interfaces: property sets shared by at least two classes.
    let mut counts: HashMap<Props, usize> = HashMap::new();
    let mut order: Vec<Props> = Vec::new();
    let iface_mtus: Vec<Inherit> = plan
        .interfaces
        .iter()
        .map(|i| Inherit {
            mtu: common_mtu(i),
            qdisc: common_qdisc(i),
        })
        .collect();
    for (iface, m) in plan.interfaces.iter().zip(&iface_mtus) {
        let root = root_class(iface);
        for i in 0..iface.classes.len() {
            if Some(i) == root {
                continue;
            }
            let p = props(iface, i, m);
            if prop_lines(&p).len() >= 2 {
                let n = counts.entry(p.clone()).or_insert(0);
                *n += 1;
                if *n == 2 {
                    order.push(p);
                }
            }
        }
    }
    let mut templates: HashMap<Props, String> = HashMap::new();
    let mut used_names: Vec<String> = Vec::new();
    for p in &order {
        let mut name = format!("shared_{}", format_rate(p.rate));
        let mut k = 2;
        while used_names.contains(&name) {
            name = format!("shared_{}_{k}", format_rate(p.rate));
            k += 1;
        }
        used_names.push(name.clone());
        let _ = writeln!(out, "\ntemplate {name} {{");
        for l in prop_lines(p) {
            let _ = writeln!(out, "    {l}");
        }
        out.push_str("}\n");
        templates.insert(p.clone(), name);
    }
    for (iface, m) in plan.interfaces.iter().zip(&iface_mtus) {
        interface(iface, m, &templates, &mut out);
    }
    out
}

/// The import with a comment at each place where something the script does is not carried:
/// `lost` holds (device, text); a piece of a device goes above that device's `interface`
/// block, the others under the header.
pub fn with_losses(shape: &str, lost: &[(Option<String>, String)]) -> String {
    if lost.is_empty() {
        return shape.to_string();
    }
    let comment = |t: &str| format!("# NOT CARRIED: {}\n", t.replace('\n', " "));
    let mut out = String::new();
    let mut placed = vec![false; lost.len()];
    for (n, line) in shape.split_inclusive('\n').enumerate() {
        if let Some(rest) = line.strip_prefix("interface ") {
            let name = rest
                .trim_end()
                .trim_end_matches('{')
                .trim()
                .trim_matches('"');
            for (k, (dev, t)) in lost.iter().enumerate() {
                if !placed[k] && dev.as_deref() == Some(name) {
                    out.push_str(&comment(t));
                    placed[k] = true;
                }
            }
        }
        out.push_str(line);
        if n == 0 {
            for (k, (dev, t)) in lost.iter().enumerate() {
                let has_iface = dev.as_ref().is_some_and(|d| {
                    shape.lines().any(|l| {
                        l.strip_prefix("interface ").is_some_and(|r| {
                            r.trim_end().trim_end_matches('{').trim().trim_matches('"') == d
                        })
                    })
                });
                if !has_iface {
                    out.push_str(&comment(t));
                    placed[k] = true;
                }
            }
        }
    }
    out
}

/// The interface `mtu`: the root class's when it becomes the interface `rate`, else the one
/// every top-level class has.
fn common_mtu(iface: &Interface) -> Option<u64> {
    if let Some(r) = root_class(iface) {
        return iface.classes[r].mtu;
    }
    let mut top = iface.children(None);
    let first = iface.classes[top.next()?].mtu?;
    top.all(|c| iface.classes[c].mtu == Some(first))
        .then_some(first)
}

/// What the interface block states for its classes: the `mtu` (top-level classes inherit it)
/// and the `qdisc` (every leaf without its own).
struct Inherit {
    mtu: Option<u64>,
    qdisc: Option<LeafQdisc>,
}

/// The interface `qdisc`: the leaf queue most leaves share (at least two), when every leaf has
/// one (a leaf without would otherwise inherit it).
fn common_qdisc(iface: &Interface) -> Option<LeafQdisc> {
    let leaves = iface.leaves();
    let qs: Vec<&LeafQdisc> = iface
        .classes
        .iter()
        .zip(&leaves)
        .filter(|(_, l)| **l)
        .map(|(c, _)| c.qdisc.as_ref())
        .collect::<Option<_>>()?;
    let mut best: Option<(&LeafQdisc, usize)> = None;
    for q in &qs {
        let n = qs.iter().filter(|x| x == &q).count();
        if best.is_none_or(|b| n > b.1) {
            best = Some((q, n));
        }
    }
    best.filter(|b| b.1 >= 2).map(|b| b.0.clone())
}

struct Ctx<'a> {
    iface: &'a Interface,
    inh: &'a Inherit,
    templates: &'a HashMap<Props, String>,
    /// Per class: its filters (indices into `iface.filters`).
    filters: Vec<Vec<usize>>,
    /// Per class: write `classid`.
    explicit: Vec<bool>,
    children: Vec<Vec<usize>>,
    top: Vec<usize>,
}

fn interface(
    iface: &Interface,
    inh: &Inherit,
    templates: &HashMap<Props, String>,
    out: &mut String,
) {
    let n = iface.classes.len();
    let mut filters = vec![Vec::new(); n];
    for (k, f) in iface.filters.iter().enumerate() {
        filters[f.class].push(k);
    }
    // Parents come first in the plan, so children's keys are final before parents' are read.
    let mut first_fixed = vec![usize::MAX; n];
    for i in (0..n).rev() {
        first_fixed[i] = first_fixed[i].min(filters[i].first().copied().unwrap_or(usize::MAX));
        let v = first_fixed[i];
        if let Some(p) = iface.classes[i].parent {
            first_fixed[p] = first_fixed[p].min(v);
        }
    }
    let mut children = vec![Vec::new(); n];
    let mut top = Vec::new();
    for (i, c) in iface.classes.iter().enumerate() {
        match c.parent {
            Some(p) => children[p].push(i),
            None => top.push(i),
        }
    }
    for v in children.iter_mut().chain(std::iter::once(&mut top)) {
        v.sort_by_key(|&i| first_fixed[i]);
    }
    // Depth-first output order, then which ids automatic numbering reproduces.
    let mut dfs = Vec::new();
    fn walk(i: usize, children: &[Vec<usize>], out: &mut Vec<usize>) {
        out.push(i);
        for &k in &children[i] {
            walk(k, children, out);
        }
    }
    for &t in &top {
        walk(t, &children, &mut dfs);
    }
    let ids: std::collections::HashSet<u16> = iface.classes.iter().map(|c| c.minor).collect();
    let mut explicit = vec![true; n];
    let mut next: u32 = 0x10;
    let root = root_class(iface);
    for &i in &dfs {
        if Some(i) == root {
            continue;
        }
        let id = iface.classes[i].minor as u32;
        if id >= next && (next..id).all(|x| ids.contains(&(x as u16))) {
            explicit[i] = false;
            next = id + 1;
        }
    }
    // The ids skipped over must stay explicit; they are (explicit defaults to true).
    let cx = Ctx {
        iface,
        inh,
        templates,
        filters,
        explicit,
        children,
        top,
    };
    // Interface names with dots or dashes (`eth0.100`, `br-lan`) need no quotes.
    let bare = iface
        .name
        .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && iface
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !KEYWORDS.contains(&iface.name.as_str());
    let name = if bare {
        iface.name.clone()
    } else {
        name_text(&iface.name)
    };
    let _ = writeln!(out, "\ninterface {name} {{");
    if iface.handle != 1 {
        let _ = writeln!(out, "    handle {:x}", iface.handle);
    }
    if iface.r2q != 10 {
        let _ = writeln!(out, "    r2q {}", iface.r2q);
    }
    if let Some(r) = root {
        let c = &iface.classes[r];
        let _ = writeln!(out, "    rate {}", format_rate(c.rate));
        if c.ceil != c.rate {
            let _ = writeln!(out, "    ceil {}", format_rate(c.ceil));
        }
    }
    if let Some(m) = inh.mtu {
        let _ = writeln!(out, "    mtu {m}");
    }
    if let Some(q) = &inh.qdisc {
        let _ = writeln!(out, "    qdisc {q}");
    }
    if let Some(d) = iface.default {
        let _ = writeln!(out, "    default {}", name_text(&iface.classes[d].name));
    }
    // Does the output keep the order of overlapping filters?
    let mut order = Vec::new();
    for &t in &cx.top {
        collect_filters(&cx, t, &mut order);
    }
    let mut broken = 0;
    let mut pos = vec![0; iface.filters.len()];
    for (k, &f) in order.iter().enumerate() {
        pos[f] = k;
    }
    let index = crate::plan::matchrel::OverlapIndex::new(iface.filters.iter().map(|f| &f.m));
    for (x, fx) in iface.filters.iter().enumerate() {
        for y in index.candidates(&fx.m) {
            // x before y in the plan, but after it in the output.
            let fy = &iface.filters[y];
            if y > x && pos[y] < pos[x] && fx.class != fy.class && !disjoint(&fx.m, &fy.m) {
                broken += 1;
            }
        }
    }
    if broken > 0 {
        let _ = writeln!(out, "    # NOTE: the script's filter order interleaves classes in a way nesting cannot keep;\n    # {broken} pair(s) of overlapping matches changed order. Check the classes they send to.");
    }
    let top = match root {
        Some(r) => cx.children[r].clone(),
        None => cx.top.clone(),
    };
    siblings(&cx, &top, 1, out);
    if let Some(tree) = &iface.ingress {
        // The ingress tree: the same rendering, as an `ingress { }` block one level in.
        let mut inner = String::new();
        let inherit = Inherit {
            mtu: common_mtu(tree),
            qdisc: common_qdisc(tree),
        };
        interface(tree, &inherit, templates, &mut inner);
        let body = inner
            .trim_start_matches('\n')
            .split_once('\n')
            .map(|(_, rest)| rest)
            .unwrap_or("");
        out.push_str("\n    ingress {\n");
        for line in body.lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    out.push_str("}\n");
}

fn collect_filters(cx: &Ctx, i: usize, out: &mut Vec<usize>) {
    out.extend(cx.filters[i].iter().copied());
    for &k in &cx.children[i] {
        collect_filters(cx, k, out);
    }
}

/// A run of loop-able classes starting at `list[at]`: (length, criterion index, port start).
fn loop_run(cx: &Ctx, list: &[usize], at: usize) -> Option<(usize, usize, u16)> {
    let iface = cx.iface;
    let c0 = list[at];
    let ok = |i: usize| !cx.explicit[i] && cx.children[i].is_empty() && cx.filters[i].len() == 1;
    if !ok(c0) {
        return None;
    }
    let f0 = &iface.filters[cx.filters[c0][0]];
    let (k, start) = f0
        .m
        .criteria
        .iter()
        .enumerate()
        .find_map(|(k, c)| match &c.test {
            Test::Dport(p) | Test::Sport(p) if p.len() == 1 && p[0].lo == p[0].hi && !c.negated => {
                Some((k, p[0].lo))
            }
            _ => None,
        })?;
    let p0 = props(iface, c0, cx.inh);
    let mut len = 1;
    while at + len < list.len() {
        let ci = list[at + len];
        if !ok(ci) || props(iface, ci, cx.inh) != p0 {
            break;
        }
        if cx.filters[ci][0] != cx.filters[c0][0] + len {
            break;
        }
        let f = &iface.filters[cx.filters[ci][0]];
        let expect = start as u32 + len as u32;
        if f.m.criteria.len() != f0.m.criteria.len() || expect > 65535 {
            break;
        }
        let same = f
            .m
            .criteria
            .iter()
            .zip(&f0.m.criteria)
            .enumerate()
            .all(|(j, (a, b))| {
                if j == k {
                    a.negated == b.negated
                        && match (&a.test, &b.test) {
                            (Test::Dport(x), Test::Dport(_)) | (Test::Sport(x), Test::Sport(_)) => {
                                x.len() == 1 && x[0].lo == x[0].hi && x[0].lo as u32 == expect
                            }
                            _ => false,
                        }
                } else {
                    a.negated == b.negated && a.test == b.test
                }
            });
        if !same {
            break;
        }
        len += 1;
    }
    (len >= 3).then_some((len, k, start))
}

fn head(cx: &Ctx, i: usize, name: &str) -> (String, Vec<String>) {
    let p = props(cx.iface, i, cx.inh);
    match cx.templates.get(&p) {
        Some(t) => (format!("class {name} : {t}"), Vec::new()),
        None => (format!("class {name}"), prop_lines(&p)),
    }
}

fn siblings(cx: &Ctx, list: &[usize], depth: usize, out: &mut String) {
    let pad = "    ".repeat(depth);
    let mut at = 0;
    while at < list.len() {
        if let Some((len, k, start)) = loop_run(cx, list, at) {
            let i = list[at];
            let f = &cx.iface.filters[cx.filters[i][0]];
            let (h, lines) = head(cx, i, "\"port-${port}\"");
            let _ = writeln!(
                out,
                "{pad}for port in {start}..{} {{",
                start as u32 + len as u32 - 1
            );
            let _ = writeln!(out, "{pad}    {h} {{");
            for l in lines {
                let _ = writeln!(out, "{pad}        {l}");
            }
            let _ = writeln!(out, "{pad}        {}", match_line(f, Some((k, "port"))));
            let _ = writeln!(out, "{pad}    }}");
            let _ = writeln!(out, "{pad}}}");
            at += len;
            continue;
        }
        let i = list[at];
        let c = &cx.iface.classes[i];
        let (h, mut lines) = head(cx, i, &name_text(&c.name));
        if cx.explicit[i] {
            lines.insert(0, format!("classid {:x}:{:x}", cx.iface.handle, c.minor));
        }
        // A filter and a later one of this class become one line when they are what one line
        // compiles to (`merged_line`) and nothing between them can tell the order apart: they
        // are consecutive, or the later is IPv6 and everything between IPv4 only.
        let (fs, all) = (&cx.filters[i], &cx.iface.filters);
        let mut used = vec![false; fs.len()];
        for j in 0..fs.len() {
            if used[j] {
                continue;
            }
            let a = &all[fs[j]];
            let mut line = None;
            for k in j + 1..fs.len() {
                let b = &all[fs[k]];
                let v4_between = b.m.family() == Family::V6
                    && (fs[j] + 1..fs[k]).all(|x| all[x].m.family() == Family::V4);
                if fs[k] != fs[j] + 1 && !v4_between {
                    break;
                }
                if let Some(l) = merged_line(a, b) {
                    used[k] = true;
                    line = Some(l);
                    break;
                }
            }
            lines.push(line.unwrap_or_else(|| match_line(a, None)));
        }
        if lines.is_empty() && cx.children[i].is_empty() {
            let _ = writeln!(out, "{pad}{h}");
        } else {
            let _ = writeln!(out, "{pad}{h} {{");
            for l in lines {
                let _ = writeln!(out, "{pad}    {l}");
            }
            siblings(cx, &cx.children[i], depth + 1, out);
            let _ = writeln!(out, "{pad}}}");
        }
        at += 1;
    }
}
