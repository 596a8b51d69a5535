//! The `batch` and `nft` targets: POSIX `sh` scripts that start a handful of processes
//! however large the plan is. The class trees (and u32 filters) go to ONE `tc -batch`; the
//! classification to `iptables-restore --noflush` / `ip6tables-restore --noflush` (batch,
//! iptables classifier) or to one `nft -f` transaction (nft target). The inputs travel inside
//! the script as here-documents, and are also returned as raw parts (`tree.batch`,
//! `rules.iptables`, `rules.ip6tables`, `rules.nft`) for `--emit-dir`.
//!
//! What a script owns, per interface `X` (`dialect::owned`, the same for every target and `tcc
//! apply`): the root qdisc of `X`; the mangle chain `tcc-X` and the rule
//! `POSTROUTING -o X -j tcc-X` in iptables and ip6tables; the nft table `inet tcc_X`. Applying
//! one target removes the classification the other targets may have left for `X`; teardown
//! removes all of them (the root qdisc only when it is tcc's HTB), and nothing else.
//!
//! The iptables input declares `:tcc-X - [0:0]`, which with `--noflush` empties that chain
//! (or creates it) and refills it in the same commit: the chain is replaced atomically and
//! re-applying gives the same state.

use super::sh::{chain_name, header, new_chain_name, preflight, Classifier, ShOptions};
use super::sh::{teardown_iface, FN_DROP, FN_DROP_ALL, FN_DROP_NFT, FN_FAIL};
use crate::dialect::iptables::print::{classify_rules, RuleLine, Tool};
use crate::dialect::nft::print::{ruleset, table_name, teardown_ruleset};
use crate::dialect::sh::quote::{comment_text, sh_quote};
use crate::dialect::tc::print as tc;
use crate::plan::Plan;
use std::fmt::Write;

/// A script and the raw inputs it carries, by file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    pub script: String,
    pub parts: Vec<(String, String)>,
}

/// The here-document delimiter. No line of a part can equal it: every line tcc writes there
/// starts with a command word, a tab or `#`.
const EOF: &str = "TCC_EOF";

/// The `tc -batch` input for all interfaces: root qdiscs, classes and (with `u32`) the u32
/// filters, hashed; for an interface with an ingress tree, the tree on its ifb device (always
/// with u32 filters) and then the ingress qdisc and redirect. It expects the interfaces and
/// ifb devices to have no root qdisc and the interfaces no ingress qdisc (the scripts delete
/// them first).
pub fn tree_batch(plan: &Plan, u32: bool) -> String {
    let mut out = String::new();
    for iface in &plan.interfaces {
        let _ = writeln!(out, "# ---- {} ----", comment_text(&iface.name));
        tree_lines(iface, u32, &mut out);
        if let Some(t) = &iface.ingress {
            let _ = writeln!(
                out,
                "# ---- {}: what arrives, on tcc's ifb device {} ----",
                comment_text(&iface.name),
                comment_text(&t.name)
            );
            tree_lines(t, true, &mut out);
            for line in super::ingress::redirect_lines(iface, t) {
                write_line(line, &mut out);
            }
        }
    }
    out
}

fn write_line(line: tc::Line, out: &mut String) {
    let _ = match line {
        tc::Line::Cmd(c) => writeln!(out, "{c}"),
        tc::Line::CmdWithNote(c, note) => writeln!(out, "{c}  # {note}"),
        tc::Line::Comment(c) => writeln!(out, "# {c}"),
    };
}

/// One HTB tree (the root qdisc, its classes, with `u32` its u32 filters, hashed).
fn tree_lines(iface: &crate::plan::Interface, u32: bool, out: &mut String) {
    let _ = writeln!(out, "{}", tc::qdisc_add(iface));
    let mut lines = tc::class_adds(iface);
    lines.extend(tc::leaf_qdisc_adds(iface));
    if u32 && !iface.filters.is_empty() {
        lines.push(tc::Line::Comment(
            "u32 filters on the qdisc, first match wins (lowest prio first)".into(),
        ));
        lines.extend(tc::u32_filters(iface, true));
    }
    for line in lines {
        write_line(line, out);
    }
}

