//! Scripts as shaping tools and guides write them (`corpus/scripts`), against the real kernel:
//! each script runs in a namespace on a veth, single probe packets (a TCP SYN or a UDP
//! datagram) go out of the shaped device, and the HTB leaf whose packet counter rose is
//! recorded as its (rate, ceil). Then `tcc explain --to shape` imports the script; where the
//! import compiles, `tcc apply` of it in a fresh namespace must send every probe to a class with
//! the same (rate, ceil), except the probes the case lists as lost, which must land elsewhere
//! (so a difference is never hidden, and a fix shows up as a failure to update). Where the
//! import exits 1 its standard error must name each lost piece the case lists.

mod common;

use common::kernel::{need_root, Bed};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// One probe packet from A: TCP SYN or UDP, to `dst:dport` from `sport`, with a DSCP.
#[derive(Debug, Clone, Copy)]
struct Probe {
    tcp: bool,
    dst: &'static str,
    dport: u16,
    sport: u16,
    dscp: u8,
}

const fn tcp(dst: &'static str, dport: u16) -> Probe {
    Probe {
        tcp: true,
        dst,
        dport,
        sport: 40000,
        dscp: 0,
    }
}

const fn udp(dst: &'static str, dport: u16) -> Probe {
    Probe {
        tcp: false,
        dst,
        dport,
        sport: 40001,
        dscp: 0,
    }
}

struct Case {
    file: &'static str,
    /// The shaped device (the name the script uses or is given).
    dev: &'static str,
    args: &'static [&'static str],
    probes: &'static [Probe],
    /// Text the import's standard error must hold when it exits 1 (empty: it exits 0).
    lost: &'static [&'static str],
    /// Whether the import compiles (and so can be applied) although it exits 1.
    applies: bool,
    /// Indices of probes the import sends to another (rate, ceil) than the original.
    differ: &'static [usize],
}

const H2: &str = "10.99.0.2";
const H4: &str = "10.99.0.4";
/// The reference guide's server address.
const HOST: &str = "1.2.3.4";

const CASES: &[Case] = &[
    // Shorewall: the port filters live in u32 hash tables reached with `offset ... eat`,
    // which tcc does not read; the host filter in the root table comes through.
    Case {
        file: "shorewall.sh",
        dev: "eth0",
        args: &["eth0"],
        probes: &[
            tcp(H2, 22),
            tcp(H2, 80),
            udp(H2, 53),
            tcp(H2, 443),
            udp(H4, 9),
            tcp(H4, 22),
        ],
        lost: &[
            "u32 option `divisor`",
            "u32 option `link`",
            "u32 option `ht`",
        ],
        applies: true,
        differ: &[0, 1, 2],
    },
    // An ISP's per-customer classes, classified with iptables CLASSIFY.
    Case {
        file: "isp-customers.sh",
        dev: "eth2",
        args: &["start"],
        probes: &[
            udp("10.20.30.1", 9),
            tcp("10.20.30.7", 80),
            udp("10.20.30.12", 9),
            tcp(H2, 80),
        ],
        lost: &[],
        applies: true,
        differ: &[],
    },
    // The reference guide's first and second examples (iptables CLASSIFY).
    Case {
        file: "seed-example-1.sh",
        dev: "eth1",
        args: &[],
        probes: &[tcp(HOST, 80), udp(HOST, 53), tcp(H2, 80)],
        lost: &[],
        applies: true,
        differ: &[],
    },
    Case {
        file: "seed-example-2.sh",
        dev: "eth1",
        args: &[],
        probes: &[
            tcp(HOST, 1000),
            tcp(HOST, 1005),
            udp(HOST, 1000),
            tcp(H2, 1000),
        ],
        lost: &[],
        applies: true,
        differ: &[],
    },
    // wondershaper: sfq leaves (carried by the import: tcc models them) and the ingress policer
    // do not exist here (the original runs without them, having no `set -e`); the import keeps
    // the script's own errors (children over their parent, port matches without a protocol)
    // and does not compile.
    Case {
        file: "wondershaper.sh",
        dev: "eth0",
        args: &["eth0", "10000", "1000"],
        probes: &[
            Probe {
                dscp: 4,
                ..tcp(H2, 22)
            },
            tcp(H2, 25),
            udp(H2, 119),
            tcp(H2, 80),
            Probe {
                sport: 6881,
                ..udp(H2, 9)
            },
        ],
        lost: &[
            "raw u32 selector `match u8 0x05 0x0f at 0`",
            "a police action on ingress drops above 10000kbit",
            "keeps the script's errors",
        ],
        applies: false,
        differ: &[],
    },
    // The LARTC cookbook: `set -e` stops it at the first sfq, so here the original has its
    // classes but none of its filters; the import keeps the script's errors.
    Case {
        file: "lartc-cookbook.sh",
        dev: "eth0",
        args: &[],
        probes: &[tcp(H2, 80), tcp(H2, 25), udp(H2, 53)],
        lost: &[
            "classifies into 1:40, which does not exist",
            "keeps the script's errors",
        ],
        applies: false,
        differ: &[],
    },
];

