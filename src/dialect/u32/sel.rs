//! u32 selectors, typed: one `match ...` clause is a `Sel`, a filter's conjunction of them a
//! `Selector`. The printer (`Display`), the keys the kernel compares (`Selector::keys`, packed
//! as iproute2's `f_u32.c` packs them) and the reader (`Sel::parse`, for scripts) all work on
//! these types, so the selector grammar is written once.

use crate::dialect::{tc_hex, tc_num};
use ipnet::IpNet;
use std::fmt;

/// The IP header a named selector reads: `ip` or `ip6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ip {
    V4,
    V6,
}

impl Ip {
    /// The selector prefix: `ip` or `ip6`.
    pub fn word(self) -> &'static str {
        match self {
            Ip::V4 => "ip",
            Ip::V6 => "ip6",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    Src,
    Dst,
}

/// A named header field compared under a mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The (next) protocol byte.
    Protocol,
    /// The traffic class byte: `tos` (IPv4, also read as `dsfield`) or `priority` (IPv6).
    Tos,
    Sport,
    Dport,
}

/// The width of a raw `match u8|u16|u32` selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Width {
    U8,
    U16,
    U32,
}

/// One `match ...` clause.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Sel {
    /// `match ip|ip6 src|dst NET`.
    Addr { ip: Ip, dir: Dir, net: IpNet },
    /// `match ip|ip6 protocol|tos|priority|sport|dport VALUE MASK`.
    Field {
        ip: Ip,
        field: Field,
        value: u32,
        mask: u32,
    },
    /// `match u8|u16|u32 VALUE MASK [at OFFSET]`.
    Raw {
        width: Width,
        value: u32,
        mask: u32,
        at: Option<i32>,
    },
    /// `match mark VALUE MASK` (not a key: the kernel's TCA_U32_MARK).
    Mark { value: u32, mask: u32 },
}

impl Sel {
    /// `match u32 0 0`: every packet.
    pub const ALL: Sel = Sel::Raw {
        width: Width::U32,
        value: 0,
        mask: 0,
        at: None,
    };

    /// The IP header a named selector reads (`None` for raw and mark selectors).
    pub fn ip(&self) -> Option<Ip> {
        match self {
            Sel::Addr { ip, .. } | Sel::Field { ip, .. } => Some(*ip),
            _ => None,
        }
    }

    /// Read one clause from `words`, which start with `match`, as tc reads it (values in
    /// decimal or `0x` hex, masks in hex): the clause and how many words it took.
    pub fn parse(words: &[&str]) -> Result<(Sel, usize), SelError> {
        let at = |k: usize| words.get(k).copied().ok_or(SelError::Short);
        if words.first() != Some(&"match") {
            return Err(SelError::NotMatch);
        }
        let val = |k: usize| tc_num(at(k)?).ok_or(SelError::Number);
        let mask = |k: usize| tc_hex(at(k)?).ok_or(SelError::Number);
        let ip = match at(1)? {
            "ip" => Some(Ip::V4),
            "ip6" => Some(Ip::V6),
            _ => None,
        };
        if let Some(ip) = ip {
            let field = match (ip, at(2)?) {
                (_, "src" | "dst") => {
                    let t = at(3)?;
                    let net: IpNet = t
                        .parse()
                        .or_else(|_| t.parse::<std::net::IpAddr>().map(IpNet::from))
                        .map_err(|_| SelError::Address)?;
                    if matches!(net, IpNet::V6(_)) != (ip == Ip::V6) {
                        return Err(SelError::Address);
                    }
                    let dir = if at(2)? == "src" { Dir::Src } else { Dir::Dst };
                    return Ok((Sel::Addr { ip, dir, net }, 4));
                }
                (_, "protocol") => Field::Protocol,
                (Ip::V4, "tos" | "dsfield") | (Ip::V6, "priority") => Field::Tos,
                (_, "sport") => Field::Sport,
                (_, "dport") => Field::Dport,
                _ => return Err(SelError::Unknown),
            };
            let (value, mask) = (val(3)?, mask(4)?);
            return Ok((
                Sel::Field {
                    ip,
                    field,
                    value,
                    mask,
                },
                5,
            ));
        }
        let width = match at(1)? {
            "u8" => Width::U8,
            "u16" => Width::U16,
            "u32" => Width::U32,
            "mark" => {
                // tc reads both of the mark's numbers in decimal or hex.
                return Ok((
                    Sel::Mark {
                        value: val(2)?,
                        mask: val(3)?,
                    },
                    4,
                ));
            }
            _ => return Err(SelError::Unknown),
        };
        let (value, mask) = (val(2)?, mask(3)?);
        let (at, used) = match words.get(4) {
            Some(&"at") => (
                Some(at(5)?.parse::<i32>().map_err(|_| SelError::Offset)?),
                6,
            ),
            _ => (None, 4),
        };
        Ok((
            Sel::Raw {
                width,
                value,
                mask,
                at,
            },
            used,
        ))
    }

