//! Leaf queues: the qdisc under an HTB leaf class (`tc qdisc add dev X parent 1:10 handle 10:
//! bfifo limit 2000000`), and the path's round-trip time that sizes them.
//!
//! One spelling for the language and for tc: `qdisc bfifo limit 2000000` in a `.shape` file is
//! `bfifo limit 2000000` on tc's command line, so `LeafQdisc::parse` reads both (the language
//! through `sema`, scripts through `explain`) and `LeafQdisc::args` prints both. Only the options
//! listed here are modelled; any other word is an error (the language) or not modelled (explain).
//!
//! Handles: the qdisc under class `1:10` gets handle `10:` (the class's minor as its major), so a
//! reader of `tc qdisc show` finds the class of each leaf queue at once; when that number is the
//! HTB's own major (a leaf `1:1` under `handle 1:`), the highest major no other qdisc of the
//! interface uses (`leaf_handle`).

use super::units::{format_rate, format_size, Rate, Size};
use super::Interface;
use serde::Serialize;
use std::fmt;

/// A qdisc under a leaf class. Sizes are bytes, times microseconds, rates bits per second.
/// `None` is the kernel's default (not sent, not printed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LeafQdisc {
    /// `pfifo [limit PACKETS]`.
    Pfifo { limit: Option<u32> },
    /// `bfifo [limit BYTES]`.
    Bfifo { limit: Option<u32> },
    /// `sfq [perturb SECONDS] [quantum BYTES] [limit PACKETS]`.
    Sfq {
        perturb: Option<u32>,
        quantum: Option<u32>,
        limit: Option<u32>,
    },
    /// `fq_codel [limit PACKETS] [flows N] [target TIME] [interval TIME] [quantum BYTES]
    /// [ecn|noecn]`.
    FqCodel {
        limit: Option<u32>,
        flows: Option<u32>,
        target: Option<u32>,
        interval: Option<u32>,
        quantum: Option<u32>,
        ecn: Option<bool>,
    },
    /// `tbf rate R burst SIZE (latency TIME | limit SIZE)`.
    Tbf {
        rate: u64,
        burst: u32,
        bound: TbfBound,
    },
}

/// How a tbf's queue is bounded: by the longest wait, or by bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TbfBound {
    /// Microseconds.
    Latency(u32),
    /// Bytes.
    Limit(u32),
}

/// Why words are not a leaf qdisc: which word (index into the input) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QdiscError {
    /// Index of the offending word; the length of the input when something is missing.
    pub at: usize,
    pub message: String,
    /// Whether the kind itself is one tcc does not model (explain keeps such qdiscs opaque).
    pub unknown_kind: bool,
}

impl fmt::Display for QdiscError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for QdiscError {}

/// The kinds tcc models, as tc names them.
pub const KINDS: &[&str] = &["pfifo", "bfifo", "sfq", "fq_codel", "tbf"];

