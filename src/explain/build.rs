//! The simulated state becomes the plan: per device with an HTB root, its classes (parents first),
//! its default class and its filters (iptables' then tc's, both families merged).

use super::merge::{combine_negated, kind_order, merge_adjacent, merge_lengths};
use super::sim::mangle::Entry;
use super::sim::Sim;
use crate::diagnostic::{Code, Diagnostic};
use crate::plan::{Class, Filter, Interface, Match, Plan};
use crate::sema::Facts;
use std::collections::{HashMap, HashSet};

impl Sim {
    pub(super) fn build(&mut self) -> (Plan, Facts) {
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
            if let Err(d) = crate::plan::check_ifname(&dev.name, root.span) {
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
                expectations: Vec::new(),
                ingress: None,
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
                        .unwrap_or_else(|| crate::plan::Class::unnamed(c.minor));
                    let rate = c.rate.unwrap_or(0);
                    let mut spans = c.spans;
                    if c.rate.is_none() {
                        spans.rate = None;
                    }
                    if c.rate.is_none() && !c.rate_refused {
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
                        quantum: c.quantum.or(kernel_quantum(rate, root.r2q, c.mtu)),
                        mtu: c.mtu,
                        qdisc: dev.leafq.iter().rfind(|q| q.0 == c.minor).and_then(|q| {
                            crate::plan::qdisc::LeafQdisc::parse(
                                &q.1.split_whitespace().collect::<Vec<_>>(),
                            )
                            .ok()
                        }),
                        rtt: None,
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
            super::lint::decimal_ids(&dev, &iface, &mut self.diags);
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
            super::lint::jumbo_mtu(&dev, &iface, &mut self.diags);
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
        self.ingress_trees(&mut plan, &mut facts);
        (plan, facts)
    }

    /// Download shaping: a device whose arriving traffic is all redirected to another device
    /// with an HTB tree (an ifb) gets that tree as its ingress tree, named as tcc names the ifb
    /// of the device (`plan::ingress::ifb_name`). A redirect to a device without one is S0009.
    fn ingress_trees(&mut self, plan: &mut Plan, facts: &mut Facts) {
        let mut defaults: HashMap<String, Option<crate::diagnostic::Span>> = HashMap::new();
        let redirects: Vec<(
            String,
            String,
            crate::diagnostic::Span,
            Option<crate::diagnostic::Span>,
        )> = self
            .devs
            .iter()
            .filter_map(|d| {
                d.redirect
                    .clone()
                    .map(|(t, span)| (d.name.clone(), t, span, d.ingress))
            })
            .collect();
        for (src, target, span, qdisc) in redirects {
            let ti = plan.interfaces.iter().position(|i| i.name == target);
            let Some(ti) = ti.filter(|_| target != src && !defaults.contains_key(&target)) else {
                self.ingress_not_followed(
                    &src,
                    span,
                    format!("a redirect of what arrives to `{target}`, which has no HTB tree in the script"),
                );
                continue;
            };
            let mut tree = plan.interfaces.remove(ti);
            let dspan = facts.default_spans.remove(ti);
            facts.has_root.remove(ti);
            let si = match plan.interfaces.iter().position(|i| i.name == src) {
                Some(si) => si,
                None => {
                    plan.interfaces.push(Interface {
                        name: src.clone(),
                        span,
                        handle: 1,
                        r2q: 10,
                        default: None,
                        classes: Vec::new(),
                        filters: Vec::new(),
                        expectations: Vec::new(),
                        ingress: None,
                    });
                    facts.default_spans.push(None);
                    facts.has_root.push(false);
                    plan.interfaces.len() - 1
                }
            };
            tree.name = crate::plan::ingress::ifb_name(&src);
            plan.interfaces[si].ingress = Some(Box::new(tree));
            defaults.insert(src.clone(), dspan);
            // The ingress qdisc is part of the plan now, not a note.
            if let Some(q) = qdisc {
                self.notes.retain(|n| n.span != q);
                self.diags
                    .items
                    .retain(|d| !(d.code == Code::Opaque && d.primary == q));
            }
        }
        facts.ingress = plan
            .interfaces
            .iter()
            .map(|i| (defaults.get(&i.name).copied().flatten(), false))
            .collect();
    }
}

/// The quantum the kernel gives a class tc made without one, where tcc's own choice for the
/// same class would differ: below the range, HTB takes 1000 bytes whatever the class's mtu,
/// while tcc fills in the mtu (`sema::normalise::quantum`). None where the two agree.
fn kernel_quantum(rate: u64, r2q: u32, mtu: Option<u64>) -> Option<u64> {
    use crate::sema::normalise::QUANTUM_MIN;
    let q = rate / 8 / (r2q.max(1) as u64);
    (rate > 0 && q < QUANTUM_MIN && mtu.is_some_and(|m| m > QUANTUM_MIN)).then_some(QUANTUM_MIN)
}
