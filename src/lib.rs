//! tcc: a compiler for Linux traffic shaping.
//!
//! Pipeline: `syntax` (pest grammar -> spanned AST) -> `sema` (expand variables, loops,
//! templates and rules; check) -> `plan` (the IR) -> `emit` (shell, ...).

pub mod diagnostic;
pub mod emit;
pub mod matchrel;
pub mod plan;
pub mod units;
