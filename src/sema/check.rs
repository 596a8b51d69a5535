//! Checks on a lowered plan: everything the kernel would silently accept but that does not do
//! what the author meant (oversubscribed parents, ceil below rate, defaults that shape nothing,
//! matches that can never fire...), and HTB's own limits (depth, prio). The checks read the plan
//! and never change it; filling in quantums is `normalise`'s.

use super::Facts;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, Span};
use crate::plan::limits::{self, Field, Problem};
use crate::plan::matchrel;
use crate::plan::units::{format_rate, human_rate};
use crate::plan::{Interface, Plan};
use std::collections::HashMap;

/// HTB's limit on class nesting (`TC_HTB_MAXDEPTH`).
pub const MAX_DEPTH: usize = 8;
/// Class mtu the reference guide recommends for jumbo frames.
pub const JUMBO_MTU: u64 = 18_000;

pub fn check(plan: &Plan, facts: &Facts, diags: &mut Diagnostics) {
    for (i, iface) in plan.interfaces.iter().enumerate() {
        let default_span = facts.default_spans.get(i).copied().flatten();
        let has_root = facts.has_root.get(i).copied().unwrap_or(false);
        tree_checks(iface, default_span, has_root, diags);
        if let Some(tree) = &iface.ingress {
            let (default_span, has_root) = facts.ingress.get(i).copied().unwrap_or_default();
            tree_checks(tree, default_span, has_root, diags);
            diags.extend(crate::dialect::u32::ingress_expressible(tree));
        }
    }
    ifb_names(plan, diags);
    for (kind, name, span) in &facts.unused {
        let what = if *kind == "variable" {
            format!("${name}")
        } else {
            name.clone()
        };
        diags.push(
            Diagnostic::new(
                Code::Unused,
                *span,
                format!("{kind} `{what}` is never used"),
            )
            .label("defined here")
            .help("remove it, or use it where it was meant to be"),
        );
    }
}

/// The mtu a class's quantum is compared with when it has no `mtu`: Ethernet's.
pub const LINK_MTU: u64 = 1500;

/// A class attached to the qdisc itself (no parent class: the interface has no `rate`, or
/// this is the interface-rate class) whose ceil is above its rate: HTB lends only from a
/// parent to its children, so it never gets more than its rate (W0112).
fn unborrowable(iface: &Interface, diags: &mut Diagnostics) {
    let mut seen = std::collections::HashSet::new();
    for (i, c) in iface.classes.iter().enumerate() {
        // Classes made by one line of a loop are reported once.
        if c.parent.is_some()
            || c.ceil <= c.rate
            || c.rate == 0
            || !seen.insert(ceil_span(iface, i))
        {
            continue;
        }
        let interface_class = c.spans.ceil.is_none() && c.name == iface.name;
        let d = Diagnostic::new(
            Code::CannotBorrow,
            ceil_span(iface, i),
            format!(
                "class `{}` can never use its ceil {}: it has no parent to borrow from",
                iface.name_of(c),
                format_rate(c.ceil)
            ),
        )
        .label(format!("at most its rate {} in practice", format_rate(c.rate)))
        .note("HTB lends spare bandwidth only from a parent class to its children; a class attached to the qdisc itself has none (measured: `rate 5mbit; ceil 10mbit` gave 4.78 Mbit/s)");
        diags.push(if interface_class {
            d.help("give the interface a `rate` equal to its ceil (the line speed)")
        } else {
            d.help("give the interface a `rate` (the line speed): its classes then borrow from it up to their ceil; or set `ceil` equal to `rate`")
        });
    }
}

