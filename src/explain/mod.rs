//! `tcc explain`: read the shell scripts people already run (tc, iptables, nft), turn them into
//! the same shaping plan the language lowers into, then explain, lint and import them.
//!
//! `shell` reads the script into the commands it runs; `tc`, `iptables` and `nft` read those
//! commands; `lower` simulates them into a `plan::Plan` (and checks it with `sema::check`, so the
//! codes are those of `tcc check`); `describe` explains the plan in words, JSON or DOT;
//! `to_shape` writes it back as an idiomatic `.shape` file.

pub mod cmd;
pub mod describe;
pub mod equiv;
pub mod iptables;
pub mod lower;
pub mod nft;
pub mod shell;
pub mod tc;
pub mod to_shape;

pub use lower::Explained;

/// Read `text` (a shell script, file id `file`) with positional parameters `args`.
pub fn explain(file: usize, text: &str, args: &[String]) -> Explained {
    let script = shell::read(file, text, args);
    lower::lower(script)
}

/// tc's and iptables' number syntax: decimal or `0x` hex.
pub fn tc_num(t: &str) -> Option<u32> {
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => t.parse().ok(),
    }
}
