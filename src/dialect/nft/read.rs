//! Reading `nft add|insert rule FAMILY TABLE CHAIN ... meta priority set MAJOR:MINOR`: the
//! nftables way to CLASSIFY. Matches read: `oifname`/`oif`, `ip|ip6 saddr|daddr` (with `!=`
//! and `{ a, b }` sets), `tcp|udp sport|dport` (ports, ranges `a-b`, sets), `meta l4proto`,
//! `ip protocol`, `ip dscp`, `meta mark`, `meta length`. A rule that ends with `accept` or
//! `return` after setting the priority ends classification (a terminal rule). `nft -f FILE` is
//! reported, not followed.

use crate::diagnostic::Span;
use crate::dialect::iptables::read::{parse_net, Rule, Target};
use crate::dialect::sh::Command;
use crate::plan::{Criterion, PortRange, Test};

type Err = (Span, String);

/// The rules one `nft` command adds, each with whether it applies to IPv4 and to IPv6.
/// A terminal rule comes with its `RETURN` companion.
pub fn parse(cmd: &Command) -> Result<Vec<(bool, bool, Rule)>, Err> {
    let w: Vec<&str> = cmd.words.iter().map(|w| w.text.as_str()).collect();
    let sp = |k: usize| cmd.words.get(k).map(|w| w.span).unwrap_or(cmd.span);
    let mut i = 1;
    while i < w.len() && w[i].starts_with('-') {
        if w[i] == "-f" || w[i] == "--file" {
            return Err((
                cmd.span,
                "`nft -f` reads another file, which is not followed".into(),
            ));
        }
        i += 1;
    }
    match (w.get(i), w.get(i + 1)) {
        (Some(&"add") | Some(&"insert"), Some(&"rule")) => {}
        (Some(&"add") | Some(&"create") | Some(&"flush") | Some(&"delete") | Some(&"list"), _) => {
            return Ok(vec![])
        }
        _ => return Err((cmd.span, "this `nft` command is not followed".into())),
    }
    i += 2;
    let family = *w
        .get(i)
        .ok_or((cmd.span, "`nft add rule` without a table".into()))?;
    let (v4, v6, skip) = match family {
        "ip" => (true, false, 1),
        "ip6" => (false, true, 1),
        "inet" => (true, true, 1),
        "bridge" | "arp" | "netdev" => {
            return Err((sp(i), format!("nft family `{family}` is not modelled")))
        }
        _ => (true, true, 0), // the family is optional (ip)
    };
    let (mut v4, mut v6) = if skip == 0 { (true, false) } else { (v4, v6) };
    i += skip + 2; // table, chain
    let mut crit: Vec<Criterion> = Vec::new();
    let mut out_if = None;
    let mut class = None;
    let mut terminal = false;
    while i < w.len() {
        let k = w[i];
        let start = i;
        // `!=` after the selector.
        let value = |i: &mut usize| -> Result<(bool, Vec<String>), Err> {
            let mut neg = false;
            if w.get(*i) == Some(&"!=") {
                neg = true;
                *i += 1;
            } else if w.get(*i) == Some(&"==") {
                *i += 1;
            }
            let first = *w.get(*i).ok_or((sp(*i - 1), "missing value".to_string()))?;
            *i += 1;
            if first.starts_with('{') {
                let mut all = first.to_string();
                while !all.contains('}') && *i < w.len() {
                    all.push(' ');
                    all.push_str(w[*i]);
                    *i += 1;
                }
                let items = all
                    .trim_matches(|c| c == '{' || c == '}')
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                return Ok((neg, items));
            }
            Ok((neg, vec![first.to_string()]))
        };
        let span = sp(start);
        let c = |neg: bool, test: Test| Criterion {
            negated: neg,
            test,
            span,
        };
        // An `ip ...` selector matches IPv4 packets only, an `ip6 ...` one IPv6 packets only,
        // whatever the table's family.
        match (k, w.get(i + 1).copied()) {
            ("ip", Some(_)) => v6 = false,
            ("ip6", Some(_)) => v4 = false,
            _ => {}
        }
        match (k, w.get(i + 1).copied()) {
            ("oifname" | "oif", _) => {
                i += 1;
                let (neg, v) = value(&mut i)?;
                out_if = Some((v.join(",").trim_matches('"').to_string(), neg));
            }
            ("ip" | "ip6", Some("saddr" | "daddr")) => {
                let dir = w[i + 1];
                i += 2;
                let (neg, v) = value(&mut i)?;
                let nets: Option<Vec<_>> = v.iter().map(|s| parse_net(s)).collect();
                let nets = nets.ok_or((span, format!("`{}` is not an address", v.join(","))))?;
                crit.push(c(
                    neg,
                    if dir == "saddr" {
                        Test::Src(nets)
                    } else {
                        Test::Dst(nets)
                    },
                ));
            }
            ("tcp" | "udp", Some("sport" | "dport")) => {
                let dir = w[i + 1];
                let p = if k == "tcp" { 6 } else { 17 };
                if !crit.iter().any(|x| x.test == Test::Proto(p)) {
                    crit.push(c(false, Test::Proto(p)));
                }
                i += 2;
                let (neg, v) = value(&mut i)?;
                let ports: Option<Vec<PortRange>> = v
                    .iter()
                    .map(|s| match s.split_once('-') {
                        Some((a, b)) => Some(PortRange {
                            lo: a.parse().ok()?,
                            hi: b.parse().ok()?,
                        }),
                        None => s.parse().ok().map(|x| PortRange { lo: x, hi: x }),
                    })
                    .collect();
                let ports = ports.ok_or((span, format!("`{}` is not a port list", v.join(","))))?;
                crit.push(c(
                    neg,
                    if dir == "sport" {
                        Test::Sport(ports)
                    } else {
                        Test::Dport(ports)
                    },
                ));
            }
            ("meta", Some("l4proto")) | ("ip", Some("protocol")) | ("ip6", Some("nexthdr")) => {
                i += 2;
                let (neg, v) = value(&mut i)?;
                let p = match v[0].as_str() {
                    "tcp" => 6,
                    "udp" => 17,
                    "icmp" => 1,
                    "icmpv6" | "ipv6-icmp" => 58,
                    n => n
                        .parse()
                        .map_err(|_| (span, format!("unknown protocol `{n}`")))?,
                };
                crit.push(c(neg, Test::Proto(p)));
            }
            ("ip" | "ip6", Some("dscp")) => {
                i += 2;
                let (neg, v) = value(&mut i)?;
                let d = crate::plan::dscp_by_name(&v[0])
                    .or_else(|| {
                        crate::dialect::tc_num(&v[0])
                            .filter(|d| *d < 64)
                            .map(|d| d as u8)
                    })
                    .ok_or((span, format!("`{}` is not a DSCP value", v[0])))?;
                crit.push(c(neg, Test::Dscp(d)));
            }
            ("meta", Some("mark")) if w.get(i + 2) != Some(&"set") => {
                i += 2;
                let (neg, v) = value(&mut i)?;
                let m = crate::dialect::tc_num(&v[0])
                    .ok_or((span, format!("`{}` is not a mark", v[0])))?;
                crit.push(c(
                    neg,
                    Test::Mark {
                        value: m,
                        mask: None,
                    },
                ));
            }
            ("meta", Some("length")) => {
                i += 2;
                let (neg, v) = value(&mut i)?;
                let (a, b) = v[0].split_once('-').unwrap_or((&v[0], &v[0]));
                let (Ok(min), Ok(max)) = (a.parse(), b.parse()) else {
                    return Err((span, format!("`{}` is not a length", v[0])));
                };
                crit.push(c(neg, Test::Length { min, max }));
            }
            ("meta", Some("priority")) if w.get(i + 2) == Some(&"set") => {
                let v = cmd
                    .words
                    .get(i + 3)
                    .ok_or((span, "`meta priority set` needs a class".into()))?;
                let id = crate::dialect::tc::read::parse_id(v)
                    .ok_or((v.span, format!("`{}` is not a class id", v.text)))?;
                class = Some(Target::Classify {
                    major: id.major,
                    minor: id.minor,
                    text: v.text.clone(),
                    span: v.span,
                });
                i += 4;
            }
            ("accept" | "return", _) => {
                terminal = class.is_some();
                i += 1;
            }
            ("counter", _) => i += 1,
            ("comment", _) => i += 2,
            _ => return Err((span, format!("nft expression `{k}` is not followed"))),
        }
    }
    let Some(target) = class else {
        return Err((
            cmd.span,
            "an nft rule without `meta priority set` is not modelled".into(),
        ));
    };
    let rule = Rule {
        criteria: crit.clone(),
        out_if: out_if.clone(),
        target,
        span: cmd.span,
        comment: None,
        opaque: None,
        spec: String::new(),
    };
    let mut out = vec![(v4, v6, rule)];
    if terminal {
        out.push((
            v4,
            v6,
            Rule {
                criteria: crit,
                out_if,
                target: Target::Return,
                span: cmd.span,
                comment: None,
                opaque: None,
                spec: String::new(),
            },
        ));
    }
    Ok(out)
}
