//! Reading `tc qdisc|class|filter` commands: long and short object names (tc accepts any
//! prefix: `q`, `cl`, `fil`), hex ids, and the u32 selectors tc and the guides write.

use crate::diagnostic::Span;
use crate::dialect::sh::{Command, Word};
use crate::dialect::u32::{Dir, Field, Ip, Sel, SelError, Width};
use crate::plan::{Criterion, PortRange, Test};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obj {
    Qdisc,
    Class,
    Filter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Add,
    Replace,
    Change,
    Del,
    /// show, list, monitor...: reads state, changes nothing.
    Show,
}

/// A tc handle or class id `major:minor` (hex), with how it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id {
    pub major: u16,
    pub minor: u16,
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct TcCmd {
    pub obj: Obj,
    pub verb: Verb,
    pub dev: Option<Word>,
    pub root: bool,
    pub ingress: bool,
    pub parent: Option<Id>,
    /// `handle` of a qdisc or filter, `classid` of a class.
    pub id: Option<Id>,
    pub protocol: Option<Word>,
    pub prio: Option<u32>,
    pub kind: Option<Word>,
    pub opts: Vec<Word>,
}

fn prefix_of(w: &str, full: &str) -> bool {
    !w.is_empty() && full.starts_with(w)
}

/// Parse a tc id: `1:`, `1:0`, `1:1a`, `ffff:`, a bare `12` (a minor alone, as in `default`).
pub fn parse_id(w: &Word) -> Option<Id> {
    let (major, minor) = crate::dialect::tc_handle(&w.text)?;
    Some(Id {
        major,
        minor,
        text: w.text.clone(),
        span: w.span,
    })
}

/// Why a `mirred` filter on ingress is not download shaping as tcc models it (the words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRedirect(pub String);

impl std::fmt::Display for NotRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The filter options of a redirect on ingress, as download shaping with an ifb writes them:
/// `u32 match u32 0 0 [at 0] action mirred egress redirect dev IFB` (or `matchall action
/// mirred ...`). `None`: the options carry no `mirred` action; `Some(Err(why))`: a mirred
/// action that is not the whole traffic redirected to a device's egress (a selector that picks
/// some packets, `mirror`, `ingress`, other options); `Some(Ok(dev))`: the target device.
pub fn parse_redirect(kind: &str, opts: &[Word]) -> Option<Result<Word, NotRedirect>> {
    let t: Vec<&str> = opts.iter().map(|w| w.text.as_str()).collect();
    let a = t.iter().position(|w| *w == "action" || *w == "actions")?;
    if t.get(a + 1) != Some(&"mirred") {
        return None;
    }
    let sel: Vec<&str> = t[..a].iter().copied().filter(|w| !w.is_empty()).collect();
    let all = match kind {
        "u32" => matches!(
            sel.as_slice(),
            ["match", "u32", "0", "0"] | ["match", "u32", "0", "0", "at", "0"]
        ),
        "matchall" => sel.is_empty(),
        _ => false,
    };
    if !all {
        return Some(Err(NotRedirect(format!(
            "the redirect applies to the packets a `{kind} {}` filter picks, not to all",
            sel.join(" ")
        ))));
    }
    match &t[a + 2..] {
        ["egress", "redirect", "dev", _] => Some(Ok(opts[opts.len() - 1].clone())),
        rest => Some(Err(NotRedirect(format!(
            "`mirred {}` is not an egress redirect of everything to one device",
            rest.join(" ")
        )))),
    }
}

