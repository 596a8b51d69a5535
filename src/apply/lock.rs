//! The host side of changing the kernel: whether this process may, and a lock so that two runs
//! never interleave their batches.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

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
/// person) never interleave their batches. Released when dropped (or on exit). Holds nothing
/// when the lock file cannot be opened.
#[derive(Debug)]
pub struct Lock {
    _file: Option<std::fs::File>,
}

/// The lock file: in /run/lock when there is one, else in /tmp.
pub fn lock_path() -> PathBuf {
    let dir = if std::path::Path::new("/run/lock").is_dir() {
        "/run/lock"
    } else {
        "/tmp"
    };
    PathBuf::from(format!("{dir}/tcc.lock"))
}

/// Take the lock, waiting for another run to release it; `waiting` is called (with the lock
/// file) before waiting starts.
pub fn lock(waiting: impl FnOnce(&std::path::Path)) -> Lock {
    let path = lock_path();
    let Ok(f) = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
    else {
        return Lock { _file: None };
    };
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        waiting(&path);
        // SAFETY: as above.
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    }
    Lock { _file: Some(f) }
}
