//! `tcc apply` against the real kernel, in throw-away network namespaces.
//!
//! Each test makes its own namespace holding a veth named like the plan's interface (`eth1`).
//! The binary runs under `ip netns exec`; the test reads the namespace's state itself over
//! netlink from a thread that has entered the namespace (`setns`), with tcc's own reader, and
//! independently with `tc`/`nft` where a second opinion matters.
//!
//! Needs root; prints "skipped: needs root" otherwise, and fails instead under `CI=true`.

mod common;

use common::kernel::{need_root, run, Bed};
use std::path::Path;
use std::process::{Command, Output};
use tcc::apply::diff::{diff, Change, Desired, Step};
use tcc::apply::encode::{htb_class, u32_filter_add, HtbClass, Psched, ETH_P_IP, U32};
use tcc::apply::error::BatchError;
use tcc::apply::exec;
use tcc::apply::live::{ifindex, parse_htb_class, parse_u32, Live};
use tcc::apply::nl::Socket;

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn plan_of(path: &str) -> tcc::plan::Plan {
    let text = std::fs::read_to_string(path).unwrap();
    let (plan, diags) = tcc::analyze(0, &text);
    assert!(!diags.has_errors(), "{path}");
    plan
}

fn corpus() -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/valid"))
            .unwrap()
            .map(|e| e.unwrap().path().display().to_string())
            .filter(|p| p.ends_with(".shape"))
            // A site file (hosts) is applied per host by tests/kernel_fleet.rs.
            .filter(|p| !common::is_site(&std::fs::read_to_string(p).unwrap()))
            .collect();
    v.sort();
    v
}

/// Every corpus example applies; what the kernel then holds is the plan (classes with their
/// rates, tc's own count, nft's rules); `plan` finds nothing to change and re-applying sends
/// nothing. Both classifiers (u32 where the plan can be written as u32).
#[test]
fn corpus_examples_apply_read_back_and_reapply_nothing() {
    if !need_root() {
        return;
    }
    for file in corpus() {
        let plan = plan_of(&file);
        // Examples with a leaf qdisc this kernel lacks: tests/kernel_leafq.rs.
        if !common::kernel::kernel_takes(&plan) {
            continue;
        }
        let names: Vec<&str> = plan.interfaces.iter().map(|i| i.name.as_str()).collect();
        let u32_ok = tcc::emit::u32_expressible(&plan).items.is_empty();
        let classifiers: &[&str] = if u32_ok { &["nft", "u32"] } else { &["nft"] };
        for cls in classifiers {
            let ns = Bed::single(&names);
            let o = ns.tcc(&["apply", "--classifier", cls, &file]);
            assert_eq!(o.status.code(), Some(0), "{file} {cls}: {}", text(&o));
            let rules = ns.a_run(&["nft", "list", "ruleset"]);
            let mut before = Vec::new();
            for iface in &plan.interfaces {
                let dev = iface.name.as_str();
                // Read back with tcc's reader: every class, with the plan's rate and ceil.
                let live = ns.live_of(dev);
                assert_eq!(live.classes.len(), iface.classes.len(), "{file}");
                for c in &iface.classes {
                    let id = (iface.handle as u32) << 16 | c.minor as u32;
                    let o = live.classes.iter().find(|o| o.handle == id).unwrap();
                    let h = parse_htb_class(o).unwrap();
                    assert_eq!(
                        (h.rate, h.ceil),
                        (c.rate / 8, c.ceil / 8),
                        "{file} {}",
                        c.name
                    );
                }
                // A second opinion: tc counts the same classes.
                let tc = ns.a_run(&["tc", "class", "show", "dev", dev]);
                assert_eq!(
                    tc.lines().filter(|l| l.starts_with("class htb")).count(),
                    iface.classes.len()
                );
                let flows = ns.a_run(&["tc", "filter", "show", "dev", dev]);
                // tcc's own name for the table (`eth0.100` -> `tcc_eth0_100_<hash>`).
                let table = format!("table inet {}", tcc::dialect::nft::print::table_name(dev));
                if *cls == "nft" {
                    assert!(rules.contains(&table), "{rules}");
                    assert!(!flows.contains("flowid"), "{flows}");
                } else {
                    assert!(!rules.contains(&table), "{rules}");
                    assert!(
                        flows.matches("flowid").count() >= iface.filters.len(),
                        "{flows}"
                    );
                }
                before.push(live.config_bytes());
            }
            if *cls == "nft" {
                let n: usize = plan.interfaces.iter().map(|i| i.filters.len()).sum();
                // A rule per filter, or one map element per filter of a loop.
                let set = rules.matches("meta priority set").count() + rules.matches(" : ").count();
                assert!(set >= n, "{file}: {rules}");
            }

            // Nothing left to do, and nothing is sent again.
            let o = ns.tcc(&["plan", "--classifier", cls, &file]);
            assert_eq!(o.status.code(), Some(0), "{file} {cls}: {}", text(&o));
            let o = ns.tcc(&["apply", "--classifier", cls, &file]);
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));
            assert_eq!(
                stdout(&o).matches("up to date, nothing sent").count(),
                names.len(),
                "{}",
                text(&o)
            );
            let after: Vec<_> = names.iter().map(|d| ns.live_of(d).config_bytes()).collect();
            assert_eq!(after, before, "{file} {cls}");
        }
    }
}

