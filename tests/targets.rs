//! The nft and batch targets without a kernel: snapshots of every corpus example's scripts
//! (review them by reading `tests/snapshots/targets__*.snap`), shellcheck of every script,
//! the command line (`--target`, `--emit-dir`), and the layout rules (maps, hash tables).

mod common;

use std::process::Command;
use tcc::emit::{self, Classifier, ShOptions};
use tcc::plan::Plan;

fn opts(classifier: Classifier, teardown: bool, name: &str) -> ShOptions {
    ShOptions {
        classifier,
        teardown,
        source_name: name.to_string(),
    }
}

fn corpus() -> Vec<(String, Plan)> {
    common::corpus_plans()
}

/// Every script of the new targets for `plan`, by variant name.
fn scripts(plan: &Plan, name: &str) -> Vec<(&'static str, String)> {
    let mut out = vec![
        (
            "nft",
            emit::nft(plan, &opts(Classifier::Iptables, false, name)).script,
        ),
        (
            "batch (iptables)",
            emit::batch(plan, &opts(Classifier::Iptables, false, name)).script,
        ),
    ];
    if emit::u32_expressible(plan).items.is_empty() {
        out.push((
            "batch (u32)",
            emit::batch(plan, &opts(Classifier::U32, false, name)).script,
        ));
    }
    out.push((
        "teardown (nft and batch)",
        emit::nft(plan, &opts(Classifier::Iptables, true, name)).script,
    ));
    out
}

#[test]
fn corpus_scripts_match_snapshots() {
    insta::glob!("../corpus/valid", "*.shape", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let (site, diags) = tcc::analyze_site(0, &text);
        assert!(!diags.has_errors());
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut out = String::new();
        // A site file: every host's scripts under its name.
        for host in &site.hosts {
            if let Some(h) = &host.name {
                out += &format!("## host {h}\n");
            }
            for (variant, script) in scripts(&host.plan, &name) {
                out += &format!("### {variant}\n{script}\n");
            }
        }
        insta::assert_snapshot!(out);
    });
}

#[test]
fn teardown_is_the_same_for_both_targets() {
    for (name, plan) in corpus() {
        let a = emit::nft(&plan, &opts(Classifier::Iptables, true, &name));
        let b = emit::batch(&plan, &opts(Classifier::U32, true, &name));
        assert_eq!(a.script.replace("nftables meta priority", ""), {
            b.script.replace("tc u32 filters, hashed per host", "")
        });
    }
}

