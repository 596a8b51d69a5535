//! The kernel's (and tc's) limits on the values of an HTB class, written once: the checker
//! (`sema::check`) turns each violation into E0216 before anything runs, and `tcc apply`
//! (`apply::diff`) refuses the same values instead of saturating them, so no value is sent that
//! the kernel refuses or silently changes. docs/apply.md has the table.
//!
//! Where the bounds come from (iproute2 6.1 `tc/q_htb.c`, `tc/tc_core.c`, `lib/utils.c`; Linux
//! `net/sched/sch_htb.c`):
//! - rates: tc sends bytes per second (`rate / 8`, rounded down); HTB refuses a class whose rate
//!   or ceil is 0 bytes/s (`if (!hopt->rate.rate || !hopt->ceil.rate) goto failure`).
//! - `burst`, `cburst`, `mtu`, `quantum`: tc parses them into 32-bit fields (`get_size`,
//!   `get_u32`) and refuses larger values; HTB keeps the quantum in an `int`, so above
//!   2^31 - 1 it turns negative; `quantum 0` means "compute it from r2q".
//! - the burst in time: `opt.buffer = tc_calc_xmittime(rate, burst)`, i.e.
//!   `(u32)((u32)(1e6 * burst / rate) * tick_in_usec)`: both conversions wrap silently in C when
//!   the value passes 2^32, so a burst that takes longer than 2^32 psched ticks (274.9 s with
//!   the 15.625 ticks/us of every high-resolution kernel) becomes a tiny one. Without `burst`,
//!   tc uses `rate / hz + mtu` bytes, so a very low rate overflows too (below about 48 bit/s
//!   with the default mtu of 1600).
//! - `prio` above 7 is clamped by HTB to 7 (checked where it is parsed, E0210).

use super::Class;

/// Psched ticks per microsecond of kernels with high-resolution timers
/// (/proc/net/psched `000003e8 00000040 000f4240 3b9aca00`): the clock the checker assumes;
/// `tcc apply` checks again with the host's.
pub const TICKS_PER_USEC: f64 = 1000.0 / 64.0;
/// `get_hz()` with that clock.
pub const HZ: u64 = 1_000_000_000;
/// tc's class mtu when none is given.
pub const DEFAULT_MTU: u64 = 1600;
/// The largest value of a 32-bit field (`burst`, `cburst`, `mtu`).
pub const MAX_U32: u64 = u32::MAX as u64;
/// The largest quantum HTB keeps as given (its `int quantum`).
pub const MAX_QUANTUM: u64 = i32::MAX as u64;

/// `tc_calc_xmittime(rate, size)`: psched ticks to send `size` bytes at `rate` bytes/s, or
/// `None` where tc's 32-bit arithmetic would wrap (or the rate is 0).
pub fn xmittime(rate: u64, size: u64, tick_in_usec: f64) -> Option<u32> {
    if rate == 0 {
        return None;
    }
    let usec = 1_000_000.0 * (size as f64 / rate as f64);
    // NaN cannot occur (rate > 0); `>=` also catches infinity.
    if usec >= 4_294_967_296.0 {
        return None;
    }
    let ticks = (usec as u32) as f64 * tick_in_usec;
    (ticks < 4_294_967_296.0).then_some(ticks as u32)
}

/// The burst tc uses when none is given: `rate / hz + mtu` bytes, or `None` when that does not
/// fit tc's 32-bit field.
pub fn default_burst(rate: u64, mtu: u64, hz: u64) -> Option<u64> {
    Some(rate / hz.max(1) + mtu).filter(|&b| b <= MAX_U32)
}

/// The largest burst (bytes) whose time at `rate` bytes/s fits tc's arithmetic.
pub fn max_burst(rate: u64, tick_in_usec: f64) -> u64 {
    let (mut lo, mut hi) = (0u64, MAX_U32);
    if xmittime(rate, hi, tick_in_usec).is_some() {
        return hi;
    }
    if xmittime(rate, lo, tick_in_usec).is_none() {
        return 0;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if xmittime(rate, mid, tick_in_usec).is_some() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Which value of a class breaks a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Rate,
    Ceil,
    Burst,
    Cburst,
    Mtu,
    Quantum,
}

impl Field {
    pub fn name(self) -> &'static str {
        match self {
            Field::Rate => "rate",
            Field::Ceil => "ceil",
            Field::Burst => "burst",
            Field::Cburst => "cburst",
            Field::Mtu => "mtu",
            Field::Quantum => "quantum",
        }
    }
}

