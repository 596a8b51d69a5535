//! Run generated scripts against the real kernel, in throw-away network namespaces.
//!
//! Namespace A holds `v0` (the shaped interface, 10.99.0.1/24), B holds its veth peer `v1`.
//! Each check sends ONE UDP datagram from A and looks at which leaf class's packet counter
//! went up (permanent neighbour entries and disabled IPv6 keep other packets off the link).
//!
//! Needs root; prints "skipped: needs root" otherwise, and fails instead under `CI=true`.

mod common;

use common::kernel::{
    add_foreign_iptables, assert_foreign_iptables_intact, need_root, parse_rate, Bed,
};
use std::collections::BTreeMap;
use tcc::emit::{sh, Classifier, ShOptions};
use tcc::plan::Plan;

/// The bed of these tests: the shaped interface is `v0`, with `others` beside it in A.
fn bed(others: &[&str]) -> Bed {
    Bed::new("v0", others)
}

/// Which leaf's packet counter one datagram moved (exactly one must move, by one).
fn class_of_udp(bed: &Bed, plan: &Plan, dst: &str, dport: u16, sport: u16) -> String {
    let leaves: Vec<String> = leaf_ids(plan);
    let before = bed.classes("v0");
    bed.send(false, dst, dport, sport, 0, 0);
    // The datagram is dequeued asynchronously; give it a moment.
    let mut after = bed.classes("v0");
    for _ in 0..50 {
        let moved = leaves.iter().any(|l| after[l].packets != before[l].packets);
        if moved {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        after = bed.classes("v0");
    }
    let moved: Vec<(String, u64)> = leaves
        .iter()
        .filter(|l| after[*l].packets != before[*l].packets)
        .map(|l| (l.clone(), after[l].packets - before[l].packets))
        .collect();
    assert_eq!(
        moved.len(),
        1,
        "udp to {dst}:{dport} from {sport}: leaves moved {moved:?}"
    );
    assert_eq!(
        moved[0].1, 1,
        "udp to {dst}:{dport} from {sport}: {moved:?}"
    );
    moved[0].0.clone()
}

/// Everything tcc could have changed, without counters: classes, qdiscs, filters, mangle.
fn state(bed: &Bed) -> String {
    let mut s = String::new();
    for (id, c) in bed.classes("v0") {
        s += &format!(
            "class {id} parent {} rate {} ceil {}\n",
            c.parent, c.rate, c.ceil
        );
    }
    s += &bed.a_run(&["tc", "qdisc", "show", "dev", "v0"]);
    s += &bed.a_run(&["tc", "filter", "show", "dev", "v0"]);
    for tool in ["iptables-save", "ip6tables-save"] {
        for line in bed.a_run(&[tool, "-t", "mangle"]).lines() {
            if line.starts_with('#') {
                continue;
            }
            // Chain lines carry counters: ":POSTROUTING ACCEPT [12:345]".
            let line = line.split(" [").next().unwrap();
            s += line;
            s.push('\n');
        }
    }
    s
}

fn mangle(bed: &Bed, tool: &str) -> String {
    bed.a_run(&[tool, "-t", "mangle"])
}

fn leaf_ids(plan: &Plan) -> Vec<String> {
    let iface = &plan.interfaces[0];
    (0..iface.classes.len())
        .filter(|&i| iface.is_leaf(i))
        .map(|i| iface.classid(i))
        .collect()
}

/// The kernel's classes must be exactly the plan's: ids, parents, rate, ceil.
fn assert_classes_match(bed: &Bed, plan: &Plan) {
    let iface = &plan.interfaces[0];
    let live = bed.classes("v0");
    let mut want = BTreeMap::new();
    for (i, c) in iface.classes.iter().enumerate() {
        let parent = match c.parent {
            Some(p) => iface.classid(p),
            None => "root".to_string(),
        };
        want.insert(iface.classid(i), (parent, c.rate, c.ceil));
    }
    let got: BTreeMap<String, (String, u64, u64)> = live
        .into_iter()
        .map(|(id, c)| (id, (c.parent, c.rate, c.ceil)))
        .collect();
    assert_eq!(got, want);
    let qdisc: serde_json::Value =
        serde_json::from_str(&bed.a_run(&["tc", "-j", "qdisc", "show", "dev", "v0"])).unwrap();
    let root = &qdisc[0];
    assert_eq!(root["kind"], "htb");
    assert_eq!(root["handle"], "1:");
    let default = iface
        .default
        .map(|d| format!("{:#x}", iface.classes[d].minor));
    assert_eq!(
        root["options"]["default"].as_str().map(String::from),
        default
    );
}

fn script(plan: &Plan, classifier: Classifier, teardown: bool) -> String {
    sh(
        plan,
        &ShOptions {
            classifier,
            teardown,
            source_name: "kernel-test".into(),
        },
    )
}

fn add_foreign_rules(bed: &Bed) {
    add_foreign_iptables(|args| bed.a_run(args));
}

fn assert_foreign_rules_intact(bed: &Bed) {
    assert_foreign_iptables_intact(|args| bed.a_run(args), "");
}

/// The checks of the kernel plans: (dst, dport, sport, expected class).
const KERNEL_PACKETS: &[(&str, u16, u16, &str)] = &[
    // Matches filter 1 (ports) and filter 2 (host): first match wins.
    ("10.99.0.3", 5001, 40000, "1:10"),
    ("10.99.0.3", 6000, 40000, "1:11"),
    ("10.99.0.2", 6000, 7000, "1:12"),
    // Not classified: the default class.
    ("10.99.0.4", 6000, 7000, "1:1a"),
    ("10.99.0.2", 6000, 40001, "1:1a"),
];

fn check_packets(bed: &Bed, plan: &Plan, packets: &[(&str, u16, u16, &str)]) {
    for &(dst, dport, sport, want) in packets {
        assert_eq!(
            class_of_udp(bed, plan, dst, dport, sport),
            want,
            "udp to {dst}:{dport} from port {sport}"
        );
    }
}

#[test]
fn iptables_script_shapes_classifies_is_idempotent_and_tears_down() {
    if !need_root() {
        return;
    }
    let bed = bed(&[]);
    let plan = common::kernel_plan();
    add_foreign_rules(&bed);

    bed.apply(&script(&plan, Classifier::Iptables, false));
    assert_classes_match(&bed, &plan);
    assert_foreign_rules_intact(&bed);
    check_packets(&bed, &plan, KERNEL_PACKETS);
    // The negated list: excluded by its second net too.
    check_packets(&bed, &plan, &[("10.99.0.5", 6000, 7000, "1:1a")]);

    let first = state(&bed);
    assert!(first.contains("-A POSTROUTING -o v0 -j tcc-v0"), "{first}");
    assert!(!first.contains("tcc+v0"), "{first}");
    bed.apply(&script(&plan, Classifier::Iptables, false));
    assert_eq!(first, state(&bed), "second run changed the state");
    assert_foreign_rules_intact(&bed);
    check_packets(&bed, &plan, &KERNEL_PACKETS[..1]);

    bed.apply(&script(&plan, Classifier::Iptables, true));
    let qdiscs = bed.a_run(&["tc", "qdisc", "show", "dev", "v0"]);
    assert!(!qdiscs.contains("htb"), "qdisc left behind: {qdiscs}");
    for tool in ["iptables-save", "ip6tables-save"] {
        let m = mangle(&bed, tool);
        assert!(!m.contains("tcc"), "{tool}: tcc rules left behind:\n{m}");
    }
    assert_foreign_rules_intact(&bed);
    // Teardown of an already clean interface is harmless.
    bed.apply(&script(&plan, Classifier::Iptables, true));
}

#[test]
fn u32_script_classifies_at_the_qdisc_and_replaces_iptables_config() {
    if !need_root() {
        return;
    }
    let bed = bed(&[]);
    add_foreign_rules(&bed);
    // A previous run with the iptables classifier must not survive the switch to u32.
    bed.apply(&script(&common::kernel_plan(), Classifier::Iptables, false));
    let plan = common::kernel_plan_u32();
    bed.apply(&script(&plan, Classifier::U32, false));
    for tool in ["iptables-save", "ip6tables-save"] {
        let m = mangle(&bed, tool);
        assert!(!m.contains("tcc"), "{tool}: stale tcc rules:\n{m}");
    }
    assert_classes_match(&bed, &plan);
    check_packets(&bed, &plan, KERNEL_PACKETS);

    let first = state(&bed);
    bed.apply(&script(&plan, Classifier::U32, false));
    assert_eq!(first, state(&bed), "second run changed the state");
    check_packets(&bed, &plan, &KERNEL_PACKETS[..1]);

    bed.apply(&script(&plan, Classifier::U32, true));
    let filters = bed.a_run(&["tc", "filter", "show", "dev", "v0"]);
    assert!(filters.trim().is_empty(), "filters left: {filters}");
    assert_foreign_rules_intact(&bed);
}

#[test]
fn rate_parsing() {
    assert_eq!(parse_rate("10Mbit"), 10_000_000);
    assert_eq!(parse_rate("1Gbit"), 1_000_000_000);
    assert_eq!(parse_rate("1500Kbit"), 1_500_000);
    assert_eq!(parse_rate("12345bit"), 12_345);
}

/// Every test plan's scripts (iptables, u32 where expressible, teardown) are accepted by the
/// real tc / iptables / ip6tables, and teardown leaves nothing of tcc behind.
#[test]
fn every_test_plan_applies_and_tears_down() {
    if !need_root() {
        return;
    }
    for (name, plan) in common::all_plans() {
        let others: Vec<&str> = plan
            .interfaces
            .iter()
            .map(|i| i.name.as_str())
            .filter(|n| *n != "v0")
            .collect();
        let bed = bed(&others);
        let mut classifiers = vec![Classifier::Iptables];
        if tcc::emit::u32_expressible(&plan).items.is_empty() {
            classifiers.push(Classifier::U32);
        }
        for classifier in classifiers {
            bed.apply(&script(&plan, classifier, false));
            for iface in &plan.interfaces {
                let classes = bed.a_run(&["tc", "class", "show", "dev", &iface.name]);
                assert_eq!(
                    classes
                        .lines()
                        .filter(|l| l.starts_with("class htb"))
                        .count(),
                    iface.classes.len(),
                    "{name}/{}: {classes}",
                    iface.name
                );
            }
            bed.apply(&script(&plan, classifier, true));
            for tool in ["iptables-save", "ip6tables-save"] {
                let m = mangle(&bed, tool);
                assert!(!m.contains("tcc"), "{name}: {tool} left:\n{m}");
            }
            for iface in &plan.interfaces {
                let q = bed.a_run(&["tc", "qdisc", "show", "dev", &iface.name]);
                assert!(
                    !q.contains("htb"),
                    "{name}: qdisc left on {}: {q}",
                    iface.name
                );
            }
        }
    }
}
