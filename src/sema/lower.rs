//! Lowering: the AST becomes a plan. Variables are substituted, loops unrolled, templates and
//! rules expanded, rates computed (percentages against the parent), and classids assigned.
//!
//! Errors are collected, not fatal: a class with a bad property is still created (with what
//! could be evaluated) so that later checks can still speak about the rest of the file.
//!
//! Size: over 600 lines because one `Lowerer` walks the whole AST (definitions, interfaces,
//! classes, matches) and its steps share its scopes, rule table and diagnostics; pieces that need
//! none of that state (values, matches, ids) already live in their own files.

use super::matches::{self, RuleTable};
use super::value::{self, with_suggestion, Scopes, VKind, Val};
use super::Facts;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, Span};
use crate::plan::decide::Packet;
use crate::plan::qdisc::{bdp_bytes, LeafQdisc, MIN_BFIFO};
use crate::plan::site::{Host, Path, Site};
use crate::plan::{check_ifname, Class, ClassSpans, Expectation, Expected, Filter, Interface};
use crate::syntax::ast::{self, Name, Stmt};
use std::collections::HashMap;

/// The most iterations one `for` loop may run, and the most classes one interface may hold
/// (minor ids are 16 bits).
pub const MAX_LOOP: i64 = 65_535;

/// First minor id handed out automatically; 1..f stay free for explicit ids such as `1:1`.
pub const FIRST_AUTO_MINOR: u16 = 0x10;

/// The most loop iterations a whole file may expand to (nested loops multiply), so that any
/// input lowers in bounded time and memory.
pub const MAX_EXPANSION: u64 = 1_000_000;

/// The result of lowering: the site (one unnamed host for a file without `host` blocks), what
/// went wrong, and per host the facts for the checker.
pub struct Lowered {
    pub site: Site,
    pub diags: Diagnostics,
    /// Extra facts for the checker that the plans do not keep, one per host.
    pub facts: Vec<Facts>,
}

pub fn lower(file: &ast::File) -> Lowered {
    let mut lw = Lowerer {
        scopes: Scopes::new(),
        diags: Diagnostics::default(),
        templates: HashMap::new(),
        templates_used: HashMap::new(),
        rules: RuleTable::default(),
        expanded: 0,
        expansion_reported: false,
        templates_expanded: 0,
        paths: vec![],
        path_index: HashMap::new(),
        hosts: vec![],
        host_names: HashMap::new(),
        addresses: HashMap::new(),
        ingress_facts: None,
    };
    let fleet = super::site::is_fleet(file);
    let mut lone = HostAcc::new(None, Span::default());
    let mut lets = vec![];

    // Pass 1: definitions (rules and templates may be used before they are written).
    for s in &file.stmts {
        match s {
            Stmt::Rule(r) => lw.define_rule(r),
            Stmt::Template(t) => lw.define_template(t),
            _ => {}
        }
    }
    // Pass 2: variables, paths, interfaces and hosts, in order.
    for s in &file.stmts {
        match s {
            Stmt::Let(l) => {
                lw.let_stmt(l);
                lets.push((l.name.text.clone(), l.name.span));
            }
            Stmt::Interface(i) if !fleet => lw.add_interface(&mut lone, i),
            Stmt::Path(p) => lw.path(p),
            Stmt::Host(h) => lw.host(h),
            Stmt::For(f) if fleet && super::site::loops_over_hosts(f) => lw.host_loop(f),
            Stmt::Rule(_) | Stmt::Template(_) => {}
            other if fleet => lw.diags.push(super::site::outside_host(other)),
            other => lw.diags.push(
                Diagnostic::new(
                    Code::Syntax,
                    other.span(),
                    "this belongs inside an interface block",
                )
                .label("not allowed at the top level")
                .help("the top level holds `let`, `rule`, `template` and `interface`"),
            ),
        }
    }
    if !fleet {
        lw.hosts.push(lone);
    }
    let (site, mut facts) = lw.finish_site();

    let mut unused = vec![];
    for (name, span) in lets {
        if !lw.scopes.used.contains(&span) {
            unused.push(("variable", name, span));
        }
    }
    for (name, span) in lw.rules.unused() {
        unused.push(("rule", name, span));
    }
    for (name, (_, span)) in &lw.templates {
        if !lw.templates_used.get(name).copied().unwrap_or(false) {
            unused.push(("template", name.clone(), *span));
        }
    }
    for (i, p) in site.paths.iter().enumerate() {
        if !site
            .hosts
            .iter()
            .any(|h| h.on_path.iter().any(|o| o.path == i))
        {
            unused.push(("path", p.name.clone(), p.span));
        }
    }
    unused.sort_by_key(|u| u.2);
    if let Some(f) = facts.first_mut() {
        f.unused = unused;
    }
    Lowered {
        site,
        diags: lw.diags,
        facts,
    }
}

/// A lowered class tree: the interface (or ingress tree), its `default` span, whether it has a
/// root class, and the `path` names its classes give (class index, path name, span).
type Tree = (Interface, Option<Span>, bool, Vec<(usize, String, Span)>);

/// A host being built: its plan, the checker's facts, and the `path` names its classes give
/// (resolved once every path is known).
pub(super) struct HostAcc {
    pub(super) host: Host,
    pub(super) facts: Facts,
    iface_names: HashMap<String, Span>,
    /// (interface, class, path name, span of the `path` property).
    pub(super) paths: Vec<(usize, usize, String, Span)>,
}

impl HostAcc {
    pub(super) fn new(name: Option<String>, span: Span) -> HostAcc {
        HostAcc {
            host: Host {
                name,
                span,
                ..Host::default()
            },
            facts: Facts::default(),
            iface_names: HashMap::new(),
            paths: vec![],
        }
    }
}