#[test]
fn every_script_passes_shellcheck() {
    if !common::have_shellcheck() {
        return;
    }
    let mut plans = corpus();
    plans.extend(
        common::all_plans()
            .into_iter()
            .map(|(n, p)| (n.to_string(), p)),
    );
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, plan) in &plans {
        for (variant, script) in scripts(plan, name) {
            checked += 1;
            if let Err(e) = common::shellcheck(&script) {
                failures.push(format!("{name} ({variant}):\n{e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("shellcheck: {checked} scripts clean");
}

#[test]
fn table_names_are_nft_identifiers_and_distinct() {
    use tcc::dialect::nft::print::table_name;
    assert_eq!(table_name("eth1"), "tcc_eth1");
    let a = table_name("eth-1");
    let b = table_name("eth_1");
    let c = table_name("eth.1");
    assert!(a.starts_with("tcc_eth_1_"), "{a}");
    assert_ne!(a, b);
    assert_ne!(a, c);
    for n in [&a, &b, &c, &table_name("wan.10@x+y")] {
        assert!(
            n.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_'),
            "{n}"
        );
    }
}

/// A loop's filters become one map; a repeated key keeps its first class (first match wins);
/// a filter of another shape ends the run and keeps its place.
#[test]
fn nft_maps_keep_first_match_wins() {
    use common::IfaceBuilder;
    let plan = common::plan(vec![IfaceBuilder::new("eth1")
        .class("top", 1, None, 100, 100)
        .class("a", 0x10, Some("top"), 10, 100)
        .class("b", 0x11, Some("top"), 10, 100)
        .class("c", 0x12, Some("top"), 10, 100)
        .filter("tcp dst=10.0.0.1 dport=80", "a")
        .filter("tcp dst=10.0.0.2 dport=81", "b")
        .filter("tcp dst=10.0.0.1 dport=80", "c")
        .filter("udp dst=10.0.0.3", "c")
        .filter("tcp dst=10.0.0.4 dport=82", "a")
        .build()]);
    let rules = tcc::dialect::nft::print::ruleset(&plan);
    assert!(
        rules.contains(
            "meta l4proto tcp meta priority set ip daddr . tcp dport map { 10.0.0.1 . 80 : 1:10, 10.0.0.2 . 81 : 1:11 } return"
        ),
        "{rules}"
    );
    let map = rules.find("map {").unwrap();
    let udp = rules.find("meta l4proto udp ip daddr 10.0.0.3").unwrap();
    let last = rules.find("ip daddr 10.0.0.4").unwrap();
    assert!(map < udp && udp < last, "{rules}");
}

/// Hashed u32 filters: the hash table holds the run, filters sharing a bucket keep their
/// order, and a filter that is not a host test stays linear at its own later priority.
#[test]
fn u32_hash_table_layout() {
    use common::IfaceBuilder;
    let mut b = IfaceBuilder::new("eth1")
        .class("top", 1, None, 100, 100)
        .class("x", 0x10, Some("top"), 10, 100)
        .class("y", 0x11, Some("top"), 10, 100);
    // Even hosts share bucket 7; odd ones have buckets of their own.
    let octet = |h: u32| if h % 2 == 0 { 7 } else { 8 + h };
    for h in 0..9 {
        b = b.filter(
            &format!("dst=10.0.{h}.{}", octet(h)),
            if h % 2 == 0 { "x" } else { "y" },
        );
    }
    b = b.filter("udp dport=53", "x");
    b = b.filter("dst=10.0.0.8", "y");
    let plan = common::plan(vec![b.build()]);
    let text = emit::batch::tree_batch(&plan, true);
    let hashed: Vec<&str> = text.lines().filter(|l| l.contains(" u32 ht 10:")).collect();
    assert_eq!(hashed.len(), 9, "{text}");
    for (h, line) in hashed.iter().enumerate() {
        let h = h as u32;
        assert!(
            line.contains(&format!(
                "ht 10:{:x}: match ip dst 10.0.{h}.{}/32",
                octet(h),
                octet(h)
            )),
            "{line}"
        );
    }
    // The rest of the IPv4 filters share the next (odd) priority, in plan order; IPv6 takes
    // the even ones.
    let udp = text
        .find(
            "protocol ip prio 3 u32 match ip protocol 17 0xff match ip dport 53 0xffff flowid 1:10",
        )
        .expect(&text);
    let host = text
        .find("protocol ip prio 3 u32 match ip dst 10.0.0.8/32 flowid 1:11")
        .expect(&text);
    assert!(udp < host);
    assert!(text.contains("protocol ipv6 prio 2 u32 match ip6 protocol 17 0xff"));
    // The linear layout of the same plan has no hash table.
    let linear = tcc::dialect::tc::print::u32_filters(&plan.interfaces[0], false);
    assert!(!format!("{linear:?}").contains("divisor"));
}

#[test]
fn cli_targets_and_emit_dir() {
    let dir = tempfile::tempdir().unwrap();
    let tcc = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tcc"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let parts = dir.path().join("parts");
    let out = dir.path().join("apply.sh");
    let o = tcc(&[
        "compile",
        "corpus/valid/per-host.shape",
        "--target",
        "nft",
        "-o",
        out.to_str().unwrap(),
        "--emit-dir",
        parts.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
    let script = std::fs::read_to_string(&out).unwrap();
    let nft = std::fs::read_to_string(parts.join("rules.nft")).unwrap();
    let tree = std::fs::read_to_string(parts.join("tree.batch")).unwrap();
    assert!(script.contains(&nft) && script.contains(&tree));
    assert!(nft.contains("table inet tcc_eth1 {"));

    let parts = dir.path().join("b");
    let o = tcc(&[
        "compile",
        "corpus/valid/seed-example-3.shape",
        "--target",
        "batch",
        "--emit-dir",
        parts.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
    let v4 = std::fs::read_to_string(parts.join("rules.iptables")).unwrap();
    assert!(v4.starts_with("*mangle\n:tcc-eth1 - [0:0]\n") && v4.ends_with("COMMIT\n"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("iptables-restore --noflush"));

    // Misuse is a usage error with a message.
    let o = tcc(&[
        "compile",
        "corpus/valid/seed-example-1.shape",
        "--target",
        "nft",
        "--classifier",
        "u32",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--target nft"));
    let o = tcc(&[
        "compile",
        "corpus/valid/seed-example-1.shape",
        "--emit-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--emit-dir"));
}

/// A priority holds at most `MAX_NODES` u32 nodes (the kernel numbers them from 0x800 to
/// 0xfff); longer lists continue at the next priority of their protocol, in order.
#[test]
fn u32_linear_chunks_stay_under_the_node_limit() {
    use common::IfaceBuilder;
    use tcc::dialect::tc::print::{u32_filters, Line, MAX_NODES};
    let mut b = IfaceBuilder::new("eth1")
        .class("top", 1, None, 100, 100)
        .class("x", 0x10, Some("top"), 10, 100);
    for p in 0..2500 {
        b = b.filter(&format!("tcp dst=10.0.0.0/8 dport={}", 1000 + p), "x");
    }
    let plan = common::plan(vec![b.build()]);
    for hashed in [false, true] {
        let lines = u32_filters(&plan.interfaces[0], hashed);
        let cmds: Vec<&String> = lines
            .iter()
            .filter_map(|l| match l {
                Line::Cmd(c) => Some(c),
                _ => None,
            })
            .collect();
        let prios: Vec<&str> = cmds
            .iter()
            .map(|c| c.split(" prio ").nth(1).unwrap().split(' ').next().unwrap())
            .collect();
        assert_eq!(prios.len(), 2500);
        assert!(prios[..MAX_NODES].iter().all(|p| *p == "1"));
        assert!(prios[MAX_NODES..].iter().all(|p| *p == "3"));
        assert!(cmds[2499].contains("match ip dport 3499 0xffff"));
    }
}
