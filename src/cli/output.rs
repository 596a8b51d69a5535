//! Writing output files safely (`compile -o`, `--emit-dir`, `fmt` in place, `graph -o`, `man`):
//! only a regular file (or nothing) is ever replaced — never a device, a symlink, a directory or
//! a fifo; the new text goes to a temporary file created exclusively (`O_EXCL`, `O_NOFOLLOW`) with
//! an unpredictable name in the target's directory and is renamed over the target, so a failed
//! write never leaves half a file and a planted symlink is never followed; permissions come from
//! the umask (scripts `0777 & !umask`, other outputs `0666 & !umask`; `fmt` keeps the file's
//! mode); and an output that is one of the inputs is refused.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The permissions of a new output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An executable script: `0777 & !umask`.
    Script,
    /// Any other output: `0666 & !umask`.
    Data,
    /// Rewriting a file in place (`tcc fmt`): the file keeps its own mode.
    Keep,
}

/// Why an output was not written.
#[derive(Debug)]
pub enum OutputError {
    /// The target exists and is not a regular file.
    NotRegular(PathBuf, &'static str),
    /// The target is one of the command's inputs.
    IsInput(PathBuf),
    Io(PathBuf, std::io::Error),
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputError::NotRegular(p, kind) => write!(
                f,
                "refusing to write `{}`: it is {kind}, not a regular file (tcc replaces only regular files)",
                p.display()
            ),
            OutputError::IsInput(p) => write!(
                f,
                "refusing to write `{}`: it is also an input of this command",
                p.display()
            ),
            OutputError::Io(p, e) => write!(f, "cannot write `{}`: {e}", p.display()),
        }
    }
}

impl std::error::Error for OutputError {}

fn kind_of(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_fifo() {
        "a fifo"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Sixteen unpredictable hex digits (getrandom(2)); never fails: a weaker fallback mixes the
/// time, the pid and std's randomly keyed hasher.
fn random_suffix() -> String {
    let mut buf = [0u8; 8];
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        buf = h.finish().to_ne_bytes();
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The process umask (read without changing it where /proc says it; else set and restored).
fn umask() -> u32 {
    if let Ok(s) = std::fs::read_to_string("/proc/self/status") {
        if let Some(v) = s.lines().find_map(|l| l.strip_prefix("Umask:")) {
            if let Ok(m) = u32::from_str_radix(v.trim(), 8) {
                return m;
            }
        }
    }
    // SAFETY: umask only swaps the process mask; restored at once.
    unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m as u32
    }
}

/// Write `bytes` to `path` safely (see the module comment). `inputs` are the command's input
/// files: writing over one of them is refused.
pub fn write_file(
    path: &Path,
    bytes: &[u8],
    mode: Mode,
    inputs: &[&Path],
) -> Result<(), OutputError> {
    let io = |e| OutputError::Io(path.to_path_buf(), e);
    let existing = match std::fs::symlink_metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    if let Some(m) = &existing {
        if !m.file_type().is_file() {
            return Err(OutputError::NotRegular(
                path.to_path_buf(),
                kind_of(&m.file_type()),
            ));
        }
        for input in inputs {
            if let Ok(im) = std::fs::metadata(input) {
                if im.dev() == m.dev() && im.ino() == m.ino() {
                    return Err(OutputError::IsInput(path.to_path_buf()));
                }
            }
        }
    }
    let perm = match (mode, &existing) {
        (Mode::Script, _) => 0o777 & !umask(),
        (Mode::Data, _) | (Mode::Keep, None) => 0o666 & !umask(),
        (Mode::Keep, Some(m)) => m.permissions().mode() & 0o7777,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    // A few tries in case of a (vanishingly unlikely) collision with an existing name.
    let (tmp, mut file) = {
        let mut last = None;
        let mut made = None;
        for _ in 0..8 {
            let tmp = dir.join(format!(".{base}.{}.tcc-tmp", random_suffix()));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .mode(0o600)
                .open(&tmp)
            {
                Ok(f) => {
                    made = Some((tmp, f));
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(io(e)),
            }
        }
        match made {
            Some(x) => x,
            None => return Err(io(last.expect("eight collisions"))),
        }
    };
    let written = file
        .write_all(bytes)
        .and_then(|_| file.set_permissions(std::fs::Permissions::from_mode(perm)))
        .and_then(|_| file.sync_all())
        .and_then(|_| {
            drop(file);
            std::fs::rename(&tmp, path)
        });
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// Write to standard output; a write error (a closed pipe, a full disk) is returned, never a
/// panic.
pub fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|_| out.flush())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_differ() {
        assert_ne!(random_suffix(), random_suffix());
        assert_eq!(random_suffix().len(), 16);
    }
}
