//! The commands `tcc apply`, `tcc plan`, `tcc status` and `tcc teardown`.
//!
//! Exit statuses: 0 done (for `plan` and `apply --dry-run`: nothing would change), 1 the
//! source has errors or the kernel refused a change (the previous state was restored),
//! 2 usage, I/O or permission problems, 3 (`plan`/`--dry-run` only) changes would be made.

use crate::apply::diff::{diff, fmt_handle, Change, Desired, Step};
use crate::apply::encode::{root_qdisc_del, Psched, TC_H_ROOT};
use crate::apply::exec;
use crate::apply::live::{ifindex, parse_htb_class, parse_htb_qdisc, Live, Obj};
use crate::apply::nft;
use crate::apply::nl::Socket;
use crate::cli::{self, ColorWhen};
use crate::emit;
use crate::plan::units::format_rate;
use crate::report::{self, Sources};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub const CHANGES: i32 = 3;

/// How `tcc apply` sorts packets into classes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ApplyClassifier {
    /// `meta priority set` rules in the tcc-owned table `inet tcc_<iface>` (one atomic
    /// `nft -f -` transaction).
    #[default]
    Nft,
    /// tc u32 filters on the root qdisc, sent over netlink with the classes.
    U32,
}

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// The .shape file (`-` for standard input).
    pub file: PathBuf,
    /// Apply only this interface of the plan.
    #[arg(long, short)]
    pub interface: Option<String>,
    /// How packets are sorted into classes.
    #[arg(long, value_enum, default_value_t = ApplyClassifier::Nft)]
    pub classifier: ApplyClassifier,
    /// Print what would be created, changed and deleted, and change nothing
    /// (exit 0: nothing would change, 3: something would).
    #[arg(long)]
    pub dry_run: bool,
    /// Print every message sent, not only a summary.
    #[arg(long, short)]
    pub verbose: bool,
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// The .shape file (`-` for standard input).
    pub file: PathBuf,
    /// Compare only this interface of the plan.
    #[arg(long, short)]
    pub interface: Option<String>,
    /// How packets are sorted into classes (as for `tcc apply`).
    #[arg(long, value_enum, default_value_t = ApplyClassifier::Nft)]
    pub classifier: ApplyClassifier,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// The interface to show (default: every interface with a configured root qdisc).
    #[arg(long, short)]
    pub interface: Option<String>,
    /// Seconds between the two readings the current rates are computed from (0: one reading).
    #[arg(long, default_value_t = 1.0)]
    pub interval: f64,
}

#[derive(clap::Args, Debug)]
pub struct TeardownArgs {
    /// The interface whose tcc configuration (its HTB root qdisc) is removed.
    #[arg(long, short)]
    pub interface: String,
}

/// Whether this process has CAP_NET_ADMIN (bit 12 of the effective capabilities).
pub fn has_net_admin() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 12) != 0)
}

/// An exclusive lock held while tcc changes the kernel, so that two runs (a cron job and a
/// person) never interleave their batches. Released when the file is closed (on exit).
fn lock() -> Option<std::fs::File> {
    use std::os::fd::AsRawFd;
    let dir = if std::path::Path::new("/run/lock").is_dir() {
        "/run/lock"
    } else {
        "/tmp"
    };
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(format!("{dir}/tcc.lock"))
        .ok()?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        eprintln!("note: waiting for another tcc run to finish ({dir}/tcc.lock)");
        // SAFETY: as above.
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    }
    Some(f)
}

fn need_net_admin(what: &str) -> Result<(), i32> {
    if has_net_admin() {
        return Ok(());
    }
    eprintln!(
        "error: `tcc {what}` changes the kernel's traffic control and needs CAP_NET_ADMIN; \
         run it as root (or with that capability). Nothing was changed."
    );
    eprintln!("help: `tcc plan FILE` shows what would change and needs no privileges");
    Err(cli::USAGE)
}

