//! "Saying it once" on the real kernel: a per-host loop over an address range, `port N` (either
//! direction) and an address list of both families, applied by the `sh` and `nft` scripts and
//! by `tcc apply`; single probe packets must land in the class the plan names (its packet
//! counter moves by one, no other leaf's does).
//!
//! The bed disables IPv6; the dual-stack test enables it on the veth pair (no DAD, permanent
//! neighbours) and sends UDP datagrams of both families. IPv6 brings its own chatter (MLD, ND)
//! into the default class, so that test never expects the default class. Needs root.

mod common;

use common::kernel::{need_root, Bed, A_MAC, B_MAC};
use tcc::emit::{self, Classifier, ShOptions};
use tcc::plan::{Interface, Plan};

const DEV: &str = "tcco0";

#[derive(Debug, Clone, Copy)]
enum Variant {
    Sh(Classifier),
    Nft,
    Apply(&'static str),
}

fn plan_of(text: &str) -> Plan {
    let (plan, diags) = tcc::analyze(0, text);
    assert!(!diags.has_errors(), "{:?}", diags.items);
    plan
}

fn apply(bed: &Bed, v: Variant, plan: &Plan, text: &str) {
    let opts = |classifier| ShOptions {
        classifier,
        teardown: false,
        source_name: "kernel-once".into(),
    };
    match v {
        Variant::Sh(c) => bed.apply(&emit::sh(plan, &opts(c))),
        Variant::Nft => bed.apply(&emit::nft(plan, &opts(Classifier::Iptables)).script),
        Variant::Apply(cls) => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("p.shape");
            std::fs::write(&path, text).unwrap();
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

/// The classid of the class named `name`.
fn id_of(iface: &Interface, name: &str) -> String {
    let i = iface
        .classes
        .iter()
        .position(|c| c.name == name)
        .unwrap_or_else(|| panic!("no class {name}"));
    iface.classid(i)
}

/// The leaves whose packet counters moved while `send` ran, with how much (waits a little for
/// the packet to be dequeued). `ignore`: leaves that may move for other reasons.
fn moved(
    bed: &Bed,
    iface: &Interface,
    ignore: &[String],
    send: impl FnOnce(),
) -> Vec<(String, u64)> {
    let leaf = iface.leaves();
    let leaves: Vec<String> = (0..iface.classes.len())
        .filter(|&i| leaf[i])
        .map(|i| iface.classid(i))
        .filter(|l| !ignore.contains(l))
        .collect();
    let before = bed.classes(DEV);
    send();
    let diff = |after: &std::collections::BTreeMap<String, common::kernel::TcClass>| {
        leaves
            .iter()
            .filter(|l| after[*l].packets != before[*l].packets)
            .map(|l| (l.clone(), after[l].packets - before[l].packets))
            .collect::<Vec<_>>()
    };
    let mut after = bed.classes(DEV);
    for _ in 0..50 {
        if !diff(&after).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        after = bed.classes(DEV);
    }
    diff(&after)
}

const LOOP: &str = "interface tcco0 {
    rate 100mbit
    default rest
    for h in 10.98.0.10..10.98.0.60 {
        class \"host-${h}\" { rate 1mbit; ceil 50mbit; match dst ${h} }
    }
    for n in 1..3 {
        class \"printer-${n}\" { rate 1mbit; match dst 10.97.0.${n} }
    }
    class rest { rate 10mbit; ceil 100mbit }
}
";

#[test]
fn per_host_loop_puts_each_host_in_its_class() {
    if !need_root() {
        return;
    }
    let plan = plan_of(LOOP);
    let iface = &plan.interfaces[0];
    assert_eq!(iface.classes.len(), 1 + 51 + 3 + 1);
    let probes = [
        ("10.98.0.10", "host-10.98.0.10"),
        ("10.98.0.33", "host-10.98.0.33"),
        ("10.98.0.60", "host-10.98.0.60"),
        ("10.97.0.2", "printer-2"),
        ("10.98.0.61", "rest"),
        ("10.98.0.9", "rest"),
    ];
    for v in [
        Variant::Sh(Classifier::Iptables),
        Variant::Sh(Classifier::U32),
        Variant::Nft,
        Variant::Apply("nft"),
        Variant::Apply("u32"),
    ] {
        let bed = Bed::new(DEV, &[]);
        for (dst, _) in probes {
            bed.add_remote(dst);
        }
        apply(&bed, v, &plan, LOOP);
        for (dst, class) in probes {
            let m = moved(&bed, iface, &[], || bed.send(false, dst, 9000, 40000, 0, 0));
            assert_eq!(m, vec![(id_of(iface, class), 1)], "{v:?}: udp to {dst}");
        }
    }
}

const PORT: &str = "interface tcco0 {
    rate 100mbit
    default rest
    class dns { rate 10mbit; match udp port 5353 }
    class notweb { rate 10mbit; match tcp !port 8080 }
    class rest { rate 10mbit }
}
";

#[test]
fn port_matches_either_direction() {
    if !need_root() {
        return;
    }
    let plan = plan_of(PORT);
    let iface = &plan.interfaces[0];
    let (dns, notweb, rest) = (
        id_of(iface, "dns"),
        id_of(iface, "notweb"),
        id_of(iface, "rest"),
    );
    // (tcp, dport, sport, class)
    let probes = [
        (false, 5353, 40000, &dns),
        (false, 40001, 5353, &dns),
        (false, 40002, 40003, &rest),
        (true, 8080, 40004, &rest),
        (true, 40005, 8080, &rest),
        (true, 80, 40006, &notweb),
    ];
    let mut variants = vec![
        Variant::Sh(Classifier::Iptables),
        Variant::Nft,
        Variant::Apply("nft"),
    ];
    if emit::u32_expressible(&plan).items.is_empty() {
        variants.push(Variant::Sh(Classifier::U32));
    }
    for v in variants {
        let bed = Bed::new(DEV, &[]);
        apply(&bed, v, &plan, PORT);
        for (tcp, dport, sport, class) in probes {
            let m = moved(&bed, iface, &[], || {
                bed.send(tcp, "10.99.0.2", dport, sport, 0, 0)
            });
            if m != vec![(class.clone(), 1)] {
                eprintln!(
                    "{}",
                    bed.a_run(&["iptables", "-t", "mangle", "-L", "-v", "-n"])
                );
                eprintln!("{}", bed.a_run(&["tc", "-s", "class", "show", "dev", DEV]));
            }
            assert_eq!(
                m,
                vec![(class.clone(), 1)],
                "{v:?}: tcp={tcp} {sport}->{dport}"
            );
        }
    }
}

/// Enable IPv6 on the bed's veth pair: fd99::1 on A's device, fd99::2 on B's, no DAD, no
/// router advertisements, permanent neighbours.
fn enable_ipv6(bed: &Bed) {
    for (ns, dev, addr, peer, mac) in [
        (bed.a.as_str(), DEV, "fd99::1/64", "fd99::2", B_MAC),
        (bed.b(), "v1", "fd99::2/64", "fd99::1", A_MAC),
    ] {
        let exec = |args: &[&str]| {
            let mut full = vec!["ip", "netns", "exec", ns];
            full.extend_from_slice(args);
            common::kernel::run(&full)
        };
        exec(&["sysctl", "-qw", &format!("net.ipv6.conf.{dev}.accept_ra=0")]);
        exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{dev}.disable_ipv6=0"),
        ]);
        exec(&["ip", "addr", "add", addr, "dev", dev, "nodad"]);
        exec(&[
            "ip",
            "-6",
            "neigh",
            "replace",
            peer,
            "lladdr",
            mac,
            "dev",
            dev,
            "nud",
            "permanent",
        ]);
    }
}

