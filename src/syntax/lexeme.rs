//! Telling apart the one-token values the grammar reads as `scalar`: what looks like an IPv4
//! address is one, text with a colon is an IPv6 address or a classid, `a/b` of numbers is a
//! value/mask pair, a leading digit starts a number with an optional unit, a leading letter a name.

use super::ast::ValueKind;

/// Classify a scalar token. `None` when it is none of the value forms. A numeric range
/// (`1000..1009`) is classified by the caller, which knows the spans (`split_range`).
pub fn classify(text: &str) -> Option<ValueKind> {
    let first = text.chars().next()?;
    if let Some((a, b)) = split_dots(text) {
        let addr = |s: &str| !s.contains('/') && (s.contains(':') || is_ipv4_form(s));
        return (addr(a) && addr(b)).then(|| ValueKind::AddrRange(a.to_string(), b.to_string()));
    }
    if text.contains(':') {
        return Some(ValueKind::HexColon(text.to_string()));
    }
    if is_ipv4_form(text) {
        return Some(ValueKind::Ipv4(text.to_string()));
    }
    if let Some((a, b)) = text.split_once('/') {
        return (is_number(a) && is_number(b))
            .then(|| ValueKind::Masked(a.to_string(), b.to_string()));
    }
    if first.is_ascii_digit() {
        let split = if let Some(hex) = text.strip_prefix("0x") {
            2 + hex
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(hex.len())
        } else {
            let int = text
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(text.len());
            let rest = &text[int..];
            match rest.strip_prefix('.') {
                Some(frac) if frac.starts_with(|c: char| c.is_ascii_digit()) => {
                    int + 1
                        + frac
                            .find(|c: char| !c.is_ascii_digit())
                            .unwrap_or(frac.len())
                }
                _ => int,
            }
        };
        let (number, unit) = text.split_at(split);
        let unit_ok = unit == "%" || unit.chars().all(|c| c.is_ascii_alphabetic());
        return (is_number(number) && unit_ok).then(|| ValueKind::Quantity {
            number: number.to_string(),
            unit: unit.to_string(),
        });
    }
    let ident = (first.is_ascii_alphabetic() || first == '_')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    ident.then(|| ValueKind::Ident(text.to_string()))
}

/// `a..b` with both sides numbers: the byte offsets of the two sides.
pub fn split_range(text: &str) -> Option<((usize, usize), (usize, usize))> {
    let (a, b) = split_dots(text)?;
    (is_number(a) && is_number(b)).then(|| ((0, a.len()), (a.len() + 2, text.len())))
}

/// `text.split_once("..")` without a substring searcher (this runs for every scalar).
fn split_dots(text: &str) -> Option<(&str, &str)> {
    let i = text.as_bytes().windows(2).position(|w| w == b"..")?;
    Some((&text[..i], &text[i + 2..]))
}

fn is_number(s: &str) -> bool {
    match s.strip_prefix("0x") {
        Some(h) => !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()),
        None => {
            let mut parts = s.splitn(2, '.');
            let int = parts.next().unwrap_or("");
            let frac_ok = parts
                .next()
                .is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()));
            !int.is_empty() && int.chars().all(|c| c.is_ascii_digit()) && frac_ok
        }
    }
}

/// Four dot-separated groups of 1..3 digits, optionally `/len`: an IPv4 address as written
/// (whether it is a valid one is decided when it is used, with a precise message).
fn is_ipv4_form(s: &str) -> bool {
    let addr = s.split_once('/').map_or(s, |(a, len)| {
        if len.is_empty() || !len.chars().all(|c| c.is_ascii_digit()) {
            ""
        } else {
            a
        }
    });
    let mut groups = 0;
    for g in addr.split('.') {
        groups += 1;
        if groups > 4 || !((1..=3).contains(&g.len()) && g.chars().all(|c| c.is_ascii_digit())) {
            return false;
        }
    }
    groups == 4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> String {
        match classify(s) {
            Some(ValueKind::Ipv4(_)) => "ipv4".into(),
            Some(ValueKind::HexColon(_)) => "hexcolon".into(),
            Some(ValueKind::Masked(..)) => "masked".into(),
            Some(ValueKind::Quantity { number, unit }) => format!("{number}|{unit}"),
            Some(ValueKind::Ident(_)) => "ident".into(),
            Some(ValueKind::AddrRange(..)) => "addrrange".into(),
            Some(_) => "other".into(),
            None => "none".into(),
        }
    }

    #[test]
    fn scalars_are_classified() {
        let cases = [
            ("1.2.3.4", "ipv4"),
            ("131.225.0.0/16", "ipv4"),
            ("300.1.2.3", "ipv4"),
            ("2001:db8::/32", "hexcolon"),
            ("1:2a", "hexcolon"),
            ("0x10/0xff", "masked"),
            ("70mbit", "70|mbit"),
            ("1.5gbit", "1.5|gbit"),
            ("20%", "20|%"),
            ("18000", "18000|"),
            ("0x1a", "0x1a|"),
            ("other", "ident"),
            ("internal-web", "ident"),
            ("EF", "ident"),
            ("1.2.3", "none"),
            ("10mbit5", "none"),
            ("-5", "none"),
            ("10.0.0.1..10.0.0.9", "addrrange"),
            ("2001:db8::1..2001:db8::9", "addrrange"),
            ("10.0.0.0/24..10.0.1.0/24", "none"),
            ("1:2..1:5", "addrrange"),
        ];
        for (text, want) in cases {
            assert_eq!(kind(text), want, "{text}");
        }
    }
}
