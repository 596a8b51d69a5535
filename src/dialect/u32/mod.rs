//! Rendering matches as tc `u32` filters, and telling which matches u32 cannot express.
//!
//! u32 compares header words under a mask, so:
//! - alternatives (address lists, port ranges split into value/mask blocks, length ranges)
//!   become one filter each (the cartesian product over all criteria);
//! - negation cannot be expressed, nor the firewall mark: tc accepts `match mark`, but a kernel
//!   built without CONFIG_CLS_U32_MARK (this project's test kernel is one) ignores it, so the
//!   filter would catch every packet — refusing is the only safe answer;
//! - IPv4 ports are read at a fixed offset (`match ip sport` assumes a 20-byte header without
//!   options), IPv6 ports and protocol assume no extension headers: that is u32's own limit.
//!
//! Length: IPv4 compares the total-length field; IPv6 the payload length, which is the packet
//! length minus the 40-byte fixed header (what iptables' `length` match measures).

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::plan::{Family, Filter, Match, Plan, PortRange, Test};
use ipnet::IpNet;

pub mod decode;
pub mod layout;
pub mod sel;

pub use sel::{Dir, Field, Ip, Key, KeyError, Sel, SelError, Selector, Width};

/// More u32 filters than this for one match is refused as not expressible.
pub const MAX_FILTERS_PER_MATCH: usize = 256;

/// The classifier `tcc compile` offers instead of u32.
pub const COMPILE_ALTERNATIVE: &str = "the iptables classifier (`--classifier iptables`)";

/// `Code::NotExpressible` errors for every criterion of `plan` that the u32 classifier cannot
/// express, with help naming `tcc compile`'s alternative. The CLI runs this before emitting
/// with `Classifier::U32`.
pub fn u32_expressible(plan: &Plan) -> Diagnostics {
    u32_expressible_with(plan, COMPILE_ALTERNATIVE)
}

/// Like `u32_expressible`, with the help suggesting `alternative` (a classifier the command
/// at hand accepts, e.g. "the nft classifier (`--classifier nft`)").
pub fn u32_expressible_with(plan: &Plan, alternative: &str) -> Diagnostics {
    let help = format!("use {alternative}, which can express it");
    let mut ds = Diagnostics::default();
    for iface in &plan.interfaces {
        for f in &iface.filters {
            check_filter(f, &help, Code::NotExpressible, &mut ds);
        }
    }
    ds
}

/// `Code::IngressNotExpressible` errors for every criterion of an ingress tree (classified by
/// u32 filters on the ifb device, whatever the classifier of the egress side) that u32 cannot
/// express. The checker runs this on every ingress tree.
pub fn ingress_expressible(tree: &crate::plan::Interface) -> Diagnostics {
    let help = "an ingress tree is classified by u32 filters on the ifb device (netfilter does not see it there): write the match without it, e.g. a class for the exception first (the first match wins)";
    let mut ds = Diagnostics::default();
    for f in &tree.filters {
        check_filter(f, help, Code::IngressNotExpressible, &mut ds);
    }
    ds
}

fn check_filter(f: &Filter, help: &str, code: Code, ds: &mut Diagnostics) {
    let on = if code == Code::IngressNotExpressible {
        "on ingress, "
    } else {
        ""
    };
    let mut ok = true;
    for c in &f.m.criteria {
        if c.negated {
            ok = false;
            ds.push(
                Diagnostic::new(
                    code,
                    c.span,
                    format!("{on}the u32 classifier cannot express a negated test"),
                )
                .label("negated here")
                .help(help),
            );
        }
        if let Test::Mark { .. } = c.test {
            ok = false;
            ds.push(
                Diagnostic::new(
                    code,
                    c.span,
                    format!("{on}the u32 classifier cannot safely test the firewall mark"),
                )
                .label("mark test here")
                .note("tc accepts `match mark`, but kernels built without CONFIG_CLS_U32_MARK ignore it and the filter then catches every packet")
                .help(help),
            );
        }
    }
    if ok {
        let n: usize = families(&f.m)
            .into_iter()
            .map(|fam| selectors(&f.m, fam).len())
            .sum();
        if n > MAX_FILTERS_PER_MATCH {
            ds.push(
                Diagnostic::new(
                    code,
                    f.span,
                    format!(
                        "this match needs {n} u32 filters (more than {MAX_FILTERS_PER_MATCH})"
                    ),
                )
                .note("address lists, port ranges and length ranges multiply into one u32 filter per combination")
                .help(help),
            );
        }
    }
}

/// The families a match needs filters for: `Any` means both.
pub fn families(m: &Match) -> Vec<Family> {
    match m.family() {
        Family::Any => vec![Family::V4, Family::V6],
        f => vec![f],
    }
}

/// The tc `protocol` keyword and u32 selector prefix for a family (`V4` or `V6`).
pub fn protocol_of(fam: Family) -> (&'static str, &'static str) {
    match fam {
        Family::V6 => ("ipv6", "ip6"),
        _ => ("ip", "ip"),
    }
}

