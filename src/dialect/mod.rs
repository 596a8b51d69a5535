//! The kernel's languages, each with its printer and its reader side by side: `sh` (quoting;
//! the symbolic shell reader `tcc explain` uses), `tc` (HTB tree commands), `u32` (selectors),
//! `iptables` and `nft`. Emitters (`emit`), the kernel backend (`apply`) and the script reader
//! (`explain`) all go through these modules, so each dialect is written once.
//! Architecture invariant: depends only on `plan` and `diagnostic`.

pub mod iptables;
pub mod nft;
pub mod sh;
pub mod tc;
pub mod u32;

/// tc's and iptables' number syntax: decimal or `0x` hex.
pub fn tc_num(t: &str) -> Option<u32> {
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => t.parse().ok(),
    }
}