/// A `quantum` (written by the user) below the class's `mtu` (Ethernet's 1500 when it has
/// none) (W0114). Classes made by one line of a loop are reported once.
fn small_quantum(iface: &Interface, diags: &mut Diagnostics) {
    let mut seen: HashMap<Span, usize> = HashMap::new();
    let mut found: Vec<Diagnostic> = vec![];
    for c in &iface.classes {
        let (Some(q), Some(span)) = (c.quantum, c.spans.quantum) else {
            continue;
        };
        let (mtu, what) = match c.mtu {
            Some(m) => (m, format!("its mtu {m}")),
            None => (LINK_MTU, format!("the Ethernet mtu {LINK_MTU}")),
        };
        if q >= mtu {
            continue;
        }
        if let Some(&k) = seen.get(&span) {
            found[k]
                .notes
                .push(format!("likewise class `{}`", iface.name_of(c)));
            continue;
        }
        seen.insert(span, found.len());
        found.push(
            Diagnostic::new(
                Code::QuantumBelowMtu,
                span,
                format!("quantum {q} of class `{}` is below {what}", iface.name_of(c)),
            )
            .label(format!("{q} < {mtu} bytes"))
            .note("HTB's round robin lets a class send `quantum` bytes per turn when it borrows; a packet larger than that takes several turns, so the class borrows less than its quantum says. The kernel accepts it without a word")
            .help(format!("set `quantum` to at least {mtu}, or leave it out and let HTB derive it from the rate")),
        );
    }
    for mut d in found {
        let likewise = d.notes.iter().filter(|n| n.starts_with("likewise")).count();
        if likewise > 3 {
            d.notes.retain(|n| !n.starts_with("likewise"));
            d.notes.push(format!(
                "likewise {likewise} more classes made by this line"
            ));
        }
        diags.push(d);
    }
}

/// Every check of one class tree (an ingress tree's: the same as an interface's).
fn tree_checks(
    iface: &Interface,
    default_span: Option<Span>,
    has_root: bool,
    diags: &mut Diagnostics,
) {
    tree(iface, has_root, diags);
    rates(iface, diags);
    defaults(iface, default_span, diags);
    filters(iface, diags);
    shadowed(iface, diags);
    unborrowable(iface, diags);
    small_quantum(iface, diags);
    jumbo(iface, diags);
    super::expect::check(iface, default_span, diags);
    limits(iface, diags);
    super::queues::check(iface, diags);
}

/// The ifb device of an ingress tree must be no other interface of the plan and no other
/// ingress tree's device (E0309).
fn ifb_names(plan: &Plan, diags: &mut Diagnostics) {
    let mut seen: HashMap<&str, (Span, &str)> = plan
        .interfaces
        .iter()
        .map(|i| (i.name.as_str(), (i.span, "this interface")))
        .collect();
    for iface in &plan.interfaces {
        let Some(tree) = &iface.ingress else { continue };
        if let Some((first, what)) = seen.get(tree.name.as_str()) {
            diags.push(
                Diagnostic::new(
                    Code::IfbNameClash,
                    tree.span,
                    format!(
                        "the ingress tree of `{}` needs the ifb device `{}`, which {what} already is",
                        iface.name, tree.name
                    ),
                )
                .secondary(*first, format!("`{}`", tree.name))
                .help("rename the interface in the file, or shape only one of them"),
            );
        } else {
            seen.insert(
                &tree.name,
                (tree.span, "the ingress device of another interface"),
            );
        }
    }
}

pub(super) fn rate_span(iface: &Interface, i: usize) -> Span {
    let c = &iface.classes[i];
    c.spans.rate.unwrap_or(c.span)
}

fn ceil_span(iface: &Interface, i: usize) -> Span {
    let c = &iface.classes[i];
    c.spans.ceil.or(c.spans.rate).unwrap_or(c.span)
}

