//! `tcc compile --target sh|nft|batch [--emit-dir DIR]`: choosing the backend and writing the
//! raw parts. Kept apart from `cli.rs` so that the command line stays a thin layer.

use crate::cli::{output, Target};
use crate::emit::{self, Classifier, ShOptions};
use crate::plan::Plan;
use std::path::{Path, PathBuf};

/// Why `tcc compile` cannot write what was asked.
#[derive(Debug)]
pub enum CompileError {
    /// `--emit-dir` with `--target sh`, which has no raw parts.
    EmitDirNeedsParts,
    /// `--target nft` with `--classifier u32`.
    NftWithU32,
    CreateDir(PathBuf, std::io::Error),
    Write(crate::cli::output::OutputError),
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompileError::EmitDirNeedsParts => f.write_str(
                "--emit-dir needs --target nft or --target batch (the sh target has no raw parts)",
            ),
            CompileError::NftWithU32 => f.write_str(
                "--target nft classifies with nftables; --classifier u32 needs --target sh or batch",
            ),
            CompileError::CreateDir(p, e) => write!(f, "cannot create `{}`: {e}", p.display()),
            CompileError::Write(e) => e.fmt(f),
        }
    }
}

/// The script for `target`; with `emit_dir`, also writes the raw parts there (creating the
/// directory).
pub fn emit(
    target: Target,
    plan: &Plan,
    opts: &ShOptions,
    emit_dir: Option<&Path>,
    input: &Path,
) -> Result<String, CompileError> {
    let emitted = match target {
        Target::Sh => {
            if emit_dir.is_some() {
                return Err(CompileError::EmitDirNeedsParts);
            }
            return Ok(emit::sh(plan, opts));
        }
        Target::Nft => {
            if opts.classifier == Classifier::U32 {
                return Err(CompileError::NftWithU32);
            }
            emit::nft(plan, opts)
        }
        Target::Batch => emit::batch(plan, opts),
    };
    if let Some(dir) = emit_dir {
        std::fs::create_dir_all(dir).map_err(|e| CompileError::CreateDir(dir.to_path_buf(), e))?;
        for (name, text) in &emitted.parts {
            let path = dir.join(name);
            let mode = if name.ends_with(".sh") {
                output::Mode::Script
            } else {
                output::Mode::Data
            };
            output::write_file(&path, text.as_bytes(), mode, &[input])
                .map_err(CompileError::Write)?;
        }
    }
    Ok(emitted.script)
}
