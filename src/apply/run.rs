//! `tcc plan` and `tcc apply` as library calls: compare the plan with the live state of each
//! interface, send the difference, check that the kernel holds it, and roll everything back
//! (this interface and the ones applied before it) when anything fails.

use super::diff::{diff, Change, Desired, Step};
use super::encode::Psched;
use super::error::{ApplyError, Failure, NftError, RestoreError};
use super::exec;
use super::live::{ifindex, Live};
use super::lock;
use super::nft;
use super::nl::Socket;
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
    want: Desired,
    ps: Psched,
}

impl Comparison {
    /// How many changes (netlink messages and the nftables transaction) there are.
    pub fn changes(&self) -> usize {
        self.steps.len() + self.nft.is_some() as usize
    }

    /// The nftables transaction's line in the diff, if it is to run.
    pub fn nft_step(&self) -> Option<&Step> {
        self.nft.as_ref().map(|n| &n.1)
    }

    /// Every change: the netlink steps, then the nftables transaction.
    pub fn all_steps(&self) -> Vec<Step> {
        self.steps.iter().chain(self.nft_step()).cloned().collect()
    }
}

/// One interface changed (or found up to date).
#[derive(Debug)]
pub struct Applied {
    pub name: String,
    /// The netlink messages sent.
    pub steps: Vec<Step>,
    /// The nftables transaction's line in the diff, when one ran.
    pub nft: Option<Step>,
    /// What the kernel said about messages it accepted (extended acks).
    pub warnings: Vec<String>,
}

impl Applied {
    pub fn up_to_date(&self) -> bool {
        self.steps.is_empty() && self.nft.is_none()
    }

    /// Every change: the netlink steps, then the nftables transaction.
    pub fn all_steps(&self) -> Vec<Step> {
        self.steps.iter().chain(&self.nft).cloned().collect()
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
        let live = Live::read(sock, ifx).map_err(|error| ApplyError::ReadLive {
            iface: iface.name.clone(),
            error,
        })?;
        let steps = diff(&live, &want, &ps);
        let nft = nft_change(iface, u32)?;
        let nft_before = match &nft {
            Some(_) => nft::current_table(&iface.name).ok().flatten(),
            None => None,
        };
        work.push(Comparison {
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
fn nft_change(iface: &Interface, u32: bool) -> Result<Option<(String, Step)>, ApplyError> {
    let table = format!("nft table inet {}", nft::table_name(&iface.name));
    let rules = iface.filters.len();
    // With u32 and no table there is nothing to ask nft (which need not be installed).
    let step = |change, detail: String| Step {
        change,
        object: table.clone(),
        detail,
        msg: super::nl::Msg::new(0, 0),
    };
    let current = match nft::current_marker(&iface.name) {
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

/// `tcc plan`: what `apply` would change, changing nothing.
pub fn plan(plan: &Plan, opts: &Options) -> Result<Vec<Comparison>, ApplyError> {
    let mut sock = open()?;
    compare(plan, opts, &mut sock)
}

/// `tcc apply`: take the lock, compare, and send each interface's changes. When one fails, it
/// and every interface changed before it are put back, and the error says how that went.
pub fn apply(plan: &Plan, opts: &Options, mut on: impl FnMut(Event)) -> Result<(), ApplyError> {
    let _lock =
        lock::lock(opts.lock_timeout, |p| on(Event::Waiting(p))).map_err(ApplyError::Lock)?;
    let mut sock = open()?;
    let work = compare(plan, opts, &mut sock)?;
    for (k, w) in work.iter().enumerate() {
        if w.changes() == 0 {
            on(Event::Done(&Applied {
                name: w.name.clone(),
                steps: vec![],
                nft: None,
                warnings: vec![],
            }));
            continue;
        }
        on(Event::Sending(w));
        match send(&mut sock, w) {
            Ok(warnings) => on(Event::Done(&Applied {
                name: w.name.clone(),
                steps: w.steps.clone(),
                nft: w.nft_step().cloned(),
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
fn send(
    sock: &mut Socket,
    w: &Comparison,
) -> Result<Vec<String>, (Failure, Result<(), RestoreError>)> {
    let warnings = exec::run(sock, &w.live, &w.steps).map_err(|e| e.into_parts())?;
    if !w.steps.is_empty() {
        // The kernel may accept a message and keep less than it said (a u32 mark test on a
        // kernel without CONFIG_CLS_U32_MARK is dropped silently): read back and compare.
        if let Err(f) = verify(sock, w) {
            return Err((f, exec::restore(sock, &w.live)));
        }
    }
    if let Some((script, _)) = &w.nft {
        // The nftables transaction is atomic: when it fails it changed nothing, and the
        // traffic-control steps before it are undone.
        if let Err(e) = nft::run(script) {
            let f = Failure::Nft(e);
            return Err((f, exec::restore(sock, &w.live)));
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

/// Put an applied interface back as it was: its tc tree, then its nftables table.
fn put_back(sock: &mut Socket, done: &Comparison) -> Result<(), RestoreError> {
    exec::restore(sock, &done.live)?;
    if done.nft.is_some() {
        let script = nft::restore_script(&done.name, done.nft_before.as_deref());
        nft::run(&script).map_err(RestoreError::Nft)?;
    }
    Ok(())
}
