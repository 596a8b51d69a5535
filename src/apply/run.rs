//! `tcc plan` and `tcc apply` as library calls: compare the plan with the live state of each
//! interface, send the difference, check that the kernel holds it, and roll everything back
//! (this interface and the ones applied before it) when anything fails.
//!
//! Size: just over 600 lines because one interface's transaction (its tree and leaf queues,
//! its ingress side, its classification) is compared, sent and rolled back in one sequence.

use super::diff::{diff, Change, Desired, Step};
use super::encode::Psched;
use super::error::{ApplyError, Failure, NftError, RestoreError};
use super::exec;
use super::foreign;
use super::live::{ifindex, Live};
use super::lock;
use super::nft;
use super::nl::Socket;
use super::xt;
use crate::plan::{Interface, Plan};
use std::path::Path;

/// How packets are sorted into classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Classifier {
    /// `meta priority set` rules in the tcc-owned nftables table `inet tcc_<iface>`.
    #[default]
    Nft,
    /// tc u32 filters on the root qdisc.
    U32,
    /// iptables/ip6tables CLASSIFY rules in the mangle chains `tcc-<iface>`, the rules the sh
    /// and batch targets write, loaded with `iptables-restore --noflush` (one commit per
    /// family).
    Iptables,
}

/// What to compare or apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// Only this interface of the plan.
    pub interface: Option<&'a str>,
    pub classifier: Classifier,
    /// How long `apply` waits for another run's lock.
    pub lock_timeout: std::time::Duration,
}

/// One interface's comparison: what is live, and what would make it the plan.
#[derive(Debug)]
pub struct Comparison {
    pub name: String,
    pub live: Live,
    /// The netlink messages to send, in order.
    pub steps: Vec<Step>,
    /// The nftables transaction to run after the steps, and its line in the diff.
    nft: Option<(String, Step)>,
    /// The table before (as listed), to put back if a later interface fails.
    nft_before: Option<String>,
    /// The mangle chains and jumps: what they hold, what they should hold (one snapshot per
    /// tool), and their line in the diff; `None` when they hold what they should.
    xt: Option<XtChange>,
    /// Foreign state that changes the interface's classification (warnings W0201..3).
    pub foreign: Vec<foreign::Foreign>,
    /// The ingress side (`ingress { }`): tcc's ifb device, its tree and the redirect.
    pub ingress: Option<super::ingress::IngressCmp>,
    /// tcc's ingress side left from a plan that had one, when this plan has none: removed.
    pub stale: Option<super::ingress::Stale>,
    /// Leaf qdiscs whose availability could not be tried (no throwaway network namespace: no
    /// CAP_SYS_ADMIN): `(qdisc, why)`. The kernel's answer then decides, and a refusal is
    /// rolled back like any other.
    pub unchecked: Vec<(String, String)>,
    want: Desired,
    ps: Psched,
}

impl Comparison {
    /// How many changes (netlink messages, the nftables transaction, the removal of a
    /// script's iptables chains) there are.
    pub fn changes(&self) -> usize {
        self.steps.len()
            + self.nft.is_some() as usize
            + self.xt.is_some() as usize
            + self.ingress_steps().len()
    }

    /// The changes of the ingress side (device, tree on it, redirect), in order.
    pub fn ingress_steps(&self) -> &[Step] {
        match (&self.ingress, &self.stale) {
            (Some(i), _) => &i.steps,
            (None, Some(s)) => &s.steps,
            (None, None) => &[],
        }
    }

    /// The line of the iptables chains to change, if any.
    pub fn xt_step(&self) -> Option<&Step> {
        self.xt.as_ref().map(|x| &x.step)
    }

    /// The nftables transaction's line in the diff, if it is to run.
    pub fn nft_step(&self) -> Option<&Step> {
        self.nft.as_ref().map(|n| &n.1)
    }

    /// Every change: the netlink steps, the nftables transaction, the iptables chains, the
    /// ingress side.
    pub fn all_steps(&self) -> Vec<Step> {
        self.steps
            .iter()
            .chain(self.nft_step())
            .chain(self.xt_step())
            .chain(self.ingress_steps())
            .cloned()
            .collect()
    }
}

/// The mangle chains of an interface to change.
#[derive(Debug)]
struct XtChange {
    before: Vec<xt::Snapshot>,
    want: Vec<xt::Snapshot>,
    step: Step,
}

