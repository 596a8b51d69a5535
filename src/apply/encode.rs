//! Traffic-control messages, built exactly as iproute2 6.1's `tc` builds them (`tc_qdisc.c`,
//! `tc_class.c`, `tc_filter.c`, `q_htb.c`, `f_u32.c`, `tc_core.c`): the same attributes in the
//! same order, the same rate tables and the same psched tick arithmetic. The unit tests compare
//! the bytes with what `tc` sent for the same commands (`tests/fixtures/netlink/`).

use super::nl::*;
use crate::dialect::u32::{KeyError, Selector};

pub const TC_H_ROOT: u32 = 0xffff_ffff;
pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;

pub const TCA_KIND: u16 = 1;
pub const TCA_OPTIONS: u16 = 2;
pub const TCA_STATS2: u16 = 7;
pub const TCA_XSTATS: u16 = 4;

pub const TCA_HTB_PARMS: u16 = 1;
pub const TCA_HTB_INIT: u16 = 2;
pub const TCA_HTB_CTAB: u16 = 3;
pub const TCA_HTB_RTAB: u16 = 4;
pub const TCA_HTB_DIRECT_QLEN: u16 = 5;
pub const TCA_HTB_RATE64: u16 = 6;
pub const TCA_HTB_CEIL64: u16 = 7;

pub const TCA_U32_CLASSID: u16 = 1;
pub const TCA_U32_DIVISOR: u16 = 4;
pub const TCA_U32_SEL: u16 = 5;
pub const TCA_U32_MARK: u16 = 10;

const TC_U32_TERMINAL: u8 = 1;
const LINKLAYER_ETHERNET: u8 = 1;
/// HTB's protocol version in `struct tc_htb_glob` (`HTB_VER >> 16`).
const HTB_VERSION: u32 = 3;

/// The psched clock as `tc` reads it from /proc/net/psched: microsecond-to-tick factor and
/// the timer frequency (`get_hz`). Injectable so tests do not depend on the host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Psched {
    /// `tick_in_usec` of tc_core.c.
    pub tick_in_usec: f64,
    /// `get_hz()` of utils.c.
    pub hz: u32,
}

impl Psched {
    /// The values of every kernel since 2.6.3x with high-resolution timers:
    /// `000003e8 00000040 000f4240 3b9aca00`.
    pub const HIGH_RES: Psched = Psched {
        tick_in_usec: 1000.0 / 64.0,
        hz: 1_000_000_000,
    };

    /// Parse the text of /proc/net/psched the way tc_core_init() and get_hz() do.
    pub fn parse(text: &str) -> Option<Psched> {
        let w: Vec<u32> = text
            .split_whitespace()
            .take(4)
            .map(|t| u32::from_str_radix(t, 16))
            .collect::<Result<_, _>>()
            .ok()?;
        if w.len() < 3 {
            return None;
        }
        let (mut t2us, us2t, clock_res) = (w[0], w[1], w[2]);
        if clock_res == 1_000_000_000 {
            t2us = us2t;
        }
        let clock_factor = clock_res as f64 / 1_000_000.0;
        let tick_in_usec = t2us as f64 / us2t as f64 * clock_factor;
        let hz = match w.get(3) {
            Some(&denom) if clock_res == 1_000_000 && denom != 0 => denom,
            _ => 100,
        };
        Some(Psched { tick_in_usec, hz })
    }

    /// Read /proc/net/psched of this host.
    pub fn host() -> std::io::Result<Psched> {
        let text = std::fs::read_to_string("/proc/net/psched")?;
        Psched::parse(&text).ok_or_else(|| std::io::Error::other("cannot parse /proc/net/psched"))
    }

    fn time2tick(&self, time: u32) -> u32 {
        (time as f64 * self.tick_in_usec) as u32
    }

    /// `tc_calc_xmittime`: ticks to send `size` bytes at `rate` bytes/s.
    pub fn xmittime(&self, rate: u64, size: u32) -> u32 {
        self.time2tick((1_000_000.0 * (size as f64 / rate as f64)) as u32)
    }
}

