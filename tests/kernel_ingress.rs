//! Download (ingress) shaping on the real kernel: every script target and `tcc apply` build the
//! ifb device, its HTB tree and the redirect; packets sent from the peer namespace B land in
//! the right class of the ifb (class counters); re-applying converges; teardown removes the
//! redirect and tcc's ifb and leaves a foreign ifb alone; `tcc apply` refuses a device with
//! tcc's ifb name that is not tcc's, and an ingress qdisc it did not make, changing nothing.
//!
//! The goodput check (iperf3 from B, limited per class) is `ingress_goodput_per_class`, ignored
//! and run by `bench/goodput.sh` (a measurement, not a test).
//!
//! Needs root; prints "skipped: needs root" otherwise, and fails instead under `CI=true`.

mod common;

use common::kernel::{need_root, Bed};
use std::collections::BTreeMap;
use tcc::emit::{Classifier, ShOptions};
use tcc::plan::Plan;

const DEV: &str = "wan0";
const IFB: &str = "ifb-wan0";

const SHAPE: &str = "interface wan0 {
    default bulk
    class bulk { rate 100mbit }
    ingress {
        rate 50mbit
        default bulk
        class voice { rate 10mbit; ceil 50mbit; prio 0; match udp sport 5000..5001 }
        class web { rate 10mbit; ceil 50mbit; match tcp src 10.99.0.2 sport 443 }
        class bulk { rate 30mbit; ceil 50mbit }
    }
}
";

fn plan(text: &str) -> Plan {
    let (plan, diags) = tcc::analyze(0, text);
    assert!(!diags.has_errors(), "{diags:?}");
    plan
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Sh(Classifier),
    Batch(Classifier),
    Nft,
}

const TARGETS: [Target; 5] = [
    Target::Sh(Classifier::Iptables),
    Target::Sh(Classifier::U32),
    Target::Batch(Classifier::Iptables),
    Target::Batch(Classifier::U32),
    Target::Nft,
];

fn script(t: Target, plan: &Plan, teardown: bool) -> String {
    let opts = |classifier| ShOptions {
        classifier,
        teardown,
        source_name: "t.shape".into(),
    };
    match t {
        Target::Sh(c) => tcc::emit::sh(plan, &opts(c)),
        Target::Batch(c) => tcc::emit::batch(plan, &opts(c)).script,
        Target::Nft => tcc::emit::nft(plan, &opts(Classifier::Iptables)).script,
    }
}

/// Send one packet from B to A (10.99.0.1): a UDP datagram or a TCP SYN, from `sport`.
fn send_from_b(bed: &Bed, tcp: bool, sport: u16, dport: u16) {
    let py = "import socket,sys,time\n\
              tcp=sys.argv[1]=='tcp'\n\
              s=socket.socket(socket.AF_INET,socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)\n\
              s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
              s.bind(('10.99.0.2',int(sys.argv[2])))\n\
              if tcp:\n\
              \x20s.setblocking(False)\n\
              \x20s.connect_ex(('10.99.0.1',int(sys.argv[3])))\n\
              \x20time.sleep(0.05)\n\
              else:\n\
              \x20s.sendto(b'tcc',('10.99.0.1',int(sys.argv[3])))\n\
              s.close()\n";
    bed.b_run(&[
        "python3",
        "-c",
        py,
        if tcp { "tcp" } else { "udp" },
        &sport.to_string(),
        &dport.to_string(),
    ]);
}

const LEAVES: [(&str, &str); 3] = [("1:10", "voice"), ("1:11", "web"), ("1:12", "bulk")];

/// Which leaf of the ifb's tree one packet from B moved. Every other packet arriving in the
/// meantime is unclassified and lands in the default class (`bulk`): the probe's class is the
/// one non-default leaf that moved by one, or `bulk` when none did and `bulk` moved.
fn class_of(bed: &Bed, tcp: bool, sport: u16, dport: u16) -> &'static str {
    let before = bed.classes(IFB);
    send_from_b(bed, tcp, sport, dport);
    let mut moved = vec![];
    for _ in 0..50 {
        let after = bed.classes(IFB);
        moved = LEAVES
            .iter()
            .filter(|(id, _)| after[*id].packets != before[*id].packets)
            .map(|(id, name)| (*name, after[*id].packets - before[*id].packets))
            .collect();
        if !moved.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let classified: Vec<_> = moved.iter().filter(|(n, _)| *n != "bulk").collect();
    match classified.as_slice() {
        [] => {
            assert!(!moved.is_empty(), "{tcp} from {sport}: no class moved");
            "bulk"
        }
        [(name, 1)] => name,
        _ => panic!("{tcp} from {sport}: {moved:?}"),
    }
}