/// `iptables-restore --noflush` input (or ip6tables-) replacing the chains `tcc-X`.
pub fn restore_input(plan: &Plan, tool: Tool) -> String {
    let mut out = String::from("*mangle\n");
    for iface in &plan.interfaces {
        let _ = writeln!(out, ":{} - [0:0]", chain_name(&iface.name));
    }
    for iface in &plan.interfaces {
        let chain = chain_name(&iface.name);
        for rule in classify_rules(iface, tool) {
            let _ = match rule {
                RuleLine::Comment(c) => writeln!(out, "# {c}"),
                RuleLine::Append(r) => writeln!(out, "-A {chain} {r}"),
            };
        }
    }
    out.push_str("COMMIT\n");
    out
}

fn heredoc_var(var: &str, text: &str, out: &mut String) {
    let _ = writeln!(out, "{var}=$(cat <<'{EOF}'\n{text}{EOF}\n)");
}

/// The shell functions a script uses, separated by blank lines.
fn functions(fns: &[&str], out: &mut String) {
    out.push_str(&fns.join("\n"));
}

fn tree(plan: &Plan, tree: &str, out: &mut String) {
    out.push_str(
        "\n# Replace the root qdiscs (and with them all classes and tc filters) by HTB trees,\n# built by one tc process.\n",
    );
    for iface in &plan.interfaces {
        let _ = writeln!(
            out,
            "tc qdisc del dev {} root 2>/dev/null || true",
            sh_quote(&iface.name)
        );
    }
    for (iface, t) in super::ingress::trees(plan) {
        super::ingress::device(iface, t, out);
        let _ = writeln!(
            out,
            "tc qdisc del dev {} root 2>/dev/null || true",
            sh_quote(&t.name)
        );
        super::ingress::del_ingress_qdisc(iface, out);
    }
    let _ = writeln!(out, "tc -batch - <<'{EOF}'\n{tree}{EOF}");
}

/// The script removing what any tcc target made for the plan's interfaces.
fn teardown_script(plan: &Plan, opts: &ShOptions, classifier: &str) -> Emitted {
    let mut out = header(plan, &opts.source_name, true, classifier);
    out.push_str(&super::sh::teardown_functions(plan));
    for iface in &plan.interfaces {
        teardown_iface(iface, &mut out);
    }
    Emitted {
        script: out,
        parts: vec![("teardown.nft".into(), teardown_ruleset(plan))],
    }
}