/// `struct tcmsg`.
pub fn tcmsg(msg: &mut Msg, ifindex: u32, handle: u32, parent: u32, info: u32) {
    let mut t = [0u8; 20];
    t[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    t[8..12].copy_from_slice(&handle.to_ne_bytes());
    t[12..16].copy_from_slice(&parent.to_ne_bytes());
    t[16..20].copy_from_slice(&info.to_ne_bytes());
    msg.put(&t);
}

pub fn tc_handle(major: u16, minor: u16) -> u32 {
    ((major as u32) << 16) | minor as u32
}

pub(super) const CREATE: u16 = NLM_F_REQUEST | NLM_F_EXCL | NLM_F_CREATE;

/// `tc qdisc add dev D root handle H: htb [default X] [r2q N]`.
pub fn htb_qdisc_add(ifindex: u32, major: u16, defcls: u32, r2q: u32) -> Msg {
    let mut m = Msg::new(RTM_NEWQDISC, CREATE);
    tcmsg(&mut m, ifindex, tc_handle(major, 0), TC_H_ROOT, 0);
    m.attr_str(TCA_KIND, "htb");
    m.nest(TCA_OPTIONS);
    let mut glob = [0u8; 20];
    glob[0..4].copy_from_slice(&HTB_VERSION.to_ne_bytes());
    glob[4..8].copy_from_slice(&r2q.to_ne_bytes());
    glob[8..12].copy_from_slice(&defcls.to_ne_bytes());
    m.attr(TCA_HTB_INIT, &glob);
    m.end_nest();
    m
}

/// `tc qdisc del dev D root`.
pub fn root_qdisc_del(ifindex: u32) -> Msg {
    let mut m = Msg::new(RTM_DELQDISC, NLM_F_REQUEST);
    tcmsg(&mut m, ifindex, 0, TC_H_ROOT, 0);
    m
}

/// The parameters of one HTB class, in tc's units (rates in bytes per second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HtbClass {
    pub rate: u64,
    pub ceil: u64,
    /// Bytes; `None`: rate / hz + mtu, as tc computes it.
    pub burst: Option<u32>,
    pub cburst: Option<u32>,
    pub quantum: u32,
    pub prio: u32,
    /// Bytes; tc's default is 1600.
    pub mtu: u32,
}

impl HtbClass {
    /// The burst in bytes: given, or rate / hz + mtu as tc computes it.
    pub fn burst_bytes(&self, ps: &Psched) -> u32 {
        self.burst
            .unwrap_or_else(|| default_burst(self.rate, self.mtu, ps))
    }
    pub fn cburst_bytes(&self, ps: &Psched) -> u32 {
        self.cburst
            .unwrap_or_else(|| default_burst(self.ceil, self.mtu, ps))
    }
    /// The burst in psched ticks (TCA_HTB_PARMS `buffer`).
    pub fn buffer(&self, ps: &Psched) -> u32 {
        ps.xmittime(self.rate, self.burst_bytes(ps))
    }
    pub fn cbuffer(&self, ps: &Psched) -> u32 {
        ps.xmittime(self.ceil, self.cburst_bytes(ps))
    }
}

/// tc's burst when none is given, `rate / hz + mtu`. `run::compare` refuses a plan where this
/// leaves 32 bits (`plan::limits::default_burst`), so the last resort below is never reached.
fn default_burst(rate: u64, mtu: u32, ps: &Psched) -> u32 {
    crate::plan::limits::default_burst(rate, mtu as u64, ps.hz as u64)
        .and_then(|b| u32::try_from(b).ok())
        .unwrap_or(u32::MAX)
}

/// `struct tc_ratespec` plus its rate table (`tc_calc_rtable` with mpu 0, no overhead).
pub(super) fn ratespec(rate: u64, mtu: u32, ps: &Psched) -> ([u8; 12], Vec<u8>) {
    let bps = if rate >= 1 << 32 {
        u32::MAX
    } else {
        rate as u32
    };
    let mtu = if mtu == 0 { 2047 } else { mtu };
    let mut cell_log = 0u8;
    while (mtu >> cell_log) > 255 {
        cell_log += 1;
    }
    let mut tab = Vec::with_capacity(1024);
    for i in 0..256u32 {
        let sz = (i + 1) << cell_log;
        tab.extend_from_slice(&ps.xmittime(bps as u64, sz).to_ne_bytes());
    }
    let mut r = [0u8; 12];
    r[0] = cell_log;
    r[1] = LINKLAYER_ETHERNET;
    r[4..6].copy_from_slice(&(-1i16).to_ne_bytes()); // cell_align
    r[8..12].copy_from_slice(&bps.to_ne_bytes());
    (r, tab)
}