/// Read, analyse and check a source for the u32 classifier; print diagnostics.
fn load(file: &std::path::Path, color: ColorWhen, u32: bool) -> Result<crate::plan::Plan, i32> {
    let (name, text) = cli::read_input(file).map_err(|e| {
        eprintln!("error: {e}");
        cli::USAGE
    })?;
    let mut sources = Sources::new();
    let id = sources.add(name, text.clone());
    let (plan, mut diags) = crate::analyze(id, &text);
    if u32 && !diags.has_errors() {
        diags.extend(emit::u32_expressible(&plan));
        diags.sort();
    }
    let mut err = cli::stderr(color);
    if report::emit_human(&mut err, &sources, &diags.items).is_err() {
        return Err(cli::USAGE);
    }
    if diags.has_errors() {
        cli::summary(&mut err, &diags.items);
        return Err(cli::FAILED);
    }
    Ok(plan)
}

/// One interface's comparison.
struct Work {
    name: String,
    live: Live,
    steps: Vec<Step>,
    /// The nftables transaction to run after the steps, and its line in the diff.
    nft: Option<(String, Step)>,
    /// The table before (as listed), to put back if a later interface fails.
    nft_before: Option<String>,
    want: Desired,
    ps: Psched,
}

impl Work {
    fn changes(&self) -> usize {
        self.steps.len() + self.nft.is_some() as usize
    }
}

fn compare(
    plan: &crate::plan::Plan,
    only: Option<&str>,
    sock: &mut Socket,
    classifier: ApplyClassifier,
) -> Result<Vec<Work>, i32> {
    let u32 = classifier == ApplyClassifier::U32;
    let ps = match Psched::host() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot read the packet scheduler clock (/proc/net/psched): {e}");
            return Err(cli::USAGE);
        }
    };
    if let Some(name) = only {
        if !plan.interfaces.iter().any(|i| i.name == name) {
            eprintln!("error: the plan does not shape interface `{name}`");
            return Err(cli::USAGE);
        }
    }
    let mut work = Vec::new();
    for iface in &plan.interfaces {
        if only.is_some_and(|n| n != iface.name) {
            continue;
        }
        let Some(ifx) = ifindex(&iface.name) else {
            eprintln!("error: no such network device: {}", iface.name);
            return Err(cli::USAGE);
        };
        let want = Desired::from_plan(iface, u32).map_err(|e| {
            eprintln!("error: {}: {e}", iface.name);
            cli::FAILED
        })?;
        let live = Live::read(sock, ifx).map_err(|e| {
            eprintln!(
                "error: cannot read the traffic control state of {}: {e}",
                iface.name
            );
            cli::USAGE
        })?;
        let steps = diff(&live, &want, &ps);
        let nft = nft_change(iface, u32).map_err(|e| {
            eprintln!("error: {}: {e}", iface.name);
            cli::USAGE
        })?;
        let nft_before = match &nft {
            Some(_) => nft::current_table(&iface.name).ok().flatten(),
            None => None,
        };
        work.push(Work {
            name: iface.name.clone(),
            live,
            steps,
            nft,
            nft_before,
            want,
            ps,
        });
    }
    Ok(work)
}

/// What the interface's nftables table needs: nothing, (re)placing, or removing.
fn nft_change(iface: &crate::plan::Interface, u32: bool) -> Result<Option<(String, Step)>, String> {
    let table = format!("nft table inet {}", nft::table_name(&iface.name));
    let rules = iface.filters.len();
    // With u32 and no table there is nothing to ask nft (which need not be installed).
    let step = |change, detail: String| Step {
        change,
        object: table.clone(),
        detail,
        msg: crate::apply::nl::Msg::new(0, 0),
    };
    let current = match nft::current_marker(&iface.name) {
        Ok(c) => c,
        Err(nft::NftError::Spawn(_)) if u32 => None,
        // `tcc plan` without privileges: nftables cannot be read, so it cannot be compared.
        Err(nft::NftError::NotPermitted(_)) => {
            return Ok(Some((
                nft::script(iface),
                step(
                    Change::Change,
                    "cannot be read without CAP_NET_ADMIN; apply replaces it".into(),
                ),
            )))
        }
        Err(e @ nft::NftError::Spawn(_)) => {
            return Err(format!(
                "{e}: the default classifier needs the `nft` program (package nftables); \
                 `--classifier u32` needs no program"
            ))
        }
        Err(e) => return Err(e.to_string()),
    };
    Ok(match (u32, current) {
        (true, None) => None,
        (true, Some(_)) => Some((
            nft::delete_script(&iface.name),
            step(Change::Delete, "classification moves to u32 filters".into()),
        )),
        (false, Some(m)) if m == nft::marker(iface) => None,
        (false, cur) => Some((
            nft::script(iface),
            step(
                if cur.is_some() {
                    Change::Change
                } else {
                    Change::Add
                },
                format!("{rules} filter(s), replaced in one transaction"),
            ),
        )),
    })
}