pub(super) struct Lowerer<'a> {
    pub(super) scopes: Scopes,
    pub(super) diags: Diagnostics,
    pub(super) templates: HashMap<String, (&'a ast::TemplateDef, Span)>,
    pub(super) templates_used: HashMap<String, bool>,
    rules: RuleTable<'a>,
    /// Loop iterations expanded so far, against `MAX_EXPANSION`.
    expanded: u64,
    expansion_reported: bool,
    /// Template references expanded for the current class, against `matches::MAX_REFERENCES`.
    templates_expanded: usize,
    /// The site's paths so far, and their indices by name.
    pub(super) paths: Vec<Path>,
    pub(super) path_index: HashMap<String, usize>,
    /// The hosts so far; their names and addresses (with the host and the span) for duplicates.
    pub(super) hosts: Vec<HostAcc>,
    pub(super) host_names: HashMap<String, Span>,
    pub(super) addresses: HashMap<std::net::IpAddr, (String, Span)>,
    /// The last interface's ingress tree's facts: its `default` span and whether it has a root.
    ingress_facts: Option<(Option<Span>, bool)>,
}

/// The interface being built.
struct IfaceBuilder<'a> {
    iface: Interface,
    names: HashMap<String, usize>,
    /// Minor id requested explicitly, per class index.
    explicit: Vec<Option<(u16, Span)>>,
    /// Class mtu inherited from the interface.
    mtu: Option<u64>,
    /// Rate and ceil of the interface, the reference for top-level percentages.
    rate: Option<u64>,
    ceil: Option<u64>,
    /// Whether a root class stands for the interface rate.
    root: Option<usize>,
    /// Classids pinned with `classid`: (the minor as written, its value, where).
    pinned: Vec<(String, u16, Span)>,
    /// The interface's `qdisc` (every leaf's without its own) and `rtt` (inherited by classes).
    qdisc: Option<(LeafQdisc, Span)>,
    rtt: Option<(u32, Span)>,
    /// `expect` lines, resolved once every class is known: (packet, target, statement).
    pending: Vec<(Packet, Option<String>, &'a ast::ExpectStmt)>,
    /// `path NAME` of classes: (class, name, span of the property).
    paths: Vec<(usize, String, Span)>,
}

/// Property statements gathered for one class: from its templates first, then its own body.
struct Props<'a> {
    list: Vec<&'a ast::Property>,
    matches: Vec<&'a ast::MatchStmt>,
}

impl<'a> Lowerer<'a> {
    pub(super) fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub(super) fn name(&mut self, n: &Name) -> Option<String> {
        match self.scopes.interpolate(&n.parts) {
            Ok(s) => Some(s),
            Err(d) => {
                self.error(d);
                None
            }
        }
    }

    fn define_rule(&mut self, r: &'a ast::RuleDef) {
        let Some(name) = self.name(&r.name) else {
            return;
        };
        if let Some(first) = self.rules.define(name.clone(), r) {
            self.error(dup("rule", &name, r.name.span, first));
        }
    }

    fn define_template(&mut self, t: &'a ast::TemplateDef) {
        let Some(name) = self.name(&t.name) else {
            return;
        };
        if let Some((_, first)) = self.templates.get(&name) {
            let first = *first;
            self.error(dup("template", &name, t.name.span, first));
            return;
        }
        self.templates.insert(name, (t, t.name.span));
    }

    pub(super) fn let_stmt(&mut self, l: &ast::Let) {
        match self.scopes.eval(&l.value) {
            Ok(v) => {
                if let Some(first) = self.scopes.define(&l.name.text, v, Some(l.name.span)) {
                    self.error(dup("variable", &l.name.text, l.name.span, first));
                }
            }
            Err(d) => self.error(d),
        }
    }

    /// Lower one interface and add it to `host` (a second block for one name is an error).
    pub(super) fn add_interface(&mut self, host: &mut HostAcc, i: &'a ast::InterfaceDef) {
        self.ingress_facts = None;
        let Some((iface, default_span, has_root, paths)) = self.interface(i) else {
            return;
        };
        if let Some(first) = host.iface_names.get(&iface.name) {
            self.diags.push(
                Diagnostic::new(
                    Code::DuplicateInterface,
                    i.name.span,
                    format!("interface `{}` is defined twice", iface.name),
                )
                .secondary(*first, "first defined here")
                .help("put all classes of one interface in one block"),
            );
            return;
        }
        let n = host.host.plan.interfaces.len();
        host.iface_names.insert(iface.name.clone(), i.name.span);
        host.host.plan.interfaces.push(iface);
        host.facts.default_spans.push(default_span);
        host.facts.has_root.push(has_root);
        host.facts
            .ingress
            .push(self.ingress_facts.unwrap_or_default());
        for (class, name, span) in paths {
            host.paths.push((n, class, name, span));
        }
    }

    fn interface(&mut self, def: &'a ast::InterfaceDef) -> Option<Tree> {
        let name = self.name(&def.name)?;
        check_ifname(&name, def.name.span)
            .map_err(|d| self.error(d))
            .ok()?;
        self.scopes.push();
        let (mut iface, default_span, has_root, paths) = self.tree(&name, def.name.span, &def.body);
        let mut blocks = def.body.iter().filter_map(|s| match s {
            Stmt::Ingress(g) => Some(g),
            _ => None,
        });
        if let Some(g) = blocks.next() {
            let ifb = crate::plan::ingress::ifb_name(&name);
            let (mut tree, d, r, ingress_paths) = self.tree(&ifb, g.keyword, &g.body);
            // A path budgets what hosts send; what arrives on an ifb is not on it.
            for (_, path, span) in ingress_paths {
                self.error(
                    Diagnostic::new(
                        Code::BadValue,
                        span,
                        format!("`path {path}` on a class of an `ingress` block"),
                    )
                    .label("paths count what a host sends; this class shapes what arrives")
                    .help("put `path` on the classes of the interface's own (sending) tree"),
                );
            }
            tree.span = g.keyword;
            iface.ingress = Some(Box::new(tree));
            self.ingress_facts = Some((d, r));
            for extra in blocks {
                self.error(
                    Diagnostic::new(
                        Code::MisplacedIngress,
                        extra.keyword,
                        format!("interface `{name}` has a second `ingress` block"),
                    )
                    .secondary(g.keyword, "first ingress block")
                    .help("put every class of the download side in one `ingress { }` block"),
                );
            }
        }
        self.scopes.pop();
        Some((iface, default_span, has_root, paths))
    }