impl LeafQdisc {
    /// tc's name of the kind: `pfifo`, `bfifo`, `sfq`, `fq_codel`, `tbf`.
    pub fn kind(&self) -> &'static str {
        match self {
            LeafQdisc::Pfifo { .. } => "pfifo",
            LeafQdisc::Bfifo { .. } => "bfifo",
            LeafQdisc::Sfq { .. } => "sfq",
            LeafQdisc::FqCodel { .. } => "fq_codel",
            LeafQdisc::Tbf { .. } => "tbf",
        }
    }

    /// The options the plan sets, named as tc names them, in a fixed order (`ecn` as `true` or
    /// `false`; a tbf's bound as `latency` or `limit`).
    pub fn options(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![];
        let mut opt = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                out.push((k, v));
            }
        };
        let n = |v: &Option<u32>| v.map(|v| v.to_string());
        match self {
            LeafQdisc::Pfifo { limit } | LeafQdisc::Bfifo { limit } => opt("limit", n(limit)),
            LeafQdisc::Sfq {
                perturb,
                quantum,
                limit,
            } => {
                opt("perturb", n(perturb));
                opt("quantum", n(quantum));
                opt("limit", n(limit));
            }
            LeafQdisc::FqCodel {
                limit,
                flows,
                target,
                interval,
                quantum,
                ecn,
            } => {
                opt("limit", n(limit));
                opt("flows", n(flows));
                opt("target", target.map(format_time));
                opt("interval", interval.map(format_time));
                opt("quantum", n(quantum));
                opt("ecn", ecn.map(|e| e.to_string()));
            }
            LeafQdisc::Tbf { rate, burst, bound } => {
                opt("rate", Some(format_rate(*rate)));
                opt("burst", Some(format_size(*burst as u64)));
                match bound {
                    TbfBound::Latency(t) => opt("latency", Some(format_time(*t))),
                    TbfBound::Limit(l) => opt("limit", Some(format_size(*l as u64))),
                }
            }
        }
        out
    }

    /// The options as tc and the language write them (without the kind), in a fixed order.
    pub fn args(&self) -> Vec<String> {
        let mut out = vec![];
        for (k, v) in self.options() {
            match (k, v.as_str()) {
                ("ecn", "true") => out.push("ecn".into()),
                ("ecn", _) => out.push("noecn".into()),
                _ => {
                    out.push(k.to_string());
                    out.push(v);
                }
            }
        }
        out
    }

    /// `bfifo limit 2000000`: the kind and its options, as tc and the language write them.
    pub fn to_source(&self) -> String {
        let mut parts = vec![self.kind().to_string()];
        parts.extend(self.args());
        parts.join(" ")
    }

    /// Read a kind and its options (`["tbf", "rate", "1mbit", ...]`) as tc would.
    pub fn parse<S: AsRef<str>>(words: &[S]) -> Result<LeafQdisc, QdiscError> {
        let w: Vec<&str> = words.iter().map(|s| s.as_ref()).collect();
        let err = |at: usize, message: String| QdiscError {
            at,
            message,
            unknown_kind: false,
        };
        let Some(&kind) = w.first() else {
            return Err(err(0, "expected a qdisc kind".into()));
        };
        let allowed: &[&str] = match kind {
            "pfifo" | "bfifo" => &["limit"],
            "sfq" => &["perturb", "quantum", "limit"],
            "fq_codel" => &[
                "limit", "flows", "target", "interval", "quantum", "ecn", "noecn",
            ],
            "tbf" => &[
                "rate", "burst", "buffer", "maxburst", "latency", "lat", "limit",
            ],
            _ => {
                return Err(QdiscError {
                    at: 0,
                    message: format!(
                        "`{kind}` is not a leaf qdisc tcc models (it knows {})",
                        KINDS.join(", ")
                    ),
                    unknown_kind: true,
                })
            }
        };
        // Options as (word index, key, value); flags carry no value.
        let mut opts: Vec<(usize, &str, Option<&str>)> = vec![];
        let mut i = 1;
        while i < w.len() {
            let key = w[i];
            if !allowed.contains(&key) {
                return Err(err(
                    i,
                    format!(
                        "`{key}` is not an option of {kind} tcc models (it knows {})",
                        allowed.join(", ")
                    ),
                ));
            }
            if matches!(key, "ecn" | "noecn") {
                opts.push((i, key, None));
                i += 1;
                continue;
            }
            let Some(v) = w.get(i + 1) else {
                return Err(err(i, format!("`{key}` needs a value")));
            };
            let canon = match key {
                "buffer" | "maxburst" => "burst",
                "lat" => "latency",
                k => k,
            };
            if opts.iter().any(|o| o.1 == canon) {
                return Err(err(i, format!("`{key}` is given twice")));
            }
            opts.push((i, canon, Some(v)));
            i += 2;
        }
        let get = |k: &str| {
            opts.iter()
                .find(|o| o.1 == k)
                .map(|o| (o.0 + 1, o.2.unwrap()))
        };
        let count = |k: &str| -> Result<Option<u32>, QdiscError> {
            get(k)
                .map(|(at, v)| {
                    v.parse::<u32>()
                        .map_err(|_| err(at, format!("`{v}` is not a count (0..4294967295)")))
                })
                .transpose()
        };
        let size = |k: &str| -> Result<Option<u32>, QdiscError> {
            get(k)
                .map(|(at, v)| {
                    Size::parse_tc(v)
                        .ok()
                        .and_then(|s| u32::try_from(s.0).ok())
                        .ok_or_else(|| {
                            err(at, format!("`{v}` is not a size in bytes (at most 4 GiB)"))
                        })
                })
                .transpose()
        };
        let time = |k: &str| -> Result<Option<u32>, QdiscError> {
            get(k)
                .map(|(at, v)| {
                    parse_time(v).ok_or_else(|| {
                        err(
                            at,
                            format!("`{v}` is not a time such as `5ms`, `100us` or `1s`"),
                        )
                    })
                })
                .transpose()
        };
        Ok(match kind {
            "pfifo" => LeafQdisc::Pfifo {
                limit: count("limit")?,
            },
            "bfifo" => LeafQdisc::Bfifo {
                limit: size("limit")?,
            },
            "sfq" => LeafQdisc::Sfq {
                perturb: count("perturb")?,
                quantum: size("quantum")?,
                limit: count("limit")?,
            },
            "fq_codel" => {
                let ecn = opts
                    .iter()
                    .rev()
                    .find(|o| matches!(o.1, "ecn" | "noecn"))
                    .map(|o| o.1 == "ecn");
                LeafQdisc::FqCodel {
                    limit: count("limit")?,
                    flows: count("flows")?,
                    target: time("target")?,
                    interval: time("interval")?,
                    quantum: size("quantum")?,
                    ecn,
                }
            }
            _ => {
                let rate = match get("rate") {
                    None => return Err(err(w.len(), "tbf needs `rate`".into())),
                    Some((at, v)) => match Rate::parse_tc(v) {
                        Ok(r) if r.rate.0 >= 8 => r.rate.0,
                        _ => return Err(err(at, format!("`{v}` is not a rate such as `10mbit`"))),
                    },
                };
                let Some(burst) = size("burst")? else {
                    return Err(err(w.len(), "tbf needs `burst`".into()));
                };
                let bound = match (time("latency")?, size("limit")?) {
                    (Some(t), None) => TbfBound::Latency(t),
                    (None, Some(l)) => TbfBound::Limit(l),
                    (None, None) => {
                        return Err(err(w.len(), "tbf needs `latency` or `limit`".into()))
                    }
                    (Some(_), Some(_)) => {
                        let at = get("limit").map_or(w.len(), |g| g.0 - 1);
                        return Err(err(at, "tbf takes `latency` or `limit`, not both".into()));
                    }
                };
                LeafQdisc::Tbf { rate, burst, bound }
            }
        })
    }

    /// The most bytes the queue holds, when its options say (pfifo and sfq count packets: the
    /// class's mtu per packet, 1514 when not given; fq_codel keeps its delay near `target`
    /// whatever its limit, so it has none here; tbf's latency is a rate x time).
    pub fn queue_bytes(&self, mtu: Option<u64>) -> Option<u64> {
        let pkt = mtu.unwrap_or(1514);
        match self {
            LeafQdisc::Pfifo { limit } => limit.map(|l| l as u64 * pkt),
            LeafQdisc::Bfifo { limit } => limit.map(|l| l as u64),
            LeafQdisc::Sfq { .. } | LeafQdisc::FqCodel { .. } => None,
            LeafQdisc::Tbf { rate, bound, .. } => Some(match bound {
                TbfBound::Limit(l) => *l as u64,
                TbfBound::Latency(t) => (*rate as u128 * *t as u128 / 8_000_000) as u64,
            }),
        }
    }
}