fn open() -> Result<Socket, i32> {
    Socket::open().map_err(|e| {
        eprintln!("error: cannot open a netlink socket: {e}");
        cli::USAGE
    })
}

fn counts(steps: &[Step]) -> String {
    let n = |c| steps.iter().filter(|s| s.change == c).count();
    format!(
        "{} to add, {} to change, {} to delete",
        n(Change::Add),
        n(Change::Change),
        n(Change::Delete)
    )
}

fn print_diff(work: &[Work]) -> i32 {
    let mut out = std::io::stdout().lock();
    let mut any = false;
    for w in work {
        if w.changes() == 0 {
            let _ = writeln!(out, "{}: up to date", w.name);
            continue;
        }
        any = true;
        let all: Vec<Step> = w
            .steps
            .iter()
            .chain(w.nft.as_ref().map(|n| &n.1))
            .cloned()
            .collect();
        let _ = writeln!(out, "{}: {}", w.name, counts(&all));
        for s in &all {
            let _ = writeln!(out, "  {s}");
        }
    }
    if any {
        CHANGES
    } else {
        cli::OK
    }
}

pub fn plan_cmd(a: PlanArgs, color: ColorWhen) -> i32 {
    let plan = match load(&a.file, color, a.classifier == ApplyClassifier::U32) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let mut sock = match open() {
        Ok(s) => s,
        Err(c) => return c,
    };
    match compare(&plan, a.interface.as_deref(), &mut sock, a.classifier) {
        Ok(work) => print_diff(&work),
        Err(c) => c,
    }
}

