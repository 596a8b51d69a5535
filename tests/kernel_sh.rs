//! Run generated scripts against the real kernel, in throw-away network namespaces.
//!
//! Namespace A holds `v0` (the shaped interface, 10.99.0.1/24), B holds its veth peer `v1`.
//! Each check sends ONE UDP datagram from A and looks at which leaf class's packet counter
//! went up (permanent neighbour entries and disabled IPv6 keep other packets off the link).
//!
//! Needs root; prints "skipped: needs root" otherwise, and fails instead under `CI=true`.

mod common;

use common::kernel::{
    add_foreign_iptables, assert_foreign_iptables_intact, need_root, parse_rate, parse_tc_classes,
    run, TcClass,
};
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use tcc::emit::{sh, Classifier, ShOptions};
use tcc::plan::Plan;

/// Two namespaces joined by a veth pair; deleted on drop, even when a test panics.
struct TestBed {
    a: String,
    b: String,
}

impl TestBed {
    fn new() -> TestBed {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}-{n}", std::process::id());
        let bed = TestBed {
            a: format!("tcc-kt-a-{id}"),
            b: format!("tcc-kt-b-{id}"),
        };
        run(&["ip", "netns", "add", &bed.a]);
        run(&["ip", "netns", "add", &bed.b]);
        run(&[
            "ip", "link", "add", "v0", "netns", &bed.a, "type", "veth", "peer", "name", "v1",
            "netns", &bed.b,
        ]);
        bed.a_run(&["sysctl", "-qw", "net.ipv6.conf.v0.disable_ipv6=1"]);
        run(&[
            "ip",
            "netns",
            "exec",
            &bed.b,
            "sysctl",
            "-qw",
            "net.ipv6.conf.v1.disable_ipv6=1",
        ]);
        run(&[
            "ip",
            "-n",
            &bed.a,
            "link",
            "set",
            "v0",
            "address",
            "02:00:00:00:00:01",
        ]);
        run(&[
            "ip",
            "-n",
            &bed.b,
            "link",
            "set",
            "v1",
            "address",
            "02:00:00:00:00:02",
        ]);
        run(&[
            "ip",
            "-n",
            &bed.a,
            "addr",
            "add",
            "10.99.0.1/24",
            "dev",
            "v0",
        ]);
        run(&[
            "ip",
            "-n",
            &bed.b,
            "addr",
            "add",
            "10.99.0.2/24",
            "dev",
            "v1",
        ]);
        for (ns, dev) in [(&bed.a, "v0"), (&bed.b, "v1")] {
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        for host in 2..=5 {
            run(&[
                "ip",
                "-n",
                &bed.a,
                "neigh",
                "replace",
                &format!("10.99.0.{host}"),
                "lladdr",
                "02:00:00:00:00:02",
                "dev",
                "v0",
                "nud",
                "permanent",
            ]);
        }
        // B answers closed ports with ICMP: it must not ask A's address (A's ARP reply would
        // be counted in A's classes).
        run(&[
            "ip",
            "-n",
            &bed.b,
            "neigh",
            "replace",
            "10.99.0.1",
            "lladdr",
            "02:00:00:00:00:01",
            "dev",
            "v1",
            "nud",
            "permanent",
        ]);
        bed
    }

    fn a_run(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.a];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Write `script` to a file and run it with `sh` inside A.
    fn apply(&self, script: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tcc.sh");
        std::fs::write(&path, script).unwrap();
        self.a_run(&["sh", path.to_str().unwrap()]);
    }

    /// Send one UDP datagram from A.
    fn send_udp(&self, dst: &str, dport: u16, sport: u16) {
        let py = "import socket,sys\n\
                  s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
                  s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
                  s.bind(('10.99.0.1',int(sys.argv[3])))\n\
                  s.sendto(b'tcc',(sys.argv[1],int(sys.argv[2])))\n";
        self.a_run(&[
            "python3",
            "-c",
            py,
            dst,
            &dport.to_string(),
            &sport.to_string(),
        ]);
    }

    /// The classes of v0 as read back from `tc -s class show`.
    fn classes(&self) -> BTreeMap<String, TcClass> {
        parse_tc_classes(&self.a_run(&["tc", "-s", "class", "show", "dev", "v0"]))
    }

