//! The checker knows the kernel's limits, proved on the real kernel: plans with values near
//! every bound of `plan::limits` (rates around 1 byte/s, bursts around what 2^32 psched ticks
//! hold at the rate, 32-bit sizes, quantum 0 and 2^31, prio 7/8) are generated; every plan the
//! checker accepts, `tcc apply` applies without a refusal or a kernel warning, `tcc plan` finds
//! nothing to do, and the kernel reports what was meant (bursts within a microsecond of the exact
//! time, not wrapped); every plan it refuses, `tc` itself given the same values is refused or
//! the kernel reports something else than was written.
//!
//! Needs root; prints "skipped: needs root" otherwise, and fails instead under `CI=true`.

mod common;

use common::kernel::{need_root, Bed};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::process::Command;
use tcc::apply::live::parse_htb_class;
use tcc::plan::limits::{max_burst, TICKS_PER_USEC};

/// One generated class: rate and ceil in bits/s, sizes in bytes.
#[derive(Debug, Clone)]
struct Case {
    rate: u64,
    ceil: Option<u64>,
    burst: Option<u64>,
    cburst: Option<u64>,
    mtu: Option<u64>,
    quantum: Option<u64>,
    prio: Option<u64>,
}

impl Case {
    fn shape(&self) -> String {
        let mut c = format!("rate {}bit", self.rate);
        for (k, v) in [
            ("ceil", self.ceil.map(|v| format!("{v}bit"))),
            ("burst", self.burst.map(|v| v.to_string())),
            ("cburst", self.cburst.map(|v| v.to_string())),
            ("mtu", self.mtu.map(|v| v.to_string())),
            ("quantum", self.quantum.map(|v| v.to_string())),
            ("prio", self.prio.map(|v| v.to_string())),
        ] {
            if let Some(v) = v {
                c += &format!("; {k} {v}");
            }
        }
        format!("interface eth1 {{\n    default c\n    class c {{ {c} }}\n}}\n")
    }

    /// The same class as `tc` arguments.
    fn tc_args(&self) -> Vec<String> {
        let mut a: Vec<String> = "class add dev eth1 parent 1: classid 1:10 htb rate"
            .split(' ')
            .map(String::from)
            .collect();
        a.push(format!("{}bit", self.rate));
        a.push("ceil".into());
        a.push(format!("{}bit", self.ceil.unwrap_or(self.rate)));
        for (k, v) in [
            ("burst", self.burst),
            ("cburst", self.cburst),
            ("mtu", self.mtu),
            ("quantum", self.quantum),
            ("prio", self.prio),
        ] {
            if let Some(v) = v {
                a.push(k.into());
                a.push(if k == "burst" || k == "cburst" {
                    format!("{v}b")
                } else {
                    v.to_string()
                });
            }
        }
        a
    }

    /// Exact psched ticks of a burst (integer arithmetic, no wrapping): what the class means.
    fn exact_ticks(rate_bits: u64, burst: Option<u64>, mtu: Option<u64>) -> u128 {
        let rate = (rate_bits / 8) as u128;
        let bytes = burst
            .map(|b| b as u128)
            .unwrap_or(rate / 1_000_000_000 + mtu.unwrap_or(1600) as u128);
        // usec = 1e6 * bytes / rate; ticks = usec * 15.625 = usec * 125 / 8.
        (1_000_000 * bytes / rate.max(1)) * 125 / 8
    }
}

fn case() -> impl Strategy<Value = Case> {
    let rates = vec![
        1u64,
        7,
        8,
        40,
        47,
        48,
        56,
        64,
        8_000,
        1_000_000,
        100_000_000,
        34_359_738_368,
        10_000_000_000_000,
    ];
    (
        prop::sample::select(rates),
        prop::sample::select(vec![None, Some(1u64), Some(2)]),
        0usize..12,
        0usize..12,
        prop::sample::select(vec![
            None,
            None,
            None,
            Some(1u64),
            Some(1600),
            Some(9000),
            Some(u32::MAX as u64),
            Some(u32::MAX as u64 + 1),
        ]),
        prop::sample::select(vec![
            None,
            None,
            None,
            None,
            Some(0u64),
            Some(1),
            Some(1000),
            Some(200_000),
            Some(i32::MAX as u64),
            Some(i32::MAX as u64 + 1),
            Some(u32::MAX as u64 + 1),
        ]),
        prop::sample::select(vec![None, None, Some(0u64), Some(7), Some(8)]),
    )
        .prop_map(|(rate, ceil_k, b, cb, mtu, quantum, prio)| {
            let ceil = ceil_k.map(|k| rate * k);
            // Bursts around the bound at the class's own rate (and fixed 32-bit edges).
            let near = |bits: u64, k: usize| -> Option<u64> {
                let max = max_burst(bits / 8, TICKS_PER_USEC);
                [
                    None,
                    Some(1),
                    Some(1600),
                    Some(max),
                    Some(max + 1),
                    Some(u32::MAX as u64),
                    Some(u32::MAX as u64 + 1),
                ]
                .get(k)
                .copied()
                .flatten()
            };
            Case {
                rate,
                ceil,
                burst: near(rate, b),
                cburst: near(ceil.unwrap_or(rate), cb),
                mtu,
                quantum,
                prio,
            }
        })
}