    /// Pack this clause's keys into `keys` (tc's `pack_key*`).
    fn pack(&self, keys: &mut Vec<Key>) -> Result<(), KeyError> {
        match *self {
            Sel::Addr {
                ip: Ip::V4,
                dir,
                net: IpNet::V4(n),
            } => {
                let bits = n.prefix_len() as u32;
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                let off = if dir == Dir::Src { 12 } else { 16 };
                pack(keys, u32::from(n.addr()), mask, off)
            }
            Sel::Addr {
                ip: Ip::V6,
                dir,
                net: IpNet::V6(n),
            } => {
                let base = if dir == Dir::Src { 8 } else { 24 };
                let plen = n.prefix_len() as u32;
                let o = n.addr().octets();
                let mut i = 0;
                while i < plen {
                    let w = (i / 32) as usize;
                    let word = u32::from_be_bytes(o[w * 4..w * 4 + 4].try_into().unwrap());
                    let mask = if i + 31 < plen {
                        u32::MAX
                    } else {
                        u32::MAX << (32 - (plen - i))
                    };
                    pack(keys, word, mask, base + 4 * w as i32)?;
                    i += 32;
                }
                Ok(())
            }
            Sel::Addr { .. } => Err(KeyError::Family),
            Sel::Field {
                ip: Ip::V6,
                field: Field::Tos,
                value,
                mask,
            } => {
                if value > 0xff || mask > 0xff {
                    return Err(KeyError::PriorityRange);
                }
                pack(keys, value << 20, mask << 20, 0)
            }
            Sel::Field {
                ip,
                field,
                value,
                mask,
            } => {
                let (off, width) = match (ip, field) {
                    (Ip::V4, Field::Protocol) => (9, Width::U8),
                    (Ip::V4, Field::Tos) => (1, Width::U8),
                    (Ip::V4, Field::Sport) => (20, Width::U16),
                    (Ip::V4, Field::Dport) => (22, Width::U16),
                    (Ip::V6, Field::Protocol) => (6, Width::U8),
                    (Ip::V6, Field::Sport) => (40, Width::U16),
                    (Ip::V6, Field::Dport) => (42, Width::U16),
                    (Ip::V6, Field::Tos) => unreachable!("handled above"),
                };
                pack_width(keys, value, mask, off, width)
            }
            Sel::Raw {
                width,
                value,
                mask,
                at,
            } => pack_width(keys, value, mask, at.unwrap_or(0), width),
            Sel::Mark { .. } => Ok(()),
        }
    }
}