/// The `batch` target: `tc -batch` for the trees, and `iptables-restore` input or hashed u32
/// filters (inside the batch) for classification.
pub fn batch(plan: &Plan, opts: &ShOptions) -> Emitted {
    let iptables = opts.classifier == Classifier::Iptables;
    let classifier = if iptables {
        "iptables CLASSIFY via iptables-restore"
    } else {
        "tc u32 filters, hashed per host"
    };
    if opts.teardown {
        return teardown_script(plan, opts, classifier);
    }
    let tree_text = tree_batch(plan, !iptables);
    let mut parts = vec![("tree.batch".to_string(), tree_text.clone())];
    let mut out = header(plan, &opts.source_name, false, classifier);
    functions(
        &with_ifb(plan, &[FN_FAIL, FN_DROP, FN_DROP_ALL, FN_DROP_NFT]),
        &mut out,
    );
    let mut cmds = vec!["ip", "tc"];
    if iptables {
        cmds.extend([
            "iptables",
            "ip6tables",
            "iptables-restore",
            "ip6tables-restore",
        ]);
    }
    preflight(plan, &cmds, iptables, &mut out);
    if iptables {
        for tool in Tool::BOTH {
            let input = restore_input(plan, tool);
            let var = var_of(tool);
            heredoc_var(var, &input, &mut out);
            let _ = writeln!(
                out,
                "printf '%s\\n' \"${var}\" | {t}-restore --test --noflush || tcc_fail \"{t}-restore refused the rules\"",
                t = tool.cmd()
            );
            parts.push((format!("rules.{}", tool.cmd()), input));
        }
    }
    tree(plan, &tree_text, &mut out);
    if iptables {
        out.push_str(
            "\n# Classify: replace the chains tcc-DEV in one commit per tool, then make sure\n# POSTROUTING jumps to them (once).\n",
        );
        for tool in Tool::BOTH {
            let t = tool.cmd();
            let _ = writeln!(
                out,
                "printf '%s\\n' \"${}\" | {t}-restore --noflush",
                var_of(tool)
            );
            for iface in &plan.interfaces {
                let dev = sh_quote(&iface.name);
                let chain = sh_quote(&chain_name(&iface.name));
                let _ = writeln!(
                    out,
                    "{t} -t mangle -C POSTROUTING -o {dev} -j {chain} 2>/dev/null || {t} -t mangle -A POSTROUTING -o {dev} -j {chain}"
                );
                let _ = writeln!(
                    out,
                    "tcc_drop {t} {dev} {}",
                    sh_quote(&new_chain_name(&iface.name))
                );
            }
        }
        out.push_str("# Remove an nft classification made by the nft target, if any.\n");
        for iface in &plan.interfaces {
            let _ = writeln!(out, "tcc_drop_nft {}", table_name(&iface.name));
        }
    } else {
        out.push_str(
            "\n# The u32 filters are in the batch; remove classification made by other targets.\n",
        );
        for iface in &plan.interfaces {
            let _ = writeln!(out, "tcc_drop_all {}", sh_quote(&iface.name));
            let _ = writeln!(out, "tcc_drop_nft {}", table_name(&iface.name));
        }
    }
    Emitted { script: out, parts }
}

/// `fns` and, when the plan shapes ingress, the ifb functions.
fn with_ifb<'a>(plan: &Plan, fns: &[&'a str]) -> Vec<&'a str> {
    let mut v = fns.to_vec();
    if super::ingress::any(plan) {
        v.push(super::ingress::FN_IFB);
    }
    v
}

fn var_of(tool: Tool) -> &'static str {
    match tool {
        Tool::Ip4 => "tcc_rules4",
        Tool::Ip6 => "tcc_rules6",
    }
}

/// The `nft` target: `tc -batch` for the trees, one `nft -f` transaction for classification.
pub fn nft(plan: &Plan, opts: &ShOptions) -> Emitted {
    let classifier = "nftables meta priority";
    if opts.teardown {
        return teardown_script(plan, opts, classifier);
    }
    let tree_text = tree_batch(plan, false);
    let rules = ruleset(plan);
    let mut out = header(plan, &opts.source_name, false, classifier);
    functions(&with_ifb(plan, &[FN_FAIL, FN_DROP, FN_DROP_ALL]), &mut out);
    preflight(plan, &["ip", "tc", "nft"], false, &mut out);
    heredoc_var("tcc_rules", &rules, &mut out);
    out.push_str(
        "printf '%s\\n' \"$tcc_rules\" | nft -c -f - || tcc_fail \"nft refused the ruleset (not root, or no nf_tables?)\"\n",
    );
    tree(plan, &tree_text, &mut out);
    out.push_str(
        "\n# Classify: replace the tables inet tcc_DEV in one nft transaction.\nprintf '%s\\n' \"$tcc_rules\" | nft -f -\n",
    );
    out.push_str("# Remove an iptables classification made by the sh or batch target, if any.\n");
    for iface in &plan.interfaces {
        let _ = writeln!(out, "tcc_drop_all {}", sh_quote(&iface.name));
    }
    Emitted {
        script: out,
        parts: vec![
            ("tree.batch".into(), tree_text),
            ("rules.nft".into(), rules),
        ],
    }
}
