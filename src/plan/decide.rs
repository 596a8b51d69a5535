//! Which class a packet reaches: the one evaluation of an interface's classification, beside
//! the plan. It is the specification every backend is tested against (the kernel property test
//! sends packets and compares the class whose counter moves with `decide`), what `expect`
//! statements are checked with (`sema::check`), and what `explain::equiv` compares filter lists
//! by.
//!
//! Semantics: the filters are tried in order and the first whose match holds wins; a match
//! holds when the packet's family is the match's (`Match::family`: a filter on IPv6 addresses
//! never sees an IPv4 packet, even through a negation, as the backends install it for IPv6
//! only) and every criterion holds. When no filter matches, the interface's default class takes
//! the packet; without a default the packet stays unclassified.

use super::{Criterion, Family, Interface, Match, PortRange, Test, PROTO_ICMPV6};
use ipnet::IpNet;
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One packet as the classifiers see it. `len` is the IP packet's total length in bytes (what
/// iptables `-m length`, nft `meta length` and the u32 selectors compare).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Packet {
    pub proto: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub dscp: u8,
    pub mark: u32,
    pub len: u16,
}

impl Packet {
    /// The packet's family, from its source address.
    pub fn family(&self) -> Family {
        match self.src {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// A packet with only a protocol: the family's unspecified addresses (`0.0.0.0`, `::`),
    /// port 0, DSCP 0, mark 0, and the length of the bare headers (IP plus TCP or UDP).
    pub fn blank(family: Family, proto: u8) -> Packet {
        let v6 = family == Family::V6 || (family == Family::Any && proto == PROTO_ICMPV6);
        let unspec = if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        let ip = if v6 { 40 } else { 20 };
        let l4 = match proto {
            super::PROTO_TCP => 20,
            super::PROTO_UDP => 8,
            _ => 0,
        };
        Packet {
            proto,
            src: unspec,
            dst: unspec,
            sport: 0,
            dport: 0,
            dscp: 0,
            mark: 0,
            len: ip + l4,
        }
    }

    /// The packet as the language writes it in an `expect` line: every field that differs from
    /// `Packet::blank` (addresses always when given).
    pub fn to_source(&self) -> String {
        let mut out = vec![match self.proto {
            super::PROTO_TCP => "tcp".to_string(),
            super::PROTO_UDP => "udp".to_string(),
            super::PROTO_ICMP => "icmp".to_string(),
            PROTO_ICMPV6 => "icmpv6".to_string(),
            p => format!("proto {p}"),
        }];
        let blank = Packet::blank(self.family(), self.proto);
        if !self.src.is_unspecified() {
            out.push(format!("src {}", self.src));
        }
        if !self.dst.is_unspecified() {
            out.push(format!("dst {}", self.dst));
        }
        if self.sport != 0 {
            out.push(format!("sport {}", self.sport));
        }
        if self.dport != 0 {
            out.push(format!("dport {}", self.dport));
        }
        if self.dscp != 0 {
            out.push(format!("dscp {}", self.dscp));
        }
        if self.mark != 0 {
            out.push(format!("mark {:#x}", self.mark));
        }
        if self.len != blank.len {
            out.push(format!("length {}", self.len));
        }
        out.join(" ")
    }
}

/// Where a packet goes on one interface: the class (index into `Interface::classes`), and the
/// filter (index into `Interface::filters`) that decided it; `filter: None` means no filter
/// matched and the default class (if any) took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub class: Option<usize>,
    pub filter: Option<usize>,
}

/// Whether one criterion holds for `p` (negation applied).
pub fn holds(c: &Criterion, p: &Packet) -> bool {
    let in_nets = |ns: &[IpNet], a: &IpAddr| ns.iter().any(|n| n.contains(a));
    let in_ports = |rs: &[PortRange], x: u16| rs.iter().any(|r| r.lo <= x && x <= r.hi);
    let v = match &c.test {
        Test::Proto(x) => p.proto == *x,
        Test::Src(n) => in_nets(n, &p.src),
        Test::Dst(n) => in_nets(n, &p.dst),
        Test::Sport(r) => in_ports(r, p.sport),
        Test::Dport(r) => in_ports(r, p.dport),
        Test::Dscp(d) => p.dscp == *d,
        Test::Mark { value, mask } => {
            let m = mask.unwrap_or(u32::MAX);
            p.mark & m == value & m
        }
        Test::Length { min, max } => *min <= p.len && p.len <= *max,
    };
    v != c.negated
}

/// Whether `m` holds for `p`: the families agree and every criterion holds.
pub fn matches(m: &Match, p: &Packet) -> bool {
    let fam_ok = match m.family() {
        Family::Any => true,
        f => f == p.family(),
    };
    fam_ok && m.criteria.iter().all(|c| holds(c, p))
}

/// The class (by any key) of the first filter that matches, if any (a linear scan).
pub fn classify<K: Copy>(filters: &[(K, &Match)], p: &Packet) -> Option<K> {
    filters.iter().find(|(_, m)| matches(m, p)).map(|(k, _)| *k)
}

/// Where `p` goes on `iface`: first match wins, else the default class, else nowhere.
pub fn decide(iface: &Interface, p: &Packet) -> Decision {
    match iface.filters.iter().position(|f| matches(&f.m, p)) {
        Some(i) => Decision {
            class: Some(iface.filters[i].class),
            filter: Some(i),
        },
        None => Decision {
            class: iface.default,
            filter: None,
        },
    }
}

/// One `expect` line checked: where its packet goes, the class it should go to, and whether
/// they agree (what `sema` reports as E0401 when they do not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome<'a> {
    pub expectation: &'a super::Expectation,
    pub decision: Decision,
    /// The class the expectation names (`None`: unclassified).
    pub wanted: Option<usize>,
}

