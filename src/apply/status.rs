//! `tcc status` as a library call: the live trees of interfaces, read twice some time apart so
//! that current rates can be computed. Reading only: no lock, no privileges needed.

use super::error::ApplyError;
use super::live::{ifindex, Live};
use super::run::open;
use std::time::{Duration, Instant};

/// One interface: its state at the first reading, and at the second (when there was one and it
/// could be read).
#[derive(Debug)]
pub struct Reading {
    pub name: String,
    pub first: Live,
    pub second: Option<Live>,
}

/// The interfaces read, and the seconds between the two readings.
#[derive(Debug)]
pub struct Status {
    pub interfaces: Vec<Reading>,
    pub elapsed: f64,
}

/// Read `iface`, or every interface with a configured root qdisc; with a positive `interval`,
/// read them again after it.
pub fn read(iface: Option<&str>, interval: f64) -> Result<Status, ApplyError> {
    let mut sock = open()?;
    let names = match iface {
        Some(n) => vec![n.to_string()],
        None => all_interfaces(),
    };
    let mut interfaces = Vec::new();
    for n in names {
        let Some(ifx) = ifindex(&n) else {
            return Err(ApplyError::NoDevice(n));
        };
        match Live::read(&mut sock, ifx) {
            Ok(first) => interfaces.push(Reading {
                name: n,
                first,
                second: None,
            }),
            Err(error) => return Err(ApplyError::ReadLive { iface: n, error }),
        }
    }
    let t0 = Instant::now();
    // NaN, infinite or absurd intervals (the CLI refuses them) take no second reading.
    if let Some(wait) = Duration::try_from_secs_f64(interval)
        .ok()
        .filter(|d| !d.is_zero())
    {
        std::thread::sleep(wait);
        for r in &mut interfaces {
            r.second = Live::read(&mut sock, r.first.ifindex).ok();
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    if iface.is_none() {
        interfaces.retain(|r| !r.first.root_is_default());
    }
    Ok(Status {
        interfaces,
        elapsed,
    })
}

fn all_interfaces() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