/// `tc class add|change dev D parent P classid C htb rate .. ceil .. [burst] [cburst]
/// [prio] [quantum] [mtu]`. `change` sends the message with no create flags.
pub fn htb_class(
    ifindex: u32,
    parent: u32,
    classid: u32,
    c: &HtbClass,
    change: bool,
    ps: &Psched,
) -> Msg {
    let flags = if change { NLM_F_REQUEST } else { CREATE };
    let mut m = Msg::new(RTM_NEWTCLASS, flags);
    tcmsg(&mut m, ifindex, classid, parent, 0);
    m.attr_str(TCA_KIND, "htb");
    let (rate, rtab) = ratespec(c.rate, c.mtu, ps);
    let (ceil, ctab) = ratespec(c.ceil, c.mtu, ps);
    let mut opt = Vec::with_capacity(44);
    opt.extend_from_slice(&rate);
    opt.extend_from_slice(&ceil);
    opt.extend_from_slice(&c.buffer(ps).to_ne_bytes());
    opt.extend_from_slice(&c.cbuffer(ps).to_ne_bytes());
    opt.extend_from_slice(&c.quantum.to_ne_bytes());
    opt.extend_from_slice(&0u32.to_ne_bytes()); // level
    opt.extend_from_slice(&c.prio.to_ne_bytes());
    m.nest(TCA_OPTIONS);
    if c.rate >= 1 << 32 {
        m.attr(TCA_HTB_RATE64, &c.rate.to_ne_bytes());
    }
    if c.ceil >= 1 << 32 {
        m.attr(TCA_HTB_CEIL64, &c.ceil.to_ne_bytes());
    }
    m.attr(TCA_HTB_PARMS, &opt);
    m.attr(TCA_HTB_RTAB, &rtab);
    m.attr(TCA_HTB_CTAB, &ctab);
    m.end_nest();
    m
}

/// `tc class del dev D classid C`.
pub fn class_del(ifindex: u32, classid: u32) -> Msg {
    let mut m = Msg::new(RTM_DELTCLASS, NLM_F_REQUEST);
    tcmsg(&mut m, ifindex, classid, 0, 0);
    m
}

/// One u32 key (`struct tc_u32_key`), values in network byte order as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub mask: u32,
    pub val: u32,
    pub off: i32,
    pub offmask: i32,
}

/// A u32 filter: its keys (`struct tc_u32_sel`), optional mark test, target class.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct U32 {
    pub keys: Vec<Key>,
    pub mark: Option<(u32, u32)>,
    pub classid: u32,
}

impl U32 {
    /// The filter for `sel` (from `dialect::u32::selectors`) sending to `classid`: its keys,
    /// packed as f_u32.c packs them (`Selector::keys`), in network byte order.
    pub fn new(sel: &Selector, classid: u32) -> Result<U32, KeyError> {
        let keys = sel
            .keys()?
            .into_iter()
            .map(|k| Key {
                mask: k.mask.to_be(),
                val: k.value.to_be(),
                off: k.off,
                offmask: 0,
            })
            .collect();
        Ok(U32 {
            keys,
            mark: sel.mark(),
            classid,
        })
    }

    /// The TCA_U32_SEL payload.
    pub fn sel_bytes(&self) -> Vec<u8> {
        let mut s = vec![0u8; 16];
        s[0] = TC_U32_TERMINAL;
        s[2] = self.keys.len() as u8;
        for k in &self.keys {
            s.extend_from_slice(&k.mask.to_ne_bytes());
            s.extend_from_slice(&k.val.to_ne_bytes());
            s.extend_from_slice(&k.off.to_ne_bytes());
            s.extend_from_slice(&k.offmask.to_ne_bytes());
        }
        s
    }
}