/// One value of a class outside the kernel's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A rate (bits/s) of 1..7: 0 bytes per second, refused by HTB.
    BelowOneByte { field: Field, bits: u64 },
    /// A 32-bit field given more (`max` is the bound).
    TooLarge { field: Field, value: u64, max: u64 },
    /// `quantum 0`: HTB computes one from r2q instead.
    QuantumZero,
    /// The burst (given or tc's default) takes longer than 2^32 psched ticks at the rate.
    BurstTooLong {
        field: Field,
        /// Bytes.
        burst: u64,
        /// Whether the burst was given (else it is tc's `rate / hz + mtu`).
        given: bool,
        /// Bytes per second.
        rate: u64,
        /// The largest burst that fits at this rate, bytes.
        max: u64,
    },
}

impl Problem {
    pub fn field(&self) -> Field {
        match self {
            Problem::BelowOneByte { field, .. }
            | Problem::TooLarge { field, .. }
            | Problem::BurstTooLong { field, .. } => *field,
            Problem::QuantumZero => Field::Quantum,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::BelowOneByte { field, bits } => write!(
                f,
                "{} of {bits} bit/s is 0 bytes per second, which HTB refuses",
                field.name()
            ),
            Problem::TooLarge { field, value, max } => write!(
                f,
                "{} {value} does not fit the kernel's field (at most {max})",
                field.name()
            ),
            Problem::QuantumZero => {
                f.write_str("quantum 0 is replaced by rate / r2q in the kernel")
            }
            Problem::BurstTooLong {
                field,
                burst,
                given,
                rate,
                max,
            } => write!(
                f,
                "{} of {burst} bytes{} at {rate} bytes/s takes longer than HTB's 32-bit tick \
                 count holds (at most {max} bytes at this rate)",
                field.name(),
                if *given {
                    ""
                } else {
                    " (tc's default: rate / hz + mtu)"
                },
            ),
        }
    }
}

impl std::error::Error for Problem {}

/// Every value of `c` outside the kernel's limits, with the psched clock `tick_in_usec` and
/// timer frequency `hz` (`TICKS_PER_USEC` and `HZ` for the checker).
pub fn class_problems(c: &Class, tick_in_usec: f64, hz: u64) -> Vec<Problem> {
    let mut out = Vec::new();
    for (field, bits) in [(Field::Rate, c.rate), (Field::Ceil, c.ceil)] {
        if (1..8).contains(&bits) {
            out.push(Problem::BelowOneByte { field, bits });
        }
    }
    let mut too_large = |field, value: Option<u64>, max| {
        if let Some(v) = value.filter(|&v| v > max) {
            out.push(Problem::TooLarge {
                field,
                value: v,
                max,
            });
            true
        } else {
            false
        }
    };
    let bad_mtu = too_large(Field::Mtu, c.mtu, MAX_U32);
    let bad_burst = too_large(Field::Burst, c.burst, MAX_U32);
    let bad_cburst = too_large(Field::Cburst, c.cburst, MAX_U32);
    too_large(Field::Quantum, c.quantum, MAX_QUANTUM);
    if c.quantum == Some(0) {
        out.push(Problem::QuantumZero);
    }
    if bad_mtu {
        return out;
    }
    let mtu = c.mtu.unwrap_or(DEFAULT_MTU);
    for (field, bits, given, bad) in [
        (Field::Burst, c.rate, c.burst, bad_burst),
        (Field::Cburst, c.ceil, c.cburst, bad_cburst),
    ] {
        let rate = bits / 8;
        if bad || rate == 0 {
            continue;
        }
        let burst = match given.or_else(|| default_burst(rate, mtu, hz)) {
            Some(b) => b,
            None => {
                out.push(Problem::TooLarge {
                    field,
                    value: rate / hz.max(1) + mtu,
                    max: MAX_U32,
                });
                continue;
            }
        };
        if xmittime(rate, burst, tick_in_usec).is_none() {
            out.push(Problem::BurstTooLong {
                field,
                burst,
                given: given.is_some(),
                rate,
                max: max_burst(rate, tick_in_usec),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xmittime_matches_tc_and_detects_wrapping() {
        // 1000 bytes at 1 MB/s: 1000 us = 15625 ticks.
        assert_eq!(xmittime(1_000_000, 1000, TICKS_PER_USEC), Some(15_625));
        // 2^32 ticks / 15.625 = 274877906.944 us: 274 s of burst fits, 275 s does not.
        assert!(xmittime(1, 274, TICKS_PER_USEC).is_some());
        assert!(xmittime(1, 275, TICKS_PER_USEC).is_none());
        assert!(xmittime(0, 1, TICKS_PER_USEC).is_none());
        assert_eq!(max_burst(1, TICKS_PER_USEC), 274);
        assert_eq!(max_burst(6, TICKS_PER_USEC), 1649);
        assert_eq!(max_burst(1 << 40, TICKS_PER_USEC), MAX_U32);
    }
}
