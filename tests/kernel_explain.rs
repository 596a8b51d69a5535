//! `tcc explain` against the kernel: each corpus script that the kernel here can run (no sfq,
//! no police action) is applied as written inside a throwaway network namespace, and the HTB
//! tree the kernel then holds (classids, parents, rates, ceils, prio, quantum, the default) must
//! be the tree `tcc explain` read from the script. This checks the reader's tc semantics (hex
//! ids, `default 12` = 0x12, units, parents) against tc itself, not against our own emitter.
//!
//! Needs root: elsewhere it prints a visible skip, and under `CI=true` a skip is a failure.

mod common;

use common::kernel::{need_root, parse_rate, Bed};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use tcc::plan::Interface;

fn live_classes(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("class htb")) {
        let w: Vec<&str> = line.split_whitespace().collect();
        let after = |k: &str| {
            w.iter()
                .position(|x| *x == k)
                .map(|i| w[i + 1])
                .unwrap_or("-")
        };
        let parent = if w.contains(&"root") {
            "root"
        } else {
            after("parent")
        };
        out.insert(
            w[2].to_string(),
            format!(
                "parent {parent} prio {} quantum {} rate {} ceil {}",
                after("prio"),
                after("quantum"),
                parse_rate(after("rate")),
                parse_rate(after("ceil"))
            ),
        );
    }
    out
}

fn planned_classes(iface: &Interface) -> BTreeMap<String, String> {
    let leaves = iface.leaves();
    (0..iface.classes.len())
        .map(|i| {
            let c = &iface.classes[i];
            let parent = c.parent.map_or("root".to_string(), |p| iface.classid(p));
            let r2q_quantum = (c.rate / 8 / iface.r2q as u64).clamp(1000, 200_000);
            let quantum = c.quantum.unwrap_or(r2q_quantum);
            let (prio, quantum) = if leaves[i] {
                (c.prio.unwrap_or(0).to_string(), quantum.to_string())
            } else {
                ("-".into(), "-".into())
            };
            (
                iface.classid(i),
                format!(
                    "parent {parent} prio {prio} quantum {quantum} rate {} ceil {}",
                    c.rate, c.ceil
                ),
            )
        })
        .collect()
}

#[test]
fn corpus_scripts_build_the_tree_explain_reads() {
    if !need_root() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/scripts");
    // The scripts this kernel can run as written (sfq and police are absent here).
    for (name, args) in [
        ("seed-example-1.sh", vec![]),
        ("seed-example-2.sh", vec![]),
        ("seed-example-3.sh", vec![]),
        ("isp-customers.sh", vec!["start"]),
    ] {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let ex = tcc::explain::explain(0, &text, &args);
        assert!(!ex.plan.interfaces.is_empty(), "{name}");
        let names: Vec<&str> = ex.plan.interfaces.iter().map(|i| i.name.as_str()).collect();
        let ns = Bed::single(&names);
        // Rules in a syntax iptables 1.8 refuses (S0006) fail when the script runs; the guide's
        // scripts have no `set -e`, so they carry on without them.
        let refused = ex
            .diags
            .items
            .iter()
            .filter(|d| d.code == tcc::diagnostic::Code::ObsoleteSyntax)
            .count();
        let mut cmd = vec![
            "ip",
            "netns",
            "exec",
            ns.a.as_str(),
            "sh",
            path.to_str().unwrap(),
        ];
        cmd.extend(args.iter().map(String::as_str));
        let status = Command::new(cmd[0])
            .args(&cmd[1..])
            .output()
            .unwrap()
            .status;
        assert_eq!(
            status.success(),
            refused == 0,
            "{name}: exit status {status}"
        );
        for iface in &ex.plan.interfaces {
            let live = live_classes(&ns.a_run(&["tc", "-d", "class", "show", "dev", &iface.name]));
            assert_eq!(
                live,
                planned_classes(iface),
                "{name}: classes of {}",
                iface.name
            );
            let q: serde_json::Value =
                serde_json::from_str(&ns.a_run(&["tc", "-j", "qdisc", "show", "dev", &iface.name]))
                    .unwrap();
            let root = q
                .as_array()
                .unwrap()
                .iter()
                .find(|q| q["root"] == true)
                .expect("a root qdisc");
            assert_eq!(root["handle"], format!("{:x}:", iface.handle), "{name}");
            let default = iface
                .default
                .map(|d| format!("{:#x}", iface.classes[d].minor));
            let live_default = root["options"]["default"]
                .as_str()
                .filter(|d| *d != "0")
                .map(String::from);
            assert_eq!(live_default, default, "{name}: default");
        }
        // The CLASSIFY rules the script left are the ones explain counted.
        let rules = ns.a_run(&["iptables", "-t", "mangle", "-S", "POSTROUTING"]);
        let classify = rules.lines().filter(|l| l.contains("CLASSIFY")).count();
        let counted: usize = ex
            .leaves
            .iter()
            .filter(|l| l.starts_with("iptables mangle chain POSTROUTING with "))
            .map(|l| {
                l.trim_start_matches("iptables mangle chain POSTROUTING with ")
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse::<usize>()
                    .unwrap()
            })
            .sum();
        assert_eq!(
            classify,
            counted - refused,
            "{name}: CLASSIFY rules\n{rules}"
        );
    }
}
