//! Reading `iptables`/`ip6tables` commands in long and short forms, with `!` before an option
//! (`! -d NET`), after it (`--dport ! 80`) or glued to the value (`--destination !NET`, as the
//! reference guide writes it), and the match modules the guide lists.

use crate::diagnostic::Span;
use crate::dialect::sh::{Command, Word};
use crate::plan::{Criterion, PortRange, Test};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Append(String),
    Insert(String, usize),
    /// Delete by rule specification.
    Delete(String),
    DeleteNum(String, usize),
    Flush(Option<String>),
    DeleteChain(Option<String>),
    New(String),
    Rename(String, String),
    /// Listing, checking, policy, counters: nothing for the plan.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Classify {
        major: u16,
        minor: u16,
        text: String,
        span: Span,
    },
    Return,
    Jump(String),
    /// MARK, DSCP, ACCEPT...: not a classification.
    Other(String),
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub criteria: Vec<Criterion>,
    /// `-o DEV` (`None`: any interface); negated when `! -o`.
    pub out_if: Option<(String, bool)>,
    pub target: Target,
    pub span: Span,
    /// `--comment` text.
    pub comment: Option<String>,
    /// A criterion the plan cannot hold (owner, state, fragment...): the rule is kept as a note.
    pub opaque: Option<(Span, String)>,
    /// The rule spec as written (after the chain), for comparing `-D` specs.
    pub spec: String,
}

#[derive(Debug, Clone)]
pub struct IptCmd {
    pub v6: bool,
    pub table: String,
    pub op: Op,
    pub rule: Option<Rule>,
    /// Negations written after the option (`--dport ! 80`, `--destination !NET`), which
    /// iptables 1.8 refuses (measured: 1.8.9).
    pub glued_negation: Vec<Span>,
}

type Err = (Span, String);

fn proto_num(p: &str) -> Option<Option<u8>> {
    Some(match p.to_ascii_lowercase().as_str() {
        "all" | "0" => None,
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(1),
        "ipv6-icmp" | "icmpv6" | "icmp6" => Some(58),
        "gre" => Some(47),
        "esp" => Some(50),
        "ah" => Some(51),
        "sctp" => Some(132),
        "udplite" => Some(136),
        n => Some(n.parse().ok()?),
    })
}

fn port_num(p: &str) -> Option<u16> {
    Some(match p {
        "ftp-data" => 20,
        "ftp" => 21,
        "ssh" => 22,
        "telnet" => 23,
        "smtp" => 25,
        "domain" => 53,
        "http" | "www" => 80,
        "pop3" => 110,
        "ntp" => 123,
        "imap" | "imap2" => 143,
        "https" => 443,
        _ => p.parse().ok()?,
    })
}

fn port_range(p: &str) -> Option<PortRange> {
    match p.split_once(':') {
        Some((a, b)) => Some(PortRange {
            lo: if a.is_empty() { 0 } else { port_num(a)? },
            hi: if b.is_empty() { 65535 } else { port_num(b)? },
        }),
        None => {
            let x = port_num(p)?;
            Some(PortRange { lo: x, hi: x })
        }
    }
}

/// `1.2.3.4`, `10.0.0.0/8`, `10.0.0.0/255.0.0.0`, IPv6 likewise.
pub fn parse_net(s: &str) -> Option<IpNet> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n);
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some(IpNet::from(a));
    }
    let (a, m) = s.split_once('/')?;
    let a: std::net::Ipv4Addr = a.parse().ok()?;
    let m: std::net::Ipv4Addr = m.parse().ok()?;
    let len = u32::from(m).leading_ones() as u8;
    (u32::from(m).count_ones() as u8 == len)
        .then(|| Ipv4Net::new(a, len).ok().map(IpNet::V4))
        .flatten()
}

/// The CIDR blocks covering an inclusive address range.
pub fn range_nets(lo: IpAddr, hi: IpAddr) -> Option<Vec<IpNet>> {
    match (lo, hi) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let (mut a, b) = (u32::from(a) as u64, u32::from(b) as u64);
            let mut out = Vec::new();
            while a <= b {
                let mut size: u64 = if a == 0 {
                    1 << 32
                } else {
                    a & a.wrapping_neg()
                };
                while a + size - 1 > b {
                    size >>= 1;
                }
                let len = 32 - size.trailing_zeros() as u8;
                out.push(IpNet::V4(Ipv4Net::new((a as u32).into(), len).ok()?));
                a += size;
                if out.len() > 64 {
                    return None;
                }
            }
            Some(out)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (mut a, b) = (u128::from(a), u128::from(b));
            let mut out = Vec::new();
            loop {
                let mut size_log = if a == 0 { 128 } else { a.trailing_zeros() };
                while size_log > 0 && (size_log == 128 || a + ((1u128 << size_log) - 1) > b) {
                    size_log -= 1;
                }
                out.push(IpNet::V6(
                    Ipv6Net::new(a.into(), 128 - size_log as u8).ok()?,
                ));
                let size = 1u128.checked_shl(size_log)?;
                match a.checked_add(size) {
                    Some(n) if n <= b => a = n,
                    _ => break,
                }
                if out.len() > 64 {
                    return None;
                }
            }
            Some(out)
        }
        _ => None,
    }
}

