//! The commands `tcc apply`, `tcc plan`, `tcc status` and `tcc teardown`.
//!
//! Exit statuses: 0 done (for `plan` and `apply --dry-run`: nothing would change), 1 the
//! source has errors or the kernel refused a change (the previous state was restored),
//! 2 usage, I/O or permission problems, 3 (`plan`/`--dry-run` only) changes would be made.

use crate::apply::diff::{fmt_handle, Change, Step};
use crate::apply::error::ApplyError;
use crate::apply::lock::has_net_admin;
use crate::apply::run::{self, Classifier, Event, Options};
use crate::apply::teardown::{self, Qdisc};
use crate::cli::diags::{self, LintArgs, Loaded};
use crate::cli::{ColorWhen, ExitCode, Format};
use crate::diagnostic::Diagnostic;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const APPLY_EXAMPLES: &str = "Examples:
  tcc apply site.shape                          # as root: send only what differs
  tcc apply site.shape --interface eth1         # one interface of the plan
  tcc apply site.shape --dry-run                # = tcc plan site.shape
  tcc apply site.shape --classifier u32 -v      # u32 filters; print every message sent
  tcc apply site.shape --classifier iptables    # the sh/batch scripts' iptables chains

Exit status: 0 applied (or nothing to do), 1 errors in the source or the kernel refused a change
(the previous state is restored), 2 usage, I/O or permission problem, 3 (--dry-run) changes
pending.";

pub const PLAN_EXAMPLES: &str = "Examples:
  tcc plan site.shape                           # what `tcc apply` would change
  tcc plan site.shape --interface eth1
  tcc plan site.shape --classifier iptables     # after `sh apply.sh` (iptables classifier)
  tcc plan site.shape; [ $? -eq 3 ] && tcc apply site.shape   # apply only when needed

Exit status: 0 up to date, 3 changes would be made, 1 errors in the source, 2 usage or I/O
error. Needs no privileges.";

pub const TEARDOWN_EXAMPLES: &str = "Examples:
  tcc teardown --interface eth1                 # as root: tcc's HTB qdisc and nft table

Only an HTB root qdisc and the table `inet tcc_<iface>` are removed; anything else is left
alone. Exit status: 0 done, 1 the kernel refused, 2 usage or permission problem.";

/// How `tcc apply` sorts packets into classes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ApplyClassifier {
    /// `meta priority set` rules in the tcc-owned table `inet tcc_<iface>` (one atomic
    /// `nft -f -` transaction).
    #[default]
    Nft,
    /// tc u32 filters on the root qdisc, sent over netlink with the classes.
    U32,
    /// iptables/ip6tables CLASSIFY rules in the mangle chains `tcc-<iface>` (the rules of the
    /// sh and batch targets), one `iptables-restore --noflush` commit per family.
    Iptables,
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
    #[command(flatten)]
    pub lint: LintArgs,
    #[command(flatten)]
    pub host: crate::cli::host::HostArg,
    /// Seconds to wait for another tcc run holding the lock before giving up.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = parse_lock_timeout)]
    pub lock_timeout: f64,
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
    #[command(flatten)]
    pub lint: LintArgs,
    #[command(flatten)]
    pub host: crate::cli::host::HostArg,
    /// `text`, or `json`: one object per interface with its changes and warnings
    /// (`{"interface", "changes": [{"change": "add"|"change"|"delete", "object", "detail",
    /// "values": [{"attribute", "old", "new"}]}], "warnings": [{"code", "severity", "message",
    /// "help"}]}`).
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

/// How `tcc plan` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PlanFormat {
    #[default]
    Text,
    Json,
}

