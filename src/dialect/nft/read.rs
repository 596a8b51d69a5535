//! Reading `nft add|insert rule FAMILY TABLE CHAIN ... meta priority set MAJOR:MINOR`: the
//! nftables way to CLASSIFY. Matches read: `oifname`/`oif`, `ip|ip6 saddr|daddr` (with `!=`
//! and `{ a, b }` sets), `tcp|udp sport|dport` (ports, ranges `a-b`, sets), `meta l4proto`,
//! `ip protocol`, `ip dscp`, `meta mark`, `meta length`. A rule that ends with `accept` or
//! `return` after setting the priority ends classification (a terminal rule). `nft -f FILE` is
//! reported, not followed.

use crate::diagnostic::Span;
use crate::dialect::iptables::read::{parse_net, Rule, Target};
use crate::dialect::sh::{Command, Word};
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
    let mut classes: Vec<(Vec<Criterion>, (bool, bool), Target)> = Vec::new();
    let mut terminal = false;
    let mut returns = false;
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
            ("ip" | "ip6", Some("length")) => {
                // nft's `ip6 length` is the payload length; the plan counts the 40-byte header.
                let extra = if k == "ip6" { 40 } else { 0 };
                i += 2;
                let (neg, v) = value(&mut i)?;
                let (a, b) = v[0].split_once('-').unwrap_or((&v[0], &v[0]));
                let (Ok(min), Ok(max)) = (a.parse::<u16>(), b.parse::<u16>()) else {
                    return Err((span, format!("`{}` is not a length", v[0])));
                };
                // No IPv6 packet is shorter than its header: a payload from 0 is a length
                // from 0, as written for both families.
                let lo = if min == 0 {
                    0
                } else {
                    min.saturating_add(extra)
                };
                crit.push(c(
                    neg,
                    Test::Length {
                        min: lo,
                        max: max.saturating_add(extra),
                    },
                ));
            }
            ("meta", Some("mark")) if w.get(i + 2) != Some(&"set") => {
                // `meta mark V` or `meta mark & M == V`.
                let mask = if w.get(i + 2) == Some(&"&") {
                    let m = w
                        .get(i + 3)
                        .and_then(|m| crate::dialect::tc_num(m))
                        .ok_or((span, "`meta mark &` needs a mask".to_string()))?;
                    i += 4;
                    Some(m)
                } else {
                    i += 2;
                    None
                };
                let (neg, v) = value(&mut i)?;
                let m = crate::dialect::tc_num(&v[0])
                    .ok_or((span, format!("`{}` is not a mark", v[0])))?;
                crit.push(c(neg, Test::Mark { value: m, mask }));
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
            ("meta", Some("nfproto")) => {
                i += 2;
                let (neg, v) = value(&mut i)?;
                let four = v.iter().any(|x| x == "ipv4");
                let six = v.iter().any(|x| x == "ipv6");
                if neg {
                    v4 &= !four;
                    v6 &= !six;
                } else {
                    v4 &= four;
                    v6 &= six;
                }
            }
            ("meta", Some("priority")) if w.get(i + 2) == Some(&"set") => {
                // `meta priority set KEY map { K : CLASS, ... }`: one rule per element, the key
                // a test (a packet whose key is not in the map gets no class from this rule).
                if let Some(m) = w.iter().skip(i + 3).position(|x| *x == "map") {
                    let key = &w[i + 3..i + 3 + m];
                    let close = w.iter().skip(i).position(|x| x.ends_with('}'));
                    let Some(close) = close.map(|c| c + i) else {
                        return Err((span, "a map without its closing `}`".into()));
                    };
                    let body = w[i + 4 + m..=close].join(" ");
                    let body = body.trim().trim_start_matches('{').trim_end_matches('}');
                    for el in body.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                        let (k, v) = el
                            .split_once(" : ")
                            .ok_or((span, format!("`{el}` is not a map element")))?;
                        let test = map_key(key, k.trim()).ok_or((
                            span,
                            format!("a map on `{}` is not followed", key.join(" ")),
                        ))?;
                        let (is_v4, is_v6) = match key.first() {
                            Some(&"ip") => (true, false),
                            Some(&"ip6") => (false, true),
                            _ => (true, true),
                        };
                        let idw = Word {
                            text: v.trim().to_string(),
                            span,
                        };
                        let id = crate::dialect::tc::read::parse_id(&idw)
                            .ok_or((span, format!("`{}` is not a class id", idw.text)))?;
                        let mut extra = test;
                        if let Some(p) = key_proto(key) {
                            extra.insert(0, Test::Proto(p));
                        }
                        classes.push((
                            extra.into_iter().map(|t| c(false, t)).collect(),
                            (is_v4, is_v6),
                            Target::Classify {
                                major: id.major,
                                minor: id.minor,
                                text: idw.text.clone(),
                                span,
                            },
                        ));
                    }
                    i = close + 1;
                    continue;
                }
                let v = cmd
                    .words
                    .get(i + 3)
                    .ok_or((span, "`meta priority set` needs a class".into()))?;
                let id = crate::dialect::tc::read::parse_id(v)
                    .ok_or((v.span, format!("`{}` is not a class id", v.text)))?;
                classes.push((
                    Vec::new(),
                    (true, true),
                    Target::Classify {
                        major: id.major,
                        minor: id.minor,
                        text: v.text.clone(),
                        span: v.span,
                    },
                ));
                i += 4;
            }
            ("accept" | "return", _) => {
                terminal = !classes.is_empty();
                returns = k == "return";
                i += 1;
            }
            ("counter", _) => i += 1,
            ("comment", _) => i += 2,
            _ => return Err((span, format!("nft expression `{k}` is not followed"))),
        }
    }
    if classes.is_empty() {
        // `oifname != "eth0" return`: ends the chain for what it matches.
        if returns {
            let rule = Rule {
                criteria: crit,
                out_if,
                target: Target::Return,
                span: cmd.span,
                comment: None,
                opaque: None,
                spec: String::new(),
            };
            return Ok(vec![(v4, v6, rule)]);
        }
        return Err((
            cmd.span,
            "an nft rule without `meta priority set` is not modelled".into(),
        ));
    }
    let mut out = Vec::new();
    for (extra, (f4, f6), target) in classes {
        let mut criteria = crit.clone();
        for e in extra {
            if !criteria.iter().any(|x| x.test == e.test && !x.negated) {
                criteria.push(e);
            }
        }
        let (r4, r6) = (v4 && f4, v6 && f6);
        if !(r4 || r6) {
            continue;
        }
        let rule = Rule {
            criteria: criteria.clone(),
            out_if: out_if.clone(),
            target,
            span: cmd.span,
            comment: None,
            opaque: None,
            spec: String::new(),
        };
        out.push((r4, r6, rule));
        if terminal {
            out.push((
                r4,
                r6,
                Rule {
                    criteria,
                    out_if: out_if.clone(),
                    target: Target::Return,
                    span: cmd.span,
                    comment: None,
                    opaque: None,
                    spec: String::new(),
                },
            ));
        }
    }
    Ok(out)
}

/// The layer-4 protocol a map key implies (`tcp dport` -> TCP).
fn key_proto(key: &[&str]) -> Option<u8> {
    match key.first() {
        Some(&"tcp") => Some(6),
        Some(&"udp") => Some(17),
        _ => None,
    }
}

/// The test a map element's key stands for: `tcp dport` 80, `ip daddr` 10.0.0.1...
fn map_key(key: &[&str], k: &str) -> Option<Vec<Test>> {
    let ports = || -> Option<Vec<PortRange>> {
        Some(vec![match k.split_once('-') {
            Some((a, b)) => PortRange {
                lo: a.parse().ok()?,
                hi: b.parse().ok()?,
            },
            None => {
                let p = k.parse().ok()?;
                PortRange { lo: p, hi: p }
            }
        }])
    };
    Some(vec![match key {
        ["tcp" | "udp", "dport"] => Test::Dport(ports()?),
        ["tcp" | "udp", "sport"] => Test::Sport(ports()?),
        ["ip" | "ip6", "daddr"] => Test::Dst(vec![parse_net(k)?]),
        ["ip" | "ip6", "saddr"] => Test::Src(vec![parse_net(k)?]),
        _ => return None,
    }])
}
