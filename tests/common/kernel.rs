//! Helpers for tests that run scripts or the tcc binary against the real kernel: root checks,
//! running commands, reading `tc -s -d class show`, the namespace test bed, single-packet
//! probes and iperf3 flows.
//!
//! `Bed` is the one test bed. `Bed::new` makes a namespace pair: A holds the shaped device
//! (named like the plan's interface, 10.99.0.1/24), B its veth peer `v1` (10.99.0.2/24) plus
//! every extra address a test sends to (added with `add_remote`, routed from A via 10.99.0.2).
//! Permanent neighbour entries and disabled IPv6 keep ARP and IPv6 chatter out of the
//! counters. `Bed::single` makes namespace A alone, with a veth pair per interface name, for
//! tests that only read back what was configured. Either way the tcc binary runs inside A
//! (`tcc`), and tcc's own netlink reader can run there too (`inside`, `live`). Everything lives
//! in the namespaces, which are deleted on drop, even when a test panics.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Skip (visibly) unless root; under CI a skip is a failure.
pub fn need_root() -> bool {
    if is_root() {
        return true;
    }
    assert!(
        !ci(),
        "kernel tests need root, and a skip under CI=true is a failure"
    );
    eprintln!("skipped: needs root");
    false
}

/// Run a command, panic with its output if it fails; return stdout.
pub fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One HTB class as `tc -s [-d] class show` prints it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TcClass {
    pub parent: String,
    pub rate: u64,
    pub ceil: u64,
    /// Printed for leaves only.
    pub prio: Option<u32>,
    /// Printed for leaves only.
    pub quantum: Option<u64>,
    pub bytes: u64,
    pub packets: u64,
}

/// Parse `tc -s [-d] class show` text: a block per class starting with `class htb 1:10 parent
/// 1:1 [prio 0] [quantum N] rate 10Mbit ceil 100Mbit ...`, then ` Sent N bytes M pkt ...`.
pub fn parse_tc_classes(text: &str) -> BTreeMap<String, TcClass> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |key: &str| {
            words
                .iter()
                .position(|w| *w == key)
                .and_then(|i| words.get(i + 1))
                .map(|w| w.to_string())
        };
        // Only HTB classes: a leaf qdisc such as tbf lists a class of its own (`class tbf 13:1`).
        if words.first() == Some(&"class") && words.get(1) == Some(&"htb") {
            let id = words[2].to_string();
            let parent = if words.contains(&"root") {
                "root".to_string()
            } else {
                after("parent").expect("parent")
            };
            let class = TcClass {
                parent,
                rate: parse_rate(&after("rate").expect("rate")),
                ceil: parse_rate(&after("ceil").expect("ceil")),
                prio: after("prio").map(|p| p.parse().expect("prio")),
                quantum: after("quantum").map(|q| q.parse().expect("quantum")),
                ..TcClass::default()
            };
            out.insert(id.clone(), class);
            current = Some(id);
        } else if words.first() == Some(&"Sent") {
            let id = current.as_ref().expect("Sent line after a class line");
            let c = out.get_mut(id).unwrap();
            c.bytes = words[1].parse().expect("byte count");
            c.packets = words[3].parse().expect("packet count");
        }
    }
    out
}

/// `10Mbit`, `1Gbit`, `1500Kbit`, `12345bit` -> bits per second.
pub fn parse_rate(s: &str) -> u64 {
    let num_end = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(num_end);
    let mult = match unit {
        "bit" => 1e0,
        "Kbit" => 1e3,
        "Mbit" => 1e6,
        "Gbit" => 1e9,
        "Tbit" => 1e12,
        other => panic!("unknown rate unit {other:?} in {s:?}"),
    };
    (num.parse::<f64>().unwrap() * mult).round() as u64
}

/// Someone else's mangle rules (iptables and ip6tables), added with `exec` (a command runner
/// inside the namespace). They only touch IP protocol 253 (reserved for experiments), so the
/// mark they set never meets the tests' packets, whose mark classification they would
/// otherwise change.
pub fn add_foreign_iptables(exec: impl Fn(&[&str]) -> String) {
    for tool in ["iptables", "ip6tables"] {
        exec(&[
            tool,
            "-t",
            "mangle",
            "-A",
            "POSTROUTING",
            "-p",
            "253",
            "-m",
            "comment",
            "--comment",
            "foreign",
            "-j",
            "MARK",
            "--set-mark",
            "7",
        ]);
    }
}

/// The rules of `add_foreign_iptables` are still there.
pub fn assert_foreign_iptables_intact(exec: impl Fn(&[&str]) -> String, what: &str) {
    for tool in ["iptables-save", "ip6tables-save"] {
        let m = exec(&[tool, "-t", "mangle"]);
        assert!(
            m.contains("--comment foreign -j MARK --set-xmark 0x7/0xffffffff"),
            "{what}: {tool}: foreign rule gone:\n{m}"
        );
    }
}