fn check_packets(bed: &Bed, what: &str) {
    for (tcp, sport, dport, want) in [
        (false, 5000, 9000, "voice"),
        (false, 5001, 9000, "voice"),
        (false, 5002, 9000, "bulk"),
        (true, 443, 9001, "web"),
        (true, 444, 9001, "bulk"),
        (false, 443, 9000, "bulk"),
    ] {
        assert_eq!(
            class_of(bed, tcp, sport, dport),
            want,
            "{what}: {} from port {sport}",
            if tcp { "tcp" } else { "udp" }
        );
    }
}

/// The ifb tree as the kernel reports it: classid -> (rate, ceil) in bit/s.
fn ifb_tree(bed: &Bed) -> BTreeMap<String, (u64, u64)> {
    bed.classes(IFB)
        .into_iter()
        .map(|(id, c)| (id, (c.rate, c.ceil)))
        .collect()
}

fn want_tree() -> BTreeMap<String, (u64, u64)> {
    [
        ("1:1", 50_000_000, 50_000_000),
        ("1:10", 10_000_000, 50_000_000),
        ("1:11", 10_000_000, 50_000_000),
        ("1:12", 30_000_000, 50_000_000),
    ]
    .into_iter()
    .map(|(id, r, c)| (id.to_string(), (r, c)))
    .collect()
}

fn alias(bed: &Bed, dev: &str) -> String {
    bed.ip(&["link", "show", "dev", dev])
        .lines()
        .find_map(|l| l.trim().strip_prefix("alias ").map(str::to_string))
        .unwrap_or_default()
}

fn has_link(bed: &Bed, dev: &str) -> bool {
    bed.ip(&["-o", "link", "show"])
        .lines()
        .any(|l| l.split(": ").nth(1).is_some_and(|n| n == dev))
}

/// The tc trees of both devices, without counters.
fn tc_state(bed: &Bed) -> String {
    let mut s = String::new();
    for dev in [DEV, IFB] {
        for (id, c) in bed.classes(dev) {
            s += &format!(
                "{dev} {id} {} {} {:?} {:?}\n",
                c.rate, c.ceil, c.prio, c.quantum
            );
        }
        // Without `direct_packets_stat N`: a counter (packets that passed unclassified while
        // a tree was being replaced), not configuration.
        for line in bed.a_run(&["tc", "qdisc", "show", "dev", dev]).lines() {
            let mut w: Vec<&str> = line.split_whitespace().collect();
            if let Some(k) = w.iter().position(|x| *x == "direct_packets_stat") {
                w.drain(k..(k + 2).min(w.len()));
            }
            s += &w.join(" ");
            s.push('\n');
        }
        s += &bed.a_run(&["tc", "filter", "show", "dev", dev]);
    }
    s
}

/// A foreign ifb device (not tcc's) the teardowns must leave alone.
fn add_foreign_ifb(bed: &Bed) {
    bed.ip(&["link", "add", "ifb0", "type", "ifb"]);
    bed.ip(&["link", "set", "ifb0", "up"]);
}