fn plan_json(work: &[run::Comparison], l: &Loaded, found: &[(String, Diagnostic)]) -> String {
    let ifaces: Vec<serde_json::Value> = work
        .iter()
        .map(|w| {
            let changes: Vec<serde_json::Value> = w
                .all_steps()
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "change": match s.change {
                            Change::Add => "add",
                            Change::Change => "change",
                            Change::Delete => "delete",
                        },
                        "object": s.object,
                        "detail": s.detail,
                        "values": s.values.iter().map(|d| serde_json::json!({
                            "attribute": d.attribute,
                            "old": d.old,
                            "new": d.new,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let warnings: Vec<serde_json::Value> = found
                .iter()
                .filter(|(i, _)| *i == w.name)
                .map(|(_, d)| {
                    serde_json::json!({
                        "code": d.code,
                        "severity": match diags::severity_under(&l.levels, d) {
                            crate::diagnostic::Severity::Error => "error",
                            crate::diagnostic::Severity::Warning => "warning",
                            crate::diagnostic::Severity::Hint => "hint",
                        },
                        "message": d.message,
                        "help": d.help,
                    })
                })
                .collect();
            serde_json::json!({ "interface": w.name, "changes": changes, "warnings": warnings })
        })
        .collect();
    serde_json::json!({ "interfaces": ifaces }).to_string()
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["file", "interface"])))]
pub struct TeardownArgs {
    /// The .shape file: remove tcc's configuration of its interfaces, and take only an HTB root
    /// qdisc with the plan's handle for tcc's.
    pub file: Option<PathBuf>,
    /// The interface whose tcc configuration is removed (without a file: any HTB root qdisc
    /// counts as tcc's).
    #[arg(long, short)]
    pub interface: Option<String>,
    #[command(flatten)]
    pub lint: LintArgs,
    #[command(flatten)]
    pub host: crate::cli::host::HostArg,
    /// Seconds to wait for another tcc run holding the lock before giving up.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = parse_lock_timeout)]
    pub lock_timeout: f64,
}

/// `--lock-timeout SECS`: 0 (do not wait) to one day.
fn parse_lock_timeout(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if v.is_finite() && (0.0..=86_400.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("`{s}` is not between 0 and 86400 seconds"))
    }
}

fn need_net_admin(what: &str) -> Result<(), ExitCode> {
    if has_net_admin() {
        return Ok(());
    }
    eprintln!(
        "error: `tcc {what}` changes the kernel's traffic control and needs CAP_NET_ADMIN; \
         run it as root (or with that capability). Nothing was changed."
    );
    eprintln!("help: `tcc plan FILE` shows what would change and needs no privileges");
    Err(ExitCode::Usage)
}

fn waiting(lock: &Path) {
    eprintln!(
        "note: waiting for another tcc run to finish ({})",
        lock.display()
    );
}

/// Print an error of the apply library and choose the exit status: 1 when the plan cannot be
/// sent or the kernel refused it, 2 for usage, I/O and permission problems.
pub(crate) fn fail(e: &ApplyError) -> ExitCode {
    eprintln!("error: {e}");
    match e {
        ApplyError::Plan { .. }
        | ApplyError::Failed { .. }
        | ApplyError::QdiscUnavailable { .. } => ExitCode::Failed,
        _ => ExitCode::Usage,
    }
}

/// The classifier `tcc apply` and `tcc plan` offer instead of u32.
const APPLY_ALTERNATIVE: &str =
    "the nft classifier (`--classifier nft`, the default) or iptables (`--classifier iptables`)";

/// Read, analyse and check a source (for the u32 classifier too, with `u32`); print its
/// diagnostics under the lint levels of `lint`.
fn load(
    file: &Path,
    color: ColorWhen,
    u32: bool,
    lint: &LintArgs,
    host: &crate::cli::host::HostArg,
) -> Result<Loaded, ExitCode> {
    diags::load(
        file,
        color,
        lint,
        u32.then_some(APPLY_ALTERNATIVE),
        host.pick(true),
    )
}

/// The warnings about foreign state found by the comparisons (W0201..3), at the declaration of
/// each interface, filtered by the lint levels.
fn foreign_diags(l: &Loaded, work: &[run::Comparison]) -> Vec<(String, Diagnostic)> {
    work.iter()
        .flat_map(|w| {
            let span = l
                .plan
                .interfaces
                .iter()
                .find(|i| i.name == w.name)
                .map(|i| i.span)
                .unwrap_or_default();
            w.foreign
                .iter()
                .map(move |f| (w.name.clone(), f.diagnostic(&w.name, span)))
        })
        .filter(|(_, d)| l.levels.severity(d.code).is_some())
        .collect()
}