/// Changing one class's rate is one `change` message; every other object keeps its bytes.
#[test]
fn one_rate_change_is_one_message() {
    if !need_root() {
        return;
    }
    let ns = Bed::single(&["eth1"]);
    let file = format!(
        "{}/corpus/valid/seed-example-2.shape",
        env!("CARGO_MANIFEST_DIR")
    );
    let o = ns.tcc(&["apply", "--classifier", "u32", &file]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let before = ns.live();

    let changed = std::fs::read_to_string(&file)
        .unwrap()
        .replace("rate 300mbit", "rate 250mbit");
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), changed).unwrap();
    let path = tmp.path().display().to_string();

    let o = ns.tcc(&["plan", "--classifier", "u32", &path]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "plan exits 3 on drift: {}",
        text(&o)
    );
    assert!(
        stdout(&o).contains("~ class 1:99 (other): rate 300mbit → 250mbit"),
        "{}",
        text(&o)
    );
    // In JSON the changed values are structured: attribute, old, new.
    let o = ns.tcc(&["plan", "--classifier", "u32", "--format", "json", &path]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["interfaces"][0]["changes"][0]["values"],
        serde_json::json!([{"attribute": "rate", "old": "300mbit", "new": "250mbit"}]),
        "{v}"
    );
    // --dry-run is plan: same diff, same status, nothing changed.
    let o = ns.tcc(&["apply", "--dry-run", "--classifier", "u32", &path]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        stdout(&o).contains("eth1: 0 to add, 1 to change, 0 to delete"),
        "{}",
        text(&o)
    );
    assert_eq!(ns.live().config_bytes(), before.config_bytes());
    let o = ns.tcc(&["apply", "--classifier", "u32", &path]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        stdout(&o).contains("applied 1 netlink message(s) (0 add, 1 change, 0 delete)"),
        "{}",
        text(&o)
    );
    let after = ns.live();
    // The qdisc, the filters and every other class are untouched, byte for byte.
    let strip = |l: &Live| {
        let mut l = l.clone();
        l.classes.retain(|c| c.handle != 0x10099);
        l.config_bytes()
    };
    assert_eq!(strip(&before), strip(&after));
    let o = after.classes.iter().find(|c| c.handle == 0x10099).unwrap();
    assert_eq!(parse_htb_class(o).unwrap().rate, 250_000_000 / 8);
}

