//! Every backend is held to the plan: a differential property test on the real kernel.
//!
//! proptest generates configurations (nested classes, overlapping matches, negations, port
//! ranges, DSCP, marks, lengths, IPv6 filters beside the IPv4 ones, with and without a default)
//! as `.shape` text, and probe packets (TCP SYNs and UDP datagrams from A, IPv4 only: the test
//! bed disables IPv6). For each target and classifier (`sh`, `sh --classifier u32`, `batch`,
//! `batch --classifier u32`, `nft`, `tcc apply`, `tcc apply --classifier u32`; the u32 ones only
//! when the plan is u32-expressible) the configuration is applied in a namespace, every probe is
//! sent alone, and the leaf whose packet counter moves (or none) must be the class
//! `plan::decide::decide` gives for that packet. Then the corpus's own `expect` lines are sent
//! the same way (`corpus_expectations_hold_on_the_kernel`).
//!
//! Case count: plans (default 40, `TCC_KERNEL_EXPECT_CASES` to change), each with 8
//! probes through up to 7 variants; about 80 s on the 2-core test machine (measured: 40 cases, 1,808 probe checks, in 74-82 s). The
//! probes each variant checked are printed at the end (`--nocapture`).
//! Shrinking is bounded, as every shrink step applies configurations again. Needs root.

mod common;

use common::kernel::{need_root, Bed};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::net::{IpAddr, Ipv4Addr};
use tcc::emit::{self, Classifier, ShOptions};
use tcc::plan::decide::{decide, Packet};
use tcc::plan::{Family, Interface, Plan, PROTO_TCP, PROTO_UDP};

const DEV: &str = "tccx0";

/// Probes checked per variant (index into `VARIANTS`), for the closing summary.
static CHECKED: [std::sync::atomic::AtomicUsize; 7] =
    [const { std::sync::atomic::AtomicUsize::new(0) }; 7];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Sh(Classifier),
    Batch(Classifier),
    Nft,
    Apply(Classifier),
}

const VARIANTS: [Variant; 7] = [
    Variant::Sh(Classifier::Iptables),
    Variant::Sh(Classifier::U32),
    Variant::Batch(Classifier::Iptables),
    Variant::Batch(Classifier::U32),
    Variant::Nft,
    Variant::Apply(Classifier::Iptables), // `tcc apply` (its default classifier: nft)
    Variant::Apply(Classifier::U32),
];

impl Variant {
    fn u32(self) -> bool {
        matches!(
            self,
            Variant::Sh(Classifier::U32)
                | Variant::Batch(Classifier::U32)
                | Variant::Apply(Classifier::U32)
        )
    }

