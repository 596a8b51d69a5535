//! Hand-built plans shared by the emitter tests (later: corpus files through the front end).
#![allow(dead_code)]

pub mod kernel;

use ipnet::IpNet;
use tcc::diagnostic::Span;
use tcc::plan::{
    Class, ClassSpans, Criterion, Filter, Interface, Match, Plan, PortRange, Test, PROTO_ICMP,
    PROTO_ICMPV6, PROTO_TCP, PROTO_UDP,
};

/// A small builder: classes by name, rates in mbit.
pub struct IfaceBuilder {
    pub iface: Interface,
}

impl IfaceBuilder {
    pub fn new(name: &str) -> Self {
        IfaceBuilder {
            iface: Interface {
                name: name.to_string(),
                span: Span::default(),
                handle: 1,
                r2q: 10,
                default: None,
                classes: Vec::new(),
                filters: Vec::new(),
                expectations: Vec::new(),
                ingress: None,
            },
        }
    }

    fn idx(&self, name: &str) -> usize {
        self.iface
            .classes
            .iter()
            .position(|c| c.name == name)
            .unwrap_or_else(|| panic!("no class {name}"))
    }

    /// Add a class `name` with minor id `minor` (hex, as in tc) under `parent`.
    pub fn class(
        mut self,
        name: &str,
        minor: u16,
        parent: Option<&str>,
        rate: u64,
        ceil: u64,
    ) -> Self {
        let parent = parent.map(|p| self.idx(p));
        self.iface.classes.push(Class {
            name: name.to_string(),
            span: Span::default(),
            minor,
            explicit_id: true,
            parent,
            rate: rate * 1_000_000,
            ceil: ceil * 1_000_000,
            burst: None,
            cburst: None,
            prio: None,
            quantum: None,
            mtu: None,
            qdisc: None,
            rtt: None,
            spans: ClassSpans::default(),
        });
        self
    }

    /// Change the last class added.
    pub fn with(mut self, f: impl FnOnce(&mut Class)) -> Self {
        f(self.iface.classes.last_mut().unwrap());
        self
    }

    pub fn default(mut self, name: &str) -> Self {
        self.iface.default = Some(self.idx(name));
        self
    }

    /// "Traffic matching `m` (see `m`) goes to class `name`."
    pub fn filter(mut self, m_text: &str, name: &str) -> Self {
        let class = self.idx(name);
        self.iface.filters.push(Filter {
            class,
            m: m(m_text),
            span: Span::default(),
        });
        self
    }

    pub fn build(self) -> Interface {
        self.iface
    }
}

pub fn plan(ifaces: Vec<Interface>) -> Plan {
    Plan { interfaces: ifaces }
}

/// A tiny notation for matches: space-separated criteria, `!` negates.
/// `tcp udp icmp icmp6 proto=N src=NET,NET dst=... sport=80,20-21 dport=... dscp=N mark=V[/M]
/// len=A-B`.
pub fn m(text: &str) -> Match {
    let criteria = text
        .split_whitespace()
        .map(|word| {
            let (negated, word) = match word.strip_prefix('!') {
                Some(w) => (true, w),
                None => (false, word),
            };
            let (key, val) = word.split_once('=').unwrap_or((word, ""));
            let nets = || val.split(',').map(net).collect();
            let ports = || {
                val.split(',')
                    .map(|p| match p.split_once('-') {
                        Some((lo, hi)) => PortRange {
                            lo: lo.parse().unwrap(),
                            hi: hi.parse().unwrap(),
                        },
                        None => {
                            let v = p.parse().unwrap();
                            PortRange { lo: v, hi: v }
                        }
                    })
                    .collect()
            };
            let int = |s: &str| match s.strip_prefix("0x") {
                Some(h) => u32::from_str_radix(h, 16).unwrap(),
                None => s.parse().unwrap(),
            };
            let test = match key {
                "tcp" => Test::Proto(PROTO_TCP),
                "udp" => Test::Proto(PROTO_UDP),
                "icmp" => Test::Proto(PROTO_ICMP),
                "icmp6" => Test::Proto(PROTO_ICMPV6),
                "proto" => Test::Proto(val.parse().unwrap()),
                "src" => Test::Src(nets()),
                "dst" => Test::Dst(nets()),
                "sport" => Test::Sport(ports()),
                "dport" => Test::Dport(ports()),
                "dscp" => Test::Dscp(val.parse().unwrap()),
                "mark" => match val.split_once('/') {
                    Some((v, k)) => Test::Mark {
                        value: int(v),
                        mask: Some(int(k)),
                    },
                    None => Test::Mark {
                        value: int(val),
                        mask: None,
                    },
                },
                "len" => {
                    let (lo, hi) = val.split_once('-').unwrap();
                    Test::Length {
                        min: lo.parse().unwrap(),
                        max: hi.parse().unwrap(),
                    }
                }
                other => panic!("unknown test word {other}"),
            };
            Criterion {
                negated,
                test,
                span: Span::default(),
            }
        })
        .collect();
    Match { criteria }
}

fn net(s: &str) -> IpNet {
    s.parse()
        .unwrap_or_else(|_| IpNet::from(s.parse::<std::net::IpAddr>().unwrap()))
}

/// The seed guide's example 1: 200mbit to 1.2.3.4 out of a 1gbit link, the rest in 1:12.
pub fn seed_example_1() -> Plan {
    let jumbo = |c: &mut Class| c.mtu = Some(18000);
    plan(vec![IfaceBuilder::new("eth1")
        .class("link", 0x1, None, 1000, 1000)
        .class("bulk", 0x11, Some("link"), 200, 200)
        .with(jumbo)
        .class("other", 0x12, Some("link"), 700, 700)
        .with(jumbo)
        .default("other")
        .filter("tcp dst=1.2.3.4", "bulk")
        .build()])
}