/// The printer: the clause as tc reads it back (and as tcc's scripts have always said it).
impl fmt::Display for Sel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sel::Addr { ip, dir, net } => {
                let dir = match dir {
                    Dir::Src => "src",
                    Dir::Dst => "dst",
                };
                write!(f, "match {} {dir} {net}", ip.word())
            }
            Sel::Field {
                ip,
                field,
                value,
                mask,
            } => {
                let ip = ip.word();
                match field {
                    Field::Protocol => write!(f, "match {ip} protocol {value} {mask:#04x}"),
                    Field::Tos => {
                        let name = if ip == "ip6" { "priority" } else { "tos" };
                        write!(f, "match {ip} {name} {value:#04x} {mask:#04x}")
                    }
                    Field::Sport => write!(f, "match {ip} sport {value} {mask:#06x}"),
                    Field::Dport => write!(f, "match {ip} dport {value} {mask:#06x}"),
                }
            }
            Sel::Raw {
                width,
                value,
                mask,
                at,
            } => {
                match width {
                    Width::U8 => write!(f, "match u8 {value} {mask:#04x}")?,
                    Width::U16 => write!(f, "match u16 {value} {mask:#06x}")?,
                    // `match u32 0 0` is the idiom for "every packet".
                    Width::U32 if *mask == 0 => write!(f, "match u32 {value} 0")?,
                    Width::U32 => write!(f, "match u32 {value} {mask:#010x}")?,
                }
                match at {
                    Some(at) => write!(f, " at {at}"),
                    None => Ok(()),
                }
            }
            Sel::Mark { value, mask } => write!(f, "match mark {value:#x} {mask:#x}"),
        }
    }
}

/// One u32 filter's selector: all its clauses hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Selector(pub Vec<Sel>);

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

impl Selector {
    /// The keys (`struct tc_u32_key`, in host byte order) exactly as tc packs the clauses:
    /// in order, clauses on the same 32-bit word merged into one key.
    pub fn keys(&self) -> Result<Vec<Key>, KeyError> {
        let mut keys = Vec::new();
        for s in &self.0 {
            s.pack(&mut keys)?;
        }
        Ok(keys)
    }

    /// The firewall mark test (`match mark`), if any: value and mask.
    pub fn mark(&self) -> Option<(u32, u32)> {
        self.0.iter().rev().find_map(|s| match *s {
            Sel::Mark { value, mask } => Some((value, mask)),
            _ => None,
        })
    }
}

/// One u32 key: the 32-bit word at `off` (a multiple of 4 from the network header) under
/// `mask` equals `value`. Host byte order; the kernel's `struct tc_u32_key` holds both in
/// network order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub value: u32,
    pub mask: u32,
    pub off: i32,
}

/// Why a selector has no keys (tc refuses it too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    Contradiction,
    TooManyOrMisaligned,
    U8Range,
    U16Range,
    PriorityRange,
    /// An address of the other family (`match ip src 2001:db8::1`).
    Family,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::Contradiction => "u32 keys contradict each other",
            KeyError::TooManyOrMisaligned => "u32 key limit or misaligned offset",
            KeyError::U8Range => "u8 value out of range",
            KeyError::U16Range => "u16 value out of range",
            KeyError::PriorityRange => "ip6 priority out of range",
            KeyError::Family => "u32 address of the other family",
        })
    }
}

impl std::error::Error for KeyError {}

/// Why words are not a u32 selector clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelError {
    /// The clause does not start with `match`.
    NotMatch,
    /// The words end inside the clause.
    Short,
    /// A selector tc (or tcc) does not know.
    Unknown,
    Number,
    Address,
    /// The `at` offset is not a number (tc's `nexthdr+` offsets are not read).
    Offset,
}

impl fmt::Display for SelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SelError::NotMatch => "a u32 selector starts with `match`",
            SelError::Short => "u32 selector ends early",
            SelError::Unknown => "unsupported u32 selector",
            SelError::Number => "bad number in u32 selector",
            SelError::Address => "bad address in u32 selector",
            SelError::Offset => "bad offset in u32 selector",
        })
    }
}

impl std::error::Error for SelError {}

