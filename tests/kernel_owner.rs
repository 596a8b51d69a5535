//! One owner of an interface's shaping (`dialect::owned`), on the real kernel: every way of
//! applying (the `sh` script with iptables or u32, the `batch` script, the `nft` script and
//! `tcc apply`) run after every other converges to exactly the plan asked for; `tcc plan` sees
//! what another way left; teardowns remove all of tcc and nothing else.
//!
//! The device is named `v-0.1` (a `.` and a `-`: the nft table name is hashed, the iptables
//! chain is `tcc-v-0.1`). Each step switches between two plans whose class ids differ (a class
//! is added in front), so a classifier left by the previous way would send packets to the
//! wrong class. Needs root; prints "skipped: needs root" otherwise, and fails under `CI=true`.

mod common;

use common::kernel::{
    add_foreign_iptables, assert_foreign_iptables_intact, need_root, Bed, B_ADDR,
};
use std::process::Output;
use tcc::emit::{self, Classifier, ShOptions};
use tcc::plan::Plan;

const DEV: &str = "v-0.1";
/// A second interface in A with a foreign root qdisc, which no teardown may touch.
const OTHER: &str = "w-2";

/// Plan 1: https (tcp 443) to `web`, ssh (tcp 22) to `ssh`, the rest to `bulk`.
const P1: &str = r#"interface "v-0.1" {
    rate 100mbit
    default bulk
    class web { rate 30mbit; match tcp dport 443 }
    class ssh { rate 10mbit; match tcp dport 22 }
    class bulk { rate 10mbit }
}
"#;

/// Plan 2: a class added in front shifts every class id, and web's rate changes.
const P2: &str = r#"interface "v-0.1" {
    rate 100mbit
    default bulk
    class dns { rate 5mbit; match udp dport 53 }
    class web { rate 40mbit; match tcp dport 443 }
    class ssh { rate 10mbit; match tcp dport 22 }
    class bulk { rate 10mbit }
}
"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    ShIptables,
    ShU32,
    Batch,
    Nft,
    Apply,
    /// `tcc apply --classifier iptables`.
    ApplyIptables,
}

const WAYS: [Way; 6] = [
    Way::ShIptables,
    Way::ShU32,
    Way::Batch,
    Way::Nft,
    Way::Apply,
    Way::ApplyIptables,
];