/// Where a probe went: the (rate, ceil) of the leaf whose packet counter rose, or None when
/// no leaf counted it (not shaped).
type Landing = Option<(u64, u64)>;

fn land(bed: &Bed, p: &Probe) -> Landing {
    let before = bed.classes(&bed.dev);
    bed.send(p.tcp, p.dst, p.dport, p.sport, p.dscp, 0);
    let after = bed.classes(&bed.dev);
    let parents: Vec<&str> = after.values().map(|c| c.parent.as_str()).collect();
    let rose: Vec<(u64, u64)> = after
        .iter()
        .filter(|(id, _)| !parents.contains(&id.as_str()))
        .filter(|(id, c)| {
            before
                .get(*id)
                .map_or(c.packets > 0, |b| c.packets > b.packets)
        })
        .map(|(_, c)| (c.rate, c.ceil))
        .collect();
    assert!(rose.len() <= 1, "{p:?} counted by several leaves: {rose:?}");
    rose.first().copied()
}

fn probe_all(bed: &Bed, probes: &[Probe]) -> Vec<Landing> {
    for p in probes {
        bed.add_remote(p.dst);
    }
    probes.iter().map(|p| land(bed, p)).collect()
}

fn tcc_bin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tcc"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn scripts_and_their_imports_classify_probes_alike() {
    if !need_root() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/scripts");
    let mut report: BTreeMap<&str, String> = BTreeMap::new();
    for case in CASES {
        let path = dir.join(case.file);
        let p = path.to_str().unwrap();
        let original = Bed::new(case.dev, &[]);
        // bash: wondershaper's `$[...]`; the others are sh scripts bash runs alike.
        Command::new("ip")
            .args(["netns", "exec", &original.a, "bash", p])
            .args(case.args)
            .output()
            .unwrap();
        let want = probe_all(&original, case.probes);
        drop(original);
        assert!(
            want.iter().any(Option::is_some),
            "{}: the original classified no probe: {want:?}",
            case.file
        );

        let mut args = vec!["explain", p, "--to", "shape", "--"];
        args.extend_from_slice(case.args);
        let out = tcc_bin(&args);
        let shape = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let ctx = format!("{}\n{stderr}\n{shape}", case.file);
        let code = if case.lost.is_empty() { 0 } else { 1 };
        assert_eq!(out.status.code(), Some(code), "{ctx}");
        for piece in case.lost {
            assert!(stderr.contains(piece), "{ctx}\nnot named: {piece}");
        }
        if !case.applies {
            report.insert(case.file, format!("import exits 1; original: {want:?}"));
            continue;
        }
        let import = Bed::new(case.dev, &[]);
        let file = tempfile::Builder::new()
            .suffix(".shape")
            .tempfile()
            .unwrap();
        std::fs::write(file.path(), &shape).unwrap();
        let applied = import.tcc(&["apply", file.path().to_str().unwrap()]);
        assert!(
            applied.status.success(),
            "{ctx}\napply: {}",
            String::from_utf8_lossy(&applied.stderr)
        );
        let got = probe_all(&import, case.probes);
        for (i, probe) in case.probes.iter().enumerate() {
            if case.differ.contains(&i) {
                assert_ne!(
                    got[i], want[i],
                    "{ctx}\nprobe {i} {probe:?} now lands alike"
                );
            } else {
                assert_eq!(got[i], want[i], "{ctx}\nprobe {i} {probe:?}");
            }
        }
        report.insert(case.file, format!("original {want:?}, import {got:?}"));
    }
    for (file, r) in report {
        eprintln!("{file}: {r}");
    }
}
