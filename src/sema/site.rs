//! Sites: `host` blocks (with host templates and loops), top-level `path`s, and the checks that
//! read across hosts: the rates of every class on a path summed over all hosts (E0501), ceils
//! above a path's rate (W0501), unknown paths, duplicate hosts and addresses.
//!
//! A host's interfaces are lowered by the same `Lowerer` as a single-host file's, in the host's
//! own scope (so a loop variable reaches its templates); each host gets its own plan, checked
//! like any plan (`sema::analyze`), and the site checks run once over all of them.

use super::lower::{dup, prop_span, HostAcc, Lowerer};
use super::value::{closest, VKind, Val};
use super::Facts;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, Span};
use crate::plan::site::{OnPath, Path, Site};
use crate::plan::units::{format_rate, human_rate};
use crate::syntax::ast::{self, Stmt};
use std::net::IpAddr;

/// Whether a file is a site file: it has a `host` block at the top level or in a top-level loop.
pub fn is_fleet(file: &ast::File) -> bool {
    file.stmts.iter().any(|s| match s {
        Stmt::Host(_) => true,
        Stmt::For(f) => loops_over_hosts(f),
        _ => false,
    })
}

/// Whether a loop makes hosts (directly or in a nested loop).
pub fn loops_over_hosts(f: &ast::ForLoop) -> bool {
    f.body.iter().any(|s| match s {
        Stmt::Host(_) => true,
        Stmt::For(g) => loops_over_hosts(g),
        _ => false,
    })
}

/// The error for a top-level statement of a site file that belongs in a host.
pub fn outside_host(s: &Stmt) -> Diagnostic {
    Diagnostic::new(
        Code::OutsideHost,
        s.span(),
        "this belongs inside a host: the file has `host` blocks",
    )
    .label("not inside any host")
    .help("move it into a `host` block, or into a `template` that the hosts use (`host dtn1 : dtn { ... }`)")
}

/// The longest host name (it becomes a file name and an inventory name).
const MAX_HOST_NAME: usize = 64;