pub fn apply_cmd(a: ApplyArgs, color: ColorWhen) -> i32 {
    if a.dry_run {
        return plan_cmd(
            PlanArgs {
                file: a.file,
                interface: a.interface,
                classifier: a.classifier,
            },
            color,
        );
    }
    if let Err(c) = need_net_admin("apply") {
        return c;
    }
    let plan = match load(&a.file, color, a.classifier == ApplyClassifier::U32) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let _lock = lock();
    let mut sock = match open() {
        Ok(s) => s,
        Err(c) => return c,
    };
    let work = match compare(&plan, a.interface.as_deref(), &mut sock, a.classifier) {
        Ok(w) => w,
        Err(c) => return c,
    };
    let mut out = std::io::stdout().lock();
    for (k, w) in work.iter().enumerate() {
        if w.changes() == 0 {
            let _ = writeln!(out, "{}: up to date, nothing sent", w.name);
            continue;
        }
        if a.verbose {
            for s in w.steps.iter().chain(w.nft.as_ref().map(|n| &n.1)) {
                let _ = writeln!(out, "  {s}");
            }
        }
        let mut result = exec::run(&mut sock, &w.live, &w.steps).map_err(|e| e.to_string());
        if result.is_ok() && !w.steps.is_empty() {
            // The kernel may accept a message and keep less than it said (a u32 mark test on a
            // kernel without CONFIG_CLS_U32_MARK is dropped silently): read back and compare.
            if let Err(e) = verify(&mut sock, w) {
                let restored = match exec::restore(&mut sock, &w.live) {
                    Ok(()) => "the previous configuration was restored".to_string(),
                    Err(r) => format!("restoring the previous configuration FAILED: {r}"),
                };
                result = Err(format!("{e}\n{restored}"));
            }
        }
        if let (Ok(_), Some((script, _))) = (&result, &w.nft) {
            // The nftables transaction is atomic: when it fails it changed nothing, and the
            // traffic-control steps before it are undone.
            if let Err(e) = nft::run(script) {
                let restored = match exec::restore(&mut sock, &w.live) {
                    Ok(()) => "the previous configuration was restored".to_string(),
                    Err(r) => format!("restoring the previous configuration FAILED: {r}"),
                };
                result = Err(format!(
                    "nft refused the classification table: {e}\n{restored}"
                ));
            }
        }
        match result {
            Ok(warnings) => {
                for wn in warnings {
                    eprintln!("warning: {}: kernel: {wn}", w.name);
                }
                let all: Vec<Step> = w
                    .steps
                    .iter()
                    .chain(w.nft.as_ref().map(|n| &n.1))
                    .cloned()
                    .collect();
                let _ = writeln!(
                    out,
                    "{}: applied {} netlink message(s){} ({})",
                    w.name,
                    w.steps.len(),
                    if w.nft.is_some() {
                        " and 1 nft transaction"
                    } else {
                        ""
                    },
                    counts(&all).replace(" to ", " ")
                );
            }
            Err(e) => {
                eprintln!("error: {}: {e}", w.name);
                // Interfaces applied before this one are put back as well.
                for done in work[..k].iter().rev() {
                    let mut r = exec::restore(&mut sock, &done.live);
                    if r.is_ok() && done.nft.is_some() {
                        let script = nft::restore_script(&done.name, done.nft_before.as_deref());
                        r = nft::run(&script).map_err(|e| format!("nft: {e}"));
                    }
                    match r {
                        Ok(()) => eprintln!("note: {}: previous configuration restored", done.name),
                        Err(r) => eprintln!("error: {}: restoring failed: {r}", done.name),
                    }
                }
                return cli::FAILED;
            }
        }
    }
    cli::OK
}

/// Read the interface again and check that nothing is left to do.
fn verify(sock: &mut Socket, w: &Work) -> Result<(), String> {
    let now = Live::read(sock, w.live.ifindex).map_err(|e| format!("reading back: {e}"))?;
    let left = diff(&now, &w.want, &w.ps);
    if left.is_empty() {
        return Ok(());
    }
    let what: Vec<String> = left.iter().map(|s| format!("  {s}")).collect();
    Err(format!(
        "the kernel accepted the changes but does not hold what was sent; still differing:\n{}",
        what.join("\n")
    ))
}

pub fn teardown_cmd(a: TeardownArgs) -> i32 {
    if let Err(c) = need_net_admin("teardown") {
        return c;
    }
    let Some(ifx) = ifindex(&a.interface) else {
        eprintln!("error: no such network device: {}", a.interface);
        return cli::USAGE;
    };
    let _lock = lock();
    let mut sock = match open() {
        Ok(s) => s,
        Err(c) => return c,
    };
    let live = match Live::read(&mut sock, ifx) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return cli::USAGE;
        }
    };
    let mut code = cli::OK;
    match live.root() {
        Some(r) if r.kind == "htb" && r.handle != 0 => match sock.batch(&[root_qdisc_del(ifx)]) {
            Ok(acks) if matches!(acks.first(), Some(crate::apply::nl::Ack::Ok(_))) => println!(
                "{}: removed root qdisc htb {} with {} class(es) and its filters",
                a.interface,
                fmt_handle(r.handle),
                live.classes.len()
            ),
            Ok(acks) => {
                if let Some(crate::apply::nl::Ack::Err(e)) = acks.first() {
                    eprintln!(
                        "error: {}: the kernel refused to delete the root qdisc: {e}",
                        a.interface
                    );
                }
                code = cli::FAILED;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return cli::USAGE;
            }
        },
        Some(r) if r.handle != 0 => println!(
            "{}: root qdisc is {} {}, not tcc's HTB: left alone",
            a.interface,
            r.kind,
            fmt_handle(r.handle)
        ),
        _ => println!("{}: no tcc qdisc", a.interface),
    }
    if let Ok(Some(_)) = nft::current_marker(&a.interface) {
        match nft::run(&nft::delete_script(&a.interface)) {
            Ok(()) => println!(
                "{}: removed nft table inet {}",
                a.interface,
                nft::table_name(&a.interface)
            ),
            Err(e) => {
                eprintln!("error: {}: nft: {e}", a.interface);
                code = cli::FAILED;
            }
        }
    }
    code
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

