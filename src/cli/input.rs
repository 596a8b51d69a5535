//! The inputs of a command: reading a file or standard input, and expanding directories.

use std::io::Read;
use std::path::{Path, PathBuf};

/// An input that cannot be read.
#[derive(Debug)]
pub enum InputError {
    Stdin(std::io::Error),
    File(PathBuf, std::io::Error),
    Directory(PathBuf, std::io::Error),
    NoShapeFiles(PathBuf),
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::Stdin(e) => write!(f, "cannot read standard input: {e}"),
            InputError::File(p, e) => write!(f, "cannot read `{}`: {e}", p.display()),
            InputError::Directory(p, e) => {
                write!(f, "cannot read directory `{}`: {e}", p.display())
            }
            InputError::NoShapeFiles(p) => write!(f, "no `.shape` files under `{}`", p.display()),
        }
    }
}

impl std::error::Error for InputError {}

/// The name to show for an input and its text; `-` is standard input (`<stdin>`).
pub fn read_input(path: &Path) -> Result<(String, String), InputError> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(InputError::Stdin)?;
        return Ok(("<stdin>".into(), without_bom(s)));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| InputError::File(path.to_path_buf(), e))?;
    Ok((path.display().to_string(), without_bom(text)))
}

/// A UTF-8 byte order mark at the start (editors on Windows write one) is not part of the text.
fn without_bom(text: String) -> String {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

/// Expand command-line paths: files as given, directories to every `*.shape` below them (sorted,
/// hidden directories skipped), `-` for standard input. Scripts (`.sh`) are checked when named,
/// not collected from directories (a directory of scripts is mostly not about shaping).
pub fn collect_inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" || !p.is_dir() {
            out.push(p.clone());
            continue;
        }
        let before = out.len();
        walk(p, &mut out).map_err(|e| InputError::Directory(p.clone(), e))?;
        // `tcc check .` names files `net/a.shape`, not `./net/a.shape` (as CI annotations expect).
        for f in &mut out[before..] {
            if let Ok(rel) = f.strip_prefix(".") {
                if !rel.as_os_str().is_empty() {
                    *f = rel.to_path_buf();
                }
            }
        }
        out[before..].sort();
        if out.len() == before {
            return Err(InputError::NoShapeFiles(p.clone()));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    // Iterative, so a deep tree cannot overflow the stack.
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let path = e.path();
            let hidden = e.file_name().to_string_lossy().starts_with('.');
            let ft = e.file_type()?;
            if ft.is_dir() {
                if !hidden && path != d {
                    todo.push(path);
                }
            } else if path.extension().is_some_and(|x| x == "shape") {
                out.push(path);
            }
        }
    }
    Ok(())
}

/// The files a script names (`source`, `. FILE`, `tc -batch FILE`, `nft -f FILE`,
/// `iptables-restore < FILE`), read for `tcc explain`/`tcc check` (never run): a relative name
/// is looked for beside the script (the working directory for standard input), an absolute
/// one where it says. Each file is read once and added to the sources, so diagnostics point
/// into it; reading is bounded (`MAX_FILES` files, `MAX_FILE_BYTES` each, `MAX_TOTAL_BYTES`
/// in all).
pub struct Beside<'s> {
    dir: PathBuf,
    sources: &'s mut crate::report::Sources,
    read: std::collections::HashMap<PathBuf, crate::dialect::sh::Loaded>,
    total: u64,
}

pub const MAX_FILES: usize = 256;
pub const MAX_FILE_BYTES: u64 = 64 << 20;
pub const MAX_TOTAL_BYTES: u64 = 256 << 20;

impl<'s> Beside<'s> {
    /// For the script at `script` (`-` for standard input).
    pub fn new(script: &Path, sources: &'s mut crate::report::Sources) -> Beside<'s> {
        let dir = match script.parent() {
            Some(d) if script != Path::new("-") && !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Beside {
            dir,
            sources,
            read: Default::default(),
            total: 0,
        }
    }
}

impl crate::dialect::sh::Files for Beside<'_> {
    fn load(&mut self, name: &str) -> std::io::Result<crate::dialect::sh::Loaded> {
        use std::io::{Error, ErrorKind};
        let path = self.dir.join(name);
        if let Some(l) = self.read.get(&path) {
            return Ok(l.clone());
        }
        let shown = if self.dir == Path::new(".") {
            name.to_string()
        } else {
            path.display().to_string()
        };
        if self.read.len() >= MAX_FILES {
            return Err(Error::other(format!(
                "more than {MAX_FILES} files named; {shown} not read"
            )));
        }
        let meta =
            std::fs::metadata(&path).map_err(|e| Error::new(e.kind(), format!("{shown}: {e}")))?;
        if !meta.is_file() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{shown} is not a regular file"),
            ));
        }
        if meta.len() > MAX_FILE_BYTES || self.total + meta.len() > MAX_TOTAL_BYTES {
            return Err(Error::other(format!(
                "{shown} is too large to read ({} bytes; at most {MAX_FILE_BYTES} a file, {MAX_TOTAL_BYTES} in all)",
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::new(e.kind(), format!("{shown}: {e}")))?;
        let text = without_bom(text);
        self.total += text.len() as u64;
        let file = self.sources.add(shown, text.clone());
        let loaded = crate::dialect::sh::Loaded {
            file,
            text: text.into(),
        };
        self.read.insert(path, loaded.clone());
        Ok(loaded)
    }
}
