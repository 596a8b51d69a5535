//! Filter merging: the IPv4 and IPv6 lists become one first-match-wins list, and adjacent
//! filters that differ in one list are one filter.

use super::sim::Sim;
use crate::diagnostic::{Code, Diagnostic};
use crate::plan::{Criterion, Family, Filter, Test};

impl Sim {
    /// One first-match-wins list from the IPv4 and the IPv6 lists. A filter without addresses
    /// appears in both when the script classifies both families alike; such pairs become one
    /// filter, in an order that keeps each family's own order. A filter without addresses found
    /// in one family only is kept (the plan applies it to both) and reported.
    pub(super) fn merge_families(
        &mut self,
        dev: &str,
        a: Vec<Filter>,
        b: Vec<Filter>,
    ) -> Vec<Filter> {
        let same = |x: &Filter, y: &Filter| {
            x.class == y.class && same_for_both(&x.m.criteria, &y.m.criteria)
        };
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        let mut only = [None, None];
        while i < a.len() || j < b.len() {
            if i < a.len() && a[i].m.family() == Family::V4 {
                out.push(a[i].clone());
                i += 1;
            } else if j < b.len() && b[j].m.family() == Family::V6 {
                out.push(b[j].clone());
                j += 1;
            } else if i < a.len() && j < b.len() && same(&a[i], &b[j]) {
                out.push(a[i].clone());
                i += 1;
                j += 1;
            } else if i < a.len() && (j..b.len()).any(|k| same(&a[i], &b[k])) {
                // b[j] has no IPv4 twin here: it comes first in IPv6's order.
                only[1].get_or_insert(b[j].span);
                out.push(b[j].clone());
                j += 1;
            } else if i < a.len() {
                only[0].get_or_insert(a[i].span);
                out.push(a[i].clone());
                i += 1;
            } else {
                only[1].get_or_insert(b[j].span);
                out.push(b[j].clone());
                j += 1;
            }
        }
        for (k, span) in only.into_iter().enumerate() {
            let Some(span) = span else { continue };
            let (this, other, tool) = if k == 0 {
                ("IPv4", "IPv6", "ip6tables (or a `protocol ipv6` filter)")
            } else {
                ("IPv6", "IPv4", "iptables (or a `protocol ip` filter)")
            };
            self.diags.push(
                Diagnostic::new(Code::Ipv4Only, span, format!("this classifies {this} packets only; {other} traffic on `{dev}` is not classified by it"))
                    .label(format!("{this} only"))
                    .note(format!("the imported plan applies such matches to {other} too, as tcc does"))
                    .help(format!("add the same rule with {tool}")),
            );
        }
        out
    }
}

pub(super) fn kind_order(t: &Test) -> u8 {
    match t {
        Test::Proto(_) => 0,
        Test::Src(_) => 1,
        Test::Dst(_) => 2,
        Test::Sport(_) => 3,
        Test::Dport(_) => 4,
        Test::Dscp(_) => 5,
        Test::Mark { .. } => 6,
        Test::Length { .. } => 7,
    }
}

pub fn same_criteria(a: &[Criterion], b: &[Criterion]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.negated == y.negated && x.test == y.test)
}

/// Whether an IPv4 filter's criteria `v4` and an IPv6 filter's `v6` decide alike, so that the
/// pair is one filter for both families (the IPv4 one kept). As `same_criteria`, except for
/// lengths: no IPv6 packet is shorter than its 40-byte header, so for IPv6 a range below 40
/// means the same as from 40 (u32's payload length 0 reads back as 0..40, `length 40` was
/// written as payload 0).
fn same_for_both(v4: &[Criterion], v6: &[Criterion]) -> bool {
    let from_40 = |t: &Test| match t {
        Test::Length { min, max } if *max >= 40 => Test::Length {
            min: (*min).max(40),
            max: *max,
        },
        other => other.clone(),
    };
    v4.len() == v6.len()
        && v4.iter().zip(v6).all(|(x, y)| {
            x.negated == y.negated
                && (x.test == y.test
                    || matches!(x.test, Test::Length { .. })
                        && from_40(&x.test) == from_40(&y.test))
        })
}

/// Several negated address or port tests of one kind in one rule are one negated list.
pub(super) fn combine_negated(cs: Vec<Criterion>) -> Vec<Criterion> {
    let mut out: Vec<Criterion> = Vec::new();
    for c in cs {
        if c.negated {
            if let Some(prev) = out.iter_mut().find(|p| {
                p.negated && std::mem::discriminant(&p.test) == std::mem::discriminant(&c.test)
            }) {
                match (&mut prev.test, &c.test) {
                    (Test::Src(a), Test::Src(b)) | (Test::Dst(a), Test::Dst(b)) => {
                        a.extend(b.iter().cloned());
                        continue;
                    }
                    (Test::Sport(a), Test::Sport(b)) | (Test::Dport(a), Test::Dport(b)) => {
                        a.extend(b.iter().cloned());
                        continue;
                    }
                    _ => {}
                }
            }
        }
        out.push(c);
    }
    out
}

/// Two adjacent filters to one class whose matches differ in one positive list are one filter
/// with both lists' alternatives (the union is exact). Port ranges that touch are joined.
pub fn merge_adjacent(fs: Vec<Filter>) -> Vec<Filter> {
    merge_with(fs, false)
}

/// `merge_adjacent` for contiguous length ranges only.
pub(super) fn merge_lengths(fs: Vec<Filter>) -> Vec<Filter> {
    merge_with(fs, true)
}

fn merge_with(fs: Vec<Filter>, lengths_only: bool) -> Vec<Filter> {
    let mut out: Vec<Filter> = Vec::new();
    for f in fs {
        if let Some(prev) = out.last_mut() {
            if prev.class == f.class && prev.m.criteria.len() == f.m.criteria.len() {
                let diff: Vec<usize> = (0..f.m.criteria.len())
                    .filter(|&k| {
                        let (a, b) = (&prev.m.criteria[k], &f.m.criteria[k]);
                        a.negated != b.negated || a.test != b.test
                    })
                    .collect();
                if diff.is_empty() {
                    // The same rule twice: the second can never decide anything.
                    continue;
                }
                if let [k] = diff.as_slice() {
                    let (a, b) = (&mut prev.m.criteria[*k], &f.m.criteria[*k]);
                    if !a.negated && !b.negated {
                        let merged = match (&mut a.test, &b.test) {
                            _ if lengths_only && !matches!(b.test, Test::Length { .. }) => false,
                            (Test::Src(x), Test::Src(y)) | (Test::Dst(x), Test::Dst(y))
                                if x.first().map(|n| n.addr().is_ipv4())
                                    == y.first().map(|n| n.addr().is_ipv4()) =>
                            {
                                x.extend(y.iter().cloned());
                                true
                            }
                            (Test::Sport(x), Test::Sport(y)) | (Test::Dport(x), Test::Dport(y)) => {
                                for r in y {
                                    match x.last_mut() {
                                        Some(l)
                                            if r.lo >= l.lo && r.lo as u32 <= l.hi as u32 + 1 =>
                                        {
                                            l.hi = l.hi.max(r.hi)
                                        }
                                        _ => x.push(*r),
                                    }
                                }
                                true
                            }
                            (Test::Length { max, .. }, Test::Length { min: lo, max: hi })
                                if *max < u16::MAX && *max + 1 == *lo =>
                            {
                                *max = *hi;
                                true
                            }
                            _ => false,
                        };
                        if merged {
                            continue;
                        }
                    }
                }
            }
        }
        out.push(f);
    }
    out
}
