//! What can go wrong while comparing with or changing the kernel, as types. Each `Display`
//! writes the message (without `error:`); the command line chooses how to show it and which exit
//! status it means.

use super::diff::Step;
use super::nl::KernelError;
use std::fmt;
use std::io;

/// Why putting the previous state of an interface back failed.
#[derive(Debug)]
pub enum RestoreError {
    /// The interface could not be read (before or after re-creating its tree).
    Read(io::Error),
    /// Sending a batch failed at the socket.
    Io {
        what: &'static str,
        error: io::Error,
    },
    /// The kernel refused one message of `what`.
    Refused {
        what: &'static str,
        error: KernelError,
        ty: u16,
        handle: u32,
        parent: u32,
        info: u32,
    },
    /// Fewer acknowledgements came back than messages were sent.
    Unacknowledged { what: &'static str },
    /// The tree read back is not the snapshot.
    Differs,
    /// The interface's nftables table could not be put back.
    Nft(NftError),
    /// The interface's mangle chains could not be put back.
    Xt(super::xt::XtError),
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::Read(e) => write!(f, "{e}"),
            RestoreError::Io { what, error } => write!(f, "{what}: {error}"),
            RestoreError::Refused {
                what,
                error,
                ty,
                handle,
                parent,
                info,
            } => write!(
                f,
                "{what}: {error} (message type {ty}, handle {handle:#x}, parent {parent:#x}, info {info:#x})"
            ),
            RestoreError::Unacknowledged { what } => {
                write!(f, "{what}: not every message was acknowledged")
            }
            RestoreError::Differs => f.write_str("the re-created tree differs from the snapshot"),
            RestoreError::Nft(e) => write!(f, "nft: {e}"),
            RestoreError::Xt(e) => write!(f, "iptables: {e}"),
        }
    }
}

impl std::error::Error for RestoreError {}

/// A failure of the `nft` program: defined beside the code that runs it.
pub use super::nft::NftError;

/// What went wrong with one batch of steps (`exec::run`); the snapshot was put back, or
/// `restored` says why not.
#[derive(Debug)]
pub enum BatchError {
    /// The kernel refused `step`.
    Refused {
        step: String,
        error: KernelError,
        restored: Result<(), RestoreError>,
    },
    /// The socket failed while sending (the batch may have been half sent).
    Io {
        error: io::Error,
        restored: Result<(), RestoreError>,
    },
}

impl BatchError {
    /// The failure apart from the restoring.
    pub fn into_parts(self) -> (Failure, Result<(), RestoreError>) {
        match self {
            BatchError::Refused {
                step,
                error,
                restored,
            } => (Failure::Refused { step, error }, restored),
            BatchError::Io { error, restored } => (Failure::Io(error), restored),
        }
    }
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::Refused {
                step,
                error,
                restored,
            } => {
                write!(f, "the kernel refused `{step}`: {error}")?;
                write_restored(f, restored)
            }
            BatchError::Io { error, restored } => {
                write!(f, "netlink: {error}")?;
                write_restored(f, restored)
            }
        }
    }
}

impl std::error::Error for BatchError {}

/// `\n` and what became of the previous configuration.
pub fn write_restored(f: &mut fmt::Formatter<'_>, r: &Result<(), RestoreError>) -> fmt::Result {
    match r {
        Ok(()) => write!(f, "\nthe previous configuration was restored"),
        Err(e) => write!(f, "\nrestoring the previous configuration FAILED: {e}"),
    }
}

