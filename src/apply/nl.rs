//! rtnetlink plumbing: message and attribute encoding (the way iproute2's `libnetlink.c` lays
//! them out), attribute parsing, and a socket that sends batches and checks every ACK.
//!
//! The socket itself is `netlink-sys`; the traffic-control payloads are built here byte by
//! byte because they must equal what `tc` sends (see `encode.rs` and the fixtures in
//! `tests/fixtures/netlink/`), and `netlink-packet-route` has no HTB attributes.

use std::fmt;
use std::io;

pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;

pub const RTM_NEWQDISC: u16 = 36;
pub const RTM_DELQDISC: u16 = 37;
pub const RTM_GETQDISC: u16 = 38;
pub const RTM_NEWTCLASS: u16 = 40;
pub const RTM_DELTCLASS: u16 = 41;
pub const RTM_GETTCLASS: u16 = 42;
pub const RTM_NEWTFILTER: u16 = 44;
pub const RTM_DELTFILTER: u16 = 45;
pub const RTM_GETTFILTER: u16 = 46;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_ROOT: u16 = 0x100;
pub const NLM_F_MATCH: u16 = 0x200;
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_ACK_TLVS: u16 = 0x200;
pub const NLM_F_DUMP_INTR: u16 = 0x10;

const NLMSGERR_ATTR_MSG: u16 = 1;

pub const NLA_F_NESTED: u16 = 0x8000;

/// Round up to netlink's 4-byte alignment.
pub fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// One netlink message under construction: a 16-byte header, a fixed family header, and
/// attributes appended in order (`addattr_l` / `addattr_nest` in iproute2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    pub fn new(ty: u16, flags: u16) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&16u32.to_ne_bytes());
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // seq
        buf.extend_from_slice(&0u32.to_ne_bytes()); // pid
        Msg { buf, nests: vec![] }
    }

    pub fn ty(&self) -> u16 {
        u16::from_ne_bytes([self.buf[4], self.buf[5]])
    }

    pub fn flags(&self) -> u16 {
        u16::from_ne_bytes([self.buf[6], self.buf[7]])
    }

    pub fn set_flags(&mut self, flags: u16) {
        self.buf[6..8].copy_from_slice(&flags.to_ne_bytes());
    }

    pub fn set_seq(&mut self, seq: u32) {
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
    }

    fn fix_len(&mut self) {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
    }

    /// Append raw bytes (a fixed header such as `struct tcmsg`), padded to 4 bytes.
    pub fn put(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        self.buf.resize(align(self.buf.len()), 0);
        self.fix_len();
    }

    /// One attribute (`addattr_l`).
    pub fn attr(&mut self, ty: u16, data: &[u8]) {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.put(data);
    }

    pub fn attr_u32(&mut self, ty: u16, v: u32) {
        self.attr(ty, &v.to_ne_bytes());
    }

    /// A NUL-terminated string attribute.
    pub fn attr_str(&mut self, ty: u16, s: &str) {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.attr(ty, &d);
    }

    /// Open a nested attribute (`addattr_nest`: no NLA_F_NESTED flag, as tc does).
    pub fn nest(&mut self, ty: u16) {
        self.nests.push(self.buf.len());
        self.attr(ty, &[]);
    }

    pub fn end_nest(&mut self) {
        let start = self.nests.pop().expect("end_nest without nest");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    /// The message bytes (with sequence number 0 unless set).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// A parsed attribute: type (without flag bits) and payload.
#[derive(Debug, Clone, Copy)]
pub struct Attr<'a> {
    pub ty: u16,
    pub data: &'a [u8],
}

/// Iterate over the attributes in `buf`.
pub fn attrs(mut buf: &[u8]) -> Vec<Attr<'_>> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            break;
        }
        out.push(Attr {
            ty,
            data: &buf[4..len],
        });
        buf = &buf[align(len).min(buf.len())..];
    }
    out
}

pub fn find<'a>(attrs: &[Attr<'a>], ty: u16) -> Option<&'a [u8]> {
    attrs.iter().find(|a| a.ty == ty).map(|a| a.data)
}

pub fn u32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map(|s| u32::from_ne_bytes(s.try_into().unwrap()))
        .unwrap_or(0)
}

pub fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .map(|s| u64::from_ne_bytes(s.try_into().unwrap()))
        .unwrap_or(0)
}

pub fn str_of(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// A message received from the kernel: type, flags and the bytes after the 16-byte header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: Vec<u8>,
}

/// The kernel refused a message: errno and its extended ack text, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    pub errno: i32,
    pub msg: Option<String>,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = io::Error::from_raw_os_error(self.errno);
        match &self.msg {
            Some(m) => write!(f, "{text}: {m}"),
            None => write!(f, "{text}"),
        }
    }
}

/// The outcome of one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// Accepted; the kernel may still have said something (a warning in the extended ack).
    Ok(Option<String>),
    Err(KernelError),
}

/// Parse an NLMSG_ERROR payload into an ACK.
fn parse_ack(flags: u16, payload: &[u8]) -> (u32, Ack) {
    let errno = i32::from_ne_bytes(payload[0..4].try_into().unwrap());
    let orig_len = u32_at(payload, 4) as usize;
    let orig_seq = u32_at(payload, 12);
    let mut msg = None;
    if flags & NLM_F_ACK_TLVS != 0 {
        // With NETLINK_CAP_ACK the original message is cut to its header when the ack has TLVs
        // or is a success; otherwise it is there whole.
        let capped = flags & 0x100 != 0 || errno == 0;
        let skip = 4 + if capped { 16 } else { align(orig_len) };
        if payload.len() > skip {
            msg = find(&attrs(&payload[skip..]), NLMSGERR_ATTR_MSG).map(str_of);
        }
    }
    let ack = if errno == 0 {
        Ack::Ok(msg)
    } else {
        Ack::Err(KernelError { errno: -errno, msg })
    };
    (orig_seq, ack)
}

