//! The shaping plan: the one intermediate representation at the centre of tcc.
//!
//! The language lowers into it (`sema`), script reading will lower into it, and the checker and
//! every backend read it. A plan is plain data: no spans are needed to emit it, but every item
//! keeps the span it came from so that checks can point back into the source.
//!
//! Invariants once `sema::check` has passed without errors:
//! - every class's `parent` index is smaller than its own index (parents come first);
//! - classids are unique per interface and in `1..=0xffff`;
//! - every filter targets a leaf class;
//! - `ceil >= rate > 0` for every class;
//! - names reaching a shell have been validated (interface names) or are only ever quoted.

pub mod decide;
pub mod ingress;
pub mod limits;
pub mod matchrel;
pub mod qdisc;
pub mod site;
pub mod units;

use crate::diagnostic::{Diagnostic, Span};
use ipnet::IpNet;
use serde::Serialize;

/// A whole configuration: one entry per shaped interface, in source order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Plan {
    pub interfaces: Vec<Interface>,
}

impl Plan {
    /// Every class tree as an interface of its own: each interface, then its ingress tree (on
    /// its ifb device, by that name) — for readers that show trees, not what owns them.
    pub fn trees(&self) -> Plan {
        let mut out = Plan::default();
        for i in &self.interfaces {
            let mut own = i.clone();
            let ingress = own.ingress.take();
            out.interfaces.push(own);
            out.interfaces.extend(ingress.map(|t| *t));
        }
        out
    }
}

/// One network interface with an HTB root qdisc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interface {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
    /// The qdisc major number (`handle 1:`), 1..=0xffff.
    pub handle: u16,
    /// HTB's rate-to-quantum divisor (`r2q`), 10 when not given.
    pub r2q: u32,
    /// Index into `classes` of the leaf that takes unclassified traffic.
    pub default: Option<usize>,
    /// All classes, parents before children (depth-first, source order).
    pub classes: Vec<Class>,
    /// Classification rules in priority order: the first that matches wins.
    pub filters: Vec<Filter>,
    /// `expect PACKET -> CLASS` statements, checked by `sema::check` with `decide::decide`;
    /// emitters ignore them.
    #[serde(skip)]
    pub expectations: Vec<Expectation>,
    /// The ingress tree (`ingress { ... }`): what arrives on the interface, shaped by an HTB tree
    /// of the same kind on the ifb device `name` (`ingress::ifb_name` of this interface), with
    /// u32 filters. It has no ingress tree of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Box<Interface>>,
}

/// "Packet `packet` must reach `class`": an `expect` statement of the language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub packet: decide::Packet,
    pub class: Expected,
    /// The whole statement.
    pub span: Span,
    /// The target after `->`.
    pub target_span: Span,
}

/// The class an `expect` statement names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// A class by index into `Interface::classes`.
    Class(usize),
    /// `default`: the interface's default class (which must exist).
    Default,
    /// `unclassified`: no class (only where the interface has no default).
    Unclassified,
}

/// One HTB class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Class {
    /// The user's name for the class, unique within the interface.
    pub name: String,
    #[serde(skip)]
    pub span: Span,
    /// Minor id (the `12` in `classid 1:12`, hex in tc's notation).
    pub minor: u16,
    /// Whether `minor` was given by the user (`classid 1:2a`) rather than auto-assigned.
    pub explicit_id: bool,
    /// Index of the parent class, or `None` for a class attached to the root qdisc.
    pub parent: Option<usize>,
    /// Guaranteed rate, bits per second.
    pub rate: u64,
    /// Maximum rate, bits per second (defaults to `rate`).
    pub ceil: u64,
    /// Bytes; `None` lets tc compute it.
    pub burst: Option<u64>,
    pub cburst: Option<u64>,
    pub prio: Option<u32>,
    /// Bytes. When the user gave none and rate/r2q falls outside HTB's sane range, `sema`
    /// fills in a clamped value (and warns), so emitters never need to compute one.
    pub quantum: Option<u64>,
    /// Bytes (HTB's `mtu`, used for rate tables; 18000 for jumbo frames).
    pub mtu: Option<u64>,
    /// The qdisc under a leaf (`None`: the kernel's default, a pfifo of txqueuelen packets).
    /// `sema` fills in `bfifo limit` = ceil x rtt for a leaf with an `rtt` and no `qdisc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qdisc: Option<qdisc::LeafQdisc>,
    /// Round-trip time of the path behind the class, microseconds (`rtt 80ms`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt: Option<u32>,
    /// Spans of the properties, for diagnostics that point at one of them.
    #[serde(skip)]
    pub spans: ClassSpans,
}