/// The seed guide's example 3: on-site vs off-site web/FTP traffic, no default.
pub fn seed_example_3() -> Plan {
    let jumbo = |c: &mut Class| c.mtu = Some(18000);
    plan(vec![IfaceBuilder::new("eth1")
        .class("onsite", 0x1, None, 600, 1000)
        .with(jumbo)
        .class("offsite", 0x2, None, 400, 1000)
        .with(jumbo)
        .filter("tcp dst=131.225.0.0/16 sport=80,20-21,1024-5000", "onsite")
        .filter(
            "tcp !dst=131.225.0.0/16 sport=80,20-21,1024-5000",
            "offsite",
        )
        .build()])
}

/// Everything at once: overlapping filters (RETURN), both families, negated lists, dscp,
/// mark, length, class options, hex ids, a second interface with an awkward name.
pub fn kitchen_sink() -> Plan {
    plan(vec![
        IfaceBuilder::new("eth0")
            .class("root", 0x1, None, 1000, 1000)
            .class("voice", 0x1a, Some("root"), 10, 100)
            .with(|c| {
                c.prio = Some(0);
                c.burst = Some(15000);
                c.cburst = Some(3000);
            })
            .class("web", 0x20, Some("root"), 500, 1000)
            .with(|c| c.quantum = Some(60000))
            .class("rest", 0xff, Some("root"), 100, 1000)
            .default("rest")
            .filter("dscp=46", "voice")
            .filter("tcp dport=80,443", "web")
            .filter("tcp dst=2001:db8::/32 dport=8080", "web")
            .filter("udp !dst=10.0.0.0/8,192.168.0.0/16 !dport=53,123", "rest")
            .filter("mark=0x10/0xf0 len=0-128", "voice")
            .build(),
        {
            let mut i = IfaceBuilder::new("wan.10")
                .class("all", 0x1, None, 50, 50)
                .filter("icmp", "all")
                .build();
            i.r2q = 20;
            i
        },
    ])
}

/// The kernel test plan (interface `v0` of the veth test bed). First-match-wins is visible:
/// a packet to 10.99.0.3 port 5001 matches filters 1 and 2 and must land in `ports`.
pub fn kernel_plan() -> Plan {
    plan(vec![IfaceBuilder::new("v0")
        .class("top", 0x1, None, 100, 100)
        .class("ports", 0x10, Some("top"), 10, 100)
        .class("host", 0x11, Some("top"), 10, 100)
        .class("notlocal", 0x12, Some("top"), 10, 100)
        .class("rest", 0x1a, Some("top"), 10, 100)
        .default("rest")
        .filter("udp dport=5000-5010", "ports")
        .filter("udp dst=10.99.0.3", "host")
        .filter("udp !dst=10.99.0.4,10.99.0.5 sport=7000", "notlocal")
        .build()])
}

/// Like `kernel_plan`, but only what u32 can express (no negation).
pub fn kernel_plan_u32() -> Plan {
    plan(vec![IfaceBuilder::new("v0")
        .class("top", 0x1, None, 100, 100)
        .class("ports", 0x10, Some("top"), 10, 100)
        .class("host", 0x11, Some("top"), 10, 100)
        .class("notlocal", 0x12, Some("top"), 10, 100)
        .class("rest", 0x1a, Some("top"), 10, 100)
        .default("rest")
        .filter("udp dport=5000-5010", "ports")
        .filter("udp dst=10.99.0.3", "host")
        .filter("udp dst=10.99.0.2 sport=7000", "notlocal")
        .build()])
}

/// Every test plan with a name, for tests that run all of them.
pub fn all_plans() -> Vec<(&'static str, Plan)> {
    vec![
        ("seed_example_1", seed_example_1()),
        ("seed_example_3", seed_example_3()),
        ("kitchen_sink", kitchen_sink()),
        ("kernel_plan", kernel_plan()),
        ("kernel_plan_u32", kernel_plan_u32()),
    ]
}

/// Every example of `corpus/valid`, by file name, as a checked plan (sorted by name).
pub fn corpus_plans() -> Vec<(String, Plan)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/valid");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "shape"))
        .filter(|p| !is_site(&std::fs::read_to_string(p).unwrap()))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let (plan, diags) = tcc::analyze(0, &text);
            assert!(!diags.has_errors(), "{}", p.display());
            (p.file_name().unwrap().to_string_lossy().into_owned(), plan)
        })
        .collect()
}

/// Whether `shellcheck` is installed; when not, says so (and fails under `CI=true`).
pub fn have_shellcheck() -> bool {
    if std::process::Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_ok()
    {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "shellcheck is missing, and a skip under CI=true is a failure"
    );
    eprintln!("skipped: shellcheck not installed");
    false
}

/// `shellcheck -s sh` on `script`: its findings when it is not clean.
pub fn shellcheck(script: &str) -> Result<(), String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("shellcheck")
        .args(["-s", "sh", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run shellcheck");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Whether a `.shape` text is a site file (it has `host` blocks): its plan is per host, so the
/// tests that take one plan per corpus file leave it to `tests/corpus.rs`, which snapshots every
/// host, and `tests/kernel_fleet.rs`.
pub fn is_site(text: &str) -> bool {
    tcc::analyze_site(0, text).0.is_fleet()
}
