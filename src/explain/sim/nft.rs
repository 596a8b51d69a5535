//! nft commands: the rules of a `type filter hook postrouting` chain that set `meta priority`
//! are read as classifying rules of the families they apply to. They live in the model as chains
//! of their own, named `nft FAMILY TABLE CHAIN`, walked after iptables' mangle chains, so the
//! explanation can tell an nft table from an iptables chain.

use super::{words_text, Sim};
use crate::dialect::sh::Command;

/// The model's name for an nft chain: `nft inet t c` (the family `ip` when not written).
pub(super) const PREFIX: &str = "nft ";

fn chain_key(w: &[&str], at: usize) -> Option<(String, String, Option<String>)> {
    let (fam, rest) = match w.get(at) {
        Some(f @ (&"ip" | &"ip6" | &"inet" | &"bridge" | &"arp" | &"netdev")) => {
            (f.to_string(), at + 1)
        }
        Some(_) => ("ip".to_string(), at),
        None => return None,
    };
    let table = w.get(rest)?.to_string();
    let chain = w.get(rest + 1).map(|c| c.to_string());
    Some((fam, table, chain))
}

impl Sim {
    pub(super) fn nft(&mut self, cmd: &Command) {
        let w: Vec<&str> = cmd.words.iter().map(|w| w.text.as_str()).collect();
        let mut i = 1;
        while i < w.len() && w[i].starts_with('-') {
            i += 1;
        }
        // What removes rules: `flush ruleset`, `delete|flush table F T`, `flush chain F T C`.
        match (w.get(i).copied(), w.get(i + 1).copied()) {
            (Some("flush"), Some("ruleset")) => {
                for t in &mut self.tables {
                    t.chains.retain(|(n, _)| !n.starts_with(PREFIX));
                }
                return;
            }
            (Some("flush" | "delete" | "destroy"), Some(what @ ("table" | "chain"))) => {
                if let Some((fam, table, chain)) = chain_key(&w, i + 2) {
                    let name = match (what, chain) {
                        ("chain", Some(c)) => format!("{PREFIX}{fam} {table} {c}"),
                        _ => format!("{PREFIX}{fam} {table} "),
                    };
                    for t in &mut self.tables {
                        if what == "chain" {
                            if let Some((_, rules)) = t.chains.iter_mut().find(|(n, _)| *n == name)
                            {
                                rules.clear();
                            }
                        } else {
                            t.chains.retain(|(n, _)| !n.starts_with(&name));
                        }
                    }
                }
                return;
            }
            _ => {}
        }
        match crate::dialect::nft::read::parse(cmd) {
            Ok(rules) => {
                let key = chain_key(&w, i + 2)
                    .map(|(f, t, c)| format!("{PREFIX}{f} {t} {}", c.unwrap_or_default()))
                    .unwrap_or_else(|| format!("{PREFIX}?"));
                if rules.is_empty() {
                    // `add table`, `add chain`, `list`...: nothing classifies yet.
                    if !matches!(w.get(i).copied(), Some("add" | "create")) {
                        self.other.push(words_text(&cmd.words));
                    }
                }
                for (v4, v6, r) in rules {
                    for (f, on) in [(0, v4), (1, v6)] {
                        if on {
                            self.tables[f].chain(&key).push(r.clone());
                        }
                    }
                }
            }
            Err((span, msg)) => self.not_followed(span, msg),
        }
    }
}
