//! Download (ingress) shaping in the scripts of every target: the ifb device tcc owns, the
//! HTB tree on it (classified by u32 filters: netfilter does not see packets there), and the
//! `ingress` qdisc of the interface whose one filter redirects everything to the device.
//!
//! Order, so that nothing is half made when a step fails: the pre-flight refuses an ifb name
//! held by a device that is not tcc's (its alias is not `plan::ingress::ifb_alias`) and a
//! `clsact` qdisc on the interface (which owns the ingress hook and is not replaced); then the
//! device is made (or kept), its tree replaced, and only then the redirect is (re)installed.
//! Teardown removes the ingress qdisc only when its filter redirects to tcc's device, then the
//! device only when its alias is tcc's.

use crate::dialect::owned::{ifb_alias, ifb_name};
use crate::dialect::sh::quote::{comment_text, sh_quote};
use crate::dialect::tc::print as tc;
use crate::plan::{Interface, Plan};
use std::fmt::Write;

pub(crate) const FN_IFB: &str = r#"# tcc_ifb_check IFB ALIAS DEV: fail unless device IFB is free or tcc's (alias ALIAS), and the
# ingress hook of DEV is free, an empty ingress qdisc, or tcc's redirect to IFB (a clsact
# qdisc or someone else's filters are never replaced).
tcc_ifb_check() {
	if ip link show dev "$1" >/dev/null 2>&1 && ! ip link show dev "$1" | grep -qxF "    alias $2"; then
		tcc_fail "device $1 exists and is not tcc's (its alias is not \"$2\")"
	fi
	if tc qdisc show dev "$3" 2>/dev/null | grep -q "^qdisc clsact"; then
		tcc_fail "device $3 has a clsact qdisc; remove it to shape what arrives on $3"
	fi
	if tc filter show dev "$3" parent ffff: 2>/dev/null | grep -q . &&
		! tc filter show dev "$3" parent ffff: | grep -qF "Egress Redirect to device $1)"; then
		tcc_fail "device $3 has an ingress qdisc with filters tcc did not make; remove it (tc qdisc del dev $3 ingress) to shape what arrives on $3"
	fi
}
# tcc_ifb IFB ALIAS: make the ifb device IFB marked ALIAS (unless it is there), and bring it up.
tcc_ifb() {
	if ! ip link show dev "$1" >/dev/null 2>&1; then
		ip link add "$1" type ifb
		ip link set dev "$1" alias "$2"
	fi
	ip link set dev "$1" up
}
"#;

pub(crate) const FN_DEL_INGRESS: &str = r#"# tcc_del_ingress DEV IFB ALIAS: delete the ingress qdisc of DEV if its filter redirects to IFB,
# then IFB if its alias is ALIAS (tcc's); anything else is left alone.
tcc_del_ingress() {
	if tc filter show dev "$1" parent ffff: 2>/dev/null | grep -qF "Egress Redirect to device $2)"; then
		tc qdisc del dev "$1" ingress
	fi
	if ip link show dev "$2" 2>/dev/null | grep -qxF "    alias $3"; then
		ip link del dev "$2"
	fi
}
"#;

/// Whether any interface of the plan has an ingress tree.
pub fn any(plan: &Plan) -> bool {
    plan.interfaces.iter().any(|i| i.ingress.is_some())
}

/// The ingress trees of the plan as interfaces of their own (named by their ifb devices).
pub fn trees(plan: &Plan) -> impl Iterator<Item = (&Interface, &Interface)> {
    plan.interfaces
        .iter()
        .filter_map(|i| i.ingress.as_deref().map(|t| (i, t)))
}

/// Pre-flight lines: every ifb name free or tcc's, no clsact in the way.
pub(crate) fn preflight(plan: &Plan, out: &mut String) {
    for (iface, tree) in trees(plan) {
        let _ = writeln!(
            out,
            "tcc_ifb_check {} {} {}",
            sh_quote(&tree.name),
            sh_quote(&ifb_alias(&iface.name)),
            sh_quote(&iface.name)
        );
    }
}

/// Make tcc's ifb device of `iface` (or keep it): the line before its tree is built.
pub(crate) fn device(iface: &Interface, tree: &Interface, out: &mut String) {
    let _ = writeln!(
        out,
        "\n# ---- {}: what arrives, shaped on tcc's ifb device {} ----",
        comment_text(&iface.name),
        comment_text(&tree.name)
    );
    let _ = writeln!(
        out,
        "tcc_ifb {} {}",
        sh_quote(&tree.name),
        sh_quote(&ifb_alias(&iface.name))
    );
}

/// The redirect of everything arriving on `iface` to its ifb device, as tc lines (after the
/// tree on the device exists). The caller deletes the old ingress qdisc first.
pub fn redirect_lines(iface: &Interface, tree: &Interface) -> Vec<tc::Line> {
    vec![
        tc::Line::Comment(format!(
            "redirect everything arriving on {} to {}",
            comment_text(&iface.name),
            comment_text(&tree.name)
        )),
        tc::Line::Cmd(tc::ingress_qdisc_add(&iface.name)),
        tc::Line::Cmd(tc::redirect_filter(&iface.name, &tree.name)),
    ]
}

/// `tc qdisc del dev X ingress`, quiet when there is none.
pub(crate) fn del_ingress_qdisc(iface: &Interface, out: &mut String) {
    let _ = writeln!(
        out,
        "tc qdisc del dev {} ingress 2>/dev/null || true",
        sh_quote(&iface.name)
    );
}

/// Teardown of `iface`'s ingress side, if the plan gives it one.
pub(crate) fn teardown(iface: &Interface, out: &mut String) {
    let _ = writeln!(
        out,
        "tcc_del_ingress {} {} {}",
        sh_quote(&iface.name),
        sh_quote(&ifb_name(&iface.name)),
        sh_quote(&ifb_alias(&iface.name))
    );
}
