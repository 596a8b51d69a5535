//! `tcc explain`: read the shell scripts people already run (tc, iptables, nft), turn them into
//! the same shaping plan the language lowers into, then explain, lint and import them.
//!
//! `shell` reads the script into the commands it runs; `tc`, `iptables` and `nft` read those
//! commands; `lower` simulates them into a `plan::Plan` (and checks it with `sema::check`, so the
//! codes are those of `tcc check`); `describe` explains the plan in words, JSON or DOT;
//! `to_shape` writes it back as an idiomatic `.shape` file.

pub mod describe;
pub mod equiv;
pub mod lower;
pub mod to_shape;

pub use lower::Explained;

/// Read `text` (a shell script, file id `file`) with positional parameters `args`.
pub fn explain(file: usize, text: &str, args: &[String]) -> Explained {
    let script = crate::dialect::sh::read(file, text, args);
    lower::lower(script)
}