/// `pack_key`: merge into the key of the same word, or add one.
fn pack(keys: &mut Vec<Key>, value: u32, mask: u32, off: i32) -> Result<(), KeyError> {
    let value = value & mask;
    for k in keys.iter_mut() {
        if k.off == off {
            if (value ^ k.value) & mask & k.mask != 0 {
                return Err(KeyError::Contradiction);
            }
            k.value |= value;
            k.mask |= mask;
            return Ok(());
        }
    }
    if keys.len() >= 128 || off % 4 != 0 {
        return Err(KeyError::TooManyOrMisaligned);
    }
    keys.push(Key { value, mask, off });
    Ok(())
}

/// `pack_key8` / `pack_key16` / `pack_key32`.
fn pack_width(
    keys: &mut Vec<Key>,
    value: u32,
    mask: u32,
    off: i32,
    width: Width,
) -> Result<(), KeyError> {
    let (mut value, mut mask) = (value, mask);
    match width {
        Width::U8 => {
            if value > 0xff || mask > 0xff {
                return Err(KeyError::U8Range);
            }
            let shift = [24, 16, 8, 0][(off & 3) as usize];
            value <<= shift;
            mask <<= shift;
        }
        Width::U16 => {
            if value > 0xffff || mask > 0xffff {
                return Err(KeyError::U16Range);
            }
            if off & 3 == 0 {
                value <<= 16;
                mask <<= 16;
            }
        }
        Width::U32 => {}
    }
    let off = if width == Width::U32 { off } else { off & !3 };
    pack(keys, value, mask, off)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(text: &str) -> Selector {
        let w: Vec<&str> = text.split_whitespace().collect();
        let mut i = 0;
        let mut out = Vec::new();
        while i < w.len() {
            let (s, n) = Sel::parse(&w[i..]).unwrap();
            out.push(s);
            i += n;
        }
        Selector(out)
    }

    #[test]
    fn printed_selectors_read_back_alike() {
        for text in [
            "match ip protocol 6 0xff match ip dst 1.2.3.4/32 match ip dport 1000 0xffff",
            "match ip6 src 2001:db8::/33 match ip6 priority 0xb8 0xfc match ip6 sport 1024 0xfc00",
            "match mark 0x1 0xff match u16 0 0xff00 at 2",
            "match ip tos 0xb8 0xfc match u32 0 0",
            "match u16 40 0xfff8 at 4",
        ] {
            assert_eq!(parse_all(text).to_string(), text);
        }
    }

    #[test]
    fn keys_merge_like_tc() {
        let s = parse_all(
            "match ip protocol 6 0xff match ip dst 1.2.3.4/32 match ip dport 1000 0xffff match ip sport 80 0xffff",
        );
        let k = s.keys().unwrap();
        // protocol at 8, dst at 16, ports merged into one key at 20.
        assert_eq!(k.len(), 3);
        assert_eq!(
            k[0],
            Key {
                value: 6 << 16,
                mask: 0xff << 16,
                off: 8
            }
        );
        assert_eq!(k[2].off, 20);
        assert_eq!(k[2].mask, 0xffff_ffff);
        assert_eq!(k[2].value, (80 << 16) | 1000);
        let bad = parse_all("match ip protocol 6 0xff match ip protocol 17 0xff");
        assert_eq!(bad.keys(), Err(KeyError::Contradiction));
    }

    #[test]
    fn masks_are_hex_as_in_tc() {
        let (s, n) = Sel::parse(&["match", "ip", "dport", "80", "ffff", "flowid"]).unwrap();
        assert_eq!(n, 5);
        assert_eq!(s.to_string(), "match ip dport 80 0xffff");
        assert_eq!(
            Sel::parse(&["match", "ip", "src", "2001:db8::1"]),
            Err(SelError::Address)
        );
        assert_eq!(Sel::parse(&["match", "ip"]), Err(SelError::Short));
    }
}
