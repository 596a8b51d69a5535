//! Rates and sizes: tc's unit spellings with tc's meaning, and formatting values back the way tc
//! reads them.
//!
//! Rates: `bit kbit mbit gbit tbit` (x1000), `kibit mibit gibit tibit` (x1024), and the BYTE units
//! `bps kbps mbps gbps tbps` (x8, then x1000). Sizes: a bare number or `b` is bytes,
//! `k kb m mb g gb` are x1024 as in tc, `kbit mbit gbit` are bits.
//!
//! `Rate` and `Size` are the one parser of these spellings, for the language (`sema::value`,
//! number and unit already apart) and for scripts (`explain`, one tc word such as `20mbps`), and
//! their `Display` is the one tc-style printer (`format_rate`, `format_size`). The warning for a
//! byte unit (W0102) and the refusal of a rate above `MAX_RATE` are written here, once.

use crate::diagnostic::{Code, Diagnostic, Span};
use std::fmt;

/// The largest rate accepted, bits per second (1000 tbit/s): beyond any link, and far from
/// overflowing the kernel's 64-bit bytes-per-second rates.
pub const MAX_RATE: u64 = 1_000_000_000_000_000;

/// A rate in bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate(pub u64);

/// A size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

/// Why a rate or size was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitError {
    /// The number part is not a number (`fast`, `-5mbit` as one tc word).
    NotANumber,
    /// A negative quantity.
    Negative,
    /// A rate without a unit where one is required (the language; tc reads a bare number as bits).
    MissingUnit,
    /// A unit that is not a rate (or size) unit, as written.
    UnknownUnit(String),
    /// A rate above `MAX_RATE`.
    TooLarge,
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnitError::NotANumber => write!(f, "not a number"),
            UnitError::Negative => write!(f, "cannot be negative"),
            UnitError::MissingUnit => write!(f, "no unit"),
            UnitError::UnknownUnit(u) => write!(f, "unknown unit `{u}`"),
            UnitError::TooLarge => write!(f, "rate too large"),
        }
    }
}

impl std::error::Error for UnitError {}

/// A rate as written: its value, and the byte unit it was written with, if any (for W0102).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRate {
    pub rate: Rate,
    pub byte_unit: Option<String>,
}

impl Rate {
    /// A number and a rate unit, as the language writes them (`10` + `mbit`). The unit is
    /// required; percentages are the language's business and not handled here.
    pub fn parse(value: f64, unit: &str) -> Result<ParsedRate, UnitError> {
        if value < 0.0 {
            return Err(UnitError::Negative);
        }
        if unit.is_empty() {
            return Err(UnitError::MissingUnit);
        }
        let u = rate_unit(unit).ok_or_else(|| UnitError::UnknownUnit(unit.to_string()))?;
        let bits = value * u.bits as f64;
        if bits > MAX_RATE as f64 {
            return Err(UnitError::TooLarge);
        }
        Ok(ParsedRate {
            rate: Rate(bits.round() as u64),
            byte_unit: u.bytes.then(|| unit.to_string()),
        })
    }

    /// One tc word such as `20mbps` or `12345` (a bare number is bits per second, as in tc).
    pub fn parse_tc(text: &str) -> Result<ParsedRate, UnitError> {
        let (n, u) = split_number(text);
        let n = parse_number(n).ok_or(UnitError::NotANumber)?;
        Rate::parse(n, if u.is_empty() { "bit" } else { u }).map(|mut p| {
            if u.is_empty() {
                p.byte_unit = None;
            }
            p
        })
    }
}

impl ParsedRate {
    /// W0102 when the rate was written with a byte unit such as `mbps`.
    pub fn byte_units_warning(&self, span: Span) -> Option<Diagnostic> {
        let unit = self.byte_unit.as_deref()?;
        let bits = bit_spelling_of(unit);
        Some(
            Diagnostic::new(Code::ByteUnits, span, format!("`{unit}` means BYTES per second"))
                .label(format!("this is {}", human_rate(self.rate.0)))
                .help(format!(
                    "if you meant bits, write `{bits}`; if you meant bytes, write `{}` to say so in bits",
                    self.rate
                )),
        )
    }
}

/// The refusal of a rate above `MAX_RATE`.
pub fn rate_too_large(span: Span) -> Diagnostic {
    Diagnostic::new(Code::BadValue, span, "rate too large")
        .label("more than 1000 tbit/s")
        .help("check the number and the unit")
}

impl Size {
    /// A number and a size unit, as the language writes them (`15` + `k`; `` is bytes).
    pub fn parse(value: f64, unit: &str) -> Result<Size, UnitError> {
        let mult = size_unit(unit).ok_or_else(|| UnitError::UnknownUnit(unit.to_string()))?;
        if value < 0.0 {
            return Err(UnitError::Negative);
        }
        Ok(Size((value * mult).round() as u64))
    }

    /// One tc word such as `15k`, `1500` or `15k/8` (the cell part after `/` is dropped).
    pub fn parse_tc(text: &str) -> Result<Size, UnitError> {
        let (n, u) = split_number(text);
        let u = u.split('/').next().unwrap_or("");
        let n = parse_number(n).ok_or(UnitError::NotANumber)?;
        Size::parse(n, u)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_rate(self.0))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_size(self.0))
    }
}

/// A tc word's number and unit: `20mbps` -> (`20`, `mbps`).
fn split_number(text: &str) -> (&str, &str) {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    text.split_at(split)
}

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
    fn tc_words_parse_as_tc_reads_them() {
        assert_eq!(Rate::parse_tc("12345").unwrap().rate, Rate(12_345));
        assert_eq!(Rate::parse_tc("12345").unwrap().byte_unit, None);
        let p = Rate::parse_tc("20mbps").unwrap();
        assert_eq!(
            (p.rate, p.byte_unit.as_deref()),
            (Rate(160_000_000), Some("mbps"))
        );
        assert_eq!(Rate::parse_tc("fast"), Err(UnitError::NotANumber));
        assert_eq!(
            Rate::parse_tc("2furlong"),
            Err(UnitError::UnknownUnit("furlong".into()))
        );
        assert_eq!(Rate::parse_tc("1001tbit"), Err(UnitError::TooLarge));
        assert_eq!(Rate::parse(10.0, ""), Err(UnitError::MissingUnit));
        assert_eq!(Size::parse_tc("15k/8"), Ok(Size(15 * 1024)));
        assert_eq!(Size::parse(-1.0, "k"), Err(UnitError::Negative));
        assert_eq!(Rate(200_000_000).to_string(), "200mbit");
        assert_eq!(Size(1500).to_string(), "1500b");
    }

    #[test]
    fn human_rates_read_well() {
        assert_eq!(human_rate(200_000_000), "200 Mbit/s");
        assert_eq!(human_rate(1_500_000_000), "1.5 Gbit/s");
        assert_eq!(human_rate(999), "999 bit/s");
    }
}