    /// The class tree of an interface block (or of its `ingress` block, on device `name`):
    /// properties, classes, matches, expectations; `ingress` blocks are the caller's.
    fn tree(&mut self, name: &str, span: Span, body: &'a [Stmt]) -> Tree {
        let name = name.to_string();
        let mut b = IfaceBuilder {
            iface: Interface {
                name: name.clone(),
                span,
                handle: 1,
                r2q: 10,
                default: None,
                classes: vec![],
                filters: vec![],
                expectations: vec![],
                ingress: None,
            },
            names: HashMap::new(),
            explicit: vec![],
            mtu: None,
            rate: None,
            ceil: None,
            root: None,
            pinned: vec![],
            qdisc: None,
            rtt: None,
            pending: vec![],
            paths: vec![],
        };
        let mut default: Option<(Val, Span)> = None;
        let mut rate_span = None;
        let mut seen: HashMap<&str, Span> = HashMap::new();
        // Properties first: classes need the interface rate for percentages.
        for s in body {
            let Stmt::Property(p) = s else { continue };
            if let Some(first) = seen.insert(p.key.text.as_str(), p.key.span) {
                self.error(dup_prop(&p.key, first));
                continue;
            }
            if p.key.text == "qdisc" {
                b.qdisc = self.qdisc(p).map(|q| (q, prop_span(p)));
                continue;
            }
            let Some(v) = self.single(p) else { continue };
            match p.key.text.as_str() {
                "rtt" => b.rtt = self.ok(value::time(&v)).map(|t| (t, prop_span(p))),
                "rate" => {
                    rate_span = Some(prop_span(p));
                    b.rate = self.rate(&v, None);
                }
                "ceil" => b.ceil = self.rate(&v, None),
                "mtu" => b.mtu = self.ok(value::size(&v)),
                "default" => default = Some((v, prop_span(p))),
                "handle" => {
                    let h = match &v.kind {
                        VKind::HexColon(s) => parse_hex_major(s),
                        VKind::Num { .. } => value::integer(&v)
                            .ok()
                            .and_then(|n| u16::from_str_radix(&n.to_string(), 16).ok()),
                        _ => None,
                    };
                    match h {
                        Some(h) if h > 0 => b.iface.handle = h,
                        _ => self.error(
                            Diagnostic::new(Code::BadValue, v.span, "invalid qdisc handle")
                                .label("expected a hex major number 1..ffff, e.g. `1` or `1:`"),
                        ),
                    }
                }
                "r2q" => {
                    if let Some(n) =
                        self.ok(value::bounded(&v, 1, 1_000_000, "r2q", Code::BadValue))
                    {
                        b.iface.r2q = n as u32;
                    }
                }
                _ => self.unknown_property(&p.key, INTERFACE_PROPS),
            }
        }
        if b.rate.is_none() && b.ceil.is_some() {
            self.error(
                Diagnostic::new(
                    Code::MissingRate,
                    span,
                    "interface has a `ceil` but no `rate`",
                )
                .help("give the interface a `rate`; its ceil defaults to it"),
            );
        }
        if let Some(rate) = b.rate {
            let ceil = b.ceil.unwrap_or(rate);
            b.ceil = Some(ceil);
            let span = rate_span.unwrap_or(span);
            b.iface.classes.push(Class {
                name: name.clone(),
                span,
                minor: 0,
                explicit_id: false,
                parent: None,
                rate,
                ceil,
                burst: None,
                cburst: None,
                prio: None,
                quantum: None,
                mtu: b.mtu,
                qdisc: None,
                rtt: b.rtt.map(|r| r.0),
                spans: ClassSpans {
                    rate: rate_span,
                    rtt: b.rtt.map(|r| r.1),
                    ..Default::default()
                },
            });
            b.explicit.push(None);
            b.root = Some(0);
        }
        let parent = b.root;
        for s in body {
            if !matches!(s, Stmt::Ingress(_)) {
                self.body(&mut b, std::slice::from_ref(s), parent);
            }
        }

        assign_ids(&mut b, &mut self.diags);
        decimal_ids(&b, &mut self.diags);
        leaf_queues(&mut b);
        let default_span = default.as_ref().map(|d| d.1);
        if let Some((v, _)) = default {
            b.iface.default = self.resolve_class(&b, &v);
        }
        self.resolve_expectations(&mut b, default_span.is_some());
        let has_root = b.root.is_some();
        (b.iface, default_span, has_root, b.paths)
    }

