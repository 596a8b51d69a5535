//! Leaf queues on the real kernel: pfifo, bfifo and tbf leaves made by every script target and
//! by `tcc apply`, read back (`tc qdisc show` and tcc's netlink reader); `tcc plan` seeing a
//! changed limit and a foreign leaf qdisc; and the refusal of a qdisc this kernel lacks (sfq,
//! fq_codel): the scripts and `tcc apply` stop before changing anything, and the previous setup
//! stays as it was.
//!
//! Needs root; prints "skipped: needs root" otherwise, and fails instead under `CI=true`.

mod common;

use common::kernel::{need_root, Bed};
use std::process::Output;
use tcc::emit::{self, Classifier, ShOptions};

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// pfifo, bfifo (sized from rtt: 200mbit x 80ms = 2000000 bytes) and tbf leaves.
const QUEUES: &str = "interface v0 {
    rate 1000mbit
    r2q 100
    rtt 80ms
    default bulk
    class transfer { classid 1:11; rate 200mbit; match tcp dst 10.99.0.2 }
    class bulk { classid 1:12; rate 100mbit; ceil 700mbit; qdisc pfifo limit 100 }
    class paced { classid 1:13; rate 10mbit; qdisc tbf rate 10mbit burst 32k latency 50ms; match udp dport 5001 }
}
";

/// What `tc qdisc show` must list for `QUEUES` (besides the root HTB).
const EXPECTED: [&str; 3] = [
    "qdisc bfifo 11: parent 1:11 limit 2000000b",
    "qdisc pfifo 12: parent 1:12 limit 100p",
    "qdisc tbf 13: parent 1:13 rate 10Mbit burst 32Kb lat 50ms",
];

/// The same tree with fq_codel on every leaf but one, which this kernel lacks.
const FQ_CODEL: &str = "interface v0 {
    rate 1000mbit
    r2q 100
    qdisc fq_codel target 5ms ecn
    default bulk
    class transfer { classid 1:11; rate 200mbit; match tcp dst 10.99.0.2 }
    class bulk { classid 1:12; rate 100mbit; qdisc pfifo limit 100 }
}
";

fn write(dir: &tempfile::TempDir, name: &str, src: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, src).unwrap();
    p.display().to_string()
}

fn assert_queues(bed: &Bed, what: &str) {
    let shown = bed.a_run(&["tc", "qdisc", "show", "dev", "v0"]);
    for want in EXPECTED {
        assert!(shown.contains(want), "{what}: no `{want}` in\n{shown}");
    }
    assert_eq!(shown.lines().count(), 4, "{what}: {shown}");
}

fn scripts(src: &str) -> Vec<(&'static str, String)> {
    let (plan, diags) = tcc::analyze(0, src);
    assert!(!diags.has_errors(), "{:?}", diags.items);
    let opts = |classifier| ShOptions {
        classifier,
        teardown: false,
        source_name: "queues.shape".into(),
    };
    vec![
        ("sh", emit::sh(&plan, &opts(Classifier::Iptables))),
        ("sh u32", emit::sh(&plan, &opts(Classifier::U32))),
        (
            "batch",
            emit::batch(&plan, &opts(Classifier::Iptables)).script,
        ),
        (
            "batch u32",
            emit::batch(&plan, &opts(Classifier::U32)).script,
        ),
        ("nft", emit::nft(&plan, &opts(Classifier::Iptables)).script),
    ]
}

/// Every script target makes the leaf queues the plan says, and re-running keeps them.
#[test]
fn scripts_make_the_leaf_queues() {
    if !need_root() {
        return;
    }
    for (target, script) in scripts(QUEUES) {
        let bed = Bed::single(&["v0"]);
        bed.apply(&script);
        assert_queues(&bed, target);
        bed.apply(&script);
        assert_queues(&bed, &format!("{target}, again"));
    }
}

