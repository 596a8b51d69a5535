//! Download (ingress) shaping: the ifb device that carries an interface's ingress tree.
//!
//! Linux shapes only what a device sends, so what arrives on `eth0` is redirected (an `ingress`
//! qdisc, a u32 match-all filter, `action mirred egress redirect`) to an ifb device, and the
//! ingress tree is an HTB tree on that device's root. The device is tcc's: it is made by the
//! apply scripts and `tcc apply`, marked with an alias (`ifb_alias`), and removed by teardown.
//!
//! The name rule (`ifb_name`), deterministic and at most 15 bytes:
//! - `ifb-` and the interface's name when that fits (names of up to 11 bytes): `eth0` gets
//!   `ifb-eth0`;
//! - otherwise `ifb` and 12 hex digits of the FNV-1a digest of the name: `enp0s31f6.1001` gets
//!   `ifb` + 12 digits. The fourth byte tells the two forms apart (`-` or a hex digit), so a short
//!   name never equals a long one's; two long names collide only if 48 bits of their digests do,
//!   and the checker refuses a plan where a derived name equals another (E0309).

/// The ifb device that carries `iface`'s ingress tree.
pub fn ifb_name(iface: &str) -> String {
    if iface.len() <= 11 {
        format!("ifb-{iface}")
    } else {
        format!("ifb{}", &fnv64_hex(iface)[..12])
    }
}

/// The alias (`ip link set NAME alias ...`, IFLA_IFALIAS) that marks an ifb device as tcc's,
/// made for interface `iface`. Teardown removes a device only when its alias is exactly this.
pub fn ifb_alias(iface: &str) -> String {
    format!("tcc ingress {iface}")
}

/// The interface an ifb alias names, when the alias is one tcc writes.
pub fn alias_owner(alias: &str) -> Option<&str> {
    alias.strip_prefix("tcc ingress ")
}

/// FNV-1a over `s`, 64 bits, as 16 hex digits: stable across versions and platforms.
pub fn fnv64_hex(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_differ() {
        assert_eq!(ifb_name("eth0"), "ifb-eth0");
        assert_eq!(ifb_name("abcdefghijk"), "ifb-abcdefghijk");
        let long = ifb_name("abcdefghijkl");
        assert_eq!(long.len(), 15);
        assert!(long.as_bytes()[3].is_ascii_hexdigit());
        assert_ne!(ifb_name("abcdefghijkl"), ifb_name("abcdefghijkm"));
        assert_eq!(alias_owner(&ifb_alias("eth0")), Some("eth0"));
    }
}
