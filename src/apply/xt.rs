//! The iptables side of ownership for `tcc apply`, `plan` and `teardown`: the mangle chains
//! `tcc-X` and `tcc+X` (`dialect::owned::chains`) and their POSTROUTING jumps, which the `sh`
//! and `batch` targets make. `tcc apply` never makes them, but it removes them, so that after
//! a script only the classification `apply` asked for is left.
//!
//! Run with the `iptables` and `ip6tables` programs, as the scripts do: whichever backend they
//! are (legacy or nf_tables), they find the chains the scripts made with them. Deleting the
//! `ip mangle` table with nft instead would also delete every foreign mangle rule.

use crate::dialect::owned::chains;
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

/// Why the chains could not be read or removed.
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

/// The tcc chains of `iface` in iptables and ip6tables. A tool that is not installed, or
/// cannot be read (no privileges, no mangle table), holds none: nothing tcc could remove.
pub fn present(iface: &str) -> Vec<Chain> {
    let mut out = Vec::new();
    for tool in TOOLS {
        for name in chains(iface) {
            let Ok(o) = run(tool, &["-S", &name]) else {
                continue;
            };
            if o.status.success() {
                let text = String::from_utf8_lossy(&o.stdout);
                let rules = text.lines().filter(|l| l.starts_with("-A ")).count();
                out.push(Chain { tool, name, rules });
            }
        }
    }
    out
}

/// Remove the tcc chains of `iface` and the POSTROUTING rules that jump to them (all of them,
/// however many), in both tools; quiet about chains that are not there. Touches no other rule.
pub fn remove(iface: &str) -> Result<(), XtError> {
    for c in present(iface) {
        loop {
            let o = run(c.tool, &["-D", "POSTROUTING", "-o", iface, "-j", &c.name])?;
            if !o.status.success() {
                break;
            }
        }
        for op in ["-F", "-X"] {
            let o = run(c.tool, &[op, &c.name])?;
            if !o.status.success() {
                return Err(XtError::Refused(format!(
                    "{} -t mangle {op} {}: {}",
                    c.tool,
                    c.name,
                    String::from_utf8_lossy(&o.stderr).trim()
                )));
            }
        }
    }
    Ok(())
}