impl fmt::Display for LeafQdisc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_source())
    }
}

/// tc's time words (`get_time`): a number with `s`/`sec`/`secs`, `ms`/`msec`/`msecs`,
/// `us`/`usec`/`usecs` (a bare number is microseconds), in microseconds.
pub fn parse_time(text: &str) -> Option<u32> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (n, u) = text.split_at(split);
    let n: f64 = n.parse().ok().filter(|v: &f64| v.is_finite())?;
    let mult = match u {
        "s" | "sec" | "secs" => 1e6,
        "ms" | "msec" | "msecs" => 1e3,
        "" | "us" | "usec" | "usecs" => 1.0,
        _ => return None,
    };
    let v = (n * mult).round();
    (v <= u32::MAX as f64).then_some(v as u32)
}

/// A time in microseconds as tc and the language write it: `80ms`, `1s`, `250us`.
pub fn format_time(us: u32) -> String {
    if us != 0 && us % 1_000_000 == 0 {
        format!("{}s", us / 1_000_000)
    } else if us != 0 && us % 1000 == 0 {
        format!("{}ms", us / 1000)
    } else {
        format!("{us}us")
    }
}

/// Time for people: `80 ms`, `2.5 s`, `250 µs`.
pub fn human_time(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{} s", trim(us as f64 / 1e6))
    } else if us >= 1000 {
        format!("{} ms", trim(us as f64 / 1e3))
    } else {
        format!("{us} µs")
    }
}