/// Why changing one interface failed, once something was sent.
#[derive(Debug)]
pub enum Failure {
    /// The kernel refused `step`.
    Refused { step: String, error: KernelError },
    /// The socket failed while sending.
    Io(io::Error),
    /// The interface could not be read back after the changes.
    ReadBack(io::Error),
    /// The kernel accepted every message but holds something else: these steps are left.
    NotHeld(Vec<Step>),
    /// `nft` refused the classification table.
    Nft(NftError),
    /// The mangle chains another target left could not be removed.
    Xt(super::xt::XtError),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused { step, error } => write!(f, "the kernel refused `{step}`: {error}"),
            Failure::Io(e) => write!(f, "netlink: {e}"),
            Failure::ReadBack(e) => write!(f, "reading back: {e}"),
            Failure::NotHeld(left) => {
                write!(
                    f,
                    "the kernel accepted the changes but does not hold what was sent; still differing:"
                )?;
                for s in left {
                    write!(f, "\n  {s}")?;
                }
                Ok(())
            }
            Failure::Nft(e) => write!(f, "nft refused the classification table: {e}"),
            Failure::Xt(e) => write!(f, "changing the iptables mangle chains: {e}"),
        }
    }
}

/// What went wrong in `tcc apply`, `plan`, `status` or `teardown`.
#[derive(Debug)]
pub enum ApplyError {
    /// The packet scheduler clock (`/proc/net/psched`) could not be read.
    Psched(io::Error),
    /// No netlink socket.
    Socket(io::Error),
    /// The lock could not be taken (unsafe directory, or another run held it too long).
    Lock(super::lock::LockError),
    /// The socket failed outside a batch of changes.
    Netlink(io::Error),
    /// `--interface` names an interface the plan does not shape.
    NotInPlan(String),
    /// No such network device.
    NoDevice(String),
    /// The plan of `iface` cannot be turned into kernel objects.
    Plan {
        iface: String,
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A leaf qdisc of the plan that this kernel does not take (tried in a throwaway network
    /// namespace before anything changed), or that could not be tried.
    QdiscUnavailable {
        iface: String,
        /// `fq_codel target 5ms`, as the plan writes it.
        qdisc: String,
        error: super::leafq::ProbeError,
    },
    /// The live state of `iface` could not be read.
    ReadLive { iface: String, error: io::Error },
    /// `nft` is needed (the default classifier) and could not be started.
    NftMissing { iface: String, error: NftError },
    /// `nft` could not read the interface's table.
    Nft { iface: String, error: NftError },
    /// Changing `iface` failed; it was put back (or `restored` says why not), and so were the
    /// interfaces changed before it (`rolled_back`, latest first).
    Failed {
        iface: String,
        failure: Failure,
        restored: Result<(), RestoreError>,
        rolled_back: Vec<(String, Result<(), RestoreError>)>,
    },
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::Psched(e) => write!(
                f,
                "cannot read the packet scheduler clock (/proc/net/psched): {e}"
            ),
            ApplyError::Socket(e) => write!(f, "cannot open a netlink socket: {e}"),
            ApplyError::Lock(e) => write!(f, "{e}"),
            ApplyError::Netlink(e) => write!(f, "{e}"),
            ApplyError::NotInPlan(n) => write!(f, "the plan does not shape interface `{n}`"),
            ApplyError::NoDevice(n) => write!(f, "no such network device: {n}"),
            ApplyError::Plan { iface, error } => write!(f, "{iface}: {error}"),
            ApplyError::QdiscUnavailable {
                iface,
                qdisc,
                error: super::leafq::ProbeError::Refused(e),
            } => write!(
                f,
                "{iface}: this kernel refuses the leaf qdisc `{qdisc}` ({e}); nothing was changed"
            ),
            ApplyError::QdiscUnavailable {
                iface,
                qdisc,
                error,
            } => write!(
                f,
                "{iface}: cannot check that this kernel takes the leaf qdisc `{qdisc}`: {error}; nothing was changed"
            ),
            ApplyError::ReadLive { iface, error } => write!(
                f,
                "cannot read the traffic control state of {iface}: {error}"
            ),
            ApplyError::NftMissing { iface, error } => write!(
                f,
                "{iface}: {error}: the default classifier needs the `nft` program (package nftables); \
                 `--classifier u32` needs no program"
            ),
            ApplyError::Nft { iface, error } => write!(f, "{iface}: {error}"),
            ApplyError::Failed {
                iface,
                failure,
                restored,
                ..
            } => {
                write!(f, "{iface}: {failure}")?;
                write_restored(f, restored)
            }
        }
    }
}

impl std::error::Error for ApplyError {}