    /// Which leaf's packet counter one datagram moved (exactly one must move, by one).
    fn class_of_udp(&self, plan: &Plan, dst: &str, dport: u16, sport: u16) -> String {
        let leaves: Vec<String> = leaf_ids(plan);
        let before = self.classes();
        self.send_udp(dst, dport, sport);
        // The datagram is dequeued asynchronously; give it a moment.
        let mut after = self.classes();
        for _ in 0..50 {
            let moved = leaves.iter().any(|l| after[l].packets != before[l].packets);
            if moved {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            after = self.classes();
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
    fn state(&self) -> String {
        let mut s = String::new();
        for (id, c) in self.classes() {
            s += &format!(
                "class {id} parent {} rate {} ceil {}\n",
                c.parent, c.rate, c.ceil
            );
        }
        s += &self.a_run(&["tc", "qdisc", "show", "dev", "v0"]);
        s += &self.a_run(&["tc", "filter", "show", "dev", "v0"]);
        for tool in ["iptables-save", "ip6tables-save"] {
            for line in self.a_run(&[tool, "-t", "mangle"]).lines() {
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

    fn mangle(&self, tool: &str) -> String {
        self.a_run(&[tool, "-t", "mangle"])
    }
}

impl Drop for TestBed {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn leaf_ids(plan: &Plan) -> Vec<String> {
    let iface = &plan.interfaces[0];
    (0..iface.classes.len())
        .filter(|&i| iface.is_leaf(i))
        .map(|i| iface.classid(i))
        .collect()
}

/// The kernel's classes must be exactly the plan's: ids, parents, rate, ceil.
fn assert_classes_match(bed: &TestBed, plan: &Plan) {
    let iface = &plan.interfaces[0];
    let live = bed.classes();
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

fn add_foreign_rules(bed: &TestBed) {
    add_foreign_iptables(|args| bed.a_run(args));
}

fn assert_foreign_rules_intact(bed: &TestBed) {
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

fn check_packets(bed: &TestBed, plan: &Plan, packets: &[(&str, u16, u16, &str)]) {
    for &(dst, dport, sport, want) in packets {
        assert_eq!(
            bed.class_of_udp(plan, dst, dport, sport),
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
    let bed = TestBed::new();
    let plan = common::kernel_plan();
    add_foreign_rules(&bed);

    bed.apply(&script(&plan, Classifier::Iptables, false));
    assert_classes_match(&bed, &plan);
    assert_foreign_rules_intact(&bed);
    check_packets(&bed, &plan, KERNEL_PACKETS);
    // The negated list: excluded by its second net too.
    check_packets(&bed, &plan, &[("10.99.0.5", 6000, 7000, "1:1a")]);

    let first = bed.state();
    assert!(first.contains("-A POSTROUTING -o v0 -j tcc-v0"), "{first}");
    assert!(!first.contains("tcc+v0"), "{first}");
    bed.apply(&script(&plan, Classifier::Iptables, false));
    assert_eq!(first, bed.state(), "second run changed the state");
    assert_foreign_rules_intact(&bed);
    check_packets(&bed, &plan, &KERNEL_PACKETS[..1]);

    bed.apply(&script(&plan, Classifier::Iptables, true));
    let qdiscs = bed.a_run(&["tc", "qdisc", "show", "dev", "v0"]);
    assert!(!qdiscs.contains("htb"), "qdisc left behind: {qdiscs}");
    for tool in ["iptables-save", "ip6tables-save"] {
        let m = bed.mangle(tool);
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
    let bed = TestBed::new();
    add_foreign_rules(&bed);
    // A previous run with the iptables classifier must not survive the switch to u32.
    bed.apply(&script(&common::kernel_plan(), Classifier::Iptables, false));
    let plan = common::kernel_plan_u32();
    bed.apply(&script(&plan, Classifier::U32, false));
    for tool in ["iptables-save", "ip6tables-save"] {
        let m = bed.mangle(tool);
        assert!(!m.contains("tcc"), "{tool}: stale tcc rules:\n{m}");
    }
    assert_classes_match(&bed, &plan);
    check_packets(&bed, &plan, KERNEL_PACKETS);

    let first = bed.state();
    bed.apply(&script(&plan, Classifier::U32, false));
    assert_eq!(first, bed.state(), "second run changed the state");
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
        let bed = TestBed::new();
        for (i, iface) in plan.interfaces.iter().enumerate() {
            if iface.name != "v0" {
                bed.a_run(&[
                    "ip",
                    "link",
                    "add",
                    &iface.name,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &format!("peer{i}"),
                ]);
                bed.a_run(&["ip", "link", "set", &iface.name, "up"]);
            }
        }
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
                let m = bed.mangle(tool);
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
