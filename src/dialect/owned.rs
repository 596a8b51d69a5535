//! What tcc owns on an interface, written once. Every target (`emit::sh`, `emit::batch` for the
//! sh, batch and nft scripts and their teardown twins) and `tcc apply`, `plan`, `status` and
//! `teardown` name tcc's objects with these functions and recognise them by these rules, so
//! that any of them, run after any other, converges to exactly the configuration asked for.
//!
//! Per interface `X`, tcc owns:
//! - the root qdisc of `X` when it is an HTB qdisc with the plan's handle (`is_tcc_root`),
//!   with its classes and the u32 filters attached to it. An apply replaces whatever root
//!   qdisc is there (that is what "shape X" asks for); a teardown removes only tcc's, and
//!   leaves any other root (a tbf, an HTB with another handle) alone;
//! - in the mangle table of iptables and of ip6tables: the chains `tcc-X` (`chain_name`) and
//!   `tcc+X` (`new_chain_name`, an interrupted sh run's) and the rules
//!   `POSTROUTING -o X -j <chain>` jumping to them;
//! - the nftables table `inet <table_name(X)>` (`tcc_X`, hashed when `X` holds characters nft
//!   identifiers cannot), which carries the comment `tcc <digest>` (`marker`) of its rules.
//!
//! - with an ingress tree: the ifb device `ifb_name(X)` marked with the alias `ifb_alias(X)`
//!   (with the HTB root on it, as above), and the `ingress` qdisc of `X` (`ffff:`) whose only
//!   filter redirects to that device. Teardown deletes the ingress qdisc only when its filter
//!   redirects to tcc's ifb, and the device only when its alias is tcc's.
//!
//! Nothing else is tcc's: other qdiscs (clsact, an ingress qdisc that redirects elsewhere,
//! other interfaces), other ifb devices, other mangle rules and chains, other nftables tables
//! are never changed.

use crate::plan::Interface;

pub use crate::dialect::nft::print::table_name;
pub use crate::plan::ingress::{alias_owner, ifb_alias, ifb_name};

/// The tcc-owned mangle chain of interface `iface` (at most 19 of iptables' 28 characters).
pub fn chain_name(iface: &str) -> String {
    format!("tcc-{iface}")
}

/// The chain an sh run builds before renaming it to `chain_name(iface)`. The `+` keeps it apart
/// from every other interface's final chain (`tcc-a-new` could be interface `a-new`'s).
pub fn new_chain_name(iface: &str) -> String {
    format!("tcc+{iface}")
}

/// Both mangle chains tcc may have left for `iface`: the final one and an interrupted run's.
pub fn chains(iface: &str) -> [String; 2] {
    [chain_name(iface), new_chain_name(iface)]
}

/// The major number of tcc's root qdisc on the interface (`1` in `1:`).
pub fn root_major(iface: &Interface) -> u16 {
    iface.handle
}

/// Whether a root qdisc of `kind` with handle major `major` is tcc's: an HTB qdisc, and (when
/// the plan is known, `want`) with the plan's handle. Without a plan, any HTB root counts:
/// tc offers no field to mark a qdisc with, so an HTB made by hand with the plan's handle
/// cannot be told from tcc's.
pub fn is_tcc_root(kind: &str, major: u16, want: Option<u16>) -> bool {
    kind == "htb" && major != 0 && want.is_none_or(|w| w == major)
}

/// FNV-1a over `s`, 64 bits, as hex: stable across versions and platforms.
pub fn digest(s: &str) -> String {
    crate::plan::ingress::fnv64_hex(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(chain_name("v-0.1"), "tcc-v-0.1");
        assert_eq!(chains("eth0"), ["tcc-eth0", "tcc+eth0"]);
        assert!(table_name("v-0.1").starts_with("tcc_v_0_1_"));
    }

    #[test]
    fn only_htb_with_the_plans_handle_is_tccs() {
        assert!(is_tcc_root("htb", 1, Some(1)));
        assert!(is_tcc_root("htb", 7, None));
        assert!(!is_tcc_root("htb", 2, Some(1)));
        assert!(!is_tcc_root("tbf", 1, Some(1)));
        assert!(!is_tcc_root("htb", 0, None));
    }
}