/// Where each property of a class was written (the class's own span when not written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassSpans {
    pub rate: Option<Span>,
    pub ceil: Option<Span>,
    pub prio: Option<Span>,
    pub classid: Option<Span>,
    pub quantum: Option<Span>,
    pub mtu: Option<Span>,
    pub burst: Option<Span>,
    pub cburst: Option<Span>,
    pub qdisc: Option<Span>,
    pub rtt: Option<Span>,
}

impl Interface {
    /// The children of class `idx` (or of the root qdisc for `None`), in order.
    pub fn children(&self, idx: Option<usize>) -> impl Iterator<Item = usize> + '_ {
        self.classes
            .iter()
            .enumerate()
            .filter(move |(_, c)| c.parent == idx)
            .map(|(i, _)| i)
    }

    /// Whether class `idx` has no children.
    pub fn is_leaf(&self, idx: usize) -> bool {
        !self.classes.iter().any(|c| c.parent == Some(idx))
    }

    /// For every class, whether it is a leaf (computed in one pass).
    pub fn leaves(&self) -> Vec<bool> {
        let mut leaf = vec![true; self.classes.len()];
        for c in &self.classes {
            if let Some(p) = c.parent {
                leaf[p] = false;
            }
        }
        leaf
    }

    /// Nesting depth of class `idx`: 1 for a class attached to the qdisc.
    pub fn depth(&self, idx: usize) -> usize {
        let mut d = 1;
        let mut cur = self.classes[idx].parent;
        while let Some(p) = cur {
            d += 1;
            cur = self.classes[p].parent;
        }
        d
    }

    /// `major:minor` in tc's hex notation, e.g. `1:1a`.
    pub fn classid(&self, idx: usize) -> String {
        format!("{:x}:{:x}", self.handle, self.classes[idx].minor)
    }

    /// How messages name class `c` of this interface: its name, or its classid (`1:10`) when
    /// it has none (a class read from a script without a name, see `Class::unnamed`).
    pub fn name_of(&self, c: &Class) -> String {
        if c.name == Class::unnamed(c.minor) {
            format!("{:x}:{:x}", self.handle, c.minor)
        } else {
            c.name.clone()
        }
    }
}

impl Class {
    /// The placeholder name of a class that has none (read from a script): `c` and its minor
    /// in hex, an identifier a `.shape` import can use. Messages show the classid instead
    /// (`Interface::name_of`).
    pub fn unnamed(minor: u16) -> String {
        format!("c{minor:x}")
    }
}

/// "Traffic matching `m` goes to class `class`."
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Filter {
    /// Index into `Interface::classes`.
    pub class: usize,
    pub m: Match,
    #[serde(skip)]
    pub span: Span,
}

/// A conjunction of criteria: a packet matches when every criterion holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Match {
    pub criteria: Vec<Criterion>,
}

/// One test on a packet, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Criterion {
    pub negated: bool,
    pub test: Test,
    #[serde(skip)]
    pub span: Span,
}

/// What a criterion tests. Lists inside one test are alternatives (any of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Test {
    /// IP protocol number (6 tcp, 17 udp, 1 icmp, 58 icmpv6, ...).
    Proto(u8),
    Src(Vec<IpNet>),
    Dst(Vec<IpNet>),
    Sport(Vec<PortRange>),
    Dport(Vec<PortRange>),
    /// DSCP code point, 0..=63.
    Dscp(u8),
    Mark {
        value: u32,
        mask: Option<u32>,
    },
    /// Packet length in bytes, inclusive.
    Length {
        min: u16,
        max: u16,
    },
}

/// An inclusive port range; a single port has `lo == hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

/// Which IP families a match applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Any,
    V4,
    V6,
}

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;

impl Match {
    /// The family this match applies to, from its addresses and protocol.
    /// `sema` rejects matches that mix families, so the first family found decides.
    pub fn family(&self) -> Family {
        for c in &self.criteria {
            match &c.test {
                Test::Src(nets) | Test::Dst(nets) => {
                    if let Some(n) = nets.first() {
                        return match n {
                            IpNet::V4(_) => Family::V4,
                            IpNet::V6(_) => Family::V6,
                        };
                    }
                }
                Test::Proto(PROTO_ICMP) if !c.negated => return Family::V4,
                Test::Proto(PROTO_ICMPV6) if !c.negated => return Family::V6,
                _ => {}
            }
        }
        Family::Any
    }

    /// The positive protocol test, if any (`tcp`, `udp`, `proto 47`).
    pub fn proto(&self) -> Option<u8> {
        self.criteria.iter().find_map(|c| match c.test {
            Test::Proto(p) if !c.negated => Some(p),
            _ => None,
        })
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}..{}", self.lo, self.hi)
        }
    }
}

