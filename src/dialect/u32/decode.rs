//! u32 keys back to selectors: the inverse of `Selector::keys` for the named selectors iproute2
//! packs (`match ip|ip6 src|dst|protocol|tos|priority|sport|dport`, tcc's length as `match u16
//! .. at 2|4`), used to print what the kernel holds (`apply::snapshot`). Keys iproute2 merged
//! (ports, tos and length) are split back. Whatever part of a key is not one of those fields is
//! printed as a raw `match u32 VALUE MASK at OFFSET`, never dropped, so the reader can report
//! it as not modelled.

use super::{Dir, Field, Ip, Key, Sel, Width};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The selectors that pack into `keys`, for filters of protocol `ip` (V4), `ipv6` (V6) or any
/// other (`None`: every key raw). Host byte order, as `Selector::keys` returns them.
pub fn decode(keys: &[Key], ip: Option<Ip>) -> Vec<Sel> {
    let mut out = Vec::new();
    match ip {
        Some(Ip::V4) => keys.iter().for_each(|k| v4(k, &mut out)),
        Some(Ip::V6) => v6(keys, &mut out),
        None => keys
            .iter()
            .for_each(|k| raw(k.value, k.mask, k.off, &mut out)),
    }
    out
}

/// A raw 32-bit comparison of the word at `off` (under `mask`).
fn raw(value: u32, mask: u32, off: i32, out: &mut Vec<Sel>) {
    out.push(Sel::Raw {
        width: Width::U32,
        value: value & mask,
        mask,
        at: (off != 0).then_some(off),
    });
}

/// One named part of a key: its bits, their shift, and the clause for (value, mask).
type Part<'a> = (u32, u32, &'a dyn Fn(u32, u32) -> Sel);