/// Parse the words of a `tc` command (the first word is `tc`). `Err` carries what is wrong.
pub fn parse(cmd: &Command) -> Result<Option<TcCmd>, (Span, String)> {
    let w = &cmd.words;
    let mut i = 1;
    while i < w.len() && w[i].text.starts_with('-') {
        let o = w[i].text.trim_start_matches('-');
        if matches!(o, "n" | "netns" | "b" | "batch" | "force") {
            return Err((w[i].span, format!("`tc {}` is not followed", w[i].text)));
        }
        i += 1;
    }
    let Some(objw) = w.get(i) else {
        return Err((cmd.span, "`tc` without an object".into()));
    };
    let o = objw.text.as_str();
    let obj = if prefix_of(o, "qdisc") {
        Obj::Qdisc
    } else if prefix_of(o, "class") {
        Obj::Class
    } else if prefix_of(o, "filter") {
        Obj::Filter
    } else if ["monitor", "help"].iter().any(|f| prefix_of(o, f)) {
        return Ok(None);
    } else {
        return Err((objw.span, format!("`tc {o}` is not followed")));
    };
    i += 1;
    let verb = match w.get(i).map(|v| v.text.as_str()) {
        Some("add") | Some("a") => Verb::Add,
        Some("replace") | Some("r") => Verb::Replace,
        Some("change") | Some("c") | Some("link") => Verb::Change,
        Some("del") | Some("delete") | Some("d") => Verb::Del,
        Some("show") | Some("list") | Some("ls") | Some("lst") | Some("s") | Some("l") | None => {
            Verb::Show
        }
        Some(other) => {
            return Err((
                w[i].span,
                format!("`tc ... {other}` is not a verb tcc knows"),
            ))
        }
    };
    i += 1;
    let mut c = TcCmd {
        obj,
        verb,
        dev: None,
        root: false,
        ingress: false,
        parent: None,
        id: None,
        protocol: None,
        prio: None,
        kind: None,
        opts: Vec::new(),
    };
    if verb == Verb::Show {
        return Ok(Some(c));
    }
    let bad_id = |x: &Word| (x.span, format!("`{}` is not a tc id", x.text));
    while i < w.len() {
        let k = w[i].text.as_str();
        let next = w.get(i + 1);
        let need = || next.ok_or((w[i].span, format!("`{k}` needs a value")));
        match k {
            "dev" => {
                c.dev = Some(need()?.clone());
                i += 2;
            }
            "root" => {
                c.root = true;
                i += 1;
            }
            "ingress" | "clsact" if obj == Obj::Qdisc => {
                c.ingress = true;
                c.kind = Some(w[i].clone());
                i += 1;
            }
            // `parent root`: the device's root (tc accepts it for qdiscs and filters alike).
            "parent" if next.is_some_and(|v| v.text == "root") => {
                c.root = true;
                i += 2;
            }
            "ingress" if obj == Obj::Filter => {
                c.ingress = true;
                i += 1;
            }
            "egress" if obj == Obj::Filter => i += 1,
            "parent" => {
                let v = need()?;
                c.parent = Some(parse_id(v).ok_or_else(|| bad_id(v))?);
                i += 2;
            }
            "handle" | "classid" if c.kind.is_none() => {
                let v = need()?;
                if obj == Obj::Filter {
                    // A filter handle is kind-specific (u32 `800::800`); not needed.
                    i += 2;
                    continue;
                }
                c.id = Some(parse_id(v).ok_or_else(|| bad_id(v))?);
                i += 2;
            }
            "protocol" | "proto" if obj == Obj::Filter => {
                c.protocol = Some(need()?.clone());
                i += 2;
            }
            "prio" | "pref" | "preference" | "priority" if obj == Obj::Filter => {
                let v = need()?;
                c.prio = Some(
                    v.text
                        .parse()
                        .map_err(|_| (v.span, format!("`{}` is not a priority", v.text)))?,
                );
                i += 2;
            }
            "estimator" => i += 3,
            "chain" if obj == Obj::Filter => i += 2,
            _ => {
                c.kind = Some(w[i].clone());
                c.opts = w[i + 1..].to_vec();
                break;
            }
        }
    }
    Ok(Some(c))
}

/// What a u32 filter says: its criteria (one conjunction) and its target class.
#[derive(Debug, Clone, Default)]
pub struct U32 {
    pub criteria: Vec<Criterion>,
    pub flowid: Option<Id>,
    /// Whether a selector was written for IPv6 (`match ip6 ...`).
    pub v6: bool,
}

/// A value/mask over 16-bit ports as a range, when the mask is a prefix.
fn masked_range(v: u32, m: u32, bits: u32) -> Option<(u32, u32)> {
    let full = if bits == 32 {
        u32::MAX
    } else {
        (1u32 << bits) - 1
    };
    let m = m & full;
    let inv = !m & full;
    // A prefix mask: the inverted mask is 2^k - 1.
    if inv & inv.wrapping_add(1) != 0 {
        return None;
    }
    let lo = v & m;
    Some((lo, lo | inv))
}

