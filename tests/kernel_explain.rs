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
use tcc::explain::to_shape;
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

/// How a plan was put into the kernel before `tcc explain --live` reads it back.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// `tcc compile --target T [--classifier C]`, the script run with `sh`.
    Script(&'static str, &'static str),
    /// `tcc apply --classifier C`.
    Apply(&'static str),
}

const VIAS: &[Via] = &[
    Via::Script("sh", "iptables"),
    Via::Script("sh", "u32"),
    Via::Script("batch", "iptables"),
    Via::Script("batch", "u32"),
    Via::Script("nft", "iptables"),
    Via::Apply("nft"),
    Via::Apply("u32"),
    Via::Apply("iptables"),
];

/// What the kernel can tell apart: HTB's prio 0 is its default, so `prio 0` and no prio
/// build the same class.
fn kernel_view(mut plan: tcc::plan::Plan) -> tcc::plan::Plan {
    fn no_prio_0(classes: &mut [tcc::plan::Class]) {
        for c in classes {
            if c.prio == Some(0) {
                c.prio = None;
            }
        }
    }
    for i in &mut plan.interfaces {
        no_prio_0(&mut i.classes);
        if let Some(t) = i.ingress.as_deref_mut() {
            no_prio_0(&mut t.classes);
        }
    }
    plan
}

fn tcc_bin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tcc"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Every example of `corpus/valid`, put into the kernel by every target and classifier (and
/// by `tcc apply`), reads back with `tcc explain --live` as the plan it came from: `--to
/// shape` exits 0 and its import is equivalent. The one target that cannot come back whole
/// (the batch target's u32 hash tables) makes the import exit 1 and name what it lost.
#[test]
fn live_state_after_every_target_reads_back_as_the_plan() {
    if !need_root() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/valid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let (mut equal, mut lossy) = (0, 0);
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        // A site file has a plan per host (tests/kernel_fleet.rs); leaf queues this kernel
        // lacks are refusals (tests/kernel_leafq.rs).
        if common::is_site(&text) {
            continue;
        }
        let (plan, diags) = tcc::analyze(0, &text);
        assert!(!diags.has_errors(), "{}", path.display());
        if !common::kernel::kernel_takes(&plan) {
            continue;
        }
        let names: Vec<&str> = plan.interfaces.iter().map(|i| i.name.as_str()).collect();
        let p = path.to_str().unwrap();
        for via in VIAS {
            let ns = Bed::single(&names);
            let mut hashed = false;
            match *via {
                Via::Script(target, classifier) => {
                    let out =
                        tcc_bin(&["compile", p, "--target", target, "--classifier", classifier]);
                    if !out.status.success() {
                        // What u32 cannot express is refused at compile time.
                        assert_eq!(classifier, "u32", "{p} {via:?}");
                        continue;
                    }
                    let script = String::from_utf8(out.stdout).unwrap();
                    hashed = script.contains(" divisor ");
                    ns.apply(&script);
                }
                Via::Apply(classifier) => {
                    let out = ns.tcc(&["apply", p, "--classifier", classifier]);
                    if !out.status.success() && classifier == "u32" {
                        continue;
                    }
                    assert!(
                        out.status.success(),
                        "{p} {via:?}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
            let mut args = vec!["explain", "--live", "--to", "shape"];
            for n in &names {
                args.extend(["--interface", n]);
            }
            let out = ns.tcc(&args);
            let shape = String::from_utf8(out.stdout).unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            let live_script =
                String::from_utf8(ns.tcc(&["explain", "--live", "--format", "script"]).stdout)
                    .unwrap();
            let ctx = format!("{p} {via:?}\n{stderr}\n{live_script}");
            if hashed {
                assert_eq!(out.status.code(), Some(1), "{ctx}");
                assert!(stderr.contains("is not equivalent"), "{ctx}");
                assert!(stderr.contains("u32 option `ht`"), "{ctx}");
                lossy += 1;
                continue;
            }
            assert_eq!(out.status.code(), Some(0), "{ctx}");
            assert!(stderr.contains("checked:"), "{ctx}");
            let (back, d) = tcc::analyze(0, &shape);
            assert!(!d.has_errors(), "{ctx}\n{shape}");
            if let Err(e) = to_shape::equivalent(&kernel_view(plan.clone()), &kernel_view(back)) {
                panic!("{ctx}\n{shape}\n{e}");
            }
            equal += 1;
        }
    }
    eprintln!("{equal} equivalent, {lossy} lost (hash tables)");
    assert!(equal >= 60 && lossy >= 1, "{equal} {lossy}");
}

/// A setup tcc does not model — a TBF root on one device, an ingress qdisc with a redirecting
/// u32 filter and a hand-made u32 hash table on another — is described with each piece ending
/// "not modelled", and the import names every lost piece and exits 1.
#[test]
fn foreign_live_setup_ends_not_modelled() {
    if !need_root() {
        return;
    }
    let ns = Bed::single(&["ethA", "ethB"]);
    ns.apply(
        "set -e
tc qdisc add dev ethA root handle 1: tbf rate 1mbit burst 10k limit 20k
tc qdisc add dev ethB root handle 1: htb default 20
tc class add dev ethB parent 1: classid 1:20 htb rate 1mbit
tc filter add dev ethB parent 1: protocol ip prio 1 handle 5: u32 divisor 16
tc filter add dev ethB parent 1: protocol ip prio 1 u32 ht 800:: match ip dst 10.0.0.0/8 hashkey mask 0x0000000f at 16 link 5:
tc qdisc add dev ethB ingress
tc filter add dev ethB parent ffff: protocol ip prio 1 u32 match ip src 10.0.0.0/8 action mirred egress redirect dev ethA
",
    );
    let out = ns.tcc(&["explain", "--live"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}{err}");
    assert!(text.contains("not modelled"), "{text}");
    for what in [
        "a root qdisc `tbf rate 1mbit",
        "u32 option `divisor`",
        "u32 option `link`",
        "the redirect applies to the packets a `u32 match ip src 10.0.0.0/8` filter picks",
    ] {
        assert!(err.contains(what), "{what}:\n{err}");
    }
    let out = ns.tcc(&["explain", "--live", "--to", "shape"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is not equivalent"), "{err}");
    // Only the interface asked for is read.
    let out = ns.tcc(&[
        "explain",
        "--live",
        "--interface",
        "ethA",
        "--format",
        "script",
    ]);
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(
        script.contains("dev ethA root handle 1: tbf rate 1mbit"),
        "{script}"
    );
    assert!(!script.contains("ethB"), "{script}");
    let out = ns.tcc(&["explain", "--live", "--interface", "nosuch0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no interface `nosuch0`"));
}
