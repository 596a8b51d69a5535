//! The multiqueue layout's kernel side: an `mq` root qdisc with one HTB per tx queue, and the
//! tc BPF program that steers each packet to the tx queue whose HTB holds its class.
//!
//! The program runs at clsact egress (direct action), after nftables or iptables has set
//! `skb->priority` to the packet's class (`major:minor`, the major being the HTB of queue
//! `major - 1`), and before the kernel picks the tx queue. It writes the major into
//! `skb->queue_mapping`. This kernel (6.18) does not take that value as the tx queue directly
//! (only `act_skbedit` sets `netdev_xmit_skip_txqueue`), but `netdev_pick_tx` -> `skb_tx_hash`
//! reads a non-zero `queue_mapping` as "received on queue `queue_mapping - 1`" and picks that
//! queue, as long as the device has no XPS map and the socket has not cached another queue
//! (a connected socket caches the queue of its first packet, which this program chose).
//! `tests/kernel_mq.rs` proves it packet by packet; docs/performance.md says where it holds.
//!
//! Seven instructions, no helper calls (so no license requirement), assembled here.

use super::encode::{tc_handle, tcmsg, TCA_KIND, TCA_OPTIONS, TC_H_ROOT};
use super::nl::*;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// The `mq` root qdisc's handle (`7fff:`); its class `7fff:Q` is tx queue `Q - 1`, and the
/// HTB under it has handle `Q:`.
pub const MQ_MAJOR: u16 = 0x7fff;
/// `TC_H_CLSACT` (= `TC_H_INGRESS`): the clsact qdisc's parent.
const TC_H_CLSACT: u32 = 0xffff_fff1;
/// The clsact qdisc's handle, `ffff:`.
const CLSACT_HANDLE: u32 = 0xffff_0000;
/// clsact's egress hook as a filter parent (`TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)`).
const CLSACT_EGRESS: u32 = 0xffff_fff3;
const TCA_BPF_FD: u16 = 6;
const TCA_BPF_NAME: u16 = 7;
const TCA_BPF_FLAGS: u16 = 8;
const TCA_BPF_FLAG_ACT_DIRECT: u32 = 1;
/// The name the filter carries (`tc filter show` prints it).
pub const FILTER_NAME: &str = "tcc-steer";
/// The filter's priority on clsact egress.
pub const FILTER_PRIO: u16 = 1;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
/// `offsetof(struct __sk_buff, queue_mapping)` and `priority`.
const SKB_QUEUE_MAPPING: i16 = 12;
const SKB_PRIORITY: i16 = 32;

/// One eBPF instruction in its wire form.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = code;
    b[1] = (src << 4) | dst;
    b[2..4].copy_from_slice(&off.to_le_bytes());
    b[4..8].copy_from_slice(&imm.to_le_bytes());
    b
}

/// The steering program for `queues` tx queues:
/// `major = skb->priority >> 16; if 1 <= major <= queues { skb->queue_mapping = major }`,
/// then `TC_ACT_OK` (the packet goes on to the queue's qdisc unchanged).
pub fn program(queues: u16) -> Vec<[u8; 8]> {
    vec![
        insn(0x61, 2, 1, SKB_PRIORITY, 0),  // r2 = *(u32 *)(r1 + priority)
        insn(0x77, 2, 0, 0, 16),            // r2 >>= 16
        insn(0x15, 2, 0, 2, 0),             // if r2 == 0 goto out
        insn(0x25, 2, 0, 1, queues as i32), // if r2 > queues goto out
        insn(0x63, 1, 2, SKB_QUEUE_MAPPING, 0), // *(u32 *)(r1 + queue_mapping) = r2
        insn(0xb7, 0, 0, 0, 0),             // out: r0 = TC_ACT_OK
        insn(0x95, 0, 0, 0, 0),             // exit
    ]
}