pub const A_ADDR: &str = "10.99.0.1";
pub const B_ADDR: &str = "10.99.0.2";
pub const A_MAC: &str = "02:00:00:00:00:01";
pub const B_MAC: &str = "02:00:00:00:00:02";

/// The namespace test bed: A alone (`single`) or A and B joined by a veth pair (`new`).
pub struct Bed {
    pub a: String,
    /// None for a single-namespace bed.
    pub b: Option<String>,
    /// The shaped device in A (the first device of a single-namespace bed).
    pub dev: String,
    pidfiles: std::cell::RefCell<Vec<std::path::PathBuf>>,
}

/// A fresh suffix for namespace names: the process id and a counter.
fn bed_id() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    format!("{}-{n}", std::process::id())
}

impl Bed {
    /// A bed whose shaped device is `dev`; `others` are further devices created in A (veth
    /// pairs whose peers `tccpeerN` stay in A, down), for plans naming several interfaces.
    pub fn new(dev: &str, others: &[&str]) -> Bed {
        Bed::with_queues(dev, others, 1)
    }

    /// `Bed::new` whose shaped device (and its peer) has `queues` tx and rx queues.
    pub fn with_queues(dev: &str, others: &[&str], queues: u16) -> Bed {
        let id = bed_id();
        let bed = Bed {
            a: format!("tcc-t-a-{id}"),
            b: Some(format!("tcc-t-b-{id}")),
            dev: dev.to_string(),
            pidfiles: Default::default(),
        };
        let b = bed.b();
        run(&["ip", "netns", "add", &bed.a]);
        run(&["ip", "netns", "add", b]);
        let q = queues.to_string();
        let mut link = vec!["ip", "link", "add", dev, "netns", &bed.a];
        if queues > 1 {
            link.extend(["numtxqueues", &q, "numrxqueues", &q]);
        }
        link.extend(["type", "veth", "peer", "name", "v1", "netns", b]);
        run(&link);
        bed.a_run(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{}.disable_ipv6=1", dev.replace('.', "/")),
        ]);
        bed.b_run(&["sysctl", "-qw", "net.ipv6.conf.v1.disable_ipv6=1"]);
        bed.a_run(&["ip", "link", "set", dev, "address", A_MAC]);
        bed.b_run(&["ip", "link", "set", "v1", "address", B_MAC]);
        bed.a_run(&["ip", "addr", "add", &format!("{A_ADDR}/24"), "dev", dev]);
        bed.b_run(&["ip", "addr", "add", &format!("{B_ADDR}/24"), "dev", "v1"]);
        for (ns, d) in [(bed.a.as_str(), dev), (b, "v1")] {
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            run(&["ip", "-n", ns, "link", "set", d, "up"]);
        }
        for host in 2..=5 {
            bed.a_run(&[
                "ip",
                "neigh",
                "replace",
                &format!("10.99.0.{host}"),
                "lladdr",
                B_MAC,
                "dev",
                dev,
                "nud",
                "permanent",
            ]);
        }
        bed.b_run(&[
            "ip",
            "neigh",
            "replace",
            A_ADDR,
            "lladdr",
            A_MAC,
            "dev",
            "v1",
            "nud",
            "permanent",
        ]);
        for (i, o) in others.iter().enumerate() {
            bed.add_veth(o, &format!("tccpeer{i}"), false);
        }
        bed
    }

    /// Namespace A alone, with a veth pair per name in `devs` (peer `tccpeerN`, both ends up
    /// in A); `dev` is the first name.
    pub fn single(devs: &[&str]) -> Bed {
        let bed = Bed {
            a: format!("tcc-t-{}", bed_id()),
            b: None,
            dev: devs.first().unwrap_or(&"").to_string(),
            pidfiles: Default::default(),
        };
        run(&["ip", "netns", "add", &bed.a]);
        for (i, dev) in devs.iter().enumerate() {
            bed.add_veth(dev, &format!("tccpeer{i}"), true);
        }
        bed
    }

    /// A veth pair from the root namespace (`root_dev`, with `root_addr`/30) to A (`dev`, with
    /// `a_addr`/30), both up: A is then reachable from the test's own namespace, as a host of a
    /// fleet is over its network. Deleting A deletes the pair.
    pub fn link_to_root(&self, root_dev: &str, root_addr: &str, dev: &str, a_addr: &str) {
        run(&[
            "ip", "link", "add", root_dev, "type", "veth", "peer", "name", dev, "netns", &self.a,
        ]);
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{root_addr}/30"),
            "dev",
            root_dev,
        ]);
        run(&["ip", "link", "set", root_dev, "up"]);
        self.ip(&["addr", "add", &format!("{a_addr}/30"), "dev", dev]);
        self.ip(&["link", "set", dev, "up"]);
        self.ip(&["link", "set", "lo", "up"]);
    }

    /// B's name; panics on a single-namespace bed.
    pub fn b(&self) -> &str {
        self.b.as_deref().expect("a single-namespace bed has no B")
    }

    /// A veth pair `dev`-`peer` inside A, `dev` up (and `peer` if `peer_up`).
    fn add_veth(&self, dev: &str, peer: &str, peer_up: bool) {
        self.ip(&["link", "add", dev, "type", "veth", "peer", "name", peer]);
        self.ip(&["link", "set", dev, "up"]);
        if peer_up {
            self.ip(&["link", "set", peer, "up"]);
        }
    }

    /// `ip -n A ARGS`.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "-n", &self.a];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Run the tcc binary inside A (no colour); its output, whatever its status.
    pub fn tcc(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.a, env!("CARGO_BIN_EXE_tcc")])
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }

    /// Run `f` on a thread that has entered A.
    pub fn inside<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.a);
        std::thread::spawn(move || {
            let fd = std::fs::File::open(&path).unwrap();
            // SAFETY: setns on a valid namespace fd affects only this thread.
            let r = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns {path}");
            f()
        })
        .join()
        .unwrap()
    }

    /// tcc's netlink view of `dev` in A.
    pub fn live(&self) -> tcc::apply::live::Live {
        self.live_of(&self.dev)
    }

    /// tcc's netlink view of a device in A.
    pub fn live_of(&self, dev: &str) -> tcc::apply::live::Live {
        use tcc::apply::live::{ifindex, Live};
        let dev = dev.to_string();
        self.inside(move || {
            let mut s = tcc::apply::nl::Socket::open().unwrap();
            Live::read(&mut s, ifindex(&dev).unwrap()).unwrap()
        })
    }

    pub fn a_run(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.a];
        full.extend_from_slice(args);
        run(&full)
    }

    pub fn b_run(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", self.b()];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Make `addr` an address of B, reached from A through the veth (never routed anywhere
    /// else: it exists only inside the two namespaces).
    pub fn add_remote(&self, addr: &str) {
        if addr.starts_with("10.99.0.") {
            return;
        }
        let _ = Command::new("ip")
            .args([
                "-n",
                self.b(),
                "addr",
                "add",
                &format!("{addr}/32"),
                "dev",
                "v1",
            ])
            .output();
        self.a_run(&[
            "ip",
            "route",
            "replace",
            &format!("{addr}/32"),
            "via",
            B_ADDR,
            "dev",
            &self.dev,
        ]);
    }

    /// Write `script` to a file and run it with `sh` inside A; panics with its output on
    /// failure.
    pub fn apply(&self, script: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tcc.sh");
        std::fs::write(&path, script).unwrap();
        self.a_run(&["sh", path.to_str().unwrap()]);
    }

    /// The classes of `dev` in A, with details (prio, quantum) and counters.
    pub fn classes(&self, dev: &str) -> BTreeMap<String, TcClass> {
        parse_tc_classes(&self.a_run(&["tc", "-s", "-d", "class", "show", "dev", dev]))
    }

    /// Send one packet from A: a TCP SYN (the connection attempt is abandoned before any
    /// retransmission) or a UDP datagram, from `sport` to `dst:dport`, with a DSCP and a
    /// firewall mark.
    pub fn send(&self, tcp: bool, dst: &str, dport: u16, sport: u16, dscp: u8, mark: u32) {
        let py = "import socket,sys,time\n\
                  tcp=sys.argv[1]=='tcp'\n\
                  s=socket.socket(socket.AF_INET,socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)\n\
                  s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
                  s.setsockopt(socket.IPPROTO_IP,socket.IP_TOS,int(sys.argv[5])<<2)\n\
                  s.setsockopt(socket.SOL_SOCKET,36,int(sys.argv[6]))\n\
                  s.bind(('10.99.0.1',int(sys.argv[4])))\n\
                  if tcp:\n\
                  \x20s.setblocking(False)\n\
                  \x20s.connect_ex((sys.argv[2],int(sys.argv[3])))\n\
                  \x20time.sleep(0.05)\n\
                  else:\n\
                  \x20s.sendto(b'tcc',(sys.argv[2],int(sys.argv[3])))\n\
                  s.close()\n";
        self.a_run(&[
            "python3",
            "-c",
            py,
            if tcp { "tcp" } else { "udp" },
            dst,
            &dport.to_string(),
            &sport.to_string(),
            &dscp.to_string(),
            &mark.to_string(),
        ]);
    }

    /// Run one iperf3 TCP flow from A to `dst:dport` (client port `cport`, if any) for
    /// `secs` seconds after a one-second warm-up; the receiver's goodput in bit/s and bytes.
    pub fn iperf(&self, dst: &str, dport: u16, cport: Option<u16>, secs: u32) -> (f64, u64) {
        self.iperf_with(dst, dport, cport, secs, false)
    }

    /// Like `iperf`, but the data flows from B to A (`iperf3 -R`): what arrives on A's device,
    /// from B's `dst:dport` (the flow's source port on arrival).
    pub fn iperf_from_b(&self, dst: &str, dport: u16, secs: u32) -> (f64, u64) {
        self.iperf_with(dst, dport, None, secs, true)
    }

    fn iperf_with(
        &self,
        dst: &str,
        dport: u16,
        cport: Option<u16>,
        secs: u32,
        reverse: bool,
    ) -> (f64, u64) {
        let pidfile = std::env::temp_dir().join(format!("{}-iperf.pid", self.b()));
        self.pidfiles.borrow_mut().push(pidfile.clone());
        let _ = std::fs::remove_file(&pidfile);
        self.b_run(&[
            "iperf3",
            "-s",
            "-D",
            "-1",
            "-B",
            dst,
            "-p",
            &dport.to_string(),
            "--pidfile",
            pidfile.to_str().unwrap(),
        ]);
        // The daemon writes its pid file once it listens.
        for _ in 0..100 {
            if std::fs::metadata(&pidfile).is_ok_and(|m| m.len() > 0) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut args = vec![
            "iperf3".to_string(),
            "-c".into(),
            dst.into(),
            "-p".into(),
            dport.to_string(),
            "-t".into(),
            secs.to_string(),
            "-O".into(),
            "1".into(),
            "-J".into(),
        ];
        if let Some(c) = cport {
            args.extend(["--cport".into(), c.to_string()]);
        }
        if reverse {
            args.push("-R".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.a_run(&args);
        self.kill_iperf();
        let v: serde_json::Value = serde_json::from_str(&out).expect("iperf3 -J output");
        let rx = &v["end"]["sum_received"];
        (
            rx["bits_per_second"].as_f64().expect("bits_per_second"),
            rx["bytes"].as_u64().expect("bytes"),
        )
    }

    fn kill_iperf(&self) {
        for p in self.pidfiles.borrow_mut().drain(..) {
            if let Ok(pid) = std::fs::read_to_string(&p) {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    let _ = Command::new("kill").arg(pid.to_string()).output();
                }
            }
            let _ = std::fs::remove_file(&p);
        }
    }

    /// Everything a tcc script could change in A, without counters: classes, qdiscs, tc
    /// filters, the mangle tables, the nft ruleset.
    pub fn state(&self, devs: &[&str]) -> String {
        let mut s = String::new();
        for dev in devs {
            for (id, c) in self.classes(dev) {
                let mut c = c;
                c.bytes = 0;
                c.packets = 0;
                s += &format!("{dev} class {id} {c:?}\n");
            }
            s += &self.a_run(&["tc", "qdisc", "show", "dev", dev]);
            s += &self.a_run(&["tc", "filter", "show", "dev", dev]);
        }
        for tool in ["iptables-save", "ip6tables-save"] {
            for line in self.a_run(&[tool, "-t", "mangle"]).lines() {
                if line.starts_with('#') {
                    continue;
                }
                // Chain lines carry counters: ":POSTROUTING ACCEPT [12:345]".
                s += line.split(" [").next().unwrap();
                s.push('\n');
            }
        }
        // iptables-nft rules show up here too, with their counters: drop those.
        for line in self.a_run(&["nft", "list", "ruleset"]).lines() {
            let mut words = line.split_whitespace().peekable();
            let mut kept = Vec::new();
            while let Some(w) = words.next() {
                if w == "packets" || w == "bytes" {
                    words.next();
                } else if !(w == "counter" && words.peek() == Some(&"packets")) {
                    kept.push(w);
                }
            }
            s += &kept.join(" ");
            s.push('\n');
        }
        s
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        self.kill_iperf();
        for ns in std::iter::once(&self.a).chain(&self.b) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Whether this kernel takes every leaf qdisc of `plan` (tried as `tcc apply` tries them, in a
/// throwaway network namespace). This kernel lacks sfq and fq_codel: corpus examples using them
/// are applied by the tests of the refusal (tests/kernel_leafq.rs) instead.
pub fn kernel_takes(plan: &tcc::plan::Plan) -> bool {
    plan.interfaces
        .iter()
        .flat_map(|i| i.classes.iter())
        .filter_map(|c| c.qdisc.as_ref())
        .all(|q| tcc::apply::leafq::probe(q).is_ok())
}