fn valid_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_HOST_NAME
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl<'a> Lowerer<'a> {
    /// `path NAME { rate ...; rtt ... }`.
    pub(super) fn path(&mut self, def: &'a ast::PathDef) {
        let Some(name) = self.name(&def.name) else {
            return;
        };
        let mut rate = None;
        let mut rtt = None;
        let mut seen: std::collections::HashMap<&str, Span> = Default::default();
        for s in &def.body {
            let Stmt::Property(p) = s else {
                self.error(
                    Diagnostic::new(Code::Syntax, s.span(), "a path holds only `rate` and `rtt`")
                        .label("not allowed in a path"),
                );
                continue;
            };
            if let Some(first) = seen.insert(p.key.text.as_str(), p.key.span) {
                self.error(super::lower::dup_prop(&p.key, first));
                continue;
            }
            match p.key.text.as_str() {
                "rate" => {
                    if let Some(v) = self.single(p) {
                        rate = self.rate(&v, None).map(|r| (r, prop_span(p)));
                    }
                }
                "rtt" => {
                    if let Some(v) = self.single(p) {
                        rtt = self.ok(duration_us(&v)).map(|t| (t, prop_span(p)));
                    }
                }
                _ => self.unknown_property(&p.key, &["rate", "rtt"]),
            }
        }
        let Some((rate, rate_span)) = rate else {
            if !seen.contains_key("rate") {
                self.error(
                    Diagnostic::new(
                        Code::MissingRate,
                        def.name.span,
                        format!("path `{name}` has no rate"),
                    )
                    .label("a path needs the rate its classes share")
                    .help("add `rate 1gbit` (the path's capacity)"),
                );
            }
            return;
        };
        if let Some(&first) = self.path_index.get(&name) {
            let first = self.paths[first].span;
            self.error(dup("path", &name, def.name.span, first));
            return;
        }
        self.path_index.insert(name.clone(), self.paths.len());
        self.paths.push(Path {
            name,
            span: def.name.span,
            rate,
            rate_span,
            rtt_us: rtt.map(|r| r.0),
            rtt_span: rtt.map(|r| r.1),
        });
    }

    /// A `for` loop at the top level of a site file: its body makes hosts.
    pub(super) fn host_loop(&mut self, f: &'a ast::ForLoop) {
        let Some(items) = self.loop_items(f) else {
            return;
        };
        for item in items {
            if !self.count_iteration(f) {
                return;
            }
            self.scopes.push();
            self.scopes.define(&f.var.text, item, None);
            for s in &f.body {
                match s {
                    Stmt::Host(h) => self.host(h),
                    Stmt::For(g) => self.host_loop(g),
                    Stmt::Let(l) => self.let_stmt(l),
                    other => self.error(outside_host(other)),
                }
            }
            self.scopes.pop();
        }
    }

    /// `host NAME [: TEMPLATE, ...] { address ...; interface ... }`: the templates' statements
    /// first, then the host's own, all in the host's scope.
    pub(super) fn host(&mut self, def: &'a ast::HostDef) {
        let Some(name) = self.name(&def.name) else {
            return;
        };
        if !valid_host_name(&name) {
            return self.error(
                Diagnostic::new(
                    Code::BadHostName,
                    def.name.span,
                    format!("`{name}` is not a valid host name"),
                )
                .label("it names a file and an Ansible inventory entry")
                .help(
                    "use 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit",
                ),
            );
        }
        if let Some(&first) = self.host_names.get(&name) {
            return self.error(
                Diagnostic::new(
                    Code::DuplicateHost,
                    def.name.span,
                    format!("host `{name}` is defined twice"),
                )
                .label("second definition")
                .secondary(first, "first defined here")
                .help(
                    "host names must be unique; in a loop, interpolate the variable: \"dtn${n}\"",
                ),
            );
        }
        self.host_names.insert(name.clone(), def.name.span);
        let mut acc = HostAcc::new(Some(name.clone()), def.name.span);
        let mut stmts: Vec<&'a Stmt> = vec![];
        for t in &def.templates {
            self.host_template(t, &mut stmts, &mut vec![]);
        }
        stmts.extend(def.body.iter());
        self.scopes.push();
        let mut address_seen: Option<Span> = None;
        for s in stmts {
            match s {
                Stmt::Property(p) if p.key.text == "address" => {
                    if let Some(first) = address_seen.replace(p.key.span) {
                        self.error(super::lower::dup_prop(&p.key, first));
                        continue;
                    }
                    self.addresses_of(&name, p, &mut acc);
                }
                Stmt::Property(p) => self.unknown_property(&p.key, &["address"]),
                Stmt::Let(l) => self.let_stmt(l),
                Stmt::Interface(i) => self.add_interface(&mut acc, i),
                other => self.error(
                    Diagnostic::new(
                        Code::Syntax,
                        other.span(),
                        "this belongs inside an interface",
                    )
                    .label("not allowed directly in a host")
                    .help("a host holds `address`, `let` and `interface` blocks"),
                ),
            }
        }
        self.scopes.pop();
        if acc.host.addresses.is_empty() && address_seen.is_none() {
            self.error(
                Diagnostic::new(
                    Code::MissingAddress,
                    def.name.span,
                    format!("host `{name}` has no address"),
                )
                .label("how is this host found and reached?")
                .help("add `address 10.0.0.1` to the host (or to its template, as a string with a variable)"),
            );
        }
        self.hosts.push(acc);
    }

    /// The statements of a host template and the templates it inherits (parents first).
    fn host_template(&mut self, t: &ast::Name, out: &mut Vec<&'a Stmt>, stack: &mut Vec<String>) {
        let Some(name) = self.name(t) else { return };
        let Some(&(def, _)) = self.templates.get(&name) else {
            let known: Vec<&str> = self.templates.keys().map(String::as_str).collect();
            let mut d = Diagnostic::new(
                Code::UnknownTemplate,
                t.span,
                format!("unknown template `{name}`"),
            )
            .label("no template of this name");
            if let Some(k) = closest(&name, known.into_iter()) {
                d = d.help(format!("did you mean `{k}`?"));
            }
            return self.error(d);
        };
        if stack.contains(&name) || stack.len() >= 64 {
            return self.error(
                Diagnostic::new(
                    Code::InheritanceCycle,
                    t.span,
                    format!("template `{name}` inherits from itself"),
                )
                .label(format!("through {}", stack.join(" -> "))),
            );
        }
        self.templates_used.insert(name.clone(), true);
        stack.push(name);
        for p in &def.parents {
            self.host_template(p, out, stack);
        }
        stack.pop();
        out.extend(def.body.iter());
    }

    /// The values of a host's `address`: addresses (not networks), or strings holding one (so
    /// a loop can build them: `address "10.0.0.${n}"`).
    fn addresses_of(&mut self, host: &str, p: &ast::Property, acc: &mut HostAcc) {
        for v in &p.values {
            let r = self.scopes.eval(v);
            let Some(val) = self.ok(r) else {
                continue;
            };
            for one in val.flatten() {
                let Some(addr) = self.ok(host_address(one)) else {
                    continue;
                };
                if let Some((other, first)) = self.addresses.get(&addr) {
                    let (other, first) = (other.clone(), *first);
                    self.error(
                        Diagnostic::new(
                            Code::DuplicateAddress,
                            one.span,
                            format!("address {addr} is given to hosts `{other}` and `{host}`"),
                        )
                        .label(format!("`{host}` has it here"))
                        .secondary(first, format!("`{other}` has it here"))
                        .help("each host needs its own address: it is how tcc and Ansible tell them apart"),
                    );
                    continue;
                }
                self.addresses.insert(addr, (host.to_string(), one.span));
                acc.host.addresses.push((addr, one.span));
            }
        }
    }

    /// The site: every host with its `path` names resolved; the facts per host.
    pub(super) fn finish_site(&mut self) -> (Site, Vec<Facts>) {
        let mut site = Site {
            hosts: vec![],
            paths: std::mem::take(&mut self.paths),
        };
        let mut facts = vec![];
        for mut acc in std::mem::take(&mut self.hosts) {
            for (iface, class, name, span) in std::mem::take(&mut acc.paths) {
                match self.path_index.get(&name) {
                    Some(&path) => {
                        if let Some(rtt) = site.paths[path].rtt_us {
                            let i = &mut acc.host.plan.interfaces[iface];
                            path_rtt(i, class, rtt, span);
                        }
                        acc.host.on_path.push(OnPath {
                            path,
                            iface,
                            class,
                            span,
                        })
                    }
                    None => {
                        let mut d = Diagnostic::new(
                            Code::UnknownPath,
                            span,
                            format!("unknown path `{name}`"),
                        )
                        .label("no top-level `path` of this name");
                        d = match closest(&name, site.paths.iter().map(|p| p.name.as_str())) {
                            Some(k) => d.help(format!("did you mean `{k}`?")),
                            None => d.help(format!(
                                "define it at the top level: `path {name} {{ rate 1gbit; rtt 80ms }}`"
                            )),
                        };
                        self.error(d);
                    }
                }
            }
            site.hosts.push(acc.host);
            facts.push(acc.facts);
        }
        (site, facts)
    }
}