fn plan(src: &str) -> Plan {
    let (plan, diags) = tcc::analyze(0, src);
    assert!(!diags.has_errors(), "{:?}", diags.items);
    plan
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn out(o: &Output) -> String {
    format!(
        "status {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn script(way: Way, plan: &Plan, teardown: bool) -> String {
    let opts = |classifier| ShOptions {
        classifier,
        teardown,
        source_name: "kernel-owner".into(),
    };
    match way {
        Way::ShIptables => emit::sh(plan, &opts(Classifier::Iptables)),
        Way::ShU32 => emit::sh(plan, &opts(Classifier::U32)),
        Way::Batch => emit::batch(plan, &opts(Classifier::Iptables)).script,
        Way::Nft | Way::Apply | Way::ApplyIptables => {
            emit::nft(plan, &opts(Classifier::Iptables)).script
        }
    }
}

/// Apply `src` the way `way` does.
fn apply(bed: &Bed, way: Way, src: &str, file: &str) {
    if way == Way::Apply {
        let o = bed.tcc(&["apply", file]);
        assert_eq!(o.status.code(), Some(0), "tcc apply: {}", out(&o));
    } else if way == Way::ApplyIptables {
        let o = bed.tcc(&["apply", "--classifier", "iptables", file]);
        assert_eq!(o.status.code(), Some(0), "tcc apply: {}", out(&o));
    } else {
        bed.apply(&script(way, &plan(src), false));
    }
}

/// The leaf whose packet counter moved when one packet was sent (tcp or udp to `port`).
fn landed(bed: &Bed, tcp: bool, port: u16) -> Option<String> {
    let before = bed.classes(DEV);
    bed.send(tcp, B_ADDR, port, 40000 + port, 0, 0);
    for _ in 0..25 {
        let after = bed.classes(DEV);
        let moved: Vec<String> = after
            .iter()
            .filter(|(id, c)| {
                c.prio.is_some() && before.get(*id).is_some_and(|b| b.packets != c.packets)
            })
            .map(|(id, _)| id.clone())
            .collect();
        if !moved.is_empty() {
            assert_eq!(moved.len(), 1, "several classes moved: {moved:?}");
            return Some(moved[0].clone());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    None
}

/// Packets land in the classes `src` names for them.
fn assert_classified(bed: &Bed, src: &str, what: &str) {
    let p = plan(src);
    let iface = &p.interfaces[0];
    let id = |name: &str| iface.classid(iface.classes.iter().position(|c| c.name == name).unwrap());
    assert_eq!(landed(bed, true, 443), Some(id("web")), "{what}: https");
    assert_eq!(landed(bed, true, 22), Some(id("ssh")), "{what}: ssh");
    assert_eq!(landed(bed, true, 8080), Some(id("bulk")), "{what}: other");
}

/// `tcc plan` with the classifier of `way` (nft for the nft script and apply, u32 for sh u32,
/// iptables for the sh and batch scripts and `apply --classifier iptables`): its exit status
/// and output.
fn tcc_plan(bed: &Bed, way: Way, file: &str) -> Output {
    match way {
        Way::ShU32 => bed.tcc(&["plan", "--classifier", "u32", file]),
        Way::ShIptables | Way::Batch | Way::ApplyIptables => {
            bed.tcc(&["plan", "--classifier", "iptables", file])
        }
        _ => bed.tcc(&["plan", file]),
    }
}

const FOREIGN_NFT: &str = "table inet foreign {\n\tchain post {\n\t\ttype filter hook postrouting priority 10; policy accept;\n\t\tmeta l4proto icmp accept\n\t}\n}\n";

fn add_foreign(bed: &Bed, dir: &std::path::Path) {
    add_foreign_iptables(|args| bed.a_run(args));
    bed.a_run(&["nft", "-f", &write(dir, "foreign.nft", FOREIGN_NFT)]);
    bed.ip(&["link", "add", OTHER, "type", "veth", "peer", "name", "w-2p"]);
    bed.a_run(&[
        "tc", "qdisc", "add", "dev", OTHER, "root", "handle", "5:", "tbf", "rate", "1mbit",
        "burst", "10k", "latency", "50ms",
    ]);
}

fn assert_foreign_intact(bed: &Bed, what: &str) {
    assert_foreign_iptables_intact(|args| bed.a_run(args), what);
    let t = bed.a_run(&["nft", "list", "table", "inet", "foreign"]);
    assert!(t.contains("icmp accept"), "{what}: foreign nft table:\n{t}");
    let q = bed.a_run(&["tc", "qdisc", "show", "dev", OTHER]);
    assert!(
        q.contains("qdisc tbf 5: root"),
        "{what}: foreign qdisc:\n{q}"
    );
}

/// Nothing tcc makes is left on DEV.
fn assert_all_gone(bed: &Bed, what: &str) {
    let q = bed.a_run(&["tc", "qdisc", "show", "dev", DEV]);
    assert!(!q.contains("htb"), "{what}: qdisc left: {q}");
    let f = bed.a_run(&["tc", "filter", "show", "dev", DEV]);
    assert!(f.trim().is_empty(), "{what}: filters left: {f}");
    for tool in ["iptables-save", "ip6tables-save"] {
        let m = bed.a_run(&[tool, "-t", "mangle"]);
        assert!(!m.contains("tcc"), "{what}: {tool} left:\n{m}");
    }
    let r = bed.a_run(&["nft", "list", "tables"]);
    assert!(!r.contains("tcc_"), "{what}: nft table left:\n{r}");
}

/// A walk through the complete directed graph on the six ways: every ordered pair (a, b),
/// a != b, appears once as consecutive steps (an Eulerian circuit, 30 transitions).
fn circuit() -> Vec<Way> {
    let n = WAYS.len();
    let mut used = vec![vec![false; n]; n];
    let mut stack = vec![0usize];
    let mut path = Vec::new();
    while let Some(&v) = stack.last() {
        match (0..n).find(|&w| w != v && !used[v][w]) {
            Some(w) => {
                used[v][w] = true;
                stack.push(w);
            }
            None => path.push(stack.pop().unwrap()),
        }
    }
    path.reverse();
    path.into_iter().map(|i| WAYS[i]).collect()
}

#[test]
fn the_circuit_covers_every_ordered_pair() {
    let c = circuit();
    let mut pairs: Vec<(Way, Way)> = c.windows(2).map(|w| (w[0], w[1])).collect();
    assert_eq!(pairs.len(), 30);
    pairs.sort_by_key(|p| format!("{p:?}"));
    pairs.dedup();
    assert_eq!(pairs.len(), 30);
}

/// Every transition between the six ways converges: packets land right, `tcc plan` (with the
/// way's classifier) finds nothing to do, and then `tcc teardown` and every teardown script
/// leave nothing of tcc's and everything foreign.
#[test]
fn every_way_after_every_other_converges() {
    if !need_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f1 = write(dir.path(), "p1.shape", P1);
    let f2 = write(dir.path(), "p2.shape", P2);
    let bed = Bed::new(DEV, &[]);
    add_foreign(&bed, dir.path());
    for (k, way) in circuit().into_iter().enumerate() {
        let (src, file) = if k % 2 == 0 { (P1, &f1) } else { (P2, &f2) };
        let what = format!("step {k}: {way:?} (plan {})", 1 + k % 2);
        apply(&bed, way, src, file);
        assert_classified(&bed, src, &what);
        let o = tcc_plan(&bed, way, file);
        assert_eq!(o.status.code(), Some(0), "{what}: tcc plan: {}", out(&o));
        assert_foreign_intact(&bed, &what);
    }
    // `tcc teardown` after each way, then the teardown script of each way after `tcc apply`.
    for way in WAYS {
        apply(&bed, way, P1, &f1);
        let o = bed.tcc(&["teardown", &f1]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "teardown after {way:?}: {}",
            out(&o)
        );
        assert_all_gone(&bed, &format!("tcc teardown after {way:?}"));
        assert_foreign_intact(&bed, &format!("tcc teardown after {way:?}"));
    }
    for way in WAYS {
        for other in [Way::Apply, Way::ShIptables, Way::ApplyIptables] {
            apply(&bed, other, P2, &f2);
            bed.apply(&script(way, &plan(P2), true));
            let what = format!("{way:?} teardown script after {other:?}");
            assert_all_gone(&bed, &what);
            assert_foreign_intact(&bed, &what);
        }
    }
}

/// After the sh script, `tcc apply` removes the script's mangle chains (the chain classified by
/// the old ids after a class was added), `tcc plan` shows a left-over chain as a change, and
/// `tcc teardown` removes one.
#[test]
fn apply_plan_and_teardown_see_the_scripts_chains() {
    if !need_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f2 = write(dir.path(), "p2.shape", P2);
    let bed = Bed::new(DEV, &[]);
    bed.apply(&script(Way::ShIptables, &plan(P1), false));
    let o = bed.tcc(&["plan", &f2]);
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    assert!(
        out(&o).contains("- iptables mangle chain tcc-v-0.1"),
        "{}",
        out(&o)
    );
    apply(&bed, Way::Apply, P2, &f2);
    assert_classified(&bed, P2, "apply after sh");
    let m = bed.a_run(&["iptables-save", "-t", "mangle"]);
    assert!(!m.contains("tcc"), "{m}");
    let o = bed.tcc(&["plan", &f2]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));

    // A chain left behind (the sh script's), then `tcc teardown`.
    bed.apply(&script(Way::ShIptables, &plan(P2), false));
    let o = bed.tcc(&["teardown", "--interface", DEV]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).contains("removed iptables mangle chain tcc-v-0.1"),
        "{}",
        out(&o)
    );
    assert_all_gone(&bed, "tcc teardown after sh");
}

/// Flushing the chain inside tcc's nft table, or deleting one rule, is drift `tcc plan` shows
/// (exit 3) and `tcc apply` repairs.
#[test]
fn plan_sees_a_flushed_nft_chain() {
    if !need_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f1 = write(dir.path(), "p1.shape", P1);
    let bed = Bed::new(DEV, &[]);
    apply(&bed, Way::Apply, P1, &f1);
    let table = tcc::dialect::nft::print::table_name(DEV);
    bed.a_run(&["nft", "flush", "chain", "inet", &table, "postrouting"]);
    let o = bed.tcc(&["plan", &f1]);
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    assert!(out(&o).contains("rules 0 → "), "{}", out(&o));
    let o = bed.tcc(&["plan", "--format", "json", &f1]);
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let c = &v["interfaces"][0]["changes"][0];
    assert_eq!(
        (&c["change"], &v["interfaces"][0]["interface"]),
        (&"change".into(), &DEV.into())
    );
    assert!(c["detail"].as_str().unwrap().contains("rules 0 → 2"), "{v}");
    apply(&bed, Way::Apply, P1, &f1);
    assert_classified(&bed, P1, "re-applied after a flush");
    let o = bed.tcc(&["plan", &f1]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
}

/// A teardown (script or `tcc teardown FILE`) leaves a root qdisc that is not tcc's: a tbf, or
/// an HTB with another handle than the plan's.
#[test]
fn teardowns_leave_a_foreign_root_qdisc() {
    if !need_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f1 = write(dir.path(), "p1.shape", P1);
    let bed = Bed::new(DEV, &[]);
    let foreign: [&[&str]; 2] = [
        &["tbf", "rate", "1mbit", "burst", "10k", "latency", "50ms"],
        &["htb", "default", "1"],
    ];
    for (k, q) in foreign.iter().enumerate() {
        let mut args = vec!["tc", "qdisc", "add", "dev", DEV, "root", "handle", "7:"];
        args.extend_from_slice(q);
        for way in WAYS {
            let _ = std::process::Command::new("ip")
                .args([
                    "netns", "exec", &bed.a, "tc", "qdisc", "del", "dev", DEV, "root",
                ])
                .output();
            bed.a_run(&args);
            let what = format!("{way:?} teardown over {}", q[0]);
            if way == Way::Apply {
                let o = bed.tcc(&["teardown", &f1]);
                assert_eq!(o.status.code(), Some(0), "{what}: {}", out(&o));
            } else {
                bed.apply(&script(way, &plan(P1), true));
            }
            let s = bed.a_run(&["tc", "qdisc", "show", "dev", DEV]);
            assert!(
                s.contains(&format!("qdisc {} 7: root", q[0])),
                "{what} ({k}): foreign root deleted:\n{s}"
            );
        }
    }
}

/// `tcc plan --classifier iptables` compares the mangle chains rule by rule: a flushed chain,
/// a changed rule and a missing jump are drift (exit 3), which `tcc apply --classifier
/// iptables` repairs; a rule changed to another class shows both texts.
#[test]
fn plan_compares_the_iptables_chains_rule_by_rule() {
    if !need_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f1 = write(dir.path(), "p1.shape", P1);
    let bed = Bed::new(DEV, &[]);
    let plan_ipt = || bed.tcc(&["plan", "--classifier", "iptables", &f1]);
    bed.apply(&script(Way::Batch, &plan(P1), false));
    let o = plan_ipt();
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let chain = tcc::dialect::owned::chain_name(DEV);
    let breakages: [&[&str]; 3] = [
        &["iptables", "-t", "mangle", "-F", &chain],
        &[
            "ip6tables",
            "-t",
            "mangle",
            "-R",
            &chain,
            "1",
            "-p",
            "tcp",
            "--dport",
            "443",
            "-j",
            "CLASSIFY",
            "--set-class",
            "1:11",
        ],
        &[
            "iptables",
            "-t",
            "mangle",
            "-D",
            "POSTROUTING",
            "-o",
            DEV,
            "-j",
            &chain,
        ],
    ];
    let expect = [
        "iptables tcc-v-0.1 rules 0 → 2",
        "ip6tables tcc-v-0.1 rule 1: `-A tcc-v-0.1 -p tcp -m tcp --dport 443 -j CLASSIFY --set-class 0001:0011` → `-A tcc-v-0.1 -p tcp --dport 443 -j CLASSIFY --set-class 1:10`",
        "iptables POSTROUTING jumps to tcc-v-0.1 0 → 1",
    ];
    for (b, e) in breakages.iter().zip(expect) {
        bed.a_run(b);
        let o = plan_ipt();
        assert_eq!(o.status.code(), Some(3), "{}", out(&o));
        assert!(out(&o).contains(e), "{e}: {}", out(&o));
        let o = bed.tcc(&["apply", "--classifier", "iptables", &f1]);
        assert_eq!(o.status.code(), Some(0), "{}", out(&o));
        assert_classified(&bed, P1, e);
        let o = plan_ipt();
        assert_eq!(o.status.code(), Some(0), "after {e}: {}", out(&o));
    }
    // The nft classifier sees the chains as another target's, to remove.
    let o = bed.tcc(&["plan", &f1]);
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    assert!(
        out(&o).contains("- iptables mangle chain tcc-v-0.1"),
        "{}",
        out(&o)
    );
}

/// After `batch --classifier u32` (its u32 layout is linear for plans without per-host hash
/// tables), `tcc plan --classifier u32` finds nothing to do.
#[test]
fn plan_u32_is_up_to_date_after_the_batch_u32_script() {
    if !need_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f2 = write(dir.path(), "p2.shape", P2);
    let bed = Bed::new(DEV, &[]);
    let opts = ShOptions {
        classifier: Classifier::U32,
        teardown: false,
        source_name: "kernel-owner".into(),
    };
    bed.apply(&emit::batch(&plan(P2), &opts).script);
    assert_classified(&bed, P2, "batch u32");
    let o = bed.tcc(&["plan", "--classifier", "u32", &f2]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
}

/// The mangle rules of tcc's chains and jumps in both tools, as `-save` lists them, sorted
/// per tool (a jump put back is appended to POSTROUTING: its place among the jumps of other
/// interfaces, which match other packets, is not kept).
fn tcc_mangle(bed: &Bed) -> String {
    let mut s = String::new();
    for tool in ["iptables-save", "ip6tables-save"] {
        let mut lines: Vec<String> = bed
            .a_run(&[tool, "-t", "mangle"])
            .lines()
            .filter(|l| l.contains("tcc") && !l.starts_with('#'))
            .map(|l| format!("{tool}: {l}\n"))
            .collect();
        lines.sort();
        s.extend(lines);
    }
    s
}

/// Rollback is complete: when a later interface fails, an earlier one gets back the chains of
/// the sh script that `tcc apply` removed from it (and with the iptables classifier, the
/// chain it replaced). The refusal is injected by a wrapper first on PATH that passes every
/// `nft` call through except the one that loads w2's table.
#[test]
fn chains_removed_by_apply_come_back_when_a_later_interface_fails() {
    if !need_root() {
        return;
    }
    let bed = Bed::single(&["w1", "w2"]);
    let two = |extra: &str| {
        format!(
            "interface w1 {{\n rate 100mbit\n default b\n class a {{ rate 10mbit; match udp dport 53 }}\n class b {{ rate 20mbit{extra} }}\n}}\n\
             interface w2 {{\n rate 100mbit\n default d\n class m {{ rate 10mbit; match tcp dport 22 }}\n class d {{ rate 10mbit }}\n}}\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let f_new = write(dir.path(), "new.shape", &two("; match tcp dport 80"));
    let real_nft = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v nft"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let wrapper = dir.path().join("nft");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ninput=$(cat)\n\
             case \"$input\" in *tcc_w2*'{{'*) echo 'Error: injected by the test' >&2; exit 1;; esac\n\
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
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for classifier in ["nft", "iptables"] {
        bed.apply(&script(Way::ShIptables, &plan(&two("")), false));
        let before = tcc_mangle(&bed);
        assert!(before.contains("tcc-w1"), "{before}");
        let o = std::process::Command::new("ip")
            .args(["netns", "exec", &bed.a, env!("CARGO_BIN_EXE_tcc"), "apply"])
            .args(["--classifier", classifier, &f_new])
            .env("NO_COLOR", "1")
            .env("PATH", &path)
            .output()
            .unwrap();
        if classifier == "nft" {
            assert_eq!(o.status.code(), Some(1), "{}", out(&o));
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("injected by the test"), "{err}");
            assert!(err.contains("w1: previous configuration restored"), "{err}");
            assert_eq!(tcc_mangle(&bed), before, "{classifier}");
        } else {
            // Nothing fails with the iptables classifier (w2's nft table is only deleted, which
            // the wrapper passes): the chains hold the new plan.
            assert_eq!(o.status.code(), Some(0), "{}", out(&o));
            assert!(
                tcc_mangle(&bed).contains("--dport 80"),
                "{}",
                tcc_mangle(&bed)
            );
        }
    }
}

/// A `tcc apply` killed between deleting the old nft table and sending the new tree (the
/// debug-build pause point `TCC_TEST_PAUSE_AFTER=nft-delete`, see `apply::run`) leaves no tcc
/// table at all: no old table classifies by the new tree's ids. `tcc plan` shows the table
/// missing (exit 3), and the next `tcc apply` converges.
#[test]
fn a_killed_apply_leaves_no_table_pointing_at_new_ids() {
    if !need_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f1 = write(dir.path(), "p1.shape", P1);
    let f2 = write(dir.path(), "p2.shape", P2);
    let bed = Bed::new(DEV, &[]);
    apply(&bed, Way::Apply, P1, &f1);
    let table = tcc::dialect::nft::print::table_name(DEV);
    let mut child = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &bed.a,
            env!("CARGO_BIN_EXE_tcc"),
            "apply",
            &f2,
        ])
        .env("TCC_TEST_PAUSE_AFTER", "nft-delete")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let gone = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        !bed.a_run(&["nft", "list", "tables"]).contains(&table)
    });
    assert!(gone, "the old table was never deleted");
    child.kill().unwrap();
    child.wait().unwrap();
    // The tree is still plan 1's, and no tcc table classifies.
    let r = bed.a_run(&["nft", "list", "tables"]);
    assert!(!r.contains("tcc_"), "{r}");
    let o = bed.tcc(&["plan", &f2]);
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    assert!(
        out(&o).contains(&format!("+ nft table inet {table}")),
        "{}",
        out(&o)
    );
    apply(&bed, Way::Apply, P2, &f2);
    assert_classified(&bed, P2, "apply after a killed apply");
    let o = bed.tcc(&["plan", &f2]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
}