/// One interface changed (or found up to date).
#[derive(Debug)]
pub struct Applied {
    pub name: String,
    /// The netlink messages sent.
    pub steps: Vec<Step>,
    /// The nftables transaction's line in the diff, when one ran.
    pub nft: Option<Step>,
    /// The removal of a script's iptables chains, when it ran.
    pub xt: Option<Step>,
    /// What the kernel said about messages it accepted (extended acks).
    pub warnings: Vec<String>,
}

impl Applied {
    pub fn up_to_date(&self) -> bool {
        self.steps.is_empty() && self.nft.is_none() && self.xt.is_none()
    }

    /// Every change: the netlink steps, the nftables transaction, the iptables chains.
    pub fn all_steps(&self) -> Vec<Step> {
        self.steps
            .iter()
            .chain(&self.nft)
            .chain(&self.xt)
            .cloned()
            .collect()
    }
}

/// What `apply` is doing, as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// Another run holds the lock (this file); waiting for it.
    Waiting(&'a Path),
    /// About to send the changes of this interface (only for interfaces with changes).
    Sending(&'a Comparison),
    /// This interface now holds the plan (or did already).
    Done(&'a Applied),
}

/// A netlink socket.
pub fn open() -> Result<Socket, ApplyError> {
    Socket::open().map_err(ApplyError::Socket)
}

/// Compare the plan with the live state of each interface (or only `opts.interface`).
pub fn compare(
    plan: &Plan,
    opts: &Options,
    sock: &mut Socket,
) -> Result<Vec<Comparison>, ApplyError> {
    let u32 = opts.classifier == Classifier::U32;
    let ps = Psched::host().map_err(ApplyError::Psched)?;
    let only = opts.interface;
    if let Some(name) = only {
        if !plan.interfaces.iter().any(|i| i.name == name) {
            return Err(ApplyError::NotInPlan(name.to_string()));
        }
    }
    let mut work = Vec::new();
    for iface in &plan.interfaces {
        if only.is_some_and(|n| n != iface.name) {
            continue;
        }
        let Some(ifx) = ifindex(&iface.name) else {
            return Err(ApplyError::NoDevice(iface.name.clone()));
        };
        // The values the checker bounds, checked again with this host's clock: nothing is
        // saturated or wrapped on the way to the kernel.
        if let Some((c, p)) = iface.classes.iter().find_map(|c| {
            crate::plan::limits::class_problems(c, ps.tick_in_usec, ps.hz as u64)
                .into_iter()
                .next()
                .map(|p| (c, p))
        }) {
            return Err(ApplyError::Plan {
                iface: iface.name.clone(),
                error: format!("class `{}`: {p}", c.name).into(),
            });
        }
        let want = Desired::from_plan(iface, u32).map_err(|e| ApplyError::Plan {
            iface: iface.name.clone(),
            error: e.into(),
        })?;
        // Every kind of leaf qdisc is tried in a throwaway namespace first: a kernel without
        // it refuses there, before anything here changes.
        let unchecked = super::leafq::probe_kinds(&want).map_err(|(qdisc, error)| {
            ApplyError::QdiscUnavailable {
                iface: iface.name.clone(),
                qdisc,
                error,
            }
        })?;
        let live = Live::read(sock, ifx).map_err(|error| ApplyError::ReadLive {
            iface: iface.name.clone(),
            error,
        })?;
        let steps = diff(&live, &want, &ps);
        let nft = nft_change(iface, opts.classifier)?;
        let nft_before = match &nft {
            Some(_) => nft::current_table(&iface.name).ok().flatten(),
            None => None,
        };
        let xt = xt_change(iface, opts.classifier);
        // A foreign root matters only when the tree is rebuilt (its first step deletes it).
        let replaced = steps
            .first()
            .is_some_and(|s| s.change == Change::Delete && s.object.starts_with("root qdisc"));
        let root = live
            .root()
            .filter(|_| replaced)
            .map(|r| (r.kind.as_str(), r.handle));
        let mut foreign = foreign::scan(&iface.name, want.major, opts.classifier, root);
        foreign.extend(foreign::tcp_buffers(iface));
        let ingress = match &iface.ingress {
            Some(tree) => Some(
                super::ingress::compare(sock, iface, tree, &live, &ps).map_err(|e| {
                    ApplyError::Plan {
                        iface: iface.name.clone(),
                        error: e.into(),
                    }
                })?,
            ),
            None => None,
        };
        let stale = match &iface.ingress {
            Some(_) => None,
            None => {
                super::ingress::stale(sock, &iface.name, &live).map_err(|e| ApplyError::Plan {
                    iface: iface.name.clone(),
                    error: e.into(),
                })?
            }
        };
        work.push(Comparison {
            name: iface.name.clone(),
            live,
            steps,
            nft,
            nft_before,
            xt,
            foreign,
            ingress,
            stale,
            unchecked,
            want,
            ps,
        });
    }
    Ok(work)
}

/// What the interface's nftables table needs: nothing, (re)placing, or removing.
fn nft_change(
    iface: &Interface,
    classifier: Classifier,
) -> Result<Option<(String, Step)>, ApplyError> {
    // With another classifier, no table is wanted.
    let u32 = classifier != Classifier::Nft;
    let table = format!("nft table inet {}", nft::table_name(&iface.name));
    let rules = iface.filters.len();
    // With u32 and no table there is nothing to ask nft (which need not be installed).
    let step = |change, detail: String| Step {
        change,
        object: table.clone(),
        detail,
        msg: super::nl::Msg::new(0, 0),
        values: Vec::new(),
    };
    let current = match nft::current(&iface.name) {
        Ok(c) => c,
        Err(NftError::Spawn(_)) if u32 => None,
        // `tcc plan` without privileges: nftables cannot be read, so it cannot be compared.
        Err(NftError::NotPermitted(_)) => {
            return Ok(Some((
                nft::script(iface),
                step(
                    Change::Change,
                    "cannot be read without CAP_NET_ADMIN; apply replaces it".into(),
                ),
            )))
        }
        Err(error @ NftError::Spawn(_)) => {
            return Err(ApplyError::NftMissing {
                iface: iface.name.clone(),
                error,
            })
        }
        Err(error) => {
            return Err(ApplyError::Nft {
                iface: iface.name.clone(),
                error,
            })
        }
    };
    Ok(match (u32, current) {
        (true, None) => None,
        (true, Some(_)) => Some((
            nft::delete_script(&iface.name),
            step(
                Change::Delete,
                match classifier {
                    Classifier::Iptables => "classification moves to iptables CLASSIFY rules",
                    _ => "classification moves to u32 filters",
                }
                .into(),
            ),
        )),
        (false, Some(l)) if l.holds(iface) => None,
        (false, Some(l)) => Some((
            nft::script(iface),
            step(
                Change::Change,
                format!("{}; replaced in one transaction", l.drift(iface).join(", ")),
            ),
        )),
        (false, None) => Some((
            nft::script(iface),
            step(
                Change::Add,
                format!("{rules} filter(s), in one transaction"),
            ),
        )),
    })
}

/// The mangle chains on the interface: with the iptables classifier they hold the rules the
/// sh and batch targets write, compared rule by rule; with another, `apply` removes what a
/// script left, so that only the classification it asked for is left.
fn xt_change(iface: &Interface, classifier: Classifier) -> Option<XtChange> {
    let before = xt::snapshot(&iface.name);
    let want: Vec<xt::Snapshot> = xt::TOOLS
        .iter()
        .map(|t| match classifier {
            Classifier::Iptables => xt::wanted(iface, t),
            _ => xt::nothing(&iface.name, t),
        })
        .collect();
    let mut drift = Vec::new();
    for w in &want {
        let now = before
            .iter()
            .find(|b| b.tool == w.tool)
            .cloned()
            .unwrap_or_else(|| xt::nothing(&iface.name, w.tool));
        drift.extend(xt::drift(&now, w));
    }
    if drift.is_empty() {
        return None;
    }
    let chain = crate::dialect::owned::chain_name(&iface.name);
    let (change, detail) = if classifier != Classifier::Iptables {
        let what: Vec<String> = xt::present(&iface.name)
            .iter()
            .map(|c| format!("{} {} ({} rule(s))", c.tool, c.name, c.rules))
            .collect();
        (
            Change::Delete,
            format!(
                "left by the sh/batch target: {}, and its POSTROUTING jump",
                what.join(", ")
            ),
        )
    } else if before.iter().all(|b| b.is_empty()) {
        let n: usize = want.iter().map(|w| w.chains[0].1.len()).sum();
        (
            Change::Add,
            format!(
                "{n} rule(s) and the POSTROUTING jumps, one iptables-restore commit per family"
            ),
        )
    } else {
        (
            Change::Change,
            format!(
                "{}; replaced in one iptables-restore commit per family",
                drift.join(", ")
            ),
        )
    };
    let step = Step {
        change,
        object: format!("iptables mangle chain {chain}"),
        detail,
        msg: super::nl::Msg::new(0, 0),
        values: Vec::new(),
    };
    Some(XtChange { before, want, step })
}

/// `tcc plan`: what `apply` would change, changing nothing.
pub fn plan(plan: &Plan, opts: &Options) -> Result<Vec<Comparison>, ApplyError> {
    let mut sock = open()?;
    compare(plan, opts, &mut sock)
}

/// `tcc apply`: take the lock, compare, and send each interface's changes. When one fails, it
/// and every interface changed before it are put back, and the error says how that went.
/// `proceed` sees the comparisons first (with the foreign state found): when it says no,
/// nothing is sent.
pub fn apply(
    plan: &Plan,
    opts: &Options,
    proceed: impl FnOnce(&[Comparison]) -> bool,
    mut on: impl FnMut(Event),
) -> Result<(), ApplyError> {
    let _lock =
        lock::lock(opts.lock_timeout, |p| on(Event::Waiting(p))).map_err(ApplyError::Lock)?;
    let mut sock = open()?;
    let work = compare(plan, opts, &mut sock)?;
    if !proceed(&work) {
        return Ok(());
    }
    for (k, w) in work.iter().enumerate() {
        if w.changes() == 0 {
            on(Event::Done(&Applied {
                name: w.name.clone(),
                steps: vec![],
                nft: None,
                xt: None,
                warnings: vec![],
            }));
            continue;
        }
        on(Event::Sending(w));
        match send(&mut sock, w) {
            Ok(warnings) => on(Event::Done(&Applied {
                name: w.name.clone(),
                steps: w.steps.iter().chain(w.ingress_steps()).cloned().collect(),
                nft: w.nft_step().cloned(),
                xt: w.xt_step().cloned(),
                warnings,
            })),
            Err((failure, restored)) => {
                // Interfaces applied before this one are put back as well.
                let rolled_back = work[..k]
                    .iter()
                    .rev()
                    .map(|done| (done.name.clone(), put_back(&mut sock, done)))
                    .collect();
                return Err(ApplyError::Failed {
                    iface: w.name.clone(),
                    failure,
                    restored,
                    rolled_back,
                });
            }
        }
    }
    Ok(())
}

/// Send one interface's changes; on failure, its previous state is restored.
///
/// Order: when the tree changes AND the nftables table is replaced, the old table is deleted
/// first (one transaction), then the tree is changed, then the new table is added. A run
/// killed in between leaves packets unclassified (the default class), never the old table's
/// rules sending packets to the new tree's class ids; `tcc plan` shows the missing table and
/// the next `apply` adds it. The iptables chains of a script go last, once the new
/// classification is in place.
fn send(
    sock: &mut Socket,
    w: &Comparison,
) -> Result<Vec<String>, (Failure, Result<(), RestoreError>)> {
    let replace_nft = w.nft.is_some() && !w.steps.is_empty() && w.nft_before.is_some();
    if replace_nft {
        if let Err(e) = nft::run(&nft::delete_script(&w.name)) {
            return Err((Failure::Nft(e), Ok(())));
        }
        pause_point("nft-delete");
    }
    // Put the tree back, and the table when it was deleted above.
    let undo = |sock: &mut Socket| -> Result<(), RestoreError> {
        exec::restore(sock, &w.live)?;
        if replace_nft {
            let script = nft::restore_script(&w.name, w.nft_before.as_deref());
            nft::run(&script).map_err(RestoreError::Nft)?;
        }
        Ok(())
    };
    let warnings = match exec::run(sock, &w.live, &w.steps) {
        Ok(warnings) => warnings,
        Err(e) => {
            let (failure, restored) = e.into_parts();
            let restored = restored.and_then(|()| {
                if replace_nft {
                    let script = nft::restore_script(&w.name, w.nft_before.as_deref());
                    nft::run(&script).map_err(RestoreError::Nft)
                } else {
                    Ok(())
                }
            });
            return Err((failure, restored));
        }
    };
    if !w.steps.is_empty() {
        // The kernel may accept a message and keep less than it said (a u32 mark test on a
        // kernel without CONFIG_CLS_U32_MARK is dropped silently): read back and compare.
        if let Err(f) = verify(sock, w) {
            return Err((f, undo(sock)));
        }
    }
    if let Some((script, _)) = &w.nft {
        // The nftables transaction is atomic: when it fails it changed nothing, and the
        // traffic-control steps before it are undone.
        if let Err(e) = nft::run(script) {
            return Err((Failure::Nft(e), undo(sock)));
        }
    }
    if let Some(x) = &w.xt {
        if let Err(e) = xt::converge(&w.name, &x.want) {
            // One family may have committed: both are put back as they were.
            let restored = undo(sock)
                .and_then(|()| match (&w.nft, replace_nft) {
                    (Some(_), false) => {
                        let script = nft::restore_script(&w.name, w.nft_before.as_deref());
                        nft::run(&script).map_err(RestoreError::Nft)
                    }
                    _ => Ok(()),
                })
                .and_then(|()| xt::converge(&w.name, &x.before).map_err(RestoreError::Xt));
            return Err((Failure::Xt(e), restored));
        }
    }
    let mut warnings = warnings;
    if let Some(i) = &w.ingress {
        // The ingress side last: on failure it removes what it made, then the rest is put back.
        match super::ingress::send(sock, w.live.ifindex, i, &w.ps) {
            Ok(more) => warnings.extend(more),
            Err((f, restored)) => {
                let restored = restored.and_then(|()| put_back_egress(sock, w));
                return Err((f, restored));
            }
        }
    }
    if let Some(s) = &w.stale {
        if let Err((f, restored)) = super::ingress::remove_stale(sock, w.live.ifindex, s) {
            let restored = restored.and_then(|()| put_back_egress(sock, w));
            return Err((f, restored));
        }
    }
    Ok(warnings)
}

/// Read the interface again and check that nothing is left to do.
fn verify(sock: &mut Socket, w: &Comparison) -> Result<(), Failure> {
    let now = Live::read(sock, w.live.ifindex).map_err(Failure::ReadBack)?;
    let left = diff(&now, &w.want, &w.ps);
    if left.is_empty() {
        Ok(())
    } else {
        Err(Failure::NotHeld(left))
    }
}

/// Put an applied interface back as it was: its tc tree, its nftables table, and its mangle
/// chains and jumps (the chains of a script `apply` removed, or the ones it replaced).
fn put_back(sock: &mut Socket, done: &Comparison) -> Result<(), RestoreError> {
    if let Some(i) = &done.ingress {
        super::ingress::put_back(sock, done.live.ifindex, i)?;
    }
    if let Some(s) = &done.stale {
        super::ingress::put_back_stale(sock, done.live.ifindex, s)?;
    }
    put_back_egress(sock, done)
}

/// `put_back` without the ingress side.
fn put_back_egress(sock: &mut Socket, done: &Comparison) -> Result<(), RestoreError> {
    exec::restore(sock, &done.live)?;
    if done.nft.is_some() {
        let script = nft::restore_script(&done.name, done.nft_before.as_deref());
        nft::run(&script).map_err(RestoreError::Nft)?;
    }
    if let Some(x) = &done.xt {
        xt::converge(&done.name, &x.before).map_err(RestoreError::Xt)?;
    }
    Ok(())
}

/// For tests of a run killed part-way, in debug builds only: when the environment variable
/// `TCC_TEST_PAUSE_AFTER` names this point (`nft-delete`: the old nftables table is deleted,
/// the netlink batch not sent yet), wait here for 60 seconds, so the test can kill the run at
/// exactly this point. Release builds have no such point and do not read the variable.
#[cfg(debug_assertions)]
fn pause_point(name: &str) {
    if std::env::var_os("TCC_TEST_PAUSE_AFTER").is_some_and(|v| v == name) {
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

#[cfg(not(debug_assertions))]
fn pause_point(_: &str) {}
