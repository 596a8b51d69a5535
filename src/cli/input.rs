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