fn tc_in(bed: &Bed, args: &[String]) -> bool {
    Command::new("ip")
        .args(["netns", "exec", &bed.a, "tc"])
        .args(args)
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn checker_accepts_exactly_what_the_kernel_holds() {
    if !need_root() {
        return;
    }
    let bed = Bed::single(&["eth1"]);
    let psched = std::fs::read_to_string("/proc/net/psched").unwrap();
    assert!(
        psched.starts_with("000003e8 00000040 000f4240 3b9aca00"),
        "this test assumes the high-resolution psched clock: {psched}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.shape");
    let file = file.to_str().unwrap().to_string();
    let counts = std::cell::Cell::new((0usize, 0usize));
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&case(), |c| {
            let text = c.shape();
            let (_, diags) = tcc::analyze(0, &text);
            let refused: Vec<_> = diags.items.iter().filter(|d| d.severity() == tcc::diagnostic::Severity::Error).collect();
            let bad = |m: String| Err(TestCaseError::fail(format!("{m}\n{text}")));
            if refused.is_empty() {
                counts.set((counts.get().0 + 1, counts.get().1));
                std::fs::write(&file, &text).unwrap();
                // The generated classes hang from the qdisc (no interface rate) with any ceil and
                // quantum: the lints about borrowing (W0112) and small quanta (W0114) are not
                // what this test is about.
                let o = bed.tcc(&[
                    "apply", "--classifier", "u32", "--allow", "W0112", "--allow", "W0114", &file,
                ]);
                let err = String::from_utf8_lossy(&o.stderr);
                if o.status.code() != Some(0) || err.contains("warning") {
                    return bad(format!("accepted, but apply: {:?}\n{err}", o.status.code()));
                }
                let o = bed.tcc(&["plan", "--classifier", "u32", &file]);
                if o.status.code() != Some(0) {
                    return bad(format!(
                        "applied, but plan finds changes:\n{}",
                        String::from_utf8_lossy(&o.stdout)
                    ));
                }
                let live = bed.live();
                let h = live
                    .classes
                    .iter()
                    .find_map(|o| parse_htb_class(o).filter(|_| o.handle & 0xffff != 0))
                    .expect("the class");
                let ceil = c.ceil.unwrap_or(c.rate);
                let want = (
                    c.rate / 8,
                    ceil / 8,
                    Case::exact_ticks(c.rate, c.burst, c.mtu),
                    Case::exact_ticks(ceil, c.cburst, c.mtu),
                );
                let close = |live: u32, exact: u128| (live as i128 - exact as i128).abs() <= 16;
                if (h.rate, h.ceil) != (want.0, want.1)
                    || !close(h.buffer, want.2)
                    || !close(h.cbuffer, want.3)
                    || c.quantum.is_some_and(|q| q != h.quantum as u64)
                    || c.prio.is_some_and(|p| p != h.prio as u64)
                {
                    return bad(format!("kernel holds {h:?}, meant {want:?}"));
                }
            } else {
                counts.set((counts.get().0, counts.get().1 + 1));
                // Past a bound: tc refuses, or the kernel holds something else than written.
                let reasons: Vec<String> = refused.iter().map(|d| format!("{}: {}", d.code, d.message)).collect();
                tc_in(&bed, &["qdisc", "replace", "dev", "eth1", "root", "handle", "1:", "htb"].map(String::from));
                if !tc_in(&bed, &c.tc_args()) {
                    return Ok(());
                }
                let live = bed.live();
                let Some(h) = live.classes.iter().find_map(|o| parse_htb_class(o).filter(|_| o.handle == 0x1_0010)) else {
                    return Ok(());
                };
                let ceil = c.ceil.unwrap_or(c.rate);
                let exact_b = Case::exact_ticks(c.rate, c.burst, c.mtu);
                let exact_cb = Case::exact_ticks(ceil, c.cburst, c.mtu);
                let changed = (h.rate, h.ceil) != (c.rate / 8, ceil / 8)
                    || (h.buffer as i128 - exact_b as i128).abs() > 16
                    || (h.cbuffer as i128 - exact_cb as i128).abs() > 16
                    || c.quantum.is_some_and(|q| q != h.quantum as u64)
                    || c.prio.is_some_and(|p| p != h.prio as u64);
                if !changed {
                    return bad(format!("refused ({reasons:?}), but tc applied it and the kernel holds it unchanged: {h:?}"));
                }
            }
            Ok(())
        })
        .unwrap();
    let (accepted, refused) = counts.get();
    eprintln!("{accepted} accepted, {refused} refused");
    assert!(
        accepted >= 20 && refused >= 20,
        "{accepted} accepted, {refused} refused"
    );
}