/// Depth, duplicate classids, prio on inner classes.
fn tree(iface: &Interface, has_root: bool, diags: &mut Diagnostics) {
    let leaves = iface.leaves();
    let mut by_minor: HashMap<u16, usize> = HashMap::new();
    for (i, c) in iface.classes.iter().enumerate() {
        if c.minor != 0 {
            if let Some(&first) = by_minor.get(&c.minor) {
                let f = &iface.classes[first];
                diags.push(
                    Diagnostic::new(Code::DuplicateClassid, c.spans.classid.unwrap_or(c.span), format!("classid {} is used twice", iface.classid(i)))
                        .label(format!("class `{}`", iface.name_of(c)))
                        .secondary(f.spans.classid.unwrap_or(f.span), format!("also class `{}`", iface.name_of(f)))
                        .note("the kernel refuses the second one with \"File exists\", half way through applying")
                        .help("give one of them another classid, or drop `classid` and let tcc assign one"),
                );
            } else {
                by_minor.insert(c.minor, i);
            }
        }
        let depth = iface.depth(i);
        if depth == MAX_DEPTH + 1 {
            let mut d = Diagnostic::new(
                Code::TooDeep,
                c.span,
                format!("class `{}` is nested {depth} levels deep", iface.name_of(c)),
            )
            .label(format!("HTB allows at most {MAX_DEPTH} levels"))
            .note("the kernel refuses it: \"sch_htb: tree is too deep\"");
            if has_root {
                d = d.note("the interface `rate` counts as the first level");
            }
            diags.push(d.help("flatten the tree: classes that share a parent need not nest"));
        }
        if c.prio.is_some() && !leaves[i] {
            diags.push(
                Diagnostic::new(
                    Code::PrioOnInnerClass,
                    c.spans.prio.unwrap_or(c.span),
                    format!("prio on class `{}` has no effect", iface.name_of(c)),
                )
                .label("this class has children")
                .note("tcc leaves it out of the scripts it writes and the changes it applies")
                .help("HTB uses prio only on leaf classes; set it on the children"),
            );
        }
    }
}

/// Rate 0, ceil below rate, ceil above the parent's, children oversubscribing their parent.
fn rates(iface: &Interface, diags: &mut Diagnostics) {
    let mut children: Vec<Vec<usize>> = vec![vec![]; iface.classes.len()];
    for (i, c) in iface.classes.iter().enumerate() {
        if let Some(p) = c.parent {
            children[p].push(i);
        }
        if c.spans.rate.is_none() {
            continue; // a missing rate was reported already
        }
        if c.rate == 0 {
            diags.push(
                Diagnostic::new(Code::ZeroRate, rate_span(iface, i), format!("class `{}` has a rate of zero", iface.name_of(c)))
                    .label("nothing is guaranteed")
                    .help("give it at least a small rate such as `8kbit`; use `ceil` for what it may borrow"),
            );
            continue;
        }
        if c.ceil < c.rate {
            diags.push(
                Diagnostic::new(
                    Code::CeilBelowRate,
                    ceil_span(iface, i),
                    format!("ceil of `{}` is below its rate", iface.name_of(c)),
                )
                .label(format!("ceil {}", human_rate(c.ceil)))
                .secondary(rate_span(iface, i), format!("rate {}", human_rate(c.rate)))
                .note("the kernel accepts this and the ceil wins: the class never gets its rate")
                .help(format!(
                    "raise the ceil to at least {}, or lower the rate",
                    format_rate(c.rate)
                )),
            );
        }
        if let Some(p) = c.parent {
            let pc = &iface.classes[p];
            if c.ceil > pc.ceil && pc.spans.rate.is_some() {
                diags.push(
                    Diagnostic::new(Code::CeilAboveParent, ceil_span(iface, i), format!("ceil of `{}` is above its parent's", iface.name_of(c)))
                        .label(format!("ceil {}", human_rate(c.ceil)))
                        .secondary(ceil_span(iface, p), format!("parent `{}` may use at most {}", iface.name_of(pc), human_rate(pc.ceil)))
                        .note("a class can never send faster than its parent, so this ceil is never reached")
                        .help(format!("lower the ceil to {} or less", format_rate(pc.ceil))),
                );
            }
        }
    }
    for (p, kids) in children.iter().enumerate() {
        let parent = &iface.classes[p];
        if kids.is_empty() || parent.spans.rate.is_none() || parent.rate == 0 {
            continue;
        }
        let sum: u64 = kids.iter().map(|&k| iface.classes[k].rate).sum();
        if sum <= parent.rate {
            continue;
        }
        // Point at the child whose rate pushes the sum over the parent's.
        let mut acc = 0;
        let over = *kids
            .iter()
            .find(|&&k| {
                acc += iface.classes[k].rate;
                acc > parent.rate
            })
            .expect("the sum exceeds the parent");
        let listed: Vec<String> = kids
            .iter()
            .take(8)
            .map(|&k| {
                format!(
                    "`{}` {}",
                    iface.name_of(&iface.classes[k]),
                    format_rate(iface.classes[k].rate)
                )
            })
            .collect();
        let more = if kids.len() > 8 {
            format!(" and {} more", kids.len() - 8)
        } else {
            String::new()
        };
        let mut d = Diagnostic::new(
            Code::Oversubscribed,
            rate_span(iface, over),
            format!(
                "children of `{}` are guaranteed {} but it has only {}",
                parent.name,
                human_rate(sum),
                human_rate(parent.rate)
            ),
        )
        .label("the sum exceeds the parent's rate here")
        .secondary(
            rate_span(iface, p),
            format!("`{}` guarantees {}", parent.name, human_rate(parent.rate)),
        );
        for &k in kids.iter().filter(|&&k| k != over).take(4) {
            d = d.secondary(
                rate_span(iface, k),
                format!(
                    "`{}` {}",
                    iface.name_of(&iface.classes[k]),
                    format_rate(iface.classes[k].rate)
                ),
            );
        }
        diags.push(
            d.note(format!(
                "children: {}{more}; sum {}",
                listed.join(", "),
                format_rate(sum)
            ))
            .note("the kernel accepts this, and then the parent's limit is not enforced")
            .help(format!(
                "lower the children's rates, or raise `{}` to at least {}",
                parent.name,
                format_rate(sum)
            )),
        );
    }
}

