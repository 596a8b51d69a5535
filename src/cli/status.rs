//! The command `tcc status`: the live tree of each interface, its classes with their rates in
//! tc's units, byte, packet and drop counters and current rates.

use crate::apply::diff::fmt_handle;
use crate::apply::encode::TC_H_ROOT;
use crate::apply::error::ApplyError;
use crate::apply::live::{parse_htb_class, parse_htb_qdisc, Live, Obj};
use crate::apply::status;
use crate::cli::ExitCode;
use crate::plan::units::format_rate;
use std::collections::HashMap;
use std::io::Write;

pub const STATUS_EXAMPLES: &str = "Examples:
  tcc status                                    # every interface with a root qdisc
  tcc status --interface eth1 --interval 5      # rates measured over 5 seconds
  tcc status -i eth1 --interval 0               # one reading, the kernel's rate estimates
  tcc status site.shape                         # its interfaces, classes named as in the file
  tcc status site.shape --format json           # per interface, per class: counters and rates
  tcc status site.shape --watch                 # live per-class rates, every second";

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// A .shape file: show its interfaces, and name their classes as it does.
    pub file: Option<std::path::PathBuf>,
    /// The interface to show (default: every interface with a configured root qdisc).
    #[arg(long, short)]
    pub interface: Option<String>,
    /// Seconds between the two readings the current rates are computed from (0: one reading;
    /// at most 3600).
    #[arg(long, default_value_t = 1.0, value_parser = parse_interval)]
    pub interval: f64,
    /// `text`, or `json`: `{"interfaces": [{"interface", "qdisc", "classes": [{"classid",
    /// "name", "parent", "rate", "ceil", "bytes", "packets", "drops", "overlimits",
    /// "current_rate"}]}]}`, rates in bit/s (`current_rate` null when unknown).
    #[arg(long, value_enum, default_value_t = crate::cli::apply::PlanFormat::Text)]
    pub format: crate::cli::apply::PlanFormat,
    /// Read again and again, every `--interval` seconds, until interrupted: a new screen per
    /// reading (with `--format json`, one JSON object per line).
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub host: crate::cli::host::HostArg,
}

/// An interface of a .shape file and its class names by classid.
type Named = (String, HashMap<u32, String>);

/// The class names of the interfaces of a .shape file (and of their ingress trees, by ifb).
fn names_of(
    file: &std::path::Path,
    host: &crate::cli::host::HostArg,
) -> Result<Vec<Named>, ExitCode> {
    let (name, text) = crate::cli::read_input(file).map_err(|e| crate::cli::io_error(&e))?;
    let (site, diags) = crate::analyze_site(0, &text);
    if diags.has_errors() {
        eprintln!(
            "error: {} has errors (`tcc check {}` shows them)",
            file.display(),
            file.display()
        );
        return Err(ExitCode::Failed);
    }
    let (plan, _) = crate::cli::host::choose(site, &name, host.pick(true))?;
    // Each interface, then (download shaping) its ingress tree on tcc's ifb device.
    Ok(plan
        .interfaces
        .iter()
        .flat_map(|i| std::iter::once(i).chain(i.ingress.as_deref()))
        .map(|i| {
            let names = (0..i.classes.len())
                .map(|k| {
                    let (ma, mi) = (i.handle as u32, i.classes[k].minor as u32);
                    ((ma << 16) | mi, i.classes[k].name.clone())
                })
                .collect();
            (i.name.clone(), names)
        })
        .collect())
}