/// `tc filter add dev D parent P: protocol ip|ipv6 prio N [handle H] u32 <sel> flowid C`.
pub fn u32_filter_add(
    ifindex: u32,
    parent: u32,
    proto: u16,
    prio: u16,
    handle: u32,
    f: &U32,
) -> Msg {
    let mut m = Msg::new(RTM_NEWTFILTER, CREATE);
    let info = ((prio as u32) << 16) | proto.to_be() as u32;
    tcmsg(&mut m, ifindex, handle, parent, info);
    m.attr_str(TCA_KIND, "u32");
    m.nest(TCA_OPTIONS);
    if let Some((v, mask)) = f.mark {
        let mut b = Vec::with_capacity(12);
        b.extend_from_slice(&v.to_ne_bytes());
        b.extend_from_slice(&mask.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        m.attr(TCA_U32_MARK, &b);
    }
    m.attr_u32(TCA_U32_CLASSID, f.classid);
    m.attr(TCA_U32_SEL, &f.sel_bytes());
    m.end_nest();
    m
}

/// `tc filter del dev D parent P: protocol X prio N` (the whole u32 instance of that prio).
pub fn filter_del(ifindex: u32, parent: u32, proto: u16, prio: u16) -> Msg {
    let mut m = Msg::new(RTM_DELTFILTER, NLM_F_REQUEST);
    let info = ((prio as u32) << 16) | proto.to_be() as u32;
    tcmsg(&mut m, ifindex, 0, parent, info);
    m
}

/// A dump request (`tc qdisc|class|filter show dev D`).
pub fn dump_req(ty: u16, ifindex: u32, parent: u32) -> Msg {
    let mut m = Msg::new(ty, NLM_F_REQUEST | NLM_F_DUMP);
    tcmsg(&mut m, ifindex, 0, parent, 0);
    m
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn psched_of_high_res_kernels() {
        let p = Psched::parse("000003e8 00000040 000f4240 3b9aca00\n").unwrap();
        assert_eq!(p, Psched::HIGH_RES);
        // 1600 bytes at 25 Mbyte/s = 64 us = 1000 ticks.
        assert_eq!(p.xmittime(25_000_000, 1600), 1000);
    }

    #[test]
    fn psched_like_tc_core_init() {
        // A clock_res of 1 GHz means nanosecond ticks: t2us is replaced by us2t (tc's
        // compatibility hack), and get_hz falls back to 100 unless the third word is 1000000.
        let p = Psched::parse("00000001 00000001 3b9aca00 3b9aca00").unwrap();
        assert_eq!(p.tick_in_usec, 1000.0);
        assert_eq!(p.hz, 100);
        let p = Psched::parse("000003e8 00000040 000f4240 000003e8").unwrap();
        assert_eq!(p.hz, 1000);
        assert_eq!(p.xmittime(1_000_000, 1000), (1000.0 * 15.625) as u32);
        assert!(Psched::parse("garbage").is_none());
    }

    /// A selector as tc reads it (the words of `dialect::u32::Sel::parse`).
    fn sel(text: &str) -> Selector {
        let w: Vec<&str> = text.split_whitespace().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < w.len() {
            let (s, n) = crate::dialect::u32::Sel::parse(&w[i..]).unwrap();
            out.push(s);
            i += n;
        }
        Selector(out)
    }

    #[test]
    fn u32_keys_merge_like_tc() {
        let u = U32::new(
            &sel("match ip protocol 6 0xff match ip dst 1.2.3.4/32 match ip dport 1000 0xffff match ip sport 80 0xffff"),
            0x10011,
        )
        .unwrap();
        // protocol at 8, dst at 16, ports merged into one key at 20.
        assert_eq!(u.keys.len(), 3);
        assert_eq!(u.keys[2].off, 20);
        assert_eq!(u.keys[2].mask, 0xffff_ffffu32.to_be());
        assert_eq!(u.keys[2].val, ((80u32 << 16) | 1000).to_be());
    }

    /// The bytes of the fixture `name` (tc's sendmsg, from strace's hex dump).
    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/netlink/{name}.strace",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let mut out = Vec::new();
        for line in text.lines().filter(|l| l.starts_with(" | ")) {
            // " | 00000  48 00 ... 00  ascii |": 16 hex bytes after the offset.
            let hex = &line[10..line.len().min(10 + 49)];
            out.extend(
                hex.split_whitespace()
                    .map(|b| u8::from_str_radix(b, 16).unwrap()),
            );
        }
        out
    }

    /// Compare our message with tc's, taking tc's sequence number and interface index.
    pub(in crate::apply) fn same_as_tc(name: &str, mut m: Msg) {
        let tc = fixture(name);
        assert!(tc.len() >= 36, "{name}: fixture too short");
        m.set_flags(m.flags() | NLM_F_ACK);
        m.set_seq(u32_at(&tc, 8));
        let ours = m.bytes();
        let hex = |b: &[u8]| {
            b.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(hex(ours), hex(&tc), "{name}: our message differs from tc's");
    }

    const IF: u32 = 3;

    fn class(rate_bits: u64, ceil_bits: u64) -> HtbClass {
        HtbClass {
            rate: rate_bits / 8,
            ceil: ceil_bits / 8,
            burst: None,
            cburst: None,
            quantum: 0,
            prio: 0,
            mtu: 1600,
        }
    }

    #[test]
    fn qdiscs_match_tc() {
        same_as_tc("qdisc_add", htb_qdisc_add(IF, 1, 0x12, 10));
        same_as_tc("qdisc_add_r2q", htb_qdisc_add(IF, 2, 3, 20));
        same_as_tc("qdisc_del", root_qdisc_del(IF));
    }

    #[test]
    fn classes_match_tc() {
        let ps = Psched::HIGH_RES;
        let mut c = class(1_000_000_000, 1_000_000_000);
        c.mtu = 18000;
        same_as_tc("class_add", htb_class(IF, 0x10000, 0x10001, &c, false, &ps));
        let mut c = class(700_000_000, 900_000_000);
        c.burst = Some(15 * 1024);
        c.cburst = Some(20000);
        c.prio = 2;
        c.quantum = 1514;
        same_as_tc(
            "class_add2",
            htb_class(IF, 0x10001, 0x10012, &c, false, &ps),
        );
        let c = class(40_000_000_000, 50_000_000_000);
        same_as_tc(
            "class_add64",
            htb_class(IF, 0x10001, 0x10013, &c, false, &ps),
        );
        let c = class(500_000_000, 900_000_000);
        same_as_tc(
            "class_change",
            htb_class(IF, 0x10001, 0x10012, &c, true, &ps),
        );
        let c = class(56_000, 56_000);
        same_as_tc(
            "class_small",
            htb_class(IF, 0x10001, 0x10014, &c, false, &ps),
        );
        same_as_tc("class_del", class_del(IF, 0x10014));
    }

    #[test]
    fn classes_depend_on_the_tick_source() {
        // A kernel whose psched clock ticks differently gives other buffers (and tables).
        let slow = Psched {
            tick_in_usec: 1.0,
            hz: 1000,
        };
        let c = class(8_000_000, 8_000_000);
        assert_eq!(c.buffer(&slow), slow.xmittime(1_000_000, 1000 + 1600));
        assert_ne!(
            htb_class(IF, 0x10000, 0x10001, &c, false, &slow),
            htb_class(IF, 0x10000, 0x10001, &c, false, &Psched::HIGH_RES)
        );
    }

    #[test]
    fn filters_match_tc() {
        let f = U32::new(
            &sel("match ip protocol 6 0xff match ip dst 1.2.3.4/32 match ip dport 1000 0xffff"),
            0x10012,
        )
        .unwrap();
        same_as_tc(
            "filter_add",
            u32_filter_add(IF, 0x10000, ETH_P_IP, 1, 0, &f),
        );
        let f = U32::new(
            &sel("match ip6 src 2001:db8::/33 match ip6 priority 0xb8 0xfc match ip6 sport 1024 0xfc00"),
            0x10013,
        )
        .unwrap();
        same_as_tc(
            "filter_add6",
            u32_filter_add(IF, 0x10000, ETH_P_IPV6, 2, 0, &f),
        );
        let f = U32::new(&sel("match mark 0x1 0xff match u16 0 0xff00 at 2"), 0x10014).unwrap();
        same_as_tc(
            "filter_mark",
            u32_filter_add(IF, 0x10000, ETH_P_IP, 3, 0, &f),
        );
        same_as_tc("filter_del", filter_del(IF, 0x10000, ETH_P_IP, 3));
    }
}