/// Bytes for people: `2 MB`, `187.5 kB` (decimal units, as rates are).
pub fn human_bytes(b: u64) -> String {
    if b >= 1_000_000 {
        format!("{} MB", trim(b as f64 / 1e6))
    } else if b >= 1000 {
        format!("{} kB", trim(b as f64 / 1e3))
    } else {
        format!("{b} bytes")
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The largest GSO/TSO packet Linux hands a qdisc without BIG TCP (`gso_max_size`): a bfifo
/// counts it whole, so a byte limit below it drops every such packet of a TCP flow.
pub const GSO_MAX: u64 = 65_536;

/// The smallest `bfifo limit` tcc derives from `rtt`: two full GSO packets. Measured on a veth
/// (GSO on): a 50mbit class behind `bfifo limit 62500` (one BDP at 10 ms) delivered 0.33 Mbit/s.
pub const MIN_BFIFO: u64 = 2 * GSO_MAX;

/// The bandwidth-delay product in bytes: what a path of `rate` bits/s and `rtt` microseconds
/// holds in flight, the TCP window a flow needs to fill it (rounded up).
pub fn bdp_bytes(rate: u64, rtt_us: u32) -> u64 {
    (rate as u128 * rtt_us as u128).div_ceil(8_000_000) as u64
}

/// The major number of the qdisc under class `idx`: the class's minor, or (when that is the
/// HTB's own major) the highest major no class of the interface uses as its minor.
pub fn leaf_handle(iface: &Interface, idx: usize) -> u16 {
    let minor = iface.classes[idx].minor;
    if minor != iface.handle {
        return minor;
    }
    (1..=0xffffu16)
        .rev()
        .find(|m| *m != iface.handle && !iface.classes.iter().any(|c| c.minor == *m))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<LeafQdisc, QdiscError> {
        LeafQdisc::parse(&s.split_whitespace().collect::<Vec<_>>())
    }

    #[test]
    fn every_kind_round_trips() {
        for s in [
            "pfifo",
            "pfifo limit 100",
            "bfifo limit 2000000",
            "sfq perturb 10 quantum 1514 limit 127",
            "fq_codel limit 10240 flows 1024 target 5ms interval 100ms quantum 1514 ecn",
            "fq_codel noecn",
            "tbf rate 10mbit burst 32768b latency 50ms",
            "tbf rate 1gbit burst 1000000b limit 3000000b",
        ] {
            assert_eq!(p(s).unwrap().to_source(), s);
        }
    }

    #[test]
    fn tc_spellings_are_read() {
        assert_eq!(
            p("tbf rate 1mbit buffer 10kb lat 50ms").unwrap(),
            LeafQdisc::Tbf {
                rate: 1_000_000,
                burst: 10240,
                bound: TbfBound::Latency(50_000)
            }
        );
        assert_eq!(
            p("bfifo limit 2mb").unwrap(),
            LeafQdisc::Bfifo {
                limit: Some(2 << 20)
            }
        );
    }

    #[test]
    fn mistakes_point_at_the_word() {
        assert!(p("red limit 1").unwrap_err().unknown_kind);
        assert_eq!(p("pfifo depth 3").unwrap_err().at, 1);
        assert_eq!(p("pfifo limit x").unwrap_err().at, 2);
        assert_eq!(p("tbf rate 1mbit burst 10k").unwrap_err().at, 5);
        assert_eq!(
            p("tbf rate 1mbit burst 10k latency 1ms limit 5k")
                .unwrap_err()
                .at,
            7
        );
    }

    #[test]
    fn bdp() {
        assert_eq!(bdp_bytes(200_000_000, 80_000), 2_000_000);
        assert_eq!(human_bytes(2_000_000), "2 MB");
        assert_eq!(format_time(80_000), "80ms");
        assert_eq!(parse_time("1.5s"), Some(1_500_000));
    }
}
