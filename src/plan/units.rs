//! Rates and sizes: tc's unit spellings with tc's meaning, and formatting values back the way tc
//! reads them.
//!
//! Rates: `bit kbit mbit gbit tbit` (x1000), `kibit mibit gibit tibit` (x1024), and the BYTE units
//! `bps kbps mbps gbps tbps` (x8, then x1000). Sizes: a bare number or `b` is bytes,
//! `k kb m mb g gb` are x1024 as in tc, `kbit mbit gbit` are bits.

/// How a rate unit was spelled, so that diagnostics can suggest the bit form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateUnit {
    /// Bits per second per unit.
    pub bits: u64,
    /// Whether it is a bytes-per-second unit such as `mbps` (a common trap).
    pub bytes: bool,
}

/// Look up a rate unit (case-insensitive).
pub fn rate_unit(unit: &str) -> Option<RateUnit> {
    let u = unit.to_ascii_lowercase();
    let bits = |b| {
        Some(RateUnit {
            bits: b,
            bytes: false,
        })
    };
    let bytes = |b: u64| {
        Some(RateUnit {
            bits: b * 8,
            bytes: true,
        })
    };
    match u.as_str() {
        "bit" => bits(1),
        "kbit" => bits(1_000),
        "mbit" => bits(1_000_000),
        "gbit" => bits(1_000_000_000),
        "tbit" => bits(1_000_000_000_000),
        "kibit" => bits(1 << 10),
        "mibit" => bits(1 << 20),
        "gibit" => bits(1 << 30),
        "tibit" => bits(1 << 40),
        "bps" => bytes(1),
        "kbps" => bytes(1_000),
        "mbps" => bytes(1_000_000),
        "gbps" => bytes(1_000_000_000),
        "tbps" => bytes(1_000_000_000_000),
        "kibps" => bytes(1 << 10),
        "mibps" => bytes(1 << 20),
        "gibps" => bytes(1 << 30),
        "tibps" => bytes(1 << 40),
        _ => None,
    }
}

/// The bit unit with the same multiplier as a byte unit: `mbps` -> `mbit`.
pub fn bit_spelling_of(byte_unit: &str) -> String {
    let u = byte_unit.to_ascii_lowercase();
    format!("{}bit", u.trim_end_matches("ps").trim_end_matches('b'))
}

/// Look up a size unit; the empty string is bytes.
pub fn size_unit(unit: &str) -> Option<f64> {
    let u = unit.to_ascii_lowercase();
    Some(match u.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "kbit" => 1000.0 / 8.0,
        "mbit" => 1_000_000.0 / 8.0,
        "gbit" => 1_000_000_000.0 / 8.0,
        _ => return None,
    })
}

/// Parse a number written in the source: decimal with an optional fraction.
pub fn parse_number(text: &str) -> Option<f64> {
    let v: f64 = text.parse().ok()?;
    v.is_finite().then_some(v)
}

/// Format a rate (bits/s) the way tc reads it, with the largest decimal unit that is exact:
/// `200mbit`, `1gbit`, `1500kbit`, `12345bit`.
pub fn format_rate(bits: u64) -> String {
    for (div, unit) in [
        (1_000_000_000_000, "tbit"),
        (1_000_000_000, "gbit"),
        (1_000_000, "mbit"),
        (1_000, "kbit"),
    ] {
        if bits >= div && bits % div == 0 {
            return format!("{}{}", bits / div, unit);
        }
    }
    format!("{bits}bit")
}

/// Format a rate for people: `200 Mbit/s`, `1.5 Gbit/s`.
pub fn human_rate(bits: u64) -> String {
    for (div, unit) in [
        (1e12, "Tbit/s"),
        (1e9, "Gbit/s"),
        (1e6, "Mbit/s"),
        (1e3, "kbit/s"),
    ] {
        let v = bits as f64 / div;
        if v >= 1.0 {
            let s = format!("{v:.3}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            return format!("{s} {unit}");
        }
    }
    format!("{bits} bit/s")
}

/// Format a size in bytes as tc reads it (`b` suffix; tc's `k` would mean 1024).
pub fn format_size(bytes: u64) -> String {
    format!("{bytes}b")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_round_trip_through_tc_spelling() {
        assert_eq!(format_rate(200_000_000), "200mbit");
        assert_eq!(format_rate(1_000_000_000), "1gbit");
        assert_eq!(format_rate(1_500_000), "1500kbit");
        assert_eq!(format_rate(12_345), "12345bit");
        assert_eq!(format_rate(1 << 20), "1048576bit");
    }

    #[test]
    fn byte_units_are_bytes() {
        assert_eq!(rate_unit("mbps").unwrap().bits, 8_000_000);
        assert!(rate_unit("MBPS").unwrap().bytes);
        assert_eq!(rate_unit("mbit").unwrap().bits, 1_000_000);
        assert_eq!(rate_unit("kibit").unwrap().bits, 1024);
        assert_eq!(bit_spelling_of("mbps"), "mbit");
        assert_eq!(bit_spelling_of("kbps"), "kbit");
        assert_eq!(bit_spelling_of("bps"), "bit");
    }

    #[test]
    fn sizes_follow_tc() {
        assert_eq!(size_unit(""), Some(1.0));
        assert_eq!(size_unit("k"), Some(1024.0));
        assert_eq!(size_unit("kbit"), Some(125.0));
        assert_eq!(size_unit("furlong"), None);
    }

    #[test]
    fn human_rates_read_well() {
        assert_eq!(human_rate(200_000_000), "200 Mbit/s");
        assert_eq!(human_rate(1_500_000_000), "1.5 Gbit/s");
        assert_eq!(human_rate(999), "999 bit/s");
    }
}