/// A NETLINK_ROUTE socket with extended acks.
pub struct Socket {
    sock: netlink_sys::Socket,
    seq: u32,
    buf: Vec<u8>,
}

/// The most bytes put into one `sendmsg` (below the default socket send buffer).
const CHUNK: usize = 64 * 1024;

impl Socket {
    pub fn open() -> io::Result<Socket> {
        let mut sock = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.set_ext_ack(true)?;
        sock.set_cap_ack(true)?;
        let _ = sock.set_rx_buf_sz(4 * 1024 * 1024);
        Ok(Socket {
            sock,
            seq: 1,
            buf: vec![0; 1 << 20],
        })
    }

    fn recv(&mut self) -> io::Result<Vec<Reply>> {
        let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
        let mut out = Vec::new();
        let mut b = &self.buf[..n];
        while b.len() >= 16 {
            let len = u32_at(b, 0) as usize;
            if len < 16 || len > b.len() {
                break;
            }
            out.push(Reply {
                ty: u16::from_ne_bytes([b[4], b[5]]),
                flags: u16::from_ne_bytes([b[6], b[7]]),
                seq: u32_at(b, 8),
                payload: b[16..len].to_vec(),
            });
            b = &b[align(len).min(b.len())..];
        }
        Ok(out)
    }

    /// Dump request: returns the payload of every answer (family header + attributes).
    /// A dump the kernel marks as interrupted by a concurrent change is taken again.
    pub fn dump(&mut self, msg: Msg) -> io::Result<Vec<Vec<u8>>> {
        for _ in 0..10 {
            if let Some(out) = self.dump_once(msg.clone())? {
                return Ok(out);
            }
        }
        Err(io::Error::other(
            "the dump kept being interrupted by concurrent changes",
        ))
    }

    fn dump_once(&mut self, mut msg: Msg) -> io::Result<Option<Vec<Vec<u8>>>> {
        let seq = self.next_seq();
        msg.set_seq(seq);
        msg.set_flags(NLM_F_REQUEST | NLM_F_DUMP);
        self.sock.send(msg.bytes(), 0)?;
        let mut out = Vec::new();
        let mut interrupted = false;
        loop {
            for r in self.recv()? {
                interrupted |= r.seq == seq && r.flags & NLM_F_DUMP_INTR != 0;
                match r.ty {
                    NLMSG_DONE => return Ok((!interrupted).then_some(out)),
                    NLMSG_ERROR => {
                        let (_, ack) = parse_ack(r.flags, &r.payload);
                        if let Ack::Err(e) = ack {
                            return Err(io::Error::other(format!("dump failed: {e}")));
                        }
                    }
                    _ if r.seq == seq => out.push(r.payload),
                    _ => {}
                }
            }
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    /// Send `msgs` in order, each with NLM_F_ACK, packed into as few `sendmsg` calls as fit,
    /// and collect one ACK per message. Stops after the first chunk that holds a refusal:
    /// the result then has fewer entries than `msgs` (the kernel went on with the rest of that
    /// chunk; their ACKs are included).
    pub fn batch(&mut self, msgs: &[Msg]) -> io::Result<Vec<Ack>> {
        let mut acks = Vec::with_capacity(msgs.len());
        let mut i = 0;
        while i < msgs.len() {
            let mut chunk = Vec::with_capacity(CHUNK);
            let first_seq = self.seq.wrapping_add(1);
            let start = i;
            while i < msgs.len() && (chunk.is_empty() || chunk.len() + msgs[i].buf.len() <= CHUNK) {
                let mut m = msgs[i].clone();
                let seq = self.next_seq();
                m.set_seq(seq);
                m.set_flags(m.flags() | NLM_F_ACK);
                chunk.extend_from_slice(m.bytes());
                i += 1;
            }
            self.sock.send(&chunk, 0)?;
            let mut got: Vec<Option<Ack>> = vec![None; i - start];
            let mut missing = i - start;
            while missing > 0 {
                for r in self.recv()? {
                    if r.ty != NLMSG_ERROR {
                        continue;
                    }
                    let (seq, ack) = parse_ack(r.flags, &r.payload);
                    let k = seq.wrapping_sub(first_seq) as usize;
                    if k < got.len() && got[k].is_none() {
                        got[k] = Some(ack);
                        missing -= 1;
                    }
                }
            }
            let failed = got.iter().any(|a| matches!(a, Some(Ack::Err(_))));
            acks.extend(got.into_iter().map(|a| a.unwrap()));
            if failed {
                break;
            }
        }
        Ok(acks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_and_padding() {
        let mut m = Msg::new(RTM_NEWQDISC, NLM_F_REQUEST);
        m.put(&[0u8; 20]);
        m.attr_str(1, "htb");
        m.nest(2);
        m.attr(2, &[1, 2, 3]);
        m.end_nest();
        let b = m.bytes();
        assert_eq!(u32_at(b, 0) as usize, b.len());
        assert_eq!(b.len(), 16 + 20 + 8 + 4 + 8);
        let a = attrs(&b[36..]);
        assert_eq!(a.len(), 2);
        assert_eq!(str_of(a[0].data), "htb");
        let inner = attrs(a[1].data);
        assert_eq!(inner[0].data, &[1, 2, 3]);
    }
}