pub fn status_cmd(a: StatusArgs) -> i32 {
    let mut sock = match open() {
        Ok(s) => s,
        Err(c) => return c,
    };
    let names = match &a.interface {
        Some(n) => vec![n.clone()],
        None => all_interfaces(),
    };
    let mut first = Vec::new();
    for n in &names {
        let Some(ifx) = ifindex(n) else {
            eprintln!("error: no such network device: {n}");
            return cli::USAGE;
        };
        match Live::read(&mut sock, ifx) {
            Ok(l) => first.push((n.clone(), l)),
            Err(e) => {
                eprintln!("error: {n}: {e}");
                return cli::USAGE;
            }
        }
    }
    let t0 = Instant::now();
    let mut second: Vec<Option<Live>> = vec![None; first.len()];
    if a.interval > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(a.interval));
        for (k, (_, l)) in first.iter().enumerate() {
            second[k] = Live::read(&mut sock, l.ifindex).ok();
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    let mut shown = 0;
    for ((name, l0), l1) in first.iter().zip(&second) {
        if a.interface.is_none() && l0.root_is_default() {
            continue;
        }
        shown += 1;
        let l = l1.as_ref().unwrap_or(l0);
        let _ = write!(out, "{}", render_status(name, l0, l1.as_ref(), dt));
        let _ = l;
    }
    if shown == 0 {
        let _ = writeln!(out, "no interface has a configured root qdisc");
    }
    cli::OK
}

/// The live tree as text: one line per class, children indented under their parents.
pub fn render_status(name: &str, l0: &Live, l1: Option<&Live>, dt: f64) -> String {
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
    let before: HashMap<u32, u64> = l0
        .classes
        .iter()
        .map(|c| (c.handle, c.stats.bytes))
        .collect();
    let _ = writeln!(
        s,
        "  {:<22} {:>12} {:>12} {:>14} {:>10} {:>7} {:>10} {:>12}",
        "class", "rate", "ceil", "bytes", "packets", "drops", "overlimits", "now"
    );
    fn walk(
        s: &mut String,
        l: &Live,
        parent: u32,
        depth: usize,
        before: &HashMap<u32, u64>,
        dt: f64,
        l1: bool,
    ) {
        let mut kids: Vec<&Obj> = l
            .classes
            .iter()
            .filter(|c| {
                (if c.parent == TC_H_ROOT {
                    l.root().map_or(0, |r| r.handle)
                } else {
                    c.parent
                }) == parent
            })
            .collect();
        kids.sort_by_key(|c| c.handle);
        for c in kids {
            let (rate, ceil) = parse_htb_class(c)
                .map(|h| (format_rate(h.rate * 8), format_rate(h.ceil * 8)))
                .unwrap_or_default();
            let now = if l1 && dt > 0.0 {
                let b0 = before.get(&c.handle).copied().unwrap_or(0);
                format_rate(((c.stats.bytes.saturating_sub(b0)) as f64 * 8.0 / dt) as u64)
            } else if c.stats.rate_est > 0 {
                format_rate(c.stats.rate_est * 8)
            } else {
                "-".into()
            };
            let id = format!("{}{}", "  ".repeat(depth), fmt_handle(c.handle));
            let _ = writeln!(
                s,
                "  {:<22} {:>12} {:>12} {:>14} {:>10} {:>7} {:>10} {:>12}",
                id,
                rate,
                ceil,
                c.stats.bytes,
                c.stats.packets,
                c.stats.drops,
                c.stats.overlimits,
                now
            );
            walk(s, l, c.handle, depth + 1, before, dt, l1);
        }
    }
    walk(&mut s, l, root.handle, 0, &before, dt, l1.is_some());
    s
}