    /// Configure the bed from `text` (its plan `plan`).
    fn apply(self, bed: &Bed, plan: &Plan, text: &str) {
        let opts = |classifier, teardown| ShOptions {
            classifier,
            teardown,
            source_name: "kernel-expect".into(),
        };
        match self {
            Variant::Sh(c) => bed.apply(&emit::sh(plan, &opts(c, false))),
            Variant::Batch(c) => bed.apply(&emit::batch(plan, &opts(c, false)).script),
            Variant::Nft => bed.apply(&emit::nft(plan, &opts(Classifier::Iptables, false)).script),
            Variant::Apply(c) => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("p.shape");
                std::fs::write(&path, text).unwrap();
                let cls = if c == Classifier::U32 { "u32" } else { "nft" };
                let o = bed.tcc(&["apply", "--classifier", cls, path.to_str().unwrap()]);
                assert!(
                    o.status.success(),
                    "apply {cls}: {}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
    }

    /// Remove what `apply` made.
    fn teardown(self, bed: &Bed, plan: &Plan) {
        let opts = |classifier| ShOptions {
            classifier,
            teardown: true,
            source_name: "kernel-expect".into(),
        };
        match self {
            Variant::Sh(c) => bed.apply(&emit::sh(plan, &opts(c))),
            Variant::Batch(c) => bed.apply(&emit::batch(plan, &opts(c)).script),
            Variant::Nft => bed.apply(&emit::nft(plan, &opts(Classifier::Iptables)).script),
            Variant::Apply(_) => {
                let o = bed.tcc(&["teardown", "-i", DEV]);
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            }
        }
    }
}

/// Destinations the matches and the probes use (all routed to B by the bed).
const DSTS: [&str; 4] = ["10.99.1.1", "10.99.1.7", "10.99.2.9", "10.99.0.2"];
const NETS4: [&str; 4] = ["10.99.1.0/24", "10.99.1.7", "10.99.2.0/23", "10.99.0.0/16"];
const NETS6: [&str; 2] = ["2001:db8::/32", "fd00::7"];
const PORTS: [u16; 7] = [80, 443, 1000, 1005, 1009, 1010, 5201];
const PORT_SETS: [&str; 6] = [
    "80",
    "80, 443",
    "1000..1009",
    "1005",
    "0..1023",
    "1010..5201",
];
const DSCPS: [u8; 3] = [0, 10, 46];
const MARKS: [u32; 4] = [0, 1, 0x10, 0x11];
const MARK_TESTS: [&str; 3] = ["1", "0x10/0xf0", "0x11"];
/// Around the probes' lengths: a SYN is 60 bytes, the UDP probe 31.
const LENGTHS: [&str; 3] = ["0..50", "55..100", "31..60"];

/// One generated match line (`plain`: only what u32 expresses).
fn match_line(plain: bool) -> impl Strategy<Value = String> {
    let proto = prop_oneof![Just(""), Just("tcp"), Just("udp")];
    (
        proto,
        proptest::option::of((
            any::<bool>(),
            prop_oneof![
                (0..4usize).prop_map(|i| NETS4[i]),
                (0..2usize).prop_map(|i| NETS6[i])
            ],
        )),
        proptest::option::of((any::<bool>(), 0..PORT_SETS.len())),
        proptest::option::of((any::<bool>(), 0..PORT_SETS.len())),
        proptest::option::of((any::<bool>(), 0..DSCPS.len())),
        proptest::option::of(0..MARK_TESTS.len()),
        proptest::option::of(0..LENGTHS.len()),
    )
        .prop_map(move |(proto, dst, dport, sport, dscp, mark, len)| {
            // Plain lines (what u32 can express): no negation, no mark, no length.
            let (dst, dport, sport, dscp, mark, len) = if plain {
                fn pos<T>(o: Option<(bool, T)>) -> Option<(bool, T)> {
                    o.map(|(_, x)| (false, x))
                }
                (pos(dst), pos(dport), pos(sport), pos(dscp), None, None)
            } else {
                (dst, dport, sport, dscp, mark, len)
            };
            let mut c: Vec<String> = vec![];
            if !proto.is_empty() {
                c.push(proto.to_string());
            }
            let not = |n: bool| if n { "!" } else { "" };
            if let Some((n, d)) = dst {
                c.push(format!("{}dst {d}", not(n)));
            }
            if !proto.is_empty() {
                if let Some((n, p)) = dport {
                    c.push(format!("{}dport {}", not(n), PORT_SETS[p]));
                }
                if let Some((n, p)) = sport {
                    c.push(format!("{}sport {}", not(n), PORT_SETS[p]));
                }
            }
            if let Some((n, d)) = dscp {
                c.push(format!("{}dscp {}", not(n), DSCPS[d]));
            }
            if let Some(m) = mark {
                c.push(format!("mark {}", MARK_TESTS[m]));
            }
            if let Some(l) = len {
                c.push(format!("length {}", LENGTHS[l]));
            }
            if c.is_empty() {
                c.push("udp".into());
            }
            c.join(" ")
        })
}

/// A configuration: leaves l0..l4 (l0 and l1 inside `inner` when nested), each with 0..2 match
/// lines, and maybe a default (l4 then has no matches).
/// Half of the configurations are plain (u32-expressible), so the u32 variants run too.
fn config() -> impl Strategy<Value = String> {
    any::<bool>().prop_flat_map(config_of)
}

fn config_of(plain: bool) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::collection::vec(match_line(plain), 0..3), 5),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(lines, nested, default)| {
            let mut s = format!("interface {DEV} {{\n    rate 100mbit\n");
            if default {
                s += "    default l4\n";
            }
            let leaf = |i: usize, ls: &[String]| {
                let mut t = format!("class l{i} {{ rate 5mbit");
                if !(default && i == 4) {
                    for l in ls {
                        t += &format!("; match {l}");
                    }
                }
                t + " }\n"
            };
            if nested {
                s += "    class inner { rate 20mbit\n";
                s += &format!("        {}", leaf(0, &lines[0]));
                s += &format!("        {}", leaf(1, &lines[1]));
                s += "    }\n";
            } else {
                s += &format!("    {}", leaf(0, &lines[0]));
                s += &format!("    {}", leaf(1, &lines[1]));
            }
            for (i, ls) in lines.iter().enumerate().skip(2) {
                s += &format!("    {}", leaf(i, ls));
            }
            s + "}\n"
        })
}

/// A probe: (tcp, dst, dport, sport, dscp, mark).
type Probe = (bool, &'static str, u16, u16, u8, u32);

fn probe() -> impl Strategy<Value = Probe> {
    (
        any::<bool>(),
        0..DSTS.len(),
        0..PORTS.len(),
        0..PORTS.len(),
        0..DSCPS.len(),
        0..MARKS.len(),
    )
        .prop_map(|(tcp, d, dp, sp, ds, m)| {
            (tcp, DSTS[d], PORTS[dp], PORTS[sp], DSCPS[ds], MARKS[m])
        })
}

/// The probe as the plan sees it: from A's address; a SYN with Linux's options is 60 bytes,
/// the 3-byte UDP datagram 31.
fn packet(p: &Probe) -> Packet {
    let (tcp, dst, dport, sport, dscp, mark) = *p;
    Packet {
        src: IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1)),
        dst: dst.parse().unwrap(),
        dport,
        sport,
        dscp,
        mark,
        len: if tcp { 60 } else { 31 },
        ..Packet::blank(Family::V4, if tcp { PROTO_TCP } else { PROTO_UDP })
    }
}