/// The selectors for `m` in family `fam` (`V4` or `V6`), one per u32 filter; their union is
/// the match. Assumes `u32_expressible` found nothing (negated criteria are skipped). Empty
/// when the match can never hold for this family. The one source of tcc's u32 filters: the
/// scripts print them, `tcc apply` encodes their keys.
pub fn selectors(m: &Match, fam: Family) -> Vec<Selector> {
    let ip = if fam == Family::V6 { Ip::V6 } else { Ip::V4 };
    let field = |field, value: u32, mask: u32| Sel::Field {
        ip,
        field,
        value,
        mask,
    };
    let mut slots: Vec<Vec<Sel>> = Vec::new();
    for c in m.criteria.iter().filter(|c| !c.negated) {
        let alts: Vec<Sel> = match &c.test {
            Test::Proto(p) => vec![field(Field::Protocol, *p as u32, 0xff)],
            Test::Src(nets) => addr_alts(nets, ip, Dir::Src),
            Test::Dst(nets) => addr_alts(nets, ip, Dir::Dst),
            Test::Sport(r) => port_alts(r, ip, Field::Sport),
            Test::Dport(r) => port_alts(r, ip, Field::Dport),
            Test::Dscp(d) => vec![field(Field::Tos, (*d as u32) << 2, 0xfc)],
            Test::Mark { value, mask } => vec![Sel::Mark {
                value: *value,
                mask: mask.unwrap_or(u32::MAX),
            }],
            Test::Length { min, max } => length_alts(*min, *max, fam),
        };
        slots.push(alts);
    }
    let mut out = vec![Selector::default()];
    for slot in slots {
        out = out
            .iter()
            .flat_map(|r| {
                slot.iter().map(move |a| {
                    let mut r = r.clone();
                    r.0.push(a.clone());
                    r
                })
            })
            .collect();
    }
    if out.len() == 1 && out[0].0.is_empty() {
        // u32 needs at least one key: this one matches every packet.
        out = vec![Selector(vec![Sel::ALL])];
    }
    out
}

fn addr_alts(nets: &[IpNet], ip: Ip, dir: Dir) -> Vec<Sel> {
    nets.iter()
        .map(|n| Sel::Addr {
            ip,
            dir,
            net: n.trunc(),
        })
        .collect()
}

fn port_alts(ranges: &[PortRange], ip: Ip, field: Field) -> Vec<Sel> {
    ranges
        .iter()
        .flat_map(|r| prefix_blocks(r.lo as u32, r.hi as u32, 16))
        .map(|(value, mask)| Sel::Field {
            ip,
            field,
            value,
            mask,
        })
        .collect()
}

fn length_alts(min: u16, max: u16, fam: Family) -> Vec<Sel> {
    let (lo, hi, offset) = match fam {
        Family::V6 => {
            if max < 40 {
                return Vec::new();
            }
            (min.saturating_sub(40), max - 40, 4)
        }
        _ => (min, max, 2),
    };
    prefix_blocks(lo as u32, hi as u32, 16)
        .into_iter()
        .map(|(value, mask)| Sel::Raw {
            width: Width::U16,
            value,
            mask,
            at: Some(offset),
        })
        .collect()
}

/// Cover the inclusive range `lo..=hi` of `bits`-bit values with aligned value/mask blocks.
pub fn prefix_blocks(lo: u32, hi: u32, bits: u32) -> Vec<(u32, u32)> {
    let full = (1u64 << bits) - 1;
    let (mut lo, hi) = (lo as u64, hi as u64);
    let mut out = Vec::new();
    while lo <= hi {
        // The largest aligned block starting at `lo` that stays within `hi`.
        let mut size: u64 = if lo == 0 {
            full + 1
        } else {
            lo & lo.wrapping_neg()
        };
        while lo + size - 1 > hi {
            size >>= 1;
        }
        out.push((lo as u32, (full & !(size - 1)) as u32));
        lo += size;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_ranges_exactly() {
        assert_eq!(prefix_blocks(80, 80, 16), [(80, 0xffff)]);
        assert_eq!(prefix_blocks(20, 21, 16), [(20, 0xfffe)]);
        assert_eq!(prefix_blocks(0, 65535, 16), [(0, 0)]);
        assert_eq!(
            prefix_blocks(1024, 5000, 16),
            [
                (1024, 0xfc00),
                (2048, 0xf800),
                (4096, 0xfe00),
                (4608, 0xff00),
                (4864, 0xff80),
                (4992, 0xfff8),
                (5000, 0xffff)
            ]
        );
        for (lo, hi) in [(1, 1), (3, 17), (1000, 1999), (65000, 65535), (0, 1)] {
            let blocks = prefix_blocks(lo, hi, 16);
            for x in 0..=65535u32 {
                let hit = blocks.iter().filter(|&&(v, m)| x & m == v).count();
                assert_eq!(hit, ((lo..=hi).contains(&x)) as usize, "{x} in {lo}..{hi}");
            }
        }
    }
}