    /// Lower the statements of an interface or class body into children of `parent`.
    fn body(&mut self, b: &mut IfaceBuilder<'a>, stmts: &'a [Stmt], parent: Option<usize>) {
        for s in stmts {
            match s {
                Stmt::Property(_) => {} // handled by the owner
                Stmt::Let(l) => self.let_stmt(l),
                Stmt::Class(c) => self.class(b, c, parent),
                Stmt::For(f) => self.for_loop(b, f, parent),
                Stmt::Match(m) => match parent {
                    Some(p) if Some(p) != b.root => self.add_filter(b, p, m),
                    _ => self.error(
                        Diagnostic::new(Code::Syntax, m.span, "`match` outside a class")
                            .label("which class should this traffic go to?")
                            .help(
                                "put `match` lines inside the class that should take the traffic",
                            ),
                    ),
                },
                Stmt::Expect(e) => match parent {
                    p if p == b.root => self.expect(b, e),
                    _ => self.error(
                        Diagnostic::new(Code::Syntax, e.span, "`expect` inside a class")
                            .label("expectations belong to the interface")
                            .help("move `expect` lines to the interface block (or a loop in it)"),
                    ),
                },
                Stmt::Ingress(g) => self.error(
                    Diagnostic::new(
                        Code::MisplacedIngress,
                        g.keyword,
                        "`ingress` belongs directly in an interface block",
                    )
                    .label("not allowed here")
                    .help("write `ingress { ... }` at the top of the interface it shapes, beside its classes"),
                ),
                Stmt::Rule(_)
                | Stmt::Template(_)
                | Stmt::Interface(_)
                | Stmt::Host(_)
                | Stmt::Path(_) => self.error(
                    Diagnostic::new(
                        Code::Syntax,
                        s.span(),
                        "definitions belong at the top level",
                    )
                    .label("not allowed inside a block"),
                ),
            }
        }
    }

    fn for_loop(&mut self, b: &mut IfaceBuilder<'a>, f: &'a ast::ForLoop, parent: Option<usize>) {
        let Some(items) = self.loop_items(f) else {
            return;
        };
        for item in items {
            if !self.count_iteration(f) {
                return;
            }
            self.scopes.push();
            self.scopes.define(&f.var.text, item, None);
            self.body(b, &f.body, parent);
            self.scopes.pop();
        }
    }

    /// The values a `for` loop runs over (`None`: reported).
    pub(super) fn loop_items(&mut self, f: &ast::ForLoop) -> Option<Vec<Val>> {
        let iter = match self.scopes.eval(&f.iter) {
            Ok(v) => v,
            Err(d) => return self.none(d),
        };
        let items: Vec<Val> = match &iter.kind {
            VKind::Range(lo, hi) => {
                if lo > hi {
                    return self.none(
                        Diagnostic::new(
                            Code::ReversedRange,
                            iter.span,
                            format!("range {lo}..{hi} is reversed"),
                        )
                        .label("this loop would run zero times")
                        .help("ranges are inclusive and count upwards"),
                    );
                }
                if hi - lo >= MAX_LOOP {
                    return self.none(
                        Diagnostic::new(
                            Code::LoopTooLarge,
                            iter.span,
                            format!("loop of {} iterations", hi - lo + 1),
                        )
                        .label(format!("at most {MAX_LOOP} iterations"))
                        .help("an interface holds at most 65535 classes (16-bit minor ids)"),
                    );
                }
                (*lo..=*hi)
                    .map(|n| Val {
                        kind: VKind::Num {
                            value: n as f64,
                            unit: String::new(),
                        },
                        span: iter.span,
                    })
                    .collect()
            }
            VKind::AddrRange(lo, hi) => {
                let n = value::addr_count(*lo, *hi);
                if n > MAX_LOOP as u128 {
                    return self.none(
                        Diagnostic::new(
                            Code::LoopTooLarge,
                            iter.span,
                            format!("loop of {n} iterations"),
                        )
                        .label(format!("at most {MAX_LOOP} iterations"))
                        .help("an interface holds at most 65535 classes (16-bit minor ids)"),
                    );
                }
                value::addr_iter(*lo, *hi)
                    .map(|a| Val {
                        kind: match a {
                            std::net::IpAddr::V4(_) => VKind::Ipv4(a.to_string()),
                            std::net::IpAddr::V6(_) => VKind::HexColon(a.to_string()),
                        },
                        span: iter.span,
                    })
                    .collect()
            }
            VKind::List(items) => items.clone(),
            _ => {
                return self.none(
                    Diagnostic::new(
                        Code::WrongType,
                        iter.span,
                        format!("cannot loop over {}", iter.describe()),
                    )
                    .label("expected a range such as `1000..1009` or `10.0.0.10..10.0.0.60`, or a list such as `[a, b]`"),
                )
            }
        };
        Some(items)
    }

    /// Count one loop iteration against `MAX_EXPANSION`; `false` (reported once) when over.
    pub(super) fn count_iteration(&mut self, f: &ast::ForLoop) -> bool {
        self.expanded += 1;
        if self.expanded > MAX_EXPANSION {
            if !self.expansion_reported {
                self.expansion_reported = true;
                self.error(
                    Diagnostic::new(
                        Code::LoopTooLarge,
                        f.span,
                        "loops expand to too many iterations",
                    )
                    .label(format!(
                        "nested loops here exceed {MAX_EXPANSION} iterations in all"
                    ))
                    .help("an interface holds at most 65535 classes; loop over fewer values"),
                );
            }
            return false;
        }
        true
    }

    fn none<T>(&mut self, d: Diagnostic) -> Option<T> {
        self.error(d);
        None
    }