fn defaults(iface: &Interface, default_span: Option<Span>, diags: &mut Diagnostics) {
    match iface.default {
        Some(d) if !iface.is_leaf(d) => {
            let c = &iface.classes[d];
            diags.push(
                Diagnostic::new(Code::DefaultNotLeaf, default_span.unwrap_or(iface.span), format!("default class `{}` has children", iface.name_of(c)))
                    .label("HTB can queue packets only in a leaf class")
                    .secondary(c.span, "defined here")
                    .help("name one of its leaf classes, or add a leaf such as `class other { rate 10mbit }`"),
            );
        }
        Some(_) => {}
        None if default_span.is_none() && !iface.classes.is_empty() => {
            diags.push(
                Diagnostic::new(Code::NoDefault, iface.span, format!("interface `{}` has no default class", iface.name))
                    .label("unclassified traffic bypasses the tree")
                    .note("traffic that no match sends to a class is not shaped at all (counted as direct packets)")
                    .help("add `default NAME` naming a leaf class for everything else"),
            );
        }
        None => {}
    }
}

fn filters(iface: &Interface, diags: &mut Diagnostics) {
    let leaves = iface.leaves();
    let mut reported = vec![false; iface.classes.len()];
    for f in &iface.filters {
        if !leaves[f.class] && !reported[f.class] {
            reported[f.class] = true;
            let c = &iface.classes[f.class];
            diags.push(
                Diagnostic::new(Code::MatchOnInnerClass, f.span, format!("`match` on class `{}`, which has children", iface.name_of(c)))
                    .label("traffic can only be queued in a leaf class")
                    .secondary(c.span, "this class has children")
                    .help("move the `match` into one of its children, or add a leaf child for this traffic"),
            );
        }
    }
}

/// Matches that can never fire because an earlier one covers them. Candidates come from
/// `matchrel::OverlapIndex`, so 50k host matches check in linear time, not pairwise.
fn shadowed(iface: &Interface, diags: &mut Diagnostics) {
    let index = matchrel::OverlapIndex::new(iface.filters.iter().map(|f| &f.m));
    for (j, f) in iface.filters.iter().enumerate() {
        let earlier = index
            .candidates(&f.m)
            .into_iter()
            .take_while(|&i| i < j)
            .find(|&i| matchrel::covers(&iface.filters[i].m, &f.m));
        if let Some(i) = earlier {
            let earlier = &iface.filters[i];
            diags.push(
                Diagnostic::new(Code::ShadowedMatch, f.span, "this match can never fire")
                    .label(format!("meant for `{}`", iface.name_of(&iface.classes[f.class])))
                    .secondary(earlier.span, format!("every such packet already goes to `{}` here", iface.name_of(&iface.classes[earlier.class])))
                    .note("the first match that fits a packet decides its class")
                    .help("remove it, or make it more specific than the earlier match, or move it before"),
            );
        }
    }
}