/// The kernel refuses a message in the middle of a batch: the tree read at the start comes
/// back exactly (a netlink dump without counters compares equal byte for byte), and the error
/// names the step and carries the kernel's extended ack.
#[test]
fn refusal_part_way_restores_the_snapshot() {
    if !need_root() {
        return;
    }
    let ns = Bed::single(&["eth1"]);
    let file = format!(
        "{}/corpus/valid/seed-example-2.shape",
        env!("CARGO_MANIFEST_DIR")
    );
    let o = ns.tcc(&["apply", "--classifier", "u32", &file]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Something the plan does not know about survives too: a filter on a class.
    ns.a_run(&[
        "tc",
        "filter",
        "add",
        "dev",
        "eth1",
        "parent",
        "1:1",
        "protocol",
        "ip",
        "prio",
        "20",
        "u32",
        "match",
        "ip",
        "dst",
        "10.9.9.9/32",
        "flowid",
        "1:99",
    ]);
    let snapshot = ns.live();
    assert!(snapshot
        .filters
        .iter()
        .any(|f| f.parent == 0x10001 && parse_u32(f).is_some()));

    let err = ns.inside(move || {
        let plan = plan_of(&format!(
            "{}/corpus/valid/seed-example-1.shape",
            env!("CARGO_MANIFEST_DIR")
        ));
        let ps = Psched::host().unwrap();
        let mut sock = Socket::open().unwrap();
        let live = Live::read(&mut sock, ifindex("eth1").unwrap()).unwrap();
        let want = Desired::from_plan(&plan.interfaces[0], true).unwrap();
        let mut steps = diff(&live, &want, &ps);
        assert!(steps.len() > 3);
        // A class whose major differs from the qdisc's: the kernel refuses it.
        let bad = HtbClass {
            rate: 1000,
            ceil: 1000,
            burst: None,
            cburst: None,
            quantum: 0,
            prio: 0,
            mtu: 1600,
        };
        steps.insert(
            3,
            Step {
                change: Change::Add,
                object: "class 2:5 (bogus)".into(),
                detail: String::new(),
                msg: htb_class(live.ifindex, 0x10001, 0x20005, &bad, false, &ps),
                values: Vec::new(),
            },
        );
        let first = exec::run(&mut sock, &live, &steps).unwrap_err();
        // Second try: a u32 node whose handle names a hash table that is not its own. The
        // kernel explains this one in its extended ack.
        steps.remove(3);
        use tcc::dialect::u32::{Dir, Ip, Sel, Selector};
        let dst = Sel::Addr {
            ip: Ip::V4,
            dir: Dir::Dst,
            net: "10.1.2.3/32".parse().unwrap(),
        };
        let f = U32::new(&Selector(vec![dst]), 0x10012).unwrap();
        let n = steps.len() - 1;
        steps.insert(
            n,
            Step {
                change: Change::Add,
                object: "filter (bogus)".into(),
                detail: String::new(),
                msg: u32_filter_add(live.ifindex, 0x10000, ETH_P_IP, 1, 0xabc0_0800, &f),
                values: Vec::new(),
            },
        );
        let second = exec::run(&mut sock, &live, &steps).unwrap_err();
        (first, second)
    });
    match err.0 {
        BatchError::Refused {
            step,
            error,
            restored,
        } => {
            assert!(step.contains("class 2:5 (bogus)"), "{step}");
            assert_eq!(error.errno, libc::EINVAL, "{error}");
            assert!(restored.is_ok(), "{restored:?}");
        }
        e => panic!("{e}"),
    }
    assert_eq!(ns.live().config_bytes(), snapshot.config_bytes());
    match err.1 {
        BatchError::Refused {
            step,
            error,
            restored,
        } => {
            assert!(step.contains("filter (bogus)"), "{step}");
            assert_eq!(error.errno, libc::EINVAL, "{error}");
            let msg = error.msg.clone().unwrap_or_default();
            assert!(msg.contains("hash table"), "extended ack: {error}");
            assert!(restored.is_ok(), "{restored:?}");
            let shown = BatchError::Refused {
                step,
                error,
                restored,
            }
            .to_string();
            assert!(
                shown.contains("the kernel refused `+ filter (bogus)`"),
                "{shown}"
            );
            assert!(shown.contains(&msg), "{shown}");
        }
        e => panic!("{e}"),
    }
    assert_eq!(ns.live().config_bytes(), snapshot.config_bytes());
}

/// A foreign root qdisc (tbf) and an ingress qdisc with a filter: after a refused apply both
/// are back byte for byte; teardown removes tcc's HTB and table only.
#[test]
fn foreign_state_survives_refusal_and_teardown() {
    if !need_root() {
        return;
    }
    let ns = Bed::single(&["eth1"]);
    ns.a_run(&[
        "tc", "qdisc", "add", "dev", "eth1", "root", "handle", "5:", "tbf", "rate", "1mbit",
        "burst", "10k", "latency", "50ms",
    ]);
    ns.a_run(&["tc", "qdisc", "add", "dev", "eth1", "ingress"]);
    ns.a_run(&[
        "tc",
        "filter",
        "add",
        "dev",
        "eth1",
        "parent",
        "ffff:",
        "protocol",
        "ip",
        "prio",
        "1",
        "u32",
        "match",
        "ip",
        "src",
        "10.0.0.0/8",
        "flowid",
        "ffff:1",
    ]);
    ns.a_run(&["nft", "add", "table", "inet", "foreign"]);
    let snapshot = ns.live();

    // teardown with nothing of tcc's there: everything stays.
    let o = ns.tcc(&["teardown", "--interface", "eth1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        stdout(&o).contains("not tcc's HTB: left alone"),
        "{}",
        text(&o)
    );
    assert_eq!(ns.live().config_bytes(), snapshot.config_bytes());

    // A refusal on top of the tbf root puts the tbf back.
    let err = ns.inside(move || {
        let plan = plan_of(&format!(
            "{}/corpus/valid/seed-example-1.shape",
            env!("CARGO_MANIFEST_DIR")
        ));
        let ps = Psched::host().unwrap();
        let mut sock = Socket::open().unwrap();
        let live = Live::read(&mut sock, ifindex("eth1").unwrap()).unwrap();
        let want = Desired::from_plan(&plan.interfaces[0], true).unwrap();
        let mut steps = diff(&live, &want, &ps);
        assert_eq!(steps[0].change, Change::Delete, "the tbf root goes first");
        let mut bad = steps[3].clone();
        bad.object = "class 1:11 again".into();
        steps.insert(4, bad); // a duplicate classid: EEXIST
        exec::run(&mut sock, &live, &steps).unwrap_err()
    });
    match err {
        BatchError::Refused {
            error, restored, ..
        } => {
            assert_eq!(error.errno, libc::EEXIST);
            assert!(restored.is_ok(), "{restored:?}");
        }
        e => panic!("{e}"),
    }
    assert_eq!(ns.live().config_bytes(), snapshot.config_bytes());

    // Apply for real, then teardown: HTB and tcc's table go, ingress and `foreign` stay.
    let file = format!(
        "{}/corpus/valid/seed-example-3.shape",
        env!("CARGO_MANIFEST_DIR")
    );
    let o = ns.tcc(&["apply", &file]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = ns.tcc(&["apply", &file]);
    assert!(
        stdout(&o).contains("up to date, nothing sent"),
        "{}",
        text(&o)
    );
    let o = ns.tcc(&["teardown", "--interface", "eth1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let q = ns.a_run(&["tc", "qdisc", "show", "dev", "eth1"]);
    assert!(!q.contains("htb"), "{q}");
    assert!(q.contains("qdisc ingress ffff:"), "{q}");
    let f = ns.a_run(&["tc", "filter", "show", "dev", "eth1", "ingress"]);
    assert!(f.contains("flowid ffff:1"), "{f}");
    let rules = ns.a_run(&["nft", "list", "tables"]);
    assert!(rules.contains("table inet foreign"), "{rules}");
    assert!(!rules.contains("tcc_eth1"), "{rules}");
}

/// Without CAP_NET_ADMIN, apply and teardown say so and change nothing.
#[test]
fn without_cap_net_admin_nothing_happens() {
    if !need_root() {
        return;
    }
    let ns = Bed::single(&["eth1"]);
    let file = format!(
        "{}/corpus/valid/seed-example-1.shape",
        env!("CARGO_MANIFEST_DIR")
    );
    for args in [vec!["apply", file.as_str()], vec!["teardown", "-i", "eth1"]] {
        let o = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.a,
                "setpriv",
                "--bounding-set",
                "-net_admin",
            ])
            .arg(env!("CARGO_BIN_EXE_tcc"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("needs CAP_NET_ADMIN"),
            "{}",
            text(&o)
        );
    }
    assert!(ns.live().root_is_default());
    // plan needs no privilege.
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.a,
            "setpriv",
            "--bounding-set",
            "-net_admin",
        ])
        .arg(env!("CARGO_BIN_EXE_tcc"))
        .args(["plan", &file])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

/// A plan naming an interface that does not exist is refused before anything is sent.
#[test]
fn missing_interface_changes_nothing() {
    if !need_root() {
        return;
    }
    let ns = Bed::single(&["eth1"]);
    ns.ip(&["link", "set", "eth1", "name", "eth9"]);
    let file = format!(
        "{}/corpus/valid/seed-example-1.shape",
        env!("CARGO_MANIFEST_DIR")
    );
    let o = ns.tcc(&["apply", &file]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such network device: eth1"));
    let q = ns.a_run(&["tc", "qdisc", "show"]);
    assert!(!q.contains("htb"), "{q}");
}

/// `tcc status` shows the tree with counters.
#[test]
fn status_shows_the_tree() {
    if !need_root() {
        return;
    }
    let ns = Bed::single(&["eth1"]);
    let file = format!(
        "{}/corpus/valid/seed-example-1.shape",
        env!("CARGO_MANIFEST_DIR")
    );
    assert_eq!(ns.tcc(&["apply", &file]).status.code(), Some(0));
    let o = ns.tcc(&["status", "--interface", "eth1", "--interval", "0.1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let s = stdout(&o);
    assert!(s.starts_with("eth1: qdisc htb 1: default 12 r2q 10"), "{s}");
    for line in ["1:1 ", "  1:11 ", "  1:12 "] {
        assert!(s.contains(line), "{line:?} in {s}");
    }
    assert!(s.contains("200mbit"), "{s}");

    // With the .shape file: its interfaces, classes named as it names them; and JSON.
    let o = ns.tcc(&["status", &file, "--interval", "0"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let s = stdout(&o);
    assert!(s.starts_with("eth1: qdisc htb 1: default 12 r2q 10"), "{s}");
    assert!(s.contains("  1:11 transfer "), "{s}");
    let o = ns.tcc(&["status", &file, "--interval", "0.1", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let i = &v["interfaces"][0];
    assert_eq!(i["interface"], "eth1");
    assert_eq!(i["qdisc"], "htb 1:");
    let c = i["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["classid"] == "1:11")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(c["name"], "transfer", "{v}");
    assert_eq!(c["parent"], "1:1", "{v}");
    for k in ["rate", "ceil", "bytes", "packets", "drops", "current_rate"] {
        assert!(c[k].is_u64(), "{k}: {v}");
    }

    // --watch reads again every interval until stopped (here: one JSON object per line).
    use std::io::BufRead;
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.a, env!("CARGO_BIN_EXE_tcc")])
        .args([
            "status",
            &file,
            "--watch",
            "--interval",
            "0.1",
            "--format",
            "json",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..3 {
        let l = lines.next().unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["interfaces"][0]["interface"], "eth1", "{l}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let o = ns.tcc(&["status", &file, "--watch", "--interval", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// A datagram's destination address and port, and the class minor it must land in.
type Probe = (&'static str, u16, u32);

/// Packets land in the plan's classes with both classifiers: first match wins, negation and
/// lists work (nft), and the default class takes the rest. One UDP datagram per check, from
/// the shaped namespace to a second one; the class whose packet counter moved is the answer.
#[test]
fn packets_are_classified_as_planned() {
    if !need_root() {
        return;
    }
    let plan = "interface eth1 {\n rate 100mbit\n default other\n\
        class first { classid 1:10; rate 10mbit; match udp dport 53 dst 10.99.0.2 }\n\
        class dns { classid 1:11; rate 10mbit; match udp dport 53..54 }\n\
        class web { classid 1:12; rate 10mbit; match udp dport 80, 443 }\n\
        class other { classid 1:13; rate 10mbit }\n}\n";
    let negated = plan.replace(
        "class other",
        "class far { classid 1:14; rate 10mbit; match udp dst !10.99.0.2 }\n class other",
    );
    let cases: &[(&str, &str, &[Probe])] = &[
        (
            plan,
            "u32",
            &[
                ("10.99.0.2", 53, 0x10),
                ("10.99.0.2", 54, 0x11),
                ("10.99.0.3", 53, 0x11),
                ("10.99.0.2", 443, 0x12),
                ("10.99.0.2", 9, 0x13),
            ],
        ),
        (
            plan,
            "nft",
            &[
                ("10.99.0.2", 53, 0x10),
                ("10.99.0.2", 54, 0x11),
                ("10.99.0.3", 53, 0x11),
                ("10.99.0.2", 443, 0x12),
                ("10.99.0.2", 9, 0x13),
            ],
        ),
        (
            &negated,
            "nft",
            &[
                ("10.99.0.3", 9, 0x14),
                ("10.99.0.3", 80, 0x12),
                ("10.99.0.2", 9, 0x13),
            ],
        ),
    ];
    for (src, cls, checks) in cases {
        // eth1 in A (10.99.0.1), its peer in B (10.99.0.2); 10.99.0.3 is reached through it.
        let a = Bed::new("eth1", &[]);
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), src).unwrap();
        let o = a.tcc(&[
            "apply",
            "--classifier",
            cls,
            &tmp.path().display().to_string(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        for &(dst, port, want) in checks.iter() {
            let packets = |l: &Live| -> Vec<(u32, u64)> {
                l.classes
                    .iter()
                    .map(|c| (c.handle, c.stats.packets))
                    .collect()
            };
            let before = packets(&a.live());
            a.a_run(&[
                "python3",
                "-c",
                &format!(
                    "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', ('{dst}', {port}))"
                ),
            ]);
            let after = packets(&a.live());
            let moved: Vec<u32> = after
                .iter()
                .zip(&before)
                .filter(|(x, y)| x.1 > y.1 && x.0 & 0xffff != 1)
                .map(|(x, _)| x.0 & 0xffff)
                .collect();
            assert_eq!(moved, [want], "{cls}: udp to {dst}:{port}");
        }
    }
}

/// The interface disappears between reading and sending: the refusal names the step and the
/// kernel's reason, and says plainly that nothing could be restored.
#[test]
fn interface_gone_mid_apply_is_reported() {
    if !need_root() {
        return;
    }
    let ns = Bed::single(&["eth1"]);
    let name = ns.a.clone();
    let err = ns.inside(move || {
        let plan = plan_of(&format!(
            "{}/corpus/valid/seed-example-1.shape",
            env!("CARGO_MANIFEST_DIR")
        ));
        let ps = Psched::host().unwrap();
        let mut sock = Socket::open().unwrap();
        let live = Live::read(&mut sock, ifindex("eth1").unwrap()).unwrap();
        let want = Desired::from_plan(&plan.interfaces[0], true).unwrap();
        let steps = diff(&live, &want, &ps);
        run(&["ip", "-n", &name, "link", "del", "eth1"]);
        exec::run(&mut sock, &live, &steps).unwrap_err()
    });
    match &err {
        BatchError::Refused {
            step,
            error,
            restored,
        } => {
            assert!(step.contains("root qdisc htb 1:"), "{step}");
            assert_eq!(error.errno, libc::ENODEV, "{error}");
            assert!(restored.is_err(), "{restored:?}");
        }
        e => panic!("{e}"),
    }
    assert!(err
        .to_string()
        .contains("restoring the previous configuration FAILED"));
}

/// Two interfaces, the second fails part-way (its nftables transaction is refused, after its tc
/// tree went in): the first, already applied, gets its tc tree AND its nftables table back, and
/// the second its previous (default) state. The refusal is injected by putting a wrapper first
/// on PATH that passes every `nft` call through except the one that loads eth2's table.
#[test]
fn failure_on_a_later_interface_restores_the_earlier_ones() {
    if !need_root() {
        return;
    }
    let ns = Bed::single(&["eth1", "eth2"]);
    let one = "interface eth1 {\n rate 100mbit\n default b\n\
        class a { classid 1:10; rate 10mbit; match udp dport 53 }\n\
        class b { classid 1:11; rate 20mbit }\n}\n";
    let tmp1 = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp1.path(), one).unwrap();
    let o = ns.tcc(&["apply", &tmp1.path().display().to_string()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let tc_before = ns.live_of("eth1").config_bytes();
    let nft_before = ns.a_run(&["nft", "list", "table", "inet", "tcc_eth1"]);

    let two = one.replace("rate 20mbit", "rate 30mbit")
        + "interface eth2 {\n rate 100mbit\n default d\n\
           class m { classid 1:10; rate 10mbit; match tcp dport 22 }\n\
           class d { classid 1:11; rate 10mbit }\n}\n";
    let tmp2 = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp2.path(), two).unwrap();

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
            "#!/bin/sh\n# refuse the transaction that creates eth2's table, pass everything else\n\
             input=$(cat)\n\
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
    let o = Command::new("ip")
        .args(["netns", "exec", &ns.a, env!("CARGO_BIN_EXE_tcc"), "apply"])
        .arg(tmp2.path())
        .env("NO_COLOR", "1")
        .env("PATH", path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("injected by the test"), "{err}");
    assert!(
        err.contains("eth1: previous configuration restored"),
        "{err}"
    );
    assert_eq!(ns.live_of("eth1").config_bytes(), tc_before);
    assert_eq!(
        ns.a_run(&["nft", "list", "table", "inet", "tcc_eth1"]),
        nft_before
    );
    assert!(ns.live_of("eth2").root_is_default());
}

/// Every kind of u32 selector tcc writes comes back from the kernel as tcc sent it, so a
/// second apply finds nothing to do (and nft takes the same plan).
#[test]
fn every_selector_kind_round_trips() {
    if !need_root() {
        return;
    }
    let src = "interface eth1 {\n rate 1gbit\n default rest\n\
        class a { classid 1:10; rate 10mbit; match tcp sport 1024..5000 dst 10.1.0.0/17 }\n\
        class b { classid 1:11; rate 10mbit; match udp dport 53, 123, 5060..5061 src 2001:db8:a::/45 }\n\
        class c { classid 1:12; rate 10mbit; match dscp EF }\n\
        class d { classid 1:13; rate 10mbit; match length 0..127 }\n\
        class e { classid 1:14; rate 10mbit; match proto gre dst 192.0.2.0/24, 198.51.100.7 }\n\
        class f { classid 1:15; rate 10mbit; match icmpv6 dst 2001:db8::1/128 }\n\
        class g { classid 1:16; rate 10mbit; match icmp }\n\
        class h { classid 1:17; rate 10mbit; match tcp dport 443 dscp AF41 }\n\
        class rest { classid 1:20; rate 10mbit }\n}\n";
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), src).unwrap();
    let path = tmp.path().display().to_string();
    for cls in ["u32", "nft"] {
        let ns = Bed::single(&["eth1"]);
        let o = ns.tcc(&["apply", "--classifier", cls, &path]);
        assert_eq!(o.status.code(), Some(0), "{cls}: {}", text(&o));
        let o = ns.tcc(&["plan", "--classifier", cls, &path]);
        assert_eq!(o.status.code(), Some(0), "{cls}: {}", text(&o));
        if cls == "u32" {
            let flows = ns.a_run(&["tc", "filter", "show", "dev", "eth1"]);
            assert!(flows.matches("*flowid").count() >= 10, "{flows}");
        }
    }
}

/// Reshaping the tree in place: an inner class loses its children and becomes a leaf with a
/// prio of its own, a leaf gains children. One apply, and the next finds nothing to do.
#[test]
fn inner_classes_become_leaves_and_back() {
    if !need_root() {
        return;
    }
    let a = "interface eth1 {\n rate 100mbit\n default d\n class d { classid 1:30; rate 10mbit }\n\
        class x { classid 1:10; rate 50mbit\n class y { classid 1:11; rate 20mbit } }\n\
        class z { classid 1:20; rate 20mbit }\n}\n";
    let b = "interface eth1 {\n rate 100mbit\n default d\n class d { classid 1:30; rate 10mbit }\n\
        class x { classid 1:10; rate 50mbit; prio 3 }\n\
        class z { classid 1:20; rate 20mbit\n class w { classid 1:21; rate 10mbit } }\n}\n";
    let ns = Bed::single(&["eth1"]);
    for (k, src) in [a, b, a].iter().enumerate() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), src).unwrap();
        let path = tmp.path().display().to_string();
        let o = ns.tcc(&["apply", "--classifier", "u32", &path]);
        assert_eq!(o.status.code(), Some(0), "step {k}: {}", text(&o));
        if k > 0 {
            // In place: no root qdisc replaced.
            assert!(!stdout(&o).contains("root qdisc"), "{}", text(&o));
            assert!(
                !stdout(&o).contains("netlink message(s) (0 add"),
                "{}",
                text(&o)
            );
        }
        let o = ns.tcc(&["plan", "--classifier", "u32", &path]);
        assert_eq!(o.status.code(), Some(0), "step {k}: {}", text(&o));
    }
}
