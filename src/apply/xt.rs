//! The iptables side of ownership for `tcc apply`, `plan` and `teardown`: the mangle chains
//! `tcc-X` and `tcc+X` (`dialect::owned::chains`) and their POSTROUTING jumps, which the `sh`
//! and `batch` targets make, and which `tcc apply --classifier iptables` makes too (with the
//! same rule text: `dialect::iptables::print::classify_rules`). With another classifier,
//! `apply` removes them, so that after a script only the classification `apply` asked for is
//! left.
//!
//! Run with the `iptables` and `ip6tables` programs, as the scripts do: whichever backend they
//! are (legacy or nf_tables), they find the chains the scripts made with them. Deleting the
//! `ip mangle` table with nft instead would also delete every foreign mangle rule.
//!
//! Every change is one `iptables-restore --noflush` (and one `ip6tables-restore --noflush`)
//! transaction from the state read (`Snapshot`) to the state wanted (`transition`): it
//! commits whole or not at all, per family. Putting a previous state back is the same
//! transition in the other direction.

use crate::dialect::iptables::print::{classify_rules, RuleLine, Tool};
use crate::dialect::iptables::read::{self, Target};
use crate::dialect::owned::{chain_name, chains};
use crate::plan::Interface;
use std::io::Write;
use std::process::{Command, Stdio};

/// The two tools, in the order tcc runs them.
pub const TOOLS: [&str; 2] = ["iptables", "ip6tables"];

/// One tcc chain found in a tool's mangle table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub tool: &'static str,
    pub name: String,
    /// How many rules it holds.
    pub rules: usize,
}