pub fn status_cmd(a: StatusArgs) -> ExitCode {
    let named = match &a.file {
        Some(f) => match names_of(f, &a.host) {
            Ok(n) => n,
            Err(c) => return c,
        },
        None => Vec::new(),
    };
    // With a file and no --interface: its interfaces, one after the other.
    let ifaces: Vec<Option<String>> = match (&a.interface, a.file.is_some()) {
        (Some(i), _) => vec![Some(i.clone())],
        (None, true) => named.iter().map(|n| Some(n.0.clone())).collect(),
        (None, false) => vec![None],
    };
    if a.watch && a.interval.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        eprintln!("error: --watch needs a positive --interval (the seconds between readings)");
        return ExitCode::Usage;
    }
    let empty = HashMap::new();
    let names = |iface: &str| named.iter().find(|n| n.0 == iface).map_or(&empty, |n| &n.1);
    let mut out = std::io::stdout().lock();
    loop {
        let mut readings = Vec::new();
        let mut elapsed = 0.0;
        for i in &ifaces {
            match status::read(i.as_deref(), a.interval) {
                Ok(s) => {
                    elapsed = s.elapsed;
                    readings.extend(s.interfaces);
                }
                Err(ApplyError::ReadLive { iface, error }) => {
                    eprintln!("error: {iface}: {error}");
                    return ExitCode::Usage;
                }
                Err(e) => return crate::cli::apply::fail(&e),
            }
        }
        if a.format == crate::cli::apply::PlanFormat::Json {
            let v: Vec<serde_json::Value> = readings
                .iter()
                .map(|r| {
                    let l = r.second.as_ref().unwrap_or(&r.first);
                    let classes: Vec<serde_json::Value> =
                        rows(&r.first, r.second.as_ref(), elapsed, names(&r.name))
                            .iter()
                            .map(|c| {
                                serde_json::json!({
                                    "classid": fmt_handle(c.id),
                                    "name": c.name,
                                    "parent": fmt_handle(c.parent),
                                    "rate": c.rate,
                                    "ceil": c.ceil,
                                    "bytes": c.obj.stats.bytes,
                                    "packets": c.obj.stats.packets,
                                    "drops": c.obj.stats.drops,
                                    "overlimits": c.obj.stats.overlimits,
                                    "current_rate": c.now,
                                })
                            })
                            .collect();
                    serde_json::json!({
                        "interface": r.name,
                        "qdisc": l.root().map(|q| format!("{} {}", q.kind, fmt_handle(q.handle))),
                        "classes": classes,
                    })
                })
                .collect();
            if writeln!(out, "{}", serde_json::json!({ "interfaces": v }))
                .and_then(|()| out.flush())
                .is_err()
            {
                return ExitCode::Ok; // the reader went away
            }
            if a.watch {
                continue;
            }
            return ExitCode::Ok;
        }
        if a.watch {
            // A new screen per reading, as `watch` does.
            let _ = write!(out, "\x1b[H\x1b[2J");
        }
        for r in &readings {
            let _ = write!(
                out,
                "{}",
                render_status(
                    &r.name,
                    &r.first,
                    r.second.as_ref(),
                    elapsed,
                    names(&r.name)
                )
            );
        }
        if readings.is_empty() {
            let _ = writeln!(out, "no interface has a configured root qdisc");
        }
        if out.flush().is_err() || !a.watch {
            return ExitCode::Ok;
        }
    }
}

/// One class of the live tree, in tree order.
struct Row<'a> {
    obj: &'a Obj,
    id: u32,
    parent: u32,
    depth: usize,
    name: Option<String>,
    /// Rate and ceil in bit/s (HTB classes).
    rate: Option<u64>,
    ceil: Option<u64>,
    /// The current rate in bit/s: measured between the readings, or the kernel's estimate.
    now: Option<u64>,
}

fn rows<'a>(
    l0: &'a Live,
    l1: Option<&'a Live>,
    dt: f64,
    names: &HashMap<u32, String>,
) -> Vec<Row<'a>> {
    let l = l1.unwrap_or(l0);
    let Some(root) = l.root() else {
        return Vec::new();
    };
    let before: HashMap<u32, u64> = l0
        .classes
        .iter()
        .map(|c| (c.handle, c.stats.bytes))
        .collect();
    let parent_of = |c: &Obj| {
        if c.parent == TC_H_ROOT {
            root.handle
        } else {
            c.parent
        }
    };
    let mut out = Vec::new();
    walk(l, root.handle, 0, &parent_of, &mut |c, parent, depth| {
        let htb = parse_htb_class(c);
        let now = if l1.is_some() && dt > 0.0 {
            let b0 = before.get(&c.handle).copied().unwrap_or(0);
            Some((c.stats.bytes.saturating_sub(b0) as f64 * 8.0 / dt) as u64)
        } else if c.stats.rate_est > 0 {
            Some(c.stats.rate_est * 8)
        } else {
            None
        };
        out.push(Row {
            obj: c,
            id: c.handle,
            parent,
            depth,
            name: names.get(&c.handle).cloned(),
            rate: htb.as_ref().map(|h| h.rate * 8),
            ceil: htb.as_ref().map(|h| h.ceil * 8),
            now,
        });
    });
    out
}