/// A path's `rtt` is the round-trip time of the classes on it: a class on the path without an
/// `rtt` of its own (or from its parent) takes it, with its children, and each of their leaves
/// without a queue gets the one `rtt` gives (a `bfifo` of one bandwidth-delay product), as if
/// the class had said `rtt` itself.
fn path_rtt(iface: &mut crate::plan::Interface, class: usize, rtt_us: u64, span: Span) {
    use crate::plan::qdisc::{bdp_bytes, LeafQdisc, MIN_BFIFO};
    let Ok(rtt) = u32::try_from(rtt_us) else {
        return;
    };
    if iface.classes[class].rtt.is_some() {
        return;
    }
    let leaves = iface.leaves();
    // The class and its descendants (parents come before their children in the plan).
    let mut under = vec![false; iface.classes.len()];
    under[class] = true;
    for k in class + 1..iface.classes.len() {
        if let Some(p) = iface.classes[k].parent {
            under[k] = under[p];
        }
    }
    for (k, c) in iface.classes.iter_mut().enumerate() {
        if !under[k] || c.rtt.is_some() && k != class {
            continue;
        }
        c.rtt = Some(rtt);
        c.spans.rtt = Some(span);
        if leaves[k] && c.qdisc.is_none() {
            let bdp = bdp_bytes(c.ceil, rtt).clamp(MIN_BFIFO, u32::MAX as u64) as u32;
            c.qdisc = Some(LeafQdisc::Bfifo { limit: Some(bdp) });
        }
    }
}