/// Say which leaf qdiscs could not be tried before anything changes (no throwaway namespace).
fn report_unchecked(work: &[run::Comparison]) {
    for w in work {
        for (q, why) in &w.unchecked {
            eprintln!(
                "note: {}: could not check that this kernel takes the leaf qdisc `{q}` ({why}); \
                 if it refuses it, apply puts everything back",
                w.name
            );
        }
    }
}

/// Print the foreign-state warnings; whether any is an error under the levels (`--deny`).
fn report_foreign(l: &Loaded, color: ColorWhen, found: &[(String, Diagnostic)]) -> bool {
    let mut found: Vec<Diagnostic> = found.iter().map(|f| f.1.clone()).collect();
    diags::report(
        Format::Human,
        color,
        &l.sources,
        &mut found,
        &l.levels,
        diags::Summary::OnErrors,
        1,
    )
    .unwrap_or(true)
}

fn options(interface: Option<&str>, classifier: ApplyClassifier) -> Options<'_> {
    Options {
        interface,
        classifier: match classifier {
            ApplyClassifier::Nft => Classifier::Nft,
            ApplyClassifier::U32 => Classifier::U32,
            ApplyClassifier::Iptables => Classifier::Iptables,
        },
        lock_timeout: crate::apply::lock::DEFAULT_TIMEOUT,
    }
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

pub fn plan_cmd(a: PlanArgs, color: ColorWhen) -> ExitCode {
    let l = match load(
        &a.file,
        color,
        a.classifier == ApplyClassifier::U32,
        &a.lint,
        &a.host,
    ) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let work = match run::plan(&l.plan, &options(a.interface.as_deref(), a.classifier)) {
        Ok(w) => w,
        Err(e) => return fail(&e),
    };
    let found = foreign_diags(&l, &work);
    report_unchecked(&work);
    let denied = found
        .iter()
        .any(|(_, d)| diags::severity_under(&l.levels, d) == crate::diagnostic::Severity::Error);
    let mut out = std::io::stdout().lock();
    let any = work.iter().any(|w| w.changes() > 0);
    if a.format == PlanFormat::Json {
        let _ = writeln!(out, "{}", plan_json(&work, &l, &found));
    } else {
        report_foreign(&l, color, &found);
        for w in &work {
            if w.changes() == 0 {
                let _ = writeln!(out, "{}: up to date", w.name);
                continue;
            }
            let all = w.all_steps();
            let _ = writeln!(out, "{}: {}", w.name, counts(&all));
            for s in &all {
                let _ = writeln!(out, "  {s}");
            }
        }
    }
    if denied {
        ExitCode::Failed
    } else if any {
        ExitCode::Changes
    } else {
        ExitCode::Ok
    }
}

pub fn apply_cmd(a: ApplyArgs, color: ColorWhen) -> ExitCode {
    if a.dry_run {
        return plan_cmd(
            PlanArgs {
                file: a.file,
                interface: a.interface,
                classifier: a.classifier,
                lint: a.lint,
                host: a.host,
                format: PlanFormat::Text,
            },
            color,
        );
    }
    if let Err(c) = need_net_admin("apply") {
        return c;
    }
    let l = match load(
        &a.file,
        color,
        a.classifier == ApplyClassifier::U32,
        &a.lint,
        &a.host,
    ) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let opts = Options {
        lock_timeout: std::time::Duration::from_secs_f64(a.lock_timeout),
        ..options(a.interface.as_deref(), a.classifier)
    };
    let mut out = std::io::stdout().lock();
    let mut denied = false;
    let proceed = |work: &[run::Comparison]| {
        report_unchecked(work);
        denied = report_foreign(&l, color, &foreign_diags(&l, work));
        !denied
    };
    let result = run::apply(&l.plan, &opts, proceed, |ev| match ev {
        Event::Waiting(lock) => waiting(lock),
        Event::Sending(w) => {
            if a.verbose {
                for s in w.all_steps() {
                    let _ = writeln!(out, "  {s}");
                }
            }
        }
        Event::Done(d) if d.up_to_date() => {
            let _ = writeln!(out, "{}: up to date, nothing sent", d.name);
        }
        Event::Done(d) => {
            for wn in &d.warnings {
                eprintln!("warning: {}: kernel: {wn}", d.name);
            }
            let _ = writeln!(
                out,
                "{}: applied {} netlink message(s){} ({})",
                d.name,
                d.steps.len(),
                if d.nft.is_some() {
                    " and 1 nft transaction"
                } else {
                    ""
                },
                counts(&d.all_steps()).replace(" to ", " ")
            );
        }
    });
    match result {
        Ok(()) if denied => {
            eprintln!("error: live state denied by the lint levels (above); nothing was changed");
            ExitCode::Failed
        }
        Ok(()) => ExitCode::Ok,
        Err(e @ ApplyError::Failed { .. }) => {
            let code = fail(&e);
            if let ApplyError::Failed { rolled_back, .. } = &e {
                for (name, r) in rolled_back {
                    match r {
                        Ok(()) => eprintln!("note: {name}: previous configuration restored"),
                        Err(r) => eprintln!("error: {name}: restoring failed: {r}"),
                    }
                }
            }
            code
        }
        Err(e) => fail(&e),
    }
}