pub fn parse(cmd: &Command) -> Result<IptCmd, Err> {
    let w = &cmd.words;
    let tool = w[0].text.rsplit('/').next().unwrap_or("");
    let v6 = tool.starts_with("ip6tables");
    let mut c = IptCmd {
        v6,
        table: "filter".into(),
        op: Op::Other,
        rule: None,
        glued_negation: Vec::new(),
    };
    let glued = std::cell::RefCell::new(Vec::new());
    let mut rule = Rule {
        criteria: Vec::new(),
        out_if: None,
        target: Target::Other(String::new()),
        span: cmd.span,
        comment: None,
        opaque: None,
        spec: String::new(),
    };
    let mut has_target = false;
    let mut spec: Vec<String> = Vec::new();
    let mut neg = false;
    let mut i = 1;
    let val = |i: usize| -> Result<&Word, Err> {
        w.get(i)
            .ok_or((w[i - 1].span, format!("`{}` needs a value", w[i - 1].text)))
    };
    while i < w.len() {
        let k = w[i].text.as_str();
        let span = w[i].span;
        if k == "!" {
            neg = true;
            spec.push("!".into());
            i += 1;
            continue;
        }
        let start = i;
        // `--opt ! value` (old style) and `--opt !value` (the guide's style).
        let take = |i: &mut usize| -> Result<(String, bool, Span), Err> {
            let mut v = val(*i + 1)?;
            let mut n = false;
            *i += 2;
            if v.text == "!" {
                glued.borrow_mut().push(v.span);
                n = true;
                v = val(*i)?;
                *i += 1;
            }
            let t = match v.text.strip_prefix('!') {
                Some(rest) if !rest.is_empty() => {
                    glued.borrow_mut().push(v.span);
                    n = true;
                    rest.to_string()
                }
                _ => v.text.clone(),
            };
            Ok((t, n, v.span))
        };
        let is_cmd = matches!(
            k,
            "-A" | "--append"
                | "-I"
                | "--insert"
                | "-D"
                | "--delete"
                | "-F"
                | "--flush"
                | "-X"
                | "--delete-chain"
                | "-N"
                | "--new-chain"
                | "-E"
                | "--rename-chain"
                | "-t"
                | "--table"
                | "-L"
                | "--list"
                | "-S"
                | "--list-rules"
                | "-P"
                | "--policy"
                | "-Z"
                | "--zero"
                | "-C"
                | "--check"
                | "-w"
                | "--wait"
                | "-v"
                | "--verbose"
                | "-n"
                | "--numeric"
                | "--line-numbers"
                | "-x"
                | "--exact"
        );
        if is_cmd {
            let opt_word = |j: usize| {
                w.get(j)
                    .filter(|x| !x.text.starts_with('-') && x.text != "!")
                    .map(|x| x.text.clone())
            };
            match k {
                "-t" | "--table" => {
                    c.table = val(i + 1)?.text.clone();
                    i += 2;
                }
                "-A" | "--append" => {
                    c.op = Op::Append(val(i + 1)?.text.clone());
                    i += 2;
                }
                "-C" | "--check" => {
                    c.op = Op::Other;
                    i += 2;
                }
                "-I" | "--insert" => {
                    let chain = val(i + 1)?.text.clone();
                    i += 2;
                    let n = w.get(i).and_then(|x| x.text.parse::<usize>().ok());
                    if n.is_some() {
                        i += 1;
                    }
                    c.op = Op::Insert(chain, n.unwrap_or(1));
                }
                "-D" | "--delete" => {
                    let chain = val(i + 1)?.text.clone();
                    i += 2;
                    match w.get(i).and_then(|x| x.text.parse::<usize>().ok()) {
                        Some(n) => {
                            i += 1;
                            c.op = Op::DeleteNum(chain, n);
                        }
                        None => c.op = Op::Delete(chain),
                    }
                }
                "-F" | "--flush" => {
                    c.op = Op::Flush(opt_word(i + 1));
                    i += if opt_word(i + 1).is_some() { 2 } else { 1 };
                }
                "-X" | "--delete-chain" => {
                    c.op = Op::DeleteChain(opt_word(i + 1));
                    i += if opt_word(i + 1).is_some() { 2 } else { 1 };
                }
                "-N" | "--new-chain" => {
                    c.op = Op::New(val(i + 1)?.text.clone());
                    i += 2;
                }
                "-E" | "--rename-chain" => {
                    c.op = Op::Rename(val(i + 1)?.text.clone(), val(i + 2)?.text.clone());
                    i += 3;
                }
                "-w" | "--wait" => {
                    i += 1;
                    if w.get(i).is_some_and(|x| x.text.parse::<u32>().is_ok()) {
                        i += 1;
                    }
                }
                "-v" | "--verbose" | "-n" | "--numeric" | "--line-numbers" | "-x" | "--exact" => {
                    i += 1
                }
                _ => {
                    c.op = Op::Other;
                    return Ok(c);
                }
            }
            continue;
        }
        let crit = |negated: bool, test: Test, span: Span| Criterion {
            negated,
            test,
            span,
        };
        match k {
            "-p" | "--protocol" | "--proto" => {
                let (v, n, vs) = take(&mut i)?;
                let p = proto_num(&v).ok_or((vs, format!("unknown protocol `{v}`")))?;
                if let Some(p) = p {
                    rule.criteria.push(crit(
                        neg || n,
                        Test::Proto(p),
                        Span::new(span.file, span.start, vs.end),
                    ));
                }
            }
            "-s" | "--source" | "--src" | "-d" | "--destination" | "--dst" => {
                let (v, n, vs) = take(&mut i)?;
                let nets: Option<Vec<IpNet>> = v.split(',').map(parse_net).collect();
                let nets = nets.ok_or((
                    vs,
                    format!("`{v}` is not an address tcc can read (host names are not resolved)"),
                ))?;
                let sp = Span::new(span.file, span.start, vs.end);
                let src = matches!(k, "-s" | "--source" | "--src");
                let t = if src {
                    Test::Src(nets)
                } else {
                    Test::Dst(nets)
                };
                rule.criteria.push(crit(neg || n, t, sp));
            }
            "--src-range" | "--dst-range" => {
                let (v, n, vs) = take(&mut i)?;
                let bad = || (vs, format!("`{v}` is not an address range"));
                let (a, b) = v.split_once('-').ok_or_else(bad)?;
                let nets = range_nets(a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?)
                    .ok_or_else(bad)?;
                let sp = Span::new(span.file, span.start, vs.end);
                let t = if k == "--src-range" {
                    Test::Src(nets)
                } else {
                    Test::Dst(nets)
                };
                rule.criteria.push(crit(neg || n, t, sp));
            }
            "-o" | "--out-interface" => {
                let (v, n, _) = take(&mut i)?;
                rule.out_if = Some((v, neg || n));
            }
            "-i" | "--in-interface" => {
                let (v, _, vs) = take(&mut i)?;
                rule.opaque = Some((
                    Span::new(span.file, span.start, vs.end),
                    format!("the input interface `{v}`"),
                ));
            }
            "-m" | "--match" => {
                take(&mut i)?;
            }
            "--sport"
            | "--source-port"
            | "--dport"
            | "--destination-port"
            | "--sports"
            | "--source-ports"
            | "--dports"
            | "--destination-ports" => {
                let (v, n, vs) = take(&mut i)?;
                let ports: Option<Vec<PortRange>> = v.split(',').map(port_range).collect();
                let ports = ports.ok_or((vs, format!("`{v}` is not a port list")))?;
                let sp = Span::new(span.file, span.start, vs.end);
                let t = if k.contains("sport") || k.contains("source") {
                    Test::Sport(ports)
                } else {
                    Test::Dport(ports)
                };
                rule.criteria.push(crit(neg || n, t, sp));
            }
            "--ports" => {
                let (_, _, vs) = take(&mut i)?;
                rule.opaque = Some((
                    Span::new(span.file, span.start, vs.end),
                    "`--ports` (source OR destination port)".into(),
                ));
            }
            "--dscp" | "--dscp-class" => {
                let (v, n, vs) = take(&mut i)?;
                let d = if k == "--dscp" {
                    crate::dialect::tc_num(&v)
                        .filter(|d| *d < 64)
                        .map(|d| d as u8)
                } else {
                    crate::plan::dscp_by_name(&v)
                };
                let d = d.ok_or((vs, format!("`{v}` is not a DSCP value")))?;
                rule.criteria.push(crit(
                    neg || n,
                    Test::Dscp(d),
                    Span::new(span.file, span.start, vs.end),
                ));
            }
            "--tos" => {
                let (v, n, vs) = take(&mut i)?;
                let (val, mask) = match v.split_once('/') {
                    Some((a, b)) => (crate::dialect::tc_num(a), crate::dialect::tc_num(b)),
                    None => (crate::dialect::tc_num(&v), Some(0xff)),
                };
                let sp = Span::new(span.file, span.start, vs.end);
                match (val, mask) {
                    (Some(t), Some(m)) if m & 0xfc == 0xfc && t & 3 == 0 && m <= 0xff => {
                        rule.criteria
                            .push(crit(neg || n, Test::Dscp((t >> 2) as u8), sp));
                    }
                    _ => rule.opaque = Some((sp, format!("the TOS test `--tos {v}`"))),
                }
            }
            "--length" => {
                let (v, n, vs) = take(&mut i)?;
                let r = port_range(&v).ok_or((vs, format!("`{v}` is not a length range")))?;
                rule.criteria.push(crit(
                    neg || n,
                    Test::Length {
                        min: r.lo,
                        max: r.hi,
                    },
                    Span::new(span.file, span.start, vs.end),
                ));
            }
            "--mark" => {
                let (v, n, vs) = take(&mut i)?;
                let (a, m) = match v.split_once('/') {
                    Some((a, b)) => (
                        crate::dialect::tc_num(a),
                        crate::dialect::tc_num(b).map(Some),
                    ),
                    None => (crate::dialect::tc_num(&v), Some(None)),
                };
                let (Some(value), Some(mask)) = (a, m) else {
                    return Err((vs, format!("`{v}` is not a mark")));
                };
                rule.criteria.push(crit(
                    neg || n,
                    Test::Mark { value, mask },
                    Span::new(span.file, span.start, vs.end),
                ));
            }
            "--comment" => {
                let (v, _, _) = take(&mut i)?;
                rule.comment = Some(v);
            }
            "--uid-owner" | "--gid-owner" | "--state" | "--ctstate" | "--icmp-type"
            | "--tcp-flags" | "--syn" | "-f" | "--fragment" | "--pkt-type" | "--limit"
            | "--connbytes" | "--string" | "--socket-exists" | "--match-set" => {
                let sp = span;
                let what = k.to_string();
                i += 1;
                // Skip the option's values.
                while i < w.len() && !w[i].text.starts_with('-') && w[i].text != "!" {
                    i += 1;
                }
                rule.opaque = Some((sp, format!("the match `{what}`")));
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                let (v, _, vs) = take(&mut i)?;
                has_target = true;
                rule.target = match v.as_str() {
                    "CLASSIFY" => Target::Other("CLASSIFY".into()),
                    "RETURN" => Target::Return,
                    t if t
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) =>
                    {
                        Target::Other(t.to_string())
                    }
                    t => Target::Jump(t.to_string()),
                };
                let _ = vs;
            }
            "--set-class" => {
                let v = val(i + 1)?;
                let id = crate::dialect::tc::read::parse_id(v)
                    .ok_or((v.span, format!("`{}` is not a class id", v.text)))?;
                rule.target = Target::Classify {
                    major: id.major,
                    minor: id.minor,
                    text: v.text.clone(),
                    span: v.span,
                };
                i += 2;
            }
            _ => {
                if k.starts_with('-') {
                    // An option of a target or module we do not model: keep going, note it.
                    let sp = span;
                    i += 1;
                    while i < w.len() && !w[i].text.starts_with('-') && w[i].text != "!" {
                        i += 1;
                    }
                    if !matches!(rule.target, Target::Other(_)) || !has_target {
                        rule.opaque.get_or_insert((sp, format!("the option `{k}`")));
                    }
                } else {
                    return Err((span, format!("unexpected word `{k}`")));
                }
            }
        }
        neg = false;
        spec.extend(w[start..i.min(w.len())].iter().map(|x| x.text.clone()));
    }
    rule.spec = spec.join(" ");
    c.glued_negation = glued.into_inner();
    if has_target
        || !rule.criteria.is_empty()
        || rule.out_if.is_some()
        || matches!(c.op, Op::Append(_) | Op::Insert(..) | Op::Delete(_))
    {
        c.rule = Some(rule);
    }
    Ok(c)
}
