//! Classification with nftables for `tcc apply`: the `nft` target's table
//! (`dialect::nft::print`: same name `table_name`, same chain and rules, so both front ends
//! write one table per interface and either one's teardown removes it), plus what applying
//! needs: a digest of the chain kept in the table's comment, reading the current table back,
//! and running `nft -f -`.
//!
//! The table is replaced in ONE atomic transaction by `nft -f -` ("add table; delete table;
//! add table {...}"): the kernel applies all of it or nothing. We fall back on the `nft`
//! program rather than building the nf_tables netlink batch ourselves: rule expressions
//! (payload offsets, sets, ranges, comparisons for every criterion) are a large encoder of
//! their own that `nft` already is, and the transaction is just as atomic. Re-applying is
//! detected by the digest.

use crate::dialect::nft::print;
pub use crate::dialect::nft::print::table_name;
use crate::plan::Interface;
use std::io::Write as _;
use std::process::{Command, Stdio};

/// Why running `nft` failed.
#[derive(Debug)]
pub enum NftError {
    /// The `nft` program could not be started (not installed, not on PATH).
    Spawn(std::io::Error),
    /// Talking to a started `nft` failed.
    Io(std::io::Error),
    /// `nft list table` failed for want of privileges (CAP_NET_ADMIN); nft's message.
    NotPermitted(String),
    /// `nft list table` failed otherwise; nft's message.
    List(String),
    /// `nft -f` refused the transaction; nft's message.
    Refused(String),
}

