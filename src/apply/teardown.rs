//! `tcc teardown` as a library call: remove tcc's HTB root qdisc (with its classes and filters)
//! and its nftables table from one interface.

use super::encode::root_qdisc_del;
use super::error::{ApplyError, NftError};
use super::live::{ifindex, Live};
use super::lock;
use super::nft;
use super::nl::{Ack, KernelError};
use super::run::open;
use std::path::Path;

/// What became of the root qdisc.
#[derive(Debug)]
pub enum Qdisc {
    /// tcc's HTB root qdisc was removed, with its classes and filters.
    Removed { handle: u32, classes: usize },
    /// The kernel refused to delete it (`None`: without saying why).
    Refused(Option<KernelError>),
    /// The root qdisc is not an HTB one: left alone.
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
}

impl Teardown {
    /// Whether everything that was there is gone.
    pub fn complete(&self) -> bool {
        !matches!(self.qdisc, Qdisc::Refused(_)) && !matches!(self.nft, Some(Err(_)))
    }
}

/// Remove tcc's configuration from `iface`, under the lock (`waiting` is called before waiting
/// for another run).
pub fn teardown(
    iface: &str,
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
        Some(r) if r.kind == "htb" && r.handle != 0 => {
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
    let nft = match nft::current_marker(iface) {
        Ok(Some(_)) => Some(nft::run(&nft::delete_script(iface)).map(|()| nft::table_name(iface))),
        _ => None,
    };
    Ok(Teardown { qdisc, nft })
}