fn send_udp6(bed: &Bed, dst: &str, dport: u16) {
    let py = "import socket,sys\n\
              s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\n\
              s.sendto(b'tcc',(sys.argv[1],int(sys.argv[2])))\n\
              s.close()\n";
    bed.a_run(&["python3", "-c", py, dst, &dport.to_string()]);
}

const DUAL: &str = "interface tcco0 {
    rate 100mbit
    default rest
    class peer { rate 10mbit; match udp dst 10.99.0.2, fd99::2 dport 9000 }
    class other { rate 10mbit; match udp dst [10.99.0.2, fd99::2] dport 9001 }
    class rest { rate 10mbit }
}
";

#[test]
fn a_list_of_both_families_classifies_ipv4_and_ipv6() {
    if !need_root() {
        return;
    }
    let plan = plan_of(DUAL);
    let iface = &plan.interfaces[0];
    assert_eq!(iface.filters.len(), 4, "one match per family and line");
    let (peer, other, rest) = (
        id_of(iface, "peer"),
        id_of(iface, "other"),
        id_of(iface, "rest"),
    );
    let mut variants = vec![
        Variant::Sh(Classifier::Iptables),
        Variant::Nft,
        Variant::Apply("nft"),
    ];
    if emit::u32_expressible(&plan).items.is_empty() {
        variants.push(Variant::Sh(Classifier::U32));
        variants.push(Variant::Apply("u32"));
    }
    for v in variants {
        let bed = Bed::new(DEV, &[]);
        enable_ipv6(&bed);
        apply(&bed, v, &plan, DUAL);
        let ignore = [rest.clone()];
        let m = moved(&bed, iface, &ignore, || {
            bed.send(false, "10.99.0.2", 9000, 40000, 0, 0)
        });
        assert_eq!(m, vec![(peer.clone(), 1)], "{v:?}: IPv4 to 9000");
        let m = moved(&bed, iface, &ignore, || send_udp6(&bed, "fd99::2", 9000));
        assert_eq!(m, vec![(peer.clone(), 1)], "{v:?}: IPv6 to 9000");
        let m = moved(&bed, iface, &ignore, || send_udp6(&bed, "fd99::2", 9001));
        assert_eq!(m, vec![(other.clone(), 1)], "{v:?}: IPv6 to 9001");
        let m = moved(&bed, iface, &ignore, || {
            bed.send(false, "10.99.0.2", 9001, 40001, 0, 0)
        });
        assert_eq!(m, vec![(other.clone(), 1)], "{v:?}: IPv4 to 9001");
    }
}
