//! Lints only a script can earn, over one device once its classes are placed.

use super::sim::{CRec, Dev};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::dialect::tc::read::Id;
use crate::plan::Interface;

/// Jumbo frames without a class mtu.
pub(super) fn jumbo_mtu(dev: &Dev, iface: &Interface, diags: &mut Diagnostics) {
    if let Some((m, span)) = dev.link_mtu {
        if m > 1500 && iface.classes.iter().any(|c| c.mtu.is_none()) {
            diags.push(
                Diagnostic::new(
                    Code::JumboMtu,
                    span,
                    format!(
                        "`{}` gets mtu {m}, but its HTB classes keep the 1600-byte default",
                        dev.name
                    ),
                )
                .label("jumbo frames")
                .help(
                    "add `mtu 18000` to every `tc class` line, as the reference guide recommends",
                ),
            );
        }
    }
}

/// Sibling classes numbered as if ids were decimal: `1:9` then `1:10` (which is 0x10 = 16).
pub(super) fn decimal_ids(dev: &Dev, iface: &Interface, diags: &mut Diagnostics) {
    let dec = |c: &CRec| -> Option<u32> {
        let m = c.id_text.split(':').nth(1)?;
        (!m.is_empty() && m.chars().all(|c| c.is_ascii_digit()))
            .then(|| m.parse().ok())
            .flatten()
    };
    for c in &dev.classes {
        let Some(v) = dec(c) else { continue };
        if v % 10 != 0 || v == 0 {
            continue;
        }
        let key = |p: &Option<Id>| p.as_ref().map(|p| (p.major, p.minor));
        let prev = dev
            .classes
            .iter()
            .find(|o| key(&o.parent) == key(&c.parent) && dec(o) == Some(v - 1));
        // A script that also has ids in between (1:a..1:f) counts in hex on purpose.
        let between = |o: &CRec| {
            key(&o.parent) == key(&c.parent)
                && prev.is_some_and(|p| o.minor > p.minor && o.minor < c.minor)
        };
        if dev.classes.iter().any(between) {
            continue;
        }
        if let Some(p) = prev {
            let _ = iface;
            diags.push(
                Diagnostic::new(Code::DecimalId, c.spans.classid.unwrap_or(c.span), format!("class {} follows {} as if ids were decimal", c.id_text, p.id_text))
                    .label(format!("tc reads this as minor 0x{v} = {}", u32::from_str_radix(&v.to_string(), 16).unwrap_or(0)))
                    .secondary(p.spans.classid.unwrap_or(p.span), format!("this is minor 0x{} = {}", v - 1, u32::from_str_radix(&(v - 1).to_string(), 16).unwrap_or(0)))
                    .note("tc minor ids are hexadecimal: after 1:9 come 1:a ... 1:f, then 1:10")
                    .help("harmless if nothing else names these ids by number; check `default` and filters"),
            );
        }
    }
}
