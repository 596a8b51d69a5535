//! The POSIX `sh` backend: a script that applies a plan with `tc` and iptables (or tc u32
//! filters), and its teardown twin.
//!
//! What an apply script owns, per interface `X` (and nothing else; `dialect::owned` is the one
//! statement of it for every target and `tcc apply`):
//! - the root qdisc of `X` (replaced: `tc qdisc del` then `add`; the teardown script deletes it
//!   only when it is tcc's, an HTB with the plan's handle);
//! - the nft table of the `nft` target and `tcc apply` (`inet tcc_X`), which a run removes once
//!   its own classification is in place, so that switching targets converges;
//! - with the iptables classifier, in the mangle table of both iptables and ip6tables: the chain
//!   `tcc-X` and the rule `POSTROUTING -o X -j tcc-X`. A run builds the new rules in `tcc+X`,
//!   hooks that chain in, removes the old chain and its jump, then renames the new chain
//!   (`-E`), so classification never stops in between and re-running gives the same state.
//!
//! First match wins in the plan, but CLASSIFY does not stop rule traversal (the last CLASSIFY
//! wins). So a CLASSIFY rule is followed by the same criteria with `-j RETURN` unless no later
//! filter of the interface could match the same packet and pick another class
//! (`matchrel::disjoint`). RETURN leaves our chain only: POSTROUTING continues with whatever
//! other rules follow our jump.

use crate::dialect::iptables::print::{classify_rules, RuleLine, Tool};
use crate::dialect::nft::print::table_name;
use crate::dialect::sh::quote::{comment_text, sh_quote};
use crate::dialect::tc::print as tc;
use crate::plan::{Interface, Plan};
use std::fmt::Write;

/// How the script classifies packets into classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Classifier {
    /// `iptables -t mangle ... -j CLASSIFY` (and ip6tables), in tcc-owned chains.
    #[default]
    Iptables,
    /// `tc filter ... u32` on the root qdisc. Check `u32_expressible` first.
    U32,
}

/// Options of the `sh` backend.
#[derive(Debug, Clone, Default)]
pub struct ShOptions {
    pub classifier: Classifier,
    /// Emit the script that removes what the apply script makes, instead.
    pub teardown: bool,
    /// The source file's name, for the header comment.
    pub source_name: String,
}

pub use crate::dialect::owned::{chain_name, new_chain_name};

pub(crate) const FN_FAIL: &str = r#"tcc_fail() {
	echo "tcc: $*" >&2
	exit 1
}
"#;

pub(crate) const FN_DROP: &str = r#"# tcc_drop TOOL DEV CHAIN: remove the rules "POSTROUTING -o DEV -j CHAIN" and then CHAIN
# from TOOL's mangle table; quiet when they do not exist. Touches no other rule.
tcc_drop() {
	while "$1" -t mangle -D POSTROUTING -o "$2" -j "$3" 2>/dev/null; do :; done
	"$1" -t mangle -F "$3" 2>/dev/null || true
	"$1" -t mangle -X "$3" 2>/dev/null || true
}
"#;

pub(crate) const FN_DROP_ALL: &str = r#"# tcc_drop_all DEV: tcc_drop the chains tcc+DEV (an interrupted run's) and tcc-DEV with
# iptables and ip6tables, where installed.
tcc_drop_all() {
	for tcc_tool in iptables ip6tables; do
		if command -v "$tcc_tool" >/dev/null 2>&1; then
			tcc_drop "$tcc_tool" "$1" "tcc+$1"
			tcc_drop "$tcc_tool" "$1" "tcc-$1"
		fi
	done
}
"#;

pub(crate) const FN_DROP_NFT: &str = r#"# tcc_drop_nft TABLE: delete the nft table inet TABLE if nft is installed and it exists.
tcc_drop_nft() {
	if command -v nft >/dev/null 2>&1 && nft list table inet "$1" >/dev/null 2>&1; then
		nft delete table inet "$1"
	fi
}
"#;

pub(crate) const FN_DEL_ROOT: &str = r#"# tcc_del_root DEV HANDLE: delete the root qdisc of DEV if it is tcc's (an HTB with handle
# HANDLE); any other root qdisc is left alone.
tcc_del_root() {
	case "$(tc qdisc show dev "$1" root 2>/dev/null)" in
	"qdisc htb $2: root"*) tc qdisc del dev "$1" root ;;
	esac
}
"#;