/// Load the steering program (`bpf(BPF_PROG_LOAD)`, type `BPF_PROG_TYPE_SCHED_CLS`); the
/// verifier's log is in the error when it refuses.
pub fn load(queues: u16) -> io::Result<OwnedFd> {
    let prog: Vec<u8> = program(queues).concat();
    let license = b"MIT OR Apache-2.0\0";
    let mut log = vec![0u8; 16 * 1024];
    // union bpf_attr, the BPF_PROG_LOAD member: prog_type, insn_cnt, insns, license,
    // log_level, log_size, log_buf, kern_version, prog_flags, prog_name[16]; zero beyond.
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&BPF_PROG_TYPE_SCHED_CLS.to_ne_bytes());
    attr[4..8].copy_from_slice(&((prog.len() / 8) as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(prog.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    attr[24..28].copy_from_slice(&1u32.to_ne_bytes());
    attr[28..32].copy_from_slice(&(log.len() as u32).to_ne_bytes());
    attr[32..40].copy_from_slice(&(log.as_mut_ptr() as u64).to_ne_bytes());
    attr[48..57].copy_from_slice(b"tcc_steer");
    // SAFETY: every pointer in `attr` points at a live buffer of the stated length for the
    // duration of the call; the kernel writes only into `log`.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            attr.as_mut_ptr(),
            attr.len() as libc::c_uint,
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        let text = String::from_utf8_lossy(&log[..end]).trim().to_string();
        return Err(io::Error::new(
            e.kind(),
            if text.is_empty() {
                format!("loading the steering program: {e}")
            } else {
                format!("loading the steering program: {e}: {text}")
            },
        ));
    }
    // SAFETY: a new descriptor the kernel just returned, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

const CREATE: u16 = NLM_F_REQUEST | NLM_F_EXCL | NLM_F_CREATE;

/// `tc qdisc add dev D root handle 7fff: mq`.
pub fn mq_root_add(ifindex: u32) -> Msg {
    let mut m = Msg::new(RTM_NEWQDISC, CREATE);
    tcmsg(&mut m, ifindex, tc_handle(MQ_MAJOR, 0), TC_H_ROOT, 0);
    m.attr_str(TCA_KIND, "mq");
    m
}

/// `tc qdisc add dev D parent 7fff:Q handle Q: htb default X r2q N`, Q = `major`.
pub fn htb_under_mq(ifindex: u32, major: u16, defcls: u32, r2q: u32) -> Msg {
    let mut m = super::encode::htb_qdisc_add(ifindex, major, defcls, r2q);
    // The same message as a root HTB with the mq class as parent (tcmsg's field at 28..32).
    m.buf[28..32].copy_from_slice(&tc_handle(MQ_MAJOR, major).to_ne_bytes());
    m
}

/// `tc qdisc add dev D clsact`.
pub fn clsact_add(ifindex: u32) -> Msg {
    let mut m = Msg::new(RTM_NEWQDISC, CREATE);
    tcmsg(&mut m, ifindex, CLSACT_HANDLE, TC_H_CLSACT, 0);
    m.attr_str(TCA_KIND, "clsact");
    m
}

/// `tc qdisc del dev D clsact`.
pub fn clsact_del(ifindex: u32) -> Msg {
    let mut m = Msg::new(RTM_DELQDISC, NLM_F_REQUEST);
    tcmsg(&mut m, ifindex, CLSACT_HANDLE, TC_H_CLSACT, 0);
    m
}

/// `tc filter add dev D egress prio 1 handle 1 bpf direct-action fd FD name tcc-steer`.
pub fn filter_add(ifindex: u32, prog: &OwnedFd) -> Msg {
    use std::os::fd::AsRawFd;
    let mut m = Msg::new(RTM_NEWTFILTER, CREATE);
    // protocol all (ETH_P_ALL, in network order) in the low half of tcm_info.
    let info = ((FILTER_PRIO as u32) << 16) | (0x0003u16.to_be() as u32);
    tcmsg(&mut m, ifindex, 1, CLSACT_EGRESS, info);
    m.attr_str(TCA_KIND, "bpf");
    m.nest(TCA_OPTIONS);
    m.attr_u32(TCA_BPF_FD, prog.as_raw_fd() as u32);
    m.attr_str(TCA_BPF_NAME, FILTER_NAME);
    m.attr_u32(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT);
    m.end_nest();
    m
}

/// Load the program for `queues` queues and attach it to `ifindex`'s egress (adding clsact):
/// the messages to send, and the program's descriptor, which must stay open until they are
/// sent (the kernel then holds its own reference).
pub fn attach(ifindex: u32, queues: u16) -> io::Result<(Vec<Msg>, OwnedFd)> {
    let fd = load(queues)?;
    Ok((vec![clsact_add(ifindex), filter_add(ifindex, &fd)], fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_jumps_land_on_the_return() {
        let p = program(4);
        assert_eq!(p.len(), 7);
        // Both conditional jumps land on `r0 = 0` (index 5).
        for (i, ins) in p.iter().enumerate() {
            if ins[0] == 0x15 || ins[0] == 0x25 {
                let off = i16::from_le_bytes([ins[2], ins[3]]) as i64;
                assert_eq!(i as i64 + 1 + off, 5);
            }
        }
        assert_eq!(i32::from_le_bytes(p[3][4..8].try_into().unwrap()), 4);
    }

    #[test]
    fn htb_under_mq_differs_from_root_htb_only_in_parent() {
        let root = super::super::encode::htb_qdisc_add(7, 3, 0x10, 10);
        let under = htb_under_mq(7, 3, 0x10, 10);
        let (a, b) = (root.bytes(), under.bytes());
        assert_eq!(a.len(), b.len());
        let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
        assert!(diff.iter().all(|&i| (28..32).contains(&i)), "{diff:?}");
        assert_eq!(u32_at(b, 28), 0x7fff_0003);
    }
}
