//! The multiqueue layout's steering, against the real kernel: the tc BPF program tcc loads
//! (`apply::steer`) at clsact egress makes each packet leave through the tx queue named by the
//! major of its `skb->priority` (the HTB `Q:` under `mq` class `7fff:Q`). Packets carry their
//! priority from the socket (`SO_PRIORITY`), as nftables' `meta priority set` would give it;
//! each tx queue holds a bfifo whose packet counter says where every packet went.

mod common;
use common::kernel::*;
use std::collections::BTreeMap;

/// Packets sent through each tx queue's qdisc, by the qdisc's major (`Q:` under `7fff:Q`).
fn per_queue(bed: &Bed) -> BTreeMap<u16, u64> {
    let text = bed.a_run(&["tc", "-s", "qdisc", "show", "dev", &bed.dev]);
    let mut out = BTreeMap::new();
    let mut cur = None;
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.first() == Some(&"qdisc") {
            cur = (w.get(1) == Some(&"bfifo"))
                .then(|| u16::from_str_radix(w[2].trim_end_matches(':'), 16).unwrap());
        } else if let (Some(q), Some(&"Sent")) = (cur, w.first()) {
            out.insert(q, w[3].parse().unwrap());
        }
    }
    out
}

/// Send `n` UDP datagrams to 10.99.0.2 from one unconnected socket with `SO_PRIORITY` `prio`,
/// then `n` more from a socket connected to 10.99.0.3 (which caches its tx queue).
fn send_with_priority(bed: &Bed, prio: u32, n: u32) {
    let py = "import socket,sys\n\
              p,n=int(sys.argv[1]),int(sys.argv[2])\n\
              s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
              s.setsockopt(socket.SOL_SOCKET,socket.SO_PRIORITY,p)\n\
              for _ in range(n): s.sendto(b'tcc',('10.99.0.2',9))\n\
              c=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
              c.setsockopt(socket.SOL_SOCKET,socket.SO_PRIORITY,p)\n\
              c.connect(('10.99.0.3',9))\n\
              for _ in range(n): c.send(b'tcc')\n";
    bed.a_run(&["python3", "-c", py, &prio.to_string(), &n.to_string()]);
}

#[test]
fn steering_program_sends_each_priority_major_to_its_tx_queue() {
    if !need_root() {
        return;
    }
    let bed = Bed::with_queues("eth0", &[], 4);
    bed.a_run(&[
        "tc", "qdisc", "add", "dev", "eth0", "root", "handle", "7fff:", "mq",
    ]);
    for q in 1..=4 {
        let parent = format!("7fff:{q}");
        let handle = format!("{q}:");
        bed.a_run(&[
            "tc", "qdisc", "add", "dev", "eth0", "parent", &parent, "handle", &handle, "bfifo",
        ]);
    }
    // Without the program, the kernel hashes flows over the queues: the control.
    let msgs = bed.inside(|| {
        use tcc::apply::{live::ifindex, nl::Ack, nl::Socket, steer};
        let ifx = ifindex("eth0").unwrap();
        let (msgs, fd) = steer::attach(ifx, 4).expect("load the steering program");
        let mut sock = Socket::open().unwrap();
        let acks = sock.batch(&msgs).unwrap();
        drop(fd);
        acks.iter()
            .map(|a| matches!(a, Ack::Ok(_)))
            .collect::<Vec<_>>()
    });
    assert_eq!(msgs, [true, true], "clsact and the bpf filter are accepted");
    let filters = bed.a_run(&["tc", "filter", "show", "dev", "eth0", "egress"]);
    assert!(
        filters.contains("tcc-steer") && filters.contains("direct-action"),
        "{filters}"
    );
    // Queue Q (major Q) gets 2 * (Q + 1) packets: distinct counts, so no mix-up can pass.
    let before = per_queue(&bed);
    for q in 1..=4u32 {
        send_with_priority(&bed, (q << 16) | 0x10, q + 1);
    }
    let after = per_queue(&bed);
    for q in 1..=4u16 {
        let sent = after[&q] - before.get(&q).copied().unwrap_or(0);
        assert_eq!(
            sent,
            2 * (q as u64 + 1),
            "tx queue {} (HTB {q}:): {after:?}",
            q - 1
        );
    }
    // A priority whose major names no queue (0, or above the count) is left to the kernel's
    // choice: the packets still leave, through some queue.
    let before: u64 = per_queue(&bed).values().sum();
    send_with_priority(&bed, 0x50010, 2);
    send_with_priority(&bed, 6, 2);
    let after: u64 = per_queue(&bed).values().sum();
    assert_eq!(after - before, 8);
}