impl Outcome<'_> {
    pub fn passed(&self) -> bool {
        self.decision.class == self.wanted
    }
}

/// Every expectation of `iface` with its outcome, in source order.
pub fn outcomes(iface: &Interface) -> Vec<Outcome<'_>> {
    iface
        .expectations
        .iter()
        .map(|e| Outcome {
            expectation: e,
            decision: decide(iface, &e.packet),
            wanted: match e.class {
                super::Expected::Class(c) => Some(c),
                super::Expected::Default => iface.default,
                super::Expected::Unclassified => None,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Class, ClassSpans, Filter, PROTO_TCP, PROTO_UDP};

    fn crit(negated: bool, test: Test) -> Criterion {
        Criterion {
            negated,
            test,
            span: Default::default(),
        }
    }

    fn iface(filters: Vec<(usize, Vec<Criterion>)>, default: Option<usize>) -> Interface {
        let class = |name: &str, minor| Class {
            name: name.into(),
            span: Default::default(),
            minor,
            explicit_id: false,
            parent: None,
            rate: 1000,
            ceil: 1000,
            burst: None,
            cburst: None,
            prio: None,
            quantum: None,
            mtu: None,
            qdisc: None,
            rtt: None,
            spans: ClassSpans::default(),
        };
        Interface {
            name: "eth0".into(),
            span: Default::default(),
            handle: 1,
            r2q: 10,
            default,
            classes: vec![class("a", 0x10), class("b", 0x11), class("c", 0x12)],
            filters: filters
                .into_iter()
                .map(|(class, criteria)| Filter {
                    class,
                    m: Match { criteria },
                    span: Default::default(),
                })
                .collect(),
            expectations: vec![],
            ingress: None,
        }
    }

    fn tcp(dst: &str, dport: u16) -> Packet {
        Packet {
            dst: dst.parse().unwrap(),
            src: "10.0.0.1".parse().unwrap(),
            dport,
            ..Packet::blank(Family::V4, PROTO_TCP)
        }
    }

    #[test]
    fn first_match_wins_then_default_then_nothing() {
        let ports = Test::Dport(vec![PortRange { lo: 80, hi: 90 }]);
        let i = iface(
            vec![
                (
                    0,
                    vec![crit(false, Test::Proto(PROTO_TCP)), crit(false, ports)],
                ),
                (1, vec![crit(false, Test::Proto(PROTO_TCP))]),
            ],
            Some(2),
        );
        let d = |p: &Packet| decide(&i, p);
        assert_eq!(
            d(&tcp("1.2.3.4", 85)),
            Decision {
                class: Some(0),
                filter: Some(0)
            }
        );
        assert_eq!(
            d(&tcp("1.2.3.4", 91)),
            Decision {
                class: Some(1),
                filter: Some(1)
            }
        );
        let udp = Packet {
            proto: PROTO_UDP,
            ..tcp("1.2.3.4", 85)
        };
        assert_eq!(
            d(&udp),
            Decision {
                class: Some(2),
                filter: None
            }
        );
        let mut none = i.clone();
        none.default = None;
        assert_eq!(
            decide(&none, &udp),
            Decision {
                class: None,
                filter: None
            }
        );
    }

    #[test]
    fn a_negated_v6_address_never_matches_an_ipv4_packet() {
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        let i = iface(vec![(0, vec![crit(true, Test::Dst(vec![v6]))])], Some(1));
        assert_eq!(decide(&i, &tcp("1.2.3.4", 80)).class, Some(1));
        let p6 = Packet {
            src: "fd00::1".parse().unwrap(),
            dst: "fd00::2".parse().unwrap(),
            ..Packet::blank(Family::V6, PROTO_TCP)
        };
        assert_eq!(decide(&i, &p6).class, Some(0));
    }

    #[test]
    fn blank_packets_and_their_source_text() {
        assert_eq!(Packet::blank(Family::V4, PROTO_TCP).len, 40);
        assert_eq!(Packet::blank(Family::Any, PROTO_ICMPV6).len, 40);
        assert_eq!(Packet::blank(Family::V6, PROTO_UDP).len, 48);
        assert_eq!(
            tcp("1.2.3.4", 80).to_source(),
            "tcp src 10.0.0.1 dst 1.2.3.4 dport 80"
        );
    }
}