/// Visit the classes under `parent` depth-first, children in classid order.
fn walk<'a>(
    l: &'a Live,
    parent: u32,
    depth: usize,
    parent_of: &dyn Fn(&Obj) -> u32,
    visit: &mut dyn FnMut(&'a Obj, u32, usize),
) {
    let mut kids: Vec<&Obj> = l
        .classes
        .iter()
        .filter(|c| parent_of(c) == parent)
        .collect();
    kids.sort_by_key(|c| c.handle);
    for c in kids {
        visit(c, parent, depth);
        walk(l, c.handle, depth + 1, parent_of, visit);
    }
}

/// The live tree as text: one line per class, children indented under their parents, named
/// as the .shape file names them (`names`).
pub fn render_status(
    name: &str,
    l0: &Live,
    l1: Option<&Live>,
    dt: f64,
    names: &HashMap<u32, String>,
) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let l = l1.unwrap_or(l0);
    let Some(root) = l.root() else {
        let _ = writeln!(s, "{name}: no root qdisc");
        return s;
    };
    let mut head = format!("{name}: qdisc {} {}", root.kind, fmt_handle(root.handle));
    if let Some((r2q, def)) = parse_htb_qdisc(root) {
        let _ = write!(head, " default {def:x} r2q {r2q}");
    }
    let _ = writeln!(
        s,
        "{head}  sent {} bytes {} pkts, dropped {}, overlimits {}",
        root.stats.bytes, root.stats.packets, root.stats.drops, root.stats.overlimits
    );
    let _ = writeln!(
        s,
        "  {:<22} {:>12} {:>12} {:>14} {:>10} {:>7} {:>10} {:>12}",
        "class", "rate", "ceil", "bytes", "packets", "drops", "overlimits", "now"
    );
    let text = |r: Option<u64>| r.map(format_rate).unwrap_or_default();
    for r in rows(l0, l1, dt, names) {
        let mut id = format!("{}{}", "  ".repeat(r.depth), fmt_handle(r.id));
        if let Some(n) = &r.name {
            id = format!("{id} {n}");
        }
        let st = &r.obj.stats;
        let now = r.now.map(format_rate).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "  {:<22} {:>12} {:>12} {:>14} {:>10} {:>7} {:>10} {:>12}",
            id,
            text(r.rate),
            text(r.ceil),
            st.bytes,
            st.packets,
            st.drops,
            st.overlimits,
            now
        );
    }
    // The queues under the leaves (the kernel's default pfifo is not listed by the kernel).
    for q in l
        .qdiscs
        .iter()
        .filter(|q| q.parent != root.parent && q.parent >> 16 == root.handle >> 16)
    {
        let opts: Vec<String> = crate::apply::leafq::live_options(q)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            s,
            "  leaf queue of {}: {} {} {}  backlog {} bytes {} pkts, dropped {}",
            fmt_handle(q.parent),
            q.kind,
            fmt_handle(q.handle),
            opts.join(" "),
            q.stats.backlog,
            q.stats.qlen,
            q.stats.drops
        );
    }
    s
}

/// The longest `--interval` accepted, seconds.
const MAX_INTERVAL: f64 = 3600.0;

/// `--interval SECS`: a finite number of seconds from 0 to `MAX_INTERVAL` (NaN, `inf`,
/// negative and huge values are usage errors, not a panic or a wait of centuries).
fn parse_interval(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if v.is_finite() && (0.0..=MAX_INTERVAL).contains(&v) {
        Ok(v)
    } else {
        Err(format!("`{s}` is not between 0 and {MAX_INTERVAL} seconds"))
    }
}