    fn class(&mut self, b: &mut IfaceBuilder<'a>, def: &'a ast::ClassDef, parent: Option<usize>) {
        // An HTB qdisc holds at most 65535 classes: once one more than that is made, E0214 is
        // certain (`assign_ids` reports it) and further classes would only cost memory.
        if b.iface.classes.len() > 0xffff {
            return;
        }
        let Some(name) = self.name(&def.name) else {
            return;
        };
        let mut props = Props {
            list: vec![],
            matches: vec![],
        };
        // Only the diagnostics added from here are looked at: counting all of them for each
        // class was quadratic in a loop that reports one error per class (a fuzz find).
        let diags_before = self.diags.items.len();
        self.templates_expanded = 0;
        for t in &def.templates {
            self.expand_template(t, &mut props, &mut vec![]);
        }
        // A template that failed to resolve may have carried the rate: do not pile on.
        let templates_ok = !self.diags.items[diags_before..]
            .iter()
            .any(|d| d.severity() == crate::diagnostic::Severity::Error);
        let own_start = props.list.len();
        for s in &def.body {
            if let Stmt::Property(p) = s {
                props.list.push(p);
            }
        }
        // The same key twice in the class's own body is a mistake; over a template, an override.
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for p in &props.list[own_start..] {
            if let Some(first) = seen.insert(p.key.text.as_str(), p.key.span) {
                self.diags.push(dup_prop(&p.key, first));
            }
        }
        let mut effective: Vec<&ast::Property> = vec![];
        for p in props.list.iter().rev() {
            if !effective.iter().any(|e| e.key.text == p.key.text) {
                effective.push(p);
            }
        }
        effective.reverse();

        let (p_rate, p_ceil, p_mtu, p_rtt) = match parent {
            Some(i) => {
                let c = &b.iface.classes[i];
                (
                    Some(c.rate),
                    Some(c.ceil),
                    c.mtu,
                    c.rtt.map(|t| (t, c.spans.rtt)),
                )
            }
            None => (b.rate, b.ceil, b.mtu, b.rtt.map(|(t, s)| (t, Some(s)))),
        };
        let mut class = Class {
            name: name.clone(),
            span: def.name.span,
            minor: 0,
            explicit_id: false,
            parent,
            rate: 0,
            ceil: 0,
            burst: None,
            cburst: None,
            prio: None,
            quantum: None,
            mtu: p_mtu,
            qdisc: None,
            rtt: p_rtt.map(|r| r.0),
            spans: ClassSpans {
                rtt: p_rtt.and_then(|r| r.1),
                ..ClassSpans::default()
            },
        };
        let mut rate = None;
        let mut ceil = None;
        let mut explicit = None;
        let mut on_path = None;
        let rate_written = effective.iter().any(|p| p.key.text == "rate");
        for p in effective {
            if p.key.text == "qdisc" {
                class.spans.qdisc = Some(prop_span(p));
                class.qdisc = self.qdisc(p);
                continue;
            }
            let Some(v) = self.single(p) else { continue };
            match p.key.text.as_str() {
                "rtt" => {
                    if let Some(t) = self.ok(value::time(&v)) {
                        class.rtt = Some(t);
                        class.spans.rtt = Some(prop_span(p));
                    }
                }
                "rate" => {
                    // An invalid rate was reported; the class then takes no part in rate checks.
                    rate = self.rate(&v, p_rate);
                    if rate.is_some() {
                        class.spans.rate = Some(prop_span(p));
                    }
                }
                "ceil" => {
                    class.spans.ceil = Some(prop_span(p));
                    ceil = self.rate(&v, p_ceil.or(p_rate));
                }
                "burst" => {
                    class.spans.burst = Some(prop_span(p));
                    class.burst = self.ok(value::size(&v));
                }
                "cburst" => {
                    class.spans.cburst = Some(prop_span(p));
                    class.cburst = self.ok(value::size(&v));
                }
                "prio" => {
                    class.spans.prio = Some(prop_span(p));
                    class.prio = self.ok(value::integer(&v).and_then(|n| {
                        if (0..=7).contains(&n) {
                            Ok(n as u32)
                        } else {
                            Err(Diagnostic::new(
                                Code::PrioOutOfRange,
                                v.span,
                                format!("prio {n} is out of range"),
                            )
                            .label("HTB priorities are 0 (highest) to 7 (lowest)"))
                        }
                    }));
                }
                "quantum" => {
                    class.spans.quantum = Some(prop_span(p));
                    class.quantum = self.ok(value::size(&v));
                }
                "mtu" => {
                    class.spans.mtu = Some(prop_span(p));
                    class.mtu = self.ok(value::size(&v));
                }
                "path" => match &v.kind {
                    VKind::Ident(n) | VKind::Str(n) => on_path = Some((n.clone(), prop_span(p))),
                    _ => self.error(
                        Diagnostic::new(
                            Code::WrongType,
                            v.span,
                            format!("`path` takes a path's name, not {}", v.describe()),
                        )
                        .label("expected the name of a top-level `path NAME { ... }`"),
                    ),
                },
                "classid" => {
                    class.spans.classid = Some(prop_span(p));
                    explicit = self.classid(&v, b.iface.handle).map(|m| (m, v.span));
                    if let Some((m, span)) = explicit {
                        let text = v.to_text();
                        let minor = text.rsplit(':').next().unwrap_or("").to_string();
                        b.pinned.push((minor, m, span));
                    }
                }
                _ => self.unknown_property(&p.key, CLASS_PROPS),
            }
        }
        match rate {
            Some(r) => class.rate = r,
            // A template that failed, or a rate that did not evaluate, was reported already.
            None if !templates_ok || rate_written => {}
            None => self.error(
                Diagnostic::new(Code::MissingRate, def.name.span, format!("class `{name}` has no rate"))
                    .label("every HTB class needs a guaranteed rate")
                    .help("add `rate 10mbit` (or a percentage of the parent) to the class or a template it uses"),
            ),
        }
        class.ceil = ceil.unwrap_or(class.rate);

        let idx = b.iface.classes.len();
        if let Some(&first) = b.names.get(&name) {
            let first_span = b.iface.classes[first].span;
            self.error(
                Diagnostic::new(Code::DuplicateClass, def.name.span, format!("class `{name}` is defined twice"))
                    .label("second definition")
                    .secondary(first_span, "first defined here")
                    .help("class names must be unique within an interface; loops can interpolate: \"name-${i}\""),
            );
        } else {
            b.names.insert(name, idx);
        }
        b.iface.classes.push(class);
        b.explicit.push(explicit);
        if let Some((path, span)) = on_path {
            b.paths.push((idx, path, span));
        }

        for m in &props.matches {
            self.add_filter(b, idx, m);
        }
        self.scopes.push();
        self.body(b, &def.body, Some(idx));
        self.scopes.pop();
    }