#[test]
fn every_target_shapes_what_arrives_and_tears_down() {
    if !need_root() {
        return;
    }
    let plan = plan(SHAPE);
    for t in TARGETS {
        let what = format!("{t:?}");
        let bed = Bed::new(DEV, &[]);
        add_foreign_ifb(&bed);
        bed.apply(&script(t, &plan, false));
        assert_eq!(ifb_tree(&bed), want_tree(), "{what}");
        assert_eq!(alias(&bed, IFB), "tcc ingress wan0", "{what}");
        let filters = bed.a_run(&["tc", "filter", "show", "dev", DEV, "parent", "ffff:"]);
        assert!(
            filters.contains("Egress Redirect to device ifb-wan0"),
            "{what}: {filters}"
        );
        check_packets(&bed, &what);
        // Re-running converges to the same state, and still classifies.
        let before = tc_state(&bed);
        bed.apply(&script(t, &plan, false));
        assert_eq!(tc_state(&bed), before, "{what}: re-run");
        check_packets(&bed, &format!("{what} (re-run)"));
        bed.apply(&script(t, &plan, true));
        assert!(!has_link(&bed, IFB), "{what}: teardown left {IFB}");
        let q = bed.a_run(&["tc", "qdisc", "show", "dev", DEV]);
        assert!(!q.contains("ingress"), "{what}: teardown left {q}");
        assert!(
            has_link(&bed, "ifb0"),
            "{what}: teardown removed the foreign ifb0"
        );
    }
}

/// Write `text` into a file in a fresh directory, for the tcc binary.
fn shape_file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.shape");
    std::fs::write(&path, text).unwrap();
    let p = path.to_str().unwrap().to_string();
    (dir, p)
}