fn host_address(v: &Val) -> Result<IpAddr, Diagnostic> {
    let text = match &v.kind {
        VKind::Ipv4(s) | VKind::HexColon(s) | VKind::Str(s) => s,
        _ => {
            return Err(Diagnostic::new(
                Code::WrongType,
                v.span,
                format!("`address` takes an IP address, not {}", v.describe()),
            )
            .label("expected an address such as `10.0.0.1`, or a string such as \"10.0.0.${n}\""))
        }
    };
    text.parse::<IpAddr>().map_err(|_| {
        Diagnostic::new(
            Code::BadValue,
            v.span,
            format!("`{text}` is not an IP address"),
        )
        .label("a host's address is one IPv4 or IPv6 address, without a prefix length")
    })
}

/// A duration as microseconds: `80ms`, `1.5s`, `250us`.
fn duration_us(v: &Val) -> Result<u64, Diagnostic> {
    let VKind::Num { value, unit } = &v.kind else {
        return Err(Diagnostic::new(
            Code::WrongType,
            v.span,
            format!("`rtt` takes a duration, not {}", v.describe()),
        )
        .label("expected a duration such as `80ms`"));
    };
    let scale = match unit.as_str() {
        "us" => 1.0,
        "ms" => 1e3,
        "s" | "sec" => 1e6,
        "" => {
            return Err(Diagnostic::new(
                Code::MissingUnit,
                v.span,
                "round-trip time without a unit",
            )
            .label("write `ms`, `s` or `us`"))
        }
        _ => {
            return Err(Diagnostic::new(
                Code::UnknownUnit,
                v.span,
                format!("unknown time unit `{unit}`"),
            )
            .label("durations take `us`, `ms` or `s`"))
        }
    };
    let us = value * scale;
    if !(1.0..=3.6e9).contains(&us) {
        return Err(
            Diagnostic::new(Code::BadValue, v.span, "round-trip time out of range")
                .label("between 1us and one hour"),
        );
    }
    Ok(us.round() as u64)
}