fn jumbo(iface: &Interface, diags: &mut Diagnostics) {
    for c in &iface.classes {
        if let (Some(mtu), Some(span)) = (c.mtu, c.spans.mtu) {
            if mtu > 1500 && mtu < JUMBO_MTU {
                diags.push(
                    Diagnostic::new(
                        Code::JumboMtu,
                        span,
                        format!("class mtu {mtu} for jumbo frames"),
                    )
                    .label("measured rates come out about 25% above the limit with mtu 9000")
                    .help(format!(
                        "use `mtu {JUMBO_MTU}` for jumbo frames, as the reference guide recommends"
                    )),
                );
            }
        }
    }
}

/// Values the kernel refuses or silently changes (`plan::limits`): E0216, before anything runs.
fn limits(iface: &Interface, diags: &mut Diagnostics) {
    for (i, c) in iface.classes.iter().enumerate() {
        if c.spans.rate.is_none() {
            continue; // no rate: reported already
        }
        let ceil_as_rate = c.spans.ceil.is_none() && c.ceil == c.rate && c.cburst == c.burst;
        for p in limits::class_problems(c, limits::TICKS_PER_USEC, limits::HZ) {
            if ceil_as_rate && matches!(p.field(), Field::Ceil | Field::Cburst) {
                continue; // the same problem as the rate's, reported once
            }
            let span = match p.field() {
                Field::Rate => rate_span(iface, i),
                Field::Ceil => ceil_span(iface, i),
                Field::Burst => c.spans.burst.unwrap_or_else(|| rate_span(iface, i)),
                Field::Cburst => c.spans.cburst.unwrap_or_else(|| ceil_span(iface, i)),
                Field::Mtu => c.spans.mtu.unwrap_or(c.span),
                Field::Quantum => c.spans.quantum.unwrap_or(c.span),
            };
            let (message, label, help) = match &p {
                Problem::BelowOneByte { field, bits } => (
                    format!("{} of `{}` is below one byte per second", field.name(), c.name),
                    format!("{bits} bit/s is 0 bytes/s"),
                    "HTB refuses a rate of 0 bytes per second; give at least `64bit` (rates under ~48 bit/s overflow HTB's burst time)".to_string(),
                ),
                Problem::TooLarge { field, value, max } => (
                    format!("{} of `{}` is too large", field.name(), c.name),
                    format!("{value} bytes; the kernel's field holds at most {max}"),
                    format!("use at most {max} bytes"),
                ),
                Problem::QuantumZero => (
                    format!("quantum of `{}` is zero", c.name),
                    "the kernel replaces 0 by rate / r2q".to_string(),
                    "give a quantum of at least the mtu (1600 by default), or leave it out".to_string(),
                ),
                Problem::BurstTooLong { field, burst, given, rate, max } => (
                    format!(
                        "{} of `{}` takes longer than HTB can count at its {}",
                        field.name(),
                        c.name,
                        if *field == Field::Burst { "rate" } else { "ceil" }
                    ),
                    format!(
                        "{burst} bytes{} at {} = {:.0} s; HTB holds at most 274.9 s (2^32 psched ticks)",
                        if *given { "" } else { " (the default burst: mtu + rate/HZ)" },
                        human_rate(rate * 8),
                        *burst as f64 / *rate as f64
                    ),
                    if *given {
                        format!("lower the {} to at most {max} bytes, or raise the rate", field.name())
                    } else {
                        format!("raise the rate, or give `{}` of at most {max} bytes", field.name())
                    },
                ),
            };
            diags.push(
                Diagnostic::new(Code::KernelLimit, span, message)
                    .label(label)
                    .note(match &p {
                        Problem::BelowOneByte { .. } => "the kernel refuses the class, after the old tree was deleted",
                        Problem::TooLarge { .. } => "tc refuses the value, after the old tree was deleted",
                        Problem::QuantumZero => "the class would read back with another quantum than written",
                        Problem::BurstTooLong { .. } => "tc's 32-bit arithmetic wraps silently: the class would get a tiny burst",
                    })
                    .help(help),
            );
        }
    }
}