#[test]
fn apply_builds_the_ifb_tree_converges_and_tears_down() {
    if !need_root() {
        return;
    }
    let (_dir, file) = shape_file(SHAPE);
    let bed = Bed::new(DEV, &[]);
    add_foreign_ifb(&bed);
    let out = bed.tcc(&["apply", &file, "--classifier", "u32"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ifb_tree(&bed), want_tree());
    assert_eq!(alias(&bed, IFB), "tcc ingress wan0");
    check_packets(&bed, "apply");
    let out = bed.tcc(&["plan", &file, "--classifier", "u32"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "plan after apply: {text}");
    // `tcc status FILE` shows the ifb's tree with the file's class names.
    let out = bed.tcc(&["status", &file]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("ifb-wan0: qdisc htb 1: default 12"), "{text}");
    assert!(text.contains("1:11 web"), "{text}");
    // A change of one ingress class is one change message on the ifb.
    let changed = SHAPE.replace("rate 30mbit; ceil 50mbit", "rate 20mbit; ceil 50mbit");
    let (_d2, file2) = shape_file(&changed);
    let out = bed.tcc(&["plan", &file2, "--classifier", "u32"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("~ class 1:12 (bulk) on ifb-wan0"), "{text}");
    assert!(
        text.contains("0 to add, 1 to change, 0 to delete"),
        "{text}"
    );
    // The ingress block removed from the file: apply removes tcc's ifb and the redirect.
    let without = "interface wan0 {\n default bulk\n class bulk { rate 100mbit }\n}\n";
    let (_d3, file3) = shape_file(without);
    let out = bed.tcc(&["plan", &file3, "--classifier", "u32"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("- ifb device ifb-wan0"), "{text}");
    let out = bed.tcc(&["apply", &file3, "--classifier", "u32"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!has_link(&bed, IFB));
    assert!(!bed
        .a_run(&["tc", "qdisc", "show", "dev", DEV])
        .contains("ingress"));
    assert!(has_link(&bed, "ifb0"), "apply removed the foreign ifb0");
    let out = bed.tcc(&["apply", &file, "--classifier", "u32"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The scripts' teardown and apply's agree: apply's teardown removes the ingress side.
    let out = bed.tcc(&["teardown", "-i", DEV]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("removed tcc's ifb device ifb-wan0"), "{text}");
    assert!(!has_link(&bed, IFB));
    assert!(!bed
        .a_run(&["tc", "qdisc", "show", "dev", DEV])
        .contains("ingress"));
    assert!(has_link(&bed, "ifb0"), "teardown removed the foreign ifb0");
    // After a script, apply converges too (the script's objects are tcc's).
    bed.apply(&script(Target::Sh(Classifier::U32), &plan(SHAPE), false));
    let out = bed.tcc(&["plan", &file, "--classifier", "u32"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "plan after the sh script: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn apply_refuses_a_foreign_ifb_or_ingress_hook_and_changes_nothing() {
    if !need_root() {
        return;
    }
    let (_dir, file) = shape_file(SHAPE);
    // A device with tcc's ifb name that tcc did not make (no alias).
    let bed = Bed::new(DEV, &[]);
    bed.ip(&["link", "add", IFB, "type", "ifb"]);
    let before = bed.state(&[DEV, IFB]);
    let out = bed.tcc(&["apply", &file, "--classifier", "u32"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("device ifb-wan0 exists and is not tcc's"),
        "{err}"
    );
    assert_eq!(bed.state(&[DEV, IFB]), before);
    let out = bed.tcc(&["teardown", "-i", DEV]);
    assert!(out.status.success());
    assert!(
        has_link(&bed, IFB),
        "teardown removed a foreign device with tcc's name"
    );
    drop(bed);

    // An ingress qdisc with someone else's filter.
    let bed = Bed::new(DEV, &[]);
    bed.a_run(&[
        "tc", "qdisc", "add", "dev", DEV, "handle", "ffff:", "ingress",
    ]);
    bed.a_run(&[
        "tc", "filter", "add", "dev", DEV, "parent", "ffff:", "protocol", "ip", "prio", "5", "u32",
        "match", "ip", "dport", "22", "0xffff", "flowid", "1:1",
    ]);
    let before = bed.state(&[DEV]);
    let out = bed.tcc(&["apply", &file, "--classifier", "u32"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the ingress hook holds"), "{err}");
    assert_eq!(bed.state(&[DEV]), before);
    assert!(!has_link(&bed, IFB));
    // The scripts refuse it in their pre-flight too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sh");
    std::fs::write(
        &path,
        script(Target::Sh(Classifier::U32), &plan(SHAPE), false),
    )
    .unwrap();
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &bed.a, "sh", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(bed.state(&[DEV]), before);
}

/// Goodput of what arrives, per class: iperf3 from B (`-R`), each flow in its own class.
#[test]
#[ignore = "timed: a measurement run by bench/goodput.sh"]
fn ingress_goodput_per_class() {
    if !need_root() {
        return;
    }
    let secs: u32 = std::env::var("GOODPUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let text = "interface wan0 {
        default bulk
        class bulk { rate 1000mbit }
        ingress {
            rate 100mbit
            default bulk
            class a { rate 40mbit; ceil 40mbit; match tcp sport 5201 }
            class b { rate 10mbit; ceil 10mbit; match tcp sport 5202 }
            class bulk { rate 50mbit; ceil 50mbit }
        }
    }";
    let plan = plan(text);
    let mut failures = vec![];
    for t in [
        Target::Sh(Classifier::Iptables),
        Target::Batch(Classifier::U32),
        Target::Nft,
    ] {
        let bed = Bed::new(DEV, &[]);
        bed.apply(&script(t, &plan, false));
        for (port, id, limit) in [(5201u16, "1:10", 40e6), (5202, "1:11", 10e6)] {
            let ideal = limit * 1448.0 / 1514.0;
            let mut ratios = vec![];
            for _ in 0..3 {
                let before = bed.classes(IFB);
                let (goodput, rx) = bed.iperf_from_b("10.99.0.2", port, secs);
                let after = bed.classes(IFB);
                assert!(
                    after[id].bytes - before[id].bytes >= rx,
                    "{t:?}: flow not in {id}"
                );
                let r = goodput / ideal;
                ratios.push(r);
                if r > 1.02 || r >= 0.93 {
                    break;
                }
            }
            let best = ratios.iter().copied().fold(0.0, f64::max);
            println!(
                "| {t:?} | {id} | {} | {:.2} | {ratios:.3?} |",
                limit / 1e6,
                best * ideal / 1e6
            );
            if !(0.93..=1.02).contains(&best) || ratios.iter().any(|r| *r > 1.02) {
                failures.push(format!("{t:?} {id}: {ratios:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "goodput outside 0.93..1.02: {failures:?}"
    );
}

/// Run `tcc apply FILE` in A with an `nft` first on PATH that refuses the transaction creating
/// eth2's table (and passes every other call through): a failure after eth1 was applied.
fn apply_failing_on_eth2(bed: &Bed, file: &str) -> std::process::Output {
    use std::process::Command;
    let real_nft = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v nft"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let fake = tempfile::tempdir().unwrap();
    let wrapper = fake.path().join("nft");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ninput=$(cat)\n\
             case \"$input\" in *tcc_eth2*'{{'*) echo 'Error: injected by the test' >&2; exit 1;; esac\n\
             printf '%s\\n' \"$input\" | exec {} \"$@\"\n",
            real_nft.trim()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        fake.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("ip")
        .args([
            "netns",
            "exec",
            &bed.a,
            env!("CARGO_BIN_EXE_tcc"),
            "apply",
            file,
        ])
        .env("NO_COLOR", "1")
        .env("PATH", path)
        .output()
        .unwrap()
}

/// A failure after an interface's ingress side went in puts it back: a device `apply` made is
/// deleted with the ingress qdisc it added; a device that was there gets its tree back.
#[test]
fn a_failure_part_way_puts_the_ingress_side_back() {
    if !need_root() {
        return;
    }
    let bed = Bed::single(&["eth1", "eth2"]);
    let eth1 = |down: &str| {
        format!(
            "interface eth1 {{\n rate 100mbit\n default b\n class b {{ rate 100mbit }}\n\
             ingress {{ rate {down}; default d; class d {{ rate {down} }} }}\n}}\n"
        )
    };
    let eth2 = "interface eth2 {\n rate 10mbit\n default d\n\
                class m { rate 5mbit; match tcp dport 22 }\n class d { rate 5mbit }\n}\n";
    // 1. Nothing there before: the ifb apply made is deleted, the ingress qdisc too.
    let (_d, file) = shape_file(&(eth1("50mbit") + eth2));
    let o = apply_failing_on_eth2(&bed, &file);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("injected by the test"), "{err}");
    assert!(!has_link(&bed, "ifb-eth1"), "{err}");
    assert!(bed.live_of("eth1").root_is_default(), "{err}");
    let q = bed.a_run(&["tc", "qdisc", "show", "dev", "eth1"]);
    assert!(!q.contains("ingress"), "{q}");
    // 2. eth1 applied with its ingress tree; then a changed tree fails on eth2: the ifb's tree
    //    and the redirect are as before.
    let (_d1, one) = shape_file(&eth1("50mbit"));
    let o = bed.tcc(&["apply", &one]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let hook = |bed: &Bed| {
        bed.a_run(&["tc", "qdisc", "show", "dev", "eth1"])
            + &bed.a_run(&["tc", "filter", "show", "dev", "eth1", "parent", "ffff:"])
    };
    let ifb_before = bed.live_of("ifb-eth1").config_bytes();
    let dev_before = bed.live_of("eth1").tree_bytes();
    let hook_before = hook(&bed);
    let (_d2, two) = shape_file(&(eth1("40mbit") + eth2));
    let o = apply_failing_on_eth2(&bed, &two);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("eth1: previous configuration restored"),
        "{err}"
    );
    assert_eq!(bed.live_of("ifb-eth1").config_bytes(), ifb_before);
    assert_eq!(bed.live_of("eth1").tree_bytes(), dev_before);
    assert_eq!(hook(&bed), hook_before);
    assert_eq!(alias(&bed, "ifb-eth1"), "tcc ingress eth1");
    // 3. The ingress block removed from eth1 (apply removes tcc's ifb), and eth2 fails: the
    //    device is made again, with its tree and the redirect.
    let no_ingress = "interface eth1 {\n rate 100mbit\n default b\n class b { rate 100mbit }\n}\n";
    let (_d3, three) = shape_file(&(no_ingress.to_string() + eth2));
    let o = apply_failing_on_eth2(&bed, &three);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("eth1: previous configuration restored"),
        "{err}"
    );
    assert!(has_link(&bed, "ifb-eth1"), "{err}");
    assert_eq!(alias(&bed, "ifb-eth1"), "tcc ingress eth1");
    let ifb_now = bed.live_of("ifb-eth1");
    assert_eq!(
        ifb_now
            .tree_bytes()
            .iter()
            .map(|b| b[8..].to_vec())
            .collect::<Vec<_>>(),
        ifb_before
            .iter()
            .map(|b| b[8..].to_vec())
            .collect::<Vec<_>>(),
        "the ifb's tree (apart from its new index)"
    );
    let h = hook(&bed);
    assert!(h.contains("Egress Redirect to device ifb-eth1"), "{h}");
    let o = bed.tcc(&["plan", &one]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}