/// The teardown of one interface, in every target's teardown script: tcc's nft table, its
/// mangle chains, its root qdisc (`dialect::owned`), nothing else.
pub(crate) fn teardown_iface(iface: &Interface, out: &mut String) {
    let dev = sh_quote(&iface.name);
    let _ = writeln!(out, "\n# {}", comment_text(&iface.name));
    let _ = writeln!(out, "tcc_drop_nft {}", table_name(&iface.name));
    let _ = writeln!(out, "tcc_drop_all {dev}");
    let _ = writeln!(
        out,
        "tcc_del_root {dev} {:x}",
        crate::dialect::owned::root_major(iface)
    );
    if iface.ingress.is_some() {
        super::ingress::teardown(iface, out);
    }
}

/// The shell functions of a teardown script.
pub(crate) fn teardown_functions(plan: &Plan) -> String {
    let mut fns = vec![FN_DROP, FN_DROP_ALL, FN_DROP_NFT, FN_DEL_ROOT];
    if super::ingress::any(plan) {
        fns.push(super::ingress::FN_DEL_INGRESS);
    }
    fns.join("\n")
}

/// The whole script for `plan`. Emitters take a checked plan and cannot fail.
pub fn sh(plan: &Plan, opts: &ShOptions) -> String {
    let classifier = match opts.classifier {
        Classifier::Iptables => "iptables CLASSIFY",
        Classifier::U32 => "tc u32 filters",
    };
    let mut out = header(plan, &opts.source_name, opts.teardown, classifier);
    // One buffer for the whole script, sized once: about 70 bytes a class and 140 a filter
    // (each filter is a comment and one or two rules) on top of the fixed functions.
    let (classes, filters) = plan.interfaces.iter().fold((0, 0), |(c, f), i| {
        (c + i.classes.len(), f + i.filters.len())
    });
    out.reserve(8192 + 70 * classes + 140 * filters);
    if opts.teardown {
        teardown(plan, &mut out);
    } else {
        apply(plan, opts, &mut out);
    }
    out
}

/// The first lines of every script: what made it, what it does, `set -eu`.
pub(crate) fn header(plan: &Plan, source_name: &str, teardown: bool, classifier: &str) -> String {
    let mut out = String::new();
    let names: Vec<String> = plan
        .interfaces
        .iter()
        .map(|i| comment_text(&i.name))
        .collect();
    let names = if names.is_empty() {
        "(no interfaces)".to_string()
    } else {
        names.join(", ")
    };
    out.push_str("#!/bin/sh\n");
    let _ = writeln!(
        out,
        "# Generated by tcc from {}. Do not edit: change the source and run tcc again.",
        comment_text(source_name)
    );
    if teardown {
        let _ = writeln!(out, "# Removes the tcc configuration of: {names}.");
        out.push_str("# Leaves every qdisc and firewall rule that tcc did not make alone.\n");
    } else {
        let _ = writeln!(out, "# Shapes: {names} (classifier: {classifier}).");
        out.push_str("# Re-running replaces the previous tcc configuration of these interfaces.\n");
    }
    out.push_str("set -eu\n\n");
    out
}

fn teardown(plan: &Plan, out: &mut String) {
    out.push_str(&teardown_functions(plan));
    for iface in &plan.interfaces {
        teardown_iface(iface, out);
    }
}

fn apply(plan: &Plan, opts: &ShOptions, out: &mut String) {
    let iptables = opts.classifier == Classifier::Iptables;
    out.push_str(FN_FAIL);
    out.push('\n');
    out.push_str(FN_DROP);
    if !iptables {
        out.push('\n');
        out.push_str(FN_DROP_ALL);
    }
    out.push('\n');
    out.push_str(FN_DROP_NFT);
    if super::ingress::any(plan) {
        out.push('\n');
        out.push_str(super::ingress::FN_IFB);
    }

    let mut cmds = vec!["ip", "tc"];
    if iptables {
        cmds.extend(["iptables", "ip6tables"]);
    }
    preflight(plan, &cmds, iptables, out);

    for iface in &plan.interfaces {
        let _ = writeln!(out, "\n# ---- {} ----", comment_text(&iface.name));
        classes(iface, out);
        if iptables {
            for tool in Tool::BOTH {
                iptables_rules(iface, tool, out);
            }
        } else {
            u32_filters(iface, out);
        }
        out.push_str(
            "# Remove an nft classification made by the nft target or tcc apply, if any.\n",
        );
        let _ = writeln!(out, "tcc_drop_nft {}", table_name(&iface.name));
        if let Some(tree) = &iface.ingress {
            super::ingress::device(iface, tree, out);
            classes(tree, out);
            if !tree.filters.is_empty() {
                out.push_str(
                    "# Classify with u32 filters on the ifb device's qdisc, first match wins.\n",
                );
                write_tc_lines(&tc::u32_filters(tree, false), out);
            }
            super::ingress::del_ingress_qdisc(iface, out);
            write_tc_lines(&super::ingress::redirect_lines(iface, tree), out);
        }
    }
}