/// The whole data path of the layout: nftables sets each destination's class (`Q:10`, in the
/// HTB of queue Q - 1), the program steers, and the packets reach that class's counter in
/// that HTB, with nothing in the same class of the other HTBs.
#[test]
fn nft_classified_packets_meet_their_class_in_their_queue_htb() {
    if !need_root() {
        return;
    }
    let bed = Bed::with_queues("eth0", &[], 4);
    bed.a_run(&[
        "tc", "qdisc", "add", "dev", "eth0", "root", "handle", "7fff:", "mq",
    ]);
    for q in 1..=4 {
        let (parent, handle) = (format!("7fff:{q}"), format!("{q}:"));
        bed.a_run(&[
            "tc", "qdisc", "add", "dev", "eth0", "parent", &parent, "handle", &handle, "htb",
            "default", "20",
        ]);
        for minor in ["10", "20"] {
            let (p, c) = (format!("{q}:"), format!("{q}:{minor}"));
            bed.a_run(&[
                "tc", "class", "add", "dev", "eth0", "parent", &p, "classid", &c, "htb", "rate",
                "100mbit",
            ]);
        }
    }
    // 10.99.0.2 -> 3:10, 10.99.0.3 -> 1:10, 10.99.0.4 -> 4:10, 10.99.0.5 -> 2:10.
    let rules = "table inet tcc_mq_test {\n chain post {\n  type filter hook postrouting priority 0;\n  \
                 ip daddr 10.99.0.2 meta priority set 3:10\n  ip daddr 10.99.0.3 meta priority set 1:10\n  \
                 ip daddr 10.99.0.4 meta priority set 4:10\n  ip daddr 10.99.0.5 meta priority set 2:10\n }\n}\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.nft");
    std::fs::write(&path, rules).unwrap();
    bed.a_run(&["nft", "-f", path.to_str().unwrap()]);
    let ok = bed.inside(|| {
        use tcc::apply::{live::ifindex, nl::Ack, nl::Socket, steer};
        let (msgs, _fd) = steer::attach(ifindex("eth0").unwrap(), 4).unwrap();
        let acks = Socket::open().unwrap().batch(&msgs).unwrap();
        acks.iter().all(|a| matches!(a, Ack::Ok(_)))
    });
    assert!(ok);
    for (host, n) in [("2", 3), ("3", 4), ("4", 5), ("5", 6)] {
        for i in 0..n {
            bed.send(false, &format!("10.99.0.{host}"), 9, 40000 + i, 0, 0);
        }
    }
    // `tc class show` lists the mq classes too (no rate): keep the HTB ones.
    let text = bed.a_run(&["tc", "-s", "-d", "class", "show", "dev", "eth0"]);
    let htb: Vec<&str> = text
        .split("\nclass ")
        .filter(|b| b.trim_start_matches("class ").starts_with("htb"))
        .collect();
    let classes = parse_tc_classes(&format!("class {}", htb.join("\nclass ")));
    let pkts = |c: &str| classes.get(c).map(|k| k.packets).unwrap_or(0);
    assert_eq!(
        [pkts("3:10"), pkts("1:10"), pkts("4:10"), pkts("2:10")],
        [3, 4, 5, 6],
        "{classes:#?}"
    );
    for q in 1..=4 {
        assert_eq!(pkts(&format!("{q}:20")), 0, "default class of HTB {q}:");
    }
}
