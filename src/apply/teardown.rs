//! `tcc teardown` as a library call: remove from one interface everything tcc owns
//! (`dialect::owned`): its HTB root qdisc (with its classes and filters), its nftables table,
//! the mangle chains and jumps of the sh and batch targets, and the ingress side: the ingress
//! qdisc when it redirects to tcc's ifb device, and that device when its alias is tcc's.

use super::encode::root_qdisc_del;
use super::error::{ApplyError, NftError};
use super::live::{ifindex, Live};
use super::lock;
use super::nft;
use super::nl::{Ack, KernelError};
use super::run::open;
use super::xt;
use crate::dialect::owned::is_tcc_root;
use std::path::Path;

/// What became of the root qdisc.
#[derive(Debug)]
pub enum Qdisc {
    /// tcc's HTB root qdisc was removed, with its classes and filters.
    Removed { handle: u32, classes: usize },
    /// The kernel refused to delete it (`None`: without saying why).
    Refused(Option<KernelError>),
    /// The root qdisc is not tcc's (not an HTB one, or not with the plan's handle): left alone.
    Foreign { kind: String, handle: u32 },
    /// There is no configured root qdisc.
    Absent,
}

/// What `teardown` did.
#[derive(Debug)]
pub struct Teardown {
    pub qdisc: Qdisc,
    /// The nftables table, when there was one: its name once removed, or why not.
    pub nft: Option<Result<String, NftError>>,
    /// The mangle chains of the sh/batch targets, when there were any: removed, or why not.
    pub xt: Option<Result<Vec<xt::Chain>, xt::XtError>>,
    /// The ingress side: the redirect and tcc's ifb device, when they were there.
    pub ingress: super::ingress::Removed,
}

impl Teardown {
    /// Whether everything that was there is gone.
    pub fn complete(&self) -> bool {
        !matches!(self.qdisc, Qdisc::Refused(_))
            && !matches!(self.nft, Some(Err(_)))
            && !matches!(self.xt, Some(Err(_)))
            && self.ingress.refused.is_none()
    }
}

/// Remove tcc's configuration from `iface`, under the lock (`waiting` is called before waiting
/// for another run). `handle`: the major of tcc's root qdisc when the plan is known (an HTB
/// root with another handle is then left alone); `None`: any HTB root is taken as tcc's.
pub fn teardown(
    iface: &str,
    handle: Option<u16>,
    lock_timeout: std::time::Duration,
    waiting: impl FnOnce(&Path),
) -> Result<Teardown, ApplyError> {
    let Some(ifx) = ifindex(iface) else {
        return Err(ApplyError::NoDevice(iface.to_string()));
    };
    let _lock = lock::lock(lock_timeout, waiting).map_err(ApplyError::Lock)?;
    let mut sock = open()?;
    let live = Live::read(&mut sock, ifx).map_err(|error| ApplyError::ReadLive {
        iface: iface.to_string(),
        error,
    })?;
    let qdisc = match live.root() {
        Some(r) if is_tcc_root(&r.kind, (r.handle >> 16) as u16, handle) => {
            let acks = sock
                .batch(&[root_qdisc_del(ifx)])
                .map_err(ApplyError::Netlink)?;
            match acks.first() {
                Some(Ack::Ok(_)) => Qdisc::Removed {
                    handle: r.handle,
                    classes: live.classes.len(),
                },
                Some(Ack::Err(e)) => Qdisc::Refused(Some(e.clone())),
                None => Qdisc::Refused(None),
            }
        }
        Some(r) if r.handle != 0 => Qdisc::Foreign {
            kind: r.kind.clone(),
            handle: r.handle,
        },
        _ => Qdisc::Absent,
    };
    let nft = match nft::current(iface) {
        Ok(Some(_)) => Some(nft::run(&nft::delete_script(iface)).map(|()| nft::table_name(iface))),
        _ => None,
    };
    let chains = xt::present(iface);
    let xt = (!chains.is_empty()).then(|| xt::remove(iface).map(|()| chains));
    let ingress = super::ingress::teardown(&mut sock, iface, &live).map_err(ApplyError::Netlink)?;
    Ok(Teardown {
        qdisc,
        nft,
        xt,
        ingress,
    })
}