/// Why the chains could not be read or changed.
#[derive(Debug)]
pub enum XtError {
    /// The program could not be started.
    Spawn(&'static str, std::io::Error),
    /// It refused; its message.
    Refused(String),
}

impl std::fmt::Display for XtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            XtError::Spawn(t, e) => write!(f, "cannot run {t}: {e}"),
            XtError::Refused(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for XtError {}

fn run(tool: &'static str, args: &[&str]) -> Result<std::process::Output, XtError> {
    Command::new(tool)
        .args(["-w", "5", "-t", "mangle"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| XtError::Spawn(tool, e))
}

/// What tcc owns of one interface in one tool's mangle table: its chains with their rules
/// (as `iptables -S` lists them, `-A CHAIN ...`), and how many POSTROUTING rules
/// `-o X -j CHAIN` jump to each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub tool: &'static str,
    pub iface: String,
    /// (chain, its `-A` lines), in the order of `owned::chains`.
    pub chains: Vec<(String, Vec<String>)>,
    /// (chain, number of jumps to it).
    pub jumps: Vec<(String, usize)>,
}

impl Snapshot {
    fn jumps_to(&self, chain: &str) -> usize {
        self.jumps
            .iter()
            .find(|(c, _)| c == chain)
            .map_or(0, |j| j.1)
    }

    fn has(&self, chain: &str) -> bool {
        self.chains.iter().any(|(c, _)| c == chain)
    }

    /// Nothing of tcc's.
    pub fn is_empty(&self) -> bool {
        self.chains.is_empty() && self.jumps.iter().all(|j| j.1 == 0)
    }
}

fn jump_rule(iface: &str, chain: &str) -> String {
    format!("-A POSTROUTING -o {iface} -j {chain}")
}

/// Read what tcc owns of `iface` in both tools. A tool that is not installed, or cannot be
/// read (no privileges, no mangle table), holds nothing: nothing tcc could change there.
pub fn snapshot(iface: &str) -> Vec<Snapshot> {
    let mut out = Vec::new();
    for tool in TOOLS {
        let mut s = Snapshot {
            tool,
            iface: iface.to_string(),
            chains: Vec::new(),
            jumps: Vec::new(),
        };
        let post = run(tool, &["-S", "POSTROUTING"]).ok();
        let post = post
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for name in chains(iface) {
            let Ok(o) = run(tool, &["-S", &name]) else {
                continue;
            };
            if o.status.success() {
                let text = String::from_utf8_lossy(&o.stdout);
                let rules = text
                    .lines()
                    .filter(|l| l.starts_with("-A "))
                    .map(str::to_string)
                    .collect();
                s.chains.push((name.clone(), rules));
            }
            let jump = jump_rule(iface, &name);
            let n = post.lines().filter(|l| l.trim_end() == jump).count();
            s.jumps.push((name, n));
        }
        out.push(s);
    }
    out
}

/// The tcc chains of `iface` in iptables and ip6tables.
pub fn present(iface: &str) -> Vec<Chain> {
    snapshot(iface)
        .into_iter()
        .flat_map(|s| {
            s.chains.into_iter().map(move |(name, rules)| Chain {
                tool: s.tool,
                name,
                rules: rules.len(),
            })
        })
        .collect()
}

/// What the iptables classifier wants for `iface` in `tool`: the chain `tcc-X` holding the
/// rules the sh and batch targets write, one POSTROUTING jump to it, no `tcc+X`.
pub fn wanted(iface: &Interface, tool: &'static str) -> Snapshot {
    let t = if tool == "ip6tables" {
        Tool::Ip6
    } else {
        Tool::Ip4
    };
    let chain = chain_name(&iface.name);
    let rules = classify_rules(iface, t)
        .into_iter()
        .filter_map(|r| match r {
            RuleLine::Append(r) => Some(format!("-A {chain} {r}")),
            RuleLine::Comment(_) => None,
        })
        .collect();
    Snapshot {
        tool,
        iface: iface.name.clone(),
        chains: vec![(chain.clone(), rules)],
        jumps: vec![(chain, 1)],
    }
}

/// Nothing: what the other classifiers want of the mangle table.
pub fn nothing(iface: &str, tool: &'static str) -> Snapshot {
    Snapshot {
        tool,
        iface: iface.to_string(),
        chains: Vec::new(),
        jumps: Vec::new(),
    }
}

/// A rule line (`-A CHAIN ...`, as written or as `iptables -S` lists it) in a form where the
/// two spellings compare equal: read by the iptables reader of `tcc explain`, with its
/// criteria in a fixed order and the class id as numbers. A rule the reader does not model
/// whole (another target, an option it skips) keeps its text: it compares equal only to the
/// same text, never to something it might differ from.
pub fn canonical(tool: &str, line: &str) -> String {
    let text = format!("{tool} -t mangle {line}\n");
    let script = crate::dialect::sh::read(0, &text, &[]);
    let parsed = script
        .commands
        .first()
        .and_then(|c| read::parse(c).ok())
        .and_then(|c| c.rule);
    let Some(rule) = parsed else {
        return format!("text {line}");
    };
    let target = match &rule.target {
        Target::Classify { major, minor, .. } => format!("CLASSIFY {major:x}:{minor:x}"),
        Target::Return => "RETURN".into(),
        _ => return format!("text {line}"),
    };
    if rule.opaque.is_some() || rule.comment.is_some() {
        return format!("text {line}");
    }
    let mut crit: Vec<String> = rule
        .criteria
        .iter()
        .map(|c| serde_json::to_string(c).unwrap_or_default())
        .collect();
    crit.sort();
    format!("{:?} {} -> {target}", rule.out_if, crit.join(" "))
}

/// How `now` differs from `want` (the same tool and interface), one phrase per difference;
/// empty when they are the same. Rules are compared one by one, in order.
pub fn drift(now: &Snapshot, want: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    let t = now.tool;
    for (chain, rules) in &want.chains {
        let Some((_, live)) = now.chains.iter().find(|(c, _)| c == chain) else {
            out.push(format!("{t} {chain} missing"));
            continue;
        };
        if live.len() != rules.len() {
            out.push(format!(
                "{t} {chain} rules {} → {}",
                live.len(),
                rules.len()
            ));
        }
        for (k, (l, w)) in live.iter().zip(rules).enumerate() {
            if canonical(t, l) != canonical(t, w) {
                out.push(format!("{t} {chain} rule {}: `{l}` → `{w}`", k + 1));
            }
        }
    }
    for (chain, rules) in &now.chains {
        if !want.has(chain) {
            out.push(format!("{t} {chain} ({} rule(s)) removed", rules.len()));
        }
    }
    for chain in chains(&now.iface) {
        let (a, b) = (now.jumps_to(&chain), want.jumps_to(&chain));
        if a != b && (a > 0 || want.has(&chain)) {
            out.push(format!("{t} POSTROUTING jumps to {chain} {a} → {b}"));
        }
    }
    out
}

/// The `iptables-restore --noflush` input that takes `now` to `want` in one commit: missing
/// jumps added and extra ones deleted, the wanted chains emptied (or created) and filled,
/// other tcc chains deleted. Foreign rules and chains are not named, so not touched.
pub fn transition(now: &Snapshot, want: &Snapshot) -> String {
    let iface = &now.iface;
    let mut s = String::from("*mangle\n");
    for (chain, _) in &want.chains {
        s.push_str(&format!(":{chain} - [0:0]\n"));
    }
    for chain in chains(iface) {
        let (a, b) = (now.jumps_to(&chain), want.jumps_to(&chain));
        for _ in b..a {
            s.push_str(&format!("-D POSTROUTING -o {iface} -j {chain}\n"));
        }
    }
    for (chain, _) in &now.chains {
        if !want.has(chain) {
            s.push_str(&format!("-F {chain}\n-X {chain}\n"));
        }
    }
    for (_, rules) in &want.chains {
        for r in rules {
            s.push_str(r);
            s.push('\n');
        }
    }
    for chain in chains(iface) {
        let (a, b) = (now.jumps_to(&chain), want.jumps_to(&chain));
        for _ in a..b {
            s.push_str(&jump_rule(iface, &chain));
            s.push('\n');
        }
    }
    s.push_str("COMMIT\n");
    s
}

/// Run `tool-restore --noflush` with `input`: all of it or nothing.
pub fn restore(tool: &'static str, input: &str) -> Result<(), XtError> {
    let prog: &'static str = if tool == "ip6tables" {
        "ip6tables-restore"
    } else {
        "iptables-restore"
    };
    let mut child = Command::new(prog)
        .args(["-w", "5", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| XtError::Spawn(prog, e))?;
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    let o = child
        .wait_with_output()
        .map_err(|e| XtError::Spawn(prog, e))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(XtError::Refused(format!(
            "{prog} --noflush: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )))
    }
}

/// Take each tool from what it holds now (read again) to `want` (one snapshot per tool).
pub fn converge(iface: &str, want: &[Snapshot]) -> Result<(), XtError> {
    for now in snapshot(iface) {
        let target = want
            .iter()
            .find(|w| w.tool == now.tool)
            .cloned()
            .unwrap_or_else(|| nothing(iface, now.tool));
        if drift(&now, &target).is_empty() {
            continue;
        }
        restore(now.tool, &transition(&now, &target))?;
    }
    Ok(())
}

/// Remove the tcc chains of `iface` and the POSTROUTING rules that jump to them (all of them,
/// however many), in both tools. Touches no other rule.
pub fn remove(iface: &str) -> Result<(), XtError> {
    converge(iface, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `iptables -S` lists (iptables 1.8.9) for rules tcc writes compares equal to them.
    #[test]
    fn listed_rules_compare_equal_to_written_ones() {
        let pairs = [
            (
                "-A tcc-x -p tcp --dport 443 -j CLASSIFY --set-class 1:10",
                "-A tcc-x -p tcp -m tcp --dport 443 -j CLASSIFY --set-class 0001:0010",
            ),
            (
                "-A tcc-x -p tcp --dport 443 -j RETURN",
                "-A tcc-x -p tcp -m tcp --dport 443 -j RETURN",
            ),
            (
                "-A tcc-x -p udp -s 10.0.0.1 -m multiport --dports 1,2:5 -m dscp --dscp 0x2e -m length --length 0:100 -j CLASSIFY --set-class 1:ff",
                "-A tcc-x -s 10.0.0.1/32 -p udp -m multiport --dports 1,2:5 -m dscp --dscp 0x2e -m length --length 0:100 -j CLASSIFY --set-class 0001:00ff",
            ),
            (
                "-A tcc-x -d 10.0.0.0/8 -m mark --mark 0x5 -j CLASSIFY --set-class 1:12",
                "-A tcc-x -d 10.0.0.0/8 -m mark --mark 0x5 -j CLASSIFY --set-class 0001:0012",
            ),
        ];
        for (w, l) in pairs {
            assert_eq!(canonical("iptables", w), canonical("iptables", l), "{w}");
        }
        let differ = [
            (
                "-A c -p tcp --dport 443 -j CLASSIFY --set-class 1:10",
                "-A c -p tcp --dport 443 -j CLASSIFY --set-class 1:11",
            ),
            (
                "-A c -p tcp --dport 443 -j CLASSIFY --set-class 1:10",
                "-A c -p tcp --dport 80 -j CLASSIFY --set-class 1:10",
            ),
            (
                "-A c -p tcp --dport 443 -j CLASSIFY --set-class 1:10",
                "-A c -p tcp ! --dport 443 -j CLASSIFY --set-class 1:10",
            ),
            ("-A c -j MARK --set-mark 5", "-A c -j MARK --set-mark 6"),
            (
                "-A c -m owner --uid-owner 0 -j RETURN",
                "-A c -m owner --uid-owner 1 -j RETURN",
            ),
        ];
        for (a, b) in differ {
            assert_ne!(canonical("iptables", a), canonical("iptables", b), "{a}");
        }
    }

    #[test]
    fn transition_adds_and_removes_only_what_differs() {
        let now = Snapshot {
            tool: "iptables",
            iface: "x".into(),
            chains: vec![
                ("tcc-x".into(), vec!["-A tcc-x -j RETURN".into()]),
                ("tcc+x".into(), vec![]),
            ],
            jumps: vec![("tcc-x".into(), 2), ("tcc+x".into(), 1)],
        };
        let want = Snapshot {
            tool: "iptables",
            iface: "x".into(),
            chains: vec![("tcc-x".into(), vec!["-A tcc-x -p udp -j RETURN".into()])],
            jumps: vec![("tcc-x".into(), 1)],
        };
        assert_eq!(
            transition(&now, &want),
            "*mangle\n:tcc-x - [0:0]\n-D POSTROUTING -o x -j tcc-x\n-D POSTROUTING -o x -j tcc+x\n-F tcc+x\n-X tcc+x\n-A tcc-x -p udp -j RETURN\nCOMMIT\n"
        );
        assert_eq!(drift(&want, &want), Vec::<String>::new());
        assert_eq!(drift(&now, &want).len(), 4, "{:?}", drift(&now, &want));
    }
}