/// DiffServ class names and their code points (RFC 2474, 2597, 3246).
pub fn dscp_by_name(name: &str) -> Option<u8> {
    let n = name.to_ascii_uppercase();
    match n.as_str() {
        "BE" | "CS0" | "DF" => Some(0),
        "EF" => Some(46),
        "VA" | "VOICE-ADMIT" => Some(44),
        _ => {
            if let Some(rest) = n.strip_prefix("CS") {
                let k: u8 = rest.parse().ok()?;
                (k <= 7).then_some(k * 8)
            } else if let Some(rest) = n.strip_prefix("AF") {
                let b = rest.as_bytes();
                if b.len() != 2 {
                    return None;
                }
                let (c, d) = (b[0].wrapping_sub(b'0'), b[1].wrapping_sub(b'0'));
                ((1..=4).contains(&c) && (1..=3).contains(&d)).then_some(c * 8 + d * 2)
            } else {
                None
            }
        }
    }
}

/// Linux interface names: 1..15 bytes, not `.`/`..`, no `/`, `:`, whitespace or control chars,
/// and not ending in `+` (iptables' `-o NAME+` is a wildcard for every name starting NAME).
/// (Also what keeps them safe in generated scripts.) The language (`sema`) and the script reader
/// (`explain`) both call this, so a name is accepted by one exactly when by the other.
pub fn check_ifname(name: &str, span: Span) -> Result<(), Diagnostic> {
    let problem = if name.is_empty() {
        Some("it is empty".to_string())
    } else if name.len() > 15 {
        Some(format!(
            "it is {} bytes long; Linux allows at most 15",
            name.len()
        ))
    } else if name == "." || name == ".." {
        Some("`.` and `..` are reserved".to_string())
    } else if name.ends_with('+') {
        Some(
            "iptables reads a name ending in `+` as a wildcard (`av+` also matches `av0`), so \
             tcc's rules would classify other interfaces' traffic"
                .to_string(),
        )
    } else {
        name.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '+')))
            .map(|c| format!("it contains {c:?}"))
    };
    match problem {
        None => Ok(()),
        Some(p) => Err(Diagnostic::new(crate::diagnostic::Code::BadInterfaceName, span, format!("`{}` is not a valid interface name", shorten(&name.escape_debug().to_string())))
            .label(p)
            .help("interface names are up to 15 characters from letters, digits, `-`, `_`, `.`, `@` and `+` (not last); rename the interface (`ip link set NAME name NEW`) if needed")),
    }
}

/// At most 40 characters of `s`, for quoting user text in a message.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

impl Criterion {
    /// The criterion as the language writes it: `tcp`, `src [10.0.0.0/8, 2001:db8::1]`,
    /// `!dport 80, 1024..2047`, `dscp !46`. The one place a plan's match becomes `.shape` text
    /// (`tcc explain --to shape`, the labels of `tcc graph`).
    pub fn to_source(&self) -> String {
        let not = if self.negated { "!" } else { "" };
        let net = |n: &IpNet| {
            if n.prefix_len() == n.max_prefix_len() {
                n.addr().to_string()
            } else {
                n.to_string()
            }
        };
        let list = |v: Vec<String>| {
            if v.len() == 1 {
                format!("{not}{}", v[0])
            } else {
                format!("{not}[{}]", v.join(", "))
            }
        };
        let ports = |ps: &[PortRange]| {
            ps.iter()
                .map(PortRange::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match &self.test {
            Test::Proto(PROTO_TCP) => format!("{not}tcp"),
            Test::Proto(PROTO_UDP) => format!("{not}udp"),
            Test::Proto(PROTO_ICMP) => format!("{not}icmp"),
            Test::Proto(PROTO_ICMPV6) => format!("{not}icmpv6"),
            Test::Proto(p) => format!("{not}proto {p}"),
            Test::Src(n) => format!("src {}", list(n.iter().map(net).collect())),
            Test::Dst(n) => format!("dst {}", list(n.iter().map(net).collect())),
            Test::Sport(p) => format!("{not}sport {}", ports(p)),
            Test::Dport(p) => format!("{not}dport {}", ports(p)),
            Test::Dscp(d) => format!("dscp {not}{d}"),
            Test::Mark { value, mask } => match mask {
                Some(m) => format!("mark {not}{value:#x}/{m:#x}"),
                None => format!("mark {not}{value:#x}"),
            },
            Test::Length { min, max } => format!("length {not}{min}..{max}"),
        }
    }
}

impl Match {
    /// The criteria as the language writes them, space-separated (empty for every packet).
    pub fn to_source(&self) -> String {
        let parts: Vec<String> = self.criteria.iter().map(Criterion::to_source).collect();
        parts.join(" ")
    }
}