    fn expand_template(&mut self, t: &Name, props: &mut Props<'a>, stack: &mut Vec<String>) {
        let Some(name) = self.name(t) else { return };
        let Some(&(def, _)) = self.templates.get(&name) else {
            let d = Diagnostic::new(
                Code::UnknownTemplate,
                t.span,
                format!("unknown template `{name}`"),
            )
            .label("no template of this name");
            let known: Vec<&str> = self.templates.keys().map(String::as_str).collect();
            let d = with_suggestion(d, &name, known.into_iter(), "");
            return self.error(d);
        };
        // usize::MAX: this class was already refused; unwind without more reports.
        if self.templates_expanded == usize::MAX {
            return;
        }
        self.templates_expanded += 1;
        if stack.len() >= matches::MAX_CHAIN || self.templates_expanded > matches::MAX_REFERENCES {
            self.error(matches::too_deep("template", &name, t.span, stack));
            self.templates_expanded = usize::MAX;
            return;
        }
        if stack.contains(&name) {
            return self.error(
                Diagnostic::new(
                    Code::InheritanceCycle,
                    t.span,
                    format!("template `{name}` inherits from itself"),
                )
                .note(format!("cycle: {} -> {name}", stack.join(" -> "))),
            );
        }
        self.templates_used.insert(name.clone(), true);
        stack.push(name);
        for p in &def.parents {
            self.expand_template(p, props, stack);
        }
        stack.pop();
        for s in &def.body {
            match s {
                Stmt::Property(p) => props.list.push(p),
                Stmt::Match(m) => props.matches.push(m),
                other => self.error(
                    Diagnostic::new(
                        Code::Syntax,
                        other.span(),
                        "templates hold only properties and `match` lines",
                    )
                    .label("not allowed in a template"),
                ),
            }
        }
    }

    fn add_filter(&mut self, b: &mut IfaceBuilder, class: usize, m: &ast::MatchStmt) {
        let (found, diags) = matches::lower_match(m, &mut self.scopes, &mut self.rules);
        self.diags.extend(diags);
        for mm in found {
            b.iface.filters.push(Filter {
                class,
                m: mm,
                span: m.span,
            });
        }
    }

    /// An `expect` line: its packet now (loop variables are in scope), its class later.
    fn expect(&mut self, b: &mut IfaceBuilder<'a>, e: &'a ast::ExpectStmt) {
        let ms = ast::MatchStmt {
            criteria: e.criteria.clone(),
            span: e.span,
        };
        let (found, diags) = matches::lower_match(&ms, &mut self.scopes, &mut self.rules);
        self.diags.extend(diags);
        let m =
            match <[_; 1]>::try_from(found) {
                Ok([m]) => m,
                Err(found) if found.is_empty() => return,
                Err(_) => return self.error(
                    Diagnostic::new(
                        Code::BadExpectation,
                        e.span,
                        "this line describes more than one packet",
                    )
                    .label(
                        "`port` is a source or a destination port; an expectation needs one packet",
                    )
                    .help("describe one packet: `sport`/`dport`, one address per field"),
                ),
            };
        let Some(packet) = self.ok(super::expect::packet(&m)) else {
            return;
        };
        let special = e.bare
            && matches!(&e.target.parts[..], [ast::StrPart::Text(t)] if t == "default" || t == "unclassified");
        let target = if special {
            None
        } else {
            match self.name(&e.target) {
                Some(n) => Some(n),
                None => return,
            }
        };
        b.pending.push((packet, target, e));
    }

    /// The classes the `expect` lines name, now that every class is known.
    fn resolve_expectations(&mut self, b: &mut IfaceBuilder<'a>, has_default: bool) {
        for (packet, target, e) in std::mem::take(&mut b.pending) {
            let class = match target {
                Some(name) => {
                    let v = Val {
                        kind: VKind::Str(name),
                        span: e.target.span,
                    };
                    match self.resolve_class(b, &v) {
                        Some(c) => Expected::Class(c),
                        None => continue,
                    }
                }
                None => {
                    let word = match &e.target.parts[..] {
                        [ast::StrPart::Text(t)] => t.as_str(),
                        _ => "",
                    };
                    match (word, has_default) {
                        ("default", true) => Expected::Default,
                        ("unclassified", false) => Expected::Unclassified,
                        ("default", false) => {
                            self.error(
                                Diagnostic::new(Code::BadExpectation, e.target.span, "this interface has no default class")
                                    .label("no `default` property")
                                    .help("expect `unclassified` for traffic no match takes, or give the interface a `default`"),
                            );
                            continue;
                        }
                        _ => {
                            self.error(
                                Diagnostic::new(
                                    Code::BadExpectation,
                                    e.target.span,
                                    "no packet stays unclassified on this interface",
                                )
                                .label("this interface has a `default` class")
                                .help("expect `default` for traffic no match takes"),
                            );
                            continue;
                        }
                    }
                }
            };
            b.iface.expectations.push(Expectation {
                packet,
                class,
                span: e.span,
                target_span: e.target.span,
            });
        }
    }

