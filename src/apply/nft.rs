//! Classification with nftables: one tcc-owned table per interface, `table inet tcc_<iface>`,
//! whose chain runs at postrouting (priority -150, where iptables' mangle POSTROUTING runs, as
//! the sh backend's CLASSIFY rules do) and sets `meta priority` to the class id.
//!
//! Semantics equal the sh backend's: filters in plan order, first match wins (`accept` after
//! the first `meta priority set` leaves our chain; other tables' chains still see the packet),
//! a match with addresses of one family only applies to that family, never-matching filters
//! are left out.
//!
//! The table is replaced in ONE atomic transaction by `nft -f -` ("add table; delete table;
//! add table {...}"): the kernel applies all of it or nothing. We fall back on the `nft`
//! program rather than building the nf_tables netlink batch ourselves: rule expressions
//! (payload offsets, sets, ranges, comparisons for every criterion) are a large encoder of
//! their own that `nft` already is, and the transaction is just as atomic. Re-applying is
//! detected by a digest of the generated text kept in the table's comment.

use crate::plan::matchrel::never_matches;
use crate::plan::{Family, Interface, Match, PortRange, Test};
use ipnet::IpNet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

/// The tcc-owned table of an interface.
pub fn table_name(iface: &str) -> String {
    let safe: String = iface
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("tcc_{safe}")
}

fn nets_text(nets: &[IpNet]) -> String {
    let merged = IpNet::aggregate(&nets.to_vec());
    if merged.len() == 1 {
        merged[0].to_string()
    } else {
        let v: Vec<String> = merged.iter().map(|n| n.to_string()).collect();
        format!("{{ {} }}", v.join(", "))
    }
}

fn ports_text(ports: &[PortRange]) -> String {
    let mut v: Vec<PortRange> = ports.to_vec();
    v.sort();
    let mut merged: Vec<PortRange> = Vec::new();
    for r in v {
        match merged.last_mut() {
            Some(m) if r.lo as u32 <= m.hi as u32 + 1 => m.hi = m.hi.max(r.hi),
            _ => merged.push(r),
        }
    }
    let one = |r: &PortRange| {
        if r.lo == r.hi {
            r.lo.to_string()
        } else {
            format!("{}-{}", r.lo, r.hi)
        }
    };
    if merged.len() == 1 {
        one(&merged[0])
    } else {
        let v: Vec<String> = merged.iter().map(one).collect();
        format!("{{ {} }}", v.join(", "))
    }
}

/// The nft expressions of a match for one family (`V4` or `V6`; `Any` when nothing in the
/// match depends on the family).
fn criteria(m: &Match, fam: Family) -> String {
    let mut out = Vec::new();
    match fam {
        Family::V4 => out.push("meta nfproto ipv4".to_string()),
        Family::V6 => out.push("meta nfproto ipv6".to_string()),
        Family::Any => {}
    }
    let ip = if fam == Family::V6 { "ip6" } else { "ip" };
    let proto = m.proto();
    let l4 = match proto {
        Some(6) => "tcp",
        Some(17) => "udp",
        _ => "th",
    };
    for c in &m.criteria {
        let op = if c.negated { "!= " } else { "" };
        let e = match &c.test {
            Test::Proto(p) => format!("meta l4proto {op}{p}"),
            Test::Src(n) => format!("{ip} saddr {op}{}", nets_text(n)),
            Test::Dst(n) => format!("{ip} daddr {op}{}", nets_text(n)),
            Test::Sport(p) => format!("{l4} sport {op}{}", ports_text(p)),
            Test::Dport(p) => format!("{l4} dport {op}{}", ports_text(p)),
            Test::Dscp(d) => format!("{ip} dscp {op}{d}"),
            Test::Mark { value, mask } => match mask {
                Some(mask) => format!("meta mark & {mask:#x} {op}{value:#x}"),
                None => format!("meta mark {op}{value:#x}"),
            },
            Test::Length { min, max } => format!("meta length {op}{min}-{max}"),
        };
        out.push(e);
    }
    out.join(" ")
}

/// The families a match needs rules for: its own, or both when a test (dscp) reads a
/// family-specific header field and the match has no family of its own.
fn rule_families(m: &Match) -> Vec<Family> {
    match m.family() {
        Family::Any if m.criteria.iter().any(|c| matches!(c.test, Test::Dscp(_))) => {
            vec![Family::V4, Family::V6]
        }
        f => vec![f],
    }
}