/// `tcc apply` makes the same leaf queues (read back by tc and by tcc's reader); `plan` then
/// finds nothing; a changed limit is one replacement; a foreign leaf qdisc is reported and
/// replaced; teardown removes them with the tree.
#[test]
fn apply_makes_compares_and_removes_the_leaf_queues() {
    if !need_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "queues.shape", QUEUES);
    let bed = Bed::single(&["v0"]);
    let o = bed.tcc(&["apply", "--classifier", "u32", &file]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_queues(&bed, "tcc apply");
    let live = bed.live();
    let kinds: Vec<(String, u32)> = live
        .qdiscs
        .iter()
        .map(|q| (q.kind.clone(), q.parent))
        .collect();
    assert!(kinds.contains(&("bfifo".into(), 0x10011)), "{kinds:?}");
    let o = bed.tcc(&["plan", "--classifier", "u32", &file]);
    assert_eq!(o.status.code(), Some(0), "up to date: {}", text(&o));
    // The same tree from the sh script is up to date for `tcc apply` too.
    let bed2 = Bed::single(&["v0"]);
    bed2.apply(&scripts(QUEUES)[1].1);
    let o = bed2.tcc(&["plan", "--classifier", "u32", &file]);
    assert_eq!(o.status.code(), Some(0), "sh u32 then plan: {}", text(&o));

    // A changed limit: one leaf qdisc replaced, nothing else.
    let changed = write(
        &dir,
        "changed.shape",
        &QUEUES.replace("pfifo limit 100", "pfifo limit 300"),
    );
    let o = bed.tcc(&["plan", "--classifier", "u32", &changed]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("limit 100 → 300"), "{t}");
    assert!(t.contains("0 to add, 1 to change, 1 to delete"), "{t}");
    let o = bed.tcc(&["apply", "--classifier", "u32", &changed]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let shown = bed.a_run(&["tc", "qdisc", "show", "dev", "v0"]);
    assert!(
        shown.contains("qdisc pfifo 12: parent 1:12 limit 300p"),
        "{shown}"
    );

    // A leaf qdisc someone else put under tcc's class: reported, and replaced by apply.
    bed.a_run(&[
        "tc", "qdisc", "replace", "dev", "v0", "parent", "1:11", "handle", "99:", "pfifo", "limit",
        "5",
    ]);
    let o = bed.tcc(&["plan", "--classifier", "u32", &changed]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("- leaf qdisc pfifo 99: under 1:11 (transfer)"),
        "{}",
        text(&o)
    );
    let o = bed.tcc(&["apply", "--classifier", "u32", &changed]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let shown = bed.a_run(&["tc", "qdisc", "show", "dev", "v0"]);
    assert!(
        shown.contains("qdisc bfifo 11: parent 1:11 limit 2000000b"),
        "{shown}"
    );

    let o = bed.tcc(&["teardown", &changed]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let shown = bed.a_run(&["tc", "qdisc", "show", "dev", "v0"]);
    assert!(!shown.contains("parent 1:"), "{shown}");
}

/// This kernel has no fq_codel (nor sfq): every script target and `tcc apply` refuse before
/// changing anything, name the qdisc, and the previous setup stays intact.
#[test]
fn missing_qdiscs_are_refused_before_anything_changes() {
    if !need_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for missing in [
        FQ_CODEL.to_string(),
        FQ_CODEL.replace("fq_codel target 5ms ecn", "sfq perturb 10"),
    ] {
        let file = write(&dir, "missing.shape", &missing);
        let kind = if missing.contains("sfq") {
            "sfq"
        } else {
            "fq_codel"
        };
        for (target, script) in scripts(&missing) {
            let bed = Bed::single(&["v0"]);
            bed.apply(&scripts(QUEUES)[0].1);
            let before = bed.state(&["v0"]);
            let path = dir.path().join("s.sh");
            std::fs::write(&path, &script).unwrap();
            let o = std::process::Command::new("ip")
                .args(["netns", "exec", &bed.a, "sh", path.to_str().unwrap()])
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(1), "{target}: {}", text(&o));
            let t = text(&o);
            assert!(
                t.contains(&format!("this kernel refuses the leaf qdisc \"{kind}"))
                    && t.contains("nothing was changed"),
                "{target}: {t}"
            );
            assert_eq!(bed.state(&["v0"]), before, "{target}: state changed");
        }
        let bed = Bed::single(&["v0"]);
        let prev = write(&dir, "queues.shape", QUEUES);
        let o = bed.tcc(&["apply", &prev]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let before = bed.state(&["v0"]);
        for cmd in ["apply", "plan"] {
            let o = bed.tcc(&[cmd, &file]);
            assert_eq!(o.status.code(), Some(1), "{cmd} {kind}: {}", text(&o));
            let t = text(&o);
            assert!(
                t.contains(&format!("v0: this kernel refuses the leaf qdisc `{kind}"))
                    && t.contains("nothing was changed"),
                "{cmd}: {t}"
            );
            assert_eq!(bed.state(&["v0"]), before, "{cmd} {kind}: state changed");
        }
    }
}

/// The scripts' pre-flight warns when the host's TCP buffers are below a class's window (the
/// sysctls are per network namespace) and goes on.
#[test]
fn preflight_warns_about_small_tcp_buffers() {
    if !need_root() {
        return;
    }
    let bed = Bed::single(&["v0"]);
    bed.a_run(&["sysctl", "-qw", "net.ipv4.tcp_wmem=4096 16384 1000000"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sh");
    std::fs::write(&path, &scripts(QUEUES)[0].1).unwrap();
    let o = std::process::Command::new("ip")
        .args(["netns", "exec", &bed.a, "sh", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("tcc: warning: flows of class bulk need a TCP window of 7000000 bytes, but net.ipv4.tcp_wmem allows at most 1000000"),
        "{t}"
    );
    assert_queues(&bed, "after the warning");
}

/// Without the privilege to make a throwaway network namespace, `tcc plan` says which leaf
/// qdiscs it could not try, rather than claiming they were checked.
#[test]
fn plan_says_which_qdiscs_it_could_not_try() {
    if !need_root() {
        return;
    }
    let bed = Bed::single(&["v0"]);
    let dir = tempfile::tempdir().unwrap();
    let mut perms = std::fs::metadata(dir.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(dir.path(), perms).unwrap();
    let file = write(&dir, "queues.shape", QUEUES);
    let o = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &bed.a,
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
        ])
        .args([
            "--clear-groups",
            env!("CARGO_BIN_EXE_tcc"),
            "plan",
            "--classifier",
            "u32",
            &file,
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let t = text(&o);
    assert!(
        t.contains(
            "note: v0: could not check that this kernel takes the leaf qdisc `bfifo limit 2000000`"
        ),
        "{t}"
    );
    assert_eq!(o.status.code(), Some(3), "{t}");
}

/// A measurement, not a test (ignored; `cargo test --release --test kernel_leafq -- --ignored
/// --nocapture`): one iperf3 TCP flow through a 100mbit class whose leaf queue is a 20mbit tbf,
/// and one through a 50mbit class with a bfifo of one BDP (rtt 10ms). The receiver's goodput
/// must be 0.93..1.02 of the lower limit x 1448/1514: the leaf qdisc is in the data path.
#[test]
#[ignore]
fn goodput_through_leaf_queues() {
    if !need_root() {
        return;
    }
    let src = "interface v0 {
    rate 1000mbit
    r2q 100
    rtt 10ms
    default other
    class paced { classid 1:11; rate 100mbit; qdisc tbf rate 20mbit burst 32k latency 50ms; match tcp dport 5201 }
    class sized { classid 1:12; rate 50mbit; match tcp dport 5202 }
    class other { classid 1:13; rate 10mbit }
}
";
    for (port, limit) in [(5201u16, 20e6), (5202, 50e6)] {
        let bed = Bed::new("v0", &[]);
        bed.apply(&scripts(src)[1].1);
        let mut best = 0.0f64;
        for _ in 0..3 {
            let (bps, _) = bed.iperf(common::kernel::B_ADDR, port, None, 3);
            best = best.max(bps);
            let r = best / (limit * 1448.0 / 1514.0);
            if (0.93..=1.02).contains(&r) {
                break;
            }
        }
        let r = best / (limit * 1448.0 / 1514.0);
        println!(
            "port {port}: limit {} Mbit/s, goodput {:.2} Mbit/s, ratio {r:.3}",
            limit / 1e6,
            best / 1e6
        );
        assert!((0.93..=1.02).contains(&r), "port {port}: ratio {r}");
    }
}