impl std::fmt::Display for NftError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NftError::Spawn(e) => write!(f, "cannot run nft: {e}"),
            NftError::Io(e) => write!(f, "nft: {e}"),
            NftError::NotPermitted(m) | NftError::List(m) => write!(f, "nft list table: {m}"),
            NftError::Refused(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for NftError {}

/// The comment that marks the table's content (`dialect::nft::print::marker`).
pub fn marker(iface: &Interface) -> String {
    print::marker(iface)
}

/// The whole `nft -f` transaction that replaces the interface's table: the `nft` target's
/// table (`print::table_body`), so both write the same table, comment included.
pub fn script(iface: &Interface) -> String {
    let t = table_name(&iface.name);
    format!(
        "add table inet {t}\ndelete table inet {t}\n{}",
        print::table_body(iface)
    )
}

/// The transaction that removes the table (nothing when it is absent).
pub fn delete_script(iface: &str) -> String {
    let t = table_name(iface);
    format!("add table inet {t}\ndelete table inet {t}\n")
}

/// The interface's table as `nft -a list` prints it (valid `nft -f` input: the handles are
/// comments), `None` when absent.
pub fn current_table(iface: &str) -> Result<Option<String>, NftError> {
    let out = Command::new("nft")
        .args(["-a", "list", "table", "inet", &table_name(iface)])
        .stdin(Stdio::null())
        .output()
        .map_err(NftError::Spawn)?;
    if out.status.success() {
        return Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("No such file") {
        Ok(None)
    } else if err.contains("Operation not permitted") {
        Err(NftError::NotPermitted(err.trim().to_string()))
    } else {
        Err(NftError::List(err.trim().to_string()))
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

/// What the interface's table holds: `None` when there is no such table.
pub fn current(iface: &str) -> Result<Option<Listed>, NftError> {
    Ok(current_table(iface)?.map(|text| Listed::of(&text)))
}

/// What a listed table (`current_table`) holds, as `tcc plan` compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The table's comment (empty when it has none).
    pub marker: String,
    /// The rules of its chains (one `# handle N` per rule in `nft -a list`).
    pub rules: usize,
    /// Whether a chain is hooked at postrouting with the mangle priority.
    pub hooked: bool,
}

impl Listed {
    pub fn of(table: &str) -> Listed {
        let lines = table.lines().map(str::trim);
        Listed {
            marker: marker_of(table),
            rules: lines.clone().filter(|l| is_rule(l)).count(),
            hooked: lines.clone().any(|l| {
                l.starts_with("type filter hook postrouting priority mangle;")
                    && l.contains("policy accept")
            }),
        }
    }

    /// Whether the table holds what tcc writes for `iface`: the same marker (the rules tcc
    /// wrote), still as many rules (none flushed, deleted or added by hand) and still hooked.
    pub fn holds(&self, iface: &Interface) -> bool {
        self.marker == marker(iface) && self.rules == print::rule_count(iface) && self.hooked
    }

    /// What differs from `iface`'s table, for `tcc plan`: `rules 0 → 5`, ...
    pub fn drift(&self, iface: &Interface) -> Vec<String> {
        let mut out = Vec::new();
        if self.marker != marker(iface) {
            let m = if self.marker.is_empty() {
                "(none)"
            } else {
                &self.marker
            };
            out.push(format!("comment \"{m}\" → \"{}\"", marker(iface)));
        }
        if self.rules != print::rule_count(iface) {
            out.push(format!(
                "rules {} → {}",
                self.rules,
                print::rule_count(iface)
            ));
        }
        if !self.hooked {
            out.push("chain not hooked at postrouting (mangle priority) → hooked".into());
        }
        out
    }
}

/// Whether a line of `nft -a list` ends a rule: it ends with nft's `# handle N` and does not
/// open a block (`table ... { # handle 4`, `chain ... { # handle 1`).
fn is_rule(l: &str) -> bool {
    l.rsplit_once("# handle ").is_some_and(|(before, n)| {
        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !before.trim_end().ends_with('{')
    })
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
pub fn run(script: &str) -> Result<(), NftError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(NftError::Spawn)?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .map_err(NftError::Io)?;
    let out = child.wait_with_output().map_err(NftError::Io)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NftError::Refused(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `nft -a list table` printed for a table of two rules, and after
    /// `nft flush chain`: the rules are counted, the table and chain lines are not.
    #[test]
    fn a_listing_counts_its_rules() {
        let full = "table inet tcc_v_0_1_75ebaf2d { # handle 4\n\tcomment \"tcc 15a5c8aa8b27bec8\"\n\tchain postrouting { # handle 1\n\t\ttype filter hook postrouting priority mangle; policy accept;\n\t\toifname != \"v-0.1\" return # handle 2\n\t\tmeta priority set tcp dport map { 22 : 1:12,\n\t\t\t443 : 1:11 } return # handle 5\n\t}\n}\n";
        let l = Listed::of(full);
        assert_eq!((l.rules, l.hooked), (2, true));
        assert_eq!(l.marker, "tcc 15a5c8aa8b27bec8");
        let flushed = "table inet t { # handle 4\n\tcomment \"tcc 1\"\n\tchain postrouting { # handle 1\n\t\ttype filter hook postrouting priority mangle; policy accept;\n\t}\n}\n";
        assert_eq!(Listed::of(flushed).rules, 0);
    }

    /// `tcc apply` and `tcc compile --target nft` write the same table for an interface, also
    /// for names nft identifiers cannot hold (`.`, `-`): otherwise both tables would classify
    /// and a teardown by one would leave the other.
    #[test]
    fn apply_and_the_nft_target_name_the_table_alike() {
        let src = "interface \"eth0.100\" {\n rate 100mbit\n default b\n\
                   class a { rate 10mbit; match tcp dport 22 }\n class b { rate 10mbit }\n}\n\
                   interface \"br-lan\" {\n rate 100mbit\n default b\n\
                   class a { rate 10mbit; match dscp EF }\n class b { rate 10mbit }\n}\n";
        let (plan, diags) = crate::analyze(0, src);
        assert!(!diags.has_errors(), "{:?}", diags.items);
        let target = crate::dialect::nft::print::ruleset(&plan);
        for iface in &plan.interfaces {
            let t = table_name(&iface.name);
            assert_eq!(t, crate::dialect::nft::print::table_name(&iface.name));
            assert!(
                t.len() > "tcc_".len() + iface.name.len(),
                "{t}: hashed name"
            );
            let applied = script(iface);
            assert!(
                applied.contains(&format!("table inet {t} {{\n")),
                "{applied}"
            );
            assert!(target.contains(&format!("table inet {t} {{\n")), "{target}");
            assert!(delete_script(&iface.name).contains(&format!("delete table inet {t}\n")));
            // The same rules, too: the target's chain is the applied table's body.
            assert!(applied.contains(&print::table_body(iface)));
            assert!(target.contains(&print::table_body(iface)));
        }
    }
}