/// One python process inside A that sends a probe per input line (the same packets as
/// `Bed::send`, without a process start per packet) and answers `ok` once it is out.
struct Prober {
    child: std::process::Child,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl Prober {
    fn new(bed: &Bed) -> Prober {
        let py = "import socket,sys,time\n\
                  for line in sys.stdin:\n\
                  \x20k,dst,dport,sport,dscp,mark=line.split()\n\
                  \x20tcp=k=='tcp'\n\
                  \x20s=socket.socket(socket.AF_INET,socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)\n\
                  \x20s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
                  \x20s.setsockopt(socket.IPPROTO_IP,socket.IP_TOS,int(dscp)<<2)\n\
                  \x20s.setsockopt(socket.SOL_SOCKET,36,int(mark))\n\
                  \x20s.bind(('10.99.0.1',int(sport)))\n\
                  \x20if tcp:\n\
                  \x20 s.setblocking(False)\n\
                  \x20 s.connect_ex((dst,int(dport)))\n\
                  \x20 time.sleep(0.01)\n\
                  \x20else:\n\
                  \x20 s.sendto(b'tcc',(dst,int(dport)))\n\
                  \x20s.close()\n\
                  \x20print('ok',flush=True)\n";
        let mut child = std::process::Command::new("ip")
            .args(["netns", "exec", &bed.a, "python3", "-u", "-c", py])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        Prober { child, out }
    }

    fn send(&mut self, p: &Probe) {
        use std::io::{BufRead, Write};
        let (tcp, dst, dport, sport, dscp, mark) = *p;
        let kind = if tcp { "tcp" } else { "udp" };
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{kind} {dst} {dport} {sport} {dscp} {mark}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ok", "prober died on {p:?}");
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Send `p` alone; the leaf whose packet counter moved (by exactly one), or `None`.
fn landed(bed: &Bed, prober: &mut Prober, iface: &Interface, p: &Probe) -> Option<String> {
    let leaf = iface.leaves();
    let leaves: Vec<String> = (0..iface.classes.len())
        .filter(|&i| leaf[i])
        .map(|i| iface.classid(i))
        .collect();
    let before = bed.classes(DEV);
    prober.send(p);
    let moved = |after: &std::collections::BTreeMap<String, common::kernel::TcClass>| -> Vec<(String, u64)> {
        leaves
            .iter()
            .filter(|l| after[*l].packets != before[*l].packets)
            .map(|l| (l.clone(), after[l].packets - before[l].packets))
            .collect()
    };
    let mut after = bed.classes(DEV);
    // A packet that reaches no class moves nothing: wait a little for stragglers anyway.
    for _ in 0..5 {
        if !moved(&after).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        after = bed.classes(DEV);
    }
    let m = moved(&after);
    assert!(m.len() <= 1, "{p:?}: several leaves moved: {m:?}");
    m.first().map(|(l, n)| {
        assert_eq!(*n, 1, "{p:?}: {m:?}");
        l.clone()
    })
}

/// Apply `text` with every usable variant and compare each probe's class with `decide`.
fn differential(
    bed: &Bed,
    prober: &mut Prober,
    text: &str,
    probes: &[Probe],
) -> Result<(), TestCaseError> {
    let (plan, diags) = tcc::analyze(0, text);
    prop_assert!(
        !diags.has_errors(),
        "generated an invalid config: {:?}\n{}",
        diags,
        text
    );
    let iface = &plan.interfaces[0];
    let u32_ok = emit::u32_expressible(&plan).items.is_empty();
    for (k, v) in VARIANTS.into_iter().enumerate() {
        if v.u32() && !u32_ok {
            continue;
        }
        v.apply(bed, &plan, text);
        for p in probes {
            let want = decide(iface, &packet(p)).class.map(|c| iface.classid(c));
            let got = landed(bed, prober, iface, p);
            if got != want {
                v.teardown(bed, &plan);
                return Err(TestCaseError::fail(format!(
                    "{v:?}: probe {p:?} landed in {got:?}, decide says {want:?}\n{text}"
                )));
            }
        }
        v.teardown(bed, &plan);
        CHECKED[k].fetch_add(probes.len(), std::sync::atomic::Ordering::Relaxed);
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("TCC_KERNEL_EXPECT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

#[test]
fn every_backend_classifies_like_the_plan() {
    if !need_root() {
        return;
    }
    let bed = Bed::new(DEV, &[]);
    for d in DSTS {
        bed.add_remote(d);
    }
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        max_shrink_iters: 32,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (config(), prop::collection::vec(probe(), 8));
    let prober = std::cell::RefCell::new(Prober::new(&bed));
    let result = runner.run(&strategy, |(text, probes)| {
        differential(&bed, &mut prober.borrow_mut(), &text, &probes)
    });
    for (k, v) in VARIANTS.iter().enumerate() {
        eprintln!(
            "{v:?}: {} probes agreed with decide",
            CHECKED[k].load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    if let Err(e) = result {
        panic!("{e}");
    }
}