/// The pre-flight checks: the commands exist, (with `mangle`) the mangle tables are usable,
/// the devices exist.
pub(crate) fn preflight(plan: &Plan, cmds: &[&str], mangle: bool, out: &mut String) {
    out.push_str("\n# Pre-flight: check everything before changing anything.\n");
    let _ = writeln!(out, "for tcc_cmd in {}; do", cmds.join(" "));
    out.push_str(
        "\tcommand -v \"$tcc_cmd\" >/dev/null 2>&1 || tcc_fail \"required command not found: $tcc_cmd\"\n",
    );
    out.push_str("done\n");
    if mangle {
        for tool in Tool::BOTH {
            let t = tool.cmd();
            let _ = writeln!(
                out,
                "{t} -t mangle -S POSTROUTING >/dev/null 2>&1 || tcc_fail \"cannot use the mangle table of {t} (not root?)\""
            );
        }
    }
    for iface in &plan.interfaces {
        let dev = sh_quote(&iface.name);
        let _ = writeln!(
            out,
            "ip link show dev {dev} >/dev/null 2>&1 || tcc_fail \"no such network device:\" {dev}"
        );
    }
    super::ingress::preflight(plan, out);
    super::queues::preflight(plan, out);
}

/// The root qdisc and the class tree (the plan lists parents before children).
fn classes(iface: &Interface, out: &mut String) {
    let dev = sh_quote(&iface.name);
    out.push_str(
        "# Replace the root qdisc (and with it all classes and tc filters) by an HTB tree.\n",
    );
    let _ = writeln!(out, "tc qdisc del dev {dev} root 2>/dev/null || true");
    let _ = writeln!(out, "tc {}", tc::qdisc_add(iface));
    write_tc_lines(&tc::class_adds(iface), out);
    let leaves = tc::leaf_qdisc_adds(iface);
    if !leaves.is_empty() {
        out.push_str("# Leaf queues (handle = the class's minor).\n");
        write_tc_lines(&leaves, out);
    }
}

/// tc lines as commands of the script.
fn write_tc_lines(lines: &[tc::Line], out: &mut String) {
    for line in lines {
        let _ = match line {
            tc::Line::Cmd(c) => writeln!(out, "tc {c}"),
            tc::Line::CmdWithNote(c, note) => writeln!(out, "tc {c}  # {note}"),
            tc::Line::Comment(c) => writeln!(out, "# {c}"),
        };
    }
}

/// The classifying chain of one interface for one tool, swapped in under its final name.
fn iptables_rules(iface: &Interface, tool: Tool, out: &mut String) {
    let t = tool.cmd();
    let dev = sh_quote(&iface.name);
    let chain = sh_quote(&chain_name(&iface.name));
    let new = sh_quote(&new_chain_name(&iface.name));
    let _ = writeln!(
        out,
        "# Classify with {t} (first match wins): build {new}, hook it in, drop the old {chain}, rename."
    );
    let _ = writeln!(out, "tcc_drop {t} {dev} {new}");
    let _ = writeln!(out, "{t} -t mangle -N {new}");
    for rule in classify_rules(iface, tool) {
        let _ = match rule {
            RuleLine::Comment(c) => writeln!(out, "# {c}"),
            RuleLine::Append(r) => writeln!(out, "{t} -t mangle -A {new} {r}"),
        };
    }
    let _ = writeln!(out, "{t} -t mangle -A POSTROUTING -o {dev} -j {new}");
    let _ = writeln!(out, "tcc_drop {t} {dev} {chain}");
    let _ = writeln!(out, "{t} -t mangle -E {new} {chain}");
}

/// u32 filters on the qdisc itself (`parent 1:`): filters on inner classes are never consulted.
/// Linear, in the plan's order, IPv4 at odd priorities and IPv6 at even ones, filters of one
/// protocol sharing a priority up to `tc::MAX_NODES` (see `tc::u32_filters`).
fn u32_filters(iface: &Interface, out: &mut String) {
    let dev = sh_quote(&iface.name);
    out.push_str("# Remove a previous iptables classification of this interface, if any.\n");
    let _ = writeln!(out, "tcc_drop_all {dev}");
    if iface.filters.is_empty() {
        return;
    }
    out.push_str(
        "# Classify with u32 filters on the qdisc, first match wins (lowest prio first).\n",
    );
    write_tc_lines(&tc::u32_filters(iface, false), out);
}
