//! The host side of changing the kernel: whether this process may, and a lock so that two runs
//! never interleave their batches.
//!
//! The lock file lives in a directory only root can write (`/run/tcc`, created 0700; the
//! environment variable `TCC_LOCK_DIR` names another, for tests), so no other user can hold it:
//! a directory that is a symlink, not owned by root (or by this process's user), or writable by
//! group or others is refused, and a lock file in it that is not ours is replaced. Waiting for
//! another run has a timeout, and the error names the holder (its pid is written into the file).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// How long `tcc apply` and `tcc teardown` wait for another run by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The directory of the lock file by default.
pub const LOCK_DIR: &str = "/run/tcc";

/// An exclusive lock held while tcc changes the kernel. Released when dropped (or on exit).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// The lock directory or file cannot be created or opened.
    Io(PathBuf, std::io::Error),
    /// The lock directory could let another user hold or replace the lock.
    UnsafeDir(PathBuf, String),
    /// Another run held the lock for longer than the timeout.
    Timeout {
        path: PathBuf,
        waited: Duration,
        /// `pid 1234 (tcc apply site.shape)`, when the file says who holds it.
        holder: Option<String>,
    },
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Io(p, e) => write!(f, "cannot open the lock `{}`: {e}", p.display()),
            LockError::UnsafeDir(p, why) => write!(
                f,
                "refusing the lock directory `{}`: {why}; it must be a directory owned by root \
                 and writable by nobody else",
                p.display()
            ),
            LockError::Timeout {
                path,
                waited,
                holder,
            } => {
                write!(f, "another tcc run holds the lock `{}`", path.display())?;
                if let Some(h) = holder {
                    write!(f, " ({h})")?;
                }
                write!(
                    f,
                    "; gave up after {} s (--lock-timeout SECS waits longer); nothing was changed",
                    waited.as_secs_f64()
                )
            }
        }
    }
}

impl std::error::Error for LockError {}

/// The lock directory: `TCC_LOCK_DIR` when set, else `/run/tcc`.
pub fn lock_dir() -> PathBuf {
    match std::env::var_os("TCC_LOCK_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(LOCK_DIR),
    }
}

/// The lock file.
pub fn lock_path() -> PathBuf {
    lock_dir().join("tcc.lock")
}

fn euid() -> u32 {
    // SAFETY: geteuid has no failure mode.
    unsafe { libc::geteuid() }
}

/// Create the directory (0700) if missing, and check it cannot be used by another user.
fn safe_dir(dir: &Path) -> Result<(), LockError> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(LockError::Io(dir.to_path_buf(), e)),
    }
    let m = std::fs::symlink_metadata(dir).map_err(|e| LockError::Io(dir.to_path_buf(), e))?;
    let unsafe_dir = |why: String| Err(LockError::UnsafeDir(dir.to_path_buf(), why));
    if !m.file_type().is_dir() {
        return unsafe_dir("it is not a directory (or is a symbolic link)".into());
    }
    if m.uid() != 0 && m.uid() != euid() {
        return unsafe_dir(format!("it is owned by uid {}", m.uid()));
    }
    if m.mode() & 0o022 != 0 {
        return unsafe_dir(format!(
            "group or others may write in it (mode {:o})",
            m.mode() & 0o7777
        ));
    }
    Ok(())
}

/// Open the lock file without following a symlink; a file that is not ours (not a regular
/// file, or another owner) is removed and made anew.
fn open_file(path: &Path) -> Result<File, LockError> {
    let io = |e| LockError::Io(path.to_path_buf(), e);
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
    };
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.file_type().is_file() || m.uid() != euid() {
            std::fs::remove_file(path).map_err(io)?;
        }
    }
    let f = open().map_err(io)?;
    let m = f.metadata().map_err(io)?;
    if !m.file_type().is_file() || m.uid() != euid() {
        return Err(LockError::UnsafeDir(
            path.to_path_buf(),
            "the lock file is not a regular file of this user".into(),
        ));
    }
    Ok(f)
}

fn try_flock(f: &File) -> bool {
    // SAFETY: flock on a file descriptor we own.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Who holds the lock, from the pid written in it: `pid 1234 (tcc apply site.shape)`.
fn holder(f: &mut File) -> Option<String> {
    let mut s = String::new();
    f.rewind().ok()?;
    f.take(64).read_to_string(&mut s).ok()?;
    let pid: u32 = s.trim().parse().ok()?;
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|c| !c.is_empty());
    Some(match cmd {
        Some(c) => format!("pid {pid}: {}", c.chars().take(120).collect::<String>()),
        None => format!("pid {pid}"),
    })
}

/// Take the lock, waiting at most `timeout` for another run to release it; `waiting` is called
/// (with the lock file) before waiting starts.
pub fn lock(timeout: Duration, waiting: impl FnOnce(&Path)) -> Result<Lock, LockError> {
    let dir = lock_dir();
    safe_dir(&dir)?;
    let path = dir.join("tcc.lock");
    let mut f = open_file(&path)?;
    if !try_flock(&f) {
        waiting(&path);
        let start = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(50));
            if try_flock(&f) {
                break;
            }
            if start.elapsed() >= timeout {
                return Err(LockError::Timeout {
                    holder: holder(&mut f),
                    path,
                    waited: timeout,
                });
            }
        }
    }
    // Say who holds it, for a run that waits (best effort: the lock works without it).
    let _ = f
        .set_len(0)
        .and_then(|_| f.rewind())
        .and_then(|_| writeln!(f, "{}", std::process::id()));
    Ok(Lock { _file: f })
}