/// Split `k` into named parts: each `(mask bits, shift, what)`; the bits left over go raw.
fn split(k: &Key, parts: &[Part<'_>], out: &mut Vec<Sel>) {
    if k.mask == 0 {
        raw(0, 0, k.off, out);
        return;
    }
    let mut left = k.mask;
    for &(bits, shift, make) in parts {
        let m = k.mask & bits;
        if m != 0 {
            out.push(make((k.value & m) >> shift, m >> shift));
            left &= !bits;
        }
    }
    if left != 0 {
        raw(k.value, left, k.off, out);
    }
}

fn field(ip: Ip, field: Field) -> impl Fn(u32, u32) -> Sel {
    move |value, mask| Sel::Field {
        ip,
        field,
        value,
        mask,
    }
}

fn length(at: i32) -> impl Fn(u32, u32) -> Sel {
    move |value, mask| Sel::Raw {
        width: Width::U16,
        value,
        mask,
        at: Some(at),
    }
}

/// A prefix mask's length (`None` when the mask is not a prefix).
fn prefix_len(mask: u32) -> Option<u8> {
    let n = mask.leading_ones();
    (mask.checked_shl(n).unwrap_or(0) == 0).then_some(n as u8)
}

fn v4(k: &Key, out: &mut Vec<Sel>) {
    let ports: [Part<'_>; 2] = [
        (0xffff_0000, 16, &field(Ip::V4, Field::Sport)),
        (0x0000_ffff, 0, &field(Ip::V4, Field::Dport)),
    ];
    match k.off {
        12 | 16 => match prefix_len(k.mask) {
            Some(len) => {
                let dir = if k.off == 12 { Dir::Src } else { Dir::Dst };
                let net = Ipv4Net::new(k.value.into(), len).expect("a prefix of at most 32");
                out.push(Sel::Addr {
                    ip: Ip::V4,
                    dir,
                    net: IpNet::V4(net.trunc()),
                });
            }
            None => raw(k.value, k.mask, k.off, out),
        },
        0 if k.mask != 0 => split(
            k,
            &[
                (0x00ff_0000, 16, &field(Ip::V4, Field::Tos)),
                (0x0000_ffff, 0, &length(2)),
            ],
            out,
        ),
        8 => split(
            k,
            &[(0x00ff_0000, 16, &field(Ip::V4, Field::Protocol))],
            out,
        ),
        20 => split(k, &ports, out),
        _ => raw(k.value, k.mask, k.off, out),
    }
}

fn v6(keys: &[Key], out: &mut Vec<Sel>) {
    let at = |off: i32| keys.iter().find(|k| k.off == off);
    // The address whose first word is at `base`, when its words form one prefix.
    let addr = |base: i32| -> Option<(IpNet, Vec<i32>)> {
        let mut octets = [0u8; 16];
        let mut len = 0u8;
        let mut used = Vec::new();
        for w in 0..4 {
            let Some(k) = at(base + 4 * w) else { break };
            let l = prefix_len(k.mask).filter(|&l| l > 0)?;
            octets[4 * w as usize..4 * w as usize + 4].copy_from_slice(&k.value.to_be_bytes());
            len += l;
            used.push(k.off);
            if l < 32 {
                break;
            }
        }
        // Words after the prefix's last, or a prefix of nothing, are not one address.
        let last = base + 4 * used.len() as i32;
        if used.is_empty() || (last < base + 16 && at(last).is_some()) {
            return None;
        }
        let net = Ipv6Net::new(octets.into(), len).ok()?;
        Some((IpNet::V6(net.trunc()), used))
    };
    let addrs: Vec<(Dir, IpNet, Vec<i32>)> = [(Dir::Src, 8), (Dir::Dst, 24)]
        .into_iter()
        .filter_map(|(d, base)| addr(base).map(|(n, used)| (d, n, used)))
        .collect();
    let ports: [Part<'_>; 2] = [
        (0xffff_0000, 16, &field(Ip::V6, Field::Sport)),
        (0x0000_ffff, 0, &field(Ip::V6, Field::Dport)),
    ];
    for k in keys {
        if let Some((dir, net, used)) = addrs.iter().find(|a| a.2.contains(&k.off)) {
            if used[0] == k.off {
                out.push(Sel::Addr {
                    ip: Ip::V6,
                    dir: *dir,
                    net: *net,
                });
            }
            continue;
        }
        match k.off {
            0 if k.mask != 0 => split(k, &[(0x0ff0_0000, 20, &field(Ip::V6, Field::Tos))], out),
            4 => split(
                k,
                &[
                    (0xffff_0000, 16, &length(4)),
                    (0x0000_ff00, 8, &field(Ip::V6, Field::Protocol)),
                ],
                out,
            ),
            40 => split(k, &ports, out),
            _ => raw(k.value, k.mask, k.off, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::u32::Selector;
    use proptest::prelude::*;

    fn sorted(s: &[Sel]) -> Vec<String> {
        let mut v: Vec<String> = s.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    /// Selectors as tcc and iproute2 write them: at most one clause per field, each with the
    /// masks those write (prefix masks for addresses and ports).
    fn a_selector() -> impl Strategy<Value = (Ip, Vec<Sel>)> {
        let ip = prop_oneof![Just(Ip::V4), Just(Ip::V6)];
        ip.prop_flat_map(|ip| {
            let net = match ip {
                Ip::V4 => (any::<u32>(), 1u8..=32)
                    .prop_map(|(a, l)| IpNet::V4(Ipv4Net::new(a.into(), l).unwrap().trunc()))
                    .boxed(),
                Ip::V6 => (any::<u128>(), 1u8..=128)
                    .prop_map(|(a, l)| IpNet::V6(Ipv6Net::new(a.into(), l).unwrap().trunc()))
                    .boxed(),
            };
            let port = (any::<u16>(), 0u32..=16).prop_map(|(v, bits)| {
                let mask = (0xffffu32 << (16 - bits)) & 0xffff;
                (v as u32 & mask, mask)
            });
            let f = move |field| {
                move |(value, mask): (u32, u32)| Sel::Field {
                    ip,
                    field,
                    value,
                    mask,
                }
            };
            let len_at = if ip == Ip::V4 { 2 } else { 4 };
            (
                prop::option::of(net.clone()),
                prop::option::of(net),
                prop::option::of(any::<u8>().prop_map(|p| (p as u32, 0xff))),
                prop::option::of((0u8..64).prop_map(|d| ((d as u32) << 2, 0xfc))),
                prop::option::of(port.clone()),
                prop::option::of(port.clone()),
                prop::option::of(port),
            )
                .prop_map(move |(src, dst, proto, tos, sp, dp, len)| {
                    let mut s = Vec::new();
                    if let Some(net) = src {
                        s.push(Sel::Addr {
                            ip,
                            dir: Dir::Src,
                            net,
                        });
                    }
                    if let Some(net) = dst {
                        s.push(Sel::Addr {
                            ip,
                            dir: Dir::Dst,
                            net,
                        });
                    }
                    s.extend(proto.map(f(Field::Protocol)));
                    s.extend(tos.map(f(Field::Tos)));
                    // A zero mask packs nothing (or a key that matches everything): left out.
                    s.extend(sp.filter(|p| p.1 != 0).map(f(Field::Sport)));
                    s.extend(dp.filter(|p| p.1 != 0).map(f(Field::Dport)));
                    s.extend(len.filter(|p| p.1 != 0).map(|(value, mask)| Sel::Raw {
                        width: Width::U16,
                        value,
                        mask,
                        at: Some(len_at),
                    }));
                    if s.is_empty() {
                        s.push(Sel::ALL);
                    }
                    (ip, s)
                })
        })
    }

    proptest! {
        /// The keys of any selector decode back to the same clauses (merged keys split), and
        /// those pack into the same keys.
        #[test]
        fn keys_decode_to_the_selectors_they_came_from((ip, sels) in a_selector()) {
            let keys = Selector(sels.clone()).keys().unwrap();
            let back = decode(&keys, Some(ip));
            prop_assert_eq!(sorted(&back), sorted(&sels), "keys {:?}", keys);
            let mut again = Selector(back).keys().unwrap();
            let mut keys = keys;
            again.sort();
            keys.sort();
            prop_assert_eq!(again, keys);
        }
    }

    #[test]
    fn what_is_not_a_named_field_stays_raw() {
        let k = |value, mask, off| Key { value, mask, off };
        // The version nibble next to tos, and a word past the IPv4 ports.
        let s = decode(
            &[k(0x4510_0000, 0xffff_0000, 0), k(7, 0xff, 24)],
            Some(Ip::V4),
        );
        let text: Vec<String> = s.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            text,
            [
                "match ip tos 0x10 0xff",
                "match u32 1157627904 0xff000000",
                "match u32 7 0x000000ff at 24"
            ]
        );
        // An IPv4 address mask that is not a prefix.
        let s = decode(&[k(0x0a00_0001, 0xff00_00ff, 16)], Some(Ip::V4));
        assert_eq!(s[0].to_string(), "match u32 167772161 0xff0000ff at 16");
        // IPv6: a second address word without the first is not an address.
        let s = decode(&[k(1, u32::MAX, 12)], Some(Ip::V6));
        assert_eq!(s[0].to_string(), "match u32 1 0xffffffff at 12");
        // Another protocol: every key raw.
        let s = decode(&[k(0x0800, 0xffff, 0)], None);
        assert_eq!(s[0].to_string(), "match u32 2048 0x0000ffff");
        // A key of mask 0 matches everything.
        assert_eq!(decode(&[k(0, 0, 0)], Some(Ip::V4)), [Sel::ALL]);
    }
}