/// The body of the table (without the digest comment).
fn body(iface: &Interface) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\tchain postrouting {{");
    let _ = writeln!(
        s,
        "\t\ttype filter hook postrouting priority -150; policy accept;"
    );
    let _ = writeln!(s, "\t\toifname != {} return", quote(&iface.name));
    for (i, f) in iface.filters.iter().enumerate() {
        if never_matches(&f.m) {
            continue;
        }
        let classid = iface.classid(f.class);
        for fam in rule_families(&f.m) {
            let crit = criteria(&f.m, fam);
            let sep = if crit.is_empty() { "" } else { " " };
            let _ = writeln!(
                s,
                "\t\t{crit}{sep}meta priority set {classid} accept comment \"filter {}\"",
                i + 1
            );
        }
    }
    let _ = writeln!(s, "\t}}");
    s
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace(['"', '\\'], ""))
}

/// FNV-1a, to tell whether the table holds exactly what we would write.
fn digest(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The comment that marks the table's content.
pub fn marker(iface: &Interface) -> String {
    format!("tcc {}", digest(&body(iface)))
}

/// The whole `nft -f` transaction that replaces the interface's table.
pub fn script(iface: &Interface) -> String {
    let t = table_name(&iface.name);
    let mut s = String::new();
    let _ = writeln!(s, "add table inet {t}");
    let _ = writeln!(s, "delete table inet {t}");
    let _ = writeln!(s, "table inet {t} {{");
    let _ = writeln!(s, "\tcomment \"{}\"", marker(iface));
    s.push_str(&body(iface));
    let _ = writeln!(s, "}}");
    s
}

/// The transaction that removes the table (nothing when it is absent).
pub fn delete_script(iface: &str) -> String {
    let t = table_name(iface);
    format!("add table inet {t}\ndelete table inet {t}\n")
}

/// The interface's table as `nft list` prints it (valid `nft -f` input), `None` when absent.
pub fn current_table(iface: &str) -> Result<Option<String>, String> {
    let out = Command::new("nft")
        .args(["list", "table", "inet", &table_name(iface)])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    if out.status.success() {
        return Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("No such file") {
        Ok(None)
    } else {
        Err(format!("nft list table: {}", err.trim()))
    }
}

/// The transaction that puts back `before` (from `current_table`) as the interface's table.
pub fn restore_script(iface: &str, before: Option<&str>) -> String {
    let mut s = delete_script(iface);
    if let Some(t) = before {
        s.push_str(t);
    }
    s
}

/// The comment of the interface's table: `None` when there is no such table,
/// `Some("")` for a table without a comment.
pub fn current_marker(iface: &str) -> Result<Option<String>, String> {
    Ok(current_table(iface)?.map(|text| marker_of(&text)))
}

/// The tcc comment in a listed table (empty when it has none).
pub fn marker_of(table: &str) -> String {
    table
        .lines()
        .find_map(|l| l.trim().strip_prefix("comment \""))
        .map(|c| c.trim_end_matches('"').to_string())
        .unwrap_or_default()
}

/// Run one `nft -f -` transaction.
pub fn run(script: &str) -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .map_err(|e| format!("nft: {e}"))?;
    let out = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Criterion;

    fn crit(negated: bool, test: Test) -> Criterion {
        Criterion {
            negated,
            test,
            span: Default::default(),
        }
    }

    #[test]
    fn criteria_read_like_the_plan() {
        let m = Match {
            criteria: vec![
                crit(false, Test::Proto(6)),
                crit(true, Test::Dst(vec!["131.225.0.0/16".parse().unwrap()])),
                crit(
                    false,
                    Test::Sport(vec![
                        PortRange { lo: 80, hi: 80 },
                        PortRange { lo: 20, hi: 21 },
                        PortRange { lo: 1024, hi: 5000 },
                    ]),
                ),
            ],
        };
        assert_eq!(
            criteria(&m, m.family()),
            "meta nfproto ipv4 meta l4proto 6 ip daddr != 131.225.0.0/16 tcp sport { 20-21, 80, 1024-5000 }"
        );
        let d = Match {
            criteria: vec![crit(false, Test::Dscp(46))],
        };
        assert_eq!(rule_families(&d), [Family::V4, Family::V6]);
        assert_eq!(criteria(&d, Family::V6), "meta nfproto ipv6 ip6 dscp 46");
    }
}