/// Read u32 options: `match ip dst 1.2.3.4/32 match ip dport 80 0xffff flowid 1:10`. The
/// selectors are read by `dialect::u32::Sel::parse` (the printer's own types), then told as
/// criteria.
pub fn parse_u32(opts: &[Word]) -> Result<U32, (Span, String)> {
    let mut u = U32::default();
    let mut i = 0;
    let crit = |t: Test, span: Span| Criterion {
        negated: false,
        test: t,
        span,
    };
    let texts: Vec<&str> = opts.iter().map(|w| w.text.as_str()).collect();
    while i < opts.len() {
        let k = opts[i].text.as_str();
        let base = i;
        let at = |j: usize| texts.get(base + j).copied().unwrap_or("");
        let span = opts[i].span;
        match k {
            "flowid" | "classid" => {
                let v = opts
                    .get(i + 1)
                    .ok_or((span, "`flowid` needs a class".into()))?;
                u.flowid =
                    Some(parse_id(v).ok_or((v.span, format!("`{}` is not a class id", v.text)))?);
                i += 2;
            }
            "match" => {
                let (fam, field, val, mask) = (at(1), at(2), at(3), at(4));
                let bad = || {
                    (
                        span,
                        format!("u32 selector `match {fam} {field} {val}` is not one tcc reads"),
                    )
                };
                let raw = || {
                    let off = if mask == "at" { at(5) } else { "" };
                    (
                        span,
                        format!("raw u32 selector `match {fam} {field} {val} {mask} {off}` is not modelled"),
                    )
                };
                let (sel, used) = match Sel::parse(&texts[i..]) {
                    Ok(s) => s,
                    Err(SelError::Offset) => return Err(raw()),
                    Err(_) => return Err(bad()),
                };
                u.v6 |= sel.ip() == Some(Ip::V6);
                i += used;
                let test = match sel {
                    Sel::Addr { dir, net, .. } => match dir {
                        Dir::Src => Test::Src(vec![net.trunc()]),
                        Dir::Dst => Test::Dst(vec![net.trunc()]),
                    },
                    Sel::Field {
                        field: f @ (Field::Sport | Field::Dport),
                        value,
                        mask,
                        ..
                    } => {
                        let (lo, hi) = masked_range(value, mask, 16).ok_or_else(bad)?;
                        let r = vec![PortRange {
                            lo: lo as u16,
                            hi: hi as u16,
                        }];
                        if f == Field::Sport {
                            Test::Sport(r)
                        } else {
                            Test::Dport(r)
                        }
                    }
                    Sel::Field {
                        field: Field::Protocol,
                        value,
                        mask,
                        ..
                    } => {
                        if mask != 0xff || value > 255 {
                            return Err(bad());
                        }
                        Test::Proto(value as u8)
                    }
                    Sel::Field {
                        field: Field::Tos,
                        value,
                        mask,
                        ..
                    } => {
                        if mask & 0xfc != 0xfc || value > 0xff {
                            return Err(bad());
                        }
                        Test::Dscp((value >> 2) as u8)
                    }
                    Sel::Mark { value, mask } => Test::Mark {
                        value,
                        mask: (mask != u32::MAX).then_some(mask),
                    },
                    // `match u32 0 0`: matches every packet.
                    Sel::Raw {
                        width: Width::U32,
                        mask: 0,
                        ..
                    } => continue,
                    Sel::Raw {
                        width: Width::U16,
                        value,
                        mask,
                        at: Some(off @ (2 | 4)),
                    } => {
                        let (lo, hi) = masked_range(value, mask, 16).ok_or_else(bad)?;
                        let (lo, hi) = if off == 4 {
                            u.v6 = true;
                            // An IPv6 packet is at least 40 bytes: payload 0 is length 0..40.
                            let lo = if lo == 0 { 0 } else { lo + 40 };
                            (lo, (hi + 40).min(65535))
                        } else {
                            (lo, hi)
                        };
                        Test::Length {
                            min: lo as u16,
                            max: hi as u16,
                        }
                    }
                    Sel::Raw { .. } => return Err(raw()),
                };
                u.criteria.push(crit(test, span));
            }
            _ => {
                return Err((span, format!("u32 option `{k}` is not one tcc reads")));
            }
        }
    }
    Ok(u)
}