    fn resolve_class(&mut self, b: &IfaceBuilder, v: &Val) -> Option<usize> {
        let name = match &v.kind {
            VKind::Ident(s) | VKind::Str(s) => s.clone(),
            VKind::HexColon(s) => {
                let minor = self.classid(v, b.iface.handle)?;
                return match b.iface.classes.iter().position(|c| c.minor == minor) {
                    Some(i) => Some(i),
                    None => {
                        self.error(
                            Diagnostic::new(
                                Code::UnknownClass,
                                v.span,
                                format!("no class has classid {s}"),
                            )
                            .label("traffic sent here would not be shaped"),
                        );
                        None
                    }
                };
            }
            _ => {
                self.error(
                    Diagnostic::new(
                        Code::WrongType,
                        v.span,
                        format!("expected a class name, found {}", v.describe()),
                    )
                    .label("expected the name of a leaf class"),
                );
                return None;
            }
        };
        match b.names.get(&name) {
            Some(&i) if Some(i) != b.root => Some(i),
            _ => {
                let d = Diagnostic::new(Code::UnknownClass, v.span, format!("unknown class `{name}`"))
                    .label("no class of this name in this interface")
                    .note("the kernel accepts a default naming a missing class and then leaves unclassified traffic unshaped");
                let known: Vec<&str> = b.names.keys().map(String::as_str).collect();
                self.error(with_suggestion(d, &name, known.into_iter(), ""));
                None
            }
        }
    }

    /// `classid 1:2a` (or just `2a`): the minor id, checked against the interface's handle.
    fn classid(&mut self, v: &Val, handle: u16) -> Option<u16> {
        let text = match &v.kind {
            VKind::HexColon(s) => s.clone(),
            VKind::Num { .. } | VKind::Ident(_) => v.to_text(),
            _ => {
                self.error(
                    Diagnostic::new(
                        Code::WrongType,
                        v.span,
                        format!("expected a classid, found {}", v.describe()),
                    )
                    .label("expected `major:minor` in hex, e.g. `1:2a`"),
                );
                return None;
            }
        };
        let (major, minor) = match text.split_once(':') {
            Some((a, b)) => (Some(a), b),
            None => (None, text.as_str()),
        };
        let bad = |msg: String, label: &str| {
            Diagnostic::new(Code::ClassidOutOfRange, v.span, msg).label(label.to_string())
        };
        if let Some(major) = major {
            match u32::from_str_radix(major, 16) {
                Ok(m) if m == handle as u32 => {}
                _ => {
                    self.error(
                        bad(
                            format!("classid `{text}` does not belong to qdisc {handle:x}:"),
                            "wrong major number",
                        )
                        .help(format!(
                            "classes of this interface are `{handle:x}:<minor>`"
                        )),
                    );
                    return None;
                }
            }
        }
        match u32::from_str_radix(minor, 16) {
            Ok(0) => {
                self.error(
                    bad(
                        format!("classid `{text}` has minor 0"),
                        "minor 0 is the qdisc itself",
                    )
                    .help("use a minor id between 1 and ffff"),
                );
                None
            }
            Ok(m) if m <= 0xffff => Some(m as u16),
            Ok(_) => {
                self.error(bad(
                    format!("classid `{text}` is out of range"),
                    "minor ids are 1..ffff (hex)",
                ));
                None
            }
            Err(_) => {
                self.error(bad(
                    format!("`{text}` is not a classid"),
                    "minor ids are hex, 1..ffff",
                ));
                None
            }
        }
    }

    pub(super) fn single(&mut self, p: &ast::Property) -> Option<Val> {
        if p.values.len() != 1 {
            self.error(
                Diagnostic::new(
                    Code::WrongType,
                    p.span,
                    format!("`{}` takes one value", p.key.text),
                )
                .label(format!("{} values given", p.values.len())),
            );
            return None;
        }
        let r = self.scopes.eval(&p.values[0]);
        self.ok(r)
    }

    /// `qdisc KIND OPTIONS...`: the words evaluated (variables allowed) and read as tc reads
    /// them (`plan::qdisc`), an E0218 at the offending word otherwise.
    fn qdisc(&mut self, p: &ast::Property) -> Option<LeafQdisc> {
        let mut words = vec![];
        for v in &p.values {
            let r = self.scopes.eval(v);
            let v = self.ok(r)?;
            words.push((v.to_text(), v.span));
        }
        let texts: Vec<&str> = words.iter().map(|w| w.0.as_str()).collect();
        match LeafQdisc::parse(&texts) {
            Ok(q) => Some(q),
            Err(e) => {
                let span = words.get(e.at).map_or(prop_span(p), |w| w.1);
                self.error(
                    Diagnostic::new(Code::BadQdisc, span, e.message)
                        .label(if e.unknown_kind {
                            "not a leaf qdisc tcc models"
                        } else {
                            "here"
                        })
                        .help("e.g. `qdisc bfifo limit 2mb`, `qdisc fq_codel`, `qdisc tbf rate 10mbit burst 32k latency 50ms`; docs/language.md lists every option"),
                );
                None
            }
        }
    }

    pub(super) fn rate(&mut self, v: &Val, reference: Option<u64>) -> Option<u64> {
        match value::rate(v, reference) {
            Ok(r) => {
                if let Some(w) = r.byte_units_warning(v.span) {
                    self.diags.push(w);
                }
                Some(r.rate.0)
            }
            Err(d) => {
                self.error(d);
                None
            }
        }
    }

    pub(super) fn ok<T>(&mut self, r: Result<T, Diagnostic>) -> Option<T> {
        r.map_err(|d| self.error(d)).ok()
    }

    pub(super) fn unknown_property(&mut self, key: &ast::Ident, known: &[&str]) {
        let d = Diagnostic::new(
            Code::UnknownProperty,
            key.span,
            format!("unknown property `{}`", key.text),
        )
        .label("not a property here");
        let d = match value::closest(&key.text, known.iter().copied()) {
            Some(k) => d.help(format!("did you mean `{k}`?")),
            None => d.help(format!("known properties: {}", known.join(", "))),
        };
        self.error(d);
    }
}

