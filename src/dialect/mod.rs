//! The kernel's languages, each with its printer and its reader side by side: `sh` (quoting;
//! the symbolic shell reader `tcc explain` uses), `tc` (HTB tree commands), `u32` (selectors),
//! `iptables` and `nft`. Emitters (`emit`), the kernel backend (`apply`) and the script reader
//! (`explain`) all go through these modules, so each dialect is written once.
//! Architecture invariant: depends only on `plan` and `diagnostic`.

pub mod iptables;
pub mod nft;
pub mod owned;
pub mod sh;
pub mod tc;
pub mod u32;

/// tc's and iptables' number syntax: decimal or `0x` hex. (tc's `get_u32(.., 0)` also reads
/// a leading `0` as octal; no script tcc reads or writes relies on that.)
pub fn tc_num(t: &str) -> Option<u32> {
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => t.parse().ok(),
    }
}

/// tc's hex numbers (`get_u32(.., 16)`: u32 masks): hex with or without `0x`.
pub fn tc_hex(t: &str) -> Option<u32> {
    let h = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    u32::from_str_radix(h, 16).ok()
}

/// A tc handle or class id, `major:minor` in hex (`1:`, `1:1a`, `ffff:`, a bare minor `12` as in
/// `default`): `(major, minor)`, empty parts 0. The one reader of tc ids: `tc::read::parse_id`
/// and through it the iptables (`CLASSIFY --set-class`) and nft (`meta priority set`) readers.
pub fn tc_handle(t: &str) -> Option<(u16, u16)> {
    let (maj, min) = t.split_once(':').unwrap_or(("", t));
    let part = |p: &str| {
        if p.is_empty() {
            Some(0)
        } else {
            u16::from_str_radix(p, 16).ok()
        }
    };
    Some((part(maj)?, part(min)?))
}
