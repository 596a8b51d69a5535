//! `tcc compile --target sh|nft|batch [--emit-dir DIR]`: choosing the backend and writing the
//! raw parts. Kept apart from `cli.rs` so that the command line stays a thin layer.

use crate::cli::Target;
use crate::emit::{self, Classifier, ShOptions};
use crate::plan::Plan;
use std::path::Path;

/// The script for `target`; with `emit_dir`, also writes the raw parts there (creating the
/// directory). Errors are messages for the user (a usage or I/O problem).
pub fn emit(
    target: Target,
    plan: &Plan,
    opts: &ShOptions,
    emit_dir: Option<&Path>,
) -> Result<String, String> {
    let emitted = match target {
        Target::Sh => {
            if emit_dir.is_some() {
                return Err(
                    "--emit-dir needs --target nft or --target batch (the sh target has no raw parts)"
                        .into(),
                );
            }
            return Ok(emit::sh(plan, opts));
        }
        Target::Nft => {
            if opts.classifier == Classifier::U32 {
                return Err(
                    "--target nft classifies with nftables; --classifier u32 needs --target sh or batch"
                        .into(),
                );
            }
            emit::nft(plan, opts)
        }
        Target::Batch => emit::batch(plan, opts),
    };
    if let Some(dir) = emit_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        for (name, text) in &emitted.parts {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        }
    }
    Ok(emitted.script)
}