pub fn teardown_cmd(a: TeardownArgs, color: ColorWhen) -> ExitCode {
    if let Err(c) = need_net_admin("teardown") {
        return c;
    }
    // (interface, handle of tcc's root when the plan is known)
    let targets: Vec<(String, Option<u16>)> = match &a.file {
        Some(f) => {
            let plan = match load(f, color, false, &a.lint, &a.host) {
                Ok(l) => l.plan,
                Err(c) => return c,
            };
            if let Some(i) = &a.interface {
                if !plan.interfaces.iter().any(|p| &p.name == i) {
                    return fail(&ApplyError::NotInPlan(i.clone()));
                }
            }
            plan.interfaces
                .iter()
                .filter(|p| a.interface.as_ref().is_none_or(|i| *i == p.name))
                .map(|p| (p.name.clone(), Some(crate::dialect::owned::root_major(p))))
                .collect()
        }
        None => vec![(a.interface.clone().unwrap_or_default(), None)],
    };
    let mut code = ExitCode::Ok;
    for (iface, handle) in &targets {
        let c = teardown_one(iface, *handle, a.lock_timeout);
        if c != ExitCode::Ok && code == ExitCode::Ok {
            code = c;
        }
    }
    code
}

fn teardown_one(iface: &str, handle: Option<u16>, lock_timeout: f64) -> ExitCode {
    let t = match teardown::teardown(
        iface,
        handle,
        std::time::Duration::from_secs_f64(lock_timeout),
        waiting,
    ) {
        Ok(t) => t,
        Err(ApplyError::ReadLive { error, .. }) => {
            eprintln!("error: {error}");
            return ExitCode::Usage;
        }
        Err(e) => return fail(&e),
    };
    match &t.qdisc {
        Qdisc::Removed { handle, classes } => println!(
            "{iface}: removed root qdisc htb {} with {classes} class(es) and its filters",
            fmt_handle(*handle),
        ),
        Qdisc::Refused(Some(e)) => {
            eprintln!("error: {iface}: the kernel refused to delete the root qdisc: {e}")
        }
        Qdisc::Refused(None) => {}
        Qdisc::Foreign { kind, handle } => println!(
            "{iface}: root qdisc is {kind} {}, not tcc's HTB: left alone",
            fmt_handle(*handle)
        ),
        Qdisc::Absent => println!("{iface}: no tcc qdisc"),
    }
    match &t.nft {
        Some(Ok(table)) => println!("{iface}: removed nft table inet {table}"),
        Some(Err(e)) => eprintln!("error: {iface}: nft: {e}"),
        None => {}
    }
    match &t.xt {
        Some(Ok(chains)) => {
            for c in chains {
                println!(
                    "{iface}: removed {} mangle chain {} and its POSTROUTING jump",
                    c.tool, c.name
                );
            }
        }
        Some(Err(e)) => eprintln!("error: {iface}: {e}"),
        None => {}
    }
    if t.ingress.hook {
        println!("{iface}: removed the ingress qdisc redirecting to tcc's ifb device");
    }
    if let Some(dev) = &t.ingress.device {
        println!("{iface}: removed tcc's ifb device {dev}");
    }
    if let Some(e) = &t.ingress.refused {
        eprintln!("error: {iface}: the kernel refused to remove the ingress side: {e}");
    }
    if t.complete() {
        ExitCode::Ok
    } else {
        ExitCode::Failed
    }
}