/// The checks across hosts: per path, the sum of its classes' rates against its rate (E0501),
/// and each class's ceil against it (W0501). Linear in the number of classes on paths.
pub fn check_paths(site: &Site, diags: &mut Diagnostics) {
    // Per path: (host, on-path entry) counted in its sum.
    let mut members: Vec<Vec<(usize, OnPath)>> = vec![vec![]; site.paths.len()];
    for (h, host) in site.hosts.iter().enumerate() {
        // A class whose ancestor is on the same path is inside the ancestor's share.
        let mut marked: std::collections::HashSet<(usize, usize, usize)> = Default::default();
        for o in &host.on_path {
            marked.insert((o.iface, o.class, o.path));
        }
        for o in &host.on_path {
            let iface = &host.plan.interfaces[o.iface];
            let mut up = iface.classes[o.class].parent;
            let mut nested = false;
            while let Some(p) = up {
                if marked.contains(&(o.iface, p, o.path)) {
                    nested = true;
                    break;
                }
                up = iface.classes[p].parent;
            }
            if !nested {
                members[o.path].push((h, *o));
            }
            let c = &iface.classes[o.class];
            let path = &site.paths[o.path];
            if c.ceil > path.rate {
                diags.push(
                    Diagnostic::new(
                        Code::CeilAbovePath,
                        o.span,
                        format!(
                            "{}`{}` may send {} but path `{}` carries {}",
                            host_prefix(site, h),
                            iface.name_of(c),
                            human_rate(c.ceil),
                            path.name,
                            human_rate(path.rate)
                        ),
                    )
                    .label(format!("ceil {}", human_rate(c.ceil)))
                    .secondary(
                        path.rate_span,
                        format!("path `{}` carries {}", path.name, human_rate(path.rate)),
                    )
                    .help(format!(
                        "lower the ceil to {} or less",
                        format_rate(path.rate)
                    )),
                );
            }
        }
    }
    for (i, path) in site.paths.iter().enumerate() {
        let list = &members[i];
        let rate_of = |(h, o): &(usize, OnPath)| {
            site.hosts[*h].plan.interfaces[o.iface].classes[o.class].rate
        };
        let sum: u64 = list.iter().map(rate_of).sum();
        if sum <= path.rate {
            continue;
        }
        let share = |m: &(usize, OnPath)| {
            let iface = &site.hosts[m.0].plan.interfaces[m.1.iface];
            format!(
                "{}`{}` {}",
                host_prefix(site, m.0),
                iface.name_of(&iface.classes[m.1.class]),
                format_rate(rate_of(m))
            )
        };
        let listed: Vec<String> = list.iter().take(8).map(share).collect();
        let more = if list.len() > 8 {
            format!(" and {} more", list.len() - 8)
        } else {
            String::new()
        };
        let hosts = {
            let mut h: Vec<usize> = list.iter().map(|m| m.0).collect();
            h.dedup();
            h.len()
        };
        let mut d = Diagnostic::new(
            Code::PathOversubscribed,
            path.rate_span,
            format!(
                "classes on path `{}` are guaranteed {} but it carries {}",
                path.name,
                human_rate(sum),
                human_rate(path.rate)
            ),
        )
        .label(format!(
            "{} classes on {} host{} share this rate",
            list.len(),
            hosts,
            if hosts == 1 { "" } else { "s" }
        ));
        // One label per place: a template used by many hosts is one place.
        let mut places: Vec<(Span, Vec<usize>)> = vec![];
        for (k, m) in list.iter().enumerate() {
            match places.iter().position(|p| p.0 == m.1.span) {
                Some(i) => places[i].1.push(k),
                None if places.len() < 8 => places.push((m.1.span, vec![k])),
                None => {}
            }
        }
        for (span, ks) in places {
            let label = if ks.len() == 1 {
                share(&list[ks[0]])
            } else {
                let m = &list[ks[0]];
                let iface = &site.hosts[m.0].plan.interfaces[m.1.iface];
                let names: Vec<&str> = ks
                    .iter()
                    .take(4)
                    .filter_map(|&k| site.hosts[list[k].0].name.as_deref())
                    .collect();
                let more = if ks.len() > 4 {
                    format!(" and {} more", ks.len() - 4)
                } else {
                    String::new()
                };
                format!(
                    "`{}` {} each on {}{more}",
                    iface.name_of(&iface.classes[m.1.class]),
                    format_rate(rate_of(m)),
                    names.join(", ")
                )
            };
            d = d.secondary(span, label);
        }
        diags.push(
            d.note(format!(
                "on the path: {}{more}; sum {}",
                listed.join(", "),
                format_rate(sum)
            ))
            .note("each host keeps its own limit, and together they overrun the path")
            .help(format!(
                "lower the classes' rates, or raise the rate of path `{}` to at least {}",
                path.name,
                format_rate(sum)
            )),
        );
    }
}

/// `dtn1: ` for a named host, nothing for the one host of a single-host file.
fn host_prefix(site: &Site, h: usize) -> String {
    match &site.hosts[h].name {
        Some(n) => format!("{n}: "),
        None => String::new(),
    }
}