const INTERFACE_PROPS: &[&str] = &[
    "rate", "ceil", "mtu", "default", "handle", "r2q", "qdisc", "rtt",
];
const CLASS_PROPS: &[&str] = &[
    "rate", "ceil", "burst", "cburst", "prio", "quantum", "mtu", "classid", "path", "qdisc", "rtt",
];

/// Leaves without their own `qdisc` take the interface's; failing that, with an `rtt`, a
/// `bfifo` of one bandwidth-delay product (ceil x rtt, at least `MIN_BFIFO`).
fn leaf_queues(b: &mut IfaceBuilder) {
    let leaves = b.iface.leaves();
    for (c, leaf) in b.iface.classes.iter_mut().zip(leaves) {
        if !leaf || c.qdisc.is_some() {
            continue;
        }
        if let Some((q, span)) = &b.qdisc {
            c.qdisc = Some(q.clone());
            c.spans.qdisc = Some(*span);
        } else if let Some(rtt) = c.rtt {
            let bdp = bdp_bytes(c.ceil, rtt).clamp(MIN_BFIFO, u32::MAX as u64) as u32;
            c.qdisc = Some(LeafQdisc::Bfifo { limit: Some(bdp) });
        }
    }
}

pub(super) fn dup(kind: &str, name: &str, span: Span, first: Span) -> Diagnostic {
    Diagnostic::new(
        Code::DuplicateDefinition,
        span,
        format!("{kind} `{name}` is defined twice"),
    )
    .label("second definition")
    .secondary(first, "first defined here")
}

pub(super) fn dup_prop(key: &ast::Ident, first: Span) -> Diagnostic {
    Diagnostic::new(
        Code::DuplicateProperty,
        key.span,
        format!("`{}` is given twice", key.text),
    )
    .label("second value")
    .secondary(first, "first given here")
    .help("remove one of them")
}

/// A property's span from its key to its last value (never a trailing comment).
pub(super) fn prop_span(p: &ast::Property) -> Span {
    let end = p.values.last().map_or(p.key.span.end, |v| v.span.end);
    Span { end, ..p.key.span }
}

fn parse_hex_major(s: &str) -> Option<u16> {
    let major = s.strip_suffix(':').or_else(|| s.strip_suffix(":0"))?;
    u16::from_str_radix(major, 16).ok()
}

/// Pinned classids counted in decimal (W0113): `1:9` beside `1:10`, with no hex letter in any
/// pinned id of the interface (`1:10` is 0x10 = 16, the class after `1:9` is `1:a`).
fn decimal_ids(b: &IfaceBuilder, diags: &mut Diagnostics) {
    let p = &b.pinned;
    if p.iter()
        .any(|(t, ..)| t.contains(|c: char| c.is_ascii_alphabetic()))
    {
        return;
    }
    // Counting in decimal shows where it carries: two pinned ids that are consecutive read
    // as decimal (`9` and `10`, `19` and `20`) but not in hex. Ids that are only labels
    // (`1`, `10`, `20`, `30`, as LARTC writes them) are not counted and say nothing.
    let dec = |t: &str| t.trim_start_matches('0').parse::<u32>().unwrap_or(0);
    let pair = p.iter().find_map(|lo| {
        let hi = p.iter().find(|hi| dec(&hi.0) == dec(&lo.0) + 1)?;
        (u32::from(hi.1) != u32::from(lo.1) + 1).then_some((lo, hi))
    });
    let Some(((lt, lm, ls), (ht, hm, hs))) = pair else {
        return;
    };
    let h = b.iface.handle;
    diags.push(
        Diagnostic::new(
            Code::DecimalClassid,
            *hs,
            format!("classid {h:x}:{ht} is hex: 0x{hm:x} = {hm}, not decimal {}", ht.trim_start_matches('0')),
        )
        .label(format!("{h:x}:{ht} is class {hm}"))
        .secondary(*ls, format!("beside {h:x}:{lt}, counted as if decimal"))
        .note(format!(
            "tc reads classid minors in hex: after {h:x}:{lm:x} comes {h:x}:{:x}",
            lm + 1
        ))
        .help("write the ids in hex (`1:a` is ten), or leave `classid` out and let tcc number the classes"),
    );
}

/// Give every class a minor id. Explicit ids are kept; the root class made from the interface
/// rate gets 1 when free; every other class gets the next free id from 0x10 upwards, in source
/// order (depth-first). Deterministic, and an explicit id never collides with an automatic one.
fn assign_ids(b: &mut IfaceBuilder, diags: &mut Diagnostics) {
    let mut taken = std::collections::HashSet::new();
    for (i, e) in b.explicit.iter().enumerate() {
        if let Some((m, _)) = e {
            taken.insert(*m);
            b.iface.classes[i].minor = *m;
            b.iface.classes[i].explicit_id = true;
        }
    }
    if let Some(r) = b.root {
        if b.explicit[r].is_none() && !taken.contains(&1) {
            b.iface.classes[r].minor = 1;
            taken.insert(1);
        }
    }
    let mut next: u32 = FIRST_AUTO_MINOR as u32;
    let mut exhausted = false;
    for i in 0..b.iface.classes.len() {
        if b.iface.classes[i].minor != 0 {
            continue;
        }
        while next <= 0xffff && taken.contains(&(next as u16)) {
            next += 1;
        }
        if next > 0xffff {
            if !exhausted {
                diags.push(
                    Diagnostic::new(
                        Code::IdsExhausted,
                        b.iface.classes[i].span,
                        "no minor id left for this class",
                    )
                    .label("an HTB qdisc holds at most 65535 classes")
                    .help("split the classes over several interfaces or aggregate them"),
                );
                exhausted = true;
            }
            continue;
        }
        b.iface.classes[i].minor = next as u16;
        taken.insert(next as u16);
        next += 1;
    }
}
